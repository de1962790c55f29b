//! Log-signatures: the tensor logarithm of a signature, and its
//! coefficients at the Lyndon words or coordinates in the Lyndon or Hall basis.
//!
//! `log(S) = sum_{n=1..N} (-1)^(n+1) X^n / n` with `X = S - 1`, evaluated in
//! Horner form `log(1 + X) = X (1 - X (1/2 - X (1/3 - ... X / N)))`: N
//! truncated products per signature. The backward pass transposes each
//! product, keeping the N Horner partial sums of one signature per worker.

use crate::alloc::{try_reserve, zeros};
use crate::batch::try_for_each_chunk;
use std::sync::Arc;

use crate::error::{check_len, Result, SigError};
use crate::hall::{hall_basis, HallBasis};
use crate::lyndon::{checked_lyndon_count, checked_shape, lyndon_basis, lyndon_word_indices, LyndonBasis};
use crate::tensor::{mul_backward, mul_backward_upto, mul_in_place, mul_in_place_upto, TensorShape};
use crate::{recip, Float};

/// How a log-signature is written (pysiglib's `method` numbers 0 to 2, and
/// sigrs's own code 4 for the Hall basis; pysiglib's 3 is a BCH algorithm
/// for method 2's numbers, which the Python layer maps to 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSigMethod {
    /// 0: the whole tensor logarithm, shaped like a signature (level 0 is 0).
    Expanded,
    /// 1: the tensor logarithm's coefficients at the Lyndon words.
    Words,
    /// 2: coordinates in the Lyndon basis (standard bracketings of Lyndon
    /// words), as iisignature's "S" and signatory's "brackets".
    Lyndon,
    /// 4: coordinates in the Hall basis, as iisignature's "H" (see
    /// [`crate::hall`]).
    Hall,
}

impl LogSigMethod {
    /// The method with pysiglib's number (0, 1, 2), or 4 for the Hall basis.
    pub fn from_index(method: i64) -> Result<Self> {
        match method {
            0 => Ok(LogSigMethod::Expanded),
            1 => Ok(LogSigMethod::Words),
            2 => Ok(LogSigMethod::Lyndon),
            4 => Ok(LogSigMethod::Hall),
            _ => Err(SigError::invalid("method", "0 (expanded), 1 (Lyndon words), 2 (Lyndon basis) or 4 (Hall basis)", method)),
        }
    }
}

/// Length of a log-signature: the signature's length (with or without the
/// scalar term) for [`LogSigMethod::Expanded`], else the number of Lyndon
/// words of length `1..=degree` (Witt's formula), which is also the size of
/// the Hall basis. Pure arithmetic: builds no table; `Overflow` when the
/// length does not fit in `usize`.
///
/// ```
/// use sig_core::logsig::{log_sig_length, LogSigMethod};
/// assert_eq!(log_sig_length(10, 12, LogSigMethod::Words, false).unwrap(), 93_549_375_919);
/// ```
pub fn log_sig_length(dim: usize, degree: usize, method: LogSigMethod, scalar_term: bool) -> Result<usize> {
    match method {
        LogSigMethod::Expanded => {
            // sig_length walks the degrees: not for one letter (or none).
            let len = match dim {
                0 => Some(1),
                1 => degree.checked_add(1),
                _ => crate::sig_length(dim, degree, true),
            };
            let len = len.ok_or_else(|| SigError::Overflow(format!("a signature of dimension {dim} and degree {degree}")))?;
            Ok(len - usize::from(!scalar_term))
        }
        LogSigMethod::Words | LogSigMethod::Lyndon | LogSigMethod::Hall => checked_lyndon_count(dim, degree),
    }
}

/// Builds (and caches) now the tables that [`sig_to_log_sig`] needs for
/// `method`, rather than on first use: none for
/// [`LogSigMethod::Expanded`], the Lyndon words' positions for
/// [`LogSigMethod::Words`], the Lyndon or Hall basis for the others.
/// ([`logsig_to_sig`] with `Words` needs the Lyndon basis as well, which it
/// builds on first use.)
pub fn prepare_log_sig(dim: usize, degree: usize, method: LogSigMethod) -> Result<()> {
    match method {
        LogSigMethod::Expanded => checked_shape(dim, degree).map(drop),
        LogSigMethod::Words => lyndon_word_indices(dim, degree).map(drop),
        LogSigMethod::Lyndon => lyndon_basis(dim, degree).map(drop),
        LogSigMethod::Hall => hall_basis(dim, degree).map(drop),
    }
}

