"""Truncated signatures and their gradients."""

from __future__ import annotations

from typing import Any, Optional

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
    stream: bool = False,
    basepoint: Any = False,
    inverse: bool = False,
    initial: Any = None,
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
        stream: return the signature of every prefix: ``(..., length - 1,
            sig_len)``, row ``r`` being the signature of the first ``r + 2``
            points. Time (with ``time_aug``) runs on the whole path's clock;
            with ``lead_lag`` row ``r`` ends at the lead-lag point
            ``(x_{r+1}, x_{r+1})``. Costs about one signature.
        basepoint: ``True`` prepends the origin to the path, an array of shape
            ``(..., dim)`` prepends that point (before ``time_aug`` and
            ``lead_lag``); with ``stream`` there are then ``length`` rows. The
            signature then sees where the path starts.
        inverse: return the inverse signature ``S(x)^-1``, the signature of
            the path run backwards.
        initial: ``(..., sig_len)`` signature (with or without the scalar term)
            of a preceding path: the result is ``initial (x) S(x)``, or
            ``S(x)^-1 (x) initial`` with ``inverse`` (signatory's semantics).
        scalar_term: prepend the level-0 term 1.
        n_jobs: threads: 1 serial, -1 all cores, ``k < -1`` all but ``-k-1``.

    Returns:
        ``(..., sig_len)``, or ``(..., rows, sig_len)`` with ``stream``, where
        ``sig_len = sig_length(dim, degree, ...)``; the same kind, dtype and
        device as ``path``. Differentiable through torch autograd (with
        respect to ``path``, ``basepoint`` and ``initial``).

    Example::

        >>> import numpy as np, sigrs
        >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
        >>> sigrs.sig(path, 2)
        array([1. , 2. , 0.5, 2. , 0. , 2. ])
        >>> sigrs.sig(path, 1, stream=True)
        array([[1., 0.],
               [1., 2.]])
    """
    degree = check_degree(degree)
    time_aug = check_bool(time_aug, "time_aug")
    lead_lag = check_bool(lead_lag, "lead_lag")
    end_time = check_end_time(end_time)
    scalar_term = check_bool(scalar_term, "scalar_term")
    stream = check_bool(stream, "stream")
    inverse = check_bool(inverse, "inverse")
    n_jobs = check_n_jobs(n_jobs)
    plain = basepoint is False and initial is None
    if type(path) is not np.ndarray and is_torch(path):
        from . import _autograd

        path = check_tensor(path, "path", 2, cuda_ok=True)
        if not plain:
            path = with_basepoint(path, basepoint)
            initial = initial_for(initial, path, degree, time_aug, lead_lag, scalar_term)
        return _autograd.sig(path, initial, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs)
    path = as_array(path, "path", 2)
    if not plain:
        path = with_basepoint(path, basepoint)
        initial = initial_for(initial, path, degree, time_aug, lead_lag, scalar_term)
    return sig_array(path, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs, stream, inverse, initial)


def with_basepoint(path: Any, basepoint: Any) -> Any:
    """``path`` with ``basepoint`` (False, True for the origin, or a point per
    batch item) prepended along the time axis."""
    if basepoint is False:
        return path
    torch_path = is_torch(path)
    batch_shape, dim = tuple(path.shape[:-2]), path.shape[-1]
    if basepoint is True:
        if torch_path:
            return torch_cat_first(path.new_zeros((*batch_shape, 1, dim)), path)
        return np.concatenate([np.zeros((*batch_shape, 1, dim), path.dtype), path], axis=-2)
    if isinstance(basepoint, (bool, np.bool_)):
        return path
    if torch_path:
        if not is_torch(basepoint):
            raise TypeError(f"basepoint must be a bool or a torch tensor like path, got {type(basepoint).__name__}")
        check_tensor(basepoint, "basepoint", 1, cuda_ok=True)
    elif is_torch(basepoint):
        raise TypeError("basepoint must be a bool or a NumPy array like path, got a torch tensor")
    else:
        basepoint = as_array(basepoint, "basepoint", 1)
    same_kind("basepoint", basepoint, "path", path)
    if tuple(basepoint.shape) != batch_shape + (dim,):
        raise ValueError(
            f"basepoint must have shape {batch_shape + (dim,)} (the batch axes of path and its dimension), "
            f"got {tuple(basepoint.shape)}"
        )
    if torch_path:
        return torch_cat_first(basepoint.unsqueeze(-2), path)
    return np.concatenate([basepoint[..., None, :], path], axis=-2)


def torch_cat_first(first: Any, path: Any) -> Any:
    import torch

    return torch.cat([first, path], dim=-2)


def torch_or_np_cat(parts: list) -> Any:
    """Concatenation along the last axis, for NumPy arrays or torch tensors."""
    if is_torch(parts[0]):
        import torch

        return torch.cat(parts, dim=-1)
    return np.concatenate(parts, axis=-1)


def initial_for(initial: Any, path: Any, degree: int, time_aug: bool, lead_lag: bool, scalar_term: bool) -> Any:
    """Checks ``initial`` against ``path`` and returns it in the output's
    layout (adding or dropping the scalar term), or None."""
    if initial is None:
        return None
    if is_torch(path):
        if not is_torch(initial):
            raise TypeError(f"initial must be a torch tensor like path, got {type(initial).__name__}")
        check_tensor(initial, "initial", 1, cuda_ok=True)
    elif is_torch(initial):
        raise TypeError("initial must be a NumPy array like path, got a torch tensor")
    else:
        initial = as_array(initial, "initial", 1)
    same_kind("initial", initial, "path", path)
    d = aug_dim(path.shape[-1], time_aug, lead_lag)
    has_scalar = infer_scalar_term(tuple(initial.shape), d, degree, "initial")
    batch_shape = tuple(path.shape[:-2])
    if tuple(initial.shape[:-1]) != batch_shape:
        raise ValueError(
            f"initial must have the batch axes of path {batch_shape}: expected shape "
            f"{batch_shape + (initial.shape[-1],)}, got {tuple(initial.shape)}"
        )
    if has_scalar and not scalar_term:
        initial = initial[..., 1:]
    elif scalar_term and not has_scalar:
        if is_torch(initial):
            import torch

            initial = torch.cat([initial.new_ones((*batch_shape, 1)), initial], dim=-1)
        else:
            initial = np.concatenate([np.ones((*batch_shape, 1), initial.dtype), initial], axis=-1)
    return initial


def sig_array(
    path: np.ndarray,
    degree: int,
    time_aug: bool,
    lead_lag: bool,
    end_time: float,
    scalar_term: bool,
    n_jobs: int,
    stream: bool = False,
    inverse: bool = False,
    initial: Optional[np.ndarray] = None,
) -> np.ndarray:
    """:func:`sig` on checked arguments and an array :func:`as_array` returned
    (also the CPU kernel of the torch op); ``initial`` already in the output's layout."""
    shape = path.shape
    ndim = len(shape)
    if ndim == 2:
        path = path[None]
    elif ndim > 3:
        path = path.reshape(batch_size(shape[:-2]), shape[-2], shape[-1])
    n = _native.sig_length(aug_dim(shape[-1], time_aug, lead_lag), degree, scalar_term)
    if initial is not None:
        initial = as_array(initial, "initial", 1)
    if stream:
        rows = max(shape[-2] - 1, 0)
        out = empty_output((path.shape[0], rows, n), path.dtype)
        native_for(_SIG, path.dtype)(path, out, initial, degree, (time_aug, lead_lag, end_time, scalar_term, True, inverse), n_jobs)
        return out[0] if ndim == 2 else out.reshape(*shape[:-2], rows, n)
    out = empty_output((path.shape[0], n), path.dtype)
    native_for(_SIG, path.dtype)(path, out, initial, degree, (time_aug, lead_lag, end_time, scalar_term, False, inverse), n_jobs)
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
    stream: bool = False,
    basepoint: Any = False,
    inverse: bool = False,
    initial: Any = None,
    n_jobs: int = -1,
) -> Any:
    """Gradient through :func:`sig`: dF/d(path) from ``sig_derivs`` = dF/d(sig).

    The intermediate signatures are recovered from ``sig`` by walking the
    path backwards (with ``stream``, restarted from each stored row), so
    memory is a few signatures per thread whatever the length; ``sig`` must
    be what :func:`sig` returned for this ``path`` and these options (with
    or without the scalar term).

    Args:
        path: ``(..., length, dim)``, as given to :func:`sig`.
        sig: what :func:`sig` returned.
        sig_derivs: the same shape as ``sig``.
        degree, time_aug, lead_lag, end_time, stream, basepoint, inverse,
            initial, n_jobs: as given to :func:`sig`.

    Returns:
        ``(..., length, dim)``, the same kind and dtype as ``path``; or, when
        ``basepoint`` is an array or ``initial`` is given, the tuple
        ``(d_path, d_basepoint, d_initial)`` with None for an input not given.

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
    stream = check_bool(stream, "stream")
    inverse = check_bool(inverse, "inverse")
    n_jobs = check_n_jobs(n_jobs)
    torch_path = type(path) is not np.ndarray and is_torch(path)
    if torch_path:
        check_tensor(path, "path", 2, cuda_ok=True)
    else:
        path = as_array(path, "path", 2)
        if not is_torch(sig):
            sig = as_array(sig, "sig", 1)
        if not is_torch(sig_derivs):
            sig_derivs = as_array(sig_derivs, "sig_derivs", 1)
    same_kind("sig", sig, "path", path)
    same_kind("sig_derivs", sig_derivs, "path", path)
    original_length = path.shape[-2]
    path = with_basepoint(path, basepoint)
    *batch_shape, length, dim = path.shape
    d = aug_dim(dim, time_aug, lead_lag)
    scalar_term = infer_scalar_term(tuple(sig.shape), d, degree, "sig")
    expected = tuple(batch_shape) + ((max(length - 1, 0),) if stream else ()) + (sig.shape[-1],)
    if tuple(sig.shape) != expected:
        raise ValueError(f"sig must have shape {expected} (what sig() returns for path {tuple(path.shape)}), got {tuple(sig.shape)}")
    if tuple(sig_derivs.shape) != tuple(sig.shape):
        raise ValueError(f"sig_derivs must have the shape of sig {tuple(sig.shape)}, got {tuple(sig_derivs.shape)}")
    given_initial = initial is not None
    initial_len = initial.shape[-1] if given_initial else None
    initial = initial_for(initial, path, degree, time_aug, lead_lag, scalar_term)
    if torch_path:
        from . import _autograd

        d_path, d_initial = _autograd.sig_backprop(
            path, sig, sig_derivs, initial, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs
        )
    else:
        d_path, d_initial = sig_backprop_array(
            path, sig, sig_derivs, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs, stream, inverse, initial
        )
    if length != original_length:
        d_basepoint, d_path = d_path[..., 0, :], d_path[..., 1:, :]
    tuple_out = given_initial or not isinstance(basepoint, (bool, np.bool_))
    if not tuple_out:
        return d_path
    if given_initial and initial_len != d_initial.shape[-1]:
        # Back to the layout initial was given in; level 0 gets no gradient.
        if initial_len > d_initial.shape[-1]:
            zeros = d_initial[..., :1] * 0
            d_initial = torch_or_np_cat([zeros, d_initial])
        else:
            d_initial = d_initial[..., 1:]
    return d_path, (None if isinstance(basepoint, (bool, np.bool_)) else d_basepoint), d_initial


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
    stream: bool = False,
    inverse: bool = False,
    initial: Optional[np.ndarray] = None,
) -> tuple:
    """:func:`sig_backprop` on checked arguments and ndarrays (also the CPU
    kernel of the torch op): ``(d_path, d_initial or None)``, ``d_initial`` in
    the output's layout."""
    path = as_array(path, "path", 2)
    *batch_shape, length, dim = path.shape
    b = batch_size(batch_shape)
    out = empty_output((b, length, dim), path.dtype)
    d_initial = None
    if initial is not None:
        initial = as_array(initial, "initial", 1)
        d_initial = empty_output(tuple(initial.shape), path.dtype)
    native_for(_SIG_BACKPROP, path.dtype)(
        path.reshape(b, length, dim),
        as_array(sig, "sig", 1),
        as_array(sig_derivs, "sig_derivs", 1),
        out,
        initial,
        d_initial,
        degree,
        (time_aug, lead_lag, end_time, scalar_term, stream, inverse),
        n_jobs,
    )
    return out.reshape(path.shape), d_initial
