"""The torch side: custom ops registered with ``torch.library``.

Every differentiable op follows one pattern (:func:`_define`): a custom op
whose implementation hands the tensors' memory to the Rust core without
copying, a fake implementation that only computes the output shape (so
``torch.compile`` traces through without a graph break), and an autograd
formula that calls the op's explicit ``*_backprop`` twin, itself a custom
op. Tensors that need no gradient outside of compilation skip the op
dispatcher altogether: that keeps the per-call cost of eager inference
close to the NumPy path.

This module imports torch, so it is only imported once a tensor is seen.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from . import _native
from ._checks import aug_dim, batch_size, sig_len

_NATIVE = {
    "sig": {torch.float64: _native.sig_f64, torch.float32: _native.sig_f32},
    "sig_backprop": {torch.float64: _native.sig_backprop_f64, torch.float32: _native.sig_backprop_f32},
    "transform_path": {torch.float64: _native.transform_path_f64, torch.float32: _native.transform_path_f32},
    "transform_path_backprop": {
        torch.float64: _native.transform_path_backprop_f64,
        torch.float32: _native.transform_path_backprop_f32,
    },
}


def _call_native(name: str, tensors: tuple, *args):
    """Runs a native CPU function on tensors' memory (no copies for contiguous input)."""
    fn = _NATIVE[name][tensors[0].dtype]
    arrays = [np.ascontiguousarray(t.detach().numpy()) for t in tensors]
    return torch.from_numpy(fn(*arrays, *args))


def _needs_op(*tensors: torch.Tensor) -> bool:
    """Whether the call must go through the dispatcher: for autograd or for tracing."""
    if torch.compiler.is_compiling():
        return True
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _define(name: str, schema_fn: Callable, fake: Callable) -> torch._library.custom_ops.CustomOpDef:
    op = torch.library.custom_op(f"sigrs::{name}", mutates_args=())(schema_fn)
    op.register_fake(fake)
    return op


# --- signature -----------------------------------------------------------------


def _sig_impl(
    path: torch.Tensor, degree: int, time_aug: bool, lead_lag: bool, end_time: float, scalar_term: bool, n_jobs: int
) -> torch.Tensor:
    return _call_native("sig", (path,), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)


def _sig_fake(path, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs):
    return path.new_empty((path.shape[0], sig_len(aug_dim(path.shape[2], time_aug, lead_lag), degree, scalar_term)))


def _sig_backprop_impl(
    path: torch.Tensor,
    sig: torch.Tensor,
    sig_derivs: torch.Tensor,
    degree: int,
    time_aug: bool,
    lead_lag: bool,
    end_time: float,
    scalar_term: bool,
    n_jobs: int,
) -> torch.Tensor:
    return _call_native("sig_backprop", (path, sig, sig_derivs), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)


def _sig_backprop_fake(path, sig, sig_derivs, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs):
    return torch.empty_like(path, memory_format=torch.contiguous_format)


sig_op = _define("sig", _sig_impl, _sig_fake)
sig_backprop_op = _define("sig_backprop", _sig_backprop_impl, _sig_backprop_fake)


def _sig_setup(ctx, inputs, output):
    path, *options = inputs
    ctx.save_for_backward(path, output)
    ctx.options = options


def _sig_backward(ctx, grad):
    path, out = ctx.saved_tensors
    degree, time_aug, lead_lag, end_time, scalar_term, n_jobs = ctx.options
    grad_path = None
    if ctx.needs_input_grad[0]:
        grad_path = sig_backprop_op(path, out, grad.contiguous(), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)
    return grad_path, None, None, None, None, None, None


sig_op.register_autograd(_sig_backward, setup_context=_sig_setup)


def sig(path, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs):
    *batch_shape, length, dim = path.shape
    flat = path.reshape(batch_size(batch_shape), length, dim).contiguous()
    if _needs_op(path):
        out = sig_op(flat, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)
    else:
        out = _sig_impl(flat, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)
    return out.reshape(*batch_shape, out.shape[-1])


