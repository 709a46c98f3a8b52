//! Errors and argument checks of `memwarden._native`: every exception is built by
//! [`py_err`], and every argument is checked by the `*_arg` helpers here, so a bad
//! argument (a bool or a float where an integer belongs, a negative size, an
//! unknown name) raises `InvalidInput` with `.kind` and `.exit_code`, never a bare
//! `TypeError` or `OverflowError`, and before anything changes.

use memwarden_core::{units, Error, ProcessScope};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

create_exception!(
    _native,
    MemwardenError,
    PyException,
    "Base class of every memwarden error."
);
create_exception!(
    _native,
    NoSuchProcess,
    MemwardenError,
    "The PID does not exist (or exited)."
);
create_exception!(
    _native,
    InvalidInput,
    MemwardenError,
    "An argument that can never be valid."
);
create_exception!(
    _native,
    PermissionDenied,
    MemwardenError,
    "The kernel refused; the message says what grants it."
);
create_exception!(
    _native,
    Unsupported,
    MemwardenError,
    "Not possible on this kernel, cgroup version or platform."
);
create_exception!(
    _native,
    SwapRefused,
    MemwardenError,
    "The swap check refused a pageout; nothing was changed. `.swap_check` holds the verdict with its figures."
);
create_exception!(
    _native,
    Protected,
    MemwardenError,
    "PID 1, kernel threads and zombies are never touched."
);
create_exception!(
    _native,
    HeadroomRefused,
    MemwardenError,
    "The headroom guard refused a load that cannot fit under the memory limit; nothing was loaded. `.refusal` holds the figures."
);
create_exception!(
    _native,
    Ambiguous,
    MemwardenError,
    "A search matched none or several processes."
);

/// The one place a Python exception is made: the class that matches the error's
/// kind, with `.kind` and `.exit_code` set (the CLI's `--json` error fields).
pub(crate) fn py_err(e: Error) -> PyErr {
    let msg = e.to_string();
    let err = match &e {
        Error::NoSuchProcess { .. } => NoSuchProcess::new_err(msg),
        Error::InvalidInput(_) => InvalidInput::new_err(msg),
        Error::PermissionDenied { .. } => PermissionDenied::new_err(msg),
        Error::Unsupported(_) => Unsupported::new_err(msg),
        Error::SwapRefused { .. } => SwapRefused::new_err(msg),
        Error::Protected(_) => Protected::new_err(msg),
        Error::Ambiguous(_) => Ambiguous::new_err(msg),
        Error::HeadroomRefused { .. } => HeadroomRefused::new_err(msg),
        Error::Malformed { .. } | Error::Io { .. } => MemwardenError::new_err(msg),
    };
    Python::attach(|py| {
        let v = err.value(py);
        let _ = v.setattr("kind", e.kind());
        let _ = v.setattr("exit_code", e.exit_code());
    });
    err
}

/// `InvalidInput` with `message`, through [`py_err`].
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    py_err(Error::InvalidInput(message.into()))
}

// ---------------------------------------------------------------------------
// Argument checks
// ---------------------------------------------------------------------------

/// `repr(v)`, shortened, for messages.
pub(crate) fn show(v: &Bound<'_, PyAny>) -> String {
    let r = v
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<unprintable>".into());
    if r.chars().count() > 60 {
        format!("{}...", r.chars().take(57).collect::<String>())
    } else {
        r
    }
}

pub(crate) fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Python's bool or numpy's: never a number here, even though `bool` is an `int`.
pub(crate) fn is_bool(v: &Bound<'_, PyAny>) -> bool {
    if v.is_instance_of::<PyBool>() {
        return true;
    }
    let ty = v.get_type();
    ty.module().is_ok_and(|m| m == "numpy") && ty.name().is_ok_and(|n| n == "bool_" || n == "bool")
}

/// An integer argument in `lo..=hi`: a Python `int` or an object with `__index__`
/// (numpy integers); never a bool, a float or a string. `what` describes the valid
/// values for the message ("a positive PID (1 to 2147483647)").
pub(crate) fn int_arg(
    name: &str,
    v: &Bound<'_, PyAny>,
    lo: i128,
    hi: i128,
    what: &str,
) -> PyResult<i128> {
    if is_bool(v) {
        return Err(invalid(format!(
            "{name} must be {what}, not a bool (got {})",
            show(v)
        )));
    }
    let as_int = if v.is_instance_of::<PyInt>() {
        Some(v.clone())
    } else if !v.is_instance_of::<PyFloat>() && v.hasattr("__index__").unwrap_or(false) {
        v.call_method0("__index__").ok()
    } else {
        None
    };
    let Some(n) = as_int else {
        return Err(invalid(format!(
            "{name} must be {what}, not {} (got {})",
            type_name(v),
            show(v)
        )));
    };
    match n.extract::<i128>() {
        Ok(x) if lo <= x && x <= hi => Ok(x),
        _ => Err(invalid(format!("{name} must be {what}, got {}", show(v)))),
    }
}

