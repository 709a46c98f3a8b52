//! What the background manager does when something wakes it (a prompt ended, the
//! PSI trigger fired, the periodic sample): the alert level from the warning and
//! critical thresholds (with a hysteresis, so it does not flap), escalation
//! Conservative → Balanced → Aggressive while pressure persists (back to the
//! configured mode once it clears), a cooldown that grows after actions that freed
//! nothing (back-off, reset when one frees), and the rule that during a running
//! node only non-disruptive steps run, and only at the critical level. Pure: the
//! caller keeps the [`ManagerState`] and the clock.

use serde::{Deserialize, Serialize};

use crate::model::{
    failed_steps, ActionOutcome, AlertLevel, ManagerAction, ManagerStep, PressureLevel, Snapshot,
};

use super::modes::CleanupMode;
use super::threshold::{Limits, Usage};

/// What woke the manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Wake {
    /// ComfyUI finished a prompt (and its own post-prompt cleanup ran).
    PromptEnd,
    /// The PSI trigger fired: tasks stalled on memory beyond the trigger's threshold.
    Pressure,
    /// The periodic check.
    Sample,
    /// Someone asked (the API, a node).
    Manual,
}

impl Wake {
    pub fn word(self) -> &'static str {
        match self {
            Wake::PromptEnd => "prompt_end",
            Wake::Pressure => "pressure",
            Wake::Sample => "sample",
            Wake::Manual => "manual",
        }
    }
}

/// What the user configured (nodes or `memwarden.manager.start(...)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ManagerConfig {
    /// The mode it starts from; Monitor never acts.
    pub mode: CleanupMode,
    /// Percent of effective (container) RAM for the warning and critical levels.
    pub ram_warning: f64,
    pub ram_critical: f64,
    /// Percent used of any one GPU.
    pub vram_warning: f64,
    pub vram_critical: f64,
    /// Points usage must fall below a threshold before the level drops.
    pub hysteresis: f64,
    /// Seconds between two cleanups (a heap trim between prompts has none until
    /// one frees nothing).
    pub cooldown_s: f64,
    /// Raise the mode one step each time a cleanup leaves the pressure in place.
    pub escalate: bool,
    /// Return freed heap to the OS after every prompt.
    pub trim_between_prompts: bool,
    /// At the critical level during a running node, drop the page cache too.
    pub allow_cache_drop: bool,
    /// An action that freed less than this is "nothing freed" (back-off), bytes.
    pub min_freed_bytes: i64,
    /// The longest cooldown back-off reaches, seconds.
    pub max_backoff_s: f64,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            mode: CleanupMode::Balanced,
            ram_warning: 80.0,
            ram_critical: 92.0,
            vram_warning: 85.0,
            vram_critical: 95.0,
            hysteresis: 5.0,
            cooldown_s: 30.0,
            escalate: true,
            trim_between_prompts: true,
            allow_cache_drop: false,
            min_freed_bytes: 1 << 20,
            max_backoff_s: 600.0,
        }
    }
}

/// How the manager's threads run (its policy is [`ManagerConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ManagerRunner {
    /// Wait on a PSI trigger where the kernel offers one (else sample).
    pub use_psi: bool,
    /// The threshold check's period while a PSI trigger watches pressure, seconds.
    pub check_s: f64,
    /// The sampling period without a trigger, seconds.
    pub sample_s: f64,
    /// How long ComfyUI's own post-prompt cleanup runs before the manager acts, seconds.
    pub settle_s: f64,
    /// Actions kept in memory and in the history file.
    pub history_keep: u64,
    /// The history file; None: the default place.
    pub history_file: Option<String>,
}

impl Default for ManagerRunner {
    fn default() -> Self {
        Self {
            use_psi: true,
            check_s: 5.0,
            sample_s: 1.0,
            settle_s: 0.5,
            history_keep: 500,
            history_file: None,
        }
    }
}

/// The bounds of the runner's periods (`check_s`, `sample_s`), its settle time and
/// its history, as the settings are checked.
pub const RUNNER_PERIOD_S: (f64, f64) = (0.01, 3600.0);
pub const RUNNER_SETTLE_S: (f64, f64) = (0.0, 3600.0);
pub const RUNNER_HISTORY_KEEP: (u64, u64) = (1, 1_000_000);

impl ManagerRunner {
    /// Whether going from these settings to `new` restarts the manager's threads:
    /// another pressure watch (`use_psi`, `sample_s`) or history (`history_file`,
    /// `history_keep`). Any other change is applied to the running manager, which
    /// keeps its memory.
    pub fn restarts_for(&self, new: &ManagerRunner) -> bool {
        (
            self.use_psi,
            self.sample_s,
            &self.history_file,
            self.history_keep,
        ) != (
            new.use_psi,
            new.sample_s,
            &new.history_file,
            new.history_keep,
        )
    }
}

/// How long the supervisor waits before restarting a worker that died for the
/// `restarts`-th time so far (0 before the first): 1 s, doubling up to 60 s, so a
/// fault that kills it at once does not spin.
pub fn restart_delay_s(restarts: u32) -> f64 {
    2f64.powi(restarts.min(6) as i32).min(60.0)
}

/// Points between a warning threshold and the critical level a single threshold
/// implies (the Auto Memory Cleanup node has one threshold a resource).
pub const CRITICAL_STEP: f64 = 10.0;

/// The critical level implied by a single `warning` threshold: [`CRITICAL_STEP`]
/// points above it, at most 100 %.
pub fn critical_above(warning: f64) -> f64 {
    (warning + CRITICAL_STEP).min(100.0)
}

impl ManagerConfig {
    /// The warning level's RAM and VRAM thresholds.
    pub fn warning(&self) -> Limits {
        Limits {
            ram: self.ram_warning,
            vram: self.vram_warning,
        }
    }

    /// The critical level's RAM and VRAM thresholds.
    pub fn critical(&self) -> Limits {
        Limits {
            ram: self.ram_critical,
            vram: self.vram_critical,
        }
    }

