"""signatory 1.2's public API over sigrs, for code written against signatory.

signatory (https://github.com/patrick-kidger/signatory) is pinned to torch
1.9. This module gives its functions, classes, argument checks and output
layouts on today's torch, so that::

    import sigrs.signatory as signatory

runs signatory code unchanged. Nothing here computes a signature: every
signature, product and inverse is one sigrs call; this module only checks
arguments the way signatory does (ValueError for bad values, as signatory
raises them), interprets signatory's options and reshapes.

signatory's conventions, which are also sigrs's: a batch of paths is a
``(batch, stream, channel)`` tensor (signatory requires exactly three
dimensions), a signature is ``(batch, channels + ... + channels**depth)``
with words by length and then lexicographically, and ``scalar_term=True``
prepends the constant 1.

Supported: all of signatory 1.2's public API. :func:`signature`,
:class:`Signature`, :func:`signature_channels`, :func:`extract_signature_term`,
:func:`signature_combine`, :func:`multi_signature_combine`; the log-signatures
:func:`logsignature`, :class:`LogSignature`, :func:`signature_to_logsignature`,
:class:`SignatureToLogSignature` (each computed by :func:`sigrs.sig` and
:func:`sigrs.sig_to_log_sig`) and :func:`logsignature_channels`; :class:`Path`
(signatures and log-signatures on any interval); :func:`invert_signature`
(signatory's path reconstruction from a signature); :func:`all_words`,
:func:`lyndon_words`, :func:`lyndon_brackets`; :class:`Augment`; the
deprecated :func:`max_parallelism`; and ``unstable.lyndon_words_to_basis_transform``.

Example::

    >>> import torch
    >>> import sigrs.signatory as signatory
    >>> path = torch.rand(8, 20, 3, requires_grad=True)   # (batch, stream, channel)
    >>> sig = signatory.signature(path, 4)               # (8, 120)
    >>> sig.sum().backward()
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import functools
import itertools
import operator
import types
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__version__ = "1.2.6"
"""The signatory version whose API this module follows."""

__all__ = [
    "Augment",
    "LogSignature",
    "Logsignature",
    "Path",
    "Signature",
    "SignatureToLogSignature",
    "SignatureToLogsignature",
    "all_words",
    "extract_signature_term",
    "invert_signature",
    "logsignature",
    "logsignature_channels",
    "lyndon_brackets",
    "lyndon_words",
    "max_parallelism",
    "multi_signature_combine",
    "signature",
    "signature_channels",
    "signature_combine",
    "signature_to_logsignature",
    "unstable",
]

LyndonBracket = Union[int, List]

def _sigrs() -> Any:
    """The sigrs package (imported late: this module is part of it)."""
    import sigrs

    return sigrs


# ---------------------------------------------------------------------------
# argument checks (signatory's, with its messages; signatory raises ValueError)
# ---------------------------------------------------------------------------


def _int_arg(value: Any, name: str) -> int:
    """An int argument, TypeError otherwise (signatory's C++ binding refuses floats)."""
    if type(value) is int:
        return value
    if isinstance(value, float):
        raise TypeError(f"Argument '{name}' must be an int, got float {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"Argument '{name}' must be an int, got {type(value).__name__} {value!r}") from None


def _tensor_arg(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"Argument '{name}' must be a torch.Tensor, got {type(value).__name__}")
    return value


def _check_channels_depth(channels: Any, depth: Any, channels_message: str, depth_message: str) -> Tuple[int, int]:
    channels = _int_arg(channels, "channels")
    depth = _int_arg(depth, "depth")
    if channels < 1:
        raise ValueError(channels_message)
    if depth < 1:
        raise ValueError(depth_message)
    return channels, depth


def _interpret_basepoint(basepoint: Any) -> Union[bool, torch.Tensor]:
    """signatory's reading: ``True`` or a tensor is a basepoint; anything else is none."""
    if basepoint is True or isinstance(basepoint, torch.Tensor):
        return basepoint
    return False


def _check_signature_args(
    path: Any, depth: Any, basepoint: Union[bool, torch.Tensor], initial: Optional[torch.Tensor], scalar_term: bool
) -> int:
    """signatory's ``signature_checkargs``, in its order and with its messages."""
    path = _tensor_arg(path, "path")
    depth = _int_arg(depth, "depth")
    if path.dim() == 2:
        raise ValueError(
            "Argument 'path' must be a 3-dimensional tensor, with dimensions corresponding to (batch, stream, "
            "channel) respectively. If you just want the signature or logsignature of a single path then wrap it in "
            "a single batch dimension by replacing e.g. `signature(path, depth)` with "
            "`signature(path.unsqueeze(0), depth).squeeze(0)`."
        )
    if path.dim() != 3:
        raise ValueError(
            "Argument 'path' must be a 3-dimensional tensor, with dimensions corresponding to (batch, stream, "
            f"channel) respectively; got shape {tuple(path.shape)}."
        )
    batch, length, channels = path.shape
    if batch == 0 or length == 0 or channels == 0:
        raise ValueError(f"Argument 'path' cannot have dimensions of size zero; got shape {tuple(path.shape)}.")
    if basepoint is False and length == 1:
        raise ValueError(
            "Argument 'path' must have stream dimension of size at least 2. (Need at least this many points to "
            "define a path.)"
        )
    if depth < 1:
        raise ValueError(f"Argument 'depth' must be an integer greater than or equal to one; got {depth}.")
    if not path.is_floating_point():
        raise ValueError(f"Argument 'path' must be of floating point type; got {path.dtype}.")
    if path.dtype != torch.float32 and path.dtype != torch.float64:
        # signatory raised ValueError for the floating dtypes it could not compute in, too
        raise ValueError(f"Argument 'path' must be float32 or float64 (sigrs computes in those); got {path.dtype}.")
    if isinstance(basepoint, torch.Tensor):
        if basepoint.dim() != 2:
            raise ValueError(
                "Argument 'basepoint' must be a 2-dimensional tensor, corresponding to (batch, channel) "
                f"respectively; got shape {tuple(basepoint.shape)}."
            )
        if tuple(basepoint.shape) != (batch, channels):
            raise ValueError(
                "Arguments 'basepoint' and 'path' must have dimensions of the same size; got basepoint "
                f"{tuple(basepoint.shape)} for path {tuple(path.shape)}, expected {(batch, channels)}."
            )
        if basepoint.device != path.device:
            raise ValueError("Argument 'basepoint' does not have the same device as 'path'.")
        if basepoint.dtype != path.dtype:
            raise ValueError("Argument 'basepoint' does not have the same dtype as 'path'.")
    if initial is not None:
        if initial.dim() != 2:
            raise ValueError(
                "Argument 'initial' must be a 2-dimensional tensor, corresponding to (batch, signature_channels) "
                f"respectively; got shape {tuple(initial.shape)}."
            )
        expected = (batch, signature_channels(channels, depth, scalar_term))
        if tuple(initial.shape) != expected:
            raise ValueError(
                "Argument 'initial' must have correctly sized batch and channel dimensions; got "
                f"{tuple(initial.shape)}, expected {expected}."
            )
        if initial.device != path.device:
            raise ValueError("Argument 'initial' does not have the same device as 'path'.")
        if initial.dtype != path.dtype:
            raise ValueError("Argument 'initial' does not have the same dtype as 'path'.")
    return depth


# ---------------------------------------------------------------------------
# signatures
# ---------------------------------------------------------------------------


def signature(
    path: torch.Tensor,
    depth: int,
    stream: bool = False,
    basepoint: Union[bool, torch.Tensor] = False,
    inverse: bool = False,
    initial: Optional[torch.Tensor] = None,
    scalar_term: bool = False,
) -> torch.Tensor:
    r"""Applies the signature transform to a stream of data.

    Each batch element of ``path`` is the stream :math:`(x_1, \ldots, x_L)`,
    joined by straight lines; its signature truncated at ``depth`` is the
    collection of iterated integrals over all words of length ``1..depth``,
    by length and then lexicographically. Computed by :func:`sigrs.sig`.

    Args:
        path: ``(N, L, C)`` tensor (exactly three dimensions), float32 or float64.
        depth: truncation depth, at least 1.
        stream: if True, return the signatures of every prefix
            :math:`(x_1, \ldots, x_j)`, :math:`j = 2, \ldots, L` (or
            :math:`j = 1, \ldots, L` with a basepoint).
        basepoint: True prepends the origin :math:`x_0 = 0`; an ``(N, C)``
            tensor prepends that point. Anything else means no basepoint.
        inverse: compute the inverse signature (the signature of the
            reversed path).
        initial: ``(N, signature_channels(C, depth, scalar_term))``, the
            signature of a preceding path, multiplied on the left:
            ``initial (x) Sig(path)`` (``Sig(path)^-1 (x) initial`` with
            ``inverse``). Set ``basepoint`` to that path's last point.
        scalar_term: prepend the constant 1 to every signature.

    Returns:
        ``(N, S)`` with ``S = signature_channels(C, depth, scalar_term)``; with
        ``stream``, ``(N, L, S)`` if a basepoint is given and ``(N, L - 1, S)``
        otherwise. Same dtype and device as ``path``; differentiable with
        respect to ``path``, a tensor ``basepoint`` and ``initial``.

    Example::

        >>> path = torch.rand(2, 10, 3)
        >>> signatory.signature(path, 3).shape
        torch.Size([2, 39])
        >>> signatory.signature(path, 3, stream=True, basepoint=True).shape
        torch.Size([2, 10, 39])
    """
    if initial is not None and basepoint is False:
        warnings.warn(
            "Argument 'initial' has been set but argument 'basepoint' has not. This is almost certainly a mistake. "
            "Argument 'basepoint' should be set to the final value of the path whose signature is 'initial'. See "
            "the documentation at\n    https://signatory.readthedocs.io/en/latest/pages/examples/online.html\n"
            "for more information."
        )
    basepoint = _interpret_basepoint(basepoint)
    initial = initial if isinstance(initial, torch.Tensor) else None
    scalar_term = bool(scalar_term)
    depth = _check_signature_args(path, depth, basepoint, initial, scalar_term)
    return _sigrs().sig(
        path,
        depth,
        stream=bool(stream),
        basepoint=basepoint,
        inverse=bool(inverse),
        initial=initial,
        scalar_term=scalar_term,
    )


class Signature(nn.Module):
    """:class:`torch.nn.Module` wrapper around :func:`signature`.

    Args:
        depth, stream, inverse, scalar_term: as :func:`signature`.

    Example::

        >>> layer = signatory.Signature(3, stream=True)
        >>> layer(torch.rand(2, 10, 3)).shape
        torch.Size([2, 9, 39])
    """

    def __init__(self, depth: int, stream: bool = False, inverse: bool = False, scalar_term: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth
        self.stream = stream
        self.inverse = inverse
        self.scalar_term = scalar_term

    def forward(
        self, path: torch.Tensor, basepoint: Union[bool, torch.Tensor] = False, initial: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """The signature of ``path`` (``(N, L, C)``); ``basepoint`` and ``initial`` as :func:`signature`."""
        return signature(
            path,
            self.depth,
            stream=self.stream,
            basepoint=basepoint,
            inverse=self.inverse,
            initial=initial,
            scalar_term=self.scalar_term,
        )

    def extra_repr(self) -> str:
        return f"depth={self.depth}, stream={self.stream}, inverse={self.inverse}"


def signature_channels(channels: int, depth: int, scalar_term: bool = False) -> int:
    r"""Number of channels of a signature: :math:`C + C^2 + \cdots + C^\text{depth}` (plus one with ``scalar_term``).

    Args:
        channels: the number of channels :math:`C` of the path, at least 1.
        depth: the signature's depth, at least 1.
        scalar_term: whether the constant 1 is included.

    Returns:
        An int. ValueError if the value does not fit in 64 bits.

    Example::

        >>> signatory.signature_channels(3, 4)
        120
    """
    channels, depth = _check_channels_depth(
        channels, depth, "input_channels must be at least 1", "depth must be at least 1"
    )
    try:
        return _sigrs().sig_length(channels, depth, scalar_term=bool(scalar_term))
    except OverflowError:
        raise ValueError("Integer overflow detected.") from None


def extract_signature_term(
    sigtensor: torch.Tensor, channels: int, depth: int, scalar_term: bool = False
) -> torch.Tensor:
    r"""The level ``depth`` of a signature: its :math:`C^\text{depth}` coefficients (a view).

    Args:
        sigtensor: ``(..., S)``, a result of :func:`signature` (streamed or not).
        channels: the number of channels :math:`C` of the path.
        depth: which level to extract, at least 1.
        scalar_term: whether ``sigtensor`` includes the constant 1.

    Returns:
        ``(..., channels ** depth)``, a view of ``sigtensor``.

    Example::

        >>> sig = signatory.signature(torch.rand(2, 10, 3), 3)
        >>> signatory.extract_signature_term(sig, 3, 2).shape
        torch.Size([2, 9])
    """
    channels = _int_arg(channels, "channels")
    depth = _int_arg(depth, "depth")
    if channels < 1:
        raise ValueError("in_channels must be at least 1")
    sigtensor = _tensor_arg(sigtensor, "sigtensor")
    start = int(bool(scalar_term)) if depth == 1 else signature_channels(channels, depth - 1, scalar_term)
    length = channels**depth
    if start + length > sigtensor.shape[-1]:
        raise ValueError(
            f"Argument 'sigtensor' has {sigtensor.shape[-1]} channels, too few for the depth {depth} term of a "
            f"signature of {channels} channels (needs {start + length})."
        )
    return sigtensor.narrow(-1, start, length)


def _check_sigtensors(
    sigtensors: List[torch.Tensor], input_channels: Any, depth: Any, scalar_term: bool
) -> Tuple[int, int]:
    """signatory's checks for ``signature_combine_forward``."""
    input_channels, depth = _check_channels_depth(
        input_channels,
        depth,
        "Argument 'channels' must be at least one.",
        "Argument 'depth' must be an integer greater than or equal to one.",
    )
    if len(sigtensors) == 0:
        raise ValueError("sigtensors must be of nonzero length.")
    expected = signature_channels(input_channels, depth, scalar_term)
    batch = None
    for elem in sigtensors:
        _tensor_arg(elem, "sigtensors")
        if elem.dim() != 2:
            raise ValueError(
                "An element of sigtensors is not two-dimensional. Every element must have two dimensions, "
                "corresponding to (batch, signature_channels(input_channels, depth, scalar_term)); got shape "
                f"{tuple(elem.shape)}."
            )
        if batch is None:
            batch = elem.shape[0]
        elif elem.shape[0] != batch:
            raise ValueError("Not every element of sigtensors has the same number of batch dimensions.")
        if elem.shape[1] != expected:
            raise ValueError(
                f"An element of sigtensors did not have the right number of channels: got {elem.shape[1]}, expected "
                f"{expected}."
            )
    return input_channels, depth


def signature_combine(
    sigtensor1: torch.Tensor,
    sigtensor2: torch.Tensor,
    input_channels: int,
    depth: int,
    inverse: bool = False,
    scalar_term: bool = False,
) -> torch.Tensor:
    """Combines two signatures into the signature of the concatenated path (Chen's identity).

    ``sigtensor2`` must be the signature of a path computed with ``basepoint``
    set to the last point of the path of ``sigtensor1``. Computed by
    :func:`sigrs.sig_combine`.

    Args:
        sigtensor1, sigtensor2: ``(N, S)`` signatures of the same shape, from
            :func:`signature`.
        input_channels: the number of channels :math:`C` of the paths.
        depth: the depth of both signatures.
        inverse: whether both are inverse signatures; then the result is the
            inverse signature of the concatenation (``sigtensor2 (x) sigtensor1``).
        scalar_term: whether both include the constant 1.

    Returns:
        ``(N, S)``, differentiable with respect to both inputs.

    Example::

        >>> x = torch.rand(2, 10, 3)
        >>> s1 = signatory.signature(x[:, :5], 3)
        >>> s2 = signatory.signature(x[:, 5:], 3, basepoint=x[:, 4])
        >>> torch.allclose(signatory.signature_combine(s1, s2, 3, 3), signatory.signature(x, 3))
        True
    """
    return multi_signature_combine([sigtensor1, sigtensor2], input_channels, depth, inverse, scalar_term)


def multi_signature_combine(
    sigtensors: List[torch.Tensor], input_channels: int, depth: int, inverse: bool = False, scalar_term: bool = False
) -> torch.Tensor:
    """Combines several signatures into the signature of the concatenated path.

    Each signature after the first must have been computed with ``basepoint``
    set to the last point of the preceding path. Computed by
    :func:`sigrs.multi_sig_combine`.

    Args:
        sigtensors: a list of ``(N, S)`` signatures of the same shape.
        input_channels, depth, inverse, scalar_term: as :func:`signature_combine`.

    Returns:
        ``(N, S)``: the signature of the concatenation of the paths (its
        inverse signature with ``inverse``).

    Example::

        >>> x = torch.rand(2, 12, 3)
        >>> pieces = [signatory.signature(x[:, :4], 2)]
        >>> pieces += [signatory.signature(x[:, i:i + 4], 2, basepoint=x[:, i - 1]) for i in (4, 8)]
        >>> torch.allclose(signatory.multi_signature_combine(pieces, 3, 2), signatory.signature(x, 2))
        True
    """
    sigtensors = list(sigtensors)
    scalar_term = bool(scalar_term)
    input_channels, depth = _check_sigtensors(sigtensors, input_channels, depth, scalar_term)
    if inverse:
        sigtensors = sigtensors[::-1]
    sigrs = _sigrs()
    if len(sigtensors) == 2:
        return sigrs.sig_combine(sigtensors[0], sigtensors[1], input_channels, depth)
    return sigrs.multi_sig_combine(sigtensors, input_channels, depth)


def invert_signature(
    signature: torch.Tensor, depth: int, channels: int, initial_position: Optional[torch.Tensor] = None
) -> torch.Tensor:
    r"""Reconstructs a path from its signature with the insertion algorithm (signatory's ``invert_signature``).

    Note the argument order ``(signature, depth, channels)``. The result is
    a piecewise linear path of ``depth + 1`` points whose signature
    approximates ``signature``; the starting point, which a signature cannot
    see, is ``initial_position`` (or the origin). Point ``p`` is point
    ``p - 1`` plus the derivative that the insertion of one letter at
    position ``p`` into level ``depth - 1`` predicts from level ``depth``.
    (This is not the group inverse: for that use ``inverse=True`` in
    :func:`signature`, or :func:`sigrs.sig_inverse`.)

    Args:
        signature: ``(N, signature_channels(channels, depth))``, without the scalar term.
        depth: the depth of ``signature``.
        channels: the number of channels :math:`C` of the path.
        initial_position: ``(N, C)``, the first point; zeros if None.

    Returns:
        ``(N, depth + 1, C)`` in the dtype and on the device of ``signature``
        (signatory always returned float32 on the CPU). Differentiable.

    Example::

        >>> sig = signatory.signature(torch.rand(1, 10, 2), 4)
        >>> signatory.invert_signature(sig, 4, 2).shape
        torch.Size([1, 5, 2])
    """
    signature = _tensor_arg(signature, "signature")
    depth = _int_arg(depth, "depth")
    channels = _int_arg(channels, "channels")
    if signature.dim() != 2 or signature_channels(channels, depth) != signature.shape[1]:
        raise ValueError("channels and depth do not correspond to signature shape.")
    batch = signature.shape[0]
    first = signature.new_zeros(batch, channels)
    if initial_position is not None:
        first = first + initial_position.to(first)
    points = [first]
    if depth == 1:
        points.append(first + signature)
        return torch.stack(points, dim=1)
    top = extract_signature_term(signature, channels, depth)  # level n + 1
    below = extract_signature_term(signature, channels, depth - 1)  # level n
    norm2 = below.pow(2).sum(dim=1, keepdim=True)
    n = depth - 1
    for position in range(1, depth + 1):
        # x[b, i] = depth * sum over words w of length n + 1 with w[position] = i
        #           of S^n[w without its letter at position] S^(n+1)[w]
        left, right = channels ** (position - 1), channels ** (n + 1 - position)
        projected = torch.einsum(
            "bjk,bjik->bi", below.reshape(batch, left, right), top.reshape(batch, left, channels, right)
        )
        derivative = depth * projected / norm2
        points.append(points[-1] + derivative * (1 / depth))
    return torch.stack(points, dim=1)


# ---------------------------------------------------------------------------
# words
# ---------------------------------------------------------------------------


def all_words(channels: int, depth: int) -> List[Tuple[int, ...]]:
    """All words of length ``1..depth`` over ``0..channels-1``: the order of :func:`signature`'s channels.

    Returns:
        A list of tuples of ints (as signatory returns them), by length and
        then lexicographically.

    Example::

        >>> signatory.all_words(2, 2)
        [(0,), (1,), (0, 0), (0, 1), (1, 0), (1, 1)]
    """
    out: List[Tuple[int, ...]] = []
    for length in range(1, depth + 1):
        out.extend(itertools.product(range(channels), repeat=length))
    return out


def _lyndon_words_by_length(channels: int, depth: int) -> List[Tuple[int, ...]]:
    """Lyndon words of length ``1..depth``, by length then lexicographically (Duval's algorithm)."""
    words: List[Tuple[int, ...]] = []
    word = [-1]
    while word:
        word[-1] += 1
        words.append(tuple(word))
        period = len(word)
        while len(word) < depth:
            word.append(word[len(word) - period])
        while word and word[-1] == channels - 1:
            word.pop()
    words.sort(key=lambda w: (len(w), w))
    return words


def lyndon_words(channels: int, depth: int) -> List[List[int]]:
    """All Lyndon words of length ``1..depth`` over ``0..channels-1``, by length then lexicographically.

    This is the order of a log-signature with ``mode="words"``.

    Returns:
        A list of lists of ints.

    Example::

        >>> signatory.lyndon_words(2, 3)
        [[0], [1], [0, 1], [0, 0, 1], [0, 1, 1]]
    """
    channels, depth = _check_channels_depth(
        channels,
        depth,
        "Argument 'channels' must be at least one.",
        "Argument 'depth' must be an integer greater than or equal to one.",
    )
    return [list(w) for w in _lyndon_words_by_length(channels, depth)]


def lyndon_brackets(channels: int, depth: int) -> List[LyndonBracket]:
    """The Lyndon words of :func:`lyndon_words` in their standard bracketing.

    A letter is an int; a longer word ``w = uv``, split at its longest proper
    Lyndon suffix ``v``, is the list ``[bracket(u), bracket(v)]``. This is the
    order of a log-signature with ``mode="brackets"``.

    Example::

        >>> signatory.lyndon_brackets(2, 3)
        [0, 1, [0, 1], [0, [0, 1]], [[0, 1], 1]]
    """
    channels, depth = _check_channels_depth(
        channels,
        depth,
        "Argument 'channels' must be at least one.",
        "Argument 'depth' must be an integer greater than or equal to one.",
    )
    words = _lyndon_words_by_length(channels, depth)
    lyndon = set(words)
    brackets: Dict[Tuple[int, ...], LyndonBracket] = {}
    out: List[LyndonBracket] = []
    for word in words:
        if len(word) == 1:
            bracket: LyndonBracket = word[0]
        else:
            split = next(i for i in range(1, len(word)) if word[i:] in lyndon)
            bracket = [brackets[word[:split]], brackets[word[split:]]]
        brackets[word] = bracket
        out.append(bracket)
    return out


def _mobius(n: int) -> int:
    result, p = 1, 2
    while p * p <= n:
        if n % p == 0:
            n //= p
            if n % p == 0:
                return 0
            result = -result
        p += 1
    return -result if n > 1 else result


def logsignature_channels(in_channels: int, depth: int) -> int:
    r"""Number of channels of a log-signature in ``"words"`` or ``"brackets"`` mode (Witt's formula).

    The number of Lyndon words of length ``1..depth``:
    :math:`\sum_{k=1}^{\text{depth}} \frac1k \sum_{d | k} \mu(k/d)\, C^d`.

    Example::

        >>> signatory.logsignature_channels(3, 4)
        32
    """
    in_channels, depth = _check_channels_depth(
        in_channels, depth, "in_channels must be at least 1", "depth must be at least 1"
    )
    total = 0
    for k in range(1, depth + 1):
        total += sum(_mobius(k // d) * in_channels**d for d in range(1, k + 1) if k % d == 0) // k
    return total


# ---------------------------------------------------------------------------
# log-signatures
# ---------------------------------------------------------------------------

_MODES = {"expand": 0, "words": 1, "brackets": 2}
"""signatory's modes and the sigrs ``method`` of each: 0 expanded, 1 Lyndon words, 2 Lyndon basis."""


def _interpret_mode(mode: Any) -> int:
    """The sigrs method of a signatory mode; ValueError (signatory's message) for anything else."""
    if isinstance(mode, str) and mode in _MODES:
        return _MODES[mode]
    raise ValueError("Invalid values for argument 'mode'. Valid values are 'expand', 'brackets', or 'words'.")


def _check_logsignature_channels_depth(channels: Any, depth: Any) -> Tuple[int, int]:
    """signatory's ``checkargs_channels_depth`` (TypeError for non-ints, ValueError below one)."""
    return _check_channels_depth(
        channels,
        depth,
        "Argument 'channels' must be at least one.",
        "Argument 'depth' must be an integer greater than or equal to one.",
    )


def _check_signature_for_logsignature(
    signature: Any, channels: int, depth: int, stream: bool, scalar_term: bool
) -> torch.Tensor:
    """signatory's ``logsignature_checkargs``, in its order and with its messages."""
    signature = _tensor_arg(signature, "signature")
    shape = tuple(signature.shape)
    if stream and signature.dim() != 3:
        raise ValueError(
            "Argument 'signature' must be a 3-dimensional tensor, with dimensions corresponding to (batch, stream, "
            f"channel) respectively; got shape {shape}."
        )
    if not stream and signature.dim() != 2:
        raise ValueError(
            "Argument 'signature' must be a 2-dimensional tensor, with dimensions corresponding to (batch, channel) "
            f"respectively; got shape {shape}."
        )
    if 0 in shape:
        raise ValueError(f"Argument 'signature' cannot have dimensions of size zero; got shape {shape}.")
    expected = signature_channels(channels, depth, scalar_term)
    if shape[-1] != expected:
        raise ValueError(
            "Argument 'signature' has the wrong number of channels for the specified channels and depth; got "
            f"{shape[-1]}, expected {expected}."
        )
    if not signature.is_floating_point():
        raise ValueError(f"Argument 'signature' must be of floating point type; got {signature.dtype}.")
    if signature.dtype != torch.float32 and signature.dtype != torch.float64:
        raise ValueError(
            f"Argument 'signature' must be float32 or float64 (sigrs computes in those); got {signature.dtype}."
        )
    return signature


def signature_to_logsignature(
    signature: torch.Tensor,
    channels: int,
    depth: int,
    stream: bool = False,
    mode: str = "words",
    scalar_term: bool = False,
) -> torch.Tensor:
    r"""The log-signature corresponding to a signature: its tensor logarithm, written as ``mode`` says.

    Computed by :func:`sigrs.sig_to_log_sig` (``mode`` ``"expand"``,
    ``"words"``, ``"brackets"`` are its methods 0, 1, 2).

    Args:
        signature: a result of :func:`signature`: ``(N, S)``, or ``(N, L, S)``
            with ``stream``, ``S = signature_channels(channels, depth, scalar_term)``;
            float32 or float64.
        channels: the number of channels :math:`C` of the path.
        depth: the depth of ``signature``.
        stream: whether ``signature`` is a stream of signatures (each row is
            taken separately).
        mode: ``"words"``, ``"brackets"`` or ``"expand"``, as :func:`logsignature`.
        scalar_term: whether ``signature`` includes the scalar term. Its
            value is not read (it is taken to be 1) and it gets zero gradient;
            the log-signature never has one.

    Returns:
        ``(N, K)`` (``(N, L, K)`` with ``stream``), with
        ``K = logsignature_channels(channels, depth)``, or
        ``K = signature_channels(channels, depth)`` for ``"expand"``.
        Differentiable with respect to ``signature``.

    Example::

        >>> sig = signatory.signature(torch.rand(2, 10, 3), 3)
        >>> signatory.signature_to_logsignature(sig, 3, 3).shape
        torch.Size([2, 14])
    """
    return SignatureToLogSignature(channels, depth, stream, mode, scalar_term)(signature)


class SignatureToLogSignature(nn.Module):
    """:class:`torch.nn.Module` wrapper around :func:`signature_to_logsignature`.

    Checks ``mode``, ``channels`` and ``depth`` on construction (ValueError,
    as signatory) and builds sigrs's Lyndon tables for them
    (:func:`sigrs.prepare_log_sig`).

    Args:
        channels, depth, stream, mode, scalar_term: as :func:`signature_to_logsignature`.

    Example::

        >>> layer = signatory.SignatureToLogSignature(3, 3, mode="brackets")
        >>> layer(signatory.signature(torch.rand(2, 10, 3), 3)).shape
        torch.Size([2, 14])
    """

    def __init__(
        self, channels: int, depth: int, stream: bool = False, mode: str = "words", scalar_term: bool = False, **kwargs
    ):
        super().__init__(**kwargs)
        self._channels = channels
        self._depth = depth
        self._stream = stream
        self._mode = mode
        self._scalar_term = scalar_term
        self._method = _interpret_mode(mode)
        channels, depth = _check_logsignature_channels_depth(channels, depth)
        _sigrs().prepare_log_sig(channels, depth, self._method)

    def forward(self, signature: torch.Tensor) -> torch.Tensor:
        """The log-signature of ``signature``; see :func:`signature_to_logsignature`."""
        channels, depth = int(self._channels), int(self._depth)
        scalar_term = bool(self._scalar_term)
        signature = _check_signature_for_logsignature(signature, channels, depth, bool(self._stream), scalar_term)
        if scalar_term:
            signature = signature.narrow(-1, 1, signature.shape[-1] - 1)
        # sigrs takes any leading axes: a stream is just one more
        return _sigrs().sig_to_log_sig(signature, channels, depth, method=self._method)

    def extra_repr(self) -> str:
        return f"channels={self._channels}, depth={self._depth}, stream={self._stream}, mode={self._mode!r}"


SignatureToLogsignature = SignatureToLogSignature


def logsignature(
    path: torch.Tensor,
    depth: int,
    stream: bool = False,
    basepoint: Union[bool, torch.Tensor] = False,
    inverse: bool = False,
    mode: str = "words",
) -> torch.Tensor:
    r"""Applies the log-signature transform to a stream of data.

    The logarithm, in the truncated tensor algebra, of :func:`signature`
    called with the same ``path``, ``depth``, ``stream``, ``basepoint`` and
    ``inverse``: :func:`sigrs.sig`, then :func:`sigrs.sig_to_log_sig`.

    Args:
        path, depth, stream, basepoint, inverse: as :func:`signature`.
        mode: how the log-signature is written; words are ordered by length,
            then lexicographically.

            * ``"words"`` (the default): its coefficients at the Lyndon words
              (:func:`lyndon_words`), the coordinates in signatory's basis of
              the free Lie algebra in which each Lyndon word has a basis
              element of its own;
            * ``"brackets"``: its coordinates in the Lyndon basis, the
              standard bracketings of :func:`lyndon_brackets`;
            * ``"expand"``: the whole logarithm, every word's coefficient,
              laid out like :func:`signature`.

    Returns:
        As :func:`signature` (``(N, K)``, or ``(N, L, K)`` / ``(N, L - 1, K)``
        with ``stream``), with ``K = logsignature_channels(C, depth)``, or
        ``K = signature_channels(C, depth)`` for ``"expand"``.
        Differentiable with respect to ``path`` and a tensor ``basepoint``.

    Example::

        >>> path = torch.rand(2, 10, 3)
        >>> signatory.logsignature(path, 4).shape
        torch.Size([2, 32])
        >>> signatory.logsignature(path, 4, stream=True, mode="expand").shape
        torch.Size([2, 9, 120])
    """
    return LogSignature(depth, stream=stream, inverse=inverse, mode=mode)(path, basepoint=basepoint)


class LogSignature(nn.Module):
    """:class:`torch.nn.Module` wrapper around :func:`logsignature`.

    ``mode`` is checked when the layer is first called or prepared, as in
    signatory.

    Args:
        depth, stream, inverse, mode: as :func:`logsignature`.

    Example::

        >>> layer = signatory.LogSignature(3, stream=True)
        >>> layer(torch.rand(2, 10, 3)).shape
        torch.Size([2, 9, 14])
    """

    def __init__(self, depth: int, stream: bool = False, inverse: bool = False, mode: str = "words", **kwargs):
        super().__init__(**kwargs)
        self._depth = depth
        self._stream = stream
        self._inverse = inverse
        self._mode = mode
        self._signature_to_logsignature_instance = None
        self._last_channels = None

    def _get_signature_to_logsignature_instance(self, channels: int) -> SignatureToLogSignature:
        if self._signature_to_logsignature_instance is None or self._last_channels != channels:
            self._last_channels = channels
            self._signature_to_logsignature_instance = SignatureToLogSignature(
                channels, self._depth, self._stream, self._mode
            )
        return self._signature_to_logsignature_instance

    def prepare(self, in_channels: int) -> None:
        """Checks the arguments and builds sigrs's tables for paths of ``in_channels``
        channels now rather than on the first call (:func:`sigrs.prepare_log_sig`)."""
        self._get_signature_to_logsignature_instance(in_channels)

    def forward(self, path: torch.Tensor, basepoint: Union[bool, torch.Tensor] = False) -> torch.Tensor:
        """The log-signature of ``path`` (``(N, L, C)``); ``basepoint`` as :func:`logsignature`."""
        sig = signature(path, self._depth, stream=self._stream, basepoint=basepoint, inverse=self._inverse)
        return self._get_signature_to_logsignature_instance(path.size(-1))(sig)

    def extra_repr(self) -> str:
        return f"depth={self._depth}, stream={self._stream}, inverse={self._inverse}, mode={self._mode!r}"


Logsignature = LogSignature


_CHUNK = 1 << 22  # numbers per sigrs call in _bracket_coefficients


@functools.lru_cache(maxsize=64)
def _bracket_coefficients(letters: int, length: int) -> Dict[Tuple[int, ...], np.ndarray]:
    """For each anagram class of the Lyndon words of ``length`` that use all
    of ``letters`` letters (keyed by its sorted letters): the integer matrix
    ``A`` with ``A[b, a]`` the coefficient of the class's ``b``-th word in the
    standard bracketing of its ``a``-th (lexicographic order; unitriangular).

    Read from sigrs's Lyndon basis: a tensor that lives in the top level
    alone is its own logarithm, so ``sig_to_log_sig(e_u, method="brackets")``
    is exactly the coordinates ``A^-1 e_u`` of the Lyndon word ``u``.
    """
    sigrs = _sigrs()
    lyndon = [tuple(word) for word in sigrs.lyndon_words(letters, length)]
    position = {word: i for i, word in enumerate(lyndon)}
    words = [word for word in lyndon if len(word) == length and len(set(word)) == letters]
    sig_length = sigrs.sig_length(letters, length)
    coordinates = np.empty((len(words), len(lyndon)))
    rows = max(1, _CHUNK // sig_length)
    for start in range(0, len(words), rows):
        chunk = words[start:start + rows]
        units = np.zeros((len(chunk), sig_length))
        units[np.arange(len(chunk)), [sigrs.word_to_idx(word, letters) for word in chunk]] = 1
        coordinates[start:start + len(chunk)] = sigrs.sig_to_log_sig(units, letters, length, method="brackets")
    classes: Dict[Tuple[int, ...], List[int]] = {}
    for row, word in enumerate(words):
        classes.setdefault(tuple(sorted(word)), []).append(row)
    out = {}
    for key, rows_of_class in classes.items():
        columns = [position[words[row]] for row in rows_of_class]
        inverse = coordinates[np.ix_(rows_of_class, columns)]  # [r, i] = (A^-1)[i, r]
        matrix = np.linalg.inv(inverse.T)
        out[key] = np.rint(matrix).astype(np.int64)
        if np.abs(matrix - out[key]).max() > 1e-6:
            raise RuntimeError(f"Lyndon bracket coefficients of {letters} letters, length {length}: lost precision")
    return out


@functools.lru_cache(maxsize=32)
def _basis_transform(channels: int, depth: int) -> Tuple[Tuple[Tuple[int, int, int], ...], ...]:
    """See :func:`_lyndon_words_to_basis_transform`; cached, as tuples."""
    words = [tuple(word) for word in _sigrs().lyndon_words(channels, depth)]
    groups: List[List[Tuple[int, int, int]]] = [[]]
    for length in range(2, depth + 1):
        classes: Dict[Tuple[int, ...], List[int]] = {}
        for i, word in enumerate(words):
            if len(word) == length:
                classes.setdefault(tuple(sorted(word)), []).append(i)
        for letters in sorted(classes):  # signatory's order: by the sorted letters
            members = classes[letters]
            # relabelling the letters in order changes neither Lyndon words nor brackets
            distinct = sorted(set(letters))
            relabel = {letter: i for i, letter in enumerate(distinct)}
            matrix = _bracket_coefficients(len(distinct), length)[tuple(relabel[a] for a in letters)]
            if groups[-1]:  # signatory opens a new list only once the last one is used
                groups.append([])
            for a, source in enumerate(members):
                for b in range(a + 1, len(members)):
                    if matrix[b, a] != 0:
                        groups[-1].append((source, members[b], int(matrix[b, a])))
    return tuple(tuple(group) for group in groups)


def _lyndon_words_to_basis_transform(channels: int, depth: int) -> List[List[Tuple[int, int, int]]]:
    r"""signatory's ``unstable.lyndon_words_to_basis_transform``: the triangular
    change of basis from ``"words"`` to ``"brackets"`` log-signatures.

    For the Lyndon words :math:`w_0, w_1, \ldots` of :func:`lyndon_words`
    and their standard bracketings :math:`P_{w_i}` (:func:`lyndon_brackets`),
    a tuple ``(i, j, c)`` says that the word :math:`w_j` has coefficient
    ``c`` in the expansion of :math:`P_{w_i}` (``j > i``, same letters).
    Applying ``x[j] -= c * x[i]`` for every tuple, in order, turns a
    ``"words"`` log-signature ``x`` into the ``"brackets"`` one. The tuples
    are grouped by anagram class, in signatory's order and grouping;
    signatory also lists some tuples with ``c == 0`` (where its expansion
    cancels), which are left out here.

    The coefficients are read from sigrs's own Lyndon basis:
    :func:`sigrs.sig_to_log_sig` with ``method="brackets"`` of single Lyndon
    words at the top level, where the logarithm is the identity. Letters
    relabelled in order give the same coefficients, so this takes one call
    per length ``k`` and number ``m <= min(channels, k)`` of distinct
    letters, on tensors of ``m**k`` numbers: fast to depth 6 or 7, slow beyond.

    Returns:
        A list of lists of ``(source, target, coefficient)`` int tuples.

    Example::

        >>> signatory.unstable.lyndon_words_to_basis_transform(2, 5)
        [[(9, 10, -2)], [(11, 12, -3)], []]
    """
    channels, depth = _check_logsignature_channels_depth(channels, depth)
    return [list(group) for group in _basis_transform(channels, depth)]


unstable = types.ModuleType("sigrs.signatory.unstable", "signatory's experimental API.")
unstable.lyndon_words_to_basis_transform = _lyndon_words_to_basis_transform


# ---------------------------------------------------------------------------
# Path: signatures on intervals
# ---------------------------------------------------------------------------


class _SliceSignature(torch.autograd.Function):
    """Returns a signature computed by Chen's identity, and backpropagates
    straight into the points of the slice it belongs to (not through the
    prefix signatures), as signatory does: the cost of the backward pass is
    that of the slice, and points outside it get exactly zero gradient."""

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
        sigrs = _sigrs()
        sub = torch.cat(pieces, dim=1) if len(pieces) > 1 else pieces[0]
        sig = sigrs.sig(sub, ctx.depth, scalar_term=grad.shape[-1] != sigrs.sig_length(sub.shape[-1], ctx.depth))
        d_sub = sigrs.sig_backprop(sub, sig, grad.contiguous(), ctx.depth)
        return (None, None) + tuple(torch.split(d_sub, ctx.sizes, dim=1))


class Path:
    """Signatures of a batch of paths over any interval, from precomputed prefix signatures.

    The constructor and :meth:`update` compute the signature of every prefix
    once (:func:`sigrs.sig` with ``stream=True``, continued from the last
    prefix across updates). :meth:`signature` then answers any interval
    ``[start, end)`` in O(signature size) by Chen's identity,
    ``Sig(p[start:end]) = Sig(p[:start + 1])^-1 (x) Sig(p[:end])``
    (:func:`sigrs.sig_inverse` and :func:`sigrs.sig_combine`). May be indexed
    along its batch dimension with ``[]``.

    Args:
        path: ``(N, L, C)``, as :func:`signature`.
        depth: as :func:`signature`.
        basepoint: as :func:`signature`; it becomes the path's first point.
        remember_path: keep references to the given paths (the :attr:`path`
            property). Gradients of :meth:`signature` then flow straight into
            the points of the interval, as in signatory; without it they flow
            through the prefix signatures (signatory cannot differentiate
            there at all).
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

    __slots__ = (
        "_remember_path",
        "_scalar_term",
        "_depth",
        "_signature",
        "_path",
        "_length",
        "_signature_length",
        "_lengths",
        "_signature_lengths",
        "_batch_size",
        "_channels",
        "_device",
        "_signature_channels",
        "_logsignature_channels",
        "_end",
    )

    def __init__(
        self,
        path: torch.Tensor,
        depth: int,
        basepoint: Union[bool, torch.Tensor] = False,
        remember_path: bool = True,
        scalar_term: bool = False,
        **kwargs,
    ):
        path = _tensor_arg(path, "path")
        if path.dim() != 3:
            _check_signature_args(path, depth, _interpret_basepoint(basepoint), None, False)
        self._remember_path = bool(remember_path)
        self._scalar_term = bool(scalar_term)
        self._depth = _int_arg(depth, "depth")
        self._signature: List[torch.Tensor] = []  # prefix signatures, (N, rows, S) per update
        self._path: List[torch.Tensor] = []
        self._length = 0
        self._signature_length = 0
        self._lengths: List[int] = []  # cumulative number of points after each piece of _path
        self._signature_lengths: List[int] = []  # cumulative number of prefix signatures
        self._batch_size = path.shape[0]
        self._channels = path.shape[2]
        self._device = path.device
        self._signature_channels = signature_channels(self._channels, self._depth, self._scalar_term)
        self._logsignature_channels = logsignature_channels(self._channels, self._depth)
        self._end = _interpret_basepoint(basepoint)
        if self._end is not False:
            # The basepoint is the first point. (signatory counted it only with
            # remember_path, which shifted every index of that case by one.)
            self._length += 1
            self._lengths.append(1)
            if self._remember_path:
                first = self._end
                if not isinstance(first, torch.Tensor):
                    first = path.new_zeros(path.shape[0], path.shape[2])
                self._path.append(first.unsqueeze(-2))
        self._update(path, None)
        super().__init__(**kwargs)

    # -- building -----------------------------------------------------------

    def update(self, path: torch.Tensor) -> None:
        """Appends ``path`` (``(N, L, C)``, joined on by a straight line from the
        current last point) to the stored path, in O(L signature size).

        Example::

            >>> p = signatory.Path(torch.rand(2, 5, 3), 2)
            >>> p.update(torch.rand(2, 4, 3))
            >>> p.shape
            torch.Size([2, 9, 3])
        """
        path = _tensor_arg(path, "path")
        if path.dim() != 3:
            _check_signature_args(path, self._depth, self._end, None, self._scalar_term)
        if path.shape[0] != self._batch_size:
            raise ValueError(
                "Cannot append a path with different number of batch elements to what has already been used."
            )
        if path.shape[2] != self._channels:
            raise ValueError("Cannot append a path with different number of channels to what has already been used.")
        self._update(path, self._signature[-1][:, -1])

    def _update(self, path: torch.Tensor, initial: Optional[torch.Tensor]) -> None:
        # With remember_path, queries backpropagate through the stored points
        # (_SliceSignature), so the prefix signatures need no graph.
        with torch.no_grad() if self._remember_path else contextlib.nullcontext():
            prefixes = signature(
                path,
                self._depth,
                stream=True,
                basepoint=self._end,
                initial=initial,
                scalar_term=self._scalar_term,
            )
            end = path[:, -1].clone()
        self._signature.append(prefixes)
        if self._remember_path:
            self._path.append(path)
        self._end = end
        self._length += path.shape[1]
        self._signature_length += prefixes.shape[1]
        self._lengths.append(self._length)
        self._signature_lengths.append(self._signature_length)

    # -- queries ------------------------------------------------------------

    @staticmethod
    def _locate(lengths: List[int], index: int) -> Tuple[int, int]:
        """(piece, offset in piece) of a global index, for cumulative ``lengths``."""
        piece = bisect.bisect_right(lengths, index)
        return piece, index - (lengths[piece - 1] if piece > 0 else 0)

    def _prefix(self, index: int) -> torch.Tensor:
        """Signature of points ``[0, index + 2)``."""
        piece, offset = self._locate(self._signature_lengths, index)
        return self._signature[piece][:, offset]

    def signature(self, start: Optional[int] = None, end: Optional[int] = None) -> torch.Tensor:
        """The signature of the stored path over the points ``[start, end)``.

        ``start`` and ``end`` follow Python slicing (None, negative and
        out-of-range values), over all points given so far, a basepoint
        first. The interval needs at least two points (ValueError).

        Returns:
            ``(N, S)``, equal to ``signatory.signature(p[:, start:end], depth)``
            with ``p = torch.cat(self.path, dim=1)``; differentiable with
            respect to the given paths and a tensor basepoint.

        Example::

            >>> x = torch.rand(2, 10, 3)
            >>> p = signatory.Path(x, 2)
            >>> torch.allclose(p.signature(-5), signatory.signature(x[:, -5:], 2), atol=1e-6)
            True
        """
        old_start, old_end = start, end
        length = self._length
        start = 0 if start is None else _int_arg(start, "start")
        end = length if end is None else _int_arg(end, "end")
        start = min(max(start, -length), length)
        end = min(max(end, -length), length)
        if start < 0:
            start += length
        if end < 0:
            end += length
        if end - start == 1:
            raise ValueError(
                f"start={old_start}, end={old_end} is interpreted as {start}, {end} for path of length {length}, "
                "which does not describe a valid interval. The given start and end differ by only one, but a single "
                "point is not sufficent to define a path."
            )
        if end - start < 2:
            raise ValueError(
                f"start={old_start}, end={old_end} is interpreted as {start}, {end} for path of length {length}, "
                "which does not describe a valid interval."
            )
        sig_end = self._prefix(end - 2)
        if start == 0:
            result = sig_end.clone()
        else:
            sigrs = _sigrs()
            inverse_start = sigrs.sig_inverse(self._prefix(start - 1), self._channels, self._depth)
            result = sigrs.sig_combine(inverse_start, sig_end, self._channels, self._depth)
        if not self._remember_path:
            return result
        pieces = self._pieces(start, end)
        if torch.is_grad_enabled() and any(piece.requires_grad for piece in pieces):
            return _SliceSignature.apply(result, self._depth, *pieces)
        return result

    def _pieces(self, start: int, end: int) -> List[torch.Tensor]:
        """The stored tensors (views) holding the points ``[start, end)``."""
        index_start, start = self._locate(self._lengths, start)
        index_end, end = self._locate(self._lengths, end)
        if index_start == index_end:
            return [self._path[index_start][:, start:end]]
        pieces = [self._path[index_start][:, start:]]
        pieces.extend(self._path[index_start + 1:index_end])
        if end != 0:
            pieces.append(self._path[index_end][:, :end])
        return pieces

    def logsignature(self, start: Optional[int] = None, end: Optional[int] = None, mode: str = "words") -> torch.Tensor:
        """The log-signature of the stored path over the points ``[start, end)``.

        :meth:`signature` over the interval, then :func:`signature_to_logsignature`
        with ``mode`` (as :func:`logsignature`).

        Returns:
            ``(N, K)``, equal to ``signatory.logsignature(p[:, start:end], depth, mode=mode)``
            with ``p = torch.cat(self.path, dim=1)``; differentiable as :meth:`signature`.

        Example::

            >>> x = torch.rand(2, 10, 3)
            >>> p = signatory.Path(x, 3)
            >>> torch.allclose(p.logsignature(2, 8), signatory.logsignature(x[:, 2:8], 3), atol=1e-6)
            True
        """
        sig = self.signature(start, end)
        to_logsignature = SignatureToLogSignature(
            self._channels, self._depth, stream=False, mode=mode, scalar_term=self._scalar_term
        )
        return to_logsignature(sig)

    # -- properties ---------------------------------------------------------

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
        return torch.Size([self._batch_size, self._length, self._channels])

    def channels(self) -> int:
        """The number of channels ``C`` of the path."""
        return self._channels

    def signature_size(self, index: Optional[int] = None) -> Union[int, torch.Size]:
        """The size of the stored prefix signatures; as :meth:`torch.Tensor.size`."""
        return self.signature_shape if index is None else self.signature_shape[index]

    @property
    def signature_shape(self) -> torch.Size:
        """``(N, number of prefix signatures, signature channels)``."""
        return torch.Size([self._batch_size, self._signature_length, self._signature_channels])

    def signature_channels(self) -> int:
        """The number of channels of a signature; as :func:`signature_channels`."""
        return self._signature_channels

    def logsignature_size(self, index: Optional[int] = None) -> Union[int, torch.Size]:
        """As :meth:`signature_size`, for log-signatures in ``"words"`` mode."""
        return self.logsignature_shape if index is None else self.logsignature_shape[index]

    @property
    def logsignature_shape(self) -> torch.Size:
        """``(N, number of prefix signatures, logsignature channels)``."""
        return torch.Size([self._batch_size, self._signature_length, self._logsignature_channels])

    def logsignature_channels(self) -> int:
        """The number of channels of a log-signature; as :func:`logsignature_channels`."""
        return self._logsignature_channels

    # -- batch indexing -----------------------------------------------------

    def _getitem_inplace(self, item: Any) -> None:
        valid = isinstance(item, (int, slice)) and not isinstance(item, bool)
        valid = valid or (isinstance(item, torch.Tensor) and item.dim() == 1)
        valid = valid or (type(item).__module__ == "numpy" and getattr(item, "ndim", None) == 1)
        valid = valid or (isinstance(item, list) and all(isinstance(i, int) for i in item))
        if not valid:
            raise IndexError(
                "Only integers, slices, one dimensional Tensors, one dimensional numpy arrays, and lists of "
                "integers, are valid indices."
            )
        if isinstance(item, int):
            item = slice(item, item + 1) if item != -1 else slice(-1, None)
        new_signature = [tensor[item] for tensor in self._signature]
        if new_signature[0].shape[0] == 0:
            raise IndexError("Index corresponds to a batch of size zero, which is disallowed.")
        self._path = [tensor[item] for tensor in self._path]
        self._end = self._end[item] if isinstance(self._end, torch.Tensor) else self._end
        self._signature = new_signature
        self._batch_size = new_signature[0].shape[0]

    def __getitem__(self, item: Any) -> "Path":
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
        """A shallow copy: new lists, the same tensors."""
        new = Path.__new__(Path)
        for name in self.__slots__:
            value = getattr(self, name)
            setattr(new, name, list(value) if isinstance(value, list) else value)
        return new

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Path):
            return NotImplemented
        for name in self.__slots__:
            if name in ("_signature", "_path", "_end"):
                continue
            if getattr(self, name) != getattr(other, name):
                return False
        if isinstance(self._end, torch.Tensor) != isinstance(other._end, torch.Tensor):
            return False
        if isinstance(self._end, torch.Tensor):
            if not torch.equal(self._end, other._end):
                return False
        elif self._end != other._end:
            return False
        for name in ("_signature", "_path"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if len(mine) != len(theirs) or not all(torch.equal(a, b) for a, b in zip(mine, theirs)):
                return False
        return True

    def __ne__(self, other: Any) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # mutable, compared by value


# ---------------------------------------------------------------------------
# Augment and deprecated helpers (plain torch, no signatures)
# ---------------------------------------------------------------------------


class Augment(nn.Module):
    r"""Augments a stream with a small network swept along it, optionally with the original stream and time.

    For an input ``(N, L, C)`` the output is ``(N, L - k + 1 + ..., out_channels)``
    (with ``padding=0``, ``stride=1``, ``dilation=1``: ``L - k + 1`` points),
    its channels being, in order: the original stream (points ``k - 1`` on,
    with ``include_original``), time running 0..1 (with ``include_time``),
    and the network's output: a ``Conv1d`` of kernel ``kernel_size`` and
    width ``layer_sizes[0]``, then pointwise ``Conv1d`` layers of widths
    ``layer_sizes[1:]``, with ``activation`` between layers (not after the last).

    Args:
        in_channels: ``C``.
        layer_sizes: an int or a tuple of ints, the widths of the layers.
        kernel_size: ``k``.
        stride, padding, dilation, bias: those of the first ``Conv1d``
            (``bias`` of every layer).
        activation: defaults to ReLU.
        include_original, include_time: whether to include those channels.

    Example::

        >>> aug = signatory.Augment(3, (8, 4), kernel_size=2)
        >>> aug(torch.rand(5, 10, 3)).shape
        torch.Size([5, 9, 8])
    """

    def __init__(
        self,
        in_channels: int,
        layer_sizes: Tuple[int, ...],
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = True,
        activation: Callable[[torch.Tensor], torch.Tensor] = F.relu,
        include_original: bool = True,
        include_time: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(layer_sizes, int):
            layer_sizes = (layer_sizes,)
        self.in_channels = in_channels
        self.layer_sizes = layer_sizes
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.bias = bias
        self.activation = activation
        self.include_original = include_original
        self.include_time = include_time
        self.convs = nn.ModuleList()
        widths = [in_channels] + list(layer_sizes)
        for i, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
            if i == 0:
                conv = nn.Conv1d(width_in, width_out, kernel_size, stride=stride, padding=padding, dilation=dilation,
                                 bias=bias)
            else:
                conv = nn.Conv1d(width_in, width_out, kernel_size=1, bias=bias)
            self.convs.append(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The augmented stream of ``x`` (``(N, L, C)``)."""
        if len(x.shape) != 3:
            raise RuntimeError(
                f"Argument x should have three dimensions, (batch, stream, channel). Given shape {tuple(x.shape)}."
            )
        kept = x.size(1) - self.kernel_size + 1
        pieces = []
        if self.include_original:
            pieces.append(x.narrow(1, self.kernel_size - 1, kept))
        if self.include_time:
            time = torch.linspace(0, 1, kept, dtype=torch.float, device=x.device)
            pieces.append(time.unsqueeze(1).expand(x.size(0), kept, 1))
        if self.layer_sizes:
            out = self.convs[0](x.transpose(1, 2))
            for conv in self.convs[1:]:
                out = conv(self.activation(out))
            pieces.append(out.transpose(1, 2))
        return torch.cat(pieces, dim=2)

    def extra_repr(self) -> str:
        return (
            f"activation={self.activation}, include_original={self.include_original}, "
            f"include_time={self.include_time}"
        )


_max_parallel_value = [8]


def max_parallelism(value: Optional[int] = None) -> int:
    """Deprecated in signatory and does nothing: use ``torch.set_num_threads`` (sigrs takes ``n_jobs``)."""
    warnings.warn(
        "max_parallelism is deprecated and now does nothing. Use torch.set_num_threads and torch.get_num_threads "
        "to control the amount of parallelism.",
        DeprecationWarning,
    )
    if value == -1:
        value = float("inf")
    if value is not None:
        _max_parallel_value[0] = value
    return _max_parallel_value[0]

