#![no_main]
//! /proc/PID/cgroup, mountinfo, memory.stat (v1 and v2), limit and counter files.

use libfuzzer_sys::fuzz_target;
use memwarden_core::parse::cgroup::{
    parse_cgroup_mounts, parse_counter, parse_limit, parse_memory_stat, parse_proc_cgroup,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(entries) = parse_proc_cgroup(&text) {
        assert!(entries.iter().all(|e| e.path.starts_with('/')));
    }
    let _ = parse_cgroup_mounts(&text);
    let _ = parse_memory_stat(&text, 1);
    let _ = parse_memory_stat(&text, 2);
    if let Ok(Some(limit)) = parse_limit(&text, "fuzz") {
        assert!(limit < 1 << 60);
    }
    let _ = parse_counter(&text, "fuzz");
});
