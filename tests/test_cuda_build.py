"""The GPU backend's parts that need no GPU: every bundled CUDA source
compiles with NVRTC (loaded from the nvidia wheels torch's CUDA build
installs, or CUDA), compile errors carry NVRTC's log, and show_config /
cuda_status report what was found. These run on every machine, GPU or not.
"""

from __future__ import annotations

import io
import re

import pytest

import sigrs
from sigrs import _device, _native


def test_nvrtc_loads():
    major, minor, path = sigrs.nvrtc_version()
    assert major >= 11 and minor >= 0
    assert "nvrtc" in path


@pytest.mark.parametrize("name,source", _native.cuda_kernel_sources(), ids=[n for n, _ in _native.cuda_kernel_sources()])
def test_every_bundled_kernel_compiles(name, source):
    ptx = _native.nvrtc_compile(_device.nvrtc_search_dirs(), name, source)
    # every extern "C" __global__ function of the source is a PTX entry point;
    # macro-made names (name_##SUFFIX) appear once per SIGRS_..._KERNELS(T, suffix)
    plain = set(re.findall(r'extern "C" __global__ void (?:SIGRS_\w+ )?(\w+)\(', source))
    stems = re.findall(r'extern "C" __global__ void (?:SIGRS_\w+ )?(\w+)##SUFFIX', source)
    suffixes = re.findall(r"^SIGRS_\w+_KERNELS\(\w+, (\w+)\)", source, flags=re.M)
    expected = plain | {stem + suffix for stem in stems for suffix in suffixes}
    entries = set(re.findall(r"\.entry (\w+)\(", ptx))
    assert expected and expected <= entries, f"{name}: expected entries {sorted(expected)}, PTX has {sorted(entries)}"


def test_compile_all_reports_every_source():
    results = _native.nvrtc_compile_all(_device.nvrtc_search_dirs())
    assert [name for name, _, _ in results] == [name for name, _ in _native.cuda_kernel_sources()]
    for name, size, error in results:
        assert size and size > 0 and error == "", f"{name}: {error}"


def test_a_compile_error_carries_the_nvrtc_log():
    broken = 'extern "C" __global__ void k(float* x) { x[0] = undefined_name; }'
    with pytest.raises(sigrs.SigrsError, match=r"(?s)NVRTC could not compile broken\.cu.*undefined_name.*is undefined"):
        _native.nvrtc_compile(_device.nvrtc_search_dirs(), "broken.cu", broken)


def test_show_config_reports_each_part():
    out = io.StringIO()
    sigrs.show_config(file=out)
    text = out.getvalue()
    assert text.startswith(f"sigrs {sigrs.__version__}\n")
    assert re.search(r"CPU kernels : (avx2\+fma|baseline)", text)
    assert "CUDA driver : " in text
    assert re.search(r"NVRTC       : \d+\.\d+ \(.*nvrtc", text)
    assert "GPU kernels : 2 bundled source(s) (signature.cu, transform.cu), compiled at first use; " in text
    assert text.rstrip().endswith(sigrs.cuda_status())


def test_cuda_status_agrees_with_the_driver_probe():
    driver_ok, detail = _native.cuda_status()
    status = sigrs.cuda_status()
    if sigrs.cuda_available():
        assert driver_ok and status.startswith("available: ") and "NVRTC" in status
    else:
        assert status.startswith("unavailable: ")
        if not driver_ok:
            assert detail in status


# (D, N) specialisations: the benchmark shapes (d 8 N 3 / d 4 N 6), degree
# 1, a dimension that is no power of two, and a block of a single D > 256.
SPECIALISATIONS = [(8, 3), (4, 6), (1, 1), (5, 4), (300, 1)]


@pytest.mark.parametrize("d,degree", SPECIALISATIONS)
def test_signature_kernels_compile_for_each_specialisation(d, degree):
    # Exactly what the launcher compiles: its thread count too.
    source = dict(_native.cuda_kernel_sources())["signature.cu"]
    threads = _native.cuda_sig_layout(d, degree)[0]
    header = f"#define SIGRS_DIM {d}\n#define SIGRS_DEGREE {degree}\n#define SIGRS_THREADS {threads}\n"
    ptx = _native.nvrtc_compile(_device.nvrtc_search_dirs(), "signature.cu", header + source)
    entries = set(re.findall(r"\.entry (\w+)\(", ptx))
    for stem in ("sig_forward", "sig_backward", "incr_grads_to_path"):
        assert {stem + "_f64", stem + "_f32"} <= entries
