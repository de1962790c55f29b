//! Truncated signatures of batches of paths, and their gradients.
//!
//! Forward: `S <- S (x) exp(dx)` for every increment, in place, with one
//! scratch buffer per worker ([`crate::tensor`] holds the Horner kernel).
//! Backward: the signature map is invertible step by step,
//! `S_{j} = S_{j+1} (x) exp(-dx_j)`, so the backward pass walks the path from
//! its end, recovering each intermediate signature from the final one while
//! it accumulates the gradient. Memory per path is a few signatures, never
//! `length x sig_length`.

use std::ops::Range;

use crate::alloc::{scratch_any, zeros, Scratch};
use crate::batch::{resolve_n_jobs, try_for_each_chunk, try_for_each_item};
use crate::error::{check_len, Result, SigError};
use crate::interrupt::Checkpoint;
use crate::prefix::{mul_exp_steps_by_prefix, PrefixSplit, PREFIX_SPLIT_STEPS};
use crate::lanes::{self, backprop_block_lanes, lane_of, lanes, mul_exp_block_lanes};
use crate::tensor::{antipode_copy, horner_levels, mul_backward, mul_exp_backward, mul_exp_backward_block_kernel, mul_exp_block_kernel, mul_exp_in_place, mul_in_place, word_reversal, TensorShape, STEP_BLOCK};
use crate::transform::PathTransform;
use crate::Float;

/// Shape of a batch of paths stored row-major as `(batch, length, dim)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathShape {
    pub batch: usize,
    pub length: usize,
    pub dim: usize,
}

impl PathShape {
    pub fn new(batch: usize, length: usize, dim: usize) -> Self {
        PathShape { batch, length, dim }
    }

    /// Numbers in one path.
    #[inline]
    pub fn path_len(&self) -> usize {
        self.length * self.dim
    }

    /// Checks the shape is usable and `buf` holds exactly one batch of it.
    pub(crate) fn check<T>(&self, buf: &[T]) -> Result<()> {
        if self.length == 0 {
            return Err(SigError::invalid("path", "at least one point (length >= 1)", "length 0"));
        }
        let total = self
            .batch
            .checked_mul(self.length)
            .and_then(|n| n.checked_mul(self.dim))
            .ok_or_else(|| SigError::Overflow(format!("a batch of shape {self:?}")))?;
        check_len("path", buf.len(), total)
    }
}

/// A path's steps are split across threads only when there are fewer paths
/// than threads, and only into chunks long enough that the Chen products
/// joining them cost little next to the chunks themselves.
const MIN_STEPS_PER_CHUNK: usize = 128;

/// Per-worker buffers of the forward pass.
struct SigWorkspace<T: 'static> {
    s: Scratch<T>,
    dx: Scratch<T>,
    scratch: Scratch<T>,
    /// For states too large for the caches: their steps by prefix.
    split: Option<PrefixSplit<T>>,
}

impl<T: Float> SigWorkspace<T> {
    fn new(shape: &TensorShape) -> Result<Self> {
        let z = |n| scratch_any("a signature's workspace", n);
        let split = PrefixSplit::for_one_path(shape)?;
        let (steps, block_ws) = if split.is_some() { (PREFIX_SPLIT_STEPS, 0) } else { (STEP_BLOCK, shape.mul_exp_block_ws_len()) };
        Ok(SigWorkspace { s: z(shape.len())?, dx: z(shape.dim * steps)?, scratch: z(block_ws)?, split })
    }

    /// Multiplies `self.s` by the signature of `steps` of one path.
    fn run(&mut self, path: &[T], shape: PathShape, transform: &PathTransform, tshape: &TensorShape, steps: Range<usize>) {
        self.run_into(path, shape, transform, tshape, steps, None);
    }

    /// [`run`](Self::run), with the top level in `top` when given instead
    /// of in `self.s`, starting from zero (`top`'s contents are never
    /// read): the path's last block writes it where it is wanted, with no
    /// zeroing before or copy after. For one path of a large signature
    /// the top level is most of the memory traffic (d = 7, degree 7: a
    /// fill, a copy and two block updates of 3.3 MB each, for 9 steps).
    fn run_into(&mut self, path: &[T], shape: PathShape, transform: &PathTransform, tshape: &TensorShape, steps: Range<usize>, top: Option<&mut [T]>) {
        let n = tshape.degree;
        if tshape.dim == 0 || n == 0 || steps.is_empty() {
            if let Some(top) = top {
                top.fill(T::zero());
            }
            return;
        }
        let (lower, own_top) = self.s.split_at_mut(tshape.level(n).start);
        let (top, mut fresh) = match top {
            Some(top) => (top, true),
            None => (own_top, false),
        };
        // Stop requests are checked between runs of steps, outside the step
        // kernel: a check inside its loop measured 7% slower at d = 12.
        let per_call = if self.split.is_some() { PREFIX_SPLIT_STEPS } else { STEP_BLOCK };
        let run = Checkpoint::steps_per_check(tshape.len()).next_multiple_of(per_call);
        let mut start = steps.start;
        while start < steps.end {
            let end = steps.end.min(start + run);
            sig_steps(tshape.dim, path, shape.dim, shape.length, transform, tshape, start..end, lower, &mut top[..], fresh, &mut self.dx, &mut self.scratch, self.split.as_mut());
            fresh = false;
            start = end;
            if start < steps.end && crate::interrupt::requested() {
                return;
            }
        }
    }
}

crate::simd::specialised! {
    fn sig_steps<T>(d: usize, path: &[T], dim: usize, length: usize, transform: &PathTransform, tshape: &TensorShape, steps: Range<usize>, s: &mut [T], top: &mut [T], fresh: bool, dx: &mut [T], scratch: &mut [T], split: Option<&mut PrefixSplit<T>>) = sig_steps_kernel;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sig_steps_kernel<T: Float, const D: usize, const FMA: bool>(
    d: usize,
    path: &[T],
    dim: usize,
    length: usize,
    transform: &PathTransform,
    tshape: &TensorShape,
    steps: Range<usize>,
    s: &mut [T],
    top: &mut [T],
    mut fresh: bool,
    dx: &mut [T],
    scratch: &mut [T],
    mut split: Option<&mut PrefixSplit<T>>,
) {
    let d = if D == 0 { d } else { D };
    let per_call = if split.is_some() { PREFIX_SPLIT_STEPS } else { STEP_BLOCK };
    let mut j = steps.start;
    while j < steps.end {
        let count = (steps.end - j).min(per_call);
        if transform.lead_lag || transform.time_aug {
            for (t, dx_t) in dx.chunks_exact_mut(d).take(count).enumerate() {
                transform.increment(path, dim, length, j + t, dx_t);
            }
        } else {
            // Untransformed increments of a block are one vectorised difference.
            let (before, after) = (&path[j * d..(j + count) * d], &path[(j + 1) * d..(j + 1 + count) * d]);
            for ((o, &a), &b) in dx[..count * d].iter_mut().zip(after).zip(before) {
                *o = a - b;
            }
        }
        match split.as_deref_mut() {
            Some(split) => mul_exp_steps_by_prefix(d, tshape, s, top, fresh, dx, count, split),
            None => mul_exp_block_kernel::<T, D, FMA>(d, tshape, s, top, fresh, dx, count, scratch, None),
        }
        fresh = false;
        j += count;
    }
}

/// What to compute beyond the plain signature of each path.
///
/// * `transform`: time augmentation / lead-lag, applied on the fly.
/// * `scalar_term`: whether each output signature (and `initial`) starts
///   with the level-0 term 1.
/// * `stream`: output the signature of every prefix: row `r` (for
///   `r = 1..length`) is the signature of the first `r + 1` points, as
///   `(batch, length - 1, sig_len)`. Time (with `time_aug`) runs on the whole
///   path's clock; with lead-lag a prefix ends on the point `(x_r, x_r)`.
/// * `inverse`: output `S^-1` instead of `S` (the signature of the path run
///   backwards).
/// * `initial`: `batch * sig_len` numbers, a signature to start from: the
///   output is `initial (x) S`, or `S^-1 (x) initial` with `inverse`, so that
///   `initial` can carry a preceding piece of the path in either direction.
///   Its level-0 entry, if present, is taken to be 1.
#[derive(Debug, Clone, Copy)]
pub struct SigOptions<'a, T> {
    pub transform: PathTransform,
    pub scalar_term: bool,
    pub stream: bool,
    pub inverse: bool,
    pub initial: Option<&'a [T]>,
}

impl<T> Default for SigOptions<'_, T> {
    fn default() -> Self {
        SigOptions { transform: PathTransform::NONE, scalar_term: false, stream: false, inverse: false, initial: None }
    }
}

impl<T> SigOptions<'_, T> {
    /// Rows of output per path: `length - 1` in stream mode, else 1.
    pub fn rows(&self, length: usize) -> usize {
        if self.stream {
            length.saturating_sub(1)
        } else {
            1
        }
    }
}

/// Everything the passes derive from a [`SigOptions`] once per call.
struct SigPlan<'a, T> {
    tshape: TensorShape,
    /// 1 when outputs omit level 0.
    skip: usize,
    /// Numbers per output signature.
    out_len: usize,
    rows: usize,
    /// Transformed increments per original step (2 with lead-lag).
    per_row: usize,
    /// Word reversal table, for the antipode (`inverse` only).
    rev: Vec<usize>,
    initial: Option<&'a [T]>,
    inverse: bool,
}

impl<'a, T: Float> SigPlan<'a, T> {
    fn new(shape: PathShape, degree: usize, opts: &SigOptions<'a, T>) -> Result<Self> {
        opts.transform.validate()?;
        let tshape = TensorShape::new(opts.transform.out_dim(shape.dim), degree)?;
        let skip = usize::from(!opts.scalar_term);
        let out_len = tshape.len() - skip;
        if let Some(init) = opts.initial {
            check_len("initial", init.len(), shape.batch * out_len)?;
        }
        let rev = if opts.inverse { word_reversal(&tshape)? } else { Vec::new() };
        Ok(SigPlan {
            skip,
            out_len,
            rows: opts.rows(shape.length),
            per_row: if opts.transform.lead_lag { 2 } else { 1 },
            rev,
            initial: opts.initial,
            inverse: opts.inverse,
            tshape,
        })
    }

    /// Writes the starting point of path `b` into `s` (full length): the
    /// identity, `initial`, or with `inverse` the antipode of `initial`.
    fn load_start(&self, b: usize, s: &mut [T]) {
        s.fill(T::zero());
        s[0] = T::one();
        if let Some(init) = self.initial {
            let init = &init[b * self.out_len..(b + 1) * self.out_len];
            let src = &init[1 - self.skip..];
            if self.inverse {
                antipode_copy(&self.tshape, src, 1, s, 0, &self.rev);
            } else {
                s[1..].copy_from_slice(src);
            }
        }
    }

    /// Writes a full-length state `s` as one output signature (its
    /// antipode with `inverse`).
    fn store(&self, s: &[T], out: &mut [T]) {
        if self.inverse {
            if self.skip == 0 {
                out[0] = T::one();
            }
            antipode_copy(&self.tshape, s, 0, out, self.skip, &self.rev);
        } else {
            out.copy_from_slice(&s[self.skip..]);
        }
    }

    /// Writes `g`, the gradient at a path's starting point (full length),
    /// as the gradient of its `initial`: level 0 is constant, so its
    /// gradient is 0 (`g[0]` is overwritten).
    fn store_start_grad(&self, g: &mut [T], initial_grad: &mut [T]) {
        g[0] = T::zero();
        self.store(g, initial_grad);
        if self.skip == 0 {
            initial_grad[0] = T::zero();
        }
    }

    /// The inverse of [`store`](Self::store) (the antipode is an
    /// involution), level 0 set to `level0`; also maps output gradients to
    /// state gradients, the antipode being its own transpose.
    fn load(&self, out: &[T], s: &mut [T], level0: T) {
        s[0] = level0;
        if self.inverse {
            antipode_copy(&self.tshape, &out[1 - self.skip..], 1, s, 0, &self.rev);
        } else {
            s[1..].copy_from_slice(&out[1 - self.skip..]);
        }
    }
}

/// Truncated signatures of a batch of paths.
///
/// * `paths`: `shape.batch * shape.length * shape.dim` numbers, row-major.
/// * `degree`: truncation level N.
/// * `transform`: time augmentation / lead-lag, applied on the fly.
/// * `scalar_term`: whether each output starts with the level-0 term 1.
/// * `n_jobs`: 1 serial, -1 all cores, `k < -1` all but `-k - 1` cores.
/// * `out`: `batch * sig_length(out_dim, degree, scalar_term)` numbers.
///
/// [`sig_with`] adds streams, inverses and initial signatures.
///
/// ```
/// use sig_core::{sig, PathShape, PathTransform};
/// // A straight line from 0 to 2 in one dimension: level k is 2^k / k!.
/// let mut out = [0.0; 3];
/// sig(&[0.0, 2.0], PathShape::new(1, 2, 1), 3, PathTransform::NONE, false, 1, &mut out).unwrap();
/// assert_eq!(out, [2.0, 2.0, 8.0 / 6.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn sig<T: Float>(
    paths: &[T],
    shape: PathShape,
    degree: usize,
    transform: PathTransform,
    scalar_term: bool,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    let opts = SigOptions { transform, scalar_term, ..SigOptions::default() };
    sig_with(paths, shape, degree, &opts, n_jobs, out)
}

