//! Signatures with a per-segment correction of levels 2 and up (pysiglib's
//! `correction=`): each segment's local signature is `exp(z)` for the
//! general tensor `z = dx + c`, where `dx` is the segment's (transformed)
//! increment at level 1 and `c` a given element of levels `2..=m`. An Ito
//! lift, for instance, is `c^(2) = -Sigma dt / 2` on every segment.
//!
//! Forward: `S <- S (x) exp(z)` per segment. `exp(z)` is evaluated in Horner
//! form `1 + z (1 + z/2 (1 + ... (1 + z/N)))`; the inner factor that is
//! multiplied by `j - 1` more copies of `z` (each of level >= 1) is needed
//! only up to level `N - j + 1`, so the inner products are truncated.
//!
//! Backward: as for plain signatures, the intermediate states are recovered
//! by walking backwards, `S_(i-1) = S_i (x) exp(-z_i)` (for a `z` with higher
//! levels `exp(-z)` is still the inverse of `exp(z)`, though no longer its
//! antipode), so memory per path is a few signatures and the Horner factors
//! of one segment, never the whole path's states. The gradient reaches both
//! the path (through level 1 of `z`) and the correction (levels `2..=m`).

use crate::alloc::{scratch_any, zeros, Scratch};
use crate::batch::{try_for_each_chunk, try_for_each_item};
use crate::error::{check_len, Result, SigError};
use crate::interrupt::Checkpoint;
use crate::signature::PathShape;
use crate::tensor::TensorShape;
use crate::transform::PathTransform;
use crate::{recip, Float};

/// Which segments and paths one correction row applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrectionLayout {
    /// One row `(width,)` for every segment of every path.
    Shared,
    /// One row per segment, `(length - 1, width)`, shared by the batch.
    PerSegment,
    /// One row per segment of each path, `(batch, length - 1, width)`.
    PerPath,
}

/// A correction: `values` laid out as `layout` says, each row of `width`
/// numbers holding levels `2..=m` of the original (untransformed) path's
/// tensor algebra, level after level, each level's words in lexicographic
/// order. `width` is `d^2 + ... + d^m` for the path's dimension `d`.
#[derive(Debug, Clone, Copy)]
pub struct Correction<'a, T> {
    pub values: &'a [T],
    pub width: usize,
    pub layout: CorrectionLayout,
}

impl<T> Correction<'_, T> {
    /// Numbers the correction holds for `shape`'s batch of paths.
    pub fn expected_len(&self, shape: PathShape) -> usize {
        let segments = shape.length.saturating_sub(1);
        match self.layout {
            CorrectionLayout::Shared => self.width,
            CorrectionLayout::PerSegment => segments.saturating_mul(self.width),
            CorrectionLayout::PerPath => shape.batch.saturating_mul(segments).saturating_mul(self.width),
        }
    }

    /// `(batch_stride, segment_stride)` of the rows in `values`.
    fn strides(&self, shape: PathShape) -> (usize, usize) {
        let segments = shape.length.saturating_sub(1);
        match self.layout {
            CorrectionLayout::Shared => (0, 0),
            CorrectionLayout::PerSegment => (0, self.width),
            CorrectionLayout::PerPath => (segments * self.width, self.width),
        }
    }
}

/// The highest level `m` that a correction row of `width` numbers reaches
/// for a `dim`-dimensional path truncated at `degree`: `width` must be
/// `dim^2 + ... + dim^m` with `2 <= m <= degree`. A width of 0 (no
/// correction) gives 1.
///
/// ```
/// assert_eq!(sig_core::correction::correction_degree(2, 4, 4 + 8).unwrap(), 3);
/// assert!(sig_core::correction::correction_degree(2, 4, 5).is_err());
/// ```
pub fn correction_degree(dim: usize, degree: usize, width: usize) -> Result<usize> {
    if width == 0 {
        return Ok(1);
    }
    if degree < 2 {
        return Err(SigError::invalid("correction", "an empty correction when degree < 2", format!("{width} entries per row at degree {degree}")));
    }
    let mut total = 0usize;
    let mut level = dim;
    for m in 2..=degree {
        level = level.saturating_mul(dim);
        total = total.saturating_add(level);
        if total == width {
            return Ok(m);
        }
        if total > width || level == 0 {
            break;
        }
    }
    let sizes: Vec<String> = (2..=degree.min(6)).map(|m| (2..=m).map(|k| dim.saturating_pow(k as u32)).fold(0usize, usize::saturating_add).to_string()).collect();
    Err(SigError::invalid(
        "correction",
        format!("a row length that is a prefix of tensor levels 2..{degree} of dimension {dim} (one of {}{})", sizes.join(", "), if degree > 6 { ", ..." } else { "" }),
        width,
    ))
}

