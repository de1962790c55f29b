"""A signature-kernel Gram matrix on a local dask cluster, against one in-memory call on the same cores (issue 16).

Workload: 4000 x 4000 paths (random walks of length 16 in dimension 3,
dyadic order 2, float64) in tiles of 500 x 500, on
``LocalCluster(n_workers=2, threads_per_worker=1)``. Two Gram matrices:
``X`` with ``Y`` (every tile solved) and ``X`` with itself (the tiles on
and above the diagonal solved, the others mirrored). The workers write
each tile into a memory-mapped file (``da.store``), so no process ever
holds the matrix; the file is then compared with the in-memory result
(``sigrs.sig_kernel_gram(..., n_jobs=2)``), which must be equal bit for bit.

Prints the time and pairs per second of both, their ratio, each worker's
peak resident memory above its idle memory (Linux: ``VmHWM`` of
``/proc/<pid>/status``, reset through ``clear_refs`` before each run), the
in-memory call's, and an extrapolation to 1e5 x 1e5 from the measured
per-pair cost. Each measurement runs ``--repeat`` times and the best time
is kept (the machine may be shared). Run: ``python benches/dask_gram.py``
(a few minutes on 2 cores); the flags change the workload.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time

import numpy as np

import sigrs

MIB = 2**20


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+) kB", f.read()).group(1))


def reset_peak() -> int:
    """Resets this process's peak RSS to its current RSS (Linux); returns the current RSS in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kib("VmRSS") * 1024


def peak() -> int:
    """This process's peak RSS in bytes since :func:`reset_peak`."""
    return _status_kib("VmHWM") * 1024


class TileFile:
    """A float64 matrix in a file, written tile by tile; each worker opens
    the file itself, so the target pickles as its name."""

    def __init__(self, path: str, shape: tuple) -> None:
        self.path, self.shape = path, shape

    def __setitem__(self, index: tuple, tile: np.ndarray) -> None:
        out = np.memmap(self.path, dtype=np.float64, mode="r+", shape=self.shape)
        out[index] = tile
        out.flush()
        del out


