//! Batched operations on signatures themselves, and their gradients:
//! Chen's identity (`sig_combine`, `multi_sig_combine`), extending by one
//! straight segment (`sig_join`), the signature of a segment
//! (`linear_sig`) and the inverse of a signature (`sig_inverse`).
//!
//! Every function takes signatures as `batch * sig_len` numbers, laid out
//! with or without the level-0 term as `scalar_term` says. Inputs are
//! treated as group-like elements whose level 0 is 1 (as pysiglib does):
//! a stored level-0 entry is ignored, outputs get 1 there, and gradients
//! get 0 there.

use crate::alloc::zeros;
use crate::batch::{for_each_chunk, for_each_item, resolve_n_jobs, try_for_each_chunk, try_for_each_item};
use crate::error::{Result, SigError};
use crate::tensor::{antipode_copy, mul_backward, mul_exp_backward, mul_exp_in_place, mul_group_like, mul_group_like_backward, mul_in_place, word_reversal, TensorShape};
use crate::Float;

/// The layout of one batch of signatures.
struct Layout {
    shape: TensorShape,
    /// 1 when signatures omit level 0.
    skip: usize,
    /// Numbers per stored signature.
    len: usize,
}

impl Layout {
    fn new(dim: usize, degree: usize, scalar_term: bool) -> Result<Self> {
        let shape = TensorShape::new(dim, degree)?;
        let skip = usize::from(!scalar_term);
        Ok(Layout { len: shape.len() - skip, shape, skip })
    }

