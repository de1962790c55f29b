//! Products of log-signatures in the Lyndon basis (pysiglib's
//! `log_sig_combine` and `log_sig_join`), and their gradients.
//!
//! The Baker-Campbell-Hausdorff product of two Lie elements is
//! `BCH(a, b) = log(exp(a) (x) exp(b))`, truncated at the degree `N`: the
//! log-signature of path a followed by path b. It is evaluated that way:
//! expand the Lyndon coordinates, take each exponential (Horner), multiply,
//! take the logarithm (Horner) and project back onto the Lyndon basis; the
//! gradients walk the same chain backwards with every partial sum kept.
//!
//! Three things make it cheap.
//!
//! - The top level is needed only at the Lyndon words. The projection reads
//!   the logarithm only there; a product's top level at a word `w` reads the
//!   factors' top levels only at `w` itself (the splits `w = w.1 = 1.w`), and
//!   every other split reads lower levels. So every tensor of the chain is
//!   kept "restricted": levels `0..N` in full (the usual flat layout), then
//!   level `N` at its Lyndon words only (about `d^N / N` of the `d^N`
//!   words, `N + 1` terms each): about `N` times less work there, and the
//!   top level is most of the work.
//! - The top-level coordinates enter linearly: a bracket containing a
//!   degree-`N` element has degree above `N`, so `BCH(a, b)` at the top
//!   level is `a_N + b_N` plus terms of the lower levels only. The chain runs
//!   with `a_N = b_N = 0` and adds `a_N + b_N` at the end; their gradients
//!   are the output's. The largest part of the bracket expansions (about
//!   `2^(N-1)` terms per top-level bracket) is never read.
//! - Every operation runs on `W` batch entries at once, their tensors
//!   interleaved (entry `j` of index `i` at `i * W + j`): each term of a
//!   product, expansion or projection is one vector operation, whatever the
//!   dimension, and the index arithmetic and tables are read once per block.
//!
//! `log_sig_join` multiplies by `exp(v)` of a straight segment, formed
//! directly (level `k` is level `k - 1` times `v / k`) rather than by Horner.
//!
//! Log-signatures are `batch * log_sig_length(dim, degree)` numbers: the
//! coordinates of pysiglib's method 2 (and 3), in the order of the Lyndon
//! words by length, then lexicographically.

use std::sync::Arc;

use crate::alloc::zeros;
use crate::batch::try_for_each_item;
use crate::error::{check_len, Result, SigError};
use crate::lyndon::{checked_lyndon_count, checked_shape, lyndon_basis, LyndonBasis, SparseExpansions};
use crate::simd::{fma_dispatched, fmadd};
use crate::tensor::TensorShape;
use crate::{recip, Float};

/// Batch entries processed together (one 256-bit vector of f64).
const W: usize = 4;

/// The Lyndon basis of `(dim, degree)` and the restricted layout.
struct Plan {
    shape: TensorShape,
    basis: Arc<LyndonBasis>,
    /// Coordinates per log-signature.
    len: usize,
    /// Coordinates below the top level (the top level's come last).
    n_lower: usize,
    /// Where level `N` starts in the full layout: the restricted layout is
    /// the full one up to here, then the top level's Lyndon words.
    lower_end: usize,
    /// Numbers in a restricted tensor.
    restricted_len: usize,
    /// For each top-level Lyndon word and each split `w = uv` with
    /// `1 <= |u| < N`: the flat indices of `u` and `v` (`N - 1` pairs per word).
    splits: Vec<(u32, u32)>,
    /// Each coordinate's Lyndon word in the restricted layout.
    positions: Vec<usize>,
}

impl Plan {
    /// `None` when a log-signature has no coordinates (degree 0 or no
    /// letters): there is nothing to compute, and no table to build.
    fn new(dim: usize, degree: usize) -> Result<Option<Self>> {
        let len = checked_lyndon_count(dim, degree)?;
        if len == 0 {
            return Ok(None);
        }
        let shape = checked_shape(dim, degree)?;
        let basis = lyndon_basis(dim, degree)?;
        let lower_end = shape.level(degree).start;
        if lower_end > u32::MAX as usize {
            return Err(SigError::Overflow(format!("the split table of dimension {dim} and degree {degree}")));
        }
        let words = basis.word_indices();
        let n_lower = words.partition_point(|&w| w < lower_end);
        let n_top = len - n_lower;
        let what = "the split table of a log-signature product";
        let mut splits = Vec::new();
        crate::alloc::try_reserve(&mut splits, what, n_top.saturating_mul(degree - 1))?;
        for &w in &words[n_lower..] {
            let r = w - lower_end;
            let mut pow = 1; // d^|v|
            for u_len in (1..degree).rev() {
                pow *= dim;
                let u = shape.level(u_len).start + r / pow;
                let v = shape.level(degree - u_len).start + r % pow;
                splits.push((u as u32, v as u32));
            }
        }
        let mut positions = Vec::new();
        crate::alloc::try_reserve(&mut positions, what, len)?;
        positions.extend_from_slice(&words[..n_lower]);
        positions.extend(lower_end..lower_end + n_top);
        Ok(Some(Plan { shape, basis, len, n_lower, lower_end, restricted_len: lower_end + n_top, splits, positions }))
    }

    fn degree(&self) -> usize {
        self.shape.degree
    }

    /// Restricted numbers in use when levels up to `top` are formed.
    fn used(&self, top: usize) -> usize {
        if top >= self.degree() {
            self.restricted_len
        } else {
            self.shape.level(top).end
        }
    }

    /// Floating-point work of one entry's forward pass, for the parallel threshold.
    fn work(&self) -> usize {
        self.restricted_len.saturating_mul(4 * self.degree() + 2).saturating_add(self.splits.len().saturating_mul(4))
    }
}

