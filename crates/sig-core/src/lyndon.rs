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
//! [`LyndonBasis`] holds, per `(dim, degree)`, the positions of the Lyndon
//! words in a flat tensor, the strictly lower part of `A` and the full
//! expansion of every `P_w`, all sparse; [`lyndon_basis`] caches one per
//! `(dim, degree)` for the whole process. Method 1 of the log-signature needs
//! only the positions, which [`lyndon_word_indices`] computes (and caches)
//! without any bracket.
//!
//! Sizes never come from building tables: the number of Lyndon words is
//! Witt's formula ([`lyndon_count`], [`log_sig_length`]), and every table
//! whose size follows from `(dim, degree)` is allocated fallibly
//! ([`crate::alloc`]), so one that does not fit is
//! [`SigError::OutOfMemory`], never an abort.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::alloc::{bytes_of, try_reserve, try_vec};
use crate::error::{Result, SigError};
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

/// The number of Lyndon words of length exactly `length` over `dim` letters
/// (Witt's necklace formula `(1/k) sum_{m | k} mu(m) dim^(k/m)`), without
/// listing them. `None` when it, or `dim^length` on the way, does not fit
/// the integer types.
///
/// ```
/// assert_eq!(sig_core::lyndon::lyndon_count(2, 5), Some(6));
/// ```
pub fn lyndon_count(dim: usize, length: usize) -> Option<usize> {
    match (dim, length) {
        (0, _) | (_, 0) => return Some(0),
        (1, 1) => return Some(1),
        (1, _) => return Some(0),
        _ => {}
    }
    let d = i128::try_from(dim).ok()?;
    let mut sum: i128 = 0;
    // dim >= 2, so dim^length overflows i128 (None) before length reaches 128.
    for m in (1..=length).filter(|m| length % m == 0) {
        let mu = mobius(m);
        if mu != 0 {
            let term = d.checked_pow(u32::try_from(length / m).ok()?)?;
            sum = sum.checked_add(mu * term)?;
        }
    }
    usize::try_from(sum / length as i128).ok()
}

/// The number of Lyndon words of length `1..=degree` over `dim` letters, the
/// length of a log-signature (Witt's formula:
/// `sum_k (1/k) sum_{m | k} mu(m) dim^(k/m)`), computed without listing
/// them. `None` when it, or `dim^degree` on the way, does not fit the
/// integer types.
///
/// ```
/// assert_eq!(sig_core::lyndon::log_sig_length(2, 4), Some(8));
/// assert_eq!(sig_core::lyndon::log_sig_length(3, 4), Some(32));
/// assert_eq!(sig_core::lyndon::log_sig_length(10, 12), Some(93_549_375_919));
/// ```
pub fn log_sig_length(dim: usize, degree: usize) -> Option<usize> {
    if dim <= 1 {
        // No walk over (possibly huge) degrees: only the single letter.
        return Some(usize::from(dim == 1 && degree > 0));
    }
    (1..=degree).try_fold(0usize, |total, k| total.checked_add(lyndon_count(dim, k)?))
}

/// [`log_sig_length`], or `Overflow` naming what was asked.
pub(crate) fn checked_lyndon_count(dim: usize, degree: usize) -> Result<usize> {
    log_sig_length(dim, degree).ok_or_else(|| SigError::Overflow(format!("the number of Lyndon words of dimension {dim} and degree {degree}")))
}

/// The shape of `(dim, degree)` tensors, refusing sizes that overflow
/// before [`TensorShape::new`] reserves its `degree + 2` level offsets
/// (which it does infallibly): with two letters or more the tensor
/// overflows `usize` long before the degree reaches `usize::BITS`, and with
/// fewer the offsets are reserved fallibly here first.
pub(crate) fn checked_shape(dim: usize, degree: usize) -> Result<TensorShape> {
    if dim >= 2 && degree >= usize::BITS as usize {
        return Err(SigError::Overflow(format!("a signature of dimension {dim} and degree {degree}")));
    }
    if dim <= 1 {
        let mut probe: Vec<usize> = Vec::new();
        try_reserve(&mut probe, &format!("the level offsets of a tensor of degree {degree}"), degree.saturating_add(2))?;
    }
    TensorShape::new(dim, degree)
}

