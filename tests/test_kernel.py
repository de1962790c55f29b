"""Signature kernels: sig_kernel, sig_kernel_gram and their backprops.

Checked against the slow reference in ``reference.py`` (the Goursat PDE on
the dyadically refined grid, written from the definition), against pysiglib
(the API sigrs follows), against the truncated-signature inner product the
PDE converges to, and by torch's gradcheck.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import reference as ref
from _util import (
    F32_RTOL,
    F64_RTOL,
    OPTION_COMBOS,
    OPTION_IDS,
    as_backend,
    assert_close,
    make_path,
    peer,
    to_numpy,
)

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)

import torch  # noqa: E402  (a test dependency: missing it is an error, not a skip)

# pysiglib warns (once) when handed arrays that do not own their memory; irrelevant here
pytestmark = pytest.mark.filterwarnings("ignore:Detected a non-contiguous or view-based array")

DYADIC_ORDERS = [0, 1, 2, (0, 2), (2, 1)]
DYADIC_IDS = ["0", "1", "2", "0-2", "2-1"]
# transforms, with end_time != 1 where time augmentation makes it matter
TRANSFORMS = [dict(o, end_time=1.7 if o["time_aug"] else 1.0) for o in OPTION_COMBOS]
BATCH_SHAPES = [(), (3,), (2, 2)]


def sk():
    """sigrs's static kernels module."""
    return importlib.import_module("sigrs.static_kernels")


# (id, sigrs kernel, pysiglib kernel, reference kappa): built lazily, so a
# missing class fails its own tests only
STATIC_KERNELS = [
    ("linear", lambda m: m.LinearKernel(), ("linear", {})),
    ("scaled_linear", lambda m: m.ScaledLinearKernel(0.7), ("scaled_linear", dict(scale=0.7))),
    ("rbf", lambda m: m.RBFKernel(0.8), ("rbf", dict(sigma=0.8))),
    ("polynomial", lambda m: m.PolynomialKernel(degree=2.0, gamma=0.5, scale=0.3),
     ("polynomial", dict(degree=2.0, gamma=0.5, scale=0.3))),
    ("matern12", lambda m: m.Matern12Kernel(1.3), ("matern12", dict(sigma=1.3))),
    ("matern32", lambda m: m.Matern32Kernel(1.3), ("matern32", dict(sigma=1.3))),
    ("matern52", lambda m: m.Matern52Kernel(1.3), ("matern52", dict(sigma=1.3))),
    ("rational_quadratic", lambda m: m.RationalQuadraticKernel(0.9, 1.7),
     ("rational_quadratic", dict(sigma=0.9, alpha=1.7))),
]
STATIC_IDS = [s[0] for s in STATIC_KERNELS]


def _pair(rng, batch_shape, length1=4, length2=3, dimension=2, dtype=np.float64, backend="numpy"):
    x = make_path(rng, tuple(batch_shape) + (length1, dimension), dtype, backend)
    y = make_path(rng, tuple(batch_shape) + (length2, dimension), dtype, backend)
    return x, y


def _grid_shape(length1, length2, dyadic_order, lead_lag=False):
    l1, l2 = ref.dyadic_orders(dyadic_order)
    return (ref.pde_grid_length(ref.aug_length(length1, lead_lag), l1),
            ref.pde_grid_length(ref.aug_length(length2, lead_lag), l2))


def _tol(dtype):
    return F64_RTOL if np.dtype(dtype) == np.float64 else F32_RTOL


# ---------------------------------------------------------------------------
# the reference itself
# ---------------------------------------------------------------------------

def test_reference_kernel_of_single_segments_solves_the_pde_cell(rng):
    # one coarse cell at order 0: k = 2 (1 + a/2 + a^2/12) - (1 - a^2/12) = 1 + a + a^2/4,
    # the exact sum_n a^n / (n!)^2 of two segments up to a^2
    x, y = _pair(rng, (), 2, 2)
    a = float(np.dot(x[1] - x[0], y[1] - y[0]))
    assert_close(ref.sig_kernel(x, y, 0), 1 + a + a * a / 4, F64_RTOL)


def test_reference_static_linear_kernel_increments_equal_inner_products_of_increments(rng):
    x, y = _pair(rng, (), 5, 4)
    direct = ref.kernel_increments(x, y)
    via_kappa = ref.kernel_increments(x, y, ref.static_kernel_fn("linear"))
    assert_close(via_kappa, direct, F64_RTOL)


@pytest.mark.parametrize("options", TRANSFORMS, ids=OPTION_IDS)
@pytest.mark.parametrize("dyadic_order", [0, (2, 1)], ids=["0", "2-1"])
def test_reference_matches_pysiglib(rng, options, dyadic_order):
    # the oracle itself against the peer: values, grids and both gradients
    pysiglib = peer("pysiglib")
    x, y = _pair(rng, (2,), 4, 3)
    kw = dict(dyadic_order=dyadic_order, **options)
    assert_close(ref.sig_kernel(x, y, dyadic_order, return_grid=True, **options),
                 pysiglib.sig_kernel(x, y, return_grid=True, **kw), F64_RTOL)
    derivs = rng.standard_normal(2)
    ex, ey = pysiglib.sig_kernel_backprop(derivs, x, y, left_deriv=True, right_deriv=True, **kw)
    gx, gy = ref.sig_kernel_backprop(derivs, x, y, dyadic_order, **options)
    assert_close(gx, ex, 1e-9)
    assert_close(gy, ey, 1e-9)


