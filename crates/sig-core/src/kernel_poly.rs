//! Signature kernels by the polynomial Goursat solver (pysiglib's
//! `method="polynomial"`), and their exact gradients.
//!
//! The grid has one cell per pair of increments `(i, j)`, as the
//! finite-difference solver at dyadic order 0, with the same double
//! increment `a = delta[i, j]` (see [`crate::kernel`]). Inside a cell, in
//! local coordinates `(s, t)` in `[0, 1]^2`, the PDE `d^2 k / ds dt = a k`
//! is solved as a power series from the cell's bottom edge `f(s) = k(s, 0)`
//! and left edge `g(t) = k(0, t)`, each a polynomial of degree `order`
//! (`N`): the exact solution's coefficients are
//!
//! `c[m, m + q] = w(m, q) g_q` and `c[m + q, m] = w(m, q) f_q`,
//! `w(m, q) = a^m q! / (m! (m + q)!)`,
//!
//! along the diagonals `q = 0..N`. The cell passes on its top edge `T(s) =
//! k(s, 1)` and right edge `R(t) = k(1, t)`, each the exact edge truncated
//! to degree `N`:
//!
//! `T_m = sum_q w(m, q) g_q + sum_{q=1..m} w(m - q, q) f_q`,
//! `R_n = sum_q w(n, q) f_q + sum_{q=1..n} w(n - q, q) g_q`,
//!
//! (the corner `c[0, 0]` is `g_0` in `T` and `f_0` in `R`: the two may
//! differ once truncated), and its top-right vertex takes `(T(1) + R(1)) /
//! 2`. The first row and column of edges are the constant 1. These are
//! pysiglib 4.0's numbers at every order (found by comparing the two; the
//! tests check it to 1e-10).
//!
//! The gradient is the adjoint of exactly this truncated scheme: each
//! cell's outputs are linear in its input edges and polynomial in `a`, so
//! the adjoint cell maps the adjoints of `T`, `R` (and the vertex's) to
//! those of `f`, `g` and `a`. The gradient with respect to `a` then goes to
//! the paths through the static kernel, as the finite-difference backward
//! pass does ([`crate::kernel`]).
//!
//! Pairs are solved `LANES` (8) at a time, lane-interleaved like the
//! finite-difference solver's lane groups: every coefficient operation is
//! one vector operation over the group's pairs. A batch of fewer pairs than
//! lanes is solved a pair per task, in strips of `LANES` rows of cells
//! swept along their anti-diagonals (lane `k` one column behind lane `k -
//! 1`), so a single pair fills the lanes too.
//!
//! # Memory
//!
//! Per worker, with `n1 = length1 - 1`, `n2 = length2 - 1`, `P = order + 1`
//! and `W = 8 size_of::<T>()` bytes per lane group: the group's `n1 n2`
//! double increments, plus forward `W (n2 + 4) P` and backward
//! `W (n2 (c + 2 K + 2) P + 10 P)`, with `K = ceil(sqrt(n1))` rows per block
//! and `c = ceil(n1 / K)` checkpointed rows (and, backward, the `n1 n2`
//! gradients of the double increments): the backward pass keeps the rows of
//! edges only at every `K`-th row, and recomputes each block's cells' input
//! edges from its checkpoint when it reaches that block (in strips: rows of
//! edges at every `K`-th strip, `K ~ sqrt(n1 / LANES)`, and a block's steps'
//! input edges, `K (n2 + LANES) 2 P` lane groups). No coefficient of a
//! cell's interior is ever stored.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::alloc::{try_refill, try_reserve};
use crate::batch::try_for_each_item;
use crate::error::{check_len, Result, SigError};
use crate::interrupt::Checkpoint;
use crate::kernel::{
    check_increments, grad_tasks, groups, increment_grads_out, lanes, DyadicOrder, Grid, Group, Increments, KernelGrad, KernelOut, KernelShape, Lanes,
    Scratch, LANES,
};
use crate::static_kernel::{checked_product, KernelReport};
use crate::simd::fmadd;
use crate::{from_usize, Float};

/// The lowest and highest `order` (retained polynomial degree) accepted, as in pysiglib.
pub const MIN_ORDER: usize = 2;
pub const MAX_ORDER: usize = 64;

/// Shapes of a batch of pair problems for the polynomial solver.
#[derive(Debug, Clone, Copy)]
pub struct PolyShape {
    pub batch: usize,
    /// Points of each (transformed) path: `length - 1` cells per side.
    pub length1: usize,
    pub length2: usize,
    /// Highest retained polynomial degree of each edge, `2..=64`.
    pub order: usize,
}

impl PolyShape {
    fn validate(&self) -> Result<()> {
        if !(MIN_ORDER..=MAX_ORDER).contains(&self.order) {
            return Err(SigError::invalid("order", format!("an order from {MIN_ORDER} to {MAX_ORDER}"), self.order));
        }
        Ok(())
    }

    /// The same cells as the finite-difference solver at dyadic order 0.
    fn kernel_shape(&self) -> KernelShape {
        KernelShape { batch: self.batch, length1: self.length1, length2: self.length2, order: DyadicOrder { first: 0, second: 0 } }
    }

    /// Vertices of one pair's grid, `length1 * length2`.
    pub fn checked_grid_len(&self) -> Result<usize> {
        checked_product("the vertex grid of a pair", &[self.length1, self.length2])
    }
}

/// Per-call constants: `ratio[m P + q] = q! / (m + q)!` and `inv[m] = 1 / m`
/// (`inv[0]` unused). With `pw[m] = a^m / m!` (by the recursion `pw[m] =
/// pw[m - 1] a / m`, which neither overflows nor underflows where the
/// power and the factorial alone would), `w(m, q) = pw[m] ratio[m, q]`.
struct Tables<T> {
    p: usize,
    ratio: Vec<T>,
    inv: Vec<T>,
}

