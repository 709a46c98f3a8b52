//! The swap safety guard (the seeds' `skip_trim_if_c_low` / `min_c_free_gb`, made
//! right for Linux). Paging anonymous memory out needs free swap: on Windows the
//! seeds checked the pagefile's drive, on Linux the swap devices and the cgroup's
//! swap allowance are what fill up.

use crate::model::{CgroupMemory, GuardVerdict, SystemMemory};
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
    let reason = match (ok, force) {
        (true, _) => found,
        // The override was used: its advice no longer applies.
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
}
