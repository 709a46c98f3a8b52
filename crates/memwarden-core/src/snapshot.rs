//! Assembling a [`Snapshot`]: every probe, with partial failures kept as warnings.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::model::{
    CgroupMemory, ContainerInfo, EffectiveMemory, GpuInfo, MemorySource, ProcessScope, Snapshot,
    SystemMemory, SCHEMA_VERSION,
};
use crate::parse::meminfo::percent;
use crate::units::format_bytes;
use crate::{gpu, platform, pressure};

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

/// Choose the figures to judge memory by: the cgroup limit when it is tighter than
/// the host's RAM (a container), the host's otherwise.
pub fn effective_memory(system: &SystemMemory, cgroup: Option<&CgroupMemory>) -> EffectiveMemory {
    let host = |reason: String| EffectiveMemory {
        source: MemorySource::Host,
        reason,
        total_bytes: system.total_bytes,
        used_bytes: system.used_bytes,
        available_bytes: system.available_bytes,
        percent_used: system.percent_used,
    };
    let Some(cg) = cgroup else {
        return host("no memory cgroup found: host figures (/proc/meminfo) used".into());
    };
    match cg.limit_bytes {
        None => host(format!(
            "cgroup v{} {} has no memory limit: host figures (/proc/meminfo) used",
            cg.version, cg.path
        )),
        Some(limit) if limit >= system.total_bytes => host(format!(
            "cgroup v{} limit {} is not below host RAM {}: host figures used",
            cg.version,
            format_bytes(limit),
            format_bytes(system.total_bytes)
        )),
        Some(limit) => {
            let used = cg.working_set_bytes.min(limit);
            // The host may be shorter of memory than the container's headroom.
            let available = (limit - used).min(system.available_bytes);
            EffectiveMemory {
                source: MemorySource::Cgroup,
                reason: format!(
                    "cgroup v{} limit {} (set at {}) is below host RAM {}: container figures used, \
                     used = working set (usage minus inactive file cache)",
                    cg.version,
                    format_bytes(limit),
                    cg.limit_set_at.as_deref().unwrap_or(&cg.dir),
                    format_bytes(system.total_bytes)
                ),
                total_bytes: limit,
                used_bytes: used,
                available_bytes: available,
                percent_used: percent(used, limit),
            }
        }
    }
}

fn lookup(pid: u32) -> Option<(String, String)> {
    platform::read_process(pid)
        .ok()
        .map(|p| (p.name, p.cmdline))
}

/// Take a snapshot. Fails only when the process asked about does not exist or
/// system memory cannot be read at all; anything else missing becomes a warning.
pub fn collect(opts: &SnapshotOptions) -> Result<Snapshot> {
    let t0 = Instant::now();
    let mut warnings = Vec::new();
    let target = match opts.pid {
        Some(p) => crate::parse_pid(p as i64)?,
        None => std::process::id(),
    };
    let mut process = platform::read_process(target)?;
    let system = platform::read_system_memory()?;

    let (runtime, evidence) = platform::detect_container();
    let (cgroup, location) = match platform::read_cgroup(target) {
        Ok(Some((m, loc))) => (Some(m), Some(loc)),
        Ok(None) => (None, None),
        Err(e) => {
            warnings.push(format!("memory cgroup unreadable: {e}"));
            (None, None)
        }
    };
    let effective = effective_memory(&system, cgroup.as_ref());
    let (psi_sys, psi_cg) = platform::read_pressure(
        location.as_ref().and_then(|l| l.pressure_file.as_deref()),
        &mut warnings,
    );
    let pressure = pressure::assess(psi_sys, psi_cg, effective.percent_used);

    let only = match (opts.scope, &location) {
        (ProcessScope::Cgroup, Some(loc)) => Some(platform::cgroup_pids(loc)),
        (ProcessScope::Cgroup, None) => {
            warnings.push("no memory cgroup: top processes cover every visible process".into());
            None
        }
        _ => None,
    };
    let mut top = if opts.top > 0 {
        platform::top_processes(opts.top, opts.scope, only.as_ref())?
    } else {
        crate::model::TopProcesses {
            scope: opts.scope,
            scanned: 0,
            processes: Vec::new(),
        }
    };

    if opts.detailed {
        for p in std::iter::once(&mut process).chain(top.processes.iter_mut()) {
            match platform::read_smaps(p.pid) {
                Ok(r) => {
                    p.uss_bytes = Some(r.uss);
                    p.pss_bytes = Some(r.pss);
                    p.swap_pss_bytes = Some(r.swap_pss);
                }
                Err(e) => warnings.push(format!("USS/PSS of PID {} ({}): {e}", p.pid, p.name)),
            }
        }
    }

    let gpu = if opts.gpu {
        let (info, gpu_warnings) = gpu::read_gpus(&lookup, platform::own_pid_namespace_is_nested());
        warnings.extend(gpu_warnings);
        info
    } else {
        GpuInfo {
            unavailable_reason: Some("GPU query disabled".into()),
            ..Default::default()
        }
    };

    Ok(Snapshot {
        schema_version: SCHEMA_VERSION,
        taken_at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        collect_duration_us: t0.elapsed().as_micros() as u64,
        kernel: platform::kernel_release(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sys() -> SystemMemory {
        SystemMemory {
            total_bytes: 16 << 30,
            available_bytes: 10 << 30,
            used_bytes: 6 << 30,
            percent_used: 37.5,
            ..Default::default()
        }
    }

    #[test]
    fn tighter_cgroup_limit_wins() {
        let cg = CgroupMemory {
            version: 2,
            limit_bytes: Some(4 << 30),
            working_set_bytes: 1 << 30,
            ..Default::default()
        };
        let e = effective_memory(&sys(), Some(&cg));
        assert_eq!(e.source, MemorySource::Cgroup);
        assert_eq!(e.total_bytes, 4 << 30);
        assert_eq!(e.available_bytes, 3 << 30);
        assert_eq!(e.percent_used, 25.0);
        assert!(e.reason.contains("below host RAM"));
    }

    #[test]
    fn host_when_unlimited_or_larger() {
        let mut cg = CgroupMemory::default();
        assert_eq!(
            effective_memory(&sys(), Some(&cg)).source,
            MemorySource::Host
        );
        cg.limit_bytes = Some(64 << 30);
        let e = effective_memory(&sys(), Some(&cg));
        assert_eq!(e.source, MemorySource::Host);
        assert!(e.reason.contains("not below"));
    }

    #[test]
    fn host_shortage_caps_container_available() {
        let mut s = sys();
        s.available_bytes = 1 << 30;
        let cg = CgroupMemory {
            limit_bytes: Some(8 << 30),
            ..Default::default()
        };
        assert_eq!(effective_memory(&s, Some(&cg)).available_bytes, 1 << 30);
    }
}
