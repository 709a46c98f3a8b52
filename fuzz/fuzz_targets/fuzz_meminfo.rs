#![no_main]
//! /proc/meminfo: any bytes give Ok or Malformed, and Ok is self-consistent.

use libfuzzer_sys::fuzz_target;
use memwarden_core::parse::meminfo::parse_meminfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = parse_meminfo(&String::from_utf8_lossy(data)) {
        assert!(m.available_bytes <= m.total_bytes);
        assert_eq!(m.used_bytes + m.available_bytes, m.total_bytes);
        assert!(m.swap_free_bytes <= m.swap_total_bytes);
        assert!((0.0..=100.0).contains(&m.percent_used));
    }
});
