"""Rotation-invariant features of planar paths, iisignature's ``rotinv2d`` family.

A rotation of the plane leaves some linear functionals of a 2-D path's
signature unchanged (Diehl, "Rotation invariants of two dimensional curves
based on iterated integrals", 2013). :func:`rotinv2dprepare` builds a basis
of them for each even level up to ``m``; :func:`rotinv2d` evaluates it on
paths. Same names, arguments, outputs and numbers as iisignature 0.24::

    >>> import numpy as np, sigrs
    >>> s = sigrs.rotinv2dprepare(4, "a")
    >>> sigrs.rotinv2dlength(s)
    8
    >>> x = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> sigrs.rotinv2d(x, s)[:2]          # |z|^2 / 2 and the signed area
    array([12.5,  0. ])

The spanning and shuffle-product invariants and the projections are built
natively (``sig_core::rotinv``). For the orthonormal kinds ``"s"`` and
``"q"`` iisignature orthonormalises with NumPy's SVD and SciPy's pivoted
QR; the singular values there are all equal, so the basis is whatever LAPACK
returns, and the same LAPACK calls on the same matrices are the only way to
reproduce it. Those two calls are made here; everything else is native.
"""

from __future__ import annotations

import operator
from functools import lru_cache
from typing import Any

import numpy as np

from . import _native
from ._arrays import as_array, batch_of_paths, check_tensor, empty_output, is_torch

#: Highest degree served: the dense coefficients of level 14 already take
#: about 450 MB (sig_core::rotinv::MAX_ROTINV_DEGREE).
MAX_DEGREE = 14

#: iisignature's threshold on singular values (and |R_ii| for QR) below
#: which a direction counts as absent.
_RANK_TOLERANCE = 1e-6


class RotInv2DPrepared:
    """What :func:`rotinv2dprepare` returns: the basis of invariants up to
    degree ``m`` of kind ``inv_type``. Pass it to :func:`rotinv2d`,
    :func:`rotinv2dlength` and :func:`rotinv2dcoeffs`."""

    __slots__ = ("m", "inv_type", "coefficients", "rows_per_level", "_flat", "_full")

    def __init__(self, m: int, inv_type: str, coefficients: tuple) -> None:
        self.m = m
        self.inv_type = inv_type
        #: one read-only float64 ``(n_level, 2**level)`` array per even level
        self.coefficients = coefficients
        self.rows_per_level = [c.shape[0] for c in coefficients]
        self._flat = np.concatenate([c.ravel() for c in coefficients])
        self._flat.setflags(write=False)
        self._full = None

    def __repr__(self) -> str:
        return f"RotInv2DPrepared(m={self.m}, inv_type={self.inv_type!r}, length={sum(self.rows_per_level)})"

    def flat(self, dtype: Any) -> np.ndarray:
        """The coefficients of every level end to end, in ``dtype``."""
        return self._flat if dtype == np.float64 else self._flat.astype(dtype)

    def on_signature(self) -> np.ndarray:
        """The basis as one ``(n, siglength(2, m))`` matrix on the signature
        without scalar term (zero on odd levels), for composing with
        :func:`sigrs.sig` on tensors."""
        if self._full is None:
            n = sum(self.rows_per_level)
            full = np.zeros((n, 2 ** (self.m + 1) - 2))
            row = 0
            for i, c in enumerate(self.coefficients):
                level = 2 * i + 2
                full[row : row + c.shape[0], 2**level - 2 : 2 ** (level + 1) - 2] = c
                row += c.shape[0]
            full.setflags(write=False)
            self._full = full
        return self._full


def _check_m(m: Any) -> int:
    if isinstance(m, bool):
        raise TypeError(f"m must be an int, got bool {m!r}")
    try:
        m = operator.index(m)
    except TypeError:
        raise TypeError(f"m must be an int, got {type(m).__name__} {m!r}") from None
    if m < 2 or m % 2 or m > MAX_DEGREE:
        raise ValueError(f"m must be an even number from 2 to {MAX_DEGREE}, got {m}")
    return m


