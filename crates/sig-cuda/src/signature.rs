//! Signatures and their gradients on device memory (`kernels/signature.cu`).
//!
//! Every function takes raw device pointers the caller owns (PyTorch's
//! allocations) and the caller's stream, and returns once the kernels are
//! queued on it. Working memory that does not fit in shared memory is a
//! scratch area the caller allocates: [`sig_workspace`] says how large.
//! The path transforms are applied step by step inside the kernels; the
//! transformed path itself is [`crate::transform`]'s.

use std::sync::Arc;

use sig_core::{PathShape, PathTransform, TensorShape};

use crate::launch::{self, shape_args, Arg, Device, Float, LaunchConfig, Module, Placement};
use crate::CudaError;

/// A batch of `(batch, length, dim)` paths and the signature options the
/// GPU kernels support. The kernels see the transformed path, of dimension
/// `transform.out_dim(dim)` and `transform.n_increments(length)` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct SigProblem {
    pub shape: PathShape,
    /// Truncation degree N (at least 1).
    pub degree: usize,
    pub transform: PathTransform,
    /// Output rows start with the level-0 term, 1.
    pub scalar_term: bool,
    /// One output row per original step (the signature of every prefix).
    pub stream: bool,
    /// Output S^-1, the signature of the path run backwards (not with
    /// `stream` or an initial signature).
    pub inverse: bool,
    pub float: Float,
}

/// Largest transformed dimension the signature kernels take: a block is a
/// multiple of it.
pub const MAX_DIM: usize = 1024;
/// Threads per block, before rounding down to a multiple of D: about one
/// per two words, so that a step's critical path is a word or two per
/// thread (the loop over steps is latency-bound) and small batches still
/// give each SM many warps; at most 512 to keep the backward kernel's
/// registers out of local memory.
fn threads_for(sig_len: usize) -> usize {
    (sig_len / 2).next_power_of_two().clamp(64, 512)
}

/// Most words a signature may have: the kernels index words with 32-bit
/// unsigned numbers, and sums of two indices must not wrap.
const MAX_WORDS: usize = u32::MAX as usize / 2;

/// Sizes the kernel source derives from (D, N); must equal the constants of
/// `kernels/signature.cu`, whose buffers hold levels 1..N (no level 0).
struct Layout {
    d: usize,
    threads: usize,
    block: usize,
    /// `SIG_LEN`: levels 1..N, `d + d^2 + ... + d^N` words.
    sig_len: usize,
    /// `FORWARD_LEN`: the forward pass's working set, in numbers.
    forward_len: usize,
    /// `BACKWARD_LEN`: the backward pass's working set, in numbers.
    backward_len: usize,
}

impl Layout {
    /// `threads`: 0 for [`threads_for`]'s choice.
    fn new(d: usize, n: usize, threads: usize) -> Result<Self, CudaError> {
        if d == 0 || d > MAX_DIM {
            return Err(CudaError::Invalid(format!(
                "the GPU signature kernels take a transformed path dimension between 1 and {MAX_DIM}, got {d}"
            )));
        }
        let too_big = || {
            CudaError::Invalid(format!(
                "a signature of dimension {d} and degree {n} is too large for the GPU kernels (at most {MAX_WORDS} words)"
            ))
        };
        // Every level has at least one word, so a degree above MAX_WORDS is
        // refused before the size is worked out; sig_length then stops at
        // the first overflow, and TensorShape (which holds an offset per
        // level) is built only for a signature the kernels can take.
        if n > MAX_WORDS || sig_core::sig_length(d, n, false).is_none_or(|len| len > MAX_WORDS) {
            return Err(too_big());
        }
        let tensor = TensorShape::new(d, n).map_err(|_| too_big())?;
        // The kernel's level_start(k): where level k starts in a buffer
        // without level 0 (its one word); 0 for k = 0 too.
        let level_start = |k: usize| tensor.level(k).start.saturating_sub(tensor.level_len(0));
        let sig_len = tensor.len() - tensor.level_len(0);
        let low_len = level_start(n);
        // gY(m), m = 2..N, holds levels 1..N-m+1.
        let gy_len = (2..=n).try_fold(0usize, |total, m| total.checked_add(level_start(n - m + 2))).ok_or_else(too_big)?;
        if threads > 1024 {
            return Err(CudaError::Invalid(format!("at most 1024 threads per block, asked for {threads}")));
        }
        let threads = if threads == 0 { threads_for(sig_len) } else { threads };
        let block = if d <= threads { (threads / d) * d } else { d };
        Ok(Layout {
            d,
            threads,
            block,
            sig_len,
            forward_len: 2 * sig_len + 2 * d,
            backward_len: 4 * low_len + sig_len + gy_len + 2 * d + 2 * block,
        })
    }
}

