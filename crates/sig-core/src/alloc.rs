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
///
/// Asks the allocator for zeroed memory instead of writing the zeros: a
/// large buffer then comes as fresh zero pages from the kernel, touched
/// only when used, where `resize` would write every page first (at d = 6,
/// degree 8 that write was half the time of a short path's signature).
pub fn zeros<T: crate::Float>(what: &str, len: usize) -> Result<Vec<T>> {
    let bytes = bytes_of::<T>(what, len)?;
    if bytes == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<T>(len).map_err(|_| SigError::Overflow(format!("{what} ({len} values)")))?;
    // SAFETY: `layout` has a non-zero size; `Float` is implemented only for
    // f32 and f64, whose all-zero bit pattern is +0.0, so the `len` values
    // are initialised; the pointer comes from the global allocator with
    // `T`'s layout and capacity `len`, as `Vec::from_raw_parts` requires.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut T;
        if ptr.is_null() {
            return Err(SigError::OutOfMemory { what: what.to_string(), bytes });
        }
        Ok(Vec::from_raw_parts(ptr, len, len))
    }
}

/// A zeroed buffer like [`zeros`], taken from (and on drop given back to) a
/// small per-thread pool, for the workspaces of the signature kernels.
///
/// A workspace as large as a signature (16 MiB at d = 6, degree 8 in f64)
/// allocated fresh on every call costs a page fault per 4 KiB page: for a
/// short path that was 80 % of the call (5x slower than pysiglib). Buffers
/// between [`POOL_MIN_BYTES`] and [`POOL_MAX_BYTES`] are kept, at most
/// [`POOL_MAX_BYTES`] in all per thread; smaller ones come from the
/// allocator's heap without faults, larger ones are not worth holding on to.
pub fn scratch<T: crate::Float>(what: &str, len: usize) -> Result<Scratch<T>> {
    let mut v = scratch_any(what, len)?;
    v.fill(T::zero());
    Ok(v)
}

/// [`scratch`] without the zeroing when a pooled buffer is reused: its
/// values are left from earlier use (NaN in sig-core's unit tests, so that
/// a kernel reading before writing fails them), for workspaces every
/// kernel writes before it reads.
pub fn scratch_any<T: crate::Float>(what: &str, len: usize) -> Result<Scratch<T>> {
    // Room to start the buffer on a cache line wherever the allocator puts it.
    let pad = SCRATCH_ALIGN / std::mem::size_of::<T>() - 1;
    let total = len.checked_add(pad).ok_or_else(|| SigError::Overflow(format!("{what} ({len} values)")))?;
    let bytes = bytes_of::<T>(what, total)?;
    let reused = pooled_size(bytes).then(|| POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        // The smallest kept buffer of this type that is large enough, and
        // not more than twice as large: a small request must not take a
        // large buffer that the next request of the same call needs.
        let fits = |v: &&Vec<T>| v.capacity() >= total && v.capacity() / 2 <= total;
        let best = (0..pool.buffers.len())
            .filter_map(|i| pool.buffers[i].downcast_ref::<Vec<T>>().filter(fits).map(|v| (i, v.capacity())))
            .min_by_key(|&(_, cap)| cap)
            .map(|(i, _)| i)?;
        let v = pool.buffers.swap_remove(best).downcast::<Vec<T>>().ok()?;
        pool.bytes -= v.capacity() * std::mem::size_of::<T>();
        Some(*v)
    })).flatten();
    let v = match reused {
        Some(mut v) => {
            if cfg!(test) {
                v.clear();
            }
            v.resize(total, T::nan());
            v
        }
        None => zeros(what, total)?,
    };
    let start = v.as_ptr().align_offset(SCRATCH_ALIGN).min(pad);
    Ok(Scratch { v, start, len })
}

/// Where [`scratch`] buffers start: a cache line. The lanes kernels load
/// and store 32-byte vectors at multiples of 32 bytes from a buffer's
/// start; from the allocator's 16-byte alignment, half of them would
/// straddle two cache lines, and a call ran 2x slower (at d = 2, degree 7)
/// whenever its buffers happened to land that way.
pub const SCRATCH_ALIGN: usize = 64;

/// Buffers at least this large are pooled by [`scratch`]. Not only the
/// large ones: a call whose workspaces add up to more than glibc's heap
/// trim threshold (a few hundred KiB) gives that memory back to the kernel
/// on free, and the next call page-faults it in again; at 256 KiB this was
/// 55 faults per call and half the time of one path of 300 points at d = 4,
/// degree 6 (two 175 KiB buffers).
pub const POOL_MIN_BYTES: usize = 16 << 10;
/// The most that one thread's pool holds, and the largest buffer it keeps.
pub const POOL_MAX_BYTES: usize = 64 << 20;

