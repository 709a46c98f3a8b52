//! What the background manager does when something wakes it (a prompt ended, the
//! PSI trigger fired, the periodic sample): the alert level from the warning and
//! critical thresholds (with a hysteresis, so it does not flap), escalation
//! Conservative → Balanced → Aggressive while pressure persists (back to the
//! configured mode once it clears), a cooldown that grows after actions that freed
//! nothing (back-off, reset when one frees), and the rule that during a running
//! node only non-disruptive steps run, and only at the critical level. Pure: the
//! caller keeps the [`ManagerState`] and the clock.

use serde::{Deserialize, Serialize};

use crate::model::{AlertLevel, PressureLevel, Snapshot};

use super::figures::vram_percent;
use super::modes::CleanupMode;

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

impl ManagerConfig {
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
    let ram = s.effective.percent_used;
    let vram = vram_percent(s);
    let psi = s.pressure.level;
    let over = |v: f64, t: f64| v >= t - shift;
    let vram_over = |t: f64| vram.is_some_and(|v| over(v, t));
    let vram_text = vram.map_or("VRAM n/a".into(), |v| format!("VRAM {v:.1}%"));
    let words = format!("RAM {ram:.1}%, {vram_text}, PSI {psi:?}").to_lowercase();
    let level = if over(ram, c.ram_critical)
        || vram_over(c.vram_critical)
        || psi == PressureLevel::Critical
    {
        AlertLevel::Critical
    } else if over(ram, c.ram_warning) || vram_over(c.vram_warning) || psi == PressureLevel::High {
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

    /// An action of `d` ran at `now_s` and freed `freed_bytes`: start the cooldown,
    /// count or reset the back-off, and escalate when it ran under pressure.
    pub fn record(&mut self, d: &ManagerDecision, freed_bytes: i64, now_s: f64, c: &ManagerConfig) {
        self.last_action_s = Some(now_s);
        if freed_bytes < c.min_freed_bytes {
            self.fruitless = self.fruitless.saturating_add(1);
        } else {
            self.fruitless = 0;
        }
        if d.act == ManagerAct::Cleanup && d.level >= AlertLevel::Warning && c.escalate {
            self.escalation = self.escalation.saturating_add(1).min(2);
        }
    }
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
            st.record(&d, 100 << 20, now, &c2);
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
        st.record(&d, 0, 0.0, &c);
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
        st.record(&d, 0, 11.0, &c);
        assert_eq!(st.cooldown_s(0.0, &c), 20.0);
        assert_eq!(st.cooldown_s(30.0, &c), 120.0);
        for _ in 0..20 {
            st.record(&d, 0, 11.0, &c);
        }
        assert_eq!(st.cooldown_s(30.0, &c), 600.0, "capped at max_backoff_s");
        st.record(&d, 50 << 20, 12.0, &c);
        assert_eq!(st.fruitless, 0);
        assert_eq!(st.cooldown_s(0.0, &c), 0.0);
    }

    #[test]
    fn cooldown_between_cleanups_manual_ignores_it_monitor_never_acts() {
        let c = cfg();
        let mut st = ManagerState::default();
        let d = wake(&mut st, &snap(85.0), Wake::Sample, false, 0.0);
        st.record(&d, 10 << 20, 0.0, &c);
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
}
