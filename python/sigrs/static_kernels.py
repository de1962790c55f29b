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
``dF/dy``. The kernels here accept NumPy arrays (computed with NumPy) and
torch tensors (computed with torch, on any device, and differentiable by
autograd when called directly). sigrs hands a static kernel NumPy arrays
when the signature-kernel inputs are NumPy arrays and CPU tensors when they
are tensors.

Pairwise squared distances are formed as ``|x|^2 - 2 <x, y> + |y|^2``
(clamped at 0), like pysiglib: one ``(B, L1, L2)`` matrix product, never a
``(B, L1, L2, d)`` array of differences.

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

import math
import numbers
import operator
import warnings
from abc import ABC, abstractmethod
from typing import Any, Optional

import numpy as np

from ._checks import is_torch

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

        >>> ctx = Context()
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

    * ``linear_scale`` is ``None`` here. The linear kernels set it to the
      factor ``c`` of ``kappa(x, y) = c <x, y>``, which tells the
      signature-kernel solver to form ``delta`` itself, fused into the PDE,
      instead of calling the kernel. Leave it ``None`` in your own kernels.
    * ``accepts_numpy`` is ``False`` here: like pysiglib's, a kernel is assumed
      to take torch tensors only, so a solver given NumPy paths should wrap
      them with ``torch.from_numpy`` (no copy) before calling it. The kernels
      of this module set it to ``True``; so may yours if they take NumPy arrays.

    Example (the linear kernel, written out)::

        >>> class MyLinear(StaticKernel):
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
    """

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
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{kernel}: {name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{kernel}: {name} must be finite, got {value}")
    return value


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


def _check_paths(kernel: StaticKernel, x: Any, y: Any) -> None:
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


# --- NumPy / torch helpers ------------------------------------------------------------
# Every array below is (B, L1, L2) or (B, L, d). "inplace" means the result of
# the previous step may be overwritten: always for NumPy, and for torch unless
# autograd records the computation (in-place ops would corrupt what it saved).


def _inplace(*arrays: Any) -> bool:
    if not is_torch(arrays[0]):
        return True
    import torch

    return not (torch.is_grad_enabled() and any(a.requires_grad for a in arrays))


def _mT(a: Any) -> Any:
    """The last two axes swapped (a view)."""
    return a.transpose(-1, -2) if is_torch(a) else a.swapaxes(-1, -2)


def _sum(a: Any, axis: int) -> Any:
    """Sum over ``axis``, kept as a length-1 axis."""
    return a.sum(dim=axis, keepdim=True) if is_torch(a) else a.sum(axis=axis, keepdims=True)


def _diff(a: Any, axis: int) -> Any:
    return a.diff(dim=axis) if is_torch(a) else np.diff(a, axis=axis)


def _double_diff(k: Any) -> Any:
    """``k[:, s+1, t+1] - k[:, s, t+1] - k[:, s+1, t] + k[:, s, t]``, as pysiglib forms it
    (the first differences of nearby values are exact, so little is lost to cancellation)."""
    return _diff(_diff(k, 1), 2)


def _exp(a: Any, inplace: bool) -> Any:
    if is_torch(a):
        return a.exp_() if inplace else a.exp()
    return np.exp(a, out=a) if inplace else np.exp(a)


def _sqrt(a: Any, inplace: bool) -> Any:
    if is_torch(a):
        return a.sqrt_() if inplace else a.sqrt()
    return np.sqrt(a, out=a) if inplace else np.sqrt(a)


def _clamp_min(a: Any, low: float, inplace: bool) -> Any:
    if is_torch(a):
        return a.clamp_(min=low) if inplace else a.clamp(min=low)
    return np.maximum(a, low, out=a) if inplace else np.maximum(a, low)


def _ops(inplace: bool):
    """(add, sub, mul, div): in-place operators when allowed."""
    if inplace:
        return operator.iadd, operator.isub, operator.imul, operator.itruediv
    return operator.add, operator.sub, operator.mul, operator.truediv


def _zeros(like: Any, shape: tuple) -> Any:
    if is_torch(like):
        return like.new_zeros(shape)
    return np.zeros(shape, dtype=like.dtype)


def _squared_distances(x: Any, y: Any, inplace: bool) -> Any:
    """``|x_s - y_t|^2`` ``(B, L1, L2)`` as ``|x_s|^2 - 2 <x_s, y_t> + |y_t|^2``, clamped at 0."""
    add, _, mul, _ = _ops(inplace)
    x2 = _sum(x * x, 2)  # (B, L1, 1)
    y2 = _mT(_sum(y * y, 2))  # (B, 1, L2)
    d2 = mul(x @ _mT(y), -2.0)
    d2 = add(add(d2, x2), y2)
    return _clamp_min(d2, 0.0, inplace)


def _adjoint_double_diff(derivs: Any, like: Any) -> Any:
    """The adjoint of :func:`_double_diff`: ``(B, L1 - 1, L2 - 1)`` to ``(B, L1, L2)``."""
    b, n1, n2 = derivs.shape
    w = _zeros(like, (b, n1 + 1, n2 + 1))
    w[:, 1:, 1:] = derivs
    w[:, :-1, :-1] += derivs
    w[:, 1:, :-1] -= derivs
    w[:, :-1, 1:] -= derivs
    return w


def _adjoint_diff(h: Any) -> Any:
    """The adjoint of the first difference along axis 1: ``(B, n, d)`` to ``(B, n + 1, d)``,
    ``g[s] = h[s - 1] - h[s]`` (with ``h[-1] = h[n] = 0``)."""
    b, n, d = h.shape
    g = _zeros(h, (b, n + 1, d))
    g[:, 1:] += h
    g[:, :-1] -= h
    return g


# --- the linear kernels -------------------------------------------------------------------


class _IncrementKernel(StaticKernel):
    """``kappa(x, y) = c <x, y>``: double increments are ``c`` times the inner products of the
    increments. The base of :class:`LinearKernel` and :class:`ScaledLinearKernel` (which, as in
    pysiglib, are not subclasses of each other)."""

    accepts_numpy = True

    @abstractmethod
    def _factor(self) -> float:
        """The factor ``c``."""

    @property
    def linear_scale(self) -> Optional[float]:  # type: ignore[override]
        """Implementation hook: the factor ``c`` of ``kappa(x, y) = c <x, y>`` (1.0 for
        :class:`LinearKernel`, ``scale**2`` for :class:`ScaledLinearKernel`), which the
        signature-kernel solver multiplies into the inner products of increments it forms
        itself instead of calling the kernel. ``None`` in a subclass that overrides
        ``__call__``, ``grad_x`` or ``grad_y``: its own maths must run."""
        cls = type(self)
        if all(getattr(cls, m) is getattr(_IncrementKernel, m) for m in ("__call__", "grad_x", "grad_y")):
            return self._factor()
        return None

    def __call__(self, ctx: Context, x: Any, y: Any) -> Any:
        _check_paths(self, x, y)
        c = self._factor()
        dx, dy = _diff(x, 1), _diff(y, 1)
        if c != 1.0:
            _, _, mul, _ = _ops(_inplace(dx))
            dx = mul(dx, c)
        ctx.save_for_backward(dx, dy)
        return dx @ _mT(dy)

    def grad_x(self, ctx: Context, derivs: Any) -> Any:
        dx, dy = ctx.saved_tensors
        _check_derivs(self, derivs, dx.shape[1] + 1, dy.shape[1] + 1, dx.shape[0])
        h = derivs @ dy  # dF/d(dx), up to the factor c
        c = self._factor()
        if c != 1.0:
            _, _, mul, _ = _ops(_inplace(h))
            h = mul(h, c)
        return _adjoint_diff(h)

    def grad_y(self, ctx: Context, derivs: Any) -> Any:
        dx, dy = ctx.saved_tensors  # dx carries the factor c
        _check_derivs(self, derivs, dx.shape[1] + 1, dy.shape[1] + 1, dx.shape[0])
        return _adjoint_diff(_mT(derivs) @ dx)


class LinearKernel(_IncrementKernel):
    """The linear kernel ``kappa(x, y) = <x, y>`` (the default of every signature kernel).

    Its double increments are the inner products of the increments,
    ``delta[b, s, t] = <x[b, s+1] - x[b, s], y[b, t+1] - y[b, t]>``. sigrs
    does not call it inside :func:`sigrs.sig_kernel`: the solver forms these
    inner products itself (see ``linear_scale``).

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> LinearKernel()(Context(), x, y).shape
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
        >>> d = ScaledLinearKernel(2.0)(Context(), x, y)
        >>> np.allclose(d, 4 * LinearKernel()(Context(), x, y))
        True
    """

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = _non_negative(scale, "ScaledLinearKernel", "scale")

    def _factor(self) -> float:
        return self.scale * self.scale

    def _params(self) -> dict:
        return {"scale": self.scale}


# --- kernels of the points (not only their increments) -------------------------------------


class _PointKernel(StaticKernel):
    """Kernels whose gradient in ``x_s`` is ``sum_t w[s, t] (y_t - x_s)`` (radial kernels) or
    ``sum_t w[s, t] y_t`` (the polynomial kernel), with ``w = adjoint(derivs) * factor``.

    Subclasses implement ``_values(ctx, x, y, inplace)`` (the kernel matrix
    ``(B, L1, L2)``, saving ``x``, ``y`` and what ``_chain`` needs on ``ctx``)
    and ``_chain(w, inplace, *saved)`` (``w`` times the derivative factor).
    ``inplace``: intermediate results may be overwritten (see :func:`_inplace`).
    """

    _radial = True
    accepts_numpy = True

    def __call__(self, ctx: Context, x: Any, y: Any) -> Any:
        _check_paths(self, x, y)
        ctx.saved_for_y = ()
        return _double_diff(self._values(ctx, x, y, _inplace(x, y)))

    @abstractmethod
    def _values(self, ctx: Context, x: Any, y: Any, inplace: bool) -> Any:
        """``kappa(x_s, y_t)`` for all pairs of points, saving what ``_chain`` needs on ``ctx``."""

    @abstractmethod
    def _chain(self, w: Any, inplace: bool, *saved: Any) -> Any:
        """The per-pair gradient weights: ``w`` times the kernel's derivative factor, from what ``_values`` saved."""

    def _weights(self, ctx: Context, derivs: Any) -> tuple:
        """``(x, y, w)``; ``w`` is computed once for ``grad_x`` and ``grad_y`` with the same ``derivs``."""
        x, y, *saved = ctx.saved_tensors
        cached = ctx.saved_for_y
        if len(cached) == 2 and cached[0] is derivs:
            ctx.saved_for_y = ()  # used by both sides: free it
            return x, y, cached[1]
        _check_derivs(self, derivs, x.shape[1], y.shape[1], x.shape[0])
        w = _adjoint_double_diff(derivs, saved[0])
        w = self._chain(w, _inplace(w, *saved), *saved)
        ctx.save_for_grad_y(derivs, w)
        return x, y, w

    def grad_x(self, ctx: Context, derivs: Any) -> Any:
        x, y, w = self._weights(ctx, derivs)
        g = w @ y
        if self._radial:
            g = g - x * _sum(w, 2)
        return g

    def grad_y(self, ctx: Context, derivs: Any) -> Any:
        x, y, w = self._weights(ctx, derivs)
        g = _mT(w) @ x
        if self._radial:
            g = g - y * _mT(_sum(w, 1))
        return g


