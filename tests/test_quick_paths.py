"""The quick paths of small calls (one native call for plain arguments)
give exactly what the checked path gives, and leave every unusual input to
the checked path, so its conversions, warnings and errors still apply."""

from __future__ import annotations

import re

import numpy as np
import pytest

from _util import torch

import sigrs
from sigrs import _native

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

PLAIN = dict(degree=3, time_aug=False, lead_lag=False, end_time=1.0, scalar_term=False, stream=False, inverse=False, n_jobs=-1)


def _quick(path, **changes):
    o = {**PLAIN, **changes}
    return _native.sig_quick(path, o["degree"], o["time_aug"], o["lead_lag"], o["end_time"], o["scalar_term"], o["stream"], o["inverse"], o["n_jobs"])


def _checked_sig(path, degree, **options):
    """sig through the checked path: a basepoint of False given as np.False_ skips the quick path."""
    return sigrs.sig(path, degree, basepoint=np.False_, **options)


@pytest.mark.parametrize("shape", [(7, 2), (3, 7, 2), (2, 2, 5, 3), (0, 7, 2), (4, 1, 2), (2, 6, 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "options",
    [{}, {"time_aug": True, "end_time": 2.5}, {"lead_lag": True}, {"stream": True}, {"inverse": True}, {"scalar_term": True}, {"n_jobs": 1}],
    ids=lambda o: ",".join(o) or "plain",
)
def test_quick_sig_equals_the_checked_path(shape, dtype, options):
    path = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    quick = _quick(path, **options)
    assert quick is not None, "a plain small call must take the quick path"
    expected = _checked_sig(path, 3, **options)
    assert quick.dtype == expected.dtype and quick.shape == expected.shape
    np.testing.assert_array_equal(quick, expected)
    # and the public function returns that result
    np.testing.assert_array_equal(sigrs.sig(path, 3, **options), expected)


def _variants(path):
    swapped = path.astype(path.dtype.newbyteorder(">" if np.little_endian else "<"))
    unaligned = np.frombuffer(b"\0" + path.tobytes(), dtype=path.dtype, offset=1).reshape(path.shape)
    return {
        "non-contiguous": np.asfortranarray(path) if path.ndim > 1 else path[::2],
        "strided": np.repeat(path, 2, axis=-1)[..., ::2],
        "byte-swapped": swapped,
        "unaligned": unaligned,
        "subclass": path.view(np.matrix) if path.ndim == 2 else path.view(type("Sub", (np.ndarray,), {})),
        "list": path.tolist(),
        "float16": path.astype(np.float16),
        "int": np.ones(path.shape, np.int64),
        "1-D": path[0],
    }


@pytest.mark.parametrize("variant", list(_variants(np.zeros((3, 2)))))
def test_quick_sig_declines_unusual_arrays_and_sig_still_handles_them(variant):
    path = np.random.default_rng(1).standard_normal((6, 2))
    x = _variants(path)[variant]
    assert _quick(x) is None
    try:
        expected = _checked_sig(x, 3)
    except (TypeError, ValueError) as err:
        with pytest.raises(type(err), match=re.escape(str(err))):
            sigrs.sig(x, 3)
    else:
        np.testing.assert_allclose(sigrs.sig(x, 3), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "change",
    [
        {"degree": np.int64(3)}, {"degree": True}, {"degree": -1}, {"degree": 3.0}, {"time_aug": np.True_}, {"time_aug": 1},
        {"end_time": 1}, {"end_time": np.float64(1.0)}, {"end_time": float("nan")}, {"end_time": float("inf")},
        {"n_jobs": 0}, {"n_jobs": 10**6}, {"n_jobs": -(10**6)}, {"n_jobs": 1.0}, {"stream": None},
    ],
    ids=repr,
)
def test_quick_sig_declines_options_the_checks_convert_or_refuse(change):
    assert _quick(np.zeros((5, 2)), **change) is None


def test_quick_sig_raises_what_the_checked_path_raises_for_empty_paths():
    path = np.zeros((4, 0, 2))
    with pytest.raises(ValueError) as checked:
        _checked_sig(path, 2)
    with pytest.raises(ValueError, match=re.escape(str(checked.value))):
        sigrs.sig(path, 2)


def test_quick_sig_declines_large_work():
    assert _quick(np.zeros((1000, 100, 4)), degree=4) is None


def test_sig_still_warns_for_n_jobs_beyond_the_cores():
    with pytest.warns(RuntimeWarning, match="n_jobs"):
        sigrs.sig(np.zeros((5, 2)), 2, n_jobs=10**6)


def test_sig_still_names_bad_options():
    with pytest.raises(ValueError, match="end_time"):
        sigrs.sig(np.zeros((5, 2)), 2, end_time=float("nan"))
    with pytest.raises(TypeError, match="time_aug"):
        sigrs.sig(np.zeros((5, 2)), 2, time_aug=1)
    with pytest.raises(ValueError, match="n_jobs"):
        sigrs.sig(np.zeros((5, 2)), 2, n_jobs=0)


@pytest.mark.parametrize("shape", [(7, 2), (3, 5, 2), (2, 2, 4, 2)])
@pytest.mark.parametrize("options", [{}, {"stream": True}, {"time_aug": True, "lead_lag": True}, {"inverse": True}, {"scalar_term": True}], ids=repr)
def test_quick_sig_backprop_equals_the_checked_path(shape, options):
    rng = np.random.default_rng(2)
    path = rng.standard_normal(shape)
    s = sigrs.sig(path, 2, **options)
    derivs = rng.standard_normal(s.shape)
    backward = {k: v for k, v in options.items() if k != "scalar_term"}
    quick = _native.sig_backprop_quick(path, s, derivs, 2, backward.get("time_aug", False), backward.get("lead_lag", False), 1.0,
                                       backward.get("stream", False), backward.get("inverse", False), -1)
    assert quick is not None
    expected = sigrs.sig_backprop(path, s, derivs, 2, basepoint=np.False_, **backward)
    np.testing.assert_array_equal(quick, expected)
    np.testing.assert_array_equal(sigrs.sig_backprop(path, s, derivs, 2, **backward), expected)


def test_quick_sig_backprop_leaves_bad_shapes_and_dtypes_to_the_checks():
    path = np.zeros((2, 5, 2))
    s = sigrs.sig(path, 2)
    for sig, derivs in [(s[:, :-1], s[:, :-1]), (s, s[:1]), (s[:1], s[:1]), (s.astype(np.float32), s), (s, s.astype(np.float32))]:
        assert _native.sig_backprop_quick(path, sig, derivs, 2, False, False, 1.0, False, False, -1) is None
        with pytest.raises((TypeError, ValueError), match="sig"):
            sigrs.sig_backprop(path, sig, derivs, 2)


@pytest.mark.parametrize("method", [0, 1, 2, 3, "words", "lyndon", "hall", "expanded"])
@pytest.mark.parametrize("scalar_term", [False, True])
def test_quick_log_sig_equals_the_checked_path(method, scalar_term):
    path = np.random.default_rng(3).standard_normal((2, 6, 3))
    quick = sigrs.log_sig(path, 3, method=method, scalar_term=scalar_term)
    checked = sigrs.log_sig(path, 3, method=method, scalar_term=np.bool_(scalar_term))  # np.bool_ takes the checked path
    np.testing.assert_array_equal(quick, checked)


def test_log_sig_still_refuses_bad_methods():
    with pytest.raises(ValueError, match="method"):
        sigrs.log_sig(np.zeros((5, 2)), 2, method="nope")
    with pytest.raises(TypeError, match="method"):
        sigrs.log_sig(np.zeros((5, 2)), 2, method=True)


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(7, 2), (3, 7, 2), (2, 2, 5, 3)])
def test_quick_torch_sig_equals_numpy(dtype, shape):
    x = np.random.default_rng(4).standard_normal(shape).astype(dtype)
    out = sigrs.sig(torch.from_numpy(x), 3, stream=True)
    assert isinstance(out, torch.Tensor) and out.dtype == getattr(torch, dtype)
    np.testing.assert_array_equal(out.numpy(), sigrs.sig(x, 3, stream=True))


@needs_torch
def test_quick_torch_sig_reads_views_and_lazy_tensors_correctly():
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.standard_normal((3, 8, 2)))
    for t in [x[:, ::2], x.transpose(0, 1), x[1:], x.neg(), x.conj()]:
        expected = sigrs.sig(np.ascontiguousarray(t.numpy()), 3)
        np.testing.assert_allclose(sigrs.sig(t, 3).numpy(), expected, rtol=1e-12)


@needs_torch
def test_quick_torch_sig_keeps_autograd():
    x = torch.from_numpy(np.random.default_rng(6).standard_normal((2, 6, 2))).requires_grad_(True)
    out = sigrs.sig(x, 3)
    assert out.requires_grad
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    with torch.no_grad():
        assert not sigrs.sig(x, 3).requires_grad
