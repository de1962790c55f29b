//! Batching over paths with rayon, and the `n_jobs` convention.
//!
//! Every batch runs through [`for_each_chunk`] or [`for_each_item`], which
//! also stop early when the caller asks (see [`crate::interrupt`]).
//!
//! Thread pools are built once per thread count and cached; the global
//! rayon pool is never configured (a library must not). The cache remembers
//! the process id that built it: a child forked from a process that used a
//! pool (PyTorch DataLoader workers are forked) has no pool threads, so it
//! builds its own pools instead of waiting forever on its parent's.

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Result, SigError};
use crate::interrupt::{self, WatchRef, POLL_INTERVAL};

/// The number of threads `n_jobs` asks for: 1 runs serially on the calling
/// thread, -1 uses every core, `k < -1` uses `cores + 1 + k` (at least one),
/// and 0 is an error.
pub fn resolve_n_jobs(n_jobs: i64) -> Result<usize> {
    let cores = available_cores() as i64;
    match n_jobs {
        0 => Err(SigError::invalid("n_jobs", "a positive count, or -1 for all cores (not 0)", 0)),
        n if n > 0 => Ok(n as usize),
        n => Ok((cores + 1 + n).max(1) as usize),
    }
}

/// The cores this process may use, read once: the lookup reads cgroup files
/// and would otherwise dominate the cost of small calls.
pub fn available_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

struct PoolCache {
    pid: u32,
    pools: HashMap<usize, Arc<ThreadPool>>,
}

fn pool(threads: usize) -> Arc<ThreadPool> {
    static CACHE: OnceLock<Mutex<PoolCache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        Mutex::new(PoolCache {
            pid: std::process::id(),
            pools: HashMap::new(),
        })
    });
    let mut cache = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let pid = std::process::id();
    if cache.pid != pid {
        // The pools' threads belong to the parent process: leak them rather
        // than run their destructors on threads that do not exist here.
        std::mem::forget(std::mem::take(&mut cache.pools));
        cache.pid = pid;
    }
    cache
        .pools
        .entry(threads)
        .or_insert_with(|| {
            Arc::new(
                ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("sigrs-{i}"))
                    .build()
                    .expect("failed to spawn sigrs worker threads"),
            )
        })
        .clone()
}

/// Below this much work (operations) a watched run does not poll while it
/// waits: it ends within milliseconds anyway, and waiting on a channel with a
/// timeout measured tens of microseconds slower than `install` per call.
const POLLED_WORK: usize = 1 << 24;

/// Runs `f`, about `work` operations, on the pool of `threads`. Inside a
/// watched call (see [`crate::interrupt`]) the calling thread of a long run,
/// instead of only waiting, polls the caller while the pool works.
fn run_on_pool<R: Send>(threads: usize, watch: WatchRef, work: usize, f: impl FnOnce() -> R + Send) -> R {
    let pool = pool(threads);
    if !watch.is_active() || work < POLLED_WORK {
        return pool.install(f);
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
    .expect("the pool job either sends its result or panics")
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

/// Splits `out` into consecutive chunks of `chunk` items and calls
/// `f(state, index, chunk)` on each, in parallel for `n_jobs` != 1 when the
/// total work (`work_per_chunk` operations each, an estimate) is worth it.
/// `state` is a per-worker scratch made by `init`, so hot loops never
/// allocate.
pub fn for_each_chunk<T, S, I, F>(n_jobs: i64, out: &mut [T], chunk: usize, work_per_chunk: usize, init: I, f: F) -> Result<()>
where
    T: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [T]) + Sync + Send,
{
    let threads = resolve_n_jobs(n_jobs)?;
    if chunk == 0 || out.is_empty() {
        return Ok(());
    }
    let count = out.len() / chunk;
    let watch = WatchRef::current();
    if threads == 1 || count == 1 || count.saturating_mul(work_per_chunk) < MIN_PARALLEL_WORK {
        let mut state = init();
        for (i, c) in out.chunks_exact_mut(chunk).enumerate() {
            if interrupt::requested() {
                break;
            }
            f(&mut state, i, c);
        }
    } else {
        run_on_pool(threads, watch, count.saturating_mul(work_per_chunk), || {
            out.par_chunks_exact_mut(chunk)
                .enumerate()
                // Contiguous runs per worker: fewer splits, and each thread
                // walks (and first-touches) its own part of the output.
                .with_min_len((count / (4 * threads)).max(1))
                .for_each_init(&init, |state, (i, c)| {
                    if !watch.stopped() {
                        watch.enter(|| f(state, i, c));
                    }
                })
        });
    }
    finished(watch)
}

/// Like [`for_each_chunk`], over the items of a slice (for outputs that
/// are not one flat buffer, e.g. pairs of gradients).
pub fn for_each_item<X, S, I, F>(n_jobs: i64, items: &mut [X], work_per_item: usize, init: I, f: F) -> Result<()>
where
    X: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut X) + Sync + Send,
{
    let threads = resolve_n_jobs(n_jobs)?;
    let watch = WatchRef::current();
    if threads == 1 || items.len() <= 1 || items.len().saturating_mul(work_per_item) < MIN_PARALLEL_WORK {
        let mut state = init();
        for (i, x) in items.iter_mut().enumerate() {
            if interrupt::requested() {
                break;
            }
            f(&mut state, i, x);
        }
    } else {
        let min_len = (items.len() / (4 * threads)).max(1);
        run_on_pool(threads, watch, items.len().saturating_mul(work_per_item), || {
            items.par_iter_mut().enumerate().with_min_len(min_len).for_each_init(&init, |state, (i, x)| {
                if !watch.stopped() {
                    watch.enter(|| f(state, i, x));
                }
            })
        });
    }
    finished(watch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_jobs_follows_the_pysiglib_convention() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(resolve_n_jobs(1).unwrap(), 1);
        assert_eq!(resolve_n_jobs(3).unwrap(), 3);
        assert_eq!(resolve_n_jobs(-1).unwrap(), cores);
        assert_eq!(resolve_n_jobs(-2).unwrap(), (cores - 1).max(1));
        assert_eq!(resolve_n_jobs(-1000).unwrap(), 1);
        assert!(resolve_n_jobs(0).is_err());
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
