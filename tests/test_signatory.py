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
# not implemented yet (log-signatures, issue 4)
# ---------------------------------------------------------------------------


def _logsig_calls(x):
    sig = ss.signature(x, 2)
    return {
        "logsignature": lambda: ss.logsignature(x, 2),
        "LogSignature": lambda: ss.LogSignature(2)(x),
        "LogSignature.prepare": lambda: ss.LogSignature(2).prepare(3),
        "Logsignature": lambda: ss.Logsignature(2)(x),
        "signature_to_logsignature": lambda: ss.signature_to_logsignature(sig, 3, 2),
        "SignatureToLogSignature": lambda: ss.SignatureToLogSignature(3, 2)(sig),
        "SignatureToLogsignature": lambda: ss.SignatureToLogsignature(3, 2)(sig),
        "Path.logsignature": lambda: ss.Path(x, 2).logsignature(),
        "unstable.lyndon_words_to_basis_transform": lambda: ss.unstable.lyndon_words_to_basis_transform(3, 2),
    }


@pytest.mark.parametrize("name", list(_logsig_calls(torch.zeros(1, 2, 3))))
def test_logsignature_pieces_raise_not_implemented(gen, name):
    call = _logsig_calls(_walk(gen, (2, 5, 3)))[name]
    with pytest.raises(NotImplementedError, match="issue 4"):
        call()


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
    }


_TYPE_ERRORS = {
    "depth float": lambda m: m.signature(torch.zeros(2, 5, 3), 2.0),
    "signature_channels float": lambda m: m.signature_channels(3.0, 2),
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
