//! The Jacobian of one path's signature with respect to its points
//! (`sig_core::jacobian`).
//!
//! `path` is `(length, dimension)` and `out` `(length, dimension, sig_len)`
//! (no level-0 term), both C-contiguous; the core checks their flat lengths.

use pyo3::prelude::*;
use sig_core::jacobian;

use crate::arrays::{add_functions, flat_op};

flat_op! {
    /// `out[i, j, w]` = d sig_w / d path[i, j] for the signature truncated at `degree`.
    fn sig_jacobian(path => out; dimension: usize, degree: usize, n_jobs: i64) {
        jacobian::sig_jacobian(path, dimension, degree, n_jobs, out)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, sig_jacobian)
}
