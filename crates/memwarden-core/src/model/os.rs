//! What the OS layers hand each other and the policy about a process: who it is
//! (identity, across PID reuse), its resident figures after an action, how it was
//! launched, and where its memory cgroup lives. Not part of the JSON schema.

use std::path::PathBuf;

/// Who a PID is right now: enough for `policy::protect` to refuse what
/// memwarden never touches and, through the start time, to detect PID reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub pid: u32,
    /// The kernel's short name (Linux comm).
    pub name: String,
    /// When it started, in the OS's own unit: with the PID it names one process
    /// across PID reuse.
    pub start_time: u64,
    pub kernel_thread: bool,
    /// Exited but not yet reaped: it holds no memory.
    pub zombie: bool,
}

/// Resident and swapped-out memory of a process, read in one small call (the
/// "after" figures of an action).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resident {
    pub rss_bytes: u64,
    pub rss_anon_bytes: u64,
    pub swap_bytes: u64,
}

/// What is known of how a process was launched, for deciding which one is
/// ComfyUI (`policy::target`).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// The argument vector (/proc/PID/cmdline split at NUL).
    pub argv: Vec<String>,
    /// The working directory, when readable (/proc/PID/cwd).
    pub cwd: Option<PathBuf>,
    /// Where the process's own root directory can be reached from here
    /// (/proc/PID/root), so that a checkout inside a container's file system is
    /// examined there; None = the same file system as ours.
    pub root: Option<PathBuf>,
}

/// Where a process's memory cgroup lives in the mounted cgroup filesystem.
#[derive(Debug, Clone)]
pub struct CgroupLocation {
    /// 1 or 2; 0 for a Windows job object.
    pub version: u8,
    /// The path /proc/PID/cgroup names.
    pub path: String,
    /// Its directory here.
    pub dir: PathBuf,
    pub mount_point: PathBuf,
    /// memory.pressure of the process's v2 cgroup (present even on hybrid systems
    /// whose memory controller is v1), or of the group whose limit binds.
    pub pressure_file: Option<PathBuf>,
}
