//! The swap check's verdict in words, naming the override and the margin as the
//! face that asked calls them: `--force` / `--min-swap-free` on the command line,
//! `force=True` / `min_swap_free` in Python, `skip_trim_if_c_low` /
//! `min_c_free_gb` in a ComfyUI node.

use crate::model::{SwapAllowance, SwapFinding, SwapVerdict};
use crate::units::format_bytes;

/// What the face that asked calls the swap check's two settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knobs {
    /// How to override a refusal, e.g. "pass --force".
    pub force: String,
    /// The name of the margin setting, e.g. "--min-swap-free".
    pub margin: String,
}

impl Knobs {
    /// The command line's names.
    pub fn cli() -> Self {
        Self {
            force: "pass --force".into(),
            margin: "--min-swap-free".into(),
        }
    }
}

impl Default for Knobs {
    fn default() -> Self {
        Self::cli()
    }
}

/// "capped by the cgroup's swap allowance (200 B left of 500 B)".
fn allowance_note(a: &SwapAllowance) -> String {
    format!(
        "capped by the cgroup's swap allowance ({} left of {})",
        format_bytes(a.left_bytes),
        format_bytes(a.limit_bytes)
    )
}

/// The verdict in words: what was found, then, for a refusal, what the reader can
/// do about it (in `knobs`' names), or that it was overridden on request.
pub fn reason(v: &SwapVerdict, knobs: &Knobs) -> String {
    let (found, advice) = match &v.commit {
        None => swap_words(v, knobs),
        Some(c) => {
            let (found, advice) = page_file_words(v, knobs);
            let commit = format!(
                "; commit charge {} of the {} limit",
                format_bytes(c.committed_bytes),
                format_bytes(c.limit_bytes)
            );
            (found + &commit, advice)
        }
    };
    match (v.allowed, v.forced) {
        (true, false) => found,
        (true, true) => format!("overridden on request: {found}"),
        (false, _) => format!("{found}{advice}"),
    }
}

/// Linux (swap devices and the cgroup's allowance): (what was found, the advice
/// for a refusal).
fn swap_words(v: &SwapVerdict, knobs: &Knobs) -> (String, String) {
    let note = v.allowance.as_ref().map(allowance_note);
    let cap = note
        .as_deref()
        .map(|n| format!("; {n}"))
        .unwrap_or_default();
    let (free, needed, margin) = (
        format_bytes(v.swap_free_bytes),
        format_bytes(v.needed_bytes),
        format_bytes(v.margin_bytes),
    );
    match &v.finding {
        SwapFinding::ColdOnly => (
            "MADV_COLD only marks pages as first to reclaim; nothing is written to swap now, \
             so no free swap is needed"
                .into(),
            String::new(),
        ),
        SwapFinding::NoSwap => (
            "no swap is configured: anonymous memory cannot be paged out, only file-backed \
             pages can be dropped (they are re-read from disk when touched)"
                .into(),
            format!(
                ". Add swap (a swap file or zram), or {} to drop file-backed pages only",
                knobs.force
            ),
        ),
        SwapFinding::NoAllowance => (
            format!(
                "this cgroup may not use swap ({}); only file-backed pages could go",
                note.unwrap_or_default()
            ),
            format!(": {} to drop those", knobs.force),
        ),
        SwapFinding::Short => (
            format!(
                "free swap {free} is below the {needed} that would be paged out plus the \
                 {margin} margin ({}){cap}",
                knobs.margin
            ),
            format!(
                ". Lower {}, add swap, or {} to page out anyway",
                knobs.margin, knobs.force
            ),
        ),
        _ => (
            format!("free swap {free} covers {needed} to page out plus {margin} margin{cap}"),
            String::new(),
        ),
    }
}

