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

/// The caller's choices for one cleanup: its mode, and each step the caller set
/// (None: as the mode's [`plan`] says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CleanupChoices {
    pub mode: CleanupMode,
    pub unload_models: Option<bool>,
    pub drop_node_cache: Option<bool>,
    pub gc_passes: Option<u8>,
    pub reset_peak_stats: Option<bool>,
    pub pageout_self: Option<bool>,
    /// Release torch's caches (step 4).
    pub torch_cache: bool,
    /// Return the heap to the OS (step 5).
    pub os_trim: bool,
    /// Wait for each CUDA device's queued work (step 6).
    pub sync_gpu: bool,
    /// Drop the page cache at the end (root).
    pub purge_cache: bool,
}

impl CleanupChoices {
    /// The mode's plan with the caller's choices put over it.
    pub fn resolve(&self) -> CleanupPlan {
        let p = plan(self.mode);
        CleanupPlan {
            mode: self.mode,
            unload_models: self.unload_models.unwrap_or(p.unload_models),
            drop_node_cache: self.drop_node_cache.unwrap_or(p.drop_node_cache),
            gc_passes: self.gc_passes.unwrap_or(p.gc_passes),
            reset_peak_stats: self.reset_peak_stats.unwrap_or(p.reset_peak_stats),
            pageout_self: self.pageout_self.unwrap_or(p.pageout_self),
        }
    }
}

/// The Memory Cleaner (Force) node's cleanup, the seed's force clean: ComfyUI's
/// models unloaded, every cached output dropped, the heap returned to the OS (the
/// balanced mode's other steps); with `aggressive_trim` the aggressive mode, and
/// this process's idle memory paged out too; `purge_cache` drops the page cache
/// (the seed's standby-list purge) at the end.
pub fn memory_cleaner(aggressive_trim: bool, purge_cache: bool) -> CleanupChoices {
    CleanupChoices {
        mode: if aggressive_trim {
            CleanupMode::Aggressive
        } else {
            CleanupMode::Balanced
        },
        unload_models: None,
        drop_node_cache: Some(true),
        gc_passes: None,
        reset_peak_stats: None,
        pageout_self: Some(aggressive_trim),
        torch_cache: true,
        os_trim: true,
        sync_gpu: true,
        purge_cache,
    }
}

/// What the process running a cleanup holds, as far as its plan depends on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CleanupFacts {
    /// ComfyUI's model management is loaded (the cleanup runs inside ComfyUI).
    pub in_comfyui: bool,
    /// ComfyUI's server and its prompt queue are there.
    pub prompt_queue: bool,
    /// torch is imported in this process.
    pub torch_loaded: bool,
    /// The CUDA devices torch sees.
    pub cuda_devices: u32,
    /// Why torch sees none (when `cuda_devices` is 0).
    pub no_cuda: String,
}

/// What a step of the cleanup does when it runs (in-process, in the Python package).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepAction {
    /// Unload every model through ComfyUI's model management.
    UnloadModels,
    /// Ask ComfyUI to drop its cached node outputs after the current prompt (as
    /// `POST /free` does), then trim the heap once it has.
    DropNodeCache,
    /// One garbage-collection pass.
    CollectGarbage,
    /// Release torch's caches (and reset the peak statistics when asked).
    TorchCaches { reset_peak_stats: bool },
    /// Return the heap to the OS; with `pageout` also page this process out.
    OsTrim { pageout: bool },
    /// Wait for every CUDA device's queued work.
    GpuSync,
    /// Drop the page cache (root).
    PurgeCache,
}

/// Why a step of the cleanup does not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// Mode Monitor Only changes nothing.
    MonitorOnly,
    /// The mode does not run this step.
    NotInMode { mode: CleanupMode },
    /// The mode (or the caller) runs fewer garbage-collection passes.
    GcPasses { passes: u8, mode: CleanupMode },
    /// The cleanup does not run inside ComfyUI.
    NotInComfyui,
    /// The caller turned the step off.
    Disabled,
    /// torch is not imported in this process.
    TorchNotLoaded,
    /// torch sees no CUDA device, and why.
    NoCuda { why: String },
}

/// A step of a cleanup's plan: its number in the seed's `[i/7]`, its name, and
/// what it does or why it does not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedStep {
    pub index: u8,
    pub name: String,
    pub run: Result<StepAction, SkipReason>,
}

