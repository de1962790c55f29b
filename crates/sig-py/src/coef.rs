//! Signature coefficients at chosen words (`sig_core::coef`).

use pyo3::prelude::*;
use sig_core::coef::{self, WordList};
use sig_core::PathTransform;

use crate::arrays::{input, numbers, numbers_mut, output, path_shape, with_dtype};
use crate::error::enter;

type Array<'a, 'py> = &'a Bound<'py, PyAny>;

/// Coefficients of `path` `(B, L, d)` at `words` (letters of the transformed
/// path) into `out` `(B, n)`; with `prefixes`, of every prefix too.
#[pyfunction]
#[pyo3(signature = (path, words, out, time_aug, lead_lag, end_time, prefixes, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_coef<'py>(
    py: Python<'py>,
    path: Array<'_, 'py>,
    words: Vec<Vec<usize>>,
    out: Array<'_, 'py>,
    time_aug: bool,
    lead_lag: bool,
    end_time: f64,
    prefixes: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (p, mut o) = (input::<T>(path, "path")?, output::<T>(out, "out")?);
        let shape = path_shape(&p, "path")?;
        let transform = PathTransform { time_aug, lead_lag, end_time };
        let (p, o) = (numbers(&p, "path")?, numbers_mut(&mut o, "out")?);
        enter(py, || {
            let words = WordList::new(&words, transform.out_dim(shape.dim))?;
            coef::sig_coef(p, shape, transform, &words, prefixes, n_jobs, o)
        })
    })
}

/// Gradient through [`sig_coef`] from the `prefixes=True` coefficients
/// `coefs` and `derivs` = dF/d(coefs), into `out` `(B, L, d)`.
#[pyfunction]
#[pyo3(signature = (path, words, coefs, derivs, out, time_aug, lead_lag, end_time, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_coef_backprop<'py>(
    py: Python<'py>,
    path: Array<'_, 'py>,
    words: Vec<Vec<usize>>,
    coefs: Array<'_, 'py>,
    derivs: Array<'_, 'py>,
    out: Array<'_, 'py>,
    time_aug: bool,
    lead_lag: bool,
    end_time: f64,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (p, c, g, mut o) = (input::<T>(path, "path")?, input::<T>(coefs, "coefs")?, input::<T>(derivs, "derivs")?, output::<T>(out, "out")?);
        let shape = path_shape(&p, "path")?;
        let transform = PathTransform { time_aug, lead_lag, end_time };
        let (p, c, g, o) = (numbers(&p, "path")?, numbers(&c, "coefs")?, numbers(&g, "derivs")?, numbers_mut(&mut o, "out")?);
        enter(py, || {
            let words = WordList::new(&words, transform.out_dim(shape.dim))?;
            coef::sig_coef_backprop(p, shape, transform, &words, c, g, n_jobs, o)
        })
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sig_coef, m)?)?;
    m.add_function(wrap_pyfunction!(sig_coef_backprop, m)?)?;
    Ok(())
}
