//! The one definition of every derived figure: which memory to judge by (the
//! container's limit or the host), VRAM percent with several GPUs, swap percent.
//! Every output (status line, `--json`, the ComfyUI nodes, thresholds, advice)
//! reads these, so they cannot disagree.

use crate::model::{
    CgroupMemory, EffectiveMemory, GpuDevice, MemorySource, Snapshot, SystemMemory,
};
use crate::parse::meminfo::percent;
use crate::units::format_bytes;

/// The figures to judge memory by: the cgroup limit when it is tighter than the
/// host's RAM (a container), the host's otherwise.
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
        return host("no memory cgroup or job object found: host figures used".into());
    };
    match cg.limit_bytes {
        None => host(format!(
            "{} has no memory limit: host figures used",
            group_name(cg)
        )),
        Some(limit) if limit >= system.total_bytes => host(format!(
            "{} limit {} is not below host RAM {}: host figures used",
            group_name(cg),
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
                    "{} limit {} (set at {}) is below host RAM {}: container figures used, \
                     used = {}",
                    group_name(cg),
                    format_bytes(limit),
                    cg.limit_set_at.as_deref().unwrap_or(&cg.dir),
                    format_bytes(system.total_bytes),
                    if cg.version == 0 {
                        "commit charge (what the job's limit counts)"
                    } else {
                        "working set (usage minus inactive file cache)"
                    }
                ),
                total_bytes: limit,
                used_bytes: used,
                available_bytes: available,
                percent_used: percent(used, limit),
            }
        }
    }
}

/// How a reason names the group: a cgroup with its version and path, or a
/// Windows job object (version 0).
fn group_name(cg: &CgroupMemory) -> String {
    if cg.version == 0 {
        "job object".into()
    } else {
        format!("cgroup v{} {}", cg.version, cg.path)
    }
}

/// "VRAM percent": the share used of the **fullest** GPU. Memory runs out per
/// device, so a sum over GPUs (a full 24 GB card beside an idle 80 GB one reads
/// 33%) would hide the GPU about to fail; with one GPU it is simply used / total.
/// The status line shows each GPU on its own for the same reason. None when no GPU
/// is visible.
pub fn vram_percent(s: &Snapshot) -> Option<f64> {
    s.gpu
        .devices
        .iter()
        .map(|d| d.percent_used)
        .max_by(f64::total_cmp)
}

/// VRAM in use and in total over every visible GPU (None without a GPU): amounts
/// add up across devices, percentages do not (see [`vram_percent`]).
pub fn vram_totals(s: &Snapshot) -> Option<(u64, u64)> {
    let d: &[GpuDevice] = &s.gpu.devices;
    (!d.is_empty()).then(|| {
        (
            d.iter().map(|g| g.used_bytes).sum(),
            d.iter().map(|g| g.total_bytes).sum(),
        )
    })
}