/// Signatures with every option of [`SigOptions`]; `out` holds
/// `batch * opts.rows(length) * sig_len` numbers.
///
/// ```
/// use sig_core::{sig_with, PathShape, SigOptions};
/// // The prefixes of 0 -> 1 -> 3 in one dimension, and their inverses.
/// let path = [0.0, 1.0, 3.0];
/// let mut out = [0.0; 4];
/// let opts = SigOptions { stream: true, ..SigOptions::default() };
/// sig_with(&path, PathShape::new(1, 3, 1), 2, &opts, 1, &mut out).unwrap();
/// assert_eq!(out, [1.0, 0.5, 3.0, 4.5]);
/// let opts = SigOptions { stream: true, inverse: true, ..opts };
/// sig_with(&path, PathShape::new(1, 3, 1), 2, &opts, 1, &mut out).unwrap();
/// assert_eq!(out, [-1.0, 0.5, -3.0, 4.5]);
/// ```
pub fn sig_with<T: Float>(paths: &[T], shape: PathShape, degree: usize, opts: &SigOptions<'_, T>, n_jobs: i64, out: &mut [T]) -> Result<()> {
    shape.check(paths)?;
    let plan = SigPlan::new(shape, degree, opts)?;
    let transform = opts.transform;
    let threads = resolve_n_jobs(n_jobs)?;
    let (tshape, out_len) = (&plan.tshape, plan.out_len);
    check_len("out", out.len(), shape.batch.saturating_mul(plan.rows).saturating_mul(out_len))?;
    let steps = transform.n_increments(shape.length);
    let pl = shape.path_len();
    let work = steps.saturating_mul(tshape.len());
    if tshape.dim == 1 && shape.dim == 1 {
        return sig_one_dim(paths, shape, &plan, opts.stream, n_jobs, out);
    }
    if opts.stream {
        return try_for_each_chunk(n_jobs, out, plan.rows * out_len, work, || StreamWorkspace::new(tshape), |ws, b, rows| {
            plan.load_start(b, &mut ws.s);
            if tshape.dim == 0 || out_len == 0 {
                for row in rows.chunks_exact_mut(out_len.max(1)) {
                    plan.store(&ws.s, row);
                }
                return Ok(());
            }
            sig_stream_steps(tshape.dim, &paths[b * pl..(b + 1) * pl], shape.dim, shape.length, &transform, &plan, ws, rows);
            Ok(())
        });
    }
    let chunks = if shape.batch < threads && out_len > 0 {
        (threads / shape.batch.max(1)).min(steps / MIN_STEPS_PER_CHUNK).max(1)
    } else {
        1
    };
    if chunks > 1 {
        return sig_chunked(paths, shape, &plan, transform, 0, chunks, n_jobs, out);
    }
    // Whole groups of paths go through the lanes; paths left over, if long
    // enough, have their pieces in the lanes instead; the rest one by one.
    let lanes_ok = use_lanes::<T>(tshape);
    let width = lanes::forward_width::<T>(tshape.dim, tshape.len());
    let (width, wide, narrow) = if lanes_ok { lanes::lane_groups::<T>(shape.batch, width, threads) } else { (width, 0, 0) };
    let in_lanes = wide + narrow;
    let (lane_out, rest_out) = out.split_at_mut(in_lanes * out_len);
    let (wide_out, narrow_out) = lane_out.split_at_mut(wide * out_len);
    if wide > 0 {
        sig_lanes(paths, shape, &plan, transform, 0, width, n_jobs, wide_out)?;
    }
    if narrow > 0 {
        sig_lanes(paths, shape, &plan, transform, wide, narrow, n_jobs, narrow_out)?;
    }
    if lanes_ok && lane_pieces_pay::<T>(tshape, lane_piece_width::<T>(tshape, steps), steps) {
        return sig_chunked(paths, shape, &plan, transform, in_lanes, 1, n_jobs, rest_out);
    }
    // Plain signatures from the identity build their top level in place.
    let top_in_place = !plan.inverse && plan.initial.is_none() && tshape.degree >= 1;
    let lower = tshape.level(tshape.degree).start;
    try_for_each_chunk(n_jobs, rest_out, out_len, work, || SigWorkspace::new(tshape), |ws, i, out_sig| {
        let b = in_lanes + i;
        let path = &paths[b * pl..(b + 1) * pl];
        if top_in_place {
            // (level N starts at 1 or later: degree >= 1)
            plan.load_start(b, &mut ws.s[..lower]);
            let (out_lower, out_top) = out_sig.split_at_mut(lower - plan.skip);
            ws.run_into(path, shape, &transform, tshape, 0..steps, Some(out_top));
            out_lower.copy_from_slice(&ws.s[plan.skip..lower]);
        } else {
            plan.load_start(b, &mut ws.s);
            ws.run(path, shape, &transform, tshape, 0..steps);
            plan.store(&ws.s, out_sig);
        }
        Ok(())
    })
}

/// Whether `steps` of one path run as `width` pieces side by side in the
/// lanes ([`LaneWorkspace::run_pieces`]): when each lane gets at least
/// [`MIN_STEPS_PER_LANE_PIECE`] steps, for joining the lanes' pieces costs
/// `width - 1` tensor products, each about `degree` steps' work. Where the
/// lanes' states are large and the per-path kernel is a fast one (float32,
/// d >= 8), the joins and the states' traffic cost more, and each lane
/// needs [`MIN_STEPS_PER_LARGE_LANE_PIECE`]: at 35-75 steps per lane the
/// per-path kernel measured 1.1-2x faster (d = 8, degree 6; d = 10,
/// degree 6; d = 12, degree 5; d = 20, degree 4: 5-35 MB of states), at
/// 140-300 steps per lane 0.8-0.9x.
fn lane_pieces_pay<T>(tshape: &TensorShape, width: usize, steps: usize) -> bool {
    let state_bytes = tshape.len().saturating_mul(width).saturating_mul(std::mem::size_of::<T>());
    let large = std::mem::size_of::<T>() == 4 && tshape.dim >= 8 && state_bytes > LARGE_LANE_STATES_BYTES;
    steps / width.max(1) >= if large { MIN_STEPS_PER_LARGE_LANE_PIECE } else { MIN_STEPS_PER_LANE_PIECE }
}

const MIN_STEPS_PER_LANE_PIECE: usize = 32;
const MIN_STEPS_PER_LARGE_LANE_PIECE: usize = 128;
/// Lanes' states beyond this are large for [`lane_pieces_pay`] (float32
/// d = 8 at degree 5, 1.2 MB, and d = 10 at degree 5, 3.5 MB, were faster
/// in the lanes at 37 steps per lane).
const LARGE_LANE_STATES_BYTES: usize = 4 << 20;

/// Lanes a path of `steps` steps is cut into when its pieces run in the
/// lanes: as wide as a batch's groups ([`lanes::forward_width`]) when each
/// lane still gets [`MIN_STEPS_PER_WIDE_PIECE`] steps, else one vector.
/// Two vectors measured 1.10-1.23x faster on one path of 100,000-200,000
/// steps (d = 2-4), but 0.95x at 600 steps in 16 float32 lanes, whose 15
/// joins cost more than the wider group saves.
fn lane_piece_width<T: Float>(tshape: &TensorShape, steps: usize) -> usize {
    let wide = lanes::forward_width::<T>(tshape.dim, tshape.len());
    if steps >= wide * MIN_STEPS_PER_WIDE_PIECE { wide } else { lanes::<T>() }
}

const MIN_STEPS_PER_WIDE_PIECE: usize = 128;

/// Whether signatures in this tensor shape go through [`sig_lanes`]: all
/// but a few dimensions that have their own unrolled per-path instance
/// ([`crate::simd::specialised!`]), where that kernel measured faster:
/// d = 16; in float64 d = 8, 12 and 20 (lanes 0.73-0.9x at d = 20,
/// 0.86-1.05x at d = 12, 0.88x at d = 8, degree 3); and float32 d = 20 at
/// degree 2 (lanes 0.77-0.96x). Float32 d = 8, 10 and 12 measured 1.2-1.6x,
/// 1.6-1.7x and 1.1-2.5x faster in the lanes, d = 20 at degree 3 1.1-1.3x;
/// float64 d = 10 1.1-1.4x. Elsewhere the lanes measured 1.0x
/// (d = 4-7, f64, degree 4 and more) to 3x (d = 2, 3, f32, non-specialised
/// d such as 9, 11, 13) faster (benches/sweep.py).
fn use_lanes<T: Float>(tshape: &TensorShape) -> bool {
    let d = tshape.dim;
    let float32 = std::mem::size_of::<T>() == 4;
    let per_path = crate::simd::has_fma() && (d == 16 || (!float32 && matches!(d, 8 | 12 | 20)) || (d == 20 && tshape.degree <= 2));
    d >= 2 && tshape.degree >= 1 && !per_path
}

/// Gradients go through the lanes up to this dimension (d = 8 included:
/// 1.3-2x faster there than the blocked per-path gradient
/// `mul_exp_backward_block_kernel`); above it the per-path one measured
/// faster (d = 20: 1.5x; d = 16: 1.0x), the lanes' one taking one step at
/// a time.
const LANES_MAX_BACKWARD_DIM: usize = 12;

/// Per-worker buffers of [`sig_lanes`].
struct LaneWorkspace<T: 'static> {
    /// Paths per group (see [`lanes::forward_width`]).
    width: usize,
    s: Scratch<T>,
    dxs: Scratch<T>,
    scratch: Scratch<T>,
    /// One lane's tensor, de-interleaved (every lane's, one after the
    /// other, in a workspace for [`LaneWorkspace::run_pieces`]), and one
    /// lane's increment.
    one: Scratch<T>,
    dx: Scratch<T>,
    /// For states too large for the caches: their steps by prefix.
    split: Option<PrefixSplit<T>>,
}

impl<T: Float> LaneWorkspace<T> {
    fn new(shape: &TensorShape, width: usize) -> Result<Self> {
        Self::with_rows(shape, width, 1)
    }

    /// A workspace for [`LaneWorkspace::run_pieces`].
    fn for_pieces(shape: &TensorShape, width: usize) -> Result<Self> {
        Self::with_rows(shape, width, width)
    }

    fn with_rows(shape: &TensorShape, width: usize, rows: usize) -> Result<Self> {
        let z = |n| scratch_any("a signature's workspace", n);
        let split = PrefixSplit::for_lanes(shape, width)?;
        let steps = if split.is_some() { PREFIX_SPLIT_STEPS } else { STEP_BLOCK };
        Ok(LaneWorkspace {
            width,
            s: z(shape.len() * width)?,
            dxs: z(steps * shape.dim * width)?,
            scratch: z(if split.is_some() { 0 } else { lanes::block_ws_len(shape, width) })?,
            one: z(shape.len() * rows)?,
            dx: z(shape.dim)?,
            split,
        })
    }

    /// Every lane's state to the identity, before `steps` steps. Where the
    /// steps run by prefix, levels above the split are left unset: the
    /// first run starts its parts from zeros and writes them all.
    fn start_identity(&mut self, steps: usize) {
        let l_n = self.width;
        match &mut self.split {
            Some(split) if steps > 0 => {
                self.s[..split.low_len() * l_n].fill(T::zero());
                split.start_fresh();
            }
            _ => self.s.fill(T::zero()),
        }
        self.s[..l_n].fill(T::one());
    }

    /// Steps the group takes per call of [`advance`](Self::advance).
    fn steps_per_call(&self) -> usize {
        if self.split.is_some() { PREFIX_SPLIT_STEPS } else { STEP_BLOCK }
    }

    /// Every lane's state times the signature of the `count` increments
    /// in `self.dxs` (at most [`steps_per_call`](Self::steps_per_call)).
    fn advance(&mut self, tshape: &TensorShape, count: usize) {
        let (d, l_n) = (tshape.dim, self.width);
        match &mut self.split {
            Some(split) => lanes::mul_exp_steps_by_prefix_lanes(d, l_n, tshape, &mut self.s, &self.dxs, count, split, None),
            None => {
                for i in (0..count).step_by(STEP_BLOCK) {
                    let block = (count - i).min(STEP_BLOCK);
                    mul_exp_block_lanes(d, l_n, tshape, &mut self.s, &self.dxs[i * d * l_n..(i + block) * d * l_n], block, &mut self.scratch);
                }
            }
        }
    }
}

impl<T: Float> LaneWorkspace<T> {
    /// [`advance`](Self::advance) for a group's last steps, where they run
    /// by prefix: the states go straight into the lanes' output `rows`
    /// (row `l` is lane `l`'s tensor from entry `skip` on), leaving `self.s`
    /// stale above the split. False, with nothing done, where the steps do
    /// not run by prefix.
    fn finish_into_rows(&mut self, tshape: &TensorShape, count: usize, rows: &mut [T], skip: usize) -> bool {
        let (d, l_n) = (tshape.dim, self.width);
        let Some(split) = &mut self.split else {
            return false;
        };
        let low = split.low_len();
        lanes::mul_exp_steps_by_prefix_lanes(d, l_n, tshape, &mut self.s, &self.dxs, count, split, Some((&mut *rows, skip)));
        let row_len = tshape.len() - skip;
        for (l, row) in rows.chunks_exact_mut(row_len).enumerate() {
            lane_of(&self.s[skip * l_n..low * l_n], l, l_n, &mut row[..low - skip]);
        }
        true
    }

    /// Writes into `out` (a full tensor) the signature of `steps` of one
    /// path: the steps are cut into one piece per lane, run side by side,
    /// and the pieces joined by Chen's identity. Lanes past the last step
    /// take zero increments.
    fn run_pieces(&mut self, path: &[T], shape: PathShape, transform: &PathTransform, tshape: &TensorShape, steps: Range<usize>, out: &mut [T]) {
        let (l_n, d) = (self.width, tshape.dim);
        let per_lane = steps.len().div_ceil(l_n);
        let per_call = self.steps_per_call();
        self.start_identity(per_lane);
        let run = Checkpoint::steps_per_check(tshape.len() * l_n).next_multiple_of(per_call);
        let mut j = 0;
        while j < per_lane {
            let block = (per_lane - j).min(per_call);
            let LaneWorkspace { dxs, dx, .. } = self;
            for l in 0..l_n {
                // The last lane's piece may end before the block: zeros after.
                let first = steps.start + l * per_lane + j;
                let real = steps.end.saturating_sub(first).min(block);
                if real > 0 {
                    gather_lane(path, shape, transform, d, first, real, l, l_n, dxs, dx);
                }
                for o in dxs[real * d * l_n..block * d * l_n].chunks_exact_mut(l_n) {
                    o[l] = T::zero();
                }
            }
            self.advance(tshape, block);
            j += block;
            if j % run == 0 && j < per_lane && crate::interrupt::requested() {
                return;
            }
        }
        let LaneWorkspace { s, one, .. } = self;
        // All lanes out in one pass of transposes: lane by lane, each
        // copy read the whole interleaved state for one number in `l_n`
        // (a fifth of the call on one path of 283 points at d = 20,
        // degree 4, float32, whose 8 lanes hold 5.4 MB).
        lanes::lanes_to_rows(s, l_n, 0, one);
        // The first piece is the product so far (not 1 (x) it: a product).
        let mut pieces = one.chunks_exact(tshape.len());
        out.copy_from_slice(pieces.next().expect("a lane group has at least one lane"));
        for piece in pieces {
            mul_in_place(tshape, out, piece);
        }
    }
}

