//! Windows: the job object a process runs in, its counterpart of a memory
//! cgroup, reported through the same model (`CgroupMemory` with version 0, path
//! `job object`). A job may cap the commit charge of all its processes together
//! (JOB_OBJECT_LIMIT_JOB_MEMORY, JobMemoryLimit) and of each one
//! (JOB_OBJECT_LIMIT_PROCESS_MEMORY, ProcessMemoryLimit); of those set, the one
//! with the least headroom binds, as the tightest cgroup on the path does.
//! Usage and working set are the commit charge the limit counts.
//! Windows opens no other process's job, so only the job memwarden itself runs
//! in can be read: a process asked about in another job gives an error that
//! says so (the snapshot turns it into a warning). A process in a job nested
//! inside memwarden's is in memwarden's job's process list too: it is reported
//! with memwarden's job, the outer one.

use std::collections::HashSet;
use std::path::PathBuf;

use windows_sys::Win32::System::JobObjects::{
    JOB_OBJECT_LIMIT, JOB_OBJECT_LIMIT_JOB_MEMORY, JOB_OBJECT_LIMIT_PROCESS_MEMORY,
};

use crate::error::{Error, Result};
use crate::model::{CgroupLocation, CgroupMemory, ContainerRuntime};
use crate::sys::windows::job;
use windows_sys::Win32::System::Threading::PROCESS_QUERY_INFORMATION;

use crate::sys::windows::process::{memory_counters, open, open_query};

/// The `path` of a job object in the model.
pub const JOB_PATH: &str = "job object";

/// Windows has no container markers memwarden reads.
pub fn detect_container() -> (Option<ContainerRuntime>, Vec<String>) {
    (None, Vec::new())
}

fn job_error(what: &str, e: std::io::Error) -> Error {
    Error::io(format!("{what} of the job object"), e)
}

/// True when `pid` runs in the job the caller runs in; None when it runs in no
/// job; an error when it runs in a job memwarden cannot read.
fn in_own_job(pid: u32) -> Result<Option<()>> {
    let own = job::in_job(None).map_err(|e| job_error("IsProcessInJob", e))?;
    if pid == std::process::id() {
        return Ok(own.then_some(()));
    }
    // Windows asks for the limited query right, Wine for the full one.
    let h = open(pid, PROCESS_QUERY_INFORMATION)
        .or_else(|_| open_query(pid, "finding a process's job object"))?;
    if !job::in_job(Some(&h)).map_err(|e| job_error("IsProcessInJob", e))? {
        return Ok(None);
    }
    if own && job::own_pids().is_ok_and(|p| p.contains(&pid)) {
        return Ok(Some(()));
    }
    Err(Error::Unsupported(format!(
        "PID {pid} runs in a job object other than memwarden's; Windows lets only \
         the processes inside a job read its memory limits"
    )))
}

fn location() -> CgroupLocation {
    CgroupLocation {
        version: 0,
        path: JOB_PATH.into(),
        dir: PathBuf::new(),
        mount_point: PathBuf::new(),
        pressure_file: None,
    }
}

pub fn locate_cgroup(pid: u32) -> Result<Option<CgroupLocation>> {
    Ok(in_own_job(pid)?.map(|()| location()))
}

/// The commit charge of `pid` (PagefileUsage, which Wine fills and PrivateUsage
/// equals on Windows); 0 when it cannot be read.
fn commit_of(pid: u32) -> u64 {
    let c = if pid == std::process::id() {
        memory_counters(None).ok()
    } else {
        open_query(pid, "reading a job's usage")
            .ok()
            .and_then(|h| memory_counters(Some(&h)).ok())
    };
    c.map(|c| c.PagefileUsage as u64).unwrap_or(0)
}

/// What a job's limits mean for one of its processes: the limit that binds (the
/// least headroom of those set), where it is set, and the commit it counts.
pub fn job_memory(
    flags: JOB_OBJECT_LIMIT,
    job_limit: u64,
    process_limit: u64,
    job_commit: u64,
    process_commit: u64,
) -> CgroupMemory {
    let mut set = Vec::new();
    if flags & JOB_OBJECT_LIMIT_JOB_MEMORY != 0 {
        set.push((
            job_limit,
            job_commit,
            "JobMemoryLimit (all its processes together)",
        ));
    }
    if flags & JOB_OBJECT_LIMIT_PROCESS_MEMORY != 0 {
        set.push((
            process_limit,
            process_commit,
            "ProcessMemoryLimit (each process)",
        ));
    }
    let binding = set
        .into_iter()
        .min_by_key(|(limit, used, _)| limit.saturating_sub(*used));
    let (limit, used, at) = match binding {
        Some((l, u, at)) => (Some(l), u, Some(at.to_string())),
        None => (None, job_commit, None),
    };
    CgroupMemory {
        version: 0,
        path: JOB_PATH.into(),
        dir: String::new(),
        limit_bytes: limit,
        limit_set_at: at,
        usage_bytes: used,
        working_set_bytes: used,
        ..Default::default()
    }
}

pub fn read_cgroup(pid: u32) -> Result<Option<(CgroupMemory, CgroupLocation)>> {
    let Some(loc) = locate_cgroup(pid)? else {
        return Ok(None);
    };
    let info = job::own_limits().map_err(|e| job_error("QueryInformationJobObject(limits)", e))?;
    let own = commit_of(pid);
    // The job holds at least this process, also where its list comes back empty
    // (Wine's).
    let m = job_memory(
        info.BasicLimitInformation.LimitFlags,
        info.JobMemoryLimit as u64,
        info.ProcessMemoryLimit as u64,
        usage(&loc)?.max(own),
        own,
    );
    Ok(Some((m, loc)))
}

/// The commit charge of every process in the job.
pub fn usage(loc: &CgroupLocation) -> Result<u64> {
    Ok(cgroup_pids(loc).into_iter().map(commit_of).sum())
}

pub fn cgroup_pids(_loc: &CgroupLocation) -> HashSet<u32> {
    job::own_pids().unwrap_or_default().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn no_memory_flag_means_no_limit() {
        let m = job_memory(0, 512 * MIB, 256 * MIB, 100 * MIB, 40 * MIB);
        assert_eq!(
            (m.version, m.limit_bytes, m.usage_bytes),
            (0, None, 100 * MIB)
        );
        assert_eq!(m.path, JOB_PATH);
    }

    #[test]
    fn the_limit_with_least_headroom_binds() {
        let both = JOB_OBJECT_LIMIT_JOB_MEMORY | JOB_OBJECT_LIMIT_PROCESS_MEMORY;
        // Job: 512 - 450 = 62 MiB left; process: 256 - 40 = 216 MiB left.
        let m = job_memory(both, 512 * MIB, 256 * MIB, 450 * MIB, 40 * MIB);
        assert_eq!(m.limit_bytes, Some(512 * MIB));
        assert_eq!(m.working_set_bytes, 450 * MIB);
        assert!(m.limit_set_at.unwrap().starts_with("JobMemoryLimit"));
        // Job: 512 - 100 left; process: 256 - 240 = 16 MiB left.
        let m = job_memory(both, 512 * MIB, 256 * MIB, 100 * MIB, 240 * MIB);
        assert_eq!((m.limit_bytes, m.usage_bytes), (Some(256 * MIB), 240 * MIB));
        assert!(m.limit_set_at.unwrap().starts_with("ProcessMemoryLimit"));
    }
}
