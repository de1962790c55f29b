//! Batching over paths with rayon, and the `n_jobs` convention.
//!
//! Every batch runs through [`for_each_chunk`] or [`for_each_item`], which
//! also stop early when the caller asks (see [`crate::interrupt`]).
//!
//! Thread pools are built on first use and kept in a small cache (at most
//! [`MAX_POOLS`], the least recently used dropped first, which ends its
//! threads once no call uses it); the global rayon pool is never configured
//! (a library must not). `n_jobs` above the cores this process may use is
//! clamped to them, so pool sizes, and so the cache, are bounded by the
//! machine.
//!
//! Fork safety: the cache remembers the fork generation (see
//! [`crate::fork`]) that built it. A child forked from a process that used a
//! pool (PyTorch DataLoader workers are forked) has none of its threads, so
//! it starts an empty cache instead of waiting forever on its parent's
//! pools; and the cache's lock is a [`ForkSafeLock`], which a child can take
//! even if a thread of the parent held it at the fork.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Result, SigError};
use crate::interrupt::{self, WatchRef, POLL_INTERVAL};

/// The number of threads `n_jobs` asks for: 1 runs serially on the calling
/// thread, -1 uses every core, `k < -1` uses `cores + 1 + k` (at least one),
/// and 0 is an error. More threads than cores are never used: a larger
/// `n_jobs` is clamped to the cores (the Python layer warns).
pub fn resolve_n_jobs(n_jobs: i64) -> Result<usize> {
    let cores = available_cores() as i64;
    match n_jobs {
        0 => Err(SigError::invalid("n_jobs", "a positive count, or -1 for all cores (not 0)", 0)),
        n if n > 0 => Ok(n.min(cores) as usize),
        n => Ok(cores.saturating_add(1).saturating_add(n).max(1) as usize),
    }
}

/// The cores this process may use, read once: the lookup reads cgroup files
/// and would otherwise dominate the cost of small calls.
pub fn available_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A lock for process-wide caches that survives `fork`: it records the
/// fork generation of its holder, so a forked child finding it held by its
/// parent (whose holding thread does not exist in the child) takes it over
/// and starts the guarded value afresh, instead of waiting forever as on a
/// `Mutex`. Threads of one process wait for each other (spinning with
/// yields: it is only ever held for a map lookup or insert).
pub struct ForkSafeLock<V> {
    /// 0 when free, else 1 + the fork generation of the holder.
    holder: AtomicU64,
    value: UnsafeCell<Option<(u64, V)>>,
}

// SAFETY: `value` is only reached through `with`, which holds the lock.
unsafe impl<V: Send> Sync for ForkSafeLock<V> {}

impl<V> ForkSafeLock<V> {
    pub const fn new() -> Self {
        ForkSafeLock { holder: AtomicU64::new(0), value: UnsafeCell::new(None) }
    }

    /// Runs `f` on the value, made by `fresh` on first use and again in each
    /// forked child (the parent's value is leaked there, never dropped: it
    /// may be half-updated, and its threads or locks do not exist).
    pub fn with<R>(&self, fresh: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R {
        let generation = crate::fork::generation();
        let me = generation + 1;
        loop {
            match self.holder.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                // held by another process's thread: inherited across fork
                Err(other) if other != 0 && other != me => {
                    if self.holder.compare_exchange(other, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                        break;
                    }
                }
                Err(_) => std::thread::yield_now(),
            }
        }
        struct Release<'a>(&'a AtomicU64);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(0, Ordering::Release);
            }
        }
        let _release = Release(&self.holder);
        // SAFETY: the lock is held until `_release` drops.
        let slot = unsafe { &mut *self.value.get() };
        if slot.as_ref().is_none_or(|(owner, _)| *owner != generation) {
            if let Some(stale) = slot.take() {
                std::mem::forget(stale);
            }
            *slot = Some((generation, fresh()));
        }
        f(&mut slot.as_mut().expect("just filled").1)
    }
}