/// `(threads, block, sig_len, forward_len, backward_len)` of the (D, N)
/// specialisation (`threads` is its `SIGRS_THREADS`), for checking against
/// the kernel source's constants.
pub fn layout(d: usize, n: usize) -> Result<(usize, usize, usize, usize, usize), CudaError> {
    let l = Layout::new(d, n, 0)?;
    Ok((l.threads, l.block, l.sig_len, l.forward_len, l.backward_len))
}

impl SigProblem {
    /// Dimension of the transformed path, the kernels' D.
    fn out_dim(&self) -> usize {
        self.transform.out_dim(self.shape.dim)
    }

    /// Increments of the transformed path, the kernels' steps.
    fn steps(&self) -> usize {
        self.transform.n_increments(self.shape.length)
    }

    /// The time channel's increment per step.
    fn dt(&self) -> f64 {
        self.transform.end_time / self.steps().max(1) as f64
    }

    fn check(&self, place: &Placement) -> Result<Layout, CudaError> {
        if self.inverse && self.stream {
            return Err(CudaError::Invalid("the GPU signature kernels do not take inverse and stream together".into()));
        }
        if self.degree == 0 {
            return Err(CudaError::Invalid("the GPU signature kernels need degree >= 1 (degree 0 needs no kernel)".into()));
        }
        let PathShape { length, dim, .. } = self.shape;
        if length > i32::MAX as usize / 2 || dim > i32::MAX as usize {
            return Err(CudaError::Invalid(format!("paths of length {length} and dimension {dim} are too large")));
        }
        Layout::new(self.out_dim(), self.degree, place.threads as usize)
    }

    /// The `-D` definitions of this problem's specialisation.
    fn defines(&self, layout: &Layout) -> launch::Defines {
        vec![("SIGRS_DIM", layout.d as i64), ("SIGRS_DEGREE", self.degree as i64), ("SIGRS_THREADS", layout.threads as i64)]
    }
}

/// What a signature call needs besides its inputs and outputs, in numbers
/// of the problem's float type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workspace {
    /// Global scratch (0 when the working set fits in shared memory).
    pub scratch: usize,
    /// The backward pass's per-increment gradients, `batch x steps x d'`.
    pub incr_grads: usize,
}

struct Plan {
    grid: u32,
    block: u32,
    shared_bytes: u32,
    use_shared: bool,
    scratch: usize,
}

fn plan(p: &SigProblem, layout: &Layout, place: &Placement, dev: &launch::Device, backward: bool) -> Plan {
    let len = if backward { layout.backward_len } else { layout.forward_len };
    let bytes = len.saturating_mul(p.float.size());
    let use_shared = !place.force_global && bytes <= dev.max_shared;
    let mut grid = p.shape.batch.clamp(1, place.max_blocks.max(1) as usize);
    if !use_shared {
        // Each resident block needs its own scratch: a few waves' worth.
        grid = grid.min(4 * dev.sms as usize);
    }
    Plan {
        grid: grid as u32,
        block: layout.block as u32,
        shared_bytes: if use_shared { bytes as u32 } else { 0 },
        use_shared,
        scratch: if use_shared { 0 } else { grid * len },
    }
}

