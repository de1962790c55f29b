"""Truncated signatures and their gradients: the ``sig`` op family.

Checks, then one of: the CPU call (NumPy, or a torch tensor's memory), the
CUDA call (a CUDA tensor, on torch's stream), or the torch op that wraps
both for autograd and ``torch.compile``.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any, Optional

import numpy as np

from . import _native
from ._arrays import as_array, batch_of_paths, check_tensor, checked_like, concat, empty_output, is_torch, numpy_view, same_kind
from ._checks import CORES, MAX_DEGREE, check_bool, check_degree, check_end_time, check_int, check_n_jobs
from ._op_registry import BUILT, register
from ._options import SigOptions, make
from ._shapes import aug_dim, batch_size, infer_scalar_term, sig_len, stream_rows


def sig_length(
    dimension: int,
    degree: int,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    scalar_term: bool = False,
) -> int:
    """Length of a truncated signature (plus one with ``scalar_term``).

    That is ``d + d^2 + ... + d^N`` for dimension ``d`` and degree ``N``;
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
    horner: bool = True,
    stream: bool = False,
    basepoint: Any = False,
    inverse: bool = False,
    initial: Any = None,
    scalar_term: bool = False,
    correction: Any = None,
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
        horner: accepted (a bool) for pysiglib compatibility; sigrs always
            picks its own algorithm, so it does not change the result.
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
        correction: a per-segment lift of levels ``2..m`` (``2 <= m <=
            degree``) added to each increment before exponentiating it, as in
            pysiglib: segment ``i``'s local signature is ``exp(dx_i + c_i)``.
            Each row holds ``C = d^2 + ... + d^m`` numbers (``d`` the path's
            dimension), level after level, each level's words in
            lexicographic order. Shapes: ``(C,)`` for every segment of every
            path, ``(length - 1, C)`` per segment shared by the batch, or
            ``(..., length - 1, C)`` per segment of each path. The same kind,
            dtype and device as ``path``. With ``time_aug`` the time channel
            gets no correction entries. None or an empty array: no
            correction. A ``ValueError`` with ``lead_lag``, ``stream``,
            ``inverse``, ``basepoint`` or ``initial``. Differentiable with
            respect to the correction too; CUDA tensors are computed on the
            CPU (copied there and back).
        n_jobs: threads: 1 serial, -1 all cores, ``k < -1`` all but ``-k-1``;
            more than the cores this process may use is clamped to them
            (with a ``RuntimeWarning``).

    One-dimensional paths (without ``time_aug`` and ``lead_lag``) take the
    closed form ``S_k = (x_end - x_start)^k / k!``, exact to rounding however
    far the path wanders. An output or workspace that does not fit in memory
    is a ``MemoryError`` naming it.

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

    The Ito signature of a Brownian sample (covariance ``I``): level 2 of
    each segment lifted by ``-dt I / 2``::

        >>> rng = np.random.default_rng(0)
        >>> steps, dt = 100, 0.01
        >>> w = np.concatenate([np.zeros((1, 2)), np.cumsum(rng.normal(0, dt ** 0.5, (steps, 2)), 0)])
        >>> ito = sigrs.sig(w, 3, correction=np.tile(-0.5 * dt * np.eye(2).ravel(), (steps, 1)))
        >>> ito.shape
        (14,)
    """
    if horner is not True:
        check_bool(horner, "horner")
    if correction is not None:
        out = _sig_with_correction(path, correction, degree, time_aug, lead_lag, end_time, scalar_term, stream, basepoint, inverse, initial, n_jobs)
        if out is not None:
            return out
    plain = basepoint is False and initial is None
    if plain:
        # Small calls with plain arguments: one native call checks, allocates
        # and computes; None for anything else, which the checks below handle.
        if type(path) is np.ndarray:
            out = _sig_quick(path, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs)
            if out is not None:
                return out
        elif type(path) is _tensor_type():
            out = _sig_quick_torch(path, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs)
            if out is not None:
                return out
    opts = _options(degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs)
    if type(path) is not np.ndarray and is_torch(path):
        path = check_tensor(path, "path", 2, cuda_ok=True)
        if not plain:
            path = _with_basepoint(path, basepoint)
            initial = _initial_for(initial, path, opts)
        return _ops().sig(path, initial, opts)
    path = as_array(path, "path", 2)
    if not plain:
        path = _with_basepoint(path, basepoint)
        initial = _initial_for(initial, path, opts)
    return _sig_cpu(path, initial, opts)


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
    correction: Any = None,
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
        degree, time_aug, lead_lag, end_time, stream: as given to :func:`sig`.
        basepoint, inverse, initial, n_jobs: as given to :func:`sig`.
        correction: as given to :func:`sig`; treated as a constant, as in
            pysiglib (torch autograd through :func:`sig` also gives the
            correction's gradient).

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
    if basepoint is False and initial is None and correction is None and type(path) is np.ndarray:
        # Small calls on plain arrays: one native call, or None (see sig()).
        d_path = _sig_backprop_quick(path, sig, sig_derivs, degree, time_aug, lead_lag, end_time, stream, inverse, n_jobs)
        if d_path is not None:
            return d_path
    # (the other options are checked once the scalar term is read from sig's length)
    degree, time_aug, lead_lag = check_degree(degree), check_bool(time_aug, "time_aug"), check_bool(lead_lag, "lead_lag")
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
    path = _with_basepoint(path, basepoint)
    *batch_shape, length, dim = path.shape
    scalar_term = infer_scalar_term(tuple(sig.shape), aug_dim(dim, time_aug, lead_lag), degree, "sig")
    opts = _options(degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs)
    expected = tuple(batch_shape) + ((stream_rows(length),) if opts.stream else ()) + (sig.shape[-1],)
    if tuple(sig.shape) != expected:
        raise ValueError(f"sig must have shape {expected} (what sig() returns for path {tuple(path.shape)}), got {tuple(sig.shape)}")
    if tuple(sig_derivs.shape) != tuple(sig.shape):
        raise ValueError(f"sig_derivs must have the shape of sig {tuple(sig.shape)}, got {tuple(sig_derivs.shape)}")
    if correction is not None:
        # (basepoint is refused with a correction, so path is as given)
        rows = _correction_rows(correction, path, opts, basepoint, initial)
        if rows is not None:
            return _sig_backprop_with_correction(path, rows, sig, sig_derivs, opts)
    given_initial = initial is not None
    initial_len = initial.shape[-1] if given_initial else None
    initial = _initial_for(initial, path, opts)
    if torch_path:
        d_path, d_initial = _ops().sig_backprop(path, sig, sig_derivs, initial, opts)
        d_initial = d_initial if given_initial else None
    else:
        d_path, d_initial = _sig_backprop_cpu(path, sig, sig_derivs, initial, opts)
    if length != original_length:
        d_basepoint, d_path = d_path[..., 0, :], d_path[..., 1:, :]
    tuple_out = given_initial or not isinstance(basepoint, (bool, np.bool_))
    if not tuple_out:
        return d_path
    if given_initial and initial_len != d_initial.shape[-1]:
        # Back to the layout initial was given in; level 0 gets no gradient.
        if initial_len > d_initial.shape[-1]:
            d_initial = concat([d_initial[..., :1] * 0, d_initial], -1)
        else:
            d_initial = d_initial[..., 1:]
    return d_path, (None if isinstance(basepoint, (bool, np.bool_)) else d_basepoint), d_initial


def _options(degree: Any, time_aug: Any, lead_lag: Any, end_time: Any, scalar_term: Any, stream: Any, inverse: Any, n_jobs: Any) -> SigOptions:
    # The usual arguments pass one test; anything else goes through the
    # checks, which name what is wrong (small calls cost microseconds).
    if (
        type(degree) is int and 0 <= degree <= MAX_DEGREE and type(end_time) is float and -_INF < end_time < _INF
        and type(n_jobs) is int and -CORES <= n_jobs <= CORES and n_jobs != 0 and type(time_aug) is bool and type(lead_lag) is bool
        and type(scalar_term) is bool and type(stream) is bool and type(inverse) is bool
    ):
        return make(SigOptions, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs)
    return SigOptions(
        check_degree(degree),
        check_bool(time_aug, "time_aug"),
        check_bool(lead_lag, "lead_lag"),
        check_end_time(end_time),
        check_bool(scalar_term, "scalar_term"),
        check_bool(stream, "stream"),
        check_bool(inverse, "inverse"),
        check_n_jobs(n_jobs),
    )


_INF = float("inf")
_sig_quick, _sig_backprop_quick = _native.sig_quick, _native.sig_backprop_quick


def _tensor_type() -> Any:
    """``torch.Tensor`` once torch is imported (without importing it), else a
    type no argument has."""
    global _TENSOR
    if _TENSOR is _NotTorch:
        torch = sys.modules.get("torch")
        if torch is None:
            return _NotTorch
        _TENSOR = torch.Tensor
    return _TENSOR


class _NotTorch:
    """Stands for ``torch.Tensor`` until torch is imported."""


_TENSOR: Any = _NotTorch


def _sig_quick_torch(path: Any, *options: Any) -> Any:
    """The quick path for a plain CPU tensor (C-contiguous, float32/float64,
    no autograd to record, not traced by ``torch.compile``, no lazy negation):
    its memory read in place, the result wrapped without a copy. None for
    anything else, or when the native quick path declines."""
    import torch

    dtype = path.dtype
    if (
        (dtype is torch.float64 or dtype is torch.float32) and path.layout is torch.strided and path.is_cpu
        and not path.requires_grad and not torch.compiler.is_compiling() and path.is_contiguous() and not path.is_neg()
    ):
        out = _native.sig_quick_tensor(path.data_ptr(), path.shape, dtype is torch.float64, *options)
        if out is not None:
            return torch.from_numpy(out)
    return None


# --- basepoint and initial ---------------------------------------------------------


def _with_basepoint(path: Any, basepoint: Any) -> Any:
    """``path`` with ``basepoint`` (False, True for the origin, or a point per
    batch item) prepended along the time axis."""
    if basepoint is False:
        return path
    batch_shape, dim = tuple(path.shape[:-2]), path.shape[-1]
    if basepoint is True:
        origin = path.new_zeros((*batch_shape, 1, dim)) if is_torch(path) else np.zeros((*batch_shape, 1, dim), path.dtype)
        return concat([origin, path], -2)
    if isinstance(basepoint, (bool, np.bool_)):
        return path
    basepoint = _like_path(basepoint, "basepoint", "a bool or ", path)
    if tuple(basepoint.shape) != batch_shape + (dim,):
        raise ValueError(
            f"basepoint must have shape {batch_shape + (dim,)} (the batch axes of path and its dimension), "
            f"got {tuple(basepoint.shape)}"
        )
    return concat([basepoint[..., None, :], path], -2)


def _like_path(value: Any, name: str, or_else: str, path: Any) -> Any:
    """``value`` checked as an array or tensor of the kind, dtype and device
    of ``path`` (``or_else`` names what else the argument may be)."""
    if is_torch(path) and not is_torch(value):
        raise TypeError(f"{name} must be {or_else}a torch tensor like path, got {type(value).__name__}")
    if not is_torch(path) and is_torch(value):
        raise TypeError(f"{name} must be {or_else}a NumPy array like path, got a torch tensor")
    return checked_like(value, name, 1, path, "path", cuda_ok=True)


def _initial_for(initial: Any, path: Any, opts: SigOptions) -> Any:
    """Checks ``initial`` against ``path`` and returns it in the output's
    layout (adding or dropping the scalar term), or None."""
    if initial is None:
        return None
    initial = _like_path(initial, "initial", "", path)
    d = aug_dim(path.shape[-1], opts.time_aug, opts.lead_lag)
    has_scalar = infer_scalar_term(tuple(initial.shape), d, opts.degree, "initial")
    batch_shape = tuple(path.shape[:-2])
    if tuple(initial.shape[:-1]) != batch_shape:
        raise ValueError(
            f"initial must have the batch axes of path {batch_shape}: expected shape "
            f"{batch_shape + (initial.shape[-1],)}, got {tuple(initial.shape)}"
        )
    if has_scalar and not opts.scalar_term:
        return initial[..., 1:]
    if opts.scalar_term and not has_scalar:
        ones = initial.new_ones((*batch_shape, 1)) if is_torch(initial) else np.ones((*batch_shape, 1), initial.dtype)
        return concat([ones, initial], -1)
    return initial


# --- correction ---------------------------------------------------------------------


def _correction_levels(dimension: int, degree: int, width: int) -> int:
    """The top level ``m`` of correction rows of ``width`` numbers for a path of
    ``dimension`` channels: ``width = d^2 + ... + d^m`` with ``2 <= m <= degree``
    (1 for an empty row); ValueError otherwise, naming the widths allowed."""
    if width == 0:
        return 1
    if degree < 2:
        raise ValueError(f"correction must be empty when degree < 2 (degree is {degree}, correction rows have {width} entries)")
    total, level, widths = 0, dimension, []
    for m in range(2, degree + 1):
        level *= dimension
        total += level
        widths.append(str(total))
        if total == width:
            return m
        if total > width or level == 0:
            break
    raise ValueError(
        f"correction rows must have d^2 + ... + d^m entries for the path's dimension d = {dimension} and some "
        f"2 <= m <= degree = {degree} (a prefix of tensor levels 2..degree: {', '.join(widths)}, ...), got {width}"
    )


def _correction_rows(correction: Any, path: Any, opts: SigOptions, basepoint: Any = False, initial: Any = None) -> Any:
    """``correction`` checked against ``path`` (as pysiglib checks it) and shaped
    for the core: ``(C,)``, ``(length - 1, C)``, or ``(batch, length - 1, C)`` with
    the batch axes flattened. None when it is empty (no correction)."""
    if is_torch(path):
        if not is_torch(correction):
            raise ValueError(f"correction must be a torch tensor like path, got {type(correction).__name__}")
        import torch

        if correction.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"correction must have dtype torch.float32 or torch.float64, got {correction.dtype}")
        if correction.dtype != path.dtype:
            raise ValueError(f"correction must have the dtype of path ({path.dtype}), got {correction.dtype}")
        if correction.device != path.device:
            raise ValueError(f"correction is on {correction.device} but path is on {path.device}; they must be on the same device")
        size = correction.numel()
    else:
        if is_torch(correction):
            raise ValueError("correction must be a NumPy array like path, got a torch tensor")
        if not isinstance(correction, np.ndarray):
            correction = np.asarray(correction, dtype=path.dtype)
        if correction.dtype.kind != "f" or correction.dtype.itemsize not in (4, 8):
            raise TypeError(f"correction must have dtype float32 or float64, got {correction.dtype}")
        if correction.dtype != path.dtype:
            raise ValueError(f"correction must have the dtype of path ({path.dtype}), got {correction.dtype}")
        size = correction.size
    if size == 0:
        return None
    if opts.lead_lag:
        raise ValueError("correction cannot be used with lead_lag=True")
    for name, used in (("stream=True", opts.stream), ("inverse=True", opts.inverse), ("basepoint", basepoint is not False),
                       ("initial", initial is not None)):
        if used:
            raise ValueError(f"correction cannot be combined with {name} in sigrs (give one or the other)")
    *batch_shape, length, dim = tuple(path.shape)
    segments = max(length - 1, 0)
    shape = tuple(correction.shape)
    if len(shape) == 0:
        raise ValueError(f"correction must have shape (C,), ({segments}, C) or {(*batch_shape, segments, 'C')} for path shape {tuple(path.shape)}, got ()")
    if len(shape) == 2 and shape[0] == segments:
        pass
    elif len(shape) > 1:
        expected = (*batch_shape, segments, shape[-1])
        if shape != expected:
            raise ValueError(
                f"correction must have shape (C,), ({segments}, C) or {expected} for path shape {tuple(path.shape)}, got {shape}"
            )
        correction = correction.reshape(batch_size(tuple(batch_shape)), segments, shape[-1])
    _correction_levels(dim, opts.degree, shape[-1])
    if not is_torch(correction):
        correction = np.ascontiguousarray(correction)
    return correction


def _sig_with_correction(path: Any, correction: Any, degree: Any, time_aug: Any, lead_lag: Any, end_time: Any, scalar_term: Any,
                         stream: Any, basepoint: Any, inverse: Any, initial: Any, n_jobs: Any) -> Any:
    """:func:`sig` with a correction, or None when it is empty (the plain signature)."""
    opts = _options(degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs)
    torch_path = type(path) is not np.ndarray and is_torch(path)
    path = check_tensor(path, "path", 2, cuda_ok=True) if torch_path else as_array(path, "path", 2)
    rows = _correction_rows(correction, path, opts, basepoint, initial)
    if rows is None:
        return None
    *batch_shape, length, dim = path.shape
    n = sig_len(aug_dim(dim, opts.time_aug, opts.lead_lag), opts.degree, opts.scalar_term)
    if torch_path:
        out = _ops().sig_corrected(path.reshape(batch_size(tuple(batch_shape)), length, dim), rows, opts)
    else:
        out = _sig_corrected_cpu(batch_of_paths(path), rows, opts)
    return out.reshape((*batch_shape, n))


def _sig_backprop_with_correction(path: Any, rows: Any, sig: Any, sig_derivs: Any, opts: SigOptions) -> Any:
    """dF/d(path) through a corrected signature (the correction held constant)."""
    *batch_shape, length, dim = path.shape
    b, n = batch_size(tuple(batch_shape)), sig.shape[-1]
    if is_torch(path):
        d_path, _ = _sig_corrected_backprop_impl(path.reshape(b, length, dim), rows, sig.reshape(b, n), sig_derivs.reshape(b, n), opts, False)
    else:
        d_path, _ = _sig_corrected_backprop_cpu(batch_of_paths(path), rows, sig.reshape(b, n), sig_derivs.reshape(b, n), opts, False)
    return d_path.reshape(path.shape)


def _sig_corrected_cpu(paths: np.ndarray, rows: np.ndarray, opts: SigOptions) -> np.ndarray:
    """Corrected signatures ``(B, n)`` of checked paths ``(B, L, d)``."""
    n = sig_len(aug_dim(paths.shape[-1], opts.time_aug, opts.lead_lag), opts.degree, opts.scalar_term)
    out = empty_output((paths.shape[0], n), paths.dtype)
    _native.sig_corrected(np.ascontiguousarray(paths), rows, out, opts)
    return out


def _sig_corrected_backprop_cpu(paths: np.ndarray, rows: np.ndarray, sig: np.ndarray, sig_derivs: np.ndarray, opts: SigOptions,
                                want_rows: bool) -> tuple:
    """``(dF/d(paths), dF/d(rows) or None)`` for checked arrays."""
    out = empty_output(paths.shape, paths.dtype)
    d_rows = empty_output(rows.shape, rows.dtype) if want_rows else None
    contiguous = np.ascontiguousarray
    _native.sig_corrected_backprop(contiguous(paths), rows, contiguous(sig), contiguous(sig_derivs), out, d_rows, opts)
    return out, d_rows


def _sig_corrected_impl(path: Any, rows: Any, opts: SigOptions) -> Any:
    # (no GPU kernel: CUDA tensors are computed on the CPU and moved back)
    import torch

    out = _sig_corrected_cpu(numpy_view(path.cpu()), numpy_view(rows.cpu()), opts)
    return torch.from_numpy(out).to(path.device)


def _sig_corrected_fake(path: Any, rows: Any, opts: SigOptions) -> Any:
    n = sig_len(aug_dim(path.shape[-1], opts.time_aug, opts.lead_lag), opts.degree, opts.scalar_term)
    return path.new_empty((path.shape[0], n))


def _sig_corrected_backward(saved: tuple, grad: Any, opts: SigOptions, needs: tuple) -> tuple:
    path, rows, out = saved
    d_path, d_rows = _ops().sig_corrected_backprop(path, rows, out, grad, opts)
    return d_path, (d_rows if needs[1] else None)


def _sig_corrected_backprop_impl(path: Any, rows: Any, sig: Any, sig_derivs: Any, opts: SigOptions, want_rows: bool = True) -> tuple:
    import torch

    views = (numpy_view(t.cpu()) for t in (path, rows, sig, sig_derivs))
    d_path, d_rows = _sig_corrected_backprop_cpu(*views, opts, want_rows)
    d_rows = rows.new_zeros(rows.shape) if d_rows is None else torch.from_numpy(d_rows).to(path.device)
    return torch.from_numpy(d_path).to(path.device), d_rows


def _sig_corrected_backprop_fake(path: Any, rows: Any, sig: Any, sig_derivs: Any, opts: SigOptions) -> tuple:
    return path.new_empty(path.shape), rows.new_empty(rows.shape)


# --- CPU --------------------------------------------------------------------------


def _sig_cpu(path: np.ndarray, initial: Optional[np.ndarray], opts: SigOptions) -> np.ndarray:
    """Signatures of a checked ndarray; ``initial`` already in the output's layout."""
    # (the common ranks 2 and 3 take no reshape: small calls cost microseconds)
    degree, time_aug, lead_lag, _, scalar_term, stream, _, _ = opts
    ndim = path.ndim
    paths = path if ndim == 3 else path[None] if ndim == 2 else batch_of_paths(path)
    batch, length, dim = paths.shape
    n = _native.sig_length(aug_dim(dim, time_aug, lead_lag), degree, scalar_term)
    out = empty_output((batch, stream_rows(length), n) if stream else (batch, n), path.dtype)
    if initial is not None:
        initial = as_array(initial, "initial", 1)
    _native.sig(paths, out, initial, opts)
    if ndim == 3:
        return out
    return out[0] if ndim == 2 else out.reshape(path.shape[:-2] + out.shape[1:])


