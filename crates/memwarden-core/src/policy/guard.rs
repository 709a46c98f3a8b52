//! The swap safety guard (the seeds' `skip_trim_if_c_low` / `min_c_free_gb`, made
//! right for Linux). Paging anonymous memory out needs free swap: on Windows the
//! seeds checked the pagefile's drive, on Linux the swap devices and the cgroup's
//! swap allowance are what fill up. Where the snapshot lists page files with
//! their drives (Windows), [`page_file_verdict`] judges by those drives.

use crate::model::{CgroupMemory, GuardVerdict, PageFile, SystemMemory};
use crate::units::format_bytes;

/// Default margin kept free in swap on top of what a pageout would use.
pub const DEFAULT_MIN_SWAP_FREE: u64 = 1 << 30;

/// What the caller calls the guard's two settings, so that a refusal names the one
/// the reader can change: `--force` on the command line, `force=True` in Python,
/// `skip_trim_if_c_low` in a ComfyUI node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardKnobs {
    /// How to override a refusal, e.g. "pass --force".
    pub force: String,
    /// The name of the margin setting, e.g. "--min-swap-free".
    pub margin: String,
}

impl GuardKnobs {
    /// The command line's names.
    pub fn cli() -> Self {
        Self {
            force: "pass --force".into(),
            margin: "--min-swap-free".into(),
        }
    }
}

impl Default for GuardKnobs {
    fn default() -> Self {
        Self::cli()
    }
}

/// Swap this process's cgroup may still use: system free swap capped by the
/// cgroup's swap allowance.
pub fn usable_swap(system: &SystemMemory, cgroup: Option<&CgroupMemory>) -> (u64, Option<String>) {
    let mut free = system.swap_free_bytes;
    let mut note = None;
    if let Some(cg) = cgroup {
        if let Some(limit) = cg.swap_limit_bytes {
            let left = limit.saturating_sub(cg.swap_usage_bytes.unwrap_or(0));
            if left < free {
                free = left;
                note = Some(format!(
                    "capped by the cgroup's swap allowance ({} left of {})",
                    format_bytes(left),
                    format_bytes(limit)
                ));
            }
        }
    }
    (free, note)
}

/// MADV_COLD only moves pages to the inactive list; nothing is written to swap, so
/// there is nothing for the guard to protect. The swap figure is still the real one.
pub fn cold_verdict(
    system: &SystemMemory,
    cgroup: Option<&CgroupMemory>,
    needed: u64,
    margin: u64,
) -> GuardVerdict {
    GuardVerdict {
        allowed: true,
        forced: false,
        swap_free_bytes: usable_swap(system, cgroup).0,
        needed_bytes: needed,
        margin_bytes: margin,
        reason: "MADV_COLD only marks pages as first to reclaim; nothing is written to swap now, \
                 so no free swap is needed"
            .into(),
    }
}

/// Decide whether paging out `needed` bytes of anonymous memory is safe.
pub fn evaluate(
    system: &SystemMemory,
    cgroup: Option<&CgroupMemory>,
    needed: u64,
    margin: u64,
    force: bool,
    knobs: &GuardKnobs,
) -> GuardVerdict {
    if !system.page_files.is_empty() {
        return page_file_verdict(system, needed, margin, force, knobs);
    }
    let (free, cap_note) = usable_swap(system, cgroup);
    let required = needed.saturating_add(margin);
    let cap = cap_note
        .as_deref()
        .map(|n| format!("; {n}"))
        .unwrap_or_default();
    // (safe, what was found, what the reader can do about a refusal)
    let (ok, found, advice) = if system.swap_total_bytes == 0 {
        (
            false,
            "no swap is configured: anonymous memory cannot be paged out, only file-backed \
             pages can be dropped (they are re-read from disk when touched)"
                .to_string(),
            format!(
                ". Add swap (a swap file or zram), or {} to drop file-backed pages only",
                knobs.force
            ),
        )
    } else if free == 0 && cap_note.is_some() {
        (
            false,
            format!(
                "this cgroup may not use swap ({}); only file-backed pages could go",
                cap_note.clone().unwrap_or_default()
            ),
            format!(": {} to drop those", knobs.force),
        )
    } else if free < required {
        (
            false,
            format!(
                "free swap {} is below the {} that would be paged out plus the {} margin ({}){cap}",
                format_bytes(free),
                format_bytes(needed),
                format_bytes(margin),
                knobs.margin,
            ),
            format!(
                ". Lower {}, add swap, or {} to page out anyway",
                knobs.margin, knobs.force
            ),
        )
    } else {
        (
            true,
            format!(
                "free swap {} covers {} to page out plus {} margin{cap}",
                format_bytes(free),
                format_bytes(needed),
                format_bytes(margin),
            ),
            String::new(),
        )
    };
    verdict((ok, found, advice), force, free, needed, margin)
}

