//! The headroom guard's data: how far the process is from the memory limit that
//! binds it, what the watch woke for, what a model load is predicted to need, and
//! a refusal with its figures (each face words it with its own names).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// ComfyUI's settings file names the guard's settings so (the panel's settings
/// dialog writes them; `web/js/memwarden.js` declares them).
pub const SETTING_GUARD: &str = "memwarden.Guard.Enabled";
pub const SETTING_RESERVE: &str = "memwarden.Guard.ReserveMB";
pub const SETTING_RAM_FIGURES: &str = "memwarden.Guard.ContainerRamFigures";
/// The environment switches that turn the guard, and the RAM figures it gives
/// ComfyUI, off (`=0`).
pub const ENV_GUARD: &str = "MEMWARDEN_GUARD";
pub const ENV_RAM_FIGURES: &str = "MEMWARDEN_COMFY_RAM_FIGURES";

/// Which kind of limit binds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// cgroup v1 memory.limit_in_bytes or v2 memory.max: past it the kernel reclaims,
    /// then OOM-kills inside the group.
    CgroupMax,
    /// cgroup v2 memory.high below memory.max: past it the group is throttled.
    CgroupHigh,
    /// cgroup v1 memory.memsw.limit_in_bytes: memory and swap together.
    CgroupMemsw,
    /// The host's RAM (MemAvailable): no group limit is tighter.
    Host,
    /// Windows: the job object's JobMemoryLimit or ProcessMemoryLimit (commit charge).
    Job,
    /// Windows: the system commit limit (RAM plus page files).
    Commit,
}

impl LimitKind {
    pub fn word(self) -> &'static str {
        match self {
            LimitKind::CgroupMax => "cgroup_max",
            LimitKind::CgroupHigh => "cgroup_high",
            LimitKind::CgroupMemsw => "cgroup_memsw",
            LimitKind::Host => "host",
            LimitKind::Job => "job",
            LimitKind::Commit => "commit",
        }
    }
}

/// One reading of the limit that binds and how much is left under it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Headroom {
    pub kind: LimitKind,
    /// Where the limit is set, in words: the file and group (`memory.max of
    /// /sys/fs/cgroup/comfy`), `host RAM`, `job object`, `system commit limit`.
    pub set_at: String,
    pub limit_bytes: u64,
    /// What counts against the limit now: a group's usage minus the file cache the
    /// kernel drops first (inactive file); the host's total minus MemAvailable; on
    /// Windows the commit charge.
    pub used_bytes: u64,
    /// What can still be allocated before the limit: limit - used, and never more
    /// than the host's MemAvailable.
    pub headroom_bytes: u64,
    /// When it was read: CLOCK_MONOTONIC (Linux) / QueryPerformanceCounter
    /// (Windows), in nanoseconds, comparable with Python's `time.monotonic_ns()`.
    pub at_ns: u64,
}

/// Why `HeadroomWatch::wait` returned.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WakeReason {
    /// Headroom fell below the reserve.
    Crossed,
    /// The binding limit (its value, or which one binds) changed.
    LimitChanged,
    /// The timeout passed with headroom above the reserve.
    Timeout,
}

/// What the headroom watch woke for, with the reading that decided it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct HeadroomWake {
    pub reason: WakeReason,
    pub reading: Headroom,
    /// The reserve judged against (bytes under the limit to keep free).
    pub reserve_bytes: u64,
    /// For `crossed`: when headroom is estimated to have fallen through the reserve
    /// (between the last reading above it and this one, at the rate seen between
    /// them), same clock as `reading.at_ns`.
    pub crossed_at_ns: Option<u64>,
    /// What told the watch: `kernel event (...)` or `paced read`.
    pub woken_by: String,
}

/// What a model component is, for the dtype it is loaded at.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// The diffusion model (UNet, DiT).
    Diffusion,
    /// Text encoders (CLIP, T5...).
    TextEncoder,
    /// The VAE.
    Vae,
    /// Anything else (LoRA, upscaler, ControlNet...): counted at its file size.
    Other,
}

impl Component {
    pub fn word(self) -> &'static str {
        match self {
            Component::Diffusion => "diffusion",
            Component::TextEncoder => "text_encoder",
            Component::Vae => "vae",
            Component::Other => "other",
        }
    }
}

