"""Signature kernels ``k(x, y) = <S(x), S(y)>`` by the Goursat PDE (pysiglib's API).

The PDE is solved in the Rust core on a grid refined ``2^dyadic_order``
times per increment. The linear kernel (the default) and
:class:`~sigrs.static_kernels.ScaledLinearKernel` are fused into the solver:
the increments' inner products are formed per pair as the grid is solved.
Any other static kernel supplies the matrix of double increments, and its
``grad_x`` / ``grad_y`` carry gradients back to the paths.

Gram matrices are computed over chunks of pairs (``max_batch``), so memory
stays bounded whatever the number of pairs, and their gradients recompute
the PDE grids chunk by chunk instead of keeping them.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterator, Optional

import numpy as np

from . import _native
from ._checks import (
    as_array,
    batch_size,
    check_bool,
    check_end_time,
    check_int,
    check_n_jobs,
    check_tensor,
    empty_output,
    is_torch,
    native_for,
    same_kind,
)
from .transform import transform_path_array, transform_path_backprop_array, transformed_length

_LINEAR = (_native.sig_kernel_linear_f64, _native.sig_kernel_linear_f32)
_DELTA = (_native.sig_kernel_delta_f64, _native.sig_kernel_delta_f32)
_LINEAR_BACKPROP = (_native.sig_kernel_linear_backprop_f64, _native.sig_kernel_linear_backprop_f32)
_DELTA_BACKPROP = (_native.sig_kernel_delta_backprop_f64, _native.sig_kernel_delta_backprop_f32)

# Pairs per chunk of a Gram matrix when max_batch=-1: enough to keep every
# thread busy, bounded so the gathered paths stay within about 64 MB.
_AUTO_CHUNK_BYTES = 64 << 20


def grid_length(length: int, order: int) -> int:
    """Points of the refined PDE grid along a side of ``length`` points."""
    return 0 if length == 0 else ((length - 1) << order) + 1


def check_dyadic_order(dyadic_order: Any) -> tuple[int, int]:
    """``dyadic_order`` (an int or a pair of ints, each >= 0) as a pair."""
    if isinstance(dyadic_order, (tuple, list)):
        if len(dyadic_order) != 2:
            raise ValueError(f"dyadic_order must be an int or a pair of ints, got {dyadic_order!r} of length {len(dyadic_order)}")
        orders = tuple(check_int(o, "dyadic_order", minimum=0) for o in dyadic_order)
    elif dyadic_order is None:
        raise TypeError("dyadic_order is required (an int >= 0, or a pair for the two paths)")
    else:
        o = check_int(dyadic_order, "dyadic_order", minimum=0)
        orders = (o, o)
    if max(orders) > 20:
        raise ValueError(f"dyadic_order must be at most 20 (2^20 steps per increment), got {dyadic_order!r}")
    return orders  # type: ignore[return-value]


def _check_method(method: Any) -> None:
    if method != "finite_difference":
        raise ValueError(f"method must be 'finite_difference' (sigrs solves the PDE by finite differences only), got {method!r}")


def _linear_scale(static_kernel: Any) -> Optional[float]:
    """The scale of a (scaled) linear kernel, fused into the solver; None for any other kernel."""
    if static_kernel is None:
        return 1.0
    if not (callable(static_kernel) and hasattr(static_kernel, "grad_x") and hasattr(static_kernel, "grad_y")):
        raise TypeError(
            f"static_kernel must be a sigrs.StaticKernel (with __call__, grad_x and grad_y), got {type(static_kernel).__name__}"
        )
    scale = getattr(static_kernel, "linear_scale", None)
    return None if scale is None else float(scale)


class _Options:
    """Checked options shared by every kernel function."""

    def __init__(self, dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, method="finite_difference"):
        _check_method(method)
        self.orders = check_dyadic_order(dyadic_order)
        self.static_kernel = static_kernel
        self.scale = _linear_scale(static_kernel)
        self.time_aug = check_bool(time_aug, "time_aug")
        self.lead_lag = check_bool(lead_lag, "lead_lag")
        self.end_time = check_end_time(end_time)
        self.n_jobs = check_n_jobs(n_jobs)

    @property
    def transform(self) -> tuple[bool, bool, float]:
        return (self.time_aug, self.lead_lag, self.end_time)

    def grid_shape(self, length1: int, length2: int) -> tuple[int, int]:
        return (
            grid_length(transformed_length(length1, self.lead_lag), self.orders[0]),
            grid_length(transformed_length(length2, self.lead_lag), self.orders[1]),
        )

    def transformed(self, x: np.ndarray) -> np.ndarray:
        if not (self.time_aug or self.lead_lag):
            return x
        return transform_path_array(x, self.time_aug, self.lead_lag, self.end_time, self.n_jobs)

    # Whether static kernels see torch tensors (the caller's inputs were
    # tensors: kernels written for pysiglib take only those) or ndarrays.
    torch_kernel = False

    def kernel_input(self, a: np.ndarray) -> Any:
        # kernels written for pysiglib take only tensors (accepts_numpy False)
        if self.torch_kernel or not getattr(self.static_kernel, "accepts_numpy", False):
            import torch

            return torch.from_numpy(np.ascontiguousarray(a))
        return a

    def deltas(self, x: np.ndarray, y: np.ndarray):
        """The static kernel's double increments of the transformed pairs, and its context."""
        from .static_kernels import Context

        ctx = Context()
        delta = self.static_kernel(ctx, self.kernel_input(self.transformed(x)), self.kernel_input(self.transformed(y)))
        return np.ascontiguousarray(_to_numpy(delta), dtype=x.dtype), ctx


