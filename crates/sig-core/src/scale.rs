//! Scaling signatures coordinatewise: the signature of the path
//! `(D_0 x_0, ..., D_{d-1} x_{d-1})` from that of `x` (iisignature's `sigscale`).
//!
//! Level k is linear in each of the path's k increments, so the coefficient
//! of the word `i_1 ... i_k` is multiplied by `D_{i_1} ... D_{i_k}`: no path
//! and no tensor product is needed. Signatures here omit level 0 (which a
//! scaling leaves at 1), as iisignature's do.

use crate::alloc::zeros;
use crate::batch::{try_for_each_chunk, try_for_each_item};
use crate::error::{check_len, Result, SigError};
use crate::tensor::sig_length;
use crate::Float;

/// Numbers per signature (without level 0), and the batch size shared by
/// `buffers` (`(name, length, numbers per item)`).
fn batch_of(dim: usize, degree: usize, buffers: &[(&'static str, usize, usize)]) -> Result<(usize, usize)> {
    if dim == 0 || degree == 0 {
        return Err(SigError::invalid("dimension and degree", "at least 1 each", format!("{dim} and {degree}")));
    }
    let n = sig_length(dim, degree, false).ok_or_else(|| SigError::Overflow(format!("the signature length for dimension {dim}, degree {degree}")))?;
    let (name, len, per) = buffers[0];
    let per = if per == 0 { n } else { per };
    if len % per != 0 {
        return Err(SigError::BufferLength { name, expected: (len / per + 1) * per, actual: len });
    }
    let batch = len / per;
    for &(name, len, per) in buffers {
        check_len(name, len, batch * if per == 0 { n } else { per })?;
    }
    Ok((n, batch))
}

/// The factors `D_{i_1} ... D_{i_k}` of every word, levels 1..=degree in
/// signature order: level k's word `p j` is level k-1's `p` times `D_j`.
fn word_factors<T: Float>(scales: &[T], factors: &mut [T]) {
    let dim = scales.len();
    factors[..dim].copy_from_slice(scales);
    let (mut start, mut width) = (0, dim);
    while start + width < factors.len() {
        let (done, rest) = factors.split_at_mut(start + width);
        let prev = &done[start..];
        for (p, &f) in prev.iter().enumerate() {
            for (o, &s) in rest[p * dim..(p + 1) * dim].iter_mut().zip(scales) {
                *o = f * s;
            }
        }
        start += width;
        width *= dim;
    }
}

/// `out = sig` with each word's coefficient times the product of `scales`
/// over its letters, per batch item: `sig` and `out` `(batch, sig_length)`,
/// `scales` `(batch, dim)`.
pub fn sig_scale<T: Float>(sig: &[T], scales: &[T], dim: usize, degree: usize, n_jobs: i64, out: &mut [T]) -> Result<()> {
    let (n, _) = batch_of(dim, degree, &[("sig", sig.len(), 0), ("scales", scales.len(), dim), ("out", out.len(), 0)])?;
    let init = || zeros("the word factors of a scaling", n);
    try_for_each_chunk(n_jobs, out, n, 2 * n, init, |factors, i, o| {
        word_factors(&scales[i * dim..(i + 1) * dim], factors);
        for ((o, &s), &f) in o.iter_mut().zip(&sig[i * n..(i + 1) * n]).zip(factors.iter()) {
            *o = s * f;
        }
        Ok(())
    })
}

/// Gradient through [`sig_scale`]: from `g` = dF/d(out), writes dF/d(sig)
/// into `g_sig` and dF/d(scales) into `g_scales`.
///
/// Reverse mode through `word_factors`: the adjoint of each word's factor
/// starts at `g_w sig_w`; walking the levels from the top, the word `p j`
/// passes `adj * D_j` down to `p` and adds `adj * factor(p)` to `D_j`'s gradient.
#[allow(clippy::too_many_arguments)]
pub fn sig_scale_backprop<T: Float>(
    sig: &[T],
    scales: &[T],
    g: &[T],
    dim: usize,
    degree: usize,
    n_jobs: i64,
    g_sig: &mut [T],
    g_scales: &mut [T],
) -> Result<()> {
    let (n, _) = batch_of(
        dim,
        degree,
        &[("sig", sig.len(), 0), ("scales", scales.len(), dim), ("derivs", g.len(), 0), ("sig_grad", g_sig.len(), 0), ("scales_grad", g_scales.len(), dim)],
    )?;
    // level k starts at dim + ... + dim^(k-1)
    let mut starts = vec![0usize];
    let mut width = dim;
    for _ in 1..degree {
        starts.push(starts[starts.len() - 1] + width);
        width *= dim;
    }
    let mut pairs: Vec<(&mut [T], &mut [T])> = g_sig.chunks_exact_mut(n).zip(g_scales.chunks_exact_mut(dim)).collect();
    let init = || {
        let z = |len| zeros("the gradient of a scaling", len);
        Ok((z(n)?, z(n)?))
    };
    try_for_each_item(n_jobs, &mut pairs, 4 * n, init, |(factors, adj), i, (o_sig, o_scales)| {
        let d_i = &scales[i * dim..(i + 1) * dim];
        let (s_i, g_i) = (&sig[i * n..(i + 1) * n], &g[i * n..(i + 1) * n]);
        word_factors(d_i, factors);
        for (((o, a), &gw), (&sw, &f)) in o_sig.iter_mut().zip(adj.iter_mut()).zip(g_i).zip(s_i.iter().zip(factors.iter())) {
            *o = gw * f;
            *a = gw * sw;
        }
        o_scales.fill(T::zero());
        for k in (1..degree).rev() {
            let (lower, upper) = adj.split_at_mut(starts[k]);
            let prev = &mut lower[starts[k - 1]..];
            for (p, a_p) in prev.iter_mut().enumerate() {
                let f_p = factors[starts[k - 1] + p];
                for (j, &a_w) in upper[p * dim..(p + 1) * dim].iter().enumerate() {
                    *a_p += a_w * d_i[j];
                    o_scales[j] += a_w * f_p;
                }
            }
        }
        for (o, &a) in o_scales.iter_mut().zip(&adj[..dim]) {
            *o += a;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature of a piecewise-linear path, by Chen's identity on the
    /// exponentials of its increments, levels 1..=degree (a plain reference).
    fn reference_sig(path: &[Vec<f64>], degree: usize) -> Vec<f64> {
        let dim = path[0].len();
        let mut levels: Vec<Vec<f64>> = (1..=degree).map(|k| vec![0.0; dim.pow(k as u32)]).collect();
        for w in path.windows(2) {
            let dx: Vec<f64> = (0..dim).map(|j| w[1][j] - w[0][j]).collect();
            // exp(dx) levels
            let mut exp: Vec<Vec<f64>> = vec![dx.clone()];
            for k in 2..=degree {
                let prev = &exp[k - 2];
                let mut next = vec![0.0; prev.len() * dim];
                for (p, &v) in prev.iter().enumerate() {
                    for j in 0..dim {
                        next[p * dim + j] = v * dx[j] / k as f64;
                    }
                }
                exp.push(next);
            }
            let old = levels.clone();
            for k in 1..=degree {
                let mut new = old[k - 1].clone();
                for (n, e) in new.iter_mut().zip(&exp[k - 1]) {
                    *n += e;
                }
                for a in 1..k {
                    let (left, right) = (&old[a - 1], &exp[k - a - 1]);
                    for (p, &l) in left.iter().enumerate() {
                        for (q, &r) in right.iter().enumerate() {
                            new[p * right.len() + q] += l * r;
                        }
                    }
                }
                levels[k - 1] = new;
            }
        }
        levels.concat()
    }

    #[test]
    fn scaling_the_signature_equals_the_signature_of_the_scaled_path() {
        let path: Vec<Vec<f64>> = (0..6).map(|i| vec![(i as f64 * 0.7).sin(), (i as f64 * 1.3).cos(), i as f64 * 0.1]).collect();
        let scales = [2.0, -0.5, 1.5];
        let scaled: Vec<Vec<f64>> = path.iter().map(|p| p.iter().zip(&scales).map(|(x, s)| x * s).collect()).collect();
        let degree = 4;
        let sig = reference_sig(&path, degree);
        let mut out = vec![0.0; sig.len()];
        sig_scale(&sig, &scales, 3, degree, 1, &mut out).unwrap();
        for (a, b) in out.iter().zip(reference_sig(&scaled, degree)) {
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
    }

    #[test]
    fn scaling_gradient_matches_finite_differences() {
        let (dim, degree) = (2, 4);
        let n = sig_length(dim, degree, false).unwrap();
        let sig: Vec<f64> = (0..n).map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0).collect();
        let scales = vec![0.8, -1.3];
        let g: Vec<f64> = (0..n).map(|i| ((i * 5 % 13) as f64 - 6.0) / 4.0).collect();
        let (mut g_sig, mut g_scales) = (vec![0.0; n], vec![0.0; dim]);
        sig_scale_backprop(&sig, &scales, &g, dim, degree, 1, &mut g_sig, &mut g_scales).unwrap();
        let value = |s: &[f64], d: &[f64]| {
            let mut out = vec![0.0; n];
            sig_scale(s, d, dim, degree, 1, &mut out).unwrap();
            out.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
        };
        let h = 1e-6;
        for j in 0..dim {
            let (mut up, mut down) = (scales.clone(), scales.clone());
            up[j] += h;
            down[j] -= h;
            let numeric = (value(&sig, &up) - value(&sig, &down)) / (2.0 * h);
            assert!((numeric - g_scales[j]).abs() < 1e-6, "scale {j}: {numeric} {}", g_scales[j]);
        }
        for w in [0, 3, n - 1] {
            let (mut up, mut down) = (sig.clone(), sig.clone());
            up[w] += h;
            down[w] -= h;
            let numeric = (value(&up, &scales) - value(&down, &scales)) / (2.0 * h);
            assert!((numeric - g_sig[w]).abs() < 1e-6);
        }
    }

    #[test]
    fn a_batch_with_mismatched_buffers_is_an_error() {
        let mut out = vec![0.0; 6];
        assert!(sig_scale(&[0.0; 6], &[1.0; 3], 2, 2, 1, &mut out).is_err());
        assert!(sig_scale(&[0.0; 6], &[1.0; 2], 0, 2, 1, &mut out).is_err());
    }
}
