"""sigrs.iisignature against iisignature 0.24 itself: same numbers, shapes,
dtypes, method handling, bracket strings and errors, function by function."""

from __future__ import annotations

import numpy as np
import pytest

from _util import peer

from sigrs import iisignature as si

ii = peer("iisignature")

# (dimension, level) pairs covering dimensions 1..5 and levels 1..6
SPACES = [(1, 1), (1, 6), (2, 1), (2, 3), (2, 6), (3, 2), (3, 4), (4, 3), (5, 1), (5, 3)]
SPACE_IDS = [f"d{d}m{m}" for d, m in SPACES]
# log-signatures need d >= 2
LOG_SPACES = [(2, 1), (2, 2), (2, 5), (3, 3), (3, 4), (4, 2), (5, 3), (2, 6)]
LOG_SPACE_IDS = [f"d{d}m{m}" for d, m in LOG_SPACES]
BATCHES = [(), (3,), (2, 2)]


def close(ours, theirs, rtol=1e-10):
    """Same dtype and shape, equal to ``rtol`` relative to the largest magnitude."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = max(1.0, float(np.abs(theirs).max())) if theirs.size else 1.0
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=rtol * scale)


def same_outcome(ours, theirs, rtol=1e-10):
    """Calls both; both raise the same exception type, or both return equal results."""
    try:
        expected = theirs()
    except Exception as err:  # noqa: BLE001 - any exception of iisignature's
        with pytest.raises(type(err)):
            ours()
        return None
    got = ours()
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected):
            if isinstance(e, float):
                assert g == pytest.approx(e, rel=1e-5, abs=1e-5)
            else:
                close(g, e, rtol)
    else:
        close(got, expected, rtol)
    return got


def paths(rng, batch, length, d):
    return rng.standard_normal(batch + (length, d)) * 0.5


# ---------------------------------------------------------------- lengths


@pytest.mark.parametrize("d", [1, 2, 3, 5, 10])
@pytest.mark.parametrize("m", [1, 2, 4, 6])
def test_lengths_equal_iisignatures(d, m):
    assert si.siglength(d, m) == ii.siglength(d, m)
    assert si.logsiglength(d, m) == ii.logsiglength(d, m)


@pytest.mark.parametrize("args", [(0, 2), (2, 0), (-1, 3)])
def test_lengths_reject_what_iisignature_rejects(args):
    for f in ("siglength", "logsiglength"):
        with pytest.raises(RuntimeError):
            getattr(ii, f)(*args)
        with pytest.raises(RuntimeError):
            getattr(si, f)(*args)
    with pytest.raises(TypeError):
        si.siglength(2.0, 3)


def test_sigmultcount_equals_iisignatures_count():
    for d in (1, 2, 3, 5):
        for m in (1, 2, 3, 5):
            for length in (1, 2, 3, 10):
                x = np.zeros((length, d))
                assert si.sigmultcount(x, m) == ii.sigmultcount(x, m), (d, m, length)


def test_version_is_iisignatures():
    assert si.version() == ii.version() == "0.24"


# ---------------------------------------------------------------- sig


@pytest.mark.parametrize("d,m", SPACES, ids=SPACE_IDS)
@pytest.mark.parametrize("batch", BATCHES, ids=["single", "b3", "b2x2"])
def test_sig_formats_0_and_2_equal_iisignatures(rng, d, m, batch):
    x = paths(rng, batch, 6, d)
    close(si.sig(x, m), ii.sig(x, m))
    close(si.sig(x, m, 2), ii.sig(x, m, 2))


@pytest.mark.parametrize("d,m", [(2, 4), (3, 3), (1, 2)])
def test_sig_format_1_gives_the_levels(rng, d, m):
    x = paths(rng, (), 7, d)
    ours, theirs = si.sig(x, m, 1), ii.sig(x, m, 1)
    assert isinstance(ours, tuple) and len(ours) == len(theirs) == m
    for a, b in zip(ours, theirs):
        close(a, b)
    # with a batch: every path's levels (iisignature gives only the last path's)
    xb = paths(rng, (2, 3), 7, d)
    levels = si.sig(xb, m, 1)
    np.testing.assert_allclose(np.concatenate(levels, axis=-1), si.sig(xb, m), rtol=0, atol=0)
    for a, b in zip((lv[-1, -1] for lv in levels), ii.sig(xb, m, 1)):
        close(a, b)


def test_sig_reads_any_real_input_as_float64(rng):
    x = paths(rng, (), 5, 3)
    for variant in (x.astype(np.float32), x.tolist(), (x * 10).astype(np.int64), np.asfortranarray(x), x[::-1]):
        close(si.sig(variant, 3), ii.sig(variant, 3))
    assert si.sig(x.astype(np.float32), 2).dtype == np.float64


def test_sig_edge_shapes_equal_iisignatures(rng):
    one_point = paths(rng, (), 1, 3)
    close(si.sig(one_point, 3), ii.sig(one_point, 3))
    close(si.sig(one_point, 3, 2), ii.sig(one_point, 3, 2))
    empty = np.zeros((0, 5, 3))
    close(si.sig(empty, 2), ii.sig(empty, 2))
    close(si.sig(empty, 2, 2), ii.sig(empty, 2, 2))


@pytest.mark.parametrize("call", [
    "sig(np.zeros((5, 3)), 0)", "sig(np.zeros((5, 3)), -1)", "sig(np.zeros((5, 3)), 2, 3)",
    "sig(np.zeros(5), 2)", "sig(np.zeros((0, 3)), 2)", "sig(np.zeros((5, 0)), 2)", "sig('abc', 2)",
    "sig(np.zeros((5, 3)), 2.0)", "sig(np.zeros((5, 3)), 2, None)",
])
def test_sig_errors_are_iisignatures(call):
    with pytest.raises(Exception) as theirs:
        eval("ii." + call)
    with pytest.raises(theirs.type) as ours:
        eval("si." + call)
    if theirs.type is RuntimeError:
        assert isinstance(ours.value, ValueError)  # and sigrs's convention too


# ---------------------------------------------------------------- sigbackprop, sigjacobian


@pytest.mark.parametrize("d,m", SPACES, ids=SPACE_IDS)
def test_sigbackprop_and_sigjacobian_equal_iisignatures(rng, d, m):
    x = paths(rng, (), 6, d)
    derivs = rng.standard_normal(ii.siglength(d, m))
    close(si.sigbackprop(derivs, x, m), ii.sigbackprop(derivs, x, m), 1e-5)
    jac = si.sigjacobian(x, m)
    close(jac, ii.sigjacobian(x, m), 1e-5)
    # the Jacobian contracted with derivs is the backward pass
    np.testing.assert_allclose(jac.astype(np.float64) @ derivs, si.sigbackprop(derivs, x, m), rtol=1e-4, atol=1e-5)


def test_sigbackprop_batches_and_edge_shapes(rng):
    x = paths(rng, (2, 3), 5, 2)
    derivs = rng.standard_normal((2, 3, 14))
    close(si.sigbackprop(derivs, x, 3), ii.sigbackprop(derivs, x, 3), 1e-5)
    close(si.sigbackprop(derivs[0, 0], x[0, 0, :1], 3), ii.sigbackprop(derivs[0, 0], x[0, 0, :1], 3))
    close(si.sigjacobian(x[0, 0, :1], 3), ii.sigjacobian(x[0, 0, :1], 3))
    close(si.sigbackprop(derivs.astype(np.float32), x.astype(np.float32), 3), ii.sigbackprop(derivs, x, 3), 1e-5)


@pytest.mark.parametrize("length,d,m", [(60, 3, 6), (150, 2, 8), (2, 4, 5), (30, 1, 6), (40, 6, 3)])
def test_sigjacobian_of_longer_paths_and_higher_levels_equals_iisignatures(rng, length, d, m):
    x = paths(rng, (), length, d)
    close(si.sigjacobian(x, m), ii.sigjacobian(x, m), 1e-5)


def test_sigjacobian_reads_any_real_input_as_float64(rng):
    x = paths(rng, (), 7, 3)
    for variant in (x.astype(np.float32), x.tolist(), (x * 4).astype(np.int64), np.asfortranarray(x), x[::-1]):
        close(si.sigjacobian(variant, 4), ii.sigjacobian(variant, 4), 1e-5)


def _native_jacobian(x, m, n_jobs=-1):
    """The native Jacobian in the path's own dtype (the public function rounds to float32)."""
    out = np.full(x.shape + (si.siglength(x.shape[1], m),), np.nan, dtype=x.dtype)
    si._native.sig_jacobian(x, out, x.shape[1], m, n_jobs)
    return out


