//! Instruction-set selection at run time and path-dimension specialisation
//! at compile time.
//!
//! The hot loops are short inner loops over the path dimension `d`. When `d`
//! is a compile-time constant LLVM unrolls them into a few vector
//! instructions, so every kernel is generic over `const D: usize` (0 meaning
//! "read `d` at run time") and `const FMA: bool`. [`specialised!`] writes the
//! dispatcher that picks the instance once per call: wheels are built for
//! baseline x86-64, so AVX2+FMA code is only entered after a CPU check.

use crate::Float;

/// `a * b + c`, fused where the instance was compiled with FMA.
#[inline(always)]
pub(crate) fn fmadd<T: Float, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Whether this CPU can run the AVX2+FMA instances (cached by std).
#[inline]
pub(crate) fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `fn $name<T: Float>(d: usize, args...)` that forwards to
/// `$body::<T, D, FMA>(d, args...)` with `D` fixed for the common dimensions
/// and `FMA` chosen by CPU detection.
macro_rules! specialised {
    ($(#[$meta:meta])* $vis:vis fn $name:ident<T>($d:ident: usize $(, $arg:ident: $ty:ty)* $(,)?) = $body:ident;) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name<T: $crate::Float>($d: usize $(, $arg: $ty)*) {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn with_fma<T: $crate::Float, const D: usize>($d: usize $(, $arg: $ty)*) {
                $body::<T, D, true>($d $(, $arg)*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::simd::has_fma() {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                unsafe {
                    match $d {
                        2 => with_fma::<T, 2>($d $(, $arg)*),
                        3 => with_fma::<T, 3>($d $(, $arg)*),
                        4 => with_fma::<T, 4>($d $(, $arg)*),
                        5 => with_fma::<T, 5>($d $(, $arg)*),
                        6 => with_fma::<T, 6>($d $(, $arg)*),
                        7 => with_fma::<T, 7>($d $(, $arg)*),
                        8 => with_fma::<T, 8>($d $(, $arg)*),
                        10 => with_fma::<T, 10>($d $(, $arg)*),
                        12 => with_fma::<T, 12>($d $(, $arg)*),
                        16 => with_fma::<T, 16>($d $(, $arg)*),
                        20 => with_fma::<T, 20>($d $(, $arg)*),
                        _ => with_fma::<T, 0>($d $(, $arg)*),
                    }
                }
                return;
            }
            match $d {
                2 => $body::<T, 2, false>($d $(, $arg)*),
                4 => $body::<T, 4, false>($d $(, $arg)*),
                _ => $body::<T, 0, false>($d $(, $arg)*),
            }
        }
    };
}
pub(crate) use specialised;

/// Defines `fn $name<T: Float>(args...)` that forwards to
/// `$body::<T, FMA>(args...)`, with `FMA` chosen by CPU detection: for
/// kernels whose loops do not run over the path dimension.
macro_rules! fma_dispatched {
    ($(#[$meta:meta])* $vis:vis fn $name:ident<T>($($arg:ident: $ty:ty),* $(,)?) = $body:ident;) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name<T: $crate::Float>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn with_fma<T: $crate::Float>($($arg: $ty),*) {
                    $body::<T, true>($($arg),*)
                }
                if $crate::simd::has_fma() {
                    // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                    unsafe { with_fma::<T>($($arg),*) };
                    return;
                }
            }
            $body::<T, false>($($arg),*)
        }
    };
}
pub(crate) use fma_dispatched;

/// Hand-vectorised kernels for the AVX2+FMA instances, where LLVM's
/// auto-vectorisation of generic code leaves speed on the table.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx {
    use std::arch::x86_64::*;

    /// Defines `fn $name<const D: usize>(top, w, dxs)`: for each row `a` of
    /// `top` (rows of `D` numbers), `top[a, :] += sum_{t < 8} w[t * rows + a]
    /// * dxs[t, :]`, keeping the row and the eight increments in registers.
    macro_rules! rank8_update {
        ($name:ident, $t:ty, $vec:ty, $lanes:expr, $load:ident, $store:ident, $splat:ident, $fma:ident, $zero:ident) => {
            /// # Safety
            /// The CPU must support AVX2 and FMA; `D` must be a multiple of
            /// the vector width and at most four vectors wide.
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            pub(crate) unsafe fn $name<const D: usize>(top: &mut [$t], w: &[$t], dxs: &[$t]) {
                assert!(D % $lanes == 0 && D / $lanes <= 4);
                let nv = D / $lanes;
                let rows = top.len() / D;
                assert!(w.len() >= 8 * rows && dxs.len() >= 8 * D && top.len() == rows * D);
                let mut dxv = [[$zero(); 4]; 8];
                for (t, dxt) in dxv.iter_mut().enumerate() {
                    for (v, x) in dxt.iter_mut().enumerate().take(nv) {
                        *x = $load(dxs.as_ptr().add(t * D + v * $lanes));
                    }
                }
                let (tp, wp) = (top.as_mut_ptr(), w.as_ptr());
                for a in 0..rows {
                    let mut acc: [$vec; 4] = [$zero(); 4];
                    for (v, x) in acc.iter_mut().enumerate().take(nv) {
                        *x = $load(tp.add(a * D + v * $lanes));
                    }
                    for (t, dxt) in dxv.iter().enumerate() {
                        let wv = $splat(*wp.add(t * rows + a));
                        for v in 0..nv {
                            acc[v] = $fma(wv, dxt[v], acc[v]);
                        }
                    }
                    for (v, x) in acc.iter().enumerate().take(nv) {
                        $store(tp.add(a * D + v * $lanes), *x);
                    }
                }
            }
        };
    }

    rank8_update!(rank8_update_f64, f64, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_setzero_pd);
    rank8_update!(rank8_update_f32x8, f32, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_setzero_ps);
    rank8_update!(rank8_update_f32x4, f32, __m128, 4, _mm_loadu_ps, _mm_storeu_ps, _mm_set1_ps, _mm_fmadd_ps, _mm_setzero_ps);
}
