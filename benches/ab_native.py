"""Same-process A/B of two builds of sigrs's native module.

The VM these benchmarks run on is shared and noisy: two runs of one build,
minutes apart, differed by up to 2x, so timing an old build and a new one in
turn, in separate processes, often cannot tell a 10 % change from noise.
Here the other build's ``_native`` is loaded beside the installed one, in
the same process, and their calls alternate (old, new, new, old, ...), so
both see the same machine. The ratio printed is the median of the per-round
ratios. Loading one build as both sides (an A/A run) gave 0.997-1.013.

    # keep a copy of the build before a change, rebuild, then:
    python benches/ab_native.py /tmp/before/_native.abi3.so 128,256,4,6 f64 fwd
    python benches/ab_native.py /tmp/before/_native.abi3.so 256,200,2,4 f64 bwd --calls 20
    python benches/ab_native.py /tmp/before/_native.abi3.so 1,200000,3,4 f64 bwd --n-jobs -1

Both builds must take the same arguments (``sig`` and ``sig_backprop`` of
``sigrs._native``). The outputs are checked to agree (to 1e-10 of each row's
largest entry in float64, 1e-4 in float32) before anything is timed.
"""

import argparse
import importlib.machinery
import importlib.util
import time

import numpy as np

import sigrs
from sigrs import _native as installed
from sigrs._options import SigOptions


def load_native(path):
    """The ``_native`` extension at ``path``, not entered in sys.modules."""
    loader = importlib.machinery.ExtensionFileLoader("_native", path)
    spec = importlib.util.spec_from_file_location("_native", path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", help="path of the other build's _native.abi3.so (the 'old' side)")
    parser.add_argument("shape", help="batch,length,dim,degree, e.g. 128,256,4,6")
    parser.add_argument("dtype", choices=["f32", "f64"])
    parser.add_argument("op", choices=["fwd", "bwd"])
    parser.add_argument("--calls", type=int, default=3, help="calls per timed round (default 3)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds per side (default 15)")
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()

    old, new = load_native(args.other), installed
    batch, length, dim, degree = map(int, args.shape.split(","))
    dtype = np.float32 if args.dtype == "f32" else np.float64
    x = (np.random.default_rng(0).standard_normal((batch, length, dim)) * 0.1).astype(dtype).cumsum(1)
    opts = SigOptions(degree, False, False, 1.0, False, False, False, args.n_jobs)
    sig_len = sigrs.sig_length(dim, degree)
    sigs = np.empty((batch, sig_len), dtype)
    new.sig(x, sigs, None, opts)
    grads = np.random.default_rng(1).standard_normal(sigs.shape).astype(dtype)

    def call(native):
        if args.op == "fwd":
            out = np.empty((batch, sig_len), dtype)
            native.sig(x, out, None, opts)
        else:
            out = np.empty_like(x)
            native.sig_backprop(x, sigs, grads, out, None, None, opts)
        return out

    a, b = call(old), call(new)
    scale = np.abs(b).reshape(batch, -1).max(axis=1).reshape((-1,) + (1,) * (b.ndim - 1))
    err = float((np.abs(a - b) / np.maximum(scale, np.finfo(dtype).tiny)).max())
    if err >= (1e-4 if dtype == np.float32 else 1e-10):
        raise SystemExit(f"the builds disagree: relative difference {err:.3g}")

    times = {"old": [], "new": []}
    for r in range(args.rounds):
        order = (("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old))
        for name, native in order:
            start = time.perf_counter()
            for _ in range(args.calls):
                call(native)
            times[name].append((time.perf_counter() - start) / args.calls * 1e3)
    t_old, t_new = np.median(times["old"]), np.median(times["new"])
    paired = np.median(np.array(times["old"]) / np.array(times["new"]))
    print(f"{args.shape} {args.dtype} {args.op} n_jobs={args.n_jobs}: other {t_old:.4f} ms, installed {t_new:.4f} ms "
          f"(medians); other / installed {paired:.3f} (median of per-round ratios; above 1: installed is faster)")


if __name__ == "__main__":
    main()
