//! `sig_cuda`: the GPU backend of sigrs.
//!
//! Kernels live in `kernels/*.cu`, bundled with `include_str!` ([`KERNELS`])
//! and compiled by NVRTC ([`nvrtc`]). The CUDA driver and NVRTC are loaded
//! dynamically, so this crate builds and runs on machines without CUDA:
//! [`probe`] says whether a usable driver is present and, if not, why, and
//! [`compile_all`] compiles every bundled kernel wherever NVRTC loads, GPU
//! or not.
//!
//! [`signature`] (signatures and their gradients) and [`transform`] (the
//! transformed paths) launch the kernels on device memory and streams the
//! caller owns (PyTorch's), in the device's primary context ([`launch`]).
//! Paths and transforms are described with the core's types
//! ([`sig_core::PathShape`], [`sig_core::PathTransform`]), so the GPU and
//! CPU backends agree on what a transformed path is. Each source is
//! specialised per (dimension, degree), compiled at the first call that
//! needs it and cached for the process.

use std::path::PathBuf;
use std::sync::OnceLock;

pub mod launch;
pub mod nvrtc;
pub mod signature;
pub mod transform;

pub use launch::{Float, Placement};

/// The bundled CUDA sources: `(file name, source)`.
pub const KERNELS: &[(&str, &str)] = &[
    ("signature.cu", include_str!("../kernels/signature.cu")),
    ("transform.cu", include_str!("../kernels/transform.cu")),
];

/// NVRTC options for every kernel: compute_75 (Turing) is the oldest
/// virtual architecture CUDA 13's NVRTC accepts, and CUDA 11 and 12 accept
/// it too; the driver JIT-compiles the PTX for the actual GPU.
pub const COMPILE_OPTIONS: &[&str] = &["--gpu-architecture=compute_75", "--std=c++14"];

/// The outcome of compiling one bundled source: its file name, and the
/// size of its PTX or the error.
pub type CompileOutcome = (&'static str, Result<usize, CudaError>);

/// Compiles every bundled kernel to PTX with the NVRTC found in `dirs` or
/// on the system path.
pub fn compile_all(dirs: &[PathBuf]) -> Result<Vec<CompileOutcome>, CudaError> {
    let compiler = nvrtc::load(dirs)?;
    Ok(KERNELS.iter().map(|&(name, source)| (name, compiler.compile(name, source, COMPILE_OPTIONS).map(|ptx| ptx.len()))).collect())
}

/// Why the GPU backend cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CudaError {
    /// No CUDA driver library could be loaded, or it failed to initialise.
    #[error("CUDA is unavailable: {0}")]
    Unavailable(String),
    /// NVRTC rejected a bundled kernel; `log` is its compiler log.
    #[error("NVRTC could not compile {kernel}:\n{log}")]
    Compile { kernel: String, log: String },
    /// A driver call failed (out of memory, a bad launch, a bad pointer).
    #[error("CUDA error: {0}")]
    Driver(String),
    /// The problem is outside what the GPU kernels take.
    #[error("{0}")]
    Invalid(String),
}

/// What [`probe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverInfo {
    /// The driver's CUDA version as `(major, minor)`.
    pub version: (i32, i32),
    /// Number of visible devices.
    pub devices: i32,
}

fn driver_library_loads() -> Result<(), String> {
    let candidates = cudarc::get_lib_name_candidates("cuda");
    for name in &candidates {
        // SAFETY: loading the CUDA driver runs only its initialisers, which
        // are safe to run at any point in a process.
        if unsafe { libloading::Library::new(name) }.is_ok() {
            return Ok(());
        }
    }
    Err(format!(
        "no CUDA driver library could be loaded ({} and {} other names tried)",
        candidates.last().map_or("libcuda", String::as_str),
        candidates.len().saturating_sub(1)
    ))
}

/// Looks for a usable CUDA driver, once per process.
pub fn probe() -> Result<DriverInfo, CudaError> {
    static PROBE: OnceLock<Result<DriverInfo, CudaError>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            // Check the library loads first: cudarc panics if it cannot.
            driver_library_loads().map_err(CudaError::Unavailable)?;
            let unavailable = |what: &str, e: cudarc::driver::DriverError| CudaError::Unavailable(format!("{what} failed: {e:?}"));
            cudarc::driver::result::init().map_err(|e| unavailable("cuInit", e))?;
            let devices = cudarc::driver::result::device::get_count().map_err(|e| unavailable("cuDeviceGetCount", e))?;
            let mut version = 0;
            // SAFETY: cuInit succeeded and `version` is a valid out pointer.
            unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version) }
                .result()
                .map_err(|e| unavailable("cuDriverGetVersion", e))?;
            if devices == 0 {
                return Err(CudaError::Unavailable("the CUDA driver sees no devices".into()));
            }
            Ok(DriverInfo { version: (version / 1000, (version % 1000) / 10), devices })
        })
        .clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_answers_without_panicking() {
        // On a machine without CUDA this is an error with a reason; with a
        // GPU it reports at least one device. Either way, no panic.
        match super::probe() {
            Ok(info) => assert!(info.devices > 0),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}
