//! Borrowing the NumPy arrays the Python layer hands over, and the one
//! dtype dispatch every op makes.
//!
//! The Python layer has already checked shapes and made every array an
//! aligned, C-contiguous float64 or float32 array of one dtype per call;
//! these helpers only borrow them (no copies) and turn anything unexpected
//! into a TypeError or ValueError naming the argument, never a panic.

use std::os::raw::c_int;

use numpy::npyffi::NPY_TYPES;
use numpy::{Element, PyArrayDescrMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// The float types the core computes in.
pub trait Real: Element + sig_core::Float {
    const NAME: &'static str;
}

impl Real for f64 {
    const NAME: &'static str = "float64";
}

impl Real for f32 {
    const NAME: &'static str = "float32";
}

/// The dtype of a call, read from its first array argument.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
}

/// The dtype of `array`, which must be a float64 or float32 ndarray (read
/// from its type number: the borrows that follow check it in full).
pub fn dtype_of(array: &Bound<'_, PyAny>, name: &str) -> PyResult<Dtype> {
    let untyped = array
        .cast::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a NumPy array, got {}", type_name(array))))?;
    let dtype = untyped.dtype();
    match dtype.num() {
        n if n == NPY_TYPES::NPY_DOUBLE as c_int => Ok(Dtype::F64),
        n if n == NPY_TYPES::NPY_FLOAT as c_int => Ok(Dtype::F32),
        _ => Err(PyTypeError::new_err(format!("{name} must have dtype float32 or float64, got {dtype}"))),
    }
}

/// Runs `$body` once with `$T` the Rust float type of `$array`'s dtype:
/// the one dtype dispatch of an op (the body is written once and compiled
/// for both types).
macro_rules! with_dtype {
    ($array:expr, $name:expr, |$T:ident| $body:expr) => {
        match $crate::arrays::dtype_of($array, $name)? {
            $crate::arrays::Dtype::F64 => {
                type $T = f64;
                $body
            }
            $crate::arrays::Dtype::F32 => {
                type $T = f32;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;

/// Defines a binding whose arrays the core reads flat: the inputs, then the
/// outputs (allocated by the caller), then scalar options, all positional
/// (or by keyword). The body runs with the GIL released, each array name
/// bound to its numbers (`&[T]`, or `&mut [T]` for outputs), in the dtype
/// of the first input:
///
/// ```ignore
/// flat_op! {
///     /// `out = sig1 (x) sig2`, pairwise.
///     fn sig_combine(sig1, sig2 => out; dimension: usize, degree: usize, scalar_term: bool, n_jobs: i64) {
///         algebra::sig_combine(sig1, sig2, dimension, degree, scalar_term, n_jobs, out)
///     }
/// }
/// ```
macro_rules! flat_op {
    (
        $(#[$doc:meta])*
        fn $name:ident($first:ident $(, $input:ident)* => $($output:ident),+ ; $($opt:ident : $ty:ty),* $(,)?) $body:block
    ) => {
        $(#[$doc])*
        #[pyfunction]
        #[pyo3(signature = ($first, $($input,)* $($output,)+ $($opt),*))]
        #[allow(clippy::too_many_arguments)]
        pub fn $name<'py>(
            py: Python<'py>,
            $first: &Bound<'py, PyAny>,
            $($input: &Bound<'py, PyAny>,)*
            $($output: &Bound<'py, PyAny>,)+
            $($opt: $ty),*
        ) -> PyResult<()> {
            $crate::arrays::with_dtype!($first, stringify!($first), |T| {
                let $first = $crate::arrays::input::<T>($first, stringify!($first))?;
                $(let $input = $crate::arrays::input::<T>($input, stringify!($input))?;)*
                $(let mut $output = $crate::arrays::output::<T>($output, stringify!($output))?;)+
                let $first = $crate::arrays::numbers(&$first, stringify!($first))?;
                $(let $input = $crate::arrays::numbers(&$input, stringify!($input))?;)*
                $(let $output = $crate::arrays::numbers_mut(&mut $output, stringify!($output))?;)+
                $crate::error::enter(py, || $body)
            })
        }
    };
}
pub(crate) use flat_op;

/// Adds the named `#[pyfunction]`s to a module.
macro_rules! add_functions {
    ($module:expr, $($f:ident),+ $(,)?) => {{
        $($module.add_function(wrap_pyfunction!($f, $module)?)?;)+
        Ok(())
    }};
}
pub(crate) use add_functions;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

fn wrong_dtype<T: Real>(array: &Bound<'_, PyAny>, name: &str) -> PyErr {
    match array.cast::<PyUntypedArray>() {
        Ok(a) => PyTypeError::new_err(format!("{name} must have dtype {} like the other arrays of this call, got {}", T::NAME, a.dtype())),
        Err(_) => PyTypeError::new_err(format!("{name} must be a NumPy array of dtype {}, got {}", T::NAME, type_name(array))),
    }
}

/// Borrows an input array of the call's dtype.
pub fn input<'py, T: Real>(array: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    array.extract::<PyReadonlyArrayDyn<'py, T>>().map_err(|_| wrong_dtype::<T>(array, name))
}

/// Borrows an optional input array.
pub fn optional_input<'py, T: Real>(array: Option<&Bound<'py, PyAny>>, name: &str) -> PyResult<Option<PyReadonlyArrayDyn<'py, T>>> {
    array.map(|a| input(a, name)).transpose()
}

/// Borrows an output array (allocated by the Python layer) for writing.
pub fn output<'py, T: Real>(array: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadwriteArrayDyn<'py, T>> {
    array.extract::<PyReadwriteArrayDyn<'py, T>>().map_err(|_| wrong_dtype::<T>(array, name))
}

/// Borrows an optional output array.
pub fn optional_output<'py, T: Real>(array: Option<&Bound<'py, PyAny>>, name: &str) -> PyResult<Option<PyReadwriteArrayDyn<'py, T>>> {
    array.map(|a| output(a, name)).transpose()
}

/// The numbers of a borrowed input.
pub fn numbers<'a, T: Real>(array: &'a PyReadonlyArrayDyn<'_, T>, name: &str) -> PyResult<&'a [T]> {
    array.as_slice().map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

/// The numbers of a borrowed output.
pub fn numbers_mut<'a, T: Real>(array: &'a mut PyReadwriteArrayDyn<'_, T>, name: &str) -> PyResult<&'a mut [T]> {
    array.as_slice_mut().map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

/// `(batch, length, dim)` of a rank-3 array of paths.
pub fn path_shape<T: Real>(array: &PyReadonlyArrayDyn<'_, T>, name: &str) -> PyResult<sig_core::PathShape> {
    match *array.shape() {
        [batch, length, dim] => Ok(sig_core::PathShape::new(batch, length, dim)),
        ref other => Err(PyValueError::new_err(format!("{name} must have shape (batch, length, dim), got {other:?}"))),
    }
}

/// The shape of a borrowed input.
pub fn dims<'a, T: Real>(array: &'a PyReadonlyArrayDyn<'_, T>) -> &'a [usize] {
    array.shape()
}

/// The shape of a borrowed output.
pub fn dims_mut<'a, T: Real>(array: &'a PyReadwriteArrayDyn<'_, T>) -> &'a [usize] {
    array.shape()
}
