"""Composition of signatures.

The options of ``sigrs.sig`` (stream, basepoint, inverse, initial) and the
operations on signatures (sig_combine, multi_sig_combine, sig_join,
linear_sig, sig_inverse, extract_sig_coef, extract_sig_level) and their
gradients: against the reference (``reference.py``), against algebraic
identities, against the peers (pysiglib, iisignature), torch gradcheck, the
explicit ``*_backprop`` functions, bad input, and ``n_jobs``.
"""

from __future__ import annotations


import numpy as np
import pytest

import reference as ref
from _util import (
    F32_RTOL,
    F64_RTOL,
    assert_close,
    make_path,
    peer,
    rtol_for,
    to_numpy,
    torch,
)

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)

pytestmark = pytest.mark.filterwarnings("ignore:Detected a non-contiguous or view-based array")

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

BATCH_SHAPES = [(), (3,), (2, 2)]
BATCH_IDS = ["nobatch", "b3", "b2x2"]

# (backend, dtype) pairs every value test runs through
VARIANTS = [("numpy", np.float64), ("numpy", np.float32)]
if torch is not None:
    VARIANTS += [("torch", np.float64), ("torch", np.float32)]

# the path transforms; end_time != 1 wherever time is appended
TRANSFORMS = [
    pytest.param(dict(), id="plain"),
    pytest.param(dict(time_aug=True, end_time=2.5), id="time"),
    pytest.param(dict(lead_lag=True), id="leadlag"),
    pytest.param(dict(time_aug=True, lead_lag=True, end_time=0.5), id="leadlag+time"),
]
BASEPOINTS = ["none", "origin", "point"]
INITIALS = [None, "noscalar", "scalar"]


def conv(x, backend, dtype):
    """A float64 NumPy array as ``backend`` in ``dtype`` (None passes through)."""
    if x is None:
        return None
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


def aug(dim, opts):
    return ref.aug_dimension(dim, opts.get("time_aug", False), opts.get("lead_lag", False))


def flags(opts):
    """The transform flags of ``opts`` that functions on signatures take."""
    return dict(time_aug=opts.get("time_aug", False), lead_lag=opts.get("lead_lag", False))


def random_tensor(rng, batch_shape, dim, degree, scalar_term, level0=1.0, scale=0.5):
    """A random flattened truncated tensor (not a signature), level 0 = ``level0``."""
    n = ref.sig_length(dim, degree)
    t = scale * rng.standard_normal(tuple(batch_shape) + (n,))
    if scalar_term:
        t = np.concatenate([np.full(tuple(batch_shape) + (1,), level0), t], axis=-1)
    return t


def make_options(rng, batch_shape, dim, degree, opts, basepoint, initial):
    """``(basepoint argument, initial argument)`` as float64 NumPy (or bool/None)."""
    if basepoint == "none":
        bp = False
    elif basepoint == "origin":
        bp = True
    else:
        bp = rng.standard_normal(tuple(batch_shape) + (dim,))
    init = None
    if initial is not None:
        init = random_tensor(rng, batch_shape, aug(dim, opts), degree, initial == "scalar")
    return bp, init


def conv_bp(bp, backend, dtype):
    return bp if isinstance(bp, bool) else conv(bp, backend, dtype)


def sig_shape(batch_shape, length, dim, degree, opts, stream, basepoint, scalar_term):
    n = ref.sig_length(aug(dim, opts), degree, scalar_term=scalar_term)
    rows = length - 1 + (0 if basepoint in ("none", False) else 1)
    return tuple(batch_shape) + ((max(rows, 0),) if stream else ()) + (n,)


# ---------------------------------------------------------------------------
# the reference itself
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dim,degree", [(1, 4), (2, 3), (3, 3)])
def test_reference_antipode_series_inverse_and_reversed_path_agree(rng, dim, degree):
    """Three independent definitions of S^-1 in the reference coincide on signatures."""
    x = make_path(rng, (5, dim))
    s = ref.signature_levels(x, degree)
    by_antipode = ref.flatten_levels(ref.tensor_antipode(s))
    by_series = ref.flatten_levels(ref.tensor_inverse_series(s, degree))
    by_reversal = ref.flatten_levels(ref.signature_levels(x[::-1], degree))
    assert_close(by_antipode, by_reversal, 1e-12)
    assert_close(by_series, by_reversal, 1e-12)
    product = ref.flatten_levels(ref.tensor_mul(s, ref.tensor_antipode(s), degree), True)
    assert_close(product, np.eye(1, product.size)[0], 1e-12)


def test_reference_sig_general_reduces_to_plain_sig_and_prefixes(rng):
    x = make_path(rng, (2, 5, 2))
    assert_close(ref.sig_general(x, 3, time_aug=True, lead_lag=True),
                 ref.sig(x, 3, time_aug=True, lead_lag=True), 1e-14)
    stream = ref.sig_general(x, 3, stream=True)
    for r in range(4):
        assert_close(stream[:, r], ref.sig(x[:, :r + 2], 3), 1e-14)


