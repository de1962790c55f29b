"""Bad inputs raise Python exceptions of the documented type naming the argument."""

from __future__ import annotations

import re

import numpy as np
import pytest

from _util import make_path, shape_text, torch

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _path(rng, shape=(2, 5, 2)):
    return make_path(rng, shape)


def test_exception_hierarchy():
    assert issubclass(sigrs.SigrsError, Exception)
    assert issubclass(sigrs.CudaUnavailableError, sigrs.SigrsError)


# ---------------------------------------------------------------------------
# path
# ---------------------------------------------------------------------------

BAD_NUMPY_DTYPES = [np.int32, np.int64, np.complex128, np.float16, np.bool_]


@pytest.mark.parametrize("dtype", BAD_NUMPY_DTYPES, ids=lambda t: np.dtype(t).name)
def test_sig_rejects_numpy_path_of_wrong_dtype_with_type_error(dtype):
    x = np.ones((2, 5, 2), dtype=dtype)
    with pytest.raises(TypeError, match="path"):
        sigrs.sig(x, 2)


@needs_torch
@pytest.mark.parametrize("dtype_name", ["int64", "int32", "complex128", "float16", "bfloat16"])
def test_sig_rejects_torch_path_of_wrong_dtype_with_type_error(dtype_name):
    x = torch.ones((2, 5, 2), dtype=getattr(torch, dtype_name))
    with pytest.raises(TypeError, match="path"):
        sigrs.sig(x, 2)


@pytest.mark.parametrize("func", ["sig", "transform_path", "sig_backprop"])
def test_functions_reject_integer_path_with_type_error(rng, func):
    x = np.ones((2, 5, 2), dtype=np.int64)
    with pytest.raises(TypeError, match="path"):
        if func == "sig":
            sigrs.sig(x, 2)
        elif func == "transform_path":
            sigrs.transform_path(x, time_aug=True)
        else:
            s = np.zeros((2, 6))
            sigrs.sig_backprop(x, s, s, 2)


@pytest.mark.parametrize("shape", [(), (5,)], ids=["rank0", "rank1"])
def test_sig_rejects_path_of_rank_below_two_with_value_error(shape):
    x = np.ones(shape)
    with pytest.raises(ValueError, match="path"):
        sigrs.sig(x, 2)


@needs_torch
def test_sig_rejects_torch_path_of_rank_one_with_value_error():
    with pytest.raises(ValueError, match="path"):
        sigrs.sig(torch.ones(5, dtype=torch.float64), 2)


@pytest.mark.parametrize("shape", [(), (5,)], ids=["rank0", "rank1"])
def test_transform_path_rejects_path_of_rank_below_two_with_value_error(shape):
    with pytest.raises(ValueError, match="path"):
        sigrs.transform_path(np.ones(shape), time_aug=True)


def test_sig_backprop_rejects_path_of_rank_one_with_value_error():
    s = np.zeros(6)
    with pytest.raises(ValueError, match="path"):
        sigrs.sig_backprop(np.ones(5), s, s, 2)


def test_sig_rejects_unconvertible_input():
    with pytest.raises((TypeError, ValueError)):
        sigrs.sig("not a path", 2)
    with pytest.raises((TypeError, ValueError)):
        sigrs.sig([[1.0, 2.0], [3.0]], 2)  # ragged


# ---------------------------------------------------------------------------
# degree / n_jobs
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("degree", [-1, -5])
def test_sig_rejects_negative_degree_with_value_error(rng, degree):
    with pytest.raises(ValueError, match="degree"):
        sigrs.sig(_path(rng), degree)


@pytest.mark.parametrize("degree", [2.0, 2.5, "2", None], ids=["float", "frac", "str", "none"])
def test_sig_rejects_non_integer_degree_with_type_error(rng, degree):
    with pytest.raises(TypeError, match="degree"):
        sigrs.sig(_path(rng), degree)


def test_sig_backprop_rejects_bad_degree(rng):
    x = _path(rng)
    s = sigrs.sig(x, 2)
    with pytest.raises(ValueError, match="degree"):
        sigrs.sig_backprop(x, s, s, -1)
    with pytest.raises(TypeError, match="degree"):
        sigrs.sig_backprop(x, s, s, 2.0)


def test_sig_length_rejects_bad_degree():
    with pytest.raises(ValueError, match="degree"):
        sigrs.sig_length(2, -1)
    with pytest.raises(TypeError, match="degree"):
        sigrs.sig_length(2, 1.5)


