//! A cleanup's report (`memwarden.cleanup`, the Memory Cleanup and Memory Cleaner
//! nodes, `POST /memwarden/cleanup`): its steps, then CLEANUP RESULTS.

use std::fmt::Write;

use crate::model::{CleanupSummary, GpuDevice, HelperResult, PageoutAttempt, TorchCacheSummary};

const GB: f64 = (1u64 << 30) as f64;

/// `freed 1.234 GB` for a measured change in bytes (positive = freed). Growth reads
/// `freed 0.000 GB (grew 0.012 GB)`; a change too small to show at three decimals
/// reads `freed 0.000 GB`, never `-0.000`.
pub fn freed_phrase(freed_bytes: i64) -> String {
    let gb = freed_bytes as f64 / GB;
    let shown = format!("{gb:.3}");
    if shown == "0.000" || shown == "-0.000" {
        "freed 0.000 GB".into()
    } else if gb < 0.0 {
        format!("freed 0.000 GB (grew {:.3} GB)", -gb)
    } else {
        format!("freed {shown} GB")
    }
}

/// One line for the cleanup's step 4: the calls made and reserved VRAM before ->
/// after, or why there was no CUDA device; then the peak-stats reset and the pinned
/// host cache.
pub fn torch_cache_detail(r: &TorchCacheSummary) -> String {
    let mut parts = Vec::new();
    if r.no_cuda.is_empty() {
        parts.push(format!(
            "{}: reserved {:.3} -> {:.3} GB",
            r.calls.join(" + "),
            r.reserved_before.iter().sum::<u64>() as f64 / GB,
            r.reserved_after.iter().sum::<u64>() as f64 / GB
        ));
        if r.peak_stats_reset {
            parts.push("peak stats reset".into());
        }
    } else {
        parts.push(format!(
            "no CUDA device: {}; device caches not applicable",
            r.no_cuda
        ));
    }
    if !r.host_note.is_empty() {
        parts.push(r.host_note.clone());
    }
    parts.join("; ")
}

/// The VRAM Optimizer's lines: per device, reserved before -> after (and the
/// driver's free of total when measured), each device named by its NVML index and
/// UUID where `gpus` (a snapshot's) knows its CUDA ordinal; then the total. With no
/// CUDA device, why.
pub fn torch_cache_lines(r: &TorchCacheSummary, gpus: &[GpuDevice]) -> Vec<String> {
    if !r.no_cuda.is_empty() {
        return vec![format!(
            "no CUDA device: {}; nothing to optimize",
            r.no_cuda
        )];
    }
    let mut lines = Vec::new();
    for (i, d) in r.devices.iter().enumerate() {
        let named = gpus
            .iter()
            .find(|g| g.cuda_ordinal == Some(*d))
            .map_or(String::new(), |g| {
                format!(" (NVML {}, {})", g.index, g.uuid)
            });
        let at = |v: &[u64]| v.get(i).copied().unwrap_or(0) as f64 / GB;
        let mut line = format!(
            "GPU cuda:{d}{named}: reserved {:.3} -> {:.3} GB",
            at(&r.reserved_before),
            at(&r.reserved_after)
        );
        if let Some((free, total)) = r.free_total.get(i) {
            let _ = write!(
                line,
                "; free {:.2} of {:.2} GB",
                *free as f64 / GB,
                *total as f64 / GB
            );
        }
        lines.push(line);
    }
    lines.push(format!("reserved VRAM: {}", freed_phrase(r.freed_bytes())));
    lines
}

/// How a user sets up the external helper so that it can do what this process
/// could not.
pub const HELPER_SETUP: &str = "to page out with CAP_SYS_NICE, grant a native memwarden binary \
    the capability (`sudo setcap cap_sys_nice+ep /path/to/memwarden`) and set \
    MEMWARDEN_HELPER=/path/to/memwarden for this process";

