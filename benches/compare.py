#!/usr/bin/env python3
"""Comparison benchmark: sigrs vs pysiglib vs iisignature vs signatory.

Times every library on the same inputs, in one process and one run, and prints
a table of median times and ratios (peer median / sigrs median; > 1 means sigrs
is faster).  Before timing, each library's output is checked against sigrs's
(``maxdiff`` column), so a row never compares different computations.

Usage:
    python benches/compare.py [--quick] [--repeat R] [--only PATTERN ...]
                              [--libs LIB ...] [--device cpu|cuda]
                              [--json PATH] [--list] [--no-peak]

Distance to the machine's limit: the ``%peak`` column gives sigrs's rate of
arithmetic as a share of the peak measured at the start of the same run,
numpy's float64 / float32 matmul of 2000 x 2000 (2 n^3 flops / median time),
at one thread for ``jobs`` 1 rows and at all usable cores for the others.
Counted work (2 flops per multiply-add): a signature's forward pass does
``sig_len * d/(d-1)`` multiply-adds per increment in its Horner step (d = 1:
``degree``), so ``2 B (L-1) sig_len d/(d-1)``; the stream forward pass does
the same steps; a backward pass counts as 3 forward passes (one inverse step
and one adjoint step per increment, the adjoint's transposed product doing
twice the forward's multiply-adds); a linear signature kernel's forward pass
``2 d`` per pair of increments (their inner product) plus 4 per point of the
refined PDE grid.  Rows without such a count (log-signatures, sig_coef,
kernel gradients, algebra ops, CUDA) show "-".

Every library is optional: a library that does not import is shown as "-"
and listed under the table.  Nothing here asserts on times.

Adding a workload: write a function that returns a list of ``Workload``
entries (a name, a setup returning the inputs, and one ``Impl`` per library
that builds a zero-argument callable from those inputs) and add it to
``build_workloads``.  See ``sig_workloads`` for the pattern.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import functools
import gc
import importlib
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from _work import random_paths, sig_flops, sig_len, write_json

# --------------------------------------------------------------------------
# Libraries
# --------------------------------------------------------------------------

REF = "sigrs"                      # ratios are peer / REF
# Importable libraries.  signatory is torch-only (its inputs are torch tensors,
# zero-copy views of the NumPy inputs); "sigrs.signatory" is sigrs's
# signatory-compatible module, timed as a library of its own.
LIBS = ("sigrs", "pysiglib", "iisignature", "signatory", "sigrs.signatory")
# Extra columns that time another way of calling a library (they are present
# when that library is): "sigrs:stream" is sigrs.sig(stream=True), set beside
# sigrs.sig() in the stream/cost rows, so its ratio is stream / one signature.
VARIANTS = {"sigrs:stream": "sigrs"}
COLUMNS = ("sigrs", "sigrs:stream", "pysiglib", "iisignature", "signatory",
           "sigrs.signatory")


def _try_import(name: str):
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # ImportError, or a broken build
        return None, f"{type(exc).__name__}: {exc}"


def _version(mod, dist: str) -> str:
    v = getattr(mod, "__version__", None)
    if v:
        return str(v)
    try:
        from importlib import metadata
        return metadata.version(dist)
    except Exception:
        return "?"


torch, _torch_err = _try_import("torch")
MODS: Dict[str, Any] = {}
IMPORT_ERRORS: Dict[str, str] = {}
for _name in LIBS:
    _mod, _err = _try_import(_name)
    if _mod is not None:
        MODS[_name] = _mod
    else:
        IMPORT_ERRORS[_name] = _err

_pysiglib_torch_api = None
if "pysiglib" in MODS and torch is not None:
    _pysiglib_torch_api, _e = _try_import("pysiglib.torch_api")


def available(lib: str) -> bool:
    """Whether a column's library imported (a variant: its base library)."""
    return VARIANTS.get(lib, lib) in MODS


def sigrs_sigstream():
    """sigrs.SigStream, or sigrs.streams.SigStream before it is exported."""
    cls = getattr(MODS["sigrs"], "SigStream", None)
    if cls is None:
        cls = importlib.import_module("sigrs.streams").SigStream
    return cls


# --------------------------------------------------------------------------
# Workload description
# --------------------------------------------------------------------------

@dataclass
class Impl:
    """One library's way of running a workload.

    ``make(ctx)`` receives the setup's inputs and returns a zero-argument
    callable; everything done inside ``make`` (e.g. computing the signature a
    backward pass needs) is outside the timing.  The callable's return value
    is what gets compared across libraries.
    """
    make: Callable[[dict], Callable[[], Any]]
    note: str = ""
    # Untimed: turns the warm-up output into the form compared with the
    # reference (e.g. a stream object -> one query, a list of gradients ->
    # one stacked array).
    post: Optional[Callable[[Any], Any]] = None
    # Rows whose impls have the same share_key reuse one measurement
    # (e.g. single-threaded iisignature in the n_jobs=1 and n_jobs=-1 rows).
    share_key: Optional[str] = None


@dataclass
class Workload:
    name: str                       # unique, matched by --only
    group: str                      # rows are grouped by this in the table
    setup: Callable[[], dict]       # builds the inputs (cached by setup_key)
    setup_key: str
    impls: Dict[str, Impl]
    jobs: str = ""                  # shown in the "jobs" column
    unit: str = "ms"                # "ms" or "us"
    number: Optional[int] = None    # calls per repeat; None = auto from warm-up
    repeat: Optional[int] = None    # overrides --repeat for this row
    rtol: float = 1e-8              # maxdiff above this = MISMATCH, not timed
    device: str = "cpu"             # "cuda": torch.cuda.synchronize per call
    params: dict = field(default_factory=dict)
    show_notes: bool = False        # list the impls' notes under the table
    # arithmetic of one call (see the module docstring), for the %peak
    # column; None where no count is clear
    flops: Optional[float] = None


UNIT_SCALE = {"s": 1.0, "ms": 1e3, "us": 1e6}


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

# Work counts for the %peak column: 2 flops per multiply-add.
BACKWARD_PASSES = 3     # one inverse step + one adjoint step (twice a forward's work)


def kernel_flops(pairs, length1, length2, dim, order) -> float:
    """A linear signature kernel's forward pass: the increments' inner
    products (2 d per pair of increments), then 4 flops per point of the
    refined PDE grid, k11 = (k10 + k01) c1 - k00 c2."""
    coarse = (length1 - 1) * (length2 - 1)
    return float(pairs) * coarse * (2.0 * dim + 4.0 * 4 ** order)


def to_numpy(x) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def out_dtype(x) -> str:
    """dtype of an output (of its first item for a tuple of gradients)."""
    if isinstance(x, (tuple, list)):
        return out_dtype(x[0]) if len(x) else "none"
    return str(to_numpy(x).dtype)


# --------------------------------------------------------------------------
# Workload builders
# --------------------------------------------------------------------------

def sig_workloads(batch, length, dim, degree, dtype, seed, *, rtol,
                  repeat=None) -> List[Workload]:
    """Forward and backward at n_jobs=1 and n_jobs=-1, from NumPy arrays."""
    dname = np.dtype(dtype).name.replace("float", "f")
    shape = f"B{batch}-L{length}-d{dim}-m{degree}"
    key = f"np/{dname}/{shape}/{seed}"
    params = dict(batch=batch, length=length, dim=dim, degree=degree,
                  dtype=np.dtype(dtype).name, input="numpy")

    def setup():
        rng = np.random.default_rng(seed)
        path = random_paths(rng, batch, length, dim, dtype)
        derivs = rng.standard_normal((batch, sig_len(dim, degree))).astype(dtype)
        return {"path": path, "derivs": derivs}

    out: List[Workload] = []
    for nj in (1, -1):
        impls = {
            "sigrs": Impl(lambda c, nj=nj: functools.partial(
                MODS["sigrs"].sig, c["path"], degree, n_jobs=nj)),
            "pysiglib": Impl(lambda c, nj=nj: functools.partial(
                MODS["pysiglib"].sig, c["path"], degree, n_jobs=nj)),
            "iisignature": Impl(lambda c: functools.partial(
                MODS["iisignature"].sig, c["path"], degree),
                note="single-threaded", share_key=f"iisig-fwd/{key}"),
        }
        if nj == -1:
            # signatory has no n_jobs: it uses torch's intra-op threads (all cores)
            impls["signatory"] = Impl(lambda c: functools.partial(
                MODS["signatory"].signature, torch.from_numpy(c["path"]), degree),
                note="torch.from_numpy(path); torch threads")
        out.append(Workload(
            name=f"sig/{dname}/{shape}/nj{nj}", group="sig (forward)",
            setup=setup, setup_key=key, impls=impls, jobs=str(nj),
            rtol=rtol, repeat=repeat, params=dict(params, op="sig", n_jobs=nj),
            flops=sig_flops(batch, length, dim, degree)))

    def own_backprop(lib, nj):
        def make(c):
            mod = MODS[lib]
            s = mod.sig(c["path"], degree, n_jobs=-1)   # not timed
            return functools.partial(mod.sig_backprop, c["path"], s, c["derivs"],
                                     degree, n_jobs=nj)
        return make

    for nj in (1, -1):
        impls = {
            "sigrs": Impl(own_backprop("sigrs", nj)),
            "pysiglib": Impl(own_backprop("pysiglib", nj)),
            # iisignature's sigbackprop takes no signature: it recomputes it.
            "iisignature": Impl(lambda c: functools.partial(
                MODS["iisignature"].sigbackprop, c["derivs"], c["path"], degree),
                note="single-threaded; recomputes the signature (its API takes none)",
                share_key=f"iisig-bwd/{key}"),
        }
        if nj == -1:
            impls["signatory"] = Impl(lambda c: _grad_fn(
                [torch.from_numpy(c["path"])],
                lambda x: MODS["signatory"].signature(x, degree), torch.from_numpy(c["derivs"])),
                note="autograd.grad(retain_graph=True) on a graph built untimed; torch threads")
        out.append(Workload(
            name=f"sig_backprop/{dname}/{shape}/nj{nj}", group="sig_backprop (backward)",
            setup=setup, setup_key=key, impls=impls, jobs=str(nj),
            rtol=rtol, repeat=repeat, params=dict(params, op="sig_backprop", n_jobs=nj),
            flops=BACKWARD_PASSES * sig_flops(batch, length, dim, degree)))
    return out


def overhead_workloads(number, seed) -> List[Workload]:
    """Per-call overhead on one small path: length 10, dim 2, degree 3, float64."""
    length, dim, degree = 10, 2, 3
    key = f"overhead/{seed}"
    base = dict(length=length, dim=dim, degree=degree, dtype="float64", batch=None)

    def setup():
        rng = np.random.default_rng(seed)
        path = random_paths(rng, None, length, dim, np.float64)
        c = {"path": path}
        if torch is not None:
            c["t"] = torch.from_numpy(path.copy())
        return c

    out = [Workload(
        name="overhead/sig/numpy", group="per-call overhead (one path L10 d2 m3, f64)",
        setup=setup, setup_key=key, jobs="dflt", unit="us", number=number,
        params=dict(base, op="sig", input="numpy"),
        impls={
            "sigrs": Impl(lambda c: functools.partial(MODS["sigrs"].sig, c["path"], degree)),
            "pysiglib": Impl(lambda c: functools.partial(MODS["pysiglib"].sig, c["path"], degree)),
            "iisignature": Impl(lambda c: functools.partial(
                MODS["iisignature"].sig, c["path"], degree)),
        })]
    if torch is None:
        return out

    def iisig_from_torch(c):
        t, ii = c["t"], MODS["iisignature"]

        def f():
            return torch.from_numpy(ii.sig(t.numpy(), degree))
        return f

    out.append(Workload(
        name="overhead/sig/torch", group=out[0].group,
        setup=setup, setup_key=key, jobs="dflt", unit="us", number=number,
        params=dict(base, op="sig", input="torch"),
        impls={
            "sigrs": Impl(lambda c: functools.partial(MODS["sigrs"].sig, c["t"], degree)),
            "pysiglib": Impl(lambda c: functools.partial(MODS["pysiglib"].sig, c["t"], degree)),
            "iisignature": Impl(iisig_from_torch, note="via tensor.numpy() / torch.from_numpy"),
        }))

    def grad_fn(sig_fn):
        def make(c):
            t = c["t"].clone().requires_grad_(True)
            # a contiguous upstream gradient (s.sum().backward() would hand the
            # library an expanded, stride-0 tensor, which some copy first)
            g = torch.ones(sig_len(dim, degree), dtype=torch.float64)
            f = sig_fn()

            def run():
                t.grad = None
                s = f(t, degree)
                if not s.requires_grad:
                    raise RuntimeError("output does not require grad (no autograd support)")
                s.backward(g)
                return t.grad
            return run
        return make

    out.append(Workload(
        name="overhead/sig+backward/torch-grad", group=out[0].group,
        setup=setup, setup_key=key, jobs="dflt", unit="us", number=number,
        params=dict(base, op="sig+backward", input="torch requires_grad"),
        impls={
            # sigrs.sig is autograd-aware itself (no separate torch_api module)
            "sigrs": Impl(grad_fn(lambda: MODS["sigrs"].sig)),
            "pysiglib": Impl(grad_fn(lambda: _pysiglib_torch_api.sig),
                             note="pysiglib.torch_api.sig"),
        }))
    return out


