"""The CUDA kernels, run on the CPU.

``crates/sig-cuda/emulator`` builds the bundled kernels with g++ against a
stand-in for the CUDA runtime (each CUDA thread an OS thread, barriers
real), so their indexing, stage order and barriers are checked against the
CPU ops on every machine, GPU or not, and ThreadSanitizer looks for data
races between their threads. The ``cuda`` tests in test_cuda.py run the
same kernels on a GPU.
"""

from __future__ import annotations

import ctypes
import importlib
import pathlib
import types
import subprocess

import numpy as np
import pytest

import sigrs
signature_family = importlib.import_module("sigrs.signature")  # (sigrs.signature is also the function)
from sigrs._options import SigOptions

EMULATOR = pathlib.Path(__file__).resolve().parent.parent / "crates" / "sig-cuda" / "emulator"

# (dim, degree, time_aug, lead_lag, threads): the transformed dimension D is
# dim, dim + 1, 2 dim or 2 dim + 1; `threads` (rounded down to a multiple of
# D) below the number of words makes each thread take several.
CONFIGS = [
    (1, 4, False, False, 8),
    (2, 3, False, False, 6),
    (2, 3, True, False, 9),
    (2, 2, False, True, 8),
    (2, 3, True, True, 10),
    (3, 1, False, False, 6),
    (3, 2, False, False, 256),
    (2, 5, False, False, 32),
    (3, 2, True, True, 4),  # D = 7 above the thread count: a block of D threads
]


def aug_dim(dim: int, time_aug: bool, lead_lag: bool) -> int:
    return (2 * dim if lead_lag else dim) + int(time_aug)


_LIBS: dict = {}


def emulator(tmp_path_factory, d: int, degree: int, threads: int) -> ctypes.CDLL:
    key = (d, degree, threads)
    if key not in _LIBS:
        out = tmp_path_factory.mktemp("emu") / f"sig_{d}_{degree}_{threads}.so"
        cmd = [
            "g++", "-std=c++20", "-O1", "-pthread", "-shared", "-fPIC",
            f"-DSIGRS_DIM={d}", f"-DSIGRS_DEGREE={degree}", f"-DSIGRS_THREADS={threads}",
            "-include", str(EMULATOR / "emulate.h"), str(EMULATOR / "signature_driver.cpp"), "-o", str(out),
        ]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        lib = ctypes.CDLL(str(out))
        lib.emu_sig_len.restype = ctypes.c_longlong
        lib.emu_forward_len.restype = ctypes.c_longlong
        lib.emu_backward_len.restype = ctypes.c_longlong
        _LIBS[key] = lib
    return _LIBS[key]


def ptr(a: np.ndarray) -> ctypes.c_void_p:
    assert a.flags.c_contiguous
    return ctypes.c_void_p(a.ctypes.data)


def real(dtype, x: float):
    return ctypes.c_double(x) if dtype == np.float64 else ctypes.c_float(x)


def steps_of(length: int, lead_lag: bool) -> int:
    return max(2 * length - 2 if lead_lag else length - 1, 0)


def null_or(a):
    return ctypes.c_void_p(0) if a is None else ptr(a)


def emu_sig(lib, paths, degree, time_aug, lead_lag, end_time, scalar_term, use_shared, grid, stream=False, initial=None,
            inverse=False):
    batch, length, dim = paths.shape
    n = lib.emu_sig_len() + int(scalar_term)
    rows = max(length - 1, 0) if stream else 1
    out = np.full((batch, rows, n), np.nan, paths.dtype)
    scratch = np.full(grid * lib.emu_forward_len(), np.nan, paths.dtype)
    steps = steps_of(length, lead_lag)
    suffix = "f64" if paths.dtype == np.float64 else "f32"
    getattr(lib, f"emu_sig_forward_{suffix}")(
        ptr(paths), null_or(initial), ptr(out), ptr(scratch), ctypes.c_longlong(batch), length, dim, int(time_aug),
        int(lead_lag), real(paths.dtype, end_time / max(steps, 1)), int(scalar_term), int(stream), int(inverse),
        int(use_shared), ctypes.c_uint(grid),
    )
    return out if stream else out[:, 0]


