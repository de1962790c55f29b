"""Per-call cost of every op family on small inputs, and the signature over
dimensions 1 to 20, for sigrs alone: to compare two builds of sigrs (run it
under each, e.g. ``PYTHONPATH=/path/to/other/site python benches/calls.py``),
where compare.py compares sigrs with its peers.

    python benches/calls.py [--repeat 7]

Prints the best of ``--repeat`` timings of each call (microseconds for the
small calls, milliseconds for the sweep). Never asserts on times.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

import sigrs


def best(f, repeat: int, budget: float = 0.05) -> float:
    """Seconds per call: the best of ``repeat`` runs of about ``budget`` seconds each."""
    once = min(timeit.repeat(f, number=1, repeat=3))
    number = max(1, int(budget / max(once, 1e-7)))
    return min(timeit.repeat(f, number=number, repeat=repeat)) / number


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 2)) * 0.1
    s = sigrs.sig(x, 3)
    paths, other = rng.standard_normal((4, 10, 3)) * 0.1, rng.standard_normal((4, 8, 3)) * 0.1
    s1, s2 = sigrs.sig(paths, 3), sigrs.sig(other, 3)
    # The tiny calls of issue 14 (per-call cost: a (5, 2) path, degree 2).
    tiny, tiny3 = rng.random((5, 2)), rng.random((1, 5, 2))
    tiny_sig = sigrs.sig(tiny, 2)
    tiny_ones = np.ones_like(tiny_sig)
    small = {
        "sig tiny (5,2) N2": lambda: sigrs.sig(tiny, 2),
        "sig tiny (1,5,2) N2": lambda: sigrs.sig(tiny3, 2),
        "sig_backprop tiny": lambda: sigrs.sig_backprop(tiny, tiny_sig, tiny_ones, 2),
        "log_sig tiny": lambda: sigrs.log_sig(tiny, 2),
        "sig_combine tiny": lambda: sigrs.sig_combine(tiny_sig, tiny_sig, 2, 2),
        "sig_kernel tiny": lambda: sigrs.sig_kernel(tiny3, tiny3, dyadic_order=0),
        "sig": lambda: sigrs.sig(x, 3),
        "sig_backprop": lambda: sigrs.sig_backprop(x, s, np.ones_like(s), 3),
        "transform_path": lambda: sigrs.transform_path(paths, lead_lag=True),
        "sig_combine": lambda: sigrs.sig_combine(s1, s2, 3, 3),
        "sig_inverse": lambda: sigrs.sig_inverse(s1, 3, 3),
        "log_sig": lambda: sigrs.log_sig(paths, 3),
        "sig_to_log_sig": lambda: sigrs.sig_to_log_sig(s1, 3, 3),
        "sig_coef": lambda: sigrs.sig_coef(paths, [(0, 1), (2,)]),
        "sig_kernel": lambda: sigrs.sig_kernel(paths, paths, dyadic_order=0),
        "sig_kernel_gram": lambda: sigrs.sig_kernel_gram(paths, other, dyadic_order=0),
    }
    try:
        import torch

        t = torch.from_numpy(x.copy())
        tg = t.clone().requires_grad_(True)
        g = torch.ones(s.shape[-1], dtype=torch.float64)

        def sig_grad():
            tg.grad = None
            sigrs.sig(tg, 3).backward(g)

        tiny_t = torch.from_numpy(tiny3.copy())
        small["sig tiny (1,5,2) (torch)"] = lambda: sigrs.sig(tiny_t, 2)
        small["log_sig tiny (torch)"] = lambda: sigrs.log_sig(tiny_t, 2)
        small["sig (torch)"] = lambda: sigrs.sig(t, 3)
        small["sig + backward (torch)"] = sig_grad
    except ImportError:
        pass
    try:
        import iisignature

        small["iisignature.sig tiny (reference)"] = lambda: iisignature.sig(tiny, 2)
    except ImportError:
        pass
    print(f"sigrs {sigrs.__version__} ({sigrs.__file__}); best of {args.repeat}")
    print("\nsmall calls (us)")
    for name, f in small.items():
        print(f"  {name:34s} {best(f, args.repeat) * 1e6:9.2f}")
    print("\nsig and sig_backprop over dimensions, float64 and float32 (ms; n_jobs 1 / -1)")
    for batch, length, dim, degree in [(256, 200, 1, 6), (256, 200, 2, 4), (1000, 50, 3, 4), (64, 100, 5, 4),
                                       (32, 128, 8, 3), (32, 128, 12, 3), (16, 64, 20, 3)]:
        for dtype in (np.float64, np.float32):
            paths = (rng.standard_normal((batch, length, dim)) * 0.1).astype(dtype)
            sig = sigrs.sig(paths, degree)
            derivs = np.ones_like(sig)
            cells = []
            for n_jobs in (1, -1):
                cells.append(best(lambda: sigrs.sig(paths, degree, n_jobs=n_jobs), args.repeat))
                cells.append(best(lambda: sigrs.sig_backprop(paths, sig, derivs, degree, n_jobs=n_jobs), args.repeat))
            name = f"B{batch}-L{length}-d{dim}-m{degree}-{np.dtype(dtype).name}"
            print(f"  {name:28s} fwd {cells[0] * 1e3:8.3f} / {cells[2] * 1e3:8.3f}   bwd {cells[1] * 1e3:8.3f} / {cells[3] * 1e3:8.3f}")


if __name__ == "__main__":
    main()
