//! The action reports (`memwarden trim`, `purge-cache`, `reclaim`).

use std::fmt::Write;

use crate::model::{PageoutReport, PurgeReport, ReclaimReport};
use crate::units::{format_bytes as fb, format_bytes_signed};

use super::{steps, truncate, Painter, RenderOptions};

/// `Label  Before: x   After: y` lines, then the total and the duration, with the
/// labels padded to `width`.
fn before_after(
    out: &mut String,
    p: &Painter,
    width: usize,
    rows: &[(&str, u64, u64)],
    total: (&str, i64),
    duration_ms: f64,
) {
    for (label, before, after) in rows {
        let _ = writeln!(
            out,
            "{label:<width$}Before: {:>11}   After: {:>11}",
            fb(*before),
            fb(*after)
        );
    }
    let pad = width + "Before".len();
    let _ = writeln!(
        out,
        "{:<pad$}: {}",
        total.0,
        p.head(&format_bytes_signed(total.1))
    );
    let _ = writeln!(out, "{:<pad$}: {duration_ms:.1} ms", "Duration");
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
    let rows = [
        ("RSS", r.rss_before_bytes, r.rss_after_bytes),
        ("Anon", r.rss_anon_before_bytes, r.rss_anon_after_bytes),
        ("Swap", r.swap_before_bytes, r.swap_after_bytes),
    ];
    before_after(
        &mut out,
        &p,
        6,
        &rows,
        ("Freed", r.freed_bytes),
        r.duration_ms,
    );
    out
}

/// `memwarden purge-cache` report, in the seed's purge_standby layout.
pub fn purge_report(r: &PurgeReport, opts: RenderOptions) -> String {
    let p = Painter { color: opts.color };
    let mut out = String::new();
    steps(&mut out, &p, &r.steps);
    let rows = [
        (
            "MemAvailable",
            r.available_before_bytes,
            r.available_after_bytes,
        ),
        ("Page cache", r.cached_before_bytes, r.cached_after_bytes),
    ];
    let total = ("Cache dropped", r.cache_dropped_bytes);
    before_after(&mut out, &p, 14, &rows, total, r.duration_ms);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PageoutAdvice, Step, SwapFinding, SwapVerdict, SCHEMA_VERSION};

    #[test]
    fn action_reports_keep_the_seed_layout() {
        let r = PageoutReport {
            schema_version: SCHEMA_VERSION,
            pid: 42,
            name: "python3".into(),
            cmdline: String::new(),
            advice: PageoutAdvice::Pageout,
            steps: vec![Step::ok("open", "pidfd 3")],
            ranges_advised: 1,
            bytes_advised: 1 << 20,
            ranges_skipped: 0,
            rss_before_bytes: 2 << 20,
            rss_after_bytes: 1 << 20,
            rss_anon_before_bytes: 1 << 20,
            rss_anon_after_bytes: 0,
            swap_before_bytes: 0,
            swap_after_bytes: 1 << 20,
            freed_bytes: 1 << 20,
            duration_ms: 1.25,
            swap_check: SwapVerdict {
                allowed: true,
                forced: false,
                swap_free_bytes: 0,
                needed_bytes: 0,
                margin_bytes: 0,
                finding: SwapFinding::ColdOnly,
                allowance: None,
                commit: None,
                reason: String::new(),
            },
        };
        let t = pageout_report(&r, RenderOptions::default());
        assert!(
            t.contains("\nRSS   Before:    2.00 MiB   After:    1.00 MiB\n"),
            "{t}"
        );
        assert!(
            t.contains("\nSwap  Before:         0 B   After:    1.00 MiB\n"),
            "{t}"
        );
        assert!(
            t.contains("\nFreed       : 1.00 MiB\nDuration    : 1.2 ms\n"),
            "{t}"
        );
        let p = PurgeReport {
            schema_version: SCHEMA_VERSION,
            steps: Vec::new(),
            available_before_bytes: 1 << 30,
            available_after_bytes: 2 << 30,
            cached_before_bytes: 2 << 30,
            cached_after_bytes: 1 << 30,
            free_before_bytes: 0,
            free_after_bytes: 0,
            cache_dropped_bytes: 1 << 30,
            duration_ms: 10.0,
        };
        let t = purge_report(&p, RenderOptions::default());
        assert!(
            t.contains("\nPage cache    Before:    2.00 GiB   After:    1.00 GiB\n"),
            "{t}"
        );
        assert!(
            t.ends_with("Cache dropped       : 1.00 GiB\nDuration            : 10.0 ms\n"),
            "{t}"
        );
    }
}