@pytest.mark.parametrize("length,d,m", [(9, 2, 6), (25, 3, 4), (5, 5, 3)])
def test_sigjacobian_in_float64_is_the_backward_pass_of_every_unit_covector(rng, length, d, m):
    import sigrs

    x = paths(rng, (), length, d)
    jac = _native_jacobian(x, m)
    n = jac.shape[-1]
    units = np.eye(n)
    rows = sigrs.sig_backprop(np.broadcast_to(x, (n, length, d)).copy(), np.broadcast_to(sigrs.sig(x, m), (n, n)).copy(),
                              units, m)
    np.testing.assert_allclose(jac, rows.transpose(1, 2, 0), rtol=0, atol=1e-10 * max(1.0, np.abs(rows).max()))
    # the split of points among threads does not change a digit that matters
    np.testing.assert_allclose(_native_jacobian(x, m, n_jobs=1), jac, rtol=0, atol=1e-13)
    # float32 in, float32 out, to float32's precision
    jac32 = _native_jacobian(x.astype(np.float32), m)
    assert jac32.dtype == np.float32
    np.testing.assert_allclose(jac32, jac, rtol=0, atol=1e-4 * max(1.0, np.abs(jac).max()))


def test_sigjacobian_in_float64_matches_finite_differences(rng):
    x = paths(rng, (), 6, 3)
    m = 4
    jac = _native_jacobian(x, m)
    h = 1e-6
    for i in range(6):
        for j in range(3):
            up, down = x.copy(), x.copy()
            up[i, j] += h
            down[i, j] -= h
            numeric = (si.sig(up, m) - si.sig(down, m)) / (2 * h)
            np.testing.assert_allclose(jac[i, j], numeric, rtol=0, atol=1e-7)


