//! When the automatic optimization acts (the Unified Memory Manager's decision):
//! every run, or when RAM or VRAM reaches its threshold, never twice within the
//! cooldown, and, with a hysteresis, not again for the same high water until usage
//! has fallen below the threshold minus the hysteresis. Pure: the caller keeps the
//! [`History`] and the clock.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::model::Snapshot;

use super::modes::CleanupMode;
use super::threshold::{reached, Limits, Usage};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TriggerConfig {
    /// Optimization on at all.
    pub enabled: bool,
    /// The cleanup mode it runs; Monitor never acts.
    pub mode: CleanupMode,
    /// Act on every run (the seed's enable_auto_cleanup).
    pub every_run: bool,
    /// Act when RAM or VRAM reaches its threshold (the seed's auto_optimize).
    /// Neither this nor `every_run`: act on every run (a manual trigger).
    pub on_threshold: bool,
    /// Percent of effective RAM.
    pub ram_threshold: f64,
    /// Percent used of the fullest GPU.
    pub vram_threshold: f64,
    /// Seconds that must pass between two optimizations.
    pub cooldown_s: f64,
    /// Percentage points usage must fall below a threshold, after an optimization
    /// it triggered, before it may trigger again; 0 = no hysteresis.
    pub hysteresis: f64,
}

impl Default for TriggerConfig {
    /// The Unified Memory Manager's defaults: Balanced when asked (neither on every
    /// run nor on a threshold), thresholds RAM 80 % and VRAM 85 %, 30 s apart, no
    /// hysteresis. The Python API and the node take these, never a copy.
    fn default() -> Self {
        Self {
            enabled: true,
            mode: CleanupMode::Balanced,
            every_run: false,
            on_threshold: false,
            ram_threshold: 80.0,
            vram_threshold: 85.0,
            cooldown_s: 30.0,
            hysteresis: 0.0,
        }
    }
}

impl TriggerConfig {
    /// The RAM and VRAM thresholds.
    pub fn limits(&self) -> Limits {
        Limits {
            ram: self.ram_threshold,
            vram: self.vram_threshold,
        }
    }
}

/// One optimization that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HistoryEntry {
    /// When it ran, Unix milliseconds.
    pub at_unix_ms: u64,
    pub mode: CleanupMode,
    /// Why it ran.
    pub trigger: String,
    /// RAM + VRAM freed as measured (negative: grew), bytes.
    pub freed_bytes: i64,
}

/// What the trigger remembers between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct History {
    /// The caller's monotonic clock, in seconds, at the last optimization.
    pub last_action_s: Option<f64>,
    /// False after a threshold-triggered optimization (with a hysteresis), until
    /// usage falls below threshold minus hysteresis.
    pub armed: bool,
    /// The last [`History::KEEP`] optimizations, oldest first.
    pub entries: VecDeque<HistoryEntry>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            last_action_s: None,
            armed: true,
            entries: VecDeque::new(),
        }
    }
}

impl History {
    pub const KEEP: usize = 10;

    /// Re-arm once usage in `s` is below both thresholds minus the hysteresis.
    pub fn observe(&mut self, s: &Snapshot, c: &TriggerConfig) {
        if !Usage::of(s).over(c.limits(), c.hysteresis) {
            self.armed = true;
        }
    }

    /// An optimization ran at `now_s` (the caller's monotonic clock).
    pub fn record(&mut self, now_s: f64, d: &Decision, entry: HistoryEntry, c: &TriggerConfig) {
        self.last_action_s = Some(now_s);
        if d.by_threshold && c.hysteresis > 0.0 {
            self.armed = false;
        }
        self.entries.push_back(entry);
        while self.entries.len() > Self::KEEP {
            self.entries.pop_front();
        }
    }

    /// Seconds of `cooldown_s` still to run at `now_s` (0 = none).
    pub fn cooldown_left(&self, now_s: f64, cooldown_s: f64) -> f64 {
        self.last_action_s
            .map_or(0.0, |t| (cooldown_s - (now_s - t)).max(0.0))
    }
}

