//! `memwarden._native`: the one native module under the Python package. Reports
//! cross the boundary as frozen, typed classes wrapping the core's structs
//! ([`models`]); their attributes and `to_dict()` follow the documented schema
//! (docs/json-schema.md). Long calls release the GIL.
//!
//! Every argument is validated here, in one place ([`args`]): functions take
//! Python objects and check them with the `*_arg` helpers, so a bad argument raises
//! `InvalidInput` with `.kind` and `.exit_code` before anything changes. The same
//! checks are exported (`check_int`, `check_flag`, ...) for the Python layer and
//! the ComfyUI nodes.

mod args;
mod cleanup;
mod headroom;
mod leak;
mod manager;
mod metrics;
mod models;
mod nodes;
mod policy;
mod requests;

use args::{
    bytes_arg, flag_arg, hint_arg, int_arg, invalid, number_arg, parse_scope, pid_arg, py_bool,
    py_err, py_int, py_str, show, size_arg, str_arg, Ambiguous, HeadroomRefused, InvalidInput,
    MemwardenError, NoSuchProcess, PermissionDenied, Protected, SwapRefused, Unsupported,
    PY_FORCE_HINT, PY_MARGIN_HINT,
};
use memwarden_core::act::{self, PageoutOptions, PurgeOptions};
use memwarden_core::render;
use memwarden_core::{units, PageoutAdvice, ProcessScope, Snapshot, SnapshotOptions};
use models::{
    PyHeapTrimReport, PyPageoutReport, PyProcessMemory, PyPurgeReport, PyReclaimReport, PySnapshot,
    PyStatusLine,
};
use pyo3::prelude::*;
use pyo3::types::PyString;

// ---------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------

/// A snapshot of the machine with only what the status needs (no process list).
fn status_snapshot(py: Python<'_>, gpu: Py<PyAny>) -> PyResult<Snapshot> {
    let gpu = flag_arg("gpu", gpu.bind(py))?;
    py.detach(|| {
        memwarden_core::collect(&SnapshotOptions {
            pid: None,
            detailed: false,
            top: 0,
            scope: ProcessScope::Visible,
            gpu,
        })
    })
    .map_err(py_err)
}

/// Take a snapshot: the process `pid` (default: this one), system, container
/// limit, pressure, the `top` processes by RSS and the GPUs.
///
/// `detailed` adds USS/PSS; `scope="cgroup"` limits the top list to this process's
/// cgroup. Raises NoSuchProcess for a `pid` that does not exist and InvalidInput
/// for any bad argument (a bool or float `pid`, a negative `top`, an unknown
/// `scope`).
#[pyfunction]
#[pyo3(signature = (pid=None, *, detailed=py_bool(false), top=py_int(10), scope=py_str("visible"), gpu=py_bool(true)), text_signature = "(pid=None, *, detailed=False, top=10, scope='visible', gpu=True)")]
fn snapshot(
    py: Python<'_>,
    pid: Option<Bound<'_, PyAny>>,
    detailed: Py<PyAny>,
    top: Py<PyAny>,
    scope: Py<PyAny>,
    gpu: Py<PyAny>,
) -> PyResult<PySnapshot> {
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
    let opts = SnapshotOptions {
        pid,
        detailed,
        top,
        scope,
        gpu,
    };
    let snap = py
        .detach(|| memwarden_core::collect(&opts))
        .map_err(py_err)?;
    Ok(PySnapshot(snap))
}

/// The one-line status and its numbers (RAM uses the container limit if tighter).
#[pyfunction]
#[pyo3(signature = (gpu=py_bool(true)), text_signature = "(gpu=True)")]
fn status(py: Python<'_>, gpu: Py<PyAny>) -> PyResult<PyStatusLine> {
    Ok(PyStatusLine(render::status(&status_snapshot(py, gpu)?)))
}

