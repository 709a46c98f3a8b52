//! Windows: process identity, memory counters and the top-N scan.
//!
//! How GetProcessMemoryInfo's counters map onto a [`ProcessMemory`] (the top-N
//! scan takes the same counters of every process from one
//! NtQuerySystemInformation(SystemProcessInformation) call):
//! - `rss_bytes`: the working set (WorkingSetSize), as psutil's `rss`.
//! - `rss_anon_bytes`: min(working set, PrivateUsage), an upper bound of the
//!   private pages in the working set, the ones a trim may send to the page file
//!   (PrivateUsage counts private commit whether resident or not);
//!   `rss_file_bytes` is the rest of the working set (images, mapped files, shared).
//! - `vms_bytes`: PagefileUsage, the private commit charge, as psutil's `vms` on
//!   Windows (Windows has no VmSize counterpart in these counters).
//! - `swap_bytes`: 0. Windows does not report how much of one process sits in
//!   the page file.
//! - `cmdline`: the command line it was started with (NtQueryInformationProcess),
//!   for [`read_process`] and [`find_processes`]; empty in the top-N scan and
//!   where it cannot be read.
//!
//! PIDs 0 (System Idle Process) and 4 (System) are the kernel's own: they are
//! identified without being opened, as kernel threads, so that
//! [`crate::policy::protect`] refuses them, and are never listed.

use std::collections::HashSet;

use windows_sys::Win32::System::ProcessStatus::PROCESS_MEMORY_COUNTERS_EX;

use crate::error::{Error, Result};
use crate::model::{Identity, Launch, ProcessMemory, ProcessScope, Resident, TopProcesses};
use crate::sys::windows::cmdline::{command_line, current_dir, split as split_args};
use crate::sys::windows::process::{
    has_exited, image_name, list, list_with_memory, memory_counters, open_query, start_time,
};

/// The kernel's own processes: (PID, name).
const SYSTEM_PROCESSES: [(u32, &str); 2] = [(0, "System Idle Process"), (4, "System")];

fn system_process(pid: u32) -> Option<&'static str> {
    SYSTEM_PROCESSES
        .iter()
        .find(|(p, _)| *p == pid)
        .map(|(_, n)| *n)
}

pub fn identity(pid: u32) -> Result<Identity> {
    if let Some(name) = system_process(pid) {
        return Ok(Identity {
            pid,
            name: name.into(),
            start_time: 0,
            kernel_thread: true,
            zombie: false,
        });
    }
    let h = open_query(pid, "identifying a process")?;
    Ok(Identity {
        pid,
        name: image_name(&h).unwrap_or_default(),
        start_time: start_time(&h).map_err(|e| Error::io(format!("GetProcessTimes({pid})"), e))?,
        kernel_thread: false,
        zombie: has_exited(&h),
    })
}

/// The working set split into private (upper bound) and the rest.
fn split(c: &PROCESS_MEMORY_COUNTERS_EX) -> (u64, u64) {
    let ws = c.WorkingSetSize as u64;
    let private = ws.min(c.PrivateUsage as u64);
    (private, ws - private)
}

fn counters(pid: u32, what: &str) -> Result<PROCESS_MEMORY_COUNTERS_EX> {
    if system_process(pid).is_some() {
        return Err(Error::PermissionDenied {
            what: format!("{what} (PID {pid}, the kernel's own process)"),
            needs: "nothing memwarden can obtain: Windows does not report it".into(),
        });
    }
    let h = open_query(pid, what)?;
    memory_counters(Some(&h)).map_err(|e| Error::io(format!("GetProcessMemoryInfo({pid})"), e))
}

fn process_memory(pid: u32, name: String, c: &PROCESS_MEMORY_COUNTERS_EX) -> ProcessMemory {
    let (anon, file) = split(c);
    ProcessMemory {
        pid,
        name,
        cmdline: String::new(),
        rss_bytes: c.WorkingSetSize as u64,
        rss_anon_bytes: anon,
        rss_file_bytes: file,
        rss_shmem_bytes: 0,
        vms_bytes: c.PagefileUsage as u64,
        swap_bytes: 0,
        uss_bytes: None,
        pss_bytes: None,
        swap_pss_bytes: None,
    }
}

pub fn read_process(pid: u32) -> Result<ProcessMemory> {
    let c = counters(pid, "reading process memory")?;
    let name = identity(pid).map(|i| i.name).unwrap_or_default();
    let mut p = process_memory(pid, name, &c);
    if let Ok(h) = open_query(pid, "reading a command line") {
        p.cmdline = command_line(pid, &h).unwrap_or_default();
    }
    Ok(p)
}

pub fn add_uss_pss(_p: &mut ProcessMemory) -> Result<()> {
    Err(Error::unsupported_platform("USS/PSS"))
}

