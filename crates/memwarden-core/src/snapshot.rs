//! Assembling a [`Snapshot`]: every probe, with partial failures kept as warnings.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::model::{
    CgroupMemory, ContainerInfo, GpuInfo, ProcessMemory, ProcessScope, Snapshot, TopProcesses,
    SCHEMA_VERSION,
};
use crate::policy::{figures, pressure, protect};
use crate::probe::cgroup::{self, CgroupLocation};
use crate::probe::{gpu, memory, process};

/// What to collect. The defaults are what `memwarden check` shows.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// Process to report on; None = the caller itself.
    pub pid: Option<u32>,
    /// Also read USS/PSS (smaps_rollup) for the process and the top list.
    pub detailed: bool,
    /// How many processes to list by RSS; 0 skips the scan.
    pub top: usize,
    pub scope: ProcessScope,
    /// Query NVIDIA GPUs.
    pub gpu: bool,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        Self {
            pid: None,
            detailed: false,
            top: 10,
            scope: ProcessScope::Visible,
            gpu: true,
        }
    }
}

fn lookup(pid: u32) -> Option<(String, String)> {
    process::read_process(pid).ok().map(|p| (p.name, p.cmdline))
}

/// The cgroup of `pid`; an unreadable one becomes a warning.
fn read_cgroup(
    pid: u32,
    warnings: &mut Vec<String>,
) -> (Option<CgroupMemory>, Option<CgroupLocation>) {
    match cgroup::read_cgroup(pid) {
        Ok(Some((m, loc))) => (Some(m), Some(loc)),
        Ok(None) => (None, None),
        Err(e) => {
            warnings.push(format!("memory cgroup unreadable: {e}"));
            (None, None)
        }
    }
}

/// The top processes by RSS, in the scope asked for.
fn read_top(
    opts: &SnapshotOptions,
    location: Option<&CgroupLocation>,
    warnings: &mut Vec<String>,
) -> Result<TopProcesses> {
    if opts.top == 0 {
        return Ok(TopProcesses {
            scope: opts.scope,
            scanned: 0,
            processes: Vec::new(),
        });
    }
    let only = match (opts.scope, location) {
        (ProcessScope::Cgroup, Some(loc)) => Some(cgroup::cgroup_pids(loc)),
        (ProcessScope::Cgroup, None) => {
            warnings.push("no memory cgroup: top processes cover every visible process".into());
            None
        }
        _ => None,
    };
    process::top_processes(opts.top, opts.scope, only.as_ref())
}

/// USS/PSS of each process; a process that refuses becomes a warning.
fn add_uss_pss<'a>(procs: impl Iterator<Item = &'a mut ProcessMemory>, warnings: &mut Vec<String>) {
    for p in procs {
        if let Err(e) = process::add_uss_pss(p) {
            warnings.push(format!("USS/PSS of PID {} ({}): {e}", p.pid, p.name));
        }
    }
}

fn read_gpus(opts: &SnapshotOptions, warnings: &mut Vec<String>) -> GpuInfo {
    if !opts.gpu {
        return GpuInfo {
            unavailable_reason: Some("GPU query disabled".into()),
            ..Default::default()
        };
    }
    let (info, gpu_warnings) = gpu::read_gpus(&lookup, process::own_pid_namespace_is_nested());
    warnings.extend(gpu_warnings);
    info
}

/// Take a snapshot. Fails only when the process asked about does not exist or
/// system memory cannot be read at all; anything else missing becomes a warning.
pub fn collect(opts: &SnapshotOptions) -> Result<Snapshot> {
    let t0 = Instant::now();
    let mut warnings = Vec::new();
    let target = match opts.pid {
        Some(p) => protect::parse_pid(p as i64)?,
        None => std::process::id(),
    };
    let mut process = process::read_process(target)?;
    let system = memory::read_system_memory()?;
    let (runtime, evidence) = cgroup::detect_container();
    let (cgroup, location) = read_cgroup(target, &mut warnings);
    let effective = figures::effective_memory(&system, cgroup.as_ref());
    let (psi_sys, psi_cg) = crate::probe::pressure::read_pressure(
        location.as_ref().and_then(|l| l.pressure_file.as_deref()),
        &mut warnings,
    );
    let pressure = pressure::assess(psi_sys, psi_cg, effective.percent_used);
    let mut top = read_top(opts, location.as_ref(), &mut warnings)?;
    if opts.detailed {
        let procs = std::iter::once(&mut process).chain(top.processes.iter_mut());
        add_uss_pss(procs, &mut warnings);
    }
    let gpu = read_gpus(opts, &mut warnings);
    Ok(Snapshot {
        schema_version: SCHEMA_VERSION,
        taken_at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        collect_duration_us: t0.elapsed().as_micros() as u64,
        kernel: memory::kernel_release(),
        process: Some(process),
        system,
        container: ContainerInfo {
            detected: runtime.is_some(),
            runtime,
            evidence,
            cgroup,
        },
        effective,
        pressure,
        top_processes: top,
        gpu,
        warnings,
    })
}
