"""Small and medium calls at ``n_jobs=-1`` against ``n_jobs=1``.

``n_jobs=-1`` is the default, so the cost of starting threads lands on every
call, however small. This times both settings in one process, alternating
(1, -1, -1, 1 per round), and prints the median of the per-round ratios
``time(n_jobs=1) / time(n_jobs=-1)``: above 1, the threads paid off.

Two regimes: "hot", calls back to back (a feature-extraction loop), and
"cold", 1 ms of sleep before each call (a training loop, where other work
runs between calls and idle pool threads have gone to sleep).

    python benches/n_jobs_small.py            # forward
    python benches/n_jobs_small.py --op bwd   # sig_backprop
    python benches/n_jobs_small.py --shapes 16,500,3,3 512,200,2,4

The work column is ``batch * (length - 1) * sig_length``, the estimate the
core compares with its threshold for going parallel (200,000).
"""

import argparse
import time

import numpy as np

import sigrs

DEFAULT_SHAPES = [
    "4,500,3,3", "16,500,3,3", "64,500,3,3", "256,500,3,3",
    "8,100,5,4", "32,100,5,4",
    "32,200,2,4", "128,200,2,4", "512,200,2,4", "2048,200,2,4",
    "4,200,8,4", "16,200,8,4",
]


def timed(f, gap):
    if gap:
        time.sleep(gap)
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--op", choices=["fwd", "bwd"], default="fwd")
    parser.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES, help="batch,length,dim,degree")
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{args.op}, float64; ratio = time(n_jobs=1) / time(n_jobs=-1), median of {args.rounds} rounds")
    print(f"{'(batch, length, dim, degree)':30s} {'work':>10s} | {'hot n_jobs=1':>12s} {'ratio':>6s} | {'cold n_jobs=1':>13s} {'ratio':>6s}")
    for text in args.shapes:
        B, L, d, N = (int(v) for v in text.split(","))
        x = (rng.standard_normal((B, L, d)) * 0.1).cumsum(1)
        if args.op == "fwd":
            calls = {nj: (lambda nj=nj: sigrs.sig(x, N, n_jobs=nj)) for nj in (1, -1)}
        else:
            s = sigrs.sig(x, N)
            g = np.ones_like(s)
            calls = {nj: (lambda nj=nj: sigrs.sig_backprop(x, s, g, N, n_jobs=nj)) for nj in (1, -1)}
        calls[1]()
        calls[-1]()
        cells = []
        for gap in (0.0, 0.001):
            ratios, serial = [], []
            for _ in range(args.rounds):
                a, b, c, e = timed(calls[1], gap), timed(calls[-1], gap), timed(calls[-1], gap), timed(calls[1], gap)
                ratios.append((a + e) / (b + c))
                serial.append((a + e) / 2)
            cells.append((np.median(serial) * 1e6, np.median(ratios)))
        work = B * (L - 1) * sigrs.sig_length(d, N)
        (hot_t, hot_r), (cold_t, cold_r) = cells
        print(f"{str((B, L, d, N)):30s} {work:>10d} | {hot_t:9.1f} us {hot_r:6.2f} | {cold_t:10.1f} us {cold_r:6.2f}", flush=True)


if __name__ == "__main__":
    main()
