//! Signature coefficients at chosen words, computed without the signature.
//!
//! For a word `w = (i_1, ..., i_k)` let `c_j = S(x)^{(i_1, ..., i_j)}`, the
//! coefficients at the prefixes of `w` (`c_0 = 1`). Across one linear
//! segment with increment `a`, Chen's identity touches only these numbers:
//!
//! `c_j <- sum_{m <= j} c_m a^{i_{m+1}} ... a^{i_j} / (j - m)!`
//!
//! which the private `advance` evaluates in Horner form, top prefix first so that each
//! update reads the old values: `O(k^2)` operations per step and `k + 1`
//! numbers of state per word, whatever the dimension. The same map with
//! `-a` undoes a step (the segment's inverse), which is how the backward
//! pass walks back from the final coefficients, as [`crate::sig_backprop`]
//! does with whole signatures.
//!
//! Paths are processed four at a time, with the transformed increments
//! of a block of steps transposed to `[step][channel][lane]`, so every
//! operation is one vector instruction over four paths and no letter lookup
//! needs a gather.

use std::ops::Range;

use crate::alloc::{try_reserve, try_vec};
use crate::batch::{resolve_n_jobs, try_for_each_item};
use crate::error::{check_len, Result, SigError};
use crate::signature::PathShape;
use crate::simd::fmadd;
use crate::transform::PathTransform;
use crate::{recip, Float};

/// Paths advanced together by one instruction.
const LANES: usize = 4;
/// Steps whose increments are transposed at once: enough to amortise the
/// transposition, few enough to stay in L1/L2 for every word of the block.
const BLOCK_STEPS: usize = 128;

type Lanes<T> = [T; LANES];

/// A list of words over `0..dim`, stored flat.
///
/// ```
/// use sig_core::coef::WordList;
/// let words = WordList::new(&[vec![0, 1], vec![], vec![2, 2, 2]], 3).unwrap();
/// assert_eq!(words.len(), 3);
/// assert_eq!(words.coef_len(false), 3);
/// assert_eq!(words.coef_len(true), 2 + 1 + 3); // the empty word keeps one entry
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordList {
    letters: Vec<usize>,
    /// Word `w` is `letters[starts[w]..starts[w + 1]]`.
    starts: Vec<usize>,
}

