//! The actions, OS-neutral: each one runs the same road — identify the target,
//! refuse what is protected, check privileges, check, act through the OS
//! layer (`crate::sys`), measure again and report exactly what changed. Each
//! refuses with a specific error, changing nothing, when it cannot act safely.
//! A second OS brings its `sys` and `probe` files; nothing here changes.

mod heap;
mod helper;
mod pageout;
mod purge;
mod reclaim;
mod target;

pub use heap::trim_own_heap;
pub use helper::helper_choice;
pub use pageout::pageout;
pub use purge::purge_cache;
pub use reclaim::reclaim;
pub use target::{auto_target, find_comfyui};

use crate::model::PageoutAdvice;
use crate::policy::swap::DEFAULT_MIN_SWAP_FREE;
use crate::render::swap::Knobs;

/// Options of [`pageout`].
#[derive(Debug, Clone)]
pub struct PageoutOptions {
    pub advice: PageoutAdvice,
    /// Swap that must stay free after the pageout (the swap check's margin).
    pub min_swap_free: u64,
    /// Proceed even when the swap check refuses; the report says so.
    pub force: bool,
    /// What the caller calls `force` and `min_swap_free`: the swap check's
    /// verdict is worded with these names (`render::swap::reason`).
    pub knobs: Knobs,
}

impl Default for PageoutOptions {
    fn default() -> Self {
        Self {
            advice: PageoutAdvice::Pageout,
            min_swap_free: DEFAULT_MIN_SWAP_FREE,
            force: false,
            knobs: Knobs::cli(),
        }
    }
}

/// Progress of a pageout: bytes advised so far out of the total to advise.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Options of [`purge_cache`].
///
/// On Windows the purge is the system's memory-list commands: by default
/// FlushModifiedList then PurgeLowPriorityStandbyList; `slab` adds
/// PurgeStandbyList (the whole standby list), `compact` runs EmptyWorkingSets
/// (every process's working set) first.
#[derive(Debug, Clone, Copy, Default)]
pub struct PurgeOptions {
    /// Also drop reclaimable slab (dentries and inodes): drop_caches=3. Windows:
    /// also purge the whole standby list.
    pub slab: bool,
    /// Compact memory afterwards (/proc/sys/vm/compact_memory). Windows: empty
    /// every working set first.
    pub compact: bool,
}

/// Milliseconds since `t0`, for reports.
fn ms_since(t0: std::time::Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}