def _sig_backprop_cpu(path: np.ndarray, sig: np.ndarray, sig_derivs: np.ndarray, initial: Optional[np.ndarray], opts: SigOptions) -> tuple:
    """``(d_path, d_initial or None)`` for checked, C-contiguous ndarrays, ``d_initial`` in the output's layout."""
    out = empty_output(path.shape, path.dtype)
    d_initial = None
    if initial is not None:
        initial = as_array(initial, "initial", 1)  # (a slice, when the scalar term was dropped)
        d_initial = empty_output(initial.shape, path.dtype)
    _native.sig_backprop(batch_of_paths(path), sig, sig_derivs, batch_of_paths(out), initial, d_initial, opts)
    return out, d_initial


# --- CUDA -------------------------------------------------------------------------


def _cuda_problem(path: Any, opts: SigOptions) -> Any:
    import torch

    from . import _cuda

    if opts.inverse and opts.stream:
        _cuda.unsupported("inverse=True with stream=True")
    *batch_shape, length, dim = path.shape
    return _native.CudaSigProblem(
        batch=batch_size(batch_shape), length=length, dim=dim, degree=opts.degree, time_aug=opts.time_aug,
        lead_lag=opts.lead_lag, end_time=opts.end_time, scalar_term=opts.scalar_term, stream=opts.stream,
        inverse=opts.inverse, float64=path.dtype == torch.float64,
    )


