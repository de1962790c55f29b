//! `sigrs._native`: the thin binding between the Python package and
//! `sig_core`. It checks nothing the Python layer already checked and
//! computes nothing itself: it borrows the NumPy buffers (inputs, and the
//! output the Python layer allocated, so an allocation failure is an
//! ordinary `MemoryError` there), and runs the core through [`run`], which
//! releases the GIL, catches panics and converts errors.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::ndarray::Dimension;
use numpy::{Element, PyReadonlyArray, PyReadonlyArray3, PyReadonlyArrayDyn, PyReadwriteArray, PyReadwriteArray3, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use sig_core::logsig::{self, LogSigMethod};
use sig_core::{algebra, coef, kernel, PathShape, PathTransform, SigError, SigOptions};

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
            SigError::Interrupted => pyo3::exceptions::PyKeyboardInterrupt::new_err(msg),
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

/// The options tuple of `sig` and `sig_backprop`:
/// `(time_aug, lead_lag, end_time, scalar_term, stream, inverse)`.
type SigOptionArgs = (bool, bool, f64, bool, bool, bool);

/// `sig(path (B, L, d), out (B, rows * n), initial (B, n) | None, degree, options, n_jobs)`
fn sig_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (path, mut out, initial, degree, (time_aug, lead_lag, end_time, scalar_term, stream, inverse), n_jobs): (
        PyReadonlyArray3<T>,
        PyReadwriteArrayDyn<T>,
        Option<PyReadonlyArrayDyn<T>>,
        usize,
        SigOptionArgs,
        i64,
    ) = args.extract()?;
    let shape = path_shape(&path);
    let init = initial.as_ref().map(|a| slice(a, "initial")).transpose()?;
    let opts = SigOptions { transform: transform(time_aug, lead_lag, end_time), scalar_term, stream, inverse, initial: init };
    let (p, o) = (slice(&path, "path")?, slice_mut(&mut out)?);
    run(py, || sig_core::sig_with(p, shape, degree, &opts, n_jobs, o))
}
float_variants!(sig_impl => sig_f64, sig_f32);

/// `sig_backprop(path (B, L, d), sig, sig_derivs, out (B, L, d), initial | None, initial_grad | None, degree, options, n_jobs)`
fn sig_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (path, sig, derivs, mut out, initial, mut initial_grad, degree, (time_aug, lead_lag, end_time, scalar_term, stream, inverse), n_jobs): (
        PyReadonlyArray3<T>,
        PyReadonlyArrayDyn<T>,
        PyReadonlyArrayDyn<T>,
        PyReadwriteArray3<T>,
        Option<PyReadonlyArrayDyn<T>>,
        Option<PyReadwriteArrayDyn<T>>,
        usize,
        SigOptionArgs,
        i64,
    ) = args.extract()?;
    let shape = path_shape(&path);
    let init = initial.as_ref().map(|a| slice(a, "initial")).transpose()?;
    let opts = SigOptions { transform: transform(time_aug, lead_lag, end_time), scalar_term, stream, inverse, initial: init };
    let (p, s, g, o) = (slice(&path, "path")?, slice(&sig, "sig")?, slice(&derivs, "sig_derivs")?, slice_mut(&mut out)?);
    let ig = initial_grad.as_mut().map(slice_mut).transpose()?;
    run(py, || sig_core::sig_backprop_with(p, shape, degree, &opts, s, g, n_jobs, o, ig))
}
float_variants!(sig_backprop_impl => sig_backprop_f64, sig_backprop_f32);

// --- operations on signatures (sig_core::algebra) ---------------------------
// Arrays of any shape, C-contiguous: the core checks the flat lengths.

/// `sig_combine(sig1, sig2, out, dimension, degree, scalar_term, n_jobs)`
fn sig_combine_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (a, b, mut out, dim, degree, scalar_term, n_jobs): (PyReadonlyArrayDyn<T>, PyReadonlyArrayDyn<T>, PyReadwriteArrayDyn<T>, usize, usize, bool, i64) =
        args.extract()?;
    let (a, b, o) = (slice(&a, "sig1")?, slice(&b, "sig2")?, slice_mut(&mut out)?);
    run(py, || algebra::sig_combine(a, b, dim, degree, scalar_term, n_jobs, o))
}
float_variants!(sig_combine_impl => sig_combine_f64, sig_combine_f32);

