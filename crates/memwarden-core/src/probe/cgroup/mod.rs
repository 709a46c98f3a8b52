//! The container a process runs in: its runtime (Docker, Kubernetes, Runpod...)
//! and its memory cgroup (v1 or v2): limit, usage, swap allowance. On Windows the
//! job object the process runs in, through the same model (version 0).

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::error::Result;
pub use crate::model::CgroupLocation;
use crate::model::{CgroupMemory, ContainerRuntime};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(windows)]
mod windows;
#[cfg(not(any(target_os = "linux", windows)))]
use super::unsupported::cgroup as os;
#[cfg(target_os = "linux")]
use linux as os;
#[cfg(windows)]
use windows as os;

/// Best guess of the container runtime, with the evidence for it. Read once per
/// process: the container a process runs in does not change while it runs, and the
/// markers (environment, three paths, /proc/self/cgroup, the kernel release) would
/// otherwise cost every snapshot five reads.
pub fn detect_container() -> (Option<ContainerRuntime>, Vec<String>) {
    static DETECTED: OnceLock<(Option<ContainerRuntime>, Vec<String>)> = OnceLock::new();
    DETECTED.get_or_init(os::detect_container).clone()
}

/// The memory cgroup of `pid`: None when no memory cgroup is mounted.
pub fn locate_cgroup(pid: u32) -> Result<Option<CgroupLocation>> {
    os::locate_cgroup(pid)
}

/// The memory figures of `pid`'s cgroup, each read from the group whose limit
/// binds (the one with the least headroom on the way to the root).
pub fn read_cgroup(pid: u32) -> Result<Option<(CgroupMemory, CgroupLocation)>> {
    os::read_cgroup(pid)
}

/// Memory charged to the group at `loc` now (v2 memory.current, v1 usage_in_bytes).
pub fn usage(loc: &CgroupLocation) -> Result<u64> {
    os::usage(loc)
}

/// Every PID in the group at `loc` and below it.
pub fn cgroup_pids(loc: &CgroupLocation) -> HashSet<u32> {
    os::cgroup_pids(loc)
}
