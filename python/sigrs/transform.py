"""Time augmentation and the lead-lag transform, materialised.

:func:`sigrs.sig` and friends apply these transforms on the fly and never
build the transformed path; these functions are for users who want it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from . import _native
from ._arrays import as_array, batch_of_paths, check_tensor, empty_output, is_torch, numpy_view
from ._checks import check_bool, check_end_time, check_n_jobs
from ._op_registry import BUILT, register
from ._options import TransformOptions, make, replace
from ._shapes import aug_dim, batch_size, transformed_length, untransformed_shape


def _options(time_aug: Any, lead_lag: Any, end_time: Any, n_jobs: Any) -> TransformOptions:
    checked = check_bool(time_aug, "time_aug"), check_bool(lead_lag, "lead_lag"), check_end_time(end_time), check_n_jobs(n_jobs)
    return make(TransformOptions, *checked)


def transform_path(
    path: Any,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = -1,
) -> Any:
    """Applies lead-lag and/or time augmentation to a path or a batch of paths.

    Lead-lag gives ``2 length - 1`` points with channels ``(lag, lead)``:
    point ``2i`` is ``(x_i, x_i)`` and point ``2i+1`` is ``(x_i, x_{i+1})``.
    Time augmentation then appends time, running evenly from 0 to
    ``end_time``, as the last channel (a single point gets time 0).

    Args:
        path: ``(..., length, dim)`` NumPy array or torch tensor.

    Returns:
        ``(..., length', dim')`` with ``length' = 2 length - 1`` under lead-lag
        and ``dim' = 2 dim (+ 1)``; ``path`` itself when no transform is asked
        for. Differentiable through torch autograd.

    Example::

        >>> sigrs.transform_path(np.array([[0.0], [1.0]]), lead_lag=True, time_aug=True)
        array([[0. , 0. , 0. ],
               [0. , 1. , 0.5],
               [1. , 1. , 1. ]])
    """
    opts = _options(time_aug, lead_lag, end_time, n_jobs)
    if type(path) is not np.ndarray and is_torch(path):
        check_tensor(path, "path", 2, cuda_ok=True)
        if not (opts.time_aug or opts.lead_lag):
            return path
        return _ops().transform_path(path, opts)
    path = as_array(path, "path", 2)
    if not (opts.time_aug or opts.lead_lag):
        return path
    return _transform_cpu(path, opts)


def transform_path_backprop(
    derivs: Any,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = -1,
) -> Any:
    """Gradient through :func:`transform_path`.

    Args:
        derivs: ``(..., length', dim')``, dF/d(transformed path).

    Returns:
        ``(..., length, dim)``, dF/d(path). The time channel does not depend
        on the path and contributes nothing.

    Example::

        >>> g = np.ones((3, 3))  # gradient w.r.t. a lead-lag + time path of 2 points in 1 dim
        >>> sigrs.transform_path_backprop(g, lead_lag=True, time_aug=True)
        array([[3.],
               [3.]])
    """
    opts = _options(time_aug, lead_lag, end_time, n_jobs)
    torch_in = type(derivs) is not np.ndarray and is_torch(derivs)
    derivs = check_tensor(derivs, "derivs", 2, cuda_ok=True) if torch_in else as_array(derivs, "derivs", 2)
    if not (opts.time_aug or opts.lead_lag):
        return derivs
    untransformed_shape(tuple(derivs.shape), opts.time_aug, opts.lead_lag, "derivs")
    if torch_in:
        return _ops().transform_path_backprop(derivs, opts)
    return _transform_backprop_cpu(derivs, opts)


# --- CPU --------------------------------------------------------------------------


def _transform_cpu(path: np.ndarray, opts: TransformOptions) -> np.ndarray:
    *batch_shape, length, dim = path.shape
    out = empty_output((batch_size(batch_shape), transformed_length(length, opts.lead_lag), aug_dim(dim, opts.time_aug, opts.lead_lag)), path.dtype)
    _native.transform_path(batch_of_paths(path), out, opts)
    return out.reshape(*batch_shape, *out.shape[1:])


def _transform_backprop_cpu(derivs: np.ndarray, opts: TransformOptions) -> np.ndarray:
    *batch_shape, _, _ = derivs.shape
    length, dim = untransformed_shape(derivs.shape, opts.time_aug, opts.lead_lag, "derivs")
    out = empty_output((batch_size(batch_shape), length, dim), derivs.dtype)
    _native.transform_path_backprop(batch_of_paths(derivs), out, opts)
    return out.reshape(*batch_shape, length, dim)


# --- CUDA -------------------------------------------------------------------------


def _transform_cuda(path: Any, opts: TransformOptions) -> Any:
    import torch

    from . import _cuda

    *batch_shape, length, dim = path.shape
    b = batch_size(tuple(batch_shape))
    out_len, out_dim = transformed_length(length, opts.lead_lag), aug_dim(dim, opts.time_aug, opts.lead_lag)
    out = torch.empty((b, out_len, out_dim), dtype=path.dtype, device=path.device)
    problem = _native.CudaTransformProblem(
        batch=b, length=length, dim=dim, time_aug=opts.time_aug, lead_lag=opts.lead_lag, end_time=opts.end_time,
        float64=path.dtype == torch.float64,
    )
    _native.cuda_transform_path(problem, _cuda.placement(path), _cuda.contiguous(path, (b, length, dim)).data_ptr(), out.data_ptr())
    return out.reshape(*batch_shape, out_len, out_dim)


def _transform_backprop_cuda(derivs: Any, opts: TransformOptions) -> Any:
    import torch

    from . import _cuda

    batch_shape = tuple(derivs.shape[:-2])
    b = batch_size(batch_shape)
    length, dim = untransformed_shape(derivs.shape, opts.time_aug, opts.lead_lag, "derivs")
    out = torch.empty((b, length, dim), dtype=derivs.dtype, device=derivs.device)
    problem = _native.CudaTransformProblem(
        batch=b, length=length, dim=dim, time_aug=opts.time_aug, lead_lag=opts.lead_lag, end_time=opts.end_time,
        float64=derivs.dtype == torch.float64,
    )
    g = _cuda.contiguous(derivs, (b, derivs.shape[-2], derivs.shape[-1]))
    _native.cuda_transform_path_backprop(problem, _cuda.placement(derivs), g.data_ptr(), out.data_ptr())
    return out.reshape(*batch_shape, length, dim)


# --- torch ops --------------------------------------------------------------------


def _transform_impl(path: Any, opts: TransformOptions) -> Any:
    import torch

    if path.is_cuda:
        return _transform_cuda(path, opts)
    return torch.from_numpy(_transform_cpu(numpy_view(path), opts))


def _transform_fake(path: Any, opts: TransformOptions) -> Any:
    *batch, length, dim = path.shape
    return path.new_empty((*batch, transformed_length(length, opts.lead_lag), aug_dim(dim, opts.time_aug, opts.lead_lag)))


def _transform_backward(saved: tuple, grad: Any, opts: TransformOptions, needs: tuple) -> tuple:
    return (_ops().transform_path_backprop(grad, opts),)


def _transform_backprop_impl(derivs: Any, opts: TransformOptions) -> Any:
    import torch

    if derivs.is_cuda:
        return _transform_backprop_cuda(derivs, opts)
    return torch.from_numpy(_transform_backprop_cpu(numpy_view(derivs), opts))


def _transform_backprop_fake(derivs: Any, opts: TransformOptions) -> Any:
    length, dim = untransformed_shape(derivs.shape, opts.time_aug, opts.lead_lag, "derivs")
    return derivs.new_empty((*derivs.shape[:-2], length, dim))


def _transform_backprop_backward(saved: tuple, grad: Any, opts: TransformOptions, needs: tuple) -> tuple:
    # transform_path_backprop is the adjoint of the linear part of
    # transform_path (lead-lag copies; the time channel is a constant), so
    # its own adjoint is that linear part: lead-lag, and zero for time.
    import torch

    linear = _ops().transform_path(grad, replace(opts, time_aug=False)) if opts.lead_lag else grad
    if opts.time_aug:
        linear = torch.nn.functional.pad(linear, (0, 1))
    return (linear,)


def _ops() -> SimpleNamespace:
    """This family's torch ops, built once torch is in use (see :mod:`sigrs._op_registry`)."""
    import sigrs._torch_ops  # noqa: F401  (its first import builds them)

    return BUILT[__name__]


def _define_ops() -> SimpleNamespace:
    from ._torch_ops import define

    return SimpleNamespace(
        transform_path=define(
            "transform_path", inputs=("path",), options=TransformOptions, impl=_transform_impl, fake=_transform_fake,
            save=lambda tensors, opts, output: (), backward=_transform_backward,
        ),
        transform_path_backprop=define(
            "transform_path_backprop", inputs=("derivs",), options=TransformOptions, impl=_transform_backprop_impl,
            fake=_transform_backprop_fake, save=lambda tensors, opts, output: (), backward=_transform_backprop_backward,
        ),
    )


register(__name__, _define_ops)
