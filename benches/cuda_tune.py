"""Threads per block of sigrs's GPU signature kernels, timed on a GPU.

sigrs picks the block from the signature's size (about one thread per two
words, 64 to 512; crates/sig-cuda/src/signature.rs, `threads_for`). This
times the forward and backward passes on issue 6's shapes with that choice
and with fixed blocks, to check or retune it in one run on a GPU machine:

    python benches/cuda_tune.py [--repeat 7] [--threads 0 128 256 512 1024]

Medians of ``--repeat`` timed calls after one untimed call (which compiles
the specialisation), ``torch.cuda.synchronize()`` around each; ratios are to
the automatic choice (0) in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import sigrs
from sigrs import _cuda

SHAPES = [(256, 10000, 8, 3), (128, 256, 4, 6)]


def median_ms(fn, repeat: int) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--threads", type=int, nargs="+", default=[0, 128, 256, 512, 1024])
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("cuda_tune: no CUDA device", file=sys.stderr)
        return 2
    print(f"{torch.cuda.get_device_name(0)}; sigrs {sigrs.__version__}; medians of {args.repeat}")
    print("ms per call (ratio to auto)")
    print(f"{'shape':<24} {'dtype':<8} {'pass':<9}" + "".join(f"{('auto' if t == 0 else t):>16}" for t in args.threads))
    for b, l, d, m in SHAPES:
        for dtype in (torch.float32, torch.float64):
            g = torch.Generator(device="cuda").manual_seed(0)
            path = (torch.randn((b, l, d), generator=g, device="cuda", dtype=torch.float64) / l**0.5).to(dtype)
            rows = {"forward": [], "backward": []}
            for threads in args.threads:
                with _cuda.launch_options(threads=threads):
                    s = sigrs.sig(path, m)
                    derivs = torch.ones_like(s)
                    rows["forward"].append(median_ms(lambda: sigrs.sig(path, m), args.repeat))
                    rows["backward"].append(median_ms(lambda: sigrs.sig_backprop(path, s, derivs, m), args.repeat))
            for name, times in rows.items():
                cells = "".join(f"{t:9.3f} ({times[0] / t:.2f}x)".rjust(16) for t in times)
                print(f"{str((b, l, d, m)):<24} {str(dtype).split('.')[-1]:<8} {name:<9}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