# ---------------------------------------------------------------------------
# sig with stream / basepoint / inverse / initial against the reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["out-noscalar", "out-scalar"])
@pytest.mark.parametrize("initial", INITIALS, ids=["noinit", "init-noscalar", "init-scalar"])
@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
@pytest.mark.parametrize("basepoint", BASEPOINTS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("opts", TRANSFORMS)
def test_sig_options_match_reference(rng, opts, stream, basepoint, inverse, initial, scalar_term,
                                     batch_shape):
    dim, degree, length = 2, 3, 4
    x = make_path(rng, batch_shape + (length, dim))
    bp, init = make_options(rng, batch_shape, dim, degree, opts, basepoint, initial)
    kw = dict(opts, stream=stream, inverse=inverse, scalar_term=scalar_term)
    expected = ref.sig_general(x, degree, basepoint=bp, initial=init, **kw)
    shape = sig_shape(batch_shape, length, dim, degree, opts, stream, basepoint, scalar_term)
    assert expected.shape == shape
    for backend, dtype in VARIANTS:
        out = sigrs.sig(conv(x, backend, dtype), degree, basepoint=conv_bp(bp, backend, dtype),
                        initial=conv(init, backend, dtype), **kw)
        check_kind(out, backend, dtype)
        assert_close(out, expected, rtol_for(dtype), f"{backend} {np.dtype(dtype).name}")


@pytest.mark.parametrize("opts", [TRANSFORMS[0], TRANSFORMS[3]])
@pytest.mark.parametrize("initial", INITIALS, ids=["noinit", "init-noscalar", "init-scalar"])
@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
@pytest.mark.parametrize("basepoint", ["none", "point"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("degree", [0, 1, 2])
@pytest.mark.parametrize("length", [1, 2])
def test_short_paths_and_low_degrees_match_reference(rng, length, degree, stream, basepoint, inverse,
                                                     initial, opts):
    """Length 1 gives no stream rows (one with a basepoint), length 2 one row (two); degree 0 and 1."""
    dim, batch_shape = 2, (2,)
    x = make_path(rng, batch_shape + (length, dim))
    bp, init = make_options(rng, batch_shape, dim, degree, opts, basepoint, initial)
    for scalar_term in (False, True):
        kw = dict(opts, stream=stream, inverse=inverse, scalar_term=scalar_term)
        expected = ref.sig_general(x, degree, basepoint=bp, initial=init, **kw)
        shape = sig_shape(batch_shape, length, dim, degree, opts, stream, basepoint, scalar_term)
        assert expected.shape == shape
        for backend, dtype in VARIANTS:
            out = sigrs.sig(conv(x, backend, dtype), degree, basepoint=conv_bp(bp, backend, dtype),
                            initial=conv(init, backend, dtype), **kw)
            check_kind(out, backend, dtype)
            assert tuple(out.shape) == shape
            assert_close(out, expected, rtol_for(dtype), f"{backend} {np.dtype(dtype).name}")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_empty_batch_gives_empty_output_with_every_option(backend):
    x = conv(np.zeros((0, 4, 2)), backend, np.float64)
    bp = conv(np.zeros((0, 2)), backend, np.float64)
    init = conv(np.zeros((0, 14)), backend, np.float64)
    out = sigrs.sig(x, 3, stream=True, basepoint=bp, inverse=True, initial=init, scalar_term=True)
    assert tuple(out.shape) == (0, 4, 15)
    out = sigrs.sig(x, 3, basepoint=True, initial=init)
    assert tuple(out.shape) == (0, 14)


def test_scalar_term_of_initial_is_taken_to_be_one(rng):
    x = make_path(rng, (2, 4, 2))
    init = random_tensor(rng, (2,), 2, 3, True, level0=3.0)
    unit = init.copy()
    unit[..., 0] = 1.0
    for kw in (dict(), dict(stream=True, inverse=True, scalar_term=True)):
        assert_close(sigrs.sig(x, 3, initial=init, **kw), sigrs.sig(x, 3, initial=unit, **kw), F64_RTOL)
        assert_close(sigrs.sig(x, 3, initial=init, **kw), ref.sig_general(x, 3, initial=unit, **kw),
                     F64_RTOL)


@pytest.mark.parametrize("dim,degree", [(1, 5), (3, 3), (4, 2)])
def test_stream_of_longer_paths_matches_reference_in_other_dimensions(rng, np_dtype, rtol, dim, degree):
    x = make_path(rng, (2, 9, dim))
    init = random_tensor(rng, (2,), dim + 1, degree, False)
    kw = dict(time_aug=True, stream=True, initial=init, basepoint=True)
    expected = ref.sig_general(x, degree, **kw)
    out = sigrs.sig(x.astype(np_dtype), degree, **dict(kw, initial=init.astype(np_dtype)))
    assert_close(out, expected, rtol)


def test_sig_accepts_lists_for_basepoint_and_initial(rng):
    x = make_path(rng, (5, 2))
    init = sigrs.sig(make_path(rng, (3, 2)), 2)
    out = sigrs.sig(x.tolist(), 2, basepoint=[0.5, -1.0], initial=init.tolist())
    assert_close(out, ref.sig_general(x, 2, basepoint=np.array([0.5, -1.0]), initial=init), F64_RTOL)


# ---------------------------------------------------------------------------
# identities between the operations
# ---------------------------------------------------------------------------

def _piece_end_times(length, k, end_time):
    """end_times under which the time channels of x[:k+1] and x[k:] continue the whole path's clock."""
    return end_time * k / (length - 1), end_time * (length - 1 - k) / (length - 1)


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
def test_chen_identity_holds_for_every_split(rng, backend, np_dtype, rtol, opts, scalar_term, batch_shape):
    length, degree = 6, 3
    x_np = make_path(rng, batch_shape + (length, 2))
    x = conv(x_np, backend, np_dtype)
    end_time = opts.get("end_time", 1.0)
    base = dict(opts, scalar_term=scalar_term)
    whole = sigrs.sig(x, degree, **base)
    for k in range(length):
        t1, t2 = _piece_end_times(length, k, end_time)
        a = sigrs.sig(x[..., :k + 1, :], degree, **dict(base, end_time=t1))
        b = sigrs.sig(x[..., k:, :], degree, **dict(base, end_time=t2))
        out = sigrs.sig_combine(a, b, 2, degree, **flags(opts))
        check_kind(out, backend, np_dtype)
        assert_close(out, whole, rtol, f"split at {k}")


@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
@pytest.mark.parametrize("dim,degree", [(1, 3), (2, 3), (3, 2)])
def test_sig_combine_of_arbitrary_tensors_matches_reference(rng, backend, np_dtype, rtol, scalar_term,
                                                           batch_shape, dim, degree):
    a = random_tensor(rng, batch_shape, dim, degree, scalar_term)
    b = random_tensor(rng, batch_shape, dim, degree, scalar_term)
    out = sigrs.sig_combine(conv(a, backend, np_dtype), conv(b, backend, np_dtype), dim, degree)
    check_kind(out, backend, np_dtype)
    assert_close(out, ref.sig_combine(a, b, dim, degree), rtol)


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_multi_sig_combine_of_pieces_equals_signature_of_whole(rng, backend, np_dtype, rtol, opts,
                                                              batch_shape, scalar_term):
    length, degree = 10, 3
    x = conv(make_path(rng, batch_shape + (length, 2)), backend, np_dtype)
    end_time = opts.get("end_time", 1.0)
    base = dict(opts, scalar_term=scalar_term)
    cuts = [0, 2, 3, 7, 9]
    pieces = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        t = end_time * (hi - lo) / (length - 1)
        pieces.append(sigrs.sig(x[..., lo:hi + 1, :], degree, **dict(base, end_time=t)))
    whole = sigrs.sig(x, degree, **base)
    from_list = sigrs.multi_sig_combine(pieces, 2, degree, **flags(opts))
    check_kind(from_list, backend, np_dtype)
    assert_close(from_list, whole, rtol, "list")
    assert_close(sigrs.multi_sig_combine(tuple(pieces), 2, degree, **flags(opts)), whole, rtol, "tuple")
    stacked = torch.stack(pieces, dim=-2) if backend == "torch" else np.stack(pieces, axis=-2)
    from_array = sigrs.multi_sig_combine(stacked, 2, degree, **flags(opts))
    check_kind(from_array, backend, np_dtype)
    assert_close(from_array, whole, rtol, "stacked")


@pytest.mark.parametrize("count", [1, 2, 5])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_multi_sig_combine_of_arbitrary_tensors_matches_reference(rng, backend, np_dtype, rtol, count,
                                                                 batch_shape, scalar_term):
    dim, degree = 2, 3
    items = [random_tensor(rng, batch_shape, dim, degree, scalar_term) for _ in range(count)]
    expected = ref.multi_sig_combine(items, dim, degree)
    out = sigrs.multi_sig_combine([conv(s, backend, np_dtype) for s in items], dim, degree)
    check_kind(out, backend, np_dtype)
    assert_close(out, expected, rtol, "list")
    out = sigrs.multi_sig_combine(conv(np.stack(items, axis=-2), backend, np_dtype), dim, degree)
    assert tuple(out.shape) == tuple(batch_shape) + (items[0].shape[-1],)
    assert_close(out, expected, rtol, "stacked")


def test_multi_sig_combine_of_one_piece_returns_it(rng, backend, np_dtype, rtol):
    s = conv(sigrs.sig(make_path(rng, (3, 5, 2)), 3, scalar_term=True), backend, np_dtype)
    assert_close(sigrs.multi_sig_combine([s], 2, 3), s, rtol)
    assert_close(sigrs.multi_sig_combine(s[:, None, :], 2, 3), s, rtol)
    # a (k, n) array is k pieces of one path, not a batch
    assert_close(sigrs.multi_sig_combine(s, 2, 3), ref.multi_sig_combine([f64(r) for r in s], 2, 3), rtol)


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
def test_signature_times_its_inverse_is_the_identity(rng, backend, np_dtype, rtol, opts, scalar_term,
                                                     batch_shape):
    degree = 3
    x = conv(make_path(rng, batch_shape + (5, 2)), backend, np_dtype)
    s = sigrs.sig(x, degree, scalar_term=scalar_term, **opts)
    inv = sigrs.sig_inverse(s, 2, degree, **flags(opts))
    check_kind(inv, backend, np_dtype)
    n = ref.sig_length(aug(2, opts), degree, scalar_term=scalar_term)
    identity = np.zeros(batch_shape + (n,))
    if scalar_term:
        identity[..., 0] = 1.0
    scale = float(np.max(np.abs(f64(s))))
    assert_close(sigrs.sig_combine(s, inv, 2, degree, **flags(opts)), identity, rtol * scale, "S S^-1")
    assert_close(sigrs.sig_combine(inv, s, 2, degree, **flags(opts)), identity, rtol * scale, "S^-1 S")


@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
@pytest.mark.parametrize("dim,degree", [(1, 4), (2, 3), (3, 3)])
def test_sig_inverse_is_the_antipode_of_the_reference(rng, backend, np_dtype, rtol, scalar_term,
                                                      batch_shape, dim, degree):
    t = random_tensor(rng, batch_shape, dim, degree, scalar_term)
    out = sigrs.sig_inverse(conv(t, backend, np_dtype), dim, degree)
    check_kind(out, backend, np_dtype)
    assert_close(out, ref.sig_inverse(t, dim, degree), rtol)


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_inverse_option_equals_sig_inverse_and_reversed_path(rng, backend, np_dtype, rtol, opts,
                                                             scalar_term):
    degree = 4
    x = conv(make_path(rng, (3, 6, 2)), backend, np_dtype)
    kw = dict(opts, scalar_term=scalar_term)
    inv = sigrs.sig(x, degree, inverse=True, **kw)
    assert_close(inv, sigrs.sig_inverse(sigrs.sig(x, degree, **kw), 2, degree, **flags(opts)), rtol)
    series = [ref.flatten_levels(ref.tensor_inverse_series(ref.signature_levels(p, degree), degree),
                                 scalar_term)
              for p in ref.transform_path(f64(x), **opts)]
    assert_close(inv, np.stack(series), rtol, "Neumann series")
    if not opts:  # only without transforms is S^-1 the signature of the reversed input path
        reversed_x = torch.flip(x, dims=(-2,)) if backend == "torch" else x[:, ::-1]
        assert_close(inv, sigrs.sig(reversed_x, degree, **kw), rtol, "reversed path")


@pytest.mark.parametrize("prepend", [False, True], ids=["append", "prepend"])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
def test_sig_join_equals_combine_with_linear_sig_and_reference(rng, backend, np_dtype, rtol, prepend,
                                                               scalar_term, batch_shape):
    dim, degree = 3, 3
    s = random_tensor(rng, batch_shape, dim, degree, scalar_term)
    v = rng.standard_normal(batch_shape + (dim,))
    sb, vb = conv(s, backend, np_dtype), conv(v, backend, np_dtype)
    out = sigrs.sig_join(sb, vb, dim, degree, prepend=prepend)
    check_kind(out, backend, np_dtype)
    lin = sigrs.linear_sig(vb, dim, degree, scalar_term=scalar_term)
    expected = sigrs.sig_combine(lin, sb, dim, degree) if prepend else sigrs.sig_combine(sb, lin, dim, degree)
    assert_close(out, expected, rtol, "combine with linear_sig")
    assert_close(out, ref.sig_join(s, v, dim, degree, prepend=prepend), rtol, "reference")


def test_sig_join_extends_a_path_at_either_end(rng, backend, np_dtype, rtol):
    x = conv(make_path(rng, (3, 6, 2)), backend, np_dtype)
    whole = sigrs.sig(x, 4)
    appended = sigrs.sig_join(sigrs.sig(x[:, :-1], 4), x[:, -1] - x[:, -2], 2, 4)
    prepended = sigrs.sig_join(sigrs.sig(x[:, 1:], 4), x[:, 1] - x[:, 0], 2, 4, prepend=True)
    assert_close(appended, whole, rtol, "append")
    assert_close(prepended, whole, rtol, "prepend")


@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
@pytest.mark.parametrize("dim,degree", [(1, 4), (2, 0), (2, 1), (3, 3)])
def test_linear_sig_is_the_signature_of_a_segment(rng, backend, np_dtype, rtol, scalar_term, batch_shape,
                                                  dim, degree):
    start = rng.standard_normal(batch_shape + (dim,))
    v = rng.standard_normal(batch_shape + (dim,))
    out = sigrs.linear_sig(conv(v, backend, np_dtype), dim, degree, scalar_term=scalar_term)
    check_kind(out, backend, np_dtype)
    assert tuple(out.shape) == batch_shape + (ref.sig_length(dim, degree, scalar_term=scalar_term),)
    assert_close(out, ref.linear_sig(v, dim, degree, scalar_term), rtol, "reference")
    segment = np.stack([start, start + v], axis=-2)
    assert_close(out, ref.sig(segment, degree, scalar_term=scalar_term), rtol, "sig of segment")
    assert_close(out, sigrs.sig(conv(segment, backend, np_dtype), degree, scalar_term=scalar_term),
                 rtol, "sigrs.sig of segment")


@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_operations_on_degree_zero_signatures(rng, backend, np_dtype, scalar_term):
    """Degree 0: the signature is empty (or just the scalar term 1); no operation fails."""
    n = 1 if scalar_term else 0
    s = conv(np.ones((3, n)), backend, np_dtype)
    v = conv(rng.standard_normal((3, 2)), backend, np_dtype)
    for out in (sigrs.linear_sig(v, 2, 0, scalar_term=scalar_term), sigrs.sig_combine(s, s, 2, 0),
                sigrs.multi_sig_combine([s, s, s], 2, 0), sigrs.sig_join(s, v, 2, 0),
                sigrs.sig_join(s, v, 2, 0, prepend=True), sigrs.sig_inverse(s, 2, 0),
                sigrs.sig(conv(make_path(rng, (3, 4, 2)), backend, np_dtype), 0, scalar_term=scalar_term,
                          initial=s, inverse=True)):
        check_kind(out, backend, np_dtype)
        np.testing.assert_array_equal(f64(out), np.ones((3, n)))
    g1, g2 = sigrs.sig_combine_backprop(s, s, s, 2, 0)
    np.testing.assert_array_equal(f64(g1), np.zeros((3, n)))
    np.testing.assert_array_equal(f64(g2), np.zeros((3, n)))
    g_sig, g_v = sigrs.sig_join_backprop(s, s, v, 2, 0)
    np.testing.assert_array_equal(f64(g_sig), np.zeros((3, n)))
    np.testing.assert_array_equal(f64(g_v), np.zeros((3, 2)))
    np.testing.assert_array_equal(f64(sigrs.linear_sig_backprop(s, v, 2, 0)), np.zeros((3, 2)))
    pysiglib = peer("pysiglib")
    assert_close(sigrs.linear_sig(v, 2, 0, scalar_term=scalar_term),
                 pysiglib.linear_sig(v, 2, 0, scalar_term=scalar_term), 0.0)


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
@pytest.mark.parametrize("initial_scalar", [False, True], ids=["init-noscalar", "init-scalar"])
def test_stream_rows_with_initial_are_initial_combined_with_plain_rows(rng, backend, np_dtype, rtol, opts,
                                                                       inverse, initial_scalar):
    degree, dim = 3, 2
    x = conv(make_path(rng, (2, 5, dim)), backend, np_dtype)
    d = aug(dim, opts)
    init = conv(sigrs.sig(make_path(rng, (2, 4, d)), degree, scalar_term=initial_scalar), backend, np_dtype)
    kw = dict(opts, stream=True, inverse=inverse)
    rows = sigrs.sig(x, degree, **kw)
    with_init = sigrs.sig(x, degree, initial=init, **kw)
    init_no_scalar = init[..., 1:] if initial_scalar else init
    for r in range(rows.shape[-2]):
        row = rows[..., r, :]
        if inverse:
            expected = sigrs.sig_combine(row, init_no_scalar, dim, degree, **flags(opts))
        else:
            expected = sigrs.sig_combine(init_no_scalar, row, dim, degree, **flags(opts))
        assert_close(with_init[..., r, :], expected, rtol, f"row {r}")


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
@pytest.mark.parametrize("basepoint", BASEPOINTS)
def test_last_stream_row_is_the_whole_signature(rng, backend, np_dtype, rtol, opts, inverse, basepoint):
    x = make_path(rng, (3, 5, 2))
    bp, init = make_options(rng, (3,), 2, 3, opts, basepoint, "scalar")
    kw = dict(opts, inverse=inverse, basepoint=conv_bp(bp, backend, np_dtype),
              initial=conv(init, backend, np_dtype), scalar_term=True)
    xb = conv(x, backend, np_dtype)
    stream = sigrs.sig(xb, 3, stream=True, **kw)
    assert_close(stream[..., -1, :], sigrs.sig(xb, 3, **kw), rtol)


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_basepoint_equals_prepending_the_point(rng, backend, np_dtype, rtol, opts, stream):
    x = make_path(rng, (2, 3, 4, 2))
    p = rng.standard_normal((2, 3, 2))
    origin = np.concatenate([np.zeros((2, 3, 1, 2)), x], axis=-2)
    based = np.concatenate([p[..., None, :], x], axis=-2)
    kw = dict(opts, stream=stream)
    xb = conv(x, backend, np_dtype)
    assert_close(sigrs.sig(xb, 3, basepoint=True, **kw), sigrs.sig(conv(origin, backend, np_dtype), 3, **kw),
                 rtol, "origin")
    assert_close(sigrs.sig(xb, 3, basepoint=conv(p, backend, np_dtype), **kw),
                 sigrs.sig(conv(based, backend, np_dtype), 3, **kw), rtol, "point")
    assert_close(sigrs.sig(xb, 3, basepoint=False, **kw), sigrs.sig(xb, 3, **kw), rtol, "False")


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_extract_sig_level_pieces_concatenate_to_the_signature(rng, backend, np_dtype, opts, scalar_term):
    degree = 3
    s = sigrs.sig(conv(make_path(rng, (2, 3, 5, 2)), backend, np_dtype), degree, scalar_term=scalar_term, **opts)
    d = aug(2, opts)
    levels = [sigrs.extract_sig_level(s, 2, k, scalar_term=scalar_term, **flags(opts))
              for k in range(0 if scalar_term else 1, degree + 1)]
    for k, lv in zip(range(0 if scalar_term else 1, degree + 1), levels):
        check_kind(lv, backend, np_dtype)
        assert tuple(lv.shape) == (2, 3, d ** k)
    joined = torch.cat(levels, dim=-1) if backend == "torch" else np.concatenate(levels, axis=-1)
    np.testing.assert_array_equal(f64(joined), f64(s))


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_extract_sig_coef_reads_the_words_at_word_to_idx(rng, backend, np_dtype, opts, scalar_term):
    degree = 3
    s = sigrs.sig(conv(make_path(rng, (3, 4, 2)), backend, np_dtype), degree, scalar_term=scalar_term, **opts)
    d = aug(2, opts)
    ws = ref.all_words(d, degree)[(0 if scalar_term else 1):]
    out = sigrs.extract_sig_coef(s, ws, 2, scalar_term=scalar_term, **flags(opts))
    check_kind(out, backend, np_dtype)
    assert tuple(out.shape) == (3, len(ws))
    s64 = f64(s)
    for j, w in enumerate(ws):
        i = sigrs.word_to_idx(w, d, scalar_term=scalar_term)
        assert i == ref.word_index(w, d, scalar_term)
        np.testing.assert_array_equal(f64(out)[:, j], s64[:, i])
    # one word (a tuple of letters) gives one coefficient
    one = sigrs.extract_sig_coef(s, ws[-1], 2, scalar_term=scalar_term, **flags(opts))
    assert tuple(one.shape) == (3, 1)
    np.testing.assert_array_equal(f64(one)[:, 0], s64[:, -1])


# ---------------------------------------------------------------------------
# peers: pysiglib 4.0 and iisignature
# ---------------------------------------------------------------------------

def _peer_tol(dtype):
    return 1e-10 if np.dtype(dtype) == np.float64 else 1e-4


@pytest.mark.parametrize("opts", [dict(), dict(time_aug=True), dict(lead_lag=True),
                                  dict(time_aug=True, lead_lag=True)], ids=["plain", "time", "ll", "ll+time"])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_sig_combine_and_backprop_match_pysiglib(rng, backend, np_dtype, opts, scalar_term):
    pysiglib = peer("pysiglib")
    d = aug(2, opts)
    a = conv(random_tensor(rng, (4,), d, 3, scalar_term), backend, np_dtype)
    b = conv(random_tensor(rng, (4,), d, 3, scalar_term), backend, np_dtype)
    out = sigrs.sig_combine(a, b, 2, 3, **opts)
    expected = pysiglib.sig_combine(a, b, 2, 3, **opts)
    assert type(out) is type(expected) and out.dtype == expected.dtype
    assert_close(out, expected, _peer_tol(np_dtype))
    g = conv(rng.standard_normal(tuple(a.shape)), backend, np_dtype)
    ours = sigrs.sig_combine_backprop(g, a, b, 2, 3, **opts)
    theirs = pysiglib.sig_combine_backprop(g, a, b, 2, 3, **opts)
    for o, t, name in zip(ours, theirs, ("d_sig1", "d_sig2")):
        assert type(o) is type(t)
        assert_close(o, t, _peer_tol(np_dtype), name)


@pytest.mark.parametrize("prepend", [False, True], ids=["append", "prepend"])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_sig_join_and_backprop_match_pysiglib(rng, backend, np_dtype, prepend, scalar_term):
    pysiglib = peer("pysiglib")
    s = conv(random_tensor(rng, (4,), 3, 3, scalar_term), backend, np_dtype)
    v = conv(rng.standard_normal((4, 3)), backend, np_dtype)
    out = sigrs.sig_join(s, v, 3, 3, prepend=prepend)
    expected = pysiglib.sig_join(s, v, 3, 3, prepend=prepend)
    assert type(out) is type(expected) and out.dtype == expected.dtype
    assert_close(out, expected, _peer_tol(np_dtype))
    g = conv(rng.standard_normal(tuple(s.shape)), backend, np_dtype)
    ours = sigrs.sig_join_backprop(g, s, v, 3, 3, prepend=prepend)
    theirs = pysiglib.sig_join_backprop(g, s, v, 3, 3, prepend=prepend)
    for o, t, name in zip(ours, theirs, ("d_sig", "d_displacement")):
        assert tuple(o.shape) == tuple(t.shape)
        assert_close(o, t, _peer_tol(np_dtype), name)


@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("dim,degree", [(1, 5), (2, 3), (4, 3)])
def test_linear_sig_matches_pysiglib(rng, backend, np_dtype, scalar_term, dim, degree):
    pysiglib = peer("pysiglib")
    v = conv(rng.standard_normal((3, dim)), backend, np_dtype)
    out = sigrs.linear_sig(v, dim, degree, scalar_term=scalar_term)
    expected = pysiglib.linear_sig(v, dim, degree, scalar_term=scalar_term)
    assert type(out) is type(expected) and out.dtype == expected.dtype
    assert_close(out, expected, _peer_tol(np_dtype))


@pytest.mark.parametrize("opts", [dict(), dict(time_aug=True), dict(lead_lag=True, time_aug=True)],
                         ids=["plain", "time", "ll+time"])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_extract_sig_coef_matches_pysiglib(rng, backend, np_dtype, opts, scalar_term):
    pysiglib = peer("pysiglib")
    s = sigrs.sig(conv(make_path(rng, (3, 5, 2)), backend, np_dtype), 3, scalar_term=scalar_term, **opts)
    d = aug(2, opts)
    ws = [(0,), (d - 1, 0), (1, 1, 0), (0, d - 1, 1)] + ([()] if scalar_term else [])
    out = sigrs.extract_sig_coef(s, ws, 2, scalar_term=scalar_term, **opts)
    expected = pysiglib.extract_sig_coef(s, ws, 2, scalar_term=scalar_term, **opts)
    assert tuple(out.shape) == tuple(expected.shape)
    assert_close(out, expected, 0.0)
    out = sigrs.extract_sig_coef(s, (1, 0), 2, scalar_term=scalar_term, **opts)
    expected = pysiglib.extract_sig_coef(s, (1, 0), 2, scalar_term=scalar_term, **opts)
    assert tuple(out.shape) == tuple(expected.shape)
    assert_close(out, expected, 0.0)


def test_sig_combine_and_backprop_match_iisignature(rng, np_dtype):
    iisignature = peer("iisignature")
    a = random_tensor(rng, (2, 3), 3, 3, False).astype(np_dtype)
    b = random_tensor(rng, (2, 3), 3, 3, False).astype(np_dtype)
    assert_close(sigrs.sig_combine(a, b, 3, 3), iisignature.sigcombine(a, b, 3, 3), max(1e-6, rtol_for(np_dtype)))
    g = rng.standard_normal(a.shape).astype(np_dtype)
    ours = sigrs.sig_combine_backprop(g, a, b, 3, 3)
    theirs = iisignature.sigcombinebackprop(g, a, b, 3, 3)
    # iisignature's backprops return float32 whatever the input precision
    for o, t in zip(ours, theirs):
        assert_close(o, t, max(1e-6, rtol_for(np_dtype)))


def test_sig_join_and_backprop_match_iisignature(rng):
    iisignature = peer("iisignature")
    s = sigrs.sig(make_path(rng, (2, 3, 5, 3)), 3)
    v = rng.standard_normal((2, 3, 3))
    assert_close(sigrs.sig_join(s, v, 3, 3), iisignature.sigjoin(s, v, 3), 1e-6)
    g = rng.standard_normal(s.shape)
    g_sig, g_v = sigrs.sig_join_backprop(g, s, v, 3, 3)
    t_sig, t_v = iisignature.sigjoinbackprop(g, s, v, 3)
    assert_close(g_sig, t_sig, 1e-6, "d_sig")
    assert_close(g_v, t_v, 1e-6, "d_displacement")


@pytest.mark.parametrize("dim,degree", [(1, 4), (2, 3), (3, 4)])
@pytest.mark.parametrize("length", [2, 3, 8])
def test_stream_matches_iisignature_cumulative_signatures(rng, np_dtype, dim, degree, length):
    iisignature = peer("iisignature")
    x = make_path(rng, (length, dim)).astype(np_dtype)
    expected = iisignature.sig(x.astype(np.float64), degree, 2)
    assert_close(sigrs.sig(x, degree, stream=True), expected, rtol_for(np_dtype))
    xb = make_path(rng, (2, 2, length, dim))
    expected = iisignature.sig(xb, degree, 2)
    assert_close(sigrs.sig(xb, degree, stream=True), expected, F64_RTOL, "batched")


def test_basepoint_sig_backprop_matches_iisignature_on_the_based_path(rng):
    iisignature = peer("iisignature")
    x = make_path(rng, (2, 5, 3))
    p = rng.standard_normal((2, 3))
    s = sigrs.sig(x, 3, basepoint=p)
    g = rng.standard_normal(s.shape)
    d_path, d_bp, d_init = sigrs.sig_backprop(x, s, g, 3, basepoint=p)
    assert d_init is None
    based = np.concatenate([p[:, None, :], x], axis=1)
    assert_close(s, iisignature.sig(based, 3), F64_RTOL)
    expected = np.stack([iisignature.sigbackprop(g[b], based[b], 3) for b in range(2)])
    assert_close(d_bp, expected[:, 0], 1e-6, "d_basepoint")
    assert_close(d_path, expected[:, 1:], 1e-6, "d_path")
    # the origin as basepoint: the gradient of the path only
    s0 = sigrs.sig(x, 3, basepoint=True)
    origin = np.concatenate([np.zeros((2, 1, 3)), x], axis=1)
    expected = np.stack([iisignature.sigbackprop(g[b], origin[b], 3) for b in range(2)])
    assert_close(sigrs.sig_backprop(x, s0, g, 3, basepoint=True), expected[:, 1:], 1e-6)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------

def _t(x, requires_grad=True):
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=requires_grad)


def _inputs_for(rng, batch_shape, length, dim, degree, opts, basepoint, initial):
    x = _t(make_path(rng, batch_shape + (length, dim)))
    bp, init = make_options(rng, batch_shape, dim, degree, opts, basepoint, initial)
    bp_t = bp if isinstance(bp, bool) else _t(bp)
    init_t = None if init is None else _t(init)
    return x, bp_t, init_t


@needs_torch
@pytest.mark.parametrize("scalar_term", [False, True], ids=["out-noscalar", "out-scalar"])
@pytest.mark.parametrize("initial", INITIALS, ids=["noinit", "init-noscalar", "init-scalar"])
@pytest.mark.parametrize("basepoint", BASEPOINTS)
@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("opts", TRANSFORMS)
def test_gradcheck_passes_for_every_sig_option_combination(rng, opts, stream, inverse, basepoint, initial,
                                                           scalar_term):
    degree = 2
    x, bp, init = _inputs_for(rng, (2,), 3, 2, degree, opts, basepoint, initial)
    inputs = [x] + ([bp] if basepoint == "point" else []) + ([init] if initial else [])

    def fn(*args):
        args = list(args)
        path = args.pop(0)
        b = args.pop(0) if basepoint == "point" else bp
        i = args.pop(0) if initial else None
        return sigrs.sig(path, degree, stream=stream, inverse=inverse, basepoint=b, initial=i,
                         scalar_term=scalar_term, **opts)

    # fast mode checks a random projection of the Jacobian (a wrong gradient fails it all the
    # same); the whole Jacobian where every input is given
    full = basepoint == "point" and initial == "scalar"
    assert torch.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=not full)


@needs_torch
@pytest.mark.parametrize("initial", INITIALS, ids=["noinit", "init-noscalar", "init-scalar"])
@pytest.mark.parametrize("basepoint", BASEPOINTS)
@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("opts", TRANSFORMS)
def test_sig_autograd_matches_autograd_through_the_reference(rng, opts, stream, inverse, basepoint, initial):
    degree = 3
    batch_shape = (2,)
    x, bp, init = _inputs_for(rng, batch_shape, 4, 2, degree, opts, basepoint, initial)
    kw = dict(opts, stream=stream, inverse=inverse, scalar_term=True)
    ours = sigrs.sig(x, degree, basepoint=bp, initial=init, **kw)
    w = torch.from_numpy(rng.standard_normal(tuple(ours.shape)))
    leaves = [t for t in (x, bp, init) if isinstance(t, torch.Tensor)]
    grads = torch.autograd.grad((ours * w).sum(), leaves)
    expected = torch.autograd.grad((ref.sig_general(x, degree, basepoint=bp, initial=init, **kw) * w).sum(),
                                   leaves)
    for g, e, name in zip(grads, expected, ("path", "basepoint/initial", "initial")):
        assert g.shape == e.shape
        assert_close(g, e, 1e-9, name)
    if initial == "scalar":
        assert torch.all(grads[-1][..., 0] == 0), "the scalar term of initial must get no gradient"


@pytest.mark.parametrize("scalar_term", [False, True], ids=["out-noscalar", "out-scalar"])
@pytest.mark.parametrize("initial", INITIALS, ids=["noinit", "init-noscalar", "init-scalar"])
@pytest.mark.parametrize("basepoint", BASEPOINTS)
@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("opts", TRANSFORMS)
def test_sig_backprop_equals_autograd_and_returns_the_documented_tuple(rng, opts, stream, inverse, basepoint,
                                                                      initial, scalar_term):
    degree, batch_shape = 3, (2,)
    x_np = make_path(rng, batch_shape + (4, 2))
    bp, init = make_options(rng, batch_shape, 2, degree, opts, basepoint, initial)
    kw = dict(opts, stream=stream, inverse=inverse)
    # autograd through sigrs
    x = _t(x_np)
    bp_t = bp if isinstance(bp, bool) else _t(bp)
    init_t = None if init is None else _t(init)
    out = sigrs.sig(x, degree, basepoint=bp_t, initial=init_t, scalar_term=scalar_term, **kw)
    g = rng.standard_normal(tuple(out.shape))
    leaves = [t for t in (x, bp_t, init_t) if isinstance(t, torch.Tensor)]
    auto = list(torch.autograd.grad((out * torch.from_numpy(g)).sum(), leaves))
    auto_path = auto.pop(0)
    auto_bp = auto.pop(0) if basepoint == "point" else None
    auto_init = auto.pop(0) if initial else None
    tuple_out = basepoint == "point" or initial is not None
    for backend in ("numpy", "torch"):
        s = sigrs.sig(conv(x_np, backend, np.float64), degree, basepoint=conv_bp(bp, backend, np.float64),
                      initial=conv(init, backend, np.float64), scalar_term=scalar_term, **kw)
        res = sigrs.sig_backprop(conv(x_np, backend, np.float64), s, conv(g, backend, np.float64), degree,
                                 basepoint=conv_bp(bp, backend, np.float64),
                                 initial=conv(init, backend, np.float64), **kw)
        if not tuple_out:
            assert not isinstance(res, tuple), "sig_backprop returns d_path alone without array basepoint/initial"
            check_kind(res, backend, np.float64)
            assert_close(res, auto_path, 1e-10, f"{backend} d_path")
            continue
        assert isinstance(res, tuple) and len(res) == 3
        d_path, d_bp, d_init = res
        check_kind(d_path, backend, np.float64)
        assert_close(d_path, auto_path, 1e-10, f"{backend} d_path")
        if basepoint == "point":
            check_kind(d_bp, backend, np.float64)
            assert tuple(d_bp.shape) == batch_shape + (2,)
            assert_close(d_bp, auto_bp, 1e-10, f"{backend} d_basepoint")
        else:
            assert d_bp is None
        if initial:
            check_kind(d_init, backend, np.float64)
            assert tuple(d_init.shape) == tuple(init.shape), "d_initial must have the layout of initial"
            assert_close(d_init, auto_init, 1e-10, f"{backend} d_initial")
            if initial == "scalar":
                assert np.all(f64(d_init)[..., 0] == 0)
        else:
            assert d_init is None


@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_sig_backprop_of_float32_is_float32_and_close(rng, stream, inverse):
    x = make_path(rng, (2, 5, 2))
    init = random_tensor(rng, (2,), 2, 3, True)
    kw = dict(stream=stream, inverse=inverse, basepoint=True)
    s64 = sigrs.sig(x, 3, initial=init, **kw)
    g = rng.standard_normal(s64.shape)
    e_path, _, e_init = sigrs.sig_backprop(x, s64, g, 3, initial=init, **kw)
    x32, init32 = x.astype(np.float32), init.astype(np.float32)
    s32 = sigrs.sig(x32, 3, initial=init32, **kw)
    d_path, d_bp, d_init = sigrs.sig_backprop(x32, s32, g.astype(np.float32), 3, initial=init32, **kw)
    assert d_path.dtype == np.float32 and d_init.dtype == np.float32 and d_bp is None
    assert_close(d_path, e_path, F32_RTOL * 10, "d_path")
    assert_close(d_init, e_init, F32_RTOL * 10, "d_initial")


def _gradcheck(fn, *inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@needs_torch
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", [(), (2,), (2, 2)], ids=["nobatch", "b2", "b2x2"])
def test_gradcheck_passes_for_operations_on_signatures(rng, scalar_term, batch_shape):
    dim, degree = 2, 3
    a = _t(random_tensor(rng, batch_shape, dim, degree, scalar_term))
    b = _t(random_tensor(rng, batch_shape, dim, degree, scalar_term))
    c = _t(random_tensor(rng, batch_shape, dim, degree, scalar_term))
    v = _t(rng.standard_normal(batch_shape + (dim,)))
    _gradcheck(lambda p, q: sigrs.sig_combine(p, q, dim, degree), a, b)
    _gradcheck(lambda p, q, r: sigrs.multi_sig_combine([p, q, r], dim, degree), a, b, c)
    _gradcheck(lambda p, q, r: sigrs.multi_sig_combine(torch.stack([p, q, r], dim=-2), dim, degree), a, b, c)
    _gradcheck(lambda p: sigrs.multi_sig_combine([p], dim, degree), a)
    for prepend in (False, True):
        _gradcheck(lambda p, u: sigrs.sig_join(p, u, dim, degree, prepend=prepend), a, v)
    _gradcheck(lambda u: sigrs.linear_sig(u, dim, degree, scalar_term=scalar_term), v)
    _gradcheck(lambda p: sigrs.sig_inverse(p, dim, degree), a)
    ws = [(0,), (1, 0), (0, 1, 1)] + ([()] if scalar_term else [])
    _gradcheck(lambda p: sigrs.extract_sig_coef(p, ws, dim, scalar_term=scalar_term), a)
    _gradcheck(lambda p: sigrs.extract_sig_level(p, dim, 2, scalar_term=scalar_term), a)


@needs_torch
def test_gradcheck_passes_for_operations_with_transform_flags(rng):
    opts = dict(time_aug=True, lead_lag=True)
    d, degree = aug(1, opts), 2
    a = _t(random_tensor(rng, (2,), d, degree, False))
    b = _t(random_tensor(rng, (2,), d, degree, False))
    _gradcheck(lambda p, q: sigrs.sig_combine(p, q, 1, degree, **opts), a, b)
    _gradcheck(lambda p, q: sigrs.multi_sig_combine([p, q, p], 1, degree, **opts), a, b)
    _gradcheck(lambda p: sigrs.sig_inverse(p, 1, degree, **opts), a)


@needs_torch
def test_gradcheck_passes_for_a_chain_of_operations(rng):
    """sig -> sig_inverse -> sig_join -> sig_combine with sig(initial=...) end to end."""
    x = _t(make_path(rng, (2, 4, 2)))
    y = _t(make_path(rng, (2, 3, 2)))
    v = _t(rng.standard_normal((2, 2)))

    def fn(p, q, u):
        s = sigrs.sig(p, 3, scalar_term=True)
        t = sigrs.sig_join(sigrs.sig_inverse(sigrs.sig(q, 3), 2, 3), u, 2, 3, prepend=True)
        return sigrs.sig(p, 3, initial=sigrs.sig_combine(s[..., 1:], t, 2, 3), stream=True)

    _gradcheck(fn, x, y, v)


@needs_torch
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 2)], ids=["nobatch", "b3", "b2x2"])
def test_explicit_backprops_of_operations_equal_autograd(rng, scalar_term, batch_shape):
    dim, degree = 3, 3
    a_np = random_tensor(rng, batch_shape, dim, degree, scalar_term)
    b_np = random_tensor(rng, batch_shape, dim, degree, scalar_term)
    c_np = random_tensor(rng, batch_shape, dim, degree, scalar_term)
    v_np = rng.standard_normal(batch_shape + (dim,))
    g_np = rng.standard_normal(a_np.shape)
    g = torch.from_numpy(g_np)

    def auto(out, *leaves):
        return torch.autograd.grad((out * g).sum(), leaves)

    for backend in ("numpy", "torch"):
        cv = (lambda x: conv(x, backend, np.float64))
        # sig_combine
        a, b = _t(a_np), _t(b_np)
        expected = auto(sigrs.sig_combine(a, b, dim, degree), a, b)
        got = sigrs.sig_combine_backprop(cv(g_np), cv(a_np), cv(b_np), dim, degree)
        assert isinstance(got, tuple) and len(got) == 2
        for x, e in zip(got, expected):
            check_kind(x, backend, np.float64)
            assert_close(x, e, F64_RTOL, "sig_combine_backprop")
        # multi_sig_combine: a list in, a list out; an array in, an array out
        a, b, c = _t(a_np), _t(b_np), _t(c_np)
        expected = auto(sigrs.multi_sig_combine([a, b, c], dim, degree), a, b, c)
        got = sigrs.multi_sig_combine_backprop(cv(g_np), [cv(a_np), cv(b_np), cv(c_np)], dim, degree)
        assert isinstance(got, list) and len(got) == 3
        for x, e in zip(got, expected):
            assert_close(x, e, F64_RTOL, "multi_sig_combine_backprop (list)")
        stacked = cv(np.stack([a_np, b_np, c_np], axis=-2))
        got = sigrs.multi_sig_combine_backprop(cv(g_np), stacked, dim, degree)
        check_kind(got, backend, np.float64)
        assert tuple(got.shape) == tuple(stacked.shape)
        assert_close(got, torch.stack(list(expected), dim=-2), F64_RTOL, "multi_sig_combine_backprop (array)")
        # sig_join
        for prepend in (False, True):
            a, v = _t(a_np), _t(v_np)
            expected = auto(sigrs.sig_join(a, v, dim, degree, prepend=prepend), a, v)
            got = sigrs.sig_join_backprop(cv(g_np), cv(a_np), cv(v_np), dim, degree, prepend=prepend)
            for x, e in zip(got, expected):
                check_kind(x, backend, np.float64)
                assert_close(x, e, F64_RTOL, f"sig_join_backprop prepend={prepend}")
        # linear_sig (derivs with or without the scalar term)
        v = _t(v_np)
        (expected,) = auto(sigrs.linear_sig(v, dim, degree, scalar_term=scalar_term), v)
        got = sigrs.linear_sig_backprop(cv(g_np), cv(v_np), dim, degree)
        check_kind(got, backend, np.float64)
        assert_close(got, expected, F64_RTOL, "linear_sig_backprop")