/// The batch size of `buffers`, given as `(name, length, numbers per item)`,
/// read off the first and checked against the others.
fn batch_of(buffers: &[(&'static str, usize, usize)]) -> Result<usize> {
    let (name, len, per) = buffers[0];
    if per == 0 {
        return Ok(0);
    }
    if len % per != 0 {
        return Err(SigError::BufferLength { name, expected: (len / per + 1) * per, actual: len });
    }
    let batch = len / per;
    for &(name, len, per) in &buffers[1..] {
        check_len(name, len, batch * per)?;
    }
    Ok(batch)
}

#[inline(always)]
fn get<T: Copy>(x: &[T], i: usize) -> [T; W] {
    x[i * W..i * W + W].try_into().expect("W lanes")
}

#[inline(always)]
fn put<T: Copy>(x: &mut [T], i: usize, v: [T; W]) {
    x[i * W..i * W + W].copy_from_slice(&v);
}

#[inline(always)]
fn fma_lanes<T: Float, const FMA: bool>(a: [T; W], b: [T; W], c: [T; W]) -> [T; W] {
    std::array::from_fn(|l| fmadd::<T, FMA>(a[l], b[l], c[l]))
}

/// `out = c x (x) h` on restricted tensors, lane by lane, at levels
/// `0..=top` (the top level `N` at its Lyndon words). `x0`: whether `x` has
/// a level 0 (when false it is taken to be 0 and `h`'s level `top` is not
/// read). The factor `c` (a Horner step's `1/k` or sign) rides on the
/// loaded factors, saving a pass over the result.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn mul_lanes_kernel<T: Float, const FMA: bool>(plan: &Plan, x: &[T], x0: bool, h: &[T], c: T, top: usize, out: &mut [T]) {
    let n = plan.degree();
    let zero = [T::zero(); W];
    let h_0 = get(h, 0);
    let h_0c: [T; W] = std::array::from_fn(|l| h_0[l] * c);
    put(out, 0, if x0 { std::array::from_fn(|l| x[l] * h_0c[l]) } else { zero });
    for k in 1..=top.min(n - 1) {
        let level = plan.shape.level(k);
        let o_level = &mut out[level.start * W..level.end * W];
        // The split `w = w.1` first, as a plain write: no zero fill.
        for (o, xv) in o_level.chunks_exact_mut(W).zip(x[level.start * W..level.end * W].chunks_exact(W)) {
            for l in 0..W {
                o[l] = xv[l] * h_0c[l];
            }
        }
        for i_len in usize::from(!x0)..k {
            let j_len = k - i_len;
            let (ui, vj) = (plan.shape.level(i_len), plan.shape.level(j_len));
            let dj = vj.len();
            let h_row = &h[vj.start * W..vj.end * W];
            for (u, o_row) in o_level.chunks_exact_mut(dj * W).enumerate() {
                let xu = get(x, ui.start + u).map(|v| v * c);
                for (o, hv) in o_row.chunks_exact_mut(W).zip(h_row.chunks_exact(W)) {
                    for l in 0..W {
                        o[l] = fmadd::<T, FMA>(xu[l], hv[l], o[l]);
                    }
                }
            }
        }
    }
    if top >= n {
        let (base, n_top) = (plan.lower_end, plan.restricted_len - plan.lower_end);
        let x_0 = get(x, 0);
        let per = n - 1;
        // Four words at a time: four independent chains of additions (in
        // registers: named, not an indexed array).
        let word = |t: usize, acc: [T; W]| -> [T; W] {
            let acc = fma_lanes::<T, FMA>(get(x, base + t), h_0, acc);
            if x0 {
                fma_lanes::<T, FMA>(x_0, get(h, base + t), acc)
            } else {
                acc
            }
        };
        let split = |t: usize, s: usize, acc: [T; W]| -> [T; W] {
            let (u, v) = plan.splits[t * per + s];
            fma_lanes::<T, FMA>(get(x, u as usize), get(h, v as usize), acc)
        };
        let quads = n_top / 4 * 4;
        for t in (0..quads).step_by(4) {
            let (mut a0, mut a1, mut a2, mut a3) = (word(t, zero), word(t + 1, zero), word(t + 2, zero), word(t + 3, zero));
            for s in 0..per {
                a0 = split(t, s, a0);
                a1 = split(t + 1, s, a1);
                a2 = split(t + 2, s, a2);
                a3 = split(t + 3, s, a3);
            }
            put(out, base + t, a0.map(|v| v * c));
            put(out, base + t + 1, a1.map(|v| v * c));
            put(out, base + t + 2, a2.map(|v| v * c));
            put(out, base + t + 3, a3.map(|v| v * c));
        }
        for t in quads..n_top {
            let mut a = word(t, zero);
            for s in 0..per {
                a = split(t, s, a);
            }
            put(out, base + t, a.map(|v| v * c));
        }
    }
}

/// `sum_i g[i] h[i]` (lane-wise, plus `init`) while adding `x g[i]` into
/// `g_h[i]`, over rows of interleaved lanes: two chains in registers.
#[inline(always)]
fn dot_and_axpy<T: Float, const FMA: bool>(g: &[T], h: &[T], g_h: &mut [T], x: [T; W], init: [T; W]) -> [T; W] {
    let (mut a0, mut a1) = (init, [T::zero(); W]);
    let (mut gi, mut hi, mut ghi) = (g.chunks_exact(2 * W), h.chunks_exact(2 * W), g_h.chunks_exact_mut(2 * W));
    for ((g2, h2), gh2) in (&mut gi).zip(&mut hi).zip(&mut ghi) {
        for l in 0..W {
            a0[l] = fmadd::<T, FMA>(g2[l], h2[l], a0[l]);
            gh2[l] = fmadd::<T, FMA>(x[l], g2[l], gh2[l]);
        }
        for l in 0..W {
            a1[l] = fmadd::<T, FMA>(g2[W + l], h2[W + l], a1[l]);
            gh2[W + l] = fmadd::<T, FMA>(x[l], g2[W + l], gh2[W + l]);
        }
    }
    for ((g1, h1), gh1) in gi.remainder().chunks_exact(W).zip(hi.remainder().chunks_exact(W)).zip(ghi.into_remainder().chunks_exact_mut(W)) {
        for l in 0..W {
            a0[l] = fmadd::<T, FMA>(g1[l], h1[l], a0[l]);
            gh1[l] = fmadd::<T, FMA>(x[l], g1[l], gh1[l]);
        }
    }
    std::array::from_fn(|l| a0[l] + a1[l])
}

/// The transpose of [`mul_lanes`]: from `g` = dF/d(out) (read at levels
/// `0..=top`), ADDS dF/dx into `g_x` and dF/dh into `g_h`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn mul_lanes_backward_kernel<T: Float, const FMA: bool>(plan: &Plan, x: &[T], x0: bool, h: &[T], c: T, top: usize, g: &[T], g_x: &mut [T], g_h: &mut [T]) {
    let n = plan.degree();
    let zero = [T::zero(); W];
    let h_0 = get(h, 0);
    let h_0c: [T; W] = std::array::from_fn(|l| h_0[l] * c);
    // dF/dh_0 from every split `w = w.1` (times c).
    let mut g_h0 = zero;
    if x0 {
        let g0 = get(g, 0);
        put(g_x, 0, fma_lanes::<T, FMA>(g0, h_0c, get(g_x, 0)));
        g_h0 = fma_lanes::<T, FMA>(g0, get(x, 0).map(|v| v * c), g_h0);
    }
    for k in 1..=top.min(n - 1) {
        let level = plan.shape.level(k);
        let g_level = &g[level.start * W..level.end * W];
        let x_level = &x[level.start * W..level.end * W];
        // The split `w = w.1`: g_x += g h_0 over the level, g_h0 += <g, x>.
        // (dot_and_axpy with the roles of x and h swapped, h_0 for x.)
        let dot = dot_and_axpy::<T, FMA>(g_level, x_level, &mut g_x[level.start * W..level.end * W], h_0c, zero);
        g_h0 = std::array::from_fn(|l| fmadd::<T, FMA>(dot[l], c, g_h0[l]));
        for i_len in usize::from(!x0)..k {
            let j_len = k - i_len;
            let (ui, vj) = (plan.shape.level(i_len), plan.shape.level(j_len));
            let dj = vj.len();
            let h_row = &h[vj.start * W..vj.end * W];
            for (u, g_row) in g_level.chunks_exact(dj * W).enumerate() {
                let xu = get(x, ui.start + u).map(|v| v * c);
                let dot = dot_and_axpy::<T, FMA>(g_row, h_row, &mut g_h[vj.start * W..vj.end * W], xu, zero);
                put(g_x, ui.start + u, fma_lanes::<T, FMA>(dot, [c; W], get(g_x, ui.start + u)));
            }
        }
    }
    if top >= n {
        let (base, n_top) = (plan.lower_end, plan.restricted_len - plan.lower_end);
        let x_0 = get(x, 0);
        let mut g_x0 = zero;
        let per = n - 1;
        for t in 0..n_top {
            let gt = get(g, base + t).map(|v| v * c);
            put(g_x, base + t, fma_lanes::<T, FMA>(gt, h_0, get(g_x, base + t)));
            g_h0 = fma_lanes::<T, FMA>(gt, get(x, base + t), g_h0);
            if x0 {
                g_x0 = fma_lanes::<T, FMA>(gt, get(h, base + t), g_x0);
                put(g_h, base + t, fma_lanes::<T, FMA>(gt, x_0, get(g_h, base + t)));
            }
            for &(u, v) in &plan.splits[t * per..(t + 1) * per] {
                let (u, v) = (u as usize, v as usize);
                put(g_x, u, fma_lanes::<T, FMA>(gt, get(h, v), get(g_x, u)));
                put(g_h, v, fma_lanes::<T, FMA>(gt, get(x, u), get(g_h, v)));
            }
        }
        if x0 {
            put(g_x, 0, std::array::from_fn(|l| g_x[l] + g_x0[l]));
        }
    }
    put(g_h, 0, std::array::from_fn(|l| g_h[l] + g_h0[l]));
}

