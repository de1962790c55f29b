//! Batching over paths on threads, and the `n_jobs` convention.
//!
//! Every batch runs through [`for_each_chunk`] or [`for_each_item`], which
//! also stop early when the caller asks (see [`crate::interrupt`]). With
//! `n_jobs` threads, the calling thread works alongside `n_jobs - 1`
//! helpers from a rayon pool, all claiming runs of items from one counter
//! (see `run_indexed`).
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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

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
    let base = SendPtr(out.as_mut_ptr());
    run_indexed(threads, count, work_per_chunk, &init, &|state: &mut S, i: usize| {
        // SAFETY: `run_indexed` hands each index in 0..count to exactly one
        // call, so these chunks of `out` are disjoint, and it returns only
        // after every call has ended, while `out` is still borrowed here.
        let c = unsafe { std::slice::from_raw_parts_mut(base.get().add(i * chunk), chunk) };
        f(state, i, c)
    })
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
    let base = SendPtr(items.as_mut_ptr());
    run_indexed(threads, items.len(), work_per_item, &init, &|state: &mut S, i: usize| {
        // SAFETY: as in `try_for_each_chunk`: one call per index, all ended
        // before `items` is released.
        f(state, i, unsafe { &mut *base.get().add(i) })
    })
}

/// A pointer into a caller's buffer that [`run_indexed`]'s workers share;
/// each index it stands for is reached by one worker only.
struct SendPtr<T>(*mut T);

// By hand: derived impls would ask `T: Copy`.
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}

// SAFETY: workers only make disjoint references from it (see the users).
unsafe impl<T: Send> Send for SendPtr<T> {}
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    // A method, not the field: a closure must capture the whole wrapper.
    fn get(self) -> *mut T {
        self.0
    }
}

/// Calls `body(state, i)` once for each `i` in `0..count`, serially or on
/// `threads` threads (the calling thread and helpers from a pool) when the
/// work (`work_per_index` operations each) is worth it; `state` is made
/// by `init` once per thread that gets any work. Stops at the first error,
/// or when the watched call is asked to stop, and returns that.
///
/// The calling thread works too: it claims runs of indices as the helpers
/// do, from one shared counter. Waking a pool thread on this machine's VM
/// took 30-120 microseconds (a rayon `install` of nothing), and with
/// `install` the caller sat idle through it: calls of under a millisecond
/// ran up to 2x slower at `n_jobs=-1` than at 1. A helper that has not
/// started by the time the caller runs out of indices is called off, so a
/// call never waits for a thread to wake only to find nothing left.
fn run_indexed<S, I, B>(threads: usize, count: usize, work_per_index: usize, init: &I, body: &B) -> Result<()>
where
    I: Fn() -> Result<S> + Sync,
    B: Fn(&mut S, usize) -> Result<()> + Sync,
{
    if count == 0 {
        return Ok(());
    }
    let watch = WatchRef::current();
    if threads == 1 || count == 1 || count.saturating_mul(work_per_index) < MIN_PARALLEL_WORK {
        let mut state = init()?;
        // Checks for a stop request by amount of work, not per index: a
        // check can read the clock (~40 ns), more than a small index costs.
        let mut checkpoint = interrupt::Checkpoint::new(work_per_index);
        for i in 0..count {
            if checkpoint.tick() {
                break;
            }
            match body(&mut state, i) {
                Err(SigError::Interrupted) => break,
                other => other?,
            }
        }
        return finished(watch);
    }
    let pool = pool(threads - 1)?;
    let next = AtomicUsize::new(0);
    // Runs of consecutive indices: each thread walks (and first-touches)
    // its own parts of the output; several runs per thread even out the
    // helpers' late starts.
    let run = (count / (8 * threads)).max(1);
    let first_error = FirstError::new();
    let panicked = AtomicBool::new(false);
    let work = || {
        let _flag = FlagOnPanic(&panicked);
        let mut state = None;
        let mut checkpoint = interrupt::Checkpoint::new(work_per_index);
        loop {
            let start = next.fetch_add(run, Ordering::Relaxed);
            if start >= count || panicked.load(Ordering::Relaxed) {
                return;
            }
            let state = match &mut state {
                Some(s) => s,
                None => match init() {
                    Ok(s) => state.insert(s),
                    Err(e) => return first_error.record(e),
                },
            };
            for i in start..(start + run).min(count) {
                if checkpoint.tick() || first_error.failed() || panicked.load(Ordering::Relaxed) {
                    return;
                }
                if let Err(e) = body(state, i) {
                    return first_error.record(e);
                }
            }
        }
    };
    let helper_work = || watch.enter(work);
    run_with_helpers(&pool, threads - 1, watch, &work, &helper_work);
    first_error.into_result(watch)
}

