"""CUDA tensors: the GPU kernels over torch's memory, on torch's stream.

Outputs and scratch are allocated here with torch (its caching allocator),
then their pointers, the tensor's device and
``torch.cuda.current_stream(device)`` go to the native launcher, which
queues the kernels on that stream and returns: nothing is synchronised and
nothing goes through the host. The argument checks are the callers'; this
module only converts and dispatches.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator, Optional

import torch

from . import _native
from ._checks import aug_dim, batch_size, sig_len
from ._device import nvrtc_search_dirs

# Launch settings; tests and tuning change them (see launch_options).
_MAX_BLOCKS = 65535
_FORCE_GLOBAL = False
_THREADS = 0  # 0: chosen from the signature's size


@contextlib.contextmanager
def launch_options(
    max_blocks: Optional[int] = None, force_global: Optional[bool] = None, threads: Optional[int] = None
) -> Iterator[None]:
    """Temporarily caps the blocks per launch (the batch is strided over
    them), forces the global-memory kernels, or sets the threads per block
    of the signature kernels: to exercise those paths on small inputs, and
    to tune (benches/cuda_tune.py)."""
    global _MAX_BLOCKS, _FORCE_GLOBAL, _THREADS
    saved = (_MAX_BLOCKS, _FORCE_GLOBAL, _THREADS)
    if max_blocks is not None:
        _MAX_BLOCKS = int(max_blocks)
    if force_global is not None:
        _FORCE_GLOBAL = bool(force_global)
    if threads is not None:
        _THREADS = int(threads)
    try:
        yield
    finally:
        _MAX_BLOCKS, _FORCE_GLOBAL, _THREADS = saved


@functools.lru_cache(maxsize=1)
def _nvrtc_dirs() -> list:
    # Only the first compilation looks there; globbing on every call would
    # cost more than a small launch.
    return nvrtc_search_dirs()


def _placement(t: torch.Tensor) -> tuple:
    device = t.device.index if t.device.index is not None else torch.cuda.current_device()
    stream = torch.cuda.current_stream(t.device).cuda_stream
    return (device, stream, _MAX_BLOCKS, _FORCE_GLOBAL, _THREADS, _nvrtc_dirs())


def _unsupported(what: str) -> None:
    raise _native.CudaUnavailableError(
        f"{what} is not supported by the sigrs GPU kernels yet; compute it on the CPU (.cpu()) instead"
    )


def _workspace(n: int, like: torch.Tensor) -> tuple[Optional[torch.Tensor], int]:
    if n == 0:
        return None, 0
    buf = torch.empty(n, dtype=like.dtype, device=like.device)
    return buf, buf.data_ptr()


def _problem(
    path: torch.Tensor, degree: int, time_aug: bool, lead_lag: bool, end_time: float, scalar_term: bool, stream: bool, inverse: bool
) -> tuple:
    *batch_shape, length, dim = path.shape
    b = batch_size(tuple(batch_shape))
    return (b, length, dim, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, path.dtype == torch.float64)


def _check_inverse(inverse: bool, stream: bool, initial: Optional[torch.Tensor]) -> None:
    if inverse and stream:
        _unsupported("inverse=True with stream=True")
    if inverse and initial is not None:
        _unsupported("inverse=True with initial")


def _flat(t: torch.Tensor, shape: tuple) -> torch.Tensor:
    """``t`` detached, reshaped and contiguous (a view when it already is)."""
    return t.detach().reshape(shape).contiguous()


def sig(
    path: torch.Tensor,
    initial: Optional[torch.Tensor],
    degree: int,
    time_aug: bool,
    lead_lag: bool,
    end_time: float,
    scalar_term: bool,
    stream: bool,
    inverse: bool,
) -> torch.Tensor:
    """Signatures of a CUDA tensor ``(..., length, dim)``: ``(..., sig_len)``,
    or ``(..., length - 1, sig_len)`` with ``stream``; ``initial`` already in
    the output's layout."""
    _check_inverse(inverse, stream, initial)
    *batch_shape, length, dim = path.shape
    problem = _problem(path, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse)
    b = problem[0]
    n = sig_len(aug_dim(dim, time_aug, lead_lag), degree, scalar_term)
    rows = max(length - 1, 0) if stream else 1
    out = torch.empty((b, rows, n), dtype=path.dtype, device=path.device)
    out_shape = (*batch_shape, rows, n) if stream else (*batch_shape, n)
    if degree == 0 or aug_dim(dim, time_aug, lead_lag) == 0 or b == 0 or rows == 0:
        # Only a scalar term (or nothing), or no rows at all.
        out.fill_(1.0)
        return out.reshape(out_shape)
    init = None if initial is None else _flat(initial, (b, n))
    place = _placement(path)
    scratch_len, _ = _native.cuda_sig_workspace(problem, place, False)
    scratch, scratch_ptr = _workspace(scratch_len, path)
    _native.cuda_sig_forward(
        problem, place, _flat(path, (b, length, dim)).data_ptr(), 0 if init is None else init.data_ptr(), out.data_ptr(), scratch_ptr
    )
    del scratch  # torch's allocator keeps the block ordered on this stream
    return out.reshape(out_shape)


