//! The full `memwarden check` report, one function per section.

use std::fmt::Write;

use crate::model::*;
use crate::units::format_bytes as fb;

use super::{status_line, truncate, Painter, RenderOptions};

/// The full `memwarden check` report.
pub fn check_report(s: &Snapshot, opts: RenderOptions) -> String {
    let p = Painter { color: opts.color };
    let mut out = String::new();
    let _ = writeln!(out, "{}", p.head(&status_line(s)));
    let _ = writeln!(
        out,
        "kernel {}, collected in {:.2} ms\n",
        s.kernel,
        s.collect_duration_us as f64 / 1e3
    );
    for section in [
        process_section,
        system_section,
        container_section,
        effective_section,
        pressure_section,
        top_section,
        gpu_section,
        warnings_section,
    ] {
        section(&mut out, &p, s);
    }
    out
}

/// The process asked about.
fn process_section(out: &mut String, p: &Painter, s: &Snapshot) {
    if let Some(pr) = &s.process {
        let _ = writeln!(
            out,
            "{}",
            p.head(&format!("PROCESS  {} (PID {})", pr.name, pr.pid))
        );
        if !pr.cmdline.is_empty() {
            let _ = writeln!(out, "  Command    {}", truncate(&pr.cmdline, 100));
        }
        process_lines(out, pr);
        out.push('\n');
    }
}

/// Host RAM, swap and commit.
fn system_section(out: &mut String, p: &Painter, s: &Snapshot) {
    let m = &s.system;
    let _ = writeln!(out, "{}", p.head("SYSTEM"));
    let _ = writeln!(
        out,
        "  RAM        {} used of {} ({}), {} available{}",
        fb(m.used_bytes),
        fb(m.total_bytes),
        p.percent(m.percent_used),
        fb(m.available_bytes),
        if m.available_estimated {
            " (estimated: no MemAvailable)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  Free       {}   Buffers {}   Page cache {}   Shmem {}",
        fb(m.free_bytes),
        fb(m.buffers_bytes),
        fb(m.cached_bytes),
        fb(m.shmem_bytes)
    );
    if m.swap_total_bytes == 0 {
        let _ = writeln!(
            out,
            "  Swap       none configured (pageout can only drop file-backed pages)"
        );
    } else {
        let _ = writeln!(
            out,
            "  Swap       {} used of {}, {} free (swap cache {})",
            fb(m.swap_used_bytes),
            fb(m.swap_total_bytes),
            fb(m.swap_free_bytes),
            fb(m.swap_cached_bytes)
        );
    }
    let _ = writeln!(
        out,
        "  Committed  {} of commit limit {}\n",
        fb(m.committed_bytes),
        fb(m.commit_limit_bytes)
    );
}

/// The container runtime and the memory cgroup.
fn container_section(out: &mut String, p: &Painter, s: &Snapshot) {
    let c = &s.container;
    let _ = writeln!(out, "{}", p.head("CONTAINER"));
    match (&c.runtime, c.detected) {
        (Some(rt), true) => {
            let _ = writeln!(
                out,
                "  Detected   {} ({})",
                serde_json::to_value(rt)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                c.evidence.join("; ")
            );
        }
        _ => {
            let _ = writeln!(out, "  Detected   none (no container markers found)");
        }
    }
    if let Some(cg) = &s.container.cgroup {
        cgroup_lines(out, cg);
        return;
    }
    let _ = writeln!(
        out,
        "  cgroup     none (no memory cgroup mounted, no job object)"
    );
}

/// The cgroup's limit, usage and swap.
fn cgroup_lines(out: &mut String, cg: &CgroupMemory) {
    if cg.version == 0 {
        let _ = writeln!(
            out,
            "  Job        {} (limits count the commit charge)",
            cg.path
        );
    } else {
        let _ = writeln!(out, "  cgroup v{}  {}  ({})", cg.version, cg.path, cg.dir);
    }
    let _ = writeln!(
        out,
        "  Limit      {}{}",
        cg.limit_bytes.map(fb).unwrap_or_else(|| "none".into()),
        cg.limit_set_at
            .as_deref()
            .map(|d| format!("  (tightest, set at {d})"))
            .unwrap_or_default()
    );
    if let Some(h) = cg.high_bytes {
        let _ = writeln!(out, "  High       {} (throttling starts here)", fb(h));
    }
    let _ = writeln!(
        out,
        "  Usage      {}   working set {}   inactive file {}",
        fb(cg.usage_bytes),
        fb(cg.working_set_bytes),
        fb(cg.inactive_file_bytes)
    );
    let _ = writeln!(
        out,
        "  Swap       limit {}   used {}",
        cg.swap_limit_bytes.map(fb).unwrap_or_else(|| "none".into()),
        cg.swap_usage_bytes.map(fb).unwrap_or_else(|| "n/a".into())
    );
}

/// The figures memory is judged by, and why.
fn effective_section(out: &mut String, p: &Painter, s: &Snapshot) {
    let e = &s.effective;
    let _ = writeln!(
        out,
        "  Effective  {} used of {} ({}), {} available",
        fb(e.used_bytes),
        fb(e.total_bytes),
        p.percent(e.percent_used),
        fb(e.available_bytes)
    );
    let _ = writeln!(out, "  Why        {}\n", e.reason);
}

/// PSI and its level.
fn pressure_section(out: &mut String, p: &Painter, s: &Snapshot) {
    let pr = &s.pressure;
    let _ = writeln!(out, "{}", p.head("PRESSURE (PSI)"));
    let _ = writeln!(out, "  Level      {}", p.level(pr.level, &pr.description));
    if let Some(sys) = &pr.system {
        let _ = writeln!(out, "{}", psi_line("system", sys));
    }
    if let Some(cg) = &pr.cgroup {
        let _ = writeln!(out, "{}", psi_line("cgroup", cg));
    }
    out.push('\n');
}

/// The largest processes.
fn top_section(out: &mut String, p: &Painter, s: &Snapshot) {
    let t = &s.top_processes;
    if !t.processes.is_empty() {
        let scope = match t.scope {
            ProcessScope::Visible => "visible processes",
            ProcessScope::Cgroup => "processes in this cgroup",
        };
        let _ = writeln!(
            out,
            "{}",
            p.head(&format!(
                "TOP {} PROCESSES BY RSS ({} {scope} scanned, kernel threads excluded)",
                t.processes.len(),
                t.scanned
            ))
        );
        for (i, pr) in t.processes.iter().enumerate() {
            let extra = match pr.uss_bytes {
                Some(u) => format!("  USS {}", fb(u)),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:>2}. {:<16} {:>11}  swap {:>10}{extra}  (PID {})  {}",
                i + 1,
                truncate(&pr.name, 16),
                fb(pr.rss_bytes),
                fb(pr.swap_bytes),
                pr.pid,
                truncate(&pr.cmdline, 60)
            );
        }
        out.push('\n');
    }
}

