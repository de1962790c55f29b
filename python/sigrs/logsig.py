"""Log-signatures: the tensor logarithm of the signature, in four forms.

``method`` (pysiglib's numbers, or a name; names are case-insensitive):

* ``0`` / ``"expanded"``: the whole tensor logarithm, shaped like a signature
  (its level-0 entry, when present, is 0);
* ``1`` / ``"words"``: the logarithm's coefficients at the Lyndon words
  (signatory's ``"words"``);
* ``2`` / ``"lyndon"`` (also ``"brackets"``): coordinates in the Lyndon basis
  of standard bracketings (iisignature's ``"S"``, signatory's ``"brackets"``);
* ``"hall"``: coordinates in the Hall basis, in iisignature's order and
  bracketing (iisignature's ``"H"``; the brackets are :func:`hall_basis`).
  It has no number: pysiglib owns the integers, and the integer sigrs uses
  for it internally is rejected as a public ``method``;
* ``3`` (only in :func:`log_sig`, :func:`log_sig_length` and
  :func:`prepare_log_sig`, as in pysiglib): method 2's numbers. pysiglib
  computes them with a Baker-Campbell-Hausdorff algorithm along the path;
  sigrs computes them through the signature, exactly as method 2, which
  measured faster than pysiglib's BCH. Like pysiglib, :func:`sig_to_log_sig`
  and :func:`logsig_to_sig` raise ``ValueError`` for it.

Lengths come from Witt's formula, never from tables. The tables a method
needs are built in the Rust core on first use and cached per
``(dimension, degree)``: method 1 needs only where the Lyndon words sit in the
signature (no brackets); method 2 the Lyndon basis; ``"hall"`` the Hall basis.
A table that does not fit in memory raises ``MemoryError`` naming it and its
size. The caches are thread-safe, fork-safe (a forked child starts its own)
and bounded (a few tables, about 1 GB, least recently used evicted first);
:func:`prepare_log_sig` only warms them.
"""

from __future__ import annotations

import operator
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import _native
from ._arrays import checked, checked_like, empty_output, is_torch
from ._checks import check_bool, check_degree, check_int, check_n_jobs, check_word
from ._op_registry import BUILT, register
from ._options import LogSigOptions, make
from ._shapes import aug_dim, infer_scalar_term
from .signature import sig as _sig
from .words import refuse_huge_list

BCH = 3
"""pysiglib's method 3 (its BCH algorithm for method 2's numbers)."""
HALL = 4
"""The native layer's code for the Hall basis. Internal: a public ``method=4``
is rejected (pysiglib owns the integers); users write ``method="hall"``."""

_METHOD_NAMES = {"expanded": 0, "words": 1, "lyndon": 2, "brackets": 2, "hall": HALL}
#: The methods the quick path of log_sig takes as given (exact ints and
#: names; bools and other spellings go through check_method).
_QUICK_METHODS = {0: 0, 1: 1, 2: 2, 3: 2, **_METHOD_NAMES}
_ACCEPTED = '0 / "expanded", 1 / "words", 2 / "lyndon" (or "brackets"), "hall"'


def check_method(method: Any, *, bch: bool = False) -> int:
    """The internal method code of ``method``: 0, 1, 2, or ``HALL`` for "hall".

    With ``bch=True`` (log_sig, log_sig_length, prepare_log_sig) pysiglib's
    method 3 is accepted too and read as 2, whose numbers it gives; elsewhere
    it is a ValueError, as in pysiglib. Anything else is a ValueError (a
    wrong value) or a TypeError (neither an int nor a str), naming
    ``method``, what is accepted and what was given."""
    accepted = _ACCEPTED + (", 3 (pysiglib's BCH method: method 2's numbers)" if bch else "")
    if isinstance(method, str):
        code = _METHOD_NAMES.get(method.lower())
        if code is None:
            raise ValueError(f"method must be one of {accepted}, got {method!r}")
        return code
    try:
        if isinstance(method, bool):
            raise TypeError
        method = operator.index(method)
    except TypeError:
        raise TypeError(f"method must be an int or a str ({accepted}), got {type(method).__name__} {method!r}") from None
    if method in (0, 1, 2):
        return method
    if method == BCH:
        if bch:
            return 2
        raise ValueError(
            "method=3 (pysiglib's BCH method) is not supported here, as in pysiglib: it computes log-signatures "
            "of paths only; use log_sig(path, degree, method=3), or method=2 here, which gives the same numbers")
    hint = ' (the Hall basis is method="hall"; it has no public number)' if method == HALL else ""
    raise ValueError(f"method must be one of {accepted}, got {method}{hint}")


def _dimension(dimension: Any, time_aug: Any, lead_lag: Any) -> int:
    """The checked dimension after the transforms."""
    return aug_dim(check_int(dimension, "dimension", minimum=0), check_bool(time_aug, "time_aug"), check_bool(lead_lag, "lead_lag"))


def log_sig_length(
    dimension: int, degree: int, *, time_aug: bool = False, lead_lag: bool = False, method: Any = 1
) -> int:
    """Length of a log-signature: the number of Lyndon words of length ``1..degree``
    (Witt's formula), or the signature's length for ``method=0``.

    The Hall basis (``method="hall"``) has as many elements as there are
    Lyndon words. ``method=3`` (pysiglib's BCH) counts as method 2. Pure
    arithmetic: no table is built; ``OverflowError`` when the length does
    not fit in 64 bits.

    Example::

        >>> sigrs.log_sig_length(2, 3)
        5
        >>> sigrs.log_sig_length(2, 3, method="expanded")
        14
        >>> sigrs.log_sig_length(2, 3, method="hall")
        5
    """
    return _native.log_sig_length(_dimension(dimension, time_aug, lead_lag), check_degree(degree), check_method(method, bch=True), False)


