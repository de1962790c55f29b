//! The GPU backend (`sig_cuda`): what it found on this machine, NVRTC, and
//! launches on device memory that torch allocated.
//!
//! A problem and a placement are described by two small frozen classes the
//! Python layer builds with keywords; the launches take them plus raw
//! device pointers (from tensors the Python layer allocated and checked:
//! device, dtype, contiguity, shape) and queue the kernels on the given
//! stream without synchronising.

use std::path::PathBuf;

use pyo3::prelude::*;
use sig_core::{PathShape, PathTransform};
use sig_cuda::signature::SigProblem;
use sig_cuda::transform::TransformProblem;
use sig_cuda::{Float, Placement};

use crate::arrays::add_functions;
use crate::error::enter;

/// A batch of `(batch, length, dim)` paths and the signature options of a GPU call.
#[pyclass(frozen, name = "CudaSigProblem", module = "sigrs._native")]
pub struct CudaSigProblem(SigProblem);

#[pymethods]
impl CudaSigProblem {
    #[new]
    #[pyo3(signature = (*, batch, length, dim, degree, time_aug, lead_lag, end_time, scalar_term, stream, inverse, float64))]
    #[allow(clippy::too_many_arguments)]
    fn new(batch: usize, length: usize, dim: usize, degree: usize, time_aug: bool, lead_lag: bool, end_time: f64, scalar_term: bool, stream: bool, inverse: bool, float64: bool) -> Self {
        let (shape, transform) = (PathShape::new(batch, length, dim), PathTransform { time_aug, lead_lag, end_time });
        CudaSigProblem(SigProblem { shape, degree, transform, scalar_term, stream, inverse, float: float_type(float64) })
    }
}

/// A batch of `(batch, length, dim)` paths and the transform of a GPU `transform_path` call.
#[pyclass(frozen, name = "CudaTransformProblem", module = "sigrs._native")]
pub struct CudaTransformProblem(TransformProblem);

#[pymethods]
impl CudaTransformProblem {
    #[new]
    #[pyo3(signature = (*, batch, length, dim, time_aug, lead_lag, end_time, float64))]
    #[allow(clippy::too_many_arguments)]
    fn new(batch: usize, length: usize, dim: usize, time_aug: bool, lead_lag: bool, end_time: f64, float64: bool) -> Self {
        let (shape, transform) = (PathShape::new(batch, length, dim), PathTransform { time_aug, lead_lag, end_time });
        CudaTransformProblem(TransformProblem { shape, transform, float: float_type(float64) })
    }
}

fn float_type(float64: bool) -> Float {
    if float64 {
        Float::F64
    } else {
        Float::F32
    }
}

/// Where and how to launch: device ordinal, `CUstream` handle, launch limits.
#[pyclass(frozen, name = "CudaPlacement", module = "sigrs._native")]
pub struct CudaPlacement(Placement);

#[pymethods]
impl CudaPlacement {
    #[new]
    #[pyo3(signature = (*, device, stream, max_blocks, force_global, threads, nvrtc_dirs))]
    fn new(device: i32, stream: usize, max_blocks: u32, force_global: bool, threads: u32, nvrtc_dirs: Vec<String>) -> Self {
        CudaPlacement(Placement { device, stream, max_blocks, force_global, threads, nvrtc_dirs: search_dirs(nvrtc_dirs) })
    }
}

fn search_dirs(dirs: Vec<String>) -> Vec<PathBuf> {
    dirs.into_iter().map(PathBuf::from).collect()
}

/// `(available, detail)`: whether a CUDA driver with a device was found,
/// and its version or the reason it was not.
#[pyfunction]
pub fn cuda_status() -> (bool, String) {
    match sig_cuda::probe() {
        Ok(info) => (true, format!("CUDA driver {}.{}, {} device(s)", info.version.0, info.version.1, info.devices)),
        Err(e) => (false, e.to_string()),
    }
}

/// `(scratch, incr_grads)`: the numbers of scratch a GPU signature
/// (`backward=False`) or its gradient needs besides inputs and outputs.
#[pyfunction]
#[pyo3(signature = (problem, placement, backward))]
pub fn cuda_sig_workspace(py: Python<'_>, problem: &CudaSigProblem, placement: &CudaPlacement, backward: bool) -> PyResult<(usize, usize)> {
    enter(py, || sig_cuda::signature::sig_workspace(&problem.0, &placement.0, backward).map(|w| (w.scratch, w.incr_grads)))
}

/// Signatures of device memory: `paths` (and `initial`, or 0) into `out`.
#[pyfunction]
#[pyo3(signature = (problem, placement, paths, initial, out, scratch))]
pub fn cuda_sig_forward(py: Python<'_>, problem: &CudaSigProblem, placement: &CudaPlacement, paths: u64, initial: u64, out: u64, scratch: u64) -> PyResult<()> {
    // SAFETY: the pointers are device memory of the documented sizes (module doc).
    enter(py, || unsafe { sig_cuda::signature::sig_forward(&problem.0, &placement.0, paths, initial, out, scratch) })
}