/// `sig_combine_backprop(sig1, sig2, derivs, out1, out2, dimension, degree, scalar_term, n_jobs)`
fn sig_combine_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (a, b, g, mut ga, mut gb, dim, degree, scalar_term, n_jobs): (
        PyReadonlyArrayDyn<T>,
        PyReadonlyArrayDyn<T>,
        PyReadonlyArrayDyn<T>,
        PyReadwriteArrayDyn<T>,
        PyReadwriteArrayDyn<T>,
        usize,
        usize,
        bool,
        i64,
    ) = args.extract()?;
    let (a, b, g) = (slice(&a, "sig1")?, slice(&b, "sig2")?, slice(&g, "derivs")?);
    let (ga, gb) = (slice_mut(&mut ga)?, slice_mut(&mut gb)?);
    run(py, || algebra::sig_combine_backprop(a, b, g, dim, degree, scalar_term, n_jobs, ga, gb))
}
float_variants!(sig_combine_backprop_impl => sig_combine_backprop_f64, sig_combine_backprop_f32);

/// `multi_sig_combine(sigs (B, k, n), out (B, n), dimension, degree, scalar_term, n_jobs)`
fn multi_sig_combine_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (sigs, mut out, dim, degree, scalar_term, n_jobs): (PyReadonlyArray3<T>, PyReadwriteArrayDyn<T>, usize, usize, bool, i64) = args.extract()?;
    let count = sigs.shape()[1];
    let (s, o) = (slice(&sigs, "sigs")?, slice_mut(&mut out)?);
    run(py, || algebra::multi_sig_combine(s, count, dim, degree, scalar_term, n_jobs, o))
}
float_variants!(multi_sig_combine_impl => multi_sig_combine_f64, multi_sig_combine_f32);

/// `multi_sig_combine_backprop(sigs (B, k, n), derivs (B, n), out (B, k, n), dimension, degree, scalar_term, n_jobs)`
fn multi_sig_combine_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (sigs, g, mut out, dim, degree, scalar_term, n_jobs): (PyReadonlyArray3<T>, PyReadonlyArrayDyn<T>, PyReadwriteArray3<T>, usize, usize, bool, i64) =
        args.extract()?;
    let count = sigs.shape()[1];
    let (s, g, o) = (slice(&sigs, "sigs")?, slice(&g, "derivs")?, slice_mut(&mut out)?);
    run(py, || algebra::multi_sig_combine_backprop(s, g, count, dim, degree, scalar_term, n_jobs, o))
}
float_variants!(multi_sig_combine_backprop_impl => multi_sig_combine_backprop_f64, multi_sig_combine_backprop_f32);

/// `sig_join(sig, displacement, out, dimension, degree, scalar_term, prepend, n_jobs)`
fn sig_join_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (sig, disp, mut out, dim, degree, scalar_term, prepend, n_jobs): (
        PyReadonlyArrayDyn<T>,
        PyReadonlyArrayDyn<T>,
        PyReadwriteArrayDyn<T>,
        usize,
        usize,
        bool,
        bool,
        i64,
    ) = args.extract()?;
    let (s, v, o) = (slice(&sig, "sig")?, slice(&disp, "displacement")?, slice_mut(&mut out)?);
    run(py, || algebra::sig_join(s, v, dim, degree, scalar_term, prepend, n_jobs, o))
}
float_variants!(sig_join_impl => sig_join_f64, sig_join_f32);

/// `sig_join_backprop(sig, displacement, derivs, out_sig, out_disp, dimension, degree, scalar_term, prepend, n_jobs)`
fn sig_join_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (sig, disp, g, mut gs, mut gv, dim, degree, scalar_term, prepend, n_jobs): (
        PyReadonlyArrayDyn<T>,
        PyReadonlyArrayDyn<T>,
        PyReadonlyArrayDyn<T>,
        PyReadwriteArrayDyn<T>,
        PyReadwriteArrayDyn<T>,
        usize,
        usize,
        bool,
        bool,
        i64,
    ) = args.extract()?;
    let (s, v, g) = (slice(&sig, "sig")?, slice(&disp, "displacement")?, slice(&g, "derivs")?);
    let (gs, gv) = (slice_mut(&mut gs)?, slice_mut(&mut gv)?);
    run(py, || algebra::sig_join_backprop(s, v, g, dim, degree, scalar_term, prepend, n_jobs, gs, gv))
}
float_variants!(sig_join_backprop_impl => sig_join_backprop_f64, sig_join_backprop_f32);

