//! The core's data model as frozen Python classes: one class per struct of
//! `memwarden_core::model`, wrapping it. Attributes are named as the JSON fields
//! (docs/json-schema.md): nested objects are these classes, lists are lists of
//! them, enums are their JSON strings and absent values are None. `to_dict()` is
//! exactly the object the CLI's `--json` prints; `from_dict()` / `from_json()` read
//! one back (saved output, or one built by hand).

use crate::args::{flag_arg, invalid, py_bool, py_err, show, str_arg, type_name};
use memwarden_core::policy::modes::CleanupMode;
use memwarden_core::render::{self, RenderOptions};
use memwarden_core::{
    CgroupMemory, ContainerInfo, ContainerRuntime, EffectiveMemory, Error, GpuDevice, GpuInfo,
    GpuProcess, GpuProcessKind, HeapTrimReport, MemorySource, PageFile, PageoutAdvice,
    PageoutReport, PressureInfo, PressureLevel, ProcessMemory, ProcessScope, Psi, PsiLine,
    PurgeReport, ReclaimReport, Snapshot, StatusLine, Step, SystemMemory, TopProcesses,
};
use memwarden_core::{CommitCharge, SwapAllowance, SwapFinding, SwapVerdict};
use memwarden_core::{Component, GivebackStep, LimitKind, LoadDecision, RefusalCause, WakeReason};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::IntoPyObjectExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Number, Value};

/// A field's value as a Python attribute.
pub(crate) trait ToPy {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

macro_rules! scalars_to_py {
    ($($t:ty),*) => {$(
        impl ToPy for $t {
            fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.clone().into_py_any(py)
            }
        }
    )*};
}
scalars_to_py!(bool, u8, u32, u64, i64, f64, String);

/// Enums cross as their JSON strings ("host", "critical", ...).
macro_rules! enums_to_py {
    ($($t:ty),*) => {$(
        impl ToPy for $t {
            fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                value_to_py(py, &to_value(self)?)
            }
        }
    )*};
}
enums_to_py!(
    ContainerRuntime,
    MemorySource,
    PressureLevel,
    ProcessScope,
    GpuProcessKind,
    PageoutAdvice,
    CleanupMode,
    LimitKind,
    WakeReason,
    Component,
    RefusalCause,
    LoadDecision,
    GivebackStep
);

impl<T: ToPy> ToPy for Option<T> {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Some(v) => v.to_py(py),
            None => Ok(py.None()),
        }
    }
}

impl<T: ToPy> ToPy for Vec<T> {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let items = self
            .iter()
            .map(|v| v.to_py(py))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)?.into_py_any(py)
    }
}

fn to_value<T: Serialize>(v: &T) -> PyResult<Value> {
    serde_json::to_value(v).map_err(|e| {
        py_err(Error::Io {
            context: "cannot serialize the report".into(),
            source: std::io::Error::other(e),
        })
    })
}

/// JSON as Python objects: dict, list, int, float, str, bool, None.
fn value_to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    match v {
        Value::Null => Ok(py.None()),
        Value::Bool(b) => b.into_py_any(py),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_py_any(py),
            (None, Some(i)) => i.into_py_any(py),
            _ => n.as_f64().unwrap_or(f64::NAN).into_py_any(py),
        },
        Value::String(s) => s.into_py_any(py),
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|v| value_to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_py_any(py)
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, v) in m {
                d.set_item(k, value_to_py(py, v)?)?;
            }
            d.into_py_any(py)
        }
    }
}

