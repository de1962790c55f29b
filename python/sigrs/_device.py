"""Which compute backends this build of sigrs can use, and what it found."""

from __future__ import annotations

import glob
import os
from typing import Optional

from . import _native


def cuda_available() -> bool:
    """Whether sigrs can run on CUDA tensors here.

    The GPU kernels are bundled and compiled by CI, but launching them is not
    wired up yet, so this is False everywhere; :func:`cuda_status` says what
    was found.
    """
    return False


def cuda_status() -> str:
    """A line describing the CUDA driver found (or why none was) and whether sigrs can use it.

    Example::

        >>> sigrs.cuda_status()
        'GPU kernels not launched by this build yet; CUDA is unavailable: no CUDA driver library found (...)'
    """
    _, detail = _native.cuda_status()
    return f"GPU kernels not launched by this build yet; {detail}"


def nvrtc_search_dirs() -> list[str]:
    """Directories that may hold NVRTC, searched before the system path:
    ``SIGRS_NVRTC_DIR`` if set, then the ``lib`` folders of the ``nvidia``
    wheels (``nvidia-cuda-nvrtc``, or the ones torch's CUDA build installs)."""
    dirs = []
    if os.environ.get("SIGRS_NVRTC_DIR"):
        dirs.append(os.environ["SIGRS_NVRTC_DIR"])
    try:
        import nvidia  # namespace package of NVIDIA's wheels
    except ImportError:
        return dirs
    for root in getattr(nvidia, "__path__", []):
        dirs.extend(sorted(d for d in glob.glob(os.path.join(root, "*", "lib")) if glob.glob(os.path.join(d, "*nvrtc*"))))
    return dirs


def nvrtc_version() -> tuple[int, int, str]:
    """``(major, minor, library path)`` of the NVRTC sigrs loads; raises
    :class:`sigrs.CudaUnavailableError` saying why when there is none."""
    return _native.nvrtc_version(nvrtc_search_dirs())


def show_config(file: Optional[object] = None) -> None:
    """Prints what this build of sigrs is and what it found on this machine:
    version, CPU instruction set, CUDA driver and NVRTC.

    Example::

        >>> sigrs.show_config()
        sigrs 0.1.0
        CPU kernels : avx2+fma
        CUDA driver : CUDA is unavailable: ...
        NVRTC       : 13.2 (.../nvidia/cu13/lib/libnvrtc.so.13)
        GPU kernels : 1 bundled source(s) (transform.cu), not launched by this build yet
    """
    lines = [f"sigrs {_native.__version__}", f"CPU kernels : {_native.simd_level()}"]
    ok, detail = _native.cuda_status()
    lines.append(f"CUDA driver : {detail}")
    try:
        major, minor, path = nvrtc_version()
        lines.append(f"NVRTC       : {major}.{minor} ({path})")
    except _native.CudaUnavailableError as err:
        lines.append(f"NVRTC       : {err}")
    files = [name for name, _ in _native.cuda_kernel_sources()]
    lines.append(f"GPU kernels : {len(files)} bundled source(s) ({', '.join(files)}), not launched by this build yet")
    print("\n".join(lines), file=file)
