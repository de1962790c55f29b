"""The polynomial signature-kernel solver (``method="polynomial"``, ``order``):
against pysiglib 4.0 (forward, grids, Gram matrices, backprops, metrics), a
cell-by-cell NumPy reference written from the scheme's definition, torch
autograd (gradcheck), the finite-difference solver in the limit, and the
argument errors pysiglib raises."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from _util import F32_RTOL, F64_RTOL, OPTION_COMBOS, as_backend, assert_close, make_path, peer, to_numpy

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)

import torch  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Detected a non-contiguous or view-based array")

ORDERS = [2, 3, 5, 8, 16, 64]
TRANSFORMS = [dict(o, end_time=1.7 if o["time_aug"] else 1.0) for o in OPTION_COMBOS]
TRANSFORM_IDS = ["plain", "time", "leadlag", "leadlag+time"]


def sk():
    return importlib.import_module("sigrs.static_kernels")


STATIC_KERNELS = [
    ("linear", lambda m: m.LinearKernel()),
    ("scaled_linear", lambda m: m.ScaledLinearKernel(0.7)),
    ("rbf", lambda m: m.RBFKernel(0.8)),
    ("polynomial", lambda m: m.PolynomialKernel(degree=2.0, gamma=0.5, scale=0.3)),
    ("matern12", lambda m: m.Matern12Kernel(1.3)),
    ("matern32", lambda m: m.Matern32Kernel(1.3)),
    ("matern52", lambda m: m.Matern52Kernel(1.3)),
    ("rational_quadratic", lambda m: m.RationalQuadraticKernel(0.9, 1.7)),
]
STATIC_IDS = [s[0] for s in STATIC_KERNELS]


def _paths(rng, batch, length1, length2, dim=2, dtype=np.float64, backend="numpy"):
    return (make_path(rng, tuple(batch) + (length1, dim), dtype, backend),
            make_path(rng, tuple(batch) + (length2, dim), dtype, backend))


def poly_reference(x: np.ndarray, y: np.ndarray, order: int) -> np.ndarray:
    """The vertex grid of one pair, from the scheme's definition: in each cell
    the exact power series from the bottom edge f and left edge g, the diagonal
    coefficients c[m, m+q] = w(m, q) g_q and c[m+q, m] = w(m, q) f_q with
    w(m, q) = a^m q! / (m! (m+q)!); the top and right edges truncated to
    degree ``order`` (corner g_0 in the top edge, f_0 in the right one); the
    vertex the mean of the two edges at 1."""
    gram = x @ y.T
    delta = gram[1:, 1:] - gram[1:, :-1] - gram[:-1, 1:] + gram[:-1, :-1]
    n1, n2 = delta.shape
    p = order + 1
    grid = np.ones((n1 + 1, n2 + 1))
    left = [np.eye(1, p)[0] for _ in range(n2)]
    for i in range(n1):
        f = np.eye(1, p)[0]
        for j in range(n2):
            a, g = delta[i, j], left[j]
            top, right = np.zeros(p), np.zeros(p)
            for m in range(p):
                for q in range(p):
                    w = a**m * math.factorial(q) / (math.factorial(m) * math.factorial(m + q))
                    top[m] += w * g[q]
                    right[m] += w * f[q]
                    if q >= 1 and m + q <= order:
                        top[m + q] += w * f[q]
                        right[m + q] += w * g[q]
            grid[i + 1, j + 1] = 0.5 * (top.sum() + right.sum())
            left[j], f = right, top
    return grid


# ---------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", [2, 3, 7])
def test_grid_matches_the_cell_by_cell_reference(rng, order):
    x, y = _paths(rng, (), 6, 5, 3)
    grid = sigrs.sig_kernel(x, y, method="polynomial", order=order, return_grid=True)
    assert_close(grid, poly_reference(x, y, order), F64_RTOL, "grid")


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("lengths", [(2, 2), (7, 4), (3, 11)], ids=["2x2", "7x4", "3x11"])
def test_sig_kernel_matches_pysiglib_at_every_order(rng, order, lengths):
    pysiglib = peer("pysiglib")
    x, y = _paths(rng, (9,), *lengths, dim=3)
    kw = dict(method="polynomial", order=order)
    assert_close(sigrs.sig_kernel(x, y, **kw), pysiglib.sig_kernel(x, y, **kw), F64_RTOL, "kernels")
    assert_close(sigrs.sig_kernel(x, y, return_grid=True, **kw), pysiglib.sig_kernel(x, y, return_grid=True, **kw),
                 F64_RTOL, "grids")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("options", TRANSFORMS, ids=TRANSFORM_IDS)
def test_transforms_dtypes_and_backends_match_pysiglib(rng, backend, dtype, options):
    pysiglib = peer("pysiglib")
    x, y = _paths(rng, (2, 3), 5, 6, 2, dtype, backend)
    kw = dict(method="polynomial", order=6, **options)
    got = sigrs.sig_kernel(x, y, **kw)
    assert type(got) is type(x) and got.dtype == x.dtype and tuple(got.shape) == (2, 3)
    tol = F64_RTOL if dtype == np.float64 else F32_RTOL
    assert_close(got, pysiglib.sig_kernel(x, y, **kw), tol, "kernels")
    assert_close(sigrs.sig_kernel(x, y, return_grid=True, **kw), pysiglib.sig_kernel(x, y, return_grid=True, **kw),
                 tol, "grids")


@pytest.mark.parametrize("static", STATIC_KERNELS, ids=STATIC_IDS)
def test_static_kernels_match_pysiglib(rng, static):
    pysiglib = peer("pysiglib")
    name, make = static
    x, y = _paths(rng, (3,), 5, 4, 2)
    kw = dict(method="polynomial", order=5, time_aug=True)
    ours, theirs = make(sk()), make(pysiglib)
    assert_close(sigrs.sig_kernel(x, y, static_kernel=ours, **kw), pysiglib.sig_kernel(x, y, static_kernel=theirs, **kw),
                 F64_RTOL, "kernels")
    derivs = rng.standard_normal(3)
    got = sigrs.sig_kernel_backprop(derivs, x, y, static_kernel=ours, left_deriv=True, right_deriv=True, **kw)
    want = pysiglib.sig_kernel_backprop(derivs, x, y, static_kernel=theirs, left_deriv=True, right_deriv=True, **kw)
    assert_close(got[0], want[0], 1e-9, "dpath1")
    assert_close(got[1], want[1], 1e-9, "dpath2")


class UserRBF(sigrs.StaticKernel):
    """exp(-|x - y|^2 / sigma) (sigrs's RBFKernel) written by a user in torch, its gradients by autograd."""

    def __init__(self, sigma):
        self.sigma = sigma

    def __call__(self, ctx, x, y):
        x, y = x.detach().requires_grad_(), y.detach().requires_grad_()
        with torch.enable_grad():
            k = torch.exp(-torch.cdist(x, y) ** 2 / self.sigma)
            delta = k.diff(dim=1).diff(dim=2)
        ctx.save_for_backward(x, y, delta)
        return delta.detach()

    def grad_x(self, ctx, derivs):
        x, _, delta = ctx.saved_tensors
        return torch.autograd.grad(delta, x, derivs, retain_graph=True)[0]

    def grad_y(self, ctx, derivs):
        _, y, delta = ctx.saved_tensors
        return torch.autograd.grad(delta, y, derivs, retain_graph=True)[0]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_user_static_kernel_equals_the_builtin_one(rng, backend):
    x, y = _paths(rng, (4,), 6, 5, 2, backend=backend)
    kw = dict(method="polynomial", order=6, lead_lag=True)
    user, builtin = UserRBF(0.9), sk().RBFKernel(0.9)
    assert_close(sigrs.sig_kernel(x, y, static_kernel=user, **kw), sigrs.sig_kernel(x, y, static_kernel=builtin, **kw),
                 1e-12, "kernels")
    assert_close(sigrs.sig_kernel_gram(x, y, static_kernel=user, **kw),
                 sigrs.sig_kernel_gram(x, y, static_kernel=builtin, **kw), 1e-12, "gram")
    derivs = as_backend(rng.standard_normal(4), backend)
    got = sigrs.sig_kernel_backprop(derivs, x, y, static_kernel=user, right_deriv=True, **kw)
    want = sigrs.sig_kernel_backprop(derivs, x, y, static_kernel=builtin, right_deriv=True, **kw)
    assert_close(got[0], want[0], 1e-10, "dpath1")
    assert_close(got[1], want[1], 1e-10, "dpath2")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["general", "symmetric"])
