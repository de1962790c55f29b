//! Lyndon words and the Lyndon basis of the free Lie algebra, as the
//! log-signature needs them.
//!
//! A Lyndon word is a non-empty word strictly smaller (lexicographically)
//! than each of its proper rotations. The Lyndon words of length `k` index a
//! basis of the degree-`k` part of the free Lie algebra: the standard
//! bracketing `P_w` (`P_a = a` for a letter, `P_w = [P_u, P_v]` where
//! `w = uv` and `v` is the longest proper suffix of `w` that is Lyndon).
//!
//! Written out as a sum of words, `P_w = w + (words of the same length
//! greater than w)`. So the matrix `A[u][w] = P_w[u]` over the Lyndon words
//! `u, w` of one length is unitriangular, and the coordinates `c` of a Lie
//! element `L = sum_w c_w P_w` follow from its coefficients at Lyndon words
//! by forward substitution: `c_u = L[u] - sum_{w < u} A[u][w] c_w`.
//!
//! [`LyndonBasis`] holds, per `(dim, degree)`, the Lyndon words, their
//! positions in a flat tensor, the strictly lower part of `A` and the full
//! expansion of every `P_w`, all sparse; [`lyndon_basis`] caches one per
//! `(dim, degree)` for the whole process.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use crate::error::Result;
use crate::tensor::TensorShape;
use crate::Float;

/// Whether `word` is a Lyndon word: non-empty and strictly smaller, in
/// lexicographic order, than each of its proper rotations.
///
/// ```
/// assert!(sig_core::lyndon::is_lyndon(&[0, 0, 1]));
/// assert!(!sig_core::lyndon::is_lyndon(&[0, 1, 0]));
/// assert!(!sig_core::lyndon::is_lyndon(&[1, 1]));
/// ```
pub fn is_lyndon(word: &[usize]) -> bool {
    let n = word.len();
    n > 0 && (1..n).all(|r| word[r..].iter().chain(&word[..r]).cmp(word.iter()) == std::cmp::Ordering::Greater)
}

/// The Lyndon words over the letters `0..dim` of length `1..=degree`,
/// ordered by length, then lexicographically (pysiglib's `lyndon_words`).
///
/// ```
/// let words = sig_core::lyndon::lyndon_words(2, 3);
/// assert_eq!(words, vec![vec![0], vec![1], vec![0, 1], vec![0, 0, 1], vec![0, 1, 1]]);
/// ```
pub fn lyndon_words(dim: usize, degree: usize) -> Vec<Vec<usize>> {
    if dim == 0 || degree == 0 {
        return Vec::new();
    }
    if dim == 1 {
        // Only the single letter; no need to walk (possibly huge) degrees.
        return vec![vec![0]];
    }
    // Duval's algorithm yields the Lyndon words of length <= degree in
    // lexicographic order; bucketing by length keeps that order per length.
    let mut by_len: Vec<Vec<Vec<usize>>> = vec![Vec::new(); degree + 1];
    let mut w: Vec<usize> = vec![0];
    loop {
        by_len[w.len()].push(w.clone());
        let m = w.len();
        while w.len() < degree {
            w.push(w[w.len() - m]);
        }
        while w.last() == Some(&(dim - 1)) {
            w.pop();
        }
        match w.last_mut() {
            Some(last) => *last += 1,
            None => break,
        }
    }
    by_len.into_iter().flatten().collect()
}

/// The Möbius function of `n >= 1`.
fn mobius(mut n: usize) -> i128 {
    let mut mu = 1;
    let mut p = 2;
    while p * p <= n {
        if n % p == 0 {
            n /= p;
            if n % p == 0 {
                return 0;
            }
            mu = -mu;
        }
        p += 1;
    }
    if n > 1 {
        -mu
    } else {
        mu
    }
}

