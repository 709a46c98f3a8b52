//! The background manager's core for Python (`memwarden.manager` carries it out):
//! the pressure watch (a PSI trigger polled with the GIL released, or sampling),
//! the policy (levels, escalation, back-off, the running-node rule), the history
//! file and its statistics. Python decides nothing itself.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use memwarden_core::history::{self, HistoryFile};
use memwarden_core::policy::escalation::{
    self, ActionRun, ManagerAct, ManagerConfig, ManagerDecision, ManagerRunner, ManagerState, Wake,
    RUNNER_HISTORY_KEEP, RUNNER_PERIOD_S, RUNNER_SETTLE_S,
};
use memwarden_core::policy::stats;
use memwarden_core::watch::{PressureWatch, WatchConfig};
use memwarden_core::{
    ActionOutcome, AlertLevel, Fault, GroupStats, ManagerAction, ManagerStats,
    ManagerStatusSummary, ManagerStep,
};
use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3::IntoPyObjectExt;

use crate::args::{flag_arg, int_arg, invalid, number_arg, py_err, show, str_arg};
use crate::models::{from_dict, from_json, model, repr_of, to_dict, PySnapshot, ToPy};

macro_rules! words_to_py {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl ToPy for $t {
            fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                let $v = self;
                $e.into_py_any(py)
            }
        }
    )*};
}
words_to_py!(
    AlertLevel => |v| v.word(),
    ActionOutcome => |v| v.name(),
    ManagerAct => |v| match v {
        ManagerAct::Nothing => "nothing",
        ManagerAct::HeapTrim => "heap_trim",
        ManagerAct::Cleanup => "cleanup",
    },
);

model! {
    /// What the manager does now, and why.
    PyManagerDecision = "ManagerDecision" (ManagerDecision) { act, mode, level, drop_cache, reason }
    repr(act, mode, level, reason)
}

model! {
    /// One step of a manager action.
    PyManagerStep = "ManagerStep" (ManagerStep) {
        name, ok, skipped, detail, freed_bytes, duration_ms,
    }
    repr(name, ok, freed_bytes, duration_ms)
}

model! {
    /// One thing the manager did (an action, or a fault it met).
    PyManagerAction = "ManagerAction" (ManagerAction) {
        at_unix_ms, trigger, level, mode, reason, steps, freed_bytes, duration_ms, outcome, error,
        latency_ms,
    }
    repr(at_unix_ms, trigger, level, mode, outcome, freed_bytes)
}

model! {
    /// Statistics of one trigger or one step.
    PyGroupStats = "GroupStats" (GroupStats) { name, count, failed, freed_bytes, mean_duration_ms }
    repr(name, count, freed_bytes)
}

model! {
    /// Statistics over a manager history.
    PyManagerStats = "ManagerStats" (ManagerStats) {
        count, freed, nothing_freed, failed, freed_total_bytes, mean_duration_ms,
        first_unix_ms, last_unix_ms, by_trigger, by_step,
    }
    repr(count, freed_total_bytes, mean_duration_ms)
    {
        /// The statistics in words, as `memwarden history --stats` prints them.
        fn text(&self) -> String {
            memwarden_core::render::stats_text(&self.0)
        }
    }
}

fn secs(name: &str, v: &Bound<'_, PyAny>, lo: f64) -> PyResult<Duration> {
    Ok(Duration::from_secs_f64(number_arg(name, v, lo, 86_400.0)?))
}

/// Waits for memory pressure: a PSI trigger where the kernel allows one, else
/// sampling (`wait` then sleeps up to `sample_s`).
#[pyclass(frozen, module = "memwarden._native", name = "PressureWatch")]
struct PyPressureWatch(PressureWatch);

