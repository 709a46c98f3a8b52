//! Return this process's free heap to the OS.

use std::time::Instant;

use crate::error::Result;
use crate::model::{HeapTrimReport, SCHEMA_VERSION};
use crate::probe::process;
use crate::sys::heap;

use super::ms_since;

/// Return the calling process's free heap to the OS (glibc malloc_trim on Linux,
/// HeapCompact on every process heap on Windows), with its RSS (the working set
/// on Windows) before and after.
pub fn trim_own_heap() -> Result<HeapTrimReport> {
    let t0 = Instant::now();
    let before = process::self_rss_bytes()?;
    let released = heap::trim()?;
    let after = process::self_rss_bytes()?;
    Ok(HeapTrimReport {
        schema_version: SCHEMA_VERSION,
        pid: std::process::id(),
        call: heap::CALL.into(),
        resident: heap::RESIDENT.into(),
        released,
        rss_before_bytes: before,
        rss_after_bytes: after,
        freed_bytes: before as i64 - after as i64,
        duration_ms: ms_since(t0),
    })
}