/// Calls `f` on every Lyndon word over `0..dim` of length `1..=degree` in
/// lexicographic order (Duval's algorithm), with the word and its index in
/// its level (`sum_j w_j dim^(k-1-j)`). `dim >= 2`, `degree >= 1`.
fn for_each_lyndon_word(dim: usize, degree: usize, mut f: impl FnMut(&[usize], usize) -> Result<()>) -> Result<()> {
    let mut w: Vec<usize> = Vec::new();
    try_reserve(&mut w, "a Lyndon word", degree)?;
    w.push(0);
    loop {
        f(&w, w.iter().fold(0, |acc, &a| acc * dim + a))?;
        let m = w.len();
        while w.len() < degree {
            w.push(w[w.len() - m]);
        }
        while w.last() == Some(&(dim - 1)) {
            w.pop();
        }
        match w.last_mut() {
            Some(last) => *last += 1,
            None => return Ok(()),
        }
    }
}

/// The Lyndon words of length `1..=degree` over `0..dim`, flat: word `i` is
/// `letters[i * ...]`, of the length [`LyndonWords::word`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LyndonWords {
    letters: Vec<usize>,
    /// Word `i` is `letters[ptr[i]..ptr[i + 1]]`.
    ptr: Vec<usize>,
}

impl LyndonWords {
    /// The number of words.
    pub fn len(&self) -> usize {
        self.ptr.len() - 1
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Word `i`.
    pub fn word(&self, i: usize) -> &[usize] {
        &self.letters[self.ptr[i]..self.ptr[i + 1]]
    }

    /// The words, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[usize]> + '_ {
        (0..self.len()).map(move |i| self.word(i))
    }
}

/// The Lyndon words over the letters `0..dim` of length `min_length..=degree`,
/// ordered by length, then lexicographically (pysiglib's `lyndon_words` for
/// `min_length` 1, its `lyndon_words_of_length` for `min_length = degree`).
/// Their number and total length come from Witt's formula first, and the
/// storage for them is reserved fallibly before any word is made.
///
/// ```
/// let words = sig_core::lyndon::lyndon_words(2, 3, 1).unwrap();
/// let words: Vec<&[usize]> = words.iter().collect();
/// assert_eq!(words, [&[0][..], &[1], &[0, 1], &[0, 0, 1], &[0, 1, 1]]);
/// ```
pub fn lyndon_words(dim: usize, degree: usize, min_length: usize) -> Result<LyndonWords> {
    let first = min_length.max(1);
    let levels = first..=degree;
    let what = || format!("the Lyndon words of dimension {dim} and lengths {first} to {degree}");
    let overflow = || SigError::Overflow(what());
    // Per level: where its words and its letters start.
    let (mut n, mut n_letters) = (0usize, 0usize);
    let mut word_at: Vec<usize> = Vec::new();
    let mut letter_at: Vec<usize> = Vec::new();
    if dim >= 1 && !levels.is_empty() {
        // Levels that hold words: all of them for dim >= 2 (at most ~64 before
        // the counts overflow), only length 1 for a single letter.
        let top = if dim == 1 { 1.min(degree) } else { degree };
        for k in first..=top {
            word_at.push(n);
            letter_at.push(n_letters);
            let count = lyndon_count(dim, k).ok_or_else(overflow)?;
            n = n.checked_add(count).ok_or_else(overflow)?;
            n_letters = count.checked_mul(k).and_then(|l| n_letters.checked_add(l)).ok_or_else(overflow)?;
        }
    }
    bytes_of::<usize>(&what(), n.checked_add(n_letters).ok_or_else(overflow)?)?;
    let mut letters = try_vec(&what(), n_letters, 0usize)?;
    let mut ptr = try_vec(&what(), n + 1, 0usize)?;
    for (i, k) in (first..first + word_at.len()).enumerate() {
        let count = word_at.get(i + 1).copied().unwrap_or(n) - word_at[i];
        for j in 0..=count {
            ptr[word_at[i] + j] = letter_at[i] + j * k;
        }
    }
    // One letter: `letters` already holds the single word (0).
    if dim >= 2 && n > 0 {
        let mut cursor = word_at.clone();
        for_each_lyndon_word(dim, degree, |w, _| {
            if w.len() >= first {
                let slot = &mut cursor[w.len() - first];
                let at = letter_at[w.len() - first] + (*slot - word_at[w.len() - first]) * w.len();
                letters[at..at + w.len()].copy_from_slice(w);
                *slot += 1;
            }
            Ok(())
        })?;
    }
    Ok(LyndonWords { letters, ptr })
}