def cuda_sig_workloads(batch, length, dim, degree, dtype, seed, *, rtol,
                       repeat=None) -> List[Workload]:
    """sigrs vs pysiglib on CUDA tensors (torch.cuda.synchronize per call)."""
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    dname = np.dtype(dtype).name.replace("float", "f")
    shape = f"B{batch}-L{length}-d{dim}-m{degree}"
    key = f"cuda/{dname}/{shape}/{seed}"
    params = dict(batch=batch, length=length, dim=dim, degree=degree,
                  dtype=np.dtype(dtype).name, input="torch cuda")

    def setup():
        rng = np.random.default_rng(seed)
        path = random_paths(rng, batch, length, dim, dtype)
        derivs = rng.standard_normal((batch, sig_len(dim, degree))).astype(dtype)
        dev = torch.device("cuda")
        return {"path": torch.from_numpy(path).to(dev, tdtype),
                "derivs": torch.from_numpy(derivs).to(dev, tdtype)}

    def fwd(lib):
        return Impl(lambda c: functools.partial(MODS[lib].sig, c["path"], degree))

    def bwd(lib):
        def make(c):
            mod = MODS[lib]
            s = mod.sig(c["path"], degree)
            return functools.partial(mod.sig_backprop, c["path"], s, c["derivs"], degree)
        return Impl(make)

    return [
        Workload(name=f"cuda/sig/{dname}/{shape}", group="sig (forward, CUDA)",
                 setup=setup, setup_key=key, jobs="gpu", rtol=rtol, repeat=repeat,
                 device="cuda", params=dict(params, op="sig"),
                 impls={"sigrs": fwd("sigrs"), "pysiglib": fwd("pysiglib")}),
        Workload(name=f"cuda/sig_backprop/{dname}/{shape}",
                 group="sig_backprop (backward, CUDA)",
                 setup=setup, setup_key=key, jobs="gpu", rtol=rtol, repeat=repeat,
                 device="cuda", params=dict(params, op="sig_backprop"),
                 impls={"sigrs": bwd("sigrs"), "pysiglib": bwd("pysiglib")}),
    ]


# --------------------------------------------------------------------------
# Issue 3 workloads: stream signatures, operations on signatures, interval
# queries.  Thread settings: sigrs and pysiglib get n_jobs=-1 ("-1" in the jobs
# column) or their defaults ("dflt"); signatory always uses torch's intra-op
# threads (torch.get_num_threads()); iisignature is single-threaded.
# --------------------------------------------------------------------------

def _dname(dtype) -> str:
    return np.dtype(dtype).name.replace("float", "f")


def _torch_view(a: np.ndarray):
    """A zero-copy CPU tensor over a NumPy array (None without torch)."""
    return torch.from_numpy(a) if torch is not None else None


def random_sigs(rng, shape, dim, degree, dtype, scale=1.0):
    """Generic truncated tensors shaped like signatures (no scalar term).

    Level k holds N(0, 1) * scale^k / k! entries: the size of a signature's
    levels, but no symmetry (exp(x) is symmetric in its words, so it would not
    catch a word-order bug).  Products of these are well defined, so they are
    valid inputs to sig_combine / sig_join / multi_sig_combine.
    """
    levels = [rng.standard_normal(tuple(shape) + (dim ** k,)) * (scale ** k / math.factorial(k))
              for k in range(1, degree + 1)]
    return np.ascontiguousarray(np.concatenate(levels, axis=-1), dtype=dtype)


def _grad_fn(inputs, fwd, grad_out):
    """Backward only: the graph of fwd(*leaves) is built once (untimed), and
    every call runs torch.autograd.grad on it with retain_graph=True."""
    leaves = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fwd(*leaves)
    if not out.requires_grad:
        raise RuntimeError("output does not require grad (no autograd support)")

    def run():
        gs = torch.autograd.grad(out, leaves, grad_out, retain_graph=True)
        return gs[0] if len(gs) == 1 else gs
    return run


def _fwd_bwd_fn(inputs, fwd, grad_out):
    """Forward and backward through autograd, as in training."""
    leaves = [x.detach().clone().requires_grad_(True) for x in inputs]

    def run():
        out = fwd(*leaves)
        gs = torch.autograd.grad(out, leaves, grad_out)
        return gs[0] if len(gs) == 1 else gs
    return run


def stream_workloads(batch, length, dim, degree, dtype, seed, *, rtol,
                     repeat=None) -> List[Workload]:
    """sig(stream=True): every prefix signature, forward and backward."""
    dname = _dname(dtype)
    shape = f"B{batch}-L{length}-d{dim}-m{degree}"
    key = f"stream/{dname}/{shape}/{seed}"
    group = f"stream signature (B, L, d, m) = ({batch}, {length}, {dim}, {degree}), {dname}"
    params = dict(batch=batch, length=length, dim=dim, degree=degree,
                  dtype=np.dtype(dtype).name, input="numpy; torch.from_numpy for signatory")

    def setup():
        rng = np.random.default_rng(seed)
        path = random_paths(rng, batch, length, dim, dtype)
        derivs = rng.standard_normal((batch, length - 1, sig_len(dim, degree))).astype(dtype)
        return {"path": path, "derivs": derivs,
                "t": _torch_view(path), "g": _torch_view(derivs)}

    def pysiglib_stream(c):
        # pysiglib.sig has no stream option; its SigStream stores the prefix
        # signature of every point when points are pushed one at a time.
        pts = np.ascontiguousarray(np.swapaxes(c["path"], 0, 1))    # (L, B, d)
        pl = MODS["pysiglib"]

        def run():
            st = pl.SigStream(dim, degree, n_jobs=-1)
            for p in pts:
                st.push(p)
            return st.sig_all()                 # (L, B, sig_len), row 0 = identity
        return run

    def stream_rows(out):
        return np.swapaxes(to_numpy(out)[1:], 0, 1)

    fwd = Workload(
        name=f"stream/fwd/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="sig stream=True"),
        flops=sig_flops(batch, length, dim, degree),
        impls={
            "sigrs": Impl(lambda c: functools.partial(
                MODS["sigrs"].sig, c["path"], degree, stream=True, n_jobs=-1)),
            "pysiglib": Impl(pysiglib_stream, post=stream_rows,
                             note="SigStream.push per point + sig_all (sig has no stream option)"),
            "iisignature": Impl(lambda c: functools.partial(
                MODS["iisignature"].sig, c["path"], degree, 2),
                note="sig(path, m, 2); single-threaded"),
            "signatory": Impl(lambda c: functools.partial(
                MODS["signatory"].signature, c["t"], degree, stream=True)),
        })

    cost = Workload(
        name=f"stream/cost/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="sig vs sig stream=True (sigrs only)"),
        flops=sig_flops(batch, length, dim, degree),
        impls={
            "sigrs": Impl(lambda c: functools.partial(
                MODS["sigrs"].sig, c["path"], degree, n_jobs=-1),
                note="sigrs.sig(path, m): one signature per path"),
            "sigrs:stream": Impl(lambda c: functools.partial(
                MODS["sigrs"].sig, c["path"], degree, stream=True, n_jobs=-1),
                post=lambda out: out[..., -1, :],
                note="sigrs.sig(path, m, stream=True); last row checked"),
        })

    def sigrs_bwd(c):
        mod = MODS["sigrs"]
        s = mod.sig(c["path"], degree, stream=True, n_jobs=-1)     # not timed
        return functools.partial(mod.sig_backprop, c["path"], s, c["derivs"], degree,
                                 stream=True, n_jobs=-1)

    bwd = Workload(
        name=f"stream/bwd/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="sig_backprop stream=True"),
        impls={
            "sigrs": Impl(sigrs_bwd, note="sig_backprop(..., stream=True), NumPy"),
            "signatory": Impl(lambda c: _grad_fn(
                [c["t"]], lambda x: MODS["signatory"].signature(x, degree, stream=True), c["g"]),
                note="autograd.grad(retain_graph=True) on a graph built untimed"),
            # iisignature has no backward for its stream output (format 2)
        })

    fwd_bwd = Workload(
        name=f"stream/fwd+bwd/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="sig stream=True forward + backward, torch autograd"),
        impls={
            "sigrs": Impl(lambda c: _fwd_bwd_fn(
                [c["t"]], lambda x: MODS["sigrs"].sig(x, degree, stream=True), c["g"]),
                note="torch autograd"),
            "signatory": Impl(lambda c: _fwd_bwd_fn(
                [c["t"]], lambda x: MODS["signatory"].signature(x, degree, stream=True), c["g"]),
                note="torch autograd"),
        })
    return [fwd, cost, bwd, fwd_bwd]


def combine_workloads(batch, dim, degree, dtype, seed, *, rtol, repeat=None) -> List[Workload]:
    """sig_combine (Chen product of two signatures), forward and backward."""
    dname = _dname(dtype)
    shape = f"B{batch}-d{dim}-m{degree}"
    key = f"combine/{dname}/{shape}/{seed}"
    group = f"sig_combine (B, d, m) = ({batch}, {dim}, {degree}), {dname}"
    params = dict(batch=batch, dim=dim, degree=degree, dtype=np.dtype(dtype).name)

    def setup():
        rng = np.random.default_rng(seed)
        a = random_sigs(rng, (batch,), dim, degree, dtype)
        b = random_sigs(rng, (batch,), dim, degree, dtype)
        g = rng.standard_normal(a.shape).astype(dtype)
        return {"a": a, "b": b, "g": g, "ta": _torch_view(a), "tb": _torch_view(b),
                "tg": _torch_view(g)}

    def sc_signatory(x, y):
        return MODS["signatory"].signature_combine(x, y, dim, degree)

    fwd = Workload(
        name=f"combine/fwd/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="sig_combine"),
        impls={
            "sigrs": Impl(lambda c: functools.partial(
                MODS["sigrs"].sig_combine, c["a"], c["b"], dim, degree, n_jobs=-1)),
            "pysiglib": Impl(lambda c: functools.partial(
                MODS["pysiglib"].sig_combine, c["a"], c["b"], dim, degree, n_jobs=-1)),
            "iisignature": Impl(lambda c: functools.partial(
                MODS["iisignature"].sigcombine, c["a"], c["b"], dim, degree),
                note="single-threaded"),
            "signatory": Impl(lambda c: functools.partial(sc_signatory, c["ta"], c["tb"])),
        })
    bwd = Workload(
        name=f"combine/bwd/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="sig_combine_backprop"),
        impls={
            "sigrs": Impl(lambda c: functools.partial(
                MODS["sigrs"].sig_combine_backprop, c["g"], c["a"], c["b"], dim, degree,
                n_jobs=-1)),
            "pysiglib": Impl(lambda c: functools.partial(
                MODS["pysiglib"].sig_combine_backprop, c["g"], c["a"], c["b"], dim, degree,
                n_jobs=-1)),
            "iisignature": Impl(lambda c: functools.partial(
                MODS["iisignature"].sigcombinebackprop, c["g"], c["a"], c["b"], dim, degree),
                note="single-threaded"),
            "signatory": Impl(lambda c: _grad_fn([c["ta"], c["tb"]], sc_signatory, c["tg"]),
                              note="autograd.grad(retain_graph=True)"),
        })
    return [fwd, bwd]