/// Steps `j..j + block` of a group of [`lanes`] paths (`paths` holds the
/// group), interleaved for the lanes kernels: `dxs[(t * d + b) * L + l]` is
/// channel `b` of step `j + t` of path `l`. `dx` is one increment's scratch.
#[allow(clippy::too_many_arguments)]
fn gather_lane_increments<T: Float>(paths: &[T], shape: PathShape, transform: &PathTransform, d: usize, j: usize, block: usize, dxs: &mut [T], dx: &mut [T]) {
    let (pl, l_n) = (shape.path_len(), paths.len() / shape.path_len().max(1));
    if !(transform.lead_lag || transform.time_aug) {
        let (start, n) = (j * shape.dim, block * shape.dim);
        let done = crate::simd::lane_differences(paths, pl, l_n, start, shape.dim, n, dxs);
        if done == n {
            return;
        }
        if done == 0 && l_n == 4 {
            gather_differences(paths, pl, shape.dim, j, block, dxs);
            return;
        }
        // The entries the vector kernel left, lane by lane.
        for (l, path) in paths.chunks_exact(pl).enumerate() {
            let seg = &path[start + done..start + n + shape.dim];
            for (k, o) in dxs[done * l_n..n * l_n].chunks_exact_mut(l_n).enumerate() {
                o[l] = seg[k + shape.dim] - seg[k];
            }
        }
        return;
    }
    for (l, path) in paths.chunks_exact(pl).enumerate() {
        gather_lane(path, shape, transform, d, j, block, l, l_n, dxs, dx);
    }
}

crate::simd::fma_dispatched! {
    /// [`gather_lane_increments`] for untransformed paths in groups of 4:
    /// the differences of consecutive points.
    fn gather_differences<T>(paths: &[T], pl: usize, dim: usize, j: usize, count: usize, dxs: &mut [T]) = gather_differences_body;
}

/// Body of [`gather_differences`]: each lane's differences, eight entries
/// at a time, transposed into eight rows of lanes. One lane at a time, each
/// number was a store of its own: 41 % of the forward pass at d = 3,
/// degree 2 (26 % then). Where the CPU has AVX2, the transposes in
/// registers of `simd::avx` take every group width instead.
#[inline(always)]
fn gather_differences_body<T: Float, const FMA: bool>(paths: &[T], pl: usize, dim: usize, j: usize, count: usize, dxs: &mut [T]) {
    const L: usize = 4;
    const K: usize = 8;
    let n = count * dim;
    // Plain loops, not `array::from_fn`: its closures stayed calls here.
    let mut segs: [&[T]; L] = [&[]; L];
    for (l, seg) in segs.iter_mut().enumerate() {
        *seg = &paths[l * pl + j * dim..l * pl + j * dim + n + dim];
    }
    let dxs = &mut dxs[..n * L];
    let whole = n / K * K;
    for (k0, out) in (0..whole).step_by(K).zip(dxs.chunks_exact_mut(K * L)) {
        let mut v = [[T::zero(); K]; L];
        for (v_l, seg) in v.iter_mut().zip(&segs) {
            let s = &seg[k0..k0 + dim + K];
            for (i, o) in v_l.iter_mut().enumerate() {
                *o = s[dim + i] - s[i];
            }
        }
        for (i, row) in out.chunks_exact_mut(L).enumerate() {
            for (o, v_l) in row.iter_mut().zip(&v) {
                *o = v_l[i];
            }
        }
    }
    for (k, row) in (whole..n).zip(dxs[whole * L..].chunks_exact_mut(L)) {
        for (o, seg) in row.iter_mut().zip(&segs) {
            *o = seg[k + dim] - seg[k];
        }
    }
}

/// Steps `j..j + count` of one path into lane `l` of `dxs` (laid out as in
/// [`gather_lane_increments`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gather_lane<T: Float>(path: &[T], shape: PathShape, transform: &PathTransform, d: usize, j: usize, count: usize, l: usize, l_n: usize, dxs: &mut [T], dx: &mut [T]) {
    let dim = shape.dim;
    if !(transform.lead_lag || transform.time_aug) {
        // The increments are differences of consecutive points, contiguous
        // in the path.
        let seg = &path[j * dim..(j + count + 1) * dim];
        for ((o, &x1), &x0) in dxs[..count * d * l_n].chunks_exact_mut(l_n).zip(&seg[dim..]).zip(&seg[..count * dim]) {
            o[l] = x1 - x0;
        }
    } else {
        for t in 0..count {
            transform.increment(path, dim, shape.length, j + t, dx);
            for (o, &x) in dxs[t * d * l_n..(t + 1) * d * l_n].chunks_exact_mut(l_n).zip(dx.iter()) {
                o[l] = x;
            }
        }
    }
}

/// Signatures of groups of `l_n` paths, one per SIMD lane (see
/// [`crate::lanes`]), from path `first_path` on; `out` holds whole groups.
#[allow(clippy::too_many_arguments)]
fn sig_lanes<T: Float>(paths: &[T], shape: PathShape, plan: &SigPlan<'_, T>, transform: PathTransform, first_path: usize, l_n: usize, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let (tshape, out_len) = (&plan.tshape, plan.out_len);
    let (len, d) = (tshape.len(), tshape.dim);
    let steps = transform.n_increments(shape.length);
    let pl = shape.path_len();
    let work = steps.saturating_mul(len).saturating_mul(l_n);
    try_for_each_chunk(n_jobs, out, l_n * out_len, work, || LaneWorkspace::new(tshape, l_n), |ws, g, out_group| {
        let first = first_path + g * l_n;
        let per_call = ws.steps_per_call();
        let run = Checkpoint::steps_per_check(len * l_n).next_multiple_of(per_call);
        if plan.initial.is_none() {
            ws.start_identity(steps);
        } else {
            let LaneWorkspace { s, one, .. } = &mut *ws;
            for l in 0..l_n {
                plan.load_start(first + l, one);
                for (v, &x) in s.iter_mut().skip(l).step_by(l_n).zip(one.iter()) {
                    *v = x;
                }
            }
        }
        let (mut j, mut written) = (0, false);
        while j < steps {
            let block = (steps - j).min(per_call);
            gather_lane_increments(&paths[first * pl..(first + l_n) * pl], shape, &transform, d, j, block, &mut ws.dxs, &mut ws.dx);
            if j + block == steps && !plan.inverse {
                written = ws.finish_into_rows(tshape, block, out_group, plan.skip);
            }
            if !written {
                ws.advance(tshape, block);
            }
            j += block;
            if j % run == 0 && j < steps && crate::interrupt::requested() {
                return Ok(());
            }
        }
        let LaneWorkspace { s, one, .. } = ws;
        if written {
            return Ok(());
        }
        if plan.inverse {
            for (l, out_sig) in out_group.chunks_exact_mut(out_len).enumerate() {
                lane_of(s, l, l_n, one);
                plan.store(one, out_sig);
            }
        } else {
            lanes::lanes_to_rows(s, l_n, plan.skip, out_group);
        }
        Ok(())
    })
}

/// One path's gradient and, when asked, its `initial`'s.
type PathGradients<'a, T> = (&'a mut [T], Option<&'a mut [T]>);

/// Per-worker buffers of [`sig_backprop_lanes`]: interleaved states,
/// gradients, a block's increments and their gradients, and one lane's
/// worth of a tensor and an increment.
struct BackpropLaneWorkspace<T: 'static> {
    s: Scratch<T>,
    g: Scratch<T>,
    dxs: Scratch<T>,
    gdxs: Scratch<T>,
    point_grads: Scratch<T>,
    /// A block's point gradients out of the lanes, lane by lane.
    point_rows: Scratch<T>,
    block_ws: Scratch<T>,
    one: Scratch<T>,
    one_dx: Scratch<T>,
}

impl<T: Float> BackpropLaneWorkspace<T> {
    fn new(shape: &TensorShape, l_n: usize) -> Result<Self> {
        let z = |n| scratch_any("a signature gradient's workspace", n);
        Ok(BackpropLaneWorkspace {
            s: z(shape.len() * l_n)?,
            g: z(shape.len() * l_n)?,
            dxs: z(STEP_BLOCK * shape.dim * l_n)?,
            gdxs: z(STEP_BLOCK * shape.dim * l_n)?,
            point_grads: z((STEP_BLOCK + 1) * shape.dim * l_n)?,
            point_rows: z(STEP_BLOCK * shape.dim * l_n)?,
            block_ws: z(lanes::backprop_block_ws_len(shape, l_n))?,
            one: z(shape.len())?,
            one_dx: z(shape.dim)?,
        })
    }
}