@needs_torch
def test_scalar_terms_of_signature_arguments_get_no_gradient(rng):
    a = _t(random_tensor(rng, (2,), 2, 3, True, level0=2.0))
    b = _t(random_tensor(rng, (2,), 2, 3, True, level0=-1.0))
    v = _t(rng.standard_normal((2, 2)))
    outs = [sigrs.sig_combine(a, b, 2, 3), sigrs.multi_sig_combine([a, b], 2, 3), sigrs.sig_join(a, v, 2, 3),
            sigrs.sig_inverse(a, 2, 3)]
    for out in outs:
        assert torch.all(out[..., 0] == 1), "the level-0 output is 1"
        grads = torch.autograd.grad(out.sum(), [a, b], allow_unused=True)
        for gr in grads:
            if gr is not None:
                assert torch.all(gr[..., 0] == 0)
    # and the values do not depend on level 0
    a1, b1 = a.detach().clone(), b.detach().clone()
    a1[..., 0], b1[..., 0] = 1.0, 1.0
    assert_close(sigrs.sig_combine(a, b, 2, 3), sigrs.sig_combine(a1, b1, 2, 3), F64_RTOL)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

def _raises(exc, *needles):
    """pytest.raises whose message must mention every needle."""
    class _Ctx:
        def __enter__(self):
            self.ctx = pytest.raises(exc)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *a):
            handled = self.ctx.__exit__(*a)
            if handled:
                msg = str(self.info.value)
                for n in needles:
                    assert n in msg, f"{n!r} not in error message {msg!r}"
            return handled

    return _Ctx()


