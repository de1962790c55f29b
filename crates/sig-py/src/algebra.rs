//! Operations on signatures: Chen products, joins, linear segments and
//! inverses, with their gradients (`sig_core::algebra`).
//!
//! Arrays of any shape, C-contiguous: the core checks their flat lengths
//! against `(dimension, degree, scalar_term)`.

use pyo3::prelude::*;
use sig_core::algebra;

use crate::arrays::{dims, input, numbers, numbers_mut, output, with_dtype};
use crate::error::enter;

type Array<'a, 'py> = &'a Bound<'py, PyAny>;

/// `out = sig1 (x) sig2`, pairwise.
#[pyfunction]
#[pyo3(signature = (sig1, sig2, out, dimension, degree, scalar_term, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_combine<'py>(py: Python<'py>, sig1: Array<'_, 'py>, sig2: Array<'_, 'py>, out: Array<'_, 'py>, dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) -> PyResult<()> {
    with_dtype!(sig1, "sig1", |T| {
        let (a, b, mut o) = (input::<T>(sig1, "sig1")?, input::<T>(sig2, "sig2")?, output::<T>(out, "out")?);
        let (a, b, o) = (numbers(&a, "sig1")?, numbers(&b, "sig2")?, numbers_mut(&mut o, "out")?);
        enter(py, || algebra::sig_combine(a, b, dimension, degree, scalar_term, n_jobs, o))
    })
}

/// Gradient through [`sig_combine`] into `out1` and `out2`.
#[pyfunction]
#[pyo3(signature = (derivs, sig1, sig2, out1, out2, dimension, degree, scalar_term, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_combine_backprop<'py>(
    py: Python<'py>,
    derivs: Array<'_, 'py>,
    sig1: Array<'_, 'py>,
    sig2: Array<'_, 'py>,
    out1: Array<'_, 'py>,
    out2: Array<'_, 'py>,
    dimension: usize,
    degree: usize,
    scalar_term: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(sig1, "sig1", |T| {
        let (g, a, b) = (input::<T>(derivs, "derivs")?, input::<T>(sig1, "sig1")?, input::<T>(sig2, "sig2")?);
        let (mut o1, mut o2) = (output::<T>(out1, "out1")?, output::<T>(out2, "out2")?);
        let (g, a, b) = (numbers(&g, "derivs")?, numbers(&a, "sig1")?, numbers(&b, "sig2")?);
        let (o1, o2) = (numbers_mut(&mut o1, "out1")?, numbers_mut(&mut o2, "out2")?);
        enter(py, || algebra::sig_combine_backprop(a, b, g, dimension, degree, scalar_term, n_jobs, o1, o2))
    })
}

/// The product of `sigs` `(B, k, n)` along `k`, into `out` `(B, n)`.
#[pyfunction]
#[pyo3(signature = (sigs, out, dimension, degree, scalar_term, n_jobs))]
pub fn multi_sig_combine<'py>(py: Python<'py>, sigs: Array<'_, 'py>, out: Array<'_, 'py>, dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) -> PyResult<()> {
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
    derivs: Array<'_, 'py>,
    sigs: Array<'_, 'py>,
    out: Array<'_, 'py>,
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
        ref other => Err(pyo3::exceptions::PyValueError::new_err(format!("sigs must have shape (batch, k, sig_len), got {other:?}"))),
    }
}

/// `out = sig (x) exp(displacement)` (or `exp(displacement) (x) sig` with `prepend`).
#[pyfunction]
#[pyo3(signature = (sig, displacement, out, dimension, degree, scalar_term, prepend, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_join<'py>(
    py: Python<'py>,
    sig: Array<'_, 'py>,
    displacement: Array<'_, 'py>,
    out: Array<'_, 'py>,
    dimension: usize,
    degree: usize,
    scalar_term: bool,
    prepend: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(sig, "sig", |T| {
        let (s, v, mut o) = (input::<T>(sig, "sig")?, input::<T>(displacement, "displacement")?, output::<T>(out, "out")?);
        let (s, v, o) = (numbers(&s, "sig")?, numbers(&v, "displacement")?, numbers_mut(&mut o, "out")?);
        enter(py, || algebra::sig_join(s, v, dimension, degree, scalar_term, prepend, n_jobs, o))
    })
}

