#![no_main]
//! /proc/PID/maps and smaps_rollup.

use libfuzzer_sys::fuzz_target;
use memwarden_core::parse::proc_pid::{parse_maps, parse_smaps_rollup};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(maps) = parse_maps(&text) {
        for m in maps {
            assert!(m.end >= m.start);
            let _ = m.is_pageout_candidate();
        }
    }
    let _ = parse_smaps_rollup(&text);
});
