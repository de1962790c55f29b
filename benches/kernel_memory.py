"""Peak memory of a large signature-kernel Gram matrix, forward and backward.

Issue 5's workload: 1000 x 1000 paths of length 100 in dimension 5, dyadic
order 1, through torch autograd (``sig_kernel_gram(...).sum().backward()``).
Prints the process's peak resident memory before and after, and what one
PDE grid of all pairs would have needed. Run: ``python benches/kernel_memory.py``
(about a minute on 2 cores); ``--batch``, ``--length`` and ``--max-batch``
change the workload.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

import sigrs


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument("--dyadic-order", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=-1)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.batch, args.length, args.dim)
    steps = rng.standard_normal((2, *shape)) / np.sqrt(args.length)
    x = torch.tensor(np.cumsum(steps[0], axis=1), requires_grad=True)
    y = torch.tensor(np.cumsum(steps[1], axis=1), requires_grad=True)
    base = peak_rss_mib()
    t0 = time.perf_counter()
    gram = sigrs.sig_kernel_gram(x, y, dyadic_order=args.dyadic_order, max_batch=args.max_batch)
    t1 = time.perf_counter()
    after_forward = peak_rss_mib()
    gram.sum().backward()
    t2 = time.perf_counter()
    after_backward = peak_rss_mib()
    cells = ((args.length - 1) * 2 ** args.dyadic_order + 1) ** 2
    all_grids = args.batch ** 2 * cells * 8 / 2 ** 30
    inputs = 2 * x.numel() * 8 / 2 ** 20
    print(f"Gram {args.batch} x {args.batch}, length {args.length}, dim {args.dim}, dyadic order {args.dyadic_order}, "
          f"max_batch {args.max_batch}, float64, torch autograd")
    print(f"  forward  {t1 - t0:7.2f} s   backward {t2 - t1:7.2f} s")
    print(f"  peak RSS: {base:8.0f} MiB before (torch, inputs {inputs:.0f} MiB), "
          f"{after_forward:8.0f} MiB after forward, {after_backward:8.0f} MiB after backward")
    print(f"  (the PDE grids of all pairs would take {all_grids:.0f} GiB)")
    print(f"  gram mean {gram.mean().item():.6f}, |grad x| {x.grad.norm().item():.6f}, |grad y| {y.grad.norm().item():.6f}")


if __name__ == "__main__":
    main()
