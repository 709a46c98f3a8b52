//! Statistics over the manager's history: how many actions, how much they freed,
//! how long they took, per trigger and per step. Pure.

use std::collections::BTreeMap;

use crate::model::{ActionOutcome, GroupStats, ManagerAction, ManagerStats};

#[derive(Default)]
struct Acc {
    count: u64,
    failed: u64,
    freed: i64,
    duration_ms: f64,
}

impl Acc {
    fn add(&mut self, failed: bool, freed: i64, ms: f64) {
        self.count += 1;
        self.failed += u64::from(failed);
        self.freed += freed;
        self.duration_ms += ms;
    }
}

/// Groups by count, most first (then by name, so the order is stable).
fn groups(map: BTreeMap<String, Acc>) -> Vec<GroupStats> {
    let mut v: Vec<GroupStats> = map
        .into_iter()
        .map(|(name, a)| GroupStats {
            name,
            count: a.count,
            failed: a.failed,
            freed_bytes: a.freed,
            mean_duration_ms: a.duration_ms / a.count.max(1) as f64,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v
}

/// The statistics of `actions` (any order).
pub fn stats(actions: &[ManagerAction]) -> ManagerStats {
    let mut s = ManagerStats::default();
    let mut total_ms = 0.0;
    let mut by_trigger: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_step: BTreeMap<String, Acc> = BTreeMap::new();
    for a in actions {
        s.count += 1;
        match a.outcome {
            ActionOutcome::Freed => s.freed += 1,
            ActionOutcome::NothingFreed => s.nothing_freed += 1,
            ActionOutcome::Failed => s.failed += 1,
        }
        s.freed_total_bytes += a.freed_bytes;
        total_ms += a.duration_ms;
        s.first_unix_ms = Some(
            s.first_unix_ms
                .map_or(a.at_unix_ms, |t| t.min(a.at_unix_ms)),
        );
        s.last_unix_ms = Some(s.last_unix_ms.map_or(a.at_unix_ms, |t| t.max(a.at_unix_ms)));
        let failed = a.outcome == ActionOutcome::Failed;
        by_trigger
            .entry(a.trigger.clone())
            .or_default()
            .add(failed, a.freed_bytes, a.duration_ms);
        for st in a.steps.iter().filter(|st| !st.skipped) {
            by_step.entry(st.name.clone()).or_default().add(
                !st.ok,
                st.freed_bytes.unwrap_or(0),
                st.duration_ms,
            );
        }
    }
    s.mean_duration_ms = total_ms / s.count.max(1) as f64;
    s.by_trigger = groups(by_trigger);
    s.by_step = groups(by_step);
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{AlertLevel, ManagerStep};

    pub(crate) fn action(
        at: u64,
        trigger: &str,
        freed: i64,
        ms: f64,
        outcome: ActionOutcome,
    ) -> ManagerAction {
        ManagerAction {
            at_unix_ms: at,
            trigger: trigger.into(),
            level: AlertLevel::Normal,
            mode: "trim".into(),
            reason: "r".into(),
            steps: vec![
                ManagerStep {
                    name: "OS-level trim".into(),
                    ok: outcome != ActionOutcome::Failed,
                    skipped: false,
                    detail: "d".into(),
                    freed_bytes: Some(freed),
                    duration_ms: ms,
                },
                ManagerStep {
                    name: "Unload models".into(),
                    ok: true,
                    skipped: true,
                    detail: "skipped".into(),
                    freed_bytes: None,
                    duration_ms: 0.0,
                },
            ],
            freed_bytes: freed,
            duration_ms: ms,
            outcome,
            error: None,
            latency_ms: None,
        }
    }

    #[test]
    fn counts_totals_means_and_groups() {
        let h = [
            action(3000, "prompt_end", 10, 2.0, ActionOutcome::Freed),
            action(1000, "prompt_end", 0, 4.0, ActionOutcome::NothingFreed),
            action(2000, "pressure", 100, 30.0, ActionOutcome::Freed),
            action(4000, "supervisor", 0, 0.0, ActionOutcome::Failed),
        ];
        let s = stats(&h);
        assert_eq!((s.count, s.freed, s.nothing_freed, s.failed), (4, 2, 1, 1));
        assert_eq!(s.freed_total_bytes, 110);
        assert_eq!(s.mean_duration_ms, 9.0);
        assert_eq!((s.first_unix_ms, s.last_unix_ms), (Some(1000), Some(4000)));
        let t: Vec<_> = s
            .by_trigger
            .iter()
            .map(|g| (g.name.as_str(), g.count, g.freed_bytes))
            .collect();
        assert_eq!(
            t,
            [
                ("prompt_end", 2, 10),
                ("pressure", 1, 100),
                ("supervisor", 1, 0)
            ]
        );
        assert_eq!(s.by_trigger[0].mean_duration_ms, 3.0);
        assert_eq!(s.by_step.len(), 1, "skipped steps are not counted");
        assert_eq!((s.by_step[0].count, s.by_step[0].failed), (4, 1));
    }

    #[test]
    fn failures_freed_bytes_and_durations_per_group() {
        let h = [
            action(1, "pressure", 40, 10.0, ActionOutcome::Failed),
            action(2, "pressure", -8, 20.0, ActionOutcome::NothingFreed),
            action(3, "manual", 7, 1.0, ActionOutcome::Freed),
        ];
        let s = stats(&h);
        let g = |v: &[GroupStats]| -> Vec<(String, u64, u64, i64, f64)> {
            v.iter()
                .map(|g| {
                    (
                        g.name.clone(),
                        g.count,
                        g.failed,
                        g.freed_bytes,
                        g.mean_duration_ms,
                    )
                })
                .collect()
        };
        assert_eq!(
            g(&s.by_trigger),
            [
                ("pressure".to_string(), 2, 1, 32, 15.0),
                ("manual".to_string(), 1, 0, 7, 1.0)
            ]
        );
        assert_eq!(
            g(&s.by_step),
            [("OS-level trim".to_string(), 3, 1, 39, 31.0 / 3.0)]
        );
        assert_eq!(s.freed_total_bytes, 39);
        assert_eq!((s.first_unix_ms, s.last_unix_ms), (Some(1), Some(3)));
        // Equal counts: by name.
        let h = [
            action(1, "b", 0, 0.0, ActionOutcome::Freed),
            action(2, "a", 0, 0.0, ActionOutcome::Freed),
        ];
        let names: Vec<String> = stats(&h).by_trigger.into_iter().map(|g| g.name).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn empty_history() {
        let s = stats(&[]);
        assert_eq!(
            (s.count, s.mean_duration_ms, s.first_unix_ms),
            (0, 0.0, None)
        );
        assert!(s.by_trigger.is_empty());
    }
}
