"""signatory's ``Path``: signatures on any interval, from the prefix store of :class:`sigrs.SigStream`."""

from __future__ import annotations

import bisect
import contextlib
import copy
from typing import Any, List, Optional, Tuple, Union

import numpy as np
import torch

import sigrs

from . import _checks
from .logsignatures import SignatureToLogSignature
from .signatures import signature_channels
from .words import logsignature_channels


class _SliceSignature(torch.autograd.Function):
    """Passes a signature from the prefix store through, and backpropagates
    straight into the points of its interval, as signatory does: the backward
    pass costs what the interval costs, and other points get exactly zero."""

    @staticmethod
    def forward(ctx, sig, depth, *pieces):
        ctx.depth = depth
        ctx.sizes = [piece.shape[1] for piece in pieces]
        ctx.save_for_backward(*pieces)
        return sig

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        pieces = ctx.saved_tensors
        sub = torch.cat(pieces, dim=1) if len(pieces) > 1 else pieces[0]
        scalar_term = grad.shape[-1] != sigrs.sig_length(sub.shape[-1], ctx.depth)
        sig = sigrs.sig(sub, ctx.depth, scalar_term=scalar_term)
        d_sub = sigrs.sig_backprop(sub, sig, grad.contiguous(), ctx.depth)
        return (None, None) + tuple(torch.split(d_sub, ctx.sizes, dim=1))


