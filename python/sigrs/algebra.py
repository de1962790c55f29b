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

from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np

from . import _native
from ._arrays import checked, empty_output, is_torch, same_kind
from ._checks import check_bool, check_degree, check_int, check_n_jobs, check_word
from ._op_registry import BUILT, register
from ._options import AlgebraOptions, make
from ._shapes import aug_dim, batch_size, degree_of_length, infer_scalar_term, sig_len
from .words import word_to_idx


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
        if torch_first == is_torch(x):
            x = checked(x, name, 1)
        same_kind(name, x, first_name, out[0] if out else x)
        out.append(x)
    return out


def _options(name: str, sig: Any, d: int, degree: int, n_jobs: Any, prepend: bool = False) -> AlgebraOptions:
    """The options of an op on signatures like ``sig`` (named ``name``), whose
    length says whether they carry the scalar term."""
    scalar_term = infer_scalar_term(tuple(sig.shape), d, degree, name)
    return make(AlgebraOptions, d, degree, scalar_term, check_n_jobs(n_jobs), prepend)


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


def _check_displacement_dim(displacement: Any, d: int) -> None:
    if displacement.shape[-1] != d:
        raise ValueError(f"displacement must have shape (..., {d}) for dimension {d}, got {tuple(displacement.shape)}")


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
    sig1, sig2 = _inputs([("sig1", sig1), ("sig2", sig2)])
    opts = _options("sig1", sig1, d, degree, n_jobs)
    _check_same_shape("sig2", sig2, "sig1", sig1)
    if is_torch(sig1):
        return _ops().sig_combine(sig1, sig2, opts)
    return _sig_combine_cpu(sig1, sig2, opts)


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
    sig1, sig2, deriv = _inputs([("sig1", sig1), ("sig2", sig2), ("deriv", deriv)])
    opts = _options("sig1", sig1, d, degree, n_jobs)
    _check_same_shape("sig2", sig2, "sig1", sig1)
    _check_same_shape("deriv", deriv, "sig1", sig1)
    if is_torch(sig1):
        return _ops().sig_combine_backprop(deriv, sig1, sig2, opts)
    return _sig_combine_backprop_cpu(deriv, sig1, sig2, opts)


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
    """The product of the signatures ``sigs``, in order: the signature of the concatenated pieces.

    That is ``sigs[0] (x) sigs[1] (x) ... (x) sigs[k-1]``.
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
    stacked, _ = _stack_sigs(sigs)
    opts = _options("sigs", stacked, d, degree, n_jobs)
    if is_torch(stacked):
        return _ops().multi_sig_combine(stacked, opts)
    return _multi_sig_combine_cpu(stacked, opts)


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
    stacked, was_list = _stack_sigs(sigs)
    opts = _options("sigs", stacked, d, degree, n_jobs)
    (derivs,) = _inputs([("derivs", derivs)])
    same_kind("derivs", derivs, "sigs", stacked)
    expected = tuple(stacked.shape[:-2]) + (stacked.shape[-1],)
    if tuple(derivs.shape) != expected:
        raise ValueError(f"derivs must have the shape of the combined signature {expected}, got {tuple(derivs.shape)}")
    if is_torch(stacked):
        grads = _ops().multi_sig_combine_backprop(derivs, stacked, opts)
    else:
        grads = _multi_sig_combine_backprop_cpu(derivs, stacked, opts)
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
    sig, displacement = _inputs([("sig", sig), ("displacement", displacement)])
    opts = _options("sig", sig, d, degree, n_jobs, prepend)
    _check_displacement(displacement, sig, d)
    if is_torch(sig):
        return _ops().sig_join(sig, displacement, opts)
    return _sig_join_cpu(sig, displacement, opts)


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
    sig, displacement, d_out = _inputs([("sig", sig), ("displacement", displacement), ("d_out", d_out)])
    opts = _options("sig", sig, d, degree, n_jobs, prepend)
    _check_displacement(displacement, sig, d)
    _check_same_shape("d_out", d_out, "sig", sig)
    if is_torch(sig):
        return _ops().sig_join_backprop(d_out, sig, displacement, opts)
    return _sig_join_backprop_cpu(d_out, sig, displacement, opts)


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
    opts = make(AlgebraOptions, d, degree, check_bool(scalar_term, "scalar_term"), check_n_jobs(n_jobs), False)
    (displacement,) = _inputs([("displacement", displacement)])
    _check_displacement_dim(displacement, d)
    if is_torch(displacement):
        return _ops().linear_sig(displacement, opts)
    return _linear_sig_cpu(displacement, opts)


def linear_sig_backprop(derivs: Any, displacement: Any, dimension: int, degree: int, *, n_jobs: int = -1) -> Any:
    """Gradient through :func:`linear_sig`: dF/d(displacement) from ``derivs`` = dF/d(result)
    (with or without the scalar term).

    Example::

        >>> sigrs.linear_sig_backprop(np.ones(6), np.array([1.0, 2.0]), 2, 2)
        array([4., 4.])
    """
    d, degree = _space(dimension, degree)
    displacement, derivs = _inputs([("displacement", displacement), ("derivs", derivs)])
    _check_displacement_dim(displacement, d)
    opts = _options("derivs", derivs, d, degree, n_jobs)
    if tuple(derivs.shape[:-1]) != tuple(displacement.shape[:-1]):
        raise ValueError(
            f"derivs must have the batch axes of displacement {tuple(displacement.shape[:-1])}, got shape {tuple(derivs.shape)}"
        )
    if is_torch(displacement):
        return _ops().linear_sig_backprop(derivs, displacement, opts)
    return _linear_sig_backprop_cpu(derivs, displacement, opts)


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
    (sig,) = _inputs([("sig", sig)])
    opts = _options("sig", sig, d, degree, n_jobs)
    if is_torch(sig):
        return _ops().sig_inverse(sig, opts)
    return _sig_inverse_cpu(sig, opts)


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
    degree = degree_of_length(sig.shape[-1], d, scalar_term, "sig")
    idx = []
    for w in words:
        w = check_word(w, "word", alphabet=d, what=" (the letters of the signature's dimension)")
        if len(w) > degree:
            raise ValueError(f"word {w} has length {len(w)}, beyond the signature's degree {degree}")
        if not w and not scalar_term:
            raise ValueError("the empty word () is the scalar term, which this signature does not hold (scalar_term=False)")
        idx.append(word_to_idx(w, d, scalar_term=scalar_term))
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
    degree = degree_of_length(sig.shape[-1], d, scalar_term, "sig")
    if level > degree:
        raise ValueError(f"level must be at most the signature's degree {degree}, got {level}")
    start = sig_len(d, level - 1, scalar_term) if level > 0 else 0
    stop = start + d**level
    return sig[..., start:stop]


# --- CPU ---------------------------------------------------------------------------
# Arrays of any shape, C-contiguous (checked() made them so): the core reads them flat.


def _sig_combine_cpu(sig1: np.ndarray, sig2: np.ndarray, o: AlgebraOptions) -> np.ndarray:
    out = empty_output(sig1.shape, sig1.dtype)
    _native.sig_combine(sig1, sig2, out, o)
    return out


def _sig_combine_backprop_cpu(deriv: np.ndarray, sig1: np.ndarray, sig2: np.ndarray, o: AlgebraOptions) -> tuple:
    g1, g2 = empty_output(sig1.shape, sig1.dtype), empty_output(sig1.shape, sig1.dtype)
    _native.sig_combine_backprop(deriv, sig1, sig2, g1, g2, o)
    return g1, g2


def _multi_sig_combine_cpu(sigs: np.ndarray, o: AlgebraOptions) -> np.ndarray:
    """``sigs`` is ``(..., k, n)``."""
    *batch, k, n = sigs.shape
    out = empty_output((*batch, n), sigs.dtype)
    _native.multi_sig_combine(sigs.reshape(batch_size(batch), k, n), out, o)
    return out


def _multi_sig_combine_backprop_cpu(derivs: np.ndarray, sigs: np.ndarray, o: AlgebraOptions) -> np.ndarray:
    *batch, k, n = sigs.shape
    flat = sigs.reshape(batch_size(batch), k, n)
    out = empty_output(flat.shape, sigs.dtype)
    _native.multi_sig_combine_backprop(derivs, flat, out, o)
    return out.reshape(sigs.shape)


def _sig_join_cpu(sig: np.ndarray, displacement: np.ndarray, o: AlgebraOptions) -> np.ndarray:
    out = empty_output(sig.shape, sig.dtype)
    _native.sig_join(sig, displacement, out, o)
    return out


def _sig_join_backprop_cpu(d_out: np.ndarray, sig: np.ndarray, displacement: np.ndarray, o: AlgebraOptions) -> tuple:
    g_sig, g_disp = empty_output(sig.shape, sig.dtype), empty_output(displacement.shape, sig.dtype)
    _native.sig_join_backprop(d_out, sig, displacement, g_sig, g_disp, o)
    return g_sig, g_disp


def _linear_sig_cpu(displacement: np.ndarray, o: AlgebraOptions) -> np.ndarray:
    out = empty_output((*displacement.shape[:-1], sig_len(o.dimension, o.degree, o.scalar_term)), displacement.dtype)
    _native.linear_sig(displacement, out, o)
    return out


def _linear_sig_backprop_cpu(derivs: np.ndarray, displacement: np.ndarray, o: AlgebraOptions) -> np.ndarray:
    out = empty_output(displacement.shape, displacement.dtype)
    _native.linear_sig_backprop(derivs, displacement, out, o)
    return out


def _sig_inverse_cpu(sig: np.ndarray, o: AlgebraOptions) -> np.ndarray:
    out = empty_output(sig.shape, sig.dtype)
    _native.sig_inverse(sig, out, o)
    return out


def _sig_inverse_backprop_cpu(derivs: np.ndarray, o: AlgebraOptions) -> np.ndarray:
    out = empty_output(derivs.shape, derivs.dtype)
    _native.sig_inverse_backprop(derivs, out, o)
    return out


# --- torch ops ---------------------------------------------------------------------
# CPU tensors only (these ops have no GPU kernels yet: checked() refuses CUDA
# tensors), computed on NumPy views of their memory.


def _like(index: int, count: int = 1) -> Any:
    """A fake implementation whose outputs are shaped like input ``index``."""
    def fake(*args: Any) -> Any:
        outs = tuple(args[index].new_empty(args[index].shape) for _ in range(count))
        return outs[0] if count == 1 else outs

    return fake


def _combine_backward(saved: tuple, grad: Any, opts: AlgebraOptions, needs: tuple) -> tuple:
    sig1, sig2 = saved
    return _ops().sig_combine_backprop(grad, sig1, sig2, opts)


def _multi_backward(saved: tuple, grad: Any, opts: AlgebraOptions, needs: tuple) -> tuple:
    (sigs,) = saved
    return (_ops().multi_sig_combine_backprop(grad, sigs, opts),)


def _join_backward(saved: tuple, grad: Any, opts: AlgebraOptions, needs: tuple) -> tuple:
    sig, displacement = saved
    return _ops().sig_join_backprop(grad, sig, displacement, opts)


def _linear_fake(displacement: Any, opts: AlgebraOptions) -> Any:
    return displacement.new_empty((*displacement.shape[:-1], sig_len(opts.dimension, opts.degree, opts.scalar_term)))


def _linear_backward(saved: tuple, grad: Any, opts: AlgebraOptions, needs: tuple) -> tuple:
    (displacement,) = saved
    return (_ops().linear_sig_backprop(grad, displacement, opts),)


def _inverse_backward(saved: tuple, grad: Any, opts: AlgebraOptions, needs: tuple) -> tuple:
    # The antipode is linear and its own transpose: the gradient of its
    # transpose is the antipode again (level 0 carries no gradient).
    return (_ops().sig_inverse_backprop(grad, opts),)


def _nothing(tensors: tuple, opts: AlgebraOptions, output: Any) -> tuple:
    return ()


def _ops() -> SimpleNamespace:
    """This family's torch ops, built once torch is in use (see :mod:`sigrs._op_registry`)."""
    import sigrs._torch_ops  # noqa: F401  (its first import builds them)

    return BUILT[__name__]