/// Per-worker buffers: X, the Horner partial sums H_1..H_N, and gradients.
pub(crate) struct LogWorkspace<T> {
    x: Vec<T>,
    /// `h[k - 1]` holds H_k = 1/k - X (x) H_{k+1} (H_N = 1/N).
    h: Vec<Vec<T>>,
    pub(crate) log: Vec<T>,
    pub(crate) g_x: Vec<T>,
    g_h: Vec<T>,
    g_next: Vec<T>,
}

impl<T: Float> LogWorkspace<T> {
    pub(crate) fn new(shape: &TensorShape) -> Result<Self> {
        let z = || zeros("a log-signature's workspace", shape.len());
        let mut h = Vec::new();
        try_reserve(&mut h, "a log-signature's workspace", shape.degree.max(1))?;
        for _ in 0..shape.degree.max(1) {
            h.push(z()?);
        }
        Ok(LogWorkspace { x: z()?, h, log: z()?, g_x: z()?, g_h: z()?, g_next: z()? })
    }

    /// `self.log = log(1 + X)` for the signature `stored` (its level 0, if
    /// stored, is taken to be 1), keeping every H_k.
    pub(crate) fn forward(&mut self, shape: &TensorShape, stored: &[T], skip: usize) {
        self.log.fill(T::zero());
        if self.horner(shape, stored, skip) {
            self.log.copy_from_slice(&self.x);
            mul_in_place(shape, &mut self.log, &self.h[0]);
        }
    }

    /// X and the Horner partial sums H_N..H_1 of `log(1 + X)` for `stored`,
    /// all but the last product `log = X (x) H_1`. False for degree 0 (no
    /// partial sums).
    fn horner(&mut self, shape: &TensorShape, stored: &[T], skip: usize) -> bool {
        let n = shape.degree;
        self.x[0] = T::zero();
        self.x[1..].copy_from_slice(&stored[1 - skip..]);
        if n == 0 {
            return false;
        }
        let last = &mut self.h[n - 1];
        last.fill(T::zero());
        last[0] = recip::<T>(n);
        // H_k is multiplied by X k times, and X has no level 0: only its
        // levels up to N - k reach the result.
        for k in (1..n).rev() {
            let (lower, upper) = self.h.split_at_mut(k);
            let (h_k, h_next) = (&mut lower[k - 1], &upper[0]);
            // H_k = 1/k - X (x) H_{k+1}
            let top = n - k;
            let used = shape.level(top).end;
            h_k[..used].copy_from_slice(&self.x[..used]);
            mul_in_place_upto(shape, h_k, h_next, top);
            for v in &mut h_k[..used] {
                *v = -*v;
            }
            h_k[0] += recip::<T>(k);
        }
        true
    }

    /// After [`forward`](Self::forward): from `g` = dF/d(log) (full length),
    /// leaves dF/dX in `self.g_x` (level 0 zero).
    pub(crate) fn backward(&mut self, shape: &TensorShape, g: &[T]) {
        let n = shape.degree;
        self.g_x.fill(T::zero());
        if n == 0 {
            return;
        }
        // log = X (x) H_1
        self.g_h.fill(T::zero());
        mul_backward(shape, &self.x, &self.h[0], g, &mut self.g_x, &mut self.g_h);
        self.horner_backward(shape);
    }

    /// The transpose of [`horner`](Self::horner): with dF/dX so far in
    /// `self.g_x` and dF/dH_1 in its buffer, leaves dF/dX in `self.g_x`
    /// (level 0 zero).
    fn horner_backward(&mut self, shape: &TensorShape) {
        let n = shape.degree;
        for k in 1..n {
            // H_k = 1/k - Q, Q = X (x) H_{k+1} up to level N - k: dQ = -dH_k.
            let top = n - k;
            for v in self.g_h.iter_mut() {
                *v = -*v;
            }
            self.g_next.fill(T::zero());
            mul_backward_upto(shape, &self.x, &self.h[k], &self.g_h, &mut self.g_x, &mut self.g_next, top);
            std::mem::swap(&mut self.g_h, &mut self.g_next);
        }
        self.g_x[0] = T::zero();
    }
}