@pytest.mark.parametrize("return_grid", [False, True], ids=["values", "grids"])
def test_sig_kernel_gram_matches_pysiglib(rng, backend, symmetric, return_grid):
    pysiglib = peer("pysiglib")
    x, y = _paths(rng, (4,), 6, 5, 2, backend=backend)
    y = x if symmetric else make_path(rng, (3, 5, 2), backend=backend)
    kw = dict(method="polynomial", order=7, time_aug=True, return_grid=return_grid, max_batch=2)
    assert_close(sigrs.sig_kernel_gram(x, y, **kw), pysiglib.sig_kernel_gram(x, y, **kw), F64_RTOL, "gram")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_normalize_matches_pysiglib(rng, backend):
    pysiglib = peer("pysiglib")
    x, y = _paths(rng, (3,), 6, 5, 2, backend=backend)
    kw = dict(method="polynomial", order=8, normalize=True)
    assert_close(sigrs.sig_kernel(x, y, **kw), pysiglib.sig_kernel(x, y, **kw), F64_RTOL, "kernels")
    assert_close(sigrs.sig_kernel_gram(x, x, **kw), pysiglib.sig_kernel_gram(x, x, **kw), F64_RTOL, "gram")


def test_single_point_paths_and_empty_batches(rng):
    x, y = _paths(rng, (3,), 1, 4, 2)
    kw = dict(method="polynomial", order=4)
    np.testing.assert_array_equal(sigrs.sig_kernel(x, y, **kw), np.ones(3))
    np.testing.assert_array_equal(sigrs.sig_kernel(x, y, return_grid=True, **kw), np.ones((3, 1, 4)))
    gx, gy = sigrs.sig_kernel_backprop(np.ones(3), x, y, right_deriv=True, **kw)
    assert not gx.any() and not gy.any()
    e1, e2 = _paths(rng, (0,), 4, 4, 2)
    assert sigrs.sig_kernel(e1, e2, **kw).shape == (0,)
    assert sigrs.sig_kernel_gram(e1, x, **kw).shape == (0, 3)


