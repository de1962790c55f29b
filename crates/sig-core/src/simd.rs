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
                        8 => with_fma::<T, 8>($d $(, $arg)*),
                        16 => with_fma::<T, 16>($d $(, $arg)*),
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