/// Windows (page files on their drives): (what was found, the advice for a
/// refusal).
fn page_file_words(v: &SwapVerdict, knobs: &Knobs) -> (String, String) {
    let (needed, margin) = (format_bytes(v.needed_bytes), format_bytes(v.margin_bytes));
    match &v.finding {
        SwapFinding::DriveUnreadable { drive, page_file } => (
            format!("the free space of drive {drive} (page file {page_file}) could not be read"),
            format!(": {} to trim anyway", knobs.force),
        ),
        SwapFinding::DriveShort {
            drive,
            page_file,
            drive_free_bytes,
            growth_bytes,
        } => (
            format!(
                "drive {drive} (page file {page_file}) has {} free, below the {} the page files \
                 may grow by to take the {needed} paged out plus the {margin} margin ({})",
                format_bytes(*drive_free_bytes),
                format_bytes(*growth_bytes),
                knobs.margin,
            ),
            format!(
                ". Free space on {drive}, lower {}, or {} to trim anyway",
                knobs.margin, knobs.force
            ),
        ),
        SwapFinding::DrivesCover {
            drives,
            growth_bytes,
        } => {
            let free = drives
                .iter()
                .map(|d| format!("{} {} free", d.drive, format_bytes(d.free_bytes)))
                .collect::<Vec<_>>()
                .join(", ");
            (
                format!(
                    "page-file drives ({free}) keep the {margin} margin ({}) beyond the {} the \
                     page files may grow by; the page files have {} free for the {needed} to \
                     page out",
                    knobs.margin,
                    format_bytes(*growth_bytes),
                    format_bytes(v.swap_free_bytes),
                ),
                String::new(),
            )
        }
        // A Linux finding with page-file figures: worded as on Linux.
        _ => swap_words(v, knobs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::page_file_system;
    use crate::model::{CgroupMemory, SystemMemory};
    use crate::policy::swap::{cold_verdict, evaluate};

    const GIB: u64 = 1 << 30;

    /// The policy's verdict, worded with `knobs` as a face words it.
    fn worded(
        system: &SystemMemory,
        cgroup: Option<&CgroupMemory>,
        (needed, margin): (u64, u64),
        force: bool,
        knobs: &Knobs,
    ) -> SwapVerdict {
        let mut v = evaluate(system, cgroup, needed, margin, force);
        v.reason = reason(&v, knobs);
        v
    }

    fn sys(total: u64, free: u64) -> SystemMemory {
        SystemMemory {
            swap_total_bytes: total,
            swap_free_bytes: free,
            ..Default::default()
        }
    }

    fn cgroup_with_swap(limit: u64, used: u64) -> CgroupMemory {
        CgroupMemory {
            swap_limit_bytes: Some(limit),
            swap_usage_bytes: Some(used),
            ..Default::default()
        }
    }

    #[test]
    fn a_refusal_names_the_faces_knobs_and_an_override_does_not() {
        let cli = Knobs::cli();
        let v = worded(&sys(0, 0), None, (100, 10), false, &cli);
        assert!(v.reason.contains("no swap") && v.reason.contains("pass --force"));
        let v = worded(&sys(0, 0), None, (100, 10), true, &cli);
        assert!(v.reason.starts_with("overridden on request"));
        assert!(!v.reason.contains("--force"), "{}", v.reason);
        let v = worded(&sys(1000, 109), None, (100, 10), false, &cli);
        assert!(
            v.reason.contains("Lower --min-swap-free") && v.reason.contains("pass --force"),
            "{}",
            v.reason
        );
        let mut c = cold_verdict(&sys(1000, 109), None, 100, 10);
        c.reason = reason(&c, &cli);
        assert_eq!(
            c.reason,
            "MADV_COLD only marks pages as first to reclaim; nothing is written to swap now, \
             so no free swap is needed"
        );
    }

    #[test]
    fn the_cgroups_allowance_is_named_when_it_caps() {
        let knobs = Knobs::cli();
        let cg = cgroup_with_swap(500, 300);
        let v = worded(&sys(1000, 1000), Some(&cg), (190, 10), false, &knobs);
        assert_eq!(
            v.reason,
            "free swap 200 B covers 190 B to page out plus 10 B margin; capped by the cgroup's \
             swap allowance (200 B left of 500 B)"
        );
        let v = worded(&sys(1000, 1000), Some(&cg), (191, 10), false, &knobs);
        assert_eq!(
            v.reason,
            "free swap 200 B is below the 191 B that would be paged out plus the 10 B margin \
             (--min-swap-free); capped by the cgroup's swap allowance (200 B left of 500 B). \
             Lower --min-swap-free, add swap, or pass --force to page out anyway"
        );
        let over = cgroup_with_swap(500, 700);
        let v = worded(&sys(1000, 1000), Some(&over), (1, 0), false, &knobs);
        assert!(v.reason.starts_with("this cgroup may not use swap (capped by the cgroup's swap allowance (0 B left of 500 B))"), "{}", v.reason);
        let v = worded(&sys(2000, 1000), None, (990, 10), false, &knobs);
        assert_eq!(
            v.reason,
            "free swap 1000 B covers 990 B to page out plus 10 B margin"
        );
    }

    #[test]
    fn refusals_and_overrides_say_what_was_found() {
        let knobs = Knobs {
            force: "set force".into(),
            margin: "knob M".into(),
        };
        let v = worded(&sys(0, 0), None, (100, 10), false, &knobs);
        assert_eq!(
            v.reason,
            "no swap is configured: anonymous memory cannot be paged out, only file-backed \
             pages can be dropped (they are re-read from disk when touched). Add swap (a swap \
             file or zram), or set force to drop file-backed pages only"
        );
        let none = cgroup_with_swap(0, 0);
        let v = worded(&sys(1000, 1000), Some(&none), (1, 0), false, &knobs);
        assert_eq!(
            v.reason,
            "this cgroup may not use swap (capped by the cgroup's swap allowance (0 B left of \
             0 B)); only file-backed pages could go: set force to drop those"
        );
        let v = worded(&sys(1000, 1000), Some(&none), (1, 0), true, &knobs);
        assert!(
            v.reason
                .starts_with("overridden on request: this cgroup may not use swap"),
            "{}",
            v.reason
        );
        // Allowed anyway: forcing changes nothing and says nothing.
        let v = worded(&sys(1000, 1000), None, (1, 0), true, &knobs);
        assert_eq!(
            v.reason,
            "free swap 1000 B covers 1 B to page out plus 0 B margin"
        );
        let v = worded(&sys(1000, 100), None, (100, 10), false, &knobs);
        assert_eq!(
            v.reason,
            "free swap 100 B is below the 100 B that would be paged out plus the 10 B margin \
             (knob M). Lower knob M, add swap, or set force to page out anyway"
        );
    }

    #[test]
    fn page_file_drives_are_named_with_the_commit_charge() {
        let knobs = Knobs::cli();
        let s = page_file_system(3 * GIB, &[(r"C:\", Some(GIB)), (r"D:\", Some(5 * GIB))]);
        let v = worded(&s, None, (2 * GIB, GIB), false, &knobs);
        assert_eq!(
            v.reason,
            r"page-file drives (C:\ 1.00 GiB free, D:\ 5.00 GiB free) keep the 1.00 GiB margin (--min-swap-free) beyond the 0 B the page files may grow by; the page files have 3.00 GiB free for the 2.00 GiB to page out; commit charge 20.00 GiB of the 24.00 GiB limit"
        );
        let s = page_file_system(GIB, &[(r"C:\", Some(3 * GIB - 1))]);
        let v = worded(&s, None, (3 * GIB, GIB), false, &knobs);
        assert_eq!(
            v.reason,
            r"drive C:\ (page file C:\pagefile.sys) has 3.00 GiB free, below the 2.00 GiB the page files may grow by to take the 3.00 GiB paged out plus the 1.00 GiB margin (--min-swap-free); commit charge 20.00 GiB of the 24.00 GiB limit. Free space on C:\, lower --min-swap-free, or pass --force to trim anyway"
        );
        let v = worded(&s, None, (3 * GIB, GIB), true, &knobs);
        assert!(
            v.reason.starts_with("overridden on request: drive C:\\"),
            "{}",
            v.reason
        );
        assert!(!v.reason.contains("--force"), "{}", v.reason);
        let seed = Knobs {
            force: "set skip_trim_if_c_low to false".into(),
            margin: "min_c_free_gb".into(),
        };
        let s = page_file_system(0, &[(r"E:\", None)]);
        let v = worded(&s, None, (GIB, GIB), false, &seed);
        assert_eq!(
            v.reason,
            r"the free space of drive E:\ (page file E:\pagefile.sys) could not be read; commit charge 20.00 GiB of the 24.00 GiB limit: set skip_trim_if_c_low to false to trim anyway"
        );
    }
}
