"""Gradients: sig_backprop, transform_path_backprop, torch autograd and torch.compile."""

from __future__ import annotations

import time

import numpy as np
import pytest

import reference as ref
from _util import (
    F32_RTOL,
    F64_RTOL,
    OPTION_COMBOS,
    OPTION_IDS,
    as_backend,
    assert_close,
    make_path,
    to_numpy,
    transform_cases,
)

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)
torch = pytest.importorskip("torch")


def _ref_grad(x_np, weights_np, degree, scalar_term=False, **options):
    """d<ref.sig(x), w>/dx by torch autograd through the reference."""
    xt = torch.tensor(np.asarray(x_np, dtype=np.float64), requires_grad=True)
    out = ref.sig(xt, degree, scalar_term=scalar_term, **options)
    (out * torch.as_tensor(np.asarray(weights_np, dtype=np.float64))).sum().backward()
    return xt.grad.numpy()


# ---------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", transform_cases())
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", [(), (2,), (2, 2)], ids=["nobatch", "b2", "b2x2"])
def test_gradcheck_passes_for_option_combination(rng, options, scalar_term, batch_shape):
    x = torch.from_numpy(make_path(rng, batch_shape + (5, 2))).requires_grad_(True)

    def fn(path):
        return sigrs.sig(path, 3, scalar_term=scalar_term, **options)

    # the two-batch-dim case only checks batch plumbing: random projections suffice there
    fast = len(batch_shape) == 2
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=fast)


def test_gradcheck_passes_for_dimension_one_and_degree_five(rng):
    x = torch.from_numpy(make_path(rng, (2, 4, 1))).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: sigrs.sig(p, 5), (x,), eps=1e-6, atol=1e-7)


def test_gradcheck_passes_for_non_contiguous_input(rng):
    base = torch.from_numpy(make_path(rng, (2, 3, 8))).requires_grad_(True)

    def fn(b):
        return sigrs.sig(b.transpose(-1, -2)[:, ::2], 3, lead_lag=True)

    assert torch.autograd.gradcheck(fn, (base,), eps=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# backward through autograd
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 3)], ids=["nobatch", "b3", "b2x3"])
def test_backward_fills_grad_matching_reference_through_batch_dims(rng, options, batch_shape):
    x_np = make_path(rng, batch_shape + (5, 2))
    x = torch.from_numpy(x_np.copy()).requires_grad_(True)
    out = sigrs.sig(x, 3, end_time=1.5, **options)
    assert out.requires_grad
    w = rng.standard_normal(tuple(out.shape))
    (out * torch.from_numpy(w)).sum().backward()
    assert x.grad is not None
    assert x.grad.shape == x.shape
    assert x.grad.dtype == x.dtype
    assert_close(x.grad, _ref_grad(x_np, w, 3, end_time=1.5, **options), 1e-9)


def test_sum_backward_fills_grad_for_float32(rng):
    x_np = make_path(rng, (2, 6, 3), np.float32)
    x = torch.from_numpy(x_np.copy()).requires_grad_(True)
    sigrs.sig(x, 4).sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32
    w = np.ones((2, ref.sig_length(3, 4)))
    assert_close(x.grad, _ref_grad(x_np.astype(np.float64), w, 4), F32_RTOL)


def test_backward_through_strided_view_reaches_base_tensor(rng):
    base_np = make_path(rng, (2, 10, 3))
    base = torch.from_numpy(base_np.copy()).requires_grad_(True)
    view = base[:, ::2, 1:]
    out = sigrs.sig(view, 3, time_aug=True)
    w = rng.standard_normal(tuple(out.shape))
    (out * torch.from_numpy(w)).sum().backward()
    expected = np.zeros_like(base_np)
    expected[:, ::2, 1:] = _ref_grad(base_np[:, ::2, 1:], w, 3, time_aug=True)
    assert_close(base.grad, expected, 1e-9)


def test_gradient_accumulates_over_two_backward_calls(rng):
    x = torch.from_numpy(make_path(rng, (2, 5, 2))).requires_grad_(True)
    sigrs.sig(x, 3).sum().backward()
    first = x.grad.clone()
    sigrs.sig(x, 3).sum().backward()
    assert_close(x.grad, 2 * first, F64_RTOL)


