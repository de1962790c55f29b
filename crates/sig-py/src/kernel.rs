//! Signature kernels by the Goursat PDE, and their gradients
//! (`sig_core::kernel`), and the built-in static kernels called directly
//! (`sig_core::static_kernel`).
//!
//! A built-in static kernel arrives as its name and parameters and is
//! computed by the core, inside the solver; a user-written static kernel's
//! double increments go through the `*_from_increments` functions instead.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sig_core::kernel::{self, DyadicOrder, Increments, KernelGrad, KernelOut, KernelShape};
use sig_core::kernel_poly::{self, PolyShape};
use sig_core::static_kernel::KernelReport;
use sig_core::Float;
use sig_core::static_kernel::{self, StaticKernel};
use sig_core::{PathShape, PathTransform};

use crate::arrays::{add_functions, dims, input, numbers, numbers_mut, optional_input, output, path_shape, with_dtype};
use crate::error::enter;
use crate::records::record;

type Array<'a, 'py> = &'a Bound<'py, PyAny>;

record! {
    /// `sigrs._options.StaticKernelOptions`, read by position.
    StaticKernelArgs = "StaticKernelOptions" {
        kernel_name: String,
        kernel_params: Vec<f64>,
    }
}

impl StaticKernelArgs {
    fn kernel(&self) -> PyResult<StaticKernel> {
        static_kernel(&self.kernel_name, &self.kernel_params)
    }
}

/// The built-in static kernel that `name` and `params` name.
fn static_kernel(name: &str, params: &[f64]) -> PyResult<StaticKernel> {
    let kernel = match (name, params) {
        ("linear", &[factor]) => StaticKernel::Linear { factor },
        ("rbf", &[sigma]) => StaticKernel::Rbf { sigma },
        ("polynomial", &[degree, gamma, scale]) => StaticKernel::Polynomial { degree, gamma, scale },
        ("matern12", &[sigma]) => StaticKernel::Matern12 { sigma },
        ("matern32", &[sigma]) => StaticKernel::Matern32 { sigma },
        ("matern52", &[sigma]) => StaticKernel::Matern52 { sigma },
        ("rational_quadratic", &[sigma, alpha]) => StaticKernel::RationalQuadratic { sigma, alpha },
        _ => {
            return Err(PyValueError::new_err(format!(
                "kernel_name and kernel_params must name a built-in static kernel (linear [factor], rbf [sigma], polynomial \
                 [degree, gamma, scale], matern12/32/52 [sigma], rational_quadratic [sigma, alpha]), got {name:?} {params:?}"
            )))
        }
    };
    kernel.validate().map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(kernel)
}

record! {
    /// `sigrs._options.KernelOptions`, read by position.
    KernelArgs = "KernelOptions" {
        order1: u32,
        order2: u32,
        kernel_name: String,
        kernel_params: Vec<f64>,
        kernel_id: i64,
        time_aug: bool,
        lead_lag: bool,
        end_time: f64,
        n_jobs: i64,
        return_grid: bool,
        max_batch: i64,
        symmetric: bool,
        left_deriv: bool,
        right_deriv: bool,
        poly_order: usize,
    }
}

impl KernelArgs {
    fn kernel(&self) -> PyResult<StaticKernel> {
        static_kernel(&self.kernel_name, &self.kernel_params)
    }

    fn transform(&self) -> PathTransform {
        PathTransform { time_aug: self.time_aug, lead_lag: self.lead_lag, end_time: self.end_time }
    }

    /// The PDE grids of pairs of the paths of shapes `s1` and `s2`.
    fn shape(&self, s1: PathShape, s2: PathShape) -> KernelShape {
        let tr = self.transform();
        KernelShape { batch: s1.batch, length1: tr.out_length(s1.length), length2: tr.out_length(s2.length), order: self.order() }
    }

    fn order(&self) -> DyadicOrder {
        DyadicOrder { first: self.order1, second: self.order2 }
    }

    /// The PDE grids of given double increments of `shape` `(B, n1, n2)`.
    fn increments_shape(&self, shape: &[usize]) -> PyResult<KernelShape> {
        match *shape {
            [batch, n1, n2] => Ok(KernelShape { batch, length1: n1 + 1, length2: n2 + 1, order: self.order() }),
            ref other => Err(PyValueError::new_err(format!("delta must have shape (batch, length1 - 1, length2 - 1), got {other:?}"))),
        }
    }
}

impl KernelArgs {
    /// The kernels (or grids) of `shape`'s pairs into `out`, by the solver
    /// the options name: polynomial when `poly_order > 0`, else finite differences.
    fn solve<T: Float>(&self, inc: &Increments<'_, T>, shape: KernelShape, out: &mut [T]) -> sig_core::Result<KernelReport> {
        let out = out_of(out, self.return_grid);
        if self.poly_order > 0 {
            kernel_poly::sig_kernel_poly(inc, self.poly_shape(&shape), self.n_jobs, out)
        } else {
            kernel::sig_kernel(inc, shape, self.n_jobs, out)
        }
    }