/// Swap in use, in percent of the swap configured; None without swap.
pub fn swap_percent(m: &SystemMemory) -> Option<f64> {
    (m.swap_total_bytes > 0).then(|| percent(m.swap_used_bytes, m.swap_total_bytes))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::GpuInfo;

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
    fn a_windows_job_limit_is_judged_like_a_cgroup_limit() {
        let job = CgroupMemory {
            version: 0,
            path: "job object".into(),
            limit_bytes: Some(2 << 30),
            limit_set_at: Some("JobMemoryLimit (all its processes together)".into()),
            working_set_bytes: 1 << 30,
            ..Default::default()
        };
        let e = effective_memory(&sys(), Some(&job));
        assert_eq!(
            (e.source, e.total_bytes, e.percent_used),
            (MemorySource::Cgroup, 2 << 30, 50.0)
        );
        assert!(
            e.reason
                .starts_with("job object limit 2.00 GiB (set at JobMemoryLimit"),
            "{}",
            e.reason
        );
        assert!(e.reason.contains("commit charge"), "{}", e.reason);
        let unlimited = CgroupMemory {
            limit_bytes: None,
            ..job
        };
        let e = effective_memory(&sys(), Some(&unlimited));
        assert_eq!(e.source, MemorySource::Host);
        assert!(
            e.reason.starts_with("job object has no memory limit"),
            "{}",
            e.reason
        );
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
    fn the_reason_names_the_group_and_where_its_limit_is_set() {
        let cg = CgroupMemory {
            version: 2,
            path: "/app/leaf".into(),
            dir: "/sys/fs/cgroup/app/leaf".into(),
            limit_bytes: Some(4 << 30),
            limit_set_at: Some("/sys/fs/cgroup/app".into()),
            working_set_bytes: 5 << 30, // above the limit for a moment: capped
            ..Default::default()
        };
        let e = effective_memory(&sys(), Some(&cg));
        assert_eq!(
            e.reason,
            "cgroup v2 /app/leaf limit 4.00 GiB (set at /sys/fs/cgroup/app) is below host RAM \
             16.00 GiB: container figures used, used = working set (usage minus inactive file \
             cache)"
        );
        assert_eq!((e.used_bytes, e.available_bytes), (4 << 30, 0));
        assert_eq!(e.percent_used, 100.0);
        // Without the limit's group, the group's own directory is named.
        let own = CgroupMemory {
            limit_set_at: None,
            ..cg.clone()
        };
        assert!(effective_memory(&sys(), Some(&own))
            .reason
            .contains("(set at /sys/fs/cgroup/app/leaf)"));
        // A limit equal to the host's RAM is no tighter than the host.
        let equal = CgroupMemory {
            limit_bytes: Some(16 << 30),
            ..cg.clone()
        };
        let e = effective_memory(&sys(), Some(&equal));
        assert_eq!(e.source, MemorySource::Host);
        assert_eq!(
            e.reason,
            "cgroup v2 /app/leaf limit 16.00 GiB is not below host RAM 16.00 GiB: host figures used"
        );
        assert_eq!(
            (
                e.total_bytes,
                e.used_bytes,
                e.available_bytes,
                e.percent_used
            ),
            (16 << 30, 6 << 30, 10 << 30, 37.5)
        );
        let one_less = CgroupMemory {
            limit_bytes: Some((16 << 30) - 1),
            ..cg
        };
        assert_eq!(
            effective_memory(&sys(), Some(&one_less)).source,
            MemorySource::Cgroup
        );
        let e = effective_memory(&sys(), None);
        assert_eq!(
            (e.source, e.reason.as_str()),
            (
                MemorySource::Host,
                "no memory cgroup or job object found: host figures used"
            )
        );
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

    /// A GPU of `total_gib` with `used_gib` in use.
    pub(crate) fn gpu(index: u32, used_gib: u64, total_gib: u64) -> GpuDevice {
        GpuDevice {
            index,
            used_bytes: used_gib << 30,
            total_bytes: total_gib << 30,
            free_bytes: (total_gib - used_gib) << 30,
            percent_used: percent(used_gib << 30, total_gib << 30),
            ..Default::default()
        }
    }

    #[test]
    fn vram_percent_is_the_fullest_gpu() {
        let mut s = crate::model::tests::snapshot();
        assert_eq!(vram_percent(&s), None);
        assert_eq!(vram_totals(&s), None);
        s.gpu = GpuInfo {
            devices: vec![gpu(0, 22, 24), gpu(1, 8, 80)],
            ..Default::default()
        };
        // A sum would read 30/104 = 29%; the full 24 GB card is what runs out.
        let p = vram_percent(&s).unwrap();
        assert_eq!(p, 91.7);
        assert_eq!(vram_totals(&s), Some((30 << 30, 104 << 30)));
    }

    #[test]
    fn swap_percent_needs_swap() {
        let mut m = sys();
        assert_eq!(swap_percent(&m), None);
        m.swap_total_bytes = 4 << 30;
        m.swap_used_bytes = 1 << 30;
        assert_eq!(swap_percent(&m), Some(25.0));
        m.swap_used_bytes = 0;
        assert_eq!(swap_percent(&m), Some(0.0));
    }
}
