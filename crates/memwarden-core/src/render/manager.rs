//! The manager's history and statistics as text (`memwarden history`, the
//! manager nodes).

use std::fmt::Write;

use crate::model::{
    ActionOutcome, Fault, GroupStats, ManagerAction, ManagerStats, ManagerStatusSummary,
};
use crate::units::format_bytes_signed;

use super::clock::local_time;

fn outcome_word(o: ActionOutcome) -> &'static str {
    match o {
        ActionOutcome::Freed => "freed",
        ActionOutcome::NothingFreed => "nothing freed",
        ActionOutcome::Failed => "FAILED",
    }
}

/// `2026-11-23 20:41:07Z` from Unix milliseconds (UTC, no time-zone database).
fn utc(ms: u64) -> String {
    format!("{}Z", local_time(ms, 0))
}

/// A fault in one line, as the manager's and the guard's logs and status show it.
pub fn fault_text(f: &Fault) -> String {
    match f {
        Fault::HistoryUnusable { path, error } => {
            format!("history file {path} not usable, history kept in memory only: {error}")
        }
        Fault::HistoryUnwritable { path, error } => {
            format!("history file {path} not writable, kept in memory only: {error}")
        }
        Fault::ThreadDied { error } => format!("manager thread died: {error}"),
        Fault::ThreadRestarted => "manager thread restarted after it died".into(),
        Fault::PsiLost { error } => format!("PSI trigger lost, sampling instead: {error}"),
        Fault::ReadFailed { error } => format!("reading memory failed: {error}"),
        Fault::ActionFailed { trigger, error } => format!("{trigger}: {error}"),
        Fault::WatchFailed { error } => {
            format!("headroom watch failed, retrying in 1 s: {error}")
        }
        Fault::GivebackFailed { error } => format!("giving back failed: {error}"),
    }
}

/// One action per block: when, trigger, level, mode, outcome, freed, duration,
/// the reason, then each step that ran.
pub fn history_text(actions: &[ManagerAction]) -> String {
    if actions.is_empty() {
        return "no manager actions yet\n".into();
    }
    let mut s = String::new();
    for a in actions {
        let _ = writeln!(
            s,
            "{}  {:<10} {:<8} {:<12} {:<13} {:>12}  {:.0} ms",
            utc(a.at_unix_ms),
            a.trigger,
            a.level.word(),
            a.mode,
            outcome_word(a.outcome),
            format_bytes_signed(a.freed_bytes),
            a.duration_ms
        );
        let _ = writeln!(s, "    {}", a.reason);
        for st in a.steps.iter().filter(|st| !st.skipped) {
            let freed = st
                .freed_bytes
                .map_or(String::new(), |b| format!(", {}", format_bytes_signed(b)));
            let ok = if st.ok { "" } else { "FAILED " };
            let _ = writeln!(
                s,
                "    - {ok}{}: {} ({:.0} ms{freed})",
                st.name, st.detail, st.duration_ms
            );
        }
        if let Some(e) = &a.error {
            let _ = writeln!(s, "    error: {e}");
        }
    }
    s
}

fn group_lines(s: &mut String, title: &str, groups: &[GroupStats]) {
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(s, "{title}:");
    for g in groups {
        let _ = writeln!(
            s,
            "  {:<20} {:>6} run(s) {:>4} failed  {:>12} freed  mean {:.1} ms",
            g.name,
            g.count,
            g.failed,
            format_bytes_signed(g.freed_bytes),
            g.mean_duration_ms
        );
    }
}

/// Totals, then per trigger and per step.
pub fn stats_text(st: &ManagerStats) -> String {
    let mut s = String::new();
    let span = match (st.first_unix_ms, st.last_unix_ms) {
        (Some(a), Some(b)) => format!(" from {} to {}", utc(a), utc(b)),
        _ => String::new(),
    };
    let _ = writeln!(
        s,
        "{} action(s){span}: {} freed memory, {} freed nothing, {} failed",
        st.count, st.freed, st.nothing_freed, st.failed
    );
    let _ = writeln!(
        s,
        "freed in total: {}; mean duration {:.1} ms",
        format_bytes_signed(st.freed_total_bytes),
        st.mean_duration_ms
    );
    group_lines(&mut s, "by trigger", &st.by_trigger);
    group_lines(&mut s, "by step", &st.by_step);
    s
}

/// `name value, name value` sorted by name; `none` when empty.
fn pairs(v: &[(String, u64)], none: &str) -> String {
    let mut v: Vec<_> = v.iter().collect();
    v.sort();
    let words: Vec<String> = v.iter().map(|(k, n)| format!("{k} {n}")).collect();
    if words.is_empty() {
        none.to_string()
    } else {
        words.join(", ")
    }
}