/// `RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)` ("GB" = 2^30 bytes).
#[pyfunction]
#[pyo3(signature = (gpu=py_bool(true)), text_signature = "(gpu=True)")]
fn status_line(py: Python<'_>, gpu: Py<PyAny>) -> PyResult<String> {
    Ok(render::status_line(&status_snapshot(py, gpu)?))
}

/// Bytes in binary units: `format_bytes(1536) == "1.50 KiB"`.
///
/// Raises InvalidInput for anything but a whole number of bytes (0 or more).
#[pyfunction]
fn format_bytes(n: Bound<'_, PyAny>) -> PyResult<String> {
    Ok(units::format_bytes(bytes_arg("n", &n, 0)?))
}

/// `freed 1.234 GB` for a measured change in bytes (positive = freed); growth reads
/// `freed 0.000 GB (grew 0.012 GB)`, never `-0.000`.
#[pyfunction]
fn freed_phrase(freed_bytes: i64) -> String {
    render::freed_phrase(freed_bytes)
}

/// A cleanup's report in words (`report`: the dict of memwarden.cleanup's
/// CleanupReport): its steps, then CLEANUP RESULTS.
#[pyfunction]
fn cleanup_text(report: Bound<'_, PyAny>) -> PyResult<String> {
    let r: memwarden_core::CleanupSummary = models::from_dict(&report, "CleanupReport")?;
    Ok(render::cleanup_text(&r))
}

/// What the external helper named `name` printed (`trim --pid P --json`) and the
/// status it exited with, judged by the core: its PageoutReport, or a tuple
/// (error, kind, exit_code, swap_check) saying what it refused or what was wrong.
#[pyfunction]
fn helper_answer(
    py: Python<'_>,
    name: &str,
    stdout: &str,
    stderr: &str,
    status: i32,
) -> PyResult<Py<PyAny>> {
    use pyo3::IntoPyObjectExt;
    match memwarden_core::parse::helper::helper_answer(name, stdout, stderr, status) {
        Ok(r) => PyPageoutReport(r).into_py_any(py),
        Err(e) => (
            e.error,
            e.kind,
            e.exit_code,
            e.swap_check.map(models::PySwapVerdict),
        )
            .into_py_any(py),
    }
}

/// How paging this process out went (`attempt`: a dict of the core's
/// PageoutAttempt, tagged by "outcome"): whether the step went as it may, and its
/// parts of the OS-level trim's line.
#[pyfunction]
fn pageout_attempt(attempt: Bound<'_, PyAny>) -> PyResult<(bool, Vec<String>)> {
    let a: memwarden_core::PageoutAttempt = models::from_dict(&attempt, "PageoutAttempt")?;
    Ok((a.ok(), render::pageout_attempt(&a)))
}

/// Releasing torch's CUDA caches in one line (`report`: the dict of
/// memwarden.cleanup's TorchCacheReport).
#[pyfunction]
fn torch_cache_detail(report: Bound<'_, PyAny>) -> PyResult<String> {
    let r: memwarden_core::TorchCacheSummary = models::from_dict(&report, "TorchCacheReport")?;
    Ok(render::torch_cache_detail(&r))
}

/// Releasing torch's CUDA caches, a line per device (named by NVML index and UUID
/// where `gpus`, a snapshot's GpuDevice list, knows its CUDA ordinal), then the total.
#[pyfunction]
#[pyo3(signature = (report, gpus=Vec::new()))]
fn torch_cache_lines(
    report: Bound<'_, PyAny>,
    gpus: Vec<PyRef<'_, models::PyGpuDevice>>,
) -> PyResult<Vec<String>> {
    let r: memwarden_core::TorchCacheSummary = models::from_dict(&report, "TorchCacheReport")?;
    let gpus: Vec<memwarden_core::GpuDevice> = gpus.iter().map(|g| g.0.clone()).collect();
    Ok(render::torch_cache_lines(&r, &gpus))
}

/// `"512M"` / `"1.5G"` / `"4096"` -> bytes (binary suffixes).
///
/// Raises InvalidInput for a string that is not a size, and for a non-string.
#[pyfunction]
fn parse_size(s: Bound<'_, PyAny>) -> PyResult<u64> {
    units::parse_size(&str_arg("size", &s)?).map_err(py_err)
}