def test_scalar_term_output_receives_no_gradient(rng):
    x = torch.from_numpy(make_path(rng, (2, 5, 2))).requires_grad_(True)
    out = sigrs.sig(x, 3, scalar_term=True)
    (g,) = torch.autograd.grad(out[..., 0].sum() * 5.0 + out[..., 1:].sum(), x)
    x2 = x.detach().clone().requires_grad_(True)
    (g2,) = torch.autograd.grad(sigrs.sig(x2, 3).sum(), x2)
    assert_close(g, g2, F64_RTOL)


def test_backward_of_empty_batch_gives_empty_grad():
    x = torch.zeros((0, 5, 2), dtype=torch.float64, requires_grad=True)
    out = sigrs.sig(x, 3, lead_lag=True)
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == (0, 5, 2)


def test_backward_of_length_one_path_gives_zero_grad():
    x = torch.ones((3, 1, 2), dtype=torch.float64, requires_grad=True)
    sigrs.sig(x, 3, time_aug=True).sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_no_graph_is_built_without_requires_grad(rng):
    x = torch.from_numpy(make_path(rng, (2, 5, 2)))
    out = sigrs.sig(x, 3)
    assert not out.requires_grad
    with torch.no_grad():
        out = sigrs.sig(x.clone().requires_grad_(True), 3)
    assert not out.requires_grad


# ---------------------------------------------------------------------------
# sig_backprop
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 2)], ids=["nobatch", "b3", "b2x2"])
def test_sig_backprop_matches_autograd_of_reference(rng, backend, np_dtype, options, scalar_term,
                                                    batch_shape):
    x_np = make_path(rng, batch_shape + (5, 2), np_dtype)
    x = as_backend(x_np, backend)
    kw = dict(end_time=0.75, **options)
    s = sigrs.sig(x, 3, scalar_term=scalar_term, **kw)
    w_np = rng.standard_normal(tuple(s.shape)).astype(np_dtype)
    out = sigrs.sig_backprop(x, s, as_backend(w_np, backend), 3, **kw)
    assert type(out) is type(x)
    assert out.dtype == x.dtype
    assert tuple(out.shape) == tuple(x.shape)
    expected = _ref_grad(x_np.astype(np.float64), w_np.astype(np.float64), 3,
                         scalar_term=scalar_term, **kw)
    assert_close(out, expected, 1e-9 if np_dtype == np.float64 else F32_RTOL)


def test_sig_backprop_matches_finite_differences(rng):
    x = make_path(rng, (4, 3))
    kw = dict(time_aug=True, lead_lag=True, end_time=2.0)
    s = sigrs.sig(x, 3, **kw)
    w = rng.standard_normal(s.shape)
    np.testing.assert_allclose(sigrs.sig_backprop(x, s, w, 3, **kw),
                               ref.sig_backprop_fd(x, w, 3, **kw), rtol=1e-6, atol=1e-7)


def test_sig_backprop_ignores_scalar_term_derivative(rng):
    x = make_path(rng, (2, 5, 2))
    s1 = sigrs.sig(x, 3, scalar_term=True)
    w = rng.standard_normal(s1.shape)
    a = sigrs.sig_backprop(x, s1, w, 3)
    w2 = w.copy()
    w2[:, 0] = 123.0
    b = sigrs.sig_backprop(x, s1, w2, 3)
    c = sigrs.sig_backprop(x, s1[:, 1:], np.ascontiguousarray(w[:, 1:]), 3)
    np.testing.assert_array_equal(a, b)
    assert_close(a, c, F64_RTOL)


def test_sig_backprop_agrees_with_torch_backward(rng):
    x = torch.from_numpy(make_path(rng, (3, 6, 2))).requires_grad_(True)
    out = sigrs.sig(x, 4, lead_lag=True)
    w = torch.from_numpy(rng.standard_normal(tuple(out.shape)))
    (out * w).sum().backward()
    manual = sigrs.sig_backprop(x.detach(), out.detach(), w, 4, lead_lag=True)
    assert_close(manual, x.grad, F64_RTOL)


