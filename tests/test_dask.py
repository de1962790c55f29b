"""sigrs.dask: signature features, Gram matrices, MMD tests and their gradients on dask arrays.

Checked against the in-memory functions they chunk (bit for bit where a
block or tile is one in-memory call, to 1e-12 where tiles are summed), on
dask's synchronous scheduler and on a two-process LocalCluster; against a
brute-force loop for the permutation test; against torch autograd for the
MMD's gradient; and on bad input.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from _util import assert_close

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import sigrs  # noqa: E402
import sigrs.dask as sd  # noqa: E402
import torch  # noqa: E402  (a test dependency: missing it is an error, not a skip)

REDUCTION_RTOL = 1e-12


@pytest.fixture(autouse=True)
def synchronous():
    """Every test runs on the synchronous scheduler unless it passes another."""
    with dask.config.set(scheduler="sync"):
        yield


def paths(rng, shape, scale=0.3):
    return rng.normal(size=shape) * scale


def chunked(a, chunks):
    return da.from_array(a, chunks=chunks)


# Chunkings of a batch of 11 paths of 6 points in 2 dimensions: uneven, with
# an empty chunk, one chunk, and split along time and channel (merged).
CHUNKINGS = {
    "uneven": ((4, 0, 5, 2), 6, 2),
    "one-chunk": (11, 6, 2),
    "time-and-channel-split": ((3, 8), (2, 4), 1),
}


# ---------------------------------------------------------------------------
# importing
# ---------------------------------------------------------------------------


def _python(code):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_importing_sigrs_imports_no_dask_nor_tqdm():
    run = _python(
        "import sys, numpy as np, sigrs\n"
        "sigrs.sig_kernel_gram(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), dyadic_order=0)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'tqdm')))"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_importing_sigrs_dask_without_dask_names_the_extra():
    run = _python("import sys\nsys.modules['dask'] = None\nimport sigrs.dask")
    assert run.returncode != 0
    assert "ImportError" in run.stderr and "pip install 'sigrs[dask]'" in run.stderr


# ---------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------

FEATURES = [
    pytest.param(sd.sig, sigrs.sig, dict(degree=3), id="sig"),
    pytest.param(sd.sig, sigrs.sig, dict(degree=2, stream=True, basepoint=True, time_aug=True, scalar_term=True),
                 id="sig-stream"),
    pytest.param(sd.sig, sigrs.sig, dict(degree=3, lead_lag=True, inverse=True, end_time=2.0), id="sig-inverse"),
    pytest.param(sd.log_sig, sigrs.log_sig, dict(degree=3, method="lyndon"), id="log_sig"),
    pytest.param(sd.sig_coef, sigrs.sig_coef, dict(words=[(0, 1), (1,), (1, 0, 1)], prefixes=True), id="sig_coef"),
    pytest.param(sd.transform_path, sigrs.transform_path, dict(lead_lag=True, time_aug=True), id="transform_path"),
]


@pytest.mark.parametrize("chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
@pytest.mark.parametrize("ours, theirs, kwargs", FEATURES)
def test_features_equal_the_in_memory_call_block_by_block(rng, ours, theirs, kwargs, chunks):
    x = paths(rng, (11, 6, 2))
    out = ours(chunked(x, chunks), **kwargs)
    expected = theirs(x, **kwargs)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    assert out.chunks[0] == chunked(x, chunks).chunks[0]  # chunked like the paths along the batch
    assert all(len(c) == 1 for c in out.chunks[1:])
    np.testing.assert_array_equal(out.compute(), expected)


@pytest.mark.parametrize("ours, theirs, kwargs", FEATURES)
def test_features_of_several_batch_axes_single_paths_and_empty_batches(rng, ours, theirs, kwargs):
    x = paths(rng, (4, 3, 6, 2))
    out = ours(chunked(x, (3, 2, 6, 2)), **kwargs)
    assert out.chunks[:2] == ((3, 1), (2, 1))
    np.testing.assert_array_equal(out.compute(), theirs(x, **kwargs))
    np.testing.assert_array_equal(ours(chunked(x[0, 0], -1), **kwargs).compute(), theirs(x[0, 0], **kwargs))
    empty = ours(chunked(x[:0, 0], -1), **kwargs)
    assert empty.compute().shape == theirs(x[:0, 0], **kwargs).shape == empty.shape


def test_sig_takes_per_path_basepoints_and_initial_signatures_from_dask_or_numpy(rng):
    x = paths(rng, (9, 5, 2))
    basepoint, initial = paths(rng, (9, 2)), sigrs.sig(paths(rng, (9, 4, 2)), 3, scalar_term=True)
    expected = sigrs.sig(x, 3, basepoint=basepoint, initial=initial)
    X = chunked(x, (4, 5, 2))
    for bp, init in [(basepoint, initial), (chunked(basepoint, 2), chunked(initial, (5, 7)))]:
        out = sd.sig(X, 3, basepoint=bp, initial=init)
        assert out.chunks[0] == (4, 4, 1)
        np.testing.assert_array_equal(out.compute(), expected)


def test_features_computed_through_torch_on_a_device_equal_numpy_blocks(rng):
    x = paths(rng, (7, 5, 3)).astype(np.float32)
    out = sd.sig(chunked(x, (3, 5, 3)), 3, time_aug=True, device="cpu")
    got = out.compute()
    assert type(got) is np.ndarray and got.dtype == np.float32
    np.testing.assert_array_equal(got, sigrs.sig(x, 3, time_aug=True))


def test_feature_arguments_are_checked_when_the_graph_is_built(rng):
    X = chunked(paths(rng, (5, 4, 2)), 2)
    with pytest.raises(ValueError, match="degree must be >= 0, got -1"):
        sd.sig(X, -1)
    with pytest.raises(ValueError, match="method"):
        sd.log_sig(X, 2, method="nonsense")
    with pytest.raises(ValueError, match=r"letters of words must lie in \[0, 2\)"):
        sd.sig_coef(X, [(0, 5)])
    with pytest.raises(ValueError, match=r"basepoint must have the batch axes of path \(5,\) and one more axis, got shape \(4, 2\)"):
        sd.sig(X, 2, basepoint=np.zeros((4, 2)))
    with pytest.raises(TypeError, match="device must be None or a torch device string"):
        sd.sig(X, 2, device=0)


# ---------------------------------------------------------------------------
# Gram matrices
# ---------------------------------------------------------------------------

GRAM_OPTIONS = [
    pytest.param(dict(dyadic_order=0), id="order0"),
    pytest.param(dict(dyadic_order=1, static_kernel=sigrs.RBFKernel(0.8), time_aug=True), id="rbf"),
    pytest.param(dict(dyadic_order=(1, 2), lead_lag=True), id="two-orders"),
]


@pytest.mark.parametrize("normalize", [False, True], ids=["raw", "normalized"])
@pytest.mark.parametrize("kwargs", GRAM_OPTIONS)
@pytest.mark.parametrize("chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
def test_gram_tiles_equal_the_in_memory_gram_exactly(rng, chunks, kwargs, normalize):
    x, y = paths(rng, (11, 6, 2)), paths(rng, (7, 4, 2))
    X, Y = chunked(x, chunks), chunked(y, (3, 4, 2))
    for args, expected in [
        ((X,), sigrs.sig_kernel_gram(x, x, normalize=normalize, **kwargs)),
        ((X, X), sigrs.sig_kernel_gram(x, x, normalize=normalize, **kwargs)),
        ((X, Y), sigrs.sig_kernel_gram(x, y, normalize=normalize, **kwargs)),
    ]:
        gram = sd.sig_kernel_gram(*args, normalize=normalize, **kwargs)
        assert gram.chunks == (args[0].chunks[0], args[-1].chunks[0])
        np.testing.assert_array_equal(gram.compute(), expected)


def test_the_gram_of_a_batch_with_itself_solves_the_upper_tiles_and_mirrors_them(rng, monkeypatch):
    x = paths(rng, (10, 5, 2))
    solved = []
    real = sd._sig_kernel_gram

    def counting(a, b, **kw):
        solved.append((a.shape[0], b.shape[0], a is b))
        return real(a, b, **kw)

    monkeypatch.setattr(sd, "_sig_kernel_gram", counting)
    lazy = sd.sig_kernel_gram(chunked(x, ((3, 3, 4), 5, 2)), dyadic_order=1)
    solved.clear()  # building the graph checked the arguments on no paths
    gram = lazy.compute()
    assert len(solved) == 3 * 4 // 2  # 3 blocks: 3 diagonal tiles and 3 above
    assert sum(same for *_, same in solved) == 3  # the diagonal tiles are solved as symmetric too
    for (r0, r1), (c0, c1) in [((0, 3), (3, 6)), ((0, 3), (6, 10)), ((3, 6), (6, 10))]:
        np.testing.assert_array_equal(gram[c0:c1, r0:r1], gram[r0:r1, c0:c1].T)
    np.testing.assert_array_equal(gram, sigrs.sig_kernel_gram(x, x, dyadic_order=1))


def test_gram_of_several_batch_axes_and_empty_batches(rng):
    x, y = paths(rng, (4, 3, 5, 2)), paths(rng, (2, 5, 2))
    X = chunked(x, (3, 2, 5, 2))
    for args, expected in [((X,), sigrs.sig_kernel_gram(x, x, dyadic_order=1)),
                           ((X, chunked(y, 1)), sigrs.sig_kernel_gram(x, y, dyadic_order=1))]:
        gram = sd.sig_kernel_gram(*args, dyadic_order=1)
        assert gram.shape == expected.shape
        np.testing.assert_array_equal(gram.compute(), expected)
    empty = sd.sig_kernel_gram(chunked(x[:0, 0], -1), chunked(y, 1), dyadic_order=1)
    assert empty.shape == (0, 2) and empty.compute().shape == (0, 2)
    assert sd.sig_kernel_gram(chunked(x[:0, 0], -1), dyadic_order=1).compute().shape == (0, 0)


def test_float32_gram_equals_in_memory(rng):
    x = paths(rng, (9, 5, 3)).astype(np.float32)
    gram = sd.sig_kernel_gram(chunked(x, (4, 5, 3)), dyadic_order=1)
    assert gram.dtype == np.float32
    np.testing.assert_array_equal(gram.compute(), sigrs.sig_kernel_gram(x, x, dyadic_order=1))


def test_dask_progress_bar_follows_the_tiles(rng, capsys):
    from dask.diagnostics import ProgressBar

    gram = sd.sig_kernel_gram(chunked(paths(rng, (12, 5, 2)), 4), dyadic_order=0)
    with ProgressBar(minimum=0):
        gram.compute()
    assert "100%" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------

SAMPLE_CHUNKS = [
    pytest.param((5, 4, 2), (3, 6, 2), id="uneven"),
    pytest.param(-1, -1, id="one-chunk"),
    pytest.param(((2, 0, 8, 3), 2, 1), ((6, 3), 3, 2), id="empty-chunk-and-time-split"),
]


def _biased_mmd(x, y, **kw):
    return (sigrs.sig_kernel_gram(x, x, **kw).mean() - 2 * sigrs.sig_kernel_gram(x, y, **kw).mean()
            + sigrs.sig_kernel_gram(y, y, **kw).mean())


@pytest.mark.parametrize("chunks_x, chunks_y", SAMPLE_CHUNKS)
def test_mmd_and_scores_equal_the_in_memory_estimators(rng, chunks_x, chunks_y):
    x, y = paths(rng, (13, 6, 2)), paths(rng, (9, 7, 2), 0.4) + 0.05
    X, Y = chunked(x, chunks_x), chunked(y, chunks_y)
    kw = dict(dyadic_order=1, static_kernel=sigrs.RBFKernel(1.5))
    for got, expected in [
        (sd.sig_mmd(X, Y, **kw), sigrs.sig_mmd(x, y, **kw)),
        (sd.sig_mmd(X, Y, unbiased=False, **kw), _biased_mmd(x, y, **kw)),
        (sd.sig_score(X, Y, lam=0.7, **kw), sigrs.sig_score(x, y, lam=0.7, **kw)),
        (sd.sig_score(X, Y[0], **kw), sigrs.sig_score(x, y[0], **kw)),
        (sd.expected_sig_score(X, Y, lam=0.7, **kw), sigrs.expected_sig_score(x, y, lam=0.7, **kw)),
    ]:
        assert got.shape == np.shape(expected)
        assert_close(got.compute(), expected, REDUCTION_RTOL)


def test_reductions_flatten_several_batch_axes_like_the_in_memory_ones(rng):
    x, y = paths(rng, (3, 4, 5, 2)), paths(rng, (2, 3, 5, 2))
    X, Y = chunked(x, (2, 3, 5, 2)), chunked(y, (1, 2, 5, 2))
    assert_close(sd.sig_mmd(X, Y, dyadic_order=1).compute(), sigrs.sig_mmd(x, y, dyadic_order=1), REDUCTION_RTOL)
    score = sd.sig_score(X, Y, dyadic_order=1)
    assert score.shape == (2, 3)
    assert_close(score.compute(), sigrs.sig_score(x, y, dyadic_order=1), REDUCTION_RTOL)


def test_float32_mmd_keeps_the_dtype(rng):
    x, y = (paths(rng, (8, 5, 2)).astype(np.float32) for _ in range(2))
    got = sd.sig_mmd(chunked(x, 3), chunked(y, 5), dyadic_order=0)
    assert got.dtype == np.float32
    assert_close(got.compute(), sigrs.sig_mmd(x, y, dyadic_order=0), 1e-5)


def test_permutation_test_equals_a_brute_force_loop_over_the_same_permutations(rng):
    x, y = paths(rng, (9, 5, 2)), paths(rng, (7, 5, 2), 0.4)
    seed, count = 11, 40
    result = sd.mmd_permutation_test(chunked(x, 4), chunked(y, 3), dyadic_order=1, n_permutations=count, seed=seed)
    # the documented permutations, rebuilt here: the p-th rng.permutation of the pooled sample
    pooled, draw = np.concatenate([x, y]), np.random.default_rng(seed)
    brute = []
    for _ in range(count):
        order = draw.permutation(len(pooled))
        brute.append(float(sigrs.sig_mmd(pooled[order[:9]], pooled[order[9:]], dyadic_order=1)))
    brute = np.array(brute)
    observed = float(sigrs.sig_mmd(x, y, dyadic_order=1))
    scale = np.max(np.abs(brute))
    assert abs(result.statistic - observed) <= REDUCTION_RTOL * scale
    assert_close(result.permuted, brute, REDUCTION_RTOL)
    # no permutation lies within rounding of the statistic, so the counts cannot differ by rounding
    assert np.min(np.abs(brute - observed)) > 1e-9 * scale
    assert result.p_value == (1 + np.sum(brute >= observed)) / (1 + count)
    assert 0 < result.p_value < 1


def test_permutation_test_rejects_different_distributions_and_not_equal_ones():
    rng = np.random.default_rng(5)

    def walks(n, scale):
        return np.cumsum(rng.normal(size=(n, 12, 2)) * scale, axis=1)

    x, same, wider = walks(20, 0.2), walks(20, 0.2), walks(20, 0.4)
    kw = dict(dyadic_order=0, n_permutations=200, seed=3)
    different = sd.mmd_permutation_test(chunked(x, 7), chunked(wider, 7), **kw)
    alike = sd.mmd_permutation_test(chunked(x, 7), chunked(same, 7), **kw)
    assert different.p_value < 0.05
    assert alike.p_value > 0.05
    assert different.statistic > alike.statistic


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", GRAM_OPTIONS[:2])
def test_gram_backprop_sums_the_tiles_to_the_in_memory_gradients(rng, kwargs):
    x, y = paths(rng, (10, 5, 2)), paths(rng, (7, 6, 2))
    X, Y = chunked(x, (4, 5, 2)), chunked(y, (3, 6, 2))
    derivs = rng.normal(size=(10, 7))
    gx, gy = sd.sig_kernel_gram_backprop(chunked(derivs, (5, 4)), X, Y, right_deriv=True, **kwargs)
    ex, ey = sigrs.sig_kernel_gram_backprop(derivs, x, y, right_deriv=True, **kwargs)
    assert gx.chunks == X.chunks and gy.chunks == Y.chunks
    assert_close(gx.compute(), ex, REDUCTION_RTOL)
    assert_close(gy.compute(), ey, REDUCTION_RTOL)
    only_x, none = sd.sig_kernel_gram_backprop(chunked(derivs, 5), X, Y, **kwargs)
    assert none is None
    assert_close(only_x.compute(), ex, REDUCTION_RTOL)


@pytest.mark.parametrize("dyadic_order", [1, (1, 2)], ids=["one-order", "two-orders"])
def test_gram_backprop_of_a_batch_with_itself_reaches_it_through_both_sides(rng, dyadic_order):
    x = paths(rng, (11, 5, 2))
    derivs = rng.normal(size=(11, 11))
    gx, none = sd.sig_kernel_gram_backprop(chunked(derivs, 4), chunked(x, (4, 5, 2)), dyadic_order=dyadic_order)
    left, right = sigrs.sig_kernel_gram_backprop(derivs, x, x, dyadic_order=dyadic_order, right_deriv=True)
    assert none is None
    assert_close(gx.compute(), left + right, REDUCTION_RTOL)


@pytest.mark.parametrize("unbiased", [True, False], ids=["unbiased", "biased"])
def test_mmd_backprop_equals_torch_autograd_through_the_in_memory_mmd(rng, unbiased):
    x, y = paths(rng, (2, 4, 5, 2)), paths(rng, (7, 6, 2), 0.4)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    kw = dict(dyadic_order=1, static_kernel=sigrs.RBFKernel(1.2))
    if unbiased:
        sigrs.sig_mmd(tx, ty, **kw).backward()
    else:
        _biased_mmd(tx, ty, **kw).backward()
    X, Y = chunked(x, (1, 3, 5, 2)), chunked(y, (4, 6, 2))
    gx, gy = sd.sig_mmd_backprop(1.0, X, Y, unbiased=unbiased, **kw)
    assert gx.shape == x.shape and gy.shape == y.shape
    assert_close(gx.compute(), tx.grad.numpy(), REDUCTION_RTOL)
    assert_close(gy.compute(), ty.grad.numpy(), REDUCTION_RTOL)
    scaled, _ = sd.sig_mmd_backprop(da.from_array(np.array(-2.5)), X, Y, unbiased=unbiased, **kw)
    assert_close(scaled.compute(), -2.5 * tx.grad.numpy(), REDUCTION_RTOL)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def test_bad_inputs_get_clear_errors(rng):
    x = paths(rng, (6, 5, 2))
    X = chunked(x, 3)
    with pytest.raises(TypeError, match=r"X must be a dask array \(dask.array.Array\) of paths .* got numpy.ndarray"):
        sd.sig_kernel_gram(x, dyadic_order=0)
    with pytest.raises(TypeError, match="Y must be a dask array .* got builtins.list"):
        sd.sig_mmd(X, x.tolist(), dyadic_order=0)
    with pytest.raises(TypeError, match="path must be a dask array"):
        sd.sig(x, 2)
    with pytest.raises(ValueError, match=r"path must have at least 2 dimensions \(..., length, dim\), got shape \(6,\)"):
        sd.sig(chunked(x[:, 0, 0], 3), 2)
    with pytest.raises(ValueError, match="X and Y must have the same dimension .* got 2 and 3"):
        sd.sig_kernel_gram(X, chunked(paths(rng, (4, 5, 3)), 2), dyadic_order=0)
    with pytest.raises(TypeError, match=r"Y must have the dtype of X \(float64\), got float32"):
        sd.sig_mmd(X, X.astype(np.float32), dyadic_order=0)
    with pytest.raises(TypeError, match="X must have dtype float32 or float64, got complex128"):
        sd.sig_kernel_gram(X.astype(complex), dyadic_order=0)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        sd.sig_kernel_gram(X[X[:, 0, 0] > 0], dyadic_order=0)
    with pytest.raises(TypeError, match="dyadic_order is required"):
        sd.sig_kernel_gram(X)
    with pytest.raises(ValueError, match="sig_mmd needs one dyadic order for both sides"):
        sd.sig_mmd(X, X + 1, dyadic_order=(0, 1))
    with pytest.raises(ValueError, match="sig_mmd needs at least 2 paths in Y .* got 1"):
        sd.sig_mmd(X, X[:1], dyadic_order=0)
    with pytest.raises(ValueError, match="n_permutations must be >= 1, got 0"):
        sd.mmd_permutation_test(X, X + 1, dyadic_order=0, n_permutations=0)
    with pytest.raises(ValueError, match=r"derivs must have shape \(6, 6\) \(like the Gram matrix\), got \(6, 5\)"):
        sd.sig_kernel_gram_backprop(da.ones((6, 5)), X, dyadic_order=0)
    with pytest.raises(TypeError, match="derivs must be a dask array shaped like the Gram matrix, got numpy.ndarray"):
        sd.sig_kernel_gram_backprop(np.ones((6, 6)), X, dyadic_order=0)
    with pytest.raises(ValueError, match=r"derivs must be a real number or a 0-d array \(dF/dMMD\), got shape \(2,\)"):
        sd.sig_mmd_backprop(np.ones(2), X, X + 1, dyadic_order=0)


def test_integer_paths_are_refused_like_integer_ndarrays_in_memory():
    x = np.arange(24).reshape(4, 3, 2)
    with pytest.raises(TypeError, match="path must have dtype float32 or float64, got int64"):
        sigrs.sig(x, 2)
    with pytest.raises(TypeError, match="path must have dtype float32 or float64, got int64"):
        sd.sig(chunked(x, 2), 2)


# ---------------------------------------------------------------------------
# on a cluster of two worker processes
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_cluster_workers_are_other_processes(client):
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


def test_gram_on_the_cluster_runs_tiles_in_parallel_on_both_workers(client):
    rng = np.random.default_rng(1)
    x = paths(rng, (120, 20, 3))
    gram = sd.sig_kernel_gram(chunked(x, 30), dyadic_order=2, static_kernel=sigrs.RBFKernel(0.9))
    with distributed.get_task_stream(client) as stream:
        got = gram.compute(scheduler=client)
    np.testing.assert_array_equal(got, sigrs.sig_kernel_gram(x, x, dyadic_order=2, static_kernel=sigrs.RBFKernel(0.9)))
    spans = {}
    for task in stream.data:
        if "sigrs-gram" in str(task["key"]):
            for span in task["startstops"]:
                if span["action"] == "compute":
                    spans.setdefault(task["worker"], []).append((span["start"], span["stop"]))
    assert len(spans) == 2, f"tiles ran on {sorted(spans)} only"
    spans_a, spans_b = spans.values()
    overlapping = [(a, b) for a in spans_a for b in spans_b if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, "no tile on one worker ran while a tile ran on the other"


def test_features_on_the_cluster_equal_the_in_memory_calls(client):
    rng = np.random.default_rng(4)
    x, basepoint = paths(rng, (10, 6, 2)), paths(rng, (10, 2))
    X = chunked(x, ((3, 7), 3, 2))
    sigs, logsigs = dask.compute(sd.sig(X, 3, basepoint=basepoint, stream=True), sd.log_sig(X, 3, method=2),
                                 scheduler=client)
    np.testing.assert_array_equal(sigs, sigrs.sig(x, 3, basepoint=basepoint, stream=True))
    np.testing.assert_array_equal(logsigs, sigrs.log_sig(x, 3, method=2))


def test_reductions_and_gradients_on_the_cluster_equal_the_synchronous_results(client):
    rng = np.random.default_rng(2)
    x, y = paths(rng, (14, 6, 2)), paths(rng, (10, 6, 2), 0.5)
    X, Y = chunked(x, 5), chunked(y, 4)
    kw = dict(dyadic_order=1)
    on_cluster = dict(scheduler=client)
    assert_close(sd.sig_mmd(X, Y, **kw).compute(**on_cluster), sigrs.sig_mmd(x, y, **kw), REDUCTION_RTOL)
    assert_close(sd.sig_score(X, Y, **kw).compute(**on_cluster), sigrs.sig_score(x, y, **kw), REDUCTION_RTOL)
    gx, gy = sd.sig_mmd_backprop(1.0, X, Y, **kw)
    gx, gy = dask.compute(gx, gy, **on_cluster)
    np.testing.assert_array_equal(gx, sd.sig_mmd_backprop(1.0, X, Y, **kw)[0].compute())
    with dask.config.set(scheduler=client):
        remote = sd.mmd_permutation_test(X, Y, n_permutations=30, seed=4, **kw)
    local = sd.mmd_permutation_test(X, Y, n_permutations=30, seed=4, **kw)
    assert remote.p_value == local.p_value
    assert_close(remote.permuted, local.permuted, REDUCTION_RTOL)


def test_a_user_static_kernel_travels_to_the_workers_pickled(client):
    class Quadratic(sigrs.StaticKernel):
        """kappa(a, b) = <a, b> + <a, b>^2 / 2, defined here so that it is pickled by value."""

        accepts_numpy = True

        def __call__(self, ctx, x, y):
            inner = np.einsum("bsd,btd->bst", x, y)
            ctx.save_for_backward(x, y, inner)
            k = inner + inner**2 / 2
            return k[:, 1:, 1:] - k[:, :-1, 1:] - k[:, 1:, :-1] + k[:, :-1, :-1]

        @staticmethod
        def _grad_inner(ctx, derivs):
            # dF/dk(x_s, y_t) from dF/d(double increment), times dk/d<x_s, y_t>.
            x, y, inner = ctx.saved_tensors
            p = np.pad(derivs, ((0, 0), (1, 1), (1, 1)))
            return (p[:, :-1, :-1] - p[:, 1:, :-1] - p[:, :-1, 1:] + p[:, 1:, 1:]) * (1 + inner)

        def grad_x(self, ctx, derivs):
            return np.einsum("bst,btd->bsd", self._grad_inner(ctx, derivs), ctx.saved_tensors[1])

        def grad_y(self, ctx, derivs):
            return np.einsum("bst,bsd->btd", self._grad_inner(ctx, derivs), ctx.saved_tensors[0])

    rng = np.random.default_rng(3)
    x, y = paths(rng, (9, 5, 2)), paths(rng, (6, 4, 2))
    kernel = Quadratic()
    gram = sd.sig_kernel_gram(chunked(x, 4), chunked(y, 3), dyadic_order=1, static_kernel=kernel)
    expected = sigrs.sig_kernel_gram(x, y, dyadic_order=1, static_kernel=kernel)
    assert not np.array_equal(expected, sigrs.sig_kernel_gram(x, y, dyadic_order=1))  # the kernel matters
    np.testing.assert_array_equal(gram.compute(scheduler=client), expected)
    # Its gradient too: tile by tile on the workers, as in memory, and as
    # finite differences of the Gram's sum.
    ones = np.ones(expected.shape)
    gx, gy = sd.sig_kernel_gram_backprop(da.from_array(ones, chunks=(4, 3)), chunked(x, 4), chunked(y, 3),
                                         dyadic_order=1, static_kernel=kernel, right_deriv=True)
    ex, ey = sigrs.sig_kernel_gram_backprop(ones, x, y, dyadic_order=1, static_kernel=kernel, right_deriv=True)
    assert_close(gx.compute(scheduler=client), ex, REDUCTION_RTOL)
    assert_close(gy.compute(scheduler=client), ey, REDUCTION_RTOL)
    h, bumped = 1e-6, x.copy()
    bumped[2, 3, 1] += h
    fd = (sigrs.sig_kernel_gram(bumped, y, dyadic_order=1, static_kernel=kernel).sum() - expected.sum()) / h
    assert abs(fd - ex[2, 3, 1]) < 1e-4 * max(1.0, abs(fd))
