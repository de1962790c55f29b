"""iisignature 0.24's API, computed by sigrs: a drop-in replacement.

Switch by changing one import::

    import iisignature                      # before
    from sigrs import iisignature           # after (or: import sigrs.iisignature as iisignature)

Every function keeps iisignature's name, argument order, batch shapes
(any leading axes), output shapes and dtypes, and raises where iisignature
raises, with the same exception type (TypeError for a float level or a
non-string method; otherwise :class:`IisignatureError`, a ``RuntimeError``
as iisignature's errors are, which is also a ``ValueError`` as sigrs's are)
and iisignature's message followed by the expected and the actual value.

What iisignature returns, this module returns:

* inputs of any real dtype (lists, ints, float32) are read as float64;
* :func:`sig`, :func:`logsig`, :func:`logsigtosig` and
  :func:`logsigtosigbackprop` return float64; :func:`sigbackprop`,
  :func:`sigjacobian`, :func:`sigcombine`, :func:`sigjoin`, :func:`sigscale`,
  their backprops and :func:`logsigbackprop` return float32, as
  iisignature 0.24 does (sigrs computes them in float64 and rounds once);
* log-signatures are coordinates in the Lyndon basis, or the Hall basis
  when ``prepare`` got ``"H"`` (the brackets :func:`basis` prints), or the
  expanded tensor logarithm with method ``"X"``. iisignature's methods
  ``D``, ``C``, ``O``, ``A`` and ``S`` only choose an algorithm for the same
  numbers; sigrs always takes the logarithm of the signature (its fastest
  way), and accepts or refuses each method string exactly as iisignature
  does for the methods ``prepare`` was given.

Deliberate differences, where iisignature crashes or is wrong:

* ``sig(X, m, 1)`` with a batch of paths returns each level with the batch
  axes, ``(..., d**k)``; iisignature returns the last path's levels (and
  crashes the interpreter on an empty batch);
* ``prepare(d, m, "2")`` without ``"S"`` works (iisignature segfaults);
* the object from :func:`prepare` is a small Python object, not a capsule:
  sigrs builds its tables lazily, so preparing is cheap;
* functions also take their arguments by keyword (iisignature's names).

The rotation invariants of planar paths, :func:`rotinv2dprepare`,
:func:`rotinv2d`, :func:`rotinv2dlength` and :func:`rotinv2dcoeffs`, are
sigrs's (``sigrs.rotinv2d`` and friends, computed in the Rust core), with
iisignature's errors: a bad level or a foreign prepared object is an
:class:`IisignatureError`. Levels go up to 14 (iisignature: 62; level 14's
coefficients already take 450 MB).

Example::

    >>> from sigrs import iisignature
    >>> path = np.random.rand(10, 3)
    >>> iisignature.sig(path, 3).shape
    (39,)
    >>> s = iisignature.prepare(3, 3)
    >>> iisignature.logsig(path, s).shape
    (14,)
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, Optional

import numpy as np

from . import _native, _rotinv
from .algebra import sig_combine as _sig_combine
from .algebra import sig_combine_backprop as _sig_combine_backprop
from .algebra import sig_join as _sig_join
from .algebra import sig_join_backprop as _sig_join_backprop
from .logsig import hall_basis as _hall_basis
from .logsig import log_sig as _log_sig
from .logsig import log_sig_length as _log_sig_length
from .logsig import logsig_to_sig as _logsig_to_sig
from .logsig import logsig_to_sig_backprop as _logsig_to_sig_backprop
from .logsig import lyndon_brackets as _lyndon_brackets
from .logsig import prepare_log_sig as _prepare_log_sig
from .logsig import sig_to_log_sig_backprop as _sig_to_log_sig_backprop
from .signature import sig as _sig
from .signature import sig_backprop as _sig_backprop
from .signature import sig_length as _sig_length

__all__ = [
    "IisignatureError",
    "basis",
    "info",
    "logsig",
    "logsigbackprop",
    "logsiglength",
    "logsigtosig",
    "logsigtosigbackprop",
    "prepare",
    "rotinv2d",
    "rotinv2dcoeffs",
    "rotinv2dlength",
    "rotinv2dprepare",
    "sig",
    "sigbackprop",
    "sigcombine",
    "sigcombinebackprop",
    "sigjacobian",
    "sigjoin",
    "sigjoinbackprop",
    "siglength",
    "sigmultcount",
    "sigscale",
    "sigscalebackprop",
    "version",
]

_VERSION = "0.24"
"""The iisignature version whose behaviour this module reproduces."""


class IisignatureError(RuntimeError, ValueError):
    """A bad argument: a ``RuntimeError`` like iisignature's errors, and a
    ``ValueError`` like sigrs's, so ``except`` clauses written for either work."""