/// The flat tensor index (level 0 at index 0) of every Lyndon word of
/// length `1..=degree` over `dim` letters, in [`lyndon_words`] order: the
/// entries a method-1 log-signature reads. Computed without any bracket.
/// Increasing, since flat indices run level by level, lexicographically.
fn word_indices_of(shape: &TensorShape) -> Result<Vec<usize>> {
    let (dim, degree) = (shape.dim, shape.degree);
    let n = checked_lyndon_count(dim, degree)?;
    let mut out = try_vec(&format!("the positions of the Lyndon words of dimension {dim} and degree {degree}"), n, 0usize)?;
    if n == 0 {
        return Ok(out);
    }
    if dim == 1 {
        out[0] = shape.level(1).start;
        return Ok(out);
    }
    // Where each level's words go in `out` (index k for level k).
    let mut cursor: Vec<usize> = Vec::with_capacity(degree + 1);
    let mut at = 0;
    for k in 0..=degree {
        cursor.push(at);
        at += lyndon_count(dim, k).expect("the total fits, so each level does");
    }
    for_each_lyndon_word(dim, degree, |w, local| {
        let k = w.len();
        out[cursor[k]] = shape.level(k).start + local;
        cursor[k] += 1;
        Ok(())
    })?;
    Ok(out)
}

/// The positions of the Lyndon words of `(dim, degree)` in a flat tensor
/// (level 0 at index 0), in [`lyndon_words`] order: all that a method-1
/// log-signature needs. Built on first use without any bracket and shared
/// by the process: a bounded cache (least recently used tables evicted
/// first), safe to use from many threads and after `fork`.
pub fn lyndon_word_indices(dim: usize, degree: usize) -> Result<Arc<Vec<usize>>> {
    WORD_INDICES_CACHE.get(dim, degree, |shape| word_indices_of(&shape))
}

static WORD_INDICES_CACHE: BasisCache<Vec<usize>> = BasisCache::new();
static LYNDON_BASIS_CACHE: BasisCache<LyndonBasis> = BasisCache::new();

/// Drops every cached table (Lyndon positions, Lyndon and Hall bases) of
/// this process, freeing their memory; the next call that needs one builds
/// it again. Tables still in use by a running call live until it ends.
pub fn clear_basis_caches() {
    WORD_INDICES_CACHE.clear();
    LYNDON_BASIS_CACHE.clear();
    crate::hall::clear_hall_basis_cache();
}

/// An integer coefficient of a bracket expansion, in the float type.
#[inline(always)]
fn coef<T: Float>(c: f64) -> T {
    T::from_f64(c).unwrap_or_else(T::nan)
}

/// The expansions of a list of Lie basis elements (Lyndon or Hall) as
/// sparse tensors: element `e` is `sum coef[p] * word idx[p]` over
/// `p in ptr[e]..ptr[e + 1]`, flat tensor indices in increasing order.
/// Shared by [`LyndonBasis`] and [`crate::hall::HallBasis`]. Its storage
/// grows only through [`reserve`](Self::reserve) (fallible): pushing past
/// the reserved room is a bug.
#[derive(Debug, Clone, Default)]
pub(crate) struct SparseExpansions {
    ptr: Vec<usize>,
    idx: Vec<usize>,
    coef: Vec<f64>,
}

impl SparseExpansions {
    /// Room for `elements` elements, no terms yet.
    pub(crate) fn new(what: &str, elements: usize) -> Result<Self> {
        let mut ptr = Vec::new();
        try_reserve(&mut ptr, what, elements.saturating_add(1))?;
        ptr.push(0);
        Ok(SparseExpansions { ptr, idx: Vec::new(), coef: Vec::new() })
    }

    /// Room for `additional` more terms; `OutOfMemory` naming `what` (with
    /// everything reserved so far counted) when it cannot be had.
    pub(crate) fn reserve(&mut self, what: &str, additional: usize) -> Result<()> {
        try_reserve(&mut self.idx, what, additional)?;
        try_reserve(&mut self.coef, what, additional)
    }

    /// The number of terms so far.
    pub(crate) fn n_terms(&self) -> usize {
        self.idx.len()
    }

    /// Adds a term to the element being built (room reserved first).
    pub(crate) fn push_term(&mut self, flat_index: usize, c: f64) {
        debug_assert!(self.idx.len() < self.idx.capacity() && self.coef.len() < self.coef.capacity(), "push_term past the reserved room");
        self.idx.push(flat_index);
        self.coef.push(c);
    }

    /// Closes the element being built.
    pub(crate) fn end_element(&mut self) {
        debug_assert!(self.ptr.len() < self.ptr.capacity(), "end_element past the reserved room");
        self.ptr.push(self.idx.len());
    }

    /// The terms `(flat index, coefficient)` of element `e`.
    pub(crate) fn terms(&self, e: usize) -> impl Iterator<Item = (usize, f64)> + Clone + '_ {
        (self.ptr[e]..self.ptr[e + 1]).map(move |p| (self.idx[p], self.coef[p]))
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        8 * (self.ptr.capacity() + self.idx.capacity() + self.coef.capacity())
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

