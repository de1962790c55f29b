"""Where each family leaves the builder of its torch ops, until torch is in use.

A family module cannot import torch (NumPy users never load it), so it
registers a function that builds its ops; :mod:`sigrs._torch_ops` runs
every registered builder when it is first imported, and any later one on
first use. Building at import matters under ``torch.compile``: dynamo
imports a module for real but would try to trace a builder called from
traced code, and creating a ``torch.library`` op cannot be traced.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

BUILDERS: Dict[str, Callable[[], Any]] = {}


def register(family: str, build: Callable[[], Any]) -> None:
    """Records ``build`` (no arguments; returns the family's ops) under the family's module name."""
    BUILDERS[family] = build