/// `linear_sig(displacement, out, dimension, degree, scalar_term, n_jobs)`
fn linear_sig_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (disp, mut out, dim, degree, scalar_term, n_jobs): (PyReadonlyArrayDyn<T>, PyReadwriteArrayDyn<T>, usize, usize, bool, i64) = args.extract()?;
    let (v, o) = (slice(&disp, "displacement")?, slice_mut(&mut out)?);
    run(py, || algebra::linear_sig(v, dim, degree, scalar_term, n_jobs, o))
}
float_variants!(linear_sig_impl => linear_sig_f64, linear_sig_f32);

/// `linear_sig_backprop(displacement, derivs, out, dimension, degree, scalar_term, n_jobs)`
fn linear_sig_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (disp, g, mut out, dim, degree, scalar_term, n_jobs): (PyReadonlyArrayDyn<T>, PyReadonlyArrayDyn<T>, PyReadwriteArrayDyn<T>, usize, usize, bool, i64) =
        args.extract()?;
    let (v, g, o) = (slice(&disp, "displacement")?, slice(&g, "derivs")?, slice_mut(&mut out)?);
    run(py, || algebra::linear_sig_backprop(v, g, dim, degree, scalar_term, n_jobs, o))
}
float_variants!(linear_sig_backprop_impl => linear_sig_backprop_f64, linear_sig_backprop_f32);

/// `sig_inverse(sig, out, dimension, degree, scalar_term, backprop, n_jobs)`;
/// with `backprop` the input is a gradient and level 0 of the output is 0.
fn sig_inverse_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (sig, mut out, dim, degree, scalar_term, backprop, n_jobs): (PyReadonlyArrayDyn<T>, PyReadwriteArrayDyn<T>, usize, usize, bool, bool, i64) =
        args.extract()?;
    let (s, o) = (slice(&sig, "sig")?, slice_mut(&mut out)?);
    if backprop {
        run(py, || algebra::sig_inverse_backprop(s, dim, degree, scalar_term, n_jobs, o))
    } else {
        run(py, || algebra::sig_inverse(s, dim, degree, scalar_term, n_jobs, o))
    }
}
float_variants!(sig_inverse_impl => sig_inverse_f64, sig_inverse_f32);

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

// --- signature coefficients (sig_core::coef) -------------------------------

/// `sig_coef(path (B, L, d), words, out (B, n), time_aug, lead_lag, end_time, prefixes, n_jobs)`
fn sig_coef_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (path, words, mut out, time_aug, lead_lag, end_time, prefixes, n_jobs): (
        PyReadonlyArray3<T>,
        Vec<Vec<usize>>,
        PyReadwriteArrayDyn<T>,
        bool,
        bool,
        f64,
        bool,
        i64,
    ) = args.extract()?;
    let shape = path_shape(&path);
    let tr = transform(time_aug, lead_lag, end_time);
    let (p, o) = (slice(&path, "path")?, slice_mut(&mut out)?);
    run(py, || {
        let words = coef::WordList::new(&words, tr.out_dim(shape.dim))?;
        coef::sig_coef(p, shape, tr, &words, prefixes, n_jobs, o)
    })
}
float_variants!(sig_coef_impl => sig_coef_f64, sig_coef_f32);

/// `sig_coef_backprop(path (B, L, d), words, coefs, derivs, out (B, L, d), time_aug, lead_lag, end_time, n_jobs)`
fn sig_coef_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (path, words, coefs, derivs, mut out, time_aug, lead_lag, end_time, n_jobs): (
        PyReadonlyArray3<T>,
        Vec<Vec<usize>>,
        PyReadonlyArrayDyn<T>,
        PyReadonlyArrayDyn<T>,
        PyReadwriteArray3<T>,
        bool,
        bool,
        f64,
        i64,
    ) = args.extract()?;
    let shape = path_shape(&path);
    let tr = transform(time_aug, lead_lag, end_time);
    let (p, c, g, o) = (slice(&path, "path")?, slice(&coefs, "coefs")?, slice(&derivs, "derivs")?, slice_mut(&mut out)?);
    run(py, || {
        let words = coef::WordList::new(&words, tr.out_dim(shape.dim))?;
        coef::sig_coef_backprop(p, shape, tr, &words, c, g, n_jobs, o)
    })
}
float_variants!(sig_coef_backprop_impl => sig_coef_backprop_f64, sig_coef_backprop_f32);

// --- signature kernels (sig_core::kernel) ------------------------------------

fn kernel_shape(batch: usize, length1: usize, length2: usize, (order1, order2): (u32, u32)) -> kernel::KernelShape {
    kernel::KernelShape { batch, length1, length2, order: kernel::DyadicOrder { first: order1, second: order2 } }
}

