//! In-process snapshot timing, the memwarden side of `bench/run.sh`:
//!
//! ```text
//! cargo build --release -p memwarden-core --example bench_snapshot
//! target/release/examples/bench_snapshot [N]      # N timed calls per variant, default 300
//! ```
//!
//! Two variants of `memwarden_core::collect`, each warmed up and then called N times:
//!
//! - `full`: `SnapshotOptions::default()`, what `memwarden check` collects: system
//!   memory, container and cgroup, PSI, the calling process, the top 10 processes by
//!   RSS (a scan of every `/proc/PID/statm`) and the GPU probe. Without an NVIDIA
//!   driver the probe fails on the first call (NVML cannot be loaded) and that
//!   failure is cached for the life of the process, so the timed calls pay nothing
//!   for it; the line's `gpu` field says what the probe found.
//! - `system`: `top: 0, gpu: false`: system, container, pressure and the calling
//!   process alone (no process scan, no GPU).
//!
//! Before the warm-up the first call of the process is timed on its own
//! (`first_call_ms`): it opens every `statm` descriptor and tries to load NVML, which
//! is what a one-shot `memwarden check` pays. Each variant prints one JSON object
//! per line with the median, p10 and p90 in milliseconds, the same shape as
//! `bench/psutil_check.py --bench N` prints.

use std::time::Instant;

use memwarden_core::{collect, Snapshot, SnapshotOptions};

const WARMUP: usize = 10;

/// Value at quantile `q` (nearest rank) of sorted samples.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn round3(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

fn timed(opts: &SnapshotOptions) -> (f64, Snapshot) {
    let t = Instant::now();
    let s = collect(opts).expect("snapshot");
    (t.elapsed().as_secs_f64() * 1e3, s)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(300);
    let variants = [
        (
            "full",
            "full snapshot (top 10, GPU probe)",
            SnapshotOptions::default(),
        ),
        (
            "system",
            "system+container+pressure+self (top 0, no GPU)",
            SnapshotOptions {
                top: 0,
                gpu: false,
                ..Default::default()
            },
        ),
    ];
    let mut first_call = None;
    for (key, label, opts) in variants {
        if first_call.is_none() {
            first_call = Some(timed(&opts).0);
        }
        let mut last = None;
        for _ in 0..WARMUP {
            last = Some(timed(&opts).1);
        }
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let (ms, s) = timed(&opts);
            samples.push(ms);
            last = Some(std::hint::black_box(s));
        }
        samples.sort_by(f64::total_cmp);
        let snap = last.expect("at least one call");
        let mut line = serde_json::json!({
            "impl": "memwarden",
            "key": key,
            "variant": label,
            "n": n,
            "processes": snap.top_processes.scanned,
            "median_ms": round3(quantile(&samples, 0.5)),
            "p10_ms": round3(quantile(&samples, 0.1)),
            "p90_ms": round3(quantile(&samples, 0.9)),
            "min_ms": round3(samples[0]),
        });
        if opts.gpu {
            line["gpu"] = match (snap.gpu.available, &snap.gpu.unavailable_reason) {
                (true, _) => format!("{} GPU(s) queried", snap.gpu.devices.len()).into(),
                (false, Some(r)) => r.clone().into(),
                (false, None) => "unavailable".into(),
            };
        }
        if key == "full" {
            line["first_call_ms"] = round3(first_call.unwrap_or_default()).into();
        }
        println!("{line}");
    }
}