# ---------------------------------------------------------------- arguments


def _fail(message: str) -> IisignatureError:
    return IisignatureError(message)


def _level(m: Any) -> int:
    """The truncation level: an int (TypeError otherwise, as iisignature), at least 1."""
    m = operator.index(m)
    if m < 1:
        raise _fail(f"level must be positive, got m={m}")
    return m


def _dimension(d: Any) -> int:
    d = operator.index(d)
    if d < 1:
        raise _fail(f"dimension must be positive, got d={d}")
    return d


def _floats(x: Any, name: str) -> np.ndarray:
    """``x`` as a C-contiguous float64 array, as iisignature reads every input."""
    try:
        return np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError, RuntimeError) as e:
        raise _fail(f"{name} must be (convertable to) a numpy array of numbers, got {type(x).__name__}: {e}") from None


def _path(x: Any, name: str = "data", exactly_2d: bool = False) -> np.ndarray:
    """A checked ``(..., length, d)`` path array (``(length, d)`` with ``exactly_2d``)."""
    path = _floats(x, name)
    if path.ndim < 2 or (exactly_2d and path.ndim != 2):
        raise _fail(f"{name} must be 2d{'' if exactly_2d else ' (or more: [...,] length, d)'}, got shape {path.shape}")
    if path.shape[-2] < 1:
        raise _fail(f"Path has no length: {name} has shape {path.shape}")
    if path.shape[-1] < 1:
        raise _fail(f"Path must have positive dimension: {name} has shape {path.shape}")
    return path


def _same_ndim(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.ndim != b.ndim:
        raise _fail(f"{a_name} and {b_name} must have the same number of dimensions, got shapes {a.shape} and {b.shape}")


def _same_batch(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str, a_core: int = 1, b_core: int = 1) -> None:
    """The leading (batch) axes of ``a`` and ``b`` agree (each has ``*_core`` trailing axes of its own)."""
    if a.shape[: a.ndim - a_core] != b.shape[: b.ndim - b_core]:
        raise _fail(f"mismatched dimensions between {a_name} and {b_name}: shapes {a.shape} and {b.shape}")


def _last_length(a: np.ndarray, name: str, expected: int) -> None:
    if a.shape[-1] != expected:
        raise _fail(f"{name}: unexpected length, expected {expected} in the last axis, got shape {a.shape}")


def _signatures(x: Any, name: str) -> np.ndarray:
    sigs = _floats(x, name)
    if sigs.ndim < 1:
        raise _fail(f"no signatures provided: {name} is a scalar")
    return sigs


def _f32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32)


# ---------------------------------------------------------------- lengths


def siglength(d: int, m: int) -> int:
    """The length of the signature of a ``d``-dimensional path up to level ``m``,
    without the initial 1 (the sum of ``d**k`` for ``k`` from 1 to ``m``).

    Example::

        >>> from sigrs import iisignature
        >>> iisignature.siglength(3, 4)
        120
    """
    return _sig_length(_dimension(d), _level(m))


def logsiglength(d: int, m: int) -> int:
    """The length of the log-signature of a ``d``-dimensional path up to level ``m``
    (the number of Lyndon words of length 1 to ``m``, Witt's formula).

    Example::

        >>> from sigrs import iisignature
        >>> iisignature.logsiglength(3, 4)
        32
    """
    return _log_sig_length(_dimension(d), _level(m))


def version() -> str:
    """The iisignature version this module reproduces (``"0.24"``); sigrs's own is ``sigrs.__version__``."""
    return _VERSION


def sigmultcount(X: Any, m: int) -> int:
    """The number of multiplications iisignature's ``sig(X, m)`` performs, by
    its own count (so ``-d**2`` for a one-point path at level 2, as there).

    ``X`` is one path ``(length, d)``.

    Example::

        >>> from sigrs import iisignature
        >>> iisignature.sigmultcount(np.zeros((10, 2)), 2)
        104
    """
    m = _level(m)
    length, d = _path(X, exactly_2d=True).shape
    # iisignature: each of the length-1 segments' exponentials costs
    # 2 d^k per level k >= 2, and each of the length-2 Chen products (k-1) d^k
    per_segment = sum(2 * d**k for k in range(2, m + 1))
    per_product = sum((k - 1) * d**k for k in range(2, m + 1))
    return per_product * (length - 2) + per_segment * (length - 1)