/// The verdict from (safe, what was found, what the reader can do about a
/// refusal): a forced refusal is allowed, and its advice no longer applies.
fn verdict(
    (ok, found, advice): (bool, String, String),
    force: bool,
    free: u64,
    needed: u64,
    margin: u64,
) -> GuardVerdict {
    let reason = match (ok, force) {
        (true, _) => found,
        (false, true) => format!("overridden on request: {found}"),
        (false, false) => format!("{found}{advice}"),
    };
    GuardVerdict {
        allowed: ok || force,
        forced: !ok && force,
        swap_free_bytes: free,
        needed_bytes: needed,
        margin_bytes: margin,
        reason,
    }
}

/// The page files on each drive, once per drive (the first listed names it).
fn page_file_drives(files: &[PageFile]) -> Vec<&PageFile> {
    let mut drives: Vec<&PageFile> = Vec::new();
    for f in files {
        if !drives
            .iter()
            .any(|d| d.drive.eq_ignore_ascii_case(&f.drive))
        {
            drives.push(f);
        }
    }
    drives
}

/// Windows: the seeds' guard, "free space on the page-file drive must stay above
/// min_c_free_gb". A trim writes the private pages it takes out of the working
/// set to the page files; what their free room (`swap_free_bytes`) cannot take,
/// they must grow by on their drives. Each drive holding a page file must have
/// that growth plus the margin free: Windows chooses which page file grows, so
/// each drive is judged as if it took it all. A trim moves pages that are
/// already committed and never raises the commit charge; the verdict states it
/// against the commit limit for the reader.
pub fn page_file_verdict(
    system: &SystemMemory,
    needed: u64,
    margin: u64,
    force: bool,
    knobs: &GuardKnobs,
) -> GuardVerdict {
    let room = system.swap_free_bytes;
    let growth = needed.saturating_sub(room);
    let required = growth.saturating_add(margin);
    let drives = page_file_drives(&system.page_files);
    let short = drives
        .iter()
        .find(|d| d.drive_free_bytes.is_none_or(|f| f < required));
    let commit = format!(
        "; commit charge {} of the {} limit",
        format_bytes(system.committed_bytes),
        format_bytes(system.commit_limit_bytes)
    );
    let judged = match short {
        Some(d) => drive_refusal(d, growth, needed, margin, knobs),
        None => (
            true,
            drives_allowed(&drives, room, growth, needed, margin, knobs),
            String::new(),
        ),
    };
    let (ok, found, advice) = judged;
    verdict(
        (ok, format!("{found}{commit}"), advice),
        force,
        room,
        needed,
        margin,
    )
}

/// Why `d` cannot take the growth plus the margin, and what the reader can do.
fn drive_refusal(
    d: &PageFile,
    growth: u64,
    needed: u64,
    margin: u64,
    knobs: &GuardKnobs,
) -> (bool, String, String) {
    let Some(free) = d.drive_free_bytes else {
        return (
            false,
            format!(
                "the free space of drive {} (page file {}) could not be read",
                d.drive, d.path
            ),
            format!(": {} to trim anyway", knobs.force),
        );
    };
    (
        false,
        format!(
            "drive {} (page file {}) has {} free, below the {} the page files may grow by to \
             take the {} paged out plus the {} margin ({})",
            d.drive,
            d.path,
            format_bytes(free),
            format_bytes(growth),
            format_bytes(needed),
            format_bytes(margin),
            knobs.margin,
        ),
        format!(
            ". Free space on {}, lower {}, or {} to trim anyway",
            d.drive, knobs.margin, knobs.force
        ),
    )
}

