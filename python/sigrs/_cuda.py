"""Launching on CUDA tensors: where, on which stream, with what scratch.

Families with GPU kernels (signature, transform) allocate their outputs
and scratch here with torch (its caching allocator) and hand the pointers,
the tensor's device and ``torch.cuda.current_stream(device)`` to the
native launcher, which queues the kernels on that stream and returns:
nothing is synchronised and nothing goes through the host.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator, Optional

import torch

from . import _native
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


def placement(t: torch.Tensor) -> "_native.CudaPlacement":
    """Where to launch work on ``t``: its device, torch's current stream there, the launch settings."""
    device = t.device.index if t.device.index is not None else torch.cuda.current_device()
    return _native.CudaPlacement(
        device=device,
        stream=torch.cuda.current_stream(t.device).cuda_stream,
        max_blocks=_MAX_BLOCKS,
        force_global=_FORCE_GLOBAL,
        threads=_THREADS,
        nvrtc_dirs=_nvrtc_dirs(),
    )


def unsupported(what: str) -> None:
    raise _native.CudaUnavailableError(
        f"{what} is not supported by the sigrs GPU kernels yet; compute it on the CPU (.cpu()) instead"
    )


def workspace(n: int, like: torch.Tensor) -> tuple[Optional[torch.Tensor], int]:
    """Scratch of ``n`` numbers of ``like``'s dtype on its device, and its pointer (0 for none)."""
    if n == 0:
        return None, 0
    buf = torch.empty(n, dtype=like.dtype, device=like.device)
    return buf, buf.data_ptr()


def contiguous(t: torch.Tensor, shape: tuple) -> torch.Tensor:
    """``t`` detached, reshaped and contiguous (a view when it already is)."""
    return t.detach().reshape(shape).contiguous()
