//! The options records of `sigrs._options`, as Rust structs.
//!
//! Each record is a NamedTuple, so it is read by position (a few
//! nanoseconds a field; by attribute it would cost more than the rest of a
//! small call). The field lists must therefore be those of the Python
//! records, in order: `_native.record_fields()` reports them and a test
//! compares them with `sigrs._options`.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyTuple};

/// Defines `$name`, read from the record `$record` of `sigrs._options`.
macro_rules! record {
    ($(#[$doc:meta])* $name:ident = $record:literal { $($field:ident: $ty:ty),+ $(,)? }) => {
        $(#[$doc])*
        #[allow(dead_code)] // the whole record, also the fields the core does not use
        pub struct $name {
            $(pub $field: $ty,)+
        }

        impl $name {
            /// The Python record's name and fields, in order.
            pub const RECORD: (&'static str, &'static [&'static str]) = ($record, &[$(stringify!($field)),+]);
        }

        impl<'a, 'py> FromPyObject<'a, 'py> for $name {
            type Error = PyErr;

            fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
                let fields = $crate::records::fields(obj, Self::RECORD)?;
                let mut items = fields.iter_borrowed();
                Ok($name {
                    $($field: {
                        let item = items.next().expect("length checked");
                        item.extract().map_err(|e| $crate::records::field_error(Self::RECORD.0, stringify!($field), std::any::type_name::<$ty>(), &item, e))?
                    },)+
                })
            }
        }
    };
}
pub(crate) use record;

/// `obj` as a tuple of at least the record's length.
pub fn fields<'a, 'py>(obj: Borrowed<'a, 'py, PyAny>, (record, names): (&str, &[&str])) -> PyResult<Borrowed<'a, 'py, PyTuple>> {
    let tuple = obj
        .cast::<PyTuple>()
        .map_err(|_| PyTypeError::new_err(format!("options must be a sigrs._options.{record}")))?;
    if tuple.len() != names.len() {
        return Err(PyTypeError::new_err(format!("options must be a sigrs._options.{record} of {} fields, got {}", names.len(), tuple.len())));
    }
    Ok(tuple)
}

/// The error of a field that does not convert: a number out of the
/// native type's range is a ValueError naming the argument (the field has
/// its name), anything else a TypeError.
pub fn field_error(record: &str, field: &str, native: &str, value: &Borrowed<'_, '_, PyAny>, err: PyErr) -> PyErr {
    if err.is_instance_of::<PyOverflowError>(value.py()) {
        let shown = value.repr().map_or_else(|_| "a number out of range".to_string(), |r| r.to_string());
        PyValueError::new_err(format!("{field} must fit in a {native}, got {shown}"))
    } else {
        PyTypeError::new_err(format!("{record}.{field}: {err}"))
    }
}

/// `{record name: [field names]}` of every record the binding reads.
#[pyfunction]
pub fn record_fields(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for (name, fields) in [
        crate::signature::SigArgs::RECORD,
        crate::transform::TransformArgs::RECORD,
        crate::algebra::AlgebraArgs::RECORD,
        crate::logsig::LogSigArgs::RECORD,
        crate::coef::CoefArgs::RECORD,
        crate::kernel::KernelArgs::RECORD,
        crate::kernel::StaticKernelArgs::RECORD,
    ] {
        out.set_item(name, fields.to_vec())?;
    }
    Ok(out)
}

// The options of a quick path, read only when they are of the types the
// Python layer's checks would pass unchanged; None otherwise (the caller
// then takes the checked path, whose checks name what is wrong).

/// `obj` when it is `True` or `False` (not `np.bool_`: the checks convert it).
pub fn plain_bool(obj: &Bound<'_, PyAny>) -> Option<bool> {
    obj.cast_exact::<PyBool>().ok().map(|b| b.is_true())
}

/// `obj` when it is exactly an `int` in `lo..=hi`.
pub fn plain_int(obj: &Bound<'_, PyAny>, lo: i64, hi: i64) -> Option<i64> {
    let value: i64 = obj.cast_exact::<PyInt>().ok()?.extract().ok()?;
    (lo..=hi).contains(&value).then_some(value)
}

/// `obj` when it is exactly a finite `float`.
pub fn plain_float(obj: &Bound<'_, PyAny>) -> Option<f64> {
    let value = obj.cast_exact::<PyFloat>().ok()?.value();
    value.is_finite().then_some(value)
}

/// `n_jobs` when the checks would keep it as it is: a non-zero `int` within
/// the cores either way (a larger one is clamped with a warning there).
pub fn plain_n_jobs(obj: &Bound<'_, PyAny>) -> Option<i64> {
    let cores = sig_core::batch::available_cores() as i64;
    plain_int(obj, -cores, cores).filter(|&n| n != 0)
}