/// [`sig_backprop_with`] for whole groups of `l_n` paths (not streams),
/// from path `first_path` on, one path per SIMD lane: the per-path backward
/// walk of [`sig_backprop_steps`], each operation on all lanes at once.
#[allow(clippy::too_many_arguments)]
fn sig_backprop_lanes<T: Float>(
    paths: &[T],
    shape: PathShape,
    plan: &SigPlan<'_, T>,
    transform: PathTransform,
    sigs: &[T],
    sig_grads: &[T],
    first_path: usize,
    l_n: usize,
    n_jobs: i64,
    items: &mut [PathGradients<'_, T>],
) -> Result<()> {
    let (tshape, out_len) = (&plan.tshape, plan.out_len);
    let (len, d, dim) = (tshape.len(), tshape.dim, shape.dim);
    let steps = transform.n_increments(shape.length);
    let pl = shape.path_len();
    let plain = !(transform.lead_lag || transform.time_aug);
    let mut groups: Vec<&mut [PathGradients<'_, T>]> = items.chunks_exact_mut(l_n).collect();
    let work = steps.saturating_mul(len).saturating_mul(5 * l_n);
    try_for_each_item(n_jobs, &mut groups, work, || BackpropLaneWorkspace::new(tshape, l_n), |ws, group_index, group| {
        let first = first_path + group_index * l_n;
        let BackpropLaneWorkspace { s, g, dxs, gdxs, point_grads, point_rows, block_ws, one, one_dx } = ws;
        let rows = first * out_len..(first + l_n) * out_len;
        for (grad, _) in group.iter_mut() {
            if plain {
                // Every point's gradient is written below but the last's,
                // which the last block adds to.
                grad[steps * dim..].fill(T::zero());
            } else {
                grad.fill(T::zero());
            }
        }
        if plan.inverse {
            for l in 0..l_n {
                let b = first + l;
                plan.load(&sigs[b * out_len..(b + 1) * out_len], one, T::one());
                for (v, &x) in s.iter_mut().skip(l).step_by(l_n).zip(one.iter()) {
                    *v = x;
                }
                plan.load(&sig_grads[b * out_len..(b + 1) * out_len], one, T::zero());
                for (v, &x) in g.iter_mut().skip(l).step_by(l_n).zip(one.iter()) {
                    *v = x;
                }
            }
        } else {
            // As `plan.load`: level 0 is 1 in a state, 0 in a gradient.
            s[..l_n].fill(T::one());
            lanes::rows_to_lanes(&sigs[rows.clone()], out_len, 1 - plan.skip, l_n, s, 1);
            g[..l_n].fill(T::zero());
            lanes::rows_to_lanes(&sig_grads[rows], out_len, 1 - plan.skip, l_n, g, 1);
        }
        let mut checkpoint = Checkpoint::new(4 * len * l_n * STEP_BLOCK);
        let mut end = steps;
        while end > 0 {
            if checkpoint.tick() {
                return Ok(());
            }
            let block = end.min(STEP_BLOCK);
            let j = end - block;
            let group_paths = &paths[first * pl..(first + l_n) * pl];
            gather_lane_increments(group_paths, shape, &transform, d, j, block, dxs, one_dx);
            // The next block's points and their gradients, while this one
            // computes: walked from the end, a path's points missed the
            // cache on every block (the gather's first load took 13 % of
            // float32 (128, 3000, 4, 4)), and so did the gradients' stores.
            if plain && j > 0 {
                let previous = j.saturating_sub(STEP_BLOCK) * dim..j * dim;
                for (path, (grad, _)) in group_paths.chunks_exact(pl).zip(group.iter()) {
                    prefetch(&path[previous.clone()]);
                    prefetch(&grad[previous.clone()]);
                }
            }
            backprop_block_lanes(d, l_n, tshape, s, dxs, block, g, gdxs, block_ws);
            if plain {
                // Increment t is point j + t + 1 minus point j + t: the
                // gradients of points j .. j + block for every lane, as
                // whole vectors. The block's first and last points are
                // shared with the blocks before and after it (the one after
                // came first), so the last is added to, the first set.
                let w = d * l_n;
                for (p, &x) in point_grads[..w].iter_mut().zip(&gdxs[..w]) {
                    *p = -x;
                }
                for ((p, &before), &after) in point_grads[w..block * w].iter_mut().zip(&gdxs[..(block - 1) * w]).zip(&gdxs[w..block * w]) {
                    *p = before - after;
                }
                point_grads[block * w..(block + 1) * w].copy_from_slice(&gdxs[(block - 1) * w..block * w]);
                // Out of the lanes in one pass of transposes (lane by lane,
                // one number at a time: 1.03x at (256, 200, 2, 4)).
                lanes::lanes_to_rows(point_grads, l_n, 0, &mut point_rows[..block * w]);
            }
            for (l, (grad, _)) in group.iter_mut().enumerate() {
                if plain {
                    // This lane's run of `point_grads`: points j .. j +
                    // block - 1 are set, point j + block is added to.
                    let points = &mut grad[j * dim..(j + block + 1) * dim];
                    let (inner, last_point) = points.split_at_mut(block * dim);
                    inner.copy_from_slice(&point_rows[l * block * dim..(l + 1) * block * dim]);
                    for (p, lanes) in last_point.iter_mut().zip(point_grads[l + block * dim * l_n..].chunks(l_n)) {
                        *p += lanes[0];
                    }
                } else {
                    for t in 0..block {
                        lane_of(&gdxs[t * d * l_n..(t + 1) * d * l_n], l, l_n, one_dx);
                        transform.increment_backward(grad, dim, j + t, one_dx);
                    }
                }
            }
            end = j;
        }
        for (l, (_, init_grad)) in group.iter_mut().enumerate() {
            if let Some(ig) = init_grad {
                // g is now dF/d(start); start = initial, or its antipode.
                lane_of(g, l, l_n, one);
                plan.store_start_grad(one, ig);
            }
        }
        Ok(())
    })
}

/// Asks for `data` to be brought into the cache ahead of its use: a hint,
/// with no effect on results.
#[inline(always)]
fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE: usize = 64;
        let bytes = std::mem::size_of_val(data);
        let start = data.as_ptr() as *const i8;
        for offset in (0..bytes).step_by(LINE).chain(bytes.checked_sub(1)) {
            // SAFETY: the address lies inside `data`; a prefetch reads nothing.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(start.add(offset))
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// One-dimensional paths (untransformed: time is a second dimension): their increments commute, so a path's signature
/// is that of its total increment, `exp(x_end - x_start)`, level k being
/// `(x_end - x_start)^k / k!`. Exact to rounding however far the path
/// wanders: multiplying its steps instead loses every digit of the high
/// levels when it goes far and comes back (a path 0 -> 1000 -> 1 at degree
/// 8 was off by a factor of 1e10).
fn sig_one_dim<T: Float>(paths: &[T], shape: PathShape, plan: &SigPlan<'_, T>, stream: bool, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let (tshape, out_len, rows, l) = (&plan.tshape, plan.out_len, plan.rows, shape.length);
    if !stream && plan.initial.is_none() {
        return sig_one_dim_plain(paths, l, plan, n_jobs, out);
    }
    let init = || {
        let z = |n| zeros("a signature's workspace", n);
        Ok((z(tshape.len())?, z(tshape.len())?, z(tshape.mul_exp_scratch_len())?))
    };
    let work = rows.saturating_mul(tshape.len()).saturating_mul(2);
    try_for_each_chunk(n_jobs, out, rows * out_len, work, init, |(start, s, scratch), b, path_rows| {
        let path = &paths[b * l..(b + 1) * l];
        if plan.initial.is_some() {
            plan.load_start(b, start);
        }
        // From the identity: level k is x^k / k! (the inverse, exp(-x), has
        // (-x)^k / k!), written straight to the row. Each level multiplies
        // by x / k, so the chain through the levels is one product long.
        let closed_form = |row: &mut [T], x: T| {
            let x = if plan.inverse { -x } else { x };
            if plan.skip == 0 {
                row[0] = T::one();
            }
            let mut v = T::one();
            for (k, o) in row[1 - plan.skip..].iter_mut().enumerate() {
                v *= x * crate::recip::<T>(k + 1);
                *o = v;
            }
        };
        for (r, row) in path_rows.chunks_exact_mut(out_len).enumerate() {
            let x = if l >= 2 { path[if stream { r + 1 } else { l - 1 }] - path[0] } else { T::zero() };
            if plan.initial.is_none() {
                closed_form(row, x);
                continue;
            } else {
                s.copy_from_slice(start);
                mul_exp_in_place(1, tshape, s, &[x], scratch);
            }
            plan.store(s, row);
        }
        Ok(())
    })
}

/// Paths per task of [`sig_one_dim_plain`]: enough independent product
/// chains to hide their latency, and one call's overhead spread over many.
const ONE_DIM_PATHS_PER_TASK: usize = 64;

/// [`sig_one_dim`] without a stream or a start: one row per path, level k
/// being `x^k / k!` for the path's total increment x. The paths of a task go
/// level by level, so their product chains are independent: one path at a
/// time waits on a chain as long as the degree, and took longer than reading
/// the path's two points (8,192 paths of 64 points: 2.4x slower).
fn sig_one_dim_plain<T: Float>(paths: &[T], l: usize, plan: &SigPlan<'_, T>, n_jobs: i64, out: &mut [T]) -> Result<()> {
    const P: usize = ONE_DIM_PATHS_PER_TASK;
    let out_len = plan.out_len;
    let depth = out_len + plan.skip - 1;
    let rows = |first: usize, block: &mut [T]| {
        let n = block.len() / out_len;
        let mut x = [T::zero(); P];
        for (i, x) in x[..n].iter_mut().enumerate() {
            let path = &paths[(first + i) * l..(first + i + 1) * l];
            let total = if l >= 2 { path[l - 1] - path[0] } else { T::zero() };
            *x = if plan.inverse { -total } else { total };
        }
        if plan.skip == 0 {
            for row in block.chunks_exact_mut(out_len) {
                row[0] = T::one();
            }
        }
        let mut v = [T::one(); P];
        for k in 1..=depth {
            let r = crate::recip::<T>(k);
            for ((v, &x), row) in v.iter_mut().zip(&x).zip(block.chunks_exact_mut(out_len)) {
                *v *= x * r;
                row[k - plan.skip] = *v;
            }
        }
    };
    let whole = out.len() / out_len.max(1) / P * P;
    let (head, tail) = out.split_at_mut(whole * out_len);
    try_for_each_chunk(n_jobs, head, P * out_len, P * depth * 2, || Ok(()), |_, c, block| {
        rows(c * P, block);
        Ok(())
    })?;
    if !tail.is_empty() {
        rows(whole, tail);
    }
    Ok(())
}

/// Gradient through [`sig_one_dim`]: each output row depends on the start
/// and on the path's first point and the row's last point only.
#[allow(clippy::too_many_arguments)]
fn sig_backprop_one_dim<T: Float>(
    paths: &[T],
    shape: PathShape,
    plan: &SigPlan<'_, T>,
    stream: bool,
    sig_grads: &[T],
    n_jobs: i64,
    combined: &mut [(&mut [T], Option<&mut [T]>)],
) -> Result<()> {
    let (tshape, out_len, rows, l) = (&plan.tshape, plan.out_len, plan.rows, shape.length);
    let per_path = rows * out_len;
    let init = || {
        let z = |n| zeros("a signature gradient's workspace", n);
        Ok((z(tshape.len())?, z(tshape.len())?, z(tshape.len())?, z(tshape.len())?, z(tshape.mul_exp_backward_ws_len())?))
    };
    let work = rows.saturating_mul(tshape.len()).saturating_mul(6);
    try_for_each_item(n_jobs, combined, work, init, |(start, g_row, g_start, g_out, ws), b, (grad, init_grad)| {
        let path = &paths[b * l..(b + 1) * l];
        grad.fill(T::zero());
        g_start.fill(T::zero());
        plan.load_start(b, start);
        let g_rows = &sig_grads[b * per_path..(b + 1) * per_path];
        for (r, g) in g_rows.chunks_exact(out_len).enumerate() {
            plan.load(g, g_row, T::zero());
            if l < 2 {
                g_out.copy_from_slice(g_row);
            } else {
                let end = if stream { r + 1 } else { l - 1 };
                let mut g_dx = [T::zero()];
                mul_exp_backward(1, tshape, start, &[path[end] - path[0]], g_row, g_out, &mut g_dx, ws);
                grad[end] += g_dx[0];
                grad[0] -= g_dx[0];
            }
            for (a, &v) in g_start.iter_mut().zip(g_out.iter()).skip(1) {
                *a += v;
            }
        }
        if let Some(ig) = init_grad {
            plan.store_start_grad(g_start, ig);
        }
        Ok(())
    })
}

/// Signatures of few long paths: each path's steps are cut into `chunks`
/// pieces computed in parallel and joined by Chen's identity.
#[allow(clippy::too_many_arguments)]
fn sig_chunked<T: Float>(
    paths: &[T],
    shape: PathShape,
    plan: &SigPlan<'_, T>,
    transform: PathTransform,
    first: usize,
    chunks: usize,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    let tshape = &plan.tshape;
    let steps = transform.n_increments(shape.length);
    let pl = shape.path_len();
    let len = tshape.len();
    let count = out.len() / plan.out_len.max(1);
    let lanes_ok = use_lanes::<T>(tshape);
    let piece_width = lane_piece_width::<T>(tshape, steps / chunks);
    let init = || Ok((SigWorkspace::new(tshape)?, if lanes_ok { Some(LaneWorkspace::for_pieces(tshape, piece_width)?) } else { None }));
    // Pooled: every piece is written whole before it is read.
    let mut pieces = scratch_any("the pieces of long paths' signatures", count * chunks * len)?;
    try_for_each_chunk(n_jobs, &mut pieces, len, usize::MAX, init, |(ws, lane_ws), idx, piece| {
        let (b, c) = (first + idx / chunks, idx % chunks);
        let range = c * steps / chunks..(c + 1) * steps / chunks;
        let path = &paths[b * pl..(b + 1) * pl];
        match lane_ws {
            Some(lane_ws) if lane_pieces_pay::<T>(tshape, piece_width, range.len()) => {
                lane_ws.run_pieces(path, shape, &transform, tshape, range, piece);
            }
            _ => {
                ws.s.fill(T::zero());
                ws.s[0] = T::one();
                ws.run(path, shape, &transform, tshape, range);
                piece.copy_from_slice(&ws.s);
            }
        }
        Ok(())
    })?;
    let mut acc = scratch_any("a signature", len)?;
    for (i, (per_path, out_sig)) in pieces.chunks_exact(chunks * len).zip(out.chunks_exact_mut(plan.out_len)).enumerate() {
        plan.load_start(first + i, &mut acc);
        for piece in per_path.chunks_exact(len) {
            mul_in_place(tshape, &mut acc, piece);
        }
        plan.store(&acc, out_sig);
    }
    Ok(())
}

/// Per-worker buffers of the stream pass.
struct StreamWorkspace<T: 'static> {
    s: Scratch<T>,
    dx: Scratch<T>,
    scratch: Scratch<T>,
}

impl<T: Float> StreamWorkspace<T> {
    fn new(shape: &TensorShape) -> Result<Self> {
        Ok(StreamWorkspace {
            s: scratch_any("a signature stream's workspace", shape.len())?,
            dx: scratch_any("a signature stream's workspace", shape.dim)?,
            scratch: scratch_any("a signature stream's workspace", shape.mul_exp_scratch_len())?,
        })
    }
}

crate::simd::specialised! {
    fn sig_stream_steps<T>(d: usize, path: &[T], dim: usize, length: usize, transform: &PathTransform, plan: &SigPlan<'_, T>, ws: &mut StreamWorkspace<T>, rows: &mut [T]) = sig_stream_steps_kernel;
}

/// Every prefix's signature: one Horner update per increment (no deferred
/// top level, since every state is output), so a stream costs about one
/// signature plus the writes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sig_stream_steps_kernel<T: Float, const D: usize, const FMA: bool>(
    d: usize,
    path: &[T],
    dim: usize,
    length: usize,
    transform: &PathTransform,
    plan: &SigPlan<'_, T>,
    ws: &mut StreamWorkspace<T>,
    rows: &mut [T],
) {
    let d = if D == 0 { d } else { D };
    let StreamWorkspace { s, dx, scratch } = ws;
    let mut checkpoint = Checkpoint::new(plan.per_row * plan.tshape.len());
    for (r, row) in rows.chunks_exact_mut(plan.out_len).enumerate() {
        if checkpoint.tick() {
            return;
        }
        for j in r * plan.per_row..(r + 1) * plan.per_row {
            transform.increment(path, dim, length, j, dx);
            horner_levels::<T, D, FMA>(d, &plan.tshape, s, dx, scratch, plan.tshape.degree, None);
        }
        plan.store(s, row);
    }
}
/// Per-worker buffers of the backward pass: a handful of signature-sized
/// vectors, independent of the path length.
struct BackpropWorkspace<T: 'static> {
    s: Scratch<T>,
    g: Scratch<T>,
    g_next: Scratch<T>,
    dxs: Scratch<T>,
    gdxs: Scratch<T>,
    ws: Scratch<T>,
}

impl<T: Float> BackpropWorkspace<T> {
    fn new(shape: &TensorShape) -> Result<Self> {
        let z = |n| scratch_any("a signature gradient's workspace", n);
        Ok(BackpropWorkspace {
            s: z(shape.len())?,
            g: z(shape.len())?,
            g_next: z(shape.len())?,
            dxs: z(shape.dim * STEP_BLOCK)?,
            gdxs: z(shape.dim * STEP_BLOCK)?,
            ws: z(shape.mul_exp_backward_block_ws_len())?,
        })
    }
}

crate::simd::specialised! {
    fn sig_backprop_steps<T>(d: usize, path: &[T], dim: usize, length: usize, transform: &PathTransform, tshape: &TensorShape, steps: Range<usize>, origin: usize, ws: &mut BackpropWorkspace<T>, grad: &mut [T]) = sig_backprop_steps_kernel;
}

/// Walks `steps` backwards from the state after them (`ws.s`) with its
/// gradient `ws.g`, leaving the state before them and its gradient there,
/// and adding the increments' gradients to `grad`, whose first point is
/// the one step `origin` starts from (0 for a whole path).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sig_backprop_steps_kernel<T: Float, const D: usize, const FMA: bool>(
    d: usize,
    path: &[T],
    dim: usize,
    length: usize,
    transform: &PathTransform,
    tshape: &TensorShape,
    steps: Range<usize>,
    origin: usize,
    ws: &mut BackpropWorkspace<T>,
    grad: &mut [T],
) {
    let d = if D == 0 { d } else { D };
    let BackpropWorkspace { s, g, dxs, gdxs, ws, .. } = ws;
    let mut checkpoint = Checkpoint::new(4 * STEP_BLOCK * tshape.len());
    // Blocks of STEP_BLOCK steps from the end, so that the top level of
    // the gradient is read once per block (see mul_exp_backward_block_kernel).
    let mut end = steps.end;
    while end > steps.start {
        if checkpoint.tick() {
            return;
        }
        let start = end.saturating_sub(STEP_BLOCK).max(steps.start);
        let count = end - start;
        for (t, dx) in dxs.chunks_exact_mut(d).take(count).enumerate() {
            transform.increment(path, dim, length, start + t, dx);
        }
        mul_exp_backward_block_kernel::<T, D, FMA>(d, tshape, s, dxs, count, g, gdxs, ws);
        for (t, gdx) in gdxs.chunks_exact(d).take(count).enumerate() {
            transform.increment_backward(grad, dim, start + t - origin, gdx);
        }
        end = start;
    }
}