def lyndon_words(alphabet_size: int, max_length: int) -> list[tuple[int, ...]]:
    """The Lyndon words over ``0..alphabet_size-1`` of length ``1..max_length``, by length, then lexicographically.

    Example::

        >>> sigrs.lyndon_words(2, 3)
        [(0,), (1,), (0, 1), (0, 0, 1), (0, 1, 1)]
    """
    alphabet_size = check_int(alphabet_size, "alphabet_size", minimum=0)
    max_length = check_int(max_length, "max_length", minimum=0)
    _refuse_huge_lyndon_list(f"lyndon_words({alphabet_size}, {max_length})", "max_length", alphabet_size, max_length)
    return _native.lyndon_words(alphabet_size, max_length)


def _refuse_huge_lyndon_list(call: str, argument: str, dimension: int, degree: int) -> None:
    """Raises before Lyndon words are listed that cannot be: their count is
    Witt's formula (``OverflowError`` when it does not fit in 64 bits), each
    word a tuple of at most ``degree`` letters, made from as many in Rust."""
    count = _native.log_sig_length(dimension, degree, 1, False)
    refuse_huge_list(call, argument, count, count * (64 + 16 * min(degree, 64)))


def lyndon_words_of_length(alphabet_size: int, length: int) -> list[tuple[int, ...]]:
    """The Lyndon words of exactly ``length`` letters over ``0..alphabet_size-1``, lexicographically.

    Example::

        >>> sigrs.lyndon_words_of_length(2, 3)
        [(0, 0, 1), (0, 1, 1)]
    """
    alphabet_size = check_int(alphabet_size, "alphabet_size", minimum=0)
    length = check_int(length, "length", minimum=0)
    _refuse_huge_lyndon_list(f"lyndon_words_of_length({alphabet_size}, {length})", "length", alphabet_size, length)
    return [w for w in _native.lyndon_words(alphabet_size, length) if len(w) == length]


def is_lyndon(word: Any) -> bool:
    """Whether ``word`` (a tuple or list of letters) is a Lyndon word: non-empty
    and strictly smaller than each of its proper rotations.

    Example::

        >>> sigrs.is_lyndon((0, 0, 1)), sigrs.is_lyndon((0, 1, 0))
        (True, False)
    """
    return _native.is_lyndon(list(check_word(word, "word")))


def lyndon_brackets(dimension: int, degree: int) -> list:
    """The Lyndon basis over ``0..dimension-1`` up to length ``degree``: the standard
    bracketing of each Lyndon word of :func:`lyndon_words`, in that order (the
    brackets whose coordinates ``method=2`` gives).

    A letter is an int; a word ``w = uv``, split at its longest proper Lyndon
    suffix ``v``, is the pair ``(bracket(u), bracket(v))``, as in :func:`hall_basis`.

    Example::

        >>> sigrs.lyndon_brackets(2, 3)
        [0, 1, (0, 1), (0, (0, 1)), ((0, 1), 1)]
    """
    factors = _native.lyndon_brackets(check_int(dimension, "dimension", minimum=0), check_degree(degree))
    out: list = []
    for i, pair in enumerate(factors):
        out.append(i if pair is None else (out[pair[0]], out[pair[1]]))
    return out


def lyndon_expansion_coefficients(dimension: int, degree: int) -> list[tuple[int, int, int]]:
    """How the Lyndon words appear in the expanded Lyndon brackets: ``(w, u, c)``
    when Lyndon word ``u`` has the (integer) coefficient ``c != 0`` in the
    expansion of the bracket of ``w`` (positions in :func:`lyndon_words`; always
    ``u > w`` and the same length, while each bracket has coefficient 1 at its
    own word). Ordered by ``u``, then ``w``.

    This unitriangular matrix turns Lyndon-word coefficients of a Lie element
    (``method=1``) into its Lyndon-basis coordinates (``method=2``).

    Example::

        >>> sigrs.logsig.lyndon_expansion_coefficients(2, 5)  # 01011 is in [[0,1],[0,1,1]] with -2, ...
        [(9, 10, -2), (11, 12, -3)]
    """
    return [
        tuple(t) for t in _native.lyndon_triangle(check_int(dimension, "dimension", minimum=0), check_degree(degree))
    ]


def hall_basis(dimension: int, degree: int) -> list:
    """The Hall basis over ``0..dimension-1`` up to length ``degree``: the brackets
    whose coordinates ``method="hall"`` gives, in that order (iisignature's "H").

    A letter is an int, a bracket ``[u, v]`` the pair ``(u, v)``. iisignature
    writes the same brackets with letters from 1 and square brackets:
    ``(0, (0, 1))`` is its ``"[1,[1,2]]"``.

    Returns:
        A list of ``log_sig_length(dimension, degree)`` brackets, by length.

    Example::

        >>> sigrs.hall_basis(2, 4)
        [0, 1, (0, 1), (0, (0, 1)), (1, (0, 1)), (0, (0, (0, 1))), (1, (0, (0, 1))), (1, (1, (0, 1)))]
    """
    trees = _native.hall_basis(check_int(dimension, "dimension", minimum=0), check_degree(degree))
    out: list = []
    for i, pair in enumerate(trees):
        out.append(i if pair is None else (out[pair[0]], out[pair[1]]))
    return out


