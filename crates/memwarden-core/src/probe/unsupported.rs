//! The probes of an OS without a memwarden backend: each one says so through
//! [`Error::unsupported_platform`] instead of pretending. Optional figures (the
//! container, pressure) are simply absent, so a snapshot still reports the GPUs
//! (NVML works wherever the driver does). A new OS replaces these, concern by
//! concern, with a file of its own beside each `linux.rs`.

#[allow(unused_imports)] // Windows uses only the modules without errors.
use crate::error::{Error, Result};

#[cfg(not(windows))]
pub mod memory {
    use super::*;
    use crate::model::SystemMemory;

    pub fn read_system_memory() -> Result<SystemMemory> {
        Err(Error::unsupported_platform("reading system memory"))
    }
    pub fn kernel_release() -> String {
        std::env::consts::OS.to_string()
    }
}

#[cfg(not(windows))]
pub mod process {
    use super::*;
    use crate::model::{Identity, Launch, Resident};
    use crate::model::{ProcessMemory, ProcessScope, TopProcesses};
    use std::collections::HashSet;

    pub fn identity(_pid: u32) -> Result<Identity> {
        Err(Error::unsupported_platform("identifying a process"))
    }
    pub fn read_process(_pid: u32) -> Result<ProcessMemory> {
        Err(Error::unsupported_platform("reading process memory"))
    }
    pub fn add_uss_pss(_p: &mut ProcessMemory) -> Result<()> {
        Err(Error::unsupported_platform("USS/PSS"))
    }
    pub fn resident(_pid: u32) -> Result<Resident> {
        Err(Error::unsupported_platform("reading process memory"))
    }
    pub fn self_rss_bytes() -> Result<u64> {
        Err(Error::unsupported_platform("reading process memory"))
    }
    pub fn top_processes(
        _n: usize,
        _s: ProcessScope,
        _o: Option<&HashSet<u32>>,
    ) -> Result<TopProcesses> {
        Err(Error::unsupported_platform("listing processes"))
    }
    pub fn find_processes<T>(
        _prefilter: &dyn Fn(&[String]) -> bool,
        _pred: &dyn Fn(&Launch) -> Option<T>,
    ) -> Result<Vec<(ProcessMemory, T)>> {
        Err(Error::unsupported_platform("finding processes"))
    }
    pub fn own_pid_namespace_is_nested() -> bool {
        false
    }
}

#[cfg(not(windows))]
pub mod cgroup {
    use super::*;
    use crate::model::CgroupLocation;
    use crate::model::{CgroupMemory, ContainerRuntime};
    use std::collections::HashSet;

    pub fn detect_container() -> (Option<ContainerRuntime>, Vec<String>) {
        (None, Vec::new())
    }
    pub fn locate_cgroup(_pid: u32) -> Result<Option<CgroupLocation>> {
        Ok(None)
    }
    pub fn read_cgroup(_pid: u32) -> Result<Option<(CgroupMemory, CgroupLocation)>> {
        Ok(None)
    }
    pub fn usage(_loc: &CgroupLocation) -> Result<u64> {
        Err(Error::unsupported_platform("reading a cgroup"))
    }
    pub fn cgroup_pids(_loc: &CgroupLocation) -> HashSet<u32> {
        HashSet::new()
    }
}

pub mod pressure {
    use crate::model::Psi;
    use std::path::Path;

    pub fn read_pressure(_cg: Option<&Path>, _w: &mut Vec<String>) -> (Option<Psi>, Option<Psi>) {
        (None, None)
    }
}