/// A process ID: an integer (never a bool or a float) that the core's `parse_pid`
/// accepts (1 to 2^31 - 1).
pub(crate) fn pid_arg(v: &Bound<'_, PyAny>) -> PyResult<i64> {
    let n = int_arg("pid", v, i128::MIN, i128::MAX, "a positive integer PID")?;
    let n = i64::try_from(n).map_err(|_| {
        invalid(format!(
            "{n} is not a valid PID (too large: PIDs are at most {})",
            i32::MAX
        ))
    })?;
    memwarden_core::parse_pid(n).map_err(py_err)?;
    Ok(n)
}

/// A non-negative byte count that also fits u64.
pub(crate) fn bytes_arg(name: &str, v: &Bound<'_, PyAny>, lo: u64) -> PyResult<u64> {
    let what = format!("a whole number of bytes from {lo} to {}", u64::MAX);
    Ok(int_arg(name, v, lo as i128, u64::MAX as i128, &what)? as u64)
}

/// A byte count given as an integer or as a size string ("512M", "1.5G").
pub(crate) fn size_arg(name: &str, v: &Bound<'_, PyAny>, lo: u64) -> PyResult<u64> {
    let n = if v.is_instance_of::<PyString>() {
        let s: String = v.extract()?;
        units::parse_size(&s).map_err(|e| match e {
            Error::InvalidInput(m) => invalid(format!("{name}: {m}")),
            other => py_err(other),
        })?
    } else {
        let what =
            format!("a whole number of bytes ({lo} or more) or a size such as '512M' or '1.5G'");
        int_arg(name, v, lo as i128, u64::MAX as i128, &what)? as u64
    };
    if n < lo {
        return Err(invalid(format!(
            "{name} must be at least {lo} bytes, got {}",
            show(v)
        )));
    }
    Ok(n)
}

/// True or False (Python's or numpy's bool); nothing else, not even 0 or 1.
pub(crate) fn flag_arg(name: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    if is_bool(v) {
        if let Ok(b) = v.extract::<bool>() {
            return Ok(b);
        }
    }
    Err(invalid(format!(
        "{name} must be True or False, not {} (got {})",
        type_name(v),
        show(v)
    )))
}

/// A string.
pub(crate) fn str_arg(name: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_instance_of::<PyString>() {
        return v.extract();
    }
    Err(invalid(format!(
        "{name} must be a string, not {} (got {})",
        type_name(v),
        show(v)
    )))
}

/// A real number in `lo..=hi` (int or float, never a bool, never NaN).
pub(crate) fn number_arg(name: &str, v: &Bound<'_, PyAny>, lo: f64, hi: f64) -> PyResult<f64> {
    let what = format!("a number from {lo} to {hi}");
    if is_bool(v) {
        return Err(invalid(format!(
            "{name} must be {what}, not a bool (got {})",
            show(v)
        )));
    }
    let x = if v.is_instance_of::<PyFloat>() || v.is_instance_of::<PyInt>() {
        v.extract::<f64>().ok()
    } else if v.hasattr("__index__").unwrap_or(false) || v.hasattr("__float__").unwrap_or(false) {
        // numpy scalars
        v.call_method0("__float__")
            .ok()
            .and_then(|f| f.extract::<f64>().ok())
    } else {
        return Err(invalid(format!(
            "{name} must be {what}, not {} (got {})",
            type_name(v),
            show(v)
        )));
    };
    match x {
        Some(x) if !x.is_nan() && lo <= x && x <= hi => Ok(x),
        _ => Err(invalid(format!("{name} must be {what}, got {}", show(v)))),
    }
}

/// Default values of parameters that are validated from Python objects.
pub(crate) fn py_int(v: i64) -> Py<PyAny> {
    Python::attach(|py| v.into_pyobject(py).map(|o| o.into_any().unbind()))
        .unwrap_or_else(|e| match e {})
}

pub(crate) fn py_bool(v: bool) -> Py<PyAny> {
    Python::attach(|py| PyBool::new(py, v).to_owned().into_any().unbind())
}

pub(crate) fn py_str(v: &str) -> Py<PyAny> {
    Python::attach(|py| PyString::new(py, v).into_any().unbind())
}

pub(crate) fn parse_scope(v: &Bound<'_, PyAny>) -> PyResult<ProcessScope> {
    match str_arg("scope", v)?.as_str() {
        "visible" => Ok(ProcessScope::Visible),
        "cgroup" => Ok(ProcessScope::Cgroup),
        other => Err(invalid(format!(
            "scope must be 'visible' or 'cgroup', not '{other}'"
        ))),
    }
}

/// The swap check's names for the Python API: `trim_process(..., force=True,
/// min_swap_free=...)`.
pub(crate) const PY_FORCE_HINT: &str = "pass force=True";
pub(crate) const PY_MARGIN_HINT: &str = "min_swap_free";

pub(crate) fn hint_arg(
    name: &str,
    v: Option<&Bound<'_, PyAny>>,
    default: &str,
) -> PyResult<String> {
    match v {
        None => Ok(default.to_string()),
        Some(v) if v.is_none() => Ok(default.to_string()),
        Some(v) => {
            let s = str_arg(name, v)?;
            if s.trim().is_empty() {
                return Err(invalid(format!("{name} must not be empty")));
            }
            Ok(s)
        }
    }
}
