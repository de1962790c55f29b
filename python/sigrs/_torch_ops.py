"""The one pattern every differentiable torch op of sigrs follows.

A family describes an op by its parts (tensor inputs, its options record
from :mod:`sigrs._options`, a real and a fake implementation, what to save
and how to differentiate) and :func:`define` builds from them

* a ``torch.library`` custom op ``sigrs::<name>``, with the fake and the
  autograd formula registered, used while ``torch.compile`` traces (no
  graph break). Its schema is derived from the inputs and the options'
  annotations, and so are the ``None`` gradients of the option arguments;
* a ``torch.autograd.Function`` with the same formula, used in eager mode:
  the custom-op dispatcher costs tens of microseconds per call, which
  would dominate small inputs (the per-call rows of benches/compare.py);
* the bare implementation, when no gradient is needed.

This module imports torch (so families import it lazily, once a tensor
is seen) and knows nothing of any family: it builds the ops of every
family that registered a builder in :mod:`sigrs._op_registry` when it is
imported, into :data:`sigrs._op_registry.BUILT`.
"""

from __future__ import annotations

import typing
from typing import Any, Callable, Optional, Sequence, Tuple

import torch

from ._arrays import numpy_view
from ._op_registry import BUILDERS, BUILT

_SCHEMA_TYPES = {
    bool: "bool",
    int: "SymInt",
    float: "float",
    str: "str",
    Tuple[int, ...]: "SymInt[]",
    Tuple[float, ...]: "float[]",
}


def _schema(inputs: Sequence[str], options: type, outputs: int) -> str:
    """``(Tensor path, Tensor? initial, SymInt degree, ...) -> Tensor`` for an op."""
    args = [f"Tensor? {n[:-1]}" if n.endswith("?") else f"Tensor {n}" for n in inputs]
    for field, annotation in typing.get_type_hints(options).items():
        if annotation not in _SCHEMA_TYPES:
            raise TypeError(f"{options.__name__}.{field}: {annotation} has no op schema type")
        args.append(f"{_SCHEMA_TYPES[annotation]} {field}")
    returns = "Tensor" if outputs == 1 else "(" + ", ".join(["Tensor"] * outputs) + ")"
    return f"({', '.join(args)}) -> {returns}"


def _record(options: type, values: Sequence[Any]) -> Any:
    """The options record from its fields as the op received them (lists for tuples)."""
    return options._make(tuple(v) if isinstance(v, list) else v for v in values)


def _stash(ctx: Any, saved: tuple, opts: Any) -> None:
    """Keeps what ``save`` returned: tensors (and None) through
    ``save_for_backward``, anything else as is."""
    ctx.opts = opts
    if all(x is None or isinstance(x, torch.Tensor) for x in saved):
        ctx.save_for_backward(*saved)
        ctx.kinds = None
        return
    ctx.save_for_backward(*(x for x in saved if isinstance(x, torch.Tensor)))
    ctx.kinds = tuple(isinstance(x, torch.Tensor) for x in saved)
    ctx.others = tuple(x for x in saved if not isinstance(x, torch.Tensor))


def _unstash(ctx: Any) -> tuple:
    if ctx.kinds is None:
        return ctx.saved_tensors
    tensors, others = iter(ctx.saved_tensors), iter(ctx.others)
    return tuple(next(tensors) if kind else next(others) for kind in ctx.kinds)


def on_cpu_tensors(cpu: Callable, *, host: bool = False) -> Callable:
    """An op implementation from ``cpu(*arrays, opts)`` (NumPy arrays in, an
    array or a tuple of arrays out): the tensors' memory in and out without
    copies (None inputs stay None). ``host``: tensors on another device are
    copied to the CPU and the results moved back (for ops with no GPU code)."""

    def impl(*args: Any) -> Any:
        *tensors, opts = args
        device = tensors[0].device
        arrays = (None if t is None else numpy_view(t.cpu() if host else t) for t in tensors)
        out = cpu(*arrays, opts)
        if isinstance(out, tuple):
            return tuple(torch.from_numpy(o).to(device) if host else torch.from_numpy(o) for o in out)
        return torch.from_numpy(out).to(device) if host else torch.from_numpy(out)

    return impl


