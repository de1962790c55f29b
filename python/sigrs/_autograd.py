"""The torch side: differentiable ops over the native kernels.

Every op follows one pattern (:func:`_differentiable`): an implementation
that hands the tensors' memory to the Rust core without copying, a fake
implementation that only computes output shapes, and a backward formula
that calls the op's explicit ``*_backprop`` twin. From these it builds

* a ``torch.library`` custom op with the fake and the autograd formula
  registered, used while ``torch.compile`` traces (no graph break);
* a ``torch.autograd.Function`` with the same formula, used in eager mode:
  the custom-op dispatcher costs tens of microseconds per call, which would
  dominate small inputs (see the per-call rows of ``benches/compare.py``);
* the bare implementation when no gradient is needed.

This module imports torch, so it is only imported once a tensor is seen.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

from .signature import sig_array, sig_backprop_array
from .transform import transform_path_array, transform_path_backprop_array
from ._checks import as_array, aug_dim, sig_len


def _np(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor's memory (copied later only if strided)."""
    return t.detach().numpy() if t.requires_grad else t.numpy()


def _differentiable(
    name: str,
    impl: Callable,
    fake: Callable,
    setup: Callable,
    backward: Optional[Callable],
    n_tensors: int,
) -> Callable:
    """Builds the custom op, its eager autograd twin and the dispatcher between them.

    The first ``n_tensors`` inputs are tensors, the rest options.
    ``backward=None`` marks an op that cannot be differentiated (again):
    asking for its gradient raises instead of silently giving zero.
    """
    op = torch.library.custom_op(f"sigrs::{name}", mutates_args=())(impl)
    op.register_fake(fake)

    def no_backward(ctx, *grads):
        raise RuntimeError(f"sigrs: {name} is not differentiable (no double backward through sigrs ops)")

    formula = backward or no_backward
    op.register_autograd(formula, setup_context=setup)

    class Eager(torch.autograd.Function):
        # forward(ctx, ...) rather than a separate setup_context: with the
        # latter, every apply() inspects forward's signature (~50 us).
        @staticmethod
        def forward(ctx, *inputs):
            output = impl(*inputs)
            setup(ctx, inputs, output)
            return output

        @staticmethod
        def backward(ctx, *grads):
            return formula(ctx, *grads)

    Eager.__name__ = Eager.__qualname__ = f"{name}_function"

    def call(*inputs):
        if torch.compiler.is_compiling():
            return op(*inputs)
        if torch.is_grad_enabled() and any(inputs[i].requires_grad for i in range(n_tensors)):
            return Eager.apply(*inputs)
        return impl(*inputs)

    call.op = op
    return call


def _keep_options(ctx, inputs, n_tensors: int) -> None:
    ctx.options = tuple(inputs[n_tensors:])


# Every op takes tensors of any rank >= 2, leading axes being batch axes, so
# the torch side never reshapes or copies: the NumPy kernels do that on views.

# --- signature -----------------------------------------------------------------


def _sig_impl(
    path: torch.Tensor, degree: int, time_aug: bool, lead_lag: bool, end_time: float, scalar_term: bool, n_jobs: int
) -> torch.Tensor:
    return torch.from_numpy(sig_array(as_array(_np(path), "path", 2), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs))


def _sig_fake(path, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs):
    n = sig_len(aug_dim(path.shape[-1], time_aug, lead_lag), degree, scalar_term)
    return path.new_empty((*path.shape[:-2], n))


def _sig_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[0], output)
    _keep_options(ctx, inputs, 1)


def _sig_backward(ctx, grad):
    path, out = ctx.saved_tensors
    grad_path = sig_backprop(path, out, grad, *ctx.options)
    return grad_path, None, None, None, None, None, None


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
    return torch.from_numpy(
        sig_backprop_array(_np(path), _np(sig), _np(sig_derivs), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)
    )


def _sig_backprop_fake(path, sig, sig_derivs, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs):
    return path.new_empty(path.shape)


sig_backprop = _differentiable("sig_backprop", _sig_backprop_impl, _sig_backprop_fake, lambda ctx, i, o: None, None, 3)
sig = _differentiable("sig", _sig_impl, _sig_fake, _sig_setup, _sig_backward, 1)


# --- path transforms -----------------------------------------------------------


def _transform_impl(path: torch.Tensor, time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(transform_path_array(_np(path), time_aug, lead_lag, end_time, n_jobs))


def _transform_fake(path, time_aug, lead_lag, end_time, n_jobs):
    *batch, length, dim = path.shape
    return path.new_empty((*batch, 2 * length - 1 if lead_lag else length, aug_dim(dim, time_aug, lead_lag)))


def _transform_backprop_impl(
    derivs: torch.Tensor, length: int, dim: int, time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int
) -> torch.Tensor:
    return torch.from_numpy(
        transform_path_backprop_array(_np(derivs), length, dim, time_aug, lead_lag, end_time, n_jobs)
    )


def _transform_backprop_fake(derivs, length, dim, time_aug, lead_lag, end_time, n_jobs):
    return derivs.new_empty((*derivs.shape[:-2], length, dim))


def _transform_setup(ctx, inputs, output):
    path = inputs[0]
    ctx.shape = (path.shape[-2], path.shape[-1])
    _keep_options(ctx, inputs, 1)


def _transform_backward(ctx, grad):
    return transform_path_backprop(grad, *ctx.shape, *ctx.options), None, None, None, None


def _transform_backprop_setup(ctx, inputs, output):
    _keep_options(ctx, inputs, 3)


def _transform_backprop_backward(ctx, grad):
    # transform_path_backprop is the adjoint of the linear part of
    # transform_path (lead-lag copies; the time channel is a constant), so
    # its own adjoint is that linear part: lead-lag, and zero for time.
    time_aug, lead_lag, end_time, n_jobs = ctx.options
    linear = transform_path(grad, False, lead_lag, end_time, n_jobs) if lead_lag else grad
    if time_aug:
        linear = torch.nn.functional.pad(linear, (0, 1))
    return linear, None, None, None, None, None, None


transform_path_backprop = _differentiable(
    "transform_path_backprop",
    _transform_backprop_impl,
    _transform_backprop_fake,
    _transform_backprop_setup,
    _transform_backprop_backward,
    1,
)
transform_path = _differentiable("transform_path", _transform_impl, _transform_fake, _transform_setup, _transform_backward, 1)
