"""Which compute backends this build of sigrs can use, and what it found."""

from __future__ import annotations

import glob
import os
import platform
from typing import Optional

from . import _native


#: The operating system, as ``platform.system()`` names it (pysiglib's ``SYSTEM``).
SYSTEM = platform.system()

#: Whether the CPU kernels run with AVX2 and FMA here (pysiglib's
#: ``BUILT_WITH_AVX``). sigrs's wheels carry both the AVX2 and the baseline
#: kernels and choose at run time, so this says what this CPU gets.
BUILT_WITH_AVX = _native.simd_level() != "baseline"


def cuda_available() -> bool:
    """Whether sigrs can run on CUDA tensors here: a CUDA driver that sees a
    device, and NVRTC to compile the bundled kernels (the ``nvidia`` wheels
    torch's CUDA build installs provide it). :func:`cuda_status` says why not.
    """
    return _cuda_check()[0]


def cuda_status() -> str:
    """A line saying what CUDA driver and NVRTC sigrs found, or why it cannot use the GPU.

    Example::

        >>> sigrs.cuda_status()
        'unavailable: CUDA is unavailable: no CUDA driver library could be loaded (...)'
    """
    ok, detail = _cuda_check()
    return f"available: {detail}" if ok else f"unavailable: {detail}"


def _cuda_check() -> tuple[bool, str]:
    ok, detail = _native.cuda_status()
    if not ok:
        return False, detail
    try:
        major, minor, _ = nvrtc_version()
    except _native.CudaUnavailableError as err:
        return False, f"{detail}, but no NVRTC: {err}"
    return True, f"{detail}, NVRTC {major}.{minor}"


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
    version, CPU instruction set, CUDA driver, NVRTC and the GPU kernels.

    Example::

        >>> sigrs.show_config()
        sigrs 0.1.0
        CPU kernels : avx2+fma
        CUDA driver : CUDA is unavailable: ...
        NVRTC       : 13.2 (.../nvidia/cu13/lib/libnvrtc.so.13)
        GPU kernels : 2 bundled source(s) (signature.cu, transform.cu), compiled at first use; unavailable: ...
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
    lines.append(
        f"GPU kernels : {len(files)} bundled source(s) ({', '.join(files)}), compiled at first use; {cuda_status()}"
    )
    print("\n".join(lines), file=file)


def lazy_module_attributes(module: str):
    """A module ``__getattr__`` (PEP 562) giving pysiglib's ``BUILT_WITH_CUDA``
    when first read, so that importing ``module`` never loads a CUDA driver:
    True when CUDA tensors can run here, as :func:`cuda_available`."""

    def __getattr__(name: str):
        if name == "BUILT_WITH_CUDA":
            return cuda_available()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
