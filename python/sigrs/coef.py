"""Signature coefficients at chosen words, computed without the signature.

:func:`sig_coef` costs about ``length * sum(len(w) ** 2)`` operations per
path, whatever the dimension, so a few coefficients of long words in high
dimension are cheap where the full signature would not fit in memory. For
many words of a low degree, :func:`sigrs.sig` followed by
:func:`sigrs.extract_sig_coef` is faster.
"""

from __future__ import annotations

from itertools import chain
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import _native
from ._arrays import batch_of_paths, checked, checked_like, empty_output, is_torch
from ._checks import check_bool, check_end_time, check_n_jobs, check_word
from ._op_registry import BUILT, register
from ._options import CoefOptions, make
from ._shapes import aug_dim


def check_words(words: Any, dimension: int, name: str = "words") -> list[tuple[int, ...]]:
    """``words`` (one word as a tuple, or a list of words, each a tuple or list
    of ints in ``[0, dimension)``) as a non-empty list of tuples."""
    if isinstance(words, tuple):
        words = [words]
    elif not isinstance(words, list):
        raise TypeError(
            f"{name} must be a word (a tuple of ints) or a list of words, got {type(words).__name__} {words!r}"
        )
    if not words:
        raise ValueError(f"{name} must hold at least one word, got an empty list")
    checked_words = []
    for word in words:
        if not isinstance(word, (tuple, list)):
            raise TypeError(
                f"each word in {name} must be a tuple or list of ints, got {type(word).__name__} {word!r} "
                "(for a single word pass a tuple, e.g. (0, 1), or wrap it in a list: [(0, 1)])"
            )
        checked_words.append(check_word(word, name, alphabet=dimension, what=" (the dimension of the transformed path)"))
    return checked_words


def coef_length(lengths: Any, prefixes: bool) -> int:
    """Entries per path for words of these ``lengths``: one per word, or with
    ``prefixes`` one per non-empty prefix of each word (one for the empty word)."""
    return sum(max(k, 1) for k in lengths) if prefixes else len(lengths)


def _final_positions(lengths: Any) -> list[int]:
    """Where each word's own coefficient sits in the ``prefixes=True`` layout."""
    positions, at = [], 0
    for k in lengths:
        at += max(k, 1)
        positions.append(at - 1)
    return positions


def _prepare(path: Any, words: Any, time_aug: Any, lead_lag: Any, end_time: Any, n_jobs: Any) -> tuple:
    """The checked path and the options (with the checked words)."""
    time_aug = check_bool(time_aug, "time_aug")
    lead_lag = check_bool(lead_lag, "lead_lag")
    end_time = check_end_time(end_time)
    n_jobs = check_n_jobs(n_jobs)
    path = checked(path, "path", 2)
    words = check_words(words, aug_dim(path.shape[-1], time_aug, lead_lag))
    letters, lengths = tuple(chain.from_iterable(words)), tuple(map(len, words))
    return path, make(CoefOptions, letters, lengths, time_aug, lead_lag, end_time, n_jobs)


def sig_coef(
    path: Any,
    words: Any,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    prefixes: bool = False,
    n_jobs: int = -1,
) -> Any:
    """Signature coefficients ``S(x)^w`` of a path or a batch of paths at the
    given words, without computing the signature (pysiglib's ``sig_coef``).

    Args:
        path: ``(..., length, dim)`` NumPy array or torch tensor.
        words: one word (a tuple of letters in ``[0, dim')``, ``dim'`` the
            dimension after ``lead_lag``/``time_aug``) or a list of words. Any
            length, including the empty word (coefficient 1) and words longer
            than any degree you would truncate a signature at; repeats allowed.
        time_aug, lead_lag, end_time, n_jobs: as in :func:`sigrs.sig`.
        prefixes: also return the coefficients of every non-empty prefix of
            each word, shortest first (one entry for the empty word). These
            come for free, and :func:`sig_coef_backprop` needs them.

    Returns:
        ``(..., n)`` with ``n = len(words)``, or ``sum(max(len(w), 1))`` with
        ``prefixes``. Differentiable for torch.

    Example::

        >>> x = np.random.rand(10, 100, 5)
        >>> sigrs.sig_coef(x, [(0,), (1, 0), (1, 2, 3)]).shape
        (10, 3)
        >>> sigrs.sig_coef(x, [(4, 3), (1, 2, 3)], prefixes=True).shape  # (4,), (4,3), (1,), (1,2), (1,2,3)
        (10, 5)
    """
    path, opts = _prepare(path, words, time_aug, lead_lag, end_time, n_jobs)
    prefixes = check_bool(prefixes, "prefixes")
    if is_torch(path):
        # The op always returns the prefixes layout, which its backward needs.
        full = _ops().sig_coef(path, opts)
        return full if prefixes else full[..., _final_positions(opts.lengths)]
    return _sig_coef_cpu(path, opts, prefixes)


