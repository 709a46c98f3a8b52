//! `memwarden._native`: the one native module under the Python package. Reports
//! cross the boundary as JSON text (serde here, `json.loads` there), so the Python
//! objects have exactly the documented schema (docs/json-schema.md). Long calls
//! release the GIL.
//!
//! Every argument is validated here, in one place: functions take Python objects
//! and check them with the `*_arg` helpers below, so a bad argument (a bool or a
//! float where an integer belongs, a negative size, an unknown name) raises
//! `InvalidInput` with `.kind` and `.exit_code`, never a bare `TypeError` or
//! `OverflowError`, and before anything changes. The same checks are exported
//! (`check_int`, `check_flag`, ...) for the Python layer and the ComfyUI nodes.
//! Every exception is built by [`py_err`].

use memwarden_core::actions::{self, PageoutOptions, PurgeOptions};
use memwarden_core::guard::GuardKnobs;
use memwarden_core::render::{self, RenderOptions};
use memwarden_core::{units, Error, PageoutAdvice, ProcessScope, Snapshot, SnapshotOptions};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
use serde::Serialize;

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
    GuardRefused,
    MemwardenError,
    "The swap guard refused; nothing was changed."
);
create_exception!(
    _native,
    Protected,
    MemwardenError,
    "PID 1, kernel threads and zombies are never touched."
);
create_exception!(
    _native,
    Ambiguous,
    MemwardenError,
    "A search matched none or several processes."
);

/// The one place a Python exception is made: the class that matches the error's
/// kind, with `.kind` and `.exit_code` set (the CLI's `--json` error fields).
fn py_err(e: Error) -> PyErr {
    let msg = e.to_string();
    let err = match &e {
        Error::NoSuchProcess { .. } => NoSuchProcess::new_err(msg),
        Error::InvalidInput(_) => InvalidInput::new_err(msg),
        Error::PermissionDenied { .. } => PermissionDenied::new_err(msg),
        Error::Unsupported(_) => Unsupported::new_err(msg),
        Error::GuardRefused(_) => GuardRefused::new_err(msg),
        Error::Protected(_) => Protected::new_err(msg),
        Error::Ambiguous(_) => Ambiguous::new_err(msg),
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
fn invalid(message: impl Into<String>) -> PyErr {
    py_err(Error::InvalidInput(message.into()))
}

fn to_json<T: Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| {
        py_err(Error::Io {
            context: "cannot serialize the report".into(),
            source: std::io::Error::other(e),
        })
    })
}

// ---------------------------------------------------------------------------
// Argument checks
// ---------------------------------------------------------------------------

