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

    /// Defines `fn $name<const D: usize>(top, w, w_stride, dxs)`: for each
    /// row `a` of `top` (rows of `D` numbers), `top[a, :] += sum_{t < 8}
    /// w[t * w_stride + a] dxs[t, :]`. Rows go several at a time (`nv`
    /// vectors per row), so that eight to ten accumulators stay in
    /// registers: with one row at a time each accumulator was a chain of
    /// eight dependent FMAs, which waited on the FMA latency (d = 8,
    /// float64: half of the forward pass; float64 d = 20: 60 % of it).
    macro_rules! rank8_update {
        ($name:ident, $t:ty, $vec:ty, $lanes:expr, $load:ident, $store:ident, $splat:ident, $fma:ident, $zero:ident) => {
            /// # Safety
            /// The CPU must support AVX2 and FMA; `D` must be a multiple of
            /// the vector width and at most five vectors wide.
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            pub(crate) unsafe fn $name<const D: usize>(top: &mut [$t], w: &[$t], w_stride: usize, dxs: &[$t]) {
                assert!(D % $lanes == 0 && D / $lanes <= 5);
                let nv = D / $lanes;
                let rows = top.len() / D;
                assert!(w_stride >= rows && w.len() >= 7 * w_stride + rows && dxs.len() >= 8 * D && top.len() == rows * D);
                let (tp, wp, xp) = (top.as_mut_ptr(), w.as_ptr(), dxs.as_ptr());
                // R rows per pass, R * nv = 8 accumulators.
                macro_rules! rows_at_a_time {
                    ($r:expr, $a0:expr, $a1:expr) => {{
                        const R: usize = $r;
                        let mut a = $a0;
                        while a + R <= $a1 {
                            let mut acc: [[$vec; 5]; R] = [[$zero(); 5]; R];
                            for (i, acc_i) in acc.iter_mut().enumerate() {
                                for (v, x) in acc_i.iter_mut().enumerate().take(nv) {
                                    *x = $load(tp.add((a + i) * D + v * $lanes));
                                }
                            }
                            for t in 0..8 {
                                let mut x: [$vec; 5] = [$zero(); 5];
                                for (v, xv) in x.iter_mut().enumerate().take(nv) {
                                    *xv = $load(xp.add(t * D + v * $lanes));
                                }
                                for (i, acc_i) in acc.iter_mut().enumerate() {
                                    let wv = $splat(*wp.add(t * w_stride + a + i));
                                    for v in 0..nv {
                                        acc_i[v] = $fma(wv, x[v], acc_i[v]);
                                    }
                                }
                            }
                            for (i, acc_i) in acc.iter().enumerate() {
                                for (v, x) in acc_i.iter().enumerate().take(nv) {
                                    $store(tp.add((a + i) * D + v * $lanes), *x);
                                }
                            }
                            a += R;
                        }
                        a
                    }};
                }
                let done = match nv {
                    1 => rows_at_a_time!(8, 0, rows),
                    2 => rows_at_a_time!(4, 0, rows),
                    3 => rows_at_a_time!(3, 0, rows),
                    4 | 5 => rows_at_a_time!(2, 0, rows),
                    _ => 0,
                };
                rows_at_a_time!(1, done, rows);
            }
        };
    }

    rank8_update!(rank8_update_f64, f64, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_setzero_pd);
    rank8_update!(rank8_update_f32x8, f32, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_setzero_ps);
    rank8_update!(rank8_update_f32x4, f32, __m128, 4, _mm_loadu_ps, _mm_storeu_ps, _mm_set1_ps, _mm_fmadd_ps, _mm_setzero_ps);
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::avx;

    /// The rank-8 kernels against the plain sum, for row counts that do
    /// and do not fill whole passes of several rows.
    #[test]
    fn rank8_updates_match_the_plain_sum() {
        if !super::has_fma() {
            return;
        }
        fn check<T: crate::Float, const D: usize>(rows: usize, kernel: unsafe fn(&mut [T], &[T], usize, &[T])) {
            let value = |i: usize| T::from_f64(((i * 37 % 101) as f64 - 50.0) / 25.0).unwrap();
            let top: Vec<T> = (0..rows * D).map(value).collect();
            // rows of w padded, as the signature kernel lays them out
            let stride = rows + 3;
            let w: Vec<T> = (0..8 * stride).map(|i| value(i + 7)).collect();
            let dxs: Vec<T> = (0..8 * D).map(|i| value(i + 13)).collect();
            let mut got = top.clone();
            // SAFETY: the CPU has AVX2 and FMA (checked above); D fits each kernel.
            unsafe { kernel(&mut got, &w, stride, &dxs) };
            for a in 0..rows {
                for b in 0..D {
                    let expected = (0..8).fold(top[a * D + b].to_f64().unwrap(), |acc, t| acc + w[t * stride + a].to_f64().unwrap() * dxs[t * D + b].to_f64().unwrap());
                    let g = got[a * D + b].to_f64().unwrap();
                    assert!((g - expected).abs() <= 1e-5 * (1.0 + expected.abs()), "D {D} rows {rows} ({a}, {b}): {g} vs {expected}");
                }
            }
        }
        for rows in [1, 2, 3, 5, 8, 9, 17] {
            check::<f64, 4>(rows, avx::rank8_update_f64::<4>);
            check::<f64, 8>(rows, avx::rank8_update_f64::<8>);
            check::<f64, 12>(rows, avx::rank8_update_f64::<12>);
            check::<f64, 16>(rows, avx::rank8_update_f64::<16>);
            check::<f64, 20>(rows, avx::rank8_update_f64::<20>);
            check::<f32, 8>(rows, avx::rank8_update_f32x8::<8>);
            check::<f32, 16>(rows, avx::rank8_update_f32x8::<16>);
            check::<f32, 4>(rows, avx::rank8_update_f32x4::<4>);
        }
    }
}