    /// Every figure in range, warnings not above criticals; InvalidInput naming the
    /// first one that is not.
    pub fn validate(&self) -> crate::error::Result<()> {
        let bad = |m: String| Err(crate::error::Error::InvalidInput(m));
        for (name, v) in [
            ("ram_warning", self.ram_warning),
            ("ram_critical", self.ram_critical),
            ("vram_warning", self.vram_warning),
            ("vram_critical", self.vram_critical),
            ("hysteresis", self.hysteresis),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return bad(format!("{name} must be a percent from 0 to 100, got {v}"));
            }
        }
        if self.ram_warning > self.ram_critical || self.vram_warning > self.vram_critical {
            return bad(format!(
                "warning thresholds must not exceed critical ones (RAM {} / {}, VRAM {} / {})",
                self.ram_warning, self.ram_critical, self.vram_warning, self.vram_critical
            ));
        }
        for (name, v) in [
            ("cooldown_s", self.cooldown_s),
            ("max_backoff_s", self.max_backoff_s),
        ] {
            if !(0.0..=1e7).contains(&v) {
                return bad(format!("{name} must be from 0 to 1e7 seconds, got {v}"));
            }
        }
        if self.min_freed_bytes < 0 {
            return bad(format!(
                "min_freed_bytes must be >= 0, got {}",
                self.min_freed_bytes
            ));
        }
        Ok(())
    }
}

/// What the manager remembers between wakes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ManagerState {
    pub level: AlertLevel,
    /// Modes above the configured one the next cleanup runs at (0 = none).
    pub escalation: u8,
    /// The caller's monotonic clock at the last action.
    pub last_action_s: Option<f64>,
    /// Actions in a row that freed nothing.
    pub fruitless: u32,
}

/// What the manager does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManagerAct {
    Nothing,
    /// Return free heap to the OS (gc + malloc_trim): never disturbs a node.
    HeapTrim,
    /// The cleanup pipeline in `mode` (may unload models): between prompts only.
    Cleanup,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ManagerDecision {
    pub act: ManagerAct,
    /// The mode of a cleanup, after escalation.
    pub mode: CleanupMode,
    pub level: AlertLevel,
    /// Also drop the page cache (critical during a running node, if allowed).
    pub drop_cache: bool,
    pub reason: String,
}

/// The level the figures in `s` reach, ignoring the previous level; `shift`
/// lowers every threshold (the hysteresis, when judging whether to come down).
fn raw_level(s: &Snapshot, c: &ManagerConfig, shift: f64) -> (AlertLevel, String) {
    let u = Usage::of(s);
    let psi = s.pressure.level;
    let words = format!("RAM {:.1}%, {}, PSI {psi:?}", u.ram, u.vram_text()).to_lowercase();
    let level = if u.over(c.critical(), shift) || psi == PressureLevel::Critical {
        AlertLevel::Critical
    } else if u.over(c.warning(), shift) || psi == PressureLevel::High {
        AlertLevel::Warning
    } else {
        AlertLevel::Normal
    };
    (level, words)
}

impl ManagerState {
    /// The level now, from `s` and what woke the manager: it rises as soon as a
    /// threshold is reached (a PSI trigger means at least warning) and falls only
    /// once usage is `hysteresis` points below. Clearing to normal ends escalation.
    pub fn observe(&mut self, s: &Snapshot, wake: Wake, c: &ManagerConfig) -> String {
        let (up, words) = raw_level(s, c, 0.0);
        let up = if wake == Wake::Pressure {
            up.max(AlertLevel::Warning)
        } else {
            up
        };
        let (held, _) = raw_level(s, c, c.hysteresis);
        self.level = if up >= self.level {
            up
        } else {
            // Falling: only as far as the hysteresis lets it.
            held.min(self.level).max(up)
        };
        if self.level == AlertLevel::Normal {
            self.escalation = 0;
        }
        words
    }

    /// Seconds of cooldown the next cleanup waits for, with the back-off: doubled
    /// for each action in a row that freed nothing, up to `max_backoff_s`.
    pub fn cooldown_s(&self, base_s: f64, c: &ManagerConfig) -> f64 {
        if self.fruitless == 0 {
            return base_s;
        }
        let floor = base_s.max(BACKOFF_FLOOR_S);
        (floor * f64::from(1u32 << self.fruitless.min(10))).min(c.max_backoff_s.max(base_s))
    }

    /// An action of `d` ran at `now_s`, freed `freed_bytes` and `failed` or not:
    /// start the cooldown, count or reset the back-off (by what it freed, failed or
    /// not), escalate when it ran under pressure; how it turned out.
    pub fn record(
        &mut self,
        d: &ManagerDecision,
        (freed_bytes, failed): (i64, bool),
        now_s: f64,
        c: &ManagerConfig,
    ) -> ActionOutcome {
        self.last_action_s = Some(now_s);
        let outcome = outcome(failed, freed_bytes, c);
        if freed_bytes < c.min_freed_bytes {
            self.fruitless = self.fruitless.saturating_add(1);
        } else {
            self.fruitless = 0;
        }
        if d.act == ManagerAct::Cleanup && d.level >= AlertLevel::Warning && c.escalate {
            self.escalation = self.escalation.saturating_add(1).min(2);
        }
        outcome
    }
}

/// What running a decision's action did, measured by the Python package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActionRun {
    pub at_unix_ms: u64,
    /// What woke the manager.
    pub trigger: String,
    pub steps: Vec<ManagerStep>,
    /// Process RSS + VRAM freed by the whole action (negative: grew).
    pub freed_bytes: i64,
    pub duration_ms: f64,
    /// The action raised before its steps ran: the exception, typed.
    pub raised: Option<String>,
}

