//! `sigrs._native`: the thin binding between the Python package and
//! `sig_core`. It checks nothing the Python layer already checked and
//! computes nothing itself: it borrows the NumPy buffers, allocates the
//! output array, and runs the core through [`run`], which releases the GIL,
//! catches panics and converts errors.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::{Element, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOverflowError, PyValueError};
use pyo3::prelude::*;
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

/// A fresh C-contiguous array for the core to fill completely.
fn output<'py, T: Element, const N: usize>(py: Python<'py>, dims: [usize; N]) -> Bound<'py, numpy::PyArray<T, numpy::ndarray::Dim<[usize; N]>>>
where
    [usize; N]: numpy::ndarray::IntoDimension<Dim = numpy::ndarray::Dim<[usize; N]>>,
    numpy::ndarray::Dim<[usize; N]>: numpy::ndarray::Dimension,
{
    // SAFETY: every caller passes the array to a core function that writes
    // every element before Python can see it.
    unsafe { numpy::PyArray::new(py, dims, false) }
}

/// Borrows a NumPy array the Python layer made C-contiguous.
fn slice<'a, T: Element, D: numpy::ndarray::Dimension>(a: &'a numpy::PyReadonlyArray<'_, T, D>, name: &'static str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

/// Mutable view of an array created by [`output`].
fn slice_mut<'a, T: Element, D: numpy::ndarray::Dimension>(a: &'a Bound<'_, numpy::PyArray<T, D>>) -> &'a mut [T] {
    // SAFETY: `a` was just created by `output`, is C-contiguous and no
    // other reference to its data exists yet.
    unsafe { a.as_slice_mut().expect("fresh arrays are contiguous") }
}

/// Generates one `#[pyfunction]` per float type from a generic body.
macro_rules! float_variants {
    ($generic:ident => $f64_name:ident, $f32_name:ident) => {
        #[pyfunction]
        #[pyo3(signature = (*args))]
        fn $f64_name<'py>(py: Python<'py>, args: Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
            $generic::<f64>(py, args)
        }
        #[pyfunction]
        #[pyo3(signature = (*args))]
        fn $f32_name<'py>(py: Python<'py>, args: Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
            $generic::<f32>(py, args)
        }
    };
}

/// `sig(path (B, L, d), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs) -> (B, sig_len)`
fn sig_impl<'py, T: Element + sig_core::Float>(py: Python<'py>, args: Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    let (path, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs): (PyReadonlyArray3<'py, T>, usize, bool, bool, f64, bool, i64) = args.extract()?;
    let shape = path_shape(&path);
    let tr = transform(time_aug, lead_lag, end_time);
    let out_len = sig_core::sig_length(tr.out_dim(shape.dim), degree, scalar_term)
        .ok_or_else(|| PyOverflowError::new_err(format!("the signature of dimension {} and degree {degree} is too long", tr.out_dim(shape.dim))))?;
    let out: Bound<'py, PyArray2<T>> = output(py, [shape.batch, out_len]);
    let (p, o) = (slice(&path, "path")?, slice_mut(&out));
    run(py, || sig_core::sig(p, shape, degree, tr, scalar_term, n_jobs, o))?;
    Ok(out.into_any())
}
float_variants!(sig_impl => sig_f64, sig_f32);

/// `sig_backprop(path (B, L, d), sig (B, n), sig_derivs (B, n), degree, time_aug, lead_lag, end_time, scalar_term, n_jobs) -> (B, L, d)`
fn sig_backprop_impl<'py, T: Element + sig_core::Float>(py: Python<'py>, args: Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    #[allow(clippy::type_complexity)]
    let (path, sig, derivs, degree, time_aug, lead_lag, end_time, scalar_term, n_jobs): (
        PyReadonlyArray3<'py, T>,
        PyReadonlyArray2<'py, T>,
        PyReadonlyArray2<'py, T>,
        usize,
        bool,
        bool,
        f64,
        bool,
        i64,
    ) = args.extract()?;
    let shape = path_shape(&path);
    let tr = transform(time_aug, lead_lag, end_time);
    let out: Bound<'py, PyArray3<T>> = output(py, [shape.batch, shape.length, shape.dim]);
    let (p, s, g, o) = (slice(&path, "path")?, slice(&sig, "sig")?, slice(&derivs, "sig_derivs")?, slice_mut(&out));
    run(py, || sig_core::sig_backprop(p, shape, degree, tr, s, g, scalar_term, n_jobs, o))?;
    Ok(out.into_any())
}
float_variants!(sig_backprop_impl => sig_backprop_f64, sig_backprop_f32);

/// `transform_path(path (B, L, d), time_aug, lead_lag, end_time, n_jobs) -> (B, L', d')`
fn transform_path_impl<'py, T: Element + sig_core::Float>(py: Python<'py>, args: Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    let (path, time_aug, lead_lag, end_time, n_jobs): (PyReadonlyArray3<'py, T>, bool, bool, f64, i64) = args.extract()?;
    let shape = path_shape(&path);
    let tr = transform(time_aug, lead_lag, end_time);
    let out: Bound<'py, PyArray3<T>> = output(py, [shape.batch, tr.out_length(shape.length), tr.out_dim(shape.dim)]);
    let (p, o) = (slice(&path, "path")?, slice_mut(&out));
    run(py, || sig_core::transform_path(p, shape, tr, n_jobs, o))?;
    Ok(out.into_any())
}
float_variants!(transform_path_impl => transform_path_f64, transform_path_f32);

/// `transform_path_backprop(derivs (B, L', d'), length, dim, time_aug, lead_lag, end_time, n_jobs) -> (B, L, d)`
fn transform_path_backprop_impl<'py, T: Element + sig_core::Float>(py: Python<'py>, args: Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    let (derivs, length, dim, time_aug, lead_lag, end_time, n_jobs): (PyReadonlyArray3<'py, T>, usize, usize, bool, bool, f64, i64) = args.extract()?;
    let shape = PathShape::new(derivs.shape()[0], length, dim);
    let tr = transform(time_aug, lead_lag, end_time);
    let out: Bound<'py, PyArray3<T>> = output(py, [shape.batch, length, dim]);
    let (g, o) = (slice(&derivs, "derivs")?, slice_mut(&out));
    run(py, || sig_core::transform_path_backprop(g, shape, tr, n_jobs, o))?;
    Ok(out.into_any())
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
