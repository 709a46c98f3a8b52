//! Memory pressure: how long tasks stalled waiting for memory (Linux PSI), for the
//! whole system and for the process's cgroup.

use std::path::Path;

use crate::model::Psi;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
use super::unsupported::pressure as os;
#[cfg(target_os = "linux")]
use linux as os;

/// System pressure and, when `cgroup_pressure` names one, the cgroup's. Each side
/// that cannot be read comes back as None with the reason pushed to `warnings`.
pub fn read_pressure(
    cgroup_pressure: Option<&Path>,
    warnings: &mut Vec<String>,
) -> (Option<Psi>, Option<Psi>) {
    os::read_pressure(cgroup_pressure, warnings)
}
