//! A cleanup's report: the cleanup runs in the Python package, inside ComfyUI's
//! process (torch, gc, ComfyUI's model management), measures each step and the
//! memory before and after, and hands the figures here to be worded once
//! ([`crate::render::cleanup_text`]).

use serde::{Deserialize, Serialize};

/// One step of a cleanup, as its report lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CleanupStepLine {
    /// Its number in the pipeline (`[5/7]`).
    pub index: u32,
    pub name: String,
    /// What it did or why it was skipped, in one line.
    pub detail: String,
    pub duration_ms: f64,
}

/// What a cleanup did, with the figures measured before and after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CleanupSummary {
    /// The mode it ran in (monitor, conservative, balanced, aggressive).
    pub mode: String,
    pub steps: Vec<CleanupStepLine>,
    pub process_rss_before_bytes: i64,
    pub process_rss_after_bytes: i64,
    pub ram_used_before_bytes: i64,
    pub ram_used_after_bytes: i64,
    pub ram_total_bytes: i64,
    /// "cgroup" when a container limit binds, else "host".
    pub ram_source: String,
    /// None: no GPU visible.
    pub vram_used_before_bytes: Option<i64>,
    pub vram_used_after_bytes: Option<i64>,
    pub duration_s: f64,
    /// The cached node outputs are dropped (and the heap trimmed) after the
    /// running prompt.
    pub deferred_trim_scheduled: bool,
    /// Windows: each drive holding a page file and its free space (None when
    /// unreadable). Empty on Linux.
    pub page_file_drives: Vec<(String, Option<u64>)>,
    /// Windows: the privileges the trim asked for, each granted or not.
    pub privileges: Option<String>,
}

impl CleanupSummary {
    pub fn process_freed_bytes(&self) -> i64 {
        self.process_rss_before_bytes - self.process_rss_after_bytes
    }

    /// RAM freed against the binding limit (the group's usage, else the host's).
    pub fn ram_freed_bytes(&self) -> i64 {
        self.ram_used_before_bytes - self.ram_used_after_bytes
    }

    /// What the cleanup freed: the process's RAM plus VRAM, as measured; negative
    /// when they grew in total (weights moved from VRAM to RAM).
    pub fn freed_bytes(&self) -> i64 {
        self.process_freed_bytes() + self.vram_freed_bytes()
    }

    /// VRAM freed (0 without a GPU figure on both sides).
    pub fn vram_freed_bytes(&self) -> i64 {
        match (self.vram_used_before_bytes, self.vram_used_after_bytes) {
            (Some(b), Some(a)) => b - a,
            _ => 0,
        }
    }
}

/// What a step of a cleanup did, in figures measured in-process (the Python
/// package), to be worded by [`crate::render::step_done`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "done", rename_all = "snake_case")]
pub enum StepDone {
    /// ComfyUI unloaded `models` model(s); its pinned host memory before and after
    /// (None: this ComfyUI does not account for it).
    Unloaded {
        models: u64,
        pinned_before_bytes: Option<u64>,
        pinned_after_bytes: Option<u64>,
    },
    /// ComfyUI was asked to drop its cached node outputs after the current prompt.
    DropRequested,
    /// A garbage-collection pass collected `objects`.
    Collected { objects: u64 },
    /// `devices` CUDA device(s) finished their queued work.
    Synchronized { devices: u64 },
    /// The page cache was dropped.
    CacheDropped { bytes: u64 },
    /// After ComfyUI dropped its cached outputs, the heap was returned to the OS.
    DeferredTrim {
        rss_before_bytes: u64,
        rss_after_bytes: u64,
    },
    /// The deferred trim failed.
    DeferredTrimFailed { error: String },
}
