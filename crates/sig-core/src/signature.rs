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

use crate::batch::{for_each_chunk, resolve_n_jobs};
use crate::error::{check_len, Result, SigError};
use crate::tensor::{horner_levels, mul_exp_backward_kernel, mul_exp_block_kernel, tensor_mul, TensorShape, STEP_BLOCK};
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
struct SigWorkspace<T> {
    s: Vec<T>,
    dx: Vec<T>,
    scratch: Vec<T>,
}

impl<T: Float> SigWorkspace<T> {
    fn new(shape: &TensorShape) -> Self {
        SigWorkspace {
            s: vec![T::zero(); shape.len()],
            dx: vec![T::zero(); shape.dim * STEP_BLOCK],
            scratch: vec![T::zero(); shape.mul_exp_block_ws_len()],
        }
    }

    /// The signature of `steps` of one path, left in `self.s`.
    fn run(&mut self, path: &[T], shape: PathShape, transform: &PathTransform, tshape: &TensorShape, steps: Range<usize>) {
        self.s.fill(T::zero());
        self.s[0] = T::one();
        if tshape.dim == 0 {
            return;
        }
        sig_steps(tshape.dim, path, shape.dim, shape.length, transform, tshape, steps, &mut self.s, &mut self.dx, &mut self.scratch);
    }
}

