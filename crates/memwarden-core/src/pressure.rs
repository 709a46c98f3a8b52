//! Turning PSI figures (or, without PSI, the fill level) into a plain-words level.

use crate::model::{PressureInfo, PressureLevel, Psi};

/// Level from PSI: what share of the last 10 s tasks stalled waiting for memory
/// (avg10 only, the figure the description prints; avg60 is shown beside it).
/// Thresholds follow what the kernel docs and systemd-oomd treat as notable
/// (oomd acts at 60% full over 30 s by default).
pub fn level_from_psi(p: &Psi) -> PressureLevel {
    let some = p.some.avg10;
    let full = p.full.map(|f| f.avg10).unwrap_or(0.0);
    if full >= 20.0 || some >= 60.0 {
        PressureLevel::Critical
    } else if full >= 5.0 || some >= 20.0 {
        PressureLevel::High
    } else if some >= 5.0 {
        PressureLevel::Moderate
    } else if some > 0.0 {
        PressureLevel::Low
    } else {
        PressureLevel::None
    }
}

/// Level from how full memory is, for kernels without PSI.
pub fn level_from_percent(percent_used: f64) -> PressureLevel {
    match percent_used {
        p if p >= 95.0 => PressureLevel::Critical,
        p if p >= 90.0 => PressureLevel::High,
        p if p >= 80.0 => PressureLevel::Moderate,
        p if p >= 60.0 => PressureLevel::Low,
        _ => PressureLevel::None,
    }
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
    fn worse_side_wins_and_fallback() {
        let p = assess(Some(psi(0.0, 0.0)), Some(psi(30.0, 0.0)), 10.0);
        assert_eq!(p.level, PressureLevel::High);
        assert!(p.description.contains("this cgroup"));
        let p = assess(None, None, 92.0);
        assert_eq!(p.level, PressureLevel::High);
        assert!(p.description.contains("PSI unavailable"));
    }
}