/// What every path of one call shares: the tensor shape, and where each
/// correction entry goes in the tensor `z`.
struct Plan {
    tshape: TensorShape,
    /// `z_index[e]`: the index in a full tensor (level 0 included) of
    /// correction entry `e`; with time augmentation the words of the
    /// original letters are re-indexed in base `d + 1`.
    z_index: Vec<usize>,
    /// The highest level of `z` that can be nonzero (1 without correction).
    top_z: usize,
    skip: usize,
    out_len: usize,
    steps: usize,
    batch_stride: usize,
    segment_stride: usize,
}

impl Plan {
    fn new<T: Float>(paths: &[T], shape: PathShape, degree: usize, transform: &PathTransform, correction: &Correction<'_, T>, scalar_term: bool) -> Result<Self> {
        shape.check(paths)?;
        transform.validate()?;
        if transform.lead_lag {
            return Err(SigError::invalid("correction", "no correction with lead_lag=True", "a non-empty correction"));
        }
        let top = correction_degree(shape.dim, degree, correction.width)?;
        check_len("correction", correction.values.len(), correction.expected_len(shape))?;
        let tshape = TensorShape::new(transform.out_dim(shape.dim), degree)?;
        let (d, big) = (shape.dim, tshape.dim);
        let mut z_index = Vec::new();
        crate::alloc::try_reserve(&mut z_index, "a correction's index table", correction.width)?;
        for k in 2..=top {
            let start = tshape.level(k).start;
            for r in 0..d.pow(k as u32) {
                // digits of r in base d, re-read in base D
                let (mut rest, mut idx, mut place) = (r, 0usize, 1usize);
                for _ in 0..k {
                    idx += (rest % d) * place;
                    rest /= d;
                    place *= big;
                }
                z_index.push(start + idx);
            }
        }
        let skip = usize::from(!scalar_term);
        let (batch_stride, segment_stride) = correction.strides(shape);
        // (no letters: every signature is the identity)
        let steps = if tshape.dim == 0 { 0 } else { shape.length.saturating_sub(1) };
        Ok(Plan { out_len: tshape.len() - skip, tshape, z_index, top_z: top.max(1), skip, steps, batch_stride, segment_stride })
    }

    /// Row of segment `j` of path `b`.
    fn row<'a, T>(&self, values: &'a [T], width: usize, b: usize, j: usize) -> &'a [T] {
        &values[b * self.batch_stride + j * self.segment_stride..][..width]
    }

    /// Writes `z = dx + c` (or its negative) for segment `j` of one path into
    /// `z` (full length; levels above the correction's are zero).
    #[allow(clippy::too_many_arguments)]
    fn load_z<T: Float>(&self, transform: &PathTransform, path: &[T], shape: PathShape, j: usize, row: &[T], negate: bool, z: &mut [T]) {
        z.fill(T::zero());
        let level1 = self.tshape.level(1);
        transform.increment(path, shape.dim, shape.length, j, &mut z[level1]);
        for (&i, &c) in self.z_index.iter().zip(row) {
            z[i] = c;
        }
        if negate {
            for v in z.iter_mut() {
                *v = -*v;
            }
        }
    }

    /// Work per path (multiply-adds, an estimate).
    fn work(&self) -> usize {
        self.steps.saturating_mul(self.tshape.len()).saturating_mul(2 * self.top_z)
    }
}