/// The number of Lyndon words of length `1..=degree` over `dim` letters, the
/// length of a log-signature (Witt's formula:
/// `sum_k (1/k) sum_{m | k} mu(m) dim^(k/m)`). `None` when it, or
/// `dim^degree` on the way, does not fit the integer types.
///
/// ```
/// assert_eq!(sig_core::lyndon::log_sig_length(2, 4), Some(8));
/// assert_eq!(sig_core::lyndon::log_sig_length(3, 4), Some(32));
/// ```
pub fn log_sig_length(dim: usize, degree: usize) -> Option<usize> {
    if dim == 0 || degree == 0 {
        return Some(0);
    }
    if dim == 1 {
        return Some(1);
    }
    let d = i128::try_from(dim).ok()?;
    let mut total: usize = 0;
    // d >= 2, so d^k overflows i128 before k reaches 128: the loop is short.
    for k in 1..=degree {
        let mut sum: i128 = 0;
        for m in (1..=k).filter(|m| k % m == 0) {
            let mu = mobius(m);
            if mu != 0 {
                let term = d.checked_pow(u32::try_from(k / m).ok()?)?;
                sum = sum.checked_add(mu * term)?;
            }
        }
        let count = usize::try_from(sum / k as i128).ok()?;
        total = total.checked_add(count)?;
    }
    Some(total)
}

/// An integer coefficient of a bracket expansion, in the float type.
#[inline(always)]
fn coef<T: Float>(c: f64) -> T {
    T::from_f64(c).unwrap_or_else(T::nan)
}

/// The expansions of a list of Lie basis elements (Lyndon or Hall) as
/// sparse tensors: element `e` is `sum coef[p] * word idx[p]` over
/// `p in ptr[e]..ptr[e + 1]`, flat tensor indices in increasing order.
/// Shared by [`LyndonBasis`] and [`crate::hall::HallBasis`].
#[derive(Debug, Clone, Default)]
pub(crate) struct SparseExpansions {
    ptr: Vec<usize>,
    idx: Vec<usize>,
    coef: Vec<f64>,
}

impl SparseExpansions {
    pub(crate) fn new() -> Self {
        SparseExpansions { ptr: vec![0], idx: Vec::new(), coef: Vec::new() }
    }

    /// Adds a term to the element being built.
    pub(crate) fn push_term(&mut self, flat_index: usize, c: f64) {
        self.idx.push(flat_index);
        self.coef.push(c);
    }

    /// Closes the element being built.
    pub(crate) fn end_element(&mut self) {
        self.ptr.push(self.idx.len());
    }

    /// The terms `(flat index, coefficient)` of element `e`.
    pub(crate) fn terms(&self, e: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        (self.ptr[e]..self.ptr[e + 1]).map(move |p| (self.idx[p], self.coef[p]))
    }

    /// `expanded = sum_e coords[e] P_e` (every entry written).
    pub(crate) fn expand<T: Float>(&self, coords: &[T], expanded: &mut [T]) {
        expanded.fill(T::zero());
        for (e, &c) in coords.iter().enumerate() {
            for (i, k) in self.terms(e) {
                expanded[i] += coef::<T>(k) * c;
            }
        }
    }

    /// The transpose of [`expand`](Self::expand): `g_coords[e] = <P_e, g_expanded>`.
    pub(crate) fn expand_backward<T: Float>(&self, g_expanded: &[T], g_coords: &mut [T]) {
        for (e, g) in g_coords.iter_mut().enumerate() {
            *g = self.terms(e).fold(T::zero(), |acc, (i, k)| acc + coef::<T>(k) * g_expanded[i]);
        }
    }
}

/// The Lyndon words of one `(dim, degree)` and everything needed to move a
/// Lie element between its expanded form (a full truncated tensor of
/// `TensorShape::new(dim, degree)`, level 0 first) and its coordinates in
/// the Lyndon basis `{P_w}`. Build once (or take it from [`lyndon_basis`]);
/// the per-element methods allocate nothing.
#[derive(Debug)]
pub struct LyndonBasis {
    shape: TensorShape,
    words: Vec<Vec<usize>>,
    /// Flat tensor index of each Lyndon word.
    word_indices: Vec<usize>,
    /// Strictly lower part of `A` (`A[u][w] = P_w[u]`) by rows: row `i`
    /// holds `(tri_col[p], tri_coef[p])` for `p in tri_ptr[i]..tri_ptr[i+1]`,
    /// columns `j < i` (Lyndon ids of the same length) in increasing order.
    tri_ptr: Vec<usize>,
    tri_col: Vec<usize>,
    tri_coef: Vec<f64>,
    /// The full expansion of each `P_w` over all words of its length.
    expansions: SparseExpansions,
    /// The standard factorisation `w = uv` of each word as Lyndon ids
    /// `(u, v)`; None for a letter.
    factors: Vec<Option<(usize, usize)>>,
}

