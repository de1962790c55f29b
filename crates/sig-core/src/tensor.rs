//! The truncated tensor algebra T^N(R^d).
//!
//! An element is a flat buffer holding levels 0..=N, level k being the d^k
//! coefficients of words of length k in lexicographic order. The kernels
//! here are the only places that touch levels directly; the signature and
//! log-signature modules are written in terms of them.

use std::array::from_fn;
use std::ops::Range;

use crate::error::{check_len, Result, SigError};
use crate::simd::fmadd;
use crate::{recip, Float};

/// Number of coefficients of a signature of a `dim`-dimensional path
/// truncated at `degree`: `sum_{k=1..degree} dim^k`, plus one for the
/// level-0 term when `scalar_term` is true. `None` on overflow.
///
/// ```
/// assert_eq!(sig_core::sig_length(3, 4, true), Some(121));
/// assert_eq!(sig_core::sig_length(3, 4, false), Some(120));
/// ```
pub fn sig_length(dim: usize, degree: usize, scalar_term: bool) -> Option<usize> {
    // One word per level (or none above level 0): no loop over huge degrees.
    if dim <= 1 {
        let total = if dim == 0 { 1 } else { degree.checked_add(1)? };
        return Some(if scalar_term { total } else { total - 1 });
    }
    let mut total: usize = 1;
    let mut level: usize = 1;
    for _ in 0..degree {
        level = level.checked_mul(dim)?;
        total = total.checked_add(level)?;
    }
    Some(if scalar_term { total } else { total - 1 })
}

/// The shape of a truncated tensor: its dimension, degree and the offset
/// of every level in the flat buffer (level 0 included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorShape {
    /// Dimension of the underlying space, `d`.
    pub dim: usize,
    /// Truncation degree, `N`.
    pub degree: usize,
    /// `offsets[k]` is where level k starts; `offsets[N + 1]` is the length.
    offsets: Vec<usize>,
}

impl TensorShape {
    /// The shape of T^N(R^d). Fails if its size overflows `usize`.
    pub fn new(dim: usize, degree: usize) -> Result<Self> {
        let overflow = || SigError::Overflow(format!("a signature of dimension {dim} and degree {degree}"));
        sig_length(dim, degree, true).ok_or_else(overflow)?;
        let mut offsets = Vec::new();
        crate::alloc::try_reserve(&mut offsets, "the level offsets of a signature", degree.saturating_add(2))?;
        let mut start = 0usize;
        let mut level = 1usize;
        for k in 0..=degree {
            offsets.push(start);
            if k > 0 {
                level = level.checked_mul(dim).ok_or_else(overflow)?;
            }
            start = start.checked_add(level).ok_or_else(overflow)?;
        }
        offsets.push(start);
        Ok(TensorShape { dim, degree, offsets })
    }

    /// Length of the flat buffer, level 0 included.
    #[inline]
    pub fn len(&self) -> usize {
        self.offsets[self.degree + 1]
    }

    /// Always false: level 0 is always present.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The index range of level `k` in the flat buffer.
    #[inline]
    pub fn level(&self, k: usize) -> Range<usize> {
        self.offsets[k]..self.offsets[k + 1]
    }

    /// `d^k`, the number of words of length `k`.
    #[inline]
    pub fn level_len(&self, k: usize) -> usize {
        self.offsets[k + 1] - self.offsets[k]
    }

    /// The identity element (1, 0, 0, ...).
    pub fn identity<T: Float>(&self) -> Vec<T> {
        let mut out = vec![T::zero(); self.len()];
        out[0] = T::one();
        out
    }

    /// Scratch length that [`mul_exp_in_place`] needs.
    #[inline]
    pub(crate) fn mul_exp_scratch_len(&self) -> usize {
        self.offsets[self.degree]
    }

    /// Workspace length that [`mul_exp_block_kernel`] needs: two Horner
    /// chains, the top level's products per step, and two coefficients per
    /// entry of level N-2 and step.
    #[inline]
    pub(crate) fn mul_exp_block_ws_len(&self) -> usize {
        let n = self.degree;
        2 * self.offsets[n] + (self.level_len(n.saturating_sub(1)) + TOP_BLOCK_ROW_PAD + 2 * self.level_len(n.saturating_sub(2))) * STEP_BLOCK
    }

    /// Workspace length that the backward kernel needs: the Horner partial
    /// products of every level below N, two gradient buffers of the largest
    /// of them, and an accumulator for the increment's gradient.
    #[inline]
    pub(crate) fn mul_exp_backward_ws_len(&self) -> usize {
        self.offsets[self.degree] + 2 * self.level_len(self.degree.saturating_sub(1)) + self.dim
    }

    /// Workspace length that [`mul_exp_backward_block_kernel`] needs: per
    /// step of a block, the state's levels below N-1 and the top level's
    /// Horner chain; the top products' operands and results, per step;
    /// and the buffers of one step's backward walk.
    #[inline]
    pub(crate) fn mul_exp_backward_block_ws_len(&self) -> usize {
        let n = self.degree.max(1);
        let (below, chain) = (self.offsets[n - 1], self.offsets[n]);
        let rows = self.level_len(n - 1);
        STEP_BLOCK * (below + chain) + 2 * STEP_BLOCK * (rows + TOP_BLOCK_ROW_PAD) + 2 * STEP_BLOCK * self.dim + chain + 2 * rows
    }
}

/// `out = a (x) b`, the truncated tensor product (Chen's identity for
/// signatures: S(x * y) = S(x) (x) S(y)).
pub fn tensor_mul<T: Float>(shape: &TensorShape, a: &[T], b: &[T], out: &mut [T]) -> Result<()> {
    check_len("a", a.len(), shape.len())?;
    check_len("b", b.len(), shape.len())?;
    check_len("out", out.len(), shape.len())?;
    out.copy_from_slice(a);
    mul_in_place(shape, out, b);
    Ok(())
}

/// `a <- a (x) b` in place, every level included (level 0 of the product is
/// `a_0 b_0`). Levels are written top first: level k of the product reads
/// only levels `< k` of `a`, which are still the old values then.
pub(crate) fn mul_in_place<T: Float>(shape: &TensorShape, a: &mut [T], b: &[T]) {
    mul_in_place_d(shape.dim, shape, a, b, shape.degree);
}

/// [`mul_in_place`] for levels `0..=top` only (those above are left as they
/// were): for products whose higher levels are never read.
pub(crate) fn mul_in_place_upto<T: Float>(shape: &TensorShape, a: &mut [T], b: &[T], top: usize) {
    mul_in_place_d(shape.dim, shape, a, b, top.min(shape.degree));
}

crate::simd::specialised! {
    fn mul_in_place_d<T>(d: usize, shape: &TensorShape, a: &mut [T], b: &[T], top: usize) = mul_in_place_kernel;
}

#[inline(always)]
fn mul_in_place_kernel<T: Float, const D: usize, const FMA: bool>(d_rt: usize, shape: &TensorShape, a: &mut [T], b: &[T], top: usize) {
    let d = if D == 0 { d_rt } else { D };
    let b0 = b[0];
    for k in (0..=top).rev() {
        let (lower, upper) = a.split_at_mut(shape.offsets[k]);
        let a_k = &mut upper[..shape.level_len(k)];
        let init = |_: usize, out: &mut [T]| {
            if b0 != T::one() {
                for v in out.iter_mut() {
                    *v *= b0;
                }
            }
        };
        add_level_products::<T, D, FMA>(d, a_k, k, 0..k, |i| &lower[shape.level(i)], |j| &b[shape.level(j)], init);
    }
}

/// Level `k` of a product: after `init(first, chunk)` on each chunk of
/// `out_k` (`first` its first entry), adds `a_i (x) b_{k-i}` for the `i` in
/// `terms` (`terms.end <= k`), in that order.
///
/// The level goes in chunks that stay in L1 while all their terms are
/// added; term by term over the whole level, a level larger than L2 went
/// through memory once per term (at d = 20, degree 4, float32, the joins
/// of one path's pieces ran at an eighth of the machine's peak).
#[inline(always)]
fn add_level_products<'a, T: Float + 'a, const D: usize, const FMA: bool>(
    d: usize,
    out_k: &mut [T],
    k: usize,
    terms: Range<usize>,
    a_level: impl Fn(usize) -> &'a [T],
    b_level: impl Fn(usize) -> &'a [T],
    mut init: impl FnMut(usize, &mut [T]),
) {
    let chunk = product_chunk_len::<T>(d, out_k.len());
    for (c, out) in out_k.chunks_mut(chunk).enumerate() {
        let first = c * chunk;
        init(first, out);
        for i in terms.clone() {
            let (a_i, b_j) = (a_level(i), b_level(k - i));
            let row = b_j.len();
            if row == 0 {
                // levels k >= 1 of a tensor over no letters (dimension 0)
                continue;
            }
            if row >= out.len() {
                // The chunk lies within one row of `a_i (x) b_j`.
                let v = a_i[first / row];
                for (o, &x) in out.iter_mut().zip(&b_j[first % row..]) {
                    *o = fmadd::<T, FMA>(v, x, *o);
                }
            } else {
                outer_accumulate::<T, D, FMA>(d, out, &a_i[first / row..], b_j);
            }
        }
    }
}

/// Entries per chunk of a level `len` entries long in [`add_level_products`]:
/// the largest power of `d` that divides it and fills at most 4 KiB
/// (`d` itself if that is larger).
fn product_chunk_len<T>(d: usize, len: usize) -> usize {
    if d <= 1 {
        return len.max(1);
    }
    let cap = (4096 / std::mem::size_of::<T>()).max(d).min(len);
    let mut chunk = 1;
    while chunk * d <= cap {
        chunk *= d;
    }
    chunk
}

/// `out = a (x) b` for group-like `a` and `b` (level 0 taken to be 1),
/// read and written in stored layouts that start at level `skip` (0 or 1),
/// so no operand is copied first: level k is
/// `a_k + b_k + sum_{0<i<k} a_i (x) b_{k-i}`.
pub(crate) fn mul_group_like<T: Float>(shape: &TensorShape, a: &[T], b: &[T], out: &mut [T], skip: usize) {
    mul_group_like_d(shape.dim, shape, a, b, out, skip);
}