/// Gradient through a plain signature of degree 2 (no stream, start or
/// inverse), in closed form. Level 2 is `sum_j m_j (x) dx_j`, with `m_j`
/// the sum of the increments before step j plus half of `dx_j`, so for
/// the level gradients `g_1`, `G` and the total increment `X`,
///
/// `dF/d(dx_j) = g_1 + G X + (G^T - G) m_j`:
///
/// one product per step by a fixed matrix, with no state to walk back
/// (only the antisymmetric part of `G`, the Lévy area's, sees the path's
/// shape). Per path, the step-by-step pass was 2-2.5x slower on long
/// paths (no faster than pysiglib). `combined` holds paths `first..`.
#[allow(clippy::too_many_arguments)]
fn sig_backprop_degree_two<T: Float>(
    paths: &[T],
    shape: PathShape,
    plan: &SigPlan<'_, T>,
    transform: PathTransform,
    sig_grads: &[T],
    first: usize,
    n_jobs: i64,
    combined: &mut [(&mut [T], Option<&mut [T]>)],
) -> Result<()> {
    let d = plan.tshape.dim;
    let (pl, out_len) = (shape.path_len(), plan.out_len);
    let steps = transform.n_increments(shape.length);
    let init = || {
        let z = |n| zeros("a degree-2 gradient's workspace", n);
        // the level gradients; (G^T - G)^T; g_1 + G X; X, then the increments' sum; dx; m; the gradient of dx
        Ok([z(plan.tshape.len())?, z(d * d)?, z(d)?, z(d)?, z(d)?, z(d)?, z(d)?])
    };
    try_for_each_item(n_jobs, combined, steps.saturating_mul(d * d), init, |ws, i, (grad, _)| {
        let [g, skew_t, offset, sum, dx, m, gdx] = ws;
        let b = first + i;
        let path = &paths[b * pl..(b + 1) * pl];
        grad.fill(T::zero());
        plan.load(&sig_grads[b * out_len..(b + 1) * out_len], g, T::zero());
        let (g1, g2) = (&g[1..1 + d], &g[1 + d..1 + d + d * d]);
        sum.fill(T::zero());
        for j in 0..steps {
            transform.increment(path, shape.dim, shape.length, j, dx);
            for (s, &x) in sum.iter_mut().zip(dx.iter()) {
                *s += x;
            }
        }
        for (a, (o, row)) in offset.iter_mut().zip(g2.chunks_exact(d)).enumerate() {
            *o = g1[a] + row.iter().zip(sum.iter()).fold(T::zero(), |acc, (&gv, &x)| acc + gv * x);
            // Row a is column a of G^T - G, for the products below.
            for (c, k) in skew_t[a * d..(a + 1) * d].iter_mut().enumerate() {
                *k = g2[a * d + c] - g2[c * d + a];
            }
        }
        let half = crate::recip::<T>(2);
        sum.fill(T::zero());
        for j in 0..steps {
            transform.increment(path, shape.dim, shape.length, j, dx);
            for ((mv, s), &x) in m.iter_mut().zip(sum.iter_mut()).zip(dx.iter()) {
                *mv = *s + x * half;
                *s += x;
            }
            gdx.copy_from_slice(offset);
            for (col, &mv) in skew_t.chunks_exact(d).zip(m.iter()) {
                for (o, &k) in gdx.iter_mut().zip(col) {
                    *o += k * mv;
                }
            }
            transform.increment_backward(grad, shape.dim, j, gdx);
        }
        Ok(())
    })
}

/// Gradient of [`sig_chunked`] for paths with fewer of them than threads:
/// each path's steps are cut into `chunks` pieces. The pieces' signatures
/// are computed in parallel, the gradient is carried back through the
/// Chen products joining them (a few tensor products per path), and then
/// each piece runs its own backward pass in parallel, from its own
/// signature and gradient, into its own slice of the path's gradient.
#[allow(clippy::too_many_arguments)]
fn sig_backprop_chunked<T: Float>(
    paths: &[T],
    shape: PathShape,
    plan: &SigPlan<'_, T>,
    transform: PathTransform,
    chunks: usize,
    sig_grads: &[T],
    n_jobs: i64,
    combined: &mut [(&mut [T], Option<&mut [T]>)],
) -> Result<()> {
    let tshape = &plan.tshape;
    let (len, out_len) = (tshape.len(), plan.out_len);
    let steps = transform.n_increments(shape.length);
    let pl = shape.path_len();
    // With lead-lag, pieces start on even steps, so that a piece's first
    // step starts from a point of the original path.
    let per_row = plan.per_row;
    let bound = |c: usize| c * steps / chunks / per_row * per_row;
    let points = |c: usize| (bound(c + 1) - 1) / per_row + 2 - bound(c) / per_row;
    let local_len = (0..chunks).map(points).max().unwrap_or(0) * shape.dim;
    let count = shape.batch * chunks;
    let mut pieces = zeros("the pieces of long paths' signatures", count * len)?;
    try_for_each_chunk(n_jobs, &mut pieces, len, usize::MAX, || SigWorkspace::new(tshape), |ws, idx, piece| {
        let (b, c) = (idx / chunks, idx % chunks);
        ws.s.fill(T::zero());
        ws.s[0] = T::one();
        ws.run(&paths[b * pl..(b + 1) * pl], shape, &transform, tshape, bound(c)..bound(c + 1));
        piece.copy_from_slice(&ws.s);
        Ok(())
    })?;
    crate::interrupt::check()?;
    // Through the products: out = start (x) P_0 (x) ... (x) P_{C-1}.
    let mut piece_grads = zeros("the pieces' gradients", count * len)?;
    let mut prefixes = zeros("the prefixes of a long path's signature", chunks * len)?;
    let mut start_grads = zeros("the starts' gradients", shape.batch * len)?;
    let (mut acc, mut g_acc) = (zeros("a signature", len)?, zeros("a signature", len)?);
    for b in 0..shape.batch {
        plan.load_start(b, &mut acc);
        for c in 0..chunks {
            prefixes[c * len..(c + 1) * len].copy_from_slice(&acc);
            mul_in_place(tshape, &mut acc, &pieces[(b * chunks + c) * len..(b * chunks + c + 1) * len]);
        }
        let g_start = &mut start_grads[b * len..(b + 1) * len];
        plan.load(&sig_grads[b * out_len..(b + 1) * out_len], g_start, T::zero());
        for c in (0..chunks).rev() {
            let idx = b * chunks + c;
            g_acc.fill(T::zero());
            let g_piece = &mut piece_grads[idx * len..(idx + 1) * len];
            mul_backward(tshape, &prefixes[c * len..(c + 1) * len], &pieces[idx * len..(idx + 1) * len], g_start, &mut g_acc, g_piece);
            g_piece[0] = T::zero();
            g_start.copy_from_slice(&g_acc);
        }
    }
    let mut locals = zeros("the pieces' path gradients", count * local_len)?;
    let mut items: Vec<(&mut [T], &mut [T])> = piece_grads.chunks_exact_mut(len).zip(locals.chunks_exact_mut(local_len)).collect();
    try_for_each_item(n_jobs, &mut items, usize::MAX, || BackpropWorkspace::new(tshape), |ws, idx, (g_piece, local)| {
        let (b, c) = (idx / chunks, idx % chunks);
        ws.s.copy_from_slice(&pieces[idx * len..(idx + 1) * len]);
        ws.g.copy_from_slice(g_piece);
        let range = bound(c)..bound(c + 1);
        sig_backprop_steps(tshape.dim, &paths[b * pl..(b + 1) * pl], shape.dim, shape.length, &transform, tshape, range.clone(), range.start, ws, local);
        Ok(())
    })?;
    drop(items);
    for (b, (grad, init_grad)) in combined.iter_mut().enumerate() {
        grad.fill(T::zero());
        for c in 0..chunks {
            let first = bound(c) / per_row * shape.dim;
            let n = points(c) * shape.dim;
            let local = &locals[(b * chunks + c) * local_len..][..n];
            for (o, &v) in grad[first..first + n].iter_mut().zip(local) {
                *o += v;
            }
        }
        if let Some(ig) = init_grad {
            let g_start = &mut start_grads[b * len..(b + 1) * len];
            plan.store_start_grad(g_start, ig);
        }
    }
    Ok(())
}

/// Gradient of a scalar function F through [`sig`]: given the signatures
/// `sigs` that [`sig`] returned and `sig_grads` = dF/d(sigs), both laid out
/// with or without the scalar term as `scalar_term` says, writes dF/d(paths)
/// into `out` (`batch * length * dim` numbers).
///
/// The intermediate signatures are recovered from `sigs` by walking the path
/// backwards (`S_j = S_{j+1} (x) exp(-dx_j)`), so memory stays
/// O(sig_length) per worker; `sigs` must therefore be the signatures of
/// these paths.
#[allow(clippy::too_many_arguments)]
pub fn sig_backprop<T: Float>(
    paths: &[T],
    shape: PathShape,
    degree: usize,
    transform: PathTransform,
    sigs: &[T],
    sig_grads: &[T],
    scalar_term: bool,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    let opts = SigOptions { transform, scalar_term, ..SigOptions::default() };
    sig_backprop_with(paths, shape, degree, &opts, sigs, sig_grads, n_jobs, out, None)
}