fn kernel_out<'a, T>(out: &'a mut [T], return_grid: bool) -> kernel::KernelOut<'a, T> {
    if return_grid {
        kernel::KernelOut::Grids(out)
    } else {
        kernel::KernelOut::Values(out)
    }
}

/// `sig_kernel_linear(path1 (B, L1, d), path2 (B, L2, d), out, (order1, order2), scale, (time_aug, lead_lag, end_time), return_grid, n_jobs)`
fn sig_kernel_linear_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (path1, path2, mut out, orders, scale, (time_aug, lead_lag, end_time), return_grid, n_jobs): (
        PyReadonlyArray3<T>,
        PyReadonlyArray3<T>,
        PyReadwriteArrayDyn<T>,
        (u32, u32),
        f64,
        (bool, bool, f64),
        bool,
        i64,
    ) = args.extract()?;
    let (s1, s2) = (path_shape(&path1), path_shape(&path2));
    let tr = transform(time_aug, lead_lag, end_time);
    let shape = kernel_shape(s1.batch, tr.out_length(s1.length), tr.out_length(s2.length), orders);
    let (p1, p2, o) = (slice(&path1, "path1")?, slice(&path2, "path2")?, slice_mut(&mut out)?);
    let inc = kernel::Increments::Paths { paths1: p1, paths2: p2, shape1: s1, shape2: s2, transform: tr, kernel: sig_core::static_kernel::StaticKernel::Linear { factor: scale } };
    run(py, || kernel::sig_kernel(&inc, shape, n_jobs, kernel_out(o, return_grid)).map(|_| ()))
}
float_variants!(sig_kernel_linear_impl => sig_kernel_linear_f64, sig_kernel_linear_f32);

/// `sig_kernel_delta(delta (B, n1, n2), out, (order1, order2), return_grid, n_jobs)`
fn sig_kernel_delta_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    let (delta, mut out, orders, return_grid, n_jobs): (PyReadonlyArray3<T>, PyReadwriteArrayDyn<T>, (u32, u32), bool, i64) = args.extract()?;
    let s = delta.shape();
    let shape = kernel_shape(s[0], s[1] + 1, s[2] + 1, orders);
    let (d, o) = (slice(&delta, "delta")?, slice_mut(&mut out)?);
    run(py, || kernel::sig_kernel(&kernel::Increments::Given(d), shape, n_jobs, kernel_out(o, return_grid)).map(|_| ()))
}
float_variants!(sig_kernel_delta_impl => sig_kernel_delta_f64, sig_kernel_delta_f32);

/// `sig_kernel_linear_backprop(path1, path2, derivs, k_grid | None, out1 | None, out2 | None, (order1, order2), scale, (time_aug, lead_lag, end_time), grid_derivs, n_jobs)`
fn sig_kernel_linear_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (path1, path2, derivs, k_grid, mut out1, mut out2, orders, scale, (time_aug, lead_lag, end_time), grid_derivs, n_jobs): (
        PyReadonlyArray3<T>,
        PyReadonlyArray3<T>,
        PyReadonlyArrayDyn<T>,
        Option<PyReadonlyArrayDyn<T>>,
        Option<PyReadwriteArray3<T>>,
        Option<PyReadwriteArray3<T>>,
        (u32, u32),
        f64,
        (bool, bool, f64),
        bool,
        i64,
    ) = args.extract()?;
    let (s1, s2) = (path_shape(&path1), path_shape(&path2));
    let tr = transform(time_aug, lead_lag, end_time);
    let shape = kernel_shape(s1.batch, tr.out_length(s1.length), tr.out_length(s2.length), orders);
    let (p1, p2, g) = (slice(&path1, "path1")?, slice(&path2, "path2")?, slice(&derivs, "derivs")?);
    let kg = k_grid.as_ref().map(|a| slice(a, "k_grid")).transpose()?;
    let (o1, o2) = (out1.as_mut().map(slice_mut).transpose()?, out2.as_mut().map(slice_mut).transpose()?);
    let inc = kernel::Increments::Paths { paths1: p1, paths2: p2, shape1: s1, shape2: s2, transform: tr, kernel: sig_core::static_kernel::StaticKernel::Linear { factor: scale } };
    run(py, || kernel::sig_kernel_backprop(&inc, shape, g, grid_derivs, kg, n_jobs, kernel::KernelGrad::Paths { grad1: o1, grad2: o2 }))
}
float_variants!(sig_kernel_linear_backprop_impl => sig_kernel_linear_backprop_f64, sig_kernel_linear_backprop_f32);

