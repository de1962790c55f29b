"""Words over an alphabet ``{0, ..., d-1}`` and their places in a signature."""

from __future__ import annotations

import itertools
from typing import Any

from . import _native
from ._checks import check_bool, check_int, check_word


def words_of_length(alphabet_size: int, length: int) -> list[tuple[int, ...]]:
    """All words of ``length`` letters, in lexicographic order (the order of a signature level).

    Example::

        >>> sigrs.words_of_length(2, 2)
        [(0, 0), (0, 1), (1, 0), (1, 1)]
    """
    alphabet_size = check_int(alphabet_size, "alphabet_size", minimum=0)
    length = check_int(length, "length", minimum=0)
    return list(itertools.product(range(alphabet_size), repeat=length))


def words(alphabet_size: int, max_length: int) -> list[tuple[int, ...]]:
    """All words of at most ``max_length`` letters, the empty word first: the index set of a
    signature with ``scalar_term=True``.

    Example::

        >>> sigrs.words(2, 2)
        [(), (0,), (1,), (0, 0), (0, 1), (1, 0), (1, 1)]
    """
    alphabet_size = check_int(alphabet_size, "alphabet_size", minimum=0)
    max_length = check_int(max_length, "max_length", minimum=0)
    out: list[tuple[int, ...]] = []
    for length in range(max_length + 1):
        out.extend(itertools.product(range(alphabet_size), repeat=length))
    return out


def word_to_idx(word: Any, alphabet_size: int, *, scalar_term: bool = False) -> int:
    """Index of ``word``'s coefficient in a flat signature.

    With ``scalar_term=True`` the empty word is at 0 and ``(i1, ..., ik)`` at
    ``sum_j (i_j + 1) d^(k-j)``; without it every index is one less and the
    empty word has none (ValueError).

    Example::

        >>> s = sigrs.sig(np.random.rand(100, 2), 3)
        >>> s[sigrs.word_to_idx((0, 1), 2)]  # the coefficient of word (0, 1)
    """
    alphabet_size = check_int(alphabet_size, "alphabet_size", minimum=0)
    return _native.word_to_idx(list(check_word(word)), alphabet_size, check_bool(scalar_term, "scalar_term"))


def idx_to_word(idx: int, alphabet_size: int, *, scalar_term: bool = False) -> tuple[int, ...]:
    """The word at flat index ``idx`` of a signature (inverse of :func:`word_to_idx`).

    Example::

        >>> sigrs.idx_to_word(3, 2)
        (0, 1)
    """
    idx = check_int(idx, "idx", minimum=0)
    alphabet_size = check_int(alphabet_size, "alphabet_size", minimum=1)
    return tuple(_native.idx_to_word(idx, alphabet_size, check_bool(scalar_term, "scalar_term")))
