"""Shape arithmetic in plain Python integer operations.

Everything here also works on the symbolic sizes ``torch.compile`` traces
with (no ``math``, no NumPy, no comparisons that need a concrete value
beyond what the caller already fixed), so the torch ops' fake
implementations use the same formulas as the real ones.
"""

from __future__ import annotations

from typing import Any


def batch_size(batch_shape: tuple) -> Any:
    """The number of items in a batch of shape ``batch_shape`` (1 for ``()``)."""
    n = 1
    for s in batch_shape:
        n = n * s
    return n


def aug_dim(dimension: Any, time_aug: bool, lead_lag: bool) -> Any:
    """Dimension of the path after lead-lag (doubles it) and time augmentation (adds one)."""
    return (2 * dimension if lead_lag else dimension) + (1 if time_aug else 0)


def transformed_length(length: Any, lead_lag: bool) -> Any:
    """Points after the transforms: lead-lag gives ``2 length - 1``."""
    return 2 * length - 1 if lead_lag and length > 0 else length


def sig_len(dimension: Any, degree: int, scalar_term: bool) -> Any:
    """Length of a signature, ``d + d^2 + ... + d^N`` (plus one with ``scalar_term``)."""
    total, level = 1, 1
    for _ in range(degree):
        level = level * dimension
        total = total + level
    return total if scalar_term else total - 1


def degree_of_length(length: Any, dimension: int, scalar_term: bool, name: str) -> int:
    """The degree of a signature of ``dimension`` with ``length`` terms; ValueError naming ``name`` when no degree has that length."""
    degree, total = 0, 1 if scalar_term else 0
    lengths = [total]
    while total < length and dimension > 0 and len(lengths) < 64:
        degree += 1
        total += dimension**degree
        lengths.append(total)
    if total != length:
        shown = ", ".join(str(n) for n in lengths[:6])
        raise ValueError(
            f"{name} has {length} terms in its last axis, which is no signature length for dimension {dimension} "
            f"{'with' if scalar_term else 'without'} the scalar term (those are {shown}, ...)"
        )
    return degree


def grid_length(length: Any, order: int) -> Any:
    """Points of the refined PDE grid along a side of ``length`` points."""
    return 0 if length == 0 else (length - 1) * 2**order + 1


def stream_rows(length: Any) -> Any:
    """Rows of a ``stream=True`` signature of a path of ``length`` points."""
    return length - 1 if length > 0 else 0


def infer_scalar_term(sig_shape: tuple, dimension: int, degree: int, name: str) -> bool:
    """Whether a signature of ``sig_shape`` carries the level-0 term, from its length."""
    full = sig_len(dimension, degree, True)
    actual = sig_shape[-1] if sig_shape else None
    if actual == full:
        return True
    if actual == full - 1:
        return False
    raise ValueError(
        f"{name} has shape {tuple(sig_shape)}, but a signature of dimension {dimension} and degree {degree} "
        f"has length {full - 1} (or {full} with the scalar term) in its last axis"
    )


def untransformed_shape(transformed_shape: tuple, time_aug: bool, lead_lag: bool, name: str) -> tuple:
    """``(length, dim)`` of the path whose transform has shape ``transformed_shape``."""
    length_t, dim_t = transformed_shape[-2], transformed_shape[-1]
    dim = dim_t - (1 if time_aug else 0)
    length = length_t
    if lead_lag:
        if dim % 2 or length_t % 2 == 0:
            raise ValueError(
                f"{name} has shape {tuple(transformed_shape)}, which no lead-lag transform gives: expected an odd "
                f"length (2 L - 1) and {'2 d + 1' if time_aug else '2 d'} channels"
            )
        dim //= 2
        length = (length_t + 1) // 2
    if dim < 0:
        raise ValueError(f"{name} has shape {tuple(transformed_shape)}, which has no room for the time channel")
    return length, dim
