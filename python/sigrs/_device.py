"""Which compute backends this build of sigrs can use."""

from __future__ import annotations

from . import _native


def cuda_available() -> bool:
    """Whether sigrs can run on CUDA tensors here.

    This release computes on the CPU only, so this is False everywhere;
    :func:`cuda_status` says what was found.
    """
    return False


def cuda_status() -> str:
    """A line describing the CUDA driver found (or why none was) and whether sigrs can use it.

    Example::

        >>> sigrs.cuda_status()
        'no CUDA kernels in this build; CUDA is unavailable: no CUDA driver library found (...)'
    """
    _, detail = _native.cuda_status()
    return f"no CUDA kernels in this build; {detail}"
