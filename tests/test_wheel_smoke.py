"""One pass over each family of ops with NumPy alone, against tests/reference.py.

scripts/wheel.sh runs this file (with the other NumPy-only files) in a fresh
virtual environment holding only numpy, pytest and the built wheel, so it may
import neither torch nor the peer libraries. It also runs in the normal suite,
where it is a quick cross-family check.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import reference as ref
from _util import F32_RTOL, F64_RTOL, assert_close

import sigrs

DTYPES = [pytest.param(np.float64, id="f64"), pytest.param(np.float32, id="f32")]


def _rtol(dtype) -> float:
    return F64_RTOL if dtype == np.float64 else F32_RTOL


@pytest.fixture
def paths(rng):
    # float64 here; each test casts to its dtype, and the reference always
    # computes in float64 from the cast values.
    return rng.normal(size=(3, 7, 2)) * 0.5


def test_extension_module_sits_beside_the_python_package():
    # A wheel that put _native somewhere else (or a stale build shadowing it)
    # would import, and then test the wrong binary.
    package_dir = os.path.dirname(os.path.abspath(sigrs.__file__))
    native_dir = os.path.dirname(os.path.abspath(sigrs._native.__file__))
    assert native_dir == package_dir, f"sigrs._native from {native_dir}, sigrs from {package_dir}"
    assert isinstance(sigrs.__version__, str) and sigrs.__version__


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", [dict(), dict(time_aug=True, lead_lag=True, end_time=2.0)], ids=["plain", "leadlag+time"])
def test_sig_matches_reference(paths, dtype, opts):
    x = paths.astype(dtype)
    out = sigrs.sig(x, 3, **opts)
    assert out.dtype == dtype
    assert_close(out, ref.sig(x.astype(np.float64), 3, **opts), _rtol(dtype), "sig")


@pytest.mark.parametrize("method", [1, 2])
def test_log_sig_matches_reference_and_round_trips(paths, method):
    out = sigrs.log_sig(paths, 3, method=method)
    assert_close(out, ref.log_sig(paths, 3, method=method), F64_RTOL, f"log_sig method {method}")
    # exp of the log-signature gives the signature back
    back = sigrs.logsig_to_sig(out, 2, 3, method=method)
    assert_close(back, sigrs.sig(paths, 3), F64_RTOL, "logsig_to_sig")


def test_sig_coef_matches_reference(paths):
    words = [(0,), (1, 0), (0, 1, 1)]
    out = sigrs.sig_coef(paths, words)
    assert_close(out, ref.sig_coef(paths, words), F64_RTOL, "sig_coef")


def test_algebra_is_chens_identity(paths):
    a, b = paths[:, :4], paths[:, 3:]  # share point 3, so a then b is the whole path
    sa, sb = sigrs.sig(a, 3), sigrs.sig(b, 3)
    whole = sigrs.sig(paths, 3)
    assert_close(sigrs.sig_combine(sa, sb, 2, 3), whole, F64_RTOL, "sig_combine")
    assert_close(sigrs.sig_combine(sa, sb, 2, 3), ref.sig_combine(sa, sb, 2, 3), F64_RTOL, "sig_combine vs reference")
    # S(a)^-1 (x) S(whole) = S(b)
    assert_close(sigrs.sig_combine(sigrs.sig_inverse(sa, 2, 3), whole, 2, 3), sb, F64_RTOL, "sig_inverse")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sig_kernel_and_gram_match_reference(paths, dtype):
    x = paths.astype(dtype)
    y = (paths[:, ::-1] * 0.7).astype(dtype)
    k = sigrs.sig_kernel(x, y, dyadic_order=1)
    assert k.shape == (3,) and k.dtype == dtype
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    assert_close(k, ref.sig_kernel(x64, y64, 1), _rtol(dtype), "sig_kernel")
    g = sigrs.sig_kernel_gram(x, y[:2], dyadic_order=1, static_kernel=sigrs.RBFKernel(0.8))
    assert g.shape == (3, 2)
    expected = ref.sig_kernel_gram(x64, y64[:2], 1, kappa=ref.static_kernel_fn("rbf", sigma=0.8))
    assert_close(g, expected, _rtol(dtype), "sig_kernel_gram (RBF)")


def test_streams_answer_interval_queries_like_sig(rng):
    path = rng.normal(size=(30, 2)) * 0.3
    stream = sigrs.SigStream(2, 3)
    stream.push_batch(path[:20])
    for point in path[20:]:
        stream.push(point)
    assert_close(stream.sig(5, 25), ref.sig(path[5:26], 3), F64_RTOL, "SigStream.sig")
    windows = sigrs.SigWindowStream(2, 3, window_size=10, stride=5)
    windows.push_batch(path)
    out = windows.sig()  # windows end at points 9, 14, ..., 29
    assert out.shape == (5, sigrs.sig_length(2, 3))
    assert_close(out[2], ref.sig(path[10:20], 3), F64_RTOL, "SigWindowStream window 2")
