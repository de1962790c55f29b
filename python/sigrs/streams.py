"""Streaming signatures and log-signatures: a growing path queried over any interval, and sliding windows.

The signature classes keep prefix signatures ``S(0, t)`` and answer every query with
Chen's identity ``S(a, b) = S(0, a)^{-1} (x) S(0, b)``. They hold no maths
of their own: every signature comes from :func:`sigrs.sig` (``stream=True``
with ``initial``), :func:`sigrs.sig_inverse` and :func:`sigrs.sig_combine`,
so NumPy and torch (with autograd) both work, in float32 and float64.
:class:`LogSigStream` and :class:`LogSigWindowStream` give log-signatures in
the Lyndon basis the same way, through :func:`sigrs.sig_to_log_sig` and
:func:`sigrs.log_sig_combine`.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
from collections import deque
from typing import Any, Deque, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._arrays import as_array, concat, is_torch
from ._checks import check_bool, check_degree, check_int, check_n_jobs
from .algebra import sig_combine, sig_inverse
from .logsig import check_method, log_sig_combine, sig_to_log_sig
from .signature import sig as _sig

__all__ = ["SigStream", "SigWindowStream", "LogSigStream", "LogSigWindowStream"]

Array = Any  # numpy.ndarray or torch.Tensor


# ---------------------------------------------------------------------------
# NumPy / torch plumbing (no arithmetic on signatures here)
# ---------------------------------------------------------------------------

def _as_points(x: Any, name: str) -> Array:
    """``x`` as a float32/float64 ndarray or tensor, converted as :func:`sigrs.sig` converts it
    (lists, integers, other byte orders, ndarray subclasses such as ``np.matrix``)."""
    if is_torch(x):
        import torch

        if x.dtype is not torch.float64 and x.dtype is not torch.float32:
            raise TypeError(f"{name} must have dtype torch.float32 or torch.float64, got {x.dtype}")
        return x
    return as_array(x, name, 0)


def _fresh_containers(value: Any) -> Any:
    """``value`` with its lists, deques, dicts and row stores copied (all the
    way down), sharing the arrays in them: the streams replace arrays but
    never write into them, so a copy that owns its containers is independent."""
    if isinstance(value, list):
        return [_fresh_containers(v) for v in value]
    if isinstance(value, deque):
        return deque(_fresh_containers(v) for v in value)
    if isinstance(value, dict):
        return {k: _fresh_containers(v) for k, v in value.items()}
    if isinstance(value, _Rows):
        new = object.__new__(_Rows)
        new.__dict__.update(_fresh_containers(value.__dict__))
        return new
    return value


class _CopyableStream:
    """``copy.copy`` of a stream: a stream that grows and shrinks on its own
    (the stored signatures are shared, not copied)."""

    def __copy__(self):
        new = object.__new__(type(self))
        new.__dict__.update(_fresh_containers(self.__dict__))
        return new


def _kind(x: Array) -> Tuple[bool, Any, Any]:
    """What must stay the same from push to push: (is torch, dtype, device)."""
    return (True, x.dtype, x.device) if is_torch(x) else (False, x.dtype, None)


def _describe(kind: Tuple[bool, Any, Any]) -> str:
    torch_, dtype, device = kind
    return f"a torch tensor of dtype {dtype} on {device}" if torch_ else f"a NumPy array of dtype {dtype}"


def _time_first(x: Array) -> Array:
    """``(..., n, sig_len) -> (n, ..., sig_len)`` (a view)."""
    return x.movedim(-2, 0) if is_torch(x) else np.moveaxis(x, -2, 0)


def _take(x: Array, rows: np.ndarray) -> Array:
    """Rows ``rows`` of axis 0 (a new array; differentiable for torch)."""
    if is_torch(x):
        import torch

        return x[torch.as_tensor(rows, dtype=torch.long, device=x.device)]
    return x[rows]


def _copy(x: Array) -> Array:
    """An owning copy (so a small view does not pin a large buffer, and users
    cannot change the stream by writing into what they pushed)."""
    return x.clone() if is_torch(x) else np.array(x, copy=True)


def _broadcast(x: Array, shape: tuple) -> Array:
    """``x`` (a single signature per batch entry) repeated along a new leading axis."""
    if is_torch(x):
        return x.expand(shape).contiguous()
    return np.ascontiguousarray(np.broadcast_to(x, shape))


def _check_points(points: Array, dimension: int, batch_shape: Optional[tuple], method: str, single: bool) -> tuple:
    """Checks ``(..., dimension)`` (single) or ``(..., n, dimension)``; returns the batch shape."""
    expected = f"(..., {dimension})" if single else f"(..., n_points, {dimension})"
    what = "a point" if single else "points"
    min_ndim = 1 if single else 2
    shape = tuple(points.shape)
    if len(shape) < min_ndim or shape[-1] != dimension:
        raise ValueError(f"{method} expects {what} of shape {expected}, got shape {shape}")
    batch = shape[:-1] if single else shape[:-2]
    if batch_shape is not None and batch != batch_shape:
        raise ValueError(
            f"{method}: {what} of shape {shape} have batch shape {batch}, but the stream's batch shape, "
            f"locked in by the first push, is {batch_shape}"
        )
    return batch


_EAGER_MERGE = 1 << 15
"""The most numbers a chunk merged on append may hold: a copy that torch runs
on one thread and that costs less than the sigrs call of a push."""


class _Rows:
    """Prefix signatures stored time-first as a list of chunks ``(n_i, *batch, sig_len)``.

    Appending never rewrites what is stored (so torch autograd sees no
    in-place writes). Chunks merge like the digits of a binary counter (a
    chunk absorbs the next one while that one's size class, ``bit_length``,
    is not smaller), which keeps O(log n) chunks and copies each row O(log n)
    times. Merges into chunks of at most ``_EAGER_MERGE`` numbers happen on
    append, so many small pushes keep few chunks; bigger ones wait for a
    :meth:`gather`, the one reader that wants few chunks, so a store that is
    only appended to and read by :meth:`row` never copies a big chunk.
    """

    def __init__(self) -> None:
        self._chunks: List[Array] = []
        self._sizes: List[int] = []
        self._offset = 0  # rows of chunks[0] already dropped
        self._starts: Optional[List[int]] = None  # chunk start rows, cached

    def __len__(self) -> int:
        return sum(self._sizes) - self._offset

    def append(self, chunk: Array) -> None:
        self._chunks.append(chunk)
        self._sizes.append(int(chunk.shape[0]))
        self._starts = None
        while (len(self._sizes) >= 2 and self._sizes[-2].bit_length() <= self._sizes[-1].bit_length()
               and math.prod(self._chunks[-2].shape) + math.prod(self._chunks[-1].shape) <= _EAGER_MERGE):
            if len(self._sizes) == 2 and self._offset:
                self._compact()
            right = self._chunks.pop()
            self._sizes.pop()
            self._chunks[-1] = concat([self._chunks[-1], right], 0)
            self._sizes[-1] = int(self._chunks[-1].shape[0])

    def _merge(self) -> None:
        """Makes every merge that appending left for later, with one copy per merged chunk."""
        groups: List[List[Array]] = []
        sizes: List[int] = []
        for chunk, size in zip(self._chunks, self._sizes):
            groups.append([chunk])
            sizes.append(size)
            while len(sizes) >= 2 and sizes[-2].bit_length() <= sizes[-1].bit_length():
                right, size = groups.pop(), sizes.pop()
                groups[-1] += right
                sizes[-1] += size
        if len(groups) == len(self._chunks):
            return
        if len(groups[0]) > 1 and self._offset:  # drop those rows rather than copy them
            groups[0][0] = groups[0][0][self._offset:]
            sizes[0] -= self._offset
            self._offset = 0
        self._chunks = [group[0] if len(group) == 1 else concat(group, 0) for group in groups]
        self._sizes = sizes
        self._starts = None

    def last(self) -> Array:
        return self._chunks[-1][-1]

    def row(self, i: int) -> Array:
        """Row ``i`` (counted from the first kept row), a view: one query needs no gather."""
        i += self._offset
        if len(self._chunks) == 1:
            return self._chunks[0][i]
        c = bisect.bisect_right(self._chunk_starts(), i) - 1
        return self._chunks[c][i - self._starts[c]]

    def _chunk_starts(self) -> List[int]:
        if self._starts is None:
            self._starts = list(itertools.accumulate(self._sizes[:-1], initial=0))
        return self._starts

    def select(self, index: Any) -> "_Rows":
        """The same rows for the batch entries ``index`` of axis 1 (shares nothing that is ever written)."""
        new = copy.copy(self)
        new._chunks = [chunk[:, index] for chunk in self._chunks]
        new._sizes = list(self._sizes)
        return new

    def drop_front(self, count: int) -> None:
        self._offset += count
        while self._offset >= self._sizes[0]:
            self._offset -= self._sizes.pop(0)
            self._chunks.pop(0)
        if 2 * self._offset > self._sizes[0]:
            self._compact()
        self._starts = None

    def _compact(self) -> None:
        """Copies what is left of the first chunk, freeing the rows dropped from it."""
        self._chunks[0] = _copy(self._chunks[0][self._offset:])
        self._sizes[0] -= self._offset
        self._offset = 0

    def gather(self, rows: np.ndarray) -> Array:
        """Rows (counted from the first kept row) as one ``(len(rows), *batch, sig_len)`` array."""
        self._merge()
        rows = np.asarray(rows, dtype=np.int64) + self._offset
        if len(self._chunks) == 1 or len(rows) == 0:
            return _take(self._chunks[0], rows)
        owner = np.searchsorted(self._chunk_starts(), rows, side="right") - 1
        parts, order = [], []
        for c in np.unique(owner):
            sel = np.flatnonzero(owner == c)
            parts.append(_take(self._chunks[c], rows[sel] - self._starts[c]))
            order.append(sel)
        out = concat(parts, 0)
        if len(parts) == 1:
            return out
        return _take(out, np.argsort(np.concatenate(order), kind="stable"))

    def all(self) -> Array:
        parts = list(self._chunks)
        parts[0] = parts[0][self._offset:]
        return _copy(parts[0]) if len(parts) == 1 else concat(parts, 0)


# ---------------------------------------------------------------------------
# SigStream
# ---------------------------------------------------------------------------

class SigStream(_CopyableStream):
    """A growing path whose signature over any interval of points is one query away.

    Every pushed point gets the next absolute index (0, 1, 2, ...), whether it
    came through :meth:`push` or :meth:`push_batch`. The stream stores the
    prefix signature ``S(0, t)`` of every point, computing all the prefixes of
    a :meth:`push_batch` in one ``sigrs.sig(..., stream=True, initial=...)``
    call, and answers ``sig(a, b)`` (the signature of points ``a..b``) as
    ``S(0, a)^{-1} (x) S(0, b)`` in O(sig_len) work, never recomputing from
    the path. :meth:`pop_front` forgets the oldest points, and :meth:`select_batch`
    keeps some of the paths of a batch. (``sigrs.signatory.Path`` stores its
    points in a SigStream.)

    The batch shape, array kind (NumPy or torch), dtype and device are fixed
    by the first push. Torch tensors that require grad stay differentiable:
    gradients of any query flow back to the pushed points. Precision: a query
    subtracts prefixes, so its absolute error grows with the size of
    ``S(0, b)``, i.e. with how far the whole path has travelled, not only the
    queried piece.

    Args:
        dimension: ``d``, the number of channels of a point.
        degree: truncation level ``N >= 0``.
        scalar_term: include the level-0 term 1 in the results.
        n_jobs: threads for the underlying calls (1 serial, -1 all cores).

    Shapes: points ``(*batch, d)`` or ``(*batch, n, d)``; ``sig`` gives
    ``(*batch, sig_len)``, ``sig_batch`` ``(K, *batch, sig_len)``, ``sig_all``
    ``(size, *batch, sig_len)``.

    Example::

        >>> import numpy as np, sigrs
        >>> path = np.random.randn(50, 3)
        >>> stream = sigrs.SigStream(3, 4)
        >>> stream.push_batch(path)
        >>> s = stream.sig(10, 30)                   # == sigrs.sig(path[10:31], 4)
        >>> bool(np.allclose(s, sigrs.sig(path[10:31], 4)))
        True
        >>> stream.push(np.random.randn(3))          # point 50
        >>> stream.sig_batch([(0, 50), (20, 45)]).shape
        (2, 120)
    """

    def __init__(self, dimension: int, degree: int, *, scalar_term: bool = False, n_jobs: int = -1) -> None:
        self._dimension = check_int(dimension, "dimension", minimum=1)
        self._degree = check_degree(degree)
        self._scalar_term = check_bool(scalar_term, "scalar_term")
        self._n_jobs = check_n_jobs(n_jobs)
        self._prefixes = _Rows()
        self._last_point: Optional[Array] = None  # (*batch, 1, d), ready to prepend
        self._count = 0  # points ever pushed
        self._start = 0  # absolute index of the oldest kept point
        self._batch_shape: Optional[tuple] = None
        self._kind: Optional[tuple] = None

    # -- pushing --------------------------------------------------------

    def push(self, point: Array) -> None:
        """Appends one point ``(*batch, dimension)``; it gets index :attr:`end_index` ``+ 1``.

        Example::

            >>> stream = sigrs.SigStream(2, 3)
            >>> stream.push(np.zeros(2)); stream.push(np.ones(2))
            >>> stream.end_index
            1
        """
        point = _as_points(point, "point")
        _check_points(point, self._dimension, self._batch_shape, "push", single=True)
        self._extend(point[..., None, :])

    def push_batch(self, points: Array) -> None:
        """Appends ``n`` points ``(*batch, n, dimension)``, indexed consecutively.

        All their prefix signatures come from one ``sigrs.sig`` call (about
        the cost of one signature of the ``n`` points). ``n = 0`` does nothing.

        Example::

            >>> stream = sigrs.SigStream(2, 3)
            >>> stream.push_batch(np.random.randn(8, 10, 2))   # 8 paths, points 0..9
            >>> stream.size, stream.batch_shape
            (10, (8,))
        """
        points = _as_points(points, "points")
        _check_points(points, self._dimension, self._batch_shape, "push_batch", single=False)
        if points.shape[-2] == 0:
            return
        self._extend(points)

    def _extend(self, points: Array) -> None:
        kind = _kind(points)
        if self._kind is None:
            # Point 0's row is the identity S(0, 0), the signature of that point
            # alone, appended as a chunk of its own: the push copies no path
            # (and no big chunk), so no torch op runs between sigrs calls
            # (torch's and sigrs's thread pools slow each other down when they
            # alternate).
            identity = _sig(points[..., :1, :], self._degree, scalar_term=self._scalar_term, n_jobs=1)
            prefixes = None
            if points.shape[-2] > 1:
                prefixes = _sig(points, self._degree, stream=True, scalar_term=self._scalar_term,
                                n_jobs=self._n_jobs)
            self._kind = kind
            self._batch_shape = tuple(points.shape[:-2])
            self._prefixes.append(identity[None])
            if prefixes is not None:
                self._prefixes.append(_time_first(prefixes))
        else:
            if kind != self._kind:
                raise TypeError(f"pushed {_describe(kind)}, but the stream holds {_describe(self._kind)}")
            path = concat([self._last_point, points], -2)
            prefixes = _sig(path, self._degree, stream=True, initial=self._prefixes.last(),
                            scalar_term=self._scalar_term, n_jobs=self._n_jobs)
            self._prefixes.append(_time_first(prefixes))
        self._last_point = _copy(points[..., -1:, :])
        self._count += int(points.shape[-2])

    def pop_front(self, count: int = 1) -> None:
        """Forgets the ``count`` oldest points (at least one point must stay).

        Indices do not shift: afterwards queries may start at :attr:`start_index`.

        Example::

            >>> stream = sigrs.SigStream(2, 3)
            >>> stream.push_batch(np.random.randn(5, 2))
            >>> stream.pop_front(); stream.start_index, stream.size
            (1, 4)
        """
        count = check_int(count, "count", minimum=1)
        if count >= self.size:
            raise ValueError(
                f"cannot pop_front {count} point(s): the stream holds {self.size} and must keep at least one"
            )
        self._prefixes.drop_front(count)
        self._start += count

    def select_batch(self, index: Any) -> "SigStream":
        """A new stream of the same points for the batch entries ``index`` of the first batch axis.

        ``index`` is anything that indexes the first axis of an array of the
        stream's kind: an int (which drops that axis), a slice, a list, or an
        array or tensor of ints or bools. Nothing is recomputed: the new
        stream holds those entries of the stored prefix signatures (views for
        an int or a slice, so torch gradients flow through). The two streams
        then grow and shrink independently; ``select_batch(slice(None))`` is
        a copy.

        Example::

            >>> stream = sigrs.SigStream(2, 3)
            >>> stream.push_batch(np.random.randn(4, 10, 2))
            >>> sub = stream.select_batch([0, 2])
            >>> sub.batch_shape, bool(np.allclose(sub.sig(3, 7), stream.sig(3, 7)[[0, 2]]))
            ((2,), True)
        """
        if not self._batch_shape:
            what = "nothing has been pushed" if self._batch_shape is None else "its points have no batch axis"
            raise ValueError(f"select_batch: the stream has no batch axis to select from ({what})")
        new = copy.copy(self)
        new._last_point = self._last_point[index]
        new._batch_shape = tuple(new._last_point.shape[:-2])
        new._prefixes = self._prefixes.select(index)
        return new

    # -- queries --------------------------------------------------------

    def _check_interval(self, start: int, end: int) -> None:
        if self._count == 0:
            raise IndexError(f"interval [{start}, {end}] out of range: the stream is empty")
        if start > end:
            raise ValueError(f"start ({start}) must not exceed end ({end})")
        if start < self._start or end >= self._count:
            raise IndexError(
                f"interval [{start}, {end}] out of range: the stream holds points "
                f"[{self._start}, {self._count - 1}]"
            )

    def sig(self, start: int, end: int) -> Array:
        """Signature of points ``start..end`` (absolute indices, both inclusive): ``(*batch, sig_len)``.

        ``sig(a, a)`` is the identity (zeros, or 1 then zeros with ``scalar_term``).

        Example::

            >>> path = np.random.randn(20, 2)
            >>> stream = sigrs.SigStream(2, 3)
            >>> stream.push_batch(path)
            >>> bool(np.allclose(stream.sig(5, 12), sigrs.sig(path[5:13], 3)))
            True
        """
        start = check_int(start, "start")
        end = check_int(end, "end")
        self._check_interval(start, end)
        last = self._prefixes.row(end - self._start)
        if start == 0:  # S(0, 0) is the identity
            return _copy(last)
        first = sig_inverse(self._prefixes.row(start - self._start), self._dimension, self._degree,
                            n_jobs=self._n_jobs)
        return sig_combine(first, last, self._dimension, self._degree, n_jobs=self._n_jobs)

    def sig_batch(self, intervals: Union[Sequence[Tuple[int, int]], np.ndarray]) -> Array:
        """Signatures of many intervals ``[(start, end), ...]``: ``(K, *batch, sig_len)``.

        One batched ``sig_inverse`` and one ``sig_combine`` for all ``K``.

        Example::

            >>> stream = sigrs.SigStream(2, 3)
            >>> stream.push_batch(np.random.randn(4, 30, 2))
            >>> stream.sig_batch([(0, 9), (10, 19), (20, 29)]).shape
            (3, 4, 14)
        """
        rows, k = self._interval_rows(intervals)
        if k == 0:
            return rows
        inv = sig_inverse(rows[:k], self._dimension, self._degree, n_jobs=self._n_jobs)
        return sig_combine(inv, rows[k:], self._dimension, self._degree, n_jobs=self._n_jobs)

    def _interval_rows(self, intervals: Any) -> Tuple[Array, int]:
        """The checked intervals' stored prefixes: ``(2K, *batch, len)``, the K starts then the K ends."""
        pairs = np.asarray(intervals)
        if pairs.size == 0:
            pairs = pairs.reshape(0, 2).astype(np.int64)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"intervals must be a sequence of (start, end) pairs, got shape {tuple(pairs.shape)}")
        if pairs.dtype.kind not in "iu":
            raise TypeError(f"intervals must hold ints, got dtype {pairs.dtype}")
        pairs = pairs.astype(np.int64)
        if self._count == 0:
            raise IndexError("intervals out of range: the stream is empty")
        bad = (pairs[:, 0] > pairs[:, 1]) | (pairs[:, 0] < self._start) | (pairs[:, 1] >= self._count)
        if bad.any():
            i = int(np.argmax(bad))
            self._check_interval(int(pairs[i, 0]), int(pairs[i, 1]))
        rows = self._prefixes.gather(np.concatenate([pairs[:, 0], pairs[:, 1]]) - self._start)
        return rows, len(pairs)

    def sig_all(self) -> Array:
        """The stored prefix signatures ``S(0, t)``, ``t = start_index..end_index``: ``(size, *batch, sig_len)``.

        Like pysiglib, these stay relative to point 0 after :meth:`pop_front`
        (use :meth:`sig_batch` for signatures relative to another point).

        Example::

            >>> stream = sigrs.SigStream(2, 3)
            >>> stream.push_batch(np.random.randn(6, 2))
            >>> stream.sig_all().shape
            (6, 14)
        """
        if self._count == 0:
            raise IndexError("sig_all: the stream is empty")
        return self._prefixes.all()

    # -- state ----------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of points currently held."""
        return self._count - self._start

    @property
    def start_index(self) -> int:
        """Absolute index of the oldest point held."""
        return self._start

    @property
    def end_index(self) -> int:
        """Absolute index of the newest point (-1 before the first push)."""
        return self._count - 1

    @property
    def batch_shape(self) -> Optional[tuple]:
        """Batch shape locked in by the first push, or ``None`` before it."""
        return self._batch_shape

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def degree(self) -> int:
        return self._degree

    def __repr__(self) -> str:
        return (f"SigStream(dimension={self._dimension}, degree={self._degree}, points "
                f"[{self._start}, {self._count - 1}], batch_shape={self._batch_shape})")