/// Whether to optimize now, and why (or why not), in words for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    pub act: bool,
    pub reason: String,
    /// A threshold triggered it (so the hysteresis applies afterwards).
    pub by_threshold: bool,
}

fn no(reason: String) -> Decision {
    Decision {
        act: false,
        reason,
        by_threshold: false,
    }
}

/// The thresholds reached in `s`, in words; None when neither is.
fn over_thresholds(s: &Snapshot, c: &TriggerConfig) -> Result<String, String> {
    let u = Usage::of(s);
    let mut over = Vec::new();
    if reached(u.ram, c.ram_threshold) {
        over.push(format!("RAM {:.1}% >= {:.0}%", u.ram, c.ram_threshold));
    }
    if let Some(v) = u.vram.filter(|v| reached(*v, c.vram_threshold)) {
        over.push(format!("VRAM {v:.1}% >= {:.0}%", c.vram_threshold));
    }
    if over.is_empty() {
        return Err(format!(
            "below thresholds (RAM {:.1}% < {:.0}%, {})",
            u.ram,
            c.ram_threshold,
            u.vram_text()
        ));
    }
    Ok(over.join(", "))
}

/// Decide from the snapshot `s`, what happened before (`h`) and the settings.
pub fn decide(s: &Snapshot, h: &History, c: &TriggerConfig, now_s: f64) -> Decision {
    if !c.enabled {
        return no("optimization disabled".into());
    }
    if c.mode == CleanupMode::Monitor {
        return no("mode Monitor Only".into());
    }
    let (trigger, by_threshold) = if c.every_run {
        ("auto cleanup (every run)".to_string(), false)
    } else if c.on_threshold {
        match over_thresholds(s, c) {
            Ok(t) => (t, true),
            Err(below) => return no(below),
        }
    } else {
        ("manual (optimization enabled)".to_string(), false)
    };
    if by_threshold && !h.armed {
        return no(format!(
            "waiting for usage to fall {} points below the thresholds since the last \
             optimization (wanted: {trigger})",
            c.hysteresis
        ));
    }
    let left = h.cooldown_left(now_s, c.cooldown_s);
    if left > 0.0 {
        return no(format!(
            "cooldown: {left:.1} s left of {} s (wanted: {trigger})",
            c.cooldown_s
        ));
    }
    Decision {
        act: true,
        reason: trigger,
        by_threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        // README (Unified Memory Manager, memwarden.optimize): RAM 80 %, VRAM 85 %,
        // 30 s apart, no hysteresis, Balanced, neither on every run nor on a
        // threshold until asked.
        let d = TriggerConfig::default();
        assert_eq!(
            (
                d.ram_threshold,
                d.vram_threshold,
                d.cooldown_s,
                d.hysteresis
            ),
            (80.0, 85.0, 30.0, 0.0)
        );
        assert_eq!(
            (d.enabled, d.every_run, d.on_threshold, d.mode),
            (true, false, false, CleanupMode::Balanced)
        );
    }

    fn cfg() -> TriggerConfig {
        TriggerConfig {
            enabled: true,
            mode: CleanupMode::Balanced,
            every_run: false,
            on_threshold: true,
            ram_threshold: 80.0,
            vram_threshold: 85.0,
            cooldown_s: 30.0,
            hysteresis: 0.0,
        }
    }

    fn snap(ram: f64) -> Snapshot {
        let mut s = crate::model::tests::snapshot();
        s.effective.percent_used = ram;
        s
    }

    fn entry() -> HistoryEntry {
        HistoryEntry {
            at_unix_ms: 0,
            mode: CleanupMode::Balanced,
            trigger: "t".into(),
            freed_bytes: 0,
        }
    }

    #[test]
    fn off_monitor_and_below() {
        let h = History::default();
        let mut c = cfg();
        assert!(decide(&snap(90.0), &h, &c, 0.0).act);
        c.enabled = false;
        assert_eq!(
            decide(&snap(90.0), &h, &c, 0.0).reason,
            "optimization disabled"
        );
        c.enabled = true;
        c.mode = CleanupMode::Monitor;
        assert_eq!(decide(&snap(90.0), &h, &c, 0.0).reason, "mode Monitor Only");
        c.mode = CleanupMode::Balanced;
        let d = decide(&snap(50.0), &h, &c, 0.0);
        assert!(!d.act);
        assert_eq!(d.reason, "below thresholds (RAM 50.0% < 80%, VRAM n/a)");
    }

    #[test]
    fn thresholds_then_cooldown() {
        let mut h = History::default();
        let c = cfg();
        let d = decide(&snap(85.0), &h, &c, 100.0);
        assert!(d.act && d.by_threshold);
        assert_eq!(d.reason, "RAM 85.0% >= 80%");
        h.record(100.0, &d, entry(), &c);
        let d2 = decide(&snap(85.0), &h, &c, 110.0);
        assert!(!d2.act);
        assert_eq!(
            d2.reason,
            "cooldown: 20.0 s left of 30 s (wanted: RAM 85.0% >= 80%)"
        );
        // Without a hysteresis, still high after the cooldown acts again.
        assert!(decide(&snap(85.0), &h, &c, 131.0).act);
    }

    #[test]
    fn vram_of_the_fullest_gpu_triggers() {
        let mut s = snap(10.0);
        s.gpu.devices = vec![
            crate::policy::figures::tests::gpu(0, 23, 24),
            crate::policy::figures::tests::gpu(1, 1, 80),
        ];
        let d = decide(&s, &History::default(), &cfg(), 0.0);
        assert!(d.act, "{d:?}");
        assert_eq!(d.reason, "VRAM 95.8% >= 85%");
    }

    #[test]
    fn hysteresis_waits_for_usage_to_fall() {
        let mut h = History::default();
        let mut c = cfg();
        c.hysteresis = 10.0;
        c.cooldown_s = 0.0;
        let d = decide(&snap(85.0), &h, &c, 0.0);
        h.record(0.0, &d, entry(), &c);
        h.observe(&snap(75.0), &c); // below 80 but not below 70: still disarmed
        assert!(!decide(&snap(85.0), &h, &c, 1.0).act);
        assert!(decide(&snap(85.0), &h, &c, 1.0)
            .reason
            .contains("10 points below"));
        h.observe(&snap(65.0), &c);
        assert!(decide(&snap(85.0), &h, &c, 2.0).act);
    }

    #[test]
    fn every_run_and_manual_ignore_thresholds_not_cooldown() {
        let mut h = History::default();
        let mut c = cfg();
        c.every_run = true;
        let d = decide(&snap(1.0), &h, &c, 0.0);
        assert_eq!(
            (d.act, d.reason.as_str()),
            (true, "auto cleanup (every run)")
        );
        h.record(0.0, &d, entry(), &c);
        assert!(!decide(&snap(1.0), &h, &c, 5.0).act);
        c.every_run = false;
        c.on_threshold = false;
        assert_eq!(
            decide(&snap(1.0), &h, &c, 40.0).reason,
            "manual (optimization enabled)"
        );
        for i in 0..15 {
            h.record(i as f64, &d, entry(), &c);
        }
        assert_eq!(h.entries.len(), History::KEEP);
    }

    fn with_vram(ram: f64, vram: f64) -> Snapshot {
        let mut s = snap(ram);
        let mut g = crate::policy::figures::tests::gpu(0, 1, 100);
        g.percent_used = vram;
        s.gpu.devices = vec![g];
        s
    }

    #[test]
    fn thresholds_are_inclusive_and_both_are_named() {
        let h = History::default();
        let c = cfg();
        assert!(decide(&snap(80.0), &h, &c, 0.0).act);
        assert!(!decide(&snap(79.99), &h, &c, 0.0).act);
        assert!(decide(&with_vram(10.0, 85.0), &h, &c, 0.0).act);
        let d = decide(&with_vram(10.0, 84.99), &h, &c, 0.0);
        assert_eq!(
            (d.act, d.by_threshold, d.reason.as_str()),
            (
                false,
                false,
                "below thresholds (RAM 10.0% < 80%, VRAM 85.0%)"
            )
        );
        let d = decide(&with_vram(90.0, 95.0), &h, &c, 0.0);
        assert_eq!(d.reason, "RAM 90.0% >= 80%, VRAM 95.0% >= 85%");
    }

    #[test]
    fn cooldown_runs_from_the_last_action() {
        let mut h = History::default();
        let c = cfg();
        assert_eq!(h.cooldown_left(1e6, 30.0), 0.0);
        let d = decide(&snap(90.0), &h, &c, 1000.0);
        h.record(1000.0, &d, entry(), &c);
        assert_eq!(h.cooldown_left(1010.0, 30.0), 20.0);
        assert_eq!(h.cooldown_left(1029.5, 30.0), 0.5);
        assert_eq!(h.cooldown_left(1030.0, 30.0), 0.0);
        assert_eq!(h.cooldown_left(2000.0, 30.0), 0.0);
        assert!(!decide(&snap(90.0), &h, &c, 1029.5).act);
        assert!(decide(&snap(90.0), &h, &c, 1030.0).act);
    }

    #[test]
    fn only_a_threshold_trigger_disarms_and_both_figures_must_fall() {
        let mut c = cfg();
        c.hysteresis = 10.0;
        c.cooldown_s = 0.0;
        let mut h = History::default();
        // Every run: no threshold involved, nothing to wait for.
        c.every_run = true;
        let d = decide(&snap(90.0), &h, &c, 0.0);
        assert!(d.act && !d.by_threshold);
        h.record(0.0, &d, entry(), &c);
        assert!(h.armed);
        // A threshold trigger without a hysteresis does not disarm either.
        c.every_run = false;
        let mut no_h = c.clone();
        no_h.hysteresis = 0.0;
        let d = decide(&snap(90.0), &h, &no_h, 1.0);
        assert!(d.by_threshold);
        h.record(1.0, &d, entry(), &no_h);
        assert!(h.armed);
        // With one, it does; re-armed only once RAM and VRAM are both more than
        // the hysteresis below their thresholds (70 and 75).
        h.record(2.0, &d, entry(), &c);
        assert!(!h.armed);
        h.observe(&with_vram(70.0, 10.0), &c);
        assert!(!h.armed, "RAM exactly at 80 - 10");
        h.observe(&with_vram(10.0, 75.0), &c);
        assert!(!h.armed, "VRAM exactly at 85 - 10");
        h.observe(&with_vram(69.99, 80.0), &c);
        assert!(!h.armed, "VRAM still high");
        h.observe(&with_vram(90.0, 74.99), &c);
        assert!(!h.armed, "RAM still high");
        h.observe(&with_vram(69.99, 74.99), &c);
        assert!(h.armed);
        // Observing high usage never disarms by itself.
        h.observe(&snap(99.0), &c);
        assert!(h.armed);
    }

    #[test]
    fn history_keeps_the_last_ten_oldest_first() {
        let mut h = History::default();
        let c = cfg();
        let d = decide(&snap(90.0), &h, &c, 0.0);
        for i in 0..12u64 {
            let e = HistoryEntry {
                at_unix_ms: i,
                ..entry()
            };
            h.record(i as f64, &d, e, &c);
        }
        let kept: Vec<u64> = h.entries.iter().map(|e| e.at_unix_ms).collect();
        assert_eq!(kept, (2..12).collect::<Vec<_>>());
        assert_eq!(h.last_action_s, Some(11.0));
    }
}
