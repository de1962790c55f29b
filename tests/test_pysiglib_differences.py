"""Where sigrs deliberately differs from pysiglib 4.0: one test per difference
listed in the README ("Deliberate differences from pysiglib"), each showing
pysiglib's behaviour next to sigrs's, so that a change on either side is seen.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import torch

import reference as ref
import sigrs
from _util import F64_RTOL, peer


def _close(a, b, tol=F64_RTOL):
    a, b = (np.asarray(v.detach() if isinstance(v, torch.Tensor) else v, dtype=np.float64) for v in (a, b))
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max(initial=0.0))))


def test_streams_number_every_point(rng):
    # pysiglib's SigStream docstring example: its code numbers push calls, so
    # the documented query is out of range there
    pysiglib = peer("pysiglib")
    path = rng.standard_normal((50, 3))
    theirs, ours = pysiglib.SigStream(dimension=3, degree=4), sigrs.SigStream(dimension=3, degree=4)
    theirs.push_batch(path)
    ours.push_batch(path)
    with pytest.raises(IndexError):
        theirs.sig(10, 30)
    _close(ours.sig(10, 30), sigrs.sig(path[10:31], 4))


def test_symmetric_gram_with_unequal_dyadic_orders_solves_every_pair(rng):
    # k(x_i, x_j) at orders (0, 2) is not k(x_j, x_i): pysiglib mirrors the
    # upper triangle anyway, sigrs solves each pair
    pysiglib = peer("pysiglib")
    x = rng.standard_normal((3, 4, 2))
    pairwise = np.array([[pysiglib.sig_kernel(a, b, dyadic_order=(0, 2)) for b in x] for a in x])
    assert np.abs(pysiglib.sig_kernel_gram(x, x, dyadic_order=(0, 2)) - pairwise).max() > 1e-3
    _close(sigrs.sig_kernel_gram(x, x, dyadic_order=(0, 2)), pairwise)
    _close(pairwise, ref.sig_kernel_gram(x, x, (0, 2)))


def test_static_kernel_gradients_follow_their_own_derivs(rng):
    # pysiglib's grad_y re-uses the weights grad_x computed, whatever derivs it is given
    pysiglib = peer("pysiglib")
    x, y = torch.tensor(rng.standard_normal((2, 4, 3))), torch.tensor(rng.standard_normal((2, 5, 3)))
    d1, d2 = torch.tensor(rng.standard_normal((2, 3, 4))), torch.tensor(rng.standard_normal((2, 3, 4)))

    def grad_y_after_grad_x(lib):
        kernel, ctx = lib.RBFKernel(0.7), lib.Context()
        kernel(ctx, x, y)
        kernel.grad_x(ctx, d1)
        return kernel.grad_y(ctx, d2)

    def fresh_grad_y(lib):
        kernel, ctx = lib.RBFKernel(0.7), lib.Context()
        kernel(ctx, x, y)
        return kernel.grad_y(ctx, d2)

    assert (grad_y_after_grad_x(pysiglib) - fresh_grad_y(pysiglib)).abs().max() > 1e-3
    _close(grad_y_after_grad_x(sigrs), fresh_grad_y(sigrs), 0.0)
    _close(fresh_grad_y(sigrs), fresh_grad_y(pysiglib))


def test_polynomial_kernel_of_integer_degree_takes_negative_bases_as_they_are(rng):
    # pysiglib clamps a negative base <x, y> + gamma to 0 for integer degrees above 5
    pysiglib = peer("pysiglib")
    x, y = torch.tensor(rng.standard_normal((2, 4, 3))), torch.tensor(rng.standard_normal((2, 5, 3)))
    base = x @ y.transpose(1, 2) - 1.0
    assert (base < 0).any()
    exact = torch.diff(torch.diff(0.5 * base**7, dim=1), dim=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pysiglib warns that it clamps
        theirs = pysiglib.PolynomialKernel(degree=7, gamma=-1.0, scale=0.5)(pysiglib.Context(), x, y)
    ours = sigrs.PolynomialKernel(degree=7, gamma=-1.0, scale=0.5)(sigrs.Context(), x, y)
    assert (theirs - exact).abs().max() > 1e-3
    _close(ours, exact)


def test_sig_coef_backprop_leaves_derivs_alone(rng):
    pysiglib = peer("pysiglib")
    path, words = rng.standard_normal((2, 6, 2)), [(0,), (0, 1), (1, 1, 0)]
    coefs = sigrs.sig_coef(path, words, prefixes=True)
    derivs = rng.standard_normal((2, coefs.shape[-1]))
    theirs, ours = derivs.copy(), derivs.copy()
    expected = pysiglib.sig_coef_backprop(path, words, coefs, theirs)
    _close(sigrs.sig_coef_backprop(path, words, coefs, ours), expected)
    assert not np.array_equal(theirs, derivs)
    np.testing.assert_array_equal(ours, derivs)


def test_kernel_backprop_keeps_the_paths_shapes_and_dtype(rng):
    # pysiglib returns (1, L, d) gradients for (L, d) paths (and float64 from the Gram backprop)
    pysiglib = peer("pysiglib")
    x, y = (rng.standard_normal((n, 2)).astype(np.float32) for n in (4, 5))
    kw = dict(dyadic_order=1, right_deriv=True)
    theirs = pysiglib.sig_kernel_backprop(np.array(0.7, dtype=np.float32), x, y, **kw)
    ours = sigrs.sig_kernel_backprop(np.array(0.7, dtype=np.float32), x, y, **kw)
    assert theirs[0].shape == (1, 4, 2) and ours[0].shape == (4, 2) and ours[1].shape == (5, 2)
    assert ours[0].dtype == np.float32
    _close(ours[0], theirs[0][0], 1e-4)


def test_kernel_backprop_asking_for_no_side_is_an_error(rng):
    pysiglib = peer("pysiglib")
    x, y = rng.standard_normal((1, 4, 2)), rng.standard_normal((1, 5, 2))
    kw = dict(dyadic_order=1, left_deriv=False, right_deriv=False)
    assert pysiglib.sig_kernel_backprop(np.array([0.7]), x, y, **kw) == (None, None)
    with pytest.raises(ValueError, match="deriv"):
        sigrs.sig_kernel_backprop(np.array([0.7]), x, y, **kw)


@pytest.mark.parametrize("name", ["sig", "sig_backprop", "log_sig", "sig_kernel", "sig_kernel_gram"])
def test_n_jobs_defaults_to_every_core(name):
    pysiglib = peer("pysiglib")
    assert inspect.signature(getattr(pysiglib, name)).parameters["n_jobs"].default == 1
    assert inspect.signature(getattr(sigrs, name)).parameters["n_jobs"].default == -1


def test_bad_input_is_an_error_not_nan_output(rng):
    # pysiglib computes with a non-finite end_time and returns NaN with a
    # RuntimeWarning; sigrs refuses it, naming the argument
    pysiglib = peer("pysiglib")
    path = rng.standard_normal((5, 2))
    with pytest.warns(RuntimeWarning):
        assert np.isnan(pysiglib.sig(path, 2, time_aug=True, end_time=float("nan"))).any()
    with pytest.raises(ValueError, match="end_time"):
        sigrs.sig(path, 2, time_aug=True, end_time=float("nan"))


def test_unbiased_mmd_sums_the_off_diagonal_instead_of_subtracting_the_diagonal():
    # pysiglib's own sig_mmd example in float64: k(x, x) is about 1e15 and the
    # off-diagonal entries about 1e2, so the Gram's sum less its trace loses
    # the result's digits; sigrs (in memory and in dask) sums the entries off
    # the diagonal
    pysiglib = peer("pysiglib")
    g = torch.Generator().manual_seed(0)
    x = torch.rand((20, 100, 5), generator=g, dtype=torch.float64)
    y = torch.rand((15, 100, 5), generator=g, dtype=torch.float64)
    kw = dict(dyadic_order=2, time_aug=True)
    rbf = sigrs.RBFKernel(0.5)
    xx, yy, xy = (sigrs.sig_kernel_gram(a, b, static_kernel=rbf, **kw).numpy() for a, b in ((x, x), (y, y), (x, y)))
    assert np.diagonal(xx).max() > 1e12 * np.abs(xy).max()

    def off_diagonal_mean(gram):
        n = gram.shape[0]
        return gram[~np.eye(n, dtype=bool)].mean()

    exact = off_diagonal_mean(xx) + off_diagonal_mean(yy) - 2 * xy.mean()
    theirs = float(pysiglib.sig_mmd(x, y, static_kernel=pysiglib.RBFKernel(0.5), **kw))
    assert abs(theirs - exact) > 1e-3
    assert float(sigrs.sig_mmd(x, y, static_kernel=rbf, **kw)) == pytest.approx(exact, rel=1e-12)
    scores = sigrs.sig_score(x, y, static_kernel=rbf, **kw).numpy()
    np.testing.assert_allclose(scores, off_diagonal_mean(xx) - 2 * xy.mean(axis=0), rtol=1e-12)
