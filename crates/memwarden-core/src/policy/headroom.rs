//! The headroom guard's decisions: the reserve kept below the binding limit, how
//! soon to read again, what to give back when headroom falls through the reserve,
//! and whether a model load may go ahead. Pure: every input is a value.
//!
//! Falling through the reserve is always critical: no cooldown or back-off ever
//! holds the giving-back, and nothing is given back while headroom is above it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{
    ActionOutcome, GivebackPlan, GivebackStep, Headroom, LimitKind, LoadDecision, LoadPlan,
    Refusal, RefusalCause,
};
use crate::parse::request::ComfySettings;
use crate::units::format_bytes;

/// The reserve when none is set: 10 % of the limit, at least 512 MiB, at most 2 GiB.
pub const RESERVE_PERCENT: u64 = 10;
pub const MIN_RESERVE: u64 = 512 << 20;
pub const MAX_RESERVE: u64 = 2 << 30;

/// The fastest a process was measured to take memory on this class of machine
/// (touching fresh pages with 2 MiB transparent huge pages): reads are paced so that
/// even this rate cannot eat the headroom above the reserve between two reads.
/// The watch raises it when it sees faster growth.
pub const DEFAULT_RATE: u64 = 8 << 30;
/// Reads are never closer than this (near the limit) ...
pub const MIN_INTERVAL: Duration = Duration::from_millis(2);
/// ... nor further apart, so a limit changed at run time is seen within 1 s.
pub const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// A give-back or a make-room freed something when headroom grew by at least this:
/// less is within what the binding limit's usage moves between two reads.
pub const MIN_FREED: i64 = 1 << 20;

/// How a give-back or a make-room turned out, from whether a step failed and how
/// much headroom it gained: judged as every action is ([`super::escalation::judge`]).
pub fn action_outcome(failed: bool, headroom_gained: i64) -> ActionOutcome {
    super::escalation::judge(failed, headroom_gained, MIN_FREED)
}

/// The reserve for `limit`: `explicit` when set (never more than half the limit),
/// else [`RESERVE_PERCENT`] of it within [`MIN_RESERVE`]..[`MAX_RESERVE`].
pub fn reserve(limit: u64, explicit: Option<u64>) -> u64 {
    match explicit {
        Some(r) => r.min(limit / 2),
        None => (limit / 100 * RESERVE_PERCENT)
            .clamp(MIN_RESERVE, MAX_RESERVE)
            .min(limit / 2),
    }
}

/// How long until the next read: the time `rate` (bytes/s) would take to eat the
/// headroom above the reserve, within [`MIN_INTERVAL`]..[`MAX_INTERVAL`].
pub fn next_read_in(headroom: u64, reserve: u64, rate: u64) -> Duration {
    let above = headroom.saturating_sub(reserve);
    let secs = above as f64 / rate.max(1) as f64;
    Duration::from_secs_f64(secs.min(MAX_INTERVAL.as_secs_f64())).max(MIN_INTERVAL)
}

/// The reading that binds: the least headroom (ties to the first, the innermost
/// group). The host's RAM is one of the readings, so a group whose host runs short
/// before its limit is bound by the host. None for no readings.
pub fn binding(readings: Vec<Headroom>) -> Option<Headroom> {
    readings.into_iter().reduce(|best, r| {
        if r.headroom_bytes < best.headroom_bytes {
            r
        } else {
            best
        }
    })
}

/// Headroom is below the reserve.
pub fn crossed(r: &Headroom, reserve: u64) -> bool {
    r.headroom_bytes < reserve
}

/// When headroom fell through `reserve`, between a reading above it (`before`) and
/// one below it (`now`), at the rate seen between them (linear).
pub fn crossing_time(before: &Headroom, now: &Headroom, reserve: u64) -> Option<u64> {
    if before.headroom_bytes < reserve || now.headroom_bytes >= reserve || now.at_ns <= before.at_ns
    {
        return None;
    }
    let fell = (before.headroom_bytes - now.headroom_bytes) as f64;
    let part = (before.headroom_bytes - reserve) as f64 / fell;
    Some(before.at_ns + ((now.at_ns - before.at_ns) as f64 * part) as u64)
}