_DEVICES = ("cpu", "cuda", "both")
# set_cache_dir's directory: kept for pysiglib programs that read it back
# through their own code; sigrs itself writes nothing to disk.
_cache_dir: Any = None


def _check_cache_device(device: Any) -> None:
    if not isinstance(device, str) or device not in _DEVICES:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'both', got {device!r}")


def prepare_log_sig(
    dimension: int,
    degree: int,
    method: Any = 1,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    use_disk: bool = False,
    device: str = "both",
) -> None:
    """Builds the tables :func:`log_sig` needs for ``method`` and
    ``(dimension, degree)`` now rather than on first use (optional: pysiglib
    requires this call, sigrs does not): none for method 0, the Lyndon words'
    positions for 1, the Lyndon basis for 2 (and pysiglib's 3), the Hall basis
    for ``"hall"``. ``MemoryError`` when they do not fit.

    ``use_disk`` and ``device`` are pysiglib's and are checked as it checks
    them, but change nothing: sigrs keeps its tables in memory only (they
    build 2-3x faster than pysiglib's, e.g. 7 ms for dimension 8, degree 5,
    so a disk cache would save little), and the CPU and GPU share them.

    Example::

        >>> sigrs.prepare_log_sig(5, 3, 2, use_disk=True)
    """
    d = _dimension(dimension, time_aug, lead_lag)
    degree, method = check_degree(degree), check_method(method, bch=True)
    check_bool(use_disk, "use_disk")
    _check_cache_device(device)
    # An empty batch runs the method's plan, which builds exactly its tables.
    n = _native.log_sig_length(d, degree, method, False)
    sig = np.empty((0, _native.sig_length(d, degree, False)))
    _native.sig_to_log_sig(sig, np.empty((0, n)), make(LogSigOptions, d, degree, method, False, 1))


def set_cache_dir(dir: str) -> None:
    """pysiglib's directory for ``prepare_log_sig(..., use_disk=True)``: checked
    (an existing directory, else ``ValueError``) and remembered, but sigrs
    never writes there: its tables live in memory (see :func:`prepare_log_sig`).

    Example::

        >>> import tempfile
        >>> sigrs.set_cache_dir(tempfile.gettempdir())
    """
    global _cache_dir
    import os

    if not isinstance(dir, str):
        raise TypeError(f"dir must be of type str, got {type(dir).__name__}")
    if not os.path.exists(dir):
        raise ValueError(f"dir must be an existing directory; path does not exist: {dir}")
    if not os.path.isdir(dir):
        raise ValueError(f"dir must be an existing directory; path is not a directory: {dir}")
    _cache_dir = dir


def clear_cache(*, use_disk: bool = False, device: str = "both") -> None:
    """Frees the Lyndon and Hall tables cached in memory by :func:`prepare_log_sig`
    and the log-signature functions; they are rebuilt when next needed.
    ``use_disk`` and ``device`` as in pysiglib (sigrs has no disk cache, and
    one cache serves both devices).

    Example::

        >>> sigrs.clear_cache()
    """
    check_bool(use_disk, "use_disk")
    _check_cache_device(device)
    _native.clear_basis_caches()


def sig_to_log_sig(
    sig: Any,
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    method: Any = 1,
    n_jobs: int = -1,
) -> Any:
    """Log-signature from a signature: the tensor logarithm, written in the form ``method`` says.

    Args:
        sig: ``(..., sig_len)``, with or without the scalar term (taken to be 1).
        dimension, degree: of the path behind the signature.
        time_aug, lead_lag: whether the signature was taken with them.
        method: 0 / "expanded", 1 / "words", 2 / "lyndon", "hall" (see the
            module); pysiglib's 3 is a ValueError here, as in pysiglib.
        n_jobs: threads.

    Returns:
        ``(..., log_sig_length(...))``; for method 0 the layout of ``sig``.
        Differentiable through torch autograd.

    Example::

        >>> s = sigrs.sig(np.random.rand(20, 2), 3)
        >>> sigrs.sig_to_log_sig(s, 2, 3, method=2).shape
        (5,)
        >>> sigrs.sig_to_log_sig(s, 2, 3, method="hall").shape
        (5,)
    """
    d = _dimension(dimension, time_aug, lead_lag)
    return _sig_to_log_sig_checked(sig, d, check_degree(degree), check_method(method), check_n_jobs(n_jobs))


def _sig_to_log_sig_checked(sig: Any, d: int, degree: int, method: int, n_jobs: int) -> Any:
    """:func:`sig_to_log_sig` after its arguments but ``sig`` are checked:
    ``d`` the augmented dimension, ``method`` an internal code."""
    sig, opts = _sig_and_options(sig, d, degree, method, n_jobs)
    if is_torch(sig):
        return _ops().sig_to_log_sig(sig, opts)
    return _sig_to_log_sig_cpu(sig, opts)


def _sig_and_options(sig: Any, d: int, degree: int, method: int, n_jobs: int) -> tuple:
    """The checked signature and the options, whose scalar term its length says."""
    sig = checked(sig, "sig", 1)
    return sig, make(LogSigOptions, d, degree, method, infer_scalar_term(tuple(sig.shape), d, degree, "sig"), n_jobs)


