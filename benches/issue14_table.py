"""The issue-14 table: sigrs against pysiglib on the issue's workloads, with
the share of the machine's peak, forward and backward, in one run.

    python benches/issue14_table.py                       # every row, one thread
    python benches/issue14_table.py 200,800,2,7 512,100,3,5
    N_JOBS=-1 python benches/issue14_table.py             # all cores
    BACKWARD=0 python benches/issue14_table.py            # forward only

Share of peak: the Horner step's ``2 sig_len d / (d - 1)`` flops per
increment, over numpy's 1000 x 1000 matmul rate (one BLAS thread, or all
usable cores with N_JOBS=-1), timed alternately with the row's forward
pass, so that both see the same machine: on this shared VM the matmul rate
moved by up to 1.6x between runs minutes apart, and a peak measured once at
the start made the shares of later rows meaningless. Times are medians; the
machine is noisy, so compare ratios within a run.
"""

import os
import sys
import time

# The peak is numpy's matmul at the threads sigrs gets: one, or every usable
# core with N_JOBS=-1 (BLAS reads its thread count at import).
_BLAS_THREADS = "1" if os.environ.get("N_JOBS", "1") == "1" else str(len(os.sched_getaffinity(0)))
os.environ.setdefault("OPENBLAS_NUM_THREADS", _BLAS_THREADS)
os.environ.setdefault("OMP_NUM_THREADS", _BLAS_THREADS)
# OpenBLAS's worker threads spin for a while after each matmul (2^28 cycles
# by default) before they sleep: with N_JOBS=-1 the call timed right after
# the matmul shared its cores with them, and float32 (256, 2000, 8, 3) read
# 17.6 ms there against 8.6 ms alone. 2^4 cycles lets them sleep at once.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402
import pysiglib  # noqa: E402

import sigrs  # noqa: E402

WORKLOADS = [
    ((128, 256, 4, 6), np.float64), ((128, 1024, 8, 4), np.float64), ((32, 128, 16, 4), np.float64),
    ((256, 2000, 8, 3), np.float32), ((512, 100, 3, 5), np.float32), ((200, 800, 2, 7), np.float64),
    ((256, 200, 2, 4), np.float64), ((1000, 50, 3, 4), np.float64), ((16, 64, 20, 3), np.float64),
    ((128, 3000, 4, 4), np.float32), ((128, 500, 1, 6), np.float64),
]


def median_time(f, repeat=7):
    f()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def interleaved_medians(fs, repeat=7):
    """Median time of each of `fs`, called in turn `repeat` times, each
    timed call right after an untimed one (the matmul leaves the caches
    holding its own arrays: a cold first call of a small signature took
    several times as long)."""
    times = [[] for _ in fs]
    for _ in range(repeat):
        for f, ts in zip(fs, times):
            f()
            start = time.perf_counter()
            f()
            ts.append(time.perf_counter() - start)
    return [sorted(ts)[len(ts) // 2] for ts in times]


MATMUL_N = 1000


def matmul(dtype):
    """A matmul at the machine's peak rate, and its flop count."""
    a = np.random.default_rng(1).random((MATMUL_N, MATMUL_N)).astype(dtype)
    b = a.copy()
    return (lambda: a @ b), 2 * MATMUL_N**3


def main():
    only = sys.argv[1:]
    n_jobs = int(os.environ.get("N_JOBS", "1"))
    backward = os.environ.get("BACKWARD", "1") == "1"
    peaks = {np.float64: [], np.float32: []}
    print(f"n_jobs={n_jobs}; share of peak against a {MATMUL_N} x {MATMUL_N} matmul timed alternately with each row")
    for (B, L, d, N), dtype in WORKLOADS:
        if only and f"{B},{L},{d},{N}" not in only:
            continue
        rng = np.random.default_rng(0)
        x = (rng.standard_normal((B, L, d)) * 0.1).astype(dtype)
        sig_len = sum(d**k for k in range(1, N + 1))
        flops = 2 * B * (L - 1) * sig_len * (d / (d - 1) if d > 1 else 1)
        mm, mm_flops = matmul(dtype)
        t_fwd, t_mm = interleaved_medians([lambda: sigrs.sig(x, N, n_jobs=n_jobs), mm])
        peak = mm_flops / t_mm
        peaks[dtype].append(peak)
        t_peer = median_time(lambda: pysiglib.sig(x, N, n_jobs=n_jobs))
        # One-dimensional paths take the closed form x^k / k!, not the
        # steps that the flop count describes.
        share = f"{flops / t_fwd / peak * 100:5.1f}% of peak" if d > 1 else "  closed form"
        line = (f"{str((B, L, d, N)):20s} {np.dtype(dtype).name:7s} fwd {t_fwd * 1e3:8.2f} ms "
                f"{share} ({peak / 1e9:4.1f}), pysiglib {t_peer / t_fwd:5.2f}x")
        if backward:
            s = sigrs.sig(x, N)
            g = rng.standard_normal(s.shape).astype(dtype)
            # bwd / fwd from the two timed in turn, round by round (median
            # of the per-round ratios): timed apart, a drift of the shared
            # machine between them moved the ratio by up to 2x.
            rounds = [
                interleaved_medians([lambda: sigrs.sig(x, N, n_jobs=n_jobs), lambda: sigrs.sig_backprop(x, s, g, N, n_jobs=n_jobs)], repeat=1)
                for _ in range(5)
            ]
            t_bwd = sorted(b for _, b in rounds)[len(rounds) // 2]
            bwd_per_fwd = sorted(b / f for f, b in rounds)[len(rounds) // 2]
            t_peer_bwd = median_time(lambda: pysiglib.sig_backprop(x, s, g, N, n_jobs=n_jobs), 5)
            line += f" | bwd {t_bwd * 1e3:8.2f} ms ({bwd_per_fwd:4.1f}x fwd), pysiglib {t_peer_bwd / t_bwd:5.2f}x"
        print(line, flush=True)
    for dtype, rates in peaks.items():
        if rates:
            print(f"peak GFLOP/s {np.dtype(dtype).name}: {min(rates) / 1e9:.1f} to {max(rates) / 1e9:.1f} over the rows")


if __name__ == "__main__":
    main()