def test_converges_to_the_finite_difference_limit(rng):
    x, y = _paths(rng, (3,), 6, 5, 2)
    poly = sigrs.sig_kernel(x, y, method="polynomial", order=32)
    fd = sigrs.sig_kernel(x, y, dyadic_order=7)
    assert_close(poly, fd, 1e-4, "order 32 against dyadic order 7")
    # and the error of the polynomial solver falls with the order
    errors = [float(np.max(np.abs(sigrs.sig_kernel(x, y, method="polynomial", order=o) - poly))) for o in (2, 4, 8)]
    assert errors[0] > errors[1] > errors[2]


def test_n_jobs_and_batch_grouping_do_not_change_results(rng):
    # 19 pairs: two full lane groups and a partial one
    x, y = _paths(rng, (19,), 5, 7, 3)
    kw = dict(method="polynomial", order=9)
    one = sigrs.sig_kernel(x, y, n_jobs=1, **kw)
    np.testing.assert_array_equal(sigrs.sig_kernel(x, y, n_jobs=-1, **kw), one)
    singles = np.array([sigrs.sig_kernel(x[p], y[p], **kw) for p in range(19)])
    np.testing.assert_array_equal(singles, one)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("order", [2, 5, 16])
@pytest.mark.parametrize("return_grid", [False, True], ids=["values", "grid_derivs"])
@pytest.mark.parametrize("options", [TRANSFORMS[0], TRANSFORMS[3]], ids=[TRANSFORM_IDS[0], TRANSFORM_IDS[3]])
def test_sig_kernel_backprop_matches_pysiglib(rng, backend, order, return_grid, options):
    pysiglib = peer("pysiglib")
    x, y = _paths(rng, (3,), 6, 5, 2, backend=backend)
    kw = dict(method="polynomial", order=order, return_grid=return_grid, **options)
    shape = tuple(sigrs.sig_kernel(x, y, **kw).shape)
    derivs = as_backend(rng.standard_normal(shape), backend)
    got = sigrs.sig_kernel_backprop(derivs, x, y, left_deriv=True, right_deriv=True, **kw)
    want = pysiglib.sig_kernel_backprop(derivs, x, y, left_deriv=True, right_deriv=True, **kw)
    assert_close(got[0], want[0], 1e-9, "dpath1")
    assert_close(got[1], want[1], 1e-9, "dpath2")


def test_long_paths_backprop_through_checkpoints_matches_pysiglib(rng):
    # 40 rows of cells: blocks of 7 rows recomputed from their checkpoints
    pysiglib = peer("pysiglib")
    x, y = _paths(rng, (2,), 41, 9, 2)
    kw = dict(method="polynomial", order=6)
    derivs = np.array([0.7, -1.3])
    got = sigrs.sig_kernel_backprop(derivs, x, y, right_deriv=True, **kw)
    want = pysiglib.sig_kernel_backprop(derivs, x, y, right_deriv=True, **kw)
    assert_close(got[0], want[0], 1e-9, "dpath1")
    assert_close(got[1], want[1], 1e-9, "dpath2")


