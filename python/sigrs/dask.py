"""sigrs on dask arrays: signature features, Gram matrices, MMD tests and their gradients, on one machine or a cluster.

Install with ``pip install sigrs[dask]``; ``import sigrs`` never imports
dask, only ``import sigrs.dask`` does. Every function takes dask arrays of
paths ``(*batch, length, dim)`` chunked along the batch axes and builds a
lazy dask graph in which each task is one call of the in-memory sigrs
function on NumPy blocks: this module only chunks, schedules and adds up.
The same graph runs on the local schedulers (``dask.diagnostics.ProgressBar``
shows its progress) and on a ``dask.distributed`` cluster (its dashboard
does). Everything a task carries (the static kernel, the options) is pickled
with the task; nothing depends on state set in the client process.

* Features, one call per block, chunked like the paths along the batch
  axes: :func:`sig`, :func:`log_sig`, :func:`sig_coef`, :func:`transform_path`.
* :func:`sig_kernel_gram`: the Gram matrix, tiled by pairs of blocks; the
  Gram of a batch with itself solves only the tiles on and above the
  diagonal and mirrors them.
* Reductions that never hold the Gram matrix (each tile is reduced where it
  is computed): :func:`sig_mmd`, :func:`mmd_permutation_test`,
  :func:`sig_score`, :func:`expected_sig_score`.
* Gradients, tile by tile: :func:`sig_kernel_gram_backprop`, :func:`sig_mmd_backprop`.

Chunks along the time and channel axes are merged (``rechunk`` to one chunk
on each): every sigrs call needs whole paths. Chunk sizes must be known.
``n_jobs`` defaults to 1 here: dask runs the tasks in parallel, one per
worker thread; raise it for workers with fewer threads than cores.

Example::

    >>> import dask.array as da, sigrs.dask
    >>> x = da.random.random((10_000, 50, 3), chunks=(1_000, 50, 3))
    >>> sigrs.dask.sig(x, 4).chunks[0]
    (1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000)
    >>> gram = sigrs.dask.sig_kernel_gram(x[:2_000], dyadic_order=1)   # lazy, 2 x 2 tiles, 3 solved
    >>> mmd = sigrs.dask.sig_mmd(x[:200], x[200:400], dyadic_order=1).compute()   # a 0-d array
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as error:  # pragma: no cover - the tests run with dask installed
    raise ImportError(
        f"sigrs.dask needs dask ({error}): pip install 'sigrs[dask]' (dask[array] and distributed)"
    ) from error

from ._checks import check_bool, check_int, check_real
from .coef import sig_coef as _sig_coef
from .kernel import _normalized, check_method
from .kernel import sig_kernel as _sig_kernel
from .kernel import sig_kernel_gram as _sig_kernel_gram
from .kernel import sig_kernel_gram_backprop as _sig_kernel_gram_backprop
from .logsig import log_sig as _log_sig
from .signature import sig as _sig
from .transform import transform_path as _transform_path

__all__ = [
    "MMDTestResult",
    "expected_sig_score",
    "log_sig",
    "mmd_permutation_test",
    "permutation_labels",
    "sig",
    "sig_coef",
    "sig_kernel_gram",
    "sig_kernel_gram_backprop",
    "sig_mmd",
    "sig_mmd_backprop",
    "sig_score",
    "transform_path",
]

# Partial sums of a reduction are added up in a tree of tasks this wide.
_FAN_IN = 8


# --- checks -----------------------------------------------------------------------------


def _dask_paths(paths: Any, name: str, function: str) -> Any:
    """``paths`` checked as a dask array of paths, in one chunk along time and channel."""
    if not isinstance(paths, da.Array):
        kind = f"{type(paths).__module__}.{type(paths).__qualname__}"
        raise TypeError(
            f"{name} must be a dask array (dask.array.Array) of paths (..., length, dim), got {kind}; wrap an array "
            f"in memory with dask.array.from_array({name}, chunks=...), or call sigrs.{function} on it directly"
        )
    if paths.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (..., length, dim), got shape {paths.shape}")
    if any(math.isnan(s) for s in paths.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {paths.shape}); call {name}.compute_chunk_sizes() first"
        )
    if paths.shape[-2] == 0:
        raise ValueError(f"{name} must have at least one point per path (axis -2), got shape {paths.shape}")
    if paths.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must have dtype float32 or float64, got {paths.dtype}")
    if len(paths.chunks[-2]) > 1 or len(paths.chunks[-1]) > 1:
        paths = paths.rechunk({paths.ndim - 2: -1, paths.ndim - 1: -1})
    return paths


def _check_like(other: Any, name: str, ref: Any, ref_name: str) -> None:
    """``other`` has the dimension and dtype of ``ref``."""
    if other.shape[-1] != ref.shape[-1]:
        raise ValueError(
            f"{ref_name} and {name} must have the same dimension (last axis), got {ref.shape[-1]} and {other.shape[-1]}"
        )
    if other.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of {ref_name} ({ref.dtype}), got {other.dtype}")


def _flat_paths(paths: Any) -> Any:
    """Checked paths with one batch axis (the batch axes flattened in C order, as the in-memory metrics do)."""
    if paths.ndim == 2:
        return paths[None]
    if paths.ndim > 3:
        return paths.reshape((-1,) + paths.shape[-2:])
    return paths


def _count(n: int, name: str, function: str, minimum: int = 2) -> int:
    if n < minimum:
        why = " (the unbiased estimator leaves out the pairs of a path with itself)" if minimum == 2 else ""
        raise ValueError(f"{function} needs at least {minimum} path{'s' if minimum > 1 else ''} in {name}{why}, got {n}")
    return n


def _one_order(kw: dict, function: str) -> None:
    """The pooled passes mirror tiles, which needs ``k(x, y) = k(y, x)``: one dyadic order for both sides
    (the polynomial solver's cells are order 0's on both)."""
    dyadic_order = kw["dyadic_order"]
    (order1, order2), _ = check_method(kw["method"], dyadic_order, kw["order"])
    if order1 != order2:
        raise ValueError(
            f"sigrs.dask.{function} needs one dyadic order for both sides (it solves each pair of a sample once), "
            f"got {dyadic_order!r}; the in-memory sigrs.{function} takes a pair of orders"
        )


def _empty(paths: Any) -> np.ndarray:
    """A batch of no paths shaped like ``paths``'s: what a probe call gets."""
    return np.zeros((0,) + tuple(paths.shape[-2:]), paths.dtype)


# --- blocks and graphs ---------------------------------------------------------------------


def _blocks(paths: Any, batch_ndim: int) -> list:
    """``(block index, key)`` of each block of checked paths, in C order over the batch axes."""
    return [(index, (paths.name, *index, 0, 0)) for index in np.ndindex(*paths.numblocks[:batch_ndim])]