def sig_to_log_sig_backprop(
    sig: Any,
    log_sig_derivs: Any,
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    method: Any = 1,
    n_jobs: int = -1,
) -> Any:
    """Gradient through :func:`sig_to_log_sig`: dF/d(sig) from ``log_sig_derivs`` = dF/d(log-signature).

    Args:
        sig: ``(..., sig_len)``, as given to :func:`sig_to_log_sig`.
        log_sig_derivs: ``(..., log_sig_length)``, the shape of its output.
        dimension, degree, time_aug, lead_lag, method, n_jobs: as there.

    Returns:
        ``(..., sig_len)``, the shape of ``sig`` (its level-0 entry, if
        present, gets 0).

    Example::

        >>> s = sigrs.sig(np.random.rand(20, 2), 3)
        >>> sigrs.sig_to_log_sig_backprop(s, np.ones(5), 2, 3).shape
        (14,)
        >>> sigrs.sig_to_log_sig_backprop(s, np.ones(5), 2, 3, method="hall").shape
        (14,)
    """
    d = _dimension(dimension, time_aug, lead_lag)
    sig, opts = _sig_and_options(sig, d, check_degree(degree), check_method(method), check_n_jobs(n_jobs))
    derivs = checked_like(log_sig_derivs, "log_sig_derivs", 1, sig, "sig")
    expected = tuple(sig.shape[:-1]) + (_native.log_sig_length(d, opts.degree, opts.method, opts.scalar_term),)
    if tuple(derivs.shape) != expected:
        raise ValueError(f"log_sig_derivs must have shape {expected} (that of the log-signature), got {tuple(derivs.shape)}")
    if is_torch(sig):
        return _ops().sig_to_log_sig_backprop(sig, derivs, opts)
    return _sig_to_log_sig_backprop_cpu(sig, derivs, opts)


def log_sig(
    path: Any,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    method: Any = 1,
    scalar_term: bool = False,
    correction: Any = None,
    n_jobs: int = -1,
) -> Any:
    """Log-signature of a path or a batch of paths: :func:`sigrs.sig`, then :func:`sig_to_log_sig`.

    Args:
        path: ``(..., length, dim)``.
        degree, time_aug, lead_lag, end_time, n_jobs: as in :func:`sigrs.sig`.
        method: 0 / "expanded", 1 / "words" (the default, as pysiglib),
            2 / "lyndon", "hall" (the Hall basis, iisignature's "H"), or 3
            (pysiglib's BCH method: method 2's numbers, which sigrs computes
            through the signature exactly as for method 2; that measured
            faster than pysiglib's BCH, and no preparation call is needed).
        scalar_term: with method 0, keep the (zero) level-0 entry.
        correction: a per-segment lift of levels 2 and up, as in
            :func:`sigrs.sig` (same shapes, same restrictions). A correction
            that is not Lie-valued (an Ito term, say) leaves the signature
            outside the group, and only method 0 keeps all of its logarithm.
            Unlike pysiglib, method 3 accepts it (it is method 2 here).

    Returns:
        ``(..., log_sig_length(dim, degree, method=method))``; differentiable
        (with respect to the correction too).

    Example::

        >>> x = np.random.rand(32, 100, 3)
        >>> sigrs.log_sig(x, 4, method="lyndon").shape
        (32, 32)
        >>> sigrs.log_sig(x, 4, method="hall").shape
        (32, 32)
    """
    if correction is None and type(path) is np.ndarray and (scalar_term is False or scalar_term is True) and (type(method) is int or type(method) is str):
        # Small calls with plain arguments: the signature's quick path, then
        # the conversion (None from the quick path: the checks below decide).
        code = _QUICK_METHODS.get(method)
        if code is not None:
            keep_scalar = scalar_term and code == 0
            s = _native.sig_quick(path, degree, time_aug, lead_lag, end_time, keep_scalar, False, False, n_jobs)
            if s is not None:
                return _sig_to_log_sig_cpu(s, make(LogSigOptions, aug_dim(path.shape[-1], time_aug, lead_lag), degree, code, keep_scalar, n_jobs))
    method = check_method(method, bch=True)
    scalar_term = check_bool(scalar_term, "scalar_term")
    s = _sig(path, degree, time_aug=time_aug, lead_lag=lead_lag, end_time=end_time, scalar_term=scalar_term and method == 0,
             correction=correction, n_jobs=n_jobs)
    dimension = path.shape[-1] if hasattr(path, "shape") else np.asarray(path).shape[-1]
    # sig checked dimension, degree, the flags and n_jobs.
    return _sig_to_log_sig_checked(s, aug_dim(dimension, time_aug, lead_lag), check_degree(degree), method, check_n_jobs(n_jobs))


def _log_sig_and_options(log_sig: Any, dimension: Any, degree: Any, time_aug: Any, lead_lag: Any, method: Any,
                         scalar_term: Any, n_jobs: Any) -> tuple:
    """The checked log-signature and the options of :func:`logsig_to_sig`:
    method 0 takes its layout from the input's length."""
    d = _dimension(dimension, time_aug, lead_lag)
    degree, method = check_degree(degree), check_method(method)
    scalar_term, n_jobs = check_bool(scalar_term, "scalar_term"), check_n_jobs(n_jobs)
    log_sig = checked(log_sig, "log_sig", 1)
    if method == 0:
        scalar_term = infer_scalar_term(tuple(log_sig.shape), d, degree, "log_sig")
    else:
        n = _native.log_sig_length(d, degree, method, False)
        if log_sig.shape[-1] != n:
            name = "hall" if method == HALL else method
            raise ValueError(
                f"log_sig has shape {tuple(log_sig.shape)}, but a method={name!r} log-signature of dimension {d} "
                f"and degree {degree} has length {n} in its last axis"
            )
    return log_sig, make(LogSigOptions, d, degree, method, scalar_term, n_jobs)