def sig_coef_backprop(
    path: Any,
    words: Any,
    coefs: Any,
    derivs: Any,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = -1,
) -> Any:
    """Gradient through :func:`sig_coef` (pysiglib's ``sig_coef_backprop``).

    Args:
        path, words, time_aug, lead_lag, end_time: as given to :func:`sig_coef`.
        coefs: ``(..., n)``, what :func:`sig_coef` returned with ``prefixes=True``.
        derivs: ``(..., n)``, dF/d(coefs). Unlike pysiglib, not modified.

    Returns:
        ``(..., length, dim)``, dF/d(path).

    Example::

        >>> x = np.random.rand(10, 100, 5)
        >>> words = [(0,), (1, 0), (1, 2, 3)]
        >>> c = sigrs.sig_coef(x, words, prefixes=True)
        >>> sigrs.sig_coef_backprop(x, words, c, np.ones_like(c)).shape
        (10, 100, 5)
    """
    path, opts = _prepare(path, words, time_aug, lead_lag, end_time, n_jobs)
    n = coef_length(opts.lengths, True)
    batch_shape = tuple(path.shape[:-2])
    coefs = checked_like(coefs, "coefs", 1, path, "path")
    derivs = checked_like(derivs, "derivs", 1, path, "path")
    for name, arr in (("coefs", coefs), ("derivs", derivs)):
        if tuple(arr.shape) != batch_shape + (n,):
            raise ValueError(
                f"{name} must have shape {batch_shape + (n,)} (path's batch shape, then one entry per prefix of "
                f"each word: compute coefs with sig_coef(..., prefixes=True)), got {tuple(arr.shape)}"
            )
    if is_torch(path):
        return _ops().sig_coef_backprop(path, coefs, derivs, opts)
    return _sig_coef_backprop_cpu(path, coefs, derivs, opts)


# --- CPU ---------------------------------------------------------------------------


def _sig_coef_cpu(path: np.ndarray, opts: CoefOptions, prefixes: bool) -> np.ndarray:
    flat = batch_of_paths(path)
    out = empty_output((flat.shape[0], coef_length(opts.lengths, prefixes)), flat.dtype)
    _native.sig_coef(flat, out, prefixes, opts)
    return out.reshape(path.shape[:-2] + out.shape[-1:])


def _sig_coef_backprop_cpu(path: np.ndarray, coefs: np.ndarray, derivs: np.ndarray, opts: CoefOptions) -> np.ndarray:
    flat = batch_of_paths(path)
    out = empty_output(flat.shape, flat.dtype)
    _native.sig_coef_backprop(flat, coefs, derivs, out, opts)
    return out.reshape(path.shape)


# --- torch ops (CPU tensors: no GPU kernels yet) -------------------------------------


def _coef_fake(path: Any, opts: CoefOptions) -> Any:
    return path.new_empty((*path.shape[:-2], coef_length(opts.lengths, True)))


def _coef_backward(saved: tuple, grad: Any, opts: CoefOptions, needs: tuple) -> tuple:
    path, coefs = saved
    return (_ops().sig_coef_backprop(path, coefs, grad.contiguous(), opts),)


def _ops() -> SimpleNamespace:
    """This family's torch ops, built once torch is in use (see :mod:`sigrs._op_registry`)."""
    import sigrs._torch_ops  # noqa: F401  (its first import builds them)

    return BUILT[__name__]


def _define_ops() -> SimpleNamespace:
    from ._torch_ops import define

    return SimpleNamespace(
        sig_coef=define(
            # (always the prefixes layout, which the backward needs; sig_coef selects from it)
            "sig_coef", inputs=("path",), options=CoefOptions,
            cpu=lambda path, opts: _sig_coef_cpu(path, opts, True), fake=_coef_fake,
            save=lambda tensors, opts, output: (tensors[0], output), backward=_coef_backward,
        ),
        sig_coef_backprop=define(
            "sig_coef_backprop", inputs=("path", "coefs", "derivs"), options=CoefOptions,
            cpu=_sig_coef_backprop_cpu,
            fake=lambda path, coefs, derivs, opts: path.new_empty(path.shape),
        ),
    )


register(__name__, _define_ops)
