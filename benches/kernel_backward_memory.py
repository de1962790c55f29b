"""Peak memory and time of one signature-kernel backward pass over long paths.

Issue 13's reproducer: 16 pairs of 1,500-point paths in dimension 2, dyadic
order 2, two threads (``sig_kernel_backprop`` with its defaults: the
gradient of the first paths). The refined grid of one pair has 36 million points, so holding it
would take 2.3 GB per worker; the backward pass checkpoints rows instead
(see ``sig_core::kernel``). Prints the time, the process's peak resident
memory (NumPy and sigrs only: no torch) and a checksum to compare builds.

    python benches/kernel_backward_memory.py [--length 1500] [--order 2] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import sigrs


def peak_rss_mib() -> float:
    """The high-water mark of this process's resident memory (Linux)."""
    with open("/proc/self/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=1500)
    parser.add_argument("--order", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    x = np.random.default_rng(0).random((args.batch, args.length, 2)) * 0.02
    y = x[::-1].copy()
    start = time.perf_counter()
    g1, _ = sigrs.sig_kernel_backprop(np.ones(args.batch), x, y, dyadic_order=args.order, n_jobs=args.n_jobs)
    seconds = time.perf_counter() - start
    print(f"sigrs {sigrs.__version__} ({sigrs.__file__})")
    print(f"{seconds:.2f} s, peak RSS {peak_rss_mib():.0f} MiB, checksum {float(np.abs(g1).sum()):.6e}")


if __name__ == "__main__":
    main()