impl LyndonBasis {
    /// Builds the basis for paths of dimension `dim` and truncation degree
    /// `degree`. Fails if a tensor of that shape overflows `usize`. Degree
    /// 0 (or dimension 0) gives an empty basis.
    pub fn new(dim: usize, degree: usize) -> Result<Self> {
        Ok(Self::build(TensorShape::new(dim, degree)?))
    }

    fn build(shape: TensorShape) -> Self {
        let (dim, degree) = (shape.dim, shape.degree);
        let words = lyndon_words(dim, degree);
        let n = words.len();
        // pow[k] = dim^k fits: it is the length of a level of `shape`.
        let pow: Vec<usize> = (0..=degree).map(|k| shape.level_len(k)).collect();
        let offset = |k: usize| shape.level(k).start;

        let mut word_indices = Vec::with_capacity(n);
        let mut id_of: HashMap<usize, usize> = HashMap::with_capacity(n);
        for (i, w) in words.iter().enumerate() {
            let local = w.iter().fold(0, |acc, &a| acc * dim + a);
            let flat = offset(w.len()) + local;
            word_indices.push(flat);
            id_of.insert(flat, i);
        }

        // Expansions over level-local word indices, built in word order:
        // the factors of a standard factorisation are shorter, so earlier.
        let mut expansions: Vec<Vec<(usize, i64)>> = Vec::with_capacity(n);
        let mut factors = Vec::with_capacity(n);
        for (i, w) in words.iter().enumerate() {
            let k = w.len();
            if k == 1 {
                expansions.push(vec![(w[0], 1)]);
                factors.push(None);
                continue;
            }
            let local = word_indices[i] - offset(k);
            // The longest proper Lyndon suffix v = w[s..]; then u = w[..s]
            // is Lyndon too (the standard factorisation).
            let (s, v_id) = (1..k)
                .find_map(|s| id_of.get(&(offset(k - s) + local % pow[k - s])).map(|&v| (s, v)))
                .expect("a Lyndon word of length >= 2 has a proper Lyndon suffix (its last letter)");
            let u_id = id_of[&(offset(s) + local / pow[k - s])];
            factors.push(Some((u_id, v_id)));
            let (pu, pv) = (&expansions[u_id], &expansions[v_id]);
            let mut terms = Vec::with_capacity(2 * pu.len() * pv.len());
            for &(a, ca) in pu {
                for &(b, cb) in pv {
                    // [P_u, P_v] = P_u P_v - P_v P_u.
                    terms.push((a * pow[k - s] + b, ca * cb));
                    terms.push((b * pow[s] + a, -ca * cb));
                }
            }
            terms.sort_unstable_by_key(|t| t.0);
            let mut merged: Vec<(usize, i64)> = Vec::with_capacity(terms.len());
            for (idx, c) in terms {
                match merged.last_mut() {
                    Some(last) if last.0 == idx => last.1 += c,
                    _ => merged.push((idx, c)),
                }
            }
            merged.retain(|t| t.1 != 0);
            expansions.push(merged);
        }

        // A's strictly lower part by rows, and the flattened expansions.
        let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
        let mut sparse = SparseExpansions::new();
        for (j, (w, terms)) in words.iter().zip(&expansions).enumerate() {
            let base = offset(w.len());
            for &(local, c) in terms {
                let flat = base + local;
                sparse.push_term(flat, c as f64);
                if let Some(&i) = id_of.get(&flat) {
                    // Unitriangularity (tested): P_w[w] = 1, and the other
                    // Lyndon words in P_w come after w.
                    assert!(i > j || (i == j && c == 1), "the Lyndon basis is not unitriangular");
                    if i != j {
                        rows[i].push((j, c as f64));
                    }
                }
            }
            sparse.end_element();
        }
        let mut tri_ptr = Vec::with_capacity(n + 1);
        let mut tri_col = Vec::new();
        let mut tri_coef = Vec::new();
        tri_ptr.push(0);
        for row in rows {
            // Columns arrive in increasing order (w is the outer loop above).
            for (j, c) in row {
                tri_col.push(j);
                tri_coef.push(c);
            }
            tri_ptr.push(tri_col.len());
        }

        LyndonBasis { shape, words, word_indices, tri_ptr, tri_col, tri_coef, expansions: sparse, factors }
    }