def test_sig_backprop_of_length_one_and_empty_batch():
    x = np.ones((2, 1, 3))
    s = sigrs.sig(x, 2, time_aug=True)
    g = sigrs.sig_backprop(x, s, np.ones_like(s), 2, time_aug=True)
    np.testing.assert_array_equal(g, np.zeros_like(x))
    x0 = np.zeros((0, 4, 3))
    s0 = sigrs.sig(x0, 2)
    assert sigrs.sig_backprop(x0, s0, s0, 2).shape == (0, 4, 3)


@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
def test_sig_backprop_n_jobs_values_give_identical_results(rng, options):
    x = make_path(rng, (7, 5, 2))
    s = sigrs.sig(x, 3, **options)
    w = rng.standard_normal(s.shape)
    outs = [sigrs.sig_backprop(x, s, w, 3, n_jobs=j, **options) for j in (1, -1, -2, 2)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_sig_backprop_is_accurate_for_long_paths(rng):
    # the backward pass may rebuild prefix signatures from the final one: check it stays exact
    x = make_path(rng, (1, 300, 3)) * 3.0
    s = sigrs.sig(x, 4)
    w = rng.standard_normal(s.shape)
    assert_close(sigrs.sig_backprop(x, s, w, 4), _ref_grad(x, w, 4), 1e-9)


def test_sig_backprop_of_degree_zero_is_zero(rng):
    x = make_path(rng, (2, 5, 2))
    for scalar_term in (False, True):
        s = sigrs.sig(x, 0, scalar_term=scalar_term)
        out = sigrs.sig_backprop(x, s, np.ones_like(s), 0)
        np.testing.assert_array_equal(out, np.zeros_like(x))


def test_backward_into_nn_parameter(rng):
    p = torch.nn.Parameter(torch.from_numpy(make_path(rng, (2, 5, 2))))
    sigrs.sig(p, 3, time_aug=True).sum().backward()
    w = np.ones((2, ref.sig_length(2, 3, time_aug=True)))
    assert_close(p.grad, _ref_grad(p.detach().numpy(), w, 3, time_aug=True), 1e-9)


def test_sig_backprop_accepts_strided_inputs(rng):
    x = np.flip(make_path(rng, (3, 10, 2)), axis=1)[:, ::2]
    s = sigrs.sig(x, 3)
    w = np.asfortranarray(rng.standard_normal(s.shape))
    expected = sigrs.sig_backprop(np.ascontiguousarray(x), s, np.ascontiguousarray(w), 3)
    np.testing.assert_array_equal(sigrs.sig_backprop(x, s, w, 3), expected)


# ---------------------------------------------------------------------------
# transform_path_backprop
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 2)], ids=["nobatch", "b3", "b2x2"])
def test_transform_path_backprop_is_adjoint_of_transform_path(rng, backend, options, batch_shape):
    length, d = 4, 3
    x_np = make_path(rng, batch_shape + (length, d))
    x = as_backend(x_np, backend)
    zero = as_backend(np.zeros_like(x_np), backend)
    # transform_path is affine (the time channel does not depend on x): use its linear part
    tx = to_numpy(sigrs.transform_path(x, end_time=2.0, **options))
    t0 = to_numpy(sigrs.transform_path(zero, end_time=2.0, **options))
    g_np = rng.standard_normal(tx.shape)
    adj = sigrs.transform_path_backprop(as_backend(g_np, backend), end_time=2.0, **options)
    assert type(adj) is type(x)
    assert tuple(adj.shape) == x_np.shape
    lhs = np.sum((tx - t0) * g_np)
    rhs = np.sum(x_np * to_numpy(adj))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
    expected = ref.transform_path_adjoint(g_np, length, d, **options)
    assert_close(adj, expected, F64_RTOL)


@pytest.mark.parametrize("options", transform_cases((1.0, 2.0)))
def test_gradcheck_passes_for_transform_path(rng, options):
    x = torch.from_numpy(make_path(rng, (2, 4, 2))).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: sigrs.transform_path(p, **options), (x,),
                                    eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("options", transform_cases((1.0, 2.0)))