# ---------------------------------------------------------------------------
# sigrs against the reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=str)
@pytest.mark.parametrize("options", TRANSFORMS, ids=OPTION_IDS)
@pytest.mark.parametrize("dyadic_order", DYADIC_ORDERS, ids=DYADIC_IDS)
def test_sig_kernel_and_grid_match_reference(rng, batch_shape, options, dyadic_order):
    x, y = _pair(rng, batch_shape, 4, 3)
    grid_ref = ref.sig_kernel(x, y, dyadic_order, return_grid=True, **options)
    expected_shape = tuple(batch_shape) + _grid_shape(4, 3, dyadic_order, options["lead_lag"])
    assert grid_ref.shape == expected_shape
    k = sigrs.sig_kernel(x, y, dyadic_order=dyadic_order, **options)
    grid = sigrs.sig_kernel(x, y, dyadic_order=dyadic_order, return_grid=True, **options)
    assert_close(k, ref.sig_kernel(x, y, dyadic_order, **options), F64_RTOL, "kernel")
    assert_close(grid, grid_ref, F64_RTOL, "grid")
    assert_close(grid[..., -1, -1], k, F64_RTOL, "grid corner")


@pytest.mark.parametrize("lengths", [(1, 4), (4, 1), (1, 1), (2, 6), (6, 2)], ids=str)
@pytest.mark.parametrize("dyadic_order", [0, (1, 2)], ids=["0", "1-2"])
def test_sig_kernel_of_unequal_and_single_point_lengths_matches_reference(rng, lengths, dyadic_order):
    x, y = _pair(rng, (2,), *lengths)
    for options in (dict(), dict(time_aug=True, lead_lag=True)):
        grid = sigrs.sig_kernel(x, y, dyadic_order=dyadic_order, return_grid=True, **options)
        assert_close(grid, ref.sig_kernel(x, y, dyadic_order, return_grid=True, **options), F64_RTOL)
        assert_close(sigrs.sig_kernel(x, y, dyadic_order=dyadic_order, **options),
                     ref.sig_kernel(x, y, dyadic_order, **options), F64_RTOL)


def test_single_point_path_has_kernel_one_and_zero_gradients(rng):
    x, y = _pair(rng, (3,), 1, 5)
    assert_close(sigrs.sig_kernel(x, y, dyadic_order=1), np.ones(3), F64_RTOL)
    gx, gy = sigrs.sig_kernel_backprop(np.ones(3), x, y, dyadic_order=1, right_deriv=True)
    assert gx.shape == x.shape and gy.shape == y.shape
    assert np.all(gx == 0) and np.all(gy == 0)


def test_empty_batches_give_empty_outputs(rng):
    x, y = np.zeros((0, 4, 2)), np.zeros((0, 3, 2))
    assert sigrs.sig_kernel(x, y, dyadic_order=1).shape == (0,)
    assert sigrs.sig_kernel(x, y, dyadic_order=1, return_grid=True).shape == (0, 7, 5)
    assert sigrs.sig_kernel_gram(x, make_path(rng, (2, 3, 2)), dyadic_order=1).shape == (0, 2)
    gx, gy = sigrs.sig_kernel_backprop(np.zeros(0), x, y, dyadic_order=1, right_deriv=True)
    assert gx.shape == x.shape and gy.shape == y.shape


@pytest.mark.parametrize("shapes", [((3,), (2,)), ((2, 2), (3,)), ((), (2,)), ((2,), ()), ((), ())], ids=str)
@pytest.mark.parametrize("options", [TRANSFORMS[0], TRANSFORMS[3]], ids=[OPTION_IDS[0], OPTION_IDS[3]])
def test_sig_kernel_gram_matches_reference(rng, shapes, options):
    s1, s2 = shapes
    x = make_path(rng, s1 + (3, 2))
    y = make_path(rng, s2 + (4, 2))
    g = sigrs.sig_kernel_gram(x, y, dyadic_order=(1, 0), **options)
    assert g.shape == s1 + s2
    assert_close(g, ref.sig_kernel_gram(x, y, (1, 0), **options), F64_RTOL)
    grid = sigrs.sig_kernel_gram(x, y, dyadic_order=(1, 0), return_grid=True, **options)
    assert grid.shape == s1 + s2 + _grid_shape(3, 4, (1, 0), options["lead_lag"])
    assert_close(grid, ref.sig_kernel_gram(x, y, (1, 0), return_grid=True, **options), F64_RTOL)


@pytest.mark.parametrize("max_batch", [-1, 1, 2])
def test_symmetric_gram_with_unequal_dyadic_orders_solves_every_pair(rng, max_batch):
    # k(x_i, x_j) at orders (0, 2) is not k(x_j, x_i) at (0, 2): no mirroring allowed
    # (pysiglib mirrors here and is off by ~1e-4; sigrs must match the reference)
    x = make_path(rng, (3, 4, 2))
    g = sigrs.sig_kernel_gram(x, x, dyadic_order=(0, 2), max_batch=max_batch)
    assert_close(g, ref.sig_kernel_gram(x, x, (0, 2)), F64_RTOL)


