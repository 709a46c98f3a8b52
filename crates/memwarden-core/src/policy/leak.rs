//! Is memory leaking, and where from: pure functions over per-prompt series and
//! per-node-execution records (the Memory Leak Detector's decisions).
//!
//! - [`mann_kendall`]: the Mann–Kendall trend test (S, variance corrected for ties,
//!   continuity-corrected Z, two-sided p). Rank-based, so one huge prompt moves S by
//!   at most n − 1 and cannot make a trend on its own.
//! - [`theil_sen_slope`]: the median of all pairwise slopes (O(n²) pairs, fine for
//!   the few hundred prompts a session keeps); robust to up to ~29 % outliers.
//! - [`assess`]: warm-up exclusion, minimum points, then a leak is called only when
//!   the trend is significant (p < alpha, S > 0) **and** the Theil–Sen slope is at
//!   least `min_slope_bytes` per prompt: a significant but tiny growth (a log list)
//!   or a large but trend-free noise is not a leak.
//! - [`attribute_nodes`]: memory retained per node type (after − before of each
//!   execution), aggregated over prompts, with the same trend test over each type's
//!   executions, suspects ranked by median retained bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{LeakVerdict, NodeRecord, NodeSuspect, TrendTest};

/// What the detector is told to look for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeakConfig {
    /// The first prompts of a series ignored (model loading, caches warming up).
    pub warmup: usize,
    /// Fewest points (after warm-up) before any verdict.
    pub min_points: usize,
    /// Significance level of the two-sided Mann–Kendall test.
    pub alpha: f64,
    /// Smallest growth called a leak, bytes per prompt (Theil–Sen slope).
    pub min_slope_bytes: f64,
}

