//! Our /proc parsers against procfs-core's, on the captured files in tests/data:
//!
//! ```text
//! cargo run --release -p memwarden-core --example parsers_vs_procfs [N]
//! ```
//!
//! Prints one JSON line per file with the median nanoseconds per parse of each
//! (N rounds of 1000 parses, default 50). procfs-core is the well-kept crate for
//! these formats; memwarden keeps its own parsers where they are faster on the
//! files it reads on every snapshot (docs/benchmarks.md says which and by how much).

use std::hint::black_box;
use std::time::Instant;

use memwarden_core::parse::{meminfo, proc_pid};
use procfs_core::FromRead;

/// Median ns per call of `f` over `rounds` rounds of 1000 calls.
fn time(rounds: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..1000 {
        f();
    }
    let mut per: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..1000 {
                f();
            }
            t.elapsed().as_nanos() as f64 / 1000.0
        })
        .collect();
    per.sort_by(f64::total_cmp);
    per[per.len() / 2]
}

fn data(name: &str) -> String {
    let p = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn line(file: &str, ours: f64, theirs: f64) {
    println!(
        "{{\"file\": \"{file}\", \"memwarden_ns\": {ours:.0}, \"procfs_core_ns\": {theirs:.0}, \"ratio\": {:.2}}}",
        theirs / ours
    );
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let status = data("status");
    let statm = data("statm");
    let mem = data("meminfo");
    line(
        "/proc/PID/status",
        time(rounds, || {
            black_box(proc_pid::parse_status(black_box(&status)).unwrap());
        }),
        time(rounds, || {
            black_box(procfs_core::process::Status::from_read(black_box(status.as_bytes())).unwrap());
        }),
    );
    line(
        "/proc/PID/statm",
        time(rounds, || {
            black_box(proc_pid::parse_statm(black_box(&statm)).unwrap());
        }),
        time(rounds, || {
            black_box(procfs_core::process::StatM::from_read(black_box(statm.as_bytes())).unwrap());
        }),
    );
    line(
        "/proc/meminfo",
        time(rounds, || {
            black_box(meminfo::parse_meminfo(black_box(&mem)).unwrap());
        }),
        time(rounds, || {
            black_box(procfs_core::Meminfo::from_read(black_box(mem.as_bytes())).unwrap());
        }),
    );
}