fma_dispatched! {
    fn mul_lanes<T>(plan: &Plan, x: &[T], x0: bool, h: &[T], c: T, top: usize, out: &mut [T]) = mul_lanes_kernel;
}

fma_dispatched! {
    fn mul_lanes_backward<T>(plan: &Plan, x: &[T], x0: bool, h: &[T], c: T, top: usize, g: &[T], g_x: &mut [T], g_h: &mut [T]) = mul_lanes_backward_kernel;
}

/// `expanded[i * W + j] = sum_e coords[e * W + j] P_e[i]` over the first `n`
/// elements: the expansions of `W` interleaved coordinate vectors (entries
/// `0..written` are set, the elements' words must lie there).
fn expand_lanes<T: Float>(table: &SparseExpansions, n: usize, coords: &[T], expanded: &mut [T], written: usize) {
    expanded[..written * W].fill(T::zero());
    for (e, c) in coords.chunks_exact(W).take(n).enumerate() {
        let c: [T; W] = c.try_into().expect("W coordinates");
        let (idx, coef) = table.element(e);
        for (&i, &k) in idx.iter().zip(coef) {
            let k = T::from_f64(k).unwrap_or_else(T::nan);
            put(expanded, i, std::array::from_fn(|l| expanded[i * W + l] + k * c[l]));
        }
    }
}

/// The transpose of [`expand_lanes`]: `g_coords[e * W + j] = <P_e, g_expanded[.. * W + j]>`.
fn expand_lanes_backward<T: Float>(table: &SparseExpansions, n: usize, g_expanded: &[T], g_coords: &mut [T]) {
    for (e, g) in g_coords.chunks_exact_mut(W).take(n).enumerate() {
        let mut acc = [T::zero(); W];
        let (idx, coef) = table.element(e);
        for (&i, &k) in idx.iter().zip(coef) {
            let k = T::from_f64(k).unwrap_or_else(T::nan);
            let x = get(g_expanded, i);
            acc = std::array::from_fn(|l| acc[l] + k * x[l]);
        }
        g.copy_from_slice(&acc);
    }
}

/// `exp(v)` restricted into `e` for the displacements `v` held as the
/// first `dim` interleaved coordinates of `coords`: level `k` is level
/// `k - 1` times `v / k`, one multiplication per entry. At degree 1 the
/// letters are the top level, whose coordinates the chain leaves out (see
/// the module notes): then `e = 1`.
fn exp_of_segment<T: Float>(plan: &Plan, coords: &[T], e: &mut [T]) {
    let (d, n) = (plan.shape.dim, plan.degree());
    e[..W].fill(T::one());
    if n == 1 {
        return;
    }
    e[W..(d + 1) * W].copy_from_slice(&coords[..d * W]);
    for k in 2..n {
        let c = recip::<T>(k);
        let (prev, level) = (plan.shape.level(k - 1), plan.shape.level(k));
        let (lower, upper) = e.split_at_mut(level.start * W);
        let upper = &mut upper[..level.len() * W];
        for (u, row) in upper.chunks_exact_mut(d * W).enumerate() {
            let bu = get(lower, prev.start + u);
            for (i, o) in row.chunks_exact_mut(W).enumerate() {
                let v = get(coords, i);
                for l in 0..W {
                    o[l] = bu[l] * v[l] * c;
                }
            }
        }
    }
    let c = recip::<T>(n);
    let per = n - 1;
    for t in 0..plan.restricted_len - plan.lower_end {
        // The first split of a top word is (its prefix, its last letter).
        let (u, last) = plan.splits[t * per];
        let (bu, v) = (get(e, u as usize), get(coords, last as usize - 1));
        put(e, plan.lower_end + t, std::array::from_fn(|l| bu[l] * v[l] * c));
    }
}