impl<T: Float> Tables<T> {
    fn new(order: usize) -> Result<Self> {
        let p = order + 1;
        let (mut ratio, mut inv) = (Vec::new(), Vec::new());
        try_reserve(&mut ratio, "the polynomial solver's tables", p * p)?;
        try_reserve(&mut inv, "the polynomial solver's tables", p)?;
        for m in 0..p {
            for q in 0..p {
                // q! / (m + q)! = 1 / ((q + 1) ... (q + m)), in f64 (an f32 table underflows to 0 sooner, harmlessly)
                let r = (1..=m).fold(1.0_f64, |acc, k| acc / (q + k) as f64);
                ratio.push(T::from_f64(r).unwrap_or_else(T::zero));
            }
            inv.push(if m == 0 { T::one() } else { T::one() / from_usize::<T>(m) });
        }
        Ok(Tables { p, ratio, inv })
    }

    /// One cell: the top edge into `top` and the right edge into `right`
    /// from the bottom edge `f` and the left edge `g` (`P` lane groups
    /// each); returns the top-right vertex. `pw` is scratch (`P`).
    #[inline]
    fn cell(&self, a: &Lanes<T>, f: &[Lanes<T>], g: &[Lanes<T>], pw: &mut [Lanes<T>], top: &mut [Lanes<T>], right: &mut [Lanes<T>]) -> Lanes<T> {
        let mut vertex = lanes(T::zero());
        poly_cell(&self.ratio, &self.inv, a, f, g, pw, top, right, &mut vertex);
        vertex
    }

    /// The adjoint of [`Tables::cell`]: from the adjoints `lt`, `lr` of the
    /// top and right edges (the vertex's already added, half to every
    /// coefficient of each), the adjoints of `f` into `lf` and of `g` into
    /// `lg`; returns the adjoint of `a`. `pw`, `lpw` are scratch (`P`).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn cell_adjoint(
        &self,
        a: &Lanes<T>,
        f: &[Lanes<T>],
        g: &[Lanes<T>],
        lt: &[Lanes<T>],
        lr: &[Lanes<T>],
        pw: &mut [Lanes<T>],
        lpw: &mut [Lanes<T>],
        lf: &mut [Lanes<T>],
        lg: &mut [Lanes<T>],
    ) -> Lanes<T> {
        let mut la = lanes(T::zero());
        poly_cell_adjoint(&self.ratio, &self.inv, a, f, g, lt, lr, pw, lpw, lf, lg, &mut la);
        la
    }
}

/// `pw[m] = a^m / m!`.
#[inline(always)]
fn powers<T: Float>(inv: &[T], a: &Lanes<T>, pw: &mut [Lanes<T>]) {
    pw[0] = lanes(T::one());
    for m in 1..pw.len() {
        for l in 0..LANES {
            pw[m][l] = pw[m - 1][l] * a[l] * inv[m];
        }
    }
}

/// The cell as sums: `T_m = pw[m] u_m + sum_{r + q = m, q >= 1} w(r, q) f_q`
/// with `u_m = sum_q ratio[m, q] g_q`, and `R` alike with `f` and `g`
/// swapped (`v_m = sum_q ratio[m, q] f_q`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn poly_cell_body<T: Float, const FMA: bool>(
    ratio: &[T],
    inv: &[T],
    a: &Lanes<T>,
    f: &[Lanes<T>],
    g: &[Lanes<T>],
    pw: &mut [Lanes<T>],
    top: &mut [Lanes<T>],
    right: &mut [Lanes<T>],
    vertex: &mut Lanes<T>,
) {
    let p = f.len();
    powers(inv, a, pw);
    for m in 0..p {
        let row = &ratio[m * p..(m + 1) * p];
        let (mut u, mut v) = (lanes(T::zero()), lanes(T::zero()));
        for q in 0..p {
            for l in 0..LANES {
                u[l] = fmadd::<T, FMA>(row[q], g[q][l], u[l]);
                v[l] = fmadd::<T, FMA>(row[q], f[q][l], v[l]);
            }
        }
        for l in 0..LANES {
            top[m][l] = pw[m][l] * u[l];
            right[m][l] = pw[m][l] * v[l];
        }
    }
    // the diagonals from each edge crossing the other edge
    for r in 0..p - 1 {
        let row = &ratio[r * p..(r + 1) * p];
        for q in 1..p - r {
            for l in 0..LANES {
                let w = pw[r][l] * row[q];
                top[r + q][l] = fmadd::<T, FMA>(w, f[q][l], top[r + q][l]);
                right[r + q][l] = fmadd::<T, FMA>(w, g[q][l], right[r + q][l]);
            }
        }
    }
    let mut sum = lanes(T::zero());
    for (t, r) in top.iter().zip(right.iter()) {
        for l in 0..LANES {
            sum[l] = sum[l] + t[l] + r[l];
        }
    }
    let half = T::from_f64(0.5).unwrap_or_else(T::nan);
    *vertex = sum.map(|x| x * half);
}

crate::simd::fma_dispatched! {
    fn poly_cell<T>(ratio: &[T], inv: &[T], a: &Lanes<T>, f: &[Lanes<T>], g: &[Lanes<T>], pw: &mut [Lanes<T>], top: &mut [Lanes<T>], right: &mut [Lanes<T>], vertex: &mut Lanes<T>) = poly_cell_body;
}