def _sig_cuda(path: Any, initial: Optional[Any], opts: SigOptions) -> Any:
    """Signatures of a CUDA tensor; ``initial`` already in the output's layout."""
    import torch

    from . import _cuda

    if opts.inverse and initial is not None:
        _cuda.unsupported("inverse=True with initial")
    problem = _cuda_problem(path, opts)
    *batch_shape, length, dim = path.shape
    b = batch_size(batch_shape)
    d = aug_dim(dim, opts.time_aug, opts.lead_lag)
    n = sig_len(d, opts.degree, opts.scalar_term)
    rows = stream_rows(length) if opts.stream else 1
    out = torch.empty((b, rows, n), dtype=path.dtype, device=path.device)
    out_shape = (*batch_shape, rows, n) if opts.stream else (*batch_shape, n)
    if opts.degree == 0 or d == 0 or b == 0 or rows == 0:
        # Only a scalar term (or nothing), or no rows at all.
        out.fill_(1.0)
        return out.reshape(out_shape)
    init = None if initial is None else _cuda.contiguous(initial, (b, n))
    place = _cuda.placement(path)
    scratch_len, _ = _native.cuda_sig_workspace(problem, place, False)
    scratch, scratch_ptr = _cuda.workspace(scratch_len, path)
    _native.cuda_sig_forward(
        problem, place, _cuda.contiguous(path, (b, length, dim)).data_ptr(), 0 if init is None else init.data_ptr(),
        out.data_ptr(), scratch_ptr,
    )
    del scratch  # torch's allocator keeps the block ordered on this stream
    return out.reshape(out_shape)


