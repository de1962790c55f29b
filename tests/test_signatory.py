"""Tests of ``sigrs.signatory``: signatory 1.2's API over sigrs.

Two kinds of tests:

* always run: the documented semantics of signatory (shapes per the docs'
  pseudocode, basepoint / inverse / initial / stream as transformations of
  the path checked against ``tests/reference.py``, Chen's identity for the
  combine functions and for ``Path``, gradients by ``gradcheck``, error
  types);
* when signatory itself imports: every function compared with signatory
  (outputs, gradients, error types). These are only defined when it does
  (the project's rule: skips are for a missing GPU only).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

import reference as ref
import sigrs
import sigrs.signatory as ss
from _util import F32_RTOL, F64_RTOL, assert_close

try:
    import signatory

    _HAS_SIGNATORY = True
except ImportError:  # pragma: no cover - depends on the environment
    signatory = None
    _HAS_SIGNATORY = False

DTYPES = [pytest.param(torch.float64, id="f64"), pytest.param(torch.float32, id="f32")]
BASEPOINTS = ["none", "zero", "tensor"]
N, L, C, DEPTH = 2, 5, 2, 3


def _rtol(dtype) -> float:
    return F64_RTOL if dtype == torch.float64 else F32_RTOL


def _walk(gen: torch.Generator, shape, dtype=torch.float64) -> torch.Tensor:
    """A random walk ``(..., length, channels)`` with O(1) range."""
    steps = torch.randn(shape, generator=gen, dtype=torch.float64) / np.sqrt(shape[-2])
    return steps.cumsum(-2).to(dtype)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(20240611)


def _options(gen, dtype, basepoint, initial, scalar_term, n=N, channels=C, depth=DEPTH):
    """basepoint and initial arguments of signature() for the test ids."""
    bp = {"none": False, "zero": True}.get(basepoint)
    if basepoint == "tensor":
        bp = torch.randn(n, channels, generator=gen, dtype=torch.float64).to(dtype)
    init = None
    if initial:
        prev = _walk(gen, (n, 4, channels))
        init = ref.sig(prev, depth, scalar_term=scalar_term).to(dtype)
    return bp, init


def _expected_signature(x, depth, stream, basepoint, inverse, initial, scalar_term):
    """signatory.signature's documented semantics, from the reference signature of
    explicitly transformed paths (float64)."""
    x = x.double()
    n, _, channels = x.shape
    if basepoint is True:
        x = torch.cat([torch.zeros(n, 1, channels, dtype=x.dtype), x], dim=1)
    elif isinstance(basepoint, torch.Tensor):
        x = torch.cat([basepoint.double()[:, None], x], dim=1)
    ends = range(2, x.shape[1] + 1) if stream else [x.shape[1]]
    rows = []
    for end in ends:
        piece = x[:, :end]
        if inverse:  # the inverse signature is the signature of the reversed path
            piece = piece.flip(1)
        s = ref.sig(piece, depth, scalar_term=True)
        if initial is not None:
            init = initial.double()
            if not scalar_term:
                init = torch.cat([torch.ones(n, 1, dtype=init.dtype), init], dim=1)
            pairs = [(s[b], init[b]) if inverse else (init[b], s[b]) for b in range(n)]
            s = torch.stack([ref.chen_combine(a, b, channels, depth, scalar_term=True) for a, b in pairs])
        rows.append(s if scalar_term else s[:, 1:])
    return torch.stack(rows, dim=1) if stream else rows[0]


def _call_signature(module, x, stream, bp, inverse, init, scalar_term):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # initial without basepoint warns, as in signatory
        return module.signature(x, DEPTH, stream, bp, inverse, init, scalar_term)


SIGNATURE_CASES = list(itertools.product([False, True], BASEPOINTS, [False, True], [False, True], [False, True]))
SIGNATURE_IDS = [
    f"{'stream' if s else 'whole'}-bp_{b}-{'inv' if i else 'fwd'}-{'init' if n else 'noinit'}"
    f"-{'scalar' if t else 'noscalar'}"
    for s, b, i, n, t in SIGNATURE_CASES
]


# ---------------------------------------------------------------------------
# signature: documented semantics
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stream,basepoint,inverse,initial,scalar_term", SIGNATURE_CASES, ids=SIGNATURE_IDS)
def test_signature_matches_transformed_reference_for_option(
    gen, dtype, stream, basepoint, inverse, initial, scalar_term
):
    x = _walk(gen, (N, L, C), dtype)
    bp, init = _options(gen, dtype, basepoint, initial, scalar_term)
    out = _call_signature(ss, x, stream, bp, inverse, init, scalar_term)
    assert out.dtype == dtype
    expected = _expected_signature(x, DEPTH, stream, bp, inverse, init, scalar_term)
    assert_close(out, expected, _rtol(dtype), "signature")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("basepoint", BASEPOINTS)
@pytest.mark.parametrize("scalar_term", [False, True])
def test_signature_shape_follows_documented_pseudocode(gen, stream, basepoint, scalar_term):
    n, length, channels, depth = 3, 7, 4, 3
    x = _walk(gen, (n, length, channels))
    bp, _ = _options(gen, torch.float64, basepoint, False, False, n=n, channels=channels)
    out = ss.signature(x, depth, stream=stream, basepoint=bp, scalar_term=scalar_term)
    channels_out = channels + channels**2 + channels**3 + (1 if scalar_term else 0)
    assert channels_out == ss.signature_channels(channels, depth, scalar_term)
    if stream:
        rows = length if basepoint != "none" else length - 1
        assert out.shape == (n, rows, channels_out)
    else:
        assert out.shape == (n, channels_out)


def test_signature_of_single_point_with_basepoint_is_the_straight_line(gen):
    x = _walk(gen, (3, 1, 2))
    bp = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    out = ss.signature(x, 4, basepoint=bp)
    lines = [ref.straight_line_signature((x[b, 0] - bp[b]).numpy(), 4) for b in range(3)]
    expected = torch.from_numpy(np.stack(lines))
    assert_close(out, expected, F64_RTOL)


def test_signature_treats_non_tensor_basepoint_and_initial_as_absent(gen):
    # signatory's reading: only True or a tensor is a basepoint, only a tensor is an initial
    x = _walk(gen, (2, 5, 3))
    plain = ss.signature(x, 3)
    assert torch.equal(ss.signature(x, 3, basepoint=None), plain)
    assert torch.equal(ss.signature(x, 3, basepoint=1), plain)
    with pytest.warns(UserWarning, match="basepoint"):
        assert torch.equal(ss.signature(x, 3, initial=np.zeros((2, 39))), plain)


def test_signature_with_initial_but_no_basepoint_warns_like_signatory(gen):
    x = _walk(gen, (2, 5, 3))
    initial = ss.signature(_walk(gen, (2, 4, 3)), 2)
    with pytest.warns(UserWarning, match="'initial' has been set but argument 'basepoint' has not"):
        ss.signature(x, 2, initial=initial)


def test_signature_accepts_non_contiguous_path(gen):
    x = _walk(gen, (5, 3, 2)).transpose(0, 1)  # (3, 5, 2), strided
    assert not x.is_contiguous()
    assert_close(ss.signature(x, 3), ref.sig(x.contiguous(), 3), F64_RTOL)


def test_signature_module_equals_function_and_reprs_like_signatory(gen):
    x = _walk(gen, (2, 6, 3))
    bp = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    layer = ss.Signature(3, stream=True, inverse=True, scalar_term=True)
    expected = ss.signature(x, 3, stream=True, basepoint=bp, inverse=True, scalar_term=True)
    assert torch.equal(layer(x, basepoint=bp), expected)
    assert repr(ss.Signature(2)) == "Signature(depth=2, stream=False, inverse=False)"
    assert isinstance(layer, torch.nn.Module)


# ---------------------------------------------------------------------------
# signature: gradients
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("scalar_term", [False, True])
def test_signature_gradcheck_wrt_path_basepoint_and_initial(gen, stream, inverse, scalar_term):
    x = _walk(gen, (2, 4, 2)).requires_grad_()
    bp = torch.randn(2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    init = ref.sig(_walk(gen, (2, 3, 2)), 2, scalar_term=scalar_term).requires_grad_()

    def f(x, bp, init):
        return ss.signature(x, 2, stream=stream, basepoint=bp, inverse=inverse, initial=init, scalar_term=scalar_term)

    assert torch.autograd.gradcheck(f, (x, bp, init))


@pytest.mark.parametrize("stream,basepoint,inverse,initial,scalar_term", SIGNATURE_CASES, ids=SIGNATURE_IDS)
def test_signature_gradient_matches_reference_autograd(gen, stream, basepoint, inverse, initial, scalar_term):
    x = _walk(gen, (N, L, C)).requires_grad_()
    bp, init = _options(gen, torch.float64, basepoint, initial, scalar_term)
    leaves = [x] + [t.requires_grad_() for t in (bp, init) if isinstance(t, torch.Tensor)]
    out = _call_signature(ss, x, stream, bp, inverse, init, scalar_term)
    weights = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    grads = torch.autograd.grad((out * weights).sum(), leaves)
    expected = _expected_signature(x, DEPTH, stream, bp, inverse, init, scalar_term)
    expected_grads = torch.autograd.grad((expected * weights).sum(), leaves)
    for leaf, g, e in zip(leaves, grads, expected_grads):
        if leaf is init and scalar_term:
            # the scalar term is read as the constant 1: it gets no gradient
            assert torch.count_nonzero(g[:, 0]) == 0
            g, e = g[:, 1:], e[:, 1:]
        assert_close(g, e, F64_RTOL, "gradient")


# ---------------------------------------------------------------------------
# signature_channels, extract_signature_term
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("channels,depth", [(1, 1), (1, 5), (2, 3), (3, 4), (5, 2)])
@pytest.mark.parametrize("scalar_term", [False, True])
def test_signature_channels_is_geometric_sum(channels, depth, scalar_term):
    expected = sum(channels**k for k in range(1, depth + 1)) + int(scalar_term)
    assert ss.signature_channels(channels, depth, scalar_term) == expected


@pytest.mark.parametrize("scalar_term", [False, True])
@pytest.mark.parametrize("stream", [False, True])
def test_extract_signature_term_returns_each_level(gen, scalar_term, stream):
    x = _walk(gen, (2, 6, 3))
    sig = ss.signature(x, 4, stream=stream, scalar_term=scalar_term)
    levels = ref.unflatten(ref.sig(x[0], 4, scalar_term=True), 3, 4, scalar_term=True)
    for depth in range(1, 5):
        term = ss.extract_signature_term(sig, 3, depth, scalar_term)
        assert term.shape == sig.shape[:-1] + (3**depth,)
        assert_close(term[0, -1] if stream else term[0], levels[depth].reshape(-1), F64_RTOL)
        assert torch.equal(term, sigrs.extract_sig_level(sig, 3, depth, scalar_term=scalar_term))


# ---------------------------------------------------------------------------
# signature_combine, multi_signature_combine
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar_term", [False, True])
def test_signature_combine_with_basepoint_equals_signature_of_concatenation(gen, dtype, scalar_term):
    x = _walk(gen, (3, 9, 2), dtype)
    x1, x2 = x[:, :4], x[:, 4:]
    s1 = ss.signature(x1, 4, scalar_term=scalar_term)
    s2 = ss.signature(x2, 4, basepoint=x1[:, -1], scalar_term=scalar_term)
    out = ss.signature_combine(s1, s2, 2, 4, scalar_term=scalar_term)
    assert_close(out, ss.signature(x, 4, scalar_term=scalar_term), _rtol(dtype))


@pytest.mark.parametrize("scalar_term", [False, True])
def test_signature_combine_of_inverses_is_inverse_of_concatenation(gen, scalar_term):
    x = _walk(gen, (3, 9, 2))
    x1, x2 = x[:, :4], x[:, 4:]
    s1 = ss.signature(x1, 3, inverse=True, scalar_term=scalar_term)
    s2 = ss.signature(x2, 3, basepoint=x1[:, -1], inverse=True, scalar_term=scalar_term)
    out = ss.signature_combine(s1, s2, 2, 3, inverse=True, scalar_term=scalar_term)
    assert_close(out, ss.signature(x, 3, inverse=True, scalar_term=scalar_term), F64_RTOL)
    # the order is S2^-1 (x) S1^-1
    assert_close(out, sigrs.sig_combine(s2, s1, 2, 3), F64_RTOL)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("pieces", [1, 2, 4])
def test_multi_signature_combine_equals_signature_of_concatenation(gen, inverse, pieces):
    x = _walk(gen, (2, 13, 3))
    cuts = np.linspace(0, 12, pieces + 1).astype(int)
    sigs = [ss.signature(x[:, : cuts[1] + 1], 3, inverse=inverse)]
    for a, b in zip(cuts[1:-1], cuts[2:]):
        sigs.append(ss.signature(x[:, a + 1:b + 1], 3, basepoint=x[:, a], inverse=inverse))
    out = ss.multi_signature_combine(sigs, 3, 3, inverse=inverse)
    assert_close(out, ss.signature(x, 3, inverse=inverse), F64_RTOL)


def test_signature_combine_gradcheck(gen):
    s1 = ref.sig(_walk(gen, (2, 4, 2)), 3).requires_grad_()
    s2 = ref.sig(_walk(gen, (2, 4, 2)), 3).requires_grad_()
    s3 = ref.sig(_walk(gen, (2, 4, 2)), 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: ss.signature_combine(a, b, 2, 3), (s1, s2))
    assert torch.autograd.gradcheck(lambda a, b: ss.signature_combine(a, b, 2, 3, inverse=True), (s1, s2))
    assert torch.autograd.gradcheck(lambda a, b, c: ss.multi_signature_combine([a, b, c], 2, 3), (s1, s2, s3))


def test_multi_signature_combine_of_one_signature_is_a_copy(gen):
    s = ss.signature(_walk(gen, (2, 4, 2)), 3)
    out = ss.multi_signature_combine([s], 2, 3)
    assert torch.equal(out, s) and out.data_ptr() != s.data_ptr()


# ---------------------------------------------------------------------------
# Path
# ---------------------------------------------------------------------------

QUERY_BOUNDS = [None, -20, -4, -1, 0, 1, 2, 5, 8, 20]


def _whole(path_obj, pieces, basepoint):
    """torch.cat(self.path, dim=1) of the docs, built independently."""
    parts = list(pieces)
    n, _, channels = parts[0].shape
    if basepoint is True:
        parts.insert(0, torch.zeros(n, 1, channels, dtype=parts[0].dtype))
    elif isinstance(basepoint, torch.Tensor):
        parts.insert(0, basepoint[:, None])
    return torch.cat(parts, dim=1)


@pytest.mark.parametrize("basepoint", BASEPOINTS)
@pytest.mark.parametrize("scalar_term", [False, True])
@pytest.mark.parametrize("remember_path", [True, False])
def test_path_signature_equals_signature_of_slice(gen, basepoint, scalar_term, remember_path):
    pieces = [_walk(gen, (2, 4, 2)), _walk(gen, (2, 1, 2)), _walk(gen, (2, 3, 2))]
    bp, _ = _options(gen, torch.float64, basepoint, False, False)
    p = ss.Path(pieces[0], 3, basepoint=bp, remember_path=remember_path, scalar_term=scalar_term)
    for piece in pieces[1:]:
        p.update(piece)
    whole = _whole(p, pieces, bp)
    length = whole.shape[1]
    assert p.shape == (2, length, 2) and p.size() == p.shape and p.size(1) == length
    assert p.signature_shape == (2, length - 1, ss.signature_channels(2, 3, scalar_term))
    if remember_path:
        assert torch.equal(torch.cat(p.path, dim=1), whole)
    for start, end in itertools.product(QUERY_BOUNDS, QUERY_BOUNDS):
        sliced = whole[:, start:end]
        if sliced.shape[1] < 2:
            with pytest.raises(ValueError, match="does not describe a valid interval"):
                p.signature(start, end)
            continue
        expected = ref.sig(sliced, 3, scalar_term=scalar_term)
        assert_close(p.signature(start, end), expected, 1e-9, f"Path.signature({start}, {end})")


@pytest.mark.parametrize("start,end", [(None, None), (0, 6), (3, 9), (2, -1), (5, 7), (-3, None)])
def test_path_signature_gradient_equals_gradient_of_slice_and_is_zero_outside(gen, start, end):
    x1 = _walk(gen, (2, 5, 3)).requires_grad_()
    x2 = _walk(gen, (2, 5, 3)).requires_grad_()
    bp = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    p = ss.Path(x1, 3, basepoint=bp)
    p.update(x2)
    out = p.signature(start, end)
    weights = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    grads = torch.autograd.grad((out * weights).sum(), (bp, x1, x2), allow_unused=True)
    whole = torch.cat([bp[:, None], x1, x2], dim=1)
    loss = (ss.signature(whole[:, start:end], 3) * weights).sum()
    expected = torch.autograd.grad(loss, (bp, x1, x2), allow_unused=True)
    for leaf, g, e in zip((bp, x1, x2), grads, expected):
        g = torch.zeros_like(leaf) if g is None else g
        e = torch.zeros_like(leaf) if e is None else e
        assert_close(g, e, 1e-9, "Path gradient")
        assert torch.equal(g == 0, e == 0)  # exactly zero outside the slice


def test_path_without_remembered_path_is_differentiable_through_prefixes(gen):
    x = _walk(gen, (2, 7, 2)).requires_grad_()
    p = ss.Path(x, 3, remember_path=False)
    assert not p.remember_path
    with pytest.raises(RuntimeError, match="remember_path=True"):
        p.path
    out = p.signature(2, 6)
    weights = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    (g,) = torch.autograd.grad((out * weights).sum(), x)
    (e,) = torch.autograd.grad((ss.signature(x[:, 2:6], 3) * weights).sum(), x)
    assert_close(g, e, 1e-9, "gradient through prefixes")


def test_path_gradcheck(gen):
    x1 = _walk(gen, (1, 4, 2)).requires_grad_()
    x2 = _walk(gen, (1, 3, 2)).requires_grad_()

    def f(x1, x2):
        p = ss.Path(x1, 2, basepoint=True)
        p.update(x2)
        return torch.cat([p.signature(), p.signature(2, 6), p.signature(-3)], dim=1)

    assert torch.autograd.gradcheck(f, (x1, x2))


def test_path_reports_sizes_and_channels(gen):
    p = ss.Path(_walk(gen, (3, 6, 4)), 3, scalar_term=True)
    assert p.depth == 3 and p.channels() == 4 and p.remember_path
    assert p.signature_channels() == ss.signature_channels(4, 3, scalar_term=True)
    assert p.logsignature_channels() == ss.logsignature_channels(4, 3)
    assert p.signature_size() == (3, 5, 85) and p.signature_size(-1) == 85
    assert p.logsignature_size() == (3, 5, p.logsignature_channels()) and p.logsignature_size(1) == 5


def test_path_indexes_batch_without_recomputing(gen):
    x = _walk(gen, (4, 6, 2))
    p = ss.Path(x, 3)
    for item, rows in [(1, [1]), (-1, [3]), (slice(1, 3), [1, 2]), ([0, 2], [0, 2]), (torch.tensor([3, 0]), [3, 0])]:
        q = p[item]
        assert q.size(0) == len(rows)
        assert_close(q.signature(1, 5), ref.sig(x[rows, 1:5], 3), 1e-9)
    assert p.size(0) == 4  # the original is unchanged
    shuffled, perm = p.shuffle()
    assert_close(shuffled.signature(), ref.sig(x[perm], 3), 1e-9)
    assert copy_equal(p)
    with pytest.raises(IndexError, match="valid indices"):
        p[0.5]
    with pytest.raises(IndexError, match="batch of size zero"):
        p[4:]


def copy_equal(p) -> bool:
    import copy

    q = copy.copy(p)
    return q == p and not (q != p)


def test_path_update_rejects_mismatched_batch_and_channels(gen):
    p = ss.Path(_walk(gen, (2, 5, 3)), 2)
    with pytest.raises(ValueError, match="different number of batch elements"):
        p.update(_walk(gen, (3, 5, 3)))
    with pytest.raises(ValueError, match="different number of channels"):
        p.update(_walk(gen, (2, 5, 2)))


# ---------------------------------------------------------------------------
# invert_signature, words, Augment
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_invert_signature_recovers_a_straight_line(gen, depth):
    start = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    step = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    line = torch.stack([start, start + step], dim=1)
    path = ss.invert_signature(ss.signature(line, depth), depth, 2, initial_position=start)
    expected = start[:, None] + step[:, None] * torch.linspace(0, 1, depth + 1, dtype=torch.float64)[None, :, None]
    assert path.shape == (3, depth + 1, 2) and path.dtype == torch.float64
    assert_close(path, expected, 1e-10)


def test_words_are_in_signatory_order_and_format():
    assert ss.all_words(2, 2) == [(0,), (1,), (0, 0), (0, 1), (1, 0), (1, 1)]
    assert ss.lyndon_words(2, 3) == [[0], [1], [0, 1], [0, 0, 1], [0, 1, 1]]
    assert ss.lyndon_brackets(2, 3) == [0, 1, [0, 1], [0, [0, 1]], [[0, 1], 1]]
    assert ss.lyndon_words(1, 4) == [[0]] and ss.lyndon_brackets(1, 4) == [0]
    assert len(ss.all_words(3, 4)) == ss.signature_channels(3, 4)


@pytest.mark.parametrize("channels,depth", [(1, 3), (2, 6), (3, 4), (4, 3), (5, 2)])
def test_lyndon_words_count_is_witt_formula_and_brackets_expand_to_them(channels, depth):
    words = ss.lyndon_words(channels, depth)
    assert len(words) == ss.logsignature_channels(channels, depth)
    assert words == sorted(words, key=lambda w: (len(w), w))

    def flat(b):
        return [b] if isinstance(b, int) else flat(b[0]) + flat(b[1])

    assert [flat(b) for b in ss.lyndon_brackets(channels, depth)] == words


def test_logsignature_channels_known_values():
    # Witt: 2 letters give 2, 1, 2, 3, 6 Lyndon words of lengths 1..5
    assert [ss.logsignature_channels(2, d) for d in range(1, 6)] == [2, 3, 5, 8, 14]
    assert ss.logsignature_channels(3, 4) == 3 + 3 + 8 + 18


def test_augment_stacks_original_time_and_network(gen):
    torch.manual_seed(0)
    aug = ss.Augment(3, (5, 4), kernel_size=3).double()
    x = _walk(gen, (2, 10, 3))
    out = aug(x)
    assert out.shape == (2, 8, 3 + 1 + 4)
    assert torch.equal(out[..., :3], x[:, 2:])
    assert_close(out[0, :, 3], torch.linspace(0, 1, 8), 1e-7)
    with pytest.raises(RuntimeError, match="three dimensions"):
        aug(x[0])


def test_max_parallelism_is_deprecated():
    with pytest.warns(DeprecationWarning):
        assert ss.max_parallelism() == ss.max_parallelism()


# ---------------------------------------------------------------------------
# log-signatures
# ---------------------------------------------------------------------------

MODES = ["words", "brackets", "expand"]
METHODS = {"expand": 0, "words": 1, "brackets": 2}  # sigrs.sig_to_log_sig's method of each mode
LC, LDEPTH = 3, 4  # 3 channels to depth 4: the first size where "brackets" differs from "words"
LOGSIG_CASES = list(itertools.product(MODES, [False, True], BASEPOINTS, [False, True]))
LOGSIG_IDS = [
    f"{m}-{'stream' if s else 'whole'}-bp_{b}-{'inv' if i else 'fwd'}" for m, s, b, i in LOGSIG_CASES
]
MODE_ERROR = "Invalid values for argument 'mode'. Valid values are 'expand', 'brackets', or 'words'."


def _logsig_channels(mode, channels=LC, depth=LDEPTH):
    if mode == "expand":
        return ss.signature_channels(channels, depth)
    return ss.logsignature_channels(channels, depth)


def _bracket_expansion(bracket):
    """The standard bracketing ``[u, v] = uv - vu`` of :func:`lyndon_brackets`, as {word: coefficient}."""
    if isinstance(bracket, int):
        return {(bracket,): 1}
    left, right = _bracket_expansion(bracket[0]), _bracket_expansion(bracket[1])
    out = {}
    for (a, ca), (b, cb) in itertools.product(left.items(), right.items()):
        out[a + b] = out.get(a + b, 0) + ca * cb
        out[b + a] = out.get(b + a, 0) - ca * cb
    return out


def _lyndon_basis_matrix(channels, depth):
    """(K, S): row i is the i-th Lyndon bracket expanded over all words, in signature order."""
    index = {word: i for i, word in enumerate(ss.all_words(channels, depth))}
    brackets = ss.lyndon_brackets(channels, depth)
    basis = torch.zeros(len(brackets), len(index), dtype=torch.float64)
    for i, bracket in enumerate(brackets):
        for word, coefficient in _bracket_expansion(bracket).items():
            basis[i, index[word]] = coefficient
    return basis


def _expected_logsignature(x, depth, stream, basepoint, inverse, mode):
    """logsignature's documented semantics: sigrs.log_sig of explicitly transformed paths (float64)."""
    x = x.double()
    n, _, channels = x.shape
    if basepoint is True:
        x = torch.cat([torch.zeros(n, 1, channels, dtype=x.dtype), x], dim=1)
    elif isinstance(basepoint, torch.Tensor):
        x = torch.cat([basepoint.double()[:, None], x], dim=1)
    ends = range(2, x.shape[1] + 1) if stream else [x.shape[1]]
    rows = []
    for end in ends:
        piece = x[:, :end].flip(1) if inverse else x[:, :end]  # the inverse signature: the reversed path
        rows.append(sigrs.log_sig(piece, depth, method=METHODS[mode]))
    return torch.stack(rows, dim=1) if stream else rows[0]


