//! The headroom guard's words: a reading, a wake, a load's prediction and a
//! refusal. A refusal names the knob through the face's own name for it (the CLI
//! its flag, the ComfyUI pack its setting), never another face's.

use std::fmt::Write;

use crate::model::{
    failed_steps, ActionOutcome, AlertLevel, GivebackPlan, GivebackStep, GuardStatusSummary,
    Headroom, HeadroomWake, LoadPlan, LoadPrediction, ManagerAction, ManagerStep, Refusal,
    RefusalCause, WakeReason, ENV_GUARD, ENV_RAM_FIGURES, SETTING_GUARD, SETTING_RAM_FIGURES,
};
use crate::policy::headroom::action_outcome;
use crate::units::format_bytes;

/// How a face names what a user can change about a refusal.
#[derive(Debug, Clone, Copy)]
pub struct Knobs<'a> {
    /// The reserve kept free under the limit (`--reserve`, a setting's name...).
    pub reserve: &'a str,
}

impl Knobs<'static> {
    /// The `memwarden` command's names.
    pub const CLI: Knobs<'static> = Knobs {
        reserve: "--reserve",
    };
}

/// `3.10 GiB free of 7.00 GiB (memory.limit_in_bytes of ..., cgroup v1)`.
pub fn headroom_line(r: &Headroom) -> String {
    format!(
        "{} free of {} ({})",
        format_bytes(r.headroom_bytes),
        format_bytes(r.limit_bytes),
        r.set_at
    )
}

/// The reading, the reserve and what is watched, for `memwarden headroom`.
pub fn headroom_text(r: &Headroom, reserve: u64, watched: &str) -> String {
    format!(
        "Headroom : {}\nUsed     : {} ({})\nReserve  : {} kept free under the limit{}\nWatching : {watched}\n",
        headroom_line(r),
        format_bytes(r.used_bytes),
        match r.kind {
            crate::model::LimitKind::Host => "total minus MemAvailable",
            crate::model::LimitKind::Job | crate::model::LimitKind::Commit => "commit charge",
            _ => "usage minus inactive file cache",
        },
        format_bytes(reserve),
        if r.headroom_bytes < reserve {
            ": BELOW IT"
        } else {
            ""
        }
    )
}

/// One line per wake of the watch.
pub fn wake_line(w: &HeadroomWake) -> String {
    let what = match w.reason {
        WakeReason::Crossed => "below the reserve",
        WakeReason::LimitChanged => "limit changed",
        WakeReason::Timeout => "above the reserve",
    };
    format!(
        "{what}: {}; reserve {} (woken by {})",
        headroom_line(&w.reading),
        format_bytes(w.reserve_bytes),
        w.woken_by
    )
}

/// A load's prediction in one line.
pub fn prediction_line(p: &LoadPrediction) -> String {
    format!("predicted {} ({})", format_bytes(p.bytes), p.reason)
}

/// A refusal in words, naming `knobs` for what the user can change.
pub fn refusal(r: &Refusal, knobs: Knobs<'_>) -> String {
    let limit = match (&r.limit_bytes, &r.limit_set_at) {
        (Some(l), Some(at)) => format!(" under the {} limit ({at})", format_bytes(*l)),
        (Some(l), None) => format!(" under the {} limit", format_bytes(*l)),
        _ => String::new(),
    };
    match r.cause {
        RefusalCause::Headroom => format!(
            "memwarden refused {}: it needs {} of RAM and at most {} can be free{limit}, \
             cached models given back included. Nothing was loaded; the server and the queue \
             go on. Use a smaller model or a lower precision, close other programs in the \
             container, or raise the memory limit ({} is kept free as the reserve: {}).",
            r.what,
            format_bytes(r.needed_bytes),
            format_bytes(r.free_bytes),
            format_bytes(r.margin_bytes),
            knobs.reserve
        ),
    }
}

