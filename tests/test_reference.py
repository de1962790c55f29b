"""Checks of the reference oracle itself (no sigrs involved).

The oracle is validated against iisignature where available and, always,
against closed forms and algebraic identities of the signature.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from _util import F64_RTOL, assert_close, make_path, peer


@pytest.mark.parametrize("dimension", [1, 2, 3, 4])
@pytest.mark.parametrize("degree", [1, 2, 3, 4])
@pytest.mark.parametrize("length", [2, 3, 7])
def test_reference_sig_matches_iisignature(rng, dimension, degree, length):
    iisignature = peer("iisignature")
    x = make_path(rng, (length, dimension))
    assert_close(ref.sig(x, degree), iisignature.sig(x, degree), F64_RTOL)


@pytest.mark.parametrize("batch_shape", [(3,), (2, 3)])
def test_reference_batched_sig_matches_iisignature(rng, batch_shape):
    iisignature = peer("iisignature")
    x = make_path(rng, batch_shape + (6, 3))
    expected = np.stack([iisignature.sig(p, 3) for p in x.reshape(-1, 6, 3)])
    assert_close(ref.sig(x, 3), expected.reshape(batch_shape + (-1,)), F64_RTOL)


@pytest.mark.parametrize("time_aug,lead_lag", [(True, False), (False, True), (True, True)])
def test_reference_transformed_sig_matches_iisignature_on_transformed_path(rng, time_aug, lead_lag):
    iisignature = peer("iisignature")
    x = make_path(rng, (5, 2))
    y = ref.transform_path(x, time_aug=time_aug, lead_lag=lead_lag, end_time=1.7)
    got = ref.sig(x, 3, time_aug=time_aug, lead_lag=lead_lag, end_time=1.7)
    assert_close(got, iisignature.sig(y, 3), F64_RTOL)


def test_reference_sig_length_matches_iisignature():
    iisignature = peer("iisignature")
    for d in range(1, 5):
        for n in range(1, 6):
            assert ref.sig_length(d, n) == iisignature.siglength(d, n)


@pytest.mark.parametrize("degree", [0, 1, 3, 6])
def test_reference_dimension_one_signature_is_power_series_of_increment(rng, degree):
    x = make_path(rng, (9, 1))
    inc = x[-1, 0] - x[0, 0]
    expected = np.array([inc ** k / math.factorial(k) for k in range(0, degree + 1)])
    assert_close(ref.sig(x, degree, scalar_term=True), expected, F64_RTOL)


@pytest.mark.parametrize("dimension", [1, 2, 3])
def test_reference_straight_line_signature_is_tensor_exponential(rng, dimension):
    start = rng.standard_normal(dimension)
    inc = rng.standard_normal(dimension)
    # a straight segment subdivided into 5 collinear pieces
    ts = np.linspace(0.0, 1.0, 6)[:, None]
    x = start + ts * inc
    assert_close(ref.sig(x, 4), ref.straight_line_signature(inc, 4), F64_RTOL)


def test_reference_level_two_has_levy_area_and_symmetric_part(rng):
    x = make_path(rng, (8, 2))
    s = ref.sig(x, 2)
    s2 = s[2:].reshape(2, 2)
    inc = x[-1] - x[0]
    assert_close(0.5 * (s2 + s2.T), 0.5 * np.outer(inc, inc), F64_RTOL)
    # Levy area by the shoelace-style sum over segments
    area = 0.0
    for i in range(1, len(x)):
        a = x[i - 1] - x[0]
        b = x[i] - x[0]
        area += 0.5 * (a[0] * b[1] - a[1] * b[0])
    assert_close(0.5 * (s2[0, 1] - s2[1, 0]), area, F64_RTOL)


def test_reference_known_values_for_axis_path():
    # right by 1 then up by 2: S(0,1) = 1*2, S(1,0) = 0
    x = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    s = ref.sig(x, 2, scalar_term=True)
    np.testing.assert_allclose(s, [1.0, 1.0, 2.0, 0.5, 2.0, 0.0, 2.0])


@pytest.mark.parametrize("dimension", [1, 2, 3])
def test_reference_signature_of_reversed_path_is_inverse(rng, dimension):
    x = make_path(rng, (6, dimension))
    a = ref.unflatten(ref.sig(x, 4, scalar_term=True), dimension, 4, True)
    b = ref.unflatten(ref.sig(x[::-1], 4, scalar_term=True), dimension, 4, True)
    prod = ref.flatten_levels(ref.tensor_mul(a, b, 4), True)
    expected = np.zeros_like(prod)
    expected[0] = 1.0
    np.testing.assert_allclose(prod, expected, atol=1e-12)


def test_reference_shuffle_identity_for_letters(rng):
    d = 3
    x = make_path(rng, (7, d))
    s = ref.sig(x, 2, scalar_term=True)
    for i in range(d):
        for j in range(d):
            lhs = s[ref.word_index((i,), d, True)] * s[ref.word_index((j,), d, True)]
            rhs = s[ref.word_index((i, j), d, True)] + s[ref.word_index((j, i), d, True)]
            assert abs(lhs - rhs) < 1e-12


def test_reference_chen_combine_of_halves_equals_whole(rng):
    x = make_path(rng, (9, 2))
    whole = ref.sig(x, 4)
    combined = ref.chen_combine(ref.sig(x[:5], 4), ref.sig(x[4:], 4), 2, 4)
    assert_close(combined, whole, F64_RTOL)


def test_reference_lead_lag_layout_written_out():
    x = np.array([[1.0], [2.0], [4.0]])
    expected = np.array([[1, 1], [1, 2], [2, 2], [2, 4], [4, 4]], dtype=float)
    np.testing.assert_array_equal(ref.transform_path(x, lead_lag=True), expected)
    expected_t = np.concatenate([expected, np.linspace(0, 2.0, 5)[:, None]], axis=1)
    np.testing.assert_allclose(
        ref.transform_path(x, lead_lag=True, time_aug=True, end_time=2.0), expected_t
    )


def test_reference_word_index_matches_enumeration_order():
    for d in (1, 2, 3):
        for scalar_term in (False, True):
            ws = ref.all_words(d, 3)
            if not scalar_term:
                ws = ws[1:]
            assert [ref.word_index(w, d, scalar_term) for w in ws] == list(range(len(ws)))


def test_reference_transform_adjoint_is_transpose(rng):
    x = make_path(rng, (2, 4, 3))
    for time_aug in (False, True):
        for lead_lag in (False, True):
            y = ref.transform_path(x, time_aug=time_aug, lead_lag=lead_lag, end_time=0.5)
            g = rng.standard_normal(y.shape)
            lhs = np.sum(y[..., :x.shape[-1] * (2 if lead_lag else 1)]
                         * g[..., :x.shape[-1] * (2 if lead_lag else 1)])
            rhs = np.sum(x * ref.transform_path_adjoint(g, 4, 3, time_aug=time_aug,
                                                         lead_lag=lead_lag))
            assert abs(lhs - rhs) < 1e-10


def test_reference_finite_difference_gradient_matches_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    x = make_path(rng, (4, 2))
    w = rng.standard_normal(ref.sig_length(2, 3, lead_lag=True, time_aug=True))
    kw = dict(time_aug=True, lead_lag=True, end_time=2.0)
    xt = torch.tensor(x, requires_grad=True)
    (ref.sig(xt, 3, **kw) * torch.tensor(w)).sum().backward()
    fd = ref.sig_backprop_fd(x, w, 3, **kw)
    np.testing.assert_allclose(xt.grad.numpy(), fd, rtol=1e-6, atol=1e-7)


def test_reference_torch_and_numpy_paths_agree(rng):
    torch = pytest.importorskip("torch")
    x = make_path(rng, (2, 5, 2))
    kw = dict(time_aug=True, lead_lag=True, end_time=0.3, scalar_term=True)
    assert_close(ref.sig(torch.from_numpy(x), 3, **kw), ref.sig(x, 3, **kw), F64_RTOL)
