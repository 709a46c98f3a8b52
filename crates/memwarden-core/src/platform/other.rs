//! Platforms without a backend yet. Every function says so plainly instead of
//! pretending; GPU queries (NVML) still work where the driver exists.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::actions::{PageoutOptions, Progress, PurgeOptions};
use crate::error::{Error, Result};
use crate::model::*;
use crate::parse::proc_pid::SmapsRollup;

fn unsupported<T>(what: &str) -> Result<T> {
    Err(Error::Unsupported(format!(
        "{what} is not available on this platform yet (Linux only; the Windows backend is planned)"
    )))
}

#[derive(Debug, Clone)]
pub struct CgroupLocation {
    pub pressure_file: Option<PathBuf>,
}

pub fn read_system_memory() -> Result<SystemMemory> {
    unsupported("reading system memory")
}
pub fn kernel_release() -> String {
    std::env::consts::OS.to_string()
}
pub fn detect_container() -> (Option<ContainerRuntime>, Vec<String>) {
    (None, Vec::new())
}
pub fn read_cgroup(_pid: u32) -> Result<Option<(CgroupMemory, CgroupLocation)>> {
    Ok(None)
}
pub fn cgroup_pids(_loc: &CgroupLocation) -> HashSet<u32> {
    HashSet::new()
}
pub fn read_pressure(_cg: Option<&Path>, _w: &mut Vec<String>) -> (Option<Psi>, Option<Psi>) {
    (None, None)
}
pub fn read_process(_pid: u32) -> Result<ProcessMemory> {
    unsupported("reading process memory")
}
pub fn read_smaps(_pid: u32) -> Result<SmapsRollup> {
    unsupported("USS/PSS")
}
pub fn top_processes(
    _n: usize,
    _s: ProcessScope,
    _o: Option<&HashSet<u32>>,
) -> Result<TopProcesses> {
    unsupported("listing processes")
}
pub fn find_processes<T>(
    _prefilter: &dyn Fn(&[String]) -> bool,
    _pred: &dyn Fn(&crate::target::Launch) -> Option<T>,
) -> Result<Vec<(ProcessMemory, T)>> {
    unsupported("finding processes")
}
pub fn own_pid_namespace_is_nested() -> bool {
    false
}
pub fn pageout(_pid: u32, _o: &PageoutOptions, _p: Progress<'_>) -> Result<PageoutReport> {
    unsupported("paging out another process (working-set trim)")
}
pub fn purge_cache(_o: PurgeOptions) -> Result<PurgeReport> {
    unsupported("purging the page cache / standby list")
}
pub fn reclaim(_bytes: u64) -> Result<ReclaimReport> {
    unsupported("cgroup reclaim")
}
pub fn trim_own_heap() -> Result<HeapTrimReport> {
    unsupported("returning the heap to the OS")
}
