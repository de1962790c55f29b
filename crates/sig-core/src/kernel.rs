//! Signature kernels: `k(x, y) = <S(x), S(y)>` by the Goursat PDE
//! `d^2 k / ds dt = <dx_s, dy_t> k`, without forming signatures.
//!
//! Each cell `(i, j)` of the grid has a double increment `delta[i, j]`: the
//! static kernel's `k(x_{i+1}, y_{j+1}) - k(x_{i+1}, y_j) - k(x_i, y_{j+1}) +
//! k(x_i, y_j)`, which for the linear kernel is `<dx_i, dy_j>`. They are
//! given by the caller ([`Increments::Given`]) or formed here from the paths
//! and a [`StaticKernel`] ([`Increments::Paths`]), a group of pairs at a
//! time, so each worker holds one group's double increments, never the
//! batch's. The grid is
//! refined `2^l1 x 2^l2` times (`dyadic_order`), each fine cell taking
//! `a = delta / 2^(l1 + l2)`, and solved by the second-order scheme
//!
//! `k[r+1, c+1] = (k[r+1, c] + k[r, c+1]) (1 + a/2 + a^2/12) - k[r, c] (1 - a^2/12)`
//!
//! from `k = 1` on the first row and column: pysiglib's and sigkernel's
//! numbers at the same order. The scheme's coefficients depend only on the
//! coarse cell, so they are computed once per coarse row.
//!
//! Pairs are solved [`LANES`] at a time, lane-interleaved: the recurrence
//! along a row is a chain of dependent operations, and four independent
//! pairs make each link one vector instruction. The backward pass is the
//! adjoint of the scheme, swept from the last cell back, over a forward grid
//! recomputed into per-worker scratch (or copied from a `k_grid` the caller
//! kept).
//!
//! The row loops check for stop requests ([`crate::interrupt`]): a single
//! pair of long paths is one work item, so the batch runners' checks
//! between items would come too late.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::batch::for_each_item;
use crate::error::{check_len, Result, SigError};
use crate::interrupt::Checkpoint;
use crate::signature::PathShape;
use crate::simd::fmadd;
use crate::static_kernel::{KernelReport, PointKernel, Points, StaticKernel};
use crate::transform::PathTransform;
use crate::{from_usize, Float};

const LANES: usize = 8;
type Lanes<T> = [T; LANES];

/// Dyadic refinement of each side of the grid: `2^first` fine steps per
/// increment of the first path, `2^second` per increment of the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DyadicOrder {
    pub first: u32,
    pub second: u32,
}

impl DyadicOrder {
    fn validate(&self) -> Result<()> {
        // 2^20 fine steps per increment is far beyond any use and keeps shifts safe.
        for (name, v) in [("dyadic_order", self.first), ("dyadic_order", self.second)] {
            if v > 20 {
                return Err(SigError::invalid(name, "an order of at most 20", v));
            }
        }
        Ok(())
    }
}

/// Points of the refined grid along a side with `length` points (0 for an
/// empty path): `2^order (length - 1) + 1`.
pub fn grid_length(length: usize, order: u32) -> usize {
    if length == 0 {
        0
    } else {
        ((length - 1) << order) + 1
    }
}

/// The grid's shape for one pair: coarse cells and refinement.
#[derive(Debug, Clone, Copy)]
struct Grid {
    /// Coarse cells along each side (increments of each path).
    n1: usize,
    n2: usize,
    order: DyadicOrder,
}

impl Grid {
    fn rows(&self) -> usize {
        (self.n1 << self.order.first) + 1
    }
    fn cols(&self) -> usize {
        (self.n2 << self.order.second) + 1
    }
    fn cells(&self) -> usize {
        self.rows() * self.cols()
    }
    /// `1 / 2^(l1 + l2)`: a fine cell's share of its coarse double increment.
    fn scale<T: Float>(&self) -> T {
        T::one() / from_usize::<T>(1usize << (self.order.first + self.order.second))
    }
}