/// Page the idle memory of `pid` out to swap (`memwarden trim`), behind the swap
/// check: free swap must cover what is paged out plus `min_swap_free` (bytes, or a
/// size such as `"512M"`). Raises SwapRefused (nothing changed, `.swap_check` the
/// verdict) when swap is short, naming `force=True` and `min_swap_free`;
/// InvalidInput for a bad argument. `force_hint` / `margin_hint` are how the
/// verdict names the override and the margin instead (a front end passes its own
/// settings' names).
#[pyfunction]
#[pyo3(signature = (
    pid,
    *,
    cold=py_bool(false),
    min_swap_free=py_int(memwarden_core::policy::swap::DEFAULT_MIN_SWAP_FREE as i64),
    force=py_bool(false),
    force_hint=None,
    margin_hint=None,
), text_signature = "(pid, *, cold=False, min_swap_free=DEFAULT_MIN_SWAP_FREE, force=False, force_hint=None, margin_hint=None)")]
#[allow(clippy::too_many_arguments)]
fn trim_process(
    py: Python<'_>,
    pid: Bound<'_, PyAny>,
    cold: Py<PyAny>,
    min_swap_free: Py<PyAny>,
    force: Py<PyAny>,
    force_hint: Option<Bound<'_, PyAny>>,
    margin_hint: Option<Bound<'_, PyAny>>,
) -> PyResult<PyPageoutReport> {
    let pid = pid_arg(&pid)?;
    let opts = PageoutOptions {
        advice: if flag_arg("cold", cold.bind(py))? {
            PageoutAdvice::Cold
        } else {
            PageoutAdvice::Pageout
        },
        min_swap_free: size_arg("min_swap_free", min_swap_free.bind(py), 0)?,
        force: flag_arg("force", force.bind(py))?,
        knobs: memwarden_core::render::swap::Knobs {
            force: hint_arg("force_hint", force_hint.as_ref(), PY_FORCE_HINT)?,
            margin: hint_arg("margin_hint", margin_hint.as_ref(), PY_MARGIN_HINT)?,
        },
    };
    let r = py
        .detach(|| act::pageout(pid, &opts, &mut |_, _| {}))
        .map_err(models::py_err_with_figures)?;
    Ok(PyPageoutReport(r))
}

/// sync + drop the page cache (needs root and a writable /proc/sys); `slab` also
/// drops dentries and inodes, `compact` compacts memory afterwards. Windows
/// (needs Administrator): flush the modified list and purge the low-priority
/// standby list; `slab` purges the whole standby list, `compact` empties every
/// working set first.
#[pyfunction]
#[pyo3(signature = (*, slab=py_bool(false), compact=py_bool(false)), text_signature = "(*, slab=False, compact=False)")]
fn purge_cache(py: Python<'_>, slab: Py<PyAny>, compact: Py<PyAny>) -> PyResult<PyPurgeReport> {
    let opts = PurgeOptions {
        slab: flag_arg("slab", slab.bind(py))?,
        compact: flag_arg("compact", compact.bind(py))?,
    };
    let r = py.detach(|| act::purge_cache(opts)).map_err(py_err)?;
    Ok(PyPurgeReport(r))
}

/// cgroup v2 `memory.reclaim` of this process's cgroup: `nbytes` (1 or more, or a
/// size such as `"512M"`).
#[pyfunction]
fn reclaim(py: Python<'_>, nbytes: Bound<'_, PyAny>) -> PyResult<PyReclaimReport> {
    let n = size_arg("nbytes", &nbytes, 1)?;
    let r = py.detach(|| act::reclaim(n)).map_err(py_err)?;
    Ok(PyReclaimReport(r))
}

/// Return this process's freed heap to the OS (glibc `malloc_trim`).
#[pyfunction]
fn trim_heap(py: Python<'_>) -> PyResult<PyHeapTrimReport> {
    let r = py.detach(act::trim_own_heap).map_err(py_err)?;
    Ok(PyHeapTrimReport(r))
}