/// The tables a method needs.
enum Tables {
    /// Method 0 needs none.
    None,
    /// Method 1 from signatures: only where the Lyndon words sit.
    Positions(Arc<Vec<usize>>),
    /// Method 2, and method 1 into signatures (which solves for Lyndon
    /// coordinates).
    Lyndon(Arc<LyndonBasis>),
    Hall(Arc<HallBasis>),
}

/// Where a method's output comes from.
struct LogSigPlan {
    shape: TensorShape,
    skip: usize,
    sig_len: usize,
    out_len: usize,
    method: LogSigMethod,
    tables: Tables,
}

impl LogSigPlan {
    /// The plan of `method`; `to_sig` for [`logsig_to_sig`], which needs
    /// the whole Lyndon basis for method 1 (from signatures, its positions
    /// suffice).
    fn new(dim: usize, degree: usize, scalar_term: bool, method: LogSigMethod, to_sig: bool) -> Result<Self> {
        let shape = checked_shape(dim, degree)?;
        let skip = usize::from(!scalar_term);
        let tables = match method {
            LogSigMethod::Expanded => Tables::None,
            LogSigMethod::Words if !to_sig => Tables::Positions(lyndon_word_indices(dim, degree)?),
            LogSigMethod::Words | LogSigMethod::Lyndon => Tables::Lyndon(lyndon_basis(dim, degree)?),
            LogSigMethod::Hall => Tables::Hall(hall_basis(dim, degree)?),
        };
        let out_len = log_sig_length(dim, degree, method, scalar_term)?;
        Ok(LogSigPlan { sig_len: shape.len() - skip, shape, skip, out_len, method, tables })
    }

    /// The number of coordinates of methods 1, 2 and 4 (0 for method 0).
    fn n_coords(&self) -> usize {
        match &self.tables {
            Tables::None => 0,
            Tables::Positions(p) => p.len(),
            Tables::Lyndon(b) => b.len(),
            Tables::Hall(b) => b.len(),
        }
    }

    fn batch(&self, sigs: &[impl Copy]) -> Result<usize> {
        if self.sig_len == 0 {
            return Ok(0);
        }
        if sigs.len() % self.sig_len != 0 {
            return Err(SigError::BufferLength { name: "sig", expected: (sigs.len() / self.sig_len + 1) * self.sig_len, actual: sigs.len() });
        }
        Ok(sigs.len() / self.sig_len)
    }
}

/// Log-signatures of a batch of signatures (`batch * sig_len` numbers, with
/// or without the scalar term, which is taken to be 1), written in the form
/// `method` says; `out` holds `batch * log_sig_length(...)` numbers.
///
/// ```
/// use sig_core::logsig::{sig_to_log_sig, LogSigMethod};
/// // A straight segment's signature is exp(v): its logarithm is v.
/// let (v0, v1) = (0.5_f64, -2.0);
/// let sig = [v0, v1, v0 * v0 / 2.0, v0 * v1 / 2.0, v1 * v0 / 2.0, v1 * v1 / 2.0];
/// let mut log = [0.0; 6];
/// sig_to_log_sig(&sig, 2, 2, false, LogSigMethod::Expanded, 1, &mut log).unwrap();
/// assert!(log[2..].iter().all(|x| x.abs() < 1e-15));
/// ```
#[allow(clippy::too_many_arguments)]
pub fn sig_to_log_sig<T: Float>(sigs: &[T], dim: usize, degree: usize, scalar_term: bool, method: LogSigMethod, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let plan = LogSigPlan::new(dim, degree, scalar_term, method, false)?;
    let batch = plan.batch(sigs)?;
    check_len("out", out.len(), batch * plan.out_len)?;
    let work = plan.shape.len().saturating_mul(degree * degree + 1);
    try_for_each_chunk(n_jobs, out, plan.out_len, work, || LogWorkspace::new(&plan.shape), |ws, b, o| {
        ws.forward(&plan.shape, &sigs[b * plan.sig_len..(b + 1) * plan.sig_len], plan.skip);
        match (plan.method, &plan.tables) {
            (LogSigMethod::Expanded, _) => o.copy_from_slice(&ws.log[plan.skip..]),
            (LogSigMethod::Words, Tables::Positions(positions)) => {
                for (v, &i) in o.iter_mut().zip(positions.iter()) {
                    *v = ws.log[i];
                }
            }
            (LogSigMethod::Lyndon, Tables::Lyndon(basis)) => basis.coords_from_expanded(&ws.log, o),
            (LogSigMethod::Hall, Tables::Hall(basis)) => basis.coords_from_expanded(&ws.log, o),
            _ => unreachable!("every method carries its tables"),
        }
        Ok(())
    })
}