/// `sig_kernel_delta_backprop(delta (B, n1, n2), derivs, k_grid | None, out (B, n1, n2), (order1, order2), grid_derivs, n_jobs)`
fn sig_kernel_delta_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (delta, derivs, k_grid, mut out, orders, grid_derivs, n_jobs): (
        PyReadonlyArray3<T>,
        PyReadonlyArrayDyn<T>,
        Option<PyReadonlyArrayDyn<T>>,
        PyReadwriteArray3<T>,
        (u32, u32),
        bool,
        i64,
    ) = args.extract()?;
    let s = delta.shape();
    let shape = kernel_shape(s[0], s[1] + 1, s[2] + 1, orders);
    let (d, g, o) = (slice(&delta, "delta")?, slice(&derivs, "derivs")?, slice_mut(&mut out)?);
    let kg = k_grid.as_ref().map(|a| slice(a, "k_grid")).transpose()?;
    run(py, || kernel::sig_kernel_backprop(&kernel::Increments::Given(d), shape, g, grid_derivs, kg, n_jobs, kernel::KernelGrad::Increments(o)))
}
float_variants!(sig_kernel_delta_backprop_impl => sig_kernel_delta_backprop_f64, sig_kernel_delta_backprop_f32);

// --- log-signatures (sig_core::logsig) ----------------------------------------

fn log_sig_method(method: i64) -> PyResult<LogSigMethod> {
    LogSigMethod::from_index(method).map_err(|e| PySigError(e).into())
}

/// `sig_to_log_sig(sig, out, dimension, degree, scalar_term, method, n_jobs)`
fn sig_to_log_sig_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (sig, mut out, dim, degree, scalar_term, method, n_jobs): (PyReadonlyArrayDyn<T>, PyReadwriteArrayDyn<T>, usize, usize, bool, i64, i64) =
        args.extract()?;
    let method = log_sig_method(method)?;
    let (s, o) = (slice(&sig, "sig")?, slice_mut(&mut out)?);
    run(py, || logsig::sig_to_log_sig(s, dim, degree, scalar_term, method, n_jobs, o))
}
float_variants!(sig_to_log_sig_impl => sig_to_log_sig_f64, sig_to_log_sig_f32);

/// `sig_to_log_sig_backprop(sig, derivs, out, dimension, degree, scalar_term, method, n_jobs)`
fn sig_to_log_sig_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (sig, g, mut out, dim, degree, scalar_term, method, n_jobs): (
        PyReadonlyArrayDyn<T>,
        PyReadonlyArrayDyn<T>,
        PyReadwriteArrayDyn<T>,
        usize,
        usize,
        bool,
        i64,
        i64,
    ) = args.extract()?;
    let method = log_sig_method(method)?;
    let (s, g, o) = (slice(&sig, "sig")?, slice(&g, "log_sig_derivs")?, slice_mut(&mut out)?);
    run(py, || logsig::sig_to_log_sig_backprop(s, g, dim, degree, scalar_term, method, n_jobs, o))
}
float_variants!(sig_to_log_sig_backprop_impl => sig_to_log_sig_backprop_f64, sig_to_log_sig_backprop_f32);

/// `logsig_to_sig(log_sig, out, dimension, degree, method, scalar_term, n_jobs)`
fn logsig_to_sig_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (log_sig, mut out, dim, degree, method, scalar_term, n_jobs): (PyReadonlyArrayDyn<T>, PyReadwriteArrayDyn<T>, usize, usize, i64, bool, i64) =
        args.extract()?;
    let method = log_sig_method(method)?;
    let (l, o) = (slice(&log_sig, "log_sig")?, slice_mut(&mut out)?);
    run(py, || logsig::logsig_to_sig(l, dim, degree, method, scalar_term, n_jobs, o))
}
float_variants!(logsig_to_sig_impl => logsig_to_sig_f64, logsig_to_sig_f32);

