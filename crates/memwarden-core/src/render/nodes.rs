//! The seed nodes' own report lines, beyond a snapshot's report and a cleanup's:
//! the Memory Monitor's pressure and warning, the Unified Memory Manager's GPU
//! holders, decision and last optimizations, and the VRAM nodes' figures.

use std::fmt::Write;

use crate::model::{GpuProcess, PressureReport};
use crate::policy::trigger::HistoryEntry;

use super::clock::local_time;
use super::freed_phrase;

const GB: f64 = (1u64 << 30) as f64;

/// The Memory Monitor's report: `body` (the snapshot's report or its status line),
/// then the pressure and what to do; first a warning when usage is at or above
/// `warning_at` percent.
pub fn monitor_report(body: &str, pressure: &PressureReport, warning_at: Option<f64>) -> String {
    let mut s = String::new();
    if let Some(at) = warning_at {
        let _ = writeln!(s, "WARNING: memory above {at:.0}%");
    }
    let _ = write!(
        s,
        "{body}\nPressure: {}\nRecommendations:",
        pressure.description
    );
    for r in &pressure.recommendations {
        let _ = write!(s, "\n  - {r}");
    }
    s
}

/// What the Unified Memory Manager shows after its run.
#[derive(Debug, Clone, Copy)]
pub struct ManagerNodeReport<'a> {
    /// The snapshot's report, when monitoring and a detailed report are on.
    pub snapshot_report: Option<&'a str>,
    pub monitoring: bool,
    pub gpu_processes: &'a [GpuProcess],
    /// Whether it optimized, and why (or why not).
    pub performed: bool,
    pub reason: &'a str,
    /// The cleanup's report, when it optimized.
    pub cleanup_text: Option<&'a str>,
    /// The optimizer's last optimizations, oldest first.
    pub history: &'a [HistoryEntry],
    /// The local time zone's offset from UTC at each entry's time, seconds.
    pub utc_offset_s: i64,
}

/// The Unified Memory Manager's report: the snapshot, the processes holding GPU
/// memory, what the optimizer decided and the last optimizations (local time).
pub fn manager_node_report(r: &ManagerNodeReport<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    match (r.monitoring, r.snapshot_report) {
        (true, Some(report)) => parts.push(report.to_string()),
        (true, None) => {}
        (false, _) => parts.push("Monitoring disabled.".into()),
    }
    if !r.gpu_processes.is_empty() {
        parts.push("Processes holding GPU memory:".into());
        for p in r.gpu_processes {
            let used = p
                .used_bytes
                .map_or("n/a".to_string(), |b| format!("{:.2} GB", b as f64 / GB));
            parts.push(format!(
                "  GPU {} PID {} {} {used}",
                p.gpu_index,
                p.pid,
                p.name.as_deref().unwrap_or("(not visible)")
            ));
        }
    }
    let performed = if r.performed {
        "performed"
    } else {
        "not performed"
    };
    parts.push(format!("Optimization: {performed} ({})", r.reason));
    if let Some(text) = r.cleanup_text {
        parts.push(text.to_string());
    }
    parts.push(format!("Last {} optimization(s):", r.history.len()));
    for h in r.history {
        parts.push(format!(
            "  {}  {:<12} {}  ({})",
            local_time(h.at_unix_ms, r.utc_offset_s),
            h.mode.name(),
            freed_phrase(h.freed_bytes),
            h.trigger
        ));
    }
    parts.join("\n")
}

/// VRAM in use before and after the VRAM Unload node, or why nothing was measured.
#[derive(Debug, Clone, PartialEq)]
pub enum VramChange {
    Measured {
        before_bytes: u64,
        after_bytes: u64,
    },
    /// Neither NVML nor torch sees a GPU: what each says.
    Unmeasured {
        nvml: String,
        torch: String,
    },
}

