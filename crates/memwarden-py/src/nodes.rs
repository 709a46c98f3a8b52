//! The seed nodes' reports for `memwarden.comfy.nodes`: the nodes validate their
//! inputs and run what must run in ComfyUI's process; what they decide from a
//! snapshot and every line they show come from the core (`render::nodes`).

use memwarden_core::policy::threshold::{Limits, Usage};
use memwarden_core::policy::{pressure, trigger::HistoryEntry};
use memwarden_core::render::{self, nodes, RenderOptions};
use pyo3::prelude::*;

use crate::models::PySnapshot;
use crate::policy::{PyHistoryEntry, PyPressureReport};

/// The Memory Monitor's run on `snap`: (report, warning, the pressure report). The
/// report is the snapshot's (or, not `detailed`, its status line), the pressure
/// and what to do; the warning is usage at or above `warning_threshold` percent.
#[pyfunction]
fn monitor_report(
    snap: PyRef<'_, PySnapshot>,
    warning_threshold: f64,
    detailed: bool,
) -> (String, bool, PyPressureReport) {
    let s = &snap.0;
    let body = if detailed {
        render::check_report(s, RenderOptions::default())
    } else {
        render::status_line(s)
    };
    let limits = Limits {
        ram: warning_threshold,
        vram: warning_threshold,
    };
    let warning = Usage::of(s).over(limits, 0.0);
    let p = pressure::advise(s);
    let report = nodes::monitor_report(&body, &p, warning.then_some(warning_threshold));
    (report, warning, PyPressureReport(p))
}

/// The Unified Memory Manager's report: `snap` (its report when `monitoring` and
/// `detailed`) and its GPU holders, whether the optimizer `performed` and why
/// (`reason`), the cleanup's report, and the optimizer's `history`, dated
/// `utc_offset_s` seconds east of UTC.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // one per part of the seed's report
fn manager_node_report(
    snap: PyRef<'_, PySnapshot>,
    detailed: bool,
    monitoring: bool,
    performed: bool,
    reason: &str,
    cleanup_text: Option<&str>,
    history: Vec<PyRef<'_, PyHistoryEntry>>,
    utc_offset_s: i64,
) -> String {
    let s = &snap.0;
    let report = detailed.then(|| render::check_report(s, RenderOptions::default()));
    let history: Vec<HistoryEntry> = history.iter().map(|h| h.0.clone()).collect();
    nodes::manager_node_report(&nodes::ManagerNodeReport {
        snapshot_report: report.as_deref(),
        monitoring,
        gpu_processes: &s.gpu.processes,
        performed,
        reason,
        cleanup_text,
        history: &history,
        utc_offset_s,
    })
}

/// The VRAM Unload node's report: the unload's line, then VRAM used `before` and
/// `after` (bytes), or, when either is None, what NVML and torch say instead.
#[pyfunction]
fn vram_unload_report(
    unloaded: &str,
    before: Option<u64>,
    after: Option<u64>,
    nvml: &str,
    torch: &str,
) -> String {
    let vram = match (before, after) {
        (Some(before_bytes), Some(after_bytes)) => nodes::VramChange::Measured {
            before_bytes,
            after_bytes,
        },
        _ => nodes::VramChange::Unmeasured {
            nvml: nvml.into(),
            torch: torch.into(),
        },
    };
    nodes::vram_unload_report(unloaded, &vram)
}

/// The VRAM nodes' unload line (`unloaded`: what ComfyUI's unload did, None
/// outside ComfyUI).
#[pyfunction]
fn models_line(unloaded: Option<&str>) -> String {
    nodes::models_line(unloaded)
}

/// The VRAM Optimizer's first line (`gpu`: None for all GPUs).
#[pyfunction]
fn vram_optimizer_title(level: &str, gpu: Option<u32>) -> String {
    nodes::vram_optimizer_title(level, gpu)
}

/// The Memory Leak Detector's notes on what it changed in its tracking.
#[pyfunction]
#[pyo3(signature = (*, restarted, hooks_missing, tracing_started, tracing_stopped))]
fn leak_tracking_notes(
    restarted: bool,
    hooks_missing: Option<String>,
    tracing_started: bool,
    tracing_stopped: bool,
) -> String {
    nodes::leak_tracking_notes(&nodes::TrackingChange {
        restarted,
        hooks_missing,
        tracing_started,
        tracing_stopped,
    })
}

/// What the manager nodes did to the background manager, in words.
#[pyfunction]
fn manager_switch_note(enabled: bool, was_running: bool, hooks_missing: Option<&str>) -> String {
    nodes::manager_switch_note(enabled, was_running, hooks_missing)
}

/// Adds the nodes' reports to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(monitor_report, m)?)?;
    m.add_function(wrap_pyfunction!(manager_node_report, m)?)?;
    m.add_function(wrap_pyfunction!(vram_unload_report, m)?)?;
    m.add_function(wrap_pyfunction!(models_line, m)?)?;
    m.add_function(wrap_pyfunction!(vram_optimizer_title, m)?)?;
    m.add_function(wrap_pyfunction!(leak_tracking_notes, m)?)?;
    m.add_function(wrap_pyfunction!(manager_switch_note, m)?)?;
    Ok(())
}