impl<V> Default for ForkSafeLock<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Pools kept at once. Typical programs use one or two thread counts; a
/// program cycling through many pays a pool start (about 100 microseconds
/// a thread) when it comes back to an evicted one.
pub const MAX_POOLS: usize = 4;

/// Pools by thread count, most recently used last.
type PoolCache = Vec<(usize, Arc<ThreadPool>)>;

fn pool(threads: usize) -> Result<Arc<ThreadPool>> {
    static CACHE: ForkSafeLock<PoolCache> = ForkSafeLock::new();
    let cached = CACHE.with(Vec::new, |pools| {
        let i = pools.iter().position(|(t, _)| *t == threads)?;
        let entry = pools.remove(i);
        let found = entry.1.clone();
        pools.push(entry);
        Some(found)
    });
    if let Some(found) = cached {
        return Ok(found);
    }
    // Threads are started outside the lock, so a fork can never catch the
    // lock held across them; two callers racing both build, one pool stays.
    let built = Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("sigrs-{i}"))
            .build()
            .map_err(|e| SigError::invalid("n_jobs", "a thread count the system can start", format!("{threads} ({e})")))?,
    );
    let (kept, evicted) = CACHE.with(Vec::new, |pools| {
        if let Some((_, existing)) = pools.iter().find(|(t, _)| *t == threads) {
            return (existing.clone(), None);
        }
        let evicted = (pools.len() >= MAX_POOLS).then(|| pools.remove(0));
        pools.push((threads, built.clone()));
        (built, evicted)
    });
    // Dropped outside the lock: ending a pool's threads takes time.
    drop(evicted);
    Ok(kept)
}

/// Below this much work (operations) a watched run does not poll while it
/// waits: it ends within milliseconds anyway, and waiting on a channel with a
/// timeout measured tens of microseconds slower than `install` per call.
const POLLED_WORK: usize = 1 << 24;

/// Runs `f`, about `work` operations, on the pool of `threads`. Inside a
/// watched call (see [`crate::interrupt`]) the calling thread of a long run,
/// instead of only waiting, polls the caller while the pool works.
fn run_on_pool<R: Send>(threads: usize, watch: WatchRef, work: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    let pool = pool(threads)?;
    if !watch.is_active() || work < POLLED_WORK {
        return Ok(pool.install(f));
    }
    let (done, result) = mpsc::channel();
    pool.in_place_scope(|scope| {
        scope.spawn(move |_| {
            // A closed channel only means the caller stopped waiting.
            let _ = done.send(f());
        });
        loop {
            match result.recv_timeout(POLL_INTERVAL) {
                Ok(r) => return Some(r),
                Err(RecvTimeoutError::Timeout) => watch.poll(),
                // The job panicked; the scope raises its panic on return.
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    })
    .map_or_else(|| unreachable!("the pool job either sends its result or panics"), Ok)
}

/// `Err(Interrupted)` when the watched call was asked to stop (the
/// outputs are then incomplete).
fn finished(watch: WatchRef) -> Result<()> {
    if watch.stopped() {
        Err(SigError::Interrupted)
    } else {
        Ok(())
    }
}

/// Below this many floating-point operations in all, handing work to the
/// pool (about 10 microseconds) costs more than it saves.
const MIN_PARALLEL_WORK: usize = 200_000;

/// The first error of a parallel run (later ones are dropped: the run
/// stops at the first).
struct FirstError(Mutex<Option<SigError>>);

impl FirstError {
    fn new() -> Self {
        FirstError(Mutex::new(None))
    }
    fn failed(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }
    fn record(&self, e: SigError) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    }
    /// The run's outcome: a real error first, then a stop request.
    fn into_result(self, watch: WatchRef) -> Result<()> {
        match self.0.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(SigError::Interrupted) | None => finished(watch),
            Some(e) => Err(e),
        }
    }
}