def test_native_sigjacobian_rejects_mismatched_buffers():
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="out"):
        si._native.sig_jacobian(x, np.zeros((5, 3, 11)), 3, 2, 1)
    with pytest.raises(ValueError, match="dimension"):
        si._native.sig_jacobian(x, np.zeros((5, 3, 12)), 0, 2, 1)
    with pytest.raises(ValueError, match="path"):
        si._native.sig_jacobian(np.zeros(7), np.zeros((5, 3, 12)), 3, 2, 1)
    with pytest.raises(TypeError, match="out"):
        si._native.sig_jacobian(x, np.zeros((5, 3, 12), dtype=np.float32), 3, 2, 1)
    with pytest.raises(ValueError, match="n_jobs"):
        si._native.sig_jacobian(x, np.zeros((5, 3, 12)), 3, 2, 0)


def test_sigbackprop_is_the_gradient_of_sig(rng):
    x = paths(rng, (), 5, 2)
    derivs = rng.standard_normal(14)
    grad = si.sigbackprop(derivs, x, 3).astype(np.float64)
    h = 1e-6
    for i, j in [(0, 0), (2, 1), (4, 0)]:
        up, down = x.copy(), x.copy()
        up[i, j] += h
        down[i, j] -= h
        numeric = (si.sig(up, 3) - si.sig(down, 3)) @ derivs / (2 * h)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("call", [
    "sigbackprop(np.zeros(13), np.zeros((5, 3)), 2)", "sigbackprop(np.zeros((2, 12)), np.zeros((5, 3)), 2)",
    "sigbackprop(np.zeros((2, 12)), np.zeros((3, 5, 3)), 2)", "sigbackprop(np.zeros(12), np.zeros((5, 3)), 0)",
    "sigjacobian(np.zeros((2, 5, 3)), 2)", "sigjacobian(np.zeros((0, 3)), 2)", "sigjacobian(np.zeros((5, 3)), 0)",
])
def test_sigbackprop_errors_are_iisignatures(call):
    with pytest.raises(Exception) as theirs:
        eval("ii." + call)
    with pytest.raises(theirs.type):
        eval("si." + call)


# ---------------------------------------------------------------- combine, join, scale


