//! The core's decisions for Python: what each cleanup mode runs, the pressure
//! advice, and the automatic optimization's trigger (thresholds, hysteresis,
//! cooldown, history). The Python layer and the ComfyUI nodes call these and decide
//! nothing themselves.

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use memwarden_core::policy::modes::{self, CleanupMode, CleanupPlan, VramPlan};
use memwarden_core::policy::pressure;
use memwarden_core::policy::trigger::{self, Decision, History, HistoryEntry, TriggerConfig};
use memwarden_core::{PressureReport, ProcessScope, Snapshot, SnapshotOptions};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyType};
use pyo3::IntoPyObjectExt;

use crate::args::{flag_arg, invalid, number_arg, py_err, show};
use crate::models::{from_dict, from_json, model, repr_of, to_dict, PySnapshot, ToPy};

model! {
    /// What a cleanup mode runs (each step may still be overridden by the caller).
    PyCleanupPlan = "CleanupPlan" (CleanupPlan) {
        mode, unload_models, drop_node_cache, gc_passes, reset_peak_stats, pageout_self,
    }
    repr(mode, unload_models, drop_node_cache, gc_passes, pageout_self)
}

model! {
    /// What the VRAM Optimizer does at a level.
    PyVramPlan = "VramPlan" (VramPlan) {
        mode, unload_models, collect_garbage, ipc_collect, synchronize,
    }
    repr(mode, unload_models, ipc_collect, synchronize)
}

model! {
    /// The pressure level, the figures behind it and what to do about it.
    PyPressureReport = "PressureReport" (PressureReport) {
        level, description, ram_percent, vram_percent, swap_percent, source, recommendations,
    }
    repr(level, ram_percent, vram_percent, swap_percent)
}

model! {
    /// Whether the automatic optimization acts now, and why (or why not).
    PyDecision = "Decision" (Decision) { act, reason, by_threshold }
    repr(act, reason)
}

model! {
    /// One optimization the trigger recorded.
    PyHistoryEntry = "HistoryEntry" (HistoryEntry) { at_unix_ms, mode, trigger, freed_bytes }
    repr(at_unix_ms, mode, trigger, freed_bytes)
}

/// A cleanup mode by any of the seeds' names; InvalidInput listing them otherwise.
fn mode_arg(v: &Bound<'_, PyAny>) -> PyResult<CleanupMode> {
    if v.is_instance_of::<PyString>() {
        return CleanupMode::parse(&v.extract::<String>()?).map_err(py_err);
    }
    Err(invalid(format!(
        "unknown cleanup mode {}; use one of: {}",
        show(v),
        CleanupMode::names()
    )))
}

