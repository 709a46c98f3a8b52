//! The one threshold vocabulary of the automatic decisions: the pressure level
//! without PSI ([`super::pressure`]), the optimization trigger ([`super::trigger`])
//! and the manager's alert levels ([`super::escalation`]). Usage is a percent of
//! the binding limit ([`super::figures::effective_memory`]) or of the fullest GPU
//! ([`super::figures::vram_percent`]); a threshold is reached at or above it; with
//! a hysteresis, what reaching it set clears only once usage is that many points
//! below it.

/// `usage` (percent) is at or above `threshold`.
pub fn reached(usage: f64, threshold: f64) -> bool {
    usage >= threshold
}

/// `usage` is far enough below `threshold` to clear what reaching it set:
/// `hysteresis` points below it (0: simply below).
pub fn cleared(usage: f64, threshold: f64, hysteresis: f64) -> bool {
    usage < threshold - hysteresis
}

/// The highest level whose threshold `usage` reaches, `steps` ascending by
/// threshold; `floor` when it reaches none.
pub fn level<L: Copy>(usage: f64, floor: L, steps: &[(f64, L)]) -> L {
    steps
        .iter()
        .rev()
        .find(|(t, _)| reached(usage, *t))
        .map_or(floor, |(_, l)| *l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reached_at_the_threshold_cleared_below_it_by_the_hysteresis() {
        assert!(reached(80.0, 80.0) && !reached(79.9, 80.0));
        assert!(!cleared(80.0, 80.0, 0.0) && cleared(79.9, 80.0, 0.0));
        assert!(!cleared(75.0, 80.0, 5.0) && cleared(74.9, 80.0, 5.0));
        // Not cleared is "reached with the threshold lowered by the hysteresis".
        for u in [70.0, 74.9, 75.0, 79.0, 80.0, 90.0] {
            assert_eq!(!cleared(u, 80.0, 5.0), reached(u, 75.0), "{u}");
        }
    }

    #[test]
    fn the_highest_level_reached() {
        let steps = [(60.0, 1), (80.0, 2), (95.0, 3)];
        for (usage, want) in [
            (0.0, 0),
            (59.9, 0),
            (60.0, 1),
            (79.9, 1),
            (80.0, 2),
            (94.9, 2),
            (95.0, 3),
            (100.0, 3),
        ] {
            assert_eq!(level(usage, 0, &steps), want, "{usage}");
        }
        assert_eq!(level(50.0, 7, &[]), 7);
    }
}