crate::simd::specialised! {
    fn mul_group_like_d<T>(d: usize, shape: &TensorShape, a: &[T], b: &[T], out: &mut [T], skip: usize) = mul_group_like_kernel;
}

#[inline(always)]
fn mul_group_like_kernel<T: Float, const D: usize, const FMA: bool>(d_rt: usize, shape: &TensorShape, a: &[T], b: &[T], out: &mut [T], skip: usize) {
    let d = if D == 0 { d_rt } else { D };
    let at = |k: usize| shape.offsets[k] - skip..shape.offsets[k + 1] - skip;
    if skip == 0 {
        out[0] = T::one();
    }
    for k in 1..=shape.degree {
        let (a_k, b_k) = (&a[at(k)], &b[at(k)]);
        let init = |first: usize, out: &mut [T]| {
            for ((o, &x), &y) in out.iter_mut().zip(&a_k[first..]).zip(&b_k[first..]) {
                *o = x + y;
            }
        };
        add_level_products::<T, D, FMA>(d, &mut out[at(k)], k, 1..k, |i| &a[at(i)], |j| &b[at(j)], init);
    }
}

/// Gradient of [`mul_group_like`]: from `g` = dF/d(out), writes dF/da into
/// `ga` and dF/db into `gb`, all in the stored layout starting at level
/// `skip` (level-0 gradients, if stored, are 0).
#[allow(clippy::too_many_arguments)]
pub(crate) fn mul_group_like_backward<T: Float>(shape: &TensorShape, a: &[T], b: &[T], g: &[T], ga: &mut [T], gb: &mut [T], skip: usize) {
    mul_group_like_backward_d(shape.dim, shape, a, b, g, ga, gb, skip);
}

