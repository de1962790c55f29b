"""Signature kernels ``k(x, y) = <S(x), S(y)>`` by the Goursat PDE (pysiglib's API): the ``sig_kernel`` op family.

The PDE is solved in the Rust core, by finite differences on a grid
refined ``2^dyadic_order`` times per increment (``method="finite_difference"``)
or cell by cell as a polynomial of degree ``order`` (``method="polynomial"``). Every built-in static kernel (linear, scaled linear,
RBF, polynomial, Matern, rational quadratic) is computed by the core inside
the solver, from the paths; a user-written :class:`sigrs.StaticKernel`
supplies the double increments through its ``__call__``, and its
``grad_x`` / ``grad_y`` carry gradients back to the paths.

Gram matrices are computed over chunks of pairs (``max_batch``), so memory
stays bounded whatever the number of pairs, and their gradients recompute
the PDE grids chunk by chunk instead of keeping them.
"""

from __future__ import annotations

import sys
import warnings
from types import SimpleNamespace
from typing import Any, Iterator, Optional

import numpy as np

from . import _native
from ._arrays import as_array, batch_of_paths, check_tensor, empty_output, is_torch, numpy_view, same_kind
from ._checks import check_bool, check_end_time, check_int, check_n_jobs
from ._op_registry import BUILT, register
from ._options import KernelOptions, make, replace
from ._progress import advance, progress_bar
from ._shapes import aug_dim, batch_size, grid_length, transformed_length
from .static_kernels import Context
from .transform import transform_path, transform_path_backprop

# Pairs per chunk of a Gram matrix when max_batch=-1: enough to keep every
# thread busy, bounded so the gathered paths stay within about 64 MB.
_AUTO_CHUNK_BYTES = 64 << 20


# --- options ------------------------------------------------------------------------

SIG_KERNEL_METHODS = ("finite_difference", "polynomial")
MIN_POLY_ORDER, MAX_POLY_ORDER = 2, 64


