//! Rotation invariants of planar paths (`sig_core::rotinv`).
//!
//! The tables (spanning and known invariants, squished matrices and their
//! projections) come back as new flat float64 NumPy arrays that the Python
//! layer reshapes; the batched ops write into arrays it allocated.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use sig_core::rotinv::{self, LevelInvariants};

use crate::arrays::{add_functions, input, numbers, numbers_mut, output, path_shape, with_dtype};
use crate::error::{enter, enter_sized};

type Rows<'py> = (Bound<'py, PyArray1<f64>>, usize, Bound<'py, PyArray1<f64>>, usize);

fn level_rows<'py>(py: Python<'py>, inv: LevelInvariants) -> Rows<'py> {
    let (n_real, n_imag) = (inv.n_rows(0), inv.n_rows(1));
    (inv.real.into_pyarray(py), n_real, inv.imag.into_pyarray(py), n_imag)
}

/// The spanning invariants of an even `level` (kind "a"): `(real, n_real,
/// imag, n_imag)`, each rows flat `(n, 2^level)`.
#[pyfunction]
#[pyo3(signature = (level))]
pub fn rotinv2d_spanning<'py>(py: Python<'py>, level: usize) -> PyResult<Rows<'py>> {
    let inv = enter(py, || rotinv::spanning_invariants(level))?;
    Ok(level_rows(py, inv))
}

/// The known (shuffle-product) invariants (kind "k") of each even level up
/// to `degree`, as [`rotinv2d_spanning`] gives one level.
#[pyfunction]
#[pyo3(signature = (degree))]
pub fn rotinv2d_known<'py>(py: Python<'py>, degree: usize) -> PyResult<Vec<Rows<'py>>> {
    let known = enter(py, || rotinv::known_invariants(degree))?;
    Ok(known.into_iter().map(|inv| level_rows(py, inv)).collect())
}

/// `rows` (`n_rows * 2^level`, flat) as the `2^(level-1) x n_rows` matrix
/// of its words of `parity`.
#[pyfunction]
#[pyo3(signature = (rows, n_rows, level, parity))]
pub fn rotinv2d_squish<'py>(py: Python<'py>, rows: &Bound<'py, PyAny>, n_rows: usize, level: usize, parity: usize) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let rows = input::<f64>(rows, "rows")?;
    let r = numbers(&rows, "rows")?;
    let out = enter_sized(py, r.len(), || rotinv::squish(r, n_rows, level, parity))?;
    Ok(out.into_pyarray(py))
}

/// The inverse of [`rotinv2d_squish`]: the `n_cols` columns of `matrix` as
/// rows over all words of `level`.
#[pyfunction]
#[pyo3(signature = (matrix, n_cols, level, parity))]
pub fn rotinv2d_unsquish<'py>(py: Python<'py>, matrix: &Bound<'py, PyAny>, n_cols: usize, level: usize, parity: usize) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let matrix = input::<f64>(matrix, "matrix")?;
    let m = numbers(&matrix, "matrix")?;
    let out = enter_sized(py, 2 * m.len(), || rotinv::unsquish(m, n_cols, level, parity))?;
    Ok(out.into_pyarray(py))
}

/// `a` (`d x m`) with its columns' parts along the first `rank` columns of
/// `basis` (`d x basis_cols`) removed, in iisignature's order of operations.
#[pyfunction]
#[pyo3(signature = (a, d, m, basis, basis_cols, rank))]
pub fn rotinv2d_project_away<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    d: usize,
    m: usize,
    basis: &Bound<'py, PyAny>,
    basis_cols: usize,
    rank: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (a, basis) = (input::<f64>(a, "a")?, input::<f64>(basis, "basis")?);
    let (a, basis) = (numbers(&a, "a")?, numbers(&basis, "basis")?);
    let out = enter(py, || rotinv::project_away(a, d, m, basis, basis_cols, rank))?;
    Ok(out.into_pyarray(py))
}

/// Rotation invariants of `path` `(B, L, 2)` into `out` `(B, n)` for the
/// basis `coefficients` (levels 2..degree, `rows_per_level` rows each, flat).
#[pyfunction]
#[pyo3(signature = (path, coefficients, out, degree, rows_per_level, n_jobs))]
pub fn rotinv2d<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    coefficients: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    degree: usize,
    rows_per_level: Vec<usize>,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (p, c, mut o) = (input::<T>(path, "path")?, input::<T>(coefficients, "coefficients")?, output::<T>(out, "out")?);
        let shape = path_shape(&p, "path")?;
        let (p, c, o) = (numbers(&p, "path")?, numbers(&c, "coefficients")?, numbers_mut(&mut o, "out")?);
        enter(py, || rotinv::rotinv2d(p, shape, degree, &rows_per_level, c, n_jobs, o))
    })
}

/// Gradient through [`rotinv2d`]: dF/d(path) into `out` `(B, L, 2)` from
/// `derivs` = dF/d(invariants) `(B, n)`.
#[pyfunction]
#[pyo3(signature = (path, coefficients, derivs, out, degree, rows_per_level, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn rotinv2d_backprop<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    coefficients: &Bound<'py, PyAny>,
    derivs: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
    degree: usize,
    rows_per_level: Vec<usize>,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(path, "path", |T| {
        let (p, c, g, mut o) = (input::<T>(path, "path")?, input::<T>(coefficients, "coefficients")?, input::<T>(derivs, "derivs")?, output::<T>(out, "out")?);
        let shape = path_shape(&p, "path")?;
        let (p, c, g, o) = (numbers(&p, "path")?, numbers(&c, "coefficients")?, numbers(&g, "derivs")?, numbers_mut(&mut o, "out")?);
        enter(py, || rotinv::rotinv2d_backprop(p, shape, degree, &rows_per_level, c, g, n_jobs, o))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, rotinv2d_spanning, rotinv2d_known, rotinv2d_squish, rotinv2d_unsquish, rotinv2d_project_away, rotinv2d, rotinv2d_backprop)
}
