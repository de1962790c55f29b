"""sigrs.sig / transform_path / sig_length against the reference oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from _util import (
    F64_RTOL,
    OPTION_COMBOS,
    OPTION_IDS,
    as_backend,
    assert_close,
    make_path,
    rtol_for,
    to_numpy,
    torch,
    torch_dtype,
    transform_cases,
)

import sigrs  # noqa: E402  (no importorskip: a broken build must fail, not skip)

BATCH_SHAPES = [(), (3,), (2, 3)]
BATCH_IDS = ["nobatch", "b3", "b2x3"]


def _sig_len(d, n, **kw):
    return ref.sig_length(d, n, **kw)


def _check_type_and_dtype(out, x):
    if torch is not None and isinstance(x, torch.Tensor):
        assert isinstance(out, torch.Tensor), f"expected torch.Tensor, got {type(out)}"
        assert out.dtype == x.dtype
        assert out.device == x.device
    else:
        assert isinstance(out, np.ndarray), f"expected numpy.ndarray, got {type(out)}"
        assert out.dtype == x.dtype


# ---------------------------------------------------------------------------
# values against the reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dimension", [1, 2, 3, 4])
@pytest.mark.parametrize("degree", [0, 1, 2, 3, 4, 5])
def test_sig_matches_reference_for_each_dimension_and_degree(rng, backend, np_dtype, rtol,
                                                             dimension, degree):
    x = make_path(rng, (2, 6, dimension), np_dtype, backend)
    out = sigrs.sig(x, degree)
    _check_type_and_dtype(out, x)
    expected = ref.sig(to_numpy(x).astype(np.float64), degree)
    assert tuple(out.shape) == (2, _sig_len(dimension, degree))
    assert_close(out, expected, rtol)


@pytest.mark.parametrize("options", transform_cases())
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
def test_sig_matches_reference_for_all_options_and_batch_shapes(
        rng, backend, np_dtype, rtol, options, scalar_term, batch_shape):
    d, n = 2, 3
    x = make_path(rng, batch_shape + (5, d), np_dtype, backend)
    out = sigrs.sig(x, n, scalar_term=scalar_term, **options)
    _check_type_and_dtype(out, x)
    expected = ref.sig(to_numpy(x).astype(np.float64), n, scalar_term=scalar_term, **options)
    n_out = _sig_len(d, n, scalar_term=scalar_term, time_aug=options["time_aug"],
                     lead_lag=options["lead_lag"])
    assert tuple(out.shape) == batch_shape + (n_out,)
    assert_close(out, expected, rtol)


def test_signature_is_an_alias_of_sig(rng):
    x = make_path(rng, (3, 5, 2))
    np.testing.assert_array_equal(sigrs.signature(x, 3, time_aug=True),
                                  sigrs.sig(x, 3, time_aug=True))


def test_list_input_is_converted_to_float64_numpy(rng):
    x = make_path(rng, (4, 2))
    out = sigrs.sig(x.tolist(), 3)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    assert_close(out, ref.sig(x, 3), F64_RTOL)


def test_scalar_term_is_one_and_rest_equals_no_scalar_output(rng, backend, np_dtype):
    x = make_path(rng, (3, 6, 2), np_dtype, backend)
    with_scalar = to_numpy(sigrs.sig(x, 3, scalar_term=True))
    without = to_numpy(sigrs.sig(x, 3))
    np.testing.assert_array_equal(with_scalar[:, 0], np.ones(3, dtype=np_dtype))
    np.testing.assert_array_equal(with_scalar[:, 1:], without)


def test_sig_does_not_modify_its_input(rng, backend):
    x = make_path(rng, (2, 5, 3), np.float64, backend)
    before = to_numpy(x).copy()
    sigrs.sig(x, 3, time_aug=True, lead_lag=True)
    np.testing.assert_array_equal(to_numpy(x), before)


# ---------------------------------------------------------------------------
# properties of the signature
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("split", [1, 3, 6])
@pytest.mark.parametrize("dimension", [1, 2, 3])
def test_chen_identity_holds_for_split_paths(rng, split, dimension):
    x = make_path(rng, (8, dimension))
    n = 4
    whole = sigrs.sig(x, n)
    left = sigrs.sig(x[: split + 1], n)
    right = sigrs.sig(x[split:], n)
    assert_close(ref.chen_combine(left, right, dimension, n), whole, F64_RTOL)


def test_chen_identity_holds_batched_with_scalar_term(rng):
    x = make_path(rng, (4, 9, 2))
    n = 3
    whole = sigrs.sig(x, n, scalar_term=True)
    left = sigrs.sig(x[:, :5], n, scalar_term=True)
    right = sigrs.sig(x[:, 4:], n, scalar_term=True)
    for b in range(4):
        assert_close(ref.chen_combine(left[b], right[b], 2, n, scalar_term=True), whole[b],
                     F64_RTOL)


def test_signature_is_invariant_under_translation(rng):
    x = make_path(rng, (2, 7, 3))
    shifted = x + np.array([10.0, -3.0, 0.5])
    assert_close(sigrs.sig(shifted, 4), sigrs.sig(x, 4), 1e-9)


def test_signature_level_k_scales_as_power_k(rng):
    x = make_path(rng, (6, 2))
    c = -1.7
    n = 4
    s = sigrs.sig(x, n)
    sc = sigrs.sig(c * x, n)
    for k in range(1, n + 1):
        lo, hi = ref.level_offset(2, k), ref.level_offset(2, k + 1)
        assert_close(sc[lo:hi], c ** k * s[lo:hi], F64_RTOL)


def test_reversed_path_signature_is_tensor_inverse(rng):
    x = make_path(rng, (7, 2))
    s = sigrs.sig(x, 4, scalar_term=True)
    r = sigrs.sig(np.ascontiguousarray(x[::-1]), 4, scalar_term=True)
    prod = ref.chen_combine(s, r, 2, 4, scalar_term=True)
    expected = np.zeros_like(prod)
    expected[0] = 1.0
    np.testing.assert_allclose(prod, expected, atol=1e-12)


@pytest.mark.parametrize("degree", [1, 3, 6])
def test_dimension_one_signature_is_power_series_of_total_increment(rng, backend, degree):
    x = make_path(rng, (3, 10, 1), np.float64, backend)
    out = to_numpy(sigrs.sig(x, degree, scalar_term=True))
    inc = to_numpy(x)[:, -1, 0] - to_numpy(x)[:, 0, 0]
    expected = np.stack([inc ** k / math.factorial(k) for k in range(degree + 1)], axis=-1)
    assert_close(out, expected, F64_RTOL)


@pytest.mark.parametrize("options", OPTION_COMBOS[1:], ids=OPTION_IDS[1:])
@pytest.mark.parametrize("end_time", [1.0, 0.25])
def test_sig_with_transform_flags_equals_sig_of_transformed_path(rng, backend, options, end_time):
    x = make_path(rng, (3, 5, 2), np.float64, backend)
    direct = sigrs.sig(x, 3, end_time=end_time, **options)
    via = sigrs.sig(sigrs.transform_path(x, end_time=end_time, **options), 3)
    assert_close(direct, via, F64_RTOL)


# ---------------------------------------------------------------------------
# edge cases
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", [(0,), (3, 0), (0, 2)])
def test_empty_batch_gives_empty_output_of_right_shape(backend, np_dtype, options, scalar_term,
                                                       batch_shape):
    x = as_backend(np.zeros(batch_shape + (5, 3), dtype=np_dtype), backend)
    out = sigrs.sig(x, 3, scalar_term=scalar_term, **options)
    _check_type_and_dtype(out, x)
    assert tuple(out.shape) == batch_shape + (_sig_len(3, 3, scalar_term=scalar_term, **options),)


@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
@pytest.mark.parametrize("batch_shape", [(), (4,)], ids=["nobatch", "b4"])
def test_length_one_path_has_trivial_signature(rng, backend, np_dtype, options, scalar_term,
                                               batch_shape):
    x = make_path(rng, batch_shape + (1, 3), np_dtype, backend)
    out = sigrs.sig(x, 4, scalar_term=scalar_term, end_time=3.0, **options)
    _check_type_and_dtype(out, x)
    n_out = _sig_len(3, 4, scalar_term=scalar_term, **options)
    expected = np.zeros(batch_shape + (n_out,))
    if scalar_term:
        expected[..., 0] = 1.0
    assert tuple(out.shape) == expected.shape
    np.testing.assert_array_equal(to_numpy(out), expected.astype(np_dtype))


def test_constant_path_has_trivial_signature(backend):
    x = as_backend(np.full((2, 6, 2), 3.25), backend)
    out = to_numpy(sigrs.sig(x, 3, lead_lag=True, scalar_term=True))
    expected = np.zeros_like(out)
    expected[:, 0] = 1.0
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 3)], ids=BATCH_IDS)
def test_degree_zero_gives_empty_output_or_scalar_one(rng, backend, np_dtype, options,
                                                      batch_shape):
    x = make_path(rng, batch_shape + (4, 2), np_dtype, backend)
    out = sigrs.sig(x, 0, **options)
    _check_type_and_dtype(out, x)
    assert tuple(out.shape) == batch_shape + (0,)
    out1 = sigrs.sig(x, 0, scalar_term=True, **options)
    _check_type_and_dtype(out1, x)
    np.testing.assert_array_equal(to_numpy(out1), np.ones(batch_shape + (1,), dtype=np_dtype))


def _strided_numpy_variants(rng):
    base = make_path(rng, (4, 12, 3))
    variants = {
        "every_other_point": base[:, ::2],
        "every_other_batch": base[::2],
        "offset_window": base[1:, 2:, 1:],
        "channel_step": make_path(rng, (4, 7, 6))[:, :, ::2],
        "transposed_view": np.swapaxes(make_path(rng, (4, 3, 7)), -1, -2),
        "fortran_order": np.asfortranarray(base),
        "flipped_time": np.flip(base, axis=1),
        "flipped_channels": np.flip(base, axis=2),
        "flipped_batch": np.flip(base, axis=0),
        "broadcast_batch": np.broadcast_to(base[0], (5, 12, 3)),
        "single_path_transposed": make_path(rng, (3, 9)).T,
    }
    return variants


@pytest.mark.parametrize("variant", [
    "every_other_point", "every_other_batch", "offset_window", "channel_step",
    "transposed_view", "fortran_order", "flipped_time", "flipped_channels", "flipped_batch",
    "broadcast_batch", "single_path_transposed",
])
@pytest.mark.parametrize("options", [OPTION_COMBOS[0], OPTION_COMBOS[3]], ids=["plain", "ll+t"])
def test_non_contiguous_numpy_input_equals_contiguous_copy(rng, variant, options):
    x = _strided_numpy_variants(rng)[variant]
    out = sigrs.sig(x, 3, **options)
    expected = sigrs.sig(np.ascontiguousarray(x), 3, **options)
    np.testing.assert_array_equal(out, expected)
    assert_close(out, ref.sig(x, 3, **options), F64_RTOL)


@pytest.mark.parametrize("variant", ["every_other_point", "transposed_view", "channel_step",
                                     "expanded_batch", "offset_window"])
def test_non_contiguous_torch_input_equals_contiguous_copy(rng, variant):
    pytest.importorskip("torch")
    base = torch.from_numpy(make_path(rng, (4, 12, 6)))
    x = {
        "every_other_point": base[:, ::2],
        "transposed_view": base.transpose(-1, -2)[:, :3, :].transpose(-1, -2),
        "channel_step": base[:, :, ::2],
        "expanded_batch": base[0].expand(3, 12, 6),
        "offset_window": base[1:, 2:, 1:4],
    }[variant]
    assert not x.is_contiguous()
    out = sigrs.sig(x, 3, time_aug=True)
    expected = sigrs.sig(x.contiguous(), 3, time_aug=True)
    assert torch.equal(out, expected)
    assert_close(out, ref.sig(x.numpy(), 3, time_aug=True), F64_RTOL)


@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
def test_n_jobs_values_give_bitwise_identical_results(rng, backend, options):
    x = make_path(rng, (9, 6, 3), np.float64, backend)
    outs = [to_numpy(sigrs.sig(x, 4, n_jobs=j, **options)) for j in (1, -1, -2, 2, 3)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_single_path_equals_batch_of_one(rng, backend):
    x = make_path(rng, (6, 3), np.float64, backend)
    single = to_numpy(sigrs.sig(x, 3, lead_lag=True))
    batched = to_numpy(sigrs.sig(x[None], 3, lead_lag=True))
    np.testing.assert_array_equal(batched[0], single)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim, degree", [(2, 2), (2, 3), (2, 4), (2, 5), (2, 7), (3, 3), (3, 4), (3, 5), (4, 4), (4, 6), (5, 3), (7, 2), (8, 3), (12, 2), (16, 2)])
def test_paths_in_groups_of_lanes_equal_the_same_paths_alone_bit_for_bit(rng, dtype, dim, degree):
    # 9 paths: whole groups of SIMD lanes (4 or 8 paths) and a remainder,
    # which take different kernels; a path's result must not depend on which.
    x = make_path(rng, (9, 21, dim), dtype)
    batched = sigrs.sig(x, degree)
    for b in range(9):
        np.testing.assert_array_equal(batched[b], sigrs.sig(np.ascontiguousarray(x[b]), degree))


def test_batch_entries_are_computed_independently(rng):
    x = make_path(rng, (5, 6, 2))
    batched = sigrs.sig(x, 3, time_aug=True)
    for b in range(5):
        np.testing.assert_array_equal(batched[b], sigrs.sig(np.ascontiguousarray(x[b]), 3,
                                                            time_aug=True))


@pytest.mark.parametrize("length", [2, 3, 50])
def test_sig_matches_reference_for_short_and_longer_paths(rng, length):
    x = make_path(rng, (2, length, 2))
    assert_close(sigrs.sig(x, 4, lead_lag=True, time_aug=True),
                 ref.sig(x, 4, lead_lag=True, time_aug=True), F64_RTOL)


# ---------------------------------------------------------------------------
# transform_path and sig_length
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("end_time", [1.0, 3.0])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=BATCH_IDS)
def test_transform_path_matches_reference(rng, backend, np_dtype, rtol, options, end_time,
                                          batch_shape):
    x = make_path(rng, batch_shape + (4, 2), np_dtype, backend)
    out = sigrs.transform_path(x, end_time=end_time, **options)
    _check_type_and_dtype(out, x)
    expected = ref.transform_path(to_numpy(x).astype(np.float64), end_time=end_time, **options)
    assert tuple(out.shape) == expected.shape
    assert_close(out, expected, rtol)


def test_transform_path_lead_lag_layout_is_lag_then_lead():
    x = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    out = sigrs.transform_path(x, lead_lag=True)
    expected = np.array([
        [1, 10, 1, 10],
        [1, 10, 2, 20],
        [2, 20, 2, 20],
        [2, 20, 4, 40],
        [4, 40, 4, 40],
    ], dtype=float)
    np.testing.assert_array_equal(out, expected)


def test_transform_path_time_channel_is_last_and_even():
    x = np.zeros((3, 4, 1))
    out = sigrs.transform_path(x, time_aug=True, end_time=3.0)
    assert out.shape == (3, 4, 2)
    np.testing.assert_allclose(out[..., -1], np.broadcast_to([0.0, 1.0, 2.0, 3.0], (3, 4)),
                               rtol=0, atol=1e-15)
    out = sigrs.transform_path(x, time_aug=True, lead_lag=True, end_time=3.0)
    assert out.shape == (3, 7, 3)
    np.testing.assert_allclose(out[0, :, -1], np.linspace(0.0, 3.0, 7), rtol=0, atol=1e-15)


def test_transform_path_empty_batch(backend):
    x = as_backend(np.zeros((0, 4, 2)), backend)
    out = sigrs.transform_path(x, time_aug=True, lead_lag=True)
    assert tuple(out.shape) == (0, 7, 5)


def test_transform_path_of_strided_input_equals_contiguous_copy(rng):
    x = np.flip(make_path(rng, (3, 10, 2)), axis=1)[:, ::3]
    np.testing.assert_array_equal(
        sigrs.transform_path(x, time_aug=True, lead_lag=True),
        sigrs.transform_path(np.ascontiguousarray(x), time_aug=True, lead_lag=True),
    )


@pytest.mark.parametrize("dimension", [1, 2, 3, 5])
@pytest.mark.parametrize("degree", [0, 1, 2, 4])
@pytest.mark.parametrize("options", OPTION_COMBOS, ids=OPTION_IDS)
@pytest.mark.parametrize("scalar_term", [False, True])
def test_sig_length_matches_definition(dimension, degree, options, scalar_term):
    expected = ref.sig_length(dimension, degree, scalar_term=scalar_term, **options)
    assert sigrs.sig_length(dimension, degree, scalar_term=scalar_term, **options) == expected


def test_sig_length_matches_actual_output_length(rng):
    x = make_path(rng, (5, 3))
    for options in OPTION_COMBOS:
        for scalar_term in (False, True):
            out = sigrs.sig(x, 3, scalar_term=scalar_term, **options)
            assert out.shape == (sigrs.sig_length(3, 3, scalar_term=scalar_term, **options),)


def test_float32_torch_output_is_float32_and_close_to_float64(rng):
    pytest.importorskip("torch")
    x64 = torch.from_numpy(make_path(rng, (3, 8, 3)))
    out32 = sigrs.sig(x64.float(), 4, lead_lag=True)
    out64 = sigrs.sig(x64, 4, lead_lag=True)
    assert out32.dtype == torch_dtype(np.float32)
    assert_close(out32, out64, rtol_for(torch.float32))


# ---------------------------------------------------------------------------
# robustness: larger sizes, unusual memory layouts, concurrency
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape,degree", [((2, 6, 2), 9), ((2, 5, 6), 3), ((1, 400, 2), 4),
                                          ((1, 150, 3), 5)],
                         ids=["deg9", "dim6", "len400", "len150-deg5"])
@pytest.mark.parametrize("options", [OPTION_COMBOS[0], OPTION_COMBOS[3]], ids=["plain", "ll+t"])
def test_sig_matches_reference_for_high_degree_wide_and_long_paths(rng, np_dtype, rtol, shape,
                                                                    degree, options):
    x = make_path(rng, shape, np_dtype)
    assert_close(sigrs.sig(x, degree, **options),
                 ref.sig(x.astype(np.float64), degree, **options), rtol)


@pytest.mark.parametrize("dimension,degree", [(5, 4), (6, 3), (7, 3), (10, 3), (12, 2), (16, 2), (20, 2)])
@pytest.mark.parametrize("length", [2, 9, 10, 18], ids=["1step", "8steps", "9steps", "17steps"])
@pytest.mark.parametrize("scalar_term", [False, True], ids=["noscalar", "scalar"])
def test_one_path_builds_its_top_level_in_the_output(rng, np_dtype, rtol, dimension, degree, length,
                                                     scalar_term):
    # One short path goes through the per-path kernel, whose top level is
    # written straight into the output (never zeroed first): by whole blocks
    # of 8 steps, a partial block, or both, at row widths that are and are
    # not whole vectors.
    x = make_path(rng, (1, length, dimension), np_dtype)
    got = sigrs.sig(x, degree, scalar_term=scalar_term)
    assert_close(got, ref.sig(x.astype(np.float64), degree, scalar_term=scalar_term), rtol)


def test_unaligned_numpy_input_equals_aligned_copy(rng):
    x = make_path(rng, (2, 5, 3))
    buf = np.zeros(x.size * x.itemsize + 1, dtype=np.uint8)
    unaligned = buf[1:].view(np.float64).reshape(x.shape)
    unaligned[...] = x
    assert not unaligned.flags.aligned and unaligned.flags.c_contiguous
    np.testing.assert_array_equal(sigrs.sig(unaligned, 3, lead_lag=True),
                                  sigrs.sig(x, 3, lead_lag=True))


@pytest.mark.parametrize("np_type", [">f8", ">f4"])
def test_non_native_byte_order_input_equals_native(rng, np_type):
    x = make_path(rng, (2, 5, 3)).astype(np_type)
    native = x.astype(x.dtype.newbyteorder("="))
    out = sigrs.sig(x, 3)
    assert_close(out, sigrs.sig(native, 3), F64_RTOL)
    assert_close(out, ref.sig(native.astype(np.float64), 3), rtol_for(native.dtype))


def test_large_batch_is_bitwise_identical_for_all_n_jobs(rng):
    x = make_path(rng, (65, 12, 3))
    outs = [sigrs.sig(x, 4, time_aug=True, n_jobs=j) for j in (1, -1, -2, 2, 7)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    w = rng.standard_normal(outs[0].shape)
    grads = [sigrs.sig_backprop(x, outs[0], w, 4, time_aug=True, n_jobs=j)
             for j in (1, -1, -2, 2, 7)]
    for g in grads[1:]:
        np.testing.assert_array_equal(g, grads[0])


def test_concurrent_calls_from_python_threads_agree(rng):
    import threading

    x = make_path(rng, (16, 20, 3))
    expected = sigrs.sig(x, 4, lead_lag=True, n_jobs=1)
    results = [None] * 6
    errors = []

    def work(i):
        try:
            results[i] = sigrs.sig(x, 4, lead_lag=True)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for r in results:
        np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize("end_time", [1.0, 2.0])
def test_time_only_signature_of_zero_dimensional_path_is_power_series_of_end_time(end_time):
    x = np.zeros((2, 5, 0))
    out = sigrs.sig(x, 4, time_aug=True, end_time=end_time)
    expected = np.array([end_time ** k / math.factorial(k) for k in range(1, 5)])
    assert_close(out, np.broadcast_to(expected, (2, 4)), F64_RTOL)
    assert sigrs.sig(x, 3).shape == (2, 0)


def test_torch_input_works_under_inference_mode(rng):
    pytest.importorskip("torch")
    x = torch.from_numpy(make_path(rng, (2, 5, 2)))
    with torch.inference_mode():
        out = sigrs.sig(x, 3, time_aug=True)
    assert_close(out, ref.sig(x.numpy(), 3, time_aug=True), F64_RTOL)


def _sig_in_forked_child(path):
    return sigrs.sig(path, 3, n_jobs=2)


def test_thread_pool_works_in_forked_children(rng):
    # DataLoader workers are forked: a child must not wait on its parent's
    # pool threads, which do not exist in the child.
    import multiprocessing

    path = rng.standard_normal((64, 200, 3))
    expected = sigrs.sig(path, 3, n_jobs=2)  # the parent builds its pool first
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_sig_in_forked_child, (path,)).get(timeout=120)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("np_dtype, rtol", [(np.float64, 1e-11), (np.float32, 1e-4)])
def test_long_single_path_split_over_threads_matches_serial(rng, np_dtype, rtol):
    # With fewer paths than threads a path is cut into pieces joined by Chen's
    # identity; the result equals the serial one up to rounding.
    path = (rng.standard_normal((2000, 3)) * 0.05).cumsum(axis=0).astype(np_dtype)
    serial = sigrs.sig(path, 4, n_jobs=1)
    split = sigrs.sig(path, 4, n_jobs=4)
    np.testing.assert_allclose(split, serial, rtol=rtol, atol=rtol * np.abs(serial).max())
    np.testing.assert_allclose(serial, ref.sig(path.astype(np.float64), 4), rtol=rtol, atol=rtol * np.abs(serial).max())