def test_gradcheck_passes_for_transform_path_backprop_wrt_derivs(rng, options):
    """transform_path_backprop is linear in derivs: its gradient is the LINEAR part of
    transform_path (the time channel is a constant offset, so it gets no gradient)."""
    shape = tuple(sigrs.transform_path(np.zeros((2, 4, 2)), **options).shape)
    g = torch.from_numpy(rng.standard_normal(shape)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda d: sigrs.transform_path_backprop(d, **options), (g,),
                                    eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("options", transform_cases((1.0, 2.0)))
def test_gradgradcheck_passes_for_transform_path(rng, options):
    x = torch.from_numpy(make_path(rng, (2, 4, 2))).requires_grad_(True)
    assert torch.autograd.gradgradcheck(lambda p: sigrs.transform_path(p, **options), (x,),
                                        eps=1e-6, atol=1e-8)


def test_transform_path_backprop_float32_keeps_dtype(rng):
    g = rng.standard_normal((2, 7, 5)).astype(np.float32)
    out = sigrs.transform_path_backprop(g, time_aug=True, lead_lag=True, end_time=1.0)
    assert out.dtype == np.float32 and out.shape == (2, 4, 2)
    assert_close(out, ref.transform_path_adjoint(g, 4, 2, time_aug=True, lead_lag=True),
                 F32_RTOL)


def test_sig_backprop_equals_transform_backprop_of_plain_sig_backprop(rng):
    """Chain rule: backprop with flags == transform_path_backprop(sig_backprop(transformed))."""
    x = make_path(rng, (2, 5, 2))
    kw = dict(time_aug=True, lead_lag=True, end_time=1.3)
    y = sigrs.transform_path(x, **kw)
    s = sigrs.sig(x, 3, **kw)
    w = rng.standard_normal(s.shape)
    inner = sigrs.sig_backprop(np.ascontiguousarray(y), s, w, 3)
    assert_close(sigrs.sig_backprop(x, s, w, 3, **kw),
                 sigrs.transform_path_backprop(inner, **kw), F64_RTOL)


# ---------------------------------------------------------------------------
# torch.compile
# ---------------------------------------------------------------------------

@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("options", [OPTION_COMBOS[0], OPTION_COMBOS[3]], ids=["plain", "ll+t"])
def test_compiled_forward_fullgraph_then_backward_outside(rng, fresh_dynamo, options):
    x_np = make_path(rng, (3, 6, 2))

    def loss_fn(path):
        s = sigrs.sig(path, 3, scalar_term=True, end_time=2.0, **options)
        return (s * s).sum() + s[..., 1].sin().sum()

    compiled = torch.compile(loss_fn, fullgraph=True, backend="aot_eager")
    x = torch.from_numpy(x_np.copy()).requires_grad_(True)
    loss = compiled(x)
    loss.backward()
    x_eager = torch.from_numpy(x_np.copy()).requires_grad_(True)
    loss_eager = loss_fn(x_eager)
    loss_eager.backward()
    assert_close(loss.detach(), loss_eager.detach(), F64_RTOL)
    assert_close(x.grad, x_eager.grad, F64_RTOL)


def test_compiled_loss_and_autograd_grad_inside_fullgraph(rng, fresh_dynamo):
    x_np = make_path(rng, (2, 5, 3))

    def loss_and_grad(path):
        s = sigrs.sig(path, 3, time_aug=True)
        loss = (s ** 2).sum()
        (g,) = torch.autograd.grad(loss, path)
        return loss.detach(), g

    with torch._dynamo.config.patch(trace_autograd_ops=True):
        compiled = torch.compile(loss_and_grad, fullgraph=True, backend="aot_eager")
        x = torch.from_numpy(x_np.copy()).requires_grad_(True)
        loss, g = compiled(x)
    x_eager = torch.from_numpy(x_np.copy()).requires_grad_(True)
    loss_e, g_e = loss_and_grad(x_eager)
    assert_close(loss, loss_e, F64_RTOL)
    assert_close(g, g_e, F64_RTOL)


def test_compiled_sig_handles_new_batch_size_without_graph_break(rng, fresh_dynamo):
    def fn(path):
        return sigrs.sig(path, 3, lead_lag=True) * 2.0

    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    for batch in (2, 5, 7):
        x = torch.from_numpy(make_path(rng, (batch, 4, 2)))
        assert_close(compiled(x), 2.0 * ref.sig(x.numpy(), 3, lead_lag=True), F64_RTOL)


@pytest.mark.parametrize("options", [dict(), dict(time_aug=True, end_time=2.0)],
                         ids=["plain", "time-T2"])
def test_compiled_sig_with_dynamic_shapes_has_no_graph_break(rng, fresh_dynamo, options):
    """dynamic=True traces sizes (and Python floats) symbolically from the first call."""
    def fn(path):
        return sigrs.sig(path, 3, **options).sum(-1)

    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager", dynamic=True)
    for shape in [(2, 5, 2), (3, 5, 2), (2, 8, 2)]:
        x = torch.from_numpy(make_path(rng, shape))
        assert_close(compiled(x), ref.sig(x.numpy(), 3, **options).sum(-1), F64_RTOL)


def test_compiled_path_transform_then_sig_backward_matches_eager(rng, fresh_dynamo):
    x_np = make_path(rng, (2, 3, 5, 2))

    def loss_fn(path):
        y = sigrs.transform_path(path, lead_lag=True, time_aug=True, end_time=2.0)
        return sigrs.sig(y, 3, scalar_term=True).pow(2).sum()

    compiled = torch.compile(loss_fn, fullgraph=True, backend="aot_eager")
    x = torch.from_numpy(x_np.copy()).requires_grad_(True)
    compiled(x).backward()
    x_e = torch.from_numpy(x_np.copy()).requires_grad_(True)
    loss_fn(x_e).backward()
    assert_close(x.grad, x_e.grad, 1e-9)


def test_compiled_explicit_sig_backprop_has_no_graph_break(rng, fresh_dynamo):
    x = torch.from_numpy(make_path(rng, (2, 5, 2)))
    s = sigrs.sig(x, 3, lead_lag=True)
    w = torch.from_numpy(rng.standard_normal(tuple(s.shape)))

    def grad_fn(path, sig, derivs):
        return sigrs.sig_backprop(path, sig, derivs, 3, lead_lag=True)

    compiled = torch.compile(grad_fn, fullgraph=True, backend="aot_eager")
    assert_close(compiled(x, s, w), grad_fn(x, s, w), F64_RTOL)


def test_compiled_training_step_matches_eager(rng, fresh_dynamo):
    x_np = make_path(rng, (4, 6, 2))
    w0 = rng.standard_normal((2, 2))

    def step(path, weight):
        s = sigrs.sig(path @ weight, 3, time_aug=True)
        return s.pow(2).mean()

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    w = torch.from_numpy(w0.copy()).requires_grad_(True)
    compiled(torch.from_numpy(x_np), w).backward()
    w_e = torch.from_numpy(w0.copy()).requires_grad_(True)
    step(torch.from_numpy(x_np), w_e).backward()
    assert_close(w.grad, w_e.grad, 1e-9)


def test_compiled_with_default_inductor_backend(rng, fresh_dynamo):
    x_np = make_path(rng, (3, 5, 2))

    def loss_fn(path):
        return sigrs.sig(path * 1.5, 3, lead_lag=True).pow(2).sum()

    start = time.monotonic()
    compiled = torch.compile(loss_fn, fullgraph=True)
    x = torch.from_numpy(x_np.copy()).requires_grad_(True)
    loss = compiled(x)
    loss.backward()
    elapsed = time.monotonic() - start
    x_e = torch.from_numpy(x_np.copy()).requires_grad_(True)
    loss_e = loss_fn(x_e)
    loss_e.backward()
    assert_close(loss.detach(), loss_e.detach(), F64_RTOL)
    assert_close(x.grad, x_e.grad, 1e-9)
    assert elapsed < 60, f"inductor compile took {elapsed:.1f}s"