# ---------------------------------------------------------------- signatures


def sig(X: Any, m: int, format: int = 0) -> Any:
    """The signature of the path(s) ``X`` up to level ``m``, without the initial 1.

    Args:
        X: ``(..., length, d)`` points of paths (any real dtype, read as float64).
        m: the level, at least 1.
        format: 0 for ``(..., siglength(d, m))``; 1 for a tuple of the ``m``
            levels, level ``k`` of shape ``(..., d**k)``; 2 for the signatures
            of every prefix, ``(..., length - 1, siglength(d, m))``.

    Returns:
        float64 arrays, as described by ``format``.

    Example::

        >>> from sigrs import iisignature
        >>> path = np.random.rand(10, 2)
        >>> iisignature.sig(path, 3).shape, iisignature.sig(path, 3, 2).shape
        ((14,), (9, 14))
    """
    m = _level(m)
    format = operator.index(format)
    path = _path(X)
    if format not in (0, 1, 2):
        raise _fail(f"Invalid format requested: format must be 0, 1 or 2, got {format}")
    if format == 2:
        return _sig(path, m, stream=True)
    out = _sig(path, m)
    if format == 0:
        return out
    d = path.shape[-1]
    levels, start = [], 0
    for k in range(1, m + 1):
        levels.append(np.ascontiguousarray(out[..., start : start + d**k]))
        start += d**k
    return tuple(levels)


def sigbackprop(s: Any, X: Any, m: int) -> np.ndarray:
    """The gradient of ``F`` with respect to ``X`` from ``s`` = dF/d(sig(X, m)).

    Args:
        s: ``(..., siglength(d, m))``.
        X: ``(..., length, d)``, the paths.
        m: the level.

    Returns:
        float32, shaped like ``X``; ``sigjacobian(X, m) @ s`` for one path.

    Example::

        >>> from sigrs import iisignature
        >>> path = np.random.rand(10, 2)
        >>> iisignature.sigbackprop(np.ones(6), path, 2).shape
        (10, 2)
    """
    m = _level(m)
    path = _path(X, "path")
    derivs = _floats(s, "derivs")
    if derivs.ndim != path.ndim - 1:
        raise _fail(f"derivs has the wrong number of dimensions: expected {path.ndim - 1} for a path of shape "
                    f"{path.shape}, got shape {derivs.shape}")
    n = _sig_length(path.shape[-1], m)
    if derivs.shape[-1] != n:
        raise _fail(f"derivs should have length {n} but it has length {derivs.shape[-1]}")
    _same_batch(path, "paths", derivs, "derivatives", 2, 1)
    return _f32(_sig_backprop(path, _sig(path, m), derivs, m))


def sigjacobian(X: Any, m: int) -> np.ndarray:
    """The Jacobian of ``sig(X, m)`` with respect to the points of one path ``X``.

    Computed in one forward-mode pass (prefix and suffix signatures around
    each segment, segments in parallel), not one backward pass per
    signature coordinate.

    Args:
        X: ``(length, d)``, one path.
        m: the level.

    Returns:
        float32 ``(length, d, siglength(d, m))``: entry ``[i, j, w]`` is
        d sig_w / d X[i, j].

    Example::

        >>> from sigrs import iisignature
        >>> iisignature.sigjacobian(np.random.rand(10, 2), 3).shape
        (10, 2, 14)
    """
    m = _level(m)
    path = _path(X, exactly_2d=True)
    length, d = path.shape
    out = np.empty((length, d, _sig_length(d, m)))
    _native.sig_jacobian(path, out, d, m, -1)
    return _f32(out)


# ---------------------------------------------------------------- signature algebra


def sigcombine(X1: Any, X2: Any, d: int, m: int) -> np.ndarray:
    """Chen's product: the signatures of each path of ``X1`` followed by the matching path of ``X2``.

    Args:
        X1, X2: ``(..., siglength(d, m))`` signatures of the same shape.
        d, m: the paths' dimension and the level.

    Returns:
        float32 ``(..., siglength(d, m))``.

    Example::

        >>> from sigrs import iisignature
        >>> p = np.random.rand(10, 2)
        >>> s = iisignature.sigcombine(iisignature.sig(p[:5], 2), iisignature.sig(p[4:], 2), 2, 2)
        >>> np.allclose(s, iisignature.sig(p, 2), atol=1e-6)
        True
    """
    d, m = _dimension(d), _level(m)
    a, b = _floats(X1, "first input"), _floats(X2, "second input")
    _check_combine_inputs(a, b, d, m)
    return _f32(_sig_combine(a, b, d, m))


