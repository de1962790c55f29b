//! The Jacobian of a path's signature with respect to its points
//! (iisignature's `sigjacobian`), in forward mode.
//!
//! With increments `D_k = x_{k+1} - x_k`, Chen's identity splits the
//! signature around any segment: `S = P_k (x) exp(D_k) (x) Q_k`, where `P_k`
//! is the signature of points `0..=k` and `Q_k` that of points `k+1..`. So
//!
//! `dS/dD_k^j = P_k (x) E_j(D_k) (x) Q_k`, with `E_j(D) = d exp(D) / dD^j`,
//!
//! and, as `x_i` enters `D_{i-1}` with a plus and `D_i` with a minus,
//! `dS/dx_i = dS/dD_{i-1} - dS/dD_i`. Level n of `E_j(D)` is
//! `sum_{p<n} D^(x)p (x) e_j (x) D^(x)(n-1-p) / n!`, which satisfies
//! `E_{j,n} = (E_{j,n-1} (x) D + D^(x)(n-1)/(n-1)! (x) e_j) / n`.
//!
//! All prefixes and suffixes are stored (two `(L-1) x sig_len` tables,
//! smaller than the `L x d x sig_len` output); after that the segments are
//! independent and run in parallel, two tensor products per segment and
//! direction. One backward pass per output coordinate (the naive Jacobian)
//! would cost `sig_len` times a signature's backward pass instead.

use crate::alloc::{try_vec, zeros};
use crate::batch::try_for_each_chunk;
use crate::error::{check_len, Result, SigError};
use crate::tensor::{antipode_copy, mul_exp_in_place, mul_in_place, word_reversal, TensorShape};
use crate::{recip, Float};

/// Writes the Jacobian of the signature of one path (`length * dim`
/// numbers, row-major, `length >= 1`) truncated at `degree` into `out`:
/// `(length, dim, sig_len)` with `sig_len = sig_length(dim, degree, false)`
/// (no level-0 term), entry `[i, j, w]` being `d sig_w / d path[i, j]`.
/// Points run in parallel for `n_jobs` (see [`crate::resolve_n_jobs`]).
///
/// ```
/// use sig_core::jacobian::sig_jacobian;
/// // the straight line (0,0) -> (1,2): level 1 is x_1 - x_0
/// let path = [0.0_f64, 0.0, 1.0, 2.0];
/// let mut jac = vec![0.0; 2 * 2 * 6];
/// sig_jacobian(&path, 2, 2, 1, &mut jac).unwrap();
/// assert_eq!(&jac[..2], &[-1.0, 0.0]); // d sig_(0) / d path[0, 0]
/// assert_eq!(&jac[12..14], &[1.0, 0.0]); // d sig_(0) / d path[1, 0]
/// ```
pub fn sig_jacobian<T: Float>(path: &[T], dim: usize, degree: usize, n_jobs: i64, out: &mut [T]) -> Result<()> {
    if dim == 0 {
        return Err(SigError::invalid("dimension", "at least 1", dim));
    }
    if degree == 0 {
        return Err(SigError::invalid("degree", "at least 1", degree));
    }
    if path.is_empty() || path.len() % dim != 0 {
        return Err(SigError::invalid("path", format!("a positive multiple of the dimension {dim} numbers"), path.len()));
    }
    crate::batch::resolve_n_jobs(n_jobs)?;
    let length = path.len() / dim;
    let shape = TensorShape::new(dim, degree)?;
    let full = shape.len();
    let sig_len = full - 1;
    let row = dim.checked_mul(sig_len).ok_or_else(|| SigError::Overflow("a row of the signature Jacobian".into()))?;
    let total = length.checked_mul(row).ok_or_else(|| SigError::Overflow("the signature Jacobian".into()))?;
    check_len("out", out.len(), total)?;
    if length == 1 {
        // a single point has a constant signature
        out.fill(T::zero());
        return Ok(());
    }
    let segments = length - 1;
    let (prefixes, suffixes) = prefixes_and_suffixes(path, &shape, segments)?;
    let tables = Tables { path, shape: &shape, prefixes: &prefixes, suffixes: &suffixes, segments };
    // two products of about degree * full multiply-adds per direction
    let work = 2 * dim * degree.max(1) * full;
    try_for_each_chunk(n_jobs, out, row, work, || Workspace::new(&shape), |ws, i, out_row| {
        tables.point_row(ws, i, out_row);
        Ok(())
    })
}

