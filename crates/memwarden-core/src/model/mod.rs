//! The data model. Every struct here serializes to the documented JSON schema
//! (docs/json-schema.md, docs/schema/*.json). Sizes are bytes (`*_bytes`), times are
//! Unix milliseconds or seconds as named. Adding a field is a minor change; renaming
//! or removing one bumps [`SCHEMA_VERSION`].

mod cleanup;
mod fallback;
mod headroom;
mod leak;
mod manager;
mod os;
pub mod schema;
mod swap;
mod torch;

pub use cleanup::*;
pub use fallback::*;
pub use headroom::*;
pub use leak::*;
pub use manager::*;
pub use os::*;
pub use swap::*;
pub use torch::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the JSON schema of every `--json` output. 2: the pageout report's
/// `guard` is `swap_check`, with the finding and its figures, and the error kind
/// `guard_refused` is `swap_refused` (its error object carries the verdict).
pub const SCHEMA_VERSION: u32 = 2;

/// Everything `memwarden check` knows about the machine at one instant.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Snapshot {
    /// Version of this JSON schema (see SCHEMA_VERSION).
    pub schema_version: u32,
    /// When the snapshot was taken, Unix time in milliseconds.
    pub taken_at_unix_ms: u64,
    /// Time spent collecting, so callers can see the probe's own cost.
    pub collect_duration_us: u64,
    /// Kernel release (uname -r).
    pub kernel: String,
    /// The process asked about with `--pid`, or the caller itself.
    pub process: Option<ProcessMemory>,
    /// Host-wide memory from /proc/meminfo.
    pub system: SystemMemory,
    /// Container runtime and the memory cgroup of the inspected process.
    pub container: ContainerInfo,
    /// The figures to judge memory by: the container's limit when it is tighter than
    /// the host, the host otherwise.
    pub effective: EffectiveMemory,
    /// Memory pressure (PSI) and its plain-words level.
    pub pressure: PressureInfo,
    /// The largest processes by RSS.
    pub top_processes: TopProcesses,
    /// NVIDIA GPUs and the processes holding their memory.
    pub gpu: GpuInfo,
    /// Parts that could not be read, each with the reason; the rest is still valid.
    pub warnings: Vec<String>,
}

/// Host-wide memory, from /proc/meminfo.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct SystemMemory {
    /// MemTotal.
    pub total_bytes: u64,
    /// MemAvailable: what can be allocated without swapping.
    pub available_bytes: u64,
    /// True when the kernel has no MemAvailable (< 3.14) and it was estimated
    /// as MemFree + Buffers + Cached.
    pub available_estimated: bool,
    /// MemFree: memory not used for anything.
    pub free_bytes: u64,
    /// total - available (the figure `percent_used` is based on, as in psutil).
    pub used_bytes: u64,
    /// used / total in percent.
    pub percent_used: f64,
    /// Buffers (block device cache).
    pub buffers_bytes: u64,
    /// Page cache (Cached), includes shmem/tmpfs.
    pub cached_bytes: u64,
    /// Shmem (tmpfs, shared memory).
    pub shmem_bytes: u64,
    /// SwapTotal.
    pub swap_total_bytes: u64,
    /// SwapFree.
    pub swap_free_bytes: u64,
    /// SwapTotal - SwapFree.
    pub swap_used_bytes: u64,
    /// Pages that are both in swap and in RAM.
    pub swap_cached_bytes: u64,
    /// Committed_AS: memory promised to processes.
    pub committed_bytes: u64,
    /// CommitLimit: what may be committed under strict overcommit.
    pub commit_limit_bytes: u64,
    /// The page files, each with the free space of the drive holding it
    /// (Windows). Absent on Linux and where none could be listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page_files: Vec<PageFile>,
}

/// A page file and the drive it lives on: a page file that must grow to take
/// what a trim writes takes that space from its drive.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct PageFile {
    /// Its path, e.g. `C:\pagefile.sys`.
    pub path: String,
    /// Its current size.
    pub total_bytes: u64,
    /// What is in use of it.
    pub used_bytes: u64,
    /// The root of the drive (volume) holding it, e.g. `C:\`.
    pub drive: String,
    /// Free space on that drive; null when it could not be read.
    pub drive_free_bytes: Option<u64>,
}

