//! A neighbour that needs memory: another process in ComfyUI's container (an
//! encoder, a second tool in the pod), for the crash-prevention tests and benchmarks.
//!
//! `neighbour MIB RATE_MIB_PER_S [CHUNK_MIB]`
//!
//! Maps MIB MiB of anonymous memory in chunks of CHUNK_MIB (default 64) and writes
//! every page of each chunk (so it is really charged to the group; huge pages where
//! the kernel gives them, the fastest way to take memory), pacing the
//! chunks so the whole takes MIB / RATE seconds; RATE 0 takes it as fast as this
//! process can touch pages. Prints, one JSON object per line on stdout:
//! `{"chunk":N,"mib":M,"t_ns":T}` after each chunk (T: CLOCK_MONOTONIC, comparable
//! with the memory figures of other processes), then
//! `{"done":true,"mib":MIB,"seconds":S,"mib_per_s":R}` and holds the memory until
//! stdin closes or says `exit`. Killed by the kernel on the way (the group's OOM
//! killer), it prints nothing more: the caller sees the signal.

// Linux only (it writes anonymous mappings and reads CLOCK_MONOTONIC): on other
// targets this example is empty and has no `main`, so it is checked by clippy.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use memwarden_core::monotonic_ns;

#[path = "support/mapping.rs"]
mod mapping;
use mapping::held_mapping;

fn chunk(mib: usize, round: u8) {
    held_mapping(mib << 20, round, true);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: neighbour MIB RATE_MIB_PER_S [CHUNK_MIB]";
    let total: usize = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let rate: f64 = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let size: usize = args.get(3).map_or(64, |a| a.parse().expect(usage));
    assert!(size > 0 && rate >= 0.0, "{usage}");
    let out = std::io::stdout();
    let start = Instant::now();
    let mut done = 0;
    let mut n = 0;
    while done < total {
        let mib = size.min(total - done);
        chunk(mib, n as u8);
        done += mib;
        n += 1;
        writeln!(
            out.lock(),
            "{{\"chunk\":{n},\"mib\":{done},\"t_ns\":{}}}",
            monotonic_ns()
        )
        .unwrap();
        if rate > 0.0 {
            let due = Duration::from_secs_f64(done as f64 / rate);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    writeln!(
        out.lock(),
        "{{\"done\":true,\"mib\":{total},\"seconds\":{secs:.4},\"mib_per_s\":{:.1}}}",
        total as f64 / secs.max(1e-9)
    )
    .unwrap();
    out.lock().flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        if line.map_or(true, |l| l.trim() == "exit") {
            break;
        }
    }
}