    /// The batch size shared by `buffers`, given as `(name, length, numbers
    /// per batch item)`: read off the first with a non-empty item, then
    /// checked against every other. (Items can be empty: a degree-0
    /// signature without its scalar term, or a 0-dimensional displacement.)
    fn batch(buffers: &[(&'static str, usize, usize)]) -> Result<usize> {
        let Some(&(name, len, per)) = buffers.iter().find(|b| b.2 > 0) else {
            return Ok(0);
        };
        if len % per != 0 {
            return Err(SigError::BufferLength { name, expected: (len / per + 1) * per, actual: len });
        }
        let batch = len / per;
        for &(name, len, per) in buffers {
            crate::error::check_len(name, len, batch * per)?;
        }
        Ok(batch)
    }

    /// Copies a stored signature into a full-length buffer, level 0 = `level0`.
    fn load<T: Float>(&self, stored: &[T], full: &mut [T], level0: T) {
        full[0] = level0;
        full[1..].copy_from_slice(&stored[1 - self.skip..]);
    }

    /// Stores a full-length buffer, level 0 (if stored) = `level0`.
    fn store<T: Float>(&self, full: &[T], stored: &mut [T], level0: T) {
        stored.copy_from_slice(&full[self.skip..]);
        if self.skip == 0 {
            stored[0] = level0;
        }
    }

    /// Floating-point work of one product, for the parallel threshold.
    fn mul_work(&self) -> usize {
        self.shape.len().saturating_mul(self.shape.degree.max(1))
    }
}

/// `out = a (x) b` for each pair of a batch: the signature of path a
/// followed by path b (Chen's identity).
///
/// ```
/// use sig_core::algebra::sig_combine;
/// // Two unit steps in one dimension make a step of 2: levels 2, 2, 4/3.
/// let step = [1.0_f64, 0.5, 1.0 / 6.0];
/// let mut out = [0.0; 3];
/// sig_combine(&step, &step, 1, 3, false, 1, &mut out).unwrap();
/// assert!((out[2] - 8.0 / 6.0).abs() < 1e-15);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn sig_combine<T: Float>(a: &[T], b: &[T], dim: usize, degree: usize, scalar_term: bool, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let lay = Layout::new(dim, degree, scalar_term)?;
    Layout::batch(&[("sig1", a.len(), lay.len), ("sig2", b.len(), lay.len), ("out", out.len(), lay.len)])?;
    for_each_chunk(n_jobs, out, lay.len, lay.mul_work(), || (), |_, i, o| {
        let item = i * lay.len..(i + 1) * lay.len;
        mul_group_like(&lay.shape, &a[item.clone()], &b[item], o, lay.skip);
    })
}

/// Gradient through [`sig_combine`]: from `g` = dF/d(out), writes dF/da into
/// `ga` and dF/db into `gb` (level 0 zero).
#[allow(clippy::too_many_arguments)]
pub fn sig_combine_backprop<T: Float>(
    a: &[T],
    b: &[T],
    g: &[T],
    dim: usize,
    degree: usize,
    scalar_term: bool,
    n_jobs: i64,
    ga: &mut [T],
    gb: &mut [T],
) -> Result<()> {
    let lay = Layout::new(dim, degree, scalar_term)?;
    let n = lay.len;
    Layout::batch(&[("sig1", a.len(), n), ("sig2", b.len(), n), ("derivs", g.len(), n), ("sig1_grad", ga.len(), n), ("sig2_grad", gb.len(), n)])?;
    let mut pairs: Vec<(&mut [T], &mut [T])> = ga.chunks_exact_mut(lay.len.max(1)).zip(gb.chunks_exact_mut(lay.len.max(1))).collect();
    for_each_item(n_jobs, &mut pairs, 2 * lay.mul_work(), || (), |_, i, (out_a, out_b)| {
        let item = i * lay.len..(i + 1) * lay.len;
        mul_group_like_backward(&lay.shape, &a[item.clone()], &b[item.clone()], &g[item], out_a, out_b, lay.skip);
    })
}

/// The product `s_0 (x) s_1 (x) ... (x) s_{count-1}` of each batch item's
/// `count` signatures (`sigs` is `batch * count * sig_len`): the signature
/// of the concatenated pieces. Few batch items with many pieces are split
/// into runs of pieces multiplied in parallel, then joined.
#[allow(clippy::too_many_arguments)]
pub fn multi_sig_combine<T: Float>(sigs: &[T], count: usize, dim: usize, degree: usize, scalar_term: bool, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let lay = Layout::new(dim, degree, scalar_term)?;
    let batch = Layout::batch(&[("out", out.len(), lay.len), ("sigs", sigs.len(), count * lay.len)])?;
    let full = lay.shape.len();
    let threads = resolve_n_jobs(n_jobs)?;
    // The product of pieces `range` of item b, into `acc`.
    let product = |b: usize, range: std::ops::Range<usize>, acc: &mut [T], rhs: &mut [T]| {
        acc.fill(T::zero());
        acc[0] = T::one();
        for c in range {
            let at = (b * count + c) * lay.len;
            lay.load(&sigs[at..at + lay.len], rhs, T::one());
            mul_in_place(&lay.shape, acc, rhs);
        }
    };
    let runs = if batch < threads { (threads / batch.max(1)).min(count / 16).max(1) } else { 1 };
    if runs == 1 {
        let work = count.saturating_mul(lay.mul_work());
        let init = || Ok((zeros("a product of signatures", full)?, zeros("a product of signatures", full)?));
        return try_for_each_chunk(n_jobs, out, lay.len, work, init, |(acc, rhs), b, o| {
            product(b, 0..count, acc, rhs);
            lay.store(acc, o, T::one());
            Ok(())
        });
    }
    let mut pieces = zeros("partial products of signatures", batch * runs * full)?;
    try_for_each_chunk(n_jobs, &mut pieces, full, usize::MAX, || zeros("a product of signatures", full), |rhs, idx, piece| {
        let (b, r) = (idx / runs, idx % runs);
        product(b, r * count / runs..(r + 1) * count / runs, piece, rhs);
        Ok(())
    })?;
    let mut acc = zeros("a product of signatures", full)?;
    for (per_item, o) in pieces.chunks_exact(runs * full).zip(out.chunks_exact_mut(lay.len.max(1))) {
        acc.copy_from_slice(&per_item[..full]);
        for piece in per_item.chunks_exact(full).skip(1) {
            mul_in_place(&lay.shape, &mut acc, piece);
        }
        lay.store(&acc, o, T::one());
    }
    Ok(())
}

/// Gradient through [`multi_sig_combine`]: from `g` = dF/d(out)
/// (`batch * sig_len`), writes dF/d(sigs) into `grads` (`batch * count *
/// sig_len`). The prefix products the backward pass needs are kept in
/// `grads` itself until each slot's gradient replaces them, so no memory
/// beyond the output is used.
#[allow(clippy::too_many_arguments)]
pub fn multi_sig_combine_backprop<T: Float>(
    sigs: &[T],
    g: &[T],
    count: usize,
    dim: usize,
    degree: usize,
    scalar_term: bool,
    n_jobs: i64,
    grads: &mut [T],
) -> Result<()> {
    let lay = Layout::new(dim, degree, scalar_term)?;
    Layout::batch(&[("derivs", g.len(), lay.len), ("sigs", sigs.len(), count * lay.len), ("out", grads.len(), count * lay.len)])?;
    if count == 0 {
        return Ok(());
    }
    let full = lay.shape.len();
    let per_item = count * lay.len;
    let work = 3usize.saturating_mul(count).saturating_mul(lay.mul_work());
    let init = || {
        let z = || zeros("the gradient of a product of signatures", full);
        Ok([z()?, z()?, z()?, z()?, z()?])
    };
    try_for_each_chunk(n_jobs, grads, per_item.max(1), work, init, |[prefix, piece, adj, g_prefix, g_piece], b, slots| {
        let own = &sigs[b * per_item..(b + 1) * per_item];
        let slot = |c: usize| c * lay.len..(c + 1) * lay.len;
        // Forward: slot c holds the product of pieces 0..=c.
        prefix.fill(T::zero());
        prefix[0] = T::one();
        for c in 0..count {
            lay.load(&own[slot(c)], piece, T::one());
            mul_in_place(&lay.shape, prefix, piece);
            lay.store(prefix, &mut slots[slot(c)], T::one());
        }
        // Backward: prefix_c = prefix_{c-1} (x) piece_c.
        lay.load(&g[b * lay.len..(b + 1) * lay.len], adj, T::zero());
        for c in (1..count).rev() {
            lay.load(&slots[slot(c - 1)], prefix, T::one());
            lay.load(&own[slot(c)], piece, T::one());
            g_prefix.fill(T::zero());
            g_piece.fill(T::zero());
            mul_backward(&lay.shape, prefix, piece, adj, g_prefix, g_piece);
            lay.store(g_piece, &mut slots[slot(c)], T::zero());
            std::mem::swap(adj, g_prefix);
            adj[0] = T::zero();
        }
        lay.store(adj, &mut slots[slot(0)], T::zero());
        Ok(())
    })
}

/// `sig (x) exp(v)`, the signature extended by the straight segment `v`
/// (`displacement` is `batch * dim`), or `exp(v) (x) sig` with `prepend`.
#[allow(clippy::too_many_arguments)]
pub fn sig_join<T: Float>(
    sig: &[T],
    displacement: &[T],
    dim: usize,
    degree: usize,
    scalar_term: bool,
    prepend: bool,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    let lay = Layout::new(dim, degree, scalar_term)?;
    Layout::batch(&[("sig", sig.len(), lay.len), ("displacement", displacement.len(), dim), ("out", out.len(), lay.len)])?;
    let shape = &lay.shape;
    let full = shape.len();
    // exp(v) (x) s = antipode(antipode(s) (x) exp(-v)): the antipode reverses
    // products and maps exp(v) to exp(-v), so prepending reuses the
    // in-place right multiplication.
    if out.is_empty() {
        return Ok(());
    }
    let rev = if prepend { word_reversal(shape)? } else { Vec::new() };
    let init = || {
        let z = |n| zeros("a joined signature", n);
        Ok((z(full)?, z(shape.mul_exp_scratch_len())?, z(dim)?))
    };
    try_for_each_chunk(n_jobs, out, lay.len, 4 * full, init, |(s, scratch, v), i, o| {
        let stored = &sig[i * lay.len..(i + 1) * lay.len];
        v.copy_from_slice(&displacement[i * dim..(i + 1) * dim]);
        s[0] = T::one();
        if prepend {
            antipode_copy(shape, &stored[1 - lay.skip..], 1, s, 0, &rev);
            v.iter_mut().for_each(|x| *x = -*x);
        } else {
            s[1..].copy_from_slice(&stored[1 - lay.skip..]);
        }
        if dim > 0 {
            mul_exp_in_place(dim, shape, s, v, scratch);
        }
        if prepend {
            antipode_copy(shape, s, 0, o, lay.skip, &rev);
            if lay.skip == 0 {
                o[0] = T::one();
            }
        } else {
            lay.store(s, o, T::one());
        }
        Ok(())
    })
}

/// Gradient through [`sig_join`]: from `g` = dF/d(out), writes dF/d(sig)
/// into `g_sig` and dF/d(displacement) into `g_disp`.
#[allow(clippy::too_many_arguments)]
pub fn sig_join_backprop<T: Float>(
    sig: &[T],
    displacement: &[T],
    g: &[T],
    dim: usize,
    degree: usize,
    scalar_term: bool,
    prepend: bool,
    n_jobs: i64,
    g_sig: &mut [T],
    g_disp: &mut [T],
) -> Result<()> {
    let lay = Layout::new(dim, degree, scalar_term)?;
    let n = lay.len;
    Layout::batch(&[
        ("sig", sig.len(), n),
        ("displacement", displacement.len(), dim),
        ("derivs", g.len(), n),
        ("sig_grad", g_sig.len(), n),
        ("displacement_grad", g_disp.len(), dim),
    ])?;
    let shape = &lay.shape;
    let full = shape.len();
    if lay.len == 0 || dim == 0 || g_sig.is_empty() {
        g_sig.fill(T::zero());
        g_disp.fill(T::zero());
        return Ok(());
    }
    let rev = if prepend { word_reversal(shape)? } else { Vec::new() };
    let mut pairs: Vec<(&mut [T], &mut [T])> = g_sig.chunks_exact_mut(lay.len).zip(g_disp.chunks_exact_mut(dim)).collect();
    let init = || {
        let z = |n| zeros("the gradient of a joined signature", n);
        Ok((z(full)?, z(full)?, z(full)?, z(dim)?, z(dim)?, z(shape.mul_exp_backward_ws_len())?))
    };
    try_for_each_item(n_jobs, &mut pairs, 8 * full, init, |(s, gin, gout, v, gv, ws), i, (o_sig, o_disp)| {
        let stored = &sig[i * lay.len..(i + 1) * lay.len];
        let gi = &g[i * lay.len..(i + 1) * lay.len];
        v.copy_from_slice(&displacement[i * dim..(i + 1) * dim]);
        s[0] = T::one();
        gin[0] = T::zero();
        if prepend {
            antipode_copy(shape, &stored[1 - lay.skip..], 1, s, 0, &rev);
            antipode_copy(shape, &gi[1 - lay.skip..], 1, gin, 0, &rev);
            v.iter_mut().for_each(|x| *x = -*x);
        } else {
            s[1..].copy_from_slice(&stored[1 - lay.skip..]);
            gin[1..].copy_from_slice(&gi[1 - lay.skip..]);
        }
        mul_exp_backward(dim, shape, s, v, gin, gout, gv, ws);
        if prepend {
            antipode_copy(shape, gout, 0, o_sig, lay.skip, &rev);
            for (o, &x) in o_disp.iter_mut().zip(gv.iter()) {
                *o = -x;
            }
        } else {
            o_sig.copy_from_slice(&gout[lay.skip..]);
            o_disp.copy_from_slice(gv);
        }
        if lay.skip == 0 {
            o_sig[0] = T::zero();
        }
        Ok(())
    })
}

/// `exp(v)`: the signature of the straight segment from 0 to `v`, for a
/// batch of displacements (`batch * dim`). Level k is `v^(x)k / k!`.
pub fn linear_sig<T: Float>(displacement: &[T], dim: usize, degree: usize, scalar_term: bool, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let lay = Layout::new(dim, degree, scalar_term)?;
    Layout::batch(&[("out", out.len(), lay.len), ("displacement", displacement.len(), dim)])?;
    let shape = &lay.shape;
    let full = shape.len();
    let init = || Ok((zeros("a segment's signature", full)?, zeros("a segment's signature", shape.mul_exp_scratch_len())?));
    try_for_each_chunk(n_jobs, out, lay.len, 2 * full, init, |(s, scratch), i, o| {
        s.fill(T::zero());
        s[0] = T::one();
        if dim > 0 {
            mul_exp_in_place(dim, shape, s, &displacement[i * dim..(i + 1) * dim], scratch);
        }
        lay.store(s, o, T::one());
        Ok(())
    })
}

/// Gradient through [`linear_sig`]: from `g` = dF/d(out), writes
/// dF/d(displacement) into `g_disp`.
#[allow(clippy::too_many_arguments)]
pub fn linear_sig_backprop<T: Float>(
    displacement: &[T],
    g: &[T],
    dim: usize,
    degree: usize,
    scalar_term: bool,
    n_jobs: i64,
    g_disp: &mut [T],
) -> Result<()> {
    let lay = Layout::new(dim, degree, scalar_term)?;
    Layout::batch(&[("derivs", g.len(), lay.len), ("displacement", displacement.len(), dim), ("out", g_disp.len(), dim)])?;
    let shape = &lay.shape;
    let full = shape.len();
    let init = || {
        let z = |n| zeros("the gradient of a segment's signature", n);
        Ok((z(full)?, z(full)?, z(full)?, z(shape.mul_exp_backward_ws_len())?))
    };
    try_for_each_chunk(n_jobs, g_disp, dim, 8 * full, init, |(s, gin, gout, ws), i, o| {
        s.fill(T::zero());
        s[0] = T::one();
        lay.load(&g[i * lay.len..(i + 1) * lay.len], gin, T::zero());
        mul_exp_backward(dim, shape, s, &displacement[i * dim..(i + 1) * dim], gin, gout, o, ws);
        Ok(())
    })
}

/// The inverse of each signature in the tensor algebra, `S(x)^-1 = S(x
/// reversed)`, computed as the antipode: the coefficient of a word of length
/// k becomes `(-1)^k` times that of the reversed word. The map is linear and
/// its own transpose, so it is also its own gradient (with level 0 zero).
pub fn sig_inverse<T: Float>(sig: &[T], dim: usize, degree: usize, scalar_term: bool, n_jobs: i64, out: &mut [T]) -> Result<()> {
    antipode_batch(sig, dim, degree, scalar_term, T::one(), n_jobs, out)
}

/// Gradient through [`sig_inverse`]: dF/d(sig) from `g` = dF/d(out).
pub fn sig_inverse_backprop<T: Float>(g: &[T], dim: usize, degree: usize, scalar_term: bool, n_jobs: i64, out: &mut [T]) -> Result<()> {
    antipode_batch(g, dim, degree, scalar_term, T::zero(), n_jobs, out)
}

#[allow(clippy::too_many_arguments)]
fn antipode_batch<T: Float>(x: &[T], dim: usize, degree: usize, scalar_term: bool, level0: T, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let lay = Layout::new(dim, degree, scalar_term)?;
    Layout::batch(&[("sig", x.len(), lay.len), ("out", out.len(), lay.len)])?;
    if out.is_empty() {
        return Ok(());
    }
    let rev = word_reversal(&lay.shape)?;
    for_each_chunk(n_jobs, out, lay.len, lay.len, || (), |_, i, o| {
        let src = &x[i * lay.len..(i + 1) * lay.len];
        antipode_copy(&lay.shape, &src[1 - lay.skip..], 1, o, lay.skip, &rev);
        if lay.skip == 0 {
            o[0] = level0;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random;
    use crate::tensor::{tensor_exp, tensor_mul};


    /// exp of a random vector: a group-like element.
    fn group_like(shape: &TensorShape, seed: &mut u64) -> Vec<f64> {
        let mut e = vec![0.0; shape.len()];
        tensor_exp(shape, &random(shape.dim, seed), &mut e).unwrap();
        let mut f = vec![0.0; shape.len()];
        tensor_exp(shape, &random(shape.dim, seed), &mut f).unwrap();
        let mut out = vec![0.0; shape.len()];
        tensor_mul(shape, &e, &f, &mut out).unwrap();
        out
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < tol * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn inverse_times_signature_is_the_identity() {
        let shape = TensorShape::new(3, 4).unwrap();
        let mut seed = 1;
        let s = group_like(&shape, &mut seed);
        let mut inv = vec![0.0; shape.len()];
        sig_inverse(&s, 3, 4, true, 1, &mut inv).unwrap();
        let mut prod = vec![0.0; shape.len()];
        tensor_mul(&shape, &s, &inv, &mut prod).unwrap();
        close(&prod, &shape.identity(), 1e-14);
        tensor_mul(&shape, &inv, &s, &mut prod).unwrap();
        close(&prod, &shape.identity(), 1e-14);
    }

    #[test]
    fn join_equals_combine_with_a_linear_signature_on_either_side() {
        let (dim, degree) = (2, 4);
        let shape = TensorShape::new(dim, degree).unwrap();
        let mut seed = 2;
        let s = group_like(&shape, &mut seed);
        let v = random(dim, &mut seed);
        let mut lin = vec![0.0; shape.len()];
        linear_sig(&v, dim, degree, true, 1, &mut lin).unwrap();
        let (mut joined, mut expected) = (vec![0.0; shape.len()], vec![0.0; shape.len()]);
        sig_join(&s, &v, dim, degree, true, false, 1, &mut joined).unwrap();
        tensor_mul(&shape, &s, &lin, &mut expected).unwrap();
        close(&joined, &expected, 1e-14);
        sig_join(&s, &v, dim, degree, true, true, 1, &mut joined).unwrap();
        tensor_mul(&shape, &lin, &s, &mut expected).unwrap();
        close(&joined, &expected, 1e-14);
    }

    #[test]
    fn multi_combine_equals_folded_combines_serial_and_split() {
        let (dim, degree, count) = (2, 3, 40);
        let shape = TensorShape::new(dim, degree).unwrap();
        let mut seed = 3;
        let sigs: Vec<f64> = (0..count).flat_map(|_| group_like(&shape, &mut seed)[1..].to_vec()).collect();
        let mut acc = shape.identity();
        let mut tmp = vec![0.0; shape.len()];
        for piece in sigs.chunks_exact(shape.len() - 1) {
            let mut full = vec![1.0];
            full.extend_from_slice(piece);
            tensor_mul(&shape, &acc, &full, &mut tmp).unwrap();
            acc.copy_from_slice(&tmp);
        }
        for n_jobs in [1, 4] {
            let mut out = vec![0.0; shape.len() - 1];
            multi_sig_combine(&sigs, count, dim, degree, false, n_jobs, &mut out).unwrap();
            close(&out, &acc[1..], 1e-13);
        }
    }

    /// Checks `grad` against central differences of `f` at `x`.
    fn check_grad(x: &[f64], grad: &[f64], skip_level0: bool, f: impl Fn(&[f64]) -> f64) {
        for i in 0..x.len() {
            let (mut p, mut m) = (x.to_vec(), x.to_vec());
            p[i] += 1e-6;
            m[i] -= 1e-6;
            let fd = if skip_level0 && i == 0 { 0.0 } else { (f(&p) - f(&m)) / 2e-6 };
            assert!((fd - grad[i]).abs() < 1e-7, "[{i}]: {fd} vs {}", grad[i]);
        }
    }

    #[test]
    fn backprops_match_finite_differences() {
        let (dim, degree) = (3, 3);
        let shape = TensorShape::new(dim, degree).unwrap();
        let n = shape.len() - 1;
        let mut seed = 4;
        // Arbitrary (not group-like) tensors: the gradients hold for all.
        let (a, b, g) = (random(n, &mut seed), random(n, &mut seed), random(n, &mut seed));
        let v = random(dim, &mut seed);
        let dot = |x: &[f64]| x.iter().zip(&g).map(|(p, q)| p * q).sum::<f64>();

        let (mut ga, mut gb) = (vec![0.0; n], vec![0.0; n]);
        sig_combine_backprop(&a, &b, &g, dim, degree, false, 1, &mut ga, &mut gb).unwrap();
        check_grad(&a, &ga, false, |x| {
            let mut o = vec![0.0; n];
            sig_combine(x, &b, dim, degree, false, 1, &mut o).unwrap();
            dot(&o)
        });
        check_grad(&b, &gb, false, |x| {
            let mut o = vec![0.0; n];
            sig_combine(&a, x, dim, degree, false, 1, &mut o).unwrap();
            dot(&o)
        });

        for prepend in [false, true] {
            let (mut gs, mut gv) = (vec![0.0; n], vec![0.0; dim]);
            sig_join_backprop(&a, &v, &g, dim, degree, false, prepend, 1, &mut gs, &mut gv).unwrap();
            check_grad(&a, &gs, false, |x| {
                let mut o = vec![0.0; n];
                sig_join(x, &v, dim, degree, false, prepend, 1, &mut o).unwrap();
                dot(&o)
            });
            check_grad(&v, &gv, false, |x| {
                let mut o = vec![0.0; n];
                sig_join(&a, x, dim, degree, false, prepend, 1, &mut o).unwrap();
                dot(&o)
            });
        }

        let mut gv = vec![0.0; dim];
        linear_sig_backprop(&v, &g, dim, degree, false, 1, &mut gv).unwrap();
        check_grad(&v, &gv, false, |x| {
            let mut o = vec![0.0; n];
            linear_sig(x, dim, degree, false, 1, &mut o).unwrap();
            dot(&o)
        });

        let count = 4;
        let sigs = random(count * n, &mut seed);
        let mut grads = vec![0.0; count * n];
        multi_sig_combine_backprop(&sigs, &g, count, dim, degree, false, 1, &mut grads).unwrap();
        check_grad(&sigs, &grads, false, |x| {
            let mut o = vec![0.0; n];
            multi_sig_combine(x, count, dim, degree, false, 1, &mut o).unwrap();
            dot(&o)
        });
    }

    #[test]
    fn mismatched_buffers_are_errors() {
        let mut out = vec![0.0; 6];
        assert!(sig_combine(&[0.0; 6], &[0.0; 5], 2, 2, false, 1, &mut out).is_err());
        assert!(sig_combine(&[0.0; 5], &[0.0; 5], 2, 2, false, 1, &mut out).is_err());
        assert!(sig_join(&[0.0; 6], &[0.0; 3], 2, 2, false, false, 1, &mut out).is_err());
        assert!(multi_sig_combine(&[0.0; 12], 3, 2, 2, false, 1, &mut out).is_err());
    }
}