/// What kind of container, if any, this process runs in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContainerRuntime {
    Docker,
    Podman,
    Kubernetes,
    Runpod,
    Wsl,
    Lxc,
    Containerd,
    Other,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ContainerInfo {
    /// True when any container marker was found.
    pub detected: bool,
    /// The most specific runtime found (Runpod over Docker, Kubernetes over containerd).
    pub runtime: Option<ContainerRuntime>,
    /// Why we believe so, e.g. "/.dockerenv exists".
    pub evidence: Vec<String>,
    /// The memory cgroup of the inspected process, when one is mounted.
    pub cgroup: Option<CgroupMemory>,
}

/// Memory accounting of the process's own cgroup (v1 or v2), or on Windows of the
/// job object it runs in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct CgroupMemory {
    /// 1 or 2; 0 for a Windows job object (path `job object`, dir empty): its
    /// limits count the commit charge, which usage and working set then hold.
    pub version: u8,
    /// Path as listed in /proc/PID/cgroup.
    pub path: String,
    /// Directory in the mounted cgroup filesystem that was read.
    pub dir: String,
    /// The memory limit that binds on the path to the root: of the groups that set
    /// one, the one with the least headroom (limit minus its usage); None = unlimited.
    pub limit_bytes: Option<u64>,
    /// Directory of the group whose limit binds. Usage, working set and the
    /// memory.stat figures below are read from this group, so they compare with the
    /// limit; without a limit they are the process's own group's (`dir`).
    pub limit_set_at: Option<String>,
    /// cgroup v2 memory.high (throttling threshold), tightest along the path.
    pub high_bytes: Option<u64>,
    /// Memory charged to the group (memory.current / memory.usage_in_bytes), page cache included.
    pub usage_bytes: u64,
    /// usage - inactive_file, as Kubernetes and `docker stats` count it.
    pub working_set_bytes: u64,
    /// Inactive file cache (memory.stat; hierarchical total on v1).
    pub inactive_file_bytes: u64,
    /// Anonymous memory (v2 anon, v1 total_rss).
    pub anon_bytes: Option<u64>,
    /// File cache (v2 file, v1 total_cache).
    pub file_bytes: Option<u64>,
    /// Swap the group may use on top of its memory limit; None = unlimited or
    /// not accounted.
    pub swap_limit_bytes: Option<u64>,
    /// Directory of the group whose swap limit binds (memory.swap.max on v2,
    /// memory.memsw.limit_in_bytes on v1); swap usage is read there.
    #[serde(default)]
    pub swap_limit_set_at: Option<String>,
    /// Swap used by the group, when accounted (the swap limit's group when there is one).
    pub swap_usage_bytes: Option<u64>,
}

/// Which figures percentages and "available" are computed from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MemorySource {
    Host,
    Cgroup,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct EffectiveMemory {
    /// host or cgroup.
    pub source: MemorySource,
    /// One sentence saying which limit was used and why.
    pub reason: String,
    /// The limit judged against: host RAM or the cgroup limit.
    pub total_bytes: u64,
    /// Host: total - MemAvailable. cgroup: working set.
    pub used_bytes: u64,
    /// What can still be allocated: host MemAvailable, or limit - working set capped by host MemAvailable.
    pub available_bytes: u64,
    /// used / total in percent.
    pub percent_used: f64,
}

/// One PSI line: share of wall time some (or all) tasks stalled on memory.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PsiLine {
    /// Percent of the last 10 s with stalled tasks.
    pub avg10: f64,
    /// Percent of the last 60 s.
    pub avg60: f64,
    /// Percent of the last 300 s.
    pub avg300: f64,
    /// Total stall time in microseconds since boot (or cgroup creation).
    pub total_us: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Psi {
    /// Time at least one task stalled on memory.
    pub some: PsiLine,
    /// Absent on kernels and files that report only "some".
    pub full: Option<PsiLine>,
}

#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum PressureLevel {
    None,
    Low,
    Moderate,
    High,
    Critical,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PressureInfo {
    /// /proc/pressure/memory; None when PSI is unavailable (kernel < 4.20 or psi=0).
    pub system: Option<Psi>,
    /// The cgroup's memory.pressure (cgroup v2 only).
    pub cgroup: Option<Psi>,
    /// none, low, moderate, high or critical (the worse of system and cgroup).
    pub level: PressureLevel,
    /// The level in plain words, with the figure it is based on.
    pub description: String,
}

