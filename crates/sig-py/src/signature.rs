//! Signatures and their gradients (`sig_core::signature`).

use numpy::PyUntypedArrayMethods;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sig_core::{Correction, CorrectionLayout, PathTransform, SigOptions};

use crate::arrays::{
    add_functions, input, new_output, new_output_numbers, numbers, numbers_mut, optional_input, optional_output, output, path_shape, plain_input,
    plain_numbers, with_dtype, Dtype, Real,
};
use crate::error::{enter_sized, INLINE_WORK};
use crate::records::{plain_bool, plain_float, plain_int, plain_n_jobs, record};

record! {
    /// `sigrs._options.SigOptions`, read by position.
    SigArgs = "SigOptions" {
        degree: usize,
        time_aug: bool,
        lead_lag: bool,
        end_time: f64,
        scalar_term: bool,
        stream: bool,
        inverse: bool,
        n_jobs: i64,
    }
}

impl SigArgs {
    fn core<'a, T>(&self, initial: Option<&'a [T]>) -> SigOptions<'a, T> {
        let transform = PathTransform { time_aug: self.time_aug, lead_lag: self.lead_lag, end_time: self.end_time };
        SigOptions { transform, scalar_term: self.scalar_term, stream: self.stream, inverse: self.inverse, initial }
    }

    /// Multiply-adds of the signatures of `batch` paths of `length` points
    /// whose signatures have `sig_len` terms (one Horner step per increment).
    fn work(&self, batch: usize, length: usize, sig_len: usize) -> usize {
        let steps = if self.lead_lag { 2 * length } else { length };
        batch.saturating_mul(steps).saturating_mul(sig_len)
    }
}

/// Signatures of `path` `(B, L, d)` into `out` (`(B, n)`, or `(B, L - 1, n)`
/// with `stream`), continued from `initial` `(B, n)` when given.
#[pyfunction]
#[pyo3(signature = (path, out, initial, options))]
pub fn sig<'py>(py: Python<'py>, path: &Bound<'py, PyAny>, out: &Bound<'py, PyAny>, initial: Option<&Bound<'py, PyAny>>, options: SigArgs) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (path, initial, mut out) = (input::<T>(path, "path")?, optional_input::<T>(initial, "initial")?, output::<T>(out, "out")?);
        let shape = path_shape(&path, "path")?;
        let opts = options.core(initial.as_ref().map(|a| numbers(a, "initial")).transpose()?);
        let (paths, out) = (numbers(&path, "path")?, numbers_mut(&mut out, "out")?);
        let work = options.work(shape.batch, shape.length, out.len() / shape.batch.max(1));
        enter_sized(py, work, || sig_core::sig_with(paths, shape, options.degree, &opts, options.n_jobs, out))
    })
}

/// Gradient through [`sig`]: dF/d(path) into `out` `(B, L, d)` and, when
/// `initial` is given, dF/d(initial) into `initial_out`.
#[pyfunction]
#[pyo3(signature = (path, sig, sig_derivs, out, initial, initial_out, options))]
#[allow(clippy::too_many_arguments)]
pub fn sig_backprop<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    sig: &Bound<'py, PyAny>,
    sig_derivs: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    initial: Option<&Bound<'py, PyAny>>,
    initial_out: Option<&Bound<'py, PyAny>>,
    options: SigArgs,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (path, sig, sig_derivs) = (input::<T>(path, "path")?, input::<T>(sig, "sig")?, input::<T>(sig_derivs, "sig_derivs")?);
        let initial = optional_input::<T>(initial, "initial")?;
        let (mut out, mut initial_out) = (output::<T>(out, "out")?, optional_output::<T>(initial_out, "initial_out")?);
        let shape = path_shape(&path, "path")?;
        let opts = options.core(initial.as_ref().map(|a| numbers(a, "initial")).transpose()?);
        let (paths, sigs, grads) = (numbers(&path, "path")?, numbers(&sig, "sig")?, numbers(&sig_derivs, "sig_derivs")?);
        let out = numbers_mut(&mut out, "out")?;
        let initial_out = initial_out.as_mut().map(|a| numbers_mut(a, "initial_out")).transpose()?;
        // (the backward pass costs a few forward passes)
        let work = options.work(shape.batch, shape.length, sigs.len() / shape.batch.max(1)).saturating_mul(4);
        enter_sized(py, work, || sig_core::sig_backprop_with(paths, shape, options.degree, &opts, sigs, grads, options.n_jobs, out, initial_out))
    })
}