@pytest.mark.parametrize("d,m", SPACES, ids=SPACE_IDS)
@pytest.mark.parametrize("batch", [(), (2, 3)], ids=["single", "b2x3"])
def test_sigcombine_sigjoin_sigscale_equal_iisignatures(rng, d, m, batch):
    n = ii.siglength(d, m)
    s1, s2 = ii.sig(paths(rng, batch, 4, d), m), ii.sig(paths(rng, batch, 4, d), m)
    derivs = rng.standard_normal(batch + (n,))
    disp, scales = rng.standard_normal(batch + (d,)), rng.standard_normal(batch + (d,))
    same_outcome(lambda: si.sigcombine(s1, s2, d, m), lambda: ii.sigcombine(s1, s2, d, m), 1e-5)
    same_outcome(lambda: si.sigcombinebackprop(derivs, s1, s2, d, m), lambda: ii.sigcombinebackprop(derivs, s1, s2, d, m), 1e-5)
    same_outcome(lambda: si.sigjoin(s1, disp, m), lambda: ii.sigjoin(s1, disp, m), 1e-5)
    same_outcome(lambda: si.sigjoinbackprop(derivs, s1, disp, m), lambda: ii.sigjoinbackprop(derivs, s1, disp, m), 1e-5)
    same_outcome(lambda: si.sigscale(s1, scales, m), lambda: ii.sigscale(s1, scales, m), 1e-5)
    same_outcome(lambda: si.sigscalebackprop(derivs, s1, scales, m), lambda: ii.sigscalebackprop(derivs, s1, scales, m), 1e-5)


@pytest.mark.parametrize("d,m", [(2, 3), (3, 4), (1, 2)])
def test_sigjoin_with_a_fixed_last_coordinate_equals_iisignatures(rng, d, m):
    s = ii.sig(paths(rng, (3,), 4, d), m)
    disp = rng.standard_normal((3, d - 1))
    derivs = rng.standard_normal(s.shape)
    same_outcome(lambda: si.sigjoin(s, disp, m, 0.7), lambda: ii.sigjoin(s, disp, m, 0.7), 1e-5)
    ours = same_outcome(lambda: si.sigjoinbackprop(derivs, s, disp, m, 0.7), lambda: ii.sigjoinbackprop(derivs, s, disp, m, 0.7), 1e-5)
    if d == 1:  # no free coordinate left: both refuse
        assert ours is None
        return
    assert len(ours) == 3 and isinstance(ours[2], float)
    # by keyword too (iisignature's documented name of the fixed value)
    close(si.sigjoin(s, disp, m, f=0.7), ii.sigjoin(s, disp, m, 0.7), 1e-5)


def test_signature_algebra_identities(rng):
    x = paths(rng, (2,), 9, 3)
    # Chen, join and scale agree with the signatures of the joined / scaled paths
    np.testing.assert_allclose(si.sigcombine(si.sig(x[:, :5], 4), si.sig(x[:, 4:], 4), 3, 4), si.sig(x, 4), atol=1e-5)
    np.testing.assert_allclose(si.sigjoin(si.sig(x[:, :-1], 4), x[:, -1] - x[:, -2], 4), si.sig(x, 4), atol=1e-5)
    scales = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0]])
    np.testing.assert_allclose(si.sigscale(si.sig(x, 4), scales, 4), si.sig(x * scales[:, None, :], 4), atol=1e-4)


def test_sigscalebackprop_is_the_gradient_of_sigscale(rng):
    s = ii.sig(paths(rng, (), 5, 2), 4)
    scales, derivs = rng.standard_normal(2), rng.standard_normal(30)
    g_sig, g_scales = si.sigscalebackprop(derivs, s, scales, 4)
    h = 1e-5
    for j in range(2):
        up, down = scales.copy(), scales.copy()
        up[j] += h
        down[j] -= h
        numeric = (si.sigscale(s, up, 4).astype(np.float64) - si.sigscale(s, down, 4)) @ derivs / (2 * h)
        assert g_scales[j] == pytest.approx(numeric, rel=1e-2, abs=1e-2)