/// Python objects as JSON, for `from_dict`; `at` names the place for messages.
fn py_to_value(v: &Bound<'_, PyAny>, at: &str) -> PyResult<Value> {
    if v.is_none() {
        Ok(Value::Null)
    } else if v.is_instance_of::<PyBool>() {
        Ok(Value::Bool(v.extract()?))
    } else if v.is_instance_of::<PyInt>() {
        if let Ok(u) = v.extract::<u64>() {
            Ok(Value::from(u))
        } else if let Ok(i) = v.extract::<i64>() {
            Ok(Value::from(i))
        } else {
            Err(invalid(format!("{at}: {} is out of range", show(v))))
        }
    } else if v.is_instance_of::<PyFloat>() {
        Ok(Number::from_f64(v.extract()?).map_or(Value::Null, Value::Number))
    } else if v.is_instance_of::<PyString>() {
        Ok(Value::String(v.extract()?))
    } else if let Ok(d) = v.cast::<PyDict>() {
        let mut m = Map::new();
        for (k, item) in d.iter() {
            let key = str_arg(&format!("{at}: a key"), &k)?;
            let value = py_to_value(&item, &format!("{at}.{key}"))?;
            m.insert(key, value);
        }
        Ok(Value::Object(m))
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items = v
            .try_iter()?
            .enumerate()
            .map(|(i, item)| py_to_value(&item?, &format!("{at}[{i}]")))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Value::Array(items))
    } else {
        Err(invalid(format!(
            "{at}: a {} ({}) is not a JSON value",
            type_name(v),
            show(v)
        )))
    }
}

pub(crate) fn to_dict<T: Serialize>(py: Python<'_>, v: &T) -> PyResult<Py<PyAny>> {
    value_to_py(py, &to_value(v)?)
}

fn from_value<T: DeserializeOwned>(v: Value, name: &str) -> PyResult<T> {
    serde_json::from_value(v).map_err(|e| invalid(format!("not a memwarden {name}: {e}")))
}

pub(crate) fn from_dict<T: DeserializeOwned>(d: &Bound<'_, PyAny>, name: &str) -> PyResult<T> {
    if !d.is_instance_of::<PyDict>() {
        return Err(invalid(format!(
            "{name}.from_dict needs a dict (as to_dict() returns), not {} (got {})",
            type_name(d),
            show(d)
        )));
    }
    from_value(py_to_value(d, name)?, name)
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &Bound<'_, PyAny>, name: &str) -> PyResult<T> {
    let text = str_arg("text", text)?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("not a memwarden {name}: not JSON: {e}")))?;
    if !v.is_object() {
        return Err(invalid(format!(
            "not a memwarden {name}: a JSON object is expected, not {}",
            match v {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )));
    }
    from_value(v, name)
}