def _check_combine_inputs(a: np.ndarray, b: np.ndarray, d: int, m: int) -> None:
    if a.ndim != b.ndim:
        raise _fail(f"signatures inputs must have the same number of dimensions, got shapes {a.shape} and {b.shape}")
    if a.ndim < 1:
        raise _fail("no signatures provided: the inputs are scalars")
    n = _sig_length(d, m)
    _last_length(a, "first input", n)
    _last_length(b, "second input", n)
    _same_batch(a, "inputs (first)", b, "inputs (second)")


def sigcombinebackprop(s: Any, X1: Any, X2: Any, d: int, m: int) -> tuple:
    """The gradients through :func:`sigcombine`: ``(dF/dX1, dF/dX2)`` from ``s`` = dF/d(sigcombine(X1, X2, d, m)).

    Returns:
        Two float32 arrays shaped like ``X1``.

    Example::

        >>> from sigrs import iisignature
        >>> s1, s2 = iisignature.sig(np.random.rand(5, 2), 2), iisignature.sig(np.random.rand(5, 2), 2)
        >>> [g.shape for g in iisignature.sigcombinebackprop(np.ones(6), s1, s2, 2, 2)]
        [(6,), (6,)]
    """
    d, m = _dimension(d), _level(m)
    a, b = _floats(X1, "first input"), _floats(X2, "second input")
    _check_combine_inputs(a, b, d, m)
    derivs = _floats(s, "derivs")
    _same_ndim(a, "sigs", derivs, "derivs")
    _last_length(derivs, "derivs", a.shape[-1])
    _same_batch(a, "sigs", derivs, "derivs")
    g1, g2 = _sig_combine_backprop(derivs, a, b, d, m)
    return _f32(g1), _f32(g2)


def _fixed_last(f: Any) -> float:
    """iisignature's ``fixedLast``: a real number (NaN: none), TypeError otherwise."""
    if isinstance(f, (str, bytes)) or not hasattr(f, "__float__"):
        raise TypeError(f"f (fixedLast) must be a real number, not {type(f).__name__}")
    return float(f)


def _join_inputs(X: Any, D: Any, m: int, f: float) -> tuple:
    """Checked signatures, the full displacements (``f`` appended unless NaN) and the dimension."""
    sigs = _signatures(X, "sigs")
    given = _floats(D, "data")
    _same_ndim(sigs, "sigs", given, "data")
    if given.shape[-1] < 1:
        raise _fail(f"Path must have positive dimension: data has shape {given.shape}")
    fixed = not math.isnan(f)
    d = given.shape[-1] + fixed
    _last_length(sigs, "signatures", _sig_length(d, m))
    _same_batch(sigs, "sigs", given, "data")
    full = np.concatenate([given, np.full(given.shape[:-1] + (1,), f)], axis=-1) if fixed else given
    return sigs, full, d


def sigjoin(X: Any, D: Any, m: int, f: float = float("nan")) -> np.ndarray:
    """The signatures ``X`` extended by one straight segment each, of displacement ``D``.

    Args:
        X: ``(..., siglength(d, m))`` signatures of ``d``-dimensional paths.
        D: ``(..., d)`` displacements; or, when ``f`` (iisignature's
            ``fixedLast``) is given, ``(..., d - 1)`` with ``f`` the last
            coordinate of every displacement.
        m: the level.

    Returns:
        float32, shaped like ``X``.

    Example::

        >>> from sigrs import iisignature
        >>> p = np.random.rand(10, 2)
        >>> s = iisignature.sigjoin(iisignature.sig(p[:-1], 2), p[-1] - p[-2], 2)
        >>> np.allclose(s, iisignature.sig(p, 2), atol=1e-6)
        True
    """
    m = _level(m)
    sigs, displacement, d = _join_inputs(X, D, m, _fixed_last(f))
    return _f32(_sig_join(sigs, displacement, d, m))


