//! Log-signatures and the Lie bases they are written in
//! (`sig_core::logsig`, `sig_core::lyndon`, `sig_core::hall`).
//!
//! `method` is the core's code: 0 expanded, 1 Lyndon words, 2 Lyndon basis,
//! 4 Hall basis (the Python layer maps the public names onto these).

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use sig_core::hall::HallTree;
use sig_core::logsig::{self, LogSigMethod};
use sig_core::logsig_algebra;

use crate::arrays::{add_functions, flat_op};
use crate::error::enter;
use crate::records::record;

record! {
    /// `sigrs._options.LogSigOptions`, read by position.
    LogSigArgs = "LogSigOptions" {
        dimension: usize,
        degree: usize,
        method: i64,
        scalar_term: bool,
        n_jobs: i64,
    }
}

flat_op! {
    /// Log-signatures of signatures `sig` (`(..., n)`, flat) into `out`.
    fn sig_to_log_sig(sig => out; options: LogSigArgs) {
        logsig::sig_to_log_sig(sig, options.dimension, options.degree, options.scalar_term, LogSigMethod::from_index(options.method)?, options.n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`sig_to_log_sig`]: dF/d(sig) into `out` from `derivs` = dF/d(log-signature).
    fn sig_to_log_sig_backprop(sig, derivs => out; options: LogSigArgs) {
        logsig::sig_to_log_sig_backprop(sig, derivs, options.dimension, options.degree, options.scalar_term, LogSigMethod::from_index(options.method)?, options.n_jobs, out)
    }
}

flat_op! {
    /// Signatures `exp(L)` of log-signatures `log_sig` into `out`.
    fn logsig_to_sig(log_sig => out; options: LogSigArgs) {
        logsig::logsig_to_sig(log_sig, options.dimension, options.degree, LogSigMethod::from_index(options.method)?, options.scalar_term, options.n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`logsig_to_sig`]: dF/d(log_sig) into `out` from `derivs` = dF/d(sig).
    fn logsig_to_sig_backprop(log_sig, derivs => out; options: LogSigArgs) {
        logsig::logsig_to_sig_backprop(log_sig, derivs, options.dimension, options.degree, LogSigMethod::from_index(options.method)?, options.scalar_term, options.n_jobs, out)
    }
}

flat_op! {
    /// `out = BCH(log_sig1, log_sig2)` in the Lyndon basis, pairwise (`sig_core::logsig_algebra`).
    fn log_sig_combine(log_sig1, log_sig2 => out; options: LogSigArgs) {
        logsig_algebra::log_sig_combine(log_sig1, log_sig2, options.dimension, options.degree, options.n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`log_sig_combine`] into `out1` and `out2`.
    fn log_sig_combine_backprop(deriv, ls1, ls2 => out1, out2; options: LogSigArgs) {
        logsig_algebra::log_sig_combine_backprop(ls1, ls2, deriv, options.dimension, options.degree, options.n_jobs, out1, out2)
    }
}

flat_op! {
    /// `out = BCH(log_sig, displacement)` in the Lyndon basis.
    fn log_sig_join(log_sig, displacement => out; options: LogSigArgs) {
        logsig_algebra::log_sig_join(log_sig, displacement, options.dimension, options.degree, options.n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`log_sig_join`] into `out_log_sig` and `out_displacement`.
    fn log_sig_join_backprop(d_out, log_sig, displacement => out_log_sig, out_displacement; options: LogSigArgs) {
        logsig_algebra::log_sig_join_backprop(log_sig, displacement, d_out, options.dimension, options.degree, options.n_jobs, out_log_sig, out_displacement)
    }
}

/// Length of a log-signature for `method` (Witt's formula: builds no table).
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

/// The Lyndon words of length `1..=degree`, by length then
/// lexicographically, as a list of tuples (made from Witt's count, fallibly;
/// no basis is built).
#[pyfunction]
#[pyo3(signature = (dimension, degree))]
pub fn lyndon_words<'py>(py: Python<'py>, dimension: usize, degree: usize) -> PyResult<Bound<'py, PyList>> {
    let words = enter(py, || sig_core::lyndon::lyndon_words(dimension, degree, 1))?;
    let list = PyList::empty(py);
    for word in words.iter() {
        list.append(PyTuple::new(py, word)?)?;
    }
    Ok(list)
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
    add_functions!(
        m,
        sig_to_log_sig,
        sig_to_log_sig_backprop,
        logsig_to_sig,
        logsig_to_sig_backprop,
        log_sig_combine,
        log_sig_combine_backprop,
        log_sig_join,
        log_sig_join_backprop,
        log_sig_length,
        is_lyndon,
        lyndon_words,
        lyndon_brackets,
        lyndon_triangle,
        hall_basis,
    )
}
