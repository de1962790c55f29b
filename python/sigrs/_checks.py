"""Argument checks and conversions shared by every public function.

Each check raises TypeError for a wrong type and ValueError for a wrong
value, naming the argument, what was expected and what was given. Nothing
here computes anything: the maths is in the Rust core.
"""

from __future__ import annotations

import math
import operator
import sys
from typing import Any

import numpy as np

from . import _native

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)
FLOAT_DTYPES = (F64, F32)


def native_for(variants: tuple, dtype: np.dtype) -> Any:
    """The float64 or float32 variant of a native function, for an array's dtype.

    (Compares dtype objects: ``dtype.name`` costs microseconds.)
    """
    return variants[0] if dtype is F64 or (dtype is not F32 and dtype == F64) else variants[1]


def is_torch(x: Any) -> bool:
    """True when ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def check_bool(value: Any, name: str) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    if type(value) is not int:
        if isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got bool {value!r}")
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_degree(degree: Any) -> int:
    if type(degree) is int and degree >= 0:
        return degree
    return check_int(degree, "degree", minimum=0)


def check_end_time(end_time: Any) -> float:
    if type(end_time) is not float:
        if isinstance(end_time, bool) or not isinstance(end_time, (int, float, np.integer, np.floating)):
            # torch.compile(dynamic=True) traces floats as symbolic floats: let them through.
            if type(end_time).__name__ == "SymFloat":
                return end_time
            raise TypeError(f"end_time must be a real number, got {type(end_time).__name__} {end_time!r}")
        end_time = float(end_time)
    if not -math.inf < end_time < math.inf:
        raise ValueError(f"end_time must be finite, got {end_time}")
    return end_time


def check_n_jobs(n_jobs: Any) -> int:
    if type(n_jobs) is not int:
        n_jobs = check_int(n_jobs, "n_jobs")
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive thread count, or negative to count back from all cores (-1 = all); got 0")
    return n_jobs


def empty_output(shape: tuple, dtype: Any) -> np.ndarray:
    """An uninitialised output array, with a MemoryError that says what was
    asked for when it cannot be allocated."""
    try:
        return np.empty(shape, dtype=dtype)
    except (MemoryError, ValueError) as err:
        raise MemoryError(f"cannot allocate an output of shape {tuple(shape)} and dtype {dtype} ({err})") from None


def aug_dim(dimension: int, time_aug: bool, lead_lag: bool) -> int:
    """Dimension of the path after lead-lag (doubles it) and time augmentation (adds one)."""
    return (2 * dimension if lead_lag else dimension) + (1 if time_aug else 0)


def sig_len(dimension: Any, degree: int, scalar_term: bool) -> Any:
    """Signature length in plain Python arithmetic, so it also works on the
    symbolic sizes torch.compile traces with."""
    total, level = 1, 1
    for _ in range(degree):
        level = level * dimension
        total = total + level
    return total if scalar_term else total - 1


def as_array(x: Any, name: str, min_ndim: int) -> np.ndarray:
    """``x`` as an aligned C-contiguous float32/float64 ndarray of at least ``min_ndim`` dims.

    Lists and other array-likes are converted with ``np.asarray`` (integers
    become float64). Strided and non-contiguous arrays are copied once.
    """
    if type(x) is not np.ndarray:
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
            if x.dtype.kind in "iub":
                x = x.astype(np.float64)
    dtype = x.dtype
    if dtype is not F64 and dtype is not F32 and dtype not in FLOAT_DTYPES:
        if dtype.kind == "f" and dtype.itemsize in (4, 8):
            x = x.astype(dtype.newbyteorder("="))  # non-native byte order
        else:
            raise TypeError(f"{name} must have dtype float32 or float64, got {dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(x.shape)}")
    flags = x.flags
    if not (flags.c_contiguous and flags.aligned):
        x = np.array(x, order="C", copy=True)
    return x


def check_tensor(x: Any, name: str, min_ndim: int, *, cuda_ok: bool = False) -> Any:
    """The torch counterpart of :func:`as_array` (no conversion of dtype).

    ``cuda_ok`` marks the operations with GPU kernels; the others refuse
    CUDA tensors, saying so."""
    import torch

    if x.dtype is not torch.float64 and x.dtype is not torch.float32:
        raise TypeError(f"{name} must have dtype torch.float32 or torch.float64, got {x.dtype}")
    if x.dim() < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(x.shape)}")
    if not x.is_cpu:
        check_cuda_device(x, name, cuda_ok)
    return x


def check_cuda_device(x: Any, name: str, cuda_ok: bool) -> None:
    """Refuses tensors on devices the backend cannot run on, saying why."""
    if x.device.type == "cuda":
        available, detail = _native.cuda_status()
        if available and cuda_ok:
            return
        reason = detail if not available else "this operation has no GPU kernel in sigrs yet"
        raise _native.CudaUnavailableError(
            f"{name} is on {x.device}, but the sigrs GPU backend cannot run: {reason}. "
            "Move the tensor to the CPU with .cpu()."
        )
    raise ValueError(f"{name} is on device {x.device}; sigrs supports CPU and CUDA tensors only")


def same_kind(name: str, x: Any, ref_name: str, ref: Any) -> None:
    """``x`` must be the same kind (NumPy or torch), dtype and device as ``ref``."""
    if is_torch(x) != is_torch(ref):
        def kind(v: Any) -> str:
            return "a torch tensor" if is_torch(v) else "a NumPy array"

        raise TypeError(f"{name} must be {kind(ref)} like {ref_name}, got {kind(x)}")
    if x.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of {ref_name} ({ref.dtype}), got {x.dtype}")
    if is_torch(x) and x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but {ref_name} is on {ref.device}; they must be on the same device")


def batch_size(batch_shape: tuple) -> int:
    n = 1
    for s in batch_shape:
        n *= s
    return n


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