impl WordList {
    /// Checks every letter lies in `0..dim`.
    pub fn new<W: AsRef<[usize]>>(words: &[W], dim: usize) -> Result<Self> {
        let mut letters = Vec::new();
        let mut starts = Vec::with_capacity(words.len() + 1);
        starts.push(0);
        for word in words {
            for &letter in word.as_ref() {
                if letter >= dim {
                    return Err(SigError::invalid("words", format!("letters in [0, {dim}) (the dimension of the transformed path)"), letter));
                }
                letters.push(letter);
            }
            starts.push(letters.len());
        }
        Ok(WordList { letters, starts })
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether there are no words.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Word `w`.
    pub fn word(&self, w: usize) -> &[usize] {
        &self.letters[self.starts[w]..self.starts[w + 1]]
    }

    /// Entries of one path's output: one per word, or with `prefixes` one
    /// per non-empty prefix of each word (one for the empty word).
    pub fn coef_len(&self, prefixes: bool) -> usize {
        if prefixes {
            (0..self.len()).map(|w| self.word(w).len().max(1)).sum()
        } else {
            self.len()
        }
    }

    /// Where each word's entries start in the `prefixes` layout.
    fn prefix_offsets(&self) -> Vec<usize> {
        let mut offsets = Vec::with_capacity(self.len() + 1);
        let mut at = 0;
        offsets.push(0);
        for w in 0..self.len() {
            at += self.word(w).len().max(1);
            offsets.push(at);
        }
        offsets
    }

    fn longest(&self) -> usize {
        (0..self.len()).map(|w| self.word(w).len()).max().unwrap_or(0)
    }

    /// Operations of one step for the words in `range` (an estimate).
    fn step_work(&self, range: Range<usize>) -> usize {
        range.map(|w| self.word(w).len().pow(2) + 1).sum()
    }
}

/// One piece of work: a group of up to [`LANES`] paths and a range of
/// words, with its own result buffer (coefficients, or a path gradient).
struct Task<R> {
    group: usize,
    words: Range<usize>,
    result: Vec<R>,
}

/// Splits the work into groups of paths and, when there are too few groups
/// to keep every thread busy, ranges of words.
fn plan_tasks<R: Copy>(batch: usize, words: &WordList, n_jobs: i64, zero: R, result_len: impl Fn(usize, &Range<usize>) -> usize) -> Result<Vec<Task<R>>> {
    let threads = resolve_n_jobs(n_jobs)?;
    let groups = batch.div_ceil(LANES);
    let n_words = words.len().max(1);
    let chunks = if groups >= 2 * threads { 1 } else { (2 * threads).div_ceil(groups.max(1)).min(n_words) };
    let per_chunk = n_words.div_ceil(chunks);
    let mut tasks = Vec::new();
    try_reserve(&mut tasks, "signature coefficient tasks", groups.saturating_mul(chunks))?;
    for group in 0..groups {
        for start in (0..words.len()).step_by(per_chunk.max(1)) {
            let range = start..(start + per_chunk).min(words.len());
            let len = result_len(group, &range);
            tasks.push(Task { group, words: range, result: try_vec("signature coefficients in progress", len, zero)? });
        }
    }
    Ok(tasks)
}

/// Per-task scratch: one block of transposed increments (and their
/// gradients), Horner partial sums, and `1/n`.
struct Scratch<T> {
    incr: Vec<Lanes<T>>,
    g_incr: Vec<Lanes<T>>,
    dx: Vec<T>,
    partial: Vec<Lanes<T>>,
    inv: Vec<T>,
}

impl<T: Float> Scratch<T> {
    fn new(dim_out: usize, longest: usize) -> Result<Self> {
        let what = "a signature coefficient's workspace";
        let mut inv = try_vec(what, longest + 1, T::zero())?;
        for (n, v) in inv.iter_mut().enumerate().skip(1) {
            *v = recip(n);
        }
        Ok(Scratch {
            incr: try_vec(what, BLOCK_STEPS * dim_out, [T::zero(); LANES])?,
            g_incr: try_vec(what, BLOCK_STEPS * dim_out, [T::zero(); LANES])?,
            dx: try_vec(what, dim_out, T::zero())?,
            partial: try_vec(what, longest + 1, [T::zero(); LANES])?,
            inv,
        })
    }

