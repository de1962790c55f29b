"""SigStream and SigWindowStream: every query against sigrs.sig of the path slice,
the reference, pysiglib's streams, torch autograd, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from _util import F32_RTOL, F64_RTOL, assert_close, make_path, peer, torch

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)
from sigrs.streams import SigStream, SigWindowStream

BATCH_SHAPES = [(), (3,), (2, 3)]
BATCH_IDS = ["nobatch", "b3", "b2x3"]
PUSH_MODES = ["single", "batch", "mixed"]


def _pieces(length: int, mode: str, rng) -> list:
    """Split points 0..length-1 into consecutive pushes: a list of (start, stop, single)."""
    if mode == "single":
        return [(i, i + 1, True) for i in range(length)]
    if mode == "batch":
        return [(0, length, False)]
    pieces, i = [], 0
    while i < length:  # batches of 0..5 points, and single pushes
        n = int(rng.integers(0, 6))
        if n == 1 and rng.random() < 0.5:
            pieces.append((i, i + 1, True))
        else:
            pieces.append((i, min(i + n, length), False))
        i = min(i + n, length)
    return pieces


def _feed(stream, x, mode: str, rng) -> None:
    for a, b, single in _pieces(x.shape[-2], mode, rng):
        if single:
            stream.push(x[..., a, :])
        else:
            stream.push_batch(x[..., a:b, :])


def _slice_sig(x, a: int, b: int, degree: int, scalar_term: bool = False):
    return sigrs.sig(x[..., a:b + 1, :], degree, scalar_term=scalar_term)


def _stack(parts):
    return torch.stack(parts) if torch is not None and isinstance(parts[0], torch.Tensor) else np.stack(parts)


def _all_intervals(start: int, end: int) -> list:
    return [(a, b) for a in range(start, end + 1) for b in range(a, end + 1)]


# ---------------------------------------------------------------------------
# SigStream: values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("mode", PUSH_MODES)
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
def test_sig_stream_every_interval_equals_sig_of_path_slice(rng, backend, np_dtype, rtol, batch_shape,
                                                            mode, scalar_term):
    d, n, length = 2, 3, 11
    x = make_path(rng, batch_shape + (length, d), np_dtype, backend)
    stream = SigStream(d, n, scalar_term=scalar_term)
    _feed(stream, x, mode, rng)
    assert (stream.size, stream.start_index, stream.end_index) == (length, 0, length - 1)
    assert stream.batch_shape == batch_shape

    intervals = _all_intervals(0, length - 1)
    expected = _stack([_slice_sig(x, a, b, n, scalar_term) for a, b in intervals])
    out = stream.sig_batch(intervals)
    assert type(out) is type(x) and out.dtype == x.dtype
    assert_close(out, expected, rtol, "sig_batch")
    for a, b in [(0, 0), (0, length - 1), (3, 3), (2, 9), (length - 1, length - 1)]:
        assert_close(stream.sig(a, b), _slice_sig(x, a, b, n, scalar_term), rtol, f"sig({a}, {b})")


@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_sig_stream_queries_match_reference_signature(rng, scalar_term):
    d, n = 3, 4
    x = make_path(rng, (2, 9, d))
    stream = SigStream(d, n, scalar_term=scalar_term)
    stream.push_batch(x[:, :4])
    stream.push(x[:, 4])
    stream.push_batch(x[:, 5:])
    for a, b in [(0, 8), (2, 7), (4, 5), (6, 6)]:
        expected = ref.sig(x[:, a:b + 1], n, scalar_term=scalar_term)
        assert_close(stream.sig(a, b), expected, F64_RTOL, f"sig({a}, {b})")


def test_push_batch_indexes_every_point_unlike_pysiglib(rng):
    # pysiglib's own docstring example, which raises IndexError in pysiglib 4.0
    path = rng.standard_normal((50, 3))
    stream = SigStream(dimension=3, degree=4)
    stream.push_batch(path)
    assert stream.size == 50
    assert_close(stream.sig(10, 30), sigrs.sig(path[10:31], 4), F64_RTOL)


@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
def test_single_batch_and_mixed_pushes_store_the_same_prefixes(rng, batch_shape):
    x = make_path(rng, batch_shape + (17, 2))
    results = []
    for mode in PUSH_MODES:
        stream = SigStream(2, 4)
        _feed(stream, x, mode, rng)
        results.append(stream.sig_all())
    assert results[0].shape == (17,) + batch_shape + (sigrs.sig_length(2, 4),)
    for other in results[1:]:
        assert_close(other, results[0], F64_RTOL)
    expected = _stack([_slice_sig(x, 0, t, 4) for t in range(17)])
    assert_close(results[0], expected, F64_RTOL, "sig_all")


def test_sig_batch_accepts_arrays_and_empty_lists(rng, backend):
    x = make_path(rng, (3, 8, 2), np.float64, backend)
    stream = SigStream(2, 3)
    stream.push_batch(x)
    pairs = np.array([[1, 5], [0, 7], [4, 4]])
    assert_close(stream.sig_batch(pairs), stream.sig_batch([tuple(p) for p in pairs.tolist()]), F64_RTOL)
    empty = stream.sig_batch([])
    assert tuple(empty.shape) == (0, 3, sigrs.sig_length(2, 3))
    assert type(empty) is type(x)


def test_many_small_pushes_keep_few_chunks_and_correct_queries(rng):
    x = make_path(rng, (300, 2))
    stream = SigStream(2, 3)
    _feed(stream, x, "mixed", rng)
    stream.push_batch(make_path(rng, (0, 2)))
    assert stream.size == 300
    assert len(stream._prefixes._chunks) <= 2 * (300).bit_length()
    intervals = [tuple(sorted(p)) for p in rng.integers(0, 300, size=(40, 2)).tolist()]
    expected = np.stack([_slice_sig(x, a, b, 3) for a, b in intervals])
    assert_close(stream.sig_batch(intervals), expected, 1e-9)


def test_big_pushes_merge_when_gathered(rng, backend):
    x = make_path(rng, (40, 230, 3), np.float64, backend)  # 40 * 120 numbers a row
    stream = SigStream(3, 4)
    bounds = [0, 50, 60, 70, 90, 150, 160, 200, 230]
    for a, b in zip(bounds[:-1], bounds[1:]):
        stream.push_batch(x[:, a:b])
    stream.pop_front(2)  # drops the identity row, a chunk of its own
    assert len(stream._prefixes._chunks) == len(bounds) - 1  # too big to merge on push
    assert_close(stream.sig(2, 229), _slice_sig(x, 2, 229, 4), F64_RTOL)
    intervals = [tuple(sorted(p)) for p in rng.integers(2, 230, size=(30, 2)).tolist()]
    expected = _stack([_slice_sig(x, a, b, 4) for a, b in intervals])
    assert_close(stream.sig_batch(intervals), expected, F64_RTOL)
    assert len(stream._prefixes._chunks) <= (230).bit_length()
    stream.push_batch(x[:, :5])  # and it goes on from there
    assert_close(stream.sig_batch([(200, 234)]), sigrs.sig(np.concatenate([np.asarray(x[:, 200:]),
                                                                            np.asarray(x[:, :5])], -2), 4)[None],
                 F64_RTOL)


def test_pop_front_drops_oldest_points_and_keeps_absolute_indices(rng, backend):
    x = make_path(rng, (2, 40, 2), np.float64, backend)
    stream = SigStream(2, 3)
    _feed(stream, x[:, :25], "mixed", rng)
    stream.pop_front()
    stream.pop_front(4)
    assert (stream.start_index, stream.end_index, stream.size) == (5, 24, 20)
    with pytest.raises(IndexError, match=r"\[5, 24\]"):
        stream.sig(4, 10)
    stream.push_batch(x[:, 25:])
    stream.pop_front(20)
    assert (stream.start_index, stream.end_index, stream.size) == (25, 39, 15)
    intervals = _all_intervals(25, 39)
    expected = _stack([_slice_sig(x, a, b, 3) for a, b in intervals])
    assert_close(stream.sig_batch(intervals), expected, F64_RTOL)
    # sig_all stays relative to point 0, like pysiglib's
    assert_close(stream.sig_all(), _stack([_slice_sig(x, 0, t, 3) for t in range(25, 40)]), F64_RTOL)
    stream.pop_front(14)
    assert stream.size == 1
    assert_close(stream.sig(39, 39), np.zeros((2, sigrs.sig_length(2, 3))), F64_RTOL)
    with pytest.raises(ValueError, match="at least one"):
        stream.pop_front()
    stream.push(x[:, 0])  # pushing after popping continues the path from point 39
    assert_close(stream.sig(39, 40), sigrs.sig(x[:, [39, 0]], 3), F64_RTOL)


def test_select_batch_keeps_the_selected_paths_and_grows_independently(rng, backend):
    x = make_path(rng, (4, 30, 2), np.float64, backend)
    stream = SigStream(2, 3)
    _feed(stream, x[:, :20], "mixed", rng)
    stream.pop_front(3)
    rows = [3, 0, 3]
    sub = stream.select_batch(np.array(rows) if backend == "numpy" else torch.tensor(rows))
    one = stream.select_batch(2)  # an int drops the batch axis
    copy = stream.select_batch(slice(None))
    assert sub.batch_shape == (3,) and one.batch_shape == () and copy.batch_shape == (4,)
    assert (sub.start_index, sub.end_index) == (3, 19)
    sub.push_batch(x[rows, 20:])
    copy.pop_front(10)
    assert (stream.start_index, stream.end_index, stream.size) == (3, 19, 17)  # the original is unchanged
    intervals = _all_intervals(3, 29)
    assert_close(sub.sig_batch(intervals), _stack([_slice_sig(x[rows], a, b, 3) for a, b in intervals]), F64_RTOL)
    assert_close(one.sig(3, 19), _slice_sig(x[2], 3, 19, 3), F64_RTOL)
    assert_close(stream.sig(5, 19), _slice_sig(x, 5, 19, 3), F64_RTOL)
    assert tuple(sub.sig_batch([]).shape) == (0, 3, sigrs.sig_length(2, 3))  # from several chunks
    with pytest.raises(ValueError, match="no batch axis"):
        one.select_batch(0)
    with pytest.raises(ValueError, match="nothing has been pushed"):
        SigStream(2, 3).select_batch(0)


def test_sig_stream_queries_match_pysiglib(rng):
    pysiglib = peer("pysiglib")
    x = make_path(rng, (2, 15, 3))
    ours = SigStream(3, 3)
    theirs = pysiglib.SigStream(3, 3)
    for i in range(15):  # one checkpoint per point: indices agree
        ours.push(x[:, i])
        theirs.push(x[:, i].copy())
    assert_close(ours.sig_all(), theirs.sig_all(), F64_RTOL, "sig_all")
    assert_close(ours.sig(3, 11), theirs.sig(3, 11), F64_RTOL)
    ours.pop_front(2)
    theirs.pop_front()
    theirs.pop_front()
    assert_close(ours.sig_all(), theirs.sig_all(), F64_RTOL, "sig_all after pop_front")

    # pysiglib adds one checkpoint per push_batch: checkpoint c is our point ends[c]
    ours, theirs = SigStream(3, 3), pysiglib.SigStream(3, 3)
    ends, bounds = [], [(0, 1), (1, 6), (6, 7), (7, 15)]
    for a, b in bounds:
        ours.push_batch(x[:, a:b])
        theirs.push_batch(x[:, a:b].copy())
        ends.append(b - 1)
    assert_close(ours.sig_batch([(0, e) for e in ends]), theirs.sig_all(), F64_RTOL)
    for ci, cj in [(0, 3), (1, 2), (1, 3)]:
        assert_close(ours.sig(ends[ci], ends[cj]), theirs.sig(ci, cj), F64_RTOL)


# ---------------------------------------------------------------------------
# SigWindowStream: values
# ---------------------------------------------------------------------------

WINDOWS = [(1, 1), (3, 1), (4, 2), (5, 5), (3, 5), (2, 7), (10, 3), (30, 2)]
WINDOW_IDS = [f"w{w}s{s}" for w, s in WINDOWS]


def _direct_windows(x, window: int, stride: int, degree: int, scalar_term: bool = False):
    length = x.shape[-2]
    starts = range(0, length - window + 1, stride)
    return _stack([sigrs.sig(x[..., s:s + window, :], degree, scalar_term=scalar_term) for s in starts])


@pytest.mark.parametrize("mode", PUSH_MODES)
@pytest.mark.parametrize("window,stride", WINDOWS, ids=WINDOW_IDS)
def test_window_stream_equals_direct_signature_of_each_window(rng, backend, np_dtype, rtol, window, stride,
                                                             mode):
    d, n, length = 2, 3, 41
    x = make_path(rng, (3, length, d), np_dtype, backend)
    ws = SigWindowStream(d, n, window, stride=stride)
    _feed(ws, x, mode, rng)
    expected = _direct_windows(x, window, stride, n)
    assert ws.num_windows == expected.shape[0]
    out = ws.sig()
    assert type(out) is type(x) and out.dtype == x.dtype
    assert_close(out, expected, rtol)
    # only the start prefixes of open windows are kept
    assert sum(rows.shape[0] for _, rows in ws._open) <= -(-window // stride)


@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
def test_window_stream_handles_batch_shapes_and_scalar_term(rng, batch_shape, scalar_term):
    x = make_path(rng, batch_shape + (20, 3))
    ws = SigWindowStream(3, 3, 6, stride=4, scalar_term=scalar_term)
    _feed(ws, x, "mixed", rng)
    assert ws.batch_shape == batch_shape
    out = ws.sig()
    assert out.shape == (4,) + batch_shape + (sigrs.sig_length(3, 3, scalar_term=scalar_term),)
    assert_close(out, _direct_windows(x, 6, 4, 3, scalar_term), F64_RTOL)
    assert_close(out[1], ref.sig(x[..., 4:10, :], 3, scalar_term=scalar_term), F64_RTOL, "reference")


@pytest.mark.filterwarnings("ignore:Detected a non-contiguous")  # from pysiglib's own buffer slices
@pytest.mark.parametrize("window,stride", [(3, 1), (5, 2), (4, 4), (3, 6)])
def test_window_stream_matches_pysiglib(rng, window, stride):
    pysiglib = peer("pysiglib")
    x = make_path(rng, (2, 29, 3))
    ours = SigWindowStream(3, 3, window, stride=stride)
    theirs = pysiglib.SigWindowStream(3, 3, window, stride=stride)
    for a, b, single in _pieces(29, "mixed", rng):
        if single:
            ours.push(x[:, a])
            theirs.push(x[:, a].copy())
        elif b > a:
            ours.push_batch(x[:, a:b])
            theirs.push_batch(x[:, a:b].copy())
    assert ours.num_windows == theirs.num_windows
    assert_close(ours.sig(), theirs.sig(), F64_RTOL)


def test_window_stream_keeps_float32_precision_on_a_long_stream(rng):
    # a random walk with unit steps: prefixes from point 0 would reach ~1e6 at
    # level 3 and float32 windows would lose all their digits without rebasing
    x = np.cumsum(rng.standard_normal((6000, 2)), axis=0)
    ws = SigWindowStream(2, 3, 16, stride=3)
    for a in range(0, 6000, 97):
        ws.push_batch(x[a:a + 97].astype(np.float32))
    out = ws.sig()
    starts = np.arange(5000 // 3, (6000 - 16) // 3 + 1) * 3
    expected = np.stack([sigrs.sig(x[s:s + 16], 3) for s in starts])
    assert_close(out[5000 // 3:], expected, 1e-4)


def test_window_stream_sig_before_first_window_raises():
    ws = SigWindowStream(2, 3, 5)
    ws.push_batch(np.zeros((4, 2)))
    assert ws.num_windows == 0
    with pytest.raises(ValueError, match="no complete windows"):
        ws.sig()


# ---------------------------------------------------------------------------
# torch autograd
# ---------------------------------------------------------------------------

def _torch_path(rng, shape):
    return torch.from_numpy(make_path(rng, shape)).requires_grad_(True)


def test_sig_stream_query_gradients_flow_back_to_pushed_points(rng):
    pytest.importorskip("torch")
    x = _torch_path(rng, (2, 14, 2))
    stream = SigStream(2, 3)
    _feed(stream, x, "mixed", rng)
    stream.pop_front(2)
    intervals = [(2, 13), (5, 9), (7, 7)]
    out = torch.cat([stream.sig(3, 10)[None], stream.sig_batch(intervals)])
    weights = torch.from_numpy(rng.standard_normal(tuple(out.shape)))
    (grad,) = torch.autograd.grad((out * weights).sum(), x)

    expected = torch.stack([_slice_sig(x, a, b, 3) for a, b in [(3, 10)] + intervals])
    (grad_expected,) = torch.autograd.grad((expected * weights).sum(), x)
    assert_close(out, expected, F64_RTOL)
    assert_close(grad, grad_expected, F64_RTOL, "gradient")
    assert float(grad[:, :2].abs().max()) < 1e-12  # no query depends on points 0 and 1 (up to rounding)


def test_sig_stream_passes_gradcheck():
    pytest.importorskip("torch")
    x = torch.from_numpy(make_path(np.random.default_rng(3), (2, 6, 2))).requires_grad_(True)

    def fn(path):
        stream = SigStream(2, 3)
        stream.push_batch(path[:, :3])
        stream.push(path[:, 3])
        stream.push_batch(path[:, 4:])
        return stream.sig_batch([(1, 4), (0, 5), (2, 3)])

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("window,stride", [(4, 1), (3, 2), (2, 3)])
def test_window_stream_gradients_match_autograd_through_sig(rng, window, stride):
    pytest.importorskip("torch")
    x = _torch_path(rng, (2, 13, 2))
    ws = SigWindowStream(2, 3, window, stride=stride)
    _feed(ws, x, "mixed", rng)
    out = ws.sig()
    weights = torch.from_numpy(rng.standard_normal(tuple(out.shape)))
    (grad,) = torch.autograd.grad((out * weights).sum(), x)
    (grad_expected,) = torch.autograd.grad((_direct_windows(x, window, stride, 3) * weights).sum(), x)
    assert_close(grad, grad_expected, F64_RTOL, "gradient")


def test_window_stream_passes_gradcheck():
    pytest.importorskip("torch")
    x = torch.from_numpy(make_path(np.random.default_rng(4), (7, 2))).requires_grad_(True)

    def fn(path):
        ws = SigWindowStream(2, 2, 3, stride=2)
        ws.push(path[0])
        ws.push_batch(path[1:5])
        ws.push_batch(path[5:])
        return ws.sig()

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-7)


def test_float32_torch_stream_matches_float64(rng):
    pytest.importorskip("torch")
    x = make_path(rng, (3, 12, 2))
    stream = SigStream(2, 4)
    _feed(stream, torch.from_numpy(x.astype(np.float32)), "mixed", rng)
    out = stream.sig_batch(_all_intervals(0, 11))
    assert out.dtype == torch.float32
    assert_close(out, np.stack([_slice_sig(x, a, b, 4) for a, b in _all_intervals(0, 11)]), F32_RTOL)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [SigStream, SigWindowStream])
def test_pushes_with_wrong_shapes_raise_value_error_naming_shapes(cls):
    make = (lambda: cls(3, 2)) if cls is SigStream else (lambda: cls(3, 2, 4))
    stream = make()
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\).*\(2,\)"):
        stream.push(np.zeros(2))
    with pytest.raises(ValueError, match=r"\(\.\.\., n_points, 3\).*\(4, 2\)"):
        stream.push_batch(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="n_points"):
        stream.push_batch(np.zeros(3))
    stream.push_batch(np.zeros((5, 4, 3)))
    with pytest.raises(ValueError, match=r"batch shape \(6,\).*\(5,\)"):
        stream.push_batch(np.zeros((6, 4, 3)))
    with pytest.raises(ValueError, match=r"batch shape \(\).*\(5,\)"):
        stream.push(np.zeros(3))


@pytest.mark.parametrize("cls", [SigStream, SigWindowStream])
def test_pushes_with_wrong_kind_or_dtype_raise_type_error(cls):
    make = (lambda: cls(2, 2)) if cls is SigStream else (lambda: cls(2, 2, 3))
    stream = make()
    with pytest.raises(TypeError, match="float32 or float64"):
        stream.push(np.zeros(2, dtype=np.float16))
    stream.push([0, 1])  # lists and ints become float64
    with pytest.raises(TypeError, match="float32"):
        stream.push(np.zeros(2, dtype=np.float32))
    if torch is not None:
        with pytest.raises(TypeError, match="torch"):
            stream.push(torch.zeros(2, dtype=torch.float64))


def test_sig_stream_queries_out_of_range_raise():
    stream = SigStream(2, 2)
    with pytest.raises(IndexError, match="empty"):
        stream.sig(0, 0)
    with pytest.raises(IndexError, match="empty"):
        stream.sig_all()
    stream.push_batch(np.random.default_rng(0).standard_normal((6, 2)))
    with pytest.raises(IndexError, match=r"\[2, 6\].*\[0, 5\]"):
        stream.sig(2, 6)
    with pytest.raises(IndexError, match=r"\[-1, 3\]"):
        stream.sig(-1, 3)
    with pytest.raises(ValueError, match=r"start \(4\).*end \(2\)"):
        stream.sig(4, 2)
    with pytest.raises(ValueError, match=r"start \(4\).*end \(2\)"):
        stream.sig_batch([(0, 1), (4, 2)])
    with pytest.raises(IndexError, match=r"\[3, 9\]"):
        stream.sig_batch([(0, 1), (3, 9)])
    with pytest.raises(ValueError, match="pairs"):
        stream.sig_batch([(0, 1, 2)])
    with pytest.raises(TypeError, match="ints"):
        stream.sig_batch([(0.5, 1.0)])
    with pytest.raises(TypeError, match="start"):
        stream.sig(0.5, 2)
    with pytest.raises(ValueError, match="at least one"):
        stream.pop_front(6)


@pytest.mark.parametrize("cls", [SigStream, SigWindowStream])
@pytest.mark.parametrize("kwargs,error,match", [
    (dict(dimension=0), ValueError, "dimension"),
    (dict(dimension=2.0), TypeError, "dimension"),
    (dict(degree=-1), ValueError, "degree"),
    (dict(n_jobs=0), ValueError, "n_jobs"),
    (dict(scalar_term=1), TypeError, "scalar_term"),
])
def test_bad_constructor_arguments_raise(cls, kwargs, error, match):
    args = {"dimension": 2, "degree": 2, **kwargs}
    positional = [args.pop("dimension"), args.pop("degree")] + ([3] if cls is SigWindowStream else [])
    with pytest.raises(error, match=match):
        cls(*positional, **args)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(window_size=0), ValueError, "window_size"),
    (dict(window_size=2.5), TypeError, "window_size"),
    (dict(window_size=3, stride=0), ValueError, "stride"),
    (dict(window_size=3, stride=True), TypeError, "stride"),
])
def test_bad_window_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        SigWindowStream(2, 2, **kwargs)
