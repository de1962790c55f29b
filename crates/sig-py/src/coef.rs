//! Signature coefficients at chosen words (`sig_core::coef`).

use pyo3::prelude::*;
use sig_core::coef::{self, WordList};
use sig_core::PathTransform;

use crate::arrays::{add_functions, input, numbers, numbers_mut, output, path_shape, with_dtype};
use crate::error::enter;
use crate::records::record;

record! {
    /// `sigrs._options.CoefOptions`, read by position: the words as their
    /// letters end to end and their lengths.
    CoefArgs = "CoefOptions" {
        letters: Vec<usize>,
        lengths: Vec<usize>,
        time_aug: bool,
        lead_lag: bool,
        end_time: f64,
        n_jobs: i64,
    }
}

impl CoefArgs {
    fn transform(&self) -> PathTransform {
        PathTransform { time_aug: self.time_aug, lead_lag: self.lead_lag, end_time: self.end_time }
    }

    fn words(&self, dim: usize) -> sig_core::Result<WordList> {
        let mut words = Vec::with_capacity(self.lengths.len());
        let mut at = 0;
        for &k in &self.lengths {
            let word = self.letters.get(at..at + k).ok_or_else(|| sig_core::SigError::invalid("lengths", "lengths that add up to the letters", k))?;
            words.push(word.to_vec());
            at += k;
        }
        WordList::new(&words, self.transform().out_dim(dim))
    }
}

/// Coefficients of `path` `(B, L, d)` at the options' words (letters of the
/// transformed path) into `out` `(B, n)`; with `prefixes`, of every prefix too.
#[pyfunction]
#[pyo3(signature = (path, out, prefixes, options))]
pub fn sig_coef<'py>(py: Python<'py>, path: &Bound<'py, PyAny>, out: &Bound<'py, PyAny>, prefixes: bool, options: CoefArgs) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (p, mut o) = (input::<T>(path, "path")?, output::<T>(out, "out")?);
        let shape = path_shape(&p, "path")?;
        let (p, o) = (numbers(&p, "path")?, numbers_mut(&mut o, "out")?);
        enter(py, || coef::sig_coef(p, shape, options.transform(), &options.words(shape.dim)?, prefixes, options.n_jobs, o))
    })
}

/// Gradient through [`sig_coef`] from the `prefixes=True` coefficients
/// `coefs` and `derivs` = dF/d(coefs), into `out` `(B, L, d)`.
#[pyfunction]
#[pyo3(signature = (path, coefs, derivs, out, options))]
pub fn sig_coef_backprop<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    coefs: &Bound<'py, PyAny>,
    derivs: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    options: CoefArgs,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (p, c, g, mut o) = (input::<T>(path, "path")?, input::<T>(coefs, "coefs")?, input::<T>(derivs, "derivs")?, output::<T>(out, "out")?);
        let shape = path_shape(&p, "path")?;
        let (p, c, g, o) = (numbers(&p, "path")?, numbers(&c, "coefs")?, numbers(&g, "derivs")?, numbers_mut(&mut o, "out")?);
        enter(py, || coef::sig_coef_backprop(p, shape, options.transform(), &options.words(shape.dim)?, c, g, options.n_jobs, o))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, sig_coef, sig_coef_backprop)
}
