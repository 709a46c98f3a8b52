//! Plain-text reports. The CLI prints these and the ComfyUI nodes and the Python
//! API show them, so the wording lives in one place. Colour is optional ANSI, off
//! unless asked for. Rendering only formats: every figure it shows comes from the
//! model or from [`crate::policy::figures`].

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use crate::model::*;
use crate::policy::{figures, pressure};
use crate::units::format_gb_short;

mod check;
mod cleanup;
mod clock;
pub mod headroom;
mod leak;
mod manager;
pub mod nodes;
mod reports;
pub mod swap;

pub use check::check_report;
pub use cleanup::{
    cleanup_refused, cleanup_text, freed_phrase, heap_trim_detail, heap_trim_unavailable,
    helper_result, helper_status, helper_unusable, no_cuda_reason, pageout_attempt,
    privileges_note, skip_text, step_done, step_failed, step_line, torch_cache_detail,
    torch_cache_lines, HELPER_SETUP,
};
pub use leak::{growing_type_line, leak_feed_text, leak_report_text, leak_status_line, site_line};
pub use manager::{fault_text, history_text, manager_status_text, stats_text};
pub use reports::{pageout_report, purge_report, reclaim_report};

/// Rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    pub color: bool,
}

pub(crate) struct Painter {
    pub(crate) color: bool,
}

impl Painter {
    pub(crate) fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
    pub(crate) fn head(&self, t: &str) -> String {
        self.paint(Style::new().bold(), t)
    }
    pub(crate) fn level(&self, l: PressureLevel, t: &str) -> String {
        let c = match l {
            PressureLevel::None | PressureLevel::Low => AnsiColor::Green,
            PressureLevel::Moderate => AnsiColor::Yellow,
            PressureLevel::High | PressureLevel::Critical => AnsiColor::Red,
        };
        self.paint(c.on_default(), t)
    }
    pub(crate) fn percent(&self, p: f64) -> String {
        let l = pressure::level_from_percent(p);
        self.level(l, &format!("{p:.1}%"))
    }
    pub(crate) fn ok(&self, ok: bool) -> String {
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
    let one = |d: &GpuDevice| {
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

/// [`status_line`] with the numbers behind it.
pub fn status(s: &Snapshot) -> StatusLine {
    let vram = figures::vram_totals(s);
    StatusLine {
        schema_version: SCHEMA_VERSION,
        status: status_line(s),
        ram_used_bytes: s.effective.used_bytes,
        ram_total_bytes: s.effective.total_bytes,
        ram_percent: s.effective.percent_used,
        ram_source: s.effective.source,
        vram_used_bytes: vram.map(|v| v.0),
        vram_total_bytes: vram.map(|v| v.1),
        vram_percent: figures::vram_percent(s),
        pressure: s.pressure.level,
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub(crate) fn steps(out: &mut String, p: &Painter, steps: &[Step]) {
    let _ = writeln!(out, "Steps:");
    for st in steps {
        let _ = writeln!(out, "  {:<12}: {} ({})", st.name, p.ok(st.ok), st.detail);
    }
}