    /// Transposes the transformed increments `steps` of the paths `lanes`
    /// into `incr`; lanes past the batch stay zero (their state never moves).
    fn load_block(&mut self, paths: &[T], shape: PathShape, transform: PathTransform, lanes: Range<usize>, steps: Range<usize>) {
        let dim_out = self.dx.len();
        let pl = shape.path_len();
        for v in self.incr.iter_mut() {
            *v = [T::zero(); LANES];
        }
        for (lane, b) in lanes.enumerate() {
            let path = &paths[b * pl..(b + 1) * pl];
            for (s, j) in steps.clone().enumerate() {
                transform.increment(path, shape.dim, shape.length, j, &mut self.dx);
                for (cell, &v) in self.incr[s * dim_out..(s + 1) * dim_out].iter_mut().zip(&self.dx) {
                    cell[lane] = v;
                }
            }
        }
    }
}

/// Applies one segment (`sign` = 1) or its inverse (`sign` = -1) to the
/// prefix coefficients `c` of `word`: see the module documentation.
#[inline(always)]
fn advance<T: Float, const FMA: bool>(word: &[usize], c: &mut [Lanes<T>], a: &[Lanes<T>], inv: &[T], sign: T) {
    for j in (1..=word.len()).rev() {
        let mut acc = [T::zero(); LANES];
        for m in 0..j {
            let r = sign * inv[j - m];
            let (x, cm) = (&a[word[m]], &c[m]);
            for l in 0..LANES {
                let b = x[l] * r;
                acc[l] = fmadd::<T, FMA>(acc[l], b, cm[l] * b);
            }
        }
        for l in 0..LANES {
            c[j][l] += acc[l];
        }
    }
}

/// Runs `word` forward over `steps` consecutive rows of `incr`.
#[inline(always)]
fn forward_block<T: Float, const FMA: bool>(word: &[usize], c: &mut [Lanes<T>], incr: &[Lanes<T>], dim_out: usize, steps: usize, inv: &[T]) {
    for a in incr.chunks_exact(dim_out).take(steps) {
        advance::<T, FMA>(word, c, a, inv, T::one());
    }
}

/// Walks `word` back over `steps` rows of `incr` (last row first): undoes
/// each step on `c`, sends the gradient `g` of the coefficients after the
/// step to the increment (added into `g_incr`) and to the coefficients
/// before it (left in `g`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_block<T: Float, const FMA: bool>(
    word: &[usize],
    c: &mut [Lanes<T>],
    g: &mut [Lanes<T>],
    incr: &[Lanes<T>],
    g_incr: &mut [Lanes<T>],
    dim_out: usize,
    steps: usize,
    inv: &[T],
    partial: &mut [Lanes<T>],
) {
    for s in (0..steps).rev() {
        let a = &incr[s * dim_out..(s + 1) * dim_out];
        let ga = &mut g_incr[s * dim_out..(s + 1) * dim_out];
        advance::<T, FMA>(word, c, a, inv, -T::one());
        // c_j(after) = c_j + acc_j with acc_{m+1} = (acc_m + c_m) b_m,
        // b_m = a^{i_{m+1}} / (j - m). Ascending j: g_j is read before any
        // higher prefix adds its share to it.
        for j in 1..=word.len() {
            let mut acc = [T::zero(); LANES];
            for m in 0..j {
                let r = inv[j - m];
                let (x, cm) = (&a[word[m]], &c[m]);
                for l in 0..LANES {
                    partial[m][l] = acc[l] + cm[l];
                    acc[l] = partial[m][l] * x[l] * r;
                }
            }
            let mut grad = g[j];
            for m in (0..j).rev() {
                let r = inv[j - m];
                let letter = word[m];
                for l in 0..LANES {
                    let x = a[letter][l];
                    ga[letter][l] = fmadd::<T, FMA>(grad[l] * r, partial[m][l], ga[letter][l]);
                    grad[l] = grad[l] * x * r;
                    g[m][l] += grad[l];
                }
            }
        }
    }
}

crate::simd::fma_dispatched! {
    fn run_forward_block<T>(word: &[usize], c: &mut [Lanes<T>], incr: &[Lanes<T>], dim_out: usize, steps: usize, inv: &[T]) = forward_block;
}

crate::simd::fma_dispatched! {
    fn run_backward_block<T>(
        word: &[usize],
        c: &mut [Lanes<T>],
        g: &mut [Lanes<T>],
        incr: &[Lanes<T>],
        g_incr: &mut [Lanes<T>],
        dim_out: usize,
        steps: usize,
        inv: &[T],
        partial: &mut [Lanes<T>],
    ) = backward_block;
}