/// Whether buffers of this size are pooled: all of them in sig-core's unit
/// tests, so that the NaN fill of [`scratch_any`] reaches every kernel.
fn pooled_size(bytes: usize) -> bool {
    (cfg!(test) || bytes >= POOL_MIN_BYTES) && bytes <= POOL_MAX_BYTES
}

#[derive(Default)]
struct Pool {
    buffers: Vec<Box<dyn std::any::Any>>,
    bytes: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<Pool> = std::cell::RefCell::new(Pool::default());
}

/// A buffer from [`scratch`], starting on a cache line; derefs to its
/// `len` values, and returns to the thread's pool when dropped.
#[derive(Debug)]
pub struct Scratch<T: 'static> {
    v: Vec<T>,
    start: usize,
    len: usize,
}

impl<T> std::ops::Deref for Scratch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.v[self.start..self.start + self.len]
    }
}

impl<T> std::ops::DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.v[self.start..self.start + self.len]
    }
}

impl<T: 'static> Drop for Scratch<T> {
    fn drop(&mut self) {
        let bytes = self.v.capacity() * std::mem::size_of::<T>();
        if !pooled_size(bytes) {
            return;
        }
        let v = std::mem::take(&mut self.v);
        // `try_with`: a thread being torn down just frees the buffer.
        let _ = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            // Make room by dropping the smallest kept buffers first: the
            // large ones are the expensive ones to fault in again.
            while pool.bytes + bytes > POOL_MAX_BYTES && !pool.buffers.is_empty() {
                let (i, _) = pool.buffers.iter().enumerate().map(|(i, b)| (i, any_bytes(b.as_ref()))).min_by_key(|&(_, b)| b).unwrap();
                let old = pool.buffers.swap_remove(i);
                pool.bytes -= any_bytes(old.as_ref());
            }
            pool.bytes += bytes;
            pool.buffers.push(Box::new(v));
        });
    }
}

/// The capacity in bytes of a pooled buffer.
fn any_bytes(b: &dyn std::any::Any) -> usize {
    if let Some(v) = b.downcast_ref::<Vec<f64>>() {
        v.capacity() * 8
    } else if let Some(v) = b.downcast_ref::<Vec<f32>>() {
        v.capacity() * 4
    } else {
        0
    }
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
    fn scratch_buffers_are_reused_and_zeroed() {
        let first = scratch::<f64>("a test buffer", 1000).unwrap();
        let ptr = first.as_ptr();
        assert_eq!(ptr as usize % SCRATCH_ALIGN, 0);
        for len in [1, 3, 17, 1000] {
            assert_eq!(scratch::<f32>("a test buffer", len).unwrap().as_ptr() as usize % SCRATCH_ALIGN, 0);
        }
        drop(first);
        // The same allocation comes back, at a smaller length too.
        let mut again = scratch_any::<f64>("a test buffer", 600).unwrap();
        assert_eq!((again.as_ptr(), again.len()), (ptr, 600));
        assert!(again.iter().all(|v| v.is_nan()), "reused values are poisoned in tests");
        again.fill(3.0);
        drop(again);
        let zeroed = scratch::<f64>("a test buffer", 800).unwrap();
        assert_eq!(zeroed.as_ptr(), ptr);
        assert!(zeroed.iter().all(|&v| v == 0.0));
        // Another type never takes a buffer of f64.
        let other = scratch::<f32>("a test buffer", 10).unwrap();
        assert_ne!(other.as_ptr() as usize, ptr as usize);
        drop(zeroed);
    }

    #[test]
    fn the_pool_holds_at_most_its_budget() {
        let huge = POOL_MAX_BYTES / 8 + 1;
        let ptrs: Vec<_> = (0..3).map(|_| scratch::<f64>("a test buffer", huge / 2).unwrap()).collect();
        drop(ptrs);
        let held = POOL.with(|p| p.borrow().bytes);
        assert!(held <= POOL_MAX_BYTES, "{held}");
        // A buffer over the budget is freed, not kept.
        let before = POOL.with(|p| p.borrow().bytes);
        drop(scratch::<f64>("a test buffer", huge).unwrap());
        assert!(POOL.with(|p| p.borrow().bytes) <= before.max(POOL_MAX_BYTES));
        assert!(POOL.with(|p| p.borrow().buffers.iter().all(|b| any_bytes(b.as_ref()) <= POOL_MAX_BYTES)));
    }

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