/// What the caller asks of the forward pass for each pair.
pub enum KernelOut<'a, T> {
    /// `k(x, y)`: one number per pair.
    Values(&'a mut [T]),
    /// The whole refined grid per pair (`rows * cols`, row-major).
    Grids(&'a mut [T]),
}

/// Per-worker scratch for one group of pairs.
struct Scratch<T> {
    /// Double increments of the group, `n1 * n2` lane groups.
    delta: Vec<Lanes<T>>,
    /// Scheme coefficients of one coarse row: `(A, B)` per coarse column.
    coef: Vec<(Lanes<T>, Lanes<T>)>,
    /// Two rows of the fine grid (forward), or the whole grid (backward).
    rows: Vec<Lanes<T>>,
    /// Adjoint rows (backward).
    g_rows: Vec<Lanes<T>>,
    /// Gradient of the double increments (backward).
    g_delta: Vec<Lanes<T>>,
    /// `dA/da` and `-dB/da` of one coarse row (backward).
    slopes: Vec<(Lanes<T>, Lanes<T>)>,
    /// Transformed increments of one path of each side (linear kernel).
    dx: Vec<T>,
    incr1: Vec<T>,
    incr2: Vec<T>,
    lanes1: Vec<Lanes<T>>,
    lanes2: Vec<Lanes<T>>,
    /// Gradient of one side's increments, lane-interleaved (backward).
    g_lanes: Vec<Lanes<T>>,
    /// Transformed points of each side, lane-interleaved, and one point
    /// (other static kernels).
    pts1: Vec<Lanes<T>>,
    pts2: Vec<Lanes<T>>,
    point: Vec<T>,
    /// Rows of kernel values or derivative factors (other static kernels).
    k_rows: Vec<T>,
    /// Gradients of the transformed points, lane-interleaved (backward).
    g_pts1: Vec<Lanes<T>>,
    g_pts2: Vec<Lanes<T>>,
}

impl<T: Float> Scratch<T> {
    fn new() -> Self {
        Scratch {
            delta: Vec::new(),
            coef: Vec::new(),
            rows: Vec::new(),
            g_rows: Vec::new(),
            g_delta: Vec::new(),
            slopes: Vec::new(),
            dx: Vec::new(),
            incr1: Vec::new(),
            incr2: Vec::new(),
            lanes1: Vec::new(),
            lanes2: Vec::new(),
            g_lanes: Vec::new(),
            pts1: Vec::new(),
            pts2: Vec::new(),
            point: Vec::new(),
            k_rows: Vec::new(),
            g_pts1: Vec::new(),
            g_pts2: Vec::new(),
        }
    }
}

#[inline(always)]
fn lanes<T: Float>(v: T) -> Lanes<T> {
    [v; LANES]
}

/// Coefficients `A = 1 + a/2 + a^2/12`, `B = 1 - a^2/12` of coarse row `i`.
fn row_coefficients<T: Float>(grid: &Grid, delta: &[Lanes<T>], i: usize, coef: &mut [(Lanes<T>, Lanes<T>)]) {
    let (half, twelfth, scale) = (T::from_f64(0.5).unwrap(), T::one() / from_usize::<T>(12), grid.scale::<T>());
    for (j, (a_co, b_co)) in coef.iter_mut().enumerate() {
        let d = &delta[i * grid.n2 + j];
        for l in 0..LANES {
            let a = d[l] * scale;
            let a2 = a * a * twelfth;
            a_co[l] = T::one() + a * half + a2;
            b_co[l] = T::one() - a2;
        }
    }
}

/// One fine row: `cur[c + 1] = (cur[c] + prev[c + 1]) A - prev[c] B`.
#[inline(always)]
fn solve_row_body<T: Float, const FMA: bool>(prev: &[Lanes<T>], cur: &mut [Lanes<T>], coef: &[(Lanes<T>, Lanes<T>)], step2: usize) {
    cur[0] = lanes(T::one());
    let mut left = lanes(T::one());
    for c in 0..cur.len() - 1 {
        let (a_co, b_co) = &coef[c / step2];
        let (up, diag) = (&prev[c + 1], &prev[c]);
        for l in 0..LANES {
            left[l] = fmadd::<T, FMA>(left[l] + up[l], a_co[l], -(diag[l] * b_co[l]));
        }
        cur[c + 1] = left;
    }
}

crate::simd::fma_dispatched! {
    fn solve_row<T>(prev: &[Lanes<T>], cur: &mut [Lanes<T>], coef: &[(Lanes<T>, Lanes<T>)], step2: usize) = solve_row_body;
}

/// Work of one fine row (per cell: a few operations on each lane), for
/// [`Checkpoint`]s.
fn row_work(cols: usize) -> usize {
    cols * LANES * 8
}

/// Solves the group's PDE. With `keep_grid`, `scratch.rows` ends holding the
/// whole fine grid; otherwise only two rows are kept and the last row is in
/// `scratch.rows[..cols]` at the end. `Err(Interrupted)` when asked to stop.
fn solve_forward<T: Float>(grid: &Grid, scratch: &mut Scratch<T>, keep_grid: bool) -> Result<()> {
    let (rows, cols) = (grid.rows(), grid.cols());
    let Scratch { delta, coef, rows: buf, .. } = scratch;
    coef.resize(grid.n2, (lanes(T::zero()), lanes(T::zero())));
    buf.clear();
    buf.resize(if keep_grid { rows * cols } else { 2 * cols }, lanes(T::one()));
    let step2 = 1usize << grid.order.second;
    let mut checkpoint = Checkpoint::new(row_work(cols));
    for r in 0..rows - 1 {
        if checkpoint.tick() {
            return Err(SigError::Interrupted);
        }
        let i = r >> grid.order.first;
        if r & ((1usize << grid.order.first) - 1) == 0 {
            row_coefficients(grid, delta, i, coef);
        }
        let (prev, cur) = if keep_grid {
            let (lo, hi) = buf.split_at_mut((r + 1) * cols);
            (&lo[r * cols..], &mut hi[..cols])
        } else {
            let (lo, hi) = buf.split_at_mut(cols);
            if r % 2 == 0 {
                (&*lo, &mut hi[..])
            } else {
                (&*hi, &mut lo[..])
            }
        };
        solve_row(prev, cur, coef, step2);
    }
    if !keep_grid && (rows - 1) % 2 == 1 {
        // the last row sits in the second half: move it first
        let (lo, hi) = buf.split_at_mut(cols);
        lo.copy_from_slice(&hi[..cols]);
    }
    Ok(())
}

/// The adjoint of [`solve_forward`]: from the gradient of the grid (its last
/// point, or every point), the gradient of the double increments, written
/// into `scratch.g_delta` (`n1 * n2`). `scratch.rows` holds the whole grid.
/// `Err(Interrupted)` when asked to stop.
fn solve_backward<T: Float>(grid: &Grid, scratch: &mut Scratch<T>, grad_in: &dyn Fn(usize, usize) -> Lanes<T>, whole_grid_grad: bool) -> Result<()> {
    let (rows, cols) = (grid.rows(), grid.cols());
    let Scratch { delta, coef, rows: k, g_rows, g_delta, slopes, .. } = scratch;
    coef.resize(grid.n2, (lanes(T::zero()), lanes(T::zero())));
    g_delta.clear();
    g_delta.resize(grid.n1 * grid.n2, lanes(T::zero()));
    // g_rows: the adjoint of fine row r + 1 (upper) and of row r (lower).
    g_rows.clear();
    g_rows.resize(2 * cols, lanes(T::zero()));
    let (upper, lower) = g_rows.split_at_mut(cols);
    if whole_grid_grad {
        for (c, g) in upper.iter_mut().enumerate() {
            *g = grad_in(rows - 1, c);
        }
    } else {
        upper[cols - 1] = grad_in(rows - 1, cols - 1);
    }
    let (half, sixth, scale) = (T::from_f64(0.5).unwrap(), T::one() / from_usize::<T>(6), grid.scale::<T>());
    let step2 = 1usize << grid.order.second;
    // per coarse column of the current coarse row: dA/da = 1/2 + a/6 and -dB/da = a/6
    slopes.clear();
    slopes.resize(grid.n2, (lanes(T::zero()), lanes(T::zero())));
    let (mut upper, mut lower) = (upper, lower);
    let mut checkpoint = Checkpoint::new(2 * row_work(cols));
    for r in (0..rows - 1).rev() {
        if checkpoint.tick() {
            return Err(SigError::Interrupted);
        }
        let i = r >> grid.order.first;
        if r == rows - 2 || (r + 1) & ((1usize << grid.order.first) - 1) == 0 {
            row_coefficients(grid, delta, i, coef);
            for (j, (da, db)) in slopes.iter_mut().enumerate() {
                let d = &delta[i * grid.n2 + j];
                for l in 0..LANES {
                    let a6 = d[l] * scale * sixth;
                    da[l] = half + a6;
                    db[l] = a6;
                }
            }
        }
        for (c, g) in lower.iter_mut().enumerate() {
            *g = if whole_grid_grad { grad_in(r, c) } else { lanes(T::zero()) };
        }
        let (krow, knext) = (&k[r * cols..(r + 1) * cols], &k[(r + 1) * cols..(r + 2) * cols]);
        backward_row(krow, knext, upper, lower, coef, slopes, &mut g_delta[i * grid.n2..(i + 1) * grid.n2], step2);
        std::mem::swap(&mut upper, &mut lower);
    }
    for g in g_delta.iter_mut() {
        for v in g.iter_mut() {
            *v *= scale;
        }
    }
    Ok(())
}

/// The adjoint of one fine row of the scheme, last cell first: sends the
/// gradient of row `r + 1` (`upper`) to row `r` (`lower`), to the left
/// neighbours in `upper`, and (unscaled) to the coarse increments.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_row_body<T: Float, const FMA: bool>(
    krow: &[Lanes<T>],
    knext: &[Lanes<T>],
    upper: &mut [Lanes<T>],
    lower: &mut [Lanes<T>],
    coef: &[(Lanes<T>, Lanes<T>)],
    slopes: &[(Lanes<T>, Lanes<T>)],
    g_delta: &mut [Lanes<T>],
    step2: usize,
) {
    let cols = krow.len();
    for c in (0..cols - 1).rev() {
        let j = c / step2;
        let ((a_co, b_co), (da, db)) = (&coef[j], &slopes[j]);
        let g = upper[c + 1];
        let (left, up, diag) = (&knext[c], &krow[c + 1], &krow[c]);
        let gd = &mut g_delta[j];
        for l in 0..LANES {
            let sum = left[l] + up[l];
            gd[l] = fmadd::<T, FMA>(g[l], fmadd::<T, FMA>(sum, da[l], diag[l] * db[l]), gd[l]);
            let ga = g[l] * a_co[l];
            upper[c][l] += ga;
            lower[c + 1][l] += ga;
            lower[c][l] = fmadd::<T, FMA>(-g[l], b_co[l], lower[c][l]);
        }
    }
}

crate::simd::fma_dispatched! {
    fn backward_row<T>(
        krow: &[Lanes<T>],
        knext: &[Lanes<T>],
        upper: &mut [Lanes<T>],
        lower: &mut [Lanes<T>],
        coef: &[(Lanes<T>, Lanes<T>)],
        slopes: &[(Lanes<T>, Lanes<T>)],
        g_delta: &mut [Lanes<T>],
        step2: usize,
    ) = backward_row_body;
}

/// Gradients of one side's increments from those of the double increments
/// (`n1 x n2`): `g[i] = sum_j g_delta[i, j] other[j]`, or with `transposed`
/// `g[j] = sum_i g_delta[i, j] other[i]`; rows of `d` lane groups.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn increment_grads_body<T: Float, const FMA: bool>(
    g_delta: &[Lanes<T>],
    other: &[Lanes<T>],
    n1: usize,
    n2: usize,
    d: usize,
    transposed: bool,
    g: &mut [Lanes<T>],
) {
    for i in 0..n1 {
        for j in 0..n2 {
            let w = &g_delta[i * n2 + j];
            let (src, dst) = if transposed { (i, j) } else { (j, i) };
            let (o, gd) = (&other[src * d..(src + 1) * d], &mut g[dst * d..(dst + 1) * d]);
            for (a, v) in gd.iter_mut().zip(o) {
                for l in 0..LANES {
                    a[l] = fmadd::<T, FMA>(w[l], v[l], a[l]);
                }
            }
        }
    }
}

