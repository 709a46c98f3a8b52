//! The swap check: may a pageout go ahead, with the figures it was judged on.
//! Policy (`policy::swap`) finds; each face words the finding with its own names
//! for the override and the margin (`render::swap`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The swap check's verdict on a pageout; `forced` when the caller overrode a
/// refusal.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct SwapVerdict {
    /// True when the pageout may run (safe, or forced).
    pub allowed: bool,
    /// True when the caller's override (`--force`) overrode a refusal.
    pub forced: bool,
    /// Swap the target may still use (system free swap, capped by its cgroup); on
    /// Windows, the room left in the page files.
    pub swap_free_bytes: u64,
    /// Anonymous memory that would move to swap.
    pub needed_bytes: u64,
    /// What must stay free beyond it (`--min-swap-free`).
    pub margin_bytes: u64,
    /// What was found, with its figures.
    pub finding: SwapFinding,
    /// The cgroup's swap allowance, when it caps `swap_free_bytes`.
    pub allowance: Option<SwapAllowance>,
    /// Windows: the commit charge and its limit, stated for the reader (a trim
    /// moves committed pages and never raises the charge).
    pub commit: Option<CommitCharge>,
    /// The verdict in words, with the names of the face that asked.
    pub reason: String,
}

/// What the swap check found.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SwapFinding {
    /// MADV_COLD: pages are only marked first to reclaim, nothing is written to
    /// swap, so no free swap is needed.
    ColdOnly,
    /// Free swap covers what would be paged out plus the margin.
    Covered,
    /// No swap is configured: only file-backed pages can be dropped.
    NoSwap,
    /// The cgroup may not use swap (its allowance is used up or zero).
    NoAllowance,
    /// Free swap is below what would be paged out plus the margin.
    Short,
    /// Windows: the free space of a page-file drive could not be read.
    DriveUnreadable {
        /// The drive, e.g. `C:\`.
        drive: String,
        /// The page file on it.
        page_file: String,
    },
    /// Windows: a page-file drive has less free than the page files may grow by
    /// plus the margin.
    DriveShort {
        /// The drive, e.g. `C:\`.
        drive: String,
        /// The page file on it.
        page_file: String,
        /// Its free space.
        drive_free_bytes: u64,
        /// What the page files may grow by: what is paged out beyond their room.
        growth_bytes: u64,
    },
    /// Windows: every page-file drive keeps the margin beyond the growth.
    DrivesCover {
        /// Each page-file drive, once.
        drives: Vec<DriveFree>,
        /// What the page files may grow by.
        growth_bytes: u64,
    },
}

/// A drive holding a page file, and its free space.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct DriveFree {
    /// The root of the drive, e.g. `C:\`.
    pub drive: String,
    /// Its free space.
    pub free_bytes: u64,
}

/// A cgroup's swap allowance: what is left of its limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct SwapAllowance {
    /// What the group may still put in swap.
    pub left_bytes: u64,
    /// Its swap limit (`memory.swap.max`, or v1's memsw limit less its memory limit).
    pub limit_bytes: u64,
}

/// Windows: the system commit charge and limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct CommitCharge {
    /// Memory committed system-wide.
    pub committed_bytes: u64,
    /// The commit limit (RAM plus the page files).
    pub limit_bytes: u64,
}