/// `logsig_to_sig_backprop(log_sig, sig_derivs, out, dimension, degree, method, scalar_term, n_jobs)`
fn logsig_to_sig_backprop_impl<T: Element + sig_core::Float>(py: Python<'_>, args: Bound<'_, PyTuple>) -> PyResult<()> {
    #[allow(clippy::type_complexity)]
    let (log_sig, g, mut out, dim, degree, method, scalar_term, n_jobs): (
        PyReadonlyArrayDyn<T>,
        PyReadonlyArrayDyn<T>,
        PyReadwriteArrayDyn<T>,
        usize,
        usize,
        i64,
        bool,
        i64,
    ) = args.extract()?;
    let method = log_sig_method(method)?;
    let (l, g, o) = (slice(&log_sig, "log_sig")?, slice(&g, "sig_derivs")?, slice_mut(&mut out)?);
    run(py, || logsig::logsig_to_sig_backprop(l, g, dim, degree, method, scalar_term, n_jobs, o))
}
float_variants!(logsig_to_sig_backprop_impl => logsig_to_sig_backprop_f64, logsig_to_sig_backprop_f32);

#[pyfunction]
fn is_lyndon(word: Vec<usize>) -> bool {
    sig_core::lyndon::is_lyndon(&word)
}

/// Length of a log-signature for `method` (0, 1, 2, or 4 for Hall; building
/// and caching the method's tables of `(dimension, degree)` on first use).
#[pyfunction]
fn log_sig_length(py: Python<'_>, dimension: usize, degree: usize, method: i64, scalar_term: bool) -> PyResult<usize> {
    let method = log_sig_method(method)?;
    run(py, || logsig::log_sig_length(dimension, degree, method, scalar_term))
}

/// The Lyndon words of length `1..=degree`, by length then lexicographically.
#[pyfunction]
fn lyndon_words(py: Python<'_>, dimension: usize, degree: usize) -> PyResult<Vec<Vec<usize>>> {
    run(py, || Ok(sig_core::lyndon::lyndon_basis(dimension, degree)?.words().to_vec()))
}

/// The standard bracketing of each Lyndon word of `lyndon_words(dimension,
/// degree)`: `(u, v)` (their positions in that list) for `[P_u, P_v]`,
/// `None` for a letter.
#[pyfunction]
fn lyndon_brackets(py: Python<'_>, dimension: usize, degree: usize) -> PyResult<Vec<Option<(usize, usize)>>> {
    run(py, || Ok(sig_core::lyndon::lyndon_basis(dimension, degree)?.standard_factors().to_vec()))
}

/// `[(w, u, c)]`: Lyndon word `u` has coefficient `c != 0` in the
/// expansion of `P_w` (`u > w`, positions in `lyndon_words`), by `u` then `w`.
#[pyfunction]
fn lyndon_triangle(py: Python<'_>, dimension: usize, degree: usize) -> PyResult<Vec<(usize, usize, i64)>> {
    run(py, || Ok(sig_core::lyndon::lyndon_basis(dimension, degree)?.triangle().collect()))
}

/// The Hall basis of `(dimension, degree)` in iisignature's order: `None`
/// for a letter (element `i < dimension` is letter `i`), `(left, right)`
/// (numbers of earlier elements) for a bracket. Builds and caches the Hall
/// tables.
#[pyfunction]
fn hall_basis(py: Python<'_>, dimension: usize, degree: usize) -> PyResult<Vec<Option<(usize, usize)>>> {
    use sig_core::hall::HallTree;
    run(py, || {
        Ok(sig_core::hall::hall_basis(dimension, degree)?
            .trees()
            .iter()
            .map(|t| match *t {
                HallTree::Letter(_) => None,
                HallTree::Bracket(u, v) => Some((u, v)),
            })
            .collect())
    })
}

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

/// The one conversion of GPU-backend errors into Python exceptions.
fn nvrtc_error(e: sig_cuda::CudaError) -> PyErr {
    match e {
        sig_cuda::CudaError::Unavailable(_) => CudaUnavailableError::new_err(e.to_string()),
        sig_cuda::CudaError::Invalid(_) => PyValueError::new_err(e.to_string()),
        sig_cuda::CudaError::Compile { .. } | sig_cuda::CudaError::Driver(_) => SigrsError::new_err(e.to_string()),
    }
}

/// [`run`]'s twin for the GPU backend: GIL released, panics caught,
/// [`sig_cuda::CudaError`] converted.
fn cuda_run<R: Send>(py: Python<'_>, work: impl FnOnce() -> Result<R, sig_cuda::CudaError> + Send) -> PyResult<R> {
    match py.detach(|| catch_unwind(AssertUnwindSafe(work))) {
        Ok(result) => result.map_err(nvrtc_error),
        Err(_) => Err(SigrsError::new_err("internal error in the sigrs GPU backend (please report it)")),
    }
}

