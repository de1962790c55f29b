"""Small helpers shared by the test modules (no dependency on sigrs)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

F64_RTOL = 1e-10
F32_RTOL = 1e-4

# the four combinations of the path transforms
OPTION_COMBOS = [
    dict(time_aug=False, lead_lag=False),
    dict(time_aug=True, lead_lag=False),
    dict(time_aug=False, lead_lag=True),
    dict(time_aug=True, lead_lag=True),
]
OPTION_IDS = ["plain", "time", "leadlag", "leadlag+time"]


def transform_cases(end_times=(1.0, 2.5)):
    """Transform options with end_time; end_time != 1 only where time_aug makes it matter."""
    cases = []
    for opts, name in zip(OPTION_COMBOS, OPTION_IDS):
        for t in (end_times if opts["time_aug"] else end_times[:1]):
            cases.append(pytest.param(dict(opts, end_time=t), id=f"{name}-T{t:g}"))
    return cases

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def cuda_available() -> bool:
    return torch is not None and torch.cuda.is_available()


def peer(name: str):
    """Import a peer library used as an oracle. The test command installs both
    peers, so a missing one is an error, not a skip."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise RuntimeError(f"peer library {name!r} is not installed; scripts/test.sh installs it") from err


def to_numpy(x) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def rtol_for(dtype) -> float:
    if torch is not None and isinstance(dtype, torch.dtype):
        return F64_RTOL if dtype == torch.float64 else F32_RTOL
    return F64_RTOL if np.dtype(dtype) == np.float64 else F32_RTOL


def assert_close(actual, expected, rtol: float, what: str = "") -> None:
    """max|actual - expected| <= rtol * max|expected| (exact match if expected == 0)."""
    a = np.asarray(to_numpy(actual), dtype=np.float64)
    e = np.asarray(to_numpy(expected), dtype=np.float64)
    assert a.shape == e.shape, f"{what} shape {a.shape} != expected {e.shape}"
    assert np.all(np.isfinite(a)), f"{what} has non-finite values"
    if e.size == 0:
        return
    scale = float(np.max(np.abs(e)))
    if scale == 0.0:
        scale = 1.0
    err = float(np.max(np.abs(a - e)))
    assert err <= rtol * scale, (
        f"{what} max abs error {err:.3e} > {rtol:.1e} * max|expected| ({scale:.3e})"
    )


def make_path(rng, shape, dtype=np.float64, backend: str = "numpy"):
    """Random path of the given full shape ``(..., L, d)``.

    Increments have std 1/sqrt(L) so signature terms stay O(1) at any degree.
    """
    shape = tuple(shape)
    length = shape[-2] if len(shape) >= 2 else 1
    steps = rng.standard_normal(shape) / np.sqrt(max(length, 1))
    x = np.cumsum(steps, axis=-2) if len(shape) >= 2 else steps
    x = x.astype(dtype)
    if backend == "torch":
        return torch.from_numpy(x)
    return x


def as_backend(x: np.ndarray, backend: str):
    if backend == "torch":
        return torch.from_numpy(np.ascontiguousarray(x))
    return x


def torch_dtype(np_dtype):
    return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[
        np.dtype(np_dtype)
    ]


def shape_text(shape) -> str:
    """'2, 5, 3' for shape (2, 5, 3): matches tuple, list and torch.Size reprs."""
    return ", ".join(str(int(s)) for s in shape)