def test_sig_combine_rejects_mismatched_and_wrong_lengths(rng):
    a = sigrs.sig(make_path(rng, (3, 4, 2)), 3)
    with _raises(ValueError, "sig2", "(3, 14)", "(2, 14)"):
        sigrs.sig_combine(a, a[:2], 2, 3)
    with _raises(ValueError, "sig2"):
        sigrs.sig_combine(a, np.concatenate([np.ones((3, 1)), a], axis=1), 2, 3)
    with _raises(ValueError, "sig1", "14"):
        sigrs.sig_combine(a, a, 3, 3)
    with _raises(ValueError, "sig1"):
        sigrs.sig_combine(a, a, 2, 2)
    with _raises(ValueError, "sig1"):
        sigrs.sig_combine(a, a, 2, 3, time_aug=True)
    with _raises(ValueError, "deriv"):
        sigrs.sig_combine_backprop(a[:2], a, a, 2, 3)
    with _raises(ValueError, "sig"):
        sigrs.sig_inverse(a[..., :-1], 2, 3)
    with _raises(ValueError, "sigs"):
        sigrs.multi_sig_combine([a[..., :-1]], 2, 3)
    with _raises(ValueError, "sigs[1]"):
        sigrs.multi_sig_combine([a, a[:2]], 2, 3)