    /// The shape of the expanded tensors this basis reads and writes.
    pub fn shape(&self) -> &TensorShape {
        &self.shape
    }

    /// The Lyndon words, in [`lyndon_words`] order.
    pub fn words(&self) -> &[Vec<usize>] {
        &self.words
    }

    /// The number of Lyndon words: the length of a log-signature.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when there are no Lyndon words (degree 0 or dimension 0).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The index in a flat tensor (level 0 at index 0) of each Lyndon word,
    /// in [`lyndon_words`] order.
    pub fn word_indices(&self) -> &[usize] {
        &self.word_indices
    }

    /// The standard bracketing of each Lyndon word: `Some((u, v))` (ids of
    /// this basis) for `P_w = [P_u, P_v]`, None for a letter.
    pub fn standard_factors(&self) -> &[Option<(usize, usize)>] {
        &self.factors
    }

    /// The off-diagonal coefficients of the Lyndon words in the expansions:
    /// `(w, u, c)` when Lyndon word `u` has coefficient `c != 0` in `P_w`
    /// (`u > w`, the same length), by `u`, then `w`. The diagonal is 1.
    pub fn triangle(&self) -> impl Iterator<Item = (usize, usize, i64)> + '_ {
        (0..self.len()).flat_map(move |u| (self.tri_ptr[u]..self.tri_ptr[u + 1]).map(move |p| (self.tri_col[p], u, self.tri_coef[p] as i64)))
    }

    fn check(&self, name: &str, buf: usize, expected: usize) {
        assert_eq!(buf, expected, "{name} has length {buf}, but the Lyndon basis of dim {} degree {} needs {expected}", self.shape.dim, self.shape.degree);
    }

    /// The coordinates `c` of a Lie element given in expanded form,
    /// `L = sum_w c_w P_w`: writes `self.len()` numbers into `out`. Reads
    /// only the Lyndon-word entries of `expanded` (full tensor length,
    /// level 0 ignored). If `expanded` is not a Lie element the result is
    /// the coordinates of the Lie element that agrees with it at the
    /// Lyndon words.
    pub fn coords_from_expanded<T: Float>(&self, expanded: &[T], out: &mut [T]) {
        self.check("expanded", expanded.len(), self.shape.len());
        self.check("out", out.len(), self.len());
        for i in 0..self.len() {
            let mut v = expanded[self.word_indices[i]];
            for p in self.tri_ptr[i]..self.tri_ptr[i + 1] {
                v -= coef::<T>(self.tri_coef[p]) * out[self.tri_col[p]];
            }
            out[i] = v;
        }
    }

    /// The transpose of [`coords_from_expanded`](Self::coords_from_expanded):
    /// given `g_coords = dF/dc`, ADDS `dF/d(expanded)` into `g_expanded`
    /// (full tensor length). Only the Lyndon-word entries are touched.
    ///
    /// Works in place, without scratch: with `z` the old Lyndon entries it
    /// solves `A^T z' = A^T z + g` for the new ones `z' = z + A^-T g`. When
    /// those entries start at zero (the usual case) this is exactly the
    /// plain back substitution; otherwise the addition carries rounding
    /// relative to the old entries as well.
    pub fn coords_from_expanded_backward<T: Float>(&self, g_coords: &[T], g_expanded: &mut [T]) {
        self.check("g_coords", g_coords.len(), self.len());
        self.check("g_expanded", g_expanded.len(), self.shape.len());
        let n = self.len();
        let idx = &self.word_indices;
        if idx.iter().any(|&i| g_expanded[i] != T::zero()) {
            // r = A^T z: row u of A sends z_u to its columns w < u, which
            // are visited later in increasing order, so z_u is still old.
            for u in 0..n {
                let zu = g_expanded[idx[u]];
                for p in self.tri_ptr[u]..self.tri_ptr[u + 1] {
                    g_expanded[idx[self.tri_col[p]]] += coef::<T>(self.tri_coef[p]) * zu;
                }
            }
        }
        for (&i, &g) in idx.iter().zip(g_coords) {
            g_expanded[i] += g;
        }
        // Back substitution for A^T (upper unitriangular), by columns.
        for u in (0..n).rev() {
            let zu = g_expanded[idx[u]];
            for p in self.tri_ptr[u]..self.tri_ptr[u + 1] {
                g_expanded[idx[self.tri_col[p]]] -= coef::<T>(self.tri_coef[p]) * zu;
            }
        }
    }

    /// The expanded Lie element `sum_w coords[w] P_w`, written into
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

