"""signatory's log-signatures: :func:`sigrs.sig`, then :func:`sigrs.sig_to_log_sig`.

signatory's modes are sigrs's methods: ``"expand"`` is 0 (every word's
coefficient), ``"words"`` 1 (coefficients at the Lyndon words) and
``"brackets"`` 2 (coordinates in the Lyndon basis).
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import nn

import sigrs

from . import _checks
from .signatures import signature


def signature_to_logsignature(signature: torch.Tensor, channels: int, depth: int, stream: bool = False,
                              mode: str = "words", scalar_term: bool = False) -> torch.Tensor:
    r"""The log-signature of a signature: its tensor logarithm, written as ``mode`` says.

    Args:
        signature: from :func:`signature`: ``(N, S)``, or ``(N, L, S)`` with
            ``stream``, ``S = signature_channels(channels, depth, scalar_term)``.
        channels: the number of channels :math:`C` of the path.
        depth: the depth of ``signature``.
        stream: whether ``signature`` is a stream of signatures.
        mode: ``"words"``, ``"brackets"`` or ``"expand"``, as :func:`logsignature`.
        scalar_term: whether ``signature`` has the scalar term; its value is
            taken to be 1 and gets zero gradient.

    Returns:
        ``(N, K)`` (``(N, L, K)`` with ``stream``), ``K = logsignature_channels(channels, depth)``,
        or ``signature_channels(channels, depth)`` for ``"expand"``. Differentiable.

    Example::

        >>> sig = signatory.signature(torch.rand(2, 10, 3), 3)
        >>> signatory.signature_to_logsignature(sig, 3, 3).shape
        torch.Size([2, 14])
    """
    return SignatureToLogSignature(channels, depth, stream, mode, scalar_term)(signature)


class SignatureToLogSignature(nn.Module):
    """:func:`signature_to_logsignature` as a :class:`torch.nn.Module`.

    Checks ``mode``, ``channels`` and ``depth`` on construction and builds
    sigrs's tables for them (:func:`sigrs.prepare_log_sig`).

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
        self._method = _checks.mode_arg(mode)
        channels, depth = _checks.channels_depth(channels, depth)
        sigrs.prepare_log_sig(channels, depth, self._method)

    def forward(self, signature: torch.Tensor) -> torch.Tensor:
        """The log-signature of ``signature``; see :func:`signature_to_logsignature`."""
        channels, depth = int(self._channels), int(self._depth)
        scalar_term = bool(self._scalar_term)
        signature = _checks.logsignature_args(signature, channels, depth, bool(self._stream), scalar_term)
        if scalar_term:
            signature = signature.narrow(-1, 1, signature.shape[-1] - 1)
        # sigrs takes any leading axes: a stream is just one more
        return sigrs.sig_to_log_sig(signature, channels, depth, method=self._method)

    def extra_repr(self) -> str:
        return f"channels={self._channels}, depth={self._depth}, stream={self._stream}, mode={self._mode!r}"


SignatureToLogsignature = SignatureToLogSignature


def logsignature(path: torch.Tensor, depth: int, stream: bool = False, basepoint: Union[bool, torch.Tensor] = False,
                 inverse: bool = False, mode: str = "words") -> torch.Tensor:
    r"""The log-signature transform: the logarithm of :func:`signature` with the same arguments.

    Args:
        path, depth, stream, basepoint, inverse: as :func:`signature`.
        mode: how the log-signature is written:

            * ``"words"`` (default): its coefficients at the Lyndon words of
              :func:`lyndon_words`, signatory's basis of the free Lie algebra;
            * ``"brackets"``: its coordinates in the Lyndon basis, the
              brackets of :func:`lyndon_brackets`;
            * ``"expand"``: every word's coefficient, laid out as :func:`signature`.

    Returns:
        As :func:`signature`, with ``K = logsignature_channels(C, depth)``
        channels (``signature_channels(C, depth)`` for ``"expand"``).
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
    """:func:`logsignature` as a :class:`torch.nn.Module`; ``mode`` is checked on first use, as in signatory.

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
        # a child module, as in signatory (it shows in repr)
        self._signature_to_logsignature_instance: Optional[SignatureToLogSignature] = None
        self._last_channels = None

    def _to_logsignature(self, channels: int) -> SignatureToLogSignature:
        if self._signature_to_logsignature_instance is None or self._last_channels != channels:
            self._last_channels = channels
            self._signature_to_logsignature_instance = SignatureToLogSignature(
                channels, self._depth, self._stream, self._mode
            )
        return self._signature_to_logsignature_instance

    def prepare(self, in_channels: int) -> None:
        """Checks the arguments and builds sigrs's tables for ``in_channels`` channels now, not on first use."""
        self._to_logsignature(in_channels)

    def forward(self, path: torch.Tensor, basepoint: Union[bool, torch.Tensor] = False) -> torch.Tensor:
        """The log-signature of ``path`` ``(N, L, C)``; ``basepoint`` as :func:`logsignature`."""
        sig = signature(path, self._depth, stream=self._stream, basepoint=basepoint, inverse=self._inverse)
        return self._to_logsignature(path.size(-1))(sig)

    def extra_repr(self) -> str:
        return f"depth={self._depth}, stream={self._stream}, inverse={self._inverse}, mode={self._mode!r}"


Logsignature = LogSignature
