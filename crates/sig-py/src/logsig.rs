//! Log-signatures and the Lie bases they are written in
//! (`sig_core::logsig`, `sig_core::lyndon`, `sig_core::hall`).
//!
//! `method` is the core's code: 0 expanded, 1 Lyndon words, 2 Lyndon basis,
//! 4 Hall basis (the Python layer maps the public names onto these).

use pyo3::prelude::*;
use sig_core::hall::HallTree;
use sig_core::logsig::{self, LogSigMethod};

use crate::arrays::{input, numbers, numbers_mut, output, with_dtype};
use crate::error::enter;

type Array<'a, 'py> = &'a Bound<'py, PyAny>;

/// Log-signatures of signatures `sig` (`(..., n)`, flat) into `out`.
#[pyfunction]
#[pyo3(signature = (sig, out, dimension, degree, method, scalar_term, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_to_log_sig<'py>(py: Python<'py>, sig: Array<'_, 'py>, out: Array<'_, 'py>, dimension: usize, degree: usize, method: i64, scalar_term: bool, n_jobs: i64) -> PyResult<()> {
    with_dtype!(sig, "sig", |T| {
        let (s, mut o) = (input::<T>(sig, "sig")?, output::<T>(out, "out")?);
        let (s, o) = (numbers(&s, "sig")?, numbers_mut(&mut o, "out")?);
        enter(py, || logsig::sig_to_log_sig(s, dimension, degree, scalar_term, LogSigMethod::from_index(method)?, n_jobs, o))
    })
}

/// Gradient through [`sig_to_log_sig`]: dF/d(sig) into `out` from `derivs` = dF/d(log-signature).
#[pyfunction]
#[pyo3(signature = (sig, derivs, out, dimension, degree, method, scalar_term, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_to_log_sig_backprop<'py>(
    py: Python<'py>,
    sig: Array<'_, 'py>,
    derivs: Array<'_, 'py>,
    out: Array<'_, 'py>,
    dimension: usize,
    degree: usize,
    method: i64,
    scalar_term: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(sig, "sig", |T| {
        let (s, g, mut o) = (input::<T>(sig, "sig")?, input::<T>(derivs, "derivs")?, output::<T>(out, "out")?);
        let (s, g, o) = (numbers(&s, "sig")?, numbers(&g, "derivs")?, numbers_mut(&mut o, "out")?);
        enter(py, || logsig::sig_to_log_sig_backprop(s, g, dimension, degree, scalar_term, LogSigMethod::from_index(method)?, n_jobs, o))
    })
}

/// Signatures `exp(L)` of log-signatures `log_sig` into `out`.
#[pyfunction]
#[pyo3(signature = (log_sig, out, dimension, degree, method, scalar_term, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn logsig_to_sig<'py>(py: Python<'py>, log_sig: Array<'_, 'py>, out: Array<'_, 'py>, dimension: usize, degree: usize, method: i64, scalar_term: bool, n_jobs: i64) -> PyResult<()> {
    with_dtype!(log_sig, "log_sig", |T| {
        let (l, mut o) = (input::<T>(log_sig, "log_sig")?, output::<T>(out, "out")?);
        let (l, o) = (numbers(&l, "log_sig")?, numbers_mut(&mut o, "out")?);
        enter(py, || logsig::logsig_to_sig(l, dimension, degree, LogSigMethod::from_index(method)?, scalar_term, n_jobs, o))
    })
}

/// Gradient through [`logsig_to_sig`]: dF/d(log_sig) into `out` from `derivs` = dF/d(sig).
#[pyfunction]
#[pyo3(signature = (log_sig, derivs, out, dimension, degree, method, scalar_term, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn logsig_to_sig_backprop<'py>(
    py: Python<'py>,
    log_sig: Array<'_, 'py>,
    derivs: Array<'_, 'py>,
    out: Array<'_, 'py>,
    dimension: usize,
    degree: usize,
    method: i64,
    scalar_term: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(log_sig, "log_sig", |T| {
        let (l, g, mut o) = (input::<T>(log_sig, "log_sig")?, input::<T>(derivs, "derivs")?, output::<T>(out, "out")?);
        let (l, g, o) = (numbers(&l, "log_sig")?, numbers(&g, "derivs")?, numbers_mut(&mut o, "out")?);
        enter(py, || logsig::logsig_to_sig_backprop(l, g, dimension, degree, LogSigMethod::from_index(method)?, scalar_term, n_jobs, o))
    })
}