def logsig_to_sig(
    log_sig: Any,
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    method: Any = 1,
    scalar_term: bool = False,
    n_jobs: int = -1,
) -> Any:
    """Signature from a log-signature: ``exp`` of the Lie element it describes (inverse of :func:`sig_to_log_sig`).

    Args:
        log_sig: ``(..., log_sig_length)`` in the form ``method`` says; for
            method 0 a signature-shaped tensor log (with or without the
            scalar term, which sets the output's layout).
        dimension, degree, time_aug, lead_lag: of the signature.
        method: 0 / "expanded", 1 / "words", 2 / "lyndon", "hall"; pysiglib's
            3 is a ValueError here, as in pysiglib.
        scalar_term: for methods 1, 2 and "hall", prepend the level-0 term 1.
        n_jobs: threads.

    Returns:
        ``(..., sig_length)``. Differentiable through torch autograd.

    Example::

        >>> x = np.random.rand(30, 2)
        >>> ls = sigrs.log_sig(x, 4, method=2)
        >>> np.allclose(sigrs.logsig_to_sig(ls, 2, 4, method=2), sigrs.sig(x, 4))
        True
        >>> lh = sigrs.log_sig(x, 4, method="hall")
        >>> np.allclose(sigrs.logsig_to_sig(lh, 2, 4, method="hall"), sigrs.sig(x, 4))
        True
    """
    log_sig, opts = _log_sig_and_options(log_sig, dimension, degree, time_aug, lead_lag, method, scalar_term, n_jobs)
    if is_torch(log_sig):
        return _ops().logsig_to_sig(log_sig, opts)
    return _logsig_to_sig_cpu(log_sig, opts)


def logsig_to_sig_backprop(
    log_sig: Any,
    sig_derivs: Any,
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    method: Any = 1,
    scalar_term: bool = False,
    n_jobs: int = -1,
) -> Any:
    """Gradient through :func:`logsig_to_sig`: dF/d(log_sig) from ``sig_derivs`` = dF/d(signature).

    Args:
        log_sig: ``(..., log_sig_length)``, as given to :func:`logsig_to_sig`.
        sig_derivs: ``(..., sig_length)``, the shape of its output.
        dimension, degree, time_aug, lead_lag, method, scalar_term, n_jobs: as there.

    Returns:
        ``(..., log_sig_length)``, the shape of ``log_sig``.

    Example::

        >>> ls = sigrs.log_sig(np.random.rand(30, 2), 3)
        >>> sigrs.logsig_to_sig_backprop(ls, np.ones(14), 2, 3).shape
        (5,)
    """
    log_sig, opts = _log_sig_and_options(log_sig, dimension, degree, time_aug, lead_lag, method, scalar_term, n_jobs)
    derivs = checked_like(sig_derivs, "sig_derivs", 1, log_sig, "log_sig")
    expected = tuple(log_sig.shape[:-1]) + (_native.sig_length(opts.dimension, opts.degree, opts.scalar_term),)
    if tuple(derivs.shape) != expected:
        raise ValueError(f"sig_derivs must have shape {expected} (that of the signature), got {tuple(derivs.shape)}")
    if is_torch(log_sig):
        return _ops().logsig_to_sig_backprop(log_sig, derivs, opts)
    return _logsig_to_sig_backprop_cpu(log_sig, derivs, opts)


# --- CPU ---------------------------------------------------------------------------


def _sig_to_log_sig_cpu(sig: np.ndarray, o: LogSigOptions) -> np.ndarray:
    n = _native.log_sig_length(o.dimension, o.degree, o.method, o.scalar_term)
    out = empty_output((*sig.shape[:-1], n), sig.dtype)
    _native.sig_to_log_sig(sig, out, o)
    return out


def _sig_to_log_sig_backprop_cpu(sig: np.ndarray, derivs: np.ndarray, o: LogSigOptions) -> np.ndarray:
    out = empty_output(sig.shape, sig.dtype)
    _native.sig_to_log_sig_backprop(sig, derivs, out, o)
    return out


def _logsig_to_sig_cpu(log_sig: np.ndarray, o: LogSigOptions) -> np.ndarray:
    out = empty_output((*log_sig.shape[:-1], _native.sig_length(o.dimension, o.degree, o.scalar_term)), log_sig.dtype)
    _native.logsig_to_sig(log_sig, out, o)
    return out


def _logsig_to_sig_backprop_cpu(log_sig: np.ndarray, derivs: np.ndarray, o: LogSigOptions) -> np.ndarray:
    out = empty_output(log_sig.shape, log_sig.dtype)
    _native.logsig_to_sig_backprop(log_sig, derivs, out, o)
    return out


# --- torch ops (CPU tensors: no GPU kernels yet) -------------------------------------


def _to_log_fake(sig: Any, o: LogSigOptions) -> Any:
    # The Lyndon count is a plain integer of (d, degree): computing it here is shape logic.
    return sig.new_empty((*sig.shape[:-1], _native.log_sig_length(o.dimension, o.degree, o.method, o.scalar_term)))


def _to_log_backward(saved: tuple, grad: Any, o: LogSigOptions, needs: tuple) -> tuple:
    (sig,) = saved
    return (_ops().sig_to_log_sig_backprop(sig, grad, o),)


def _from_log_fake(log_sig: Any, o: LogSigOptions) -> Any:
    return log_sig.new_empty((*log_sig.shape[:-1], _native.sig_length(o.dimension, o.degree, o.scalar_term)))


def _from_log_backward(saved: tuple, grad: Any, o: LogSigOptions, needs: tuple) -> tuple:
    (log_sig,) = saved
    return (_ops().logsig_to_sig_backprop(log_sig, grad, o),)