/// Memory of one process, from /proc/PID/{status,statm,smaps_rollup}.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ProcessMemory {
    /// Process ID in this PID namespace.
    pub pid: u32,
    /// Short name (comm) from /proc/PID/status.
    pub name: String,
    /// Arguments joined by spaces; empty when unreadable.
    pub cmdline: String,
    /// Resident set size (VmRSS).
    pub rss_bytes: u64,
    /// Resident anonymous memory (RssAnon): what pageout moves to swap.
    pub rss_anon_bytes: u64,
    /// Resident file-backed pages (RssFile).
    pub rss_file_bytes: u64,
    /// Resident shared memory (RssShmem).
    pub rss_shmem_bytes: u64,
    /// Virtual size (VmSize).
    pub vms_bytes: u64,
    /// Swapped-out anonymous memory (VmSwap).
    pub swap_bytes: u64,
    /// Unique set size (private pages); only with `--uss` / detailed requests.
    pub uss_bytes: Option<u64>,
    /// Proportional set size; only with `--uss` / detailed requests.
    pub pss_bytes: Option<u64>,
    /// Proportional share of swap; only with detailed requests.
    pub swap_pss_bytes: Option<u64>,
}

/// Which processes the top list covers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProcessScope {
    /// Every process visible in /proc (the whole machine on a host, the container
    /// in a container with its own PID namespace).
    Visible,
    /// Only processes in the inspected process's memory cgroup and below.
    Cgroup,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct TopProcesses {
    /// visible or cgroup.
    pub scope: ProcessScope,
    /// User processes examined (kernel threads excluded).
    pub scanned: u32,
    /// Sorted by RSS, largest first.
    pub processes: Vec<ProcessMemory>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct GpuInfo {
    /// True when NVML answered and reported at least one device.
    pub available: bool,
    /// Why no GPU is shown, e.g. "no NVIDIA GPU visible (libnvidia-ml.so.1 not found)".
    pub unavailable_reason: Option<String>,
    /// NVIDIA driver version.
    pub driver_version: Option<String>,
    /// Every GPU NVML reports.
    pub devices: Vec<GpuDevice>,
    /// Processes holding GPU memory, per device.
    pub processes: Vec<GpuProcess>,
    /// Set when driver PIDs cannot be matched to this PID namespace.
    pub pid_namespace_note: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct GpuDevice {
    /// NVML device index.
    pub index: u32,
    /// Product name, e.g. NVIDIA H100 80GB HBM3.
    pub name: String,
    /// GPU UUID (GPU-...).
    pub uuid: String,
    /// Framebuffer memory installed.
    pub total_bytes: u64,
    /// Framebuffer memory allocated.
    pub used_bytes: u64,
    /// Framebuffer memory free.
    pub free_bytes: u64,
    /// used / total in percent.
    pub percent_used: f64,
    /// Percent of time a kernel ran over the last sample period; None if unsupported.
    pub utilization_gpu_percent: Option<u32>,
    /// Percent of time memory was read or written over the last sample period.
    pub utilization_memory_percent: Option<u32>,
    /// The CUDA device number (`cuda:N`, torch's ordinal) of this GPU for the process
    /// read, CUDA_VISIBLE_DEVICES honoured (indices, UUIDs or their prefixes); None
    /// when that variable hides it. With CUDA_DEVICE_ORDER=PCI_BUS_ID, or one kind
    /// of GPU, CUDA's order is NVML's.
    #[serde(default)]
    pub cuda_ordinal: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GpuProcessKind {
    Compute,
    Graphics,
}

/// A process holding GPU memory, joined with the process table.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct GpuProcess {
    /// Device the memory is on.
    pub gpu_index: u32,
    /// PID as the driver reports it (host PID namespace).
    pub pid: u32,
    /// compute (CUDA) or graphics context.
    pub kind: GpuProcessKind,
    /// None when the driver cannot tell (e.g. under WDDM or MIG without permission).
    pub used_bytes: Option<u64>,
    /// Name from /proc, None when the PID is not visible here.
    pub name: Option<String>,
    /// Command line from /proc, None when not visible.
    pub cmdline: Option<String>,
    /// True when the PID exists in this PID namespace.
    pub visible: bool,
}

/// Each step of an action, in the style of the seed helpers ("open : ok").
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Step {
    /// open, privileges, swap_check, advise, verify; sync, drop_caches, compact_memory.
    pub name: String,
    /// Whether the step succeeded.
    pub ok: bool,
    /// What happened, in words.
    pub detail: String,
}

impl Step {
    pub fn new(name: &str, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok,
            detail: detail.into(),
        }
    }

    /// A step that succeeded.
    pub fn ok(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, true, detail)
    }

    /// A step whose outcome is `r`: `done` when it succeeded, the error otherwise.
    pub fn of<T, E: std::fmt::Display>(name: &str, r: &Result<T, E>, done: &str) -> Self {
        match r {
            Ok(_) => Self::ok(name, done),
            Err(e) => Self::new(name, false, e.to_string()),
        }
    }
}