/// The core's view of a correction array the Python layer shaped by its
/// layout: `(C,)` shared, `(L - 1, C)` per segment, `(B, L - 1, C)` per path.
fn correction_view<'a, T>(values: &'a [T], dims: &[usize]) -> PyResult<Correction<'a, T>> {
    let layout = match dims.len() {
        1 => CorrectionLayout::Shared,
        2 => CorrectionLayout::PerSegment,
        3 => CorrectionLayout::PerPath,
        n => return Err(PyValueError::new_err(format!("correction must have 1, 2 or 3 axes here, got {n}"))),
    };
    Ok(Correction { values, width: dims[dims.len() - 1], layout })
}

/// Signatures with a per-segment correction: `path` `(B, L, d)`,
/// `correction` `(C,)`, `(L - 1, C)` or `(B, L - 1, C)`, into `out` `(B, n)`.
#[pyfunction]
#[pyo3(signature = (path, correction, out, options))]
pub fn sig_corrected<'py>(py: Python<'py>, path: &Bound<'py, PyAny>, correction: &Bound<'py, PyAny>, out: &Bound<'py, PyAny>, options: SigArgs) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (path, correction, mut out) = (input::<T>(path, "path")?, input::<T>(correction, "correction")?, output::<T>(out, "out")?);
        let shape = path_shape(&path, "path")?;
        let correction_dims = correction.shape().to_vec();
        let correction = correction_view(numbers(&correction, "correction")?, &correction_dims)?;
        let (paths, out) = (numbers(&path, "path")?, numbers_mut(&mut out, "out")?);
        let transform = PathTransform { time_aug: options.time_aug, lead_lag: options.lead_lag, end_time: options.end_time };
        // (each step is an exponential, about `degree` products, and a product)
        let work = options.work(shape.batch, shape.length, out.len() / shape.batch.max(1)).saturating_mul(options.degree + 1);
        enter_sized(py, work, || sig_core::sig_corrected(paths, shape, options.degree, transform, &correction, options.scalar_term, options.n_jobs, out))
    })
}

/// Gradient through [`sig_corrected`]: dF/d(path) into `out` `(B, L, d)`
/// and, when `correction_out` (the correction's shape) is given, dF/d(correction).
#[pyfunction]
#[pyo3(signature = (path, correction, sig, sig_derivs, out, correction_out, options))]
#[allow(clippy::too_many_arguments)]
pub fn sig_corrected_backprop<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    correction: &Bound<'py, PyAny>,
    sig: &Bound<'py, PyAny>,
    sig_derivs: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    correction_out: Option<&Bound<'py, PyAny>>,
    options: SigArgs,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (path, correction) = (input::<T>(path, "path")?, input::<T>(correction, "correction")?);
        let (sig, sig_derivs) = (input::<T>(sig, "sig")?, input::<T>(sig_derivs, "sig_derivs")?);
        let (mut out, mut correction_out) = (output::<T>(out, "out")?, optional_output::<T>(correction_out, "correction_out")?);
        let shape = path_shape(&path, "path")?;
        let correction_dims = correction.shape().to_vec();
        let correction = correction_view(numbers(&correction, "correction")?, &correction_dims)?;
        let (paths, sigs, grads) = (numbers(&path, "path")?, numbers(&sig, "sig")?, numbers(&sig_derivs, "sig_derivs")?);
        let out = numbers_mut(&mut out, "out")?;
        let correction_out = correction_out.as_mut().map(|a| numbers_mut(a, "correction_out")).transpose()?;
        let transform = PathTransform { time_aug: options.time_aug, lead_lag: options.lead_lag, end_time: options.end_time };
        // (the backward pass costs a few forward passes)
        let work = options.work(shape.batch, shape.length, sigs.len() / shape.batch.max(1)).saturating_mul(4 * options.degree + 4);
        enter_sized(py, work, || {
            sig_core::sig_corrected_backprop(paths, shape, options.degree, transform, &correction, sigs, grads, options.scalar_term, options.n_jobs, out, correction_out)
        })
    })
}

/// Runs `$body` with `$T` the float type of a [`Dtype`].
macro_rules! with_quick_dtype {
    ($dtype:expr, |$T:ident| $body:expr) => {
        match $dtype {
            Dtype::F64 => {
                type $T = f64;
                $body
            }
            Dtype::F32 => {
                type $T = f32;
                $body
            }
        }
    };
}