/// What can be given back, as the host reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Releasable {
    /// Cached models the running node does not need (bytes).
    pub models_bytes: u64,
    /// A prompt is running: cached outputs stay (the next safe point is the next
    /// node's end), only models no node of this prompt holds can go.
    pub prompt_running: bool,
    /// Swap that a pageout could write to (0: none, or not allowed).
    pub swap_free_bytes: u64,
}

/// What to give back after a reading: nothing above the reserve; below it, enough
/// to get the reserve back with some slack, in the order of [`GivebackStep`].
pub fn plan_giveback(r: &Headroom, reserve: u64, can: Releasable) -> GivebackPlan {
    if !crossed(r, reserve) {
        return GivebackPlan {
            shortfall_bytes: 0,
            steps: vec![],
            reason: format!(
                "headroom {} is above the reserve {}: nothing to give back",
                format_bytes(r.headroom_bytes),
                format_bytes(reserve)
            ),
        };
    }
    // A quarter of the reserve on top, so one release covers a burst.
    let target = reserve + reserve / 4;
    let shortfall = target - r.headroom_bytes.min(target);
    let mut steps = Vec::new();
    if can.models_bytes > 0 {
        steps.push(GivebackStep::ReleaseModels);
    }
    if !can.prompt_running && can.models_bytes < shortfall {
        steps.push(GivebackStep::DropOutputs);
    }
    steps.push(GivebackStep::TrimHeap);
    if can.swap_free_bytes > shortfall && can.models_bytes < shortfall {
        steps.push(GivebackStep::PageOut);
    }
    let mut reason = format!(
        "headroom {} under {} ({}) fell below the reserve {}: giving back {}",
        format_bytes(r.headroom_bytes),
        format_bytes(r.limit_bytes),
        r.set_at,
        format_bytes(reserve),
        format_bytes(shortfall)
    );
    if can.prompt_running {
        reason.push_str(" (a prompt is running: its cached outputs stay)");
    }
    GivebackPlan {
        shortfall_bytes: shortfall,
        steps,
        reason,
    }
}

/// The steps of `plan` the guard runs, each with its place in the plan: dropping
/// the cached outputs goes with releasing the models when both are planned (the
/// host does both in one call on ComfyUI's prompt worker).
pub fn giveback_runs(plan: &GivebackPlan) -> Vec<(usize, GivebackStep)> {
    let with_models = plan.steps.contains(&GivebackStep::ReleaseModels);
    plan.steps
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, s)| !(with_models && *s == GivebackStep::DropOutputs))
        .collect()
}

/// How many of the guard's actions it keeps in memory and in its history file, and
/// how many files' measured loads it remembers.
pub const KEEP_ACTIONS: usize = 500;
pub const KEEP_LOADS: usize = 500;

/// RAM as a process's own memory figures should show it under the limit that
/// binds (what ComfyUI's RAM decisions read through psutil).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RamFigures {
    pub total: u64,
    pub available: u64,
    pub used: u64,
    pub free: u64,
    /// Used, in percent of total (one decimal).
    pub percent: f64,
}

/// The host's RAM figures (`total`, `available`, `free`) judged by the reading
/// `r` instead: its limit as the total, at most its headroom available. None when
/// the host's own RAM binds (no tighter limit): the host's figures stand.
pub fn ram_figures(r: &Headroom, total: u64, available: u64, free: u64) -> Option<RamFigures> {
    if r.kind == LimitKind::Host || r.limit_bytes >= total {
        return None;
    }
    let available = available.min(r.headroom_bytes);
    let used = r.limit_bytes.saturating_sub(available);
    let percent = if r.limit_bytes == 0 {
        0.0
    } else {
        (1000.0 * used as f64 / r.limit_bytes as f64).round() / 10.0
    };
    Some(RamFigures {
        total: r.limit_bytes,
        available,
        used,
        free: free.min(available),
        percent,
    })
}

/// The share of the limit pinned (page-locked) host memory may take: ComfyUI's own
/// rule of its OS (Windows: 40 %, elsewhere 90 %), applied to the limit that binds.
pub const PINNED_SHARE: f64 = if cfg!(windows) { 0.40 } else { 0.90 };