def _like_first(first: Any, *rest: Any) -> Any:
    return first.new_empty(first.shape)


def _ops() -> SimpleNamespace:
    """This family's torch ops, built once torch is in use (see :mod:`sigrs._op_registry`)."""
    import sigrs._torch_ops  # noqa: F401  (its first import builds them)

    return BUILT[__name__]


def _define_ops() -> SimpleNamespace:
    from ._torch_ops import define

    def op(name: str, inputs: tuple, cpu: Any, fake: Any, **kw: Any) -> Any:
        return define(name, inputs=inputs, options=LogSigOptions, cpu=cpu, fake=fake, **kw)

    return SimpleNamespace(
        sig_to_log_sig=op("sig_to_log_sig", ("sig",), _sig_to_log_sig_cpu, _to_log_fake, backward=_to_log_backward),
        sig_to_log_sig_backprop=op("sig_to_log_sig_backprop", ("sig", "derivs"), _sig_to_log_sig_backprop_cpu, _like_first),
        logsig_to_sig=op("logsig_to_sig", ("log_sig",), _logsig_to_sig_cpu, _from_log_fake, backward=_from_log_backward),
        logsig_to_sig_backprop=op("logsig_to_sig_backprop", ("log_sig", "derivs"), _logsig_to_sig_backprop_cpu, _like_first),
    )


register(__name__, _define_ops)


# --- products of log-signatures (pysiglib's log_sig_combine, log_sig_join, linear_log_sig) ---
#
# The Baker-Campbell-Hausdorff product in the Lyndon basis (method 2, which
# is also pysiglib's method 3): the core computes log(exp(a) (x) exp(b)) in
# one worker's buffers (sig_core::logsig_algebra); nothing below computes.


def _lyndon_inputs(named: list, d: int, degree: int) -> tuple:
    """Checks ``(name, value)`` log-signatures (and the like-shaped
    gradients): all NumPy or all torch, one dtype and device, the first's
    shape, and ``log_sig_length(d, degree)`` numbers in the last axis. Like
    pysiglib, one more number there is a leading scalar entry, dropped.
    Returns the arrays and that length."""
    n = _native.log_sig_length(d, degree, 2, False)
    first_name, first = named[0]
    first = checked(first, first_name, 1)
    out = []
    for name, x in named:
        x = first if not out else checked_like(x, name, 1, first, first_name)
        if x.shape[-1] == n + 1:
            x = x[..., 1:] if is_torch(x) else np.ascontiguousarray(x[..., 1:])
        elif x.shape[-1] != n:
            raise ValueError(
                f"{name} has shape {tuple(x.shape)}, but a log-signature (Lyndon basis) of dimension {d} and "
                f"degree {degree} has {n} numbers in its last axis"
            )
        if out and tuple(x.shape[:-1]) != tuple(out[0].shape[:-1]):
            raise ValueError(
                f"{name} has batch shape {tuple(x.shape[:-1])}, but {first_name} has {tuple(out[0].shape[:-1])}; "
                "they must be the same"
            )
        out.append(x)
    return out, n


def _displacement_like(displacement: Any, ref: Any, ref_name: str, d: int) -> Any:
    """The displacement ``(*batch of ref, d)``, of ref's kind."""
    displacement = checked_like(displacement, "displacement", 1, ref, ref_name)
    expected = tuple(ref.shape[:-1]) + (d,)
    if tuple(displacement.shape) != expected:
        raise ValueError(
            f"displacement must have shape {expected} (the batch axes of {ref_name}, then the dimension {d}), "
            f"got {tuple(displacement.shape)}"
        )
    return displacement


def _lyndon_options(d: int, degree: int, n_jobs: Any) -> LogSigOptions:
    return make(LogSigOptions, d, degree, 2, False, check_n_jobs(n_jobs))


def log_sig_combine(
    log_sig1: Any,
    log_sig2: Any,
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    n_jobs: int = -1,
) -> Any:
    """The log-signature of path 1 followed by path 2 from theirs: the truncated
    Baker-Campbell-Hausdorff product ``BCH(L1, L2) = log(exp(L1) (x) exp(L2))``.

    Log-signatures are in the Lyndon basis (``method=2`` or pysiglib's 3), as
    in pysiglib; no preparation call is needed.

    Args:
        log_sig1, log_sig2: ``(..., log_sig_length(dimension, degree))``, the
            same shape (a leading extra number is ignored, as in pysiglib).
        dimension, degree: of the paths behind them.
        time_aug, lead_lag: whether the log-signatures were taken with these
            transforms (they change the dimension).
        n_jobs: threads, as in :func:`sigrs.sig`.

    Returns:
        ``(..., log_sig_length)``; differentiable through torch autograd.

    Example::

        >>> x = np.random.rand(20, 3)
        >>> ls = sigrs.log_sig_combine(sigrs.log_sig(x[:10], 4, method=2), sigrs.log_sig(x[9:], 4, method=2), 3, 4)
        >>> bool(np.allclose(ls, sigrs.log_sig(x, 4, method=2)))
        True
    """
    d, degree = _dimension(dimension, time_aug, lead_lag), check_degree(degree)
    opts = _lyndon_options(d, degree, n_jobs)
    (a, b), _ = _lyndon_inputs([("log_sig1", log_sig1), ("log_sig2", log_sig2)], d, degree)
    if is_torch(a):
        return _bch_ops().log_sig_combine(a, b, opts)
    return _log_sig_combine_cpu(a, b, opts)