@pytest.mark.parametrize("max_batch", [-1, 1, 2, 5])
@pytest.mark.parametrize("return_grid", [False, True])
def test_symmetric_gram_equals_general_gram(rng, max_batch, return_grid):
    x = make_path(rng, (4, 5, 2))
    kw = dict(dyadic_order=1, time_aug=True, max_batch=max_batch, return_grid=return_grid)
    sym = sigrs.sig_kernel_gram(x, x, **kw)
    general = sigrs.sig_kernel_gram(x, x.copy(), **kw)
    assert_close(sym, general, F64_RTOL)
    assert_close(sym, ref.sig_kernel_gram(x, x, 1, time_aug=True, return_grid=return_grid), F64_RTOL)


@pytest.mark.parametrize("options", [TRANSFORMS[0], TRANSFORMS[3]], ids=[OPTION_IDS[0], OPTION_IDS[3]])
def test_normalize_matches_reference(rng, options):
    x, y = _pair(rng, (3,), 4, 5)
    got = sigrs.sig_kernel(x, y, dyadic_order=1, normalize=True, **options)
    assert_close(got, ref.sig_kernel_normalized(x, y, 1, **options), F64_RTOL)
    # normalize of a path with itself is 1
    assert_close(sigrs.sig_kernel(x, x, dyadic_order=1, normalize=True, **options), np.ones(3), F64_RTOL)
    gram = sigrs.sig_kernel_gram(x, y, dyadic_order=1, normalize=True, **options)
    kxx = ref.sig_kernel(x, x, 1, **options)
    kyy = ref.sig_kernel(y, y, 1, **options)
    expected = ref.sig_kernel_gram(x, y, 1, **options) / np.sqrt(kxx[:, None] * kyy[None, :])
    assert_close(gram, expected, F64_RTOL)
    sym = sigrs.sig_kernel_gram(x, x, dyadic_order=1, normalize=True, **options)
    assert_close(np.diagonal(sym), np.ones(3), F64_RTOL)


@pytest.mark.parametrize("return_grid", [False, True])
@pytest.mark.parametrize("options", [TRANSFORMS[0], TRANSFORMS[3]], ids=[OPTION_IDS[0], OPTION_IDS[3]])
@pytest.mark.parametrize("dyadic_order", [0, (2, 1)], ids=["0", "2-1"])
def test_sig_kernel_backprop_matches_reference_gradients(rng, return_grid, options, dyadic_order):
    x, y = _pair(rng, (2,), 4, 3)
    shape = (2,) + (_grid_shape(4, 3, dyadic_order, options["lead_lag"]) if return_grid else ())
    derivs = rng.standard_normal(shape)
    gx, gy = sigrs.sig_kernel_backprop(derivs, x, y, dyadic_order=dyadic_order, left_deriv=True,
                                       right_deriv=True, return_grid=return_grid, **options)
    ex, ey = ref.sig_kernel_backprop(derivs, x, y, dyadic_order, return_grid=return_grid, **options)
    assert_close(gx, ex, 1e-9, "dpath1")
    assert_close(gy, ey, 1e-9, "dpath2")


def test_sig_kernel_gram_backprop_matches_reference_gradients(rng):
    x = make_path(rng, (2, 2, 3, 2))
    y = make_path(rng, (3, 4, 2))
    derivs = rng.standard_normal((2, 2, 3))
    gx, gy = sigrs.sig_kernel_gram_backprop(derivs, x, y, dyadic_order=(1, 0), lead_lag=True,
                                            left_deriv=True, right_deriv=True)
    ex, ey = ref.sig_kernel_backprop(derivs, x, y, (1, 0), lead_lag=True, gram=True)
    assert_close(gx, ex, 1e-9, "dpath1")
    assert_close(gy, ey, 1e-9, "dpath2")


@pytest.mark.parametrize("n_jobs", [1, 2, -1, -2])
def test_n_jobs_does_not_change_results(rng, n_jobs):
    x, y = _pair(rng, (5,), 4, 6)
    kw = dict(dyadic_order=1, lead_lag=True)
    assert_close(sigrs.sig_kernel(x, y, n_jobs=n_jobs, **kw), ref.sig_kernel(x, y, 1, lead_lag=True), F64_RTOL)
    assert_close(sigrs.sig_kernel_gram(x, y, n_jobs=n_jobs, **kw), ref.sig_kernel_gram(x, y, 1, lead_lag=True),
                 F64_RTOL)
    gx, _ = sigrs.sig_kernel_backprop(np.ones(5), x, y, n_jobs=n_jobs, **kw)
    assert_close(gx, ref.sig_kernel_backprop(np.ones(5), x, y, 1, lead_lag=True)[0], 1e-9)


