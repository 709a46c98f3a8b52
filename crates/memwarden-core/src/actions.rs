//! Reclaim actions. Each returns an exact before/after report; each refuses with a
//! specific error, changing nothing, when it cannot act safely.

use crate::error::Result;
use crate::model::{HeapTrimReport, PageoutAdvice, PageoutReport, PurgeReport, ReclaimReport};
use crate::platform;

/// Options of [`pageout`].
#[derive(Debug, Clone)]
pub struct PageoutOptions {
    pub advice: PageoutAdvice,
    /// Swap that must stay free after the pageout (guard margin).
    pub min_swap_free: u64,
    /// Proceed even when the guard refuses; the report says so.
    pub force: bool,
    /// What the caller calls `force` and `min_swap_free` (for the guard's messages).
    pub knobs: crate::guard::GuardKnobs,
}

impl Default for PageoutOptions {
    fn default() -> Self {
        Self {
            advice: PageoutAdvice::Pageout,
            min_swap_free: crate::guard::DEFAULT_MIN_SWAP_FREE,
            force: false,
            knobs: crate::guard::GuardKnobs::cli(),
        }
    }
}

/// Progress of a pageout: bytes advised so far out of the total to advise.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Page the idle private memory of `pid` out to swap (MADV_PAGEOUT, or MADV_COLD),
/// behind the swap guard. Another process: pidfd_open + process_madvise, which needs
/// CAP_SYS_NICE and ptrace access to it (Linux >= 5.10). The calling process itself
/// (`pid` == its own PID): madvise over its own ranges, which needs no capability
/// (Linux >= 5.4). Ranges the kernel refuses (mlocked, device, hugetlb) are skipped
/// and counted in the report.
pub fn pageout(pid: i64, opts: &PageoutOptions, progress: Progress<'_>) -> Result<PageoutReport> {
    let pid = crate::validate_pid(pid)?;
    platform::pageout(pid, opts, progress)
}

/// Options of [`purge_cache`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PurgeOptions {
    /// Also drop reclaimable slab (dentries and inodes): drop_caches=3.
    pub slab: bool,
    /// Compact memory afterwards (/proc/sys/vm/compact_memory).
    pub compact: bool,
}

/// sync + drop the page cache (the Linux equivalent of the standby-list purge).
pub fn purge_cache(opts: PurgeOptions) -> Result<PurgeReport> {
    platform::purge_cache(opts)
}

/// Ask the kernel to reclaim `bytes` from this process's cgroup (v2 memory.reclaim).
pub fn reclaim(bytes: u64) -> Result<ReclaimReport> {
    platform::reclaim(bytes)
}

/// Return the calling process's free heap to the OS (glibc malloc_trim).
pub fn trim_own_heap() -> Result<HeapTrimReport> {
    platform::trim_own_heap()
}