@pytest.mark.parametrize("mode,stream,basepoint,inverse", LOGSIG_CASES, ids=LOGSIG_IDS)
def test_logsignature_is_log_signature_of_the_transformed_path(gen, mode, stream, basepoint, inverse):
    x = _walk(gen, (N, L, LC))
    bp, _ = _options(gen, torch.float64, basepoint, False, False, channels=LC)
    out = ss.logsignature(x, LDEPTH, stream, bp, inverse, mode)
    rows = L - (basepoint == "none")
    assert out.shape == ((N, rows, _logsig_channels(mode)) if stream else (N, _logsig_channels(mode)))
    assert_close(out, _expected_logsignature(x, LDEPTH, stream, bp, inverse, mode), F64_RTOL, "logsignature")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("basepoint", BASEPOINTS)
@pytest.mark.parametrize("inverse", [False, True])
def test_logsignature_expand_is_sig_to_log_sig_of_the_signature(gen, dtype, stream, basepoint, inverse):
    x = _walk(gen, (N, L, LC), dtype)
    bp, _ = _options(gen, dtype, basepoint, False, False, channels=LC)
    out = ss.logsignature(x, LDEPTH, stream, bp, inverse, mode="expand")
    sig = ss.signature(x, LDEPTH, stream, bp, inverse)
    assert out.dtype == dtype and out.shape == sig.shape
    assert_close(out, sigrs.sig_to_log_sig(sig, LC, LDEPTH, method=0), _rtol(dtype), "expand")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("channels,depth", [(2, 5), (3, 4), (4, 3)])