#[pymethods]
impl PyPressureWatch {
    /// `stall_s` of stall within `window_s` fires the trigger (unprivileged
    /// processes need a window in multiples of 2 s); `files`: the pressure files to
    /// try, default the process's cgroup's then /proc/pressure/memory; `sampling`
    /// forces the fallback.
    #[new]
    #[pyo3(signature = (stall_s=None, window_s=None, sample_s=None, files=None, sampling=false))]
    fn new(
        stall_s: Option<Bound<'_, PyAny>>,
        window_s: Option<Bound<'_, PyAny>>,
        sample_s: Option<Bound<'_, PyAny>>,
        files: Option<Vec<PathBuf>>,
        sampling: bool,
    ) -> PyResult<Self> {
        let mut c = WatchConfig::default();
        if let Some(v) = stall_s {
            c.stall = secs("stall_s", &v, 0.001)?;
        }
        if let Some(v) = window_s {
            c.window = secs("window_s", &v, 0.5)?;
        }
        if let Some(v) = sample_s {
            c.sample = secs("sample_s", &v, 0.01)?;
        }
        Ok(Self(match (sampling, files) {
            (true, _) => PressureWatch::sampling(c, "sampling asked for"),
            (false, Some(f)) => PressureWatch::open_on(c, &f),
            (false, None) => PressureWatch::open(c),
        }))
    }

    /// Blocks (the GIL released) until the trigger fires (True) or `timeout_s`
    /// passes (False); sampling sleeps up to the sample period and returns False.
    fn wait(&self, py: Python<'_>, timeout_s: Bound<'_, PyAny>) -> PyResult<bool> {
        let t = secs("timeout_s", &timeout_s, 0.0)?;
        py.detach(|| self.0.wait(t)).map_err(py_err)
    }

    #[getter]
    fn is_trigger(&self) -> bool {
        self.0.is_trigger()
    }

    #[getter]
    fn description(&self) -> String {
        self.0.describe().to_string()
    }

    fn __repr__(&self) -> String {
        format!("PressureWatch({:?})", self.0.describe())
    }
}

fn wake_arg(v: &Bound<'_, PyAny>) -> PyResult<Wake> {
    let s = str_arg("wake", v)?;
    [Wake::PromptEnd, Wake::Pressure, Wake::Sample, Wake::Manual]
        .into_iter()
        .find(|w| w.word() == s)
        .ok_or_else(|| {
            invalid(format!(
                "unknown wake {}; use prompt_end, pressure, sample or manual",
                show(v)
            ))
        })
}

fn config_arg(d: &Bound<'_, PyAny>) -> PyResult<ManagerConfig> {
    let c: ManagerConfig = from_dict(d, "ManagerConfig")?;
    c.validate().map_err(py_err)?;
    Ok(c)
}

/// The manager's policy and memory (level, escalation, cooldown, back-off). The
/// caller passes its monotonic clock to each call.
#[pyclass(frozen, module = "memwarden._native", name = "ManagerPolicy")]
struct PyManagerPolicy {
    state: Mutex<(ManagerState, ManagerConfig)>,
}

impl PyManagerPolicy {
    fn lock(&self) -> std::sync::MutexGuard<'_, (ManagerState, ManagerConfig)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyManagerPolicy {
    /// `config`: a dict of every ManagerConfig field (`default_config()` gives one).
    #[new]
    fn new(config: Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self {
            state: Mutex::new((ManagerState::default(), config_arg(&config)?)),
        })
    }

    /// Replace the configuration (checked first; the memory is kept).
    fn configure(&self, config: Bound<'_, PyAny>) -> PyResult<()> {
        let c = config_arg(&config)?;
        self.lock().1 = c;
        Ok(())
    }

    #[getter]
    fn config(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_dict(py, &self.lock().1)
    }

    /// The level, escalation and back-off now, as a dict.
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_dict(py, &self.lock().0)
    }

    /// Something woke the manager (`wake`: prompt_end, pressure, sample or manual)
    /// at `now_s`: update the level from `snapshot` and decide.
    fn wake(
        &self,
        snapshot: PyRef<'_, PySnapshot>,
        wake: Bound<'_, PyAny>,
        running_node: bool,
        now_s: Bound<'_, PyAny>,
    ) -> PyResult<PyManagerDecision> {
        let w = wake_arg(&wake)?;
        let now = number_arg("now_s", &now_s, f64::MIN, f64::MAX)?;
        let mut g = self.lock();
        let (st, c) = &mut *g;
        let figures = st.observe(&snapshot.0, w, c);
        Ok(PyManagerDecision(escalation::decide(
            st,
            w,
            running_node,
            &figures,
            c,
            now,
        )))
    }

    /// The action of `decision` ran (`run`: a dict of the core's ActionRun: when,
    /// what woke it, its steps, what it freed, how long it took, what it raised) and
    /// ended at `now_s`: start the cooldown, count the back-off, escalate; its
    /// history entry, judged by the core.
    fn record_action(
        &self,
        decision: PyRef<'_, PyManagerDecision>,
        run: Bound<'_, PyAny>,
        now_s: Bound<'_, PyAny>,
    ) -> PyResult<PyManagerAction> {
        let run: ActionRun = from_dict(&run, "ActionRun")?;
        let now = number_arg("now_s", &now_s, f64::MIN, f64::MAX)?;
        let mut g = self.lock();
        let (st, c) = &mut *g;
        Ok(PyManagerAction(st.record_action(&decision.0, run, now, c)))
    }

    /// A fault met at `at_unix_ms` outside any action (woken by `trigger`), as a
    /// failed entry of the history at the level now.
    fn fault(&self, at_unix_ms: u64, trigger: &str, text: &str) -> PyManagerAction {
        let level = self.lock().0.level;
        PyManagerAction(ManagerAction::fault(at_unix_ms, trigger, level, text))
    }
}

