//! Static kernels: the kernels `kappa` on points that a signature kernel
//! lifts to paths.
//!
//! With a static kernel the signature-kernel PDE is driven by the double
//! increments of `kappa` along the two paths,
//!
//! `delta[s, t] = kappa(x_{s+1}, y_{t+1}) - kappa(x_s, y_{t+1}) - kappa(x_{s+1}, y_t) + kappa(x_s, y_t)`
//!
//! (`s < L1 - 1`, `t < L2 - 1`), instead of the inner products of their
//! increments; for the linear kernel the two agree.
//!
//! The solver ([`crate::kernel::Increments::Paths`]) forms these double
//! increments itself, a group of pairs at a time, so the `(B, L1, L2)`
//! kernel matrix never exists. [`static_kernel_deltas`] and
//! [`static_kernel_backprop`] compute them, and their gradients, for a
//! caller that calls a static kernel on its own.
//!
//! The formulas are those of pysiglib (and `sigrs.static_kernels`), with
//! squared distances formed as `sum_c (x_c - y_c)^2` (more accurate than
//! `|x|^2 - 2 <x, y> + |y|^2`, and never negative).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::alloc::{try_refill, try_reserve};
use crate::batch::{try_for_each_chunk, try_for_each_item};
use crate::error::{check_len, Result, SigError};
use crate::interrupt::Checkpoint;
use crate::signature::PathShape;
use crate::Float;

/// A kernel on points, with its parameters.
///
/// * `Linear`: `factor <x, y>` (1 for the linear kernel, `scale^2` for the
///   scaled linear kernel).
/// * `Rbf`: `exp(-|x - y|^2 / sigma)` (pysiglib's form, not `2 sigma^2`).
/// * `Polynomial`: `scale (<x, y> + gamma)^degree`. An integer degree takes
///   negative bases as they are; a non-integer degree clamps them to 0 (with
///   zero gradient there), which the functions computing values report
///   ([`KernelReport::clamped`]).
/// * `Matern12`: `exp(-r / sigma)`; `Matern32`: `(1 + u) exp(-u)`,
///   `u = sqrt(3) r / sigma`; `Matern52`: `(1 + u + u^2 / 3) exp(-u)`,
///   `u = sqrt(5) r / sigma`; with `r = sqrt(|x - y|^2 + 1e-30)`, so the
///   gradient stays finite where points coincide.
/// * `RationalQuadratic`: `(1 + |x - y|^2 / (2 alpha sigma^2))^(-alpha)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StaticKernel {
    Linear { factor: f64 },
    Rbf { sigma: f64 },
    Polynomial { degree: f64, gamma: f64, scale: f64 },
    Matern12 { sigma: f64 },
    Matern32 { sigma: f64 },
    Matern52 { sigma: f64 },
    RationalQuadratic { sigma: f64, alpha: f64 },
}

/// What a computation of kernel values noticed about its inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelReport {
    /// A polynomial kernel of non-integer degree met `<x, y> + gamma < 0`
    /// and clamped that base to 0.
    pub clamped: bool,
}

fn positive(name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(SigError::invalid(name, "a finite number > 0", v))
    }
}

fn non_negative(name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(SigError::invalid(name, "a finite number >= 0", v))
    }
}

impl StaticKernel {
    /// Checks the parameters: `sigma` and `alpha` finite and `> 0`; `factor`,
    /// `scale` and `degree` finite and `>= 0`; `gamma` finite.
    pub fn validate(&self) -> Result<()> {
        match *self {
            StaticKernel::Linear { factor } => non_negative("factor", factor),
            StaticKernel::Rbf { sigma } | StaticKernel::Matern12 { sigma } | StaticKernel::Matern32 { sigma } | StaticKernel::Matern52 { sigma } => {
                positive("sigma", sigma)
            }
            StaticKernel::RationalQuadratic { sigma, alpha } => {
                positive("sigma", sigma)?;
                positive("alpha", alpha)
            }
            StaticKernel::Polynomial { degree, gamma, scale } => {
                non_negative("degree", degree)?;
                non_negative("scale", scale)?;
                if gamma.is_finite() {
                    Ok(())
                } else {
                    Err(SigError::invalid("gamma", "a finite number", gamma))
                }
            }
        }
    }
}

/// `r = sqrt(|x - y|^2 + EPS)`: pysiglib's regularisation of the Matern kernels.
const EPS: f64 = 1e-30;

/// How a polynomial kernel raises its base to the degree.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Power<T> {
    /// An integer degree: negative bases are fine.
    Int(i32),
    /// An integer degree beyond `i32` (`powf` keeps the sign of negative bases).
    LargeInt(T),
    /// A non-integer degree: negative bases are clamped to 0.
    Fractional(T),
}

/// A static kernel other than the linear one, with its parameters converted
/// to `T` once. Its values and gradients are functions of one statistic per
/// pair of points: the squared distance (radial kernels) or the inner
/// product (the polynomial kernel).
#[derive(Debug, Clone, Copy)]
pub(crate) enum PointKernel<T> {
    Rbf { neg_inv_sigma: T, slope: T },
    Matern12 { neg_inv_sigma: T, inv_sigma: T },
    Matern32 { u_per_r: T, slope: T },
    Matern52 { u_per_r: T, slope: T },
    RationalQuadratic { inv_2_alpha_sigma2: T, neg_alpha: T, inv_sigma2: T },
    Polynomial { power: Power<T>, gamma: T, scale: T, slope: T },
}

/// `W` paths' points, lane-interleaved: point `s`, channel `c` of lane `l`
/// is `data[(s * dim + c) * W + l]` (`W = 1`: one path, row-major).
#[derive(Clone, Copy)]
pub(crate) struct Points<'a, T> {
    pub data: &'a [T],
    pub len: usize,
    pub dim: usize,
}

impl<'a, T> Points<'a, T> {
    #[inline(always)]
    fn point<const W: usize>(&self, s: usize) -> &'a [T] {
        &self.data[s * self.dim * W..(s + 1) * self.dim * W]
    }
}

/// The lanes `< active` of a row of `W`-lane groups: kernel values cost an
/// `exp` or `powf` each, so a group's padding lanes are skipped.
struct ActiveLanes<'a, T, const W: usize> {
    stats: &'a mut [T],
    active: usize,
}