def log_sig_combine_backprop(
    deriv: Any,
    ls1: Any,
    ls2: Any,
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    n_jobs: int = -1,
) -> tuple:
    """Gradient through :func:`log_sig_combine`: ``(dF/d ls1, dF/d ls2)`` from
    ``deriv`` = dF/d(combined log-signature); each ``(..., log_sig_length)``.

    Example::

        >>> ls1, ls2 = sigrs.log_sig(np.random.rand(2, 5, 2), 3, method=2)
        >>> g1, g2 = sigrs.log_sig_combine_backprop(np.ones(5), ls1, ls2, 2, 3)
        >>> g1.shape, g2.shape
        ((5,), (5,))
    """
    d, degree = _dimension(dimension, time_aug, lead_lag), check_degree(degree)
    opts = _lyndon_options(d, degree, n_jobs)
    (a, b, g), _ = _lyndon_inputs([("ls1", ls1), ("ls2", ls2), ("deriv", deriv)], d, degree)
    if is_torch(a):
        return _bch_ops().log_sig_combine_backprop(g, a, b, opts)
    return _log_sig_combine_backprop_cpu(g, a, b, opts)


def log_sig_join(log_sig: Any, displacement: Any, dimension: int, degree: int, *, n_jobs: int = -1) -> Any:
    """A log-signature extended by one straight segment ``v``: ``BCH(L, v) = log(exp(L) (x) exp(v))``.

    Cheaper than :func:`log_sig_combine` with :func:`linear_log_sig` (the
    segment's exponential is applied in place, as :func:`sigrs.sig_join` does).

    Args:
        log_sig: ``(..., log_sig_length(dimension, degree))``, Lyndon basis.
        displacement: ``(..., dimension)``, the same batch axes.
        dimension, degree: of the log-signature.
        n_jobs: threads.

    Returns:
        ``(..., log_sig_length)``; differentiable through torch autograd.

    Example::

        >>> x = np.random.rand(10, 3)
        >>> ls = sigrs.log_sig_join(sigrs.log_sig(x[:-1], 3, method=2), x[-1] - x[-2], 3, 3)
        >>> bool(np.allclose(ls, sigrs.log_sig(x, 3, method=2)))
        True
    """
    d, degree = check_int(dimension, "dimension", minimum=0), check_degree(degree)
    opts = _lyndon_options(d, degree, n_jobs)
    (ls,), _ = _lyndon_inputs([("log_sig", log_sig)], d, degree)
    v = _displacement_like(displacement, ls, "log_sig", d)
    if is_torch(ls):
        return _bch_ops().log_sig_join(ls, v, opts)
    return _log_sig_join_cpu(ls, v, opts)


def log_sig_join_backprop(
    d_out: Any, log_sig: Any, displacement: Any, dimension: int, degree: int, *, n_jobs: int = -1
) -> tuple:
    """Gradient through :func:`log_sig_join`: ``(dF/d log_sig, dF/d displacement)``
    from ``d_out`` = dF/d(joined log-signature).

    Example::

        >>> ls, v = sigrs.log_sig(np.random.rand(5, 2), 3, method=2), np.random.rand(2)
        >>> g_ls, g_v = sigrs.log_sig_join_backprop(np.ones(5), ls, v, 2, 3)
        >>> g_ls.shape, g_v.shape
        ((5,), (2,))
    """
    d, degree = check_int(dimension, "dimension", minimum=0), check_degree(degree)
    opts = _lyndon_options(d, degree, n_jobs)
    (ls, g), _ = _lyndon_inputs([("log_sig", log_sig), ("d_out", d_out)], d, degree)
    v = _displacement_like(displacement, ls, "log_sig", d)
    if is_torch(ls):
        return _bch_ops().log_sig_join_backprop(g, ls, v, opts)
    return _log_sig_join_backprop_cpu(g, ls, v, opts)


def _linear_layout(dimension: Any, degree: Any, method: Any, scalar_term: Any, n_jobs: Any) -> tuple:
    """``(d, length, offset, width)`` of :func:`linear_log_sig`'s output: the
    displacement sits at ``offset .. offset + width`` of ``length`` numbers."""
    d, degree = check_int(dimension, "dimension", minimum=0), check_degree(degree)
    method = check_method(method, bch=True)
    scalar_term = check_bool(scalar_term, "scalar_term")
    check_n_jobs(n_jobs)
    keep_scalar = scalar_term and method == 0
    length = _native.log_sig_length(d, degree, method, keep_scalar)
    return d, length, int(keep_scalar), d if degree > 0 else 0


def _checked_displacement(displacement: Any, d: int) -> Any:
    displacement = checked(displacement, "displacement", 1)
    if displacement.shape[-1] != d:
        raise ValueError(f"displacement must have shape (..., {d}) for dimension {d}, got {tuple(displacement.shape)}")
    return displacement


