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

/// What torch says of CUDA when it sees no device, to be worded by
/// [`crate::render::no_cuda_reason`]: never a silent empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct CudaAbsence {
    /// torch is imported in this process.
    pub torch_loaded: bool,
    /// Asking torch raised (a broken CUDA setup): the exception, typed.
    pub error: Option<String>,
    /// `torch.__version__`.
    pub torch_version: String,
    /// `torch.version.cuda`: the CUDA version torch was built for (None: not built for it).
    pub built_cuda: Option<String>,
    /// `torch.version.hip`: the ROCm version torch was built for.
    pub built_hip: Option<String>,
    /// `CUDA_VISIBLE_DEVICES`, when set.
    pub visible_devices: Option<String>,
}