/// Gradient of GPU signatures: `(paths, sigs, sig_grads)` into `out` (and
/// `initial_grads`, unless 0), through `incr_grads`.
#[pyfunction]
#[pyo3(signature = (problem, placement, paths, sigs, sig_grads, incr_grads, initial_grads, scratch, out))]
#[allow(clippy::too_many_arguments)]
pub fn cuda_sig_backward(
    py: Python<'_>,
    problem: &CudaSigProblem,
    placement: &CudaPlacement,
    paths: u64,
    sigs: u64,
    sig_grads: u64,
    incr_grads: u64,
    initial_grads: u64,
    scratch: u64,
    out: u64,
) -> PyResult<()> {
    // SAFETY: as in cuda_sig_forward.
    enter(py, || unsafe { sig_cuda::signature::sig_backward(&problem.0, &placement.0, paths, sigs, sig_grads, incr_grads, initial_grads, scratch, out) })
}

/// `transform_path` on device memory.
#[pyfunction]
#[pyo3(signature = (problem, placement, paths, out))]
pub fn cuda_transform_path(py: Python<'_>, problem: &CudaTransformProblem, placement: &CudaPlacement, paths: u64, out: u64) -> PyResult<()> {
    // SAFETY: as in cuda_sig_forward.
    enter(py, || unsafe { sig_cuda::transform::transform_path(&problem.0, &placement.0, paths, out) })
}

/// `transform_path_backprop` on device memory.
#[pyfunction]
#[pyo3(signature = (problem, placement, derivs, out))]
pub fn cuda_transform_path_backprop(py: Python<'_>, problem: &CudaTransformProblem, placement: &CudaPlacement, derivs: u64, out: u64) -> PyResult<()> {
    // SAFETY: as in cuda_sig_forward.
    enter(py, || unsafe { sig_cuda::transform::transform_path_backprop(&problem.0, &placement.0, derivs, out) })
}

/// `(threads, block, sig_len, forward_len, backward_len)` of the GPU
/// signature kernels' (d, degree) specialisation.
#[pyfunction]
#[pyo3(signature = (d, degree))]
pub fn cuda_sig_layout(py: Python<'_>, d: usize, degree: usize) -> PyResult<(usize, usize, usize, usize, usize)> {
    enter(py, || sig_cuda::signature::layout(d, degree))
}

/// NVRTC compilations run by this process so far.
#[pyfunction]
pub fn cuda_compilations() -> usize {
    sig_cuda::launch::compilations()
}

/// `(major, minor, path)` of the NVRTC found in `dirs` or on the system path.
#[pyfunction]
#[pyo3(signature = (dirs))]
pub fn nvrtc_version(py: Python<'_>, dirs: Vec<String>) -> PyResult<(i32, i32, String)> {
    enter(py, || {
        let n = sig_cuda::nvrtc::load(&search_dirs(dirs))?;
        let (major, minor) = n.version()?;
        Ok::<_, sig_cuda::CudaError>((major, minor, n.path.clone()))
    })
}

/// Compiles every bundled kernel: `[(file name, PTX bytes or None, error message)]`.
#[pyfunction]
#[pyo3(signature = (dirs))]
pub fn nvrtc_compile_all(py: Python<'_>, dirs: Vec<String>) -> PyResult<Vec<(String, Option<usize>, String)>> {
    let results = enter(py, || sig_cuda::compile_all(&search_dirs(dirs)))?;
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
#[pyo3(signature = (dirs, name, source))]
pub fn nvrtc_compile(py: Python<'_>, dirs: Vec<String>, name: String, source: String) -> PyResult<String> {
    enter(py, || sig_cuda::nvrtc::load(&search_dirs(dirs))?.compile(&name, &source, sig_cuda::COMPILE_OPTIONS))
}

/// The bundled CUDA sources: `[(file name, source)]`.
#[pyfunction]
pub fn cuda_kernel_sources() -> Vec<(&'static str, &'static str)> {
    sig_cuda::KERNELS.to_vec()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CudaSigProblem>()?;
    m.add_class::<CudaTransformProblem>()?;
    m.add_class::<CudaPlacement>()?;
    add_functions!(
        m,
        cuda_status,
        cuda_sig_workspace,
        cuda_sig_forward,
        cuda_sig_backward,
        cuda_transform_path,
        cuda_transform_path_backprop,
        cuda_sig_layout,
        cuda_compilations,
        nvrtc_version,
        nvrtc_compile_all,
        nvrtc_compile,
        cuda_kernel_sources,
    )
}