/// MADV_PAGEOUT reclaims pages now; MADV_COLD only marks them first to go.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PageoutAdvice {
    Pageout,
    Cold,
}

/// Result of `memwarden trim`: paging another process's idle memory out.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PageoutReport {
    /// Version of this JSON schema.
    pub schema_version: u32,
    /// Target process.
    pub pid: u32,
    /// Target's short name.
    pub name: String,
    /// Target's command line.
    pub cmdline: String,
    /// pageout or cold.
    pub advice: PageoutAdvice,
    /// Each step with its outcome, as the seed helper printed them.
    pub steps: Vec<Step>,
    /// Address ranges advised.
    pub ranges_advised: u32,
    /// Bytes the advised ranges span.
    pub bytes_advised: u64,
    /// Ranges the kernel refused (locked, device, hugetlb mappings), skipped.
    pub ranges_skipped: u32,
    /// VmRSS before.
    pub rss_before_bytes: u64,
    /// VmRSS after.
    pub rss_after_bytes: u64,
    /// RssAnon before.
    pub rss_anon_before_bytes: u64,
    /// RssAnon after.
    pub rss_anon_after_bytes: u64,
    /// VmSwap before.
    pub swap_before_bytes: u64,
    /// VmSwap after.
    pub swap_after_bytes: u64,
    /// rss_before - rss_after (negative if the process grew meanwhile).
    pub freed_bytes: i64,
    /// Wall time of the whole action.
    pub duration_ms: f64,
    /// The swap check's verdict; `forced` when the caller overrode a refusal.
    pub swap_check: SwapVerdict,
}

impl PageoutReport {
    /// What moved to swap: VmSwap's growth (0 when it shrank meanwhile).
    pub fn moved_to_swap_bytes(&self) -> u64 {
        self.swap_after_bytes.saturating_sub(self.swap_before_bytes)
    }
}

/// Result of `memwarden purge-cache`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PurgeReport {
    /// Version of this JSON schema.
    pub schema_version: u32,
    /// sync, drop_caches, compact_memory.
    pub steps: Vec<Step>,
    /// MemAvailable before.
    pub available_before_bytes: u64,
    /// MemAvailable after.
    pub available_after_bytes: u64,
    /// Page cache (Cached) before.
    pub cached_before_bytes: u64,
    /// Page cache after.
    pub cached_after_bytes: u64,
    /// MemFree before.
    pub free_before_bytes: u64,
    /// MemFree after.
    pub free_after_bytes: u64,
    /// cached_before - cached_after.
    pub cache_dropped_bytes: i64,
    /// Wall time.
    pub duration_ms: f64,
}

/// Result of `memwarden reclaim` (cgroup v2 memory.reclaim).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ReclaimReport {
    /// Version of this JSON schema.
    pub schema_version: u32,
    /// The cgroup directory written to.
    pub cgroup_dir: String,
    /// --bytes.
    pub requested_bytes: u64,
    /// False when the kernel could not reclaim the whole request (EAGAIN).
    pub fully_reclaimed: bool,
    /// memory.current before.
    pub usage_before_bytes: u64,
    /// memory.current after.
    pub usage_after_bytes: u64,
    /// usage_before - usage_after.
    pub reclaimed_bytes: i64,
    /// Wall time.
    pub duration_ms: f64,
}

/// Result of returning the caller's free heap to the OS (malloc_trim on Linux,
/// HeapCompact on every process heap on Windows).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct HeapTrimReport {
    /// Version of this JSON schema.
    pub schema_version: u32,
    /// The calling process.
    pub pid: u32,
    /// The call that returned the heap: malloc_trim (glibc), HeapCompact (Windows).
    pub call: String,
    /// What the memory below is called on this OS: RSS, working set.
    pub resident: String,
    /// False when the allocator had nothing to give back (on Windows: when the
    /// process's private commit did not go down).
    pub released: bool,
    /// VmRSS before the trim (the working set on Windows).
    pub rss_before_bytes: u64,
    /// VmRSS after (the working set on Windows).
    pub rss_after_bytes: u64,
    /// rss_before - rss_after.
    pub freed_bytes: i64,
    /// Wall time.
    pub duration_ms: f64,
}

