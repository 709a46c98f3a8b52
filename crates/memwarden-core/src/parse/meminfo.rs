//! /proc/meminfo.

use crate::error::{Error, Result};
use crate::model::SystemMemory;

use super::kv_kb_line;

/// Parse /proc/meminfo into [`SystemMemory`]. MemTotal and MemFree are required;
/// MemAvailable is estimated on kernels that lack it (< 3.14).
pub fn parse_meminfo(text: &str) -> Result<SystemMemory> {
    let mut m = SystemMemory::default();
    let (mut total, mut free, mut avail) = (None, None, None);
    for line in text.lines() {
        let Some((key, v)) = kv_kb_line(line) else {
            continue;
        };
        match key {
            "MemTotal" => total = Some(v),
            "MemFree" => free = Some(v),
            "MemAvailable" => avail = Some(v),
            "Buffers" => m.buffers_bytes = v,
            "Cached" => m.cached_bytes = v,
            "Shmem" => m.shmem_bytes = v,
            "SwapTotal" => m.swap_total_bytes = v,
            "SwapFree" => m.swap_free_bytes = v,
            "SwapCached" => m.swap_cached_bytes = v,
            "Committed_AS" => m.committed_bytes = v,
            "CommitLimit" => m.commit_limit_bytes = v,
            _ => {}
        }
    }
    let total = total.ok_or_else(|| Error::malformed("/proc/meminfo", "no MemTotal line"))?;
    let free = free.ok_or_else(|| Error::malformed("/proc/meminfo", "no MemFree line"))?;
    if total == 0 {
        return Err(Error::malformed("/proc/meminfo", "MemTotal is 0"));
    }
    m.total_bytes = total;
    m.free_bytes = free.min(total);
    m.available_estimated = avail.is_none();
    m.available_bytes = avail
        .unwrap_or_else(|| {
            free.saturating_add(m.buffers_bytes)
                .saturating_add(m.cached_bytes)
        })
        .min(total);
    m.used_bytes = total - m.available_bytes;
    m.percent_used = percent(m.used_bytes, total);
    m.swap_free_bytes = m.swap_free_bytes.min(m.swap_total_bytes);
    m.swap_used_bytes = m.swap_total_bytes - m.swap_free_bytes;
    Ok(m)
}

/// `part / whole` in percent with one decimal of precision kept; 0 for an empty whole.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        ((part as f64 / whole as f64) * 1000.0).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_available_on_old_kernels() {
        let text = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 200 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert!(m.available_estimated);
        assert_eq!(m.available_bytes, 350 * 1024);
        assert_eq!(m.used_bytes, 650 * 1024);
        assert_eq!(m.percent_used, 65.0);
    }

    #[test]
    fn rejects_missing_total() {
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
        assert!(parse_meminfo("").is_err());
    }
}
