"""Shapes, inputs and work counts shared by compare.py and sweep.py.

Kept free of heavy imports (numpy only), so sweep.py can use it without
the torch and peer-library imports that compare.py makes at start-up.
"""

from __future__ import annotations

import json
import math

import numpy as np


def sig_len(dim: int, degree: int) -> int:
    """Signature length without the scalar term."""
    return sum(dim ** k for k in range(1, degree + 1))


def step_madds(dim: int, degree: int) -> float:
    """Multiply-adds of one Horner step S <- S (x) exp(dx): about
    sig_len * d/(d-1) (the levels' geometric sum); d = 1: one per level."""
    return float(degree) if dim == 1 else sig_len(dim, degree) * dim / (dim - 1)


def sig_flops(batch, length, dim, degree) -> float:
    """Forward-pass flops of a batch (None: one path): 2 per multiply-add,
    L - 1 steps a path."""
    return 2.0 * (batch or 1) * (length - 1) * step_madds(dim, degree)


def random_paths(rng, batch, length, dim, dtype):
    """Random-walk paths of O(1) size (so high levels stay well scaled);
    `batch` None gives one (length, dim) path."""
    shape = (length, dim) if batch is None else (batch, length, dim)
    inc = rng.standard_normal(shape) / math.sqrt(length)
    path = np.cumsum(inc, axis=-2)
    path -= path[..., :1, :]
    return np.ascontiguousarray(path, dtype=dtype)


def _json_safe(o):
    """`o` with non-finite floats as strings (JSON has no NaN or inf)."""
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if isinstance(o, dict):
        return {k: _json_safe(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_json_safe(v) for v in o]
    return o


def write_json(payload: dict, path: str) -> None:
    """Writes a results payload as indented JSON."""
    with open(path, "w") as fh:
        json.dump(_json_safe(payload), fh, indent=1)