    /// The terms of element `e` as slices: flat indices and coefficients
    /// (for loops that apply one term to several tensors at once).
    pub(crate) fn element(&self, e: usize) -> (&[usize], &[f64]) {
        let range = self.ptr[e]..self.ptr[e + 1];
        (&self.idx[range.clone()], &self.coef[range])
    }

    /// The transpose of [`expand`](Self::expand): `g_coords[e] = <P_e, g_expanded>`.
    pub(crate) fn expand_backward<T: Float>(&self, g_expanded: &[T], g_coords: &mut [T]) {
        for (e, g) in g_coords.iter_mut().enumerate() {
            *g = self.terms(e).fold(T::zero(), |acc, (i, k)| acc + coef::<T>(k) * g_expanded[i]);
        }
    }
}

/// `[P_u, P_v] = P_u P_v - P_v P_u` for `P_u`, `P_v` given by their terms
/// (level-local word indices of lengths `|u|`, `|v|`: `pow_u = dim^|u|`,
/// `pow_v = dim^|v|`), appended to `out` merged, sorted and without zeros;
/// `scratch` is reused between calls. Shared by the Lyndon and Hall bases.
pub(crate) fn bracket_terms(
    pu: impl Iterator<Item = (usize, f64)> + Clone,
    pv: impl Iterator<Item = (usize, f64)> + Clone,
    pow_u: usize,
    pow_v: usize,
    scratch: &mut Vec<(usize, f64)>,
    what: &str,
    mut out: impl FnMut(usize, f64),
) -> Result<()> {
    scratch.clear();
    let (nu, nv) = (pu.clone().count(), pv.clone().count());
    let raw = nu.checked_mul(nv).and_then(|n| n.checked_mul(2)).ok_or_else(|| SigError::Overflow(what.to_string()))?;
    try_reserve(scratch, what, raw)?;
    for (a, ca) in pu {
        for (b, cb) in pv.clone() {
            scratch.push((a * pow_v + b, ca * cb));
            scratch.push((b * pow_u + a, -ca * cb));
        }
    }
    scratch.sort_unstable_by_key(|t| t.0);
    let mut pending: Option<(usize, f64)> = None;
    for &(i, c) in scratch.iter() {
        match &mut pending {
            Some(p) if p.0 == i => p.1 += c,
            _ => {
                if let Some((j, d)) = pending.take().filter(|p| p.1 != 0.0) {
                    out(j, d);
                }
                pending = Some((i, c));
            }
        }
    }
    if let Some((j, d)) = pending.filter(|p| p.1 != 0.0) {
        out(j, d);
    }
    Ok(())
}

/// Everything needed to move a Lie element between its expanded form (a
/// full truncated tensor of `TensorShape::new(dim, degree)`, level 0 first)
/// and its coordinates in the Lyndon basis `{P_w}` of one `(dim, degree)`.
/// Build once (or take it from [`lyndon_basis`]); the per-element methods
/// allocate nothing.
#[derive(Debug)]
pub struct LyndonBasis {
    shape: TensorShape,
    /// Flat tensor index of each Lyndon word (increasing); the words
    /// themselves follow from these ([`crate::words::idx_to_word`]).
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
    /// `degree`. Fails if a tensor of that shape overflows `usize`
    /// (`Overflow`) or the tables do not fit in memory (`OutOfMemory`).
    /// Degree 0 (or dimension 0) gives an empty basis.
    pub fn new(dim: usize, degree: usize) -> Result<Self> {
        Self::build(checked_shape(dim, degree)?, usize::MAX)
    }

