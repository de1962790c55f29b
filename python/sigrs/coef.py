"""Signature coefficients at chosen words, computed without the signature.

:func:`sig_coef` costs about ``length * sum(len(w) ** 2)`` operations per
path, whatever the dimension, so a few coefficients of long words in high
dimension are cheap where the full signature would not fit in memory. For
many words of a low degree, :func:`sigrs.sig` followed by
:func:`sigrs.extract_sig_coef` is faster.
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
    same_kind,
)

_SIG_COEF = (_native.sig_coef_f64, _native.sig_coef_f32)
_SIG_COEF_BACKPROP = (_native.sig_coef_backprop_f64, _native.sig_coef_backprop_f32)


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
    checked = []
    for word in words:
        if not isinstance(word, (tuple, list)):
            raise TypeError(
                f"each word in {name} must be a tuple or list of ints, got {type(word).__name__} {word!r} "
                "(for a single word pass a tuple, e.g. (0, 1), or wrap it in a list: [(0, 1)])"
            )
        letters = []
        for letter in word:
            if isinstance(letter, bool) or not isinstance(letter, (int, np.integer)):
                raise TypeError(f"letters of {name} must be ints, got {type(letter).__name__} {letter!r} in {word!r}")
            letter = int(letter)
            if not 0 <= letter < dimension:
                raise ValueError(
                    f"letters of {name} must lie in [0, {dimension}) (the dimension of the transformed path), "
                    f"got {letter} in {tuple(word)!r}"
                )
            letters.append(letter)
        checked.append(tuple(letters))
    return checked


def coef_length(words: list[tuple[int, ...]], prefixes: bool) -> int:
    """Entries per path: one per word, or with ``prefixes`` one per non-empty
    prefix of each word (one for the empty word)."""
    return sum(max(len(w), 1) for w in words) if prefixes else len(words)


def final_positions(words: list[tuple[int, ...]]) -> list[int]:
    """Where each word's own coefficient sits in the ``prefixes=True`` layout."""
    positions, at = [], 0
    for w in words:
        at += max(len(w), 1)
        positions.append(at - 1)
    return positions


def _prepare(path: Any, words: Any, time_aug: Any, lead_lag: Any, end_time: Any, n_jobs: Any):
    time_aug = check_bool(time_aug, "time_aug")
    lead_lag = check_bool(lead_lag, "lead_lag")
    end_time = check_end_time(end_time)
    n_jobs = check_n_jobs(n_jobs)
    torch_in = type(path) is not np.ndarray and is_torch(path)
    path = check_tensor(path, "path", 2) if torch_in else as_array(path, "path", 2)
    words = check_words(words, aug_dim(path.shape[-1], time_aug, lead_lag))
    return path, words, time_aug, lead_lag, end_time, n_jobs, torch_in


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
    path, words, time_aug, lead_lag, end_time, n_jobs, torch_in = _prepare(path, words, time_aug, lead_lag, end_time, n_jobs)
    prefixes = check_bool(prefixes, "prefixes")
    if torch_in:
        from . import _autograd

        letters = [c for w in words for c in w]
        lengths = [len(w) for w in words]
        full = _autograd.sig_coef(path, letters, lengths, time_aug, lead_lag, end_time, n_jobs)
        return full if prefixes else full[..., final_positions(words)]
    return sig_coef_array(path, words, time_aug, lead_lag, end_time, prefixes, n_jobs)


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
    path, words, time_aug, lead_lag, end_time, n_jobs, torch_in = _prepare(path, words, time_aug, lead_lag, end_time, n_jobs)
    n = coef_length(words, True)
    batch_shape = tuple(path.shape[:-2])
    if not torch_in:
        # array-likes become arrays; a tensor is left for same_kind to refuse
        coefs = coefs if is_torch(coefs) else as_array(coefs, "coefs", 1)
        derivs = derivs if is_torch(derivs) else as_array(derivs, "derivs", 1)
    for name, arr in (("coefs", coefs), ("derivs", derivs)):
        same_kind(name, arr, "path", path)
        if tuple(arr.shape) != batch_shape + (n,):
            raise ValueError(
                f"{name} must have shape {batch_shape + (n,)} (path's batch shape, then one entry per prefix of "
                f"each word: compute coefs with sig_coef(..., prefixes=True)), got {tuple(arr.shape)}"
            )
    if torch_in:
        from . import _autograd

        letters = [c for w in words for c in w]
        lengths = [len(w) for w in words]
        return _autograd.sig_coef_backprop(path, coefs, derivs, letters, lengths, time_aug, lead_lag, end_time, n_jobs)
    return sig_coef_backprop_array(path, words, coefs, derivs, time_aug, lead_lag, end_time, n_jobs)


def _flat_paths(path: np.ndarray) -> tuple[np.ndarray, tuple]:
    *batch_shape, length, dim = path.shape
    return path.reshape(batch_size(batch_shape), length, dim), tuple(batch_shape)


def sig_coef_array(path, words, time_aug: bool, lead_lag: bool, end_time: float, prefixes: bool, n_jobs: int) -> np.ndarray:
    """:func:`sig_coef` on checked arguments and an ndarray (also the CPU kernel of the torch op)."""
    flat, batch_shape = _flat_paths(as_array(path, "path", 2))
    out = empty_output((flat.shape[0], coef_length(words, prefixes)), flat.dtype)
    native_for(_SIG_COEF, flat.dtype)(flat, [list(w) for w in words], out, time_aug, lead_lag, end_time, prefixes, n_jobs)
    return out.reshape(*batch_shape, out.shape[-1])


def sig_coef_backprop_array(path, words, coefs, derivs, time_aug: bool, lead_lag: bool, end_time: float, n_jobs: int) -> np.ndarray:
    """:func:`sig_coef_backprop` on checked arguments and ndarrays (also the CPU kernel of the torch op)."""
    flat, batch_shape = _flat_paths(as_array(path, "path", 2))
    coefs, derivs = as_array(coefs, "coefs", 1), as_array(derivs, "derivs", 1)
    out = empty_output(flat.shape, flat.dtype)
    native_for(_SIG_COEF_BACKPROP, flat.dtype)(flat, [list(w) for w in words], coefs, derivs, out, time_aug, lead_lag, end_time, n_jobs)
    return out.reshape(*batch_shape, *flat.shape[1:])


def words_from_flat(letters: list[int], lengths: list[int]) -> list[tuple[int, ...]]:
    """The words a flat ``letters`` list and their ``lengths`` describe (the torch ops' encoding)."""
    words, at = [], 0
    for k in lengths:
        words.append(tuple(letters[at:at + k]))
        at += k
    return words


__all__ = ["sig_coef", "sig_coef_backprop", "check_words", "coef_length"]