/// Length of a log-signature for `method` (building the method's tables on first use).
#[pyfunction]
#[pyo3(signature = (dimension, degree, method, scalar_term))]
pub fn log_sig_length(py: Python<'_>, dimension: usize, degree: usize, method: i64, scalar_term: bool) -> PyResult<usize> {
    enter(py, || logsig::log_sig_length(dimension, degree, LogSigMethod::from_index(method)?, scalar_term))
}

/// Whether `word` is a Lyndon word.
#[pyfunction]
#[pyo3(signature = (word))]
pub fn is_lyndon(py: Python<'_>, word: Vec<usize>) -> PyResult<bool> {
    enter(py, || Ok::<_, sig_core::SigError>(sig_core::lyndon::is_lyndon(&word)))
}

/// The Lyndon words of length `1..=degree`, by length then lexicographically.
#[pyfunction]
#[pyo3(signature = (dimension, degree))]
pub fn lyndon_words(py: Python<'_>, dimension: usize, degree: usize) -> PyResult<Vec<Vec<usize>>> {
    enter(py, || Ok::<_, sig_core::SigError>(sig_core::lyndon::lyndon_basis(dimension, degree)?.words().to_vec()))
}

/// The standard bracketing of each Lyndon word: `(u, v)` (positions in
/// `lyndon_words`) for `[P_u, P_v]`, `None` for a letter.
#[pyfunction]
#[pyo3(signature = (dimension, degree))]
pub fn lyndon_brackets(py: Python<'_>, dimension: usize, degree: usize) -> PyResult<Vec<Option<(usize, usize)>>> {
    enter(py, || Ok::<_, sig_core::SigError>(sig_core::lyndon::lyndon_basis(dimension, degree)?.standard_factors().to_vec()))
}

/// `[(w, u, c)]`: Lyndon word `u` has coefficient `c != 0` in the expansion
/// of `P_w` (`u > w`, positions in `lyndon_words`), by `u` then `w`.
#[pyfunction]
#[pyo3(signature = (dimension, degree))]
pub fn lyndon_triangle(py: Python<'_>, dimension: usize, degree: usize) -> PyResult<Vec<(usize, usize, i64)>> {
    enter(py, || Ok::<_, sig_core::SigError>(sig_core::lyndon::lyndon_basis(dimension, degree)?.triangle().collect()))
}

/// The Hall basis in iisignature's order: `None` for a letter (element
/// `i < dimension` is letter `i`), `(left, right)` (numbers of earlier
/// elements) for a bracket.
#[pyfunction]
#[pyo3(signature = (dimension, degree))]
pub fn hall_basis(py: Python<'_>, dimension: usize, degree: usize) -> PyResult<Vec<Option<(usize, usize)>>> {
    enter(py, || {
        let basis = sig_core::hall::hall_basis(dimension, degree)?;
        let trees = basis.trees().iter().map(|t| match *t {
            HallTree::Letter(_) => None,
            HallTree::Bracket(u, v) => Some((u, v)),
        });
        Ok::<_, sig_core::SigError>(trees.collect())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sig_to_log_sig, m)?)?;
    m.add_function(wrap_pyfunction!(sig_to_log_sig_backprop, m)?)?;
    m.add_function(wrap_pyfunction!(logsig_to_sig, m)?)?;
    m.add_function(wrap_pyfunction!(logsig_to_sig_backprop, m)?)?;
    m.add_function(wrap_pyfunction!(log_sig_length, m)?)?;
    m.add_function(wrap_pyfunction!(is_lyndon, m)?)?;
    m.add_function(wrap_pyfunction!(lyndon_words, m)?)?;
    m.add_function(wrap_pyfunction!(lyndon_brackets, m)?)?;
    m.add_function(wrap_pyfunction!(lyndon_triangle, m)?)?;
    m.add_function(wrap_pyfunction!(hall_basis, m)?)?;
    Ok(())
}