crate::simd::specialised! {
    fn mul_group_like_backward_d<T>(d: usize, shape: &TensorShape, a: &[T], b: &[T], g: &[T], ga: &mut [T], gb: &mut [T], skip: usize) = mul_group_like_backward_kernel;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mul_group_like_backward_kernel<T: Float, const D: usize, const FMA: bool>(
    _d: usize,
    shape: &TensorShape,
    a: &[T],
    b: &[T],
    g: &[T],
    ga: &mut [T],
    gb: &mut [T],
    skip: usize,
) {
    let at = |k: usize| shape.offsets[k] - skip..shape.offsets[k + 1] - skip;
    // The a_k and b_k terms of level k (level 0 of each factor is 1).
    ga.copy_from_slice(g);
    gb.copy_from_slice(g);
    if skip == 0 {
        ga[0] = T::zero();
        gb[0] = T::zero();
    }
    for k in 2..=shape.degree {
        let g_k = &g[at(k)];
        for i in 1..k {
            let (ga_i, gb_j) = (&mut ga[at(i)], &mut gb[at(k - i)]);
            outer_backward::<T, D, FMA>(g_k, &a[at(i)], &b[at(k - i)], ga_i, gb_j);
        }
    }
}

/// Gradient of `out = a (x) b`: given `g = dF/d(out)`, adds `dF/da` to `ga`
/// and `dF/db` to `gb`. Level k of the product is `sum_i a_i (x) b_{k-i}`,
/// a `d^i x d^(k-i)` outer product, so `ga_i += g_k . b_{k-i}` (rows) and
/// `gb_{k-i} += a_i . g_k` (columns).
pub(crate) fn mul_backward<T: Float>(shape: &TensorShape, a: &[T], b: &[T], g: &[T], ga: &mut [T], gb: &mut [T]) {
    mul_backward_d(shape.dim, shape, a, b, g, ga, gb, shape.degree);
}

/// The gradient of [`mul_in_place_upto`]: `g` is read at levels `0..=top` only.
pub(crate) fn mul_backward_upto<T: Float>(shape: &TensorShape, a: &[T], b: &[T], g: &[T], ga: &mut [T], gb: &mut [T], top: usize) {
    mul_backward_d(shape.dim, shape, a, b, g, ga, gb, top.min(shape.degree));
}

crate::simd::specialised! {
    fn mul_backward_d<T>(d: usize, shape: &TensorShape, a: &[T], b: &[T], g: &[T], ga: &mut [T], gb: &mut [T], top: usize) = mul_backward_kernel;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mul_backward_kernel<T: Float, const D: usize, const FMA: bool>(_d: usize, shape: &TensorShape, a: &[T], b: &[T], g: &[T], ga: &mut [T], gb: &mut [T], top: usize) {
    for k in 0..=top {
        let g_k = &g[shape.level(k)];
        for i in 0..=k {
            let (ga_i, gb_j) = (&mut ga[shape.level(i)], &mut gb[shape.level(k - i)]);
            outer_backward::<T, D, FMA>(g_k, &a[shape.level(i)], &b[shape.level(k - i)], ga_i, gb_j);
        }
    }
}

/// `out += a (x) b` for one pair of levels (`out` has `a.len() * b.len()`
/// entries): row `r` of `out` gains `a[r] b`. Rows of `d` numbers (`b` a
/// level-1 vector) take the fixed-width kernel, which vectorises them.
#[inline(always)]
fn outer_accumulate<T: Float, const D: usize, const FMA: bool>(d: usize, out: &mut [T], a: &[T], b: &[T]) {
    if b.is_empty() {
        // levels k >= 1 of a tensor over no letters (dimension 0)
        return;
    }
    if b.len() == d {
        for (row, &ai) in out.chunks_exact_mut(d).zip(a) {
            row_axpy_in_place::<T, D, FMA>(d, row, ai, b);
        }
    } else {
        for (row, &ai) in out.chunks_exact_mut(b.len()).zip(a) {
            for (o, &bj) in row.iter_mut().zip(b) {
                *o = fmadd::<T, FMA>(ai, bj, *o);
            }
        }
    }
}

/// The transpose of [`outer_accumulate`]: given `g`, the gradient of
/// `a (x) b`, adds `g . b` (one dot product per row) to `ga` and `a . g` to
/// `gb`.
#[inline(always)]
fn outer_backward<T: Float, const D: usize, const FMA: bool>(g: &[T], a: &[T], b: &[T], ga: &mut [T], gb: &mut [T]) {
    if D > 0 && b.len() == D {
        // Level-1 `b`: keep it and its gradient in registers across rows.
        let b: &[T; D] = b.try_into().expect("level 1 has D entries");
        let gb: &mut [T; D] = gb.try_into().expect("level 1 has D entries");
        let mut acc = *gb;
        for (row, (&ai, gai)) in g.chunks_exact(D).zip(a.iter().zip(ga.iter_mut())) {
            let row: &[T; D] = row.try_into().expect("rows have D entries");
            let mut dot = T::zero();
            for c in 0..D {
                dot = fmadd::<T, FMA>(row[c], b[c], dot);
                acc[c] = fmadd::<T, FMA>(ai, row[c], acc[c]);
            }
            *gai += dot;
        }
        *gb = acc;
        return;
    }
    if b.is_empty() {
        return;
    }
    for ((row, &ai), gai) in g.chunks_exact(b.len()).zip(a).zip(ga.iter_mut()) {
        *gai += dot::<T, FMA>(row, b);
        for (&gv, gbj) in row.iter().zip(gb.iter_mut()) {
            *gbj = fmadd::<T, FMA>(ai, gv, *gbj);
        }
    }
}

/// `sum_i x_i y_i` with eight independent partial sums, so the additions
/// pipeline (and vectorise) instead of waiting on one another.
#[inline(always)]
fn dot<T: Float, const FMA: bool>(x: &[T], y: &[T]) -> T {
    const LANES: usize = 8;
    let n = x.len().min(y.len());
    let mut acc = [T::zero(); LANES];
    let (xc, yc) = (x[..n].chunks_exact(LANES), y[..n].chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for l in 0..LANES {
            acc[l] = fmadd::<T, FMA>(xs[l], ys[l], acc[l]);
        }
    }
    let mut total = T::zero();
    for (&a, &b) in xr.iter().zip(yr) {
        total = fmadd::<T, FMA>(a, b, total);
    }
    for a in acc {
        total += a;
    }
    total
}

/// For every index of a tensor of this shape, the index of the reversed
/// word (an involution within each level).
pub(crate) fn word_reversal(shape: &TensorShape) -> Result<Vec<usize>> {
    let d = shape.dim;
    let mut rev = crate::alloc::try_vec("a table of reversed words", shape.len(), 0usize)?;
    if shape.degree >= 1 {
        for i in 0..d {
            rev[1 + i] = 1 + i;
        }
    }
    // A word of level k is (first letter a, rest r): its reversal is
    // (reversal of r, then a), i.e. rev_k(a d^(k-1) + r) = rev_{k-1}(r) d + a.
    for k in 2..=shape.degree {
        let (below, this) = (shape.offsets[k - 1], shape.offsets[k]);
        let width = shape.level_len(k - 1);
        for a in 0..d {
            for r in 0..width {
                rev[this + a * width + r] = this + (rev[below + r] - below) * d + a;
            }
        }
    }
    Ok(rev)
}

/// `a <- antipode(a)` in place: the coefficient of a word w of length k
/// becomes `(-1)^k` times that of w reversed. The antipode reverses
/// products, `antipode(a (x) b) = antipode(b) (x) antipode(a)`, is its own
/// inverse and its own transpose, and on signatures (group-like elements)
/// it is the inverse: `S(x)^-1 = antipode(S(x)) = S(x reversed)`.
/// `rev` is [`word_reversal`] of `shape`.
pub(crate) fn antipode_in_place<T: Float>(shape: &TensorShape, a: &mut [T], rev: &[usize]) {
    for k in 1..=shape.degree {
        let range = shape.level(k);
        for i in range.clone() {
            let j = rev[i];
            if j > i {
                a.swap(i, j);
            }
        }
        if k % 2 == 1 {
            for v in &mut a[range] {
                *v = -*v;
            }
        }
    }
}

/// `dst = antipode(src)` between buffers that may omit level 0: `src`
/// starts at level `src_skip` (0 or 1) and `dst` at level `dst_skip`.
/// Level 0 of `dst`, if present, is left to the caller.
pub(crate) fn antipode_copy<T: Float>(shape: &TensorShape, src: &[T], src_skip: usize, dst: &mut [T], dst_skip: usize, rev: &[usize]) {
    for k in 1..=shape.degree {
        let negate = k % 2 == 1;
        for i in shape.level(k) {
            let v = src[i - src_skip];
            dst[rev[i] - dst_skip] = if negate { -v } else { v };
        }
    }
}

/// `out = antipode(a)`: the coefficient of a word w of length k becomes
/// `(-1)^k` times that of w reversed. For a signature this is its inverse
/// in the tensor algebra: `S(x)^-1 = S(x reversed)`.
pub fn tensor_antipode<T: Float>(shape: &TensorShape, a: &[T], out: &mut [T]) -> Result<()> {
    check_len("a", a.len(), shape.len())?;
    check_len("out", out.len(), shape.len())?;
    out.copy_from_slice(a);
    antipode_in_place(shape, out, &word_reversal(shape)?);
    Ok(())
}

/// `out = exp(v)` for a vector `v` of length `d`: level k is `v^(x)k / k!`.
pub fn tensor_exp<T: Float>(shape: &TensorShape, v: &[T], out: &mut [T]) -> Result<()> {
    check_len("v", v.len(), shape.dim)?;
    check_len("out", out.len(), shape.len())?;
    out.fill(T::zero());
    out[0] = T::one();
    let mut scratch = crate::alloc::zeros("scratch of exp", shape.mul_exp_scratch_len())?;
    mul_exp_in_place(shape.dim, shape, out, v, &mut scratch);
    Ok(())
}

crate::simd::specialised! {
    /// `s <- s (x) exp(dx)` in place (the signature's one-step update).
    ///
    /// Each level k of the product, `sum_j s_{k-j} (x) dx^(x)j / j!`, is
    /// evaluated in Horner form
    /// `(((s_0 dx/k + s_1) (x) dx/(k-1) + s_2) ... + s_{k-1}) (x) dx + s_k`,
    /// top level first so lower levels are still the old values when read.
    /// `scratch` needs `shape.mul_exp_scratch_len()` entries.
    pub(crate) fn mul_exp_in_place<T>(d: usize, shape: &TensorShape, s: &mut [T], dx: &[T], scratch: &mut [T]) = mul_exp_kernel;
}

/// `out = v dx (+ base)` for one row of `d` numbers; with a compile-time
/// `D` the row is a fixed-size array, which LLVM turns into vector code.
#[inline(always)]
fn row_axpy<T: Float, const D: usize, const FMA: bool>(d: usize, out: &mut [T], v: T, dx: &[T], base: Option<&[T]>) {
    if D > 0 {
        let out: &mut [T; D] = out.try_into().expect("rows have D entries");
        let dx: &[T; D] = dx[..D].try_into().expect("increments have D entries");
        match base {
            Some(base) => {
                let base: &[T; D] = base.try_into().expect("rows have D entries");
                for b in 0..D {
                    out[b] = fmadd::<T, FMA>(v, dx[b], base[b]);
                }
            }
            None => {
                for b in 0..D {
                    out[b] = v * dx[b];
                }
            }
        }
    } else {
        match base {
            Some(base) => {
                for ((o, &x), &z) in out.iter_mut().zip(&dx[..d]).zip(base) {
                    *o = fmadd::<T, FMA>(v, x, z);
                }
            }
            None => {
                for (o, &x) in out.iter_mut().zip(&dx[..d]) {
                    *o = v * x;
                }
            }
        }
    }
}

/// The two Horner chains' factors at entry `i` (a row index of level
/// N-3, whose `s` is `s_a`) that make their level N-2: `v_top` (chain of
/// level N, `c` = 1/3 there) and `v_next` (level N-1, `c` = 1/2). At
/// degree 3 level N-3 is level 0, where the chains start: from `s_0` or,
/// below a prefix, from the starts. The lanes kernel rounds the same way
/// (`crate::lanes::mul_exp_block_lanes`).
#[inline(always)]
fn chain_coefficients<T: Float>(n: usize, chain_top: &[T], chain_next: &[T], i: usize, s_a: T, start: impl Fn(usize) -> Option<T>) -> (T, T) {
    let (third, half) = (recip::<T>(3), recip::<T>(2));
    if n >= 4 {
        ((chain_top[i] + s_a) * third, (chain_next[i] + s_a) * half)
    } else {
        (start(n).unwrap_or(s_a) * third, start(n - 1).unwrap_or(s_a) * half)
    }
}

/// `w = v_w dx + s; s += v_s dx` for one row of `d` numbers (see [`row_axpy`]).
#[inline(always)]
fn row_top_and_next<T: Float, const D: usize, const FMA: bool>(d: usize, w: &mut [T], s: &mut [T], v_w: T, v_s: T, dx: &[T]) {
    if D > 0 {
        let w: &mut [T; D] = w.try_into().expect("rows have D entries");
        let s: &mut [T; D] = s.try_into().expect("rows have D entries");
        let dx: &[T; D] = dx[..D].try_into().expect("increments have D entries");
        for b in 0..D {
            w[b] = fmadd::<T, FMA>(v_w, dx[b], s[b]);
            s[b] = fmadd::<T, FMA>(v_s, dx[b], s[b]);
        }
    } else {
        for ((wv, sv), &x) in w.iter_mut().zip(s.iter_mut()).zip(&dx[..d]) {
            *wv = fmadd::<T, FMA>(v_w, x, *sv);
            *sv = fmadd::<T, FMA>(v_s, x, *sv);
        }
    }
}

/// `out += v dx` for one row of `d` numbers (see [`row_axpy`]).
#[inline(always)]
fn row_axpy_in_place<T: Float, const D: usize, const FMA: bool>(d: usize, out: &mut [T], v: T, dx: &[T]) {
    if D > 0 {
        let out: &mut [T; D] = out.try_into().expect("rows have D entries");
        let dx: &[T; D] = dx[..D].try_into().expect("increments have D entries");
        for b in 0..D {
            out[b] = fmadd::<T, FMA>(v, dx[b], out[b]);
        }
    } else {
        for (o, &x) in out.iter_mut().zip(&dx[..d]) {
            *o = fmadd::<T, FMA>(v, x, *o);
        }
    }
}

/// Fills level i of `chain` (i = 1..=upto) with the partial product
/// `u_i` of level k's Horner scheme: `u_1 = s_0 dx / k` and
/// `u_{i+1} = (u_i + s_i) (x) dx / (k - i)`. Levels live at the tensor
/// offsets so that each step reads one level and writes a disjoint one.
/// With `start`, the chain starts from it instead of `s_0` (a part of a
/// state below a prefix: see [`mul_exp_block_kernel`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn horner_chain<T: Float, const D: usize, const FMA: bool>(d: usize, shape: &TensorShape, s: &[T], dx: &[T], chain: &mut [T], k: usize, upto: usize, start: Option<T>) {
    let c0 = start.unwrap_or(s[0]) * recip::<T>(k);
    for (u, &x) in chain[1..1 + d].iter_mut().zip(&dx[..d]) {
        *u = c0 * x;
    }
    for i in 1..upto {
        let c = recip::<T>(k - i);
        let (lo, hi) = chain.split_at_mut(shape.offsets[i + 1]);
        let u_i = &lo[shape.level(i)];
        let u_next = &mut hi[..shape.level_len(i + 1)];
        for ((row, &u), &si) in u_next.chunks_exact_mut(d).zip(u_i).zip(&s[shape.level(i)]) {
            row_axpy::<T, D, FMA>(d, row, (u + si) * c, dx, None);
        }
    }
}

/// The Horner update of levels `top..=1` of `s <- s (x) exp(dx)` (levels
/// above `top` untouched), top first. `chain` needs `offsets[top]` entries.
/// With `starts`, the chain of level k starts from `starts[k - 1]` instead
/// of `s_0` (see [`mul_exp_block_kernel`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn horner_levels<T: Float, const D: usize, const FMA: bool>(d: usize, shape: &TensorShape, s: &mut [T], dx: &[T], chain: &mut [T], top: usize, starts: Option<&[T]>) {
    let dx = &dx[..d];
    let start = |k: usize| starts.map(|starts| starts[k - 1]);
    for k in (2..=top).rev() {
        horner_chain::<T, D, FMA>(d, shape, s, dx, chain, k, k - 1, start(k));
        let (lower, upper) = s.split_at_mut(shape.offsets[k]);
        let s_k = &mut upper[..shape.level_len(k)];
        let s_below = &lower[shape.level(k - 1)];
        // s_k += (u_{k-1} + s_{k-1}) (x) dx
        for ((row, &u), &si) in s_k.chunks_exact_mut(d).zip(&chain[shape.level(k - 1)]).zip(s_below) {
            row_axpy_in_place::<T, D, FMA>(d, row, u + si, dx);
        }
    }
    if top >= 1 {
        let s0 = start(1).unwrap_or(s[0]);
        for (r, &x) in s[1..=d].iter_mut().zip(dx) {
            *r = fmadd::<T, FMA>(s0, x, *r);
        }
    }
}

/// Body of [`mul_exp_in_place`]; see there.
#[inline(always)]
pub(crate) fn mul_exp_kernel<T: Float, const D: usize, const FMA: bool>(
    d_rt: usize,
    shape: &TensorShape,
    s: &mut [T],
    dx: &[T],
    scratch: &mut [T],
) {
    let d = if D == 0 { d_rt } else { D };
    horner_levels::<T, D, FMA>(d, shape, s, dx, scratch, shape.degree, None);
}

/// How many increments [`mul_exp_block_kernel`] takes at once.
pub(crate) const STEP_BLOCK: usize = 8;