/// The transpose of [`exp_of_segment`]: from `g_e` = dF/d(exp(v))
/// (consumed), writes dF/dv into the first `dim` interleaved entries of
/// `g_coords` (nothing at degree 1, where `v` does not enter the chain).
fn exp_of_segment_backward<T: Float>(plan: &Plan, coords: &[T], e: &[T], g_e: &mut [T], g_coords: &mut [T]) {
    let (d, n) = (plan.shape.dim, plan.degree());
    if n == 1 {
        return;
    }
    let g_v = &mut g_coords[..d * W];
    g_v.fill(T::zero());
    let c = recip::<T>(n);
    let per = n - 1;
    for t in 0..plan.restricted_len - plan.lower_end {
        let (u, last) = plan.splits[t * per];
        let (u, i) = (u as usize, last as usize - 1);
        let gt = get(g_e, plan.lower_end + t);
        let (bu, v, gu, gv) = (get(e, u), get(coords, i), get(g_e, u), get(g_v, i));
        put(g_e, u, std::array::from_fn(|l| gu[l] + gt[l] * v[l] * c));
        put(g_v, i, std::array::from_fn(|l| gv[l] + gt[l] * bu[l] * c));
    }
    for k in (2..n).rev() {
        let c = recip::<T>(k);
        let (prev, level) = (plan.shape.level(k - 1), plan.shape.level(k));
        let (lower, upper) = g_e.split_at_mut(level.start * W);
        for (u, row) in upper[..level.len() * W].chunks_exact(d * W).enumerate() {
            let bu = get(e, prev.start + u);
            let mut acc = get(lower, prev.start + u);
            for (i, gk) in row.chunks_exact(W).enumerate() {
                let v = get(coords, i);
                let gv = get(g_v, i);
                for l in 0..W {
                    acc[l] += gk[l] * v[l] * c;
                }
                put(g_v, i, std::array::from_fn(|l| gv[l] + gk[l] * bu[l] * c));
            }
            put(lower, prev.start + u, acc);
        }
    }
    for (gv, &g) in g_v.iter_mut().zip(&g_e[W..(d + 1) * W]) {
        *gv += g;
    }
}

/// One worker's buffers, all interleaved over [`W`] entries: the
/// coordinates, the expanded Lie elements, the exponentials' and the
/// logarithm's Horner partial sums, the product, and the gradients.
struct BchLanes<T> {
    /// Coordinates of the left and right factors (`len * W`).
    coords_a: Vec<T>,
    coords_b: Vec<T>,
    /// The result's coordinates, or their gradient on the way back.
    coords_out: Vec<T>,
    lie_a: Vec<T>,
    lie_b: Vec<T>,
    /// `e_a[k - 1]` = E_k = 1 + L (x) E_{k+1} / k (E_1 = exp(L) restricted;
    /// the others reach level `N + 1 - k < N` only).
    e_a: Vec<Vec<T>>,
    e_b: Vec<Vec<T>>,
    /// exp(a) (x) exp(b) = 1 + X.
    product: Vec<T>,
    /// `h[k - 1]` = H_k = 1/k - X (x) H_{k+1}, H_N = 1/N.
    h: Vec<Vec<T>>,
    log: Vec<T>,
    g_log: Vec<T>,
    g_product: Vec<T>,
    g_cur: Vec<T>,
    g_next: Vec<T>,
    g_a: Vec<T>,
    g_b: Vec<T>,
    g_lie: Vec<T>,
    g_coords_a: Vec<T>,
    g_coords_b: Vec<T>,
}

impl<T: Float> BchLanes<T> {
    fn new(plan: &Plan, backward: bool) -> Result<Self> {
        let z = |n: usize| zeros("the workspace of a log-signature product", n * W);
        let (r, lower, n) = (plan.restricted_len, plan.lower_end, plan.len);
        let chain = |first: usize| -> Result<Vec<Vec<T>>> {
            let mut v = Vec::new();
            crate::alloc::try_reserve(&mut v, "the workspace of a log-signature product", plan.degree())?;
            for k in 0..plan.degree() {
                v.push(z(if k == 0 { first } else { lower })?);
            }
            Ok(v)
        };
        let gr = if backward { r } else { 0 };
        let gn = if backward { n } else { 0 };
        Ok(BchLanes {
            coords_a: z(n)?,
            coords_b: z(n)?,
            coords_out: z(n)?,
            lie_a: z(r)?,
            lie_b: z(r)?,
            e_a: chain(r)?,
            e_b: chain(r)?,
            product: z(r)?,
            h: chain(lower.max(1))?,
            log: z(r)?,
            g_log: z(gr)?,
            g_product: z(gr)?,
            g_cur: z(gr)?,
            g_next: z(gr)?,
            g_a: z(gr)?,
            g_b: z(gr)?,
            g_lie: z(gr)?,
            g_coords_a: z(gn)?,
            g_coords_b: z(gn)?,
        })
    }

    /// `m <= W` entries of `len` numbers each into lanes `0..m` of
    /// `lanes` (`len * W`), the other lanes zero.
    fn interleave(entries: &[T], len: usize, lanes: &mut [T]) {
        const { assert!(W == 4) };
        let [r0, r1, r2, r3] = [0, 1, 2, 3].map(|j| entries.get(j * len..(j + 1) * len));
        if let (Some(r0), Some(r1), Some(r2), Some(r3)) = (r0, r1, r2, r3) {
            // A full block: four rows zipped, no index checks.
            for ((((o, &a), &b), &c), &d) in lanes.chunks_exact_mut(W).zip(r0).zip(r1).zip(r2).zip(r3) {
                o.copy_from_slice(&[a, b, c, d]);
            }
            return;
        }
        lanes.fill(T::zero());
        for (j, entry) in entries.chunks_exact(len).enumerate() {
            for (o, &x) in lanes.chunks_exact_mut(W).zip(entry) {
                o[j] = x;
            }
        }
    }