def multi_combine_workloads(batch, pieces, dim, degree, dtype, seed, *, rtol,
                            repeat=None) -> List[Workload]:
    """multi_sig_combine: the product of `pieces` signatures, in order."""
    dname = _dname(dtype)
    shape = f"B{batch}-k{pieces}-d{dim}-m{degree}"
    key = f"multi/{dname}/{shape}/{seed}"
    group = "multi_sig_combine (B, pieces, d, m), " + dname
    params = dict(batch=batch, pieces=pieces, dim=dim, degree=degree,
                  dtype=np.dtype(dtype).name)

    def setup():
        rng = np.random.default_rng(seed)
        # scale 1/sqrt(k): the product stays O(1), like a random walk's signature
        sigs = random_sigs(rng, (batch, pieces), dim, degree, dtype,
                           scale=1.0 / math.sqrt(pieces))
        g = rng.standard_normal((batch, sig_len(dim, degree))).astype(dtype)
        return {"sigs": sigs, "g": g, "tg": _torch_view(g)}

    def as_list_np(c):
        # copies that own their data (pysiglib clones views, with a warning)
        return [c["sigs"][:, i].copy() for i in range(pieces)]

    def as_list_torch(c):
        return [torch.from_numpy(x) for x in as_list_np(c)]

    def pysiglib_fold(c):
        parts, pl = as_list_np(c), MODS["pysiglib"]

        def run():
            acc = parts[0]
            for p in parts[1:]:
                acc = pl.sig_combine(acc, p, dim, degree, n_jobs=-1)
            return acc
        return run

    def msc_signatory(*xs):
        return MODS["signatory"].multi_signature_combine(list(xs), dim, degree)

    def signatory_bwd(c):
        return _grad_fn(as_list_torch(c), msc_signatory, c["tg"])

    fwd = Workload(
        name=f"multi_combine/fwd/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="multi_sig_combine"),
        impls={
            "sigrs": Impl(lambda c: functools.partial(
                MODS["sigrs"].multi_sig_combine, c["sigs"], dim, degree, n_jobs=-1),
                note="one (B, k, sig_len) array"),
            "pysiglib": Impl(pysiglib_fold,
                             note="fold: pairwise sig_combine loop (no multi combine)"),
            "signatory": Impl(lambda c: functools.partial(msc_signatory, *as_list_torch(c)),
                              note="list of k (B, sig_len) tensors"),
        })
    bwd = Workload(
        name=f"multi_combine/bwd/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="multi_sig_combine_backprop"),
        impls={
            "sigrs": Impl(lambda c: functools.partial(
                MODS["sigrs"].multi_sig_combine_backprop, c["g"], c["sigs"], dim, degree,
                n_jobs=-1)),
            "signatory": Impl(signatory_bwd, post=lambda gs: torch.stack(list(gs), dim=1),
                              note="autograd.grad(retain_graph=True); grads stacked untimed"),
        })
    return [fwd, bwd]


def join_workloads(batch, dim, degree, dtype, seed, *, rtol, repeat=None) -> List[Workload]:
    """sig_join: a signature followed by one straight segment."""
    dname = _dname(dtype)
    shape = f"B{batch}-d{dim}-m{degree}"
    key = f"join/{dname}/{shape}/{seed}"
    group = f"sig_join (B, d, m) = ({batch}, {dim}, {degree}), {dname}"
    params = dict(batch=batch, dim=dim, degree=degree, dtype=np.dtype(dtype).name)

    def setup():
        rng = np.random.default_rng(seed)
        s = random_sigs(rng, (batch,), dim, degree, dtype)
        disp = rng.standard_normal((batch, dim)).astype(dtype)
        g = rng.standard_normal(s.shape).astype(dtype)
        # signatory has no join: signature(two-point path [0, disp], initial=s)
        seg = np.zeros((batch, 2, dim), dtype=dtype)
        seg[:, 1] = disp
        return {"s": s, "disp": disp, "g": g, "seg": seg, "ts": _torch_view(s),
                "tseg": _torch_view(seg), "tg": _torch_view(g)}

    def join_signatory(s, seg):
        return MODS["signatory"].signature(seg, degree, initial=s)

    sig_note = "signature(path [0, disp], initial=sig) (no join)"
    fwd = Workload(
        name=f"join/fwd/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="sig_join"),
        impls={
            "sigrs": Impl(lambda c: functools.partial(
                MODS["sigrs"].sig_join, c["s"], c["disp"], dim, degree, n_jobs=-1)),
            "pysiglib": Impl(lambda c: functools.partial(
                MODS["pysiglib"].sig_join, c["s"], c["disp"], dim, degree, n_jobs=-1)),
            "iisignature": Impl(lambda c: functools.partial(
                MODS["iisignature"].sigjoin, c["s"], c["disp"], degree),
                note="single-threaded"),
            "signatory": Impl(lambda c: functools.partial(join_signatory, c["ts"], c["tseg"]),
                              note=sig_note),
        })
    bwd = Workload(
        name=f"join/bwd/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="-1", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="sig_join_backprop"),
        impls={
            "sigrs": Impl(lambda c: functools.partial(
                MODS["sigrs"].sig_join_backprop, c["g"], c["s"], c["disp"], dim, degree,
                n_jobs=-1)),
            "pysiglib": Impl(lambda c: functools.partial(
                MODS["pysiglib"].sig_join_backprop, c["g"], c["s"], c["disp"], dim, degree,
                n_jobs=-1)),
            "iisignature": Impl(lambda c: functools.partial(
                MODS["iisignature"].sigjoinbackprop, c["g"], c["s"], c["disp"], degree),
                note="single-threaded"),
            # d/d(disp) is the gradient w.r.t. the segment's second point
            "signatory": Impl(lambda c: _grad_fn([c["ts"], c["tseg"]], join_signatory, c["tg"]),
                              post=lambda gs: (gs[0], gs[1][:, 1]),
                              note=sig_note + "; autograd.grad(retain_graph=True)"),
        })
    return [fwd, bwd]


def query_workloads(batch, points, dim, degree, n_queries, seed, *, rtol,
                    repeat=None) -> List[Workload]:
    """Interval signatures of one long stream: building it, then queries.

    Intervals are inclusive point ranges (start, end) with end > start (a
    signatory.Path needs two points): SigStream.sig(start, end) for sigrs and
    pysiglib, Path.signature(start, end + 1) for signatory (a slice).
    """
    dtype = np.float64
    dname = _dname(dtype)
    bshape = "1path" if batch is None else f"B{batch}"
    shape = f"{bshape}-N{points}-d{dim}-m{degree}"
    key = f"query/{dname}/{shape}/{seed}"
    group = f"interval queries ({'one path' if batch is None else f'{batch} paths'}, "\
            f"{points} points, d{dim}, m{degree}), {dname}"
    params = dict(batch=batch, points=points, dim=dim, degree=degree,
                  dtype=np.dtype(dtype).name, queries=n_queries)

    def setup():
        rng = np.random.default_rng(seed)
        path = random_paths(rng, batch, points, dim, dtype)
        a = rng.integers(0, points - 1, size=n_queries)
        b = rng.integers(0, points - 1, size=n_queries)
        lo, hi = np.minimum(a, b), np.maximum(a, b) + 1          # hi > lo
        intervals = [(int(x), int(y)) for x, y in zip(lo, hi)]
        # signatory.Path wants (batch, stream, channels)
        tpath = _torch_view(path if batch is not None else path[None])
        return {"path": path, "tpath": tpath, "intervals": intervals,
                "pts": np.ascontiguousarray(np.moveaxis(path, -2, 0))}   # (N, *batch, d)

    def unbatch(x):
        x = to_numpy(x)
        return x[..., 0, :] if batch is None else x

    # builders: each returns the stream object
    def build_sigrs(c):
        cls, path = sigrs_sigstream(), c["path"]

        def run():
            st = cls(dim, degree)
            st.push_batch(path)
            return st
        return run

    def build_pysiglib(c):
        pts, pl = c["pts"], MODS["pysiglib"]

        def run():
            # one checkpoint per push: point-by-point pushes give every point an
            # index (push_batch would give the whole batch one index)
            st = pl.SigStream(dim, degree)
            for p in pts:
                st.push(p)
            return st
        return run

    def build_path(lib):
        def make(c):
            return functools.partial(MODS[lib].Path, c["tpath"], degree)
        return make

    last = points - 1
    build = Workload(
        name=f"query/build/{dname}/{shape}", group=group, setup=setup, setup_key=key,
        jobs="dflt", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op="build stream"),
        impls={
            "sigrs": Impl(build_sigrs, post=lambda st: st.sig(0, last),
                          note="SigStream.push_batch(path)"),
            "pysiglib": Impl(build_pysiglib, post=lambda st: st.sig(0, last),
                             note="SigStream.push per point"),
            "signatory": Impl(build_path("signatory"),
                              post=lambda p: unbatch(p.signature())),
            "sigrs.signatory": Impl(build_path("sigrs.signatory"),
                                    post=lambda p: unbatch(p.signature())),
        })

    def query_stream(builder):
        def make(c):
            st, iv = builder(c)(), c["intervals"]          # built untimed
            return functools.partial(st.sig_batch, iv)
        return make

    def query_path(lib):
        def make(c):
            p, iv = MODS[lib].Path(c["tpath"], degree), c["intervals"]

            def run():
                return torch.stack([p.signature(s, e + 1) for s, e in iv])
            return run
        return make

    query = Workload(
        name=f"query/intervals{n_queries}/{dname}/{shape}", group=group, setup=setup,
        setup_key=key, jobs="dflt", rtol=rtol, repeat=repeat, show_notes=True,
        params=dict(params, op=f"{n_queries} interval signatures"),
        impls={
            "sigrs": Impl(query_stream(build_sigrs), note="SigStream.sig_batch (one call)"),
            "pysiglib": Impl(query_stream(build_pysiglib),
                             note="SigStream.sig_batch (a Python loop over sig)"),
            "signatory": Impl(query_path("signatory"), post=unbatch,
                              note="Path.signature loop + torch.stack"),
            "sigrs.signatory": Impl(query_path("sigrs.signatory"), post=unbatch,
                                    note="Path.signature loop + torch.stack"),
        })
    return [build, query]


F64_SHAPES = [(128, 256, 4, 6), (128, 1024, 8, 4), (32, 128, 16, 4)]
PYSIGLIB_SHAPE = (256, 10000, 8, 3)        # pysiglib's own benchmark, float32
QUICK_BATCH_DIV = 4                        # --quick: float64 batches / 4
QUICK_BIG_BATCH = 32                       # --quick: pysiglib shape batch 256 -> 32
# issue-3 rows: stream signatures, operations on signatures, interval queries
STREAM_SHAPES = [((128, 256, 4, 6), np.float64, 1e-8), ((32, 1024, 8, 3), np.float32, 1e-3)]
COMBINE_SHAPE = (4096, 4, 6)               # (batch, dim, degree), float64
JOIN_SHAPE = (4096, 4, 6)
MULTI_SHAPES = [(32, 256, 4, 5), (1, 4096, 3, 4)]   # (batch, pieces, dim, degree)
QUERY_SHAPES = [(None, 10000, 3, 4), (16, 2000, 3, 4)]  # (batch, points, dim, degree)
N_QUERIES = 1000
QUICK_DIV = 4                              # --quick: these batches / pieces / points / 4
# which row families (first part of the name) each --quick note is about
QUICK_NOTE_FAMILIES = {
    "--quick: float64": ("sig", "sig_backprop", "overhead", "cuda"),
    "--quick: stream/": ("stream", "combine", "multi_combine", "join", "query"),
    "--quick: log_sig": ("log_sig",),
}