/// Signature coefficients of each path at each word, without forming the
/// signature: cost `O(length * sum_w len(w)^2)` per path.
///
/// `out` holds `batch * words.coef_len(prefixes)` numbers: per path, each
/// word's coefficient, or with `prefixes` the coefficients of all its
/// non-empty prefixes, shortest first. The empty word's coefficient is 1.
/// Letters index the transformed path's channels.
///
/// ```
/// use sig_core::coef::{sig_coef, WordList};
/// use sig_core::{PathShape, PathTransform};
/// // (0,0) -> (1,0) -> (1,2): S^(0,1) = 1 * 2, S^(1,0) = 0.
/// let path = [0.0_f64, 0.0, 1.0, 0.0, 1.0, 2.0];
/// let words = WordList::new(&[vec![0, 1], vec![1, 0]], 2).unwrap();
/// let mut out = [0.0; 2];
/// sig_coef(&path, PathShape::new(1, 3, 2), PathTransform::NONE, &words, false, 1, &mut out).unwrap();
/// assert_eq!(out, [2.0, 0.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn sig_coef<T: Float>(
    paths: &[T],
    shape: PathShape,
    transform: PathTransform,
    words: &WordList,
    prefixes: bool,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    shape.check(paths)?;
    transform.validate()?;
    let coef_len = words.coef_len(prefixes);
    check_len("out", out.len(), shape.batch * coef_len)?;
    let dim_out = transform.out_dim(shape.dim);
    let offsets = words.prefix_offsets();
    let n_steps = transform.n_increments(shape.length);
    let longest = words.longest();
    let state_len = |range: &Range<usize>| range.clone().map(|w| words.word(w).len() + 1).sum::<usize>();
    let mut tasks = plan_tasks(shape.batch, words, n_jobs, [T::zero(); LANES], |_, range| state_len(range))?;
    let work = n_steps.saturating_mul(words.step_work(0..words.len())).saturating_mul(2 * LANES);
    try_for_each_item(n_jobs, &mut tasks, work, || Scratch::<T>::new(dim_out, longest), |scratch, _, task| {
        // `result` holds the prefix coefficients of the task's words.
        let lanes = task.group * LANES..((task.group + 1) * LANES).min(shape.batch);
        let state = &mut task.result;
        let mut at = 0;
        for w in task.words.clone() {
            state[at] = [T::one(); LANES];
            at += words.word(w).len() + 1;
        }
        for block in (0..n_steps).step_by(BLOCK_STEPS) {
            let steps = BLOCK_STEPS.min(n_steps - block);
            scratch.load_block(paths, shape, transform, lanes.clone(), block..block + steps);
            let mut at = 0;
            for w in task.words.clone() {
                let word = words.word(w);
                let c = &mut state[at..at + word.len() + 1];
                run_forward_block(word, c, &scratch.incr, dim_out, steps, &scratch.inv);
                at += word.len() + 1;
            }
        }
        Ok(())
    })?;
    // Scatter each task's states into the rows of its paths.
    for task in &tasks {
        let state = &task.result;
        for (lane, b) in (task.group * LANES..((task.group + 1) * LANES).min(shape.batch)).enumerate() {
            let row = &mut out[b * coef_len..(b + 1) * coef_len];
            let mut at = 0;
            for w in task.words.clone() {
                let k = words.word(w).len();
                let c = &state[at..at + k + 1];
                if prefixes {
                    let dst = &mut row[offsets[w]..offsets[w + 1]];
                    if k == 0 {
                        dst[0] = T::one();
                    } else {
                        for (d, s) in dst.iter_mut().zip(&c[1..]) {
                            *d = s[lane];
                        }
                    }
                } else {
                    row[w] = c[k][lane];
                }
                at += k + 1;
            }
        }
    }
    Ok(())
}