    /// The transpose of [`interleave`](Self::interleave).
    fn deinterleave(lanes: &[T], len: usize, entries: &mut [T]) {
        if entries.len() == W * len {
            let (r0, rest) = entries.split_at_mut(len);
            let (r1, rest) = rest.split_at_mut(len);
            let (r2, r3) = rest.split_at_mut(len);
            for ((((lane, a), b), c), d) in lanes.chunks_exact(W).zip(r0).zip(r1).zip(r2).zip(r3) {
                [*a, *b, *c, *d] = [lane[0], lane[1], lane[2], lane[3]];
            }
            return;
        }
        for (j, entry) in entries.chunks_exact_mut(len).enumerate() {
            for (o, lane) in entry.iter_mut().zip(lanes.chunks_exact(W)) {
                *o = lane[j];
            }
        }
    }

    /// `exp(lie)` restricted into `e[0]`, keeping every partial sum.
    fn exp(plan: &Plan, lie: &[T], e: &mut [Vec<T>]) {
        let n = plan.degree();
        // E_N = 1 + L / N, used up to level 1.
        let used = plan.used(1) * W;
        let c = recip::<T>(n);
        for (o, &x) in e[n - 1][..used].iter_mut().zip(&lie[..used]) {
            *o = x * c;
        }
        for o in &mut e[n - 1][..W] {
            *o = T::one();
        }
        // E_k is multiplied by L k - 1 times, and L has no level 0: only
        // its levels up to N + 1 - k reach the result.
        for k in (1..n).rev() {
            let (lower, upper) = e.split_at_mut(k);
            let top = n + 1 - k;
            mul_lanes(plan, lie, false, &upper[0], recip::<T>(k), top, &mut lower[k - 1]);
            for o in &mut lower[k - 1][..W] {
                *o = T::one();
            }
        }
    }

    /// The transpose of [`exp`](Self::exp): from `g_e` = dF/dE_1 (consumed),
    /// writes dF/dL into `g_lie` (level 0 zero), with `g_next` as scratch.
    fn exp_backward(plan: &Plan, lie: &[T], e: &[Vec<T>], g_e: &mut Vec<T>, g_next: &mut Vec<T>, g_lie: &mut [T]) {
        let n = plan.degree();
        g_lie.fill(T::zero());
        for (k, e_next) in e.iter().enumerate().take(n).skip(1) {
            // E_k = 1 + Q / k, Q = L (x) E_{k+1} up to level N + 1 - k.
            let top = n + 1 - k;
            // The product writes E_{k+1}'s gradient at levels below `top` only.
            g_next[..plan.used(top - 1) * W].fill(T::zero());
            mul_lanes_backward(plan, lie, false, e_next, recip::<T>(k), top, g_e, g_lie, g_next);
            std::mem::swap(g_e, g_next);
        }
        // E_N = 1 + L / N up to level 1.
        let c = recip::<T>(n);
        let used = plan.used(1) * W;
        for (o, &g) in g_lie[..used].iter_mut().zip(&g_e[..used]) {
            *o += g * c;
        }
        g_lie[..W].fill(T::zero());
    }

    /// `log(product)` restricted into `self.log`, keeping every H_k.
    fn log(&mut self, plan: &Plan) {
        let n = plan.degree();
        let h = &mut self.h;
        h[n - 1][..W].fill(recip::<T>(n));
        // H_k is multiplied by X k times: only its levels up to N - k count.
        for k in (1..n).rev() {
            let (lower, upper) = h.split_at_mut(k);
            let top = n - k;
            mul_lanes(plan, &self.product, false, &upper[0], -T::one(), top, &mut lower[k - 1]);
            for o in &mut lower[k - 1][..W] {
                *o += recip::<T>(k);
            }
        }
        mul_lanes(plan, &self.product, false, &h[0], T::one(), n, &mut self.log);
    }

    /// The transpose of [`log`](Self::log): from `self.g_log`, leaves
    /// dF/d(product) in `self.g_product`.
    fn log_backward(&mut self, plan: &Plan) {
        let n = plan.degree();
        self.g_product.fill(T::zero());
        self.g_cur[..plan.used(n - 1) * W].fill(T::zero());
        mul_lanes_backward(plan, &self.product, false, &self.h[0], T::one(), n, &self.g_log, &mut self.g_product, &mut self.g_cur);
        for k in 1..n {
            // H_k = 1/k - Q, Q = X (x) H_{k+1} up to level N - k.
            let top = n - k;
            self.g_next[..plan.used(top - 1) * W].fill(T::zero());
            mul_lanes_backward(plan, &self.product, false, &self.h[k], -T::one(), top, &self.g_cur, &mut self.g_product, &mut self.g_next);
            std::mem::swap(&mut self.g_cur, &mut self.g_next);
        }
    }

    /// The forward pass from `coords_a`, `coords_b` (top levels included) to
    /// `coords_out`. `segment`: `coords_b` holds a displacement `v` (its
    /// first `dim` coordinates), whose exponential is formed directly.
    fn forward(&mut self, plan: &Plan, segment: bool) {
        let n = plan.degree();
        let table = plan.basis.expansions();
        // The top levels' coordinates are added at the end (see the module notes).
        // The top level of the Lie elements stays zero from the allocation.
        expand_lanes(table, plan.n_lower, &self.coords_a, &mut self.lie_a, plan.lower_end);
        Self::exp(plan, &self.lie_a, &mut self.e_a);
        if segment {
            exp_of_segment(plan, &self.coords_b, &mut self.e_b[0]);
        } else {
            expand_lanes(table, plan.n_lower, &self.coords_b, &mut self.lie_b, plan.lower_end);
            Self::exp(plan, &self.lie_b, &mut self.e_b);
        }
        mul_lanes(plan, &self.e_a[0], true, &self.e_b[0], T::one(), n, &mut self.product);
        self.product[..W].fill(T::zero());
        self.log(plan);
        // Projection: A c = log at the Lyndon words, A unitriangular by levels.
        for (i, &pos) in plan.positions.iter().enumerate() {
            let mut acc = get(&self.log, pos);
            let (cols, coefs) = plan.basis.triangle_row(i);
            for (&col, &k) in cols.iter().zip(coefs) {
                let k = T::from_f64(k).unwrap_or_else(T::nan);
                let c = get(&self.coords_out, col);
                acc = std::array::from_fn(|l| acc[l] - k * c[l]);
            }
            put(&mut self.coords_out, i, acc);
        }
        let top = plan.n_lower * W..plan.len * W;
        for ((o, &x), &y) in self.coords_out[top.clone()].iter_mut().zip(&self.coords_a[top.clone()]).zip(&self.coords_b[top]) {
            *o += x + y;
        }
    }