def _add(*values: Any) -> Any:
    """The sum of arrays, or of tuples of arrays (element by element)."""
    if isinstance(values[0], tuple):
        return tuple(_add(*column) for column in zip(*values))
    return functools.reduce(operator.add, values)


def _tree_sum(graph: dict, name: str, leaves: list, root: Any) -> None:
    """Adds ``graph[root] = sum of leaves`` (keys or tasks) through a tree of tasks named ``name``."""
    level = 0
    while True:
        groups = [leaves[i:i + _FAN_IN] for i in range(0, len(leaves), _FAN_IN)]
        if len(groups) == 1:
            graph[root] = (_add, *groups[0])
            return
        leaves = []
        for g, group in enumerate(groups):
            graph[(name, level, g)] = (_add, *group)
            leaves.append((name, level, g))
        level += 1


def _array(graph: dict, name: str, chunks: tuple, dtype: Any, dependencies: list) -> Any:
    return da.Array(
        HighLevelGraph.from_collections(name, graph, dependencies=dependencies), name, chunks,
        meta=np.empty((0,) * len(chunks), dtype),
    )


# --- features ----------------------------------------------------------------------------


def _run_block(function: Callable, names: tuple, device: Optional[str], kwargs: dict, path: Any, *arrays: Any) -> Any:
    """``function`` on one block (and the matching blocks of ``names``' arrays), on ``device`` through torch if given."""
    if device is not None:
        import torch

        def to_device(a: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device)

        out = function(to_device(path), **kwargs, **{n: to_device(a) for n, a in zip(names, arrays)})
        return out.cpu().numpy()
    return function(path, **kwargs, **dict(zip(names, arrays)))


def _batch_aligned(value: Any, name: str, paths: Any, batch_ndim: int) -> Any:
    """An argument with one row per path (``basepoint``, ``initial``) as a dask array chunked like ``paths``."""
    if not isinstance(value, da.Array):
        value = np.asarray(value)
    if value.ndim != batch_ndim + 1 or tuple(value.shape[:batch_ndim]) != tuple(paths.shape[:batch_ndim]):
        raise ValueError(
            f"{name} must have the batch axes of path {tuple(paths.shape[:batch_ndim])} and one more axis, "
            f"got shape {tuple(value.shape)}"
        )
    if value.dtype != paths.dtype:
        raise TypeError(f"{name} must have the dtype of path ({paths.dtype}), got {value.dtype}")
    chunks = paths.chunks[:batch_ndim] + (value.shape[-1],)
    return value.rechunk(chunks) if isinstance(value, da.Array) else da.from_array(value, chunks=chunks)


def _features(function: Callable, name: str, path: Any, device: Optional[str], kwargs: dict, **arrays: Any) -> Any:
    """``function`` on each block of ``path`` (and of the per-path ``arrays``), as a dask array chunked like ``path``."""
    path = _dask_paths(path, "path", name)
    k = path.ndim - 2
    if device is not None and not isinstance(device, str):
        raise TypeError(f"device must be None or a torch device string such as 'cuda', got {type(device).__name__} {device!r}")
    arrays = {n: _batch_aligned(a, n, path, k) for n, a in arrays.items()}
    # The call on no paths checks every argument here, in the client, and gives the output's shape per path.
    probe = function(_empty(path), **kwargs, **{n: np.zeros((0, a.shape[-1]), a.dtype) for n, a in arrays.items()})
    tail = probe.shape[1:]
    batch = tuple(f"batch{i}" for i in range(k))
    out = tuple(f"out{i}" for i in range(len(tail)))
    args: list = [path, batch + ("length", "channel")]
    for i, a in enumerate(arrays.values()):
        args += [a, batch + (f"row{i}",)]
    return da.blockwise(
        functools.partial(_run_block, function, tuple(arrays), device, kwargs), batch + out, *args,
        new_axes=dict(zip(out, tail)), concatenate=True, meta=np.empty((0,) * (k + len(tail)), probe.dtype),
        token=f"sigrs-{name}",
    )


def sig(
    path: Any,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    stream: bool = False,
    basepoint: Any = False,
    inverse: bool = False,
    initial: Any = None,
    scalar_term: bool = False,
    n_jobs: int = 1,
    device: Optional[str] = None,
) -> Any:
    """Truncated signatures of a dask array of paths, one :func:`sigrs.sig` call per block.

    Args:
        path: ``(*batch, length, dim)`` dask array, float32 or float64,
            chunked along the batch axes (chunks along ``length`` and ``dim``
            are merged).
        basepoint: a bool, or one point per path ``(*batch, dim)`` (a dask
            or NumPy array, rechunked like ``path``).
        initial: None, or one signature per path ``(*batch, sig_len)`` (as ``basepoint``).
        degree, time_aug, lead_lag, end_time, stream, inverse, scalar_term:
            as in :func:`sigrs.sig`.
        n_jobs: threads per task (default 1: dask runs tasks in parallel).
        device: None (NumPy blocks, computed as they are), or a torch device
            such as ``"cuda"`` on workers that have one: each block moves there
            as a torch tensor, is computed by sigrs's torch path on that
            device and comes back, so the graph holds NumPy arrays
            throughout. Needs torch on the workers; an operation without GPU
            kernels raises ``sigrs.CudaUnavailableError`` when its task runs.

    Returns:
        A dask array ``(*batch, sig_len)``, or ``(*batch, rows, sig_len)``
        with ``stream``, chunked like ``path`` along the batch axes.

    Example::

        >>> x = da.random.random((1000, 100, 3), chunks=(250, 50, 3))
        >>> s = sigrs.dask.sig(x, 3)
        >>> s.shape, s.chunks
        ((1000, 39), ((250, 250, 250, 250), (39,)))
    """
    kwargs = dict(degree=degree, time_aug=time_aug, lead_lag=lead_lag, end_time=end_time, stream=stream,
                  inverse=inverse, scalar_term=scalar_term, n_jobs=n_jobs)
    arrays = {}
    if isinstance(basepoint, (bool, np.bool_)):
        kwargs["basepoint"] = bool(basepoint)
    else:
        arrays["basepoint"] = basepoint
    if initial is not None:
        arrays["initial"] = initial
    return _features(_sig, "sig", path, device, kwargs, **arrays)