/// `s <- s (x) exp(dx_0) (x) ... (x) exp(dx_{count-1})` for `count <=
/// STEP_BLOCK` increments stored row-major in `dxs`, with `s`'s levels
/// below the top in `s` and its top level in `top`; a `fresh` top level is
/// taken to be zero and is only written (its old contents are never read).
///
/// The top level is read by no other level's update, so its rank-one
/// updates `s_N += w_t (x) dx_t` are deferred and applied together as one
/// rank-`count` update: the top level, by far the largest, then streams
/// through the cache once per block instead of once per step. `ws` needs
/// `shape.mul_exp_block_ws_len()` entries.
///
/// With `starts`, `s` and `top` hold the part of a state below one word
/// `p` of length `q` (see [`crate::prefix`]): level 0 is not read, and the
/// chain of level k starts at step t from `starts[t N + k - 1]`, where the
/// chain of the whole state's level `q + k` stands at `p`. Degree 3 at
/// least.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn mul_exp_block_kernel<T: Float, const D: usize, const FMA: bool>(
    d_rt: usize,
    shape: &TensorShape,
    s: &mut [T],
    top: &mut [T],
    fresh: bool,
    dxs: &[T],
    count: usize,
    ws: &mut [T],
    starts: Option<&[T]>,
) {
    let d = if D == 0 { d_rt } else { D };
    let n = shape.degree;
    if n == 0 {
        return;
    }
    assert_eq!(top.len(), shape.level_len(n), "the top level's buffer");
    assert!(starts.is_none_or(|starts| n >= 3 && starts.len() >= count * n), "a part below a prefix needs degree 3 and a start per level and step");
    let rows = shape.level_len(n - 1);
    let m = shape.level_len(n.saturating_sub(2));
    let (chains, rest) = ws.split_at_mut(2 * shape.offsets[n]);
    let (chain_top, chain_next) = chains.split_at_mut(shape.offsets[n]);
    let deferred = D > 0 && n >= 3 && rows * std::mem::size_of::<T>() <= DEFERRED_LEVEL_MAX_BYTES;
    // w_t's rows are padded off multiples of 4 KiB: the deferred level N-1
    // writes eight of them in turn, which otherwise shared a few L1 sets.
    let stride = if deferred { rows + TOP_BLOCK_ROW_PAD } else { rows };
    let (w, coefs) = rest.split_at_mut(stride * STEP_BLOCK);
    let (c_w, c_s) = coefs[..2 * m * STEP_BLOCK].split_at_mut(m * STEP_BLOCK);
    let half = recip::<T>(2);
    // With the row width known (D > 0), level N-1 waits for the end of the
    // block: each step leaves two coefficients per entry `a` of level N-2
    // (`c_w[t * m + a]` and `c_s[t * m + a]`, written as whole vectors;
    // interleaved per row, they were two scalar stores per entry and 10 %
    // of the forward pass at d = 8, degree 4), and each row of level N-1 is
    // then carried in registers across the block, with a store per step
    // for w_t only. Updated step by step, level N-1 cost a store per
    // multiply-add, and the core retires one store per cycle against two
    // multiply-adds. Only from degree 3 (at degree 2, d = 20, it measured
    // 1.1x slower) and while level N-1 fits in L1: with larger levels
    // (degrees 7-8 at d = 4-6) the deferred pass measured 1.15-1.35x slower.
    // Degree 2 with the row width known has its own loop, and leaves the
    // general one no steps.
    let general_steps = if D > 0 && n == 2 {
        level_one_block::<T, D, FMA>(s, w, stride, dxs, count);
        0
    } else {
        count
    };
    for t in 0..general_steps {
        let dx = &dxs[t * d..(t + 1) * d];
        let starts_t = starts.map(|starts| &starts[t * n..(t + 1) * n]);
        let start = |k: usize| starts_t.map(|starts_t| starts_t[k - 1]);
        let w_t = &mut w[t * stride..t * stride + rows];
        if n == 1 {
            w_t[0] = s[0];
            continue;
        }
        // One pass over the rows of level N-1 writes w_t (the top level's
        // last Horner product, from the levels before this step) and
        // updates level N-1 itself: both are `v (x) dx` plus the old level.
        // Their `v`s, one per entry `a b` of level N-2, are the two Horner
        // chains' level N-2 plus `s_{ab}`: `v_top[a] dx[b] + s_{ab}` (then
        // halved) and `v_next[a] dx[b] + s_{ab}`, each one multiply-add from
        // the chains' level N-3 (`chain_coefficients`), the chains' level
        // N-2 never stored.
        if n >= 4 {
            horner_chain::<T, D, FMA>(d, shape, s, dx, chain_top, n, n - 3, start(n));
            horner_chain::<T, D, FMA>(d, shape, s, dx, chain_next, n - 1, n - 3, start(n - 1));
        }
        let (lower, upper) = s.split_at_mut(shape.offsets[n - 1]);
        let s_prev = &lower[shape.level(n - 2)];
        if n == 2 {
            // Level N-2 is level 0, the chains empty; never deferred.
            let (v_w, v_s) = ((T::zero() + s_prev[0]) * half, T::zero() + s_prev[0]);
            row_top_and_next::<T, D, FMA>(d, &mut w_t[..d], &mut upper[..d], v_w, v_s, dx);
        } else {
            // The coefficients of this step first, row by row (`row_axpy`,
            // whole vectors), then halved; computed entry by entry among the
            // rows of level N-1, LLVM interleaved the entries of a row into
            // scalar code (float32 d = 4, degree 8: 0.85x).
            let below = shape.level(n - 3);
            let (c_w, c_s) = (&mut c_w[t * m..(t + 1) * m], &mut c_s[t * m..(t + 1) * m]);
            for (((cw, cs), s_row), (a, &s_a)) in c_w.chunks_exact_mut(d).zip(c_s.chunks_exact_mut(d)).zip(s_prev.chunks_exact(d)).zip(lower[below.clone()].iter().enumerate()) {
                let (v_top, v_next) = chain_coefficients::<T>(n, chain_top, chain_next, below.start + a, s_a, start);
                row_axpy::<T, D, FMA>(d, cw, v_top, dx, Some(s_row));
                row_axpy::<T, D, FMA>(d, cs, v_next, dx, Some(s_row));
            }
            if deferred {
                for cw in c_w.iter_mut() {
                    *cw *= half;
                }
            } else {
                // Halved here: a pass of its own over the coefficients
                // measured 0.95x (float32 d = 4, degree 8, where this loop
                // streams level N-1 from L2).
                for (((w_row, s_row), &cw), &cs) in w_t.chunks_exact_mut(d).zip(upper[..rows].chunks_exact_mut(d)).zip(&*c_w).zip(&*c_s) {
                    row_top_and_next::<T, D, FMA>(d, w_row, s_row, cw * half, cs, dx);
                }
            }
        }
        horner_levels::<T, D, FMA>(d, shape, s, dx, chain_top, n - 2, starts_t);
    }
    if deferred {
        next_level_deferred::<T, D, FMA>(&mut s[shape.level(n - 1)], w, stride, (c_w, c_s), dxs, count);
    }
    let s_top = top;
    if D > 0 && count == STEP_BLOCK {
        rank_update::<T, D, FMA, STEP_BLOCK>(s_top, w, stride, dxs, fresh);
    } else if D > 0 && vector_rank_update::<T, D, FMA>() {
        // A path's last, partial block, through the block's own vector
        // kernel with as many steps. In plain code (`rank_update_rows`,
        // each accumulator's chain in a runtime-length loop), 7 steps after
        // 56 cost 15-18 % of the 56 steps' time at d = 20, degree 3 (16
        // paths), where 8 steps in a whole block cost 12-14 %; 12-13 % here.
        match count {
            1 => rank_update::<T, D, FMA, 1>(s_top, w, stride, dxs, fresh),
            2 => rank_update::<T, D, FMA, 2>(s_top, w, stride, dxs, fresh),
            3 => rank_update::<T, D, FMA, 3>(s_top, w, stride, dxs, fresh),
            4 => rank_update::<T, D, FMA, 4>(s_top, w, stride, dxs, fresh),
            5 => rank_update::<T, D, FMA, 5>(s_top, w, stride, dxs, fresh),
            6 => rank_update::<T, D, FMA, 6>(s_top, w, stride, dxs, fresh),
            7 => rank_update::<T, D, FMA, 7>(s_top, w, stride, dxs, fresh),
            _ => unreachable!("a partial block has 1 to {} steps", STEP_BLOCK - 1),
        }
    } else if D > 0 {
        // A path's last, partial block: still one pass over the top level.
        // Step by step it was `count` passes: at d = 6, degree 7, the last 7
        // steps of a 64-point path took 11 % of its time, and a large top
        // level streams through memory on each pass.
        rank_update_rows::<T, D, FMA>(s_top, w, stride, dxs, count, fresh);
    } else {
        if fresh {
            s_top.fill(T::zero());
        }
        // Runtime row width: step by step (rows in the inner loop measured
        // 0.77-0.89x at d = 9 and 11).
        for t in 0..count {
            for (row, &v) in s_top.chunks_exact_mut(d).zip(&w[t * stride..t * stride + rows]) {
                for (r, &x) in row.iter_mut().zip(&dxs[t * d..(t + 1) * d]) {
                    *r = fmadd::<T, FMA>(v, x, *r);
                }
            }
        }
    }
}

/// [`mul_exp_block_kernel`]'s steps at degree 2: `w_t = s_1 + (s_0 / 2)
/// dx_t` (the top level's last Horner product), then `s_1 += s_0 dx_t`, with
/// level 1 (one row) in registers across the block. Through the general
/// loop, the per-step set-up was most of a step: one path of 200,000
/// points at d = 8 ran at 7 GFLOP/s.
#[inline(always)]
fn level_one_block<T: Float, const D: usize, const FMA: bool>(s: &mut [T], w: &mut [T], stride: usize, dxs: &[T], count: usize) {
    // (0 + s_0) / 2 as the general loop forms it: the same numbers bit for bit.
    let (s0, v_w) = (s[0], (T::zero() + s[0]) * recip::<T>(2));
    let s1: &mut [T; D] = (&mut s[1..1 + D]).try_into().expect("level 1 has D entries");
    let mut next = *s1;
    for t in 0..count {
        let dx: &[T; D] = dxs[t * D..(t + 1) * D].try_into().expect("increments have D entries");
        let w_t: &mut [T; D] = (&mut w[t * stride..t * stride + D]).try_into().expect("w_t has D entries");
        for b in 0..D {
            w_t[b] = fmadd::<T, FMA>(v_w, dx[b], next[b]);
            next[b] = fmadd::<T, FMA>(s0, dx[b], next[b]);
        }
    }
    *s1 = next;
}

/// The largest level N-1 (in bytes) that [`mul_exp_block_kernel`] defers
/// over a block: an L1 data cache.
const DEFERRED_LEVEL_MAX_BYTES: usize = 32 * 1024;

