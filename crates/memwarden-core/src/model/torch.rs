//! What releasing torch's CUDA caches did (the cleanup's step 4, the VRAM
//! Optimizer): torch runs in the Python package's process, which measures each
//! device's reserved memory before and after; [`crate::render::torch_cache_detail`]
//! and [`crate::render::torch_cache_lines`] word it.

use serde::{Deserialize, Serialize};

/// Per CUDA device (torch's ordinals), in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TorchCacheSummary {
    /// The CUDA ordinals it ran on.
    pub devices: Vec<u32>,
    /// Reserved (cached) memory of each device before and after.
    pub reserved_before: Vec<u64>,
    pub reserved_after: Vec<u64>,
    /// The driver's free and total memory of each device, when asked for.
    pub free_total: Vec<(u64, u64)>,
    /// The calls made: empty_cache, ipc_collect, synchronize.
    pub calls: Vec<String>,
    pub peak_stats_reset: bool,
    /// What happened to the pinned host cache, if it was asked for.
    pub host_note: String,
    /// Why there was no CUDA device ("" when there was one).
    pub no_cuda: String,
}

impl TorchCacheSummary {
    /// Reserved VRAM released, over the devices it ran on.
    pub fn freed_bytes(&self) -> i64 {
        self.reserved_before.iter().sum::<u64>() as i64
            - self.reserved_after.iter().sum::<u64>() as i64
    }
}