/// The guard now, one figure a line (`memwarden.guard.status().text`, the panel).
pub fn guard_status_text(s: &GuardStatusSummary) -> String {
    let mut t = format!(
        "memwarden headroom guard: {}",
        if s.running { "on" } else { "off" }
    );
    let reading = s.reading.as_ref().map_or("not read".into(), headroom_line);
    let _ = write!(t, "\n  headroom       : {reading}");
    let _ = write!(
        t,
        "\n  reserve        : {} kept free",
        format_bytes(s.reserve_bytes)
    );
    let _ = write!(t, "\n  watching       : {}", s.watching);
    let _ = write!(
        t,
        "\n  actions        : {} give-backs, {} loads refused, {} loads checked, {} faults",
        s.givebacks, s.refusals, s.loads_checked, s.faults
    );
    let _ = write!(t, "\n  history file   : {}", s.history_file);
    for line in &s.host {
        let _ = write!(t, "\n  host           : {line}");
    }
    if let Some(a) = &s.last_action {
        let outcome = a.outcome.name();
        let latency = a
            .latency_ms
            .map_or(String::new(), |l| format!(", {l:.1} ms after the crossing"));
        let _ = write!(
            t,
            "\n  last action    : {} {outcome}{latency}: {}",
            a.trigger, a.reason
        );
    }
    if let Some(f) = &s.last_fault {
        let _ = write!(t, "\n  last fault     : {f}");
    }
    t
}

/// What ComfyUI gave back on its prompt worker: the cached models dropped (their
/// bytes), and whether every cached output went too.
pub fn comfy_released(models_bytes: u64, outputs_dropped: bool) -> String {
    let mut parts = Vec::new();
    if models_bytes > 0 {
        parts.push(format!(
            "dropped cached models ({:.2} GB)",
            models_bytes as f64 / (1u64 << 30) as f64
        ));
    }
    if outputs_dropped {
        parts.push("dropped every cached node output (ComfyUI's reset, as POST /free)".into());
    }
    if parts.is_empty() {
        return "nothing cached to give back".into();
    }
    parts.join("; ")
}

/// What a host outside ComfyUI gave back: the items released, by name.
pub fn registry_released(names: &[String]) -> String {
    if names.is_empty() {
        return "released nothing".into();
    }
    format!("released {}", names.join(", "))
}

/// ComfyUI's prompt worker did not reach a safe point within `timeout_s`.
pub fn worker_busy(timeout_s: f64) -> String {
    format!(
        "asked ComfyUI's prompt worker; it was busy for {timeout_s} s (done at its next node's \
         end)"
    )
}

/// A load the guard checked, as logged: `loading x.safetensors: <prediction>;
/// headroom <reading>: proceed`.
pub fn load_check_line(what: &str, p: &LoadPrediction, r: &Headroom, plan: &LoadPlan) -> String {
    format!(
        "{what}: {}; headroom {}: {}",
        prediction_line(p),
        headroom_line(r),
        plan.decision.word()
    )
}

/// A load the guard could not predict (its file unreadable as a model): it goes on.
pub fn load_not_predicted(what: &str, error: &str) -> String {
    format!("{what}: not predicted ({error}); the load goes on")
}

/// What ComfyUI 0.28's own RAM-pressure cache gave back: `released` of its `calls`
/// to `ram_release` freed about `bytes` of the tensors it counts.
pub fn comfy_cache_releases(calls: u64, released: u64, bytes: u64) -> String {
    if calls == 0 {
        return "ComfyUI's RAM-pressure cache: not in use, or it has not released anything".into();
    }
    format!(
        "ComfyUI's RAM-pressure cache released entries {released} time(s) of {calls} (about \
         {:.2} GB of tensors it counts; models it does not)",
        bytes as f64 / (1u64 << 30) as f64
    )
}

/// How the guard's history names a step of its plan.
pub fn giveback_step_name(step: GivebackStep) -> &'static str {
    match step {
        GivebackStep::ReleaseModels => "Release cached models",
        GivebackStep::DropOutputs => "Drop cached outputs",
        GivebackStep::TrimHeap => "OS-level trim",
        GivebackStep::PageOut => "Page out",
    }
}

/// The guard was not started in ComfyUI: which switch keeps it off.
pub fn guard_off() -> String {
    format!("headroom guard off (setting {SETTING_GUARD} or {ENV_GUARD}=0)")
}

/// The guard started in ComfyUI: what it watches (`watching`), how it sees model
/// loads, where it gives memory back; `settings_problem` when ComfyUI's settings
/// file could not be read (the defaults were used).
pub fn guard_started(
    watching: &str,
    loads: &str,
    safe_points: &str,
    settings_problem: Option<&str>,
) -> String {
    let mut s =
        format!("headroom guard on ({watching}); loads: {loads}; safe points: {safe_points}");
    if let Some(p) = settings_problem {
        let _ = write!(
            s,
            "; ComfyUI's settings file not read ({p}): the defaults are used"
        );
    }
    s
}