# ---------------------------------------------------------------------------
# SigWindowStream
# ---------------------------------------------------------------------------

class SigWindowStream(_CopyableStream):
    """Signatures of sliding windows over a stream of points.

    Window ``k`` covers points ``k*stride .. k*stride + window_size - 1``;
    it is emitted once its last point arrives. Each :meth:`push_batch`
    computes the prefix signatures of its points in one ``sigrs.sig`` call
    and all the windows it completes with one batched ``sig_inverse`` and one
    ``sig_combine`` (Chen's identity), so the cost per point does not grow
    with ``window_size``. Only the prefixes that a future window still needs
    are kept, as inverses (about ``window_size / stride`` of them); every
    ``2 * window_size`` points or so they are re-expressed relative to the
    newest point, so precision does not decay as the stream grows. With ``stride > window_size`` the points between
    windows are skipped without computing anything.

    Args:
        dimension: ``d``, the number of channels of a point.
        degree: truncation level ``N >= 0``.
        window_size: points per window (``>= 1``; one point gives the identity).
        stride: points between the starts of successive windows (``>= 1``).
        scalar_term: include the level-0 term 1 in the results.
        n_jobs: threads for the underlying calls (1 serial, -1 all cores).

    Shapes: points ``(*batch, d)`` or ``(*batch, n, d)``; :meth:`sig` gives
    ``(num_windows, *batch, sig_len)``.

    Example::

        >>> import numpy as np, sigrs
        >>> path = np.random.randn(100, 3)
        >>> ws = sigrs.SigWindowStream(3, 4, window_size=20, stride=5)
        >>> ws.push_batch(path)
        >>> ws.sig().shape                           # windows end at 19, 24, ..., 99
        (17, 120)
        >>> bool(np.allclose(ws.sig()[2], sigrs.sig(path[10:30], 4)))
        True
    """

    def __init__(self, dimension: int, degree: int, window_size: int, *, stride: int = 1,
                 scalar_term: bool = False, n_jobs: int = -1) -> None:
        self._dimension = check_int(dimension, "dimension", minimum=1)
        self._degree = check_degree(degree)
        self._window = check_int(window_size, "window_size", minimum=1)
        self._stride = check_int(stride, "stride", minimum=1)
        self._scalar_term = check_bool(scalar_term, "scalar_term")
        self._n_jobs = check_n_jobs(n_jobs)
        self._rebase_every = max(2 * self._window, 64)
        self._count = 0  # points ever pushed
        self._last_point: Optional[Array] = None
        # prefix of the last point relative to the anchor point (None: no window is open)
        self._last_prefix: Optional[Array] = None
        self._anchor = 0
        # S(anchor, start)^{-1} of the open windows k_next, k_next + 1, ...: [first k, (n, *batch, sig_len)]
        self._open: Deque[list] = deque()
        self._k_next = 0  # the next window to complete
        self._windows: List[Array] = []
        self._num_windows = 0
        self._batch_shape: Optional[tuple] = None
        self._kind: Optional[tuple] = None

    def _started(self, count: int) -> int:
        """Windows whose first point is among the first ``count`` points."""
        return 0 if count == 0 else (count - 1) // self._stride + 1

    def _completed(self, count: int) -> int:
        """Windows whose last point is among the first ``count`` points."""
        return 0 if count < self._window else (count - self._window) // self._stride + 1

    def push(self, point: Array) -> None:
        """Appends one point ``(*batch, dimension)``, emitting the window it completes, if any.

        Example::

            >>> ws = sigrs.SigWindowStream(2, 3, window_size=2)
            >>> ws.push(np.zeros(2)); ws.push(np.ones(2)); ws.num_windows
            1
        """
        point = _as_points(point, "point")
        _check_points(point, self._dimension, self._batch_shape, "push", single=True)
        self._extend(point[..., None, :])

    def push_batch(self, points: Array) -> None:
        """Appends ``n`` points ``(*batch, n, dimension)``, emitting every window they complete.

        Example::

            >>> ws = sigrs.SigWindowStream(2, 3, window_size=10, stride=5)
            >>> ws.push_batch(np.random.randn(4, 50, 2)); ws.num_windows
            9
        """
        points = _as_points(points, "points")
        _check_points(points, self._dimension, self._batch_shape, "push_batch", single=False)
        if points.shape[-2] == 0:
            return
        self._extend(points)

    def _extend(self, points: Array) -> None:
        kind = _kind(points)
        if self._kind is not None and kind != self._kind:
            raise TypeError(f"pushed {_describe(kind)}, but the stream holds {_describe(self._kind)}")
        stride, window = self._stride, self._window
        first = self._count
        count = first + int(points.shape[-2])
        started_before = self._started(first)
        started, completed = self._started(count), self._completed(count)

        fresh = self._k_next >= started_before
        if not fresh:
            # windows are open: continue the prefixes from the last point
            base = first
            path = concat([self._last_point[..., None, :], points], -2)
            initial = self._last_prefix
        else:
            # no window open: start afresh at the next window's first point
            base = self._k_next * stride
            path = None
            if base < count:
                tail = points[..., base - first:, :]
                path = concat([tail[..., :1, :], tail], -2)
                initial = None
        prefixes = None
        if path is not None:
            prefixes = _time_first(_sig(path, self._degree, stream=True, initial=initial,
                                        scalar_term=self._scalar_term, n_jobs=self._n_jobs))
        if self._kind is None:
            self._kind = kind
            self._batch_shape = tuple(points.shape[:-2])
        self._last_point = _copy(points[..., -1, :])
        self._count = count
        if prefixes is None:  # the points fall between windows
            return
        if fresh:
            self._anchor = base

        # windows starting in this batch: their inverse start prefixes, in one call
        new_first = max(self._k_next, started_before)
        new_inv = None
        if started > new_first:
            rows = np.arange(new_first, started) * stride - base
            new_inv = sig_inverse(_take(prefixes, rows), self._dimension, self._degree, n_jobs=self._n_jobs)

        if completed > self._k_next:
            ks = np.arange(self._k_next, completed)
            inv = self._pop_open(max(0, min(completed, new_first) - self._k_next))
            if completed > new_first:
                inv.append(new_inv[:completed - new_first])
            ends = _take(prefixes, ks * stride + window - 1 - base)
            self._windows.append(sig_combine(concat(inv, 0), ends, self._dimension, self._degree,
                                             n_jobs=self._n_jobs))
            self._num_windows += len(ks)
            self._k_next = completed

        first_open = max(completed, new_first)
        if started > first_open:
            keep = new_inv[first_open - new_first:]
            # copy a small tail so it does not pin all of new_inv
            self._open.append([first_open, keep if first_open == new_first else _copy(keep)])

        if self._k_next < started:
            self._last_prefix = _copy(prefixes[-1])
            if count - 1 - self._anchor >= self._rebase_every:
                self._rebase()
        else:
            self._last_prefix = None

    def _pop_open(self, n: int) -> List[Array]:
        """Removes and returns the inverse start prefixes of the ``n`` oldest open windows."""
        parts: List[Array] = []
        while n > 0:
            k0, rows = self._open[0]
            if rows.shape[0] <= n:
                parts.append(rows)
                self._open.popleft()
                n -= rows.shape[0]
            else:
                parts.append(rows[:n])
                self._open[0] = [k0 + n, rows[n:]]
                n = 0
        return parts

    def _rebase(self) -> None:
        """Moves the anchor to the last point.

        Each open window's ``S(0, s)^{-1}`` becomes ``S(0, s)^{-1} (x) S(0, last)``,
        the signature of its points so far, and the last prefix becomes the
        identity. Only products of accurate factors are formed (no inverse of
        a rebased value), so rounding errors do not compound from one rebase
        to the next.
        """
        kept = concat([rows for _, rows in self._open], 0)
        last = _broadcast(self._last_prefix, tuple(kept.shape))
        kept = sig_combine(kept, last, self._dimension, self._degree, n_jobs=self._n_jobs)
        self._open = deque([[self._k_next, kept]])
        self._last_prefix = None  # the identity: prefixes restart at the last point
        self._anchor = self._count - 1

    def sig(self) -> Array:
        """Signatures of all windows completed so far: ``(num_windows, *batch, sig_len)``.

        Raises ValueError before the first window is complete (like pysiglib).

        Example::

            >>> ws = sigrs.SigWindowStream(2, 3, window_size=3)
            >>> ws.push_batch(np.random.randn(5, 2)); ws.sig().shape
            (3, 14)
        """
        if not self._windows:
            raise ValueError(
                f"no complete windows yet: {self._count} point(s) pushed, the first window needs {self._window}"
            )
        if len(self._windows) > 1:
            self._windows = [concat(self._windows, 0)]
        return _copy(self._windows[0])

    @property
    def num_windows(self) -> int:
        """Number of windows completed so far."""
        return self._num_windows

    @property
    def batch_shape(self) -> Optional[tuple]:
        """Batch shape locked in by the first push, or ``None`` before it."""
        return self._batch_shape

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def degree(self) -> int:
        return self._degree

    @property
    def window_size(self) -> int:
        return self._window

    @property
    def stride(self) -> int:
        return self._stride

    def __repr__(self) -> str:
        return (f"SigWindowStream(dimension={self._dimension}, degree={self._degree}, "
                f"window_size={self._window}, stride={self._stride}, windows={self._num_windows})")


