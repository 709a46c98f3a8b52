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

/// Time memwarden's parser and procfs-core's on the captured file `name` and print
/// one line. `$ours` parses a `&str`; `$theirs` is a procfs-core type read with
/// `FromRead` from the same bytes.
macro_rules! compare {
    ($rounds:expr, $file:literal, $name:literal, $ours:path, $theirs:ty) => {{
        let text = data($name);
        let ours = time($rounds, || {
            black_box($ours(black_box(&text)).unwrap());
        });
        let theirs = time($rounds, || {
            black_box(<$theirs>::from_read(black_box(text.as_bytes())).unwrap());
        });
        println!(
            "{{\"file\": \"{}\", \"memwarden_ns\": {ours:.0}, \"procfs_core_ns\": {theirs:.0}, \"ratio\": {:.2}}}",
            $file,
            theirs / ours
        );
    }};
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    compare!(
        rounds,
        "/proc/PID/status",
        "status",
        proc_pid::parse_status,
        procfs_core::process::Status
    );
    compare!(
        rounds,
        "/proc/PID/statm",
        "statm",
        proc_pid::parse_statm,
        procfs_core::process::StatM
    );
    compare!(
        rounds,
        "/proc/meminfo",
        "meminfo",
        meminfo::parse_meminfo,
        procfs_core::Meminfo
    );
}
