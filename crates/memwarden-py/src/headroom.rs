//! The headroom guard's core for Python (`memwarden.guard` carries it out): the
//! watch of the binding limit (waiting with the GIL released), the pure decisions
//! (what to give back, whether a load may go ahead), the load prediction from a
//! model file's header, and the refusal worded with the caller's names.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use memwarden_core::parse::request::{comfy_settings, ComfySettings};
use memwarden_core::policy::headroom::{self as policy, Held, Releasable};
use memwarden_core::policy::predict::{predict, LoadFacts};
use memwarden_core::probe::model_file::read_model_file;
use memwarden_core::render::headroom::{self as words, Knobs};
use memwarden_core::watch::headroom::HeadroomWatch;
use memwarden_core::{
    Component, ComponentNeed, Error, GivebackPlan, GivebackStep, GuardStatusSummary, Headroom,
    HeadroomWake, LoadPlan, LoadPrediction, ManagerStep, Refusal, ENV_GUARD, ENV_RAM_FIGURES,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use pyo3::IntoPyObjectExt;

use crate::args::{
    bytes_arg, flag_arg, int_arg, invalid, number_arg, pid_arg, py_bool, py_err, py_str, show,
    size_arg, str_arg,
};
use crate::manager::PyManagerAction;
use crate::models::{from_dict, from_json, model, repr_of, to_dict, ToPy};

model! {
    /// One reading of the limit that binds and how much is left under it.
    PyHeadroom = "Headroom" (Headroom) {
        kind, set_at, limit_bytes, used_bytes, headroom_bytes, at_ns,
    }
    repr(kind, headroom_bytes, limit_bytes)
    {
        /// `3.10 GiB free of 7.00 GiB (where the limit is set)`.
        #[getter]
        fn line(&self) -> String {
            words::headroom_line(&self.0)
        }
    }
}

model! {
    /// Why the headroom watch woke, with the reading that decided it.
    PyHeadroomWake = "HeadroomWake" (HeadroomWake) {
        reason, reading, reserve_bytes, crossed_at_ns, woken_by,
    }
    repr(reason, reading)
    {
        #[getter]
        fn line(&self) -> String {
            words::wake_line(&self.0)
        }
    }
}

model! {
    /// One part of a model file and what it takes in RAM.
    PyComponentNeed = "ComponentNeed" (ComponentNeed) { component, params, load_itemsize, bytes }
    repr(component, bytes)
}

model! {
    /// What loading a model file is predicted to take in RAM, and from what.
    PyLoadPrediction = "LoadPrediction" (LoadPrediction) { bytes, source, parts, reason }
    repr(bytes, source)
    {
        #[getter]
        fn line(&self) -> String {
            words::prediction_line(&self.0)
        }
    }
}

model! {
    /// A refusal with its figures; nothing was changed.
    PyRefusal = "Refusal" (Refusal) {
        cause, what, needed_bytes, free_bytes, margin_bytes, limit_bytes, limit_set_at,
    }
    repr(cause, what, needed_bytes, free_bytes)
    {
        /// The refusal in words, naming `reserve` as the face calls the reserve.
        #[pyo3(signature = (reserve="--reserve"))]
        fn text(&self, reserve: &str) -> String {
            words::refusal(&self.0, Knobs { reserve })
        }
    }
}

model! {
    /// What to do before a load.
    PyLoadPlan = "LoadPlan" (LoadPlan) { decision, make_room_bytes, refusal }
    repr(decision, make_room_bytes)
}

model! {
    /// What the guard gives back after a wake, in order.
    PyGivebackPlan = "GivebackPlan" (GivebackPlan) { shortfall_bytes, steps, reason }
    repr(shortfall_bytes, steps)
    {
        /// The steps the guard runs: (place in the plan, step, its name in the
        /// history); dropping the cached outputs goes with releasing the models.
        #[getter]
        fn runs(&self) -> Vec<(usize, &'static str, &'static str)> {
            policy::giveback_runs(&self.0)
                .into_iter()
                .map(|(i, s)| (i, s.word(), words::giveback_step_name(s)))
                .collect()
        }

        /// The cached node outputs are dropped (with the models, or on their own).
        #[getter]
        fn drops_outputs(&self) -> bool {
            self.0.steps.contains(&GivebackStep::DropOutputs)
        }
    }
}

fn reserve_arg(v: Option<Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    match v {
        Some(v) if !v.is_none() => Ok(Some(size_arg("reserve", &v, 0)?)),
        _ => Ok(None),
    }
}

/// What the watch shows without its lock (a wait holds it).
#[derive(Clone)]
struct Shown {
    reserve: u64,
    rate: u64,
    describe: String,
}

/// Waits for headroom under the binding limit to fall through the reserve, with
/// kernel events where the process may have them and paced reads between them.
#[pyclass(frozen, module = "memwarden._native", name = "HeadroomWatch")]
struct PyHeadroomWatch {
    watch: Mutex<HeadroomWatch>,
    shown: Mutex<Shown>,
}

impl PyHeadroomWatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, HeadroomWatch> {
        self.watch.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn show(&self, w: &HeadroomWatch) {
        *self.shown.lock().unwrap_or_else(|e| e.into_inner()) = Shown {
            reserve: w.reserve(),
            rate: w.rate(),
            describe: w.describe(),
        };
    }

    fn shown(&self) -> Shown {
        self.shown.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[pymethods]
impl PyHeadroomWatch {
    /// The limits binding `pid` (default: this process); `reserve`: bytes (or a
    /// size such as "1G") to keep free under the binding limit, None for 10 % of
    /// it within 512 MiB..2 GiB.
    #[new]
    #[pyo3(signature = (pid=None, reserve=None))]
    fn new(
        py: Python<'_>,
        pid: Option<Bound<'_, PyAny>>,
        reserve: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let pid = match pid {
            Some(p) if !p.is_none() => pid_arg(&p)? as u32,
            _ => std::process::id(),
        };
        let reserve = reserve_arg(reserve)?;
        let w = py
            .detach(|| HeadroomWatch::open(pid, reserve))
            .map_err(py_err)?;
        let me = Self {
            shown: Mutex::new(Shown {
                reserve: 0,
                rate: 0,
                describe: String::new(),
            }),
            watch: Mutex::new(w),
        };
        me.show(&me.lock());
        Ok(me)
    }

    /// One reading now (the limits read again too: a change is seen at once).
    fn read(&self, py: Python<'_>) -> PyResult<PyHeadroom> {
        py.detach(|| self.lock().read_now())
            .map(PyHeadroom)
            .map_err(py_err)
    }

    /// Blocks (the GIL released) until headroom falls through the reserve, the
    /// binding limit changes, or `timeout_s` passes.
    fn wait(&self, py: Python<'_>, timeout_s: Bound<'_, PyAny>) -> PyResult<PyHeadroomWake> {
        let t = Duration::from_secs_f64(number_arg("timeout_s", &timeout_s, 0.0, 86_400.0)?);
        let wake = py.detach(|| {
            let mut w = self.lock();
            let r = w.wait(t);
            self.show(&w);
            r
        });
        wake.map(PyHeadroomWake).map_err(py_err)
    }

    /// Sets the reserve (None: the default for the binding limit).
    #[pyo3(signature = (reserve=None))]
    fn set_reserve(&self, py: Python<'_>, reserve: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let reserve = reserve_arg(reserve)?;
        py.detach(|| {
            let mut w = self.lock();
            let r = w.set_reserve(reserve);
            self.show(&w);
            r
        })
        .map_err(py_err)
    }

    /// Bytes kept free under the binding limit.
    #[getter]
    fn reserve(&self) -> u64 {
        self.shown().reserve
    }

    /// The fastest growth seen, bytes per second (what reads are paced for).
    #[getter]
    fn rate(&self) -> u64 {
        self.shown().rate
    }

    /// What is watched, the kernel events (or why there are none) and the pacing.
    #[getter]
    fn description(&self) -> String {
        self.shown().describe
    }
}

/// What to give back after `reading`: the core's order (models, outputs, heap,
/// swap), for `models_bytes` of cached models the running node does not need.
#[pyfunction]
#[pyo3(signature = (reading, reserve, *, models_bytes=0, prompt_running=py_bool(false), swap_free_bytes=0))]
fn plan_giveback(
    reading: &PyHeadroom,
    reserve: Bound<'_, PyAny>,
    models_bytes: u64,
    prompt_running: Py<PyAny>,
    swap_free_bytes: u64,
) -> PyResult<PyGivebackPlan> {
    let can = Releasable {
        models_bytes,
        prompt_running: flag_arg("prompt_running", prompt_running.bind(reserve.py()))?,
        swap_free_bytes,
    };
    let reserve = bytes_arg("reserve", &reserve, 0)?;
    Ok(PyGivebackPlan(policy::plan_giveback(
        &reading.0, reserve, can,
    )))
}

/// The headroom guard's status in words (`status`: the dict `GuardStatus.text`
/// builds).
#[pyfunction]
fn guard_status_text(status: Bound<'_, PyAny>) -> PyResult<String> {
    let s: GuardStatusSummary = from_dict(&status, "GuardStatus")?;
    Ok(words::guard_status_text(&s))
}

/// RAM as psutil's `virtual_memory()` should show it under `reading`'s limit, from
/// the host's (`total`, `available`, `free`): (total, available, used, free,
/// percent), or None when no limit is tighter than host RAM.
#[pyfunction]
fn ram_figures(
    reading: &PyHeadroom,
    total: u64,
    available: u64,
    free: u64,
) -> Option<(u64, u64, u64, u64, f64)> {
    policy::ram_figures(&reading.0, total, available, free)
        .map(|f| (f.total, f.available, f.used, f.free, f.percent))
}

/// ComfyUI's cap on pinned host memory under `limit_bytes` (its own cap `current`,
/// or its OS's share of the limit); None when pinning is off.
#[pyfunction]
fn pinned_cap(current: f64, limit_bytes: u64) -> Option<f64> {
    policy::pinned_cap(current, limit_bytes)
}

fn held_arg(held: Vec<(u64, bool)>) -> Vec<Held> {
    held.into_iter()
        .map(|(bytes, in_use)| Held { bytes, in_use })
        .collect()
}

/// Bytes of `held` ((bytes, in_use) per item) that may be given back now.
#[pyfunction]
fn releasable_bytes(held: Vec<(u64, bool)>, prompt_running: bool) -> u64 {
    policy::releasable_bytes(&held_arg(held), prompt_running)
}

/// What to give back for `need` bytes from `held` ((bytes, in_use) per item):
/// (indices to release, in order; the bytes they free; drop every cached output too).
#[pyfunction]
fn release_plan(
    held: Vec<(u64, bool)>,
    need: u64,
    prompt_running: bool,
    drop_outputs: bool,
) -> (Vec<usize>, u64, bool) {
    let p = policy::release_plan(&held_arg(held), need, prompt_running, drop_outputs);
    (p.release, p.bytes, p.drop_outputs)
}

/// What ComfyUI gave back, in words.
#[pyfunction]
fn comfy_released(models_bytes: u64, outputs_dropped: bool) -> String {
    words::comfy_released(models_bytes, outputs_dropped)
}

/// What a host outside ComfyUI gave back, in words.
#[pyfunction]
fn registry_released(names: Vec<String>) -> String {
    words::registry_released(&names)
}

/// ComfyUI's prompt worker did not reach a safe point within `timeout_s`.
#[pyfunction]
fn worker_busy(timeout_s: f64) -> String {
    words::worker_busy(timeout_s)
}

/// How the guard starts in ComfyUI: from the settings file's text (None: no file),
/// this process's environment switches (`MEMWARDEN_GUARD`,
/// `MEMWARDEN_COMFY_RAM_FIGURES`), whether the settings dialog `asked` for it, and
/// the reserve the caller gives (MiB, 0: the default): (on, reserve in bytes or None
/// for the default, give ComfyUI the RAM figures, why the settings file was not
/// read).
#[pyfunction]
#[pyo3(signature = (settings_text, asked=false, reserve_mb=None))]
fn guard_start(
    settings_text: Option<&str>,
    asked: bool,
    reserve_mb: Option<u64>,
) -> (bool, Option<u64>, bool, Option<String>) {
    let env_guard = std::env::var(ENV_GUARD).ok();
    let env_ram_figures = std::env::var(ENV_RAM_FIGURES).ok();
    let (settings, problem) = match settings_text.map(comfy_settings) {
        None => (ComfySettings::default(), None),
        Some(Ok(s)) => (s, None),
        Some(Err(p)) => (ComfySettings::default(), Some(p)),
    };
    let g = policy::guard_start(
        &settings,
        env_guard.as_deref(),
        env_ram_figures.as_deref(),
        asked,
        reserve_mb,
    );
    (g.on, g.reserve, g.ram_figures, problem)
}

/// How the guard's history names its step of releasing cached models (the load
/// check's make-room step).
#[pyfunction]
fn release_step_name() -> &'static str {
    words::giveback_step_name(GivebackStep::ReleaseModels)
}

/// A load the guard checked, as logged.
#[pyfunction]
fn load_check_line(
    what: &str,
    prediction: &PyLoadPrediction,
    reading: &PyHeadroom,
    plan: &PyLoadPlan,
) -> String {
    words::load_check_line(what, &prediction.0, &reading.0, &plan.0)
}

/// A load the guard could not predict: it goes on.
#[pyfunction]
fn load_not_predicted(what: &str, error: &str) -> String {
    words::load_not_predicted(what, error)
}

/// What ComfyUI 0.28's own RAM-pressure cache gave back, in words.
#[pyfunction]
fn comfy_cache_releases(calls: u64, released: u64, bytes: u64) -> String {
    words::comfy_cache_releases(calls, released, bytes)
}

/// The guard was not started in ComfyUI: which switch keeps it off.
#[pyfunction]
fn guard_off() -> String {
    words::guard_off()
}

/// The guard started in ComfyUI, in words.
#[pyfunction]
#[pyo3(signature = (watching, loads, safe_points, settings_problem=None))]
fn guard_started(
    watching: &str,
    loads: &str,
    safe_points: &str,
    settings_problem: Option<&str>,
) -> String {
    words::guard_started(watching, loads, safe_points, settings_problem)
}

/// Whether ComfyUI sees the container's RAM figures, and how to turn that off.
#[pyfunction]
fn ram_figures_note(state: &str) -> String {
    words::ram_figures_note(state)
}

fn steps_arg(steps: &[Bound<'_, PyAny>]) -> PyResult<Vec<ManagerStep>> {
    steps.iter().map(|s| from_dict(s, "ManagerStep")).collect()
}

/// The guard's history record of a give-back after `wake` (the core words its
/// reason and judges its outcome): `steps` as the runner recorded them, headroom
/// `after`, the first step's start `started_ns` (the reading's clock).
#[pyfunction]
#[allow(clippy::too_many_arguments)] // one per figure of the record
fn giveback_action(
    at_unix_ms: u64,
    wake: &PyHeadroomWake,
    plan: &PyGivebackPlan,
    after: &PyHeadroom,
    steps: Vec<Bound<'_, PyAny>>,
    started_ns: u64,
    duration_ms: f64,
) -> PyResult<PyManagerAction> {
    Ok(PyManagerAction(words::giveback_action(
        at_unix_ms,
        &wake.0,
        &plan.0,
        &after.0,
        steps_arg(&steps)?,
        started_ns,
        duration_ms,
    )))
}

/// The guard's history record of the room it made before loading `what`.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // one per figure of the record
fn make_room_action(
    at_unix_ms: u64,
    what: &str,
    pred: &PyLoadPrediction,
    before: &PyHeadroom,
    after: &PyHeadroom,
    step: Bound<'_, PyAny>,
    duration_ms: f64,
) -> PyResult<PyManagerAction> {
    Ok(PyManagerAction(words::make_room_action(
        at_unix_ms,
        what,
        &pred.0,
        &before.0,
        &after.0,
        from_dict(&step, "ManagerStep")?,
        duration_ms,
    )))
}

/// The guard's history record of a load it refused (`refused`: the refusal as
/// raised).
#[pyfunction]
fn refusal_action(
    at_unix_ms: u64,
    refused: &str,
    pred: &PyLoadPrediction,
    duration_ms: f64,
) -> PyManagerAction {
    PyManagerAction(words::refusal_action(
        at_unix_ms,
        refused,
        &pred.0,
        duration_ms,
    ))
}

/// Whether loading `what`, predicted at `need` bytes, may go ahead under `reading`
/// with `releasable` bytes of cached models that could be given back first.
#[pyfunction]
fn plan_load(
    what: Bound<'_, PyAny>,
    need: Bound<'_, PyAny>,
    reading: &PyHeadroom,
    reserve: Bound<'_, PyAny>,
    releasable: Bound<'_, PyAny>,
) -> PyResult<PyLoadPlan> {
    Ok(PyLoadPlan(policy::plan_load(
        &str_arg("what", &what)?,
        bytes_arg("need", &need, 0)?,
        &reading.0,
        bytes_arg("reserve", &reserve, 0)?,
        bytes_arg("releasable", &releasable, 0)?,
    )))
}

fn component_arg(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Component> {
    match str_arg(name, v)?.as_str() {
        "diffusion" => Ok(Component::Diffusion),
        "text_encoder" => Ok(Component::TextEncoder),
        "vae" => Ok(Component::Vae),
        "other" => Ok(Component::Other),
        _ => Err(invalid(format!(
            "{name} must be one of 'diffusion', 'text_encoder', 'vae', 'other', got {}",
            show(v)
        ))),
    }
}

/// What loading the model file at `path` will take in RAM: `itemsize` maps each
/// part ("diffusion", "text_encoder", "vae", "other") to the bytes per parameter it
/// is loaded at in RAM (0: it goes to VRAM); `default` is what a tensor without a
/// known prefix belongs to; `measured_bytes`: what the same file took when last
/// loaded here, if known.
#[pyfunction]
#[pyo3(signature = (path, *, default=py_str("other"), itemsize=None, measured_bytes=None))]
fn predict_load(
    py: Python<'_>,
    path: PathBuf,
    default: Py<PyAny>,
    itemsize: Option<Bound<'_, PyDict>>,
    measured_bytes: Option<u64>,
) -> PyResult<PyLoadPrediction> {
    let default = component_arg("default", default.bind(py))?;
    let mut sizes = Vec::new();
    if let Some(d) = itemsize {
        for (k, v) in d.iter() {
            let c = component_arg("itemsize key", &k)?;
            let s = int_arg("itemsize value", &v, 0, 16, "bytes per parameter, 0 to 16")?;
            sizes.push((c, s as u32));
        }
    }
    let (size, tensors) = py.detach(|| read_model_file(&path)).map_err(py_err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(PyLoadPrediction(predict(&LoadFacts {
        file: &name,
        file_bytes: size,
        tensors: tensors.as_deref(),
        default_component: default,
        itemsize: &sizes,
        measured_bytes,
    })))
}

/// The default reserve for `limit` bytes (`explicit` when set, never over half).
#[pyfunction]
#[pyo3(signature = (limit, explicit=None))]
fn default_reserve(limit: u64, explicit: Option<u64>) -> u64 {
    policy::reserve(limit, explicit)
}

/// A `HeadroomRefused` exception for `refusal` (kind `headroom_refused`, exit code
/// 9), its message naming the reserve as `reserve`; `.refusal` holds the figures.
#[pyfunction]
#[pyo3(signature = (refusal, reserve="--reserve"))]
fn headroom_refused(py: Python<'_>, refusal: &PyRefusal, reserve: &str) -> PyResult<Py<PyAny>> {
    let e = py_err(Error::HeadroomRefused {
        message: words::refusal(&refusal.0, Knobs { reserve }),
        refusal: Box::new(refusal.0.clone()),
    });
    let v = e.value(py);
    v.setattr("refusal", refusal.0.to_py(py)?)?;
    Ok(v.clone().into_any().unbind())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHeadroom>()?;
    m.add_class::<PyHeadroomWake>()?;
    m.add_class::<PyComponentNeed>()?;
    m.add_class::<PyLoadPrediction>()?;
    m.add_class::<PyRefusal>()?;
    m.add_class::<PyLoadPlan>()?;
    m.add_class::<PyGivebackPlan>()?;
    m.add_class::<PyHeadroomWatch>()?;
    m.add_function(wrap_pyfunction!(plan_giveback, m)?)?;
    m.add_function(wrap_pyfunction!(giveback_action, m)?)?;
    m.add_function(wrap_pyfunction!(releasable_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(ram_figures, m)?)?;
    m.add_function(wrap_pyfunction!(pinned_cap, m)?)?;
    m.add_function(wrap_pyfunction!(release_plan, m)?)?;
    m.add_function(wrap_pyfunction!(comfy_released, m)?)?;
    m.add_function(wrap_pyfunction!(registry_released, m)?)?;
    m.add_function(wrap_pyfunction!(worker_busy, m)?)?;
    m.add_function(wrap_pyfunction!(guard_start, m)?)?;
    m.add_function(wrap_pyfunction!(release_step_name, m)?)?;
    m.add_function(wrap_pyfunction!(load_check_line, m)?)?;
    m.add_function(wrap_pyfunction!(load_not_predicted, m)?)?;
    m.add_function(wrap_pyfunction!(comfy_cache_releases, m)?)?;
    m.add("GUARD_KEEP_ACTIONS", policy::KEEP_ACTIONS)?;
    m.add("GUARD_KEEP_LOADS", policy::KEEP_LOADS)?;
    m.add_function(wrap_pyfunction!(guard_off, m)?)?;
    m.add_function(wrap_pyfunction!(guard_started, m)?)?;
    m.add_function(wrap_pyfunction!(ram_figures_note, m)?)?;
    m.add_function(wrap_pyfunction!(make_room_action, m)?)?;
    m.add_function(wrap_pyfunction!(refusal_action, m)?)?;
    m.add_function(wrap_pyfunction!(guard_status_text, m)?)?;
    m.add_function(wrap_pyfunction!(plan_load, m)?)?;
    m.add_function(wrap_pyfunction!(predict_load, m)?)?;
    m.add_function(wrap_pyfunction!(default_reserve, m)?)?;
    m.add_function(wrap_pyfunction!(headroom_refused, m)?)?;
    Ok(())
}