/// What an allowed trim was judged on: each drive's free space, the margin and
/// the page files' room.
fn drives_allowed(
    drives: &[&PageFile],
    room: u64,
    growth: u64,
    needed: u64,
    margin: u64,
    knobs: &GuardKnobs,
) -> String {
    let free = drives
        .iter()
        .map(|d| {
            format!(
                "{} {} free",
                d.drive,
                format_bytes(d.drive_free_bytes.unwrap_or(0))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "page-file drives ({free}) keep the {} margin ({}) beyond the {} the page files may \
         grow by; the page files have {} free for the {} to page out",
        format_bytes(margin),
        knobs.margin,
        format_bytes(growth),
        format_bytes(room),
        format_bytes(needed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(total: u64, free: u64) -> SystemMemory {
        SystemMemory {
            swap_total_bytes: total,
            swap_free_bytes: free,
            ..Default::default()
        }
    }

    #[test]
    fn no_swap_refuses_unless_forced() {
        let v = evaluate(&sys(0, 0), None, 100, 10, false, &GuardKnobs::cli());
        assert!(!v.allowed && !v.forced);
        assert!(v.reason.contains("no swap"));
        let v = evaluate(&sys(0, 0), None, 100, 10, true, &GuardKnobs::cli());
        assert!(v.allowed && v.forced);
        assert!(v.reason.starts_with("overridden on request"));
        assert!(!v.reason.contains("--force"), "{}", v.reason);
    }

    #[test]
    fn the_default_margin_is_the_documented_gib() {
        // README: `--min-swap-free` (default 1 GiB); the nodes and the Python API
        // share it.
        assert_eq!(DEFAULT_MIN_SWAP_FREE, 1024 * 1024 * 1024);
        assert_eq!(format_bytes(DEFAULT_MIN_SWAP_FREE), "1.00 GiB");
    }

    #[test]
    fn margin_counts() {
        assert!(evaluate(&sys(1000, 110), None, 100, 10, false, &GuardKnobs::cli()).allowed);
        let v = evaluate(&sys(1000, 109), None, 100, 10, false, &GuardKnobs::cli());
        assert!(!v.allowed);
        assert!(
            v.reason.contains("Lower --min-swap-free") && v.reason.contains("pass --force"),
            "{}",
            v.reason
        );
        let c = cold_verdict(&sys(1000, 109), None, 100, 10);
        assert!(c.allowed && c.swap_free_bytes == 109);
    }

    const GIB: u64 = 1 << 30;

    fn page_file(drive: &str, free: Option<u64>) -> PageFile {
        PageFile {
            path: format!("{drive}pagefile.sys"),
            total_bytes: 4 * GIB,
            used_bytes: GIB,
            drive: drive.into(),
            drive_free_bytes: free,
        }
    }

    /// Page files with `room` free in them, on drives with `free` each.
    fn windows(room: u64, drives: &[(&str, Option<u64>)]) -> SystemMemory {
        SystemMemory {
            swap_total_bytes: 4 * GIB,
            swap_free_bytes: room,
            committed_bytes: 20 * GIB,
            commit_limit_bytes: 24 * GIB,
            page_files: drives.iter().map(|(d, f)| page_file(d, *f)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn page_file_drives_need_the_growth_plus_the_margin() {
        let knobs = GuardKnobs::cli();
        // 3 GiB of room takes 2 GiB: no growth, the drive keeps its 1 GiB margin.
        let s = windows(3 * GIB, &[(r"C:\", Some(GIB))]);
        let v = evaluate(&s, None, 2 * GIB, GIB, false, &knobs);
        assert!(v.allowed && !v.forced, "{}", v.reason);
        assert!(v.reason.contains(r"C:\ 1.00 GiB free"), "{}", v.reason);
        assert!(
            v.reason
                .contains("commit charge 20.00 GiB of the 24.00 GiB limit"),
            "{}",
            v.reason
        );
        // 1 GiB of room for 3 GiB: 2 GiB of growth plus the margin is 3 GiB.
        let s = windows(GIB, &[(r"C:\", Some(3 * GIB))]);
        assert!(evaluate(&s, None, 3 * GIB, GIB, false, &knobs).allowed);
        let s = windows(GIB, &[(r"C:\", Some(3 * GIB - 1))]);
        let v = evaluate(&s, None, 3 * GIB, GIB, false, &knobs);
        assert!(!v.allowed && !v.forced);
        for part in [
            r"drive C:\ (page file C:\pagefile.sys)",
            "the 1.00 GiB margin (--min-swap-free)",
        ] {
            assert!(v.reason.contains(part), "{part}: {}", v.reason);
        }
        assert!(
            v.reason
                .contains(r"Free space on C:\, lower --min-swap-free, or pass --force"),
            "{}",
            v.reason
        );
        assert_eq!(v.swap_free_bytes, GIB);
        let v = evaluate(&s, None, 3 * GIB, GIB, true, &knobs);
        assert!(v.allowed && v.forced && v.reason.starts_with("overridden on request"));
        assert!(!v.reason.contains("--force"), "{}", v.reason);
    }

    #[test]
    fn every_page_file_drive_is_judged() {
        let knobs = GuardKnobs {
            force: "set skip_trim_if_c_low to false".into(),
            margin: "min_c_free_gb".into(),
        };
        let s = windows(
            0,
            &[
                (r"C:\", Some(10 * GIB)),
                (r"c:\", None),
                (r"D:\", Some(GIB)),
            ],
        );
        let v = evaluate(&s, None, GIB, GIB, false, &knobs);
        assert!(!v.allowed, "{}", v.reason);
        assert!(
            v.reason.contains(r"drive D:\") && v.reason.contains("min_c_free_gb"),
            "{}",
            v.reason
        );
        assert!(
            v.reason.contains("set skip_trim_if_c_low to false"),
            "{}",
            v.reason
        );
        // A drive whose free space is unknown is refused, by name.
        let s = windows(0, &[(r"E:\", None)]);
        let v = evaluate(&s, None, GIB, GIB, false, &knobs);
        assert!(
            !v.allowed
                && v.reason
                    .contains(r"drive E:\ (page file E:\pagefile.sys) could not be read"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn cgroup_allowance_caps_swap() {
        let cg = CgroupMemory {
            swap_limit_bytes: Some(50),
            swap_usage_bytes: Some(0),
            ..Default::default()
        };
        let v = evaluate(
            &sys(1000, 1000),
            Some(&cg),
            100,
            10,
            false,
            &GuardKnobs::cli(),
        );
        assert!(!v.allowed);
        assert_eq!(v.swap_free_bytes, 50);
        assert!(v.reason.contains("cgroup"));
        let none = CgroupMemory {
            swap_limit_bytes: Some(0),
            ..Default::default()
        };
        assert!(evaluate(
            &sys(1000, 1000),
            Some(&none),
            1,
            0,
            false,
            &GuardKnobs::cli()
        )
        .reason
        .contains("may not use swap"));
    }

    /// The allowance is what the group's swap limit leaves after what the group
    /// already has in swap: 500 B allowed, 300 B used, 200 B left.
    fn cgroup_with_swap(limit: u64, used: u64) -> CgroupMemory {
        CgroupMemory {
            swap_limit_bytes: Some(limit),
            swap_usage_bytes: Some(used),
            ..Default::default()
        }
    }

    #[test]
    fn swap_the_group_already_uses_counts_against_its_allowance() {
        let knobs = GuardKnobs::cli();
        let cg = cgroup_with_swap(500, 300);
        let (free, note) = usable_swap(&sys(1000, 1000), Some(&cg));
        assert_eq!(free, 200);
        assert_eq!(
            note.as_deref(),
            Some("capped by the cgroup's swap allowance (200 B left of 500 B)")
        );
        // 190 + 10 fits in the 200 B left, 191 + 10 does not, whatever the limit.
        let v = evaluate(&sys(1000, 1000), Some(&cg), 190, 10, false, &knobs);
        assert!(v.allowed && !v.forced, "{}", v.reason);
        assert_eq!(v.swap_free_bytes, 200);
        assert!(
            v.reason
                .ends_with("; capped by the cgroup's swap allowance (200 B left of 500 B)"),
            "{}",
            v.reason
        );
        let v = evaluate(&sys(1000, 1000), Some(&cg), 191, 10, false, &knobs);
        assert!(!v.allowed && !v.forced, "{}", v.reason);
        assert_eq!(v.swap_free_bytes, 200);
        assert_eq!(
            v.reason,
            "free swap 200 B is below the 191 B that would be paged out plus the 10 B margin \
             (--min-swap-free); capped by the cgroup's swap allowance (200 B left of 500 B). \
             Lower --min-swap-free, add swap, or pass --force to page out anyway"
        );
        // MADV_COLD needs none, but reports the same figure.
        assert_eq!(
            cold_verdict(&sys(1000, 1000), Some(&cg), 191, 10).swap_free_bytes,
            200
        );
        // A group over its allowance (the limit was lowered under it) has none left.
        let over = cgroup_with_swap(500, 700);
        assert_eq!(usable_swap(&sys(1000, 1000), Some(&over)).0, 0);
        let v = evaluate(&sys(1000, 1000), Some(&over), 1, 0, false, &knobs);
        assert!(!v.allowed, "{}", v.reason);
        assert!(v.reason.starts_with("this cgroup may not use swap (capped by the cgroup's swap allowance (0 B left of 500 B))"), "{}", v.reason);
        // Usage not accounted: the whole limit is left.
        let unknown = CgroupMemory {
            swap_limit_bytes: Some(500),
            swap_usage_bytes: None,
            ..Default::default()
        };
        assert_eq!(usable_swap(&sys(1000, 1000), Some(&unknown)).0, 500);
    }

    #[test]
    fn the_allowance_caps_only_when_it_is_below_the_free_swap() {
        // What is left equals the free swap: the free swap is the figure, no note.
        let cg = cgroup_with_swap(1300, 300);
        assert_eq!(usable_swap(&sys(2000, 1000), Some(&cg)), (1000, None));
        // One byte less left: the allowance caps.
        let cg = cgroup_with_swap(1299, 300);
        let (free, note) = usable_swap(&sys(2000, 1000), Some(&cg));
        assert_eq!(free, 999);
        assert!(note.is_some());
        // No swap limit (unlimited), or no cgroup: the system's free swap.
        let unlimited = CgroupMemory {
            swap_usage_bytes: Some(300),
            ..Default::default()
        };
        assert_eq!(
            usable_swap(&sys(2000, 1000), Some(&unlimited)),
            (1000, None)
        );
        assert_eq!(usable_swap(&sys(2000, 1000), None), (1000, None));
        let v = evaluate(
            &sys(2000, 1000),
            Some(&unlimited),
            990,
            10,
            false,
            &GuardKnobs::cli(),
        );
        assert!(v.allowed, "{}", v.reason);
        assert_eq!(
            v.reason,
            "free swap 1000 B covers 990 B to page out plus 10 B margin"
        );
    }

    #[test]
    fn refusals_and_overrides_say_what_was_found() {
        let knobs = GuardKnobs {
            force: "set force".into(),
            margin: "knob M".into(),
        };
        let v = evaluate(&sys(0, 0), None, 100, 10, false, &knobs);
        assert_eq!(
            v.reason,
            "no swap is configured: anonymous memory cannot be paged out, only file-backed \
             pages can be dropped (they are re-read from disk when touched). Add swap (a swap \
             file or zram), or set force to drop file-backed pages only"
        );
        assert_eq!(
            (v.swap_free_bytes, v.needed_bytes, v.margin_bytes),
            (0, 100, 10)
        );
        let none = cgroup_with_swap(0, 0);
        let v = evaluate(&sys(1000, 1000), Some(&none), 1, 0, false, &knobs);
        assert_eq!(
            v.reason,
            "this cgroup may not use swap (capped by the cgroup's swap allowance (0 B left of \
             0 B)); only file-backed pages could go: set force to drop those"
        );
        let v = evaluate(&sys(1000, 1000), Some(&none), 1, 0, true, &knobs);
        assert!(v.allowed && v.forced);
        assert!(
            v.reason
                .starts_with("overridden on request: this cgroup may not use swap"),
            "{}",
            v.reason
        );
        // Allowed anyway: forcing changes nothing and says nothing.
        let v = evaluate(&sys(1000, 1000), None, 1, 0, true, &knobs);
        assert!(v.allowed && !v.forced, "{}", v.reason);
        assert_eq!(
            v.reason,
            "free swap 1000 B covers 1 B to page out plus 0 B margin"
        );
        // A huge margin does not wrap around.
        let v = evaluate(&sys(1000, 1000), None, 1, u64::MAX, false, &knobs);
        assert!(!v.allowed, "{}", v.reason);
    }
}