def _to_numpy(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if is_torch(a) else np.asarray(a)


def _check_paths(path1: Any, path2: Any, *, same_batch: bool):
    """Both paths converted and checked; returns them and whether they are torch tensors."""
    torch_in = type(path1) is not np.ndarray and is_torch(path1)
    if torch_in:
        path1 = check_tensor(path1, "path1", 2)
        same_kind("path2", path2, "path1", path1)
        path2 = check_tensor(path2, "path2", 2)
    else:
        path1 = as_array(path1, "path1", 2)
        if is_torch(path2):
            same_kind("path2", path2, "path1", path1)
        path2 = as_array(path2, "path2", 2)
        same_kind("path2", path2, "path1", path1)
    if path1.shape[-1] != path2.shape[-1]:
        raise ValueError(
            f"path1 and path2 must have the same dimension (last axis), got {path1.shape[-1]} and {path2.shape[-1]}"
        )
    if same_batch and tuple(path1.shape[:-2]) != tuple(path2.shape[:-2]):
        raise ValueError(
            f"path1 and path2 must have the same batch shape, got {tuple(path1.shape[:-2])} and {tuple(path2.shape[:-2])} "
            "(sig_kernel_gram compares every path of one batch with every path of the other)"
        )
    for name, p in (("path1", path1), ("path2", path2)):
        if p.shape[-2] == 0:
            raise ValueError(f"{name} must have at least one point, got shape {tuple(p.shape)}")
    return path1, path2, torch_in


def _flat(p: np.ndarray) -> np.ndarray:
    return p.reshape(batch_size(p.shape[:-2]), p.shape[-2], p.shape[-1])


# --- pairs: the array-level kernels everything else is built on ------------------


def pair_kernels(x: np.ndarray, y: np.ndarray, opts: _Options, return_grid: bool) -> np.ndarray:
    """Kernels of the pairs ``(x[p], y[p])``: ``(P,)`` or grids ``(P, G1, G2)``."""
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    p = x.shape[0]
    shape = (p, *opts.grid_shape(x.shape[1], y.shape[1])) if return_grid else (p,)
    out = empty_output(shape, x.dtype)
    if p == 0:
        return out
    if opts.scale is not None:
        native_for(_LINEAR, x.dtype)(x, y, out, opts.orders, opts.scale, opts.transform, return_grid, opts.n_jobs)
    else:
        delta, _ = opts.deltas(x, y)
        native_for(_DELTA, x.dtype)(delta, out, opts.orders, return_grid, opts.n_jobs)
    return out


def pair_kernels_backprop(
    derivs: np.ndarray, x: np.ndarray, y: np.ndarray, opts: _Options, left: bool, right: bool,
    k_grid: Optional[np.ndarray], grid_derivs: bool,
) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Gradients of the pair kernels (or grids, ``grid_derivs``) w.r.t. ``x`` and/or ``y``."""
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    derivs = np.ascontiguousarray(derivs, dtype=x.dtype)
    if k_grid is not None:
        k_grid = np.ascontiguousarray(k_grid, dtype=x.dtype)
    gx = np.zeros(x.shape, x.dtype) if left else None
    gy = np.zeros(y.shape, y.dtype) if right else None
    if x.shape[0] == 0:
        return gx, gy
    if opts.scale is not None:
        native_for(_LINEAR_BACKPROP, x.dtype)(
            x, y, derivs, k_grid, gx, gy, opts.orders, opts.scale, opts.transform, grid_derivs, opts.n_jobs
        )
        return gx, gy
    delta, ctx = opts.deltas(x, y)
    g_delta = np.empty_like(delta)
    native_for(_DELTA_BACKPROP, x.dtype)(delta, derivs, k_grid, g_delta, opts.orders, grid_derivs, opts.n_jobs)
    g_delta_in = opts.kernel_input(g_delta)
    sk = opts.static_kernel
    if left:
        gx = _to_numpy(sk.grad_x(ctx, g_delta_in)).astype(x.dtype, copy=False)
        if opts.time_aug or opts.lead_lag:
            gx = transform_path_backprop_array(gx, x.shape[1], x.shape[2], opts.time_aug, opts.lead_lag, opts.end_time, opts.n_jobs)
    if right:
        gy = _to_numpy(sk.grad_y(ctx, g_delta_in)).astype(y.dtype, copy=False)
        if opts.time_aug or opts.lead_lag:
            gy = transform_path_backprop_array(gy, y.shape[1], y.shape[2], opts.time_aug, opts.lead_lag, opts.end_time, opts.n_jobs)
    return gx, gy


# --- public API -------------------------------------------------------------------------


def sig_kernel(
    path1: Any,
    path2: Any,
    *,
    dyadic_order: Any = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = -1,
    return_grid: bool = False,
    normalize: bool = False,
    method: str = "finite_difference",
) -> Any:
    """Signature kernels ``<S(x), S(y)>`` of paired batches, by the Goursat PDE.

    Args:
        path1: ``(..., length_1, dim)``; path2: ``(..., length_2, dim)``, the same batch shape.
        dyadic_order: an int, or a pair ``(l1, l2)``: each increment of path1
            is split in ``2^l1`` steps, of path2 in ``2^l2``. Higher is more accurate.
        static_kernel: None (the linear kernel, ``<x, y>``) or a
            :class:`sigrs.StaticKernel` such as ``sigrs.RBFKernel(sigma)``.
        time_aug, lead_lag, end_time, n_jobs: as in :func:`sigrs.sig`.
        return_grid: return the whole refined PDE grid,
            ``(..., 2^l1 (L1' - 1) + 1, 2^l2 (L2' - 1) + 1)`` (``L'`` the transformed lengths).
        normalize: divide by ``sqrt(k(x, x) k(y, y))`` (NaN, with a warning,
            where that is not positive).

    Returns:
        ``(...)`` kernels (or grids); differentiable for torch in both paths.

    Example::

        >>> x, y = np.random.rand(10, 100, 5), np.random.rand(10, 80, 5)
        >>> sigrs.sig_kernel(x, y, dyadic_order=1).shape
        (10,)
    """
    opts = _Options(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, method)
    return_grid = check_bool(return_grid, "return_grid")
    normalize = check_bool(normalize, "normalize")
    if normalize and return_grid:
        raise ValueError("normalize=True cannot be combined with return_grid=True")
    path1, path2, torch_in = _check_paths(path1, path2, same_batch=True)
    opts.torch_kernel = torch_in
    batch_shape = tuple(path1.shape[:-2])
    if torch_in:
        from . import _autograd

        out = _autograd.sig_kernel(path1, path2, opts, return_grid)
    else:
        out = pair_kernels(_flat(path1), _flat(path2), opts, return_grid)
    out = out.reshape(batch_shape + tuple(out.shape[1:]))
    if normalize:
        kxx = sig_kernel(path1, path1, dyadic_order=opts.orders, static_kernel=static_kernel, time_aug=time_aug,
                         lead_lag=lead_lag, end_time=end_time, n_jobs=n_jobs)
        kyy = sig_kernel(path2, path2, dyadic_order=opts.orders, static_kernel=static_kernel, time_aug=time_aug,
                         lead_lag=lead_lag, end_time=end_time, n_jobs=n_jobs)
        out = _normalized(out, kxx, kyy, "sig_kernel")
    return out


def _normalized(k: Any, kxx: Any, kyy: Any, name: str) -> Any:
    denom = kxx * kyy
    bad = denom <= 0
    if bool(bad.any()):
        warnings.warn(
            f"{name}(normalize=True): k(x, x) k(y, y) is not positive for some pairs (the PDE has not converged: "
            "raise dyadic_order, scale the paths down, or use a bounded static kernel); those entries are NaN",
            RuntimeWarning, stacklevel=3,
        )
    if is_torch(k):
        import torch

        return torch.where(bad, torch.full_like(k, float("nan")), k / torch.sqrt(torch.clamp(denom, min=1e-300)))
    with np.errstate(invalid="ignore"):
        return np.where(bad, np.nan, k / np.sqrt(np.maximum(denom, 1e-300)))


def sig_kernel_backprop(
    derivs: Any,
    path1: Any,
    path2: Any,
    *,
    dyadic_order: Any = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    left_deriv: bool = True,
    right_deriv: bool = False,
    k_grid: Any = None,
    n_jobs: int = -1,
    return_grid: bool = False,
    method: str = "finite_difference",
) -> tuple[Any, Any]:
    """Gradient through :func:`sig_kernel` (pysiglib's ``sig_kernel_backprop``).

    Args:
        derivs: dF/dk, ``(...)``; with ``return_grid`` dF/d(grid), shaped like the grid.
        path1, path2, dyadic_order, static_kernel, time_aug, lead_lag, end_time: as given to :func:`sig_kernel`.
        left_deriv, right_deriv: which paths to differentiate (at least one).
        k_grid: the grids ``sig_kernel(..., return_grid=True)`` returned, to
            skip recomputing them.

    Returns:
        ``(dF/dpath1 or None, dF/dpath2 or None)``.

    Example::

        >>> x, y = np.random.rand(4, 50, 3), np.random.rand(4, 40, 3)
        >>> gx, gy = sigrs.sig_kernel_backprop(np.ones(4), x, y, dyadic_order=1, right_deriv=True)
        >>> gx.shape, gy.shape
        ((4, 50, 3), (4, 40, 3))
    """
    opts = _Options(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, method)
    left, right = check_bool(left_deriv, "left_deriv"), check_bool(right_deriv, "right_deriv")
    return_grid = check_bool(return_grid, "return_grid")
    if not (left or right):
        raise ValueError("left_deriv and right_deriv are both False: ask for at least one side's gradient")
    path1, path2, torch_in = _check_paths(path1, path2, same_batch=True)
    opts.torch_kernel = torch_in
    batch_shape = tuple(path1.shape[:-2])
    grid = opts.grid_shape(path1.shape[-2], path2.shape[-2])
    expected = batch_shape + (grid if return_grid else ())
    derivs = _checked_like(derivs, "derivs", path1, expected, "the kernels" if not return_grid else "the grids")
    if k_grid is not None:
        k_grid = _checked_like(k_grid, "k_grid", path1, batch_shape + grid, "sig_kernel(..., return_grid=True)")
    x, y = _flat(_to_numpy(path1)), _flat(_to_numpy(path2))
    b = x.shape[0]
    kg = None if k_grid is None else _to_numpy(k_grid).reshape(b, *grid)
    gx, gy = pair_kernels_backprop(
        _to_numpy(derivs).reshape((b, *grid) if return_grid else (b,)), x, y, opts, left, right, kg, return_grid
    )
    gx = None if gx is None else gx.reshape(path1.shape)
    gy = None if gy is None else gy.reshape(path2.shape)
    if torch_in:
        import torch

        gx = None if gx is None else torch.from_numpy(gx)
        gy = None if gy is None else torch.from_numpy(gy)
    return gx, gy


def _checked_like(a: Any, name: str, ref: Any, shape: tuple, what: str) -> Any:
    if not is_torch(ref) and not is_torch(a):
        a = as_array(a, name, 0)
    same_kind(name, a, "path1", ref)
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (like {what}), got {tuple(a.shape)}")
    return a


# --- Gram matrices ------------------------------------------------------------------------


def _pair_chunks(b1: int, b2: int, symmetric: bool, max_batch: int, pair_bytes: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Index pairs ``(i, j)`` of the Gram matrix in chunks (``i <= j`` when symmetric)."""
    if symmetric:
        ii, jj = np.triu_indices(b1)
    else:
        ii, jj = np.divmod(np.arange(b1 * b2), b2) if b2 else (np.empty(0, int), np.empty(0, int))
    if max_batch == -1:
        size = max(1, _AUTO_CHUNK_BYTES // max(pair_bytes, 1))
    else:
        size = max_batch * max_batch
    for start in range(0, ii.size, size):
        yield ii[start:start + size], jj[start:start + size]


def sig_kernel_gram(
    path1: Any,
    path2: Any,
    *,
    dyadic_order: Any = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = -1,
    max_batch: int = -1,
    return_grid: bool = False,
    normalize: bool = False,
    method: str = "finite_difference",
) -> Any:
    """The Gram matrix of signature kernels between two batches of paths.

    Args:
        path1: ``(*batch_1, length_1, dim)``; path2: ``(*batch_2, length_2, dim)``.
            Passing the same object twice (``path2 is path1``, with one
            dyadic order for both sides) computes only the upper triangle
            and mirrors it.
        max_batch: pairs are solved ``max_batch ** 2`` at a time (-1: chunks
            of about 64 MB of paths), which bounds memory for large Grams.
        Other arguments: as in :func:`sig_kernel`.

    Returns:
        ``batch_1 + batch_2`` kernels (with ``return_grid``, grids after
        them); differentiable for torch, without keeping any PDE grid
        between forward and backward.

    Example::

        >>> x, y = np.random.rand(10, 100, 5), np.random.rand(8, 100, 5)
        >>> sigrs.sig_kernel_gram(x, y, dyadic_order=1).shape
        (10, 8)
    """
    opts = _Options(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, method)
    max_batch = _check_max_batch(max_batch)
    return_grid = check_bool(return_grid, "return_grid")
    normalize = check_bool(normalize, "normalize")
    if normalize and return_grid:
        raise ValueError("normalize=True cannot be combined with return_grid=True")
    # k(x_i, x_j) = k(x_j, x_i) only when both sides are refined alike
    symmetric = path2 is path1 and opts.orders[0] == opts.orders[1]
    path1, path2, torch_in = _check_paths(path1, path2, same_batch=False)
    opts.torch_kernel = torch_in
    shape1, shape2 = tuple(path1.shape[:-2]), tuple(path2.shape[:-2])
    if torch_in:
        from . import _autograd

        out = _autograd.sig_kernel_gram(path1, path2, symmetric, opts, max_batch, return_grid)
    else:
        out = gram_array(_flat(path1), _flat(path2), symmetric, opts, max_batch, return_grid)
    out = out.reshape(shape1 + shape2 + tuple(out.shape[2:]))
    if normalize:
        kxx = sig_kernel(path1, path1, dyadic_order=opts.orders, static_kernel=static_kernel, time_aug=time_aug,
                         lead_lag=lead_lag, end_time=end_time, n_jobs=n_jobs)
        kyy = kxx if symmetric else sig_kernel(path2, path2, dyadic_order=opts.orders, static_kernel=static_kernel,
                                               time_aug=time_aug, lead_lag=lead_lag, end_time=end_time, n_jobs=n_jobs)
        expand = (Ellipsis,) + (None,) * len(shape2)
        out = _normalized(out, kxx[expand], kyy[(None,) * len(shape1)], "sig_kernel_gram")
    return out


def _check_max_batch(max_batch: Any) -> int:
    max_batch = check_int(max_batch, "max_batch")
    if max_batch == 0 or max_batch < -1:
        raise ValueError(f"max_batch must be a positive int or -1 (automatic chunks), got {max_batch}")
    return max_batch


def gram_array(x: np.ndarray, y: np.ndarray, symmetric: bool, opts: _Options, max_batch: int, return_grid: bool) -> np.ndarray:
    """:func:`sig_kernel_gram` on flat ``(B, L, d)`` ndarrays (also the torch op's forward)."""
    b1, b2 = x.shape[0], y.shape[0]
    grid = opts.grid_shape(x.shape[1], y.shape[1]) if return_grid else ()
    out = empty_output((b1, b2, *grid), x.dtype)
    pair_bytes = (x.shape[1] + y.shape[1]) * x.shape[2] * x.itemsize + (int(np.prod(grid)) * x.itemsize if grid else 0)
    for ci, cj in _pair_chunks(b1, b2, symmetric, max_batch, pair_bytes):
        k = pair_kernels(x[ci], y[cj], opts, return_grid)
        out[ci, cj] = k
        if symmetric:
            off = ci != cj
            out[cj[off], ci[off]] = np.swapaxes(k[off], -1, -2) if return_grid else k[off]
    return out


def sig_kernel_gram_backprop(
    derivs: Any,
    path1: Any,
    path2: Any,
    *,
    dyadic_order: Any = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    left_deriv: bool = True,
    right_deriv: bool = False,
    k_grid: Any = None,
    n_jobs: int = -1,
    max_batch: int = -1,
    method: str = "finite_difference",
) -> tuple[Any, Any]:
    """Gradient through :func:`sig_kernel_gram` (pysiglib's ``sig_kernel_gram_backprop``).

    Args:
        derivs: dF/dG, ``batch_1 + batch_2``.
        k_grid: optional grids from ``sig_kernel_gram(..., return_grid=True)``.
        Other arguments: as given to :func:`sig_kernel_gram` and :func:`sig_kernel_backprop`.

    Returns:
        ``(dF/dpath1 or None, dF/dpath2 or None)``; computed chunk by chunk,
        recomputing the PDE grids unless ``k_grid`` is given.

    Example::

        >>> x, y = np.random.rand(6, 30, 3), np.random.rand(5, 30, 3)
        >>> gx, _ = sigrs.sig_kernel_gram_backprop(np.ones((6, 5)), x, y, dyadic_order=1)
        >>> gx.shape
        (6, 30, 3)
    """
    opts = _Options(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, method)
    left, right = check_bool(left_deriv, "left_deriv"), check_bool(right_deriv, "right_deriv")
    max_batch = _check_max_batch(max_batch)
    if not (left or right):
        raise ValueError("left_deriv and right_deriv are both False: ask for at least one side's gradient")
    path1, path2, torch_in = _check_paths(path1, path2, same_batch=False)
    opts.torch_kernel = torch_in
    shape1, shape2 = tuple(path1.shape[:-2]), tuple(path2.shape[:-2])
    derivs = _checked_like(derivs, "derivs", path1, shape1 + shape2, "the Gram matrix")
    grid = opts.grid_shape(path1.shape[-2], path2.shape[-2])
    if k_grid is not None:
        k_grid = _checked_like(k_grid, "k_grid", path1, shape1 + shape2 + grid, "sig_kernel_gram(..., return_grid=True)")
    x, y = _flat(_to_numpy(path1)), _flat(_to_numpy(path2))
    b1, b2 = x.shape[0], y.shape[0]
    kg = None if k_grid is None else _to_numpy(k_grid).reshape(b1, b2, *grid)
    gx, gy = gram_backprop_array(_to_numpy(derivs).reshape(b1, b2), x, y, False, opts, max_batch, left, right, kg)
    gx = None if gx is None else gx.reshape(path1.shape)
    gy = None if gy is None else gy.reshape(path2.shape)
    if torch_in:
        import torch

        gx = None if gx is None else torch.from_numpy(gx)
        gy = None if gy is None else torch.from_numpy(gy)
    return gx, gy


def gram_backprop_array(
    derivs: np.ndarray, x: np.ndarray, y: np.ndarray, symmetric: bool, opts: _Options, max_batch: int,
    left: bool, right: bool, k_grid: Optional[np.ndarray] = None,
) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Gram gradient on flat ndarrays. ``symmetric``: ``y`` is ``x`` and only
    ``i <= j`` is solved; both entries' derivatives go to that pair and both
    sides' gradients to the one batch (returned as the first result)."""
    b1, b2 = x.shape[0], y.shape[0]
    derivs = np.asarray(derivs, dtype=x.dtype)
    gx = np.zeros(x.shape, x.dtype) if (left or symmetric) else None
    gy = np.zeros(y.shape, y.dtype) if (right and not symmetric) else None
    pair_bytes = 3 * (x.shape[1] + y.shape[1]) * x.shape[2] * x.itemsize
    for ci, cj in _pair_chunks(b1, b2, symmetric, max_batch, pair_bytes):
        w = derivs[ci, cj]
        if symmetric:
            w = np.where(ci != cj, w + derivs[cj, ci], w)
        kg = None if k_grid is None else k_grid[ci, cj]
        lx, ry = pair_kernels_backprop(w, x[ci], y[cj], opts, left or symmetric, right or symmetric, kg, False)
        if symmetric:
            _scatter_add(gx, ci, lx)
            _scatter_add(gx, cj, ry)
            continue
        if lx is not None:
            _scatter_add(gx, ci, lx)
        if ry is not None:
            _scatter_add(gy, cj, ry)
    return gx, gy


def _scatter_add(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``target[index[p]] += values[p]`` for repeated indices: sorted runs
    summed with ``np.add.reduceat`` (``np.add.at`` is several times slower)."""
    if index.size == 0:
        return
    if np.any(index[1:] < index[:-1]):
        order = np.argsort(index, kind="stable")
        index, values = index[order], values[order]
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    target[index[starts]] += np.add.reduceat(values, starts, axis=0)


__all__ = [
    "sig_kernel",
    "sig_kernel_backprop",
    "sig_kernel_gram",
    "sig_kernel_gram_backprop",
    "check_dyadic_order",
]