def emu_sig_backprop(lib, paths, sigs, derivs, time_aug, lead_lag, end_time, scalar_term, use_shared, grid,
                     stream=False, with_initial=False, inverse=False):
    batch, length, dim = paths.shape
    d = aug_dim(dim, time_aug, lead_lag)
    steps = steps_of(length, lead_lag)
    incr = np.full((batch, steps, d), np.nan, paths.dtype)
    d_initial = np.full((batch, sigs.shape[-1]), np.nan, paths.dtype) if with_initial else None
    scratch = np.full(grid * lib.emu_backward_len(), np.nan, paths.dtype)
    suffix = "f64" if paths.dtype == np.float64 else "f32"
    getattr(lib, f"emu_sig_backward_{suffix}")(
        ptr(paths), ptr(np.ascontiguousarray(sigs)), ptr(np.ascontiguousarray(derivs)), ptr(incr), null_or(d_initial),
        ptr(scratch), ctypes.c_longlong(batch), length, dim, int(time_aug), int(lead_lag),
        real(paths.dtype, end_time / max(steps, 1)), int(scalar_term), int(stream), int(inverse), int(use_shared),
        ctypes.c_uint(grid),
    )
    out = np.full(paths.shape, np.nan, paths.dtype)
    getattr(lib, f"emu_incr_grads_to_path_{suffix}")(
        ptr(incr), ptr(out), ctypes.c_longlong(batch), length, dim, int(lead_lag), ctypes.c_uint(3), ctypes.c_uint(7)
    )
    return (out, d_initial) if with_initial else out


@pytest.mark.parametrize("dim,degree,time_aug,lead_lag,threads", CONFIGS)
@pytest.mark.parametrize("use_shared", [True, False])
def test_emulated_signature_and_gradient_equal_the_cpu_op(tmp_path_factory, dim, degree, time_aug, lead_lag, threads, use_shared):
    lib = emulator(tmp_path_factory, aug_dim(dim, time_aug, lead_lag), degree, threads)
    rng = np.random.default_rng(dim * 100 + degree * 10 + threads)
    # Five paths over a grid of two blocks: each block takes several paths.
    paths = rng.standard_normal((5, 6, dim))
    scalar_term = degree % 2 == 1
    opts = dict(time_aug=time_aug, lead_lag=lead_lag, end_time=0.7)
    expected = sigrs.sig(paths, degree, scalar_term=scalar_term, **opts)
    got = emu_sig(lib, paths, degree, time_aug, lead_lag, 0.7, scalar_term, use_shared, grid=2)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)

    derivs = rng.standard_normal(expected.shape)
    expected_grad = sigrs.sig_backprop(paths, expected, derivs, degree, **opts)
    got_grad = emu_sig_backprop(lib, paths, expected, derivs, time_aug, lead_lag, 0.7, scalar_term, use_shared, grid=2)
    np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("length", [1, 2])
def test_emulated_short_paths(tmp_path_factory, length):
    # No increment: the identity and a zero gradient; one increment: exp(z).
    lib = emulator(tmp_path_factory, 3, 3, 9)
    paths = np.random.default_rng(length).standard_normal((3, length, 2))
    expected = sigrs.sig(paths, 3, time_aug=True, scalar_term=True)
    got = emu_sig(lib, paths, 3, True, False, 1.0, True, True, grid=3)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    derivs = np.ones_like(expected)
    expected_grad = sigrs.sig_backprop(paths, expected, derivs, 3, time_aug=True)
    got_grad = emu_sig_backprop(lib, paths, expected, derivs, True, False, 1.0, True, True, grid=3)
    np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-12, atol=1e-13)