    /// Builds the basis, refusing (`OutOfMemory`) when its tables would
    /// take more than `limit` bytes: the words' part is counted before
    /// anything is allocated, the expansions as they grow.
    fn build(shape: TensorShape, limit: usize) -> Result<Self> {
        let (dim, degree) = (shape.dim, shape.degree);
        let what = format!("the Lyndon basis of dimension {dim} and degree {degree}");
        let n = checked_lyndon_count(dim, degree)?;
        // Per word: its index, factors, a row pointer, an expansion pointer
        // and at least one term (its own word).
        let per_word = 3 * 8 + std::mem::size_of::<Option<(usize, usize)>>() + 16;
        let fixed = n.checked_mul(per_word).ok_or_else(|| SigError::Overflow(what.clone()))?;
        if fixed > limit {
            return Err(SigError::OutOfMemory { what, bytes: fixed });
        }
        let word_indices = word_indices_of(&shape)?;
        let pow: Vec<usize> = (0..=degree.min(64)).map(|k| shape.level_len(k)).collect();
        let offset = |k: usize| shape.level(k).start;
        let level_of = |flat: usize| (1..=degree).find(|&k| shape.level(k).contains(&flat)).expect("a word of the tensor");
        let id_of = |flat: usize| word_indices.binary_search(&flat).ok();

        let mut expansions = SparseExpansions::new(&what, n)?;
        expansions.reserve(&what, n)?;
        let mut factors: Vec<Option<(usize, usize)>> = Vec::new();
        try_reserve(&mut factors, &what, n)?;
        let mut scratch: Vec<(usize, f64)> = Vec::new();
        let mut merged: Vec<(usize, f64)> = Vec::new();
        // Built in word order: the factors of a standard factorisation are
        // shorter, so earlier.
        // a big basis takes seconds: stop when the caller asks
        let mut checkpoint = crate::interrupt::Checkpoint::new(1 << 10);
        for &flat in word_indices.iter() {
            if checkpoint.tick() {
                return Err(SigError::Interrupted);
            }
            let k = level_of(flat);
            if k == 1 {
                expansions.push_term(flat, 1.0);
                expansions.end_element();
                factors.push(None);
                continue;
            }
            let local = flat - offset(k);
            // The longest proper Lyndon suffix v = w[s..]; then u = w[..s]
            // is Lyndon too (the standard factorisation).
            let (s, v_id) = (1..k)
                .find_map(|s| id_of(offset(k - s) + local % pow[k - s]).map(|v| (s, v)))
                .expect("a Lyndon word of length >= 2 has a proper Lyndon suffix (its last letter)");
            let u_id = id_of(offset(s) + local / pow[k - s]).expect("the prefix of a standard factorisation is Lyndon");
            factors.push(Some((u_id, v_id)));
            let (base_u, base_v) = (offset(s), offset(k - s));
            let pu = expansions.terms(u_id).map(|(f, c)| (f - base_u, c));
            let pv = expansions.terms(v_id).map(|(f, c)| (f - base_v, c));
            merged.clear();
            bracket_terms(pu, pv, pow[s], pow[k - s], &mut scratch, &what, |j, c| merged.push((j, c)))?;
            let bytes = fixed.saturating_add(expansions.n_terms().saturating_add(merged.len()).saturating_mul(16));
            if bytes > limit {
                return Err(SigError::OutOfMemory { what, bytes });
            }
            expansions.reserve(&what, merged.len())?;
            for &(j, c) in &merged {
                expansions.push_term(offset(k) + j, c);
            }
            expansions.end_element();
        }
        drop((scratch, merged));

        // A's strictly lower part by rows: count the entries of each row,
        // then place them (columns arrive in increasing order, w being the
        // outer loop).
        let mut tri_ptr = try_vec(&what, n + 1, 0usize)?;
        for j in 0..n {
            for (flat, c) in expansions.terms(j) {
                if let Some(i) = id_of(flat) {
                    // Unitriangularity (tested): P_w[w] = 1, and the other
                    // Lyndon words in P_w come after w.
                    assert!(i > j || (i == j && c == 1.0), "the Lyndon basis is not unitriangular");
                    if i != j {
                        tri_ptr[i + 1] += 1;
                    }
                }
            }
        }
        for i in 0..n {
            tri_ptr[i + 1] += tri_ptr[i];
        }
        let mut tri_col = try_vec(&what, tri_ptr[n], 0usize)?;
        let mut tri_coef = try_vec(&what, tri_ptr[n], 0.0f64)?;
        let mut fill = try_vec(&what, n, 0usize)?;
        fill.copy_from_slice(&tri_ptr[..n]);
        for j in 0..n {
            for (flat, c) in expansions.terms(j) {
                if let Some(i) = id_of(flat).filter(|&i| i != j) {
                    tri_col[fill[i]] = j;
                    tri_coef[fill[i]] = c;
                    fill[i] += 1;
                }
            }
        }
        Ok(LyndonBasis { shape, word_indices, tri_ptr, tri_col, tri_coef, expansions, factors })
    }

    /// The shape of the expanded tensors this basis reads and writes.
    pub fn shape(&self) -> &TensorShape {
        &self.shape
    }

    /// The Lyndon words, in [`lyndon_words`] order (made from their
    /// positions: this allocates).
    pub fn words(&self) -> Vec<Vec<usize>> {
        (0..self.len()).map(|i| self.word(i)).collect()
    }

    /// Lyndon word `i` (made from its position: this allocates).
    pub fn word(&self, i: usize) -> Vec<usize> {
        crate::words::idx_to_word(self.word_indices[i], self.shape.dim, true).expect("a position in the tensor is a word")
    }

    /// The number of Lyndon words: the length of a log-signature.
    pub fn len(&self) -> usize {
        self.word_indices.len()
    }