class RBFKernel(_PointKernel):
    """The RBF kernel ``kappa(x, y) = exp(-|x - y|^2 / sigma)`` (pysiglib's form: ``sigma``, not ``2 sigma^2``).

    Args:
        sigma: ``> 0``.

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> RBFKernel(0.5)(Context(), x, y).shape
        (2, 4, 3)
    """

    def __init__(self, sigma: float) -> None:
        self.sigma = _positive(sigma, "RBFKernel", "sigma")

    def _params(self) -> dict:
        return {"sigma": self.sigma}

    def _values(self, ctx, x, y, inplace):
        _, _, mul, _ = _ops(inplace)
        k = _exp(mul(_squared_distances(x, y, inplace), -1.0 / self.sigma), inplace)
        ctx.save_for_backward(x, y, k)
        return k

    def _chain(self, w, inplace, k):
        # d kappa / d x = (2 / sigma) kappa (y - x)
        _, _, mul, _ = _ops(inplace)
        return mul(mul(w, k), 2.0 / self.sigma)


class Matern12Kernel(_PointKernel):
    """The Matern-1/2 (exponential) kernel ``kappa(x, y) = exp(-|x - y| / sigma)``.

    Args:
        sigma: ``> 0``.

    ``|x - y|`` is computed as ``sqrt(|x - y|^2 + 1e-30)`` (pysiglib's
    regularisation), so the gradient stays finite where points coincide.

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> Matern12Kernel(0.5)(Context(), x, y).shape
        (2, 4, 3)
    """

    def __init__(self, sigma: float) -> None:
        self.sigma = _positive(sigma, "Matern12Kernel", "sigma")

    def _params(self) -> dict:
        return {"sigma": self.sigma}

    def _values(self, ctx, x, y, inplace):
        add, _, mul, _ = _ops(inplace)
        dist = _sqrt(add(_squared_distances(x, y, inplace), 1e-30), inplace)
        ctx.save_for_backward(x, y, dist)
        return _exp(dist * (-1.0 / self.sigma), inplace)

    def _chain(self, w, inplace, dist):
        # d kappa / d x = kappa / (sigma r) (y - x); r >= 1e-15 by the regularisation
        _, _, mul, div = _ops(inplace)
        factor = div(_exp(dist * (-1.0 / self.sigma), inplace), dist)
        return mul(mul(w, factor), 1.0 / self.sigma)