/// The VRAM Unload node's report: what the unload did, then VRAM before and after.
pub fn vram_unload_report(unloaded: &str, vram: &VramChange) -> String {
    match vram {
        VramChange::Measured {
            before_bytes,
            after_bytes,
        } => format!(
            "{unloaded}\nVRAM used: {:.3} GB -> {:.3} GB ({})",
            *before_bytes as f64 / GB,
            *after_bytes as f64 / GB,
            freed_phrase(*before_bytes as i64 - *after_bytes as i64)
        ),
        VramChange::Unmeasured { nvml, torch } => {
            format!("{unloaded}\nVRAM: n/a, nothing measured (NVML: {nvml}; torch: {torch})")
        }
    }
}

/// The VRAM nodes' unload line: what ComfyUI's unload did, or that there is no
/// ComfyUI to ask.
pub fn models_line(unloaded: Option<&str>) -> String {
    match unloaded {
        Some(text) => format!("models: {text}"),
        None => "models: not running inside ComfyUI, nothing to unload".into(),
    }
}

/// The VRAM Optimizer's first line.
pub fn vram_optimizer_title(level: &str, gpu: Option<u32>) -> String {
    match gpu {
        None => format!("VRAM Optimizer ({level}, all GPUs)"),
        Some(i) => format!("VRAM Optimizer ({level}, GPU {i})"),
    }
}

/// What the Memory Leak Detector node changed in its tracking this run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingChange {
    /// Mode "start": earlier samples forgotten.
    pub restarted: bool,
    /// ComfyUI's execution hooks could not be installed, and why.
    pub hooks_missing: Option<String>,
    /// tracemalloc started, with a baseline snapshot.
    pub tracing_started: bool,
    pub tracing_stopped: bool,
}

/// The Memory Leak Detector's notes on what it changed, one a line.
pub fn leak_tracking_notes(c: &TrackingChange) -> String {
    let mut notes = Vec::new();
    if c.restarted {
        notes.push("tracking restarted: earlier samples forgotten".to_string());
    }
    if let Some(why) = &c.hooks_missing {
        notes.push(format!("per-prompt tracking unavailable: {why}"));
    }
    if c.tracing_started {
        notes.push("tracemalloc on: baseline snapshot taken".into());
    }
    if c.tracing_stopped {
        notes.push("tracemalloc stopped".into());
    }
    notes.join("\n")
}

