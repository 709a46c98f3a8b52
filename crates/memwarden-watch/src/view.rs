//! The view model: what one screen shows, built from a [`Snapshot`] as a pure
//! function. Every figure comes from the snapshot and `policy::figures` (the
//! effective memory, swap and VRAM percentages); the UI only lays them out.

use std::cmp::Ordering;

use memwarden_core::parse::meminfo::percent;
use memwarden_core::policy::figures;
use memwarden_core::units::format_bytes;
use memwarden_core::{EffectiveMemory, GpuProcessKind, MemorySource, PressureLevel, Psi, Snapshot};

use crate::options::SortKey;

/// One bar: an amount used of a total, and its percentage.
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    pub label: String,
    pub used: u64,
    pub total: u64,
    pub percent: f64,
    /// What the total is, in words ("host RAM", "container limit; host RAM 16 GiB").
    pub note: String,
}

impl Meter {
    /// `6.00 GiB / 16.00 GiB (37.5%)`.
    pub fn figures(&self) -> String {
        format!(
            "{} / {} ({:.1}%)",
            format_bytes(self.used),
            format_bytes(self.total),
            self.percent
        )
    }
}

/// The memory pressure (PSI, avg10) of the system or the container's cgroup.
#[derive(Debug, Clone, PartialEq)]
pub struct PressureRow {
    /// "system" or "cgroup".
    pub scope: &'static str,
    /// Percent of the last 10 s in which some task stalled on memory.
    pub some_avg10: f64,
    /// Percent of the last 10 s in which every task stalled; None where not reported.
    pub full_avg10: Option<f64>,
}

/// A process holding memory on a GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuProcRow {
    pub pid: u32,
    /// The name from /proc, or why there is none.
    pub name: String,
    pub kind: &'static str,
    pub used: Option<u64>,
}

/// One GPU: its VRAM bar, utilization and processes.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuView {
    pub index: u32,
    pub name: String,
    pub vram: Meter,
    pub utilization: Option<u32>,
    pub processes: Vec<GpuProcRow>,
}

/// One row of the process list.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcRow {
    pub pid: u32,
    pub name: String,
    pub command: String,
    pub rss: u64,
    pub swap: u64,
    /// RSS in percent of the effective memory total (the container's limit in a
    /// container that has one).
    pub mem_percent: f64,
}

/// Everything one screen shows.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub kernel: String,
    pub ram: Meter,
    /// None when no swap is configured.
    pub swap: Option<Meter>,
    pub pressure: Vec<PressureRow>,
    pub pressure_level: PressureLevel,
    pub gpus: Vec<GpuView>,
    /// Why no GPU is shown (no driver, query disabled...).
    pub gpu_note: Option<String>,
    pub processes: Vec<ProcRow>,
    /// How many processes the scan saw (the list may hold only the largest).
    pub scanned: u32,
    pub warnings: Vec<String>,
}

/// How the process list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub key: SortKey,
    pub descending: bool,
}

impl Order {
    /// The key in its natural direction.
    pub fn new(key: SortKey) -> Self {
        Self {
            key,
            descending: key.descending_by_default(),
        }
    }
}

fn ram_meter(s: &Snapshot, e: &EffectiveMemory) -> Meter {
    let host = format_bytes(s.system.total_bytes);
    let note = match e.source {
        MemorySource::Host => "host RAM".to_string(),
        MemorySource::Cgroup => format!("container limit; host RAM {host}"),
    };
    Meter {
        label: "RAM".into(),
        used: e.used_bytes,
        total: e.total_bytes,
        percent: e.percent_used,
        note,
    }
}

fn swap_meter(s: &Snapshot) -> Option<Meter> {
    let m = &s.system;
    figures::swap_percent(m).map(|p| Meter {
        label: "Swap".into(),
        used: m.swap_used_bytes,
        total: m.swap_total_bytes,
        percent: p,
        note: "system swap".into(),
    })
}

