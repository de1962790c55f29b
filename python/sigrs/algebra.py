"""Operations on signatures themselves: Chen products, joins, linear
segments, inverses and coefficient extraction.

Every function takes NumPy arrays or torch tensors of signatures shaped
``(..., sig_len)``, with or without the scalar term (inferred from the
length, and kept in the output). The level-0 entry is taken to be 1, as in
pysiglib: outputs have 1 there and gradients 0. Torch inputs are
differentiable through autograd; the ``*_backprop`` functions give the same
gradients explicitly.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import _native
from ._checks import (
    as_array,
    aug_dim,
    check_bool,
    check_degree,
    check_int,
    check_n_jobs,
    check_tensor,
    empty_output,
    infer_scalar_term,
    is_torch,
    native_for,
    same_kind,
    sig_len,
)
from .words import word_to_idx

_SIG_COMBINE = (_native.sig_combine_f64, _native.sig_combine_f32)
_SIG_COMBINE_BACKPROP = (_native.sig_combine_backprop_f64, _native.sig_combine_backprop_f32)
_MULTI_SIG_COMBINE = (_native.multi_sig_combine_f64, _native.multi_sig_combine_f32)
_MULTI_SIG_COMBINE_BACKPROP = (_native.multi_sig_combine_backprop_f64, _native.multi_sig_combine_backprop_f32)
_SIG_JOIN = (_native.sig_join_f64, _native.sig_join_f32)
_SIG_JOIN_BACKPROP = (_native.sig_join_backprop_f64, _native.sig_join_backprop_f32)
_LINEAR_SIG = (_native.linear_sig_f64, _native.linear_sig_f32)
_LINEAR_SIG_BACKPROP = (_native.linear_sig_backprop_f64, _native.linear_sig_backprop_f32)
_SIG_INVERSE = (_native.sig_inverse_f64, _native.sig_inverse_f32)


# --- argument handling ----------------------------------------------------------


def _space(dimension: Any, degree: Any, time_aug: Any = False, lead_lag: Any = False) -> tuple:
    """``(d, degree)``: the checked dimension after transforms, and degree."""
    dimension = check_int(dimension, "dimension", minimum=0)
    degree = check_degree(degree)
    return aug_dim(dimension, check_bool(time_aug, "time_aug"), check_bool(lead_lag, "lead_lag")), degree


def _inputs(named: Sequence[tuple]) -> list:
    """Checks ``(name, value)`` pairs are all NumPy or all torch, of one dtype
    and device, converting NumPy-likes; the first one sets the kind."""
    first_name, first = named[0]
    torch_first = is_torch(first)
    out = []
    for name, x in named:
        if torch_first and is_torch(x):
            x = check_tensor(x, name, 1)
        elif not torch_first and not is_torch(x):
            x = as_array(x, name, 1)
        same_kind(name, x, first_name, out[0] if out else x)
        out.append(x)
    return out


def _check_sig_shape(name: str, x: Any, d: int, degree: int) -> bool:
    """The scalar-term flag of a signature argument, from its length."""
    return infer_scalar_term(tuple(x.shape), d, degree, name)


def _check_same_shape(name: str, x: Any, ref_name: str, ref: Any) -> None:
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, got {tuple(x.shape)}")


def _check_displacement(displacement: Any, sig: Any, d: int) -> None:
    expected = tuple(sig.shape[:-1]) + (d,)
    if tuple(displacement.shape) != expected:
        raise ValueError(
            f"displacement must have shape {expected} (the batch axes of sig, then the dimension {d}), "
            f"got {tuple(displacement.shape)}"
        )


def _flat(x: np.ndarray) -> np.ndarray:
    return as_array(x, "input", 1)


# --- array kernels (also the CPU kernels of the torch ops) -------------------------


def sig_combine_array(sig1, sig2, d: int, degree: int, scalar_term: bool, n_jobs: int) -> np.ndarray:
    sig1, sig2 = _flat(sig1), _flat(sig2)
    out = empty_output(sig1.shape, sig1.dtype)
    native_for(_SIG_COMBINE, sig1.dtype)(sig1, sig2, out, d, degree, scalar_term, n_jobs)
    return out


def sig_combine_backprop_array(deriv, sig1, sig2, d: int, degree: int, scalar_term: bool, n_jobs: int) -> tuple:
    sig1, sig2, deriv = _flat(sig1), _flat(sig2), _flat(deriv)
    g1, g2 = empty_output(sig1.shape, sig1.dtype), empty_output(sig1.shape, sig1.dtype)
    native_for(_SIG_COMBINE_BACKPROP, sig1.dtype)(sig1, sig2, deriv, g1, g2, d, degree, scalar_term, n_jobs)
    return g1, g2


def multi_sig_combine_array(sigs, d: int, degree: int, scalar_term: bool, n_jobs: int) -> np.ndarray:
    """``sigs`` is ``(..., k, n)``."""
    sigs = _flat(sigs)
    *batch, k, n = sigs.shape
    b = int(np.prod(batch, dtype=np.int64)) if batch else 1
    out = empty_output((*batch, n), sigs.dtype)
    native_for(_MULTI_SIG_COMBINE, sigs.dtype)(sigs.reshape(b, k, n), out, d, degree, scalar_term, n_jobs)
    return out


def multi_sig_combine_backprop_array(derivs, sigs, d: int, degree: int, scalar_term: bool, n_jobs: int) -> np.ndarray:
    sigs, derivs = _flat(sigs), _flat(derivs)
    *batch, k, n = sigs.shape
    b = int(np.prod(batch, dtype=np.int64)) if batch else 1
    out = empty_output((b, k, n), sigs.dtype)
    native_for(_MULTI_SIG_COMBINE_BACKPROP, sigs.dtype)(sigs.reshape(b, k, n), derivs, out, d, degree, scalar_term, n_jobs)
    return out.reshape(sigs.shape)


def sig_join_array(sig, displacement, d: int, degree: int, scalar_term: bool, prepend: bool, n_jobs: int) -> np.ndarray:
    sig, displacement = _flat(sig), _flat(displacement)
    out = empty_output(sig.shape, sig.dtype)
    native_for(_SIG_JOIN, sig.dtype)(sig, displacement, out, d, degree, scalar_term, prepend, n_jobs)
    return out


def sig_join_backprop_array(d_out, sig, displacement, d: int, degree: int, scalar_term: bool, prepend: bool, n_jobs: int) -> tuple:
    sig, displacement, d_out = _flat(sig), _flat(displacement), _flat(d_out)
    g_sig, g_disp = empty_output(sig.shape, sig.dtype), empty_output(displacement.shape, sig.dtype)
    native_for(_SIG_JOIN_BACKPROP, sig.dtype)(sig, displacement, d_out, g_sig, g_disp, d, degree, scalar_term, prepend, n_jobs)
    return g_sig, g_disp


def linear_sig_array(displacement, d: int, degree: int, scalar_term: bool, n_jobs: int) -> np.ndarray:
    displacement = _flat(displacement)
    out = empty_output((*displacement.shape[:-1], sig_len(d, degree, scalar_term)), displacement.dtype)
    native_for(_LINEAR_SIG, displacement.dtype)(displacement, out, d, degree, scalar_term, n_jobs)
    return out


def linear_sig_backprop_array(derivs, displacement, d: int, degree: int, scalar_term: bool, n_jobs: int) -> np.ndarray:
    displacement, derivs = _flat(displacement), _flat(derivs)
    out = empty_output(displacement.shape, displacement.dtype)
    native_for(_LINEAR_SIG_BACKPROP, displacement.dtype)(displacement, derivs, out, d, degree, scalar_term, n_jobs)
    return out


def sig_inverse_array(sig, d: int, degree: int, scalar_term: bool, backprop: bool, n_jobs: int) -> np.ndarray:
    sig = _flat(sig)
    out = empty_output(sig.shape, sig.dtype)
    native_for(_SIG_INVERSE, sig.dtype)(sig, out, d, degree, scalar_term, backprop, n_jobs)
    return out


def _torch_ops():
    from . import _autograd

    return _autograd


# --- public functions -----------------------------------------------------------


def sig_combine(
    sig1: Any, sig2: Any, dimension: int, degree: int, *, time_aug: bool = False, lead_lag: bool = False, n_jobs: int = -1
) -> Any:
    """Chen's identity: the signature of path 1 followed by path 2, ``S(x1 * x2) = S(x1) (x) S(x2)``.

    Args:
        sig1, sig2: ``(..., sig_len)`` signatures of the same shape, with or
            without the scalar term.
        dimension, degree: of the paths behind the signatures.
        time_aug, lead_lag: whether the signatures were taken with these
            transforms (they change the signature's dimension).
        n_jobs: threads, as in :func:`sigrs.sig`.

    Returns:
        ``(..., sig_len)`` in the layout of ``sig1``.

    Example::

        >>> x = np.random.rand(20, 3)
        >>> s = sigrs.sig_combine(sigrs.sig(x[:10], 3), sigrs.sig(x[9:], 3), 3, 3)
        >>> np.allclose(s, sigrs.sig(x, 3))
        True
    """
    d, degree = _space(dimension, degree, time_aug, lead_lag)
    n_jobs = check_n_jobs(n_jobs)
    sig1, sig2 = _inputs([("sig1", sig1), ("sig2", sig2)])
    scalar_term = _check_sig_shape("sig1", sig1, d, degree)
    _check_same_shape("sig2", sig2, "sig1", sig1)
    if is_torch(sig1):
        return _torch_ops().sig_combine(sig1, sig2, d, degree, scalar_term, n_jobs)
    return sig_combine_array(sig1, sig2, d, degree, scalar_term, n_jobs)


def sig_combine_backprop(
    deriv: Any,
    sig1: Any,
    sig2: Any,
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    n_jobs: int = -1,
) -> tuple:
    """Gradient through :func:`sig_combine`: ``(dF/d sig1, dF/d sig2)`` from ``deriv`` = dF/d(result).

    Example::

        >>> s1, s2 = sigrs.sig(np.random.rand(5, 2), 3), sigrs.sig(np.random.rand(5, 2), 3)
        >>> g1, g2 = sigrs.sig_combine_backprop(np.ones(14), s1, s2, 2, 3)
        >>> g1.shape, g2.shape
        ((14,), (14,))
    """
    d, degree = _space(dimension, degree, time_aug, lead_lag)
    n_jobs = check_n_jobs(n_jobs)
    sig1, sig2, deriv = _inputs([("sig1", sig1), ("sig2", sig2), ("deriv", deriv)])
    scalar_term = _check_sig_shape("sig1", sig1, d, degree)
    _check_same_shape("sig2", sig2, "sig1", sig1)
    _check_same_shape("deriv", deriv, "sig1", sig1)
    if is_torch(sig1):
        return _torch_ops().sig_combine_backprop(deriv, sig1, sig2, d, degree, scalar_term, n_jobs)
    return sig_combine_backprop_array(deriv, sig1, sig2, d, degree, scalar_term, n_jobs)


def _stack_sigs(sigs: Any) -> tuple:
    """``(stacked (..., k, n), was_a_list)`` from a sequence of ``(..., n)`` or one ``(..., k, n)``."""
    if isinstance(sigs, (list, tuple)):
        if len(sigs) == 0:
            raise ValueError("sigs must hold at least one signature, got an empty sequence")
        items = _inputs([(f"sigs[{i}]", s) for i, s in enumerate(sigs)])
        for i, s in enumerate(items[1:], 1):
            _check_same_shape(f"sigs[{i}]", s, "sigs[0]", items[0])
        if is_torch(items[0]):
            import torch

            return torch.stack(items, dim=-2), True
        return np.stack(items, axis=-2), True
    (stacked,) = _inputs([("sigs", sigs)])
    if stacked.ndim < 2:
        raise ValueError(f"sigs must be a list of signatures or one array of shape (..., count, sig_len), got shape {tuple(stacked.shape)}")
    return stacked, False


def multi_sig_combine(
    sigs: Any, dimension: int, degree: int, *, time_aug: bool = False, lead_lag: bool = False, n_jobs: int = -1
) -> Any:
    """The product ``sigs[0] (x) sigs[1] (x) ... (x) sigs[k-1]``: the signature of the concatenated pieces.

    Batch items run in parallel, and so do runs of pieces when there are few
    batch items and many pieces.

    Args:
        sigs: a list or tuple of ``(..., sig_len)`` signatures of one shape,
            or one ``(..., k, sig_len)`` array (the product runs along axis -2).
        dimension, degree, time_aug, lead_lag, n_jobs: as in :func:`sig_combine`.

    Returns:
        ``(..., sig_len)``.

    Example::

        >>> x = np.random.rand(31, 2)
        >>> pieces = sigrs.sig(np.stack([x[i:i + 11] for i in (0, 10, 20)]), 3)   # (3, 14)
        >>> np.allclose(sigrs.multi_sig_combine(pieces, 2, 3), sigrs.sig(x, 3))
        True
    """
    d, degree = _space(dimension, degree, time_aug, lead_lag)
    n_jobs = check_n_jobs(n_jobs)
    stacked, _ = _stack_sigs(sigs)
    scalar_term = _check_sig_shape("sigs", stacked, d, degree)
    if is_torch(stacked):
        return _torch_ops().multi_sig_combine(stacked, d, degree, scalar_term, n_jobs)
    return multi_sig_combine_array(stacked, d, degree, scalar_term, n_jobs)


def multi_sig_combine_backprop(
    derivs: Any,
    sigs: Any,
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    n_jobs: int = -1,
) -> Any:
    """Gradient through :func:`multi_sig_combine`: dF/d(sigs), shaped like
    ``sigs`` (a list for a list), from ``derivs`` = dF/d(result).

    Example::

        >>> pieces = sigrs.sig(np.random.rand(4, 6, 2), 2)     # (4, 6)
        >>> sigrs.multi_sig_combine_backprop(np.ones(6), pieces, 2, 2).shape
        (4, 6)
    """
    d, degree = _space(dimension, degree, time_aug, lead_lag)
    n_jobs = check_n_jobs(n_jobs)
    stacked, was_list = _stack_sigs(sigs)
    scalar_term = _check_sig_shape("sigs", stacked, d, degree)
    (derivs,) = _inputs([("derivs", derivs)])
    same_kind("derivs", derivs, "sigs", stacked)
    expected = tuple(stacked.shape[:-2]) + (stacked.shape[-1],)
    if tuple(derivs.shape) != expected:
        raise ValueError(f"derivs must have the shape of the combined signature {expected}, got {tuple(derivs.shape)}")
    if is_torch(stacked):
        grads = _torch_ops().multi_sig_combine_backprop(derivs, stacked, d, degree, scalar_term, n_jobs)
    else:
        grads = multi_sig_combine_backprop_array(derivs, stacked, d, degree, scalar_term, n_jobs)
    if was_list:
        return [grads[..., i, :] for i in range(grads.shape[-2])]
    return grads


def sig_join(
    sig: Any, displacement: Any, dimension: int, degree: int, *, prepend: bool = False, n_jobs: int = -1
) -> Any:
    """Extends a signature by one straight segment: ``S(x) (x) exp(v)``, or ``exp(v) (x) S(x)`` with ``prepend``.

    Cheaper than :func:`sig_combine` with :func:`linear_sig` (one in-place
    update, no intermediate signature).

    Args:
        sig: ``(..., sig_len)``.
        displacement: ``(..., dimension)``, the segment's increment ``v``.
        dimension, degree: of the signature.
        prepend: put the segment before the path instead of after it.
        n_jobs: threads.

    Returns:
        ``(..., sig_len)`` in the layout of ``sig``.

    Example::

        >>> x = np.random.rand(10, 3)
        >>> s = sigrs.sig_join(sigrs.sig(x[:-1], 3), x[-1] - x[-2], 3, 3)
        >>> np.allclose(s, sigrs.sig(x, 3))
        True
    """
    d, degree = _space(dimension, degree)
    prepend = check_bool(prepend, "prepend")
    n_jobs = check_n_jobs(n_jobs)
    sig, displacement = _inputs([("sig", sig), ("displacement", displacement)])
    scalar_term = _check_sig_shape("sig", sig, d, degree)
    _check_displacement(displacement, sig, d)
    if is_torch(sig):
        return _torch_ops().sig_join(sig, displacement, d, degree, scalar_term, prepend, n_jobs)
    return sig_join_array(sig, displacement, d, degree, scalar_term, prepend, n_jobs)


def sig_join_backprop(
    d_out: Any, sig: Any, displacement: Any, dimension: int, degree: int, *, prepend: bool = False, n_jobs: int = -1
) -> tuple:
    """Gradient through :func:`sig_join`: ``(dF/d sig, dF/d displacement)`` from ``d_out`` = dF/d(result).

    Example::

        >>> s, v = sigrs.sig(np.random.rand(5, 2), 2), np.random.rand(2)
        >>> g_sig, g_v = sigrs.sig_join_backprop(np.ones(6), s, v, 2, 2)
        >>> g_sig.shape, g_v.shape
        ((6,), (2,))
    """
    d, degree = _space(dimension, degree)
    prepend = check_bool(prepend, "prepend")
    n_jobs = check_n_jobs(n_jobs)
    sig, displacement, d_out = _inputs([("sig", sig), ("displacement", displacement), ("d_out", d_out)])
    scalar_term = _check_sig_shape("sig", sig, d, degree)
    _check_displacement(displacement, sig, d)
    _check_same_shape("d_out", d_out, "sig", sig)
    if is_torch(sig):
        return _torch_ops().sig_join_backprop(d_out, sig, displacement, d, degree, scalar_term, prepend, n_jobs)
    return sig_join_backprop_array(d_out, sig, displacement, d, degree, scalar_term, prepend, n_jobs)


def linear_sig(displacement: Any, dimension: int, degree: int, *, scalar_term: bool = False, n_jobs: int = -1) -> Any:
    """Signature of the straight segment from 0 to ``v``: ``exp(v) = (1, v, v^2/2!, ..., v^N/N!)``.

    Args:
        displacement: ``(..., dimension)``.
        dimension, degree: of the signature.
        scalar_term: prepend the level-0 term 1.
        n_jobs: threads.

    Returns:
        ``(..., sig_len)``.

    Example::

        >>> sigrs.linear_sig(np.array([1.0, 2.0]), 2, 2)
        array([1. , 2. , 0.5, 1. , 1. , 2. ])
    """
    d, degree = _space(dimension, degree)
    scalar_term = check_bool(scalar_term, "scalar_term")
    n_jobs = check_n_jobs(n_jobs)
    (displacement,) = _inputs([("displacement", displacement)])
    if displacement.shape[-1] != d:
        raise ValueError(f"displacement must have shape (..., {d}) for dimension {d}, got {tuple(displacement.shape)}")
    if is_torch(displacement):
        return _torch_ops().linear_sig(displacement, d, degree, scalar_term, n_jobs)
    return linear_sig_array(displacement, d, degree, scalar_term, n_jobs)


def linear_sig_backprop(derivs: Any, displacement: Any, dimension: int, degree: int, *, n_jobs: int = -1) -> Any:
    """Gradient through :func:`linear_sig`: dF/d(displacement) from ``derivs`` = dF/d(result)
    (with or without the scalar term).

    Example::

        >>> sigrs.linear_sig_backprop(np.ones(6), np.array([1.0, 2.0]), 2, 2)
        array([3.5, 4.5])
    """
    d, degree = _space(dimension, degree)
    n_jobs = check_n_jobs(n_jobs)
    displacement, derivs = _inputs([("displacement", displacement), ("derivs", derivs)])
    if displacement.shape[-1] != d:
        raise ValueError(f"displacement must have shape (..., {d}) for dimension {d}, got {tuple(displacement.shape)}")
    scalar_term = _check_sig_shape("derivs", derivs, d, degree)
    if tuple(derivs.shape[:-1]) != tuple(displacement.shape[:-1]):
        raise ValueError(
            f"derivs must have the batch axes of displacement {tuple(displacement.shape[:-1])}, got shape {tuple(derivs.shape)}"
        )
    if is_torch(displacement):
        return _torch_ops().linear_sig_backprop(derivs, displacement, d, degree, scalar_term, n_jobs)
    return linear_sig_backprop_array(derivs, displacement, d, degree, scalar_term, n_jobs)


def sig_inverse(sig: Any, dimension: int, degree: int, *, time_aug: bool = False, lead_lag: bool = False, n_jobs: int = -1) -> Any:
    """Inverse of a signature in the tensor algebra: ``S(x)^-1``, the signature of ``x`` run backwards.

    Computed exactly as the antipode: the coefficient of a word of length
    ``k`` becomes ``(-1)^k`` times that of the reversed word. (For tensors
    that are not signatures this is the antipode, not the inverse.)

    Example::

        >>> x = np.random.rand(10, 2)
        >>> np.allclose(sigrs.sig_inverse(sigrs.sig(x, 3), 2, 3), sigrs.sig(x[::-1], 3))
        True
    """
    d, degree = _space(dimension, degree, time_aug, lead_lag)
    n_jobs = check_n_jobs(n_jobs)
    (sig,) = _inputs([("sig", sig)])
    scalar_term = _check_sig_shape("sig", sig, d, degree)
    if is_torch(sig):
        return _torch_ops().sig_inverse(sig, d, degree, scalar_term, n_jobs)
    return sig_inverse_array(sig, d, degree, scalar_term, False, n_jobs)


def extract_sig_coef(
    sig: Any,
    words: Any,
    dimension: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    scalar_term: bool = False,
) -> Any:
    """Coefficients of a signature at given words (pysiglib's ``extract_sig_coef``).

    Args:
        sig: ``(..., sig_len)``.
        words: one word (a tuple of letters in ``[0, d)``) or a list of words;
            ``()`` is the scalar term and needs ``scalar_term=True``.
        dimension: of the path, before ``time_aug``/``lead_lag``.
        time_aug, lead_lag: as the signature was computed (letters index the
            transformed channels).
        scalar_term: whether ``sig`` starts with the scalar term.

    Returns:
        ``(..., n_words)``: an indexed view, differentiable for torch.

    Example::

        >>> s = sigrs.sig(np.array([[0.0, 0.0], [1.0, 2.0]]), 2)
        >>> sigrs.extract_sig_coef(s, [(0,), (1, 0)], 2)
        array([1., 1.])
    """
    d, _ = _space(dimension, 0, time_aug, lead_lag)
    scalar_term = check_bool(scalar_term, "scalar_term")
    (sig,) = _inputs([("sig", sig)])
    if isinstance(words, tuple) and all(not isinstance(w, (tuple, list)) for w in words):
        words = [words]
    if not isinstance(words, (list, tuple)):
        raise TypeError(f"words must be a word (tuple of ints) or a list of words, got {type(words).__name__}")
    idx = []
    for w in words:
        if not isinstance(w, (tuple, list)):
            raise TypeError(f"each word must be a tuple or list of ints, got {type(w).__name__} {w!r}")
        letters = [check_int(c, "word letter") for c in w]
        i = word_to_idx(tuple(letters), d, scalar_term=scalar_term)
        if i >= sig.shape[-1]:
            raise ValueError(f"word {tuple(letters)} lies beyond a signature of length {sig.shape[-1]} (its degree is too low)")
        idx.append(i)
    if is_torch(sig):
        import torch

        return sig[..., torch.tensor(idx, dtype=torch.long, device=sig.device)]
    return sig[..., idx]


def extract_sig_level(
    sig: Any,
    dimension: int,
    level: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    scalar_term: bool = False,
) -> Any:
    """Level ``k`` of a signature: the ``d^k`` coefficients of words of length ``k``
    (signatory's ``extract_signature_term``).

    Args:
        sig: ``(..., sig_len)``.
        dimension: of the path, before ``time_aug``/``lead_lag``.
        level: ``k >= 1`` (or 0 with ``scalar_term``), at most the degree.
        time_aug, lead_lag, scalar_term: as the signature was computed.

    Returns:
        ``(..., d^k)``: a view of ``sig``.

    Example::

        >>> s = sigrs.sig(np.random.rand(10, 3), 3)
        >>> sigrs.extract_sig_level(s, 3, 2).shape
        (9,)
    """
    d, _ = _space(dimension, 0, time_aug, lead_lag)
    scalar_term = check_bool(scalar_term, "scalar_term")
    level = check_int(level, "level", minimum=0 if scalar_term else 1)
    (sig,) = _inputs([("sig", sig)])
    start = sig_len(d, level - 1, scalar_term) if level > 0 else 0
    stop = start + d**level
    if stop > sig.shape[-1]:
        raise ValueError(
            f"level {level} of a signature of dimension {d} needs a length of at least {stop} in the last axis, "
            f"got {sig.shape[-1]} (its degree is lower than {level})"
        )
    return sig[..., start:stop]