def linear_log_sig(
    displacement: Any, dimension: int, degree: int, *, method: Any = 1, scalar_term: bool = False, n_jobs: int = -1
) -> Any:
    """Log-signature of the straight segment from 0 to ``displacement``: the
    displacement at level 1, zeros above (a segment's signature is ``exp(v)``).

    Every level-1 basis element is a letter, so this holds in each form.

    Args:
        displacement: ``(..., dimension)``.
        dimension, degree: of the log-signature.
        method: as in :func:`log_sig` (0, 1, 2, 3, or a name such as "hall").
        scalar_term: with method 0, a leading (zero) level-0 entry.
        n_jobs: accepted for pysiglib's signature (nothing here is threaded).

    Returns:
        ``(..., log_sig_length(dimension, degree, method=method))``, of the
        displacement's kind and dtype; differentiable through torch autograd.

    Example::

        >>> sigrs.linear_log_sig(np.array([1.0, 2.0]), 2, 3)
        array([1., 2., 0., 0., 0.])
        >>> bool(np.allclose(sigrs.linear_log_sig(np.array([1.0, 2.0]), 2, 3, method=0),
        ...                  sigrs.log_sig(np.array([[0.0, 0.0], [1.0, 2.0]]), 3, method=0)))
        True
    """
    d, length, offset, width = _linear_layout(dimension, degree, method, scalar_term, n_jobs)
    v = _checked_displacement(displacement, d)
    batch = tuple(v.shape[:-1])
    if is_torch(v):
        import torch

        before = v.new_zeros((*batch, offset))
        after = v.new_zeros((*batch, length - offset - width))
        return torch.cat([before, v[..., :width], after], dim=-1)
    out = np.zeros((*batch, length), dtype=v.dtype)
    out[..., offset:offset + width] = v[..., :width]
    return out


def linear_log_sig_backprop(
    derivs: Any, displacement: Any, dimension: int, degree: int, *, method: Any = 1, scalar_term: bool = False,
    n_jobs: int = -1,
) -> Any:
    """Gradient through :func:`linear_log_sig`: dF/d(displacement), ``(..., dimension)``,
    from ``derivs`` = dF/d(its output), the output's shape.

    Example::

        >>> sigrs.linear_log_sig_backprop(np.arange(5.0), np.array([1.0, 2.0]), 2, 3)
        array([0., 1.])
    """
    d, length, offset, width = _linear_layout(dimension, degree, method, scalar_term, n_jobs)
    v = _checked_displacement(displacement, d)
    derivs = checked_like(derivs, "derivs", 1, v, "displacement")
    expected = tuple(v.shape[:-1]) + (length,)
    if tuple(derivs.shape) != expected:
        raise ValueError(f"derivs must have the shape of linear_log_sig's output {expected}, got {tuple(derivs.shape)}")
    if width == 0:
        return v.new_zeros(v.shape) if is_torch(v) else np.zeros_like(v)
    part = derivs[..., offset:offset + width]
    return part.clone() if is_torch(part) else part.copy()


def _log_sig_combine_cpu(a: np.ndarray, b: np.ndarray, o: LogSigOptions) -> np.ndarray:
    out = empty_output(a.shape, a.dtype)
    _native.log_sig_combine(a, b, out, o)
    return out


def _log_sig_combine_backprop_cpu(g: np.ndarray, a: np.ndarray, b: np.ndarray, o: LogSigOptions) -> tuple:
    ga, gb = empty_output(a.shape, a.dtype), empty_output(a.shape, a.dtype)
    _native.log_sig_combine_backprop(g, a, b, ga, gb, o)
    return ga, gb


def _log_sig_join_cpu(ls: np.ndarray, v: np.ndarray, o: LogSigOptions) -> np.ndarray:
    out = empty_output(ls.shape, ls.dtype)
    _native.log_sig_join(ls, v, out, o)
    return out


def _log_sig_join_backprop_cpu(g: np.ndarray, ls: np.ndarray, v: np.ndarray, o: LogSigOptions) -> tuple:
    g_ls, g_v = empty_output(ls.shape, ls.dtype), empty_output(v.shape, v.dtype)
    _native.log_sig_join_backprop(g, ls, v, g_ls, g_v, o)
    return g_ls, g_v


def _combine_backward(saved: tuple, grad: Any, o: LogSigOptions, needs: tuple) -> tuple:
    a, b = saved
    return _bch_ops().log_sig_combine_backprop(grad, a, b, o)


def _join_backward(saved: tuple, grad: Any, o: LogSigOptions, needs: tuple) -> tuple:
    ls, v = saved
    return _bch_ops().log_sig_join_backprop(grad, ls, v, o)


_BCH_FAMILY = __name__ + ":bch"
"""The BCH ops register as a family of their own (beside log_sig's), so the
two groups of ops can change independently."""


def _bch_ops() -> SimpleNamespace:
    import sigrs._torch_ops  # noqa: F401  (its first import builds them)

    return BUILT[_BCH_FAMILY]


def _define_bch_ops() -> SimpleNamespace:
    from ._torch_ops import define

    def op(name: str, inputs: tuple, cpu: Any, fake: Any, **kw: Any) -> Any:
        return define(name, inputs=inputs, options=LogSigOptions, cpu=cpu, fake=fake, **kw)

    def like(index: int, *more: int) -> Any:
        def fake(*args: Any) -> Any:
            outs = tuple(args[i].new_empty(args[i].shape) for i in (index, *more))
            return outs[0] if not more else outs

        return fake

    return SimpleNamespace(
        log_sig_combine=op("log_sig_combine", ("log_sig1", "log_sig2"), _log_sig_combine_cpu, like(0), backward=_combine_backward),
        log_sig_combine_backprop=op(
            "log_sig_combine_backprop", ("deriv", "ls1", "ls2"), _log_sig_combine_backprop_cpu, like(1, 1), outputs=2
        ),
        log_sig_join=op("log_sig_join", ("log_sig", "displacement"), _log_sig_join_cpu, like(0), backward=_join_backward),
        log_sig_join_backprop=op(
            "log_sig_join_backprop", ("d_out", "log_sig", "displacement"), _log_sig_join_backprop_cpu, like(1, 2), outputs=2
        ),
    )


register(_BCH_FAMILY, _define_bch_ops)