def _call_with_n_jobs(name, rng, n_jobs):
    x = _path(rng)
    if name == "sig":
        return sigrs.sig(x, 2, n_jobs=n_jobs)
    if name == "sig_backprop":
        s = sigrs.sig(x, 2)
        return sigrs.sig_backprop(x, s, s, 2, n_jobs=n_jobs)
    if name == "transform_path":
        return sigrs.transform_path(x, time_aug=True, lead_lag=True, n_jobs=n_jobs)
    if name == "transform_path_backprop":
        g = np.ones((2, 9, 5))
        return sigrs.transform_path_backprop(g, time_aug=True, lead_lag=True, end_time=1.0,
                                             n_jobs=n_jobs)
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["sig", "sig_backprop", "transform_path",
                                  "transform_path_backprop"])
def test_n_jobs_zero_is_rejected_with_value_error(rng, name):
    with pytest.raises(ValueError, match="n_jobs"):
        _call_with_n_jobs(name, rng, 0)


# ---------------------------------------------------------------------------
# sig / sig_derivs shapes in sig_backprop
# ---------------------------------------------------------------------------

def _assert_message_has_shapes(excinfo, *shapes):
    msg = str(excinfo.value)
    for shape in shapes:
        assert shape_text(shape) in msg, f"shape {tuple(shape)} not named in message: {msg!r}"


@pytest.mark.parametrize("arg", ["sig", "sig_derivs"])
@pytest.mark.parametrize("bad_len", [5, 8, 20])
def test_sig_backprop_rejects_wrong_sig_length(rng, arg, bad_len):
    x = _path(rng)  # d = 2, degree 2: valid lengths are 6 and 7
    good = sigrs.sig(x, 2)
    bad = np.zeros((2, bad_len))
    args = {"sig": good, "sig_derivs": good}
    args[arg] = bad
    with pytest.raises(ValueError, match=re.escape(arg)) as excinfo:
        sigrs.sig_backprop(x, args["sig"], args["sig_derivs"], 2)
    _assert_message_has_shapes(excinfo, bad.shape)


@pytest.mark.parametrize("arg", ["sig", "sig_derivs"])
def test_sig_backprop_rejects_sig_whose_batch_shape_differs_from_path(rng, arg):
    x = _path(rng)  # batch (2,)
    good = sigrs.sig(x, 2)
    bad = np.zeros((3, good.shape[-1]))
    args = {"sig": good, "sig_derivs": good}
    args[arg] = bad
    with pytest.raises(ValueError, match=re.escape(arg)) as excinfo:
        sigrs.sig_backprop(x, args["sig"], args["sig_derivs"], 2)
    _assert_message_has_shapes(excinfo, bad.shape)
    # ... and the shape it should have matched: path's, or the expected signature shape
    msg = str(excinfo.value)
    assert shape_text(x.shape) in msg or shape_text(good.shape) in msg, msg


def test_sig_backprop_rejects_sig_with_extra_batch_dim(rng):
    x = _path(rng, (5, 2))  # unbatched
    good = sigrs.sig(x, 2)
    bad = np.zeros((1,) + good.shape)
    with pytest.raises(ValueError, match="sig") as excinfo:
        sigrs.sig_backprop(x, bad, bad, 2)
    _assert_message_has_shapes(excinfo, bad.shape)


def test_sig_backprop_rejects_time_aug_mismatch_in_sig_length(rng):
    x = _path(rng)
    s = sigrs.sig(x, 2, time_aug=True)  # 12 coefficients; plain d=2 expects 6 or 7
    with pytest.raises(ValueError, match="sig"):
        sigrs.sig_backprop(x, s, s, 2)


@needs_torch
def test_sig_backprop_rejects_mixing_numpy_and_torch(rng):
    x = _path(rng)
    s = sigrs.sig(x, 2)
    with pytest.raises((TypeError, ValueError)):
        sigrs.sig_backprop(torch.from_numpy(x), s, s, 2)
    with pytest.raises((TypeError, ValueError)):
        sigrs.sig_backprop(x, torch.from_numpy(s), s, 2)
    with pytest.raises((TypeError, ValueError)):
        sigrs.sig_backprop(x, s, torch.from_numpy(s), 2)


# ---------------------------------------------------------------------------
# transform_path_backprop shapes
# ---------------------------------------------------------------------------

def test_transform_path_backprop_rejects_even_lead_lag_length():
    # a lead-lag path always has an odd number of points (2L - 1)
    with pytest.raises(ValueError, match="derivs"):
        sigrs.transform_path_backprop(np.ones((2, 4, 4)), lead_lag=True, time_aug=False,
                                      end_time=1.0)


def test_transform_path_backprop_rejects_odd_lead_lag_dimension():
    with pytest.raises(ValueError, match="derivs"):
        sigrs.transform_path_backprop(np.ones((2, 5, 3)), lead_lag=True, time_aug=False,
                                      end_time=1.0)