@pytest.mark.parametrize("symmetric", [False, True], ids=["general", "symmetric"])
@pytest.mark.parametrize("return_grid", [False, True], ids=["values", "grid_derivs"])
@pytest.mark.parametrize("method", ["polynomial", "finite_difference"])
def test_sig_kernel_gram_backprop_matches_pysiglib(rng, symmetric, return_grid, method):
    pysiglib = peer("pysiglib")
    x = make_path(rng, (4, 5, 2))
    y = x if symmetric else make_path(rng, (3, 6, 2))
    kw = dict(method=method, time_aug=True, max_batch=2)
    kw.update(order=6) if method == "polynomial" else kw.update(dyadic_order=1)
    shape = sigrs.sig_kernel_gram(x, y, return_grid=return_grid, **kw).shape
    derivs = rng.standard_normal(shape)
    got = sigrs.sig_kernel_gram_backprop(derivs, x, y, left_deriv=True, right_deriv=True, return_grid=return_grid, **kw)
    want = pysiglib.sig_kernel_gram_backprop(derivs, x, y, left_deriv=True, right_deriv=True, return_grid=return_grid, **kw)
    assert_close(got[0], want[0], 1e-9, "dpath1")
    if not symmetric:
        assert_close(got[1], want[1], 1e-9, "dpath2")


@pytest.mark.parametrize("static", [STATIC_KERNELS[0], STATIC_KERNELS[2]], ids=[STATIC_IDS[0], STATIC_IDS[2]])
def test_gradcheck_sig_kernel_and_gram(rng, static):
    x = torch.from_numpy(make_path(rng, (2, 5, 2))).requires_grad_()
    y = torch.from_numpy(make_path(rng, (2, 4, 2))).requires_grad_()
    kw = dict(method="polynomial", order=4, time_aug=True, static_kernel=static[1](sk()))
    assert torch.autograd.gradcheck(lambda a, b: sigrs.sig_kernel(a, b, **kw), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: sigrs.sig_kernel(a, b, return_grid=True, **kw), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: sigrs.sig_kernel_gram(a, b, **kw), (x, y))
    assert torch.autograd.gradcheck(lambda a: sigrs.sig_kernel_gram(a, a, **kw), (x,))


def test_autograd_equals_the_explicit_backprop_and_pysiglib(rng):
    pysiglib = peer("pysiglib")
    x = torch.from_numpy(make_path(rng, (3, 7, 2))).requires_grad_()
    y = torch.from_numpy(make_path(rng, (3, 6, 2))).requires_grad_()
    kw = dict(method="polynomial", order=8, lead_lag=True)
    w = torch.from_numpy(rng.standard_normal(3))
    (sigrs.sig_kernel(x, y, **kw) * w).sum().backward()
    gx, gy = sigrs.sig_kernel_backprop(w, x.detach(), y.detach(), right_deriv=True, **kw)
    assert_close(x.grad, gx, 1e-12, "autograd vs backprop, path1")
    assert_close(y.grad, gy, 1e-12, "autograd vs backprop, path2")
    px, py = pysiglib.sig_kernel_backprop(w, x.detach(), y.detach(), left_deriv=True, right_deriv=True, **kw)
    assert_close(x.grad, px, 1e-9, "vs pysiglib, path1")
    assert_close(y.grad, py, 1e-9, "vs pysiglib, path2")


def test_float32_gradients_match_float64(rng):
    x64, y64 = _paths(rng, (3,), 6, 5, 2)
    kw = dict(method="polynomial", order=6, right_deriv=True)
    g64 = sigrs.sig_kernel_backprop(np.ones(3), x64, y64, **kw)
    g32 = sigrs.sig_kernel_backprop(np.ones(3, np.float32), x64.astype(np.float32), y64.astype(np.float32), **kw)
    assert g32[0].dtype == np.float32
    assert_close(g32[0], g64[0], F32_RTOL, "dpath1")
    assert_close(g32[1], g64[1], F32_RTOL, "dpath2")