def log_sig(
    path: Any,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    method: Any = 1,
    scalar_term: bool = False,
    n_jobs: int = 1,
    device: Optional[str] = None,
) -> Any:
    """Log-signatures of a dask array of paths, one :func:`sigrs.log_sig` call per block.

    Args:
        path: ``(*batch, length, dim)`` dask array, as in :func:`sig`.
        degree, time_aug, lead_lag, end_time, method, scalar_term: as in :func:`sigrs.log_sig`.
        n_jobs, device: as in :func:`sig`.

    Returns:
        A dask array ``(*batch, log_sig_length(dim, degree, method=method))``,
        chunked like ``path`` along the batch axes.

    Example::

        >>> x = da.random.random((1000, 100, 3), chunks=(250, 100, 3))
        >>> sigrs.dask.log_sig(x, 4, method="lyndon").shape
        (1000, 32)
    """
    kwargs = dict(degree=degree, time_aug=time_aug, lead_lag=lead_lag, end_time=end_time, method=method,
                  scalar_term=scalar_term, n_jobs=n_jobs)
    return _features(_log_sig, "log_sig", path, device, kwargs)


def sig_coef(
    path: Any,
    words: Any,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    prefixes: bool = False,
    n_jobs: int = 1,
    device: Optional[str] = None,
) -> Any:
    """Signature coefficients at chosen words of a dask array of paths, one :func:`sigrs.sig_coef` call per block.

    Args:
        path: ``(*batch, length, dim)`` dask array, as in :func:`sig`.
        words, time_aug, lead_lag, end_time, prefixes: as in :func:`sigrs.sig_coef`.
        n_jobs, device: as in :func:`sig`.

    Returns:
        A dask array ``(*batch, n)``, chunked like ``path`` along the batch axes.

    Example::

        >>> x = da.random.random((1000, 100, 5), chunks=(250, 100, 5))
        >>> sigrs.dask.sig_coef(x, [(0,), (1, 0), (1, 2, 3)]).shape
        (1000, 3)
    """
    kwargs = dict(words=words, time_aug=time_aug, lead_lag=lead_lag, end_time=end_time, prefixes=prefixes, n_jobs=n_jobs)
    return _features(_sig_coef, "sig_coef", path, device, kwargs)


def transform_path(
    path: Any,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = 1,
    device: Optional[str] = None,
) -> Any:
    """Lead-lag and/or time augmentation of a dask array of paths, one :func:`sigrs.transform_path` call per block.

    Args:
        path: ``(*batch, length, dim)`` dask array, as in :func:`sig`.
        time_aug, lead_lag, end_time: as in :func:`sigrs.transform_path`.
        n_jobs, device: as in :func:`sig`.

    Returns:
        A dask array ``(*batch, length', dim')``, chunked like ``path`` along
        the batch axes (one chunk along ``length'`` and ``dim'``).

    Example::

        >>> x = da.random.random((1000, 100, 2), chunks=(250, 100, 2))
        >>> sigrs.dask.transform_path(x, lead_lag=True, time_aug=True).shape
        (1000, 199, 5)
    """
    kwargs = dict(time_aug=time_aug, lead_lag=lead_lag, end_time=end_time, n_jobs=n_jobs)
    return _features(_transform_path, "transform_path", path, device, kwargs)


# --- Gram matrices ---------------------------------------------------------------------------


def _kernel_kwargs(dyadic_order: Any, static_kernel: Any, time_aug: Any, lead_lag: Any, end_time: Any, n_jobs: Any,
                   max_batch: Any, method: Any, order: Any = None) -> dict:
    return dict(dyadic_order=dyadic_order, static_kernel=static_kernel, time_aug=time_aug, lead_lag=lead_lag,
                end_time=end_time, n_jobs=n_jobs, max_batch=max_batch, method=method, order=order)


def _kernel_paths(X: Any, Y: Any, function: str, names: tuple = ("X", "Y")) -> tuple:
    """``(X, Y, same)``: both checked; ``same`` when ``Y`` is None or ``X`` itself (then ``Y`` is the checked ``X``)."""
    same = Y is None or Y is X
    X = _dask_paths(X, names[0], function)
    if same:
        return X, X, True
    Y = _dask_paths(Y, names[1], function)
    _check_like(Y, names[1], X, names[0])
    return X, Y, False


def _probe_kernels(X: Any, Y: Any, kw: dict) -> np.dtype:
    """Checks the kernel arguments in the client (a Gram of no paths); the output dtype."""
    return _sig_kernel_gram(_empty(X), _empty(Y), **kw).dtype


def _self_kernels(kw: dict, x: np.ndarray) -> np.ndarray:
    """``k(x_i, x_i)`` of a block, as the in-memory ``normalize=True`` computes them."""
    kw = {n: v for n, v in kw.items() if n != "max_batch"}
    return _sig_kernel(x, x, **kw)


def _gram_tile(kw: dict, x: np.ndarray, y: Optional[np.ndarray], kxx: Optional[np.ndarray],
               kyy: Optional[np.ndarray]) -> np.ndarray:
    """One tile: ``y`` None is a diagonal tile of a symmetric Gram (the block twice, so sigrs mirrors it too)."""
    tile = _sig_kernel_gram(x, x if y is None else y, **kw)
    if kxx is not None:
        tile = _normalized(tile, kxx[(Ellipsis,) + (None,) * kyy.ndim], kyy[(None,) * kxx.ndim], "sigrs.dask.sig_kernel_gram")
    return tile


def _mirrored(tile: np.ndarray, batch_ndim: int) -> np.ndarray:
    """The tile below the diagonal: the transpose of its mirror's (batch axes of the two sides swapped)."""
    return np.transpose(tile, tuple(range(batch_ndim, 2 * batch_ndim)) + tuple(range(batch_ndim)))