/// The adjoint of [`poly_cell_body`], term by term; `dpw[m]/da = pw[m - 1]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn poly_cell_adjoint_body<T: Float, const FMA: bool>(
    ratio: &[T],
    inv: &[T],
    a: &Lanes<T>,
    f: &[Lanes<T>],
    g: &[Lanes<T>],
    lt: &[Lanes<T>],
    lr: &[Lanes<T>],
    pw: &mut [Lanes<T>],
    lpw: &mut [Lanes<T>],
    lf: &mut [Lanes<T>],
    lg: &mut [Lanes<T>],
    la: &mut Lanes<T>,
) {
    let p = f.len();
    powers(inv, a, pw);
    lf.fill(lanes(T::zero()));
    lg.fill(lanes(T::zero()));
    for m in 0..p {
        let row = &ratio[m * p..(m + 1) * p];
        let (mut u, mut v, mut lu, mut lv) = (lanes(T::zero()), lanes(T::zero()), lanes(T::zero()), lanes(T::zero()));
        for l in 0..LANES {
            lu[l] = lt[m][l] * pw[m][l];
            lv[l] = lr[m][l] * pw[m][l];
        }
        for q in 0..p {
            for l in 0..LANES {
                u[l] = fmadd::<T, FMA>(row[q], g[q][l], u[l]);
                v[l] = fmadd::<T, FMA>(row[q], f[q][l], v[l]);
                lg[q][l] = fmadd::<T, FMA>(row[q], lu[l], lg[q][l]);
                lf[q][l] = fmadd::<T, FMA>(row[q], lv[l], lf[q][l]);
            }
        }
        for l in 0..LANES {
            lpw[m][l] = fmadd::<T, FMA>(lt[m][l], u[l], lr[m][l] * v[l]);
        }
    }
    for r in 0..p - 1 {
        let row = &ratio[r * p..(r + 1) * p];
        for q in 1..p - r {
            for l in 0..LANES {
                let w = pw[r][l] * row[q];
                let lw = fmadd::<T, FMA>(lt[r + q][l], f[q][l], lr[r + q][l] * g[q][l]);
                lf[q][l] = fmadd::<T, FMA>(w, lt[r + q][l], lf[q][l]);
                lg[q][l] = fmadd::<T, FMA>(w, lr[r + q][l], lg[q][l]);
                lpw[r][l] = fmadd::<T, FMA>(lw, row[q], lpw[r][l]);
            }
        }
    }
    let mut sum = lanes(T::zero());
    for m in 1..p {
        for l in 0..LANES {
            sum[l] = fmadd::<T, FMA>(lpw[m][l], pw[m - 1][l], sum[l]);
        }
    }
    *la = sum;
}

crate::simd::fma_dispatched! {
    fn poly_cell_adjoint<T>(ratio: &[T], inv: &[T], a: &Lanes<T>, f: &[Lanes<T>], g: &[Lanes<T>], lt: &[Lanes<T>], lr: &[Lanes<T>], pw: &mut [Lanes<T>], lpw: &mut [Lanes<T>], lf: &mut [Lanes<T>], lg: &mut [Lanes<T>], la: &mut Lanes<T>) = poly_cell_adjoint_body;
}

/// Per-worker buffers of the polynomial solver (beside the finite-difference
/// solver's [`Scratch`], which holds the double increments).
struct PolyScratch<T> {
    /// Left edges of the cells of the current row, `n2 * P`.
    left: Vec<Lanes<T>>,
    /// The running bottom edge along a row, its successor, a right edge, and
    /// the powers `a^m / m!` of a cell (`P` each).
    bottom: Vec<Lanes<T>>,
    top: Vec<Lanes<T>>,
    right: Vec<Lanes<T>>,
    w: Vec<Lanes<T>>,
    /// Backward: `left` at every `K`-th row, the input edges `(f, g)` of
    /// every cell of one block of `K` rows, the adjoints of the left edges
    /// of a row and of the running bottom edge, and the cell's adjoints.
    checkpoints: Vec<Lanes<T>>,
    block: Vec<Lanes<T>>,
    l_left: Vec<Lanes<T>>,
    l_bottom: Vec<Lanes<T>>,
    lt: Vec<Lanes<T>>,
    lr: Vec<Lanes<T>>,
    lf: Vec<Lanes<T>>,
    lg: Vec<Lanes<T>>,
    lpw: Vec<Lanes<T>>,
    /// The left edges of one step of the wavefront (see [`PolyScratch::strips`]).
    g_in: Vec<Lanes<T>>,
}

impl<T: Float> PolyScratch<T> {
    fn new() -> Self {
        PolyScratch {
            left: Vec::new(),
            bottom: Vec::new(),
            top: Vec::new(),
            right: Vec::new(),
            w: Vec::new(),
            checkpoints: Vec::new(),
            block: Vec::new(),
            l_left: Vec::new(),
            l_bottom: Vec::new(),
            lt: Vec::new(),
            lr: Vec::new(),
            lf: Vec::new(),
            lg: Vec::new(),
            lpw: Vec::new(),
            g_in: Vec::new(),
        }
    }

    /// Sizes the forward buffers and sets the first row's left edges to 1.
    fn start(&mut self, n2: usize, p: usize) -> Result<()> {
        let what = "the polynomial solver's edges";
        try_refill(&mut self.left, what, checked_product(what, &[n2, p])?, lanes(T::zero()))?;
        for edge in self.left.chunks_exact_mut(p) {
            edge[0] = lanes(T::one());
        }
        for v in [&mut self.bottom, &mut self.top, &mut self.right, &mut self.w, &mut self.g_in] {
            try_refill(v, what, p, lanes(T::zero()))?;
        }
        Ok(())
    }

