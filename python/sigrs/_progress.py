"""Progress bars for the long in-memory calls (``progress=True``).

A call that asks for a bar opens one around its work; the chunk loops
below it advance whatever bar is open in the current context. A context
variable, not an argument, carries it because the chunk loops also run
inside torch ops, whose schema holds only tensors and the options record.
Nested calls (``sig_mmd`` computes three Gram matrices) advance the one bar
of the outermost call. tqdm is imported only when a bar is asked for.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

_open_bar: contextvars.ContextVar = contextvars.ContextVar("sigrs_progress_bar", default=None)


def _tqdm() -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError(
            "progress=True shows a tqdm progress bar, and tqdm is not installed: pip install tqdm "
            "(or sigrs[progress]), or leave progress=False"
        ) from None
    return tqdm


@contextlib.contextmanager
def progress_bar(total: int, what: str, unit: str = "pair") -> Iterator[Any]:
    """A tqdm bar of ``total`` units for ``what``, advanced by :func:`advance` until the block ends.

    Inside an open bar, a nested call opens none and advances the outer one."""
    if _open_bar.get() is not None:
        yield _open_bar.get()
        return
    bar = _tqdm()(total=total, desc=what, unit=unit)
    token = _open_bar.set(bar)
    try:
        yield bar
    finally:
        _open_bar.reset(token)
        bar.close()


def advance(units: int) -> None:
    """Counts ``units`` done on the open bar, if any (one context-variable read otherwise)."""
    bar = _open_bar.get()
    if bar is not None:
        bar.update(units)
