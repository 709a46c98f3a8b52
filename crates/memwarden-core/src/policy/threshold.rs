//! The one threshold vocabulary of the automatic decisions: the pressure level
//! without PSI ([`super::pressure`]), the optimization trigger ([`super::trigger`])
//! and the manager's alert levels ([`super::escalation`]). Usage is a percent of
//! the binding limit ([`super::figures::effective_memory`]) or of the fullest GPU
//! ([`super::figures::vram_percent`]); a threshold is reached at or above it; with
//! a hysteresis, what reaching it set clears only once usage is that many points
//! below it.

use crate::model::Snapshot;

use super::figures::vram_percent;

/// What the thresholds are compared with, from one snapshot: RAM in percent of the
/// binding limit, VRAM in percent of the fullest GPU (None: no GPU visible).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub ram: f64,
    pub vram: Option<f64>,
}

/// A RAM and a VRAM threshold (percent): one setting of each automatic decision
/// (the trigger's threshold, the manager's warning and its critical level).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub ram: f64,
    pub vram: f64,
}

impl Usage {
    pub fn of(s: &Snapshot) -> Self {
        Usage {
            ram: s.effective.percent_used,
            vram: vram_percent(s),
        }
    }

    /// RAM or VRAM has reached its threshold in `l` and not yet cleared it by
    /// `hysteresis` points (0: simply reached). No GPU reaches nothing.
    pub fn over(&self, l: Limits, hysteresis: f64) -> bool {
        !cleared(self.ram, l.ram, hysteresis)
            || self.vram.is_some_and(|v| !cleared(v, l.vram, hysteresis))
    }

    /// The VRAM figure in words: `VRAM 50.0%`, or `VRAM n/a` without a GPU.
    pub fn vram_text(&self) -> String {
        self.vram
            .map_or("VRAM n/a".into(), |v| format!("VRAM {v:.1}%"))
    }
}

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
    use crate::policy::figures::tests::gpu;

    fn usage_of(ram: f64, vrams: &[f64]) -> Usage {
        let mut s = crate::model::tests::snapshot();
        s.effective.percent_used = ram;
        s.gpu.devices = vrams
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut g = gpu(i as u32, 1, 100);
                g.percent_used = *v;
                g
            })
            .collect();
        Usage::of(&s)
    }

    #[test]
    fn usage_is_ram_of_the_binding_limit_and_the_fullest_gpu() {
        assert_eq!(
            usage_of(42.5, &[]),
            Usage {
                ram: 42.5,
                vram: None
            }
        );
        assert_eq!(usage_of(42.5, &[10.0, 93.0, 50.0]).vram, Some(93.0));
        assert_eq!(usage_of(1.0, &[]).vram_text(), "VRAM n/a");
        assert_eq!(usage_of(1.0, &[12.34]).vram_text(), "VRAM 12.3%");
    }

    #[test]
    fn over_when_either_figure_has_not_cleared_its_threshold() {
        let l = Limits {
            ram: 80.0,
            vram: 90.0,
        };
        for (ram, vram, hysteresis, want) in [
            (79.9, None, 0.0, false),
            (80.0, None, 0.0, true),
            (79.9, Some(89.9), 0.0, false),
            (10.0, Some(90.0), 0.0, true),
            (90.0, Some(10.0), 0.0, true),
            // With a hysteresis: over until that many points below.
            (75.0, None, 5.0, true),
            (74.9, None, 5.0, false),
            (10.0, Some(85.0), 5.0, true),
            (10.0, Some(84.9), 5.0, false),
        ] {
            assert_eq!(
                Usage { ram, vram }.over(l, hysteresis),
                want,
                "{ram} {vram:?} {hysteresis}"
            );
        }
    }

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
