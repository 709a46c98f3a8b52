//! Processes: who a PID is, its memory, the largest processes, and a search by
//! launch (command line and working directory).

use std::collections::HashSet;

use crate::error::Result;
pub use crate::model::{Identity, Resident};
use crate::model::{Launch, ProcessMemory, ProcessScope, TopProcesses};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(any(target_os = "linux", windows)))]
use super::unsupported::process as os;
#[cfg(windows)]
mod windows;
#[cfg(target_os = "linux")]
use linux as os;
#[cfg(windows)]
use windows as os;

pub fn identity(pid: u32) -> Result<Identity> {
    os::identity(pid)
}

/// RSS split, VMS and swap of `pid` (USS/PSS left None: see [`add_uss_pss`]).
pub fn read_process(pid: u32) -> Result<ProcessMemory> {
    os::read_process(pid)
}

/// Fill in USS, PSS and swap PSS of `p` (slower: walks the page tables).
pub fn add_uss_pss(p: &mut ProcessMemory) -> Result<()> {
    os::add_uss_pss(p)
}

pub fn resident(pid: u32) -> Result<Resident> {
    os::resident(pid)
}

/// RSS of the calling process, in one small read.
pub fn self_rss_bytes() -> Result<u64> {
    os::self_rss_bytes()
}

/// The `n` user processes with the largest RSS (only those in `only` when given);
/// kernel threads and zombies are never listed.
pub fn top_processes(
    n: usize,
    scope: ProcessScope,
    only: Option<&HashSet<u32>>,
) -> Result<TopProcesses> {
    os::top_processes(n, scope, only)
}

/// Processes whose launch satisfies `pred`, kernel threads, zombies and the caller
/// excluded, each with what `pred` said of it. `prefilter` sees the argument
/// vector first so that the working directory is read only for likely matches.
pub fn find_processes<T>(
    prefilter: &dyn Fn(&[String]) -> bool,
    pred: &dyn Fn(&Launch) -> Option<T>,
) -> Result<Vec<(ProcessMemory, T)>> {
    os::find_processes(prefilter, pred)
}

/// True when this process lives in a nested PID namespace (a container): PIDs that
/// drivers report are then not PIDs it can see.
pub fn own_pid_namespace_is_nested() -> bool {
    os::own_pid_namespace_is_nested()
}