def sigjoinbackprop(s: Any, X: Any, D: Any, m: int, f: float = float("nan")) -> tuple:
    """The gradients through :func:`sigjoin` from ``s`` = dF/d(sigjoin(X, D, m, f)).

    Returns:
        ``(dF/dX, dF/dD)`` as float32 arrays shaped like ``X`` and ``D``; when
        ``f`` is given, a third item, dF/df summed over the batch (a float).

    Example::

        >>> from sigrs import iisignature
        >>> s = iisignature.sig(np.random.rand(5, 2), 2)
        >>> g_sig, g_d, g_f = iisignature.sigjoinbackprop(np.ones(6), s, np.ones(1), 2, 0.5)
        >>> g_sig.shape, g_d.shape, type(g_f)
        ((6,), (1,), <class 'float'>)
    """
    m = _level(m)
    f = _fixed_last(f)
    sigs, displacement, d = _join_inputs(X, D, m, f)
    derivs = _floats(s, "derivs")
    _same_ndim(sigs, "sigs", derivs, "derivs")
    _last_length(derivs, "derivs", sigs.shape[-1])
    _same_batch(sigs, "sigs", derivs, "derivs")
    g_sig, g_disp = _sig_join_backprop(derivs, sigs, displacement, d, m)
    if math.isnan(f):
        return _f32(g_sig), _f32(g_disp)
    return _f32(g_sig), _f32(g_disp[..., :-1]), float(g_disp[..., -1].sum())


def _scale_inputs(X: Any, D: Any, m: int) -> tuple:
    sigs = _signatures(X, "sigs")
    scales = _floats(D, "scales")
    _same_ndim(sigs, "sigs", scales, "scales")
    d = scales.shape[-1]
    if d < 1:
        raise _fail(f"scales must have positive dimension, got shape {scales.shape}")
    _last_length(sigs, "signatures", _sig_length(d, m))
    _same_batch(sigs, "sigs", scales, "scales")
    return sigs, scales, d


def sigscale(X: Any, D: Any, m: int) -> np.ndarray:
    """The signatures ``X`` of paths scaled by ``D[j]`` in each coordinate ``j``.

    The coefficient of the word ``i1...ik`` is multiplied by ``D[i1] ... D[ik]``.

    Args:
        X: ``(..., siglength(d, m))`` signatures.
        D: ``(..., d)`` scales.
        m: the level.

    Returns:
        float32, shaped like ``X``.

    Example::

        >>> from sigrs import iisignature
        >>> p = np.random.rand(10, 2)
        >>> s = iisignature.sigscale(iisignature.sig(p, 3), np.array([2.0, -1.0]), 3)
        >>> np.allclose(s, iisignature.sig(p * [2.0, -1.0], 3), atol=1e-5)
        True
    """
    m = _level(m)
    sigs, scales, d = _scale_inputs(X, D, m)
    out = np.empty_like(sigs)
    _native.sig_scale(sigs, scales, out, d, m, -1)
    return _f32(out)


def sigscalebackprop(s: Any, X: Any, D: Any, m: int) -> tuple:
    """The gradients through :func:`sigscale` from ``s`` = dF/d(sigscale(X, D, m)).

    Returns:
        ``(dF/dX, dF/dD)``, float32 arrays shaped like ``X`` and ``D``.

    Example::

        >>> from sigrs import iisignature
        >>> s = iisignature.sig(np.random.rand(5, 2), 2)
        >>> [g.shape for g in iisignature.sigscalebackprop(np.ones(6), s, np.ones(2), 2)]
        [(6,), (2,)]
    """
    m = _level(m)
    sigs, scales, d = _scale_inputs(X, D, m)
    derivs = _floats(s, "derivs")
    _same_ndim(sigs, "sigs", derivs, "derivs")
    _last_length(derivs, "derivs", sigs.shape[-1])
    _same_batch(sigs, "sigs", derivs, "derivs")
    g_sig, g_scales = np.empty_like(sigs), np.empty_like(scales)
    _native.sig_scale_backprop(derivs, sigs, scales, g_sig, g_scales, d, m, -1)
    return _f32(g_sig), _f32(g_scales)


# ---------------------------------------------------------------- log-signatures

_METHOD_LETTERS = set("CDOSXAH2 ")
_ALGORITHMS = set("CDOSA")
_METHOD_ERROR = (
    "Invalid method string. Should be 'D' (default), 'C' (compiled), 'O' (simple BCH object, not compiled), "
    "'S' (by taking the log of the signature), 'A' (area calculations), or 'X' (to report the expanded log "
    "signature), or some combination - order ignored, possibly with 'H' or '2', or None."
)
_BOTH_X = "You asked for both 'X' and another method in your request, which means I can't tell what output you want."
_AREA_TOO_HIGH = "level is too high to use the 'A' (area) method"
_NOT_PREPARED = "We had not prepare()d for this request type"


