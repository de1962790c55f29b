"""Products of log-signatures (log_sig_combine, log_sig_join, linear_log_sig, their
backprops) and the log-signature streams: against pysiglib, against log_sig of
the concatenated / extended / windowed paths, torch autograd, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import sigrs
from _util import assert_close, peer, rtol_for, to_numpy

torch = pytest.importorskip("torch")

SPACES = [(2, 5), (3, 4), (5, 3)]


@pytest.fixture(scope="module")
def pysiglib():
    lib = peer("pysiglib")
    for d, n in SPACES + [(2, 3), (2, 4), (3, 3), (4, 3), (6, 2), (10, 2)]:
        lib.prepare_log_sig(d, n, method=2)
        lib.prepare_log_sig(d, n, method=3)
    return lib


def _as(x, dtype, backend):
    x = np.asarray(x, dtype=dtype)
    return torch.from_numpy(x) if backend == "torch" else x


def _lyndon(rng, batch, d, degree, scale=0.4):
    """Random log-signatures (Lyndon coordinates) of actual paths."""
    paths = rng.standard_normal((*batch, 6, d)) * scale
    return sigrs.log_sig(paths, degree, method=2)


# --- log_sig_combine -------------------------------------------------------------


@pytest.mark.parametrize("d,degree", SPACES)
@pytest.mark.parametrize("batch", [(), (4,), (2, 3)], ids=["single", "b4", "b2x3"])
def test_log_sig_combine_matches_pysiglib(rng, pysiglib, d, degree, batch, np_dtype, backend):
    a, b = _lyndon(rng, batch, d, degree), _lyndon(rng, batch, d, degree)
    expected = pysiglib.log_sig_combine(a, b, d, degree)
    got = sigrs.log_sig_combine(_as(a, np_dtype, backend), _as(b, np_dtype, backend), d, degree)
    assert got.dtype == _as(a, np_dtype, backend).dtype
    assert_close(got, expected, rtol_for(np_dtype), "log_sig_combine")


@pytest.mark.parametrize("opts", [dict(time_aug=True), dict(lead_lag=True), dict(time_aug=True, lead_lag=True)],
                         ids=["time", "leadlag", "both"])
def test_log_sig_combine_with_transforms_matches_pysiglib_and_the_whole_path(rng, pysiglib, opts):
    d, degree = 2, 3
    x = rng.standard_normal((3, 12, d))
    # the pieces' log-signatures of the transformed path, computed on its own
    aug = sigrs.transform_path(x, **opts)
    k = aug.shape[-2] // 2
    a = sigrs.log_sig(aug[:, :k + 1], degree, method=2)
    b = sigrs.log_sig(aug[:, k:], degree, method=2)
    got = sigrs.log_sig_combine(a, b, d, degree, **opts)
    assert_close(got, pysiglib.log_sig_combine(a, b, d, degree, **opts), 1e-10, "transforms vs pysiglib")
    assert_close(got, sigrs.log_sig(aug, degree, method=2), 1e-10, "transforms vs the whole path")


@pytest.mark.parametrize("d,degree", SPACES)
@pytest.mark.parametrize("k", [1, 7, 13])
def test_combining_the_pieces_gives_the_log_signature_of_the_path(rng, d, degree, k):
    x = rng.standard_normal((2, 15, d)) * 0.5
    for method in (2, 3):
        a, b = sigrs.log_sig(x[:, :k + 1], degree, method=method), sigrs.log_sig(x[:, k:], degree, method=method)
        assert_close(sigrs.log_sig_combine(a, b, d, degree), sigrs.log_sig(x, degree, method=2), 1e-10, f"k={k}")


def test_log_sig_combine_is_associative_and_has_zero_and_negatives(rng):
    d, degree = 3, 4
    a, b, c = (_lyndon(rng, (3,), d, degree) for _ in range(3))
    ab_c = sigrs.log_sig_combine(sigrs.log_sig_combine(a, b, d, degree), c, d, degree)
    a_bc = sigrs.log_sig_combine(a, sigrs.log_sig_combine(b, c, d, degree), d, degree)
    assert_close(ab_c, a_bc, 1e-10, "associativity")
    assert_close(sigrs.log_sig_combine(a, np.zeros_like(a), d, degree), a, 1e-14, "zero is the unit")
    assert np.abs(sigrs.log_sig_combine(a, -a, d, degree)).max() < 1e-12  # exp(-L) = exp(L)^-1


@pytest.mark.filterwarnings("ignore:Detected a non-contiguous")  # pysiglib copies the sliced input
def test_log_sig_combine_accepts_a_leading_extra_entry_like_pysiglib(rng, pysiglib):
    d, degree = 2, 3
    a, b = _lyndon(rng, (2,), d, degree), _lyndon(rng, (2,), d, degree)
    padded = np.concatenate([np.full((2, 1), 7.0), a], axis=-1)
    assert_close(sigrs.log_sig_combine(padded, b, d, degree), sigrs.log_sig_combine(a, b, d, degree), 0, "padded")
    assert_close(sigrs.log_sig_combine(padded, b, d, degree), pysiglib.log_sig_combine(padded, b, d, degree), 1e-10)


@pytest.mark.parametrize("d,degree", [(2, 5), (4, 3)])
def test_log_sig_combine_backprop_matches_pysiglib_and_autograd(rng, pysiglib, d, degree, np_dtype):
    a, b = _lyndon(rng, (3,), d, degree), _lyndon(rng, (3,), d, degree)
    g = rng.standard_normal(a.shape)
    e1, e2 = pysiglib.log_sig_combine_backprop(g, a, b, d, degree)
    g1, g2 = sigrs.log_sig_combine_backprop(g.astype(np_dtype), a.astype(np_dtype), b.astype(np_dtype), d, degree)
    assert_close(g1, e1, rtol_for(np_dtype), "d ls1")
    assert_close(g2, e2, rtol_for(np_dtype), "d ls2")
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    (sigrs.log_sig_combine(ta, tb, d, degree) * torch.from_numpy(g)).sum().backward()
    assert_close(ta.grad, e1, 1e-10, "autograd ls1")
    assert_close(tb.grad, e2, 1e-10, "autograd ls2")
    t1, t2 = sigrs.log_sig_combine_backprop(torch.from_numpy(g), torch.from_numpy(a), torch.from_numpy(b), d, degree)
    assert isinstance(t1, torch.Tensor) and isinstance(t2, torch.Tensor)
    assert_close(t1, e1, 1e-10, "torch backprop ls1")


@pytest.mark.parametrize("d,degree", [(2, 4), (3, 3)])
def test_log_sig_combine_passes_gradcheck(rng, d, degree):
    a, b = (torch.tensor(_lyndon(rng, (2,), d, degree), requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(lambda x, y: sigrs.log_sig_combine(x, y, d, degree), (a, b))


# --- log_sig_join ------------------------------------------------------------------


@pytest.mark.parametrize("d,degree", SPACES)
@pytest.mark.parametrize("batch", [(), (5,), (2, 2)], ids=["single", "b5", "b2x2"])
def test_log_sig_join_matches_pysiglib(rng, pysiglib, d, degree, batch, np_dtype, backend):
    ls, v = _lyndon(rng, batch, d, degree), rng.standard_normal((*batch, d))
    expected = pysiglib.log_sig_join(ls, v, d, degree)
    got = sigrs.log_sig_join(_as(ls, np_dtype, backend), _as(v, np_dtype, backend), d, degree)
    assert_close(got, expected, rtol_for(np_dtype), "log_sig_join")


@pytest.mark.parametrize("d,degree", SPACES)
def test_joining_a_segment_gives_the_log_signature_of_the_extended_path(rng, d, degree):
    x = rng.standard_normal((3, 9, d)) * 0.5
    joined = sigrs.log_sig_join(sigrs.log_sig(x[:, :-1], degree, method=2), x[:, -1] - x[:, -2], d, degree)
    assert_close(joined, sigrs.log_sig(x, degree, method=2), 1e-10, "join")
    # and join equals combine with the segment's log-signature
    seg = sigrs.linear_log_sig(x[:, -1] - x[:, -2], d, degree, method=2)
    assert_close(joined, sigrs.log_sig_combine(sigrs.log_sig(x[:, :-1], degree, method=2), seg, d, degree), 1e-12)


@pytest.mark.parametrize("d,degree", [(2, 5), (3, 3)])
def test_log_sig_join_backprop_matches_pysiglib_and_autograd(rng, pysiglib, d, degree, np_dtype):
    ls, v = _lyndon(rng, (4,), d, degree), rng.standard_normal((4, d))
    g = rng.standard_normal(ls.shape)
    e_ls, e_v = pysiglib.log_sig_join_backprop(g, ls, v, d, degree)
    g_ls, g_v = sigrs.log_sig_join_backprop(g.astype(np_dtype), ls.astype(np_dtype), v.astype(np_dtype), d, degree)
    assert_close(g_ls, e_ls, rtol_for(np_dtype), "d log_sig")
    assert_close(g_v, e_v, rtol_for(np_dtype), "d displacement")
    t_ls, t_v = torch.tensor(ls, requires_grad=True), torch.tensor(v, requires_grad=True)
    (sigrs.log_sig_join(t_ls, t_v, d, degree) * torch.from_numpy(g)).sum().backward()
    assert_close(t_ls.grad, e_ls, 1e-10, "autograd log_sig")
    assert_close(t_v.grad, e_v, 1e-10, "autograd displacement")


def test_log_sig_join_passes_gradcheck(rng):
    d, degree = 3, 3
    ls = torch.tensor(_lyndon(rng, (2,), d, degree), requires_grad=True)
    v = torch.tensor(rng.standard_normal((2, d)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: sigrs.log_sig_join(x, y, d, degree), (ls, v))


# --- linear_log_sig ----------------------------------------------------------------


@pytest.mark.parametrize("method", [0, 1, 2, 3])
@pytest.mark.parametrize("scalar_term", [False, True])
@pytest.mark.parametrize("degree", [0, 1, 3])
def test_linear_log_sig_and_backprop_match_pysiglib(rng, pysiglib, method, scalar_term, degree, np_dtype, backend):
    d = 3
    v = rng.standard_normal((2, 4, d)).astype(np_dtype)
    expected = pysiglib.linear_log_sig(v, d, degree, method=method, scalar_term=scalar_term)
    got = sigrs.linear_log_sig(_as(v, np_dtype, backend), d, degree, method=method, scalar_term=scalar_term)
    assert got.dtype == _as(v, np_dtype, backend).dtype
    assert_close(got, expected, 0, "linear_log_sig")
    g = rng.standard_normal(expected.shape).astype(np_dtype)
    e_v = pysiglib.linear_log_sig_backprop(g, v, d, degree, method=method, scalar_term=scalar_term)
    got_v = sigrs.linear_log_sig_backprop(_as(g, np_dtype, backend), _as(v, np_dtype, backend), d, degree,
                                          method=method, scalar_term=scalar_term)
    assert_close(got_v, e_v, 0, "linear_log_sig_backprop")


@pytest.mark.parametrize("method", [0, 1, 2, "hall"])
def test_linear_log_sig_is_the_log_signature_of_the_segment(rng, method):
    d, degree = 3, 4
    v = rng.standard_normal((5, d))
    segment = np.stack([np.zeros_like(v), v], axis=-2)
    assert_close(sigrs.linear_log_sig(v, d, degree, method=method),
                 sigrs.log_sig(segment, degree, method=method), 1e-12, f"method {method}")


def test_linear_log_sig_of_cumulative_displacements_combines_to_the_path(rng):
    # the piecewise-linear path through the cumulative sums of the displacements
    d, degree = 2, 4
    steps = rng.standard_normal((6, d)) * 0.5
    path = np.concatenate([np.zeros((1, d)), np.cumsum(steps, axis=0)])
    pieces = sigrs.linear_log_sig(steps, d, degree, method=2)
    acc = pieces[0]
    for piece in pieces[1:]:
        acc = sigrs.log_sig_combine(acc, piece, d, degree)
    assert_close(acc, sigrs.log_sig(path, degree, method=2), 1e-10, "cumulative")


def test_linear_log_sig_gradients_flow(rng):
    v = torch.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: sigrs.linear_log_sig(x, 3, 3, method=0, scalar_term=True), (v,))
    out = sigrs.linear_log_sig(v, 3, 3)
    g = torch.randn(out.shape, dtype=out.dtype)
    (out * g).sum().backward()
    assert_close(v.grad, sigrs.linear_log_sig_backprop(g, v.detach(), 3, 3), 0, "autograd vs backprop")


# --- streams -----------------------------------------------------------------------


def test_log_sig_stream_answers_every_interval_as_log_sig_does(rng, np_dtype, backend):
    d, degree = 3, 3
    path = rng.standard_normal((2, 40, d)) * 0.5
    stream = sigrs.LogSigStream(d, degree)
    stream.push_batch(_as(path[:, :15], np_dtype, backend))
    for i in range(15, 20):
        stream.push(_as(path[:, i], np_dtype, backend))
    stream.push_batch(_as(path[:, 20:], np_dtype, backend))
    assert stream.size == 40 and stream.end_index == 39 and stream.batch_shape == (2,)
    rtol = rtol_for(np_dtype)
    for a, b in [(0, 39), (5, 30), (17, 18), (20, 20), (0, 0), (14, 16)]:
        assert_close(stream.sig(a, b), sigrs.log_sig(path[:, a:b + 1], degree, method=2), rtol, f"[{a}, {b}]")
    intervals = [(0, 9), (3, 33), (25, 39)]
    expected = np.stack([sigrs.log_sig(path[:, a:b + 1], degree, method=2) for a, b in intervals])
    assert_close(stream.sig_batch(intervals), expected, rtol, "sig_batch")
    prefixes = np.stack([sigrs.log_sig(path[:, :t + 1], degree, method=2) for t in range(40)])
    assert_close(stream.sig_all(), prefixes, rtol, "sig_all")
    stream.pop_front(10)
    assert stream.start_index == 10 and stream.size == 30
    assert_close(stream.sig(12, 35), sigrs.log_sig(path[:, 12:36], degree, method=2), rtol, "after pop_front")
    assert_close(stream.sig_all(), prefixes[10:], rtol, "sig_all stays relative to point 0")
    sub = stream.select_batch(1)
    sub.push(_as(path[1, -1] + 0.3, np_dtype, backend))
    extended = np.concatenate([path[1], path[1, -1:] + 0.3])
    assert_close(sub.sig(11, 40), sigrs.log_sig(extended[11:41], degree, method=2), rtol, "select_batch then push")


def test_log_sig_stream_numbers_every_point_unlike_pysiglib(rng, pysiglib):
    # pysiglib's code gives a push_batch of n points one index; sigrs (and
    # pysiglib's documentation) give each point its own.
    d, degree = 3, 3
    path = rng.standard_normal((30, d))
    ours, theirs = sigrs.LogSigStream(d, degree), pysiglib.LogSigStream(d, degree)
    for s in (ours, theirs):
        s.push_batch(path[:20])
        s.push(path[20])
        s.push_batch(path[21:])
    assert ours.size == 30 and theirs.size == 4
    # pysiglib's entries are point 0 and the last points of its pushes: 19, 20, 29
    for c, end in enumerate([0, 19, 20, 29]):
        assert_close(ours.sig(0, end), theirs.sig(0, c), 1e-10, f"prefix to {end}")
    assert_close(ours.sig(19, 29), theirs.sig(1, 3), 1e-10, "[19, 29]")
    with pytest.raises(IndexError):
        theirs.sig(0, 10)
    assert_close(ours.sig(0, 10), sigrs.log_sig(path[:11], degree, method=2), 1e-10, "a point inside a push_batch")


def test_log_sig_stream_is_differentiable_in_the_pushed_points(rng):
    d, degree = 2, 3
    path = torch.tensor(rng.standard_normal((12, d)), requires_grad=True)
    stream = sigrs.LogSigStream(d, degree)
    stream.push_batch(path[:7])
    stream.push(path[7])
    stream.push_batch(path[8:])
    weights = torch.randn(sigrs.log_sig_length(d, degree), dtype=torch.float64)
    (stream.sig(3, 10) * weights).sum().backward()
    expected = path.detach().clone().requires_grad_(True)
    (sigrs.log_sig(expected[3:11], degree, method=2) * weights).sum().backward()
    assert_close(path.grad, expected.grad, 1e-10, "gradient through the stream")


@pytest.mark.filterwarnings("ignore:Detected a non-contiguous")  # from pysiglib's own buffer slices
@pytest.mark.parametrize("window,stride", [(5, 1), (8, 3), (4, 6)])
def test_log_sig_window_stream_matches_log_sig_and_pysiglib(rng, pysiglib, window, stride, backend):
    d, degree = 3, 3
    path = rng.standard_normal((2, 37, d)) * 0.5
    ours, theirs = sigrs.LogSigWindowStream(d, degree, window, stride=stride), pysiglib.LogSigWindowStream(
        d, degree, window, stride=stride)
    ours.push_batch(_as(path[:, :10], np.float64, backend))
    for i in range(10, 13):
        ours.push(_as(path[:, i], np.float64, backend))
    ours.push_batch(_as(path[:, 13:], np.float64, backend))
    theirs.push_batch(path)
    starts = range(0, 37 - window + 1, stride)
    expected = np.stack([sigrs.log_sig(path[:, s:s + window], degree, method=2) for s in starts])
    assert ours.num_windows == len(starts)
    assert_close(ours.sig(), expected, 1e-10, "windows vs log_sig")
    assert_close(ours.sig(), theirs.sig(), 1e-10, "windows vs pysiglib")
    assert isinstance(ours.sig(), torch.Tensor) == (backend == "torch")


def test_log_sig_window_stream_is_differentiable(rng):
    path = torch.tensor(rng.standard_normal((15, 2)), requires_grad=True)
    ws = sigrs.LogSigWindowStream(2, 3, 6, stride=4)
    ws.push_batch(path)
    ws.sig().sum().backward()
    expected = path.detach().clone().requires_grad_(True)
    sum(sigrs.log_sig(expected[s:s + 6], 3, method=2).sum() for s in (0, 4, 8)).backward()
    assert_close(path.grad, expected.grad, 1e-10, "window gradients")


# --- errors ------------------------------------------------------------------------


def test_bad_input_gives_clear_errors(rng):
    d, degree = 2, 3
    a = _lyndon(rng, (2,), d, degree)
    with pytest.raises(ValueError, match="log_sig2 has shape .* has 5 numbers"):
        sigrs.log_sig_combine(a, a[:, :4], d, degree)
    with pytest.raises(ValueError, match="log_sig2 has batch shape"):
        sigrs.log_sig_combine(a, a[:1], d, degree)
    with pytest.raises(TypeError, match="log_sig2 must have the dtype"):
        sigrs.log_sig_combine(a, a.astype(np.float32), d, degree)
    with pytest.raises(TypeError, match="log_sig2 must be a NumPy array"):
        sigrs.log_sig_combine(a, torch.from_numpy(a), d, degree)
    with pytest.raises(TypeError, match="dtype"):
        sigrs.log_sig_combine(a.astype(np.complex128), a, d, degree)
    with pytest.raises(ValueError, match="n_jobs"):
        sigrs.log_sig_combine(a, a, d, degree, n_jobs=0)
    with pytest.raises(ValueError, match="deriv has shape"):
        sigrs.log_sig_combine_backprop(a[:, :3], a, a, d, degree)
    with pytest.raises(ValueError, match=r"displacement must have shape \(2, 2\)"):
        sigrs.log_sig_join(a, np.zeros((2, 3)), d, degree)
    with pytest.raises(ValueError, match=r"displacement must have shape \(2, 2\)"):
        sigrs.log_sig_join(a, np.zeros(2), d, degree)
    with pytest.raises(ValueError, match="d_out has shape"):
        sigrs.log_sig_join_backprop(a[:, :2], a, np.zeros((2, 2)), d, degree)
    with pytest.raises(ValueError, match="dimension"):
        sigrs.log_sig_join(a, np.zeros((2, 2)), -1, degree)
    with pytest.raises(ValueError, match=r"displacement must have shape \(\.\.\., 3\)"):
        sigrs.linear_log_sig(np.zeros(2), 3, 2)
    with pytest.raises(ValueError, match="method must be one of"):
        sigrs.linear_log_sig(np.zeros(2), 2, 2, method=5)
    with pytest.raises(ValueError, match="derivs must have the shape"):
        sigrs.linear_log_sig_backprop(np.zeros(4), np.zeros(2), 2, 2)
    for bad in (0, 1, "hall"):
        with pytest.raises(ValueError, match="method=2 or method=3"):
            sigrs.LogSigStream(d, degree, method=bad)
        with pytest.raises(ValueError, match="method=2 or method=3"):
            sigrs.LogSigWindowStream(d, degree, 4, method=bad)
    stream = sigrs.LogSigStream(d, degree)
    with pytest.raises(IndexError, match="empty"):
        stream.sig(0, 0)
    stream.push_batch(rng.standard_normal((5, d)))
    with pytest.raises(IndexError, match="out of range"):
        stream.sig(0, 5)
    with pytest.raises(ValueError, match="push expects a point"):
        stream.push(np.zeros(3))
    with pytest.raises(TypeError, match="pushed a torch tensor"):
        stream.push(torch.zeros(d, dtype=torch.float64))
    with pytest.raises(ValueError, match="no complete windows"):
        sigrs.LogSigWindowStream(d, degree, 4).sig()


def test_degree_zero_and_empty_batches_give_empty_results(rng):
    assert sigrs.log_sig_combine(np.zeros((3, 0)), np.zeros((3, 0)), 2, 0).shape == (3, 0)
    assert sigrs.log_sig_combine(np.zeros((0, 5)), np.zeros((0, 5)), 2, 3).shape == (0, 5)
    g_ls, g_v = sigrs.log_sig_join_backprop(np.zeros((3, 0)), np.zeros((3, 0)), np.ones((3, 2)), 2, 0)
    assert g_ls.shape == (3, 0) and np.all(g_v == 0) and g_v.shape == (3, 2)
    assert to_numpy(sigrs.linear_log_sig(torch.ones(2), 2, 0, method=0, scalar_term=True)).tolist() == [0.0]