fn pressure_rows(s: &Snapshot) -> Vec<PressureRow> {
    let row = |scope, p: &Psi| PressureRow {
        scope,
        some_avg10: p.some.avg10,
        full_avg10: p.full.map(|f| f.avg10),
    };
    let mut rows: Vec<_> = s.pressure.system.iter().map(|p| row("system", p)).collect();
    rows.extend(s.pressure.cgroup.iter().map(|p| row("cgroup", p)));
    rows
}

fn gpu_views(s: &Snapshot) -> Vec<GpuView> {
    s.gpu
        .devices
        .iter()
        .map(|d| GpuView {
            index: d.index,
            name: d.name.clone(),
            vram: Meter {
                label: format!("GPU{}", d.index),
                used: d.used_bytes,
                total: d.total_bytes,
                percent: d.percent_used,
                note: d.name.clone(),
            },
            utilization: d.utilization_gpu_percent,
            processes: s
                .gpu
                .processes
                .iter()
                .filter(|p| p.gpu_index == d.index)
                .map(|p| GpuProcRow {
                    pid: p.pid,
                    name: p.name.clone().unwrap_or_else(|| {
                        if p.visible {
                            "?".into()
                        } else {
                            "(not visible here)".into()
                        }
                    }),
                    kind: match p.kind {
                        GpuProcessKind::Compute => "compute",
                        GpuProcessKind::Graphics => "graphics",
                    },
                    used: p.used_bytes,
                })
                .collect(),
        })
        .collect()
}

fn gpu_note(s: &Snapshot) -> Option<String> {
    if !s.gpu.devices.is_empty() {
        return s.gpu.pid_namespace_note.clone();
    }
    // The reason is a sentence of its own: "no NVIDIA GPU visible (why)".
    Some(
        s.gpu
            .unavailable_reason
            .clone()
            .unwrap_or_else(|| "no NVIDIA GPU visible".into()),
    )
}

fn proc_rows(s: &Snapshot, total: u64) -> Vec<ProcRow> {
    s.top_processes
        .processes
        .iter()
        .map(|p| ProcRow {
            pid: p.pid,
            name: p.name.clone(),
            command: if p.cmdline.is_empty() {
                format!("[{}]", p.name)
            } else {
                p.cmdline.clone()
            },
            rss: p.rss_bytes,
            swap: p.swap_bytes,
            mem_percent: percent(p.rss_bytes, total),
        })
        .collect()
}

/// Order the rows; ties go by PID so that the order is stable between refreshes.
pub fn sort_processes(rows: &mut [ProcRow], order: Order) {
    let by_key = |a: &ProcRow, b: &ProcRow| -> Ordering {
        match order.key {
            SortKey::Memory => a.rss.cmp(&b.rss),
            SortKey::Pid => a.pid.cmp(&b.pid),
            SortKey::Command => a
                .name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.command.cmp(&b.command)),
            SortKey::Swap => a.swap.cmp(&b.swap),
        }
    };
    rows.sort_by(|a, b| {
        let o = by_key(a, b);
        let o = if order.descending { o.reverse() } else { o };
        o.then_with(|| a.pid.cmp(&b.pid))
    });
}