crate::simd::specialised! {
    fn sig_steps<T>(d: usize, path: &[T], dim: usize, length: usize, transform: &PathTransform, tshape: &TensorShape, steps: Range<usize>, s: &mut [T], dx: &mut [T], scratch: &mut [T]) = sig_steps_kernel;
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
    dx: &mut [T],
    scratch: &mut [T],
) {
    let d = if D == 0 { d } else { D };
    let mut j = steps.start;
    while j < steps.end {
        let count = (steps.end - j).min(STEP_BLOCK);
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
        mul_exp_block_kernel::<T, D, FMA>(d, tshape, s, dx, count, scratch);
        j += count;
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
    shape.check(paths)?;
    transform.validate()?;
    let tshape = TensorShape::new(transform.out_dim(shape.dim), degree)?;
    let skip = usize::from(!scalar_term);
    let out_len = tshape.len() - skip;
    check_len("out", out.len(), shape.batch * out_len)?;
    let threads = resolve_n_jobs(n_jobs)?;
    let steps = transform.n_increments(shape.length);
    let pl = shape.path_len();

    let chunks = if shape.batch < threads && out_len > 0 {
        (threads / shape.batch.max(1)).min(steps / MIN_STEPS_PER_CHUNK).max(1)
    } else {
        1
    };
    if chunks > 1 {
        return sig_chunked(paths, shape, &tshape, transform, chunks, n_jobs, skip, out);
    }
    let work = steps.saturating_mul(tshape.len());
    for_each_chunk(n_jobs, out, out_len, work, || SigWorkspace::new(&tshape), |ws, b, out_sig| {
        ws.run(&paths[b * pl..(b + 1) * pl], shape, &transform, &tshape, 0..steps);
        out_sig.copy_from_slice(&ws.s[skip..]);
    })
}

/// Signatures of few long paths: each path's steps are cut into `chunks`
/// pieces computed in parallel and joined by Chen's identity.
#[allow(clippy::too_many_arguments)]
fn sig_chunked<T: Float>(
    paths: &[T],
    shape: PathShape,
    tshape: &TensorShape,
    transform: PathTransform,
    chunks: usize,
    n_jobs: i64,
    skip: usize,
    out: &mut [T],
) -> Result<()> {
    let steps = transform.n_increments(shape.length);
    let pl = shape.path_len();
    let len = tshape.len();
    let mut pieces = vec![T::zero(); shape.batch * chunks * len];
    for_each_chunk(n_jobs, &mut pieces, len, usize::MAX, || SigWorkspace::new(tshape), |ws, idx, piece| {
        let (b, c) = (idx / chunks, idx % chunks);
        let range = c * steps / chunks..(c + 1) * steps / chunks;
        ws.run(&paths[b * pl..(b + 1) * pl], shape, &transform, tshape, range);
        piece.copy_from_slice(&ws.s);
    })?;
    let (mut acc, mut tmp) = (vec![T::zero(); len], vec![T::zero(); len]);
    for (per_path, out_sig) in pieces.chunks_exact(chunks * len).zip(out.chunks_exact_mut(len - skip)) {
        acc.copy_from_slice(&per_path[..len]);
        for piece in per_path.chunks_exact(len).skip(1) {
            tensor_mul(tshape, &acc, piece, &mut tmp)?;
            std::mem::swap(&mut acc, &mut tmp);
        }
        out_sig.copy_from_slice(&acc[skip..]);
    }
    Ok(())
}

/// Per-worker buffers of the backward pass: a handful of signature-sized
/// vectors, independent of the path length.
struct BackpropWorkspace<T> {
    s: Vec<T>,
    g: Vec<T>,
    g_next: Vec<T>,
    dx: Vec<T>,
    neg_dx: Vec<T>,
    gdx: Vec<T>,
    scratch: Vec<T>,
    ws: Vec<T>,
}

impl<T: Float> BackpropWorkspace<T> {
    fn new(shape: &TensorShape) -> Self {
        let zeros = |n| vec![T::zero(); n];
        BackpropWorkspace {
            s: zeros(shape.len()),
            g: zeros(shape.len()),
            g_next: zeros(shape.len()),
            dx: zeros(shape.dim),
            neg_dx: zeros(shape.dim),
            gdx: zeros(shape.dim),
            scratch: zeros(shape.mul_exp_scratch_len()),
            ws: zeros(shape.mul_exp_backward_ws_len()),
        }
    }
}

crate::simd::specialised! {
    fn sig_backprop_steps<T>(d: usize, path: &[T], dim: usize, length: usize, transform: &PathTransform, tshape: &TensorShape, ws: &mut BackpropWorkspace<T>, grad: &mut [T]) = sig_backprop_steps_kernel;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sig_backprop_steps_kernel<T: Float, const D: usize, const FMA: bool>(
    d: usize,
    path: &[T],
    dim: usize,
    length: usize,
    transform: &PathTransform,
    tshape: &TensorShape,
    ws: &mut BackpropWorkspace<T>,
    grad: &mut [T],
) {
    let d = if D == 0 { d } else { D };
    let BackpropWorkspace { s, g, g_next, dx, neg_dx, gdx, scratch, ws } = ws;
    for j in (0..transform.n_increments(length)).rev() {
        transform.increment(path, dim, length, j, dx);
        for (n, &x) in neg_dx.iter_mut().zip(dx.iter()) {
            *n = -x;
        }
        // s becomes the signature before step j. Its top level is never
        // read by the backward step, so it is left stale and not updated.
        horner_levels::<T, D, FMA>(d, tshape, s, neg_dx, scratch, tshape.degree.saturating_sub(1));
        mul_exp_backward_kernel::<T, D, FMA>(d, tshape, s, dx, g, g_next, gdx, ws);
        std::mem::swap(g, g_next);
        transform.increment_backward(grad, dim, j, gdx);
    }
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
    shape.check(paths)?;
    transform.validate()?;
    let tshape = TensorShape::new(transform.out_dim(shape.dim), degree)?;
    let skip = usize::from(!scalar_term);
    let sig_len = tshape.len() - skip;
    check_len("sig", sigs.len(), shape.batch * sig_len)?;
    check_len("sig_derivs", sig_grads.len(), shape.batch * sig_len)?;
    check_len("out", out.len(), shape.batch * shape.path_len())?;
    let pl = shape.path_len();
    let work = transform.n_increments(shape.length).saturating_mul(tshape.len()).saturating_mul(5);
    for_each_chunk(n_jobs, out, pl, work, || BackpropWorkspace::new(&tshape), |ws, b, grad| {
        grad.fill(T::zero());
        if tshape.dim == 0 || degree == 0 {
            return;
        }
        ws.s[0] = T::one();
        ws.s[1..].copy_from_slice(&sigs[b * sig_len + 1 - skip..(b + 1) * sig_len]);
        ws.g[0] = T::zero();
        ws.g[1..].copy_from_slice(&sig_grads[b * sig_len + 1 - skip..(b + 1) * sig_len]);
        sig_backprop_steps(tshape.dim, &paths[b * pl..(b + 1) * pl], shape.dim, shape.length, &transform, &tshape, ws, grad);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::tensor_exp;

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

    #[test]
    fn signature_is_the_product_of_exponentials_of_increments() {
        // Every specialised dimension, in f64 and f32, with paths long enough
        // for full blocks of increments and a remainder.
        let length = 2 * crate::tensor::STEP_BLOCK + 4;
        for (dim, degree) in [(1, 3), (2, 4), (3, 3), (4, 4), (5, 3), (6, 3), (7, 2), (8, 3), (9, 2), (16, 3)] {
            let p = path(3, length, dim, dim as u64);
            let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
            let tshape = TensorShape::new(dim, degree).unwrap();
            let mut out = vec![0.0; 3 * tshape.len()];
            let mut out32 = vec![0.0f32; 3 * tshape.len()];
            sig(&p, PathShape::new(3, length, dim), degree, PathTransform::NONE, true, 2, &mut out).unwrap();
            sig(&p32, PathShape::new(3, length, dim), degree, PathTransform::NONE, true, 2, &mut out32).unwrap();
            for b in 0..3 {
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
            for scalar_term in [false, true] {
                let (batch, length, dim, degree) = (2, 5, 2, 3);
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
    fn constant_paths_and_degree_zero_give_the_identity() {
        let mut out = vec![9.0; 1 + 3 + 9];
        sig(&[1.0, 2.0, 3.0], PathShape::new(1, 1, 3), 2, PathTransform::NONE, true, 1, &mut out).unwrap();
        assert_eq!(out[0], 1.0);
        assert!(out[1..].iter().all(|&x| x == 0.0));
        let mut empty: Vec<f64> = vec![];
        sig(&[1.0, 2.0], PathShape::new(1, 2, 1), 0, PathTransform::NONE, false, 1, &mut empty).unwrap();
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
}
