//! `memwarden._native`: the one native module under the Python package. Reports
//! cross the boundary as JSON text (serde here, `json.loads` there), so the Python
//! objects have exactly the documented schema (docs/json-schema.md). Long calls
//! release the GIL.

use memwarden_core::actions::{self, PageoutOptions, PurgeOptions};
use memwarden_core::render::{self, RenderOptions};
use memwarden_core::{units, Error, PageoutAdvice, ProcessScope, Snapshot, SnapshotOptions};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
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

fn to_json<T: Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| MemwardenError::new_err(e.to_string()))
}

fn parse_scope(scope: &str) -> PyResult<ProcessScope> {
    match scope {
        "visible" => Ok(ProcessScope::Visible),
        "cgroup" => Ok(ProcessScope::Cgroup),
        other => Err(InvalidInput::new_err(format!(
            "scope must be 'visible' or 'cgroup', not '{other}'"
        ))),
    }
}

fn snapshot_from_json(text: &str) -> PyResult<Snapshot> {
    serde_json::from_str(text)
        .map_err(|e| InvalidInput::new_err(format!("not a memwarden snapshot: {e}")))
}

/// Take a snapshot; returns its JSON (schema "snapshot").
#[pyfunction]
#[pyo3(signature = (pid=None, detailed=false, top=10, scope="visible", gpu=true))]
fn snapshot_json(
    py: Python<'_>,
    pid: Option<i64>,
    detailed: bool,
    top: usize,
    scope: &str,
    gpu: bool,
) -> PyResult<String> {
    let scope = parse_scope(scope)?;
    let pid = pid
        .map(memwarden_core::parse_pid)
        .transpose()
        .map_err(py_err)?;
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
#[pyo3(signature = (snapshot, color=false))]
fn render_check(snapshot: &str, color: bool) -> PyResult<String> {
    Ok(render::check_report(
        &snapshot_from_json(snapshot)?,
        RenderOptions { color },
    ))
}

/// `RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)` of a snapshot.
#[pyfunction]
fn render_status_line(snapshot: &str) -> PyResult<String> {
    Ok(render::status_line(&snapshot_from_json(snapshot)?))
}

/// The status numbers (schema "status") of a snapshot.
#[pyfunction]
fn status_of(snapshot: &str) -> PyResult<String> {
    to_json(&render::status(&snapshot_from_json(snapshot)?))
}

/// Bytes in binary units: 1536 -> "1.50 KiB".
#[pyfunction]
fn format_bytes(n: u64) -> String {
    units::format_bytes(n)
}

/// "512M", "1.5G" -> bytes.
#[pyfunction]
fn parse_size(s: &str) -> PyResult<u64> {
    units::parse_size(s).map_err(py_err)
}

/// Page another process's idle memory out to swap; JSON of the pageout report.
#[pyfunction]
#[pyo3(signature = (pid, cold=false, min_swap_free=memwarden_core::guard::DEFAULT_MIN_SWAP_FREE, force=false))]
fn pageout_json(
    py: Python<'_>,
    pid: i64,
    cold: bool,
    min_swap_free: u64,
    force: bool,
) -> PyResult<String> {
    let opts = PageoutOptions {
        advice: if cold {
            PageoutAdvice::Cold
        } else {
            PageoutAdvice::Pageout
        },
        min_swap_free,
        force,
    };
    let r = py
        .detach(|| actions::pageout(pid, &opts, &mut |_, _| {}))
        .map_err(py_err)?;
    to_json(&r)
}

/// The `memwarden trim` text report of a pageout report (JSON).
#[pyfunction]
fn render_pageout(report: &str) -> PyResult<String> {
    let r = serde_json::from_str(report).map_err(|e| InvalidInput::new_err(e.to_string()))?;
    Ok(render::pageout_report(&r, RenderOptions::default()))
}

/// sync + drop the page cache (root); JSON of the purge report.
#[pyfunction]
#[pyo3(signature = (slab=false, compact=false))]
fn purge_cache_json(py: Python<'_>, slab: bool, compact: bool) -> PyResult<String> {
    let r = py
        .detach(|| actions::purge_cache(PurgeOptions { slab, compact }))
        .map_err(py_err)?;
    to_json(&r)
}

/// cgroup v2 memory.reclaim of this process's cgroup; JSON of the reclaim report.
#[pyfunction]
fn reclaim_json(py: Python<'_>, nbytes: u64) -> PyResult<String> {
    let r = py.detach(|| actions::reclaim(nbytes)).map_err(py_err)?;
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
#[pyo3(signature = (pid, detailed=false))]
fn process_json(pid: i64, detailed: bool) -> PyResult<String> {
    to_json(&memwarden_core::process_memory(pid, detailed).map_err(py_err)?)
}

/// Run the `memwarden` command line with `argv` (program name first); returns the
/// exit code and never exits the interpreter.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| memwarden_cli::run(argv))
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
    Ok(())
}
