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
from . import _cuda
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
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs[:n_tensors]):
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
    path: torch.Tensor,
    initial: Optional[torch.Tensor],
    degree: int,
    time_aug: bool,
    lead_lag: bool,
    end_time: float,
    scalar_term: bool,
    stream: bool,
    inverse: bool,
    n_jobs: int,
) -> torch.Tensor:
    if path.is_cuda:
        return _cuda.sig(path, initial, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse)
    init = None if initial is None else _np(initial)
    return torch.from_numpy(
        sig_array(as_array(_np(path), "path", 2), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs, stream, inverse, init)
    )


def _sig_fake(path, initial, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs):
    n = sig_len(aug_dim(path.shape[-1], time_aug, lead_lag), degree, scalar_term)
    if stream:
        return path.new_empty((*path.shape[:-2], path.shape[-2] - 1, n))
    return path.new_empty((*path.shape[:-2], n))


def _sig_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[0], inputs[1], output)
    _keep_options(ctx, inputs, 2)


def _sig_backward(ctx, grad):
    path, initial, out = ctx.saved_tensors
    degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs = ctx.options
    grad_path, grad_initial = sig_backprop(
        path, out, grad, initial, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs
    )
    return grad_path, (None if initial is None else grad_initial), None, None, None, None, None, None, None, None


def _sig_backprop_impl(
    path: torch.Tensor,
    sig: torch.Tensor,
    sig_derivs: torch.Tensor,
    initial: Optional[torch.Tensor],
    degree: int,
    time_aug: bool,
    lead_lag: bool,
    end_time: float,
    scalar_term: bool,
    stream: bool,
    inverse: bool,
    n_jobs: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    if path.is_cuda:
        d_path, d_initial = _cuda.sig_backprop(
            path, sig, sig_derivs, initial, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse
        )
        return d_path, (path.new_empty((0,)) if d_initial is None else d_initial)
    init = None if initial is None else _np(initial)
    d_path, d_initial = sig_backprop_array(
        _np(path), _np(sig), _np(sig_derivs), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs, stream, inverse, init
    )
    # A custom op returns a fixed number of tensors: no initial, no gradient (empty).
    return torch.from_numpy(d_path), (path.new_empty((0,)) if d_initial is None else torch.from_numpy(d_initial))


def _sig_backprop_fake(path, sig, sig_derivs, initial, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs):
    return path.new_empty(path.shape), (path.new_empty((0,)) if initial is None else initial.new_empty(initial.shape))


_sig_backprop_op = _differentiable("sig_backprop", _sig_backprop_impl, _sig_backprop_fake, lambda ctx, i, o: None, None, 4)
sig = _differentiable("sig", _sig_impl, _sig_fake, _sig_setup, _sig_backward, 2)


def sig_backprop(path, sig, sig_derivs, initial, *options):
    """``(d_path, d_initial or None)`` through the ``sigrs::sig_backprop`` op."""
    d_path, d_initial = _sig_backprop_op(path, sig, sig_derivs, initial, *options)
    return d_path, (None if initial is None else d_initial)


# --- path transforms -----------------------------------------------------------


def _transform_impl(path: torch.Tensor, time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int) -> torch.Tensor:
    if path.is_cuda:
        return _cuda.transform_path(path, time_aug, lead_lag, end_time)
    return torch.from_numpy(transform_path_array(_np(path), time_aug, lead_lag, end_time, n_jobs))


def _transform_fake(path, time_aug, lead_lag, end_time, n_jobs):
    *batch, length, dim = path.shape
    return path.new_empty((*batch, 2 * length - 1 if lead_lag else length, aug_dim(dim, time_aug, lead_lag)))


def _transform_backprop_impl(
    derivs: torch.Tensor, length: int, dim: int, time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int
) -> torch.Tensor:
    if derivs.is_cuda:
        return _cuda.transform_path_backprop(derivs, length, dim, time_aug, lead_lag)
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


# --- operations on signatures (sigrs.algebra) -------------------------------------

from . import algebra as _alg  # noqa: E402  (algebra imports nothing from here at import time)


def _options_setup(n_tensors: int) -> Callable:
    def setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:n_tensors])
        _keep_options(ctx, inputs, n_tensors)

    return setup


