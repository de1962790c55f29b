"""signatory's signature functions: each one check, then one sigrs call.

Layouts are sigrs's own: a batch of paths is ``(batch, stream, channel)``,
a signature ``(batch, channels + ... + channels**depth)`` with words by
length and then lexicographically, ``scalar_term=True`` prepending the 1.
"""

from __future__ import annotations

import warnings
from typing import List, Optional, Union

import torch
from torch import nn

import sigrs

from . import _checks


def signature(path: torch.Tensor, depth: int, stream: bool = False, basepoint: Union[bool, torch.Tensor] = False,
              inverse: bool = False, initial: Optional[torch.Tensor] = None, scalar_term: bool = False) -> torch.Tensor:
    r"""The signature transform of a batch of streams, truncated at ``depth`` (:func:`sigrs.sig`).

    Each batch element of ``path`` is the stream :math:`(x_1, \ldots, x_L)`
    joined by straight lines.

    Args:
        path: ``(N, L, C)`` (exactly three dimensions), float32 or float64.
        depth: truncation depth, at least 1.
        stream: return the signature of every prefix :math:`(x_1, \ldots, x_j)`,
            :math:`j = 2, \ldots, L` (:math:`j = 1, \ldots, L` with a basepoint).
        basepoint: True prepends the origin; an ``(N, C)`` tensor prepends
            that point; anything else means no basepoint.
        inverse: the signature of the reversed path.
        initial: ``(N, S)``, the signature of a preceding path, multiplied on
            the left (``Sig(path)^-1 (x) initial`` with ``inverse``). Set
            ``basepoint`` to that path's last point.
        scalar_term: prepend the constant 1.

    Returns:
        ``(N, S)``, ``S = signature_channels(C, depth, scalar_term)``; with
        ``stream``, ``(N, L, S)`` given a basepoint and ``(N, L - 1, S)``
        otherwise. Differentiable with respect to ``path``, a tensor
        ``basepoint`` and ``initial``.

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
    basepoint = _checks.basepoint_arg(basepoint)
    initial = initial if isinstance(initial, torch.Tensor) else None
    scalar_term = bool(scalar_term)
    depth = _checks.signature_args(path, depth, basepoint, initial, scalar_term)
    return sigrs.sig(
        path, depth, stream=bool(stream), basepoint=basepoint, inverse=bool(inverse), initial=initial,
        scalar_term=scalar_term,
    )


class Signature(nn.Module):
    """:func:`signature` as a :class:`torch.nn.Module`.

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
        """The signature of ``path`` ``(N, L, C)``; ``basepoint`` and ``initial`` as :func:`signature`."""
        return signature(path, self.depth, self.stream, basepoint, self.inverse, initial, self.scalar_term)

    def extra_repr(self) -> str:
        return f"depth={self.depth}, stream={self.stream}, inverse={self.inverse}"


def signature_channels(channels: int, depth: int, scalar_term: bool = False) -> int:
    r"""The number of channels of a signature, :math:`C + C^2 + \cdots + C^\text{depth}` (+1 with ``scalar_term``).

    ValueError when it does not fit in 64 bits.

    Example::

        >>> signatory.signature_channels(3, 4)
        120
    """
    channels, depth = _checks.channels_depth(
        channels, depth, "input_channels must be at least 1", "depth must be at least 1"
    )
    return _checks.sig_length(channels, depth, bool(scalar_term))


def extract_signature_term(
    sigtensor: torch.Tensor, channels: int, depth: int, scalar_term: bool = False
) -> torch.Tensor:
    r"""Level ``depth`` of a signature: a view of its :math:`C^\text{depth}` coefficients.

    Args:
        sigtensor: ``(..., S)``, from :func:`signature` (streamed or not).
        channels: the number of channels :math:`C` of the path.
        depth: the level, at least 1.
        scalar_term: whether ``sigtensor`` includes the constant 1.

    Returns:
        ``(..., channels ** depth)``, a view of ``sigtensor``.

    Example::

        >>> sig = signatory.signature(torch.rand(2, 10, 3), 3)
        >>> signatory.extract_signature_term(sig, 3, 2).shape
        torch.Size([2, 9])
    """
    channels = _checks.int_arg(channels, "channels")
    depth = _checks.int_arg(depth, "depth")
    if channels < 1:
        raise ValueError("in_channels must be at least 1")
    sigtensor = _checks.tensor_arg(sigtensor, "sigtensor")
    start = int(bool(scalar_term)) if depth == 1 else signature_channels(channels, depth - 1, scalar_term)
    length = channels**depth
    if start + length > sigtensor.shape[-1]:
        raise ValueError(
            f"Argument 'sigtensor' has {sigtensor.shape[-1]} channels, too few for the depth {depth} term of a "
            f"signature of {channels} channels (needs {start + length})."
        )
    return sigtensor.narrow(-1, start, length)


def signature_combine(sigtensor1: torch.Tensor, sigtensor2: torch.Tensor, input_channels: int, depth: int,
                      inverse: bool = False, scalar_term: bool = False) -> torch.Tensor:
    """The signature of two paths joined end to end, from theirs (Chen's identity, :func:`sigrs.sig_combine`).

    ``sigtensor2`` must come from a path whose ``basepoint`` was the last
    point of the path of ``sigtensor1``.

    Args:
        sigtensor1, sigtensor2: ``(N, S)`` signatures of the same shape.
        input_channels: the number of channels :math:`C` of the paths.
        depth: the depth of both signatures.
        inverse: both are inverse signatures; the result is then the
            inverse signature of the joined path (``sigtensor2 (x) sigtensor1``).
        scalar_term: whether both include the constant 1.

    Returns:
        ``(N, S)``, differentiable with respect to both inputs.

    Example::

        >>> x = torch.rand(2, 10, 3)
        >>> s1 = signatory.signature(x[:, :5], 3)
        >>> s2 = signatory.signature(x[:, 5:], 3, basepoint=x[:, 4])
        >>> torch.allclose(signatory.signature_combine(s1, s2, 3, 3), signatory.signature(x, 3), atol=1e-6)
        True
    """
    return multi_signature_combine([sigtensor1, sigtensor2], input_channels, depth, inverse, scalar_term)


def multi_signature_combine(
    sigtensors: List[torch.Tensor], input_channels: int, depth: int, inverse: bool = False, scalar_term: bool = False
) -> torch.Tensor:
    """The signature of several paths joined end to end, from theirs (:func:`sigrs.multi_sig_combine`).

    Each signature after the first must come from a path whose ``basepoint``
    was the last point of the path before.

    Args:
        sigtensors: a list of ``(N, S)`` signatures of the same shape.
        input_channels, depth, inverse, scalar_term: as :func:`signature_combine`.

    Returns:
        ``(N, S)``.

    Example::

        >>> x = torch.rand(2, 12, 3)
        >>> pieces = [signatory.signature(x[:, :4], 2)]
        >>> pieces += [signatory.signature(x[:, i:i + 4], 2, basepoint=x[:, i - 1]) for i in (4, 8)]
        >>> torch.allclose(signatory.multi_signature_combine(pieces, 3, 2), signatory.signature(x, 2), atol=1e-6)
        True
    """
    sigtensors = list(sigtensors)
    channels, depth = _checks.sigtensors_args(sigtensors, input_channels, depth, bool(scalar_term))
    if inverse:  # (a b)^-1 = b^-1 a^-1
        sigtensors = sigtensors[::-1]
    if len(sigtensors) == 2:
        return sigrs.sig_combine(sigtensors[0], sigtensors[1], channels, depth)
    return sigrs.multi_sig_combine(sigtensors, channels, depth)