/// Gradient through [`sig_to_log_sig`]: from `g` = dF/d(log-signatures),
/// writes dF/d(sigs) into `out` (level 0, if stored, gets 0).
#[allow(clippy::too_many_arguments)]
pub fn sig_to_log_sig_backprop<T: Float>(
    sigs: &[T],
    g: &[T],
    dim: usize,
    degree: usize,
    scalar_term: bool,
    method: LogSigMethod,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    let plan = LogSigPlan::new(dim, degree, scalar_term, method, false)?;
    let batch = plan.batch(sigs)?;
    check_len("derivs", g.len(), batch * plan.out_len)?;
    check_len("out", out.len(), sigs.len())?;
    let work = plan.shape.len().saturating_mul(2 * degree * degree + 1);
    let full = plan.shape.len();
    let init = || Ok((LogWorkspace::new(&plan.shape)?, zeros("a log-signature's gradient", full)?));
    try_for_each_chunk(n_jobs, out, plan.sig_len, work, init, |(ws, g_log), b, o| {
        ws.forward(&plan.shape, &sigs[b * plan.sig_len..(b + 1) * plan.sig_len], plan.skip);
        let g_b = &g[b * plan.out_len..(b + 1) * plan.out_len];
        g_log.fill(T::zero());
        match (plan.method, &plan.tables) {
            (LogSigMethod::Expanded, _) => g_log[plan.skip..].copy_from_slice(g_b),
            (LogSigMethod::Words, Tables::Positions(positions)) => {
                for (&v, &i) in g_b.iter().zip(positions.iter()) {
                    g_log[i] += v;
                }
            }
            (LogSigMethod::Lyndon, Tables::Lyndon(basis)) => basis.coords_from_expanded_backward(g_b, g_log),
            (LogSigMethod::Hall, Tables::Hall(basis)) => basis.coords_from_expanded_backward(g_b, g_log),
            _ => unreachable!("every method carries its tables"),
        }
        g_log[0] = T::zero();
        ws.backward(&plan.shape, g_log);
        o.copy_from_slice(&ws.g_x[plan.skip..]);
        Ok(())
    })
}

/// Per-worker buffers of [`logsig_to_sig`]: the Lie element L, the Horner
/// partial sums E_1..E_N of `exp(L)`, and gradients.
pub(crate) struct ExpWorkspace<T> {
    pub(crate) lie: Vec<T>,
    /// `e[k - 1]` holds E_k = 1 + L (x) E_{k+1} / k (E_{N+1} = 1).
    pub(crate) e: Vec<Vec<T>>,
    words: Vec<T>,
    coords: Vec<T>,
    pub(crate) g_lie: Vec<T>,
    g_e: Vec<T>,
    g_next: Vec<T>,
}

impl<T: Float> ExpWorkspace<T> {
    pub(crate) fn new(shape: &TensorShape, n_words: usize) -> Result<Self> {
        let z = |n| zeros("the workspace of a log-signature's exponential", n);
        let mut e = Vec::new();
        try_reserve(&mut e, "the workspace of a log-signature's exponential", shape.degree.max(1))?;
        for _ in 0..shape.degree.max(1) {
            e.push(z(shape.len())?);
        }
        Ok(ExpWorkspace {
            lie: z(shape.len())?,
            e,
            words: z(shape.len())?,
            coords: z(n_words)?,
            g_lie: z(shape.len())?,
            g_e: z(shape.len())?,
            g_next: z(shape.len())?,
        })
    }