/// `(batch, length, dim, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, is_f64)`.
type CudaProblem = (usize, usize, usize, usize, bool, bool, f64, bool, bool, bool, bool);
/// `(device, stream, max_blocks, force_global, threads, nvrtc_dirs)`.
type CudaPlacement = (i32, usize, u32, bool, u32, Vec<String>);

fn cuda_problem(p: CudaProblem) -> sig_cuda::signature::SigProblem {
    let (batch, length, dim, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, is_f64) = p;
    let float = if is_f64 { sig_cuda::signature::Float::F64 } else { sig_cuda::signature::Float::F32 };
    sig_cuda::signature::SigProblem { batch, length, dim, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, float }
}

fn cuda_placement(p: CudaPlacement) -> sig_cuda::signature::Placement {
    let (device, stream, max_blocks, force_global, threads, dirs) = p;
    sig_cuda::signature::Placement { device, stream, max_blocks, force_global, threads, nvrtc_dirs: search_dirs(dirs) }
}

/// `(scratch, incr_grads)`: the numbers of scratch a GPU signature
/// (`backward=False`) or its gradient needs besides inputs and outputs.
#[pyfunction]
fn cuda_sig_workspace(py: Python<'_>, problem: CudaProblem, placement: CudaPlacement, backward: bool) -> PyResult<(usize, usize)> {
    let (p, place) = (cuda_problem(problem), cuda_placement(placement));
    cuda_run(py, || sig_cuda::signature::sig_workspace(&p, &place, backward).map(|w| (w.scratch, w.incr_grads)))
}

// The pointers below come from torch tensors the Python layer allocated
// and checked (device, dtype, contiguity, shape) for this problem; the
// kernels are queued on the given stream and nothing is synchronised.

/// Signatures of device memory: `paths` (and `initial`, or 0) into `out`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn cuda_sig_forward(py: Python<'_>, problem: CudaProblem, placement: CudaPlacement, paths: u64, initial: u64, out: u64, scratch: u64) -> PyResult<()> {
    let (p, place) = (cuda_problem(problem), cuda_placement(placement));
    // SAFETY: see above.
    cuda_run(py, || unsafe { sig_cuda::signature::sig_forward(&p, &place, paths, initial, out, scratch) })
}

/// Gradient of GPU signatures: `(paths, sigs, sig_grads)` into `out` (and
/// `initial_grads`, unless 0), through `incr_grads`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn cuda_sig_backward(
    py: Python<'_>,
    problem: CudaProblem,
    placement: CudaPlacement,
    paths: u64,
    sigs: u64,
    sig_grads: u64,
    incr_grads: u64,
    initial_grads: u64,
    scratch: u64,
    out: u64,
) -> PyResult<()> {
    let (p, place) = (cuda_problem(problem), cuda_placement(placement));
    // SAFETY: see above.
    cuda_run(py, || unsafe { sig_cuda::signature::sig_backward(&p, &place, paths, sigs, sig_grads, incr_grads, initial_grads, scratch, out) })
}

/// `transform_path` on device memory.
#[pyfunction]
fn cuda_transform_path(py: Python<'_>, problem: CudaProblem, placement: CudaPlacement, paths: u64, out: u64) -> PyResult<()> {
    let (p, place) = (cuda_problem(problem), cuda_placement(placement));
    // SAFETY: see above.
    cuda_run(py, || unsafe { sig_cuda::signature::transform_path(&p, &place, paths, out) })
}

/// `transform_path_backprop` on device memory.
#[pyfunction]
fn cuda_transform_path_backprop(py: Python<'_>, problem: CudaProblem, placement: CudaPlacement, derivs: u64, out: u64) -> PyResult<()> {
    let (p, place) = (cuda_problem(problem), cuda_placement(placement));
    // SAFETY: see above.
    cuda_run(py, || unsafe { sig_cuda::signature::transform_path_backprop(&p, &place, derivs, out) })
}

/// `(threads, block, sig_len, forward_len, backward_len)` of the GPU
/// signature kernels' (D, N) specialisation.
#[pyfunction]
fn cuda_sig_layout(d: usize, degree: usize) -> PyResult<(usize, usize, usize, usize, usize)> {
    sig_cuda::signature::layout(d, degree).map_err(nvrtc_error)
}

/// NVRTC compilations run by this process so far.
#[pyfunction]
fn cuda_compilations() -> usize {
    sig_cuda::launch::compilations()
}

fn search_dirs(dirs: Vec<String>) -> Vec<std::path::PathBuf> {
    dirs.into_iter().map(std::path::PathBuf::from).collect()
}