pub fn resident(pid: u32) -> Result<Resident> {
    let c = counters(pid, "reading process memory")?;
    let (anon, _) = split(&c);
    Ok(Resident {
        rss_bytes: c.WorkingSetSize as u64,
        rss_anon_bytes: anon,
        swap_bytes: 0,
    })
}

pub fn self_rss_bytes() -> Result<u64> {
    memory_counters(None)
        .map(|c| c.WorkingSetSize as u64)
        .map_err(|e| Error::io("GetProcessMemoryInfo(own process)", e))
}

/// Every process's memory counters in one SystemProcessInformation call (no
/// process is opened, so other users' processes count too); where that call
/// fails, one Toolhelp pass and the counters of each process that can be opened
/// (others are skipped and not counted as scanned).
pub fn top_processes(
    n: usize,
    scope: ProcessScope,
    only: Option<&HashSet<u32>>,
) -> Result<TopProcesses> {
    let wanted = |pid: u32| system_process(pid).is_none() && only.is_none_or(|s| s.contains(&pid));
    let mut all: Vec<ProcessMemory> = match list_with_memory() {
        Ok(listed) => listed
            .into_iter()
            .filter(|l| wanted(l.pid))
            .map(|l| process_memory(l.pid, l.name, &l.counters))
            .collect(),
        Err(_) => list()
            .map_err(|e| Error::io("CreateToolhelp32Snapshot", e))?
            .into_iter()
            .filter(|(pid, _)| wanted(*pid))
            .filter_map(|(pid, name)| {
                let h = open_query(pid, "listing processes").ok()?;
                let c = memory_counters(Some(&h)).ok()?;
                (!has_exited(&h)).then(|| process_memory(pid, name, &c))
            })
            .collect(),
    };
    let scanned = all.len() as u32;
    all.sort_unstable_by_key(|p| std::cmp::Reverse(p.rss_bytes));
    all.truncate(n);
    Ok(TopProcesses {
        scope,
        scanned,
        processes: all,
    })
}

/// Processes whose launch satisfies `pred`, the kernel's own, exited ones and
/// the caller excluded, each with what `pred` said of it. `prefilter` sees the
/// argument vector first. A relative script is resolved against the process's
/// working directory (read from its PEB, see [`crate::sys::windows::cmdline`]);
/// where that cannot be read, it is matched by its path alone (`ComfyUI\main.py`
/// of the portable build).
pub fn find_processes<T>(
    prefilter: &dyn Fn(&[String]) -> bool,
    pred: &dyn Fn(&Launch) -> Option<T>,
) -> Result<Vec<(ProcessMemory, T)>> {
    let me = std::process::id();
    let procs = list().map_err(|e| Error::io("CreateToolhelp32Snapshot", e))?;
    let mut out = Vec::new();
    for (pid, name) in procs {
        if pid == me || system_process(pid).is_some() {
            continue;
        }
        let Ok(h) = open_query(pid, "reading a command line") else {
            continue;
        };
        let Ok(line) = command_line(pid, &h) else {
            continue;
        };
        let argv = split_args(&line);
        if argv.is_empty() || has_exited(&h) || !prefilter(&argv) {
            continue;
        }
        let launch = Launch {
            argv,
            cwd: current_dir(pid).ok(),
            root: None,
        };
        if let (Some(found), Ok(c)) = (pred(&launch), memory_counters(Some(&h))) {
            let mut p = process_memory(pid, name, &c);
            p.cmdline = line;
            out.push((p, found));
        }
    }
    out.sort_by_key(|(p, _)| p.pid);
    Ok(out)
}

/// Windows has no PID namespaces: the PIDs drivers report are ours.
pub fn own_pid_namespace_is_nested() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_processes_are_kernel_threads() {
        for pid in [0, 4] {
            let id = identity(pid).unwrap();
            assert!(id.kernel_thread && !id.zombie, "{id:?}");
        }
        assert!(identity(std::process::id()).is_ok_and(|i| !i.kernel_thread));
    }

    #[test]
    fn working_set_split() {
        // SAFETY: plain data.
        let mut c: PROCESS_MEMORY_COUNTERS_EX = unsafe { std::mem::zeroed() };
        c.WorkingSetSize = 100;
        c.PrivateUsage = 60;
        assert_eq!(split(&c), (60, 40));
        c.PrivateUsage = 500; // committed, mostly not resident
        assert_eq!(split(&c), (100, 0));
    }

    #[test]
    fn own_process_is_measured_and_listed() {
        let me = std::process::id();
        let p = read_process(me).unwrap();
        assert!(p.rss_bytes > 0 && p.name.ends_with(".exe"), "{p:?}");
        assert!(self_rss_bytes().unwrap() > 0);
        let top = top_processes(100_000, ProcessScope::Visible, None).unwrap();
        assert!(top.processes.iter().any(|q| q.pid == me));
        assert!(top.processes.iter().all(|q| q.pid != 0 && q.pid != 4));
    }
}