    /// Row `i` of cells from the left edges in `self.left` (replaced by the
    /// next row's); `cell_done(j, f, g, vertex)` sees each cell's input
    /// edges and its top-right vertex.
    fn row(&mut self, tables: &Tables<T>, delta: &[Lanes<T>], n2: usize, i: usize, mut cell_done: impl FnMut(usize, &[Lanes<T>], &[Lanes<T>], Lanes<T>)) {
        let p = tables.p;
        let PolyScratch { left, bottom, top, right, w, .. } = self;
        bottom.fill(lanes(T::zero()));
        bottom[0] = lanes(T::one());
        for (j, g) in left.chunks_exact_mut(p).enumerate() {
            let v = tables.cell(&delta[i * n2 + j], bottom, g, w, top, right);
            cell_done(j, bottom, g, v);
            g.copy_from_slice(right);
            bottom.copy_from_slice(top);
        }
    }

    /// The cells of one pair (lane 0 of `delta`), `LANES` rows at a time:
    /// in a strip of rows `i0..i0 + LANES`, lane `k` solves row `i0 + k` one
    /// column behind lane `k - 1`, whose right edge it takes as its left
    /// edge (lane 0 takes the row of left edges in `self.left`, lane 0, which
    /// the strip's last row replaces). So one pair fills every lane, as a
    /// group of pairs does in [`PolyScratch::row`]. Lanes before their
    /// first column or past their last compute on leftovers, and nothing of
    /// theirs is kept. `cell_done(i, j, vertex)` for each cell, row by row
    /// within a strip's anti-diagonals.
    #[allow(clippy::too_many_arguments)]
    fn strips(
        &mut self,
        tables: &Tables<T>,
        delta: &[Lanes<T>],
        n1: usize,
        n2: usize,
        strips: std::ops::Range<usize>,
        checkpoint: &mut Checkpoint,
        mut on_step: impl FnMut(usize, usize, &[Lanes<T>], &[Lanes<T>]),
        mut cell_done: impl FnMut(usize, usize, T),
    ) -> Result<()> {
        let p = tables.p;
        let PolyScratch { left, bottom, top, right, w, g_in, .. } = self;
        for i0 in strips.map(|t| t * LANES) {
            if checkpoint.tick() {
                return Err(SigError::Interrupted);
            }
            let rows = LANES.min(n1 - i0);
            bottom.fill(lanes(T::zero()));
            bottom[0] = lanes(T::one());
            right.fill(lanes(T::zero()));
            for step in 0..n2 + rows - 1 {
                // lane k is at column step - k
                let column = |k: usize| step.checked_sub(k).filter(|&j| j < n2 && k < rows);
                let mut a = lanes(T::zero());
                for (k, ak) in a.iter_mut().enumerate() {
                    if let Some(j) = column(k) {
                        *ak = delta[(i0 + k) * n2 + j][0];
                    }
                }
                for (c, g) in g_in.iter_mut().enumerate() {
                    g[0] = if step < n2 { left[step * p + c][0] } else { T::zero() };
                    g[1..].copy_from_slice(&right[c][..LANES - 1]);
                }
                on_step(i0, step, bottom, g_in);
                let vertex = tables.cell(&a, bottom, g_in, w, top, right);
                for k in 0..rows {
                    let Some(j) = column(k) else { continue };
                    for (b, t) in bottom.iter_mut().zip(top.iter()) {
                        b[k] = t[k];
                    }
                    if k == rows - 1 {
                        for (c, r) in right.iter().enumerate() {
                            left[j * p + c][0] = r[k];
                        }
                    }
                    cell_done(i0 + k, j, vertex[k]);
                }
            }
        }
        Ok(())
    }
}

/// Signature kernels of a batch of pairs by the polynomial solver, as values
/// or vertex grids (`length1 * length2` per pair, row-major, the first row
/// and column 1).
///
/// `shape.length1/length2` are the points of the (transformed) paths, as in
/// [`crate::kernel::sig_kernel`]; a pair with an empty side has kernel 1.
///
/// ```
/// use sig_core::kernel::{Increments, KernelOut};
/// use sig_core::kernel_poly::{sig_kernel_poly, PolyShape};
/// // One cell with a = 1: sum_{m <= order} a^m / (m!)^2, 1 + 1 + 1/4 at order 2.
/// let delta = [1.0_f64];
/// let shape = PolyShape { batch: 1, length1: 2, length2: 2, order: 2 };
/// let mut out = [0.0];
/// sig_kernel_poly(&Increments::Given(&delta), shape, 1, KernelOut::Values(&mut out)).unwrap();
/// assert!((out[0] - 2.25).abs() < 1e-15);
/// ```
pub fn sig_kernel_poly<T: Float>(inc: &Increments<'_, T>, shape: PolyShape, n_jobs: i64, out: KernelOut<'_, T>) -> Result<KernelReport> {
    shape.validate()?;
    let kshape = shape.kernel_shape();
    let grid = kshape.grid()?;
    check_increments(inc, &kshape)?;
    let source = inc.source();
    let tables = Tables::<T>::new(shape.order)?;
    let (n1, n2, p) = (grid.n1, grid.n2, tables.p);
    let work = grid.n1.saturating_mul(grid.n2).saturating_mul(6 * p * p * LANES);
    let clamped = AtomicBool::new(false);
    // fewer pairs than lanes: one pair per task, solved in strips of rows
    let wave = shape.batch < LANES;
    let per = if wave { 1 } else { LANES };
    let groups = if wave { (0..shape.batch).map(|b| Group { start: b, count: 1 }).collect() } else { groups(shape.batch)? };
    let grid_len = shape.checked_grid_len()?;
    // each group writes its own slice of the output
    let mut tasks: Vec<(Group, &mut [T])> = Vec::new();
    try_reserve(&mut tasks, "the pair groups of a batch", groups.len())?;
    let as_grid = matches!(out, KernelOut::Grids(_));
    match out {
        KernelOut::Values(v) => {
            check_len("out", v.len(), shape.batch)?;
            tasks.extend(groups.into_iter().zip(v.chunks_mut(per)));
        }
        KernelOut::Grids(g) => {
            check_len("out", g.len(), checked_product("the vertex grids of a batch", &[shape.batch, grid_len])?)?;
            if grid_len == 0 {
                return Ok(KernelReport::default());
            }
            tasks.extend(groups.into_iter().zip(g.chunks_mut(per * grid_len)));
        }
    }
    let length2 = shape.length2;
    try_for_each_item(n_jobs, &mut tasks, work, || Ok((Scratch::new(), PolyScratch::new())), |(scratch, poly), _, (group, out)| {
        let count = group.count;
        out.fill(T::one());
        if n1 == 0 || n2 == 0 {
            return Ok(());
        }
        if source.load(&grid, group, scratch)? {
            clamped.store(true, Ordering::Relaxed);
        }
        poly.start(n2, p)?;
        let mut checkpoint = Checkpoint::new(n2 * 6 * p * p * LANES);
        if wave {
            return poly.strips(&tables, &scratch.delta, n1, n2, 0..n1.div_ceil(LANES), &mut checkpoint, |_, _, _, _| {}, |i, j, v| {
                if as_grid {
                    out[(i + 1) * length2 + j + 1] = v;
                } else if i + 1 == n1 && j + 1 == n2 {
                    out[0] = v;
                }
            });
        }
        let mut last = lanes(T::one());
        for i in 0..n1 {
            if checkpoint.tick() {
                return Err(SigError::Interrupted);
            }
            poly.row(&tables, &scratch.delta, n2, i, |j, _, _, v| {
                if as_grid {
                    for (lane, &x) in v.iter().enumerate().take(count) {
                        out[lane * grid_len + (i + 1) * length2 + j + 1] = x;
                    }
                }
                last = v;
            });
        }
        if !as_grid {
            out.copy_from_slice(&last[..count]);
        }
        Ok(())
    })?;
    Ok(KernelReport { clamped: clamped.into_inner() })
}