/// Level N-1 over a block of `count` steps from the coefficients left per
/// step (see [`mul_exp_block_kernel`]): row `a` moves by `c_s[t][a] dx_t`
/// each step, and `w_t`'s row `a` is `c_w[t][a] dx_t` plus the row before
/// the step. The row stays in registers across the block; the same
/// multiply-adds, in the same order, as step by step.
///
/// A row's update is a chain of `count` dependent multiply-adds per vector,
/// so full blocks take rows several at a time, for about eight independent
/// chains: one row at a time, at d = 8 (two vectors a row) the chains waited
/// on the multiply-add latency and the loop's bounds checks filled the
/// issue slots, and level N-1 took a third of the forward pass for a fifth
/// of its multiply-adds.
#[inline(always)]
fn next_level_deferred<T: Float, const D: usize, const FMA: bool>(s_next: &mut [T], w: &mut [T], stride: usize, coefs: (&[T], &[T]), dxs: &[T], count: usize) {
    let rows = s_next.len() / D.max(1);
    assert!(count <= STEP_BLOCK && w.len() >= stride * count && dxs.len() >= count * D);
    assert!(coefs.0.len() == STEP_BLOCK * rows && coefs.1.len() == STEP_BLOCK * rows);
    let done = if count == STEP_BLOCK {
        // Vectors of 32 bytes per row, rounded up.
        let vectors = (D * std::mem::size_of::<T>()).div_ceil(32).max(1);
        match 8 / vectors {
            0 | 1 => 0,
            2 | 3 => next_level_rows::<T, D, FMA, 2>(s_next, w, stride, coefs, dxs, STEP_BLOCK, 0),
            4..=7 => next_level_rows::<T, D, FMA, 4>(s_next, w, stride, coefs, dxs, STEP_BLOCK, 0),
            _ => next_level_rows::<T, D, FMA, 8>(s_next, w, stride, coefs, dxs, STEP_BLOCK, 0),
        }
    } else {
        0
    };
    next_level_rows::<T, D, FMA, 1>(s_next, w, stride, coefs, dxs, count, done);
}

/// [`next_level_deferred`] for rows `from..` in groups of `R`, as many
/// groups as fit; returns the first row not done.
#[inline(always)]
fn next_level_rows<T: Float, const D: usize, const FMA: bool, const R: usize>(
    s_next: &mut [T],
    w: &mut [T],
    stride: usize,
    (c_w, c_s): (&[T], &[T]),
    dxs: &[T],
    count: usize,
    from: usize,
) -> usize {
    let rows = s_next.len() / D.max(1);
    let mut a = from;
    while a + R <= rows {
        let group = &mut s_next[a * D..(a + R) * D];
        let mut next: [[T; D]; R] = from_fn(|i| group[i * D..(i + 1) * D].try_into().expect("rows have D entries"));
        for t in 0..count {
            let dx: &[T; D] = dxs[t * D..(t + 1) * D].try_into().expect("increments have D entries");
            let w_t = &mut w[t * stride + a * D..t * stride + (a + R) * D];
            let (c_w, c_s) = (&c_w[t * rows + a..t * rows + a + R], &c_s[t * rows + a..t * rows + a + R]);
            for (i, next_i) in next.iter_mut().enumerate() {
                let w_row = &mut w_t[i * D..(i + 1) * D];
                for b in 0..D {
                    w_row[b] = fmadd::<T, FMA>(c_w[i], dx[b], next_i[b]);
                    next_i[b] = fmadd::<T, FMA>(c_s[i], dx[b], next_i[b]);
                }
            }
        }
        for (row, n) in group.chunks_exact_mut(D.max(1)).zip(&next) {
            row.copy_from_slice(n);
        }
        a += R;
    }
    a
}

/// Which kernel [`rank_update`] runs for rows of `D` numbers of `T`: one
/// table for the choice and for [`vector_rank_update`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum RankKernel {
    /// Whole rows in float64 vectors (`D` a multiple of 4, up to 20).
    F64,
    /// Whole rows in float32 vectors of 8 (`D` a multiple of 8, up to 32).
    F32x8,
    /// Rows of 4 float32, half a vector each.
    F32x4,
    /// Rows in whole vectors, the last ones left to the plain loop.
    RaggedF64,
    RaggedF32,
    /// The plain loop alone.
    Plain,
}

const fn rank_kernel<T, const D: usize, const FMA: bool>() -> RankKernel {
    if !FMA || !cfg!(target_arch = "x86_64") {
        return RankKernel::Plain;
    }
    let is_f64 = std::mem::size_of::<T>() == 8;
    if is_f64 && D % 4 == 0 && D <= 20 {
        RankKernel::F64
    } else if !is_f64 && D % 8 == 0 && D <= 32 {
        RankKernel::F32x8
    } else if !is_f64 && D == 4 {
        RankKernel::F32x4
    } else if is_f64 && D >= 2 && D <= 16 {
        RankKernel::RaggedF64
    } else if !is_f64 && D >= 4 && D <= 32 {
        RankKernel::RaggedF32
    } else {
        RankKernel::Plain
    }
}

/// Whether [`rank_update`] has a vector kernel for rows of `D` (whole
/// vectors, or ragged ones; the plain loop does the rows a ragged kernel
/// leaves).
const fn vector_rank_update<T, const D: usize, const FMA: bool>() -> bool {
    !matches!(rank_kernel::<T, D, FMA>(), RankKernel::Plain)
}

/// `top[a, :] += sum_t w[t, a] dxs[t, :]` with each row of `top` held in
/// registers across the `COUNT` updates (a compile-time row width `D > 0`).
#[inline(always)]
fn rank_update<T: Float, const D: usize, const FMA: bool, const COUNT: usize>(top: &mut [T], w: &[T], stride: usize, dxs: &[T], fresh: bool) {
    // Rows before this one are done by a vector kernel.
    #[allow(unused_mut)]
    let mut first = 0;
    #[cfg(target_arch = "x86_64")]
    if COUNT >= 1 {
        use crate::simd::{avx, same_type as cast, same_type_mut as cast_mut};
        // SAFETY (every kernel): FMA instances only run after the CPU check
        // of `specialised!`, and `rank_kernel` picks a kernel only for the
        // widths it takes.
        match const { rank_kernel::<T, D, FMA>() } {
            RankKernel::F64 => return unsafe { avx::rank_update_f64::<D, COUNT>(cast_mut(top), cast(w), stride, cast(dxs), fresh) },
            RankKernel::F32x8 => return unsafe { avx::rank_update_f32x8::<D, COUNT>(cast_mut(top), cast(w), stride, cast(dxs), fresh) },
            RankKernel::F32x4 => return unsafe { avx::rank_update_f32x4::<D, COUNT>(cast_mut(top), cast(w), stride, cast(dxs), fresh) },
            // The rest of the widths, each row in whole vectors; the plain
            // loop below does the rows the kernel leaves (the last, at least).
            RankKernel::RaggedF64 => first = unsafe { avx::rank_update_ragged_f64::<D, COUNT>(cast_mut(top), cast(w), stride, cast(dxs), fresh) },
            RankKernel::RaggedF32 => first = unsafe { avx::rank_update_ragged_f32::<D, COUNT>(cast_mut(top), cast(w), stride, cast(dxs), fresh) },
            RankKernel::Plain => {}
        }
    }
    let dxs = &dxs[..COUNT * D];
    let rows = top.len() / D;
    let w = &w[..(COUNT - 1) * stride + rows];
    for (a, row) in top.chunks_exact_mut(D).enumerate().skip(first) {
        let row: &mut [T; D] = row.try_into().expect("rows have D entries");
        let mut acc = if fresh { [T::zero(); D] } else { *row };
        for t in 0..COUNT {
            let v = w[t * stride + a];
            let dx: &[T; D] = dxs[t * D..(t + 1) * D].try_into().expect("increments have D entries");
            for b in 0..D {
                acc[b] = fmadd::<T, FMA>(v, dx[b], acc[b]);
            }
        }
        *row = acc;
    }
}

/// [`rank_update`] for a block's `count < STEP_BLOCK` steps, in plain code:
/// each row of `top` in registers across the steps, which are added in order.
/// Rows go several at a time, for about eight independent accumulator
/// registers: one row at a time, each accumulator waited on the FMA latency
/// step after step (0.90-0.93x against `count` passes over the level, for
/// levels that fit in L2).
#[inline(always)]
fn rank_update_rows<T: Float, const D: usize, const FMA: bool>(top: &mut [T], w: &[T], stride: usize, dxs: &[T], count: usize, fresh: bool) {
    // Registers a row takes: whole 32-byte vectors, then 16-, 8- and 4-byte pieces.
    let bytes = D * std::mem::size_of::<T>();
    let registers = (bytes / 32 + (bytes % 32).count_ones() as usize).max(1);
    let done = match 8 / registers {
        0 | 1 => 0,
        2 | 3 => rank_update_row_group::<T, D, FMA, 2>(top, w, stride, dxs, count, 0, fresh),
        4..=7 => rank_update_row_group::<T, D, FMA, 4>(top, w, stride, dxs, count, 0, fresh),
        _ => rank_update_row_group::<T, D, FMA, 8>(top, w, stride, dxs, count, 0, fresh),
    };
    rank_update_row_group::<T, D, FMA, 1>(top, w, stride, dxs, count, done, fresh);
}

/// The rows of [`rank_update_rows`] from `first` on, `R` at a time while
/// `R` are left; returns the first row not done.
#[inline(always)]
fn rank_update_row_group<T: Float, const D: usize, const FMA: bool, const R: usize>(top: &mut [T], w: &[T], stride: usize, dxs: &[T], count: usize, first: usize, fresh: bool) -> usize {
    let dxs = &dxs[..count * D];
    let rows = top.len() / D.max(1);
    let w = &w[..(count - 1) * stride + rows];
    let mut a = first;
    while a + R <= rows {
        let block = &mut top[a * D..(a + R) * D];
        let mut acc: [[T; D]; R] = if fresh { [[T::zero(); D]; R] } else { from_fn(|i| block[i * D..(i + 1) * D].try_into().expect("rows have D entries")) };
        for t in 0..count {
            let dx: &[T; D] = dxs[t * D..(t + 1) * D].try_into().expect("increments have D entries");
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let v = w[t * stride + a + i];
                for b in 0..D {
                    acc_i[b] = fmadd::<T, FMA>(v, dx[b], acc_i[b]);
                }
            }
        }
        for (row, acc_i) in block.chunks_exact_mut(D).zip(&acc) {
            row.copy_from_slice(acc_i);
        }
        a += R;
    }
    a
}