def test_logsignature_words_and_brackets_are_coordinates_of_the_expanded_log(gen, stream, channels, depth):
    x = _walk(gen, (N, L, channels))
    expanded = ss.logsignature(x, depth, stream, mode="expand")
    words = ss.logsignature(x, depth, stream, mode="words")
    brackets = ss.logsignature(x, depth, stream, mode="brackets")
    # "words": the coefficients of the Lyndon words
    index = {word: i for i, word in enumerate(ss.all_words(channels, depth))}
    lyndon = [index[tuple(word)] for word in ss.lyndon_words(channels, depth)]
    assert_close(words, expanded[..., lyndon], F64_RTOL, "words")
    # "brackets": the coordinates in the Lyndon basis, which rebuild every word's coefficient
    rebuilt = brackets @ _lyndon_basis_matrix(channels, depth)
    assert_close(rebuilt, expanded, F64_RTOL, "brackets expanded")
    assert_close(rebuilt[..., lyndon], words, F64_RTOL, "brackets at the Lyndon words")


def test_logsignature_of_a_straight_line_is_its_increment(gen):
    x = _walk(gen, (3, 2, 3))
    out = ss.logsignature(x, 4, mode="expand")
    assert_close(out[:, :3], x[:, 1] - x[:, 0], F64_RTOL)
    assert torch.count_nonzero(out[:, 3:].abs() > 1e-15) == 0
    for mode in ("words", "brackets"):
        words = ss.logsignature(x, 4, mode=mode)
        assert_close(words[:, :3], x[:, 1] - x[:, 0], F64_RTOL)
        assert torch.count_nonzero(words[:, 3:].abs() > 1e-15) == 0


