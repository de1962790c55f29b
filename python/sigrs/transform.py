"""Time augmentation and the lead-lag transform, materialised.

:func:`sigrs.sig` and friends apply these transforms on the fly and never
build the transformed path; these functions are for users who want it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _native
from ._checks import (
    as_array,
    aug_dim,
    batch_size,
    check_bool,
    check_end_time,
    check_n_jobs,
    check_tensor,
    empty_output,
    is_torch,
    native_for,
)

_TRANSFORM = (_native.transform_path_f64, _native.transform_path_f32)
_TRANSFORM_BACKPROP = (_native.transform_path_backprop_f64, _native.transform_path_backprop_f32)


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
    time_aug = check_bool(time_aug, "time_aug")
    lead_lag = check_bool(lead_lag, "lead_lag")
    end_time = check_end_time(end_time)
    n_jobs = check_n_jobs(n_jobs)
    if type(path) is not np.ndarray and is_torch(path):
        check_tensor(path, "path", 2, cuda_ok=True)
        if not (time_aug or lead_lag):
            return path
        from . import _autograd

        return _autograd.transform_path(path, time_aug, lead_lag, end_time, n_jobs)
    path = as_array(path, "path", 2)
    if not (time_aug or lead_lag):
        return path
    return transform_path_array(path, time_aug, lead_lag, end_time, n_jobs)


def transform_path_array(path: np.ndarray, time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int) -> np.ndarray:
    """:func:`transform_path` on checked arguments and an ndarray (also the CPU kernel of the torch op)."""
    path = as_array(path, "path", 2)
    *batch_shape, length, dim = path.shape
    b = batch_size(batch_shape)
    out = empty_output((b, transformed_length(length, lead_lag), aug_dim(dim, time_aug, lead_lag)), path.dtype)
    native_for(_TRANSFORM, path.dtype)(path.reshape(b, length, dim), out, time_aug, lead_lag, end_time, n_jobs)
    return out.reshape(*batch_shape, *out.shape[1:])


def transformed_length(length: int, lead_lag: bool) -> int:
    """Number of points after the transforms: lead-lag gives ``2 length - 1``."""
    return 2 * length - 1 if lead_lag and length > 0 else length


def original_shape(derivs_shape: tuple, time_aug: bool, lead_lag: bool) -> tuple[int, int]:
    """``(length, dim)`` of the path whose transform has shape ``derivs_shape``."""
    length_t, dim_t = derivs_shape[-2], derivs_shape[-1]
    dim = dim_t - (1 if time_aug else 0)
    length = length_t
    if lead_lag:
        if dim % 2 or length_t % 2 == 0:
            raise ValueError(
                f"derivs has shape {tuple(derivs_shape)}, which no lead-lag transform gives: expected an odd length "
                f"(2 L - 1) and {'2 d + 1' if time_aug else '2 d'} channels"
            )
        dim //= 2
        length = (length_t + 1) // 2
    if dim < 0:
        raise ValueError(f"derivs has shape {tuple(derivs_shape)}, which has no room for the time channel")
    return length, dim


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
    time_aug = check_bool(time_aug, "time_aug")
    lead_lag = check_bool(lead_lag, "lead_lag")
    end_time = check_end_time(end_time)
    n_jobs = check_n_jobs(n_jobs)
    if type(derivs) is not np.ndarray and is_torch(derivs):
        check_tensor(derivs, "derivs", 2, cuda_ok=True)
    else:
        derivs = as_array(derivs, "derivs", 2)
    if not (time_aug or lead_lag):
        return derivs
    length, dim = original_shape(tuple(derivs.shape), time_aug, lead_lag)
    if type(derivs) is not np.ndarray and is_torch(derivs):
        from . import _autograd

        return _autograd.transform_path_backprop(derivs, length, dim, time_aug, lead_lag, end_time, n_jobs)
    return transform_path_backprop_array(derivs, length, dim, time_aug, lead_lag, end_time, n_jobs)


def transform_path_backprop_array(
    derivs: np.ndarray, length: int, dim: int, time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int
) -> np.ndarray:
    """:func:`transform_path_backprop` on checked arguments and an ndarray (also the CPU kernel of the torch op)."""
    derivs = as_array(derivs, "derivs", 2)
    *batch_shape, length_t, dim_t = derivs.shape
    b = batch_size(batch_shape)
    out = empty_output((b, length, dim), derivs.dtype)
    native_for(_TRANSFORM_BACKPROP, derivs.dtype)(derivs.reshape(b, length_t, dim_t), out, time_aug, lead_lag, end_time, n_jobs)
    return out.reshape(*batch_shape, length, dim)
