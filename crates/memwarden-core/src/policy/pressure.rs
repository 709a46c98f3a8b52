//! Turning PSI figures (or, without PSI, the fill level) into a plain-words level.

use crate::model::{MemorySource, PressureInfo, PressureLevel, PressureReport, Psi, Snapshot};

use super::figures::swap_percent;
use super::threshold::{self, reached, Usage};

/// Level from PSI: what share of the last 10 s tasks stalled waiting for memory
/// (avg10 only, the figure the description prints; avg60 is shown beside it).
/// Thresholds follow what the kernel docs and systemd-oomd treat as notable
/// (oomd acts at 60% full over 30 s by default).
pub fn level_from_psi(p: &Psi) -> PressureLevel {
    let some = p.some.avg10;
    let full = p.full.map(|f| f.avg10).unwrap_or(0.0);
    if reached(full, 20.0) || reached(some, 60.0) {
        PressureLevel::Critical
    } else if reached(full, 5.0) || reached(some, 20.0) {
        PressureLevel::High
    } else if reached(some, 5.0) {
        PressureLevel::Moderate
    } else if some > 0.0 {
        PressureLevel::Low
    } else {
        PressureLevel::None
    }
}

/// Level from how full memory is, for kernels without PSI.
pub fn level_from_percent(percent_used: f64) -> PressureLevel {
    use PressureLevel::*;
    threshold::level(
        percent_used,
        None,
        &[
            (60.0, Low),
            (80.0, Moderate),
            (90.0, High),
            (95.0, Critical),
        ],
    )
}

pub fn level_word(l: PressureLevel) -> &'static str {
    match l {
        PressureLevel::None => "none",
        PressureLevel::Low => "low",
        PressureLevel::Moderate => "moderate",
        PressureLevel::High => "high",
        PressureLevel::Critical => "critical",
    }
}

/// Combine system and cgroup PSI (the worse wins) with the fill level fallback.
pub fn assess(system: Option<Psi>, cgroup: Option<Psi>, percent_used: f64) -> PressureInfo {
    let candidates = [("this cgroup", cgroup), ("the system", system)];
    let worst = candidates
        .iter()
        .filter_map(|(who, p)| p.map(|p| (*who, p, level_from_psi(&p))))
        .max_by_key(|(_, _, l)| *l);
    let (level, description) = match worst {
        Some((who, p, level)) => {
            let full = p
                .full
                .map(|f| format!("; all tasks {:.1}% of the last 10 s", f.avg10))
                .unwrap_or_default();
            let words = match level {
                PressureLevel::None => "no task waited for memory",
                PressureLevel::Low => "tasks occasionally waited for memory",
                PressureLevel::Moderate => "tasks are slowed by memory reclaim",
                PressureLevel::High => "tasks lose much of their time to memory reclaim",
                PressureLevel::Critical => "memory is thrashing; an OOM kill is likely",
            };
            (
                level,
                format!(
                    "{}: {words} ({who}: some tasks stalled {:.1}% of the last 10 s, \
                     {:.1}% of the last 60 s{full})",
                    level_word(level),
                    p.some.avg10,
                    p.some.avg60
                ),
            )
        }
        None => {
            let level = level_from_percent(percent_used);
            (
                level,
                format!(
                    "{}: estimated from memory use {percent_used:.1}% (PSI unavailable)",
                    level_word(level)
                ),
            )
        }
    };
    PressureInfo {
        system,
        cgroup,
        level,
        description,
    }
}