@pytest.mark.parametrize("mode", MODES)
def test_inverse_logsignature_is_minus_the_logsignature(gen, mode):
    x = _walk(gen, (N, 7, LC))
    assert_close(ss.logsignature(x, LDEPTH, inverse=True, mode=mode), -ss.logsignature(x, LDEPTH, mode=mode), F64_RTOL)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("inverse", [False, True])
def test_logsignature_gradcheck_wrt_path_and_basepoint(gen, mode, stream, inverse):
    x = _walk(gen, (2, 3, 3)).requires_grad_()
    bp = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, bp: ss.logsignature(x, 4, stream, bp, inverse, mode), (x, bp))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("scalar_term", [False, True])
def test_signature_to_logsignature_equals_logsignature(gen, mode, stream, scalar_term):
    x = _walk(gen, (N, L, LC))
    sig = ss.signature(x, LDEPTH, stream=stream, scalar_term=scalar_term)
    out = ss.signature_to_logsignature(sig, LC, LDEPTH, stream=stream, mode=mode, scalar_term=scalar_term)
    assert_close(out, ss.logsignature(x, LDEPTH, stream=stream, mode=mode), F64_RTOL)
    layer = ss.SignatureToLogSignature(LC, LDEPTH, stream=stream, mode=mode, scalar_term=scalar_term)
    assert torch.equal(layer(sig), out)
    assert ss.SignatureToLogsignature is ss.SignatureToLogSignature