impl ManagerState {
    /// [`ManagerState::record`] the action of `d` that `run` describes, and its
    /// history entry: failed when it raised or a step failed (the error names them),
    /// its mode `trim` for a heap trim.
    pub fn record_action(
        &mut self,
        d: &ManagerDecision,
        run: ActionRun,
        now_s: f64,
        c: &ManagerConfig,
    ) -> ManagerAction {
        let error = run.raised.or_else(|| failed_steps(&run.steps));
        let outcome = self.record(d, (run.freed_bytes, error.is_some()), now_s, c);
        ManagerAction {
            at_unix_ms: run.at_unix_ms,
            trigger: run.trigger,
            level: d.level,
            mode: match d.act {
                ManagerAct::HeapTrim => "trim".into(),
                _ => d.mode.name().into(),
            },
            reason: d.reason.clone(),
            steps: run.steps,
            freed_bytes: run.freed_bytes,
            duration_ms: run.duration_ms,
            outcome,
            error,
            latency_ms: None,
        }
    }
}

/// How an action turned out: failed when a step failed, else whether it freed at
/// least `min_freed_bytes`. The one judgement of every recorded action (the
/// manager's, with its minimum: [`outcome`]; the headroom guard's:
/// [`super::headroom::action_outcome`]).
pub fn judge(failed: bool, freed_bytes: i64, min_freed_bytes: i64) -> ActionOutcome {
    if failed {
        ActionOutcome::Failed
    } else if freed_bytes >= min_freed_bytes {
        ActionOutcome::Freed
    } else {
        ActionOutcome::NothingFreed
    }
}

/// How a manager action turned out: [`judge`] with the manager's minimum.
pub fn outcome(failed: bool, freed_bytes: i64, c: &ManagerConfig) -> ActionOutcome {
    judge(failed, freed_bytes, c.min_freed_bytes)
}

/// Back-off starts from at least this many seconds (a prompt-end trim has no
/// cooldown of its own).
pub const BACKOFF_FLOOR_S: f64 = 5.0;

/// One mode up, Aggressive being the top; Monitor stays Monitor.
fn step_up(m: CleanupMode) -> CleanupMode {
    match m {
        CleanupMode::Monitor => CleanupMode::Monitor,
        CleanupMode::Conservative => CleanupMode::Balanced,
        CleanupMode::Balanced | CleanupMode::Aggressive => CleanupMode::Aggressive,
    }
}

/// The mode a cleanup runs at: the configured one, raised by the escalation, and
/// at least one step up at the critical level.
pub fn escalated_mode(c: &ManagerConfig, st: &ManagerState) -> CleanupMode {
    let mut m = c.mode;
    let steps = st.escalation + u8::from(st.level == AlertLevel::Critical && c.escalate);
    for _ in 0..steps.min(2) {
        m = step_up(m);
    }
    m
}

fn nothing(level: AlertLevel, mode: CleanupMode, reason: String) -> ManagerDecision {
    ManagerDecision {
        act: ManagerAct::Nothing,
        mode,
        level,
        drop_cache: false,
        reason,
    }
}

