"""The Hall basis (``method="hall"``, iisignature's "H"), ``sigrs.hall_basis``,
and pysiglib's method 3.

Checked against iisignature (its bracket list, and its "O" log-signature in
the Hall basis), against the reference (``reference.py``: the Hall set from
its definition, bracket expansions, least squares), against algebraic facts
(round trips through ``logsig_to_sig``, the Lyndon basis describing the same
Lie element), torch gradcheck, and bad ``method`` values.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import reference as ref
from _util import F32_RTOL, F64_RTOL, assert_close, make_path, peer, to_numpy, torch

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)

VARIANTS = [("numpy", np.float64), ("numpy", np.float32), ("torch", np.float64), ("torch", np.float32)]
VARIANT_IDS = [f"{b}-{np.dtype(t).name}" for b, t in VARIANTS]

TRANSFORMS = [
    pytest.param(dict(), id="plain"),
    pytest.param(dict(time_aug=True, end_time=2.5), id="time"),
    pytest.param(dict(lead_lag=True), id="leadlag"),
    pytest.param(dict(time_aug=True, lead_lag=True, end_time=0.5), id="leadlag+time"),
]


def conv(x, backend, dtype):
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64).astype(dtype))
    return torch.from_numpy(x) if backend == "torch" else x


def flags(opts):
    return dict(time_aug=opts.get("time_aug", False), lead_lag=opts.get("lead_lag", False))


def aug(dim, opts):
    return ref.aug_dimension(dim, opts.get("time_aug", False), opts.get("lead_lag", False))


def random_sig(rng, batch_shape, dim, degree, scalar_term, scale=0.4):
    """A random flattened tensor with level 0 = 1 (no signature: its log is not Lie)."""
    t = scale * rng.standard_normal(tuple(batch_shape) + (ref.sig_length(dim, degree),))
    if scalar_term:
        t = np.concatenate([np.ones(tuple(batch_shape) + (1,)), t], axis=-1)
    return t


def iisignature_hall(x, degree):
    """iisignature's Hall-basis log-signature by its "O" method (BCH, accurate
    to rounding). Its "S" method, the default of prepare(d, m, "H") at larger
    sizes, agrees only to about 1e-9 relative (measured with iisignature 0.24)."""
    iisignature = peer("iisignature")
    s = iisignature.prepare(x.shape[-1], degree, "OH")
    return iisignature.logsig(x, s, "O")


# ---------------------------------------------------------------------------
# the basis
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dim,degree", [(2, 1), (2, 6), (3, 4), (4, 3), (2, 8), (3, 5)])
def test_hall_basis_is_iisignatures_basis_in_its_order(dim, degree):
    iisignature = peer("iisignature")
    expected = list(iisignature.basis(iisignature.prepare(dim, degree, "H")))
    got = sigrs.hall_basis(dim, degree)
    assert [ref.hall_bracket_string(t) for t in got] == expected
    assert got == ref.hall_basis(dim, degree)
    assert len(got) == sigrs.log_sig_length(dim, degree, method="hall") == ref.witt_count(dim, degree)


def test_hall_basis_small_cases_and_edges():
    assert sigrs.hall_basis(2, 3) == [0, 1, (0, 1), (0, (0, 1)), (1, (0, 1))]
    assert sigrs.hall_basis(3, 2) == [0, 1, 2, (0, 1), (0, 2), (1, 2)]
    assert sigrs.hall_basis(1, 50) == [0]
    assert sigrs.hall_basis(0, 3) == [] and sigrs.hall_basis(3, 0) == []
    assert sigrs.log_sig_length(3, 0, method="hall") == 0
    with pytest.raises(ValueError, match="degree"):
        sigrs.hall_basis(2, -1)
    with pytest.raises(ValueError, match="dimension"):
        sigrs.hall_basis(-2, 3)
    with pytest.raises(TypeError, match="degree"):
        sigrs.hall_basis(2, 3.0)


# ---------------------------------------------------------------------------
# log-signatures in the Hall basis
# ---------------------------------------------------------------------------

_IIS_CASES = [
    pytest.param(t.values[0], dim, degree, id=f"{t.id}-d{dim}N{degree}")
    for t in TRANSFORMS
    for dim, degree in [(1, 4), (2, 6), (3, 4), (4, 3)]
    if not (dim == 1 and t.id == "plain")  # iisignature needs a dimension >= 2
]


@pytest.mark.parametrize("opts,dim,degree", _IIS_CASES)
def test_log_sig_hall_matches_iisignature_H(rng, opts, dim, degree):
    x = make_path(rng, (3, 6, dim))
    xt = np.ascontiguousarray(ref.transform_path(x, **opts))
    assert_close(sigrs.log_sig(x, degree, method="hall", **opts), iisignature_hall(xt, degree), 1e-13)


def test_log_sig_hall_matches_iisignature_default_H_where_it_compiles(rng):
    iisignature = peer("iisignature")
    x = make_path(rng, (4, 10, 2))
    s = iisignature.prepare(2, 6, "H")  # its default here is the compiled "C" method
    assert_close(sigrs.log_sig(x, 6, method="hall"), iisignature.logsig(x, s), 1e-13)


@pytest.mark.parametrize("backend,dtype", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("dim,degree", [(1, 3), (2, 5), (3, 3)], ids=["d1N3", "d2N5", "d3N3"])
def test_log_sig_hall_matches_reference(rng, backend, dtype, dim, degree):
    for batch_shape in [(), (3,), (2, 2)]:
        x = make_path(rng, batch_shape + (5, dim))
        out = sigrs.log_sig(conv(x, backend, dtype), degree, method="hall")
        assert isinstance(out, torch.Tensor if backend == "torch" else np.ndarray)
        assert to_numpy(out).dtype == np.dtype(dtype)
        expected = ref.log_sig(x.astype(dtype).astype(np.float64), degree, method="hall")
        assert_close(out, expected, F64_RTOL if dtype == np.float64 else F32_RTOL, f"batch {batch_shape}")


@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_sig_to_log_sig_hall_matches_reference_on_and_off_signatures(rng, opts, scalar_term):
    d, n = 2, 3
    x = make_path(rng, (3, 5, d))
    s = sigrs.sig(x, n, scalar_term=scalar_term, **opts)
    assert_close(sigrs.sig_to_log_sig(s, d, n, method="hall", **flags(opts)),
                 ref.log_sig(x, n, method="hall", **opts), F64_RTOL)
    # Off signatures: the coordinates of the Lie element that agrees with the
    # tensor log at the Lyndon words.
    s = random_sig(rng, (3,), aug(d, opts), n, scalar_term)
    assert_close(sigrs.sig_to_log_sig(s, d, n, method="hall", **flags(opts)),
                 ref.sig_to_log_sig(s, aug(d, opts), n, "hall", solver="triangular"), F64_RTOL)


@pytest.mark.parametrize("dim,degree", [(2, 7), (3, 5), (4, 4)], ids=["d2N7", "d3N5", "d4N4"])
def test_hall_and_lyndon_coordinates_describe_the_same_lie_element(rng, dim, degree):
    x = make_path(rng, (2, 8, dim))
    hall = sigrs.log_sig(x, degree, method="hall")
    lyndon = sigrs.log_sig(x, degree, method="lyndon")
    expanded = sigrs.log_sig(x, degree, method="expanded")
    for coords, basis in [(hall, ref.lie_levels_from_hall_coordinates),
                          (lyndon, ref.lie_levels_from_lyndon_coordinates)]:
        rebuilt = np.stack([ref.flatten_levels(basis(c, dim, degree)) for c in coords])
        assert_close(rebuilt, expanded, 1e-12)
    # levels 1 and 2 are the same brackets in both bases
    k = dim + dim * (dim - 1) // 2
    np.testing.assert_allclose(hall[:, :k], lyndon[:, :k], rtol=0, atol=1e-15)


def test_n_jobs_and_dtypes_agree(rng):
    x = make_path(rng, (6, 20, 3))
    a = sigrs.log_sig(x, 4, method="hall", n_jobs=1)
    np.testing.assert_array_equal(sigrs.log_sig(x, 4, method="hall", n_jobs=-1), a)
    assert_close(sigrs.log_sig(x.astype(np.float32), 4, method="HALL"), a, F32_RTOL)


def test_first_use_from_many_threads_is_consistent(rng):
    x = make_path(rng, (2, 6, 7))
    results = [None] * 6

    def work(i):
        results[i] = sigrs.log_sig(x, 3, method="hall", n_jobs=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, results[0])
    assert_close(results[0], ref.log_sig(x, 3, method="hall"), F64_RTOL)


# ---------------------------------------------------------------------------
# logsig_to_sig and round trips
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("dim,degree", [(2, 6), (3, 4)], ids=["d2N6", "d3N4"])
def test_logsig_to_sig_of_hall_log_sig_is_the_signature(rng, backend, opts, dim, degree):
    D = aug(dim, opts)
    for st in (False, True):
        x = make_path(rng, (3, 6, dim))
        s = sigrs.sig(conv(x, backend, np.float64), degree, scalar_term=st, **opts)
        ls = sigrs.sig_to_log_sig(s, dim, degree, method="hall", **flags(opts))
        assert tuple(ls.shape) == (3, ref.witt_count(D, degree))
        back = sigrs.logsig_to_sig(ls, dim, degree, method="hall", scalar_term=st, **flags(opts))
        assert type(back) is type(s)
        assert_close(back, s, 1e-12, f"scalar_term {st}")


@pytest.mark.parametrize("backend,dtype", VARIANTS, ids=VARIANT_IDS)
def test_logsig_to_sig_hall_matches_reference_and_inverts(rng, backend, dtype):
    d, n = 3, 3
    coords = 0.5 * rng.standard_normal((2, 2, ref.witt_count(d, n)))
    for st in (False, True):
        out = sigrs.logsig_to_sig(conv(coords, backend, dtype), d, n, method="hall", scalar_term=st)
        assert to_numpy(out).dtype == np.dtype(dtype)
        tol = F64_RTOL if dtype == np.float64 else F32_RTOL
        assert_close(out, ref.logsig_to_sig(coords.astype(dtype).astype(np.float64), d, n, "hall", st), tol)
        assert_close(sigrs.sig_to_log_sig(out, d, n, method="hall"), coords, tol)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("opts", TRANSFORMS)
def test_log_sig_hall_gradcheck(rng, opts):
    x = torch.tensor(make_path(rng, (2, 4, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: sigrs.log_sig(p, 4, method="hall", **opts), (x,))


def test_log_sig_hall_gradient_matches_reference_autograd_and_iisignature(rng):
    iisignature = peer("iisignature")
    d, n = 2, 4
    x = make_path(rng, (2, 5, d))
    g = rng.standard_normal((2, ref.witt_count(d, n)))
    xt = torch.tensor(x, requires_grad=True)
    (sigrs.log_sig(xt, n, method="hall") * torch.from_numpy(g)).sum().backward()
    xr = torch.tensor(x, requires_grad=True)
    (ref.log_sig(xr, n, method="hall") * torch.from_numpy(g)).sum().backward()
    assert_close(xt.grad, xr.grad, 1e-9)
    # iisignature differentiates only its "S" route, good to about 1e-9 in "H"
    expected = iisignature.logsigbackprop(g, x, iisignature.prepare(d, n, "SH"), "S")
    assert_close(xt.grad, expected, 1e-7)


@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_sig_to_log_sig_and_logsig_to_sig_hall_gradcheck(rng, scalar_term):
    d, n = 2, 4
    s = torch.tensor(random_sig(rng, (2,), d, n, scalar_term), requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: sigrs.sig_to_log_sig(t, d, n, method="hall"), (s,))
    c = torch.tensor(0.5 * rng.standard_normal((2, ref.witt_count(d, n))), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: sigrs.logsig_to_sig(t, d, n, method="hall", scalar_term=scalar_term), (c,))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_explicit_backprops_match_reference_autograd(rng, backend):
    d, n = 3, 3
    m = ref.witt_count(d, n)
    s = random_sig(rng, (2,), d, n, True)
    g = rng.standard_normal((2, m))
    out = sigrs.sig_to_log_sig_backprop(conv(s, backend, np.float64), conv(g, backend, np.float64), d, n,
                                        method="hall")
    sr = torch.tensor(s, requires_grad=True)
    (ref.sig_to_log_sig(sr, d, n, "hall") * torch.from_numpy(g)).sum().backward()
    expected = sr.grad.numpy().copy()
    expected[..., 0] = 0.0  # level 0 is taken to be 1: no gradient
    assert_close(out, expected, F64_RTOL)

    c = 0.5 * rng.standard_normal((2, m))
    gs = rng.standard_normal((2, ref.sig_length(d, n)))
    out = sigrs.logsig_to_sig_backprop(conv(c, backend, np.float64), conv(gs, backend, np.float64), d, n,
                                       method="hall")
    cr = torch.tensor(c, requires_grad=True)
    (ref.logsig_to_sig(cr, d, n, "hall") * torch.from_numpy(gs)).sum().backward()
    assert_close(out, cr.grad, F64_RTOL)


# ---------------------------------------------------------------------------
# pysiglib's method 3
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("opts", TRANSFORMS)
@pytest.mark.parametrize("dim,degree", [(1, 3), (2, 5), (3, 3)], ids=["d1N3", "d2N5", "d3N3"])
def test_method_3_is_pysiglibs_method_3_and_equals_method_2(rng, opts, dim, degree):
    pysiglib = peer("pysiglib")
    pysiglib.prepare_log_sig(dim, degree, method=3, **flags(opts))
    sigrs.prepare_log_sig(dim, degree, 3, **flags(opts))
    x = make_path(rng, (3, 6, dim))
    out = sigrs.log_sig(x, degree, method=3, **opts)
    assert_close(out, pysiglib.log_sig(x, degree, method=3, **opts), F64_RTOL)
    np.testing.assert_array_equal(out, sigrs.log_sig(x, degree, method=2, **opts))
    assert sigrs.log_sig_length(dim, degree, method=3, **flags(opts)) == out.shape[-1]


def test_method_3_is_differentiable_like_method_2(rng):
    x = torch.tensor(make_path(rng, (2, 4, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: sigrs.log_sig(p, 3, method=3), (x,))


def test_method_3_is_a_value_error_outside_log_sig_as_in_pysiglib(rng):
    pysiglib = peer("pysiglib")
    x = make_path(rng, (2, 5, 2))
    s = sigrs.sig(x, 3)
    with pytest.raises(ValueError, match="method=3"):
        pysiglib.sig_to_log_sig(s, 2, 3, method=3)
    calls = [
        lambda: sigrs.sig_to_log_sig(s, 2, 3, method=3),
        lambda: sigrs.sig_to_log_sig_backprop(s, np.ones((2, 5)), 2, 3, method=3),
        lambda: sigrs.logsig_to_sig(np.ones((2, 5)), 2, 3, method=3),
        lambda: sigrs.logsig_to_sig_backprop(np.ones((2, 5)), np.ones((2, 14)), 2, 3, method=3),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"method=3 .*log_sig\(path, degree, method=3\)"):
            call()


# ---------------------------------------------------------------------------
# bad methods
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [4, np.int64(4), 5, -1, "hall_basis", "bch", ""])
def test_methods_outside_the_accepted_set_are_value_errors_listing_them(rng, bad):
    x = make_path(rng, (2, 5, 2))
    s = sigrs.sig(x, 3)
    calls = [
        lambda: sigrs.log_sig(x, 3, method=bad),
        lambda: sigrs.sig_to_log_sig(s, 2, 3, method=bad),
        lambda: sigrs.sig_to_log_sig_backprop(s, np.ones((2, 5)), 2, 3, method=bad),
        lambda: sigrs.logsig_to_sig(np.ones((2, 5)), 2, 3, method=bad),
        lambda: sigrs.logsig_to_sig_backprop(np.ones((2, 5)), np.ones((2, 14)), 2, 3, method=bad),
        lambda: sigrs.log_sig_length(2, 3, method=bad),
        lambda: sigrs.prepare_log_sig(2, 3, bad),
    ]
    given = repr(bad) if isinstance(bad, str) else str(int(bad))
    for call in calls:
        with pytest.raises(ValueError, match=f"method must be one of .*\"hall\".*, got {given}"):
            call()


def test_public_4_points_to_the_hall_name(rng):
    with pytest.raises(ValueError, match='method="hall"'):
        sigrs.log_sig(make_path(rng, (2, 5, 2)), 3, method=4)


@pytest.mark.parametrize("bad", [2.0, None, True, [1]])
def test_methods_of_wrong_type_are_type_errors(rng, bad):
    x = make_path(rng, (2, 5, 2))
    for call in [lambda: sigrs.log_sig(x, 3, method=bad),
                 lambda: sigrs.sig_to_log_sig(sigrs.sig(x, 3), 2, 3, method=bad),
                 lambda: sigrs.log_sig_length(2, 3, method=bad)]:
        with pytest.raises(TypeError, match="method must be an int or a str"):
            call()


def test_hall_log_sig_of_wrong_length_is_a_value_error():
    with pytest.raises(ValueError, match="method='hall'"):
        sigrs.logsig_to_sig(np.zeros((2, 6)), 2, 3, method="hall")
    with pytest.raises(ValueError, match="log_sig_derivs"):
        sigrs.sig_to_log_sig_backprop(np.zeros((2, 14)), np.zeros((2, 6)), 2, 3, method="hall")