class Matern32Kernel(_PointKernel):
    """The Matern-3/2 kernel ``kappa(x, y) = (1 + u) exp(-u)``, ``u = sqrt(3) |x - y| / sigma``.

    Args:
        sigma: ``> 0``.

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> Matern32Kernel(0.5)(Context(), x, y).shape
        (2, 4, 3)
    """

    def __init__(self, sigma: float) -> None:
        self.sigma = _positive(sigma, "Matern32Kernel", "sigma")

    def _params(self) -> dict:
        return {"sigma": self.sigma}

    def _values(self, ctx, x, y, inplace):
        add, _, mul, _ = _ops(inplace)
        u = mul(_sqrt(add(_squared_distances(x, y, inplace), 1e-30), inplace), math.sqrt(3.0) / self.sigma)
        e = _exp(u * -1.0, inplace)
        ctx.save_for_backward(x, y, e)
        return mul(add(u, 1.0), e)

    def _chain(self, w, inplace, e):
        # d kappa / d x = (3 / sigma^2) exp(-u) (y - x)
        _, _, mul, _ = _ops(inplace)
        return mul(mul(w, e), 3.0 / (self.sigma * self.sigma))


class Matern52Kernel(_PointKernel):
    """The Matern-5/2 kernel ``kappa(x, y) = (1 + u + u^2 / 3) exp(-u)``, ``u = sqrt(5) |x - y| / sigma``.

    Args:
        sigma: ``> 0``.

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> Matern52Kernel(0.5)(Context(), x, y).shape
        (2, 4, 3)
    """

    def __init__(self, sigma: float) -> None:
        self.sigma = _positive(sigma, "Matern52Kernel", "sigma")

    def _params(self) -> dict:
        return {"sigma": self.sigma}

    def _values(self, ctx, x, y, inplace):
        add, _, mul, _ = _ops(inplace)
        u = mul(_sqrt(add(_squared_distances(x, y, inplace), 1e-30), inplace), math.sqrt(5.0) / self.sigma)
        e = _exp(u * -1.0, inplace)
        # kappa = (1 + u) e + (u^2 / 3) e; only g = (1 + u) e is kept for the gradient
        g = mul(u + 1.0, e)
        k = add(mul(mul(mul(u, u), e), 1.0 / 3.0), g)
        ctx.save_for_backward(x, y, g)
        return k

    def _chain(self, w, inplace, g):
        # d kappa / d x = (5 / (3 sigma^2)) (1 + u) exp(-u) (y - x)
        _, _, mul, _ = _ops(inplace)
        return mul(mul(w, g), 5.0 / (3.0 * self.sigma * self.sigma))