/// Whether ComfyUI sees the container's RAM figures, and how to turn that off.
pub fn ram_figures_note(state: &str) -> String {
    format!("ComfyUI's RAM figures: {state} (off: setting {SETTING_RAM_FIGURES} or {ENV_RAM_FIGURES}=0)")
}

/// The guard's history record of a give-back after `wake`: the plan carried out,
/// its `steps` (each measured), the headroom `after`; what it gained judged by
/// [`action_outcome`]; the latency from the estimated crossing to `started_ns`
/// (the first step's start, same clock).
pub fn giveback_action(
    at_unix_ms: u64,
    wake: &HeadroomWake,
    plan: &GivebackPlan,
    after: &Headroom,
    steps: Vec<ManagerStep>,
    started_ns: u64,
    duration_ms: f64,
) -> ManagerAction {
    let freed = gained(&wake.reading, after);
    let error = failed_steps(&steps);
    ManagerAction {
        at_unix_ms,
        trigger: "headroom".into(),
        level: AlertLevel::Critical,
        mode: "giveback".into(),
        reason: format!(
            "{} (woken by {}); headroom now {}",
            plan.reason,
            wake.woken_by,
            headroom_line(after)
        ),
        steps,
        freed_bytes: freed,
        duration_ms,
        outcome: action_outcome(error.is_some(), freed),
        error,
        latency_ms: wake
            .crossed_at_ns
            .map(|c| started_ns.saturating_sub(c) as f64 / 1e6),
    }
}

/// The guard's history record of the room it made before the load of `what`
/// (`pred`): the one `step` that released models, headroom `before` and `after`.
pub fn make_room_action(
    at_unix_ms: u64,
    what: &str,
    pred: &LoadPrediction,
    before: &Headroom,
    after: &Headroom,
    step: ManagerStep,
    duration_ms: f64,
) -> ManagerAction {
    let freed = gained(before, after);
    let error = failed_steps(std::slice::from_ref(&step));
    ManagerAction {
        at_unix_ms,
        trigger: "load".into(),
        level: AlertLevel::Warning,
        mode: "make_room".into(),
        reason: format!(
            "{what}: {}; made room first: headroom {} -> {}",
            prediction_line(pred),
            headroom_line(before),
            headroom_line(after)
        ),
        steps: vec![step],
        freed_bytes: freed,
        duration_ms,
        outcome: action_outcome(error.is_some(), freed),
        error,
        latency_ms: None,
    }
}

/// The guard's history record of a load it refused: the refusal as the face
/// worded it (`refused`) and the prediction behind it.
pub fn refusal_action(
    at_unix_ms: u64,
    refused: &str,
    pred: &LoadPrediction,
    duration_ms: f64,
) -> ManagerAction {
    ManagerAction {
        at_unix_ms,
        trigger: "load".into(),
        level: AlertLevel::Critical,
        mode: "refuse".into(),
        reason: format!("{refused}; {}", prediction_line(pred)),
        steps: Vec::new(),
        freed_bytes: 0,
        duration_ms,
        outcome: ActionOutcome::NothingFreed,
        error: None,
        latency_ms: None,
    }
}