/// A pageout of this process in parts of the OS-level trim's line (joined with
/// "; " by the step).
pub fn pageout_attempt(a: &PageoutAttempt) -> Vec<String> {
    match a {
        PageoutAttempt::PagedOut {
            rss_before_bytes,
            rss_after_bytes,
            moved_bytes,
            swap_check,
        } => vec![format!(
            "pageout: RSS {:.3} -> {:.3} GB, {:.3} GB moved to swap ({swap_check})",
            *rss_before_bytes as f64 / GB,
            *rss_after_bytes as f64 / GB,
            *moved_bytes as f64 / GB
        )],
        PageoutAttempt::SwapRefused { said } => vec![format!("Skipping pageout: {said}")],
        PageoutAttempt::Failed { error } => vec![format!("pageout failed: {error}")],
        PageoutAttempt::HelperUnusable { refused, why } => vec![format!(
            "pageout failed in-process ({refused}); external helper not run: {why}"
        )],
        PageoutAttempt::Helper {
            refused,
            helper,
            own_privileges,
            result,
        } => {
            let intro = if *own_privileges {
                format!(
                    "pageout failed in-process ({refused}); using external helper {helper} \
                     (MEMWARDEN_HELPER is not set, so it runs with this process's own privileges \
                     and cannot do what this process could not; {HELPER_SETUP})"
                )
            } else {
                format!(
                    "pageout failed in-process ({refused}); using external helper {helper} \
                     (MEMWARDEN_HELPER)"
                )
            };
            let outcome = match result {
                HelperResult::PagedOut { moved_bytes } => format!(
                    "external helper {helper} paged out {:.3} GB to swap",
                    *moved_bytes as f64 / GB
                ),
                // The helper is the memwarden command: its message names --force;
                // its verdict, when it sent one, is worded in the caller's terms.
                HelperResult::SwapRefused {
                    verdict_text: Some(v),
                    ..
                } => format!("Skipping pageout (external helper): refused by the swap check: {v}"),
                HelperResult::SwapRefused {
                    verdict_text: None,
                    error,
                } => format!("Skipping pageout (external helper): {error}"),
                HelperResult::Failed { error } => {
                    format!("external helper {helper} failed: {error}")
                }
            };
            vec![intro, outcome]
        }
    }
}

fn gb(bytes: i64) -> f64 {
    bytes as f64 / GB
}