def check_method(method: Any, dyadic_order: Any, order: Any) -> tuple[tuple[int, int], int]:
    """``(dyadic orders, polynomial order)`` of a solver choice, checked as
    pysiglib checks it; the polynomial order is 0 for finite differences,
    whose solver cells are those of dyadic order 0 for the polynomial one."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, one of {', '.join(SIG_KERNEL_METHODS)}; got {type(method).__name__} {method!r}")
    if method not in SIG_KERNEL_METHODS:
        raise ValueError(f"method must be one of {', '.join(SIG_KERNEL_METHODS)}, got {method!r}")
    if method == "finite_difference":
        if order is not None:
            raise ValueError(f"order is not supported when method='finite_difference' (it refines by dyadic_order), got order={order!r}")
        return check_dyadic_order(dyadic_order), 0
    if dyadic_order is not None:
        raise ValueError(f"dyadic_order is not supported when method='polynomial' (it takes order), got dyadic_order={dyadic_order!r}")
    if order is None:
        raise ValueError(f"order is required when method='polynomial' (an int from {MIN_POLY_ORDER} to {MAX_POLY_ORDER})")
    if type(order) is not int:
        if isinstance(order, bool) or not isinstance(order, np.integer):
            raise TypeError(f"order must be an int from {MIN_POLY_ORDER} to {MAX_POLY_ORDER}, got {type(order).__name__} {order!r}")
        order = int(order)
    if not MIN_POLY_ORDER <= order <= MAX_POLY_ORDER:
        raise ValueError(f"order must be between {MIN_POLY_ORDER} and {MAX_POLY_ORDER}, got {order}")
    return (0, 0), order



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


# User-written static kernels, by the id their options carry (an op schema
# cannot carry a Python object). A plain dict, which torch.compile traces;
# it keeps the last _USER_KERNELS_KEPT kernels alive (an entry cannot go
# stale while it holds its kernel), and a backward pass puts back the kernel
# its forward pass saved.
_user_kernels: dict = {}
_USER_KERNELS_KEPT = 64


def _static_kernel_fields(static_kernel: Any) -> tuple:
    """``(name, parameters, id)`` of the static kernel for :class:`KernelOptions`."""
    if static_kernel is None:
        return "linear", (1.0,), 0
    if not (callable(static_kernel) and hasattr(static_kernel, "grad_x") and hasattr(static_kernel, "grad_y")):
        raise TypeError(
            f"static_kernel must be a sigrs.StaticKernel (with __call__, grad_x and grad_y), got {type(static_kernel).__name__}"
        )
    spec = getattr(static_kernel, "native_spec", None)
    if spec is not None:
        return spec[0], tuple(spec[1]), 0
    if "torch" in sys.modules:
        import sigrs._torch_ops  # noqa: F401  (builds the ops, marking the registration for torch.compile)
    return "user", (), _register_user_kernel(static_kernel)


def _keep_user_kernel(kernel: Any) -> int:
    """Registers a user kernel under its id (see ``_user_kernels``)."""
    key = id(kernel)
    _user_kernels[key] = kernel
    if len(_user_kernels) > _USER_KERNELS_KEPT:
        del _user_kernels[next(iter(_user_kernels))]
    return key


# What options building calls; once torch is in use, the same function
# marked for torch.compile as one to run at trace time, its result a
# constant of the graph (see _define_ops).
_register_user_kernel = _keep_user_kernel


def _options(
    dyadic_order: Any, static_kernel: Any, time_aug: Any, lead_lag: Any, end_time: Any, n_jobs: Any, method: Any, order: Any = None, *,
    return_grid: bool = False, max_batch: int = -1, symmetric: bool = False, left_deriv: bool = True, right_deriv: bool = True,
) -> KernelOptions:
    """The checked options (``return_grid`` and the rest already checked by the caller)."""
    (order1, order2), poly_order = check_method(method, dyadic_order, order)
    name, params, kernel_id = _static_kernel_fields(static_kernel)
    return make(
        KernelOptions, order1, order2, name, params, kernel_id, check_bool(time_aug, "time_aug"), check_bool(lead_lag, "lead_lag"),
        check_end_time(end_time), check_n_jobs(n_jobs), return_grid, max_batch,
        symmetric and order1 == order2,  # k(x_i, x_j) = k(x_j, x_i) only when both sides are refined alike
        left_deriv, right_deriv, poly_order,
    )


def _user_kernel(opts: KernelOptions) -> Any:
    return _user_kernels[opts.kernel_id] if opts.kernel_name == "user" else None


def _grid_shape(opts: KernelOptions, length1: Any, length2: Any) -> tuple:
    # the polynomial solver's grid (one vertex per point) is order 0's
    return (
        grid_length(transformed_length(length1, opts.lead_lag), opts.order1),
        grid_length(transformed_length(length2, opts.lead_lag), opts.order2),
    )


def _check_paths(path1: Any, path2: Any, *, same_batch: bool) -> tuple:
    """Both paths converted and checked."""
    if type(path1) is not np.ndarray and is_torch(path1):
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
    return path1, path2


def _checked_like(a: Any, name: str, ref: Any, shape: tuple, what: str) -> Any:
    if not is_torch(ref) and not is_torch(a):
        a = as_array(a, name, 0)
    same_kind(name, a, "path1", ref)
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (like {what}), got {tuple(a.shape)}")
    return a


def _check_max_batch(max_batch: Any) -> int:
    max_batch = check_int(max_batch, "max_batch")
    if max_batch == 0 or max_batch < -1:
        raise ValueError(f"max_batch must be a positive int or -1 (automatic chunks), got {max_batch}")
    return max_batch


def _check_sides(left_deriv: Any, right_deriv: Any) -> tuple:
    left, right = check_bool(left_deriv, "left_deriv"), check_bool(right_deriv, "right_deriv")
    if not (left or right):
        raise ValueError("left_deriv and right_deriv are both False: ask for at least one side's gradient")
    return left, right


# --- public API ------------------------------------------------------------------------


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
    order: Optional[int] = None,
) -> Any:
    """Signature kernels ``<S(x), S(y)>`` of paired batches, by the Goursat PDE.

    Args:
        path1: ``(..., length_1, dim)``; path2: ``(..., length_2, dim)``, the same batch shape.
        dyadic_order: (``method="finite_difference"``) an int, or a pair ``(l1, l2)``: each increment of path1
            is split in ``2^l1`` steps, of path2 in ``2^l2``. Higher is more accurate.
        method: ``"finite_difference"`` (the default) or ``"polynomial"``:
            in each cell of the grid (one per pair of increments) the PDE is
            solved as a polynomial in the cell's coordinates, its edges passed
            on truncated at degree ``order`` (pysiglib's solver, same numbers).
        order: (``method="polynomial"``, then required) the highest retained
            polynomial degree, 2 to 64. Higher is more accurate.
        static_kernel: None (the linear kernel, ``<x, y>``) or a
            :class:`sigrs.StaticKernel` such as ``sigrs.RBFKernel(sigma)``.
        time_aug, lead_lag, end_time, n_jobs: as in :func:`sigrs.sig`.
        return_grid: return the whole refined PDE grid,
            ``(..., 2^l1 (L1' - 1) + 1, 2^l2 (L2' - 1) + 1)`` (``L'`` the transformed lengths);
            the polynomial method's has one value per vertex, ``(..., L1', L2')``.
        normalize: divide by ``sqrt(k(x, x) k(y, y))`` (NaN, with a warning,
            where that is not positive).

    Returns:
        ``(...)`` kernels (or grids); differentiable for torch in both paths.

    Example::

        >>> x, y = np.random.rand(10, 100, 5), np.random.rand(10, 80, 5)
        >>> sigrs.sig_kernel(x, y, dyadic_order=1).shape
        (10,)
        >>> sigrs.sig_kernel(x, y, method="polynomial", order=8).shape
        (10,)
    """
    return_grid = check_bool(return_grid, "return_grid")
    normalize = check_bool(normalize, "normalize")
    opts = _options(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, method, order, return_grid=return_grid)
    if normalize and return_grid:
        raise ValueError("normalize=True cannot be combined with return_grid=True")
    path1, path2 = _check_paths(path1, path2, same_batch=True)
    if is_torch(path1):
        out = _ops().sig_kernel(path1, path2, opts)
    else:
        out = _pair_kernels_cpu(path1, path2, opts)
    if normalize:
        diagonal = replace(opts, return_grid=False)
        kxx = _ops().sig_kernel(path1, path1, diagonal) if is_torch(path1) else _pair_kernels_cpu(path1, path1, diagonal)
        kyy = _ops().sig_kernel(path2, path2, diagonal) if is_torch(path2) else _pair_kernels_cpu(path2, path2, diagonal)
        out = _normalized(out, kxx, kyy, "sig_kernel")
    return out


def _normalized(k: Any, kxx: Any, kyy: Any, name: str) -> Any:
    denom = kxx * kyy
    bad = denom <= 0
    if is_torch(k):
        import torch

        if not torch.compiler.is_compiling() and bool(bad.any()):
            _warn_not_positive(name)
        return torch.where(bad, torch.full_like(k, float("nan")), k / torch.sqrt(torch.clamp(denom, min=1e-300)))
    if bool(bad.any()):
        _warn_not_positive(name)
    with np.errstate(invalid="ignore"):
        return np.where(bad, np.nan, k / np.sqrt(np.maximum(denom, 1e-300)))


def _warn_not_positive(name: str) -> None:
    warnings.warn(
        f"{name}(normalize=True): k(x, x) k(y, y) is not positive for some pairs (the PDE has not converged: "
        "raise dyadic_order, scale the paths down, or use a bounded static kernel); those entries are NaN",
        RuntimeWarning, stacklevel=4,
    )


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
    order: Optional[int] = None,
) -> tuple[Any, Any]:
    """Gradient through :func:`sig_kernel` (pysiglib's ``sig_kernel_backprop``).

    Args:
        derivs: dF/dk, ``(...)``; with ``return_grid`` dF/d(grid), shaped like the grid.
        path1, path2, dyadic_order, method, order, static_kernel, time_aug, lead_lag, end_time: as given to :func:`sig_kernel`.
        left_deriv, right_deriv: which paths to differentiate (at least one).
        k_grid: the grids ``sig_kernel(..., return_grid=True)`` returned, to
            skip recomputing them (the polynomial method recomputes its edges
            and does not read it).

    Returns:
        ``(dF/dpath1 or None, dF/dpath2 or None)``.

    Example::

        >>> x, y = np.random.rand(4, 50, 3), np.random.rand(4, 40, 3)
        >>> gx, gy = sigrs.sig_kernel_backprop(np.ones(4), x, y, dyadic_order=1, right_deriv=True)
        >>> gx.shape, gy.shape
        ((4, 50, 3), (4, 40, 3))
    """
    left, right = _check_sides(left_deriv, right_deriv)
    return_grid = check_bool(return_grid, "return_grid")
    opts = _options(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, method, order,
                    return_grid=return_grid, left_deriv=left, right_deriv=right)
    path1, path2 = _check_paths(path1, path2, same_batch=True)
    batch_shape = tuple(path1.shape[:-2])
    grid = _grid_shape(opts, path1.shape[-2], path2.shape[-2])
    expected = batch_shape + (grid if return_grid else ())
    derivs = _checked_like(derivs, "derivs", path1, expected, "the kernels" if not return_grid else "the grids")
    if k_grid is not None:
        k_grid = _checked_like(k_grid, "k_grid", path1, batch_shape + grid, "sig_kernel(..., return_grid=True)")
    if is_torch(path1):
        g1, g2 = _ops().sig_kernel_backprop(path1, path2, derivs, k_grid, opts)
    else:
        g1, g2 = _pair_kernels_backprop_cpu(derivs, path1, path2, k_grid, opts)
    return (g1 if left else None), (g2 if right else None)


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
    order: Optional[int] = None,
    progress: bool = False,
) -> Any:
    """The Gram matrix of signature kernels between two batches of paths.

    Args:
        path1: ``(*batch_1, length_1, dim)``; path2: ``(*batch_2, length_2, dim)``.
            Passing the same object twice (``path2 is path1``, with one
            dyadic order for both sides) computes only the upper triangle
            and mirrors it.
        max_batch: pairs are solved ``max_batch ** 2`` at a time (-1: chunks
            of about 64 MB of paths), which bounds memory for large Grams.
        progress: show a tqdm progress bar of the pairs solved, advanced as
            each chunk of ``max_batch`` finishes (needs tqdm: ImportError
            without it). NumPy arrays and torch CPU tensors in eager mode;
            the backward pass of a torch Gram shows none (call
            :func:`sig_kernel_gram_backprop` with ``progress=True`` for one),
            nor does a ``torch.compile``'d call. For one machine's cores;
            :mod:`sigrs.dask` spreads a Gram over a cluster.
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
    return_grid = check_bool(return_grid, "return_grid")
    normalize = check_bool(normalize, "normalize")
    progress = check_bool(progress, "progress")
    # one object twice: only the upper triangle is solved, then mirrored
    opts = _options(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, method, order,
                    return_grid=return_grid, max_batch=_check_max_batch(max_batch), symmetric=path2 is path1)
    if normalize and return_grid:
        raise ValueError("normalize=True cannot be combined with return_grid=True")
    path1, path2 = _check_paths(path1, path2, same_batch=False)
    if is_torch(path1):
        if return_grid and _grad_enabled() and (path1.requires_grad or path2.requires_grad):
            raise ValueError("sig_kernel_gram(return_grid=True) is not differentiable; use sig_kernel on the pairs you need")
        gram = _ops().sig_kernel_gram
    else:
        gram = _gram_cpu
    if progress:
        with progress_bar(gram_pairs(path1, path2, opts.symmetric), "sig_kernel_gram"):
            out = gram(path1, path2, opts)
    else:
        out = gram(path1, path2, opts)
    if normalize:
        shape1, shape2 = tuple(path1.shape[:-2]), tuple(path2.shape[:-2])
        diagonal = replace(opts, return_grid=False)
        kxx = _ops().sig_kernel(path1, path1, diagonal) if is_torch(path1) else _pair_kernels_cpu(path1, path1, diagonal)
        if opts.symmetric:
            kyy = kxx
        else:
            kyy = _ops().sig_kernel(path2, path2, diagonal) if is_torch(path2) else _pair_kernels_cpu(path2, path2, diagonal)
        expand = (Ellipsis,) + (None,) * len(shape2)
        out = _normalized(out, kxx[expand], kyy[(None,) * len(shape1)], "sig_kernel_gram")
    return out


def gram_pairs(path1: Any, path2: Any, symmetric: bool) -> int:
    """How many pairs a Gram matrix of these paths solves (the upper triangle when ``symmetric``)."""
    b1, b2 = batch_size(tuple(path1.shape[:-2])), batch_size(tuple(path2.shape[:-2]))
    return b1 * (b1 + 1) // 2 if symmetric else b1 * b2


def _grad_enabled() -> bool:
    import torch

    return torch.is_grad_enabled()


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
    order: Optional[int] = None,
    return_grid: bool = False,
    progress: bool = False,
) -> tuple[Any, Any]:
    """Gradient through :func:`sig_kernel_gram` (pysiglib's ``sig_kernel_gram_backprop``).

    Args:
        derivs: dF/dG, ``batch_1 + batch_2``; with ``return_grid``, dF/d(grids),
            ``batch_1 + batch_2 + grid`` like ``sig_kernel_gram(..., return_grid=True)``.
        return_grid: ``derivs`` are with respect to the whole PDE grid of every pair.
        k_grid: optional grids from ``sig_kernel_gram(..., return_grid=True)``.
        progress: show a tqdm progress bar of the pairs, as in :func:`sig_kernel_gram`.
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
    left, right = _check_sides(left_deriv, right_deriv)
    progress = check_bool(progress, "progress")
    return_grid = check_bool(return_grid, "return_grid")
    opts = _options(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, method, order, return_grid=return_grid,
                    max_batch=_check_max_batch(max_batch), left_deriv=left, right_deriv=right)
    path1, path2 = _check_paths(path1, path2, same_batch=False)
    shape1, shape2 = tuple(path1.shape[:-2]), tuple(path2.shape[:-2])
    grid = _grid_shape(opts, path1.shape[-2], path2.shape[-2])
    derivs = _checked_like(derivs, "derivs", path1, shape1 + shape2 + (grid if return_grid else ()),
                           "the Gram matrix" if not return_grid else "the Gram matrix's grids")
    if k_grid is not None:
        k_grid = _checked_like(k_grid, "k_grid", path1, shape1 + shape2 + grid, "sig_kernel_gram(..., return_grid=True)")
    if is_torch(path1):
        backprop, args = _ops().sig_kernel_gram_backprop, (path1, path2, derivs, k_grid, opts)
    else:
        backprop, args = _gram_backprop_cpu, (derivs, path1, path2, k_grid, opts)
    if progress:
        with progress_bar(gram_pairs(path1, path2, False), "sig_kernel_gram_backprop"):
            g1, g2 = backprop(*args)
    else:
        g1, g2 = backprop(*args)
    return (g1 if left else None), (g2 if right else None)


# --- CPU: pairs ------------------------------------------------------------------------
# ``(..., L, d)`` arrays in and out; the core takes them as (B, L, d).


def _kernel_input(a: np.ndarray, as_tensors: bool, kernel: Any) -> Any:
    """What a user kernel is called with: tensors when the caller's inputs were
    tensors or the kernel takes only those (pysiglib's contract), else ndarrays."""
    if as_tensors or not getattr(kernel, "accepts_numpy", False):
        import torch

        return torch.from_numpy(np.ascontiguousarray(a))
    return a


def _user_deltas(x: np.ndarray, y: np.ndarray, opts: KernelOptions, as_tensors: bool) -> tuple:
    """A user kernel's double increments of the transformed pairs (B, n1, n2), and its context."""
    kernel = _user_kernel(opts)
    tr = dict(time_aug=opts.time_aug, lead_lag=opts.lead_lag, end_time=opts.end_time, n_jobs=opts.n_jobs)
    ctx = Context()
    delta = kernel(ctx, _kernel_input(transform_path(x, **tr), as_tensors, kernel), _kernel_input(transform_path(y, **tr), as_tensors, kernel))
    b, l1, l2 = x.shape[0], transformed_length(x.shape[1], opts.lead_lag), transformed_length(y.shape[1], opts.lead_lag)
    expected = (b, max(l1 - 1, 0), max(l2 - 1, 0))
    return _user_output(delta, "double increments", expected, "(batch, length1 - 1, length2 - 1) of the transformed paths", x.dtype), ctx


def _user_output(value: Any, what: str, shape: tuple, meaning: str, dtype: np.dtype) -> np.ndarray:
    """What a user static kernel returned, checked: an array or CPU tensor of
    ``shape`` and ``dtype`` (the paths'), as a C-contiguous ndarray."""
    if is_torch(value):
        if value.device.type != "cpu":
            raise ValueError(f"static_kernel returned {what} on {value.device}; expected them on the paths' device, cpu")
        value = value.detach().numpy()
    elif not isinstance(value, np.ndarray):
        raise TypeError(f"static_kernel must return {what} as a torch tensor or NumPy array, got {type(value).__name__}")
    if value.dtype != dtype:
        raise TypeError(f"static_kernel returned {what} of dtype {value.dtype}; expected {dtype}, the paths' dtype")
    if value.shape != shape:
        raise ValueError(f"static_kernel returned {what} of shape {value.shape}; expected {shape} {meaning}")
    return np.ascontiguousarray(value)


def _pair_kernels_cpu(path1: np.ndarray, path2: np.ndarray, opts: KernelOptions, as_tensors: bool = False) -> np.ndarray:
    """Kernels of the pairs ``(path1[p], path2[p])``: ``(...)``, or grids ``(..., G1, G2)``."""
    x, y = batch_of_paths(path1), batch_of_paths(path2)
    grid = _grid_shape(opts, x.shape[1], y.shape[1]) if opts.return_grid else ()
    out = empty_output((x.shape[0], *grid), x.dtype)
    if x.shape[0] > 0:
        if opts.kernel_name == "user":
            delta, _ = _user_deltas(x, y, opts, as_tensors)
            _native.sig_kernel_from_increments(delta, out, opts)
        else:
            clamped = _native.sig_kernel(x, y, out, opts)
            if clamped:
                warnings.warn(
                    f"PolynomialKernel: <x, y> + gamma < 0 for some points with the non-integer degree {opts.kernel_params[0]}; "
                    "those bases are clamped to 0 (raise gamma so that every base is non-negative)",
                    RuntimeWarning, stacklevel=4,
                )
    return out.reshape(tuple(path1.shape[:-2]) + tuple(grid))


def _pair_kernels_backprop_cpu(derivs: np.ndarray, path1: np.ndarray, path2: np.ndarray, k_grid: Optional[np.ndarray],
                               opts: KernelOptions, as_tensors: bool = False) -> tuple:
    """Gradients of the pair kernels (or grids, ``opts.return_grid``): ``(d_path1, d_path2)``,
    zeros for a side not asked for (``left_deriv``/``right_deriv``)."""
    x, y = batch_of_paths(path1), batch_of_paths(path2)
    b = x.shape[0]
    grid = _grid_shape(opts, x.shape[1], y.shape[1])
    derivs = np.ascontiguousarray(derivs, dtype=x.dtype).reshape((b, *grid) if opts.return_grid else (b,))
    if k_grid is not None:
        k_grid = np.ascontiguousarray(k_grid, dtype=x.dtype).reshape(b, *grid)
    gx, gy = np.zeros(x.shape, x.dtype), np.zeros(y.shape, y.dtype)
    if b > 0:
        if opts.kernel_name != "user":
            _native.sig_kernel_backprop(x, y, derivs, k_grid, gx, gy, opts)
        else:
            gx, gy = _user_kernel_backprop(derivs, x, y, k_grid, opts, as_tensors)
    return gx.reshape(path1.shape), gy.reshape(path2.shape)


def _user_kernel_backprop(derivs: np.ndarray, x: np.ndarray, y: np.ndarray, k_grid: Optional[np.ndarray], opts: KernelOptions,
                          as_tensors: bool) -> tuple:
    """Through the PDE to the double increments in the core, then through the user kernel's ``grad_x``/``grad_y``."""
    delta, ctx = _user_deltas(x, y, opts, as_tensors)
    g_delta = np.empty_like(delta)
    _native.sig_kernel_from_increments_backprop(delta, derivs, k_grid, g_delta, opts)
    kernel = _user_kernel(opts)
    g_delta_in = _kernel_input(g_delta, as_tensors, kernel)
    tr = dict(time_aug=opts.time_aug, lead_lag=opts.lead_lag, end_time=opts.end_time, n_jobs=opts.n_jobs)
    gx, gy = np.zeros(x.shape, x.dtype), np.zeros(y.shape, y.dtype)
    d = aug_dim(x.shape[-1], opts.time_aug, opts.lead_lag)
    meaning = "(batch, length, dim) of the transformed paths"
    if opts.left_deriv:
        shape = (x.shape[0], transformed_length(x.shape[1], opts.lead_lag), d)
        gx = transform_path_backprop(_user_output(kernel.grad_x(ctx, g_delta_in), "grad_x", shape, meaning, x.dtype), **tr)
    if opts.right_deriv:
        shape = (y.shape[0], transformed_length(y.shape[1], opts.lead_lag), d)
        gy = transform_path_backprop(_user_output(kernel.grad_y(ctx, g_delta_in), "grad_y", shape, meaning, y.dtype), **tr)
    return np.ascontiguousarray(gx), np.ascontiguousarray(gy)


# --- CPU: Gram matrices ------------------------------------------------------------------


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


def _gram_cpu(path1: np.ndarray, path2: np.ndarray, opts: KernelOptions, as_tensors: bool = False) -> np.ndarray:
    """The Gram matrix ``batch_1 + batch_2`` (+ grid) of two ``(..., L, d)`` arrays."""
    x = batch_of_paths(path1)
    y = x if opts.symmetric else batch_of_paths(path2)
    b1, b2 = x.shape[0], y.shape[0]
    grid = _grid_shape(opts, x.shape[1], y.shape[1]) if opts.return_grid else ()
    out = empty_output((b1, b2, *grid), x.dtype)
    pair_bytes = (x.shape[1] + y.shape[1]) * x.shape[2] * x.itemsize + (int(np.prod(grid)) * x.itemsize if grid else 0)
    for ci, cj in _pair_chunks(b1, b2, opts.symmetric, opts.max_batch, pair_bytes):
        k = _pair_kernels_cpu(x[ci], y[cj], opts, as_tensors)
        out[ci, cj] = k
        if opts.symmetric:
            off = ci != cj
            out[cj[off], ci[off]] = np.swapaxes(k[off], -1, -2) if opts.return_grid else k[off]
        advance(ci.size)
    return out.reshape(tuple(path1.shape[:-2]) + tuple(path2.shape[:-2]) + tuple(grid))


def _gram_backprop_cpu(derivs: np.ndarray, path1: np.ndarray, path2: np.ndarray, k_grid: Optional[np.ndarray],
                       opts: KernelOptions, as_tensors: bool = False) -> tuple:
    """Gram gradients ``(d_path1, d_path2)``. ``symmetric``: ``path2`` is ``path1`` and
    only ``i <= j`` is solved; both entries' derivatives go to that pair and both
    sides' gradients to the one batch (returned first; the second is zeros)."""
    x = batch_of_paths(path1)
    y = x if opts.symmetric else batch_of_paths(path2)
    b1, b2 = x.shape[0], y.shape[0]
    grid = _grid_shape(opts, x.shape[1], y.shape[1])
    derivs = np.asarray(derivs, dtype=x.dtype).reshape((b1, b2, *grid) if opts.return_grid else (b1, b2))
    if k_grid is not None:
        k_grid = np.asarray(k_grid, dtype=x.dtype).reshape(b1, b2, *grid)
    gx, gy = np.zeros(x.shape, x.dtype), np.zeros(y.shape, y.dtype)
    sym = opts.symmetric
    both = replace(opts, left_deriv=opts.left_deriv or sym, right_deriv=opts.right_deriv or sym)
    pair_bytes = 3 * (x.shape[1] + y.shape[1]) * x.shape[2] * x.itemsize
    for ci, cj in _pair_chunks(b1, b2, opts.symmetric, opts.max_batch, pair_bytes):
        w = derivs[ci, cj]
        if opts.symmetric:
            # G[j, i] is G[i, j] (its grid transposed: the schemes treat both sides alike)
            off = (ci != cj).reshape((-1,) + (1,) * (w.ndim - 1))
            w = np.where(off, w + (np.swapaxes(derivs[cj, ci], -1, -2) if opts.return_grid else derivs[cj, ci]), w)
        kg = None if k_grid is None else k_grid[ci, cj]
        lx, ry = _pair_kernels_backprop_cpu(w, x[ci], y[cj], kg, both, as_tensors)
        advance(ci.size)
        if opts.symmetric:
            _scatter_add(gx, ci, lx)
            _scatter_add(gx, cj, ry)
            continue
        if opts.left_deriv:
            _scatter_add(gx, ci, lx)
        if opts.right_deriv:
            _scatter_add(gy, cj, ry)
    return gx.reshape(path1.shape), gy.reshape(path2.shape)


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


# --- torch ops (CPU tensors: no GPU kernels yet) -----------------------------------------
# Forward saves only the paths; backward recomputes the PDE grids (chunk by
# chunk for Gram matrices) and differentiates only the sides torch asks for.


def _tensors(*arrays: np.ndarray) -> Any:
    import torch

    out = tuple(torch.from_numpy(a) for a in arrays)
    return out[0] if len(out) == 1 else out


def _optional_view(t: Any) -> Optional[np.ndarray]:
    return None if t is None else numpy_view(t)


def _kernel_fake(path1: Any, path2: Any, opts: KernelOptions) -> Any:
    grid = _grid_shape(opts, path1.shape[-2], path2.shape[-2]) if opts.return_grid else ()
    return path1.new_empty((*path1.shape[:-2], *grid))


def _save_paths(tensors: tuple, opts: KernelOptions, output: Any) -> tuple:
    # a user kernel lives in the registry only while something holds it
    return (*tensors, _user_kernel(opts))


def _kernel_backward(saved: tuple, grad: Any, opts: KernelOptions, needs: tuple) -> tuple:
    path1, path2, kernel = saved
    if kernel is not None:
        _keep_user_kernel(kernel)
    sides = replace(opts, left_deriv=needs[0], right_deriv=needs[1])
    g1, g2 = _ops().sig_kernel_backprop(path1, path2, grad.contiguous(), None, sides)
    return (g1 if needs[0] else None), (g2 if needs[1] else None)


def _gram_fake(path1: Any, path2: Any, opts: KernelOptions) -> Any:
    grid = _grid_shape(opts, path1.shape[-2], path2.shape[-2]) if opts.return_grid else ()
    return path1.new_empty((*path1.shape[:-2], *path2.shape[:-2], *grid))


def _gram_backward(saved: tuple, grad: Any, opts: KernelOptions, needs: tuple) -> tuple:
    path1, path2, kernel = saved
    if kernel is not None:
        _keep_user_kernel(kernel)
    if opts.symmetric:
        # one tensor passed twice: its whole gradient goes to the first slot
        both = replace(opts, left_deriv=True, right_deriv=True)
        g1, _ = _ops().sig_kernel_gram_backprop(path1, path2, grad.contiguous(), None, both)
        return g1, None
    sides = replace(opts, left_deriv=needs[0], right_deriv=needs[1])
    g1, g2 = _ops().sig_kernel_gram_backprop(path1, path2, grad.contiguous(), None, sides)
    return (g1 if needs[0] else None), (g2 if needs[1] else None)


def _like_paths(path1: Any, path2: Any, *rest: Any) -> tuple:
    return path1.new_empty(path1.shape), path2.new_empty(path2.shape)


def _ops() -> SimpleNamespace:
    """This family's torch ops, built once torch is in use (see :mod:`sigrs._op_registry`)."""
    import sigrs._torch_ops  # noqa: F401  (its first import builds them)

    return BUILT[__name__]


def _define_ops() -> SimpleNamespace:
    import torch

    from ._torch_ops import define

    global _register_user_kernel
    _register_user_kernel = torch.compiler.assume_constant_result(_keep_user_kernel)

    def impl(cpu: Any) -> Any:
        def run(*args: Any) -> Any:
            *tensors, opts = args
            return _tensors(*_as_tuple(cpu(*(_optional_view(t) for t in tensors), opts, as_tensors=True)))

        return run

    return SimpleNamespace(
        sig_kernel=define(
            "sig_kernel", inputs=("path1", "path2"), options=KernelOptions, impl=impl(_pair_kernels_cpu),
            fake=_kernel_fake, save=_save_paths, backward=_kernel_backward,
        ),
        sig_kernel_backprop=define(
            "sig_kernel_backprop", inputs=("path1", "path2", "derivs", "k_grid?"), options=KernelOptions,
            impl=impl(lambda p1, p2, d, kg, opts, as_tensors: _pair_kernels_backprop_cpu(d, p1, p2, kg, opts, as_tensors)),
            fake=_like_paths, outputs=2,
        ),
        sig_kernel_gram=define(
            "sig_kernel_gram", inputs=("path1", "path2"), options=KernelOptions, impl=impl(_gram_cpu),
            fake=_gram_fake, save=_save_paths, backward=_gram_backward,
        ),
        sig_kernel_gram_backprop=define(
            "sig_kernel_gram_backprop", inputs=("path1", "path2", "derivs", "k_grid?"), options=KernelOptions,
            impl=impl(lambda p1, p2, d, kg, opts, as_tensors: _gram_backprop_cpu(d, p1, p2, kg, opts, as_tensors)),
            fake=_like_paths, outputs=2,
        ),
    )


def _as_tuple(x: Any) -> tuple:
    return x if isinstance(x, tuple) else (x,)


register(__name__, _define_ops)
