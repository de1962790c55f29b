//! Time augmentation and the lead-lag transform.
//!
//! Signatures never build the transformed path: [`PathTransform::increment`]
//! produces the transformed increment of step `j` straight from the original
//! points, and [`PathTransform::increment_backward`] sends an increment's
//! gradient back to them. Static kernels of signature kernels need points,
//! not increments: [`PathTransform::point`] and
//! [`PathTransform::point_backward`] do the same for one transformed point.
//! [`transform_path`] materialises the transformed path only for users who
//! ask for it.

use crate::batch::for_each_chunk;
use crate::error::{check_len, Result, SigError};
use crate::signature::PathShape;
use crate::{from_usize, Float};

/// Which transforms are applied to a path before its signature is taken.
///
/// * `lead_lag`: the path of `2L - 1` points whose channels are (lag, lead):
///   point `2i` is `(x_i, x_i)` and point `2i + 1` is `(x_i, x_{i+1})`.
/// * `time_aug`: time, running evenly from 0 to `end_time` over the
///   (transformed) points, is appended as the last channel.
///
/// With both, lead-lag comes first, then time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathTransform {
    pub time_aug: bool,
    pub lead_lag: bool,
    pub end_time: f64,
}

impl Default for PathTransform {
    fn default() -> Self {
        Self::NONE
    }
}

impl PathTransform {
    /// The identity transform.
    pub const NONE: PathTransform = PathTransform {
        time_aug: false,
        lead_lag: false,
        end_time: 1.0,
    };

    /// Dimension of the transformed path.
    #[inline]
    pub fn out_dim(&self, dim: usize) -> usize {
        (if self.lead_lag { 2 * dim } else { dim }) + usize::from(self.time_aug)
    }

    /// Number of points of the transformed path (`length >= 1`).
    #[inline]
    pub fn out_length(&self, length: usize) -> usize {
        if self.lead_lag && length > 0 {
            2 * length - 1
        } else {
            length
        }
    }

    /// Number of increments of the transformed path.
    #[inline]
    pub fn n_increments(&self, length: usize) -> usize {
        self.out_length(length).saturating_sub(1)
    }

    /// Checks `end_time` is finite.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.time_aug && !self.end_time.is_finite() {
            return Err(SigError::invalid("end_time", "a finite number", self.end_time));
        }
        Ok(())
    }

    /// The time step between consecutive transformed points.
    #[inline]
    fn time_step<T: Float>(&self, length: usize) -> T {
        let steps = self.n_increments(length).max(1);
        T::from_f64(self.end_time).unwrap_or_else(T::nan) / from_usize::<T>(steps)
    }

    /// Writes the transformed increment of step `j` of one path (`length`
    /// points of `dim` channels) into `dx` (`out_dim(dim)` entries).
    #[inline(always)]
    pub fn increment<T: Float>(&self, path: &[T], dim: usize, length: usize, j: usize, dx: &mut [T]) {
        let (i, lead_moves) = if self.lead_lag { (j / 2, j % 2 == 0) } else { (j, false) };
        let before = &path[i * dim..(i + 1) * dim];
        let after = &path[(i + 1) * dim..(i + 2) * dim];
        let moving = |out: &mut [T]| {
            for ((o, &a), &b) in out.iter_mut().zip(after).zip(before) {
                *o = a - b;
            }
        };
        if self.lead_lag {
            let (lag, rest) = dx.split_at_mut(dim);
            let lead = &mut rest[..dim];
            if lead_moves {
                lag.fill(T::zero());
                moving(lead);
            } else {
                moving(lag);
                lead.fill(T::zero());
            }
        } else {
            moving(&mut dx[..dim]);
        }
        if self.time_aug {
            dx[self.out_dim(dim) - 1] = self.time_step(length);
        }
    }

    /// Adds the gradient `gdx` of step `j`'s increment to the gradient of
    /// the original points, `grad` (`length * dim` entries).
    #[inline(always)]
    pub fn increment_backward<T: Float>(&self, grad: &mut [T], dim: usize, j: usize, gdx: &[T]) {
        let (i, g) = if self.lead_lag {
            let i = j / 2;
            if j % 2 == 0 {
                (i, &gdx[dim..2 * dim])
            } else {
                (i, &gdx[..dim])
            }
        } else {
            (j, &gdx[..dim])
        };
        let (lo, hi) = grad.split_at_mut((i + 1) * dim);
        for ((b, a), &gv) in lo[i * dim..].iter_mut().zip(&mut hi[..dim]).zip(g) {
            *a += gv;
            *b -= gv;
        }
    }
    /// Writes point `p` of the transformed path of one path (`length`
    /// points of `dim` channels) into `out` (`out_dim(dim)` entries).
    #[inline]
    pub fn point<T: Float>(&self, path: &[T], dim: usize, length: usize, p: usize, out: &mut [T]) {
        if self.lead_lag {
            let (lag, lead) = (p / 2, p.div_ceil(2));
            out[..dim].copy_from_slice(&path[lag * dim..(lag + 1) * dim]);
            out[dim..2 * dim].copy_from_slice(&path[lead * dim..(lead + 1) * dim]);
        } else {
            out[..dim].copy_from_slice(&path[p * dim..(p + 1) * dim]);
        }
        if self.time_aug {
            out[self.out_dim(dim) - 1] = self.time_step::<T>(length) * from_usize::<T>(p);
        }
    }

    /// Adds the gradient `g` of transformed point `p` (`out_dim(dim)`
    /// entries) to the gradient of the original points, `grad` (`length *
    /// dim` entries). Lead-lag points send their lag and lead halves to the
    /// points they copy; the time channel sends nothing.
    #[inline]
    pub fn point_backward<T: Float>(&self, grad: &mut [T], dim: usize, p: usize, g: &[T]) {
        let mut add = |i: usize, part: &[T]| {
            for (a, &v) in grad[i * dim..(i + 1) * dim].iter_mut().zip(part) {
                *a += v;
            }
        };
        if self.lead_lag {
            add(p / 2, &g[..dim]);
            add(p.div_ceil(2), &g[dim..2 * dim]);
        } else {
            add(p, &g[..dim]);
        }
    }
}

