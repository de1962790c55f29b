//! Time augmentation and lead-lag, materialised (`sig_core::transform`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sig_core::{PathShape, PathTransform};

use crate::arrays::{add_functions, dims_mut, input, numbers, numbers_mut, output, path_shape, with_dtype};
use crate::error::enter;
use crate::records::record;

record! {
    /// `sigrs._options.TransformOptions`, read by position.
    TransformArgs = "TransformOptions" {
        time_aug: bool,
        lead_lag: bool,
        end_time: f64,
        n_jobs: i64,
    }
}

impl TransformArgs {
    pub fn transform(&self) -> PathTransform {
        PathTransform { time_aug: self.time_aug, lead_lag: self.lead_lag, end_time: self.end_time }
    }
}

/// The transformed paths of `path` `(B, L, d)` into `out` `(B, L', d')`.
#[pyfunction]
#[pyo3(signature = (path, out, options))]
pub fn transform_path<'py>(py: Python<'py>, path: &Bound<'py, PyAny>, out: &Bound<'py, PyAny>, options: TransformArgs) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (path, mut out) = (input::<T>(path, "path")?, output::<T>(out, "out")?);
        let shape = path_shape(&path, "path")?;
        let (p, o) = (numbers(&path, "path")?, numbers_mut(&mut out, "out")?);
        enter(py, || sig_core::transform_path(p, shape, options.transform(), options.n_jobs, o))
    })
}

/// Gradient through [`transform_path`]: `derivs` `(B, L', d')` into `out` `(B, L, d)`.
#[pyfunction]
#[pyo3(signature = (derivs, out, options))]
pub fn transform_path_backprop<'py>(py: Python<'py>, derivs: &Bound<'py, PyAny>, out: &Bound<'py, PyAny>, options: TransformArgs) -> PyResult<()> {
    with_dtype!(derivs, "derivs", |T| {
        let (derivs, mut out) = (input::<T>(derivs, "derivs")?, output::<T>(out, "out")?);
        let shape = match *dims_mut(&out) {
            [batch, length, dim] => PathShape::new(batch, length, dim),
            ref other => return Err(PyValueError::new_err(format!("out must have shape (batch, length, dim), got {other:?}"))),
        };
        let (g, o) = (numbers(&derivs, "derivs")?, numbers_mut(&mut out, "out")?);
        enter(py, || sig_core::transform_path_backprop(g, shape, options.transform(), options.n_jobs, o))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, transform_path, transform_path_backprop)
}