@pytest.mark.parametrize("mode", MODES)
def test_signature_to_logsignature_ignores_the_scalar_term(gen, mode):
    # signatory reads the scalar term as 1 and gives it zero gradient
    sig = ss.signature(_walk(gen, (N, L, LC)), LDEPTH, stream=True, scalar_term=True)
    scaled = torch.cat([5 * torch.ones_like(sig[..., :1]), sig[..., 1:]], dim=-1).requires_grad_()
    out = ss.signature_to_logsignature(scaled, LC, LDEPTH, stream=True, mode=mode, scalar_term=True)
    assert torch.equal(out, ss.signature_to_logsignature(sig, LC, LDEPTH, stream=True, mode=mode, scalar_term=True))
    (grad,) = torch.autograd.grad(out.sum(), scaled)
    assert torch.count_nonzero(grad[..., 0]) == 0 and torch.count_nonzero(grad[..., 1:]) > 0


@pytest.mark.parametrize("scalar_term", [False, True])
def test_signature_to_logsignature_gradcheck(gen, scalar_term):
    sig = ss.signature(_walk(gen, (2, 3, 3, 2)).flatten(0, 1), 3, scalar_term=scalar_term).reshape(2, 3, -1)
    sig = sig.detach().requires_grad_()
    for mode in MODES:
        def f(s):
            return ss.signature_to_logsignature(s, 2, 3, stream=True, mode=mode, scalar_term=scalar_term)

        assert torch.autograd.gradcheck(f, (sig,))


def test_logsignature_module_equals_function_and_prepares_sigrs_tables(gen, monkeypatch):
    x = _walk(gen, (2, 6, LC))
    bp = torch.randn(2, LC, generator=gen, dtype=torch.float64)
    layer = ss.LogSignature(LDEPTH, stream=True, inverse=True, mode="brackets")
    expected = ss.logsignature(x, LDEPTH, stream=True, basepoint=bp, inverse=True, mode="brackets")
    assert torch.equal(layer(x, basepoint=bp), expected)
    assert ss.Logsignature is ss.LogSignature and isinstance(layer, torch.nn.Module)
    assert repr(ss.LogSignature(2)) == "LogSignature(depth=2, stream=False, inverse=False, mode='words')"
    calls = []
    monkeypatch.setattr(sigrs, "prepare_log_sig", lambda *args, **kwargs: calls.append(args))
    assert ss.LogSignature(3, mode="brackets").prepare(5) is None
    assert calls == [(5, 3, METHODS["brackets"])]


def test_bad_mode_raises_value_error_when_the_mode_is_used(gen):
    x = _walk(gen, (2, 5, 3))
    sig = ss.signature(x, 2)
    layer = ss.LogSignature(2, mode="bad")  # as signatory: constructing does not check the mode
    for call in [
        lambda: ss.logsignature(x, 2, mode="bad"),
        lambda: ss.logsignature(x, 2, mode="Words"),
        lambda: ss.logsignature(x, 2, mode=1),
        lambda: layer(x),
        lambda: layer.prepare(3),
        lambda: ss.signature_to_logsignature(sig, 3, 2, mode="lyndon"),
        lambda: ss.SignatureToLogSignature(3, 2, mode=None),
        lambda: ss.Path(x, 2).logsignature(mode="bad"),
    ]:
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == MODE_ERROR
    # the path is checked before the mode, as in signatory
    with pytest.raises(ValueError, match="3-dimensional"):
        ss.logsignature(x[0], 2, mode="bad")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scalar_term", [False, True])
@pytest.mark.parametrize("basepoint", BASEPOINTS)
def test_path_logsignature_equals_logsignature_of_slice(gen, mode, scalar_term, basepoint):
    pieces = [_walk(gen, (2, 4, LC)), _walk(gen, (2, 3, LC))]
    bp, _ = _options(gen, torch.float64, basepoint, False, False, channels=LC)
    p = ss.Path(pieces[0], LDEPTH, basepoint=bp, scalar_term=scalar_term)
    p.update(pieces[1])
    whole = _whole(p, pieces, bp)
    for start, end in [(None, None), (1, 5), (-3, None), (0, 2)]:
        out = p.logsignature(start, end, mode)
        assert out.shape == (2, _logsig_channels(mode))
        assert_close(out, ss.logsignature(whole[:, start:end], LDEPTH, mode=mode), 1e-9, f"({start}, {end})")
    with pytest.raises(ValueError, match="does not describe a valid interval"):
        p.logsignature(2, 3, mode)


def test_path_logsignature_gradient_equals_gradient_of_slice(gen):
    x1 = _walk(gen, (2, 5, LC)).requires_grad_()
    x2 = _walk(gen, (2, 4, LC)).requires_grad_()
    p = ss.Path(x1, LDEPTH)
    p.update(x2)
    out = p.logsignature(2, 8, mode="brackets")
    weights = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    grads = torch.autograd.grad((out * weights).sum(), (x1, x2))
    loss = (ss.logsignature(torch.cat([x1, x2], dim=1)[:, 2:8], LDEPTH, mode="brackets") * weights).sum()
    for g, e in zip(grads, torch.autograd.grad(loss, (x1, x2))):
        assert_close(g, e, 1e-9, "Path.logsignature gradient")


@pytest.mark.parametrize("channels,depth", [(1, 4), (2, 2), (2, 5), (2, 7), (3, 4), (3, 5), (4, 4)])
def test_lyndon_words_to_basis_transform_turns_words_into_brackets(gen, channels, depth):
    transform = ss.unstable.lyndon_words_to_basis_transform(channels, depth)
    assert isinstance(transform, list) and all(isinstance(group, list) for group in transform)
    x = _walk(gen, (2, 6, channels))
    words = ss.logsignature(x, depth, mode="words")
    out = words.clone()
    for group in transform:
        for source, target, coefficient in group:
            assert source < target and coefficient != 0
            out[:, target] -= coefficient * out[:, source]
    assert_close(out, ss.logsignature(x, depth, mode="brackets"), F64_RTOL)


