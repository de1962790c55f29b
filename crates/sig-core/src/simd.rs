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

/// `x` as a slice of `U`, which must be `T` itself: how a generic kernel
/// hands its `f64` or `f32` instance to a hand-vectorised one.
///
/// # Panics
/// If `T` and `U` are different types.
#[inline(always)]
pub(crate) fn same_type<T: 'static, U: 'static>(x: &[T]) -> &[U] {
    assert_eq!(std::any::TypeId::of::<T>(), std::any::TypeId::of::<U>());
    // SAFETY: T and U are the same type (checked above).
    unsafe { &*(x as *const [T] as *const [U]) }
}

/// [`same_type`] for a mutable slice.
#[inline(always)]
pub(crate) fn same_type_mut<T: 'static, U: 'static>(x: &mut [T]) -> &mut [U] {
    assert_eq!(std::any::TypeId::of::<T>(), std::any::TypeId::of::<U>());
    // SAFETY: T and U are the same type (checked above).
    unsafe { &mut *(x as *mut [T] as *mut [U]) }
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

/// Whether `T` is `U`.
#[inline(always)]
fn is<T: 'static, U: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>()
}

/// Whether a group of `width` lanes of `T` goes to the transposing moves of
/// [`avx`] (`lane_transposes!`): AVX2 on this CPU and whole vectors of lanes.
#[inline(always)]
fn transposes_fit<T: 'static>(width: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if width > 0 && ((is::<T, f32>() && width % 8 == 0) || (is::<T, f64>() && width % 4 == 0)) {
        return has_fma();
    }
    false
}

/// The increments of a group of `l_n` untransformed paths in lanes (see
/// `lane_transposes!`), as far as the AVX2 transposes go; returns the
/// entries done, 0 where they do not apply.
pub(crate) fn lane_differences<T: 'static>(paths: &[T], pl: usize, l_n: usize, start: usize, dim: usize, n: usize, dxs: &mut [T]) -> usize {
    if !transposes_fit::<T>(l_n) {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY (both): `transposes_fit` checked AVX2.
    unsafe {
        if is::<T, f32>() {
            return avx::lane_differences_f32(same_type(paths), pl, l_n, start, dim, n, same_type_mut(dxs));
        }
        return avx::lane_differences_f64(same_type(paths), pl, l_n, start, dim, n, same_type_mut(dxs));
    }
    #[allow(unreachable_code)]
    0
}

/// A group's states out of the lanes (see `lane_transposes!`), as far as
/// the AVX2 transposes go; returns the entries done, 0 where they do not apply.
pub(crate) fn lanes_to_rows<T: 'static>(src: &[T], width: usize, first: usize, rows: &mut [T]) -> usize {
    if !transposes_fit::<T>(width) {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY (both): `transposes_fit` checked AVX2.
    unsafe {
        if is::<T, f32>() {
            return avx::lanes_to_rows_f32(same_type(src), width, first, same_type_mut(rows));
        }
        return avx::lanes_to_rows_f64(same_type(src), width, first, same_type_mut(rows));
    }
    #[allow(unreachable_code)]
    0
}

/// Rows into a group's lanes (see `lane_transposes!`), as far as the AVX2
/// transposes go; returns the entries done, 0 where they do not apply.
pub(crate) fn rows_to_lanes<T: 'static>(rows: &[T], row_len: usize, from: usize, width: usize, dst: &mut [T], first: usize) -> usize {
    if !transposes_fit::<T>(width) {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY (both): `transposes_fit` checked AVX2.
    unsafe {
        if is::<T, f32>() {
            return avx::rows_to_lanes_f32(same_type(rows), row_len, from, width, same_type_mut(dst), first);
        }
        return avx::rows_to_lanes_f64(same_type(rows), row_len, from, width, same_type_mut(dst), first);
    }
    #[allow(unreachable_code)]
    0
}