impl Default for LeakConfig {
    fn default() -> Self {
        Self {
            warmup: 2,
            min_points: 8,
            alpha: 0.001,
            min_slope_bytes: 1024.0 * 1024.0,
        }
    }
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The Mann–Kendall test of `xs`; None below 3 points.
pub fn mann_kendall(xs: &[f64]) -> Option<TrendTest> {
    let n = xs.len();
    if n < 3 {
        return None;
    }
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            s += match xs[j].partial_cmp(&xs[i]) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut tie_term = 0.0;
    let mut k = 0;
    while k < n {
        let mut m = k + 1;
        while m < n && sorted[m] == sorted[k] {
            m += 1;
        }
        let t = (m - k) as f64;
        tie_term += t * (t - 1.0) * (2.0 * t + 5.0);
        k = m;
    }
    let nf = n as f64;
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - tie_term) / 18.0;
    let z = if var_s <= 0.0 {
        0.0
    } else if s > 0 {
        (s as f64 - 1.0) / var_s.sqrt()
    } else if s < 0 {
        (s as f64 + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    let p = if z == 0.0 {
        1.0
    } else {
        (2.0 * (1.0 - normal_cdf(z.abs()))).clamp(0.0, 1.0)
    };
    Some(TrendTest { n, s, var_s, z, p })
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Theil–Sen slope of `xs` over its index (units of `xs` per step); 0 below 2 points.
pub fn theil_sen_slope(xs: &[f64]) -> f64 {
    let n = xs.len();
    let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            slopes.push((xs[j] - xs[i]) / (j - i) as f64);
        }
    }
    median(&mut slopes)
}

fn mib(bytes: f64) -> String {
    format!("{:.2} MB", bytes / (1024.0 * 1024.0))
}

/// The verdict on a per-prompt series (bytes), warm-up prompts first.
pub fn assess(series: &[f64], config: &LeakConfig) -> LeakVerdict {
    let used = series.get(config.warmup..).unwrap_or(&[]);
    let points = used.len();
    let needed = config.min_points.max(3);
    if points < needed {
        return LeakVerdict {
            leak: false,
            slope_bytes_per_prompt: 0.0,
            trend: None,
            points,
            reason: format!(
                "too few prompts: {points} after {} warm-up, {needed} needed",
                config.warmup
            ),
        };
    }
    let trend = mann_kendall(used);
    let slope = theil_sen_slope(used);
    let Some(t) = trend else {
        unreachable!("points >= 3")
    };
    let per = format!("{}/prompt", mib(slope));
    let (leak, reason) = if t.s <= 0 || t.p >= config.alpha {
        (
            false,
            format!("no significant upward trend (p = {:.3}, slope {per})", t.p),
        )
    } else if slope < config.min_slope_bytes {
        (
            false,
            format!(
                "upward trend (p = {:.2e}) but slope {per} is below the {} minimum",
                t.p,
                mib(config.min_slope_bytes)
            ),
        )
    } else {
        (
            true,
            format!(
                "growing {per} over {points} prompts (Mann–Kendall p = {:.2e})",
                t.p
            ),
        )
    };
    LeakVerdict {
        leak,
        slope_bytes_per_prompt: slope,
        trend,
        points,
        reason,
    }
}

/// The verdict on each per-prompt series, whether any of them leaks, and the
/// steepest slope among them (bytes per prompt; 0 with no series).
pub fn assess_all(
    series: &[(String, Vec<f64>)],
    config: &LeakConfig,
) -> (Vec<(String, LeakVerdict)>, bool, f64) {
    let verdicts: Vec<(String, LeakVerdict)> = series
        .iter()
        .map(|(name, xs)| (name.clone(), assess(xs, config)))
        .collect();
    let leak = verdicts.iter().any(|(_, v)| v.leak);
    let slope = verdicts
        .iter()
        .map(|(_, v)| v.slope_bytes_per_prompt)
        .fold(0.0, f64::max);
    (verdicts, leak, slope)
}

/// Object types whose live count keeps growing over the prompts sampled (each a
/// count by type name): types seen in the first and the last sample whose counts
/// have a significant upward trend (at `alpha`) of at least one object a prompt;
/// the `limit` that grew most, with their growth, most first. None below 3 samples.
pub fn growing_types(
    samples: &[BTreeMap<String, u64>],
    alpha: f64,
    limit: usize,
) -> Vec<(String, i64)> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Vec::new();
    };
    // Below 3 samples the trend test judges nothing (min_points).
    let config = LeakConfig {
        warmup: 0,
        min_points: 3,
        alpha,
        min_slope_bytes: 1.0,
    };
    let mut grown: Vec<(String, i64)> = last
        .keys()
        .filter(|name| first.contains_key(*name))
        .filter_map(|name| {
            let counts: Vec<f64> = samples
                .iter()
                .map(|o| o.get(name).copied().unwrap_or(0) as f64)
                .collect();
            assess(&counts, &config)
                .leak
                .then(|| (name.clone(), last[name] as i64 - first[name] as i64))
        })
        .collect();
    grown.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    grown.truncate(limit);
    grown
}

/// One allocation site's growth between two tracemalloc snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SiteGrowth {
    pub file: String,
    pub line: u32,
    /// Bytes it grew by, and what it holds now.
    pub size_diff: i64,
    pub size: u64,
    /// Blocks it grew by.
    pub count_diff: i64,
}

/// The allocation sites that grew by at least `threshold_bytes`, largest first,
/// at most `limit`.
pub fn grown_sites(sites: &[SiteGrowth], threshold_bytes: f64, limit: usize) -> Vec<SiteGrowth> {
    let mut grown: Vec<SiteGrowth> = sites
        .iter()
        .filter(|s| s.size_diff as f64 >= threshold_bytes)
        .cloned()
        .collect();
    grown.sort_by_key(|s| std::cmp::Reverse(s.size_diff));
    grown.truncate(limit);
    grown
}

