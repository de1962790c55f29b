//! Signatures, their gradients and path transforms on device memory
//! (`kernels/signature.cu`, `kernels/transform.cu`).
//!
//! Every function takes raw device pointers the caller owns (PyTorch's
//! allocations) and the caller's stream, and returns once the kernels are
//! queued on it. Working memory that does not fit in shared memory is a
//! scratch area the caller allocates: [`sig_workspace`] says how large.

use std::path::PathBuf;
use std::sync::Arc;

use crate::launch::{self, Arg, Device, LaunchConfig, Module};
use crate::CudaError;

/// Floating-point type of a call's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Float {
    F32,
    F64,
}

impl Float {
    fn size(self) -> usize {
        match self {
            Float::F32 => 4,
            Float::F64 => 8,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Float::F32 => "f32",
            Float::F64 => "f64",
        }
    }

    fn real(self, x: f64) -> Arg {
        match self {
            Float::F32 => Arg::F32(x as f32),
            Float::F64 => Arg::F64(x),
        }
    }
}

/// Where and how to launch.
#[derive(Debug, Clone)]
pub struct Placement {
    /// CUDA device ordinal (torch's `tensor.device.index`).
    pub device: i32,
    /// The `CUstream` handle (torch's `cuda_stream`); 0 is the legacy default stream.
    pub stream: usize,
    /// Most blocks per launch: the batch is strided over them, so any batch
    /// fits one launch.
    pub max_blocks: u32,
    /// Use the global-memory kernels even where shared memory would do (tests).
    pub force_global: bool,
    /// Threads per block before rounding to a multiple of the dimension;
    /// 0 chooses from the signature's size (for tuning on a GPU).
    pub threads: u32,
    /// Directories to look for NVRTC in before the system path.
    pub nvrtc_dirs: Vec<PathBuf>,
}

/// A batch of `(batch, length, dim)` paths and the signature options the
/// GPU kernels support.
#[derive(Debug, Clone)]
pub struct SigProblem {
    pub batch: usize,
    pub length: usize,
    pub dim: usize,
    pub degree: usize,
    pub time_aug: bool,
    pub lead_lag: bool,
    pub end_time: f64,
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

/// Sizes the kernel source derives from (D, N); must equal the constants of
/// `kernels/signature.cu`.
struct Layout {
    d: usize,
    threads: usize,
    block: usize,
    sig_len: usize,
    forward_len: usize,
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
        let too_big = || CudaError::Invalid(format!("a signature of dimension {d} and degree {n} is too large for the GPU kernels"));
        // level_start(k) = d + ... + d^(k-1)
        let level_start = |k: usize| -> Option<usize> {
            let (mut off, mut p) = (0usize, 1usize);
            for _ in 1..k {
                p = p.checked_mul(d)?;
                off = off.checked_add(p)?;
            }
            Some(off)
        };
        let sig_len = level_start(n + 1).ok_or_else(too_big)?;
        // The kernels index words with 32-bit unsigned numbers.
        if sig_len > u32::MAX as usize / 2 {
            return Err(too_big());
        }
        let low_len = level_start(n).ok_or_else(too_big)?;
        let gy_len: usize = (2..=n).map(|m| level_start(n - m + 2).unwrap_or(usize::MAX)).try_fold(0usize, |a, b| a.checked_add(b)).ok_or_else(too_big)?;
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
    fn out_dim(&self) -> usize {
        (if self.lead_lag { 2 * self.dim } else { self.dim }) + usize::from(self.time_aug)
    }

    fn steps(&self) -> usize {
        if self.lead_lag {
            (2 * self.length).saturating_sub(2)
        } else {
            self.length.saturating_sub(1)
        }
    }

    fn dt(&self) -> f64 {
        self.end_time / self.steps().max(1) as f64
    }

