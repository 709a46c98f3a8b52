use std::time::Instant;

use crate::error::Result;
use crate::model::{HeapTrimReport, SCHEMA_VERSION};

use super::process::self_rss_bytes;

#[cfg(target_env = "gnu")]
fn malloc_trim() -> Result<bool> {
    // SAFETY: malloc_trim(0) only releases free memory held by the allocator.
    Ok(unsafe { libc::malloc_trim(0) } == 1)
}

#[cfg(not(target_env = "gnu"))]
fn malloc_trim() -> Result<bool> {
    Err(crate::error::Error::Unsupported(
        "malloc_trim is a glibc function; this build uses another C library".into(),
    ))
}

pub fn trim_own_heap() -> Result<HeapTrimReport> {
    let t0 = Instant::now();
    let before = self_rss_bytes()?;
    let released = malloc_trim()?;
    let after = self_rss_bytes()?;
    Ok(HeapTrimReport {
        schema_version: SCHEMA_VERSION,
        pid: std::process::id(),
        released,
        rss_before_bytes: before,
        rss_after_bytes: after,
        freed_bytes: before as i64 - after as i64,
        duration_ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}
