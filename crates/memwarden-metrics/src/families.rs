//! The series, one function per part of the snapshot. Names and what they mirror
//! are listed in docs/metrics.md; keep the two in step.

use memwarden_core::{GpuDevice, ProcessMemory, Psi, Snapshot};

use super::{labels, one, Activity, Builder, Labels};

/// Host memory, as node_exporter's meminfo collector (`node_memory_*_bytes`).
pub(crate) fn system(b: &mut Builder, s: &Snapshot) {
    let m = &s.system;
    let rows: [(&str, &str, u64); 13] = [
        (
            "memory_total",
            "Host RAM installed (MemTotal).",
            m.total_bytes,
        ),
        (
            "memory_available",
            "Host RAM that can be allocated without swapping (MemAvailable).",
            m.available_bytes,
        ),
        (
            "memory_free",
            "Host RAM not used for anything (MemFree).",
            m.free_bytes,
        ),
        (
            "memory_used",
            "Host RAM in use: MemTotal - MemAvailable.",
            m.used_bytes,
        ),
        (
            "memory_buffers",
            "Block device buffers (Buffers).",
            m.buffers_bytes,
        ),
        (
            "memory_cached",
            "Page cache, shmem included (Cached).",
            m.cached_bytes,
        ),
        (
            "memory_shmem",
            "Shared memory and tmpfs (Shmem).",
            m.shmem_bytes,
        ),
        (
            "memory_committed",
            "Memory promised to processes (Committed_AS).",
            m.committed_bytes,
        ),
        (
            "memory_commit_limit",
            "What may be committed under strict overcommit (CommitLimit).",
            m.commit_limit_bytes,
        ),
        ("swap_total", "Swap space (SwapTotal).", m.swap_total_bytes),
        ("swap_free", "Unused swap (SwapFree).", m.swap_free_bytes),
        (
            "swap_used",
            "Swap in use: SwapTotal - SwapFree.",
            m.swap_used_bytes,
        ),
        (
            "swap_cached",
            "Pages both in swap and in RAM (SwapCached).",
            m.swap_cached_bytes,
        ),
    ];
    for (name, help, v) in rows {
        b.bytes(name, help, one(v));
    }
    b.gauge(
        "memory_used_ratio",
        "Host RAM in use as a share of MemTotal (0 to 1).",
        one(ratio(m.used_bytes, m.total_bytes)),
    );
    let e = &s.effective;
    let src = || labels(&[("source", source_name(s))]);
    b.bytes("effective_memory_total", "The limit memory is judged against: the container's limit when tighter than the host, else host RAM.", vec![(src(), e.total_bytes)]);
    b.bytes(
        "effective_memory_used",
        "Memory in use against that limit (host: total - available; container: working set).",
        vec![(src(), e.used_bytes)],
    );
    b.bytes(
        "effective_memory_available",
        "What can still be allocated within that limit.",
        vec![(src(), e.available_bytes)],
    );
    b.gauge(
        "effective_memory_used_ratio",
        "Used / total of the effective limit (0 to 1).",
        vec![(src(), ratio(e.used_bytes, e.total_bytes))],
    );
}

/// `part / whole` from the byte figures (the snapshot's percentages are rounded).
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn source_name(s: &Snapshot) -> &'static str {
    match s.effective.source {
        memwarden_core::MemorySource::Host => "host",
        memwarden_core::MemorySource::Cgroup => "cgroup",
    }
}