/// Hand-vectorised kernels for the AVX2+FMA instances, where LLVM's
/// auto-vectorisation of generic code leaves speed on the table.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx {
    use std::arch::x86_64::*;

    /// Defines `fn $name<const D: usize, const K: usize>(top, w, w_stride,
    /// dxs, fresh)`: for each row `a` of `top` (rows of `D` numbers),
    /// `top[a, :] += sum_{t < K} w[t * w_stride + a] dxs[t, :]`, the steps
    /// added in order. `K` is a block's steps (8), or fewer in a path's
    /// last block. Rows go several at a time (`nv`
    /// vectors per row), so that eight to ten accumulators stay in
    /// registers: with one row at a time each accumulator was a chain of
    /// eight dependent FMAs, which waited on the FMA latency (d = 8,
    /// float64: half of the forward pass; float64 d = 20: 60 % of it).
    /// With `fresh`, `top` is taken to be zero and its contents are not read.
    macro_rules! rank_update {
        ($name:ident, $t:ty, $vec:ty, $lanes:expr, $load:ident, $store:ident, $splat:ident, $fma:ident, $zero:ident) => {
            /// # Safety
            /// The CPU must support AVX2 and FMA; `D` must be a multiple of
            /// the vector width and at most five vectors wide.
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            pub(crate) unsafe fn $name<const D: usize, const K: usize>(top: &mut [$t], w: &[$t], w_stride: usize, dxs: &[$t], fresh: bool) {
                assert!(D % $lanes == 0 && D / $lanes <= 5 && K >= 1);
                let nv = D / $lanes;
                let rows = top.len() / D;
                assert!(w_stride >= rows && w.len() >= (K - 1) * w_stride + rows && dxs.len() >= K * D && top.len() == rows * D);
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
                                    *x = if fresh { $zero() } else { $load(tp.add((a + i) * D + v * $lanes)) };
                                }
                            }
                            for t in 0..K {
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

    /// Defines `fn $name<const D: usize, const K: usize>(top, w, w_stride,
    /// dxs, fresh) -> usize`: the update of [`rank_update!`] for a row width `D` that is not a
    /// whole number of vectors, which the plain code did with a vector, a
    /// half vector and single numbers per row (d = 7, float32: 60 % of the
    /// forward pass on one path). Each row here is `ceil(D / lanes)` whole
    /// vectors: the last one runs on into the next row, whose first
    /// numbers it carries unchanged (the increments are padded with zeros)
    /// and whose own store, later, overwrites them. The last row of each
    /// pass puts back the next row's numbers exactly as loaded, so that no
    /// value leaks even when the product is not finite. Returns the rows
    /// done, in whole passes: one to R rows are left to the caller, among
    /// them the last, whose vectors would read past `top`.
    macro_rules! rank_update_ragged {
        ($name:ident, $t:ty, $vec:ty, $lanes:expr, $load:ident, $store:ident, $splat:ident, $fma:ident, $zero:ident, $blend:ident) => {
            /// # Safety
            /// The CPU must support AVX2 and FMA; `D` must not be a multiple
            /// of the vector width, and be at least half of it and at most
            /// four vectors wide.
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            pub(crate) unsafe fn $name<const D: usize, const K: usize>(top: &mut [$t], w: &[$t], w_stride: usize, dxs: &[$t], fresh: bool) -> usize {
                const MAX: usize = 4 * $lanes;
                let nv = D.div_ceil($lanes);
                assert!(D % $lanes != 0 && 2 * D >= $lanes && nv <= 4 && K >= 1);
                let rows = top.len() / D;
                assert!(w_stride >= rows && w.len() >= (K - 1) * w_stride + rows && dxs.len() >= K * D && top.len() == rows * D);
                let mut padded = [[0.0 as $t; MAX]; K];
                for (t, p) in padded.iter_mut().enumerate() {
                    p[..D].copy_from_slice(&dxs[t * D..(t + 1) * D]);
                }
                // -0.0 (sign bit set) where the last vector is past the row.
                let tail = D - (nv - 1) * $lanes;
                let mut spill = [0.0 as $t; $lanes];
                for s in &mut spill[tail..] {
                    *s = -0.0;
                }
                let spill = $load(spill.as_ptr());
                let (tp, wp, xp) = (top.as_mut_ptr(), w.as_ptr(), padded.as_ptr() as *const $t);
                macro_rules! rows_at_a_time {
                    ($r:expr) => {{
                        const R: usize = $r;
                        let mut a = 0;
                        // `<`: the pass's last row reads into the row after it.
                        while a + R < rows {
                            let mut acc: [[$vec; 4]; R] = [[$zero(); 4]; R];
                            for (i, acc_i) in acc.iter_mut().enumerate() {
                                for (v, x) in acc_i.iter_mut().enumerate().take(nv) {
                                    *x = if fresh { $zero() } else { $load(tp.add((a + i) * D + v * $lanes)) };
                                }
                            }
                            let next_row = $load(tp.add((a + R - 1) * D + (nv - 1) * $lanes));
                            for t in 0..K {
                                for (i, acc_i) in acc.iter_mut().enumerate() {
                                    let wv = $splat(*wp.add(t * w_stride + a + i));
                                    for v in 0..nv {
                                        acc_i[v] = $fma(wv, $load(xp.add(t * MAX + v * $lanes)), acc_i[v]);
                                    }
                                }
                            }
                            acc[R - 1][nv - 1] = $blend(acc[R - 1][nv - 1], next_row, spill);
                            // In order: each row's store mends the numbers
                            // the row before it carried over.
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
                match nv {
                    1 => rows_at_a_time!(8),
                    2 => rows_at_a_time!(4),
                    3 => rows_at_a_time!(3),
                    _ => rows_at_a_time!(2),
                }
            }
        };
    }

    /// The 8 x 8 transpose of eight float32 vectors: pairs, then quads,
    /// then 128-bit halves.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn transpose_f32(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }

    /// The 4 x 4 transpose of four float64 vectors.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn transpose_f64(r: [__m256d; 4]) -> [__m256d; 4] {
        let t0 = _mm256_unpacklo_pd(r[0], r[1]);
        let t1 = _mm256_unpackhi_pd(r[0], r[1]);
        let t2 = _mm256_unpacklo_pd(r[2], r[3]);
        let t3 = _mm256_unpackhi_pd(r[2], r[3]);
        [
            _mm256_permute2f128_pd::<0x20>(t0, t2),
            _mm256_permute2f128_pd::<0x20>(t1, t3),
            _mm256_permute2f128_pd::<0x31>(t0, t2),
            _mm256_permute2f128_pd::<0x31>(t1, t3),
        ]
    }

    /// Defines the moves between paths one after another and paths in
    /// lanes (entry `i` of lane `l` at `i * width + l`), for groups whose
    /// `width` is a multiple of the vector width `W`: `W` entries of `W`
    /// lanes at a time, as `W` vectors transposed in registers. One number
    /// at a time, each was a store of its own: gathering the increments
    /// took 12 % of the forward pass at float32 d = 8, degree 3, and moving
    /// the states out 10 % at float64 (1000, 50, 3, 4). Each returns the
    /// entries done, in whole transposes; the caller does the rest.
    macro_rules! lane_transposes {
        ($t:ty, $vec:ty, $w:expr, $load:ident, $store:ident, $sub:ident, $zero:ident, $transpose:ident,
         $differences:ident, $to_rows:ident, $to_lanes:ident) => {
            /// `dxs[k * l_n + l] = path_l[start + k + dim] - path_l[start + k]`
            /// for `k < n`: the increments of a group of `l_n` paths of `pl`
            /// numbers each, one after another in `paths`.
            ///
            /// # Safety
            /// The CPU must support AVX2.
            #[target_feature(enable = "avx2")]
            pub(crate) unsafe fn $differences(paths: &[$t], pl: usize, l_n: usize, start: usize, dim: usize, n: usize, dxs: &mut [$t]) -> usize {
                assert!(l_n % $w == 0 && l_n > 0 && paths.len() >= (l_n - 1) * pl + start + n + dim && dxs.len() >= n * l_n);
                let (src, dst) = (paths.as_ptr(), dxs.as_mut_ptr());
                let whole = n / $w * $w;
                for k0 in (0..whole).step_by($w) {
                    for g in (0..l_n).step_by($w) {
                        let mut r = [$zero(); $w];
                        for (l, r_l) in r.iter_mut().enumerate() {
                            let p = src.add((g + l) * pl + start + k0);
                            *r_l = $sub($load(p.add(dim)), $load(p));
                        }
                        for (i, row) in $transpose(r).into_iter().enumerate() {
                            $store(dst.add((k0 + i) * l_n + g), row);
                        }
                    }
                }
                whole
            }

            /// `rows[l * n + i] = src[(first + i) * width + l]`, `n` entries
            /// (`rows.len() / width`) of each lane.
            ///
            /// # Safety
            /// The CPU must support AVX2.
            #[target_feature(enable = "avx2")]
            pub(crate) unsafe fn $to_rows(src: &[$t], width: usize, first: usize, rows: &mut [$t]) -> usize {
                assert!(width % $w == 0 && width > 0);
                let n = rows.len() / width;
                assert!(src.len() >= (first + n) * width);
                let (src, dst) = (src.as_ptr(), rows.as_mut_ptr());
                let whole = n / $w * $w;
                for i0 in (0..whole).step_by($w) {
                    for g in (0..width).step_by($w) {
                        let mut r = [$zero(); $w];
                        for (i, r_i) in r.iter_mut().enumerate() {
                            *r_i = $load(src.add((first + i0 + i) * width + g));
                        }
                        for (l, row) in $transpose(r).into_iter().enumerate() {
                            $store(dst.add((g + l) * n + i0), row);
                        }
                    }
                }
                whole
            }

            /// `dst[(first + i) * width + l] = rows[l * row_len + from + i]`
            /// for the `row_len - from` entries of each lane: the inverse of
            /// the move above.
            ///
            /// # Safety
            /// The CPU must support AVX2.
            #[target_feature(enable = "avx2")]
            pub(crate) unsafe fn $to_lanes(rows: &[$t], row_len: usize, from: usize, width: usize, dst: &mut [$t], first: usize) -> usize {
                assert!(width % $w == 0 && width > 0 && from <= row_len && rows.len() >= width * row_len);
                let n = row_len - from;
                assert!(dst.len() >= (first + n) * width);
                let (src, dst) = (rows.as_ptr(), dst.as_mut_ptr());
                let whole = n / $w * $w;
                for i0 in (0..whole).step_by($w) {
                    for g in (0..width).step_by($w) {
                        let mut r = [$zero(); $w];
                        for (l, r_l) in r.iter_mut().enumerate() {
                            *r_l = $load(src.add((g + l) * row_len + from + i0));
                        }
                        for (i, lanes) in $transpose(r).into_iter().enumerate() {
                            $store(dst.add((first + i0 + i) * width + g), lanes);
                        }
                    }
                }
                whole
            }
        };
    }

    lane_transposes!(f32, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_sub_ps, _mm256_setzero_ps, transpose_f32,
        lane_differences_f32, lanes_to_rows_f32, rows_to_lanes_f32);
    lane_transposes!(f64, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_sub_pd, _mm256_setzero_pd, transpose_f64,
        lane_differences_f64, lanes_to_rows_f64, rows_to_lanes_f64);

    /// The rows of `g_top` (`D` numbers each) for the kernels below, after
    /// checking every length they index.
    fn top_block_rows<T, const D: usize>(g_top: &[T], dxt: &[T], wt: &[T], stride: usize, gwt: &[T], gdxt: &[T]) -> usize {
        let rows = g_top.len() / D;
        assert!(dxt.len() >= 8 * D && gdxt.len() >= 8 * D && stride >= rows);
        assert!(wt.len() >= 7 * stride + rows && gwt.len() >= 7 * stride + rows);
        rows
    }

    /// The first rows, in pairs, of the top level's pass in the blocked
    /// backward pass (`tensor::top_block_backward`), two rows at a time, in
    /// float64 with eight steps in two vectors: `gwt[t, a] = <g_top[a, :],
    /// dx_t>` and `gdxt[b, t] += wt[t, a] g_top[a, b]`, the latter's
    /// vectors loaded and stored once per two rows. Sums are taken in the
    /// same order as row by row. `gdxt`'s first `D` rows of 8 must hold
    /// their sums so far. Returns the rows done (an odd last row is left).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn top_block_backward_pairs_f64<const D: usize>(
        g_top: &[f64],
        dxt: &[f64],
        wt: &[f64],
        stride: usize,
        gwt: &mut [f64],
        gdxt: &mut [f64],
    ) -> usize {
        let rows = top_block_rows::<f64, D>(g_top, dxt, wt, stride, gwt, gdxt) / 2 * 2;
        let (g, x, w, gw, acc) = (g_top.as_ptr(), dxt.as_ptr(), wt.as_ptr(), gwt.as_mut_ptr(), gdxt.as_mut_ptr());
        let gather = |a: usize, t0: usize| {
            let at = |t: usize| *w.add((t0 + t) * stride + a);
            _mm256_set_pd(at(3), at(2), at(1), at(0))
        };
        for a in (0..rows).step_by(2) {
            let (w0, w1) = ([gather(a, 0), gather(a, 4)], [gather(a + 1, 0), gather(a + 1, 4)]);
            let (mut out0, mut out1) = ([_mm256_setzero_pd(); 2], [_mm256_setzero_pd(); 2]);
            for b in 0..D {
                let (g0, g1) = (_mm256_set1_pd(*g.add(a * D + b)), _mm256_set1_pd(*g.add((a + 1) * D + b)));
                for h in 0..2 {
                    let xv = _mm256_loadu_pd(x.add(b * 8 + 4 * h));
                    out0[h] = _mm256_fmadd_pd(g0, xv, out0[h]);
                    out1[h] = _mm256_fmadd_pd(g1, xv, out1[h]);
                    let sum = _mm256_fmadd_pd(g0, w0[h], _mm256_loadu_pd(acc.add(b * 8 + 4 * h)));
                    _mm256_storeu_pd(acc.add(b * 8 + 4 * h), _mm256_fmadd_pd(g1, w1[h], sum));
                }
            }
            let mut o = [[0.0; 8]; 2];
            for h in 0..2 {
                _mm256_storeu_pd(o[0].as_mut_ptr().add(4 * h), out0[h]);
                _mm256_storeu_pd(o[1].as_mut_ptr().add(4 * h), out1[h]);
            }
            for (t, (&o0, &o1)) in o[0].iter().zip(&o[1]).enumerate() {
                *gw.add(t * stride + a) = o0;
                *gw.add(t * stride + a + 1) = o1;
            }
        }
        rows
    }

    /// [`top_block_backward_pairs_f64`] in float32, the eight steps in one
    /// vector and rows four at a time: in pairs, each
    /// row's dot products were one vector, one chain of `D` dependent
    /// multiply-adds, and waited on their latency (0.9x row by row).
    /// Returns the rows done (a multiple of four).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn top_block_backward_quads_f32<const D: usize>(
        g_top: &[f32],
        dxt: &[f32],
        wt: &[f32],
        stride: usize,
        gwt: &mut [f32],
        gdxt: &mut [f32],
    ) -> usize {
        let rows = top_block_rows::<f32, D>(g_top, dxt, wt, stride, gwt, gdxt) / 4 * 4;
        let (g, x, w, gw, acc) = (g_top.as_ptr(), dxt.as_ptr(), wt.as_ptr(), gwt.as_mut_ptr(), gdxt.as_mut_ptr());
        let gather = |a: usize| {
            let at = |t: usize| *w.add(t * stride + a);
            _mm256_set_ps(at(7), at(6), at(5), at(4), at(3), at(2), at(1), at(0))
        };
        for a in (0..rows).step_by(4) {
            let ws = [gather(a), gather(a + 1), gather(a + 2), gather(a + 3)];
            let mut out = [_mm256_setzero_ps(); 4];
            for b in 0..D {
                let xv = _mm256_loadu_ps(x.add(b * 8));
                let mut sum = _mm256_loadu_ps(acc.add(b * 8));
                for (i, (out_i, w_i)) in out.iter_mut().zip(&ws).enumerate() {
                    let gv = _mm256_set1_ps(*g.add((a + i) * D + b));
                    *out_i = _mm256_fmadd_ps(gv, xv, *out_i);
                    sum = _mm256_fmadd_ps(gv, *w_i, sum);
                }
                _mm256_storeu_ps(acc.add(b * 8), sum);
            }
            let mut o = [[0.0; 8]; 4];
            for (o_i, out_i) in o.iter_mut().zip(out) {
                _mm256_storeu_ps(o_i.as_mut_ptr(), out_i);
            }
            for t in 0..8 {
                for (i, o_i) in o.iter().enumerate() {
                    *gw.add(t * stride + a + i) = o_i[t];
                }
            }
        }
        rows
    }

    rank_update!(rank_update_f64, f64, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_setzero_pd);
    rank_update!(rank_update_f32x8, f32, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_setzero_ps);
    rank_update!(rank_update_f32x4, f32, __m128, 4, _mm_loadu_ps, _mm_storeu_ps, _mm_set1_ps, _mm_fmadd_ps, _mm_setzero_ps);
    rank_update_ragged!(rank_update_ragged_f64, f64, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_setzero_pd, _mm256_blendv_pd);
    rank_update_ragged!(rank_update_ragged_f32, f32, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_setzero_ps, _mm256_blendv_ps);
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::avx;

    /// The transposing gathers against the differences one number at a
    /// time, for groups of one and two vectors of paths and entry counts
    /// that do and do not fill whole transposes.
    #[test]
    fn lane_differences_transpose_every_entry_into_its_lane() {
        if !super::has_fma() {
            return;
        }
        /// (paths, pl, l_n, start, dim, n, dxs) -> entries done
        type Gather<T> = unsafe fn(&[T], usize, usize, usize, usize, usize, &mut [T]) -> usize;
        fn check<T: crate::Float>(l_n: usize, kernel: Gather<T>, width: usize) {
            let (dim, pl, start) = (3, 60, 6);
            let paths: Vec<T> = (0..l_n * pl).map(|i| T::from(((i * 37) % 101) as f64 * 0.25 - (i % 7) as f64).unwrap()).collect();
            for n in [0, 1, width - 1, width, 2 * width + 3, 5 * width] {
                let mut dxs = vec![T::nan(); n * l_n];
                // SAFETY: the test returned above unless the CPU has AVX2.
                let done = unsafe { kernel(&paths, pl, l_n, start, dim, n, &mut dxs) };
                assert_eq!(done, n / width * width);
                for k in 0..done {
                    for l in 0..l_n {
                        let p = &paths[l * pl + start..];
                        assert_eq!(dxs[k * l_n + l], p[k + dim] - p[k], "entry {k}, lane {l} of {l_n}");
                    }
                }
                assert!(dxs[done * l_n..].iter().all(|x| x.is_nan()), "nothing past the entries done");
            }
        }
        for l_n in [8, 16] {
            check::<f32>(l_n, avx::lane_differences_f32, 8);
        }
        for l_n in [4, 8] {
            check::<f64>(l_n, avx::lane_differences_f64, 4);
        }
    }

    /// Runs the test's `check` on a kernel at a block's 8 steps and at a
    /// last block's 7, 3 and 1.
    macro_rules! each_count {
        ($rows:expr, $t:ty, $d:literal, $kernel:ident) => {
            check::<$t, $d, 8>($rows, avx::$kernel::<$d, 8>);
            check::<$t, $d, 7>($rows, avx::$kernel::<$d, 7>);
            check::<$t, $d, 3>($rows, avx::$kernel::<$d, 3>);
            check::<$t, $d, 1>($rows, avx::$kernel::<$d, 1>);
        };
    }

    /// The rank-K kernels against the plain sum, for row counts that do
    /// and do not fill whole passes of several rows, at a block's 8 steps
    /// and a last block's fewer.
    #[test]
    fn rank_updates_match_the_plain_sum() {
        if !super::has_fma() {
            return;
        }
        fn check<T: crate::Float, const D: usize, const K: usize>(rows: usize, kernel: unsafe fn(&mut [T], &[T], usize, &[T], bool)) {
            for fresh in [false, true] {
                check_once::<T, D, K>(rows, kernel, fresh);
            }
        }
        // Fresh: the top level is zero, whatever its buffer holds (NaN here).
        fn check_once<T: crate::Float, const D: usize, const K: usize>(rows: usize, kernel: unsafe fn(&mut [T], &[T], usize, &[T], bool), fresh: bool) {
            let value = |i: usize| T::from_f64(((i * 37 % 101) as f64 - 50.0) / 25.0).unwrap();
            let top: Vec<T> = (0..rows * D).map(|i| if fresh { T::zero() } else { value(i) }).collect();
            // rows of w padded, as the signature kernel lays them out
            let stride = rows + 3;
            let w: Vec<T> = (0..K * stride).map(|i| value(i + 7)).collect();
            let dxs: Vec<T> = (0..K * D).map(|i| value(i + 13)).collect();
            let mut got = if fresh { vec![T::nan(); rows * D] } else { top.clone() };
            // SAFETY: the CPU has AVX2 and FMA (checked above); D fits each kernel.
            unsafe { kernel(&mut got, &w, stride, &dxs, fresh) };
            for a in 0..rows {
                for b in 0..D {
                    let expected = (0..K).fold(top[a * D + b].to_f64().unwrap(), |acc, t| acc + w[t * stride + a].to_f64().unwrap() * dxs[t * D + b].to_f64().unwrap());
                    let g = got[a * D + b].to_f64().unwrap();
                    assert!((g - expected).abs() <= 1e-5 * (1.0 + expected.abs()), "D {D} K {K} rows {rows} ({a}, {b}): {g} vs {expected}");
                }
            }
        }
        for rows in [1, 2, 3, 5, 8, 9, 17] {
            each_count!(rows, f64, 4, rank_update_f64);
            each_count!(rows, f64, 8, rank_update_f64);
            each_count!(rows, f64, 12, rank_update_f64);
            each_count!(rows, f64, 16, rank_update_f64);
            each_count!(rows, f64, 20, rank_update_f64);
            each_count!(rows, f32, 8, rank_update_f32x8);
            each_count!(rows, f32, 16, rank_update_f32x8);
            each_count!(rows, f32, 4, rank_update_f32x4);
        }
    }

    /// The ragged-width kernels: the rows they report done match the plain
    /// sum, the rest are untouched, and a non-finite product in one row
    /// stays in that row.
    #[test]
    fn ragged_rank_updates_match_the_plain_sum_and_keep_to_their_rows() {
        if !super::has_fma() {
            return;
        }
        type Kernel<T> = unsafe fn(&mut [T], &[T], usize, &[T], bool) -> usize;
        fn check<T: crate::Float, const D: usize, const K: usize>(rows: usize, kernel: Kernel<T>) {
            for fresh in [false, true] {
                check_once::<T, D, K>(rows, kernel, fresh);
            }
        }
        // Fresh: the rows done are the sum from zero, whatever their buffer
        // held; the rows not done keep it.
        fn check_once<T: crate::Float, const D: usize, const K: usize>(rows: usize, kernel: Kernel<T>, fresh: bool) {
            let value = |i: usize| T::from_f64(((i * 37 % 101) as f64 - 50.0) / 25.0).unwrap();
            let top: Vec<T> = (0..rows * D).map(value).collect();
            let stride = rows + 3;
            let mut w: Vec<T> = (0..K * stride).map(|i| value(i + 7)).collect();
            // Infinite weights (at t = 3, or the last step) on rows that end a pass of 2, 3, 4
            // or 8 rows, and on one inside: those rows are then infinite or
            // NaN, and their neighbours must not notice.
            let infinite = [1, 2, 7];
            for &a in infinite.iter().filter(|&&a| a < rows) {
                w[3.min(K - 1) * stride + a] = T::infinity();
            }
            let dxs: Vec<T> = (0..K * D).map(|i| value(i + 13)).collect();
            let mut got = top.clone();
            // SAFETY: the CPU has AVX2 and FMA (checked above); D fits each kernel.
            let done = unsafe { kernel(&mut got, &w, stride, &dxs, fresh) };
            assert!(done < rows.max(1) && done + 8 >= rows, "D {D} K {K} rows {rows}: {done} done");
            for a in 0..rows {
                for b in 0..D {
                    let g = got[a * D + b].to_f64().unwrap();
                    if a >= done {
                        assert_eq!(got[a * D + b], top[a * D + b], "D {D} K {K} rows {rows}: row {a} is not the kernel's");
                        continue;
                    }
                    let start = if fresh { 0.0 } else { top[a * D + b].to_f64().unwrap() };
                    let expected = (0..K).fold(start, |acc, t| acc + w[t * stride + a].to_f64().unwrap() * dxs[t * D + b].to_f64().unwrap());
                    if infinite.contains(&a) {
                        assert!(!g.is_finite(), "D {D} K {K} rows {rows} ({a}, {b}): {g}");
                    } else {
                        assert!((g - expected).abs() <= 1e-5 * (1.0 + expected.abs()), "D {D} K {K} rows {rows} ({a}, {b}): {g} vs {expected}");
                    }
                }
            }
        }
        for rows in [1, 2, 3, 4, 5, 8, 9, 10, 17, 33] {
            each_count!(rows, f64, 2, rank_update_ragged_f64);
            each_count!(rows, f64, 3, rank_update_ragged_f64);
            each_count!(rows, f64, 5, rank_update_ragged_f64);
            each_count!(rows, f64, 6, rank_update_ragged_f64);
            each_count!(rows, f64, 7, rank_update_ragged_f64);
            each_count!(rows, f64, 10, rank_update_ragged_f64);
            each_count!(rows, f64, 14, rank_update_ragged_f64);
            each_count!(rows, f32, 5, rank_update_ragged_f32);
            each_count!(rows, f32, 6, rank_update_ragged_f32);
            each_count!(rows, f32, 7, rank_update_ragged_f32);
            each_count!(rows, f32, 10, rank_update_ragged_f32);
            each_count!(rows, f32, 12, rank_update_ragged_f32);
            each_count!(rows, f32, 20, rank_update_ragged_f32);
            each_count!(rows, f32, 30, rank_update_ragged_f32);
        }
    }
}
