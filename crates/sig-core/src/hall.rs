//! The Hall basis of the free Lie algebra (iisignature's "H" basis), and
//! coordinates of Lie elements in it.
//!
//! **The Hall set.** Its elements are numbered in the order they are made:
//! first the letters `0..dim`, then level by level (`n = 2, 3, ...`): for
//! each length `k = 1..=n/2` of a left factor, for each element `u` of
//! length `k`, for each element `v` of length `n - k` (both in numbering
//! order), `[u, v]` is an element exactly when `u < v` (by number) and `v`
//! is a letter or `v = [v', v'']` with `v' <= u`. This is Marshall Hall's
//! basis with elements ordered by length, in the order and bracketing that
//! iisignature's `basis(prepare(d, m, "H"))` lists (tested).
//!
//! **Expansion.** `P_a = a` for a letter and `P_[u,v] = P_u P_v - P_v P_u`,
//! a homogeneous polynomial over the words of length `|u| + |v|`, stored
//! sparse with integer coefficients.
//!
//! **Coordinates.** For a Lie element `L = sum_h c_h P_h`, the coordinates
//! of one level `k` solve `L = A c` with `A` the `dim^k x n_k` matrix of
//! the expansions (`n_k` the number of Hall elements of length `k`). Unlike
//! the Lyndon basis, the Hall expansions are not unitriangular for any
//! natural word order (the foliage word of `[2,[1,[1,2]]]`, for one, has
//! coefficient 0 in its own expansion). What is cheap instead:
//!
//! 1. A Lie element is fixed by its coefficients at the Lyndon words (its
//!    Lyndon coordinates follow from them by a unitriangular solve), so the
//!    rows of `A` at the `n_k` Lyndon words of length `k` form a square,
//!    nonsingular matrix `M`: `c = M^-1 L[Lyndon words]`. These are the
//!    pivot rows; no other entry of `L` is read.
//! 2. `M` is very sparse (a few entries per column) and nearly triangular.
//!    Its fine block triangular form (Dulmage-Mendelsohn: a perfect
//!    matching of rows to columns, then the strongly connected components of
//!    the column graph, found by Tarjan's algorithm, in topological order)
//!    has tiny diagonal blocks: all of size 1 up to level 4, and at most 5
//!    (d = 2, level 10), 29 (d = 2, level 13), 24 (d = 3, level 8) or 9
//!    (d = 4, level 6).
//! 3. Each diagonal block is LU-factorised densely (partial pivoting) when
//!    the basis is built. Extracting coordinates is then one block forward
//!    substitution: per level `O(nnz(M) + sum_b s_b^2)` operations, with no
//!    dense `n_k x n_k` (let alone `dim^k x n_k`) matrix anywhere. The
//!    gradient is the transposed solve, run backwards over the blocks.
//!
//! Rounding: `M^-1` is about as large as the Lyndon basis's own triangular
//! inverse at the same level (for d = 2 the absolute row sums of both are
//! about 1.4e4 at level 10 and 1.1e7 to 1.6e7 at level 12), so Hall
//! coordinates are as accurate as Lyndon ones.
//!
//! Off Lie elements (the logarithm of a tensor that is no signature) the
//! result is the coordinates of the Lie element that agrees with the input
//! at the Lyndon words: the same extension as the Lyndon basis uses.
//!
//! [`HallBasis`] holds all of this per `(dim, degree)`; [`hall_basis`]
//! caches one per `(dim, degree)` for the whole process, built on first use.

use std::sync::Arc;

use crate::error::{Result, SigError};
use crate::alloc::{try_reserve, try_vec};
use crate::lyndon::{bracket_terms, checked_lyndon_count, checked_shape, lyndon_word_indices, BasisCache, CachedTable, SparseExpansions};
use crate::tensor::TensorShape;
use crate::Float;

/// One element of a Hall set: a letter, or the bracket `[left, right]` of
/// two earlier elements (given by their numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HallTree {
    Letter(usize),
    Bracket(usize, usize),
}

const NONE: usize = usize::MAX;

