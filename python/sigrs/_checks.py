"""Argument checks shared by every family.

Each check raises TypeError for a wrong type and ValueError for a wrong
value, naming the argument, what was expected and what was given, and
returns the value in its canonical Python type.
"""

from __future__ import annotations

import math
import numbers
import operator
import warnings
from typing import Any, Optional

import numpy as np

from ._native import available_cores

#: The most threads ``n_jobs`` can use here; read once.
CORES = available_cores()

#: The largest integer the native layer takes (a signed 64-bit count).
INT_MAX = 2**63 - 1


def check_bool(value: Any, name: str) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


def check_int(value: Any, name: str, *, minimum: Optional[int] = None, maximum: int = INT_MAX) -> int:
    if type(value) is not int:
        if isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got bool {value!r}")
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


#: Far beyond any signature that fits in memory (dimension 1 has one word
#: per level), and small enough for every native integer type.
MAX_DEGREE = 2**31 - 1


def check_degree(degree: Any) -> int:
    if type(degree) is int and 0 <= degree <= MAX_DEGREE:
        return degree
    return check_int(degree, "degree", minimum=0, maximum=MAX_DEGREE)


def check_end_time(end_time: Any) -> float:
    if type(end_time) is not float:
        if isinstance(end_time, bool) or not isinstance(end_time, (int, float, np.integer, np.floating)):
            # torch.compile(dynamic=True) traces floats as symbolic floats: let them through.
            if type(end_time).__name__ == "SymFloat":
                return end_time
            raise TypeError(f"end_time must be a real number, got {type(end_time).__name__} {end_time!r}")
        end_time = float(end_time)
    if not -math.inf < end_time < math.inf:
        raise ValueError(f"end_time must be finite, got {end_time}")
    return end_time


def check_n_jobs(n_jobs: Any) -> int:
    """``n_jobs`` clamped to the cores (with a warning when it asked for more)."""
    if type(n_jobs) is not int:
        n_jobs = check_int(n_jobs, "n_jobs", minimum=-(2**63))
    if 0 < n_jobs <= CORES or -CORES <= n_jobs < 0:
        return n_jobs
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive thread count, or negative to count back from all cores (-1 = all); got 0")
    if n_jobs > CORES:
        warnings.warn(f"n_jobs={n_jobs} is more than the {CORES} cores this process may use; using {CORES} threads", RuntimeWarning, stacklevel=3)
        return CORES
    # counting back past every core leaves one thread
    return 1


def check_real(value: Any, name: str) -> float:
    """``value`` as a finite float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_word(word: Any, name: str = "word", *, alphabet: Optional[int] = None, what: str = "") -> tuple[int, ...]:
    """``word`` (a tuple or list of ints >= 0, or in ``[0, alphabet)`` when
    given; ``what`` says what the alphabet is) as a tuple."""
    if not isinstance(word, (tuple, list)):
        raise TypeError(f"{name} must be a tuple or list of ints, got {type(word).__name__} {word!r}")
    letters = []
    for letter in word:
        if isinstance(letter, bool) or not isinstance(letter, (int, np.integer)):
            raise TypeError(f"letters of {name} must be ints, got {type(letter).__name__} {letter!r} in {word!r}")
        letter = int(letter)
        if alphabet is None:
            if letter < 0:
                raise ValueError(f"letters of {name} must be >= 0, got {letter} in {word!r}")
        elif not 0 <= letter < alphabet:
            raise ValueError(f"letters of {name} must lie in [0, {alphabet}){what}, got {letter} in {tuple(word)!r}")
        letters.append(letter)
    return tuple(letters)