/// `out = s (x) exp(z)` for `z` zero outside levels `1..=top_z`, in the
/// Horner form `T_N = s`, `T_(j-1) = s + T_j (x) z / j`, `out = T_0`: each
/// step is a product with `z`, which has only `top_z` nonzero levels, and
/// `T_j` is needed only up to level `N - j`. Each step updates `out` in
/// place, top level first (level k reads only lower levels of `T_j`).
/// `trail`, when given, receives `T_1 .. T_N` (`N` blocks of `len`) for
/// [`mul_exp_backward`].
fn mul_exp<T: Float>(shape: &TensorShape, s: &[T], z: &[T], top_z: usize, out: &mut [T], mut trail: Option<&mut [T]>) {
    let (n, len) = (shape.degree, shape.len());
    out[0] = s[0];
    for j in (1..=n).rev() {
        if let Some(trail) = trail.as_deref_mut() {
            let upto = shape.level(n - j).end;
            trail[(j - 1) * len..][..upto].copy_from_slice(&out[..upto]);
        }
        let inv = recip::<T>(j);
        for k in (1..=n - j + 1).rev() {
            let (lower, upper) = out.split_at_mut(shape.level(k).start);
            let out_k = &mut upper[..shape.level_len(k)];
            out_k.copy_from_slice(&s[shape.level(k)]);
            for i in 1..=k.min(top_z) {
                let (a, b) = (&lower[shape.level(k - i)], &z[shape.level(i)]);
                for (row, &av) in out_k.chunks_exact_mut(b.len()).zip(a) {
                    let av = av * inv;
                    for (o, &bv) in row.iter_mut().zip(b) {
                        *o += av * bv;
                    }
                }
            }
        }
    }
}

/// Gradient of [`mul_exp`]: from `g` = dF/d(out) (used as scratch, like
/// `g_next`), writes dF/ds into `g_s` and adds dF/dz (levels `1..=top_z`)
/// to `g_z`. `trail` is what [`mul_exp`] saved. Level 0 of `s` is the
/// constant 1, so `g_s[0]` is left 0.
#[allow(clippy::too_many_arguments)]
fn mul_exp_backward<'a, T: Float>(shape: &TensorShape, z: &[T], top_z: usize, trail: &[T], g: &'a mut [T], g_next: &'a mut [T], g_s: &mut [T], g_z: &mut [T]) {
    let (n, len) = (shape.degree, shape.len());
    let (mut g, mut g_next) = (g, g_next);
    g_s.fill(T::zero());
    for j in 1..=n {
        // T_(j-1) = s + T_j (x) z / j, at levels 1..=top
        let top = n - j + 1;
        let upto = shape.level(top).end;
        for (gs, &gv) in g_s[1..upto].iter_mut().zip(&g[1..upto]) {
            *gs += gv;
        }
        let inv = recip::<T>(j);
        let t_j = &trail[(j - 1) * len..j * len];
        g_next[..shape.level(top - 1).end].fill(T::zero());
        for k in 1..=top {
            let g_k = &g[shape.level(k)];
            for i in 1..=k.min(top_z) {
                let (a, b) = (&t_j[shape.level(k - i)], &z[shape.level(i)]);
                let (ga, gb) = (&mut g_next[shape.level(k - i)], &mut g_z[shape.level(i)]);
                for ((row, &av), gav) in g_k.chunks_exact(b.len()).zip(a).zip(ga.iter_mut()) {
                    let av = av * inv;
                    let mut acc = T::zero();
                    for ((&gv, &bv), gbv) in row.iter().zip(b).zip(gb.iter_mut()) {
                        acc += gv * bv;
                        *gbv += av * gv;
                    }
                    *gav += acc * inv;
                }
            }
        }
        std::mem::swap(&mut g, &mut g_next);
    }
}

/// Per-worker buffers of both passes.
struct Workspace<T: 'static> {
    s: Scratch<T>,
    t: Scratch<T>,
    z: Scratch<T>,
    /// backward only: gradients and the Horner trail of one step
    g: Scratch<T>,
    g_tmp: Scratch<T>,
    g_prev: Scratch<T>,
    g_z: Scratch<T>,
    trail: Scratch<T>,
}

