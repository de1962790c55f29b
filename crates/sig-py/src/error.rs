//! The way into native work, and the one mapping of its errors to Python.
//!
//! Every call into `sig_core` or `sig_cuda` goes through [`enter`]: it
//! releases the GIL, runs the work as a watched call (so Ctrl-C stops it
//! within a few tens of milliseconds: see `sig_core::interrupt`), catches
//! panics with their message, and converts errors into the exception
//! hierarchy below. Work known to be tiny goes through [`enter_sized`],
//! which skips the GIL release and the watch (they would cost more than
//! the work) but catches and converts the same way.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt, PyMemoryError, PyOverflowError, PyValueError};
use pyo3::prelude::*;
use sig_core::SigError;
use sig_cuda::CudaError;

create_exception!(sigrs, SigrsError, PyException, "Base class of the exceptions sigrs raises itself.");
create_exception!(
    sigrs,
    CudaUnavailableError,
    SigrsError,
    "A CUDA tensor was given but the GPU backend cannot run (the message says why)."
);

/// What native work can fail with.
pub enum Failure {
    Core(SigError),
    Cuda(CudaError),
}

impl From<SigError> for Failure {
    fn from(e: SigError) -> Self {
        Failure::Core(e)
    }
}

impl From<CudaError> for Failure {
    fn from(e: CudaError) -> Self {
        Failure::Cuda(e)
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        match failure {
            Failure::Core(e) => {
                let msg = e.to_string();
                match e {
                    SigError::InvalidArgument { .. } | SigError::BufferLength { .. } => PyValueError::new_err(msg),
                    SigError::Overflow(_) => PyOverflowError::new_err(msg),
                    SigError::OutOfMemory { .. } => PyMemoryError::new_err(msg),
                    SigError::Interrupted => PyKeyboardInterrupt::new_err(msg),
                }
            }
            Failure::Cuda(e) => {
                let msg = e.to_string();
                match e {
                    CudaError::Unavailable(_) => CudaUnavailableError::new_err(msg),
                    CudaError::Invalid(_) => PyValueError::new_err(msg),
                    CudaError::Compile { .. } | CudaError::Driver(_) => SigrsError::new_err(msg),
                }
            }
        }
    }
}

/// Work (in multiply-adds, an estimate) below which a call runs inline:
/// a few microseconds at most, less than what releasing and retaking the
/// GIL and watching for Ctrl-C would add to it, and too short for either to
/// matter (no other thread waits long, no one presses Ctrl-C that fast).
pub const INLINE_WORK: usize = 1 << 14;

/// [`enter`] for work whose size the caller estimated: below
/// [`INLINE_WORK`] it runs inline, the GIL held and unwatched (panics and
/// errors are still caught and mapped the same way).
pub fn enter_sized<R, E>(py: Python<'_>, work: usize, run: impl FnOnce() -> Result<R, E> + Send) -> PyResult<R>
where
    R: Send,
    E: Into<Failure> + Send,
{
    if work < INLINE_WORK {
        return settle(catch_unwind(AssertUnwindSafe(run)));
    }
    enter(py, run)
}

/// Runs native work with the GIL released, as a watched call that stops
/// when Python has a pending signal (the error its handler raised, usually
/// `KeyboardInterrupt`, is what the caller gets), with panics turned into
/// `SigrsError` carrying their message and errors mapped by [`Failure`].
pub fn enter<R, E>(py: Python<'_>, work: impl FnOnce() -> Result<R, E> + Send) -> PyResult<R>
where
    R: Send,
    E: Into<Failure> + Send,
{
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    // Runs on this (the calling) thread only, every ~20 ms of work.
    let poll = || {
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(err) => {
                *raised.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
                true
            }
        })
    };
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(|| sig_core::interrupt::watched(&poll, work))));
    // A signal handler that raised must not be lost, even if the work
    // happened to finish.
    if let Some(err) = raised.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(err);
    }
    settle(outcome)
}

/// The outcome of caught native work as a Python result.
fn settle<R, E: Into<Failure>>(outcome: std::thread::Result<Result<R, E>>) -> PyResult<R> {
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(err.into().into()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic without a message");
            Err(SigrsError::new_err(format!("internal error in sigrs (please report it): {what}")))
        }
    }
}