class RationalQuadraticKernel(_PointKernel):
    """The rational quadratic kernel ``kappa(x, y) = (1 + |x - y|^2 / (2 alpha sigma^2))^(-alpha)``.

    Args:
        sigma: ``> 0``.
        alpha: ``> 0`` (default 1.0).

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> RationalQuadraticKernel(0.5, alpha=2.0)(Context(), x, y).shape
        (2, 4, 3)
    """

    def __init__(self, sigma: float, alpha: float = 1.0) -> None:
        self.sigma = _positive(sigma, "RationalQuadraticKernel", "sigma")
        self.alpha = _positive(alpha, "RationalQuadraticKernel", "alpha")

    def _params(self) -> dict:
        return {"sigma": self.sigma, "alpha": self.alpha}

    def _values(self, ctx, x, y, inplace):
        add, _, mul, div = _ops(inplace)
        base = add(mul(_squared_distances(x, y, inplace), 1.0 / (2.0 * self.alpha * self.sigma ** 2)), 1.0)
        k = base ** (-self.alpha)
        ctx.save_for_backward(x, y, k / base)
        return k

    def _chain(self, w, inplace, k_over_base):
        # d kappa / d x = (kappa / base) / sigma^2 (y - x)
        _, _, mul, _ = _ops(inplace)
        return mul(mul(w, k_over_base), 1.0 / (self.sigma * self.sigma))