/// The pressure level and what to do about it, from one snapshot: the Memory
/// Monitor's recommendations. Thresholds: RAM 80% (consider) and 90% (act), VRAM
/// 90%, swap 80% (paging more out would thrash).
pub fn advise(s: &Snapshot) -> PressureReport {
    let Usage { ram, vram } = Usage::of(s);
    let swap = swap_percent(&s.system);
    let mut recs: Vec<String> = Vec::new();
    let mut say = |t: &str| recs.push(t.to_string());
    if s.pressure.level >= PressureLevel::High {
        say(
            "Memory is stalling tasks now: unload unused models (Memory Cleanup, mode aggressive).",
        );
    }
    if reached(ram, 90.0) {
        say("RAM above 90%: run a cleanup between heavy nodes, or lower batch size / resolution.");
    } else if reached(ram, 80.0) {
        say("RAM above 80%: consider a balanced cleanup after model loads and VAE decode.");
    }
    if vram.is_some_and(|v| reached(v, 90.0)) {
        say("VRAM above 90%: unload models (VRAM Unload) or use --lowvram / tiled VAE decode.");
    }
    if s.system.swap_total_bytes == 0 {
        say("No swap configured: memwarden cannot page idle memory out; add a swap file or zram.");
    } else if swap.is_some_and(|p| reached(p, 80.0)) {
        say("Swap above 80%: paging more out will thrash; free memory instead.");
    }
    if s.effective.source == MemorySource::Cgroup {
        recs.push(format!(
            "Running under a container limit: {}",
            s.effective.reason
        ));
    }
    if recs.is_empty() {
        recs.push("No action needed.".into());
    }
    PressureReport {
        level: s.pressure.level,
        description: s.pressure.description.clone(),
        ram_percent: ram,
        vram_percent: vram,
        swap_percent: swap,
        source: s.effective.source,
        recommendations: recs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PsiLine;

    fn psi(some: f64, full: f64) -> Psi {
        Psi {
            some: PsiLine {
                avg10: some,
                ..Default::default()
            },
            full: Some(PsiLine {
                avg10: full,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn levels() {
        assert_eq!(level_from_psi(&psi(0.0, 0.0)), PressureLevel::None);
        assert_eq!(level_from_psi(&psi(1.0, 0.0)), PressureLevel::Low);
        assert_eq!(level_from_psi(&psi(10.0, 0.0)), PressureLevel::Moderate);
        assert_eq!(level_from_psi(&psi(10.0, 6.0)), PressureLevel::High);
        assert_eq!(level_from_psi(&psi(70.0, 0.0)), PressureLevel::Critical);
        // The level follows the last 10 s that the text reports, not the last 60 s.
        let mut calm_now = psi(0.0, 0.0);
        calm_now.some.avg60 = 3.0;
        assert_eq!(level_from_psi(&calm_now), PressureLevel::None);
        let p = assess(Some(calm_now), None, 10.0);
        assert!(p.description.starts_with("none:"), "{}", p.description);
        assert!(
            p.description.contains("3.0% of the last 60 s"),
            "{}",
            p.description
        );
    }

    #[test]
    fn every_threshold_is_inclusive() {
        use PressureLevel::*;
        let some = |v| level_from_psi(&psi(v, 0.0));
        let full = |v| level_from_psi(&psi(0.0, v));
        for (got, want) in [
            (some(0.0), None),
            (some(0.01), Low),
            (some(4.99), Low),
            (some(5.0), Moderate),
            (some(19.99), Moderate),
            (some(20.0), High),
            (some(59.99), High),
            (some(60.0), Critical),
            // full alone, without a `some` figure that would reach the level.
            (full(4.99), None),
            (full(5.0), High),
            (full(19.99), High),
            (full(20.0), Critical),
        ] {
            assert_eq!(got, want);
        }
        // No `full` line (system PSI of old kernels): `some` alone.
        let mut p = psi(20.0, 0.0);
        p.full = Option::None;
        assert_eq!(level_from_psi(&p), High);
        for (pct, want) in [
            (59.99, None),
            (60.0, Low),
            (79.99, Low),
            (80.0, Moderate),
            (89.99, Moderate),
            (90.0, High),
            (94.99, High),
            (95.0, Critical),
        ] {
            assert_eq!(level_from_percent(pct), want, "{pct}");
        }
    }

    #[test]
    fn the_description_says_the_level_who_and_the_figures() {
        use PressureLevel::*;
        let cases = [
            (psi(0.0, 0.0), None, "none: no task waited for memory"),
            (
                psi(1.0, 0.0),
                Low,
                "low: tasks occasionally waited for memory",
            ),
            (
                psi(6.0, 0.0),
                Moderate,
                "moderate: tasks are slowed by memory reclaim",
            ),
            (
                psi(25.0, 0.0),
                High,
                "high: tasks lose much of their time to memory reclaim",
            ),
            (
                psi(65.0, 0.0),
                Critical,
                "critical: memory is thrashing; an OOM kill is likely",
            ),
        ];
        for (p, level, words) in cases {
            let a = assess(Some(p), Option::None, 10.0);
            assert_eq!(a.level, level);
            assert!(a.description.starts_with(words), "{}", a.description);
            assert_eq!(level_word(level), words.split(':').next().unwrap());
        }
        let mut p = psi(12.5, 2.5);
        p.some.avg60 = 7.0;
        let a = assess(Some(p), Option::None, 10.0);
        assert_eq!(
            a.description,
            "moderate: tasks are slowed by memory reclaim (the system: some tasks stalled 12.5% \
             of the last 10 s, 7.0% of the last 60 s; all tasks 2.5% of the last 10 s)"
        );
        assert_eq!((a.system, a.cgroup), (Some(p), Option::None));
        // The system worse than the cgroup.
        let a = assess(Some(psi(70.0, 0.0)), Some(psi(7.0, 0.0)), 10.0);
        assert_eq!(a.level, Critical);
        assert!(a.description.contains("(the system: "), "{}", a.description);
        let a = assess(Option::None, Option::None, 61.3);
        assert_eq!(
            (a.level, a.description.as_str()),
            (
                Low,
                "low: estimated from memory use 61.3% (PSI unavailable)"
            )
        );
    }

    #[test]
    fn advice_thresholds_are_inclusive() {
        let mut s = crate::model::tests::snapshot();
        s.system.swap_total_bytes = 100;
        s.system.swap_used_bytes = 0;
        let first = |s: &Snapshot| advise(s).recommendations[0].clone();
        s.effective.percent_used = 80.0;
        assert!(first(&s).starts_with("RAM above 80%"));
        s.effective.percent_used = 79.99;
        assert_eq!(first(&s), "No action needed.");
        s.effective.percent_used = 90.0;
        assert!(first(&s).starts_with("RAM above 90%"));
        s.effective.percent_used = 10.0;
        let mut g = crate::policy::figures::tests::gpu(0, 1, 100);
        g.percent_used = 90.0;
        s.gpu.devices = vec![g.clone()];
        assert!(first(&s).starts_with("VRAM above 90%"));
        g.percent_used = 89.99;
        s.gpu.devices = vec![g];
        assert_eq!(first(&s), "No action needed.");
        s.system.swap_used_bytes = 80;
        assert!(first(&s).starts_with("Swap above 80%"));
        s.system.swap_used_bytes = 79;
        assert_eq!(first(&s), "No action needed.");
        s.pressure.level = PressureLevel::Moderate;
        assert_eq!(first(&s), "No action needed.");
        let r = advise(&s);
        assert_eq!(
            (r.level, r.ram_percent, r.vram_percent, r.swap_percent),
            (PressureLevel::Moderate, 10.0, Some(89.99), Some(79.0))
        );
        assert_eq!(r.description, s.pressure.description);
    }

    #[test]
    fn worse_side_wins_and_fallback() {
        let p = assess(Some(psi(0.0, 0.0)), Some(psi(30.0, 0.0)), 10.0);
        assert_eq!(p.level, PressureLevel::High);
        assert!(p.description.contains("this cgroup"));
        let p = assess(None, None, 92.0);
        assert_eq!(p.level, PressureLevel::High);
        assert!(p.description.contains("PSI unavailable"));
    }

    #[test]
    fn advice_follows_the_figures() {
        let mut s = crate::model::tests::snapshot();
        assert_eq!(advise(&s).recommendations, ["No action needed."]);
        s.effective.percent_used = 85.0;
        s.system.swap_total_bytes = 0;
        s.gpu.devices = vec![crate::policy::figures::tests::gpu(0, 23, 24)];
        s.pressure.level = PressureLevel::High;
        let r = advise(&s);
        assert_eq!(r.recommendations.len(), 4, "{:?}", r.recommendations);
        assert!(r.recommendations[0].starts_with("Memory is stalling"));
        assert!(r.recommendations[1].starts_with("RAM above 80%"));
        assert!(r.recommendations[2].starts_with("VRAM above 90%"));
        assert!(r.recommendations[3].starts_with("No swap configured"));
        assert_eq!(r.swap_percent, None);
        s.effective.percent_used = 95.0;
        s.system.swap_total_bytes = 10;
        s.system.swap_used_bytes = 9;
        s.effective.source = MemorySource::Cgroup;
        let r = advise(&s);
        assert!(r
            .recommendations
            .iter()
            .any(|t| t.starts_with("RAM above 90%")));
        assert!(r
            .recommendations
            .iter()
            .any(|t| t.starts_with("Swap above 80%")));
        assert!(r
            .recommendations
            .last()
            .unwrap()
            .starts_with("Running under a container limit"));
    }
}
