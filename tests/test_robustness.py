"""Hardening: no input aborts the process, memory stays bounded, every wrong
input is refused with a clear exception.

Inputs that once aborted the process (SIGABRT from a failed allocation, a
panic) run in a subprocess under an address-space cap
(``resource.RLIMIT_AS``), so a regression is a failed test, not a dead test
run. The fuzz at the end draws argument combinations across the public API
with hypothesis (a fixed seed and ``SIGRS_FUZZ_EXAMPLES`` examples per
function: 150 by default, more on demand).

The kernel and log-signature families have their own files:
``test_robustness_kernel.py`` and ``test_robustness_logsig.py``.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import sigrs
from sigrs._checks import CORES

GiB = 1 << 30


def run_capped(code: str, cap: int = 2 * GiB, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs ``code`` (numpy and sigrs imported, no torch) in a fresh process
    whose address space is capped at ``cap`` bytes."""
    script = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))\nimport numpy as np, sigrs\n"
    script += textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)


def assert_clean(result: subprocess.CompletedProcess, expected_output: str = "") -> None:
    """The child exited normally (no signal) with status 0 and printed ``expected_output``."""
    assert result.returncode >= 0, f"killed by signal {-result.returncode}: {result.stderr[-2000:]}"
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected_output in result.stdout, (result.stdout, result.stderr[-2000:])


def raises_in_child(call: str, error: str, *words: str) -> str:
    """Child code that runs ``call``, expects ``error`` whose message has ``words``, and prints ``ok``."""
    return f"""
    try:
        {call}
    except {error} as e:
        message = str(e)
        missing = [w for w in {list(words)!r} if w not in message]
        print("ok" if not missing else f"message {{message!r}} lacks {{missing}}")
    else:
        print("no error")
    """


# --- allocations that cannot be met ------------------------------------------------


def test_empty_batch_allocates_nothing_even_for_huge_signatures():
    # sig_length(10, 12) ~ 1.1e12: any scratch of that size would fail under the cap.
    result = run_capped(
        """
        z = np.zeros((0, sigrs.sig_length(10, 12)))
        g = sigrs.sig_backprop(np.zeros((0, 4, 10)), z, z, 12)
        s = sigrs.sig(np.zeros((0, 4, 10)), 12)
        print("ok", g.shape, s.shape)
        """
    )
    assert_clean(result, "ok (0, 4, 10) (0, 1111111111110)")


@pytest.mark.parametrize(
    "call",
    [
        "sigrs.sig(np.random.rand(1, 5, 10), 12)",  # 8.9 TB of output
        "sigrs.sig(np.random.rand(2, 5, 3), 30, stream=True)",
        "sigrs.linear_sig(np.ones((1, 10)), 10, 12)",
    ],
)
def test_outputs_too_big_for_memory_are_memory_or_overflow_errors(call):
    result = run_capped(raises_in_child(call, "(MemoryError, OverflowError)"))
    assert_clean(result, "ok")


def test_a_signature_workspace_that_does_not_fit_is_a_memory_error_naming_it():
    # One path of dimension 6, degree 10: the signature (580 MB) fits under
    # the cap, the backward pass's workspace (three more of that) does not.
    code = "s = np.zeros((1, sigrs.sig_length(6, 10)))\n" + textwrap.dedent(raises_in_child("sigrs.sig_backprop(np.random.rand(1, 3, 6), s, s, 10)", "MemoryError", "workspace", "MB"))
    assert_clean(run_capped(code, cap=GiB + (GiB >> 1)), "ok")


# --- arguments out of range --------------------------------------------------------


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda x: sigrs.sig(x, 2**64), "degree"),
        (lambda x: sigrs.sig(x, 2**31), "degree"),
        (lambda x: sigrs.log_sig(x, 2**64), "degree"),
        (lambda x: sigrs.sig(x, 2, n_jobs=0), "n_jobs"),
        (lambda x: sigrs.sig(x, 2, n_jobs=2.5), "n_jobs"),
        (lambda x: sigrs.sig_kernel(x, x, dyadic_order=2**40), "dyadic_order"),
        (lambda x: sigrs.sig_kernel(x, x, dyadic_order=(0, 2**70)), "dyadic_order"),
        (lambda x: sigrs.transform_path(x, time_aug=True, end_time=float("nan")), "end_time"),
    ],
)
def test_huge_or_invalid_numbers_name_the_argument(call, name):
    x = np.random.rand(2, 5, 2)
    with pytest.raises((ValueError, OverflowError, TypeError)) as info:
        call(x)
    assert name in str(info.value)