def test_emulated_float32(tmp_path_factory):
    lib = emulator(tmp_path_factory, 5, 3, 10)
    rng = np.random.default_rng(7)
    paths = (0.3 * rng.standard_normal((4, 20, 2))).astype(np.float32)
    opts = dict(time_aug=True, lead_lag=True, end_time=1.0)
    expected = sigrs.sig(paths.astype(np.float64), 3, **opts)
    got = emu_sig(lib, paths, 3, True, True, 1.0, False, True, grid=4)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    derivs = rng.standard_normal(expected.shape)
    expected_grad = sigrs.sig_backprop(paths.astype(np.float64), expected, derivs, 3, **opts)
    got_grad = emu_sig_backprop(
        lib, paths, expected.astype(np.float32), derivs.astype(np.float32), True, True, 1.0, False, True, grid=4
    )
    np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("d,degree", [(3, 2), (5, 4), (300, 1)])
def test_the_launcher_sizes_equal_the_kernel_constants(tmp_path_factory, d, degree):
    # crates/sig-cuda/src/signature.rs sizes shared memory and scratch from
    # its own copy of the kernel's layout; built with the launcher's thread
    # count, the kernel must agree with it.
    threads, *sizes = sigrs._native.cuda_sig_layout(d, degree)
    lib = emulator(tmp_path_factory, d, degree, threads)
    assert tuple(sizes) == (lib.emu_block(), lib.emu_sig_len(), lib.emu_forward_len(), lib.emu_backward_len())


@pytest.mark.parametrize("dim,degree,time_aug,lead_lag,threads", [c for c in CONFIGS if c[1] > 1][:5])
def test_emulated_stream_and_initial(tmp_path_factory, dim, degree, time_aug, lead_lag, threads):
    lib = emulator(tmp_path_factory, aug_dim(dim, time_aug, lead_lag), degree, threads)
    rng = np.random.default_rng(dim * 7 + degree)
    paths = rng.standard_normal((4, 6, dim))
    opts = dict(time_aug=time_aug, lead_lag=lead_lag, end_time=1.3)
    d = aug_dim(dim, time_aug, lead_lag)
    initial = sigrs.sig(rng.standard_normal((4, 3, d)), degree, scalar_term=True)
    for stream in (False, True):
        expected = sigrs.sig(paths, degree, stream=stream, initial=initial, scalar_term=True, **opts)
        got = emu_sig(lib, paths, degree, time_aug, lead_lag, 1.3, True, True, grid=3, stream=stream, initial=initial)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        derivs = rng.standard_normal(expected.shape)
        exp_path, _, exp_init = sigrs.sig_backprop(paths, expected, derivs, degree, stream=stream, initial=initial, **opts)
        got_path, got_init = emu_sig_backprop(
            lib, paths, expected, derivs, time_aug, lead_lag, 1.3, True, False, grid=3, stream=stream, with_initial=True
        )
        np.testing.assert_allclose(got_path, exp_path, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got_init, exp_init, rtol=1e-10, atol=1e-10)


# --- the Python glue (sigrs.signature's CUDA calls) over the emulated kernels -------
#
# The CUDA calls of the signature family allocate outputs and scratch with
# torch and hand their pointers to the native launchers. Here the launchers
# are replaced by the emulated kernels, which take host pointers, so the glue
# (shapes, batch axes, rows, initial, scratch sizes, the gradient of initial)
# runs end to end on CPU tensors.


class Problem(types.SimpleNamespace):
    """Stands in for _native.CudaSigProblem: the same keywords, readable fields."""


class Placement(types.SimpleNamespace):
    """Stands in for _native.CudaPlacement."""


