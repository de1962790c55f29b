//! The signature step for several paths at once, one path per SIMD lane.
//!
//! The per-path kernels of [`crate::tensor`] vectorise along a level's rows,
//! which are `d` numbers wide: for small `d` that is a fraction of a vector
//! register (a d = 2 row is half an AVX register in f64, a quarter in f32)
//! and those kernels ran at about 10% of the machine's peak. Here every
//! number of the state is a vector of `L` numbers, one per path, so every
//! operation of the Horner step is a full-width vector instruction whatever
//! `d` is, and no lane ever waits on another.
//!
//! Layout: entry `i` of the tensor of lane `l` is at `i * L + l`; increments
//! of a block of steps are `dxs[(t * d + b) * L + l]`. `L` is
//! [`lanes::<T>()`](lanes): one 256-bit register.
//!
//! The scheme builds on [`crate::tensor::mul_exp_block_kernel`] (see there),
//! Horner per level, but takes the top two levels, not only the top, a block of
//! [`STEP_BLOCK`] steps at a time: the levels below go step by step and
//! leave two coefficients per entry of level N-2 and step, from which
//! levels N-1 and N are then updated entry by entry, each held in registers
//! across the block (`last_levels_in_registers`). Level 0 of every lane is
//! 1 (a signature), which saves its multiplications.

use std::array::from_fn;
use std::ops::Range;

use crate::prefix::{PrefixSplit, PREFIX_SPLIT_STEPS};
use crate::simd::fmadd;
use crate::tensor::{TensorShape, STEP_BLOCK};
use crate::{recip, Float};

/// Paths per group: one 256-bit vector of `T`.
#[inline(always)]
pub(crate) const fn lanes<T>() -> usize {
    32 / std::mem::size_of::<T>()
}

/// Scratch entries [`mul_exp_block_lanes`] needs for `width` lanes.
pub(crate) fn block_ws_len(shape: &TensorShape, width: usize) -> usize {
    let n = shape.degree;
    (2 * shape.level(n).start + 2 * shape.level_len(n.saturating_sub(2)) * STEP_BLOCK) * width
}

/// Paths per group of the forward lanes kernel for dimension `d` at
/// `sig_len` entries per state: two vectors of lanes or one. Small
/// signatures are bound by loop overhead, which wider groups share out.
/// Measured against one vector (`benches/ab_native.py`):
/// - d = 2: two vectors, faster at every degree (float64 1.1-1.3x, float32
///   1.08-1.31x at degrees 3-7);
/// - d = 3 and 4, while a group's state fills at most half of L1
///   ([`FORWARD_WIDE_STATE_BYTES`]): float64 d = 3 1.02-1.09x at degrees
///   2-4, float32 d = 3 1.07-1.13x at degrees 2-4, float32 d = 4 1.07-1.10x
///   at degrees 2-3; beyond it d = 3 at degree 5 0.99-1.06x, float64 d = 3
///   at degree 7 0.93x, float32 d = 3 at degree 6 1.00x, float32 d = 4 at
///   degrees 4-5 0.91-1.03x ((128, 3000, 4, 4): 0.94-0.96x);
/// - float64 d = 4 at any size: 1.10-1.26x at degrees 2-7;
/// - d = 5 and more (ten vectors a row and more): 0.49-0.83x.
pub(crate) fn forward_width<T>(d: usize, sig_len: usize) -> usize {
    let one = lanes::<T>();
    let float64 = std::mem::size_of::<T>() == 8;
    let small = sig_len * 2 * one * std::mem::size_of::<T>() <= FORWARD_WIDE_STATE_BYTES;
    if d <= 2 || (d <= 4 && small) || (d == 4 && float64) { 2 * one } else { one }
}

/// Bytes of a lane group's state up to which [`forward_width`] doubles the
/// group at d = 3 and 4: half of a 32 KiB L1 data cache.
const FORWARD_WIDE_STATE_BYTES: usize = 16 * 1024;

/// How a batch splits between the lanes and the per-path kernels, for
/// groups of `width` paths on `threads` threads: paths `0..wide` in groups
/// of `group`, then `wide..wide + narrow` in one group of `group / 2` where
/// the rest fills it and that is still whole vectors, the rest one by one.
/// `group` is `width`, or half of it where whole groups of `width` would
/// leave a thread without one. Returns `(group, wide, narrow)`.
pub(crate) fn lane_groups<T>(batch: usize, width: usize, threads: usize) -> (usize, usize, usize) {
    let halves = width / 2 >= lanes::<T>();
    let group = if halves && batch / width < threads { width / 2 } else { width };
    let wide = batch / group * group;
    let half = group / 2;
    let narrow = if half >= lanes::<T>() && batch - wide >= half { half } else { 0 };
    (group, wide, narrow)
}

/// Where the levels of a tensor lie, for the kernels here: a
/// [`TensorShape`] read at run time, or a [`FixedShape`] known at compile
/// time.
pub(crate) trait Levels: Copy {
    fn degree(self) -> usize;
    fn level(self, k: usize) -> Range<usize>;
    fn level_len(self, k: usize) -> usize;
}

impl Levels for &TensorShape {
    #[inline(always)]
    fn degree(self) -> usize {
        self.degree
    }
    #[inline(always)]
    fn level(self, k: usize) -> Range<usize> {
        TensorShape::level(self, k)
    }
    #[inline(always)]
    fn level_len(self, k: usize) -> usize {
        TensorShape::level_len(self, k)
    }
}

/// The shape of T^N(R^D) at compile time: small low-dimensional tensors,
/// whose steps are a few short loops over levels of 2-27 entries. With the
/// levels' bounds constants those loops unroll and the levels' offsets
/// fold into the addresses. `D` is at least 2 (level `k` starts at
/// `(D^k - 1) / (D - 1)`).
#[derive(Clone, Copy)]
pub(crate) struct FixedShape<const D: usize, const N: usize>;

impl<const D: usize, const N: usize> Levels for FixedShape<D, N> {
    #[inline(always)]
    fn degree(self) -> usize {
        N
    }
    #[inline(always)]
    fn level(self, k: usize) -> Range<usize> {
        let start = (D.pow(k as u32) - 1) / (D - 1);
        start..start + D.pow(k as u32)
    }
    #[inline(always)]
    fn level_len(self, k: usize) -> usize {
        D.pow(k as u32)
    }
}

#[inline(always)]
fn get<T: Copy, const L: usize>(x: &[T]) -> [T; L] {
    x[..L].try_into().expect("lane vectors have L entries")
}

#[inline(always)]
fn put<T: Copy, const L: usize>(x: &mut [T], v: [T; L]) {
    x[..L].copy_from_slice(&v);
}

/// Level `i + 1` of a Horner chain from level `i`:
/// `out[a, b] = c (u[a] + s[a]) dx[b]`, for every lane.
#[inline(always)]
fn chain_level<T: Float, const D: usize, const L: usize>(d: usize, c: T, u: &[T], s: &[T], dx: &[T], out: &mut [T]) {
    let dx = &dx[..d * L];
    for ((o_row, u_a), s_a) in out.chunks_exact_mut(d * L).zip(u.chunks_exact(L)).zip(s.chunks_exact(L)) {
        let (u_a, s_a): ([T; L], [T; L]) = (get(u_a), get(s_a));
        let v: [T; L] = from_fn(|l| (u_a[l] + s_a[l]) * c);
        for (o, x) in o_row.chunks_exact_mut(L).zip(dx.chunks_exact(L)) {
            let x: [T; L] = get(x);
            put::<T, L>(o, from_fn(|l| v[l] * x[l]));
        }
    }
}

/// Fills levels 1..=upto of `chain` with level k's Horner products
/// (see `crate::tensor::horner_chain`; here `s_0 = 1`, or the lanes at
/// `start` for a part below a prefix: see [`mul_exp_block_lanes`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn horner_chain<T: Float, const D: usize, const L: usize, S: Levels>(d: usize, shape: S, s: &[T], dx: &[T], chain: &mut [T], k: usize, upto: usize, start: Option<&[T]>) {
    let c = recip::<T>(k);
    match start {
        None => {
            for (u, &x) in chain[L..(1 + d) * L].iter_mut().zip(&dx[..d * L]) {
                *u = c * x;
            }
        }
        Some(start) => {
            let start: [T; L] = get(start);
            let c0: [T; L] = from_fn(|l| start[l] * c);
            for (u, x) in chain[L..(1 + d) * L].chunks_exact_mut(L).zip(dx.chunks_exact(L)) {
                let x: [T; L] = get(x);
                put::<T, L>(u, from_fn(|l| c0[l] * x[l]));
            }
        }
    }
    for i in 1..upto {
        let (lo, hi) = chain.split_at_mut(shape.level(i + 1).start * L);
        let level = shape.level(i);
        chain_level::<T, D, L>(d, recip::<T>(k - i), &lo[level.start * L..level.end * L], &s[level.start * L..level.end * L], dx, &mut hi[..shape.level_len(i + 1) * L]);
    }
}

/// `row[b] += v dx[b]`, for every lane.
#[inline(always)]
fn update_row<T: Float, const L: usize, const FMA: bool>(v: [T; L], dx: &[T], row: &mut [T]) {
    for (o, x) in row.chunks_exact_mut(L).zip(dx.chunks_exact(L)) {
        let (x, y): ([T; L], [T; L]) = (get(x), get(o));
        put::<T, L>(o, from_fn(|l| fmadd::<T, FMA>(v[l], x[l], y[l])));
    }
}

