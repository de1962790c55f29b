//! `sig_cuda`: the GPU backend of sigrs.
//!
//! Kernels will live in `kernels/*.cu`, bundled with `include_str!` and
//! compiled by NVRTC at first use. The CUDA driver is loaded dynamically,
//! so this crate builds and runs on machines without CUDA: [`probe`] says
//! whether a usable driver is present and, if not, why.
//!
//! This release has no kernels yet; [`probe`] is what the Python package
//! uses to report `cuda_available()` and to explain why a CUDA tensor is
//! refused.

use std::sync::OnceLock;

/// Why the GPU backend cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CudaError {
    /// No CUDA driver library could be loaded, or it failed to initialise.
    #[error("CUDA is unavailable: {0}")]
    Unavailable(String),
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
