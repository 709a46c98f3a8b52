//! Raw OS calls only: advise a process's memory out, drop the file cache, reclaim
//! from a cgroup, trim the heap. Each OS has a folder (`linux/`, `windows/`); an OS without one
//! answers from `unsupported.rs`, the one place that says "not available on this
//! platform". The orchestration around these calls (refusals, guard, measurements,
//! reports) is the OS-neutral [`crate::act`]; the probes that read are
//! [`crate::probe`].
//!
//! What each OS provides (same names, same signatures):
//! - `advise::Target`: `open(&Identity)`, `describe()`, `check_privileges()`,
//!   `page_out(advice, progress) -> Advised`
//! - `cache::Purger`: `open(slab, compact)`, `run() -> Vec<Step>`
//! - `cgroup::Reclaimer`: `open(&CgroupLocation)`, `reclaim(bytes) -> fully`
//! - `heap::trim() -> released`; `heap::CALL`, `heap::RESIDENT`: the call's name
//!   and the resident memory's, as the OS names them
//! - `clock::monotonic_ns()` (Linux and Windows): the clock of Python's
//!   `time.monotonic_ns()`, which headroom readings are stamped with

#[cfg(target_os = "linux")]
pub(crate) mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::{advise, cache, cgroup, clock, events, heap, psi};

#[cfg(windows)]
pub(crate) mod windows;
#[cfg(windows)]
pub(crate) use unsupported::cgroup;
#[cfg(windows)]
pub(crate) use windows::{advise, cache, clock, heap};

#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(any(target_os = "linux", windows)))]
pub(crate) use unsupported::{advise, cache, cgroup, heap};

/// What a pageout advised: ranges and bytes, and those the kernel refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advised {
    pub ranges: u32,
    pub bytes: u64,
    pub skipped: u32,
    pub skipped_bytes: u64,
    /// What was called and how each call went, when the OS's calls are not the
    /// madvise advice the report names otherwise (Windows: the working-set trim).
    pub detail: Option<String>,
}
