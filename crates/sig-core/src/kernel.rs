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
//! Few pairs, long rows or large grids are solved one pair at a time by
//! the wavefront solver, vectorised along the anti-diagonals of strips of
//! the pair's grid (see its section below and the private `use_wavefront`); other
//! batches as follows.
//!
//! Pairs are solved eight at a time, lane-interleaved: the recurrence
//! along a row is a chain of dependent operations, and four independent
//! pairs make each link one vector instruction. The backward pass is the
//! adjoint of the scheme, swept from the last cell back; it reads the
//! forward grid's rows from a `k_grid` the caller kept (a block of rows at a
//! time), or recomputes them.
//!
//! # Memory
//!
//! Per worker, with `R = n1 2^l1 + 1` rows and `C = n2 2^l2 + 1` columns of
//! the refined grid, `n1 = length1 - 1`, `n2 = length2 - 1`, `d` the
//! (transformed) dimension and `W = 8 size_of::<T>()` bytes per lane group
//! (64 for `f64`):
//!
//! * forward (values or grids): `W (n1 n2 + 2 C + 2 n2 + (n1 + n2) d)`
//!   bytes; grids are written straight into the output row by row;
//! * backward: `W (2 n1 n2 + (H + 2) C + 6 n2 + 2 (length1 + length2) d)`
//!   bytes, where `H` is the number of forward rows held: all `R` when
//!   `R C W <= `[`BACKWARD_GRID_BUDGET`] (one forward pass, the fast path);
//!   otherwise rows are checkpointed (`Plan`: every `~sqrt(R)`-th row
//!   kept and each segment recomputed from its checkpoint, recursively when
//!   that is still too much) within the budget, `H C W <= 64 MiB`, except
//!   that `H` never drops below the `ceil(log2 R) + 2` rows of recursive
//!   bisection (so huge rows still terminate, in `O(R log R)` row steps).
//!   With `k_grid` given, `H = min(R, max(2, budget / (C W)))`.
//!
//! The wavefront solver (a pair at a time; see `use_wavefront`) holds,
//! per worker, `STRIP` rows' worth of steps (`~2 STRIP C size_of::<T>()`
//! bytes forward, `~4 STRIP C` backward) and the pair's increments; the
//! point kernels and given increments add the pair's `n1 n2` double
//! increments and, backward, their gradients (one number each, not a lane
//! group), and so does the linear kernel at a refined order (by the first
//! path's order, from `d = 8` at order 1 and `d = 3` from order 2, up to
//! 32 MiB: its coarse cells' inner products, which the fine cells share;
//! see `gram_min_dim`). Its backward pass holds the
//! forward grid whole, as strips, when that fits in
//! [`BACKWARD_GRID_BUDGET`]. A larger grid is held a segment of strips at a
//! time in half the budget, with each segment's source row kept (`C` numbers
//! a segment) and the segment recomputed from it, for about one more
//! forward pass; many pairs, or strips past half the budget on their own,
//! go to the lane solver, which checkpoints (see `segmented_wave_wins`
//! and `wave_segment`). The linear kernel's backward pass sums the
//! increments' gradients strip by strip, without `n1 n2` terms.
//!
//! The `n1 n2` terms (double increments and their gradients) stay
//! quadratic in the path lengths; every buffer is allocated fallibly
//! ([`crate::alloc`]), so too much is a [`SigError::OutOfMemory`], never an
//! abort, and sizes are computed with checked arithmetic.
//!
//! The row loops check for stop requests ([`crate::interrupt`]): a single
//! pair of long paths is one work item, so the batch runners' checks
//! between items would come too late.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::alloc::{try_refill, try_reserve, try_resize};
use crate::batch::try_for_each_item;
use crate::error::{check_len, Result, SigError};
use crate::interrupt::Checkpoint;
use crate::signature::PathShape;
use crate::simd::fmadd;
use crate::static_kernel::{checked_product, KernelReport, PointKernel, Points, StaticKernel};
use crate::transform::PathTransform;
use crate::{from_usize, Float};

pub(crate) const LANES: usize = 8;
pub(crate) type Lanes<T> = [T; LANES];

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
/// empty path): `2^order (length - 1) + 1`, saturating at `usize::MAX`
/// (see [`KernelShape::checked_grid_len`]).
pub fn grid_length(length: usize, order: u32) -> usize {
    checked_grid_length(length, order).unwrap_or(usize::MAX)
}

fn checked_grid_length(length: usize, order: u32) -> Option<usize> {
    if length == 0 {
        Some(0)
    } else {
        (length - 1).checked_mul(1usize.checked_shl(order)?)?.checked_add(1)
    }
}

/// The grid's shape for one pair: coarse cells and refinement. Made by
/// [`KernelShape::grid`], which checks that rows and columns fit in `usize`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    /// Coarse cells along each side (increments of each path).
    pub(crate) n1: usize,
    pub(crate) n2: usize,
    order: DyadicOrder,
}

