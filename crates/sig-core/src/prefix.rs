//! Steps by prefix: the signature step for states too large for the caches.
//!
//! A step `s <- s (x) exp(dx)` reads and writes the whole state. Past the
//! L2 cache every block of steps streams the top levels (and their per-step
//! products, as large) through L3 or memory, and the step kernels ran at a
//! quarter to a third of the machine's peak there, against two thirds in
//! cache. But each level k > q of the state is `d^q` parts, one per word
//! `p` of length q (the entries `p w`), and the part below `p` changes
//! with its own entries and, per step and level, one number: where that
//! level's Horner chain stands at `p` (the chain's `u_q + s_q` at `p`,
//! which carries everything the words up to length q contribute). So a
//! run of steps takes the words up to length q first, step by step,
//! leaving those numbers (the *starts*), and then each part in turn runs
//! all the steps while it stays in cache. The multiply-adds are the plain
//! kernels' own, in the same order: the same numbers bit for bit.
//!
//! [`PrefixSplit`] holds a run's buffers. The kernel for a group of paths,
//! one per SIMD lane ([`crate::lanes::mul_exp_steps_by_prefix_lanes`]),
//! and the one for a single path ([`mul_exp_steps_by_prefix`], whose parts
//! go side by side in the lanes) share it; each part runs through a block
//! kernel with the starts in place of level 0.

use crate::alloc::{scratch_any, Scratch};
use crate::error::Result;
use crate::tensor::{horner_chain, horner_levels, mul_exp_block_kernel, TensorShape, STEP_BLOCK};
use crate::Float;

/// Lane groups whose states take more than this many bytes run their
/// steps by prefix ([`crate::lanes::mul_exp_steps_by_prefix_lanes`]).
/// Measured against the plain kernel (one thread, both types): 1.17-2.34x
/// at 8.4-22 MB (d = 2 degree 16, d = 3 degree 11, d = 4 degree 9, d = 5
/// degree 8, d = 6 degree 7 in float64), but 0.89-1.12x at 2.8-5.6 MB
/// (d = 3 degree 10, d = 4 degree 8), where the states still fit L3 and the
/// parts' per-step overheads weigh as much as the traffic saved; float32
/// d = 6 degree 7 (10.7 MB, parts of degree 4) 0.97x.
const LANES_SPLIT_MIN_BYTES: usize = 6 << 20;
/// One path's state above this many bytes runs its steps by prefix
/// ([`mul_exp_steps_by_prefix`]). Measured against the plain block kernel
/// (one thread, 65 points unless said): 1.1-2.4x at 1.3-19 MB (float64
/// d = 6 degree 8 1.5-1.7x, d = 8 degree 7 (3 paths) 2.4x, d = 8 degree 6
/// 1.24-1.32x, d = 12 degree 5 1.18-1.27x, d = 10 degree 6 1.22x, d = 5
/// degree 8 1.16x, d = 20 degree 4 1.13x; float32 d = 6 degree 7 1.13x,
/// d = 4 degree 9 1.08x), about even at 0.9-2.7 MB (float64 d = 7
/// degree 6 0.99x, d = 10 degree 5 1.02x, d = 6 degree 7 0.98-1.05x), and
/// mixed below: float64 d = 4 degree 8 (0.7 MB) 1.08x, d = 5 degree 7
/// 1.10x, but d = 16 degree 4 (0.56 MB, parts of degree 3) 0.85-0.87x,
/// d = 12 degree 4 0.88x, d = 8 degree 5 0.95x.
const ONE_PATH_SPLIT_MIN_BYTES: usize = 1 << 20;
/// [`ONE_PATH_SPLIT_MIN_BYTES`] for float32 at d = 8, where the plain
/// kernel's rows are one whole vector each: the split measured 0.66-0.77x
/// at degree 6 (1.2 MB) whatever the parts' size, 1.18x at degree 7
/// (9.6 MB).
const ONE_PATH_F32_D8_SPLIT_MIN_BYTES: usize = 4 << 20;
/// The most bytes one prefix's part of the states should take: half of a
/// 512 KiB L2, leaving room for its workspace.
const PREFIX_PART_BYTES: usize = 256 * 1024;
/// Steps a run by prefix takes at once: each part runs them all while it
/// stays in cache.
pub(crate) const PREFIX_SPLIT_STEPS: usize = 64;