def _no_setup(ctx, inputs, output):
    return None


def _combine_impl(sig1: torch.Tensor, sig2: torch.Tensor, d: int, degree: int, scalar_term: bool, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_alg.sig_combine_array(_np(sig1), _np(sig2), d, degree, scalar_term, n_jobs))


def _combine_backprop_impl(
    deriv: torch.Tensor, sig1: torch.Tensor, sig2: torch.Tensor, d: int, degree: int, scalar_term: bool, n_jobs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    g1, g2 = _alg.sig_combine_backprop_array(_np(deriv), _np(sig1), _np(sig2), d, degree, scalar_term, n_jobs)
    return torch.from_numpy(g1), torch.from_numpy(g2)


def _combine_backward(ctx, grad):
    sig1, sig2 = ctx.saved_tensors
    g1, g2 = sig_combine_backprop(grad, sig1, sig2, *ctx.options)
    return g1, g2, None, None, None, None


sig_combine_backprop = _differentiable(
    "sig_combine_backprop",
    _combine_backprop_impl,
    lambda deriv, sig1, sig2, *o: (sig1.new_empty(sig1.shape), sig1.new_empty(sig1.shape)),
    _no_setup,
    None,
    3,
)
sig_combine = _differentiable(
    "sig_combine", _combine_impl, lambda sig1, sig2, *o: sig1.new_empty(sig1.shape), _options_setup(2), _combine_backward, 2
)


def _multi_impl(sigs: torch.Tensor, d: int, degree: int, scalar_term: bool, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_alg.multi_sig_combine_array(_np(sigs), d, degree, scalar_term, n_jobs))


def _multi_backprop_impl(derivs: torch.Tensor, sigs: torch.Tensor, d: int, degree: int, scalar_term: bool, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_alg.multi_sig_combine_backprop_array(_np(derivs), _np(sigs), d, degree, scalar_term, n_jobs))


def _multi_backward(ctx, grad):
    (sigs,) = ctx.saved_tensors
    return multi_sig_combine_backprop(grad, sigs, *ctx.options), None, None, None, None


multi_sig_combine_backprop = _differentiable(
    "multi_sig_combine_backprop", _multi_backprop_impl, lambda derivs, sigs, *o: sigs.new_empty(sigs.shape), _no_setup, None, 2
)
multi_sig_combine = _differentiable(
    "multi_sig_combine",
    _multi_impl,
    lambda sigs, *o: sigs.new_empty((*sigs.shape[:-2], sigs.shape[-1])),
    _options_setup(1),
    _multi_backward,
    1,
)


def _join_impl(sig: torch.Tensor, displacement: torch.Tensor, d: int, degree: int, scalar_term: bool, prepend: bool, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_alg.sig_join_array(_np(sig), _np(displacement), d, degree, scalar_term, prepend, n_jobs))


def _join_backprop_impl(
    d_out: torch.Tensor, sig: torch.Tensor, displacement: torch.Tensor, d: int, degree: int, scalar_term: bool, prepend: bool, n_jobs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    g_sig, g_disp = _alg.sig_join_backprop_array(_np(d_out), _np(sig), _np(displacement), d, degree, scalar_term, prepend, n_jobs)
    return torch.from_numpy(g_sig), torch.from_numpy(g_disp)


def _join_backward(ctx, grad):
    sig, displacement = ctx.saved_tensors
    g_sig, g_disp = sig_join_backprop(grad, sig, displacement, *ctx.options)
    return g_sig, g_disp, None, None, None, None, None


sig_join_backprop = _differentiable(
    "sig_join_backprop",
    _join_backprop_impl,
    lambda d_out, sig, disp, *o: (sig.new_empty(sig.shape), disp.new_empty(disp.shape)),
    _no_setup,
    None,
    3,
)
sig_join = _differentiable(
    "sig_join", _join_impl, lambda sig, disp, *o: sig.new_empty(sig.shape), _options_setup(2), _join_backward, 2
)


def _linear_impl(displacement: torch.Tensor, d: int, degree: int, scalar_term: bool, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_alg.linear_sig_array(_np(displacement), d, degree, scalar_term, n_jobs))


def _linear_fake(displacement, d, degree, scalar_term, n_jobs):
    return displacement.new_empty((*displacement.shape[:-1], sig_len(d, degree, scalar_term)))


def _linear_backprop_impl(derivs: torch.Tensor, displacement: torch.Tensor, d: int, degree: int, scalar_term: bool, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_alg.linear_sig_backprop_array(_np(derivs), _np(displacement), d, degree, scalar_term, n_jobs))


def _linear_backward(ctx, grad):
    (displacement,) = ctx.saved_tensors
    return linear_sig_backprop(grad, displacement, *ctx.options), None, None, None, None


linear_sig_backprop = _differentiable(
    "linear_sig_backprop", _linear_backprop_impl, lambda derivs, disp, *o: disp.new_empty(disp.shape), _no_setup, None, 2
)
linear_sig = _differentiable("linear_sig", _linear_impl, _linear_fake, _options_setup(1), _linear_backward, 1)


def _inverse_impl(sig: torch.Tensor, d: int, degree: int, scalar_term: bool, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_alg.sig_inverse_array(_np(sig), d, degree, scalar_term, False, n_jobs))


def _inverse_transpose_impl(grad: torch.Tensor, d: int, degree: int, scalar_term: bool, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_alg.sig_inverse_array(_np(grad), d, degree, scalar_term, True, n_jobs))


def _inverse_backward(ctx, grad):
    return _inverse_transpose(grad, *ctx.options), None, None, None, None


def _inverse_transpose_backward(ctx, grad):
    # The antipode is linear and its own transpose: the gradient of its
    # transpose is the antipode again (level 0 carries no gradient).
    return _inverse_transpose(grad, *ctx.options), None, None, None, None


_inverse_transpose = _differentiable(
    "sig_inverse_transpose",
    _inverse_transpose_impl,
    lambda grad, *o: grad.new_empty(grad.shape),
    lambda ctx, inputs, output: _keep_options(ctx, inputs, 1),
    _inverse_transpose_backward,
    1,
)
sig_inverse = _differentiable(
    "sig_inverse",
    _inverse_impl,
    lambda sig, *o: sig.new_empty(sig.shape),
    lambda ctx, inputs, output: _keep_options(ctx, inputs, 1),
    _inverse_backward,
    1,
)


# --- log-signatures (sigrs.logsig) ------------------------------------------------

from . import logsig as _logsig  # noqa: E402


def _to_log_impl(sig: torch.Tensor, d: int, degree: int, scalar_term: bool, method: int, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_logsig.sig_to_log_sig_array(_np(sig), d, degree, scalar_term, method, n_jobs))


def _to_log_fake(sig, d, degree, scalar_term, method, n_jobs):
    # The Lyndon count is a plain integer of (d, degree): computing it here is shape logic.
    return sig.new_empty((*sig.shape[:-1], _native_log_sig_length(d, degree, method, scalar_term)))


def _native_log_sig_length(d, degree, method, scalar_term):
    from . import _native

    return _native.log_sig_length(d, degree, method, scalar_term)


def _to_log_backprop_impl(
    sig: torch.Tensor, derivs: torch.Tensor, d: int, degree: int, scalar_term: bool, method: int, n_jobs: int
) -> torch.Tensor:
    return torch.from_numpy(_logsig.sig_to_log_sig_backprop_array(_np(sig), _np(derivs), d, degree, scalar_term, method, n_jobs))


def _to_log_backward(ctx, grad):
    (sig,) = ctx.saved_tensors
    return sig_to_log_sig_backprop(sig, grad, *ctx.options), None, None, None, None, None


sig_to_log_sig_backprop = _differentiable(
    "sig_to_log_sig_backprop", _to_log_backprop_impl, lambda sig, derivs, *o: sig.new_empty(sig.shape), _no_setup, None, 2
)
sig_to_log_sig = _differentiable("sig_to_log_sig", _to_log_impl, _to_log_fake, _options_setup(1), _to_log_backward, 1)


def _from_log_impl(log_sig: torch.Tensor, d: int, degree: int, method: int, scalar_term: bool, n_jobs: int) -> torch.Tensor:
    return torch.from_numpy(_logsig.logsig_to_sig_array(_np(log_sig), d, degree, method, scalar_term, n_jobs))


def _from_log_fake(log_sig, d, degree, method, scalar_term, n_jobs):
    return log_sig.new_empty((*log_sig.shape[:-1], sig_len(d, degree, scalar_term)))


def _from_log_backprop_impl(
    log_sig: torch.Tensor, derivs: torch.Tensor, d: int, degree: int, method: int, scalar_term: bool, n_jobs: int
) -> torch.Tensor:
    return torch.from_numpy(_logsig.logsig_to_sig_backprop_array(_np(log_sig), _np(derivs), d, degree, method, scalar_term, n_jobs))


def _from_log_backward(ctx, grad):
    (log_sig,) = ctx.saved_tensors
    return logsig_to_sig_backprop(log_sig, grad, *ctx.options), None, None, None, None, None


logsig_to_sig_backprop = _differentiable(
    "logsig_to_sig_backprop", _from_log_backprop_impl, lambda ls, derivs, *o: ls.new_empty(ls.shape), _no_setup, None, 2
)
logsig_to_sig = _differentiable("logsig_to_sig", _from_log_impl, _from_log_fake, _options_setup(1), _from_log_backward, 1)


# --- signature coefficients ----------------------------------------------------
# Words travel as a flat letter list and their lengths (int lists are what a
# custom op's schema can carry). The op always returns the prefixes layout,
# which its backward needs; sigrs.sig_coef selects the words' own entries.

from . import coef as _coef  # noqa: E402


def _coef_impl(
    path: torch.Tensor, letters: list[int], lengths: list[int], time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int
) -> torch.Tensor:
    words = _coef.words_from_flat(letters, lengths)
    return torch.from_numpy(_coef.sig_coef_array(_np(path), words, time_aug, lead_lag, end_time, True, n_jobs))


def _coef_fake(path, letters, lengths, time_aug, lead_lag, end_time, n_jobs):
    return path.new_empty((*path.shape[:-2], sum(max(k, 1) for k in lengths)))


def _coef_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[0], output)
    _keep_options(ctx, inputs, 1)


def _coef_backward(ctx, grad):
    path, coefs = ctx.saved_tensors
    return (sig_coef_backprop(path, coefs, grad.contiguous(), *ctx.options),) + (None,) * 6


def _coef_backprop_impl(
    path: torch.Tensor,
    coefs: torch.Tensor,
    derivs: torch.Tensor,
    letters: list[int],
    lengths: list[int],
    time_aug: bool,
    lead_lag: bool,
    end_time: float,
    n_jobs: int,
) -> torch.Tensor:
    words = _coef.words_from_flat(letters, lengths)
    return torch.from_numpy(
        _coef.sig_coef_backprop_array(_np(path), words, _np(coefs), _np(derivs), time_aug, lead_lag, end_time, n_jobs)
    )


sig_coef_backprop = _differentiable(
    "sig_coef_backprop", _coef_backprop_impl, lambda path, coefs, derivs, *o: path.new_empty(path.shape), _no_setup, None, 3
)
sig_coef = _differentiable("sig_coef", _coef_impl, _coef_fake, _coef_setup, _coef_backward, 1)


# --- signature kernels -----------------------------------------------------------
# Plain autograd Functions (no torch.library op: the options include a Python
# static-kernel object). Forward saves only the paths; backward recomputes the
# PDE grids, chunk by chunk for Gram matrices, and differentiates only the
# sides torch asks for.

from . import kernel as _kernel  # noqa: E402


class _SigKernelFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, path1, path2, opts, return_grid):
        x, y = _kernel._flat(_np(path1)), _kernel._flat(_np(path2))
        ctx.save_for_backward(path1, path2)
        ctx.opts, ctx.return_grid = opts, return_grid
        return torch.from_numpy(_kernel.pair_kernels(x, y, opts, return_grid))

    @staticmethod
    def backward(ctx, grad):
        path1, path2 = ctx.saved_tensors
        left, right = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        x, y = _kernel._flat(_np(path1)), _kernel._flat(_np(path2))
        gx, gy = _kernel.pair_kernels_backprop(
            grad.detach().contiguous().numpy(), x, y, ctx.opts, left, right, None, ctx.return_grid
        )
        gx = None if gx is None else torch.from_numpy(gx).reshape(path1.shape)
        gy = None if gy is None else torch.from_numpy(gy).reshape(path2.shape)
        return gx, gy, None, None


