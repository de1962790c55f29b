//! Operations on signatures: Chen products, joins, linear segments and
//! inverses, with their gradients (`sig_core::algebra`).
//!
//! Arrays of any shape, C-contiguous: the core checks their flat lengths
//! against `(dimension, degree, scalar_term)`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sig_core::algebra;

use crate::arrays::{add_functions, dims, flat_op, input, numbers, numbers_mut, output, with_dtype};
use crate::error::enter;

flat_op! {
    /// `out = sig1 (x) sig2`, pairwise.
    fn sig_combine(sig1, sig2 => out; dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) {
        algebra::sig_combine(sig1, sig2, dimension, degree, scalar_term, n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`sig_combine`] into `out1` and `out2`.
    fn sig_combine_backprop(derivs, sig1, sig2 => out1, out2; dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) {
        algebra::sig_combine_backprop(sig1, sig2, derivs, dimension, degree, scalar_term, n_jobs, out1, out2)
    }
}

/// The product of `sigs` `(B, k, n)` along `k`, into `out` `(B, n)`.
#[pyfunction]
#[pyo3(signature = (sigs, out, dimension, degree, scalar_term, n_jobs))]
pub fn multi_sig_combine<'py>(py: Python<'py>, sigs: &Bound<'py, PyAny>, out: &Bound<'py, PyAny>, dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) -> PyResult<()> {
    with_dtype!(sigs, "sigs", |T| {
        let (s, mut o) = (input::<T>(sigs, "sigs")?, output::<T>(out, "out")?);
        let count = stacked_count(dims(&s))?;
        let (s, o) = (numbers(&s, "sigs")?, numbers_mut(&mut o, "out")?);
        enter(py, || algebra::multi_sig_combine(s, count, dimension, degree, scalar_term, n_jobs, o))
    })
}

/// Gradient through [`multi_sig_combine`] into `out` `(B, k, n)`.
#[pyfunction]
#[pyo3(signature = (derivs, sigs, out, dimension, degree, scalar_term, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn multi_sig_combine_backprop<'py>(
    py: Python<'py>,
    derivs: &Bound<'py, PyAny>,
    sigs: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    dimension: usize,
    degree: usize,
    scalar_term: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(sigs, "sigs", |T| {
        let (g, s, mut o) = (input::<T>(derivs, "derivs")?, input::<T>(sigs, "sigs")?, output::<T>(out, "out")?);
        let count = stacked_count(dims(&s))?;
        let (g, s, o) = (numbers(&g, "derivs")?, numbers(&s, "sigs")?, numbers_mut(&mut o, "out")?);
        enter(py, || algebra::multi_sig_combine_backprop(s, g, count, dimension, degree, scalar_term, n_jobs, o))
    })
}

/// `k` of stacked signatures `(B, k, n)`.
fn stacked_count(shape: &[usize]) -> PyResult<usize> {
    match *shape {
        [_, k, _] => Ok(k),
        ref other => Err(PyValueError::new_err(format!("sigs must have shape (batch, k, sig_len), got {other:?}"))),
    }
}

flat_op! {
    /// `out = sig (x) exp(displacement)` (or `exp(displacement) (x) sig` with `prepend`).
    fn sig_join(sig, displacement => out; dimension: usize, degree: usize, scalar_term: bool, prepend: bool, n_jobs: i64) {
        algebra::sig_join(sig, displacement, dimension, degree, scalar_term, prepend, n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`sig_join`] into `out_sig` and `out_displacement`.
    fn sig_join_backprop(
        derivs, sig, displacement => out_sig, out_displacement;
        dimension: usize, degree: usize, scalar_term: bool, prepend: bool, n_jobs: i64
    ) {
        algebra::sig_join_backprop(sig, displacement, derivs, dimension, degree, scalar_term, prepend, n_jobs, out_sig, out_displacement)
    }
}

flat_op! {
    /// Signatures of straight segments, `exp(displacement)`.
    fn linear_sig(displacement => out; dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) {
        algebra::linear_sig(displacement, dimension, degree, scalar_term, n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`linear_sig`] into `out` (the displacements' shape).
    fn linear_sig_backprop(derivs, displacement => out; dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) {
        algebra::linear_sig_backprop(displacement, derivs, dimension, degree, scalar_term, n_jobs, out)
    }
}

flat_op! {
    /// Inverses (antipodes) of signatures.
    fn sig_inverse(sig => out; dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) {
        algebra::sig_inverse(sig, dimension, degree, scalar_term, n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`sig_inverse`] (the antipode's transpose; level 0 gets 0).
    fn sig_inverse_backprop(derivs => out; dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) {
        algebra::sig_inverse_backprop(derivs, dimension, degree, scalar_term, n_jobs, out)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(
        m,
        sig_combine,
        sig_combine_backprop,
        multi_sig_combine,
        multi_sig_combine_backprop,
        sig_join,
        sig_join_backprop,
        linear_sig,
        linear_sig_backprop,
        sig_inverse,
        sig_inverse_backprop,
    )
}