/// Gradient through [`sig_kernel_poly`]: `derivs` is dF/dk per pair (`batch`
/// numbers) or, with `grid_derivs`, dF/d(vertex grid) (`batch * length1 *
/// length2`); into the double increments or the paths as `out` asks. Memory
/// per worker is bounded as the module's "Memory" section says.
pub fn sig_kernel_poly_backprop<T: Float>(
    inc: &Increments<'_, T>,
    shape: PolyShape,
    derivs: &[T],
    grid_derivs: bool,
    n_jobs: i64,
    out: KernelGrad<'_, T>,
) -> Result<()> {
    shape.validate()?;
    let kshape = shape.kernel_shape();
    let grid = kshape.grid()?;
    check_increments(inc, &kshape)?;
    let source = inc.source();
    let tables = Tables::<T>::new(shape.order)?;
    let grid_len = shape.checked_grid_len()?;
    let expected = if grid_derivs { checked_product("the vertex grids of a batch", &[shape.batch, grid_len])? } else { shape.batch };
    check_len("derivs", derivs.len(), expected)?;
    let (n1, n2, p) = (grid.n1, grid.n2, tables.p);
    let cells = checked_product("the double increments", &[n1, n2])?;
    let increments_out = matches!(out, KernelGrad::Increments(_));
    // fewer pairs than lanes: one pair per task, in strips of rows (as forward)
    let wave = shape.batch < LANES;
    let per = if wave { 1 } else { LANES };
    let groups = if wave { (0..shape.batch).map(|b| Group { start: b, count: 1 }).collect() } else { groups(shape.batch)? };
    let Some(mut tasks) = grad_tasks(&source, &kshape, cells, groups, per, out)? else { return Ok(()) };
    let work = cells.saturating_mul(20 * p * p * LANES);
    let length2 = shape.length2;
    try_for_each_item(n_jobs, &mut tasks, work, || Ok((Scratch::new(), PolyScratch::new())), |(scratch, poly), _, (group, out1, out2)| {
        if let Some(o) = out1.as_deref_mut() {
            o.fill(T::zero());
        }
        if let Some(o) = out2.as_deref_mut() {
            o.fill(T::zero());
        }
        if n1 == 0 || n2 == 0 {
            return Ok(());
        }
        source.load(&grid, group, scratch)?;
        let (start, count) = (group.start, group.count);
        // dF/d(vertex (r, c)) of the group's pairs
        let vertex_grad = |r: usize, c: usize| -> Lanes<T> {
            let mut g = lanes(T::zero());
            for (lane, v) in g.iter_mut().enumerate().take(count) {
                *v = if grid_derivs {
                    derivs[(start + lane) * grid_len + r * length2 + c]
                } else if r == n1 && c == n2 {
                    derivs[start + lane]
                } else {
                    T::zero()
                };
            }
            g
        };
        if wave {
            backward_strips(&tables, &grid, scratch, poly, &vertex_grad)?;
        } else {
            backward(&tables, &grid, scratch, poly, &vertex_grad)?;
        }
        increment_grads_out(&source, &grid, scratch, group, increments_out, out1.as_deref_mut(), out2.as_deref_mut())
    })
}

