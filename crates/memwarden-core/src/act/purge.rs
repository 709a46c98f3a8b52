//! Drop the file cache (Linux page cache; the standby list on Windows).
//!
//! The figures before and after are [`memory::read_system_memory`]'s. On Windows
//! `cached` is the system cache (GetPerformanceInfo's SystemCache, which counts
//! the standby list), so `cache_dropped` is what the purge took from it; but
//! `available` and `free` already count standby pages (psutil's definition), so
//! a standby purge moves pages from standby to free without raising them: a
//! near-zero change there is expected, not a failure.

use std::time::Instant;

use crate::error::Result;
use crate::model::{PurgeReport, SCHEMA_VERSION};
use crate::probe::memory;
use crate::sys::cache::Purger;

use super::{ms_since, PurgeOptions};

/// Write dirty pages back and drop the file cache, with the figures before and
/// after. Opens everything it writes first, so a refusal changes nothing.
pub fn purge_cache(opts: PurgeOptions) -> Result<PurgeReport> {
    let purger = Purger::open(opts.slab, opts.compact)?;
    let t0 = Instant::now();
    let before = memory::read_system_memory()?;
    let steps = purger.run()?;
    let after = memory::read_system_memory()?;
    Ok(PurgeReport {
        schema_version: SCHEMA_VERSION,
        steps,
        available_before_bytes: before.available_bytes,
        available_after_bytes: after.available_bytes,
        cached_before_bytes: before.cached_bytes,
        cached_after_bytes: after.cached_bytes,
        free_before_bytes: before.free_bytes,
        free_after_bytes: after.free_bytes,
        cache_dropped_bytes: before.cached_bytes as i64 - after.cached_bytes as i64,
        duration_ms: ms_since(t0),
    })
}
