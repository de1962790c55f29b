//! Signature kernels by the Goursat PDE, and their gradients (`sig_core::kernel`).
//!
//! `dyadic_order` is `(order of path1, order of path2)`; `static_kernel` is
//! `(name, parameters)` of a built-in static kernel, computed in the core.
//! A user-written static kernel's double increments go through the
//! `*_from_increments` functions instead.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sig_core::kernel::{self, DyadicOrder, Increments, KernelGrad, KernelOut, KernelShape};
use sig_core::static_kernel::{self, StaticKernel};
use sig_core::PathTransform;

use crate::arrays::{dims, input, numbers, numbers_mut, optional_input, optional_output, output, path_shape, with_dtype};
use crate::error::enter;

type Array<'a, 'py> = &'a Bound<'py, PyAny>;

/// The built-in static kernel that `(name, parameters)` names.
fn static_kernel_of((name, params): &(String, Vec<f64>)) -> PyResult<StaticKernel> {
    let kernel = match (name.as_str(), params.as_slice()) {
        ("linear", &[factor]) => StaticKernel::Linear { factor },
        ("rbf", &[sigma]) => StaticKernel::Rbf { sigma },
        ("polynomial", &[degree, gamma, scale]) => StaticKernel::Polynomial { degree, gamma, scale },
        ("matern12", &[sigma]) => StaticKernel::Matern12 { sigma },
        ("matern32", &[sigma]) => StaticKernel::Matern32 { sigma },
        ("matern52", &[sigma]) => StaticKernel::Matern52 { sigma },
        ("rational_quadratic", &[sigma, alpha]) => StaticKernel::RationalQuadratic { sigma, alpha },
        _ => {
            return Err(PyValueError::new_err(format!(
                "static_kernel must name a built-in kernel with its parameters (linear [factor], rbf [sigma], polynomial \
                 [degree, gamma, scale], matern12/32/52 [sigma], rational_quadratic [sigma, alpha]), got ({name:?}, {params:?})"
            )))
        }
    };
    kernel.validate().map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(kernel)
}

fn orders((first, second): (u32, u32)) -> DyadicOrder {
    DyadicOrder { first, second }
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
#[pyo3(signature = (path1, path2, out, dyadic_order, static_kernel, time_aug, lead_lag, end_time, return_grid, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_kernel<'py>(
    py: Python<'py>,
    path1: Array<'_, 'py>,
    path2: Array<'_, 'py>,
    out: Array<'_, 'py>,
    dyadic_order: (u32, u32),
    static_kernel: (String, Vec<f64>),
    time_aug: bool,
    lead_lag: bool,
    end_time: f64,
    return_grid: bool,
    n_jobs: i64,
) -> PyResult<bool> {
    let kernel = static_kernel_of(&static_kernel)?;
    with_dtype!(path1, "path1", |T| {
        let (p1, p2, mut o) = (input::<T>(path1, "path1")?, input::<T>(path2, "path2")?, output::<T>(out, "out")?);
        let (s1, s2) = (path_shape(&p1, "path1")?, path_shape(&p2, "path2")?);
        let transform = PathTransform { time_aug, lead_lag, end_time };
        let shape = KernelShape { batch: s1.batch, length1: transform.out_length(s1.length), length2: transform.out_length(s2.length), order: orders(dyadic_order) };
        let (p1, p2, o) = (numbers(&p1, "path1")?, numbers(&p2, "path2")?, numbers_mut(&mut o, "out")?);
        let inc = Increments::Paths { paths1: p1, paths2: p2, shape1: s1, shape2: s2, transform, kernel };
        enter(py, || kernel::sig_kernel(&inc, shape, n_jobs, out_of(o, return_grid)).map(|report| report.clamped))
    })
}