/// The quick path of `sigrs.sig` (no basepoint, no initial) on an ndarray:
/// the signatures as a new array, or None when anything is unusual (see
/// [`plain_input`] and [`crate::records::plain_int`]) or the work is not
/// small, and the Python layer then takes the checked path. Tiny calls are
/// what this path is for: one native call checks, allocates and computes,
/// with the GIL held (the work is below [`INLINE_WORK`]).
#[pyfunction]
#[pyo3(signature = (path, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_quick<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    degree: &Bound<'py, PyAny>,
    time_aug: &Bound<'py, PyAny>,
    lead_lag: &Bound<'py, PyAny>,
    end_time: &Bound<'py, PyAny>,
    scalar_term: &Bound<'py, PyAny>,
    stream: &Bound<'py, PyAny>,
    inverse: &Bound<'py, PyAny>,
    n_jobs: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some((array, dtype)) = plain_input(path, 2) else { return Ok(None) };
    let Some(options) = plain_sig_args(degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs) else { return Ok(None) };
    // SAFETY: `plain_input` checked the dtype; the work runs inline, the GIL held.
    match dtype {
        Dtype::F64 => quick_sig(py, unsafe { plain_numbers::<f64>(array) }, array.shape(), &options),
        Dtype::F32 => quick_sig(py, unsafe { plain_numbers::<f32>(array) }, array.shape(), &options),
    }
}

/// [`sig_quick`] for a CPU torch tensor's memory, which the Python layer
/// found C-contiguous, of `shape`, float64 (or float32) as `float64` says,
/// with no autograd to record: the signatures as a new ndarray (for
/// `torch.from_numpy`), or None as for [`sig_quick`]. Reading the memory
/// in place saves `Tensor.numpy()`, which costs more than a tiny signature.
#[pyfunction]
#[pyo3(signature = (data_ptr, shape, float64, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_quick_tensor<'py>(
    py: Python<'py>,
    data_ptr: usize,
    shape: Vec<usize>,
    float64: bool,
    degree: &Bound<'py, PyAny>,
    time_aug: &Bound<'py, PyAny>,
    lead_lag: &Bound<'py, PyAny>,
    end_time: &Bound<'py, PyAny>,
    scalar_term: &Bound<'py, PyAny>,
    stream: &Bound<'py, PyAny>,
    inverse: &Bound<'py, PyAny>,
    n_jobs: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if shape.len() < 2 {
        return Ok(None);
    }
    let Some(options) = plain_sig_args(degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs) else { return Ok(None) };
    let Some(len) = shape.iter().try_fold(1usize, |n, &s| n.checked_mul(s)) else { return Ok(None) };
    if len == 0 || data_ptr == 0 {
        return Ok(None); // (nothing to read: the checked path handles it)
    }
    // SAFETY: the caller passes the data pointer of a live, C-contiguous CPU
    // tensor of this shape and dtype, which it keeps alive across the call;
    // the work runs inline with the GIL held, so no Python code writes it.
    if float64 {
        quick_sig(py, unsafe { std::slice::from_raw_parts(data_ptr as *const f64, len) }, &shape, &options)
    } else {
        quick_sig(py, unsafe { std::slice::from_raw_parts(data_ptr as *const f32, len) }, &shape, &options)
    }
}

/// The quick path of `sigrs.sig_backprop` (no basepoint, no initial) on
/// ndarrays: dF/d(path) as a new array, or None when anything is unusual
/// (an array [`plain_input`] declines, dtypes that differ, shapes that do
/// not fit, options that are not plain) or the work is not small; the
/// Python layer then takes the checked path, whose errors name the problem.
#[pyfunction]
#[pyo3(signature = (path, sig, sig_derivs, degree, time_aug, lead_lag, end_time, stream, inverse, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_backprop_quick<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    sig: &Bound<'py, PyAny>,
    sig_derivs: &Bound<'py, PyAny>,
    degree: &Bound<'py, PyAny>,
    time_aug: &Bound<'py, PyAny>,
    lead_lag: &Bound<'py, PyAny>,
    end_time: &Bound<'py, PyAny>,
    stream: &Bound<'py, PyAny>,
    inverse: &Bound<'py, PyAny>,
    n_jobs: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let (Some((path, dtype)), Some((sig, sig_dtype)), Some((derivs, derivs_dtype))) = (plain_input(path, 2), plain_input(sig, 1), plain_input(sig_derivs, 1))
    else {
        return Ok(None);
    };
    // (scalar_term is read from sig's length below: time_aug stands in for it here)
    let Some(mut options) = plain_sig_args(degree, time_aug, lead_lag, end_time, time_aug, stream, inverse, n_jobs) else { return Ok(None) };
    if sig_dtype != dtype || derivs_dtype != dtype || sig.shape() != derivs.shape() {
        return Ok(None);
    }
    let dims = path.shape();
    let (batch_dims, &[length, dim]) = dims.split_at(dims.len() - 2) else { unreachable!("at least two axes") };
    let d = if options.lead_lag { 2 * dim } else { dim } + usize::from(options.time_aug);
    let Some(n) = sig_core::sig_length(d, options.degree, false) else { return Ok(None) };
    let sig_dims = sig.shape();
    let (sig_lead, &[sig_len]) = sig_dims.split_at(sig_dims.len() - 1) else { unreachable!("at least one axis") };
    options.scalar_term = match sig_len {
        l if l == n => false,
        l if Some(l) == n.checked_add(1) => true,
        _ => return Ok(None),
    };
    let rows = length.saturating_sub(1);
    let shape_fits = if options.stream {
        sig_lead.split_last().is_some_and(|(&r, lead)| r == rows && lead == batch_dims)
    } else {
        sig_lead == batch_dims
    };
    let batch = batch_dims.iter().product::<usize>();
    let work = options.work(batch, length, sig_len.saturating_mul(if options.stream { rows } else { 1 })).saturating_mul(4);
    if !shape_fits || work >= INLINE_WORK {
        return Ok(None);
    }
    let shape = sig_core::PathShape::new(batch, length, dim);
    // SAFETY (for the plain_numbers calls): `plain_input` checked each
    // array's dtype is `dtype`; the work runs inline, the GIL held.
    with_quick_dtype!(dtype, |T| {
        let (paths, sigs, grads) = unsafe { (plain_numbers::<T>(path), plain_numbers::<T>(sig), plain_numbers::<T>(derivs)) };
        let out = new_output::<T>(py, dims.to_vec());
        // SAFETY: `out` was just made and is seen by no one else yet.
        let numbers = unsafe { new_output_numbers(&out) };
        let opts = options.core(None);
        enter_sized(py, 0, || sig_core::sig_backprop_with(paths, shape, options.degree, &opts, sigs, grads, options.n_jobs, numbers, None))?;
        Ok(Some(out.into_any()))
    })
}

