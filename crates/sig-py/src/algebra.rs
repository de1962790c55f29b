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
use crate::records::record;

record! {
    /// `sigrs._options.AlgebraOptions`, read by position.
    AlgebraArgs = "AlgebraOptions" {
        dimension: usize,
        degree: usize,
        scalar_term: bool,
        n_jobs: i64,
        prepend: bool,
    }
}

flat_op! {
    /// `out = sig1 (x) sig2`, pairwise.
    fn sig_combine(sig1, sig2 => out; options: AlgebraArgs) {
        algebra::sig_combine(sig1, sig2, options.dimension, options.degree, options.scalar_term, options.n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`sig_combine`] into `out1` and `out2`.
    fn sig_combine_backprop(derivs, sig1, sig2 => out1, out2; options: AlgebraArgs) {
        algebra::sig_combine_backprop(sig1, sig2, derivs, options.dimension, options.degree, options.scalar_term, options.n_jobs, out1, out2)
    }
}

/// The product of `sigs` `(B, k, n)` along `k`, into `out` `(B, n)`.
#[pyfunction]
#[pyo3(signature = (sigs, out, options))]
pub fn multi_sig_combine<'py>(py: Python<'py>, sigs: &Bound<'py, PyAny>, out: &Bound<'py, PyAny>, options: AlgebraArgs) -> PyResult<()> {
    with_dtype!(sigs, "sigs", |T| {
        let (s, mut out) = (input::<T>(sigs, "sigs")?, output::<T>(out, "out")?);
        let count = stacked_count(dims(&s))?;
        let (s, out) = (numbers(&s, "sigs")?, numbers_mut(&mut out, "out")?);
        enter(py, || algebra::multi_sig_combine(s, count, options.dimension, options.degree, options.scalar_term, options.n_jobs, out))
    })
}

/// Gradient through [`multi_sig_combine`] into `out` `(B, k, n)`.
#[pyfunction]
#[pyo3(signature = (derivs, sigs, out, options))]
pub fn multi_sig_combine_backprop<'py>(py: Python<'py>, derivs: &Bound<'py, PyAny>, sigs: &Bound<'py, PyAny>, out: &Bound<'py, PyAny>, options: AlgebraArgs) -> PyResult<()> {
    with_dtype!(sigs, "sigs", |T| {
        let (g, s, mut out) = (input::<T>(derivs, "derivs")?, input::<T>(sigs, "sigs")?, output::<T>(out, "out")?);
        let count = stacked_count(dims(&s))?;
        let (g, s, out) = (numbers(&g, "derivs")?, numbers(&s, "sigs")?, numbers_mut(&mut out, "out")?);
        enter(py, || algebra::multi_sig_combine_backprop(s, g, count, options.dimension, options.degree, options.scalar_term, options.n_jobs, out))
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
    fn sig_join(sig, displacement => out; options: AlgebraArgs) {
        algebra::sig_join(sig, displacement, options.dimension, options.degree, options.scalar_term, options.prepend, options.n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`sig_join`] into `out_sig` and `out_displacement`.
    fn sig_join_backprop(
derivs, sig, displacement => out_sig, out_displacement; options: AlgebraArgs) {
        algebra::sig_join_backprop(sig, displacement, derivs, options.dimension, options.degree, options.scalar_term, options.prepend, options.n_jobs, out_sig, out_displacement)
    }
}

flat_op! {
    /// Signatures of straight segments, `exp(displacement)`.
    fn linear_sig(displacement => out; options: AlgebraArgs) {
        algebra::linear_sig(displacement, options.dimension, options.degree, options.scalar_term, options.n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`linear_sig`] into `out` (the displacements' shape).
    fn linear_sig_backprop(derivs, displacement => out; options: AlgebraArgs) {
        algebra::linear_sig_backprop(displacement, derivs, options.dimension, options.degree, options.scalar_term, options.n_jobs, out)
    }
}

flat_op! {
    /// Inverses (antipodes) of signatures.
    fn sig_inverse(sig => out; options: AlgebraArgs) {
        algebra::sig_inverse(sig, options.dimension, options.degree, options.scalar_term, options.n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`sig_inverse`] (the antipode's transpose; level 0 gets 0).
    fn sig_inverse_backprop(derivs => out; options: AlgebraArgs) {
        algebra::sig_inverse_backprop(derivs, options.dimension, options.degree, options.scalar_term, options.n_jobs, out)
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