/// Levels `top..=1` of `s <- s (x) exp(dx)`, top first (see
/// `crate::tensor::horner_levels`); with `starts`, chain k starts from the
/// lanes at `starts[(k - 1) L..]` (see [`mul_exp_block_lanes`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn horner_levels<T: Float, const D: usize, const L: usize, const FMA: bool, S: Levels>(d: usize, shape: S, s: &mut [T], dx: &[T], chain: &mut [T], top: usize, starts: Option<&[T]>) {
    let dx = &dx[..d * L];
    let start = |k: usize| starts.map(|starts| &starts[(k - 1) * L..k * L]);
    for k in (2..=top).rev() {
        let (lower, upper) = s.split_at_mut(shape.level(k).start * L);
        let s_k = &mut upper[..shape.level_len(k) * L];
        let below = shape.level(k - 1);
        let s_below = &lower[below.start * L..below.end * L];
        if k == 2 {
            horner_chain::<T, D, L, _>(d, shape, lower, dx, chain, k, k - 1, start(k));
            let u = &chain[below.start * L..below.end * L];
            for ((row, u_a), s_a) in s_k.chunks_exact_mut(d * L).zip(u.chunks_exact(L)).zip(s_below.chunks_exact(L)) {
                let (u_a, s_a): ([T; L], [T; L]) = (get(u_a), get(s_a));
                let v: [T; L] = from_fn(|l| u_a[l] + s_a[l]);
                update_row::<T, L, FMA>(v, dx, row);
            }
            continue;
        }
        // The chain's last level (k - 1) is made entry by entry as the
        // rows of level k take it, never stored: at d = 2 the chains'
        // stores, one per multiply-add, bound the levels below N-1.
        horner_chain::<T, D, L, _>(d, shape, lower, dx, chain, k, k - 2, start(k));
        let two_below = shape.level(k - 2);
        let (u, s_two_below) = (&chain[two_below.start * L..two_below.end * L], &lower[two_below.start * L..two_below.end * L]);
        let half = recip::<T>(2);
        for (((rows, s_row), u_a), s_a) in s_k.chunks_exact_mut(d * d * L).zip(s_below.chunks_exact(d * L)).zip(u.chunks_exact(L)).zip(s_two_below.chunks_exact(L)) {
            let (u_a, s_a): ([T; L], [T; L]) = (get(u_a), get(s_a));
            let v_a: [T; L] = from_fn(|l| (u_a[l] + s_a[l]) * half);
            for ((row, s_ab), x) in rows.chunks_exact_mut(d * L).zip(s_row.chunks_exact(L)).zip(dx.chunks_exact(L)) {
                let (s_ab, x): ([T; L], [T; L]) = (get(s_ab), get(x));
                let v: [T; L] = from_fn(|l| v_a[l] * x[l] + s_ab[l]);
                update_row::<T, L, FMA>(v, dx, row);
            }
        }
    }
    if top >= 1 {
        match start(1) {
            None => {
                for (r, &x) in s[L..(1 + d) * L].iter_mut().zip(dx) {
                    *r += x;
                }
            }
            Some(start) => {
                let start: [T; L] = get(start);
                for (r, x) in s[L..(1 + d) * L].chunks_exact_mut(L).zip(dx.chunks_exact(L)) {
                    let (y, x): ([T; L], [T; L]) = (get(r), get(x));
                    put::<T, L>(r, from_fn(|l| fmadd::<T, FMA>(start[l], x[l], y[l])));
                }
            }
        }
    }
}

crate::simd::specialised! {
    /// `s <- s (x) exp(dx_0) (x) ... (x) exp(dx_{count-1})` for every lane,
    /// `count <= STEP_BLOCK`; `ws` needs [`block_ws_len`] entries.
    pub(crate) fn mul_exp_block_lanes<T>(d: usize, width: usize, shape: &TensorShape, s: &mut [T], dxs: &[T], count: usize, ws: &mut [T]) = mul_exp_block_body;
}