/// Everything a point's row reads: the path and the stored prefixes
/// `P_k` and suffixes `Q_k` (`segments` full tensors each, level 0 included).
struct Tables<'a, T> {
    path: &'a [T],
    shape: &'a TensorShape,
    prefixes: &'a [T],
    suffixes: &'a [T],
    segments: usize,
}

/// Per-worker scratch: no allocation happens per point.
struct Workspace<T> {
    /// The increment of the segment being differentiated.
    increment: Vec<T>,
    /// `exp(D)` of that increment, level by level.
    exp: Vec<T>,
    /// `E_j(D)`, then `E_j(D) (x) Q_k`.
    middle: Vec<T>,
    /// `P_k (x) E_j(D) (x) Q_k`.
    product: Vec<T>,
    /// dS/dD of the last segment computed (`dim * sig_len`) and which one
    /// it was: consecutive points share a segment, so a worker walking
    /// points in order computes each segment once.
    last: Vec<T>,
    last_segment: Option<usize>,
    /// dS/dD of the segment being computed now.
    current: Vec<T>,
}

impl<T: Float> Workspace<T> {
    fn new(shape: &TensorShape) -> Result<Self> {
        let full = shape.len();
        let row = shape.dim * (full - 1);
        let what = "the workspace of a signature Jacobian";
        Ok(Workspace {
            increment: zeros(what, shape.dim)?,
            exp: zeros(what, full)?,
            middle: zeros(what, full)?,
            product: zeros(what, full)?,
            last: zeros(what, row)?,
            last_segment: None,
            current: zeros(what, row)?,
        })
    }
}

impl<T: Float> Tables<'_, T> {
    /// Row `i` of the Jacobian: `dS/dD_{i-1} - dS/dD_i` (a missing segment
    /// at either end of the path contributes nothing).
    fn point_row(&self, ws: &mut Workspace<T>, i: usize, out: &mut [T]) {
        // the segment before the point: the last one this worker computed,
        // when it walks the points in order
        let before = i.checked_sub(1);
        if before.is_some() && ws.last_segment != before {
            let k = i - 1;
            self.segment_derivative(ws, k);
            std::mem::swap(&mut ws.last, &mut ws.current);
            ws.last_segment = Some(k);
        }
        let after = (i < self.segments).then_some(i);
        if let Some(k) = after {
            self.segment_derivative(ws, k);
        }
        match (before, after) {
            (Some(_), Some(_)) => {
                for ((o, &b), &a) in out.iter_mut().zip(&ws.last).zip(&ws.current) {
                    *o = b - a;
                }
            }
            (Some(_), None) => out.copy_from_slice(&ws.last),
            (None, Some(_)) => {
                for (o, &a) in out.iter_mut().zip(&ws.current) {
                    *o = -a;
                }
            }
            (None, None) => out.fill(T::zero()),
        }
        if let Some(k) = after {
            std::mem::swap(&mut ws.last, &mut ws.current);
            ws.last_segment = Some(k);
        }
    }

    /// `ws.current[j, :] = P_k (x) E_j(D_k) (x) Q_k` without level 0, for
    /// every direction `j`.
    fn segment_derivative(&self, ws: &mut Workspace<T>, k: usize) {
        let shape = self.shape;
        let (dim, full) = (shape.dim, shape.len());
        for (c, v) in ws.increment.iter_mut().enumerate() {
            *v = self.path[(k + 1) * dim + c] - self.path[k * dim + c];
        }
        exp_levels(shape, &ws.increment, &mut ws.exp);
        let prefix = &self.prefixes[k * full..(k + 1) * full];
        let suffix = &self.suffixes[k * full..(k + 1) * full];
        for (j, out) in ws.current.chunks_exact_mut(full - 1).enumerate() {
            exp_derivative(shape, &ws.increment, &ws.exp, j, &mut ws.middle);
            mul_in_place(shape, &mut ws.middle, suffix);
            ws.product.copy_from_slice(prefix);
            mul_in_place(shape, &mut ws.product, &ws.middle);
            out.copy_from_slice(&ws.product[1..]);
        }
    }
}