def test_lyndon_words_to_basis_transform_known_values():
    assert ss.unstable.lyndon_words_to_basis_transform(2, 4) == [[]]
    assert ss.unstable.lyndon_words_to_basis_transform(2, 5) == [[(9, 10, -2)], [(11, 12, -3)], []]
    assert ss.unstable.lyndon_words_to_basis_transform(3, 4)[:2] == [[(9, 10, -1)], [(17, 18, -1), (18, 20, -1)]]


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

_S = 12  # signature_channels(3, 2)


def _bad_calls(m):
    """(name, call) pairs of bad input for module ``m`` (sigrs.signatory or signatory)."""
    x = torch.zeros(2, 5, 3)
    return {
        "path 2-D": lambda: m.signature(x[0], 2),
        "path 4-D": lambda: m.signature(x[None], 2),
        "zero batch": lambda: m.signature(x[:0], 2),
        "zero channels": lambda: m.signature(x[..., :0], 2),
        "one point without basepoint": lambda: m.signature(x[:, :1], 2),
        "depth 0": lambda: m.signature(x, 0),
        "integer path": lambda: m.signature(x.long(), 2),
        "float16 path": lambda: m.signature(x.half(), 2),
        "basepoint 1-D": lambda: m.signature(x, 2, basepoint=x[0, 0]),
        "basepoint shape": lambda: m.signature(x, 2, basepoint=x[:, 0, :2]),
        "basepoint dtype": lambda: m.signature(x, 2, basepoint=x[:, 0].double()),
        "initial 1-D": lambda: m.signature(x, 2, basepoint=True, initial=torch.zeros(_S)),
        "initial shape": lambda: m.signature(x, 2, basepoint=True, initial=torch.zeros(2, _S + 1)),
        "initial dtype": lambda: m.signature(x, 2, basepoint=True, initial=torch.zeros(2, _S, dtype=torch.float64)),
        "combine channels 0": lambda: m.signature_combine(torch.zeros(2, _S), torch.zeros(2, _S), 0, 2),
        "combine depth 0": lambda: m.signature_combine(torch.zeros(2, _S), torch.zeros(2, _S), 3, 0),
        "combine 1-D": lambda: m.signature_combine(torch.zeros(_S), torch.zeros(_S), 3, 2),
        "combine batch": lambda: m.signature_combine(torch.zeros(2, _S), torch.zeros(3, _S), 3, 2),
        "combine length": lambda: m.signature_combine(torch.zeros(2, _S), torch.zeros(2, _S + 1), 3, 2),
        "combine scalar_term": lambda: m.signature_combine(
            torch.zeros(2, _S), torch.zeros(2, _S), 3, 2, scalar_term=True
        ),
        "multi empty": lambda: m.multi_signature_combine([], 3, 2),
        "extract channels 0": lambda: m.extract_signature_term(torch.zeros(2, _S), 0, 2),
        "extract depth 0": lambda: m.extract_signature_term(torch.zeros(2, _S), 3, 0),
        "signature_channels 0": lambda: m.signature_channels(0, 2),
        "signature_channels depth 0": lambda: m.signature_channels(3, 0),
        "signature_channels overflow": lambda: m.signature_channels(10**6, 10),
        "Path depth 0": lambda: m.Path(x, 0),
        "Path one point": lambda: m.Path(x[:, :1], 2),
        "Path interval of one point": lambda: m.Path(x, 2).signature(1, 2),
        "Path empty interval": lambda: m.Path(x, 2).signature(3, 3),
        "Path reversed interval": lambda: m.Path(x, 2).signature(4, 1),
        "invert_signature shape": lambda: m.invert_signature(torch.zeros(2, _S), 3, 3),
        "lyndon_words channels 0": lambda: m.lyndon_words(0, 2),
        "lyndon_brackets depth 0": lambda: m.lyndon_brackets(2, 0),
        "logsignature_channels depth 0": lambda: m.logsignature_channels(2, 0),
        "logsignature path 2-D": lambda: m.logsignature(x[0], 2),
        "logsignature one point": lambda: m.logsignature(x[:, :1], 2),
        "logsignature depth 0": lambda: m.logsignature(x, 0),
        "logsignature mode": lambda: m.logsignature(x, 2, mode="bad"),
        "LogSignature mode": lambda: m.LogSignature(2, mode="bad")(x),
        "LogSignature prepare mode": lambda: m.LogSignature(2, mode="bad").prepare(3),
        "to_logsignature mode": lambda: m.signature_to_logsignature(torch.zeros(2, _S), 3, 2, mode="bad"),
        "to_logsignature channels 0": lambda: m.signature_to_logsignature(torch.zeros(2, _S), 0, 2),
        "to_logsignature depth 0": lambda: m.signature_to_logsignature(torch.zeros(2, _S), 3, 0),
        "to_logsignature 1-D": lambda: m.signature_to_logsignature(torch.zeros(_S), 3, 2),
        "to_logsignature 3-D": lambda: m.signature_to_logsignature(torch.zeros(2, 4, _S), 3, 2),
        "to_logsignature stream 2-D": lambda: m.signature_to_logsignature(torch.zeros(2, _S), 3, 2, stream=True),
        "to_logsignature zero batch": lambda: m.signature_to_logsignature(torch.zeros(0, _S), 3, 2),
        "to_logsignature zero stream": lambda: m.signature_to_logsignature(
            torch.zeros(2, 0, _S), 3, 2, stream=True
        ),
        "to_logsignature length": lambda: m.signature_to_logsignature(torch.zeros(2, _S + 1), 3, 2),
        "to_logsignature scalar_term": lambda: m.signature_to_logsignature(
            torch.zeros(2, _S), 3, 2, scalar_term=True
        ),
        "to_logsignature integer": lambda: m.signature_to_logsignature(torch.zeros(2, _S).long(), 3, 2),
        "SignatureToLogSignature mode": lambda: m.SignatureToLogSignature(3, 2, mode="expanded"),
        "SignatureToLogSignature channels 0": lambda: m.SignatureToLogSignature(0, 2),
        "Path.logsignature mode": lambda: m.Path(x, 2).logsignature(mode="bad"),
        "Path.logsignature interval": lambda: m.Path(x, 2).logsignature(1, 2),
        "basis_transform channels 0": lambda: m.unstable.lyndon_words_to_basis_transform(0, 2),
        "basis_transform depth 0": lambda: m.unstable.lyndon_words_to_basis_transform(2, 0),
    }


_TYPE_ERRORS = {
    "depth float": lambda m: m.signature(torch.zeros(2, 5, 3), 2.0),
    "signature_channels float": lambda m: m.signature_channels(3.0, 2),
    "logsignature depth float": lambda m: m.logsignature(torch.zeros(2, 5, 3), 2.0),
    "to_logsignature channels float": lambda m: m.signature_to_logsignature(torch.zeros(2, 12), 3.0, 2),
    "basis_transform depth float": lambda m: m.unstable.lyndon_words_to_basis_transform(3, 2.0),
}


@pytest.mark.parametrize("name", list(_bad_calls(ss)))
def test_bad_input_raises_value_error(name):
    with pytest.raises(ValueError):
        _bad_calls(ss)[name]()


@pytest.mark.parametrize("name", list(_TYPE_ERRORS))
def test_non_integer_sizes_raise_type_error(name):
    with pytest.raises(TypeError):
        _TYPE_ERRORS[name](ss)