/// Splits `out` into consecutive chunks of `chunk` items and calls
/// `f(state, index, chunk)` on each, in parallel for `n_jobs` != 1 when the
/// total work (`work_per_chunk` operations each, an estimate) is worth it.
/// `state` is a per-worker scratch made by `init`, so hot loops never
/// allocate; `init` and `f` may fail (out of memory for the scratch, a stop
/// request), and the first error ends the run and is returned. Nothing is
/// made, not even a scratch, for an empty `out`.
pub fn try_for_each_chunk<T, S, I, F>(n_jobs: i64, out: &mut [T], chunk: usize, work_per_chunk: usize, init: I, f: F) -> Result<()>
where
    T: Send,
    I: Fn() -> Result<S> + Sync + Send,
    F: Fn(&mut S, usize, &mut [T]) -> Result<()> + Sync + Send,
{
    let threads = resolve_n_jobs(n_jobs)?;
    if chunk == 0 || out.is_empty() {
        return Ok(());
    }
    let count = out.len() / chunk;
    let watch = WatchRef::current();
    if threads == 1 || count == 1 || count.saturating_mul(work_per_chunk) < MIN_PARALLEL_WORK {
        let mut state = init()?;
        // Checks for a stop request by amount of work, not per chunk: a
        // check can read the clock (~40 ns), more than a small chunk costs.
        let mut checkpoint = interrupt::Checkpoint::new(work_per_chunk);
        for (i, c) in out.chunks_exact_mut(chunk).enumerate() {
            if checkpoint.tick() {
                break;
            }
            match f(&mut state, i, c) {
                Err(SigError::Interrupted) => break,
                other => other?,
            }
        }
        return finished(watch);
    }
    let first_error = FirstError::new();
    run_on_pool(threads, watch, count.saturating_mul(work_per_chunk), || {
        out.par_chunks_exact_mut(chunk)
            .enumerate()
            // Contiguous runs per worker: fewer splits, and each thread
            // walks (and first-touches) its own part of the output.
            .with_min_len((count / (4 * threads)).max(1))
            .for_each_init(&init, |state, (i, c)| {
                if watch.stopped() || first_error.failed() {
                    return;
                }
                match state {
                    Ok(state) => {
                        if let Err(e) = watch.enter(|| f(state, i, c)) {
                            first_error.record(e);
                        }
                    }
                    Err(e) => first_error.record(e.clone()),
                }
            })
    })?;
    first_error.into_result(watch)
}

/// [`try_for_each_chunk`] for infallible scratch and work.
pub fn for_each_chunk<T, S, I, F>(n_jobs: i64, out: &mut [T], chunk: usize, work_per_chunk: usize, init: I, f: F) -> Result<()>
where
    T: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [T]) + Sync + Send,
{
    try_for_each_chunk(n_jobs, out, chunk, work_per_chunk, || Ok(init()), |s, i, c| {
        f(s, i, c);
        Ok(())
    })
}

/// Like [`try_for_each_chunk`], over the items of a slice (for outputs
/// that are not one flat buffer, e.g. pairs of gradients).
pub fn try_for_each_item<X, S, I, F>(n_jobs: i64, items: &mut [X], work_per_item: usize, init: I, f: F) -> Result<()>
where
    X: Send,
    I: Fn() -> Result<S> + Sync + Send,
    F: Fn(&mut S, usize, &mut X) -> Result<()> + Sync + Send,
{
    let threads = resolve_n_jobs(n_jobs)?;
    if items.is_empty() {
        return Ok(());
    }
    let watch = WatchRef::current();
    if threads == 1 || items.len() == 1 || items.len().saturating_mul(work_per_item) < MIN_PARALLEL_WORK {
        let mut state = init()?;
        let mut checkpoint = interrupt::Checkpoint::new(work_per_item);
        for (i, x) in items.iter_mut().enumerate() {
            if checkpoint.tick() {
                break;
            }
            match f(&mut state, i, x) {
                Err(SigError::Interrupted) => break,
                other => other?,
            }
        }
        return finished(watch);
    }
    let first_error = FirstError::new();
    let min_len = (items.len() / (4 * threads)).max(1);
    run_on_pool(threads, watch, items.len().saturating_mul(work_per_item), || {
        items.par_iter_mut().enumerate().with_min_len(min_len).for_each_init(&init, |state, (i, x)| {
            if watch.stopped() || first_error.failed() {
                return;
            }
            match state {
                Ok(state) => {
                    if let Err(e) = watch.enter(|| f(state, i, x)) {
                        first_error.record(e);
                    }
                }
                Err(e) => first_error.record(e.clone()),
            }
        })
    })?;
    first_error.into_result(watch)
}