    /// The gradient through [`KernelArgs::solve`].
    fn solve_backprop<T: Float>(&self, inc: &Increments<'_, T>, shape: KernelShape, derivs: &[T], k_grid: Option<&[T]>, grads: KernelGrad<'_, T>) -> sig_core::Result<()> {
        if self.poly_order > 0 {
            // the polynomial solver's forward pass is cheap to redo: no k_grid
            kernel_poly::sig_kernel_poly_backprop(inc, self.poly_shape(&shape), derivs, self.return_grid, self.n_jobs, grads)
        } else {
            kernel::sig_kernel_backprop(inc, shape, derivs, self.return_grid, k_grid, self.n_jobs, grads)
        }
    }

    fn poly_shape(&self, shape: &KernelShape) -> PolyShape {
        PolyShape { batch: shape.batch, length1: shape.length1, length2: shape.length2, order: self.poly_order }
    }
}

fn out_of<T>(out: &mut [T], return_grid: bool) -> KernelOut<'_, T> {
    if return_grid {
        KernelOut::Grids(out)
    } else {
        KernelOut::Values(out)
    }
}

/// Kernels of the pairs `(path1[p], path2[p])` into `out` (`(B,)`, or the
/// refined grids `(B, G1, G2)` with `return_grid`); true when a polynomial
/// static kernel clamped a negative base.
#[pyfunction]
#[pyo3(signature = (path1, path2, out, options))]
pub fn sig_kernel<'py>(py: Python<'py>, path1: Array<'_, 'py>, path2: Array<'_, 'py>, out: Array<'_, 'py>, options: KernelArgs) -> PyResult<bool> {
    let kernel = options.kernel()?;
    with_dtype!(path1, "path1", |T| {
        let (p1, p2, mut o) = (input::<T>(path1, "path1")?, input::<T>(path2, "path2")?, output::<T>(out, "out")?);
        let (s1, s2) = (path_shape(&p1, "path1")?, path_shape(&p2, "path2")?);
        let (p1, p2, o) = (numbers(&p1, "path1")?, numbers(&p2, "path2")?, numbers_mut(&mut o, "out")?);
        let inc = Increments::Paths { paths1: p1, paths2: p2, shape1: s1, shape2: s2, transform: options.transform(), kernel };
        enter(py, || options.solve(&inc, options.shape(s1, s2), o).map(|r| r.clamped))
    })
}

/// Gradient through [`sig_kernel`] into `out1` and/or `out2` (the paths'
/// shapes; the sides the options ask for); `derivs` is dF/dk `(B,)` or,
/// with `return_grid`, dF/d(grid).
#[pyfunction]
#[pyo3(signature = (path1, path2, derivs, k_grid, out1, out2, options))]
#[allow(clippy::too_many_arguments)]
pub fn sig_kernel_backprop<'py>(
    py: Python<'py>,
    path1: Array<'_, 'py>,
    path2: Array<'_, 'py>,
    derivs: Array<'_, 'py>,
    k_grid: Option<Array<'_, 'py>>,
    out1: Array<'_, 'py>,
    out2: Array<'_, 'py>,
    options: KernelArgs,
) -> PyResult<()> {
    let kernel = options.kernel()?;
    with_dtype!(path1, "path1", |T| {
        let (p1, p2, g) = (input::<T>(path1, "path1")?, input::<T>(path2, "path2")?, input::<T>(derivs, "derivs")?);
        let kg = optional_input::<T>(k_grid, "k_grid")?;
        let (mut o1, mut o2) = (output::<T>(out1, "out1")?, output::<T>(out2, "out2")?);
        let (s1, s2) = (path_shape(&p1, "path1")?, path_shape(&p2, "path2")?);
        let (p1, p2, g) = (numbers(&p1, "path1")?, numbers(&p2, "path2")?, numbers(&g, "derivs")?);
        let kg = kg.as_ref().map(|a| numbers(a, "k_grid")).transpose()?;
        let grad1 = if options.left_deriv { Some(numbers_mut(&mut o1, "out1")?) } else { None };
        let grad2 = if options.right_deriv { Some(numbers_mut(&mut o2, "out2")?) } else { None };
        let inc = Increments::Paths { paths1: p1, paths2: p2, shape1: s1, shape2: s2, transform: options.transform(), kernel };
        let grads = KernelGrad::Paths { grad1, grad2 };
        enter(py, || options.solve_backprop(&inc, options.shape(s1, s2), g, kg, grads))
    })
}