def test_our_own_checks_for_what_signatory_left_to_chance(gen):
    x = torch.zeros(2, 5, 3)
    # signatory: IndexError from an internal transpose; here the documented ValueError
    with pytest.raises(ValueError, match="3-dimensional"):
        ss.signature(x[0, 0], 2)
    with pytest.raises(ValueError, match="3-dimensional"):
        ss.Path(x[0], 2)
    # signatory: AttributeError or ValueError from inside torch
    with pytest.raises(TypeError, match="torch.Tensor"):
        ss.signature(x.numpy(), 2)
    # signatory: RuntimeError from narrow
    with pytest.raises(ValueError, match="too few"):
        ss.extract_signature_term(torch.zeros(2, _S), 3, 3)
    # signatory: AttributeError; IndexError from a transpose
    with pytest.raises(TypeError, match="torch.Tensor"):
        ss.signature_to_logsignature(np.zeros((2, _S)), 3, 2)
    with pytest.raises(ValueError, match="3-dimensional"):
        ss.signature_to_logsignature(torch.zeros(_S), 3, 2, stream=True)
    # signatory computed log-signatures of float16 signatures; sigrs computes in float32 and float64 only
    with pytest.raises(ValueError, match="float32 or float64"):
        ss.signature_to_logsignature(torch.zeros(2, _S, dtype=torch.float16), 3, 2)


# ---------------------------------------------------------------------------
# against signatory itself, when it imports
# ---------------------------------------------------------------------------

