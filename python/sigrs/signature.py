"""Truncated signatures and their gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _native
from ._checks import (
    as_array,
    aug_dim,
    batch_size,
    check_bool,
    check_degree,
    check_end_time,
    check_int,
    check_n_jobs,
    check_tensor,
    empty_output,
    infer_scalar_term,
    is_torch,
    native_for,
    same_kind,
)

_SIG = (_native.sig_f64, _native.sig_f32)
_SIG_BACKPROP = (_native.sig_backprop_f64, _native.sig_backprop_f32)


def sig_length(
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    scalar_term: bool = False,
) -> int:
    """Length of a truncated signature: ``d + d^2 + ... + d^N`` (plus one with ``scalar_term``).

    ``d`` is ``dimension`` after the transforms: lead-lag doubles it and time
    augmentation adds one.

    Example::

        >>> sigrs.sig_length(3, 4)
        120
        >>> sigrs.sig_length(3, 4, time_aug=True, lead_lag=True, scalar_term=True)
        2801
    """
    dimension = check_int(dimension, "dimension", minimum=0)
    degree = check_degree(degree)
    d = aug_dim(dimension, check_bool(time_aug, "time_aug"), check_bool(lead_lag, "lead_lag"))
    return _native.sig_length(d, degree, check_bool(scalar_term, "scalar_term"))


def sig(
    path: Any,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    scalar_term: bool = False,
    n_jobs: int = -1,
) -> Any:
    """Truncated signature of a path or a batch of paths.

    For a path ``x`` the signature truncated at degree ``N`` collects the
    iterated integrals ``S^(i1..ik) = int_{t1<...<tk} dx^i1_t1 ... dx^ik_tk``
    for every word of length ``1 <= k <= N``, level by level, each level in
    lexicographic order of the words (pysiglib's layout).

    Args:
        path: ``(..., length, dim)`` NumPy array or torch tensor, float32 or
            float64 (lists are converted with ``np.asarray``). Leading axes are
            batch axes.
        degree: truncation level ``N >= 0``.
        time_aug: append time, running evenly from 0 to ``end_time`` over the
            (transformed) points, as the last channel.
        lead_lag: take the lead-lag transform first: ``2 length - 1`` points,
            channels ``(lag, lead)``.
        end_time: the final time of ``time_aug``.
        scalar_term: prepend the level-0 term 1.
        n_jobs: threads: 1 serial, -1 all cores, ``k < -1`` all but ``-k-1``.

    Returns:
        ``(..., sig_length(dim, degree, ...))``, the same kind, dtype and
        device as ``path``. Differentiable through torch autograd.

    Example::

        >>> import numpy as np, sigrs
        >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
        >>> sigrs.sig(path, 2)
        array([1. , 2. , 0.5, 2. , 0. , 2. ])
    """
    degree = check_degree(degree)
    time_aug = check_bool(time_aug, "time_aug")
    lead_lag = check_bool(lead_lag, "lead_lag")
    end_time = check_end_time(end_time)
    scalar_term = check_bool(scalar_term, "scalar_term")
    n_jobs = check_n_jobs(n_jobs)
    if type(path) is not np.ndarray and is_torch(path):
        from . import _autograd

        return _autograd.sig(check_tensor(path, "path", 2), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)
    return sig_array(as_array(path, "path", 2), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)


def sig_array(
    path: np.ndarray, degree: int, time_aug: bool, lead_lag: bool, end_time: float, scalar_term: bool, n_jobs: int
) -> np.ndarray:
    """:func:`sig` on checked arguments and an array :func:`as_array` returned
    (also the CPU kernel of the torch op)."""
    shape = path.shape
    ndim = len(shape)
    if ndim == 2:
        path = path[None]
    elif ndim > 3:
        path = path.reshape(batch_size(shape[:-2]), shape[-2], shape[-1])
    n = _native.sig_length(aug_dim(shape[-1], time_aug, lead_lag), degree, scalar_term)
    out = empty_output((path.shape[0], n), path.dtype)
    native_for(_SIG, path.dtype)(path, out, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)
    if ndim == 3:
        return out
    return out[0] if ndim == 2 else out.reshape(*shape[:-2], n)


signature = sig
"""Alias of :func:`sig` (pysiglib's name before 1.0)."""


def sig_backprop(
    path: Any,
    sig: Any,
    sig_derivs: Any,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = -1,
) -> Any:
    """Gradient through :func:`sig`: dF/d(path) from ``sig_derivs`` = dF/d(sig).

    The intermediate signatures are recovered from ``sig`` by walking the
    path backwards, so memory is a few signatures per thread whatever the
    length; ``sig`` must be what :func:`sig` returned for this ``path`` and
    these options (with or without the scalar term).

    Args:
        path: ``(..., length, dim)``, as given to :func:`sig`.
        sig: ``(..., sig_len)``, the signatures of ``path``.
        sig_derivs: the same shape as ``sig``.
        degree, time_aug, lead_lag, end_time, n_jobs: as given to :func:`sig`.

    Returns:
        ``(..., length, dim)``, the same kind and dtype as ``path``.

    Example::

        >>> path = np.random.rand(10, 100, 5)
        >>> s = sigrs.sig(path, 4)
        >>> grad = sigrs.sig_backprop(path, s, np.ones_like(s), 4)
        >>> grad.shape
        (10, 100, 5)
    """
    degree = check_degree(degree)
    time_aug = check_bool(time_aug, "time_aug")
    lead_lag = check_bool(lead_lag, "lead_lag")
    end_time = check_end_time(end_time)
    n_jobs = check_n_jobs(n_jobs)
    if type(path) is not np.ndarray and is_torch(path):
        from . import _autograd

        check_tensor(path, "path", 2)
    else:
        path = as_array(path, "path", 2)
        if not is_torch(sig):
            sig = as_array(sig, "sig", 1)
        if not is_torch(sig_derivs):
            sig_derivs = as_array(sig_derivs, "sig_derivs", 1)
    same_kind("sig", sig, "path", path)
    same_kind("sig_derivs", sig_derivs, "path", path)
    *batch_shape, length, dim = path.shape
    d = aug_dim(dim, time_aug, lead_lag)
    scalar_term = infer_scalar_term(tuple(sig.shape), d, degree, "sig")
    if tuple(sig.shape[:-1]) != tuple(batch_shape):
        raise ValueError(
            f"sig has shape {tuple(sig.shape)}, whose batch axes do not match those of path {tuple(path.shape)}: "
            f"expected {tuple(batch_shape) + (sig.shape[-1],)}"
        )
    if tuple(sig_derivs.shape) != tuple(sig.shape):
        raise ValueError(f"sig_derivs must have the shape of sig {tuple(sig.shape)}, got {tuple(sig_derivs.shape)}")
    if type(path) is not np.ndarray and is_torch(path):
        return _autograd.sig_backprop(path, sig, sig_derivs, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)
    return sig_backprop_array(path, sig, sig_derivs, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)


def sig_backprop_array(
    path: np.ndarray,
    sig: np.ndarray,
    sig_derivs: np.ndarray,
    degree: int,
    time_aug: bool,
    lead_lag: bool,
    end_time: float,
    scalar_term: bool,
    n_jobs: int,
) -> np.ndarray:
    """:func:`sig_backprop` on checked arguments and ndarrays (also the CPU kernel of the torch op)."""
    path = as_array(path, "path", 2)
    *batch_shape, length, dim = path.shape
    b = batch_size(batch_shape)
    out = empty_output((b, length, dim), path.dtype)
    native_for(_SIG_BACKPROP, path.dtype)(
        path.reshape(b, length, dim),
        as_array(sig, "sig", 1).reshape(b, sig.shape[-1]),
        as_array(sig_derivs, "sig_derivs", 1).reshape(b, sig.shape[-1]),
        out,
        degree, time_aug, lead_lag, end_time, scalar_term, n_jobs,
    )
    return out.reshape(path.shape)
