//! The Memory Leak Detector's report (the node's output, `LeakReport.text()`).

use std::fmt::Write;

use crate::model::{LeakSummary, LeakVerdict};
use crate::policy::leak::SiteGrowth;

/// How many node types the report lists.
const SUSPECTS_SHOWN: usize = 8;

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / (1u64 << 20) as f64)
}

/// The Memory Leak Detector's status line: `LEAK 2.50 MB/prompt over 40 prompts`
/// or `no leak over 40 prompts`.
pub fn leak_status_line(leak: bool, slope_bytes_per_prompt: f64, prompts: usize) -> String {
    if leak {
        format!(
            "LEAK {:.2} MB/prompt over {prompts} prompts",
            slope_bytes_per_prompt / (1u64 << 20) as f64
        )
    } else {
        format!("no leak over {prompts} prompts")
    }
}

/// The panel's leak section: the verdict on this process's resident memory so far
/// (None: no prompt finished yet), with its reason.
pub fn leak_feed_text(prompts: usize, verdict: Option<&LeakVerdict>) -> String {
    let Some(v) = verdict else {
        return "Leak detector: attached, no prompt finished yet".into();
    };
    let head = if v.leak { "LEAK suspected" } else { "no leak" };
    format!(
        "Leak detector: {head} after {prompts} prompts, RSS {:+.2} MB/prompt\n{}",
        v.slope_bytes_per_prompt / (1u64 << 20) as f64,
        v.reason
    )
}

/// An allocation site that grew: `file:line +12.0 MB (+3 blocks, 40.0 MB now)`.
pub fn site_line(s: &SiteGrowth) -> String {
    format!(
        "{}:{} +{} (+{} blocks, {} now)",
        s.file,
        s.line,
        mb(s.size_diff as f64),
        s.count_diff,
        mb(s.size as f64)
    )
}

/// An object type whose live count grew: `dict +1200`.
pub fn growing_type_line(name: &str, growth: i64) -> String {
    format!("{name} +{growth}")
}

