#![no_main]
//! PSI files: any bytes give Ok or Malformed; averages stay percentages.

use libfuzzer_sys::fuzz_target;
use memwarden_core::parse::psi::parse_psi;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = parse_psi(&String::from_utf8_lossy(data), "fuzz") {
        for l in std::iter::once(p.some).chain(p.full) {
            for v in [l.avg10, l.avg60, l.avg300] {
                assert!((0.0..=100.0).contains(&v));
            }
        }
    }
});
