//! Reclaim memory from this process's cgroup (cgroup v2 memory.reclaim).

use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::{ReclaimReport, SCHEMA_VERSION};
use crate::probe::cgroup;
use crate::sys::cgroup::Reclaimer;

use super::ms_since;

/// Ask the kernel to reclaim `bytes` from this process's cgroup; the report says
/// whether it reclaimed all of it and what usage did.
pub fn reclaim(bytes: u64) -> Result<ReclaimReport> {
    if bytes == 0 {
        return Err(Error::InvalidInput(
            "the amount to reclaim must be greater than 0 bytes".into(),
        ));
    }
    let loc = cgroup::locate_cgroup(std::process::id())?
        .ok_or_else(|| Error::Unsupported("no memory cgroup is mounted for this process".into()))?;
    let mut reclaimer = Reclaimer::open(&loc)?;
    let t0 = Instant::now();
    let before = cgroup::usage(&loc)?;
    let fully = reclaimer.reclaim(bytes)?;
    let after = cgroup::usage(&loc)?;
    Ok(ReclaimReport {
        schema_version: SCHEMA_VERSION,
        cgroup_dir: loc.dir.display().to_string(),
        requested_bytes: bytes,
        fully_reclaimed: fully,
        usage_before_bytes: before,
        usage_after_bytes: after,
        reclaimed_bytes: before as i64 - after as i64,
        duration_ms: ms_since(t0),
    })
}