/// `out = exp(v)`, level n being `v^(x)n / n!`, each level from the one below.
fn exp_levels<T: Float>(shape: &TensorShape, v: &[T], out: &mut [T]) {
    let dim = shape.dim;
    out[0] = T::one();
    for n in 1..=shape.degree {
        let scale = recip::<T>(n);
        let (lower, upper) = out.split_at_mut(shape.level(n).start);
        let below = &lower[shape.level(n - 1)];
        for (row, &u) in upper[..shape.level_len(n)].chunks_exact_mut(dim).zip(below) {
            let u = u * scale;
            for (o, &x) in row.iter_mut().zip(v) {
                *o = u * x;
            }
        }
    }
}

/// `out = E_j(v) = d exp(v) / dv^j`: level 0 is 0, level 1 is `e_j`, and
/// `E_{j,n} = (E_{j,n-1} (x) v + exp_{n-1}(v) (x) e_j) / n` (differentiate
/// `exp_n = exp_{n-1} (x) v / n` by the product rule). `exp` is
/// [`exp_levels`] of `v`.
fn exp_derivative<T: Float>(shape: &TensorShape, v: &[T], exp: &[T], j: usize, out: &mut [T]) {
    let dim = shape.dim;
    out[0] = T::zero();
    let first = &mut out[shape.level(1)];
    first.fill(T::zero());
    first[j] = T::one();
    for n in 2..=shape.degree {
        let scale = recip::<T>(n);
        let (lower, upper) = out.split_at_mut(shape.level(n).start);
        let below = &lower[shape.level(n - 1)];
        let exp_below = &exp[shape.level(n - 1)];
        for ((row, &u), &e) in upper[..shape.level_len(n)].chunks_exact_mut(dim).zip(below).zip(exp_below) {
            let u = u * scale;
            for (o, &x) in row.iter_mut().zip(v) {
                *o = u * x;
            }
            row[j] += e * scale;
        }
    }
}