/// One component's share of a predicted load.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ComponentNeed {
    pub component: Component,
    /// Parameters (elements) of its floating-point tensors.
    pub params: u64,
    /// Bytes per parameter it is loaded at in RAM (0: it goes to VRAM, not RAM).
    pub load_itemsize: u32,
    pub bytes: u64,
}

/// What loading a model file is predicted to take in RAM, and from what.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct LoadPrediction {
    pub bytes: u64,
    /// `history` (measured at an earlier load of the same file), `header` (tensor
    /// shapes and the dtype each part is loaded at) or `file_size` (no header).
    pub source: String,
    pub parts: Vec<ComponentNeed>,
    /// One sentence: how the figure was reached.
    pub reason: String,
}

/// Which check refused: `headroom`, the headroom guard (the memory limit cannot
/// hold what is asked). The swap check's refusals are `SwapVerdict`s, with their
/// own findings.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCause {
    Headroom,
}

/// A refusal with its figures; nothing was changed. Each face words it with its
/// own names for the knobs (a CLI flag, a node input, a setting).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Refusal {
    pub cause: RefusalCause,
    /// What was refused, in words (`loading sd15.safetensors`).
    pub what: String,
    pub needed_bytes: u64,
    /// What is free for it now, releasable memory included.
    pub free_bytes: u64,
    /// What must stay free beyond it (the reserve, the swap margin).
    pub margin_bytes: u64,
    /// The limit judged against, and where it is set.
    pub limit_bytes: Option<u64>,
    pub limit_set_at: Option<String>,
}

/// What to do before a load.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LoadDecision {
    /// It fits (and keeps the reserve, or nothing could be given back to keep it).
    Proceed,
    /// Give back `make_room_bytes` first (cached models not needed now), then load.
    MakeRoom,
    /// It cannot fit even with everything releasable given back.
    Refuse,
}

impl LoadDecision {
    pub fn word(self) -> &'static str {
        match self {
            LoadDecision::Proceed => "proceed",
            LoadDecision::MakeRoom => "make_room",
            LoadDecision::Refuse => "refuse",
        }
    }
}

/// What to do before a load, decided from its prediction and the headroom.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct LoadPlan {
    pub decision: LoadDecision,
    /// For `make_room`: bytes of cached models to give back first.
    pub make_room_bytes: u64,
    /// For `refuse`: the refusal, with its figures.
    pub refusal: Option<Refusal>,
}

/// One step of giving memory back, in the order the guard takes them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GivebackStep {
    /// Unload cached models the running node does not need, largest first.
    ReleaseModels,
    /// Drop the cached node outputs that hold them (the whole output cache when idle).
    DropOutputs,
    /// Return the freed heap to the OS.
    TrimHeap,
    /// Page this process's idle memory out, where swap allows.
    PageOut,
}

impl GivebackStep {
    /// Its name in the plan (`release_models`, ...), as the Python guard dispatches it.
    pub fn word(self) -> &'static str {
        match self {
            GivebackStep::ReleaseModels => "release_models",
            GivebackStep::DropOutputs => "drop_outputs",
            GivebackStep::TrimHeap => "trim_heap",
            GivebackStep::PageOut => "page_out",
        }
    }
}

/// The guard's decision after a wake.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct GivebackPlan {
    /// Bytes to give back to get the reserve back (0: nothing to do).
    pub shortfall_bytes: u64,
    pub steps: Vec<GivebackStep>,
    pub reason: String,
}

/// The headroom guard now (`memwarden.guard.status()`): what the Python package's
/// guard reports, worded by [`crate::render::headroom::guard_status_text`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuardStatusSummary {
    pub running: bool,
    /// What it watches, in words.
    pub watching: String,
    pub reserve_bytes: u64,
    /// The last reading; None before the first.
    pub reading: Option<Headroom>,
    pub givebacks: u64,
    pub refusals: u64,
    pub loads_checked: u64,
    pub faults: u64,
    pub last_action: Option<super::ManagerAction>,
    pub last_fault: Option<String>,
    pub history_file: String,
    /// What the host (ComfyUI, or a plain process) gives back, one line each.
    pub host: Vec<String>,
}
