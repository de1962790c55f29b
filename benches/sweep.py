#!/usr/bin/env python3
"""Ratio sweep: sigrs against pysiglib over a grid of shapes.

compare.py times a few chosen shapes; this script times both libraries over
the space users live in and prints ratio grids, so a shape where sigrs falls
behind cannot hide between the benchmark's rows.

Usage:
    python benches/sweep.py [--quick] [--repeat R] [--n-jobs N]
                            [--dims D ...] [--degrees M ...] [--dtypes f32 f64]
                            [--regimes tiny short mid long groups] [--ops OP ...]
                            [--budget GFLOP] [--json PATH] [--plot PATH.png]

What is timed (NumPy inputs, ``n_jobs=1`` unless ``--n-jobs``):
  sig       ``sig(path, m)``, forward.
  sig_bwd   ``sig_backprop(path, S, derivs, m)``, each library with the
            signature ``S`` of its own forward pass (computed untimed).
            Both over dimension x degree (dimensions 1-8, 10, 12, 16, 20;
            degrees 2-8; cells whose signature has more than --max-sig-len
            terms are left out, "."), float32 and float64, in five regimes
            of (batch B, length L):
              tiny   B = 1, L = 10: the per-call overhead;
              short  L = 64, B up to 8192: many short paths;
              mid    B up to 128, L up to 1024;
              long   B = 1, L up to 200000: one long path;
              groups B = 16, L up to 256: 16 paths at every size of
                     signature (the others shrink B first, so large
                     signatures get 1-2 paths there).
            Each scaled regime starts from its largest (B, L) and shrinks B,
            then L (down to the regime's floor), until the cell's arithmetic
            fits --budget (counted like compare.py's %peak column: the
            Horner step does about sig_len * d/(d-1) multiply-adds per
            increment, a backward pass three times that).  The sizes depend
            only on the shape, never on a measured speed, so two runs (two
            builds) time the same inputs; --json records them.
  kernel     ``sig_kernel(x, y, dyadic_order=o)``, linear static kernel,
  kernel_bwd ``sig_kernel_backprop(derivs, x, y, ..., left_deriv=True,
            right_deriv=True)``, float64, over pairs (1, 4, 32, 256) x length
            (50, 200, 500, 2000) in the rows and dimension (2, 5, 20) x
            dyadic order (0, 1, 2) in the columns; cells whose PDE grid has
            more than --max-kernel-cells points (pairs x ((L-1) 2^o)^2) are
            left out.

How it is timed: one process, one run.  Per cell, each library is called
once (the warm-up) and its output checked against sigrs's (max |diff| / max
|sigrs| within 1e-8 in float64, 1e-3 in float32; else the cell is MISMATCH
and not timed); then --repeat repeats of N calls each (N from the warm-up
time and --min-time), the two libraries alternating repeat by repeat so
that both see the same load, and the medians are compared.

How to read it: every cell is pysiglib's median / sigrs's median, so above 1
means sigrs is faster; "*" marks cells below 1.  Grids of sig ops have a row
per dimension and a column per degree; kernel grids a row per (pairs,
length) and a column per (dimension, dyadic order).  After the grids, a
summary per op: the smallest cell with its coordinates, the median cell,
and how many cells are below 1.2x and below 1.0x.  --json writes every raw
time and size; --plot draws the grids as heat maps (needs matplotlib).
Nothing here asserts on times.  On a busy machine, compare runs only by
their ratios: both libraries are timed in the same moments.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from _work import random_paths, sig_flops, sig_len, step_madds, write_json

LIBS = ("sigrs", "pysiglib")       # ratio = pysiglib / sigrs


def _import(name: str):
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # ImportError, or a broken build
        return None, f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------

DIMS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20)
DEGREES = (2, 3, 4, 5, 6, 7, 8)
# "about 2 million terms": 2.1e6 keeps (d 6, m 8), 2,015,538 terms
MAX_SIG_LEN = 2_100_000
QUICK_DIMS = (1, 2, 3, 5, 8, 16)
QUICK_DEGREES = (2, 4, 6, 8)


@dataclass(frozen=True)
class Regime:
    """A family of (batch, length): start at (batch, length), shrink the
    batch to min_batch, then the length to min_length, until the work fits."""
    name: str
    batch: int
    length: int
    min_batch: int
    min_length: int
    what: str


REGIMES = {
    "tiny": Regime("tiny", 1, 10, 1, 10, "B 1, L 10: per-call overhead"),
    "short": Regime("short", 8192, 64, 1, 16, "L 64, B up to 8192: many short paths"),
    "mid": Regime("mid", 128, 1024, 2, 32, "B up to 128, L up to 1024"),
    "long": Regime("long", 1, 200_000, 1, 32, "B 1, L up to 200000: one long path"),
    # The scaled regimes above shrink the batch first, so large signatures
    # get one or two paths there: never a whole group of SIMD lanes (4-16
    # paths), where states of 5-64 MB take their own route.
    "groups": Regime("groups", 16, 256, 16, 16, "B 16, L up to 256: whole lane groups at every size"),
}

SIG_OPS = ("sig", "sig_bwd")
KERNEL_OPS = ("kernel", "kernel_bwd")
OP_TITLES = {"sig": "sig (forward)", "sig_bwd": "sig_backprop (backward)",
             "kernel": "sig_kernel (forward)",
             "kernel_bwd": "sig_kernel_backprop (backward, both paths)"}
BACKWARD_PASSES = 3      # one inverse step + one adjoint step (twice a forward's work)

KERNEL_PAIRS = (1, 4, 32, 256)
KERNEL_LENGTHS = (50, 200, 500, 2000)
KERNEL_DIMS = (2, 5, 20)
KERNEL_ORDERS = (0, 1, 2)
# 4 pairs of length 2000 at order 0 (the issue's slow case) is 1.6e7 points
MAX_KERNEL_CELLS = 16_000_000
QUICK_KERNEL = dict(pairs=(1, 32), lengths=(50, 500), dims=(2, 20), orders=(0, 2))
QUICK_MAX_KERNEL_CELLS = 2_000_000


def size_cell(reg: Regime, dim: int, degree: int, budget: float) -> Tuple[int, int]:
    """(batch, length) of a regime for one cell: the regime's largest shape,
    shrunk (batch first, then length) until its flops fit `budget`."""
    b, l = reg.batch, reg.length
    per_step = 2.0 * step_madds(dim, degree)
    if b * (l - 1) * per_step > budget:
        b = max(reg.min_batch, int(budget / ((l - 1) * per_step)))
    if b * (l - 1) * per_step > budget:
        l = max(reg.min_length, int(budget / (b * per_step)) + 1)
    return b, l


def kernel_cells(pairs: int, length: int, order: int) -> int:
    """Points of the refined PDE grids of `pairs` pairs of length `length`."""
    return pairs * ((length - 1) * 2 ** order) ** 2


# --------------------------------------------------------------------------
# Checks (inputs and work counts are in _work.py, shared with compare.py,
# which is not imported here: it imports torch and every peer at start-up)
# --------------------------------------------------------------------------

def rel_maxdiff(out, ref) -> float:
    """max |out - ref| / max |ref| in float64 (tuples: the worst item)."""
    if isinstance(out, (tuple, list)):
        return max(rel_maxdiff(a, b) for a, b in zip(out, ref))
    a = np.asarray(out, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} != sigrs's {b.shape}")
    if not np.all(np.isfinite(a)):
        return math.inf
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    return diff / scale if scale > 0 else diff


RTOL = {"float64": 1e-8, "float32": 1e-3}


# --------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------

@dataclass
class Cell:
    """One grid point: `make(lib, inputs)` returns a zero-argument callable
    (anything done in make is untimed); its result is checked across libs."""
    op: str
    coords: Dict[str, Any]          # what the tables and the JSON show
    setup: Callable[[], dict]
    make: Callable[[Any, dict], Callable[[], Any]]
    rtol: float


def sig_cells(args) -> List[Cell]:
    cells: List[Cell] = []
    nj = args.n_jobs
    for op in args.ops:
        if op not in SIG_OPS:
            continue
        # a backward pass counts BACKWARD_PASSES forward passes: its inputs
        # are that much smaller, so every op gets about the same time
        budget = args.budget * 1e9 / (BACKWARD_PASSES if op == "sig_bwd" else 1)
        for dtype in args.dtypes:
            for regime in args.regimes:
                reg = REGIMES[regime]
                for dim in args.dims:
                    for degree in args.degrees:
                        n = sig_len(dim, degree)
                        if n > args.max_sig_len:
                            continue
                        b, l = size_cell(reg, dim, degree, budget)
                        def setup(b=b, l=l, dim=dim, degree=degree, dtype=dtype, n=n):
                            rng = np.random.default_rng([args.seed, dim, degree, b, l])
                            path = random_paths(rng, b, l, dim, dtype)
                            derivs = rng.standard_normal((b, n)).astype(dtype)
                            return {"path": path, "derivs": derivs}

                        if op == "sig":
                            def make(mod, c, degree=degree):
                                path = c["path"]
                                return lambda: mod.sig(path, degree, n_jobs=nj)
                        else:
                            def make(mod, c, degree=degree):
                                path, derivs = c["path"], c["derivs"]
                                s = mod.sig(path, degree, n_jobs=-1)    # untimed
                                return lambda: mod.sig_backprop(path, s, derivs, degree,
                                                                n_jobs=nj)
                        coords = dict(dtype=dtype, regime=regime, dim=dim, degree=degree,
                                      batch=b, length=l, sig_len=n,
                                      flops=sig_flops(b, l, dim, degree)
                                      * (BACKWARD_PASSES if op == "sig_bwd" else 1))
                        cells.append(Cell(op, coords, setup, make, RTOL[dtype]))
    return cells


def kernel_cells_list(args) -> List[Cell]:
    cells: List[Cell] = []
    nj = args.n_jobs
    for op in args.ops:
        if op not in KERNEL_OPS:
            continue
        for pairs in args.kernel_pairs:
            for length in args.kernel_lengths:
                for dim in args.kernel_dims:
                    for order in args.kernel_orders:
                        if kernel_cells(pairs, length, order) > args.max_kernel_cells:
                            continue
                        def setup(pairs=pairs, length=length, dim=dim):
                            rng = np.random.default_rng([args.seed, pairs, length, dim])
                            return {"x": random_paths(rng, pairs, length, dim, np.float64),
                                    "y": random_paths(rng, pairs, length, dim, np.float64),
                                    "derivs": rng.standard_normal(pairs)}

                        if op == "kernel":
                            def make(mod, c, order=order):
                                x, y = c["x"], c["y"]
                                return lambda: mod.sig_kernel(x, y, dyadic_order=order,
                                                              n_jobs=nj)
                        else:
                            def make(mod, c, order=order):
                                x, y, d = c["x"], c["y"], c["derivs"]
                                return lambda: mod.sig_kernel_backprop(
                                    d, x, y, dyadic_order=order, left_deriv=True,
                                    right_deriv=True, n_jobs=nj)
                        coords = dict(dtype="float64", pairs=pairs, length=length, dim=dim,
                                      dyadic_order=order,
                                      grid_points=kernel_cells(pairs, length, order))
                        cells.append(Cell(op, coords, setup, make, RTOL["float64"]))
    return cells


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------

def time_calls(fn, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def run_cell(cell: Cell, mods: Dict[str, Any], args) -> dict:
    """Warm-up and check, then alternating timed repeats; one result dict."""
    res: Dict[str, Any] = {"op": cell.op, **cell.coords, "status": "ok"}
    ctx = cell.setup()
    fns, outs, warm = {}, {}, {}
    for lib in LIBS:
        try:
            fns[lib] = cell.make(mods[lib], ctx)
            t0 = time.perf_counter()
            outs[lib] = fns[lib]()          # warm-up, and the output checked
            warm[lib] = time.perf_counter() - t0
        except Exception as exc:
            res["status"] = "error"
            res["error"] = f"{lib}: {type(exc).__name__}: {exc}".splitlines()[0][:300]
            return res
    try:
        res["maxdiff"] = rel_maxdiff(outs["pysiglib"], outs["sigrs"])
    except Exception as exc:
        res["maxdiff"], res["error"] = math.inf, f"{type(exc).__name__}: {exc}"
    if not res["maxdiff"] <= cell.rtol:
        res["status"] = "mismatch"
        return res
    outs.clear()
    # calls per repeat from a second call: the first one can carry one-time
    # costs (first-touch pages, lazily built tables) that would make N small
    once = {lib: min(warm[lib], time_calls(fns[lib], 1)) for lib in LIBS}
    numbers = {lib: max(1, min(100_000, int(args.min_time / max(once[lib], 1e-9))))
               for lib in LIBS}
    times: Dict[str, List[float]] = {lib: [] for lib in LIBS}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(args.repeat):
            # alternate which library goes first, so neither always runs on
            # the caches (and the turbo state) the other left behind
            for lib in (LIBS if r % 2 == 0 else LIBS[::-1]):
                times[lib].append(time_calls(fns[lib], numbers[lib]))
    finally:
        if gc_was_enabled:
            gc.enable()
    for lib in LIBS:
        res[lib] = {"times_s": times[lib], "median_s": statistics.median(times[lib]),
                    "number": numbers[lib], "warmup_s": warm[lib]}
    res["ratio"] = res["pysiglib"]["median_s"] / res["sigrs"]["median_s"]
    return res


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def cell_text(r: Optional[dict]) -> str:
    if r is None:
        return "."
    if r["status"] == "mismatch":
        return "MISM"
    if r["status"] == "error":
        return "err"
    v = r["ratio"]
    s = f"{v:.2f}" if v < 10 else (f"{v:.1f}" if v < 100 else f"{v:.0f}")
    return s + ("*" if v < 1.0 else " ")


def text_grid(title: str, row_keys, row_labels, col_keys, col_labels, lookup) -> str:
    """A table: `lookup(row_key, col_key)` gives a result dict or None."""
    cells = [[cell_text(lookup(rk, ck)) for ck in col_keys] for rk in row_keys]
    w0 = max(len(s) for s in row_labels + [""])
    w = max([len(s) for s in col_labels] + [len(c) for row in cells for c in row] + [4])
    lines = [title, " " * w0 + "  " + "  ".join(s.rjust(w) for s in col_labels)]
    for label, row in zip(row_labels, cells):
        lines.append(label.rjust(w0) + "  " + "  ".join(c.rjust(w) for c in row))
    return "\n".join(lines)


def sig_grids(results: List[dict], args) -> List[Tuple[str, dict]]:
    """(title, grid spec) per (op, dtype, regime) that has results."""
    grids = []
    for op in SIG_OPS:
        for dtype in args.dtypes:
            for regime in args.regimes:
                sel = {(r["dim"], r["degree"]): r for r in results
                       if r["op"] == op and r["dtype"] == dtype and r["regime"] == regime}
                if not sel:
                    continue
                sizes = sorted({(r["batch"], r["length"]) for r in sel.values()})
                bs = sorted({b for b, _ in sizes})
                ls = sorted({l for _, l in sizes})
                span = (f"B {bs[0]}" if len(bs) == 1 else f"B {bs[0]}..{bs[-1]}") + ", " + \
                       (f"L {ls[0]}" if len(ls) == 1 else f"L {ls[0]}..{ls[-1]}")
                title = (f"{OP_TITLES[op]}, {dtype}, {regime} ({REGIMES[regime].what}; "
                         f"run: {span}); rows dim, columns degree")
                dims = [d for d in args.dims if any(k[0] == d for k in sel)]
                degs = [m for m in args.degrees if any(k[1] == m for k in sel)]
                grids.append((title, dict(
                    op=op, rows=dims, row_labels=[f"d{d}" for d in dims], cols=degs,
                    col_labels=[f"m{m}" for m in degs], sel=sel,
                    short=f"{op} {dtype.replace('float', 'f')} {regime}")))
    return grids


def kernel_grids(results: List[dict], args) -> List[Tuple[str, dict]]:
    grids = []
    for op in KERNEL_OPS:
        sel = {((r["pairs"], r["length"]), (r["dim"], r["dyadic_order"])): r
               for r in results if r["op"] == op}
        if not sel:
            continue
        rows = [(p, l) for p in args.kernel_pairs for l in args.kernel_lengths
                if any(k[0] == (p, l) for k in sel)]
        cols = [(d, o) for d in args.kernel_dims for o in args.kernel_orders
                if any(k[1] == (d, o) for k in sel)]
        title = (f"{OP_TITLES[op]}, float64; rows pairs x length, columns dim, dyadic order")
        grids.append((title, dict(
            op=op, rows=rows, row_labels=[f"P{p} L{l}" for p, l in rows], cols=cols,
            col_labels=[f"d{d} o{o}" for d, o in cols],
            sel={(rk, ck): v for (rk, ck), v in sel.items()}, short=op)))
    return grids


def grid_lookup(spec):
    return lambda rk, ck: spec["sel"].get((rk, ck))


def where(r: dict) -> str:
    if r["op"] in SIG_OPS:
        return (f"{r['dtype'].replace('float', 'f')} {r['regime']} d{r['dim']} m{r['degree']} "
                f"(B {r['batch']}, L {r['length']})")
    return f"P{r['pairs']} L{r['length']} d{r['dim']} o{r['dyadic_order']}"


def summary_lines(results: List[dict], args) -> List[str]:
    lines = []
    for op in SIG_OPS + KERNEL_OPS:
        rs = [r for r in results if r["op"] == op]
        if not rs:
            continue
        ok = [r for r in rs if r["status"] == "ok"]
        bad = len(rs) - len(ok)
        extra = f"; {bad} not timed (MISMATCH/err)" if bad else ""
        if not ok:
            lines.append(f"{OP_TITLES[op]}: no timed cell{extra}")
            continue
        ratios = [r["ratio"] for r in ok]
        worst = min(ok, key=lambda r: r["ratio"])
        lines.append(f"{OP_TITLES[op]}: {len(ok)} cells; min {worst['ratio']:.2f}x at "
                     f"{where(worst)}; median {statistics.median(ratios):.2f}x; "
                     f"{sum(v < 1.2 for v in ratios)} below 1.2x, "
                     f"{sum(v < 1.0 for v in ratios)} below 1.0x{extra}")
        if op in SIG_OPS:
            # the same per dtype and regime, to see where the losses sit
            for dtype in args.dtypes:
                for regime in args.regimes:
                    sub = [r for r in ok if r["dtype"] == dtype and r["regime"] == regime]
                    if not sub:
                        continue
                    v = [r["ratio"] for r in sub]
                    w = min(sub, key=lambda r: r["ratio"])
                    lines.append(f"    {dtype.replace('float', 'f')} {regime:<5}: min "
                                 f"{w['ratio']:.2f}x (d{w['dim']} m{w['degree']}), median "
                                 f"{statistics.median(v):.2f}x, {sum(x < 1.2 for x in v)} "
                                 f"< 1.2x, {sum(x < 1.0 for x in v)} < 1.0x of {len(v)}")
    return lines


def plot(grids: List[Tuple[str, dict]], path: str) -> Optional[str]:
    """Heat maps of every grid in one figure; returns an error message or None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import TwoSlopeNorm
    except ImportError as exc:
        return f"--plot needs matplotlib ({exc}); pip install matplotlib"
    ncol = 4
    nrow = math.ceil(len(grids) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False,
                             layout="constrained")
    # colours on log2(ratio): 0.5x and 2x are equally far from 1; clipped at
    # 1/8x and 8x so one extreme cell does not wash out the rest
    lim = 3.0
    norm = TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
    image = None
    for ax, (title, spec) in zip(axes.flat, grids):
        look = grid_lookup(spec)
        vals = np.full((len(spec["rows"]), len(spec["cols"])), np.nan)
        for i, rk in enumerate(spec["rows"]):
            for j, ck in enumerate(spec["cols"]):
                r = look(rk, ck)
                if r is not None and r["status"] == "ok":
                    vals[i, j] = r["ratio"]
                if r is not None:
                    ok = r["status"] == "ok"
                    # white on the dark ends of the colour map, black elsewhere
                    dark = ok and abs(math.log2(r["ratio"])) > 0.6 * lim
                    ax.text(j, i, cell_text(r).strip(" *") if ok else r["status"][:4],
                            ha="center", va="center", fontsize=7,
                            color="white" if dark else "black")
        image = ax.imshow(np.clip(np.log2(vals), -lim, lim), cmap="RdBu", norm=norm,
                          aspect="auto")
        ax.set_xticks(range(len(spec["cols"])), spec["col_labels"], fontsize=7,
                      rotation=90 if spec["op"] in KERNEL_OPS else 0)
        ax.set_yticks(range(len(spec["rows"])), spec["row_labels"], fontsize=7)
        ax.set_title(spec["short"], fontsize=9)
    for ax in list(axes.flat)[len(grids):]:
        ax.axis("off")
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.6, ticks=range(-3, 4))
        bar.ax.set_yticklabels([f"{2.0 ** k:g}x" for k in range(-3, 4)])
        bar.set_label("pysiglib time / sigrs time (blue: sigrs faster)")
    fig.suptitle("sigrs vs pysiglib: ratio = pysiglib / sigrs", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def machine_info(mods) -> dict:
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else None, "numpy": np.__version__, "cpu_model": None, "libraries": {}}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        info["cpu_model"] = platform.processor() or None
    for lib, mod in mods.items():
        version = getattr(mod, "__version__", None)
        if version is None:
            try:
                from importlib import metadata
                version = metadata.version(lib)
            except Exception:
                version = "?"
        info["libraries"][lib] = {"version": str(version),
                                  "file": getattr(mod, "__file__", None)}
    return info


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"dims {QUICK_DIMS}, degrees {QUICK_DEGREES}, a smaller kernel "
                        "grid, 3 repeats, a quarter of the budget: ~1-2 minutes")
    p.add_argument("--repeat", type=int, default=None,
                   help="timed repeats per library and cell (default 5, --quick 3)")
    p.add_argument("--n-jobs", type=int, default=1,
                   help="n_jobs for both libraries (default 1; -1: all cores)")
    p.add_argument("--dims", type=int, nargs="+", default=None,
                   help="signature dimensions (default 1-8 10 12 16 20)")
    p.add_argument("--degrees", type=int, nargs="+", default=None,
                   help="signature degrees (default 2-8)")
    p.add_argument("--dtypes", nargs="+", choices=("f32", "f64"), default=["f32", "f64"])
    p.add_argument("--regimes", nargs="+", choices=tuple(REGIMES), default=list(REGIMES))
    p.add_argument("--ops", nargs="+", choices=SIG_OPS + KERNEL_OPS,
                   default=list(SIG_OPS + KERNEL_OPS))
    p.add_argument("--max-sig-len", type=int, default=MAX_SIG_LEN,
                   help="leave out cells whose signature is longer (default %(default)s)")
    p.add_argument("--budget", type=float, default=None,
                   help="GFLOP per call that sizes the scaled regimes (default 0.1, "
                        "--quick 0.025); a backward pass counts 3 forward passes")
    p.add_argument("--kernel-pairs", type=int, nargs="+", default=None)
    p.add_argument("--kernel-lengths", type=int, nargs="+", default=None)
    p.add_argument("--kernel-dims", type=int, nargs="+", default=None)
    p.add_argument("--kernel-orders", type=int, nargs="+", default=None)
    p.add_argument("--max-kernel-cells", type=int, default=None,
                   help=f"leave out kernel cells with more PDE grid points (default "
                        f"{MAX_KERNEL_CELLS:.1e}, --quick {QUICK_MAX_KERNEL_CELLS:.0e})")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds per timed repeat: fast calls run several times "
                        "(default 0.02, --quick 0.01)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", default=None, help="write every raw time")
    p.add_argument("--plot", metavar="PATH.png", default=None, help="draw heat maps")
    args = p.parse_args(argv)
    q = args.quick
    args.dims = args.dims or list(QUICK_DIMS if q else DIMS)
    args.degrees = args.degrees or list(QUICK_DEGREES if q else DEGREES)
    args.dtypes = [{"f32": "float32", "f64": "float64"}[d] for d in args.dtypes]
    if args.repeat is None:
        args.repeat = 3 if q else 5
    if args.budget is None:
        args.budget = 0.025 if q else 0.1
    if args.min_time is None:
        args.min_time = 0.01 if q else 0.02
    args.kernel_pairs = args.kernel_pairs or list(QUICK_KERNEL["pairs"] if q else KERNEL_PAIRS)
    args.kernel_lengths = args.kernel_lengths or list(
        QUICK_KERNEL["lengths"] if q else KERNEL_LENGTHS)
    args.kernel_dims = args.kernel_dims or list(QUICK_KERNEL["dims"] if q else KERNEL_DIMS)
    args.kernel_orders = args.kernel_orders or list(
        QUICK_KERNEL["orders"] if q else KERNEL_ORDERS)
    if args.max_kernel_cells is None:
        args.max_kernel_cells = QUICK_MAX_KERNEL_CELLS if q else MAX_KERNEL_CELLS
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.n_jobs == 0:
        p.error("--n-jobs 0 is not a thread count (1 serial, -1 all cores)")
    if min(args.dims) < 1 or min(args.degrees) < 1:
        p.error("--dims and --degrees must be >= 1")
    if args.budget <= 0:
        p.error("--budget must be > 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    mods, errors = {}, {}
    for lib in LIBS:
        mods[lib], errors[lib] = _import(lib)
    missing = {k: v for k, v in errors.items() if v}
    if missing:
        for lib, err in missing.items():
            print(f"sweep.py needs {lib}: {err}", file=sys.stderr)
        return 2

    info = machine_info(mods)
    cells = sig_cells(args) + kernel_cells_list(args)
    print("sigrs vs pysiglib ratio sweep  " + info["date"])
    print(f"machine : {info['cpu_model'] or '?'}; cpu_count={info['cpu_count']}, "
          f"usable={info['cpu_affinity']}; numpy {info['numpy']}")
    print("libs    : " + ", ".join(f"{k} {v['version']} ({v['file']})"
                                   for k, v in info["libraries"].items()))
    print(f"timing  : median of {args.repeat} alternating repeats after 1 warm-up call, "
          f"n_jobs={args.n_jobs}, budget {args.budget:g} GFLOP per call, "
          f"{len(cells)} cells{' (--quick)' if args.quick else ''}")
    print()

    # torch (which pysiglib imports) leaves a large heap: freezing it keeps
    # each cell's gc.collect() from walking it again (0.2 s a time)
    gc.collect()
    gc.freeze()
    results: List[dict] = []
    t_start = time.perf_counter()
    try:
        for i, cell in enumerate(cells, 1):
            t0 = time.perf_counter()
            r = run_cell(cell, mods, args)
            r["wall_s"] = time.perf_counter() - t0
            results.append(r)
            print(f"\r[{i}/{len(cells)}] {cell.op} {where(r)}: {cell_text(r).strip()} "
                  f"({time.perf_counter() - t0:.1f}s, total "
                  f"{time.perf_counter() - t_start:.0f}s)\033[K",
                  end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: the grids are partial.", file=sys.stderr)
    print(file=sys.stderr)
    wall = time.perf_counter() - t_start

    grids = sig_grids(results, args) + kernel_grids(results, args)
    for title, spec in grids:
        print(text_grid(title, spec["rows"], spec["row_labels"], spec["cols"],
                        spec["col_labels"], grid_lookup(spec)))
        print()
    print("cell = pysiglib median / sigrs median (> 1: sigrs faster; * below 1); "
          "'.' = left out (too big), MISM = outputs differ (not timed), err = raised.")
    print()
    print("summary:")
    for line in summary_lines(results, args):
        print("  " + line)
    problems = [r for r in results if r["status"] != "ok"]
    for r in problems:
        print(f"  {r['status']}: {r['op']} {where(r)}: "
              + (f"maxdiff {r['maxdiff']:.2e} " if "maxdiff" in r else "")
              + r.get("error", ""))
    print(f"total wall time {wall:.0f}s.")

    if args.json:
        write_json({"machine": info, "args": vars(args), "wall_s": wall, "cells": results}, args.json)
        print(f"cells saved to {args.json}")
    if args.plot:
        err = plot(grids, args.plot)
        print(err if err else f"heat maps saved to {args.plot}")
        if err:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
