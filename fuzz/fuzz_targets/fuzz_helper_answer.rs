#![no_main]
//! The external helper's answer: any output gives a report or an error that says
//! what was wrong, quoting at most 500 characters of it.

use libfuzzer_sys::fuzz_target;
use memwarden_core::parse::helper::helper_answer;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (out, err) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    if let Err(e) = helper_answer("h", out, err, 1) {
        if e.kind.is_empty() {
            assert!(e.error.chars().count() <= 600, "{}", e.error);
        }
    }
});
