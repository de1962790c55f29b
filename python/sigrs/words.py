"""Words over an alphabet ``{0, ..., d-1}`` and their places in a signature."""

from __future__ import annotations

import itertools
import os
import sys
from typing import Any

from . import _native
from ._checks import check_bool, check_int, check_word


# A list of n tuples of k small ints takes about n * (8 + 40 + 8 k) bytes
# (list slot, tuple header, item pointers; small ints are shared).
_TUPLE_BYTES = 48
_LETTER_BYTES = 8


def _memory_cap() -> int:
    """Bytes this process could hope to allocate: the machine's physical
    memory, or the address-space limit (``RLIMIT_AS``) when that is lower."""
    try:
        cap = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        cap = sys.maxsize
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            cap = min(cap, soft)
    except (ImportError, ValueError, OSError):
        pass
    return cap


def _count_str(n: int) -> str:
    if n < 10**15:
        return f"{n:,}"
    return f"{float(n):.3g}" if n.bit_length() < 1000 else f"more than 2**{n.bit_length() - 1}"


def refuse_huge_list(call: str, argument: str, count: int, nbytes: int, what: str = "words") -> None:
    """Raises before a list of ``count`` items taking about ``nbytes`` bytes
    is built when it cannot be: ``OverflowError`` when no list can hold that
    many items, ``MemoryError`` when it would not fit in memory. Both name
    ``call``, the ``argument`` to lower, the count and the size."""
    if count > sys.maxsize:
        raise OverflowError(
            f"{call} would list {_count_str(count)} {what}, more than a list can hold: lower {argument}")
    if nbytes > _memory_cap():
        raise MemoryError(
            f"{call} would list {_count_str(count)} {what}, about {nbytes / 1e9:.3g} GB, more than this "
            f"process's memory: lower {argument}")


def _level_count(alphabet_size: int, length: int) -> int:
    """``alphabet_size ** length``, exactly while that is cheap to know
    (up to 2**4096); beyond, 2**4096, which no list can hold anyway."""
    if alphabet_size <= 1:
        return alphabet_size if length else 1
    if length * (alphabet_size.bit_length() - 1) > 4096:
        return 1 << 4096
    return alphabet_size**length


def words_of_length(alphabet_size: int, length: int) -> list[tuple[int, ...]]:
    """All words of ``length`` letters, in lexicographic order (the order of a signature level).

    Example::

        >>> sigrs.words_of_length(2, 2)
        [(0, 0), (0, 1), (1, 0), (1, 1)]
    """
    alphabet_size = check_int(alphabet_size, "alphabet_size", minimum=0)
    length = check_int(length, "length", minimum=0)
    count = _level_count(alphabet_size, length)
    refuse_huge_list(f"words_of_length({alphabet_size}, {length})", "length", count,
                     count * (_TUPLE_BYTES + _LETTER_BYTES * length))
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
    # Counted before anything is listed: sum_k d^k words of k letters.
    d = alphabet_size
    count = max_length + 1 if d == 1 else 1 if d == 0 else (_level_count(d, max_length + 1) - 1) // (d - 1)
    refuse_huge_list(f"words({d}, {max_length})", "max_length", count,
                     count * (_TUPLE_BYTES + _LETTER_BYTES * max_length))
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

        >>> s = sigrs.sig(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]]), 3)
        >>> sigrs.word_to_idx((0, 1), 2)
        3
        >>> s[sigrs.word_to_idx((0, 1), 2)]  # the coefficient of word (0, 1)
        np.float64(2.0)
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
    scalar_term = check_bool(scalar_term, "scalar_term")
    if idx > sys.maxsize:
        raise ValueError(f"idx must be an index of a signature, at most {sys.maxsize} (no array is longer), got {idx}")
    if alphabet_size == 1:
        # The only unbounded case: the word at idx has idx (+ 1) letters.
        length = idx + (not scalar_term)
        refuse_huge_list(f"idx_to_word({idx}, 1)", "idx", length, 3 * _LETTER_BYTES * length, what="letters")
    return tuple(_native.idx_to_word(idx, alphabet_size, scalar_term))