def _sig_backprop_cuda(path: Any, sig: Any, sig_derivs: Any, initial: Optional[Any], opts: SigOptions) -> tuple:
    """``(dF/d(path), dF/d(initial) or None)`` for CUDA tensors."""
    import torch

    from . import _cuda

    if opts.inverse and initial is not None:
        _cuda.unsupported("inverse=True with initial")
    problem = _cuda_problem(path, opts)
    *batch_shape, length, dim = path.shape
    b = batch_size(batch_shape)
    n = sig.shape[-1]
    rows = stream_rows(length) if opts.stream else 1
    d_initial = None if initial is None else torch.zeros((b, n), dtype=path.dtype, device=path.device)
    if opts.degree == 0 or aug_dim(dim, opts.time_aug, opts.lead_lag) == 0 or b == 0:
        return torch.zeros_like(path), (None if d_initial is None else d_initial.reshape(initial.shape))
    out = torch.empty((b, length, dim), dtype=path.dtype, device=path.device)
    place = _cuda.placement(path)
    scratch_len, incr_len = _native.cuda_sig_workspace(problem, place, True)
    scratch, scratch_ptr = _cuda.workspace(scratch_len, path)
    incr, incr_ptr = _cuda.workspace(incr_len, path)
    _native.cuda_sig_backward(
        problem,
        place,
        _cuda.contiguous(path, (b, length, dim)).data_ptr(),
        _cuda.contiguous(sig, (b, rows, n)).data_ptr(),
        _cuda.contiguous(sig_derivs, (b, rows, n)).data_ptr(),
        incr_ptr,
        0 if d_initial is None else d_initial.data_ptr(),
        scratch_ptr,
        out.data_ptr(),
    )
    del scratch, incr
    return out.reshape(path.shape), (None if d_initial is None else d_initial.reshape(initial.shape))