/// [`try_for_each_item`] for infallible scratch and work.
pub fn for_each_item<X, S, I, F>(n_jobs: i64, items: &mut [X], work_per_item: usize, init: I, f: F) -> Result<()>
where
    X: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut X) + Sync + Send,
{
    try_for_each_item(n_jobs, items, work_per_item, || Ok(init()), |s, i, x| {
        f(s, i, x);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_jobs_follows_the_pysiglib_convention() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(resolve_n_jobs(1).unwrap(), 1);
        assert_eq!(resolve_n_jobs(3).unwrap(), 3.min(cores));
        assert_eq!(resolve_n_jobs(i64::MAX).unwrap(), cores);
        assert_eq!(resolve_n_jobs(i64::MIN).unwrap(), 1);
        assert_eq!(resolve_n_jobs(-1).unwrap(), cores);
        assert_eq!(resolve_n_jobs(-2).unwrap(), (cores - 1).max(1));
        assert_eq!(resolve_n_jobs(-1000).unwrap(), 1);
        assert!(resolve_n_jobs(0).is_err());
    }

    #[test]
    fn the_first_error_ends_the_run_and_is_returned() {
        let mut out = vec![0usize; 1000];
        let e = try_for_each_chunk(2, &mut out, 1, usize::MAX, || Ok(()), |_, i, _| if i == 500 { Err(SigError::invalid("x", "no 500", i)) } else { Ok(()) }).unwrap_err();
        assert!(e.to_string().contains("no 500"), "{e}");
        let e = try_for_each_item(2, &mut out, usize::MAX, || Err::<(), _>(SigError::Overflow("scratch".into())), |_, _, _| Ok(())).unwrap_err();
        assert_eq!(e, SigError::Overflow("scratch".into()));
        // nothing is made for empty work
        try_for_each_chunk(2, &mut out[..0], 1, 1, || -> Result<()> { panic!("scratch for nothing") }, |_, _, _| Ok(())).unwrap();
    }

    #[test]
    fn pools_are_few_and_reused() {
        let before = PoolCount::now();
        let mut out = vec![0usize; 64];
        for n in 2..40 {
            for_each_chunk(n, &mut out, 1, usize::MAX, || (), |_, i, c| c[0] = i).unwrap();
        }
        assert!(PoolCount::now() <= before + MAX_POOLS * available_cores(), "threads leaked");
    }

    /// Threads of this process (Linux), or 0 where it cannot be read.
    struct PoolCount;
    impl PoolCount {
        fn now() -> usize {
            std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
        }
    }

    #[test]
    fn fork_safe_lock_makes_a_fresh_value_per_process_and_excludes_threads() {
        static LOCK: ForkSafeLock<u64> = ForkSafeLock::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        LOCK.with(|| 0, |v| *v += 1);
                    }
                });
            }
        });
        assert_eq!(LOCK.with(|| 0, |v| *v), 4000);
        // a lock left held by another process (as across a fork) is taken over
        LOCK.holder.store(crate::fork::generation() + 7, Ordering::Relaxed);
        assert_eq!(LOCK.with(|| 0, |v| *v), 4000, "same process: the value is kept");
    }

    #[test]
    fn every_chunk_is_visited_once_in_parallel() {
        let mut out = vec![0usize; 3 * 100];
        for_each_chunk(4, &mut out, 3, usize::MAX, || (), |_, i, c| c.fill(i)).unwrap();
        for (i, c) in out.chunks(3).enumerate() {
            assert!(c.iter().all(|&v| v == i));
        }
    }
}