/// Applies `transform` to a batch of paths, writing `(batch, L', d')` into
/// `out`, with `L'`, `d'` given by [`PathTransform::out_length`] and
/// [`PathTransform::out_dim`]. A single point gets time 0.
pub fn transform_path<T: Float>(
    paths: &[T],
    shape: PathShape,
    transform: PathTransform,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    shape.check(paths)?;
    transform.validate()?;
    let (l, d) = (shape.length, shape.dim);
    let (lo, dout) = (transform.out_length(l), transform.out_dim(d));
    check_len("out", out.len(), shape.batch * lo * dout)?;
    for_each_chunk(n_jobs, out, lo * dout, lo * dout, || (), |_, b, out_path| {
        let path = &paths[b * l * d..(b + 1) * l * d];
        for (p, point) in out_path.chunks_exact_mut(dout).enumerate() {
            transform.point(path, d, l, p, point);
        }
    })
}

/// The adjoint of [`transform_path`]: given `derivs`, the gradient with
/// respect to the transformed paths, writes the gradient with respect to
/// the original paths (`shape`) into `out`. The time channel carries no
/// gradient back (it does not depend on the path).
pub fn transform_path_backprop<T: Float>(
    derivs: &[T],
    shape: PathShape,
    transform: PathTransform,
    n_jobs: i64,
    out: &mut [T],
) -> Result<()> {
    shape.check(out)?;
    let (l, d) = (shape.length, shape.dim);
    let (lo, dout) = (transform.out_length(l), transform.out_dim(d));
    check_len("derivs", derivs.len(), shape.batch * lo * dout)?;
    for_each_chunk(n_jobs, out, l * d, lo * dout, || (), |_, b, grad| {
        let g_path = &derivs[b * lo * dout..(b + 1) * lo * dout];
        grad.fill(T::zero());
        for (p, point) in g_path.chunks_exact(dout).enumerate() {
            transform.point_backward(grad, d, p, point);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: PathTransform = PathTransform { time_aug: true, lead_lag: true, end_time: 2.0 };

    #[test]
    fn lead_lag_with_time_matches_its_definition() {
        let path = [0.0, 1.0, 2.0, 3.0, 5.0, 7.0];
        let shape = PathShape::new(1, 3, 2);
        let mut out = vec![0.0; 5 * 5];
        transform_path(&path, shape, BOTH, 1, &mut out).unwrap();
        let expected = [
            [0.0, 1.0, 0.0, 1.0, 0.0],
            [0.0, 1.0, 2.0, 3.0, 0.5],
            [2.0, 3.0, 2.0, 3.0, 1.0],
            [2.0, 3.0, 5.0, 7.0, 1.5],
            [5.0, 7.0, 5.0, 7.0, 2.0],
        ];
        assert_eq!(out, expected.concat());
    }

    #[test]
    fn increments_are_differences_of_transformed_points() {
        let path: Vec<f64> = (0..12).map(|i| (i * i) as f64 * 0.1).collect();
        let shape = PathShape::new(1, 4, 3);
        for transform in [PathTransform::NONE, BOTH, PathTransform { lead_lag: true, ..PathTransform::NONE }] {
            let (lo, dout) = (transform.out_length(4), transform.out_dim(3));
            let mut pts = vec![0.0; lo * dout];
            transform_path(&path, shape, transform, 1, &mut pts).unwrap();
            let mut dx = vec![0.0; dout];
            for j in 0..transform.n_increments(4) {
                transform.increment(&path, 3, 4, j, &mut dx);
                for c in 0..dout {
                    let expected = pts[(j + 1) * dout + c] - pts[j * dout + c];
                    assert!((dx[c] - expected).abs() < 1e-15);
                }
            }
        }
    }

    #[test]
    fn points_are_those_of_transform_path_and_point_backward_is_their_adjoint() {
        let path: Vec<f64> = (0..12).map(|i| (i as f64 * 0.3).sin()).collect();
        let shape = PathShape::new(1, 4, 3);
        for transform in [PathTransform::NONE, BOTH, PathTransform { lead_lag: true, ..PathTransform::NONE }, PathTransform { time_aug: true, ..PathTransform::NONE }] {
            let (lo, dout) = (transform.out_length(4), transform.out_dim(3));
            let mut pts = vec![0.0; lo * dout];
            transform_path(&path, shape, transform, 1, &mut pts).unwrap();
            let g: Vec<f64> = (0..lo * dout).map(|i| (i as f64 * 0.7).cos()).collect();
            let mut expected = vec![0.0; path.len()];
            transform_path_backprop(&g, shape, transform, 1, &mut expected).unwrap();
            let (mut point, mut back) = (vec![0.0; dout], vec![0.0; path.len()]);
            for p in 0..lo {
                transform.point(&path, 3, 4, p, &mut point);
                assert_eq!(point, pts[p * dout..(p + 1) * dout]);
                transform.point_backward(&mut back, 3, p, &g[p * dout..(p + 1) * dout]);
            }
            assert_eq!(back, expected);
            // <T(x), g> = <x, T*(g)> + (time terms, which do not depend on x)
            let time_part: f64 = if transform.time_aug { pts.chunks(dout).zip(g.chunks(dout)).map(|(t, gg)| t[dout - 1] * gg[dout - 1]).sum() } else { 0.0 };
            let lhs: f64 = pts.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>() - time_part;
            let rhs: f64 = path.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-12);
        }
    }

    #[test]
    fn transform_path_backprop_is_the_adjoint() {
        let path: Vec<f64> = (0..8).map(|i| (i as f64).sin()).collect();
        let shape = PathShape::new(2, 2, 2);
        let (lo, dout) = (BOTH.out_length(2), BOTH.out_dim(2));
        let g: Vec<f64> = (0..2 * lo * dout).map(|i| (i as f64 * 0.7).cos()).collect();
        let mut tx = vec![0.0; g.len()];
        transform_path(&path, shape, BOTH, 1, &mut tx).unwrap();
        let mut back = vec![0.0; path.len()];
        transform_path_backprop(&g, shape, BOTH, 1, &mut back).unwrap();
        // <T(x), g> = <x, T*(g)> + (time terms, which do not depend on x)
        let time_part: f64 = tx.chunks(dout).zip(g.chunks(dout)).map(|(t, gg)| t[dout - 1] * gg[dout - 1]).sum();
        let lhs: f64 = tx.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>() - time_part;
        let rhs: f64 = path.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12);
    }
}