crate::simd::specialised! {
    /// [`mul_exp_block_lanes`] where `s` holds the parts of the lanes'
    /// states below one word `p` of length `q` each (see
    /// [`crate::prefix`]): level 0 is not read, and the chain of level k
    /// starts at step t from the lanes at `starts[(t N + k - 1) L..]`.
    /// Degree 3 at least. A dispatcher of its own: with the starts an
    /// argument of the plain one, the plain lane paths (which pass none)
    /// measured 0.85-0.91x (d = 2, degrees 4-5), the check no longer
    /// folded away.
    pub(crate) fn mul_exp_block_lanes_below_prefix<T>(d: usize, width: usize, shape: &TensorShape, s: &mut [T], dxs: &[T], count: usize, ws: &mut [T], starts: &[T]) = below_prefix_body;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn below_prefix_body<T: Float, const D: usize, const FMA: bool>(d: usize, width: usize, shape: &TensorShape, s: &mut [T], dxs: &[T], count: usize, ws: &mut [T], starts: &[T]) {
    match width {
        4 => mul_exp_block_kernel::<T, D, 4, FMA, _>(d, shape, s, dxs, count, ws, Some(starts)),
        8 => mul_exp_block_kernel::<T, D, 8, FMA, _>(d, shape, s, dxs, count, ws, Some(starts)),
        16 => mul_exp_block_kernel::<T, D, 16, FMA, _>(d, shape, s, dxs, count, ws, Some(starts)),
        _ => unreachable!("groups are one or two vectors wide"),
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mul_exp_block_body<T: Float, const D: usize, const FMA: bool>(d: usize, width: usize, shape: &TensorShape, s: &mut [T], dxs: &[T], count: usize, ws: &mut [T]) {
    // The smallest low-dimensional shapes at compile time (see
    // [`FixedShape`]), against the run-time shape, process against process
    // (`benches/ab_native.py`-style, 8 processes a side): float64 (256,
    // 200, 2, 4) 1.16-1.26x, float32 1.10-1.24x, float64 (256, 200, 2, 3)
    // 1.09-1.12x, (1000, 50, 3, 3) 1.12-1.23x. Larger ones measured
    // 0.86-1.03x (d = 3 at degrees 4-5, d = 2 at degree 5: the unrolled
    // steps outgrow the registers), and the backward pass, whose inverse
    // steps run `horner_levels` too, 0.92-1.13x: neither takes them.
    match (D, shape.degree) {
        (2 | 3, 3) => return plain_block_width::<T, D, FMA, _>(d, width, FixedShape::<D, 3>, s, dxs, count, ws),
        (2, 4) => return plain_block_width::<T, D, FMA, _>(d, width, FixedShape::<D, 4>, s, dxs, count, ws),
        _ => {}
    }
    plain_block_width::<T, D, FMA, _>(d, width, shape, s, dxs, count, ws)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn plain_block_width<T: Float, const D: usize, const FMA: bool, S: Levels>(d: usize, width: usize, shape: S, s: &mut [T], dxs: &[T], count: usize, ws: &mut [T]) {
    match width {
        4 => mul_exp_block_kernel::<T, D, 4, FMA, _>(d, shape, s, dxs, count, ws, None),
        8 => mul_exp_block_kernel::<T, D, 8, FMA, _>(d, shape, s, dxs, count, ws, None),
        16 => mul_exp_block_kernel::<T, D, 16, FMA, _>(d, shape, s, dxs, count, ws, None),
        _ => unreachable!("groups are one or two vectors wide"),
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mul_exp_block_kernel<T: Float, const D: usize, const L: usize, const FMA: bool, S: Levels>(d_rt: usize, shape: S, s: &mut [T], dxs: &[T], count: usize, ws: &mut [T], starts: Option<&[T]>) {
    let d = if D == 0 { d_rt } else { D };
    let n = shape.degree();
    if n == 0 || d == 0 {
        return;
    }
    assert!(starts.is_none_or(|starts| n >= 3 && starts.len() >= count * n * L), "a part below a prefix needs degree 3 and a start per level and step");
    if n == 1 {
        for dx in dxs[..count * d * L].chunks_exact(d * L) {
            for (r, &x) in s[L..(1 + d) * L].iter_mut().zip(dx) {
                *r += x;
            }
        }
        return;
    }
    // Levels up to N-2, step by step. Each step leaves two coefficients per
    // entry `a` of level N-2 (its value before the step plus a Horner
    // product): all that levels N-1 and N need from below, applied after
    // the loop by `last_levels_*`. They are stored by entry, then step (see
    // `coef_at`).
    let m = shape.level_len(n - 2);
    let (chains, coefs) = ws.split_at_mut(2 * shape.level(n).start * L);
    let (chain_top, chain_next) = chains.split_at_mut(shape.level(n).start * L);
    let coefs = &mut coefs[..2 * m * STEP_BLOCK * L];
    let half = recip::<T>(2);
    let (third, prev) = (recip::<T>(3), shape.level(n - 2));
    assert!(count <= STEP_BLOCK && coefs.len() >= coef_at::<L>(m, 0));
    for t in 0..count {
        let dx = &dxs[t * d * L..(t + 1) * d * L];
        let starts_t = starts.map(|starts| &starts[t * n * L..(t + 1) * n * L]);
        let start = |k: usize| starts_t.map(|starts_t| &starts_t[(k - 1) * L..k * L]);
        if n >= 5 {
            // Their level N-3 is made entry by entry below, never stored.
            horner_chain::<T, D, L, _>(d, shape, s, dx, chain_top, n, n - 4, start(n));
            horner_chain::<T, D, L, _>(d, shape, s, dx, chain_next, n - 1, n - 4, start(n - 1));
        } else if n == 4 {
            horner_chain::<T, D, L, _>(d, shape, s, dx, chain_top, n, n - 3, start(n));
            horner_chain::<T, D, L, _>(d, shape, s, dx, chain_next, n - 1, n - 3, start(n - 1));
        }
        // Level N-2 of the two chains goes straight into the coefficients,
        // never stored (1.04-1.2x): entry (a, b) of level N-2 has the Horner
        // products `v dx[b]`, `v = c (u[a] + s[a])` from entry `a` of level
        // N-3 (the chain's products then have `c` = 1/3 and 1/2), each
        // added to `s_{ab}` in one multiply-add. At degree 3 that level is
        // level 0, whose `s` is 1 and `u` 0; at degree 2 the products are
        // zero (level N-2 is level 0 itself). Products and sums are rounded
        // as in the per-path kernel (`chain_coefficients` there), so that a
        // path's signature does not depend on whether it ran in a group of
        // lanes (chunked batches equal the whole batch bit for bit).
        let s_prev = &s[prev.start * L..prev.end * L];
        if n == 2 {
            let s_0: [T; L] = get(s_prev);
            // SAFETY: `coefs` holds `m` = 1 entry of STEP_BLOCK steps, `t < count <= STEP_BLOCK`.
            unsafe {
                store::<T, L>(coefs, coef_at::<L>(0, t), from_fn(|l| s_0[l] * half));
                store::<T, L>(coefs, coef_at::<L>(0, t) + L, s_0);
            }
        } else if n >= 5 {
            // Levels N-3 of the chains from their levels N-4 (`c` = 1/4
            // and 1/3 there), as `chain_level` makes them.
            let (quarter, below) = (recip::<T>(4), shape.level(n - 4));
            let s_below = &s[below.start * L..below.end * L];
            for (a0, (row0, (s_rows, s_a0))) in below.clone().zip(s[prev.start * L..].chunks_exact(d * d * L).zip(s_below.chunks_exact(L))).enumerate() {
                let (ut0, un0, s_a0): ([T; L], [T; L], [T; L]) = (get(&chain_top[row0 * L..]), get(&chain_next[row0 * L..]), get(s_a0));
                let (vt0, vn0): ([T; L], [T; L]) = (from_fn(|l| (ut0[l] + s_a0[l]) * quarter), from_fn(|l| (un0[l] + s_a0[l]) * third));
                let row_a = &s[(shape.level(n - 3).start + a0 * d) * L..];
                for (e, (s_row, x_e)) in s_rows.chunks_exact(d * L).zip(dx.chunks_exact(L)).enumerate() {
                    let (x_e, s_a): ([T; L], [T; L]) = (get(x_e), get(&row_a[e * L..]));
                    let (ut, un): ([T; L], [T; L]) = (from_fn(|l| vt0[l] * x_e[l]), from_fn(|l| vn0[l] * x_e[l]));
                    let (v_top, v_next): ([T; L], [T; L]) = (from_fn(|l| (ut[l] + s_a[l]) * third), from_fn(|l| (un[l] + s_a[l]) * half));
                    store_coefficients::<T, L, FMA>(coefs, (a0 * d + e) * d, t, v_top, v_next, s_row, dx);
                }
            }
        } else {
            for (a, (row, s_row)) in shape.level(n - 3).zip(s_prev.chunks_exact(d * L)).enumerate() {
                let (v_top, v_next): ([T; L], [T; L]) = if n >= 4 {
                    let (ut, un, s_a): ([T; L], [T; L], [T; L]) = (get(&chain_top[row * L..]), get(&chain_next[row * L..]), get(&s[row * L..]));
                    (from_fn(|l| (ut[l] + s_a[l]) * third), from_fn(|l| (un[l] + s_a[l]) * half))
                } else if let (Some(top0), Some(next0)) = (start(n), start(n - 1)) {
                    // Degree 3 below a prefix: the chains' starts are the
                    // sums `u + s` at level N-3.
                    let (top0, next0): ([T; L], [T; L]) = (get(top0), get(next0));
                    (from_fn(|l| top0[l] * third), from_fn(|l| next0[l] * half))
                } else {
                    ([third; L], [half; L])
                };
                store_coefficients::<T, L, FMA>(coefs, a * d, t, v_top, v_next, s_row, dx);
            }
        }
        horner_levels::<T, D, L, FMA, _>(d, shape, s, dx, chain_top, n - 2, starts_t);
    }
    let (lower, upper) = s.split_at_mut(shape.level(n).start * L);
    let next = shape.level(n - 1);
    let s_next = &mut lower[next.start * L..next.end * L];
    let s_top = &mut upper[..shape.level_len(n) * L];
    if D > 0 {
        last_levels_in_registers::<T, D, L, FMA>(s_next, s_top, coefs, dxs, count, m);
    } else {
        last_levels_by_row::<T, L, FMA>(d, s_next, s_top, coefs, dxs, count);
    }
}

crate::simd::specialised! {
    /// [`mul_exp_block_lanes`] over `count <= PREFIX_SPLIT_STEPS` steps, for
    /// states too large for the caches: through the plain kernel, every
    /// block of steps takes the top levels (and their coefficients, as
    /// large) through memory; at 5-22 MB a group ran at a quarter to a
    /// third of the machine's peak, against two thirds below 1 MB. Each
    /// level k > q is `d^q` parts, one per word p of length q (the entries
    /// `p w`), and the part below p changes with its own entries and, per
    /// step, one number per level: where that level's Horner chain stands
    /// at p. So the words up to length q run first, step by step, leaving
    /// those numbers; then each part runs all the steps while it stays in
    /// cache. The same numbers bit for bit.
    ///
    /// With `rows` (`(rows, skip)`), the run is the group's last: each part
    /// goes from the cache straight into the lanes' output rows (row `l` of
    /// `rows` is lane `l`'s tensor from entry `skip` on), not back into `s`,
    /// whose levels above q are then left stale; the caller moves levels
    /// `skip..=q` out itself. A short path with a large signature otherwise
    /// copied every part back and then transposed the whole state out of
    /// the lanes: a fifth of its time at d = 6, degree 8.
    pub(crate) fn mul_exp_steps_by_prefix_lanes<T>(d: usize, width: usize, shape: &TensorShape, s: &mut [T], dxs: &[T], count: usize, split: &mut PrefixSplit<T>, rows: Option<(&mut [T], usize)>) = by_prefix_body;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn by_prefix_body<T: Float, const D: usize, const FMA: bool>(d: usize, width: usize, shape: &TensorShape, s: &mut [T], dxs: &[T], count: usize, split: &mut PrefixSplit<T>, rows: Option<(&mut [T], usize)>) {
    match width {
        4 => by_prefix_kernel::<T, D, 4, FMA>(d, shape, s, dxs, count, split, rows),
        8 => by_prefix_kernel::<T, D, 8, FMA>(d, shape, s, dxs, count, split, rows),
        16 => by_prefix_kernel::<T, D, 16, FMA>(d, shape, s, dxs, count, split, rows),
        _ => unreachable!("groups are one or two vectors wide"),
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn by_prefix_kernel<T: Float, const D: usize, const L: usize, const FMA: bool>(
    d_rt: usize,
    shape: &TensorShape,
    s: &mut [T],
    dxs: &[T],
    count: usize,
    split: &mut PrefixSplit<T>,
    mut rows: Option<(&mut [T], usize)>,
) {
    let d = if D == 0 { d_rt } else { D };
    let q = split.q;
    let fresh = std::mem::take(&mut split.fresh);
    let PrefixSplit { part_shape, part, starts, chain, ws, .. } = split;
    let part_n = part_shape.degree;
    assert!(count <= PREFIX_SPLIT_STEPS && dxs.len() >= count * d * L);
    let words = shape.level(q);
    for t in 0..count {
        let dx = &dxs[t * d * L..(t + 1) * d * L];
        for k in 1..=part_n {
            horner_chain::<T, D, L, _>(d, shape, s, dx, chain, q + k, q, None);
            let (u_q, s_q) = (&chain[words.start * L..words.end * L], &s[words.start * L..words.end * L]);
            for (p, (u, v)) in u_q.chunks_exact(L).zip(s_q.chunks_exact(L)).enumerate() {
                let (u, v): ([T; L], [T; L]) = (get(u), get(v));
                put::<T, L>(&mut starts[((p * PREFIX_SPLIT_STEPS + t) * part_n + k - 1) * L..], from_fn(|l| u[l] + v[l]));
            }
        }
        horner_levels::<T, D, L, FMA, _>(d, shape, s, dx, chain, q, None);
    }
    let part_range = |p: usize, k: usize| {
        let len = part_shape.level_len(k);
        let from = shape.level(q + k).start + p * len;
        (from * L..(from + len) * L, part_shape.level(k).start * L..part_shape.level(k).end * L)
    };
    for p in 0..words.len() {
        // Level 0 of a part is never read (its chains take `starts`).
        part[..L].fill(T::nan());
        if fresh {
            part[L..].fill(T::zero());
        } else {
            for k in 1..=part_n {
                let (global, local) = part_range(p, k);
                part[local].copy_from_slice(&s[global]);
            }
        }
        let mut i = 0;
        while i < count {
            let block = (count - i).min(STEP_BLOCK);
            let starts_p = &starts[(p * PREFIX_SPLIT_STEPS + i) * part_n * L..(p * PREFIX_SPLIT_STEPS + i + block) * part_n * L];
            mul_exp_block_kernel::<T, D, L, FMA, _>(d, &*part_shape, part, &dxs[i * d * L..(i + block) * d * L], block, ws, Some(starts_p));
            i += block;
        }
        match &mut rows {
            None => {
                for k in 1..=part_n {
                    let (global, local) = part_range(p, k);
                    s[global].copy_from_slice(&part[local]);
                }
            }
            Some((rows, skip)) => {
                let row_len = shape.len() - *skip;
                for k in 1..=part_n {
                    let (global, local) = part_range(p, k);
                    let from = global.start / L - *skip;
                    let part_k = &part[local];
                    for (l, row) in rows.chunks_exact_mut(row_len).take(L).enumerate() {
                        lane_of(part_k, l, L, &mut row[from..from + part_k.len() / L]);
                    }
                }
            }
        }
    }
}

/// The coefficients `c_w = (v_top dx[b] + s_{ab}) / 2` and `c_s = v_next
/// dx[b] + s_{ab}` of the `d` entries `first + b` of level N-2 that share
/// the chains' factors `v_top` and `v_next`, at step `t` (see
/// [`coef_at`]); `s_row` holds those entries.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn store_coefficients<T: Float, const L: usize, const FMA: bool>(coefs: &mut [T], first: usize, t: usize, v_top: [T; L], v_next: [T; L], s_row: &[T], dx: &[T]) {
    let half = recip::<T>(2);
    let entries = s_row.len() / L;
    assert!(t < STEP_BLOCK && entries > 0 && coef_at::<L>(first + entries - 1, t) + 2 * L <= coefs.len());
    for (b, (s_ab, x)) in s_row.chunks_exact(L).zip(dx.chunks_exact(L)).enumerate() {
        let (s_ab, x): ([T; L], [T; L]) = (get(s_ab), get(x));
        let at = coef_at::<L>(first + b, t);
        // SAFETY: entry `first + b` of the `entries` asserted above, at step `t`.
        unsafe {
            store::<T, L>(coefs, at, from_fn(|l| fmadd::<T, FMA>(v_top[l], x[l], s_ab[l]) * half));
            store::<T, L>(coefs, at + L, from_fn(|l| fmadd::<T, FMA>(v_next[l], x[l], s_ab[l])));
        }
    }
}

/// Where `c_w[t][a]` starts in the coefficients of a block (`c_s[t][a]`
/// follows it): entry-major, so that the pass over levels N-1 and N reads
/// them in order. Step-major rows `m` entries apart put the 16 coefficients
/// of an entry in one L1 set whenever `m L` is a multiple of 512 bytes,
/// 8 ways for 16 lines (d = 4, degree 6: 1.3x slower).
#[inline(always)]
fn coef_at<const L: usize>(a: usize, t: usize) -> usize {
    (a * STEP_BLOCK + t) * 2 * L
}

/// Rows of level N-1 that [`last_levels_in_registers`] takes per pass: as
/// many as divide `d` with their `1 + d` accumulators in at most
/// [`ACCUMULATORS`] vector registers (`L` lanes of `T` fill `vectors`
/// registers).
const fn rows_per_pass(d: usize, vectors: usize) -> usize {
    let mut rows = MAX_ROWS_PER_PASS;
    while rows > 1 && (d % rows != 0 || rows * (1 + d) * vectors > ACCUMULATORS) {
        rows -= 1;
    }
    rows
}

/// Top-level entries per row that [`last_levels_in_registers`] takes per
/// pass: all `d` when they fit the accumulators beside their row of level
/// N-1, else the largest divisor of `d` that does (d = 12 and 20 in one
/// vector: 6 and 10), so that every pass is full.
const fn columns_per_pass(d: usize, vectors: usize) -> usize {
    let most = ACCUMULATORS / vectors - 1;
    let mut columns = if d < most { d } else { most };
    while columns > 1 && d % columns != 0 {
        columns -= 1;
    }
    if columns == 0 { 1 } else { columns }
}

const MAX_ROWS_PER_PASS: usize = 2;
/// Accumulators per pass, of the 16 vector registers: the pass also holds
/// the two coefficients, `w_t` and the increments. With 12 (three rows at
/// d = 3) LLVM spilled two accumulators to the stack, putting a store and
/// a reload in their chains; one row per pass instead measured 1.09x
/// faster in float64 and 1.19x in float32.
const ACCUMULATORS: usize = 11;
const MAX_COLUMNS_PER_PASS: usize = ACCUMULATORS - 1;

/// Levels N-1 and N over a block of steps, from the coefficients that the
/// levels below left per step (see [`coef_at`]; `m` entries of level N-2).
/// Row `(a, b)` of level N-1 moves by `c_s[t][a] dx_t[b]` each step and
/// feeds the top level row `(a, b)` with `w_t dx_t`, where `w_t =
/// c_w[t][a] dx_t[b]` plus the row before the step. Here a row of level
/// N-1 and the top-level entries it feeds stay in registers for the
/// whole block, so nothing is stored per step: with a store per step each
/// level N-1 entry cost one store per multiply-add, and the core retires
/// one store per cycle against two multiply-adds. Where a top-level row
/// does not fit the registers, it goes in passes of [`columns_per_pass`]
/// entries, each pass taking the level N-1 entry again from its value
/// before the block (two multiply-adds per step more per pass).
#[inline(always)]
fn last_levels_in_registers<T: Float, const D: usize, const L: usize, const FMA: bool>(s_next: &mut [T], s_top: &mut [T], coefs: &[T], dxs: &[T], count: usize, m: usize) {
    assert!(count <= STEP_BLOCK && s_next.len() >= m * D * L && s_top.len() >= m * D * D * L && coefs.len() >= coef_at::<L>(m, 0) && dxs.len() >= count * D * L);
    // The steps' loop has a run-time length even for a whole block: with
    // the block's 8 steps a compile-time count (unrolled) the forward pass
    // measured 0.75-0.97x ((128, 3000, 4, 4) float32 0.75x, (1000, 50, 3,
    // 4) 0.80x, (256, 200, 2, 4) 0.97x).
    // SAFETY: the lengths are asserted just above.
    unsafe {
        last_level_passes::<T, D, L, FMA>(s_next, s_top, coefs, dxs, count, m);
    }
}

/// `L` lanes at `x[i..]`, unchecked.
///
/// # Safety
/// `i + L <= x.len()`.
#[inline(always)]
unsafe fn load<T: Copy, const L: usize>(x: &[T], i: usize) -> [T; L] {
    debug_assert!(i + L <= x.len());
    // SAFETY: in bounds by the caller's contract; `[T; L]` has `T`'s alignment.
    unsafe { x.as_ptr().add(i).cast::<[T; L]>().read() }
}

/// Writes `L` lanes to `x[i..]`, unchecked.
///
/// # Safety
/// `i + L <= x.len()`.
#[inline(always)]
unsafe fn store<T: Copy, const L: usize>(x: &mut [T], i: usize, v: [T; L]) {
    debug_assert!(i + L <= x.len());
    // SAFETY: as in `load`.
    unsafe { x.as_mut_ptr().add(i).cast::<[T; L]>().write(v) }
}

/// The passes of [`last_levels_in_registers`], over `count` steps.
/// Unchecked: the bounds checks of every
/// lane read cost as many instructions as the multiply-adds of a pass.
///
/// # Safety
/// `count <= STEP_BLOCK`, and the slices are as long as asserted in
/// [`last_levels_in_registers`].
#[inline(always)]
unsafe fn last_level_passes<T: Float, const D: usize, const L: usize, const FMA: bool>(
    s_next: &mut [T],
    s_top: &mut [T],
    coefs: &[T],
    dxs: &[T],
    count: usize,
    m: usize,
) {
    let vectors = (L * std::mem::size_of::<T>()).div_ceil(32);
    let per_pass = rows_per_pass(D, vectors);
    let columns = columns_per_pass(D, vectors);
    let zero = [T::zero(); L];
    for a in 0..m {
        for b0 in (0..D).step_by(per_pass) {
            let row = |i: usize| a * D + b0 + i;
            // SAFETY (every `load` and `store` here): rows `a * D + b0 + i`
            // of level N-1 with `b0 + i < D`, their top-level entries, the
            // coefficients of entry `a < m` and steps `t < count`.
            let before: [[T; L]; MAX_ROWS_PER_PASS] = from_fn(|i| if i < per_pass { unsafe { load(s_next, row(i) * L) } } else { zero });
            let mut next = before;
            let coef_a = coef_at::<L>(a, 0);
            for c0 in (0..D).step_by(columns) {
                next = before;
                let mut top: [[[T; L]; MAX_COLUMNS_PER_PASS]; MAX_ROWS_PER_PASS] = from_fn(|i| {
                    if i < per_pass {
                        from_fn(|c| if c < columns { unsafe { load(s_top, (row(i) * D + c0 + c) * L) } } else { zero })
                    } else {
                        [zero; MAX_COLUMNS_PER_PASS]
                    }
                });
                for t in 0..count {
                    let (c_w, c_s): ([T; L], [T; L]) = unsafe { (load(coefs, coef_a + coef_at::<L>(0, t)), load(coefs, coef_a + coef_at::<L>(0, t) + L)) };
                    let dx = t * D * L;
                    for i in 0..per_pass {
                        let x: [T; L] = unsafe { load(dxs, dx + (b0 + i) * L) };
                        let w: [T; L] = from_fn(|l| fmadd::<T, FMA>(c_w[l], x[l], next[i][l]));
                        next[i] = from_fn(|l| fmadd::<T, FMA>(c_s[l], x[l], next[i][l]));
                        for (c, acc) in top[i].iter_mut().enumerate().take(columns) {
                            let y: [T; L] = unsafe { load(dxs, dx + (c0 + c) * L) };
                            *acc = from_fn(|l| fmadd::<T, FMA>(w[l], y[l], acc[l]));
                        }
                    }
                }
                for (i, top_i) in top.iter().enumerate().take(per_pass) {
                    for (c, acc) in top_i.iter().enumerate().take(columns) {
                        unsafe { store(s_top, (row(i) * D + c0 + c) * L, *acc) };
                    }
                }
            }
            for (i, next_i) in next.iter().enumerate().take(per_pass) {
                unsafe { store(s_next, row(i) * L, *next_i) };
            }
        }
    }
}

/// [`last_levels_in_registers`] for a dimension known only at run time:
/// one row of level N-1 at a time, its `w_t` kept for the block, then the
/// top-level row it feeds updated four entries at a time.
#[inline(always)]
fn last_levels_by_row<T: Float, const L: usize, const FMA: bool>(d: usize, s_next: &mut [T], s_top: &mut [T], coefs: &[T], dxs: &[T], count: usize) {
    let mut w = [[T::zero(); L]; STEP_BLOCK];
    for (r, (next, top_row)) in s_next.chunks_exact_mut(L).zip(s_top.chunks_exact_mut(d * L)).enumerate() {
        let (a, b) = (r / d, r % d);
        let mut v: [T; L] = get(next);
        for (t, w_t) in w.iter_mut().enumerate().take(count) {
            let (c_w, c_s): ([T; L], [T; L]) = (get(&coefs[coef_at::<L>(a, t)..]), get(&coefs[coef_at::<L>(a, t) + L..]));
            let x: [T; L] = get(&dxs[(t * d + b) * L..]);
            *w_t = from_fn(|l| fmadd::<T, FMA>(c_w[l], x[l], v[l]));
            v = from_fn(|l| fmadd::<T, FMA>(c_s[l], x[l], v[l]));
        }
        put::<T, L>(next, v);
        // Four independent accumulators per pass: one chain of `count`
        // dependent multiply-adds per entry would wait on their latency.
        let mut c = 0;
        while c < d {
            let width = (d - c).min(4);
            let mut acc: [[T; L]; 4] = from_fn(|i| if i < width { get(&top_row[(c + i) * L..]) } else { [T::zero(); L] });
            for (t, w_t) in w.iter().enumerate().take(count) {
                for (i, acc_i) in acc.iter_mut().enumerate().take(width) {
                    let y: [T; L] = get(&dxs[(t * d + c + i) * L..]);
                    *acc_i = from_fn(|l| fmadd::<T, FMA>(w_t[l], y[l], acc_i[l]));
                }
            }
            for (i, acc_i) in acc.iter().enumerate().take(width) {
                put::<T, L>(&mut top_row[(c + i) * L..], *acc_i);
            }
            c += width;
        }
    }
}

/// Scratch entries [`backprop_block_lanes`] needs.
pub(crate) fn backprop_block_ws_len(shape: &TensorShape, width: usize) -> usize {
    (shape.dim + shape.mul_exp_scratch_len() + shape.mul_exp_backward_ws_len()) * width
}

/// Paths per group of the backward lanes kernel for dimension `d` at
/// `sig_len` entries per state: at least 8 paths for d <= 3 (two vectors in
/// float64: 1.3-1.6x faster at d = 2, 1.2x at d = 3; d = 4 or more slower
/// with two vectors than with one), and for d <= 3 twice that when a row
/// of the gradient's sums stays within eight vectors and a lane group's
/// state within [`BACKWARD_WIDE_STATE_BYTES`] (so that the state, its
/// gradient and the chains stay in L1): small signatures are bound by loop
/// overhead, which wider groups share out. Measured against the narrower
/// groups: float32 d = 2 degree 3-6 1.23-1.34x, d = 3 degree 3-4
/// 1.16-1.22x; float64 d = 2 degree 2-5 1.06-1.18x. Past the state bound
/// they measured 0.79-0.99x, float64 d = 3 in four vectors (12 a row)
/// 0.73-0.84x, and d = 4 at degree 3 in two vectors 0.62-1.14x over runs.
pub(crate) fn backward_width<T>(d: usize, sig_len: usize) -> usize {
    let one = lanes::<T>();
    if d > BACKWARD_WIDE_MAX_DIM {
        return one;
    }
    let (base, wide) = (one.max(8), 2 * one.max(8));
    let row_vectors = d * wide / one;
    if wide <= 16 && row_vectors <= 8 && sig_len * wide * std::mem::size_of::<T>() <= BACKWARD_WIDE_STATE_BYTES { wide } else { base }
}

const BACKWARD_WIDE_MAX_DIM: usize = 3;

/// Bytes of a lane group's state up to which [`backward_width`] doubles
/// the group: a quarter of a 32 KiB L1 data cache.
const BACKWARD_WIDE_STATE_BYTES: usize = 8 * 1024;

crate::simd::specialised! {
    /// The backward walk over a block of `count <= STEP_BLOCK` steps, last
    /// step first, for every lane (increments laid out as in
    /// [`mul_exp_block_lanes`]). Each step goes back to the previous state,
    /// `s <- s (x) exp(-dx)` (the top level, never read by the gradient, is
    /// left stale), then takes the gradient of `s (x) exp(dx)` there. On
    /// entry `g` is the gradient of the state after the block, on exit that
    /// of the state before it (updated in place), and `gdxs` holds each
    /// step's increment gradient; `width` paths are interleaved (see
    /// [`backward_width`]). One call per block, not
    /// per step, keeps the dispatch and the caller's gathering out of the
    /// step loop, which for small signatures cost as much as the arithmetic.
    pub(crate) fn backprop_block_lanes<T>(d: usize, width: usize, shape: &TensorShape, s: &mut [T], dxs: &[T], count: usize, g: &mut [T], gdxs: &mut [T], ws: &mut [T]) = backprop_block_body;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backprop_block_body<T: Float, const D: usize, const FMA: bool>(d: usize, width: usize, shape: &TensorShape, s: &mut [T], dxs: &[T], count: usize, g: &mut [T], gdxs: &mut [T], ws: &mut [T]) {
    match width {
        4 => backprop_block_kernel::<T, D, 4, FMA>(d, shape, s, dxs, count, g, gdxs, ws),
        8 => backprop_block_kernel::<T, D, 8, FMA>(d, shape, s, dxs, count, g, gdxs, ws),
        16 => backprop_block_kernel::<T, D, 16, FMA>(d, shape, s, dxs, count, g, gdxs, ws),
        _ => unreachable!("backward groups are one or two vectors wide"),
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backprop_block_kernel<T: Float, const D: usize, const L: usize, const FMA: bool>(
    d_rt: usize,
    shape: &TensorShape,
    s: &mut [T],
    dxs: &[T],
    count: usize,
    g: &mut [T],
    gdxs: &mut [T],
    ws: &mut [T],
) {
    let d = if D == 0 { d_rt } else { D };
    let (neg_dx, rest) = ws.split_at_mut(d * L);
    let (inverse_ws, backward_ws) = rest.split_at_mut(shape.mul_exp_scratch_len() * L);
    let top = shape.degree.saturating_sub(1);
    for t in (0..count).rev() {
        let dx = &dxs[t * d * L..(t + 1) * d * L];
        for (n, x) in neg_dx.chunks_exact_mut(L).zip(dx.chunks_exact(L)) {
            let x: [T; L] = get(x);
            put::<T, L>(n, from_fn(|l| -x[l]));
        }
        horner_levels::<T, D, L, FMA, _>(d, shape, s, neg_dx, inverse_ws, top, None);
        mul_exp_backward_kernel::<T, D, L, FMA>(d, shape, s, dx, g, &mut gdxs[t * d * L..(t + 1) * d * L], backward_ws);
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mul_exp_backward_kernel<T: Float, const D: usize, const L: usize, const FMA: bool>(
    d_rt: usize,
    shape: &TensorShape,
    s: &[T],
    dx: &[T],
    g: &mut [T],
    gdx: &mut [T],
    ws: &mut [T],
) {
    let d = if D == 0 { d_rt } else { D };
    let n = shape.degree;
    let (dx, gdx) = (&dx[..d * L], &mut gdx[..d * L]);
    gdx.fill(T::zero());
    g[..L].fill(T::zero());
    if n == 0 {
        return;
    }
    let lv = |k: usize| {
        let r = shape.level(k);
        r.start * L..r.end * L
    };
    let top = shape.level_len(n - 1) * L;
    let (w_all, rest) = ws.split_at_mut(shape.level(n).start * L);
    let (buf_a, rest) = rest.split_at_mut(top);
    let buf_b = &mut rest[..top];
    for k in 1..=n {
        // Forward: w_i = u_i + s_i, u_1 = dx / k, u_i = w_{i-1} (x) dx / (k - i + 1).
        let c1 = recip::<T>(k);
        for i in 1..k {
            let (done, w_i) = w_all.split_at_mut(shape.level(i).start * L);
            let w_i = &mut w_i[..shape.level_len(i) * L];
            let s_i = &s[lv(i)];
            if i == 1 {
                for ((w, x), si) in w_i.chunks_exact_mut(L).zip(dx.chunks_exact(L)).zip(s_i.chunks_exact(L)) {
                    let (x, si): ([T; L], [T; L]) = (get(x), get(si));
                    put::<T, L>(w, from_fn(|l| fmadd::<T, FMA>(c1, x[l], si[l])));
                }
            } else {
                let c = recip::<T>(k - i + 1);
                for ((row, wp), s_row) in w_i.chunks_exact_mut(d * L).zip(done[lv(i - 1)].chunks_exact(L)).zip(s_i.chunks_exact(d * L)) {
                    let wp: [T; L] = get(wp);
                    let v: [T; L] = from_fn(|l| wp[l] * c);
                    for ((o, x), si) in row.chunks_exact_mut(L).zip(dx.chunks_exact(L)).zip(s_row.chunks_exact(L)) {
                        let (x, si): ([T; L], [T; L]) = (get(x), get(si));
                        put::<T, L>(o, from_fn(|l| fmadd::<T, FMA>(v[l], x[l], si[l])));
                    }
                }
            }
        }
        // Backward down the chain: the gradient of u_k is g_k. Level k of
        // g is still the input's here: only the chains of higher levels,
        // taken later, add to it.
        let (g_below, g_k) = g.split_at_mut(shape.level(k).start * L);
        let (mut cur, mut next): (&mut [T], &mut [T]) = (&mut buf_a[..], &mut buf_b[..]);
        for i in (2..=k).rev() {
            let c = recip::<T>(k - i + 1);
            let gu: &[T] = if i == k { &g_k[..shape.level_len(k) * L] } else { &cur[..shape.level_len(i) * L] };
            step_backward::<T, D, L, FMA>(d, c, gu, &w_all[lv(i - 1)], dx, next, &mut g_below[lv(i - 1)], gdx);
            std::mem::swap(&mut cur, &mut next);
        }
        let gu1: &[T] = if k == 1 { &g_k[..d * L] } else { &cur[..d * L] };
        // Whole vectors, as `step_backward` stores them: one number at a
        // time, the next level's vector loads of `gdx` could not be
        // forwarded from these stores (12 % of the d = 2 backward).
        for (acc, gv) in gdx.chunks_exact_mut(L).zip(gu1.chunks_exact(L)) {
            let (a, gv): ([T; L], [T; L]) = (get(acc), get(gv));
            put::<T, L>(acc, from_fn(|l| fmadd::<T, FMA>(c1, gv[l], a[l])));
        }
    }
}

/// One transposed Horner step for every lane: given `gu`, the gradient of
/// `u = c w (x) dx`, adds `c sum_a w[a] gu[a, :]` to `gdx` and writes
/// `gw[a] = c <gu[a, :], dx>`, also adding it to `g_level`. The `gdx` sums
/// alternate between two sets of accumulators: a single set is one chain of
/// dependent FMAs per entry, which waits on the FMA latency.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn step_backward<T: Float, const D: usize, const L: usize, const FMA: bool>(
    d: usize,
    c: T,
    gu: &[T],
    w: &[T],
    dx: &[T],
    gw: &mut [T],
    g_level: &mut [T],
    gdx: &mut [T],
) {
    const MAX_D: usize = 8;
    if D == 0 || D > MAX_D {
        for (((row, wa), gwa), ga) in gu.chunks_exact(d * L).zip(w.chunks_exact(L)).zip(gw.chunks_exact_mut(L)).zip(g_level.chunks_exact_mut(L)) {
            let wa: [T; L] = get(wa);
            let wc: [T; L] = from_fn(|l| wa[l] * c);
            let mut dot = [T::zero(); L];
            for ((gv, x), acc) in row.chunks_exact(L).zip(dx.chunks_exact(L)).zip(gdx.chunks_exact_mut(L)) {
                let (gv, x, a): ([T; L], [T; L], [T; L]) = (get(gv), get(x), get(acc));
                dot = from_fn(|l| fmadd::<T, FMA>(gv[l], x[l], dot[l]));
                put::<T, L>(acc, from_fn(|l| fmadd::<T, FMA>(wc[l], gv[l], a[l])));
            }
            let v: [T; L] = from_fn(|l| dot[l] * c);
            put::<T, L>(gwa, v);
            let ga_old: [T; L] = get(ga);
            put::<T, L>(ga, from_fn(|l| ga_old[l] + v[l]));
        }
        return;
    }
    // Up to 4 vectors per set, rows alternate between two sets of
    // accumulators held in variables (a set indexed by row parity lives in
    // memory, zeroed per call: 1.07-1.38x for the whole d = 2-4 backward).
    // With 5-8 vectors a row has enough multiply-adds to cover their
    // latency with one set, and two sets spilled to the stack (one set:
    // 1.1-1.3x at d = 5-8, 1.07x at d = 3 in two vectors). Beyond that
    // the sets are indexed, in memory.
    let xs: [[T; L]; D] = from_fn(|b| get(&dx[b * L..]));
    let mut rows = gu.chunks_exact(D * L).zip(w.chunks_exact(L)).zip(gw.chunks_exact_mut(L)).zip(g_level.chunks_exact_mut(L));
    let per_set = D * L.div_ceil(lanes::<T>());
    let (even, odd) = if per_set <= 4 {
        let (mut even, mut odd) = ([[T::zero(); L]; D], [[T::zero(); L]; D]);
        while let Some((((row, wa), gwa), ga)) = rows.next() {
            step_backward_row::<T, D, L, FMA>(c, &xs, row, wa, gwa, ga, &mut even);
            let Some((((row, wa), gwa), ga)) = rows.next() else { break };
            step_backward_row::<T, D, L, FMA>(c, &xs, row, wa, gwa, ga, &mut odd);
        }
        (even, odd)
    } else if per_set <= 8 {
        let mut set = [[T::zero(); L]; D];
        for (((row, wa), gwa), ga) in rows {
            step_backward_row::<T, D, L, FMA>(c, &xs, row, wa, gwa, ga, &mut set);
        }
        (set, [[T::zero(); L]; D])
    } else {
        let mut sets = [[[T::zero(); L]; D]; 2];
        for (r, (((row, wa), gwa), ga)) in rows.enumerate() {
            step_backward_row::<T, D, L, FMA>(c, &xs, row, wa, gwa, ga, &mut sets[r & 1]);
        }
        (sets[0], sets[1])
    };
    for ((o, e), od) in gdx.chunks_exact_mut(L).zip(&even).zip(&odd) {
        let old: [T; L] = get(o);
        put::<T, L>(o, from_fn(|l| old[l] + e[l] + od[l]));
    }
}

/// One row of [`step_backward`] at a compile-time `D` (a function, not a
/// closure: a closure does not inherit the caller's target features, and
/// its multiply-adds became calls to `fma`).
#[inline(always)]
fn step_backward_row<T: Float, const D: usize, const L: usize, const FMA: bool>(c: T, xs: &[[T; L]; D], row: &[T], wa: &[T], gwa: &mut [T], ga: &mut [T], set: &mut [[T; L]; D]) {
    let wa: [T; L] = get(wa);
    let wc: [T; L] = from_fn(|l| wa[l] * c);
    let mut dot = [T::zero(); L];
    for (b, (acc, x)) in set.iter_mut().zip(xs).enumerate() {
        let gv: [T; L] = get(&row[b * L..]);
        dot = from_fn(|l| fmadd::<T, FMA>(gv[l], x[l], dot[l]));
        *acc = from_fn(|l| fmadd::<T, FMA>(wc[l], gv[l], acc[l]));
    }
    let v: [T; L] = from_fn(|l| dot[l] * c);
    put::<T, L>(gwa, v);
    let ga_old: [T; L] = get(ga);
    put::<T, L>(ga, from_fn(|l| ga_old[l] + v[l]));
}

crate::simd::fma_dispatched! {
    /// Row `l` of `rows` (`width` rows of equal length) from lane `l` of the
    /// interleaved tensor `src`, entries `first..`: a group's states out to
    /// its paths' output rows.
    pub(crate) fn lanes_to_rows<T>(src: &[T], width: usize, first: usize, rows: &mut [T]) = lanes_to_rows_body;
}

crate::simd::fma_dispatched! {
    /// Entries `first..` of lane `l` of the interleaved tensor `dst` from row
    /// `l` of `rows` (`width` rows of `row_len` numbers), entries `from..`:
    /// the inverse of [`lanes_to_rows`].
    pub(crate) fn rows_to_lanes<T>(rows: &[T], row_len: usize, from: usize, width: usize, dst: &mut [T], first: usize) = rows_to_lanes_body;
}

/// Entries per tile of [`lanes_to_rows`] and [`rows_to_lanes`]: a tile is
/// read or written as whole vectors on the lanes side and as runs of
/// `TILE` numbers on the rows side. One number at a time, the transposition
/// of a group's states took 14 % of short paths' forward pass (1000 paths
/// of 50 points, d = 3, degree 4).
const TILE: usize = 8;

#[inline(always)]
fn lanes_to_rows_body<T: Float, const FMA: bool>(src: &[T], width: usize, first: usize, rows: &mut [T]) {
    let done = crate::simd::lanes_to_rows(src, width, first, rows);
    if done == 0 {
        match width {
            4 => return tiles_to_rows::<T, 4>(src, first, rows),
            8 => return tiles_to_rows::<T, 8>(src, first, rows),
            _ => {}
        }
    }
    let n = rows.len() / width.max(1);
    for (l, row) in rows.chunks_exact_mut(n.max(1)).enumerate() {
        for (i, o) in row.iter_mut().enumerate().skip(done) {
            *o = src[(first + i) * width + l];
        }
    }
}

#[inline(always)]
fn tiles_to_rows<T: Float, const L: usize>(src: &[T], first: usize, rows: &mut [T]) {
    let n = rows.len() / L;
    let src = &src[first * L..(first + n) * L];
    let whole = n / TILE * TILE;
    // Plain loops, not `array::from_fn`: its closures stayed calls.
    for (i0, tile) in (0..whole).step_by(TILE).zip(src.chunks_exact(TILE * L)) {
        let mut v = [[T::zero(); TILE]; L];
        for (i, lanes) in tile.chunks_exact(L).enumerate() {
            for (v_l, &x) in v.iter_mut().zip(lanes) {
                v_l[i] = x;
            }
        }
        for (row, v_l) in rows.chunks_exact_mut(n).zip(&v) {
            row[i0..i0 + TILE].copy_from_slice(v_l);
        }
    }
    for (row, l) in rows.chunks_exact_mut(n).zip(0..L) {
        for (o, lanes) in row[whole..].iter_mut().zip(src[whole * L..].chunks_exact(L)) {
            *o = lanes[l];
        }
    }
}

#[inline(always)]
fn rows_to_lanes_body<T: Float, const FMA: bool>(rows: &[T], row_len: usize, from: usize, width: usize, dst: &mut [T], first: usize) {
    let done = crate::simd::rows_to_lanes(rows, row_len, from, width, dst, first);
    if done == 0 {
        match width {
            4 => return rows_to_tiles::<T, 4>(rows, row_len, from, dst, first),
            8 => return rows_to_tiles::<T, 8>(rows, row_len, from, dst, first),
            _ => {}
        }
    }
    for (l, row) in rows.chunks_exact(row_len).take(width).enumerate() {
        for (i, &x) in row[from..].iter().enumerate().skip(done) {
            dst[(first + i) * width + l] = x;
        }
    }
}

#[inline(always)]
fn rows_to_tiles<T: Float, const L: usize>(rows: &[T], row_len: usize, from: usize, dst: &mut [T], first: usize) {
    let n = row_len - from;
    let dst = &mut dst[first * L..(first + n) * L];
    let mut segs: [&[T]; L] = [&[]; L];
    for (l, seg) in segs.iter_mut().enumerate() {
        *seg = &rows[l * row_len + from..(l + 1) * row_len];
    }
    let whole = n / TILE * TILE;
    for (i0, tile) in (0..whole).step_by(TILE).zip(dst.chunks_exact_mut(TILE * L)) {
        let mut v = [[T::zero(); TILE]; L];
        for (v_l, seg) in v.iter_mut().zip(&segs) {
            v_l.copy_from_slice(&seg[i0..i0 + TILE]);
        }
        for (i, lanes) in tile.chunks_exact_mut(L).enumerate() {
            for (o, v_l) in lanes.iter_mut().zip(&v) {
                *o = v_l[i];
            }
        }
    }
    for (i, lanes) in (whole..n).zip(dst[whole * L..].chunks_exact_mut(L)) {
        for (o, seg) in lanes.iter_mut().zip(&segs) {
            *o = seg[i];
        }
    }
}

/// Copies lane `l` of `src` (an interleaved tensor of `dst.len()` entries
/// in `l_n` lanes) out.
pub(crate) fn lane_of<T: Float>(src: &[T], l: usize, l_n: usize, dst: &mut [T]) {
    for (d, s) in dst.iter_mut().zip(src.chunks_exact(l_n)) {
        *d = s[l];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::mul_exp_in_place;
    use crate::test_util::random;

    fn check<T: Float>(dim: usize, degree: usize, count: usize, l_n: usize, tol: f64) {
        let shape = TensorShape::new(dim, degree).unwrap();
        let len = shape.len();
        let mut seed = (dim * 100 + degree * 10 + count) as u64;
        let conv = |v: Vec<f64>| -> Vec<T> { v.into_iter().map(|x| T::from_f64(x).unwrap()).collect() };
        // Starting tensors with level 0 = 1, and increments per lane.
        let mut starts = conv(random(l_n * len, &mut seed));
        for l in 0..l_n {
            starts[l * len] = T::one();
        }
        let dxs_lane = conv(random(l_n * count * dim, &mut seed));
        let mut s = vec![T::zero(); len * l_n];
        for (i, v) in s.iter_mut().enumerate() {
            *v = starts[(i % l_n) * len + i / l_n];
        }
        let mut dxs = vec![T::zero(); STEP_BLOCK * dim * l_n];
        for l in 0..l_n {
            for t in 0..count {
                for b in 0..dim {
                    dxs[(t * dim + b) * l_n + l] = dxs_lane[(l * count + t) * dim + b];
                }
            }
        }
        let mut ws = vec![T::nan(); block_ws_len(&shape, l_n)];
        mul_exp_block_lanes(dim, l_n, &shape, &mut s, &dxs, count, &mut ws);
        let mut scratch = vec![T::zero(); shape.mul_exp_scratch_len()];
        let mut got = vec![T::zero(); len];
        for l in 0..l_n {
            let mut expected = starts[l * len..(l + 1) * len].to_vec();
            for t in 0..count {
                mul_exp_in_place(dim, &shape, &mut expected, &dxs_lane[(l * count + t) * dim..(l * count + t + 1) * dim], &mut scratch);
            }
            lane_of(&s, l, l_n, &mut got);
            for (i, (x, y)) in got.iter().zip(&expected).enumerate() {
                let (x, y) = (x.to_f64().unwrap(), y.to_f64().unwrap());
                assert!((x - y).abs() <= tol * (1.0 + y.abs()), "dim {dim} degree {degree} count {count} lane {l} entry {i}: {x} vs {y}");
            }
        }
    }

    /// A block of `count` backward steps in `l_n` lanes against the
    /// per-path inverse step and gradient, step by step, in every lane.
    fn check_backward<T: Float>(dim: usize, degree: usize, count: usize, l_n: usize, tol: f64) {
        let shape = TensorShape::new(dim, degree).unwrap();
        let len = shape.len();
        let mut seed = (dim * 100 + degree + 7 * count) as u64;
        let conv = |v: Vec<f64>| -> Vec<T> { v.into_iter().map(|x| T::from_f64(x).unwrap()).collect() };
        let mut states = conv(random(l_n * len, &mut seed));
        for l in 0..l_n {
            states[l * len] = T::one();
        }
        let grads = conv(random(l_n * len, &mut seed));
        // step-major increments: dx_lane[(t * l_n + l) * dim + b]
        let dx_lane = conv(random(count * l_n * dim, &mut seed));
        let (mut s, mut g) = (vec![T::zero(); len * l_n], vec![T::zero(); len * l_n]);
        // entry i of lane l at i * l_n + l
        let interleave = |src: &[T], len: usize, dst: &mut [T]| {
            for (i, d) in dst[..len * l_n].chunks_exact_mut(l_n).enumerate() {
                for (l, v) in d.iter_mut().enumerate() {
                    *v = src[l * len + i];
                }
            }
        };
        interleave(&states, len, &mut s);
        interleave(&grads, len, &mut g);
        let mut dxs = vec![T::zero(); STEP_BLOCK * dim * l_n];
        for t in 0..count {
            let step = &dx_lane[t * l_n * dim..(t + 1) * l_n * dim];
            interleave(step, dim, &mut dxs[t * dim * l_n..(t + 1) * dim * l_n]);
        }
        let mut gdxs = vec![T::nan(); STEP_BLOCK * dim * l_n];
        let mut ws = vec![T::nan(); backprop_block_ws_len(&shape, l_n)];
        backprop_block_lanes(dim, l_n, &shape, &mut s, &dxs, count, &mut g, &mut gdxs, &mut ws);
        let mut ws1 = vec![T::zero(); shape.mul_exp_backward_ws_len()];
        let mut scratch = vec![T::zero(); shape.mul_exp_scratch_len()];
        let top = shape.level(degree).start;
        let close = |what: &str, l: usize, x: &[T], y: &[T]| {
            for (i, (a, b)) in x.iter().zip(y).enumerate() {
                let (a, b) = (a.to_f64().unwrap(), b.to_f64().unwrap());
                assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what} dim {dim} degree {degree} count {count} lane {l} entry {i}: {a} vs {b}");
            }
        };
        for l in 0..l_n {
            let (mut e_s, mut e_g) = (states[l * len..(l + 1) * len].to_vec(), grads[l * len..(l + 1) * len].to_vec());
            let (mut e_out, mut e_dx) = (vec![T::zero(); len], vec![T::zero(); dim]);
            let (mut got, mut got_dx) = (vec![T::zero(); len], vec![T::zero(); dim]);
            for t in (0..count).rev() {
                let dx1 = &dx_lane[(t * l_n + l) * dim..(t * l_n + l + 1) * dim];
                let neg1: Vec<T> = dx1.iter().map(|&x| -x).collect();
                mul_exp_in_place(dim, &shape, &mut e_s, &neg1, &mut scratch);
                crate::tensor::mul_exp_backward(dim, &shape, &e_s, dx1, &e_g, &mut e_out, &mut e_dx, &mut ws1);
                e_g.copy_from_slice(&e_out);
                lane_of(&gdxs[t * dim * l_n..(t + 1) * dim * l_n], l, l_n, &mut got_dx);
                close("gdx", l, &got_dx, &e_dx);
            }
            lane_of(&g, l, l_n, &mut got);
            close("g", l, &got[1..], &e_g[1..]);
            assert_eq!(got[0], T::zero());
            lane_of(&s, l, l_n, &mut got);
            close("inverse", l, &got[..top], &e_s[..top]);
        }
    }

    #[test]
    fn transposing_between_rows_and_lanes_moves_every_entry_once() {
        // widths with a tiled or transposing kernel (4, 8, 16: float64
        // transposes 4 lanes at a time, float32 8) and without (3); lengths
        // below, at and around multiples of the tile; offsets on both sides
        fn check<T: Float>(widths: &[usize]) {
            for &width in widths {
                for len in [1, 2, 3, 4, 5, 7, 8, 9, 16, 30, 341] {
                    for (from, first) in [(0, 0), (1, 1), (0, 1), (1, 0)] {
                        let n = len - from.min(len - 1);
                        let from = len - n;
                        let rows: Vec<T> = (0..width * len).map(|i| T::from(i as f64 + 0.5).unwrap()).collect();
                        let mut lanes = vec![T::nan(); (first + n) * width];
                        rows_to_lanes(&rows, len, from, width, &mut lanes, first);
                        for l in 0..width {
                            for i in 0..n {
                                assert_eq!(lanes[(first + i) * width + l], rows[l * len + from + i], "width {width} len {len} lane {l} entry {i}");
                            }
                        }
                        let mut back = vec![T::nan(); width * n];
                        lanes_to_rows(&lanes, width, first, &mut back);
                        for l in 0..width {
                            assert_eq!(&back[l * n..(l + 1) * n], &rows[l * len + from..(l + 1) * len], "width {width} len {len} lane {l}");
                        }
                    }
                }
            }
        }
        check::<f64>(&[3, 4, 8, 16]);
        check::<f32>(&[3, 4, 8, 16]);
    }

    #[test]
    fn lane_gradients_match_the_per_path_gradient_in_every_lane() {
        for (dim, degree) in [(1, 3), (2, 1), (2, 2), (2, 5), (2, 7), (3, 4), (3, 6), (4, 3), (5, 3), (6, 2), (7, 3), (8, 2), (9, 2), (9, 4), (16, 2)] {
            for count in [1, 2, 3, STEP_BLOCK] {
                // one vector of lanes, two and (float64) four: every width
                // that backward_width picks
                for width in [1, 2, 4] {
                    check_backward::<f64>(dim, degree, count, width * lanes::<f64>(), 1e-12);
                }
                for width in [1, 2] {
                    check_backward::<f32>(dim, degree, count, width * lanes::<f32>(), 1e-4);
                }
            }
        }
    }

    #[test]
    fn lane_groups_fill_wide_groups_then_one_narrow_group() {
        // float32: one vector is 8 lanes
        assert_eq!(lane_groups::<f32>(27, 16, 1), (16, 16, 8));
        assert_eq!(lane_groups::<f32>(32, 16, 1), (16, 32, 0));
        assert_eq!(lane_groups::<f32>(15, 16, 1), (8, 8, 0));
        assert_eq!(lane_groups::<f32>(7, 16, 1), (8, 0, 0));
        // a group of one vector has no narrower group
        assert_eq!(lane_groups::<f32>(15, 8, 1), (8, 8, 0));
        assert_eq!(lane_groups::<f64>(7, 4, 1), (4, 4, 0));
        assert_eq!(lane_groups::<f64>(13, 8, 1), (8, 8, 4));
        // narrower groups where wide ones would leave a thread idle
        assert_eq!(lane_groups::<f32>(27, 16, 2), (8, 24, 0));
        assert_eq!(lane_groups::<f32>(32, 16, 2), (16, 32, 0));
        assert_eq!(lane_groups::<f64>(9, 4, 4), (4, 8, 0));
    }

    #[test]
    fn group_widths_follow_their_bounds() {
        let len = |d: usize, n: u32| (0..=n).map(|k| d.pow(k)).sum::<usize>();
        assert_eq!(forward_width::<f64>(2, len(2, 8)), 8);
        assert_eq!(forward_width::<f32>(2, len(2, 8)), 16);
        assert_eq!(forward_width::<f64>(3, len(3, 4)), 8);
        assert_eq!(forward_width::<f64>(3, len(3, 5)), 4);
        assert_eq!(forward_width::<f32>(3, len(3, 4)), 16);
        assert_eq!(forward_width::<f32>(3, len(3, 5)), 8);
        assert_eq!(forward_width::<f32>(4, len(4, 3)), 16);
        assert_eq!(forward_width::<f32>(4, len(4, 4)), 8);
        assert_eq!(forward_width::<f64>(4, len(4, 7)), 8);
        assert_eq!(forward_width::<f64>(5, len(5, 2)), 4);
        assert_eq!(forward_width::<f32>(5, len(5, 2)), 8);
        // float64 d = 2 doubles to 16 lanes up to degree 5 (62 entries)
        assert_eq!(backward_width::<f64>(2, len(2, 5)), 16);
        assert_eq!(backward_width::<f64>(2, len(2, 6)), 8);
        // float64 d = 3 in four vectors would be 12 vectors a row
        assert_eq!(backward_width::<f64>(3, len(3, 2)), 8);
        assert_eq!(backward_width::<f64>(4, len(4, 2)), 4);
        assert_eq!(backward_width::<f64>(5, len(5, 2)), 4);
        assert_eq!(backward_width::<f32>(2, len(2, 6)), 16);
        assert_eq!(backward_width::<f32>(2, len(2, 7)), 8);
        assert_eq!(backward_width::<f32>(3, len(3, 4)), 16);
        assert_eq!(backward_width::<f32>(3, len(3, 5)), 8);
        assert_eq!(backward_width::<f32>(4, len(4, 2)), 8);
    }

    #[test]
    fn steps_by_prefix_equal_the_plain_blocks_bit_for_bit() {
        // Parts of degree 3 (the kernel's degree-3 branch) and more, words
        // of length 1-3, compile-time and run-time dimensions (d = 9), one
        // and two vectors of lanes, a run of 64 steps and a partial one.
        fn check<T: Float>(dim: usize, degree: usize, part_max_bytes: usize, count: usize, l_n: usize) {
            let shape = TensorShape::new(dim, degree).unwrap();
            let len = shape.len();
            let mut seed = (dim * 1000 + degree * 10 + count) as u64;
            let conv = |v: Vec<f64>| -> Vec<T> { v.into_iter().map(|x| T::from_f64(x).unwrap()).collect() };
            let mut plain = conv(random(len * l_n, &mut seed));
            plain[..l_n].fill(T::one());
            let mut by_prefix = plain.clone();
            let dxs = conv(random(count * dim * l_n, &mut seed));
            let mut split = PrefixSplit::<T>::with_limits(&shape, l_n, 0, part_max_bytes, block_ws_len).unwrap().expect("split");
            assert!(split.q >= 1 && split.part_shape.degree >= 3);
            let mut ws = vec![T::nan(); block_ws_len(&shape, l_n)];
            let plain_run = |plain: &mut [T], ws: &mut [T]| {
                for i in (0..count).step_by(STEP_BLOCK) {
                    let block = (count - i).min(STEP_BLOCK);
                    mul_exp_block_lanes(dim, l_n, &shape, plain, &dxs[i * dim * l_n..(i + block) * dim * l_n], block, ws);
                }
            };
            let assert_equal = |by_prefix: &[T], plain: &[T], what: &str| {
                for (i, (x, y)) in by_prefix.iter().zip(plain).enumerate() {
                    assert!(x == y, "{what}: dim {dim} degree {degree} count {count} lanes {l_n} entry {i}: {x:?} vs {y:?}");
                }
            };
            mul_exp_steps_by_prefix_lanes(dim, l_n, &shape, &mut by_prefix, &dxs, count, &mut split, None);
            plain_run(&mut plain, &mut ws);
            assert_equal(&by_prefix, &plain, "from a state");
            // From the identity, levels above q unset (NaN) but for a fresh
            // start, and then a second run from what the first left.
            plain.fill(T::zero());
            plain[..l_n].fill(T::one());
            let mut by_prefix = vec![T::nan(); len * l_n];
            by_prefix[..split.low_len() * l_n].copy_from_slice(&plain[..split.low_len() * l_n]);
            split.start_fresh();
            for _ in 0..2 {
                mul_exp_steps_by_prefix_lanes(dim, l_n, &shape, &mut by_prefix, &dxs, count, &mut split, None);
                plain_run(&mut plain, &mut ws);
                assert_equal(&by_prefix, &plain, "from the identity");
            }
            // A last run into the output rows, from entry `skip` on: the
            // levels above q (the caller writes those up to q).
            plain_run(&mut plain, &mut ws);
            for skip in [0, 1] {
                let row_len = len - skip;
                let mut rows = vec![T::nan(); l_n * row_len];
                let mut state = by_prefix.clone();
                mul_exp_steps_by_prefix_lanes(dim, l_n, &shape, &mut state, &dxs, count, &mut split, Some((&mut rows, skip)));
                for (l, row) in rows.chunks_exact(row_len).enumerate() {
                    for i in split.low_len()..len {
                        let (x, y) = (row[i - skip], plain[i * l_n + l]);
                        assert!(x == y, "into rows, skip {skip}: dim {dim} degree {degree} count {count} lanes {l_n} lane {l} entry {i}: {x:?} vs {y:?}");
                    }
                }
            }
        }
        for (dim, degree, part_max_bytes) in [(2, 6, 0), (2, 7, 1024), (3, 5, 0), (3, 6, 4096), (4, 5, 0), (5, 4, 0), (9, 4, 0)] {
            for count in [PREFIX_SPLIT_STEPS, 21] {
                for width in [1, 2] {
                    check::<f64>(dim, degree, part_max_bytes, count, width * lanes::<f64>());
                    check::<f32>(dim, degree, part_max_bytes, count, width * lanes::<f32>());
                }
            }
        }
    }

    #[test]
    fn fixed_shapes_lay_out_levels_as_the_run_time_shape() {
        fn check<const D: usize, const N: usize>() {
            let shape = TensorShape::new(D, N).unwrap();
            assert_eq!(FixedShape::<D, N>.degree(), N);
            for k in 0..=N {
                assert_eq!(FixedShape::<D, N>.level(k), shape.level(k), "d {D} degree {N} level {k}");
                assert_eq!(FixedShape::<D, N>.level_len(k), shape.level_len(k), "d {D} degree {N} level {k}");
            }
        }
        check::<2, 3>();
        check::<2, 4>();
        check::<3, 3>();
        check::<3, 7>();
    }

    #[test]
    fn lanes_match_the_per_path_step_in_every_lane() {
        // Every row count per pass of `last_levels_in_registers` (d = 2-7),
        // top-level rows in one pass (d = 8, 10) and in several (d = 12, 16,
        // 20; and d = 5-7 in two vectors), and the run-time dimension of
        // `last_levels_by_row` (d = 9, 11); the compile-time shapes of
        // [`FixedShape`] (d = 2 at degrees 3-4, d = 3 at degree 3).
        for (dim, degree) in [(1, 3), (1, 6), (2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 7), (3, 2), (3, 3), (3, 4), (3, 6), (4, 3), (4, 4), (5, 3), (6, 2), (6, 3), (7, 3), (8, 2), (9, 3), (9, 5), (10, 3), (11, 2), (12, 2), (12, 3), (16, 2), (20, 2)] {
            for count in [1, 3, STEP_BLOCK] {
                for width in [1, 2] {
                    check::<f64>(dim, degree, count, width * lanes::<f64>(), 1e-13);
                    check::<f32>(dim, degree, count, width * lanes::<f32>(), 1e-5);
                }
            }
        }
    }
}
