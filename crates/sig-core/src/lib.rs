//! `sig_core`: truncated path signatures and their gradients, in pure Rust.
//!
//! This crate holds all the mathematics of sigrs; the Python package and the
//! CUDA backend are thin layers over it. Everything is generic over the
//! float type ([`Float`]: `f32` and `f64`) and works on flat, row-major
//! buffers described by a [`PathShape`]:
//!
//! * a batch of paths is a `&[T]` of `batch * length * dim` numbers;
//! * a signature truncated at degree `N` is stored level by level, each level's
//!   words in lexicographic order, optionally preceded by the level-0 term 1
//!   (`scalar_term`), exactly as pysiglib lays it out.
//!
//! ```
//! use sig_core::{sig, sig_length, PathShape, PathTransform};
//!
//! // One path of 3 points in 2 dimensions: (0,0) -> (1,0) -> (1,2).
//! let path = [0.0_f64, 0.0, 1.0, 0.0, 1.0, 2.0];
//! let shape = PathShape::new(1, 3, 2);
//! let degree = 2;
//! let mut out = vec![0.0; sig_length(2, degree, false).unwrap()];
//! sig(&path, shape, degree, PathTransform::NONE, false, 1, &mut out).unwrap();
//! // Level 1 is the total increment; level 2 holds the iterated integrals.
//! assert_eq!(&out[..2], &[1.0, 2.0]);
//! assert_eq!(out[2 + 1], 2.0); // word (0, 1): first along x, then along y
//! assert_eq!(out[2 + 2], 0.0); // word (1, 0)
//! ```
//!
//! Modules: [`tensor`] (the truncated tensor algebra), [`signature`]
//! (forward and backward passes, streams, inverses), [`correction`]
//! (signatures with a per-segment lift of levels 2 and up), [`algebra`] (Chen
//! products, joins and inverses of signatures), [`transform`] (time augmentation and
//! lead-lag, fused into the passes), [`batch`] (batching on the calling
//! thread and rayon helpers, and the `n_jobs` convention), [`words`] (indexing words in a signature),
//! [`logsig`] (log-signatures), [`lyndon`] (Lyndon words and the Lyndon basis)
//! and [`hall`] (the Hall basis), [`kernel`] (signature kernels) and
//! [`static_kernel`] (the kernels on points they lift: RBF, Matern, ...),
//! [`jacobian`] (the Jacobian of a signature with respect to the path's points),
//! [`rotinv`] (rotation invariants of planar paths), and [`interrupt`]
//! (stopping long work when the caller asks).

pub mod algebra;
pub mod alloc;
pub mod batch;
pub mod coef;
pub mod correction;
pub mod kernel;
pub mod kernel_poly;
mod lanes;
pub mod error;
pub mod fork;
pub mod hall;
pub mod interrupt;
pub mod jacobian;
pub mod logsig;
pub mod logsig_algebra;
pub mod lyndon;
mod prefix;
pub mod rotinv;
pub mod scale;
mod simd;
pub mod signature;
pub mod static_kernel;
pub mod tensor;
pub mod transform;
pub mod words;

pub use batch::resolve_n_jobs;

/// The instruction set the hot loops run with on this CPU: `"avx2+fma"`
/// (chosen at run time) or `"baseline"`.
pub fn simd_level() -> &'static str {
    if simd::has_fma() {
        "avx2+fma"
    } else {
        "baseline"
    }
}
pub use error::{Result, SigError};
pub use correction::{sig_corrected, sig_corrected_backprop, Correction, CorrectionLayout};
pub use signature::{sig, sig_backprop, sig_backprop_with, sig_with, PathShape, SigOptions};
pub use tensor::{sig_length, TensorShape};
pub use transform::{transform_path, transform_path_backprop, PathTransform};

// The crate README's example runs with the doc tests, so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;

/// The float types sig_core computes in: `f32` and `f64`. Sealed: buffers
/// are zero-initialised by the allocator ([`alloc::zeros`]), which is sound
/// only for types whose all-zero bit pattern is 0.
pub trait Float:
    sealed::Sealed
    + num_traits::Float
    + num_traits::FromPrimitive
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::fmt::Debug
    + Default
    + Send
    + Sync
    + 'static
{
}

impl Float for f32 {}
impl Float for f64 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// `1 / k` for the small integers the Horner schemes divide by, read from a
/// table instead of dividing inside hot loops.
#[inline(always)]
pub(crate) fn recip<T: Float>(k: usize) -> T {
    const TABLE: [f64; 64] = {
        let mut t = [0.0; 64];
        let mut k = 1;
        while k < 64 {
            t[k] = 1.0 / k as f64;
            k += 1;
        }
        t
    };
    if k < TABLE.len() {
        T::from_f64(TABLE[k]).unwrap_or_else(T::nan)
    } else {
        T::one() / from_usize::<T>(k)
    }
}

/// Converts a small count to the float type; counts here are degrees and
/// lengths, far below the range where this could lose anything that matters.
#[inline(always)]
pub(crate) fn from_usize<T: Float>(n: usize) -> T {
    T::from_usize(n).unwrap_or_else(T::nan)
}

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    /// `n` numbers in [-0.5, 0.5) from a 64-bit LCG, advancing `seed`.
    pub(crate) fn random(n: usize, seed: &mut u64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((*seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect()
    }

    pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Checks `grad` against central differences (step 1e-6) of `loss` in
    /// each entry of `point`: `|fd - grad| < tol (1 + |fd|) + slack`.
    pub(crate) fn assert_gradient(point: &mut [f64], grad: &[f64], tol: f64, slack: f64, loss: impl Fn(&[f64]) -> f64, what: &str) {
        assert_eq!(point.len(), grad.len());
        let h = 1e-6;
        for i in 0..point.len() {
            let v = point[i];
            point[i] = v + h;
            let up = loss(point);
            point[i] = v - h;
            let down = loss(point);
            point[i] = v;
            let fd = (up - down) / (2.0 * h);
            assert!((fd - grad[i]).abs() < tol * (1.0 + fd.abs()) + slack, "{what} entry {i}: {fd} vs {}", grad[i]);
        }
    }

    /// Entrywise `|a - b| < tol (1 + |b|)`.
    pub(crate) fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() < tol * (1.0 + y.abs()), "entry {i}: {x} vs {y}");
        }
    }
}