# --- torch ops --------------------------------------------------------------------


def _sig_impl(path: Any, initial: Optional[Any], opts: SigOptions) -> Any:
    import torch

    if path.is_cuda:
        return _sig_cuda(path, initial, opts)
    init = None if initial is None else numpy_view(initial)
    return torch.from_numpy(_sig_cpu(numpy_view(path), init, opts))


def _sig_fake(path: Any, initial: Optional[Any], opts: SigOptions) -> Any:
    n = sig_len(aug_dim(path.shape[-1], opts.time_aug, opts.lead_lag), opts.degree, opts.scalar_term)
    rows = (path.shape[-2] - 1,) if opts.stream else ()
    return path.new_empty((*path.shape[:-2], *rows, n))


def _sig_save(tensors: tuple, opts: SigOptions, output: Any) -> tuple:
    return (*tensors, output)


def _sig_backward(saved: tuple, grad: Any, opts: SigOptions, needs: tuple) -> tuple:
    path, initial, out = saved
    d_path, d_initial = _ops().sig_backprop(path, out, grad, initial, opts)
    return d_path, (None if initial is None else d_initial)


def _sig_backprop_impl(path: Any, sig: Any, sig_derivs: Any, initial: Optional[Any], opts: SigOptions) -> tuple:
    import torch

    if path.is_cuda:
        d_path, d_initial = _sig_backprop_cuda(path, sig, sig_derivs, initial, opts)
    else:
        init = None if initial is None else numpy_view(initial)
        d_path, d_initial = _sig_backprop_cpu(numpy_view(path), numpy_view(sig), numpy_view(sig_derivs), init, opts)
        d_path = torch.from_numpy(d_path)
        d_initial = None if d_initial is None else torch.from_numpy(d_initial)
    # An op returns a fixed number of tensors: no initial, no gradient (empty).
    return d_path, (path.new_empty((0,)) if d_initial is None else d_initial)