def test_n_jobs_above_the_cores_is_clamped_with_a_warning():
    x = np.random.rand(64, 200, 3)
    expected = sigrs.sig(x, 4, n_jobs=1)
    for n_jobs in (CORES + 1, 10_000, 2**63, 10**30):
        with pytest.warns(RuntimeWarning, match=f"n_jobs={n_jobs} is more than the {CORES} cores"):
            np.testing.assert_allclose(sigrs.sig(x, 4, n_jobs=n_jobs), expected, rtol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # counting back past every core is one thread, silently
        np.testing.assert_allclose(sigrs.sig(x, 4, n_jobs=-(10**6)), expected, rtol=1e-13)


def test_thread_pools_are_few_and_freed():
    result = run_capped(
        """
        import warnings
        warnings.simplefilter("ignore")
        x = np.random.rand(64, 200, 3)
        def threads():
            return int(open("/proc/self/status").read().split("Threads:")[1].split()[0])
        start = threads()
        for n in [2, 3, 10_000, *range(2, 61)]:
            sigrs.sig(x, 4, n_jobs=n)
        for n in range(2, 61):
            sigrs.sig(x, 4, n_jobs=-n)
        print("threads", threads() - start, sigrs._native.available_cores())
        """
    )
    assert_clean(result, "threads")
    grown, cores = map(int, result.stdout.split()[1:3])
    # at most 4 pools (sig_core::batch::MAX_POOLS), each of at most `cores` threads
    assert grown <= 4 * cores, result.stdout


# --- fork -------------------------------------------------------------------------


FORK_CHILD = """
import os, sys, time, threading
{setup}
pid = os.fork()
if pid == 0:
    {child}
    os._exit(0)
deadline = time.time() + 20
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("child exit", os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    print("child stuck")
{parent}
"""


@pytest.mark.parametrize(
    "setup",
    [
        # the parent's pools exist (their threads do not in the child)
        "x = np.random.rand(256, 100, 3); sigrs.sig(x, 4, n_jobs=2)",
        # a parallel call is running in another thread at the fork
        "x = np.random.rand(2048, 400, 3)\n"
        "threading.Thread(target=lambda: [sigrs.sig(x, 4, n_jobs=2) for _ in range(20)], daemon=True).start()\n"
        "time.sleep(0.3)",
    ],
    ids=["after_parallel_work", "during_parallel_work"],
)
def test_a_forked_child_computes_with_its_own_pools(setup):
    child = "y = np.random.rand(256, 100, 3); assert np.allclose(sigrs.sig(y, 3, n_jobs=2), sigrs.sig(y, 3, n_jobs=1))"
    result = run_capped(FORK_CHILD.format(setup=setup, child=child, parent=""), cap=8 * GiB)
    assert_clean(result, "child exit 0")


def test_a_child_forked_while_another_thread_builds_a_basis_builds_its_own():
    setup = (
        "built = []\n"
        "threading.Thread(target=lambda: built.append(len(sigrs.lyndon_brackets(4, 9)))).start()\n"
        "time.sleep(0.2)  # the thread is mid-build: it takes about a second"
    )
    child = "assert len(sigrs.lyndon_brackets(4, 9)) == sigrs.log_sig_length(4, 9)"
    parent = "while not built:\n    time.sleep(0.05)\nprint('parent', built[0] == sigrs.log_sig_length(4, 9))"
    result = run_capped(FORK_CHILD.format(setup=setup, child=child, parent=parent), cap=8 * GiB)
    assert_clean(result, "child exit 0")
    assert "parent True" in result.stdout


# --- odd inputs that must work -----------------------------------------------------


def test_matrix_and_other_ndarray_subclasses_are_plain_arrays():
    x = np.random.rand(6, 3)
    np.testing.assert_array_equal(sigrs.sig(np.matrix(x), 3), sigrs.sig(x, 3))
    np.testing.assert_array_equal(sigrs.log_sig(np.matrix(x), 3), sigrs.log_sig(x, 3))
    np.testing.assert_array_equal(sigrs.transform_path(np.matrix(x), lead_lag=True), sigrs.transform_path(x, lead_lag=True))


@pytest.mark.parametrize("dtype", [">f8", ">f4"])
def test_big_endian_input_works_everywhere_sig_accepts_it(dtype):
    x = np.random.rand(8, 2)
    xb = x.astype(dtype)
    native = x.astype(np.dtype(dtype).newbyteorder("="))
    np.testing.assert_array_equal(sigrs.sig(xb, 3), sigrs.sig(native, 3))
    stream, reference = sigrs.SigStream(2, 3), sigrs.SigStream(2, 3)
    stream.push_batch(xb)
    stream.push(xb[0])
    reference.push_batch(native)
    reference.push(native[0])
    np.testing.assert_array_equal(stream.sig(2, 8), reference.sig(2, 8))
    window = sigrs.SigWindowStream(2, 3, window_size=3)
    window.push_batch(xb)
    np.testing.assert_allclose(window.sig(), sigrs.sig(np.lib.stride_tricks.sliding_window_view(native, (3, 2))[:, 0], 3), rtol=1e-5, atol=1e-6)


def test_copy_of_a_stream_grows_and_shrinks_on_its_own():
    rng = np.random.default_rng(0)
    st = sigrs.SigStream(3, 3)
    st.push_batch(rng.random((8, 3)))
    ref = st.sig(1, 6)
    c = copy.copy(st)
    c.push(np.ones(3))
    c.pop_front(2)
    np.testing.assert_array_equal(st.sig(1, 6), ref)
    assert (st.start_index, st.end_index, c.start_index, c.end_index) == (0, 7, 2, 8)
    # and the other way round
    st.push_batch(rng.random((5, 3)))
    st.pop_front(4)
    assert (c.start_index, c.end_index) == (2, 8)
    np.testing.assert_array_equal(c.sig(2, 6), copy.copy(c).sig(2, 6))

    w = sigrs.SigWindowStream(2, 3, window_size=4)
    w.push_batch(rng.random((10, 2)))
    before, count = w.sig().copy(), w.num_windows
    wc = copy.copy(w)
    wc.push_batch(rng.random((20, 2)))
    assert w.num_windows == count and wc.num_windows == count + 20
    np.testing.assert_array_equal(w.sig(), before)


def test_extract_sig_coef_refuses_lengths_that_are_no_signature():
    s = sigrs.sig(np.random.rand(5, 2), 3)
    with pytest.raises(ValueError, match="sig has 10 terms in its last axis, which is no signature length for dimension 3"):
        sigrs.extract_sig_coef(np.random.rand(2, 10), [(0, 1)], 3)
    with pytest.raises(ValueError, match="beyond the signature's degree 3"):
        sigrs.extract_sig_coef(s, [(0, 1, 1, 1)], 2)
    with pytest.raises(ValueError, match=r"lie in \[0, 2\)"):
        sigrs.extract_sig_coef(s, [(2,)], 2)
    with pytest.raises(ValueError, match="at most the signature's degree 3"):
        sigrs.extract_sig_level(s, 2, 4)
    np.testing.assert_array_equal(sigrs.extract_sig_coef(s, [(0,), (1, 0, 1)], 2), s[[0, 2 + 4 + 5]])


# --- one-dimensional paths: the closed form ------------------------------------------


def test_one_dimensional_signatures_keep_full_relative_accuracy():
    # 0 -> 1000 -> 1: level k is 1/k! exactly, though the path's steps are 1e3.
    s = sigrs.sig(np.array([[0.0], [1000.0], [1.0]]), 8)
    np.testing.assert_allclose(s, [1 / math.factorial(k) for k in range(1, 9)], rtol=1e-14)
    s32 = sigrs.sig(np.array([[0.0], [1000.0], [1.0]], dtype=np.float32), 8)
    np.testing.assert_allclose(s32, [1 / math.factorial(k) for k in range(1, 9)], rtol=1e-6)
    # every prefix, and the inverse
    path = np.array([[0.5], [300.0], [-250.0], [2.5]])
    streamed = sigrs.sig(path, 6, stream=True)
    for row, end in zip(streamed, path[1:, 0]):
        np.testing.assert_allclose(row, [(end - 0.5) ** k / math.factorial(k) for k in range(1, 7)], rtol=1e-13)
    inverse = sigrs.sig(path, 6, inverse=True)
    np.testing.assert_allclose(inverse, [(-2.0) ** k / math.factorial(k) for k in range(1, 7)], rtol=1e-13)


def test_one_dimensional_gradients_and_log_signatures():
    torch = pytest.importorskip("torch")
    x = torch.tensor([[[0.0], [1000.0], [1.0]], [[1.0], [-3.0], [2.0]]], dtype=torch.float64, requires_grad=True)
    s = sigrs.sig(x, 6)
    weights = torch.arange(1.0, 7.0, dtype=torch.float64)
    (s * weights).sum().backward()
    # F = sum_k w_k D^k / k! with D = x_end - x_start: dF/dx_end = sum_k w_k D^(k-1) / (k-1)!
    for b, total in enumerate([1.0, 1.0]):
        expected = sum(w * total ** (k - 1) / math.factorial(k - 1) for k, w in zip(range(1, 7), weights.tolist()))
        assert x.grad[b, -1, 0].item() == pytest.approx(expected, rel=1e-13)
        assert x.grad[b, 0, 0].item() == pytest.approx(-expected, rel=1e-13)
        assert x.grad[b, 1, 0].item() == 0.0
    log = sigrs.log_sig(np.array([[0.0], [1000.0], [1.0]]), 8)
    np.testing.assert_allclose(log, [1.0], rtol=1e-14)


# --- fuzz: argument combinations across the public API -------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("SIGRS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))

#: What a wrong argument may raise. Anything else (SigrsError's "internal
#: error", IndexError from inside the package, ...) is a bug.
CLEAN = (TypeError, ValueError, OverflowError, MemoryError)

ints = st.sampled_from([0, 1, 2, 3, 5, -1, -7, 64, 2**31, 2**40, 2**63, 2**64, 10**30])
small_ints = st.sampled_from([0, 1, 2, 3, -1])
others = st.sampled_from([None, "3", 2.0, 2.5, float("nan"), True, (), [1], np.int64(2), np.float64(2.0)])
degrees = st.one_of(small_ints, ints, others)
n_jobs = st.one_of(st.sampled_from([1, 2, -1, -2, 0, 3, 10_000, -(10**6)]), others)
bools = st.one_of(st.booleans(), others)


@st.composite
def arrays(draw, min_ndim=1, max_ndim=4):
    """Arrays of odd shapes (empty axes included), dtypes, layouts and byte orders."""
    ndim = draw(st.integers(min_ndim, max_ndim))
    shape = tuple(draw(st.sampled_from([0, 1, 2, 3, 5])) for _ in range(ndim))
    dtype = draw(st.sampled_from(["f8", "f4", ">f8", "i4", "c16", "f2", "bool", "O"]))
    if dtype == "O":
        return np.empty(shape, dtype=object)
    values = np.random.default_rng(draw(st.integers(0, 99))).standard_normal(shape)
    special = draw(st.sampled_from([None, np.nan, np.inf, 1e300]))
    if special is not None and values.size:
        values.flat[0] = special
    a = values.astype(dtype)
    if draw(st.booleans()) and a.ndim >= 2:
        a = np.asfortranarray(a)
    return a


values = st.one_of(arrays(), others, st.just([[0.0, 1.0], [2.0, 3.0]]))


def call_cleanly(fn, *args, clean=CLEAN, **kwargs):
    """Calls ``fn``: a result, or a clean exception (the bug otherwise surfaces as the test's error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except clean:
            return None


@FUZZ
@given(path=values, degree=degrees, time_aug=bools, lead_lag=bools, scalar_term=bools, stream=bools, inverse=bools, jobs=n_jobs)
def test_fuzz_sig(path, degree, time_aug, lead_lag, scalar_term, stream, inverse, jobs):
    out = call_cleanly(sigrs.sig, path, degree, time_aug=time_aug, lead_lag=lead_lag, scalar_term=scalar_term,
                       stream=stream, inverse=inverse, n_jobs=jobs)
    if out is not None:
        assert out.dtype in (np.float32, np.float64)
        derivs = np.ones_like(out)
        call_cleanly(sigrs.sig_backprop, path, out, derivs, degree, time_aug=time_aug, lead_lag=lead_lag,
                     scalar_term=scalar_term, stream=stream, inverse=inverse, n_jobs=jobs)


@FUZZ
@given(path=values, degree=degrees, method=st.one_of(st.sampled_from([0, 1, 2, 3, 4, -1, 99]), others), jobs=n_jobs,
       time_aug=bools)
def test_fuzz_log_sig(path, degree, method, jobs, time_aug):
    call_cleanly(sigrs.log_sig, path, degree, method=method, n_jobs=jobs, time_aug=time_aug)
    call_cleanly(sigrs.log_sig_length, degree, degree)
    call_cleanly(sigrs.sig_to_log_sig, path, 2, degree, method=method, n_jobs=jobs)


@FUZZ
@given(a=values, b=values, dim=st.one_of(small_ints, ints, others), degree=degrees, jobs=n_jobs, scalar_term=bools)
def test_fuzz_algebra(a, b, dim, degree, jobs, scalar_term):
    call_cleanly(sigrs.sig_combine, a, b, dim, degree, n_jobs=jobs)
    call_cleanly(sigrs.sig_inverse, a, dim, degree, n_jobs=jobs)
    call_cleanly(sigrs.sig_join, a, b, dim, degree, n_jobs=jobs)
    call_cleanly(sigrs.linear_sig, b, dim, degree, scalar_term=scalar_term, n_jobs=jobs)
    call_cleanly(sigrs.multi_sig_combine, a, dim, degree, n_jobs=jobs)
    call_cleanly(sigrs.extract_sig_coef, a, [(0,), (1, 0)], dim, scalar_term=scalar_term)
    call_cleanly(sigrs.extract_sig_level, a, dim, degree, scalar_term=scalar_term)


@FUZZ
@given(x=values, y=values, order=st.one_of(st.sampled_from([0, 1, 2, -1, 21, 2**40, (0, 1), (1, -1), (0,)]), others),
       jobs=n_jobs, grid=bools, max_batch=st.sampled_from([-1, 0, 1, 2, 10**30]),
       kernel=st.sampled_from([None, "rbf", "bogus", sigrs.RBFKernel(0.5), 3]))
def test_fuzz_kernels(x, y, order, jobs, grid, max_batch, kernel):
    kwargs = dict(dyadic_order=order, n_jobs=jobs, max_batch=max_batch)
    if kernel is not None:
        kwargs["static_kernel"] = kernel
    k = call_cleanly(sigrs.sig_kernel, x, y, return_grid=grid, **kwargs)
    if k is not None and not (grid is True):
        call_cleanly(sigrs.sig_kernel_backprop, np.ones_like(k), x, y, **kwargs)
    call_cleanly(sigrs.sig_kernel_gram, x, y, **kwargs)
    call_cleanly(sigrs.sig_mmd, x, y, dyadic_order=order, n_jobs=jobs)


@FUZZ
@given(path=values, words=st.sampled_from([[(0,)], [(0, 1)], [()], [(5,)], [(-1,)], [(0, 2**40)], (0,), [], "01", None, [[0.5]]]),
       jobs=n_jobs, prefixes=bools, dim=st.one_of(small_ints, ints, others), idx=ints, degree=degrees)
def test_fuzz_words_and_coefficients(path, words, jobs, prefixes, dim, idx, degree):
    call_cleanly(sigrs.sig_coef, path, words, n_jobs=jobs, prefixes=prefixes)
    call_cleanly(sigrs.idx_to_word, idx, dim)
    call_cleanly(sigrs.word_to_idx, (0, 1), dim)
    call_cleanly(sigrs.sig_length, dim, degree)
    call_cleanly(sigrs.transform_path, path, time_aug=prefixes, lead_lag=True, n_jobs=jobs)


@FUZZ
@given(points=values, dim=st.one_of(small_ints, others), degree=degrees, window=st.sampled_from([1, 2, 0, -1, 2**64]))
def test_fuzz_streams(points, dim, degree, window):
    st_ = call_cleanly(sigrs.SigStream, dim, degree)
    if st_ is not None:
        call_cleanly(st_.push_batch, points)
        # an interval the stream does not hold is an IndexError, like a list's
        call_cleanly(st_.sig, 0, 1, clean=(*CLEAN, IndexError))
        call_cleanly(st_.pop_front, window, clean=(*CLEAN, IndexError))
    w = call_cleanly(sigrs.SigWindowStream, dim, degree, window_size=window)
    if w is not None:
        call_cleanly(w.push_batch, points)


# --- user static kernels: their outputs are checked ----------------------------------


def _user_kernel(call, grad=None):
    class Kernel(sigrs.StaticKernel):
        def __call__(self, ctx, x, y):
            ctx.save_for_backward(x, y)
            return call(x, y)

        def grad_x(self, ctx, d):
            x, y = ctx.saved_tensors
            return grad(x, d) if grad else d @ y[:, 1:, :] * 0 + 0 * x[:, :-1, :].sum()

        def grad_y(self, ctx, d):
            x, y = ctx.saved_tensors
            return 0 * y

    return Kernel()


def _linear(x, y):
    return x.diff(dim=1) @ y.diff(dim=1).transpose(1, 2)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda x, y: _linear(x, y)[:, :-1], ValueError, ["double increments of shape (2, 4, 4)", "expected (2, 5, 4)"]),
        (lambda x, y: _linear(x, y).float(), TypeError, ["dtype float32", "expected float64"]),
        (lambda x, y: _linear(x, y).to(dtype=__import__("torch").int64), TypeError, ["dtype int64"]),
        (lambda x, y: _linear(x, y).tolist(), TypeError, ["torch tensor or NumPy array, got list"]),
    ],
    ids=["shape", "float32", "int", "list"],
)
def test_user_static_kernel_outputs_of_the_wrong_shape_dtype_or_type_are_refused(call, error, words):
    pytest.importorskip("torch")
    x, y = np.random.rand(2, 6, 3), np.random.rand(2, 5, 3)
    with pytest.raises(error) as info:
        sigrs.sig_kernel(x, y, dyadic_order=0, static_kernel=_user_kernel(call))
    for w in words:
        assert w in str(info.value)


def test_user_static_kernel_gradients_of_the_wrong_shape_are_refused():
    pytest.importorskip("torch")
    x, y = np.random.rand(2, 6, 3), np.random.rand(2, 5, 3)
    kernel = _user_kernel(_linear, grad=lambda x, d: x[:, :-1, :])
    with pytest.raises(ValueError, match=r"grad_x of shape \(2, 5, 3\); expected \(2, 6, 3\)"):
        sigrs.sig_kernel_backprop(np.ones(2), x, y, dyadic_order=0, static_kernel=kernel)
    # the right shape passes: the linear kernel's value through a user kernel equals the built-in
    ok = sigrs.sig_kernel(x, y, dyadic_order=0, static_kernel=_user_kernel(_linear))
    np.testing.assert_allclose(ok, sigrs.sig_kernel(x, y, dyadic_order=0), rtol=1e-13)


@st.composite
def tensors(draw):
    """The same odd arrays as torch tensors (those torch can hold), some needing gradients."""
    torch = pytest.importorskip("torch")
    a = draw(arrays())
    if a.dtype == object or a.dtype.byteorder == ">":
        return a
    t = torch.from_numpy(np.ascontiguousarray(a))
    if t.is_floating_point() and draw(st.booleans()):
        t.requires_grad_(True)
    if t.ndim >= 2 and draw(st.booleans()):
        t = t.transpose(-1, -2)  # a non-contiguous view
    return t


@FUZZ
@given(x=tensors(), y=tensors(), degree=st.sampled_from([0, 1, 2, 3, -1, 64]), order=st.sampled_from([0, 1, -1]), jobs=n_jobs)
def test_fuzz_torch_ops_and_their_gradients(x, y, degree, order, jobs):
    torch = pytest.importorskip("torch")
    outputs = [
        call_cleanly(sigrs.sig, x, degree, n_jobs=jobs),
        call_cleanly(sigrs.sig, x, degree, time_aug=True, stream=True, n_jobs=jobs),
        call_cleanly(sigrs.log_sig, x, degree, n_jobs=jobs),
        call_cleanly(sigrs.sig_kernel, x, y, dyadic_order=order, n_jobs=jobs),
        call_cleanly(sigrs.sig_combine, x, y, 2, degree, n_jobs=jobs),
        call_cleanly(sigrs.transform_path, x, lead_lag=True, n_jobs=jobs),
    ]
    for out in outputs:
        if isinstance(out, torch.Tensor) and out.requires_grad:
            (grad,) = torch.autograd.grad(out.sum(), x if x.requires_grad else y, allow_unused=True)
            assert grad is None or grad.shape == (x if x.requires_grad else y).shape