def _int_power(base: Any, n: int) -> Any:
    """``base ** n`` for an integer ``n >= 0`` (products for small ``n``, as pysiglib)."""
    if n == 0:
        return base.new_ones(base.shape) if is_torch(base) else np.ones_like(base)
    if n == 1:
        return base
    if n == 2:
        return base * base
    if n == 3:
        return base * base * base
    if n == 4:
        b2 = base * base
        return b2 * b2
    return base ** float(n)


class PolynomialKernel(_PointKernel):
    """The polynomial kernel ``kappa(x, y) = scale * (<x, y> + gamma)^degree``.

    Args:
        degree: ``>= 0`` (default 3.0). A non-integer degree needs
            ``<x, y> + gamma >= 0``; negative bases are clamped to 0, with a
            RuntimeWarning (once per kernel object).
        gamma: the offset (default 1.0).
        scale: ``>= 0`` (default 1.0).

    Example::

        >>> x, y = np.random.rand(2, 5, 3), np.random.rand(2, 4, 3)
        >>> PolynomialKernel(degree=2.0, gamma=0.5)(Context(), x, y).shape
        (2, 4, 3)
    """

    _radial = False

    def __init__(self, degree: float = 3.0, gamma: float = 1.0, scale: float = 1.0) -> None:
        self.degree = _non_negative(degree, "PolynomialKernel", "degree")
        self.gamma = _real(gamma, "PolynomialKernel", "gamma")
        self.scale = _non_negative(scale, "PolynomialKernel", "scale")
        self._warned_negative_base = False

    def _params(self) -> dict:
        return {"degree": self.degree, "gamma": self.gamma, "scale": self.scale}

    def _integer_degree(self) -> bool:
        return self.degree == int(self.degree)

    def _power(self, base: Any, exponent: float) -> Any:
        if exponent == int(exponent) and exponent >= 0:
            return _int_power(base, int(exponent))
        return base ** exponent

    def _values(self, ctx, x, y, inplace):
        add, _, mul, _ = _ops(inplace)
        base = add(x @ _mT(y), self.gamma)
        if not self._integer_degree():
            if not self._warned_negative_base and bool((base < 0).any()):
                self._warned_negative_base = True
                warnings.warn(
                    f"PolynomialKernel: <x, y> + gamma < 0 for some points with the non-integer degree {self.degree}; "
                    "those bases are clamped to 0 (raise gamma so that every base is non-negative)",
                    RuntimeWarning,
                    stacklevel=3,
                )
            base = _clamp_min(base, 0.0, inplace)
        ctx.save_for_backward(x, y, base)
        k = self._power(base, self.degree)
        # (degree 1: k is the saved base, so never scale it in place)
        return k * self.scale if k is base else mul(k, self.scale)

    def _chain(self, w, inplace, base):
        # d kappa / d x = scale * degree * base^(degree - 1) y
        _, _, mul, _ = _ops(inplace)
        if self.degree == 0:
            return mul(w, 0.0)
        factor = self._power(base, self.degree - 1.0)
        if not self._integer_degree():
            # clamped bases: the derivative of the clamp is 0 there
            factor = _where_positive(base, factor)
        return mul(mul(w, factor), self.scale * self.degree)


def _where_positive(base: Any, values: Any) -> Any:
    """``values`` where ``base > 0``, else 0."""
    if is_torch(base):
        import torch

        return torch.where(base > 0, values, torch.zeros_like(values))
    return np.where(base > 0, values, 0.0).astype(values.dtype, copy=False)