# ---------------------------------------------------------------------------
# convergence to the signature inner product
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", [dict(), dict(time_aug=True, end_time=0.5)], ids=["plain", "time"])
def test_pde_converges_to_truncated_signature_inner_product(rng, options):
    # Paths with |increments| ~ 0.25: the degree-12 truncation of <S(x), S(y)>
    # is exact to 1e-16 (degree 14 adds nothing). The scheme is second order,
    # so once asymptotic the error shrinks ~4x per dyadic order (measured
    # ratios 3.5-4.0 from order 4 on; errors ~1e-8 to 1e-6 at order 6). We
    # ask for ratios in [3.3, 4.5] at orders 4..6 and < 2e-6 at order 6.
    x, y = _pair(rng, (2,), 5, 4)
    x, y = 0.5 * x, 0.5 * y
    exact = ref.truncated_sig_inner_product(x, y, 12, **options)
    errors = [np.abs(sigrs.sig_kernel(x, y, dyadic_order=o, **options) - exact) for o in range(7)]
    assert np.all(errors[6] < 2e-6), errors
    for o in (4, 5, 6):
        ratio = errors[o - 1] / errors[o]
        assert np.all((ratio > 3.3) & (ratio < 4.5)), (o, ratio)


# ---------------------------------------------------------------------------
# sigrs against pysiglib
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("options", TRANSFORMS, ids=OPTION_IDS)
@pytest.mark.parametrize("dyadic_order", [1, (2, 0)], ids=["1", "2-0"])
def test_sig_kernel_matches_pysiglib(rng, backend, dtype, options, dyadic_order):
    pysiglib = peer("pysiglib")
    x, y = _pair(rng, (3,), 5, 4, 3, dtype, backend)
    for return_grid in (False, True):
        got = sigrs.sig_kernel(x, y, dyadic_order=dyadic_order, return_grid=return_grid, **options)
        expected = pysiglib.sig_kernel(x, y, dyadic_order=dyadic_order, return_grid=return_grid, **options)
        assert type(got) is type(expected)
        assert got.dtype == expected.dtype
        assert_close(got, expected, _tol(dtype))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["general", "symmetric"])
@pytest.mark.parametrize("max_batch", [-1, 1, 2])
@pytest.mark.parametrize("return_grid", [False, True])
def test_sig_kernel_gram_matches_pysiglib(rng, backend, symmetric, max_batch, return_grid):
    pysiglib = peer("pysiglib")
    x = make_path(rng, (3, 4, 2), backend=backend)
    y = x if symmetric else make_path(rng, (2, 5, 2), backend=backend)
    kw = dict(dyadic_order=1, lead_lag=True, max_batch=max_batch, return_grid=return_grid)
    got = sigrs.sig_kernel_gram(x, y, **kw)
    expected = pysiglib.sig_kernel_gram(x, y, **kw)
    assert type(got) is type(expected)
    assert_close(got, expected, F64_RTOL)


@pytest.mark.parametrize("shapes", [((2, 2), (3,)), ((), (2,)), ((), ())], ids=str)
def test_sig_kernel_gram_batch_shapes_match_pysiglib(rng, shapes):
    pysiglib = peer("pysiglib")
    x = make_path(rng, shapes[0] + (3, 2))
    y = make_path(rng, shapes[1] + (4, 2))
    for return_grid in (False, True):
        got = sigrs.sig_kernel_gram(x, y, dyadic_order=1, return_grid=return_grid)
        expected = pysiglib.sig_kernel_gram(x, y, dyadic_order=1, return_grid=return_grid)
        assert_close(got, expected, F64_RTOL)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("options", [TRANSFORMS[0], TRANSFORMS[1]], ids=[OPTION_IDS[0], OPTION_IDS[1]])
def test_normalize_matches_pysiglib(rng, backend, options):
    pysiglib = peer("pysiglib")
    x, y = _pair(rng, (3,), 4, 5, backend=backend)
    kw = dict(dyadic_order=(1, 2), normalize=True, **options)
    assert_close(sigrs.sig_kernel(x, y, **kw), pysiglib.sig_kernel(x, y, **kw), F64_RTOL, "sig_kernel")
    kw["dyadic_order"] = 1
    assert_close(sigrs.sig_kernel_gram(x, y, **kw), pysiglib.sig_kernel_gram(x, y, **kw), F64_RTOL, "gram")
    assert_close(sigrs.sig_kernel_gram(x, x, **kw), pysiglib.sig_kernel_gram(x, x, **kw), F64_RTOL, "symmetric gram")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("static", STATIC_KERNELS, ids=STATIC_IDS)