if _HAS_SIGNATORY:

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("stream,basepoint,inverse,initial,scalar_term", SIGNATURE_CASES, ids=SIGNATURE_IDS)
    def test_signature_and_gradients_match_signatory(gen, dtype, stream, basepoint, inverse, initial, scalar_term):
        x = _walk(gen, (N, L, C), dtype)
        bp, init = _options(gen, dtype, basepoint, initial, scalar_term)

        def run(module):
            leaves = [t.detach().clone().requires_grad_() for t in (x, bp, init) if isinstance(t, torch.Tensor)]
            args = iter(leaves)
            xx = next(args)
            b = next(args) if isinstance(bp, torch.Tensor) else bp
            i = next(args) if init is not None else None
            out = _call_signature(module, xx, stream, b, inverse, i, scalar_term)
            weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).reshape(out.shape)
            return out, torch.autograd.grad((out * weights).sum(), leaves)

        out, grads = run(ss)
        expected, expected_grads = run(signatory)
        assert out.shape == expected.shape and out.dtype == expected.dtype
        assert_close(out, expected, _rtol(dtype), "signature")
        for g, e in zip(grads, expected_grads):
            assert_close(g, e, 10 * _rtol(dtype), "gradient")

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("inverse", [False, True])
    @pytest.mark.parametrize("scalar_term", [False, True])
    @pytest.mark.parametrize("count", [1, 2, 3])
    def test_combine_matches_signatory(gen, dtype, inverse, scalar_term, count):
        x = _walk(gen, (3, 3 * count + 1, 2), dtype)
        sigs = [signatory.signature(x[:, :4], 3, inverse=inverse, scalar_term=scalar_term)]
        for k in range(1, count):
            sigs.append(
                signatory.signature(x[:, 3 * k + 1:3 * k + 4], 3, basepoint=x[:, 3 * k], inverse=inverse,
                                    scalar_term=scalar_term)
            )

        def run(module):
            leaves = [s.detach().clone().requires_grad_() for s in sigs]
            if count == 2:
                out = module.signature_combine(leaves[0], leaves[1], 2, 3, inverse, scalar_term)
            else:
                out = module.multi_signature_combine(leaves, 2, 3, inverse, scalar_term)
            weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).reshape(out.shape)
            return out, torch.autograd.grad((out * weights).sum(), leaves)

        out, grads = run(ss)
        expected, expected_grads = run(signatory)
        assert_close(out, expected, _rtol(dtype), "combine")
        for g, e in zip(grads, expected_grads):
            assert_close(g, e, 10 * _rtol(dtype), "combine gradient")

    @pytest.mark.parametrize("basepoint", BASEPOINTS)
    @pytest.mark.parametrize("scalar_term", [False, True])
    def test_path_matches_signatory(gen, basepoint, scalar_term):
        pieces = [_walk(gen, (2, 4, 2)), _walk(gen, (2, 1, 2)), _walk(gen, (2, 3, 2))]
        bp, _ = _options(gen, torch.float64, basepoint, False, False)
        ours = ss.Path(pieces[0], 3, basepoint=bp, scalar_term=scalar_term)
        theirs = signatory.Path(pieces[0], 3, basepoint=bp, scalar_term=scalar_term)
        for piece in pieces[1:]:
            ours.update(piece)
            theirs.update(piece)
        assert ours.shape == theirs.shape and ours.signature_shape == theirs.signature_shape
        assert ours.logsignature_shape == theirs.logsignature_shape
        assert ours.signature_channels() == theirs.signature_channels()
        assert ours.logsignature_channels() == theirs.logsignature_channels()
        assert len(ours.path) == len(theirs.path)
        for start, end in itertools.product(QUERY_BOUNDS, QUERY_BOUNDS):
            try:
                expected = theirs.signature(start, end)
            except ValueError as err:
                with pytest.raises(ValueError) as ours_err:
                    ours.signature(start, end)
                assert str(ours_err.value) == str(err)
                continue
            assert_close(ours.signature(start, end), expected, 1e-10, f"Path.signature({start}, {end})")
        for item in [0, slice(0, 1), [1, 0]]:
            assert_close(ours[item].signature(1, -1), theirs[item].signature(1, -1), 1e-10)

    def test_path_gradients_match_signatory(gen):
        x1 = _walk(gen, (2, 5, 3))
        x2 = _walk(gen, (2, 4, 3))
        bp = torch.randn(2, 3, generator=gen, dtype=torch.float64)

        def run(module, start, end):
            leaves = [t.detach().clone().requires_grad_() for t in (x1, x2, bp)]
            p = module.Path(leaves[0], 3, basepoint=leaves[2])
            p.update(leaves[1])
            out = p.signature(start, end)
            weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
            grads = torch.autograd.grad((out * weights).sum(), leaves, allow_unused=True)
            return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves)]

        for start, end in [(None, None), (2, 8), (0, 4), (6, None), (-4, -1)]:
            for g, e in zip(run(ss, start, end), run(signatory, start, end)):
                assert_close(g, e, 1e-9, "Path gradient")

    @pytest.mark.parametrize("channels,depth", [(1, 1), (1, 4), (2, 1), (2, 5), (3, 4), (4, 3)])
    def test_sizes_and_words_match_signatory(channels, depth):
        for scalar_term in (False, True):
            assert ss.signature_channels(channels, depth, scalar_term) == signatory.signature_channels(
                channels, depth, scalar_term
            )
        assert ss.logsignature_channels(channels, depth) == signatory.logsignature_channels(channels, depth)
        assert ss.all_words(channels, depth) == signatory.all_words(channels, depth)
        assert ss.lyndon_words(channels, depth) == signatory.lyndon_words(channels, depth)
        assert ss.lyndon_brackets(channels, depth) == signatory.lyndon_brackets(channels, depth)

    @pytest.mark.parametrize("scalar_term", [False, True])
    def test_extract_signature_term_matches_signatory(gen, scalar_term):
        sig = signatory.signature(_walk(gen, (2, 6, 3)), 4, stream=True, scalar_term=scalar_term)
        for depth in range(1, 5):
            expected = signatory.extract_signature_term(sig, 3, depth, scalar_term)
            assert torch.equal(ss.extract_signature_term(sig, 3, depth, scalar_term), expected)

    @pytest.mark.parametrize("depth", [1, 2, 3, 5])
    def test_invert_signature_matches_signatory(gen, depth):
        sig = signatory.signature(_walk(gen, (3, 8, 2), torch.float32), depth)
        initial = torch.randn(3, 2, generator=gen)
        for init in (None, initial):
            expected = signatory.invert_signature(sig, depth, 2, init)
            assert_close(ss.invert_signature(sig, depth, 2, init), expected, 1e-5, "invert_signature")

    def test_modules_and_augment_match_signatory(gen):
        x = _walk(gen, (2, 9, 3), torch.float32)
        for kwargs in [dict(), dict(stream=True, inverse=True, scalar_term=True)]:
            ours, theirs = ss.Signature(3, **kwargs), signatory.Signature(3, **kwargs)
            assert repr(ours) == repr(theirs)
            assert_close(ours(x, basepoint=True), theirs(x, basepoint=True), F32_RTOL)
        for kwargs in [dict(), dict(include_original=False, include_time=False, stride=2, padding=1)]:
            torch.manual_seed(3)
            ours = ss.Augment(3, (5, 4), kernel_size=3, **kwargs)
            torch.manual_seed(3)
            theirs = signatory.Augment(3, (5, 4), kernel_size=3, **kwargs)
            assert repr(ours) == repr(theirs)
            assert torch.equal(ours(x), theirs(x))

    @pytest.mark.parametrize("name", list(_bad_calls(ss)))
    def test_bad_input_raises_the_error_type_of_signatory(name):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(Exception) as theirs:
                _bad_calls(signatory)[name]()
            with pytest.raises(Exception) as ours:
                _bad_calls(ss)[name]()
        assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)

    @pytest.mark.parametrize("name", list(_TYPE_ERRORS))
    def test_non_integer_sizes_raise_type_error_like_signatory(name):
        with pytest.raises(TypeError):
            _TYPE_ERRORS[name](signatory)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("mode,stream,basepoint,inverse", LOGSIG_CASES, ids=LOGSIG_IDS)
    def test_logsignature_and_gradients_match_signatory(gen, dtype, mode, stream, basepoint, inverse):
        x = _walk(gen, (N, L, LC), dtype)
        bp, _ = _options(gen, dtype, basepoint, False, False, channels=LC)

        def run(module):
            leaves = [t.detach().clone().requires_grad_() for t in (x, bp) if isinstance(t, torch.Tensor)]
            b = leaves[1] if isinstance(bp, torch.Tensor) else bp
            out = module.logsignature(leaves[0], LDEPTH, stream, b, inverse, mode)
            weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).reshape(out.shape)
            return out, torch.autograd.grad((out * weights).sum(), leaves)

        out, grads = run(ss)
        expected, expected_grads = run(signatory)
        assert out.shape == expected.shape and out.dtype == expected.dtype
        assert_close(out, expected, _rtol(dtype), "logsignature")
        for g, e in zip(grads, expected_grads):
            assert_close(g, e, 10 * _rtol(dtype), "logsignature gradient")

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("stream", [False, True])
    @pytest.mark.parametrize("scalar_term", [False, True])
    def test_signature_to_logsignature_and_gradients_match_signatory(gen, dtype, mode, stream, scalar_term):
        sig = signatory.signature(_walk(gen, (N, L, LC), dtype), LDEPTH, stream=stream, scalar_term=scalar_term)

        def run(module):
            leaf = sig.detach().clone().requires_grad_()
            out = module.signature_to_logsignature(leaf, LC, LDEPTH, stream, mode, scalar_term)
            weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).reshape(out.shape)
            return out, torch.autograd.grad((out * weights).sum(), leaf)[0]

        out, grad = run(ss)
        expected, expected_grad = run(signatory)
        assert out.shape == expected.shape and out.dtype == expected.dtype
        assert_close(out, expected, _rtol(dtype), "signature_to_logsignature")
        assert_close(grad, expected_grad, 10 * _rtol(dtype), "signature_to_logsignature gradient")

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("basepoint", BASEPOINTS)
    @pytest.mark.parametrize("scalar_term", [False, True])
    def test_path_logsignature_and_gradients_match_signatory(gen, mode, basepoint, scalar_term):
        x1, x2 = _walk(gen, (2, 5, LC)), _walk(gen, (2, 3, LC))
        bp, _ = _options(gen, torch.float64, basepoint, False, False, channels=LC)

        def run(module, start, end):
            leaves = [t.detach().clone().requires_grad_() for t in (x1, x2)]
            p = module.Path(leaves[0], LDEPTH, basepoint=bp, scalar_term=scalar_term)
            p.update(leaves[1])
            out = p.logsignature(start, end, mode)
            weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
            grads = torch.autograd.grad((out * weights).sum(), leaves, allow_unused=True)
            return out, [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves)]

        for start, end in [(None, None), (1, 6), (-4, None), (3, -1)]:
            out, grads = run(ss, start, end)
            expected, expected_grads = run(signatory, start, end)
            assert_close(out, expected, 1e-10, f"Path.logsignature({start}, {end})")
            for g, e in zip(grads, expected_grads):
                assert_close(g, e, 1e-9, "Path.logsignature gradient")

    def test_logsignature_modules_match_signatory(gen):
        x = _walk(gen, (2, 6, LC))
        sig = signatory.signature(x, LDEPTH, stream=True)
        for kwargs in [dict(), dict(stream=True, inverse=True, mode="brackets")]:
            ours, theirs = ss.LogSignature(LDEPTH, **kwargs), signatory.LogSignature(LDEPTH, **kwargs)
            assert repr(ours) == repr(theirs)
            assert_close(ours(x, basepoint=True), theirs(x, basepoint=True), F64_RTOL)
            assert repr(ours) == repr(theirs)  # now with the SignatureToLogSignature child
            ours.prepare(2)
            theirs.prepare(2)
            assert repr(ours) == repr(theirs)
        for kwargs in [dict(), dict(stream=True, mode="expand", scalar_term=False)]:
            ours = ss.SignatureToLogSignature(LC, LDEPTH, **kwargs)
            theirs = signatory.SignatureToLogSignature(LC, LDEPTH, **kwargs)
            assert repr(ours) == repr(theirs)
        layer = ss.SignatureToLogSignature(LC, LDEPTH, stream=True)
        assert_close(layer(sig), signatory.SignatureToLogSignature(LC, LDEPTH, stream=True)(sig), F64_RTOL)

    @pytest.mark.parametrize("channels,depth", [(1, 3), (2, 4), (2, 6), (2, 8), (3, 5), (4, 4), (4, 5), (5, 4)])
    def test_lyndon_words_to_basis_transform_matches_signatory_without_zero_coefficients(channels, depth):
        # signatory also lists some (source, target, 0) where its bracket expansion cancels: no-ops
        expected = [
            [t for t in group if t[2] != 0]
            for group in signatory.unstable.lyndon_words_to_basis_transform(channels, depth)
        ]
        assert ss.unstable.lyndon_words_to_basis_transform(channels, depth) == expected
