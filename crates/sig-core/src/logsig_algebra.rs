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
//! Log-signatures are `batch * log_sig_length(dim, degree)` numbers: the
//! coordinates of pysiglib's method 2 (and 3), in the order of the Lyndon
//! words by length, then lexicographically.

use std::sync::Arc;

use crate::alloc::zeros;
use crate::batch::{try_for_each_chunk, try_for_each_item};
use crate::error::{check_len, Result, SigError};
use crate::logsig::{ExpWorkspace, LogWorkspace};
use crate::lyndon::{checked_lyndon_count, checked_shape, lyndon_basis, LyndonBasis};
use crate::tensor::{mul_backward, mul_exp_backward, mul_exp_in_place, mul_in_place, TensorShape};
use crate::Float;

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

/// One worker's buffers: both exponentials with their Horner partial sums,
/// the product, its logarithm, and the gradients on the way back.
struct BchWorkspace<T> {
    left: ExpWorkspace<T>,
    /// `exp(b)`: `combine` only.
    right: Option<ExpWorkspace<T>>,
    product: Vec<T>,
    log: LogWorkspace<T>,
    g_log: Vec<T>,
    g_left: Vec<T>,
    g_right: Vec<T>,
    /// Scratch of the in-place multiplication by `exp(v)`, or of its gradient.
    scratch: Vec<T>,
    g_v: Vec<T>,
}

impl<T: Float> BchWorkspace<T> {
    /// Buffers for `combine` (two exponentials) or `join` (one, and the
    /// scratch of the multiplication by `exp(v)`).
    fn new(shape: &TensorShape, join: bool) -> Result<Self> {
        let full = shape.len();
        let z = |n| zeros("the workspace of a log-signature product", n);
        let scratch = if join { shape.mul_exp_scratch_len().max(shape.mul_exp_backward_ws_len()) } else { 0 };
        Ok(BchWorkspace {
            left: ExpWorkspace::new(shape, 0)?,
            right: if join { None } else { Some(ExpWorkspace::new(shape, 0)?) },
            product: z(full)?,
            log: LogWorkspace::new(shape)?,
            g_log: z(full)?,
            g_left: z(full)?,
            g_right: z(if join { 0 } else { full })?,
            scratch: z(scratch)?,
            g_v: z(if join { shape.dim } else { 0 })?,
        })
    }

    /// `exp(a)`, kept (with its partial sums) in `self.left`.
    fn exp_left(&mut self, plan: &Plan, a: &[T]) {
        plan.basis.expanded_from_coords(a, &mut self.left.lie);
        self.left.forward(&plan.shape);
    }

    /// `log(self.product)` into `self.log`, projected onto the basis into `out`.
    fn log_product(&mut self, plan: &Plan, out: &mut [T]) {
        self.log.forward(&plan.shape, &self.product, 0);
        plan.basis.coords_from_expanded(&self.log.log, out);
    }

    /// The forward pass of `combine` for one pair, keeping every
    /// intermediate; the product's logarithm is left in `self.log`.
    fn combine(&mut self, plan: &Plan, a: &[T], b: &[T], out: &mut [T]) {
        self.exp_left(plan, a);
        let right = self.right.as_mut().expect("a combine workspace");
        plan.basis.expanded_from_coords(b, &mut right.lie);
        right.forward(&plan.shape);
        self.product.copy_from_slice(&self.left.e[0]);
        mul_in_place(&plan.shape, &mut self.product, &right.e[0]);
        self.log_product(plan, out);
    }

    /// The forward pass of `join` for one log-signature and displacement.
    fn join(&mut self, plan: &Plan, a: &[T], v: &[T], out: &mut [T]) {
        self.exp_left(plan, a);
        self.product.copy_from_slice(&self.left.e[0]);
        mul_exp_in_place(plan.shape.dim, &plan.shape, &mut self.product, v, &mut self.scratch);
        self.log_product(plan, out);
    }

