"""NumPy and torch array plumbing shared by every family: converting and
checking inputs, allocating outputs, moving between the two without copies.

Nothing here computes anything, and nothing imports torch: a tensor is
recognised through ``sys.modules``, so NumPy users never load it.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

import numpy as np

from . import _native
from ._shapes import batch_size

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)
FLOAT_DTYPES = (F64, F32)


def is_torch(x: Any) -> bool:
    """True when ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def as_array(x: Any, name: str, min_ndim: int) -> np.ndarray:
    """``x`` as an aligned C-contiguous float32/float64 ndarray of at least ``min_ndim`` dims.

    Lists and other array-likes are converted with ``np.asarray`` (integers
    become float64). Strided and non-contiguous arrays are copied once.
    """
    if type(x) is not np.ndarray:
        # subclasses too: np.matrix keeps two dimensions under indexing
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


def checked(x: Any, name: str, min_ndim: int, *, cuda_ok: bool = False) -> Any:
    """``x`` checked as a tensor (:func:`check_tensor`) or converted to an array (:func:`as_array`)."""
    if type(x) is not np.ndarray and is_torch(x):
        return check_tensor(x, name, min_ndim, cuda_ok=cuda_ok)
    return as_array(x, name, min_ndim)


def checked_like(x: Any, name: str, min_ndim: int, ref: Any, ref_name: str, *, cuda_ok: bool = False) -> Any:
    """``x`` checked and converted like :func:`checked`, then required to be
    the same kind, dtype and device as ``ref`` (a list beside a tensor is an error)."""
    if is_torch(ref):
        if not is_torch(x):
            same_kind(name, x, ref_name, ref)
        x = check_tensor(x, name, min_ndim, cuda_ok=cuda_ok)
    elif is_torch(x):
        same_kind(name, x, ref_name, ref)
    else:
        x = as_array(x, name, min_ndim)
    same_kind(name, x, ref_name, ref)
    return x


def kind_name(x: Any) -> str:
    return "a torch tensor" if is_torch(x) else "a NumPy array"


def same_kind(name: str, x: Any, ref_name: str, ref: Any) -> None:
    """``x`` must be the same kind (NumPy or torch), dtype and device as ``ref``."""
    if is_torch(x) != is_torch(ref):
        raise TypeError(f"{name} must be {kind_name(ref)} like {ref_name}, got {kind_name(x)}")
    if x.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of {ref_name} ({ref.dtype}), got {x.dtype}")
    if is_torch(x) and x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but {ref_name} is on {ref.device}; they must be on the same device")


def empty_output(shape: tuple, dtype: Any) -> np.ndarray:
    """An uninitialised output array, with a MemoryError that says what was
    asked for when it cannot be allocated."""
    try:
        return np.empty(shape, dtype=dtype)
    except (MemoryError, ValueError) as err:
        raise MemoryError(f"cannot allocate an output of shape {tuple(shape)} and dtype {dtype} ({err})") from None


def numpy_view(t: Any) -> np.ndarray:
    """A CPU tensor's memory as an ndarray the core can read: a view (no
    copy; detached), copied only when the tensor is not C-contiguous."""
    a = t.detach().numpy() if t.requires_grad else t.numpy()
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def to_numpy(a: Any) -> np.ndarray:
    """Any array or tensor (on any device) as an ndarray, for values the core reads."""
    return a.detach().cpu().numpy() if is_torch(a) else np.asarray(a)


def batch_of_paths(x: Any) -> Any:
    """``(..., length, dim)`` as ``(batch, length, dim)`` (a view where possible)."""
    if x.ndim == 3:
        return x
    return x.reshape(batch_size(tuple(x.shape[:-2])), x.shape[-2], x.shape[-1])


def concat(parts: Sequence[Any], axis: int) -> Any:
    """``parts`` (all NumPy arrays or all tensors) joined along ``axis``."""
    if len(parts) == 1:
        return parts[0]
    if is_torch(parts[0]):
        import torch

        return torch.cat(list(parts), dim=axis)
    return np.concatenate(parts, axis=axis)