/// Gradient through [`sig_with`]: `sigs` is what it returned for these
/// paths and options and `sig_grads` = dF/d(sigs), of the same shape.
/// Writes dF/d(paths) into `out` and, if `initial_grad` is given, dF/d(initial)
/// there (`batch * sig_len` numbers, level 0 zero).
///
/// Without `stream`, intermediate states are recovered backwards from the
/// final one as in [`sig_backprop`]; with it, each is restarted from the
/// stored prefix, so rounding does not accumulate over the path.
#[allow(clippy::too_many_arguments)]
pub fn sig_backprop_with<T: Float>(
    paths: &[T],
    shape: PathShape,
    degree: usize,
    opts: &SigOptions<'_, T>,
    sigs: &[T],
    sig_grads: &[T],
    n_jobs: i64,
    out: &mut [T],
    initial_grad: Option<&mut [T]>,
) -> Result<()> {
    shape.check(paths)?;
    let plan = SigPlan::new(shape, degree, opts)?;
    let (tshape, out_len, rows) = (&plan.tshape, plan.out_len, plan.rows);
    let per_path = rows * out_len;
    check_len("sig", sigs.len(), shape.batch * per_path)?;
    check_len("sig_derivs", sig_grads.len(), shape.batch * per_path)?;
    check_len("out", out.len(), shape.batch * shape.path_len())?;
    if let Some(ig) = initial_grad.as_deref() {
        check_len("initial_grad", ig.len(), shape.batch * out_len)?;
    }
    let transform = opts.transform;
    let pl = shape.path_len();
    let steps = transform.n_increments(shape.length);
    let work = steps.saturating_mul(tshape.len()).saturating_mul(5);
    // Each worker writes its path's gradient and, when asked, the gradient
    // of its `initial`, so both go through one parallel loop over paths.
    if pl == 0 || out_len == 0 {
        // No path coordinates, or an empty signature: nothing depends on anything.
        out.fill(T::zero());
        if let Some(ig) = initial_grad {
            ig.fill(T::zero());
        }
        return Ok(());
    }
    let mut combined: Vec<(&mut [T], Option<&mut [T]>)> = match initial_grad {
        Some(ig) => out.chunks_exact_mut(pl).zip(ig.chunks_exact_mut(out_len).map(Some)).collect(),
        None => out.chunks_exact_mut(pl).map(|c| (c, None)).collect(),
    };
    if tshape.dim == 1 && shape.dim == 1 {
        return sig_backprop_one_dim(paths, shape, &plan, opts.stream, sig_grads, n_jobs, &mut combined);
    }
    // Degree 2 has a closed form (sig_backprop_degree_two), one pass per
    // path: faster than the step-by-step pass per path, not than the lanes.
    let degree_two = degree == 2 && !opts.stream && !opts.inverse && opts.initial.is_none() && combined.iter().all(|(_, ig)| ig.is_none());
    // Fewer paths than threads: split each over time, as the forward does.
    let threads = resolve_n_jobs(n_jobs)?;
    if !degree_two && !opts.stream && tshape.dim > 0 && degree > 0 && shape.batch < threads {
        let chunks = (threads / shape.batch.max(1)).min(steps / MIN_STEPS_PER_CHUNK).max(1);
        if chunks > 1 {
            return sig_backprop_chunked(paths, shape, &plan, transform, chunks, sig_grads, n_jobs, &mut combined);
        }
    }
    // Whole groups of paths go through the lanes, the rest one by one.
    let width = lanes::backward_width::<T>(tshape.dim, tshape.len());
    let (width, wide, narrow) = if !opts.stream && (2..=LANES_MAX_BACKWARD_DIM).contains(&tshape.dim) { lanes::lane_groups::<T>(shape.batch, width, threads) } else { (width, 0, 0) };
    let in_lanes = wide + narrow;
    let (lane_items, rest_items) = combined.split_at_mut(in_lanes);
    let (wide_items, narrow_items) = lane_items.split_at_mut(wide);
    if wide > 0 {
        sig_backprop_lanes(paths, shape, &plan, transform, sigs, sig_grads, 0, width, n_jobs, wide_items)?;
    }
    if narrow > 0 {
        sig_backprop_lanes(paths, shape, &plan, transform, sigs, sig_grads, wide, narrow, n_jobs, narrow_items)?;
    }
    if degree_two {
        return sig_backprop_degree_two(paths, shape, &plan, transform, sig_grads, in_lanes, n_jobs, rest_items);
    }
    try_for_each_item(n_jobs, rest_items, work, || BackpropWorkspace::new(tshape), |ws, i, (grad, init_grad)| {
        let b = in_lanes + i;
        grad.fill(T::zero());
        let path = &paths[b * pl..(b + 1) * pl];
        let (s_rows, g_rows) = (&sigs[b * per_path..(b + 1) * per_path], &sig_grads[b * per_path..(b + 1) * per_path]);
        if tshape.dim == 0 || degree == 0 {
            if let Some(ig) = init_grad {
                ig.fill(T::zero());
            }
            return Ok(());
        }
        if opts.stream {
            ws.g.fill(T::zero());
            for r in (0..rows).rev() {
                let row = r * out_len..(r + 1) * out_len;
                plan.load(&g_rows[row.clone()], &mut ws.g_next, T::zero());
                for (a, &v) in ws.g.iter_mut().zip(ws.g_next.iter()) {
                    *a += v;
                }
                plan.load(&s_rows[row], &mut ws.s, T::one());
                let steps = r * plan.per_row..(r + 1) * plan.per_row;
                sig_backprop_steps(tshape.dim, path, shape.dim, shape.length, &transform, tshape, steps, 0, ws, grad);
            }
        } else {
            plan.load(s_rows, &mut ws.s, T::one());
            plan.load(g_rows, &mut ws.g, T::zero());
            sig_backprop_steps(tshape.dim, path, shape.dim, shape.length, &transform, tshape, 0..steps, 0, ws, grad);
        }
        if let Some(ig) = init_grad {
            // ws.g is now dF/d(start); start = initial, or its antipode.
            plan.store_start_grad(&mut ws.g, ig);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{tensor_antipode, tensor_exp, tensor_mul};
    use crate::transform::transform_path;

    fn path(batch: usize, length: usize, dim: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..batch * length * dim)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect()
    }

    /// The signature as a plain product of exponentials of the increments.
    fn product_of_exps(p: &[f64], length: usize, dim: usize, degree: usize) -> Vec<f64> {
        let shape = TensorShape::new(dim, degree).unwrap();
        let mut acc = shape.identity();
        let (mut e, mut tmp) = (vec![0.0; shape.len()], vec![0.0; shape.len()]);
        for j in 0..length - 1 {
            let dx: Vec<f64> = (0..dim).map(|c| p[(j + 1) * dim + c] - p[j * dim + c]).collect();
            tensor_exp(&shape, &dx, &mut e).unwrap();
            tensor_mul(&shape, &acc, &e, &mut tmp).unwrap();
            std::mem::swap(&mut acc, &mut tmp);
        }
        acc
    }

    /// The workspaces come from a per-thread pool and are not zeroed when
    /// reused (NaN-filled in tests): a kernel that read a workspace entry
    /// before writing it would give NaN, or differ between the first call
    /// (fresh zeros) and the second (reused NaNs).
    #[test]
    fn reused_workspaces_give_the_same_results() {
        let lead_lag = PathTransform { lead_lag: true, ..PathTransform::NONE };
        for (dim, degree) in [(2, 1), (2, 5), (3, 4), (5, 3), (8, 3), (13, 2), (16, 3), (20, 2)] {
            for (batch, length) in [(1, 2), (1, 300), (3, 40), (9, 17)] {
                let p = path(batch, length, dim, (dim * 31 + degree * 7 + length) as u64);
                let shape = PathShape::new(batch, length, dim);
                for (stream, transform) in [(false, PathTransform::NONE), (true, PathTransform::NONE), (false, lead_lag)] {
                    let opts = SigOptions { transform, stream, ..SigOptions::default() };
                    let plan = SigPlan::new(shape, degree, &opts).unwrap();
                    let per_path = plan.rows * plan.out_len;
                    let run = |n_jobs| {
                        let mut sigs = vec![0.0; batch * per_path];
                        sig_with(&p, shape, degree, &opts, n_jobs, &mut sigs).unwrap();
                        let grads: Vec<f64> = (0..sigs.len()).map(|i| ((i * 37 % 11) as f64) - 5.0).collect();
                        let mut g = vec![0.0; p.len()];
                        sig_backprop_with(&p, shape, degree, &opts, &sigs, &grads, n_jobs, &mut g, None).unwrap();
                        (sigs, g)
                    };
                    // Two workers split short batches over time (own pools).
                    for n_jobs in [1, 2] {
                        let (first, second) = (run(n_jobs), run(n_jobs));
                        assert!(first.0.iter().chain(&first.1).all(|v| v.is_finite()), "d {dim} m {degree} {batch}x{length} stream {stream}");
                        assert_eq!(first, second, "d {dim} m {degree} {batch}x{length} stream {stream} n_jobs {n_jobs}");
                    }
                }
            }
        }
    }

    #[test]
    fn signature_is_the_product_of_exponentials_of_increments() {
        // Every specialised dimension, in f64 and f32, with paths long enough
        // for full blocks of increments and a remainder, and batches that
        // fill SIMD lanes with paths left over (9 = 2 x 4 + 1 = 8 + 1).
        let length = 2 * crate::tensor::STEP_BLOCK + 4;
        for (dim, degree) in [(1, 3), (2, 4), (3, 3), (4, 4), (5, 3), (6, 3), (7, 2), (8, 3), (9, 2), (16, 3)] {
            for batch in [3, 9] {
                check_product_of_exps(batch, length, dim, degree);
            }
        }
    }

    fn check_product_of_exps(batch: usize, length: usize, dim: usize, degree: usize) {
        {
            let p = path(batch, length, dim, dim as u64);
            let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
            let tshape = TensorShape::new(dim, degree).unwrap();
            let mut out = vec![0.0; batch * tshape.len()];
            let mut out32 = vec![0.0f32; batch * tshape.len()];
            sig(&p, PathShape::new(batch, length, dim), degree, PathTransform::NONE, true, 2, &mut out).unwrap();
            sig(&p32, PathShape::new(batch, length, dim), degree, PathTransform::NONE, true, 2, &mut out32).unwrap();
            for b in 0..batch {
                let expected = product_of_exps(&p[b * length * dim..(b + 1) * length * dim], length, dim, degree);
                let range = b * tshape.len()..(b + 1) * tshape.len();
                for ((x, x32), y) in out[range.clone()].iter().zip(&out32[range]).zip(&expected) {
                    assert!((x - y).abs() < 1e-13, "dim {dim} degree {degree}: {x} vs {y}");
                    assert!((*x32 as f64 - y).abs() < 1e-5, "f32 dim {dim} degree {degree}: {x32} vs {y}");
                }
            }
        }
    }

    #[test]
    fn lane_groups_match_paths_one_at_a_time_with_every_option() {
        // A batch of 11 runs through SIMD lane groups (with paths left over);
        // a batch of one never does.
        let transforms = [PathTransform::NONE, PathTransform { time_aug: true, lead_lag: true, end_time: 2.0 }];
        let (batch, length, dim, degree) = (11, 13, 3, 3);
        let p = path(batch, length, dim, 17);
        for transform in transforms {
            let len = crate::sig_length(transform.out_dim(dim), degree, false).unwrap();
            let init = path(batch, len, 1, 18);
            for (inverse, initial) in [(false, None), (true, None), (false, Some(&init[..])), (true, Some(&init[..]))] {
                let opts = SigOptions { transform, inverse, initial, ..SigOptions::default() };
                let mut all = vec![0.0; batch * len];
                sig_with(&p, PathShape::new(batch, length, dim), degree, &opts, 2, &mut all).unwrap();
                let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
                let init32: Vec<f32> = init.iter().map(|&x| x as f32).collect();
                let opts32 = SigOptions { transform, inverse, initial: initial.map(|_| &init32[..]), ..SigOptions::default() };
                let mut all32 = vec![0.0f32; batch * len];
                sig_with(&p32, PathShape::new(batch, length, dim), degree, &opts32, 1, &mut all32).unwrap();
                for b in 0..batch {
                    let one_init = initial.map(|i| &i[b * len..(b + 1) * len]);
                    let opts = SigOptions { initial: one_init, ..opts };
                    let mut one = vec![0.0; len];
                    sig_with(&p[b * length * dim..(b + 1) * length * dim], PathShape::new(1, length, dim), degree, &opts, 1, &mut one).unwrap();
                    for (i, y) in one.iter().enumerate() {
                        let (x, x32) = (all[b * len + i], all32[b * len + i] as f64);
                        assert!((x - y).abs() < 1e-13 * (1.0 + y.abs()), "{transform:?} inverse {inverse} path {b} [{i}]: {x} vs {y}");
                        assert!((x32 - y).abs() < 1e-5 * (1.0 + y.abs()), "f32 {transform:?} inverse {inverse} path {b} [{i}]: {x32} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn lane_group_gradients_match_paths_one_at_a_time() {
        // A batch of 19 runs through lane groups (8 wide at d = 2, 3) with
        // paths left over; a batch of one never does. The outputs start as
        // NaN, so that a point left unwritten shows.
        let transforms = [PathTransform::NONE, PathTransform { time_aug: true, lead_lag: false, end_time: 1.0 }];
        let batch = 19;
        for (dim, degree) in [(2, 4), (3, 3)] {
            for length in [1, 2, 9, 17, 20] {
                let p = path(batch, length, dim, (10 * dim + length) as u64);
                for transform in transforms {
                    let len = crate::sig_length(transform.out_dim(dim), degree, false).unwrap();
                    let shape = PathShape::new(batch, length, dim);
                    let mut s = vec![0.0; batch * len];
                    sig(&p, shape, degree, transform, false, 1, &mut s).unwrap();
                    let g = path(batch, len, 1, 3);
                    let mut grad = vec![f64::NAN; p.len()];
                    sig_backprop(&p, shape, degree, transform, &s, &g, false, 2, &mut grad).unwrap();
                    let pl = length * dim;
                    for b in 0..batch {
                        let mut one = vec![f64::NAN; pl];
                        let (s_b, g_b) = (&s[b * len..(b + 1) * len], &g[b * len..(b + 1) * len]);
                        sig_backprop(&p[b * pl..(b + 1) * pl], PathShape::new(1, length, dim), degree, transform, s_b, g_b, false, 1, &mut one).unwrap();
                        crate::test_util::close(&grad[b * pl..(b + 1) * pl], &one, 1e-12);
                    }
                }
            }
        }
    }

    /// Each path of `batch`, alone and as part of the batch: forward and
    /// gradient must agree whatever group (wide, narrow, none) it ran in.
    fn check_batch_splits<T: Float>(batch: usize, dim: usize, degree: usize, tol: f64) {
        let length = 21;
        let p: Vec<T> = path(batch, length, dim, 5).iter().map(|&x| T::from(x).unwrap()).collect();
        let len = crate::sig_length(dim, degree, true).unwrap();
        let pl = length * dim;
        let mut sigs = vec![T::zero(); batch * len];
        sig(&p, PathShape::new(batch, length, dim), degree, PathTransform::NONE, true, 1, &mut sigs).unwrap();
        let sig_grads: Vec<T> = (0..batch * len).map(|i| T::from(((i * 7) % 11) as f64 / 11.0 - 0.5).unwrap()).collect();
        let mut grads = vec![T::zero(); batch * pl];
        sig_backprop(&p, PathShape::new(batch, length, dim), degree, PathTransform::NONE, &sigs, &sig_grads, true, 1, &mut grads).unwrap();
        for b in 0..batch {
            let one = PathShape::new(1, length, dim);
            let mut alone = vec![T::zero(); len];
            sig(&p[b * pl..(b + 1) * pl], one, degree, PathTransform::NONE, true, 1, &mut alone).unwrap();
            let mut grad = vec![T::zero(); pl];
            sig_backprop(&p[b * pl..(b + 1) * pl], one, degree, PathTransform::NONE, &alone, &sig_grads[b * len..(b + 1) * len], true, 1, &mut grad).unwrap();
            let close = |x: T, y: T| (x - y).abs().to_f64().unwrap() <= tol * (1.0 + y.abs().to_f64().unwrap());
            for (i, (&x, &y)) in sigs[b * len..(b + 1) * len].iter().zip(&alone).enumerate() {
                assert!(close(x, y), "batch {batch} d {dim} path {b} sig [{i}]: {x:?} vs {y:?}");
            }
            for (i, (&x, &y)) in grads[b * pl..(b + 1) * pl].iter().zip(&grad).enumerate() {
                assert!(close(x, y), "batch {batch} d {dim} path {b} grad [{i}]: {x:?} vs {y:?}");
            }
        }
    }

    #[test]
    fn a_path_gets_the_same_result_in_a_wide_group_a_narrow_group_or_alone() {
        // 27 = 16 + 8 + 3 and 13 = 8 + 4 + 1 paths in float32 and float64 at
        // d = 2 (see lanes::lane_groups), and 20 paths at d = 3.
        for degree in [3, 4] {
            check_batch_splits::<f32>(27, 2, degree, 1e-4);
            check_batch_splits::<f64>(27, 2, degree, 1e-12);
            check_batch_splits::<f64>(13, 2, degree, 1e-12);
            check_batch_splits::<f32>(20, 3, degree, 1e-4);
        }
    }

    #[test]
    fn large_float32_lane_states_need_longer_pieces() {
        // d = 20, degree 4: 5.4 MB in 8 float32 lanes, 5.4 MB in 4 float64 lanes.
        let large = TensorShape::new(20, 4).unwrap();
        assert!(!lane_pieces_pay::<f32>(&large, 8, 282));
        assert!(lane_pieces_pay::<f32>(&large, 8, 1024));
        assert!(lane_pieces_pay::<f64>(&large, 4, 282));
        // d = 8, degree 5: 1.2 MB in 8 float32 lanes.
        let small = TensorShape::new(8, 5).unwrap();
        assert!(lane_pieces_pay::<f32>(&small, 8, 256));
        assert!(!lane_pieces_pay::<f32>(&small, 8, 255));
    }

    #[test]
    fn paths_left_over_from_lane_groups_run_their_pieces_in_lanes() {
        // Batches of 1 and 5 with 299 or 257 steps: the paths outside whole
        // lane groups are cut into a piece per lane (some lanes past the
        // end; with 257 steps in 8 float32 lanes of 33, the last lane's last
        // block starts 6 steps past it).
        let cases = [(1, 2, 4, PathTransform::NONE), (5, 3, 3, PathTransform::NONE), (1, 2, 3, PathTransform { time_aug: true, lead_lag: true, end_time: 1.0 })];
        // 2100 points: pieces in two vectors of lanes (lane_piece_width).
        for ((batch, dim, degree, transform), length) in cases.into_iter().flat_map(|c| [(c, 300), (c, 258), (c, 2100)]) {
            let p = path(batch, length, dim, 23);
            let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
            let (t_len, t_dim) = (transform.out_length(length), transform.out_dim(dim));
            let mut full = vec![0.0; batch * t_len * t_dim];
            transform_path(&p, PathShape::new(batch, length, dim), transform, 1, &mut full).unwrap();
            let len = crate::sig_length(t_dim, degree, true).unwrap();
            for n_jobs in [1, 2] {
                let mut out = vec![0.0; batch * len];
                let mut out32 = vec![0.0f32; batch * len];
                sig(&p, PathShape::new(batch, length, dim), degree, transform, true, n_jobs, &mut out).unwrap();
                sig(&p32, PathShape::new(batch, length, dim), degree, transform, true, n_jobs, &mut out32).unwrap();
                for b in 0..batch {
                    let expected = product_of_exps(&full[b * t_len * t_dim..(b + 1) * t_len * t_dim], t_len, t_dim, degree);
                    for (i, y) in expected.iter().enumerate() {
                        let (x, x32) = (out[b * len + i], out32[b * len + i] as f64);
                        assert!((x - y).abs() < 1e-11 * (1.0 + y.abs()), "batch {batch} path {b} n_jobs {n_jobs} [{i}]: {x} vs {y}");
                        assert!((x32 - y).abs() < 1e-4 * (1.0 + y.abs()), "f32 batch {batch} path {b} [{i}]: {x32} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn lane_groups_of_large_states_start_from_the_identity() {
        // States past PREFIX_SPLIT_MIN_BYTES run by word prefix, their
        // first run starting the parts from zeros (levels above the split
        // are never zeroed in the state). Each case runs twice, so that the
        // second call's pooled buffers hold NaN from the first (sig-core's
        // unit tests), which any entry read before written would spread.
        // Groups: 8 float64 paths at d = 2, degree 16 (8.4 MB), of 0, 1
        // and 69 steps (a run of 64 and one of 5).
        let (dim, degree) = (2, 16);
        let len = crate::sig_length(dim, degree, true).unwrap();
        // The last run writes the output rows itself, with and without the
        // scalar term.
        for (length, scalar_term) in [(1, true), (2, true), (2, false), (70, true), (70, false)] {
            let (batch, skip) = (8, usize::from(!scalar_term));
            let p = path(batch, length, dim, 31);
            for _ in 0..2 {
                let mut out = vec![0.0; batch * (len - skip)];
                sig(&p, PathShape::new(batch, length, dim), degree, PathTransform::NONE, scalar_term, 1, &mut out).unwrap();
                for (b, row) in out.chunks_exact(len - skip).enumerate() {
                    let mut alone = vec![0.0; len];
                    sig(&p[b * length * dim..(b + 1) * length * dim], PathShape::new(1, length, dim), degree, PathTransform::NONE, true, 1, &mut alone).unwrap();
                    for (i, (&x, &y)) in row.iter().zip(&alone[skip..]).enumerate() {
                        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "length {length} skip {skip} path {b} [{i}]: {x} vs {y}");
                    }
                }
            }
        }
        // One path's pieces in the lanes: d = 3, degree 11 (8.5 MB in four
        // lanes), 128 steps, against Chen's identity on two halves short
        // enough for the per-path kernel.
        let (dim, degree, length) = (3, 11, 129);
        let shape = TensorShape::new(dim, degree).unwrap();
        assert!(lane_pieces_pay::<f64>(&shape, lanes::lanes::<f64>(), length - 1));
        let p = path(1, length, dim, 37);
        let half = length.div_ceil(2);
        let (mut left, mut right, mut joined) = (vec![0.0; shape.len()], vec![0.0; shape.len()], vec![0.0; shape.len()]);
        sig(&p[..half * dim], PathShape::new(1, half, dim), degree, PathTransform::NONE, true, 1, &mut left).unwrap();
        sig(&p[(half - 1) * dim..], PathShape::new(1, length - half + 1, dim), degree, PathTransform::NONE, true, 1, &mut right).unwrap();
        tensor_mul(&shape, &left, &right, &mut joined).unwrap();
        for _ in 0..2 {
            let mut whole = vec![0.0; shape.len()];
            sig(&p, PathShape::new(1, length, dim), degree, PathTransform::NONE, true, 1, &mut whole).unwrap();
            for (i, (&x, &y)) in whole.iter().zip(&joined).enumerate() {
                assert!((x - y).abs() <= 1e-11 * (1.0 + y.abs()), "pieces [{i}]: {x} vs {y}");
            }
        }
    }

    #[test]
    fn single_paths_of_large_states_run_by_prefix() {
        // One path's state past 1 MiB runs by word prefix in the per-path
        // kernel (`prefix::mul_exp_steps_by_prefix`): float64 d = 4,
        // degree 9 (2.8 MB, a path left over from the lanes too short for
        // pieces) and d = 8, degree 6 (2.4 MB, the per-path kernel's own
        // dimension), of 0, 1, 69 and 150 steps (runs of 64 and a partial
        // one), on one thread and split over time on two, against the
        // product of exponentials. Each case runs twice (pooled buffers
        // then hold NaN).
        for (dim, degree) in [(4, 9), (8, 6)] {
            let shape = TensorShape::new(dim, degree).unwrap();
            assert!(crate::prefix::PrefixSplit::<f64>::for_one_path(&shape).unwrap().is_some());
            for length in [1, 2, 70, 151] {
                let p = path(1, length, dim, (dim * 7 + length) as u64);
                let expected = product_of_exps(&p, length, dim, degree);
                for n_jobs in [1, 2] {
                    for _ in 0..2 {
                        let mut out = vec![0.0; shape.len()];
                        sig(&p, PathShape::new(1, length, dim), degree, PathTransform::NONE, true, n_jobs, &mut out).unwrap();
                        for (i, (&x, &y)) in out.iter().zip(&expected).enumerate() {
                            assert!((x - y).abs() <= 1e-13 * (1.0 + y.abs()), "d {dim} m {degree} length {length} n_jobs {n_jobs} [{i}]: {x} vs {y}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn chen_identity_holds_for_split_paths() {
        let (dim, degree, length) = (3, 4, 600);
        let p = path(1, length, dim, 5);
        let shape = TensorShape::new(dim, degree).unwrap();
        let mut whole = vec![0.0; shape.len()];
        // Threads > batch: the chunked path joins pieces by Chen's identity.
        sig(&p, PathShape::new(1, length, dim), degree, PathTransform::NONE, true, 4, &mut whole).unwrap();
        let mut serial = vec![0.0; shape.len()];
        sig(&p, PathShape::new(1, length, dim), degree, PathTransform::NONE, true, 1, &mut serial).unwrap();
        let cut = 250;
        let (mut left, mut right) = (vec![0.0; shape.len()], vec![0.0; shape.len()]);
        sig(&p[..cut * dim], PathShape::new(1, cut, dim), degree, PathTransform::NONE, true, 1, &mut left).unwrap();
        sig(&p[(cut - 1) * dim..], PathShape::new(1, length - cut + 1, dim), degree, PathTransform::NONE, true, 1, &mut right).unwrap();
        let mut joined = vec![0.0; shape.len()];
        tensor_mul(&shape, &left, &right, &mut joined).unwrap();
        for ((a, b), c) in whole.iter().zip(&joined).zip(&serial) {
            assert!((a - b).abs() < 1e-11 * (1.0 + b.abs()), "{a} vs {b}");
            assert!((a - c).abs() < 1e-11 * (1.0 + c.abs()), "{a} vs {c}");
        }
    }

    #[test]
    fn backprop_matches_finite_differences_for_every_transform() {
        let transforms = [
            PathTransform::NONE,
            PathTransform { time_aug: true, lead_lag: false, end_time: 2.5 },
            PathTransform { time_aug: false, lead_lag: true, end_time: 1.0 },
            PathTransform { time_aug: true, lead_lag: true, end_time: 0.5 },
        ];
        for transform in transforms {
            // Degree 2 takes the closed form (sig_backprop_degree_two).
            for (scalar_term, degree) in [(false, 3), (true, 3), (false, 2), (true, 2)] {
                let (batch, length, dim) = (2, 5, 2);
                let shape = PathShape::new(batch, length, dim);
                let p = path(batch, length, dim, 9);
                let len = crate::sig_length(transform.out_dim(dim), degree, scalar_term).unwrap();
                let g = path(batch, len, 1, 13);
                let mut s = vec![0.0; batch * len];
                sig(&p, shape, degree, transform, scalar_term, 1, &mut s).unwrap();
                let mut grad = vec![0.0; p.len()];
                sig_backprop(&p, shape, degree, transform, &s, &g, scalar_term, 2, &mut grad).unwrap();
                let f = |q: &[f64]| {
                    let mut out = vec![0.0; batch * len];
                    sig(q, shape, degree, transform, scalar_term, 1, &mut out).unwrap();
                    out.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
                };
                for i in 0..p.len() {
                    let (mut plus, mut minus) = (p.clone(), p.clone());
                    plus[i] += 1e-6;
                    minus[i] -= 1e-6;
                    let fd = (f(&plus) - f(&minus)) / 2e-6;
                    assert!((fd - grad[i]).abs() < 1e-7, "{transform:?} [{i}]: {fd} vs {}", grad[i]);
                }
            }
        }
    }

    #[test]
    fn one_dimensional_signatures_are_the_closed_form_to_full_relative_accuracy() {
        // 0 -> 1000 -> 1: level k is exactly 1/k!, though the steps are 1e3.
        let p = [0.0, 1000.0, 1.0];
        let mut out = vec![0.0; 8];
        sig(&p, PathShape::new(1, 3, 1), 8, PathTransform::NONE, false, 1, &mut out).unwrap();
        let mut factorial = 1.0;
        for (k, &v) in out.iter().enumerate() {
            factorial *= (k + 1) as f64;
            assert!((v * factorial - 1.0).abs() < 1e-14, "level {}: {v}", k + 1);
        }
        // Plain signatures of more paths than one task takes, and a part
        // task: each row is exp(-x) or exp(x) of the path's total increment x.
        let (batch, length, degree) = (2 * ONE_DIM_PATHS_PER_TASK + 5, 4, 6);
        let p = path(batch, length, 1, 20);
        for (scalar_term, inverse) in [(false, false), (true, false), (false, true), (true, true)] {
            let opts = SigOptions { scalar_term, inverse, ..SigOptions::default() };
            let out_len = degree + usize::from(scalar_term);
            let mut out = vec![f64::NAN; batch * out_len];
            sig_with(&p, PathShape::new(batch, length, 1), degree, &opts, 2, &mut out).unwrap();
            for (b, row) in out.chunks_exact(out_len).enumerate() {
                let x = (p[b * length + length - 1] - p[b * length]) * if inverse { -1.0 } else { 1.0 };
                let mut expected: Vec<f64> = (0..=degree).scan(1.0, |v, k| {
                    if k > 0 {
                        *v *= x / k as f64;
                    }
                    Some(*v)
                }).collect();
                if !scalar_term {
                    expected.remove(0);
                }
                crate::test_util::close(row, &expected, 1e-14);
            }
        }
        // streams, inverses and an initial signature, against products of exponentials
        let (batch, length, degree) = (3, 6, 5);
        let p = path(batch, length, 1, 21);
        let init = path(batch, degree, 1, 22);
        for (stream, inverse) in [(false, false), (true, false), (false, true), (true, true)] {
            let opts = SigOptions { stream, inverse, initial: Some(&init), ..SigOptions::default() };
            let rows = opts.rows(length);
            let mut out = vec![0.0; batch * rows * degree];
            sig_with(&p, PathShape::new(batch, length, 1), degree, &opts, 2, &mut out).unwrap();
            let shape = TensorShape::new(1, degree).unwrap();
            for b in 0..batch {
                for r in 0..rows {
                    let end = if stream { r + 2 } else { length };
                    let mut start = vec![1.0];
                    start.extend_from_slice(&init[b * degree..(b + 1) * degree]);
                    if inverse {
                        start = { let mut a = vec![0.0; shape.len()]; tensor_antipode(&shape, &start, &mut a).unwrap(); a };
                    }
                    let mut expected = vec![0.0; shape.len()];
                    tensor_mul(&shape, &start, &product_of_exps(&p[b * length..b * length + end], end, 1, degree), &mut expected).unwrap();
                    if inverse {
                        let mut a = vec![0.0; shape.len()];
                        tensor_antipode(&shape, &expected, &mut a).unwrap();
                        expected = a;
                    }
                    let got = &out[(b * rows + r) * degree..(b * rows + r + 1) * degree];
                    crate::test_util::close(got, &expected[1..], 1e-12);
                }
            }
            // gradients of the path and of the initial signature
            let g = path(batch, rows * degree, 1, 23);
            let (mut grad, mut g_init) = (vec![0.0; p.len()], vec![0.0; init.len()]);
            sig_backprop_with(&p, PathShape::new(batch, length, 1), degree, &opts, &out, &g, 1, &mut grad, Some(&mut g_init)).unwrap();
            let loss = |q: &[f64], i: &[f64]| {
                let opts = SigOptions { stream, inverse, initial: Some(i), ..SigOptions::default() };
                let mut o = vec![0.0; batch * rows * degree];
                sig_with(q, PathShape::new(batch, length, 1), degree, &opts, 1, &mut o).unwrap();
                o.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
            };
            crate::test_util::assert_gradient(&mut p.clone(), &grad, 1e-6, 1e-8, |q| loss(q, &init), "path");
            crate::test_util::assert_gradient(&mut init.clone(), &g_init, 1e-6, 1e-8, |i| loss(&p, i), "initial");
        }
    }

    #[test]
    fn constant_paths_and_degree_zero_give_the_identity() {
        let mut out = vec![9.0; 1 + 3 + 9];
        sig(&[1.0, 2.0, 3.0], PathShape::new(1, 1, 3), 2, PathTransform::NONE, true, 1, &mut out).unwrap();
        assert_eq!(out[0], 1.0);
        assert!(out[1..].iter().all(|&x| x == 0.0));
        let mut empty: Vec<f64> = vec![];
        sig(&[1.0, 2.0], PathShape::new(1, 2, 1), 0, PathTransform::NONE, false, 1, &mut empty).unwrap();
        // Degree 0 through the per-path kernel, with and without level 0.
        sig(&[1.0, 2.0, 3.0, 5.0], PathShape::new(1, 2, 2), 0, PathTransform::NONE, false, 1, &mut empty).unwrap();
        let mut one = vec![9.0];
        sig(&[1.0, 2.0, 3.0, 5.0], PathShape::new(1, 2, 2), 0, PathTransform::NONE, true, 1, &mut one).unwrap();
        assert_eq!(one, [1.0]);
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let mut out = vec![0.0; 2];
        assert!(sig(&[1.0, 2.0, 3.0], PathShape::new(1, 2, 1), 2, PathTransform::NONE, false, 1, &mut out).is_err());
        assert!(sig(&[1.0, 2.0], PathShape::new(1, 2, 1), 2, PathTransform::NONE, false, 0, &mut out).is_err());
        assert!(sig(&[1.0, 2.0], PathShape::new(1, 2, 1), 3, PathTransform::NONE, false, 1, &mut out).is_err());
        assert!(sig::<f64>(&[], PathShape::new(1, 0, 1), 1, PathTransform::NONE, false, 1, &mut out).is_err());
        assert!(sig(&[0.0; 4], PathShape::new(1, 2, 2), 60, PathTransform::NONE, false, 1, &mut out).is_err());
    }
    const TRANSFORMS: [PathTransform; 4] = [
        PathTransform::NONE,
        PathTransform { time_aug: true, lead_lag: false, end_time: 2.5 },
        PathTransform { time_aug: false, lead_lag: true, end_time: 1.0 },
        PathTransform { time_aug: true, lead_lag: true, end_time: 0.5 },
    ];

    #[test]
    fn stream_rows_are_the_signatures_of_the_prefixes() {
        let (batch, length, dim, degree) = (2, 7, 2, 3);
        let shape = PathShape::new(batch, length, dim);
        let p = path(batch, length, dim, 21);
        for transform in TRANSFORMS {
            let tshape = TensorShape::new(transform.out_dim(dim), degree).unwrap();
            let n = tshape.len();
            let opts = SigOptions { transform, scalar_term: true, stream: true, ..SigOptions::default() };
            let mut rows = vec![0.0; batch * (length - 1) * n];
            sig_with(&p, shape, degree, &opts, 2, &mut rows).unwrap();
            // Prefixes of the transformed path, on the whole path's clock.
            let (tl, td) = (transform.out_length(length), transform.out_dim(dim));
            let mut tp = vec![0.0; batch * tl * td];
            transform_path(&p, shape, transform, 1, &mut tp).unwrap();
            let per_row = if transform.lead_lag { 2 } else { 1 };
            for b in 0..batch {
                for r in 0..length - 1 {
                    let points = (r + 1) * per_row + 1;
                    let prefix = &tp[b * tl * td..(b * tl + points) * td];
                    let mut expected = vec![0.0; n];
                    sig(prefix, PathShape::new(1, points, td), degree, PathTransform::NONE, true, 1, &mut expected).unwrap();
                    let got = &rows[(b * (length - 1) + r) * n..(b * (length - 1) + r + 1) * n];
                    for (x, y) in got.iter().zip(&expected) {
                        assert!((x - y).abs() < 1e-13, "{transform:?} b={b} r={r}: {x} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn inverse_and_initial_follow_the_group_laws() {
        let (length, dim, degree) = (9, 3, 3);
        let shape = PathShape::new(1, length, dim);
        let tshape = TensorShape::new(dim, degree).unwrap();
        let n = tshape.len();
        let p = path(1, length, dim, 31);
        let q = path(1, 4, dim, 32);
        let (mut s, mut init) = (vec![0.0; n], vec![0.0; n]);
        sig(&p, shape, degree, PathTransform::NONE, true, 1, &mut s).unwrap();
        sig(&q, PathShape::new(1, 4, dim), degree, PathTransform::NONE, true, 1, &mut init).unwrap();
        let mut got = vec![0.0; n];
        let (mut expected, mut inv) = (vec![0.0; n], vec![0.0; n]);
        tensor_antipode(&tshape, &s, &mut inv).unwrap();

        let opts = SigOptions { scalar_term: true, inverse: true, ..SigOptions::default() };
        sig_with(&p, shape, degree, &opts, 1, &mut got).unwrap();
        tensor_mul(&tshape, &s, &got, &mut expected).unwrap();
        for (i, x) in expected.iter().enumerate() {
            assert!((x - f64::from(u8::from(i == 0))).abs() < 1e-13, "S (x) S^-1 [{i}] = {x}");
        }

        let opts = SigOptions { scalar_term: true, initial: Some(&init), ..SigOptions::default() };
        sig_with(&p, shape, degree, &opts, 1, &mut got).unwrap();
        tensor_mul(&tshape, &init, &s, &mut expected).unwrap();
        for (x, y) in got.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-13, "initial: {x} vs {y}");
        }

        let opts = SigOptions { scalar_term: true, inverse: true, initial: Some(&init), ..SigOptions::default() };
        sig_with(&p, shape, degree, &opts, 1, &mut got).unwrap();
        tensor_mul(&tshape, &inv, &init, &mut expected).unwrap();
        for (x, y) in got.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-13, "inverse with initial: {x} vs {y}");
        }
    }

    #[test]
    fn backprop_with_options_matches_finite_differences() {
        let (batch, length, dim, degree) = (2, 4, 2, 3);
        let shape = PathShape::new(batch, length, dim);
        let p = path(batch, length, dim, 41);
        for transform in TRANSFORMS {
            for (stream, inverse, with_initial, scalar_term) in
                [(true, false, false, false), (false, true, false, true), (false, false, true, false), (true, true, true, true), (false, true, true, false)]
            {
                let n = crate::sig_length(transform.out_dim(dim), degree, scalar_term).unwrap();
                let mut init = path(batch, n, 1, 43);
                if scalar_term {
                    for b in 0..batch {
                        init[b * n] = 1.0;
                    }
                }
                let rows = if stream { length - 1 } else { 1 };
                let g = path(batch * rows, n, 1, 47);
                let run = |q: &[f64], init: &[f64]| {
                    let opts = SigOptions { transform, scalar_term, stream, inverse, initial: with_initial.then_some(init) };
                    let mut out = vec![0.0; batch * rows * n];
                    sig_with(q, shape, degree, &opts, 1, &mut out).unwrap();
                    out
                };
                let s = run(&p, &init);
                let (mut grad, mut ginit) = (vec![0.0; p.len()], vec![0.0; batch * n]);
                let opts = SigOptions { transform, scalar_term, stream, inverse, initial: with_initial.then_some(&init[..]) };
                sig_backprop_with(&p, shape, degree, &opts, &s, &g, 2, &mut grad, with_initial.then_some(&mut ginit[..])).unwrap();
                let f = |q: &[f64], init: &[f64]| run(q, init).iter().zip(&g).map(|(a, b)| a * b).sum::<f64>();
                let what = format!("{transform:?} stream={stream} inverse={inverse} initial={with_initial} scalar={scalar_term}");
                for i in 0..p.len() {
                    let (mut plus, mut minus) = (p.clone(), p.clone());
                    plus[i] += 1e-6;
                    minus[i] -= 1e-6;
                    let fd = (f(&plus, &init) - f(&minus, &init)) / 2e-6;
                    assert!((fd - grad[i]).abs() < 1e-7, "{what} path[{i}]: {fd} vs {}", grad[i]);
                }
                if with_initial {
                    for i in 0..init.len() {
                        let (mut plus, mut minus) = (init.clone(), init.clone());
                        plus[i] += 1e-6;
                        minus[i] -= 1e-6;
                        let fd = (f(&p, &plus) - f(&p, &minus)) / 2e-6;
                        assert!((fd - ginit[i]).abs() < 1e-7, "{what} initial[{i}]: {fd} vs {}", ginit[i]);
                    }
                }
            }
        }
    }

    /// dF/d(path) by the plain recipe: store every state on the way
    /// forward, then apply the one-step gradient (`mul_exp_backward`,
    /// itself checked against finite differences) backwards.
    fn stored_states_backprop(p: &[f64], length: usize, dim: usize, degree: usize, g: &[f64]) -> Vec<f64> {
        let shape = TensorShape::new(dim, degree).unwrap();
        let mut states = vec![shape.identity::<f64>()];
        let mut scratch = vec![0.0; shape.mul_exp_scratch_len()];
        let dx = |j: usize| -> Vec<f64> { (0..dim).map(|c| p[(j + 1) * dim + c] - p[j * dim + c]).collect() };
        for j in 0..length - 1 {
            let mut s = states[j].clone();
            mul_exp_in_place(dim, &shape, &mut s, &dx(j), &mut scratch);
            states.push(s);
        }
        let mut gs = vec![0.0];
        gs.extend_from_slice(g);
        let (mut g_out, mut gdx, mut ws) = (vec![0.0; shape.len()], vec![0.0; dim], vec![0.0; shape.mul_exp_backward_ws_len()]);
        let mut grad = vec![0.0; p.len()];
        for j in (0..length - 1).rev() {
            mul_exp_backward(dim, &shape, &states[j], &dx(j), &gs, &mut g_out, &mut gdx, &mut ws);
            std::mem::swap(&mut gs, &mut g_out);
            for c in 0..dim {
                grad[(j + 1) * dim + c] += gdx[c];
                grad[j * dim + c] -= gdx[c];
            }
        }
        grad
    }

    #[test]
    fn blocked_backprop_equals_the_step_by_step_gradient() {
        // Every specialised dimension and a run-time one, with step counts
        // that are and are not multiples of the block, in f64 and f32.
        let block = crate::tensor::STEP_BLOCK;
        for (dim, degree) in [(2, 5), (3, 4), (4, 3), (5, 3), (6, 2), (7, 3), (8, 2), (12, 2), (16, 2), (16, 3), (20, 2), (3, 1), (2, 2)] {
            for length in [2, block + 1, 2 * block + 1, 2 * block + 4] {
                let p = path(1, length, dim, (dim * 100 + length) as u64);
                let len = crate::sig_length(dim, degree, false).unwrap();
                let g = path(1, len, 1, 7 + dim as u64);
                let mut s = vec![0.0; len];
                sig(&p, PathShape::new(1, length, dim), degree, PathTransform::NONE, false, 1, &mut s).unwrap();
                let mut grad = vec![0.0; p.len()];
                sig_backprop(&p, PathShape::new(1, length, dim), degree, PathTransform::NONE, &s, &g, false, 1, &mut grad).unwrap();
                let expected = stored_states_backprop(&p, length, dim, degree, &g);
                crate::test_util::close(&grad, &expected, 1e-12);

                let (p32, g32): (Vec<f32>, Vec<f32>) = (p.iter().map(|&x| x as f32).collect(), g.iter().map(|&x| x as f32).collect());
                let mut s32 = vec![0.0f32; len];
                sig(&p32, PathShape::new(1, length, dim), degree, PathTransform::NONE, false, 1, &mut s32).unwrap();
                let mut grad32 = vec![0.0f32; p.len()];
                sig_backprop(&p32, PathShape::new(1, length, dim), degree, PathTransform::NONE, &s32, &g32, false, 1, &mut grad32).unwrap();
                let grad32: Vec<f64> = grad32.iter().map(|&x| x as f64).collect();
                crate::test_util::close(&grad32, &expected, 1e-4);
            }
        }
    }

    #[test]
    fn time_split_backprop_equals_the_serial_one() {
        let (length, dim, degree) = (700, 3, 4);
        let shape = PathShape::new(1, length, dim);
        let p = path(1, length, dim, 51);
        for transform in TRANSFORMS {
            for (inverse, with_initial, scalar_term) in [(false, false, false), (true, true, true), (false, true, false)] {
                let n = crate::sig_length(transform.out_dim(dim), degree, scalar_term).unwrap();
                let mut init = path(1, n, 1, 53);
                init.iter_mut().for_each(|x| *x *= 0.1);
                if scalar_term {
                    init[0] = 1.0;
                }
                let g = path(1, n, 1, 57);
                let opts = SigOptions { transform, scalar_term, stream: false, inverse, initial: with_initial.then_some(&init[..]) };
                let mut s = vec![0.0; n];
                sig_with(&p, shape, degree, &opts, 1, &mut s).unwrap();
                let (mut serial, mut serial_init) = (vec![0.0; p.len()], vec![0.0; n]);
                sig_backprop_with(&p, shape, degree, &opts, &s, &g, 1, &mut serial, Some(&mut serial_init)).unwrap();
                // The pieces directly (whatever the core count), and through
                // the public entry point with two threads.
                let plan = SigPlan::new(shape, degree, &opts).unwrap();
                let (mut split, mut split_init) = (vec![0.0; p.len()], vec![0.0; n]);
                let mut combined = vec![(&mut split[..], Some(&mut split_init[..]))];
                sig_backprop_chunked(&p, shape, &plan, transform, 3, &g, 1, &mut combined).unwrap();
                let what = format!("{transform:?} inverse={inverse} initial={with_initial}");
                for (x, y) in split.iter().zip(&serial).chain(split_init.iter().zip(&serial_init)) {
                    assert!((x - y).abs() < 1e-10 * (1.0 + y.abs()), "{what}: {x} vs {y}");
                }
                let (mut two, mut two_init) = (vec![0.0; p.len()], vec![0.0; n]);
                sig_backprop_with(&p, shape, degree, &opts, &s, &g, 2, &mut two, Some(&mut two_init)).unwrap();
                for (x, y) in two.iter().zip(&serial).chain(two_init.iter().zip(&serial_init)) {
                    assert!((x - y).abs() < 1e-10 * (1.0 + y.abs()), "{what}, two threads: {x} vs {y}");
                }
            }
        }
    }
}