/// The view of `s`, its processes in `order`.
pub fn build(s: &Snapshot, order: Order) -> View {
    // The one definition of which memory counts: the container's limit when it
    // binds, the host's RAM otherwise.
    let effective = figures::effective_memory(&s.system, s.container.cgroup.as_ref());
    let mut processes = proc_rows(s, effective.total_bytes);
    sort_processes(&mut processes, order);
    View {
        kernel: s.kernel.clone(),
        ram: ram_meter(s, &effective),
        swap: swap_meter(s),
        pressure: pressure_rows(s),
        pressure_level: s.pressure.level,
        gpus: gpu_views(s),
        gpu_note: gpu_note(s),
        processes,
        scanned: s.top_processes.scanned,
        warnings: s.warnings.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn ram_is_judged_against_the_effective_limit() {
        let v = build(&fixture::host(), Order::new(SortKey::Memory));
        assert_eq!(v.ram.total, 16 << 30);
        assert_eq!(v.ram.used, 6 << 30);
        assert_eq!(v.ram.percent, 37.5);
        assert_eq!(v.ram.note, "host RAM");
        assert_eq!(v.ram.figures(), "6.00 GiB / 16.00 GiB (37.5%)");

        let v = build(&fixture::container(), Order::new(SortKey::Memory));
        assert_eq!(v.ram.total, 4 << 30);
        assert_eq!(v.ram.used, 3 << 30);
        assert_eq!(v.ram.percent, 75.0);
        assert_eq!(v.ram.note, "container limit; host RAM 16.00 GiB");
        // MEM% of a process is of the limit, not of the host.
        let p = v.processes.iter().find(|p| p.pid == 4242).unwrap();
        assert_eq!(p.mem_percent, 50.0);
    }

    #[test]
    fn swap_pressure_and_gpus() {
        let v = build(&fixture::host(), Order::new(SortKey::Memory));
        let swap = v.swap.unwrap();
        assert_eq!(
            (swap.used, swap.total, swap.percent),
            (1 << 30, 4 << 30, 25.0)
        );
        assert_eq!(
            v.pressure,
            vec![PressureRow {
                scope: "system",
                some_avg10: 12.5,
                full_avg10: Some(3.25),
            }]
        );
        assert_eq!(v.pressure_level, PressureLevel::Moderate);
        assert_eq!(v.gpus.len(), 2);
        let g = &v.gpus[0];
        assert_eq!(
            (g.vram.used, g.vram.total, g.vram.percent),
            (22 << 30, 24 << 30, 91.7)
        );
        assert_eq!(g.utilization, Some(87));
        assert_eq!(g.processes.len(), 2);
        assert_eq!(g.processes[0].name, "python3");
        assert_eq!(g.processes[1].name, "(not visible here)");
        assert!(v.gpus[1].processes.is_empty());
        assert_eq!(v.gpu_note, None);

        let v = build(&fixture::container(), Order::new(SortKey::Memory));
        assert_eq!(v.swap, None);
        assert_eq!(v.pressure.len(), 2);
        assert_eq!(v.pressure[1].scope, "cgroup");
        assert_eq!(v.pressure[1].full_avg10, None);
        assert!(v.gpus.is_empty());
        assert_eq!(
            v.gpu_note.as_deref(),
            Some("no NVIDIA GPU visible (NVML library not found)")
        );
    }

    fn pids(v: &View) -> Vec<u32> {
        v.processes.iter().map(|p| p.pid).collect()
    }

    #[test]
    fn each_sort_key_orders_the_processes() {
        let s = fixture::host();
        let by = |key, descending| pids(&build(&s, Order { key, descending }));
        // RSS: python3 2 GiB, Xorg 512 MiB, bash and zsh 16 MiB each (tie: by PID).
        assert_eq!(by(SortKey::Memory, true), [4242, 900, 77, 1300]);
        assert_eq!(by(SortKey::Memory, false), [77, 1300, 900, 4242]);
        assert_eq!(by(SortKey::Pid, false), [77, 900, 1300, 4242]);
        assert_eq!(by(SortKey::Pid, true), [4242, 1300, 900, 77]);
        // Names compare without case: bash, python3, Xorg, zsh.
        assert_eq!(by(SortKey::Command, false), [77, 4242, 900, 1300]);
        // Swap: zsh 2 GiB, bash 1 MiB, the others none (tie: by PID).
        assert_eq!(by(SortKey::Swap, true), [1300, 77, 900, 4242]);
        assert!(Order::new(SortKey::Swap).descending);
        assert!(!Order::new(SortKey::Command).descending);
    }

    #[test]
    fn a_process_without_a_command_line_shows_its_name() {
        let v = build(&fixture::host(), Order::new(SortKey::Pid));
        assert_eq!(v.processes[2].command, "[zsh]");
        assert_eq!(v.processes[3].command, "python3 main.py --listen");
    }
}
