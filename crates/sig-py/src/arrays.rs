//! Borrowing the NumPy arrays the Python layer hands over, and the one
//! dtype dispatch every op makes.
//!
//! The Python layer has already checked shapes and made every array an
//! aligned, C-contiguous float64 or float32 array of one dtype per call;
//! these helpers only borrow them (no copies) and turn anything unexpected
//! into a TypeError or ValueError naming the argument, never a panic.

use std::os::raw::c_int;

use numpy::npyffi::{NPY_ARRAY_ALIGNED, NPY_ARRAY_C_CONTIGUOUS, NPY_TYPES};
use numpy::{Element, IxDyn, PyArray, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
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
                // (a crude estimate of the work: most of these ops cost a few
                // multiply-adds per number they read or write)
                let work = 8 * ($first.len() $(+ $input.len())* $(+ $output.len())+);
                $crate::error::enter_sized(py, work, || $body)
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

/// `obj` when it is an array the quick paths read as it is: exactly an
/// `np.ndarray` (no subclass), float64 or float32 in native byte order,
/// aligned, C-contiguous, with at least `min_ndim` axes; with its dtype.
/// None for anything else, and the caller then takes the checked path,
/// which converts what it can and names what is wrong.
pub fn plain_input<'a, 'py>(obj: &'a Bound<'py, PyAny>, min_ndim: usize) -> Option<(&'a Bound<'py, PyUntypedArray>, Dtype)> {
    if !obj.is_exact_instance_of::<PyUntypedArray>() {
        return None;
    }
    // SAFETY: checked just above to be an ndarray.
    let array = unsafe { obj.cast_unchecked::<PyUntypedArray>() };
    // SAFETY: the array object stays alive (borrowed) while its header is read.
    let flags = unsafe { (*array.as_array_ptr()).fields.flags };
    let wanted = NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED;
    if flags & wanted != wanted || array.ndim() < min_ndim {
        return None;
    }
    let descr = array.dtype();
    if descr.is_native_byteorder() == Some(false) {
        return None;
    }
    match descr.num() {
        n if n == NPY_TYPES::NPY_DOUBLE as c_int => Some((array, Dtype::F64)),
        n if n == NPY_TYPES::NPY_FLOAT as c_int => Some((array, Dtype::F32)),
        _ => None,
    }
}

/// The numbers of an array [`plain_input`] accepted, as `T` (its dtype).
///
/// # Safety
/// `array` must have passed [`plain_input`] with the dtype of `T`, and
/// nothing may write to it while the slice lives: the callers hold the GIL
/// throughout (the work is small enough to run inline), so no Python code
/// runs meanwhile.
pub unsafe fn plain_numbers<'a, T: Real>(array: &'a Bound<'_, PyUntypedArray>) -> &'a [T] {
    let len = array.len();
    if len == 0 {
        return &[]; // the data pointer of an empty array may be null
    }
    std::slice::from_raw_parts((*array.as_array_ptr()).fields.data as *const T, len)
}

/// A new uninitialised C-contiguous array for a quick path's output, which
/// the core then fills entirely (an error drops it unseen).
pub fn new_output<'py, T: Real>(py: Python<'py>, dims: Vec<usize>) -> Bound<'py, PyArrayDyn<T>> {
    // SAFETY: a fresh array; every float bit pattern is a valid T, and no
    // one reads it before the core has written it.
    unsafe { PyArray::<T, IxDyn>::new(py, dims, false) }
}

/// The numbers of an array made by [`new_output`], for writing.
///
/// # Safety
/// `array` is a fresh array from [`new_output`] no one else has seen.
// (the numbers live in NumPy's memory, not in the handle borrowed here)
#[allow(clippy::mut_from_ref)]
pub unsafe fn new_output_numbers<'a, T: Real>(array: &'a Bound<'_, PyArrayDyn<T>>) -> &'a mut [T] {
    array.as_slice_mut().expect("a new array is C-contiguous")
}