def sig_kernel_gram(
    X: Any,
    Y: Any = None,
    *,
    dyadic_order: Any = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = 1,
    max_batch: int = -1,
    normalize: bool = False,
    method: str = "finite_difference",
    order: Optional[int] = None,
) -> Any:
    """The Gram matrix of signature kernels as a lazily tiled dask array.

    Each tile is one :func:`sigrs.sig_kernel_gram` call on a block of ``X``
    and a block of ``Y``, so a tile holds ``chunk_X x chunk_Y`` kernels and
    a worker needs the memory of a few tiles, however large the Gram. With
    ``Y`` None or ``X`` itself (and one dyadic order), only the tiles on and
    above the diagonal are solved; each tile below is the exact transpose of
    its mirror.

    Args:
        X: ``(*batch_1, length_1, dim)`` dask array of paths, chunked along the
            batch axes (chunks along ``length`` and ``dim`` are merged).
        Y: ``(*batch_2, length_2, dim)`` dask array, the same dtype and
            ``dim``; None for the Gram of ``X`` with itself.
        normalize: divide by ``sqrt(k(x, x) k(y, y))``, with ``k(x, x)``
            computed once per block (by :func:`sigrs.sig_kernel`, as in memory).
        n_jobs: threads per tile (default 1: dask runs tiles in parallel).
        max_batch: pairs solved at a time inside a tile, as in :func:`sigrs.sig_kernel_gram`.
        dyadic_order, static_kernel, time_aug, lead_lag, end_time, method, order:
            as in :func:`sigrs.sig_kernel_gram`. A user-written static kernel
            travels to the workers pickled with the tasks (cloudpickle
            handles classes defined in ``__main__`` or in a function).

    Returns:
        A dask array ``batch_1 + batch_2`` (float dtype of the paths),
        chunked like ``X`` then ``Y`` along their batch axes; equal, tile by
        tile and bit for bit, to the in-memory :func:`sigrs.sig_kernel_gram`.
        NumPy blocks only: signature kernels have no GPU kernels in sigrs yet.

    Example::

        >>> x = da.random.random((4000, 16, 3), chunks=(500, 16, 3))
        >>> gram = sigrs.dask.sig_kernel_gram(x, dyadic_order=0)   # 8 x 8 tiles, 36 solved
        >>> gram.shape, gram.chunksize
        ((4000, 4000), (500, 500))
        >>> top_left = gram[:1000, :1000].compute()   # only the 3 tiles it needs
        >>> top_left.shape
        (1000, 1000)
    """
    X, Y, same = _kernel_paths(X, Y, "sig_kernel_gram")
    normalize = check_bool(normalize, "normalize")
    kw = _kernel_kwargs(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, max_batch, method, order)
    dtype = _probe_kernels(X, Y, kw)
    (order1, order2), _ = check_method(method, dyadic_order, order)
    symmetric = same and order1 == order2
    k1, k2 = X.ndim - 2, Y.ndim - 2
    xs, ys = _blocks(X, k1), _blocks(Y, k2)
    name = f"sigrs-gram-{tokenize(X, Y, kw, normalize, symmetric)}"
    graph: dict = {}
    kxx, kyy = [None] * len(xs), [None] * len(ys)
    if normalize:
        diagonal = f"sigrs-gram-diagonal-{tokenize(name)}"
        for side, blocks in (("x", xs), ("y", () if same else ys)):
            for a, (_, key) in enumerate(blocks):
                graph[(diagonal, side, a)] = (functools.partial(_self_kernels, kw), key)
        kxx = [(diagonal, "x", a) for a in range(len(xs))]
        kyy = kxx if same else [(diagonal, "y", b) for b in range(len(ys))]
    tile = functools.partial(_gram_tile, kw)
    for a, (i, xkey) in enumerate(xs):
        for b, (j, ykey) in enumerate(ys):
            if symmetric and b < a:
                graph[(name, *i, *j)] = (_mirrored, (name, *j, *i), k1)
            elif symmetric and a == b:
                graph[(name, *i, *j)] = (tile, xkey, None, kxx[a], kyy[b])
            else:
                graph[(name, *i, *j)] = (tile, xkey, ykey, kxx[a], kyy[b])
    return _array(graph, name, X.chunks[:k1] + Y.chunks[:k2], dtype, [X] if same else [X, Y])


# --- reductions over a pooled sample ----------------------------------------------------------
# The paths of one or two samples, flattened to one batch axis, are taken
# block by block as one pooled sample. Its Gram matrix is symmetric, so only
# the tiles (a, b) with a <= b are solved, and each is reduced in the task
# that solves it to quadratic forms E_a^T K_ab E_b: E holds, per
# permutation p, one indicator column per group (the first sample and the
# second). Tile results are a few numbers per permutation, added up in a tree.


def _group_weights(labels: Optional[np.ndarray], n: int) -> np.ndarray:
    """``(n, permutations, groups)`` indicators: ``labels`` True for the first
    group, or None for a single group of all paths."""
    if labels is None:
        return np.ones((n, 1, 1))
    return np.stack([labels, ~labels], axis=-1).astype(np.float64)


def _tile_forms(kw: dict, x: np.ndarray, y: Optional[np.ndarray], labels_x: Optional[np.ndarray],
                labels_y: Optional[np.ndarray]) -> tuple:
    """``(forms, diagonal)`` of one tile of the pooled Gram: ``forms[p]`` the
    ``groups x groups`` sums of the tile's off-diagonal entries and of its
    mirror below the diagonal per group pair, ``diagonal[p]`` the sums of
    ``k(z_i, z_i)`` per group (diagonal tiles, ``y`` None, only). The two are
    kept apart, never subtracted: k(z, z) can exceed the other entries by
    many orders of magnitude (see ``sig_metrics._off_diagonal_mean``)."""
    tile = _sig_kernel_gram(x, x if y is None else y, **kw).astype(np.float64)
    wx = _group_weights(labels_x, tile.shape[0])
    wy = wx if y is None else _group_weights(labels_y, tile.shape[1])
    n, permutations, groups = wx.shape
    diagonal = np.zeros((permutations, groups))
    if y is None:
        diagonal = np.einsum("i,ipa->pa", np.diagonal(tile), wx)
        np.fill_diagonal(tile, 0.0)
    weighted = (tile @ wy.reshape(tile.shape[1], permutations * groups)).reshape(n, permutations, groups)
    forms = np.einsum("ipa,ipb->pab", wx, weighted)
    if y is None:
        return forms, diagonal
    return forms + forms.transpose(0, 2, 1), diagonal


def _pooled_forms(blocks: list, labels: Optional[np.ndarray], sizes: list, kw: dict, graph: dict, token: str) -> tuple:
    """Adds to ``graph`` the pass over the pooled tiles; the key of ``(forms, diagonal)`` summed over all tiles."""
    tile = functools.partial(_tile_forms, kw)
    label_keys: list = [None] * len(blocks)
    if labels is not None:
        starts = np.cumsum([0] + list(sizes))
        for a in range(len(blocks)):
            label_keys[a] = (f"sigrs-labels-{token}", a)
            graph[label_keys[a]] = labels[starts[a]:starts[a + 1]]
    tiles = f"sigrs-pooled-tile-{token}"
    for a in range(len(blocks)):
        for b in range(a, len(blocks)):
            graph[(tiles, a, b)] = (tile, blocks[a], None if a == b else blocks[b], label_keys[a], label_keys[b])
    root = (f"sigrs-pooled-sum-{token}",)
    _tree_sum(graph, f"sigrs-pooled-partial-{token}", [(tiles, a, b) for a in range(len(blocks)) for b in range(a, len(blocks))], root)
    return root


def _mmd_from_forms(m: int, n: int, unbiased: bool, dtype: np.dtype, shape: tuple, totals: tuple) -> np.ndarray:
    """The MMD estimator per permutation from the pooled totals (the first
    group's ``m`` paths against the second's ``n``)."""
    forms, diagonal = totals
    xx, yy, xy = forms[:, 0, 0], forms[:, 1, 1], forms[:, 0, 1]
    if unbiased:
        res = xx / (m * (m - 1)) - 2.0 * xy / (m * n) + yy / (n * (n - 1))
    else:
        res = (xx + diagonal[:, 0]) / (m * m) - 2.0 * xy / (m * n) + (yy + diagonal[:, 1]) / (n * n)
    return res.astype(dtype).reshape(shape)