@pytest.mark.parametrize("call", [
    "sigcombine(np.zeros((2, 12)), np.zeros(12), 3, 2)", "sigcombine(np.zeros(11), np.zeros(11), 3, 2)",
    "sigcombine(np.zeros((2, 12)), np.zeros((3, 12)), 3, 2)", "sigcombine(np.zeros(12), np.zeros(12), 3, 0)",
    "sigjoin(np.zeros(12), np.zeros(2), 2)", "sigjoin(np.zeros((2, 12)), np.zeros(3), 2)",
    "sigjoin(np.zeros((2, 12)), np.zeros((3, 3)), 2)", "sigjoin(np.zeros(12), np.zeros(3), 2, 1.0)",
    "sigjoin(np.zeros(12), np.zeros(0), 2)", "sigjoinbackprop(np.zeros(12), np.zeros((2, 12)), np.zeros((2, 3)), 2)",
    "sigscale(np.zeros(12), np.zeros(2), 2)", "sigscale(np.zeros((2, 12)), np.zeros((3, 3)), 2)",
    "sigscale(np.zeros((2, 12)), np.zeros(3), 2)", "sigscalebackprop(np.zeros(12), np.zeros((2, 12)), np.zeros((2, 3)), 2)",
    "sigscale(np.zeros(12), np.zeros(3), 0)",
])
def test_algebra_errors_are_iisignatures(call):
    with pytest.raises(Exception) as theirs:
        eval("ii." + call)
    with pytest.raises(theirs.type):
        eval("si." + call)


# ---------------------------------------------------------------- prepare, info, basis

PREPARE_METHODS = [None, "", " ", "D", "C", "O", "S", "X", "A", "H", "h", "DH", "SH", "XH", "OS", "DS", "CO", "AS", "AX", "S2", "DS2", "H2S", "cos"]


# where iisignature's default switches from its compiled BCH formula to the signature's log
DEFAULT_BOUNDARIES = [(9, 2), (10, 2), (4, 4), (3, 5), (2, 9), (2, 10)]


@pytest.mark.parametrize("d,m", LOG_SPACES + DEFAULT_BOUNDARIES,
                         ids=LOG_SPACE_IDS + [f"d{d}m{m}" for d, m in DEFAULT_BOUNDARIES])
def test_prepare_and_info_equal_iisignatures(d, m):
    # (iisignature compiles its BCH formula in prepare: slow for the big spaces)
    for methods in PREPARE_METHODS if (d, m) in LOG_SPACES[:5] else [None, "D", "S", "X", "OH"]:
        try:
            expected = ii.info(ii.prepare(d, m, methods))
        except RuntimeError:
            with pytest.raises(RuntimeError):
                si.prepare(d, m, methods)
            continue
        assert si.info(si.prepare(d, m, methods)) == expected, methods


@pytest.mark.parametrize("call", [
    "prepare(1, 3)", "prepare(0, 3)", "prepare(3, 0)", "prepare(3, 3, 3)", "prepare(3, 3, b'S')", "prepare(3.0, 3)",
    "prepare(3, 3, 'Q')", "prepare(3, 3, 'A')", "info(3)", "basis(3)", "logsig(np.zeros((5, 3)), 5)",
])
def test_prepare_errors_are_iisignatures(call):
    with pytest.raises(Exception) as theirs:
        eval("ii." + call)
    with pytest.raises(theirs.type):
        eval("si." + call)


@pytest.mark.parametrize("d,m", [(2, 1), (2, 4), (2, 6), (3, 3), (4, 4), (5, 3), (11, 2)])
@pytest.mark.parametrize("hall", ["", "H"])
def test_basis_strings_are_iisignatures(d, m, hall):
    assert si.basis(si.prepare(d, m, "S" + hall)) == ii.basis(ii.prepare(d, m, "S" + hall))


# ---------------------------------------------------------------- logsig

LOGSIG_METHODS = [None, "", " ", "C", "O", "S", "X", "D", "A", "H", "2", "CX", "SX", "AX", "CS", "OS", "AS", "DX", "SH", "XH", "cs", "s", "x", "q"]
LOGSIG_PREPARED = [None, "C", "O", "S", "X", "D", "OS", "H", "SH", "XH"]


@pytest.mark.parametrize("d,m", LOG_SPACES, ids=LOG_SPACE_IDS)
def test_logsig_accepts_refuses_and_computes_as_iisignature(rng, d, m):
    x = paths(rng, (2,), 6, d)
    for prepared in LOGSIG_PREPARED:
        ours, theirs = si.prepare(d, m, prepared), ii.prepare(d, m, prepared)
        for methods in LOGSIG_METHODS:
            # iisignature's Hall projection goes through float32 matrices: 1e-7
            same_outcome(lambda: si.logsig(x, ours, methods), lambda: ii.logsig(x, theirs, methods), 1e-7)