    /// After [`forward`](Self::forward): from dF/d(out) in `coords_out`
    /// (consumed), writes dF/d(coords_a) and dF/d(coords_b) into
    /// `g_coords_a`, `g_coords_b`.
    fn backward(&mut self, plan: &Plan, segment: bool) {
        let n = plan.degree();
        let top = plan.n_lower * W..plan.len * W;
        self.g_coords_a[top.clone()].copy_from_slice(&self.coords_out[top.clone()]);
        self.g_coords_b[top.clone()].copy_from_slice(&self.coords_out[top]);
        // The projection's transpose: back substitution with A^T.
        for u in (0..plan.len).rev() {
            let zu = get(&self.coords_out, u);
            let (cols, coefs) = plan.basis.triangle_row(u);
            for (&col, &k) in cols.iter().zip(coefs) {
                let k = T::from_f64(k).unwrap_or_else(T::nan);
                let z = get(&self.coords_out, col);
                put(&mut self.coords_out, col, std::array::from_fn(|l| z[l] - k * zu[l]));
            }
        }
        self.g_log.fill(T::zero());
        for (i, &pos) in plan.positions.iter().enumerate() {
            put(&mut self.g_log, pos, get(&self.coords_out, i));
        }
        self.log_backward(plan);
        self.g_product[..W].fill(T::zero());
        self.g_a.fill(T::zero());
        self.g_b.fill(T::zero());
        mul_lanes_backward(plan, &self.e_a[0], true, &self.e_b[0], T::one(), n, &self.g_product, &mut self.g_a, &mut self.g_b);
        let table = plan.basis.expansions();
        Self::exp_backward(plan, &self.lie_a, &self.e_a, &mut self.g_a, &mut self.g_next, &mut self.g_lie);
        expand_lanes_backward(table, plan.n_lower, &self.g_lie, &mut self.g_coords_a);
        if segment {
            exp_of_segment_backward(plan, &self.coords_b, &self.e_b[0], &mut self.g_b, &mut self.g_coords_b);
        } else {
            Self::exp_backward(plan, &self.lie_b, &self.e_b, &mut self.g_b, &mut self.g_next, &mut self.g_lie);
            expand_lanes_backward(table, plan.n_lower, &self.g_lie, &mut self.g_coords_b);
        }
    }

    /// Lanes `0..m` of the right factor from `m` displacements (`dim` numbers
    /// each): the Lie element `v` has only level-1 coordinates.
    fn load_displacements(&mut self, dim: usize, v: &[T]) {
        self.coords_b.fill(T::zero());
        for (j, vj) in v.chunks_exact(dim).enumerate() {
            for (e, &x) in vj.iter().enumerate() {
                self.coords_b[e * W + j] = x;
            }
        }
    }
}

/// The log-signature of path a followed by path b from theirs:
/// `BCH(a, b) = log(exp(a) (x) exp(b))` in the Lyndon basis, for each pair
/// of a batch (`a`, `b` and `out` hold `batch * log_sig_length(dim, degree)`
/// numbers).
///
/// ```
/// use sig_core::logsig_algebra::log_sig_combine;
/// // Two letters: BCH(x, y) = x + y + [x, y] / 2 at degree 2.
/// let (x, y) = ([1.0_f64, 0.0, 0.0], [0.0, 1.0, 0.0]);
/// let mut out = [0.0; 3];
/// log_sig_combine(&x, &y, 2, 2, 1, &mut out).unwrap();
/// assert_eq!(out, [1.0, 1.0, 0.5]);
/// ```
pub fn log_sig_combine<T: Float>(a: &[T], b: &[T], dim: usize, degree: usize, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let Some(plan) = Plan::new(dim, degree)? else {
        return Ok(());
    };
    batch_of(&[("log_sig1", a.len(), plan.len), ("log_sig2", b.len(), plan.len), ("out", out.len(), plan.len)])?;
    let n = plan.len;
    let mut blocks: Vec<&mut [T]> = out.chunks_mut(W * n).collect();
    let work = plan.work().saturating_mul(W);
    try_for_each_item(n_jobs, &mut blocks, work, || BchLanes::new(&plan, false), |ws, k, o| {
        let entries = k * W * n..k * W * n + o.len();
        BchLanes::interleave(&a[entries.clone()], n, &mut ws.coords_a);
        BchLanes::interleave(&b[entries], n, &mut ws.coords_b);
        ws.forward(&plan, false);
        BchLanes::deinterleave(&ws.coords_out, n, o);
        Ok(())
    })
}

/// Gradient through [`log_sig_combine`]: from `g` = dF/d(out), writes dF/da
/// into `ga` and dF/db into `gb`.
#[allow(clippy::too_many_arguments)]
pub fn log_sig_combine_backprop<T: Float>(
    a: &[T],
    b: &[T],
    g: &[T],
    dim: usize,
    degree: usize,
    n_jobs: i64,
    ga: &mut [T],
    gb: &mut [T],
) -> Result<()> {
    let Some(plan) = Plan::new(dim, degree)? else {
        return Ok(());
    };
    let n = plan.len;
    batch_of(&[("ls1", a.len(), n), ("ls2", b.len(), n), ("deriv", g.len(), n), ("ls1_grad", ga.len(), n), ("ls2_grad", gb.len(), n)])?;
    let mut blocks: Vec<(&mut [T], &mut [T])> = ga.chunks_mut(W * n).zip(gb.chunks_mut(W * n)).collect();
    let work = plan.work().saturating_mul(3 * W);
    try_for_each_item(n_jobs, &mut blocks, work, || BchLanes::new(&plan, true), |ws, k, (out_a, out_b)| {
        let entries = k * W * n..k * W * n + out_a.len();
        BchLanes::interleave(&a[entries.clone()], n, &mut ws.coords_a);
        BchLanes::interleave(&b[entries.clone()], n, &mut ws.coords_b);
        ws.forward(&plan, false);
        BchLanes::interleave(&g[entries], n, &mut ws.coords_out);
        ws.backward(&plan, false);
        BchLanes::deinterleave(&ws.g_coords_a, n, out_a);
        BchLanes::deinterleave(&ws.g_coords_b, n, out_b);
        Ok(())
    })
}

