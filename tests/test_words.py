"""Word utilities: words, words_of_length, word_to_idx, idx_to_word."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import reference as ref
from _util import make_path

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)


def _as_tuples(ws):
    return [tuple(int(c) for c in w) for w in ws]


@pytest.mark.parametrize("alphabet_size", [1, 2, 3, 4])
@pytest.mark.parametrize("max_length", [0, 1, 2, 3])
def test_words_lists_all_words_in_signature_order_with_empty_word_first(alphabet_size, max_length):
    ws = sigrs.words(alphabet_size, max_length)
    assert all(isinstance(w, tuple) for w in ws)
    assert _as_tuples(ws) == ref.all_words(alphabet_size, max_length)
    assert ws[0] == ()
    assert len(ws) == ref.sig_length(alphabet_size, max_length, scalar_term=True)


@pytest.mark.parametrize("alphabet_size", [1, 2, 3])
@pytest.mark.parametrize("length", [0, 1, 2, 4])
def test_words_of_length_lists_lexicographic_words_of_exact_length(alphabet_size, length):
    ws = sigrs.words_of_length(alphabet_size, length)
    assert all(isinstance(w, tuple) for w in ws)
    expected = list(itertools.product(range(alphabet_size), repeat=length))
    assert _as_tuples(ws) == expected
    assert _as_tuples(ws) == sorted(_as_tuples(ws))


def test_words_is_concatenation_of_words_of_length():
    for d in (1, 2, 3):
        joined = []
        for k in range(0, 4):
            joined.extend(_as_tuples(sigrs.words_of_length(d, k)))
        assert _as_tuples(sigrs.words(d, 3)) == joined


@pytest.mark.parametrize("alphabet_size", [1, 2, 3, 4])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_word_to_idx_gives_position_in_flattened_signature(alphabet_size, scalar_term):
    ws = ref.all_words(alphabet_size, 4)
    if not scalar_term:
        ws = ws[1:]
    for pos, w in enumerate(ws):
        assert sigrs.word_to_idx(w, alphabet_size, scalar_term=scalar_term) == pos, w
        assert sigrs.word_to_idx(w, alphabet_size, scalar_term=scalar_term) == \
            ref.word_index(w, alphabet_size, scalar_term)


@pytest.mark.parametrize("alphabet_size", [1, 2, 3, 5])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_idx_to_word_and_word_to_idx_are_inverse(alphabet_size, scalar_term):
    n = ref.sig_length(alphabet_size, 4, scalar_term=scalar_term)
    for idx in range(n):
        w = sigrs.idx_to_word(idx, alphabet_size, scalar_term=scalar_term)
        assert isinstance(w, tuple)
        assert sigrs.word_to_idx(w, alphabet_size, scalar_term=scalar_term) == idx
    for w in ref.all_words(alphabet_size, 3)[(0 if scalar_term else 1):]:
        idx = sigrs.word_to_idx(w, alphabet_size, scalar_term=scalar_term)
        assert tuple(sigrs.idx_to_word(idx, alphabet_size, scalar_term=scalar_term)) == w


def test_empty_word_is_index_zero_with_scalar_term():
    assert sigrs.word_to_idx((), 3, scalar_term=True) == 0
    assert tuple(sigrs.idx_to_word(0, 3, scalar_term=True)) == ()


def test_word_indices_pick_matching_signature_coefficients(rng):
    """sig[word_to_idx(w)] is the iterated integral of w: check on a hand-computable path."""
    # right by 1 then up by 2 (axis-parallel): S(0)=1, S(1)=2, S(00)=1/2, S(01)=2, S(10)=0, S(11)=2
    x = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    s = sigrs.sig(x, 2)
    expected = {(0,): 1.0, (1,): 2.0, (0, 0): 0.5, (0, 1): 2.0, (1, 0): 0.0, (1, 1): 2.0}
    for w, v in expected.items():
        assert s[sigrs.word_to_idx(w, 2)] == pytest.approx(v, abs=1e-14)
    s1 = sigrs.sig(x, 2, scalar_term=True)
    for w, v in expected.items():
        assert s1[sigrs.word_to_idx(w, 2, scalar_term=True)] == pytest.approx(v, abs=1e-14)
    # and on a random path against the reference levels
    y = make_path(rng, (6, 3))
    levels = ref.signature_levels(y, 3)
    sy = sigrs.sig(y, 3)
    for w in ref.all_words(3, 3)[1:]:
        assert sy[sigrs.word_to_idx(w, 3)] == pytest.approx(levels[len(w)][w], rel=1e-10,
                                                            abs=1e-12)


@pytest.mark.parametrize("word", [(2,), (0, 2), (-1,), (1, -1, 0), (0, 0, 5)])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_word_to_idx_rejects_letters_outside_alphabet(word, scalar_term):
    with pytest.raises(ValueError, match="word"):
        sigrs.word_to_idx(word, 2, scalar_term=scalar_term)


def test_word_to_idx_rejects_empty_word_without_scalar_term():
    with pytest.raises(ValueError, match="word"):
        sigrs.word_to_idx((), 2)
    with pytest.raises(ValueError, match="word"):
        sigrs.word_to_idx((), 2, scalar_term=False)


def test_idx_to_word_rejects_negative_index():
    # Run in a subprocess: a naive divmod loop never terminates on a negative index
    # (pysiglib 4.0 hangs on idx_to_word(-1, 2, scalar_term=True)), and a hang must
    # fail this test rather than the whole suite.
    code = textwrap.dedent(
        """
        import sigrs
        for scalar_term in (False, True):
            try:
                sigrs.idx_to_word(-1, 2, scalar_term=scalar_term)
            except ValueError as e:
                assert "idx" in str(e), f"message does not name idx: {e}"
            else:
                raise SystemExit(f"no ValueError for scalar_term={scalar_term}")
        """
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("sigrs.idx_to_word(-1, ...) did not return within 60 s")
    assert proc.returncode == 0, proc.stderr + proc.stdout


@pytest.mark.parametrize("func", ["words", "words_of_length"])
def test_word_generators_reject_negative_arguments(func):
    f = getattr(sigrs, func)
    with pytest.raises(ValueError):
        f(-1, 2)
    with pytest.raises(ValueError):
        f(2, -1)