def _two_samples(X: Any, Y: Any, function: str, kw: dict, unbiased: Any, names: tuple = ("X", "Y")) -> tuple:
    """``(X, Y, m, n, unbiased)``: both samples checked and flattened to one batch axis."""
    unbiased = check_bool(unbiased, "unbiased")
    X = _flat_paths(_dask_paths(X, names[0], function))
    Y = _flat_paths(_dask_paths(Y, names[1], function))
    _check_like(Y, names[1], X, names[0])
    _one_order(kw, function)
    minimum = 2 if unbiased else 1
    m = _count(X.shape[0], names[0], function, minimum)
    n = _count(Y.shape[0], names[1], function, minimum)
    return X, Y, m, n, unbiased


def _pooled_blocks(X: Any, Y: Any) -> tuple:
    """``(keys, sizes)`` of the blocks of ``X`` then ``Y`` (one batch axis each)."""
    keys = [key for _, key in _blocks(X, 1)] + [key for _, key in _blocks(Y, 1)]
    return keys, list(X.chunks[0]) + list(Y.chunks[0])


def sig_mmd(
    X: Any,
    Y: Any,
    *,
    dyadic_order: Any = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = 1,
    max_batch: int = -1,
    unbiased: bool = True,
    method: str = "finite_difference",
    order: Optional[int] = None,
) -> Any:
    """The squared signature-kernel MMD of two samples, without holding their Gram matrices.

    The unbiased estimator (the default, :func:`sigrs.sig_mmd`'s)::

        1/(m(m-1)) sum_{i != j} k(x_i, x_j) - 2/(mn) sum_{i,j} k(x_i, y_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)

    or with ``unbiased=False`` the biased one (the V-statistic, every pair
    including ``i = j``, divided by ``m^2``, ``mn``, ``n^2``). The pooled
    sample's tiles on and above the diagonal are solved, each reduced to a
    few sums in its own task.

    Args:
        X: ``(*batch_1, length_1, dim)`` dask array, ``m = prod(batch_1)`` paths
            (at least 2 for the unbiased estimator).
        Y: ``(*batch_2, length_2, dim)`` dask array, ``n`` paths, the same dtype and ``dim``.
        dyadic_order: one order (an int, or an equal pair) for both samples.
        static_kernel, time_aug, lead_lag, end_time, method, order: as in :func:`sigrs.sig_mmd`.
        n_jobs, max_batch: per tile, as in :func:`sig_kernel_gram`.

    Returns:
        A lazy 0-d dask array (the paths' dtype), equal to
        :func:`sigrs.sig_mmd` to rounding (about 1e-15 relative to the kernels' sums).

    Example::

        >>> x = da.random.random((2000, 30, 3), chunks=(500, 30, 3))
        >>> y = da.random.random((1500, 30, 3), chunks=(500, 30, 3))
        >>> float(sigrs.dask.sig_mmd(x, y, dyadic_order=1).compute())   # doctest: +SKIP
    """
    kw = _kernel_kwargs(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, max_batch, method, order)
    X, Y, m, n, unbiased = _two_samples(X, Y, "sig_mmd", kw, unbiased)
    dtype = _probe_kernels(X, Y, kw)
    keys, sizes = _pooled_blocks(X, Y)
    labels = np.arange(m + n)[:, None] < m
    token = tokenize(X, Y, kw, unbiased)
    graph: dict = {}
    totals = _pooled_forms(keys, labels, sizes, kw, graph, token)
    name = f"sigrs-mmd-{token}"
    graph[(name,)] = (_mmd_from_forms, m, n, unbiased, dtype, (), totals)
    return _array(graph, name, (), dtype, [X, Y])


class MMDTestResult(NamedTuple):
    """What :func:`mmd_permutation_test` returns."""

    #: The MMD estimate of the two samples as given.
    statistic: float
    #: ``(1 + #{p: permuted[p] >= statistic}) / (1 + n_permutations)``.
    p_value: float
    #: ``(n_permutations,)``: the estimate for each permutation of the pooled sample.
    permuted: np.ndarray


def permutation_labels(m: int, n: int, n_permutations: int, seed: Any) -> np.ndarray:
    """``(m + n, n_permutations)`` booleans: column ``p`` marks the pooled
    paths that permutation ``p`` puts in the first sample.

    Permutation ``p`` is the ``p``-th ``rng.permutation(m + n)`` of
    ``rng = np.random.default_rng(seed)``; its first ``m`` entries index the
    first sample (the pooled sample is ``X``'s paths, then ``Y``'s, each in C order).

    Example::

        >>> sigrs.dask.permutation_labels(2, 3, 4, seed=0).shape
        (5, 4)
    """
    rng = np.random.default_rng(seed)
    labels = np.zeros((m + n, n_permutations), dtype=bool)
    for p in range(n_permutations):
        labels[rng.permutation(m + n)[:m], p] = True
    return labels