/// The memory cgroup, as cAdvisor names a container's figures (`container_*`).
pub(crate) fn container(b: &mut Builder, s: &Snapshot) {
    let c = &s.container;
    let runtime = c
        .runtime
        .map(|r| format!("{r:?}").to_lowercase())
        .unwrap_or_default();
    b.gauge(
        "container_info",
        "1, labelled with the container runtime found (empty when none) and whether one was detected.",
        vec![(labels(&[("runtime", &runtime), ("detected", if c.detected { "true" } else { "false" })]), 1.0)],
    );
    let Some(g) = &c.cgroup else { return };
    let l = || {
        labels(&[
            ("cgroup", &g.path),
            ("cgroup_version", &g.version.to_string()),
        ])
    };
    let opt = |v: Option<u64>| v.map(|v| vec![(l(), v)]).unwrap_or_default();
    b.bytes(
        "container_spec_memory_limit",
        "The memory limit that binds on the cgroup's path (absent when unlimited).",
        opt(g.limit_bytes),
    );
    b.bytes(
        "container_spec_memory_high",
        "cgroup v2 memory.high, the tightest on the path (absent when unset).",
        opt(g.high_bytes),
    );
    b.bytes(
        "container_spec_memory_swap_limit",
        "Swap the cgroup may use on top of its memory limit (absent when unlimited).",
        opt(g.swap_limit_bytes),
    );
    b.bytes(
        "container_memory_usage",
        "Memory charged to the cgroup, page cache included (memory.current / usage_in_bytes).",
        vec![(l(), g.usage_bytes)],
    );
    b.bytes(
        "container_memory_working_set",
        "Usage minus inactive file cache, as Kubernetes and docker stats count it.",
        vec![(l(), g.working_set_bytes)],
    );
    b.bytes(
        "container_memory_inactive_file",
        "Inactive file cache of the cgroup (memory.stat).",
        vec![(l(), g.inactive_file_bytes)],
    );
    b.bytes(
        "container_memory_rss",
        "Anonymous memory of the cgroup (v2 anon, v1 total_rss).",
        opt(g.anon_bytes),
    );
    b.bytes(
        "container_memory_cache",
        "File cache of the cgroup (v2 file, v1 total_cache).",
        opt(g.file_bytes),
    );
    b.bytes(
        "container_memory_swap",
        "Swap used by the cgroup, when accounted.",
        opt(g.swap_usage_bytes),
    );
}

/// PSI as node_exporter's pressure collector: `waiting` is "some", `stalled` is "full".
pub(crate) fn pressure(b: &mut Builder, s: &Snapshot) {
    let p = &s.pressure;
    let scopes: [(&str, Option<&Psi>); 2] =
        [("system", p.system.as_ref()), ("cgroup", p.cgroup.as_ref())];
    let mut waiting = Vec::new();
    let mut stalled = Vec::new();
    for (scope, psi) in scopes {
        let Some(psi) = psi else { continue };
        let l = labels(&[("scope", scope)]);
        waiting.push((l.clone(), psi.some.total_us as f64 / 1e6));
        if let Some(full) = psi.full {
            stalled.push((l, full.total_us as f64 / 1e6));
        }
    }
    b.seconds_total(
        "pressure_memory_waiting",
        "Time at least one task stalled on memory (PSI some total).",
        waiting,
    );
    b.seconds_total(
        "pressure_memory_stalled",
        "Time all non-idle tasks stalled on memory at once (PSI full total).",
        stalled,
    );
    b.gauge(
        "pressure_level",
        "memwarden's pressure level: 0 none, 1 low, 2 moderate, 3 high, 4 critical.",
        one(p.level as u8 as f64),
    );
}

fn process_labels(p: &ProcessMemory) -> Labels {
    labels(&[("pid", &p.pid.to_string()), ("command", &p.name)])
}

/// The inspected process (the caller: ComfyUI on the pack's route) and the largest
/// processes by RSS.
pub(crate) fn processes(b: &mut Builder, s: &Snapshot) {
    if let Some(p) = &s.process {
        b.bytes(
            "process_resident_memory",
            "Resident set size of the inspected process (VmRSS).",
            vec![(process_labels(p), p.rss_bytes)],
        );
        b.bytes("process_resident_memory_anon", "Resident anonymous memory of the inspected process (RssAnon): what pageout moves to swap.", vec![(process_labels(p), p.rss_anon_bytes)]);
        b.bytes(
            "process_swap",
            "Swapped-out memory of the inspected process (VmSwap).",
            vec![(process_labels(p), p.swap_bytes)],
        );
    }
    let top: Vec<_> = s
        .top_processes
        .processes
        .iter()
        .map(|p| (process_labels(p), p.rss_bytes))
        .collect();
    b.bytes(
        "top_process_resident_memory",
        "Resident set size of the largest processes (the top list of the snapshot).",
        top,
    );
}

fn gpu_labels(d: &GpuDevice) -> Labels {
    labels(&[
        ("gpu", &d.index.to_string()),
        ("uuid", &d.uuid),
        ("name", &d.name),
    ])
}