/// The prefixes `P_k` (signature of points `0..=k`) and suffixes `Q_k`
/// (of points `k+1..`) for `k < segments`, each a full tensor.
///
/// `P_{k+1} = P_k (x) exp(D_k)` forward. The suffixes need products on the
/// left, `Q_{k-1} = exp(D_k) (x) Q_k`; the antipode reverses products and
/// maps `exp(D)` to `exp(-D)`, so the reversed suffixes
/// `R_{k-1} = R_k (x) exp(-D_k)` run with the same in-place kernel and
/// `Q_k = antipode(R_k)`.
fn prefixes_and_suffixes<T: Float>(path: &[T], shape: &TensorShape, segments: usize) -> Result<(Vec<T>, Vec<T>)> {
    let (dim, full) = (shape.dim, shape.len());
    let table = segments.checked_mul(full).ok_or_else(|| SigError::Overflow("the prefix signatures of a Jacobian".into()))?;
    let mut prefixes: Vec<T> = zeros("the prefix signatures of a Jacobian", table)?;
    let mut suffixes: Vec<T> = zeros("the suffix signatures of a Jacobian", table)?;
    let mut scratch: Vec<T> = zeros("scratch of a Jacobian", shape.mul_exp_scratch_len())?;
    let mut increment: Vec<T> = zeros("scratch of a Jacobian", dim)?;
    let increment_of = |k: usize, sign: T, inc: &mut [T]| {
        for (c, v) in inc.iter_mut().enumerate() {
            *v = sign * (path[(k + 1) * dim + c] - path[k * dim + c]);
        }
    };
    prefixes[0] = T::one();
    for k in 1..segments {
        let (done, rest) = prefixes.split_at_mut(k * full);
        let next = &mut rest[..full];
        next.copy_from_slice(&done[(k - 1) * full..]);
        increment_of(k - 1, T::one(), &mut increment);
        mul_exp_in_place(dim, shape, next, &increment, &mut scratch);
    }
    let rev = word_reversal(shape)?;
    let mut reversed = try_vec("scratch of a Jacobian", full, T::zero())?;
    reversed[0] = T::one();
    for k in (0..segments).rev() {
        let q = &mut suffixes[k * full..(k + 1) * full];
        q[0] = T::one();
        antipode_copy(shape, &reversed, 0, q, 0, &rev);
        increment_of(k, -T::one(), &mut increment);
        mul_exp_in_place(dim, shape, &mut reversed, &increment, &mut scratch);
    }
    Ok((prefixes, suffixes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{close, random};
    use crate::{sig, sig_backprop, sig_length, PathShape, PathTransform};

    fn signature(path: &[f64], dim: usize, degree: usize) -> Vec<f64> {
        let mut out = vec![0.0; sig_length(dim, degree, false).unwrap()];
        sig(path, PathShape::new(1, path.len() / dim, dim), degree, PathTransform::NONE, false, 1, &mut out).unwrap();
        out
    }

    fn jacobian(path: &[f64], dim: usize, degree: usize, n_jobs: i64) -> Vec<f64> {
        let n = sig_length(dim, degree, false).unwrap();
        let mut out = vec![f64::NAN; path.len() * n];
        sig_jacobian(path, dim, degree, n_jobs, &mut out).unwrap();
        out
    }

    #[test]
    fn exp_derivative_matches_finite_differences() {
        let mut seed = 3;
        for (dim, degree) in [(1, 5), (2, 4), (3, 5)] {
            let shape = TensorShape::new(dim, degree).unwrap();
            let v = random(dim, &mut seed);
            let (mut ex, mut e) = (vec![0.0; shape.len()], vec![0.0; shape.len()]);
            exp_levels(&shape, &v, &mut ex);
            let mut reference = vec![0.0; shape.len()];
            crate::tensor::tensor_exp(&shape, &v, &mut reference).unwrap();
            close(&ex, &reference, 1e-14);
            let h = 1e-6;
            for j in 0..dim {
                exp_derivative(&shape, &v, &ex, j, &mut e);
                let (mut up, mut down) = (v.clone(), v.clone());
                up[j] += h;
                down[j] -= h;
                let (mut eu, mut ed) = (vec![0.0; shape.len()], vec![0.0; shape.len()]);
                exp_levels(&shape, &up, &mut eu);
                exp_levels(&shape, &down, &mut ed);
                let fd: Vec<f64> = eu.iter().zip(&ed).map(|(a, b)| (a - b) / (2.0 * h)).collect();
                close(&e, &fd, 1e-8);
            }
        }
    }

    #[test]
    fn jacobian_matches_finite_differences_of_the_signature() {
        let mut seed = 11;
        for (length, dim, degree) in [(2, 1, 3), (5, 2, 4), (7, 3, 3), (4, 4, 2)] {
            let mut path = random(length * dim, &mut seed);
            let n = sig_length(dim, degree, false).unwrap();
            let jac = jacobian(&path, dim, degree, 1);
            let h = 1e-6;
            for p in 0..length * dim {
                let v = path[p];
                path[p] = v + h;
                let up = signature(&path, dim, degree);
                path[p] = v - h;
                let down = signature(&path, dim, degree);
                path[p] = v;
                let fd: Vec<f64> = up.iter().zip(&down).map(|(a, b)| (a - b) / (2.0 * h)).collect();
                close(&jac[p * n..(p + 1) * n], &fd, 1e-7);
            }
        }
    }

    #[test]
    fn jacobian_rows_contracted_with_a_covector_are_the_backward_pass() {
        let mut seed = 29;
        for (length, dim, degree) in [(9, 2, 5), (6, 3, 4), (3, 5, 3), (12, 1, 4)] {
            let path = random(length * dim, &mut seed);
            let n = sig_length(dim, degree, false).unwrap();
            let s = signature(&path, dim, degree);
            // the Jacobian does not depend on how points are split among threads
            let jac = jacobian(&path, dim, degree, 1);
            close(&jacobian(&path, dim, degree, 3), &jac, 1e-13);
            for word in [0, n / 2, n - 1] {
                let mut unit = vec![0.0; n];
                unit[word] = 1.0;
                let mut grad = vec![0.0; length * dim];
                let shape = PathShape::new(1, length, dim);
                sig_backprop(&path, shape, degree, PathTransform::NONE, &s, &unit, false, 1, &mut grad).unwrap();
                let column: Vec<f64> = (0..length * dim).map(|p| jac[p * n + word]).collect();
                close(&column, &grad, 1e-11);
            }
        }
    }

    #[test]
    fn translating_the_path_leaves_the_jacobian_summing_to_zero_over_points() {
        // S depends on increments only, so the rows of each direction sum to 0
        let mut seed = 5;
        let (length, dim, degree) = (6, 3, 3);
        let path = random(length * dim, &mut seed);
        let n = sig_length(dim, degree, false).unwrap();
        let jac = jacobian(&path, dim, degree, 2);
        for j in 0..dim {
            for w in 0..n {
                let total: f64 = (0..length).map(|i| jac[(i * dim + j) * n + w]).sum();
                assert!(total.abs() < 1e-12, "direction {j} word {w}: {total}");
            }
        }
    }

    #[test]
    fn one_point_gives_zeros_and_bad_shapes_are_errors() {
        assert!(jacobian(&[0.3, 0.1], 2, 3, 1).iter().all(|&v| v == 0.0));
        let mut out = vec![0.0; 12];
        assert!(matches!(sig_jacobian(&[0.0; 3], 2, 2, 1, &mut out), Err(SigError::InvalidArgument { name: "path", .. })));
        assert!(matches!(sig_jacobian::<f64>(&[], 2, 2, 1, &mut out), Err(SigError::InvalidArgument { name: "path", .. })));
        assert!(matches!(sig_jacobian(&[0.0; 4], 2, 2, 1, &mut out[..5]), Err(SigError::BufferLength { name: "out", .. })));
        assert!(matches!(sig_jacobian(&[0.0; 4], 0, 2, 1, &mut out), Err(SigError::InvalidArgument { name: "dimension", .. })));
        assert!(matches!(sig_jacobian(&[0.0; 4], 2, 0, 1, &mut out), Err(SigError::InvalidArgument { name: "degree", .. })));
        assert!(sig_jacobian(&[0.0; 4], 2, 2, 0, &mut [0.0; 24]).is_err());
    }

    #[test]
    fn float32_agrees_with_float64() {
        let mut seed = 17;
        let (length, dim, degree) = (8, 3, 4);
        let path = random(length * dim, &mut seed);
        let jac = jacobian(&path, dim, degree, 1);
        let path32: Vec<f32> = path.iter().map(|&v| v as f32).collect();
        let mut out32 = vec![0.0f32; jac.len()];
        sig_jacobian(&path32, dim, degree, 1, &mut out32).unwrap();
        let widened: Vec<f64> = out32.iter().map(|&v| v as f64).collect();
        close(&widened, &jac, 1e-5);
    }
}
