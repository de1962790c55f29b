"""Rotation invariants of planar paths (sigrs._rotinv) against iisignature
0.24, and the properties that make them what they are, whatever basis."""

from __future__ import annotations

import numpy as np
import pytest

from _util import F32_RTOL, F64_RTOL, cuda_available, peer, torch

import sigrs
from sigrs import _native
from sigrs._rotinv import rotinv2d, rotinv2dcoeffs, rotinv2dlength, rotinv2dprepare

iisignature = peer("iisignature")

KINDS = ["a", "k", "s", "q"]
DEGREES = [2, 4, 6, 8]


def rotate(path: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return path @ np.array([[c, s], [-s, c]])


def rank(matrix: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(matrix, tol=1e-8)) if matrix.size else 0


@pytest.mark.parametrize("m", DEGREES)
@pytest.mark.parametrize("kind", KINDS)
def test_coefficients_and_length_equal_iisignatures(kind, m):
    ours, theirs = rotinv2dprepare(m, kind), iisignature.rotinv2dprepare(m, kind)
    mine, ref = rotinv2dcoeffs(ours), iisignature.rotinv2dcoeffs(theirs)
    assert isinstance(mine, tuple) and len(mine) == len(ref) == m // 2
    for level, (a, b) in zip(range(2, m + 1, 2), zip(mine, ref)):
        assert a.dtype == np.float64 and a.shape == b.shape, level
        if kind in "ak":
            np.testing.assert_array_equal(a, b)  # small integers: exact
        else:
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert rotinv2dlength(ours) == iisignature.rotinv2dlength(theirs)
    assert type(rotinv2dlength(ours)) is int


@pytest.mark.parametrize("m", DEGREES)
@pytest.mark.parametrize("kind", KINDS)
def test_rotinv2d_equals_iisignature_on_batches(kind, m, rng):
    path = rng.standard_normal((2, 3, 7, 2)) * 0.7
    ours, theirs = rotinv2dprepare(m, kind), iisignature.rotinv2dprepare(m, kind)
    got, want = rotinv2d(path, ours), iisignature.rotinv2d(path, theirs)
    assert got.shape == want.shape == (2, 3, rotinv2dlength(ours))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=F64_RTOL, atol=F64_RTOL * np.abs(want).max(initial=1.0))


def test_float32_and_lists_give_float64_like_iisignature(rng):
    path = rng.standard_normal((5, 9, 2)).astype(np.float32)
    prepared = rotinv2dprepare(6, "s")
    got = rotinv2d(path, prepared)
    want = iisignature.rotinv2d(path, iisignature.rotinv2dprepare(6, "s"))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=F64_RTOL, atol=1e-12)
    as_list = rotinv2d(path[0].astype(np.float64).tolist(), prepared)
    np.testing.assert_allclose(as_list, got[0], rtol=F64_RTOL, atol=1e-12)
    integers = rotinv2d(np.array([[0, 0], [1, 2], [3, 1]]), prepared)
    np.testing.assert_allclose(integers, rotinv2d(np.array([[0.0, 0], [1, 2], [3, 1]]), prepared))


@pytest.mark.parametrize("kind", KINDS)
def test_invariants_do_not_change_when_the_paths_rotate(kind, rng):
    path = rng.standard_normal((4, 10, 2))
    prepared = rotinv2dprepare(8, kind)
    base = rotinv2d(path, prepared)
    for angle in rng.uniform(0, 2 * np.pi, 3):
        np.testing.assert_allclose(rotinv2d(rotate(path, angle), prepared), base, rtol=1e-9, atol=1e-11)
    if kind != "k":
        assert np.abs(base).max() > 1e-2


def test_invariants_are_the_basis_applied_to_the_signature(rng):
    path = rng.standard_normal((3, 6, 2))
    prepared = rotinv2dprepare(6, "a")
    sig = sigrs.sig(path, 6)
    levels = [sig[:, 2**k - 2 : 2 ** (k + 1) - 2] for k in (2, 4, 6)]
    want = np.concatenate([lv @ c.T for lv, c in zip(levels, rotinv2dcoeffs(prepared))], axis=1)
    np.testing.assert_allclose(rotinv2d(path, prepared), want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["s", "q"])
def test_reduced_bases_are_orthonormal_and_complete_the_known_invariants(kind):
    """Basis-independent: per level, the rows are orthonormal, orthogonal to
    the shuffle products, and with them span every invariant."""
    m = 8
    reduced, known, everything = (rotinv2dcoeffs(rotinv2dprepare(m, t)) for t in (kind, "k", "a"))
    for level, (r, k, a) in zip(range(2, m + 1, 2), zip(reduced, known, everything)):
        if level == 2:  # nothing is known there: iisignature keeps the spanning rows
            np.testing.assert_array_equal(r, a)
            continue
        np.testing.assert_allclose(r @ r.T, np.eye(len(r)), atol=1e-12, err_msg=f"level {level}")
        np.testing.assert_allclose(r @ k.T, 0, atol=1e-10, err_msg=f"level {level}")
        assert rank(np.vstack([r, k])) == rank(a) == len(r) + rank(k), level


def test_default_and_spelling_of_inv_type_follow_iisignature():
    assert rotinv2dprepare(4).inv_type == "a"
    assert rotinv2dprepare(4, None).inv_type == "s"  # iisignature's None
    assert rotinv2dprepare(4, "A").inv_type == "a"
    assert rotinv2dprepare(4, "xQ").inv_type == "q"
    for spelling in ("A", "xQ", "S", "K"):
        np.testing.assert_array_equal(
            np.concatenate([c.ravel() for c in rotinv2dcoeffs(rotinv2dprepare(6, spelling))]),
            np.concatenate([c.ravel() for c in iisignature.rotinv2dcoeffs(iisignature.rotinv2dprepare(6, spelling))]),
        )