@pytest.mark.parametrize("d,m", [(3, 3), (2, 5), (4, 4)])
def test_hall_logsig_equals_iisignatures_exact_bch(rng, d, m):
    # iisignature's BCH methods are exact in float64; sigrs's Hall coordinates agree to 1e-10
    x = paths(rng, (3,), 6, d)
    close(si.logsig(x, si.prepare(d, m, "SH")), ii.logsig(x, ii.prepare(d, m, "OH"), "O"))
    close(si.logsig(x, si.prepare(d, m, "S")), ii.logsig(x, ii.prepare(d, m, "O"), "O"))


@pytest.mark.parametrize("d,m", [(2, 2), (3, 1), (4, 2)])
def test_logsig_area_method_at_low_levels(rng, d, m):
    x = paths(rng, (3,), 7, d)
    for prepared in ("A", "AH", None, "X"):
        ours, theirs = si.prepare(d, m, prepared), ii.prepare(d, m, prepared)
        for methods in ("A", "a", None, "AS", "X"):
            same_outcome(lambda: si.logsig(x, ours, methods), lambda: ii.logsig(x, theirs, methods), 1e-9)


@pytest.mark.parametrize("batch", BATCHES, ids=["single", "b3", "b2x2"])
def test_logsig_batches_dtypes_and_edge_shapes(rng, batch):
    x = paths(rng, batch, 8, 3)
    for prepared, methods in (("S", None), ("SH", None), ("X", "X")):
        ours, theirs = si.prepare(3, 4, prepared), ii.prepare(3, 4, prepared)
        close(si.logsig(x, ours, methods), ii.logsig(x, theirs, methods), 1e-7)
        x32 = x.astype(np.float32)
        close(si.logsig(x32, ours, methods), ii.logsig(x32, theirs, methods), 1e-7)
        close(si.logsig(x[..., :1, :], ours, methods), ii.logsig(x[..., :1, :], theirs, methods))
        close(si.logsig(np.zeros((0, 6, 3)), ours, methods), ii.logsig(np.zeros((0, 6, 3)), theirs, methods))


@pytest.mark.parametrize("call", [
    "logsig(np.zeros((6, 2)), p)", "logsig(np.zeros(6), p)", "logsig(np.zeros((0, 3)), p)", "logsig(np.zeros((5, 3)), p, 5)",
    "logsigbackprop(np.ones(13), np.zeros((6, 3)), p)", "logsigbackprop(np.ones((3, 14)), np.zeros((2, 6, 3)), p)",
    "logsigbackprop(np.ones(14), np.zeros((2, 6, 3)), p)", "logsigtosig(np.zeros(14), p)",
])
def test_logsig_errors_are_iisignatures(call):
    with pytest.raises(Exception) as theirs:
        eval("ii." + call, {"ii": ii, "np": np, "p": ii.prepare(3, 3)})
    with pytest.raises(theirs.type):
        eval("si." + call, {"si": si, "np": np, "p": si.prepare(3, 3)})


BACKPROP_METHODS = [None, "C", "O", "S", "X", "D", "A", "H", "SX", "CS", "q"]


@pytest.mark.parametrize("d,m", [(2, 2), (3, 3), (2, 5), (4, 3)], ids=["d2m2", "d3m3", "d2m5", "d4m3"])
def test_logsigbackprop_equals_iisignatures(rng, d, m):
    x = paths(rng, (2,), 6, d)
    for prepared in (None, "O", "S", "X", "SH"):
        for methods in BACKPROP_METHODS:
            ours, theirs = si.prepare(d, m, prepared), ii.prepare(d, m, prepared)
            n = ii.siglength(d, m) if methods and "X" in methods.upper() else ii.logsiglength(d, m)
            derivs = rng.standard_normal((2, n))
            same_outcome(lambda: si.logsigbackprop(derivs, x, ours, methods),
                         lambda: ii.logsigbackprop(derivs, x, theirs, methods), 1e-5)
            # iisignature prepares the projection on the way: info shows it
            assert si.info(ours) == ii.info(theirs), (prepared, methods)


