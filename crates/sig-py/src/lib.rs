//! `sigrs._native`: the thin binding between the Python package and
//! `sig_core`. It checks nothing the Python layer already checked and
//! computes nothing itself: it borrows the NumPy buffers (inputs, and the
//! output the Python layer allocated, so an allocation failure is an
//! ordinary `MemoryError` there), and runs the core through [`run`], which
//! releases the GIL, catches panics and converts errors.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::ndarray::Dimension;
use numpy::{Element, PyReadonlyArray, PyReadonlyArray2, PyReadonlyArray3, PyReadwriteArray, PyReadwriteArray2, PyReadwriteArray3, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use sig_core::{PathShape, PathTransform, SigError};

create_exception!(sigrs, SigrsError, PyException, "Base class of the exceptions sigrs raises itself.");
create_exception!(
    sigrs,
    CudaUnavailableError,
    SigrsError,
    "A CUDA tensor was given but the GPU backend cannot run (the message says why)."
);

/// The one conversion of core errors into Python exceptions.
struct PySigError(SigError);

impl From<PySigError> for PyErr {
    fn from(err: PySigError) -> PyErr {
        let msg = err.0.to_string();
        match err.0 {
            SigError::InvalidArgument { .. } | SigError::BufferLength { .. } => PyValueError::new_err(msg),
            SigError::Overflow(_) => PyOverflowError::new_err(msg),
        }
    }
}

/// Runs core work with the GIL released, turning a panic into `SigrsError`
/// and a `SigError` into its Python exception. Every call into the core goes
/// through here.
fn run<R: Send>(py: Python<'_>, work: impl FnOnce() -> sig_core::Result<R> + Send) -> PyResult<R> {
    match py.detach(|| catch_unwind(AssertUnwindSafe(work))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(PySigError(err).into()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(SigrsError::new_err(format!("internal error in sigrs (please report it): {what}")))
        }
    }
}

fn transform(time_aug: bool, lead_lag: bool, end_time: f64) -> PathTransform {
    PathTransform { time_aug, lead_lag, end_time }
}

fn path_shape<T: Element>(path: &PyReadonlyArray3<'_, T>) -> PathShape {
    let s = path.shape();
    PathShape::new(s[0], s[1], s[2])
}

/// Borrows an array the Python layer made C-contiguous and aligned.
fn slice<'a, T: Element, D: Dimension>(a: &'a PyReadonlyArray<'_, T, D>, name: &'static str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

/// Borrows the output array the Python layer allocated.
fn slice_mut<'a, T: Element, D: Dimension>(a: &'a mut PyReadwriteArray<'_, T, D>) -> PyResult<&'a mut [T]> {
    a.as_slice_mut().map_err(|_| PyValueError::new_err("out must be C-contiguous"))
}

/// Generates one `#[pyfunction]` per float type from a generic body taking
/// its arguments as one tuple (pyfunctions cannot be generic).
macro_rules! float_variants {
    ($generic:ident => $f64_name:ident, $f32_name:ident) => {
        #[pyfunction]
        #[pyo3(signature = (*args))]
        fn $f64_name(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
            $generic::<f64>(py, args)
        }
        #[pyfunction]
        #[pyo3(signature = (*args))]
        fn $f32_name(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
            $generic::<f32>(py, args)
        }
    };
}

/// `sig(path (B, L, d), out (B, n), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)`
fn sig_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (path, mut out, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs): (PyReadonlyArray3<T>, PyReadwriteArray2<T>, usize, bool, bool, f64, bool, i64) =
        args.extract()?;
    let shape = path_shape(&path);
    let tr = transform(time_aug, lead_lag, end_time);
    let (p, o) = (slice(&path, "path")?, slice_mut(&mut out)?);
    run(py, || sig_core::sig(p, shape, degree, tr, scalar_term, n_jobs, o))
}
float_variants!(sig_impl => sig_f64, sig_f32);

