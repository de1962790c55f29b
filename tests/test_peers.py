"""sigrs against peer libraries (iisignature, pysiglib) used as oracles.

Each test skips on its own when the peer it needs is not installed; CI
installs both.
"""

from __future__ import annotations

import numpy as np
import pytest

from _util import (
    OPTION_COMBOS,
    OPTION_IDS,
    as_backend,
    assert_close,
    make_path,
    peer,
    to_numpy,
    transform_cases,
)

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)

# pysiglib warns (once) when handed arrays that do not own their memory; irrelevant here
pytestmark = pytest.mark.filterwarnings("ignore:Detected a non-contiguous or view-based array")



def _tol(np_dtype):
    return 1e-10 if np.dtype(np_dtype) == np.float64 else 1e-4


# ---------------------------------------------------------------------------
# iisignature
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dimension", [1, 2, 3, 4])
@pytest.mark.parametrize("degree", [1, 2, 3, 5])
def test_sig_matches_iisignature(rng, np_dtype, dimension, degree):
    iisignature = peer("iisignature")
    x = make_path(rng, (3, 7, dimension), np_dtype)
    expected = iisignature.sig(x.astype(np.float64), degree)
    assert_close(sigrs.sig(x, degree), expected, _tol(np_dtype))


@pytest.mark.parametrize("options", OPTION_COMBOS[1:], ids=OPTION_IDS[1:])
def test_transformed_sig_matches_iisignature_of_transformed_path(rng, options):
    iisignature = peer("iisignature")
    x = make_path(rng, (2, 6, 3))
    transformed = sigrs.transform_path(x, end_time=2.0, **options)
    expected = iisignature.sig(np.ascontiguousarray(transformed), 3)
    assert_close(sigrs.sig(x, 3, end_time=2.0, **options), expected, 1e-10)


def test_sig_backprop_matches_iisignature_sigbackprop(rng):
    iisignature = peer("iisignature")
    x = make_path(rng, (2, 6, 3))
    s = sigrs.sig(x, 3)
    g = rng.standard_normal(s.shape)
    expected = np.stack([iisignature.sigbackprop(g[b], x[b], 3) for b in range(2)])
    # iisignature.sigbackprop returns float32 whatever the input precision
    assert_close(sigrs.sig_backprop(x, s, g, 3), expected, 1e-6)


# ---------------------------------------------------------------------------
# pysiglib
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", transform_cases())
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("dimension,degree", [(1, 4), (2, 3), (3, 4)])
def test_sig_matches_pysiglib(rng, backend, np_dtype, options, scalar_term, dimension, degree):
    pysiglib = peer("pysiglib")
    x = as_backend(make_path(rng, (3, 6, dimension), np_dtype), backend)
    kw = dict(scalar_term=scalar_term, **options)
    out = sigrs.sig(x, degree, **kw)
    expected = pysiglib.sig(x, degree, **kw)
    assert type(out) is type(expected)
    assert out.dtype == expected.dtype
    assert_close(out, expected, _tol(np_dtype))


@pytest.mark.parametrize("options", transform_cases((1.0, 0.5)))
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_sig_backprop_matches_pysiglib(rng, backend, np_dtype, options, scalar_term):
    pysiglib = peer("pysiglib")
    x = as_backend(make_path(rng, (3, 5, 2), np_dtype), backend)
    kw = dict(options)
    s = sigrs.sig(x, 3, scalar_term=scalar_term, **kw)
    g = as_backend(rng.standard_normal(tuple(s.shape)).astype(np_dtype), backend)
    out = sigrs.sig_backprop(x, s, g, 3, **kw)
    expected = pysiglib.sig_backprop(x, s, g, 3, **kw)
    assert tuple(out.shape) == tuple(x.shape)
    assert out.dtype == expected.dtype
    assert_close(out, expected, _tol(np_dtype))