@needs_torch
def test_mixing_numpy_torch_or_dtypes_is_a_type_error(rng):
    a = sigrs.sig(make_path(rng, (3, 4, 2)), 3)
    at = torch.from_numpy(a)
    v = rng.standard_normal((3, 2))
    with _raises(TypeError, "sig2"):
        sigrs.sig_combine(a, at, 2, 3)
    with _raises(TypeError, "sig2"):
        sigrs.sig_combine(at, a, 2, 3)
    with _raises(TypeError, "sig2", "float"):
        sigrs.sig_combine(a, a.astype(np.float32), 2, 3)
    with _raises(TypeError, "sig2", "float"):
        sigrs.sig_combine(at, at.float(), 2, 3)
    with _raises(TypeError, "deriv"):
        sigrs.sig_combine_backprop(torch.from_numpy(a), a, a, 2, 3)
    with _raises(TypeError, "sigs[1]"):
        sigrs.multi_sig_combine([a, at], 2, 3)
    with _raises(TypeError, "sigs[1]"):
        sigrs.multi_sig_combine([a, a.astype(np.float32)], 2, 3)
    with _raises(TypeError, "displacement"):
        sigrs.sig_join(at, v, 2, 3)
    with _raises(TypeError, "displacement"):
        sigrs.sig_join(a, v.astype(np.float32), 2, 3)
    with _raises(TypeError, "derivs"):
        sigrs.linear_sig_backprop(a, torch.from_numpy(v), 2, 3)
    with _raises(TypeError, "dtype"):
        sigrs.sig_inverse(a.astype(np.int32), 2, 3)
    with _raises(TypeError, "derivs"):
        sigrs.multi_sig_combine_backprop(at, [a, a], 2, 3)