impl<T, const W: usize> ActiveLanes<'_, T, W> {
    #[inline(always)]
    fn for_each(&mut self, mut f: impl FnMut(&mut T)) {
        if self.active == W {
            self.stats.iter_mut().for_each(f);
        } else {
            for group in self.stats.chunks_exact_mut(W) {
                group[..self.active].iter_mut().for_each(&mut f);
            }
        }
    }
}

#[inline(always)]
fn as_lanes<T, const W: usize>(s: &[T]) -> &[T; W] {
    s.try_into().expect("a chunk of W lanes")
}

#[inline(always)]
fn as_lanes_mut<T, const W: usize>(s: &mut [T]) -> &mut [T; W] {
    s.try_into().expect("a chunk of W lanes")
}

impl<T: Float> PointKernel<T> {
    /// `None` for the linear kernel, which works on increments instead.
    pub(crate) fn new(kernel: &StaticKernel) -> Option<Self> {
        let c = |v: f64| T::from_f64(v).unwrap_or_else(T::nan);
        Some(match *kernel {
            StaticKernel::Linear { .. } => return None,
            StaticKernel::Rbf { sigma } => PointKernel::Rbf { neg_inv_sigma: c(-1.0 / sigma), slope: c(2.0 / sigma) },
            StaticKernel::Matern12 { sigma } => PointKernel::Matern12 { neg_inv_sigma: c(-1.0 / sigma), inv_sigma: c(1.0 / sigma) },
            StaticKernel::Matern32 { sigma } => PointKernel::Matern32 { u_per_r: c(3f64.sqrt() / sigma), slope: c(3.0 / (sigma * sigma)) },
            StaticKernel::Matern52 { sigma } => PointKernel::Matern52 { u_per_r: c(5f64.sqrt() / sigma), slope: c(5.0 / (3.0 * sigma * sigma)) },
            StaticKernel::RationalQuadratic { sigma, alpha } => PointKernel::RationalQuadratic {
                inv_2_alpha_sigma2: c(1.0 / (2.0 * alpha * sigma * sigma)),
                neg_alpha: c(-alpha),
                inv_sigma2: c(1.0 / (sigma * sigma)),
            },
            StaticKernel::Polynomial { degree, gamma, scale } => {
                let power = if degree != degree.trunc() {
                    Power::Fractional(c(degree))
                } else if degree <= f64::from(i32::MAX) {
                    Power::Int(degree as i32)
                } else {
                    Power::LargeInt(c(degree))
                };
                PointKernel::Polynomial { power, gamma: c(gamma), scale: c(scale), slope: c(scale * degree) }
            }
        })
    }

    /// Whether the statistic is the squared distance (else the inner product).
    #[inline(always)]
    fn radial(&self) -> bool {
        !matches!(self, PointKernel::Polynomial { .. })
    }

    /// Turns the statistics of lanes `< active` (of `W`-lane groups) into
    /// kernel values in place; true when a negative polynomial base was
    /// clamped. The other lanes are padding, left as they are.
    fn values<const W: usize>(&self, stats: &mut [T], active: usize) -> bool {
        let eps = T::from_f64(EPS).unwrap_or_else(T::zero);
        let one = T::one();
        let mut clamped = false;
        let mut stats = ActiveLanes::<T, W> { stats, active };
        match *self {
            PointKernel::Rbf { neg_inv_sigma, .. } => stats.for_each(|s| *s = (*s * neg_inv_sigma).exp()),
            PointKernel::Matern12 { neg_inv_sigma, .. } => stats.for_each(|s| *s = ((*s + eps).sqrt() * neg_inv_sigma).exp()),
            PointKernel::Matern32 { u_per_r, .. } => stats.for_each(|s| {
                let u = (*s + eps).sqrt() * u_per_r;
                *s = (u + one) * (-u).exp();
            }),
            PointKernel::Matern52 { u_per_r, .. } => {
                let third = T::from_f64(1.0 / 3.0).unwrap_or_else(T::nan);
                stats.for_each(|s| {
                    let u = (*s + eps).sqrt() * u_per_r;
                    let e = (-u).exp();
                    *s = u * u * e * third + (u + one) * e;
                })
            }
            PointKernel::RationalQuadratic { inv_2_alpha_sigma2, neg_alpha, .. } => {
                stats.for_each(|s| *s = (*s * inv_2_alpha_sigma2 + one).powf(neg_alpha))
            }
            PointKernel::Polynomial { power, gamma, scale, .. } => match power {
                Power::Int(n) => stats.for_each(|s| *s = (*s + gamma).powi(n) * scale),
                Power::LargeInt(p) => stats.for_each(|s| *s = (*s + gamma).powf(p) * scale),
                Power::Fractional(p) => stats.for_each(|s| {
                    let mut base = *s + gamma;
                    if base < T::zero() {
                        clamped = true;
                        base = T::zero();
                    }
                    *s = base.powf(p) * scale;
                }),
            },
        }
        clamped
    }

    /// Turns the statistics of lanes `< active` into derivative factors in
    /// place: `f` such that `d kappa / dx = f (y - x)` (radial) or `f y`
    /// (polynomial).
    fn slopes<const W: usize>(&self, stats: &mut [T], active: usize) {
        let eps = T::from_f64(EPS).unwrap_or_else(T::zero);
        let one = T::one();
        let mut stats = ActiveLanes::<T, W> { stats, active };
        match *self {
            PointKernel::Rbf { neg_inv_sigma, slope } => stats.for_each(|s| *s = (*s * neg_inv_sigma).exp() * slope),
            PointKernel::Matern12 { neg_inv_sigma, inv_sigma } => stats.for_each(|s| {
                // r >= 1e-15 by the regularisation
                let r = (*s + eps).sqrt();
                *s = (r * neg_inv_sigma).exp() / r * inv_sigma;
            }),
            PointKernel::Matern32 { u_per_r, slope } => stats.for_each(|s| *s = (-((*s + eps).sqrt() * u_per_r)).exp() * slope),
            PointKernel::Matern52 { u_per_r, slope } => stats.for_each(|s| {
                let u = (*s + eps).sqrt() * u_per_r;
                *s = (u + one) * (-u).exp() * slope;
            }),
            PointKernel::RationalQuadratic { inv_2_alpha_sigma2, neg_alpha, inv_sigma2 } => stats.for_each(|s| {
                let base = *s * inv_2_alpha_sigma2 + one;
                *s = base.powf(neg_alpha) / base * inv_sigma2;
            }),
            PointKernel::Polynomial { power, gamma, slope, .. } => match power {
                Power::Int(0) => stats.for_each(|s| *s = T::zero()),
                Power::Int(n) => stats.for_each(|s| *s = (*s + gamma).powi(n - 1) * slope),
                Power::LargeInt(p) => stats.for_each(|s| *s = (*s + gamma).powf(p - one) * slope),
                // clamped bases: the clamp's derivative is 0 there
                Power::Fractional(p) => stats.for_each(|s| {
                    let base = *s + gamma;
                    *s = if base > T::zero() { base.powf(p - one) * slope } else { T::zero() };
                }),
            },
        }
    }

