"""Static kernels: the kernel ``kappa`` on points that a signature kernel lifts to paths.

With a static kernel the signature-kernel PDE is driven by the double
increments of ``kappa`` along the two paths instead of the inner products
of their increments::

    delta[b, s, t] = kappa(x_{s+1}, y_{t+1}) - kappa(x_s, y_{t+1})
                   - kappa(x_{s+1}, y_t) + kappa(x_s, y_t)

(``s < L1 - 1``, ``t < L2 - 1``). For the linear kernel this is exactly
``<x_{s+1} - x_s, y_{t+1} - y_t>``.

The interface is pysiglib's, so a static kernel written for pysiglib runs
unchanged in sigrs: a :class:`StaticKernel` is called as
``kernel(ctx, x, y)`` on a batch of paths ``x`` ``(B, L1, d)`` and ``y``
``(B, L2, d)`` and returns ``delta`` ``(B, L1 - 1, L2 - 1)``, keeping on the
:class:`Context` ``ctx`` what its gradient needs; ``grad_x(ctx, derivs)`` and
``grad_y(ctx, derivs)`` then turn ``dF/d(delta)`` into ``dF/dx`` and
``dF/dy``. sigrs hands a user's static kernel NumPy arrays when the
signature-kernel inputs are NumPy arrays and CPU tensors when they are
tensors.

The built-in kernels of this module are computed by the Rust core: inside
the signature-kernel solver (from the paths, without forming ``delta`` in
Python), and also when called directly, on NumPy arrays or torch tensors
(differentiable by autograd; CUDA tensors are computed on the CPU and the
results moved back, until the GPU backend has these kernels). Squared
distances are summed from the differences of the coordinates.

Example::

    >>> import numpy as np
    >>> from sigrs.static_kernels import Context, RBFKernel
    >>> x, y = np.random.rand(4, 10, 3), np.random.rand(4, 8, 3)
    >>> kernel, ctx = RBFKernel(sigma=0.5), Context()
    >>> delta = kernel(ctx, x, y)
    >>> delta.shape
    (4, 9, 7)
    >>> kernel.grad_x(ctx, np.ones_like(delta)).shape
    (4, 10, 3)
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from types import SimpleNamespace
from typing import Any, Optional

import numpy as np

from . import _native
from ._arrays import is_torch
from ._checks import check_real
from ._op_registry import BUILT, register
from ._options import StaticKernelOptions

__all__ = [
    "Context",
    "StaticKernel",
    "LinearKernel",
    "ScaledLinearKernel",
    "RBFKernel",
    "PolynomialKernel",
    "Matern12Kernel",
    "Matern32Kernel",
    "Matern52Kernel",
    "RationalQuadraticKernel",
]


class Context:
    """What a static kernel's forward pass keeps for its backward pass (pysiglib's ``Context``).

    sigrs creates one per call; build one yourself only to call a static
    kernel directly. ``saved_tensors`` holds what ``save_for_backward``
    stored, ``saved_for_y`` what ``save_for_grad_y`` stored (both empty tuples
    at first).

    Example::

        >>> ctx = sigrs.Context()
        >>> ctx.save_for_backward(1, 2)
        >>> ctx.saved_tensors
        (1, 2)
    """

    def __init__(self) -> None:
        self.saved_tensors: tuple = ()
        self.saved_for_y: tuple = ()

    def save_for_backward(self, *args: Any) -> None:
        """Keep objects from ``__call__`` for ``grad_x`` / ``grad_y`` (in ``saved_tensors``)."""
        self.saved_tensors = args

    def save_for_grad_y(self, *args: Any) -> None:
        """Keep objects computed by ``grad_x`` for ``grad_y`` to re-use (in ``saved_for_y``)."""
        self.saved_for_y = args


class StaticKernel(ABC):
    """Base class of static kernels (pysiglib's contract).

    A subclass implements three methods:

    * ``__call__(ctx, x, y)``: ``x`` ``(B, L1, d)`` and ``y`` ``(B, L2, d)``, both
      NumPy arrays or both torch tensors, the same ``B`` and ``d``. Returns
      the double increments of ``kappa``, ``(B, L1 - 1, L2 - 1)``::

          delta[b, s, t] = kappa(x[b, s+1], y[b, t+1]) - kappa(x[b, s], y[b, t+1])
                         - kappa(x[b, s+1], y[b, t]) + kappa(x[b, s], y[b, t])

      and stores on ``ctx`` (a :class:`Context`) whatever the gradients need.
    * ``grad_x(ctx, derivs)``: ``derivs`` is ``dF/d(delta)``, ``(B, L1 - 1, L2 - 1)``;
      returns ``dF/dx``, ``(B, L1, d)``.
    * ``grad_y(ctx, derivs)``: the same ``derivs``; returns ``dF/dy``, ``(B, L2, d)``.

    sigrs calls ``grad_x`` and/or ``grad_y`` (in that order) after ``__call__``
    on the same context, with the same ``derivs`` object.

    Implementation hooks (class attributes):

    * ``native_spec`` is ``None`` here. The kernels of this module set it to
      ``(name, parameters)``, which tells the signature-kernel solver to
      compute the kernel itself, in the Rust core, inside the PDE, instead of
      calling it. Leave it ``None`` in your own kernels.
    * ``linear_scale`` is ``None`` here. The linear kernels set it to the
      factor ``c`` of ``kappa(x, y) = c <x, y>`` (for information; the
      solver reads ``native_spec``).
    * ``accepts_numpy`` is ``False`` here: like pysiglib's, a kernel is assumed
      to take torch tensors only, so a solver given NumPy paths should wrap
      them with ``torch.from_numpy`` (no copy) before calling it. The kernels
      of this module set it to ``True``; so may yours if they take NumPy arrays.

    Example (the linear kernel, written out)::

        >>> class MyLinear(sigrs.StaticKernel):
        ...     def __call__(self, ctx, x, y):
        ...         dx, dy = np.diff(x, axis=1), np.diff(y, axis=1)
        ...         ctx.save_for_backward(dx, dy)
        ...         return dx @ dy.transpose(0, 2, 1)
        ...     def grad_x(self, ctx, derivs):
        ...         dx, dy = ctx.saved_tensors
        ...         h = derivs @ dy
        ...         return np.pad(h, ((0, 0), (1, 0), (0, 0))) - np.pad(h, ((0, 0), (0, 1), (0, 0)))
        ...     def grad_y(self, ctx, derivs):
        ...         dx, dy = ctx.saved_tensors
        ...         h = derivs.transpose(0, 2, 1) @ dx
        ...         return np.pad(h, ((0, 0), (1, 0), (0, 0))) - np.pad(h, ((0, 0), (0, 1), (0, 0)))
        >>> x, y = np.random.rand(2, 6, 3), np.random.rand(2, 5, 3)
        >>> k = sigrs.sig_kernel(x, y, dyadic_order=1, static_kernel=MyLinear())
        >>> np.allclose(k, sigrs.sig_kernel(x, y, dyadic_order=1))
        True
    """

    native_spec: Optional[tuple] = None
    linear_scale: Optional[float] = None
    accepts_numpy: bool = False

    @abstractmethod
    def __call__(self, ctx: Context, x: Any, y: Any) -> Any:
        """Double increments of the kernel, ``(B, L1 - 1, L2 - 1)``, from ``x`` ``(B, L1, d)`` and ``y`` ``(B, L2, d)``."""

    @abstractmethod
    def grad_x(self, ctx: Context, derivs: Any) -> Any:
        """``dF/dx`` ``(B, L1, d)`` from ``derivs = dF/d(delta)`` ``(B, L1 - 1, L2 - 1)``."""

    @abstractmethod
    def grad_y(self, ctx: Context, derivs: Any) -> Any:
        """``dF/dy`` ``(B, L2, d)`` from ``derivs = dF/d(delta)`` ``(B, L1 - 1, L2 - 1)``."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self) -> dict:
        return {}


# --- argument checks ---------------------------------------------------------------


def _real(value: Any, kernel: str, name: str) -> float:
    """``value`` as a finite float, or TypeError/ValueError naming ``kernel`` and ``name``."""
    return check_real(value, f"{kernel}: {name}")


def _positive(value: Any, kernel: str, name: str) -> float:
    value = _real(value, kernel, name)
    if not value > 0:
        raise ValueError(f"{kernel}: {name} must be > 0, got {value}")
    return value


def _non_negative(value: Any, kernel: str, name: str) -> float:
    value = _real(value, kernel, name)
    if not value >= 0:
        raise ValueError(f"{kernel}: {name} must be >= 0, got {value}")
    return value


def _check_kernel_inputs(kernel: StaticKernel, x: Any, y: Any) -> None:
    """``x`` (B, L1, d) and ``y`` (B, L2, d): both arrays or both tensors, floating, one dtype."""
    name = type(kernel).__name__
    torch_x, torch_y = is_torch(x), is_torch(y)
    for arg, value, is_t in (("x", x, torch_x), ("y", y, torch_y)):
        if not (is_t or isinstance(value, np.ndarray)):
            raise TypeError(f"{name}: {arg} must be a NumPy array or a torch tensor, got {type(value).__name__}")
    if torch_x != torch_y:
        raise TypeError(
            f"{name}: x and y must both be NumPy arrays or both torch tensors, got "
            f"{type(x).__name__} and {type(y).__name__}"
        )
    floating = x.is_floating_point() if torch_x else x.dtype.kind == "f"
    if not floating:
        raise TypeError(f"{name}: x must have a floating dtype (float32 or float64), got {x.dtype}")
    if x.dtype != y.dtype:
        raise TypeError(f"{name}: x and y must have the same dtype, got {x.dtype} and {y.dtype}")
    if x.ndim != 3 or y.ndim != 3:
        raise ValueError(
            f"{name}: x and y must be batches of paths (batch, length, dim), got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(
            f"{name}: x (B, L1, d) and y (B, L2, d) must have the same batch size and dimension, got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )


def _check_derivs(kernel: StaticKernel, derivs: Any, length1: int, length2: int, batch: int) -> None:
    expected = (batch, length1 - 1, length2 - 1)
    if tuple(derivs.shape) != expected:
        raise ValueError(
            f"{type(kernel).__name__}: derivs must have the shape of the double increments {expected}, "
            f"got {tuple(derivs.shape)}"
        )


# --- the built-in kernels: computed by the core ----------------------------------------


class _BuiltinKernel(StaticKernel):
    """A kernel the Rust core computes: ``_name`` is the core's name for it and
    ``_native_params`` its parameters in the core's order."""

    accepts_numpy = True
    _name = ""

    @abstractmethod
    def _native_params(self) -> tuple:
        """The parameters, in the core's order."""

    @property
    def native_spec(self) -> Optional[tuple]:
        """Implementation hook: ``(name, parameters)`` by which the signature-kernel
        solver computes this kernel itself, from the paths, instead of calling it.
        ``None`` in a subclass that overrides ``__call__``, ``grad_x`` or ``grad_y``:
        its own maths must run."""
        cls = type(self)
        if all(getattr(cls, m) is getattr(_BuiltinKernel, m) for m in ("__call__", "grad_x", "grad_y")):
            return self._name, self._native_params()
        return None

    def _options(self) -> StaticKernelOptions:
        return StaticKernelOptions(self._name, tuple(self._native_params()))

    def __call__(self, ctx: Context, x: Any, y: Any) -> Any:
        _check_kernel_inputs(self, x, y)
        ctx.save_for_backward(x, y)
        if is_torch(x):
            delta, clamped = _ops().static_kernel_deltas(x, y, self._options())
            if self._may_clamp():
                self._warn_if_clamped(bool(clamped))
            return delta
        delta, clamped = _deltas_cpu(np.ascontiguousarray(x), np.ascontiguousarray(y), self._options())
        self._warn_if_clamped(bool(clamped))
        return delta

    def grad_x(self, ctx: Context, derivs: Any) -> Any:
        return self._grad(ctx, derivs, 0)

    def grad_y(self, ctx: Context, derivs: Any) -> Any:
        return self._grad(ctx, derivs, 1)

    def _grad(self, ctx: Context, derivs: Any, side: int) -> Any:
        x, y = ctx.saved_tensors[:2]
        _check_derivs(self, derivs, x.shape[1], y.shape[1], x.shape[0])
        opts = self._options()
        if is_torch(x):
            return _ops().static_kernel_backprop(x.detach(), y.detach(), derivs.detach(), opts)[side]
        grads = _backprop_cpu(np.ascontiguousarray(x), np.ascontiguousarray(y), np.ascontiguousarray(derivs, dtype=x.dtype), opts)
        return grads[side]

    def _may_clamp(self) -> bool:
        return False

    def _warn_if_clamped(self, clamped: bool) -> None:
        pass


def _deltas_cpu(x: np.ndarray, y: np.ndarray, opts: StaticKernelOptions) -> tuple:
    """``(delta (B, L1 - 1, L2 - 1), whether a base was clamped)``."""
    b, l1, l2 = x.shape[0], x.shape[1], y.shape[1]
    out = np.empty((b, max(l1 - 1, 0), max(l2 - 1, 0)), dtype=x.dtype)
    clamped = _native.static_kernel_deltas(x, y, out, opts)
    return out, np.asarray(clamped)


def _backprop_cpu(x: np.ndarray, y: np.ndarray, derivs: np.ndarray, opts: StaticKernelOptions) -> tuple:
    gx, gy = np.empty_like(x), np.empty_like(y)
    _native.static_kernel_backprop(x, y, derivs, gx, gy, opts)
    return gx, gy


# --- the torch ops of direct calls ----------------------------------------------------


def _deltas_fake(x: Any, y: Any, opts: StaticKernelOptions) -> tuple:
    import torch

    b, l1, l2 = x.shape[0], x.shape[1], y.shape[1]
    return x.new_empty((b, max(l1 - 1, 0), max(l2 - 1, 0))), x.new_empty((), dtype=torch.bool)


def _deltas_backward(saved: tuple, grads: tuple, opts: StaticKernelOptions, needs: tuple) -> tuple:
    x, y = saved
    return _ops().static_kernel_backprop(x, y, grads[0].contiguous(), opts)


def _ops() -> SimpleNamespace:
    """This family's torch ops, built once torch is in use (see :mod:`sigrs._op_registry`)."""
    import sigrs._torch_ops  # noqa: F401  (its first import builds them)

    return BUILT[__name__]


def _define_ops() -> SimpleNamespace:
    from ._torch_ops import define, on_cpu_tensors

    return SimpleNamespace(
        static_kernel_deltas=define(
            "static_kernel_deltas", inputs=("x", "y"), options=StaticKernelOptions,
            impl=on_cpu_tensors(_deltas_cpu, host=True),
            fake=_deltas_fake, outputs=2, backward=_deltas_backward,
        ),
        static_kernel_backprop=define(
            "static_kernel_backprop", inputs=("x", "y", "derivs"), options=StaticKernelOptions,
            impl=on_cpu_tensors(_backprop_cpu, host=True),
            fake=lambda x, y, d, opts: (x.new_empty(x.shape), y.new_empty(y.shape)), outputs=2,
        ),
    )


# --- the linear kernels -------------------------------------------------------------------


class _IncrementKernel(_BuiltinKernel):
    """``kappa(x, y) = c <x, y>``: double increments are ``c`` times the inner products of the
    increments. The base of :class:`LinearKernel` and :class:`ScaledLinearKernel` (which, as in
    pysiglib, are not subclasses of each other)."""

    _name = "linear"

    @abstractmethod
    def _factor(self) -> float:
        """The factor ``c``."""

    def _native_params(self) -> tuple:
        return (self._factor(),)

    @property
    def linear_scale(self) -> Optional[float]:  # type: ignore[override]
        """Implementation hook: the factor ``c`` of ``kappa(x, y) = c <x, y>`` (1.0 for
        :class:`LinearKernel`, ``scale**2`` for :class:`ScaledLinearKernel`). ``None``
        in a subclass that overrides ``__call__``, ``grad_x`` or ``grad_y``."""
        return None if self.native_spec is None else self._factor()


class LinearKernel(_IncrementKernel):
    """The linear kernel ``kappa(x, y) = <x, y>`` (the default of every signature kernel).

    Its double increments are the inner products of the increments,
    ``delta[b, s, t] = <x[b, s+1] - x[b, s], y[b, t+1] - y[b, t]>``. sigrs
    does not call it inside :func:`sigrs.sig_kernel`: the solver forms these
    inner products itself (see ``linear_scale``).

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> sigrs.LinearKernel()(sigrs.Context(), x, y).shape
        (2, 4, 3)
    """

    def _factor(self) -> float:
        return 1.0


class ScaledLinearKernel(_IncrementKernel):
    """The scaled linear kernel ``kappa(x, y) = <a x, a y> = a^2 <x, y>``, ``a = scale``.

    Args:
        scale: ``a >= 0`` (default 1.0, the linear kernel).

    Like :class:`LinearKernel`, fused into the solver (``linear_scale = scale**2``).

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> d = sigrs.ScaledLinearKernel(2.0)(sigrs.Context(), x, y)
        >>> np.allclose(d, 4 * sigrs.LinearKernel()(sigrs.Context(), x, y))
        True
    """

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = _non_negative(scale, "ScaledLinearKernel", "scale")

    def _factor(self) -> float:
        return self.scale * self.scale

    def _params(self) -> dict:
        return {"scale": self.scale}


# --- kernels of the points (not only their increments) -------------------------------------


class RBFKernel(_BuiltinKernel):
    """The RBF kernel ``kappa(x, y) = exp(-|x - y|^2 / sigma)`` (pysiglib's form: ``sigma``, not ``2 sigma^2``).

    Args:
        sigma: ``> 0``.

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> sigrs.RBFKernel(0.5)(sigrs.Context(), x, y).shape
        (2, 4, 3)
    """

    _name = "rbf"

    def __init__(self, sigma: float) -> None:
        self.sigma = _positive(sigma, "RBFKernel", "sigma")

    def _params(self) -> dict:
        return {"sigma": self.sigma}

    def _native_params(self) -> tuple:
        return (self.sigma,)


class Matern12Kernel(_BuiltinKernel):
    """The Matern-1/2 (exponential) kernel ``kappa(x, y) = exp(-|x - y| / sigma)``.

    Args:
        sigma: ``> 0``.

    ``|x - y|`` is computed as ``sqrt(|x - y|^2 + 1e-30)`` (pysiglib's
    regularisation), so the gradient stays finite where points coincide.

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> sigrs.Matern12Kernel(0.5)(sigrs.Context(), x, y).shape
        (2, 4, 3)
    """

    _name = "matern12"

    def __init__(self, sigma: float) -> None:
        self.sigma = _positive(sigma, "Matern12Kernel", "sigma")

    def _params(self) -> dict:
        return {"sigma": self.sigma}

    def _native_params(self) -> tuple:
        return (self.sigma,)


class Matern32Kernel(_BuiltinKernel):
    """The Matern-3/2 kernel ``kappa(x, y) = (1 + u) exp(-u)``, ``u = sqrt(3) |x - y| / sigma``.

    Args:
        sigma: ``> 0``.

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> sigrs.Matern32Kernel(0.5)(sigrs.Context(), x, y).shape
        (2, 4, 3)
    """

    _name = "matern32"

    def __init__(self, sigma: float) -> None:
        self.sigma = _positive(sigma, "Matern32Kernel", "sigma")

    def _params(self) -> dict:
        return {"sigma": self.sigma}

    def _native_params(self) -> tuple:
        return (self.sigma,)


class Matern52Kernel(_BuiltinKernel):
    """The Matern-5/2 kernel ``kappa(x, y) = (1 + u + u^2 / 3) exp(-u)``, ``u = sqrt(5) |x - y| / sigma``.

    Args:
        sigma: ``> 0``.

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> sigrs.Matern52Kernel(0.5)(sigrs.Context(), x, y).shape
        (2, 4, 3)
    """

    _name = "matern52"

    def __init__(self, sigma: float) -> None:
        self.sigma = _positive(sigma, "Matern52Kernel", "sigma")

    def _params(self) -> dict:
        return {"sigma": self.sigma}

    def _native_params(self) -> tuple:
        return (self.sigma,)


class RationalQuadraticKernel(_BuiltinKernel):
    """The rational quadratic kernel ``kappa(x, y) = (1 + |x - y|^2 / (2 alpha sigma^2))^(-alpha)``.

    Args:
        sigma: ``> 0``.
        alpha: ``> 0`` (default 1.0).

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> sigrs.RationalQuadraticKernel(0.5, alpha=2.0)(sigrs.Context(), x, y).shape
        (2, 4, 3)
    """

    _name = "rational_quadratic"

    def __init__(self, sigma: float, alpha: float = 1.0) -> None:
        self.sigma = _positive(sigma, "RationalQuadraticKernel", "sigma")
        self.alpha = _positive(alpha, "RationalQuadraticKernel", "alpha")

    def _params(self) -> dict:
        return {"sigma": self.sigma, "alpha": self.alpha}

    def _native_params(self) -> tuple:
        return (self.sigma, self.alpha)


class PolynomialKernel(_BuiltinKernel):
    """The polynomial kernel ``kappa(x, y) = scale * (<x, y> + gamma)^degree``.

    Args:
        degree: ``>= 0`` (default 3.0). A non-integer degree needs
            ``<x, y> + gamma >= 0``; negative bases are clamped to 0, with a
            RuntimeWarning (once per kernel object).
        gamma: the offset (default 1.0).
        scale: ``>= 0`` (default 1.0).

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> sigrs.PolynomialKernel(degree=2.0, gamma=0.5)(sigrs.Context(), x, y).shape
        (2, 4, 3)
    """

    _name = "polynomial"

    def __init__(self, degree: float = 3.0, gamma: float = 1.0, scale: float = 1.0) -> None:
        self.degree = _non_negative(degree, "PolynomialKernel", "degree")
        self.gamma = _real(gamma, "PolynomialKernel", "gamma")
        self.scale = _non_negative(scale, "PolynomialKernel", "scale")
        self._warned_negative_base = False

    def _params(self) -> dict:
        return {"degree": self.degree, "gamma": self.gamma, "scale": self.scale}

    def _native_params(self) -> tuple:
        return (self.degree, self.gamma, self.scale)

    def _may_clamp(self) -> bool:
        return self.degree != int(self.degree) and not self._warned_negative_base

    def _warn_if_clamped(self, clamped: bool) -> None:
        if clamped and not self._warned_negative_base:
            self._warned_negative_base = True
            warnings.warn(
                f"PolynomialKernel: <x, y> + gamma < 0 for some points with the non-integer degree {self.degree}; "
                "those bases are clamped to 0 (raise gamma so that every base is non-negative)",
                RuntimeWarning,
                stacklevel=3,
            )


register(__name__, _define_ops)