    /// Writes the expanded Lie element of one stored log-signature into `self.lie`.
    fn load(&mut self, plan: &LogSigPlan, stored: &[T]) {
        self.lie[0] = T::zero();
        match (plan.method, &plan.tables) {
            (LogSigMethod::Expanded, _) => self.lie[1..].copy_from_slice(&stored[1 - plan.skip..]),
            (LogSigMethod::Lyndon, Tables::Lyndon(basis)) => basis.expanded_from_coords(stored, &mut self.lie),
            (LogSigMethod::Hall, Tables::Hall(basis)) => basis.expanded_from_coords(stored, &mut self.lie),
            (LogSigMethod::Words, Tables::Lyndon(basis)) => {
                // A Lie element is fixed by its coefficients at the Lyndon
                // words: solve for its Lyndon coordinates, then expand.
                self.words.fill(T::zero());
                for (&v, &i) in stored.iter().zip(basis.word_indices()) {
                    self.words[i] = v;
                }
                basis.coords_from_expanded(&self.words, &mut self.coords);
                basis.expanded_from_coords(&self.coords, &mut self.lie);
            }
            _ => unreachable!("every method carries its tables"),
        }
    }

    /// `exp(self.lie)` into `e[0]`, keeping every partial sum.
    pub(crate) fn forward(&mut self, shape: &TensorShape) {
        let n = shape.degree;
        if n == 0 {
            self.e[0].fill(T::zero());
            self.e[0][0] = T::one();
            return;
        }
        // E_k is multiplied by L k - 1 times, and L has no level 0: only
        // its levels up to N - k + 1 reach the result.
        for k in (1..=n).rev() {
            let (lower, upper) = self.e.split_at_mut(k);
            let e_k = &mut lower[k - 1];
            let top = n + 1 - k;
            let used = shape.level(top).end;
            e_k[..used].copy_from_slice(&self.lie[..used]);
            if k < n {
                mul_in_place_upto(shape, e_k, &upper[0], top);
            }
            let c = recip::<T>(k);
            for v in &mut e_k[..used] {
                *v *= c;
            }
            e_k[0] += T::one();
        }
    }

    /// After [`forward`](Self::forward): from `g` = dF/d(exp), leaves dF/dL
    /// in `self.g_lie`.
    pub(crate) fn backward(&mut self, shape: &TensorShape, g: &[T]) {
        let n = shape.degree;
        self.g_lie.fill(T::zero());
        if n == 0 {
            return;
        }
        self.g_e.copy_from_slice(g);
        for k in 1..=n {
            // E_k = 1 + Q / k, Q = L (x) E_{k+1} (Q = L for k = N).
            let c = recip::<T>(k);
            for v in self.g_e.iter_mut() {
                *v *= c;
            }
            let used = shape.level(n + 1 - k).end;
            if k == n {
                for (a, &v) in self.g_lie[..used].iter_mut().zip(&self.g_e[..used]) {
                    *a += v;
                }
            } else {
                self.g_next.fill(T::zero());
                mul_backward_upto(shape, &self.lie, &self.e[k], &self.g_e, &mut self.g_lie, &mut self.g_next, n + 1 - k);
                std::mem::swap(&mut self.g_e, &mut self.g_next);
            }
        }
        self.g_lie[0] = T::zero();
    }

    /// The transpose of [`load`](Self::load): from `self.g_lie`, writes the
    /// gradient of one stored log-signature.
    fn store_grad(&mut self, plan: &LogSigPlan, out: &mut [T]) {
        match (plan.method, &plan.tables) {
            (LogSigMethod::Expanded, _) => {
                out.copy_from_slice(&self.g_lie[plan.skip..]);
                if plan.skip == 0 {
                    out[0] = T::zero();
                }
            }
            (LogSigMethod::Lyndon, Tables::Lyndon(basis)) => basis.expanded_from_coords_backward(&self.g_lie, out),
            (LogSigMethod::Hall, Tables::Hall(basis)) => basis.expanded_from_coords_backward(&self.g_lie, out),
            (LogSigMethod::Words, Tables::Lyndon(basis)) => {
                basis.expanded_from_coords_backward(&self.g_lie, &mut self.coords);
                self.words.fill(T::zero());
                basis.coords_from_expanded_backward(&self.coords, &mut self.words);
                for (o, &i) in out.iter_mut().zip(basis.word_indices()) {
                    *o = self.words[i];
                }
            }
            _ => unreachable!("every method carries its tables"),
        }
    }
}