/// Gradient through [`sig_coef`]: `coefs` is its output with `prefixes` for
/// these paths and words, `coef_grads` = dF/d(coefs) in the same layout.
/// Writes dF/d(paths) into `out` (`batch * length * dim`).
///
/// The prefix coefficients are walked back from `coefs` one inverse step at
/// a time, so nothing of length `length` is stored.
#[allow(clippy::too_many_arguments)]
pub fn sig_coef_backprop<T: Float>(
    paths: &[T],
    shape: PathShape,
    transform: PathTransform,
    words: &WordList,
    coefs: &[T],
    coef_grads: &[T],
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    shape.check(paths)?;
    transform.validate()?;
    let coef_len = words.coef_len(true);
    check_len("coefs", coefs.len(), shape.batch * coef_len)?;
    check_len("derivs", coef_grads.len(), shape.batch * coef_len)?;
    let pl = shape.path_len();
    check_len("out", out.len(), shape.batch * pl)?;
    out.fill(T::zero());
    let dim_out = transform.out_dim(shape.dim);
    let offsets = words.prefix_offsets();
    let n_steps = transform.n_increments(shape.length);
    if n_steps == 0 || pl == 0 {
        return Ok(());
    }
    let longest = words.longest();
    let lanes_of = |group: usize| group * LANES..((group + 1) * LANES).min(shape.batch);
    let mut tasks = plan_tasks(shape.batch, words, n_jobs, T::zero(), |group, _| lanes_of(group).len() * pl)?;
    let work = n_steps.saturating_mul(words.step_work(0..words.len())).saturating_mul(8 * LANES);
    try_for_each_item(n_jobs, &mut tasks, work, || Scratch::<T>::new(dim_out, longest), |scratch, _, task| {
        let lanes = lanes_of(task.group);
        // Coefficients and their gradients at the end of the path, per word.
        let state_len: usize = task.words.clone().map(|w| words.word(w).len() + 1).sum();
        let mut c: Vec<Lanes<T>> = try_vec("signature coefficients in progress", state_len, [T::zero(); LANES])?;
        let mut g: Vec<Lanes<T>> = try_vec("signature coefficients in progress", state_len, [T::zero(); LANES])?;
        let mut at = 0;
        for w in task.words.clone() {
            let k = words.word(w).len();
            c[at] = [T::one(); LANES];
            for (lane, b) in lanes.clone().enumerate() {
                let row = b * coef_len + offsets[w];
                for j in 1..=k {
                    c[at + j][lane] = coefs[row + j - 1];
                    g[at + j][lane] = coef_grads[row + j - 1];
                }
            }
            at += k + 1;
        }
        let blocks: Vec<usize> = (0..n_steps).step_by(BLOCK_STEPS).collect();
        for &block in blocks.iter().rev() {
            let steps = BLOCK_STEPS.min(n_steps - block);
            scratch.load_block(paths, shape, transform, lanes.clone(), block..block + steps);
            for v in scratch.g_incr.iter_mut() {
                *v = [T::zero(); LANES];
            }
            let mut at = 0;
            for w in task.words.clone() {
                let word = words.word(w);
                let k = word.len();
                let (cw, gw) = (&mut c[at..at + k + 1], &mut g[at..at + k + 1]);
                run_backward_block(word, cw, gw, &scratch.incr, &mut scratch.g_incr, dim_out, steps, &scratch.inv, &mut scratch.partial);
                at += k + 1;
            }
            for lane in 0..lanes.len() {
                let grad = &mut task.result[lane * pl..(lane + 1) * pl];
                for s in 0..steps {
                    for (d, cell) in scratch.dx.iter_mut().zip(&scratch.g_incr[s * dim_out..(s + 1) * dim_out]) {
                        *d = cell[lane];
                    }
                    transform.increment_backward(grad, shape.dim, block + s, &scratch.dx);
                }
            }
        }
        Ok(())
    })?;
    for task in &tasks {
        for (lane, b) in lanes_of(task.group).enumerate() {
            for (o, &v) in out[b * pl..(b + 1) * pl].iter_mut().zip(&task.result[lane * pl..(lane + 1) * pl]) {
                *o += v;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random;
    use crate::words::word_to_idx;
    use crate::{sig, sig_length};


    /// Every word up to the degree, against the full signature, with each
    /// transform and more paths than one lane group.
    #[test]
    fn coefficients_match_the_signature() {
        let (batch, length, dim, degree) = (6, 9, 2, 4);
        let paths = random(batch * length * dim, &mut 3);
        let shape = PathShape::new(batch, length, dim);
        for (time_aug, lead_lag) in [(false, false), (true, false), (false, true), (true, true)] {
            let transform = PathTransform { time_aug, lead_lag, end_time: 2.0 };
            let d = transform.out_dim(dim);
            let n = sig_length(d, degree, false).unwrap();
            let mut full = vec![0.0; batch * n];
            sig(&paths, shape, degree, transform, false, 1, &mut full).unwrap();
            let all: Vec<Vec<usize>> = (0..n).map(|i| crate::words::idx_to_word(i, d, false).unwrap()).collect();
            let words = WordList::new(&all, d).unwrap();
            for n_jobs in [1, 3] {
                let mut out = vec![0.0; batch * n];
                sig_coef(&paths, shape, transform, &words, false, n_jobs, &mut out).unwrap();
                for (a, b) in out.iter().zip(&full) {
                    assert!((a - b).abs() < 1e-13 * (1.0 + b.abs()), "{a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn prefixes_and_the_empty_word() {
        let paths = random(2 * 5 * 3, &mut 5);
        let shape = PathShape::new(2, 5, 3);
        let words = WordList::new(&[vec![2, 0, 1], vec![], vec![1]], 3).unwrap();
        let mut out = vec![0.0; 2 * 5];
        sig_coef(&paths, shape, PathTransform::NONE, &words, true, 1, &mut out).unwrap();
        let mut full = vec![0.0; 2 * sig_length(3, 3, false).unwrap()];
        sig(&paths, shape, 3, PathTransform::NONE, false, 1, &mut full).unwrap();
        let n = full.len() / 2;
        for b in 0..2 {
            let at = |w: &[usize]| full[b * n + word_to_idx(w, 3, false).unwrap()];
            let expect = [at(&[2]), at(&[2, 0]), at(&[2, 0, 1]), 1.0, at(&[1])];
            for (a, e) in out[b * 5..(b + 1) * 5].iter().zip(expect) {
                assert!((a - e).abs() < 1e-14, "{a} vs {e}");
            }
        }
        assert!(WordList::new(&[vec![3]], 3).is_err());
    }

    /// The gradient against central differences, with lead-lag and time.
    #[test]
    fn backprop_matches_finite_differences() {
        let (batch, length, dim) = (5, 6, 2);
        let mut paths = random(batch * length * dim, &mut 11);
        let shape = PathShape::new(batch, length, dim);
        let transform = PathTransform { time_aug: true, lead_lag: true, end_time: 1.5 };
        let words = WordList::new(&[vec![0, 3, 1], vec![4, 4], vec![], vec![2, 1, 0, 3]], 5).unwrap();
        let n = words.coef_len(true);
        let weights = random(batch * n, &mut 17);
        let loss = |p: &[f64]| {
            let mut out = vec![0.0; batch * n];
            sig_coef(p, shape, transform, &words, true, 1, &mut out).unwrap();
            out.iter().zip(&weights).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut coefs = vec![0.0; batch * n];
        sig_coef(&paths, shape, transform, &words, true, 1, &mut coefs).unwrap();
        let mut grad = vec![0.0; paths.len()];
        sig_coef_backprop(&paths, shape, transform, &words, &coefs, &weights, 2, &mut grad).unwrap();
        let h = 1e-6;
        for i in 0..paths.len() {
            let x = paths[i];
            paths[i] = x + h;
            let up = loss(&paths);
            paths[i] = x - h;
            let down = loss(&paths);
            paths[i] = x;
            let fd = (up - down) / (2.0 * h);
            assert!((fd - grad[i]).abs() < 1e-7 * (1.0 + fd.abs()), "entry {i}: {fd} vs {}", grad[i]);
        }
    }
}