/// GPUs and the processes holding their memory.
fn gpu_section(out: &mut String, p: &Painter, s: &Snapshot) {
    let g = &s.gpu;
    let _ = writeln!(out, "{}", p.head("GPUS"));
    if g.devices.is_empty() {
        let _ = writeln!(
            out,
            "  {}",
            g.unavailable_reason
                .as_deref()
                .unwrap_or("no NVIDIA GPU visible")
        );
    } else {
        gpu_devices(out, p, g);
    }
}

/// GPU devices and their processes.
fn gpu_devices(out: &mut String, p: &Painter, g: &GpuInfo) {
    if let Some(v) = &g.driver_version {
        let _ = writeln!(out, "  Driver     {v}");
    }
    for d in &g.devices {
        let util = d
            .utilization_gpu_percent
            .map(|u| format!(", util {u}%"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  GPU {}  {}  {} used of {} ({}), {} free{util}",
            d.index,
            d.name,
            fb(d.used_bytes),
            fb(d.total_bytes),
            p.percent(d.percent_used),
            fb(d.free_bytes)
        );
        let cuda = match d.cuda_ordinal {
            Some(o) => format!("cuda:{o}"),
            None => "hidden from CUDA here (CUDA_VISIBLE_DEVICES)".into(),
        };
        let _ = writeln!(out, "         {}  {cuda}", d.uuid);
    }
    if g.processes.is_empty() {
        let _ = writeln!(out, "  No process holds GPU memory.");
    } else {
        let _ = writeln!(out, "  Processes holding GPU memory:");
        for gp in &g.processes {
            let kind = match gp.kind {
                GpuProcessKind::Compute => "compute",
                GpuProcessKind::Graphics => "graphics",
            };
            let _ = writeln!(
                out,
                "    GPU {}  PID {:<8} {:<8} {:>11}  {}",
                gp.gpu_index,
                gp.pid,
                kind,
                gp.used_bytes.map(fb).unwrap_or_else(|| "n/a".into()),
                match (&gp.name, &gp.cmdline) {
                    (Some(n), Some(c)) if !c.is_empty() => format!("{n}  {}", truncate(c, 60)),
                    (Some(n), _) => n.clone(),
                    _ => "(not visible here)".into(),
                }
            );
        }
    }
    if let Some(n) = &g.pid_namespace_note {
        let _ = writeln!(out, "  Note: {n}");
    }
}

/// What could not be read.
fn warnings_section(out: &mut String, p: &Painter, s: &Snapshot) {
    if !s.warnings.is_empty() {
        let _ = writeln!(out, "\n{}", p.head("WARNINGS"));
        for w in &s.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
}

fn process_lines(out: &mut String, p: &ProcessMemory) {
    let _ = writeln!(
        out,
        "  RSS        {}  (anon {}, file {}, shmem {})",
        fb(p.rss_bytes),
        fb(p.rss_anon_bytes),
        fb(p.rss_file_bytes),
        fb(p.rss_shmem_bytes)
    );
    let _ = write!(
        out,
        "  VMS        {}   Swap {}",
        fb(p.vms_bytes),
        fb(p.swap_bytes)
    );
    if let (Some(u), Some(pss)) = (p.uss_bytes, p.pss_bytes) {
        let _ = write!(out, "   USS {}   PSS {}", fb(u), fb(pss));
    }
    out.push('\n');
}

fn psi_line(name: &str, p: &Psi) -> String {
    let mut s = format!(
        "  {name:<7}some avg10 {:>5.2}%  avg60 {:>5.2}%  avg300 {:>5.2}%  total {:.1} s",
        p.some.avg10,
        p.some.avg60,
        p.some.avg300,
        p.some.total_us as f64 / 1e6
    );
    if let Some(f) = p.full {
        let _ = write!(
            s,
            "\n  {:<7}full avg10 {:>5.2}%  avg60 {:>5.2}%  avg300 {:>5.2}%  total {:.1} s",
            "",
            f.avg10,
            f.avg60,
            f.avg300,
            f.total_us as f64 / 1e6
        );
    }
    s
}