/// Signatures from log-signatures: `exp` of the Lie element that each
/// log-signature (in the form `method` says) describes. `log_sigs` holds
/// `batch * log_sig_length(dim, degree, method, scalar_term)` numbers (for
/// [`LogSigMethod::Expanded`] the layout follows `scalar_term`, the level-0
/// entry being ignored); `out` holds `batch * sig_length(dim, degree,
/// scalar_term)`.
///
/// ```
/// use sig_core::logsig::{logsig_to_sig, LogSigMethod};
/// // The Lie element v = (1, 2) exponentiates to (v, v (x) v / 2).
/// let mut sig = [0.0_f64; 6];
/// logsig_to_sig(&[1.0, 2.0, 0.0, 0.0, 0.0, 0.0], 2, 2, LogSigMethod::Expanded, false, 1, &mut sig).unwrap();
/// assert_eq!(sig, [1.0, 2.0, 0.5, 1.0, 1.0, 2.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn logsig_to_sig<T: Float>(log_sigs: &[T], dim: usize, degree: usize, method: LogSigMethod, scalar_term: bool, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let plan = LogSigPlan::new(dim, degree, scalar_term, method, true)?;
    let batch = plan.batch(out)?;
    check_len("log_sig", log_sigs.len(), batch * plan.out_len)?;
    let work = plan.shape.len().saturating_mul(degree * degree + 1);
    let n_words = plan.n_coords();
    try_for_each_chunk(n_jobs, out, plan.sig_len, work, || ExpWorkspace::new(&plan.shape, n_words), |ws, b, o| {
        ws.load(&plan, &log_sigs[b * plan.out_len..(b + 1) * plan.out_len]);
        ws.forward(&plan.shape);
        o.copy_from_slice(&ws.e[0][plan.skip..]);
        Ok(())
    })
}

