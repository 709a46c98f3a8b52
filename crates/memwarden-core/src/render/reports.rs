//! The action reports (`memwarden trim`, `purge-cache`, `reclaim`).

use std::fmt::Write;

use crate::model::{PageoutReport, PurgeReport, ReclaimReport};
use crate::units::{format_bytes as fb, format_bytes_signed};

use super::{steps, truncate, Painter, RenderOptions};

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