/// ComfyUI's cap on pinned host memory under `limit_bytes`: its own cap (`current`)
/// or [`PINNED_SHARE`] of the limit, whichever is lower; None when pinning is off
/// (`current` 0 or below) and stays so.
pub fn pinned_cap(current: f64, limit_bytes: u64) -> Option<f64> {
    (current > 0.0).then(|| current.min(limit_bytes as f64 * PINNED_SHARE))
}

/// Whether an environment switch (`MEMWARDEN_GUARD`, `MEMWARDEN_COMFY_RAM_FIGURES`)
/// turns its feature off: `0`, `false`, `no` or `off`, in any case, spaces around.
pub fn env_off(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        ["0", "false", "no", "off"].contains(&v.trim().to_ascii_lowercase().as_str())
    })
}

/// How the headroom guard starts in ComfyUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardStart {
    pub on: bool,
    /// The reserve asked for, bytes; None: the default for the limit.
    pub reserve: Option<u64>,
    /// Give ComfyUI the container's RAM figures (psutil under the binding limit).
    pub ram_figures: bool,
}

/// The guard is on unless its setting or its environment switch is off, or when
/// `asked` (the settings dialog switched it on just now, which overrides both); the
/// reserve `reserve_mb` given by the caller (0: the default), else the setting's.
pub fn guard_start(
    settings: &ComfySettings,
    env_guard: Option<&str>,
    env_ram_figures: Option<&str>,
    asked: bool,
    reserve_mb: Option<u64>,
) -> GuardStart {
    GuardStart {
        on: asked || (settings.guard_enabled != Some(false) && !env_off(env_guard)),
        reserve: match reserve_mb {
            Some(mb) => (mb > 0).then_some(mb.saturating_mul(1 << 20)),
            None => settings.reserve_bytes,
        },
        ram_figures: settings.ram_figures != Some(false) && !env_off(env_ram_figures),
    }
}

/// Something cached that the host could give back (a model in ComfyUI's output
/// cache, an item registered with the guard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Held {
    /// What it takes (bytes; 0 once given back).
    pub bytes: u64,
    /// The running prompt uses it: it stays while a prompt runs.
    pub in_use: bool,
}

/// What to give back for a need: which of the held items (indices), what they
/// free, and whether to drop every cached output as well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleasePlan {
    pub release: Vec<usize>,
    pub bytes: u64,
    /// Still short once they are gone, between prompts, and the caller allows it:
    /// drop every cached output (ComfyUI's own reset, as `POST /free` does).
    pub drop_outputs: bool,
}

/// Whether `h` may be given back now.
fn may_go(h: &Held, prompt_running: bool) -> bool {
    h.bytes > 0 && !(prompt_running && h.in_use)
}

/// Bytes of `held` that may be given back: every item between prompts; during a
/// prompt only those it does not use.
pub fn releasable_bytes(held: &[Held], prompt_running: bool) -> u64 {
    held.iter()
        .filter(|h| may_go(h, prompt_running))
        .map(|h| h.bytes)
        .sum()
}

/// What to give back for `need` bytes: the largest items first until the need is
/// met, none the running prompt uses; with `drop_outputs`, when still short
/// between prompts, every cached output too.
pub fn release_plan(
    held: &[Held],
    need: u64,
    prompt_running: bool,
    drop_outputs: bool,
) -> ReleasePlan {
    let mut order: Vec<usize> = (0..held.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(held[i].bytes));
    let mut plan = ReleasePlan {
        release: Vec::new(),
        bytes: 0,
        drop_outputs: false,
    };
    for i in order {
        if plan.bytes >= need {
            break;
        }
        if may_go(&held[i], prompt_running) {
            plan.release.push(i);
            plan.bytes += held[i].bytes;
        }
    }
    plan.drop_outputs = drop_outputs && plan.bytes < need && !prompt_running;
    plan
}

