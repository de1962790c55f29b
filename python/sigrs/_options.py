"""The checked options of each op family, as one frozen record per family.

A family's public functions check their arguments once and build its
record; from there the options travel whole: to the CPU and CUDA calls,
through torch's autograd as one object, and (field by field, in this
order) through the schema of the family's ``torch.library`` ops, which
:mod:`sigrs._torch_ops` derives from the annotations below. So a field
added here reaches every layer without any argument list to keep in step.

Field types are limited to what an op schema carries: ``bool``, ``int``,
``float``, ``str`` and tuples of ints or floats.
"""

from typing import Any, NamedTuple, Tuple


def make(record_type: type, *values: Any) -> Any:
    """``record_type(*values)`` at half the cost (the records' generated
    ``__new__`` is Python code, and families build one on every call)."""
    return tuple.__new__(record_type, values)


def replace(record: Any, **changes: Any) -> Any:
    """``record`` with some fields changed: ``record._replace(**changes)`` at
    a third of its cost (it runs on every call of some ops)."""
    values = list(record)
    fields = record._fields
    for name, value in changes.items():
        values[fields.index(name)] = value
    return tuple.__new__(type(record), values)


class SigOptions(NamedTuple):
    """:func:`sigrs.sig` and :func:`sigrs.sig_backprop`."""

    degree: int
    time_aug: bool
    lead_lag: bool
    end_time: float
    scalar_term: bool
    stream: bool
    inverse: bool
    n_jobs: int


class TransformOptions(NamedTuple):
    """:func:`sigrs.transform_path` and its gradient."""

    time_aug: bool
    lead_lag: bool
    end_time: float
    n_jobs: int


class AlgebraOptions(NamedTuple):
    """Operations on signatures of ``dimension`` (after transforms) and ``degree``."""

    dimension: int
    degree: int
    scalar_term: bool
    n_jobs: int
    prepend: bool = False  # sig_join only


class LogSigOptions(NamedTuple):
    """Log-signatures; ``method`` is the core's code (0, 1, 2, or 4 for Hall)."""

    dimension: int
    degree: int
    method: int
    scalar_term: bool
    n_jobs: int


class CoefOptions(NamedTuple):
    """:func:`sigrs.sig_coef`: the words as their letters end to end and their lengths."""

    letters: Tuple[int, ...]
    lengths: Tuple[int, ...]
    time_aug: bool
    lead_lag: bool
    end_time: float
    n_jobs: int


class KernelOptions(NamedTuple):
    """Signature kernels. The static kernel is a built-in one computed in the
    core (``kernel_name`` and ``kernel_params``, ``kernel_id`` 0) or a
    user-written one (``kernel_name`` "user", found by ``kernel_id`` in
    :mod:`sigrs.static_kernels`' registry)."""

    order1: int
    order2: int
    kernel_name: str
    kernel_params: Tuple[float, ...]
    kernel_id: int
    time_aug: bool
    lead_lag: bool
    end_time: float
    n_jobs: int
    return_grid: bool = False
    max_batch: int = -1  # Gram matrices: pairs per chunk (-1: automatic)
    symmetric: bool = False  # Gram matrices: the second batch is the first
    left_deriv: bool = True  # gradients: which sides
    right_deriv: bool = True
    poly_order: int = 0  # method="polynomial": the retained degree (order1 = order2 = 0); 0: finite differences


class StaticKernelOptions(NamedTuple):
    """A built-in static kernel called directly: the core's name for it and its parameters."""

    kernel_name: str
    kernel_params: Tuple[float, ...]