/// One process-wide cache of bases per `(dim, degree)`, each built on first
/// use. Safe to call from many threads: each basis is built once, and
/// threads asking for it meanwhile wait for it. Shared by the Lyndon and
/// Hall bases.
pub(crate) struct BasisCache<B> {
    slots: OnceLock<RwLock<Slots<B>>>,
}

/// The cache's map from `(dim, degree)` to its entry.
type Slots<B> = HashMap<(usize, usize), Slot<B>>;

/// One cache entry: filled once, by the first thread that asks.
type Slot<B> = Arc<OnceLock<Arc<B>>>;

impl<B> BasisCache<B> {
    pub(crate) const fn new() -> Self {
        BasisCache { slots: OnceLock::new() }
    }

    pub(crate) fn get(&self, dim: usize, degree: usize, build: impl FnOnce(TensorShape) -> B) -> Result<Arc<B>> {
        let cache = self.slots.get_or_init(Default::default);
        let key = (dim, degree);
        let found = cache.read().unwrap_or_else(PoisonError::into_inner).get(&key).cloned();
        let slot = match found {
            Some(slot) => slot,
            None => {
                // Validate before making a slot, so bad arguments are not cached.
                TensorShape::new(dim, degree)?;
                cache.write().unwrap_or_else(PoisonError::into_inner).entry(key).or_default().clone()
            }
        };
        Ok(slot
            .get_or_init(|| Arc::new(build(TensorShape::new(dim, degree).expect("validated before the slot was made"))))
            .clone())
    }
}