/// The log-signature extended by one straight segment:
/// `BCH(a, v) = log(exp(a) (x) exp(v))` in the Lyndon basis, for each item of
/// a batch (`log_sig` and `out` hold `batch * log_sig_length(dim, degree)`
/// numbers, `displacement` `batch * dim`).
///
/// ```
/// use sig_core::logsig_algebra::log_sig_join;
/// // Joining a segment to the empty path gives the segment: (v, 0, ...).
/// let mut out = [0.0_f64; 5];
/// log_sig_join(&[0.0; 5], &[2.0, -1.0], 2, 3, 1, &mut out).unwrap();
/// let expected = [2.0, -1.0, 0.0, 0.0, 0.0];
/// assert!(out.iter().zip(&expected).all(|(x, y)| (x - y).abs() < 1e-14));
/// ```
pub fn log_sig_join<T: Float>(log_sig: &[T], displacement: &[T], dim: usize, degree: usize, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let Some(plan) = Plan::new(dim, degree)? else {
        return Ok(());
    };
    let n = plan.len;
    batch_of(&[("log_sig", log_sig.len(), n), ("displacement", displacement.len(), dim), ("out", out.len(), n)])?;
    let mut blocks: Vec<&mut [T]> = out.chunks_mut(W * n).collect();
    let work = plan.work().saturating_mul(W);
    try_for_each_item(n_jobs, &mut blocks, work, || BchLanes::new(&plan, false), |ws, k, o| {
        let m = o.len() / n;
        BchLanes::interleave(&log_sig[k * W * n..k * W * n + o.len()], n, &mut ws.coords_a);
        ws.load_displacements(dim, &displacement[k * W * dim..(k * W + m) * dim]);
        ws.forward(&plan, true);
        BchLanes::deinterleave(&ws.coords_out, n, o);
        Ok(())
    })
}