class EmulatedLaunchers:
    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory

    def lib(self, p):
        d = aug_dim(p.dim, p.time_aug, p.lead_lag)
        return emulator(self.tmp, d, p.degree, 2 * d + 1)

    @staticmethod
    def grid(p, place):
        return max(min(p.batch, place.max_blocks), 1)

    def workspace(self, p, place, backward):
        lib = self.lib(p)
        scratch = 0
        if place.force_global:
            scratch = self.grid(p, place) * (lib.emu_backward_len() if backward else lib.emu_forward_len())
        incr = p.batch * steps_of(p.length, p.lead_lag) * aug_dim(p.dim, p.time_aug, p.lead_lag) if backward else 0
        return scratch, incr

    def forward(self, p, place, paths, initial, out, scratch):
        suffix = "f64" if p.float64 else "f32"
        real_t = ctypes.c_double if p.float64 else ctypes.c_float
        steps = steps_of(p.length, p.lead_lag)
        getattr(self.lib(p), f"emu_sig_forward_{suffix}")(
            ctypes.c_void_p(paths), ctypes.c_void_p(initial), ctypes.c_void_p(out), ctypes.c_void_p(scratch),
            ctypes.c_longlong(p.batch), p.length, p.dim, int(p.time_aug), int(p.lead_lag), real_t(p.end_time / max(steps, 1)),
            int(p.scalar_term), int(p.stream), int(p.inverse), int(not place.force_global), ctypes.c_uint(self.grid(p, place)),
        )

    def backward(self, p, place, paths, sigs, sig_grads, incr, initial_grads, scratch, out):
        suffix = "f64" if p.float64 else "f32"
        real_t = ctypes.c_double if p.float64 else ctypes.c_float
        steps = steps_of(p.length, p.lead_lag)
        lib = self.lib(p)
        getattr(lib, f"emu_sig_backward_{suffix}")(
            ctypes.c_void_p(paths), ctypes.c_void_p(sigs), ctypes.c_void_p(sig_grads), ctypes.c_void_p(incr),
            ctypes.c_void_p(initial_grads), ctypes.c_void_p(scratch), ctypes.c_longlong(p.batch), p.length, p.dim,
            int(p.time_aug), int(p.lead_lag), real_t(p.end_time / max(steps, 1)), int(p.scalar_term), int(p.stream),
            int(p.inverse), int(not place.force_global), ctypes.c_uint(self.grid(p, place)),
        )
        getattr(lib, f"emu_incr_grads_to_path_{suffix}")(
            ctypes.c_void_p(incr), ctypes.c_void_p(out), ctypes.c_longlong(p.batch), p.length, p.dim, int(p.lead_lag),
            ctypes.c_uint(2), ctypes.c_uint(5),
        )


class Glue:
    """The signature family's CUDA calls, with the options as positional arguments."""

    def __init__(self, cuda):
        self.launch_options = cuda.launch_options

    @staticmethod
    def options(degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse):
        return SigOptions(degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, -1)

    def sig(self, path, initial, *options):
        return signature_family._sig_cuda(path, initial, self.options(*options))

    def sig_backprop(self, path, sig, derivs, initial, *options):
        return signature_family._sig_backprop_cuda(path, sig, derivs, initial, self.options(*options))


@pytest.fixture
def emulated_glue(tmp_path_factory, monkeypatch):
    from sigrs import _cuda, _native

    fake = EmulatedLaunchers(tmp_path_factory)
    monkeypatch.setattr(_native, "CudaSigProblem", Problem)
    monkeypatch.setattr(_native, "cuda_sig_workspace", fake.workspace)
    monkeypatch.setattr(_native, "cuda_sig_forward", fake.forward)
    monkeypatch.setattr(_native, "cuda_sig_backward", fake.backward)
    monkeypatch.setattr(
        _cuda, "placement",
        lambda t: Placement(device=0, stream=0, max_blocks=_cuda._MAX_BLOCKS, force_global=_cuda._FORCE_GLOBAL, threads=_cuda._THREADS),
    )
    return Glue(_cuda)