/// The adjoint sweep of one group: dF/d(delta) into `scratch.g_delta`.
fn backward<T: Float>(tables: &Tables<T>, grid: &Grid, scratch: &mut Scratch<T>, poly: &mut PolyScratch<T>, vertex_grad: &dyn Fn(usize, usize) -> Lanes<T>) -> Result<()> {
    let (n1, n2, p) = (grid.n1, grid.n2, tables.p);
    let row_len = n2 * p;
    // rows of cells per block: ~sqrt(n1) checkpoints of ~sqrt(n1) rows each
    let k = (n1 as f64).sqrt().ceil().max(1.0) as usize;
    let blocks = n1.div_ceil(k);
    let what = "the polynomial solver's checkpoints";
    try_refill(&mut scratch.g_delta, "gradients of the double increments", n1 * n2, lanes(T::zero()))?;
    try_refill(&mut poly.checkpoints, what, checked_product(what, &[blocks, row_len])?, lanes(T::zero()))?;
    try_refill(&mut poly.block, what, checked_product(what, &[k, row_len, 2])?, lanes(T::zero()))?;
    try_refill(&mut poly.l_left, what, row_len, lanes(T::zero()))?;
    for v in [&mut poly.l_bottom, &mut poly.lt, &mut poly.lr, &mut poly.lf, &mut poly.lg, &mut poly.lpw] {
        try_refill(v, what, p, lanes(T::zero()))?;
    }
    let delta = &scratch.delta;
    let mut checkpoint = Checkpoint::new(n2 * 20 * p * p * LANES);
    poly.start(n2, p)?;
    for i in 0..n1 {
        if checkpoint.tick() {
            return Err(SigError::Interrupted);
        }
        if i % k == 0 {
            let b = i / k;
            poly.checkpoints[b * row_len..(b + 1) * row_len].copy_from_slice(&poly.left);
        }
        poly.row(tables, delta, n2, i, |_, _, _, _| {});
    }
    let half = T::from_f64(0.5).unwrap_or_else(T::nan);
    for b in (0..blocks).rev() {
        let (i0, i1) = (b * k, (b * k + k).min(n1));
        // the block's cells' input edges, from its checkpoint
        poly.left.copy_from_slice(&poly.checkpoints[b * row_len..(b + 1) * row_len]);
        let mut block = std::mem::take(&mut poly.block);
        for i in i0..i1 {
            if checkpoint.tick() {
                poly.block = block;
                return Err(SigError::Interrupted);
            }
            let row = &mut block[(i - i0) * 2 * row_len..(i - i0 + 1) * 2 * row_len];
            poly.row(tables, delta, n2, i, |j, f, g, _| {
                row[2 * j * p..(2 * j + 1) * p].copy_from_slice(f);
                row[(2 * j + 1) * p..(2 * j + 2) * p].copy_from_slice(g);
            });
        }
        let PolyScratch { w, l_left, l_bottom, lt, lr, lf, lg, lpw, .. } = poly;
        for i in (i0..i1).rev() {
            if checkpoint.tick() {
                poly.block = block;
                return Err(SigError::Interrupted);
            }
            let row = &block[(i - i0) * 2 * row_len..(i - i0 + 1) * 2 * row_len];
            // nothing reads the last cell's top edge
            l_bottom.fill(lanes(T::zero()));
            for j in (0..n2).rev() {
                let (f, g) = (&row[2 * j * p..(2 * j + 1) * p], &row[(2 * j + 1) * p..(2 * j + 2) * p]);
                let omega = vertex_grad(i + 1, j + 1).map(|x| x * half);
                let l_g = &mut l_left[j * p..(j + 1) * p];
                for ((t, r), (b_in, g_in)) in lt.iter_mut().zip(lr.iter_mut()).zip(l_bottom.iter().zip(l_g.iter())) {
                    for l in 0..LANES {
                        t[l] = b_in[l] + omega[l];
                        r[l] = g_in[l] + omega[l];
                    }
                }
                scratch.g_delta[i * n2 + j] = tables.cell_adjoint(&delta[i * n2 + j], f, g, lt, lr, w, lpw, lf, lg);
                l_bottom.copy_from_slice(lf);
                l_g.copy_from_slice(lg);
            }
        }
        poly.block = block;
    }
    Ok(())
}

