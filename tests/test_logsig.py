"""Log-signatures: sigrs.log_sig, sig_to_log_sig, sig_to_log_sig_backprop,
log_sig_length, lyndon_words, prepare_log_sig.

Checked against the reference (``reference.py``: the tensor-log series,
Lyndon words by brute force, standard bracketings solved by least squares),
against the peers (iisignature "S"/"X", pysiglib), against algebraic
identities (exp of the log, straight lines, scaling), torch gradcheck, the
explicit backprop against autograd of the reference, and bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from _util import (
    F32_RTOL,
    F64_RTOL,
    assert_close,
    make_path,
    peer,
    to_numpy,
    torch,
)

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)

pytestmark = pytest.mark.filterwarnings("ignore:Detected a non-contiguous or view-based array")

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

METHODS = [0, 1, 2]
METHOD_IDS = ["expanded", "words", "lyndon"]

BATCH_SHAPES = [(), (3,), (2, 2)]
BATCH_IDS = ["nobatch", "b3", "b2x2"]

VARIANTS = [("numpy", np.float64), ("numpy", np.float32)]
if torch is not None:
    VARIANTS += [("torch", np.float64), ("torch", np.float32)]
VARIANT_IDS = [f"{b}-{np.dtype(t).name}" for b, t in VARIANTS]

TRANSFORMS = [
    pytest.param(dict(), id="plain"),
    pytest.param(dict(time_aug=True, end_time=2.5), id="time"),
    pytest.param(dict(lead_lag=True), id="leadlag"),
    pytest.param(dict(time_aug=True, lead_lag=True, end_time=0.5), id="leadlag+time"),
]

DIM_DEGREES = [(1, 1), (1, 4), (2, 1), (2, 6), (3, 4), (4, 3)]
DIM_DEGREE_IDS = [f"d{d}N{n}" for d, n in DIM_DEGREES]


def conv(x, backend, dtype):
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64).astype(dtype))
    return torch.from_numpy(x) if backend == "torch" else x


def f64(x):
    return np.asarray(to_numpy(x), dtype=np.float64)


def check_kind(out, backend, dtype):
    if backend == "torch":
        assert isinstance(out, torch.Tensor), f"expected a torch tensor, got {type(out).__name__}"
        assert out.dtype == {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    else:
        assert isinstance(out, np.ndarray), f"expected a NumPy array, got {type(out).__name__}"
        assert out.dtype == np.dtype(dtype)


def flags(opts):
    return dict(time_aug=opts.get("time_aug", False), lead_lag=opts.get("lead_lag", False))


def aug(dim, opts):
    return ref.aug_dimension(dim, opts.get("time_aug", False), opts.get("lead_lag", False))


def rtol(dtype):
    return F64_RTOL if np.dtype(dtype) == np.float64 else F32_RTOL


def log_len(dim, degree, method, scalar_term=False):
    if method == 0:
        return ref.sig_length(dim, degree, scalar_term=scalar_term)
    return len(ref.lyndon_words(dim, degree))


def random_sig(rng, batch_shape, dim, degree, scalar_term, scale=0.4):
    """A random flattened tensor with level 0 = 1 (no signature: its log is not Lie)."""
    t = scale * rng.standard_normal(tuple(batch_shape) + (ref.sig_length(dim, degree),))
    if scalar_term:
        t = np.concatenate([np.ones(tuple(batch_shape) + (1,)), t], axis=-1)
    return t


# ---------------------------------------------------------------------------
# the reference itself
# ---------------------------------------------------------------------------

def test_reference_lyndon_words_and_brackets_small_cases():
    assert ref.lyndon_words(2, 3) == [(0,), (1,), (0, 1), (0, 0, 1), (0, 1, 1)]
    assert ref.lyndon_words(3, 2) == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]
    assert ref.lyndon_words(1, 5) == [(0,)]
    assert len([w for w in ref.lyndon_words(2, 4) if len(w) == 4]) == 3  # 0001 0011 0111
    assert ref.standard_bracketing((0, 0, 1)) == (0, (0, 1))
    assert ref.standard_bracketing((0, 1, 1)) == ((0, 1), 1)
    assert ref.standard_bracketing((0, 0, 1, 1)) == (0, ((0, 1), 1))
    assert ref.standard_bracketing((0, 1, 0, 1, 1)) == ((0, 1), ((0, 1), 1))
    # [e0, e1] = e0e1 - e1e0
    np.testing.assert_array_equal(ref.bracket_expansion((0, 1), 2), [[0, 1], [-1, 0]])
    for d, n in [(1, 6), (2, 7), (3, 4), (4, 3), (5, 2)]:
        assert len(ref.lyndon_words(d, n)) == ref.witt_count(d, n)


def test_reference_log_exp_round_trip_and_log_of_a_segment(rng):
    d, n = 3, 4
    s = random_sig(rng, (), d, n, True)
    levels, _ = ref.levels_of(s, d, n)
    back = ref.tensor_exp_series(ref.tensor_log_series(levels, n), n)
    assert_close(ref.flatten_levels(back, True), s, 1e-13)
    v = rng.standard_normal(d)
    log = ref.tensor_log_series(ref.tensor_exp(v, n), n)
    np.testing.assert_allclose(log[1], v, atol=1e-14)
    for k in range(2, n + 1):
        np.testing.assert_allclose(log[k], 0.0, atol=1e-14)


def test_reference_lstsq_and_triangular_lyndon_coordinates_agree_on_signatures(rng):
    d, n = 3, 4
    x = make_path(rng, (6, d))
    levels = ref.signature_levels(x, n)
    log = ref.tensor_log_series(levels, n)
    a = ref.lyndon_coordinates(log, d, n)
    b = ref.lyndon_coordinates_triangular(log, d, n)
    assert_close(b, a, 1e-12)
    # the coordinates rebuild every level of the log from the brackets
    pos = 0
    for k in range(1, n + 1):
        mat, words = ref.lyndon_basis_matrix(d, k)
        np.testing.assert_allclose(mat @ a[pos:pos + len(words)], log[k].reshape(-1), atol=1e-12)
        pos += len(words)


# ---------------------------------------------------------------------------
# values against the reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend,dtype", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("dim,degree", DIM_DEGREES, ids=DIM_DEGREE_IDS)
def test_log_sig_matches_reference(rng, backend, dtype, method, dim, degree):
    x = make_path(rng, (2, 5, dim))
    out = sigrs.log_sig(conv(x, backend, dtype), degree, method=method)
    check_kind(out, backend, dtype)
    xr = x.astype(dtype).astype(np.float64)
    expected = ref.log_sig(xr, degree, method=method)
    assert tuple(out.shape) == (2, log_len(dim, degree, method))
    assert_close(out, expected, rtol(dtype), f"method {method}")


@pytest.mark.parametrize("backend,dtype", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
def test_log_sig_matches_reference_for_transforms_and_batch_shapes(rng, backend, dtype, opts,
                                                                  batch_shape):
    d, n = 2, 3
    x = make_path(rng, batch_shape + (4, d))
    xr = x.astype(dtype).astype(np.float64)
    cases = [(0, False), (0, True), (1, False), (2, False)]
    for method, st in cases:
        out = sigrs.log_sig(conv(x, backend, dtype), n, method=method, scalar_term=st, **opts)
        check_kind(out, backend, dtype)
        expected = ref.log_sig(xr, n, method=method, scalar_term=st, **opts)
        assert tuple(out.shape) == batch_shape + (log_len(aug(d, opts), n, method, st),)
        assert_close(out, expected, rtol(dtype), f"method {method} scalar_term {st}")


@pytest.mark.parametrize("backend,dtype", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_sig_to_log_sig_matches_reference(rng, backend, dtype, opts, scalar_term):
    d, n = 2, 3
    x = make_path(rng, (2, 3, 5, d))
    s = ref.sig(x, n, scalar_term=scalar_term, **opts)
    sr = s.astype(dtype).astype(np.float64)
    D = aug(d, opts)
    for method in METHODS:
        out = sigrs.sig_to_log_sig(conv(s, backend, dtype), d, n, method=method, **flags(opts))
        check_kind(out, backend, dtype)
        # a float32-rounded signature is only nearly group-like: its log is not
        # exactly Lie, so method 2 is compared with the triangular extension there
        solver = "lstsq" if dtype == np.float64 else "triangular"
        expected = ref.sig_to_log_sig(sr, D, n, method, solver=solver)
        assert tuple(out.shape) == (2, 3, log_len(D, n, method, scalar_term and method == 0))
        assert_close(out, expected, rtol(dtype), f"method {method}")


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("dim,degree", [(2, 4), (3, 3)], ids=["d2N4", "d3N3"])
def test_sig_to_log_sig_of_a_non_signature_matches_reference(rng, method, dim, degree):
    """The log of any tensor with level 0 = 1 (not group-like): methods 0 and 1
    are the series and its Lyndon-word entries; method 2 solves the triangular
    system on the Lyndon-word entries (pysiglib's extension)."""
    s = random_sig(rng, (4,), dim, degree, False)
    out = sigrs.sig_to_log_sig(s, dim, degree, method=method)
    assert_close(out, ref.sig_to_log_sig(s, dim, degree, method, solver="triangular"), F64_RTOL)


@pytest.mark.parametrize("dim,degree", [(1, 1), (1, 7), (2, 1), (2, 6), (3, 4), (4, 3), (5, 2), (6, 3)])
def test_lyndon_words_and_log_sig_length_match_reference(dim, degree):
    words = sigrs.lyndon_words(dim, degree)
    assert words == ref.lyndon_words(dim, degree)
    assert all(isinstance(w, tuple) for w in words)
    assert sigrs.log_sig_length(dim, degree) == ref.witt_count(dim, degree)
    assert sigrs.log_sig_length(dim, degree, method=1) == len(words)
    assert sigrs.log_sig_length(dim, degree, method="lyndon") == len(words)
    assert sigrs.log_sig_length(dim, degree, method=0) == ref.sig_length(dim, degree)
    for tl in [dict(time_aug=True), dict(lead_lag=True), dict(time_aug=True, lead_lag=True)]:
        D = ref.aug_dimension(dim, **tl)
        assert sigrs.log_sig_length(dim, degree, **tl) == ref.witt_count(D, degree)
        assert sigrs.log_sig_length(dim, degree, method=2, **tl) == ref.witt_count(D, degree)
        assert sigrs.log_sig_length(dim, degree, method=0, **tl) == ref.sig_length(D, degree)


def test_lyndon_words_and_lengths_at_degree_zero():
    assert sigrs.lyndon_words(3, 0) == []
    for m in METHODS:
        assert sigrs.log_sig_length(3, 0, method=m) == 0


# ---------------------------------------------------------------------------
# peers
# ---------------------------------------------------------------------------

# iisignature.prepare needs a (transformed) dimension of at least 2, so the
# plain one-dimensional case is left out.
_IIS_CASES = [
    pytest.param(t.values[0], dim, degree, id=f"{t.id}-d{dim}N{degree}")
    for t in TRANSFORMS
    for dim, degree in [(1, 3), (2, 5), (3, 4), (4, 3)]
    if not (dim == 1 and t.id == "plain")
]


@pytest.mark.parametrize("opts,dim,degree", _IIS_CASES)
def test_log_sig_matches_iisignature_S_and_X(rng, opts, dim, degree):
    iisignature = peer("iisignature")
    x = make_path(rng, (3, 6, dim))
    xt = np.ascontiguousarray(ref.transform_path(x, **opts))
    s = iisignature.prepare(xt.shape[-1], degree, "SX")
    expected_s = iisignature.logsig(xt, s, "S")
    expected_x = iisignature.logsig(xt, s, "X")
    assert_close(sigrs.log_sig(x, degree, method=2, **opts), expected_s, F64_RTOL, "S")
    assert_close(sigrs.log_sig(x, degree, method="brackets", **opts), expected_s, F64_RTOL, "S")
    assert_close(sigrs.log_sig(x, degree, method=0, **opts), expected_x, F64_RTOL, "X")


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("dim,degree", [(1, 3), (2, 5), (3, 3)], ids=["d1N3", "d2N5", "d3N3"])
def test_log_sig_functions_match_pysiglib(rng, opts, method, dim, degree):
    pysiglib = peer("pysiglib")
    pysiglib.prepare_log_sig(dim, degree, method, **flags(opts))
    x = make_path(rng, (3, 6, dim))
    assert_close(sigrs.log_sig(x, degree, method=method, **opts),
                 pysiglib.log_sig(x, degree, method=method, **opts), F64_RTOL, "log_sig")
    if method == 0:
        assert_close(sigrs.log_sig(x, degree, method=0, scalar_term=True, **opts),
                     pysiglib.log_sig(x, degree, method=0, scalar_term=True, **opts),
                     F64_RTOL, "log_sig scalar_term")
    for st in (False, True):
        s = sigrs.sig(x, degree, scalar_term=st, **opts)
        assert_close(sigrs.sig_to_log_sig(s, dim, degree, method=method, **flags(opts)),
                     pysiglib.sig_to_log_sig(s, dim, degree, method=method, **flags(opts)),
                     F64_RTOL, f"sig_to_log_sig scalar_term={st}")
    # backprop at a generic (non-signature) point, where extensions could differ
    s = random_sig(rng, (3,), aug(dim, opts), degree, False)
    g = rng.standard_normal((3, log_len(aug(dim, opts), degree, method)))
    assert_close(sigrs.sig_to_log_sig_backprop(s, g, dim, degree, method=method, **flags(opts)),
                 pysiglib.sig_to_log_sig_backprop(s, g, dim, degree, method=method, **flags(opts)),
                 F64_RTOL, "sig_to_log_sig_backprop")
    assert_close(sigrs.sig_to_log_sig(s, dim, degree, method=method, **flags(opts)),
                 pysiglib.sig_to_log_sig(s, dim, degree, method=method, **flags(opts)),
                 F64_RTOL, "sig_to_log_sig of a non-signature")


@pytest.mark.parametrize("dim,degree", [(1, 4), (2, 5), (3, 4), (5, 2)])
def test_lyndon_words_and_lengths_match_pysiglib(dim, degree):
    pysiglib = peer("pysiglib")
    assert sigrs.lyndon_words(dim, degree) == [tuple(w) for w in pysiglib.lyndon_words(dim, degree)]
    for tl in [dict(), dict(time_aug=True), dict(lead_lag=True), dict(time_aug=True, lead_lag=True)]:
        assert sigrs.log_sig_length(dim, degree, **tl) == pysiglib.log_sig_length(dim, degree, **tl)


# ---------------------------------------------------------------------------
# identities
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("dim,degree", [(2, 6), (3, 4)], ids=["d2N6", "d3N4"])
def test_exp_of_expanded_log_sig_is_the_signature(rng, opts, dim, degree):
    x = make_path(rng, (2, 7, dim))
    D = aug(dim, opts)
    for st in (False, True):
        log = sigrs.log_sig(x, degree, method=0, scalar_term=st, **opts)
        s = sigrs.sig(x, degree, scalar_term=st, **opts)
        if st:
            np.testing.assert_array_equal(log[..., 0], 0.0)
        back = ref.log_sig_to_sig(log, D, degree)
        assert_close(back, s, 1e-12, f"exp(log) scalar_term={st}")


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
@pytest.mark.parametrize("dim,degree", [(2, 5), (3, 4), (4, 3)], ids=["d2N5", "d3N4", "d4N3"])
def test_words_method_is_expanded_method_at_lyndon_words(rng, backend, dim, degree):
    x = conv(make_path(rng, (3, 6, dim)), backend, np.float64)
    expanded = f64(sigrs.log_sig(x, degree, method="expanded"))
    words = f64(sigrs.log_sig(x, degree, method="words"))
    idx = [sigrs.word_to_idx(w, dim) for w in sigrs.lyndon_words(dim, degree)]
    np.testing.assert_array_equal(words, expanded[:, idx])
    # also on a non-signature input
    s = conv(random_sig(rng, (3,), dim, degree, True), backend, np.float64)
    e = f64(sigrs.sig_to_log_sig(s, dim, degree, method=0))
    w = f64(sigrs.sig_to_log_sig(s, dim, degree, method=1))
    idx1 = [sigrs.word_to_idx(t, dim, scalar_term=True) for t in sigrs.lyndon_words(dim, degree)]
    np.testing.assert_array_equal(w, e[:, idx1])


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_log_sig_of_a_straight_line_is_its_increment(rng, method, dim):
    degree = 4
    start = rng.standard_normal((3, dim))
    inc = rng.standard_normal((3, dim))
    # collinear points, uneven steps, going back and forth along the segment
    ts = np.array([0.0, 0.3, 0.1, 0.7, 1.0])
    x = start[:, None, :] + ts[None, :, None] * inc[:, None, :]
    out = sigrs.log_sig(x, degree, method=method)
    expected = np.zeros(out.shape)
    expected[:, :dim] = inc  # level 1 comes first, letters in order, in every method
    np.testing.assert_allclose(out, expected, atol=1e-13)


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_log_sig_of_dimension_one_path_is_total_increment(rng, method):
    x = make_path(rng, (4, 9, 1))
    out = sigrs.log_sig(x, 5, method=method)
    expected = np.zeros(out.shape)
    expected[:, 0] = x[:, -1, 0] - x[:, 0, 0]
    np.testing.assert_allclose(out, expected, atol=1e-13)


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_log_sig_level_k_scales_as_power_k(rng, method):
    d, n, c = 2, 5, -1.7
    x = make_path(rng, (6, d))
    a, b = sigrs.log_sig(x, n, method=method), sigrs.log_sig(c * x, n, method=method)
    if method == 0:
        lengths = [len(w) for w in ref.all_words(d, n)[1:]]
    else:
        lengths = [len(w) for w in ref.lyndon_words(d, n)]
    assert_close(b, a * c ** np.array(lengths, dtype=float), F64_RTOL)


def test_level_two_of_two_segments_is_half_their_bracket(rng):
    """BCH: log(exp(a) exp(b)) = a + b + [a, b]/2 + ... ; for the Lyndon basis the
    coordinate of [e_i, e_j] (i < j) is (a_i b_j - a_j b_i)/2."""
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    x = np.stack([np.zeros(3), a, a + b])
    out = sigrs.log_sig(x, 2, method=2)
    words = sigrs.lyndon_words(3, 2)
    for w, v in zip(words, out):
        if len(w) == 1:
            assert v == pytest.approx(a[w[0]] + b[w[0]], abs=1e-14)
        else:
            i, j = w
            assert v == pytest.approx(0.5 * (a[i] * b[j] - a[j] * b[i]), abs=1e-14)


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_sig_to_log_sig_accepts_both_signature_lengths(rng, backend, method):
    d, n = 3, 3
    x = make_path(rng, (2, 5, d))
    with_st = conv(sigrs.sig(x, n, scalar_term=True), backend, np.float64)
    without = conv(sigrs.sig(x, n), backend, np.float64)
    a = f64(sigrs.sig_to_log_sig(with_st, d, n, method=method))
    b = f64(sigrs.sig_to_log_sig(without, d, n, method=method))
    if method == 0:
        assert a.shape == (2, ref.sig_length(d, n, scalar_term=True))
        np.testing.assert_array_equal(a[:, 0], 0.0)
        a = a[:, 1:]
    np.testing.assert_array_equal(a, b)
    # the level-0 entry is taken to be 1, whatever it holds
    bad0 = f64(with_st).copy()
    bad0[:, 0] = 7.0
    c = f64(sigrs.sig_to_log_sig(conv(bad0, backend, np.float64), d, n, method=method))
    np.testing.assert_array_equal(c[:, 1:] if method == 0 else c, b)
    # log_sig is sig then sig_to_log_sig
    np.testing.assert_allclose(sigrs.log_sig(x, n, method=method), b, rtol=0, atol=1e-15)


@pytest.mark.parametrize("name,number", [("expanded", 0), ("words", 1), ("lyndon", 2),
                                         ("brackets", 2), ("Lyndon", 2), ("EXPANDED", 0)])
def test_method_names_equal_numbers(rng, name, number):
    x = make_path(rng, (2, 5, 2))
    np.testing.assert_array_equal(sigrs.log_sig(x, 3, method=name), sigrs.log_sig(x, 3, method=number))
    s = sigrs.sig(x, 3)
    np.testing.assert_array_equal(sigrs.sig_to_log_sig(s, 2, 3, method=name),
                                  sigrs.sig_to_log_sig(s, 2, 3, method=number))
    assert sigrs.log_sig_length(2, 3, method=name) == sigrs.log_sig_length(2, 3, method=number)
    sigrs.prepare_log_sig(2, 3, name)


def test_default_method_is_words(rng):
    x = make_path(rng, (2, 5, 2))
    np.testing.assert_array_equal(sigrs.log_sig(x, 3), sigrs.log_sig(x, 3, method=1))
    assert sigrs.log_sig_length(2, 3) == 5


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_length_one_paths_and_empty_batches(rng, backend, method):
    x = conv(make_path(rng, (3, 1, 2)), backend, np.float64)
    out = sigrs.log_sig(x, 3, method=method, time_aug=True)
    assert tuple(out.shape) == (3, log_len(3, 3, method))
    np.testing.assert_array_equal(f64(out), 0.0)
    e = conv(np.zeros((0, 4, 2)), backend, np.float32)
    out = sigrs.log_sig(e, 3, method=method)
    check_kind(out, backend, np.float32)
    assert tuple(out.shape) == (0, log_len(2, 3, method))


def test_log_sig_accepts_lists_and_does_not_modify_input(rng):
    x = make_path(rng, (5, 2))
    before = x.copy()
    out = sigrs.log_sig(x.tolist(), 3, method=2)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert_close(out, ref.log_sig(x, 3, method=2), F64_RTOL)
    s = sigrs.sig(x, 3)
    s_before = s.copy()
    sigrs.sig_to_log_sig(s, 2, 3, method=2)
    sigrs.sig_to_log_sig_backprop(s, np.ones(5), 2, 3, method=2)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(s, s_before)


def test_n_jobs_gives_identical_results(rng):
    x = make_path(rng, (17, 6, 3))
    for m in METHODS:
        a = sigrs.log_sig(x, 4, method=m, n_jobs=1)
        np.testing.assert_array_equal(sigrs.log_sig(x, 4, method=m, n_jobs=-1), a)
        np.testing.assert_array_equal(sigrs.log_sig(x, 4, method=m, n_jobs=3), a)


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("dim,degree", [(2, 8), (3, 6), (6, 3)], ids=["d2N8", "d3N6", "d6N3"])
def test_higher_degrees_match_pysiglib(rng, method, dim, degree):
    pysiglib = peer("pysiglib")
    pysiglib.prepare_log_sig(dim, degree, method)
    x = make_path(rng, (2, 10, dim))
    assert_close(sigrs.log_sig(x, degree, method=method),
                 pysiglib.log_sig(x, degree, method=method), F64_RTOL)


def test_first_use_of_tables_from_many_threads_is_consistent(rng):
    """The Lyndon tables are built lazily on first use: concurrent first calls
    for (dimension, degree) pairs no other test uses must agree with serial ones."""
    from concurrent.futures import ThreadPoolExecutor

    cases = [(7, 3, 2), (5, 4, 2), (7, 3, 1), (5, 4, 0), (9, 2, 2), (2, 9, 2)]
    sigs = {c: ref.sig(make_path(rng, (2, 4, c[0])), c[1]) for c in cases}

    def run(c):
        return sigrs.sig_to_log_sig(sigs[c], c[0], c[1], method=c[2], n_jobs=1)

    with ThreadPoolExecutor(max_workers=len(cases) * 2) as pool:
        results = list(pool.map(run, cases * 2))
    for i, c in enumerate(cases * 2):
        assert_close(results[i], ref.sig_to_log_sig(sigs[c], c[0], c[1], c[2],
                                                    solver="triangular"), F64_RTOL, str(c))


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_non_contiguous_inputs_give_the_same_values(rng, backend, method):
    d, n = 3, 3
    s = random_sig(rng, (4,), d, n, False)
    g = rng.standard_normal((4, log_len(d, n, method)))
    x = make_path(rng, (4, 6, d))
    base = sigrs.sig_to_log_sig(s, d, n, method=method)
    base_bp = sigrs.sig_to_log_sig_backprop(s, g, d, n, method=method)
    base_x = sigrs.log_sig(x, n, method=method)
    if backend == "torch":
        s_nc = torch.from_numpy(s.T.copy()).T
        g_nc = torch.from_numpy(g.T.copy()).T
        x_nc = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 0, 2))).transpose(0, 1)
        assert not s_nc.is_contiguous() and not x_nc.is_contiguous()
    else:
        s_nc, g_nc = np.asfortranarray(s), np.asfortranarray(g)
        x_nc = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)
        assert not s_nc.flags.c_contiguous and not x_nc.flags.c_contiguous
    np.testing.assert_array_equal(f64(sigrs.sig_to_log_sig(s_nc, d, n, method=method)), base)
    np.testing.assert_array_equal(f64(sigrs.sig_to_log_sig_backprop(s_nc, g_nc, d, n, method=method)),
                                  base_bp)
    np.testing.assert_array_equal(f64(sigrs.log_sig(x_nc, n, method=method)), base_x)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_log_sig_gradcheck(rng, opts, method):
    x = torch.tensor(make_path(rng, (2, 4, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: sigrs.log_sig(p, 3, method=method, **opts), (x,))


@needs_torch
@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_log_sig_gradient_matches_reference_autograd(rng, opts, method):
    d, n = 2, 4
    x = make_path(rng, (2, 5, d))
    g = rng.standard_normal((2, log_len(aug(d, opts), n, method)))
    xt = torch.tensor(x, requires_grad=True)
    (sigrs.log_sig(xt, n, method=method, **opts) * torch.from_numpy(g)).sum().backward()
    xr = torch.tensor(x, requires_grad=True)
    (ref.log_sig(xr, n, method=method, **opts) * torch.from_numpy(g)).sum().backward()
    assert_close(xt.grad, xr.grad, 1e-9)


@needs_torch
def test_log_sig_gradcheck_expanded_with_scalar_term_and_float32_backward(rng):
    x = torch.tensor(make_path(rng, (2, 4, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p: sigrs.log_sig(p, 3, method=0, scalar_term=True, time_aug=True), (x,))
    x64 = make_path(rng, (3, 5, 2))
    grads = {}
    for dt in (torch.float64, torch.float32):
        xt = torch.tensor(x64, dtype=dt, requires_grad=True)
        out = sigrs.log_sig(xt, 3, method=2, lead_lag=True)
        assert out.dtype == dt
        out.pow(2).sum().backward()
        assert xt.grad.dtype == dt
        grads[dt] = xt.grad
    assert_close(grads[torch.float32], grads[torch.float64], F32_RTOL)


@needs_torch
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("opts", [dict(), dict(time_aug=True, lead_lag=True)], ids=["plain", "leadlag+time"])
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_sig_to_log_sig_gradcheck(rng, scalar_term, opts, method):
    d, n = (2, 3) if not opts else (1, 3)
    s = random_sig(rng, (2,), aug(d, opts), n, scalar_term)
    st = torch.tensor(s, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: sigrs.sig_to_log_sig(t, d, n, method=method, **opts), (st,))


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_sig_to_log_sig_backprop_matches_reference_autograd(rng, backend, scalar_term,
                                                            batch_shape, method):
    d, n = 3, 3
    s = random_sig(rng, batch_shape, d, n, scalar_term)
    g = rng.standard_normal(batch_shape + (log_len(d, n, method, scalar_term and method == 0),))
    out = sigrs.sig_to_log_sig_backprop(conv(s, backend, np.float64), conv(g, backend, np.float64),
                                        d, n, method=method)
    check_kind(out, backend, np.float64)
    assert tuple(out.shape) == s.shape
    sr = torch.tensor(s, requires_grad=True)
    (ref.sig_to_log_sig(sr, d, n, method) * torch.from_numpy(g)).sum().backward()
    expected = sr.grad.numpy().copy()
    if scalar_term:
        expected[..., 0] = 0.0  # level 0 is taken to be 1: no gradient
    assert_close(out, expected, F64_RTOL)


@needs_torch
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_torch_autograd_through_sig_to_log_sig_equals_explicit_backprop(rng, method):
    d, n = 2, 4
    s = random_sig(rng, (3,), d, n, True)
    g = rng.standard_normal((3, log_len(d, n, method, method == 0)))
    st = torch.tensor(s, requires_grad=True)
    (sigrs.sig_to_log_sig(st, d, n, method=method) * torch.from_numpy(g)).sum().backward()
    explicit = sigrs.sig_to_log_sig_backprop(s, g, d, n, method=method)
    assert_close(st.grad, explicit, F64_RTOL)


@needs_torch
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_numpy_and_torch_agree_in_both_dtypes(rng, method):
    d, n = 3, 3
    x = make_path(rng, (4, 6, d))
    s = random_sig(rng, (4,), d, n, False)
    g = rng.standard_normal((4, log_len(d, n, method)))
    for dtype in (np.float64, np.float32):
        a = sigrs.log_sig(conv(x, "numpy", dtype), n, method=method, lead_lag=True)
        b = sigrs.log_sig(conv(x, "torch", dtype), n, method=method, lead_lag=True)
        np.testing.assert_array_equal(to_numpy(b), a)
        a = sigrs.sig_to_log_sig_backprop(conv(s, "numpy", dtype), conv(g, "numpy", dtype), d, n,
                                          method=method)
        b = sigrs.sig_to_log_sig_backprop(conv(s, "torch", dtype), conv(g, "torch", dtype), d, n,
                                          method=method)
        check_kind(a, "numpy", dtype)
        check_kind(b, "torch", dtype)
        np.testing.assert_array_equal(to_numpy(b), a)
        # float32 against float64
        full = sigrs.sig_to_log_sig_backprop(s, g, d, n, method=method)
        assert_close(a, full, rtol(dtype))


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

# Bad everywhere. (3 is pysiglib's BCH method, accepted by log_sig and
# log_sig_length only, and "hall" is the Hall basis: see test_hall.py.)
BAD_METHODS = [4, 5, -1, "bch", "", 2.5]


@pytest.mark.parametrize("bad", BAD_METHODS)
def test_bad_method_is_an_error_naming_method(rng, bad):
    x = make_path(rng, (2, 5, 2))
    s = sigrs.sig(x, 3)
    calls = [
        lambda: sigrs.log_sig(x, 3, method=bad),
        lambda: sigrs.sig_to_log_sig(s, 2, 3, method=bad),
        lambda: sigrs.sig_to_log_sig_backprop(s, np.ones((2, 5)), 2, 3, method=bad),
        lambda: sigrs.log_sig_length(2, 3, method=bad),
        lambda: sigrs.prepare_log_sig(2, 3, bad),
    ]
    expected = TypeError if isinstance(bad, float) else ValueError
    for call in calls:
        with pytest.raises(expected, match="method"):
            call()


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
def test_bad_signature_length_is_a_value_error(backend):
    d, n = 2, 3  # lengths 14 and 15 are valid
    for length in (13, 16, 5):
        s = conv(np.zeros((2, length)), backend, np.float64)
        with pytest.raises(ValueError, match="sig"):
            sigrs.sig_to_log_sig(s, d, n)
        with pytest.raises(ValueError, match="sig"):
            sigrs.sig_to_log_sig_backprop(s, conv(np.zeros((2, 5)), backend, np.float64), d, n)
    # a signature taken with time_aug is longer than the plain one
    s = conv(np.zeros((2, 14)), backend, np.float64)
    with pytest.raises(ValueError):
        sigrs.sig_to_log_sig(s, d, n, time_aug=True)


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_log_sig_derivs_of_wrong_shape_is_a_value_error(backend, method):
    d, n = 2, 3
    s = conv(np.zeros((2, 14)), backend, np.float64)
    good = log_len(d, n, method)
    for shape in [(2, good + 1), (3, good), (good,), (2, 1, good)]:
        g = conv(np.zeros(shape), backend, np.float64)
        with pytest.raises(ValueError, match="log_sig_derivs"):
            sigrs.sig_to_log_sig_backprop(s, g, d, n, method=method)


@needs_torch
def test_mixing_numpy_and_torch_is_a_type_error():
    s = np.zeros((2, 14))
    g = np.zeros((2, 5))
    with pytest.raises(TypeError):
        sigrs.sig_to_log_sig_backprop(s, torch.from_numpy(g), 2, 3)
    with pytest.raises(TypeError):
        sigrs.sig_to_log_sig_backprop(torch.from_numpy(s), g, 2, 3)


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
def test_integer_input_is_a_type_error(backend):
    x = np.zeros((2, 5, 2), dtype=np.int64)
    s = np.zeros((2, 14), dtype=np.int32)
    if backend == "torch":
        x, s = torch.from_numpy(x), torch.from_numpy(s)
    with pytest.raises(TypeError):
        sigrs.log_sig(x, 3)
    with pytest.raises(TypeError):
        sigrs.sig_to_log_sig(s, 2, 3)


def test_bad_dimension_and_degree_are_errors(rng):
    x = make_path(rng, (2, 5, 2))
    with pytest.raises(ValueError, match="degree"):
        sigrs.log_sig(x, -1)
    with pytest.raises(ValueError, match="dimension"):
        sigrs.log_sig_length(-1, 3)
    with pytest.raises(ValueError, match="max_length"):  # pysiglib's parameter names
        sigrs.lyndon_words(2, -2)
    with pytest.raises(ValueError, match="alphabet_size"):
        sigrs.lyndon_words_of_length(-1, 2)
    with pytest.raises(TypeError):
        sigrs.log_sig(x, 2.0)


def test_log_sig_of_a_degree_zero_is_empty(rng):
    x = make_path(rng, (2, 5, 2))
    for m in METHODS:
        assert sigrs.log_sig(x, 0, method=m).shape == (2, 0)
    out = sigrs.log_sig(x, 0, method=0, scalar_term=True)
    np.testing.assert_array_equal(out, np.zeros((2, 1)))


def test_factorial_sanity_of_reference_exp():
    # guards the reference: level k of exp(v) is v^k / k! for a scalar v
    v = np.array([0.7])
    levels = ref.tensor_exp_series([np.ones(()), v] + [np.zeros((1,) * k) for k in range(2, 6)], 5)
    for k in range(6):
        assert float(levels[k].reshape(-1)[0]) == pytest.approx(0.7 ** k / math.factorial(k), rel=1e-14)


# ===========================================================================
# logsig_to_sig, logsig_to_sig_backprop, is_lyndon, lyndon_words_of_length
# ===========================================================================
#
# logsig_to_sig is exp of the Lie element a log-signature describes: method 0
# the signature-shaped expanded log (its layout, with or without the level-0
# entry, which is ignored, sets the output's), method 1 the coefficients at
# the Lyndon words, method 2 the Lyndon-basis coordinates. Checked by round
# trips through log_sig / sig_to_log_sig, against the reference exponential
# series (reference.logsig_to_sig), against pysiglib, torch gradcheck and
# autograd, and bad input.

import itertools  # noqa: E402


def random_log_sig(rng, batch_shape, dim, degree, method, scalar_term=False, scale=0.5):
    """A random input for logsig_to_sig in the layout of ``method``: method 0 a
    generic (not Lie) signature-shaped tensor, level-0 entry 0 when present;
    methods 1 and 2 random Lyndon-word values / Lyndon coordinates."""
    n = log_len(dim, degree, method, scalar_term and method == 0)
    t = scale * rng.standard_normal(tuple(batch_shape) + (n,))
    if method == 0 and scalar_term:
        t[..., 0] = 0.0
    return t


def random_lie_expanded(rng, batch_shape, dim, degree, scalar_term=False, scale=0.5):
    """Random Lie elements, expanded into the signature layout through the
    reference bracket expansion of random Lyndon coordinates; and the coordinates."""
    coords = scale * rng.standard_normal(tuple(batch_shape) + (len(ref.lyndon_words(dim, degree)),))
    expanded = ref.map_batch(
        lambda c: ref.flatten_levels(ref.lie_levels_from_lyndon_coordinates(c, dim, degree), scalar_term),
        batch_shape, coords)
    return expanded, coords


def sig_len(dim, degree, scalar_term=False):
    return ref.sig_length(dim, degree, scalar_term=scalar_term)


def out_scalar(method, log_sig_len, dim, degree, scalar_term):
    """Whether logsig_to_sig's output carries the scalar term."""
    if method == 0:
        return log_sig_len == sig_len(dim, degree, True)
    return scalar_term


def prepare_pysiglib(pysiglib, dim, degree, opts):
    # pysiglib's logsig_to_sig needs the tables of every method prepared
    for m in METHODS:
        pysiglib.prepare_log_sig(dim, degree, m, **flags(opts))


# --- the reference ---------------------------------------------------------

def test_reference_logsig_to_sig_methods_agree_on_a_lie_element(rng):
    d, n = 3, 4
    expanded, coords = random_lie_expanded(rng, (), d, n, scalar_term=False)
    levels = ref.lie_levels_from_lyndon_coordinates(coords, d, n)
    words_vals = np.array([levels[len(w)][w] for w in ref.lyndon_words(d, n)])
    # the triangular solve recovers the coordinates from the Lyndon-word values
    assert_close(ref.lyndon_word_values_to_coordinates(words_vals, d, n), coords, 1e-12)
    a = ref.logsig_to_sig(coords, d, n, 2, scalar_term=True)
    assert_close(ref.logsig_to_sig(words_vals, d, n, 1, scalar_term=True), a, 1e-12)
    assert_close(ref.logsig_to_sig(expanded, d, n, 0), a[1:], 1e-12)
    # exp of a Lie element is group-like: its log is that element again
    back, _ = ref.levels_of(a, d, n)
    log = ref.tensor_log_series(back, n)
    assert_close(ref.flatten_levels(log), expanded, 1e-12)
    # level-1-only element: exp of the increment
    v = rng.standard_normal(d)
    c = np.zeros(len(coords))
    c[:d] = v
    assert_close(ref.logsig_to_sig(c, d, n, 2), ref.flatten_levels(ref.tensor_exp(v, n)), 1e-14)


# --- round trips -----------------------------------------------------------

@pytest.mark.parametrize("backend,dtype", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_logsig_to_sig_of_log_sig_is_the_signature(rng, backend, dtype, opts, method):
    d, n = 2, 3
    D = aug(d, opts)
    tol = 1e-12 if dtype == np.float64 else F32_RTOL
    for batch_shape in BATCH_SHAPES:
        x = make_path(rng, batch_shape + (5, d))
        xc = conv(x, backend, dtype)
        for st in (False, True):
            ls = sigrs.log_sig(xc, n, method=method, scalar_term=st, **opts)
            out = sigrs.logsig_to_sig(ls, d, n, method=method, scalar_term=st, **flags(opts))
            check_kind(out, backend, dtype)
            expected = ref.sig(x.astype(dtype).astype(np.float64), n, scalar_term=st, **opts)
            assert tuple(out.shape) == batch_shape + (sig_len(D, n, st),)
            assert_close(out, expected, tol, f"batch {batch_shape} scalar_term {st}")
            if st:
                np.testing.assert_array_equal(f64(out)[..., 0], 1.0)


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("dim,degree", [(1, 4), (2, 6), (3, 4), (4, 3)], ids=["d1N4", "d2N6", "d3N4", "d4N3"])
def test_logsig_to_sig_round_trip_at_higher_degrees(rng, method, dim, degree):
    x = make_path(rng, (3, 8, dim))
    ls = sigrs.log_sig(x, degree, method=method)
    assert_close(sigrs.logsig_to_sig(ls, dim, degree, method=method), sigrs.sig(x, degree), 1e-12)


@pytest.mark.parametrize("backend,dtype", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("dim,degree", [(2, 5), (3, 4), (4, 3)], ids=["d2N5", "d3N4", "d4N3"])
def test_sig_to_log_sig_inverts_logsig_to_sig_on_lie_inputs(rng, backend, dtype, method, dim, degree):
    tol = F64_RTOL if dtype == np.float64 else F32_RTOL
    expanded, coords = random_lie_expanded(rng, (3,), dim, degree, scalar_term=False)
    expanded_st, _ = random_lie_expanded(rng, (3,), dim, degree, scalar_term=True)
    word_vals = expanded[:, [ref.word_index(w, dim) for w in ref.lyndon_words(dim, degree)]]
    inputs = {0: [expanded, expanded_st], 1: [word_vals], 2: [coords]}[method]
    for l in inputs:
        for st in (False, True):
            s = sigrs.logsig_to_sig(conv(l, backend, dtype), dim, degree, method=method, scalar_term=st)
            check_kind(s, backend, dtype)
            assert tuple(s.shape) == (3, sig_len(dim, degree, out_scalar(method, l.shape[-1], dim, degree, st)))
            back = sigrs.sig_to_log_sig(s, dim, degree, method=method)
            assert_close(back, l.astype(dtype), tol, f"scalar_term {st}")
    if method == 0:
        # a Lie element: every method reads the same element back
        s = sigrs.logsig_to_sig(expanded, dim, degree, method=0)
        assert_close(sigrs.sig_to_log_sig(s, dim, degree, method=2), coords, F64_RTOL)
        assert_close(sigrs.sig_to_log_sig(s, dim, degree, method=1), word_vals, F64_RTOL)
        assert_close(sigrs.logsig_to_sig(coords, dim, degree, method=2), s, F64_RTOL)
        assert_close(sigrs.logsig_to_sig(word_vals, dim, degree, method=1), s, F64_RTOL)


@pytest.mark.parametrize("dim,degree", [(2, 4), (3, 3)], ids=["d2N4", "d3N3"])
def test_log_of_exp_is_identity_on_generic_expanded_tensors(rng, dim, degree):
    """Method 0 takes any tensor (not only Lie elements): log(exp(x)) = x."""
    for st in (False, True):
        l = random_log_sig(rng, (4,), dim, degree, 0, st)
        s = sigrs.logsig_to_sig(l, dim, degree, method=0)
        assert_close(sigrs.sig_to_log_sig(s, dim, degree, method=0), l, F64_RTOL)


# --- values against the reference -----------------------------------------

@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("dim,degree", DIM_DEGREES, ids=DIM_DEGREE_IDS)
def test_logsig_to_sig_matches_reference_exp_series(rng, method, dim, degree):
    for st in (False, True):
        l = random_log_sig(rng, (2,), dim, degree, method, st)
        expected = ref.logsig_to_sig(l, dim, degree, method, scalar_term=st)
        for dtype in (np.float64, np.float32):
            out = sigrs.logsig_to_sig(l.astype(dtype), dim, degree, method=method, scalar_term=st)
            check_kind(out, "numpy", dtype)
            lr = l.astype(dtype).astype(np.float64)
            assert_close(out, ref.logsig_to_sig(lr, dim, degree, method, scalar_term=st), rtol(dtype),
                         f"{np.dtype(dtype).name} scalar_term {st}")
        assert_close(sigrs.logsig_to_sig(l, dim, degree, method=method, scalar_term=st), expected, F64_RTOL)


def test_logsig_to_sig_scalar_term_flag_is_ignored_by_method_0(rng):
    d, n = 2, 3
    for st_in in (False, True):
        l = random_log_sig(rng, (2,), d, n, 0, st_in)
        a = sigrs.logsig_to_sig(l, d, n, method=0, scalar_term=False)
        b = sigrs.logsig_to_sig(l, d, n, method=0, scalar_term=True)
        assert a.shape == (2, sig_len(d, n, st_in))
        np.testing.assert_array_equal(a, b)
        g = rng.standard_normal(a.shape)
        np.testing.assert_array_equal(sigrs.logsig_to_sig_backprop(l, g, d, n, method=0, scalar_term=False),
                                      sigrs.logsig_to_sig_backprop(l, g, d, n, method=0, scalar_term=True))
    # the level-0 entry of the input is ignored: output level 0 is 1, its gradient 0
    l = random_log_sig(rng, (2,), d, n, 0, True)
    l7 = l.copy()
    l7[:, 0] = 7.0
    out = sigrs.logsig_to_sig(l7, d, n, method=0)
    np.testing.assert_array_equal(out, sigrs.logsig_to_sig(l, d, n, method=0))
    np.testing.assert_array_equal(out[:, 0], 1.0)
    grad = sigrs.logsig_to_sig_backprop(l7, rng.standard_normal(out.shape), d, n, method=0)
    np.testing.assert_array_equal(grad[:, 0], 0.0)


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_logsig_to_sig_of_an_increment_is_a_segment_signature(rng, method):
    d, n = 3, 4
    v = rng.standard_normal((2, d))
    # method 0 with its level-0 entry (which sets the output layout), the others by the flag
    off = 1 if method == 0 else 0
    l = np.zeros((2, log_len(d, n, method, method == 0)))
    l[:, off:off + d] = v
    out = sigrs.logsig_to_sig(l, d, n, method=method, scalar_term=True)
    x = np.stack([np.zeros((2, d)), v], axis=1)
    assert_close(out, sigrs.sig(x, n, scalar_term=True), 1e-13)
    # and the zero log-signature is the identity
    z = sigrs.logsig_to_sig(np.zeros_like(l), d, n, method=method, scalar_term=True)
    expected = np.zeros_like(z)
    expected[:, 0] = 1.0
    np.testing.assert_array_equal(z, expected)


def test_logsig_to_sig_degree_zero_and_empty_batches():
    for m in (1, 2):
        np.testing.assert_array_equal(sigrs.logsig_to_sig(np.zeros(0), 2, 0, method=m), np.zeros(0))
        np.testing.assert_array_equal(sigrs.logsig_to_sig(np.zeros(0), 2, 0, method=m, scalar_term=True),
                                      np.ones(1))
    np.testing.assert_array_equal(sigrs.logsig_to_sig(np.zeros(1), 2, 0, method=0), np.ones(1))
    backends = ["numpy", "torch"] if torch is not None else ["numpy"]
    for backend in backends:
        for m in METHODS:
            e = conv(np.zeros((0, log_len(2, 3, m))), backend, np.float32)
            out = sigrs.logsig_to_sig(e, 2, 3, method=m, scalar_term=True)
            check_kind(out, backend, np.float32)
            assert tuple(out.shape) == (0, sig_len(2, 3, m != 0))
            g = sigrs.logsig_to_sig_backprop(e, conv(np.zeros(tuple(out.shape)), backend, np.float32),
                                             2, 3, method=m, scalar_term=True)
            assert tuple(g.shape) == tuple(e.shape)


def test_logsig_to_sig_n_jobs_names_lists_and_input_untouched(rng):
    d, n = 3, 4
    for m, name in zip(METHODS, METHOD_IDS):
        l = random_log_sig(rng, (9,), d, n, m)
        before = l.copy()
        g = rng.standard_normal((9, sig_len(d, n)))
        a = sigrs.logsig_to_sig(l, d, n, method=m, n_jobs=1)
        ga = sigrs.logsig_to_sig_backprop(l, g, d, n, method=m, n_jobs=1)
        for jobs in (-1, 3):
            np.testing.assert_array_equal(sigrs.logsig_to_sig(l, d, n, method=m, n_jobs=jobs), a)
            np.testing.assert_array_equal(sigrs.logsig_to_sig_backprop(l, g, d, n, method=m, n_jobs=jobs), ga)
        np.testing.assert_array_equal(sigrs.logsig_to_sig(l, d, n, method=name), a)
        np.testing.assert_array_equal(sigrs.logsig_to_sig(l.tolist(), d, n, method=m), a)
        np.testing.assert_array_equal(sigrs.logsig_to_sig(np.asfortranarray(l), d, n, method=m), a)
        np.testing.assert_array_equal(
            sigrs.logsig_to_sig_backprop(np.asfortranarray(l), np.asfortranarray(g), d, n, method=m), ga)
        np.testing.assert_array_equal(l, before)
    # the default method is 1 (Lyndon words)
    l = random_log_sig(rng, (2,), d, n, 1)
    np.testing.assert_array_equal(sigrs.logsig_to_sig(l, d, n), sigrs.logsig_to_sig(l, d, n, method=1))


# --- pysiglib --------------------------------------------------------------

@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("dim,degree", [(1, 3), (2, 4), (3, 3)], ids=["d1N3", "d2N4", "d3N3"])
def test_logsig_to_sig_and_backprop_match_pysiglib(rng, opts, method, dim, degree):
    pysiglib = peer("pysiglib")
    prepare_pysiglib(pysiglib, dim, degree, opts)
    D = aug(dim, opts)
    fl = flags(opts)
    x = make_path(rng, (3, 6, dim))
    for st in (False, True):
        inputs = [sigrs.log_sig(x, degree, method=method, scalar_term=st, **opts),
                  random_log_sig(rng, (3,), D, degree, method, st)]
        inputs.append(inputs[-1][0])  # unbatched
        for l in inputs:
            out = sigrs.logsig_to_sig(l, dim, degree, method=method, scalar_term=st, **fl)
            expected = pysiglib.logsig_to_sig(l, dim, degree, method=method, scalar_term=st, **fl)
            assert_close(out, expected, F64_RTOL, f"logsig_to_sig scalar_term {st}")
            g = rng.standard_normal(out.shape)
            assert_close(sigrs.logsig_to_sig_backprop(l, g, dim, degree, method=method, scalar_term=st, **fl),
                         pysiglib.logsig_to_sig_backprop(l, g, dim, degree, method=method, scalar_term=st, **fl),
                         F64_RTOL, f"logsig_to_sig_backprop scalar_term {st}")


@pytest.mark.parametrize("dim,length", [(d, k) for d in (1, 2, 3, 4) for k in range(0, 6) if d ** k <= 1024])
def test_lyndon_words_of_length_matches_pysiglib_and_reference(dim, length):
    pysiglib = peer("pysiglib")
    words = sigrs.lyndon_words_of_length(dim, length)
    assert all(isinstance(w, tuple) and len(w) == length for w in words)
    assert words == [w for w in ref.lyndon_words(dim, length) if len(w) == length]
    assert words == [tuple(w) for w in pysiglib.lyndon_words_of_length(dim, length)]
    assert words == sorted(words)
    if length >= 1:
        # Witt's formula for one length
        assert len(words) == ref.witt_count(dim, length) - ref.witt_count(dim, length - 1)


def test_lyndon_words_of_length_edge_cases():
    assert sigrs.lyndon_words_of_length(0, 3) == []
    assert sigrs.lyndon_words_of_length(5, 1) == [(0,), (1,), (2,), (3,), (4,)]
    assert sigrs.lyndon_words_of_length(1, 2) == []
    with pytest.raises(ValueError, match="length"):
        sigrs.lyndon_words_of_length(2, -1)
    with pytest.raises(ValueError, match="alphabet_size"):
        sigrs.lyndon_words_of_length(-1, 2)
    # pysiglib's keyword names
    assert sigrs.lyndon_words_of_length(alphabet_size=2, length=3) == [(0, 0, 1), (0, 1, 1)]
    assert sigrs.lyndon_words(alphabet_size=2, max_length=2) == [(0,), (1,), (0, 1)]


def test_is_lyndon_matches_reference_and_pysiglib_on_all_short_words():
    pysiglib = peer("pysiglib")
    n_true = 0
    for k in range(1, 6):
        for w in itertools.product(range(3), repeat=k):
            expected = ref.is_lyndon(w)
            got = sigrs.is_lyndon(w)
            assert type(got) is bool
            assert got == expected, w
            assert sigrs.is_lyndon(list(w)) == expected, w
            assert pysiglib.is_lyndon(w) == expected, w
            n_true += got
    assert n_true == ref.witt_count(3, 5)
    # the letters need not be below any dimension
    assert sigrs.is_lyndon((0, 10 ** 6)) and not sigrs.is_lyndon((10 ** 6, 0))
    assert sigrs.is_lyndon((np.int64(0), np.int64(1)))


def test_is_lyndon_edge_cases_and_bad_input():
    assert sigrs.is_lyndon(()) is False
    assert sigrs.is_lyndon([]) is False
    assert sigrs.is_lyndon((4,)) is True
    assert sigrs.is_lyndon((0, 0)) is False  # periodic words are not Lyndon
    assert sigrs.is_lyndon((0, 1, 0, 1)) is False
    assert sigrs.is_lyndon((0, 0, 1, 0, 1)) is True
    for bad in (5, None, 1.5, {0, 1}):
        with pytest.raises(TypeError):
            sigrs.is_lyndon(bad)
    for bad in ((0, -1), [-3], (1, 2, -1)):
        with pytest.raises(ValueError):
            sigrs.is_lyndon(bad)
    with pytest.raises(TypeError):
        sigrs.is_lyndon((0, 1.0))


# --- gradients -------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("opts", [dict(), dict(time_aug=True, lead_lag=True)], ids=["plain", "leadlag+time"])
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_logsig_to_sig_gradcheck(rng, scalar_term, opts, method):
    d, n = (2, 3) if not opts else (1, 3)
    l = random_log_sig(rng, (2,), aug(d, opts), n, method, scalar_term)
    lt = torch.tensor(l, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: sigrs.logsig_to_sig(t, d, n, method=method, scalar_term=scalar_term, **opts), (lt,))


@needs_torch
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_logsig_to_sig_backprop_matches_reference_autograd(rng, backend, scalar_term, batch_shape, method):
    d, n = 3, 3
    l = random_log_sig(rng, batch_shape, d, n, method, scalar_term)
    st_out = out_scalar(method, l.shape[-1], d, n, scalar_term)
    g = rng.standard_normal(batch_shape + (sig_len(d, n, st_out),))
    out = sigrs.logsig_to_sig_backprop(conv(l, backend, np.float64), conv(g, backend, np.float64), d, n,
                                       method=method, scalar_term=scalar_term)
    check_kind(out, backend, np.float64)
    assert tuple(out.shape) == l.shape
    lr = torch.tensor(l, requires_grad=True)
    (ref.logsig_to_sig(lr, d, n, method, scalar_term=scalar_term) * torch.from_numpy(g)).sum().backward()
    assert_close(out, lr.grad, F64_RTOL)


@needs_torch
@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_torch_autograd_through_logsig_to_sig_equals_explicit_backprop(rng, opts, method):
    d, n = 2, 4
    D = aug(d, opts)
    for st in (False, True):
        l = random_log_sig(rng, (3,), D, n, method, st)
        g = rng.standard_normal((3, sig_len(D, n, out_scalar(method, l.shape[-1], D, n, st))))
        lt = torch.tensor(l, requires_grad=True)
        out = sigrs.logsig_to_sig(lt, d, n, method=method, scalar_term=st, **flags(opts))
        assert out.requires_grad
        (out * torch.from_numpy(g)).sum().backward()
        explicit = sigrs.logsig_to_sig_backprop(l, g, d, n, method=method, scalar_term=st, **flags(opts))
        assert_close(lt.grad, explicit, F64_RTOL, f"scalar_term {st}")
        # torch explicit backprop: same values, no graph needed
        tb = sigrs.logsig_to_sig_backprop(torch.from_numpy(l), torch.from_numpy(g), d, n, method=method,
                                          scalar_term=st, **flags(opts))
        np.testing.assert_array_equal(to_numpy(tb), explicit)


@needs_torch
def test_gradient_flows_through_log_sig_then_logsig_to_sig(rng):
    """sig = logsig_to_sig(log_sig(x)): its gradient w.r.t. the path is sig's."""
    x = make_path(rng, (2, 5, 2))
    g = rng.standard_normal((2, sig_len(2, 3)))
    grads = []
    for method in METHODS:
        xt = torch.tensor(x, requires_grad=True)
        s = sigrs.logsig_to_sig(sigrs.log_sig(xt, 3, method=method), 2, 3, method=method)
        (s * torch.from_numpy(g)).sum().backward()
        grads.append(xt.grad.numpy())
    xt = torch.tensor(x, requires_grad=True)
    (sigrs.sig(xt, 3) * torch.from_numpy(g)).sum().backward()
    for method, gr in zip(METHODS, grads):
        assert_close(gr, xt.grad, 1e-10, f"method {method}")


@needs_torch
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_logsig_to_sig_numpy_and_torch_agree_in_both_dtypes(rng, method):
    d, n = 3, 3
    l = random_log_sig(rng, (4,), d, n, method)
    g = rng.standard_normal((4, sig_len(d, n)))
    full = sigrs.logsig_to_sig(l, d, n, method=method)
    full_bp = sigrs.logsig_to_sig_backprop(l, g, d, n, method=method)
    for dtype in (np.float64, np.float32):
        a = sigrs.logsig_to_sig(conv(l, "numpy", dtype), d, n, method=method, lead_lag=False)
        b = sigrs.logsig_to_sig(conv(l, "torch", dtype), d, n, method=method)
        check_kind(a, "numpy", dtype)
        check_kind(b, "torch", dtype)
        np.testing.assert_array_equal(to_numpy(b), a)
        ga = sigrs.logsig_to_sig_backprop(conv(l, "numpy", dtype), conv(g, "numpy", dtype), d, n, method=method)
        gb = sigrs.logsig_to_sig_backprop(conv(l, "torch", dtype), conv(g, "torch", dtype), d, n, method=method)
        check_kind(ga, "numpy", dtype)
        check_kind(gb, "torch", dtype)
        np.testing.assert_array_equal(to_numpy(gb), ga)
        assert_close(a, full, rtol(dtype))
        assert_close(ga, full_bp, rtol(dtype))
    # non-contiguous tensors give the same values
    lt = torch.from_numpy(l.T.copy()).T
    gt = torch.from_numpy(g.T.copy()).T
    assert not lt.is_contiguous()
    np.testing.assert_array_equal(to_numpy(sigrs.logsig_to_sig(lt, d, n, method=method)), full)
    np.testing.assert_array_equal(to_numpy(sigrs.logsig_to_sig_backprop(lt, gt, d, n, method=method)), full_bp)


# --- errors ----------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_logsig_to_sig_wrong_log_sig_length_is_a_value_error(backend, method):
    d, n = 2, 3  # 5 Lyndon words; signature lengths 14 and 15
    bad_lengths = {0: [5, 13, 16, 0], 1: [4, 6, 14, 15, 0], 2: [4, 6, 14, 15, 0]}[method]
    for length in bad_lengths:
        l = conv(np.zeros((2, length)), backend, np.float64)
        with pytest.raises(ValueError, match="log_sig"):
            sigrs.logsig_to_sig(l, d, n, method=method)
        with pytest.raises(ValueError, match="log_sig"):
            sigrs.logsig_to_sig_backprop(l, conv(np.zeros((2, 14)), backend, np.float64), d, n, method=method)
    # the transforms change the expected length (dimension 2 -> 3 with time_aug)
    good = conv(np.zeros((2, log_len(d, n, method))), backend, np.float64)
    with pytest.raises(ValueError, match="log_sig"):
        sigrs.logsig_to_sig(good, d, n, method=method, time_aug=True)
    with pytest.raises(ValueError, match="log_sig"):
        sigrs.logsig_to_sig(good, d, n, method=method, lead_lag=True)
    # a scalar (0-d) input has no last axis
    with pytest.raises(ValueError):
        sigrs.logsig_to_sig(conv(np.zeros(()), backend, np.float64), d, n, method=method)


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_logsig_to_sig_backprop_wrong_sig_derivs_shape_is_a_value_error(backend, scalar_term, method):
    d, n = 2, 3
    l = conv(np.zeros((2, log_len(d, n, method, scalar_term and method == 0))), backend, np.float64)
    good = sig_len(d, n, scalar_term)
    other = sig_len(d, n, not scalar_term)  # the other layout
    for shape in [(2, good + 1), (3, good), (good,), (2, 1, good), (2, other)]:
        g = conv(np.zeros(shape), backend, np.float64)
        with pytest.raises(ValueError, match="sig_derivs"):
            sigrs.logsig_to_sig_backprop(l, g, d, n, method=method, scalar_term=scalar_term)


@pytest.mark.parametrize("bad", BAD_METHODS)
def test_logsig_to_sig_bad_method_is_an_error_naming_method(bad):
    l = np.zeros((2, 5))
    expected = TypeError if isinstance(bad, float) else ValueError
    with pytest.raises(expected, match="method"):
        sigrs.logsig_to_sig(l, 2, 3, method=bad)
    with pytest.raises(expected, match="method"):
        sigrs.logsig_to_sig_backprop(l, np.zeros((2, 14)), 2, 3, method=bad)


@needs_torch
def test_logsig_to_sig_mixing_numpy_and_torch_is_a_type_error():
    l = np.zeros((2, 5))
    g = np.zeros((2, 14))
    with pytest.raises(TypeError):
        sigrs.logsig_to_sig_backprop(l, torch.from_numpy(g), 2, 3)
    with pytest.raises(TypeError):
        sigrs.logsig_to_sig_backprop(torch.from_numpy(l), g, 2, 3)


@pytest.mark.parametrize("backend", ["numpy", "torch"] if torch is not None else ["numpy"])
def test_logsig_to_sig_bad_dtypes_and_flags_are_type_errors(backend):
    l = conv(np.zeros((2, 5)), backend, np.float64)
    li = np.zeros((2, 5), dtype=np.int64)
    li = torch.from_numpy(li) if backend == "torch" else li
    with pytest.raises(TypeError):
        sigrs.logsig_to_sig(li, 2, 3)
    with pytest.raises(TypeError):
        sigrs.logsig_to_sig_backprop(li, conv(np.zeros((2, 14)), backend, np.float64), 2, 3)
    with pytest.raises(TypeError, match="scalar_term"):
        sigrs.logsig_to_sig(l, 2, 3, scalar_term=1)
    with pytest.raises(TypeError, match="time_aug"):
        sigrs.logsig_to_sig(l, 2, 3, time_aug="yes")
    with pytest.raises(ValueError, match="degree"):
        sigrs.logsig_to_sig(l, 2, -1)
    with pytest.raises(ValueError, match="dimension"):
        sigrs.logsig_to_sig(l, -2, 3)
