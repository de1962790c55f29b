"""Signature coefficients at words: sigrs.sig_coef and sig_coef_backprop.

Witnesses: the reference signature (short words), pysiglib's sig_coef and
sig_coef_backprop (words of any length), algebraic identities that need no
signature at all (the shuffle product, a straight line's closed form, Chen's
identity across a split path), finite differences (torch gradcheck), and
bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from _util import (
    OPTION_COMBOS,
    OPTION_IDS,
    assert_close,
    make_path,
    peer,
    rtol_for,
    to_numpy,
    torch,
)

import sigrs  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Detected a non-contiguous or view-based array")

BACKENDS = ["numpy", "torch"]
DTYPES = [np.float64, np.float32]
DTYPE_IDS = ["f64", "f32"]


def conv(x, backend, dtype=np.float64):
    x = np.ascontiguousarray(np.asarray(x, dtype=dtype))
    return torch.from_numpy(x) if backend == "torch" else x


def aug(dim, opts):
    return (2 * dim if opts.get("lead_lag") else dim) + (1 if opts.get("time_aug") else 0)


def random_words(rng, dim, count, max_len, *, empty=True):
    words = [tuple(int(c) for c in rng.integers(0, dim, rng.integers(1, max_len + 1))) for _ in range(count)]
    if empty:
        words.insert(count // 2, ())
    words.append(words[0])  # a repeat
    return words


# --- forward ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("opts", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("prefixes", [False, True], ids=["final", "prefixes"])
def test_matches_reference(rng, backend, dtype, opts, prefixes):
    x = make_path(rng, (3, 7, 2))
    d = aug(2, opts)
    words = random_words(rng, d, 6, 4)
    opts = dict(opts, end_time=1.7)
    out = sigrs.sig_coef(conv(x, backend, dtype), words, prefixes=prefixes, **opts)
    expected = ref.sig_coef(x, words, prefixes=prefixes, **opts)
    assert tuple(out.shape) == expected.shape
    assert type(out) is type(conv(x, backend))
    assert out.dtype == conv(x, backend, dtype).dtype
    assert_close(out, expected, rtol_for(dtype), "sig_coef")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("opts", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("dim,max_len", [(3, 8), (10, 12)])
def test_matches_pysiglib_for_long_words(rng, backend, opts, dim, max_len):
    """Words far beyond any signature that fits in memory (length 12 in dimension 10)."""
    pysiglib = peer("pysiglib")
    x = make_path(rng, (5, 30, dim))
    d = aug(dim, opts)
    words = random_words(rng, d, 8, max_len) + [tuple(int(c) for c in rng.integers(0, d, max_len))]
    for prefixes in (False, True):
        out = sigrs.sig_coef(conv(x, backend), words, prefixes=prefixes, **opts)
        expected = pysiglib.sig_coef(x, words, prefixes=prefixes, **opts)
        assert_close(out, expected, 1e-12, f"prefixes={prefixes}")


@pytest.mark.parametrize("batch_shape", [(), (4,), (2, 3)], ids=["nobatch", "b4", "b2x3"])
@pytest.mark.parametrize("n_jobs", [1, 2, -1])
def test_batch_shapes_and_threads(rng, batch_shape, n_jobs):
    x = make_path(rng, batch_shape + (9, 3))
    words = random_words(rng, 3, 5, 4)
    out = sigrs.sig_coef(x, words, n_jobs=n_jobs)
    assert out.shape == batch_shape + (len(words),)
    assert_close(out, ref.sig_coef(x, words), 1e-12)
    single = sigrs.sig_coef(x, (0, 2, 1), n_jobs=n_jobs)
    assert single.shape == batch_shape + (1,)


def test_many_words_few_paths_split_over_threads(rng):
    """With fewer path groups than threads, words are split between workers."""
    x = make_path(rng, (1, 40, 4))
    words = random_words(rng, 4, 37, 5)
    expected = sigrs.sig_coef(x, words, n_jobs=1)
    assert_close(sigrs.sig_coef(x, words, n_jobs=4), expected, 1e-14)
    c = sigrs.sig_coef(x, words, prefixes=True)
    g = rng.standard_normal(c.shape)
    assert_close(sigrs.sig_coef_backprop(x, words, c, g, n_jobs=4), sigrs.sig_coef_backprop(x, words, c, g, n_jobs=1), 1e-13)


def test_degenerate_paths():
    words = [(0,), (), (1, 0)]
    one_point = np.zeros((2, 1, 2))
    np.testing.assert_array_equal(sigrs.sig_coef(one_point, words), [[0.0, 1.0, 0.0]] * 2)
    np.testing.assert_array_equal(sigrs.sig_coef(one_point, words, prefixes=True), [[0.0, 1.0, 0.0, 0.0]] * 2)
    empty_batch = np.zeros((0, 5, 2))
    assert sigrs.sig_coef(empty_batch, words).shape == (0, 3)
    np.testing.assert_array_equal(sigrs.sig_coef_backprop(one_point, words, np.zeros((2, 4)), np.ones((2, 4))), 0.0)


# --- identities --------------------------------------------------------------------


def test_shuffle_identity_for_long_words(rng):
    """S^u S^v = sum over the shuffles w of u and v of S^w, here with |u| = |v| = 6 in dimension 10:
    924 words of length 12, whose signature would have 10^12 entries."""
    x = make_path(rng, (2, 25, 10))
    u, v = (3, 1, 4, 1, 5, 9), (2, 6, 5, 3, 5, 8)
    shuffled = ref.shuffles(u, v)
    assert len(shuffled) == math.comb(12, 6)
    uv = sigrs.sig_coef(x, [u, v])
    total = sigrs.sig_coef(x, shuffled).sum(axis=-1)
    assert_close(total, uv[:, 0] * uv[:, 1], 1e-11)


def test_straight_line_closed_form(rng):
    """A straight line with increment a has S^w = prod_j a_{w_j} / len(w)!."""
    a = rng.standard_normal(4)
    x = np.stack([np.zeros(4), a])
    x = np.concatenate([x[:1], (x[:1] + np.linspace(0, 1, 7)[:, None] * a)])  # same line, 7 pieces
    words = [tuple(int(c) for c in rng.integers(0, 4, k)) for k in (1, 3, 7, 11)]
    expected = [np.prod(a[list(w)]) / math.factorial(len(w)) for w in words]
    assert_close(sigrs.sig_coef(x, words), np.array(expected), 1e-13)


def test_chen_identity_across_a_split(rng):
    """S(x * y)^w = sum over the splits w = p q of S(x)^p S(y)^q."""
    x = make_path(rng, (3, 20, 3))
    head, tail = x[:, :11], x[:, 10:]
    w = (2, 0, 0, 1, 2, 1, 0)
    pre = [w[:k] for k in range(len(w) + 1)]
    suf = [w[k:] for k in range(len(w) + 1)]
    a = sigrs.sig_coef(head, pre)
    b = sigrs.sig_coef(tail, suf)
    assert_close(sigrs.sig_coef(x, w)[:, 0], (a * b).sum(axis=-1), 1e-12)


# --- gradients ----------------------------------------------------------------------


@pytest.mark.parametrize("opts", OPTION_COMBOS, ids=OPTION_IDS)
def test_backprop_matches_pysiglib(rng, opts):
    pysiglib = peer("pysiglib")
    x = make_path(rng, (5, 12, 3))
    opts = dict(opts, end_time=2.0)
    words = random_words(rng, aug(3, opts), 7, 6)
    coefs = sigrs.sig_coef(x, words, prefixes=True, **opts)
    derivs = rng.standard_normal(coefs.shape)
    expected = pysiglib.sig_coef_backprop(x, words, coefs, derivs.copy(), **opts)
    before = derivs.copy()
    grad = sigrs.sig_coef_backprop(x, words, coefs, derivs, **opts)
    np.testing.assert_array_equal(derivs, before)  # unlike pysiglib, derivs is left alone
    assert_close(grad, expected, 1e-11)


@pytest.mark.parametrize("opts", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("prefixes", [False, True], ids=["final", "prefixes"])
def test_gradcheck(rng, opts, prefixes):
    x = torch.tensor(make_path(rng, (2, 5, 2)), requires_grad=True)
    words = [(0, 1, 1), (), (aug(2, opts) - 1, 0), (1,), (0, 1, 1)]
    fn = lambda t: sigrs.sig_coef(t, words, prefixes=prefixes, end_time=1.3, **opts)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-9, rtol=1e-7)


def test_backprop_against_reference_autograd(rng):
    """The explicit backprop equals torch autograd through the reference signature."""
    x = make_path(rng, (3, 8, 2))
    words = [(0, 1), (1, 1, 0), (1,), ()]
    coefs = sigrs.sig_coef(x, words, prefixes=True, lead_lag=True)
    derivs = rng.standard_normal(coefs.shape)
    t = torch.tensor(x, requires_grad=True)
    full = ref.sig(t, 3, lead_lag=True, scalar_term=True)
    index = [ref.word_index(w[:k], 4, scalar_term=True) for w in words for k in (range(1, len(w) + 1) if w else [0])]
    expected = full[..., index]
    (expected * torch.from_numpy(derivs)).sum().backward()
    assert_close(sigrs.sig_coef_backprop(x, words, coefs, derivs, lead_lag=True), t.grad, 1e-11)


def test_torch_backward_matches_explicit_backprop(rng):
    x = make_path(rng, (4, 10, 3))
    words = random_words(rng, 3, 5, 5)
    t = torch.tensor(x, requires_grad=True)
    out = sigrs.sig_coef(t, words, time_aug=True)
    g = rng.standard_normal(out.shape)
    out.backward(torch.from_numpy(g))
    # the explicit API wants the prefixes layout: scatter g onto each word's last prefix
    coefs = sigrs.sig_coef(x, words, prefixes=True, time_aug=True)
    full = np.zeros(coefs.shape)
    ends = np.cumsum([max(len(w), 1) for w in words]) - 1
    full[:, ends] = g
    assert_close(t.grad, sigrs.sig_coef_backprop(x, words, coefs, full, time_aug=True), 1e-12)
    tb = sigrs.sig_coef_backprop(torch.from_numpy(x), words, torch.from_numpy(coefs), torch.from_numpy(full), time_aug=True)
    assert isinstance(tb, torch.Tensor)
    assert_close(tb, t.grad, 1e-12)


def test_float32_gradient(rng):
    x = make_path(rng, (3, 9, 2)).astype(np.float32)
    words = [(0, 1, 0), (1,)]
    c = sigrs.sig_coef(x, words, prefixes=True)
    g = np.ones_like(c)
    grad = sigrs.sig_coef_backprop(x, words, c, g)
    assert grad.dtype == np.float32
    expected = sigrs.sig_coef_backprop(x.astype(np.float64), words, c.astype(np.float64), g.astype(np.float64))
    assert_close(grad, expected, 1e-4)


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "words,error,match",
    [
        ([(0, 3)], ValueError, r"letters of words must lie in \[0, 3\).*got 3"),
        ((0, -1), ValueError, r"\[0, 3\).*got -1"),
        ([(0.5,)], TypeError, "letters of words must be ints, got float"),
        ([(True,)], TypeError, "must be ints, got bool"),
        ([0, 1], TypeError, "each word in words must be a tuple or list of ints, got int"),
        ("01", TypeError, "words must be a word"),
        (np.array([[0, 1]]), TypeError, "words must be a word"),
        ([], ValueError, "at least one word"),
    ],
)
def test_bad_words(words, error, match):
    x = np.zeros((2, 4, 3))
    with pytest.raises(error, match=match):
        sigrs.sig_coef(x, words)


def test_letters_index_the_transformed_path():
    x = np.random.default_rng(0).standard_normal((4, 2))
    sigrs.sig_coef(x, [(4,)], lead_lag=True, time_aug=True)  # channel 4 is time
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        sigrs.sig_coef(x, [(5,)], lead_lag=True, time_aug=True)


def test_bad_backprop_arguments(rng):
    x = make_path(rng, (2, 6, 2))
    words = [(0, 1), (1,)]
    coefs = sigrs.sig_coef(x, words, prefixes=True)
    without = sigrs.sig_coef(x, words)
    with pytest.raises(ValueError, match=r"coefs must have shape \(2, 3\).*prefixes=True.*got \(2, 2\)"):
        sigrs.sig_coef_backprop(x, words, without, np.ones_like(without))
    with pytest.raises(ValueError, match=r"derivs must have shape \(2, 3\)"):
        sigrs.sig_coef_backprop(x, words, coefs, np.ones((3, 3)))
    with pytest.raises(TypeError, match="derivs must have the dtype of path"):
        sigrs.sig_coef_backprop(x, words, coefs, np.ones((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="coefs must be a NumPy array like path"):
        sigrs.sig_coef_backprop(x, words, torch.from_numpy(coefs), np.ones((2, 3)))
    with pytest.raises(TypeError, match="prefixes"):
        sigrs.sig_coef(x, words, prefixes=1)
    with pytest.raises(ValueError, match="n_jobs"):
        sigrs.sig_coef(x, words, n_jobs=0)
    with pytest.raises(ValueError, match="path must have at least 2 dimensions"):
        sigrs.sig_coef(np.zeros(3), words)


def test_values_not_just_shapes(rng):
    """A hand-computed case: (0,0) -> (1,0) -> (1,2)."""
    x = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    out = sigrs.sig_coef(x, [(0, 1), (1, 0), (0, 0), (1, 1, 1), ()], prefixes=True)
    np.testing.assert_allclose(out, [1.0, 2.0, 2.0, 0.0, 1.0, 0.5, 2.0, 2.0, 8.0 / 6.0, 1.0], rtol=1e-15)
    assert to_numpy(out).shape == (10,)


def test_torch_compile_fullgraph(rng):
    x = torch.tensor(make_path(rng, (3, 12, 3)), requires_grad=True)
    words = [(0, 1), (2,), (1, 1, 0), ()]
    compiled = torch.compile(lambda t: (sigrs.sig_coef(t, words, lead_lag=True) ** 2).sum(), fullgraph=True)
    compiled(x).backward()
    got = x.grad.clone()
    x.grad = None
    (sigrs.sig_coef(x, words, lead_lag=True) ** 2).sum().backward()
    assert_close(got, x.grad, 1e-14)
