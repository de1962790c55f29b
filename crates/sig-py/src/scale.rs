//! Coordinatewise scaling of signatures and its gradient (`sig_core::scale`).
//!
//! Arrays of any shape, C-contiguous: the core checks their flat lengths
//! against `(dimension, degree)` (signatures without level 0).

use pyo3::prelude::*;
use sig_core::scale;

use crate::arrays::{add_functions, flat_op};

flat_op! {
    /// `out` = `sig` with word `i1...ik` times `scales[i1] ... scales[ik]`.
    fn sig_scale(sig, scales => out; dimension: usize, degree: usize, n_jobs: i64) {
        scale::sig_scale(sig, scales, dimension, degree, n_jobs, out)
    }
}

flat_op! {
    /// Gradient through [`sig_scale`] into `out_sig` and `out_scales`.
    fn sig_scale_backprop(derivs, sig, scales => out_sig, out_scales; dimension: usize, degree: usize, n_jobs: i64) {
        scale::sig_scale_backprop(sig, scales, derivs, dimension, degree, n_jobs, out_sig, out_scales)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, sig_scale, sig_scale_backprop)
}