/// The critical level a single `warning` threshold implies (10 points above, at
/// most 100).
#[pyfunction]
fn critical_above(warning: f64) -> f64 {
    escalation::critical_above(warning)
}

/// A fault in one line (`fault`: a dict of the core's Fault, tagged by "fault").
#[pyfunction]
fn fault_text(fault: Bound<'_, PyAny>) -> PyResult<String> {
    Ok(memwarden_core::render::fault_text(&from_dict::<Fault>(
        &fault, "Fault",
    )?))
}

/// The default manager configuration, as a dict.
#[pyfunction]
fn default_manager_config(py: Python<'_>) -> PyResult<Py<PyAny>> {
    to_dict(py, &ManagerConfig::default())
}

/// The default way the manager's threads run, as a dict.
#[pyfunction]
fn default_manager_runner(py: Python<'_>) -> PyResult<Py<PyAny>> {
    to_dict(py, &ManagerRunner::default())
}

/// The runner's settings from a dict of its fields, each checked (InvalidInput
/// naming the setting, with its bounds).
fn runner_arg(settings: &Bound<'_, PyAny>) -> PyResult<ManagerRunner> {
    let get = |name: &str| settings.get_item(name);
    let (lo, hi) = RUNNER_PERIOD_S;
    let (keep_lo, keep_hi) = RUNNER_HISTORY_KEEP;
    let keep_what = format!("an integer from {keep_lo} to {keep_hi}");
    let file = get("history_file")?;
    Ok(ManagerRunner {
        use_psi: flag_arg("use_psi", &get("use_psi")?)?,
        check_s: number_arg("check_s", &get("check_s")?, lo, hi)?,
        sample_s: number_arg("sample_s", &get("sample_s")?, lo, hi)?,
        settle_s: number_arg(
            "settle_s",
            &get("settle_s")?,
            RUNNER_SETTLE_S.0,
            RUNNER_SETTLE_S.1,
        )?,
        history_keep: int_arg(
            "history_keep",
            &get("history_keep")?,
            keep_lo.into(),
            keep_hi.into(),
            &keep_what,
        )? as u64,
        // a path or a str, as the settings have it (the manager opens it as a Path)
        history_file: if file.is_none() {
            None
        } else {
            let path: PathBuf = file.extract().map_err(|_| {
                invalid(format!(
                    "history_file must be a path or None, got {}",
                    show(&file)
                ))
            })?;
            Some(path.to_string_lossy().into_owned())
        },
    })
}

/// Checks the runner's settings (a dict of its fields): InvalidInput naming the
/// first that is wrong.
#[pyfunction]
fn check_manager_runner(settings: Bound<'_, PyAny>) -> PyResult<()> {
    runner_arg(&settings).map(|_| ())
}

/// Whether going from the runner settings `old` to `new` restarts the manager's
/// threads (another pressure watch or history); else the running manager is
/// reconfigured and keeps its memory.
#[pyfunction]
fn manager_restarts(old: Bound<'_, PyAny>, new: Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(runner_arg(&old)?.restarts_for(&runner_arg(&new)?))
}

/// Seconds the supervisor waits before restarting a worker that died, after
/// `restarts` restarts so far.
#[pyfunction]
fn restart_delay_s(restarts: u32) -> f64 {
    escalation::restart_delay_s(restarts)
}

