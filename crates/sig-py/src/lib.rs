//! `sigrs._native`: the thin binding between the Python package and the
//! Rust crates. One file per op family, mirroring `sig_core`'s modules and
//! the Python package's; nothing here computes anything.
//!
//! Every function borrows NumPy arrays the Python layer checked and
//! allocated (inputs and `out`; see [`arrays`]), dispatches on their dtype
//! once ([`arrays::with_dtype`]), and runs the core through
//! [`error::enter`], which releases the GIL, lets Ctrl-C stop long work,
//! catches panics and maps errors to Python exceptions.

// The crate has no public Rust API (it is the extension module), so its docs
// are the private items' (`cargo doc --document-private-items`), and the
// links above to private modules are the useful ones.
#![allow(rustdoc::private_intra_doc_links)]

use pyo3::prelude::*;

mod algebra;
mod arrays;
mod coef;
mod cuda;
mod error;
mod jacobian;
mod kernel;
mod logsig;
mod records;
mod rotinv;
mod scale;
mod signature;
mod transform;
mod words;

/// `n_jobs` as a thread count (1 serial, -1 all cores, k < -1 all but -k-1, at most the cores); ValueError for 0.
#[pyfunction]
#[pyo3(signature = (n_jobs))]
fn resolve_n_jobs(py: Python<'_>, n_jobs: i64) -> PyResult<usize> {
    error::enter(py, || sig_core::resolve_n_jobs(n_jobs))
}

/// The cores this process may use (affinity and cgroup quota): the most
/// threads any `n_jobs` runs with.
#[pyfunction]
fn available_cores() -> usize {
    sig_core::batch::available_cores()
}

/// The instruction set the CPU kernels run with here.
#[pyfunction]
fn simd_level() -> &'static str {
    sig_core::simd_level()
}

/// Drops the cached Lyndon and Hall tables (they are rebuilt on next use).
#[pyfunction]
fn clear_basis_caches() {
    sig_core::lyndon::clear_basis_caches()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // before any cache exists: a forked child must see a new generation
    sig_core::fork::register();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SigrsError", py.get_type::<error::SigrsError>())?;
    m.add("CudaUnavailableError", py.get_type::<error::CudaUnavailableError>())?;
    m.add_function(wrap_pyfunction!(resolve_n_jobs, m)?)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(available_cores, m)?)?;
    m.add_function(wrap_pyfunction!(clear_basis_caches, m)?)?;
    m.add_function(wrap_pyfunction!(records::record_fields, m)?)?;
    signature::register(m)?;
    transform::register(m)?;
    algebra::register(m)?;
    scale::register(m)?;
    jacobian::register(m)?;
    logsig::register(m)?;
    coef::register(m)?;
    words::register(m)?;
    kernel::register(m)?;
    rotinv::register(m)?;
    cuda::register(m)?;
    Ok(())
}