/// Gradient through [`sig_kernel`] into `out1` and/or `out2` (the paths'
/// shapes); `derivs` is dF/dk `(B,)` or, with `grid_derivs`, dF/d(grid).
#[pyfunction]
#[pyo3(signature = (path1, path2, derivs, k_grid, out1, out2, dyadic_order, static_kernel, time_aug, lead_lag, end_time, grid_derivs, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_kernel_backprop<'py>(
    py: Python<'py>,
    path1: Array<'_, 'py>,
    path2: Array<'_, 'py>,
    derivs: Array<'_, 'py>,
    k_grid: Option<Array<'_, 'py>>,
    out1: Option<Array<'_, 'py>>,
    out2: Option<Array<'_, 'py>>,
    dyadic_order: (u32, u32),
    static_kernel: (String, Vec<f64>),
    time_aug: bool,
    lead_lag: bool,
    end_time: f64,
    grid_derivs: bool,
    n_jobs: i64,
) -> PyResult<()> {
    let kernel = static_kernel_of(&static_kernel)?;
    with_dtype!(path1, "path1", |T| {
        let (p1, p2, g) = (input::<T>(path1, "path1")?, input::<T>(path2, "path2")?, input::<T>(derivs, "derivs")?);
        let kg = optional_input::<T>(k_grid, "k_grid")?;
        let (mut o1, mut o2) = (optional_output::<T>(out1, "out1")?, optional_output::<T>(out2, "out2")?);
        let (s1, s2) = (path_shape(&p1, "path1")?, path_shape(&p2, "path2")?);
        let transform = PathTransform { time_aug, lead_lag, end_time };
        let shape = KernelShape { batch: s1.batch, length1: transform.out_length(s1.length), length2: transform.out_length(s2.length), order: orders(dyadic_order) };
        let (p1, p2, g) = (numbers(&p1, "path1")?, numbers(&p2, "path2")?, numbers(&g, "derivs")?);
        let kg = kg.as_ref().map(|a| numbers(a, "k_grid")).transpose()?;
        let grad1 = o1.as_mut().map(|a| numbers_mut(a, "out1")).transpose()?;
        let grad2 = o2.as_mut().map(|a| numbers_mut(a, "out2")).transpose()?;
        let inc = Increments::Paths { paths1: p1, paths2: p2, shape1: s1, shape2: s2, transform, kernel };
        enter(py, || kernel::sig_kernel_backprop(&inc, shape, g, grid_derivs, kg, n_jobs, KernelGrad::Paths { grad1, grad2 }))
    })
}

/// Kernels from given double increments `delta` `(B, n1, n2)` (a
/// user-written static kernel's), into `out` as in [`sig_kernel`].
#[pyfunction]
#[pyo3(signature = (delta, out, dyadic_order, return_grid, n_jobs))]
pub fn sig_kernel_from_increments<'py>(py: Python<'py>, delta: Array<'_, 'py>, out: Array<'_, 'py>, dyadic_order: (u32, u32), return_grid: bool, n_jobs: i64) -> PyResult<()> {
    with_dtype!(delta, "delta", |T| {
        let (d, mut o) = (input::<T>(delta, "delta")?, output::<T>(out, "out")?);
        let shape = increments_shape(dims(&d), dyadic_order)?;
        let (d, o) = (numbers(&d, "delta")?, numbers_mut(&mut o, "out")?);
        enter(py, || kernel::sig_kernel(&Increments::Given(d), shape, n_jobs, out_of(o, return_grid)).map(|_| ()))
    })
}

/// Gradient through [`sig_kernel_from_increments`]: dF/d(delta) into `out` `(B, n1, n2)`.
#[pyfunction]
#[pyo3(signature = (delta, derivs, k_grid, out, dyadic_order, grid_derivs, n_jobs))]
#[allow(clippy::too_many_arguments)]
pub fn sig_kernel_from_increments_backprop<'py>(
    py: Python<'py>,
    delta: Array<'_, 'py>,
    derivs: Array<'_, 'py>,
    k_grid: Option<Array<'_, 'py>>,
    out: Array<'_, 'py>,
    dyadic_order: (u32, u32),
    grid_derivs: bool,
    n_jobs: i64,
) -> PyResult<()> {
    with_dtype!(delta, "delta", |T| {
        let (d, g, mut o) = (input::<T>(delta, "delta")?, input::<T>(derivs, "derivs")?, output::<T>(out, "out")?);
        let kg = optional_input::<T>(k_grid, "k_grid")?;
        let shape = increments_shape(dims(&d), dyadic_order)?;
        let (d, g, o) = (numbers(&d, "delta")?, numbers(&g, "derivs")?, numbers_mut(&mut o, "out")?);
        let kg = kg.as_ref().map(|a| numbers(a, "k_grid")).transpose()?;
        enter(py, || kernel::sig_kernel_backprop(&Increments::Given(d), shape, g, grid_derivs, kg, n_jobs, KernelGrad::Increments(o)))
    })
}

