"""Signature kernels under memory pressure and on degenerate input.

Backward passes hold at most about 64 MiB of the forward grid per worker
(rows are checkpointed and recomputed beyond that), so inputs whose whole
grid needs gigabytes run in bounded memory, and nothing ever aborts the
process: what cannot be had is a ``MemoryError``/``OverflowError``.

The cases that used to need gigabytes (or abort) run in a child process
under an address-space cap (``RLIMIT_AS``), so a regression is a failed
test, not a dead test run; the child reports its peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)

resource = pytest.importorskip("resource")  # POSIX only

GiB = 1 << 30

CHILD = textwrap.dedent(
    """
    import json, os, resource, signal, sys, threading, time
    resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
    import numpy as np
    import sigrs

    def peak_rss_mib():
        # VmHWM: ru_maxrss survives exec, so a child forked from a big
        # parent (pytest with torch loaded) would report the parent's peak
        try:
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rng = np.random.default_rng(0)
    report = {{}}
    {body}
    report["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(report))
    """
)


def run_capped(body: str, cap_bytes: int, timeout: float = 120) -> dict:
    """Runs ``body`` in a child under an address-space cap; its ``report`` dict."""
    script = CHILD.format(cap=cap_bytes, body=textwrap.dedent(body).strip())
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
    # a negative return code is a signal: SIGABRT from a failed allocation
    assert proc.returncode == 0, f"child exited with {proc.returncode}:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_long_pair_backward_runs_in_bounded_memory_and_matches_finite_differences():
    # 16 pairs of 1500 points at dyadic order 2: the whole forward grid of a
    # group of 8 pairs is 2.3 GB per worker (about 5 GB peak RSS before).
    # Under a 2 GiB cap it completes, well within that, and agrees with a
    # directional derivative of the forward kernels (two rows per worker).
    report = run_capped(
        """
        x = rng.random((16, 1500, 2)) * 0.02
        y = x[::-1].copy()
        gx, gy = sigrs.sig_kernel_backprop(np.ones(16), x, y, dyadic_order=2, n_jobs=2, right_deriv=True)
        v = rng.standard_normal(x.shape)
        f = lambda x: sigrs.sig_kernel(x, y, dyadic_order=2, n_jobs=2).sum()
        h = 1e-5
        report["fd"] = (f(x + h * v) - f(x - h * v)) / (2 * h)
        report["grad"] = float(np.sum(gx * v))
        report["grad_y_finite"] = bool(np.isfinite(gy).all())
        """,
        cap_bytes=2 * GiB,
    )
    assert report["grad_y_finite"]
    # (central differences of the refined PDE are good to ~1e-5 here)
    assert report["grad"] == pytest.approx(report["fd"], rel=1e-4), report
    assert abs(report["fd"]) > 1e-3, "the check needs a direction with a visible derivative"
    # 2 workers x (64 MiB of rows + 2 x 144 MB of double increments and their gradients) + Python
    assert report["peak_rss_mib"] < 1000, report


def test_very_high_dyadic_order_is_interruptible_and_bounded_not_an_abort():
    # dyadic_order 14 on 20 points: the whole grid would be 6.2 TB (this
    # aborted the process). Now the forward rows are held by recursive
    # bisection (~21 rows of 20 MB): it runs (for hours) in bounded memory,
    # and Ctrl-C stops it.
    report = run_capped(
        """
        x = rng.random((1, 20, 2))
        def interrupt():
            time.sleep(1.5)
            report["fired"] = time.perf_counter()
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=interrupt, daemon=True).start()
        try:
            sigrs.sig_kernel_backprop(np.ones(1), x, x, dyadic_order=14)
            report["outcome"] = "finished"
        except KeyboardInterrupt:
            report["outcome"] = "interrupted"
        except (MemoryError, OverflowError) as e:
            report["outcome"] = type(e).__name__
        report["stop"] = time.perf_counter() - report.get("fired", time.perf_counter())
        """,
        cap_bytes=3 * GiB,
    )
    assert report["outcome"] == "interrupted", report
    assert report["stop"] < 2.0, report
    assert report["peak_rss_mib"] < 1024, report


def test_high_dyadic_order_backward_completes_in_bounded_memory():
    # order 8 on 20 points: 4865 x 4865 rows and columns, a 1.5 GB grid of
    # 8 lanes (1.5 GB peak RSS before); two levels of checkpoints keep it to
    # ~64 MiB of rows, under a 1 GiB cap. The same gradients come from the
    # kept grid of this one pair (190 MB) read in blocks of rows.
    report = run_capped(
        """
        x, y = rng.random((1, 20, 2)) * 0.3, rng.random((1, 20, 2)) * 0.3
        kw = dict(dyadic_order=8, right_deriv=True)
        gx, gy = sigrs.sig_kernel_backprop(np.ones(1), x, y, **kw)
        report["rss_after_backprop_mib"] = peak_rss_mib()
        grid = sigrs.sig_kernel(x, y, dyadic_order=8, return_grid=True)
        kx, ky = sigrs.sig_kernel_backprop(np.ones(1), x, y, k_grid=grid, **kw)
        report["same_as_kept_grid"] = bool(np.array_equal(gx, kx) and np.array_equal(gy, ky))
        v, w = rng.standard_normal(x.shape), rng.standard_normal(y.shape)
        f = lambda t: sigrs.sig_kernel(x + t * v, y + t * w, dyadic_order=8).sum()
        h = 1e-4
        report["fd"] = (f(h) - f(-h)) / (2 * h)
        report["grad"] = float(np.sum(gx * v) + np.sum(gy * w))
        """,
        cap_bytes=1 * GiB,
    )
    assert report["same_as_kept_grid"], report
    # (round-off over 2.4e7 cells limits central differences to ~1e-4 here)
    assert report["grad"] == pytest.approx(report["fd"], rel=1e-3), report
    assert report["rss_after_backprop_mib"] < 300, report


@pytest.mark.parametrize("return_grid", [False, True])
def test_checkpointed_recomputation_equals_reading_the_kept_grid(return_grid):
    # one pair whose grid (1597 x 1597 rows of 8 lanes: 163 MB) exceeds the
    # per-worker budget: recomputed from checkpoints, or read from k_grid in
    # blocks of rows, the gradients are the same bit for bit
    rng = np.random.default_rng(1)
    x, y = rng.random((1, 400, 3)) * 0.05, rng.random((1, 400, 3)) * 0.05
    grid = sigrs.sig_kernel(x, y, dyadic_order=2, return_grid=True)
    derivs = rng.standard_normal(grid.shape) if return_grid else np.ones(1)
    kw = dict(dyadic_order=2, right_deriv=True, return_grid=return_grid)
    recomputed = sigrs.sig_kernel_backprop(derivs, x, y, **kw)
    given = sigrs.sig_kernel_backprop(derivs, x, y, k_grid=grid, **kw)
    for a, b in zip(recomputed, given):
        np.testing.assert_array_equal(a, b)
        assert np.abs(a).max() > 0


# --- degenerate input: dimension 0, empty batches, empty samples ---------------------------

STATIC_KERNELS = [None, sigrs.RBFKernel(0.5)]


@pytest.mark.parametrize("static_kernel", STATIC_KERNELS, ids=["linear", "rbf"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_of_dimension_zero_paths_are_one_with_zero_gradients(static_kernel, dtype):
    # every increment of a dimension-0 path is zero: the PDE's solution is 1 everywhere
    x, y = np.zeros((3, 5, 0), dtype), np.zeros((3, 4, 0), dtype)
    kw = dict(dyadic_order=1, static_kernel=static_kernel)
    k = sigrs.sig_kernel(x, y, **kw)
    assert k.shape == (3,) and k.dtype == dtype and np.all(k == 1)
    grids = sigrs.sig_kernel(x, y, return_grid=True, **kw)
    assert grids.shape == (3, 9, 7) and np.all(grids == 1)
    gram = sigrs.sig_kernel_gram(x, y, **kw)
    assert gram.shape == (3, 3) and np.all(gram == 1)
    gx, gy = sigrs.sig_kernel_backprop(np.ones(3, dtype), x, y, right_deriv=True, **kw)
    assert gx.shape == x.shape and gy.shape == y.shape
    gx, gy = sigrs.sig_kernel_gram_backprop(np.ones((3, 3), dtype), x, y, right_deriv=True, **kw)
    assert gx.shape == x.shape and gy.shape == y.shape
    # time augmentation gives the paths a dimension: no longer 1
    assert np.all(sigrs.sig_kernel(x, y, time_aug=True, **kw) > 1)


@pytest.mark.parametrize("static_kernel", STATIC_KERNELS, ids=["linear", "rbf"])
def test_empty_batches_give_empty_outputs(static_kernel):
    x, y = np.zeros((0, 5, 2)), np.zeros((0, 4, 2))
    kw = dict(dyadic_order=1, static_kernel=static_kernel)
    assert sigrs.sig_kernel(x, y, **kw).shape == (0,)
    assert sigrs.sig_kernel(x, y, return_grid=True, **kw).shape == (0, 9, 7)
    assert sigrs.sig_kernel_gram(x, y, **kw).shape == (0, 0)
    assert sigrs.sig_kernel_gram(x, np.zeros((3, 4, 2)), **kw).shape == (0, 3)
    gx, gy = sigrs.sig_kernel_backprop(np.ones(0), x, y, right_deriv=True, **kw)
    assert gx.shape == x.shape and gy.shape == y.shape
    gx, gy = sigrs.sig_kernel_gram_backprop(np.ones((0, 0)), x, y, right_deriv=True, **kw)
    assert gx.shape == x.shape and gy.shape == y.shape


def test_sig_mmd_of_dimension_zero_samples_is_zero():
    # every kernel is 1, so the three means cancel
    x, y = np.zeros((4, 5, 0)), np.zeros((3, 6, 0))
    assert sigrs.sig_mmd(x, y, dyadic_order=1) == 0
    assert sigrs.expected_sig_score(x, y, dyadic_order=1) == pytest.approx(-1.0)


@pytest.mark.parametrize("shape1, shape2, name", [
    ((0, 5, 2), (3, 5, 2), "sample1"),   # no paths: the MMD of an empty sample is undefined
    ((3, 5, 2), (0, 5, 2), "sample2"),
    ((1, 5, 2), (3, 5, 2), "sample1"),   # the unbiased estimator needs two paths per sample
    ((3, 0, 2), (3, 5, 2), "sample1"),   # paths without points
    ((3, 5, 2), (3, 0, 2), "sample2"),
])
def test_sig_mmd_of_empty_samples_is_a_value_error_naming_the_sample(shape1, shape2, name):
    with pytest.raises(ValueError, match=name):
        sigrs.sig_mmd(np.zeros(shape1), np.zeros(shape2), dyadic_order=0)


def test_a_grid_too_large_to_exist_is_a_clean_error():
    # 2^20 steps per increment on both sides of 2000-point paths: ~4e18 grid points
    x = np.zeros((1, 2000, 1))
    with pytest.raises((MemoryError, OverflowError, ValueError)):
        sigrs.sig_kernel(x, x, dyadic_order=20, return_grid=True)


def test_rows_too_large_for_memory_are_a_memory_error_not_an_abort():
    # the same paths' value gradient holds only rows, but one row of 2^31
    # columns (8 lanes) is 128 GiB: a MemoryError naming what it was for
    report = run_capped(
        """
        x = np.zeros((1, 2000, 1))
        try:
            sigrs.sig_kernel_backprop(np.ones(1), x, x, dyadic_order=20)
            report["outcome"] = "finished"
        except MemoryError as e:
            report["outcome"], report["message"] = "MemoryError", str(e)
        """,
        cap_bytes=2 * GiB,
    )
    assert report["outcome"] == "MemoryError", report
    assert "PDE grid" in report["message"], report