/// The Hall set over the letters `0..dim` up to length `degree`, in
/// iisignature's order, and where each length starts: the elements of
/// length `k >= 1` are `starts[k]..starts[k + 1]` (`starts` has `degree + 2`
/// entries).
///
/// Its size comes from Witt's formula first and is reserved fallibly, so
/// a set that does not fit is `Overflow` / `OutOfMemory`, never an abort.
fn hall_set(dim: usize, degree: usize) -> Result<(Vec<HallTree>, Vec<usize>)> {
    let what = format!("the Hall basis of dimension {dim} and degree {degree}");
    let n = checked_lyndon_count(dim, degree)?;
    let mut trees = Vec::new();
    try_reserve(&mut trees, &what, n)?;
    let mut starts = Vec::new();
    try_reserve(&mut starts, &what, degree.saturating_add(2))?;
    starts.extend([0, 0]);
    if degree == 0 {
        return Ok((trees, starts));
    }
    trees.extend((0..dim).map(HallTree::Letter));
    starts.push(dim);
    for n in 2..=degree {
        // One letter (or none) brackets to nothing: stop walking the levels.
        if dim < 2 {
            starts.resize(degree + 2, trees.len());
            break;
        }
        for k in 1..=n / 2 {
            for u in starts[k]..starts[k + 1] {
                for v in starts[n - k].max(u + 1)..starts[n - k + 1] {
                    let ok = match trees[v] {
                        HallTree::Letter(_) => true,
                        HallTree::Bracket(v_left, _) => v_left <= u,
                    };
                    if ok {
                        trees.push(HallTree::Bracket(u, v));
                    }
                }
            }
        }
        starts.push(trees.len());
    }
    debug_assert_eq!(trees.len(), n, "Witt's formula counts the Hall set");
    Ok((trees, starts))
}

/// The Hall set of `(dim, degree)` in iisignature's order (see the module).
///
/// ```
/// use sig_core::hall::{hall_trees, HallTree::*};
/// assert_eq!(hall_trees(2, 3).unwrap(), vec![Letter(0), Letter(1), Bracket(0, 1), Bracket(0, 2), Bracket(1, 2)]);
/// ```
pub fn hall_trees(dim: usize, degree: usize) -> Result<Vec<HallTree>> {
    Ok(hall_set(dim, degree)?.0)
}

#[inline(always)]
fn coef<T: Float>(c: f64) -> T {
    T::from_f64(c).unwrap_or_else(T::nan)
}

/// A perfect matching of the columns of a square sparse matrix to its rows
/// (`cols[c]` lists the rows where column `c` is non-zero), by augmenting
/// paths (Kuhn's algorithm) after a greedy start; `None` if there is none.
/// Returns the row of each column.
fn perfect_matching(n: usize, cols: &[Vec<(usize, f64)>]) -> Option<Vec<usize>> {
    let mut row_of_col = vec![NONE; n];
    let mut col_of_row = vec![NONE; n];
    for (c, entries) in cols.iter().enumerate() {
        if let Some(&(r, _)) = entries.iter().find(|&&(r, _)| col_of_row[r] == NONE) {
            row_of_col[c] = r;
            col_of_row[r] = c;
        }
    }
    let mut seen = vec![0usize; n];
    let mut stamp = 0;
    // Depth-first search for an augmenting path, with an explicit stack of
    // (column, next entry to try): no recursion, whatever the depth.
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if row_of_col[start] != NONE {
            continue;
        }
        stamp += 1;
        stack.clear();
        stack.push((start, 0));
        let mut found = false;
        while let Some(top) = stack.last_mut() {
            let (c, pos) = *top;
            if pos == cols[c].len() {
                stack.pop();
                continue;
            }
            top.1 += 1;
            let r = cols[c][pos].0;
            if seen[r] == stamp {
                continue;
            }
            seen[r] = stamp;
            if col_of_row[r] == NONE {
                // Each column on the stack takes the row it last tried.
                for &(c, next) in &stack {
                    let r = cols[c][next - 1].0;
                    row_of_col[c] = r;
                    col_of_row[r] = c;
                }
                found = true;
                break;
            }
            stack.push((col_of_row[r], 0));
        }
        if !found {
            return None;
        }
    }
    Some(row_of_col)
}