/// RSS (anon/file/shmem), VMS, swap and, if `detailed`, USS/PSS of `pid`
/// (default: this process). Raises InvalidInput for a `pid` that is not a
/// positive int (a bool is never a PID), NoSuchProcess when there is none.
#[pyfunction]
#[pyo3(signature = (pid=None, detailed=py_bool(false)), text_signature = "(pid=None, detailed=False)")]
fn process_memory(
    py: Python<'_>,
    pid: Option<Bound<'_, PyAny>>,
    detailed: Py<PyAny>,
) -> PyResult<PyProcessMemory> {
    let pid = match pid {
        Some(p) if !p.is_none() => pid_arg(&p)?,
        _ => i64::from(std::process::id()),
    };
    let detailed = flag_arg("detailed", detailed.bind(py))?;
    let p = py
        .detach(|| memwarden_core::process_memory(pid, detailed))
        .map_err(py_err)?;
    Ok(PyProcessMemory(p))
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
    m.add("HELPER_SETUP", render::HELPER_SETUP)?;
    m.add(
        "DEFAULT_MIN_SWAP_FREE",
        memwarden_core::policy::swap::DEFAULT_MIN_SWAP_FREE,
    )?;
    // The swap check's names for its override and margin in this API (what
    // `SwapVerdict.text()` says by default).
    m.add("PY_SWAP_HINTS", (PY_FORCE_HINT, PY_MARGIN_HINT))?;
    for (name, ty) in [
        ("MemwardenError", py.get_type::<MemwardenError>()),
        ("NoSuchProcess", py.get_type::<NoSuchProcess>()),
        ("InvalidInput", py.get_type::<InvalidInput>()),
        ("PermissionDenied", py.get_type::<PermissionDenied>()),
        ("Unsupported", py.get_type::<Unsupported>()),
        ("SwapRefused", py.get_type::<SwapRefused>()),
        ("Protected", py.get_type::<Protected>()),
        ("Ambiguous", py.get_type::<Ambiguous>()),
        ("HeadroomRefused", py.get_type::<HeadroomRefused>()),
    ] {
        m.add(name, ty)?;
    }
    models::register(m)?;
    policy::register(m)?;
    cleanup::register(m)?;
    nodes::register(m)?;
    requests::register(m)?;
    manager::register(m)?;
    metrics::register(m)?;
    leak::register(m)?;
    headroom::register(m)?;
    m.add_function(wrap_pyfunction!(snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(status, m)?)?;
    m.add_function(wrap_pyfunction!(status_line, m)?)?;
    m.add_function(wrap_pyfunction!(freed_phrase, m)?)?;
    m.add_function(wrap_pyfunction!(cleanup_text, m)?)?;
    m.add_function(wrap_pyfunction!(pageout_attempt, m)?)?;
    m.add_function(wrap_pyfunction!(helper_answer, m)?)?;
    m.add_function(wrap_pyfunction!(torch_cache_detail, m)?)?;
    m.add_function(wrap_pyfunction!(torch_cache_lines, m)?)?;
    m.add_function(wrap_pyfunction!(process_memory, m)?)?;
    m.add_function(wrap_pyfunction!(trim_process, m)?)?;
    m.add_function(wrap_pyfunction!(purge_cache, m)?)?;
    m.add_function(wrap_pyfunction!(reclaim, m)?)?;
    m.add_function(wrap_pyfunction!(trim_heap, m)?)?;
    m.add_function(wrap_pyfunction!(format_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(check_int, m)?)?;
    m.add_function(wrap_pyfunction!(check_number, m)?)?;
    m.add_function(wrap_pyfunction!(check_flag, m)?)?;
    m.add_function(wrap_pyfunction!(check_size, m)?)?;
    m.add_function(wrap_pyfunction!(check_choice, m)?)?;
    m.add_function(wrap_pyfunction!(invalid_input, m)?)?;
    Ok(())
}