def sig_kernel(path1: torch.Tensor, path2: torch.Tensor, opts, return_grid: bool) -> torch.Tensor:
    if torch.is_grad_enabled() and (path1.requires_grad or path2.requires_grad):
        return _SigKernelFunction.apply(path1, path2, opts, return_grid)
    x, y = _kernel._flat(_np(path1)), _kernel._flat(_np(path2))
    return torch.from_numpy(_kernel.pair_kernels(x, y, opts, return_grid))


class _SigKernelGramFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, path1, path2, symmetric, opts, max_batch, return_grid):
        x = _kernel._flat(_np(path1))
        y = x if symmetric else _kernel._flat(_np(path2))
        ctx.save_for_backward(path1, path2)
        ctx.options = (symmetric, opts, max_batch)
        return torch.from_numpy(_kernel.gram_array(x, y, symmetric, opts, max_batch, return_grid))

    @staticmethod
    def backward(ctx, grad):
        path1, path2 = ctx.saved_tensors
        symmetric, opts, max_batch = ctx.options
        x = _kernel._flat(_np(path1))
        y = x if symmetric else _kernel._flat(_np(path2))
        left, right = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gx, gy = _kernel.gram_backprop_array(grad.detach().contiguous().numpy(), x, y, symmetric, opts, max_batch, left, right)
        if symmetric:
            # one tensor passed twice: its whole gradient goes to the first slot
            return torch.from_numpy(gx).reshape(path1.shape), None, None, None, None, None
        gx = None if gx is None else torch.from_numpy(gx).reshape(path1.shape)
        gy = None if gy is None else torch.from_numpy(gy).reshape(path2.shape)
        return gx, gy, None, None, None, None


def sig_kernel_gram(path1, path2, symmetric: bool, opts, max_batch: int, return_grid: bool) -> torch.Tensor:
    if return_grid and torch.is_grad_enabled() and (path1.requires_grad or path2.requires_grad):
        raise ValueError("sig_kernel_gram(return_grid=True) is not differentiable; use sig_kernel on the pairs you need")
    if torch.is_grad_enabled() and (path1.requires_grad or path2.requires_grad):
        return _SigKernelGramFunction.apply(path1, path2, symmetric, opts, max_batch, return_grid)
    x = _kernel._flat(_np(path1))
    y = x if symmetric else _kernel._flat(_np(path2))
    return torch.from_numpy(_kernel.gram_array(x, y, symmetric, opts, max_batch, return_grid))