def _check_inv_type(inv_type: Any) -> str:
    """iisignature's type string: None means SVD; otherwise letters of
    exactly one of a, k, s, q (either case) must appear."""
    if inv_type is None:
        return "s"
    if not isinstance(inv_type, str):
        raise TypeError(f"inv_type must be a str or None, got {type(inv_type).__name__} {inv_type!r}")
    found = [k for k in "aksq" if k in inv_type.lower()]
    if len(found) != 1:
        raise ValueError(
            "inv_type must contain letters of exactly one of 'a' (all invariants), 'k' (known shuffle products), "
            f"'s' (SVD-reduced) or 'q' (QR-reduced), got {inv_type!r}"
        )
    return found[0]


def _orthonormal_columns(matrix: np.ndarray, kind: str) -> tuple[np.ndarray, int]:
    """iisignature's orthonormalisation of ``matrix``'s columns: NumPy's SVD
    (``"s"``) or SciPy's pivoted economic QR (``"q"``), and the rank it counts."""
    if kind == "s":
        u, singular_values, _ = np.linalg.svd(matrix, full_matrices=False)
        return np.ascontiguousarray(u), int(np.count_nonzero(singular_values > _RANK_TOLERANCE))
    try:
        import scipy.linalg
    except ImportError:
        raise ImportError("rotinv2dprepare with inv_type 'q' needs SciPy (as iisignature does); install scipy") from None
    q, r, _ = scipy.linalg.qr(matrix, overwrite_a=False, lwork=None, mode="economic", pivoting=True)
    return np.ascontiguousarray(q), int(np.count_nonzero(np.abs(np.diag(r)) > _RANK_TOLERANCE))


def _rows(flat: np.ndarray, n: int, level: int) -> np.ndarray:
    return flat.reshape(n, 2**level)


def _reduced_level(level: int, spanning: tuple, known: tuple, kind: str) -> np.ndarray:
    """The spanning invariants of one level with the known ones projected
    away, orthonormalised as iisignature does, real parts then imaginary."""
    d = 2 ** (level - 1)
    parts = []
    for parity in (0, 1):
        span_rows, n_span = spanning[2 * parity], spanning[2 * parity + 1]
        known_rows, n_known = known[2 * parity], known[2 * parity + 1]
        a = _native.rotinv2d_squish(span_rows, n_span, level, parity)
        b = _native.rotinv2d_squish(known_rows, n_known, level, parity).reshape(d, n_known)
        basis, rank = _orthonormal_columns(b, kind)
        projected = _native.rotinv2d_project_away(a, d, n_span, basis.ravel(), basis.shape[1], rank)
        reduced, out_rank = _orthonormal_columns(projected.reshape(d, n_span), kind)
        kept = np.ascontiguousarray(reduced[:, :out_rank])
        parts.append(_rows(_native.rotinv2d_unsquish(kept.ravel(), out_rank, level, parity), out_rank, level))
    return np.concatenate(parts)


@lru_cache(maxsize=32)
def _prepared(m: int, kind: str) -> RotInv2DPrepared:
    levels = range(2, m + 1, 2)
    if kind == "a":
        blocks = []
        for level in levels:
            real, n_real, imag, n_imag = _native.rotinv2d_spanning(level)
            blocks.append(np.concatenate([_rows(real, n_real, level), _rows(imag, n_imag, level)]))
    elif kind == "k":
        blocks = [
            np.concatenate([_rows(real, n_real, level), _rows(imag, n_imag, level)])
            for level, (real, n_real, imag, n_imag) in zip(levels, _native.rotinv2d_known(m))
        ]
    else:
        known = _native.rotinv2d_known(m)
        blocks = []
        for level, known_level in zip(levels, known):
            spanning = _native.rotinv2d_spanning(level)
            if level == 2:
                real, n_real, imag, n_imag = spanning
                blocks.append(np.concatenate([_rows(real, n_real, level), _rows(imag, n_imag, level)]))
            else:
                blocks.append(_reduced_level(level, spanning, known_level, kind))
    for block in blocks:
        block.setflags(write=False)
    return RotInv2DPrepared(m, kind, tuple(blocks))