/// The canonical name of a cleanup mode: monitor, conservative, balanced or
/// aggressive (from any seed name: Monitor Only, Standard, Moderate...).
#[pyfunction]
fn normalize_mode(mode: Bound<'_, PyAny>) -> PyResult<&'static str> {
    Ok(mode_arg(&mode)?.name())
}

/// What the cleanup mode `mode` runs.
#[pyfunction]
fn cleanup_plan(mode: Bound<'_, PyAny>) -> PyResult<PyCleanupPlan> {
    Ok(PyCleanupPlan(modes::plan(mode_arg(&mode)?)))
}

/// What the VRAM Optimizer does at `mode` (Conservative, Moderate, Aggressive).
#[pyfunction]
fn vram_plan(mode: Bound<'_, PyAny>) -> PyResult<PyVramPlan> {
    Ok(PyVramPlan(modes::vram_plan(mode_arg(&mode)?)))
}

/// A snapshot argument named `name`: a Snapshot, its `to_dict()`, or None for one
/// of the machine taken now (no process list: the cheapest snapshot). Shared by every
/// binding function that takes a snapshot.
pub(crate) fn snapshot_arg(
    py: Python<'_>,
    name: &str,
    snap: Option<&Bound<'_, PyAny>>,
) -> PyResult<Snapshot> {
    match snap {
        Some(s) if !s.is_none() => {
            if let Ok(snap) = s.cast::<PySnapshot>() {
                Ok(snap.get().0.clone())
            } else if s.is_instance_of::<PyDict>() {
                from_dict(s, "Snapshot")
            } else {
                Err(invalid(format!(
                    "{name} must be a memwarden snapshot (memwarden.snapshot()), its to_dict(), \
                     or None, got {}",
                    show(s)
                )))
            }
        }
        _ => py
            .detach(|| {
                memwarden_core::collect(&SnapshotOptions {
                    top: 0,
                    scope: ProcessScope::Visible,
                    ..Default::default()
                })
            })
            .map_err(py_err),
    }
}

/// The pressure level and what to do about it, from `snap` (taken now when None).
#[pyfunction]
#[pyo3(signature = (snap=None))]
fn check_memory_pressure(
    py: Python<'_>,
    snap: Option<Bound<'_, PyAny>>,
) -> PyResult<PyPressureReport> {
    let s = snapshot_arg(py, "snap", snap.as_ref())?;
    Ok(PyPressureReport(pressure::advise(&s)))
}

/// The automatic optimization's memory: when it last acted, whether a threshold
/// may trigger again, and its last optimizations. `clock` (seconds, monotonic)
/// defaults to the process's own; tests pass theirs.
#[pyclass(frozen, module = "memwarden._native", name = "Optimizer")]
struct PyOptimizer {
    state: Mutex<(History, Option<TriggerConfig>)>,
    origin: Instant,
    clock: Option<Py<PyAny>>,
}

impl PyOptimizer {
    fn now(&self, py: Python<'_>) -> PyResult<f64> {
        match &self.clock {
            Some(c) => number_arg("clock()", c.bind(py).call0()?.as_any(), f64::MIN, f64::MAX),
            None => Ok(self.origin.elapsed().as_secs_f64()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (History, Option<TriggerConfig>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The trigger settings, each checked.
/// One field of the core's default trigger (`TriggerConfig::default()`), as the
/// Python value `decide` takes when the argument is left out.
fn trigger_default(name: &str) -> Py<PyAny> {
    Python::attach(|py| {
        let d = to_dict(py, &TriggerConfig::default()).expect("the default serializes");
        let v = d.bind(py).get_item(name).expect("a TriggerConfig field");
        v.unbind()
    })
}

/// The core's default trigger, as a dict (what `Trigger()` starts from).
#[pyfunction]
fn default_trigger_config(py: Python<'_>) -> PyResult<Py<PyAny>> {
    to_dict(py, &TriggerConfig::default())
}

#[allow(clippy::too_many_arguments)]
fn config_arg(
    py: Python<'_>,
    enabled: &Py<PyAny>,
    mode: &Py<PyAny>,
    every_run: &Py<PyAny>,
    on_threshold: &Py<PyAny>,
    ram_threshold: &Py<PyAny>,
    vram_threshold: &Py<PyAny>,
    cooldown_s: &Py<PyAny>,
    hysteresis: &Py<PyAny>,
) -> PyResult<TriggerConfig> {
    Ok(TriggerConfig {
        enabled: flag_arg("enabled", enabled.bind(py))?,
        mode: mode_arg(mode.bind(py))?,
        every_run: flag_arg("every_run", every_run.bind(py))?,
        on_threshold: flag_arg("on_threshold", on_threshold.bind(py))?,
        ram_threshold: number_arg("ram_threshold", ram_threshold.bind(py), 0.0, 100.0)?,
        vram_threshold: number_arg("vram_threshold", vram_threshold.bind(py), 0.0, 100.0)?,
        cooldown_s: number_arg("cooldown_s", cooldown_s.bind(py), 0.0, 1e9)?,
        hysteresis: number_arg("hysteresis", hysteresis.bind(py), 0.0, 100.0)?,
    })
}

#[pymethods]
impl PyOptimizer {
    #[new]
    #[pyo3(signature = (clock=None))]
    fn new(py: Python<'_>, clock: Option<Py<PyAny>>) -> PyResult<Self> {
        if let Some(c) = &clock {
            if !c.bind(py).is_callable() {
                return Err(invalid(format!(
                    "clock must be a callable returning seconds, got {}",
                    show(c.bind(py))
                )));
            }
        }
        Ok(Self {
            state: Mutex::new((History::default(), None)),
            origin: Instant::now(),
            clock,
        })
    }

    /// Whether to optimize now: on every run (`every_run`), when RAM or VRAM (the
    /// fullest GPU) reaches its threshold (`on_threshold`), or else on every run as
    /// a manual trigger; never within `cooldown_s` of the last optimization, and,
    /// with a `hysteresis`, a threshold triggers again only once usage has fallen
    /// that many points below it.
    #[pyo3(signature = (
        snapshot, *, enabled=trigger_default("enabled"), mode=trigger_default("mode"),
        every_run=trigger_default("every_run"), on_threshold=trigger_default("on_threshold"),
        ram_threshold=trigger_default("ram_threshold"),
        vram_threshold=trigger_default("vram_threshold"),
        cooldown_s=trigger_default("cooldown_s"), hysteresis=trigger_default("hysteresis"),
    ))]
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        py: Python<'_>,
        snapshot: PyRef<'_, PySnapshot>,
        enabled: Py<PyAny>,
        mode: Py<PyAny>,
        every_run: Py<PyAny>,
        on_threshold: Py<PyAny>,
        ram_threshold: Py<PyAny>,
        vram_threshold: Py<PyAny>,
        cooldown_s: Py<PyAny>,
        hysteresis: Py<PyAny>,
    ) -> PyResult<PyDecision> {
        let c = config_arg(
            py,
            &enabled,
            &mode,
            &every_run,
            &on_threshold,
            &ram_threshold,
            &vram_threshold,
            &cooldown_s,
            &hysteresis,
        )?;
        let now = self.now(py)?;
        let mut state = self.lock();
        state.0.observe(&snapshot.0, &c);
        let d = trigger::decide(&snapshot.0, &state.0, &c, now);
        state.1 = Some(c);
        Ok(PyDecision(d))
    }

    /// An optimization ran after `decision`, freeing `freed_bytes` (negative: grew).
    fn record(
        &self,
        py: Python<'_>,
        decision: PyRef<'_, PyDecision>,
        freed_bytes: i64,
    ) -> PyResult<()> {
        let now = self.now(py)?;
        let mut state = self.lock();
        let Some(c) = state.1.clone() else {
            return Err(invalid(
                "record() follows decide(): no decision was made yet",
            ));
        };
        let entry = HistoryEntry {
            at_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            mode: c.mode,
            trigger: decision.0.reason.clone(),
            freed_bytes,
        };
        state.0.record(now, &decision.0, entry, &c);
        Ok(())
    }

    /// Seconds of `cooldown_s` left since the last optimization (0 = none).
    fn cooldown_left(&self, py: Python<'_>, cooldown_s: Bound<'_, PyAny>) -> PyResult<f64> {
        let cooldown = number_arg("cooldown_s", &cooldown_s, 0.0, 1e9)?;
        let now = self.now(py)?;
        Ok(self.lock().0.cooldown_left(now, cooldown))
    }

    /// The last optimizations, oldest first (at most 10).
    #[getter]
    fn history(&self) -> Vec<PyHistoryEntry> {
        self.lock()
            .0
            .entries
            .iter()
            .cloned()
            .map(PyHistoryEntry)
            .collect()
    }
}

/// Adds the policy classes and functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCleanupPlan>()?;
    m.add_class::<PyVramPlan>()?;
    m.add_class::<PyPressureReport>()?;
    m.add_class::<PyDecision>()?;
    m.add_class::<PyHistoryEntry>()?;
    m.add_class::<PyOptimizer>()?;
    m.add_function(wrap_pyfunction!(default_trigger_config, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_mode, m)?)?;
    m.add_function(wrap_pyfunction!(cleanup_plan, m)?)?;
    m.add_function(wrap_pyfunction!(vram_plan, m)?)?;
    m.add_function(wrap_pyfunction!(check_memory_pressure, m)?)?;
    Ok(())
}