/// The manager now, one figure a line (the Smart Memory Manager node's output,
/// `memwarden.manager.status().text`).
pub fn manager_status_text(s: &ManagerStatusSummary) -> String {
    let mut t = format!(
        "memwarden manager: {}, mode {}\n",
        if s.running { "running" } else { "stopped" },
        s.mode
    );
    let _ = writeln!(t, "  pressure watch : {}", s.watch);
    let _ = writeln!(
        t,
        "  level          : {} (escalation +{}, {} fruitless in a row)",
        s.level.word(),
        s.escalation,
        s.fruitless
    );
    let _ = writeln!(t, "  wakes          : {}", pairs(&s.wakes, "none yet"));
    let _ = writeln!(
        t,
        "  prompt ends    : {} seen, {} handled with a later one",
        s.prompt_ends, s.coalesced
    );
    let _ = writeln!(
        t,
        "  actions        : {}, faults {}, thread restarts {}",
        s.actions, s.faults, s.restarts
    );
    let _ = writeln!(t, "  history file   : {}", s.history_file);
    let _ = write!(t, "  threads        : {}", pairs(&s.threads, "none"));
    if let Some(a) = &s.last_action {
        let outcome = a.outcome.name();
        let _ = write!(
            t,
            "\n  last action    : {} -> {} ({outcome}, {:+.1} MiB, {:.0} ms): {}",
            a.trigger,
            a.mode,
            a.freed_bytes as f64 / (1u64 << 20) as f64,
            a.duration_ms,
            a.reason
        );
    }
    if let Some(f) = &s.last_fault {
        let _ = write!(t, "\n  last fault     : {f}");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_in_one_line() {
        let e = || "OSError: gone".to_string();
        let p = || "/h.jsonl".to_string();
        for (f, text) in [
            (
                Fault::HistoryUnusable {
                    path: p(),
                    error: e(),
                },
                "history file /h.jsonl not usable, history kept in memory only: OSError: gone",
            ),
            (
                Fault::HistoryUnwritable {
                    path: p(),
                    error: e(),
                },
                "history file /h.jsonl not writable, kept in memory only: OSError: gone",
            ),
            (
                Fault::ThreadDied { error: e() },
                "manager thread died: OSError: gone",
            ),
            (
                Fault::ThreadRestarted,
                "manager thread restarted after it died",
            ),
            (
                Fault::PsiLost { error: e() },
                "PSI trigger lost, sampling instead: OSError: gone",
            ),
            (
                Fault::ReadFailed { error: e() },
                "reading memory failed: OSError: gone",
            ),
            (
                Fault::ActionFailed {
                    trigger: "prompt_end".into(),
                    error: e(),
                },
                "prompt_end: OSError: gone",
            ),
            (
                Fault::WatchFailed { error: e() },
                "headroom watch failed, retrying in 1 s: OSError: gone",
            ),
            (
                Fault::GivebackFailed { error: e() },
                "giving back failed: OSError: gone",
            ),
        ] {
            assert_eq!(fault_text(&f), text);
        }
    }
    use crate::policy::stats::{stats, tests::action};

    #[test]
    fn the_manager_status_one_figure_a_line() {
        let stopped = ManagerStatusSummary {
            mode: "balanced".into(),
            watch: "not started".into(),
            history_file: "/h.jsonl".into(),
            ..Default::default()
        };
        assert_eq!(
            manager_status_text(&stopped),
            "memwarden manager: stopped, mode balanced\n  \
             pressure watch : not started\n  \
             level          : normal (escalation +0, 0 fruitless in a row)\n  \
             wakes          : none yet\n  \
             prompt ends    : 0 seen, 0 handled with a later one\n  \
             actions        : 0, faults 0, thread restarts 0\n  \
             history file   : /h.jsonl\n  \
             threads        : none"
        );
        let running = ManagerStatusSummary {
            running: true,
            level: crate::model::AlertLevel::Warning,
            escalation: 1,
            fruitless: 2,
            wakes: vec![("sample".into(), 3), ("prompt_end".into(), 7)],
            threads: vec![("worker".into(), 12), ("pressure".into(), 11)],
            last_action: Some(action(
                0,
                "prompt_end",
                -(3 << 19),
                12.4,
                ActionOutcome::NothingFreed,
            )),
            last_fault: Some("NVML: GPU is lost".into()),
            ..stopped
        };
        let text = manager_status_text(&running);
        assert!(
            text.starts_with("memwarden manager: running, mode balanced\n"),
            "{text}"
        );
        assert!(
            text.contains("  level          : warning (escalation +1, 2 fruitless in a row)\n"),
            "{text}"
        );
        assert!(
            text.contains("  wakes          : prompt_end 7, sample 3\n"),
            "{text}"
        );
        assert!(
            text.contains("  threads        : pressure 11, worker 12\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  last action    : prompt_end -> trim (nothing_freed, -1.5 MiB, 12 ms): r\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("\n  last fault     : NVML: GPU is lost"),
            "{text}"
        );
    }

    #[test]
    fn dates_history_and_stats() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(1_795_466_467_000), "2026-11-23 20:41:07Z");
        let h = [
            action(
                1_795_466_467_000,
                "prompt_end",
                3 << 20,
                2.0,
                ActionOutcome::Freed,
            ),
            action(1_795_466_468_000, "pressure", 0, 4.0, ActionOutcome::Failed),
        ];
        let t = history_text(&h);
        assert!(
            t.starts_with("2026-11-23 20:41:07Z  prompt_end normal   trim         freed"),
            "{t}"
        );
        assert!(t.contains("    - OS-level trim: d (2 ms, "), "{t}");
        assert!(t.contains("    - FAILED OS-level trim"), "{t}");
        assert!(
            !t.contains("Unload models"),
            "skipped steps are not listed: {t}"
        );
        let st = stats_text(&stats(&h));
        assert!(st.starts_with("2 action(s) from 2026-11-23 20:41:07Z to 2026-11-23 20:41:08Z: 1 freed memory, 0 freed nothing, 1 failed"), "{st}");
        assert!(st.contains("by trigger:\n  pressure "), "{st}");
        assert_eq!(history_text(&[]), "no manager actions yet\n");
    }
}
