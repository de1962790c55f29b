//! Stopping long work early when the caller asks (Ctrl-C from Python).
//!
//! A binding runs core work inside [`watched`], giving a `poll` function
//! that says whether the user asked to stop (Python: check for signals).
//! Long loops in the core call [`Checkpoint::tick`] (or [`requested`])
//! every so often; the batch runners in [`crate::batch`] check between
//! items, and the calling thread, which works alongside the pool's helpers,
//! polls while it waits for their last items. Once a stop is requested
//! every worker skips what is left and the call returns
//! [`SigError::Interrupted`], never a half-written output presented as a
//! result.
//!
//! `poll` runs only on the thread that called [`watched`] (the one Python
//! delivers signals to), at most every [`POLL_INTERVAL`]. Outside
//! [`watched`] (plain Rust use) nothing is polled and a checkpoint is a
//! thread-local read.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use std::time::{Duration, Instant};

use crate::error::{Result, SigError};

/// How often the calling thread polls while work runs.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// About how much work (floating-point operations) runs between two
/// checkpoints of a [`Checkpoint`]: well under a millisecond.
const WORK_PER_CHECK: usize = 1 << 20;

/// The state of one watched call, shared by its workers.
pub struct Watch {
    stop: AtomicBool,
    /// The calling thread, as the address of its `CURRENT` slot (unique
    /// among live threads, and cheaper to compare than a `ThreadId`).
    owner: usize,
    /// When the first checkpoint came (read lazily: most calls are shorter
    /// than any checkpoint, and the clock costs more than the rest of the watch).
    start: OnceLock<Instant>,
    /// Nanoseconds after `start` of the last poll.
    last_poll: AtomicU64,
    /// The caller's poll; lives as long as the [`watched`] call that made
    /// this watch, which outlasts every worker that can see it.
    poll: *const (dyn Fn() -> bool + Sync),
}

// SAFETY: `poll` points to a `Sync` closure that outlives every use (see
// the field), and is only ever called on the owner thread.
unsafe impl Send for Watch {}
unsafe impl Sync for Watch {}