/// Per node type: what its executions left behind, suspects first (leaking types,
/// then by median retained bytes). Records of warm-up prompts are ignored; each
/// type's verdict is on the running sum of its retained RSS + VRAM, so a type that
/// keeps a few MB every execution shows a steady slope.
pub fn attribute_nodes(records: &[NodeRecord], config: &LeakConfig) -> Vec<NodeSuspect> {
    let mut by_type: BTreeMap<&str, Vec<&NodeRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.prompt_index >= config.warmup) {
        by_type.entry(&r.node_type).or_default().push(r);
    }
    let per_type = LeakConfig {
        warmup: 0,
        ..config.clone()
    };
    let mut out: Vec<NodeSuspect> = by_type
        .into_iter()
        .map(|(node_type, recs)| {
            let mut rss: Vec<f64> = recs.iter().map(|r| r.delta_rss as f64).collect();
            let mut vram: Vec<f64> = recs.iter().map(|r| r.delta_vram as f64).collect();
            let traced: Option<Vec<i64>> = recs.iter().map(|r| r.delta_traced).collect();
            let mut acc = 0.0;
            let cumulative: Vec<f64> = recs
                .iter()
                .map(|r| {
                    let host = if traced.is_some() {
                        r.retained_host()
                    } else {
                        r.delta_rss
                    };
                    acc += (host + r.delta_vram) as f64;
                    acc
                })
                .collect();
            NodeSuspect {
                node_type: node_type.to_string(),
                executions: recs.len(),
                total_rss_bytes: recs.iter().map(|r| r.delta_rss).sum(),
                total_vram_bytes: recs.iter().map(|r| r.delta_vram).sum(),
                median_rss_bytes: median(&mut rss),
                median_vram_bytes: median(&mut vram),
                median_traced_bytes: traced.as_ref().map(|t| {
                    let mut xs: Vec<f64> = t.iter().map(|&x| x as f64).collect();
                    median(&mut xs)
                }),
                total_traced_bytes: traced.as_ref().map(|t| t.iter().sum()),
                verdict: assess(&cumulative, &per_type),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |s: &NodeSuspect| {
            s.median_traced_bytes.unwrap_or(s.median_rss_bytes) + s.median_vram_bytes
        };
        b.verdict
            .leak
            .cmp(&a.verdict.leak)
            .then(key(b).total_cmp(&key(a)))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: f64 = 1024.0 * 1024.0;

    #[test]
    fn every_series_judged_and_the_steepest_slope() {
        let c = LeakConfig {
            warmup: 0,
            min_points: 3,
            alpha: 0.05,
            min_slope_bytes: 1.0,
        };
        let flat = vec![5.0; 12];
        let up: Vec<f64> = (0..12).map(|i| f64::from(i) * 3.0).collect();
        let down: Vec<f64> = (0..12).map(|i| -f64::from(i)).collect();
        let (v, leak, slope) = assess_all(&[("rss".into(), flat.clone()), ("uss".into(), up)], &c);
        assert_eq!(
            v.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["rss", "uss"]
        );
        assert!(!v[0].1.leak && v[1].1.leak && leak);
        assert!((slope - 3.0).abs() < 1e-9, "{slope}");
        let (_, leak, slope) = assess_all(&[("rss".into(), flat), ("d".into(), down)], &c);
        assert!(!leak);
        assert_eq!(slope, 0.0);
        assert_eq!(assess_all(&[], &c), (vec![], false, 0.0));
    }

    #[test]
    fn object_types_that_keep_growing() {
        let sample = |i: u64| {
            BTreeMap::from([
                ("dict".to_string(), 100 + 50 * i),
                ("list".to_string(), 10 + i),
                ("flat".to_string(), 7),
                ("late".to_string(), if i == 0 { 0 } else { 5 * i }),
                ("tuple".to_string(), 10 + i),
            ])
        };
        let mut samples: Vec<_> = (0..10).map(sample).collect();
        samples[0].remove("late");
        assert_eq!(
            growing_types(&samples, 0.001, 5),
            [
                ("dict".to_string(), 450),
                ("list".to_string(), 9),
                ("tuple".to_string(), 9)
            ]
        );
        assert_eq!(
            growing_types(&samples, 0.001, 1),
            [("dict".to_string(), 450)]
        );
        // A count that falls back is no trend; below 3 samples nothing is judged.
        samples[9].insert("dict".into(), 100);
        assert_eq!(growing_types(&samples, 0.001, 5)[0].0, "list");
        assert!(growing_types(&samples[..2], 0.5, 5).is_empty());
        assert!(growing_types(&[], 0.5, 5).is_empty());
    }

    #[test]
    fn sites_that_grew_past_the_threshold() {
        let site = |line: u32, size_diff: i64| SiteGrowth {
            file: "a.py".into(),
            line,
            size_diff,
            size: 0,
            count_diff: 0,
        };
        let sites = [
            site(1, 5 * MB as i64),
            site(2, MB as i64),
            site(3, 9 * MB as i64),
            site(4, MB as i64 - 1),
        ];
        let lines = |g: Vec<SiteGrowth>| g.iter().map(|s| s.line).collect::<Vec<_>>();
        assert_eq!(lines(grown_sites(&sites, MB, 10)), [3, 1, 2]);
        assert_eq!(lines(grown_sites(&sites, MB, 2)), [3, 1]);
        assert_eq!(lines(grown_sites(&sites, 6.0 * MB, 10)), [3]);
    }

    /// A small deterministic generator (xorshift64*) and Box–Muller normals.
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

    fn config() -> LeakConfig {
        LeakConfig {
            warmup: 0,
            min_points: 8,
            alpha: 0.01,
            min_slope_bytes: MB,
        }
    }

    #[test]
    fn mann_kendall_known_values() {
        // Strictly increasing n = 10: S = 45, var = 10*9*25/18 = 125.
        let xs: Vec<f64> = (0..10).map(f64::from).collect();
        let t = mann_kendall(&xs).unwrap();
        assert_eq!(t.s, 45);
        assert!((t.var_s - 125.0).abs() < 1e-9);
        assert!((t.z - 44.0 / 125f64.sqrt()).abs() < 1e-9);
        assert!(t.p < 1e-4);
        // Ties: [1, 1, 2]: pairs (1,1)=0, (1,2)=+1, (1,2)=+1 → S = 2;
        // var = (3*2*11 - 2*1*9)/18 = 48/18.
        let t = mann_kendall(&[1.0, 1.0, 2.0]).unwrap();
        assert_eq!(t.s, 2);
        assert!((t.var_s - 48.0 / 18.0).abs() < 1e-9);
        assert!(mann_kendall(&[1.0, 2.0]).is_none());
        // All equal: no variance, no trend.
        let t = mann_kendall(&[5.0; 6]).unwrap();
        assert_eq!((t.s, t.z, t.p), (0, 0.0, 1.0));
    }

    /// A published worked example: J. Little, "A Mann-Kendall Example (\"By Hand\")",
    /// College of the Holy Cross (mathcs.holycross.edu/~little/Montserrat/
    /// MannKendallByHand.txt). The 14 values below give S = 72 - 18 = 54 (one tie,
    /// 12.9 twice), Var(S) = 14*13*33/18 - 2*1*9/18 = 332.667, Z = (S - 1)/sqrt(Var)
    /// = 2.9058 and an upper-tail probability of about .0018 "using the standard
    /// normal table". The test is two-sided (a leak is called on S > 0 only after
    /// it), so p is twice that tail: 2 * (1 - Phi(2.905837)) = 0.0036627.
    #[test]
    fn mann_kendall_matches_a_published_worked_example() {
        let xs = [
            12.9, 14.8, 13.2, 15.7, 13.8, 15.6, 12.9, 11.0, 17.3, 15.9, 19.0, 18.3, 20.1, 21.7,
        ];
        let t = mann_kendall(&xs).unwrap();
        assert_eq!((t.n, t.s), (14, 54));
        assert!(
            (t.var_s - (14.0 * 13.0 * 33.0 - 18.0) / 18.0).abs() < 1e-9,
            "{t:?}"
        );
        assert!((t.var_s - 332.667).abs() < 1e-3, "{t:?}");
        assert!((t.z - 2.9058).abs() < 1e-4, "{t:?}");
        assert!((t.p - 0.003_662_7).abs() < 1e-6, "two-sided p: {t:?}");
        assert!(
            ((t.p / 2.0) - 0.0018).abs() < 5e-5,
            "the published tail: {t:?}"
        );
        // The same series backwards: the same test of a downward trend.
        let mut back = xs;
        back.reverse();
        let b = mann_kendall(&back).unwrap();
        assert_eq!(b.s, -54);
        assert!(
            (b.z + t.z).abs() < 1e-12 && (b.p - t.p).abs() < 1e-12,
            "{b:?}"
        );
        // Significant at 0.01, not at 0.001; never a leak downwards.
        let at = |alpha| LeakConfig {
            warmup: 0,
            min_points: 8,
            alpha,
            min_slope_bytes: 0.1,
        };
        assert!(assess(&xs, &at(0.01)).leak);
        assert!(!assess(&xs, &at(0.001)).leak);
        assert!(!assess(&back, &at(0.5)).leak);
    }

    #[test]
    fn alpha_and_min_slope_are_strict_bounds() {
        let xs: Vec<f64> = (0..12).map(|i| f64::from(i) * 2.0 * MB).collect();
        let t = mann_kendall(&xs).unwrap();
        let slope = theil_sen_slope(&xs);
        assert!((slope - 2.0 * MB).abs() < 1e-6);
        let cfg = |alpha: f64, min_slope_bytes: f64| LeakConfig {
            warmup: 0,
            min_points: 8,
            alpha,
            min_slope_bytes,
        };
        // p equal to alpha is not significant; just above it is.
        assert!(!assess(&xs, &cfg(t.p, MB)).leak);
        assert!(assess(&xs, &cfg(t.p * (1.0 + 1e-9), MB)).leak);
        // A slope equal to the minimum is a leak; just below it is not.
        let v = assess(&xs, &cfg(0.01, slope));
        assert!(v.leak, "{}", v.reason);
        assert_eq!(v.slope_bytes_per_prompt, slope);
        assert_eq!(v.points, 12);
        assert_eq!(v.trend, Some(t));
        assert!(
            v.reason
                .starts_with("growing 2.00 MB/prompt over 12 prompts (Mann–Kendall p = "),
            "{}",
            v.reason
        );
        let v = assess(&xs, &cfg(0.01, slope * (1.0 + 1e-9)));
        assert!(!v.leak);
        assert!(
            v.reason.starts_with("upward trend (p = ")
                && v.reason
                    .ends_with("but slope 2.00 MB/prompt is below the 2.00 MB minimum"),
            "{}",
            v.reason
        );
        // No trend at all (S = 0, p = 1): never a leak, whatever alpha says.
        let flat = [3.0 * MB; 12];
        let v = assess(&flat, &cfg(2.0, 0.0));
        assert!(!v.leak, "{}", v.reason);
        assert_eq!(
            v.reason,
            "no significant upward trend (p = 1.000, slope 0.00 MB/prompt)"
        );
    }

    #[test]
    fn min_points_counts_after_the_warmup_and_is_at_least_three() {
        let xs: Vec<f64> = (0..10).map(|i| f64::from(i) * 10.0 * MB).collect();
        let cfg = |warmup, min_points| LeakConfig {
            warmup,
            min_points,
            alpha: 0.5,
            min_slope_bytes: MB,
        };
        // 8 points after a warm-up of 2: exactly the minimum is enough.
        let v = assess(&xs, &cfg(2, 8));
        assert_eq!(v.points, 8);
        assert!(v.trend.is_some() && v.leak, "{}", v.reason);
        let v = assess(&xs, &cfg(2, 9));
        assert!(v.trend.is_none() && !v.leak);
        assert_eq!(v.reason, "too few prompts: 8 after 2 warm-up, 9 needed");
        // A minimum below 3 still needs 3 points (the test needs them).
        let v = assess(&xs[..2], &cfg(0, 0));
        assert_eq!(v.reason, "too few prompts: 2 after 0 warm-up, 3 needed");
        assert!(assess(&xs[..3], &cfg(0, 0)).trend.is_some());
    }

    #[test]
    fn ties_reduce_the_variance_group_by_group() {
        // [1, 1, 1, 2, 2, 3]: tie groups of 3 and 2.
        // var = (6*5*17 - 3*2*11 - 2*1*9) / 18 = (510 - 66 - 18) / 18.
        let t = mann_kendall(&[1.0, 1.0, 1.0, 2.0, 2.0, 3.0]).unwrap();
        assert_eq!(t.s, 11);
        assert!((t.var_s - 426.0 / 18.0).abs() < 1e-9, "{t:?}");
        assert!((t.z - 10.0 / (426.0f64 / 18.0).sqrt()).abs() < 1e-12);
        // Negative S: Z = (S + 1) / sqrt(var).
        let t = mann_kendall(&[3.0, 2.0, 1.0]).unwrap();
        assert_eq!(t.s, -3);
        assert!((t.z - (-2.0 / (3.0f64 * 2.0 * 11.0 / 18.0).sqrt())).abs() < 1e-12);
        assert!((t.p - 2.0 * (1.0 - normal_cdf(t.z.abs()))).abs() < 1e-15);
        assert!(t.p > 0.0 && t.p < 1.0);
    }

    #[test]
    fn normal_cdf_to_seven_places() {
        // Phi(x) from standard tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.1).
        for (x, phi) in [
            (0.5, 0.691_462_461),
            (1.0, 0.841_344_746),
            (-1.0, 0.158_655_254),
            (2.0, 0.977_249_868),
            (3.0, 0.998_650_102),
            (-3.0, 0.001_349_898),
            (0.1, 0.539_827_837),
        ] {
            let got = normal_cdf(x);
            assert!((got - phi).abs() < 2e-7, "Phi({x}) = {got}, tables: {phi}");
        }
    }

    #[test]
    fn no_trend_at_all_has_p_one() {
        // S = 0 with a nonzero variance: Z = 0 and p = 1, not a tiny negative Z.
        let t = mann_kendall(&[2.0, 1.0, 1.0, 2.0]).unwrap();
        assert_eq!(t.s, 0);
        assert!(t.var_s > 0.0);
        assert_eq!((t.z, t.p), (0.0, 1.0));
    }

    #[test]
    fn median_and_theil_sen_on_small_sets() {
        assert_eq!(median(&mut []), 0.0);
        assert_eq!(median(&mut [5.0]), 5.0);
        assert_eq!(median(&mut [9.0, 1.0, 5.0]), 5.0);
        assert_eq!(median(&mut [9.0, 1.0, 5.0, 3.0]), 4.0);
        assert_eq!(median(&mut [-2.0, -8.0]), -5.0);
        // Pairs of [0, 2, 3]: slopes 2, 1.5 and 1: the median is 1.5.
        assert_eq!(theil_sen_slope(&[0.0, 2.0, 3.0]), 1.5);
        // Pairs of [10, 6, 4, 1]: -4, -3, -3, -2, -2.5, -3: the median is -3.
        assert_eq!(theil_sen_slope(&[10.0, 6.0, 4.0, 1.0]), -3.0);
        assert_eq!(theil_sen_slope(&[]), 0.0);
    }

    fn record(
        node_type: &str,
        prompt_index: usize,
        rss: f64,
        vram: f64,
        traced: Option<f64>,
    ) -> NodeRecord {
        NodeRecord {
            node_type: node_type.into(),
            prompt_index,
            delta_rss: (rss * MB) as i64,
            delta_vram: (vram * MB) as i64,
            delta_traced: traced.map(|t| (t * MB) as i64),
        }
    }

    #[test]
    fn retained_host_prefers_the_traced_delta() {
        assert_eq!(record("A", 0, 3.0, 0.0, None).retained_host(), 3 << 20);
        assert_eq!(
            record("A", 0, 3.0, 0.0, Some(-1.0)).retained_host(),
            -(1 << 20)
        );
    }

    #[test]
    fn attribution_sums_medians_and_orders_by_host_plus_vram() {
        let mut records = Vec::new();
        for p in 0..20 {
            // Keeps that alternate (+, -) add up to no trend: these types are no
            // leak, and are ordered by median host + median VRAM. Prompts 3..20
            // hold nine odd ones and eight even ones, so each median is the odd
            // prompts' value.
            let even = p % 2 == 0;
            let alt = |e: f64, o: f64| if even { e } else { o };
            records.push(record("HostOnly", p, alt(1.0, -1.0), 0.0, None)); // -1
            records.push(record("SomeVram", p, alt(1.0, -1.0), alt(-2.0, 2.0), None)); // -1 + 2
                                                                                       // Traced: its traced delta counts (-1.5), not its large RSS delta.
            records.push(record(
                "Traced",
                p,
                alt(40.0, 38.0),
                0.0,
                Some(alt(0.5, -1.5)),
            ));
            // VRAM alone grows 8 MB every execution: a leak, first whatever its host.
            records.push(record("VramLeak", p, 0.0, 8.0, None));
        }
        let cfg = LeakConfig {
            warmup: 3,
            ..config()
        };
        let s = attribute_nodes(&records, &cfg);
        let names: Vec<&str> = s.iter().map(|x| x.node_type.as_str()).collect();
        assert_eq!(names, ["VramLeak", "SomeVram", "HostOnly", "Traced"]);
        assert!(s[0].verdict.leak, "{}", s[0].verdict.reason);
        for x in &s[1..] {
            assert!(!x.verdict.leak, "{}: {}", x.node_type, x.verdict.reason);
        }
        // Each type's verdict is on its own executions after the warm-up: 17.
        for x in &s {
            assert_eq!(
                (x.executions, x.verdict.points),
                (17, 17),
                "{}",
                x.node_type
            );
        }
        let v = &s[0];
        assert_eq!(
            (v.total_vram_bytes, v.median_vram_bytes),
            ((17 * 8) << 20, 8.0 * MB)
        );
        assert_eq!(
            (
                v.total_rss_bytes,
                v.median_traced_bytes,
                v.total_traced_bytes
            ),
            (0, None, None)
        );
        assert!((v.verdict.slope_bytes_per_prompt - 8.0 * MB).abs() < 1.0);
        let t = &s[3];
        assert_eq!(t.median_traced_bytes, Some(-1.5 * MB));
        assert_eq!(
            t.total_traced_bytes,
            Some((8.0 * 0.5 * MB - 9.0 * 1.5 * MB) as i64)
        );
        assert_eq!(t.median_rss_bytes, 38.0 * MB);
        let h = &s[2];
        assert_eq!((h.total_rss_bytes, h.median_rss_bytes), (-(1 << 20), -MB));
        let v = &s[1];
        assert_eq!(
            (v.median_vram_bytes, v.total_vram_bytes),
            (2.0 * MB, 2 << 20)
        );
        // Records from the warm-up prompts only: the type is not listed.
        let early = [record("Early", 2, 1.0, 0.0, None)];
        assert!(attribute_nodes(&early, &cfg).is_empty());
        let at_warmup = [record("AtWarmup", 3, 1.0, 0.0, None)];
        assert_eq!(attribute_nodes(&at_warmup, &cfg).len(), 1);
    }

    #[test]
    fn normal_cdf_matches_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975_002).abs() < 1e-5);
        assert!((normal_cdf(-2.575_8) - 0.005).abs() < 1e-5);
    }

    #[test]
    fn theil_sen_ignores_an_outlier() {
        let mut xs: Vec<f64> = (0..20).map(|i| f64::from(i) * 3.0).collect();
        xs[10] = 1e9;
        assert!((theil_sen_slope(&xs) - 3.0).abs() < 1e-9);
        assert_eq!(theil_sen_slope(&[7.0]), 0.0);
    }

    #[test]
    fn noise_only_is_not_a_leak() {
        let mut rng = Rng(42);
        let mut alarms = 0;
        for _ in 0..200 {
            let xs: Vec<f64> = (0..30)
                .map(|_| 4000.0 * MB + 50.0 * MB * rng.normal())
                .collect();
            alarms += usize::from(assess(&xs, &config()).leak);
        }
        assert!(
            alarms <= 4,
            "{alarms} false alarms in 200 noise series at alpha 0.01"
        );
    }

    #[test]
    fn steady_slope_is_a_leak() {
        let mut rng = Rng(7);
        let xs: Vec<f64> = (0..40)
            .map(|i| 4000.0 * MB + 5.0 * MB * f64::from(i) + 10.0 * MB * rng.normal())
            .collect();
        let v = assess(&xs, &config());
        assert!(v.leak, "{}", v.reason);
        assert!(
            (v.slope_bytes_per_prompt / MB - 5.0).abs() < 1.0,
            "{}",
            v.reason
        );
        assert!(v.reason.contains("MB/prompt"), "{}", v.reason);
    }

    #[test]
    fn one_big_prompt_is_not_a_leak() {
        // Flat, then one prompt 2 GB higher (a big image), then flat again.
        let mut xs = vec![4000.0 * MB; 30];
        for (i, x) in xs.iter_mut().enumerate() {
            *x += (i % 3) as f64 * MB; // a little jitter
        }
        xs[15] += 2048.0 * MB;
        let v = assess(&xs, &config());
        assert!(!v.leak, "{}", v.reason);
    }

    #[test]
    fn a_single_step_has_no_slope_per_prompt_beyond_its_share() {
        // A one-time step of 300 MB on the fourth prompt (a model loaded once): the
        // warm-up excludes it, and the flat rest is no leak.
        let xs: Vec<f64> = (0..40)
            .map(|i| if i < 3 { 1000.0 * MB } else { 1300.0 * MB })
            .collect();
        let v = assess(
            &xs,
            &LeakConfig {
                warmup: 3,
                ..config()
            },
        );
        assert!(!v.leak, "{}", v.reason);
    }

    #[test]
    fn tiny_significant_growth_is_below_minimum() {
        let xs: Vec<f64> = (0..30)
            .map(|i| 1000.0 * MB + 0.1 * MB * f64::from(i))
            .collect();
        let v = assess(&xs, &config());
        assert!(!v.leak);
        assert!(v.reason.contains("below"), "{}", v.reason);
    }

    #[test]
    fn warmup_and_min_points() {
        let xs: Vec<f64> = (0..9).map(|i| f64::from(i) * 10.0 * MB).collect();
        let v = assess(
            &xs,
            &LeakConfig {
                warmup: 2,
                ..config()
            },
        );
        assert!(!v.leak);
        assert_eq!(v.points, 7);
        assert!(v.trend.is_none());
        assert!(v.reason.contains("too few prompts"), "{}", v.reason);
        assert!(!assess(&[], &config()).leak);
        assert!(
            !assess(
                &xs,
                &LeakConfig {
                    warmup: 100,
                    ..config()
                }
            )
            .leak
        );
    }

    #[test]
    fn attribution_names_the_leaking_type() {
        let mut rng = Rng(3);
        let mut records = Vec::new();
        for p in 0..20 {
            for (node_type, keep) in [("Loader", 0.0), ("Leaky", 8.0 * MB), ("Noisy", 0.0)] {
                let jitter = if node_type == "Noisy" {
                    30.0 * MB
                } else {
                    0.3 * MB
                };
                records.push(NodeRecord {
                    node_type: node_type.into(),
                    prompt_index: p,
                    delta_rss: (keep + jitter * rng.normal()) as i64,
                    delta_vram: 0,
                    delta_traced: None,
                });
            }
        }
        records.push(NodeRecord {
            node_type: "Rare".into(),
            prompt_index: 0,
            delta_rss: 999,
            delta_vram: 5,
            delta_traced: None,
        });
        let suspects = attribute_nodes(
            &records,
            &LeakConfig {
                warmup: 1,
                ..config()
            },
        );
        assert_eq!(suspects[0].node_type, "Leaky");
        assert!(suspects[0].verdict.leak, "{}", suspects[0].verdict.reason);
        assert_eq!(suspects[0].executions, 19);
        assert!((suspects[0].median_rss_bytes / MB - 8.0).abs() < 0.5);
        for s in &suspects[1..] {
            assert!(!s.verdict.leak, "{}: {}", s.node_type, s.verdict.reason);
        }
        assert!(
            suspects.iter().all(|s| s.node_type != "Rare"),
            "warm-up records ignored"
        );
    }
}