/// The options of a quick call, when each is what the checks pass unchanged.
#[allow(clippy::too_many_arguments)]
fn plain_sig_args(
    degree: &Bound<'_, PyAny>,
    time_aug: &Bound<'_, PyAny>,
    lead_lag: &Bound<'_, PyAny>,
    end_time: &Bound<'_, PyAny>,
    scalar_term: &Bound<'_, PyAny>,
    stream: &Bound<'_, PyAny>,
    inverse: &Bound<'_, PyAny>,
    n_jobs: &Bound<'_, PyAny>,
) -> Option<SigArgs> {
    Some(SigArgs {
        // (sigrs._checks.MAX_DEGREE)
        degree: plain_int(degree, 0, i32::MAX as i64)? as usize,
        time_aug: plain_bool(time_aug)?,
        lead_lag: plain_bool(lead_lag)?,
        end_time: plain_float(end_time)?,
        scalar_term: plain_bool(scalar_term)?,
        stream: plain_bool(stream)?,
        inverse: plain_bool(inverse)?,
        n_jobs: plain_n_jobs(n_jobs)?,
    })
}

/// Signatures of the paths `paths` of shape `dims` (`(..., length, dim)`)
/// into a new array of the shape `sigrs.sig` returns, or None when the work
/// is not small (or the signature length overflows).
fn quick_sig<'py, T: Real>(py: Python<'py>, paths: &[T], dims: &[usize], options: &SigArgs) -> PyResult<Option<Bound<'py, PyAny>>> {
    let (batch_dims, &[length, dim]) = dims.split_at(dims.len() - 2) else { unreachable!("at least two axes") };
    let batch = batch_dims.iter().product::<usize>();
    let d = if options.lead_lag { 2 * dim } else { dim } + usize::from(options.time_aug);
    let Some(n) = sig_core::sig_length(d, options.degree, options.scalar_term) else { return Ok(None) };
    let rows = if options.stream { length.saturating_sub(1) } else { 1 };
    if options.work(batch, length, n.saturating_mul(rows)) >= INLINE_WORK {
        return Ok(None);
    }
    let mut out_dims = Vec::with_capacity(dims.len());
    out_dims.extend_from_slice(batch_dims);
    if options.stream {
        out_dims.push(rows);
    }
    out_dims.push(n);
    let out = new_output::<T>(py, out_dims);
    // SAFETY: `out` was just made and is seen by no one else yet.
    let numbers = unsafe { new_output_numbers(&out) };
    let opts = options.core(None);
    let shape = sig_core::PathShape::new(batch, length, dim);
    enter_sized(py, 0, || sig_core::sig_with(paths, shape, options.degree, &opts, options.n_jobs, numbers))?;
    Ok(Some(out.into_any()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, sig, sig_backprop, sig_corrected, sig_corrected_backprop, sig_quick, sig_quick_tensor, sig_backprop_quick)
}