def test_coefficients_returned_are_copies():
    prepared = rotinv2dprepare(4, "a")
    first = rotinv2dcoeffs(prepared)
    first[0][:] = 7.0
    assert rotinv2dcoeffs(prepared)[0][0, 0] == 1.0


def test_single_points_and_empty_batches():
    prepared = rotinv2dprepare(6, "s")
    n = rotinv2dlength(prepared)
    np.testing.assert_array_equal(rotinv2d(np.ones((1, 2)), prepared), np.zeros(n))
    assert rotinv2d(np.zeros((0, 5, 2)), prepared).shape == (0, n)
    assert rotinv2d(np.zeros((2, 0, 3, 2)), prepared).shape == (2, 0, n)
    assert rotinv2d(np.zeros((3, 2)), rotinv2dprepare(2, "k")).shape == (0,)


def test_native_backprop_equals_autograd_through_the_signature(rng):
    path = rng.standard_normal((3, 6, 2))
    prepared = rotinv2dprepare(6, "q")
    n = rotinv2dlength(prepared)
    derivs = rng.standard_normal((3, n))
    out = np.empty_like(path)
    _native.rotinv2d_backprop(path, prepared.flat(np.float64), derivs, out, 6, prepared.rows_per_level, 1)
    x = torch.tensor(path, requires_grad=True)
    (rotinv2d(x, prepared) * torch.tensor(derivs)).sum().backward()
    np.testing.assert_allclose(out, x.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_input_gives_tensors_equal_to_numpy(dtype, rng):
    path = rng.standard_normal((2, 5, 2))
    prepared = rotinv2dprepare(6, "s")
    x = torch.tensor(path, dtype=getattr(torch, dtype))
    got = rotinv2d(x, prepared)
    assert isinstance(got, torch.Tensor) and got.dtype == x.dtype and got.shape == (2, rotinv2dlength(prepared))
    rtol = F64_RTOL if dtype == "float64" else F32_RTOL
    np.testing.assert_allclose(got.numpy(), rotinv2d(x.numpy(), prepared), rtol=rtol, atol=rtol)


def test_torch_gradients_pass_gradcheck(rng):
    x = torch.tensor(rng.standard_normal((2, 4, 2)), requires_grad=True)
    prepared = rotinv2dprepare(4, "s")
    assert torch.autograd.gradcheck(lambda p: rotinv2d(p, prepared), (x,))


@pytest.mark.cuda
def test_cuda_tensors_give_the_cpu_numbers(rng):
    path = torch.tensor(rng.standard_normal((4, 8, 2)))
    prepared = rotinv2dprepare(6, "s")
    got = rotinv2d(path.cuda(), prepared)
    assert got.device.type == "cuda"
    np.testing.assert_allclose(got.cpu().numpy(), rotinv2d(path.numpy(), prepared), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(
    "m, inv_type, error, match",
    [
        (3, "a", ValueError, "m must be an even number from 2 to 14, got 3"),
        (0, "a", ValueError, "got 0"),
        (-2, "a", ValueError, "got -2"),
        (16, "a", ValueError, "got 16"),
        (4.0, "a", TypeError, "m must be an int, got float"),
        (True, "a", TypeError, "m must be an int, got bool"),
        (4, "as", ValueError, "exactly one of"),
        (4, "", ValueError, "exactly one of"),
        (4, "xyz", ValueError, "got 'xyz'"),
        (4, 3, TypeError, "inv_type must be a str or None, got int"),
    ],
)
def test_bad_prepare_arguments_raise_naming_the_argument(m, inv_type, error, match):
    with pytest.raises(error, match=match):
        rotinv2dprepare(m, inv_type)


def test_bad_paths_and_prepared_objects_raise():
    prepared = rotinv2dprepare(4, "a")
    with pytest.raises(ValueError, match=r"2 dimensions .* got shape \(5, 3\)"):
        rotinv2d(np.zeros((5, 3)), prepared)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        rotinv2d(np.zeros(4), prepared)
    with pytest.raises(ValueError, match="at least one point"):
        rotinv2d(np.zeros((0, 2)), prepared)
    with pytest.raises(TypeError, match="float32 or float64"):
        rotinv2d(np.zeros((3, 2), dtype=np.complex128), prepared)
    for bad in ("x", iisignature.rotinv2dprepare(4, "a"), None):
        for f in (lambda p: rotinv2d(np.zeros((3, 2)), p), rotinv2dlength, rotinv2dcoeffs):
            with pytest.raises(TypeError, match="result of rotinv2dprepare"):
                f(bad)
    with pytest.raises(ValueError, match="2 dimensions"):
        rotinv2d(torch.zeros(3, 3, dtype=torch.float64), prepared)
    with pytest.raises(TypeError, match="dtype torch.float32 or torch.float64"):
        rotinv2d(torch.zeros(3, 2, dtype=torch.int64), prepared)


def test_native_functions_reject_inconsistent_sizes():
    with pytest.raises(ValueError, match="coefficients"):
        _native.rotinv2d(np.zeros((1, 3, 2)), np.zeros(7), np.zeros((1, 2)), 2, [2], 1)
    with pytest.raises(ValueError, match="rows_per_level"):
        _native.rotinv2d(np.zeros((1, 3, 2)), np.zeros(8), np.zeros((1, 2)), 4, [2], 1)
    with pytest.raises(ValueError, match="level"):
        _native.rotinv2d_spanning(3)
    with pytest.raises(ValueError, match="rank"):
        _native.rotinv2d_project_away(np.zeros(4), 2, 2, np.zeros(2), 1, 2)
