//! The options records of `sigrs._options`, as Rust structs.
//!
//! Each record is a NamedTuple, so it is read by position (a few
//! nanoseconds a field; by attribute it would cost more than the rest of a
//! small call). The field lists must therefore be those of the Python
//! records, in order: `_native.record_fields()` reports them and a test
//! compares them with `sigrs._options`.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

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