crate::simd::fma_dispatched! {
    fn increment_grads<T>(g_delta: &[Lanes<T>], other: &[Lanes<T>], n1: usize, n2: usize, d: usize, transposed: bool, g: &mut [Lanes<T>]) = increment_grads_body;
}

/// The pairs of a batch, [`LANES`] at a time.
struct Group {
    start: usize,
    count: usize,
}

fn groups(batch: usize) -> Vec<Group> {
    (0..batch.div_ceil(LANES)).map(|g| Group { start: g * LANES, count: LANES.min(batch - g * LANES) }).collect()
}

/// Where the double increments of each pair come from.
pub enum Increments<'a, T> {
    /// Given, `(batch, n1, n2)`: what a static kernel returned.
    Given(&'a [T]),
    /// A static kernel of two batches of paths, `(batch, length, dim)`
    /// each, after a path transform (applied to the points, so the kernel
    /// sees the transformed paths). The linear kernel is the inner product
    /// of the transformed increments, times its factor.
    Paths {
        paths1: &'a [T],
        paths2: &'a [T],
        shape1: PathShape,
        shape2: PathShape,
        transform: PathTransform,
        kernel: StaticKernel,
    },
}

/// Two batches of paths and their transform.
#[derive(Clone, Copy)]
struct PathPair<'a, T> {
    paths1: &'a [T],
    paths2: &'a [T],
    shape1: PathShape,
    shape2: PathShape,
    transform: PathTransform,
}

/// [`Increments`] with the kernel's parameters converted to `T`, once per call.
enum Source<'a, T> {
    Given(&'a [T]),
    /// The linear kernel: `scale <dx_i, dy_j>`.
    Linear { pair: PathPair<'a, T>, scale: T },
    /// Any other static kernel, from the points.
    Points { pair: PathPair<'a, T>, kernel: PointKernel<T> },
}

impl<'a, T: Float> Increments<'a, T> {
    fn source(&self) -> Source<'a, T> {
        match *self {
            Increments::Given(delta) => Source::Given(delta),
            Increments::Paths { paths1, paths2, shape1, shape2, transform, kernel } => {
                let pair = PathPair { paths1, paths2, shape1, shape2, transform };
                match kernel {
                    StaticKernel::Linear { factor } => Source::Linear { pair, scale: T::from_f64(factor).unwrap_or_else(T::nan) },
                    other => Source::Points { pair, kernel: PointKernel::new(&other).expect("every kernel but the linear one has a point form") },
                }
            }
        }
    }
}

/// About how much work (operations) of the linear kernel's double
/// increments one `dot_rows` call does: whole rows between stop checks,
/// enough of them that the call's dispatch costs nothing.
const DOT_BLOCK_WORK: usize = 1 << 16;

impl<T: Float> Source<'_, T> {
    /// Fills `scratch.delta` for the pairs of `group`; true when a
    /// polynomial base was clamped. `Err(Interrupted)` when asked to stop.
    fn load(&self, grid: &Grid, group: &Group, scratch: &mut Scratch<T>) -> Result<bool> {
        let (n1, n2) = (grid.n1, grid.n2);
        scratch.delta.clear();
        scratch.delta.resize(n1 * n2, lanes(T::zero()));
        match self {
            Source::Given(delta) => {
                for lane in 0..group.count {
                    let b = group.start + lane;
                    for (cell, &v) in scratch.delta.iter_mut().zip(&delta[b * n1 * n2..(b + 1) * n1 * n2]) {
                        cell[lane] = v;
                    }
                }
                Ok(false)
            }
            Source::Linear { pair, scale } => {
                let PathPair { paths1, paths2, shape1, shape2, transform } = *pair;
                let d = transform.out_dim(shape1.dim);
                let Scratch { delta, dx, incr1, incr2, lanes1, lanes2, .. } = scratch;
                dx.resize(d, T::zero());
                incr1.resize(n1 * d, T::zero());
                incr2.resize(n2 * d, T::zero());
                // increments lane-interleaved, so each inner product is
                // `d` vector multiply-adds over the group's pairs
                lanes1.clear();
                lanes1.resize(n1 * d, lanes(T::zero()));
                lanes2.clear();
                lanes2.resize(n2 * d, lanes(T::zero()));
                for lane in 0..group.count {
                    let b = group.start + lane;
                    load_increments(paths1, shape1, transform, b, dx, incr1);
                    load_increments(paths2, shape2, transform, b, dx, incr2);
                    for (cell, &v) in lanes1.iter_mut().zip(incr1.iter()) {
                        cell[lane] = v;
                    }
                    for (cell, &v) in lanes2.iter_mut().zip(incr2.iter()) {
                        cell[lane] = v;
                    }
                }
                if d > 0 {
                    let row_work = n2 * d * LANES * 2;
                    let block = (DOT_BLOCK_WORK / row_work.max(1)).max(1);
                    let mut checkpoint = Checkpoint::new(block * row_work);
                    for (x, out) in lanes1.chunks(block * d).zip(delta.chunks_mut(block * n2)) {
                        if checkpoint.tick() {
                            return Err(SigError::Interrupted);
                        }
                        dot_rows(x, lanes2, d, *scale, out);
                    }
                }
                Ok(false)
            }
            Source::Points { pair, kernel } => {
                let PathPair { paths1, paths2, shape1, shape2, transform } = *pair;
                let d = transform.out_dim(shape1.dim);
                let Scratch { delta, pts1, pts2, point, k_rows, .. } = scratch;
                load_points(paths1, shape1, transform, group, point, pts1);
                load_points(paths2, shape2, transform, group, point, pts2);
                let x = Points { data: pts1.as_flattened(), len: n1 + 1, dim: d };
                let y = Points { data: pts2.as_flattened(), len: n2 + 1, dim: d };
                kernel.deltas::<LANES>(x, y, group.count, k_rows, delta.as_flattened_mut())
            }
        }
    }
}

/// The transformed points of the paths of `group`, lane-interleaved, into
/// `out` (`out_length * out_dim` lane groups; lanes past the group 0).
fn load_points<T: Float>(paths: &[T], shape: PathShape, transform: PathTransform, group: &Group, point: &mut Vec<T>, out: &mut Vec<Lanes<T>>) {
    let (pl, d) = (shape.path_len(), transform.out_dim(shape.dim));
    let length = transform.out_length(shape.length);
    point.clear();
    point.resize(d, T::zero());
    out.clear();
    out.resize(length * d, lanes(T::zero()));
    for lane in 0..group.count {
        let b = group.start + lane;
        let path = &paths[b * pl..(b + 1) * pl];
        for (p, cells) in out.chunks_exact_mut(d.max(1)).enumerate().take(length) {
            transform.point(path, shape.dim, shape.length, p, point);
            for (cell, &v) in cells.iter_mut().zip(point.iter()) {
                cell[lane] = v;
            }
        }
    }
}

/// `delta[i, j] = scale <x_i, y_j>` lane by lane, for rows of `d` lane groups.
#[inline(always)]
fn dot_rows_body<T: Float, const FMA: bool>(x: &[Lanes<T>], y: &[Lanes<T>], d: usize, scale: T, delta: &mut [Lanes<T>]) {
    let n2 = y.len() / d.max(1);
    for (xi, row) in x.chunks_exact(d).zip(delta.chunks_exact_mut(n2)) {
        for (yj, out) in y.chunks_exact(d).zip(row.iter_mut()) {
            let mut acc = lanes(T::zero());
            for (a, b) in xi.iter().zip(yj) {
                for l in 0..LANES {
                    acc[l] = fmadd::<T, FMA>(a[l], b[l], acc[l]);
                }
            }
            for l in 0..LANES {
                out[l] = acc[l] * scale;
            }
        }
    }
}

