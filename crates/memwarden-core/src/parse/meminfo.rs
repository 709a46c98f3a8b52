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
    fn every_field_is_read() {
        let text = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    600 kB\n\
                    Buffers:          10 kB\nCached:          300 kB\nSwapCached:        5 kB\n\
                    Shmem:            20 kB\nSwapTotal:       400 kB\nSwapFree:        300 kB\n\
                    CommitLimit:     900 kB\nCommitted_AS:    700 kB\nHugePages_Total:   0\n";
        let m = parse_meminfo(text).unwrap();
        let k = |v: u64| v * 1024;
        assert_eq!(
            (m.total_bytes, m.free_bytes, m.available_bytes, m.used_bytes),
            (k(1000), k(100), k(600), k(400))
        );
        assert!(!m.available_estimated);
        assert_eq!(m.percent_used, 40.0);
        assert_eq!(
            (
                m.buffers_bytes,
                m.cached_bytes,
                m.swap_cached_bytes,
                m.shmem_bytes
            ),
            (k(10), k(300), k(5), k(20))
        );
        assert_eq!(
            (m.swap_total_bytes, m.swap_free_bytes, m.swap_used_bytes),
            (k(400), k(300), k(100))
        );
        assert_eq!((m.commit_limit_bytes, m.committed_bytes), (k(900), k(700)));
    }

    #[test]
    fn figures_above_their_totals_are_capped() {
        // Counters read at slightly different moments may exceed their totals.
        let text = "MemTotal: 1000 kB\nMemFree: 1200 kB\nMemAvailable: 1100 kB\n\
                    SwapTotal: 100 kB\nSwapFree: 150 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(
            (m.free_bytes, m.available_bytes, m.used_bytes),
            (1000 * 1024, 1000 * 1024, 0)
        );
        assert_eq!((m.swap_free_bytes, m.swap_used_bytes), (100 * 1024, 0));
        // The estimate too (free + buffers + cache), and it saturates.
        let text = "MemTotal: 1000 kB\nMemFree: 900 kB\nCached: 18014398509481983 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert!(m.available_estimated);
        assert_eq!(m.available_bytes, 1000 * 1024);
    }

    #[test]
    fn percent_keeps_one_decimal() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(5, 5), 100.0);
        assert_eq!(percent(5, 0), 0.0);
    }

    #[test]
    fn rejects_missing_total() {
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
        assert!(parse_meminfo("").is_err());
        let e = |t: &str| parse_meminfo(t).unwrap_err().to_string();
        assert_eq!(
            e("MemFree: 1 kB\n"),
            "malformed /proc/meminfo: no MemTotal line"
        );
        assert_eq!(
            e("MemTotal: 1 kB\n"),
            "malformed /proc/meminfo: no MemFree line"
        );
        assert_eq!(
            e("MemTotal: 0 kB\nMemFree: 0 kB\n"),
            "malformed /proc/meminfo: MemTotal is 0"
        );
    }
}