def mmd_permutation_test(
    X: Any,
    Y: Any,
    *,
    n_permutations: int = 1000,
    seed: Any = None,
    dyadic_order: Any = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = 1,
    max_batch: int = -1,
    unbiased: bool = True,
    method: str = "finite_difference",
    order: Optional[int] = None,
) -> MMDTestResult:
    """A permutation two-sample test with the signature-kernel MMD, every permutation in one pass over the tiles.

    The statistic is :func:`sig_mmd` of ``X`` and ``Y``. Under the null
    hypothesis (both samples from one distribution) relabelling the pooled
    sample leaves its distribution unchanged, so the statistic is compared
    with its values on ``n_permutations`` random relabellings. Each tile of
    the pooled Gram matrix is solved once and reduced, for all permutations
    at once, to ``w_a^T K_ab w_b`` for the group indicators ``w`` of each
    permutation: the cost is one Gram matrix (its upper triangle) plus
    ``4 n_permutations`` multiply-adds per pair, and no task holds more than
    one tile and its blocks' labels.

    The p-value is ``(1 + #{p: permuted[p] >= statistic}) / (1 + n_permutations)``,
    which counts the observed labelling as one of the permutations (so it is
    never 0, and the test at level ``alpha`` has size at most ``alpha``).

    Args:
        X, Y: dask arrays of paths, as in :func:`sig_mmd`.
        n_permutations: how many relabellings (>= 1).
        seed: what ``np.random.default_rng`` takes; the permutations are
            those of :func:`permutation_labels`.
        unbiased: the estimator, as in :func:`sig_mmd`.
        Other arguments: as in :func:`sig_mmd`.

    Returns:
        :class:`MMDTestResult` ``(statistic, p_value, permuted)``. Unlike the
        other functions here, this one computes (on the current dask
        scheduler, a ``distributed.Client`` if one is active): its result is
        a decision, not an array. The permutations' labels, ``(m + n) x
        n_permutations`` bytes, are built in the client.

    Example::

        >>> x = da.random.random((200, 20, 2), chunks=(100, 20, 2))
        >>> y = da.random.random((200, 20, 2), chunks=(100, 20, 2)) * 1.5
        >>> result = sigrs.dask.mmd_permutation_test(x, y, dyadic_order=0, n_permutations=200, seed=0)
        >>> result.p_value < 0.05   # doctest: +SKIP
    """
    n_permutations = check_int(n_permutations, "n_permutations", minimum=1)
    kw = _kernel_kwargs(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, max_batch, method, order)
    X, Y, m, n, unbiased = _two_samples(X, Y, "mmd_permutation_test", kw, unbiased)
    _probe_kernels(X, Y, kw)
    keys, sizes = _pooled_blocks(X, Y)
    observed = np.arange(m + n)[:, None] < m
    labels = np.concatenate([observed, permutation_labels(m, n, n_permutations, seed)], axis=1)
    token = tokenize(X, Y, kw, unbiased, labels)
    graph: dict = {}
    totals = _pooled_forms(keys, labels, sizes, kw, graph, token)
    name = f"sigrs-mmd-permutations-{token}"
    graph[(name, 0)] = (_mmd_from_forms, m, n, unbiased, np.dtype(np.float64), (n_permutations + 1,), totals)
    (estimates,) = dask.compute(_array(graph, name, ((n_permutations + 1,),), np.float64, [X, Y]))
    statistic, permuted = float(estimates[0]), estimates[1:]
    p_value = (1 + int(np.count_nonzero(permuted >= statistic))) / (1 + n_permutations)
    return MMDTestResult(statistic, p_value, permuted)