def sig_backprop(
    path: torch.Tensor,
    sig: torch.Tensor,
    sig_derivs: torch.Tensor,
    initial: Optional[torch.Tensor],
    degree: int,
    time_aug: bool,
    lead_lag: bool,
    end_time: float,
    scalar_term: bool,
    stream: bool,
    inverse: bool,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """``(dF/d(path), dF/d(initial) or None)`` for CUDA tensors, from ``sig``
    and ``sig_derivs`` = dF/d(sig)."""
    _check_inverse(inverse, stream, initial)
    *batch_shape, length, dim = path.shape
    problem = _problem(path, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse)
    b = problem[0]
    n = sig.shape[-1]
    rows = max(length - 1, 0) if stream else 1
    d_initial = None if initial is None else torch.zeros((b, n), dtype=path.dtype, device=path.device)
    if degree == 0 or aug_dim(dim, time_aug, lead_lag) == 0 or b == 0:
        return torch.zeros_like(path), (None if d_initial is None else d_initial.reshape(initial.shape))
    out = torch.empty((b, length, dim), dtype=path.dtype, device=path.device)
    place = _placement(path)
    scratch_len, incr_len = _native.cuda_sig_workspace(problem, place, True)
    scratch, scratch_ptr = _workspace(scratch_len, path)
    incr, incr_ptr = _workspace(incr_len, path)
    _native.cuda_sig_backward(
        problem,
        place,
        _flat(path, (b, length, dim)).data_ptr(),
        _flat(sig, (b, rows, n)).data_ptr(),
        _flat(sig_derivs, (b, rows, n)).data_ptr(),
        incr_ptr,
        0 if d_initial is None else d_initial.data_ptr(),
        scratch_ptr,
        out.data_ptr(),
    )
    del scratch, incr
    return out.reshape(path.shape), (None if d_initial is None else d_initial.reshape(initial.shape))


def transform_path(path: torch.Tensor, time_aug: bool, lead_lag: bool, end_time: float) -> torch.Tensor:
    """``transform_path`` of a CUDA tensor ``(..., length, dim)``."""
    *batch_shape, length, dim = path.shape
    b = batch_size(tuple(batch_shape))
    out_len = 2 * length - 1 if lead_lag and length > 0 else length
    out_dim = aug_dim(dim, time_aug, lead_lag)
    out = torch.empty((b, out_len, out_dim), dtype=path.dtype, device=path.device)
    paths = path.detach().reshape(b, length, dim).contiguous()
    problem = (b, length, dim, 1, time_aug, lead_lag, end_time, False, False, False, path.dtype == torch.float64)
    _native.cuda_transform_path(problem, _placement(path), paths.data_ptr(), out.data_ptr())
    return out.reshape(*batch_shape, out_len, out_dim)


def transform_path_backprop(derivs: torch.Tensor, length: int, dim: int, time_aug: bool, lead_lag: bool) -> torch.Tensor:
    """Gradient through :func:`transform_path` for CUDA tensors."""
    batch_shape = tuple(derivs.shape[:-2])
    b = batch_size(batch_shape)
    out = torch.empty((b, length, dim), dtype=derivs.dtype, device=derivs.device)
    g = derivs.detach().reshape(b, derivs.shape[-2], derivs.shape[-1]).contiguous()
    problem = (b, length, dim, 1, time_aug, lead_lag, 1.0, False, False, False, derivs.dtype == torch.float64)
    _native.cuda_transform_path_backprop(problem, _placement(derivs), g.data_ptr(), out.data_ptr())
    return out.reshape(*batch_shape, length, dim)
