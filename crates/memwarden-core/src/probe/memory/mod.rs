//! Host-wide memory (RAM, swap, commit charge) and the OS release.

use crate::error::Result;
use crate::model::SystemMemory;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(any(target_os = "linux", windows)))]
use super::unsupported::memory as os;
#[cfg(windows)]
mod windows;
#[cfg(target_os = "linux")]
use linux as os;
#[cfg(windows)]
use windows as os;

/// Host-wide memory: Linux /proc/meminfo; Windows GlobalMemoryStatusEx,
/// GetPerformanceInfo and the page files.
pub fn read_system_memory() -> Result<SystemMemory> {
    os::read_system_memory()
}

/// The kernel (OS) release, e.g. `6.1.0-18-amd64`; "unknown" when unreadable. Read
/// once per process: it cannot change while the process runs.
pub fn kernel_release() -> String {
    static RELEASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RELEASE.get_or_init(os::kernel_release).clone()
}