    /// The statistic of point `x` (`dim * W`) against every point of `ys`,
    /// into `out` (`ys.len * W`).
    #[inline(always)]
    fn stats_row<const W: usize>(&self, x: &[T], ys: Points<'_, T>, out: &mut [T]) {
        let radial = self.radial();
        for (t, o) in out.chunks_exact_mut(W).enumerate() {
            let yt = ys.point::<W>(t);
            let mut acc = [T::zero(); W];
            if radial {
                for (xc, yc) in x.chunks_exact(W).zip(yt.chunks_exact(W)) {
                    let (xc, yc) = (as_lanes::<T, W>(xc), as_lanes::<T, W>(yc));
                    for l in 0..W {
                        let v = xc[l] - yc[l];
                        acc[l] += v * v;
                    }
                }
            } else {
                for (xc, yc) in x.chunks_exact(W).zip(yt.chunks_exact(W)) {
                    let (xc, yc) = (as_lanes::<T, W>(xc), as_lanes::<T, W>(yc));
                    for l in 0..W {
                        acc[l] += xc[l] * yc[l];
                    }
                }
            }
            o.copy_from_slice(&acc);
        }
    }

    /// Work of one row of kernel values, in floating-point operations (an
    /// estimate: an `exp` or `powf` counts as 20).
    fn row_work<const W: usize>(x: Points<'_, T>, y: Points<'_, T>) -> usize {
        y.len * W * (3 * x.dim + 20)
    }