def _define_ops() -> SimpleNamespace:
    from ._torch_ops import define

    def op(name: str, inputs: tuple, cpu: Any, fake: Any, **kw: Any) -> Any:
        return define(name, inputs=inputs, options=AlgebraOptions, cpu=cpu, fake=fake, **kw)

    return SimpleNamespace(
        sig_combine=op("sig_combine", ("sig1", "sig2"), _sig_combine_cpu, _like(0), backward=_combine_backward),
        sig_combine_backprop=op("sig_combine_backprop", ("deriv", "sig1", "sig2"), _sig_combine_backprop_cpu, _like(1, 2), outputs=2),
        multi_sig_combine=op(
            "multi_sig_combine", ("sigs",), _multi_sig_combine_cpu,
            lambda sigs, opts: sigs.new_empty((*sigs.shape[:-2], sigs.shape[-1])), backward=_multi_backward,
        ),
        multi_sig_combine_backprop=op("multi_sig_combine_backprop", ("derivs", "sigs"), _multi_sig_combine_backprop_cpu, _like(1)),
        sig_join=op("sig_join", ("sig", "displacement"), _sig_join_cpu, _like(0), backward=_join_backward),
        sig_join_backprop=op(
            "sig_join_backprop", ("d_out", "sig", "displacement"), _sig_join_backprop_cpu,
            lambda d_out, sig, disp, opts: (sig.new_empty(sig.shape), disp.new_empty(disp.shape)), outputs=2,
        ),
        linear_sig=op("linear_sig", ("displacement",), _linear_sig_cpu, _linear_fake, backward=_linear_backward),
        linear_sig_backprop=op("linear_sig_backprop", ("derivs", "displacement"), _linear_sig_backprop_cpu, _like(1)),
        sig_inverse=op("sig_inverse", ("sig",), _sig_inverse_cpu, _like(0), save=_nothing, backward=_inverse_backward),
        sig_inverse_backprop=op(
            "sig_inverse_backprop", ("derivs",), _sig_inverse_backprop_cpu, _like(0), save=_nothing, backward=_inverse_backward,
        ),
    )


register(__name__, _define_ops)