/// The buffers of a run by prefix, for one path or one group of lanes.
pub(crate) struct PrefixSplit<T: 'static> {
    pub(crate) q: usize,
    /// Lanes per group of parts (1: one path's parts one at a time).
    width: usize,
    /// One part's shape: degree N - q.
    pub(crate) part_shape: TensorShape,
    /// One part of every lane's state (level 0 unused; for one path, only
    /// the levels below the part's top, which is worked on in place).
    pub(crate) part: Scratch<T>,
    /// Entry `((p PREFIX_SPLIT_STEPS + t) (N - q) + k - 1) L` (lanes `L`,
    /// 1 for one path): where the chain of level q + k stands at word p
    /// before step t.
    pub(crate) starts: Scratch<T>,
    pub(crate) chain: Scratch<T>,
    pub(crate) ws: Scratch<T>,
    /// Entries of levels 0..=q (the words run step by step).
    low_len: usize,
    /// Whether the levels above q are zero (a group's first run): the
    /// parts then start from zeros, not from the state, which need not
    /// hold them (see [`PrefixSplit::start_fresh`]).
    pub(crate) fresh: bool,
    /// For one path: the buffers of its parts left over from whole groups
    /// of lanes (see [`mul_exp_steps_by_prefix`]).
    one: Option<LeftoverParts<T>>,
}

/// One path's parts beyond the last whole group of lanes, one at a time:
/// a part's levels below its top, the per-path block kernel's workspace,
/// the part's starts (entry `t (N - q) + k - 1`), and the increments of a
/// run in every lane.
struct LeftoverParts<T: 'static> {
    part: Scratch<T>,
    ws: Scratch<T>,
    starts: Scratch<T>,
    lane_dxs: Scratch<T>,
}

impl<T: Float> PrefixSplit<T> {
    /// The buffers for groups of `width` lanes, if their states are large
    /// enough to run by prefix.
    pub(crate) fn for_lanes(shape: &TensorShape, width: usize) -> Result<Option<Self>> {
        Self::with_limits(shape, width, LANES_SPLIT_MIN_BYTES, PREFIX_PART_BYTES, crate::lanes::block_ws_len)
    }

    /// The buffers for one path's state, if it is large enough to run by
    /// prefix.
    pub(crate) fn for_one_path(shape: &TensorShape) -> Result<Option<Self>> {
        // Float32 rows of 8 are one whole vector each, the plain kernel's best case.
        let min_bytes = if std::mem::size_of::<T>() == 4 && shape.dim == 8 { ONE_PATH_F32_D8_SPLIT_MIN_BYTES } else { ONE_PATH_SPLIT_MIN_BYTES };
        Self::one_path_with_limits(shape, min_bytes, PREFIX_PART_BYTES)
    }

    /// [`for_one_path`](Self::for_one_path) with the limits of
    /// [`with_limits`](Self::with_limits) given (tests split small states).
    fn one_path_with_limits(shape: &TensorShape, min_bytes: usize, part_max_bytes: usize) -> Result<Option<Self>> {
        let bytes = shape.len().saturating_mul(std::mem::size_of::<T>());
        if bytes <= min_bytes {
            return Ok(None);
        }
        // Parts in the lanes but where the per-path kernel's rows are whole
        // vectors and the lanes kernel's are many (d >= 12): float64 d = 12
        // and 20 measured 0.85x and 0.93x in the lanes against one part at
        // a time, float32 d = 16 0.85x; float32 d = 12 (rows of one and a
        // half vectors) 1.43x.
        let d = shape.dim;
        let in_lanes = d <= 10 || d % crate::lanes::lanes::<T>() != 0;
        let width = if in_lanes { crate::lanes::lanes::<T>() } else { 1 };
        let ws_len = if in_lanes { crate::lanes::block_ws_len } else { |_: &TensorShape, _| 0 };
        let Some(mut split) = Self::with_limits(shape, width, 0, part_max_bytes, ws_len)? else {
            return Ok(None);
        };
        let what = "a signature's workspace";
        let part_shape = &split.part_shape;
        split.one = Some(LeftoverParts {
            part: scratch_any(what, part_shape.len())?,
            ws: scratch_any(what, part_shape.mul_exp_block_ws_len())?,
            starts: scratch_any(what, PREFIX_SPLIT_STEPS * part_shape.degree)?,
            lane_dxs: scratch_any(what, PREFIX_SPLIT_STEPS * shape.dim * width)?,
        });
        Ok(Some(split))
    }