@needs_torch
def test_bad_basepoint_is_rejected(rng):
    x = make_path(rng, (3, 4, 2))
    xt = torch.from_numpy(x)
    with _raises(ValueError, "basepoint", "(3, 2)", "(3, 3)"):
        sigrs.sig(x, 3, basepoint=np.zeros((3, 3)))
    with _raises(ValueError, "basepoint", "(3, 2)"):
        sigrs.sig(x, 3, basepoint=np.zeros((2,)))
    with _raises(ValueError, "basepoint"):
        sigrs.sig(x, 3, basepoint=np.zeros((2, 2)))
    with _raises(TypeError, "basepoint"):
        sigrs.sig(xt, 3, basepoint=np.zeros((3, 2)))
    with _raises(TypeError, "basepoint"):
        sigrs.sig(x, 3, basepoint=torch.zeros((3, 2), dtype=torch.float64))
    with _raises(TypeError, "basepoint"):
        sigrs.sig(x, 3, basepoint=np.zeros((3, 2), np.float32))
    s = sigrs.sig(x, 3, basepoint=True)
    with _raises(ValueError, "basepoint"):
        sigrs.sig_backprop(x, s, s, 3, basepoint=np.zeros((3, 3)))


@needs_torch
def test_bad_initial_is_rejected(rng):
    x = make_path(rng, (3, 4, 2))
    good = sigrs.sig(make_path(rng, (3, 4, 2)), 3)
    with _raises(ValueError, "initial", "14"):
        sigrs.sig(x, 3, initial=good[..., :-1])
    with _raises(ValueError, "initial"):
        sigrs.sig(x, 3, initial=good, lead_lag=True)
    with _raises(ValueError, "initial", "(3, 14)", "(2, 14)"):
        sigrs.sig(x, 3, initial=good[:2])
    with _raises(ValueError, "initial"):
        sigrs.sig(x, 3, initial=good[0])
    with _raises(TypeError, "initial"):
        sigrs.sig(torch.from_numpy(x), 3, initial=good)
    with _raises(TypeError, "initial"):
        sigrs.sig(x, 3, initial=torch.from_numpy(good))
    with _raises(TypeError, "initial"):
        sigrs.sig(x, 3, initial=good.astype(np.float32))
    s = sigrs.sig(x, 3, initial=good)
    with _raises(ValueError, "initial"):
        sigrs.sig_backprop(x, s, s, 3, initial=good[:2])