# ---------------------------------------------------------------------------
# metrics and dask
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_metrics_match_pysiglib(rng, backend):
    pysiglib = peer("pysiglib")
    a = make_path(rng, (5, 6, 2), backend=backend)
    b = make_path(rng, (4, 5, 2), backend=backend)
    kw = dict(method="polynomial", order=7, time_aug=True)
    assert_close(sigrs.sig_mmd(a, b, **kw), pysiglib.sig_mmd(a, b, **kw), F64_RTOL, "sig_mmd")
    assert_close(sigrs.sig_score(a, b, **kw), pysiglib.sig_score(a, b, **kw), F64_RTOL, "sig_score")
    assert_close(sigrs.expected_sig_score(a, b, **kw), pysiglib.expected_sig_score(a, b, **kw), F64_RTOL,
                 "expected_sig_score")


def test_sig_mmd_is_differentiable_through_the_polynomial_solver(rng):
    a = torch.from_numpy(make_path(rng, (3, 5, 2))).requires_grad_()
    b = torch.from_numpy(make_path(rng, (3, 4, 2))).requires_grad_()
    assert torch.autograd.gradcheck(lambda p, q: sigrs.sig_mmd(p, q, method="polynomial", order=3), (a, b))


def test_dask_gram_passes_method_and_order_through(rng):
    import dask.array as da

    import sigrs.dask
    x = make_path(rng, (6, 5, 2))
    kw = dict(method="polynomial", order=5)
    lazy = sigrs.dask.sig_kernel_gram(da.from_array(x, chunks=(3, 5, 2)), **kw)
    np.testing.assert_allclose(lazy.compute(), sigrs.sig_kernel_gram(x, x, **kw), rtol=1e-13)
    with pytest.raises(ValueError, match="dyadic_order is not supported"):
        sigrs.dask.sig_kernel_gram(da.from_array(x, chunks=(3, 5, 2)), dyadic_order=1, **kw)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["sig_kernel", "sig_kernel_gram", "sig_mmd", "sig_score", "expected_sig_score"])
def test_bad_method_and_order_arguments_are_refused(rng, function):
    x, y = _paths(rng, (3,), 4, 4, 2)
    f = getattr(sigrs, function)
    for order in (1, 65, -3, 0):
        with pytest.raises(ValueError, match=f"order must be between 2 and 64, got {order}"):
            f(x, y, method="polynomial", order=order)
    for order in (4.0, "4", True):
        with pytest.raises(TypeError, match="order must be an int"):
            f(x, y, method="polynomial", order=order)
    with pytest.raises(ValueError, match="order is required when method='polynomial'"):
        f(x, y, method="polynomial")
    with pytest.raises(ValueError, match="dyadic_order is not supported when method='polynomial'"):
        f(x, y, method="polynomial", order=4, dyadic_order=1)
    with pytest.raises(ValueError, match="order is not supported when method='finite_difference'"):
        f(x, y, dyadic_order=1, order=4)
    with pytest.raises(ValueError, match="method must be one of finite_difference, polynomial, got 'chebyshev'"):
        f(x, y, method="chebyshev", order=4)
    with pytest.raises(TypeError, match="method must be a str"):
        f(x, y, method=1, order=4)
    # order=None with finite differences is the default and fine
    f(x, y, dyadic_order=0, order=None)


def test_backprops_refuse_bad_arguments(rng):
    x, y = _paths(rng, (3,), 4, 4, 2)
    with pytest.raises(ValueError, match="order must be between 2 and 64"):
        sigrs.sig_kernel_backprop(np.ones(3), x, y, method="polynomial", order=100)
    with pytest.raises(ValueError, match="dyadic_order is not supported"):
        sigrs.sig_kernel_gram_backprop(np.ones((3, 3)), x, y, method="polynomial", order=3, dyadic_order=0)
    with pytest.raises(ValueError, match=r"derivs must have shape \(3, 3, 4, 4\)"):
        sigrs.sig_kernel_gram_backprop(np.ones((3, 3)), x, y, method="polynomial", order=3, return_grid=True)
    with pytest.raises(ValueError, match=r"derivs must have shape \(3, 4, 4\)"):
        sigrs.sig_kernel_backprop(np.ones(3), x, y, method="polynomial", order=3, return_grid=True)
    np_order = np.int64(5)
    assert_close(sigrs.sig_kernel(x, y, method="polynomial", order=np_order),
                 sigrs.sig_kernel(x, y, method="polynomial", order=5), 0.0, "NumPy integer order")
    assert to_numpy(sigrs.sig_kernel(x, y, method="polynomial", order=5)).shape == (3,)