/// The strongly connected components of the graph on `0..n` with edges
/// `v -> succ(v, i)` for `i < degree(v)` (Tarjan's algorithm, iterative).
/// Components come out in reverse topological order: every edge between
/// two components goes from a later one to an earlier one.
fn strong_components(n: usize, degree: impl Fn(usize) -> usize, succ: impl Fn(usize, usize) -> usize) -> Vec<Vec<usize>> {
    let mut index = vec![NONE; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut calls: Vec<(usize, usize)> = Vec::new();
    let mut components = Vec::new();
    let mut counter = 0;
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        calls.push((root, 0));
        while let Some(top) = calls.last_mut() {
            let (v, i) = *top;
            if i < degree(v) {
                top.1 += 1;
                let w = succ(v, i);
                if index[w] == NONE {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(u, _)) = calls.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                loop {
                    let w = stack.pop().expect("v is on the stack");
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

/// LU factorisation with partial pivoting of the dense `s x s` row-major
/// matrix `a`, in place: returns the row permutation (`perm[i]` = original
/// row now at `i`). `L` (unit diagonal) is below the diagonal, `U` on and
/// above it, and the diagonal holds `1 / U[i][i]`.
fn lu_in_place(a: &mut [f64], s: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..s).collect();
    for k in 0..s {
        let p = (k..s).max_by(|&i, &j| a[i * s + k].abs().total_cmp(&a[j * s + k].abs())).expect("k < s");
        if p != k {
            for j in 0..s {
                a.swap(k * s + j, p * s + j);
            }
            perm.swap(k, p);
        }
        let pivot = a[k * s + k];
        assert!(pivot != 0.0, "a diagonal block of the Hall basis solve is singular");
        for i in k + 1..s {
            let l = a[i * s + k] / pivot;
            a[i * s + k] = l;
            for j in k + 1..s {
                a[i * s + j] -= l * a[k * s + j];
            }
        }
        a[k * s + k] = 1.0 / pivot;
    }
    perm
}

/// The Hall set of one `(dim, degree)` and everything needed to move a Lie
/// element between its expanded form (a full truncated tensor of
/// `TensorShape::new(dim, degree)`, level 0 first) and its coordinates in
/// the Hall basis `{P_h}`. Build once (or take it from [`hall_basis`]); the
/// per-element methods allocate nothing (but see
/// [`coords_from_expanded_backward`](Self::coords_from_expanded_backward)).
#[derive(Debug)]
pub struct HallBasis {
    shape: TensorShape,
    trees: Vec<HallTree>,
    /// The full expansion of each `P_h`.
    expansions: SparseExpansions,
    /// The solve, as positions `p` grouped in blocks `blk_ptr[b]..blk_ptr[b+1]`
    /// in solve order (level by level): position `p` pairs the unknown
    /// `c[piv_col[p]]` with the equation of the Lyndon word at flat index
    /// `piv_row[p]`, whose terms in unknowns of earlier blocks are
    /// `(off_col[q], off_coef[q])` for `q in off_ptr[p]..off_ptr[p+1]`.
    blk_ptr: Vec<usize>,
    piv_col: Vec<usize>,
    piv_row: Vec<usize>,
    off_ptr: Vec<usize>,
    off_col: Vec<usize>,
    /// `piv_row` of the position of `off_col[q]` (for the transposed solve).
    off_slot: Vec<usize>,
    off_coef: Vec<f64>,
    /// The LU factors of block `b` (see [`lu_in_place`]) at `lu_ptr[b]..`,
    /// `s * s` numbers for a block of size `s`.
    lu_ptr: Vec<usize>,
    lu: Vec<f64>,
}

impl HallBasis {
    /// Builds the basis for paths of dimension `dim` and truncation degree
    /// `degree`. Fails if a tensor of that shape overflows `usize`. Degree
    /// 0 (or dimension 0) gives an empty basis.
    pub fn new(dim: usize, degree: usize) -> Result<Self> {
        Self::build(checked_shape(dim, degree)?)
    }

    /// Builds the basis; every table whose size follows from `(dim,
    /// degree)` is reserved fallibly (`OutOfMemory` naming the basis).
    fn build(shape: TensorShape) -> Result<Self> {
        let (dim, degree) = (shape.dim, shape.degree);
        let what = format!("the Hall basis of dimension {dim} and degree {degree}");
        let (trees, starts) = hall_set(dim, degree)?;
        let n = trees.len();
        // With fewer than two letters only level 1 has elements: never walk
        // the (possibly huge) empty levels.
        let top = if dim < 2 { degree.min(1) } else { degree };
        let pow: Vec<usize> = (0..=top).map(|k| shape.level_len(k)).collect();
        let offsets: Vec<usize> = (0..=top).map(|k| shape.level(k).start).collect();
        let offset = |k: usize| offsets[k];
        let mut lengths = try_vec(&what, n, 0usize)?;
        for k in 1..=top {
            lengths[starts[k]..starts[k + 1]].fill(k);
        }

        // Expansions, in numbering order (the factors of a bracket come
        // before it), straight into their flat sparse form.
        let mut sparse = SparseExpansions::new(&what, n)?;
        sparse.reserve(&what, n)?;
        let (mut scratch, mut merged) = (Vec::new(), Vec::new());
        // a big basis takes seconds: stop when the caller asks
        let mut checkpoint = crate::interrupt::Checkpoint::new(1 << 10);
        for tree in &trees {
            if checkpoint.tick() {
                return Err(SigError::Interrupted);
            }
            match *tree {
                HallTree::Letter(a) => {
                    sparse.push_term(offset(1) + a, 1.0);
                }
                HallTree::Bracket(u, v) => {
                    let (lu, lv) = (lengths[u], lengths[v]);
                    let pu = sparse.terms(u).map(|(f, c)| (f - offset(lu), c));
                    let pv = sparse.terms(v).map(|(f, c)| (f - offset(lv), c));
                    merged.clear();
                    bracket_terms(pu, pv, pow[lu], pow[lv], &mut scratch, &what, |j, c| merged.push((j, c)))?;
                    sparse.reserve(&what, merged.len())?;
                    let base = offset(lu + lv);
                    for &(j, c) in &merged {
                        sparse.push_term(base + j, c);
                    }
                }
            }
            sparse.end_element();
        }
        drop((scratch, merged));

        // The pivot rows: the Lyndon words of each length (level-local).
        // The Lyndon words' flat indices run level by level, as the Hall
        // elements do, with as many per level (Witt's formula).
        let lyndon_flat = lyndon_word_indices(dim, degree)?;

        let mut basis = HallBasis {
            shape,
            trees,
            expansions: sparse,
            blk_ptr: vec![0],
            piv_col: Vec::with_capacity(n),
            piv_row: Vec::with_capacity(n),
            off_ptr: vec![0],
            off_col: Vec::new(),
            off_slot: Vec::new(),
            off_coef: Vec::new(),
            lu_ptr: Vec::new(),
            lu: Vec::new(),
        };
        for k in 1..=top {
            let first = starts[k];
            let m = starts[k + 1] - first;
            // This level's Lyndon words (flat indices, increasing).
            let rows = &lyndon_flat[first..first + m];
            debug_assert!(rows.iter().all(|r| basis.shape.level(k).contains(r)), "level {k}: as many Hall elements as Lyndon words");
            // M by columns (Hall elements) and by rows (Lyndon words).
            let cols: Vec<Vec<(usize, f64)>> = (first..first + m)
                .map(|h| basis.expansions.terms(h).filter_map(|(w, c)| rows.binary_search(&w).ok().map(|r| (r, c))).collect())
                .collect();
            let mut by_row: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m];
            for (c, entries) in cols.iter().enumerate() {
                for &(r, v) in entries {
                    by_row[r].push((c, v));
                }
            }
            basis.add_level(0, first, rows, &cols, &by_row);
        }
        // Where each unknown sits, for the transposed solve.
        let mut pos_of_col = vec![NONE; n];
        for (p, &c) in basis.piv_col.iter().enumerate() {
            pos_of_col[c] = p;
        }
        basis.off_slot = basis.off_col.iter().map(|&c| basis.piv_row[pos_of_col[c]]).collect();
        Ok(basis)
    }

    /// Appends the blocks of one level: `first` is the number of its first
    /// Hall element, `rows` its Lyndon words (level-local indices), `cols` /
    /// `by_row` its pivot matrix `M` by columns and by rows (local numbers).
    fn add_level(&mut self, base: usize, first: usize, rows: &[usize], cols: &[Vec<(usize, f64)>], by_row: &[Vec<(usize, f64)>]) {
        let m = cols.len();
        let row_of_col = perfect_matching(m, cols).expect("the Hall expansions at the Lyndon words form a nonsingular matrix");
        let mut col_of_row = vec![NONE; m];
        for (c, &r) in row_of_col.iter().enumerate() {
            col_of_row[r] = c;
        }
        // Column c feeds the equation of column c' when c is non-zero in the
        // row matched to c': an edge c -> c', so c is solved first.
        let mut components = strong_components(m, |c| cols[c].len(), |c, i| col_of_row[cols[c][i].0]);
        components.reverse();
        let mut block_of = vec![NONE; m];
        let mut at = vec![NONE; m];
        for (b, component) in components.iter_mut().enumerate() {
            component.sort_unstable();
            let s = component.len();
            for (j, &c) in component.iter().enumerate() {
                block_of[c] = b;
                at[c] = j;
            }
            // The block's rows: those matched to its columns.
            let mut dense = vec![0.0; s * s];
            for (i, &c) in component.iter().enumerate() {
                for &(col, v) in &by_row[row_of_col[c]] {
                    if block_of[col] == b {
                        dense[i * s + at[col]] = v;
                    } else {
                        debug_assert!(block_of[col] < b, "a block depends on a later one");
                    }
                }
            }
            let perm = lu_in_place(&mut dense, s);
            self.lu_ptr.push(self.lu.len());
            self.lu.extend_from_slice(&dense);
            for (i, &c) in component.iter().enumerate() {
                let r = row_of_col[component[perm[i]]];
                self.piv_col.push(first + c);
                self.piv_row.push(base + rows[r]);
                for &(col, v) in &by_row[r] {
                    if block_of[col] != b {
                        self.off_col.push(first + col);
                        self.off_coef.push(v);
                    }
                }
                self.off_ptr.push(self.off_col.len());
            }
            self.blk_ptr.push(self.piv_col.len());
        }
    }

    /// The shape of the expanded tensors this basis reads and writes.
    pub fn shape(&self) -> &TensorShape {
        &self.shape
    }

    /// The Hall set, in iisignature's order.
    pub fn trees(&self) -> &[HallTree] {
        &self.trees
    }

    /// The number of Hall elements: the length of a log-signature.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// True when there are no elements (degree 0 or dimension 0).
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    /// The bracket of element `h` as iisignature writes it: letters from
    /// 1, e.g. `"[1,[1,2]]"`.
    pub fn bracket_string(&self, h: usize) -> String {
        match self.trees[h] {
            HallTree::Letter(a) => (a + 1).to_string(),
            HallTree::Bracket(u, v) => format!("[{},{}]", self.bracket_string(u), self.bracket_string(v)),
        }
    }

    /// The sizes of the diagonal blocks of the coordinate solve, in solve order.
    pub fn block_sizes(&self) -> Vec<usize> {
        self.blk_ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn check(&self, name: &str, buf: usize, expected: usize) {
        assert_eq!(buf, expected, "{name} has length {buf}, but the Hall basis of dim {} degree {} needs {expected}", self.shape.dim, self.shape.degree);
    }

    /// The coordinates `c` of a Lie element given in expanded form,
    /// `L = sum_h c_h P_h`: writes `self.len()` numbers into `out`. Reads
    /// only the Lyndon-word entries of `expanded` (full tensor length); off
    /// Lie elements the result is the coordinates of the Lie element that
    /// agrees with `expanded` at the Lyndon words.
    pub fn coords_from_expanded<T: Float>(&self, expanded: &[T], out: &mut [T]) {
        self.check("expanded", expanded.len(), self.shape.len());
        self.check("out", out.len(), self.len());
        for b in 0..self.blk_ptr.len() - 1 {
            let (s0, s1) = (self.blk_ptr[b], self.blk_ptr[b + 1]);
            for p in s0..s1 {
                let mut v = expanded[self.piv_row[p]];
                for q in self.off_ptr[p]..self.off_ptr[p + 1] {
                    v -= coef::<T>(self.off_coef[q]) * out[self.off_col[q]];
                }
                out[self.piv_col[p]] = v;
            }
            let a = &self.lu[self.lu_ptr[b]..];
            let s = s1 - s0;
            let col = &self.piv_col[s0..s1];
            if s == 1 {
                out[col[0]] *= coef::<T>(a[0]);
                continue;
            }
            // L y = r (unit lower), then U x = y, in place.
            for i in 1..s {
                let mut v = out[col[i]];
                for j in 0..i {
                    v -= coef::<T>(a[i * s + j]) * out[col[j]];
                }
                out[col[i]] = v;
            }
            for i in (0..s).rev() {
                let mut v = out[col[i]];
                for j in i + 1..s {
                    v -= coef::<T>(a[i * s + j]) * out[col[j]];
                }
                out[col[i]] = v * coef::<T>(a[i * s + i]);
            }
        }
    }

    /// The transpose of [`coords_from_expanded`](Self::coords_from_expanded):
    /// given `g_coords = dF/dc`, ADDS `dF/d(expanded)` into `g_expanded`
    /// (full tensor length). Only the Lyndon-word entries are touched.
    ///
    /// Works in place in those entries when they start at zero (the usual
    /// case); otherwise it sets them aside in a temporary vector first.
    pub fn coords_from_expanded_backward<T: Float>(&self, g_coords: &[T], g_expanded: &mut [T]) {
        self.check("g_coords", g_coords.len(), self.len());
        self.check("g_expanded", g_expanded.len(), self.shape.len());
        if self.piv_row.iter().any(|&r| g_expanded[r] != T::zero()) {
            let saved: Vec<T> = self.piv_row.iter().map(|&r| std::mem::replace(&mut g_expanded[r], T::zero())).collect();
            self.backward_from_zero(g_coords, g_expanded);
            for (&r, &v) in self.piv_row.iter().zip(&saved) {
                g_expanded[r] += v;
            }
        } else {
            self.backward_from_zero(g_coords, g_expanded);
        }
    }

    /// The transposed solve, blocks in reverse order, with each unknown's
    /// gradient accumulated in its pivot entry of `g_expanded` (zero on entry).
    fn backward_from_zero<T: Float>(&self, g_coords: &[T], g: &mut [T]) {
        for b in (0..self.blk_ptr.len() - 1).rev() {
            let (s0, s1) = (self.blk_ptr[b], self.blk_ptr[b + 1]);
            let row = &self.piv_row[s0..s1];
            // The pivot entries hold minus what later blocks took from these
            // unknowns; add their own gradients.
            for p in s0..s1 {
                g[self.piv_row[p]] += g_coords[self.piv_col[p]];
            }
            let a = &self.lu[self.lu_ptr[b]..];
            let s = s1 - s0;
            if s == 1 {
                g[row[0]] *= coef::<T>(a[0]);
            } else {
                // (LU)^T z = g: U^T w = g (lower), then L^T z = w (unit upper).
                for i in 0..s {
                    let mut v = g[row[i]];
                    for j in 0..i {
                        v -= coef::<T>(a[j * s + i]) * g[row[j]];
                    }
                    g[row[i]] = v * coef::<T>(a[i * s + i]);
                }
                for i in (0..s).rev() {
                    let mut v = g[row[i]];
                    for j in i + 1..s {
                        v -= coef::<T>(a[j * s + i]) * g[row[j]];
                    }
                    g[row[i]] = v;
                }
            }
            for p in s0..s1 {
                let z = g[self.piv_row[p]];
                for q in self.off_ptr[p]..self.off_ptr[p + 1] {
                    g[self.off_slot[q]] -= coef::<T>(self.off_coef[q]) * z;
                }
            }
        }
    }

    /// The expanded Lie element `sum_h coords[h] P_h`, written into
    /// `expanded` (full tensor length; level 0 and every other entry not
    /// reached are set to 0).
    pub fn expanded_from_coords<T: Float>(&self, coords: &[T], expanded: &mut [T]) {
        self.check("coords", coords.len(), self.len());
        self.check("expanded", expanded.len(), self.shape.len());
        self.expansions.expand(coords, expanded);
    }

    /// The transpose of [`expanded_from_coords`](Self::expanded_from_coords):
    /// given `g_expanded = dF/d(expanded)` (full tensor length), writes
    /// `dF/dc` into `g_coords`.
    pub fn expanded_from_coords_backward<T: Float>(&self, g_expanded: &[T], g_coords: &mut [T]) {
        self.check("g_expanded", g_expanded.len(), self.shape.len());
        self.check("g_coords", g_coords.len(), self.len());
        self.expansions.expand_backward(g_expanded, g_coords);
    }
}

impl CachedTable for HallBasis {
    fn heap_bytes(&self) -> usize {
        let usizes = [&self.blk_ptr, &self.piv_col, &self.piv_row, &self.off_ptr, &self.off_col, &self.off_slot, &self.lu_ptr];
        std::mem::size_of::<HallTree>() * self.trees.capacity()
            + self.expansions.heap_bytes()
            + 8 * (usizes.iter().map(|v| v.capacity()).sum::<usize>() + self.off_coef.capacity() + self.lu.capacity())
    }
}

/// The [`HallBasis`] of `(dim, degree)`, built on first use and shared by
/// the whole process afterwards; safe to call from many threads and after
/// `fork` (see the Lyndon basis's cache, which this one works like).
pub fn hall_basis(dim: usize, degree: usize) -> Result<Arc<HallBasis>> {
    HALL_BASIS_CACHE.get(dim, degree, HallBasis::build)
}

static HALL_BASIS_CACHE: BasisCache<HallBasis> = BasisCache::new();

/// Part of [`crate::lyndon::clear_basis_caches`].
pub(crate) fn clear_hall_basis_cache() {
    HALL_BASIS_CACHE.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{close, dot, random};
    use crate::lyndon::{log_sig_length, LyndonBasis};
    use crate::tensor::{tensor_exp, tensor_mul};




    const SHAPES: [(usize, usize); 10] = [(1, 5), (2, 1), (2, 4), (2, 7), (3, 4), (4, 3), (5, 3), (3, 5), (6, 2), (2, 10)];

    #[test]
    fn brackets_and_order_are_iisignatures() {
        // iisignature.basis(iisignature.prepare(d, m, "H")), iisignature 0.24.
        let expected_2_6 = [
            "1", "2", "[1,2]", "[1,[1,2]]", "[2,[1,2]]", "[1,[1,[1,2]]]", "[2,[1,[1,2]]]", "[2,[2,[1,2]]]",
            "[1,[1,[1,[1,2]]]]", "[2,[1,[1,[1,2]]]]", "[2,[2,[1,[1,2]]]]", "[2,[2,[2,[1,2]]]]", "[[1,2],[1,[1,2]]]",
            "[[1,2],[2,[1,2]]]", "[1,[1,[1,[1,[1,2]]]]]", "[2,[1,[1,[1,[1,2]]]]]", "[2,[2,[1,[1,[1,2]]]]]",
            "[2,[2,[2,[1,[1,2]]]]]", "[2,[2,[2,[2,[1,2]]]]]", "[[1,2],[1,[1,[1,2]]]]", "[[1,2],[2,[1,[1,2]]]]",
            "[[1,2],[2,[2,[1,2]]]]", "[[1,[1,2]],[2,[1,2]]]",
        ];
        let expected_3_4 = [
            "1", "2", "3", "[1,2]", "[1,3]", "[2,3]", "[1,[1,2]]", "[1,[1,3]]", "[2,[1,2]]", "[2,[1,3]]", "[2,[2,3]]",
            "[3,[1,2]]", "[3,[1,3]]", "[3,[2,3]]", "[1,[1,[1,2]]]", "[1,[1,[1,3]]]", "[2,[1,[1,2]]]", "[2,[1,[1,3]]]",
            "[2,[2,[1,2]]]", "[2,[2,[1,3]]]", "[2,[2,[2,3]]]", "[3,[1,[1,2]]]", "[3,[1,[1,3]]]", "[3,[2,[1,2]]]",
            "[3,[2,[1,3]]]", "[3,[2,[2,3]]]", "[3,[3,[1,2]]]", "[3,[3,[1,3]]]", "[3,[3,[2,3]]]", "[[1,2],[1,3]]",
            "[[1,2],[2,3]]", "[[1,3],[2,3]]",
        ];
        for ((d, n), expected) in [((2, 6), &expected_2_6[..]), ((3, 4), &expected_3_4[..])] {
            let basis = HallBasis::new(d, n).unwrap();
            let got: Vec<String> = (0..basis.len()).map(|h| basis.bracket_string(h)).collect();
            assert_eq!(got, expected, "d={d} n={n}");
        }
    }

    #[test]
    fn hall_sets_have_witts_count_and_satisfy_the_hall_conditions() {
        for (d, n) in SHAPES.into_iter().chain([(2, 13), (4, 6)]) {
            let (trees, starts) = hall_set(d, n).unwrap();
            assert_eq!(Some(trees.len()), log_sig_length(d, n), "d={d} n={n}");
            assert_eq!(starts.len(), n + 2);
            let length = |h: usize| (1..=n).find(|&k| (starts[k]..starts[k + 1]).contains(&h)).unwrap();
            for (h, t) in trees.iter().enumerate() {
                match *t {
                    HallTree::Letter(a) => assert!(h == a && a < d),
                    HallTree::Bracket(u, v) => {
                        assert!(u < v && v < h && length(u) + length(v) == length(h));
                        assert!(length(u) <= length(v));
                        if let HallTree::Bracket(v_left, _) = trees[v] {
                            assert!(v_left <= u);
                        }
                    }
                }
            }
            let unique: std::collections::HashSet<_> = trees.iter().collect();
            assert_eq!(unique.len(), trees.len());
        }
        assert!(hall_trees(0, 3).unwrap().is_empty());
        assert!(hall_trees(3, 0).unwrap().is_empty());
        assert_eq!(hall_trees(1, 1_000_000).unwrap(), vec![HallTree::Letter(0)]);
    }

    #[test]
    fn coords_to_expanded_and_back_is_the_identity() {
        for (d, n) in SHAPES.into_iter().chain([(4, 6), (8, 4), (3, 6)]) {
            let basis = HallBasis::new(d, n).unwrap();
            let mut seed = 1 + 10 * d as u64 + n as u64;
            let coords = random(basis.len(), &mut seed);
            let mut expanded = random(basis.shape().len(), &mut seed); // overwritten
            basis.expanded_from_coords(&coords, &mut expanded);
            assert_eq!(expanded[0], 0.0);
            let mut back = vec![f64::NAN; basis.len()];
            basis.coords_from_expanded(&expanded, &mut back);
            // M^-1 grows with the level as the Lyndon basis's does (for
            // d = 2, level 10, its rows sum to at most 13639 in absolute value).
            close(&back, &coords, 1e-10);
        }
        let basis = HallBasis::new(3, 4).unwrap();
        let coords: Vec<f32> = random(basis.len(), &mut 5).into_iter().map(|x| x as f32).collect();
        let mut expanded = vec![0.0_f32; basis.shape().len()];
        basis.expanded_from_coords(&coords, &mut expanded);
        let mut back = vec![0.0_f32; basis.len()];
        basis.coords_from_expanded(&expanded, &mut back);
        for (a, b) in back.iter().zip(&coords) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn hall_and_lyndon_coordinates_describe_the_same_lie_element() {
        for (d, n) in [(2, 8), (3, 5), (4, 4)] {
            let (hall, lyndon) = (HallBasis::new(d, n).unwrap(), LyndonBasis::new(d, n).unwrap());
            let coords = random(lyndon.len(), &mut 23);
            let mut lie = vec![0.0; lyndon.shape().len()];
            lyndon.expanded_from_coords(&coords, &mut lie);
            let mut hall_coords = vec![0.0; hall.len()];
            hall.coords_from_expanded(&lie, &mut hall_coords);
            let mut rebuilt = vec![0.0; lie.len()];
            hall.expanded_from_coords(&hall_coords, &mut rebuilt);
            close(&rebuilt, &lie, 1e-11);
            // Up to level 2 the two bases are the same brackets.
            close(&hall_coords[..d + d * (d - 1) / 2], &coords[..d + d * (d - 1) / 2], 1e-15);
        }
    }

    #[test]
    fn projection_recovers_the_log_of_a_signature() {
        for (d, n) in [(2, 6), (3, 4), (4, 3)] {
            let shape = TensorShape::new(d, n).unwrap();
            let mut seed = 99 + d as u64;
            let mut s = shape.identity::<f64>();
            for _ in 0..4 {
                let mut e = vec![0.0; shape.len()];
                tensor_exp(&shape, &random(d, &mut seed), &mut e).unwrap();
                let mut next = vec![0.0; shape.len()];
                tensor_mul(&shape, &s, &e, &mut next).unwrap();
                s = next;
            }
            let mut log = vec![0.0; shape.len()];
            crate::logsig::sig_to_log_sig(&s, d, n, true, crate::logsig::LogSigMethod::Expanded, 1, &mut log).unwrap();
            let basis = HallBasis::new(d, n).unwrap();
            let mut coords = vec![0.0; basis.len()];
            basis.coords_from_expanded(&log, &mut coords);
            let mut rebuilt = vec![0.0; shape.len()];
            basis.expanded_from_coords(&coords, &mut rebuilt);
            close(&rebuilt[1..], &log[1..], 1e-12);
            close(&coords[..d], &log[1..=d], 1e-15);
        }
    }

    #[test]
    fn solve_blocks_are_small_and_only_look_back() {
        for ((d, n), largest) in [((2, 10), 5), ((3, 6), 3), ((4, 5), 4), ((2, 4), 1), ((5, 4), 1)] {
            let basis = HallBasis::new(d, n).unwrap();
            let sizes = basis.block_sizes();
            assert_eq!(sizes.iter().sum::<usize>(), basis.len());
            assert_eq!(sizes.iter().max().copied(), Some(largest), "d={d} n={n}");
            // Every unknown is solved once, and off-block terms use unknowns
            // already solved.
            let mut solved = vec![false; basis.len()];
            for b in 0..sizes.len() {
                let block = basis.blk_ptr[b]..basis.blk_ptr[b + 1];
                for p in block.clone() {
                    for q in basis.off_ptr[p]..basis.off_ptr[p + 1] {
                        assert!(solved[basis.off_col[q]], "d={d} n={n}");
                    }
                }
                for p in block {
                    assert!(!solved[basis.piv_col[p]]);
                    solved[basis.piv_col[p]] = true;
                }
            }
            assert!(solved.iter().all(|&s| s));
        }
    }

    #[test]
    fn backward_functions_are_the_transposes() {
        for (d, n) in SHAPES.into_iter().chain([(2, 11), (4, 5)]) {
            let basis = HallBasis::new(d, n).unwrap();
            let (m, t) = (basis.len(), basis.shape().len());
            let mut seed = 7 + 3 * d as u64 + n as u64;
            let (x, g) = (random(t, &mut seed), random(m, &mut seed));
            let mut fx = vec![0.0; m];
            basis.coords_from_expanded(&x, &mut fx);
            let mut gt = vec![0.0; t];
            basis.coords_from_expanded_backward(&g, &mut gt);
            assert!((dot(&g, &fx) - dot(&gt, &x)).abs() < 1e-10 * (1.0 + dot(&g, &fx).abs()), "d={d} n={n}");
            // It adds, touching only the pivot entries, also onto non-zero values.
            let start = random(t, &mut seed);
            let mut added = start.clone();
            basis.coords_from_expanded_backward(&g, &mut added);
            let sum: Vec<f64> = start.iter().zip(&gt).map(|(a, b)| a + b).collect();
            close(&added, &sum, 1e-12);
            for i in (0..t).filter(|i| !basis.piv_row.contains(i)) {
                assert_eq!(added[i], start[i]);
                assert_eq!(gt[i], 0.0);
            }
            let (c, g) = (random(m, &mut seed), random(t, &mut seed));
            let mut fc = vec![0.0; t];
            basis.expanded_from_coords(&c, &mut fc);
            let mut gt = vec![f64::NAN; m];
            basis.expanded_from_coords_backward(&g, &mut gt);
            assert!((dot(&g, &fc) - dot(&gt, &c)).abs() < 1e-10 * (1.0 + dot(&g, &fc).abs()), "d={d} n={n}");
        }
    }

    #[test]
    fn empty_and_one_letter_bases_work_and_overflow_is_an_error() {
        for (d, n) in [(3, 0), (0, 3), (1, 6)] {
            let basis = HallBasis::new(d, n).unwrap();
            assert_eq!(basis.len(), usize::from(d == 1));
            let mut expanded = vec![1.0; basis.shape().len()];
            let coords = vec![2.0; basis.len()];
            basis.expanded_from_coords(&coords, &mut expanded);
            let mut back = vec![0.0; basis.len()];
            basis.coords_from_expanded(&expanded, &mut back);
            assert_eq!(back, coords);
        }
        assert!(HallBasis::new(1 << 20, 5).is_err());
        assert!(hall_basis(1 << 20, 5).is_err());
    }

    #[test]
    #[should_panic(expected = "needs")]
    fn wrong_buffer_lengths_panic_with_a_message() {
        let basis = HallBasis::new(2, 3).unwrap();
        basis.coords_from_expanded(&[0.0; 14], &mut [0.0; 5]);
    }

    #[test]
    fn cache_shares_one_basis_across_calls_and_threads() {
        let a = hall_basis(3, 5).unwrap();
        assert!(Arc::ptr_eq(&a, &hall_basis(3, 5).unwrap()));
        let got: Vec<(Arc<HallBasis>, Arc<HallBasis>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| (hall_basis(3, 5).unwrap(), hall_basis(2, 9).unwrap()))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (x, y) in &got {
            assert!(Arc::ptr_eq(x, &a));
            assert!(Arc::ptr_eq(y, &got[0].1));
        }
        assert_eq!(got[0].1.len(), log_sig_length(2, 9).unwrap());
    }
}
