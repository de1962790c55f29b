//! Time augmentation and lead-lag, materialised (`sig_core::transform`).

use pyo3::prelude::*;
use sig_core::{PathShape, PathTransform};

use crate::arrays::{dims_mut, input, numbers, numbers_mut, output, path_shape, with_dtype};
use crate::error::enter;

/// The transformed paths of `path` `(B, L, d)` into `out` `(B, L', d')`.
#[pyfunction]
#[pyo3(signature = (path, out, time_aug, lead_lag, end_time, n_jobs))]
pub fn transform_path<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    time_aug: bool,
    lead_lag: bool,
    end_time: f64,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let path = input::<T>(path, "path")?;
        let mut out = output::<T>(out, "out")?;
        let shape = path_shape(&path, "path")?;
        let transform = PathTransform { time_aug, lead_lag, end_time };
        let (p, o) = (numbers(&path, "path")?, numbers_mut(&mut out, "out")?);
        enter(py, || sig_core::transform_path(p, shape, transform, n_jobs, o))
    })
}

/// Gradient through [`transform_path`]: `derivs` `(B, L', d')` into `out` `(B, L, d)`.
#[pyfunction]
#[pyo3(signature = (derivs, out, time_aug, lead_lag, end_time, n_jobs))]
pub fn transform_path_backprop<'py>(
    py: Python<'py>,
    derivs: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    time_aug: bool,
    lead_lag: bool,
    end_time: f64,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(derivs, "derivs", |T| {
        let derivs = input::<T>(derivs, "derivs")?;
        let mut out = output::<T>(out, "out")?;
        let shape = match *dims_mut(&out) {
            [batch, length, dim] => PathShape::new(batch, length, dim),
            ref other => return Err(pyo3::exceptions::PyValueError::new_err(format!("out must have shape (batch, length, dim), got {other:?}"))),
        };
        let transform = PathTransform { time_aug, lead_lag, end_time };
        let (g, o) = (numbers(&derivs, "derivs")?, numbers_mut(&mut out, "out")?);
        enter(py, || sig_core::transform_path_backprop(g, shape, transform, n_jobs, o))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(transform_path, m)?)?;
    m.add_function(wrap_pyfunction!(transform_path_backprop, m)?)?;
    Ok(())
}
