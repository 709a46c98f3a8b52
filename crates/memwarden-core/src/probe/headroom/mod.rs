//! How far a process is from the memory limit that binds it, read fast enough to
//! be read every few milliseconds near the limit: the limits on its group's way to
//! the root (cgroup v1 memory and memsw limits, v2 memory.max and memory.high; on
//! Windows its job object's limit and the system commit limit) and the host's RAM,
//! each with its own usage, the tightest one winning. Each OS file provides the
//! same `Gauge`:
//!
//! - `Gauge::open(pid)`: finds the limits and opens their usage files once;
//! - `read(near)`: a reading of every limit now, the host's last (`near`: below
//!   this much headroom, a group's file cache is read too so only what the kernel
//!   cannot drop counts); which one binds is the policy's call;
//! - `refresh()`: reads the limits again (a limit changed at run time), true when
//!   one changed;
//! - `arm(reserve)`: registers the kernel events that can wake a waiter when
//!   headroom falls through `reserve`, where this process may (see `describe`);
//! - `wait_event(timeout)`: waits for one of them (None at the timeout);
//! - `describe()`: the limits watched and the kernel events, or why there are none.
//!
//! Reading never writes anything; arming registers listeners only (a v1
//! `cgroup.event_control` line), never a limit.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(any(target_os = "linux", windows)))]
mod unsupported;
#[cfg(windows)]
mod windows;

#[cfg(target_os = "linux")]
pub use linux::Gauge;
#[cfg(not(any(target_os = "linux", windows)))]
pub use unsupported::Gauge;
#[cfg(windows)]
pub use windows::Gauge;

use crate::model::{Headroom, LimitKind};

/// Windows' figures of one moment: the job object's limit and commit (when the
/// process runs in a job with a memory limit), the system commit charge and limit,
/// and physical memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitFigures {
    pub job: Option<(u64, u64)>,
    pub commit_total: u64,
    pub commit_limit: u64,
    pub avail_phys: u64,
    pub total_phys: u64,
}

/// Every limit of `f` as a reading: what an allocation is refused by on Windows
/// is commit (the job's, then the system's: "the paging file is too small",
/// error 1455), and physical memory is what makes it page.
pub fn commit_readings(f: &CommitFigures, at_ns: u64) -> Vec<Headroom> {
    let reading = |kind, set_at: &str, limit: u64, used: u64| Headroom {
        kind,
        set_at: set_at.to_string(),
        limit_bytes: limit,
        used_bytes: used,
        headroom_bytes: limit.saturating_sub(used),
        at_ns,
    };
    let mut out = Vec::new();
    if let Some((limit, commit)) = f.job {
        out.push(reading(
            LimitKind::Job,
            "job object memory limit (commit)",
            limit,
            commit,
        ));
    }
    out.push(reading(
        LimitKind::Commit,
        "system commit limit (RAM + page files)",
        f.commit_limit,
        f.commit_total,
    ));
    out.push(reading(
        LimitKind::Host,
        "host RAM (available physical memory)",
        f.total_phys,
        f.total_phys.saturating_sub(f.avail_phys),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn tightest(r: Vec<Headroom>) -> Headroom {
        crate::policy::headroom::binding(r).unwrap()
    }

    #[test]
    fn the_tightest_limit_binds_and_on_windows_commit_is_judged_before_ram() {
        let f = CommitFigures {
            job: Some((8 * GIB, 7 * GIB)),
            commit_total: 30 * GIB,
            commit_limit: 40 * GIB,
            avail_phys: 20 * GIB,
            total_phys: 32 * GIB,
        };
        let all = commit_readings(&f, 5);
        assert_eq!(all.len(), 3);
        let b = tightest(all);
        assert_eq!(
            (b.kind, b.headroom_bytes, b.at_ns),
            (LimitKind::Job, GIB, 5)
        );
        // No job: a page file nearly full binds before RAM (error 1455 territory).
        let f = CommitFigures {
            job: None,
            commit_total: 39 * GIB,
            ..f
        };
        let b = tightest(commit_readings(&f, 0));
        assert_eq!((b.kind, b.headroom_bytes), (LimitKind::Commit, GIB));
        assert_eq!(b.set_at, "system commit limit (RAM + page files)");
        // Plenty of commit, little RAM: RAM binds.
        let f = CommitFigures {
            commit_total: 10 * GIB,
            avail_phys: GIB / 2,
            ..f
        };
        assert_eq!(tightest(commit_readings(&f, 0)).kind, LimitKind::Host);
        // A job over its limit (commit above it) has no headroom, not a wrapped one.
        let f = CommitFigures {
            job: Some((GIB, 2 * GIB)),
            ..f
        };
        assert_eq!(tightest(commit_readings(&f, 0)).headroom_bytes, 0);
    }
}
