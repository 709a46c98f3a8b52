//! The Memory Leak Detector's figures and findings: the trend test of a series,
//! the verdict on it, what one node execution left behind, what one node type
//! left behind ([`crate::policy::leak`] decides them), and the detector's report
//! ([`crate::render::leak_report_text`] words it).

use serde::{Deserialize, Serialize};

/// The Mann–Kendall statistics of one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrendTest {
    /// Points tested.
    pub n: usize,
    /// Sum of signs of all later-minus-earlier pairs.
    pub s: i64,
    /// Variance of S under no trend, corrected for ties.
    pub var_s: f64,
    /// Continuity-corrected standard score.
    pub z: f64,
    /// Two-sided p-value (normal approximation).
    pub p: f64,
}

/// The verdict on one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeakVerdict {
    /// A leak: significant upward trend and slope ≥ the minimum.
    pub leak: bool,
    /// Theil–Sen slope, bytes per prompt (0 when too few points).
    pub slope_bytes_per_prompt: f64,
    /// The trend test; None when there were too few points.
    pub trend: Option<TrendTest>,
    /// Points used after warm-up.
    pub points: usize,
    /// Why, in words.
    pub reason: String,
}

/// Memory one node execution left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeRecord {
    /// The node's class_type.
    pub node_type: String,
    /// Index of the prompt it ran in (counted by the caller; warm-up uses it).
    pub prompt_index: usize,
    /// Process RSS after minus before, bytes.
    pub delta_rss: i64,
    /// This process's VRAM (torch allocated) after minus before, bytes.
    pub delta_vram: i64,
    /// tracemalloc's traced size after minus before, bytes, when tracing.
    pub delta_traced: Option<i64>,
}

impl NodeRecord {
    /// What the execution retained in host memory: the traced delta when known
    /// (exact, and immune to the allocator handing one node's freed memory to the
    /// next), else the RSS delta.
    pub fn retained_host(&self) -> i64 {
        self.delta_traced.unwrap_or(self.delta_rss)
    }
}

/// What one node type left behind over its executions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeSuspect {
    pub node_type: String,
    /// Executions counted (after warm-up).
    pub executions: usize,
    /// Median retained RSS per execution, bytes.
    pub median_rss_bytes: f64,
    /// Sum of retained RSS, bytes.
    pub total_rss_bytes: i64,
    /// Median retained VRAM per execution, bytes.
    pub median_vram_bytes: f64,
    /// Sum of retained VRAM, bytes.
    pub total_vram_bytes: i64,
    /// Median traced (tracemalloc) bytes retained per execution, when traced.
    pub median_traced_bytes: Option<f64>,
    /// Sum of traced bytes retained, when every execution was traced.
    pub total_traced_bytes: Option<i64>,
    /// Verdict on the cumulative retained host memory (traced when every execution
    /// was traced, else RSS) + VRAM over this type's executions (slope = bytes per
    /// execution).
    pub verdict: LeakVerdict,
}

/// The detector's findings at one moment (`LeakReport` of the Python package, which
/// collects the figures in ComfyUI's process): each series' verdict, the node types
/// ranked, and what tracemalloc and gc saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeakSummary {
    /// Any series leaks.
    pub leak: bool,
    /// Prompts seen.
    pub prompts: usize,
    /// Prompts excluded at the start.
    pub warmup: usize,
    /// Each series (rss, uss, traced, vram ...) and its verdict, in order.
    pub verdicts: Vec<(String, LeakVerdict)>,
    /// Node types, suspects first.
    pub suspects: Vec<NodeSuspect>,
    /// The allocation sites that grew most (tracemalloc), one line each.
    pub top_sites: Vec<String>,
    /// Object types whose count keeps growing.
    pub growing_types: Vec<String>,
    /// Models whose patcher is gone while the model is still alive.
    pub dead_models: Vec<String>,
    /// Earlier sessions recorded, and how many of them flagged a leak.
    pub earlier_sessions: usize,
    pub earlier_flagged: usize,
}