def _method_letters(methods: Optional[str], position: int) -> set:
    """The upper-cased letters of a method string (None: none); iisignature's errors for anything else."""
    if methods is None:
        return set()
    if not isinstance(methods, str):
        raise TypeError(f"argument {position} must be str or None, not {type(methods).__name__}")
    letters = set(methods.upper())
    if not letters <= _METHOD_LETTERS:
        raise _fail(f"{_METHOD_ERROR} Got {methods!r}.")
    return letters


class _Prepared:
    """What :func:`prepare` returns: the dimension, level, basis and the
    methods iisignature would have prepared. sigrs needs no preparation, so
    this only carries them, to accept or refuse requests as iisignature does."""

    __slots__ = ("dimension", "level", "hall", "compiled", "simple", "log_of_sig", "to_sig")

    def __init__(self, dimension: int, level: int, letters: set):
        self.dimension, self.level = dimension, level
        self.hall, self.to_sig = "H" in letters, "2" in letters
        default = not (letters & (_ALGORITHMS | {"X"})) or "D" in letters
        self.compiled = (default and self.default_is_compiled) or "C" in letters
        # the compiled BCH formula is built from the simple one
        self.simple = self.compiled or "O" in letters
        # at level 1 the log-signature is the displacement: always projectable
        self.log_of_sig = (default and not self.default_is_compiled) or "S" in letters or level == 1

    @property
    def default_is_compiled(self) -> bool:
        """iisignature's choice for method "D": its compiled BCH formula for small spaces, else the signature's log."""
        d, m = self.dimension, self.level
        return (d == 2 and m < 10) or (2 < d < 10 and m < 5)

    @property
    def method(self) -> Any:
        """sigrs's method for the coordinates in this object's basis."""
        return "hall" if self.hall else 2

    def methods(self) -> str:
        """``info()["methods"]``: the algorithms ready for use, in iisignature's order."""
        flags = [(self.compiled, "C"), (self.simple and self.level > 1, "O"), (self.log_of_sig, "S"), (self.level <= 2, "A")]
        return "".join(letter for on, letter in flags if on) + "X"

    def expanded(self, methods: Optional[str], backprop: bool = False) -> bool:
        """Whether ``methods`` asks for the expanded log-signature; iisignature's
        error when it asks for something this object was not prepared for."""
        letters = _method_letters(methods, 4 if backprop else 3)
        asked = letters & _ALGORITHMS
        if "X" in letters and asked:
            raise _fail(f"{_BOTH_X} Got {methods!r}.")
        if "A" in letters and self.level > 2:
            raise _fail(f"{_AREA_TOO_HIGH}: it needs level 1 or 2, prepared for level {self.level}")
        if "X" in letters:
            return True
        if backprop:
            # only the signature's log (and what reduces to it) has a backward pass
            if asked and not asked & set("SDA"):
                raise _fail(f"Requested method cannot be used here: logsigbackprop takes 'S', 'X', 'D', 'A' "
                            f"or none, got {methods!r}")
            return False
        if not asked:
            ready = self.compiled or self.simple or self.log_of_sig or self.level <= 2
        else:
            ready = (
                ("D" in asked and (self.compiled if self.default_is_compiled else self.log_of_sig))
                or ("C" in asked and self.compiled)
                or ("O" in asked and self.simple)
                or ("S" in asked and self.log_of_sig)
                or "A" in asked
            )
        if not ready:
            raise _fail(f"{_NOT_PREPARED}: asked for {methods!r}, prepared {self.methods()!r}")
        return False

    def __repr__(self) -> str:
        return (f"<sigrs.iisignature prepared: dimension={self.dimension}, level={self.level}, "
                f"methods={self.methods()!r}, basis={'Standard Hall' if self.hall else 'Lyndon'!r}>")


def _prepared(s: Any) -> _Prepared:
    if not isinstance(s, _Prepared):
        raise _fail(f"I have received an input which is not from iisignature.prepare(): got {type(s).__name__}")
    return s