def sig_backprop(path, sig, sig_derivs, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs):
    *batch_shape, length, dim = path.shape
    b = batch_size(batch_shape)
    args = (
        path.reshape(b, length, dim).contiguous(),
        sig.reshape(b, sig.shape[-1]).contiguous(),
        sig_derivs.reshape(b, sig.shape[-1]).contiguous(),
        degree, time_aug, lead_lag, end_time, scalar_term, n_jobs,
    )
    out = sig_backprop_op(*args) if _needs_op(path, sig, sig_derivs) else _sig_backprop_impl(*args)
    return out.reshape(path.shape)


# --- path transforms -----------------------------------------------------------


def _transform_impl(path: torch.Tensor, time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int) -> torch.Tensor:
    return _call_native("transform_path", (path,), time_aug, lead_lag, end_time, n_jobs)


def _transform_fake(path, time_aug, lead_lag, end_time, n_jobs):
    b, length, dim = path.shape
    return path.new_empty((b, 2 * length - 1 if lead_lag else length, aug_dim(dim, time_aug, lead_lag)))


def _transform_backprop_impl(
    derivs: torch.Tensor, length: int, dim: int, time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int
) -> torch.Tensor:
    return _call_native("transform_path_backprop", (derivs,), length, dim, time_aug, lead_lag, end_time, n_jobs)


def _transform_backprop_fake(derivs, length, dim, time_aug, lead_lag, end_time, n_jobs):
    return derivs.new_empty((derivs.shape[0], length, dim))


transform_op = _define("transform_path", _transform_impl, _transform_fake)
transform_backprop_op = _define("transform_path_backprop", _transform_backprop_impl, _transform_backprop_fake)


def _transform_setup(ctx, inputs, output):
    path, time_aug, lead_lag, end_time, n_jobs = inputs
    ctx.shape = (path.shape[1], path.shape[2])
    ctx.options = (time_aug, lead_lag, end_time, n_jobs)


def _transform_backward(ctx, grad):
    time_aug, lead_lag, end_time, n_jobs = ctx.options
    grad_path = transform_backprop_op(grad.contiguous(), *ctx.shape, time_aug, lead_lag, end_time, n_jobs)
    return grad_path, None, None, None, None


transform_op.register_autograd(_transform_backward, setup_context=_transform_setup)


def _transform_backprop_setup(ctx, inputs, output):
    _, _, _, time_aug, lead_lag, end_time, n_jobs = inputs
    ctx.options = (time_aug, lead_lag, end_time, n_jobs)


def _transform_backprop_backward(ctx, grad):
    # transform_path is linear in the path, so its backprop's adjoint is itself.
    time_aug, lead_lag, end_time, n_jobs = ctx.options
    return transform_op(grad.contiguous(), time_aug, lead_lag, end_time, n_jobs), None, None, None, None, None, None


transform_backprop_op.register_autograd(_transform_backprop_backward, setup_context=_transform_backprop_setup)


def transform_path(path, time_aug, lead_lag, end_time, n_jobs):
    *batch_shape, length, dim = path.shape
    flat = path.reshape(batch_size(batch_shape), length, dim).contiguous()
    if _needs_op(path):
        out = transform_op(flat, time_aug, lead_lag, end_time, n_jobs)
    else:
        out = _transform_impl(flat, time_aug, lead_lag, end_time, n_jobs)
    return out.reshape(*batch_shape, *out.shape[1:])


def transform_path_backprop(derivs, length, dim, time_aug, lead_lag, end_time, n_jobs):
    *batch_shape, length_t, dim_t = derivs.shape
    flat = derivs.reshape(batch_size(batch_shape), length_t, dim_t).contiguous()
    if _needs_op(derivs):
        out = transform_backprop_op(flat, length, dim, time_aug, lead_lag, end_time, n_jobs)
    else:
        out = _transform_backprop_impl(flat, length, dim, time_aug, lead_lag, end_time, n_jobs)
    return out.reshape(*batch_shape, length, dim)