# ---------------------------------------------------------------------------
# Log-signature streams
# ---------------------------------------------------------------------------

def _lyndon_method(method: Any, cls: str) -> None:
    """The streams' log-signatures are Lyndon coordinates (method 2, or
    pysiglib's 3: the same numbers), the only basis the BCH product takes."""
    if check_method(method, bch=True) != 2:
        raise ValueError(
            f"{cls} requires method=2 or method=3 (the Lyndon basis, which log_sig_combine works in), got method={method!r}"
        )


class LogSigStream(SigStream):
    """A growing path whose log-signature (Lyndon basis) over any interval of points is one query away.

    pysiglib's ``LogSigStream``, with sigrs's :class:`SigStream` numbering:
    every pushed point gets the next absolute index (0, 1, 2, ...), whether
    it came through :meth:`push` or :meth:`push_batch`, as pysiglib's
    documentation describes. (pysiglib's code gives one index per push call,
    so after ``push_batch`` of ``n`` points its ``sig(0, 1)`` is sigrs's
    ``sig(0, n - 1)``.)

    The stream stores the prefix log-signature ``L(0, t)`` of every point: a
    :meth:`push_batch` takes all its prefix signatures in one
    ``sigrs.sig(..., stream=True, initial=...)`` call, continuing from the last
    prefix signature (kept exactly, so nothing drifts), and converts them with
    :func:`sigrs.sig_to_log_sig`. ``sig(a, b)`` is the BCH product
    ``log_sig_combine(-L(0, a), L(0, b))`` (the inverse of ``exp(L)`` is
    ``exp(-L)``), O(sig_len * degree) work, never recomputed from the path.

    The batch shape, array kind (NumPy or torch), dtype and device are fixed
    by the first push; torch tensors that require grad stay differentiable.

    Args:
        dimension: ``d``, the number of channels of a point.
        degree: truncation level ``N >= 0``.
        method: 2 or 3 (pysiglib's: the same Lyndon-basis numbers), or "lyndon".
        n_jobs: threads for the underlying calls (1 serial, -1 all cores).

    Shapes: points ``(*batch, d)`` or ``(*batch, n, d)``; ``sig`` gives
    ``(*batch, log_sig_len)``, ``sig_batch`` ``(K, *batch, log_sig_len)``,
    ``sig_all`` ``(size, *batch, log_sig_len)``.

    Example::

        >>> path = np.random.randn(50, 3)
        >>> stream = sigrs.LogSigStream(3, 4)
        >>> stream.push_batch(path)
        >>> ls = stream.sig(10, 30)
        >>> bool(np.allclose(ls, sigrs.log_sig(path[10:31], 4, method=2)))
        True
        >>> stream.push(np.random.randn(3))          # point 50
        >>> stream.sig_batch([(0, 50), (20, 45)]).shape
        (2, 32)
    """

    def __init__(self, dimension: int, degree: int, *, method: Any = 2, n_jobs: int = -1) -> None:
        super().__init__(dimension, degree, n_jobs=n_jobs)
        _lyndon_method(method, "LogSigStream")
        self._last_sig: Optional[Array] = None  # S(0, end_index), the state pushes continue from

    def _extend(self, points: Array) -> None:
        kind = _kind(points)
        if self._kind is None:
            batch = tuple(points.shape[:-2])
            zero = _sig(points[..., :1, :], self._degree, n_jobs=1)  # S(0, 0): zeros of the signature's layout
            initial = None
            self._kind, self._batch_shape = kind, batch
        else:
            if kind != self._kind:
                raise TypeError(f"pushed {_describe(kind)}, but the stream holds {_describe(self._kind)}")
            zero = None
            initial = self._last_sig
            points = concat([self._last_point, points], -2)
        if points.shape[-2] > 1:
            prefixes = _sig(points, self._degree, stream=True, initial=initial, n_jobs=self._n_jobs)
            self._last_sig = prefixes[..., -1, :]
            if zero is not None:
                prefixes = concat([zero[..., None, :], prefixes], -2)
        else:
            prefixes = zero[..., None, :]
            self._last_sig = zero
        logs = sig_to_log_sig(prefixes, self._dimension, self._degree, method=2, n_jobs=self._n_jobs)
        self._prefixes.append(_time_first(logs))
        self._last_point = _copy(points[..., -1:, :])
        self._count += int(logs.shape[-2])

    def select_batch(self, index: Any) -> "LogSigStream":
        """A new stream of the same points for the batch entries ``index`` of
        the first batch axis (as :meth:`SigStream.select_batch`).

        Example::

            >>> stream = sigrs.LogSigStream(2, 3)
            >>> stream.push_batch(np.random.randn(4, 10, 2))
            >>> sub = stream.select_batch([0, 2])
            >>> sub.batch_shape, bool(np.allclose(sub.sig(3, 7), stream.sig(3, 7)[[0, 2]]))
            ((2,), True)
        """
        new = super().select_batch(index)
        new._last_sig = self._last_sig[index]
        return new

    def sig(self, start: int, end: int) -> Array:
        """Log-signature of points ``start..end`` (absolute indices, both inclusive): ``(*batch, log_sig_len)``.

        ``sig(a, a)`` is zero.

        Example::

            >>> path = np.random.randn(20, 2)
            >>> stream = sigrs.LogSigStream(2, 3)
            >>> stream.push_batch(path)
            >>> bool(np.allclose(stream.sig(5, 12), sigrs.log_sig(path[5:13], 3, method=2)))
            True
        """
        start = check_int(start, "start")
        end = check_int(end, "end")
        self._check_interval(start, end)
        last = self._prefixes.row(end - self._start)
        if start == 0:  # L(0, 0) is zero
            return _copy(last)
        return log_sig_combine(-self._prefixes.row(start - self._start), last, self._dimension, self._degree,
                               n_jobs=self._n_jobs)

    def sig_batch(self, intervals: Union[Sequence[Tuple[int, int]], np.ndarray]) -> Array:
        """Log-signatures of many intervals ``[(start, end), ...]``: ``(K, *batch, log_sig_len)``, in one
        batched :func:`sigrs.log_sig_combine`.

        Example::

            >>> stream = sigrs.LogSigStream(2, 3)
            >>> stream.push_batch(np.random.randn(4, 30, 2))
            >>> stream.sig_batch([(0, 9), (10, 19), (20, 29)]).shape
            (3, 4, 5)
        """
        rows, k = self._interval_rows(intervals)
        if k == 0:
            return rows
        return log_sig_combine(-rows[:k], rows[k:], self._dimension, self._degree, n_jobs=self._n_jobs)

    def sig_all(self) -> Array:
        """The stored prefix log-signatures ``L(0, t)``, ``t = start_index..end_index``:
        ``(size, *batch, log_sig_len)`` (relative to point 0 after :meth:`pop_front`, like pysiglib).

        Example::

            >>> stream = sigrs.LogSigStream(2, 3)
            >>> stream.push_batch(np.random.randn(6, 2))
            >>> stream.sig_all().shape
            (6, 5)
        """
        return super().sig_all()

    def __repr__(self) -> str:
        return (f"LogSigStream(dimension={self._dimension}, degree={self._degree}, points "
                f"[{self._start}, {self._count - 1}], batch_shape={self._batch_shape})")