impl Watch {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Polls the caller if this is its thread and the interval has passed.
    fn poll_if_due(&self) {
        if thread_key() != self.owner {
            return;
        }
        let now = self.start.get_or_init(Instant::now).elapsed().as_nanos() as u64;
        if now.saturating_sub(self.last_poll.load(Ordering::Relaxed)) < POLL_INTERVAL.as_nanos() as u64 {
            return;
        }
        self.last_poll.store(now, Ordering::Relaxed);
        // SAFETY: see the field.
        if unsafe { (*self.poll)() } {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

thread_local! {
    /// The watch of the call this thread works for, if any.
    static CURRENT: Cell<*const Watch> = const { Cell::new(std::ptr::null()) };
}

fn thread_key() -> usize {
    CURRENT.with(|c| c as *const Cell<*const Watch> as usize)
}

/// A handle on the current watch that can be moved to worker threads.
#[derive(Clone, Copy)]
pub(crate) struct WatchRef(*const Watch);

// SAFETY: the watch is Sync and outlives the workers (see `Watch::poll`).
unsafe impl Send for WatchRef {}
unsafe impl Sync for WatchRef {}

impl WatchRef {
    /// The watch of the calling thread (possibly none).
    pub(crate) fn current() -> WatchRef {
        WatchRef(CURRENT.with(Cell::get))
    }

    /// Runs `f` with this watch as the thread's current one.
    #[inline]
    pub(crate) fn enter<R>(self, f: impl FnOnce() -> R) -> R {
        let previous = CURRENT.with(|c| c.replace(self.0));
        let _restore = Restore(previous);
        f()
    }

    /// True when a stop was requested (no polling).
    #[inline]
    pub(crate) fn stopped(self) -> bool {
        self.get().is_some_and(Watch::stopped)
    }

    /// Polls the caller if due (from the owner thread, while it waits for workers).
    pub(crate) fn poll(self) {
        if let Some(w) = self.get() {
            w.poll_if_due();
        }
    }

    fn get(self) -> Option<&'static Watch> {
        // SAFETY: non-null pointers here point to a live watch (see `Watch::poll`).
        unsafe { self.0.as_ref() }
    }
}

/// Restores the previous current watch when dropped (also on panic).
struct Restore(*const Watch);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs `work` on this thread with `poll` as its stop request: core
/// functions called inside return [`SigError::Interrupted`] soon after
/// `poll` first returns true.
pub fn watched<R>(poll: &(dyn Fn() -> bool + Sync), work: impl FnOnce() -> R) -> R {
    // SAFETY (lifetime): the watch, and so the pointer, lives until this
    // function returns, after `work` and every worker it started are done.
    let poll: *const (dyn Fn() -> bool + Sync + '_) = poll;
    let poll: *const (dyn Fn() -> bool + Sync) = unsafe { std::mem::transmute(poll) };
    let watch = Watch { stop: AtomicBool::new(false), owner: thread_key(), start: OnceLock::new(), last_poll: AtomicU64::new(0), poll };
    WatchRef(&watch).enter(work)
}

/// True when the current call should stop. Polls the caller when called on
/// its thread and the interval has passed; cheap otherwise (a thread-local
/// read and an atomic load). For loops with many cheap steps,
/// [`Checkpoint`] calls this less often.
#[inline]
pub fn requested() -> bool {
    match WatchRef::current().get() {
        None => false,
        Some(w) => {
            w.poll_if_due();
            w.stopped()
        }
    }
}

/// `Err(Interrupted)` when a stop was requested (polling first, if due).
pub fn check() -> Result<()> {
    if requested() {
        Err(SigError::Interrupted)
    } else {
        Ok(())
    }
}

/// Counts the steps of a long loop and checks for a stop request every
/// 2^20 floating-point operations' worth of them (well under a millisecond).
pub struct Checkpoint {
    every: usize,
    left: usize,
}

impl Checkpoint {
    /// For a loop whose steps cost about `work_per_step` operations.
    pub fn new(work_per_step: usize) -> Self {
        let every = Self::steps_per_check(work_per_step);
        Checkpoint { every, left: every }
    }

    /// How many steps of `work_per_step` operations run between two checks.
    pub fn steps_per_check(work_per_step: usize) -> usize {
        (WORK_PER_CHECK / work_per_step.max(1)).max(1)
    }

    /// Counts one step; true when the loop should stop.
    #[inline(always)]
    pub fn tick(&mut self) -> bool {
        self.left -= 1;
        if self.left == 0 {
            self.left = self.every;
            requested()
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::thread;

    #[test]
    fn nothing_is_requested_outside_a_watched_call() {
        assert!(!requested());
        assert!(check().is_ok());
        let mut c = Checkpoint::new(1);
        assert!((0..10_000_000).all(|_| !c.tick()));
    }

    #[test]
    fn a_poll_that_says_stop_is_seen_by_checkpoints_and_polled_at_most_every_interval() {
        let polls = AtomicUsize::new(0);
        let poll = || {
            polls.fetch_add(1, Ordering::Relaxed);
            true
        };
        let stopped_after = watched(&poll, || {
            let t = Instant::now();
            while !requested() {
                assert!(t.elapsed() < Duration::from_secs(5), "never stopped");
            }
            t.elapsed()
        });
        assert!(stopped_after >= POLL_INTERVAL);
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // the watch is gone afterwards
        assert!(!requested());
    }

    #[test]
    fn other_threads_never_poll_but_see_the_stop() {
        let poll = || {
            assert_eq!(thread::current().name(), Some("owner"));
            true
        };
        thread::Builder::new()
            .name("owner".into())
            .spawn(move || {
                watched(&poll, || {
                    let w = WatchRef::current();
                    thread::scope(|s| {
                        s.spawn(|| w.enter(|| assert!(!requested()))).join().unwrap();
                    });
                    while !requested() {}
                    thread::scope(|s| {
                        s.spawn(|| w.enter(|| assert!(requested()))).join().unwrap();
                    });
                })
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