def rotinv2dprepare(m: int, inv_type: Any = "a") -> RotInv2DPrepared:
    """Prepares the linear rotation invariants of 2-D paths' signatures up to level ``m``.

    Args:
        m: an even level from 2 to 14.
        inv_type: which invariants (iisignature's ``type``): ``"a"`` all the
            spanning ones (the real and imaginary parts of the words in z and
            conj(z) with as many of each, starting with z); ``"k"`` only the
            shuffle products of two lower-level ones; ``"s"`` (also None, as
            in iisignature) an orthonormal basis, by SVD, of what ``"a"``
            adds beyond ``"k"``; ``"q"`` the same space by pivoted QR (needs
            SciPy).

    Returns:
        An opaque object for :func:`rotinv2d`, :func:`rotinv2dlength` and
        :func:`rotinv2dcoeffs`.

    Example:
        >>> sigrs.rotinv2dlength(sigrs.rotinv2dprepare(6, "s"))
        15
    """
    m = _check_m(m)
    return _prepared(m, _check_inv_type(inv_type))


def _check_prepared(prepared: Any) -> RotInv2DPrepared:
    if not isinstance(prepared, RotInv2DPrepared):
        raise TypeError(f"prepared must be the result of rotinv2dprepare, got {type(prepared).__name__}")
    return prepared


def rotinv2dlength(prepared: RotInv2DPrepared) -> int:
    """The number of invariants :func:`rotinv2d` returns for ``prepared``.

    Example:
        >>> sigrs.rotinv2dlength(sigrs.rotinv2dprepare(4, "a"))
        8
    """
    return sum(_check_prepared(prepared).rows_per_level)


def rotinv2dcoeffs(prepared: RotInv2DPrepared) -> tuple:
    """The invariants as coefficients on the signature: a tuple with one
    float64 array ``(n_level, 2**level)`` per even level 2, 4, ..., m, rows
    over the words of that level in lexicographic order (letter 0 is x).

    Example:
        >>> sigrs.rotinv2dcoeffs(sigrs.rotinv2dprepare(2, "a"))[0]
        array([[ 1.,  0.,  0.,  1.],
               [ 0., -1.,  1.,  0.]])
    """
    return tuple(c.copy() for c in _check_prepared(prepared).coefficients)


def rotinv2d(path: Any, prepared: RotInv2DPrepared) -> Any:
    """The rotation invariants of the signatures of 2-D paths.

    Args:
        path: ``(..., length, 2)`` points (NumPy array, list or torch
            tensor); leading axes are batch axes; ``length >= 1``.
        prepared: from :func:`rotinv2dprepare`.

    Returns:
        ``(..., rotinv2dlength(prepared))``: float64 for NumPy input (as
        iisignature, whatever the input dtype); for a torch tensor, a tensor
        of its dtype and device, differentiable through autograd.

    Example:
        >>> s = sigrs.rotinv2dprepare(2, "a")
        >>> sigrs.rotinv2d(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), s)
        array([ 1., -1.])
    """
    prepared = _check_prepared(prepared)
    if type(path) is not np.ndarray and is_torch(path):
        return _rotinv2d_torch(check_tensor(path, "path", 2, cuda_ok=True), prepared)
    if isinstance(path, np.ndarray) and path.dtype.kind in "iub":
        path = path.astype(np.float64)  # iisignature takes integer arrays too
    path = as_array(path, "path", 2)
    _check_path_shape(tuple(path.shape))
    if path.dtype != np.float64:
        path = path.astype(np.float64)
    n = sum(prepared.rows_per_level)
    batch = batch_of_paths(path)
    out = empty_output((batch.shape[0], n), np.float64)
    _native.rotinv2d(batch, prepared.flat(np.float64), out, prepared.m, prepared.rows_per_level, -1)
    return out.reshape(path.shape[:-2] + (n,))


def _check_path_shape(shape: tuple) -> None:
    if shape[-1] != 2:
        raise ValueError(f"path must have points in 2 dimensions (shape (..., length, 2)), got shape {shape}")
    if shape[-2] == 0:
        raise ValueError(f"path must have at least one point (length >= 1), got shape {shape}")


def _rotinv2d_torch(path: Any, prepared: RotInv2DPrepared) -> Any:
    """Torch input: the signature op (differentiable, on the path's device)
    composed with the basis as a matrix."""
    import torch

    from .signature import sig

    _check_path_shape(tuple(path.shape))
    basis = torch.tensor(prepared.on_signature(), dtype=path.dtype, device=path.device)
    return torch.matmul(sig(path, prepared.m), basis.T)