class Path:
    """Signatures and log-signatures of a batch of paths over any interval of their points.

    The points go into a :class:`sigrs.SigStream`, which stores every prefix
    signature (one :func:`sigrs.sig` call per :meth:`update`) and answers an
    interval ``[start, end)`` by Chen's identity in O(signature size). May be
    indexed along its batch dimension with ``[]``.

    Args:
        path: ``(N, L, C)``, as :func:`signature`.
        depth: as :func:`signature`.
        basepoint: as :func:`signature`; it becomes the path's first point.
        remember_path: keep the given paths (the :attr:`path` property).
            Gradients then flow straight into the points of the interval, as
            in signatory; without it they flow through the prefix signatures
            (signatory could not differentiate there at all).
        scalar_term: as :func:`signature`.

    Example::

        >>> x = torch.rand(4, 100, 3)
        >>> p = signatory.Path(x, 3)
        >>> torch.allclose(p.signature(10, 50), signatory.signature(x[:, 10:50], 3), atol=1e-5)
        True
        >>> p.update(torch.rand(4, 20, 3))
        >>> p.size()
        torch.Size([4, 120, 3])
    """

    # _stream: every point so far, a basepoint first; _path: the given tensors (with
    # remember_path); _lengths: the number of points up to the end of each of _path
    __slots__ = ("_stream", "_path", "_lengths", "_depth", "_scalar_term", "_remember_path", "_channels", "_dtype",
                 "_device", "_signature_channels", "_logsignature_channels")

    def __init__(self, path: torch.Tensor, depth: int, basepoint: Union[bool, torch.Tensor] = False,
                 remember_path: bool = True, scalar_term: bool = False, **kwargs):
        super().__init__(**kwargs)
        basepoint = _checks.basepoint_arg(basepoint)
        self._depth = _checks.signature_args(path, depth, basepoint, None, bool(scalar_term))
        self._scalar_term = bool(scalar_term)
        self._remember_path = bool(remember_path)
        batch, _, self._channels = path.shape
        self._dtype, self._device = path.dtype, path.device
        self._signature_channels = signature_channels(self._channels, self._depth, self._scalar_term)
        self._logsignature_channels = logsignature_channels(self._channels, self._depth)
        self._stream = sigrs.SigStream(self._channels, self._depth, scalar_term=self._scalar_term)
        self._path: List[torch.Tensor] = []
        self._lengths: List[int] = []
        pieces = [path]
        if basepoint is not False:
            # the basepoint is point 0 (signatory counted it only with remember_path,
            # which shifted every index of that case by one)
            first = path.new_zeros(batch, self._channels) if basepoint is True else basepoint
            pieces.insert(0, first.unsqueeze(-2))
        self._push(pieces)

    def update(self, path: torch.Tensor) -> None:
        """Appends ``path`` ``(N, L, C)``, joined on by a straight line from the last point, in O(L).

        Example::

            >>> p = signatory.Path(torch.rand(2, 5, 3), 2)
            >>> p.update(torch.rand(2, 4, 3))
            >>> p.shape
            torch.Size([2, 9, 3])
        """
        path = _checks.tensor_arg(path, "path")
        if path.dim() != 3:
            _checks.signature_args(path, self._depth, True, None, False)
        if path.shape[0] != self._batch_size:
            raise ValueError(
                "Cannot append a path with different number of batch elements to what has already been used."
            )
        if path.shape[2] != self._channels:
            raise ValueError("Cannot append a path with different number of channels to what has already been used.")
        _checks.signature_args(path, self._depth, True, None, False)
        if path.dtype != self._dtype or path.device != self._device:
            raise ValueError("Cannot append a path with different dtype or device to what has already been used.")
        self._push([path])

    def _push(self, pieces: List[torch.Tensor]) -> None:
        # With remember_path, queries backpropagate through the stored points
        # (_SliceSignature), so the prefix signatures need no graph.
        with torch.no_grad() if self._remember_path else contextlib.nullcontext():
            self._stream.push_batch(torch.cat(pieces, dim=1) if len(pieces) > 1 else pieces[0])
        if self._remember_path:
            for piece in pieces:
                self._lengths.append((self._lengths[-1] if self._lengths else 0) + piece.shape[1])
                self._path.append(piece)

    # -- queries ------------------------------------------------------------

    def _interval(self, start: Optional[int], end: Optional[int]) -> Tuple[int, int]:
        """``[start, end)`` in Python's slicing conventions, as non-negative indices of at least two points."""
        length = self._stream.size
        first = 0 if start is None else _checks.int_arg(start, "start")
        last = length if end is None else _checks.int_arg(end, "end")
        first, last = (min(max(i, -length), length) for i in (first, last))
        first, last = (i + length if i < 0 else i for i in (first, last))
        if last - first < 2:
            message = (
                f"start={start}, end={end} is interpreted as {first}, {last} for path of length {length}, "
                "which does not describe a valid interval."
            )
            if last - first == 1:
                message += (
                    " The given start and end differ by only one, but a single point is not sufficent to define a "
                    "path."
                )
            raise ValueError(message)
        return first, last

    def signature(self, start: Optional[int] = None, end: Optional[int] = None) -> torch.Tensor:
        """The signature over the points ``[start, end)`` of all points given so far, a basepoint first.

        ``start`` and ``end`` follow Python slicing (None, negative and
        out-of-range values); the interval needs two points (ValueError).

        Returns:
            ``(N, S)``, equal to ``signatory.signature(p[:, start:end], depth)``
            for ``p = torch.cat(self.path, dim=1)``; differentiable with
            respect to the given paths and a tensor basepoint.

        Example::

            >>> x = torch.rand(2, 10, 3)
            >>> p = signatory.Path(x, 2)
            >>> torch.allclose(p.signature(-5), signatory.signature(x[:, -5:], 2), atol=1e-6)
            True
        """
        start, end = self._interval(start, end)
        result = self._stream.sig(start, end - 1)  # SigStream's intervals include their end
        pieces = self._pieces(start, end) if self._remember_path and torch.is_grad_enabled() else []
        if pieces:
            return _SliceSignature.apply(result, self._depth, *pieces)
        return result

    def _pieces(self, start: int, end: int) -> List[torch.Tensor]:
        """Views of the stored tensors holding the points ``[start, end)``; none if none of them requires grad."""
        first = bisect.bisect_right(self._lengths, start)  # the piece holding point start
        last = bisect.bisect_left(self._lengths, end)  # the piece holding point end - 1
        if not any(piece.requires_grad for piece in self._path[first:last + 1]):
            return []  # nothing to backpropagate into: spare the slicing
        begin_first = self._lengths[first - 1] if first else 0
        if first == last:
            return [self._path[first][:, start - begin_first:end - begin_first]]
        end_last = end - self._lengths[last - 1]
        middle = self._path[first + 1:last]
        return [self._path[first][:, start - begin_first:], *middle, self._path[last][:, :end_last]]

    def logsignature(self, start: Optional[int] = None, end: Optional[int] = None, mode: str = "words") -> torch.Tensor:
        """The log-signature over the points ``[start, end)``: :meth:`signature`, then its logarithm.

        Returns:
            ``(N, K)``, equal to ``signatory.logsignature(p[:, start:end], depth, mode=mode)``;
            differentiable as :meth:`signature`.

        Example::

            >>> x = torch.rand(2, 10, 3)
            >>> p = signatory.Path(x, 3)
            >>> torch.allclose(p.logsignature(2, 8), signatory.logsignature(x[:, 2:8], 3), atol=1e-6)
            True
        """
        sig = self.signature(start, end)
        return SignatureToLogSignature(self._channels, self._depth, False, mode, self._scalar_term)(sig)

    # -- sizes --------------------------------------------------------------

    @property
    def _batch_size(self) -> int:
        return self._stream.batch_shape[0]

    @property
    def remember_path(self) -> bool:
        """Whether this Path keeps the paths it was given."""
        return self._remember_path

    @property
    def path(self) -> List[torch.Tensor]:
        """The tensors given so far (a basepoint first, as an ``(N, 1, C)`` tensor)."""
        if self._remember_path:
            return self._path
        raise RuntimeError(
            "This Path object has not retained a reference to the path it was called with. The Path object must "
            "have been initialised with `remember_path=True`."
        )

    @property
    def depth(self) -> int:
        """The depth of the signatures."""
        return self._depth

    def size(self, index: Optional[int] = None) -> Union[int, torch.Size]:
        """The size of the stored path, ``(N, total length, C)``; as :meth:`torch.Tensor.size`."""
        return self.shape if index is None else self.shape[index]

    @property
    def shape(self) -> torch.Size:
        """``(N, total length, C)``, a basepoint counted as a point."""
        return torch.Size([self._batch_size, self._stream.size, self._channels])

    def channels(self) -> int:
        """The number of channels ``C`` of the path."""
        return self._channels

    def signature_size(self, index: Optional[int] = None) -> Union[int, torch.Size]:
        """The size of the stored prefix signatures; as :meth:`torch.Tensor.size`."""
        return self.signature_shape if index is None else self.signature_shape[index]

    @property
    def signature_shape(self) -> torch.Size:
        """``(N, number of prefix signatures, signature channels)``: one per point after the first."""
        return torch.Size([self._batch_size, self._stream.size - 1, self._signature_channels])

    def signature_channels(self) -> int:
        """The number of channels of a signature; as :func:`signature_channels`."""
        return self._signature_channels

    def logsignature_size(self, index: Optional[int] = None) -> Union[int, torch.Size]:
        """As :meth:`signature_size`, for log-signatures in ``"words"`` mode."""
        return self.logsignature_shape if index is None else self.logsignature_shape[index]

    @property
    def logsignature_shape(self) -> torch.Size:
        """``(N, number of prefix signatures, logsignature channels)``."""
        return torch.Size([self._batch_size, self._stream.size - 1, self._logsignature_channels])

    def logsignature_channels(self) -> int:
        """The number of channels of a log-signature; as :func:`logsignature_channels`."""
        return self._logsignature_channels

    # -- batch indexing -----------------------------------------------------

    def _getitem_inplace(self, item: Any) -> None:
        valid = isinstance(item, (int, slice)) and not isinstance(item, bool)
        valid = valid or (isinstance(item, (torch.Tensor, np.ndarray)) and item.ndim == 1)
        valid = valid or (isinstance(item, list) and all(isinstance(i, int) for i in item))
        if not valid:
            raise IndexError(
                "Only integers, slices, one dimensional Tensors, one dimensional numpy arrays, and lists of "
                "integers, are valid indices."
            )
        if isinstance(item, int):  # keep the batch dimension
            item = slice(item, item + 1) if item != -1 else slice(-1, None)
        stream = self._stream.select_batch(item)
        if stream.batch_shape[0] == 0:
            raise IndexError("Index corresponds to a batch of size zero, which is disallowed.")
        self._stream = stream
        self._path = [tensor[item] for tensor in self._path]

    def __getitem__(self, item: Any) -> "Path":
        """The batch entries ``item`` (an int, slice, list, or 1-D tensor or array), without recomputing."""
        new = copy.copy(self)
        new._getitem_inplace(item)
        return new

    def shuffle(self) -> Tuple["Path", torch.Tensor]:
        """A copy randomly permuted along the batch dimension, and the permutation."""
        new = copy.copy(self)
        _, perm = new.shuffle_()
        return new, perm

    def shuffle_(self) -> Tuple["Path", torch.Tensor]:
        """In-place :meth:`shuffle`."""
        perm = torch.randperm(self._batch_size, device=self._device)
        self._getitem_inplace(perm)
        return self, perm

    def __copy__(self) -> "Path":
        """A copy that grows independently, sharing the stored tensors (which are never written to)."""
        new = Path.__new__(Path)
        for name in self.__slots__:
            setattr(new, name, getattr(self, name))
        new._stream = self._stream.select_batch(slice(None))
        new._path, new._lengths = list(self._path), list(self._lengths)
        return new

    def __eq__(self, other: Any) -> bool:
        """Equal settings, points (when remembered) and prefix signatures."""
        if not isinstance(other, Path):
            return NotImplemented
        for name in self.__slots__:
            if name not in ("_stream", "_path") and getattr(self, name) != getattr(other, name):
                return False
        if self.shape != other.shape or len(self._path) != len(other._path):
            return False
        if not all(torch.equal(a, b) for a, b in zip(self._path, other._path)):
            return False
        return torch.equal(self._stream.sig_all(), other._stream.sig_all())

    def __ne__(self, other: Any) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # mutable, compared by value