class LogSigWindowStream(SigWindowStream):
    """Log-signatures (Lyndon basis) of sliding windows over a stream of points.

    pysiglib's ``LogSigWindowStream``: window ``k`` covers points
    ``k*stride .. k*stride + window_size - 1`` and is emitted once its last
    point arrives (pysiglib numbers window points the same way). The
    windows' signatures come from :class:`SigWindowStream`'s machinery (one
    ``sigrs.sig`` call per push and Chen's identity, cost per point
    independent of ``window_size``); each batch of completed windows is
    converted once with :func:`sigrs.sig_to_log_sig`.

    Args:
        dimension: ``d``, the number of channels of a point.
        degree: truncation level ``N >= 0``.
        window_size: points per window (``>= 1``; one point gives zero).
        stride: points between the starts of successive windows (``>= 1``).
        method: 2 or 3 (pysiglib's: the same Lyndon-basis numbers), or "lyndon".
        n_jobs: threads for the underlying calls (1 serial, -1 all cores).

    Shapes: points ``(*batch, d)`` or ``(*batch, n, d)``; :meth:`sig` gives
    ``(num_windows, *batch, log_sig_len)``.

    Example::

        >>> path = np.random.randn(100, 3)
        >>> ws = sigrs.LogSigWindowStream(3, 4, window_size=20, stride=5)
        >>> ws.push_batch(path)
        >>> ws.sig().shape
        (17, 32)
        >>> bool(np.allclose(ws.sig()[2], sigrs.log_sig(path[10:30], 4, method=2)))
        True
    """

    def __init__(self, dimension: int, degree: int, window_size: int, *, stride: int = 1, method: Any = 2,
                 n_jobs: int = -1) -> None:
        super().__init__(dimension, degree, window_size, stride=stride, n_jobs=n_jobs)
        _lyndon_method(method, "LogSigWindowStream")

    def _extend(self, points: Array) -> None:
        before = len(self._windows)
        super()._extend(points)
        if len(self._windows) > before:  # one new chunk of window signatures
            self._windows[-1] = sig_to_log_sig(self._windows[-1], self._dimension, self._degree, method=2,
                                               n_jobs=self._n_jobs)

    def __repr__(self) -> str:
        return (f"LogSigWindowStream(dimension={self._dimension}, degree={self._degree}, "
                f"window_size={self._window}, stride={self._stride}, windows={self._num_windows})")
