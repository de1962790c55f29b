//! Signatures and their gradients (`sig_core::signature`).

use pyo3::prelude::*;
use sig_core::{PathTransform, SigOptions};

use crate::arrays::{input, numbers, numbers_mut, optional_input, optional_output, output, path_shape, with_dtype};
use crate::error::enter;

/// Signatures of `path` `(B, L, d)` into `out` (`(B, n)`, or `(B, L - 1, n)`
/// with `stream`), continued from `initial` `(B, n)` when given.
#[pyfunction]
#[pyo3(signature = (path, out, initial, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    initial: Option<&Bound<'py, PyAny>>,
    degree: usize,
    time_aug: bool,
    lead_lag: bool,
    end_time: f64,
    scalar_term: bool,
    stream: bool,
    inverse: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let path = input::<T>(path, "path")?;
        let initial = optional_input::<T>(initial, "initial")?;
        let mut out = output::<T>(out, "out")?;
        let shape = path_shape(&path, "path")?;
        let initial = initial.as_ref().map(|a| numbers(a, "initial")).transpose()?;
        let transform = PathTransform { time_aug, lead_lag, end_time };
        let opts = SigOptions { transform, scalar_term, stream, inverse, initial };
        let (paths, out) = (numbers(&path, "path")?, numbers_mut(&mut out, "out")?);
        enter(py, || sig_core::sig_with(paths, shape, degree, &opts, n_jobs, out))
    })
}

/// Gradient through [`sig`]: dF/d(path) into `out` `(B, L, d)` and, when
/// `initial` is given, dF/d(initial) into `initial_out`.
#[pyfunction]
#[pyo3(signature = (path, sig, sig_derivs, out, initial, initial_out, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_backprop<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    sig: &Bound<'py, PyAny>,
    sig_derivs: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    initial: Option<&Bound<'py, PyAny>>,
    initial_out: Option<&Bound<'py, PyAny>>,
    degree: usize,
    time_aug: bool,
    lead_lag: bool,
    end_time: f64,
    scalar_term: bool,
    stream: bool,
    inverse: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let path = input::<T>(path, "path")?;
        let (sig, sig_derivs) = (input::<T>(sig, "sig")?, input::<T>(sig_derivs, "sig_derivs")?);
        let initial = optional_input::<T>(initial, "initial")?;
        let mut out = output::<T>(out, "out")?;
        let mut initial_out = optional_output::<T>(initial_out, "initial_out")?;
        let shape = path_shape(&path, "path")?;
        let initial = initial.as_ref().map(|a| numbers(a, "initial")).transpose()?;
        let transform = PathTransform { time_aug, lead_lag, end_time };
        let opts = SigOptions { transform, scalar_term, stream, inverse, initial };
        let (paths, sigs, grads) = (numbers(&path, "path")?, numbers(&sig, "sig")?, numbers(&sig_derivs, "sig_derivs")?);
        let out = numbers_mut(&mut out, "out")?;
        let initial_out = initial_out.as_mut().map(|a| numbers_mut(a, "initial_out")).transpose()?;
        enter(py, || sig_core::sig_backprop_with(paths, shape, degree, &opts, sigs, grads, n_jobs, out, initial_out))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sig, m)?)?;
    m.add_function(wrap_pyfunction!(sig_backprop, m)?)?;
    Ok(())
}
