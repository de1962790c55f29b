"""Log-signature tables and word functions never abort the process.

Each former abort runs in a child process under an address-space cap
(``RLIMIT_AS`` a little above what the child uses after its imports), so a
table that cannot be allocated shows up as a clean exception there, and an
abort (SIGABRT, from Rust's infallible allocations) as a negative exit code.
The children import NumPy and sigrs only (torch alone needs gigabytes of
address space).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import reference as ref
import sigrs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")

MiB = 1 << 20
PACKAGE_ROOT = str(pathlib.Path(sigrs.__file__).resolve().parent.parent)

PRELUDE = """
import os, resource, sys, time
import numpy as np
import sigrs

def _vm_size():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize"):
            return int(line.split()[1]) * 1024

_cap = _vm_size() + {extra}
resource.setrlimit(resource.RLIMIT_AS, (_cap, _cap))

def outcome(f):
    try:
        return repr(f())
    except Exception as e:
        return f"{{type(e).__name__}}: {{e}}"
"""


def run_capped(body: str, extra_mib: int, timeout: float = 60) -> list[str]:
    """Runs ``body`` in a child whose address space may grow by ``extra_mib``
    after its imports; returns its printed lines, after checking it exited 0
    (an abort is a negative code: the signal)."""
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT, MALLOC_ARENA_MAX="2", RAYON_NUM_THREADS="2")
    code = PRELUDE.format(extra=extra_mib * MiB) + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"child exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    return proc.stdout.splitlines()


# Witt's formula, written from the definition in the reference implementation
witt = ref.witt_count


SHAPES = [(10, 12), (2, 30), (3, 20), (5, 11), (26, 8), (100, 5), (1, 1000), (4, 1), (7, 13)]


def test_log_sig_length_is_witts_formula_and_builds_no_table_under_a_small_cap():
    lines = run_capped(
        f"""
        t = time.perf_counter()
        for d, n in {SHAPES}:
            print(d, n, sigrs.log_sig_length(d, n), sigrs.log_sig_length(d, n, method=2),
                  sigrs.log_sig_length(d, n, method="hall"), sigrs.log_sig_length(d, n, method=3))
        print("seconds", time.perf_counter() - t)
        """,
        extra_mib=64,
    )
    got = {tuple(map(int, line.split()[:2])): list(map(int, line.split()[2:])) for line in lines[:-1]}
    assert got[(10, 12)] == [93549375919] * 4  # pysiglib's and iisignature's value
    for (d, n), lengths in got.items():
        assert lengths == [witt(d, n)] * 4, (d, n)
    # Tables for (10, 12) would take terabytes: the count is arithmetic.
    assert float(lines[-1].split()[1]) < 2.0
    try:
        import iisignature
    except ImportError:
        return
    for d, n in [(10, 12), (3, 20), (5, 11), (2, 30)]:
        assert iisignature.logsiglength(d, n) == got[(d, n)][0], (d, n)


def test_log_sig_lengths_that_do_not_fit_are_overflow_errors_naming_the_shape():
    lines = run_capped(
        """
        print(outcome(lambda: sigrs.log_sig_length(2, 100)))
        print(outcome(lambda: sigrs.log_sig_length(10**4, 4, method="hall")))
        print(outcome(lambda: sigrs.lyndon_words(3, 90)))
        print(outcome(lambda: sigrs.lyndon_brackets(2, 10**15)))
        print(outcome(lambda: sigrs.log_sig_length(1, 10**15)))
        print(outcome(lambda: sigrs.log_sig_length(1, 2**31 - 1)))
        """,
        extra_mib=64,
    )
    assert lines[0].startswith("OverflowError") and "dimension 2 and degree 100" in lines[0], lines[0]
    assert lines[1] == repr(witt(10**4, 4))
    assert lines[2].startswith("OverflowError") and "degree 90" in lines[2], lines[2]
    # beyond any degree sigrs takes (2**31 - 1): refused by the argument check
    assert lines[3].startswith("ValueError") and "degree must be <=" in lines[3] and "1000000000000000" in lines[3], lines[3]
    assert lines[4].startswith("ValueError") and "degree must be <=" in lines[4], lines[4]
    assert lines[5] == "1"  # one Lyndon word in dimension 1, whatever the degree


def test_word_lists_too_long_for_memory_are_refused_before_anything_is_allocated():
    lines = run_capped(
        """
        t = time.perf_counter()
        print(outcome(lambda: len(sigrs.words(10, 50))))
        print(outcome(lambda: len(sigrs.words(10, 12))))
        print(outcome(lambda: len(sigrs.words_of_length(7, 10**6))))
        print(outcome(lambda: len(sigrs.lyndon_words(10, 12))))
        print(outcome(lambda: len(sigrs.lyndon_words_of_length(6, 14))))
        print(outcome(lambda: len(sigrs.words(3, 4))))
        print("seconds", time.perf_counter() - t)
        """,
        extra_mib=256,
        timeout=30,
    )
    assert lines[0].startswith("OverflowError") and "words(10, 50)" in lines[0] and "1.11e+50" in lines[0] and "max_length" in lines[0], lines[0]
    assert lines[1].startswith("MemoryError") and "1,111,111,111,111 words" in lines[1] and "max_length" in lines[1], lines[1]
    assert lines[2].startswith("OverflowError") and "length" in lines[2], lines[2]
    assert lines[3].startswith("MemoryError") and f"{witt(10, 12):,} words" in lines[3] and "max_length" in lines[3], lines[3]
    assert lines[4].startswith("MemoryError") and "lyndon_words_of_length(6, 14)" in lines[4], lines[4]
    assert lines[5] == repr(1 + 3 + 9 + 27 + 81)
    assert float(lines[6].split()[1]) < 2.0


def test_idx_to_word_checks_every_argument_and_never_aborts():
    lines = run_capped(
        """
        print(outcome(lambda: sigrs.idx_to_word(2**40, 1)))
        print(outcome(lambda: sigrs.idx_to_word(2**70, 3)))
        print(outcome(lambda: sigrs.idx_to_word(-1, 3)))
        print(outcome(lambda: sigrs.idx_to_word(3, 0)))
        print(outcome(lambda: sigrs.idx_to_word(2**62, 3)))
        print(outcome(lambda: sigrs.idx_to_word(4, 1)))
        print(outcome(lambda: sigrs.idx_to_word(0, 2, scalar_term=True)))
        """,
        extra_mib=128,
    )
    assert lines[0].startswith("MemoryError") and "idx_to_word(1099511627776, 1)" in lines[0] and "lower idx" in lines[0], lines[0]
    assert lines[1].startswith("ValueError") and "idx" in lines[1] and str(2**63 - 1) in lines[1] and str(2**70) in lines[1], lines[1]
    assert lines[2].startswith("ValueError") and "idx must be >= 0, got -1" in lines[2], lines[2]
    assert lines[3].startswith("ValueError") and "alphabet_size must be >= 1, got 0" in lines[3], lines[3]
    word = eval(lines[4])
    assert sigrs.word_to_idx(word, 3) == 2**62
    assert lines[5] == repr((0,) * 5)
    assert lines[6] == "()"
    try:
        import pysiglib
    except ImportError:
        return
    assert word == pysiglib.idx_to_word(2**62, 3)


def test_log_sig_method_1_reads_lyndon_positions_without_building_bracket_tables():
    # The Lyndon basis of (4, 11) takes gigabytes; method 1 needs only where
    # the 526,638 Lyndon words sit, and the tensor logarithm (~0.3 GB here).
    lines = run_capped(
        """
        x = np.random.default_rng(0).random((1, 5, 4))
        words = sigrs.log_sig(x, 11, method=1, n_jobs=1)
        expanded = sigrs.log_sig(x, 11, method=0, n_jobs=1)
        at = [sigrs.word_to_idx(w, 4) for w in sigrs.lyndon_words(4, 11)]
        print(words.shape, np.array_equal(words, expanded[:, at]))
        sigrs.prepare_log_sig(4, 11, method=1)
        """,
        extra_mib=1024,
    )
    assert lines == [f"(1, {witt(4, 11)}) True"]


@pytest.mark.parametrize("call, table", [
    ("sigrs.lyndon_brackets(4, 10)", "the Lyndon basis of dimension 4 and degree 10"),
    ("sigrs.log_sig(np.random.rand(1, 5, 4), 10, method=2, n_jobs=1)", "the Lyndon basis of dimension 4 and degree 10"),
    ("sigrs.prepare_log_sig(4, 10, method='hall')", "the Hall basis of dimension 4 and degree 10"),
    ("sigrs.lyndon_brackets(10, 12)", "the positions of the Lyndon words of dimension 10 and degree 12"),
])
def test_a_table_that_does_not_fit_is_a_memory_error_naming_it_and_the_process_goes_on(call, table):
    # The bases of (4, 10) take about 0.5 GB; the child may grow by 160 MiB.
    lines = run_capped(
        f"""
        print(outcome(lambda: {call}))
        print(sigrs.log_sig(np.random.rand(2, 5, 3), 3, method=2).shape)
        """,
        extra_mib=160,
    )
    assert lines[0].startswith("MemoryError") and table in lines[0], lines[0]
    assert lines[1] == "(2, 14)"


# A child forked while another thread builds a basis: tests/test_robustness.py
# (test_a_forked_child_computes_with_its_own_pools_and_tables).
