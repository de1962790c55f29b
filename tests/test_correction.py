"""Signatures with a per-segment correction (``correction=`` of sig,
sig_backprop and log_sig): against pysiglib, against a NumPy reference
written from the definition (each segment's ``exp(dx + c)`` as a series,
joined by Chen products), identities, gradients and every error case."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import sigrs
from _util import assert_close, peer

pysiglib = peer("pysiglib")

LAYOUTS = ["shared", "segment", "path"]


def width(d: int, m: int) -> int:
    return sum(d**k for k in range(2, m + 1))


def make_correction(rng, layout, batch_shape, length, d, m, scale=0.3):
    c = width(d, m)
    shape = {"shared": (c,), "segment": (length - 1, c), "path": (*batch_shape, length - 1, c)}[layout]
    return scale * rng.standard_normal(shape)


def as_backend(x, backend, dtype):
    x = np.asarray(x, dtype=dtype)
    return torch.from_numpy(x.copy()) if backend == "torch" else x


# --- a reference from the definition -------------------------------------------------


def _mul(a, b, degree):
    """Truncated tensor product of elements given as lists of levels 0..degree."""
    return [sum(np.multiply.outer(a[i], b[k - i]) for i in range(k + 1)) for k in range(degree + 1)]


def _exp(z, degree):
    """exp(z) = sum z^j / j! for z with level 0 zero."""
    out = [np.ones(())] + [np.zeros_like(z[k]) for k in range(1, degree + 1)]
    power = [np.ones(())] + [np.zeros_like(z[k]) for k in range(1, degree + 1)]
    for j in range(1, degree + 1):
        power = _mul(power, z, degree)
        out = [o + p / math.factorial(j) for o, p in zip(out, power)]
    return out


def reference_sig(path, degree, rows, *, time_aug=False, end_time=1.0, scalar_term=False):
    """One path ``(L, d)`` with correction rows ``(L - 1, C)``: the product of
    ``exp(dx_i + c_i)``, the time channel (last) carrying no correction."""
    length, d = path.shape
    big = d + int(time_aug)
    state = [np.ones(())] + [np.zeros((big,) * k) for k in range(1, degree + 1)]
    for i in range(length - 1):
        z = [np.zeros(())] + [np.zeros((big,) * k) for k in range(1, degree + 1)]
        z[1][:d] = path[i + 1] - path[i]
        if time_aug:
            z[1][d] = end_time / (length - 1)
        offset = 0
        for k in range(2, degree + 1):
            n = d**k
            if offset + n > rows.shape[1]:
                break
            z[k][(slice(0, d),) * k] = rows[i, offset:offset + n].reshape((d,) * k)
            offset += n
        state = _mul(state, _exp(z, degree), degree)
    flat = np.concatenate([level.ravel() for level in state[1:]])
    return np.concatenate([[1.0], flat]) if scalar_term else flat


def rows_of(correction, layout, batch_index, length):
    c = np.asarray(correction)
    if layout == "shared":
        return np.broadcast_to(c, (length - 1, c.shape[-1]))
    if layout == "segment":
        return c
    return c[batch_index]


# --- forward --------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("time_aug", [False, True], ids=["plain", "time"])
def test_sig_matches_pysiglib(layout, m, time_aug):
    rng = np.random.default_rng(10 * m + time_aug)
    batch_shape = (2, 3) if layout == "path" else (4,)
    length, d, degree = 6, 2, 4
    path = rng.standard_normal((*batch_shape, length, d)) * 0.5
    corr = make_correction(rng, layout, batch_shape, length, d, m)
    expected = pysiglib.sig(path, degree, time_aug=time_aug, end_time=1.5, correction=corr)
    for dtype, rtol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        for backend in ("numpy", "torch"):
            for scalar_term in (False, True):
                got = sigrs.sig(as_backend(path, backend, dtype), degree, time_aug=time_aug, end_time=1.5,
                                scalar_term=scalar_term, correction=as_backend(corr, backend, dtype))
                want = np.concatenate([np.ones((*batch_shape, 1)), expected], -1) if scalar_term else expected
                assert got.dtype == (torch.from_numpy(np.zeros(0, dtype)).dtype if backend == "torch" else dtype)
                assert_close(got, want, rtol, f"{backend} {np.dtype(dtype).name} scalar_term={scalar_term}")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("time_aug", [False, True], ids=["plain", "time"])
def test_sig_matches_the_product_of_exponentials(layout, time_aug):
    rng = np.random.default_rng(3)
    batch_shape, length, d, degree = (3,), 5, 3, 3
    path = rng.standard_normal((*batch_shape, length, d)) * 0.5
    corr = make_correction(rng, layout, batch_shape, length, d, 3)
    got = sigrs.sig(path, degree, time_aug=time_aug, end_time=2.0, correction=corr, scalar_term=True)
    for b in range(batch_shape[0]):
        want = reference_sig(path[b], degree, rows_of(corr, layout, b, length), time_aug=time_aug, end_time=2.0, scalar_term=True)
        assert_close(got[b], want, 1e-12, f"path {b}")


def test_single_path_takes_every_layout():
    rng = np.random.default_rng(4)
    path = rng.standard_normal((7, 2))
    corr = make_correction(rng, "segment", (), 7, 2, 2)
    want = pysiglib.sig(path, 3, correction=corr)
    assert_close(sigrs.sig(path, 3, correction=corr), want, 1e-10)
    shared = corr[0].copy()
    assert_close(sigrs.sig(path, 3, correction=shared), pysiglib.sig(path, 3, correction=shared), 1e-10)


def test_ito_example_of_pysiglib_docstring():
    d, degree, end = 2, 3, 1.0
    steps = 100
    dt = end / steps
    rng = np.random.default_rng(42)
    path = np.zeros((steps + 1, d))
    path[1:] = np.cumsum(rng.normal(0, np.sqrt(dt), (steps, d)), axis=0)
    correction = np.broadcast_to((-0.5 * np.eye(d) * dt).reshape(1, -1), (steps, d * d))
    got = sigrs.sig(path, degree, correction=correction, end_time=end)
    assert_close(got, pysiglib.sig(path, degree, correction=correction, end_time=end), 1e-10)
    got = sigrs.log_sig(path, degree, correction=correction, end_time=end, method=0)
    assert_close(got, pysiglib.log_sig(path, degree, correction=correction, end_time=end, method=0), 1e-10)


# --- identities -----------------------------------------------------------------------


@pytest.mark.parametrize("time_aug", [False, True], ids=["plain", "time"])
def test_zero_none_and_empty_corrections_give_the_plain_signature(time_aug):
    rng = np.random.default_rng(5)
    path = rng.standard_normal((3, 6, 2))
    plain = sigrs.sig(path, 4, time_aug=time_aug)
    for corr in (None, np.zeros(4), np.zeros((5, 4 + 8)), np.zeros((3, 5, 4)), np.zeros((0,)), np.zeros((0, 4))):
        assert_close(sigrs.sig(path, 4, time_aug=time_aug, correction=corr), plain, 1e-12, f"correction {getattr(corr, 'shape', None)}")
    t = torch.from_numpy(path)
    assert_close(sigrs.sig(t, 4, time_aug=time_aug, correction=torch.zeros(0, dtype=torch.float64)), plain, 1e-12)


def test_level_two_cancelled_per_step_leaves_the_left_point_sum():
    # c_i = -dx_i (x) dx_i / 2 kills level 2 of each step's exponential, so
    # level 2 of the product is sum_{i<j} dx_i (x) dx_j (the Ito-type sum).
    rng = np.random.default_rng(6)
    path = rng.standard_normal((9, 3))
    dx = np.diff(path, axis=0)
    corr = -0.5 * np.einsum("si,sj->sij", dx, dx).reshape(8, 9)
    got = sigrs.sig(path, 2, correction=corr)
    left_point = sum(np.outer(dx[i], dx[j]) for i in range(8) for j in range(i + 1, 8))
    assert_close(got[3:], left_point.ravel(), 1e-12)
    assert_close(got[:3], path[-1] - path[0], 1e-12)


def test_one_dimensional_corrections_commute_into_one_segment():
    # in one dimension every z commutes: the product of exp(dx_i e + c_i ee)
    # is exp(X e + (sum c_i) ee) for the total increment X
    rng = np.random.default_rng(7)
    path = rng.standard_normal((12, 1))
    corr = rng.standard_normal((11, 1 + 1))
    got = sigrs.sig(path, 5, correction=corr)
    whole = np.array([[0.0], [path[-1, 0] - path[0, 0]]])
    assert_close(got, sigrs.sig(whole, 5, correction=corr.sum(0)), 1e-11)


def test_chen_identity_holds_with_corrections():
    rng = np.random.default_rng(8)
    path = rng.standard_normal((2, 11, 2))
    corr = rng.standard_normal((2, 10, 4 + 8)) * 0.3
    whole = sigrs.sig(path, 4, correction=corr)
    left = sigrs.sig(path[:, :6], 4, correction=corr[:, :5])
    right = sigrs.sig(path[:, 5:], 4, correction=corr[:, 5:])
    assert_close(whole, sigrs.sig_combine(left, right, 2, 4), 1e-11)


def test_horner_is_accepted_and_changes_nothing():
    path = np.random.default_rng(9).standard_normal((4, 10, 3))
    for horner in (True, False):
        assert_close(sigrs.sig(path, 3, horner=horner), sigrs.sig(path, 3), 0.0)
    with pytest.raises(TypeError, match="horner"):
        sigrs.sig(path, 3, horner=1)


# --- gradients ------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("time_aug", [False, True], ids=["plain", "time"])
def test_sig_backprop_matches_pysiglib(layout, m, time_aug):
    rng = np.random.default_rng(20 + 2 * m + time_aug)
    batch_shape = (2, 2) if layout == "path" else (3,)
    length, d, degree = 5, 2, 4
    path = rng.standard_normal((*batch_shape, length, d)) * 0.5
    corr = make_correction(rng, layout, batch_shape, length, d, m)
    s = pysiglib.sig(path, degree, time_aug=time_aug, correction=corr)
    derivs = rng.standard_normal(s.shape)
    expected = pysiglib.sig_backprop(path, s, derivs, degree, time_aug=time_aug, correction=corr)
    for dtype, rtol in ((np.float64, 1e-9), (np.float32, 1e-4)):
        for backend in ("numpy", "torch"):
            for scalar_term in (False, True):
                ours = sigrs.sig(as_backend(path, backend, dtype), degree, time_aug=time_aug, scalar_term=scalar_term,
                                 correction=as_backend(corr, backend, dtype))
                g = np.concatenate([np.zeros((*batch_shape, 1)), derivs], -1) if scalar_term else derivs
                got = sigrs.sig_backprop(as_backend(path, backend, dtype), ours, as_backend(g, backend, dtype), degree,
                                         time_aug=time_aug, correction=as_backend(corr, backend, dtype))
                assert tuple(got.shape) == path.shape
                assert_close(got, expected, rtol, f"{backend} {np.dtype(dtype).name} scalar_term={scalar_term}")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("time_aug", [False, True], ids=["plain", "time"])
def test_gradcheck_with_respect_to_path_and_correction(layout, time_aug):
    rng = np.random.default_rng(30 + time_aug)
    batch_shape = (2, 2) if layout == "path" else (2,)
    path = torch.tensor(rng.standard_normal((*batch_shape, 4, 2)) * 0.5, requires_grad=True)
    corr = torch.tensor(make_correction(rng, layout, batch_shape, 4, 2, 3), requires_grad=True)

    def f(p, c):
        return sigrs.sig(p, 3, time_aug=time_aug, correction=c)

    assert torch.autograd.gradcheck(f, (path, corr), eps=1e-6, atol=1e-7)


def test_autograd_path_gradient_matches_sig_backprop_and_pysiglib():
    rng = np.random.default_rng(40)
    path_np = rng.standard_normal((3, 7, 3)) * 0.5
    corr_np = make_correction(rng, "segment", (3,), 7, 3, 2)
    path = torch.tensor(path_np, requires_grad=True)
    corr = torch.tensor(corr_np, requires_grad=True)
    s = sigrs.sig(path, 3, time_aug=True, correction=corr)
    weights = torch.from_numpy(rng.standard_normal(tuple(s.shape)))
    (s * weights).sum().backward()
    explicit = sigrs.sig_backprop(path.detach(), s.detach(), weights, 3, time_aug=True, correction=corr.detach())
    assert_close(path.grad, explicit, 1e-12)
    ps = pysiglib.sig(path_np, 3, time_aug=True, correction=corr_np)
    assert_close(path.grad, pysiglib.sig_backprop(path_np, ps, weights.numpy(), 3, time_aug=True, correction=corr_np), 1e-9)
    assert corr.grad is not None and corr.grad.shape == corr.shape


def test_correction_gradient_of_a_shared_row_sums_over_segments_and_paths():
    rng = np.random.default_rng(41)
    path = torch.tensor(rng.standard_normal((3, 5, 2)))
    shared = torch.tensor(rng.standard_normal(4) * 0.3, requires_grad=True)
    full = shared.detach().expand(3, 4, 4).clone().requires_grad_(True)
    weights = torch.from_numpy(rng.standard_normal((3, 2 + 4 + 8)))
    (sigrs.sig(path, 3, correction=shared) * weights).sum().backward()
    (sigrs.sig(path, 3, correction=full) * weights).sum().backward()
    assert_close(shared.grad, full.grad.sum((0, 1)), 1e-12)


def test_float32_gradients_agree_with_float64():
    rng = np.random.default_rng(42)
    path64 = rng.standard_normal((2, 6, 2)) * 0.5
    corr64 = make_correction(rng, "path", (2,), 6, 2, 2)
    grads = []
    for dtype in (torch.float64, torch.float32):
        p = torch.tensor(path64, dtype=dtype, requires_grad=True)
        c = torch.tensor(corr64, dtype=dtype, requires_grad=True)
        sigrs.sig(p, 3, correction=c).sum().backward()
        grads.append((p.grad.double(), c.grad.double()))
    assert_close(grads[1][0], grads[0][0], 1e-4)
    assert_close(grads[1][1], grads[0][1], 1e-4)


# --- log_sig --------------------------------------------------------------------------


@pytest.mark.parametrize("method", [0, 1, 2])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_log_sig_matches_pysiglib(method, layout):
    rng = np.random.default_rng(50 + method)
    batch_shape = (2, 2) if layout == "path" else (3,)
    path = rng.standard_normal((*batch_shape, 6, 2)) * 0.5
    corr = make_correction(rng, layout, batch_shape, 6, 2, 2)
    pysiglib.prepare_log_sig(2, 3, method=method, time_aug=True)
    expected = pysiglib.log_sig(path, 3, time_aug=True, method=method, correction=corr)
    for dtype, rtol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        for backend in ("numpy", "torch"):
            got = sigrs.log_sig(as_backend(path, backend, dtype), 3, time_aug=True, method=method,
                                correction=as_backend(corr, backend, dtype))
            assert_close(got, expected, rtol, f"{backend} {np.dtype(dtype).name}")


def test_log_sig_gradcheck_with_respect_to_the_correction():
    rng = np.random.default_rng(60)
    path = torch.tensor(rng.standard_normal((2, 4, 2)) * 0.5, requires_grad=True)
    corr = torch.tensor(make_correction(rng, "segment", (2,), 4, 2, 2), requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, c: sigrs.log_sig(p, 3, method=2, correction=c), (path, corr), eps=1e-6, atol=1e-7)


# --- errors ---------------------------------------------------------------------------


@pytest.fixture
def path():
    return np.random.default_rng(70).standard_normal((2, 5, 2))


def test_lead_lag_is_refused(path):
    with pytest.raises(ValueError, match="lead_lag"):
        sigrs.sig(path, 3, lead_lag=True, correction=np.zeros(4))
    with pytest.raises(ValueError, match="lead_lag"):
        sigrs.log_sig(path, 3, lead_lag=True, correction=np.zeros((4, 4)))


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((4, 3)), np.zeros((2, 4, 2 + 4 + 8 + 16 + 32))])
def test_row_lengths_that_are_not_a_prefix_of_levels_are_refused(path, bad):
    with pytest.raises(ValueError, match="prefix of tensor levels"):
        sigrs.sig(path, 3, correction=bad)


def test_corrections_above_the_degree_are_refused(path):
    with pytest.raises(ValueError, match="got 28"):
        sigrs.sig(path, 2, correction=np.zeros(4 + 8 + 16))


@pytest.mark.parametrize("bad_shape", [(3, 4), (3, 4, 4), (2, 5, 4), (1, 2, 4, 4), ()])
def test_bad_correction_shapes_are_refused(path, bad_shape):
    with pytest.raises(ValueError, match="correction must have shape"):
        sigrs.sig(path, 3, correction=np.zeros(bad_shape) + 0.1)


def test_degree_below_two_needs_an_empty_correction(path):
    for degree in (0, 1):
        with pytest.raises(ValueError, match="degree < 2"):
            sigrs.sig(path, degree, correction=np.zeros(4))
        assert_close(sigrs.sig(path, degree, correction=np.zeros(0)), sigrs.sig(path, degree), 0.0)


def test_dtype_and_kind_mismatches_are_refused(path):
    with pytest.raises(ValueError, match="dtype"):
        sigrs.sig(path, 3, correction=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="dtype"):
        sigrs.sig(torch.from_numpy(path), 3, correction=torch.zeros(4, dtype=torch.float32))
    with pytest.raises(ValueError, match="torch tensor like path"):
        sigrs.sig(torch.from_numpy(path), 3, correction=np.zeros(4))
    with pytest.raises(ValueError, match="NumPy array like path"):
        sigrs.sig(path, 3, correction=torch.zeros(4, dtype=torch.float64))
    with pytest.raises(TypeError, match="float32 or float64"):
        sigrs.sig(path, 3, correction=np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="torch tensor like path"):
        sigrs.sig_backprop(torch.from_numpy(path), torch.zeros(2, 6, dtype=torch.float64), torch.zeros(2, 6, dtype=torch.float64), 2,
                           correction=np.zeros(4))


def test_a_list_correction_beside_an_array_is_converted(path):
    rows = [0.1, -0.2, 0.3, 0.0]
    assert_close(sigrs.sig(path, 3, correction=rows), sigrs.sig(path, 3, correction=np.array(rows)), 0.0)


@pytest.mark.parametrize("option", [dict(stream=True), dict(inverse=True), dict(basepoint=True), dict(initial=np.zeros((2, 6)))])
def test_options_without_correction_support_are_refused(path, option):
    with pytest.raises(ValueError, match="cannot be combined"):
        sigrs.sig(path, 2, correction=np.zeros(4) + 0.1, **option)