    /// The double increments of the kernel between `x` and `y` (`W` pairs,
    /// the first `active` of them real), `(x.len - 1) * (y.len - 1) * W`
    /// into `out`, the kernel formed a row at a time in `rows` (resized to
    /// `2 * y.len * W`). Padding lanes get double increments of their
    /// statistics: zero for zero points. Returns whether a base was
    /// clamped, or `Err(Interrupted)` when asked to stop.
    pub(crate) fn deltas<const W: usize>(&self, x: Points<'_, T>, y: Points<'_, T>, active: usize, rows: &mut Vec<T>, out: &mut [T]) -> Result<bool> {
        let (l1, l2) = (x.len, y.len);
        if l1 < 2 || l2 < 2 {
            return Ok(false);
        }
        try_refill(rows, "rows of static kernel values", 2 * l2 * W, T::zero())?;
        let (mut prev, mut cur) = rows.split_at_mut(l2 * W);
        let mut checkpoint = Checkpoint::new(Self::row_work::<W>(x, y));
        self.stats_row::<W>(x.point::<W>(0), y, prev);
        let mut clamped = self.values::<W>(prev, active);
        for (s, out_row) in (1..l1).zip(out.chunks_exact_mut((l2 - 1) * W)) {
            if checkpoint.tick() {
                return Err(SigError::Interrupted);
            }
            self.stats_row::<W>(x.point::<W>(s), y, cur);
            clamped |= self.values::<W>(cur, active);
            // differences along s first, then t (like pysiglib): the first
            // differences of nearby values are exact
            for (t, o) in out_row.chunks_exact_mut(W).enumerate() {
                let (a, b) = (t * W, (t + 1) * W);
                let (c0, c1, p0, p1) = (as_lanes::<T, W>(&cur[a..b]), as_lanes::<T, W>(&cur[b..b + W]), as_lanes::<T, W>(&prev[a..b]), as_lanes::<T, W>(&prev[b..b + W]));
                let o = as_lanes_mut::<T, W>(o);
                for l in 0..W {
                    o[l] = (c1[l] - p1[l]) - (c0[l] - p0[l]);
                }
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        Ok(clamped)
    }

    /// The adjoint of [`PointKernel::deltas`]: from `g = dF/d(delta)`
    /// (`(x.len - 1) * (y.len - 1) * W`, zero in padding lanes), writes
    /// dF/dx (`x.len * dim * W`) into `gx` and dF/dy into `gy`, those asked
    /// for. `row`: scratch, resized to `y.len * W`.
    ///
    /// With `w` the adjoint of the double difference applied to `g` and
    /// `f` the derivative factor, `dF/dx_s = sum_t w[s, t] f[s, t] (y_t -
    /// x_s)` for radial kernels and `sum_t w[s, t] f[s, t] y_t` for the
    /// polynomial kernel, and symmetrically for `y`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backprop<const W: usize>(
        &self,
        x: Points<'_, T>,
        y: Points<'_, T>,
        active: usize,
        g: &[T],
        row: &mut Vec<T>,
        mut gx: Option<&mut [T]>,
        mut gy: Option<&mut [T]>,
    ) -> Result<()> {
        for out in [gx.as_deref_mut(), gy.as_deref_mut()].into_iter().flatten() {
            out.fill(T::zero());
        }
        let (l1, l2, d) = (x.len, y.len, x.dim);
        if l1 < 2 || l2 < 2 {
            return Ok(());
        }
        let (n1, n2) = (l1 - 1, l2 - 1);
        try_refill(row, "a row of static kernel derivatives", l2 * W, T::zero())?;
        let radial = self.radial();
        let mut checkpoint = Checkpoint::new(Self::row_work::<W>(x, y));
        for s in 0..l1 {
            if checkpoint.tick() {
                return Err(SigError::Interrupted);
            }
            let xs = x.point::<W>(s);
            self.stats_row::<W>(xs, y, row);
            self.slopes::<W>(row, active);
            // w[s, t] = e[t - 1] - e[t] with e[t] = g[s - 1, t] - g[s, t]
            // (terms outside the grid are 0)
            let above = (s > 0).then(|| &g[(s - 1) * n2 * W..s * n2 * W]);
            let here = (s < n1).then(|| &g[s * n2 * W..(s + 1) * n2 * W]);
            let mut e_prev = [T::zero(); W];
            for (t, r) in row.chunks_exact_mut(W).enumerate() {
                let mut e = [T::zero(); W];
                if t < n2 {
                    if let Some(a) = above {
                        e = *as_lanes::<T, W>(&a[t * W..(t + 1) * W]);
                    }
                    if let Some(h) = here {
                        let h = as_lanes::<T, W>(&h[t * W..(t + 1) * W]);
                        for l in 0..W {
                            e[l] -= h[l];
                        }
                    }
                }
                let r = as_lanes_mut::<T, W>(r);
                for l in 0..W {
                    r[l] *= e_prev[l] - e[l];
                }
                e_prev = e;
            }
            let mut gxs = gx.as_deref_mut().map(|g| &mut g[s * d * W..(s + 1) * d * W]);
            for (t, r) in row.chunks_exact(W).enumerate() {
                let r = as_lanes::<T, W>(r);
                let yt = y.point::<W>(t);
                let gyt = gy.as_deref_mut().map(|g| &mut g[t * d * W..(t + 1) * d * W]);
                accumulate_pair::<T, W>(radial, r, xs, yt, gxs.as_deref_mut(), gyt);
            }
        }
        Ok(())
    }
}

/// One pair of points' share of the gradients: `v = y_t - x_s` (radial) or
/// `y_t` (polynomial) times `r` into `gx_s`, and `-(y_t - x_s)` or `x_s`
/// times `r` into `gy_t`.
#[inline(always)]
fn accumulate_pair<T: Float, const W: usize>(radial: bool, r: &[T; W], xs: &[T], yt: &[T], gxs: Option<&mut [T]>, gyt: Option<&mut [T]>) {
    let channels = xs.chunks_exact(W).zip(yt.chunks_exact(W));
    match (gxs, gyt) {
        (Some(gx), Some(gy)) => {
            for ((xc, yc), (gxc, gyc)) in channels.zip(gx.chunks_exact_mut(W).zip(gy.chunks_exact_mut(W))) {
                let (xc, yc, gxc, gyc) = (as_lanes::<T, W>(xc), as_lanes::<T, W>(yc), as_lanes_mut::<T, W>(gxc), as_lanes_mut::<T, W>(gyc));
                for l in 0..W {
                    if radial {
                        let v = (yc[l] - xc[l]) * r[l];
                        gxc[l] += v;
                        gyc[l] -= v;
                    } else {
                        gxc[l] += yc[l] * r[l];
                        gyc[l] += xc[l] * r[l];
                    }
                }
            }
        }
        (Some(gx), None) => {
            for ((xc, yc), gxc) in channels.zip(gx.chunks_exact_mut(W)) {
                let (xc, yc, gxc) = (as_lanes::<T, W>(xc), as_lanes::<T, W>(yc), as_lanes_mut::<T, W>(gxc));
                for l in 0..W {
                    gxc[l] += if radial { (yc[l] - xc[l]) * r[l] } else { yc[l] * r[l] };
                }
            }
        }
        (None, Some(gy)) => {
            for ((xc, yc), gyc) in channels.zip(gy.chunks_exact_mut(W)) {
                let (xc, yc, gyc) = (as_lanes::<T, W>(xc), as_lanes::<T, W>(yc), as_lanes_mut::<T, W>(gyc));
                for l in 0..W {
                    gyc[l] += if radial { (xc[l] - yc[l]) * r[l] } else { xc[l] * r[l] };
                }
            }
        }
        (None, None) => {}
    }
}

/// Checks `x` (`shape1`) and `y` (`shape2`): buffer lengths, and the same
/// batch size and dimension.
fn check_pair<T>(x: &[T], shape1: PathShape, y: &[T], shape2: PathShape) -> Result<()> {
    for (name, buf, shape) in [("x", x, shape1), ("y", y, shape2)] {
        let total = shape
            .batch
            .checked_mul(shape.length)
            .and_then(|n| n.checked_mul(shape.dim))
            .ok_or_else(|| SigError::Overflow(format!("a batch of shape {shape:?}")))?;
        check_len(name, buf.len(), total)?;
    }
    if shape1.batch != shape2.batch {
        return Err(SigError::invalid("y", format!("a batch of {} paths like x", shape1.batch), shape2.batch));
    }
    if shape1.dim != shape2.dim {
        return Err(SigError::invalid("y", format!("paths of dimension {} like x", shape1.dim), shape2.dim));
    }
    Ok(())
}

/// `a * b * c`, or `Overflow` naming `what`.
pub(crate) fn checked_product(what: &str, factors: &[usize]) -> Result<usize> {
    factors.iter().try_fold(1usize, |acc, &f| acc.checked_mul(f)).ok_or_else(|| SigError::Overflow(format!("{what} ({factors:?})")))
}

/// Per-worker scratch of the batch functions.
struct PairScratch<T> {
    /// Rows of kernel values or derivative factors.
    rows: Vec<T>,
    /// Increments of the second path (linear kernel).
    dy: Vec<T>,
    /// One increment of the first path, and one gradient row (linear kernel).
    dx: Vec<T>,
    h: Vec<T>,
}

impl<T> PairScratch<T> {
    fn new() -> Self {
        PairScratch { rows: Vec::new(), dy: Vec::new(), dx: Vec::new(), h: Vec::new() }
    }
}

/// Increments of one path (`length * dim`) into `out` (`(length - 1) * dim`).
fn increments<T: Float>(path: &[T], dim: usize, out: &mut Vec<T>) -> Result<()> {
    out.clear();
    if path.len() > dim {
        try_reserve(out, "increments of a path", path.len() - dim)?;
        out.extend(path[dim..].iter().zip(path).map(|(&a, &b)| a - b));
    }
    Ok(())
}

/// The double increments of a static kernel for a batch of pairs: `x`
/// `(B, L1, d)` (`shape1`), `y` `(B, L2, d)` (`shape2`), into `out`
/// `(B, L1 - 1, L2 - 1)` (empty when a side has fewer than 2 points).
/// The linear kernel's are `factor <dx_s, dy_t>`, from the increments.
///
/// ```
/// use sig_core::static_kernel::{static_kernel_deltas, StaticKernel};
/// use sig_core::PathShape;
/// // kappa(x, y) = exp(-|x - y|^2): two points per path in one dimension
/// let (x, y) = ([0.0_f64, 1.0], [0.0_f64, 2.0]);
/// let shape = PathShape::new(1, 2, 1);
/// let mut delta = [0.0];
/// static_kernel_deltas(&StaticKernel::Rbf { sigma: 1.0 }, &x, shape, &y, shape, 1, &mut delta).unwrap();
/// let k = |a: f64, b: f64| (-(a - b) * (a - b)).exp();
/// assert!((delta[0] - (k(1.0, 2.0) - k(0.0, 2.0) - k(1.0, 0.0) + k(0.0, 0.0))).abs() < 1e-15);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn static_kernel_deltas<T: Float>(kernel: &StaticKernel, x: &[T], shape1: PathShape, y: &[T], shape2: PathShape, n_jobs: i64, out: &mut [T]) -> Result<KernelReport> {
    kernel.validate()?;
    check_pair(x, shape1, y, shape2)?;
    let (l1, l2, d) = (shape1.length, shape2.length, shape1.dim);
    let (n1, n2) = (l1.saturating_sub(1), l2.saturating_sub(1));
    check_len("out", out.len(), checked_product("the double increments", &[shape1.batch, n1, n2])?)?;
    let clamped = AtomicBool::new(false);
    let point_kernel = PointKernel::<T>::new(kernel);
    let factor = match *kernel {
        StaticKernel::Linear { factor } => T::from_f64(factor).unwrap_or_else(T::nan),
        _ => T::zero(),
    };
    let work = l1.saturating_mul(l2).saturating_mul(3 * d + 20);
    try_for_each_chunk(n_jobs, out, n1 * n2, work, || Ok(PairScratch::new()), |scratch, b, out| {
        let (xb, yb) = (&x[b * l1 * d..(b + 1) * l1 * d], &y[b * l2 * d..(b + 1) * l2 * d]);
        match &point_kernel {
            Some(pk) => {
                let (xp, yp) = (Points { data: xb, len: l1, dim: d }, Points { data: yb, len: l2, dim: d });
                if pk.deltas::<1>(xp, yp, 1, &mut scratch.rows, out)? {
                    clamped.store(true, Ordering::Relaxed);
                }
                Ok(())
            }
            None => linear_deltas(factor, xb, yb, d, scratch, out),
        }
    })?;
    Ok(KernelReport { clamped: clamped.into_inner() })
}