    /// True when there are no Lyndon words (degree 0 or dimension 0).
    pub fn is_empty(&self) -> bool {
        self.word_indices.is_empty()
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

    /// Row `i` of the triangle: the Lyndon ids `j < i` (the same length)
    /// whose expansions `P_j` have a coefficient at word `i`, and those
    /// coefficients.
    pub(crate) fn triangle_row(&self, i: usize) -> (&[usize], &[f64]) {
        let range = self.tri_ptr[i]..self.tri_ptr[i + 1];
        (&self.tri_col[range.clone()], &self.tri_coef[range])
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

    /// The sparse expansions of the basis elements over the words.
    pub(crate) fn expansions(&self) -> &SparseExpansions {
        &self.expansions
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

/// A table the [`BasisCache`] can hold: it says how much memory it takes.
pub(crate) trait CachedTable {
    /// Heap bytes held (what evicting it would give back).
    fn heap_bytes(&self) -> usize;
}

impl CachedTable for Vec<usize> {
    fn heap_bytes(&self) -> usize {
        8 * self.capacity()
    }
}

impl CachedTable for LyndonBasis {
    fn heap_bytes(&self) -> usize {
        8 * (self.word_indices.capacity() + self.tri_ptr.capacity() + self.tri_col.capacity() + self.tri_coef.capacity())
            + std::mem::size_of::<Option<(usize, usize)>>() * self.factors.capacity()
            + self.expansions.heap_bytes()
    }
}

/// At most this many tables per cache: a process that walks through many
/// shapes keeps only the ones it used last.
const CACHE_ENTRIES: usize = 8;
/// And at most this many bytes of them, the newest table always kept: older
/// ones are evicted, least recently used first, until the rest fit.
const CACHE_BYTES: usize = 1 << 30;

/// One process-wide cache of tables per `(dim, degree)`, each built on
/// first use, shared by the Lyndon and Hall bases and the Lyndon positions.
///
/// Fork-safe and never blocking on a build: no lock is held while a table
/// is built (two threads asking for a missing table at once may both build
/// it; the first to finish is kept and both get it), and the lock, held
/// only to look up or insert, belongs to a generation made by the current
/// process. A child forked while another thread held that lock or was mid-
/// build sees a generation made before the fork ([`crate::fork`]) and starts
/// a fresh, empty one (the inherited one is leaked: its lock may never be released), so
/// it never waits on a thread that does not exist in it.
///
/// Bounded: [`CACHE_ENTRIES`] tables and [`CACHE_BYTES`] bytes at most
/// (the newest table is always kept, however large); the least recently
/// used go first. Callers hold `Arc`s, so an evicted table lives on while
/// in use.
pub(crate) struct BasisCache<B> {
    /// The current process's generation (null before first use). Never
    /// freed: references to it live as long as the process.
    current: AtomicPtr<Generation<B>>,
}

/// The cache's content, as made in fork generation `fork`.
struct Generation<B> {
    fork: u64,
    state: Mutex<CacheState<B>>,
}

struct CacheState<B> {
    entries: Vec<CacheEntry<B>>,
    clock: u64,
}

impl<B> CacheState<B> {
    /// The table of `key`, marked as just used, if cached. Ticks the clock.
    fn touch(&mut self, key: (usize, usize)) -> Option<Arc<B>> {
        self.clock += 1;
        let now = self.clock;
        let entry = self.entries.iter_mut().find(|e| e.0 == key)?;
        entry.3 = now;
        Some(entry.1.clone())
    }
}

/// `((dim, degree), table, its heap bytes, the clock at its last use)`.
type CacheEntry<B> = ((usize, usize), Arc<B>, usize, u64);

impl<B: CachedTable> BasisCache<B> {
    pub(crate) const fn new() -> Self {
        BasisCache { current: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// This process's generation, made on first use in it.
    fn generation(&self) -> &Generation<B> {
        let fork = crate::fork::generation();
        let seen = self.current.load(Ordering::Acquire);
        // SAFETY: a non-null pointer here came from Box::into_raw below and
        // is never freed.
        if let Some(g) = unsafe { seen.as_ref() } {
            if g.fork == fork {
                return g;
            }
        }
        let fresh = Box::into_raw(Box::new(Generation { fork, state: Mutex::new(CacheState { entries: Vec::new(), clock: 0 }) }));
        match self.current.compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: just made, now owned by the cache forever.
            Ok(_) => unsafe { &*fresh },
            Err(now) => {
                // Another thread of this process made one first: use it.
                // SAFETY: `fresh` was never shared; `now` is a live generation.
                drop(unsafe { Box::from_raw(fresh) });
                unsafe { &*now }
            }
        }
    }

    fn lock(g: &Generation<B>) -> std::sync::MutexGuard<'_, CacheState<B>> {
        // Builds run outside the lock, so a poisoned lock holds a consistent map.
        g.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The table of `(dim, degree)`, built by `build` (outside any lock)
    /// when missing. Arguments whose tensors overflow are refused before
    /// anything is built or cached.
    pub(crate) fn get(&self, dim: usize, degree: usize, build: impl FnOnce(TensorShape) -> Result<B>) -> Result<Arc<B>> {
        let key = (dim, degree);
        let g = self.generation();
        if let Some(found) = Self::lock(g).touch(key) {
            return Ok(found);
        }
        let table = Arc::new(build(checked_shape(dim, degree)?)?);
        let bytes = table.heap_bytes();
        let mut state = Self::lock(g);
        if let Some(found) = state.touch(key) {
            // Built meanwhile by another thread: share that one.
            return Ok(found);
        }
        let now = state.clock;
        // Room for the new entry is reserved first, so a full memory
        // cannot make the insertion abort.
        if try_reserve(&mut state.entries, "a cache entry", 1).is_ok() {
            state.entries.push((key, table.clone(), bytes, now));
        }
        while state.entries.len() > CACHE_ENTRIES || (state.entries.len() > 1 && state.entries.iter().map(|e| e.2).sum::<usize>() > CACHE_BYTES) {
            let oldest = (0..state.entries.len()).filter(|&i| state.entries[i].0 != key).min_by_key(|&i| state.entries[i].3);
            match oldest {
                Some(i) => drop(state.entries.swap_remove(i)),
                None => break,
            }
        }
        Ok(table)
    }

    /// Empties the current generation (callers' `Arc`s keep their tables).
    pub(crate) fn clear(&self) {
        Self::lock(self.generation()).entries.clear();
    }

    /// The keys held now (for tests).
    #[cfg(test)]
    fn keys(&self) -> Vec<(usize, usize)> {
        Self::lock(self.generation()).entries.iter().map(|e| e.0).collect()
    }
}

/// The [`LyndonBasis`] of `(dim, degree)`, built on first use and shared
/// by the whole process afterwards; safe to call from many threads and
/// after `fork` (the cache of [`lyndon_word_indices`]).
pub fn lyndon_basis(dim: usize, degree: usize) -> Result<Arc<LyndonBasis>> {
    LYNDON_BASIS_CACHE.get(dim, degree, |shape| LyndonBasis::build(shape, usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{close, dot, random};
    use crate::tensor::{tensor_exp, tensor_mul};
    use crate::words::word_to_idx;
    use std::collections::HashMap;

    /// The Lyndon words of length `1..=n`, as vectors.
    fn words_of(d: usize, n: usize) -> Vec<Vec<usize>> {
        lyndon_words(d, n, 1).unwrap().iter().map(<[usize]>::to_vec).collect()
    }




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
            assert_eq!(words_of(d, n), expected, "d={d} n={n}");
        }
        assert!(words_of(0, 3).is_empty());
        assert!(words_of(3, 0).is_empty());
        assert_eq!(words_of(1, 1_000_000), vec![vec![0]]);
    }

    #[test]
    fn lyndon_word_counts_match_witts_formula() {
        for (d, n) in SHAPES.into_iter().chain([(2, 12), (3, 8), (8, 4), (4, 6), (10, 5)]) {
            assert_eq!(Some(words_of(d, n).len()), log_sig_length(d, n), "d={d} n={n}");
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
        assert_eq!(a.words(), &words_of(3, 5)[..]);
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

    #[test]
    fn witts_formula_counts_each_length_and_refuses_what_does_not_fit() {
        for (d, n) in [(2, 12), (3, 7), (5, 4), (1, 3), (4, 1)] {
            for k in 1..=n {
                let listed = lyndon_words(d, k, k).unwrap();
                assert!(listed.iter().all(|w| w.len() == k && is_lyndon(w)));
                assert_eq!(Some(listed.len()), lyndon_count(d, k), "d={d} k={k}");
            }
        }
        // pysiglib's and iisignature's value; no table is built for it.
        assert_eq!(log_sig_length(10, 12), Some(93_549_375_919));
        assert_eq!(lyndon_count(2, 64), Some((1 << 58) - (1 << 26)));
        assert_eq!(lyndon_count(2, 130), None);
        assert!(matches!(checked_lyndon_count(3, 100), Err(SigError::Overflow(_))));
        assert!(matches!(LyndonBasis::new(2, 200), Err(SigError::Overflow(_))));
        assert!(matches!(LyndonBasis::new(2, 1 << 40), Err(SigError::Overflow(_))));
        assert!(matches!(lyndon_words(2, 200, 1), Err(SigError::Overflow(_))));
        assert!(matches!(lyndon_word_indices(7, 40), Err(SigError::Overflow(_))));
        // 9e10 words of up to 12 letters: refused before any word is made.
        let e = lyndon_words(10, 12, 1).unwrap_err();
        assert!(matches!(e, SigError::OutOfMemory { .. }), "{e:?}");
        assert!(e.to_string().contains("Lyndon words of dimension 10"), "{e}");
    }

    #[test]
    fn word_positions_need_no_brackets_and_match_the_basis() {
        for (d, n) in SHAPES.into_iter().chain([(2, 10), (4, 6)]) {
            let basis = LyndonBasis::new(d, n).unwrap();
            let positions = lyndon_word_indices(d, n).unwrap();
            assert_eq!(&positions[..], basis.word_indices(), "d={d} n={n}");
            let expected: Vec<usize> = words_of(d, n).iter().map(|w| word_to_idx(w, d, true).unwrap()).collect();
            assert_eq!(&positions[..], &expected[..]);
        }
        assert_eq!(&lyndon_word_indices(1, 1 << 20).unwrap()[..], &[1]);
    }

    #[test]
    fn a_basis_over_its_memory_limit_is_out_of_memory_not_an_abort() {
        let shape = TensorShape::new(3, 6).unwrap();
        let full = LyndonBasis::build(shape.clone(), usize::MAX).unwrap();
        let bytes = full.heap_bytes();
        // Refused before anything is built: the words' part alone is over.
        let e = LyndonBasis::build(shape.clone(), 100).unwrap_err();
        assert!(matches!(&e, SigError::OutOfMemory { what, .. } if what.contains("Lyndon basis of dimension 3 and degree 6")), "{e:?}");
        // Refused half-way, while the expansions grow.
        let e = LyndonBasis::build(shape.clone(), bytes / 3).unwrap_err();
        assert!(matches!(&e, SigError::OutOfMemory { bytes: b, .. } if *b > bytes / 3), "{e:?}");
        // Under its limit it builds the same basis.
        let again = LyndonBasis::build(shape, 2 * bytes).unwrap();
        assert_eq!(again.word_indices(), full.word_indices());
        assert_eq!(again.triangle().collect::<Vec<_>>(), full.triangle().collect::<Vec<_>>());
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        static CACHE: BasisCache<Vec<usize>> = BasisCache::new();
        let get = |n: usize| CACHE.get(2, n, |shape| word_indices_of(&shape)).unwrap();
        let first = get(1);
        for n in 2..=CACHE_ENTRIES {
            get(n);
        }
        assert_eq!(CACHE.keys().len(), CACHE_ENTRIES);
        // Using table 1 again makes table 2 the least recently used.
        assert!(Arc::ptr_eq(&first, &get(1)));
        get(CACHE_ENTRIES + 1);
        let keys = CACHE.keys();
        assert_eq!(keys.len(), CACHE_ENTRIES);
        assert!(keys.contains(&(2, 1)) && keys.contains(&(2, CACHE_ENTRIES + 1)) && !keys.contains(&(2, 2)), "{keys:?}");
        // An evicted table stays valid for whoever holds it, and is rebuilt equal.
        assert_eq!(get(2).len(), log_sig_length(2, 2).unwrap());
        // Bad arguments are refused and not cached.
        assert!(CACHE.get(3, 100, |shape| word_indices_of(&shape)).is_err());
        assert!(!CACHE.keys().contains(&(3, 100)));
    }

    #[test]
    fn clearing_empties_the_cache_and_keeps_tables_in_use() {
        static CACHE: BasisCache<Vec<usize>> = BasisCache::new();
        let held = CACHE.get(2, 3, |shape| word_indices_of(&shape)).unwrap();
        CACHE.clear();
        assert!(CACHE.keys().is_empty());
        let rebuilt = CACHE.get(2, 3, |shape| word_indices_of(&shape)).unwrap();
        assert!(!Arc::ptr_eq(&held, &rebuilt));
        assert_eq!(*held, *rebuilt);
    }

    #[test]
    fn concurrent_builds_of_one_table_all_get_the_one_kept() {
        static CACHE: BasisCache<Vec<usize>> = BasisCache::new();
        let got: Vec<Arc<Vec<usize>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        CACHE
                            .get(3, 6, |shape| {
                                // Slow builds overlap: several threads build, one is kept.
                                std::thread::sleep(std::time::Duration::from_millis(20));
                                word_indices_of(&shape)
                            })
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let kept = CACHE.get(3, 6, |_| panic!("cached")).unwrap();
        // The first build inserted is the one every thread gets, whoever built.
        for g in &got {
            assert!(Arc::ptr_eq(g, &kept));
        }
        assert_eq!(kept.len(), log_sig_length(3, 6).unwrap());
    }
}