def test_static_kernels_match_pysiglib_and_reference(rng, backend, static):
    pysiglib = peer("pysiglib")
    name, make, (ref_name, ref_params) = static
    ours, theirs = make(sk()), make(pysiglib)
    kappa = ref.static_kernel_fn(ref_name, **ref_params)
    x, y = _pair(rng, (3,), 5, 4, 2, backend=backend)
    kw = dict(dyadic_order=1, time_aug=True)
    k = sigrs.sig_kernel(x, y, static_kernel=ours, **kw)
    assert_close(k, pysiglib.sig_kernel(x, y, static_kernel=theirs, **kw), F64_RTOL, "vs pysiglib")
    assert_close(k, ref.sig_kernel(to_numpy(x), to_numpy(y), 1, kappa=kappa, time_aug=True), F64_RTOL,
                 "vs reference")
    g = sigrs.sig_kernel_gram(x, y, static_kernel=ours, **kw)
    assert_close(g, pysiglib.sig_kernel_gram(x, y, static_kernel=theirs, **kw), F64_RTOL, "gram")
    derivs = as_backend(rng.standard_normal(3), backend)
    got = sigrs.sig_kernel_backprop(derivs, x, y, static_kernel=ours, left_deriv=True, right_deriv=True, **kw)
    expected = pysiglib.sig_kernel_backprop(derivs, x, y, static_kernel=theirs, left_deriv=True,
                                            right_deriv=True, **kw)
    assert_close(got[0], expected[0], 1e-9, "dpath1")
    assert_close(got[1], expected[1], 1e-9, "dpath2")


SIDES = [(True, False), (False, True), (True, True)]
SIDE_IDS = ["left", "right", "both"]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("sides", SIDES, ids=SIDE_IDS)
@pytest.mark.parametrize("pass_grid", [False, True], ids=["recompute", "k_grid"])
@pytest.mark.parametrize("return_grid", [False, True], ids=["scalar", "grid_derivs"])
@pytest.mark.parametrize("options", [TRANSFORMS[0], TRANSFORMS[3]], ids=[OPTION_IDS[0], OPTION_IDS[3]])
def test_sig_kernel_backprop_matches_pysiglib(rng, backend, sides, pass_grid, return_grid, options):
    pysiglib = peer("pysiglib")
    left, right = sides
    x, y = _pair(rng, (2, 2), 4, 3, 2, backend=backend)
    dyadic_order = (1, 2)
    grid = pysiglib.sig_kernel(x, y, dyadic_order=dyadic_order, return_grid=True, **options)
    derivs = as_backend(rng.standard_normal(tuple(grid.shape) if return_grid else (2, 2)), backend)
    kw = dict(dyadic_order=dyadic_order, left_deriv=left, right_deriv=right, return_grid=return_grid,
              k_grid=grid if pass_grid else None, **options)
    got = sigrs.sig_kernel_backprop(derivs, x, y, **kw)
    expected = pysiglib.sig_kernel_backprop(derivs, x, y, **kw)
    assert isinstance(got, tuple) and len(got) == 2
    for g, e, requested, path in zip(got, expected, sides, (x, y)):
        if not requested:
            assert g is None
            continue
        assert type(g) is type(path) and tuple(g.shape) == tuple(path.shape)
        assert_close(g, e, 1e-9)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("sides", SIDES, ids=SIDE_IDS)
@pytest.mark.parametrize("symmetric", [False, True], ids=["general", "symmetric"])
@pytest.mark.parametrize("max_batch", [-1, 2])
@pytest.mark.parametrize("pass_grid", [False, True], ids=["recompute", "k_grid"])
def test_sig_kernel_gram_backprop_matches_pysiglib(rng, backend, sides, symmetric, max_batch, pass_grid):
    pysiglib = peer("pysiglib")
    left, right = sides
    x = make_path(rng, (3, 4, 2), backend=backend)
    y = x if symmetric else make_path(rng, (2, 5, 2), backend=backend)
    kw = dict(dyadic_order=1, time_aug=True)
    derivs = as_backend(rng.standard_normal((3, 3 if symmetric else 2)), backend)
    k_grid = pysiglib.sig_kernel_gram(x, y, return_grid=True, **kw) if pass_grid else None
    kw.update(left_deriv=left, right_deriv=right, max_batch=max_batch, k_grid=k_grid)
    got = sigrs.sig_kernel_gram_backprop(derivs, x, y, **kw)
    expected = pysiglib.sig_kernel_gram_backprop(derivs, x, y, **kw)
    assert isinstance(got, tuple) and len(got) == 2
    for g, e, requested, path in zip(got, expected, sides, (x, y)):
        if not requested:
            assert g is None
            continue
        assert type(g) is type(path) and tuple(g.shape) == tuple(path.shape)
        assert g.dtype == path.dtype  # (pysiglib returns float64 here whatever the input)
        assert_close(g, e, 1e-9)


def test_backprop_of_unbatched_paths_has_the_paths_shapes(rng):
    # pysiglib returns (1, L, d) gradients for (L, d) paths; sigrs returns (L, d)
    pysiglib = peer("pysiglib")
    x, y = _pair(rng, (), 4, 5)
    gx, gy = sigrs.sig_kernel_backprop(np.array(0.7), x, y, dyadic_order=1, right_deriv=True)
    ex, ey = pysiglib.sig_kernel_backprop(np.array(0.7), x, y, dyadic_order=1, right_deriv=True)
    assert gx.shape == x.shape and gy.shape == y.shape
    assert_close(gx, ex.reshape(x.shape), 1e-9)
    assert_close(gy, ey.reshape(y.shape), 1e-9)
    gx, gy = sigrs.sig_kernel_gram_backprop(np.array(0.7), x, y, dyadic_order=1, right_deriv=True)
    assert gx.shape == x.shape and gy.shape == y.shape
    assert_close(gx, ex.reshape(x.shape), 1e-9)