/// `memwarden status --json`: the one-line status and the numbers behind it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct StatusLine {
    /// Version of this JSON schema.
    pub schema_version: u32,
    /// `RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)` ("GB" = 2^30 bytes).
    pub status: String,
    /// Effective used memory (container working set when a limit applies).
    pub ram_used_bytes: u64,
    /// Effective total (host RAM or container limit).
    pub ram_total_bytes: u64,
    /// Used / total in percent.
    pub ram_percent: f64,
    /// host or cgroup.
    pub ram_source: MemorySource,
    /// Summed over every visible GPU; None when no GPU is visible.
    pub vram_used_bytes: Option<u64>,
    /// Summed over every visible GPU; None when no GPU is visible.
    pub vram_total_bytes: Option<u64>,
    /// Percent used of the fullest GPU (the one closest to running out; with one
    /// GPU, used / total). Not the ratio of the two sums above: a sum hides a
    /// full GPU beside an idle one. None when no GPU is visible.
    pub vram_percent: Option<f64>,
    /// Pressure level.
    pub pressure: PressureLevel,
}

/// The pressure level with the figures behind it and what to do about it
/// ([`crate::policy::pressure::advise`]); the Memory Monitor's report.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PressureReport {
    /// none, low, moderate, high or critical.
    pub level: PressureLevel,
    /// The level in words, with the PSI figures it comes from.
    pub description: String,
    /// Effective RAM used, in percent.
    pub ram_percent: f64,
    /// Percent used of the fullest GPU; None when no GPU is visible.
    pub vram_percent: Option<f64>,
    /// Swap used, in percent; None without swap.
    pub swap_percent: Option<f64>,
    /// host or cgroup: which figures RAM is judged by.
    pub source: MemorySource,
    /// What to do, most urgent first; "No action needed." when nothing is.
    pub recommendations: Vec<String>,
}

/// Error object printed by `--json` commands on failure.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ErrorReport {
    /// Version of this JSON schema.
    pub schema_version: u32,
    /// The message printed on stderr.
    pub error: String,
    /// no_such_process, invalid_input, permission_denied, unsupported, swap_refused, protected, ambiguous, headroom_refused, malformed, io.
    pub kind: String,
    /// The process exit code (see the README).
    pub exit_code: i32,
    /// swap_refused: the swap check's verdict with its figures, for a caller to
    /// word with its own names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_check: Option<SwapVerdict>,
    /// headroom_refused: the refusal with its figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A quiet 16 GiB host with 4 GiB of swap, no container, no GPU: tests change
    /// what they are about.
    pub(crate) fn snapshot() -> Snapshot {
        let system = SystemMemory {
            total_bytes: 16 << 30,
            available_bytes: 12 << 30,
            used_bytes: 4 << 30,
            percent_used: 25.0,
            swap_total_bytes: 4 << 30,
            swap_free_bytes: 4 << 30,
            ..Default::default()
        };
        Snapshot {
            schema_version: SCHEMA_VERSION,
            taken_at_unix_ms: 0,
            collect_duration_us: 0,
            kernel: "6.1.0".into(),
            process: None,
            effective: EffectiveMemory {
                source: MemorySource::Host,
                reason: "no memory cgroup found".into(),
                total_bytes: system.total_bytes,
                used_bytes: system.used_bytes,
                available_bytes: system.available_bytes,
                percent_used: system.percent_used,
            },
            system,
            container: ContainerInfo {
                detected: false,
                runtime: None,
                evidence: Vec::new(),
                cgroup: None,
            },
            pressure: PressureInfo {
                system: None,
                cgroup: None,
                level: PressureLevel::None,
                description: "none".into(),
            },
            top_processes: TopProcesses {
                scope: ProcessScope::Visible,
                scanned: 0,
                processes: Vec::new(),
            },
            gpu: GpuInfo::default(),
            warnings: Vec::new(),
        }
    }

    /// A 4 GiB page file on `drive` (e.g. `C:\`), which has `free` bytes free.
    pub(crate) fn page_file(drive: &str, free: Option<u64>) -> PageFile {
        PageFile {
            path: format!("{drive}pagefile.sys"),
            total_bytes: 4 << 30,
            used_bytes: 1 << 30,
            drive: drive.into(),
            drive_free_bytes: free,
        }
    }

    /// Windows memory: page files with `room` free in them, one on each of
    /// `drives` (with its free space), 20 GiB committed of a 24 GiB limit.
    pub(crate) fn page_file_system(room: u64, drives: &[(&str, Option<u64>)]) -> SystemMemory {
        SystemMemory {
            swap_total_bytes: 4 << 30,
            swap_free_bytes: room,
            committed_bytes: 20 << 30,
            commit_limit_bytes: 24 << 30,
            page_files: drives.iter().map(|(d, f)| page_file(d, *f)).collect(),
            ..Default::default()
        }
    }
}
