"""Signature-kernel metrics (sigrs.sig_metrics): sig_mmd, sig_score, expected_sig_score.

Checked against pysiglib (values, shapes, and the gradients of its torch API),
against the estimators written out from sigrs's own Gram matrices, by
torch's gradcheck, and on bad input.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from _util import assert_close, make_path, peer

import sigrs
from sigrs import sig_metrics as sm
from sigrs import static_kernels as sk

import torch  # noqa: E402  (a test dependency: missing it is an error, not a skip)

# pysiglib warns (once) when handed arrays that do not own their memory; irrelevant here
pytestmark = pytest.mark.filterwarnings("ignore:Detected a non-contiguous or view-based array")

FUNCTIONS = ["sig_mmd", "sig_score", "expected_sig_score"]
STATIC = [("linear", None), ("rbf", dict(sigma=0.8))]


def _kernel(module, static):
    """The static kernel ``static`` (None: linear) from sigrs.static_kernels or pysiglib."""
    return None if static is None else module.RBFKernel(**static)


def _samples(rng, backend="numpy", dtype=np.float64, shape1=(5,), shape2=(4,), length1=5, length2=6, dim=2):
    x = make_path(rng, tuple(shape1) + (length1, dim), dtype, backend)
    y = make_path(rng, tuple(shape2) + (length2, dim), dtype, backend)
    return x, y


def _extra(function, lam=0.7):
    return {} if function == "sig_mmd" else dict(lam=lam)


# ---------------------------------------------------------------------------
# values against pysiglib
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("static", [s[1] for s in STATIC], ids=[s[0] for s in STATIC])
@pytest.mark.parametrize("dyadic_order", [0, 1])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_values_match_pysiglib(rng, function, dyadic_order, static, backend):
    pysiglib = peer("pysiglib")
    x, y = _samples(rng, backend)
    kw = dict(dyadic_order=dyadic_order, **_extra(function))
    got = getattr(sm, function)(x, y, static_kernel=_kernel(sk, static), **kw)
    expected = getattr(pysiglib, function)(x, y, static_kernel=_kernel(pysiglib, static), **kw)
    assert type(got) is type(expected)
    assert tuple(got.shape) == tuple(expected.shape)
    assert_close(got, expected, 1e-10)


@pytest.mark.parametrize(
    "options",
    [dict(time_aug=True, end_time=2.0), dict(lead_lag=True), dict(time_aug=True, lead_lag=True, max_batch=2)],
    ids=["time", "leadlag", "both-maxbatch2"],
)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_transforms_and_max_batch_match_pysiglib(rng, function, options):
    pysiglib = peer("pysiglib")
    x, y = _samples(rng)
    kw = dict(dyadic_order=1, **_extra(function, lam=2.5), **options)
    assert_close(getattr(sm, function)(x, y, **kw), getattr(pysiglib, function)(x, y, **kw), 1e-10)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_float32_matches_pysiglib_and_stays_float32(rng, function, backend):
    pysiglib = peer("pysiglib")
    x, y = _samples(rng, backend, np.float32)
    kw = dict(dyadic_order=1, **_extra(function))
    got = getattr(sm, function)(x, y, **kw)
    assert str(got.dtype).endswith("float32")
    assert_close(got, getattr(pysiglib, function)(x, y, **kw), 1e-4)


@pytest.mark.parametrize(
    "shape_y", [(), (1,), (3,), (2, 3)], ids=["single", "batch1", "batch3", "batch2x3"]
)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_sig_score_has_one_score_per_y_like_pysiglib(rng, backend, shape_y):
    pysiglib = peer("pysiglib")
    x, y = _samples(rng, backend, shape1=(2, 3), shape2=shape_y)
    got = sm.sig_score(x, y, dyadic_order=1)
    expected = pysiglib.sig_score(x, y, dyadic_order=1)
    assert tuple(got.shape) == (tuple(shape_y) or (1,)) == tuple(expected.shape)
    assert_close(got, expected, 1e-10)
    flat = y.reshape((-1,) + tuple(y.shape[-2:]))
    each = [sm.sig_score(x, flat[i], dyadic_order=1) for i in range(flat.shape[0])]
    assert_close(got.reshape(-1), np.concatenate([np.asarray(e) for e in each]), 1e-12, "scored independently")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_multi_dimensional_batches_are_flattened_like_pysiglib(rng, function):
    pysiglib = peer("pysiglib")
    x, y = _samples(rng, shape1=(2, 3), shape2=(2, 2))
    kw = dict(dyadic_order=1, **_extra(function))
    got = getattr(sm, function)(x, y, **kw)
    assert_close(got, getattr(pysiglib, function)(x, y, **kw), 1e-10)
    if function != "sig_score":  # sig_score keeps y's batch shape
        flat = getattr(sm, function)(x.reshape(6, 5, 2), y.reshape(4, 6, 2), **kw)
        assert_close(got, flat, 1e-13)


def test_signatures_equal_pysiglibs():
    pysiglib = peer("pysiglib")
    for function in FUNCTIONS:
        ours = dict(inspect.signature(getattr(sm, function)).parameters)
        # sigrs's one addition, keyword-only after all of pysiglib's arguments
        assert list(ours)[-1] == "progress" and ours.pop("progress").kind is inspect.Parameter.KEYWORD_ONLY, function
        theirs = inspect.signature(getattr(pysiglib, function)).parameters
        assert list(ours) == list(theirs), function
        for name in ours:
            assert ours[name].kind == theirs[name].kind, (function, name)
            if name == "n_jobs":
                # sigrs's convention everywhere: all cores by default (pysiglib: 1)
                assert ours[name].default == -1, function
            else:
                assert ours[name].default == theirs[name].default, (function, name)


# ---------------------------------------------------------------------------
# the estimators, written out
# ---------------------------------------------------------------------------


def _off_diagonal_mean(g):
    n = g.shape[0]
    return (g.sum() - np.trace(g)) / (n * (n - 1))


@pytest.mark.parametrize("dyadic_order", [1, (0, 1)], ids=["1", "0-1"])
def test_estimators_equal_their_formulas_on_sigrs_grams(rng, dyadic_order):
    # with unequal dyadic orders k(x_i, x_j) != k(x_j, x_i): sigrs solves both
    # (pysiglib mirrors the upper triangle, so it differs there by the discretisation error)
    x, y = _samples(rng)
    kw = dict(dyadic_order=dyadic_order)
    kxx = sigrs.sig_kernel_gram(x, x.copy(), **kw)
    kxy = sigrs.sig_kernel_gram(x, y, **kw)
    kyy = sigrs.sig_kernel_gram(y, y.copy(), **kw)
    mmd = _off_diagonal_mean(kxx) - 2 * kxy.mean() + _off_diagonal_mean(kyy)
    assert_close(sm.sig_mmd(x, y, **kw), mmd, 1e-12, "sig_mmd")
    score = 0.3 * _off_diagonal_mean(kxx) - 2 * kxy.mean(0)
    assert_close(sm.sig_score(x, y, lam=0.3, **kw), score, 1e-12, "sig_score")
    assert_close(sm.expected_sig_score(x, y, lam=0.3, **kw), [score.mean()], 1e-12, "expected_sig_score")


def test_mmd_is_symmetric_and_scores_are_linear_in_lam(rng):
    x, y = _samples(rng)
    assert_close(sm.sig_mmd(x, y, dyadic_order=1), sm.sig_mmd(y, x, dyadic_order=1), 1e-12)
    s0, s1, s2 = (sm.sig_score(x, y, dyadic_order=1, lam=lam) for lam in (0.0, 1.0, 2.0))
    assert_close(s2 - s1, s1 - s0, 1e-12)
    assert_close(sm.sig_score(x, y, dyadic_order=1, lam=0), -2 * sigrs.sig_kernel_gram(x, y, dyadic_order=1).mean(0),
                 1e-12)


def test_mmd_separates_distributions(rng):
    x, y = _samples(rng, shape1=(12,), shape2=(12,))
    same = sm.sig_mmd(x, make_path(rng, (12, 6, 2)), dyadic_order=1)
    shifted = sm.sig_mmd(x, 3.0 * y, dyadic_order=1)
    assert abs(float(same)) < float(shifted)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("static", [s[1] for s in STATIC], ids=[s[0] for s in STATIC])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_torch_gradients_match_pysiglibs_torch_api(rng, function, static):
    pysiglib_torch = peer("pysiglib.torch_api")
    x0, y0 = _samples(rng, "torch", shape2=(2, 2))
    results = []
    for module, kernels in ((sm, sk), (pysiglib_torch, pysiglib_torch)):
        x, y = x0.clone().requires_grad_(), y0.clone().requires_grad_()
        out = getattr(module, function)(x, y, dyadic_order=1, static_kernel=_kernel(kernels, static),
                                        **_extra(function, lam=1.3))
        weights = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
        (out * weights).sum().backward()
        results.append((out.detach(), x.grad, y.grad))
    for got, expected, what in zip(*results, ("value", "d/dsample1", "d/dsample2")):
        assert_close(got, expected, 1e-10, what)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_gradcheck(rng, function):
    x, y = _samples(rng, "torch", shape1=(3,), shape2=(2,), length1=3, length2=4)
    x.requires_grad_()
    y.requires_grad_()
    kernel = sk.RBFKernel(1.5)

    def f(a, b):
        return getattr(sm, function)(a, b, dyadic_order=1, static_kernel=kernel, **_extra(function))

    assert torch.autograd.gradcheck(f, (x, y))


def test_only_requested_gradients_flow(rng):
    x, y = _samples(rng, "torch")
    x.requires_grad_()
    sm.sig_mmd(x, y, dyadic_order=0).backward()
    assert x.grad is not None and y.grad is None and torch.isfinite(x.grad).all()


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def _bad_cases():
    def numpy_pair(rng):
        return _samples(rng)

    def torch_pair(rng):
        return _samples(rng, "torch")

    return [
        ("dimension", lambda r: (numpy_pair(r)[0], numpy_pair(r)[1][..., :1]), {}, ValueError,
         r"must have the same dimension \(last axis\), got 1 and 2"),
        ("mixed", lambda r: (numpy_pair(r)[0], torch_pair(r)[1]), {}, TypeError, r"must be a NumPy array"),
        ("mixed-torch-first", lambda r: (torch_pair(r)[0], numpy_pair(r)[1]), {}, TypeError,
         r"must be a torch tensor"),
        ("dtype", lambda r: (numpy_pair(r)[0], numpy_pair(r)[1].astype(np.float32)), {}, TypeError, r"dtype"),
        ("1-d", lambda r: (numpy_pair(r)[0][0, :, 0], numpy_pair(r)[1]), {}, ValueError,
         r"at least 2 dimensions"),
        ("one path", lambda r: (numpy_pair(r)[0][:1], numpy_pair(r)[1]), {}, ValueError,
         r"needs at least 2 paths in sample1? .*got 1$"),
        ("single 2-d path", lambda r: (numpy_pair(r)[0][0], numpy_pair(r)[1]), {}, ValueError,
         r"needs at least 2 paths in sample1? .*got 1$"),
        ("order", lambda r: numpy_pair(r), dict(order=8), ValueError, r"order is not supported when method='finite_difference'"),
        ("method", lambda r: numpy_pair(r), dict(method="polynomial"), ValueError,
         r"dyadic_order is not supported when method='polynomial'"),
        ("unknown method", lambda r: numpy_pair(r), dict(method="spectral"), ValueError, r"method must be one of"),
        ("no dyadic_order", lambda r: numpy_pair(r), dict(dyadic_order=None), (TypeError, ValueError), r"dyadic_order"),
        ("str", lambda r: ("abc", numpy_pair(r)[1]), {}, (TypeError, ValueError), r"sample"),
    ]


BAD = _bad_cases()


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("make, kwargs, error, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_refused(rng, function, make, kwargs, error, message):
    a, b = make(rng)
    kw = dict(dict(dyadic_order=1), **kwargs)
    with pytest.raises(error, match=message):
        getattr(sm, function)(a, b, **kw)


def test_mmd_needs_two_paths_in_sample2(rng):
    x, y = _samples(rng)
    with pytest.raises(ValueError, match=r"sig_mmd needs at least 2 paths in sample2.*got 1"):
        sm.sig_mmd(x, y[:1], dyadic_order=1)
    # a score needs only one y
    assert sm.sig_score(x, y[:1], dyadic_order=1).shape == (1,)
    assert sm.expected_sig_score(x, y[0], dyadic_order=1).shape == (1,)


@pytest.mark.parametrize("lam, error, message", [
    ("1", TypeError, r"lam must be a real number, got str"),
    (None, TypeError, r"lam must be a real number, got NoneType"),
    (True, TypeError, r"lam must be a real number, got bool"),
    (float("nan"), ValueError, r"lam must be finite, got nan"),
], ids=["str", "none", "bool", "nan"])
@pytest.mark.parametrize("function", ["sig_score", "expected_sig_score"])
def test_bad_lam_is_refused(rng, function, lam, error, message):
    x, y = _samples(rng)
    with pytest.raises(error, match=message):
        getattr(sm, function)(x, y, dyadic_order=1, lam=lam)


def test_errors_name_the_arguments_of_the_function_called(rng):
    x, y = _samples(rng)
    with pytest.raises(ValueError, match="sample2 and sample1"):
        sm.expected_sig_score(x, y[..., :1], dyadic_order=1)
    with pytest.raises(ValueError, match="y and sample"):
        sm.sig_score(x, y[..., :1], dyadic_order=1)
    with pytest.raises(ValueError, match="expected_sig_score needs at least 2 paths in sample1"):
        sm.expected_sig_score(x[:1], y, dyadic_order=1)


def test_lists_are_accepted(rng):
    x, y = _samples(rng)
    assert_close(sm.sig_mmd(x.tolist(), y.tolist(), dyadic_order=1), sm.sig_mmd(x, y, dyadic_order=1), 0.0)
