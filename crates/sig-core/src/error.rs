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