/// Headroom gained from `before` to `after` (negative: lost).
fn gained(before: &Headroom, after: &Headroom) -> i64 {
    after.headroom_bytes as i64 - before.headroom_bytes as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionOutcome, LimitKind};

    #[test]
    fn the_guard_status_one_figure_a_line() {
        let off = GuardStatusSummary {
            watching: "nothing".into(),
            reserve_bytes: 512 << 20,
            history_file: "/h.jsonl".into(),
            ..Default::default()
        };
        assert_eq!(
            guard_status_text(&off),
            "memwarden headroom guard: off\n  \
             headroom       : not read\n  \
             reserve        : 512.00 MiB kept free\n  \
             watching       : nothing\n  \
             actions        : 0 give-backs, 0 loads refused, 0 loads checked, 0 faults\n  \
             history file   : /h.jsonl"
        );
        let mut action =
            crate::policy::stats::tests::action(0, "headroom", 1 << 30, 3.0, ActionOutcome::Freed);
        action.latency_ms = Some(2.25);
        action.reason = "headroom fell below the reserve".into();
        let on = GuardStatusSummary {
            running: true,
            host: vec!["gives back: buffer".into()],
            last_action: Some(action),
            last_fault: Some("giving back failed: boom".into()),
            ..off
        };
        let text = guard_status_text(&on);
        assert!(text.starts_with("memwarden headroom guard: on\n"), "{text}");
        assert!(
            text.ends_with(
                "/h.jsonl\n  host           : gives back: buffer\n  \
                 last action    : headroom freed, 2.2 ms after the crossing: headroom fell below the reserve\n  \
                 last fault     : giving back failed: boom"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_refusal_names_the_figures_and_the_faces_knob() {
        let r = Refusal {
            cause: RefusalCause::Headroom,
            what: "loading sd15.safetensors".into(),
            needed_bytes: 3 << 30,
            free_bytes: 2 << 30,
            margin_bytes: 512 << 20,
            limit_bytes: Some(4 << 30),
            limit_set_at: Some("memory.limit_in_bytes of /g (cgroup v1)".into()),
        };
        let t = refusal(
            &r,
            Knobs {
                reserve: "the setting 'Headroom reserve'",
            },
        );
        assert!(
            t.starts_with(
                "memwarden refused loading sd15.safetensors: it needs 3.00 GiB of RAM and at most \
                 2.00 GiB can be free under the 4.00 GiB limit (memory.limit_in_bytes of /g (cgroup v1))"
            ),
            "{t}"
        );
        assert!(
            t.contains("512.00 MiB is kept free as the reserve: the setting 'Headroom reserve'"),
            "{t}"
        );
        assert!(!refusal(&r, Knobs::CLI).contains("setting"));
    }

    #[test]
    fn a_wake_says_why_and_by_what() {
        let w = HeadroomWake {
            reason: WakeReason::Crossed,
            reading: Headroom {
                kind: LimitKind::CgroupMax,
                set_at: "memory.max of /g (cgroup v2)".into(),
                limit_bytes: 1 << 30,
                used_bytes: (1 << 30) - (100 << 20),
                headroom_bytes: 100 << 20,
                at_ns: 0,
            },
            reserve_bytes: 128 << 20,
            crossed_at_ns: Some(0),
            woken_by: "paced read".into(),
        };
        assert_eq!(
            wake_line(&w),
            "below the reserve: 100.00 MiB free of 1.00 GiB (memory.max of /g (cgroup v2)); \
             reserve 128.00 MiB (woken by paced read)"
        );
    }

    fn reading(free_mib: u64) -> Headroom {
        Headroom {
            kind: LimitKind::CgroupMax,
            set_at: "memory.max of /g (cgroup v2)".into(),
            limit_bytes: 1 << 30,
            used_bytes: (1 << 30) - (free_mib << 20),
            headroom_bytes: free_mib << 20,
            at_ns: 0,
        }
    }

    fn step(name: &str, ok: bool) -> ManagerStep {
        ManagerStep {
            name: name.into(),
            ok,
            skipped: false,
            detail: if ok { "done".into() } else { "boom".into() },
            freed_bytes: Some(1 << 20),
            duration_ms: 1.0,
        }
    }

    #[test]
    fn the_guards_history_records() {
        let wake = HeadroomWake {
            reason: WakeReason::Crossed,
            reading: reading(100),
            reserve_bytes: 128 << 20,
            crossed_at_ns: Some(1_000_000),
            woken_by: "paced read".into(),
        };
        let plan = GivebackPlan {
            shortfall_bytes: 28 << 20,
            steps: vec![],
            reason: "headroom fell below the reserve".into(),
        };
        let a = giveback_action(
            7,
            &wake,
            &plan,
            &reading(300),
            vec![step("Release models", true), step("Trim heap", false)],
            3_500_000,
            9.0,
        );
        assert_eq!(
            (a.at_unix_ms, a.trigger.as_str(), a.level, a.mode.as_str()),
            (7, "headroom", AlertLevel::Critical, "giveback")
        );
        assert_eq!(
            a.reason,
            "headroom fell below the reserve (woken by paced read); headroom now 300.00 MiB free \
             of 1.00 GiB (memory.max of /g (cgroup v2))"
        );
        assert_eq!(a.freed_bytes, 200 << 20);
        assert_eq!(a.outcome, ActionOutcome::Failed);
        assert_eq!(a.error.as_deref(), Some("Trim heap: boom"));
        assert_eq!(
            (a.latency_ms, a.duration_ms, a.steps.len()),
            (Some(2.5), 9.0, 2)
        );
        // All steps fine, headroom gained: freed; before the crossing: latency 0;
        // no crossing: none.
        let ok = giveback_action(
            7,
            &wake,
            &plan,
            &reading(300),
            vec![step("x", true)],
            0,
            1.0,
        );
        assert_eq!(
            (ok.outcome, ok.error, ok.latency_ms),
            (ActionOutcome::Freed, None, Some(0.0))
        );
        let lost = giveback_action(
            7,
            &HeadroomWake {
                crossed_at_ns: None,
                ..wake.clone()
            },
            &plan,
            &reading(50),
            vec![],
            0,
            1.0,
        );
        assert_eq!(
            (lost.outcome, lost.freed_bytes, lost.latency_ms),
            (ActionOutcome::NothingFreed, -(50 << 20), None)
        );

        let pred = LoadPrediction {
            bytes: 2 << 30,
            source: "header".into(),
            parts: vec![],
            reason: "from the header".into(),
        };
        let m = make_room_action(
            8,
            "loading a.safetensors",
            &pred,
            &reading(100),
            &reading(900),
            step("Release models", true),
            4.0,
        );
        assert_eq!(
            (
                m.trigger.as_str(),
                m.level,
                m.mode.as_str(),
                m.outcome,
                m.error,
                m.freed_bytes
            ),
            (
                "load",
                AlertLevel::Warning,
                "make_room",
                ActionOutcome::Freed,
                None,
                800 << 20
            )
        );
        assert_eq!(
            m.reason,
            "loading a.safetensors: predicted 2.00 GiB (from the header); made room first: \
             headroom 100.00 MiB free of 1.00 GiB (memory.max of /g (cgroup v2)) -> 900.00 MiB \
             free of 1.00 GiB (memory.max of /g (cgroup v2))"
        );
        assert_eq!((m.steps.len(), m.latency_ms, m.duration_ms), (1, None, 4.0));
        let failed = make_room_action(
            8,
            "x",
            &pred,
            &reading(100),
            &reading(900),
            step("Release models", false),
            4.0,
        );
        assert_eq!(
            (failed.outcome, failed.error.as_deref()),
            (ActionOutcome::Failed, Some("Release models: boom"))
        );

        let r = refusal_action(9, "memwarden refused x", &pred, 2.0);
        assert_eq!(
            (
                r.trigger.as_str(),
                r.level,
                r.mode.as_str(),
                r.outcome,
                r.freed_bytes,
                r.steps.len()
            ),
            (
                "load",
                AlertLevel::Critical,
                "refuse",
                ActionOutcome::NothingFreed,
                0,
                0
            )
        );
        assert_eq!(
            r.reason,
            "memwarden refused x; predicted 2.00 GiB (from the header)"
        );
        assert_eq!(
            (r.error, r.latency_ms, r.duration_ms, r.at_unix_ms),
            (None, None, 2.0, 9)
        );
    }

    #[test]
    fn what_a_host_gave_back() {
        assert_eq!(
            comfy_released(3 << 29, false),
            "dropped cached models (1.50 GB)"
        );
        assert_eq!(
            comfy_released(1 << 30, true),
            "dropped cached models (1.00 GB); dropped every cached node output (ComfyUI's \
             reset, as POST /free)"
        );
        assert_eq!(
            comfy_released(0, true),
            "dropped every cached node output (ComfyUI's reset, as POST /free)"
        );
        assert_eq!(comfy_released(0, false), "nothing cached to give back");
        assert_eq!(registry_released(&[]), "released nothing");
        assert_eq!(
            registry_released(&["a".into(), "b".into()]),
            "released a, b"
        );
        assert_eq!(
            worker_busy(2.0),
            "asked ComfyUI's prompt worker; it was busy for 2 s (done at its next node's end)"
        );
        assert!(worker_busy(0.5).contains("busy for 0.5 s"));
    }

    #[test]
    fn the_guards_console_lines() {
        assert_eq!(
            load_not_predicted("loading a.ckpt", "not a model file"),
            "loading a.ckpt: not predicted (not a model file); the load goes on"
        );
        assert_eq!(
            comfy_cache_releases(0, 0, 0),
            "ComfyUI's RAM-pressure cache: not in use, or it has not released anything"
        );
        assert_eq!(
            comfy_cache_releases(4, 3, 3 << 29),
            "ComfyUI's RAM-pressure cache released entries 3 time(s) of 4 (about 1.50 GB of \
             tensors it counts; models it does not)"
        );
    }
}