/// `sig_backprop(path (B, L, d), sig (B, n), sig_derivs (B, n), out (B, L, d), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs)`
fn sig_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (path, sig, derivs, mut out, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs): (
        PyReadonlyArray3<T>,
        PyReadonlyArray2<T>,
        PyReadonlyArray2<T>,
        PyReadwriteArray3<T>,
        usize,
        bool,
        bool,
        f64,
        bool,
        i64,
    ) = args.extract()?;
    let shape = path_shape(&path);
    let tr = transform(time_aug, lead_lag, end_time);
    let (p, s, g, o) = (slice(&path, "path")?, slice(&sig, "sig")?, slice(&derivs, "sig_derivs")?, slice_mut(&mut out)?);
    run(py, || sig_core::sig_backprop(p, shape, degree, tr, s, g, scalar_term, n_jobs, o))
}
float_variants!(sig_backprop_impl => sig_backprop_f64, sig_backprop_f32);

/// `transform_path(path (B, L, d), out (B, L', d'), time_aug, lead_lag, end_time, n_jobs)`
fn transform_path_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (path, mut out, time_aug, lead_lag, end_time, n_jobs): (PyReadonlyArray3<T>, PyReadwriteArray3<T>, bool, bool, f64, i64) = args.extract()?;
    let shape = path_shape(&path);
    let tr = transform(time_aug, lead_lag, end_time);
    let (p, o) = (slice(&path, "path")?, slice_mut(&mut out)?);
    run(py, || sig_core::transform_path(p, shape, tr, n_jobs, o))
}
float_variants!(transform_path_impl => transform_path_f64, transform_path_f32);

/// `transform_path_backprop(derivs (B, L', d'), out (B, L, d), time_aug, lead_lag, end_time, n_jobs)`
fn transform_path_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (derivs, mut out, time_aug, lead_lag, end_time, n_jobs): (PyReadonlyArray3<T>, PyReadwriteArray3<T>, bool, bool, f64, i64) = args.extract()?;
    let s = out.shape();
    let shape = PathShape::new(s[0], s[1], s[2]);
    let tr = transform(time_aug, lead_lag, end_time);
    let (g, o) = (slice(&derivs, "derivs")?, slice_mut(&mut out)?);
    run(py, || sig_core::transform_path_backprop(g, shape, tr, n_jobs, o))
}
float_variants!(transform_path_backprop_impl => transform_path_backprop_f64, transform_path_backprop_f32);

/// Length of a signature; `OverflowError` when it does not fit in memory.
#[pyfunction]
fn sig_length(dimension: usize, degree: usize, scalar_term: bool) -> PyResult<usize> {
    sig_core::sig_length(dimension, degree, scalar_term)
        .ok_or_else(|| PyOverflowError::new_err(format!("sig_length({dimension}, {degree}) overflows a 64-bit integer")))
}

#[pyfunction]
fn word_to_idx(word: Vec<usize>, alphabet_size: usize, scalar_term: bool) -> PyResult<usize> {
    sig_core::words::word_to_idx(&word, alphabet_size, scalar_term).map_err(|e| PySigError(e).into())
}

#[pyfunction]
fn idx_to_word(idx: usize, alphabet_size: usize, scalar_term: bool) -> PyResult<Vec<usize>> {
    sig_core::words::idx_to_word(idx, alphabet_size, scalar_term).map_err(|e| PySigError(e).into())
}

/// `resolve_n_jobs(n_jobs) -> threads`; ValueError for 0.
#[pyfunction]
fn resolve_n_jobs(n_jobs: i64) -> PyResult<usize> {
    sig_core::resolve_n_jobs(n_jobs).map_err(|e| PySigError(e).into())
}

/// `(available, detail)`: whether a CUDA driver with a device was found,
/// and its version or the reason it was not.
#[pyfunction]
fn cuda_status() -> (bool, String) {
    match sig_cuda::probe() {
        Ok(info) => (true, format!("CUDA driver {}.{}, {} device(s)", info.version.0, info.version.1, info.devices)),
        Err(e) => (false, e.to_string()),
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SigrsError", py.get_type::<SigrsError>())?;
    m.add("CudaUnavailableError", py.get_type::<CudaUnavailableError>())?;
    m.add_function(wrap_pyfunction!(sig_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(transform_path_f64, m)?)?;
    m.add_function(wrap_pyfunction!(transform_path_f32, m)?)?;
    m.add_function(wrap_pyfunction!(transform_path_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(transform_path_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_length, m)?)?;
    m.add_function(wrap_pyfunction!(word_to_idx, m)?)?;
    m.add_function(wrap_pyfunction!(idx_to_word, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_n_jobs, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_status, m)?)?;
    Ok(())
}