/// What the manager nodes did to the one background manager: started or
/// reconfigured it (and whether prompt boundaries reach it: `hooks_missing` says
/// why not), stopped it, or found it not running.
pub fn manager_switch_note(
    enabled: bool,
    was_running: bool,
    hooks_missing: Option<&str>,
) -> String {
    match (enabled, hooks_missing) {
        (true, None) => "manager running".into(),
        (true, Some(why)) => format!("manager running\nprompt boundaries not watched: {why}"),
        (false, _) if was_running => "manager stopped".into(),
        (false, _) => "manager not running".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GpuProcessKind, MemorySource, PressureLevel};
    use crate::policy::modes::CleanupMode;

    fn pressure() -> PressureReport {
        PressureReport {
            level: PressureLevel::High,
            description: "high: RAM 91%".into(),
            ram_percent: 91.0,
            vram_percent: None,
            swap_percent: None,
            source: MemorySource::Host,
            recommendations: vec!["Unload models".into(), "Lower the batch".into()],
        }
    }

    #[test]
    fn the_monitors_report() {
        assert_eq!(
            monitor_report("RAM: 1GB/2GB (50%)", &pressure(), None),
            "RAM: 1GB/2GB (50%)\nPressure: high: RAM 91%\nRecommendations:\n  - Unload models\n  \
             - Lower the batch"
        );
        assert!(monitor_report("x", &pressure(), Some(80.0))
            .starts_with("WARNING: memory above 80%\nx\nPressure: "));
    }

    #[test]
    fn the_unified_managers_report() {
        let procs = [
            GpuProcess {
                gpu_index: 0,
                pid: 42,
                kind: GpuProcessKind::Compute,
                used_bytes: Some(3 << 29),
                name: Some("python3".into()),
                cmdline: None,
                visible: true,
            },
            GpuProcess {
                gpu_index: 1,
                pid: 7,
                kind: GpuProcessKind::Graphics,
                used_bytes: None,
                name: None,
                cmdline: None,
                visible: false,
            },
        ];
        let history = [HistoryEntry {
            at_unix_ms: 1_790_000_000_000,
            mode: CleanupMode::Balanced,
            trigger: "threshold".into(),
            freed_bytes: 1 << 30,
        }];
        let r = ManagerNodeReport {
            snapshot_report: Some("SNAPSHOT"),
            monitoring: true,
            gpu_processes: &procs,
            performed: true,
            reason: "RAM 91% >= 80%",
            cleanup_text: Some("CLEANUP"),
            history: &history,
            utc_offset_s: 3600,
        };
        assert_eq!(
            manager_node_report(&r),
            "SNAPSHOT\nProcesses holding GPU memory:\n  GPU 0 PID 42 python3 1.50 GB\n  GPU 1 PID 7 \
             (not visible) n/a\nOptimization: performed (RAM 91% >= 80%)\nCLEANUP\nLast 1 \
             optimization(s):\n  2026-09-21 15:13:20  balanced     freed 1.000 GB  (threshold)"
        );
        let quiet = ManagerNodeReport {
            snapshot_report: None,
            gpu_processes: &[],
            performed: false,
            reason: "cooldown",
            cleanup_text: None,
            history: &[],
            ..r
        };
        assert_eq!(
            manager_node_report(&quiet),
            "Optimization: not performed (cooldown)\nLast 0 optimization(s):"
        );
        let off = ManagerNodeReport {
            monitoring: false,
            snapshot_report: Some("SNAPSHOT"),
            ..quiet
        };
        assert!(manager_node_report(&off).starts_with("Monitoring disabled.\nOptimization: "));
    }

    #[test]
    fn the_vram_nodes_lines() {
        let g = 1u64 << 30;
        assert_eq!(
            vram_unload_report(
                "models: x",
                &VramChange::Measured {
                    before_bytes: 3 * g,
                    after_bytes: g
                }
            ),
            "models: x\nVRAM used: 3.000 GB -> 1.000 GB (freed 2.000 GB)"
        );
        assert_eq!(
            vram_unload_report(
                "models: x",
                &VramChange::Unmeasured {
                    nvml: "no NVIDIA GPU visible".into(),
                    torch: "torch is not loaded in this process".into()
                }
            ),
            "models: x\nVRAM: n/a, nothing measured (NVML: no NVIDIA GPU visible; torch: torch is \
             not loaded in this process)"
        );
        assert_eq!(models_line(Some("unloaded 1")), "models: unloaded 1");
        assert_eq!(
            models_line(None),
            "models: not running inside ComfyUI, nothing to unload"
        );
        assert_eq!(
            vram_optimizer_title("Moderate", None),
            "VRAM Optimizer (Moderate, all GPUs)"
        );
        assert_eq!(
            vram_optimizer_title("Aggressive", Some(1)),
            "VRAM Optimizer (Aggressive, GPU 1)"
        );
    }

    #[test]
    fn the_leak_and_manager_nodes_notes() {
        assert_eq!(leak_tracking_notes(&TrackingChange::default()), "");
        let all = TrackingChange {
            restarted: true,
            hooks_missing: Some("no execution module".into()),
            tracing_started: true,
            tracing_stopped: false,
        };
        assert_eq!(
            leak_tracking_notes(&all),
            "tracking restarted: earlier samples forgotten\nper-prompt tracking unavailable: no \
             execution module\ntracemalloc on: baseline snapshot taken"
        );
        let stopped = TrackingChange {
            tracing_stopped: true,
            ..Default::default()
        };
        assert_eq!(leak_tracking_notes(&stopped), "tracemalloc stopped");
        assert_eq!(manager_switch_note(true, false, None), "manager running");
        assert_eq!(
            manager_switch_note(true, true, Some("old ComfyUI")),
            "manager running\nprompt boundaries not watched: old ComfyUI"
        );
        assert_eq!(
            manager_switch_note(false, true, Some("x")),
            "manager stopped"
        );
        assert_eq!(
            manager_switch_note(false, false, None),
            "manager not running"
        );
    }
}