/// The gradient through [`static_kernel_deltas`]: from `derivs` =
/// dF/d(delta) `(B, L1 - 1, L2 - 1)`, writes dF/dx `(B, L1, d)` into
/// `grad_x` and dF/dy `(B, L2, d)` into `grad_y`, those given.
#[allow(clippy::too_many_arguments)]
pub fn static_kernel_backprop<T: Float>(
    kernel: &StaticKernel,
    x: &[T],
    shape1: PathShape,
    y: &[T],
    shape2: PathShape,
    derivs: &[T],
    n_jobs: i64,
    grad_x: Option<&mut [T]>,
    grad_y: Option<&mut [T]>,
) -> Result<()> {
    kernel.validate()?;
    check_pair(x, shape1, y, shape2)?;
    let (batch, l1, l2, d) = (shape1.batch, shape1.length, shape2.length, shape1.dim);
    let (n1, n2) = (l1.saturating_sub(1), l2.saturating_sub(1));
    check_len("derivs", derivs.len(), checked_product("the double increments", &[batch, n1, n2])?)?;
    if let Some(g) = grad_x.as_deref() {
        check_len("grad_x", g.len(), batch * l1 * d)?;
    }
    if let Some(g) = grad_y.as_deref() {
        check_len("grad_y", g.len(), batch * l2 * d)?;
    }
    let (p1, p2) = (l1 * d, l2 * d);
    // each pair writes its own slices of the outputs
    type Task<'b, T> = (Option<&'b mut [T]>, Option<&'b mut [T]>);
    let mut it1 = grad_x.map(|g| g.chunks_mut(p1.max(1)));
    let mut it2 = grad_y.map(|g| g.chunks_mut(p2.max(1)));
    let mut tasks: Vec<Task<'_, T>> = Vec::new();
    try_reserve(&mut tasks, "the pairs of a batch", batch)?;
    tasks.extend((0..batch).map(|_| (it1.as_mut().and_then(Iterator::next), it2.as_mut().and_then(Iterator::next))));
    let point_kernel = PointKernel::<T>::new(kernel);
    let factor = match *kernel {
        StaticKernel::Linear { factor } => T::from_f64(factor).unwrap_or_else(T::nan),
        _ => T::zero(),
    };
    let work = l1.saturating_mul(l2).saturating_mul(6 * d + 20);
    try_for_each_item(n_jobs, &mut tasks, work, || Ok(PairScratch::new()), |scratch, b, (gx, gy)| {
        let (xb, yb) = (&x[b * p1..(b + 1) * p1], &y[b * p2..(b + 1) * p2]);
        let g = &derivs[b * n1 * n2..(b + 1) * n1 * n2];
        match &point_kernel {
            Some(pk) => {
                let (xp, yp) = (Points { data: xb, len: l1, dim: d }, Points { data: yb, len: l2, dim: d });
                pk.backprop::<1>(xp, yp, 1, g, &mut scratch.rows, gx.as_deref_mut(), gy.as_deref_mut())
            }
            None => linear_backprop(factor, xb, yb, d, g, scratch, gx.as_deref_mut(), gy.as_deref_mut()),
        }
    })
}

/// [`static_kernel_deltas`] for one pair of the linear kernel:
/// `out[s, t] = factor <dx_s, dy_t>` (`(L1 - 1) * (L2 - 1)`), row by row
/// with a stop check every so often (one pair of long paths is one item).
fn linear_deltas<T: Float>(factor: T, xb: &[T], yb: &[T], d: usize, scratch: &mut PairScratch<T>, out: &mut [T]) -> Result<()> {
    let n2 = (yb.len() / d.max(1)).saturating_sub(1);
    if d == 0 || n2 == 0 {
        // every increment of a dimension-0 path is zero
        out.fill(T::zero());
        return Ok(());
    }
    let PairScratch { dy, dx, .. } = scratch;
    increments(yb, d, dy)?;
    try_refill(dx, "an increment", d, T::zero())?;
    let mut checkpoint = Checkpoint::new(n2 * 2 * d);
    for (s, row) in out.chunks_exact_mut(n2).enumerate() {
        if checkpoint.tick() {
            return Err(SigError::Interrupted);
        }
        for ((v, &a), &b) in dx.iter_mut().zip(&xb[(s + 1) * d..(s + 2) * d]).zip(&xb[s * d..(s + 1) * d]) {
            *v = a - b;
        }
        for (o, dyt) in row.iter_mut().zip(dy.chunks_exact(d)) {
            *o = dx.iter().zip(dyt).fold(T::zero(), |acc, (&a, &b)| acc + a * b) * factor;
        }
    }
    Ok(())
}