/// `(major, minor, path)` of the NVRTC found in `dirs` or on the system path.
#[pyfunction]
fn nvrtc_version(py: Python<'_>, dirs: Vec<String>) -> PyResult<(i32, i32, String)> {
    py.detach(|| {
        let n = sig_cuda::nvrtc::load(&search_dirs(dirs))?;
        let (major, minor) = n.version()?;
        Ok((major, minor, n.path.clone()))
    })
    .map_err(nvrtc_error)
}

/// Compiles every bundled kernel: `[(file name, PTX bytes or None, error message)]`.
#[pyfunction]
fn nvrtc_compile_all(py: Python<'_>, dirs: Vec<String>) -> PyResult<Vec<(String, Option<usize>, String)>> {
    let results = py.detach(|| sig_cuda::compile_all(&search_dirs(dirs))).map_err(nvrtc_error)?;
    Ok(results
        .into_iter()
        .map(|(name, r)| match r {
            Ok(size) => (name.to_owned(), Some(size), String::new()),
            Err(e) => (name.to_owned(), None, e.to_string()),
        })
        .collect())
}

/// Compiles `source` with the bundled kernels' options; returns the PTX
/// or raises `SigrsError` carrying NVRTC's log.
#[pyfunction]
fn nvrtc_compile(py: Python<'_>, dirs: Vec<String>, name: String, source: String) -> PyResult<String> {
    py.detach(|| {
        let n = sig_cuda::nvrtc::load(&search_dirs(dirs))?;
        n.compile(&name, &source, sig_cuda::COMPILE_OPTIONS)
    })
    .map_err(nvrtc_error)
}

/// The bundled CUDA sources: `[(file name, source)]`.
#[pyfunction]
fn cuda_kernel_sources() -> Vec<(&'static str, &'static str)> {
    sig_cuda::KERNELS.to_vec()
}

/// The instruction set the CPU kernels run with here.
#[pyfunction]
fn simd_level() -> &'static str {
    sig_core::simd_level()
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
    m.add_function(wrap_pyfunction!(sig_kernel_linear_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_linear_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_delta_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_delta_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_linear_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_linear_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_delta_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_delta_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_coef_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_coef_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_coef_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_coef_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_combine_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_combine_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_combine_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_combine_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(multi_sig_combine_f64, m)?)?;
    m.add_function(wrap_pyfunction!(multi_sig_combine_f32, m)?)?;
    m.add_function(wrap_pyfunction!(multi_sig_combine_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(multi_sig_combine_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_join_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_join_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_join_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_join_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(linear_sig_f64, m)?)?;
    m.add_function(wrap_pyfunction!(linear_sig_f32, m)?)?;
    m.add_function(wrap_pyfunction!(linear_sig_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(linear_sig_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_inverse_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_inverse_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_to_log_sig_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_to_log_sig_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sig_to_log_sig_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(sig_to_log_sig_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(logsig_to_sig_f64, m)?)?;
    m.add_function(wrap_pyfunction!(logsig_to_sig_f32, m)?)?;
    m.add_function(wrap_pyfunction!(logsig_to_sig_backprop_f64, m)?)?;
    m.add_function(wrap_pyfunction!(logsig_to_sig_backprop_f32, m)?)?;
    m.add_function(wrap_pyfunction!(is_lyndon, m)?)?;
    m.add_function(wrap_pyfunction!(log_sig_length, m)?)?;
    m.add_function(wrap_pyfunction!(lyndon_words, m)?)?;
    m.add_function(wrap_pyfunction!(hall_basis, m)?)?;
    m.add_function(wrap_pyfunction!(lyndon_brackets, m)?)?;
    m.add_function(wrap_pyfunction!(lyndon_triangle, m)?)?;
    m.add_function(wrap_pyfunction!(sig_length, m)?)?;
    m.add_function(wrap_pyfunction!(word_to_idx, m)?)?;
    m.add_function(wrap_pyfunction!(idx_to_word, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_n_jobs, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_status, m)?)?;
    m.add_function(wrap_pyfunction!(nvrtc_version, m)?)?;
    m.add_function(wrap_pyfunction!(nvrtc_compile_all, m)?)?;
    m.add_function(wrap_pyfunction!(nvrtc_compile, m)?)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_kernel_sources, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_sig_workspace, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_sig_forward, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_sig_backward, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_transform_path, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_transform_path_backprop, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_sig_layout, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_compilations, m)?)?;
    Ok(())
}