def _column_sums(kw: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sum_i k(x_i, y_j)`` for each path ``y_j`` of a block."""
    return _sig_kernel_gram(x, y, **kw).sum(axis=0)


def _scores(lam: float, m: int, dtype: np.dtype, self_totals: tuple, cross: np.ndarray) -> np.ndarray:
    """The score of each ``y`` (:func:`sigrs.sig_score`'s formula, in its order)."""
    forms, _ = self_totals
    off_diagonal_mean = forms[0, 0, 0] / (m * (m - 1))
    return (lam * off_diagonal_mean - cross * (2.0 / m)).astype(dtype)


def _dask_scores(sample: Any, y: Any, names: tuple, kwargs: dict, lam: Any) -> tuple:
    """``(scores, batch_y)``: the flat scores of each path of ``y`` (a dask array chunked like ``y``'s flat batch)."""
    sample_name, y_name, function = names
    lam = check_real(lam, "lam")
    _one_order(kwargs, function)
    sample = _flat_paths(_dask_paths(sample, sample_name, function))
    y = _dask_paths(y, y_name, function)
    batch_y = y.shape[:-2]
    y = _flat_paths(y)
    _check_like(y, y_name, sample, sample_name)
    m = _count(sample.shape[0], sample_name, function)
    dtype = _probe_kernels(sample, y, kwargs)
    token = tokenize(sample, y, kwargs, lam)
    graph: dict = {}
    xs = [key for _, key in _blocks(sample, 1)]
    self_totals = _pooled_forms(xs, None, list(sample.chunks[0]), kwargs, graph, token)
    name = f"sigrs-{function.replace('_', '-')}-{token}"
    cross = functools.partial(_column_sums, kwargs)
    for b, (_, ykey) in enumerate(_blocks(y, 1)):
        leaves = [(cross, xkey, ykey) for xkey in xs]
        column = (f"sigrs-score-cross-{token}", b)
        _tree_sum(graph, f"sigrs-score-cross-partial-{token}-{b}", leaves, column)
        graph[(name, b)] = (_scores, lam, m, dtype, self_totals, column)
    return _array(graph, name, (y.chunks[0],), dtype, [sample, y]), batch_y


def sig_score(
    sample: Any,
    y: Any,
    *,
    dyadic_order: Any = None,
    lam: float = 1.0,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = 1,
    max_batch: int = -1,
    method: str = "finite_difference",
    order: Optional[int] = None,
) -> Any:
    """The signature kernel score of a sample against each path ``y``, without holding the Gram matrices.

    For each ``y`` (:func:`sigrs.sig_score`'s unbiased estimator)::

        score(y) = lam/(m(m-1)) sum_{i != j} k(x_i, x_j) - 2/m sum_i k(x_i, y)

    Args:
        sample: ``(*batch, length_1, dim)`` dask array, ``m >= 2`` paths.
        y: ``(*batch_y, length_2, dim)`` or ``(length_2, dim)`` dask array.
        dyadic_order: one order for both sides.
        lam, static_kernel, time_aug, lead_lag, end_time, method, order: as in :func:`sigrs.sig_score`.
        n_jobs, max_batch: per tile, as in :func:`sig_kernel_gram`.

    Returns:
        A lazy dask array ``batch_y`` (``(1,)`` for one path), chunked like
        ``y``'s batch (flattened to one axis, then reshaped); equal to
        :func:`sigrs.sig_score` to rounding.

    Example::

        >>> x = da.random.random((2000, 30, 3), chunks=(500, 30, 3))
        >>> y = da.random.random((10, 30, 3), chunks=(5, 30, 3))
        >>> sigrs.dask.sig_score(x, y, dyadic_order=1).shape
        (10,)
    """
    kwargs = _kernel_kwargs(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, max_batch, method, order)
    scores, batch_y = _dask_scores(sample, y, ("sample", "y", "sig_score"), kwargs, lam)
    return scores.reshape(batch_y) if len(batch_y) > 1 else scores


def expected_sig_score(
    sample1: Any,
    sample2: Any,
    *,
    dyadic_order: Any = None,
    lam: float = 1.0,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = 1,
    max_batch: int = -1,
    method: str = "finite_difference",
    order: Optional[int] = None,
) -> Any:
    """The signature kernel score of ``sample1`` averaged over the paths of ``sample2`` (:func:`sigrs.expected_sig_score`).

    Args:
        sample1: ``(*batch_1, length_1, dim)`` dask array, ``m >= 2`` paths.
        sample2: ``(*batch_2, length_2, dim)`` dask array, ``n >= 1`` paths.
        Other arguments: as in :func:`sig_score`.

    Returns:
        A lazy dask array of shape ``(1,)``, equal to :func:`sigrs.expected_sig_score` to rounding.

    Example::

        >>> x = da.random.random((2000, 30, 3), chunks=(500, 30, 3))
        >>> sigrs.dask.expected_sig_score(x, x[:100] + 0.1, dyadic_order=1).shape
        (1,)
    """
    kwargs = _kernel_kwargs(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, max_batch, method, order)
    scores, _ = _dask_scores(sample1, sample2, ("sample1", "sample2", "expected_sig_score"), kwargs, lam)
    return scores.mean().reshape(1)


# --- gradients ---------------------------------------------------------------------------------
# A tile's gradient is one sigrs.sig_kernel_gram_backprop call; each block's
# gradient is the sum, over the tiles it is part of, of its side's result.


def _backprop_kwargs(kw: dict, left: bool, right: bool) -> dict:
    return dict(kw, left_deriv=left, right_deriv=right)


def _tile_grads(kw: dict, derivs: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple:
    """``(d_x, d_y)`` of one tile, None for a side not asked for."""
    return _sig_kernel_gram_backprop(derivs, x, y, **kw)


def _symmetric_tile_grads(kw: dict, x: np.ndarray, y: Optional[np.ndarray], derivs: np.ndarray) -> tuple:
    """A tile at or above the diagonal of a symmetric Gram, for the derivatives of
    the tile and its mirror together (``derivs``, laid out as the tile):
    ``(d_x, d_y)``, or ``(d_x, None)`` on the diagonal (``y`` None), where
    ``k(x_i, x_j) = k(x_j, x_i)`` lets the left side carry both."""
    if y is None:
        return _sig_kernel_gram_backprop(derivs, x, x, **_backprop_kwargs(kw, True, False))
    return _sig_kernel_gram_backprop(derivs, x, y, **_backprop_kwargs(kw, True, True))


def _from_derivs(kw: dict, batch_ndim: int, x: np.ndarray, y: Optional[np.ndarray], derivs: np.ndarray,
                 mirror_derivs: np.ndarray) -> tuple:
    """:func:`_symmetric_tile_grads` with the tile's derivatives and its mirror's (transposed onto it)."""
    return _symmetric_tile_grads(kw, x, y, derivs + _mirrored(mirror_derivs, batch_ndim))


def _from_constant(kw: dict, value: float, zero_diagonal: bool, x: np.ndarray, y: Optional[np.ndarray]) -> tuple:
    """:func:`_symmetric_tile_grads` with the same derivative (tile and mirror
    together) for every pair; none for ``k(z_i, z_i)`` with ``zero_diagonal``."""
    n1 = x.shape[0]
    n2 = n1 if y is None else y.shape[0]
    derivs = np.full((n1, n2), value, x.dtype)
    if y is None and zero_diagonal:
        np.fill_diagonal(derivs, 0)
    return _symmetric_tile_grads(kw, x, y, derivs)


def _pick(side: int, value: tuple) -> Any:
    return value[side]


def _symmetric_backprop(graph: dict, blocks: list, tile_task: Callable, token: str) -> list:
    """Adds to ``graph`` the gradients of a symmetric Gram through its tiles
    ``a <= b`` (``tile_task(a, b)`` is the task of one); the key of each block's sum."""
    tiles = f"sigrs-grad-tile-{token}"
    for a in range(len(blocks)):
        for b in range(a, len(blocks)):
            graph[(tiles, a, b)] = tile_task(a, b)
    sums = []
    for c in range(len(blocks)):
        leaves = [(_pick, 0, (tiles, c, b)) for b in range(c, len(blocks))]
        leaves += [(_pick, 1, (tiles, a, c)) for a in range(c)]
        sums.append((f"sigrs-grad-sum-{token}", c))
        _tree_sum(graph, f"sigrs-grad-partial-{token}-{c}", leaves, sums[-1])
    return sums


def _gradient_array(graph: dict, sums: list, indices: list, paths: Any, dependencies: list, token: str, what: str) -> Any:
    """The gradient blocks (``sums``, at the batch block ``indices`` of ``paths``) as a dask array chunked like ``paths``."""
    name = f"sigrs-{what}-{token}"
    for index, key in zip(indices, sums):
        graph[(name, *index, 0, 0)] = key
    return _array(graph, name, paths.chunks, paths.dtype, dependencies)


def sig_kernel_gram_backprop(
    derivs: Any,
    X: Any,
    Y: Any = None,
    *,
    dyadic_order: Any = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    left_deriv: bool = True,
    right_deriv: bool = False,
    n_jobs: int = 1,
    max_batch: int = -1,
    method: str = "finite_difference",
    order: Optional[int] = None,
) -> tuple:
    """Gradients through :func:`sig_kernel_gram`, tile by tile, as dask arrays.

    Each tile is one :func:`sigrs.sig_kernel_gram_backprop` call with its
    block of ``derivs``; each block's gradient is the sum over its tiles.

    Args:
        derivs: dF/dG, a dask array ``batch_1 + batch_2`` of the paths'
            dtype (rechunked like the Gram if it is not).
        X, Y: dask arrays of paths, as in :func:`sig_kernel_gram`.
            ``Y`` None: the Gram of ``X`` with itself, whose gradient reaches
            ``X`` through both sides; only the tiles on and above the
            diagonal are solved, with the derivatives of each and of its
            mirror together (one dyadic order). ``Y`` given (``X`` itself
            too): the two sides apart, as :func:`sigrs.sig_kernel_gram_backprop`.
        left_deriv, right_deriv: which sides to differentiate, with ``Y``
            given (ignored with ``Y`` None, where ``X`` is both).
        Other arguments: as in :func:`sig_kernel_gram`.

    Returns:
        ``(dF/dX or None, dF/dY or None)``, lazy dask arrays chunked like
        the paths (one chunk along ``length`` and ``dim``); ``(dF/dX, None)``
        with ``Y`` None. Equal to the in-memory gradients to rounding.

    Example::

        >>> x = da.random.random((1000, 20, 3), chunks=(250, 20, 3))
        >>> y = da.random.random((600, 20, 3), chunks=(300, 20, 3))
        >>> ones = da.ones((1000, 600), chunks=(250, 300))
        >>> gx, gy = sigrs.dask.sig_kernel_gram_backprop(ones, x, y, dyadic_order=0, right_deriv=True)
        >>> gx.shape, gy.shape
        ((1000, 20, 3), (600, 20, 3))
    """
    whole = Y is None
    X, Y, _ = _kernel_paths(X, Y, "sig_kernel_gram_backprop")
    left, right = (True, True) if whole else (check_bool(left_deriv, "left_deriv"), check_bool(right_deriv, "right_deriv"))
    if not (left or right):
        raise ValueError("left_deriv and right_deriv are both False: ask for at least one side's gradient")
    kw = _kernel_kwargs(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, max_batch, method, order)
    _probe_kernels(X, Y, kw)
    k1, k2 = X.ndim - 2, Y.ndim - 2
    derivs = _gram_derivs(derivs, X, Y, k1, k2)
    (order1, order2), _ = check_method(method, dyadic_order, order)
    token = tokenize(derivs, X, Y, kw, whole, left, right)
    graph: dict = {}
    xs, ys = _blocks(X, k1), _blocks(Y, k2)
    if whole and order1 == order2:
        keys = [key for _, key in xs]

        def tile_task(a: int, b: int) -> tuple:
            i, j = xs[a][0], xs[b][0]
            mirror_tile = (derivs.name, *j, *i)
            return (functools.partial(_from_derivs, kw, k1), keys[a], None if a == b else keys[b], (derivs.name, *i, *j), mirror_tile)

        sums = _symmetric_backprop(graph, keys, tile_task, token)
        return _gradient_array(graph, sums, [i for i, _ in xs], X, [X, derivs], token, "gram-grad"), None
    tiles = f"sigrs-gram-grad-tile-{token}"
    tile = functools.partial(_tile_grads, _backprop_kwargs(kw, left, right))
    for a, (i, xkey) in enumerate(xs):
        for b, (j, ykey) in enumerate(ys):
            graph[(tiles, a, b)] = (tile, (derivs.name, *i, *j), xkey, ykey)
    grads = []
    for side, blocks, other, paths in ((0, xs, ys, X), (1, ys, xs, Y)):
        if not (left, right)[side]:
            grads.append(None)
            continue
        sums = []
        for c in range(len(blocks)):
            sums.append((f"sigrs-gram-grad-sum-{token}", side, c))
            pairs = [(c, o) if side == 0 else (o, c) for o in range(len(other))]
            _tree_sum(graph, f"sigrs-gram-grad-partial-{token}-{side}-{c}", [(_pick, side, (tiles, *p)) for p in pairs], sums[-1])
        grads.append(_gradient_array(graph, sums, [i for i, _ in blocks], paths, [X, Y, derivs], f"{token}-{side}", "gram-grad"))
    if whole:
        # two dyadic orders: the sides differ, and X is both
        return grads[0] + grads[1], None
    return grads[0], grads[1]


def _gram_derivs(derivs: Any, X: Any, Y: Any, k1: int, k2: int) -> Any:
    """``derivs`` checked against the Gram of ``X`` and ``Y`` and chunked like it."""
    if not isinstance(derivs, da.Array):
        kind = f"{type(derivs).__module__}.{type(derivs).__qualname__}"
        raise TypeError(f"derivs must be a dask array shaped like the Gram matrix, got {kind}; wrap it with dask.array.from_array")
    expected = tuple(X.shape[:k1]) + tuple(Y.shape[:k2])
    if tuple(derivs.shape) != expected:
        raise ValueError(f"derivs must have shape {expected} (like the Gram matrix), got {tuple(derivs.shape)}")
    if derivs.dtype != X.dtype:
        raise TypeError(f"derivs must have the dtype of X ({X.dtype}), got {derivs.dtype}")
    chunks = X.chunks[:k1] + Y.chunks[:k2]
    return derivs if derivs.chunks == chunks else derivs.rechunk(chunks)


def sig_mmd_backprop(
    derivs: Any,
    X: Any,
    Y: Any,
    *,
    dyadic_order: Any = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = 1,
    max_batch: int = -1,
    unbiased: bool = True,
    method: str = "finite_difference",
    order: Optional[int] = None,
) -> tuple:
    """Gradients of :func:`sig_mmd` with respect to both samples, tile by tile.

    The tiles on and above the diagonal of the pooled Gram matrix are
    differentiated with the MMD's derivative for each pair (``1/(m(m-1))``
    within ``X``, ``1/(n(n-1))`` within ``Y``, ``-1/(mn)`` across; none for
    ``k(z_i, z_i)`` with the unbiased estimator), one
    :func:`sigrs.sig_kernel_gram_backprop` call per tile.

    Args:
        derivs: dF/dMMD: a real number or a 0-d (NumPy or dask) array.
        X, Y, unbiased and the other arguments: as given to :func:`sig_mmd`.

    Returns:
        ``(dF/dX, dF/dY)``: lazy dask arrays shaped like ``X`` and ``Y``,
        chunked like them along the batch (one chunk along ``length`` and
        ``dim``); equal to torch autograd through :func:`sigrs.sig_mmd` to rounding.

    Example::

        >>> x = da.random.random((400, 20, 3), chunks=(200, 20, 3))
        >>> y = da.random.random((300, 20, 3), chunks=(150, 20, 3))
        >>> gx, gy = sigrs.dask.sig_mmd_backprop(1.0, x, y, dyadic_order=0)
        >>> gx.shape, gy.shape
        ((400, 20, 3), (300, 20, 3))
    """
    if isinstance(derivs, (da.Array, np.ndarray)):
        if derivs.ndim != 0:
            raise ValueError(f"derivs must be a real number or a 0-d array (dF/dMMD), got shape {derivs.shape}")
    else:
        derivs = check_real(derivs, "derivs")
    shape_x, shape_y = getattr(X, "shape", None), getattr(Y, "shape", None)
    kw = _kernel_kwargs(dyadic_order, static_kernel, time_aug, lead_lag, end_time, n_jobs, max_batch, method, order)
    X, Y, m, n, unbiased = _two_samples(X, Y, "sig_mmd_backprop", kw, unbiased)
    _probe_kernels(X, Y, kw)
    keys, _ = _pooled_blocks(X, Y)
    first = X.numblocks[0]
    within = (1.0 / (m * (m - 1)), 1.0 / (n * (n - 1))) if unbiased else (1.0 / (m * m), 1.0 / (n * n))
    across = -1.0 / (m * n)

    def tile_task(a: int, b: int) -> tuple:
        group_a, group_b = a >= first, b >= first
        value = 2.0 * (within[group_a] if group_a == group_b else across)
        return (functools.partial(_from_constant, kw, value, unbiased), keys[a], None if a == b else keys[b])

    token = tokenize(X, Y, kw, unbiased)
    graph: dict = {}
    sums = _symmetric_backprop(graph, keys, tile_task, token)
    gx = _gradient_array(graph, sums[:first], [(a,) for a in range(first)], X, [X, Y], token, "mmd-grad-x")
    gy = _gradient_array(graph, sums[first:], [(b,) for b in range(len(keys) - first)], Y, [X, Y], token, "mmd-grad-y")
    if not (isinstance(derivs, float) and derivs == 1.0):
        gx, gy = gx * derivs, gy * derivs
    return gx.reshape(shape_x), gy.reshape(shape_y)