/// What to do now, after [`ManagerState::observe`]: `running_node` is true while
/// ComfyUI executes a prompt; `figures` is what `observe` returned.
pub fn decide(
    st: &ManagerState,
    wake: Wake,
    running_node: bool,
    figures: &str,
    c: &ManagerConfig,
    now_s: f64,
) -> ManagerDecision {
    let level = st.level;
    let mode = escalated_mode(c, st);
    let lw = level.word();
    if c.mode == CleanupMode::Monitor {
        return nothing(level, mode, format!("mode Monitor Only ({lw}: {figures})"));
    }
    let (act, base, what) = if running_node {
        if level < AlertLevel::Critical {
            return nothing(
                level,
                mode,
                format!("a node is running: waiting for the prompt to end ({lw}: {figures})"),
            );
        }
        (
            ManagerAct::HeapTrim,
            0.0,
            "critical during a running node: heap trim only",
        )
    } else if level >= AlertLevel::Warning {
        (ManagerAct::Cleanup, c.cooldown_s, "between prompts")
    } else if wake == Wake::PromptEnd && c.trim_between_prompts {
        (
            ManagerAct::HeapTrim,
            0.0,
            "prompt ended: returning freed heap",
        )
    } else if wake == Wake::Manual {
        (ManagerAct::Cleanup, 0.0, "asked for")
    } else {
        return nothing(level, mode, format!("{lw}: {figures}"));
    };
    let cooldown = st.cooldown_s(base, c);
    let left = st
        .last_action_s
        .map_or(0.0, |t| (cooldown - (now_s - t)).max(0.0));
    if left > 0.0 && wake != Wake::Manual {
        let why = if st.fruitless > 0 {
            format!(
                "backing off: the last {} action(s) freed nothing",
                st.fruitless
            )
        } else {
            "cooldown".to_string()
        };
        return nothing(
            level,
            mode,
            format!("{why}; {left:.1} s left of {cooldown:.0} s ({lw}: {figures})"),
        );
    }
    let drop_cache = running_node && c.allow_cache_drop;
    let mode_word = if act == ManagerAct::Cleanup {
        format!(", {} mode", mode.name())
    } else {
        String::new()
    };
    ManagerDecision {
        act,
        mode,
        level,
        drop_cache,
        reason: format!("{what}{mode_word} ({lw}: {figures})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::figures::tests::gpu;

    fn snap(ram: f64) -> Snapshot {
        let mut s = crate::model::tests::snapshot();
        s.effective.percent_used = ram;
        s
    }

    fn cfg() -> ManagerConfig {
        ManagerConfig::default()
    }

    /// observe + decide, as the manager does on each wake.
    fn wake(
        st: &mut ManagerState,
        s: &Snapshot,
        w: Wake,
        running: bool,
        now: f64,
    ) -> ManagerDecision {
        let c = cfg();
        let f = st.observe(s, w, &c);
        decide(st, w, running, &f, &c, now)
    }

    #[test]
    fn config_is_validated() {
        assert!(cfg().validate().is_ok());
        let mut c = cfg();
        c.ram_warning = 95.0;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("warning thresholds must not exceed critical ones"),
            "{e}"
        );
        c = cfg();
        c.vram_critical = 101.0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("vram_critical must be a percent"));
        c = cfg();
        c.cooldown_s = -1.0;
        assert!(c.validate().unwrap_err().to_string().contains("cooldown_s"));
    }

    #[test]
    fn levels_rise_at_once_and_fall_with_hysteresis() {
        let c = cfg();
        let mut st = ManagerState::default();
        st.observe(&snap(50.0), Wake::Sample, &c);
        assert_eq!(st.level, AlertLevel::Normal);
        st.observe(&snap(93.0), Wake::Sample, &c);
        assert_eq!(st.level, AlertLevel::Critical);
        st.observe(&snap(90.0), Wake::Sample, &c); // within 5 points of 92
        assert_eq!(st.level, AlertLevel::Critical);
        st.observe(&snap(86.0), Wake::Sample, &c);
        assert_eq!(st.level, AlertLevel::Warning);
        st.observe(&snap(77.0), Wake::Sample, &c); // within 5 points of 80
        assert_eq!(st.level, AlertLevel::Warning);
        st.observe(&snap(74.0), Wake::Sample, &c);
        assert_eq!(st.level, AlertLevel::Normal);
    }

    #[test]
    fn psi_and_a_full_gpu_raise_the_level() {
        let c = cfg();
        let mut st = ManagerState::default();
        st.observe(&snap(10.0), Wake::Pressure, &c);
        assert_eq!(st.level, AlertLevel::Warning, "a PSI trigger means warning");
        let mut s = snap(10.0);
        s.gpu.devices = vec![gpu(0, 1, 80), gpu(1, 23, 24)];
        let mut st = ManagerState::default();
        let f = st.observe(&s, Wake::Sample, &c);
        assert_eq!(st.level, AlertLevel::Critical, "{f}");
        assert!(f.contains("vram 95.8%"), "{f}");
        let mut s = snap(10.0);
        s.pressure.level = PressureLevel::Critical;
        let mut st = ManagerState::default();
        st.observe(&s, Wake::Sample, &c);
        assert_eq!(st.level, AlertLevel::Critical);
    }

    #[test]
    fn running_node_only_trims_and_only_when_critical() {
        let mut st = ManagerState::default();
        let d = wake(&mut st, &snap(85.0), Wake::Pressure, true, 0.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        assert!(d.reason.starts_with("a node is running"), "{}", d.reason);
        let d = wake(&mut st, &snap(95.0), Wake::Pressure, true, 0.0);
        assert_eq!(d.act, ManagerAct::HeapTrim);
        assert!(!d.drop_cache, "page cache drop not allowed by default");
        let mut c = cfg();
        c.allow_cache_drop = true;
        let f = st.observe(&snap(95.0), Wake::Sample, &c);
        assert!(decide(&st, Wake::Sample, true, &f, &c, 0.0).drop_cache);
        // Between prompts the same level runs a cleanup.
        let d = wake(&mut st, &snap(95.0), Wake::Sample, false, 0.0);
        assert_eq!(d.act, ManagerAct::Cleanup);
    }

    #[test]
    fn prompt_end_trims_when_normal_samples_do_nothing() {
        let mut st = ManagerState::default();
        let d = wake(&mut st, &snap(30.0), Wake::PromptEnd, false, 0.0);
        assert_eq!(d.act, ManagerAct::HeapTrim);
        let d = wake(&mut st, &snap(30.0), Wake::Sample, false, 0.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        assert_eq!(d.reason, "normal: ram 30.0%, vram n/a, psi none");
    }

    #[test]
    fn escalates_while_pressure_persists_and_returns_when_it_clears() {
        let c = cfg();
        let mut st = ManagerState::default();
        let mut c2 = c.clone();
        c2.mode = CleanupMode::Conservative;
        let mut modes = Vec::new();
        for i in 0..4 {
            let now = f64::from(i) * 100.0;
            let f = st.observe(&snap(85.0), Wake::Sample, &c2);
            let d = decide(&st, Wake::Sample, false, &f, &c2, now);
            assert_eq!(d.act, ManagerAct::Cleanup);
            modes.push(d.mode);
            st.record(&d, (100 << 20, false), now, &c2);
        }
        use CleanupMode::*;
        assert_eq!(modes, [Conservative, Balanced, Aggressive, Aggressive]);
        st.observe(&snap(40.0), Wake::Sample, &c2);
        assert_eq!(st.escalation, 0);
        assert_eq!(escalated_mode(&c2, &st), Conservative);
        // Critical starts one step up.
        st.observe(&snap(99.0), Wake::Sample, &c2);
        assert_eq!(escalated_mode(&c2, &st), Balanced);
    }

    #[test]
    fn backs_off_after_fruitless_actions_and_resets_when_one_frees() {
        let c = cfg();
        let mut st = ManagerState::default();
        let d = wake(&mut st, &snap(30.0), Wake::PromptEnd, false, 0.0);
        assert_eq!(d.act, ManagerAct::HeapTrim);
        st.record(&d, (0, false), 0.0, &c);
        // Prompt-end trims have no cooldown until one frees nothing: now 5 s x 2.
        let d = wake(&mut st, &snap(30.0), Wake::PromptEnd, false, 3.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        assert_eq!(
            d.reason,
            "backing off: the last 1 action(s) freed nothing; 7.0 s left of 10 s \
             (normal: ram 30.0%, vram n/a, psi none)"
        );
        let d = wake(&mut st, &snap(30.0), Wake::PromptEnd, false, 11.0);
        assert_eq!(d.act, ManagerAct::HeapTrim);
        st.record(&d, (0, false), 11.0, &c);
        assert_eq!(st.cooldown_s(0.0, &c), 20.0);
        assert_eq!(st.cooldown_s(30.0, &c), 120.0);
        for _ in 0..20 {
            st.record(&d, (0, false), 11.0, &c);
        }
        assert_eq!(st.cooldown_s(30.0, &c), 600.0, "capped at max_backoff_s");
        st.record(&d, (50 << 20, false), 12.0, &c);
        assert_eq!(st.fruitless, 0);
        assert_eq!(st.cooldown_s(0.0, &c), 0.0);
    }

    #[test]
    fn cooldown_between_cleanups_manual_ignores_it_monitor_never_acts() {
        let c = cfg();
        let mut st = ManagerState::default();
        let d = wake(&mut st, &snap(85.0), Wake::Sample, false, 0.0);
        st.record(&d, (10 << 20, false), 0.0, &c);
        let d = wake(&mut st, &snap(85.0), Wake::Sample, false, 10.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        assert!(
            d.reason.starts_with("cooldown; 20.0 s left of 30 s"),
            "{}",
            d.reason
        );
        let d = wake(&mut st, &snap(85.0), Wake::Manual, false, 10.0);
        assert_eq!(d.act, ManagerAct::Cleanup);
        let mut m = cfg();
        m.mode = CleanupMode::Monitor;
        let mut st = ManagerState::default();
        let f = st.observe(&snap(99.0), Wake::Sample, &m);
        let d = decide(&st, Wake::Sample, false, &f, &m, 0.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        assert!(d.reason.starts_with("mode Monitor Only"));
    }

    #[test]
    fn wake_words_are_the_serialized_names() {
        for (w, word) in [
            (Wake::PromptEnd, "prompt_end"),
            (Wake::Pressure, "pressure"),
            (Wake::Sample, "sample"),
            (Wake::Manual, "manual"),
        ] {
            assert_eq!(w.word(), word);
            assert_eq!(serde_json::to_string(&w).unwrap(), format!("\"{word}\""));
        }
    }

    /// Each bound of [`ManagerConfig::validate`], on both sides.
    #[test]
    fn config_bounds_are_inclusive_and_name_the_setting() {
        type Set = fn(&mut ManagerConfig, f64);
        let percents: [(&str, Set); 5] = [
            ("ram_warning", |c, v| c.ram_warning = v),
            ("ram_critical", |c, v| c.ram_critical = v),
            ("vram_warning", |c, v| c.vram_warning = v),
            ("vram_critical", |c, v| c.vram_critical = v),
            ("hysteresis", |c, v| c.hysteresis = v),
        ];
        for (name, set) in percents {
            for ok in [0.0, 100.0] {
                let mut c = cfg();
                // Keep warning <= critical whichever one moves.
                c.ram_warning = 0.0;
                c.vram_warning = 0.0;
                c.ram_critical = 100.0;
                c.vram_critical = 100.0;
                set(&mut c, ok);
                assert!(c.validate().is_ok(), "{name} = {ok}: {:?}", c.validate());
            }
            for bad in [-0.01, 100.01, f64::NAN] {
                let mut c = cfg();
                set(&mut c, bad);
                let e = c.validate().unwrap_err();
                assert_eq!(e.exit_code(), crate::error::exit_code::USAGE);
                assert!(
                    e.to_string()
                        .contains(&format!("{name} must be a percent from 0 to 100, got")),
                    "{name} = {bad}: {e}"
                );
            }
        }
        // Warning equal to critical is allowed; above it, in RAM or in VRAM alone, not.
        let mut c = cfg();
        c.ram_warning = c.ram_critical;
        c.vram_warning = c.vram_critical;
        assert!(c.validate().is_ok());
        c.vram_warning = c.vram_critical + 0.5;
        let e = c.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid input: warning thresholds must not exceed critical ones (RAM 92 / 92, \
             VRAM 95.5 / 95)"
        );
        let mut c = cfg();
        c.ram_warning = c.ram_critical + 0.5;
        assert!(c.validate().is_err());
        type SetS = fn(&mut ManagerConfig, f64);
        let seconds: [(&str, SetS); 2] = [
            ("cooldown_s", |c, v| c.cooldown_s = v),
            ("max_backoff_s", |c, v| c.max_backoff_s = v),
        ];
        for (name, set) in seconds {
            for ok in [0.0, 1e7] {
                let mut c = cfg();
                set(&mut c, ok);
                assert!(c.validate().is_ok(), "{name} = {ok}");
            }
            for bad in [-0.001, 1e7 + 1.0, f64::NAN, f64::INFINITY] {
                let mut c = cfg();
                set(&mut c, bad);
                let e = c.validate().unwrap_err().to_string();
                assert!(
                    e.contains(&format!("{name} must be from 0 to 1e7 seconds, got")),
                    "{name} = {bad}: {e}"
                );
            }
        }
        let mut c = cfg();
        c.min_freed_bytes = 0;
        assert!(c.validate().is_ok());
        c.min_freed_bytes = -1;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid input: min_freed_bytes must be >= 0, got -1"
        );
    }

    /// A snapshot with RAM at `ram` %, one GPU at `vram` % and PSI at `psi`.
    fn snap_with(ram: f64, vram: Option<f64>, psi: PressureLevel) -> Snapshot {
        let mut s = snap(ram);
        if let Some(v) = vram {
            let mut d = gpu(0, 1, 100);
            d.percent_used = v;
            s.gpu.devices = vec![d];
        }
        s.pressure.level = psi;
        s
    }

    fn level_of(s: &Snapshot, wake: Wake) -> (AlertLevel, String) {
        let mut st = ManagerState::default();
        let f = st.observe(s, wake, &cfg());
        (st.level, f)
    }

    #[test]
    fn each_figure_alone_raises_the_level() {
        use AlertLevel::*;
        use PressureLevel as P;
        let cases = [
            // RAM alone, at and just below each threshold (80 / 92).
            (snap_with(80.0, None, P::None), Warning),
            (snap_with(79.99, None, P::None), Normal),
            (snap_with(92.0, None, P::None), Critical),
            (snap_with(91.99, None, P::None), Warning),
            // VRAM alone (85 / 95), RAM low and no PSI.
            (snap_with(10.0, Some(85.0), P::None), Warning),
            (snap_with(10.0, Some(84.99), P::None), Normal),
            (snap_with(10.0, Some(95.0), P::None), Critical),
            (snap_with(10.0, Some(94.99), P::None), Warning),
            // PSI alone.
            (snap_with(10.0, Some(10.0), P::High), Warning),
            (snap_with(10.0, None, P::Moderate), Normal),
            (snap_with(10.0, None, P::Critical), Critical),
        ];
        for (s, want) in cases {
            let (got, f) = level_of(&s, Wake::Sample);
            assert_eq!(got, want, "{f}");
        }
        let (_, f) = level_of(&snap_with(10.0, Some(90.0), P::High), Wake::Sample);
        assert_eq!(f, "ram 10.0%, vram 90.0%, psi high");
        // The PSI trigger means at least warning, and never lowers a critical level.
        assert_eq!(level_of(&snap(10.0), Wake::Pressure).0, Warning);
        assert_eq!(level_of(&snap(95.0), Wake::Pressure).0, Critical);
        assert_eq!(level_of(&snap(10.0), Wake::Manual).0, Normal);
    }

    #[test]
    fn hysteresis_boundaries() {
        let c = cfg();
        // From critical (92), the level holds down to 92 - 5 = 87 inclusive.
        for (ram, want) in [(87.0, AlertLevel::Critical), (86.99, AlertLevel::Warning)] {
            let mut st = ManagerState {
                level: AlertLevel::Critical,
                ..Default::default()
            };
            st.observe(&snap(ram), Wake::Sample, &c);
            assert_eq!(st.level, want, "from critical at {ram}");
        }
        // From warning (80), down to 75 inclusive; VRAM too (85 -> 80).
        for (s, want) in [
            (snap(75.0), AlertLevel::Warning),
            (snap(74.99), AlertLevel::Normal),
            (
                snap_with(10.0, Some(80.0), PressureLevel::None),
                AlertLevel::Warning,
            ),
            (
                snap_with(10.0, Some(79.99), PressureLevel::None),
                AlertLevel::Normal,
            ),
        ] {
            let mut st = ManagerState {
                level: AlertLevel::Warning,
                escalation: 2,
                ..Default::default()
            };
            st.observe(&s, Wake::Sample, &c);
            assert_eq!(st.level, want);
            // Escalation ends only once the level is normal again.
            let esc = if want == AlertLevel::Normal { 0 } else { 2 };
            assert_eq!(st.escalation, esc);
        }
        // From critical straight to normal when usage falls far enough.
        let mut st = ManagerState {
            level: AlertLevel::Critical,
            escalation: 1,
            ..Default::default()
        };
        st.observe(&snap(20.0), Wake::Sample, &c);
        assert_eq!((st.level, st.escalation), (AlertLevel::Normal, 0));
    }

    fn decision(act: ManagerAct, level: AlertLevel) -> ManagerDecision {
        ManagerDecision {
            act,
            mode: CleanupMode::Balanced,
            level,
            drop_cache: false,
            reason: String::new(),
        }
    }

    #[test]
    fn only_a_cleanup_under_pressure_escalates() {
        let c = cfg();
        let mut st = ManagerState::default();
        // A heap trim at the warning or critical level does not escalate.
        st.record(
            &decision(ManagerAct::HeapTrim, AlertLevel::Warning),
            (0, false),
            5.0,
            &c,
        );
        st.record(
            &decision(ManagerAct::HeapTrim, AlertLevel::Critical),
            (0, false),
            6.0,
            &c,
        );
        st.record(
            &decision(ManagerAct::Nothing, AlertLevel::Critical),
            (0, false),
            7.0,
            &c,
        );
        assert_eq!(st.escalation, 0);
        assert_eq!(st.last_action_s, Some(7.0));
        // Nor does a cleanup at the normal level (one asked for).
        st.record(
            &decision(ManagerAct::Cleanup, AlertLevel::Normal),
            (0, false),
            8.0,
            &c,
        );
        assert_eq!(st.escalation, 0);
        // Nor one under pressure with escalation turned off.
        let mut off = cfg();
        off.escalate = false;
        st.record(
            &decision(ManagerAct::Cleanup, AlertLevel::Critical),
            (0, false),
            9.0,
            &off,
        );
        assert_eq!(st.escalation, 0);
        // A cleanup under pressure does, up to two steps.
        for want in [1, 2, 2] {
            st.record(
                &decision(ManagerAct::Cleanup, AlertLevel::Warning),
                (0, false),
                10.0,
                &c,
            );
            assert_eq!(st.escalation, want);
        }
    }

    #[test]
    fn freeing_exactly_the_minimum_is_not_fruitless() {
        let c = cfg();
        let d = decision(ManagerAct::HeapTrim, AlertLevel::Normal);
        let mut st = ManagerState::default();
        st.record(&d, (c.min_freed_bytes - 1, false), 1.0, &c);
        assert_eq!(st.fruitless, 1);
        st.record(&d, (c.min_freed_bytes - 1, false), 2.0, &c);
        assert_eq!(st.fruitless, 2);
        st.record(&d, (c.min_freed_bytes, false), 3.0, &c);
        assert_eq!(st.fruitless, 0);
        // Memory that grew (a negative amount freed) is fruitless too.
        st.record(&d, (-(50 << 20), false), 4.0, &c);
        assert_eq!(st.fruitless, 1);
        let mut zero = cfg();
        zero.min_freed_bytes = 0;
        st.record(&d, (0, false), 5.0, &zero);
        assert_eq!(st.fruitless, 0);
    }

    #[test]
    fn the_outcome_is_judged_once_here() {
        use ActionOutcome::*;
        let c = cfg();
        let d = decision(ManagerAct::HeapTrim, AlertLevel::Normal);
        let mut st = ManagerState::default();
        let m = c.min_freed_bytes;
        assert_eq!(st.record(&d, (m, false), 1.0, &c), Freed);
        assert_eq!(st.record(&d, (m - 1, false), 2.0, &c), NothingFreed);
        // A failed step is a failure whatever was freed; the back-off still
        // counts what was freed.
        assert_eq!(st.record(&d, (m, true), 3.0, &c), Failed);
        assert_eq!(st.fruitless, 0);
        assert_eq!(st.record(&d, (0, true), 4.0, &c), Failed);
        assert_eq!(st.fruitless, 1);
        assert_eq!(outcome(false, -1, &c), NothingFreed);
    }

    #[test]
    fn one_threshold_implies_a_critical_level_ten_points_up() {
        assert_eq!(critical_above(80.0), 90.0);
        assert_eq!(critical_above(95.0), 100.0);
        assert_eq!(critical_above(90.0), 100.0);
        assert_eq!(critical_above(1.0), 11.0);
    }

    #[test]
    fn the_history_entry_of_an_action() {
        let c = cfg();
        let step = |name: &str, ok: bool| ManagerStep {
            name: name.into(),
            ok,
            skipped: false,
            detail: if ok { "fine".into() } else { "boom".into() },
            freed_bytes: None,
            duration_ms: 1.0,
        };
        let run = |steps: Vec<ManagerStep>, raised: Option<&str>| ActionRun {
            at_unix_ms: 9,
            trigger: "prompt_end".into(),
            steps,
            freed_bytes: c.min_freed_bytes,
            duration_ms: 3.0,
            raised: raised.map(String::from),
        };
        let mut st = ManagerState::default();
        let mut d = decision(ManagerAct::Cleanup, AlertLevel::Warning);
        d.mode = CleanupMode::Aggressive;
        let a = st.record_action(&d, run(vec![step("GC pass 1", true)], None), 1.0, &c);
        assert_eq!(
            (a.at_unix_ms, a.trigger.as_str(), a.level, a.mode.as_str()),
            (9, "prompt_end", AlertLevel::Warning, "aggressive")
        );
        assert_eq!(
            (a.reason.as_str(), a.outcome, a.error),
            (d.reason.as_str(), ActionOutcome::Freed, None)
        );
        assert_eq!(
            (a.steps.len(), a.freed_bytes, a.duration_ms, a.latency_ms),
            (1, c.min_freed_bytes, 3.0, None)
        );
        assert_eq!(st.escalation, 1);
        assert_eq!(st.last_action_s, Some(1.0));
        let trim = decision(ManagerAct::HeapTrim, AlertLevel::Normal);
        let failed = st.record_action(
            &trim,
            run(
                vec![
                    step("OS-level trim", false),
                    step("Purge page cache", false),
                ],
                None,
            ),
            2.0,
            &c,
        );
        assert_eq!(failed.mode, "trim");
        assert_eq!(failed.outcome, ActionOutcome::Failed);
        assert_eq!(
            failed.error.as_deref(),
            Some("OS-level trim: boom; Purge page cache: boom")
        );
        let raised = st.record_action(&trim, run(vec![], Some("RuntimeError: gone")), 3.0, &c);
        assert_eq!(
            (raised.outcome, raised.error.as_deref()),
            (ActionOutcome::Failed, Some("RuntimeError: gone"))
        );
        let f = ManagerAction::fault(5, "pressure", AlertLevel::Warning, "PSI lost");
        assert_eq!(
            (
                f.mode.as_str(),
                f.reason.as_str(),
                f.error.as_deref(),
                f.outcome,
                f.freed_bytes
            ),
            (
                "none",
                "PSI lost",
                Some("PSI lost"),
                ActionOutcome::Failed,
                0
            )
        );
        assert_eq!(
            (f.at_unix_ms, f.trigger.as_str(), f.level, f.steps.len()),
            (5, "pressure", AlertLevel::Warning, 0)
        );
    }

    #[test]
    fn back_off_doubles_from_its_floor_up_to_the_cap() {
        let mut c = cfg();
        c.max_backoff_s = 1e7;
        let st = |fruitless| ManagerState {
            fruitless,
            ..Default::default()
        };
        assert_eq!(st(0).cooldown_s(0.0, &c), 0.0);
        assert_eq!(st(0).cooldown_s(30.0, &c), 30.0);
        // The floor (5 s) applies to a base below it, not to one above it.
        assert_eq!(st(1).cooldown_s(0.0, &c), 10.0);
        assert_eq!(st(1).cooldown_s(4.0, &c), 10.0);
        assert_eq!(st(1).cooldown_s(6.0, &c), 12.0);
        assert_eq!(st(3).cooldown_s(30.0, &c), 240.0);
        // The doubling stops at 2^10, however many actions freed nothing.
        assert_eq!(st(10).cooldown_s(1.0, &c), 5.0 * 1024.0);
        assert_eq!(st(11).cooldown_s(1.0, &c), 5.0 * 1024.0);
        assert_eq!(st(u32::MAX).cooldown_s(1.0, &c), 5.0 * 1024.0);
        // The cap, and a base cooldown above the cap: never shorter than the base.
        c.max_backoff_s = 100.0;
        assert_eq!(st(5).cooldown_s(30.0, &c), 100.0);
        assert_eq!(st(5).cooldown_s(300.0, &c), 300.0);
    }

    #[test]
    fn cooldown_counts_from_the_last_action_not_from_zero() {
        let c = cfg();
        let mut st = ManagerState::default();
        let d = wake(&mut st, &snap(85.0), Wake::Sample, false, 1000.0);
        assert_eq!(d.act, ManagerAct::Cleanup);
        st.record(&d, (10 << 20, false), 1000.0, &c);
        let d = wake(&mut st, &snap(85.0), Wake::Sample, false, 1010.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        assert!(
            d.reason
                .starts_with("cooldown; 20.0 s left of 30 s (warning: "),
            "{}",
            d.reason
        );
        let d = wake(&mut st, &snap(85.0), Wake::Sample, false, 1029.5);
        assert_eq!(d.act, ManagerAct::Nothing, "{}", d.reason);
        assert!(
            d.reason.starts_with("cooldown; 0.5 s left of 30 s"),
            "{}",
            d.reason
        );
        // Exactly the cooldown later it acts.
        let d = wake(&mut st, &snap(85.0), Wake::Sample, false, 1030.0);
        assert_eq!(d.act, ManagerAct::Cleanup, "{}", d.reason);
        // Back-off from a later time too: a trim at 2000 that freed nothing waits 10 s.
        let mut st = ManagerState::default();
        let d = wake(&mut st, &snap(30.0), Wake::PromptEnd, false, 2000.0);
        st.record(&d, (0, false), 2000.0, &c);
        let d = wake(&mut st, &snap(30.0), Wake::PromptEnd, false, 2004.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        assert!(
            d.reason
                .starts_with("backing off: the last 1 action(s) freed nothing; 6.0 s left of 10 s"),
            "{}",
            d.reason
        );
        let d = wake(&mut st, &snap(30.0), Wake::PromptEnd, false, 2010.0);
        assert_eq!(d.act, ManagerAct::HeapTrim, "{}", d.reason);
    }

    #[test]
    fn what_each_wake_does_and_says() {
        let c = cfg();
        // Asked for at the normal level: a cleanup in the configured mode, now.
        let mut st = ManagerState::default();
        let f = st.observe(&snap(30.0), Wake::Manual, &c);
        let d = decide(&st, Wake::Manual, false, &f, &c, 0.0);
        assert_eq!(
            (d.act, d.mode, d.level),
            (
                ManagerAct::Cleanup,
                CleanupMode::Balanced,
                AlertLevel::Normal
            )
        );
        assert_eq!(
            d.reason,
            "asked for, balanced mode (normal: ram 30.0%, vram n/a, psi none)"
        );
        assert!(!d.drop_cache);
        // Between prompts under pressure: a cleanup, and never a cache drop.
        let mut drop = cfg();
        drop.allow_cache_drop = true;
        let mut st = ManagerState::default();
        let f = st.observe(&snap(95.0), Wake::Sample, &drop);
        let d = decide(&st, Wake::Sample, false, &f, &drop, 0.0);
        assert_eq!(d.act, ManagerAct::Cleanup);
        assert!(!d.drop_cache, "a cache drop is for a running node only");
        assert_eq!(
            d.mode,
            CleanupMode::Aggressive,
            "critical starts one step up"
        );
        assert_eq!(
            d.reason,
            "between prompts, aggressive mode (critical: ram 95.0%, vram n/a, psi none)"
        );
        // During a node at the critical level: a heap trim, no mode in its words.
        let d = decide(&st, Wake::Sample, true, &f, &drop, 0.0);
        assert_eq!(d.act, ManagerAct::HeapTrim);
        assert!(d.drop_cache);
        assert_eq!(d.reason, "critical during a running node: heap trim only (critical: ram 95.0%, vram n/a, psi none)");
        // A prompt end without trims between prompts, and a sample at normal: nothing.
        let mut no_trim = cfg();
        no_trim.trim_between_prompts = false;
        let mut st = ManagerState::default();
        let f = st.observe(&snap(30.0), Wake::PromptEnd, &no_trim);
        let d = decide(&st, Wake::PromptEnd, false, &f, &no_trim, 0.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        assert_eq!(d.reason, "normal: ram 30.0%, vram n/a, psi none");
        let d = decide(&st, Wake::Pressure, false, &f, &c, 0.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        // A heap trim during a node ignores the cooldown of cleanups, not the back-off.
        let mut st = ManagerState {
            level: AlertLevel::Critical,
            last_action_s: Some(100.0),
            ..Default::default()
        };
        let f = "figures";
        assert_eq!(
            decide(&st, Wake::Sample, true, f, &c, 101.0).act,
            ManagerAct::HeapTrim
        );
        st.fruitless = 1;
        let d = decide(&st, Wake::Sample, true, f, &c, 101.0);
        assert_eq!(d.act, ManagerAct::Nothing);
        assert_eq!(d.reason, "backing off: the last 1 action(s) freed nothing; 9.0 s left of 10 s (critical: figures)");
        // Manual ignores the back-off as well.
        assert_eq!(
            decide(&st, Wake::Manual, false, f, &c, 101.0).act,
            ManagerAct::Cleanup
        );
    }

    #[test]
    fn escalated_mode_steps() {
        use CleanupMode::*;
        let mut c = cfg();
        let st = |level, escalation| ManagerState {
            level,
            escalation,
            ..Default::default()
        };
        c.mode = Conservative;
        assert_eq!(
            escalated_mode(&c, &st(AlertLevel::Warning, 0)),
            Conservative
        );
        assert_eq!(escalated_mode(&c, &st(AlertLevel::Warning, 1)), Balanced);
        assert_eq!(escalated_mode(&c, &st(AlertLevel::Critical, 0)), Balanced);
        assert_eq!(escalated_mode(&c, &st(AlertLevel::Critical, 2)), Aggressive);
        c.escalate = false;
        assert_eq!(
            escalated_mode(&c, &st(AlertLevel::Critical, 0)),
            Conservative
        );
        c.mode = Monitor;
        c.escalate = true;
        assert_eq!(escalated_mode(&c, &st(AlertLevel::Critical, 2)), Monitor);
    }

    #[test]
    fn the_runner_restarts_only_for_another_watch_or_history() {
        let old = ManagerRunner::default();
        assert!(!old.restarts_for(&old.clone()));
        for new in [
            ManagerRunner {
                check_s: 1.0,
                ..old.clone()
            },
            ManagerRunner {
                settle_s: 2.0,
                ..old.clone()
            },
        ] {
            assert!(!old.restarts_for(&new), "{new:?}");
        }
        for new in [
            ManagerRunner {
                use_psi: false,
                ..old.clone()
            },
            ManagerRunner {
                sample_s: 0.5,
                ..old.clone()
            },
            ManagerRunner {
                history_keep: 10,
                ..old.clone()
            },
            ManagerRunner {
                history_file: Some("h.jsonl".into()),
                ..old.clone()
            },
        ] {
            assert!(old.restarts_for(&new), "{new:?}");
        }
        let delays: Vec<f64> = (0..9).map(restart_delay_s).collect();
        assert_eq!(delays, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]);
        assert_eq!(restart_delay_s(u32::MAX), 60.0);
    }
}