/// The verdict, each series' reason, the node types (suspects first), then what
/// tracemalloc, gc and ComfyUI's model list saw, and the earlier sessions.
pub fn leak_report_text(r: &LeakSummary) -> String {
    let head = if r.leak {
        "LEAK DETECTED"
    } else {
        "no leak detected"
    };
    let mut t = format!(
        "Memory Leak Detector: {head} ({} prompts, {} warm-up excluded)",
        r.prompts, r.warmup
    );
    for (name, v) in &r.verdicts {
        let flag = if v.leak { "LEAK " } else { "" };
        let _ = write!(t, "\n  {name}: {flag}{}", v.reason);
    }
    if !r.suspects.is_empty() {
        t.push_str("\nMemory left behind per node type (median per execution, total):");
        for s in r.suspects.iter().take(SUSPECTS_SHOWN) {
            let flag = if s.verdict.leak { "SUSPECT " } else { "" };
            let traced = s
                .median_traced_bytes
                .map_or(String::new(), |b| format!(" / {} traced", mb(b)));
            let _ = write!(
                t,
                "\n  {flag}{}: {} runs, median {} RSS{traced} / {} VRAM, total {} RSS; {}",
                s.node_type,
                s.executions,
                mb(s.median_rss_bytes),
                mb(s.median_vram_bytes),
                mb(s.total_rss_bytes as f64),
                s.verdict.reason
            );
        }
    }
    if !r.top_sites.is_empty() {
        t.push_str("\nTop growing allocation sites (tracemalloc):");
        for site in &r.top_sites {
            let _ = write!(t, "\n  {site}");
        }
    }
    if !r.growing_types.is_empty() {
        let _ = write!(
            t,
            "\nObject types that keep growing: {}",
            r.growing_types.join(", ")
        );
    }
    if !r.dead_models.is_empty() {
        let _ = write!(
            t,
            "\nDead models (patcher gone, model still alive): {}",
            r.dead_models.join(", ")
        );
    }
    if r.earlier_sessions > 0 {
        let _ = write!(
            t,
            "\nHistory: {} earlier sessions recorded, {} with a leak flagged",
            r.earlier_sessions, r.earlier_flagged
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_and_types_that_grew() {
        let site = SiteGrowth {
            file: "node.py".into(),
            line: 12,
            size_diff: 12 << 20,
            size: 40 << 20,
            count_diff: 3,
        };
        assert_eq!(
            site_line(&site),
            "node.py:12 +12.0 MB (+3 blocks, 40.0 MB now)"
        );
        assert_eq!(growing_type_line("dict", 1200), "dict +1200");
    }

    #[test]
    fn the_detectors_status_and_feed_lines() {
        let mb = (1u64 << 20) as f64;
        assert_eq!(
            leak_status_line(true, 2.5 * mb, 40),
            "LEAK 2.50 MB/prompt over 40 prompts"
        );
        assert_eq!(
            leak_status_line(false, 2.5 * mb, 40),
            "no leak over 40 prompts"
        );
        assert_eq!(
            leak_feed_text(0, None),
            "Leak detector: attached, no prompt finished yet"
        );
        let v = LeakVerdict {
            leak: true,
            slope_bytes_per_prompt: 1.5 * mb,
            trend: None,
            points: 9,
            reason: "growing".into(),
        };
        assert_eq!(
            leak_feed_text(11, Some(&v)),
            "Leak detector: LEAK suspected after 11 prompts, RSS +1.50 MB/prompt\ngrowing"
        );
        let flat = LeakVerdict {
            leak: false,
            slope_bytes_per_prompt: -0.25 * mb,
            ..v
        };
        assert_eq!(
            leak_feed_text(11, Some(&flat)),
            "Leak detector: no leak after 11 prompts, RSS -0.25 MB/prompt\ngrowing"
        );
    }
    use crate::model::{LeakVerdict, NodeSuspect};

    fn verdict(leak: bool, reason: &str) -> LeakVerdict {
        LeakVerdict {
            leak,
            slope_bytes_per_prompt: 0.0,
            trend: None,
            points: 10,
            reason: reason.into(),
        }
    }

    fn suspect(name: &str, leak: bool, traced: Option<f64>) -> NodeSuspect {
        NodeSuspect {
            node_type: name.into(),
            executions: 12,
            median_rss_bytes: 8.0 * 1048576.0,
            total_rss_bytes: 96 << 20,
            median_vram_bytes: 0.0,
            total_vram_bytes: 0,
            median_traced_bytes: traced,
            total_traced_bytes: None,
            verdict: verdict(leak, "slope 8.00 MB/execution"),
        }
    }

    #[test]
    fn the_report_says_the_verdict_then_where_the_memory_went() {
        let quiet = LeakSummary {
            prompts: 3,
            warmup: 2,
            ..Default::default()
        };
        assert_eq!(
            leak_report_text(&quiet),
            "Memory Leak Detector: no leak detected (3 prompts, 2 warm-up excluded)"
        );
        let mut suspects = vec![suspect("Leaky", true, Some(4.0 * 1048576.0))];
        suspects.extend((0..9).map(|i| suspect(&format!("Fine{i}"), false, None)));
        let r = LeakSummary {
            leak: true,
            prompts: 20,
            warmup: 2,
            verdicts: vec![
                ("rss".into(), verdict(true, "upward trend")),
                ("traced".into(), verdict(false, "no trend")),
            ],
            suspects,
            top_sites: vec!["leaky.py:3: +80.0 MB".into()],
            growing_types: vec!["dict".into(), "Tensor".into()],
            dead_models: vec!["SDXL".into()],
            earlier_sessions: 4,
            earlier_flagged: 1,
        };
        let text = leak_report_text(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Memory Leak Detector: LEAK DETECTED (20 prompts, 2 warm-up excluded)"
        );
        assert_eq!(
            lines[1..3],
            ["  rss: LEAK upward trend", "  traced: no trend"]
        );
        assert_eq!(
            lines[4],
            "  SUSPECT Leaky: 12 runs, median 8.0 MB RSS / 4.0 MB traced / 0.0 MB VRAM, \
             total 96.0 MB RSS; slope 8.00 MB/execution"
        );
        assert!(lines[5].starts_with("  Fine0: 12 runs, median 8.0 MB RSS / 0.0 MB VRAM"));
        // Eight node types at most.
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains(" runs, median "))
                .count(),
            8
        );
        assert_eq!(
            lines[lines.len() - 5..],
            [
                "Top growing allocation sites (tracemalloc):",
                "  leaky.py:3: +80.0 MB",
                "Object types that keep growing: dict, Tensor",
                "Dead models (patcher gone, model still alive): SDXL",
                "History: 4 earlier sessions recorded, 1 with a leak flagged",
            ]
        );
    }
}
