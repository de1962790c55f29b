//! Time augmentation and the lead-lag transform on device memory
//! (`kernels/transform.cu`), for users who ask for the transformed path
//! itself: the signature kernels apply the transform step by step and
//! never build it.
//!
//! The functions take raw device pointers the caller owns (PyTorch's
//! allocations) and the caller's stream, and return once the kernel is
//! queued on it. The layout and conventions are the CPU's
//! ([`sig_core::transform_path`]).

use sig_core::{PathShape, PathTransform};

use crate::launch::{self, shape_args, Arg, Float, Placement};
use crate::CudaError;

/// A batch of `(batch, length, dim)` paths and the transform to apply to
/// them; the transformed batch is `(batch, length', dim')` with `length'`
/// and `dim'` from [`PathTransform::out_length`] and [`PathTransform::out_dim`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransformProblem {
    pub shape: PathShape,
    pub transform: PathTransform,
    pub float: Float,
}

/// Launches `{stem}_{f64|f32}` of `transform.cu` over `n` elements.
///
/// # Safety
/// As [`transform_path`], for the buffers `args` points to.
unsafe fn launch_transform(p: &TransformProblem, place: &Placement, stem: &str, n: usize, mut args: Vec<Arg>) -> Result<(), CudaError> {
    let dev = launch::device(place.device)?;
    let module = launch::module(place.device, &dev, "transform.cu", Vec::new(), &place.nvrtc_dirs)?;
    let f = module.function(&format!("{stem}_{}", p.float.suffix()))?;
    launch::launch(&dev, f, &launch::elementwise(n, place), &mut args)
}

/// `transform_path` on device memory: `paths` (`batch x length x dim`) into
/// `out` (`batch x length' x dim'`).
///
/// # Safety
/// The pointers must be device memory on `place.device` holding the
/// documented sizes in `p.float`, and `place.stream` a stream of that
/// device or 0.
pub unsafe fn transform_path(p: &TransformProblem, place: &Placement, paths: u64, out: u64) -> Result<(), CudaError> {
    let n = p.shape.batch * p.transform.out_length(p.shape.length);
    if n == 0 || p.transform.out_dim(p.shape.dim) == 0 {
        return Ok(());
    }
    launch_transform(p, place, "transform_path", n, transform_args(p, [paths, out]))
}

/// Gradient through [`transform_path`]: `derivs` (`batch x length' x dim'`)
/// into `out` (`batch x length x dim`). The time channel sends nothing back.
///
/// # Safety
/// As [`transform_path`].
pub unsafe fn transform_path_backprop(p: &TransformProblem, place: &Placement, derivs: u64, out: u64) -> Result<(), CudaError> {
    let n = p.shape.batch * p.shape.length;
    if n == 0 || p.shape.dim == 0 {
        return Ok(());
    }
    launch_transform(p, place, "transform_path_backprop", n, transform_backprop_args(p, [derivs, out]))
}

// The argument lists of the kernels, in their parameter order (checked
// against the source by the tests below).

/// `ptrs`: paths, out.
fn transform_args(p: &TransformProblem, ptrs: [u64; 2]) -> Vec<Arg> {
    let t = &p.transform;
    shape_args(&p.shape, &ptrs, [Arg::I32(t.time_aug.into()), Arg::I32(t.lead_lag.into()), p.float.real(t.end_time)])
}

/// `ptrs`: derivs, out.
fn transform_backprop_args(p: &TransformProblem, ptrs: [u64; 2]) -> Vec<Arg> {
    let t = &p.transform;
    shape_args(&p.shape, &ptrs, [Arg::I32(t.time_aug.into()), Arg::I32(t.lead_lag.into())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::kernel_params::{kinds, param_kinds, source};

    const BOTH: PathTransform = PathTransform { time_aug: true, lead_lag: true, end_time: 2.0 };

    fn placement() -> Placement {
        Placement { device: 0, stream: 0, max_blocks: 8, force_global: false, threads: 0, nvrtc_dirs: Vec::new() }
    }

    #[test]
    fn argument_lists_match_the_kernel_parameters() {
        let transform = source("transform.cu");
        for float in [Float::F32, Float::F64] {
            let p = TransformProblem { shape: PathShape::new(2, 5, 3), transform: BOTH, float };
            assert_eq!(kinds(&transform_args(&p, [1, 2])), param_kinds(transform, "transform_path_"));
            assert_eq!(kinds(&transform_backprop_args(&p, [1, 2])), param_kinds(transform, "transform_path_backprop_"));
        }
    }

    #[test]
    fn arguments_carry_the_shape_and_the_transform() {
        let p = TransformProblem { shape: PathShape::new(7, 5, 3), transform: BOTH, float: Float::F64 };
        let args = transform_args(&p, [10, 20]);
        assert!(matches!(
            args[..],
            [Arg::Ptr(10), Arg::Ptr(20), Arg::I64(7), Arg::I32(5), Arg::I32(3), Arg::I32(1), Arg::I32(1), Arg::F64(t)] if t == 2.0
        ));
        let none = TransformProblem { transform: PathTransform::NONE, float: Float::F32, ..p };
        let args = transform_backprop_args(&none, [10, 20]);
        assert!(matches!(args[..], [Arg::Ptr(10), Arg::Ptr(20), Arg::I64(7), Arg::I32(5), Arg::I32(3), Arg::I32(0), Arg::I32(0)]));
    }

    #[test]
    fn empty_batches_launch_nothing() {
        // Nothing to do returns before the driver is looked for, so these
        // succeed with or without a GPU.
        let place = placement();
        for shape in [PathShape::new(0, 5, 3), PathShape::new(2, 0, 3)] {
            let p = TransformProblem { shape, transform: BOTH, float: Float::F32 };
            // SAFETY: nothing is launched, so no pointer is used.
            unsafe {
                assert_eq!(transform_path(&p, &place, 0, 0), Ok(()));
                assert_eq!(transform_path_backprop(&p, &place, 0, 0), Ok(()));
            }
        }
        // Zero channels: nothing to write, either way.
        let p = TransformProblem { shape: PathShape::new(2, 5, 0), transform: PathTransform::NONE, float: Float::F64 };
        // SAFETY: as above.
        unsafe {
            assert_eq!(transform_path(&p, &place, 0, 0), Ok(()));
            assert_eq!(transform_path_backprop(&p, &place, 0, 0), Ok(()));
        }
    }

    #[test]
    fn calls_without_a_usable_driver_are_errors_not_panics() {
        if crate::probe().is_err() {
            let p = TransformProblem { shape: PathShape::new(2, 5, 3), transform: BOTH, float: Float::F64 };
            // SAFETY: no pointer is dereferenced: the call stops at the driver check.
            unsafe {
                assert!(matches!(transform_path(&p, &placement(), 0, 0), Err(CudaError::Unavailable(_))));
                assert!(matches!(transform_path_backprop(&p, &placement(), 0, 0), Err(CudaError::Unavailable(_))));
            }
        }
    }
}