/// The report: one line a step, then the figures before and after.
pub fn cleanup_text(r: &CleanupSummary) -> String {
    let mut t = format!("memwarden cleanup ({})\n", r.mode);
    for s in &r.steps {
        let _ = writeln!(
            t,
            "[{}/7] {}: {} ({:.0} ms)",
            s.index, s.name, s.detail, s.duration_ms
        );
    }
    t.push_str("\nCLEANUP RESULTS:\n");
    let _ = writeln!(
        t,
        "  Process RAM: {:.3} GB -> {:.3} GB ({})",
        gb(r.process_rss_before_bytes),
        gb(r.process_rss_after_bytes),
        freed_phrase(r.process_freed_bytes())
    );
    let source = if r.ram_source == "cgroup" {
        "container limit"
    } else {
        "host"
    };
    let _ = writeln!(
        t,
        "  System RAM : {:.3} GB -> {:.3} GB of {:.2} GB ({source})",
        gb(r.ram_used_before_bytes),
        gb(r.ram_used_after_bytes),
        gb(r.ram_total_bytes)
    );
    for (drive, free) in &r.page_file_drives {
        let figure = free.map_or("unreadable".to_string(), |f| {
            format!("{:.1} GB", f as f64 / GB)
        });
        let name = drive.trim_end_matches('\\');
        let _ = writeln!(t, "  {name:<2} free   : {figure} (holds a page file)");
    }
    if let Some(p) = &r.privileges {
        let _ = writeln!(t, "  Privileges : {p}");
    }
    match r.vram_used_before_bytes {
        None => t.push_str("  VRAM       : n/a (no GPU visible)\n"),
        Some(before) => {
            let _ = writeln!(
                t,
                "  VRAM       : {:.3} GB -> {:.3} GB ({})",
                gb(before),
                gb(r.vram_used_after_bytes.unwrap_or(0)),
                freed_phrase(r.vram_freed_bytes())
            );
        }
    }
    let _ = writeln!(
        t,
        "  Total      : {} (process RAM + VRAM)",
        freed_phrase(r.process_freed_bytes() + r.vram_freed_bytes())
    );
    let _ = write!(t, "  Time       : {:.2} s", r.duration_s);
    if r.deferred_trim_scheduled {
        t.push_str(
            "\n  Cached node outputs are dropped after the current prompt; the heap is trimmed then.",
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CleanupStepLine;

    const GIB: i64 = 1 << 30;

    #[test]
    fn torch_caches_per_device_named_by_nvml_where_known() {
        let none = TorchCacheSummary {
            no_cuda: "torch 2.5 is built without CUDA".into(),
            host_note: "pinned host cache: nothing held".into(),
            ..Default::default()
        };
        assert_eq!(
            torch_cache_detail(&none),
            "no CUDA device: torch 2.5 is built without CUDA; device caches not applicable; \
             pinned host cache: nothing held"
        );
        assert_eq!(
            torch_cache_lines(&none, &[]),
            ["no CUDA device: torch 2.5 is built without CUDA; nothing to optimize"]
        );
        let g = GIB as u64;
        let two = TorchCacheSummary {
            devices: vec![0, 1],
            reserved_before: vec![3 * g, g],
            reserved_after: vec![g, g],
            free_total: vec![(70 * g, 80 * g), (79 * g, 80 * g)],
            calls: vec!["empty_cache".into(), "ipc_collect".into()],
            peak_stats_reset: true,
            ..Default::default()
        };
        assert_eq!(
            torch_cache_detail(&two),
            "empty_cache + ipc_collect: reserved 4.000 -> 2.000 GB; peak stats reset"
        );
        let mut gpu = crate::policy::figures::tests::gpu(3, 1, 80);
        gpu.cuda_ordinal = Some(1);
        gpu.uuid = "GPU-abc".into();
        assert_eq!(
            torch_cache_lines(&two, &[gpu]),
            [
                "GPU cuda:0: reserved 3.000 -> 1.000 GB; free 70.00 of 80.00 GB",
                "GPU cuda:1 (NVML 3, GPU-abc): reserved 1.000 -> 1.000 GB; free 79.00 of 80.00 GB",
                "reserved VRAM: freed 2.000 GB",
            ]
        );
    }

    #[test]
    fn a_pageout_in_process_or_through_the_helper_in_parts_of_the_line() {
        let g = GIB as u64;
        let inproc = PageoutAttempt::PagedOut {
            rss_before_bytes: 2 * g,
            rss_after_bytes: g,
            moved_bytes: g / 2,
            swap_check: "free swap 8.00 GiB covers it".into(),
        };
        assert!(inproc.ok());
        assert_eq!(
            pageout_attempt(&inproc),
            ["pageout: RSS 2.000 -> 1.000 GB, 0.500 GB moved to swap (free swap 8.00 GiB covers it)"]
        );
        let skipped = PageoutAttempt::SwapRefused {
            said: "free swap is short".into(),
        };
        assert!(skipped.ok());
        assert_eq!(
            pageout_attempt(&skipped),
            ["Skipping pageout: free swap is short"]
        );
        let failed = PageoutAttempt::Failed {
            error: "needs CAP_SYS_NICE".into(),
        };
        assert!(!failed.ok());
        assert_eq!(
            pageout_attempt(&failed),
            ["pageout failed: needs CAP_SYS_NICE"]
        );
        let unusable = PageoutAttempt::HelperUnusable {
            refused: "no".into(),
            why: "MEMWARDEN_HELPER='x': no such file".into(),
        };
        assert!(!unusable.ok());
        assert_eq!(
            pageout_attempt(&unusable),
            ["pageout failed in-process (no); external helper not run: MEMWARDEN_HELPER='x': no such file"]
        );
        let helper = |own: bool, result: HelperResult| PageoutAttempt::Helper {
            refused: "no".into(),
            helper: "/opt/memwarden".into(),
            own_privileges: own,
            result,
        };
        let moved = helper(false, HelperResult::PagedOut { moved_bytes: g });
        assert!(moved.ok());
        assert_eq!(
            pageout_attempt(&moved),
            [
                "pageout failed in-process (no); using external helper /opt/memwarden (MEMWARDEN_HELPER)",
                "external helper /opt/memwarden paged out 1.000 GB to swap",
            ]
        );
        let own = pageout_attempt(&helper(
            true,
            HelperResult::Failed {
                error: "it broke".into(),
            },
        ));
        assert!(own[0].contains(
            "(MEMWARDEN_HELPER is not set, so it runs with this process's own privileges"
        ));
        assert!(
            own[0].ends_with(&format!("; {HELPER_SETUP})")),
            "{}",
            own[0]
        );
        assert_eq!(own[1], "external helper /opt/memwarden failed: it broke");
        assert!(!helper(true, HelperResult::Failed { error: "e".into() }).ok());
        let refused = |v: Option<&str>| {
            let a = helper(
                false,
                HelperResult::SwapRefused {
                    verdict_text: v.map(Into::into),
                    error: "old words".into(),
                },
            );
            assert!(a.ok());
            pageout_attempt(&a)[1].clone()
        };
        assert_eq!(
            refused(Some("free swap 1 B")),
            "Skipping pageout (external helper): refused by the swap check: free swap 1 B"
        );
        assert_eq!(
            refused(None),
            "Skipping pageout (external helper): old words"
        );
        assert!(HELPER_SETUP.contains(
            "(`sudo setcap cap_sys_nice+ep /path/to/memwarden`) and set MEMWARDEN_HELPER="
        ));
    }

    #[test]
    fn freed_never_reads_minus_zero_and_growth_says_so() {
        assert_eq!(freed_phrase(0), "freed 0.000 GB");
        assert_eq!(freed_phrase(-100), "freed 0.000 GB");
        assert_eq!(freed_phrase(GIB + GIB / 4), "freed 1.250 GB");
        assert_eq!(freed_phrase(-(GIB / 80)), "freed 0.000 GB (grew 0.012 GB)");
    }

    #[test]
    fn the_report_lists_each_step_then_the_results() {
        let r = CleanupSummary {
            mode: "aggressive".into(),
            steps: vec![CleanupStepLine {
                index: 5,
                name: "OS-level trim".into(),
                detail: "malloc_trim: RSS 1.000 -> 0.900 GB".into(),
                duration_ms: 12.4,
            }],
            process_rss_before_bytes: 2 * GIB,
            process_rss_after_bytes: GIB,
            ram_used_before_bytes: 8 * GIB,
            ram_used_after_bytes: 7 * GIB,
            ram_total_bytes: 16 * GIB,
            ram_source: "cgroup".into(),
            vram_used_before_bytes: Some(3 * GIB),
            vram_used_after_bytes: Some(GIB),
            duration_s: 1.234,
            deferred_trim_scheduled: true,
            page_file_drives: vec![
                ("C:\\".into(), Some((61 << 30) + (1 << 30) / 5)),
                ("D:\\".into(), None),
            ],
            privileges: Some("SeIncreaseQuotaPrivilege=YES".into()),
        };
        assert_eq!(
            cleanup_text(&r),
            "memwarden cleanup (aggressive)\n\
             [5/7] OS-level trim: malloc_trim: RSS 1.000 -> 0.900 GB (12 ms)\n\
             \n\
             CLEANUP RESULTS:\n  \
             Process RAM: 2.000 GB -> 1.000 GB (freed 1.000 GB)\n  \
             System RAM : 8.000 GB -> 7.000 GB of 16.00 GB (container limit)\n  \
             C: free   : 61.2 GB (holds a page file)\n  \
             D: free   : unreadable (holds a page file)\n  \
             Privileges : SeIncreaseQuotaPrivilege=YES\n  \
             VRAM       : 3.000 GB -> 1.000 GB (freed 2.000 GB)\n  \
             Total      : freed 3.000 GB (process RAM + VRAM)\n  \
             Time       : 1.23 s\n  \
             Cached node outputs are dropped after the current prompt; the heap is trimmed then."
        );
        let host = CleanupSummary {
            mode: "balanced".into(),
            ram_source: "host".into(),
            ..Default::default()
        };
        let text = cleanup_text(&host);
        assert!(
            text.contains("(host)\n  VRAM       : n/a (no GPU visible)\n"),
            "{text}"
        );
        assert!(text.ends_with("  Time       : 0.00 s"), "{text}");
    }
}