/// Whether loading `what`, predicted to need `need` bytes, may go ahead with
/// `releasable` bytes of cached models that could be given back first. A load that
/// fits goes ahead, giving back first what keeps the reserve free where it can; one
/// that cannot fit even with everything given back is refused before it allocates.
pub fn plan_load(what: &str, need: u64, r: &Headroom, reserve: u64, releasable: u64) -> LoadPlan {
    let plan = |decision, make_room_bytes, refusal| LoadPlan {
        decision,
        make_room_bytes,
        refusal,
    };
    let room = r.headroom_bytes.saturating_sub(reserve);
    if need <= room {
        return plan(LoadDecision::Proceed, 0, None);
    }
    let could = r.headroom_bytes.saturating_add(releasable);
    if need <= could {
        if releasable == 0 {
            // It fits, into the reserve: refusing what fits would fail a prompt that works.
            return plan(LoadDecision::Proceed, 0, None);
        }
        // Give back what the load would take out of the reserve, or all there is.
        return plan(LoadDecision::MakeRoom, (need - room).min(releasable), None);
    }
    plan(
        LoadDecision::Refuse,
        0,
        Some(Refusal {
            cause: RefusalCause::Headroom,
            what: what.to_string(),
            needed_bytes: need,
            free_bytes: could,
            margin_bytes: reserve,
            limit_bytes: Some(r.limit_bytes),
            limit_set_at: Some(r.set_at.clone()),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_figures_under_the_limit_that_binds() {
        let g = 1u64 << 30;
        let r = |kind, limit: u64, headroom: u64| Headroom {
            kind,
            set_at: "memory.max of /g".into(),
            limit_bytes: limit,
            used_bytes: limit - headroom,
            headroom_bytes: headroom,
            at_ns: 0,
        };
        // 4 GiB limit on a 16 GiB host with 10 GiB available: the limit's figures.
        assert_eq!(
            ram_figures(&r(LimitKind::CgroupMax, 4 * g, g), 16 * g, 10 * g, 8 * g),
            Some(RamFigures {
                total: 4 * g,
                available: g,
                used: 3 * g,
                free: g,
                percent: 75.0
            })
        );
        // The host has less available than the group's headroom: the host's.
        let f = ram_figures(&r(LimitKind::CgroupMax, 3 * g, 2 * g), 16 * g, g / 2, g / 4).unwrap();
        assert_eq!((f.available, f.used, f.free), (g / 2, 3 * g - g / 2, g / 4));
        assert_eq!(f.percent, 83.3);
        // No tighter limit: the host's own figures stand.
        assert_eq!(
            ram_figures(&r(LimitKind::Host, 4 * g, g), 16 * g, 10 * g, 8 * g),
            None
        );
        assert_eq!(
            ram_figures(&r(LimitKind::CgroupMax, 16 * g, g), 16 * g, 10 * g, 8 * g),
            None
        );
        assert!(ram_figures(
            &r(LimitKind::CgroupMax, 16 * g - 1, g),
            16 * g,
            10 * g,
            8 * g
        )
        .is_some());
        let zero = Headroom {
            limit_bytes: 0,
            used_bytes: 0,
            headroom_bytes: 0,
            ..r(LimitKind::CgroupMax, g, g)
        };
        assert_eq!(ram_figures(&zero, 16 * g, g, g).unwrap().percent, 0.0);
    }

    #[test]
    fn pinned_memory_capped_by_the_limit() {
        let g = (1u64 << 30) as f64;
        assert_eq!(pinned_cap(8.0 * g, 4 << 30), Some(4.0 * g * PINNED_SHARE));
        assert_eq!(pinned_cap(g, 4 << 30), Some(g));
        assert_eq!(pinned_cap(0.0, 4 << 30), None);
        assert_eq!(pinned_cap(-1.0, 4 << 30), None);
        let share = if cfg!(windows) { 0.40 } else { 0.90 };
        assert_eq!(pinned_cap(f64::MAX, 10 << 30), Some(10.0 * g * share));
    }

    #[test]
    fn what_to_give_back_largest_first_never_what_the_prompt_uses() {
        let h = |bytes: u64, in_use: bool| Held { bytes, in_use };
        let held = [
            h(100, false),
            h(300, true),
            h(200, false),
            h(0, false),
            h(50, false),
        ];
        assert_eq!(releasable_bytes(&held, false), 650);
        assert_eq!(releasable_bytes(&held, true), 350);
        let plan = |need, running, drop| release_plan(&held, need, running, drop);
        // Between prompts: the largest first, until the need is met.
        assert_eq!(
            plan(250, false, true),
            ReleasePlan {
                release: vec![1],
                bytes: 300,
                drop_outputs: false
            }
        );
        assert_eq!(plan(301, false, false).release, [1, 2]);
        assert_eq!(plan(300, false, false).release, [1]);
        // During a prompt the one it uses stays; short, the outputs stay too.
        assert_eq!(
            plan(1000, true, true),
            ReleasePlan {
                release: vec![2, 0, 4],
                bytes: 350,
                drop_outputs: false
            }
        );
        // Short between prompts: the outputs go when allowed.
        assert_eq!(
            plan(1000, false, true),
            ReleasePlan {
                release: vec![1, 2, 0, 4],
                bytes: 650,
                drop_outputs: true
            }
        );
        assert!(!plan(1000, false, false).drop_outputs);
        assert!(!plan(650, false, true).drop_outputs);
        assert_eq!(plan(0, false, true).release, Vec::<usize>::new());
        assert!(release_plan(&[], 10, false, true).drop_outputs);
    }
    use crate::model::LimitKind;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    fn at(headroom: u64, at_ns: u64) -> Headroom {
        Headroom {
            kind: LimitKind::CgroupMax,
            set_at: "memory.limit_in_bytes of /sys/fs/cgroup/memory/comfy".into(),
            limit_bytes: 7 * GIB,
            used_bytes: 7 * GIB - headroom,
            headroom_bytes: headroom,
            at_ns,
        }
    }

    #[test]
    fn a_giveback_freed_something_from_one_mib_of_headroom_gained() {
        let m = MIB as i64;
        assert_eq!(action_outcome(false, m), ActionOutcome::Freed);
        assert_eq!(action_outcome(false, m - 1), ActionOutcome::NothingFreed);
        assert_eq!(action_outcome(false, -m), ActionOutcome::NothingFreed);
        assert_eq!(action_outcome(true, 10 * m), ActionOutcome::Failed);
    }

    #[test]
    fn the_tightest_limit_binds_the_host_among_them() {
        let group = |h: u64| Headroom {
            headroom_bytes: h,
            ..at(h, 7)
        };
        let host = Headroom {
            kind: LimitKind::Host,
            set_at: "host RAM (MemAvailable)".into(),
            limit_bytes: 32 * GIB,
            used_bytes: 31 * GIB,
            headroom_bytes: GIB,
            at_ns: 7,
        };
        // The host runs short before the group's limit: the host binds.
        let b = binding(vec![group(3 * GIB), group(2 * GIB), host.clone()]).unwrap();
        assert_eq!((b.kind, b.headroom_bytes), (LimitKind::Host, GIB));
        // The tightest group wins when the host has room.
        let roomy = Headroom {
            headroom_bytes: 20 * GIB,
            ..host
        };
        let b = binding(vec![group(3 * GIB), group(2 * GIB), roomy]).unwrap();
        assert_eq!((b.kind, b.headroom_bytes), (LimitKind::CgroupMax, 2 * GIB));
        assert!(binding(vec![]).is_none());
    }

    #[test]
    fn reserve_is_ten_percent_within_its_bounds_and_never_over_half() {
        assert_eq!(reserve(7 * GIB, None), 7 * GIB / 100 * 10);
        assert_eq!(reserve(2 * GIB, None), MIN_RESERVE);
        assert_eq!(reserve(64 * GIB, None), MAX_RESERVE);
        assert_eq!(reserve(512 * MIB, None), 256 * MIB);
        assert_eq!(reserve(8 * GIB, Some(GIB)), GIB);
        assert_eq!(reserve(GIB, Some(GIB)), GIB / 2);
    }

    #[test]
    fn reads_come_sooner_the_closer_the_reserve() {
        let r = 512 * MIB;
        assert_eq!(next_read_in(64 * GIB, r, DEFAULT_RATE), MAX_INTERVAL);
        assert_eq!(next_read_in(r, r, DEFAULT_RATE), MIN_INTERVAL);
        assert_eq!(next_read_in(0, r, DEFAULT_RATE), MIN_INTERVAL);
        // 1 GiB above the reserve at 8 GiB/s: 125 ms.
        assert_eq!(
            next_read_in(r + GIB, r, DEFAULT_RATE),
            Duration::from_millis(125)
        );
        // A faster rate seen: sooner.
        assert!(next_read_in(r + GIB, r, 16 * GIB) < Duration::from_millis(125));
    }

    #[test]
    fn equal_headroom_binds_the_first_reading() {
        let inner = Headroom {
            set_at: "inner".into(),
            ..at(GIB, 0)
        };
        let outer = Headroom {
            set_at: "outer".into(),
            ..at(GIB, 0)
        };
        assert_eq!(binding(vec![inner, outer]).unwrap().set_at, "inner");
    }

    #[test]
    fn the_crossing_is_where_the_fall_passed_the_reserve() {
        // 2 GiB -> 512 MiB over 3 ms with a 1 GiB reserve: 2/3 of the way.
        let t = crossing_time(&at(2 * GIB, 1_000_000), &at(GIB / 2, 4_000_000), GIB);
        assert_eq!(t, Some(3_000_000));
    }

    #[test]
    fn models_that_cover_the_shortfall_exactly_leave_outputs_and_swap_alone() {
        let r = GIB;
        let low = at(r / 2, 0);
        let shortfall = r + r / 4 - r / 2;
        let p = plan_giveback(
            &low,
            r,
            Releasable {
                models_bytes: shortfall,
                prompt_running: false,
                swap_free_bytes: 8 * GIB,
            },
        );
        assert_eq!(
            p.steps,
            [GivebackStep::ReleaseModels, GivebackStep::TrimHeap]
        );
        // Swap exactly the shortfall is not enough to page out into.
        let p = plan_giveback(
            &low,
            r,
            Releasable {
                models_bytes: 0,
                prompt_running: true,
                swap_free_bytes: shortfall,
            },
        );
        assert_eq!(p.steps, [GivebackStep::TrimHeap]);
        let p = plan_giveback(
            &low,
            r,
            Releasable {
                models_bytes: 0,
                prompt_running: true,
                swap_free_bytes: shortfall + 1,
            },
        );
        assert_eq!(p.steps, [GivebackStep::TrimHeap, GivebackStep::PageOut]);
    }

    #[test]
    fn crossing_time_is_interpolated_between_the_two_reads() {
        let before = at(2 * GIB, 1_000_000);
        let now = at(0, 3_000_000);
        assert_eq!(crossing_time(&before, &now, GIB), Some(2_000_000));
        assert_eq!(crossing_time(&now, &before, GIB), None);
        assert_eq!(crossing_time(&before, &at(GIB, 3_000_000), GIB), None);
        // Exactly at the reserve before: crossed then.
        assert_eq!(crossing_time(&at(GIB, 10), &at(0, 20), GIB), Some(10));
    }

    #[test]
    fn nothing_is_given_back_above_the_reserve() {
        let p = plan_giveback(&at(GIB, 0), GIB, Releasable::default());
        assert_eq!((p.shortfall_bytes, p.steps.len()), (0, 0));
        assert!(p.reason.contains("nothing to give back"), "{}", p.reason);
    }

    #[test]
    fn below_the_reserve_models_go_first_then_outputs_heap_and_swap() {
        let r = GIB;
        let low = at(200 * MIB, 0);
        // Models enough: release them and trim.
        let p = plan_giveback(
            &low,
            r,
            Releasable {
                models_bytes: 4 * GIB,
                prompt_running: false,
                swap_free_bytes: 8 * GIB,
            },
        );
        assert_eq!(p.shortfall_bytes, r + r / 4 - 200 * MIB);
        assert_eq!(
            p.steps,
            [GivebackStep::ReleaseModels, GivebackStep::TrimHeap]
        );
        // No models: the outputs, the heap, then swap.
        let p = plan_giveback(
            &low,
            r,
            Releasable {
                models_bytes: 0,
                prompt_running: false,
                swap_free_bytes: 8 * GIB,
            },
        );
        assert_eq!(
            p.steps,
            [
                GivebackStep::DropOutputs,
                GivebackStep::TrimHeap,
                GivebackStep::PageOut
            ]
        );
        // During a prompt the outputs stay; without swap nothing is paged out.
        let p = plan_giveback(
            &low,
            r,
            Releasable {
                models_bytes: 100 * MIB,
                prompt_running: true,
                swap_free_bytes: 0,
            },
        );
        assert_eq!(
            p.steps,
            [GivebackStep::ReleaseModels, GivebackStep::TrimHeap]
        );
        assert!(p.reason.contains("a prompt is running"), "{}", p.reason);
    }

    #[test]
    fn a_load_that_fits_proceeds_one_that_needs_room_makes_it_one_that_cannot_is_refused() {
        let r = at(3 * GIB, 0);
        let reserve = 512 * MIB;
        let d = |p: LoadPlan| (p.decision, p.make_room_bytes);
        assert_eq!(
            d(plan_load("m", 2 * GIB, &r, reserve, 0)),
            (LoadDecision::Proceed, 0)
        );
        // Eats into the reserve: give back what keeps it, when there is some.
        assert_eq!(
            d(plan_load("m", 3 * GIB, &r, reserve, 4 * GIB)),
            (LoadDecision::MakeRoom, reserve)
        );
        // Fits only with cached models given back.
        assert_eq!(
            d(plan_load("m", 5 * GIB, &r, reserve, 4 * GIB)),
            (LoadDecision::MakeRoom, 5 * GIB - (3 * GIB - reserve))
        );
        // Fits in the headroom, but not outside the reserve, with nothing to give back:
        // it goes ahead (refusing what fits would fail a prompt that works).
        assert_eq!(
            d(plan_load("m", 3 * GIB, &r, reserve, 0)),
            (LoadDecision::Proceed, 0)
        );
        let p = plan_load("loading sd15.safetensors", 8 * GIB, &r, reserve, 4 * GIB);
        assert_eq!(p.decision, LoadDecision::Refuse);
        let refusal = p.refusal.unwrap();
        assert_eq!(refusal.cause, RefusalCause::Headroom);
        assert_eq!(refusal.needed_bytes, 8 * GIB);
        assert_eq!(refusal.free_bytes, 7 * GIB);
        assert_eq!(refusal.margin_bytes, reserve);
        assert_eq!(refusal.limit_bytes, Some(7 * GIB));
    }

    #[test]
    fn the_guard_starts_unless_switched_off() {
        let set = |guard_enabled, reserve_bytes, ram_figures| ComfySettings {
            guard_enabled,
            reserve_bytes,
            ram_figures,
        };
        let start = |on, reserve, ram_figures| GuardStart {
            on,
            reserve,
            ram_figures,
        };
        let none = ComfySettings::default();
        assert_eq!(
            guard_start(&none, None, None, false, None),
            start(true, None, true)
        );
        for off in ["0", "false", " OFF ", "No"] {
            assert!(env_off(Some(off)), "{off}");
            assert_eq!(
                guard_start(&none, Some(off), Some(off), false, None),
                start(false, None, false)
            );
        }
        for on in ["1", "", "yes", "of"] {
            assert!(!env_off(Some(on)), "{on}");
        }
        assert!(!env_off(None));
        let off = set(Some(false), Some(3 << 20), Some(false));
        assert_eq!(
            guard_start(&off, None, None, false, None),
            start(false, Some(3 << 20), false)
        );
        // the dialog's switch overrides the setting and the environment
        assert_eq!(
            guard_start(&off, Some("0"), None, true, Some(0)),
            start(true, None, false)
        );
        assert_eq!(
            guard_start(&off, None, None, true, Some(5)),
            start(true, Some(5 << 20), false)
        );
        let on = set(Some(true), None, Some(true));
        assert_eq!(
            guard_start(&on, Some("0"), Some("1"), false, None),
            start(false, None, true)
        );
    }

    #[test]
    fn dropping_outputs_goes_with_releasing_models() {
        use GivebackStep::*;
        let plan = |steps: Vec<GivebackStep>| GivebackPlan {
            shortfall_bytes: 1,
            steps,
            reason: String::new(),
        };
        assert_eq!(
            giveback_runs(&plan(vec![ReleaseModels, DropOutputs, TrimHeap, PageOut])),
            vec![(0, ReleaseModels), (2, TrimHeap), (3, PageOut)]
        );
        assert_eq!(
            giveback_runs(&plan(vec![DropOutputs, TrimHeap])),
            vec![(0, DropOutputs), (1, TrimHeap)]
        );
        assert_eq!(giveback_runs(&plan(vec![])), vec![]);
        // the words are the serialized names, which Python reads
        for s in [ReleaseModels, DropOutputs, TrimHeap, PageOut] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.word());
        }
        for d in [
            LoadDecision::Proceed,
            LoadDecision::MakeRoom,
            LoadDecision::Refuse,
        ] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.word());
        }
    }
}