def walks(rng: np.random.Generator, n: int, length: int, dim: int) -> np.ndarray:
    return np.cumsum(rng.standard_normal((n, length, dim)) / np.sqrt(length), axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000, help="paths per side")
    parser.add_argument("--length", type=int, default=16)
    parser.add_argument("--dim", type=int, default=3)
    parser.add_argument("--dyadic-order", type=int, default=2)
    parser.add_argument("--tile", type=int, default=500, help="paths per block: tiles are tile x tile")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, one thread each")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    import dask.array as da
    from distributed import Client, LocalCluster

    import sigrs.dask

    rng = np.random.default_rng(0)
    x, y = walks(rng, args.n, args.length, args.dim), walks(rng, args.n, args.length, args.dim)
    kw = dict(dyadic_order=args.dyadic_order)
    chunks = (args.tile, args.length, args.dim)
    X, Y = da.from_array(x, chunks=chunks), da.from_array(y, chunks=chunks)
    cases = {"X with Y": (x, y, (X, Y), args.n * args.n),
             "X with itself": (x, x, (X,), args.n * (args.n + 1) // 2)}

    print(f"Gram {args.n} x {args.n}: length {args.length}, dim {args.dim}, dyadic order {args.dyadic_order}, float64; "
          f"tiles {args.tile} x {args.tile} ({-(-args.n // args.tile)} x {-(-args.n // args.tile)}); "
          f"{args.workers} workers x 1 thread against one call with n_jobs={args.workers}; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    warm = da.from_array(x[:20], chunks=10)
    sigrs.dask.sig_kernel_gram(warm, **kw).compute()  # imports sigrs on the workers
    sigrs.sig_kernel_gram(x[:20], x[:20], n_jobs=args.workers, **kw)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (a, b, dask_args, pairs) in cases.items():
            best_memory = best_dask = float("inf")
            memory_peak = 0
            worker_peaks: dict = {}
            for _ in range(args.repeat):
                idle = reset_peak()
                t0 = time.perf_counter()
                expected = sigrs.sig_kernel_gram(a, b, n_jobs=args.workers, **kw)
                best_memory = min(best_memory, time.perf_counter() - t0)
                memory_peak = max(memory_peak, peak() - idle)

                path = os.path.join(tmp, "gram.f64")
                np.memmap(path, dtype=np.float64, mode="w+", shape=expected.shape).flush()
                gram = sigrs.dask.sig_kernel_gram(*dask_args, **kw)
                idle_workers = client.run(reset_peak)
                t0 = time.perf_counter()
                da.store(gram, TileFile(path, expected.shape), lock=False)
                best_dask = min(best_dask, time.perf_counter() - t0)
                for worker, value in client.run(peak).items():
                    worker_peaks[worker] = max(worker_peaks.get(worker, 0), value - idle_workers[worker])
                stored = np.memmap(path, dtype=np.float64, mode="r", shape=expected.shape)
                assert np.array_equal(stored, expected), f"{name}: the tiles differ from the in-memory Gram"
                del stored, expected
            results[name] = (pairs, best_memory, best_dask, memory_peak, worker_peaks)
    idle_rss = client.run(lambda: _status_kib("VmRSS") * 1024)
    client.close()
    cluster.close()

    tile_bytes = args.tile * args.tile * 8
    print(f"\n{'':16} {'pairs':>11} {'in memory':>10} {'dask':>8} {'pairs/s in memory':>18} {'pairs/s dask':>13} "
          f"{'dask/in memory':>15}")
    for name, (pairs, t_mem, t_dask, _, _) in results.items():
        print(f"{name:16} {pairs:>11,} {t_mem:>9.2f}s {t_dask:>7.2f}s {pairs / t_mem:>18,.0f} {pairs / t_dask:>13,.0f} "
              f"{t_mem / t_dask:>14.2f}x")
    print(f"\npeak resident memory above idle (idle worker RSS {np.mean(list(idle_rss.values())) / MIB:.0f} MiB; "
          f"one tile is {tile_bytes / MIB:.1f} MiB, the whole Gram {args.n * args.n * 8 / MIB:.0f} MiB):")
    for name, (_, _, _, memory_peak, worker_peaks) in results.items():
        shown = ", ".join(f"{v / MIB:.0f}" for v in worker_peaks.values())
        print(f"  {name:16} in-memory call {memory_peak / MIB:6.0f} MiB;  each dask worker {shown} MiB")

    pairs, _, t_dask, _, worker_peaks = results["X with Y"]
    per_worker = pairs / t_dask / args.workers
    sym_pairs, _, t_sym, _, _ = results["X with itself"]
    per_worker_sym = sym_pairs / t_sym / args.workers
    big = 100_000
    blocks = -(-big // args.tile)
    worst = max(worker_peaks.values()) + max(idle_rss.values())
    print(f"\nextrapolation to {big:,} x {big:,} (the measured pairs/s per worker: {per_worker:,.0f} for X with Y, "
          f"{per_worker_sym:,.0f} for X with itself), tiles of {args.tile} x {args.tile}: "
          f"{blocks:,} x {blocks:,} = {blocks * blocks:,} tiles, {big * big * 8 / 1e9:,.0f} GB of float64 output")
    for workers in (args.workers, 32, 256):
        t_xy = big * big / (per_worker * workers)
        t_xx = big * (big + 1) / 2 / (per_worker_sym * workers)
        print(f"  {workers:4} workers: X with Y {t_xy / 3600:8.2f} h, X with itself {t_xx / 3600:8.2f} h")
    print(f"  memory per worker: about {worst / MIB:.0f} MiB whatever N (the peak above, plus the idle process): "
          f"a task holds one tile ({tile_bytes / MIB:.1f} MiB) and the pairs sigrs gathers per chunk "
          f"(max_batch=-1: about 64 MiB of paths); the output goes to storage or into a reduction "
          f"(sigrs.dask.sig_mmd), never to one process")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