impl<T: Float> Workspace<T> {
    fn new(shape: &TensorShape, backward: bool) -> Result<Self> {
        let what = "a corrected signature's workspace";
        let len = shape.len();
        let b = |n: usize| scratch_any(what, if backward { n } else { 0 });
        Ok(Workspace {
            s: scratch_any(what, len)?,
            t: scratch_any(what, len)?,
            z: scratch_any(what, len)?,
            g: b(len)?,
            g_tmp: b(len)?,
            g_prev: b(len)?,
            g_z: b(len)?,
            trail: b(len.saturating_mul(shape.degree))?,
        })
    }
}

/// Signatures of a batch of paths with a per-segment correction.
///
/// * `paths`: `shape.batch * shape.length * shape.dim` numbers, row-major.
/// * `transform`: time augmentation only (lead-lag is an error); the time
///   channel has no correction entries (its words get 0).
/// * `correction`: see [`Correction`]; a width of 0 gives the plain signature.
/// * `out`: `batch * sig_length(out_dim, degree, scalar_term)` numbers.
///
/// ```
/// use sig_core::correction::{sig_corrected, Correction, CorrectionLayout};
/// use sig_core::{PathShape, PathTransform};
/// // One segment in one dimension, lifted by c = 1 at level 2: exp(2 e + e e).
/// let c = [1.0];
/// let correction = Correction { values: &c, width: 1, layout: CorrectionLayout::Shared };
/// let mut out = [0.0; 2];
/// sig_corrected(&[0.0, 2.0], PathShape::new(1, 2, 1), 2, PathTransform::NONE, &correction, false, 1, &mut out).unwrap();
/// assert_eq!(out, [2.0, 2.0 + 1.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn sig_corrected<T: Float>(
    paths: &[T],
    shape: PathShape,
    degree: usize,
    transform: PathTransform,
    correction: &Correction<'_, T>,
    scalar_term: bool,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    let plan = Plan::new(paths, shape, degree, &transform, correction, scalar_term)?;
    let (tshape, out_len) = (&plan.tshape, plan.out_len);
    check_len("out", out.len(), shape.batch.saturating_mul(out_len))?;
    let pl = shape.path_len();
    try_for_each_chunk(n_jobs, out, out_len, plan.work(), || Workspace::new(tshape, false), |ws, b, out_sig| {
        let path = &paths[b * pl..(b + 1) * pl];
        let Workspace { s, t, z, .. } = ws;
        s.fill(T::zero());
        s[0] = T::one();
        let mut checkpoint = Checkpoint::new(tshape.len().saturating_mul(plan.top_z + 1));
        for j in 0..plan.steps {
            if checkpoint.tick() {
                return Err(SigError::Interrupted);
            }
            plan.load_z(&transform, path, shape, j, plan.row(correction.values, correction.width, b, j), false, z);
            mul_exp(tshape, s, z, plan.top_z, t, None);
            std::mem::swap(s, t);
        }
        out_sig.copy_from_slice(&s[plan.skip..]);
        Ok(())
    })
}

