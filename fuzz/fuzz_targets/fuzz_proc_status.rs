#![no_main]
//! /proc/PID/{status,statm,stat,cmdline}.

use libfuzzer_sys::fuzz_target;
use memwarden_core::parse::proc_pid::{parse_cmdline, parse_stat, parse_statm, parse_status};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_status(&text);
    let _ = parse_statm(&text);
    if let Ok(s) = parse_stat(&text) {
        assert!(!s.comm.contains('\n') || text.contains('\n'));
    }
    let _ = parse_cmdline(data);
});
