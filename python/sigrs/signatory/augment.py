"""signatory's ``Augment`` and deprecated ``max_parallelism``: plain torch, no signatures."""

from __future__ import annotations

import warnings
from typing import Callable, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F


class Augment(nn.Module):
    r"""Augments a stream with a small network swept along it, optionally with the original stream and time.

    For ``(N, L, C)`` input (``padding=0``, ``stride=1``, ``dilation=1``) the
    output is ``(N, L - k + 1, out_channels)``, its channels in order: the
    original stream from point ``k - 1`` on (``include_original``), time
    running 0..1 (``include_time``), and the network's output: a ``Conv1d``
    of kernel ``k`` and width ``layer_sizes[0]``, then pointwise ``Conv1d``
    layers of widths ``layer_sizes[1:]``, ``activation`` between layers.

    Args:
        in_channels: ``C``.
        layer_sizes: an int or a tuple of ints, the widths of the layers.
        kernel_size: ``k``.
        stride, padding, dilation: those of the first ``Conv1d``.
        bias: whether every layer has a bias.
        activation: defaults to ReLU.
        include_original, include_time: whether to include those channels.

    Example::

        >>> aug = signatory.Augment(3, (8, 4), kernel_size=2)
        >>> aug(torch.rand(5, 10, 3)).shape
        torch.Size([5, 9, 8])
    """

    def __init__(self, in_channels: int, layer_sizes: Tuple[int, ...], kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, bias: bool = True,
                 activation: Callable[[torch.Tensor], torch.Tensor] = F.relu, include_original: bool = True,
                 include_time: bool = True, **kwargs):
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
    """Deprecated in signatory and does nothing: use ``torch.set_num_threads`` (sigrs takes ``n_jobs``).

    Returns the last value set (8 at first), as signatory did.

    Example::

        >>> signatory.max_parallelism()  # doctest: +SKIP
        8
    """
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