    /// After a forward pass, from `g` = dF/d(coordinates of the result),
    /// leaves dF/d(product) in `self.log.g_x` (level 0 zero).
    fn log_backward(&mut self, plan: &Plan, g: &[T]) {
        self.g_log.fill(T::zero());
        plan.basis.coords_from_expanded_backward(g, &mut self.g_log);
        self.g_log[0] = T::zero();
        self.log.backward(&plan.shape, &self.g_log);
    }

    /// The transpose of [`exp_left`](Self::exp_left): from `self.g_left` =
    /// dF/d exp(a), writes dF/da.
    fn exp_left_backward(&mut self, plan: &Plan, out: &mut [T]) {
        self.g_left[0] = T::zero();
        self.left.backward(&plan.shape, &self.g_left);
        plan.basis.expanded_from_coords_backward(&self.left.g_lie, out);
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
    let work = plan.mul_work().saturating_mul(3 * degree + 1);
    try_for_each_chunk(n_jobs, out, n, work, || BchWorkspace::new(&plan.shape, false), |ws, i, o| {
        ws.combine(&plan, &a[i * n..(i + 1) * n], &b[i * n..(i + 1) * n], o);
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
    let mut pairs: Vec<(&mut [T], &mut [T])> = ga.chunks_exact_mut(n).zip(gb.chunks_exact_mut(n)).collect();
    let work = plan.mul_work().saturating_mul(6 * degree + 3);
    try_for_each_item(n_jobs, &mut pairs, work, || BchWorkspace::new(&plan.shape, false), |ws, i, (out_a, out_b)| {
        let item = i * n..(i + 1) * n;
        // The forward pass again, keeping its partial sums (its output is
        // not needed: out_a is overwritten below).
        ws.combine(&plan, &a[item.clone()], &b[item.clone()], out_a);
        ws.log_backward(&plan, &g[item]);
        ws.g_left.fill(T::zero());
        ws.g_right.fill(T::zero());
        let right = ws.right.as_mut().expect("a combine workspace");
        mul_backward(&plan.shape, &ws.left.e[0], &right.e[0], &ws.log.g_x, &mut ws.g_left, &mut ws.g_right);
        ws.g_right[0] = T::zero();
        right.backward(&plan.shape, &ws.g_right);
        plan.basis.expanded_from_coords_backward(&right.g_lie, out_b);
        ws.exp_left_backward(&plan, out_a);
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
/// assert_eq!(out, [2.0, -1.0, 0.0, 0.0, 0.0]);
/// ```
pub fn log_sig_join<T: Float>(log_sig: &[T], displacement: &[T], dim: usize, degree: usize, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let Some(plan) = Plan::new(dim, degree)? else {
        return Ok(());
    };
    let n = plan.len;
    batch_of(&[("log_sig", log_sig.len(), n), ("displacement", displacement.len(), dim), ("out", out.len(), n)])?;
    let work = plan.mul_work().saturating_mul(2 * degree + 2);
    try_for_each_chunk(n_jobs, out, n, work, || BchWorkspace::new(&plan.shape, true), |ws, i, o| {
        ws.join(&plan, &log_sig[i * n..(i + 1) * n], &displacement[i * dim..(i + 1) * dim], o);
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
    let mut pairs: Vec<(&mut [T], &mut [T])> = g_log_sig.chunks_exact_mut(n).zip(g_disp.chunks_exact_mut(dim)).collect();
    let work = plan.mul_work().saturating_mul(4 * degree + 4);
    try_for_each_item(n_jobs, &mut pairs, work, || BchWorkspace::new(&plan.shape, true), |ws, i, (out_ls, out_v)| {
        let item = i * n..(i + 1) * n;
        let v = &displacement[i * dim..(i + 1) * dim];
        ws.join(&plan, &log_sig[item.clone()], v, out_ls);
        ws.log_backward(&plan, &g[item]);
        mul_exp_backward(dim, &plan.shape, &ws.left.e[0], v, &ws.log.g_x, &mut ws.g_left, &mut ws.g_v, &mut ws.scratch);
        ws.exp_left_backward(&plan, out_ls);
        out_v.copy_from_slice(&ws.g_v);
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