def prepare(d: int, m: int, methods: Optional[str] = None) -> _Prepared:
    """Gets ready to compute log-signatures of ``d``-dimensional paths up to level ``m``.

    Args:
        d: the dimension, at least 2.
        m: the level, at least 1.
        methods: None or letters, in any order and case: ``D`` (default),
            ``C``, ``O``, ``S``, ``A`` (levels 1 and 2 only), ``X``, which
            choose iisignature's algorithms (sigrs computes the same numbers
            one way, but accepts and refuses requests as iisignature would);
            ``H`` for the Hall basis instead of the Lyndon basis; ``2`` to
            allow :func:`logsigtosig`.

    Returns:
        An object for :func:`logsig`, :func:`logsigbackprop`, :func:`basis`,
        :func:`info`, :func:`logsigtosig`. Cheap: sigrs builds and caches its
        tables on first use.

    Example::

        >>> from sigrs import iisignature
        >>> iisignature.info(iisignature.prepare(2, 3, "SH"))["basis"]
        'Standard Hall'
    """
    d, m = operator.index(d), operator.index(m)
    if d < 2:
        raise _fail(f"dimension must be at least 2, got d={d}")
    if m < 1:
        raise _fail(f"level must be positive, got m={m}")
    letters = _method_letters(methods, 3)
    if "A" in letters and m > 2:
        raise _fail(f"{_AREA_TOO_HIGH}: it needs level 1 or 2, got m={m}")
    s = _Prepared(d, m, letters)
    if s.compiled or s.simple or s.log_of_sig:
        _prepare_log_sig(d, m, s.method)
    return s


def info(s: _Prepared) -> dict:
    """A dictionary describing a :func:`prepare` object: dimension, level,
    methods, basis, logsigtosig_supported.

    Example::

        >>> from sigrs import iisignature
        >>> iisignature.info(iisignature.prepare(3, 3))
        {'dimension': 3, 'level': 3, 'methods': 'COX', 'basis': 'Lyndon', 'logsigtosig_supported': False}
    """
    s = _prepared(s)
    return {
        "dimension": s.dimension,
        "level": s.level,
        "methods": s.methods(),
        "basis": "Standard Hall" if s.hall else "Lyndon",
        "logsigtosig_supported": s.to_sig,
    }


def _bracket_text(tree: Any) -> str:
    # iisignature prints letters from 1 as one digit each: 10 and up are "?"
    if isinstance(tree, int):
        return str(tree + 1) if tree < 9 else "?"
    return f"[{_bracket_text(tree[0])},{_bracket_text(tree[1])}]"


def basis(s: _Prepared) -> tuple:
    """The log-signature's basis elements as iisignature writes them: letters
    from 1, ``[a,b]`` for a Lie bracket (Lyndon or Hall, as prepared).

    Example::

        >>> from sigrs import iisignature
        >>> iisignature.basis(iisignature.prepare(2, 3))
        ('1', '2', '[1,2]', '[1,[1,2]]', '[[1,2],2]')
    """
    s = _prepared(s)
    trees = _hall_basis(s.dimension, s.level) if s.hall else _lyndon_brackets(s.dimension, s.level)
    return tuple(_bracket_text(t) for t in trees)


def _logsig_path(X: Any, s: _Prepared, name: str = "data") -> np.ndarray:
    path = _path(X, name)
    if path.shape[-1] != s.dimension:
        raise _fail(f"Path has dimension {path.shape[-1]} but we prepared for dimension {s.dimension}")
    return path


def logsig(X: Any, s: _Prepared, methods: Optional[str] = None) -> np.ndarray:
    """The log-signature of the path(s) ``X`` up to the prepared level.

    Args:
        X: ``(..., length, d)`` with ``d`` the prepared dimension.
        s: from :func:`prepare`.
        methods: None (any prepared method) or letters as in :func:`prepare`;
            ``X`` gives the expanded log-signature.

    Returns:
        float64 ``(..., logsiglength(d, m))``, coordinates in the prepared
        basis (the brackets of :func:`basis`); with ``X``, ``(..., siglength(d, m))``.

    Example::

        >>> from sigrs import iisignature
        >>> s = iisignature.prepare(2, 3)
        >>> iisignature.logsig(np.random.rand(10, 2), s).shape
        (5,)
    """
    s = _prepared(s)
    expanded = s.expanded(methods)
    path = _logsig_path(X, s)
    return _log_sig(path, s.level, method=0 if expanded else s.method)