/// The adjoint sweep of one pair (lane 0) solved in strips
/// ([`PolyScratch::strips`]): dF/d(delta) into lane 0 of `scratch.g_delta`.
/// The rows of left edges are kept at every `K`-th strip (`K ~ sqrt` of the
/// strips); each block of `K` strips is recomputed from its checkpoint,
/// keeping every step's input edges, then swept backwards step by step.
/// The adjoint of a lane's left edge goes to the lane above one step back,
/// as its right edge came from there.
fn backward_strips<T: Float>(tables: &Tables<T>, grid: &Grid, scratch: &mut Scratch<T>, poly: &mut PolyScratch<T>, vertex_grad: &dyn Fn(usize, usize) -> Lanes<T>) -> Result<()> {
    let (n1, n2, p) = (grid.n1, grid.n2, tables.p);
    let row_len = n2 * p;
    let strips = n1.div_ceil(LANES);
    let k = (strips as f64).sqrt().ceil().max(1.0) as usize;
    let blocks = strips.div_ceil(k);
    let steps = n2 + LANES - 1;
    let what = "the polynomial solver's checkpoints";
    try_refill(&mut scratch.g_delta, "gradients of the double increments", n1 * n2, lanes(T::zero()))?;
    try_refill(&mut poly.checkpoints, what, checked_product(what, &[blocks, row_len])?, lanes(T::zero()))?;
    try_refill(&mut poly.block, what, checked_product(what, &[k, steps, 2 * p])?, lanes(T::zero()))?;
    try_refill(&mut poly.l_left, what, row_len, lanes(T::zero()))?;
    for v in [&mut poly.l_bottom, &mut poly.lt, &mut poly.lr, &mut poly.lf, &mut poly.lg, &mut poly.lpw] {
        try_refill(v, what, p, lanes(T::zero()))?;
    }
    let delta = &scratch.delta;
    let mut checkpoint = Checkpoint::new(n2 * 20 * p * p * LANES);
    poly.start(n2, p)?;
    for b in 0..blocks {
        poly.checkpoints[b * row_len..(b + 1) * row_len].copy_from_slice(&poly.left);
        poly.strips(tables, delta, n1, n2, b * k..((b + 1) * k).min(strips), &mut checkpoint, |_, _, _, _| {}, |_, _, _| {})?;
    }
    let half = T::from_f64(0.5).unwrap_or_else(T::nan);
    // (l_left starts at 0: nothing reads the last strip's right edges)
    for b in (0..blocks).rev() {
        let (t0, t1) = (b * k, ((b + 1) * k).min(strips));
        poly.left.copy_from_slice(&poly.checkpoints[b * row_len..(b + 1) * row_len]);
        let mut block = std::mem::take(&mut poly.block);
        let kept = poly.strips(tables, delta, n1, n2, t0..t1, &mut checkpoint, |i0, step, f, g| {
            let at = ((i0 / LANES - t0) * steps + step) * 2 * p;
            block[at..at + p].copy_from_slice(f);
            block[at + p..at + 2 * p].copy_from_slice(g);
        }, |_, _, _| {});
        if let Err(e) = kept {
            poly.block = block;
            return Err(e);
        }
        let PolyScratch { w, l_left, l_bottom, lt, lr, lf, lg, lpw, g_in, .. } = poly;
        for t in (t0..t1).rev() {
            if checkpoint.tick() {
                poly.block = block;
                return Err(SigError::Interrupted);
            }
            let (i0, rows) = (t * LANES, LANES.min(n1 - t * LANES));
            l_bottom.fill(lanes(T::zero()));
            // g_in holds the previous (later) step's adjoints of the left edges
            g_in.fill(lanes(T::zero()));
            for step in (0..n2 + rows - 1).rev() {
                let column = |k: usize| step.checked_sub(k).filter(|&j| j < n2 && k < rows);
                let at = ((t - t0) * steps + step) * 2 * p;
                let (f, g) = (&block[at..at + p], &block[at + p..at + 2 * p]);
                let (mut a, mut omega) = (lanes(T::zero()), lanes(T::zero()));
                for lane in 0..rows {
                    if let Some(j) = column(lane) {
                        a[lane] = delta[(i0 + lane) * n2 + j][0];
                        omega[lane] = vertex_grad(i0 + lane + 1, j + 1)[0] * half;
                    }
                }
                for c in 0..p {
                    for lane in 0..LANES {
                        let Some(j) = column(lane) else {
                            lt[c][lane] = T::zero();
                            lr[c][lane] = T::zero();
                            continue;
                        };
                        lt[c][lane] = l_bottom[c][lane] + omega[lane];
                        let below = if lane == rows - 1 { l_left[j * p + c][0] } else { g_in[c][lane + 1] };
                        lr[c][lane] = below + omega[lane];
                    }
                }
                let la = tables.cell_adjoint(&a, f, g, lt, lr, w, lpw, lf, lg);
                for lane in 0..rows {
                    let Some(j) = column(lane) else { continue };
                    for (lb, x) in l_bottom.iter_mut().zip(lf.iter()) {
                        lb[lane] = x[lane];
                    }
                    scratch.g_delta[(i0 + lane) * n2 + j][0] = la[lane];
                    if lane == 0 {
                        for (c, x) in lg.iter().enumerate() {
                            l_left[j * p + c][0] = x[0];
                        }
                    }
                }
                g_in.copy_from_slice(lg);
            }
        }
        poly.block = block;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::PathShape;
    use crate::static_kernel::StaticKernel;
    use crate::transform::PathTransform;

    fn rand(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.6
            })
            .collect()
    }

    /// The scheme cell by cell from its definition, with a table of the
    /// coefficients of every diagonal: the reference for the fast loops.
    fn reference(delta: &[f64], n1: usize, n2: usize, order: usize) -> Vec<f64> {
        let p = order + 1;
        let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        let mut grid = vec![1.0; (n1 + 1) * (n2 + 1)];
        let mut left = vec![vec![0.0; p]; n2];
        for g in &mut left {
            g[0] = 1.0;
        }
        for i in 0..n1 {
            let mut f = vec![0.0; p];
            f[0] = 1.0;
            for j in 0..n2 {
                let a = delta[i * n2 + j];
                let g = &left[j];
                let w = |m: usize, q: usize| a.powi(m as i32) * fact(q) / (fact(m) * fact(m + q));
                let (mut top, mut right) = (vec![0.0; p], vec![0.0; p]);
                for m in 0..p {
                    for q in 0..p {
                        top[m] += w(m, q) * g[q];
                        right[m] += w(m, q) * f[q];
                        if q >= 1 && m + q <= order {
                            top[m + q] += w(m, q) * f[q];
                            right[m + q] += w(m, q) * g[q];
                        }
                    }
                }
                grid[(i + 1) * (n2 + 1) + j + 1] = 0.5 * (top.iter().sum::<f64>() + right.iter().sum::<f64>());
                left[j] = right;
                f = top;
            }
        }
        grid
    }

    #[test]
    fn forward_matches_the_cell_by_cell_definition() {
        let (b, n1, n2) = (11, 6, 5);
        let delta = rand(b * n1 * n2, 1);
        for order in [2, 3, 7, 64] {
            assert_matches_definition(&delta, b, n1, n2, order, 2);
        }
    }

    /// Grids and values of `b` pairs of `n1 x n2` cells, solved with
    /// `n_jobs` threads, against [`reference`] (values: the grids' last entry).
    fn assert_matches_definition(delta: &[f64], b: usize, n1: usize, n2: usize, order: usize, n_jobs: i64) {
        let shape = PolyShape { batch: b, length1: n1 + 1, length2: n2 + 1, order };
        let mut grids = vec![0.0; b * (n1 + 1) * (n2 + 1)];
        let mut values = vec![0.0; b];
        sig_kernel_poly(&Increments::Given(delta), shape, n_jobs, KernelOut::Grids(&mut grids)).unwrap();
        sig_kernel_poly(&Increments::Given(delta), shape, 1, KernelOut::Values(&mut values)).unwrap();
        for p in 0..b {
            let want = reference(&delta[p * n1 * n2..(p + 1) * n1 * n2], n1, n2, order);
            let got = &grids[p * want.len()..(p + 1) * want.len()];
            for (x, y) in got.iter().zip(&want) {
                assert!((x - y).abs() < 1e-13, "{n1}x{n2}, order {order}: {x} vs {y}");
            }
            assert_eq!(values[p], got[want.len() - 1]);
        }
    }

    #[test]
    fn one_pair_in_strips_matches_the_definition() {
        // fewer pairs than lanes go through `strips`; rows not a multiple of LANES
        for (n1, n2) in [(1, 4), (8, 3), (19, 6), (5, 1)] {
            assert_matches_definition(&rand(2 * n1 * n2, 7), 2, n1, n2, 5, 1);
        }
    }

    #[test]
    fn increment_gradient_matches_finite_differences() {
        // one strip, several strips and blocks (fewer pairs than lanes), lane groups
        for (b, n1, n2, order) in [(3, 7, 4, 3), (2, 19, 3, 4), (9, 5, 4, 3)] {
            let delta = rand(b * n1 * n2, 2);
            let shape = PolyShape { batch: b, length1: n1 + 1, length2: n2 + 1, order };
            let grid_len = (n1 + 1) * (n2 + 1);
            // a weighted sum of the whole grids exercises every vertex's adjoint
            let weights = rand(b * grid_len, 3);
            let objective = |d: &[f64]| -> f64 {
                let mut grids = vec![0.0; b * grid_len];
                sig_kernel_poly(&Increments::Given(d), shape, 1, KernelOut::Grids(&mut grids)).unwrap();
                grids.iter().zip(&weights).map(|(g, w)| g * w).sum()
            };
            let mut grad = vec![0.0; delta.len()];
            sig_kernel_poly_backprop(&Increments::Given(&delta), shape, &weights, true, 1, KernelGrad::Increments(&mut grad)).unwrap();
            let h = 1e-6;
            for c in 0..delta.len() {
                let (mut up, mut down) = (delta.clone(), delta.clone());
                up[c] += h;
                down[c] -= h;
                let fd = (objective(&up) - objective(&down)) / (2.0 * h);
                assert!((fd - grad[c]).abs() < 1e-7 * (1.0 + fd.abs()), "{n1}x{n2}, cell {c}: {fd} vs {}", grad[c]);
            }
            // the values' gradient is the last vertex's
            let mut last = vec![0.0; b * grid_len];
            for p in 0..b {
                last[(p + 1) * grid_len - 1] = weights[p];
            }
            let (mut g_values, mut g_last) = (vec![0.0; delta.len()], vec![0.0; delta.len()]);
            sig_kernel_poly_backprop(&Increments::Given(&delta), shape, &weights[..b], false, 1, KernelGrad::Increments(&mut g_values)).unwrap();
            sig_kernel_poly_backprop(&Increments::Given(&delta), shape, &last, true, 1, KernelGrad::Increments(&mut g_last)).unwrap();
            for (x, y) in g_values.iter().zip(&g_last) {
                assert!((x - y).abs() < 1e-14, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn path_gradient_of_the_linear_kernel_matches_finite_differences() {
        let (b, l1, l2, d, order) = (2, 5, 4, 3, 4);
        let (x, y) = (rand(b * l1 * d, 4), rand(b * l2 * d, 5));
        let s1 = PathShape { batch: b, length: l1, dim: d };
        let s2 = PathShape { batch: b, length: l2, dim: d };
        let transform = PathTransform { time_aug: true, lead_lag: false, end_time: 1.0 };
        let kernel = StaticKernel::Linear { factor: 1.0 };
        let shape = PolyShape { batch: b, length1: l1, length2: l2, order };
        let value = |x: &[f64]| -> f64 {
            let inc = Increments::Paths { paths1: x, paths2: &y, shape1: s1, shape2: s2, transform, kernel };
            let mut out = vec![0.0; b];
            sig_kernel_poly(&inc, shape, 1, KernelOut::Values(&mut out)).unwrap();
            out.iter().sum()
        };
        let inc = Increments::Paths { paths1: &x, paths2: &y, shape1: s1, shape2: s2, transform, kernel };
        let mut g1 = vec![0.0; x.len()];
        sig_kernel_poly_backprop(&inc, shape, &vec![1.0; b], false, 1, KernelGrad::Paths { grad1: Some(&mut g1), grad2: None }).unwrap();
        let h = 1e-6;
        for c in 0..x.len() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[c] += h;
            down[c] -= h;
            let fd = (value(&up) - value(&down)) / (2.0 * h);
            assert!((fd - g1[c]).abs() < 1e-7, "coordinate {c}: {fd} vs {}", g1[c]);
        }
    }

    #[test]
    fn orders_outside_2_to_64_are_refused() {
        for order in [0, 1, 65] {
            let shape = PolyShape { batch: 1, length1: 2, length2: 2, order };
            let err = sig_kernel_poly(&Increments::Given(&[1.0]), shape, 1, KernelOut::Values(&mut [0.0])).unwrap_err();
            assert!(err.to_string().contains("order"), "{err}");
        }
    }
}