    /// The buffers for states of `width` lanes (1: one path) above
    /// `min_bytes`, split by the shortest words that bring a part within
    /// `part_max_bytes`, leaving parts of degree 3 at least; `ws_len` is
    /// the block kernel's workspace for a part's shape and `width`.
    pub(crate) fn with_limits(shape: &TensorShape, width: usize, min_bytes: usize, part_max_bytes: usize, ws_len: fn(&TensorShape, usize) -> usize) -> Result<Option<Self>> {
        let (d, n) = (shape.dim, shape.degree);
        let bytes = |len: usize| len.saturating_mul(width).saturating_mul(std::mem::size_of::<T>());
        if d < 2 || n < 4 || bytes(shape.len()) <= min_bytes {
            return Ok(None);
        }
        let part_bytes = |q: usize| crate::tensor::sig_length(d, n - q, true).map_or(usize::MAX, bytes);
        let q = (1..=n - 3).find(|&q| part_bytes(q) <= part_max_bytes).unwrap_or(n - 3);
        let part_shape = TensorShape::new(d, n - q)?;
        let what = "a signature's workspace";
        Ok(Some(PrefixSplit {
            q,
            width,
            part: scratch_any(what, part_shape.len() * width)?,
            starts: scratch_any(what, shape.level_len(q).next_multiple_of(width) * PREFIX_SPLIT_STEPS * part_shape.degree * width)?,
            chain: scratch_any(what, shape.level(q).end * width)?,
            ws: scratch_any(what, ws_len(&part_shape, width))?,
            part_shape,
            low_len: shape.level(q).end,
            fresh: false,
            one: None,
        }))
    }

    /// Entries per lane of the levels that the caller must set before a
    /// [`start_fresh`](Self::start_fresh) run: 0..=q.
    pub(crate) fn low_len(&self) -> usize {
        self.low_len
    }

    /// The next run starts from states whose levels above q are zero
    /// without reading them: only levels 0..=q of the state are set. A
    /// short path with a large signature otherwise spent a tenth of its
    /// time zeroing the states and reading the zeros back (d = 6,
    /// degree 8: 64 MB a group of lanes).
    pub(crate) fn start_fresh(&mut self) {
        self.fresh = true;
    }
}