def issue3_workloads(args, notes: List[str]) -> List[Workload]:
    """stream/*, combine/*, multi_combine/*, join/*, query/* (CPU)."""
    q = QUICK_DIV if args.quick else 1

    def div(n):
        return None if n is None else max(1, n // q)

    ws: List[Workload] = []
    for (b, l, d, m), dtype, rtol in STREAM_SHAPES:
        ws += stream_workloads(div(b), l, d, m, dtype, args.seed, rtol=rtol)
    b, d, m = COMBINE_SHAPE
    ws += combine_workloads(div(b), d, m, np.float64, args.seed, rtol=1e-8)
    for b, k, d, m in MULTI_SHAPES:
        # batch 1 keeps its batch and divides the pieces instead
        bq, kq = (div(b), k) if b > 1 else (b, div(k))
        ws += multi_combine_workloads(bq, kq, d, m, np.float64, args.seed, rtol=1e-8)
    b, d, m = JOIN_SHAPE
    ws += join_workloads(div(b), d, m, np.float64, args.seed, rtol=1e-8)
    for b, n, d, m in QUERY_SHAPES:
        ws += query_workloads(b, div(n), d, m, N_QUERIES, args.seed, rtol=1e-8)
    if args.quick:
        notes.append(f"--quick: stream/combine/join/multi_combine batches divided by {q} "
                     f"(multi_combine at batch 1: pieces / {q}), query streams have {q}x "
                     f"fewer points; names give the sizes run.")
    return ws


def log_sig_len(dim: int, degree: int) -> int:
    """Number of Lyndon words of length 1..degree (Witt's formula): the
    length of a log-signature in methods 1 and 2."""
    def mobius(n):
        res, p = 1, 2
        while p * p <= n:
            if n % p == 0:
                n //= p
                if n % p == 0:
                    return 0
                res = -res
            p += 1
        return -res if n > 1 else res
    return sum(sum(mobius(k // j) * dim ** j for j in range(1, k + 1) if k % j == 0) // k
               for k in range(1, degree + 1))


LOG_SIG_METHODS = {1: ("Lyndon words", "words"), 2: ("Lyndon basis", "brackets")}


def log_sig_workloads(batch, length, dim, degree, dtype, seed, *, rtol, n_jobs=(-1,),
                      to_log_sig=False, hall=False, repeat=None) -> List[Workload]:
    """log_sig forward and backward for methods 1 and 2 (and optionally
    sig_to_log_sig alone, method 2, from precomputed signatures, and the
    forward in the Hall basis: sigrs method="hall" against iisignature "H").

    Method 1 = Lyndon-word coefficients (signatory mode="words"); method 2 =
    Lyndon basis (signatory mode="brackets", iisignature's "S").  Backward rows
    are torch autograd for sigrs, pysiglib (pysiglib.torch_api.log_sig) and
    signatory, on a graph built untimed, and iisignature.logsigbackprop.
    """
    dname = _dname(dtype)
    shape = f"B{batch}-L{length}-d{dim}-m{degree}"
    key = f"log_sig/{dname}/{shape}/{seed}"
    params = dict(batch=batch, length=length, dim=dim, degree=degree,
                  dtype=np.dtype(dtype).name, input="numpy; torch.from_numpy for torch libs")

    def setup():
        rng = np.random.default_rng(seed)
        path = random_paths(rng, batch, length, dim, dtype)
        c = {"path": path, "t": _torch_view(path)}
        derivs = rng.standard_normal((batch, log_sig_len(dim, degree))).astype(dtype)
        c["derivs"], c["g"] = derivs, _torch_view(derivs)
        if to_log_sig:
            # one signature array, given to every library (untimed); sigrs's
            # when it imports, else pysiglib's
            lib = "sigrs" if "sigrs" in MODS else "pysiglib"
            if lib in MODS:
                s = MODS[lib].sig(path, degree, n_jobs=-1)
                c["sig"], c["tsig"] = s, _torch_view(s)
        return c

    def pysiglib_prepared(method):
        MODS["pysiglib"].prepare_log_sig(dim, degree, method)

    def iisig_prep():
        return MODS["iisignature"].prepare(dim, degree, "S")

    out: List[Workload] = []
    # forward
    for method, (mname, smode) in LOG_SIG_METHODS.items():
        for nj in n_jobs:
            def sigrs_fwd(c, nj=nj, method=method):
                MODS["sigrs"].prepare_log_sig(dim, degree, method)      # optional, untimed
                return functools.partial(MODS["sigrs"].log_sig, c["path"], degree,
                                         method=method, n_jobs=nj)

            def pysiglib_fwd(c, nj=nj, method=method):
                pysiglib_prepared(method)
                return functools.partial(MODS["pysiglib"].log_sig, c["path"], degree,
                                         method=method, n_jobs=nj)

            impls = {
                "sigrs": Impl(sigrs_fwd, note="log_sig(path, m, method=k, n_jobs)"),
                "pysiglib": Impl(pysiglib_fwd, note="log_sig(path, m, method=k, n_jobs) "
                                 "after prepare_log_sig(d, m, k) untimed"),
            }
            if method == 2:
                impls["iisignature"] = Impl(
                    lambda c: functools.partial(MODS["iisignature"].logsig, c["path"],
                                                iisig_prep(), "S"),
                    note="logsig(path, prepare(d, m, 'S'), 'S') (method 2 only); prepare "
                         "untimed; single-threaded",
                    share_key=f"iisig-logsig/{key}")
            if nj == -1:
                for lib in ("signatory", "sigrs.signatory"):
                    impls[lib] = Impl(
                        lambda c, lib=lib, smode=smode: functools.partial(
                            MODS[lib].logsignature, c["t"], degree, mode=smode),
                        note="logsignature(t, m, mode='words' (k=1) / 'brackets' (k=2)); "
                             "torch threads")
            out.append(Workload(
                name=f"log_sig/fwd/method{method}/{dname}/{shape}/nj{nj}",
                group=f"log_sig forward, method {method} ({mname}), {dname}",
                setup=setup, setup_key=key, impls=impls, jobs=str(nj), rtol=rtol,
                repeat=repeat, show_notes=True,
                params=dict(params, op="log_sig", method=method, n_jobs=nj)))

    if hall:
        # iisignature's "H" basis by its compiled BCH ("C"): prepare(d, m, "H")
        # would pick its "S" route here, which differs from sigrs, and from
        # iisignature's own "C" and "O", by about 4e-8 relative.
        for nj in n_jobs:
            def sigrs_hall(c, nj=nj):
                MODS["sigrs"].prepare_log_sig(dim, degree, "hall")      # optional, untimed
                return functools.partial(MODS["sigrs"].log_sig, c["path"], degree,
                                         method="hall", n_jobs=nj)

            out.append(Workload(
                name=f"log_sig/fwd/method_hall/{dname}/{shape}/nj{nj}",
                group=f"log_sig forward, Hall basis (method=\"hall\"), {dname}",
                setup=setup, setup_key=key, jobs=str(nj), rtol=rtol, repeat=repeat,
                show_notes=True, params=dict(params, op="log_sig", method="hall", n_jobs=nj),
                impls={
                    "sigrs": Impl(sigrs_hall, note="log_sig(path, m, method='hall', n_jobs)"),
                    "iisignature": Impl(
                        lambda c: functools.partial(MODS["iisignature"].logsig, c["path"],
                                                    MODS["iisignature"].prepare(dim, degree, "CH"),
                                                    "C"),
                        note="logsig(path, prepare(d, m, 'CH'), 'C') (Hall basis, compiled BCH; "
                             "its 'S' route differs by ~4e-8); prepare untimed; single-threaded",
                        share_key=f"iisig-logsig-hall/{key}"),
                }))

    # backward
    for method, (mname, smode) in LOG_SIG_METHODS.items():
        for nj in n_jobs:
            def sigrs_bwd(c, nj=nj, method=method):
                return _grad_fn([c["t"]], lambda x: MODS["sigrs"].log_sig(
                    x, degree, method=method, n_jobs=nj), c["g"])

            def pysiglib_bwd(c, nj=nj, method=method):
                pysiglib_prepared(method)
                return _grad_fn([c["t"]], lambda x: _pysiglib_torch_api.log_sig(
                    x, degree, method=method, n_jobs=nj), c["g"])

            autograd = "autograd.grad(retain_graph=True) on a graph built untimed"
            impls = {
                "sigrs": Impl(sigrs_bwd, note=f"sigrs.log_sig(t, m, method=k, n_jobs); {autograd}"),
                "pysiglib": Impl(pysiglib_bwd, note="pysiglib.torch_api.log_sig(t, m, method=k, "
                                 f"n_jobs); {autograd}"),
            }
            if method == 2:
                impls["iisignature"] = Impl(
                    lambda c: functools.partial(MODS["iisignature"].logsigbackprop, c["derivs"],
                                                c["path"], iisig_prep(), "S"),
                    note="logsigbackprop(derivs, path, prepare(d, m, 'S'), 'S') (method 2 only; "
                         "recomputes the signature, its API takes none); single-threaded",
                    share_key=f"iisig-logsigbwd/{key}")
            if nj == -1:
                for lib in ("signatory", "sigrs.signatory"):
                    impls[lib] = Impl(
                        lambda c, lib=lib, smode=smode: _grad_fn(
                            [c["t"]], lambda x: MODS[lib].logsignature(x, degree, mode=smode),
                            c["g"]),
                        note=f"logsignature(t, m, mode=...); {autograd}; torch threads")
            out.append(Workload(
                name=f"log_sig/bwd/method{method}/{dname}/{shape}/nj{nj}",
                group=f"log_sig backward, method {method} ({mname}), {dname}",
                setup=setup, setup_key=key, impls=impls, jobs=str(nj), rtol=rtol,
                repeat=repeat, show_notes=True,
                params=dict(params, op="log_sig backward", method=method, n_jobs=nj)))

    if to_log_sig:
        method, (mname, smode) = 2, LOG_SIG_METHODS[2]

        def pysiglib_s2l(c):
            pysiglib_prepared(method)
            return functools.partial(MODS["pysiglib"].sig_to_log_sig, c["sig"], dim, degree,
                                     method=method, n_jobs=-1)

        impls = {
            "sigrs": Impl(lambda c: functools.partial(
                MODS["sigrs"].sig_to_log_sig, c["sig"], dim, degree, method=method, n_jobs=-1),
                note="sig_to_log_sig(sig, d, m, method=2, n_jobs=-1)"),
            "pysiglib": Impl(pysiglib_s2l, note="sig_to_log_sig(sig, d, m, method=2, n_jobs=-1) "
                             "after prepare_log_sig untimed"),
        }
        for lib in ("signatory", "sigrs.signatory"):
            impls[lib] = Impl(lambda c, lib=lib: functools.partial(
                MODS[lib].signature_to_logsignature, c["tsig"], dim, degree, mode=smode),
                note="signature_to_logsignature(t, d, m, mode='brackets'); torch threads")
        out.append(Workload(
            name=f"log_sig/sig_to_log_sig/method{method}/{dname}/{shape}",
            group=f"sig_to_log_sig (from precomputed signatures), method {method} ({mname}), "
                  f"{dname}",
            setup=setup, setup_key=key, impls=impls, jobs="-1", rtol=rtol, repeat=repeat,
            show_notes=True, params=dict(params, op="sig_to_log_sig", method=method, n_jobs=-1)))
    return out


# log_sig rows: (batch, length, dim, degree), float64; n_jobs values; with sig_to_log_sig;
# with the Hall basis
LOG_SIG_SHAPES = [((128, 256, 4, 6), (1, -1), True, True), ((128, 256, 8, 4), (-1,), False, False)]


def log_sig_all_workloads(args, notes: List[str]) -> List[Workload]:
    """log_sig/* (CPU): forward, backward, sig_to_log_sig; the rows are
    ordered by group (all forward rows, then all backward rows, ...)."""
    q = QUICK_DIV if args.quick else 1
    per_shape = []
    for (b, l, d, m), njs, s2l, hall in LOG_SIG_SHAPES:
        per_shape.append(log_sig_workloads(max(1, b // q), l, d, m, np.float64, args.seed,
                                           rtol=1e-8, n_jobs=njs, to_log_sig=s2l, hall=hall))
    order = {"fwd": 0, "bwd": 1, "sig_to_log_sig": 2}
    ws = [w for ws_ in per_shape for w in ws_]
    ws.sort(key=lambda w: (order[w.name.split("/")[1]], w.name.split("/")[2]))  # stable
    if args.quick:
        notes.append(f"--quick: log_sig batches divided by {q} (128->{128 // q}); "
                     "names give the sizes run.")
    return ws


# sig_coef rows: (length, dim), number of random words and their length,
# float64; batch 128, and batch 4 for the rows with iisignature, which has no
# coefficient function and takes about 0.7 s per path through the full
# degree-6 signature here
SIG_COEF_SHAPE = (1024, 8)
SIG_COEF_WORDS = (100, 6)
SIG_COEF_BATCHES = [(128, False), (4, True)]   # (batch, with iisignature)


def sig_coef_workloads(batch, with_iisig, seed, *, repeat=None) -> List[Workload]:
    """sig_coef forward (one coefficient per word) and backward
    (sig_coef_backprop from the prefix coefficients) for 100 random words of
    length 6.

    iisignature computes the degree-6 signature (300k numbers per path in
    dim 8) and the words' entries are read from it; its backward scatters
    the derivatives into a signature-shaped array for sigbackprop.
    """
    l, d = SIG_COEF_SHAPE
    n_words, k = SIG_COEF_WORDS
    shape = f"B{batch}-L{l}-d{d}-{n_words}x{k}"
    key = f"sig_coef/{shape}/{seed}"
    params = dict(batch=batch, length=l, dim=d, words=n_words, word_length=k, dtype="float64")

    def word_index(w):
        return sum((c + 1) * d ** (len(w) - 1 - j) for j, c in enumerate(w)) - 1

    def setup():
        rng = np.random.default_rng(seed)
        words = [tuple(int(c) for c in rng.integers(0, d, k)) for _ in range(n_words)]
        path = random_paths(rng, batch, l, d, np.float64)
        c = {"path": path, "words": words, "index": [word_index(w) for w in words]}
        c["derivs"] = rng.standard_normal((batch, n_words * k))
        # prefix coefficients (untimed): from sigrs when it imports, else pysiglib
        lib = "sigrs" if "sigrs" in MODS else "pysiglib"
        if lib in MODS:
            c["coefs"] = MODS[lib].sig_coef(path, words, prefixes=True, n_jobs=-1)
        c["full_index"] = [word_index(w[:j]) for w in words for j in range(1, k + 1)]
        return c

    def iisig_fwd(c):
        return lambda: MODS["iisignature"].sig(c["path"], k)[:, c["index"]]

    def iisig_bwd(c):
        full = np.zeros((batch, sig_len(d, k)))
        np.add.at(full, (slice(None), c["full_index"]), c["derivs"])
        return functools.partial(MODS["iisignature"].sigbackprop, full, c["path"], k)

    fwd = {
        "sigrs": Impl(lambda c: functools.partial(MODS["sigrs"].sig_coef, c["path"], c["words"], n_jobs=-1),
                      note="sig_coef(path, words, n_jobs=-1)"),
        "pysiglib": Impl(lambda c: functools.partial(MODS["pysiglib"].sig_coef, c["path"], c["words"], n_jobs=-1),
                         note="sig_coef(path, words, n_jobs=-1)"),
    }
    bwd = {
        "sigrs": Impl(lambda c: functools.partial(MODS["sigrs"].sig_coef_backprop, c["path"], c["words"],
                                                  c["coefs"], c["derivs"], n_jobs=-1),
                      note="sig_coef_backprop(path, words, coefs, derivs, n_jobs=-1)"),
        # pysiglib overwrites derivs: each call gets a fresh copy (well under 1% of its time)
        "pysiglib": Impl(lambda c: lambda: MODS["pysiglib"].sig_coef_backprop(
            c["path"], c["words"], c["coefs"], c["derivs"].copy(), n_jobs=-1),
            note="sig_coef_backprop(path, words, coefs, derivs.copy(), n_jobs=-1)"),
    }
    if with_iisig:
        fwd["iisignature"] = Impl(iisig_fwd, note="sig(path, 6)[:, word indices]; single-threaded")
        bwd["iisignature"] = Impl(iisig_bwd, note="sigbackprop(derivs scattered into a signature, path, 6); "
                                  "single-threaded")
    return [
        Workload(name=f"sig_coef/fwd/{shape}", group=f"sig_coef forward, 100 words of length 6, batch {batch}, float64",
                 setup=setup, setup_key=key, impls=fwd, jobs="-1", rtol=1e-8, repeat=repeat,
                 show_notes=True, params=dict(params, op="sig_coef")),
        Workload(name=f"sig_coef/bwd/{shape}", group=f"sig_coef backward, 100 words of length 6, batch {batch}, float64",
                 setup=setup, setup_key=key, impls=bwd, jobs="-1", rtol=1e-8, repeat=repeat,
                 show_notes=True, params=dict(params, op="sig_coef_backprop")),
    ]


def sig_coef_all_workloads(args, notes: List[str]) -> List[Workload]:
    """sig_coef/* (CPU)."""
    q = QUICK_DIV if args.quick else 1
    ws: List[Workload] = []
    for batch, with_iisig in SIG_COEF_BATCHES:
        # the iisignature rows take seconds per call: three repeats are plenty
        ws += sig_coef_workloads(max(1, batch // q) if not with_iisig else batch, with_iisig, args.seed,
                                 repeat=min(args.repeat, 3) if with_iisig else None)
    if args.quick:
        notes.append(f"--quick: sig_coef batch 128 divided by {q}; names give the sizes run.")
    return ws


# sig_kernel rows: (batch, length, dim) and dyadic orders; Gram rows:
# (batch1, batch2, length, dim, dyadic order); float64
KERNEL_SHAPE = (128, 256, 8)
KERNEL_ORDERS = (0, 2)
GRAM_SHAPE = (64, 64, 128, 4, 1)


def kernel_workloads(args, notes: List[str]) -> List[Workload]:
    """sig_kernel/* and sig_kernel_gram/* (CPU): forward and backward (both
    paths' gradients) against pysiglib; sigkernel is not on PyPI and is not
    compared."""
    q = QUICK_DIV if args.quick else 1
    ws: List[Workload] = []
    b, l, d = KERNEL_SHAPE
    b = max(1, b // q)
    for order in KERNEL_ORDERS:
        shape = f"B{b}-L{l}-d{d}-o{order}"
        key = f"sig_kernel/{shape}/{args.seed}"

        def setup(b=b):
            rng = np.random.default_rng(args.seed)
            return {"x": random_paths(rng, b, l, d, np.float64), "y": random_paths(rng, b, l, d, np.float64),
                    "derivs": rng.standard_normal(b)}

        def fwd(lib, order=order):
            return Impl(lambda c: functools.partial(MODS[lib].sig_kernel, c["x"], c["y"], dyadic_order=order, n_jobs=-1),
                        note=f"sig_kernel(x, y, dyadic_order={order}, n_jobs=-1)")

        def bwd(lib, order=order):
            return Impl(lambda c: lambda: np.concatenate(MODS[lib].sig_kernel_backprop(
                c["derivs"], c["x"], c["y"], dyadic_order=order, left_deriv=True, right_deriv=True, n_jobs=-1), axis=1),
                note=f"sig_kernel_backprop(derivs, x, y, dyadic_order={order}, left_deriv=True, right_deriv=True, n_jobs=-1)")

        ws.append(Workload(name=f"sig_kernel/fwd/{shape}", group=f"sig_kernel forward, dyadic order {order}, float64",
                           setup=setup, setup_key=key, impls={lib: fwd(lib) for lib in ("sigrs", "pysiglib")},
                           jobs="-1", rtol=1e-8, show_notes=True, params=dict(batch=b, length=l, dim=d, dyadic_order=order, op="sig_kernel"),
                           flops=kernel_flops(b, l, l, d, order)))
        ws.append(Workload(name=f"sig_kernel/bwd/{shape}", group=f"sig_kernel backward (both paths), dyadic order {order}, float64",
                           setup=setup, setup_key=key, impls={lib: bwd(lib) for lib in ("sigrs", "pysiglib")},
                           jobs="-1", rtol=1e-8, show_notes=True, params=dict(batch=b, length=l, dim=d, dyadic_order=order, op="sig_kernel_backprop")))
    b1, b2, l, d, order = GRAM_SHAPE
    b1, b2 = max(1, b1 // q), max(1, b2 // q)
    for symmetric in (False, True):
        kind = "symmetric" if symmetric else "two batches"
        shape = f"B{b1}x{b2}-L{l}-d{d}-o{order}" + ("-sym" if symmetric else "")
        key = f"sig_kernel_gram/{shape}/{args.seed}"

        def setup(symmetric=symmetric):
            rng = np.random.default_rng(args.seed)
            x = random_paths(rng, b1, l, d, np.float64)
            y = x if symmetric else random_paths(rng, b2, l, d, np.float64)
            return {"x": x, "y": y, "derivs": rng.standard_normal((b1, b2))}

        def gram(lib):
            return Impl(lambda c: functools.partial(MODS[lib].sig_kernel_gram, c["x"], c["y"], dyadic_order=order, n_jobs=-1),
                        note=f"sig_kernel_gram(x, {'x' if symmetric else 'y'}, dyadic_order={order}, n_jobs=-1)")

        def gram_bwd(lib):
            return Impl(lambda c: lambda: np.concatenate(MODS[lib].sig_kernel_gram_backprop(
                c["derivs"], c["x"], c["y"], dyadic_order=order, left_deriv=True, right_deriv=True, n_jobs=-1), axis=1),
                note=f"sig_kernel_gram_backprop(derivs, x, y, dyadic_order={order}, left_deriv=True, right_deriv=True, n_jobs=-1)")

        ws.append(Workload(name=f"sig_kernel_gram/fwd/{shape}", group=f"sig_kernel_gram forward ({kind}), float64",
                           setup=setup, setup_key=key, impls={lib: gram(lib) for lib in ("sigrs", "pysiglib")},
                           jobs="-1", rtol=1e-8, show_notes=True, params=dict(batch1=b1, batch2=b2, length=l, dim=d, dyadic_order=order, op="sig_kernel_gram"),
                           # the symmetric Gram solves its upper triangle only:
                           # counting every pair would overstate the rate
                           flops=None if symmetric else kernel_flops(b1 * b2, l, l, d, order)))
        if not symmetric:
            ws.append(Workload(name=f"sig_kernel_gram/bwd/{shape}", group="sig_kernel_gram backward (both batches), float64",
                               setup=setup, setup_key=key, impls={lib: gram_bwd(lib) for lib in ("sigrs", "pysiglib")},
                               jobs="-1", rtol=1e-8, show_notes=True, params=dict(batch1=b1, batch2=b2, length=l, dim=d, dyadic_order=order, op="sig_kernel_gram_backprop")))
    if args.quick:
        notes.append(f"--quick: sig_kernel batch and Gram batches divided by {q}; names give the sizes run.")
    return ws


# (row name, the constructor call, the same on a module with pysiglib's static kernels)
STATIC_KERNELS = [
    ("scaled_linear", "ScaledLinearKernel(0.7)", lambda m: m.ScaledLinearKernel(0.7)),
    ("rbf", "RBFKernel(0.8)", lambda m: m.RBFKernel(0.8)),
    ("polynomial", "PolynomialKernel(3.0, 1.0, 0.5)", lambda m: m.PolynomialKernel(degree=3.0, gamma=1.0, scale=0.5)),
    ("matern12", "Matern12Kernel(1.3)", lambda m: m.Matern12Kernel(1.3)),
    ("matern32", "Matern32Kernel(1.3)", lambda m: m.Matern32Kernel(1.3)),
    ("matern52", "Matern52Kernel(0.6)", lambda m: m.Matern52Kernel(0.6)),
    ("rational_quadratic", "RationalQuadraticKernel(0.9, 1.7)", lambda m: m.RationalQuadraticKernel(0.9, 1.7)),
]
STATIC_KERNEL_SHAPE = (64, 128, 4, 1)  # batch, length, dim, dyadic order


def static_kernel_workloads(args, notes: List[str]) -> List[Workload]:
    """sig_kernel/<kernel>/*: forward and backward (both paths) with each
    built-in static kernel other than the linear one, against pysiglib with
    its kernel of the same name and parameters."""
    q = QUICK_DIV if args.quick else 1
    b, l, d, order = STATIC_KERNEL_SHAPE
    b = max(1, b // q)
    shape = f"B{b}-L{l}-d{d}-o{order}"
    key = f"static_kernel/{shape}/{args.seed}"

    def setup():
        rng = np.random.default_rng(args.seed)
        return {"x": random_paths(rng, b, l, d, np.float64), "y": random_paths(rng, b, l, d, np.float64),
                "derivs": rng.standard_normal(b)}

    ws: List[Workload] = []
    for name, call, make in STATIC_KERNELS:
        def fwd(lib, call=call, make=make):
            return Impl(lambda c: functools.partial(MODS[lib].sig_kernel, c["x"], c["y"], dyadic_order=order, n_jobs=-1,
                                                    static_kernel=make(MODS[lib])),
                        note=f"sig_kernel(x, y, dyadic_order={order}, static_kernel={call}, n_jobs=-1)")

        def bwd(lib, call=call, make=make):
            return Impl(lambda c: lambda: np.concatenate([np.asarray(g) for g in MODS[lib].sig_kernel_backprop(
                c["derivs"], c["x"], c["y"], dyadic_order=order, static_kernel=make(MODS[lib]), left_deriv=True,
                right_deriv=True, n_jobs=-1)], axis=1),
                note=f"sig_kernel_backprop(derivs, x, y, dyadic_order={order}, static_kernel={call}, both sides, n_jobs=-1)")

        params = dict(batch=b, length=l, dim=d, dyadic_order=order, static_kernel=name)
        ws.append(Workload(name=f"sig_kernel/{name}/fwd/{shape}", group=f"sig_kernel forward with static kernels, float64, {shape}",
                           setup=setup, setup_key=key, impls={lib: fwd(lib) for lib in ("sigrs", "pysiglib")},
                           jobs="-1", rtol=1e-8, params=dict(params, op="sig_kernel")))
        ws.append(Workload(name=f"sig_kernel/{name}/bwd/{shape}", group=f"sig_kernel backward with static kernels, float64, {shape}",
                           setup=setup, setup_key=key, impls={lib: bwd(lib) for lib in ("sigrs", "pysiglib")},
                           jobs="-1", rtol=1e-8, params=dict(params, op="sig_kernel_backprop")))
    if args.quick:
        notes.append(f"--quick: static-kernel rows run batch {b}.")
    return ws


# Issue 18's rows: pysiglib's log_sig_combine and polynomial kernel solver,
# and sigrs.iisignature against iisignature itself.
LOG_SIG_COMBINE_SHAPES = [(1000, 3, 5), (1000, 8, 4)]   # batch, dim, degree
POLY_KERNEL_SHAPE = (64, 100, 5)                         # batch, length, dim
POLY_ORDERS = (4, 8, 16)
IISIG_SHAPES = [(100, 100, 3, 4), (1, 1000, 3, 6)]      # batch, length, dim, degree


def issue18_workloads(args, notes: List[str]) -> List[Workload]:
    """log_sig_combine forward/backward and the polynomial signature-kernel
    solver (forward, backward, Gram) against pysiglib; sigrs.iisignature's
    logsig and sigjacobian against iisignature."""
    q = QUICK_DIV if args.quick else 1
    ws: List[Workload] = []
    for b, d, m in LOG_SIG_COMBINE_SHAPES:
        b = max(1, b // q)
        shape = f"B{b}-d{d}-m{m}"
        key = f"log_sig_combine/{shape}/{args.seed}"

        def setup(b=b, d=d, m=m):
            rng = np.random.default_rng(args.seed)
            lib = MODS["sigrs"] if "sigrs" in MODS else MODS["pysiglib"]
            a, c = (lib.log_sig(random_paths(rng, b, 8, d, np.float64), m, method=2) for _ in range(2))
            return {"a": a, "b": c, "g": rng.standard_normal(a.shape)}

        def prepared(lib, d, m):
            # pysiglib's combine needs its method-2 and method-3 tables (untimed)
            for method in (2, 3):
                MODS[lib].prepare_log_sig(d, m, method)
            return MODS[lib]

        def fwd(lib, d=d, m=m):
            return Impl(lambda c: functools.partial(prepared(lib, d, m).log_sig_combine, c["a"], c["b"], d, m, n_jobs=-1),
                        note="log_sig_combine(a, b, d, m, n_jobs=-1) (Lyndon basis), after prepare_log_sig(d, m, 2 and 3) untimed")

        def bwd(lib, d=d, m=m):
            return Impl(lambda c: lambda: np.concatenate(prepared(lib, d, m).log_sig_combine_backprop(
                c["g"], c["a"], c["b"], d, m, n_jobs=-1), axis=-1),
                note="log_sig_combine_backprop(g, a, b, d, m, n_jobs=-1)")

        params = dict(batch=b, dim=d, degree=m)
        for kind, make in (("fwd", fwd), ("bwd", bwd)):
            ws.append(Workload(name=f"log_sig_combine/{kind}/{shape}", group=f"log_sig_combine {kind}, float64",
                               setup=setup, setup_key=key, impls={lib: make(lib) for lib in ("sigrs", "pysiglib")},
                               jobs="-1", rtol=1e-8, show_notes=True,
                               params=dict(params, op="log_sig_combine" + ("_backprop" if kind == "bwd" else ""))))
    b, l, d = POLY_KERNEL_SHAPE
    b = max(1, b // q)
    key = f"poly_kernel/B{b}-L{l}-d{d}/{args.seed}"

    def poly_setup(b=b, l=l, d=d):
        rng = np.random.default_rng(args.seed)
        return {"x": random_paths(rng, b, l, d, np.float64), "y": random_paths(rng, b, l, d, np.float64),
                "derivs": rng.standard_normal(b), "gderivs": rng.standard_normal((b, b))}

    for order in POLY_ORDERS:
        shape = f"B{b}-L{l}-d{d}-p{order}"
        kw = dict(method="polynomial", order=order, n_jobs=-1)

        def pfwd(lib, kw=kw):
            return Impl(lambda c: functools.partial(MODS[lib].sig_kernel, c["x"], c["y"], **kw),
                        note=f"sig_kernel(x, y, method='polynomial', order={kw['order']}, n_jobs=-1)")

        def pbwd(lib, kw=kw):
            return Impl(lambda c: lambda: np.concatenate(MODS[lib].sig_kernel_backprop(
                c["derivs"], c["x"], c["y"], left_deriv=True, right_deriv=True, **kw), axis=1),
                note=f"sig_kernel_backprop(..., method='polynomial', order={kw['order']}, both sides)")

        def pgram(lib, kw=kw):
            return Impl(lambda c: functools.partial(MODS[lib].sig_kernel_gram, c["x"], c["y"], **kw),
                        note=f"sig_kernel_gram(x, y, method='polynomial', order={kw['order']}, n_jobs=-1)")

        params = dict(batch=b, length=l, dim=d, order=order)
        for kind, make, op in (("fwd", pfwd, "sig_kernel"), ("bwd", pbwd, "sig_kernel_backprop"),
                               ("gram", pgram, "sig_kernel_gram")):
            ws.append(Workload(name=f"sig_kernel_poly/{kind}/{shape}", group=f"sig_kernel polynomial solver {kind}, float64",
                               setup=poly_setup, setup_key=key, impls={lib: make(lib) for lib in ("sigrs", "pysiglib")},
                               jobs="-1", rtol=1e-8, show_notes=True, params=dict(params, op=op, method="polynomial")))
    for b, l, d, m in IISIG_SHAPES:
        shape = f"B{b}-L{l}-d{d}-m{m}"
        key = f"iisig/{shape}/{args.seed}"

        def iisig_setup(b=b, l=l, d=d):
            rng = np.random.default_rng(args.seed)
            path = random_paths(rng, b, l, d, np.float64)
            return {"path": path[0] if b == 1 else path}

        def mod(lib):
            return importlib.import_module("sigrs.iisignature") if lib == "sigrs" else MODS["iisignature"]

        def logsig(lib, method, d=d, m=m):
            def make(c):
                s = mod(lib).prepare(d, m, method)      # untimed
                return functools.partial(mod(lib).logsig, c["path"], s, method)
            return Impl(make, note=f"logsig(path, prepare(d, m, {method!r}), {method!r}); "
                        "sigrs: sigrs.iisignature; prepare untimed")

        def jacobian(lib, m=m):
            return Impl(lambda c: functools.partial(mod(lib).sigjacobian, c["path"][:50] if c["path"].ndim == 2 else c["path"][0, :50], m),
                        note="sigjacobian(path[:50], m) (one path: its Jacobian is (L, d, sig_len)); sigrs uses every core, iisignature one")

        params = dict(batch=b, length=l, dim=d, degree=m)
        for name, impl, op in (("logsig_S", lambda lib: logsig(lib, "S"), "logsig S"),
                               ("logsig_default", lambda lib: logsig(lib, "D"), "logsig D"),
                               ("sigjacobian", jacobian, "sigjacobian")):
            # (iisignature's Jacobian is float32, as sigrs.iisignature's)
            ws.append(Workload(name=f"iisignature/{name}/{shape}", group="sigrs.iisignature vs iisignature, float64 input",
                               setup=iisig_setup, setup_key=key, impls={lib: impl(lib) for lib in ("sigrs", "iisignature")},
                               jobs="1", rtol=1e-6 if name == "sigjacobian" else 1e-8, show_notes=True,
                               params=dict(params, op=op)))
    if args.quick:
        notes.append(f"--quick: log_sig_combine and polynomial-kernel batches divided by {q}.")
    return ws


def build_workloads(args, notes: List[str]) -> List[Workload]:
    ws: List[Workload] = []
    f64_shapes = list(F64_SHAPES)
    big_b, big_l, big_d, big_m = PYSIGLIB_SHAPE
    if args.quick:
        f64_shapes = [(b // QUICK_BATCH_DIV, l, d, m) for (b, l, d, m) in f64_shapes]
        big_b = QUICK_BIG_BATCH
        notes.append(f"--quick: float64 batches divided by {QUICK_BATCH_DIV} (128->32, 32->8); "
                     f"pysiglib's float32 benchmark shape run with batch {big_b} instead of "
                     f"{PYSIGLIB_SHAPE[0]}; {args.repeat} repeats; overhead rows "
                     f"{args.overhead_number} calls per repeat.")
    if args.device == "cpu":
        for (b, l, d, m) in f64_shapes:
            ws += sig_workloads(b, l, d, m, np.float64, args.seed, rtol=1e-8)
        ws += sig_workloads(big_b, big_l, big_d, big_m, np.float32, args.seed, rtol=1e-3)
        ws += overhead_workloads(args.overhead_number, args.seed)
        ws += issue3_workloads(args, notes)
        ws += log_sig_all_workloads(args, notes)
        ws += sig_coef_all_workloads(args, notes)
        ws += kernel_workloads(args, notes)
        ws += static_kernel_workloads(args, notes)
        ws += issue18_workloads(args, notes)
    elif args.device == "cuda":
        for (b, l, d, m) in CUDA_SHAPES:
            if args.quick:
                b = max(b // QUICK_BATCH_DIV, 1)
            ws += cuda_sig_workloads(b, l, d, m, np.float64, args.seed, rtol=1e-8)
            ws += cuda_sig_workloads(b, l, d, m, np.float32, args.seed, rtol=1e-3)
        notes.extend(cuda_backward_memory_notes(CUDA_SHAPES[0], args.seed))
    return ws


# Issue 6's GPU shapes (batch, length, dim, degree): long paths with few
# words, and short paths with many.
CUDA_SHAPES = [(256, 10000, 8, 3), (128, 256, 4, 6)]


def cuda_backward_memory_notes(shape, seed) -> List[str]:
    """Peak CUDA memory each library's backward pass allocates beyond its
    inputs, next to what storing every step's signature would take."""
    b, l, d, m = shape
    rng = np.random.default_rng(seed)
    path = torch.from_numpy(random_paths(rng, b, l, d, np.float32)).cuda()
    notes = []
    for lib in ("sigrs", "pysiglib"):
        if not available(lib):
            continue
        mod = MODS[lib]
        s = mod.sig(path, m)
        derivs = torch.ones_like(s)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        mod.sig_backprop(path, s, derivs, m)
        torch.cuda.synchronize()
        extra = (torch.cuda.max_memory_allocated() - base) / 2**20
        notes.append(f"backward memory, float32 {shape}: {lib} allocates {extra:.1f} MiB beyond its inputs "
                     f"(the path is {path.numel() * 4 / 2**20:.1f} MiB; length x sig_len would be "
                     f"{b * l * sig_len(d, m) * 4 / 2**20:.0f} MiB)")
    return notes


# --------------------------------------------------------------------------
# The machine's peak (for the %peak column)
# --------------------------------------------------------------------------

PEAK_N = 2000           # numpy matmul of PEAK_N x PEAK_N


def matmul_rates(n: int, repeat: int) -> dict:
    """flop/s of numpy's n x n matmul, float64 and float32: 2 n^3 / median
    time of `repeat` products after one warm-up product.  Self-contained
    (its source also runs in a subprocess, see measure_peaks)."""
    import statistics
    import time
    import numpy as np
    rates = {}
    for dtype in ("float64", "float32"):
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        a @ b                               # warm-up: BLAS threads, page faults
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        rates[dtype] = 2.0 * n ** 3 / statistics.median(times)
    return rates


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def measure_peaks(repeat: int) -> dict:
    """The matmul peak at one thread (for jobs=1 rows) and at all usable
    cores (for the others): {"1": {dtype: flop/s}, "all": {...}, ...}.

    numpy's BLAS reads its thread count once, at load: threadpoolctl changes
    it in this process when installed; otherwise each count is measured in a
    fresh interpreter with OPENBLAS/OMP/MKL_NUM_THREADS set.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    out: Dict[str, Any] = {"n": PEAK_N, "repeat": repeat, "threads_all": usable_cores(),
                           "method": "threadpoolctl" if threadpool_limits else
                           "subprocess with OPENBLAS_NUM_THREADS/OMP_NUM_THREADS"}
    for key, threads in (("1", 1), ("all", out["threads_all"])):
        if threads == 1 and key == "all":
            out[key] = out["1"]
            continue
        if threadpool_limits is not None:
            with threadpool_limits(limits=threads, user_api="blas"):
                out[key] = matmul_rates(PEAK_N, repeat)
            continue
        env = dict(os.environ)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        code = (inspect.getsource(matmul_rates)
                + f"\nimport json\nprint(json.dumps(matmul_rates({PEAK_N}, {repeat})))\n")
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"peak measurement at {threads} threads failed: "
                               + (proc.stderr.strip().splitlines() or ["?"])[-1])
        out[key] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def add_peak_shares(row: dict, peaks: Optional[dict]) -> None:
    """Set each library's pct_peak (sigrs and pysiglib, which run the same
    count of work) from the row's flops and the peak for its threads/dtype."""
    flops = row.get("flops")
    if not flops or not peaks or row["device"] != "cpu":
        return
    rate = peaks["1" if row["jobs"] == "1" else "all"].get(
        row["params"].get("dtype", "float64"))
    if not rate:
        return
    for lib in (REF, "pysiglib"):
        r = row["results"].get(lib, {})
        if r.get("status") == "ok":
            r["pct_peak"] = 100.0 * flops / r["median_s"] / rate


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

def _cuda_sync():
    torch.cuda.synchronize()


def measure(fn, number: int, repeat: int, sync=None) -> List[float]:
    """Seconds per call for each of `repeat` repeats of `number` calls."""
    times = []
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            if sync is None:
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                t1 = time.perf_counter()
            else:
                sync()
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                    sync()
                t1 = time.perf_counter()
            times.append((t1 - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def rel_maxdiff(out, ref) -> float:
    """max |out - ref| / max |ref|, computed in float64.

    Tuples (e.g. the gradients w.r.t. two inputs) are compared item by item,
    each relative to its own scale, and the largest difference is returned.
    """
    if isinstance(out, (tuple, list)) or isinstance(ref, (tuple, list)):
        if not (isinstance(out, (tuple, list)) and isinstance(ref, (tuple, list))
                and len(out) == len(ref)):
            raise ValueError("output is not a tuple of the reference's length")
        return max((rel_maxdiff(a, b) for a, b in zip(out, ref)), default=0.0)
    a = to_numpy(out).astype(np.float64, copy=False)
    b = to_numpy(ref).astype(np.float64, copy=False)
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} != reference shape {b.shape}")
    if not (np.all(np.isfinite(a))):
        return math.inf
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    return diff / scale if scale > 0 else diff


def run_workload(w: Workload, ctx: dict, libs: List[str], args, shared: dict) -> dict:
    repeat = w.repeat or args.repeat
    sync = _cuda_sync if w.device == "cuda" else None
    res: Dict[str, dict] = {}
    outputs: Dict[str, Any] = {}
    ref_lib = None

    for lib in libs:
        r: Dict[str, Any] = {"status": None}
        res[lib] = r
        impl = w.impls.get(lib)
        r["has_impl"] = impl is not None
        if not available(lib):
            r["status"] = "missing"
            continue
        if impl is None:
            r["status"] = "n/a"
            continue
        if impl.note:
            r["note"] = impl.note
        if impl.share_key and impl.share_key in shared:
            prev = shared[impl.share_key]
            r.update({k: v for k, v in prev["result"].items()})
            r["shared"] = True
            outputs[lib] = prev["output"]
            if ref_lib is None and r["status"] == "ok":
                ref_lib = lib
            continue
        try:
            fn = impl.make(ctx)
            if sync:
                # an extra untimed call first: CUDA context / kernel loading
                fn()
                sync()
            t0 = time.perf_counter()
            out = fn()                      # warm-up, and the output we verify
            if sync:
                sync()
            warm = time.perf_counter() - t0
            if impl.post is not None:
                out = impl.post(out)
        except Exception as exc:
            r["status"] = "error"
            r["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            continue
        outputs[lib] = out
        r["warmup_s"] = warm
        r["status"] = "ok"
        r["out_dtype"] = out_dtype(out)
        if ref_lib is None:
            ref_lib = lib
        else:
            rtol = w.rtol
            ref_dtype = res[ref_lib]["out_dtype"]
            if r["out_dtype"] != ref_dtype:
                # e.g. iisignature.sigbackprop returns float32 for float64 input:
                # judge the difference at the lower precision.
                r["note"] = ((r.get("note") + "; ") if r.get("note") else "") + \
                    f"returns {r['out_dtype']} (ref {ref_dtype})"
                if "float32" in (r["out_dtype"], ref_dtype):
                    rtol = max(rtol, 1e-5)
            try:
                d = rel_maxdiff(out, outputs[ref_lib])
            except Exception as exc:
                r["status"] = "mismatch"
                r["error"] = f"{type(exc).__name__}: {exc}"
                d = math.inf
            r["maxdiff"] = d
            r["maxdiff_vs"] = ref_lib
            r["rtol"] = rtol
            if not (d <= rtol):
                r["status"] = "mismatch"
        if r["status"] == "ok":
            number = w.number
            if number is None:
                number = max(1, min(10000, int(args.min_time / max(warm, 1e-9))))
            reps = repeat
            if w.number is None and warm * repeat > args.max_seconds:
                # very slow calls (seconds each): fewer repeats, at least 3
                reps = min(repeat, max(3, int(args.max_seconds / warm)))
            r["number"] = number
            r["repeat"] = reps
            times = measure(fn, number, reps, sync)
            r["times_s"] = times
            r["median_s"] = statistics.median(times)
            r["min_s"] = min(times)
        if impl.share_key:
            shared[impl.share_key] = {"result": dict(r), "output": out}

    # A mismatch against the reference: say how the mismatching output
    # compares with the other libraries, so a wrong reference is visible.
    for lib in libs:
        r = res[lib]
        if r.get("status") == "mismatch" and lib in outputs:
            others = {}
            for other in libs:
                if other not in (lib, r.get("maxdiff_vs")) and other in outputs:
                    try:
                        others[other] = rel_maxdiff(outputs[lib], outputs[other])
                    except Exception:
                        others[other] = math.inf
            r["maxdiff_others"] = others

    # Outputs of one row are dropped here (big arrays); shared ones live on.
    ref = res.get(REF, {})
    for lib in libs:
        r = res[lib]
        if lib != REF and r.get("status") == "ok" and ref.get("status") == "ok":
            r["ratio"] = r["median_s"] / ref["median_s"]
    return {"name": w.name, "group": w.group, "jobs": w.jobs, "unit": w.unit,
            "device": w.device, "params": w.params, "results": res,
            "reference": ref_lib, "show_notes": w.show_notes, "flops": w.flops}


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def machine_info(args) -> dict:
    info = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": None,
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "libraries": {},
        "env": {k: os.environ[k] for k in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS",
                                           "MKL_NUM_THREADS") if k in os.environ},
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        info["cpu_model"] = platform.processor() or None
    for lib in LIBS:
        if lib in MODS:
            base = lib.split(".")[0]        # sigrs.signatory: sigrs's version
            info["libraries"][lib] = _version(MODS[base] if base in MODS else MODS[lib], base)
        else:
            info["libraries"][lib] = None
    if args.device == "cuda" and torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def print_header(info, args):
    libs = ", ".join(f"{k} {v}" if v else f"{k} -" for k, v in info["libraries"].items())
    print("sigrs comparison benchmark  " + info["date"])
    print(f"machine : {info['cpu_model'] or '?'}; cpu_count={info['cpu_count']}, "
          f"usable={info['cpu_affinity']}; {info['platform']}")
    if "gpu" in info:
        print(f"gpu     : {info['gpu']} (CUDA {info['cuda']})")
    print(f"python  : {info['python']}; numpy {info['numpy']}; torch "
          f"{info['torch'] or '-'} (threads {info['torch_threads']})")
    print(f"libs    : {libs}")
    if info["env"]:
        print("env     : " + " ".join(f"{k}={v}" for k, v in info["env"].items()))
    print(f"timing  : median of {args.repeat} repeats after 1 warm-up call"
          f"{' (--quick)' if args.quick else ''}; device {args.device}")
    peak = info.get("peak")
    if peak:
        def rates(key):
            return ", ".join(f"{peak[key][dt] / 1e9:.1f} {_dname(dt)}" for dt in ("float64", "float32"))
        print(f"peak    : numpy {peak['n']}x{peak['n']} matmul, GFLOP/s (median of "
              f"{peak['repeat']}): 1 thread {rates('1')}; {peak['threads_all']} threads "
              f"{rates('all')} ({peak['method']})")
        if peak["threads_all"] > 1 and peak["all"]["float64"] < 1.5 * peak["1"]["float64"]:
            # BLAS scales almost linearly on a quiet machine: a flat curve
            # means other load, and then every %peak is a rough figure
            print(f"          (the {peak['threads_all']}-thread peak is under 1.5x the "
                  "1-thread one: the machine is busy; %peak is rough, even above 100%)")
    elif info.get("peak_error"):
        print(f"peak    : not measured ({info['peak_error']})")
    print()


def _fmt_time(v: float) -> str:
    if v >= 1000:
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def format_table(rows: List[dict], libs: List[str], args_repeat: int):
    footnotes: List[str] = []

    def foot(msg):
        if msg not in footnotes:
            footnotes.append(msg)
        return f"[{footnotes.index(msg) + 1}]"

    peers = [l for l in libs if l != REF]
    header = ["workload", "jobs", "unit"]
    if REF in libs:
        header.append(REF)
    show_peak = REF in libs and any(row["results"].get(REF, {}).get("pct_peak") is not None
                                    for row in rows)
    if show_peak:
        header.append("%peak")
    for p in peers:
        header += [p, "ratio", "maxdiff"]

    table: List[List[str]] = []
    groups: List[int] = []     # row indices where a new group starts
    last_group = None
    for row in rows:
        if row["group"] != last_group:
            groups.append(len(table))
            table.append([f"-- {row['group']}"])
            last_group = row["group"]
        scale = UNIT_SCALE[row["unit"]]
        cells = [row["name"], row["jobs"], row["unit"]]
        for lib in libs:
            r = row["results"][lib]
            st = r["status"]
            if st == "ok":
                t = _fmt_time(r["median_s"] * scale) + ("*" if r.get("shared") else "")
                if r["repeat"] < args_repeat:
                    t = "~" + t
            elif st == "missing":
                t = "-"
            elif st == "n/a":
                t = "n/a"
            elif st == "mismatch":
                t = "MISMATCH" + foot(f"{lib} on {row['name']}: outputs differ from "
                                      f"{r.get('maxdiff_vs')} "
                                      f"(maxdiff {r.get('maxdiff', math.inf):.2e})"
                                      + "".join(f", vs {o} {d:.2e}"
                                                for o, d in r.get("maxdiff_others", {}).items())
                                      + "; not timed"
                                      + (f"; {r['error']}" if r.get("error") else ""))
            else:
                t = "err" + foot(f"{lib}: {r.get('error')}")
            cells.append(t)
            if lib == REF:
                if show_peak:
                    pct = r.get("pct_peak")
                    cells.append("-" if pct is None else
                                 f"{pct:.0f}%" if pct >= 10 else f"{pct:.1f}%")
                continue
            ratio = r.get("ratio")
            cells.append(f"{ratio:.2f}x" if ratio is not None else "-")
            md = r.get("maxdiff")
            if md is None:
                cells.append("-" if st != "ok" else "ref")
            else:
                cells.append(f"{md:.1e}")
        table.append(cells)

    widths = [len(h) for h in header]
    for cells in table:
        if len(cells) == 1:
            continue
        for i, c in enumerate(cells):
            widths[i] = max(widths[i], len(c))

    def line(cells):
        parts = []
        for i, c in enumerate(cells):
            parts.append(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]))
        return "  ".join(parts).rstrip()

    out = [line(header), "-" * len(line(header))]
    for i, cells in enumerate(table):
        if len(cells) == 1:
            if i:
                out.append("")
            out.append(cells[0])
        else:
            out.append(line(cells))
    return "\n".join(out), footnotes


def shown_columns(rows: List[dict], libs: List[str]) -> List[str]:
    """The reference, and every column that some row has an Impl for."""
    return [l for l in libs
            if l == REF or any(row["results"].get(l, {}).get("has_impl") for row in rows)]


def print_report(rows, libs, notes, args):
    libs = shown_columns(rows, libs)
    text, footnotes = format_table(rows, libs, args.repeat)
    print(text)
    print()
    print("ratio   = peer median / sigrs median (>1: sigrs faster).")
    if any(row["results"].get(REF, {}).get("pct_peak") is not None for row in rows):
        print("%peak   = sigrs's counted flops / its median / the matmul peak above (1 thread "
              "for jobs 1, all cores otherwise); forward 2 B (L-1) sig_len d/(d-1) (d=1: "
              "degree), backward = 3 forward passes (inverse + adjoint steps), stream = "
              "forward, kernel forward 2 d per pair of increments + 4 per PDE grid point; "
              "'-' = no clear count.")
    print("maxdiff = max|peer - ref| / max|ref| on the row's output, ref = sigrs "
          "(or the first library that ran when sigrs could not); rows above tolerance "
          "are marked MISMATCH and not timed.")
    print("jobs    = n_jobs passed to sigrs and pysiglib; 'dflt' = each library's default "
          "(sigrs -1, pysiglib 1).")
    if any(l in libs for l in ("signatory", "sigrs.signatory")):
        print("          signatory (and sigrs.signatory) take no n_jobs: torch tensors "
              "(zero-copy views of the NumPy inputs), torch's intra-op threads "
              f"({torch.get_num_threads() if torch is not None else '-'}); "
              "iisignature is single-threaded.")
    if "sigrs:stream" in libs:
        print("sigrs:stream = sigrs.sig(stream=True) in the stream/cost rows, whose sigrs "
              "column is sigrs.sig() on the same input: its ratio is the cost of all L-1 "
              "prefix signatures relative to one signature (last row checked).")
    few = sorted({f"{lib} n={r['repeat']}" for row in rows for lib, r in row["results"].items()
                  if r.get("status") == "ok" and r["repeat"] < args.repeat})
    if few:
        print(f"~       = median of fewer repeats than {args.repeat}: calls slower than "
              f"--max-seconds {args.max_seconds:g}/{args.repeat} ({', '.join(few)}).")
    dt_notes = sorted({f"{lib} {r['note'].split('; ')[-1]} on {row['params'].get('op')}"
                       for row in rows for lib, r in row["results"].items()
                       if "returns" in r.get("note", "")})
    for n in dt_notes:
        print(f"dtype   : {n}; its maxdiff is judged at float32 precision.")
    if any(r["results"].get("iisignature", {}).get("shared") for r in rows):
        print("*       = iisignature is single-threaded: its n_jobs=1 measurement is "
              "repeated in the n_jobs=-1 row.")
    names = [row["name"] for row in rows]
    if any(n.startswith("sig_backprop/") for n in names):
        print("iisignature.sigbackprop takes no signature and recomputes it inside the timing; "
              "sigrs/pysiglib get their own precomputed signature.")
        if "signatory" in libs:
            print("signatory (n_jobs=-1 rows only) backward: torch.autograd.grad(retain_graph=True) "
                  "on a signature graph built outside the timing.")
    if any(n.startswith("overhead/sig+backward") for n in names):
        print("overhead/sig+backward: t.grad=None; lib.sig(t, 3).backward(ones) "
              "(sigrs.sig vs pysiglib.torch_api.sig).")
    # how each library computes the issue-3 rows (one line per kind of row)
    how: Dict[str, List[str]] = {}
    for row in rows:
        if not row.get("show_notes"):
            continue
        kind = "/".join(row["name"].split("/")[:2])
        for lib in libs:
            r = row["results"].get(lib, {})
            if not r.get("has_impl"):
                continue
            note = "; ".join(x for x in r.get("note", "").split("; ")
                             if x and not x.startswith("returns "))
            item = f"{lib}: {note}" if note else None
            if item and item not in how.setdefault(kind, []):
                how[kind].append(item)
    for kind, items in how.items():
        if items:
            print(f"how     : {kind}: " + " | ".join(items))
    for lib, err in IMPORT_ERRORS.items():
        if lib in libs:
            print(f"note: {lib} not importable ({err}); shown as '-'.")
    for n in notes:
        print("note: " + n)
    for i, f in enumerate(footnotes, 1):
        print(f"[{i}] {f}")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="3 repeats and smaller batches (float64 batch / 4, the float32 "
                        "pysiglib shape at batch 32); meant to finish in ~1-2 minutes")
    p.add_argument("--repeat", type=int, default=None,
                   help="timed repeats per library (default 7, --quick 3)")
    p.add_argument("--only", nargs="+", metavar="NAME", default=None,
                   help="run only workloads whose name contains NAME or matches it "
                        "as a glob (see --list)")
    p.add_argument("--libs", nargs="+", choices=COLUMNS, default=list(COLUMNS),
                   help="libraries (columns) to include (default: all)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu: NumPy/CPU-tensor workloads; cuda: sigrs vs pysiglib on CUDA "
                        "tensors, torch.cuda.synchronize after every call")
    p.add_argument("--json", metavar="PATH", default=None, help="also save rows as JSON")
    p.add_argument("--list", action="store_true", help="list workload names and exit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds per repeat when calls are batched (default 0.1, --quick 0.05)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="per library and row: when warm-up x repeats exceeds this, use fewer "
                        "repeats (never below 3); default 30, --quick 10")
    p.add_argument("--no-peak", action="store_true",
                   help="skip the matmul peak measurement (and the %%peak column)")
    p.add_argument("--overhead-number", type=int, default=None,
                   help="calls per repeat for overhead rows (default 2000, --quick 500)")
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 7
    if args.min_time is None:
        args.min_time = 0.05 if args.quick else 0.1
    if args.max_seconds is None:
        args.max_seconds = 10.0 if args.quick else 30.0
    if args.overhead_number is None:
        args.overhead_number = 500 if args.quick else 2000
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def select(workloads: List[Workload], patterns) -> List[Workload]:
    if not patterns:
        return workloads
    return [w for w in workloads
            if any(p in w.name or fnmatch.fnmatch(w.name, p) for p in patterns)]


def main(argv=None) -> int:
    args = parse_args(argv)
    notes: List[str] = []
    libs = [l for l in COLUMNS if l in args.libs]
    if REF not in libs:
        notes.append("sigrs excluded with --libs: no ratios.")

    if args.device == "cuda":
        if torch is None or not torch.cuda.is_available():
            print("--device cuda: torch with CUDA is not available here", file=sys.stderr)
            return 2
        libs = [l for l in libs if l != "iisignature"]

    workloads = select(build_workloads(args, notes), args.only)
    # the --quick notes of row families that were not selected go
    families = {w.name.split("/")[0] for w in workloads}
    notes[:] = [n for n in notes
                if not any(n.startswith(prefix) and not families & set(fams)
                           for prefix, fams in QUICK_NOTE_FAMILIES.items())]
    if args.list:
        for w in workloads:
            print(w.name)
        return 0
    if not workloads:
        print("no workload matches --only", file=sys.stderr)
        return 2

    info = machine_info(args)
    if args.no_peak or args.device != "cpu":
        peaks = None        # the CPU's matmul says nothing about a GPU row
    else:
        print("measuring the matmul peak ...", end="", file=sys.stderr, flush=True)
        try:
            peaks = measure_peaks(args.repeat)
            info["peak"] = peaks
        except Exception as exc:
            peaks = None
            info["peak_error"] = f"{type(exc).__name__}: {exc}"
        print(" done", file=sys.stderr, flush=True)
    print_header(info, args)
    if torch is None:
        notes.append(f"torch not importable ({_torch_err}): torch overhead rows skipped.")

    rows: List[dict] = []
    shared: dict = {}
    ctx_key, ctx = None, None
    t_start = time.perf_counter()
    try:
        for i, w in enumerate(workloads, 1):
            if w.setup_key != ctx_key:
                ctx = None
                gc.collect()
                ctx, ctx_key = w.setup(), w.setup_key
            t0 = time.perf_counter()
            print(f"[{i}/{len(workloads)}] {w.name} ...", end="", file=sys.stderr, flush=True)
            rows.append(run_workload(w, ctx, libs, args, shared))
            add_peak_shares(rows[-1], peaks)
            print(f" {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        notes.append("interrupted: table is partial.")
    ctx = None
    shared.clear()

    notes.append(f"total wall time {time.perf_counter() - t_start:.0f}s.")
    print_report(rows, libs, notes, args)

    if args.json:
        # the peaks are in machine["peak"]; rows carry "flops" and, per
        # library, "pct_peak"
        write_json({"machine": info, "args": vars(args), "notes": notes, "rows": rows}, args.json)
        print(f"rows saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