/// A built-in static kernel's double increments of `x` `(B, L1, d)` and `y`
/// `(B, L2, d)` into `out` `(B, L1 - 1, L2 - 1)`; true when a polynomial
/// kernel clamped a negative base.
#[pyfunction]
#[pyo3(signature = (static_kernel, x, y, out))]
pub fn static_kernel_deltas<'py>(py: Python<'py>, static_kernel: (String, Vec<f64>), x: Array<'_, 'py>, y: Array<'_, 'py>, out: Array<'_, 'py>) -> PyResult<bool> {
    let kernel = static_kernel_of(&static_kernel)?;
    with_dtype!(x, "x", |T| {
        let (xa, ya, mut o) = (input::<T>(x, "x")?, input::<T>(y, "y")?, output::<T>(out, "out")?);
        let (s1, s2) = (path_shape(&xa, "x")?, path_shape(&ya, "y")?);
        let (xs, ys, o) = (numbers(&xa, "x")?, numbers(&ya, "y")?, numbers_mut(&mut o, "out")?);
        enter(py, || static_kernel::static_kernel_deltas(&kernel, xs, s1, ys, s2, -1, o).map(|report| report.clamped))
    })
}

/// Gradient through [`static_kernel_deltas`]: dF/dx into `out_x` and/or
/// dF/dy into `out_y` from `derivs` = dF/d(delta).
#[pyfunction]
#[pyo3(signature = (static_kernel, x, y, derivs, out_x, out_y))]
#[allow(clippy::too_many_arguments)]
pub fn static_kernel_backprop<'py>(
    py: Python<'py>,
    static_kernel: (String, Vec<f64>),
    x: Array<'_, 'py>,
    y: Array<'_, 'py>,
    derivs: Array<'_, 'py>,
    out_x: Option<Array<'_, 'py>>,
    out_y: Option<Array<'_, 'py>>,
) -> PyResult<()> {
    let kernel = static_kernel_of(&static_kernel)?;
    with_dtype!(x, "x", |T| {
        let (xa, ya, g) = (input::<T>(x, "x")?, input::<T>(y, "y")?, input::<T>(derivs, "derivs")?);
        let (mut ox, mut oy) = (optional_output::<T>(out_x, "out_x")?, optional_output::<T>(out_y, "out_y")?);
        let (s1, s2) = (path_shape(&xa, "x")?, path_shape(&ya, "y")?);
        let (xs, ys, g) = (numbers(&xa, "x")?, numbers(&ya, "y")?, numbers(&g, "derivs")?);
        let gx = ox.as_mut().map(|a| numbers_mut(a, "out_x")).transpose()?;
        let gy = oy.as_mut().map(|a| numbers_mut(a, "out_y")).transpose()?;
        enter(py, || static_kernel::static_kernel_backprop(&kernel, xs, s1, ys, s2, g, -1, gx, gy))
    })
}

fn increments_shape(shape: &[usize], dyadic_order: (u32, u32)) -> PyResult<KernelShape> {
    match *shape {
        [batch, n1, n2] => Ok(KernelShape { batch, length1: n1 + 1, length2: n2 + 1, order: orders(dyadic_order) }),
        ref other => Err(PyValueError::new_err(format!("delta must have shape (batch, length1 - 1, length2 - 1), got {other:?}"))),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sig_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_backprop, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_from_increments, m)?)?;
    m.add_function(wrap_pyfunction!(sig_kernel_from_increments_backprop, m)?)?;
    m.add_function(wrap_pyfunction!(static_kernel_deltas, m)?)?;
    m.add_function(wrap_pyfunction!(static_kernel_backprop, m)?)?;
    Ok(())
}