/// Gradient through [`sig_join`] into `out_sig` and `out_displacement`.
#[pyfunction]
#[pyo3(signature = (derivs, sig, displacement, out_sig, out_displacement, dimension, degree, scalar_term, prepend, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_join_backprop<'py>(
    py: Python<'py>,
    derivs: Array<'_, 'py>,
    sig: Array<'_, 'py>,
    displacement: Array<'_, 'py>,
    out_sig: Array<'_, 'py>,
    out_displacement: Array<'_, 'py>,
    dimension: usize,
    degree: usize,
    scalar_term: bool,
    prepend: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(sig, "sig", |T| {
        let (g, s, v) = (input::<T>(derivs, "derivs")?, input::<T>(sig, "sig")?, input::<T>(displacement, "displacement")?);
        let (mut gs, mut gv) = (output::<T>(out_sig, "out_sig")?, output::<T>(out_displacement, "out_displacement")?);
        let (g, s, v) = (numbers(&g, "derivs")?, numbers(&s, "sig")?, numbers(&v, "displacement")?);
        let (gs, gv) = (numbers_mut(&mut gs, "out_sig")?, numbers_mut(&mut gv, "out_displacement")?);
        enter(py, || algebra::sig_join_backprop(s, v, g, dimension, degree, scalar_term, prepend, n_jobs, gs, gv))
    })
}

/// Signatures of straight segments, `exp(displacement)`.
#[pyfunction]
#[pyo3(signature = (displacement, out, dimension, degree, scalar_term, n_jobs))]
pub fn linear_sig<'py>(py: Python<'py>, displacement: Array<'_, 'py>, out: Array<'_, 'py>, dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) -> PyResult<()> {
    with_dtype!(displacement, "displacement", |T| {
        let (v, mut o) = (input::<T>(displacement, "displacement")?, output::<T>(out, "out")?);
        let (v, o) = (numbers(&v, "displacement")?, numbers_mut(&mut o, "out")?);
        enter(py, || algebra::linear_sig(v, dimension, degree, scalar_term, n_jobs, o))
    })
}

/// Gradient through [`linear_sig`] into `out` (the displacements' shape).
#[pyfunction]
#[pyo3(signature = (derivs, displacement, out, dimension, degree, scalar_term, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn linear_sig_backprop<'py>(
    py: Python<'py>,
    derivs: Array<'_, 'py>,
    displacement: Array<'_, 'py>,
    out: Array<'_, 'py>,
    dimension: usize,
    degree: usize,
    scalar_term: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(displacement, "displacement", |T| {
        let (g, v, mut o) = (input::<T>(derivs, "derivs")?, input::<T>(displacement, "displacement")?, output::<T>(out, "out")?);
        let (g, v, o) = (numbers(&g, "derivs")?, numbers(&v, "displacement")?, numbers_mut(&mut o, "out")?);
        enter(py, || algebra::linear_sig_backprop(v, g, dimension, degree, scalar_term, n_jobs, o))
    })
}

/// Inverses (antipodes) of signatures.
#[pyfunction]
#[pyo3(signature = (sig, out, dimension, degree, scalar_term, n_jobs))]
pub fn sig_inverse<'py>(py: Python<'py>, sig: Array<'_, 'py>, out: Array<'_, 'py>, dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) -> PyResult<()> {
    with_dtype!(sig, "sig", |T| {
        let (s, mut o) = (input::<T>(sig, "sig")?, output::<T>(out, "out")?);
        let (s, o) = (numbers(&s, "sig")?, numbers_mut(&mut o, "out")?);
        enter(py, || algebra::sig_inverse(s, dimension, degree, scalar_term, n_jobs, o))
    })
}

/// Gradient through [`sig_inverse`] (the antipode's transpose; level 0 gets 0).
#[pyfunction]
#[pyo3(signature = (derivs, out, dimension, degree, scalar_term, n_jobs))]
pub fn sig_inverse_backprop<'py>(py: Python<'py>, derivs: Array<'_, 'py>, out: Array<'_, 'py>, dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) -> PyResult<()> {
    with_dtype!(derivs, "derivs", |T| {
        let (g, mut o) = (input::<T>(derivs, "derivs")?, output::<T>(out, "out")?);
        let (g, o) = (numbers(&g, "derivs")?, numbers_mut(&mut o, "out")?);
        enter(py, || algebra::sig_inverse_backprop(g, dimension, degree, scalar_term, n_jobs, o))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sig_combine, m)?)?;
    m.add_function(wrap_pyfunction!(sig_combine_backprop, m)?)?;
    m.add_function(wrap_pyfunction!(multi_sig_combine, m)?)?;
    m.add_function(wrap_pyfunction!(multi_sig_combine_backprop, m)?)?;
    m.add_function(wrap_pyfunction!(sig_join, m)?)?;
    m.add_function(wrap_pyfunction!(sig_join_backprop, m)?)?;
    m.add_function(wrap_pyfunction!(linear_sig, m)?)?;
    m.add_function(wrap_pyfunction!(linear_sig_backprop, m)?)?;
    m.add_function(wrap_pyfunction!(sig_inverse, m)?)?;
    m.add_function(wrap_pyfunction!(sig_inverse_backprop, m)?)?;
    Ok(())
}
