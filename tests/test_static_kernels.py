"""Static kernels (sigrs.static_kernels): pysiglib's contract, formulas and numbers.

Each kernel's double increments and its grad_x / grad_y are checked against
pysiglib's kernel of the same name and parameters, on NumPy arrays and torch
tensors, in float64 and float32; grad_x / grad_y against torch autograd of
``__call__``; user-defined kernels through sigrs.sig_kernel; and the
argument checks.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from _util import assert_close, cuda_available, make_path, peer

import sigrs
from sigrs import static_kernels as sk

import torch  # noqa: E402  (a test dependency: missing it is an error, not a skip)

F64_TOL = 1e-12
F32_TOL = 1e-4

# (id, factory(module)): the same constructor call on sigrs's and pysiglib's module
KERNELS = [
    ("linear", lambda m: m.LinearKernel()),
    ("scaled_linear", lambda m: m.ScaledLinearKernel(0.7)),
    ("scaled_linear_default", lambda m: m.ScaledLinearKernel()),
    ("rbf", lambda m: m.RBFKernel(0.8)),
    ("polynomial_default", lambda m: m.PolynomialKernel()),
    ("polynomial_2", lambda m: m.PolynomialKernel(degree=2.0, gamma=0.5, scale=0.3)),
    ("polynomial_1", lambda m: m.PolynomialKernel(degree=1.0, gamma=-0.2, scale=1.5)),
    ("polynomial_0", lambda m: m.PolynomialKernel(degree=0.0)),
    # (gamma keeps <x, y> + gamma > 0: pysiglib clamps negative bases for integer degrees > 5 too)
    ("polynomial_6", lambda m: m.PolynomialKernel(degree=6.0, gamma=10.0, scale=1e-6)),
    ("polynomial_2.5", lambda m: m.PolynomialKernel(degree=2.5, gamma=3.0, scale=0.5)),
    ("matern12", lambda m: m.Matern12Kernel(1.3)),
    ("matern32", lambda m: m.Matern32Kernel(1.3)),
    ("matern52", lambda m: m.Matern52Kernel(0.6)),
    ("rational_quadratic", lambda m: m.RationalQuadraticKernel(0.9, 1.7)),
    ("rational_quadratic_default", lambda m: m.RationalQuadraticKernel(1.1)),
]
KERNEL_IDS = [k[0] for k in KERNELS]


def _inputs(rng, batch=3, length1=6, length2=5, dim=2):
    x = make_path(rng, (batch, length1, dim))
    y = make_path(rng, (batch, length2, dim))
    derivs = rng.standard_normal((batch, length1 - 1, length2 - 1))
    return x, y, derivs


def _backend(a, backend, dtype):
    a = np.ascontiguousarray(a, dtype=dtype)
    return torch.from_numpy(a) if backend == "torch" else a


def _run(kernel, ctx_cls, x, y, derivs):
    ctx = ctx_cls()
    delta = kernel(ctx, x, y)
    return delta, kernel.grad_x(ctx, derivs), kernel.grad_y(ctx, derivs)


# ---------------------------------------------------------------------------
# against pysiglib
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("make", [k[1] for k in KERNELS], ids=KERNEL_IDS)
def test_double_increments_and_gradients_match_pysiglib(rng, make, backend, dtype):
    pysiglib = peer("pysiglib")
    x, y, derivs = _inputs(rng)
    ours = _run(make(sk), sk.Context, *(_backend(a, backend, dtype) for a in (x, y, derivs)))
    theirs = _run(make(pysiglib), pysiglib.Context, *(_backend(a, "torch", dtype) for a in (x, y, derivs)))
    tol = F64_TOL if dtype == np.float64 else F32_TOL
    for got, expected, what, shape in zip(ours, theirs, ("delta", "grad_x", "grad_y"), ((3, 5, 4), x.shape, y.shape)):
        assert isinstance(got, torch.Tensor if backend == "torch" else np.ndarray), what
        assert tuple(got.shape) == shape, what
        assert str(got.dtype).endswith(np.dtype(dtype).name), f"{what} dtype {got.dtype}"
        assert_close(got, expected, tol, what)


@pytest.mark.parametrize("make", [k[1] for k in KERNELS], ids=KERNEL_IDS)
def test_grad_x_and_grad_y_equal_torch_autograd_of_call(rng, make):
    x0, y0, derivs = _inputs(rng)
    kernel = make(sk)
    x = torch.tensor(x0, requires_grad=True)
    y = torch.tensor(y0, requires_grad=True)
    d = torch.from_numpy(derivs)
    ctx = sk.Context()
    delta = kernel(ctx, x, y)
    assert delta.requires_grad or isinstance(kernel, sk.PolynomialKernel) and kernel.degree == 0
    if delta.requires_grad:
        (delta * d).sum().backward()
        gx_auto, gy_auto = x.grad, y.grad
    else:
        gx_auto, gy_auto = torch.zeros_like(x), torch.zeros_like(y)
    assert_close(kernel.grad_x(ctx, d), gx_auto, 1e-10, "grad_x")
    assert_close(kernel.grad_y(ctx, d), gy_auto, 1e-10, "grad_y")


@pytest.mark.parametrize("make", [k[1] for k in KERNELS], ids=KERNEL_IDS)
def test_numpy_and_torch_give_the_same_numbers(rng, make):
    x, y, derivs = _inputs(rng)
    kernel = make(sk)
    a = _run(kernel, sk.Context, x, y, derivs)
    b = _run(kernel, sk.Context, *(torch.from_numpy(v) for v in (x, y, derivs)))
    for got, expected in zip(b, a):
        assert_close(got, expected, 1e-13)


@pytest.mark.parametrize("make", [k[1] for k in KERNELS], ids=KERNEL_IDS)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_inputs_are_never_modified(rng, make, backend):
    arrays = [_backend(a, backend, np.float64) for a in _inputs(rng)]
    copies = [a.copy() if backend == "numpy" else a.clone() for a in arrays]
    _run(make(sk), sk.Context, *arrays)
    for a, c in zip(arrays, copies):
        assert (np.asarray(a) == np.asarray(c)).all()


# ---------------------------------------------------------------------------
# the gradients' context
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [k[1] for k in KERNELS], ids=KERNEL_IDS)
def test_gradients_follow_their_own_derivs_in_any_order(rng, make):
    # pysiglib re-uses grad_x's weights in grad_y whatever derivs grad_y gets; sigrs
    # re-uses them only for the same derivs object
    x, y, d1 = _inputs(rng)
    d2 = rng.standard_normal(d1.shape)
    kernel = make(sk)

    def fresh(which, d):
        ctx = sk.Context()
        kernel(ctx, x, y)
        return getattr(kernel, which)(ctx, d)

    ctx = sk.Context()
    kernel(ctx, x, y)
    assert_close(kernel.grad_x(ctx, d1), fresh("grad_x", d1), 0.0)
    assert_close(kernel.grad_y(ctx, d2), fresh("grad_y", d2), 0.0)
    assert_close(kernel.grad_y(ctx, d1), fresh("grad_y", d1), 0.0)
    assert_close(kernel.grad_x(ctx, d1), fresh("grad_x", d1), 0.0)
    assert_close(kernel.grad_x(ctx, d2), fresh("grad_x", d2), 0.0)


def test_context_matches_pysiglibs():
    ctx = sk.Context()
    assert ctx.saved_tensors == () and ctx.saved_for_y == ()
    ctx.save_for_backward(1, "a")
    ctx.save_for_grad_y(2)
    assert ctx.saved_tensors == (1, "a") and ctx.saved_for_y == (2,)


# ---------------------------------------------------------------------------
# special inputs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [k[1] for k in KERNELS], ids=KERNEL_IDS)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_single_point_paths_have_empty_increments_and_zero_gradients(rng, make, backend):
    x = _backend(make_path(rng, (2, 1, 3)), backend, np.float64)
    y = _backend(make_path(rng, (2, 4, 3)), backend, np.float64)
    derivs = _backend(np.zeros((2, 0, 3)), backend, np.float64)
    delta, gx, gy = _run(make(sk), sk.Context, x, y, derivs)
    assert tuple(delta.shape) == (2, 0, 3)
    assert tuple(gx.shape) == (2, 1, 3) and not np.asarray(gx).any()
    assert tuple(gy.shape) == (2, 4, 3) and not np.asarray(gy).any()


@pytest.mark.parametrize("make", [k[1] for k in KERNELS], ids=KERNEL_IDS)
def test_coinciding_points_give_finite_values_and_gradients(rng, make):
    x, _, derivs = _inputs(rng, length2=6)
    delta, gx, gy = _run(make(sk), sk.Context, x, x.copy(), derivs)
    for a in (delta, gx, gy):
        assert np.isfinite(a).all()


def test_polynomial_non_integer_degree_clamps_negative_bases_and_warns_once(rng):
    pysiglib = peer("pysiglib")
    x, y, derivs = _inputs(rng)
    kernel = sk.PolynomialKernel(degree=2.5, gamma=0.0)  # <x, y> < 0 somewhere
    assert (x @ y.transpose(0, 2, 1) < 0).any()
    with pytest.warns(RuntimeWarning, match="clamped to 0"):
        ctx = sk.Context()
        delta = kernel(ctx, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kernel(sk.Context(), x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pysiglib.PolynomialKernel(degree=2.5, gamma=0.0)(pysiglib.Context(), torch.from_numpy(x),
                                                                    torch.from_numpy(y))
    assert_close(delta, expected, F64_TOL)
    # gradients: those of the clamped kernel (zero where clamped), as autograd gives them
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    ctx = sk.Context()
    (kernel(ctx, xt, yt) * torch.from_numpy(derivs)).sum().backward()
    assert_close(kernel.grad_x(ctx, torch.from_numpy(derivs)), xt.grad, 1e-10, "grad_x")
    assert_close(kernel.grad_y(ctx, torch.from_numpy(derivs)), yt.grad, 1e-10, "grad_y")


def test_polynomial_integer_degree_takes_negative_bases_as_they_are(rng):
    # pysiglib clamps negative bases to 0 for integer degrees above 5 as well; sigrs
    # only for non-integer degrees, where the power is undefined
    x, y, derivs = _inputs(rng)
    kernel = sk.PolynomialKernel(degree=7, gamma=-1.0, scale=0.5)
    base = x @ y.transpose(0, 2, 1) - 1.0
    assert (base < 0).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        delta = kernel(sk.Context(), x, y)
    k = 0.5 * base ** 7
    assert_close(delta, np.diff(np.diff(k, axis=1), axis=2), F64_TOL)


def test_polynomial_degree_zero_is_constant(rng):
    x, y, derivs = _inputs(rng)
    delta, gx, gy = _run(sk.PolynomialKernel(degree=0, gamma=-5.0, scale=2.0), sk.Context, x, y, derivs)
    assert not delta.any() and not gx.any() and not gy.any()


def test_float32_stays_float32(rng):
    x, y, derivs = (a.astype(np.float32) for a in _inputs(rng))
    for kernel in (sk.RBFKernel(1.0), sk.Matern52Kernel(1.0), sk.ScaledLinearKernel(2.0), sk.PolynomialKernel(2.5, gamma=5.0)):
        ctx = sk.Context()
        assert kernel(ctx, x, y).dtype == np.float32
        assert all(a.dtype == np.float32 for a in ctx.saved_tensors)
        assert kernel.grad_x(ctx, derivs).dtype == np.float32


# ---------------------------------------------------------------------------
# user-defined kernels and the linear fast path
# ---------------------------------------------------------------------------


class PointLinear(sk.StaticKernel):
    """<x, y> as a user might write it: the kernel of the points, double-differenced
    (NumPy or torch, like the kernels a pysiglib user writes)."""

    def __call__(self, ctx, x, y):
        k = x @ y.swapaxes(1, 2) if isinstance(x, np.ndarray) else x @ y.transpose(1, 2)
        ctx.save_for_backward(x, y)
        return k[:, 1:, 1:] - k[:, :-1, 1:] - k[:, 1:, :-1] + k[:, :-1, :-1]

    @staticmethod
    def _undo(derivs):
        b, n1, n2 = derivs.shape
        w = derivs.new_zeros((b, n1 + 1, n2 + 1)) if isinstance(derivs, torch.Tensor) else np.zeros((b, n1 + 1, n2 + 1))
        w[:, 1:, 1:] += derivs
        w[:, :-1, :-1] += derivs
        w[:, 1:, :-1] -= derivs
        w[:, :-1, 1:] -= derivs
        return w

    def grad_x(self, ctx, derivs):
        x, y = ctx.saved_tensors
        return self._undo(derivs) @ y

    def grad_y(self, ctx, derivs):
        x, y = ctx.saved_tensors
        w = self._undo(derivs)
        return (w.swapaxes(1, 2) if isinstance(w, np.ndarray) else w.transpose(1, 2)) @ x


class AutogradExponential(sk.StaticKernel):
    """exp(-|x - y|), its gradients from torch autograd: a torch-only user kernel."""

    def __call__(self, ctx, x, y):
        x, y = x.detach().requires_grad_(), y.detach().requires_grad_()
        with torch.enable_grad():
            delta = torch.exp(-torch.cdist(x, y)).diff(dim=1).diff(dim=2)
        ctx.save_for_backward(x, y, delta)
        return delta.detach()

    def grad_x(self, ctx, derivs):
        x, _, delta = ctx.saved_tensors
        return torch.autograd.grad(delta, x, derivs, retain_graph=True)[0]

    def grad_y(self, ctx, derivs):
        _, y, delta = ctx.saved_tensors
        return torch.autograd.grad(delta, y, derivs, retain_graph=True)[0]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_user_kernel_equals_the_builtin_linear_kernel_in_sig_kernel(rng, backend):
    x = _backend(make_path(rng, (3, 5, 2)), backend, np.float64)
    y = _backend(make_path(rng, (3, 4, 2)), backend, np.float64)
    user = PointLinear()
    assert user.linear_scale is None
    kw = dict(dyadic_order=1, time_aug=True)
    assert_close(sigrs.sig_kernel(x, y, static_kernel=user, **kw), sigrs.sig_kernel(x, y, **kw), 1e-12)
    derivs = _backend(rng.standard_normal(3), backend, np.float64)
    got = sigrs.sig_kernel_backprop(derivs, x, y, static_kernel=user, right_deriv=True, **kw)
    expected = sigrs.sig_kernel_backprop(derivs, x, y, right_deriv=True, **kw)
    assert_close(got[0], expected[0], 1e-10, "dpath1")
    assert_close(got[1], expected[1], 1e-10, "dpath2")


def test_torch_only_user_kernel_works_with_autograd(rng):
    x0, y0 = make_path(rng, (2, 5, 3)), make_path(rng, (2, 6, 3))
    grads = []
    for kernel in (AutogradExponential(), sk.Matern12Kernel(1.0)):
        x, y = torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)
        k = sigrs.sig_kernel(x, y, dyadic_order=1, static_kernel=kernel)
        k.sum().backward()
        grads.append((k.detach(), x.grad, y.grad))
    for got, expected in zip(*grads):
        assert_close(got, expected, 1e-10)


def test_linear_scale_hook_names_the_inner_product_factor():
    assert sk.LinearKernel().linear_scale == 1.0
    assert sk.ScaledLinearKernel(0.7).linear_scale == pytest.approx(0.49, rel=1e-15)
    assert sk.ScaledLinearKernel().linear_scale == 1.0
    for kernel in (sk.RBFKernel(1.0), sk.PolynomialKernel(degree=1.0, gamma=0.0), sk.Matern12Kernel(1.0),
                   sk.Matern32Kernel(1.0), sk.Matern52Kernel(1.0), sk.RationalQuadraticKernel(1.0), PointLinear()):
        assert kernel.linear_scale is None

    class Subclass(sk.ScaledLinearKernel):
        pass

    class Overridden(sk.LinearKernel):
        def __call__(self, ctx, x, y):
            return 2 * super().__call__(ctx, x, y)

    assert Subclass(2.0).linear_scale == 4.0
    assert Overridden().linear_scale is None  # its own maths: never fused


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_scaled_linear_kernel_fused_and_called_agree(rng, backend):
    class Called(sk.ScaledLinearKernel):  # same maths, but not recognised: delta goes through __call__
        def __call__(self, ctx, x, y):
            return super().__call__(ctx, x, y)

    x = _backend(make_path(rng, (3, 5, 2)), backend, np.float64)
    y = _backend(make_path(rng, (3, 4, 2)), backend, np.float64)
    fused, called = sk.ScaledLinearKernel(0.7), Called(0.7)
    assert fused.linear_scale is not None and called.linear_scale is None
    kw = dict(dyadic_order=(1, 0), lead_lag=True)
    assert_close(sigrs.sig_kernel(x, y, static_kernel=fused, **kw), sigrs.sig_kernel(x, y, static_kernel=called, **kw),
                 1e-12)
    derivs = _backend(rng.standard_normal(3), backend, np.float64)
    a = sigrs.sig_kernel_backprop(derivs, x, y, static_kernel=fused, right_deriv=True, **kw)
    b = sigrs.sig_kernel_backprop(derivs, x, y, static_kernel=called, right_deriv=True, **kw)
    assert_close(a[0], b[0], 1e-10)
    assert_close(a[1], b[1], 1e-10)


def test_builtin_kernels_declare_that_they_accept_numpy_arrays():
    # pysiglib's contract hands kernels torch tensors; a user kernel is assumed to need them
    for _, make in KERNELS:
        assert make(sk).accepts_numpy is True
    assert PointLinear.accepts_numpy is False and AutogradExponential.accepts_numpy is False


def test_static_kernel_is_abstract():
    with pytest.raises(TypeError):
        sk.StaticKernel()

    class NoGradY(sk.StaticKernel):
        def __call__(self, ctx, x, y):
            return x

        def grad_x(self, ctx, derivs):
            return derivs

    with pytest.raises(TypeError):
        NoGradY()


def test_repr_shows_the_parameters():
    assert repr(sk.RBFKernel(0.5)) == "RBFKernel(sigma=0.5)"
    assert repr(sk.PolynomialKernel()) == "PolynomialKernel(degree=3.0, gamma=1.0, scale=1.0)"
    assert repr(sk.LinearKernel()) == "LinearKernel()"


def test_numpy_use_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from sigrs.static_kernels import Context, RBFKernel\n"
        "x = np.random.rand(2, 4, 3)\n"
        "ctx = Context(); d = RBFKernel(1.0)(ctx, x, x)\n"
        "RBFKernel(1.0).grad_x(ctx, np.ones_like(d))\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# bad arguments
# ---------------------------------------------------------------------------

BAD_CONSTRUCTORS = [
    (lambda: sk.RBFKernel(0.0), ValueError, r"RBFKernel: sigma must be > 0, got 0\.0"),
    (lambda: sk.RBFKernel(-1), ValueError, r"RBFKernel: sigma must be > 0, got -1"),
    (lambda: sk.RBFKernel(float("nan")), ValueError, r"RBFKernel: sigma must be finite, got nan"),
    (lambda: sk.RBFKernel(float("inf")), ValueError, r"sigma must be finite, got inf"),
    (lambda: sk.RBFKernel("1"), TypeError, r"RBFKernel: sigma must be a real number, got str '1'"),
    (lambda: sk.RBFKernel(True), TypeError, r"sigma must be a real number, got bool"),
    (lambda: sk.RBFKernel(None), TypeError, r"sigma must be a real number, got NoneType"),
    (lambda: sk.Matern12Kernel(0), ValueError, r"Matern12Kernel: sigma must be > 0, got 0"),
    (lambda: sk.Matern32Kernel(-0.5), ValueError, r"Matern32Kernel: sigma must be > 0, got -0\.5"),
    (lambda: sk.Matern52Kernel(0), ValueError, r"Matern52Kernel: sigma must be > 0"),
    (lambda: sk.RationalQuadraticKernel(0), ValueError, r"RationalQuadraticKernel: sigma must be > 0"),
    (lambda: sk.RationalQuadraticKernel(1.0, alpha=0.0), ValueError,
     r"RationalQuadraticKernel: alpha must be > 0, got 0\.0"),
    (lambda: sk.RationalQuadraticKernel(1.0, alpha=[1]), TypeError, r"alpha must be a real number, got list"),
    (lambda: sk.PolynomialKernel(degree=-1), ValueError, r"PolynomialKernel: degree must be >= 0, got -1"),
    (lambda: sk.PolynomialKernel(scale=-0.1), ValueError, r"PolynomialKernel: scale must be >= 0, got -0\.1"),
    (lambda: sk.PolynomialKernel(gamma="a"), TypeError, r"PolynomialKernel: gamma must be a real number"),
    (lambda: sk.PolynomialKernel(gamma=float("-inf")), ValueError, r"gamma must be finite"),
    (lambda: sk.ScaledLinearKernel(-2.0), ValueError, r"ScaledLinearKernel: scale must be >= 0, got -2\.0"),
    (lambda: sk.ScaledLinearKernel(1j), TypeError, r"ScaledLinearKernel: scale must be a real number, got complex"),
]


@pytest.mark.parametrize("make, error, message", BAD_CONSTRUCTORS, ids=range(len(BAD_CONSTRUCTORS)))
def test_bad_constructor_arguments_are_refused_with_their_name_and_value(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_numpy_scalars_are_accepted_as_parameters():
    assert sk.RBFKernel(np.float32(0.5)).sigma == 0.5
    assert sk.PolynomialKernel(degree=np.int64(2)).degree == 2.0


BAD_CALLS = [
    ("mixed kinds", lambda x, y: (x, torch.from_numpy(y)), TypeError, "must both be NumPy arrays or both torch tensors"),
    ("list", lambda x, y: (x.tolist(), y), TypeError, "x must be a NumPy array or a torch tensor, got list"),
    ("2-d", lambda x, y: (x[0], y[0]), ValueError, r"\(batch, length, dim\)"),
    ("batch", lambda x, y: (x, y[:2]), ValueError, "same batch size and dimension"),
    ("dim", lambda x, y: (x, y[..., :1]), ValueError, "same batch size and dimension"),
    ("dtype", lambda x, y: (x, y.astype(np.float32)), TypeError, "same dtype"),
    ("int", lambda x, y: (x.astype(np.int64), y.astype(np.int64)), TypeError, "floating dtype"),
]


@pytest.mark.parametrize("transform, error, message", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
@pytest.mark.parametrize("make", [KERNELS[0][1], KERNELS[3][1], KERNELS[5][1]], ids=["linear", "rbf", "polynomial"])
def test_bad_paths_are_refused(rng, make, transform, error, message):
    x, y, _ = _inputs(rng)
    with pytest.raises(error, match=message):
        make(sk)(sk.Context(), *transform(x, y))


@pytest.mark.parametrize("make", [KERNELS[0][1], KERNELS[3][1]], ids=["linear", "rbf"])
def test_derivs_of_the_wrong_shape_are_refused(rng, make):
    x, y, derivs = _inputs(rng)
    kernel, ctx = make(sk), sk.Context()
    kernel(ctx, x, y)
    with pytest.raises(ValueError, match=r"derivs must have the shape of the double increments \(3, 5, 4\)"):
        kernel.grad_x(ctx, derivs[:, :-1])


# ---------------------------------------------------------------------------
# CUDA tensors: computed with torch on the device
# ---------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not cuda_available(), reason="torch.cuda is not available")
@pytest.mark.parametrize("make", [k[1] for k in KERNELS], ids=KERNEL_IDS)
def test_cuda_tensors_match_cpu(rng, make):
    arrays = [torch.from_numpy(a) for a in _inputs(rng)]
    cpu = _run(make(sk), sk.Context, *arrays)
    gpu = _run(make(sk), sk.Context, *(a.cuda() for a in arrays))
    for got, expected in zip(gpu, cpu):
        assert got.device.type == "cuda"
        assert_close(got, expected, 1e-10)