/// The [`LyndonBasis`] of `(dim, degree)`, built on first use and shared
/// by the whole process afterwards; safe to call from many threads.
pub fn lyndon_basis(dim: usize, degree: usize) -> Result<Arc<LyndonBasis>> {
    static CACHE: BasisCache<LyndonBasis> = BasisCache::new();
    CACHE.get(dim, degree, LyndonBasis::build)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{close, dot, random};
    use crate::tensor::{tensor_exp, tensor_mul};
    use crate::words::word_to_idx;




    /// Lyndon by definition: strictly smaller than every proper rotation.
    fn is_lyndon(w: &[usize]) -> bool {
        !w.is_empty() && (1..w.len()).all(|r| w < &[&w[r..], &w[..r]].concat()[..])
    }

    /// Every word of length `k` over `dim` letters, lexicographically.
    fn all_words(dim: usize, k: usize) -> Vec<Vec<usize>> {
        (0..dim.pow(k as u32)).map(|n| (0..k).rev().map(|p| n / dim.pow(p as u32) % dim).collect()).collect()
    }

    const SHAPES: [(usize, usize); 9] = [(1, 5), (2, 1), (2, 4), (2, 7), (3, 4), (4, 3), (5, 3), (3, 5), (6, 2)];

    #[test]
    fn lyndon_words_match_brute_force_in_length_then_lexicographic_order() {
        for (d, n) in SHAPES {
            let expected: Vec<Vec<usize>> = (1..=n).flat_map(|k| all_words(d, k).into_iter().filter(|w| is_lyndon(w))).collect();
            assert_eq!(lyndon_words(d, n), expected, "d={d} n={n}");
        }
        assert!(lyndon_words(0, 3).is_empty());
        assert!(lyndon_words(3, 0).is_empty());
        assert_eq!(lyndon_words(1, 1_000_000), vec![vec![0]]);
    }

    #[test]
    fn lyndon_word_counts_match_witts_formula() {
        for (d, n) in SHAPES.into_iter().chain([(2, 12), (3, 8), (8, 4), (4, 6), (10, 5)]) {
            assert_eq!(Some(lyndon_words(d, n).len()), log_sig_length(d, n), "d={d} n={n}");
        }
        // Known values (iisignature's logsiglength).
        assert_eq!(log_sig_length(2, 3), Some(5));
        assert_eq!(log_sig_length(2, 10), Some(2 + 1 + 2 + 3 + 6 + 9 + 18 + 30 + 56 + 99));
        assert_eq!(log_sig_length(3, 6), Some(3 + 3 + 8 + 18 + 48 + 116));
        assert_eq!(log_sig_length(1, 1_000_000), Some(1));
        assert_eq!(log_sig_length(0, 4), Some(0));
        assert_eq!(log_sig_length(5, 0), Some(0));
        assert_eq!(log_sig_length(2, 200), None);
        assert_eq!(log_sig_length(1 << 40, 4), None);
    }

    #[test]
    fn small_case_has_the_known_words_and_bracket_expansions() {
        let basis = LyndonBasis::new(2, 3).unwrap();
        assert_eq!(basis.words(), &[vec![0], vec![1], vec![0, 1], vec![0, 0, 1], vec![0, 1, 1]]);
        let idx = |w: &[usize]| word_to_idx(w, 2, true).unwrap();
        let expected_idx: Vec<usize> = basis.words().iter().map(|w| idx(w)).collect();
        assert_eq!(basis.word_indices(), &expected_idx[..]);
        let expansion = |w: usize| {
            let mut e = vec![0.0; basis.shape().len()];
            let mut c = vec![0.0; basis.len()];
            c[w] = 1.0;
            basis.expanded_from_coords(&c, &mut e);
            e
        };
        let mut p001 = vec![0.0; 15];
        p001[idx(&[0, 0, 1])] = 1.0;
        p001[idx(&[0, 1, 0])] = -2.0;
        p001[idx(&[1, 0, 0])] = 1.0;
        assert_eq!(expansion(3), p001);
        let mut p011 = vec![0.0; 15];
        p011[idx(&[0, 1, 1])] = 1.0;
        p011[idx(&[1, 0, 1])] = -2.0;
        p011[idx(&[1, 1, 0])] = 1.0;
        assert_eq!(expansion(4), p011);
        let mut p01 = vec![0.0; 15];
        p01[idx(&[0, 1])] = 1.0;
        p01[idx(&[1, 0])] = -1.0;
        assert_eq!(expansion(2), p01);
    }

    #[test]
    fn bracket_expansions_are_unitriangular_on_each_level() {
        for (d, n) in SHAPES.into_iter().chain([(2, 10), (4, 6)]) {
            let basis = LyndonBasis::new(d, n).unwrap();
            for (j, w) in basis.words().iter().enumerate() {
                let level = basis.shape().level(w.len());
                // P_w[w] = 1, and every word in P_w is >= w and of w's length.
                let at_w: Vec<f64> = basis.expansions.terms(j).filter(|&(i, _)| i == basis.word_indices[j]).map(|(_, c)| c).collect();
                assert_eq!(at_w, vec![1.0], "d={d} n={n} w={w:?}");
                for (i, c) in basis.expansions.terms(j) {
                    assert!(level.contains(&i) && i >= basis.word_indices[j], "d={d} n={n} w={w:?}");
                    assert!(c != 0.0);
                }
            }
            for i in 0..basis.len() {
                for p in basis.tri_ptr[i]..basis.tri_ptr[i + 1] {
                    let j = basis.tri_col[p];
                    assert!(j < i && basis.words()[j].len() == basis.words()[i].len());
                }
            }
        }
    }

    #[test]
    fn coords_to_expanded_and_back_is_the_identity() {
        for (d, n) in SHAPES.into_iter().chain([(2, 10), (4, 6), (8, 4)]) {
            let basis = LyndonBasis::new(d, n).unwrap();
            let mut seed = 1 + 10 * d as u64 + n as u64;
            let coords = random(basis.len(), &mut seed);
            let mut expanded = random(basis.shape().len(), &mut seed); // overwritten
            basis.expanded_from_coords(&coords, &mut expanded);
            assert_eq!(expanded[0], 0.0);
            let mut back = vec![f64::NAN; basis.len()];
            basis.coords_from_expanded(&expanded, &mut back);
            // A is well conditioned only at low degrees: for d = 2, level 10
            // its inverse has entries up to 7560 (row sums up to 17800).
            close(&back, &coords, 1e-10);
        }
        // And in f32.
        let basis = LyndonBasis::new(3, 4).unwrap();
        let coords: Vec<f32> = random(basis.len(), &mut 5).into_iter().map(|x| x as f32).collect();
        let mut expanded = vec![0.0_f32; basis.shape().len()];
        basis.expanded_from_coords(&coords, &mut expanded);
        let mut back = vec![0.0_f32; basis.len()];
        basis.coords_from_expanded(&expanded, &mut back);
        for (a, b) in back.iter().zip(&coords) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    /// The shuffle product of two words, as word -> coefficient.
    fn shuffle(a: &[usize], b: &[usize]) -> HashMap<Vec<usize>, i64> {
        let mut out = HashMap::new();
        if a.is_empty() || b.is_empty() {
            out.insert([a, b].concat(), 1);
            return out;
        }
        // (a'x) sh (b'y) = (a' sh b'y) x + (a'x sh b') y.
        for (rest, last) in [(shuffle(&a[..a.len() - 1], b), a[a.len() - 1]), (shuffle(a, &b[..b.len() - 1]), b[b.len() - 1])] {
            for (mut w, c) in rest {
                w.push(last);
                *out.entry(w).or_insert(0) += c;
            }
        }
        out
    }

    #[test]
    fn expanded_coords_give_lie_elements_killed_by_shuffles() {
        // A Lie element pairs to zero with every shuffle of two non-empty words.
        for (d, n) in [(2, 5), (3, 4)] {
            let basis = LyndonBasis::new(d, n).unwrap();
            let coords = random(basis.len(), &mut 17);
            let mut expanded = vec![0.0; basis.shape().len()];
            basis.expanded_from_coords(&coords, &mut expanded);
            for k in 2..=n {
                for i in 1..k {
                    for a in all_words(d, i) {
                        for b in all_words(d, k - i) {
                            let pairing: f64 = shuffle(&a, &b).iter().map(|(w, &c)| c as f64 * expanded[word_to_idx(w, d, true).unwrap()]).sum();
                            assert!(pairing.abs() < 1e-12, "d={d} <L, {a:?} sh {b:?}> = {pairing}");
                        }
                    }
                }
            }
        }
        // d = 2, level 2: antisymmetric, L[01] = -L[10], L[00] = L[11] = 0.
        let basis = LyndonBasis::new(2, 2).unwrap();
        let mut expanded = vec![0.0; 7];
        basis.expanded_from_coords(&[0.3, -0.7, 1.9], &mut expanded);
        assert_eq!(expanded, vec![0.0, 0.3, -0.7, 0.0, 1.9, -1.9, 0.0]);
    }

    /// log(S) = sum_{m>=1} (-1)^(m+1) (S - 1)^m / m in the truncated algebra.
    fn tensor_log(shape: &TensorShape, s: &[f64]) -> Vec<f64> {
        let mut x = s.to_vec();
        x[0] = 0.0;
        let mut power = x.clone();
        let mut out = vec![0.0; shape.len()];
        for m in 1..=shape.degree {
            let sign = if m % 2 == 1 { 1.0 } else { -1.0 };
            for (o, p) in out.iter_mut().zip(&power) {
                *o += sign * p / m as f64;
            }
            let mut next = vec![0.0; shape.len()];
            tensor_mul(shape, &power, &x, &mut next).unwrap();
            power = next;
        }
        out
    }

    #[test]
    fn projection_recovers_the_log_of_a_signature() {
        // The log of a signature is a Lie element, so its Lyndon coordinates
        // must reproduce all of it, not just its Lyndon-word entries.
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
            let log = tensor_log(&shape, &s);
            let basis = LyndonBasis::new(d, n).unwrap();
            let mut coords = vec![0.0; basis.len()];
            basis.coords_from_expanded(&log, &mut coords);
            let mut rebuilt = vec![0.0; shape.len()];
            basis.expanded_from_coords(&coords, &mut rebuilt);
            close(&rebuilt[1..], &log[1..], 1e-12);
            // Level 1 coordinates are the total increment.
            close(&coords[..d], &log[1..=d], 1e-15);
        }
    }

    #[test]
    fn backward_functions_are_the_transposes() {
        for (d, n) in SHAPES.into_iter().chain([(2, 10), (4, 6)]) {
            let basis = LyndonBasis::new(d, n).unwrap();
            let (m, t) = (basis.len(), basis.shape().len());
            let mut seed = 7 + 3 * d as u64 + n as u64;
            // <g, coords(x)> == <coords^T(g), x>.
            let (x, g) = (random(t, &mut seed), random(m, &mut seed));
            let mut fx = vec![0.0; m];
            basis.coords_from_expanded(&x, &mut fx);
            let mut gt = vec![0.0; t];
            basis.coords_from_expanded_backward(&g, &mut gt);
            assert!((dot(&g, &fx) - dot(&gt, &x)).abs() < 1e-10 * (1.0 + dot(&g, &fx).abs()), "d={d} n={n}");
            // It adds, touching only Lyndon entries, also onto non-zero values.
            let start = random(t, &mut seed);
            let mut added = start.clone();
            basis.coords_from_expanded_backward(&g, &mut added);
            let sum: Vec<f64> = start.iter().zip(&gt).map(|(a, b)| a + b).collect();
            close(&added, &sum, 1e-12);
            for i in (0..t).filter(|i| !basis.word_indices().contains(i)) {
                assert_eq!(added[i], start[i]);
                assert_eq!(gt[i], 0.0);
            }
            // <g, expanded(c)> == <expanded^T(g), c>.
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
            let basis = LyndonBasis::new(d, n).unwrap();
            assert_eq!(basis.len(), usize::from(d == 1));
            let mut expanded = vec![1.0; basis.shape().len()];
            let coords = vec![2.0; basis.len()];
            basis.expanded_from_coords(&coords, &mut expanded);
            let mut back = vec![0.0; basis.len()];
            basis.coords_from_expanded(&expanded, &mut back);
            assert_eq!(back, coords);
            let expected: Vec<f64> = (0..expanded.len()).map(|i| if i == 1 { 2.0 } else { 0.0 }).collect();
            assert_eq!(expanded, expected);
        }
        assert!(LyndonBasis::new(1 << 20, 5).is_err());
        assert!(lyndon_basis(1 << 20, 5).is_err());
    }

    #[test]
    #[should_panic(expected = "needs")]
    fn wrong_buffer_lengths_panic_with_a_message() {
        let basis = LyndonBasis::new(2, 3).unwrap();
        basis.coords_from_expanded(&[0.0; 14], &mut [0.0; 5]);
    }

    #[test]
    fn cache_shares_one_basis_across_calls_and_threads() {
        let a = lyndon_basis(3, 5).unwrap();
        let b = lyndon_basis(3, 5).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let got: Vec<(Arc<LyndonBasis>, Arc<LyndonBasis>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| (lyndon_basis(3, 5).unwrap(), lyndon_basis(2, 9).unwrap()))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (x, y) in &got {
            assert!(Arc::ptr_eq(x, &a));
            assert!(Arc::ptr_eq(y, &got[0].1));
        }
        assert_eq!(got[0].1.len(), log_sig_length(2, 9).unwrap());
        assert_eq!(a.words(), &lyndon_words(3, 5)[..]);
    }

    #[test]
    fn standard_factors_concatenate_to_the_word_and_the_triangle_is_the_expansion() {
        let basis = LyndonBasis::new(3, 5).unwrap();
        let words = basis.words();
        for (w, f) in words.iter().zip(basis.standard_factors()) {
            match f {
                None => assert_eq!(w.len(), 1),
                Some((u, v)) => {
                    assert_eq!([words[*u].clone(), words[*v].clone()].concat(), *w);
                    // v is the longest proper Lyndon suffix
                    assert!((1..w.len() - words[*v].len()).all(|s| !is_lyndon(&w[s..])));
                }
            }
        }
        // Every off-diagonal Lyndon coefficient of every expansion is listed, once.
        let mut expanded = vec![0.0; basis.shape().len()];
        let mut coords = vec![0.0; basis.len()];
        let mut seen = 0;
        for w in 0..basis.len() {
            coords.fill(0.0);
            coords[w] = 1.0;
            basis.expanded_from_coords(&coords, &mut expanded);
            for (u, &flat) in basis.word_indices().iter().enumerate() {
                let c = expanded[flat];
                let listed: Vec<i64> = basis.triangle().filter(|t| t.0 == w && t.1 == u).map(|t| t.2).collect();
                if u == w {
                    assert_eq!(c, 1.0);
                } else if c != 0.0 {
                    assert_eq!(listed, vec![c as i64], "P_{w} at {u}");
                    seen += 1;
                } else {
                    assert!(listed.is_empty());
                }
            }
        }
        assert_eq!(seen, basis.triangle().count());
        assert!(seen > 0);
    }
}