/// The scratch sizes [`sig_forward`] (`backward = false`) or
/// [`sig_backward`] needs for this problem on this device.
pub fn sig_workspace(p: &SigProblem, place: &Placement, backward: bool) -> Result<Workspace, CudaError> {
    let layout = p.check(place)?;
    let dev = launch::device(place.device)?;
    let pl = plan(p, &layout, place, &dev, backward);
    Ok(Workspace { scratch: pl.scratch, incr_grads: if backward { p.shape.batch * p.steps() * layout.d } else { 0 } })
}

/// The device, the loaded specialisation and the launch plan of a
/// signature call; None for an empty batch (nothing to launch).
type Prepared = (Arc<Device>, Arc<Module>, Plan);

fn prepare(p: &SigProblem, place: &Placement, backward: bool) -> Result<Option<Prepared>, CudaError> {
    let layout = p.check(place)?;
    if p.shape.batch == 0 {
        return Ok(None);
    }
    let dev = launch::device(place.device)?;
    let pl = plan(p, &layout, place, &dev, backward);
    let module = launch::module(place.device, &dev, "signature.cu", p.defines(&layout), &place.nvrtc_dirs)?;
    Ok(Some((dev, module, pl)))
}

fn sig_config(pl: &Plan, place: &Placement) -> LaunchConfig {
    LaunchConfig { grid: pl.grid, block: pl.block, shared_bytes: pl.shared_bytes, stream: place.stream }
}

/// Signatures of `paths` (`batch x length x dim`) into `out` (`batch x
/// rows x row`: one row, or `length - 1` with `stream`; `row` is `sig_len`,
/// plus a leading 1 with `scalar_term`). `initial` (0 for none) holds
/// `batch x row` signatures to start from: the output is `initial (x) S`.
///
/// # Safety
/// The pointers must be device memory on `place.device` holding the
/// documented sizes in `p.float` (`scratch`: [`sig_workspace`]'s), and
/// `place.stream` a stream of that device or 0.
pub unsafe fn sig_forward(p: &SigProblem, place: &Placement, paths: u64, initial: u64, out: u64, scratch: u64) -> Result<(), CudaError> {
    let Some((dev, module, pl)) = prepare(p, place, false)? else { return Ok(()) };
    let f = module.function(&format!("sig_forward_{}", p.float.suffix()))?;
    let mut args = forward_args(p, pl.use_shared, [paths, initial, out, scratch]);
    launch::launch(&dev, f, &sig_config(&pl, place), &mut args)
}

/// Gradient through [`sig_forward`]: from the signatures `sigs` it
/// returned and `sig_grads` (both `batch x rows x row`), writes dF/d(paths)
/// into `out` (`batch x length x dim`), going through `incr_grads`, and
/// dF/d(initial) into `initial_grads` (`batch x row`) unless it is 0.
///
/// # Safety
/// As [`sig_forward`]; `incr_grads` and `scratch` sized by [`sig_workspace`]
/// with `backward = true`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sig_backward(
    p: &SigProblem,
    place: &Placement,
    paths: u64,
    sigs: u64,
    sig_grads: u64,
    incr_grads: u64,
    initial_grads: u64,
    scratch: u64,
    out: u64,
) -> Result<(), CudaError> {
    let Some((dev, module, pl)) = prepare(p, place, true)? else { return Ok(()) };
    let backward = module.function(&format!("sig_backward_{}", p.float.suffix()))?;
    let mut args = backward_args(p, pl.use_shared, [paths, sigs, sig_grads, incr_grads, initial_grads, scratch]);
    launch::launch(&dev, backward, &sig_config(&pl, place), &mut args)?;
    let to_path = module.function(&format!("incr_grads_to_path_{}", p.float.suffix()))?;
    let mut args = to_path_args(p, [incr_grads, out]);
    launch::launch(&dev, to_path, &launch::elementwise(p.shape.batch * p.shape.path_len(), place), &mut args)
}