def test_bad_displacement_is_rejected(rng):
    s = sigrs.sig(make_path(rng, (3, 4, 2)), 3)
    with _raises(ValueError, "displacement", "(3, 2)", "(3, 3)"):
        sigrs.sig_join(s, np.zeros((3, 3)), 2, 3)
    with _raises(ValueError, "displacement", "(3, 2)", "(2, 2)"):
        sigrs.sig_join(s, np.zeros((2, 2)), 2, 3)
    with _raises(ValueError, "displacement"):
        sigrs.sig_join_backprop(s, s, np.zeros((3, 3)), 2, 3)
    with _raises(ValueError, "displacement"):
        sigrs.linear_sig(np.zeros((3, 3)), 2, 3)
    with _raises(ValueError, "displacement"):
        sigrs.linear_sig_backprop(np.zeros((3, 14)), np.zeros((3, 3)), 2, 3)
    with _raises(ValueError, "derivs"):
        sigrs.linear_sig_backprop(np.zeros((3, 13)), np.zeros((3, 2)), 2, 3)
    with _raises(ValueError, "derivs"):
        sigrs.linear_sig_backprop(np.zeros((2, 14)), np.zeros((3, 2)), 2, 3)


def test_multi_sig_combine_rejects_empty_and_flat_input(rng):
    with _raises(ValueError, "sigs"):
        sigrs.multi_sig_combine([], 2, 3)
    with _raises(ValueError, "sigs"):
        sigrs.multi_sig_combine((), 2, 3)
    with _raises(ValueError, "sigs"):
        sigrs.multi_sig_combine(np.zeros(14), 2, 3)
    with _raises(ValueError, "sigs"):
        sigrs.multi_sig_combine_backprop(np.zeros(14), [], 2, 3)
    pieces = np.zeros((3, 4, 14))
    with _raises(ValueError, "derivs"):
        sigrs.multi_sig_combine_backprop(np.zeros((4, 14)), pieces, 2, 3)


def test_extract_rejects_levels_and_letters_out_of_range(rng):
    s = sigrs.sig(make_path(rng, (3, 4, 2)), 3)
    with _raises(ValueError, "level", "4"):
        sigrs.extract_sig_level(s, 2, 4)
    with _raises(ValueError, "level"):
        sigrs.extract_sig_level(s, 2, 0)
    with _raises(ValueError, "word", "2"):
        sigrs.extract_sig_coef(s, [(0, 2)], 2)
    with _raises(ValueError, "word", "2"):
        sigrs.extract_sig_coef(s, [(2,)], 2)
    with _raises(ValueError, "word", "(0, 0, 0, 0)"):
        sigrs.extract_sig_coef(s, [(0, 0, 0, 0)], 2)
    with _raises(ValueError, "word"):
        sigrs.extract_sig_coef(s, [()], 2)
    with _raises(ValueError, "word", "-1"):
        sigrs.extract_sig_coef(s, [(-1,)], 2)
    # a letter of the time channel is fine with time_aug, out of range without
    st = sigrs.sig(make_path(rng, (3, 4, 2)), 2, time_aug=True)
    assert sigrs.extract_sig_coef(st, [(2, 0)], 2, time_aug=True).shape == (3, 1)
    with _raises(ValueError, "word", "3"):
        sigrs.extract_sig_coef(st, [(3,)], 2, time_aug=True)


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2"])
def test_bad_n_jobs_is_rejected_everywhere(rng, n_jobs):
    exc = ValueError if n_jobs == 0 else TypeError
    x = make_path(rng, (3, 4, 2))
    s = sigrs.sig(x, 3)
    v = np.zeros((3, 2))
    calls = [
        lambda: sigrs.sig(x, 3, stream=True, n_jobs=n_jobs),
        lambda: sigrs.sig(x, 3, initial=s, n_jobs=n_jobs),
        lambda: sigrs.sig_backprop(x, s, s, 3, inverse=True, n_jobs=n_jobs),
        lambda: sigrs.sig_combine(s, s, 2, 3, n_jobs=n_jobs),
        lambda: sigrs.sig_combine_backprop(s, s, s, 2, 3, n_jobs=n_jobs),
        lambda: sigrs.multi_sig_combine([s, s], 2, 3, n_jobs=n_jobs),
        lambda: sigrs.multi_sig_combine_backprop(s, [s, s], 2, 3, n_jobs=n_jobs),
        lambda: sigrs.sig_join(s, v, 2, 3, n_jobs=n_jobs),
        lambda: sigrs.sig_join_backprop(s, s, v, 2, 3, n_jobs=n_jobs),
        lambda: sigrs.linear_sig(v, 2, 3, n_jobs=n_jobs),
        lambda: sigrs.linear_sig_backprop(s, v, 2, 3, n_jobs=n_jobs),
        lambda: sigrs.sig_inverse(s, 2, 3, n_jobs=n_jobs),
    ]
    for call in calls:
        with _raises(exc, "n_jobs"):
            call()