/// Gradient through [`logsig_to_sig`]: from `g` = dF/d(signatures), writes
/// dF/d(log_sigs) into `out`.
#[allow(clippy::too_many_arguments)]
pub fn logsig_to_sig_backprop<T: Float>(
    log_sigs: &[T],
    g: &[T],
    dim: usize,
    degree: usize,
    method: LogSigMethod,
    scalar_term: bool,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    let plan = LogSigPlan::new(dim, degree, scalar_term, method, true)?;
    let batch = plan.batch(g)?;
    check_len("log_sig", log_sigs.len(), batch * plan.out_len)?;
    check_len("out", out.len(), batch * plan.out_len)?;
    let work = plan.shape.len().saturating_mul(2 * degree * degree + 1);
    let n_words = plan.n_coords();
    let full = plan.shape.len();
    let init = || Ok((ExpWorkspace::new(&plan.shape, n_words)?, zeros("a signature's gradient", full)?));
    try_for_each_chunk(n_jobs, out, plan.out_len, work, init, |(ws, g_full), b, o| {
        ws.load(&plan, &log_sigs[b * plan.out_len..(b + 1) * plan.out_len]);
        ws.forward(&plan.shape);
        g_full[0] = T::zero();
        g_full[1..].copy_from_slice(&g[b * plan.sig_len + 1 - plan.skip..(b + 1) * plan.sig_len]);
        ws.backward(&plan.shape, g_full);
        ws.store_grad(&plan, o);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random;
    use crate::tensor::{tensor_exp, tensor_mul};


    /// exp of a tensor with level 0 = 0, by its series.
    fn exp_series(shape: &TensorShape, l: &[f64]) -> Vec<f64> {
        let mut out = shape.identity();
        let mut term = shape.identity();
        let mut tmp = vec![0.0; shape.len()];
        for n in 1..=shape.degree {
            tensor_mul(shape, &term, l, &mut tmp).unwrap();
            for (t, &x) in term.iter_mut().zip(&tmp) {
                *t = x / n as f64;
            }
            for (o, &t) in out.iter_mut().zip(&term) {
                *o += t;
            }
        }
        out
    }

    fn signature_of_steps(shape: &TensorShape, steps: usize, seed: &mut u64) -> Vec<f64> {
        let mut s = shape.identity();
        let (mut e, mut tmp) = (vec![0.0; shape.len()], vec![0.0; shape.len()]);
        for _ in 0..steps {
            tensor_exp(shape, &random(shape.dim, seed), &mut e).unwrap();
            tensor_mul(shape, &s, &e, &mut tmp).unwrap();
            s.copy_from_slice(&tmp);
        }
        s
    }

    #[test]
    fn log_of_exp_of_a_vector_is_the_vector() {
        let shape = TensorShape::new(3, 5).unwrap();
        let mut seed = 1;
        let v = random(3, &mut seed);
        let mut e = vec![0.0; shape.len()];
        tensor_exp(&shape, &v, &mut e).unwrap();
        let mut log = vec![0.0; shape.len()];
        sig_to_log_sig(&e, 3, 5, true, LogSigMethod::Expanded, 1, &mut log).unwrap();
        for (i, x) in log.iter().enumerate() {
            let expected = if (1..=3).contains(&i) { v[i - 1] } else { 0.0 };
            assert!((x - expected).abs() < 1e-15, "[{i}] {x} vs {expected}");
        }
    }

    #[test]
    fn exp_inverts_log() {
        for (dim, degree) in [(2, 5), (3, 4), (1, 6)] {
            let shape = TensorShape::new(dim, degree).unwrap();
            let mut seed = 7 + dim as u64;
            let s = signature_of_steps(&shape, 4, &mut seed);
            let mut log = vec![0.0; shape.len()];
            sig_to_log_sig(&s, dim, degree, true, LogSigMethod::Expanded, 1, &mut log).unwrap();
            assert_eq!(log[0], 0.0);
            let back = exp_series(&shape, &log);
            for (a, b) in back.iter().zip(&s) {
                assert!((a - b).abs() < 1e-13, "d={dim} N={degree}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn backprop_matches_finite_differences_for_every_method() {
        let (dim, degree) = (2, 4);
        let shape = TensorShape::new(dim, degree).unwrap();
        let mut seed = 3;
        let s = signature_of_steps(&shape, 3, &mut seed)[1..].to_vec();
        for method in [LogSigMethod::Expanded, LogSigMethod::Words, LogSigMethod::Lyndon, LogSigMethod::Hall] {
            let n = log_sig_length(dim, degree, method, false).unwrap();
            let g = random(n, &mut seed);
            let mut grad = vec![0.0; s.len()];
            sig_to_log_sig_backprop(&s, &g, dim, degree, false, method, 1, &mut grad).unwrap();
            let f = |x: &[f64]| {
                let mut o = vec![0.0; n];
                sig_to_log_sig(x, dim, degree, false, method, 1, &mut o).unwrap();
                o.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
            };
            for i in 0..s.len() {
                let (mut p, mut m) = (s.clone(), s.clone());
                p[i] += 1e-6;
                m[i] -= 1e-6;
                let fd = (f(&p) - f(&m)) / 2e-6;
                assert!((fd - grad[i]).abs() < 1e-7, "{method:?} [{i}]: {fd} vs {}", grad[i]);
            }
        }
    }

    #[test]
    fn lyndon_coordinates_rebuild_the_expanded_log() {
        let (dim, degree) = (3, 4);
        let shape = TensorShape::new(dim, degree).unwrap();
        let mut seed = 5;
        let s = signature_of_steps(&shape, 5, &mut seed);
        let basis = lyndon_basis(dim, degree).unwrap();
        let (mut log, mut coords) = (vec![0.0; shape.len()], vec![0.0; basis.len()]);
        sig_to_log_sig(&s, dim, degree, true, LogSigMethod::Expanded, 1, &mut log).unwrap();
        sig_to_log_sig(&s, dim, degree, true, LogSigMethod::Lyndon, 1, &mut coords).unwrap();
        let mut rebuilt = vec![0.0; shape.len()];
        basis.expanded_from_coords(&coords, &mut rebuilt);
        for (a, b) in rebuilt.iter().zip(&log) {
            assert!((a - b).abs() < 1e-13, "{a} vs {b}");
        }
    }

    #[test]
    fn hall_coordinates_rebuild_the_expanded_log() {
        let (dim, degree) = (2, 6);
        let shape = TensorShape::new(dim, degree).unwrap();
        let mut seed = 17;
        let s = signature_of_steps(&shape, 6, &mut seed);
        let basis = hall_basis(dim, degree).unwrap();
        let (mut log, mut coords) = (vec![0.0; shape.len()], vec![0.0; basis.len()]);
        sig_to_log_sig(&s, dim, degree, true, LogSigMethod::Expanded, 1, &mut log).unwrap();
        sig_to_log_sig(&s, dim, degree, true, LogSigMethod::Hall, 1, &mut coords).unwrap();
        let mut rebuilt = vec![0.0; shape.len()];
        basis.expanded_from_coords(&coords, &mut rebuilt);
        for (a, b) in rebuilt.iter().zip(&log) {
            assert!((a - b).abs() < 1e-13, "{a} vs {b}");
        }
    }

    #[test]
    fn method_codes_are_pysiglibs_and_four_for_hall() {
        assert_eq!(LogSigMethod::from_index(4), Ok(LogSigMethod::Hall));
        assert_eq!(LogSigMethod::from_index(2), Ok(LogSigMethod::Lyndon));
        for bad in [-1, 3, 5] {
            let err = LogSigMethod::from_index(bad).unwrap_err().to_string();
            assert!(err.starts_with("method: expected") && err.contains("4 (Hall basis)") && err.ends_with(&format!("got {bad}")), "{err}");
        }
        assert_eq!(log_sig_length(3, 4, LogSigMethod::Hall, false), log_sig_length(3, 4, LogSigMethod::Lyndon, true));
    }

    #[test]
    fn exp_of_the_log_gives_back_the_signature_for_every_method() {
        let (dim, degree) = (3, 4);
        let shape = TensorShape::new(dim, degree).unwrap();
        let mut seed = 11;
        let s = signature_of_steps(&shape, 4, &mut seed);
        for method in [LogSigMethod::Expanded, LogSigMethod::Words, LogSigMethod::Lyndon, LogSigMethod::Hall] {
            let n = log_sig_length(dim, degree, method, true).unwrap();
            let mut log = vec![0.0; n];
            sig_to_log_sig(&s, dim, degree, true, method, 1, &mut log).unwrap();
            let mut back = vec![0.0; shape.len()];
            logsig_to_sig(&log, dim, degree, method, true, 1, &mut back).unwrap();
            for (a, b) in back.iter().zip(&s) {
                assert!((a - b).abs() < 1e-13, "{method:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn logsig_to_sig_backprop_matches_finite_differences() {
        let (dim, degree) = (2, 4);
        let mut seed = 13;
        for method in [LogSigMethod::Expanded, LogSigMethod::Words, LogSigMethod::Lyndon, LogSigMethod::Hall] {
            let n = log_sig_length(dim, degree, method, false).unwrap();
            let sig_len = crate::sig_length(dim, degree, false).unwrap();
            let log = random(n, &mut seed);
            let g = random(sig_len, &mut seed);
            let mut grad = vec![0.0; n];
            logsig_to_sig_backprop(&log, &g, dim, degree, method, false, 1, &mut grad).unwrap();
            let f = |x: &[f64]| {
                let mut o = vec![0.0; sig_len];
                logsig_to_sig(x, dim, degree, method, false, 1, &mut o).unwrap();
                o.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
            };
            for i in 0..n {
                let (mut p, mut m) = (log.clone(), log.clone());
                p[i] += 1e-6;
                m[i] -= 1e-6;
                let fd = (f(&p) - f(&m)) / 2e-6;
                assert!((fd - grad[i]).abs() < 1e-7, "{method:?} [{i}]: {fd} vs {}", grad[i]);
            }
        }
    }
}
