//! Telling a forked child from its parent, cheaply.
//!
//! Process-wide caches (worker pools, Lyndon and Hall tables) must not be
//! used across `fork`: a child has none of its parent's threads, and a lock
//! held by one of them at the fork is never released in the child. Caches
//! therefore remember the fork [`generation`] that made them and start
//! afresh when it changes. The generation is an atomic counter bumped in
//! each child by a `pthread_atfork` handler: reading it costs a load, where
//! asking for the process id is a system call (160 ns measured here, more
//! than the rest of a small call's cache lookup).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTERED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" {
    // POSIX, in the C library every Rust program on unix links.
    fn pthread_atfork(prepare: Option<extern "C" fn()>, parent: Option<extern "C" fn()>, child: Option<extern "C" fn()>) -> i32;
}

#[cfg(unix)]
extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Registers the fork handler (once; later calls do nothing). The Python
/// extension calls this when it is imported, before any cache exists;
/// [`generation`] calls it too, for plain Rust use.
pub fn register() {
    if !REGISTERED.swap(true, Ordering::AcqRel) {
        #[cfg(unix)]
        // SAFETY: registers a handler that only touches an atomic, which
        // is async-signal-safe as fork's child handlers must be.
        unsafe {
            pthread_atfork(None, None, Some(in_child));
        }
    }
}

/// How many forks separate this process from the one that first used sigrs
/// (0 there, 1 in its children, ...). A cache made in another generation
/// belongs to another process.
#[inline]
pub fn generation() -> u64 {
    if !REGISTERED.load(Ordering::Relaxed) {
        register();
    }
    GENERATION.load(Ordering::Acquire)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    extern "C" {
        fn fork() -> i32;
        fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
        fn _exit(code: i32) -> !;
    }

    #[test]
    fn a_forked_child_sees_the_next_generation() {
        let parent = generation();
        // SAFETY: the child only reads an atomic and exits.
        let pid = unsafe { fork() };
        if pid == 0 {
            let code = if generation() == parent + 1 { 0 } else { 1 };
            unsafe { _exit(code) }
        }
        let mut status = -1;
        assert_eq!(unsafe { waitpid(pid, &mut status, 0) }, pid);
        assert_eq!(status, 0, "the child saw the parent's generation");
        assert_eq!(generation(), parent, "the parent's generation moved");
    }
}
