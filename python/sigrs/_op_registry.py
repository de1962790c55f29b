"""Where each family leaves the builder of its torch ops, until torch is in use.

A family module cannot import torch (NumPy users never load it), so it
registers a function that builds its ops; importing :mod:`sigrs._torch_ops`
runs every registered builder, and :data:`BUILT` runs a later one on first
use. A family finds its ops with::

    import sigrs._torch_ops  # its first import builds them

    return BUILT[__name__]

Building at import matters under ``torch.compile``, when a compiled
function is the first to use sigrs on tensors: dynamo imports a module for
real, but would try to trace a builder called from traced code (creating a
``torch.library`` op cannot be traced), and it reads :data:`BUILT` as it
was when first seen, so the import must come before any look at it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

BUILDERS: Dict[str, Callable[[], Any]] = {}


class _Built(dict):
    """The ops of each family by module name, built by its builder on first use."""

    def __missing__(self, family: str) -> Any:
        ops = self[family] = BUILDERS[family]()
        return ops


BUILT: Dict[str, Any] = _Built()


def register(family: str, build: Callable[[], Any]) -> None:
    """Records ``build`` (no arguments; returns the family's ops) under the family's module name."""
    BUILDERS[family] = build
