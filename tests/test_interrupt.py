"""Ctrl-C: long native work stops with KeyboardInterrupt within about a
second, and the process stays usable.

Each case runs in its own process (pytest itself would stop on the
signal): a thread sends SIGINT to the process half a second into a call
that would run for many seconds, and the child reports how long the call
took to stop, then checks that a next call (on the worker pool) gives the
same numbers as before the interruption.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    import numpy as np
    import sigrs

    rng = np.random.default_rng(0)
    check = rng.standard_normal((64, 50, 3))
    before = sigrs.sig(check, 4, n_jobs=-1)

    {setup}

    fired = []
    def interrupt():
        time.sleep(0.5)
        fired.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    start = time.perf_counter()
    try:
        {call}
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "interrupted"
    end = time.perf_counter()
    while not fired:  # (only if the call ended before the signal)
        time.sleep(0.01)
    after = sigrs.sig(check, 4, n_jobs=-1)
    print(json.dumps(dict(outcome=outcome, ran=end - start, stop=end - fired[0],
                          same=bool(np.array_equal(before, after)))))
    """
)

# (setup, call): each call would run for far more than 2 s on this machine.
CASES = {
    "long_signature": (
        "x = rng.standard_normal((1, 1_000_000, 10)) * 0.01",
        "sigrs.sig(x, 5, n_jobs=-1)",
    ),
    "long_signature_serial": (
        "x = rng.standard_normal((1, 1_000_000, 10)) * 0.01",
        "sigrs.sig(x, 5, n_jobs=1)",
    ),
    "long_signature_backward": (
        "x = rng.standard_normal((2, 400_000, 10)) * 0.01; s = sigrs.sig(x[:, :2], 5)",
        "sigrs.sig_backprop(x, np.zeros((2, s.shape[-1])), np.ones((2, s.shape[-1])), 5)",
    ),
    "long_kernel_pair": (
        "x = rng.standard_normal((1, 2_000, 3)) * 0.01; y = rng.standard_normal((1, 2_000, 3)) * 0.01",
        "sigrs.sig_kernel(x, y, dyadic_order=5)",
    ),
    "gram_in_one_chunk": (
        "x = rng.standard_normal((64, 500, 3)) * 0.05",
        "sigrs.sig_kernel_gram(x, x, dyadic_order=2, max_batch=64)",
    ),
    # building the tables of a basis (seconds), before any signature is taken
    "hall_basis_build": (
        "x = rng.standard_normal((1, 5, 4))",
        "sigrs.log_sig(x, 10, method='hall')",
    ),
    "lyndon_basis_build": (
        "x = rng.standard_normal((1, 5, 3))",
        "sigrs.log_sig(x, 12, method=2)",
    ),
    "rbf_gram_in_one_chunk": (
        "x = rng.standard_normal((64, 500, 3)) * 0.05",
        "sigrs.sig_kernel_gram(x, x, dyadic_order=2, max_batch=64, static_kernel=sigrs.RBFKernel(1.0))",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ctrl_c_stops_long_native_work_within_two_seconds(case):
    setup, call = CASES[case]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(setup=setup, call=call)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["outcome"] == "interrupted", report
    assert report["stop"] < 2.0, report
    assert report["same"], "the call after the interruption gave other numbers"
