"""signatory's ``invert_signature``: a path rebuilt from its signature by the insertion algorithm."""

from __future__ import annotations

from typing import Optional

import torch

from . import _checks
from .signatures import extract_signature_term, signature_channels


def invert_signature(
    signature: torch.Tensor, depth: int, channels: int, initial_position: Optional[torch.Tensor] = None
) -> torch.Tensor:
    r"""A piecewise linear path of ``depth + 1`` points whose signature approximates ``signature``.

    Note the argument order ``(signature, depth, channels)``. A signature
    does not see where a path starts: the first point is
    ``initial_position`` (or the origin). Each later point adds the
    derivative that inserting one letter at its position into level
    ``depth - 1`` predicts from level ``depth``. (For the group inverse use
    ``inverse=True`` in :func:`signature`, or :func:`sigrs.sig_inverse`.)

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
    signature = _checks.tensor_arg(signature, "signature")
    depth = _checks.int_arg(depth, "depth")
    channels = _checks.int_arg(channels, "channels")
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
