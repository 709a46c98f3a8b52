//! In-process snapshot timing: `cargo run --release -p memwarden-core --example bench_snapshot [N]`.
//!
//! Prints one JSON object per variant with median/p10/p90 milliseconds over N
//! calls (after a warm-up), for comparison with bench/psutil_check.py --bench.

use std::time::Instant;

use memwarden_core::{collect, SnapshotOptions};

fn stats(name: &str, samples: &mut [f64], processes: u32) {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "{{\"impl\": \"memwarden\", \"variant\": \"{name}\", \"n\": {}, \"processes\": {processes}, \
         \"median_ms\": {:.3}, \"p10_ms\": {:.3}, \"p90_ms\": {:.3}}}",
        samples.len(),
        q(0.5),
        q(0.1),
        q(0.9)
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let variants = [
        (
            "full snapshot (top 10, GPU probe)",
            SnapshotOptions::default(),
        ),
        (
            "system+container+pressure+self (top 0, no GPU)",
            SnapshotOptions {
                top: 0,
                gpu: false,
                ..Default::default()
            },
        ),
    ];
    for (name, opts) in variants {
        let mut scanned = 0;
        for _ in 0..10 {
            scanned = collect(&opts).expect("snapshot").top_processes.scanned;
        }
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let s = collect(&opts).expect("snapshot");
            samples.push(t.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(s);
        }
        stats(name, &mut samples, scanned);
    }
}