    fn check(&self, place: &Placement) -> Result<Layout, CudaError> {
        if self.inverse && self.stream {
            return Err(CudaError::Invalid("the GPU signature kernels do not take inverse and stream together".into()));
        }
        if self.degree == 0 {
            return Err(CudaError::Invalid("the GPU signature kernels need degree >= 1 (degree 0 needs no kernel)".into()));
        }
        if self.length > i32::MAX as usize / 2 || self.dim > i32::MAX as usize {
            return Err(CudaError::Invalid(format!("paths of length {} and dimension {} are too large", self.length, self.dim)));
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
    let mut grid = p.batch.clamp(1, place.max_blocks.max(1) as usize);
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
    Ok(Workspace { scratch: pl.scratch, incr_grads: if backward { p.batch * p.steps() * layout.d } else { 0 } })
}

/// The device, the loaded specialisation and the launch plan of a
/// signature call; None for an empty batch (nothing to launch).
type Prepared = (Arc<Device>, Arc<Module>, Plan);

fn prepare(p: &SigProblem, place: &Placement, backward: bool) -> Result<Option<Prepared>, CudaError> {
    let layout = p.check(place)?;
    if p.batch == 0 {
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
    launch::launch(&dev, to_path, &elementwise(p.batch * p.length * p.dim, place), &mut args)
}

/// A grid-stride launch over `n` elements.
fn elementwise(n: usize, place: &Placement) -> LaunchConfig {
    let block = 256usize;
    let grid = n.div_ceil(block).clamp(1, place.max_blocks.max(1) as usize);
    LaunchConfig { grid: grid as u32, block: block as u32, shared_bytes: 0, stream: place.stream }
}

/// Launches `{stem}_{f64|f32}` of `transform.cu` over `n` elements.
unsafe fn launch_transform(p: &SigProblem, place: &Placement, stem: &str, n: usize, mut args: Vec<Arg>) -> Result<(), CudaError> {
    let dev = launch::device(place.device)?;
    let module = launch::module(place.device, &dev, "transform.cu", Vec::new(), &place.nvrtc_dirs)?;
    let f = module.function(&format!("{stem}_{}", p.float.suffix()))?;
    launch::launch(&dev, f, &elementwise(n, place), &mut args)
}

/// `transform_path` on device memory: `paths` (`batch x length x dim`) into
/// `out` (`batch x length' x dim'`).
///
/// # Safety
/// As [`sig_forward`].
pub unsafe fn transform_path(p: &SigProblem, place: &Placement, paths: u64, out: u64) -> Result<(), CudaError> {
    let out_len = if p.lead_lag && p.length > 0 { 2 * p.length - 1 } else { p.length };
    let n = p.batch * out_len;
    if n == 0 || p.out_dim() == 0 {
        return Ok(());
    }
    launch_transform(p, place, "transform_path", n, transform_args(p, [paths, out]))
}

/// Gradient through [`transform_path`]: `derivs` (`batch x length' x dim'`)
/// into `out` (`batch x length x dim`).
///
/// # Safety
/// As [`sig_forward`].
pub unsafe fn transform_path_backprop(p: &SigProblem, place: &Placement, derivs: u64, out: u64) -> Result<(), CudaError> {
    let n = p.batch * p.length;
    if n == 0 || p.dim == 0 {
        return Ok(());
    }
    launch_transform(p, place, "transform_path_backprop", n, transform_backprop_args(p, [derivs, out]))
}

// The argument lists of the kernels, in their parameter order (checked
// against the sources by the tests below): pointers, then the batch's
// shape, then options.

fn with_shape(p: &SigProblem, ptrs: &[u64], options: impl IntoIterator<Item = Arg>) -> Vec<Arg> {
    let shape = [Arg::I64(p.batch as i64), Arg::I32(p.length as i32), Arg::I32(p.dim as i32)];
    ptrs.iter().map(|&ptr| Arg::Ptr(ptr)).chain(shape).chain(options).collect()
}

fn sig_options(p: &SigProblem, use_shared: bool) -> [Arg; 7] {
    [
        Arg::I32(p.time_aug.into()),
        Arg::I32(p.lead_lag.into()),
        p.float.real(p.dt()),
        Arg::I32(p.scalar_term.into()),
        Arg::I32(p.stream.into()),
        Arg::I32(p.inverse.into()),
        Arg::I32(use_shared.into()),
    ]
}

/// `ptrs`: paths, initial, out, scratch.
fn forward_args(p: &SigProblem, use_shared: bool, ptrs: [u64; 4]) -> Vec<Arg> {
    with_shape(p, &ptrs, sig_options(p, use_shared))
}

/// `ptrs`: paths, sigs, sig_grads, incr_grads, initial_grads, scratch.
fn backward_args(p: &SigProblem, use_shared: bool, ptrs: [u64; 6]) -> Vec<Arg> {
    with_shape(p, &ptrs, sig_options(p, use_shared))
}

/// `ptrs`: incr_grads, out.
fn to_path_args(p: &SigProblem, ptrs: [u64; 2]) -> Vec<Arg> {
    with_shape(p, &ptrs, [Arg::I32(p.lead_lag.into())])
}

/// `ptrs`: paths, out.
fn transform_args(p: &SigProblem, ptrs: [u64; 2]) -> Vec<Arg> {
    with_shape(p, &ptrs, [Arg::I32(p.time_aug.into()), Arg::I32(p.lead_lag.into()), p.float.real(p.end_time)])
}

/// `ptrs`: derivs, out.
fn transform_backprop_args(p: &SigProblem, ptrs: [u64; 2]) -> Vec<Arg> {
    with_shape(p, &ptrs, [Arg::I32(p.time_aug.into()), Arg::I32(p.lead_lag.into())])
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn calls_without_a_usable_driver_are_errors_not_panics() {
        let p = SigProblem { batch: 2, length: 5, dim: 3, degree: 3, time_aug: true, lead_lag: false, end_time: 1.0, scalar_term: false, stream: false, inverse: false, float: Float::F64 };
        let place = Placement { device: 0, stream: 0, max_blocks: 8, force_global: false, threads: 0, nvrtc_dirs: Vec::new() };
        if crate::probe().is_err() {
            assert!(matches!(sig_workspace(&p, &place, true), Err(CudaError::Unavailable(_))));
            // SAFETY: no pointer is dereferenced: the call stops at the driver check.
            assert!(matches!(unsafe { sig_forward(&p, &place, 0, 0, 0, 0) }, Err(CudaError::Unavailable(_))));
        }
        // Problems the kernels do not take are refused before any driver call.
        let p0 = SigProblem { degree: 0, ..p.clone() };
        assert!(matches!(sig_workspace(&p0, &place, false), Err(CudaError::Invalid(_))));
        let wide = SigProblem { dim: 2000, degree: 1, ..p };
        assert!(matches!(sig_workspace(&wide, &place, false), Err(CudaError::Invalid(_))));
    }

    /// The kinds of the parameters of kernel `stem` (declared `stem##SUFFIX(`
    /// or `stem(`) in `source`: "ptr", "i64", "i32" or "real" (the float type T).
    fn param_kinds(source: &str, stem: &str) -> Vec<&'static str> {
        let start = [format!("{stem}##SUFFIX("), format!("{stem}(")]
            .iter()
            .find_map(|head| source.find(head.as_str()).map(|i| i + head.len()))
            .unwrap_or_else(|| panic!("no kernel {stem}"));
        let list = &source[start..start + source[start..].find(')').unwrap()];
        list.replace('\\', " ")
            .split(',')
            .map(|param| {
                let ty = param.trim().rsplit_once(char::is_whitespace).map_or("", |(ty, _)| ty.trim());
                match ty {
                    t if t.contains('*') => "ptr",
                    "long long" => "i64",
                    "int" => "i32",
                    "T" => "real",
                    other => panic!("unknown parameter type {other:?} in {stem}"),
                }
            })
            .collect()
    }

    fn kinds(args: &[Arg]) -> Vec<&'static str> {
        args.iter()
            .map(|a| match a {
                Arg::Ptr(_) => "ptr",
                Arg::I64(_) => "i64",
                Arg::I32(_) => "i32",
                Arg::F64(_) | Arg::F32(_) => "real",
            })
            .collect()
    }

    #[test]
    fn argument_lists_match_the_kernel_parameters() {
        // A mismatch would corrupt memory on a GPU, so it is caught here, without one.
        let source = |name: &str| crate::KERNELS.iter().find(|(n, _)| *n == name).unwrap().1;
        let p = SigProblem { batch: 2, length: 5, dim: 3, degree: 3, time_aug: true, lead_lag: true, end_time: 1.0, scalar_term: true, stream: true, inverse: false, float: Float::F32 };
        let sig = source("signature.cu");
        let transform = source("transform.cu");
        assert_eq!(kinds(&forward_args(&p, true, [1, 2, 3, 4])), param_kinds(sig, "sig_forward_"));
        assert_eq!(kinds(&backward_args(&p, true, [1, 2, 3, 4, 5, 6])), param_kinds(sig, "sig_backward_"));
        assert_eq!(kinds(&to_path_args(&p, [1, 2])), param_kinds(sig, "incr_grads_to_path_"));
        assert_eq!(kinds(&transform_args(&p, [1, 2])), param_kinds(transform, "transform_path_"));
        assert_eq!(kinds(&transform_backprop_args(&p, [1, 2])), param_kinds(transform, "transform_path_backprop_"));
    }
}