impl Grid {
    fn rows(&self) -> usize {
        (self.n1 << self.order.first) + 1
    }
    fn cols(&self) -> usize {
        (self.n2 << self.order.second) + 1
    }
    /// Cells of the whole grid, for work estimates only (saturating).
    fn cells(&self) -> usize {
        self.rows().saturating_mul(self.cols())
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
pub(crate) struct Scratch<T> {
    /// Double increments of the group, `n1 * n2` lane groups.
    pub(crate) delta: Vec<Lanes<T>>,
    /// Scheme coefficients of one coarse row: `(A, B)` per coarse column
    /// (forward rows; the backward sweep's own coarse row).
    coef: Vec<(Lanes<T>, Lanes<T>)>,
    /// Coefficients of the forward rows a backward sweep recomputes.
    fwd_coef: Vec<(Lanes<T>, Lanes<T>)>,
    /// Two rows of the fine grid (forward), or the forward rows a backward
    /// sweep holds (see [`Plan`]).
    rows: Vec<Lanes<T>>,
    /// Adjoint rows `r + 1` and `r` (backward).
    g_upper: Vec<Lanes<T>>,
    g_lower: Vec<Lanes<T>>,
    /// Gradient of the double increments (backward).
    pub(crate) g_delta: Vec<Lanes<T>>,
    /// `dA/da` and `-dB/da` of one coarse row (backward).
    slopes: Vec<(Lanes<T>, Lanes<T>)>,
    /// One transformed increment, and each side's, lane-interleaved (linear kernel).
    dx: Vec<T>,
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
    pub(crate) fn new() -> Self {
        Scratch {
            delta: Vec::new(),
            coef: Vec::new(),
            fwd_coef: Vec::new(),
            rows: Vec::new(),
            g_upper: Vec::new(),
            g_lower: Vec::new(),
            g_delta: Vec::new(),
            slopes: Vec::new(),
            dx: Vec::new(),
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
pub(crate) fn lanes<T: Float>(v: T) -> Lanes<T> {
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

/// Solves the group's PDE row by row, two rows at a time, handing each row
/// `r` (row 0 included) to `on_row`; the last row is in
/// `scratch.rows[..cols]` at the end. `Err(Interrupted)` when asked to stop,
/// `Err(OutOfMemory)` when the two rows cannot be had.
fn solve_forward<T: Float>(grid: &Grid, scratch: &mut Scratch<T>, mut on_row: impl FnMut(usize, &[Lanes<T>])) -> Result<()> {
    let (rows, cols) = (grid.rows(), grid.cols());
    let Scratch { delta, coef, rows: buf, .. } = scratch;
    try_resize(coef, "scheme coefficients", grid.n2, (lanes(T::zero()), lanes(T::zero())))?;
    try_refill(buf, "two rows of the PDE grid", checked_product("two rows of the PDE grid", &[2, cols])?, lanes(T::one()))?;
    on_row(0, &buf[..cols]);
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
        let (lo, hi) = buf.split_at_mut(cols);
        let (prev, cur) = if r % 2 == 0 { (&*lo, &mut hi[..]) } else { (&*hi, &mut lo[..]) };
        solve_row(prev, cur, coef, step2);
        on_row(r + 1, cur);
    }
    if (rows - 1) % 2 == 1 {
        // the last row sits in the second half: move it first
        let (lo, hi) = buf.split_at_mut(cols);
        lo.copy_from_slice(&hi[..cols]);
    }
    Ok(())
}

/// Bytes of forward-grid rows that one worker holds in a backward pass
/// (lane groups of `LANES` pairs). A group whose whole refined grid fits
/// is solved forward once and kept whole (the fast path: every ordinary
/// size); a larger one is checkpointed (`Plan`), at the cost of about one
/// more forward pass per level (a forward row costs about a third of a
/// backward row). In f64, 64 MiB holds the `~2 sqrt(R)` rows of two levels
/// of checkpoints for grids of up to about 2500 rows of 10^4 columns, or
/// 10^5 rows of 1500 columns: grids that need gigabytes whole.
pub const BACKWARD_GRID_BUDGET: usize = 64 << 20;

/// How a backward sweep over `span + 1` forward rows (rows `0..=span`)
/// holds them: with `levels = 1` all of them; otherwise the rows are cut
/// into at most `fan` segments, whose first rows (checkpoints) are kept
/// from one forward pass, and each segment, last first, is swept the same
/// way one level down from its checkpoint. At the last level a segment of
/// at most `fan` rows is recomputed whole. `span <= fan^levels`, so each
/// level's segments fit the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    levels: u32,
    fan: usize,
}

impl Plan {
    /// The fewest levels whose rows fit in `budget_rows`, or, when none
    /// does, recursive bisection (`fan = 2`: `ceil(log2 span) + 2` rows):
    /// the least memory that still costs only `O(span log span)` rows.
    fn new(span: usize, budget_rows: usize) -> Plan {
        let mut levels = 1u32;
        loop {
            let fan = if levels == 1 { span } else { root_ceil(span, levels).max(2) };
            let plan = Plan { levels, fan };
            if plan.rows_held() <= budget_rows || fan <= 2 {
                return plan;
            }
            levels += 1;
        }
    }

    /// Rows held at once: row 0, `fan - 1` checkpoints per level above the
    /// last, and the last level's `fan` rows.
    fn rows_held(&self) -> usize {
        1 + (self.levels as usize - 1) * (self.fan - 1) + self.fan
    }

    fn below(&self) -> Plan {
        Plan { levels: self.levels - 1, fan: self.fan }
    }
}

/// The smallest `m >= 1` with `m^k >= s`.
fn root_ceil(s: usize, k: u32) -> usize {
    let reaches = |m: usize| m.checked_pow(k).is_none_or(|p| p >= s);
    let mut m = ((s as f64).powf(1.0 / f64::from(k)).round() as usize).max(1);
    while m > 1 && reaches(m - 1) {
        m -= 1;
    }
    while !reaches(m) {
        m += 1;
    }
    m
}

/// Forward rows a backward pass may hold within `budget` bytes.
fn budget_rows<T>(cols: usize, budget: usize) -> usize {
    budget / std::mem::size_of::<Lanes<T>>().saturating_mul(cols).max(1)
}

/// The adjoint sweep of one group, from the last fine row back to row 0,
/// with its state: the adjoint rows `upper` (row `r + 1`) and `lower` (row
/// `r`), the gradient of the double increments, and the coefficients of
/// both the coarse row being swept and the forward rows being recomputed.
struct Sweep<'a, T> {
    grid: Grid,
    cols: usize,
    delta: &'a [Lanes<T>],
    fwd_coef: &'a mut [(Lanes<T>, Lanes<T>)],
    coef: &'a mut [(Lanes<T>, Lanes<T>)],
    slopes: &'a mut [(Lanes<T>, Lanes<T>)],
    g_delta: &'a mut [Lanes<T>],
    upper: &'a mut [Lanes<T>],
    lower: &'a mut [Lanes<T>],
    grad_in: &'a dyn Fn(usize, usize) -> Lanes<T>,
    whole_grid_grad: bool,
    forward_ticks: Checkpoint,
    backward_ticks: Checkpoint,
}

impl<T: Float> Sweep<'_, T> {
    /// One forward row: row `r + 1` into `cur` from row `r` (`prev`), the
    /// coefficients refreshed at the first row of a call (`fresh`) and at
    /// each coarse row.
    #[inline]
    fn forward_row(&mut self, r: usize, fresh: bool, prev: &[Lanes<T>], cur: &mut [Lanes<T>]) -> Result<()> {
        if self.forward_ticks.tick() {
            return Err(SigError::Interrupted);
        }
        if fresh || r & ((1usize << self.grid.order.first) - 1) == 0 {
            row_coefficients(&self.grid, self.delta, r >> self.grid.order.first, self.fwd_coef);
        }
        solve_row(prev, cur, self.fwd_coef, 1usize << self.grid.order.second);
        Ok(())
    }

    /// Rows `lo + 1 ..= lo + k` into `out` (`k` rows), from row `lo` (`first`).
    fn forward(&mut self, first: &[Lanes<T>], lo: usize, out: &mut [Lanes<T>]) -> Result<()> {
        let cols = self.cols;
        for k in 0..out.len() / cols {
            let (done, rest) = out.split_at_mut(k * cols);
            let prev = if k == 0 { first } else { &done[(k - 1) * cols..] };
            self.forward_row(lo + k, k == 0, prev, &mut rest[..cols])?;
        }
        Ok(())
    }

    /// From row `lo` (`first`), rows `lo + seg, lo + 2 seg, ...` into
    /// `marks` (as many as it holds), through two rows of `work`.
    fn forward_marks(&mut self, first: &[Lanes<T>], lo: usize, seg: usize, marks: &mut [Lanes<T>], work: &mut [Lanes<T>]) -> Result<()> {
        let cols = self.cols;
        let (a, b) = work.split_at_mut(cols);
        let b = &mut b[..cols];
        for k in 0..(marks.len() / cols) * seg {
            // row lo + k + 1 into a (k even) or b (k odd)
            match (k, k % 2) {
                (0, _) => self.forward_row(lo, true, first, a)?,
                (_, 1) => self.forward_row(lo + k, false, a, b)?,
                _ => self.forward_row(lo + k, false, b, a)?,
            }
            if (k + 1) % seg == 0 {
                let m = (k + 1) / seg - 1;
                marks[m * cols..(m + 1) * cols].copy_from_slice(if k % 2 == 0 { a } else { b });
            }
        }
        Ok(())
    }

    /// The adjoint of rows `hi - 1` down to `lo`: row `lo` is `first`, row
    /// `lo + 1 + j` is `rest[j]`.
    fn backward(&mut self, first: &[Lanes<T>], rest: &[Lanes<T>], lo: usize, hi: usize) -> Result<()> {
        let (cols, n2, l1) = (self.cols, self.grid.n2, self.grid.order.first);
        let (half, sixth, scale) = (T::from_f64(0.5).unwrap(), T::one() / from_usize::<T>(6), self.grid.scale::<T>());
        for r in (lo..hi).rev() {
            if self.backward_ticks.tick() {
                return Err(SigError::Interrupted);
            }
            let i = r >> l1;
            if r == hi - 1 || (r + 1) & ((1usize << l1) - 1) == 0 {
                row_coefficients(&self.grid, self.delta, i, self.coef);
                // per coarse column: dA/da = 1/2 + a/6 and -dB/da = a/6
                for (j, (da, db)) in self.slopes.iter_mut().enumerate() {
                    let d = &self.delta[i * n2 + j];
                    for l in 0..LANES {
                        let a6 = d[l] * scale * sixth;
                        da[l] = half + a6;
                        db[l] = a6;
                    }
                }
            }
            for (c, g) in self.lower.iter_mut().enumerate() {
                *g = if self.whole_grid_grad { (self.grad_in)(r, c) } else { lanes(T::zero()) };
            }
            let krow = if r == lo { first } else { &rest[(r - lo - 1) * cols..(r - lo) * cols] };
            let knext = &rest[(r - lo) * cols..(r - lo + 1) * cols];
            backward_row(krow, knext, self.upper, self.lower, self.coef, self.slopes, &mut self.g_delta[i * n2..(i + 1) * n2], 1usize << self.grid.order.second);
            std::mem::swap(&mut self.upper, &mut self.lower);
        }
        Ok(())
    }

    /// The adjoint of rows `hi - 1` down to `lo` by `plan`, from row `lo`
    /// (`first`), holding the other rows in `buf` (`plan.rows_held() - 1`
    /// rows at least).
    fn sweep(&mut self, first: &[Lanes<T>], lo: usize, hi: usize, buf: &mut [Lanes<T>], plan: Plan) -> Result<()> {
        let (span, cols) = (hi - lo, self.cols);
        if plan.levels == 1 {
            let rest = &mut buf[..span * cols];
            self.forward(first, lo, rest)?;
            return self.backward(first, rest, lo, hi);
        }
        let seg = span.div_ceil(plan.fan);
        let count = span.div_ceil(seg);
        let (marks, inner) = buf.split_at_mut((count - 1) * cols);
        self.forward_marks(first, lo, seg, marks, inner)?;
        for k in (0..count).rev() {
            let start = lo + k * seg;
            let checkpoint = if k == 0 { first } else { &marks[(k - 1) * cols..k * cols] };
            self.sweep(checkpoint, start, (start + seg).min(hi), inner, plan.below())?;
        }
        Ok(())
    }
}

/// Where a backward pass reads the forward grid of its group.
enum ForwardRows<'a, T> {
    /// Recomputed from the double increments.
    Recompute,
    /// From the caller's grids (`batch * grid_len`, pair-major), the group's
    /// pairs starting at pair `start`.
    Given { k_grid: &'a [T], grid_len: usize, start: usize, count: usize },
}

/// The adjoint of the forward pass: from the gradient of the grid (its last
/// point, or every point, through `grad_in`), the gradient of the double
/// increments, written into `scratch.g_delta` (`n1 * n2`), with at most
/// about `budget` bytes of forward rows (see the module's "Memory").
/// `scratch.delta` holds the group's double increments.
fn solve_backward<T: Float>(grid: &Grid, scratch: &mut Scratch<T>, forward: ForwardRows<'_, T>, grad_in: &dyn Fn(usize, usize) -> Lanes<T>, whole_grid_grad: bool, budget: usize) -> Result<()> {
    let (rows, cols) = (grid.rows(), grid.cols());
    let Scratch { delta, coef, fwd_coef, rows: buf, g_upper, g_lower, g_delta, slopes, .. } = scratch;
    let zero_pair = (lanes(T::zero()), lanes(T::zero()));
    try_resize(coef, "scheme coefficients", grid.n2, zero_pair)?;
    try_resize(fwd_coef, "scheme coefficients", grid.n2, zero_pair)?;
    try_resize(slopes, "scheme slopes", grid.n2, zero_pair)?;
    try_refill(g_delta, "gradients of the double increments", checked_product("gradients of the double increments", &[grid.n1, grid.n2])?, lanes(T::zero()))?;
    try_refill(g_upper, "adjoint rows of the PDE grid", cols, lanes(T::zero()))?;
    try_refill(g_lower, "adjoint rows of the PDE grid", cols, lanes(T::zero()))?;
    if whole_grid_grad {
        for (c, g) in g_upper.iter_mut().enumerate() {
            *g = grad_in(rows - 1, c);
        }
    } else {
        g_upper[cols - 1] = grad_in(rows - 1, cols - 1);
    }
    let mut sweep = Sweep {
        grid: *grid,
        cols,
        delta,
        fwd_coef,
        coef,
        slopes,
        g_delta,
        upper: g_upper,
        lower: g_lower,
        grad_in,
        whole_grid_grad,
        forward_ticks: Checkpoint::new(row_work(cols)),
        backward_ticks: Checkpoint::new(2 * row_work(cols)),
    };
    let what = "forward rows of the PDE grid";
    match forward {
        ForwardRows::Recompute => {
            let plan = Plan::new(rows - 1, budget_rows::<T>(cols, budget));
            try_refill(buf, what, checked_product(what, &[plan.rows_held(), cols])?, lanes(T::one()))?;
            let (first, rest) = buf.split_at_mut(cols);
            sweep.sweep(first, 0, rows - 1, rest, plan)?;
        }
        ForwardRows::Given { k_grid, grid_len, start, count } => {
            // blocks of rows, lane-interleaved as they are needed; the
            // block's first row is the next block's last
            let block = budget_rows::<T>(cols, budget).clamp(2, rows);
            try_refill(buf, what, checked_product(what, &[block, cols])?, lanes(T::one()))?;
            let mut hi = rows - 1;
            while hi > 0 {
                let lo = hi.saturating_sub(block - 1);
                for lane in 0..count {
                    let pair = &k_grid[(start + lane) * grid_len..(start + lane + 1) * grid_len];
                    for (cell, &v) in buf.iter_mut().zip(&pair[lo * cols..(hi + 1) * cols]) {
                        cell[lane] = v;
                    }
                }
                let (first, rest) = buf.split_at(cols);
                sweep.backward(first, rest, lo, hi)?;
                hi = lo;
            }
        }
    }
    let scale = grid.scale::<T>();
    for g in sweep.g_delta.iter_mut() {
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
pub(crate) struct Group {
    pub(crate) start: usize,
    pub(crate) count: usize,
}

pub(crate) fn groups(batch: usize) -> Result<Vec<Group>> {
    let mut out = Vec::new();
    try_reserve(&mut out, "the pair groups of a batch", batch.div_ceil(LANES))?;
    out.extend((0..batch.div_ceil(LANES)).map(|g| Group { start: g * LANES, count: LANES.min(batch - g * LANES) }));
    Ok(out)
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
pub(crate) struct PathPair<'a, T> {
    paths1: &'a [T],
    paths2: &'a [T],
    shape1: PathShape,
    shape2: PathShape,
    transform: PathTransform,
}

/// [`Increments`] with the kernel's parameters converted to `T`, once per call.
pub(crate) enum Source<'a, T> {
    Given(&'a [T]),
    /// The linear kernel: `scale <dx_i, dy_j>`.
    Linear { pair: PathPair<'a, T>, scale: T },
    /// Any other static kernel, from the points.
    Points { pair: PathPair<'a, T>, kernel: PointKernel<T> },
}

impl<'a, T: Float> Increments<'a, T> {
    pub(crate) fn source(&self) -> Source<'a, T> {
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
    pub(crate) fn load(&self, grid: &Grid, group: &Group, scratch: &mut Scratch<T>) -> Result<bool> {
        let (n1, n2) = (grid.n1, grid.n2);
        let what = "double increments of a group of pairs";
        let cells = checked_product(what, &[n1, n2])?;
        match self {
            Source::Given(delta) => {
                try_refill(&mut scratch.delta, what, cells, lanes(T::zero()))?;
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
                let Scratch { delta, dx, lanes1, lanes2, .. } = scratch;
                // every cell is written below (zero when `d = 0`), so the
                // old values need no clearing first
                if d > 0 {
                    try_resize(delta, what, cells, lanes(T::zero()))?;
                } else {
                    try_refill(delta, what, cells, lanes(T::zero()))?;
                }
                let what = "increments of a group of paths";
                try_resize(dx, what, d, T::zero())?;
                // increments lane-interleaved, so each inner product is
                // `d` vector multiply-adds over the group's pairs
                try_refill(lanes1, what, n1 * d, lanes(T::zero()))?;
                try_refill(lanes2, what, n2 * d, lanes(T::zero()))?;
                for lane in 0..group.count {
                    let b = group.start + lane;
                    load_increment_lane(paths1, shape1, transform, b, dx, lanes1, lane);
                    load_increment_lane(paths2, shape2, transform, b, dx, lanes2, lane);
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
                try_refill(delta, what, cells, lanes(T::zero()))?;
                load_points(paths1, shape1, transform, group, point, pts1)?;
                load_points(paths2, shape2, transform, group, point, pts2)?;
                let x = Points { data: pts1.as_flattened(), len: n1 + 1, dim: d };
                let y = Points { data: pts2.as_flattened(), len: n2 + 1, dim: d };
                kernel.deltas::<LANES>(x, y, group.count, k_rows, delta.as_flattened_mut())
            }
        }
    }
}

/// The transformed points of the paths of `group`, lane-interleaved, into
/// `out` (`out_length * out_dim` lane groups; lanes past the group 0).
fn load_points<T: Float>(paths: &[T], shape: PathShape, transform: PathTransform, group: &Group, point: &mut Vec<T>, out: &mut Vec<Lanes<T>>) -> Result<()> {
    let (pl, d) = (shape.path_len(), transform.out_dim(shape.dim));
    let length = transform.out_length(shape.length);
    let what = "points of a group of paths";
    try_refill(point, what, d, T::zero())?;
    try_refill(out, what, checked_product(what, &[length, d])?, lanes(T::zero()))?;
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
    Ok(())
}

/// `delta[i, j] = scale <x_i, y_j>` lane by lane, for rows of `d` lane groups.
///
/// Columns `j` in tiles whose increments stay in L1 across the rows `i`
/// (a whole row of them did not at d = 20), four at a time within a tile:
/// each sum is a chain of `d` dependent multiply-adds, and four side by
/// side keep the FMA units busy. Every sum still runs over the channels
/// in order, so the numbers are unchanged.
#[inline(always)]
fn dot_rows_body<T: Float, const FMA: bool>(x: &[Lanes<T>], y: &[Lanes<T>], d: usize, scale: T, delta: &mut [Lanes<T>]) {
    const J: usize = 4;
    const TILE_BYTES: usize = 16 << 10;
    let n2 = y.len() / d.max(1);
    let tile = (TILE_BYTES / (d.max(1) * std::mem::size_of::<Lanes<T>>()) / J * J).max(J);
    for j0 in (0..n2).step_by(tile) {
        let j1 = (j0 + tile).min(n2);
        dot_tile::<T, FMA>(x, &y[j0 * d..j1 * d], d, scale, n2, &mut delta[j0..]);
    }
}

/// [`dot_rows`] for the columns of `y` (`y.len() / d` of them), written
/// to `delta[i * n2..]` for each row `i` of `x`.
#[inline(always)]
fn dot_tile<T: Float, const FMA: bool>(x: &[Lanes<T>], y: &[Lanes<T>], d: usize, scale: T, n2: usize, delta: &mut [Lanes<T>]) {
    const J: usize = 4;
    let width = y.len() / d;
    for (i, xi) in x.chunks_exact(d).enumerate() {
        let row = &mut delta[i * n2..i * n2 + width];
        let mut row_blocks = row.chunks_exact_mut(J);
        let mut y_blocks = y.chunks_exact(J * d);
        for (outs, ys) in (&mut row_blocks).zip(&mut y_blocks) {
            let mut acc = [lanes(T::zero()); J];
            let (y0, rest) = ys.split_at(d);
            let (y1, rest) = rest.split_at(d);
            let (y2, y3) = rest.split_at(d);
            for ((((a, b0), b1), b2), b3) in xi.iter().zip(y0).zip(y1).zip(y2).zip(y3) {
                for (acc_j, b) in acc.iter_mut().zip([b0, b1, b2, b3]) {
                    for l in 0..LANES {
                        acc_j[l] = fmadd::<T, FMA>(a[l], b[l], acc_j[l]);
                    }
                }
            }
            for (out, acc_j) in outs.iter_mut().zip(&acc) {
                for l in 0..LANES {
                    out[l] = acc_j[l] * scale;
                }
            }
        }
        for (yj, out) in y_blocks.remainder().chunks_exact(d).zip(row_blocks.into_remainder()) {
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
    store_increments(paths, shape, transform, b, dx, out, |o, v| *o = v);
}

/// [`load_increments`] into lane `lane` of `out` (`steps * d` lane groups).
fn load_increment_lane<T: Float>(paths: &[T], shape: PathShape, transform: PathTransform, b: usize, dx: &mut [T], out: &mut [Lanes<T>], lane: usize) {
    store_increments(paths, shape, transform, b, dx, out, |o, v| o[lane] = v);
}

/// Each transformed increment of path `b` (one at a time through `dx`)
/// stored channel by channel into the rows of `out` (`d` places a row).
#[inline(always)]
fn store_increments<T: Float, P>(paths: &[T], shape: PathShape, transform: PathTransform, b: usize, dx: &mut [T], out: &mut [P], store: impl Fn(&mut P, T)) {
    let pl = shape.path_len();
    let path = &paths[b * pl..(b + 1) * pl];
    let d = dx.len();
    if d == 0 {
        return;
    }
    for (s, row) in out.chunks_exact_mut(d).enumerate() {
        transform.increment(path, shape.dim, shape.length, s, dx);
        for (place, &v) in row.iter_mut().zip(dx.iter()) {
            store(place, v);
        }
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
    /// The grid of one pair; `Overflow` naming `dyadic_order` when its rows
    /// or columns do not fit in `usize`.
    pub(crate) fn grid(&self) -> Result<Grid> {
        let (n1, n2) = (self.length1.saturating_sub(1), self.length2.saturating_sub(1));
        for (length, order) in [(self.length1, self.order.first), (self.length2, self.order.second)] {
            if checked_grid_length(length, order).is_none() {
                return Err(SigError::Overflow(format!("the PDE grid of a path of {length} points at dyadic_order {order}")));
            }
        }
        Ok(Grid { n1, n2, order: self.order })
    }

    /// Points of one pair's refined grid (saturating at `usize::MAX`; see
    /// [`KernelShape::checked_grid_len`]).
    pub fn grid_len(&self) -> usize {
        self.checked_grid_len().unwrap_or(usize::MAX)
    }

    /// Points of one pair's refined grid, or `Overflow` naming
    /// `dyadic_order` when that does not fit in `usize`.
    pub fn checked_grid_len(&self) -> Result<usize> {
        let (o1, o2) = (self.order.first, self.order.second);
        checked_grid_length(self.length1, o1)
            .zip(checked_grid_length(self.length2, o2))
            .and_then(|(a, b)| a.checked_mul(b))
            .ok_or_else(|| SigError::Overflow(format!("the PDE grid of paths of {} and {} points at dyadic_order ({o1}, {o2})", self.length1, self.length2)))
    }

    /// Values in the grids of the whole batch (`batch * grid_len`).
    pub(crate) fn checked_grids_len(&self) -> Result<usize> {
        self.checked_grid_len()?
            .checked_mul(self.batch)
            .ok_or_else(|| SigError::Overflow(format!("{} PDE grids of {} points at dyadic_order {:?}", self.batch, self.grid_len(), self.order)))
    }
}

pub(crate) fn check_increments<T: Float>(inc: &Increments<'_, T>, shape: &KernelShape) -> Result<()> {
    match inc {
        Increments::Given(delta) => check_len("delta", delta.len(), checked_product("the double increments", &[shape.batch, shape.length1.saturating_sub(1), shape.length2.saturating_sub(1)])?),
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
    let grid = shape.grid()?;
    check_increments(inc, &shape)?;
    let source = inc.source();
    if use_wavefront::<T>(shape.batch, &grid, false) {
        return sig_kernel_wave(&source, &grid, &shape, n_jobs, out);
    }
    let work = grid.cells().saturating_mul(4 * LANES);
    let clamped = AtomicBool::new(false);
    let load = |group: &Group, scratch: &mut Scratch<T>| -> Result<()> {
        if source.load(&grid, group, scratch)? {
            clamped.store(true, Ordering::Relaxed);
        }
        Ok(())
    };
    match out {
        KernelOut::Values(values) => {
            check_len("out", values.len(), shape.batch)?;
            let mut results: Vec<(Group, Lanes<T>)> = Vec::new();
            let groups = groups(shape.batch)?;
            try_reserve(&mut results, "the pair groups of a batch", groups.len())?;
            results.extend(groups.into_iter().map(|g| (g, lanes(T::one()))));
            try_for_each_item(n_jobs, &mut results, work, || Ok(Scratch::new()), |scratch, _, (group, value)| {
                if grid.n1 == 0 || grid.n2 == 0 {
                    return Ok(());
                }
                load(group, scratch)?;
                solve_forward(&grid, scratch, |_, _| {})?;
                *value = scratch.rows[grid.cols() - 1];
                Ok(())
            })?;
            for (group, value) in &results {
                values[group.start..group.start + group.count].copy_from_slice(&value[..group.count]);
            }
        }
        KernelOut::Grids(grids) => {
            check_len("out", grids.len(), shape.checked_grids_len()?)?;
            let grid_len = shape.checked_grid_len()?;
            if grids.is_empty() {
                return Ok(KernelReport::default());
            }
            let mut chunks: Vec<(Group, &mut [T])> = Vec::new();
            let groups = groups(shape.batch)?;
            try_reserve(&mut chunks, "the pair groups of a batch", groups.len())?;
            chunks.extend(groups.into_iter().zip(grids.chunks_mut(LANES * grid_len)));
            let cols = grid.cols();
            try_for_each_item(n_jobs, &mut chunks, work, || Ok(Scratch::new()), |scratch, _, (group, out)| {
                if grid.n1 == 0 || grid.n2 == 0 {
                    out.fill(T::one());
                    return Ok(());
                }
                // each row straight into the pairs' grids: no grid in scratch
                let count = group.count;
                load(group, scratch)?;
                solve_forward(&grid, scratch, |r, row| {
                    for lane in 0..count {
                        let dst = &mut out[lane * grid_len + r * cols..lane * grid_len + (r + 1) * cols];
                        for (o, v) in dst.iter_mut().zip(row) {
                            *o = v[lane];
                        }
                    }
                })
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
/// `k_grid`, the forward grids, is recomputed when not given. Memory per
/// worker is bounded as the module's "Memory" section says.
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
    backprop_within(inc, shape, derivs, grid_derivs, k_grid, n_jobs, out, BACKWARD_GRID_BUDGET)
}

/// [`sig_kernel_backprop`] holding at most about `budget` bytes of forward
/// rows per worker (tests force checkpointing on small grids with this).
#[allow(clippy::too_many_arguments)]
fn backprop_within<T: Float>(
    inc: &Increments<'_, T>,
    shape: KernelShape,
    derivs: &[T],
    grid_derivs: bool,
    k_grid: Option<&[T]>,
    n_jobs: i64,
    out: KernelGrad<'_, T>,
    budget: usize,
) -> Result<()> {
    shape.order.validate()?;
    let grid = shape.grid()?;
    check_increments(inc, &shape)?;
    let source = inc.source();
    // the whole grid's size matters only when grids come in
    let grid_len = if grid_derivs || k_grid.is_some() { shape.checked_grid_len()? } else { 0 };
    check_len("derivs", derivs.len(), if grid_derivs { shape.checked_grids_len()? } else { shape.batch })?;
    if let Some(kg) = k_grid {
        check_len("k_grid", kg.len(), shape.checked_grids_len()?)?;
    }
    let (n1, n2) = (grid.n1, grid.n2);
    let cells = checked_product("the double increments", &[n1, n2])?;
    let work = grid.cells().saturating_mul(12 * LANES);
    let increments_out = matches!(out, KernelGrad::Increments(_));
    // few pairs: one pair per task, solved by the wavefront solver; the
    // same choice with or without `k_grid`, so both give the same numbers
    let wave = if use_wavefront::<T>(shape.batch, &grid, true) {
        wave_segment::<T>(&grid, budget).filter(|&seg| seg >= strip_count(&grid) || segmented_wave_wins(shape.batch, source.wave_dots_per_cell(&grid)))
    } else {
        None
    };
    let per = if wave.is_some() { 1 } else { LANES };
    let groups = if wave.is_some() { (0..shape.batch).map(|b| Group { start: b, count: 1 }).collect() } else { groups(shape.batch)? };
    let Some(mut tasks) = grad_tasks(&source, &shape, cells, groups, per, out)? else { return Ok(()) };
    let job = BackpropJob { source: &source, grid, grid_len, derivs, grid_derivs, k_grid, increments_out, budget };
    if let Some(seg) = wave {
        return backprop_wave(&job, n_jobs, &mut tasks, seg);
    }
    try_for_each_item(n_jobs, &mut tasks, work, || Ok(Scratch::new()), |scratch, _, (group, out1, out2)| {
        job.run(scratch, group, out1.as_deref_mut(), out2.as_deref_mut())
    })
}

/// The output slices of a backward pass: one task per group of `per`
/// pairs (`groups`), each with its pairs' slices of `out`. `None` when
/// there is nothing to write (increment gradients of empty grids).
pub(crate) fn grad_tasks<'o, T: Float>(
    source: &Source<'_, T>,
    shape: &KernelShape,
    cells: usize,
    groups: Vec<Group>,
    per: usize,
    out: KernelGrad<'o, T>,
) -> Result<Option<Vec<PairOuts<'o, T>>>> {
    let mut tasks: Vec<PairOuts<'o, T>> = Vec::new();
    let pair = match source {
        Source::Given(_) => None,
        Source::Linear { pair, .. } | Source::Points { pair, .. } => Some(*pair),
    };
    try_reserve(&mut tasks, "the pair groups of a batch", groups.len())?;
    match out {
        KernelGrad::Increments(g) => {
            check_len("out", g.len(), checked_product("the double increments", &[shape.batch, cells])?)?;
            if cells == 0 {
                return Ok(None);
            }
            for (group, chunk) in groups.into_iter().zip(g.chunks_mut(per * cells)) {
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
            let mut it1 = grad1.map(|g| g.chunks_mut((per * p1).max(1)));
            let mut it2 = grad2.map(|g| g.chunks_mut((per * p2).max(1)));
            for group in groups {
                let a = it1.as_mut().and_then(|it| it.next());
                let b = it2.as_mut().and_then(|it| it.next());
                tasks.push((group, a, b));
            }
        }
    }
    Ok(Some(tasks))
}

/// What every group of a backward pass shares.
struct BackpropJob<'a, T> {
    source: &'a Source<'a, T>,
    grid: Grid,
    /// Points of one pair's grid when `derivs` or `k_grid` are grids, else 0.
    grid_len: usize,
    derivs: &'a [T],
    grid_derivs: bool,
    k_grid: Option<&'a [T]>,
    increments_out: bool,
    budget: usize,
}

impl<T: Float> BackpropJob<'_, T> {
    /// The gradients of one group of pairs into `out1`/`out2`.
    fn run(&self, scratch: &mut Scratch<T>, group: &Group, mut out1: Option<&mut [T]>, mut out2: Option<&mut [T]>) -> Result<()> {
        let (grid, source) = (&self.grid, self.source);
        let (n1, n2) = (grid.n1, grid.n2);
        if let Some(o) = out1.as_deref_mut() {
            o.fill(T::zero());
        }
        if let Some(o) = out2.as_deref_mut() {
            o.fill(T::zero());
        }
        if n1 == 0 || n2 == 0 {
            return Ok(());
        }
        source.load(grid, group, scratch)?;
        let (start, count) = (group.start, group.count);
        let forward = match self.k_grid {
            Some(k_grid) => ForwardRows::Given { k_grid, grid_len: self.grid_len, start, count },
            None => ForwardRows::Recompute,
        };
        let (cols, grid_len, derivs, grid_derivs) = (grid.cols(), self.grid_len, self.derivs, self.grid_derivs);
        let grad_in = |r: usize, c: usize| -> Lanes<T> {
            let mut g = lanes(T::zero());
            for (lane, v) in g.iter_mut().enumerate().take(count) {
                *v = if grid_derivs { derivs[(start + lane) * grid_len + r * cols + c] } else { derivs[start + lane] };
            }
            g
        };
        solve_backward(grid, scratch, forward, &grad_in, grid_derivs, self.budget)?;
        increment_grads_out(source, grid, scratch, group, self.increments_out, out1, out2)
    }
}

/// Writes the group's gradients from `scratch.g_delta` (dF/d(delta), which
/// a backward solver left there after `source.load` filled the scratch):
/// as they are into `out1` (`increments_out`), or through the static
/// kernel and the path transform into `out1`/`out2` (zeroed by the caller).
pub(crate) fn increment_grads_out<T: Float>(
    source: &Source<'_, T>,
    grid: &Grid,
    scratch: &mut Scratch<T>,
    group: &Group,
    increments_out: bool,
    out1: Option<&mut [T]>,
    out2: Option<&mut [T]>,
) -> Result<()> {
    let (n1, n2, cells, count) = (grid.n1, grid.n2, grid.n1 * grid.n2, group.count);
    if increments_out {
        if let Some(o) = out1 {
            for (lane, pair) in o.chunks_exact_mut(cells).enumerate() {
                for (v, g) in pair.iter_mut().zip(&scratch.g_delta) {
                    *v = g[lane];
                }
            }
        }
        return Ok(());
    }
    match source {
        Source::Given(_) => unreachable!("given increments only have increment gradients"),
        Source::Linear { pair: PathPair { shape1: s1, shape2: s2, transform, .. }, scale } => {
            let (s1, s2, transform, scale) = (*s1, *s2, *transform, *scale);
            let d = transform.out_dim(s1.dim);
            // `load` left the group's increments lane-interleaved in lanes1/lanes2.
            let Scratch { g_delta, dx, lanes1, lanes2, g_lanes, .. } = scratch;
            for (o, n, side) in [(out1, n1, 0), (out2, n2, 1)] {
                let Some(o) = o.filter(|_| d > 0) else { continue };
                try_refill(g_lanes, "gradients of the increments", n * d, lanes(T::zero()))?;
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
            for (g, wanted, len) in [(&mut *g_pts1, out1.is_some(), x.len), (&mut *g_pts2, out2.is_some(), y.len)] {
                try_refill(g, "gradients of the points", if wanted { len * d } else { 0 }, lanes(T::zero()))?;
            }
            let (gx, gy) = (out1.is_some().then_some(g_pts1.as_flattened_mut()), out2.is_some().then_some(g_pts2.as_flattened_mut()));
            kernel.backprop::<LANES>(x, y, count, g_delta.as_flattened(), k_rows, gx, gy)?;
            // back through the transform, pair by pair
            for (o, g, shape) in [(out1, &*g_pts1, s1), (out2, &*g_pts2, s2)] {
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
    Ok(())
}

// ---------------------------------------------------------------------------
// The wavefront solver: one pair at a time, vectorised within the pair.
//
// The lane groups above run across pairs, so a batch of fewer than `LANES`
// pairs leaves lanes idle and still pays for all of them (memory included:
// `n1 n2` lane groups of double increments). Here a pair's grid is cut into
// strips of `STRIP` fine rows; inside a strip, lane `k` solves row `k` one
// column behind lane `k - 1`, so at each step the lanes hold one
// anti-diagonal of the strip: a cell needs its left neighbour (its own lane,
// one step back), the cell above (the lane above, one step back) and the
// one above-left (the lane above, two steps back), all already known. Lane
// 0 reads the strip's source row (the last row of the strip above). Each
// step is one vector expression over `STRIP` cells, and the steps' chain of
// dependences is as long as the row (plus `STRIP`) instead of the grid.
//
// Lanes outside the grid (before column 1, after the last column, below the
// last row) run with `a = 0`, so `A = B = 1`: before a lane's first column
// every input is the boundary's 1 and the lane stays exactly 1, which is
// what the lane below reads as its boundary; after its last column a lane's
// values are never read by a cell of the grid. The adjoint runs the same
// steps backwards; cells outside the grid send nothing into it (their
// gradients are 0, or flow only to other outside cells), and only the
// lanes of grid cells are read out.
// ---------------------------------------------------------------------------

/// Fine rows of one strip of the wavefront solver: four `f64` vectors (two
/// of `f32`) per step, enough independent work to hide the latency of the
/// step's add and multiply-add chain.
const STRIP: usize = 16;
type Strip<T> = [T; STRIP];

/// Bytes of one lane group's double increments beyond which the lane
/// solver runs from memory rather than cache, and the wavefront solver
/// (which forms them as it goes) wins at any batch.
const LANE_DELTA_CACHE: usize = 16 << 20;

/// Whether a batch is solved pair by pair with the wavefront solver, for
/// the `backward` pass or the forward one. Measured on this project's
/// x86-64 machines (AVX2, one and two threads, f32 and f64), against the
/// lane solver: the wavefront wins whenever fewer pairs than lanes leave
/// lane groups idle at dyadic order 0 (2x to 80x), or half of them or more
/// at a refined order (where the lane solver reuses each coarse row's
/// coefficients and is ~1.7x faster per fine cell when its lanes are
/// full); whenever a lane group's double increments leave the cache (3x
/// to 8x at 1000 and 2000 points); and at order 0 on rows of 100 columns
/// or more forward (1.3x to 2x), 250 backward (1.1x to 2x), where the lane
/// solver's per-coarse-cell work dominates. The rows must be long enough
/// that the strips' ramps (`STRIP` steps each) cost little.
fn use_wavefront<T>(batch: usize, grid: &Grid, backward: bool) -> bool {
    if grid.cols() < 2 * STRIP || grid.rows() < 2 {
        return false;
    }
    let lane_delta = grid.n1.saturating_mul(grid.n2).saturating_mul(std::mem::size_of::<Lanes<T>>());
    if lane_delta > LANE_DELTA_CACHE {
        return true;
    }
    if grid.order.first + grid.order.second > 0 {
        return 2 * batch <= LANES;
    }
    batch < LANES || grid.cols() >= if backward { 250 } else { 100 }
}

/// Per-worker scratch of the wavefront solver (one pair).
struct WaveScratch<T> {
    /// `a` of each step of one strip.
    a: Vec<Strip<T>>,
    /// Values of the strips' steps (one strip forward, all strips held backward).
    f: Vec<Strip<T>>,
    /// The source row of a strip.
    src: Vec<T>,
    /// Backward, when the strips are held a segment at a time: each
    /// segment's source row but the first's (see [`wave_segment`]).
    marks: Vec<T>,
    /// The first path's increments of a strip's rows, lane per row (linear kernel).
    xs: Vec<Strip<T>>,
    /// A strip's coarse rows of `a`, laid out as `yr` (see [`WaveCoef::Linear`]).
    rows_a: Vec<T>,
    /// The gradients of the double increments (backward).
    g_delta: Vec<T>,
    /// Backward: gradients of a strip's cells from the grid's gradient,
    /// `dF/da` of each step, and the gradients of the rows below and above
    /// the strip.
    ext: Vec<Strip<T>>,
    ga: Vec<Strip<T>>,
    g_below: Vec<T>,
    g_above: Vec<T>,
    /// The linear kernel's adjoint, fused: the gradients of a strip's
    /// rows' increments (lane per row), of the first path's increments
    /// (`n1 x d`), of the second's per fine column laid out like
    /// [`WaveCoef::Linear`]'s `yr`, and per increment (`n2 x d`).
    gxs: Vec<Strip<T>>,
    gx: Vec<T>,
    gyr: Vec<T>,
    gy: Vec<T>,
}

impl<T: Float> WaveScratch<T> {
    fn new() -> Self {
        WaveScratch {
            a: Vec::new(),
            f: Vec::new(),
            src: Vec::new(),
            marks: Vec::new(),
            xs: Vec::new(),
            rows_a: Vec::new(),
            g_delta: Vec::new(),
            ext: Vec::new(),
            ga: Vec::new(),
            g_below: Vec::new(),
            g_above: Vec::new(),
            gxs: Vec::new(),
            gx: Vec::new(),
            gyr: Vec::new(),
            gy: Vec::new(),
        }
    }
}

/// Per-worker inputs of one pair for the wavefront solver: what
/// [`WaveCoef`] borrows.
struct WaveInputs<T> {
    /// Transformed increments of each path, and one increment (linear kernel).
    dx: Vec<T>,
    incr1: Vec<T>,
    incr2: Vec<T>,
    /// The second path's increments channel by channel (`d x n2`), for [`coarse_gram`].
    incr2_t: Vec<T>,
    /// See [`WaveCoef::Linear`].
    yr: Vec<T>,
    /// The coarse cells' `a` at a refined order (see [`WaveCoef::Linear`]).
    gram: Vec<T>,
    /// Double increments (point kernels).
    delta: Vec<T>,
    /// Transformed points, one point, kernel rows, and the points'
    /// gradients (point kernels).
    pts1: Vec<T>,
    pts2: Vec<T>,
    point: Vec<T>,
    k_rows: Vec<T>,
    g_pts1: Vec<T>,
    g_pts2: Vec<T>,
}

impl<T: Float> WaveInputs<T> {
    fn new() -> Self {
        WaveInputs {
            dx: Vec::new(),
            incr1: Vec::new(),
            incr2: Vec::new(),
            incr2_t: Vec::new(),
            yr: Vec::new(),
            gram: Vec::new(),
            delta: Vec::new(),
            pts1: Vec::new(),
            pts2: Vec::new(),
            point: Vec::new(),
            k_rows: Vec::new(),
            g_pts1: Vec::new(),
            g_pts2: Vec::new(),
        }
    }
}

/// Steps of a strip of `h` rows over `cols` columns: the last lane's last
/// column is reached at step `cols - 2 + h - 1`.
fn strip_steps(cols: usize, h: usize) -> usize {
    cols + h - 2
}

/// The most steps any strip takes (one full strip).
fn strip_stride(cols: usize) -> usize {
    strip_steps(cols, STRIP)
}

/// Where one pair's `a` (a fine cell's share of its double increment) come from.
enum WaveCoef<'a, T> {
    /// The linear kernel, fused: `a = (factor <dx_i, dy_j>) scale` with the
    /// first path's increments in `incr1` (`n1 x d`) and the second's in
    /// `yr`: for channel `ch`, `yr[ch * ly + off - c] = dy_{c >> l2}[ch]`
    /// for fine columns `c = 0..cols - 1` (`off = cols + STRIP - 3`), and
    /// zero around them, so the `STRIP` lanes of a step read one
    /// contiguous run.
    ///
    /// From the dimension `gram_min_dim` gives on, `gram` holds each coarse
    /// cell's `a` (`n1 x n2`), formed once per pair, and the strips read
    /// it: their fine cells share it `2^(l1 + l2)` times, and forming it per
    /// fine cell made the pair's time grow with `d` (at d = 20 and order 2,
    /// 2.5x pysiglib's, whose time barely depends on `d`).
    Linear { incr1: &'a [T], yr: &'a [T], d: usize, factor: T, gram: Option<&'a [T]> },
    /// A pair's double increments, `n1 x n2` row-major.
    Matrix(&'a [T]),
}

/// Length of one channel of [`WaveCoef::Linear`]'s `yr`.
fn yr_len(cols: usize) -> usize {
    cols + 2 * STRIP - 3
}

/// Fills `yr` (see [`WaveCoef::Linear`]) from the increments `incr2` (`n2 x d`).
fn fill_yr<T: Float>(grid: &Grid, incr2: &[T], d: usize, yr: &mut Vec<T>) -> Result<()> {
    let (cols, ly) = (grid.cols(), yr_len(grid.cols()));
    try_refill(yr, "increments of a path, reversed", checked_product("increments of a path, reversed", &[d, ly])?, T::zero())?;
    let off = cols + STRIP - 3;
    for ch in 0..d {
        let row = &mut yr[ch * ly..(ch + 1) * ly];
        for c in 0..cols - 1 {
            row[off - c] = incr2[(c >> grid.order.second) * d + ch];
        }
    }
    Ok(())
}

/// `a` of each step of the strip whose source row is `r0` and whose `h`
/// rows are `r0 + 1 ..= r0 + h`, into `out` (`strip_steps` of them).
fn strip_coefficients<T: Float>(grid: &Grid, coef: &WaveCoef<'_, T>, r0: usize, h: usize, xs: &mut Vec<Strip<T>>, rows_a: &mut Vec<T>, out: &mut [Strip<T>]) -> Result<()> {
    let cols = grid.cols();
    let (l1, l2) = (grid.order.first, grid.order.second);
    let scale = grid.scale::<T>();
    match *coef {
        WaveCoef::Linear { incr1, yr, d, factor, gram } => {
            try_refill(xs, "increments of a strip", d, [T::zero(); STRIP])?;
            for (k, row) in (r0..r0 + h).enumerate() {
                let i = row >> l1;
                for (ch, x) in xs.iter_mut().enumerate() {
                    x[k] = incr1[i * d + ch];
                }
            }
            let (ly, off) = (yr_len(cols), cols + STRIP - 3);
            let Some(gram) = gram else {
                strip_dots(xs, yr, ly, off, factor, scale, out);
                return Ok(());
            };
            // The strip's coarse rows of `a` at fine columns, reversed as in
            // `yr`, and a row of zeros for lanes below the grid; lane `k` of
            // step `s` is then entry `off - s + k` of its row.
            let (i0, i1) = (r0 >> l1, (r0 + h - 1) >> l1);
            let n_rows = i1 - i0 + 1;
            let what = "a strip's coefficients";
            try_resize(rows_a, what, checked_product(what, &[n_rows + 1, ly])?, T::zero())?;
            // Only the zeros around each row are written besides the row:
            // zeroing it all each strip cost as much as the reads it saved.
            let first = off + 2 - cols;
            for (g, row) in rows_a.chunks_exact_mut(ly).take(n_rows).enumerate() {
                let coarse = &gram[(i0 + g) * grid.n2..(i0 + g + 1) * grid.n2];
                row[..first].fill(T::zero());
                row[off + 1..].fill(T::zero());
                let fine = &mut row[first..=off];
                match l2 {
                    0 => expand_reversed::<T, 1>(coarse, fine),
                    1 => expand_reversed::<T, 2>(coarse, fine),
                    2 => expand_reversed::<T, 4>(coarse, fine),
                    3 => expand_reversed::<T, 8>(coarse, fine),
                    _ => {
                        for (run, &v) in fine.chunks_exact_mut(1 << l2).zip(coarse.iter().rev()) {
                            run.fill(v);
                        }
                    }
                }
            }
            if h < STRIP {
                rows_a[n_rows * ly..(n_rows + 1) * ly].fill(T::zero());
            }
            let base: Strip<usize> = std::array::from_fn(|k| if k < h { (((r0 + k) >> l1) - i0) * ly + k + off } else { n_rows * ly + k + off });
            // Strips start on multiples of STRIP rows, so lanes share rows
            // in aligned runs of 2^l1 (unless the zero row cuts one short).
            let run = 1usize << l1.min(STRIP.trailing_zeros());
            match if h % run == 0 { run } else { 1 } {
                16 => fill_lane_runs::<T, 16>(rows_a, &base, out),
                8 => fill_lane_runs::<T, 8>(rows_a, &base, out),
                4 => fill_lane_runs::<T, 4>(rows_a, &base, out),
                2 => fill_lane_runs::<T, 2>(rows_a, &base, out),
                _ => fill_lane_runs::<T, 1>(rows_a, &base, out),
            }
        }
        WaveCoef::Matrix(delta) => {
            let n2 = grid.n2;
            out.fill([T::zero(); STRIP]);
            for k in 0..h {
                let drow = &delta[((r0 + k) >> l1) * n2..((r0 + k) >> l1) * n2 + n2];
                for c in 0..cols - 1 {
                    out[c + k][k] = drow[c >> l2] * scale;
                }
            }
        }
    }
    Ok(())
}

/// `out[s][k] = (factor sum_ch xs[ch][k] yr[ch, off - s + k]) scale`: the
/// linear kernel's `a` of each step (the inner product's rounding is the
/// lane solver's: channels in order, then the factor, then the scale).
#[inline(always)]
fn strip_dots_body<T: Float, const FMA: bool>(xs: &[Strip<T>], yr: &[T], ly: usize, off: usize, factor: T, scale: T, out: &mut [Strip<T>]) {
    for (s, o) in out.iter_mut().enumerate() {
        let base = off - s;
        let mut acc = [T::zero(); STRIP];
        for (ch, x) in xs.iter().enumerate() {
            let y: &Strip<T> = yr[ch * ly + base..ch * ly + base + STRIP].try_into().expect("a strip of yr");
            for l in 0..STRIP {
                acc[l] = fmadd::<T, FMA>(x[l], y[l], acc[l]);
            }
        }
        for l in 0..STRIP {
            o[l] = acc[l] * factor * scale;
        }
    }
}

/// Lane `k` of step `s` of `out` from `rows[base[k] - s]`, where lanes
/// come in runs of `RUN` whose entries lie next to each other.
#[inline(always)]
fn fill_lane_runs<T: Float, const RUN: usize>(rows: &[T], base: &Strip<usize>, out: &mut [Strip<T>]) {
    for (step, o) in out.iter_mut().enumerate() {
        for (lanes, &b) in o.chunks_exact_mut(RUN).zip(base.iter().step_by(RUN)) {
            let src: &[T; RUN] = rows[b - step..b - step + RUN].try_into().expect("a run of lanes");
            lanes.copy_from_slice(src);
        }
    }
}

/// The smallest dimension at which a refined grid's `a` is read from the
/// pair's coarse inner products ([`WaveCoef::Linear`]'s `gram`), by the
/// first path's dyadic order; `None` at order 0, where no fine cells share
/// one. Against one inner product per fine cell, on one pair or four (f64,
/// length 200-500): from order 2, 1.10x at d = 3, 1.15x at d = 4-5, 1.4x
/// at d = 20; at order 1, where a strip's rows share their coarse row by
/// twos only, 0.74-0.93x at d = 3-7, 1.05-1.19x at d = 8-10, 1.13-1.6x at
/// d = 12-20.
fn gram_min_dim(first_order: u32) -> Option<usize> {
    match first_order {
        0 => None,
        1 => Some(8),
        _ => Some(3),
    }
}
/// Pairs whose coarse products would take more than this keep one inner
/// product per fine cell, which needs memory linear in the lengths only:
/// two paths of 10,000 points would otherwise need 800 MB per worker.
const GRAM_MAX_BYTES: usize = 32 << 20;

/// Whether the linear kernel's wavefront solver reads a pair's `a` from
/// its coarse inner products (see [`WaveCoef::Linear`]).
fn uses_gram<T>(grid: &Grid, d: usize) -> bool {
    let bytes = grid.n1.saturating_mul(grid.n2).saturating_mul(std::mem::size_of::<T>());
    gram_min_dim(grid.order.first).is_some_and(|min| d >= min) && bytes <= GRAM_MAX_BYTES
}

impl<T> Source<'_, T> {
    /// Multiply-adds per fine cell the wavefront solver spends forming
    /// `a`: the linear kernel's inner product, unless read from the coarse
    /// ones; none for double increments formed per coarse cell.
    fn wave_dots_per_cell(&self, grid: &Grid) -> usize {
        match self {
            Source::Linear { pair, .. } => {
                let d = pair.transform.out_dim(pair.shape1.dim);
                if uses_gram::<T>(grid, d) { 0 } else { d }
            }
            Source::Given(_) | Source::Points { .. } => 0,
        }
    }
}

/// Whether a batch whose grids are past the wavefront backward pass's
/// budget held whole (so each pair's segments are recomputed, see
/// [`wave_segment`]) still goes pair by pair to the wavefront solver rather
/// than to the lane solver, which checkpoints too but fills its lanes. The
/// wavefront's cost per pair grows with the inner products it forms per
/// fine cell (`dots`); the lane solver's per group of `LANES` pairs barely
/// does. Measured (one thread, f64, pairs of 2,000 points at order 1),
/// wavefront against lane solver: one pair 8.7x at d = 2, 7.2x at d = 5,
/// 3.5x at d = 20; four pairs 2.7x, 1.9x and 0.80x; three at d = 20 1.08x;
/// eight at d = 5 0.91x. Per pair the wavefront took about `(4 + d)`
/// times 13 ms, a group of eight in the lane solver 700-950 ms.
fn segmented_wave_wins(batch: usize, dots: usize) -> bool {
    batch.saturating_mul(4 + dots) <= 48
}

/// A coarse row at fine resolution, reversed: `fine[c] = coarse[n2 - 1 -
/// c / RUN]`, `RUN = 2^l2` fine columns per coarse one.
#[inline(always)]
fn expand_reversed<T: Float, const RUN: usize>(coarse: &[T], fine: &mut [T]) {
    for (run, &v) in fine.chunks_exact_mut(RUN).zip(coarse.iter().rev()) {
        run.copy_from_slice(&[v; RUN]);
    }
}

/// `gram[i, j] = (factor sum_ch x_i[ch] y_j[ch]) scale` for the increments
/// `x` (`n1 x d`) and `y_t` (the second path's, channel by channel: `d x
/// n2`), rounded as [`strip_dots`] rounds each fine cell, so both give the
/// same numbers.
///
/// Each sum is a chain of `d` dependent multiply-adds: `GRAM_TILE` of them
/// run side by side in registers (one channel at a time, in order), over
/// a tile of columns whose `y_t` stays in L1 across the rows `i`. One sum
/// at a time (scalar) made the pair's products a third of the solve at
/// order 1; a row at a time through memory, still a third at d = 20.
#[inline(always)]
fn coarse_gram_body<T: Float, const FMA: bool>(x: &[T], y_t: &[T], d: usize, factor: T, scale: T, gram: &mut [T]) {
    let n2 = y_t.len() / d;
    let whole = n2 / GRAM_TILE * GRAM_TILE;
    for j0 in (0..whole).step_by(GRAM_TILE) {
        for (xi, row) in x.chunks_exact(d).zip(gram.chunks_exact_mut(n2)) {
            let mut acc = [T::zero(); GRAM_TILE];
            for (ch, &a) in xi.iter().enumerate() {
                let y: &[T; GRAM_TILE] = y_t[ch * n2 + j0..ch * n2 + j0 + GRAM_TILE].try_into().expect("a tile of y_t");
                for (s, &b) in acc.iter_mut().zip(y) {
                    *s = fmadd::<T, FMA>(a, b, *s);
                }
            }
            for (g, &s) in row[j0..j0 + GRAM_TILE].iter_mut().zip(&acc) {
                *g = s * factor * scale;
            }
        }
    }
    for (xi, row) in x.chunks_exact(d).zip(gram.chunks_exact_mut(n2)) {
        for (j, g) in row.iter_mut().enumerate().skip(whole) {
            let mut s = T::zero();
            for (ch, &a) in xi.iter().enumerate() {
                s = fmadd::<T, FMA>(a, y_t[ch * n2 + j], s);
            }
            *g = s * factor * scale;
        }
    }
}

/// Columns per tile of [`coarse_gram`]: eight AVX registers of f64.
const GRAM_TILE: usize = 32;

crate::simd::fma_dispatched! {
    fn coarse_gram<T>(x: &[T], y_t: &[T], d: usize, factor: T, scale: T, gram: &mut [T]) = coarse_gram_body;
}

crate::simd::fma_dispatched! {
    fn strip_dots<T>(xs: &[Strip<T>], yr: &[T], ly: usize, off: usize, factor: T, scale: T, out: &mut [Strip<T>]) = strip_dots_body;
}

/// One strip forward: from its source row `src` (`cols` values) and the
/// `a` of each step, each step's values into `out` (lane `k` of step `s`
/// is cell `(r0 + 1 + k, s - k + 1)`). The scheme's arithmetic is the lane
/// solver's, operation for operation, so the values are the same.
#[inline(always)]
fn strip_forward_body<T: Float, const FMA: bool>(src: &[T], a: &[Strip<T>], out: &mut [Strip<T>]) {
    let (half, twelfth) = (T::from_f64(0.5).unwrap(), T::one() / from_usize::<T>(12));
    let cols = src.len();
    let one = T::one();
    let (mut p1, mut p2) = ([one; STRIP], [one; STRIP]);
    for (s, (av, o)) in a.iter().zip(out.iter_mut()).enumerate() {
        let up0 = if s + 1 < cols { src[s + 1] } else { one };
        let diag0 = if s < cols { src[s] } else { one };
        let mut cur = [T::zero(); STRIP];
        for l in 0..STRIP {
            let (up, diag) = if l == 0 { (up0, diag0) } else { (p1[l - 1], p2[l - 1]) };
            let x = av[l];
            let x2 = x * x * twelfth;
            let (a_co, b_co) = (one + x * half + x2, one - x2);
            cur[l] = fmadd::<T, FMA>(p1[l] + up, a_co, -(diag * b_co));
        }
        *o = cur;
        p2 = p1;
        p1 = cur;
    }
}

crate::simd::fma_dispatched! {
    fn strip_forward<T>(src: &[T], a: &[Strip<T>], out: &mut [Strip<T>]) = strip_forward_body;
}

/// The adjoint of [`strip_forward`]: from the strip's forward values `f`,
/// its source row `src`, its `a`, the gradient of its cells from outside
/// (`ext`, or none), and `g_below` (what the strip below sent to this
/// strip's last row, per column), writes `dF/da` of each step's lanes
/// (unscaled) into `ga` and adds what the strip sends to its source row
/// into `g_above`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn strip_backward_body<T: Float, const FMA: bool>(src: &[T], f: &[Strip<T>], a: &[Strip<T>], ext: Option<&[Strip<T>]>, g_below: &[T], g_above: &mut [T], ga: &mut [Strip<T>]) {
    let (half, twelfth, sixth) = (T::from_f64(0.5).unwrap(), T::one() / from_usize::<T>(12), T::one() / from_usize::<T>(6));
    let cols = src.len();
    let (one, zero) = (T::one(), T::zero());
    let no_ext = [zero; STRIP];
    // P = G A of the step after, Q = G B of the two steps after
    let (mut p1, mut q1, mut q2) = ([zero; STRIP], [zero; STRIP], [zero; STRIP]);
    for s in (0..a.len()).rev() {
        // the last lane's row below: column s + 2 - STRIP
        let below = match (s + 2).checked_sub(STRIP) {
            Some(c) if c < cols => g_below[c],
            _ => zero,
        };
        let ones = [one; STRIP];
        let left = if s >= 1 { &f[s - 1] } else { &ones };
        let prev2 = if s >= 2 { &f[s - 2] } else { &ones };
        // the lane above's cells (lane 0: the source row), as in the forward step
        let (mut up, mut diag) = ([zero; STRIP], [zero; STRIP]);
        up[0] = if s + 1 < cols { src[s + 1] } else { one };
        diag[0] = if s < cols { src[s] } else { one };
        up[1..].copy_from_slice(&left[..STRIP - 1]);
        diag[1..].copy_from_slice(&prev2[..STRIP - 1]);
        // what the lane below sends: its P one step after, less its Q two
        // steps after (the last lane: the strip below, through `g_below`);
        // the parts known before `p1` go first, off the chain of steps
        let e = ext.map_or(&no_ext, |e| &e[s]);
        let (mut p1_below, mut rest) = ([zero; STRIP], [zero; STRIP]);
        for l in 0..STRIP - 1 {
            p1_below[l] = p1[l + 1];
            rest[l] = e[l] - q2[l + 1];
        }
        rest[STRIP - 1] = e[STRIP - 1] + below;
        let av = &a[s];
        let (mut p, mut q, mut g_a) = ([zero; STRIP], [zero; STRIP], [zero; STRIP]);
        for l in 0..STRIP {
            let g = (p1[l] + p1_below[l]) + rest[l];
            let x = av[l];
            let x2 = x * x * twelfth;
            let (a_co, b_co) = (one + x * half + x2, one - x2);
            let x6 = x * sixth;
            // lanes past their last column have g = 0 but may hold
            // overflowed values: keep their dF/da an exact 0
            let d_a = g * fmadd::<T, FMA>(left[l] + up[l], half + x6, diag[l] * x6);
            g_a[l] = if g == zero { zero } else { d_a };
            p[l] = g * a_co;
            q[l] = g * b_co;
        }
        if s + 1 < cols {
            g_above[s + 1] += p[0];
        }
        if s < cols {
            g_above[s] -= q[0];
        }
        ga[s] = g_a;
        q2 = q1;
        q1 = q;
        p1 = p;
    }
}

crate::simd::fma_dispatched! {
    fn strip_backward<T>(src: &[T], f: &[Strip<T>], a: &[Strip<T>], ext: Option<&[Strip<T>]>, g_below: &[T], g_above: &mut [T], ga: &mut [Strip<T>]) = strip_backward_body;
}

/// The last row of a strip of `h` rows (its lane `h - 1`) into `row`.
fn strip_last_row<T: Float>(f: &[Strip<T>], h: usize, row: &mut [T]) {
    row[0] = T::one();
    for c in 1..row.len() {
        row[c] = f[c - 1 + h - 1][h - 1];
    }
}

/// Strips of a grid: `ceil((rows - 1) / STRIP)`.
fn strip_count(grid: &Grid) -> usize {
    (grid.rows() - 1).div_ceil(STRIP)
}

/// Rows of strip `m`: its source row and its height.
fn strip_rows(grid: &Grid, m: usize) -> (usize, usize) {
    let r0 = m * STRIP;
    (r0, STRIP.min(grid.rows() - 1 - r0))
}

/// Solves one pair's grid strip by strip, writing the whole grid into
/// `grid_out` (`rows * cols`) when given, and returns `k(x, y)`. With
/// `hold`, every strip's values stay in `scratch.f` (strip `m` at `m *
/// strip_stride`), for a backward pass.
fn wave_forward<T: Float>(grid: &Grid, coef: &WaveCoef<'_, T>, scratch: &mut WaveScratch<T>, mut grid_out: Option<&mut [T]>, hold: bool) -> Result<T> {
    let strips = strip_count(grid);
    let WaveScratch { a, f, src, xs, rows_a, .. } = scratch;
    let what = "strips of the PDE grid";
    try_resize(f, what, checked_product(what, &[if hold { strips } else { 1 }, strip_stride(grid.cols())])?, [T::zero(); STRIP])?;
    try_refill(src, "a row of the PDE grid", grid.cols(), T::one())?;
    if let Some(out) = grid_out.as_deref_mut() {
        out[..grid.cols()].fill(T::one());
    }
    let bufs = StripBufs { a, f, src, xs, rows_a };
    forward_strips(grid, coef, bufs, 0..strips, hold, grid_out, None)
}

/// The buffers a run of strips works in (fields of [`WaveScratch`]).
struct StripBufs<'s, T> {
    a: &'s mut Vec<Strip<T>>,
    f: &'s mut [Strip<T>],
    src: &'s mut [T],
    xs: &'s mut Vec<Strip<T>>,
    rows_a: &'s mut Vec<T>,
}

/// Solves strips `range` of one pair's grid from `bufs.src`, the source
/// row of the first, and leaves the last one's last row in `bufs.src`;
/// returns the last cell's value. With `hold`, strip `m`'s values stay in
/// `bufs.f` at `(m - range.start) * strip_stride`; with `marks = (rows,
/// seg)`, the source row of each strip `m = k seg` (`k >= 1`) that the
/// range reaches (one of its strips or the next) is kept as row `k - 1`
/// of `rows`, for [`wave_backward`]'s recomputation.
fn forward_strips<T: Float>(grid: &Grid, coef: &WaveCoef<'_, T>, bufs: StripBufs<'_, T>, range: std::ops::Range<usize>, hold: bool, mut grid_out: Option<&mut [T]>, mut marks: Option<(&mut [T], usize)>) -> Result<T> {
    let StripBufs { a, f, src, xs, rows_a } = bufs;
    let cols = grid.cols();
    let stride = strip_stride(cols);
    try_resize(a, "strips of the PDE grid", stride, [T::zero(); STRIP])?;
    let mut checkpoint = Checkpoint::new(STRIP * row_work(cols) / LANES);
    let mut value = src[cols - 1];
    for m in range.clone() {
        if checkpoint.tick() {
            return Err(SigError::Interrupted);
        }
        let (r0, h) = strip_rows(grid, m);
        let steps = strip_steps(cols, h);
        strip_coefficients(grid, coef, r0, h, xs, rows_a, &mut a[..steps])?;
        let slot = if hold { (m - range.start) * stride } else { 0 };
        let out = &mut f[slot..slot + steps];
        strip_forward(src, &a[..steps], out);
        if let Some(g) = grid_out.as_deref_mut() {
            for k in 0..h {
                let row = &mut g[(r0 + 1 + k) * cols..(r0 + 2 + k) * cols];
                row[0] = T::one();
                for c in 1..cols {
                    row[c] = out[c - 1 + k][k];
                }
            }
        }
        strip_last_row(out, h, src);
        value = src[cols - 1];
        if let Some((rows, seg)) = marks.as_mut() {
            if (m + 1) % *seg == 0 {
                let k = (m + 1) / *seg - 1;
                rows[k * cols..(k + 1) * cols].copy_from_slice(src);
            }
        }
    }
    Ok(value)
}

/// How many strips the wavefront backward pass holds at once within
/// `budget` bytes: all of them when the whole forward grid fits; else a
/// segment of strips in half the budget, each segment but the last
/// recomputed from its kept source row (one row per segment, in the other
/// half), for about one more forward pass. `None` when not even that fits
/// (rows of hundreds of thousands of columns): the lane solver, whose
/// checkpointing goes down to single rows, runs instead.
fn wave_segment<T>(grid: &Grid, budget: usize) -> Option<usize> {
    let strips = strip_count(grid);
    let strip_bytes = strip_stride(grid.cols()).saturating_mul(std::mem::size_of::<Strip<T>>());
    if strips.saturating_mul(strip_bytes) <= budget {
        return Some(strips);
    }
    let seg = (budget / 2) / strip_bytes.max(1);
    let marks = strips.div_ceil(seg.max(1)) - 1;
    (seg > 0 && marks.saturating_mul(grid.cols()).saturating_mul(std::mem::size_of::<T>()) <= budget / 2).then_some(seg)
}

/// The adjoint of [`wave_forward`]: from the gradient of the grid (its last
/// point `derivs[0]`, or with `grid_derivs` every point, `derivs` being the
/// pair's `rows * cols`), the gradient of the pair's double increments
/// into `scratch.g_delta` (`n1 * n2`). The forward values come from
/// `k_grid` (the pair's grid) when given, else from a forward pass held
/// in segments of `seg` strips (see [`wave_segment`]).
///
/// With `fused` (the linear kernel only), the gradients of the increments
/// instead: `sum_j dF/d(delta_ij) dy_j` into `scratch.gx` (`n1 x d`) and
/// `sum_i dF/d(delta_ij) dx_i` into `scratch.gy` (`n2 x d`), summed strip
/// by strip, without the `n1 n2` gradients.
#[allow(clippy::too_many_arguments)]
fn wave_backward<T: Float>(grid: &Grid, coef: &WaveCoef<'_, T>, scratch: &mut WaveScratch<T>, derivs: &[T], grid_derivs: bool, k_grid: Option<&[T]>, fused: bool, seg: usize) -> Result<()> {
    let (cols, strips, n2) = (grid.cols(), strip_count(grid), grid.n2);
    let stride = strip_stride(cols);
    let (l1, l2) = (grid.order.first, grid.order.second);
    let seg = seg.clamp(1, strips.max(1));
    let last_seg = (strips.max(1) - 1) / seg * seg;
    if k_grid.is_none() {
        if last_seg == 0 {
            wave_forward(grid, coef, scratch, None, true)?;
        } else {
            // through to the last segment keeping each segment's source
            // row, then the last segment held
            let WaveScratch { a, f, src, xs, rows_a, marks, .. } = scratch;
            let what = "strips of the PDE grid";
            try_resize(f, what, checked_product(what, &[seg, stride])?, [T::zero(); STRIP])?;
            try_refill(src, what, cols, T::one())?;
            try_resize(marks, "checkpoint rows of the PDE grid", checked_product("checkpoint rows of the PDE grid", &[last_seg / seg, cols])?, T::zero())?;
            forward_strips(grid, coef, StripBufs { a, f, src, xs, rows_a }, 0..last_seg, false, None, Some((marks, seg)))?;
            forward_strips(grid, coef, StripBufs { a, f, src, xs, rows_a }, last_seg..strips, true, None, None)?;
        }
    }
    let WaveScratch { a, f, src, xs, rows_a, marks, g_delta, ext, ga, g_below, g_above, gxs, gx, gyr, gy } = scratch;
    let what = "a strip's adjoint";
    let linear = match *coef {
        WaveCoef::Linear { d, .. } if fused => Some(d),
        _ => None,
    };
    let (ly, off) = (yr_len(cols), cols + STRIP - 3);
    if let Some(d) = linear {
        let what = "gradients of the increments";
        try_refill(gx, what, checked_product(what, &[grid.n1, d])?, T::zero())?;
        try_refill(gy, what, checked_product(what, &[n2, d])?, T::zero())?;
        try_refill(gyr, what, checked_product(what, &[d, ly])?, T::zero())?;
        try_refill(gxs, what, d, [T::zero(); STRIP])?;
    } else {
        try_refill(g_delta, "gradients of the double increments", checked_product("gradients of the double increments", &[grid.n1, n2])?, T::zero())?;
    }
    try_resize(a, what, stride, [T::zero(); STRIP])?;
    try_resize(ga, what, stride, [T::zero(); STRIP])?;
    try_refill(g_below, what, cols, T::zero())?;
    try_refill(g_above, what, cols, T::zero())?;
    try_resize(src, what, cols, T::one())?;
    try_resize(ext, what, stride, [T::zero(); STRIP])?;
    if k_grid.is_some() {
        try_resize(f, what, stride, [T::one(); STRIP])?;
    }
    let mut checkpoint = Checkpoint::new(3 * STRIP * row_work(cols) / LANES);
    for m in (0..strips).rev() {
        if checkpoint.tick() {
            return Err(SigError::Interrupted);
        }
        let (r0, h) = strip_rows(grid, m);
        let steps = strip_steps(cols, h);
        let s0 = m / seg * seg;
        if k_grid.is_none() && s0 < last_seg && m == s0 + seg - 1 {
            // a segment's forward values, again from its source row
            src_row(marks, s0 / seg, cols, src);
            forward_strips(grid, coef, StripBufs { a, f, src, xs, rows_a }, s0..s0 + seg, true, None, None)?;
        }
        // the strip's forward values and source row
        let fwd: &[Strip<T>] = match k_grid {
            Some(kg) => {
                let fs = &mut f[..steps];
                fs.fill([T::one(); STRIP]);
                for k in 0..h {
                    let row = &kg[(r0 + 1 + k) * cols..(r0 + 2 + k) * cols];
                    for c in 1..cols {
                        fs[c - 1 + k][k] = row[c];
                    }
                }
                src.copy_from_slice(&kg[r0 * cols..(r0 + 1) * cols]);
                fs
            }
            None => {
                let at = (m - s0) * stride;
                if m == s0 {
                    src_row(marks, s0 / seg, cols, src);
                } else {
                    strip_last_row(&f[at - stride..at], STRIP, src);
                }
                &f[at..at + steps]
            }
        };
        strip_coefficients(grid, coef, r0, h, xs, rows_a, &mut a[..steps])?;
        // the grid's gradient enters each cell's adjoint; dF/dk, the last cell
        let with_ext = grid_derivs || m == strips - 1;
        if with_ext {
            let e = &mut ext[..steps];
            e.fill([T::zero(); STRIP]);
            if grid_derivs {
                for k in 0..h {
                    let row = &derivs[(r0 + 1 + k) * cols..(r0 + 2 + k) * cols];
                    for c in 1..cols {
                        e[c - 1 + k][k] = row[c];
                    }
                }
            } else {
                e[steps - 1][h - 1] = derivs[0];
            }
        }
        strip_backward(src, fwd, &a[..steps], with_ext.then_some(&ext[..steps]), g_below, g_above, &mut ga[..steps]);
        match (linear, coef) {
            (Some(d), WaveCoef::Linear { yr, .. }) => {
                // dF/da times the other side's increments, lane by lane
                // (`xs` holds this strip's rows, from `strip_coefficients`)
                gxs.fill([T::zero(); STRIP]);
                strip_increment_grads(&ga[..steps], xs, yr, ly, off, gxs, gyr);
                for k in 0..h {
                    let i = (r0 + k) >> l1;
                    for (ch, g) in gxs.iter().enumerate() {
                        gx[i * d + ch] += g[k];
                    }
                }
            }
            _ => {
                // dF/da of the grid's cells into their coarse double increments
                for k in 0..h {
                    let gd = &mut g_delta[((r0 + k) >> l1) * n2..((r0 + k) >> l1) * n2 + n2];
                    for c in 0..cols - 1 {
                        gd[c >> l2] += ga[c + k][k];
                    }
                }
            }
        }
        std::mem::swap(g_below, g_above);
        g_above.fill(T::zero());
    }
    let scale = grid.scale::<T>();
    if let Some(d) = linear {
        // fine columns into their increments
        for ch in 0..d {
            for c in 0..cols - 1 {
                gy[(c >> l2) * d + ch] += gyr[ch * ly + off - c];
            }
        }
        for g in gx.iter_mut().chain(gy.iter_mut()) {
            *g *= scale;
        }
    } else {
        for g in g_delta.iter_mut() {
            *g *= scale;
        }
    }
    Ok(())
}

/// The source row of segment `k` (of [`wave_backward`]): the first row of
/// the grid, or the row [`forward_strips`] kept in `marks`.
fn src_row<T: Float>(marks: &[T], k: usize, cols: usize, src: &mut [T]) {
    if k == 0 {
        src.fill(T::one());
    } else {
        src.copy_from_slice(&marks[(k - 1) * cols..k * cols]);
    }
}

/// The fused linear adjoint of one strip: `gxs[ch][k] += ga[s][k] yr[ch,
/// off - s + k]` and `gyr[ch, off - s + k] += ga[s][k] xs[ch][k]` over the
/// steps `s`. Lanes outside the grid add nothing: their `ga` is 0, or their
/// increment is a padding 0 and their `ga` finite.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn strip_increment_grads_body<T: Float, const FMA: bool>(ga: &[Strip<T>], xs: &[Strip<T>], yr: &[T], ly: usize, off: usize, gxs: &mut [Strip<T>], gyr: &mut [T]) {
    let zero = T::zero();
    for (ch, (x, gx)) in xs.iter().zip(gxs.iter_mut()).enumerate() {
        let (yrow, grow) = (&yr[ch * ly..(ch + 1) * ly], &mut gyr[ch * ly..(ch + 1) * ly]);
        let mut acc = *gx;
        // the window `gyr[base..base + STRIP]` of step `s` stays in
        // registers: each step moves it down one place, and the place
        // that leaves it (no later step reaches it) is added out
        let mut window = [zero; STRIP];
        for (s, g) in ga.iter().enumerate() {
            let base = off - s;
            let y: &Strip<T> = yrow[base..base + STRIP].try_into().expect("a strip of yr");
            if s > 0 {
                grow[base + STRIP] += window[STRIP - 1];
                let mut moved = [zero; STRIP];
                moved[1..].copy_from_slice(&window[..STRIP - 1]);
                window = moved;
            }
            for l in 0..STRIP {
                acc[l] = fmadd::<T, FMA>(g[l], y[l], acc[l]);
                window[l] = fmadd::<T, FMA>(g[l], x[l], window[l]);
            }
        }
        if let Some(last) = ga.len().checked_sub(1) {
            let base = off - last;
            for (o, w) in grow[base..base + STRIP].iter_mut().zip(&window) {
                *o += *w;
            }
        }
        *gx = acc;
    }
}

crate::simd::fma_dispatched! {
    fn strip_increment_grads<T>(ga: &[Strip<T>], xs: &[Strip<T>], yr: &[T], ly: usize, off: usize, gxs: &mut [Strip<T>], gyr: &mut [T]) = strip_increment_grads_body;
}

impl<T: Float> Source<'_, T> {
    /// Pair `b`'s coefficients for the wavefront solver, loaded into
    /// `inputs`; true when a polynomial base was clamped.
    fn load_pair<'s>(&'s self, grid: &Grid, b: usize, inputs: &'s mut WaveInputs<T>) -> Result<(WaveCoef<'s, T>, bool)> {
        let (n1, n2) = (grid.n1, grid.n2);
        match self {
            Source::Given(delta) => Ok((WaveCoef::Matrix(&delta[b * n1 * n2..(b + 1) * n1 * n2]), false)),
            Source::Linear { pair, scale } => {
                let PathPair { paths1, paths2, shape1, shape2, transform } = *pair;
                let d = transform.out_dim(shape1.dim);
                let WaveInputs { dx, incr1, incr2, incr2_t, yr, gram, .. } = inputs;
                let what = "increments of a pair of paths";
                try_resize(dx, what, d, T::zero())?;
                try_resize(incr1, what, checked_product(what, &[n1, d])?, T::zero())?;
                try_resize(incr2, what, checked_product(what, &[n2, d])?, T::zero())?;
                load_increments(paths1, shape1, transform, b, dx, incr1);
                load_increments(paths2, shape2, transform, b, dx, incr2);
                fill_yr(grid, incr2, d, yr)?;
                let gram = if uses_gram::<T>(grid, d) {
                    let what = "inner products of a pair's increments";
                    try_resize(gram, what, checked_product(what, &[n1, n2])?, T::zero())?;
                    try_resize(incr2_t, what, incr2.len(), T::zero())?;
                    for (j, dy) in incr2.chunks_exact(d).enumerate() {
                        for (ch, &v) in dy.iter().enumerate() {
                            incr2_t[ch * n2 + j] = v;
                        }
                    }
                    coarse_gram(incr1, incr2_t, d, *scale, grid.scale::<T>(), gram);
                    Some(&gram[..])
                } else {
                    None
                };
                Ok((WaveCoef::Linear { incr1, yr, d, factor: *scale, gram }, false))
            }
            Source::Points { pair, kernel } => {
                let PathPair { paths1, paths2, shape1, shape2, transform } = *pair;
                let d = transform.out_dim(shape1.dim);
                let WaveInputs { delta, pts1, pts2, point, k_rows, .. } = inputs;
                let what = "points of a pair of paths";
                for (pts, paths, shape) in [(&mut *pts1, paths1, shape1), (&mut *pts2, paths2, shape2)] {
                    let length = transform.out_length(shape.length);
                    try_refill(point, what, d, T::zero())?;
                    try_refill(pts, what, checked_product(what, &[length, d])?, T::zero())?;
                    let path = &paths[b * shape.path_len()..(b + 1) * shape.path_len()];
                    for (p, out) in pts.chunks_exact_mut(d.max(1)).enumerate().take(length) {
                        transform.point(path, shape.dim, shape.length, p, point);
                        out[..d].copy_from_slice(point);
                    }
                }
                let what = "double increments of a pair";
                try_refill(delta, what, checked_product(what, &[n1, n2])?, T::zero())?;
                let x = Points { data: &pts1[..], len: n1 + 1, dim: d };
                let y = Points { data: &pts2[..], len: n2 + 1, dim: d };
                let clamped = kernel.deltas::<1>(x, y, 1, k_rows, delta)?;
                Ok((WaveCoef::Matrix(delta), clamped))
            }
        }
    }
}

/// [`sig_kernel`] pair by pair with the wavefront solver (see [`use_wavefront`]).
fn sig_kernel_wave<T: Float>(source: &Source<'_, T>, grid: &Grid, shape: &KernelShape, n_jobs: i64, out: KernelOut<'_, T>) -> Result<KernelReport> {
    let clamped = AtomicBool::new(false);
    let work = grid.cells().saturating_mul(4);
    let (chunk, outs) = match out {
        KernelOut::Values(v) => {
            check_len("out", v.len(), shape.batch)?;
            (1, v)
        }
        KernelOut::Grids(g) => {
            check_len("out", g.len(), shape.checked_grids_len()?)?;
            (shape.checked_grid_len()?, g)
        }
    };
    let mut items: Vec<&mut [T]> = Vec::new();
    try_reserve(&mut items, "the pairs of a batch", shape.batch)?;
    items.extend(outs.chunks_mut(chunk));
    let init = || Ok((WaveScratch::new(), WaveInputs::new()));
    try_for_each_item(n_jobs, &mut items, work, init, |(scratch, inputs), b, out| {
        let (coef, c) = source.load_pair(grid, b, inputs)?;
        if c {
            clamped.store(true, Ordering::Relaxed);
        }
        if chunk == 1 {
            out[0] = wave_forward(grid, &coef, scratch, None, false)?;
        } else {
            wave_forward(grid, &coef, scratch, Some(out), false)?;
        }
        Ok(())
    })?;
    Ok(KernelReport { clamped: clamped.into_inner() })
}

/// A task of a backward pass: its pairs and their slices of the outputs.
pub(crate) type PairOuts<'b, T> = (Group, Option<&'b mut [T]>, Option<&'b mut [T]>);

/// [`backprop_within`] pair by pair with the wavefront solver: each pair's
/// task is its index (a group of one) and its slices of the outputs;
/// `seg` strips of forward values are held at once (see [`wave_segment`]).
fn backprop_wave<T: Float>(job: &BackpropJob<'_, T>, n_jobs: i64, tasks: &mut [PairOuts<'_, T>], seg: usize) -> Result<()> {
    let grid = &job.grid;
    let work = grid.cells().saturating_mul(12);
    let init = || Ok((WaveScratch::new(), WaveInputs::new()));
    try_for_each_item(n_jobs, tasks, work, init, |(scratch, inputs), _, (group, out1, out2)| {
        let b = group.start;
        for o in [out1.as_deref_mut(), out2.as_deref_mut()].into_iter().flatten() {
            o.fill(T::zero());
        }
        let source = job.source;
        let (coef, _) = source.load_pair(grid, b, inputs)?;
        let gl = job.grid_len;
        let derivs = if job.grid_derivs { &job.derivs[b * gl..(b + 1) * gl] } else { &job.derivs[b..b + 1] };
        let k_grid = job.k_grid.map(|k| &k[b * gl..(b + 1) * gl]);
        let fused = !job.increments_out && matches!(coef, WaveCoef::Linear { .. });
        wave_backward(grid, &coef, scratch, derivs, job.grid_derivs, k_grid, fused, seg)?;
        let g_delta = &scratch.g_delta;
        if job.increments_out {
            if let Some(o) = out1.as_deref_mut() {
                o.copy_from_slice(g_delta);
            }
            return Ok(());
        }
        let (n1, n2) = (grid.n1, grid.n2);
        match source {
            Source::Given(_) => unreachable!("given increments only have increment gradients"),
            Source::Linear { pair: PathPair { shape1: s1, shape2: s2, transform, .. }, scale } => {
                let d = transform.out_dim(s1.dim);
                if d == 0 {
                    return Ok(());
                }
                // dF/d(dx_i) = factor sum_j dF/d(delta_ij) dy_j, and the
                // transpose for y: summed by the fused adjoint
                let dx = &mut inputs.dx;
                for (o, g, shape) in [(out1.as_deref_mut(), &scratch.gx, *s1), (out2.as_deref_mut(), &scratch.gy, *s2)] {
                    let Some(o) = o else { continue };
                    let pg = &mut o[..];
                    for (step, row) in g.chunks_exact(d).enumerate() {
                        for (v, &x) in dx.iter_mut().zip(row) {
                            *v = x * *scale;
                        }
                        transform.increment_backward(pg, shape.dim, step, dx);
                    }
                }
            }
            Source::Points { pair: PathPair { shape1: s1, shape2: s2, transform, .. }, kernel } => {
                let d = transform.out_dim(s1.dim);
                let WaveInputs { pts1, pts2, point, k_rows, g_pts1, g_pts2, .. } = inputs;
                let x = Points { data: &pts1[..], len: n1 + 1, dim: d };
                let y = Points { data: &pts2[..], len: n2 + 1, dim: d };
                for (g, wanted, len) in [(&mut *g_pts1, out1.is_some(), x.len), (&mut *g_pts2, out2.is_some(), y.len)] {
                    try_refill(g, "gradients of the points", if wanted { len * d } else { 0 }, T::zero())?;
                }
                let (gx, gy) = (out1.is_some().then_some(&mut g_pts1[..]), out2.is_some().then_some(&mut g_pts2[..]));
                kernel.backprop::<1>(x, y, 1, g_delta, k_rows, gx, gy)?;
                if d == 0 {
                    return Ok(());
                }
                for (o, g, shape) in [(out1.as_deref_mut(), &*g_pts1, *s1), (out2.as_deref_mut(), &*g_pts2, *s2)] {
                    let Some(o) = o else { continue };
                    for (p, cells) in g.chunks_exact(d).enumerate() {
                        point.copy_from_slice(cells);
                        transform.point_backward(o, shape.dim, p, point);
                    }
                }
            }
        }
        Ok(())
    })
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
            (StaticKernel::Rbf { sigma: 0.5 }, 4000, 32, 0),
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
        let slow_row = grid.rows() - 1 - 240;
        let grad_in = |r: usize, c: usize| {
            if r == slow_row && c == 0 {
                std::thread::sleep(crate::interrupt::POLL_INTERVAL + Duration::from_millis(5));
            }
            lanes(1.0)
        };
        let result = crate::interrupt::watched(&|| true, || solve_backward(&grid, &mut scratch, ForwardRows::Recompute, &grad_in, true, BACKWARD_GRID_BUDGET));
        assert_eq!(result, Err(SigError::Interrupted));
        assert!(solve_backward(&grid, &mut scratch, ForwardRows::Recompute, &grad_in, true, BACKWARD_GRID_BUDGET).is_ok());
    }

    /// Budgets (bytes of forward rows) that force each way of holding the
    /// forward grid of a small grid of `cols` f64 columns: whole, two
    /// levels of checkpoints, three, and the bisection floor.
    fn budgets(rows: usize, cols: usize) -> Vec<(usize, u32)> {
        let row = cols * std::mem::size_of::<Lanes<f64>>();
        let mut out = Vec::new();
        for rows_allowed in [usize::MAX / row, 2 * (rows as f64).sqrt().ceil() as usize + 2, 3 * (rows as f64).cbrt().ceil() as usize + 1, 0] {
            let plan = Plan::new(rows - 1, rows_allowed);
            out.push((rows_allowed.saturating_mul(row), plan.levels));
        }
        out
    }

    #[test]
    fn plans_cover_their_span_within_their_rows() {
        for span in [1, 2, 3, 7, 64, 100, 1000, 5996, 311_296] {
            for budget_rows in [0, 3, 10, 40, 200, usize::MAX] {
                let plan = Plan::new(span, budget_rows);
                assert!(plan.fan.checked_pow(plan.levels).is_none_or(|p| p >= span), "{span} {budget_rows}: {plan:?}");
                assert!(plan.rows_held() <= budget_rows || plan.fan <= 2, "{span} {budget_rows}: {plan:?}");
                if budget_rows > span {
                    assert_eq!(plan.levels, 1, "the whole grid fits");
                }
            }
            // the floor: bisection, about log2(span) + 2 rows
            let floor = Plan::new(span, 0);
            assert!(floor.rows_held() <= (span as f64).log2().ceil() as usize + 3, "{span}: {floor:?}");
        }
        assert_eq!(Plan::new(5996, 174), Plan { levels: 2, fan: 78 });
        assert_eq!(root_ceil(1000, 3), 10);
        assert_eq!(root_ceil(1001, 3), 11);
        assert_eq!(root_ceil(usize::MAX, 2), 1 << 32);
    }

    /// Recomputing segments from checkpoints (at every depth the plans
    /// reach) and reading a given `k_grid` in blocks give the full grid's
    /// gradients bit for bit: value and grid derivatives, odd shapes, both
    /// refinements.
    #[test]
    fn checkpointed_backward_equals_the_full_grid_bit_for_bit() {
        // batches the lane solver runs (see `use_wavefront`)
        for (b, l1, l2, order) in [(3, 9, 5, DyadicOrder { first: 2, second: 1 }), (9, 30, 4, DyadicOrder { first: 1, second: 0 }), (9, 2, 40, DyadicOrder { first: 3, second: 0 })] {
            let shape = KernelShape { batch: b, length1: l1, length2: l2, order };
            let grid = shape.grid().unwrap();
            let delta: Vec<f64> = random(b * (l1 - 1) * (l2 - 1), &mut 50).iter().map(|v| 2.0 * v).collect();
            let inc = Increments::Given(&delta);
            let mut k_grid = vec![0.0; b * shape.grid_len()];
            sig_kernel(&inc, shape, 1, KernelOut::Grids(&mut k_grid)).unwrap();
            for grid_derivs in [false, true] {
                let derivs = random(if grid_derivs { b * shape.grid_len() } else { b }, &mut 51);
                let full = |k: Option<&[f64]>| {
                    let mut g = vec![0.0; delta.len()];
                    backprop_within(&inc, shape, &derivs, grid_derivs, k, 2, KernelGrad::Increments(&mut g), usize::MAX).unwrap();
                    g
                };
                let expected = full(None);
                assert_eq!(full(Some(&k_grid)), expected);
                let mut levels_seen = Vec::new();
                for (budget, levels) in budgets(grid.rows(), grid.cols()) {
                    levels_seen.push(levels);
                    for k in [None, Some(&k_grid[..])] {
                        let mut g = vec![0.0; delta.len()];
                        backprop_within(&inc, shape, &derivs, grid_derivs, k, 1, KernelGrad::Increments(&mut g), budget).unwrap();
                        assert_eq!(g, expected, "{shape:?} grid_derivs {grid_derivs} budget {budget} ({levels} levels) k_grid {}", k.is_some());
                    }
                }
                assert!(levels_seen.contains(&1) && levels_seen.contains(&2) && levels_seen.iter().any(|&l| l >= 3), "{levels_seen:?}");
            }
        }
    }

    /// The same through the paths: both sides' gradients of the linear
    /// kernel and of point kernels, with transforms.
    #[test]
    fn checkpointed_path_gradients_equal_the_full_grid_bit_for_bit() {
        let (b, l1, l2, d) = (5, 12, 7, 2);
        let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
        let (x, y) = (random(b * l1 * d, &mut 52), random(b * l2 * d, &mut 53));
        for kernel in [KERNELS[0], KERNELS[1], KERNELS[2], KERNELS[5]] {
            for transform in [TRANSFORMS[0], TRANSFORMS[3]] {
                let shape = kernel_shape(s1, s2, transform, DyadicOrder { first: 2, second: 1 });
                let grid = shape.grid().unwrap();
                let inc = paths(&x, &y, s1, s2, transform, kernel);
                let mut k_grid = vec![0.0; b * shape.grid_len()];
                sig_kernel(&inc, shape, 1, KernelOut::Grids(&mut k_grid)).unwrap();
                for grid_derivs in [false, true] {
                    let derivs = random(if grid_derivs { b * shape.grid_len() } else { b }, &mut 54);
                    let run = |k: Option<&[f64]>, budget: usize| {
                        let (mut g1, mut g2) = (vec![0.0; x.len()], vec![0.0; y.len()]);
                        backprop_within(&inc, shape, &derivs, grid_derivs, k, 1, KernelGrad::Paths { grad1: Some(&mut g1), grad2: Some(&mut g2) }, budget).unwrap();
                        (g1, g2)
                    };
                    let expected = run(None, usize::MAX);
                    for (budget, levels) in budgets(grid.rows(), grid.cols()) {
                        for k in [None, Some(&k_grid[..])] {
                            assert!(run(k, budget) == expected, "{kernel:?} {transform:?} grid_derivs {grid_derivs} {levels} levels k_grid {}", k.is_some());
                        }
                    }
                }
            }
        }
    }

    /// A grid whose rows (or whose size) overflow `usize` is an `Overflow`
    /// naming `dyadic_order`, never a wrapped size.
    #[test]
    fn grid_size_overflow_is_an_error_naming_dyadic_order() {
        let order = DyadicOrder { first: 20, second: 0 };
        let shape = KernelShape { batch: 1, length1: (1usize << 44) + 1, length2: 1, order };
        let e = sig_kernel(&Increments::<f64>::Given(&[]), shape, 1, KernelOut::Grids(&mut [])).unwrap_err();
        assert!(matches!(&e, SigError::Overflow(m) if m.contains("dyadic_order")), "{e:?}");
        assert!(matches!(shape.checked_grid_len(), Err(SigError::Overflow(_))));
        // rows fit, but rows * cols does not (paths of dimension 0 take no memory)
        let s = PathShape::new(1, (1usize << 30) + 1, 0);
        let shape = kernel_shape(s, s, PathTransform::NONE, DyadicOrder { first: 20, second: 20 });
        let inc = paths(&[], &[], s, s, PathTransform::NONE, StaticKernel::Linear { factor: 1.0 });
        let e = sig_kernel::<f64>(&inc, shape, 1, KernelOut::Grids(&mut [])).unwrap_err();
        assert!(matches!(&e, SigError::Overflow(m) if m.contains("dyadic_order")), "{e:?}");
        let e = sig_kernel_backprop::<f64>(&inc, shape, &[1.0], true, None, 1, KernelGrad::Paths { grad1: Some(&mut []), grad2: None }).unwrap_err();
        assert!(matches!(&e, SigError::Overflow(m) if m.contains("dyadic_order")), "{e:?}");
        // values: the grid is never held, so a huge one is fine when it has no cells
        let shape = KernelShape { batch: 2, length1: (1usize << 40) + 1, length2: 1, order };
        let mut k = [0.0; 2];
        sig_kernel(&Increments::<f64>::Given(&[]), shape, 1, KernelOut::Values(&mut k)).unwrap();
        assert_eq!(k, [1.0, 1.0]);
    }

    /// Scratch a worker cannot have (1 PiB of double increments for one
    /// pair of paths of 2^22 points: beyond any address space) is
    /// `OutOfMemory`, from an item, not an abort, nor a silently unwritten
    /// output.
    #[test]
    fn a_worker_out_of_memory_is_an_error_of_the_call() {
        let l = (1 << 22) + 1;
        let x = vec![0.0f64; 2 * l];
        let s = PathShape::new(2, l, 1);
        let shape = kernel_shape(s, s, PathTransform::NONE, DyadicOrder { first: 0, second: 0 });
        for n_jobs in [1, 2] {
            // the forward pass of the linear kernel needs no double
            // increments (the wavefront solver forms them as it goes): a
            // point kernel's are a pair's `n1 n2` numbers
            let rbf = paths(&x, &x, s, s, PathTransform::NONE, StaticKernel::Rbf { sigma: 1.0 });
            let e = sig_kernel(&rbf, shape, n_jobs, KernelOut::Values(&mut [0.0; 2])).unwrap_err();
            assert!(matches!(e, SigError::OutOfMemory { .. }), "{e:?}");
            let inc = paths(&x, &x, s, s, PathTransform::NONE, StaticKernel::Linear { factor: 1.0 });
            let mut g = vec![0.0; x.len()];
            let e = sig_kernel_backprop(&inc, shape, &[1.0, 1.0], false, None, n_jobs, KernelGrad::Paths { grad1: Some(&mut g), grad2: None }).unwrap_err();
            assert!(matches!(e, SigError::OutOfMemory { .. }), "{e:?}");
        }
    }

    /// Dimension-0 paths: every increment is zero, so every kernel is 1 and
    /// every gradient 0; an empty batch gives empty outputs.
    #[test]
    fn dimension_zero_and_empty_batches_are_ordinary_inputs() {
        for (b, d) in [(3, 0), (0, 2), (0, 0)] {
            let s = PathShape::new(b, 5, d);
            let x = vec![0.0f64; b * 5 * d];
            for kernel in [KERNELS[0], KERNELS[1]] {
                let inc = paths(&x, &x, s, s, PathTransform::NONE, kernel);
                let shape = kernel_shape(s, s, PathTransform::NONE, DyadicOrder { first: 1, second: 1 });
                let mut k = vec![0.0; b];
                sig_kernel(&inc, shape, 2, KernelOut::Values(&mut k)).unwrap();
                assert!(k.iter().all(|&v| v == 1.0), "{k:?}");
                let mut grids = vec![0.0; b * shape.grid_len()];
                sig_kernel(&inc, shape, 2, KernelOut::Grids(&mut grids)).unwrap();
                assert!(grids.iter().all(|&v| v == 1.0));
                let mut g = vec![f64::NAN; x.len()];
                sig_kernel_backprop(&inc, shape, &vec![1.0; b], false, None, 2, KernelGrad::Paths { grad1: Some(&mut g), grad2: None }).unwrap();
                assert!(g.iter().all(|&v| v == 0.0));
            }
        }
    }

    /// The recomputation of checkpointed segments checks for stops too: a
    /// single pair with a budget that forces bisection stops within ~50 ms.
    #[test]
    fn a_stop_request_ends_a_checkpointed_backward_pass_quickly() {
        let (l, d) = (300, 2);
        let (x, y) = (random(l * d, &mut 55), random(l * d, &mut 56));
        let s = PathShape::new(1, l, d);
        let shape = kernel_shape(s, s, PathTransform::NONE, DyadicOrder { first: 4, second: 4 });
        let inc = paths(&x, &y, s, s, PathTransform::NONE, StaticKernel::Linear { factor: 1.0 });
        for asked_ms in [5, 30, 80] {
            let start = Instant::now();
            let requested = std::sync::Mutex::new(None);
            let poll = || {
                let stop = start.elapsed() >= Duration::from_millis(asked_ms);
                if stop {
                    requested.lock().unwrap().get_or_insert_with(Instant::now);
                }
                stop
            };
            let mut g = vec![0.0; x.len()];
            let result = crate::interrupt::watched(&poll, || backprop_within(&inc, shape, &[1.0], false, None, 1, KernelGrad::Paths { grad1: Some(&mut g), grad2: None }, 0));
            assert_eq!(result, Err(SigError::Interrupted));
            let latency = requested.lock().unwrap().expect("a stop was requested").elapsed();
            assert!(latency < Duration::from_millis(50), "stopped {latency:?} after the request");
        }
    }


    /// Orders of refinement the wavefront tests run: both sides, one side, none.
    const WAVE_ORDERS: [DyadicOrder; 6] = [
        DyadicOrder { first: 0, second: 0 },
        DyadicOrder { first: 1, second: 1 },
        DyadicOrder { first: 2, second: 2 },
        DyadicOrder { first: 1, second: 0 },
        DyadicOrder { first: 0, second: 2 },
        // A refined first path's `a` comes from the pair's coarse inner
        // products from the dimension `gram_min_dim` gives on (the d = 3
        // paths here from order 2, and the lead-lag, time-augmented d = 17
        // ones at order 1).
        DyadicOrder { first: 3, second: 0 },
    ];

    /// `LANES + 1` pairs of short paths run by the lane solver, the first
    /// `LANES / 2` of them by the wavefront solver (see `use_wavefront`).
    fn wave_batches() -> (usize, usize) {
        (LANES + 1, LANES / 2)
    }

    /// The wavefront solver (few pairs) gives the lane solver's numbers bit
    /// for bit, values and grids, for the linear kernel (fused, with
    /// transforms), given increments and a point kernel, lengths that are
    /// not multiples of the strip, every refinement, f64 and f32.
    #[test]
    fn wavefront_forward_equals_the_lane_solver_bit_for_bit() {
        fn check<T: Float + std::fmt::Debug>(x: &[T], y: &[T], b: usize, l1: usize, l2: usize, d: usize) {
            let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
            let (few, _) = (wave_batches().1, ());
            for order in WAVE_ORDERS {
                for (kernel, transform) in [(KERNELS[0], TRANSFORMS[0]), (StaticKernel::Linear { factor: 0.7 }, TRANSFORMS[3]), (KERNELS[1], TRANSFORMS[1])] {
                    let shape = kernel_shape(s1, s2, transform, order);
                    let grid = shape.grid().unwrap();
                    for backward in [false, true] {
                        assert!(use_wavefront::<T>(few, &grid, backward) && !use_wavefront::<T>(b, &grid, backward), "{shape:?}");
                    }
                    let inc = paths(x, y, s1, s2, transform, kernel);
                    let mut lanes_k = vec![T::zero(); b];
                    sig_kernel(&inc, shape, 1, KernelOut::Values(&mut lanes_k)).unwrap();
                    let mut lanes_g = vec![T::zero(); b * shape.grid_len()];
                    sig_kernel(&inc, shape, 2, KernelOut::Grids(&mut lanes_g)).unwrap();
                    // the first `few` pairs as a batch of their own
                    let (sx, sy) = (PathShape::new(few, l1, d), PathShape::new(few, l2, d));
                    let inc_few = paths(&x[..few * l1 * d], &y[..few * l2 * d], sx, sy, transform, kernel);
                    let shape_few = KernelShape { batch: few, ..shape };
                    let mut k = vec![T::zero(); few];
                    sig_kernel(&inc_few, shape_few, 2, KernelOut::Values(&mut k)).unwrap();
                    assert_eq!(k, lanes_k[..few], "{kernel:?} {transform:?} {order:?}");
                    let mut g = vec![T::zero(); few * shape.grid_len()];
                    sig_kernel(&inc_few, shape_few, 1, KernelOut::Grids(&mut g)).unwrap();
                    assert!(g == lanes_g[..g.len()], "{kernel:?} {transform:?} {order:?}");
                    // given increments: the transformed paths' linear double increments
                    if matches!(kernel, StaticKernel::Linear { .. }) && transform == TRANSFORMS[0] {
                        let (n1, n2) = (l1 - 1, l2 - 1);
                        let mut delta = vec![T::zero(); few * n1 * n2];
                        static_kernel_deltas(&kernel, &x[..few * l1 * d], sx, &y[..few * l2 * d], sy, 1, &mut delta).unwrap();
                        let mut given = vec![T::zero(); few];
                        sig_kernel(&Increments::Given(&delta), shape_few, 1, KernelOut::Values(&mut given)).unwrap();
                        let mut many = vec![T::zero(); LANES * n1 * n2];
                        for (p, chunk) in many.chunks_exact_mut(n1 * n2).enumerate() {
                            chunk.copy_from_slice(&delta[(p % few) * n1 * n2..(p % few + 1) * n1 * n2]);
                        }
                        let mut given_lanes = vec![T::zero(); LANES];
                        sig_kernel(&Increments::Given(&many), KernelShape { batch: LANES, ..shape }, 1, KernelOut::Values(&mut given_lanes)).unwrap();
                        assert_eq!(given, given_lanes[..few], "given {order:?}");
                    }
                }
            }
        }
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        for (b, l1, l2, d) in [(wave_batches().0, 23, 37, 3), (wave_batches().0, 11, 38, 8)] {
            let (x, y) = (random(b * l1 * d, &mut 60), random(b * l2 * d, &mut 61));
            check(&x, &y, b, l1, l2, d);
            check(&f32s(&x), &f32s(&y), b, l1, l2, d);
        }
    }

    /// The wavefront adjoint gives the lane solver's gradients to rounding:
    /// of the double increments and of both paths, from the value or from
    /// the whole grid, with the forward grid recomputed or given, every
    /// refinement, a point kernel, f64 and f32.
    #[test]
    fn wavefront_gradients_equal_the_lane_solver() {
        fn check<T: Float + std::fmt::Debug>(x: &[T], y: &[T], b: usize, l1: usize, l2: usize, d: usize, tol: f64) {
            let (s1, s2) = (PathShape::new(b, l1, d), PathShape::new(b, l2, d));
            let few = wave_batches().1;
            let (sx, sy) = (PathShape::new(few, l1, d), PathShape::new(few, l2, d));
            let near = |a: &[T], e: &[T], what: &str| {
                let scale = e.iter().fold(0.0f64, |m, v| m.max(v.to_f64().unwrap().abs()));
                for (i, (u, v)) in a.iter().zip(e).enumerate() {
                    let (u, v) = (u.to_f64().unwrap(), v.to_f64().unwrap());
                    assert!((u - v).abs() <= tol * scale, "{what}: [{i}] {u} vs {v} (scale {scale})");
                }
                assert_eq!(a.len(), e.len());
            };
            for order in WAVE_ORDERS {
                for (kernel, transform) in [(KERNELS[0], TRANSFORMS[0]), (StaticKernel::Linear { factor: 0.7 }, TRANSFORMS[3]), (KERNELS[1], TRANSFORMS[2])] {
                    let shape = kernel_shape(s1, s2, transform, order);
                    let shape_few = KernelShape { batch: few, ..shape };
                    let inc = paths(x, y, s1, s2, transform, kernel);
                    let inc_few = paths(&x[..few * l1 * d], &y[..few * l2 * d], sx, sy, transform, kernel);
                    let mut k_grid = vec![T::zero(); b * shape.grid_len()];
                    sig_kernel(&inc, shape, 1, KernelOut::Grids(&mut k_grid)).unwrap();
                    let k_few = &k_grid[..few * shape.grid_len()];
                    for grid_derivs in [false, true] {
                        let n = if grid_derivs { b * shape.grid_len() } else { b };
                        let derivs: Vec<T> = random(n, &mut 62).iter().map(|&v| T::from_f64(v).unwrap()).collect();
                        let derivs_few = &derivs[..if grid_derivs { few * shape.grid_len() } else { few }];
                        for given in [false, true] {
                            let what = format!("{kernel:?} {transform:?} {order:?} grid_derivs {grid_derivs} k_grid {given}");
                            let (mut g1, mut g2) = (vec![T::zero(); x.len()], vec![T::zero(); y.len()]);
                            sig_kernel_backprop(&inc, shape, &derivs, grid_derivs, given.then_some(&k_grid[..]), 1, KernelGrad::Paths { grad1: Some(&mut g1), grad2: Some(&mut g2) }).unwrap();
                            let (mut w1, mut w2) = (vec![T::zero(); few * l1 * d], vec![T::zero(); few * l2 * d]);
                            sig_kernel_backprop(&inc_few, shape_few, derivs_few, grid_derivs, given.then_some(k_few), 2, KernelGrad::Paths { grad1: Some(&mut w1), grad2: Some(&mut w2) }).unwrap();
                            near(&w1, &g1[..w1.len()], &format!("{what} x"));
                            near(&w2, &g2[..w2.len()], &format!("{what} y"));
                            let cells = (shape.length1 - 1) * (shape.length2 - 1);
                            let mut gd = vec![T::zero(); b * cells];
                            sig_kernel_backprop(&inc, shape, &derivs, grid_derivs, None, 1, KernelGrad::Increments(&mut gd)).unwrap();
                            let mut wd = vec![T::zero(); few * cells];
                            sig_kernel_backprop(&inc_few, shape_few, derivs_few, grid_derivs, given.then_some(k_few), 1, KernelGrad::Increments(&mut wd)).unwrap();
                            near(&wd, &gd[..wd.len()], &format!("{what} delta"));
                        }
                    }
                }
            }
        }
        let (b, l1, l2, d) = (wave_batches().0, 21, 35, 2);
        let (x, y) = (random(b * l1 * d, &mut 63), random(b * l2 * d, &mut 64));
        check(&x, &y, b, l1, l2, d, 1e-12);
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        check(&f32s(&x), &f32s(&y), b, l1, l2, d, 2e-5);
    }

    /// A grid too big to hold within the budget as strips is held a
    /// segment of strips at a time, each segment recomputed from its kept
    /// source row: the same numbers as the whole grid held, bit for bit,
    /// at every segment length, for the fused linear adjoint, the double
    /// increments' gradients and a point kernel, with the last cell's
    /// gradient or the whole grid's.
    #[test]
    fn wavefront_backward_in_segments_equals_the_held_grid_bit_for_bit() {
        let (l1, l2, d) = (40, 41, 3);
        let (x, y) = (random(l1 * d, &mut 65), random(l2 * d, &mut 66));
        let (s1, s2) = (PathShape::new(1, l1, d), PathShape::new(1, l2, d));
        for order in [DyadicOrder { first: 1, second: 0 }, DyadicOrder { first: 2, second: 1 }, DyadicOrder { first: 0, second: 0 }] {
            let shape = kernel_shape(s1, s2, PathTransform::NONE, order);
            let grid = shape.grid().unwrap();
            assert!(use_wavefront::<f64>(1, &grid, true));
            let strips = strip_count(&grid);
            let strip_bytes = strip_stride(grid.cols()) * std::mem::size_of::<Strip<f64>>();
            for kernel in [StaticKernel::Linear { factor: 0.8 }, StaticKernel::Rbf { sigma: 1.3 }] {
                let inc = paths(&x, &y, s1, s2, PathTransform::NONE, kernel);
                for grid_derivs in [false, true] {
                    let derivs = if grid_derivs { random(shape.grid_len(), &mut 67) } else { vec![1.5] };
                    let run = |budget: usize| {
                        let (mut g1, mut g2) = (vec![0.0; x.len()], vec![0.0; y.len()]);
                        backprop_within(&inc, shape, &derivs, grid_derivs, None, 1, KernelGrad::Paths { grad1: Some(&mut g1), grad2: Some(&mut g2) }, budget).unwrap();
                        let mut gd = vec![0.0; grid.n1 * grid.n2];
                        backprop_within(&inc, shape, &derivs, grid_derivs, None, 1, KernelGrad::Increments(&mut gd), budget).unwrap();
                        (g1, g2, gd)
                    };
                    let held = run(BACKWARD_GRID_BUDGET);
                    assert!(wave_segment::<f64>(&grid, BACKWARD_GRID_BUDGET) == Some(strips));
                    // (from half the strips on, they are all held)
                    for seg in [1, 2, 3, (strips - 1) / 2].into_iter().filter(|&s| s > 0 && 2 * s < strips) {
                        let budget = 2 * seg * strip_bytes;
                        assert_eq!(wave_segment::<f64>(&grid, budget), Some(seg));
                        assert!(run(budget) == held, "{order:?} {kernel:?} grid_derivs {grid_derivs} seg {seg} of {strips}");
                    }
                }
            }
        }
    }

    /// A grid whose single strip is past half the budget goes to the lane
    /// solver's checkpointed sweep: the same gradients either way.
    #[test]
    fn wavefront_backward_past_one_strip_uses_the_checkpointed_lane_solver() {
        let (l1, l2, d) = (40, 50, 2);
        let (x, y) = (random(l1 * d, &mut 65), random(l2 * d, &mut 66));
        let s1 = PathShape::new(1, l1, d);
        let s2 = PathShape::new(1, l2, d);
        let shape = kernel_shape(s1, s2, PathTransform::NONE, DyadicOrder { first: 1, second: 0 });
        let grid = shape.grid().unwrap();
        assert!(use_wavefront::<f64>(1, &grid, true));
        let inc = paths(&x, &y, s1, s2, PathTransform::NONE, StaticKernel::Linear { factor: 1.0 });
        let run = |budget: usize| {
            let mut g = vec![0.0; x.len()];
            backprop_within(&inc, shape, &[1.5], false, None, 1, KernelGrad::Paths { grad1: Some(&mut g), grad2: None }, budget).unwrap();
            g
        };
        let small = 4 * grid.cols() * std::mem::size_of::<Lanes<f64>>();
        assert!(wave_segment::<f64>(&grid, small).is_none());
        close(&run(small), &run(BACKWARD_GRID_BUDGET), 1e-12);
    }

    /// Throwaway timing (run with `--ignored --nocapture`): the wavefront
    /// solver's parts on one pair.
    #[test]
    #[ignore]
    fn timing_wavefront_parts() {
        let (l, d) = (2000, 5);
        let (x, y) = (random(l * d, &mut 70), random(l * d, &mut 71));
        let s = PathShape::new(1, l, d);
        let grid = Grid { n1: l - 1, n2: l - 1, order: DyadicOrder { first: 0, second: 0 } };
        let src = Source::Linear { pair: PathPair { paths1: &x, paths2: &y, shape1: s, shape2: s, transform: PathTransform::NONE }, scale: 1.0 };
        let mut inputs = WaveInputs::new();
        let (coef, _) = src.load_pair(&grid, 0, &mut inputs).unwrap();
        let mut scratch = WaveScratch::new();
        let best = |f: &mut dyn FnMut()| (0..7).map(|_| { let t = Instant::now(); f(); t.elapsed() }).min().unwrap();
        let cols = grid.cols();
        let steps = strip_stride(cols);
        let mut a = vec![[0.0; STRIP]; steps];
        let mut f = vec![[0.0; STRIP]; steps];
        let (mut xs, mut rows_a) = (Vec::new(), Vec::new());
        let src_row = vec![1.0; cols];
        let strips = strip_count(&grid);
        let fill = best(&mut || for m in 0..strips { strip_coefficients(&grid, &coef, m * STRIP, STRIP.min(grid.rows() - 1 - m * STRIP), &mut xs, &mut rows_a, &mut a[..strip_steps(cols, STRIP.min(grid.rows() - 1 - m * STRIP))]).unwrap(); });
        let solve = best(&mut || for _ in 0..strips { strip_forward(&src_row, &a, &mut f); });
        let fwd = best(&mut || { wave_forward(&grid, &coef, &mut scratch, None, false).unwrap(); });
        let bwd = best(&mut || { wave_backward(&grid, &coef, &mut scratch, &[1.0], false, None, true, usize::MAX).unwrap(); });
        let mut ga = vec![[0.0; STRIP]; steps];
        let (gb, mut gabove) = (vec![0.0; cols], vec![0.0; cols]);
        let adj = best(&mut || for _ in 0..strips { strip_backward(&src_row, &f, &a, None, &gb, &mut gabove, &mut ga); });
        let (mut gxs, mut gyr) = (vec![[0.0; STRIP]; d], vec![0.0; d * yr_len(cols)]);
        let WaveCoef::Linear { yr, .. } = coef else { unreachable!() };
        let inc = best(&mut || for _ in 0..strips { strip_increment_grads(&ga, &xs, yr, yr_len(cols), cols + STRIP - 3, &mut gxs, &mut gyr); });
        println!("cells {}: fill {fill:?} solve {solve:?} forward {fwd:?} | backward {bwd:?}: adjoint {adj:?} increment grads {inc:?}", grid.cells());
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
