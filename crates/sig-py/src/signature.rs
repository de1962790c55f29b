//! Signatures and their gradients (`sig_core::signature`).

use pyo3::prelude::*;
use sig_core::{PathTransform, SigOptions};

use crate::arrays::{add_functions, input, numbers, numbers_mut, optional_input, optional_output, output, path_shape, with_dtype};
use crate::error::enter;
use crate::records::record;

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
        enter(py, || sig_core::sig_with(paths, shape, options.degree, &opts, options.n_jobs, out))
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
        enter(py, || sig_core::sig_backprop_with(paths, shape, options.degree, &opts, sigs, grads, options.n_jobs, out, initial_out))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, sig, sig_backprop)
}