# ---------------------------------------------------------------------------
# torch autograd
# ---------------------------------------------------------------------------

def _t(rng, shape, requires_grad=True):
    return make_path(rng, shape, backend="torch").requires_grad_(requires_grad)


GRADCHECK_TOL = dict(eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("static", ["linear", "rbf"])
@pytest.mark.parametrize("options", [TRANSFORMS[0], TRANSFORMS[3]], ids=[OPTION_IDS[0], OPTION_IDS[3]])
def test_sig_kernel_gradcheck(rng, static, options):
    kernel = None if static == "linear" else sk().RBFKernel(0.8)
    x, y = _t(rng, (2, 4, 2)), _t(rng, (2, 3, 2))

    def f(a, b):
        return sigrs.sig_kernel(a, b, dyadic_order=(1, 0), static_kernel=kernel, **options)

    assert torch.autograd.gradcheck(f, (x, y), **GRADCHECK_TOL)


@pytest.mark.parametrize("static", ["linear", "rbf"])
def test_sig_kernel_grid_gradcheck(rng, static):
    kernel = None if static == "linear" else sk().RBFKernel(0.8)
    x, y = _t(rng, (2, 3, 2)), _t(rng, (2, 3, 2))

    def f(a, b):
        return sigrs.sig_kernel(a, b, dyadic_order=1, static_kernel=kernel, return_grid=True)

    assert torch.autograd.gradcheck(f, (x, y), **GRADCHECK_TOL)


@pytest.mark.parametrize("static", ["linear", "rbf"])
@pytest.mark.parametrize("normalize", [False, True])
def test_sig_kernel_gram_gradcheck(rng, static, normalize):
    kernel = None if static == "linear" else sk().RBFKernel(0.8)
    x, y = _t(rng, (3, 4, 2)), _t(rng, (2, 3, 2))

    def f(a, b):
        return sigrs.sig_kernel_gram(a, b, dyadic_order=1, static_kernel=kernel, lead_lag=True,
                                     max_batch=1, normalize=normalize)

    assert torch.autograd.gradcheck(f, (x, y), **GRADCHECK_TOL)


@pytest.mark.parametrize("static", ["linear", "rbf"])
def test_symmetric_sig_kernel_gram_gradcheck(rng, static):
    kernel = None if static == "linear" else sk().RBFKernel(0.8)
    x = _t(rng, (3, 4, 2))

    def f(a):
        return sigrs.sig_kernel_gram(a, a, dyadic_order=1, static_kernel=kernel, time_aug=True)

    assert torch.autograd.gradcheck(f, (x,), **GRADCHECK_TOL)


def test_symmetric_gram_gradient_counts_both_sides(rng):
    x = _t(rng, (3, 4, 2))
    w = torch.from_numpy(rng.standard_normal((3, 3)))
    (sigrs.sig_kernel_gram(x, x, dyadic_order=1) * w).sum().backward()
    xr = x.detach().clone().requires_grad_(True)
    (ref.sig_kernel_gram(xr, xr, 1) * w).sum().backward()
    assert_close(x.grad, xr.grad, 1e-9)


def test_autograd_gradients_match_reference_autograd(rng):
    x, y = _t(rng, (2, 4, 2)), _t(rng, (2, 3, 2))
    w = torch.from_numpy(rng.standard_normal(2))
    kw = dict(time_aug=True, lead_lag=True, end_time=2.0)
    (sigrs.sig_kernel(x, y, dyadic_order=(0, 1), **kw) * w).sum().backward()
    xr, yr = (t.detach().clone().requires_grad_(True) for t in (x, y))
    (ref.sig_kernel(xr, yr, (0, 1), **kw) * w).sum().backward()
    assert_close(x.grad, xr.grad, 1e-9, "dpath1")
    assert_close(y.grad, yr.grad, 1e-9, "dpath2")


class _SpyRBF:
    """An RBF static kernel that counts the gradient sides it is asked for."""

    def __init__(self):
        self.inner = sk().RBFKernel(0.8)
        self.calls = {"x": 0, "y": 0}

    def __call__(self, ctx, x, y):
        return self.inner(ctx, x, y)

    def grad_x(self, ctx, derivs):
        self.calls["x"] += 1
        return self.inner.grad_x(ctx, derivs)

    def grad_y(self, ctx, derivs):
        self.calls["y"] += 1
        return self.inner.grad_y(ctx, derivs)


def _spy():
    base = getattr(sk(), "StaticKernel", None)
    if base is None:
        return _SpyRBF()
    return type("SpyRBF", (_SpyRBF, base), {})()


@pytest.mark.parametrize("gram", [False, True], ids=["sig_kernel", "gram"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_autograd_computes_only_the_side_that_needs_it(rng, gram, side):
    x = _t(rng, (2, 4, 2), side == "left")
    y = _t(rng, (2, 3, 2), side == "right")
    spy = _spy()
    fn = sigrs.sig_kernel_gram if gram else sigrs.sig_kernel
    fn(x, y, dyadic_order=1, static_kernel=spy).sum().backward()
    wanted, other = (x, y) if side == "left" else (y, x)
    assert wanted.grad is not None and other.grad is None
    assert spy.calls == ({"x": 1, "y": 0} if side == "left" else {"x": 0, "y": 1}), spy.calls
    # and the linear kernel (fused into the solver) agrees with the explicit backprop
    x2, y2 = x.detach().clone().requires_grad_(side == "left"), y.detach().clone().requires_grad_(side == "right")
    fn(x2, y2, dyadic_order=1).sum().backward()
    derivs = np.ones((2, 2) if gram else (2,))
    backprop = sigrs.sig_kernel_gram_backprop if gram else sigrs.sig_kernel_backprop
    gx, gy = backprop(derivs, x.detach().numpy(), y.detach().numpy(), dyadic_order=1,
                      left_deriv=side == "left", right_deriv=side == "right")
    assert_close((x2 if side == "left" else y2).grad, gx if side == "left" else gy, 1e-12)


def test_paths_without_grad_give_plain_tensors(rng):
    x, y = _t(rng, (2, 4, 2), False), _t(rng, (2, 3, 2), False)
    k = sigrs.sig_kernel(x, y, dyadic_order=1)
    assert isinstance(k, torch.Tensor) and not k.requires_grad


def test_pysiglib_style_torch_static_kernel_is_accepted(rng):
    # a static kernel written for pysiglib (torch-only ops) works on torch inputs
    pysiglib = peer("pysiglib")
    x, y = _t(rng, (2, 4, 2)), _t(rng, (2, 3, 2))
    k = sigrs.sig_kernel(x, y, dyadic_order=1, static_kernel=pysiglib.RBFKernel(0.8))
    kappa = ref.static_kernel_fn("rbf", sigma=0.8)
    assert_close(k, ref.sig_kernel(x.detach().numpy(), y.detach().numpy(), 1, kappa=kappa), F64_RTOL)
    k.sum().backward()
    ex, ey = ref.sig_kernel_backprop(np.ones(2), x.detach().numpy(), y.detach().numpy(), 1, kappa=kappa)
    assert_close(x.grad, ex, 1e-9)
    assert_close(y.grad, ey, 1e-9)


# ---------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("static", ["linear", "rbf"])
def test_float32_agrees_with_float64_reference(rng, backend, static):
    kernel = None if static == "linear" else sk().RBFKernel(0.8)
    kappa = None if static == "linear" else ref.static_kernel_fn("rbf", sigma=0.8)
    x64, y64 = _pair(rng, (3,), 5, 4)
    x, y = (as_backend(a.astype(np.float32), backend) for a in (x64, y64))
    kw = dict(dyadic_order=2, static_kernel=kernel, time_aug=True)
    k = sigrs.sig_kernel(x, y, **kw)
    assert k.dtype == x.dtype
    assert_close(k, ref.sig_kernel(x64, y64, 2, kappa=kappa, time_aug=True), F32_RTOL, "kernel")
    grid = sigrs.sig_kernel(x, y, return_grid=True, **kw)
    assert_close(grid, ref.sig_kernel(x64, y64, 2, kappa=kappa, time_aug=True, return_grid=True), F32_RTOL, "grid")
    g = sigrs.sig_kernel_gram(x, y, **kw)
    assert g.dtype == x.dtype
    assert_close(g, ref.sig_kernel_gram(x64, y64, 2, kappa=kappa, time_aug=True), F32_RTOL, "gram")
    derivs = rng.standard_normal(3)
    gx, gy = sigrs.sig_kernel_backprop(as_backend(derivs.astype(np.float32), backend), x, y,
                                       left_deriv=True, right_deriv=True, **kw)
    assert gx.dtype == x.dtype and gy.dtype == y.dtype
    ex, ey = ref.sig_kernel_backprop(derivs, x64, y64, 2, kappa=kappa, time_aug=True)
    assert_close(gx, ex, F32_RTOL, "dpath1")
    assert_close(gy, ey, F32_RTOL, "dpath2")


def test_float32_autograd_agrees_with_float64(rng):
    x64, y64 = _pair(rng, (3,), 5, 4)
    x = torch.from_numpy(x64.astype(np.float32)).requires_grad_(True)
    y = torch.from_numpy(y64.astype(np.float32)).requires_grad_(True)
    sigrs.sig_kernel_gram(x, y, dyadic_order=1).sum().backward()
    assert x.grad.dtype == torch.float32
    ex, ey = ref.sig_kernel_backprop(np.ones((3, 3)), x64, y64, 1, gram=True)
    assert_close(x.grad, ex, F32_RTOL)
    assert_close(y.grad, ey, F32_RTOL)


# ---------------------------------------------------------------------------
# errors (matched on the argument's name only)
# ---------------------------------------------------------------------------

def _paths(rng):
    return _pair(rng, (3,), 4, 5)


ALL_FUNCTIONS = ["sig_kernel", "sig_kernel_gram", "sig_kernel_backprop", "sig_kernel_gram_backprop"]


def _call(name, x, y, **kw):
    fn = getattr(sigrs, name)
    if name == "sig_kernel_backprop":
        return fn(np.ones(x.shape[:-2]), x, y, **kw)
    if name == "sig_kernel_gram_backprop":
        return fn(np.ones(x.shape[:-2] + y.shape[:-2]), x, y, **kw)
    return fn(x, y, **kw)


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_mismatched_dimensions_raise(rng, name):
    x, y = _paths(rng)
    with pytest.raises(ValueError, match="path"):
        _call(name, x, y[..., :1], dyadic_order=1)


@pytest.mark.parametrize("name", ["sig_kernel", "sig_kernel_backprop"])
def test_mismatched_batch_shapes_raise_for_paired_kernels(rng, name):
    x, y = _paths(rng)
    with pytest.raises(ValueError, match="path"):
        _call(name, x, y[:2], dyadic_order=1)


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
@pytest.mark.parametrize("dyadic_order", [-1, (1, -2), (-1, 0)], ids=str)
def test_negative_dyadic_order_raises(rng, name, dyadic_order):
    x, y = _paths(rng)
    with pytest.raises(ValueError, match="dyadic_order"):
        _call(name, x, y, dyadic_order=dyadic_order)


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
@pytest.mark.parametrize("dyadic_order", [(1,), (1, 1, 1), ()], ids=str)
def test_dyadic_order_tuple_of_wrong_length_raises(rng, name, dyadic_order):
    x, y = _paths(rng)
    with pytest.raises((ValueError, TypeError), match="dyadic_order"):
        _call(name, x, y, dyadic_order=dyadic_order)


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_missing_dyadic_order_raises(rng, name):
    x, y = _paths(rng)
    with pytest.raises((ValueError, TypeError), match="dyadic_order"):
        _call(name, x, y)


@pytest.mark.parametrize("return_grid", [False, True])
def test_sig_kernel_backprop_with_wrongly_shaped_derivs_raises(rng, return_grid):
    x, y = _paths(rng)
    bad = np.ones((2,) + ((7, 9) if return_grid else ()))
    with pytest.raises(ValueError, match="derivs"):
        sigrs.sig_kernel_backprop(bad, x, y, dyadic_order=1, return_grid=return_grid)
    if return_grid:  # a grid of the wrong size
        with pytest.raises(ValueError, match="derivs"):
            sigrs.sig_kernel_backprop(np.ones((3, 7, 8)), x, y, dyadic_order=1, return_grid=True)


def test_sig_kernel_gram_backprop_with_wrongly_shaped_derivs_raises(rng):
    x, y = _paths(rng)
    with pytest.raises(ValueError, match="derivs"):
        sigrs.sig_kernel_gram_backprop(np.ones((3, 2)), x, y, dyadic_order=1)


@pytest.mark.parametrize("name", ["sig_kernel_backprop", "sig_kernel_gram_backprop"])
def test_backprop_with_wrongly_shaped_k_grid_raises(rng, name):
    x, y = _paths(rng)
    grid_shape = _grid_shape(4, 5, 1)  # (7, 9)
    batch = (3,) if name == "sig_kernel_backprop" else (3, 3)
    for bad in (np.ones(batch + (7, 8)), np.ones(batch[:-1] + (2,) + grid_shape), np.ones(batch)):
        with pytest.raises(ValueError, match="k_grid"):
            _call(name, x, y, dyadic_order=1, k_grid=bad)


@pytest.mark.parametrize("name", ["sig_kernel_backprop", "sig_kernel_gram_backprop"])
def test_backprop_with_neither_side_requested_raises(rng, name):
    # (pysiglib returns (None, None) here; sigrs refuses)
    x, y = _paths(rng)
    with pytest.raises(ValueError, match="deriv"):
        _call(name, x, y, dyadic_order=1, left_deriv=False, right_deriv=False)


@pytest.mark.parametrize("name", ["sig_kernel", "sig_kernel_gram"])
def test_normalize_with_return_grid_raises(rng, name):
    x, y = _paths(rng)
    with pytest.raises(ValueError, match="normalize"):
        _call(name, x, y, dyadic_order=1, normalize=True, return_grid=True)


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_solver_arguments_of_the_other_method_are_refused(rng, name):
    # (the polynomial method itself: tests/test_kernel_polynomial.py)
    x, y = _paths(rng)
    with pytest.raises(ValueError, match="dyadic_order is not supported when method='polynomial'"):
        _call(name, x, y, dyadic_order=1, method="polynomial")
    with pytest.raises(ValueError, match="order is not supported when method='finite_difference'"):
        _call(name, x, y, dyadic_order=1, order=8)
    with pytest.raises(ValueError, match="method must be one of finite_difference, polynomial"):
        _call(name, x, y, dyadic_order=1, method="spectral")


@pytest.mark.parametrize("name", ["sig_kernel_gram", "sig_kernel_gram_backprop"])
@pytest.mark.parametrize("max_batch", [0, -2])
def test_bad_max_batch_raises(rng, name, max_batch):
    x, y = _paths(rng)
    with pytest.raises(ValueError, match="max_batch"):
        _call(name, x, y, dyadic_order=1, max_batch=max_batch)


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_zero_n_jobs_raises(rng, name):
    x, y = _paths(rng)
    with pytest.raises(ValueError, match="n_jobs"):
        _call(name, x, y, dyadic_order=1, n_jobs=0)
