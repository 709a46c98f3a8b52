//! What each cleanup mode does. The seeds named the same four modes several ways
//! (Monitor Only, Standard, Moderate...); every name maps to one [`CleanupMode`],
//! and each mode to one [`CleanupPlan`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CleanupMode {
    /// Changes nothing: report only.
    Monitor,
    /// One gc pass and the torch caches; models stay loaded.
    Conservative,
    /// Unload models, three gc passes, torch caches, heap trim.
    Balanced,
    /// Balanced, plus cached node outputs dropped and idle memory paged out.
    Aggressive,
}

/// Every name a seed used, lower-case, with the mode it means.
const ALIASES: [(&str, CleanupMode); 7] = [
    ("monitor only", CleanupMode::Monitor),
    ("monitor", CleanupMode::Monitor),
    ("conservative", CleanupMode::Conservative),
    ("standard", CleanupMode::Balanced),
    ("moderate", CleanupMode::Balanced),
    ("balanced", CleanupMode::Balanced),
    ("aggressive", CleanupMode::Aggressive),
];

impl CleanupMode {
    /// Any seed name, case-insensitive, surrounding spaces ignored.
    pub fn parse(name: &str) -> Result<Self> {
        let key = name.trim().to_lowercase();
        ALIASES
            .iter()
            .find(|(alias, _)| *alias == key)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown cleanup mode '{name}'; use one of: {}",
                    Self::names()
                ))
            })
    }

    /// Every name [`CleanupMode::parse`] accepts, title-cased, for messages.
    pub fn names() -> String {
        let mut names: Vec<String> = ALIASES.iter().map(|(a, _)| title(a)).collect();
        names.sort();
        names.join(", ")
    }

    /// The canonical name: monitor, conservative, balanced or aggressive.
    pub fn name(self) -> &'static str {
        match self {
            CleanupMode::Monitor => "monitor",
            CleanupMode::Conservative => "conservative",
            CleanupMode::Balanced => "balanced",
            CleanupMode::Aggressive => "aggressive",
        }
    }
}

/// "monitor only" -> "Monitor Only".
fn title(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The steps a mode runs by default; a caller may still override each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CleanupPlan {
    pub mode: CleanupMode,
    /// Unload models through ComfyUI's model management.
    pub unload_models: bool,
    /// Ask ComfyUI to drop cached node outputs after the current prompt.
    pub drop_node_cache: bool,
    /// Garbage-collection passes (0 to 3).
    pub gc_passes: u8,
    /// Reset torch's peak memory statistics.
    pub reset_peak_stats: bool,
    /// Page this process's idle memory out (behind the swap check).
    pub pageout_self: bool,
}

/// What `mode` does.
pub fn plan(mode: CleanupMode) -> CleanupPlan {
    use CleanupMode::*;
    CleanupPlan {
        mode,
        unload_models: matches!(mode, Balanced | Aggressive),
        drop_node_cache: mode == Aggressive,
        gc_passes: match mode {
            Monitor => 0,
            Conservative => 1,
            Balanced | Aggressive => 3,
        },
        reset_peak_stats: matches!(mode, Balanced | Aggressive),
        pageout_self: mode == Aggressive,
    }
}

/// What the VRAM Optimizer node does at each level (the seed's Conservative /
/// Moderate / Aggressive; Moderate is Balanced): VRAM only, lighter than a cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VramPlan {
    pub mode: CleanupMode,
    /// Unload models through ComfyUI first.
    pub unload_models: bool,
    /// A garbage-collection pass before emptying torch's caches.
    pub collect_garbage: bool,
    /// `torch.cuda.ipc_collect()`: memory held for other processes' tensors.
    pub ipc_collect: bool,
    /// Wait for each device's queued work before emptying its cache.
    pub synchronize: bool,
}

/// What the VRAM Optimizer does at `mode` (Monitor: nothing but the report).
pub fn vram_plan(mode: CleanupMode) -> VramPlan {
    use CleanupMode::*;
    VramPlan {
        mode,
        unload_models: mode == Aggressive,
        collect_garbage: matches!(mode, Balanced | Aggressive),
        ipc_collect: matches!(mode, Balanced | Aggressive),
        synchronize: mode == Aggressive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_name_maps_to_a_mode() {
        assert_eq!(
            CleanupMode::parse("Monitor Only").unwrap(),
            CleanupMode::Monitor
        );
        assert_eq!(
            CleanupMode::parse(" STANDARD ").unwrap(),
            CleanupMode::Balanced
        );
        assert_eq!(
            CleanupMode::parse("Moderate").unwrap(),
            CleanupMode::Balanced
        );
        assert_eq!(
            CleanupMode::parse("aggressive").unwrap(),
            CleanupMode::Aggressive
        );
        let e = CleanupMode::parse("turbo").unwrap_err().to_string();
        assert!(
            e.contains("'turbo'")
                && e.contains(
                    "Aggressive, Balanced, Conservative, Moderate, Monitor, Monitor Only, Standard"
                ),
            "{e}"
        );
    }

    #[test]
    fn canonical_names() {
        use CleanupMode::*;
        for (mode, name) in [
            (Monitor, "monitor"),
            (Conservative, "conservative"),
            (Balanced, "balanced"),
            (Aggressive, "aggressive"),
        ] {
            assert_eq!(mode.name(), name);
            assert_eq!(CleanupMode::parse(name).unwrap(), mode);
        }
        assert_eq!(title("monitor only"), "Monitor Only");
    }

    #[test]
    fn plans() {
        use CleanupMode::*;
        // (mode, unload, drop outputs, gc passes, reset peaks, page out)
        let table = [
            (Monitor, false, false, 0, false, false),
            (Conservative, false, false, 1, false, false),
            (Balanced, true, false, 3, true, false),
            (Aggressive, true, true, 3, true, true),
        ];
        for (mode, unload_models, drop_node_cache, gc_passes, reset_peak_stats, pageout_self) in
            table
        {
            let want = CleanupPlan {
                mode,
                unload_models,
                drop_node_cache,
                gc_passes,
                reset_peak_stats,
                pageout_self,
            };
            assert_eq!(plan(mode), want);
        }
    }

    #[test]
    fn vram_plans() {
        use CleanupMode::*;
        // (mode, unload, gc, ipc_collect, synchronize)
        let table = [
            (Monitor, false, false, false, false),
            (Conservative, false, false, false, false),
            (Balanced, false, true, true, false),
            (Aggressive, true, true, true, true),
        ];
        for (mode, unload_models, collect_garbage, ipc_collect, synchronize) in table {
            let want = VramPlan {
                mode,
                unload_models,
                collect_garbage,
                ipc_collect,
                synchronize,
            };
            assert_eq!(vram_plan(mode), want);
        }
        // The node's Moderate is Balanced.
        assert_eq!(
            vram_plan(CleanupMode::parse("Moderate").unwrap()).mode,
            Balanced
        );
    }
}
