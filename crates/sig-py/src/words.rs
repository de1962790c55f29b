//! Words and their places in a signature (`sig_core::words`, `sig_core::tensor`).

use pyo3::prelude::*;
use sig_core::SigError;

use crate::arrays::add_functions;
use crate::error::{enter, enter_sized};

/// Length of a signature; `OverflowError` when it does not fit in memory.
#[pyfunction]
#[pyo3(signature = (dimension, degree, scalar_term))]
pub fn sig_length(py: Python<'_>, dimension: usize, degree: usize, scalar_term: bool) -> PyResult<usize> {
    enter_sized(py, 0, || sig_core::sig_length(dimension, degree, scalar_term).ok_or_else(|| SigError::Overflow(format!("sig_length({dimension}, {degree})"))))
}

/// Flat index of `word` in a signature over `alphabet_size` letters.
#[pyfunction]
#[pyo3(signature = (word, alphabet_size, scalar_term))]
pub fn word_to_idx(py: Python<'_>, word: Vec<usize>, alphabet_size: usize, scalar_term: bool) -> PyResult<usize> {
    enter(py, || sig_core::words::word_to_idx(&word, alphabet_size, scalar_term))
}

/// The word at flat index `idx` (inverse of [`word_to_idx`]).
#[pyfunction]
#[pyo3(signature = (idx, alphabet_size, scalar_term))]
pub fn idx_to_word(py: Python<'_>, idx: usize, alphabet_size: usize, scalar_term: bool) -> PyResult<Vec<usize>> {
    enter(py, || sig_core::words::idx_to_word(idx, alphabet_size, scalar_term))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, sig_length, word_to_idx, idx_to_word)
}
