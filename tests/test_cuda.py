"""The GPU backend on CUDA tensors: every op against the CPU op.

All tests here are marked ``cuda`` and skipped without a GPU; the kernels'
logic is also checked without one by test_cuda_emulated.py, and their
compilation by test_cuda_build.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sigrs
from sigrs import _cuda, _native
from _util import F32_RTOL, F64_RTOL, cuda_available, transform_cases

pytestmark = pytest.mark.cuda

DTYPES = [pytest.param(torch.float64, id="f64"), pytest.param(torch.float32, id="f32")]


def rtol(dtype):
    return F64_RTOL if dtype == torch.float64 else F32_RTOL


def assert_close(got, expected, dtype, scale=1.0):
    assert got.device.type == "cuda" or not isinstance(got, torch.Tensor)
    got = got.detach().cpu().double().numpy()
    expected = np.asarray(expected.detach().cpu().double() if isinstance(expected, torch.Tensor) else expected)
    tol = rtol(dtype)
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * scale)


def random_path(shape, dtype, seed=0, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=g, dtype=torch.float64)).to(dtype)


# (dim, degree): the benchmark's small shape, degree 1, a dimension that is
# no power of two, and enough words that every thread takes several.
SHAPES = [(2, 1), (3, 4), (4, 6), (8, 3), (5, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim,degree", SHAPES)
@pytest.mark.parametrize("opts", transform_cases())
@pytest.mark.parametrize("scalar_term", [False, True])
def test_sig_and_sig_backprop_equal_the_cpu_op(dtype, dim, degree, opts, scalar_term):
    path = random_path((5, 9, dim), dtype, seed=dim * 10 + degree)
    expected = sigrs.sig(path.double(), degree, scalar_term=scalar_term, **opts)
    got = sigrs.sig(path.cuda(), degree, scalar_term=scalar_term, **opts)
    assert got.dtype == dtype and got.shape == expected.shape
    assert_close(got, expected, dtype)

    derivs = random_path(tuple(expected.shape), torch.float64, seed=1, scale=1.0)
    expected_grad = sigrs.sig_backprop(path.double(), expected, derivs, degree, **opts)
    got_grad = sigrs.sig_backprop(path.cuda(), got, derivs.to(dtype).cuda(), degree, **opts)
    assert got_grad.shape == path.shape
    assert_close(got_grad, expected_grad, dtype, scale=float(expected_grad.abs().max()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_axes_and_a_single_path(dtype):
    path = random_path((2, 3, 7, 3), dtype)
    expected = sigrs.sig(path, 3, time_aug=True)
    got = sigrs.sig(path.cuda(), 3, time_aug=True)
    assert got.shape == (2, 3, sigrs.sig_length(3, 3, time_aug=True))
    assert_close(got, expected, dtype)
    assert_close(sigrs.sig(path[0, 0].cuda(), 3), sigrs.sig(path[0, 0], 3), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_autograd_through_sig_on_cuda(dtype):
    path = random_path((4, 12, 3), dtype)
    cpu = path.clone().requires_grad_(True)
    gpu = path.cuda().requires_grad_(True)
    (sigrs.sig(cpu, 4, lead_lag=True, scalar_term=True) ** 2).sum().backward()
    (sigrs.sig(gpu, 4, lead_lag=True, scalar_term=True) ** 2).sum().backward()
    assert gpu.grad.device.type == "cuda"
    assert_close(gpu.grad, cpu.grad, dtype, scale=float(cpu.grad.abs().max()))


def test_gradcheck_on_cuda():
    path = random_path((2, 5, 2), torch.float64).cuda().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: sigrs.sig(p, 3, time_aug=True), (path,), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", transform_cases())
def test_transform_path_and_backprop_equal_the_cpu_op(dtype, opts):
    path = random_path((3, 6, 2), dtype)
    expected = sigrs.transform_path(path, **opts)
    got = sigrs.transform_path(path.cuda(), **opts)
    assert_close(got, expected, dtype)
    derivs = random_path(tuple(expected.shape), dtype, seed=3)
    assert_close(
        sigrs.transform_path_backprop(derivs.cuda(), **opts), sigrs.transform_path_backprop(derivs, **opts), dtype
    )


def test_basepoint_on_cuda():
    path = random_path((3, 6, 2), torch.float64)
    point = random_path((3, 2), torch.float64, seed=5)
    assert_close(sigrs.sig(path.cuda(), 3, basepoint=True), sigrs.sig(path, 3, basepoint=True), torch.float64)
    assert_close(sigrs.sig(path.cuda(), 3, basepoint=point.cuda()), sigrs.sig(path, 3, basepoint=point), torch.float64)


def test_runs_on_the_current_stream():
    # The copy that fills `x` waits behind a long sleep on a side stream; a
    # kernel launched anywhere but that stream would read zeros.
    src = random_path((64, 200, 4), torch.float64).cuda()
    expected = sigrs.sig(src.cpu(), 4)
    x = torch.zeros_like(src)
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        torch.cuda._sleep(200_000_000)
        x.copy_(src)
        out = sigrs.sig(x, 4)
        g = sigrs.sig_backprop(x, out, torch.ones_like(out), 4)
    side.synchronize()
    assert_close(out, expected, torch.float64)
    assert_close(g, sigrs.sig_backprop(src.cpu(), expected, torch.ones_like(expected), 4), torch.float64, scale=10.0)


@pytest.mark.skipif(not cuda_available() or torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_tensors_on_the_second_gpu():
    path = random_path((4, 10, 3), torch.float64)
    got = sigrs.sig(path.to("cuda:1"), 3, lead_lag=True)
    assert got.device == torch.device("cuda:1")
    assert_close(got, sigrs.sig(path, 3, lead_lag=True), torch.float64)
    g = sigrs.sig_backprop(path.to("cuda:1"), got, torch.ones_like(got), 3, lead_lag=True)
    assert g.device == torch.device("cuda:1")
    # sigrs works in the device's context and puts the caller's back.
    assert torch.cuda.current_device() == 0


def test_first_call_compiles_and_later_calls_reuse_the_module():
    path = random_path((2, 5, 7), torch.float64).cuda()  # (7, 2): used by no other test
    before = _native.cuda_compilations()
    sigrs.sig(path, 2)
    assert _native.cuda_compilations() == before + 1
    sigrs.sig(path, 2)
    sigrs.sig(path.float(), 2)  # both float types live in one module
    sigrs.sig_backprop(path, sigrs.sig(path, 2), torch.ones((2, 56), dtype=torch.float64, device="cuda"), 2)
    assert _native.cuda_compilations() == before + 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_batches_beyond_one_launch_are_strided(dtype):
    path = random_path((37, 8, 3), dtype)
    expected = sigrs.sig(path, 3, time_aug=True)
    derivs = random_path(tuple(expected.shape), dtype, seed=2)
    with _cuda.launch_options(max_blocks=4):
        got = sigrs.sig(path.cuda(), 3, time_aug=True)
        grad = sigrs.sig_backprop(path.cuda(), got, derivs.cuda(), 3, time_aug=True)
        t = sigrs.transform_path(path.cuda(), lead_lag=True)
    assert_close(got, expected, dtype)
    assert_close(grad, sigrs.sig_backprop(path, expected, derivs, 3, time_aug=True), dtype, scale=10.0)
    assert_close(t, sigrs.transform_path(path, lead_lag=True), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_memory_kernels_when_forced(dtype):
    path = random_path((6, 9, 3), dtype)
    expected = sigrs.sig(path, 4, lead_lag=True)
    derivs = random_path(tuple(expected.shape), dtype, seed=2)
    with _cuda.launch_options(force_global=True):
        got = sigrs.sig(path.cuda(), 4, lead_lag=True)
        grad = sigrs.sig_backprop(path.cuda(), got, derivs.cuda(), 4, lead_lag=True)
    assert_close(got, expected, dtype)
    assert_close(grad, sigrs.sig_backprop(path, expected, derivs, 4, lead_lag=True), dtype, scale=10.0)


def test_signatures_too_large_for_shared_memory_fall_back():
    # d 4, N 8: 87380 words, 1.4 MB per state in float64: far past any GPU's shared memory.
    path = random_path((2, 4, 4), torch.float64, scale=0.3)
    expected = sigrs.sig(path, 8)
    got = sigrs.sig(path.cuda(), 8)
    assert_close(got, expected, torch.float64)
    derivs = random_path(tuple(expected.shape), torch.float64, seed=4)
    grad = sigrs.sig_backprop(path.cuda(), got, derivs.cuda(), 8)
    assert_close(grad, sigrs.sig_backprop(path, expected, derivs, 8), torch.float64, scale=10.0)


def test_degree_zero_empty_batch_and_single_points():
    x = random_path((3, 5, 2), torch.float64).cuda()
    assert torch.equal(sigrs.sig(x, 0, scalar_term=True).cpu(), torch.ones((3, 1), dtype=torch.float64))
    assert sigrs.sig(x[:0], 2).shape == (0, 6)
    one = sigrs.sig(x[:, :1], 3, time_aug=True, scalar_term=True)
    assert_close(one, sigrs.sig(x[:, :1].cpu(), 3, time_aug=True, scalar_term=True), torch.float64)
    g = sigrs.sig_backprop(x[:, :1], one, torch.ones_like(one), 3, time_aug=True)
    assert torch.count_nonzero(g) == 0 and g.device.type == "cuda"


def test_backward_does_not_store_the_signature_of_every_step():
    # batch 8, length 10000, (8, 3): length x sig_len would be 8 * 10000 * 584 * 8 bytes = 374 MB.
    path = random_path((8, 10000, 8), torch.float64, scale=0.05).cuda().requires_grad_(True)
    s = sigrs.sig(path, 3)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    s.backward(torch.ones_like(s))
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - base
    assert extra < 4 * path.numel() * 8 + (1 << 20), f"backward used {extra} bytes"


def test_mixed_devices_are_a_value_error():
    path = random_path((2, 5, 2), torch.float64)
    with pytest.raises(ValueError, match="basepoint is on cpu but path is on cuda:0"):
        sigrs.sig(path.cuda(), 2, basepoint=path[:, 0])
    s = sigrs.sig(path, 2)
    with pytest.raises(ValueError, match="sig is on cpu but path is on cuda:0"):
        sigrs.sig_backprop(path.cuda(), s, s, 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", transform_cases(end_times=(1.0,)))
def test_inverse_equals_the_cpu_op(dtype, opts):
    path = random_path((3, 7, 3), dtype)
    expected = sigrs.sig(path, 4, inverse=True, **opts)
    got = sigrs.sig(path.cuda(), 4, inverse=True, **opts)
    assert_close(got, expected, dtype)
    derivs = random_path(tuple(expected.shape), dtype, seed=6)
    assert_close(
        sigrs.sig_backprop(path.cuda(), got, derivs.cuda(), 4, inverse=True, **opts),
        sigrs.sig_backprop(path, expected, derivs, 4, inverse=True, **opts),
        dtype,
        scale=10.0,
    )


def test_inverse_with_stream_or_initial_says_it_has_no_gpu_kernel():
    path = random_path((2, 5, 2), torch.float64).cuda()
    with pytest.raises(sigrs.CudaUnavailableError, match="inverse=True with stream=True is not supported by the sigrs GPU kernels yet"):
        sigrs.sig(path, 2, inverse=True, stream=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", transform_cases(end_times=(1.0,)))
def test_stream_and_initial_equal_the_cpu_op(dtype, opts):
    path = random_path((3, 8, 2), dtype)
    d = 2 * (2 if opts["lead_lag"] else 1) + int(opts["time_aug"])
    initial = sigrs.sig(random_path((3, 4, d), dtype, seed=9), 3)
    for kwargs in (dict(stream=True), dict(initial=initial), dict(stream=True, initial=initial)):
        cpu_kwargs = dict(kwargs)
        gpu_kwargs = {k: (v.cuda() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
        expected = sigrs.sig(path, 3, **cpu_kwargs, **opts)
        got = sigrs.sig(path.cuda(), 3, **gpu_kwargs, **opts)
        assert_close(got, expected, dtype)
        derivs = random_path(tuple(expected.shape), dtype, seed=2)
        exp = sigrs.sig_backprop(path, expected, derivs, 3, **cpu_kwargs, **opts)
        res = sigrs.sig_backprop(path.cuda(), got, derivs.cuda(), 3, **gpu_kwargs, **opts)
        exp, res = (exp, res) if isinstance(exp, tuple) else ((exp,), (res,))
        for r, e in zip(res, exp):
            if e is not None:
                assert_close(r, e, dtype, scale=10.0)


def test_autograd_reaches_initial_on_cuda():
    path = random_path((2, 6, 2), torch.float64).cuda().requires_grad_(True)
    initial = sigrs.sig(random_path((2, 3, 2), torch.float64, seed=3), 3).cuda().requires_grad_(True)
    torch.autograd.gradcheck(lambda p, i: sigrs.sig(p, 3, initial=i, stream=True), (path, initial), eps=1e-6, atol=1e-8)


def test_ops_without_gpu_kernels_refuse_cuda_tensors():
    path = random_path((2, 5, 2), torch.float64).cuda()
    with pytest.raises(sigrs.CudaUnavailableError, match="no GPU kernel"):
        sigrs.log_sig(path, 2)


def test_cuda_is_reported_available():
    assert sigrs.cuda_available()
    assert sigrs.cuda_status().startswith("available: CUDA driver ")


def test_torch_compile_on_cuda():
    path = random_path((3, 8, 2), torch.float64).cuda().requires_grad_(True)
    f = torch.compile(lambda p: sigrs.sig(p, 3, time_aug=True).pow(2).sum(), fullgraph=True)
    f(path).backward()
    ref = path.detach().cpu().requires_grad_(True)
    sigrs.sig(ref, 3, time_aug=True).pow(2).sum().backward()
    assert_close(path.grad, ref.grad, torch.float64, scale=10.0)