def define(
    name: str,
    *,
    inputs: Sequence[str],
    options: type,
    fake: Callable,
    impl: Optional[Callable] = None,
    cpu: Optional[Callable] = None,
    outputs: int = 1,
    save: Optional[Callable] = None,
    backward: Optional[Callable] = None,
) -> Callable:
    """Builds the op ``sigrs::<name>``: a function called as ``op(*tensors, opts)``
    (its ``custom_op`` attribute is the ``torch.library`` op).

    Args:
        inputs: the tensor arguments' names; a trailing ``?`` marks one that may be None.
        options: the family's options record (a NamedTuple from :mod:`sigrs._options`).
        impl: ``impl(*tensors, opts)``, the computation; returns a tensor, or
            a tuple of ``outputs`` tensors.
        cpu: instead of ``impl``, the computation on NumPy arrays, for ops on
            CPU tensors only (see :func:`on_cpu_tensors`).
        fake: the same signature; returns empty tensors of the right shapes.
        save: ``save(tensors, opts, output)`` returns what the backward needs
            (tensors are saved for autograd, anything else kept as is);
            default: the inputs.
        backward: ``backward(saved, grad, opts, needs)`` returns one gradient
            (or None) per tensor input; ``needs[i]`` says whether input ``i``
            needs one. None marks an op that cannot be differentiated:
            asking for its gradient raises instead of silently giving zero.
    """
    n = len(inputs)
    n_options = len(options._fields)
    if impl is None:
        impl = on_cpu_tensors(cpu)

    def flat_impl(*args: Any) -> Any:
        return impl(*args[:n], _record(options, args[n:]))

    def flat_fake(*args: Any) -> Any:
        return fake(*args[:n], _record(options, args[n:]))

    op = torch.library.custom_op(f"sigrs::{name}", flat_impl, mutates_args=(), schema=_schema(inputs, options, outputs))
    op.register_fake(flat_fake)

    def no_backward(*_: Any) -> Any:
        raise RuntimeError(f"sigrs: {name} is not differentiable (no double backward through sigrs ops)")

    def keep(ctx: Any, tensors: tuple, opts: Any, output: Any) -> None:
        _stash(ctx, tuple(tensors) if save is None else save(tensors, opts, output), opts)

    def gradients(ctx: Any, grads: tuple, needs: tuple) -> tuple:
        if backward is None:
            no_backward()
        grad = grads[0] if outputs == 1 else grads
        got = tuple(backward(_unstash(ctx), grad, ctx.opts, needs))
        if len(got) != n:
            raise RuntimeError(f"sigrs: the backward of {name} returned {len(got)} gradients for {n} inputs")
        return got

    def op_setup(ctx: Any, inputs: tuple, output: Any) -> None:
        keep(ctx, inputs[:n], _record(options, inputs[n:]), output)

    def op_backward(ctx: Any, *grads: Any) -> tuple:
        # one gradient per schema argument: the tensors', then None per option field
        return gradients(ctx, grads, tuple(ctx.needs_input_grad[:n])) + (None,) * n_options

    op.register_autograd(op_backward, setup_context=op_setup)

    class Eager(torch.autograd.Function):
        # forward(ctx, ...) rather than a separate setup_context: with the
        # latter, every apply() inspects forward's signature (~50 us).
        @staticmethod
        def forward(ctx: Any, opts: Any, *tensors: Any) -> Any:
            output = impl(*tensors, opts)
            keep(ctx, tensors, opts, output)
            return output

        @staticmethod
        def backward(ctx: Any, *grads: Any) -> tuple:
            return (None,) + gradients(ctx, grads, tuple(ctx.needs_input_grad[1:]))

    Eager.__name__ = Eager.__qualname__ = f"{name}_function"

    is_compiling, grad_enabled, apply = torch.compiler.is_compiling, torch.is_grad_enabled, Eager.apply

    def call(*args: Any) -> Any:
        # (written out: this runs on every call, and small calls cost microseconds)
        if is_compiling():
            return op(*args[:-1], *args[-1])
        if grad_enabled():
            for t in args[:-1]:
                if t is not None and t.requires_grad:
                    return apply(args[-1], *args[:-1])
        return impl(*args)

    call.__name__ = call.__qualname__ = name
    call.custom_op = op
    return call


# Build every family registered so far now, while this module is imported
# (see sigrs._op_registry).
for _family in list(BUILDERS):
    BUILT[_family]