def _sig_backprop_fake(path: Any, sig: Any, sig_derivs: Any, initial: Optional[Any], opts: SigOptions) -> tuple:
    return path.new_empty(path.shape), (path.new_empty((0,)) if initial is None else initial.new_empty(initial.shape))


def _ops() -> SimpleNamespace:
    """This family's torch ops, built once torch is in use (see :mod:`sigrs._op_registry`)."""
    import sigrs._torch_ops  # noqa: F401  (its first import builds them)

    return BUILT[__name__]


def _define_ops() -> SimpleNamespace:
    from ._torch_ops import define

    return SimpleNamespace(
        sig=define(
            "sig", inputs=("path", "initial?"), options=SigOptions, impl=_sig_impl, fake=_sig_fake, save=_sig_save,
            backward=_sig_backward,
        ),
        sig_backprop=define(
            "sig_backprop", inputs=("path", "sig", "sig_derivs", "initial?"), options=SigOptions,
            impl=_sig_backprop_impl, fake=_sig_backprop_fake, outputs=2,
        ),
        sig_corrected=define(
            "sig_corrected", inputs=("path", "correction"), options=SigOptions, impl=_sig_corrected_impl,
            fake=_sig_corrected_fake, save=_sig_save, backward=_sig_corrected_backward,
        ),
        sig_corrected_backprop=define(
            "sig_corrected_backprop", inputs=("path", "correction", "sig", "sig_derivs"), options=SigOptions,
            impl=_sig_corrected_backprop_impl, fake=_sig_corrected_backprop_fake, outputs=2,
        ),
    )


register(__name__, _define_ops)