impl PlannedStep {
    fn new(index: u8, name: &str, run: Result<StepAction, SkipReason>) -> Self {
        PlannedStep {
            index,
            name: name.into(),
            run,
        }
    }
}

/// `action` unless `why` says it does not run.
fn unless(why: Option<SkipReason>, action: StepAction) -> Result<StepAction, SkipReason> {
    why.map_or(Ok(action), Err)
}

/// The steps of one cleanup, in order (the seed's seven, numbered 0 to 7), each
/// with what it does or why it is skipped. Steps the caller did not ask for and no
/// mode lists (dropping cached outputs, purging the page cache) are left out.
pub fn cleanup_steps(c: &CleanupChoices, f: &CleanupFacts) -> Vec<PlannedStep> {
    use SkipReason::*;
    use StepAction::*;
    if c.mode == CleanupMode::Monitor {
        return vec![PlannedStep::new(0, "Monitor only", Err(MonitorOnly))];
    }
    let p = c.resolve();
    let comfy = |yes: bool| (!yes).then_some(NotInComfyui);
    let mut steps = vec![PlannedStep::new(
        0,
        "Unload models",
        unless(
            if p.unload_models {
                comfy(f.in_comfyui)
            } else {
                Some(NotInMode { mode: p.mode })
            },
            UnloadModels,
        ),
    )];
    if p.drop_node_cache {
        steps.push(PlannedStep::new(
            0,
            "Drop cached outputs",
            unless(comfy(f.prompt_queue), DropNodeCache),
        ));
    }
    for pass in 1..=3u8 {
        let few = (pass > p.gc_passes).then_some(GcPasses {
            passes: p.gc_passes,
            mode: p.mode,
        });
        steps.push(PlannedStep::new(
            pass,
            GC_PASS_NAMES[usize::from(pass - 1)],
            unless(few, CollectGarbage),
        ));
    }
    let torch = if !c.torch_cache {
        Some(Disabled)
    } else {
        (!f.torch_loaded).then_some(TorchNotLoaded)
    };
    steps.push(PlannedStep::new(
        4,
        "PyTorch cache",
        unless(
            torch,
            TorchCaches {
                reset_peak_stats: p.reset_peak_stats,
            },
        ),
    ));
    steps.push(PlannedStep::new(
        5,
        "OS-level trim",
        unless(
            (!c.os_trim).then_some(Disabled),
            OsTrim {
                pageout: p.pageout_self,
            },
        ),
    ));
    let sync = if !c.sync_gpu {
        Some(Disabled)
    } else {
        (f.cuda_devices == 0).then(|| NoCuda {
            why: f.no_cuda.clone(),
        })
    };
    steps.push(PlannedStep::new(6, "CUDA sync", unless(sync, GpuSync)));
    steps.push(PlannedStep::new(7, "Final GC", Ok(CollectGarbage)));
    if c.purge_cache {
        steps.push(PlannedStep::new(7, "Purge page cache", Ok(PurgeCache)));
    }
    steps
}

const GC_PASS_NAMES: [&str; 3] = ["GC pass 1", "GC pass 2", "GC pass 3"];

/// The background manager's non-disruptive action as steps of the cleanup: the heap
/// returned to the OS and, when asked, the page cache dropped. No gc pass: ComfyUI's
/// post-prompt cleanup runs one, and a full collection of its heap holds the GIL for
/// hundreds of milliseconds, which a running node would feel.
pub fn heap_trim_steps(purge_cache: bool) -> Vec<PlannedStep> {
    let mut steps = vec![PlannedStep::new(
        5,
        "OS-level trim",
        Ok(StepAction::OsTrim { pageout: false }),
    )];
    if purge_cache {
        steps.push(PlannedStep::new(
            7,
            "Purge page cache",
            Ok(StepAction::PurgeCache),
        ));
    }
    steps
}

/// Why the panel's cleanup does not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupRefusal {
    /// The mode unloads ComfyUI's models, which the running prompt is using.
    PromptRunning,
    /// Another cleanup is running (one at a time).
    Busy,
}

