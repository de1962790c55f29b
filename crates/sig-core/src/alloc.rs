//! Fallible allocation: every buffer whose size follows from user input is
//! reserved here, so a request that cannot be met is
//! [`SigError::OutOfMemory`] (Python's `MemoryError`) naming what was being
//! built, or [`SigError::Overflow`] when its size does not even fit in
//! `usize`, never a process abort (Rust's infallible allocations abort).

use crate::error::{Result, SigError};

/// `count` values of `T` in bytes, or `Overflow` naming `what`.
pub fn bytes_of<T>(what: &str, count: usize) -> Result<usize> {
    count
        .checked_mul(std::mem::size_of::<T>().max(1))
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(|| SigError::Overflow(format!("{what} ({count} values)")))
}

/// A vector of `len` copies of `value`, allocated fallibly.
pub fn try_vec<T: Clone>(what: &str, len: usize, value: T) -> Result<Vec<T>> {
    let mut v = Vec::new();
    try_resize(&mut v, what, len, value)?;
    Ok(v)
}

/// `len` zeros: a scratch buffer of `what`, allocated fallibly.
pub fn zeros<T: crate::Float>(what: &str, len: usize) -> Result<Vec<T>> {
    try_vec(what, len, T::zero())
}

/// `v.resize(len, value)`, reserving fallibly first; a no-op allocation-wise
/// when the capacity is already there (scratch reused across items).
pub fn try_resize<T: Clone>(v: &mut Vec<T>, what: &str, len: usize, value: T) -> Result<()> {
    if len > v.capacity() {
        let bytes = bytes_of::<T>(what, len)?;
        v.try_reserve_exact(len - v.len()).map_err(|_| SigError::OutOfMemory { what: what.to_string(), bytes })?;
    }
    v.resize(len, value);
    Ok(())
}

/// `v.clear()` then [`try_resize`]: every element set to `value`.
pub fn try_refill<T: Clone>(v: &mut Vec<T>, what: &str, len: usize, value: T) -> Result<()> {
    v.clear();
    try_resize(v, what, len, value)
}

/// Room for `additional` more elements, reserved fallibly.
pub fn try_reserve<T>(v: &mut Vec<T>, what: &str, additional: usize) -> Result<()> {
    if v.capacity() - v.len() < additional {
        let total = v.len().checked_add(additional).ok_or_else(|| SigError::Overflow(what.to_string()))?;
        let bytes = bytes_of::<T>(what, total)?;
        v.try_reserve(additional).map_err(|_| SigError::OutOfMemory { what: what.to_string(), bytes })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_requests_are_errors_not_aborts() {
        let e = try_vec::<f64>("a grid", usize::MAX / 2, 0.0).unwrap_err();
        assert!(matches!(e, SigError::Overflow(_)), "{e:?}");
        // fits in isize but not in any machine's memory
        let e = try_vec::<u8>("a grid", isize::MAX as usize - 1, 0).unwrap_err();
        assert!(matches!(e, SigError::OutOfMemory { .. }), "{e:?}");
        assert!(e.to_string().contains("a grid"), "{e}");
    }

    #[test]
    fn resizing_within_capacity_keeps_the_buffer() {
        let mut v = try_vec("scratch", 10, 1.0f32).unwrap();
        let p = v.as_ptr();
        try_refill(&mut v, "scratch", 5, 2.0).unwrap();
        assert_eq!((v.as_ptr(), v.len(), v[4]), (p, 5, 2.0));
    }
}