@pytest.mark.parametrize("options", OPTION_COMBOS[1:], ids=OPTION_IDS[1:])
@pytest.mark.parametrize("end_time", [1.0, 4.0])
def test_transform_path_matches_pysiglib(rng, backend, np_dtype, options, end_time):
    pysiglib = peer("pysiglib")
    x = as_backend(make_path(rng, (3, 5, 2), np_dtype), backend)
    out = sigrs.transform_path(x, end_time=end_time, **options)
    expected = pysiglib.transform_path(x, end_time=end_time, **options)
    assert tuple(out.shape) == tuple(expected.shape)
    assert_close(out, expected, _tol(np_dtype))


@pytest.mark.parametrize("options", OPTION_COMBOS[1:], ids=OPTION_IDS[1:])
def test_transform_path_backprop_matches_pysiglib(rng, backend, np_dtype, options):
    pysiglib = peer("pysiglib")
    x = make_path(rng, (3, 5, 2), np_dtype)
    shape = tuple(sigrs.transform_path(x, **options).shape)
    g = as_backend(rng.standard_normal(shape).astype(np_dtype), backend)
    out = sigrs.transform_path_backprop(g, end_time=1.0, **options)
    expected = pysiglib.transform_path_backprop(g, end_time=1.0, **options)
    assert tuple(out.shape) == tuple(expected.shape) == x.shape
    assert_close(out, expected, _tol(np_dtype))


@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("scalar_term", [False, True])
def test_sig_length_matches_pysiglib(options, scalar_term):
    pysiglib = peer("pysiglib")
    for d in range(1, 6):
        for n in range(0, 6):
            assert sigrs.sig_length(d, n, scalar_term=scalar_term, **options) == \
                pysiglib.sig_length(d, n, scalar_term=scalar_term, **options), (d, n)


@pytest.mark.parametrize("alphabet_size", [1, 2, 3])
@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_words_utilities_match_pysiglib(alphabet_size, length):
    pysiglib = peer("pysiglib")
    assert list(sigrs.words(alphabet_size, length)) == list(pysiglib.words(alphabet_size, length))
    assert list(sigrs.words_of_length(alphabet_size, length)) == \
        list(pysiglib.words_of_length(alphabet_size, length))


@pytest.mark.parametrize("alphabet_size", [1, 2, 3, 4])
@pytest.mark.parametrize("scalar_term", [False, True])
def test_word_index_conversions_match_pysiglib(alphabet_size, scalar_term):
    pysiglib = peer("pysiglib")
    ws = list(pysiglib.words(alphabet_size, 3))
    if not scalar_term:
        ws = ws[1:]
    for w in ws:
        idx = sigrs.word_to_idx(w, alphabet_size, scalar_term=scalar_term)
        assert idx == pysiglib.word_to_idx(w, alphabet_size, scalar_term=scalar_term), w
        assert tuple(sigrs.idx_to_word(idx, alphabet_size, scalar_term=scalar_term)) == \
            tuple(pysiglib.idx_to_word(idx, alphabet_size, scalar_term=scalar_term))


def test_word_index_matches_pysiglib_signature_coefficients(rng):
    """The coefficient sigrs.sig(x)[word_to_idx(w)] is pysiglib's coefficient of w."""
    pysiglib = peer("pysiglib")
    x = make_path(rng, (6, 3))
    ours = sigrs.sig(x, 3)
    theirs = pysiglib.sig(x, 3)
    for w in sigrs.words(3, 3)[1:]:
        i = sigrs.word_to_idx(w, 3)
        assert abs(ours[i] - theirs[pysiglib.word_to_idx(w, 3)]) < 1e-12


def test_empty_batch_and_length_one_match_pysiglib(backend):
    pysiglib = peer("pysiglib")
    empty = as_backend(np.zeros((0, 4, 2)), backend)
    assert tuple(sigrs.sig(empty, 3).shape) == tuple(pysiglib.sig(empty, 3).shape)
    one = as_backend(np.ones((2, 1, 2)), backend)
    np.testing.assert_array_equal(to_numpy(sigrs.sig(one, 3, scalar_term=True)),
                                  to_numpy(pysiglib.sig(one, 3, scalar_term=True)))