/// Gradient through [`sig_corrected`]: `sigs` is what it returned for these
/// paths and this correction, `sig_grads` = dF/d(sigs) (both with or
/// without the scalar term as `scalar_term` says). Writes dF/d(paths) into
/// `out` and, when `correction_grad` is given (`correction.values.len()`
/// numbers, the correction's layout), dF/d(correction) there: summed over
/// the segments and paths that share a row.
#[allow(clippy::too_many_arguments)]
pub fn sig_corrected_backprop<T: Float>(
    paths: &[T],
    shape: PathShape,
    degree: usize,
    transform: PathTransform,
    correction: &Correction<'_, T>,
    sigs: &[T],
    sig_grads: &[T],
    scalar_term: bool,
    n_jobs: i64,
    out: &mut [T],
    correction_grad: Option<&mut [T]>,
) -> Result<()> {
    let plan = Plan::new(paths, shape, degree, &transform, correction, scalar_term)?;
    let (tshape, out_len, width) = (&plan.tshape, plan.out_len, correction.width);
    check_len("sig", sigs.len(), shape.batch.saturating_mul(out_len))?;
    check_len("sig_derivs", sig_grads.len(), shape.batch.saturating_mul(out_len))?;
    let pl = shape.path_len();
    check_len("out", out.len(), shape.batch.saturating_mul(pl))?;
    // Each path's correction gradient: its own rows (PerPath: written in
    // place), or a private copy of the shared rows, summed afterwards.
    let per_path = match correction.layout {
        CorrectionLayout::Shared => width,
        _ => plan.steps * width,
    };
    let want_c = correction_grad.is_some();
    let mut private = match (&correction_grad, correction.layout) {
        (Some(_), CorrectionLayout::Shared | CorrectionLayout::PerSegment) => zeros("the correction's gradient per path", shape.batch.saturating_mul(per_path))?,
        _ => Vec::new(),
    };
    let mut correction_grad = correction_grad;
    let c_grads: &mut [T] = match (correction.layout, correction_grad.as_deref_mut()) {
        (CorrectionLayout::PerPath, Some(g)) => {
            check_len("correction_grad", g.len(), correction.values.len())?;
            g
        }
        _ => &mut private,
    };
    let c_chunk = if want_c { per_path } else { 0 };
    let mut items: Vec<(&mut [T], &mut [T])> = if c_chunk > 0 {
        out.chunks_exact_mut(pl.max(1)).zip(c_grads.chunks_exact_mut(c_chunk)).collect()
    } else {
        out.chunks_exact_mut(pl.max(1)).map(|o| (o, <&mut [T]>::default())).collect()
    };
    let shared_rows = correction.layout == CorrectionLayout::Shared;
    try_for_each_item(n_jobs, &mut items, plan.work().saturating_mul(4), || Workspace::new(tshape, true), |ws, b, (grad, c_grad)| {
        let path = &paths[b * pl..(b + 1) * pl];
        grad.fill(T::zero());
        c_grad.fill(T::zero());
        let Workspace { s, t, z, g, g_tmp, g_prev, g_z, trail } = ws;
        s[0] = T::one();
        s[1..].copy_from_slice(&sigs[b * out_len..(b + 1) * out_len][1 - plan.skip..]);
        g[0] = T::zero();
        g[1..].copy_from_slice(&sig_grads[b * out_len..(b + 1) * out_len][1 - plan.skip..]);
        let mut checkpoint = Checkpoint::new(tshape.len().saturating_mul(4 * plan.top_z + 4));
        for j in (0..plan.steps).rev() {
            if checkpoint.tick() {
                return Err(SigError::Interrupted);
            }
            let row = plan.row(correction.values, width, b, j);
            // the state before the segment: S_j (x) exp(-z)
            plan.load_z(&transform, path, shape, j, row, true, z);
            mul_exp(tshape, s, z, plan.top_z, t, None);
            std::mem::swap(s, t);
            // the step again, keeping its Horner trail, and back through it
            plan.load_z(&transform, path, shape, j, row, false, z);
            mul_exp(tshape, s, z, plan.top_z, t, Some(trail));
            g_z.fill(T::zero());
            mul_exp_backward(tshape, z, plan.top_z, trail, g, g_tmp, g_prev, g_z);
            transform.increment_backward(grad, shape.dim, j, &g_z[tshape.level(1)]);
            if !c_grad.is_empty() {
                let c_row = if shared_rows { &mut c_grad[..] } else { &mut c_grad[j * width..(j + 1) * width] };
                for (c, &i) in c_row.iter_mut().zip(&plan.z_index) {
                    *c += g_z[i];
                }
            }
            std::mem::swap(g, g_prev);
        }
        Ok(())
    })?;
    drop(items);
    if let (Some(target), CorrectionLayout::Shared | CorrectionLayout::PerSegment) = (correction_grad, correction.layout) {
        check_len("correction_grad", target.len(), correction.values.len())?;
        target.fill(T::zero());
        if per_path > 0 {
            for one in private.chunks_exact(per_path) {
                for (t, &v) in target.iter_mut().zip(one) {
                    *t += v;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::mul_in_place;
    use crate::test_util::{assert_gradient, close, dot, random};

    /// `exp(z)` as the plain series `sum z^k / k!`.
    fn exp_series(shape: &TensorShape, z: &[f64]) -> Vec<f64> {
        let mut out = shape.identity::<f64>();
        let mut power = shape.identity::<f64>();
        for k in 1..=shape.degree {
            mul_in_place(shape, &mut power, z);
            for (o, p) in out.iter_mut().zip(&power) {
                *o += p / (1..=k).product::<usize>() as f64;
            }
        }
        out
    }

    fn random_z(shape: &TensorShape, top_z: usize, seed: &mut u64) -> Vec<f64> {
        let mut z = random(shape.len(), seed);
        z[0] = 0.0;
        z[shape.level(top_z.min(shape.degree)).end..].fill(0.0);
        z
    }

    #[test]
    fn horner_step_is_the_product_with_the_exponential_series() {
        let mut seed = 7;
        for (dim, degree, top_z) in [(1, 4, 2), (2, 4, 2), (2, 4, 3), (3, 3, 3), (2, 1, 1), (3, 5, 1)] {
            let shape = TensorShape::new(dim, degree).unwrap();
            let z = random_z(&shape, top_z, &mut seed);
            let mut s = random(shape.len(), &mut seed);
            s[0] = 1.0;
            let mut out = vec![0.0; shape.len()];
            mul_exp(&shape, &s, &z, top_z, &mut out, None);
            let mut want = s.clone();
            mul_in_place(&shape, &mut want, &exp_series(&shape, &z));
            close(&out, &want, 1e-13);
        }
    }

    #[test]
    fn horner_step_gradient_matches_finite_differences() {
        let mut seed = 9;
        let (shape, top_z) = (TensorShape::new(2, 4).unwrap(), 3);
        let z = random_z(&shape, top_z, &mut seed);
        let s = random(shape.len(), &mut seed);
        let weights = random(shape.len(), &mut seed);
        let len = shape.len();
        let (mut out, mut trail) = (vec![0.0; len], vec![0.0; len * shape.degree]);
        mul_exp(&shape, &s, &z, top_z, &mut out, Some(&mut trail));
        let (mut g, mut g_next, mut g_s, mut g_z) = (weights.clone(), vec![0.0; len], vec![0.0; len], vec![0.0; len]);
        mul_exp_backward(&shape, &z, top_z, &trail, &mut g, &mut g_next, &mut g_s, &mut g_z);
        let loss = |s: &[f64], z: &[f64]| {
            let mut out = vec![0.0; len];
            mul_exp(&shape, s, z, top_z, &mut out, None);
            dot(&out, &weights)
        };
        let fixed_z = z.clone();
        // (level 0 of s is the constant 1: its gradient is defined as 0)
        let mut s_rest = s[1..].to_vec();
        assert_gradient(&mut s_rest, &g_s[1..], 1e-7, 1e-9, |r| {
            let mut full = vec![s[0]];
            full.extend_from_slice(r);
            loss(&full, &fixed_z)
        }, "s");
        let fixed_s = s.clone();
        let upto = shape.level(top_z).end;
        let mut z_rest = z[1..upto].to_vec();
        assert_gradient(&mut z_rest, &g_z[1..upto], 1e-7, 1e-9, |r| {
            let mut full = z.clone();
            full[1..upto].copy_from_slice(r);
            loss(&fixed_s, &full)
        }, "z");
    }

    #[test]
    fn exp_of_minus_z_is_the_inverse_of_exp_of_z() {
        let mut seed = 3;
        let shape = TensorShape::new(3, 4).unwrap();
        let z = random_z(&shape, 4, &mut seed);
        let minus: Vec<f64> = z.iter().map(|v| -v).collect();
        let mut prod = exp_series(&shape, &z);
        mul_in_place(&shape, &mut prod, &exp_series(&shape, &minus));
        close(&prod, &shape.identity::<f64>(), 1e-13);
    }

    fn setup(batch: usize, length: usize, dim: usize, top: usize, layout: CorrectionLayout, seed: &mut u64) -> (Vec<f64>, Vec<f64>, usize) {
        let paths = random(batch * length * dim, seed);
        let width: usize = (2..=top).map(|k| dim.pow(k as u32)).sum();
        let rows = match layout {
            CorrectionLayout::Shared => 1,
            CorrectionLayout::PerSegment => length - 1,
            CorrectionLayout::PerPath => batch * (length - 1),
        };
        (paths, random(rows * width, seed), width)
    }

    #[test]
    fn zero_correction_gives_the_plain_signature() {
        let mut seed = 11;
        for time_aug in [false, true] {
            let shape = PathShape::new(3, 6, 2);
            let transform = PathTransform { time_aug, ..PathTransform::NONE };
            let paths = random(shape.batch * shape.path_len(), &mut seed);
            let zeros = vec![0.0; 4 + 8];
            let correction = Correction { values: &zeros, width: 12, layout: CorrectionLayout::Shared };
            let n = crate::sig_length(transform.out_dim(2), 3, false).unwrap();
            let (mut a, mut b) = (vec![0.0; 3 * n], vec![0.0; 3 * n]);
            sig_corrected(&paths, shape, 3, transform, &correction, false, 1, &mut a).unwrap();
            crate::sig(&paths, shape, 3, transform, false, 1, &mut b).unwrap();
            close(&a, &b, 1e-13);
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut seed = 5;
        for (layout, time_aug, top) in [(CorrectionLayout::Shared, false, 2), (CorrectionLayout::PerSegment, true, 3), (CorrectionLayout::PerPath, true, 2)] {
            let (batch, length, dim, degree) = (2, 4, 2, 3);
            let shape = PathShape::new(batch, length, dim);
            let transform = PathTransform { time_aug, end_time: 1.5, ..PathTransform::NONE };
            let (mut paths, mut values, width) = setup(batch, length, dim, top, layout, &mut seed);
            let n = crate::sig_length(transform.out_dim(dim), degree, true).unwrap();
            let weights = random(batch * n, &mut seed);
            let run = |p: &[f64], c: &[f64]| {
                let correction = Correction { values: c, width, layout };
                let mut out = vec![0.0; batch * n];
                sig_corrected(p, shape, degree, transform, &correction, true, 1, &mut out).unwrap();
                out
            };
            let sigs = run(&paths, &values);
            let correction = Correction { values: &values, width, layout };
            let mut g_path = vec![0.0; paths.len()];
            let mut g_c = vec![0.0; values.len()];
            sig_corrected_backprop(&paths, shape, degree, transform, &correction, &sigs, &weights, true, 2, &mut g_path, Some(&mut g_c)).unwrap();
            let fixed_c = values.clone();
            assert_gradient(&mut paths, &g_path, 1e-6, 1e-8, |p| dot(&run(p, &fixed_c), &weights), "path");
            let fixed_p = paths.clone();
            assert_gradient(&mut values, &g_c, 1e-6, 1e-8, |c| dot(&run(&fixed_p, c), &weights), "correction");
        }
    }

    #[test]
    fn bad_corrections_are_errors() {
        let shape = PathShape::new(1, 3, 2);
        let paths = [0.0; 6];
        let mut out = [0.0; 6];
        let five = [0.0; 5];
        let c = Correction { values: &five, width: 5, layout: CorrectionLayout::Shared };
        assert!(sig_corrected(&paths, shape, 2, PathTransform::NONE, &c, false, 1, &mut out).is_err());
        let four = [0.0; 4];
        let c = Correction { values: &four, width: 4, layout: CorrectionLayout::Shared };
        let lead_lag = PathTransform { lead_lag: true, ..PathTransform::NONE };
        assert!(sig_corrected(&paths, shape, 2, lead_lag, &c, false, 1, &mut [0.0; 20]).is_err());
        assert!(sig_corrected(&paths, shape, 1, PathTransform::NONE, &c, false, 1, &mut [0.0; 2]).is_err());
        let c = Correction { values: &four, width: 4, layout: CorrectionLayout::PerSegment };
        assert!(sig_corrected(&paths, shape, 2, PathTransform::NONE, &c, false, 1, &mut out).is_err());
    }
}