crate::simd::specialised! {
    /// `crate::tensor::mul_exp_block_kernel` over `count <=
    /// PREFIX_SPLIT_STEPS` steps of one path (increments row-major in
    /// `dxs`), by prefix (see the module's documentation): `s` holds the
    /// state's levels below the top, `top` its top level (`fresh`: taken to
    /// be zero, never read), as for the block kernel. The parts run as one
    /// path's would in a group of SIMD lanes, a part per lane
    /// (`crate::lanes::mul_exp_block_lanes_below_prefix`, the same increments in every
    /// lane): through the per-path kernel, rows of d numbers fill vectors
    /// only in part, and small parts' rows are short loops (float64 d = 5,
    /// degree 8: 2.0x, d = 3, degree 11: 2.9x; the same numbers bit for
    /// bit, the lanes kernel rounding as the per-path one). Parts left over
    /// from whole groups, and every part where the split's groups are one
    /// lane wide (see [`PrefixSplit::for_one_path`]), go through the
    /// per-path kernel. `split` must come from `for_one_path`.
    pub(crate) fn mul_exp_steps_by_prefix<T>(d: usize, shape: &TensorShape, s: &mut [T], top: &mut [T], fresh: bool, dxs: &[T], count: usize, split: &mut PrefixSplit<T>) = by_prefix_kernel;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn by_prefix_kernel<T: Float, const D: usize, const FMA: bool>(
    d_rt: usize,
    shape: &TensorShape,
    s: &mut [T],
    top: &mut [T],
    fresh: bool,
    dxs: &[T],
    count: usize,
    split: &mut PrefixSplit<T>,
) {
    let d = if D == 0 { d_rt } else { D };
    let q = split.q;
    let width = split.width;
    let PrefixSplit { part_shape, part, starts, chain, ws, one, .. } = split;
    let one = one.as_mut().expect("a split for one path");
    let part_n = part_shape.degree;
    assert!(count <= PREFIX_SPLIT_STEPS && dxs.len() >= count * d && q + part_n == shape.degree);
    let words = shape.level(q);
    // Word p's starts are lane p % width of group p / width.
    let at = |p: usize, t: usize, k: usize| (((p / width) * PREFIX_SPLIT_STEPS + t) * part_n + k - 1) * width + p % width;
    for t in 0..count {
        let dx = &dxs[t * d..(t + 1) * d];
        for k in 1..=part_n {
            horner_chain::<T, D, FMA>(d, shape, s, dx, chain, q + k, q, None);
            for (p, (&u, &v)) in chain[words.clone()].iter().zip(&s[words.clone()]).enumerate() {
                starts[at(p, t, k)] = u + v;
            }
        }
        horner_levels::<T, D, FMA>(d, shape, s, dx, chain, q, None);
    }
    for (x, lanes) in dxs[..count * d].iter().zip(one.lane_dxs.chunks_exact_mut(width)) {
        lanes.fill(*x);
    }
    // Level k of the parts of words p0..p0 + n: `n` rows of `len` numbers,
    // one after the other in the state.
    let rows_of = |k: usize, p0: usize, n: usize| {
        let len = part_shape.level_len(k);
        let from = if k < part_n { shape.level(q + k).start } else { 0 } + p0 * len;
        (from..from + n * len, len)
    };
    let groups = if width > 1 { words.len() / width } else { 0 };
    for g in 0..groups {
        let p0 = g * width;
        // Level 0 of a part is never read (its chains take `starts`).
        part[..width].fill(T::nan());
        for k in 1..=part_n {
            let (rows, len) = rows_of(k, p0, width);
            let first = part_shape.level(k).start;
            match k {
                k if k < part_n => crate::lanes::rows_to_lanes(&s[rows], len, 0, width, part, first),
                _ if fresh => part[first * width..].fill(T::zero()),
                _ => crate::lanes::rows_to_lanes(&top[rows], len, 0, width, part, first),
            }
        }
        let mut i = 0;
        while i < count {
            let block = (count - i).min(STEP_BLOCK);
            let starts_g = &starts[(g * PREFIX_SPLIT_STEPS + i) * part_n * width..(g * PREFIX_SPLIT_STEPS + i + block) * part_n * width];
            crate::lanes::mul_exp_block_lanes_below_prefix(d, width, part_shape, part, &one.lane_dxs[i * d * width..(i + block) * d * width], block, ws, starts_g);
            i += block;
        }
        for k in 1..=part_n {
            let (rows, _) = rows_of(k, p0, width);
            let first = part_shape.level(k).start;
            let dst = if k < part_n { &mut s[rows] } else { &mut top[rows] };
            crate::lanes::lanes_to_rows(part, width, first, dst);
        }
    }
    let below_top = part_shape.level(part_n).start;
    for p in groups * width..words.len() {
        for t in 0..count {
            for k in 1..=part_n {
                one.starts[t * part_n + k - 1] = starts[at(p, t, k)];
            }
        }
        one.part[0] = T::nan();
        for k in 1..part_n {
            let (rows, _) = rows_of(k, p, 1);
            one.part[part_shape.level(k)].copy_from_slice(&s[rows]);
        }
        let top_p = &mut top[rows_of(part_n, p, 1).0];
        let mut i = 0;
        while i < count {
            let block = (count - i).min(STEP_BLOCK);
            mul_exp_block_kernel::<T, D, FMA>(d, part_shape, &mut one.part[..below_top], top_p, fresh && i == 0, &dxs[i * d..(i + block) * d], block, &mut one.ws, Some(&one.starts[i * part_n..(i + block) * part_n]));
            i += block;
        }
        for k in 1..part_n {
            let (rows, _) = rows_of(k, p, 1);
            s[rows].copy_from_slice(&one.part[part_shape.level(k)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random;

    crate::simd::specialised! {
        /// The plain block kernel, dispatched as the kernel by prefix is.
        fn plain_block<T>(d: usize, shape: &TensorShape, s: &mut [T], top: &mut [T], fresh: bool, dxs: &[T], count: usize, ws: &mut [T]) = plain_block_body;
    }

    #[allow(clippy::too_many_arguments)]
    fn plain_block_body<T: Float, const D: usize, const FMA: bool>(d: usize, shape: &TensorShape, s: &mut [T], top: &mut [T], fresh: bool, dxs: &[T], count: usize, ws: &mut [T]) {
        mul_exp_block_kernel::<T, D, FMA>(d, shape, s, top, fresh, dxs, count, ws, None);
    }

    #[test]
    fn one_path_by_prefix_equals_the_plain_blocks_bit_for_bit() {
        // Parts of degree 3 and more, words of length 1-3, compile-time and
        // run-time dimensions (d = 9), a run of 64 steps and a partial one
        // (its last block partial too), from a state and from a fresh top.
        // Parts in whole groups of lanes with none, some or all words left
        // over (d^q against 4 or 8 lanes), and one at a time (float64
        // d = 12, float32 d = 16). The lanes kernel rounds as the per-path
        // one does, so the parts' route changes no number.
        fn check<T: Float>(dim: usize, degree: usize, part_max_bytes: usize, count: usize) {
            let shape = TensorShape::new(dim, degree).unwrap();
            let below_top = shape.level(degree).start;
            let mut seed = (dim * 1000 + degree * 10 + count) as u64;
            let conv = |v: Vec<f64>| -> Vec<T> { v.into_iter().map(|x| T::from_f64(x).unwrap()).collect() };
            let start = conv(random(shape.len(), &mut seed));
            let dxs = conv(random(count * dim, &mut seed));
            let mut split = PrefixSplit::<T>::one_path_with_limits(&shape, 0, part_max_bytes).unwrap().expect("split");
            assert!(split.q >= 1 && split.part_shape.degree >= 3);
            let lanes = crate::lanes::lanes::<T>();
            assert_eq!(split.width, if dim <= 10 || dim % lanes != 0 { lanes } else { 1 });
            let mut ws = vec![T::nan(); shape.mul_exp_block_ws_len()];
            for fresh in [false, true] {
                let mut plain = start.clone();
                let mut by_prefix = start.clone();
                if fresh {
                    plain[below_top..].fill(T::zero());
                    by_prefix[below_top..].fill(T::nan());
                }
                {
                    let (lower, top) = plain.split_at_mut(below_top);
                    for i in (0..count).step_by(STEP_BLOCK) {
                        let block = (count - i).min(STEP_BLOCK);
                        plain_block(dim, &shape, lower, top, fresh && i == 0, &dxs[i * dim..(i + block) * dim], block, &mut ws);
                    }
                }
                let (lower, top) = by_prefix.split_at_mut(below_top);
                mul_exp_steps_by_prefix(dim, &shape, lower, top, fresh, &dxs, count, &mut split);
                for (i, (x, y)) in by_prefix.iter().zip(&plain).enumerate() {
                    assert!(x == y, "dim {dim} degree {degree} count {count} fresh {fresh} entry {i}: {x:?} vs {y:?}");
                }
            }
        }
        for (dim, degree, part_max_bytes) in [(2, 6, 0), (2, 7, 1024), (3, 5, 0), (3, 6, 4096), (4, 5, 0), (5, 4, 0), (6, 6, 4096), (9, 4, 0), (12, 4, 0), (16, 4, 0)] {
            for count in [PREFIX_SPLIT_STEPS, 21] {
                check::<f64>(dim, degree, part_max_bytes, count);
                check::<f32>(dim, degree, part_max_bytes, count);
            }
        }
    }
}