/// [`static_kernel_backprop`] for one pair of the linear kernel: with
/// `delta[s, t] = c <dx_s, dy_t>`, `dF/d(dx_s) = c sum_t g[s, t] dy_t` and
/// `dF/d(dy_t) = c sum_s g[s, t] dx_s`, sent back through the differences.
#[allow(clippy::too_many_arguments)]
fn linear_backprop<T: Float>(factor: T, x: &[T], y: &[T], d: usize, g: &[T], scratch: &mut PairScratch<T>, mut gx: Option<&mut [T]>, mut gy: Option<&mut [T]>) -> Result<()> {
    for out in [gx.as_deref_mut(), gy.as_deref_mut()].into_iter().flatten() {
        out.fill(T::zero());
    }
    let PairScratch { dy, dx, h, .. } = scratch;
    let (n1, n2) = ((x.len() / d.max(1)).saturating_sub(1), (y.len() / d.max(1)).saturating_sub(1));
    if n1 == 0 || n2 == 0 || d == 0 {
        return Ok(());
    }
    increments(y, d, dy)?;
    try_refill(h, "a gradient row", d, T::zero())?;
    try_refill(dx, "an increment", d, T::zero())?;
    let mut checkpoint = Checkpoint::new(n2 * 4 * d);
    for (s, gs) in g.chunks_exact(n2).enumerate() {
        if checkpoint.tick() {
            return Err(SigError::Interrupted);
        }
        if let Some(gx) = gx.as_deref_mut() {
            h.fill(T::zero());
            for (&w, dyt) in gs.iter().zip(dy.chunks_exact(d)) {
                for (hc, &v) in h.iter_mut().zip(dyt) {
                    *hc += w * v;
                }
            }
            let (lo, hi) = gx.split_at_mut((s + 1) * d);
            for ((a, b), &v) in lo[s * d..].iter_mut().zip(&mut hi[..d]).zip(h.iter()) {
                *a -= v * factor;
                *b += v * factor;
            }
        }
        if let Some(gy) = gy.as_deref_mut() {
            for ((v, &a), &b) in dx.iter_mut().zip(&x[(s + 1) * d..(s + 2) * d]).zip(&x[s * d..(s + 1) * d]) {
                *v = (a - b) * factor;
            }
            for (t, &w) in gs.iter().enumerate() {
                let (lo, hi) = gy.split_at_mut((t + 1) * d);
                for ((a, b), &v) in lo[t * d..].iter_mut().zip(&mut hi[..d]).zip(dx.iter()) {
                    *a -= w * v;
                    *b += w * v;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_util::{assert_gradient, close, dot, random};

    /// One of each kernel; the polynomials with an integer and a
    /// non-integer degree, their bases positive for points in [-0.5, 0.5].
    pub(crate) const KERNELS: [StaticKernel; 8] = [
        StaticKernel::Linear { factor: 0.49 },
        StaticKernel::Rbf { sigma: 0.7 },
        StaticKernel::Polynomial { degree: 3.0, gamma: 0.5, scale: 0.8 },
        StaticKernel::Polynomial { degree: 2.5, gamma: 1.0, scale: 1.2 },
        StaticKernel::Matern12 { sigma: 0.9 },
        StaticKernel::Matern32 { sigma: 0.6 },
        StaticKernel::Matern52 { sigma: 1.3 },
        StaticKernel::RationalQuadratic { sigma: 0.8, alpha: 1.7 },
    ];

    /// `kappa(x, y)` written out, for the tests to check against.
    fn closed_form(kernel: &StaticKernel, x: &[f64], y: &[f64]) -> f64 {
        let r2: f64 = x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
        let r = r2.sqrt();
        match *kernel {
            StaticKernel::Linear { factor } => factor * dot(x, y),
            StaticKernel::Rbf { sigma } => (-r2 / sigma).exp(),
            StaticKernel::Matern12 { sigma } => (-r / sigma).exp(),
            StaticKernel::Matern32 { sigma } => {
                let u = 3f64.sqrt() * r / sigma;
                (1.0 + u) * (-u).exp()
            }
            StaticKernel::Matern52 { sigma } => {
                let u = 5f64.sqrt() * r / sigma;
                (1.0 + u + u * u / 3.0) * (-u).exp()
            }
            StaticKernel::RationalQuadratic { sigma, alpha } => (1.0 + r2 / (2.0 * alpha * sigma * sigma)).powf(-alpha),
            StaticKernel::Polynomial { degree, gamma, scale } => scale * (dot(x, y) + gamma).powf(degree),
        }
    }

    /// `kappa(x, y)` as the solver computes it.
    fn kappa(kernel: &StaticKernel, x: &[f64], y: &[f64]) -> (f64, bool) {
        let pk = PointKernel::<f64>::new(kernel).unwrap();
        let mut out = [0.0];
        pk.stats_row::<1>(x, Points { data: y, len: 1, dim: y.len() }, &mut out);
        let clamped = pk.values::<1>(&mut out, 1);
        (out[0], clamped)
    }

    fn deltas(kernel: &StaticKernel, x: &[f64], shape1: PathShape, y: &[f64], shape2: PathShape) -> (Vec<f64>, KernelReport) {
        let mut out = vec![0.0; shape1.batch * shape1.length.saturating_sub(1) * shape2.length.saturating_sub(1)];
        let report = static_kernel_deltas(kernel, x, shape1, y, shape2, 2, &mut out).unwrap();
        (out, report)
    }

    #[test]
    fn values_match_the_closed_forms() {
        let points = [([0.3, -0.2, 0.1], [-0.1, 0.4, 0.25]), ([1.0, 2.0, -1.5], [0.5, 0.5, -0.2]), ([0.1, 0.1, 0.1], [0.1, 0.1, 0.1])];
        for kernel in KERNELS.iter().filter(|k| !matches!(k, StaticKernel::Linear { .. })) {
            for (x, y) in &points {
                let (k, clamped) = kappa(kernel, x, y);
                let expected = closed_form(kernel, x, y);
                assert!(!clamped);
                assert!((k - expected).abs() < 1e-14 * (1.0 + expected.abs()), "{kernel:?} at {x:?}, {y:?}: {k} vs {expected}");
            }
        }
    }

    #[test]
    fn deltas_are_double_differences_of_the_closed_forms() {
        let (b, l1, l2, d) = (3, 4, 5, 2);
        let (x, y) = (random(b * l1 * d, &mut 1), random(b * l2 * d, &mut 2));
        let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
        for kernel in &KERNELS {
            let (delta, report) = deltas(kernel, &x, s1, &y, s2);
            assert!(!report.clamped);
            let pt = |p: &[f64], bb: usize, l: usize, s: usize| p[(bb * l + s) * d..(bb * l + s + 1) * d].to_vec();
            for bb in 0..b {
                for s in 0..l1 - 1 {
                    for t in 0..l2 - 1 {
                        let k = |i: usize, j: usize| closed_form(kernel, &pt(&x, bb, l1, i), &pt(&y, bb, l2, j));
                        let expected = k(s + 1, t + 1) - k(s, t + 1) - k(s + 1, t) + k(s, t);
                        let got = delta[(bb * (l1 - 1) + s) * (l2 - 1) + t];
                        assert!((got - expected).abs() < 1e-14, "{kernel:?} pair {bb} cell ({s}, {t}): {got} vs {expected}");
                    }
                }
            }
        }
    }

    #[test]
    fn backprop_matches_finite_differences_of_deltas() {
        let (b, l1, l2, d) = (2, 4, 3, 3);
        let (mut x, mut y) = (random(b * l1 * d, &mut 3), random(b * l2 * d, &mut 4));
        let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
        let w = random(b * (l1 - 1) * (l2 - 1), &mut 5);
        for kernel in &KERNELS {
            let loss = |x: &[f64], y: &[f64]| dot(&deltas(kernel, x, s1, y, s2).0, &w);
            let (mut gx, mut gy) = (vec![0.0; x.len()], vec![0.0; y.len()]);
            static_kernel_backprop(kernel, &x, s1, &y, s2, &w, 1, Some(&mut gx), Some(&mut gy)).unwrap();
            assert_gradient(&mut x, &gx, 1e-8, 0.0, |x| loss(x, &y), &format!("{kernel:?} x"));
            assert_gradient(&mut y, &gy, 1e-8, 0.0, |y| loss(&x, y), &format!("{kernel:?} y"));
            // one side at a time gives the same numbers
            let (mut gx1, mut gy1) = (vec![1.0; x.len()], vec![1.0; y.len()]);
            static_kernel_backprop(kernel, &x, s1, &y, s2, &w, 2, Some(&mut gx1), None).unwrap();
            static_kernel_backprop(kernel, &x, s1, &y, s2, &w, 2, None, Some(&mut gy1)).unwrap();
            assert_eq!(gx1, gx);
            assert_eq!(gy1, gy);
        }
    }

    #[test]
    fn non_integer_degree_clamps_negative_bases_and_reports_it() {
        let kernel = StaticKernel::Polynomial { degree: 1.5, gamma: -0.1, scale: 2.0 };
        // bases <x_s, y_t> - 0.1: -0.35 for both pairs with x_0 (clamped), 0.2 and 0.9 with x_1
        let (x, y) = ([-1.0, 0.5, 1.0, 1.0], [0.3, 0.1, 0.5, 0.5]);
        let shape = PathShape::new(1, 2, 2);
        let (delta, report) = deltas(&kernel, &x, shape, &y, shape);
        assert!(report.clamped);
        let k = |a: &[f64], b: &[f64]| 2.0 * (dot(a, b) - 0.1f64).max(0.0).powf(1.5);
        let expected = k(&x[2..], &y[2..]) - k(&x[..2], &y[2..]) - k(&x[2..], &y[..2]) + 0.0;
        assert!((delta[0] - expected).abs() < 1e-14, "{} vs {expected}", delta[0]);
        // clamped pairs send no gradient: none reaches x_0, and x_1 gets
        // w[1, 0] f(x_1, y_0) y_0 + w[1, 1] f(x_1, y_1) y_1 with w[1, 0] = -1, w[1, 1] = 1
        let (mut gx, mut gy) = (vec![0.0; 4], vec![0.0; 4]);
        static_kernel_backprop(&kernel, &x, shape, &y, shape, &[1.0], 1, Some(&mut gx), Some(&mut gy)).unwrap();
        let slope = |a: &[f64], b: &[f64]| 2.0 * 1.5 * (dot(a, b) - 0.1f64).sqrt();
        assert_eq!(&gx[..2], &[0.0, 0.0]);
        for c in 0..2 {
            let expected = -slope(&x[2..], &y[..2]) * y[c] + slope(&x[2..], &y[2..]) * y[2 + c];
            assert!((gx[2 + c] - expected).abs() < 1e-14, "{} vs {expected}", gx[2 + c]);
        }
        // no clamp, no report
        let (_, report) = deltas(&kernel, &[1.0, 1.0, 0.5, 0.5], shape, &y, shape);
        assert!(!report.clamped);
    }

    #[test]
    fn integer_degree_takes_negative_bases_as_they_are() {
        let kernel = StaticKernel::Polynomial { degree: 3.0, gamma: -1.0, scale: 0.5 };
        let (x, y) = ([-1.0, 0.5, 1.0, 1.0, 0.2, -0.7], [0.3, 0.1, 0.5, -0.5]);
        let (s1, s2) = (PathShape::new(1, 3, 2), PathShape::new(1, 2, 2));
        let (delta, report) = deltas(&kernel, &x, s1, &y, s2);
        assert!(!report.clamped);
        let k = |i: usize, j: usize| closed_form(&kernel, &x[2 * i..2 * i + 2], &y[2 * j..2 * j + 2]);
        for (s, got) in delta.iter().enumerate() {
            let expected = k(s + 1, 1) - k(s, 1) - k(s + 1, 0) + k(s, 0);
            assert!((got - expected).abs() < 1e-14, "{got} vs {expected}");
        }
        let (k, clamped) = kappa(&kernel, &x[..2], &y[..2]);
        assert!(!clamped && (k - 0.5 * (-1.25f64).powi(3)).abs() < 1e-15);
    }

    #[test]
    fn degree_zero_is_constant_with_zero_gradient() {
        let kernel = StaticKernel::Polynomial { degree: 0.0, gamma: -3.0, scale: 1.5 };
        let (x, y) = (random(10, &mut 6), random(8, &mut 7));
        let (s1, s2) = (PathShape::new(1, 5, 2), PathShape::new(1, 4, 2));
        assert_eq!(kappa(&kernel, &x[..2], &y[..2]).0, 1.5);
        assert!(deltas(&kernel, &x, s1, &y, s2).0.iter().all(|&v| v == 0.0));
        let (mut gx, mut gy) = (vec![1.0; 10], vec![1.0; 8]);
        static_kernel_backprop(&kernel, &x, s1, &y, s2, &random(12, &mut 8), 1, Some(&mut gx), Some(&mut gy)).unwrap();
        assert!(gx.iter().chain(&gy).all(|&v| v == 0.0));
    }

    #[test]
    fn matern_gradients_stay_finite_where_points_coincide() {
        let x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let shape = PathShape::new(1, 3, 2);
        for kernel in [StaticKernel::Matern12 { sigma: 0.5 }, StaticKernel::Matern32 { sigma: 0.5 }, StaticKernel::Matern52 { sigma: 0.5 }] {
            let (mut gx, mut gy) = (vec![0.0f64; 6], vec![0.0f64; 6]);
            static_kernel_backprop(&kernel, &x, shape, &x, shape, &[1.0, -0.5, 0.25, 2.0], 1, Some(&mut gx), Some(&mut gy)).unwrap();
            assert!(gx.iter().chain(&gy).all(|v| v.is_finite()), "{kernel:?}: {gx:?} {gy:?}");
        }
    }

    #[test]
    fn short_paths_give_empty_deltas_and_zero_gradients() {
        let (x, y) = (random(6, &mut 9), random(12, &mut 10));
        let (s1, s2) = (PathShape::new(2, 1, 3), PathShape::new(2, 2, 3));
        for kernel in &KERNELS {
            let (delta, _) = deltas(kernel, &x, s1, &y, s2);
            assert!(delta.is_empty());
            let (mut gx, mut gy) = (vec![1.0; 6], vec![1.0; 12]);
            static_kernel_backprop(kernel, &x, s1, &y, s2, &[], 1, Some(&mut gx), Some(&mut gy)).unwrap();
            assert!(gx.iter().chain(&gy).all(|&v| v == 0.0));
        }
    }

    #[test]
    fn invalid_parameters_and_shapes_are_rejected() {
        let name = |r: Result<()>| match r {
            Err(SigError::InvalidArgument { name, .. }) => name,
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        assert_eq!(name(StaticKernel::Rbf { sigma: 0.0 }.validate()), "sigma");
        assert_eq!(name(StaticKernel::Matern32 { sigma: f64::NAN }.validate()), "sigma");
        assert_eq!(name(StaticKernel::RationalQuadratic { sigma: 1.0, alpha: -1.0 }.validate()), "alpha");
        assert_eq!(name(StaticKernel::Polynomial { degree: -1.0, gamma: 0.0, scale: 1.0 }.validate()), "degree");
        assert_eq!(name(StaticKernel::Polynomial { degree: 2.0, gamma: f64::INFINITY, scale: 1.0 }.validate()), "gamma");
        assert_eq!(name(StaticKernel::Polynomial { degree: 2.0, gamma: 0.0, scale: -1.0 }.validate()), "scale");
        assert_eq!(name(StaticKernel::Linear { factor: -0.5 }.validate()), "factor");
        assert!(KERNELS.iter().all(|k| k.validate().is_ok()));

        let kernel = StaticKernel::Rbf { sigma: 1.0 };
        let (x, y) = (vec![0.0; 12], vec![0.0; 12]);
        let mut out = vec![0.0; 6];
        let run = |s1: PathShape, s2: PathShape, out: &mut [f64]| static_kernel_deltas(&kernel, &x, s1, &y, s2, 1, out).map(|_| ());
        assert_eq!(name(run(PathShape::new(2, 3, 2), PathShape::new(3, 2, 2), &mut out)), "y");
        assert_eq!(name(run(PathShape::new(2, 3, 2), PathShape::new(2, 2, 3), &mut out)), "y");
        assert!(matches!(run(PathShape::new(2, 3, 2), PathShape::new(2, 4, 2), &mut out), Err(SigError::BufferLength { name: "y", .. })));
        assert!(matches!(run(PathShape::new(2, 3, 2), PathShape::new(2, 3, 2), &mut out[..5]), Err(SigError::BufferLength { name: "out", .. })));
        let shape = PathShape::new(2, 3, 2);
        let r = static_kernel_backprop(&kernel, &x, shape, &y, shape, &[0.0; 8], 1, Some(&mut [0.0; 11]), None);
        assert!(matches!(r, Err(SigError::BufferLength { name: "grad_x", .. })));
        let r = static_kernel_backprop(&kernel, &x, shape, &y, shape, &[0.0; 7], 1, None, None);
        assert!(matches!(r, Err(SigError::BufferLength { name: "derivs", .. })));
    }

    #[test]
    fn f32_agrees_with_f64() {
        let (b, l1, l2, d) = (2, 6, 5, 3);
        let (x, y) = (random(b * l1 * d, &mut 11), random(b * l2 * d, &mut 12));
        let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let w = random(b * (l1 - 1) * (l2 - 1), &mut 13);
        for kernel in &KERNELS {
            let (delta, _) = deltas(kernel, &x, s1, &y, s2);
            let mut delta32 = vec![0.0f32; delta.len()];
            static_kernel_deltas(kernel, &f32s(&x), s1, &f32s(&y), s2, 1, &mut delta32).unwrap();
            // double increments are differences of values near 1: compare on their scale
            let size = delta.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in delta32.iter().zip(&delta) {
                assert!((f64::from(*a) - b).abs() < 1e-5 * (1.0 + size), "{kernel:?}: {a} vs {b}");
            }
            let mut gx = vec![0.0; x.len()];
            static_kernel_backprop(kernel, &x, s1, &y, s2, &w, 1, Some(&mut gx), None).unwrap();
            let mut gx32 = vec![0.0f32; x.len()];
            static_kernel_backprop(kernel, &f32s(&x), s1, &f32s(&y), s2, &f32s(&w), 1, Some(&mut gx32), None).unwrap();
            close(&gx32.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), &gx, 1e-4);
        }
    }
}
