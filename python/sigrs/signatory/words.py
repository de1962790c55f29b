"""Words, Lyndon words and brackets, in signatory's formats, from sigrs's core.

The Lyndon words, their standard bracketings, their count and the change of
basis between them are sigrs's (:func:`sigrs.lyndon_words`,
:func:`sigrs.lyndon_brackets`, :func:`sigrs.log_sig_length`,
:func:`sigrs.logsig.lyndon_expansion_coefficients`); this module only
rewrites them as signatory lays them out.
"""

from __future__ import annotations

import functools
import itertools
from typing import Dict, List, Tuple, Union

import sigrs

from . import _checks

LyndonBracket = Union[int, List]


def all_words(channels: int, depth: int) -> List[Tuple[int, ...]]:
    """All words of length ``1..depth`` over ``0..channels-1``: the order of a signature's channels.

    Example::

        >>> signatory.all_words(2, 2)
        [(0,), (1,), (0, 0), (0, 1), (1, 0), (1, 1)]
    """
    out: List[Tuple[int, ...]] = []
    for length in range(1, depth + 1):
        out.extend(itertools.product(range(channels), repeat=length))
    return out


def lyndon_words(channels: int, depth: int) -> List[List[int]]:
    """The Lyndon words of length ``1..depth`` over ``0..channels-1``, by length then lexicographically.

    The order of a log-signature with ``mode="words"``.

    Example::

        >>> signatory.lyndon_words(2, 3)
        [[0], [1], [0, 1], [0, 0, 1], [0, 1, 1]]
    """
    channels, depth = _checks.channels_depth(channels, depth)
    return [list(word) for word in sigrs.lyndon_words(channels, depth)]


def _as_lists(bracket) -> LyndonBracket:
    """sigrs's bracket ``(u, v)`` as signatory's ``[u, v]`` (fresh lists, nothing shared)."""
    return bracket if isinstance(bracket, int) else [_as_lists(bracket[0]), _as_lists(bracket[1])]


def lyndon_brackets(channels: int, depth: int) -> List[LyndonBracket]:
    """The standard bracketing of each Lyndon word of :func:`lyndon_words`, in that order.

    A letter is an int; a word ``w = uv`` split at its longest proper Lyndon
    suffix ``v`` is the list ``[bracket(u), bracket(v)]``. The order of a
    log-signature with ``mode="brackets"``.

    Example::

        >>> signatory.lyndon_brackets(2, 3)
        [0, 1, [0, 1], [0, [0, 1]], [[0, 1], 1]]
    """
    channels, depth = _checks.channels_depth(channels, depth)
    return [_as_lists(bracket) for bracket in sigrs.lyndon_brackets(channels, depth)]


def logsignature_channels(in_channels: int, depth: int) -> int:
    """The number of channels of a ``"words"`` or ``"brackets"`` log-signature: the number of Lyndon words.

    ValueError, as :func:`signature_channels`, when the signature would not fit in 64 bits.

    Example::

        >>> signatory.logsignature_channels(3, 4)
        32
    """
    in_channels, depth = _checks.channels_depth(
        in_channels, depth, "in_channels must be at least 1", "depth must be at least 1"
    )
    try:
        return sigrs.log_sig_length(in_channels, depth)
    except OverflowError:
        raise ValueError("Integer overflow detected.") from None


@functools.lru_cache(maxsize=32)
def _basis_transform(channels: int, depth: int) -> Tuple[Tuple[Tuple[int, int, int], ...], ...]:
    """:func:`lyndon_words_to_basis_transform` as tuples, cached."""
    words = sigrs.lyndon_words(channels, depth)
    classes: Dict[Tuple[int, ...], List[Tuple[int, int, int]]] = {}
    for source, target, coefficient in sigrs.logsig.lyndon_expansion_coefficients(channels, depth):
        # a bracket expands into anagrams of its own word
        word = words[source]
        classes.setdefault((len(word),) + tuple(sorted(word)), []).append((source, target, coefficient))
    groups = [tuple(sorted(classes[key])) for key in sorted(classes)]
    # signatory opens a new list after each class that filled one; its last
    # class, the word (C-2)(C-1)...(C-1) alone, fills none, so one empty list ends it
    return tuple(groups) + ((),)


def lyndon_words_to_basis_transform(channels: int, depth: int) -> List[List[Tuple[int, int, int]]]:
    r"""The unitriangular change of basis from ``"words"`` to ``"brackets"`` log-signatures.

    With :math:`w_0, w_1, \ldots` the Lyndon words of :func:`sigrs.signatory.lyndon_words`,
    a tuple ``(i, j, c)`` says that the word :math:`w_j` has coefficient
    ``c != 0`` in the expansion of the bracket of :math:`w_i` (``j > i``, an
    anagram of it). Applying ``x[j] -= c * x[i]`` for every tuple, in order,
    turns a ``"words"`` log-signature ``x`` into the ``"brackets"`` one.

    The tuples are ``sigrs.logsig.lyndon_expansion_coefficients``,
    grouped by anagram class in signatory's order: classes by length then
    sorted letters, tuples by source then target, one list per class that has
    any, then an empty list. signatory also lists some tuples with ``c == 0``
    (where its expansion cancels); they are left out here.

    Returns:
        A list of lists of ``(source, target, coefficient)`` int tuples.

    Example::

        >>> signatory.unstable.lyndon_words_to_basis_transform(2, 5)
        [[(9, 10, -2)], [(11, 12, -3)], []]
    """
    channels, depth = _checks.channels_depth(channels, depth)
    return [list(group) for group in _basis_transform(channels, depth)]