// The argument lists of the kernels, in their parameter order (checked
// against the source by the tests below): pointers, then the batch's
// shape, then options.

fn sig_options(p: &SigProblem, use_shared: bool) -> [Arg; 7] {
    [
        Arg::I32(p.transform.time_aug.into()),
        Arg::I32(p.transform.lead_lag.into()),
        p.float.real(p.dt()),
        Arg::I32(p.scalar_term.into()),
        Arg::I32(p.stream.into()),
        Arg::I32(p.inverse.into()),
        Arg::I32(use_shared.into()),
    ]
}

/// `ptrs`: paths, initial, out, scratch.
fn forward_args(p: &SigProblem, use_shared: bool, ptrs: [u64; 4]) -> Vec<Arg> {
    shape_args(&p.shape, &ptrs, sig_options(p, use_shared))
}

/// `ptrs`: paths, sigs, sig_grads, incr_grads, initial_grads, scratch.
fn backward_args(p: &SigProblem, use_shared: bool, ptrs: [u64; 6]) -> Vec<Arg> {
    shape_args(&p.shape, &ptrs, sig_options(p, use_shared))
}

/// `ptrs`: incr_grads, out.
fn to_path_args(p: &SigProblem, ptrs: [u64; 2]) -> Vec<Arg> {
    shape_args(&p.shape, &ptrs, [Arg::I32(p.transform.lead_lag.into())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::kernel_params::{kinds, param_kinds, source};

    fn problem(transform: PathTransform) -> SigProblem {
        SigProblem {
            shape: PathShape::new(2, 5, 3),
            degree: 3,
            transform,
            scalar_term: false,
            stream: false,
            inverse: false,
            float: Float::F64,
        }
    }

    fn placement() -> Placement {
        Placement { device: 0, stream: 0, max_blocks: 8, force_global: false, threads: 0, nvrtc_dirs: Vec::new() }
    }

    #[test]
    fn layout_matches_the_kernel_constants() {
        // D = 3, N = 3: levels 3 + 9 + 27; gY(2) has levels 1..2 (12), gY(3) level 1 (3).
        let l = Layout::new(3, 3, 0).unwrap();
        assert_eq!((l.sig_len, l.threads, l.block), (39, 64, 63));
        assert_eq!(l.forward_len, 2 * 39 + 6);
        assert_eq!(l.backward_len, 4 * 12 + 39 + 15 + 6 + 2 * 63);
        // The benchmark shapes: 584 words -> 512 threads; 5460 -> the cap.
        assert_eq!(Layout::new(8, 3, 0).unwrap().block, 512);
        assert_eq!(Layout::new(4, 6, 0).unwrap().block, 512);
        assert_eq!(Layout::new(300, 1, 0).unwrap().block, 300);
        assert!(Layout::new(0, 2, 0).is_err());
        assert!(Layout::new(MAX_DIM + 1, 1, 0).is_err());
        assert!(Layout::new(64, 8, 0).is_err());
        // A tuning override, rounded down to a multiple of D.
        assert_eq!(Layout::new(3, 3, 1000).unwrap().block, 999);
        assert!(Layout::new(3, 3, 2048).is_err());
    }

    #[test]
    fn layout_sizes_are_sums_of_signature_lengths() {
        // The kernel's constants in terms of sig_length(d, k) = d + ... + d^k,
        // the size of levels 1..k: SIG_LEN = sig_length(N), LOW_LEN =
        // sig_length(N - 1), and gY(m) for m = 2..N holds sig_length(N - m + 1).
        let levels = |d: usize, k: usize| sig_core::sig_length(d, k, false).unwrap();
        for (d, n) in [(1, 1), (1, 7), (2, 1), (2, 5), (3, 4), (5, 3), (7, 2), (10, 4), (64, 2), (300, 1), (1024, 2)] {
            let l = Layout::new(d, n, 0).unwrap();
            assert_eq!(l.sig_len, levels(d, n), "(d, N) = ({d}, {n})");
            assert_eq!(l.forward_len, 2 * levels(d, n) + 2 * d);
            let gy: usize = (2..=n).map(|m| levels(d, n - m + 1)).sum();
            assert_eq!(l.backward_len, 4 * levels(d, n - 1) + levels(d, n) + gy + 2 * d + 2 * l.block, "(d, N) = ({d}, {n})");
            assert_eq!(layout(d, n).unwrap(), (l.threads, l.block, l.sig_len, l.forward_len, l.backward_len));
        }
    }

    /// The sizes as the launcher first computed them, by powers of d.
    fn sizes_by_hand(d: usize, n: usize) -> Option<(usize, usize)> {
        let level_start = |k: usize| -> Option<usize> {
            let (mut off, mut p) = (0usize, 1usize);
            for _ in 1..k {
                p = p.checked_mul(d)?;
                off = off.checked_add(p)?;
            }
            Some(off)
        };
        let sig_len = level_start(n + 1).filter(|&len| len <= MAX_WORDS)?;
        let low_len = level_start(n)?;
        let gy_len = (2..=n).map(|m| level_start(n - m + 2)).try_fold(0usize, |a, b| a.checked_add(b?))?;
        Some((sig_len, 4 * low_len + sig_len + gy_len))
    }

    #[test]
    fn layout_accepts_and_sizes_what_it_did_by_hand() {
        for d in [1, 2, 3, 4, 8, 15, 16, 100, 1000, MAX_DIM] {
            for n in 0..=40 {
                let by_hand = sizes_by_hand(d, n);
                match Layout::new(d, n, 0) {
                    Ok(l) => assert_eq!(Some((l.sig_len, l.backward_len - 2 * d - 2 * l.block)), by_hand, "(d, N) = ({d}, {n})"),
                    Err(e) => {
                        assert_eq!(by_hand, None, "(d, N) = ({d}, {n})");
                        assert!(matches!(&e, CudaError::Invalid(m) if m.contains("too large")), "{e}");
                    }
                }
            }
        }
    }

    #[test]
    fn oversized_signatures_are_invalid_not_panics() {
        // The largest signature the kernels index, and one word more.
        assert_eq!(Layout::new(2, 29, 0).unwrap().sig_len, (1 << 30) - 2);
        assert_eq!(Layout::new(2, 30, 0).unwrap().sig_len, (1 << 31) - 2);
        for (d, n) in [(2, 31), (1024, 4), (2, 64), (2, usize::MAX), (1, usize::MAX), (1, MAX_WORDS + 1), (MAX_DIM, 1 << 40)] {
            match Layout::new(d, n, 0) {
                Err(CudaError::Invalid(m)) => assert!(m.contains(&format!("dimension {d} and degree {n} is too large")), "{m}"),
                other => panic!("(d, N) = ({d}, {n}): {:?}", other.map(|l| l.sig_len)),
            }
        }
    }

    #[test]
    fn transformed_sizes_come_from_the_path_transform() {
        // (time_aug, lead_lag) -> the kernels' D and steps for 5 points of 3 channels.
        for (time_aug, lead_lag, d, steps) in [(false, false, 3, 4), (true, false, 4, 4), (false, true, 6, 8), (true, true, 7, 8)] {
            let p = problem(PathTransform { time_aug, lead_lag, end_time: 2.0 });
            assert_eq!((p.out_dim(), p.steps()), (d, steps));
            assert_eq!(p.dt(), 2.0 / steps as f64);
        }
        // A single point has no step; time then advances by end_time (never used).
        let one = SigProblem { shape: PathShape::new(2, 1, 3), ..problem(PathTransform { time_aug: true, lead_lag: true, end_time: 2.0 }) };
        assert_eq!((one.steps(), one.dt()), (0, 2.0));
        let empty = SigProblem { shape: PathShape::new(2, 0, 3), ..one };
        assert_eq!(empty.steps(), 0);
    }

    #[test]
    fn calls_without_a_usable_driver_are_errors_not_panics() {
        let p = problem(PathTransform { time_aug: true, lead_lag: false, end_time: 1.0 });
        let place = placement();
        if crate::probe().is_err() {
            assert!(matches!(sig_workspace(&p, &place, true), Err(CudaError::Unavailable(_))));
            // SAFETY: no pointer is dereferenced: the call stops at the driver check.
            assert!(matches!(unsafe { sig_forward(&p, &place, 0, 0, 0, 0) }, Err(CudaError::Unavailable(_))));
        }
        // Problems the kernels do not take are refused before any driver call.
        let p0 = SigProblem { degree: 0, ..p.clone() };
        assert!(matches!(sig_workspace(&p0, &place, false), Err(CudaError::Invalid(_))));
        let wide = SigProblem { shape: PathShape::new(2, 5, 2000), degree: 1, ..p.clone() };
        assert!(matches!(sig_workspace(&wide, &place, false), Err(CudaError::Invalid(_))));
        // Lead-lag doubles the channels: 600 of them are 1201 transformed ones.
        let lead_lag = PathTransform { time_aug: true, lead_lag: true, end_time: 1.0 };
        let doubled = SigProblem { shape: PathShape::new(2, 5, 600), degree: 1, transform: lead_lag, ..p.clone() };
        assert!(matches!(sig_workspace(&doubled, &place, false), Err(CudaError::Invalid(m)) if m.contains("got 1201")));
        let both = SigProblem { inverse: true, stream: true, ..p.clone() };
        assert!(matches!(sig_workspace(&both, &place, false), Err(CudaError::Invalid(_))));
        let long = SigProblem { shape: PathShape::new(1, i32::MAX as usize, 3), ..p };
        assert!(matches!(sig_workspace(&long, &place, false), Err(CudaError::Invalid(_))));
    }

    #[test]
    fn argument_lists_match_the_kernel_parameters() {
        // A mismatch would corrupt memory on a GPU, so it is caught here, without one.
        let sig = source("signature.cu");
        let lead_lag = PathTransform { time_aug: true, lead_lag: true, end_time: 1.0 };
        for float in [Float::F32, Float::F64] {
            let p = SigProblem { scalar_term: true, stream: true, float, ..problem(lead_lag) };
            assert_eq!(kinds(&forward_args(&p, true, [1, 2, 3, 4])), param_kinds(sig, "sig_forward_"));
            assert_eq!(kinds(&backward_args(&p, true, [1, 2, 3, 4, 5, 6])), param_kinds(sig, "sig_backward_"));
            assert_eq!(kinds(&to_path_args(&p, [1, 2])), param_kinds(sig, "incr_grads_to_path_"));
        }
        // The transform kernels' lists are checked in crate::transform.
    }

    #[test]
    fn arguments_carry_the_shape_and_the_options() {
        let p = SigProblem {
            shape: PathShape::new(7, 5, 3),
            scalar_term: true,
            inverse: true,
            ..problem(PathTransform { time_aug: true, lead_lag: true, end_time: 4.0 })
        };
        // 5 points -> 8 lead-lag steps, dt = 4 / 8.
        let args = forward_args(&p, false, [1, 2, 3, 4]);
        assert!(matches!(
            args[..],
            [Arg::Ptr(1), Arg::Ptr(2), Arg::Ptr(3), Arg::Ptr(4), Arg::I64(7), Arg::I32(5), Arg::I32(3),
             Arg::I32(1), Arg::I32(1), Arg::F64(dt), Arg::I32(1), Arg::I32(0), Arg::I32(1), Arg::I32(0)] if dt == 0.5
        ));
        let args = to_path_args(&SigProblem { transform: PathTransform::NONE, ..p }, [8, 9]);
        assert!(matches!(args[..], [Arg::Ptr(8), Arg::Ptr(9), Arg::I64(7), Arg::I32(5), Arg::I32(3), Arg::I32(0)]));
    }
}