/// `repr(v)`, shortened, for messages.
fn show(v: &Bound<'_, PyAny>) -> String {
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

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Python's bool or numpy's: never a number here, even though `bool` is an `int`.
fn is_bool(v: &Bound<'_, PyAny>) -> bool {
    if v.is_instance_of::<PyBool>() {
        return true;
    }
    let ty = v.get_type();
    ty.module().is_ok_and(|m| m == "numpy") && ty.name().is_ok_and(|n| n == "bool_" || n == "bool")
}

/// An integer argument in `lo..=hi`: a Python `int` or an object with `__index__`
/// (numpy integers); never a bool, a float or a string. `what` describes the valid
/// values for the message ("a positive PID (1 to 2147483647)").
fn int_arg(name: &str, v: &Bound<'_, PyAny>, lo: i128, hi: i128, what: &str) -> PyResult<i128> {
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
fn pid_arg(v: &Bound<'_, PyAny>) -> PyResult<i64> {
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
fn bytes_arg(name: &str, v: &Bound<'_, PyAny>, lo: u64) -> PyResult<u64> {
    let what = format!("a whole number of bytes from {lo} to {}", u64::MAX);
    Ok(int_arg(name, v, lo as i128, u64::MAX as i128, &what)? as u64)
}

/// A byte count given as an integer or as a size string ("512M", "1.5G").
fn size_arg(name: &str, v: &Bound<'_, PyAny>, lo: u64) -> PyResult<u64> {
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
fn flag_arg(name: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
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
fn str_arg(name: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
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
fn number_arg(name: &str, v: &Bound<'_, PyAny>, lo: f64, hi: f64) -> PyResult<f64> {
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
fn py_int(v: i64) -> Py<PyAny> {
    Python::attach(|py| v.into_pyobject(py).map(|o| o.into_any().unbind()))
        .unwrap_or_else(|e| match e {})
}

fn py_bool(v: bool) -> Py<PyAny> {
    Python::attach(|py| PyBool::new(py, v).to_owned().into_any().unbind())
}

fn py_str(v: &str) -> Py<PyAny> {
    Python::attach(|py| PyString::new(py, v).into_any().unbind())
}

fn parse_scope(v: &Bound<'_, PyAny>) -> PyResult<ProcessScope> {
    match str_arg("scope", v)?.as_str() {
        "visible" => Ok(ProcessScope::Visible),
        "cgroup" => Ok(ProcessScope::Cgroup),
        other => Err(invalid(format!(
            "scope must be 'visible' or 'cgroup', not '{other}'"
        ))),
    }
}

fn snapshot_from_json(v: &Bound<'_, PyAny>) -> PyResult<Snapshot> {
    let text = str_arg("snapshot", v)?;
    serde_json::from_str(&text).map_err(|e| invalid(format!("not a memwarden snapshot: {e}")))
}

/// The guard's wording for the Python API: `trim_process(..., force=True,
/// min_swap_free=...)`.
const PY_FORCE_HINT: &str = "pass force=True";
const PY_MARGIN_HINT: &str = "min_swap_free";

fn hint_arg(name: &str, v: Option<&Bound<'_, PyAny>>, default: &str) -> PyResult<String> {
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

// ---------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------

/// Take a snapshot; returns its JSON (schema "snapshot").
#[pyfunction]
#[pyo3(signature = (pid=None, detailed=py_bool(false), top=py_int(10), scope=py_str("visible"), gpu=py_bool(true)))]
fn snapshot_json(
    py: Python<'_>,
    pid: Option<Bound<'_, PyAny>>,
    detailed: Py<PyAny>,
    top: Py<PyAny>,
    scope: Py<PyAny>,
    gpu: Py<PyAny>,
) -> PyResult<String> {
    let pid = match pid {
        Some(p) if !p.is_none() => Some(pid_arg(&p)? as u32),
        _ => None,
    };
    let detailed = flag_arg("detailed", detailed.bind(py))?;
    let top = int_arg(
        "top",
        top.bind(py),
        0,
        u32::MAX as i128,
        "a count of processes (0 or more)",
    )? as usize;
    let scope = parse_scope(scope.bind(py))?;
    let gpu = flag_arg("gpu", gpu.bind(py))?;
    let snap = py
        .detach(|| {
            memwarden_core::collect(&SnapshotOptions {
                pid,
                detailed,
                top,
                scope,
                gpu,
            })
        })
        .map_err(py_err)?;
    to_json(&snap)
}

/// The `memwarden check` text report of a snapshot (JSON from snapshot_json).
#[pyfunction]
#[pyo3(signature = (snapshot, color=py_bool(false)))]
fn render_check(py: Python<'_>, snapshot: Bound<'_, PyAny>, color: Py<PyAny>) -> PyResult<String> {
    let snap = snapshot_from_json(&snapshot)?;
    let color = flag_arg("color", color.bind(py))?;
    Ok(render::check_report(&snap, RenderOptions { color }))
}

/// `RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)` of a snapshot.
#[pyfunction]
fn render_status_line(snapshot: Bound<'_, PyAny>) -> PyResult<String> {
    Ok(render::status_line(&snapshot_from_json(&snapshot)?))
}

/// The status numbers (schema "status") of a snapshot.
#[pyfunction]
fn status_of(snapshot: Bound<'_, PyAny>) -> PyResult<String> {
    to_json(&render::status(&snapshot_from_json(&snapshot)?))
}

/// Bytes in binary units: 1536 -> "1.50 KiB".
#[pyfunction]
fn format_bytes(n: Bound<'_, PyAny>) -> PyResult<String> {
    Ok(units::format_bytes(bytes_arg("n", &n, 0)?))
}

/// "512M", "1.5G" -> bytes.
#[pyfunction]
fn parse_size(s: Bound<'_, PyAny>) -> PyResult<u64> {
    units::parse_size(&str_arg("size", &s)?).map_err(py_err)
}

/// Page another process's idle memory out to swap; JSON of the pageout report.
/// `force_hint` / `margin_hint` are how the guard's refusal names the override and
/// the margin setting (default: this API's `force=True` and `min_swap_free`).
#[pyfunction]
#[pyo3(signature = (
    pid,
    cold=py_bool(false),
    min_swap_free=py_int(memwarden_core::guard::DEFAULT_MIN_SWAP_FREE as i64),
    force=py_bool(false),
    *,
    force_hint=None,
    margin_hint=None,
))]
#[allow(clippy::too_many_arguments)]
fn pageout_json(
    py: Python<'_>,
    pid: Bound<'_, PyAny>,
    cold: Py<PyAny>,
    min_swap_free: Py<PyAny>,
    force: Py<PyAny>,
    force_hint: Option<Bound<'_, PyAny>>,
    margin_hint: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let pid = pid_arg(&pid)?;
    let opts = PageoutOptions {
        advice: if flag_arg("cold", cold.bind(py))? {
            PageoutAdvice::Cold
        } else {
            PageoutAdvice::Pageout
        },
        min_swap_free: size_arg("min_swap_free", min_swap_free.bind(py), 0)?,
        force: flag_arg("force", force.bind(py))?,
        knobs: GuardKnobs {
            force: hint_arg("force_hint", force_hint.as_ref(), PY_FORCE_HINT)?,
            margin: hint_arg("margin_hint", margin_hint.as_ref(), PY_MARGIN_HINT)?,
        },
    };
    let r = py
        .detach(|| actions::pageout(pid, &opts, &mut |_, _| {}))
        .map_err(py_err)?;
    to_json(&r)
}

/// The `memwarden trim` text report of a pageout report (JSON).
#[pyfunction]
fn render_pageout(report: Bound<'_, PyAny>) -> PyResult<String> {
    let text = str_arg("report", &report)?;
    let r = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("not a memwarden pageout report: {e}")))?;
    Ok(render::pageout_report(&r, RenderOptions::default()))
}

/// sync + drop the page cache (root); JSON of the purge report.
#[pyfunction]
#[pyo3(signature = (slab=py_bool(false), compact=py_bool(false)))]
fn purge_cache_json(py: Python<'_>, slab: Py<PyAny>, compact: Py<PyAny>) -> PyResult<String> {
    let opts = PurgeOptions {
        slab: flag_arg("slab", slab.bind(py))?,
        compact: flag_arg("compact", compact.bind(py))?,
    };
    let r = py.detach(|| actions::purge_cache(opts)).map_err(py_err)?;
    to_json(&r)
}

/// cgroup v2 memory.reclaim of this process's cgroup; JSON of the reclaim report.
/// `nbytes`: an integer (1 or more) or a size string ("512M").
#[pyfunction]
fn reclaim_json(py: Python<'_>, nbytes: Bound<'_, PyAny>) -> PyResult<String> {
    let n = size_arg("nbytes", &nbytes, 1)?;
    let r = py.detach(|| actions::reclaim(n)).map_err(py_err)?;
    to_json(&r)
}

/// Return this process's free heap to the OS (malloc_trim); JSON of the report.
#[pyfunction]
fn trim_own_heap_json(py: Python<'_>) -> PyResult<String> {
    let r = py.detach(actions::trim_own_heap).map_err(py_err)?;
    to_json(&r)
}

/// Memory of one process; JSON (schema of `process` in a snapshot).
#[pyfunction]
#[pyo3(signature = (pid, detailed=py_bool(false)))]
fn process_json(py: Python<'_>, pid: Bound<'_, PyAny>, detailed: Py<PyAny>) -> PyResult<String> {
    let pid = pid_arg(&pid)?;
    let detailed = flag_arg("detailed", detailed.bind(py))?;
    to_json(&memwarden_core::process_memory(pid, detailed).map_err(py_err)?)
}

/// Run the `memwarden` command line with `argv` (program name first); returns the
/// exit code and never exits the interpreter.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Bound<'_, PyAny>) -> PyResult<i32> {
    let argv: Vec<String> = match argv.extract() {
        Ok(a) if !argv.is_instance_of::<PyString>() => a,
        _ => {
            return Err(invalid(format!(
                "argv must be a list of strings, got {}",
                show(&argv)
            )))
        }
    };
    Ok(py.detach(|| memwarden_cli::run(argv)))
}

// --- the checks, for the Python layer and the nodes --------------------------

/// `value` as an int in `min..=max` (never a bool or a float), else InvalidInput
/// naming `name`.
#[pyfunction]
#[pyo3(signature = (name, value, min=None, max=None))]
fn check_int(
    name: &str,
    value: Bound<'_, PyAny>,
    min: Option<i64>,
    max: Option<i64>,
) -> PyResult<i64> {
    let lo = min.unwrap_or(i64::MIN);
    let hi = max.unwrap_or(i64::MAX);
    let what = match (min, max) {
        (Some(lo), Some(hi)) => format!("an integer from {lo} to {hi}"),
        (Some(lo), None) => format!("an integer, {lo} or more"),
        (None, Some(hi)) => format!("an integer, {hi} or less"),
        (None, None) => "an integer".to_string(),
    };
    Ok(int_arg(name, &value, lo as i128, hi as i128, &what)? as i64)
}

/// `value` as a float in `min..=max` (int or float; never a bool or NaN).
#[pyfunction]
fn check_number(name: &str, value: Bound<'_, PyAny>, min: f64, max: f64) -> PyResult<f64> {
    number_arg(name, &value, min, max)
}

/// `value` as True/False (never 0/1 or a string).
#[pyfunction]
fn check_flag(name: &str, value: Bound<'_, PyAny>) -> PyResult<bool> {
    flag_arg(name, &value)
}

/// `value` as bytes: an int (`min` or more) or a size string ("512M").
#[pyfunction]
#[pyo3(signature = (name, value, min=0))]
fn check_size(name: &str, value: Bound<'_, PyAny>, min: u64) -> PyResult<u64> {
    size_arg(name, &value, min)
}

/// `value` if it is one of `choices` (exactly), else InvalidInput listing them.
#[pyfunction]
fn check_choice(name: &str, value: Bound<'_, PyAny>, choices: Vec<String>) -> PyResult<String> {
    let list = choices
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    if value.is_instance_of::<PyString>() {
        let s: String = value.extract()?;
        if choices.contains(&s) {
            return Ok(s);
        }
    }
    Err(invalid(format!(
        "{name} must be one of {list}, got {}",
        show(&value)
    )))
}

/// An `InvalidInput` exception (with `.kind`, `.exit_code`) carrying `message`, for
/// the Python layer to raise.
#[pyfunction]
fn invalid_input(py: Python<'_>, message: &str) -> Py<PyAny> {
    invalid(message).into_value(py).into_any()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SCHEMA_VERSION", memwarden_core::SCHEMA_VERSION)?;
    m.add(
        "DEFAULT_MIN_SWAP_FREE",
        memwarden_core::guard::DEFAULT_MIN_SWAP_FREE,
    )?;
    // The guard's names for its override and margin in each front end: the CLI's
    // (what `python -m memwarden trim` prints) and this API's defaults.
    let cli = GuardKnobs::cli();
    m.add("CLI_GUARD_HINTS", (cli.force, cli.margin))?;
    m.add("PY_GUARD_HINTS", (PY_FORCE_HINT, PY_MARGIN_HINT))?;
    for (name, ty) in [
        ("MemwardenError", py.get_type::<MemwardenError>()),
        ("NoSuchProcess", py.get_type::<NoSuchProcess>()),
        ("InvalidInput", py.get_type::<InvalidInput>()),
        ("PermissionDenied", py.get_type::<PermissionDenied>()),
        ("Unsupported", py.get_type::<Unsupported>()),
        ("GuardRefused", py.get_type::<GuardRefused>()),
        ("Protected", py.get_type::<Protected>()),
        ("Ambiguous", py.get_type::<Ambiguous>()),
    ] {
        m.add(name, ty)?;
    }
    m.add_function(wrap_pyfunction!(snapshot_json, m)?)?;
    m.add_function(wrap_pyfunction!(render_check, m)?)?;
    m.add_function(wrap_pyfunction!(render_status_line, m)?)?;
    m.add_function(wrap_pyfunction!(status_of, m)?)?;
    m.add_function(wrap_pyfunction!(format_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(pageout_json, m)?)?;
    m.add_function(wrap_pyfunction!(render_pageout, m)?)?;
    m.add_function(wrap_pyfunction!(purge_cache_json, m)?)?;
    m.add_function(wrap_pyfunction!(reclaim_json, m)?)?;
    m.add_function(wrap_pyfunction!(trim_own_heap_json, m)?)?;
    m.add_function(wrap_pyfunction!(process_json, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(check_int, m)?)?;
    m.add_function(wrap_pyfunction!(check_number, m)?)?;
    m.add_function(wrap_pyfunction!(check_flag, m)?)?;
    m.add_function(wrap_pyfunction!(check_size, m)?)?;
    m.add_function(wrap_pyfunction!(check_choice, m)?)?;
    m.add_function(wrap_pyfunction!(invalid_input, m)?)?;
    Ok(())
}