def logsigbackprop(y: Any, X: Any, s: _Prepared, methods: Optional[str] = None) -> np.ndarray:
    """The gradient of ``F`` with respect to ``X`` from ``y`` = dF/d(logsig(X, s, methods)).

    Args:
        y: ``(..., logsiglength(d, m))`` (``siglength`` with method ``X``).
        X, s, methods: as :func:`logsig` (only the log of the signature,
            ``S``, ``D``, ``A`` or none, and ``X`` are differentiated).

    Returns:
        float32, shaped like ``X``.

    Example::

        >>> from sigrs import iisignature
        >>> s = iisignature.prepare(2, 3)
        >>> iisignature.logsigbackprop(np.ones(5), np.random.rand(10, 2), s).shape
        (10, 2)
    """
    s = _prepared(s)
    expanded = s.expanded(methods, backprop=True)
    path = _logsig_path(X, s)
    derivs = _floats(y, "derivs")
    if derivs.ndim != path.ndim - 1:
        raise _fail(f"derivs has the wrong number of dimensions: expected {path.ndim - 1} for a path of shape "
                    f"{path.shape}, got shape {derivs.shape}")
    _same_batch(path, "sigs", derivs, "derivs", 2, 1)
    d, m = s.dimension, s.level
    _last_length(derivs, "derivatives", _sig_length(d, m) if expanded else _log_sig_length(d, m))
    if not expanded and (s.level > 2 or _method_letters(methods, 4) & set("SD")):
        # iisignature builds its projection here when it was not prepared
        # (at levels 1 and 2 only for S or D: otherwise it differentiates its areas)
        s.log_of_sig = True
    signature = _sig(path, m)
    sig_derivs = _sig_to_log_sig_backprop(signature, derivs, d, m, method=0 if expanded else s.method)
    return _f32(_sig_backprop(path, signature, sig_derivs, m))


def _logsigs(X: Any, s: _Prepared) -> np.ndarray:
    if not s.to_sig:
        raise _fail("We did not prepare for log sig -> sig conversion. Ensure '2' is in the method string in prepare")
    logsigs = _floats(X, "logsigs")
    if logsigs.ndim < 1:
        raise _fail("no logsignatures provided: X is a scalar")
    n = _log_sig_length(s.dimension, s.level)
    if logsigs.shape[-1] != n:
        raise _fail(f"data has length {logsigs.shape[-1]} but log signatures should have length {n}")
    return logsigs


def logsigtosig(X: Any, s: _Prepared) -> np.ndarray:
    """The signatures of the paths whose log-signatures are ``X`` (the exponential map).

    Args:
        X: ``(..., logsiglength(d, m))``, coordinates in the prepared basis.
        s: from :func:`prepare` with ``2`` in its methods.

    Returns:
        float64 ``(..., siglength(d, m))``.

    Example::

        >>> from sigrs import iisignature
        >>> s = iisignature.prepare(2, 3, "S2")
        >>> p = np.random.rand(10, 2)
        >>> np.allclose(iisignature.logsigtosig(iisignature.logsig(p, s), s), iisignature.sig(p, 3))
        True
    """
    s = _prepared(s)
    logsigs = _logsigs(X, s)
    return _logsig_to_sig(logsigs, s.dimension, s.level, method=s.method)


def logsigtosigbackprop(y: Any, X: Any, s: _Prepared) -> np.ndarray:
    """The gradient through :func:`logsigtosig`: dF/dX from ``y`` = dF/d(logsigtosig(X, s)).

    Returns:
        float64, shaped like ``X``.

    Example::

        >>> from sigrs import iisignature
        >>> s = iisignature.prepare(2, 3, "S2")
        >>> iisignature.logsigtosigbackprop(np.ones(14), np.zeros(5), s).shape
        (5,)
    """
    s = _prepared(s)
    logsigs = _logsigs(X, s)
    derivs = _floats(y, "derivs")
    _same_ndim(logsigs, "logsigs", derivs, "derivs")
    _last_length(derivs, "derivs", _sig_length(s.dimension, s.level))
    _same_batch(logsigs, "logsigs", derivs, "derivs")
    return _logsig_to_sig_backprop(logsigs, derivs, s.dimension, s.level, method=s.method)


# ---------------------------------------------------------------- rotation invariants


def _as_iisignature_errors(function):
    """``function`` from :mod:`sigrs._rotinv`, raising :class:`IisignatureError`
    where iisignature raises its RuntimeError (bad values, foreign prepared
    objects); a wrongly typed level stays a TypeError, as in iisignature."""

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except ValueError as err:
            raise IisignatureError(str(err)) from None
        except TypeError as err:
            if "prepared" in str(err):
                raise IisignatureError(str(err)) from None
            raise

    return wrapped


rotinv2dprepare = _as_iisignature_errors(_rotinv.rotinv2dprepare)
rotinv2d = _as_iisignature_errors(_rotinv.rotinv2d)
rotinv2dlength = _as_iisignature_errors(_rotinv.rotinv2dlength)
rotinv2dcoeffs = _as_iisignature_errors(_rotinv.rotinv2dcoeffs)