def test_logsigbackprop_is_the_gradient_of_logsig(rng):
    x = paths(rng, (), 6, 3)
    for methods in ("S", "SH"):
        s = si.prepare(3, 3, methods)
        derivs = rng.standard_normal(14)
        grad = si.logsigbackprop(derivs, x, s).astype(np.float64)
        h = 1e-6
        for i, j in [(0, 0), (3, 2), (5, 1)]:
            up, down = x.copy(), x.copy()
            up[i, j] += h
            down[i, j] -= h
            numeric = (si.logsig(up, s) - si.logsig(down, s)) @ derivs / (2 * h)
            assert grad[i, j] == pytest.approx(numeric, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("d,m", [(2, 1), (2, 4), (3, 3), (4, 3), (2, 6)])
@pytest.mark.parametrize("methods", ["S2", "SH2"])
def test_logsigtosig_and_backprop_equal_iisignatures(rng, d, m, methods):
    ours, theirs = si.prepare(d, m, methods), ii.prepare(d, m, methods)
    x = paths(rng, (2, 3), 5, d)
    logsigs = ii.logsig(x, theirs)
    close(si.logsigtosig(logsigs, ours), ii.logsigtosig(logsigs, theirs))
    # the exponential of the log-signature is the signature
    np.testing.assert_allclose(si.logsigtosig(si.logsig(x, ours), ours), si.sig(x, m), rtol=0, atol=1e-10)
    derivs = rng.standard_normal((2, 3, ii.siglength(d, m)))
    close(si.logsigtosigbackprop(derivs, logsigs, ours), ii.logsigtosigbackprop(derivs, logsigs, theirs), 1e-9)


@pytest.mark.parametrize("call", [
    "logsigtosig(np.zeros(14), ii_prepare(3, 3, 'S'))", "logsigtosig(np.zeros(13), ii_prepare(3, 3, 'S2'))",
    "logsigtosig(np.float64(0.0), ii_prepare(3, 3, 'S2'))", "logsigtosig(np.zeros(14), 3)",
])
def test_logsigtosig_errors_are_iisignatures(call):
    with pytest.raises(Exception) as theirs:
        eval("ii." + call, {"ii": ii, "np": np, "ii_prepare": ii.prepare})
    with pytest.raises(theirs.type):
        eval("si." + call, {"si": si, "np": np, "ii_prepare": si.prepare})


def test_prepare_with_2_alone_works():
    # iisignature crashes here (segfault); sigrs converts as with "S2"
    s = si.prepare(3, 3, "2")
    assert si.info(s)["logsigtosig_supported"]
    x = np.random.default_rng(1).standard_normal((6, 3))
    np.testing.assert_allclose(si.logsigtosig(si.logsig(x, s), s), si.sig(x, 3), atol=1e-12)


def test_torch_tensors_are_read_like_arrays(rng):
    torch = pytest.importorskip("torch")
    x = paths(rng, (2,), 5, 3)
    close(si.sig(torch.from_numpy(x), 3), ii.sig(x, 3))
    close(si.logsig(torch.from_numpy(x).float(), si.prepare(3, 3)), ii.logsig(x.astype(np.float32), ii.prepare(3, 3)), 1e-9)


# ---------------------------------------------------------------- rotinv2d through this module


@pytest.mark.parametrize("inv_type", ["a", "k", "s", "q"])
def test_rotinv2d_family_is_reexported_with_iisignatures_numbers(inv_type):
    rng = np.random.default_rng(5)
    path = rng.standard_normal((3, 12, 2))
    ours, theirs = si.rotinv2dprepare(4, inv_type), ii.rotinv2dprepare(4, inv_type)
    assert si.rotinv2dlength(ours) == ii.rotinv2dlength(theirs)
    for a, b in zip(si.rotinv2dcoeffs(ours), ii.rotinv2dcoeffs(theirs)):
        np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(si.rotinv2d(path, ours), ii.rotinv2d(path, theirs), rtol=1e-10, atol=1e-12)


def test_rotinv2d_errors_are_iisignatures():
    prepared = si.rotinv2dprepare(4, "a")
    for call, their_call in (
        (lambda: si.rotinv2dprepare(3, "a"), lambda: ii.rotinv2dprepare(3, "a")),
        (lambda: si.rotinv2d(np.zeros((5, 3)), prepared), lambda: ii.rotinv2d(np.zeros((5, 3)), ii.rotinv2dprepare(4, "a"))),
        (lambda: si.rotinv2dlength(3), lambda: ii.rotinv2dlength(3)),
    ):
        with pytest.raises(RuntimeError):
            their_call()
        with pytest.raises(si.IisignatureError):
            call()
    with pytest.raises(TypeError):
        si.rotinv2dprepare(2.0, "a")