crate::simd::fma_dispatched! {
    fn dot_rows<T>(x: &[Lanes<T>], y: &[Lanes<T>], d: usize, scale: T, delta: &mut [Lanes<T>]) = dot_rows_body;
}

/// The transformed increments of path `b` of a batch, row by row.
fn load_increments<T: Float>(paths: &[T], shape: PathShape, transform: PathTransform, b: usize, dx: &mut [T], out: &mut [T]) {
    let pl = shape.path_len();
    let path = &paths[b * pl..(b + 1) * pl];
    let d = dx.len();
    if d == 0 {
        return;
    }
    for (s, row) in out.chunks_exact_mut(d).enumerate() {
        transform.increment(path, shape.dim, shape.length, s, dx);
        row.copy_from_slice(dx);
    }
}

/// Shapes of a batch of pair problems.
#[derive(Debug, Clone, Copy)]
pub struct KernelShape {
    pub batch: usize,
    /// Points of each (transformed) path: the grid has `length - 1` coarse
    /// cells per side.
    pub length1: usize,
    pub length2: usize,
    pub order: DyadicOrder,
}

impl KernelShape {
    fn grid(&self) -> Grid {
        Grid { n1: self.length1.saturating_sub(1), n2: self.length2.saturating_sub(1), order: self.order }
    }
    /// Points of one pair's refined grid.
    pub fn grid_len(&self) -> usize {
        grid_length(self.length1, self.order.first) * grid_length(self.length2, self.order.second)
    }
}

fn check_increments<T: Float>(inc: &Increments<'_, T>, shape: &KernelShape) -> Result<()> {
    match inc {
        Increments::Given(delta) => check_len("delta", delta.len(), shape.batch * shape.length1.saturating_sub(1) * shape.length2.saturating_sub(1)),
        Increments::Paths { paths1, paths2, shape1, shape2, transform, kernel } => {
            shape1.check(paths1)?;
            shape2.check(paths2)?;
            transform.validate()?;
            kernel.validate()?;
            if shape1.dim != shape2.dim {
                return Err(SigError::invalid("path2", format!("paths of dimension {} like path1", shape1.dim), shape2.dim));
            }
            if shape1.batch != shape2.batch {
                return Err(SigError::invalid("path2", format!("a batch of {} paths like path1", shape1.batch), shape2.batch));
            }
            // the grid is sized by `shape`, the increments by the paths
            if shape.batch != shape1.batch {
                return Err(SigError::invalid("batch", format!("the {} pairs of paths", shape1.batch), shape.batch));
            }
            for (name, length, path_length) in [("length1", shape.length1, shape1.length), ("length2", shape.length2, shape2.length)] {
                if length != transform.out_length(path_length) {
                    return Err(SigError::invalid(name, format!("{} transformed points", transform.out_length(path_length)), length));
                }
            }
            Ok(())
        }
    }
}

/// Signature kernels of a batch of pairs, as values or refined grids.
///
/// `shape.length1/length2` are the points of the (transformed) paths; with
/// [`Increments::Given`] the double increments have `(length1 - 1) *
/// (length2 - 1)` entries per pair. A pair with an empty side has kernel 1.
/// The report says whether a polynomial static kernel clamped a base.
///
/// ```
/// use sig_core::kernel::{sig_kernel, DyadicOrder, Increments, KernelOut, KernelShape};
/// // One cell with <dx, dy> = a = 1 at order 0: (1 + 1)(1 + a/2 + a^2/12) - (1 - a^2/12)
/// // = 1 + a + a^2/4 = 2.25 (the exact kernel of two straight lines is e^a = 2.718...).
/// let delta = [1.0_f64];
/// let shape = KernelShape { batch: 1, length1: 2, length2: 2, order: DyadicOrder { first: 0, second: 0 } };
/// let mut out = [0.0];
/// sig_kernel(&Increments::Given(&delta), shape, 1, KernelOut::Values(&mut out)).unwrap();
/// assert!((out[0] - 2.25).abs() < 1e-15);
/// ```
pub fn sig_kernel<T: Float>(inc: &Increments<'_, T>, shape: KernelShape, n_jobs: i64, out: KernelOut<'_, T>) -> Result<KernelReport> {
    shape.order.validate()?;
    check_increments(inc, &shape)?;
    let source = inc.source();
    let grid = shape.grid();
    let grid_len = shape.grid_len();
    let mut groups = groups(shape.batch);
    let work = grid.cells().saturating_mul(4 * LANES);
    let clamped = AtomicBool::new(false);
    // Err from a step is a stop request, which the batch runner reports.
    let load = |group: &Group, scratch: &mut Scratch<T>| -> Result<()> {
        if source.load(&grid, group, scratch)? {
            clamped.store(true, Ordering::Relaxed);
        }
        Ok(())
    };
    match out {
        KernelOut::Values(values) => {
            check_len("out", values.len(), shape.batch)?;
            let mut results: Vec<(Group, Lanes<T>)> = groups.drain(..).map(|g| (g, lanes(T::one()))).collect();
            for_each_item(n_jobs, &mut results, work, Scratch::new, |scratch, _, (group, value)| {
                if grid.n1 == 0 || grid.n2 == 0 {
                    return;
                }
                if load(group, scratch).and_then(|()| solve_forward(&grid, scratch, false)).is_ok() {
                    *value = scratch.rows[grid.cols() - 1];
                }
            })?;
            for (group, value) in &results {
                values[group.start..group.start + group.count].copy_from_slice(&value[..group.count]);
            }
        }
        KernelOut::Grids(grids) => {
            check_len("out", grids.len(), shape.batch * grid_len)?;
            if grid_len == 0 {
                return Ok(KernelReport::default());
            }
            let mut chunks: Vec<(Group, &mut [T])> = groups.into_iter().zip(grids.chunks_mut(LANES * grid_len)).collect();
            for_each_item(n_jobs, &mut chunks, work, Scratch::new, |scratch, _, (group, out)| {
                if grid.n1 == 0 || grid.n2 == 0 {
                    out.fill(T::one());
                    return;
                }
                if load(group, scratch).and_then(|()| solve_forward(&grid, scratch, true)).is_err() {
                    return;
                }
                for (lane, pair) in out.chunks_exact_mut(grid_len).enumerate() {
                    for (o, v) in pair.iter_mut().zip(&scratch.rows) {
                        *o = v[lane];
                    }
                }
            })?;
        }
    }
    Ok(KernelReport { clamped: clamped.into_inner() })
}

/// Gradient of a batch of signature kernels with respect to their double
/// increments (any [`Increments`]) or their paths ([`Increments::Paths`]).
pub enum KernelGrad<'a, T> {
    /// dF/d(delta), `(batch, n1, n2)`.
    Increments(&'a mut [T]),
    /// dF/d(paths1) and/or dF/d(paths2), each `(batch, length, dim)` of the
    /// original (untransformed) paths.
    Paths { grad1: Option<&'a mut [T]>, grad2: Option<&'a mut [T]> },
}