/// Whether the panel may start a cleanup in `mode` now: not one that unloads
/// models while a prompt runs, and not while another runs.
pub fn cleanup_admission(
    mode: CleanupMode,
    prompt_running: bool,
    busy: bool,
) -> Option<CleanupRefusal> {
    if prompt_running && plan(mode).unload_models {
        Some(CleanupRefusal::PromptRunning)
    } else if busy {
        Some(CleanupRefusal::Busy)
    } else {
        None
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
    fn choices(mode: CleanupMode) -> CleanupChoices {
        CleanupChoices {
            mode,
            unload_models: None,
            drop_node_cache: None,
            gc_passes: None,
            reset_peak_stats: None,
            pageout_self: None,
            torch_cache: true,
            os_trim: true,
            sync_gpu: true,
            purge_cache: false,
        }
    }

    fn comfy_with_gpu() -> CleanupFacts {
        CleanupFacts {
            in_comfyui: true,
            prompt_queue: true,
            torch_loaded: true,
            cuda_devices: 2,
            no_cuda: String::new(),
        }
    }

    fn outline(steps: &[PlannedStep]) -> Vec<(u8, &str, Result<StepAction, SkipReason>)> {
        steps
            .iter()
            .map(|s| (s.index, s.name.as_str(), s.run.clone()))
            .collect()
    }

    #[test]
    fn aggressive_inside_comfyui_with_a_gpu_runs_every_step() {
        use StepAction::*;
        let mut c = choices(CleanupMode::Aggressive);
        c.purge_cache = true;
        assert_eq!(
            outline(&cleanup_steps(&c, &comfy_with_gpu())),
            [
                (0, "Unload models", Ok(UnloadModels)),
                (0, "Drop cached outputs", Ok(DropNodeCache)),
                (1, "GC pass 1", Ok(CollectGarbage)),
                (2, "GC pass 2", Ok(CollectGarbage)),
                (3, "GC pass 3", Ok(CollectGarbage)),
                (
                    4,
                    "PyTorch cache",
                    Ok(TorchCaches {
                        reset_peak_stats: true
                    })
                ),
                (5, "OS-level trim", Ok(OsTrim { pageout: true })),
                (6, "CUDA sync", Ok(GpuSync)),
                (7, "Final GC", Ok(CollectGarbage)),
                (7, "Purge page cache", Ok(PurgeCache)),
            ]
        );
    }

    #[test]
    fn conservative_outside_comfyui_without_torch_says_why_each_step_is_skipped() {
        use SkipReason::*;
        use StepAction::*;
        let facts = CleanupFacts {
            no_cuda: "torch is not loaded in this process".into(),
            ..Default::default()
        };
        let mode = CleanupMode::Conservative;
        assert_eq!(
            outline(&cleanup_steps(&choices(mode), &facts)),
            [
                (0, "Unload models", Err(NotInMode { mode })),
                (1, "GC pass 1", Ok(CollectGarbage)),
                (2, "GC pass 2", Err(GcPasses { passes: 1, mode })),
                (3, "GC pass 3", Err(GcPasses { passes: 1, mode })),
                (4, "PyTorch cache", Err(TorchNotLoaded)),
                (5, "OS-level trim", Ok(OsTrim { pageout: false })),
                (
                    6,
                    "CUDA sync",
                    Err(NoCuda {
                        why: "torch is not loaded in this process".into()
                    })
                ),
                (7, "Final GC", Ok(CollectGarbage)),
            ]
        );
    }

    #[test]
    fn what_the_caller_sets_overrides_the_mode() {
        use SkipReason::*;
        use StepAction::*;
        let mut c = choices(CleanupMode::Balanced);
        c.unload_models = Some(false);
        c.drop_node_cache = Some(true);
        c.gc_passes = Some(0);
        c.reset_peak_stats = Some(false);
        c.pageout_self = Some(true);
        c.torch_cache = false;
        c.os_trim = false;
        c.sync_gpu = false;
        let facts = CleanupFacts {
            in_comfyui: true,
            ..Default::default()
        };
        let mode = CleanupMode::Balanced;
        let steps = cleanup_steps(&c, &facts);
        assert_eq!(
            outline(&steps),
            [
                (0, "Unload models", Err(NotInMode { mode })),
                (0, "Drop cached outputs", Err(NotInComfyui)),
                (1, "GC pass 1", Err(GcPasses { passes: 0, mode })),
                (2, "GC pass 2", Err(GcPasses { passes: 0, mode })),
                (3, "GC pass 3", Err(GcPasses { passes: 0, mode })),
                (4, "PyTorch cache", Err(Disabled)),
                (5, "OS-level trim", Err(Disabled)),
                (6, "CUDA sync", Err(Disabled)),
                (7, "Final GC", Ok(CollectGarbage)),
            ]
        );
        // Turned on by the caller where the mode has them off.
        let mut c = choices(CleanupMode::Conservative);
        c.unload_models = Some(true);
        c.gc_passes = Some(2);
        c.reset_peak_stats = Some(true);
        let steps = cleanup_steps(&c, &comfy_with_gpu());
        assert_eq!(steps[0].run, Ok(UnloadModels));
        assert_eq!(steps[2].run, Ok(CollectGarbage));
        assert_eq!(
            steps[3].run,
            Err(GcPasses {
                passes: 2,
                mode: CleanupMode::Conservative
            })
        );
        assert_eq!(
            steps[4].run,
            Ok(TorchCaches {
                reset_peak_stats: true
            })
        );
        // Balanced with everything as the mode says, but no ComfyUI and no GPU.
        let facts = CleanupFacts {
            torch_loaded: true,
            no_cuda: "no driver".into(),
            ..Default::default()
        };
        let steps = cleanup_steps(&choices(CleanupMode::Balanced), &facts);
        assert_eq!(steps[0].run, Err(NotInComfyui));
        assert_eq!(steps[1].name, "GC pass 1");
        assert_eq!(
            steps[4].run,
            Ok(TorchCaches {
                reset_peak_stats: true
            })
        );
        assert_eq!(steps[5].run, Ok(OsTrim { pageout: false }));
        assert_eq!(
            steps[6].run,
            Err(NoCuda {
                why: "no driver".into()
            })
        );
    }

    #[test]
    fn monitor_only_is_one_line_that_changes_nothing() {
        let mut c = choices(CleanupMode::Monitor);
        c.unload_models = Some(true);
        c.purge_cache = true;
        assert_eq!(
            outline(&cleanup_steps(&c, &comfy_with_gpu())),
            [(0, "Monitor only", Err(SkipReason::MonitorOnly))]
        );
    }

    #[test]
    fn the_managers_heap_trim() {
        use StepAction::*;
        assert_eq!(
            outline(&heap_trim_steps(false)),
            [(5, "OS-level trim", Ok(OsTrim { pageout: false }))]
        );
        assert_eq!(
            outline(&heap_trim_steps(true)),
            [
                (5, "OS-level trim", Ok(OsTrim { pageout: false })),
                (7, "Purge page cache", Ok(PurgeCache)),
            ]
        );
    }

    #[test]
    fn the_panel_cleans_up_one_at_a_time_and_leaves_a_running_prompts_models() {
        use CleanupMode::*;
        use CleanupRefusal::*;
        for mode in [Monitor, Conservative, Balanced, Aggressive] {
            let unloads = plan(mode).unload_models;
            assert_eq!(cleanup_admission(mode, false, false), None);
            assert_eq!(cleanup_admission(mode, false, true), Some(Busy));
            assert_eq!(
                cleanup_admission(mode, true, false),
                unloads.then_some(PromptRunning),
                "{mode:?}"
            );
            assert_eq!(
                cleanup_admission(mode, true, true),
                Some(if unloads { PromptRunning } else { Busy })
            );
        }
    }

    #[test]
    fn the_memory_cleaner_forces_a_balanced_clean_and_pages_out_only_when_aggressive() {
        let gentle = memory_cleaner(false, false);
        let p = gentle.resolve();
        assert_eq!(p.mode, CleanupMode::Balanced);
        assert!(p.unload_models && p.drop_node_cache && !p.pageout_self);
        assert_eq!(p.gc_passes, 3);
        let hard = memory_cleaner(true, false).resolve();
        assert_eq!(hard.mode, CleanupMode::Aggressive);
        assert!(hard.unload_models && hard.drop_node_cache && hard.pageout_self);
        for c in [gentle, memory_cleaner(true, false)] {
            assert!(c.torch_cache && c.os_trim && c.sync_gpu && !c.purge_cache);
        }
        assert!(memory_cleaner(false, true).purge_cache);
    }
}