/// One transposed Horner step: given `gu`, the gradient of
/// `u = c w (x) dx` (length `m d`), adds `c sum_a w[a] gu[a, :]` to `gdx`
/// and writes `gw[a] = c <gu[a, :], dx>`, also adding it to `g_level`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn horner_step_backward<T: Float, const D: usize, const FMA: bool>(
    d: usize,
    c: T,
    gu: &[T],
    w: &[T],
    dx: &[T],
    gw: &mut [T],
    g_level: &mut [T],
    gdx: &mut [T],
) {
    let dx = &dx[..d];
    let gdx = &mut gdx[..d];
    let m = w.len();
    if D > 0 {
        // Rows alternate between two accumulators of `sum_a w[a] gu[a, :]`,
        // so consecutive rows' multiply-adds do not wait on each other.
        let dx: &[T; D] = dx.try_into().expect("increments have D entries");
        let mut acc = [[T::zero(); D]; 2];
        // From d = 8 the dot products run in eight (d = 12, 20: four) partial
        // sums side by side (see `dot_in_parts`).
        let step = |row: &[T], wa: T, gwa: &mut T, ga: &mut T, acc: &mut [T; D]| {
            let row: &[T; D] = row.try_into().expect("rows have D entries");
            let dot = if D >= 8 && D % 8 == 0 {
                dot_in_parts::<T, D, FMA, 8>(row, dx)
            } else if D >= 8 && D % 4 == 0 {
                dot_in_parts::<T, D, FMA, 4>(row, dx)
            } else {
                dot_in_parts::<T, D, FMA, 1>(row, dx)
            };
            for b in 0..D {
                acc[b] = fmadd::<T, FMA>(wa, row[b], acc[b]);
            }
            let v = dot * c;
            *gwa = v;
            *ga += v;
        };
        let mut rows = gu[..m * D].chunks_exact(D).zip(w).zip(gw[..m].iter_mut().zip(&mut g_level[..m]));
        let [acc0, acc1] = &mut acc;
        while let Some(((row, &wa), (gwa, ga))) = rows.next() {
            step(row, wa, gwa, ga, acc0);
            let Some(((row, &wa), (gwa, ga))) = rows.next() else { break };
            step(row, wa, gwa, ga, acc1);
        }
        for (b, g) in gdx.iter_mut().enumerate() {
            *g = fmadd::<T, FMA>(c, acc[0][b] + acc[1][b], *g);
        }
        return;
    }
    for (((row, &wa), gwa), ga) in gu[..m * d].chunks_exact(d).zip(w).zip(&mut gw[..m]).zip(&mut g_level[..m]) {
        let mut dot = T::zero();
        let wc = wa * c;
        for ((&g, &x), acc) in row.iter().zip(dx).zip(gdx.iter_mut()) {
            dot = fmadd::<T, FMA>(g, x, dot);
            *acc = fmadd::<T, FMA>(wc, g, *acc);
        }
        let v = dot * c;
        *gwa = v;
        *ga += v;
    }
}

/// Walks level `k`'s Horner chain down from `gu_top`, the gradient of its
/// partial product at level `from`: adds each product's gradient to the
/// level it reads (`g_lower` holds levels below `from`) and the increment's
/// share to `gdx`. `w` holds the chain's `w_i = u_i + s_i` at the tensor
/// offsets (levels below `from`); `s0` is the state's level 0.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn chain_walk_down<T: Float, const D: usize, const FMA: bool>(
    d: usize,
    shape: &TensorShape,
    w: &[T],
    s0: T,
    dx: &[T],
    k: usize,
    from: usize,
    gu_top: &[T],
    g_lower: &mut [T],
    gdx: &mut [T],
    buf_a: &mut [T],
    buf_b: &mut [T],
) {
    let mut cur: &mut [T] = buf_a;
    let mut next: &mut [T] = buf_b;
    for i in (2..=from).rev() {
        let c = recip::<T>(k - i + 1);
        let gu: &[T] = if i == from { gu_top } else { &cur[..shape.level_len(i)] };
        horner_step_backward::<T, D, FMA>(d, c, gu, &w[shape.level(i - 1)], dx, next, &mut g_lower[shape.level(i - 1)], gdx);
        std::mem::swap(&mut cur, &mut next);
    }
    let gu1: &[T] = if from == 1 { gu_top } else { &cur[..d] };
    let c1 = s0 * recip::<T>(k);
    for (acc, &gv) in gdx[..d].iter_mut().zip(gu1) {
        *acc = fmadd::<T, FMA>(c1, gv, *acc);
    }
}

/// `<row, dx>` as `P` partial sums side by side (entries `b` with the same
/// `b % P`), added pairwise at the end: a few vector multiply-adds and one
/// horizontal sum. As one chain of `D` dependent multiply-adds (`P` = 1),
/// each row of the backward Horner steps waited on the latency (d = 16,
/// float32: a third of the backward pass). `D` must be a multiple of `P`,
/// a power of two.
#[inline(always)]
fn dot_in_parts<T: Float, const D: usize, const FMA: bool, const P: usize>(row: &[T; D], dx: &[T; D]) -> T {
    let mut part = [T::zero(); P];
    for b0 in (0..D).step_by(P) {
        for j in 0..P {
            part[j] = fmadd::<T, FMA>(row[b0 + j], dx[b0 + j], part[j]);
        }
    }
    let mut n = P;
    while n > 1 {
        n /= 2;
        for j in 0..n {
            part[j] += part[j + n];
        }
    }
    part[0]
}

/// Entries between the ends of consecutive steps' rows in the workspace of
/// [`top_block_backward`]: with rows of a power of two the steps' streams
/// would sit a multiple of 4 KiB apart and share the same few cache sets
/// (2x slower at d = 16).
const TOP_BLOCK_ROW_PAD: usize = 16;

/// The top level's two products for a block of steps, in one pass over
/// the top level of the gradient `g_top` (`rows` rows of `d`): for each
/// step `t < L` (the lane index), `gwt[t, a] = <g_top[a, :], dx_t>` (the
/// gradient flowing into level N-1) and `gdxt[b, t] = sum_a wt[t, a]
/// g_top[a, b]` (the increment's gradient through the top level).
/// `dxt[b, t]` is `dx_t[b]`, in rows of `STEP_BLOCK` lanes.
///
/// `wt` and `gwt` are step-major, as the steps write and read them, with
/// steps [`TOP_BLOCK_ROW_PAD`] entries further apart than `rows`: a
/// row-major `[a, t]` layout made each step store and load one number per
/// cache line, up to 35 % of the backward pass at d = 16. Here each row
/// `a` gathers its `L` lanes from `L` streams that advance together.
#[inline(always)]
fn top_block_backward<T: Float, const D: usize, const FMA: bool, const L: usize>(d: usize, g_top: &[T], dxt: &[T], wt: &[T], gwt: &mut [T], gdxt: &mut [T]) {
    const B: usize = STEP_BLOCK;
    let stride = wt.len() / B;
    let lanes = |x: &[T]| -> [T; L] { x[..L].try_into().expect("rows hold STEP_BLOCK lanes") };
    let gather = |a: usize| -> [T; L] { std::array::from_fn(|t| wt[t * stride + a]) };
    // Above twelve rows of increments the two register blocks (2 x D x L
    // numbers) spill too much: the accumulators in memory measured 1.5x
    // faster at d = 16 and 20 (at d = 8-12 the registers still win by ~10%).
    if D > 0 && D <= 12 {
        // Both products as lane-wise multiply-adds, steps across the lanes:
        // no horizontal sums, and the increments' gradients stay in
        // registers for the whole pass (D x L numbers).
        let mut dx = [[T::zero(); L]; D];
        for (b, row) in dx.iter_mut().enumerate() {
            *row = lanes(&dxt[b * B..]);
        }
        let mut acc = [[T::zero(); L]; D];
        for (a, grow) in g_top.chunks_exact(D).enumerate() {
            let grow: &[T; D] = grow.try_into().expect("rows have D entries");
            let w = gather(a);
            // Two partial sums halve the dependency chain of the dots.
            let mut out = [[T::zero(); L]; 2];
            for b in 0..D {
                let gv = grow[b];
                let o = &mut out[b & 1];
                for t in 0..L {
                    o[t] = fmadd::<T, FMA>(gv, dx[b][t], o[t]);
                    acc[b][t] = fmadd::<T, FMA>(gv, w[t], acc[b][t]);
                }
            }
            for t in 0..L {
                gwt[t * stride + a] = out[0][t] + out[1][t];
            }
        }
        for (b, row) in acc.iter().enumerate() {
            gdxt[b * B..b * B + L].copy_from_slice(row);
        }
        return;
    }
    for row in gdxt.chunks_exact_mut(B).take(d) {
        row.fill(T::zero());
    }
    // Rows two at a time where the width is known: one load and store of
    // the increments' gradient per two rows' multiply-adds (the core
    // retires one store per cycle against two multiply-adds; row by row,
    // d = 16, this pass took 40 % of the backward pass). Each sum is taken
    // in the same order as row by row.
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if FMA && D > 12 && L == STEP_BLOCK {
        use crate::simd::{avx, same_type, same_type_mut};
        use std::any::TypeId;
        // SAFETY (both): FMA instances run only after the CPU check of `specialised!`.
        done = if TypeId::of::<T>() == TypeId::of::<f64>() {
            unsafe { avx::top_block_backward_pairs_f64::<D>(same_type(g_top), same_type(dxt), same_type(wt), stride, same_type_mut(gwt), same_type_mut(gdxt)) }
        } else {
            unsafe { avx::top_block_backward_quads_f32::<D>(same_type(g_top), same_type(dxt), same_type(wt), stride, same_type_mut(gwt), same_type_mut(gdxt)) }
        };
    }
    for (a, grow) in g_top.chunks_exact(d).enumerate().skip(done) {
        let w = gather(a);
        let mut out = [T::zero(); L];
        for (b, &gv) in grow.iter().enumerate() {
            let x = lanes(&dxt[b * B..]);
            let acc = &mut gdxt[b * B..b * B + L];
            for t in 0..L {
                out[t] = fmadd::<T, FMA>(gv, x[t], out[t]);
                acc[t] = fmadd::<T, FMA>(gv, w[t], acc[t]);
            }
        }
        for (t, &o) in out.iter().enumerate() {
            gwt[t * stride + a] = o;
        }
    }
}

