//! The background manager's history: one [`ManagerAction`] per thing it did (or
//! failed to do), persisted as JSON lines, and the statistics over them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How close to its limits memory is, as the manager judges it from its warning and
/// critical thresholds (and the PSI trigger).
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    /// Below the warning thresholds.
    #[default]
    Normal,
    /// A warning threshold reached, or the PSI trigger fired.
    Warning,
    /// A critical threshold reached, or PSI says memory is thrashing.
    Critical,
}

impl AlertLevel {
    pub fn word(self) -> &'static str {
        match self {
            AlertLevel::Normal => "normal",
            AlertLevel::Warning => "warning",
            AlertLevel::Critical => "critical",
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    /// It ran and freed at least the manager's minimum.
    Freed,
    /// It ran and freed less than the minimum (the manager backs off).
    NothingFreed,
    /// A step raised or the action could not run (the manager keeps running).
    Failed,
}

impl ActionOutcome {
    /// Its name in JSON and in the status lines: `freed`, `nothing_freed`, `failed`.
    pub fn name(self) -> &'static str {
        match self {
            ActionOutcome::Freed => "freed",
            ActionOutcome::NothingFreed => "nothing_freed",
            ActionOutcome::Failed => "failed",
        }
    }
}

/// One step of an action.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ManagerStep {
    /// The step's name (e.g. "OS-level trim", "Unload models").
    pub name: String,
    pub ok: bool,
    /// The step did not run (not in this mode, not inside ComfyUI...).
    pub skipped: bool,
    /// What it did, in words (the error when it failed).
    pub detail: String,
    /// Process RSS + VRAM freed across this step (negative: grew), bytes; None when
    /// the step was not measured on its own.
    pub freed_bytes: Option<i64>,
    pub duration_ms: f64,
}

/// One thing the manager did: an action (heap trim, cleanup) or a fault it met.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ManagerAction {
    /// When it started, Unix milliseconds.
    pub at_unix_ms: u64,
    /// What woke the manager: prompt_end, pressure (the PSI trigger), sample
    /// (the periodic check), manual, or supervisor (the worker thread restarted).
    pub trigger: String,
    pub level: AlertLevel,
    /// The cleanup mode it ran (after escalation): monitor, conservative,
    /// balanced or aggressive; "trim" for a heap trim alone.
    pub mode: String,
    /// Why, in words (the policy's reason).
    pub reason: String,
    pub steps: Vec<ManagerStep>,
    /// Process RSS + VRAM freed by the whole action (negative: grew), bytes.
    pub freed_bytes: i64,
    pub duration_ms: f64,
    pub outcome: ActionOutcome,
    /// The fault, when it failed.
    pub error: Option<String>,
    /// From the moment that called for it to the action's start, milliseconds: for
    /// the headroom guard, from headroom falling through the reserve (estimated
    /// between two reads) to the first step. None for actions without such a moment.
    #[serde(default)]
    pub latency_ms: Option<f64>,
}

/// A fault the background manager or the headroom guard met and went on from,
/// to be worded by [`crate::render::fault_text`]. `error` is the exception as
/// raised (`TypeName: message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// The history file could not be opened: history is kept in memory.
    HistoryUnusable { path: String, error: String },
    /// Appending to the history file failed: history is kept in memory from now.
    HistoryUnwritable { path: String, error: String },
    /// The manager's worker thread raised; the supervisor restarts it.
    ThreadDied { error: String },
    /// The supervisor restarted the worker thread.
    ThreadRestarted,
    /// The PSI trigger stopped working; the manager samples instead.
    PsiLost { error: String },
    /// Reading memory (the snapshot) failed for one wake.
    ReadFailed { error: String },
    /// An action woken by `trigger` failed.
    ActionFailed { trigger: String, error: String },
    /// The headroom watch failed; it is retried in a second.
    WatchFailed { error: String },
    /// A give-back raised.
    GivebackFailed { error: String },
}

/// The steps of an action that failed, as `name: detail` joined by `; `; None
/// when every one went as it may.
pub fn failed_steps(steps: &[ManagerStep]) -> Option<String> {
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| format!("{}: {}", s.name, s.detail))
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

impl ManagerAction {
    /// A fault met outside any action (reading memory failed, the worker thread
    /// died...), as a failed entry of the history.
    pub fn fault(at_unix_ms: u64, trigger: &str, level: AlertLevel, text: &str) -> Self {
        ManagerAction {
            at_unix_ms,
            trigger: trigger.into(),
            level,
            mode: "none".into(),
            reason: text.into(),
            steps: Vec::new(),
            freed_bytes: 0,
            duration_ms: 0.0,
            outcome: ActionOutcome::Failed,
            error: Some(text.into()),
            latency_ms: None,
        }
    }
}

/// The background manager now (`memwarden.manager.status()`, the Smart Memory
/// Manager node): what the Python package's manager thread reports, worded by
/// [`crate::render::manager_status_text`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ManagerStatusSummary {
    pub running: bool,
    /// The configured cleanup mode, as the user set it.
    pub mode: String,
    /// How it watches pressure, in words.
    pub watch: String,
    pub level: AlertLevel,
    /// Modes above the configured one the next cleanup runs at.
    pub escalation: u8,
    /// Actions in a row that freed nothing.
    pub fruitless: u32,
    pub history_file: String,
    /// What woke it, and how often.
    pub wakes: Vec<(String, u64)>,
    /// Prompt ends ComfyUI reported, and those handled together with a later one.
    pub prompt_ends: u64,
    pub coalesced: u64,
    /// Its threads' names and OS thread ids.
    pub threads: Vec<(String, u64)>,
    pub actions: u64,
    pub faults: u64,
    pub restarts: u64,
    pub last_action: Option<ManagerAction>,
    pub last_fault: Option<String>,
}

/// Statistics of one trigger or one step over a history.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct GroupStats {
    /// The trigger or the step name.
    pub name: String,
    pub count: u64,
    pub failed: u64,
    pub freed_bytes: i64,
    pub mean_duration_ms: f64,
}

/// Statistics over a manager history (what the nodes, the API and
/// `memwarden history --stats` show).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ManagerStats {
    /// Actions and faults counted.
    pub count: u64,
    pub freed: u64,
    pub nothing_freed: u64,
    pub failed: u64,
    /// Sum of every action's freed bytes (negative ones included).
    pub freed_total_bytes: i64,
    pub mean_duration_ms: f64,
    /// First and last action, Unix milliseconds.
    pub first_unix_ms: Option<u64>,
    pub last_unix_ms: Option<u64>,
    /// Per trigger, by count (most first).
    pub by_trigger: Vec<GroupStats>,
    /// Per step that ran (skipped steps not counted), by count.
    pub by_step: Vec<GroupStats>,
}