/// `Name(a=1, b='x')` from the reprs of the chosen fields.
pub(crate) fn repr_of(
    py: Python<'_>,
    name: &str,
    fields: &[(&str, Py<PyAny>)],
) -> PyResult<String> {
    let parts = fields
        .iter()
        .map(|(k, v)| Ok(format!("{k}={}", v.bind(py).repr()?)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(format!("{name}({})", parts.join(", ")))
}

/// One frozen class wrapping a core struct: a read-only attribute per field (the
/// list must name every field: the destructuring below fails to compile
/// otherwise), `to_dict`, `from_dict`, `from_json`, `==` by value, a `repr` of the
/// fields named in `repr(...)`, and any further methods given in braces.
macro_rules! model {
    (
        $(#[$doc:meta])*
        $cls:ident = $name:literal ($inner:ident) { $($field:ident),* $(,)? }
        repr($($shown:ident),*)
        $({ $($extra:tt)* })?
    ) => {
        $(#[$doc])*
        #[pyclass(frozen, eq, module = "memwarden._native", name = $name)]
        #[derive(PartialEq)]
        pub struct $cls(pub $inner);

        const _: fn(&$inner) = |v| {
            let $inner { $($field: _),* } = v;
        };

        impl ToPy for $inner {
            fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                $cls(self.clone()).into_py_any(py)
            }
        }

        #[pymethods]
        impl $cls {
            $(
                #[getter]
                fn $field(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                    self.0.$field.to_py(py)
                }
            )*

            /// The object as the CLI's `--json` prints it (plain dicts and lists).
            fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                to_dict(py, &self.0)
            }

            /// Read one back from a dict (as `to_dict()` returns); InvalidInput
            /// saying what is wrong otherwise.
            #[classmethod]
            fn from_dict(_cls: &Bound<'_, PyType>, d: &Bound<'_, PyAny>) -> PyResult<Self> {
                from_dict(d, $name).map(Self)
            }

            /// Read one back from JSON text (as `--json` prints it).
            #[classmethod]
            fn from_json(_cls: &Bound<'_, PyType>, text: &Bound<'_, PyAny>) -> PyResult<Self> {
                from_json(text, $name).map(Self)
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                repr_of(py, $name, &[$((stringify!($shown), self.0.$shown.to_py(py)?)),*])
            }

            $($($extra)*)?
        }
    };
}

pub(crate) use model;

model! {
    /// Everything `memwarden check` knows about the machine at one instant.
    PySnapshot = "Snapshot" (Snapshot) {
        schema_version, taken_at_unix_ms, collect_duration_us, kernel, process, system,
        container, effective, pressure, top_processes, gpu, warnings,
    }
    repr(taken_at_unix_ms, effective)
    {
        /// `RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)` ("GB" = 2^30 bytes).
        #[getter]
        fn status_line(&self) -> String {
            render::status_line(&self.0)
        }

        /// The `memwarden check` text report.
        #[pyo3(signature = (color=py_bool(false)), text_signature = "($self, color=False)")]
        fn report(&self, py: Python<'_>, color: Py<PyAny>) -> PyResult<String> {
            let color = flag_arg("color", color.bind(py))?;
            Ok(render::check_report(&self.0, RenderOptions { color }))
        }

        /// The status line and the numbers behind it.
        fn status(&self) -> PyStatusLine {
            PyStatusLine(render::status(&self.0))
        }
    }
}

model! {
    /// Host-wide memory, from /proc/meminfo.
    PySystemMemory = "SystemMemory" (SystemMemory) {
        total_bytes, available_bytes, available_estimated, free_bytes, used_bytes,
        percent_used, buffers_bytes, cached_bytes, shmem_bytes, swap_total_bytes,
        swap_free_bytes, swap_used_bytes, swap_cached_bytes, committed_bytes,
        commit_limit_bytes, page_files,
    }
    repr(total_bytes, available_bytes, percent_used, swap_total_bytes, swap_used_bytes)
}

model! {
    /// A page file (Windows) and the free space of the drive holding it.
    PyPageFile = "PageFile" (PageFile) { path, total_bytes, used_bytes, drive, drive_free_bytes }
    repr(path, total_bytes, used_bytes, drive, drive_free_bytes)
}

model! {
    /// Container runtime and the memory cgroup of the inspected process.
    PyContainerInfo = "ContainerInfo" (ContainerInfo) { detected, runtime, evidence, cgroup }
    repr(detected, runtime, cgroup)
}

model! {
    /// Memory accounting of the process's own cgroup (v1 or v2).
    PyCgroupMemory = "CgroupMemory" (CgroupMemory) {
        version, path, dir, limit_bytes, limit_set_at, high_bytes, usage_bytes,
        working_set_bytes, inactive_file_bytes, anon_bytes, file_bytes, swap_limit_bytes,
        swap_limit_set_at, swap_usage_bytes,
    }
    repr(version, path, limit_bytes, working_set_bytes)
}

model! {
    /// The figures to judge memory by: the container's limit or the host's.
    PyEffectiveMemory = "EffectiveMemory" (EffectiveMemory) {
        source, reason, total_bytes, used_bytes, available_bytes, percent_used,
    }
    repr(source, total_bytes, used_bytes, percent_used)
}

model! {
    /// Memory pressure (PSI) and its plain-words level.
    PyPressureInfo = "PressureInfo" (PressureInfo) { system, cgroup, level, description }
    repr(level, description)
}

model! {
    /// PSI of one file: "some" and, where reported, "full".
    PyPsi = "Psi" (Psi) { some, full }
    repr(some, full)
}

model! {
    /// One PSI line: share of wall time tasks stalled on memory.
    PyPsiLine = "PsiLine" (PsiLine) { avg10, avg60, avg300, total_us }
    repr(avg10, avg60, avg300)
}

model! {
    /// The largest processes by RSS.
    PyTopProcesses = "TopProcesses" (TopProcesses) { scope, scanned, processes }
    repr(scope, scanned)
}

model! {
    /// Memory of one process, from /proc/PID/{status,statm,smaps_rollup}.
    PyProcessMemory = "ProcessMemory" (ProcessMemory) {
        pid, name, cmdline, rss_bytes, rss_anon_bytes, rss_file_bytes, rss_shmem_bytes,
        vms_bytes, swap_bytes, uss_bytes, pss_bytes, swap_pss_bytes,
    }
    repr(pid, name, rss_bytes, swap_bytes)
}

model! {
    /// NVIDIA GPUs and the processes holding their memory.
    PyGpuInfo = "GpuInfo" (GpuInfo) {
        available, unavailable_reason, driver_version, devices, processes, pid_namespace_note,
    }
    repr(available, unavailable_reason, devices)
}

model! {
    /// One GPU as NVML reports it.
    PyGpuDevice = "GpuDevice" (GpuDevice) {
        index, name, uuid, total_bytes, used_bytes, free_bytes, percent_used,
        utilization_gpu_percent, utilization_memory_percent, cuda_ordinal,
    }
    repr(index, name, used_bytes, total_bytes)
}

model! {
    /// A process holding GPU memory, joined with the process table.
    PyGpuProcess = "GpuProcess" (GpuProcess) {
        gpu_index, pid, kind, used_bytes, name, cmdline, visible,
    }
    repr(gpu_index, pid, name, used_bytes)
}

model! {
    /// `memwarden status --json`: the one-line status and the numbers behind it.
    PyStatusLine = "StatusLine" (StatusLine) {
        schema_version, status, ram_used_bytes, ram_total_bytes, ram_percent, ram_source,
        vram_used_bytes, vram_total_bytes, vram_percent, pressure,
    }
    repr(status, pressure)
}

model! {
    /// One step of an action and its outcome ("open : ok").
    PyStep = "Step" (Step) { name, ok, detail }
    repr(name, ok, detail)
}

// The swap check's finding and figures cross as their JSON objects (dicts):
// `{"kind": "short"}`, `{"left_bytes": ..., "limit_bytes": ...}`.
enums_to_py!(SwapFinding, SwapAllowance, CommitCharge);

model! {
    /// The swap check's verdict on a pageout: the finding with its figures, and
    /// `reason`, the verdict worded by the face that asked.
    PySwapVerdict = "SwapVerdict" (SwapVerdict) {
        allowed, forced, swap_free_bytes, needed_bytes, margin_bytes, finding, allowance,
        commit, reason,
    }
    repr(allowed, forced, reason)
    {
        /// The verdict in words, naming the override and the margin as the caller
        /// calls them (the Python API's by default).
        #[pyo3(signature = (force_hint=crate::args::PY_FORCE_HINT, margin_hint=crate::args::PY_MARGIN_HINT))]
        fn text(&self, force_hint: &str, margin_hint: &str) -> String {
            let knobs = render::swap::Knobs {
                force: force_hint.into(),
                margin: margin_hint.into(),
            };
            render::swap::reason(&self.0, &knobs)
        }
    }
}

/// `py_err`, with the figures of a refusal attached: a `SwapRefused` carries
/// `.swap_check`, the verdict (the CLI's `--json` error object has it too).
pub(crate) fn py_err_with_figures(e: Error) -> PyErr {
    let verdict = match &e {
        Error::SwapRefused { verdict, .. } => Some((**verdict).clone()),
        _ => None,
    };
    let err = py_err(e);
    if let Some(v) = verdict {
        Python::attach(|py| -> PyResult<()> { err.value(py).setattr("swap_check", v.to_py(py)?) })
            .ok();
    }
    err
}

model! {
    /// Result of `memwarden trim`: paging a process's idle memory out.
    PyPageoutReport = "PageoutReport" (PageoutReport) {
        schema_version, pid, name, cmdline, advice, steps, ranges_advised, bytes_advised,
        ranges_skipped, rss_before_bytes, rss_after_bytes, rss_anon_before_bytes,
        rss_anon_after_bytes, swap_before_bytes, swap_after_bytes, freed_bytes,
        duration_ms, swap_check,
    }
    repr(pid, name, advice, freed_bytes)
    {
        /// The `memwarden trim` text report.
        fn text(&self) -> String {
            render::pageout_report(&self.0, RenderOptions::default())
        }

        /// What moved to swap: VmSwap's growth (0 when it shrank meanwhile).
        #[getter]
        fn moved_to_swap_bytes(&self) -> u64 {
            self.0.moved_to_swap_bytes()
        }
    }
}

model! {
    /// Result of `memwarden purge-cache`.
    PyPurgeReport = "PurgeReport" (PurgeReport) {
        schema_version, steps, available_before_bytes, available_after_bytes,
        cached_before_bytes, cached_after_bytes, free_before_bytes, free_after_bytes,
        cache_dropped_bytes, duration_ms,
    }
    repr(cache_dropped_bytes, duration_ms)
    {
        /// The `memwarden purge-cache` text report.
        fn text(&self) -> String {
            render::purge_report(&self.0, RenderOptions::default())
        }
    }
}

model! {
    /// Result of `memwarden reclaim` (cgroup v2 memory.reclaim).
    PyReclaimReport = "ReclaimReport" (ReclaimReport) {
        schema_version, cgroup_dir, requested_bytes, fully_reclaimed, usage_before_bytes,
        usage_after_bytes, reclaimed_bytes, duration_ms,
    }
    repr(cgroup_dir, requested_bytes, reclaimed_bytes)
    {
        /// The `memwarden reclaim` text report.
        fn text(&self) -> String {
            render::reclaim_report(&self.0, RenderOptions::default())
        }
    }
}

model! {
    /// Result of returning this process's free heap to the OS (malloc_trim,
    /// HeapCompact).
    PyHeapTrimReport = "HeapTrimReport" (HeapTrimReport) {
        schema_version, pid, call, resident, released, rss_before_bytes, rss_after_bytes,
        freed_bytes, duration_ms,
    }
    repr(pid, released, freed_bytes)
    {
        /// `malloc_trim: RSS 1.234 GB -> 1.100 GB`.
        #[getter]
        fn line(&self) -> String {
            render::heap_trim_detail(&self.0)
        }
    }
}

/// Adds every class to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySnapshot>()?;
    m.add_class::<PySystemMemory>()?;
    m.add_class::<PyPageFile>()?;
    m.add_class::<PyContainerInfo>()?;
    m.add_class::<PyCgroupMemory>()?;
    m.add_class::<PyEffectiveMemory>()?;
    m.add_class::<PyPressureInfo>()?;
    m.add_class::<PyPsi>()?;
    m.add_class::<PyPsiLine>()?;
    m.add_class::<PyTopProcesses>()?;
    m.add_class::<PyProcessMemory>()?;
    m.add_class::<PyGpuInfo>()?;
    m.add_class::<PyGpuDevice>()?;
    m.add_class::<PyGpuProcess>()?;
    m.add_class::<PyStatusLine>()?;
    m.add_class::<PyStep>()?;
    m.add_class::<PySwapVerdict>()?;
    m.add_class::<PyPageoutReport>()?;
    m.add_class::<PyPurgeReport>()?;
    m.add_class::<PyReclaimReport>()?;
    m.add_class::<PyHeapTrimReport>()?;
    Ok(())
}