/// Gradient of `count <= STEP_BLOCK` steps `s <- s (x) exp(dx_t)` (the
/// increments row-major in `dxs`), walked backwards: on entry `s` is the
/// state after the steps and `g` its gradient; on return `s` is the state
/// before them and `g` the gradient there, and row `t` of `gdxs` is the
/// gradient of `dx_t`. Only levels below N of `s` are read or kept (the
/// top level feeds nothing), and level 0 of `g` is left as it is.
///
/// The top level of the gradient never changes (level N of a state feeds
/// only level N of the next), so the top level's two products, `w_t^T G_N`
/// into the increments and `G_N dx_t` into level N-1, are taken for the
/// whole block in one pass over `G_N`, the largest level: first the states
/// are recovered by inverse steps, keeping each step's Horner chain, then
/// the pass, then the lower levels step by step, backwards. `ws` needs
/// `shape.mul_exp_backward_block_ws_len()` entries.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn mul_exp_backward_block_kernel<T: Float, const D: usize, const FMA: bool>(
    d_rt: usize,
    shape: &TensorShape,
    s: &mut [T],
    dxs: &[T],
    count: usize,
    g: &mut [T],
    gdxs: &mut [T],
    ws: &mut [T],
) {
    const B: usize = STEP_BLOCK;
    let d = if D == 0 { d_rt } else { D };
    let n = shape.degree;
    let gdxs = &mut gdxs[..count * d];
    if n == 0 {
        gdxs.fill(T::zero());
        return;
    }
    if n == 1 {
        // r_1 = s_1 + s_0 dx: the gradient passes unchanged and each
        // increment gets s_0 g_1.
        for gdx in gdxs.chunks_exact_mut(d) {
            for (o, &gv) in gdx.iter_mut().zip(&g[shape.level(1)]) {
                *o = s[0] * gv;
            }
        }
        return;
    }
    let rows = shape.level_len(n - 1);
    let (below, chain_len) = (shape.offsets[n - 1], shape.offsets[n]);
    let (states, rest) = ws.split_at_mut(B * below);
    let (chains, rest) = rest.split_at_mut(B * chain_len);
    let stride = rows + TOP_BLOCK_ROW_PAD;
    let (wt, rest) = rest.split_at_mut(B * stride);
    let (gwt, rest) = rest.split_at_mut(B * stride);
    let (dxt, rest) = rest.split_at_mut(B * d);
    let (gdxt, rest) = rest.split_at_mut(B * d);
    let (walk, rest) = rest.split_at_mut(chain_len);
    let (buf_a, rest) = rest.split_at_mut(rows);
    let buf_b = &mut rest[..rows];

    // Recover the states backwards; keep levels below N-1 of each and the
    // top level's chain w_1..w_{N-1} from it (the last one transposed).
    for t in (0..count).rev() {
        let dx = &dxs[t * d..(t + 1) * d];
        // gdxs row t is free until the last phase: it holds -dx_t here.
        let neg = &mut gdxs[t * d..(t + 1) * d];
        for (o, &x) in neg.iter_mut().zip(dx) {
            *o = -x;
        }
        horner_levels::<T, D, FMA>(d, shape, s, neg, walk, n - 1, None);
        states[t * below..(t + 1) * below].copy_from_slice(&s[..below]);
        let chain = &mut chains[t * chain_len..(t + 1) * chain_len];
        horner_chain::<T, D, FMA>(d, shape, s, dx, chain, n, n - 1, None);
        // Levels 1..N-2 are contiguous, from offset 1 to `below`.
        for (u, &sv) in chain[1..below].iter_mut().zip(&s[1..below]) {
            *u += sv;
        }
        for ((w, &u), &sv) in wt[t * stride..t * stride + rows].iter_mut().zip(&chain[shape.level(n - 1)]).zip(&s[shape.level(n - 1)]) {
            *w = u + sv;
        }
        for (b, &x) in dx.iter().enumerate() {
            dxt[b * B + t] = x;
        }
    }
    // Lanes past `count` are computed but never read; zeros keep them finite.
    wt[count * stride..].fill(T::zero());
    for t in count..B {
        for b in 0..d {
            dxt[b * B + t] = T::zero();
        }
    }
    let g_top = &g[shape.level(n)];
    if count <= 2 {
        top_block_backward::<T, D, FMA, 2>(d, g_top, dxt, wt, gwt, gdxt);
    } else {
        top_block_backward::<T, D, FMA, B>(d, g_top, dxt, wt, gwt, gdxt);
    }

    for t in (0..count).rev() {
        let dx = &dxs[t * d..(t + 1) * d];
        let st = &states[t * below..(t + 1) * below];
        let s0 = st[0];
        let gdx = &mut gdxs[t * d..(t + 1) * d];
        for (b, o) in gdx.iter_mut().enumerate() {
            *o = gdxt[b * B + t];
        }
        // Levels 1..N-1 in ascending order: level k's chain reads g_k and
        // adds only to lower levels, so g is updated in place and each
        // g_k is read before a higher level's chain adds to it.
        for k in 1..n {
            let c1 = s0 * recip::<T>(k);
            for i in 1..k {
                let (done, w_i) = walk.split_at_mut(shape.offsets[i]);
                let w_i = &mut w_i[..shape.level_len(i)];
                let s_i = &st[shape.level(i)];
                if i == 1 {
                    for ((w, &x), &si) in w_i.iter_mut().zip(dx).zip(s_i) {
                        *w = fmadd::<T, FMA>(c1, x, si);
                    }
                } else {
                    let c = recip::<T>(k - i + 1);
                    for ((row, &wp), s_row) in w_i.chunks_exact_mut(d).zip(&done[shape.level(i - 1)]).zip(s_i.chunks_exact(d)) {
                        row_axpy::<T, D, FMA>(d, row, wp * c, dx, Some(s_row));
                    }
                }
            }
            let (g_lower, g_upper) = g.split_at_mut(shape.offsets[k]);
            let g_k = &g_upper[..shape.level_len(k)];
            chain_walk_down::<T, D, FMA>(d, shape, walk, s0, dx, k, k, g_k, g_lower, gdx, buf_a, buf_b);
        }
        // The top level's chain below its last product, whose gradient
        // (column t of the block pass) joins level N-1 of the gradient.
        let col = &gwt[t * stride..t * stride + rows];
        for (gv, &c) in g[shape.level(n - 1)].iter_mut().zip(col) {
            *gv += c;
        }
        let chain = &chains[t * chain_len..(t + 1) * chain_len];
        chain_walk_down::<T, D, FMA>(d, shape, chain, s0, dx, n, n - 1, col, &mut g[..below], gdx, buf_a, buf_b);
    }
}

crate::simd::specialised! {
    /// Gradient of `r = s (x) exp(dx)`: given `g = dF/dr`, writes
    /// `g_out = dF/ds` and `gdx = dF/d(dx)`. Transposes the Horner scheme
    /// of [`mul_exp_in_place`] level by level, recomputing its partial
    /// products instead of storing them across steps. `ws` needs
    /// `shape.mul_exp_backward_ws_len()` entries. The level-0 entry of
    /// `g_out` is not computed (signatures have constant level 0).
    pub(crate) fn mul_exp_backward<T>(d: usize, shape: &TensorShape, s: &[T], dx: &[T], g: &[T], g_out: &mut [T], gdx: &mut [T], ws: &mut [T]) = mul_exp_backward_kernel;
}