/// Kernels from given double increments `delta` `(B, n1, n2)` (a
/// user-written static kernel's), into `out` as in [`sig_kernel`].
#[pyfunction]
#[pyo3(signature = (delta, out, options))]
pub fn sig_kernel_from_increments<'py>(py: Python<'py>, delta: Array<'_, 'py>, out: Array<'_, 'py>, options: KernelArgs) -> PyResult<()> {
    with_dtype!(delta, "delta", |T| {
        let (d, mut o) = (input::<T>(delta, "delta")?, output::<T>(out, "out")?);
        let shape = options.increments_shape(dims(&d))?;
        let (d, o) = (numbers(&d, "delta")?, numbers_mut(&mut o, "out")?);
        enter(py, || options.solve(&Increments::Given(d), shape, o).map(|_| ()))
    })
}

/// Gradient through [`sig_kernel_from_increments`]: dF/d(delta) into `out` `(B, n1, n2)`.
#[pyfunction]
#[pyo3(signature = (delta, derivs, k_grid, out, options))]
pub fn sig_kernel_from_increments_backprop<'py>(
    py: Python<'py>,
    delta: Array<'_, 'py>,
    derivs: Array<'_, 'py>,
    k_grid: Option<Array<'_, 'py>>,
    out: Array<'_, 'py>,
    options: KernelArgs,
) -> PyResult<()> {
    with_dtype!(delta, "delta", |T| {
        let (d, g, mut o) = (input::<T>(delta, "delta")?, input::<T>(derivs, "derivs")?, output::<T>(out, "out")?);
        let kg = optional_input::<T>(k_grid, "k_grid")?;
        let shape = options.increments_shape(dims(&d))?;
        let (d, g, o) = (numbers(&d, "delta")?, numbers(&g, "derivs")?, numbers_mut(&mut o, "out")?);
        let kg = kg.as_ref().map(|a| numbers(a, "k_grid")).transpose()?;
        let grads = KernelGrad::Increments(o);
        enter(py, || options.solve_backprop(&Increments::Given(d), shape, g, kg, grads))
    })
}

/// A built-in static kernel's double increments of `x` `(B, L1, d)` and `y`
/// `(B, L2, d)` into `out` `(B, L1 - 1, L2 - 1)`; true when a polynomial
/// kernel clamped a negative base.
#[pyfunction]
#[pyo3(signature = (x, y, out, options))]
pub fn static_kernel_deltas<'py>(py: Python<'py>, x: Array<'_, 'py>, y: Array<'_, 'py>, out: Array<'_, 'py>, options: StaticKernelArgs) -> PyResult<bool> {
    let kernel = options.kernel()?;
    with_dtype!(x, "x", |T| {
        let (xa, ya, mut o) = (input::<T>(x, "x")?, input::<T>(y, "y")?, output::<T>(out, "out")?);
        let (s1, s2) = (path_shape(&xa, "x")?, path_shape(&ya, "y")?);
        let (xs, ys, o) = (numbers(&xa, "x")?, numbers(&ya, "y")?, numbers_mut(&mut o, "out")?);
        enter(py, || static_kernel::static_kernel_deltas(&kernel, xs, s1, ys, s2, -1, o).map(|r| r.clamped))
    })
}

/// Gradient through [`static_kernel_deltas`]: dF/dx into `out_x` and dF/dy
/// into `out_y` from `derivs` = dF/d(delta).
#[pyfunction]
#[pyo3(signature = (x, y, derivs, out_x, out_y, options))]
#[allow(clippy::too_many_arguments)]
pub fn static_kernel_backprop<'py>(
    py: Python<'py>,
    x: Array<'_, 'py>,
    y: Array<'_, 'py>,
    derivs: Array<'_, 'py>,
    out_x: Array<'_, 'py>,
    out_y: Array<'_, 'py>,
    options: StaticKernelArgs,
) -> PyResult<()> {
    let kernel = options.kernel()?;
    with_dtype!(x, "x", |T| {
        let (xa, ya, g) = (input::<T>(x, "x")?, input::<T>(y, "y")?, input::<T>(derivs, "derivs")?);
        let (mut ox, mut oy) = (output::<T>(out_x, "out_x")?, output::<T>(out_y, "out_y")?);
        let (s1, s2) = (path_shape(&xa, "x")?, path_shape(&ya, "y")?);
        let (xs, ys, g) = (numbers(&xa, "x")?, numbers(&ya, "y")?, numbers(&g, "derivs")?);
        let (gx, gy) = (numbers_mut(&mut ox, "out_x")?, numbers_mut(&mut oy, "out_y")?);
        enter(py, || static_kernel::static_kernel_backprop(&kernel, xs, s1, ys, s2, g, -1, Some(gx), Some(gy)))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(
        m,
        sig_kernel,
        sig_kernel_backprop,
        sig_kernel_from_increments,
        sig_kernel_from_increments_backprop,
        static_kernel_deltas,
        static_kernel_backprop,
    )
}
