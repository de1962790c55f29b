//! Products of log-signatures in the Lyndon basis (pysiglib's
//! `log_sig_combine` and `log_sig_join`), and their gradients.
//!
//! The Baker-Campbell-Hausdorff product of two Lie elements is
//! `BCH(a, b) = log(exp(a) (x) exp(b))`, truncated at the degree: the
//! log-signature of path a followed by path b. It is evaluated exactly that
//! way, inside one worker's buffers: expand the Lyndon coordinates, take
//! each exponential (Horner, N truncated products), multiply, take the
//! logarithm (Horner again) and project back onto the Lyndon basis. No
//! signature is ever handed back to the caller, and the gradients walk the
//! same chain backwards with the Horner partial sums kept from the forward
//! pass. Appending one straight segment `v` (`log_sig_join`) multiplies by
//! `exp(v)` in place, the signature's own update, instead of a second
//! exponential.
//!
//! The expansion of Lyndon coordinates into tensors (and its transpose)
//! reads a sparse table of about `2^(k-1)` terms per bracket of length `k`;
//! done one batch entry at a time it costs about as much as the
//! exponentials. So entries go through it in blocks of [`LANES`], each
//! term applied to the whole block at once (the block's tensors interleaved,
//! entry `j` of word `i` at `i * LANES + j`), while the products run per
//! entry.
//!
//! The projection onto the Lyndon basis reads the logarithm only at the
//! Lyndon words, so of the logarithm's last Horner product only those
//! entries are formed (`k` terms for a word of length `k`), and only they
//! are transposed on the way back.
//!
//! Log-signatures are `batch * log_sig_length(dim, degree)` numbers: the
//! coordinates of pysiglib's method 2 (and 3), in the order of the Lyndon
//! words by length, then lexicographically.

use std::sync::Arc;

use crate::alloc::zeros;
use crate::batch::try_for_each_item;
use crate::error::{check_len, Result, SigError};
use crate::logsig::{ExpWorkspace, LogWorkspace};
use crate::lyndon::{checked_lyndon_count, checked_shape, lyndon_basis, LyndonBasis, SparseExpansions};
use crate::tensor::{mul_backward, mul_exp_backward, mul_exp_in_place, mul_in_place, TensorShape};
use crate::Float;

/// Batch entries expanded together.
const LANES: usize = 8;
/// The most numbers a block's interleaved tensors may hold: beyond, entries
/// go through the expansion one at a time (the table is then small beside
/// the tensors, and the block would not stay in cache).
const MAX_BLOCK_NUMBERS: usize = 1 << 18;