/// Sets its flag when dropped by a panicking thread: the other workers of
/// the run then stop (the panic is raised on the caller).
struct FlagOnPanic<'a>(&'a AtomicBool);

impl Drop for FlagOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs `work` on the calling thread and `helper_work` on up to `helpers`
/// threads of `pool`, and returns when all have ended; a helper job still
/// queued when `work` ends is called off. Panics in any are raised here,
/// after every helper has ended.
fn run_with_helpers(pool: &ThreadPool, helpers: usize, watch: WatchRef, work: &(dyn Fn() + Sync), helper_work: &(dyn Fn() + Sync)) {
    let caller = std::thread::current();
    let helper_work: *const (dyn Fn() + Sync + '_) = helper_work;
    // SAFETY (lifetime): a helper calls through this pointer only after
    // moving its job from QUEUED to RUNNING, and this function does not
    // return before each job is either called off (QUEUED to CALLED_OFF,
    // after which it never calls) or DONE.
    let helper_work: *const (dyn Fn() + Sync + 'static) = unsafe { std::mem::transmute(helper_work) };
    let jobs: Vec<Arc<HelperJob>> = (0..helpers)
        .map(|_| {
            let job = Arc::new(HelperJob { state: AtomicU8::new(QUEUED), caller: caller.clone(), work: helper_work, panic: Mutex::new(None) });
            let mine = job.clone();
            pool.spawn(move || mine.run());
            job
        })
        .collect();
    let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    for job in &jobs {
        if job.state.compare_exchange(QUEUED, CALLED_OFF, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            continue;
        }
        // A helper still at work: spin a little (its last run is often
        // nearly done), then sleep, polling the caller for stop requests.
        let mut spins = 0;
        while job.state.load(Ordering::Acquire) != DONE {
            if spins < HELPER_SPINS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::park_timeout(POLL_INTERVAL);
                watch.poll();
            }
        }
    }
    if let Err(p) = mine {
        std::panic::resume_unwind(p);
    }
    for job in &jobs {
        if let Some(p) = job.panic.lock().unwrap_or_else(|p| p.into_inner()).take() {
            std::panic::resume_unwind(p);
        }
    }
}

/// Spins of [`run_with_helpers`] before it sleeps (tens of microseconds:
/// a sleep and wake-up cost about as much).
const HELPER_SPINS: u32 = 1 << 10;

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const CALLED_OFF: u8 = 2;
const DONE: u8 = 3;

/// One helper's job of [`run_with_helpers`], shared with the pool.
struct HelperJob {
    state: AtomicU8,
    caller: std::thread::Thread,
    /// Valid while the job is QUEUED or RUNNING (see `run_with_helpers`).
    work: *const (dyn Fn() + Sync),
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

// SAFETY: `work` points to a `Sync` closure, called only while valid.
unsafe impl Send for HelperJob {}
unsafe impl Sync for HelperJob {}

impl HelperJob {
    fn run(&self) {
        if self.state.compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        // SAFETY: RUNNING, so the caller waits for DONE (see the field).
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*self.work)() }));
        if let Err(p) = result {
            *self.panic.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
        }
        self.state.store(DONE, Ordering::Release);
        self.caller.unpark();
    }
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

    /// A helper that cannot start (its pool's one thread is held here)
    /// is called off: the calling thread does all the work and returns
    /// without waiting for it. Needs two cores (`n_jobs = 2` is one helper).
    /// Held by the tests that occupy or count on the one helper of
    /// `n_jobs = 2`: the pool is shared by every test of the process.
    static HELPER_POOL: Mutex<()> = Mutex::new(());

    #[test]
    fn a_helper_that_has_not_started_is_called_off() {
        if available_cores() < 2 {
            return;
        }
        let _only_me = HELPER_POOL.lock().unwrap_or_else(|p| p.into_inner());
        let helpers = pool(1).unwrap();
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let (started, blocked) = std::sync::mpsc::channel();
        helpers.spawn(move || {
            started.send(()).unwrap();
            let _ = held.recv();
        });
        blocked.recv().unwrap();
        // Were the caller to wait for the helper, it would wait for ever:
        // a watchdog lets the helper go after 10 s and fails the test.
        let (finished, watchdog) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            let fired = watchdog.recv_timeout(std::time::Duration::from_secs(10)).is_err();
            drop(hold);
            fired
        });
        let callers = std::thread::current().id();
        let mut out = vec![0usize; 64];
        for_each_chunk(2, &mut out, 1, usize::MAX, || (), |_, i, c| {
            assert_eq!(std::thread::current().id(), callers, "only the caller can work");
            c[0] = i + 1;
        })
        .unwrap();
        finished.send(()).unwrap();
        assert!(!watchdog.join().unwrap(), "the caller waited for a helper that could not start");
        assert!(out.iter().enumerate().all(|(i, &v)| v == i + 1));
    }

    /// A panic on the caller or on a helper reaches the caller, only once
    /// every helper has ended (they borrow the caller's buffers), and stops
    /// the other workers early.
    #[test]
    fn a_panic_in_any_worker_is_raised_after_all_have_ended() {
        if available_cores() < 2 {
            return;
        }
        let _only_me = HELPER_POOL.lock().unwrap_or_else(|p| p.into_inner());
        for panicking_on_caller in [true, false] {
            let (running, done, helped) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicBool::new(false));
            let caller = std::thread::current().id();
            let mut out = vec![0usize; 64];
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for_each_chunk(2, &mut out, 1, usize::MAX, || (), |_, i, c| {
                    let _busy = Busy::new(&running);
                    if std::thread::current().id() == caller {
                        // Each caller's item waits (up to 10 s) for a helper
                        // to be inside an item.
                        let t0 = std::time::Instant::now();
                        while !helped.load(Ordering::SeqCst) && t0.elapsed().as_secs() < 10 {
                            std::thread::yield_now();
                        }
                        if panicking_on_caller {
                            panic!("item {i}");
                        }
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    } else {
                        helped.store(true, Ordering::SeqCst);
                        if !panicking_on_caller {
                            panic!("item {i}");
                        }
                        // still inside this item when the caller panics
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    c[0] = i;
                    done.fetch_add(1, Ordering::SeqCst);
                })
            }));
            let message = result.expect_err("the panic is raised");
            assert!(message.downcast_ref::<String>().is_some_and(|m| m.starts_with("item ")));
            assert_eq!(running.load(Ordering::SeqCst), 0, "a worker still ran after the call returned");
            assert!(done.load(Ordering::SeqCst) < 8, "the others went on after the panic");
        }
    }

    /// Counts the workers inside an item (dropped also when one panics).
    struct Busy<'a>(&'a AtomicUsize);
    impl<'a> Busy<'a> {
        fn new(running: &'a AtomicUsize) -> Self {
            running.fetch_add(1, Ordering::SeqCst);
            Busy(running)
        }
    }
    impl Drop for Busy<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
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
