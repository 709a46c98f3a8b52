//! The swap check (the seeds' `skip_trim_if_c_low` / `min_c_free_gb`, made right
//! for Linux): may a pageout go ahead? Paging anonymous memory out needs free
//! swap: on Windows the seeds checked the pagefile's drive, on Linux the swap
//! devices and the cgroup's swap allowance are what fill up. Where the snapshot
//! lists page files with their drives (Windows), [`page_file_verdict`] judges by
//! those drives.
//!
//! The verdict is a finding with its figures; it names no option. Each face words
//! it with its own names for the override and the margin (`render::swap`).

use crate::model::{
    CgroupMemory, CommitCharge, DriveFree, PageFile, SwapAllowance, SwapFinding, SwapVerdict,
    SystemMemory,
};

/// Default margin kept free in swap on top of what a pageout would use.
pub const DEFAULT_MIN_SWAP_FREE: u64 = 1 << 30;

/// The Memory Cleaner node's default margin (`min_c_free_gb`), GB. On Windows the
/// seed's 20 GB of free space on the page-file drive; on Linux the margin applies
/// to free swap, a few GB on most machines, where the seed's 20 GB would refuse
/// every pageout: [`DEFAULT_MIN_SWAP_FREE`], as `memwarden trim --min-swap-free`.
pub const NODE_DEFAULT_MARGIN_GB: f64 = if cfg!(windows) { 20.0 } else { 1.0 };

/// Swap this process's cgroup may still use: system free swap capped by the
/// cgroup's swap allowance, and that allowance when it is what caps.
pub fn usable_swap(
    system: &SystemMemory,
    cgroup: Option<&CgroupMemory>,
) -> (u64, Option<SwapAllowance>) {
    let free = system.swap_free_bytes;
    let Some(limit) = cgroup.and_then(|cg| cg.swap_limit_bytes) else {
        return (free, None);
    };
    let used = cgroup.and_then(|cg| cg.swap_usage_bytes).unwrap_or(0);
    let left = limit.saturating_sub(used);
    if left < free {
        let allowance = SwapAllowance {
            left_bytes: left,
            limit_bytes: limit,
        };
        (left, Some(allowance))
    } else {
        (free, None)
    }
}

/// MADV_COLD only moves pages to the inactive list; nothing is written to swap, so
/// there is nothing to check. The swap figure is still the real one.
pub fn cold_verdict(
    system: &SystemMemory,
    cgroup: Option<&CgroupMemory>,
    needed: u64,
    margin: u64,
) -> SwapVerdict {
    let (free, allowance) = usable_swap(system, cgroup);
    verdict(
        SwapFinding::ColdOnly,
        false,
        (free, needed, margin),
        allowance,
        None,
    )
}

/// Decide whether paging out `needed` bytes of anonymous memory is safe, keeping
/// `margin` free; `force` lets a refused one go ahead (the verdict says so).
pub fn evaluate(
    system: &SystemMemory,
    cgroup: Option<&CgroupMemory>,
    needed: u64,
    margin: u64,
    force: bool,
) -> SwapVerdict {
    if !system.page_files.is_empty() {
        return page_file_verdict(system, needed, margin, force);
    }
    let (free, allowance) = usable_swap(system, cgroup);
    let finding = if system.swap_total_bytes == 0 {
        SwapFinding::NoSwap
    } else if free == 0 && allowance.is_some() {
        SwapFinding::NoAllowance
    } else if free < needed.saturating_add(margin) {
        SwapFinding::Short
    } else {
        SwapFinding::Covered
    };
    verdict(finding, force, (free, needed, margin), allowance, None)
}

/// Whether a finding lets the pageout go ahead unforced.
pub fn is_safe(finding: &SwapFinding) -> bool {
    matches!(
        finding,
        SwapFinding::ColdOnly | SwapFinding::Covered | SwapFinding::DrivesCover { .. }
    )
}