@pytest.mark.parametrize("force_global", [False, True])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(stream=True),
        dict(initial=True),
        dict(stream=True, initial=True, lead_lag=True, time_aug=True),
        dict(inverse=True, lead_lag=True, time_aug=True),
    ],
    ids=["plain", "stream", "initial", "stream+initial+transforms", "inverse+transforms"],
)
def test_cuda_glue_over_emulated_kernels(emulated_glue, kwargs, force_global):
    import torch

    rng = np.random.default_rng(5)
    opts = dict(time_aug=kwargs.get("time_aug", False), lead_lag=kwargs.get("lead_lag", False), end_time=0.9)
    stream = kwargs.get("stream", False)
    inverse = kwargs.get("inverse", False)
    path = torch.from_numpy(rng.standard_normal((2, 3, 6, 2)))  # two batch axes
    d = aug_dim(2, opts["time_aug"], opts["lead_lag"])
    initial = sigrs.sig(torch.from_numpy(rng.standard_normal((2, 3, 4, d))), 3) if kwargs.get("initial") else None
    expected = sigrs.sig(path, 3, stream=stream, initial=initial, inverse=inverse, **opts)
    with emulated_glue.launch_options(max_blocks=4, force_global=force_global):
        got = emulated_glue.sig(path, initial, 3, opts["time_aug"], opts["lead_lag"], 0.9, False, stream, inverse)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
        derivs = torch.from_numpy(rng.standard_normal(tuple(expected.shape)))
        exp = sigrs.sig_backprop(path, expected, derivs, 3, stream=stream, initial=initial, inverse=inverse, **opts)
        d_path, d_initial = emulated_glue.sig_backprop(
            path, got, derivs, initial, 3, opts["time_aug"], opts["lead_lag"], 0.9, False, stream, inverse
        )
    exp_path, exp_initial = (exp[0], exp[2]) if initial is not None else (exp, None)
    np.testing.assert_allclose(d_path.numpy(), exp_path.numpy(), rtol=1e-10, atol=1e-10)
    if initial is None:
        assert d_initial is None
    else:
        assert d_initial.shape == initial.shape
        np.testing.assert_allclose(d_initial.numpy(), exp_initial.numpy(), rtol=1e-10, atol=1e-10)


def test_cuda_glue_degree_zero_and_short_paths(emulated_glue):
    import torch

    path = torch.zeros((3, 4, 2), dtype=torch.float64)
    assert torch.equal(emulated_glue.sig(path, None, 0, False, False, 1.0, True, False, False), torch.ones((3, 1), dtype=torch.float64))
    one = torch.ones((3, 1, 2), dtype=torch.float64)
    assert emulated_glue.sig(one, None, 2, False, False, 1.0, False, True, False).shape == (3, 0, 6)
    g, _ = emulated_glue.sig_backprop(one, torch.zeros((3, 6), dtype=torch.float64), torch.ones((3, 6), dtype=torch.float64),
                                      None, 2, False, False, 1.0, False, False, False)
    assert g.shape == one.shape and torch.count_nonzero(g) == 0


@pytest.mark.parametrize("dim,degree,time_aug,lead_lag,threads", CONFIGS[:6])
def test_emulated_inverse(tmp_path_factory, dim, degree, time_aug, lead_lag, threads):
    lib = emulator(tmp_path_factory, aug_dim(dim, time_aug, lead_lag), degree, threads)
    rng = np.random.default_rng(dim * 3 + degree)
    paths = rng.standard_normal((3, 5, dim))
    opts = dict(time_aug=time_aug, lead_lag=lead_lag, end_time=0.8)
    expected = sigrs.sig(paths, degree, inverse=True, **opts)
    got = emu_sig(lib, paths, degree, time_aug, lead_lag, 0.8, False, True, grid=2, inverse=True)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    derivs = rng.standard_normal(expected.shape)
    expected_grad = sigrs.sig_backprop(paths, expected, derivs, degree, inverse=True, **opts)
    got_grad = emu_sig_backprop(lib, paths, expected, derivs, time_aug, lead_lag, 0.8, False, True, grid=2, inverse=True)
    np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-10, atol=1e-10)