/// Per GPU, labelled `gpu` and `uuid` as the DCGM and NVIDIA exporters do.
pub(crate) fn gpu(b: &mut Builder, s: &Snapshot) {
    let g = &s.gpu;
    let each = |f: &dyn Fn(&GpuDevice) -> u64| -> Vec<(Labels, u64)> {
        g.devices.iter().map(|d| (gpu_labels(d), f(d))).collect()
    };
    b.bytes(
        "gpu_memory_total",
        "Framebuffer memory installed.",
        each(&|d| d.total_bytes),
    );
    b.bytes(
        "gpu_memory_used",
        "Framebuffer memory allocated.",
        each(&|d| d.used_bytes),
    );
    b.bytes(
        "gpu_memory_free",
        "Framebuffer memory free.",
        each(&|d| d.free_bytes),
    );
    let util = |f: &dyn Fn(&GpuDevice) -> Option<u32>| -> Vec<(Labels, f64)> {
        let pick = |d: &GpuDevice| f(d).map(|v| (gpu_labels(d), f64::from(v) / 100.0));
        g.devices.iter().filter_map(pick).collect()
    };
    b.gauge(
        "gpu_utilization_ratio",
        "Share of the last sample period a kernel ran on the GPU (0 to 1).",
        util(&|d| d.utilization_gpu_percent),
    );
    b.gauge(
        "gpu_memory_utilization_ratio",
        "Share of the last sample period the GPU memory was read or written (0 to 1).",
        util(&|d| d.utilization_memory_percent),
    );
    let procs = g.processes.iter().filter_map(|p| {
        let used = p.used_bytes?;
        let uuid = g
            .devices
            .iter()
            .find(|d| d.index == p.gpu_index)
            .map(|d| d.uuid.as_str())
            .unwrap_or("");
        let command = p.name.as_deref().unwrap_or("");
        let l = labels(&[
            ("gpu", &p.gpu_index.to_string()),
            ("uuid", uuid),
            ("pid", &p.pid.to_string()),
            ("command", command),
        ]);
        Some((l, used))
    });
    b.bytes("gpu_process_memory_used", "GPU memory held by a process (pid as the driver reports it; command empty when not visible here).", procs.collect());
}

/// The snapshot's own cost and health.
pub(crate) fn snapshot_meta(b: &mut Builder, s: &Snapshot) {
    b.gauge(
        "snapshot_duration_seconds",
        "Time this scrape's snapshot took to collect.",
        one(s.collect_duration_us as f64 / 1e6),
    );
    b.gauge(
        "snapshot_warnings",
        "Parts of the snapshot that could not be read (see `memwarden check`).",
        one(s.warnings.len() as f64),
    );
    b.gauge(
        "build_info",
        "1, labelled with memwarden's version and the kernel release.",
        vec![(
            labels(&[
                ("version", env!("CARGO_PKG_VERSION")),
                ("kernel", &s.kernel),
            ]),
            1.0,
        )],
    );
}

/// Cleanups and the leak detector's slope, when their owner handed them over.
pub(crate) fn activity(b: &mut Builder, a: &Activity) {
    let runs = a
        .cleanups
        .iter()
        .map(|c| {
            (
                labels(&[("action", &c.action), ("trigger", &c.trigger)]),
                c.count,
            )
        })
        .collect();
    b.counter(
        "cleanups",
        "Cleanups run, by action and what triggered them.",
        None,
        runs,
    );
    let mut by_action: Vec<(String, u64)> = Vec::new();
    for c in &a.cleanups {
        match by_action.iter_mut().find(|(k, _)| *k == c.action) {
            Some((_, v)) => *v += c.reclaimed_bytes,
            None => by_action.push((c.action.clone(), c.reclaimed_bytes)),
        }
    }
    let reclaimed = by_action
        .into_iter()
        .map(|(k, v)| (labels(&[("action", &k)]), v))
        .collect();
    b.counter(
        "cleanup_reclaimed",
        "Bytes the cleanups reclaimed, by action.",
        Some(prometheus_client::registry::Unit::Bytes),
        reclaimed,
    );
    if let Some(slope) = a.leak_slope_bytes_per_prompt {
        b.gauge(
            "leak_slope_bytes_per_prompt",
            "Growth of resident memory per prompt fitted by the leak detector.",
            one(slope),
        );
    }
}