/// The Lyndon basis of `(dim, degree)` and the sizes every call needs.
struct Plan {
    shape: TensorShape,
    basis: Arc<LyndonBasis>,
    /// Coordinates per log-signature.
    len: usize,
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
        Ok(Some(Plan { basis: lyndon_basis(dim, degree)?, shape, len }))
    }

    /// Floating-point work of one product, for the parallel threshold.
    fn mul_work(&self) -> usize {
        self.shape.len().saturating_mul(self.shape.degree.max(1))
    }

    /// Whether blocks of [`LANES`] entries fit.
    fn blocked(&self) -> bool {
        self.shape.len().saturating_mul(LANES) <= MAX_BLOCK_NUMBERS
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

/// `expanded[i * W + j] = sum_e coords[e * W + j] P_e[i]`: the expansions of
/// `W` interleaved coordinate vectors.
fn expand_lanes<T: Float, const W: usize>(table: &SparseExpansions, n: usize, coords: &[T], expanded: &mut [T]) {
    expanded.fill(T::zero());
    for (e, c) in coords.chunks_exact(W).take(n).enumerate() {
        let c: &[T; W] = c.try_into().expect("W coordinates");
        let (idx, coef) = table.element(e);
        for (&i, &k) in idx.iter().zip(coef) {
            let k = T::from_f64(k).unwrap_or_else(T::nan);
            let o: &mut [T; W] = (&mut expanded[i * W..(i + 1) * W]).try_into().expect("W entries");
            for j in 0..W {
                o[j] += k * c[j];
            }
        }
    }
}

/// The transpose of [`expand_lanes`]: `g_coords[e * W + j] = <P_e, g_expanded[.. * W + j]>`.
fn expand_lanes_backward<T: Float, const W: usize>(table: &SparseExpansions, n: usize, g_expanded: &[T], g_coords: &mut [T]) {
    for (e, g) in g_coords.chunks_exact_mut(W).take(n).enumerate() {
        let mut acc = [T::zero(); W];
        let (idx, coef) = table.element(e);
        for (&i, &k) in idx.iter().zip(coef) {
            let k = T::from_f64(k).unwrap_or_else(T::nan);
            let x: &[T; W] = g_expanded[i * W..(i + 1) * W].try_into().expect("W entries");
            for j in 0..W {
                acc[j] += k * x[j];
            }
        }
        g.copy_from_slice(&acc);
    }
}

/// `out[w] = (x (x) h)[w]` at the flat indices `words` only (sorted by
/// level): a word of length `k` has `k + 1` splits `w = uv`, and `x` has no
/// level 0, so `k` terms.
fn lyndon_entries_of_product<T: Float>(shape: &TensorShape, words: &[usize], x: &[T], h: &[T], out: &mut [T]) {
    let d = shape.dim;
    let mut k = 1;
    for &w in words {
        while w >= shape.level(k).end {
            k += 1;
        }
        let r = w - shape.level(k).start;
        let mut acc = x[w] * h[0];
        let mut pow = 1; // d^|v|
        for u_len in (1..k).rev() {
            pow *= d;
            acc += x[shape.level(u_len).start + r / pow] * h[shape.level(k - u_len).start + r % pow];
        }
        out[w] = acc;
    }
}

/// The transpose of [`lyndon_entries_of_product`]: from `g` (read at
/// `words`), ADDS dF/dx into `g_x` and dF/dh into `g_h`.
fn lyndon_entries_of_product_backward<T: Float>(shape: &TensorShape, words: &[usize], x: &[T], h: &[T], g: &[T], g_x: &mut [T], g_h: &mut [T]) {
    let d = shape.dim;
    let mut k = 1;
    for &w in words {
        while w >= shape.level(k).end {
            k += 1;
        }
        let r = w - shape.level(k).start;
        let gw = g[w];
        g_x[w] += gw * h[0];
        g_h[0] += gw * x[w];
        let mut pow = 1;
        for u_len in (1..k).rev() {
            pow *= d;
            let (u, v) = (shape.level(u_len).start + r / pow, shape.level(k - u_len).start + r % pow);
            g_x[u] += gw * h[v];
            g_h[v] += gw * x[u];
        }
    }
}

/// One worker's buffers: both exponentials with their Horner partial sums,
/// the product, its logarithm, the gradients on the way back, and a block's
/// interleaved coordinates and expanded tensors.
struct BchWorkspace<T> {
    left: ExpWorkspace<T>,
    /// `exp(b)`: `combine` only.
    right: Option<ExpWorkspace<T>>,
    product: Vec<T>,
    log: LogWorkspace<T>,
    /// The logarithm of the product at the Lyndon words (other entries unused).
    log_words: Vec<T>,
    g_log: Vec<T>,
    g_left: Vec<T>,
    g_right: Vec<T>,
    /// Scratch of the in-place multiplication by `exp(v)`, or of its gradient.
    scratch: Vec<T>,
    g_v: Vec<T>,
    /// A block's coordinates, interleaved (`len * W`).
    lane_coords: Vec<T>,
    /// A block's expanded left and right Lie elements, interleaved
    /// (`full * W`); their gradients replace them entry by entry.
    lane_left: Vec<T>,
    lane_right: Vec<T>,
}

impl<T: Float> BchWorkspace<T> {
    /// Buffers for `combine` (two exponentials) or `join` (one, and the
    /// scratch of the multiplication by `exp(v)`), for blocks of `w` entries.
    fn new(plan: &Plan, join: bool, w: usize) -> Result<Self> {
        let shape = &plan.shape;
        let full = shape.len();
        let z = |n| zeros("the workspace of a log-signature product", n);
        let scratch = if join { shape.mul_exp_scratch_len().max(shape.mul_exp_backward_ws_len()) } else { 0 };
        Ok(BchWorkspace {
            left: ExpWorkspace::new(shape, 0)?,
            right: if join { None } else { Some(ExpWorkspace::new(shape, 0)?) },
            product: z(full)?,
            log: LogWorkspace::new(shape)?,
            log_words: z(full)?,
            g_log: z(full)?,
            g_left: z(full)?,
            g_right: z(if join { 0 } else { full })?,
            scratch: z(scratch)?,
            g_v: z(if join { shape.dim } else { 0 })?,
            lane_coords: z(plan.len * w)?,
            lane_left: z(full * w)?,
            lane_right: z(if join { 0 } else { full * w })?,
        })
    }

    /// Expands the log-signatures `entries` (`m <= W` of them, `n` numbers
    /// each) into `self.lane_left` (or `lane_right`), interleaved.
    fn expand_block<const W: usize>(&mut self, plan: &Plan, entries: &[T], right: bool) {
        let n = plan.len;
        self.lane_coords.fill(T::zero());
        for (j, entry) in entries.chunks_exact(n).enumerate() {
            for (e, &x) in entry.iter().enumerate() {
                self.lane_coords[e * W + j] = x;
            }
        }
        let lanes = if right { &mut self.lane_right } else { &mut self.lane_left };
        expand_lanes::<T, W>(plan.basis.expansions(), n, &self.lane_coords, lanes);
    }

    /// The transpose of [`expand_block`](Self::expand_block): from the
    /// interleaved gradients in `lane_left` (or `lane_right`), writes the
    /// `m` entries' coordinate gradients into `out`.
    fn expand_block_backward<const W: usize>(&mut self, plan: &Plan, out: &mut [T], right: bool) {
        let n = plan.len;
        let lanes = if right { &self.lane_right } else { &self.lane_left };
        expand_lanes_backward::<T, W>(plan.basis.expansions(), n, lanes, &mut self.lane_coords);
        for (j, entry) in out.chunks_exact_mut(n).enumerate() {
            for (e, o) in entry.iter_mut().enumerate() {
                *o = self.lane_coords[e * W + j];
            }
        }
    }

    /// Entry `j` of the block's expanded Lie elements into the exponentials' inputs.
    fn load<const W: usize>(&mut self, j: usize) {
        for (x, lane) in self.left.lie.iter_mut().zip(self.lane_left.chunks_exact(W)) {
            *x = lane[j];
        }
        if let Some(right) = self.right.as_mut() {
            for (x, lane) in right.lie.iter_mut().zip(self.lane_right.chunks_exact(W)) {
                *x = lane[j];
            }
        }
    }

    /// `log(self.product)` projected onto the basis, into `out`. The
    /// projection reads only the logarithm's entries at the Lyndon words, so
    /// only those of its last Horner product are formed.
    fn log_product(&mut self, plan: &Plan, out: &mut [T]) {
        if self.log.horner(&plan.shape, &self.product, 0) {
            let log = &mut self.log_words;
            lyndon_entries_of_product(&plan.shape, plan.basis.word_indices(), self.log.x(), self.log.h1(), log);
        }
        plan.basis.coords_from_expanded(&self.log_words, out);
    }

    /// The forward pass of `combine` for the loaded entry, keeping every
    /// intermediate.
    fn combine(&mut self, plan: &Plan, out: &mut [T]) {
        self.left.forward(&plan.shape);
        let right = self.right.as_mut().expect("a combine workspace");
        right.forward(&plan.shape);
        self.product.copy_from_slice(&self.left.e[0]);
        mul_in_place(&plan.shape, &mut self.product, &right.e[0]);
        self.log_product(plan, out);
    }

    /// The forward pass of `join` for the loaded entry and displacement `v`.
    fn join(&mut self, plan: &Plan, v: &[T], out: &mut [T]) {
        self.left.forward(&plan.shape);
        self.product.copy_from_slice(&self.left.e[0]);
        mul_exp_in_place(plan.shape.dim, &plan.shape, &mut self.product, v, &mut self.scratch);
        self.log_product(plan, out);
    }

    /// After a forward pass, from `g` = dF/d(coordinates of the result),
    /// leaves dF/d(product) in `self.log.g_x` (level 0 zero).
    fn log_backward(&mut self, plan: &Plan, g: &[T]) {
        self.g_log.fill(T::zero());
        plan.basis.coords_from_expanded_backward(g, &mut self.g_log);
        let (x, h1, g_x, g_h1) = self.log.last_product_grads();
        lyndon_entries_of_product_backward(&plan.shape, plan.basis.word_indices(), x, h1, &self.g_log, g_x, g_h1);
        self.log.horner_backward(&plan.shape);
    }

    /// From `self.g_left` (and `g_right`) = dF/d exp(.), the gradients of the
    /// loaded entry's expanded Lie elements, stored into column `j` of the
    /// block (where the entry was loaded from).
    fn exp_backward<const W: usize>(&mut self, plan: &Plan, j: usize) {
        self.g_left[0] = T::zero();
        self.left.backward(&plan.shape, &self.g_left);
        for (lane, &g) in self.lane_left.chunks_exact_mut(W).zip(&self.left.g_lie) {
            lane[j] = g;
        }
        if let Some(right) = self.right.as_mut() {
            self.g_right[0] = T::zero();
            right.backward(&plan.shape, &self.g_right);
            for (lane, &g) in self.lane_right.chunks_exact_mut(W).zip(&right.g_lie) {
                lane[j] = g;
            }
        }
    }
}

/// Runs `block::<W>` over blocks of `W` batch entries (`W` = [`LANES`], or 1
/// for large tensors): `items` holds each block's outputs.
macro_rules! by_blocks {
    ($plan:expr, |$w:ident| $body:expr) => {
        if $plan.blocked() {
            const $w: usize = LANES;
            $body
        } else {
            const $w: usize = 1;
            $body
        }
    };
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
    by_blocks!(plan, |W| {
        let mut blocks: Vec<&mut [T]> = out.chunks_mut(W * n).collect();
        let work = plan.mul_work().saturating_mul(W * (3 * degree + 1));
        try_for_each_item(n_jobs, &mut blocks, work, || BchWorkspace::new(&plan, false, W), |ws, k, o| {
            let entries = k * W * n..k * W * n + o.len();
            ws.expand_block::<W>(&plan, &a[entries.clone()], false);
            ws.expand_block::<W>(&plan, &b[entries], true);
            for (j, o) in o.chunks_exact_mut(n).enumerate() {
                ws.load::<W>(j);
                ws.combine(&plan, o);
            }
            Ok(())
        })
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
    by_blocks!(plan, |W| {
        let mut blocks: Vec<(&mut [T], &mut [T])> = ga.chunks_mut(W * n).zip(gb.chunks_mut(W * n)).collect();
        let work = plan.mul_work().saturating_mul(W * (6 * degree + 3));
        try_for_each_item(n_jobs, &mut blocks, work, || BchWorkspace::new(&plan, false, W), |ws, k, (out_a, out_b)| {
            let entries = k * W * n..k * W * n + out_a.len();
            ws.expand_block::<W>(&plan, &a[entries.clone()], false);
            ws.expand_block::<W>(&plan, &b[entries.clone()], true);
            let g = &g[entries];
            for j in 0..out_a.len() / n {
                ws.load::<W>(j);
                // The forward pass again, keeping its partial sums (its
                // output is not needed: out_a is overwritten below).
                ws.combine(&plan, &mut out_a[j * n..(j + 1) * n]);
                ws.log_backward(&plan, &g[j * n..(j + 1) * n]);
                ws.g_left.fill(T::zero());
                ws.g_right.fill(T::zero());
                let right = ws.right.as_ref().expect("a combine workspace");
                mul_backward(&plan.shape, &ws.left.e[0], &right.e[0], &ws.log.g_x, &mut ws.g_left, &mut ws.g_right);
                ws.exp_backward::<W>(&plan, j);
            }
            ws.expand_block_backward::<W>(&plan, out_a, false);
            ws.expand_block_backward::<W>(&plan, out_b, true);
            Ok(())
        })
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
/// assert_eq!(out, [2.0, -1.0, 0.0, 0.0, 0.0]);
/// ```
pub fn log_sig_join<T: Float>(log_sig: &[T], displacement: &[T], dim: usize, degree: usize, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let Some(plan) = Plan::new(dim, degree)? else {
        return Ok(());
    };
    let n = plan.len;
    batch_of(&[("log_sig", log_sig.len(), n), ("displacement", displacement.len(), dim), ("out", out.len(), n)])?;
    by_blocks!(plan, |W| {
        let mut blocks: Vec<&mut [T]> = out.chunks_mut(W * n).collect();
        let work = plan.mul_work().saturating_mul(W * (2 * degree + 2));
        try_for_each_item(n_jobs, &mut blocks, work, || BchWorkspace::new(&plan, true, W), |ws, k, o| {
            ws.expand_block::<W>(&plan, &log_sig[k * W * n..k * W * n + o.len()], false);
            for (j, o) in o.chunks_exact_mut(n).enumerate() {
                let entry = k * W + j;
                ws.load::<W>(j);
                ws.join(&plan, &displacement[entry * dim..(entry + 1) * dim], o);
            }
            Ok(())
        })
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
    by_blocks!(plan, |W| {
        let mut blocks: Vec<(&mut [T], &mut [T])> = g_log_sig.chunks_mut(W * n).zip(g_disp.chunks_mut(W * dim)).collect();
        let work = plan.mul_work().saturating_mul(W * (4 * degree + 4));
        try_for_each_item(n_jobs, &mut blocks, work, || BchWorkspace::new(&plan, true, W), |ws, k, (out_ls, out_v)| {
            let entries = k * W * n..k * W * n + out_ls.len();
            ws.expand_block::<W>(&plan, &log_sig[entries.clone()], false);
            let g = &g[entries];
            for (j, o_v) in out_v.chunks_exact_mut(dim).enumerate() {
                let entry = k * W + j;
                let v = &displacement[entry * dim..(entry + 1) * dim];
                ws.load::<W>(j);
                ws.join(&plan, v, &mut out_ls[j * n..(j + 1) * n]);
                ws.log_backward(&plan, &g[j * n..(j + 1) * n]);
                mul_exp_backward(dim, &plan.shape, &ws.left.e[0], v, &ws.log.g_x, &mut ws.g_left, &mut ws.g_v, &mut ws.scratch);
                ws.exp_backward::<W>(&plan, j);
                o_v.copy_from_slice(&ws.g_v);
            }
            ws.expand_block_backward::<W>(&plan, out_ls, false);
            Ok(())
        })
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
        for (dim, degree) in [(2, 5), (3, 4), (1, 3), (4, 2)] {
            let n = checked_lyndon_count(dim, degree).unwrap();
            let mut seed = 3 + dim as u64;
            let (a, b) = (random(2 * n, &mut seed), random(2 * n, &mut seed));
            let mut out = vec![0.0; 2 * n];
            log_sig_combine(&a, &b, dim, degree, 1, &mut out).unwrap();
            for i in 0..2 {
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
        let (dim, degree) = (2, 4);
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
