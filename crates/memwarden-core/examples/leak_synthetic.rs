//! The leak verdict on synthetic per-prompt RSS series: false-positive rate on
//! trend-free noise and detection delay (prompts until flagged) for steady leaks,
//! with the detector's default configuration, assessing after every prompt as the
//! Memory Leak Detector does (so the false-positive rate is the sequential one: a
//! series counts as a false alarm if it is flagged at any prompt).
//!
//! cargo run --release -p memwarden-core --example leak_synthetic [-- TRIALS MAX_PROMPTS SIGMA_MB [ALPHA]]

use memwarden_core::policy::leak::{assess, LeakConfig};

const MB: f64 = 1024.0 * 1024.0;

/// xorshift64* with Box–Muller normals: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.unit().ln()).sqrt() * (2.0 * std::f64::consts::PI * self.unit()).cos()
    }
}

/// Prompts (after warm-up) until the first leak verdict, or None within `max`.
fn first_alarm(series: &[f64], config: &LeakConfig) -> Option<usize> {
    let start = config.warmup + config.min_points;
    (start..=series.len())
        .find(|&n| assess(&series[..n], config).leak)
        .map(|n| n - config.warmup)
}

fn percentile(sorted: &[usize], q: f64) -> usize {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let trials = args.first().copied().unwrap_or(200.0) as usize;
    let max = args.get(1).copied().unwrap_or(200.0) as usize;
    let sigma = args.get(2).copied().unwrap_or(50.0) * MB;
    let mut config = LeakConfig::default();
    if let Some(&alpha) = args.get(3) {
        config.alpha = alpha;
    }
    println!(
        "config: warm-up {} prompts, min {} points, alpha {}, min slope {:.2} MB/prompt; \
         noise sigma {:.0} MB; {trials} series of up to {max} prompts each",
        config.warmup,
        config.min_points,
        config.alpha,
        config.min_slope_bytes / MB,
        sigma / MB
    );
    println!(
        "| leak (MB/prompt) | flagged within {max} | median delay | 90th pct delay | max delay |"
    );
    println!("|---|---|---|---|---|");
    for slope_mb in [0.0, 1.0, 5.0, 20.0] {
        let mut rng = Rng(0x5EED_0000 + slope_mb as u64);
        let mut delays = Vec::new();
        for _ in 0..trials {
            let series: Vec<f64> = (0..max)
                .map(|i| 4096.0 * MB + slope_mb * MB * i as f64 + sigma * rng.normal())
                .collect();
            if let Some(d) = first_alarm(&series, &config) {
                delays.push(d);
            }
        }
        delays.sort_unstable();
        let rate = 100.0 * delays.len() as f64 / trials as f64;
        let label = if slope_mb == 0.0 {
            "0 (noise only: false alarms)".into()
        } else {
            format!("{slope_mb}")
        };
        if delays.is_empty() {
            println!("| {label} | {rate:.1} % | – | – | – |");
        } else {
            println!(
                "| {label} | {rate:.1} % | {} | {} | {} |",
                percentile(&delays, 0.5),
                percentile(&delays, 0.9),
                delays[delays.len() - 1]
            );
        }
    }
}