/// Gradient through [`sig_kernel`]: `derivs` is dF/dk per pair (`batch`
/// numbers) or, with `grid_derivs`, dF/d(grid) (`batch * grid_len`).
/// `k_grid`, the forward grids, is recomputed when not given.
#[allow(clippy::too_many_arguments)]
pub fn sig_kernel_backprop<T: Float>(
    inc: &Increments<'_, T>,
    shape: KernelShape,
    derivs: &[T],
    grid_derivs: bool,
    k_grid: Option<&[T]>,
    n_jobs: i64,
    out: KernelGrad<'_, T>,
) -> Result<()> {
    shape.order.validate()?;
    check_increments(inc, &shape)?;
    let source = inc.source();
    let grid = shape.grid();
    let grid_len = shape.grid_len();
    check_len("derivs", derivs.len(), if grid_derivs { shape.batch * grid_len } else { shape.batch })?;
    if let Some(kg) = k_grid {
        check_len("k_grid", kg.len(), shape.batch * grid_len)?;
    }
    let (n1, n2) = (grid.n1, grid.n2);
    let cells = n1 * n2;
    let work = grid.cells().saturating_mul(12 * LANES);
    // Each group writes its own slices of the output.
    type Outs<'b, T> = (Group, Option<&'b mut [T]>, Option<&'b mut [T]>);
    let mut tasks: Vec<Outs<'_, T>> = Vec::new();
    let pair = match &source {
        Source::Given(_) => None,
        Source::Linear { pair, .. } | Source::Points { pair, .. } => Some(*pair),
    };
    let increments_out = matches!(out, KernelGrad::Increments(_));
    match out {
        KernelGrad::Increments(g) => {
            check_len("out", g.len(), shape.batch * cells)?;
            if cells == 0 {
                return Ok(());
            }
            for (group, chunk) in groups(shape.batch).into_iter().zip(g.chunks_mut(LANES * cells)) {
                tasks.push((group, Some(chunk), None));
            }
        }
        KernelGrad::Paths { grad1, grad2 } => {
            let PathPair { shape1: s1, shape2: s2, .. } = pair.ok_or_else(|| SigError::invalid("out", "increment gradients for given increments", "path gradients"))?;
            if grad1.is_none() && grad2.is_none() {
                return Err(SigError::invalid("left_deriv/right_deriv", "at least one side to differentiate", "neither"));
            }
            let (p1, p2) = (s1.path_len(), s2.path_len());
            if let Some(g) = grad1.as_deref() {
                check_len("out1", g.len(), shape.batch * p1)?;
            }
            if let Some(g) = grad2.as_deref() {
                check_len("out2", g.len(), shape.batch * p2)?;
            }
            let mut it1 = grad1.map(|g| g.chunks_mut((LANES * p1).max(1)).collect::<Vec<_>>().into_iter());
            let mut it2 = grad2.map(|g| g.chunks_mut((LANES * p2).max(1)).collect::<Vec<_>>().into_iter());
            for group in groups(shape.batch) {
                let a = it1.as_mut().and_then(|it| it.next());
                let b = it2.as_mut().and_then(|it| it.next());
                tasks.push((group, a, b));
            }
        }
    }
    for_each_item(n_jobs, &mut tasks, work, Scratch::new, |scratch, _, (group, out1, out2)| {
        if let Some(o) = out1.as_deref_mut() {
            o.fill(T::zero());
        }
        if let Some(o) = out2.as_deref_mut() {
            o.fill(T::zero());
        }
        if n1 == 0 || n2 == 0 {
            return;
        }
        // Err from a step is a stop request, which the batch runner reports.
        if source.load(&grid, group, scratch).is_err() {
            return;
        }
        match k_grid {
            Some(kg) => {
                scratch.rows.clear();
                scratch.rows.resize(grid_len, lanes(T::one()));
                for lane in 0..group.count {
                    let b = group.start + lane;
                    for (cell, &v) in scratch.rows.iter_mut().zip(&kg[b * grid_len..(b + 1) * grid_len]) {
                        cell[lane] = v;
                    }
                }
            }
            None => {
                if solve_forward(&grid, scratch, true).is_err() {
                    return;
                }
            }
        }
        let cols = grid.cols();
        let (start, count) = (group.start, group.count);
        let grad_in = |r: usize, c: usize| -> Lanes<T> {
            let mut g = lanes(T::zero());
            for (lane, v) in g.iter_mut().enumerate().take(count) {
                *v = if grid_derivs { derivs[(start + lane) * grid_len + r * cols + c] } else { derivs[start + lane] };
            }
            g
        };
        if solve_backward(&grid, scratch, &grad_in, grid_derivs).is_err() {
            return;
        }
        if increments_out {
            if let Some(o) = out1.as_deref_mut() {
                for (lane, pair) in o.chunks_exact_mut(cells).enumerate() {
                    for (v, g) in pair.iter_mut().zip(&scratch.g_delta) {
                        *v = g[lane];
                    }
                }
            }
            return;
        }
        match &source {
            Source::Given(_) => unreachable!("given increments only have increment gradients"),
            Source::Linear { pair: PathPair { shape1: s1, shape2: s2, transform, .. }, scale } => {
                let (s1, s2, transform, scale) = (*s1, *s2, *transform, *scale);
                let d = transform.out_dim(s1.dim);
                // `load` left the group's increments lane-interleaved in lanes1/lanes2.
                let Scratch { g_delta, dx, lanes1, lanes2, g_lanes, .. } = scratch;
                for (o, n, side) in [(out1.as_deref_mut(), n1, 0), (out2.as_deref_mut(), n2, 1)] {
                    let Some(o) = o.filter(|_| d > 0) else { continue };
                    g_lanes.clear();
                    g_lanes.resize(n * d, lanes(T::zero()));
                    // dF/d(dx_i) = scale sum_j dF/d(delta_ij) dy_j, and the transpose for y
                    increment_grads(g_delta, if side == 0 { lanes2 } else { lanes1 }, n1, n2, d, side == 1, g_lanes);
                    let (shape, pl) = if side == 0 { (s1, s1.path_len()) } else { (s2, s2.path_len()) };
                    for lane in 0..count {
                        let pg = &mut o[lane * pl..(lane + 1) * pl];
                        for (step, row) in g_lanes.chunks_exact(d).enumerate() {
                            for (v, cell) in dx.iter_mut().zip(row) {
                                *v = cell[lane] * scale;
                            }
                            transform.increment_backward(pg, shape.dim, step, dx);
                        }
                    }
                }
            }
            Source::Points { pair: PathPair { shape1: s1, shape2: s2, transform, .. }, kernel } => {
                let (s1, s2, transform) = (*s1, *s2, *transform);
                let d = transform.out_dim(s1.dim);
                // `load` left the group's transformed points lane-interleaved in pts1/pts2.
                let Scratch { g_delta, pts1, pts2, point, k_rows, g_pts1, g_pts2, .. } = scratch;
                let x = Points { data: pts1.as_flattened(), len: n1 + 1, dim: d };
                let y = Points { data: pts2.as_flattened(), len: n2 + 1, dim: d };
                for (g, o, len) in [(&mut *g_pts1, &out1, x.len), (&mut *g_pts2, &out2, y.len)] {
                    g.clear();
                    g.resize(if o.is_some() { len * d } else { 0 }, lanes(T::zero()));
                }
                let (gx, gy) = (out1.is_some().then_some(g_pts1.as_flattened_mut()), out2.is_some().then_some(g_pts2.as_flattened_mut()));
                if kernel.backprop::<LANES>(x, y, count, g_delta.as_flattened(), k_rows, gx, gy).is_err() {
                    return;
                }
                // back through the transform, pair by pair
                for (o, g, shape) in [(out1.as_deref_mut(), &*g_pts1, s1), (out2.as_deref_mut(), &*g_pts2, s2)] {
                    let Some(o) = o.filter(|_| d > 0) else { continue };
                    let pl = shape.path_len();
                    for lane in 0..count {
                        let pg = &mut o[lane * pl..(lane + 1) * pl];
                        for (p, cells) in g.chunks_exact(d).enumerate() {
                            for (v, cell) in point.iter_mut().zip(cells) {
                                *v = cell[lane];
                            }
                            transform.point_backward(pg, shape.dim, p, point);
                        }
                    }
                }
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::static_kernel::{static_kernel_deltas, tests::KERNELS};
    use crate::test_util::{assert_gradient, close, dot, random};
    use crate::{sig, sig_length, transform_path};
    use std::time::{Duration, Instant};

    const TRANSFORMS: [PathTransform; 4] = [
        PathTransform::NONE,
        PathTransform { time_aug: true, lead_lag: false, end_time: 1.5 },
        PathTransform { time_aug: false, lead_lag: true, end_time: 1.0 },
        PathTransform { time_aug: true, lead_lag: true, end_time: 0.8 },
    ];

    fn paths<'a, T>(x: &'a [T], y: &'a [T], shape1: PathShape, shape2: PathShape, transform: PathTransform, kernel: StaticKernel) -> Increments<'a, T> {
        Increments::Paths { paths1: x, paths2: y, shape1, shape2, transform, kernel }
    }

    fn kernel_shape(shape1: PathShape, shape2: PathShape, transform: PathTransform, order: DyadicOrder) -> KernelShape {
        KernelShape { batch: shape1.batch, length1: transform.out_length(shape1.length), length2: transform.out_length(shape2.length), order }
    }

    /// At a high dyadic order the PDE approaches the inner product of the
    /// (here exactly truncatable: small paths) signatures.
    #[test]
    fn approaches_the_signature_inner_product() {
        let (l1, l2, d) = (4, 3, 2);
        let (x, y) = (random(l1 * d, &mut 1), random(l2 * d, &mut 2));
        let n = sig_length(d, 12, true).unwrap();
        let (mut sx, mut sy) = (vec![0.0; n], vec![0.0; n]);
        sig(&x, PathShape::new(1, l1, d), 12, PathTransform::NONE, true, 1, &mut sx).unwrap();
        sig(&y, PathShape::new(1, l2, d), 12, PathTransform::NONE, true, 1, &mut sy).unwrap();
        let exact: f64 = sx.iter().zip(&sy).map(|(a, b)| a * b).sum();
        let inc = Increments::Paths { paths1: &x, paths2: &y, shape1: PathShape::new(1, l1, d), shape2: PathShape::new(1, l2, d), transform: PathTransform::NONE, kernel: StaticKernel::Linear { factor: 1.0 } };
        let mut k = [0.0];
        let shape = KernelShape { batch: 1, length1: l1, length2: l2, order: DyadicOrder { first: 6, second: 6 } };
        sig_kernel(&inc, shape, 1, KernelOut::Values(&mut k)).unwrap();
        assert!((k[0] - exact).abs() < 1e-6, "{} vs {exact}", k[0]);
    }

    /// The grid's last point is the value; both agree with the increments form.
    #[test]
    fn grids_values_and_increments_agree() {
        let (b, l1, l2, d) = (6, 5, 4, 3);
        let (x, y) = (random(b * l1 * d, &mut 3), random(b * l2 * d, &mut 4));
        let transform = PathTransform { time_aug: true, lead_lag: true, end_time: 1.5 };
        let (t1, t2) = (transform.out_length(l1), transform.out_length(l2));
        let order = DyadicOrder { first: 1, second: 2 };
        let shape = KernelShape { batch: b, length1: t1, length2: t2, order };
        let inc = Increments::Paths { paths1: &x, paths2: &y, shape1: PathShape::new(b, l1, d), shape2: PathShape::new(b, l2, d), transform, kernel: StaticKernel::Linear { factor: 0.7 } };
        let mut values = vec![0.0; b];
        sig_kernel(&inc, shape, 2, KernelOut::Values(&mut values)).unwrap();
        let mut grids = vec![0.0; b * shape.grid_len()];
        sig_kernel(&inc, shape, 1, KernelOut::Grids(&mut grids)).unwrap();
        for p in 0..b {
            assert!((grids[(p + 1) * shape.grid_len() - 1] - values[p]).abs() < 1e-14);
        }
        // the same through given increments
        let (n1, n2, dd) = (t1 - 1, t2 - 1, transform.out_dim(d));
        let mut delta = vec![0.0; b * n1 * n2];
        let mut dx = vec![0.0; dd];
        let (mut i1, mut i2) = (vec![0.0; n1 * dd], vec![0.0; n2 * dd]);
        for p in 0..b {
            load_increments(&x, PathShape::new(b, l1, d), transform, p, &mut dx, &mut i1);
            load_increments(&y, PathShape::new(b, l2, d), transform, p, &mut dx, &mut i2);
            for i in 0..n1 {
                for j in 0..n2 {
                    delta[(p * n1 + i) * n2 + j] = 0.7 * (0..dd).map(|c| i1[i * dd + c] * i2[j * dd + c]).sum::<f64>();
                }
            }
        }
        let mut given = vec![0.0; b];
        sig_kernel(&Increments::Given(&delta), shape, 1, KernelOut::Values(&mut given)).unwrap();
        for p in 0..b {
            assert!((given[p] - values[p]).abs() < 1e-14);
        }
    }

    /// Both sides' gradients against central differences.
    #[test]
    fn backprop_matches_finite_differences() {
        let (b, l1, l2, d) = (5, 4, 5, 2);
        let (mut x, mut y) = (random(b * l1 * d, &mut 5), random(b * l2 * d, &mut 6));
        let transform = PathTransform { time_aug: true, lead_lag: false, end_time: 1.0 };
        let order = DyadicOrder { first: 1, second: 0 };
        let shape = KernelShape { batch: b, length1: l1, length2: l2, order };
        let w = random(b, &mut 7);
        let loss = |x: &[f64], y: &[f64]| {
            let inc = Increments::Paths { paths1: x, paths2: y, shape1: PathShape::new(b, l1, d), shape2: PathShape::new(b, l2, d), transform, kernel: StaticKernel::Linear { factor: 1.0 } };
            let mut k = vec![0.0; b];
            sig_kernel(&inc, shape, 1, KernelOut::Values(&mut k)).unwrap();
            k.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>()
        };
        let (mut g1, mut g2) = (vec![0.0; x.len()], vec![0.0; y.len()]);
        {
            let inc = Increments::Paths { paths1: &x, paths2: &y, shape1: PathShape::new(b, l1, d), shape2: PathShape::new(b, l2, d), transform, kernel: StaticKernel::Linear { factor: 1.0 } };
            sig_kernel_backprop(&inc, shape, &w, false, None, 2, KernelGrad::Paths { grad1: Some(&mut g1), grad2: Some(&mut g2) }).unwrap();
        }
        assert_gradient(&mut x, &g1, 1e-8, 0.0, |x| loss(x, &y), "x");
        assert_gradient(&mut y, &g2, 1e-8, 0.0, |y| loss(&x, y), "y");
    }

    /// The fused static kernels give what their double increments, computed
    /// separately from the transformed paths, give as `Given`: values,
    /// grids and gradients of the double increments.
    #[test]
    fn paths_match_given_deltas_of_the_transformed_paths() {
        let (b, l1, l2, d) = (11, 4, 5, 2);
        let (x, y) = (random(b * l1 * d, &mut 31), random(b * l2 * d, &mut 32));
        let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
        for kernel in KERNELS {
            for transform in TRANSFORMS {
                let (t1, t2, dd) = (transform.out_length(l1), transform.out_length(l2), transform.out_dim(d));
                let (mut tx, mut ty) = (vec![0.0; b * t1 * dd], vec![0.0; b * t2 * dd]);
                transform_path(&x, s1, transform, 1, &mut tx).unwrap();
                transform_path(&y, s2, transform, 1, &mut ty).unwrap();
                let mut delta = vec![0.0; b * (t1 - 1) * (t2 - 1)];
                static_kernel_deltas(&kernel, &tx, PathShape::new(b, t1, dd), &ty, PathShape::new(b, t2, dd), 1, &mut delta).unwrap();
                for order in [DyadicOrder { first: 1, second: 0 }, DyadicOrder { first: 0, second: 0 }, DyadicOrder { first: 0, second: 2 }] {
                    let shape = kernel_shape(s1, s2, transform, order);
                    let (mut fused, mut given) = (vec![0.0; b], vec![0.0; b]);
                    sig_kernel(&paths(&x, &y, s1, s2, transform, kernel), shape, 2, KernelOut::Values(&mut fused)).unwrap();
                    sig_kernel(&Increments::Given(&delta), shape, 1, KernelOut::Values(&mut given)).unwrap();
                    close(&fused, &given, 1e-13);
                    let (mut fused, mut given) = (vec![0.0; b * shape.grid_len()], vec![0.0; b * shape.grid_len()]);
                    sig_kernel(&paths(&x, &y, s1, s2, transform, kernel), shape, 1, KernelOut::Grids(&mut fused)).unwrap();
                    sig_kernel(&Increments::Given(&delta), shape, 2, KernelOut::Grids(&mut given)).unwrap();
                    close(&fused, &given, 1e-13);
                    let w = random(b, &mut 30);
                    let (mut fused, mut given) = (vec![0.0; delta.len()], vec![0.0; delta.len()]);
                    sig_kernel_backprop(&paths(&x, &y, s1, s2, transform, kernel), shape, &w, false, None, 1, KernelGrad::Increments(&mut fused)).unwrap();
                    sig_kernel_backprop(&Increments::Given(&delta), shape, &w, false, None, 1, KernelGrad::Increments(&mut given)).unwrap();
                    close(&fused, &given, 1e-12);
                }
            }
        }
    }

    /// Path gradients of every static kernel, through every transform,
    /// against central differences of `sig_kernel`.
    #[test]
    fn path_gradients_match_finite_differences_for_every_static_kernel() {
        let (b, l1, l2, d) = (3, 4, 3, 2);
        let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
        let order = DyadicOrder { first: 1, second: 0 };
        let w = random(b, &mut 33);
        for kernel in KERNELS {
            for transform in TRANSFORMS {
                let (mut x, mut y) = (random(b * l1 * d, &mut 34), random(b * l2 * d, &mut 35));
                let shape = kernel_shape(s1, s2, transform, order);
                let loss = |x: &[f64], y: &[f64]| {
                    let mut k = vec![0.0; b];
                    sig_kernel(&paths(x, y, s1, s2, transform, kernel), shape, 1, KernelOut::Values(&mut k)).unwrap();
                    dot(&k, &w)
                };
                let (mut g1, mut g2) = (vec![0.0; x.len()], vec![0.0; y.len()]);
                sig_kernel_backprop(&paths(&x, &y, s1, s2, transform, kernel), shape, &w, false, None, 2, KernelGrad::Paths { grad1: Some(&mut g1), grad2: Some(&mut g2) }).unwrap();
                // round-off in the differences grows with the loss (~1000 for the cubic with time)
                let slack = 1e-9 * loss(&x, &y).abs();
                let what = format!("{kernel:?} {transform:?}");
                assert_gradient(&mut x, &g1, 1e-8, slack, |x| loss(x, &y), &format!("{what} x"));
                assert_gradient(&mut y, &g2, 1e-8, slack, |y| loss(&x, y), &format!("{what} y"));
                // one side alone gives the same numbers
                let mut g1_only = vec![0.0; x.len()];
                sig_kernel_backprop(&paths(&x, &y, s1, s2, transform, kernel), shape, &w, false, None, 1, KernelGrad::Paths { grad1: Some(&mut g1_only), grad2: None }).unwrap();
                assert_eq!(g1_only, g1);
            }
        }
    }

    /// With gradients of the whole grid, and the forward grid passed in
    /// instead of recomputed.
    #[test]
    fn grid_gradients_of_static_kernels_match_finite_differences() {
        let (b, l1, l2, d) = (2, 3, 4, 2);
        let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
        let transform = TRANSFORMS[3];
        let shape = kernel_shape(s1, s2, transform, DyadicOrder { first: 0, second: 1 });
        let w = random(b * shape.grid_len(), &mut 36);
        for kernel in KERNELS {
            let (mut x, y) = (random(b * l1 * d, &mut 37), random(b * l2 * d, &mut 38));
            let grids = |x: &[f64]| {
                let mut g = vec![0.0; b * shape.grid_len()];
                sig_kernel(&paths(x, &y, s1, s2, transform, kernel), shape, 1, KernelOut::Grids(&mut g)).unwrap();
                g
            };
            let k_grid = grids(&x);
            let mut g1 = vec![0.0; x.len()];
            sig_kernel_backprop(&paths(&x, &y, s1, s2, transform, kernel), shape, &w, true, Some(&k_grid), 1, KernelGrad::Paths { grad1: Some(&mut g1), grad2: None }).unwrap();
            assert_gradient(&mut x, &g1, 1e-8, 0.0, |x| dot(&grids(x), &w), &format!("{kernel:?}"));
        }
    }

    #[test]
    fn f32_agrees_with_f64_for_every_static_kernel() {
        let (b, l1, l2, d) = (5, 6, 5, 3);
        let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
        let (x, y, w) = (random(b * l1 * d, &mut 39), random(b * l2 * d, &mut 40), random(b, &mut 41));
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let f64s = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
        let (x32, y32, w32) = (f32s(&x), f32s(&y), f32s(&w));
        for kernel in KERNELS {
            for transform in TRANSFORMS {
                let shape = kernel_shape(s1, s2, transform, DyadicOrder { first: 1, second: 0 });
                let (mut k, mut k32) = (vec![0.0; b], vec![0.0f32; b]);
                sig_kernel(&paths(&x, &y, s1, s2, transform, kernel), shape, 1, KernelOut::Values(&mut k)).unwrap();
                sig_kernel(&paths(&x32, &y32, s1, s2, transform, kernel), shape, 1, KernelOut::Values(&mut k32)).unwrap();
                close(&f64s(&k32), &k, 1e-4);
                let (mut g, mut g32) = (vec![0.0; y.len()], vec![0.0f32; y.len()]);
                sig_kernel_backprop(&paths(&x, &y, s1, s2, transform, kernel), shape, &w, false, None, 1, KernelGrad::Paths { grad1: None, grad2: Some(&mut g) }).unwrap();
                sig_kernel_backprop(&paths(&x32, &y32, s1, s2, transform, kernel), shape, &w32, false, None, 1, KernelGrad::Paths { grad1: None, grad2: Some(&mut g32) }).unwrap();
                close(&f64s(&g32), &g, 1e-4);
            }
        }
    }

    /// The linear kernel keeps the fused path: inner products of the
    /// transformed increments (not double differences of `factor <x, y>`),
    /// so it gives exactly what those inner products give as `Given`.
    #[test]
    fn linear_kernel_through_paths_is_the_fused_inner_product_bit_for_bit() {
        let (b, l1, l2, d) = (9, 5, 4, 3);
        let (x, y) = (random(b * l1 * d, &mut 42), random(b * l2 * d, &mut 43));
        let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
        for factor in [1.0, 0.49] {
            for transform in TRANSFORMS {
                let shape = kernel_shape(s1, s2, transform, DyadicOrder { first: 1, second: 2 });
                let (n1, n2, dd) = (shape.length1 - 1, shape.length2 - 1, transform.out_dim(d));
                let mut delta = vec![0.0; b * n1 * n2];
                let (mut dx, mut i1, mut i2) = (vec![0.0; dd], vec![0.0; n1 * dd], vec![0.0; n2 * dd]);
                let one_lane = |v: &[f64]| v.iter().map(|&a| { let mut l = lanes(0.0); l[0] = a; l }).collect::<Vec<_>>();
                let mut out = vec![lanes(0.0); n1 * n2];
                for p in 0..b {
                    load_increments(&x, s1, transform, p, &mut dx, &mut i1);
                    load_increments(&y, s2, transform, p, &mut dx, &mut i2);
                    dot_rows(&one_lane(&i1), &one_lane(&i2), dd, factor, &mut out);
                    for (o, v) in delta[p * n1 * n2..(p + 1) * n1 * n2].iter_mut().zip(&out) {
                        *o = v[0];
                    }
                }
                let kernel = StaticKernel::Linear { factor };
                let (mut fused, mut given) = (vec![0.0; b], vec![0.0; b]);
                sig_kernel(&paths(&x, &y, s1, s2, transform, kernel), shape, 1, KernelOut::Values(&mut fused)).unwrap();
                sig_kernel(&Increments::Given(&delta), shape, 1, KernelOut::Values(&mut given)).unwrap();
                assert_eq!(fused, given);
                let (mut fused, mut given) = (vec![0.0; b * shape.grid_len()], vec![0.0; b * shape.grid_len()]);
                sig_kernel(&paths(&x, &y, s1, s2, transform, kernel), shape, 2, KernelOut::Grids(&mut fused)).unwrap();
                sig_kernel(&Increments::Given(&delta), shape, 2, KernelOut::Grids(&mut given)).unwrap();
                assert_eq!(fused, given);
            }
        }
    }

    /// A polynomial kernel of non-integer degree reports clamped bases;
    /// lanes past the last pair of a group never add a false report.
    #[test]
    fn sig_kernel_reports_polynomial_clamps_of_real_pairs_only() {
        let kernel = StaticKernel::Polynomial { degree: 1.5, gamma: -0.1, scale: 1.0 };
        let (b, l, d) = (3, 4, 2);
        let shape1 = PathShape::new(b, l, d);
        let shape = kernel_shape(shape1, shape1, PathTransform::NONE, DyadicOrder { first: 0, second: 0 });
        // points in [1, 2): every base >= 2 - 0.1 (zero points would give -0.1)
        let x: Vec<f64> = random(b * l * d, &mut 44).iter().map(|v| v + 1.5).collect();
        let mut k = vec![0.0; b];
        let report = sig_kernel(&paths(&x, &x, shape1, shape1, PathTransform::NONE, kernel), shape, 1, KernelOut::Values(&mut k)).unwrap();
        assert!(!report.clamped);
        let mut y = x.clone();
        y[b * l * d - 1] = -3.0;
        let report = sig_kernel(&paths(&x, &y, shape1, shape1, PathTransform::NONE, kernel), shape, 1, KernelOut::Values(&mut k)).unwrap();
        assert!(report.clamped);
        let mut g = vec![0.0; b * shape.grid_len()];
        let report = sig_kernel(&paths(&x, &y, shape1, shape1, PathTransform::NONE, kernel), shape, 1, KernelOut::Grids(&mut g)).unwrap();
        assert!(report.clamped);
    }

    #[test]
    fn paths_inconsistent_with_the_kernel_shape_are_rejected() {
        let (x, y) = (vec![0.0; 2 * 4 * 2], vec![0.0; 2 * 3 * 2]);
        let (s1, s2) = (PathShape::new(2, 4, 2), PathShape::new(2, 3, 2));
        let transform = TRANSFORMS[2];
        let good = kernel_shape(s1, s2, transform, DyadicOrder { first: 0, second: 0 });
        let inc = paths(&x, &y, s1, s2, transform, StaticKernel::Rbf { sigma: 1.0 });
        let name = |shape: KernelShape| match sig_kernel(&inc, shape, 1, KernelOut::Values(&mut vec![0.0; shape.batch])) {
            Err(SigError::InvalidArgument { name, .. }) => name,
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        assert_eq!(name(KernelShape { length1: 4, ..good }), "length1");
        assert_eq!(name(KernelShape { length2: 3, ..good }), "length2");
        assert_eq!(name(KernelShape { batch: 3, ..good }), "batch");
        let bad = paths(&x, &y, s1, s2, transform, StaticKernel::Rbf { sigma: -1.0 });
        assert!(matches!(sig_kernel(&bad, good, 1, KernelOut::Values(&mut [0.0; 2])), Err(SigError::InvalidArgument { name: "sigma", .. })));
    }

    /// One pair of long paths is one work item: the stop must come from
    /// inside the double increments and the solver's rows, within ~50 ms of
    /// the request.
    #[test]
    fn a_stop_request_ends_a_long_kernel_pair_quickly() {
        let asked = Duration::from_millis(30);
        // (kernel, points, dim, order): each runs for far longer than
        // `asked`; the stop lands in forming the double increments (RBF, 32
        // channels) or in the solver (order 5)
        for (kernel, l, d, order) in [
            (StaticKernel::Rbf { sigma: 0.5 }, 1000, 32, 0),
            (StaticKernel::Linear { factor: 1.0 }, 500, 2, 5),
            (StaticKernel::Matern32 { sigma: 0.5 }, 500, 2, 5),
        ] {
            let (x, y) = (random(l * d, &mut 45), random(l * d, &mut 46));
            let s = PathShape::new(1, l, d);
            let shape = kernel_shape(s, s, PathTransform::NONE, DyadicOrder { first: order, second: order });
            let inc = paths(&x, &y, s, s, PathTransform::NONE, kernel);
            let start = Instant::now();
            let requested = std::sync::Mutex::new(None);
            let poll = || {
                let stop = start.elapsed() >= asked;
                if stop {
                    requested.lock().unwrap().get_or_insert_with(Instant::now);
                }
                stop
            };
            let result = crate::interrupt::watched(&poll, || sig_kernel(&inc, shape, 1, KernelOut::Values(&mut [0.0])));
            assert_eq!(result, Err(SigError::Interrupted), "{kernel:?}");
            let latency = requested.lock().unwrap().expect("a stop was requested").elapsed();
            assert!(latency < Duration::from_millis(50), "{kernel:?}: stopped {latency:?} after the request");
        }
    }

    /// The backward sweep checks for stops between its rows.
    #[test]
    fn solve_backward_stops_when_asked() {
        // 501 rows, a check every 160 (see row_work): the first check starts
        // the watch's clock, and a gradient read between the first and the
        // second outlasts the poll interval, so the second check polls
        let grid = Grid { n1: 500, n2: 50, order: DyadicOrder { first: 0, second: 0 } };
        let mut scratch = Scratch::<f64>::new();
        scratch.delta = random(grid.n1 * grid.n2, &mut 47).iter().map(|&v| lanes(v)).collect();
        solve_forward(&grid, &mut scratch, true).unwrap();
        let slow_row = grid.rows() - 1 - 240;
        let grad_in = |r: usize, c: usize| {
            if r == slow_row && c == 0 {
                std::thread::sleep(crate::interrupt::POLL_INTERVAL + Duration::from_millis(5));
            }
            lanes(1.0)
        };
        let result = crate::interrupt::watched(&|| true, || solve_backward(&grid, &mut scratch, &grad_in, true));
        assert_eq!(result, Err(SigError::Interrupted));
        assert!(solve_backward(&grid, &mut scratch, &grad_in, true).is_ok());
    }

    /// Throwaway timing (run with `--ignored --nocapture`): RBF fused into
    /// the solver against its double increments computed first, then given.
    #[test]
    #[ignore]
    fn timing_fused_rbf_against_deltas_then_given() {
        let (b, l, d) = (64, 200, 4);
        let (x, y) = (random(b * l * d, &mut 48), random(b * l * d, &mut 49));
        let s = PathShape::new(b, l, d);
        let shape = kernel_shape(s, s, PathTransform::NONE, DyadicOrder { first: 1, second: 1 });
        let best = |f: &mut dyn FnMut()| (0..7).map(|_| { let t = Instant::now(); f(); t.elapsed() }).min().unwrap();
        for n_jobs in [1, -1] {
            for kernel in [StaticKernel::Rbf { sigma: 0.5 }, StaticKernel::Linear { factor: 1.0 }] {
                let mut k = vec![0.0; b];
                let fused = best(&mut || {
                    sig_kernel(&paths(&x, &y, s, s, PathTransform::NONE, kernel), shape, n_jobs, KernelOut::Values(&mut k)).unwrap();
                });
                let mut delta = vec![0.0; b * (l - 1) * (l - 1)];
                let separate = best(&mut || {
                    static_kernel_deltas(&kernel, &x, s, &y, s, n_jobs, &mut delta).unwrap();
                    sig_kernel(&Increments::Given(&delta), shape, n_jobs, KernelOut::Values(&mut k)).unwrap();
                });
                let only_deltas = best(&mut || {
                    static_kernel_deltas(&kernel, &x, s, &y, s, n_jobs, &mut delta).unwrap();
                });
                let w = vec![1.0; b];
                let (mut g1, mut g2) = (vec![0.0; x.len()], vec![0.0; y.len()]);
                let backward = best(&mut || {
                    sig_kernel_backprop(&paths(&x, &y, s, s, PathTransform::NONE, kernel), shape, &w, false, None, n_jobs, KernelGrad::Paths { grad1: Some(&mut g1), grad2: Some(&mut g2) }).unwrap();
                });
                println!("n_jobs {n_jobs} {kernel:?}: fused {fused:?}, deltas then given {separate:?} (deltas alone {only_deltas:?}), fused backprop {backward:?}");
            }
        }
    }
}
