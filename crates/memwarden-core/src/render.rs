//! Plain-text reports. The CLI prints these and the ComfyUI nodes show them, so
//! the wording lives in one place. Colour is optional ANSI, off unless asked for.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use crate::model::*;
use crate::units::{format_bytes as fb, format_bytes_signed, format_gb_short};

/// Rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    pub color: bool,
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
    fn head(&self, t: &str) -> String {
        self.paint(Style::new().bold(), t)
    }
    fn level(&self, l: PressureLevel, t: &str) -> String {
        let c = match l {
            PressureLevel::None | PressureLevel::Low => AnsiColor::Green,
            PressureLevel::Moderate => AnsiColor::Yellow,
            PressureLevel::High | PressureLevel::Critical => AnsiColor::Red,
        };
        self.paint(c.on_default(), t)
    }
    fn percent(&self, p: f64) -> String {
        let l = crate::pressure::level_from_percent(p);
        self.level(l, &format!("{p:.1}%"))
    }
    fn ok(&self, ok: bool) -> String {
        if ok {
            self.paint(AnsiColor::Green.on_default(), "ok")
        } else {
            self.paint(AnsiColor::Red.on_default(), "FAILED")
        }
    }
}

/// The one-line status the seeds' nodes show:
/// `RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)`.
///
/// "GB" here is 2^30 bytes, as in the seeds (psutil figures divided by 1024^3).
/// RAM uses the effective figures (the container's limit when tighter). VRAM is
/// per GPU: one GPU reads as in the seeds (`VRAM: 12.3GB/24GB (51%)`), several as
/// `VRAM: GPU0 12.5GB/80GB (16%), GPU1 8GB/24GB (33%)`, so a full GPU is never
/// hidden behind an empty one; "n/a" when none is visible.
pub fn status_line(s: &Snapshot) -> String {
    let e = &s.effective;
    let ram = format!(
        "RAM: {}GB/{}GB ({:.0}%)",
        format_gb_short(e.used_bytes),
        format_gb_short(e.total_bytes),
        e.percent_used
    );
    let one = |d: &crate::model::GpuDevice| {
        format!(
            "{}GB/{}GB ({:.0}%)",
            format_gb_short(d.used_bytes),
            format_gb_short(d.total_bytes),
            d.percent_used
        )
    };
    let vram = match s.gpu.devices.as_slice() {
        [] => "VRAM: n/a".to_string(),
        [d] => format!("VRAM: {}", one(d)),
        many => format!(
            "VRAM: {}",
            many.iter()
                .map(|d| format!("GPU{} {}", d.index, one(d)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("{ram} | {vram}")
}

/// The one definition of "VRAM percent" used by every output (the status line's
/// JSON, the Memory Monitor and Unified Memory Manager outputs, thresholds and
/// advice): the share used of the **fullest** GPU. Memory runs out per device,
/// so a sum over GPUs (a full 24 GB card beside an idle 80 GB one reads 33%)
/// would hide the GPU about to fail. None when no GPU is visible.
pub fn vram_percent(s: &Snapshot) -> Option<f64> {
    s.gpu
        .devices
        .iter()
        .map(|d| d.percent_used)
        .max_by(f64::total_cmp)
}

/// [`status_line`] with the numbers behind it.
pub fn status(s: &Snapshot) -> StatusLine {
    let d = &s.gpu.devices;
    let sum = |f: fn(&crate::model::GpuDevice) -> u64| {
        (!d.is_empty()).then(|| d.iter().map(f).sum::<u64>())
    };
    StatusLine {
        schema_version: SCHEMA_VERSION,
        status: status_line(s),
        ram_used_bytes: s.effective.used_bytes,
        ram_total_bytes: s.effective.total_bytes,
        ram_percent: s.effective.percent_used,
        ram_source: s.effective.source,
        vram_used_bytes: sum(|g| g.used_bytes),
        vram_total_bytes: sum(|g| g.total_bytes),
        vram_percent: vram_percent(s),
        pressure: s.pressure.level,
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

    if let Some(pr) = &s.process {
        let _ = writeln!(
            out,
            "{}",
            p.head(&format!("PROCESS  {} (PID {})", pr.name, pr.pid))
        );
        if !pr.cmdline.is_empty() {
            let _ = writeln!(out, "  Command    {}", truncate(&pr.cmdline, 100));
        }
        process_lines(&mut out, pr);
        out.push('\n');
    }

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
    if let Some(cg) = &c.cgroup {
        let _ = writeln!(out, "  cgroup v{}  {}  ({})", cg.version, cg.path, cg.dir);
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
    } else {
        let _ = writeln!(out, "  cgroup     no memory cgroup mounted");
    }
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
            let _ = writeln!(out, "         {}", d.uuid);
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
    if !s.warnings.is_empty() {
        let _ = writeln!(out, "\n{}", p.head("WARNINGS"));
        for w in &s.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn steps(out: &mut String, p: &Painter, steps: &[Step]) {
    let _ = writeln!(out, "Steps:");
    for st in steps {
        let _ = writeln!(out, "  {:<12}: {} ({})", st.name, p.ok(st.ok), st.detail);
    }
}

/// `memwarden trim` report, in the seed helper's layout.
pub fn pageout_report(r: &PageoutReport, opts: RenderOptions) -> String {
    let p = Painter { color: opts.color };
    let mut out = String::new();
    let _ = writeln!(out, "Target PID: {}  Name: {}", r.pid, r.name);
    if !r.cmdline.is_empty() {
        let _ = writeln!(out, "Command   : {}", truncate(&r.cmdline, 100));
    }
    steps(&mut out, &p, &r.steps);
    let _ = writeln!(
        out,
        "RSS   Before: {:>11}   After: {:>11}",
        fb(r.rss_before_bytes),
        fb(r.rss_after_bytes)
    );
    let _ = writeln!(
        out,
        "Anon  Before: {:>11}   After: {:>11}",
        fb(r.rss_anon_before_bytes),
        fb(r.rss_anon_after_bytes)
    );
    let _ = writeln!(
        out,
        "Swap  Before: {:>11}   After: {:>11}",
        fb(r.swap_before_bytes),
        fb(r.swap_after_bytes)
    );
    let _ = writeln!(
        out,
        "Freed       : {}",
        p.head(&format_bytes_signed(r.freed_bytes))
    );
    let _ = writeln!(out, "Duration    : {:.1} ms", r.duration_ms);
    out
}

/// `memwarden purge-cache` report, in the seed's purge_standby layout.
pub fn purge_report(r: &PurgeReport, opts: RenderOptions) -> String {
    let p = Painter { color: opts.color };
    let mut out = String::new();
    steps(&mut out, &p, &r.steps);
    let _ = writeln!(
        out,
        "MemAvailable  Before: {:>11}   After: {:>11}",
        fb(r.available_before_bytes),
        fb(r.available_after_bytes)
    );
    let _ = writeln!(
        out,
        "Page cache    Before: {:>11}   After: {:>11}",
        fb(r.cached_before_bytes),
        fb(r.cached_after_bytes)
    );
    let _ = writeln!(
        out,
        "Cache dropped       : {}",
        p.head(&format_bytes_signed(r.cache_dropped_bytes))
    );
    let _ = writeln!(out, "Duration            : {:.1} ms", r.duration_ms);
    out
}

/// `memwarden reclaim` report.
pub fn reclaim_report(r: &ReclaimReport, _opts: RenderOptions) -> String {
    format!(
        "cgroup     : {}\nRequested  : {}{}\nUsage      Before: {}   After: {}\nReclaimed  : {}\nDuration   : {:.1} ms\n",
        r.cgroup_dir,
        fb(r.requested_bytes),
        if r.fully_reclaimed { "" } else { " (the kernel could not reclaim all of it)" },
        fb(r.usage_before_bytes),
        fb(r.usage_after_bytes),
        format_bytes_signed(r.reclaimed_bytes),
        r.duration_ms
    )
}