/// The verdict on `finding`: a forced refusal is allowed and says it was forced.
/// Its `reason` is left for the face to word (`render::swap::reason`).
fn verdict(
    finding: SwapFinding,
    force: bool,
    (free, needed, margin): (u64, u64, u64),
    allowance: Option<SwapAllowance>,
    commit: Option<CommitCharge>,
) -> SwapVerdict {
    let safe = is_safe(&finding);
    SwapVerdict {
        allowed: safe || force,
        forced: !safe && force,
        swap_free_bytes: free,
        needed_bytes: needed,
        margin_bytes: margin,
        finding,
        allowance,
        commit,
        reason: String::new(),
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

/// Windows: the seeds' check, "free space on the page-file drive must stay above
/// min_c_free_gb". A trim writes the private pages it takes out of the working
/// set to the page files; what their free room (`swap_free_bytes`) cannot take,
/// they must grow by on their drives. Each drive holding a page file must have
/// that growth plus the margin free: Windows chooses which page file grows, so
/// each drive is judged as if it took it all. A trim moves pages that are
/// already committed and never raises the commit charge; the verdict carries it
/// for the reader.
pub fn page_file_verdict(
    system: &SystemMemory,
    needed: u64,
    margin: u64,
    force: bool,
) -> SwapVerdict {
    let room = system.swap_free_bytes;
    let growth = needed.saturating_sub(room);
    let required = growth.saturating_add(margin);
    let drives = page_file_drives(&system.page_files);
    let short = drives
        .iter()
        .find(|d| d.drive_free_bytes.is_none_or(|f| f < required));
    let finding = match short {
        Some(d) => match d.drive_free_bytes {
            None => SwapFinding::DriveUnreadable {
                drive: d.drive.clone(),
                page_file: d.path.clone(),
            },
            Some(free) => SwapFinding::DriveShort {
                drive: d.drive.clone(),
                page_file: d.path.clone(),
                drive_free_bytes: free,
                growth_bytes: growth,
            },
        },
        None => SwapFinding::DrivesCover {
            drives: drives
                .iter()
                .map(|d| DriveFree {
                    drive: d.drive.clone(),
                    free_bytes: d.drive_free_bytes.unwrap_or(0),
                })
                .collect(),
            growth_bytes: growth,
        },
    };
    let commit = CommitCharge {
        committed_bytes: system.committed_bytes,
        limit_bytes: system.commit_limit_bytes,
    };
    verdict(finding, force, (room, needed, margin), None, Some(commit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::page_file_system;

    const GIB: u64 = 1 << 30;

    fn sys(total: u64, free: u64) -> SystemMemory {
        SystemMemory {
            swap_total_bytes: total,
            swap_free_bytes: free,
            ..Default::default()
        }
    }

    fn cgroup_with_swap(limit: u64, used: Option<u64>) -> CgroupMemory {
        CgroupMemory {
            swap_limit_bytes: Some(limit),
            swap_usage_bytes: used,
            ..Default::default()
        }
    }

    /// (allowed, forced, finding) of a verdict.
    fn judged(v: &SwapVerdict) -> (bool, bool, &SwapFinding) {
        (v.allowed, v.forced, &v.finding)
    }

    #[test]
    fn no_swap_refuses_unless_forced() {
        let v = evaluate(&sys(0, 0), None, 100, 10, false);
        assert_eq!(judged(&v), (false, false, &SwapFinding::NoSwap));
        assert_eq!(
            (v.swap_free_bytes, v.needed_bytes, v.margin_bytes),
            (0, 100, 10)
        );
        let v = evaluate(&sys(0, 0), None, 100, 10, true);
        assert_eq!(judged(&v), (true, true, &SwapFinding::NoSwap));
        assert!(v.reason.is_empty() && v.allowance.is_none() && v.commit.is_none());
    }

    #[test]
    fn the_default_margin_is_the_documented_gib() {
        // README: `--min-swap-free` (default 1 GiB); the nodes and the Python API
        // share it.
        assert_eq!(DEFAULT_MIN_SWAP_FREE, 1024 * 1024 * 1024);
    }

    #[test]
    fn the_margin_counts_to_the_byte() {
        let v = evaluate(&sys(1000, 110), None, 100, 10, false);
        assert_eq!(judged(&v), (true, false, &SwapFinding::Covered));
        let v = evaluate(&sys(1000, 109), None, 100, 10, false);
        assert_eq!(judged(&v), (false, false, &SwapFinding::Short));
        let v = evaluate(&sys(1000, 109), None, 100, 10, true);
        assert_eq!(judged(&v), (true, true, &SwapFinding::Short));
        // Allowed anyway: forcing changes nothing.
        let v = evaluate(&sys(1000, 1000), None, 1, 0, true);
        assert_eq!(judged(&v), (true, false, &SwapFinding::Covered));
        // A huge margin does not wrap around.
        let v = evaluate(&sys(1000, 1000), None, 1, u64::MAX, false);
        assert_eq!(judged(&v), (false, false, &SwapFinding::Short));
        // MADV_COLD needs none, and reports the real figure.
        let c = cold_verdict(&sys(1000, 109), None, 100, 10);
        assert_eq!(judged(&c), (true, false, &SwapFinding::ColdOnly));
        assert_eq!(
            (c.swap_free_bytes, c.needed_bytes, c.margin_bytes),
            (109, 100, 10)
        );
    }

    #[test]
    fn swap_the_group_already_uses_counts_against_its_allowance() {
        let cg = cgroup_with_swap(500, Some(300));
        let capped = SwapAllowance {
            left_bytes: 200,
            limit_bytes: 500,
        };
        assert_eq!(
            usable_swap(&sys(1000, 1000), Some(&cg)),
            (200, Some(capped))
        );
        // 190 + 10 fits in the 200 B left, 191 + 10 does not, whatever the limit.
        let v = evaluate(&sys(1000, 1000), Some(&cg), 190, 10, false);
        assert_eq!(judged(&v), (true, false, &SwapFinding::Covered));
        assert_eq!((v.swap_free_bytes, v.allowance), (200, Some(capped)));
        let v = evaluate(&sys(1000, 1000), Some(&cg), 191, 10, false);
        assert_eq!(judged(&v), (false, false, &SwapFinding::Short));
        assert_eq!(v.allowance, Some(capped));
        let c = cold_verdict(&sys(1000, 1000), Some(&cg), 191, 10);
        assert_eq!((c.swap_free_bytes, c.allowance), (200, Some(capped)));
        // A group over its allowance (the limit was lowered under it) has none left.
        let over = cgroup_with_swap(500, Some(700));
        assert_eq!(usable_swap(&sys(1000, 1000), Some(&over)).0, 0);
        let v = evaluate(&sys(1000, 1000), Some(&over), 1, 0, false);
        assert_eq!(judged(&v), (false, false, &SwapFinding::NoAllowance));
        let v = evaluate(
            &sys(1000, 1000),
            Some(&cgroup_with_swap(0, Some(0))),
            1,
            0,
            true,
        );
        assert_eq!(judged(&v), (true, true, &SwapFinding::NoAllowance));
        // Usage not accounted: the whole limit is left.
        let unknown = cgroup_with_swap(500, None);
        assert_eq!(usable_swap(&sys(1000, 1000), Some(&unknown)).0, 500);
    }

    #[test]
    fn the_allowance_caps_only_when_it_is_below_the_free_swap() {
        // What is left equals the free swap: the free swap is the figure, no cap.
        let cg = cgroup_with_swap(1300, Some(300));
        assert_eq!(usable_swap(&sys(2000, 1000), Some(&cg)), (1000, None));
        // One byte less left: the allowance caps.
        let cg = cgroup_with_swap(1299, Some(300));
        let (free, cap) = usable_swap(&sys(2000, 1000), Some(&cg));
        assert_eq!(free, 999);
        assert!(cap.is_some());
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
        // Free swap used up with no cap is short, not "no allowance".
        let v = evaluate(&sys(2000, 0), Some(&unlimited), 1, 0, false);
        assert_eq!(judged(&v), (false, false, &SwapFinding::Short));
    }

    #[test]
    fn page_file_drives_need_the_growth_plus_the_margin() {
        // 3 GiB of room takes 2 GiB: no growth, the drive keeps its 1 GiB margin.
        let s = page_file_system(3 * GIB, &[(r"C:\", Some(GIB))]);
        let v = evaluate(&s, None, 2 * GIB, GIB, false);
        let cover = SwapFinding::DrivesCover {
            drives: vec![DriveFree {
                drive: r"C:\".into(),
                free_bytes: GIB,
            }],
            growth_bytes: 0,
        };
        assert_eq!(judged(&v), (true, false, &cover));
        let commit = CommitCharge {
            committed_bytes: 20 * GIB,
            limit_bytes: 24 * GIB,
        };
        assert_eq!((v.commit, v.allowance), (Some(commit), None));
        // 1 GiB of room for 3 GiB: 2 GiB of growth plus the margin is 3 GiB.
        let s = page_file_system(GIB, &[(r"C:\", Some(3 * GIB))]);
        assert!(evaluate(&s, None, 3 * GIB, GIB, false).allowed);
        let s = page_file_system(GIB, &[(r"C:\", Some(3 * GIB - 1))]);
        let v = evaluate(&s, None, 3 * GIB, GIB, false);
        let short = SwapFinding::DriveShort {
            drive: r"C:\".into(),
            page_file: r"C:\pagefile.sys".into(),
            drive_free_bytes: 3 * GIB - 1,
            growth_bytes: 2 * GIB,
        };
        assert_eq!(judged(&v), (false, false, &short));
        assert_eq!(v.swap_free_bytes, GIB);
        let v = evaluate(&s, None, 3 * GIB, GIB, true);
        assert_eq!(judged(&v), (true, true, &short));
    }

    #[test]
    fn every_page_file_drive_is_judged_once() {
        let s = page_file_system(
            0,
            &[
                (r"C:\", Some(10 * GIB)),
                (r"c:\", None),
                (r"D:\", Some(GIB)),
            ],
        );
        let v = evaluate(&s, None, GIB, GIB, false);
        assert!(
            matches!(&v.finding, SwapFinding::DriveShort { drive, .. } if drive == r"D:\"),
            "{v:?}"
        );
        // A drive whose free space is unknown is refused, by name.
        let s = page_file_system(0, &[(r"E:\", None)]);
        let v = evaluate(&s, None, GIB, GIB, false);
        let unreadable = SwapFinding::DriveUnreadable {
            drive: r"E:\".into(),
            page_file: r"E:\pagefile.sys".into(),
        };
        assert_eq!(judged(&v), (false, false, &unreadable));
        // Both drives listed once each when they cover it.
        let s = page_file_system(
            0,
            &[
                (r"C:\", Some(10 * GIB)),
                (r"c:\", None),
                (r"D:\", Some(3 * GIB)),
            ],
        );
        let v = evaluate(&s, None, GIB, GIB, false);
        let SwapFinding::DrivesCover {
            drives,
            growth_bytes,
        } = &v.finding
        else {
            panic!("{v:?}")
        };
        assert_eq!(*growth_bytes, GIB);
        let names: Vec<&str> = drives.iter().map(|d| d.drive.as_str()).collect();
        assert_eq!(names, [r"C:\", r"D:\"]);
    }
}