/// Gradient through [`log_sig_join`]: from `g` = dF/d(out), writes
/// dF/d(log_sig) into `g_log_sig` and dF/d(displacement) into `g_disp`
/// (zeros when a log-signature has no coordinates).
#[allow(clippy::too_many_arguments)]
pub fn log_sig_join_backprop<T: Float>(
    log_sig: &[T],
    displacement: &[T],
    g: &[T],
    dim: usize,
    degree: usize,
    n_jobs: i64,
    g_log_sig: &mut [T],
    g_disp: &mut [T],
) -> Result<()> {
    let Some(plan) = Plan::new(dim, degree)? else {
        g_disp.fill(T::zero());
        return Ok(());
    };
    let n = plan.len;
    batch_of(&[
        ("log_sig", log_sig.len(), n),
        ("displacement", displacement.len(), dim),
        ("d_out", g.len(), n),
        ("log_sig_grad", g_log_sig.len(), n),
        ("displacement_grad", g_disp.len(), dim),
    ])?;
    let mut blocks: Vec<(&mut [T], &mut [T])> = g_log_sig.chunks_mut(W * n).zip(g_disp.chunks_mut(W * dim)).collect();
    let work = plan.work().saturating_mul(3 * W);
    try_for_each_item(n_jobs, &mut blocks, work, || BchLanes::new(&plan, true), |ws, k, (out_ls, out_v)| {
        let entries = k * W * n..k * W * n + out_ls.len();
        BchLanes::interleave(&log_sig[entries.clone()], n, &mut ws.coords_a);
        ws.load_displacements(dim, &displacement[k * W * dim..k * W * dim + out_v.len()]);
        ws.forward(&plan, true);
        BchLanes::interleave(&g[entries], n, &mut ws.coords_out);
        ws.backward(&plan, true);
        BchLanes::deinterleave(&ws.g_coords_a, n, out_ls);
        // v's coordinates are the first `dim` (the letters).
        for (j, o) in out_v.chunks_exact_mut(dim).enumerate() {
            for (e, o) in o.iter_mut().enumerate() {
                *o = ws.g_coords_b[e * W + j];
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logsig::{logsig_to_sig, sig_to_log_sig, LogSigMethod};
    use crate::test_util::random;

    /// BCH through the public round trip: exp, Chen product, log.
    fn bch_by_signatures(a: &[f64], b: &[f64], dim: usize, degree: usize) -> Vec<f64> {
        let shape = TensorShape::new(dim, degree).unwrap();
        let (mut sa, mut sb) = (vec![0.0; shape.len()], vec![0.0; shape.len()]);
        logsig_to_sig(a, dim, degree, LogSigMethod::Lyndon, true, 1, &mut sa).unwrap();
        logsig_to_sig(b, dim, degree, LogSigMethod::Lyndon, true, 1, &mut sb).unwrap();
        let mut s = vec![0.0; shape.len()];
        crate::tensor::tensor_mul(&shape, &sa, &sb, &mut s).unwrap();
        let mut out = vec![0.0; a.len()];
        sig_to_log_sig(&s, dim, degree, true, LogSigMethod::Lyndon, 1, &mut out).unwrap();
        out
    }

    #[test]
    fn combine_equals_the_signature_round_trip() {
        // Six entries: a full block of lanes and a partial one.
        for (dim, degree) in [(2, 5), (3, 4), (1, 3), (4, 2), (3, 1), (2, 7)] {
            let n = checked_lyndon_count(dim, degree).unwrap();
            let mut seed = 3 + dim as u64;
            let (a, b) = (random(6 * n, &mut seed), random(6 * n, &mut seed));
            let mut out = vec![0.0; 6 * n];
            log_sig_combine(&a, &b, dim, degree, 1, &mut out).unwrap();
            for i in 0..6 {
                let expected = bch_by_signatures(&a[i * n..(i + 1) * n], &b[i * n..(i + 1) * n], dim, degree);
                for (x, y) in out[i * n..(i + 1) * n].iter().zip(&expected) {
                    assert!((x - y).abs() < 1e-13, "d={dim} N={degree}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn join_equals_combine_with_a_segment() {
        let (dim, degree) = (3, 4);
        let n = checked_lyndon_count(dim, degree).unwrap();
        let mut seed = 9;
        let (a, v) = (random(n, &mut seed), random(dim, &mut seed));
        let mut segment = vec![0.0; n];
        segment[..dim].copy_from_slice(&v);
        let (mut joined, mut combined) = (vec![0.0; n], vec![0.0; n]);
        log_sig_join(&a, &v, dim, degree, 1, &mut joined).unwrap();
        log_sig_combine(&a, &segment, dim, degree, 1, &mut combined).unwrap();
        for (x, y) in joined.iter().zip(&combined) {
            assert!((x - y).abs() < 1e-13, "{x} vs {y}");
        }
    }

    #[test]
    fn backprops_match_finite_differences() {
        for (dim, degree) in [(2, 4), (3, 3), (2, 1)] {
            backprops_match_finite_differences_at(dim, degree);
        }
    }

    #[test]
    fn backprops_of_a_batch_are_each_entrys() {
        let (dim, degree) = (3, 4);
        let n = checked_lyndon_count(dim, degree).unwrap();
        let mut seed = 5;
        let batch = 7;
        let (a, b, v, g) = (random(batch * n, &mut seed), random(batch * n, &mut seed), random(batch * dim, &mut seed), random(batch * n, &mut seed));
        let (mut ga, mut gb) = (vec![0.0; batch * n], vec![0.0; batch * n]);
        log_sig_combine_backprop(&a, &b, &g, dim, degree, 1, &mut ga, &mut gb).unwrap();
        let (mut gl, mut gv) = (vec![0.0; batch * n], vec![0.0; batch * dim]);
        log_sig_join_backprop(&a, &v, &g, dim, degree, 1, &mut gl, &mut gv).unwrap();
        let mut joined = vec![0.0; batch * n];
        log_sig_join(&a, &v, dim, degree, 1, &mut joined).unwrap();
        for i in 0..batch {
            let (r, rv) = (i * n..(i + 1) * n, i * dim..(i + 1) * dim);
            let (mut ga1, mut gb1) = (vec![0.0; n], vec![0.0; n]);
            log_sig_combine_backprop(&a[r.clone()], &b[r.clone()], &g[r.clone()], dim, degree, 1, &mut ga1, &mut gb1).unwrap();
            assert_eq!((&ga[r.clone()], &gb[r.clone()]), (&ga1[..], &gb1[..]), "entry {i}");
            let (mut gl1, mut gv1) = (vec![0.0; n], vec![0.0; dim]);
            log_sig_join_backprop(&a[r.clone()], &v[rv.clone()], &g[r.clone()], dim, degree, 1, &mut gl1, &mut gv1).unwrap();
            assert_eq!((&gl[r.clone()], &gv[rv.clone()]), (&gl1[..], &gv1[..]), "entry {i}");
            let mut j1 = vec![0.0; n];
            log_sig_join(&a[r.clone()], &v[rv], dim, degree, 1, &mut j1).unwrap();
            assert_eq!(&joined[r], &j1[..], "entry {i}");
        }
    }

    fn backprops_match_finite_differences_at(dim: usize, degree: usize) {
        let n = checked_lyndon_count(dim, degree).unwrap();
        let mut seed = 21;
        let (a, b, v, g) = (random(n, &mut seed), random(n, &mut seed), random(dim, &mut seed), random(n, &mut seed));
        let dot = |o: &[f64]| o.iter().zip(&g).map(|(x, y)| x * y).sum::<f64>();
        let combine = |a: &[f64], b: &[f64]| {
            let mut o = vec![0.0; n];
            log_sig_combine(a, b, dim, degree, 1, &mut o).unwrap();
            dot(&o)
        };
        let join = |a: &[f64], v: &[f64]| {
            let mut o = vec![0.0; n];
            log_sig_join(a, v, dim, degree, 1, &mut o).unwrap();
            dot(&o)
        };
        let (mut ga, mut gb) = (vec![0.0; n], vec![0.0; n]);
        log_sig_combine_backprop(&a, &b, &g, dim, degree, 1, &mut ga, &mut gb).unwrap();
        let (mut gl, mut gv) = (vec![0.0; n], vec![0.0; dim]);
        log_sig_join_backprop(&a, &v, &g, dim, degree, 1, &mut gl, &mut gv).unwrap();
        let fd = |f: &dyn Fn(&[f64]) -> f64, x: &[f64], i: usize| {
            let (mut p, mut m) = (x.to_vec(), x.to_vec());
            p[i] += 1e-6;
            m[i] -= 1e-6;
            (f(&p) - f(&m)) / 2e-6
        };
        for i in 0..n {
            assert!((fd(&|x| combine(x, &b), &a, i) - ga[i]).abs() < 1e-7, "combine a[{i}]");
            assert!((fd(&|x| combine(&a, x), &b, i) - gb[i]).abs() < 1e-7, "combine b[{i}]");
            assert!((fd(&|x| join(x, &v), &a, i) - gl[i]).abs() < 1e-7, "join log_sig[{i}]");
        }
        for (i, g_i) in gv.iter().enumerate() {
            assert!((fd(&|x| join(&a, x), &v, i) - g_i).abs() < 1e-7, "join v[{i}]");
        }
    }

    #[test]
    fn wrong_lengths_are_errors_and_empty_bases_do_nothing() {
        let mut out = [0.0_f64; 5];
        assert!(log_sig_combine(&[0.0; 5], &[0.0; 4], 2, 3, 1, &mut out).is_err());
        assert!(log_sig_join(&[0.0; 5], &[0.0; 3], 2, 3, 1, &mut out).is_err());
        let mut none: [f64; 0] = [];
        log_sig_combine(&[], &[], 2, 0, 1, &mut none).unwrap();
        let mut gv = [1.0_f64; 2];
        log_sig_join_backprop(&[], &[1.0, 2.0], &[], 2, 0, 1, &mut none.clone(), &mut gv).unwrap();
        assert_eq!(gv, [0.0, 0.0]);
    }
}