def test_bad_option_types_are_rejected(rng):
    x = make_path(rng, (3, 4, 2))
    with _raises(TypeError, "stream"):
        sigrs.sig(x, 3, stream=1)
    with _raises(TypeError, "inverse"):
        sigrs.sig(x, 3, inverse="yes")
    s = sigrs.sig(x, 3)
    with _raises(TypeError, "prepend"):
        sigrs.sig_join(s, np.zeros((3, 2)), 2, 3, prepend=None)
    with _raises(TypeError, "dimension"):
        sigrs.sig_combine(s, s, 2.0, 3)
    with _raises(ValueError, "degree"):
        sigrs.sig_inverse(s, 2, -1)


def test_sig_backprop_rejects_sig_of_the_wrong_shape(rng):
    x = make_path(rng, (3, 4, 2))
    stream = sigrs.sig(x, 3, stream=True)
    whole = sigrs.sig(x, 3)
    with _raises(ValueError, "sig"):
        sigrs.sig_backprop(x, whole, whole, 3, stream=True)
    with _raises(ValueError, "sig"):
        sigrs.sig_backprop(x, stream, stream, 3)
    # with a basepoint the stream has one row more
    with _raises(ValueError, "sig"):
        sigrs.sig_backprop(x, stream, stream, 3, stream=True, basepoint=True)
    with _raises(ValueError, "sig_derivs"):
        sigrs.sig_backprop(x, stream, stream[:, :-1], 3, stream=True)


# ---------------------------------------------------------------------------
# n_jobs: serial, all cores and more threads than items give the same numbers
# ---------------------------------------------------------------------------

JOBS = [-1, 4]


def _same(results, rtol, what):
    for n_jobs, r in results[1:]:
        assert_close(r, results[0][1], rtol, f"{what}: n_jobs={n_jobs} vs n_jobs={results[0][0]}")


@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
def test_n_jobs_does_not_change_batched_results(rng, np_dtype, rtol, inverse):
    x = make_path(rng, (7, 6, 2), np_dtype)
    init = random_tensor(rng, (7,), 5, 3, True).astype(np_dtype)
    bp = rng.standard_normal((7, 2)).astype(np_dtype)
    kw = dict(time_aug=True, lead_lag=True, inverse=inverse, basepoint=bp, initial=init)
    for stream in (False, True):
        outs = [(j, sigrs.sig(x, 3, stream=stream, n_jobs=j, **kw)) for j in [1] + JOBS]
        _same(outs, 0.0, f"sig stream={stream}")
        s = outs[0][1]
        g = rng.standard_normal(s.shape).astype(np_dtype)
        grads = [(j, np.concatenate([r.reshape(7, -1) for r in sigrs.sig_backprop(x, s, g, 3, stream=stream,
                                                                                n_jobs=j, **kw)], axis=1))
                 for j in [1] + JOBS]
        _same(grads, 0.0, f"sig_backprop stream={stream}")
    a = random_tensor(rng, (7,), 2, 4, False).astype(np_dtype)
    b = random_tensor(rng, (7,), 2, 4, False).astype(np_dtype)
    v = rng.standard_normal((7, 2)).astype(np_dtype)
    for name, fn in [
        ("sig_combine", lambda j: sigrs.sig_combine(a, b, 2, 4, n_jobs=j)),
        ("sig_combine_backprop", lambda j: np.stack(sigrs.sig_combine_backprop(a, a, b, 2, 4, n_jobs=j))),
        ("multi_sig_combine", lambda j: sigrs.multi_sig_combine([a, b, a], 2, 4, n_jobs=j)),
        ("multi_sig_combine_backprop", lambda j: sigrs.multi_sig_combine_backprop(a, np.stack([a, b, a], 1), 2, 4,
                                                                                  n_jobs=j)),
        ("sig_join", lambda j: sigrs.sig_join(a, v, 2, 4, prepend=True, n_jobs=j)),
        ("sig_join_backprop", lambda j: np.concatenate(sigrs.sig_join_backprop(b, a, v, 2, 4, n_jobs=j), axis=1)),
        ("linear_sig", lambda j: sigrs.linear_sig(v, 2, 4, n_jobs=j)),
        ("linear_sig_backprop", lambda j: sigrs.linear_sig_backprop(a, v, 2, 4, n_jobs=j)),
        ("sig_inverse", lambda j: sigrs.sig_inverse(a, 2, 4, n_jobs=j)),
    ]:
        _same([(j, fn(j)) for j in [1] + JOBS], 0.0, name)


@pytest.mark.parametrize("count", [64, 97])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_multi_sig_combine_of_many_pieces_is_independent_of_n_jobs(rng, np_dtype, count, scalar_term):
    """Few batch items and many pieces: runs of pieces are multiplied in parallel."""
    length, degree = count * 2 + 1, 4
    x = make_path(rng, (length, 2))
    pieces = np.stack([sigrs.sig(x[2 * i:2 * i + 3], degree, scalar_term=scalar_term) for i in range(count)])
    whole = ref.sig(x, degree, scalar_term=scalar_term)
    for batch in [None, 1, 2]:
        sigs = pieces if batch is None else np.broadcast_to(pieces, (batch,) + pieces.shape).copy()
        sigs = sigs.astype(np_dtype)
        outs = [(j, sigrs.multi_sig_combine(sigs, 2, degree, n_jobs=j)) for j in [1] + JOBS]
        expected = whole if batch is None else np.broadcast_to(whole, (batch,) + whole.shape)
        for j, o in outs:
            assert_close(o, expected, rtol_for(np_dtype) * (1 if np_dtype == np.float32 else 100),
                         f"n_jobs={j} batch={batch}")
        _same(outs, 1e-12 if np_dtype == np.float64 else 1e-5, f"batch={batch}")
        listed = [sigs[..., i, :] for i in range(count)]
        _same([(j, sigrs.multi_sig_combine(listed, 2, degree, n_jobs=j)) for j in [1] + JOBS],
              1e-12 if np_dtype == np.float64 else 1e-5, f"list batch={batch}")
        derivs = rng.standard_normal(expected.shape).astype(np_dtype)
        _same([(j, sigrs.multi_sig_combine_backprop(derivs, sigs, 2, degree, n_jobs=j)) for j in [1] + JOBS],
              1e-12 if np_dtype == np.float64 else 1e-5, f"backprop batch={batch}")


@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
@pytest.mark.parametrize("initial", [None, "noscalar", "scalar"], ids=["noinit", "init-noscalar", "init-scalar"])
@pytest.mark.parametrize("opts", [TRANSFORMS[0], TRANSFORMS[3]])
def test_a_single_long_path_is_independent_of_n_jobs(rng, inverse, initial, opts):
    """One path of 600 points: the non-stream signature is cut into chunks joined by Chen's identity."""
    length, degree = 600, 3
    x = make_path(rng, (length, 2))
    init = None if initial is None else random_tensor(rng, (), aug(2, opts), degree, initial == "scalar")
    kw = dict(opts, inverse=inverse)
    whole = ref.sig_general(x, degree, initial=init, **kw)
    for dtype in (np.float64, np.float32):
        # f32 rounding grows with the number of steps, and chunking changes the order of operations
        tol = 1e-12 if dtype == np.float64 else F32_RTOL
        vs_ref = 1e-9 if dtype == np.float64 else 1e-3
        init_d = None if init is None else init.astype(dtype)
        for stream in (False, True):
            outs = [(j, sigrs.sig(x.astype(dtype), degree, stream=stream, initial=init_d, n_jobs=j, **kw))
                    for j in [1] + JOBS]
            _same(outs, tol, f"{np.dtype(dtype).name} stream={stream}")
            for j, o in outs:
                assert_close(o[-1] if stream else o, whole, vs_ref,
                             f"{np.dtype(dtype).name} n_jobs={j} stream={stream} vs reference")
            if stream:  # row r ends at point r + 1, on the whole path's clock
                r = length // 2
                t = kw.get("end_time", 1.0) * (r + 1) / (length - 1)
                expected = ref.sig_general(x[:r + 2], degree, initial=init, **dict(kw, end_time=t))
                assert_close(outs[0][1][r], expected, vs_ref, "a middle row vs reference")


@pytest.mark.parametrize("opts", [TRANSFORMS[0], TRANSFORMS[3]])
def test_few_long_paths_are_independent_of_n_jobs(rng, np_dtype, opts):
    length, degree = 600, 3
    tol = 1e-12 if np_dtype == np.float64 else F32_RTOL
    xb = make_path(rng, (2, length, 2))
    expected = ref.sig(xb, degree, **opts)
    for b in (1, 2):
        outs = [(j, sigrs.sig(xb[:b].astype(np_dtype), degree, n_jobs=j, **opts)) for j in [1] + JOBS]
        _same(outs, tol, f"batch {b}")
        for j, o in outs:
            assert_close(o, expected[:b], 1e-9 if np_dtype == np.float64 else 1e-3, f"batch {b} n_jobs={j}")
