//! The one error type of the core. Every fallible public function returns
//! [`Result`]; the Python binding maps each variant to one exception class.

/// What can go wrong when calling into `sig_core`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// An argument has a value the function cannot accept
    /// (maps to Python's `ValueError`).
    #[error("{name}: expected {expected}, got {actual}")]
    InvalidArgument {
        name: &'static str,
        expected: String,
        actual: String,
    },
    /// A buffer's length does not match the shape it was described with
    /// (maps to Python's `ValueError`).
    #[error("{name} has length {actual}, but the given shape needs {expected}")]
    BufferLength {
        name: &'static str,
        expected: usize,
        actual: usize,
    },
    /// The requested output would not fit in memory addressable by `usize`
    /// (maps to Python's `OverflowError`).
    #[error("{0} overflows the address space")]
    Overflow(String),
    /// Memory for `what` (`bytes` bytes) could not be allocated (maps to
    /// Python's `MemoryError`). Nothing is left half-built.
    #[error("not enough memory for {what}: it needs {} (lower the batch size, max_batch or the degree)", human_bytes(*bytes))]
    OutOfMemory { what: String, bytes: usize },
    /// The caller asked the work to stop (see [`crate::interrupt`]); the
    /// outputs are incomplete (maps to Python's `KeyboardInterrupt`).
    #[error("interrupted")]
    Interrupted,
}

/// `Result` with [`SigError`].
pub type Result<T> = std::result::Result<T, SigError>;

impl SigError {
    pub fn invalid(
        name: &'static str,
        expected: impl Into<String>,
        actual: impl std::fmt::Display,
    ) -> Self {
        SigError::InvalidArgument {
            name,
            expected: expected.into(),
            actual: actual.to_string(),
        }
    }
}

/// `bytes` for people: "2.3 GB".
pub fn human_bytes(bytes: usize) -> String {
    const UNITS: [&str; 6] = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Checks that a buffer has exactly the length its shape implies.
pub(crate) fn check_len(name: &'static str, actual: usize, expected: usize) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(SigError::BufferLength {
            name,
            expected,
            actual,
        })
    }
}