def test_cuda_glue_refuses_inverse_with_stream_or_initial(emulated_glue):
    import torch

    path = torch.zeros((2, 4, 2), dtype=torch.float64)
    with pytest.raises(sigrs.CudaUnavailableError, match="inverse=True with stream=True is not supported"):
        emulated_glue.sig(path, None, 2, False, False, 1.0, False, True, True)
    initial = torch.zeros((2, 6), dtype=torch.float64)
    with pytest.raises(sigrs.CudaUnavailableError, match="inverse=True with initial is not supported"):
        emulated_glue.sig(path, initial, 2, False, False, 1.0, False, False, True)


# (dim, time_aug, lead_lag, degree, threads)
RACE_CONFIGS = [(2, True, True, 3, 10), (3, False, False, 4, 64), (1, True, False, 2, 4)]


@pytest.mark.parametrize("dim,time_aug,lead_lag,degree,threads", RACE_CONFIGS)
def test_kernels_are_free_of_data_races(tmp_path, dim, time_aug, lead_lag, degree, threads):
    # Every mode of both kernels under ThreadSanitizer: a missing barrier is
    # reported even where it happened to give the right numbers.
    exe = tmp_path / "race_check"
    d = aug_dim(dim, time_aug, lead_lag)
    subprocess.run(
        [
            "g++", "-std=c++20", "-O1", "-g", "-fsanitize=thread", "-pthread",
            f"-DSIGRS_DIM={d}", f"-DSIGRS_DEGREE={degree}", f"-DSIGRS_THREADS={threads}",
            "-include", str(EMULATOR / "emulate.h"), str(EMULATOR / "signature_driver.cpp"),
            str(EMULATOR / "race_check.cpp"), "-o", str(exe),
        ],
        check=True, capture_output=True, text=True,
    )
    run = subprocess.run([str(exe), str(dim), str(int(time_aug)), str(int(lead_lag))], capture_output=True, text=True)
    report = run.stdout + run.stderr
    assert "ThreadSanitizer" not in report, report[:4000]
    assert run.returncode == 0 and "done" in run.stdout, report[:4000]


@pytest.fixture(scope="module")
def transform_lib(tmp_path_factory):
    out = tmp_path_factory.mktemp("emu") / "transform.so"
    subprocess.run(
        ["g++", "-std=c++20", "-O1", "-pthread", "-shared", "-fPIC", "-include", str(EMULATOR / "emulate.h"),
         str(EMULATOR / "transform_driver.cpp"), "-o", str(out)],
        check=True, capture_output=True, text=True,
    )
    return ctypes.CDLL(str(out))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("time_aug,lead_lag", [(True, False), (False, True), (True, True)])
def test_emulated_transform_kernels_equal_the_cpu_op(transform_lib, dtype, time_aug, lead_lag):
    rng = np.random.default_rng(3)
    paths = rng.standard_normal((3, 5, 2)).astype(dtype)
    expected = sigrs.transform_path(paths, time_aug=time_aug, lead_lag=lead_lag, end_time=2.5)
    out = np.full(expected.shape, np.nan, dtype)
    suffix = "f64" if dtype == np.float64 else "f32"
    # 2 blocks of 4 threads: each thread strides over several points.
    getattr(transform_lib, f"emu_transform_path_{suffix}")(
        ptr(paths), ptr(out), ctypes.c_longlong(3), 5, 2, int(time_aug), int(lead_lag), real(dtype, 2.5),
        ctypes.c_uint(2), ctypes.c_uint(4),
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-15)
    derivs = rng.standard_normal(expected.shape).astype(dtype)
    expected_grad = sigrs.transform_path_backprop(derivs, time_aug=time_aug, lead_lag=lead_lag)
    grad = np.full(paths.shape, np.nan, dtype)
    getattr(transform_lib, f"emu_transform_path_backprop_{suffix}")(
        ptr(derivs), ptr(grad), ctypes.c_longlong(3), 5, 2, int(time_aug), int(lead_lag), ctypes.c_uint(2), ctypes.c_uint(4)
    )
    # The gradient sums up to four terms, in another order than the CPU.
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-14)
