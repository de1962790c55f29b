"""Signature kernels, Gram matrices and the MMD under torch.compile(fullgraph=True).

Each is a torch.library op while dynamo traces, so whole losses built on
them compile without a graph break, with the aot_eager and inductor
backends and with dynamic shapes, and their gradients equal eager mode's.
"""

from __future__ import annotations

import pytest

from _util import F64_RTOL, assert_close, make_path

import sigrs

torch = pytest.importorskip("torch")


@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _loss(static_kernel):
    def loss(x, y):
        k = sigrs.sig_kernel(x[:3], y, dyadic_order=1, static_kernel=static_kernel, time_aug=True)
        g = sigrs.sig_kernel_gram(x, y, dyadic_order=(1, 0), static_kernel=static_kernel)
        sym = sigrs.sig_kernel_gram(x, x, dyadic_order=1, static_kernel=static_kernel, normalize=True)
        mmd = sigrs.sig_mmd(x, y, dyadic_order=1, static_kernel=static_kernel, lead_lag=True)
        return k.sum() + (g * g).sum() + sym.sum() + 10.0 * mmd

    return loss


def _run(fn, x_np, y_np):
    x = torch.from_numpy(x_np.copy()).requires_grad_(True)
    y = torch.from_numpy(y_np.copy()).requires_grad_(True)
    value = fn(x, y)
    value.backward()
    return value.detach(), x.grad, y.grad


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("compiler", ["aot_eager", "inductor"])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_kernels_gram_and_mmd_compile_fullgraph_with_gradients(rng, fresh_dynamo, compiler, dynamic, kernel):
    static_kernel = None if kernel == "linear" else sigrs.RBFKernel(0.8)
    loss = _loss(static_kernel)
    compiled = torch.compile(loss, fullgraph=True, backend=compiler, dynamic=dynamic)
    for batch in (4, 5):  # a second shape: a new graph, or the same symbolic one
        x_np, y_np = make_path(rng, (batch, 6, 2)), make_path(rng, (3, 5, 2))
        got = _run(compiled, x_np, y_np)
        expected = _run(loss, x_np, y_np)
        for g, e, what in zip(got, expected, ("loss", "d_x", "d_y")):
            assert_close(g, e, 1e-9, what)


def test_explicit_kernel_backprops_compile_fullgraph(rng, fresh_dynamo):
    x = torch.from_numpy(make_path(rng, (3, 6, 2)))
    y = torch.from_numpy(make_path(rng, (4, 5, 2)))
    w = torch.from_numpy(rng.standard_normal((3, 4)))

    def grads(x, y, w):
        g1, g2 = sigrs.sig_kernel_gram_backprop(w, x, y, dyadic_order=1, left_deriv=True, right_deriv=True)
        h1, _ = sigrs.sig_kernel_backprop(w[:, 0], x, y[:3], dyadic_order=1)
        return g1, g2, h1

    compiled = torch.compile(grads, fullgraph=True, backend="aot_eager")
    for got, expected in zip(compiled(x, y, w), grads(x, y, w)):
        assert_close(got, expected, F64_RTOL)


def test_compiled_kernel_ops_are_sigrs_custom_ops(rng, fresh_dynamo):
    seen = []

    def backend(gm, example_inputs):
        seen.extend(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
        return gm.forward

    x = torch.from_numpy(make_path(rng, (3, 6, 2)))
    torch.compile(lambda x: sigrs.sig_mmd(x, x * 2, dyadic_order=1), fullgraph=True, backend=backend)(x)
    assert any("sigrs.sig_kernel_gram" in s for s in seen), seen


class IncrementKernel(sigrs.StaticKernel):
    """A user-written static kernel (the linear one, in torch)."""

    def __call__(self, ctx, x, y):
        dx, dy = x.diff(dim=1), y.diff(dim=1)
        ctx.save_for_backward(dx, dy)
        return dx @ dy.transpose(1, 2)

    def grad_x(self, ctx, derivs):
        dx, dy = ctx.saved_tensors
        return _adjoint_diff(derivs @ dy)

    def grad_y(self, ctx, derivs):
        dx, dy = ctx.saved_tensors
        return _adjoint_diff(derivs.transpose(1, 2) @ dx)


def _adjoint_diff(h):
    return torch.nn.functional.pad(h, (0, 0, 1, 0)) - torch.nn.functional.pad(h, (0, 0, 0, 1))


def test_a_user_static_kernel_compiles_fullgraph_too(rng, fresh_dynamo):
    kernel = IncrementKernel()

    def loss(x, y):
        return sigrs.sig_kernel(x, y, dyadic_order=1, static_kernel=kernel, lead_lag=True).sum()

    x_np, y_np = make_path(rng, (3, 5, 2)), make_path(rng, (3, 4, 2))
    got = _run(torch.compile(loss, fullgraph=True, backend="aot_eager"), x_np, y_np)
    expected = _run(loss, x_np, y_np)
    linear = _run(lambda x, y: sigrs.sig_kernel(x, y, dyadic_order=1, lead_lag=True).sum(), x_np, y_np)
    for g, e, l in zip(got, expected, linear):
        assert_close(g, e, 1e-12)
        assert_close(g, l, 1e-10)


FIRST_USE = """
import torch, sigrs
x = torch.rand(4, 6, 2, dtype=torch.float64, requires_grad=True)
def loss(x):
    return sigrs.sig(x, 3).sum() + sigrs.sig_mmd(x, x * 2, dyadic_order=1) + sigrs.log_sig(x, 3).sum()
value = torch.compile(loss, fullgraph=True, backend="aot_eager")(x)
value.backward()
assert torch.isfinite(x.grad).all()
print("ok")
"""


def test_a_compiled_function_can_be_the_first_to_use_sigrs_on_tensors():
    # sigrs builds its torch ops when torch is first used; here that happens
    # while dynamo traces (a fresh process: this one has built them already)
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", FIRST_USE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