def test_transform_path_backprop_rejects_wrong_dtype():
    with pytest.raises(TypeError, match="derivs"):
        sigrs.transform_path_backprop(np.ones((2, 5, 3), dtype=np.int64), time_aug=True,
                                      lead_lag=False, end_time=1.0)


# ---------------------------------------------------------------------------
# sig_length arguments
# ---------------------------------------------------------------------------

def test_sig_length_rejects_negative_dimension():
    with pytest.raises(ValueError, match="dimension"):
        sigrs.sig_length(-1, 2)


def test_sig_length_rejects_non_integer_dimension():
    with pytest.raises(TypeError, match="dimension"):
        sigrs.sig_length(2.0, 2)


# ---------------------------------------------------------------------------
# CUDA
# ---------------------------------------------------------------------------

def test_cuda_device_check_explains_why_cuda_cannot_run():
    # Runs everywhere: a stand-in carrying a CUDA device goes through the same
    # check a CUDA tensor does, so the error type and message are tested
    # without a GPU.
    from types import SimpleNamespace

    from sigrs._arrays import check_cuda_device

    stand_in = SimpleNamespace(device=torch.device("cuda:0"))
    assert issubclass(sigrs.CudaUnavailableError, sigrs.SigrsError)
    # An operation without GPU kernels refuses CUDA tensors, GPU or not.
    with pytest.raises(sigrs.CudaUnavailableError, match=r"path is on cuda:0.*\.cpu\(\)"):
        check_cuda_device(stand_in, "path", False)
    if sigrs.cuda_available():
        check_cuda_device(stand_in, "path", True)
    else:
        # Without a usable driver even the GPU-capable ones refuse, saying why.
        with pytest.raises(sigrs.CudaUnavailableError, match="path is on cuda:0") as err:
            check_cuda_device(stand_in, "path", True)
        assert sigrs.cuda_status().startswith("unavailable: ")
        assert "CUDA" in str(err.value)


def test_other_devices_are_a_value_error():
    from types import SimpleNamespace

    from sigrs._arrays import check_cuda_device

    with pytest.raises(ValueError, match="path is on device meta; sigrs supports CPU and CUDA tensors only"):
        check_cuda_device(SimpleNamespace(device=torch.device("meta")), "path", True)


# ---------------------------------------------------------------------------
# inputs that must fail cleanly (a Python Exception, never a panic / abort)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dimension,degree", [(2, 60), (4, 40)])
def test_degree_too_large_for_memory_raises_exception_not_panic(dimension, degree):
    # (2, 60): numpy refuses the output size (> max array size); (4, 40): the length
    # overflows 64 bits. (Sizes that merely exceed RAM are avoided: with memory
    # overcommit they could be "allocated" and then OOM-kill the test run.)
    x = np.zeros((2, 3, dimension))
    try:
        sigrs.sig(x, degree)
    except (MemoryError, ValueError, OverflowError):
        pass
    except Exception as e:  # some other Exception: still clean, but say which
        pytest.fail(f"unexpected exception type {type(e).__name__}: {e}")
    except BaseException as e:  # pyo3 PanicException derives from BaseException
        if isinstance(e, KeyboardInterrupt):
            raise
        pytest.fail(f"sigrs.sig panicked instead of raising: {type(e).__name__}: {e}")
    else:
        pytest.fail("sigrs.sig returned for an impossible output size")


def test_path_without_points_is_rejected_with_value_error():
    with pytest.raises(ValueError, match="path"):
        sigrs.sig(np.zeros((2, 0, 3)), 2)


@pytest.mark.parametrize("which", ["path", "sig", "sig_derivs"])
def test_sig_backprop_rejects_mixed_float_precisions(rng, which):
    x = _path(rng)
    s = sigrs.sig(x, 2)
    args = {"path": x, "sig": s, "sig_derivs": s}
    args[which] = args[which].astype(np.float32)
    with pytest.raises((TypeError, ValueError)):
        sigrs.sig_backprop(args["path"], args["sig"], args["sig_derivs"], 2)


@pytest.mark.parametrize("flag", ["time_aug", "lead_lag", "scalar_term"])
def test_non_bool_flags_are_rejected_with_type_error(rng, flag):
    with pytest.raises(TypeError, match=flag):
        sigrs.sig(_path(rng), 2, **{flag: "yes"})


def test_non_integer_n_jobs_is_rejected_with_type_error(rng):
    with pytest.raises(TypeError, match="n_jobs"):
        sigrs.sig(_path(rng), 2, n_jobs=1.5)


@needs_torch
def test_meta_tensor_is_rejected_with_an_exception():
    x = torch.empty((2, 5, 2), dtype=torch.float64, device="meta")
    with pytest.raises((ValueError, TypeError, sigrs.SigrsError), match="path"):
        sigrs.sig(x, 2)