/// Body of [`mul_exp_backward`]; see there.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn mul_exp_backward_kernel<T: Float, const D: usize, const FMA: bool>(
    d_rt: usize,
    shape: &TensorShape,
    s: &[T],
    dx: &[T],
    g: &[T],
    g_out: &mut [T],
    gdx: &mut [T],
    ws: &mut [T],
) {
    let d = if D == 0 { d_rt } else { D };
    let dx = &dx[..d];
    let n = shape.degree;
    let gdx = &mut gdx[..d];
    gdx.fill(T::zero());
    g_out.copy_from_slice(g);
    g_out[0] = T::zero();
    if n == 0 {
        return;
    }
    let s0 = s[0];
    let top = shape.level_len(n - 1);
    let (w_all, rest) = ws.split_at_mut(shape.offsets[n]);
    let (buf_a, rest) = rest.split_at_mut(top);
    let (buf_b, _) = rest.split_at_mut(top);
    for k in 1..=n {
        // Forward: w_i = u_i + s_i with u_1 = s0 dx / k and
        // u_i = w_{i-1} (x) dx / (k - i + 1), stored for i < k.
        let c1 = s0 * recip::<T>(k);
        for i in 1..k {
            let (done, w_i) = w_all.split_at_mut(shape.offsets[i]);
            let w_i = &mut w_i[..shape.level_len(i)];
            let s_i = &s[shape.level(i)];
            if i == 1 {
                for ((w, &x), &si) in w_i.iter_mut().zip(dx).zip(s_i) {
                    *w = fmadd::<T, FMA>(c1, x, si);
                }
            } else {
                let c = recip::<T>(k - i + 1);
                let w_prev = &done[shape.level(i - 1)];
                for ((row, &wp), s_row) in w_i.chunks_exact_mut(d).zip(w_prev).zip(s_i.chunks_exact(d)) {
                    let v = wp * c;
                    for ((w, &x), &si) in row.iter_mut().zip(dx).zip(s_row) {
                        *w = fmadd::<T, FMA>(v, x, si);
                    }
                }
            }
        }
        // Backward: the gradient of u_k is g_k; walk the chain down.
        let mut cur: &mut [T] = &mut buf_a[..];
        let mut next: &mut [T] = &mut buf_b[..];
        for i in (2..=k).rev() {
            let c = recip::<T>(k - i + 1);
            let gu: &[T] = if i == k { &g[shape.level(k)] } else { &cur[..shape.level_len(i)] };
            let w_prev = &w_all[shape.level(i - 1)];
            let g_level = &mut g_out[shape.level(i - 1)];
            horner_step_backward::<T, D, FMA>(d, c, gu, w_prev, dx, next, g_level, gdx);
            std::mem::swap(&mut cur, &mut next);
        }
        let gu1: &[T] = if k == 1 { &g[shape.level(1)] } else { &cur[..d] };
        for (acc, &gv) in gdx.iter_mut().zip(gu1) {
            *acc = fmadd::<T, FMA>(c1, gv, *acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    }

    fn random(n: usize, seed: &mut u64) -> Vec<f64> {
        (0..n).map(|_| lcg(seed)).collect()
    }

    #[test]
    fn sig_length_counts_all_words_up_to_degree() {
        assert_eq!(sig_length(2, 3, true), Some(15));
        assert_eq!(sig_length(1, 5, false), Some(5));
        assert_eq!(sig_length(7, 0, true), Some(1));
        assert_eq!(sig_length(7, 0, false), Some(0));
        assert_eq!(sig_length(1 << 20, 5, true), None);
    }

    /// `a (x) b` word by word from the definition: the entry of word `w`
    /// (level k, index `i`) is `sum_j a[w_1..w_j] b[w_{j+1}..w_k]`.
    fn product_by_words(shape: &TensorShape, a: &[f64], b: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; shape.len()];
        for k in 0..=shape.degree {
            for i in 0..shape.level_len(k) {
                let mut sum = 0.0;
                for j in 0..=k {
                    let tail = shape.dim.pow((k - j) as u32);
                    sum += a[shape.offsets[j] + i / tail] * b[shape.offsets[k - j] + i % tail];
                }
                out[shape.offsets[k] + i] = sum;
            }
        }
        out
    }

    #[test]
    fn products_equal_the_product_word_by_word_in_chunked_levels() {
        // Levels above 4 KiB go in chunks (product_chunk_len): in float64
        // d = 2 from degree 10, d = 3 from degree 6, d = 20 from degree 3
        // (chunks of 400 within rows of 8000), and a runtime width (d = 9).
        let mut seed = 7;
        for (d, n) in [(1, 5), (2, 10), (3, 6), (9, 3), (20, 3), (4, 5)] {
            let shape = TensorShape::new(d, n).unwrap();
            let a = random(shape.len(), &mut seed);
            let b = random(shape.len(), &mut seed);
            let want = product_by_words(&shape, &a, &b);
            let mut got = a.clone();
            mul_in_place(&shape, &mut got, &b);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "d = {d}, degree {n}, entry {i}: {g} vs {w}");
            }
            // Group-like factors (level 0 is 1), stored with level 0 and without.
            let (mut ga, mut gb) = (a.clone(), b.clone());
            (ga[0], gb[0]) = (1.0, 1.0);
            let want_group = product_by_words(&shape, &ga, &gb);
            let mut out = vec![f64::NAN; shape.len()];
            mul_group_like(&shape, &ga, &gb, &mut out, 0);
            let mut out_skip = vec![f64::NAN; shape.len() - 1];
            mul_group_like(&shape, &ga[1..], &gb[1..], &mut out_skip, 1);
            for (i, w) in want_group.iter().enumerate() {
                assert!((out[i] - w).abs() <= 1e-12 * (1.0 + w.abs()), "group-like, d = {d}, degree {n}, entry {i}: {} vs {w}", out[i]);
                if i > 0 {
                    assert_eq!(out_skip[i - 1].to_bits(), out[i].to_bits(), "group-like without level 0, entry {i}");
                }
            }
            let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
            let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
            let mut got32 = a32.clone();
            mul_in_place(&shape, &mut got32, &b32);
            for (i, (g, w)) in got32.iter().zip(&want).enumerate() {
                assert!((*g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()), "float32, d = {d}, degree {n}, entry {i}: {g} vs {w}");
            }
        }
        assert_eq!(product_chunk_len::<f64>(20, 8000), 400);
        assert_eq!(product_chunk_len::<f32>(2, 4096), 1024);
        assert_eq!(product_chunk_len::<f64>(3, 9), 9);
        assert_eq!(product_chunk_len::<f64>(700, 700), 700);
    }

    #[test]
    fn mul_exp_in_place_equals_product_with_exp() {
        for (d, n) in [(1, 4), (2, 3), (3, 4), (4, 2), (5, 3), (7, 3), (8, 2)] {
            let shape = TensorShape::new(d, n).unwrap();
            let mut seed = 7 + d as u64;
            let s = random(shape.len(), &mut seed);
            let dx = random(d, &mut seed);
            let mut e = vec![0.0; shape.len()];
            tensor_exp(&shape, &dx, &mut e).unwrap();
            let mut expected = vec![0.0; shape.len()];
            tensor_mul(&shape, &s, &e, &mut expected).unwrap();
            let mut got = s.clone();
            let mut scratch = vec![0.0; shape.mul_exp_scratch_len()];
            mul_exp_in_place(d, &shape, &mut got, &dx, &mut scratch);
            for (a, b) in got.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-13, "d={d} n={n}: {a} vs {b}");
            }
        }
    }

    /// A block of `count` steps against as many single steps, for a
    /// tensor whose level 0 is not 1, with a NaN-filled workspace; and
    /// again with a fresh top level (zero, and NaN-filled in memory).
    fn check_block<const D: usize, const FMA: bool>(d: usize, n: usize, count: usize) {
        let shape = TensorShape::new(d, n).unwrap();
        let mut seed = (100 * d + 10 * n + count) as u64;
        let start = random(shape.len(), &mut seed);
        let dxs = random(count * d, &mut seed);
        // (A fresh top level is for degrees from 1: level 0 is never fresh.)
        for fresh in [false, true].into_iter().filter(|&f| !f || n > 0) {
            let mut start = start.clone();
            if fresh {
                start[shape.level(n)].fill(0.0);
            }
            let mut expected = start.clone();
            let mut scratch = vec![0.0; shape.mul_exp_scratch_len()];
            for dx in dxs.chunks_exact(d) {
                mul_exp_in_place(d, &shape, &mut expected, dx, &mut scratch);
            }
            let mut got = start;
            let (lower, top) = got.split_at_mut(shape.offsets[n]);
            if fresh {
                top.fill(f64::NAN);
            }
            let mut ws = vec![f64::NAN; shape.mul_exp_block_ws_len()];
            mul_exp_block_kernel::<f64, D, FMA>(d, &shape, lower, top, fresh, &dxs, count, &mut ws, None);
            for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
                assert!((a - b).abs() <= 1e-13 * (1.0 + b.abs()), "D={D} FMA={FMA} fresh={fresh} d={d} n={n} count={count} entry {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn a_block_of_steps_equals_the_steps_one_by_one() {
        for count in [1, 3, STEP_BLOCK] {
            for n in 0..=4 {
                for d in [1, 2, 3, 5, 9] {
                    check_block::<0, false>(d, n, count);
                }
                check_block::<2, false>(2, n, count);
                check_block::<4, false>(4, n, count);
                // The FMA instances take the rank-8 kernels of `simd::avx`.
                if crate::simd::has_fma() {
                    check_block::<4, true>(4, n, count);
                    check_block::<8, true>(8, n, count);
                    check_block::<12, true>(12, n.min(3), count);
                    check_block::<16, true>(16, n.min(3), count);
                    check_block::<20, true>(20, n.min(3), count);
                    // Ragged row widths (`avx::rank_update_ragged_f64`).
                    check_block::<2, true>(2, n, count);
                    check_block::<3, true>(3, n, count);
                    check_block::<5, true>(5, n, count);
                    check_block::<6, true>(6, n, count);
                    check_block::<7, true>(7, n.min(3), count);
                    check_block::<10, true>(10, n.min(3), count);
                }
            }
        }
    }

    #[test]
    fn exp_of_minus_v_inverts_exp_of_v() {
        let shape = TensorShape::new(3, 5).unwrap();
        let mut seed = 3;
        let v = random(3, &mut seed);
        let minus: Vec<f64> = v.iter().map(|x| -x).collect();
        let (mut e, mut f, mut prod) = (vec![0.0; shape.len()], vec![0.0; shape.len()], vec![0.0; shape.len()]);
        tensor_exp(&shape, &v, &mut e).unwrap();
        tensor_exp(&shape, &minus, &mut f).unwrap();
        tensor_mul(&shape, &e, &f, &mut prod).unwrap();
        assert!((prod[0] - 1.0).abs() < 1e-15);
        assert!(prod[1..].iter().all(|x| x.abs() < 1e-15));
    }

    #[test]
    fn mul_exp_backward_matches_finite_differences() {
        for (d, n) in [(1, 3), (2, 4), (3, 3), (4, 3), (6, 2)] {
            let shape = TensorShape::new(d, n).unwrap();
            let mut seed = 11 + d as u64;
            let mut s = random(shape.len(), &mut seed);
            s[0] = 1.0;
            let dx = random(d, &mut seed);
            let g = random(shape.len(), &mut seed);
            let mut g_out = vec![0.0; shape.len()];
            let mut gdx = vec![0.0; d];
            let mut ws = vec![0.0; shape.mul_exp_backward_ws_len()];
            mul_exp_backward(d, &shape, &s, &dx, &g, &mut g_out, &mut gdx, &mut ws);

            let mut scratch = vec![0.0; shape.mul_exp_scratch_len()];
            let f = |s: &[f64], dx: &[f64], scratch: &mut [f64]| {
                let mut r = s.to_vec();
                mul_exp_in_place(d, &shape, &mut r, dx, scratch);
                r.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
            };
            let h = 1e-6;
            for b in 0..d {
                let (mut p, mut m) = (dx.clone(), dx.clone());
                p[b] += h;
                m[b] -= h;
                let fd = (f(&s, &p, &mut scratch) - f(&s, &m, &mut scratch)) / (2.0 * h);
                assert!((fd - gdx[b]).abs() < 1e-7, "d={d} n={n} gdx[{b}]: {fd} vs {}", gdx[b]);
            }
            for idx in 1..shape.len() {
                let (mut p, mut m) = (s.clone(), s.clone());
                p[idx] += h;
                m[idx] -= h;
                let fd = (f(&p, &dx, &mut scratch) - f(&m, &dx, &mut scratch)) / (2.0 * h);
                assert!((fd - g_out[idx]).abs() < 1e-7, "d={d} n={n} g_out[{idx}]: {fd} vs {}", g_out[idx]);
            }
        }
    }
}
