#![no_main]
//! The panel's request bodies and ComfyUI's settings file: any text gives the values
//! or a message saying what was wrong, never a panic.

use libfuzzer_sys::fuzz_target;
use memwarden_core::parse::request::{
    cleanup_request, comfy_settings, feed_request, guard_request,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = cleanup_request(&text, "monitor");
    if let Ok(f) = feed_request(&text) {
        assert!((0.25..=60.0).contains(&f.interval_s) && !f.client_id.is_empty());
    }
    if let Ok(g) = guard_request(&text) {
        assert!(g.reserve_mb.is_none_or(|mb| mb <= 1 << 20));
    }
    if let Ok(s) = comfy_settings(&text) {
        assert!(s.reserve_bytes.is_none_or(|b| b > 0 && b <= 1 << 40));
    }
});