fn action_arg(v: &Bound<'_, PyAny>) -> PyResult<ManagerAction> {
    if let Ok(a) = v.cast::<PyManagerAction>() {
        return Ok(a.get().0.clone());
    }
    from_dict(v, "ManagerAction")
}

/// A list of ManagerAction objects or their dicts.
fn actions_arg(actions: &[Bound<'_, PyAny>]) -> PyResult<Vec<ManagerAction>> {
    actions.iter().map(action_arg).collect()
}

/// Statistics over `actions` (ManagerAction objects or their dicts).
#[pyfunction]
fn manager_stats(actions: Vec<Bound<'_, PyAny>>) -> PyResult<PyManagerStats> {
    Ok(PyManagerStats(stats::stats(&actions_arg(&actions)?)))
}

/// `actions` (ManagerAction objects or their dicts) in words, one block each, as
/// `memwarden history` prints them.
#[pyfunction]
fn history_text(actions: Vec<Bound<'_, PyAny>>) -> PyResult<String> {
    Ok(memwarden_core::render::history_text(&actions_arg(
        &actions,
    )?))
}

/// The manager's status in words (`status`: the dict `ManagerStatus` builds).
#[pyfunction]
fn manager_status_text(status: Bound<'_, PyAny>) -> PyResult<String> {
    let s: ManagerStatusSummary = from_dict(&status, "ManagerStatus")?;
    Ok(memwarden_core::render::manager_status_text(&s))
}

/// Every action in the history file `path` (missing: none) and how many lines
/// were skipped as malformed.
#[pyfunction]
fn read_history(py: Python<'_>, path: PathBuf) -> PyResult<(Vec<PyManagerAction>, usize)> {
    let r = py.detach(|| history::read(&path)).map_err(py_err)?;
    Ok((
        r.actions.into_iter().map(PyManagerAction).collect(),
        r.skipped_lines,
    ))
}

/// A history file kept to its last `keep` actions.
#[pyclass(frozen, module = "memwarden._native", name = "HistoryFile")]
struct PyHistoryFile(Mutex<HistoryFile>);

#[pymethods]
impl PyHistoryFile {
    /// Opens `path` (creating its folder); `held()` is not kept: use read_history.
    #[new]
    fn new(path: PathBuf, keep: usize) -> PyResult<Self> {
        let (f, _) = HistoryFile::open(&path, keep).map_err(py_err)?;
        Ok(Self(Mutex::new(f)))
    }

    /// Appends `action` (a ManagerAction or its dict).
    fn append(&self, py: Python<'_>, action: Bound<'_, PyAny>) -> PyResult<()> {
        let a = action_arg(&action)?;
        py.detach(|| self.0.lock().unwrap_or_else(|e| e.into_inner()).append(&a))
            .map_err(py_err)
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .path()
            .to_path_buf()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_of(py, "HistoryFile", &[("path", self.path().into_py_any(py)?)])
    }
}

/// Adds the manager's classes and functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPressureWatch>()?;
    m.add_class::<PyManagerPolicy>()?;
    m.add_class::<PyManagerDecision>()?;
    m.add_class::<PyManagerStep>()?;
    m.add_class::<PyManagerAction>()?;
    m.add_function(wrap_pyfunction!(fault_text, m)?)?;
    m.add_function(wrap_pyfunction!(critical_above, m)?)?;
    m.add_class::<PyGroupStats>()?;
    m.add_class::<PyManagerStats>()?;
    m.add_class::<PyHistoryFile>()?;
    m.add_function(wrap_pyfunction!(default_manager_config, m)?)?;
    m.add_function(wrap_pyfunction!(default_manager_runner, m)?)?;
    m.add_function(wrap_pyfunction!(check_manager_runner, m)?)?;
    m.add_function(wrap_pyfunction!(manager_restarts, m)?)?;
    m.add_function(wrap_pyfunction!(restart_delay_s, m)?)?;
    m.add_function(wrap_pyfunction!(manager_stats, m)?)?;
    m.add_function(wrap_pyfunction!(history_text, m)?)?;
    m.add_function(wrap_pyfunction!(manager_status_text, m)?)?;
    m.add_function(wrap_pyfunction!(read_history, m)?)?;
    Ok(())
}
