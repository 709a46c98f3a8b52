//! A cleanup's report (`memwarden.cleanup`, the Memory Cleanup and Memory Cleaner
//! nodes, `POST /memwarden/cleanup`): its steps, then CLEANUP RESULTS.

use std::fmt::Write;

use crate::model::{
    CleanupSummary, CudaAbsence, GpuDevice, HeapTrimReport, HelperChoice, HelperProblem,
    HelperResult, PageoutAttempt, StepDone, TorchCacheSummary,
};
use crate::model::{HelperError, PageoutReport, HELPER_ENV};
use crate::policy::modes::{CleanupMode, CleanupRefusal, SkipReason};
use crate::render::swap::{self, Knobs};

const GB: f64 = (1u64 << 30) as f64;

/// `freed 1.234 GB` for a measured change in bytes (positive = freed). Growth reads
/// `freed 0.000 GB (grew 0.012 GB)`; a change too small to show at three decimals
/// reads `freed 0.000 GB`, never `-0.000`.
pub fn freed_phrase(freed_bytes: i64) -> String {
    let gb = freed_bytes as f64 / GB;
    let shown = format!("{gb:.3}");
    if shown == "0.000" || shown == "-0.000" {
        "freed 0.000 GB".into()
    } else if gb < 0.0 {
        format!("freed 0.000 GB (grew {:.3} GB)", -gb)
    } else {
        format!("freed {shown} GB")
    }
}

/// Why a step of the cleanup did not run: `skipped (...)`.
pub fn skip_text(why: &SkipReason) -> String {
    let why = match why {
        SkipReason::MonitorOnly => "mode Monitor Only changes nothing".to_string(),
        SkipReason::NotInMode { mode } => format!("not in {} mode", mode.name()),
        SkipReason::GcPasses { passes, mode } => {
            format!("{passes} pass(es) in {} mode", mode.name())
        }
        SkipReason::NotInComfyui => "not running inside ComfyUI".into(),
        SkipReason::Disabled => "disabled".into(),
        SkipReason::TorchNotLoaded => "torch is not loaded in this process".into(),
        SkipReason::NoCuda { why } => format!("no CUDA device: {why}"),
    };
    format!("skipped ({why})")
}

/// Why torch sees no CUDA device: not loaded, a broken CUDA setup, a build without
/// CUDA, or a build that sees no GPU (with `CUDA_VISIBLE_DEVICES` when it is set).
pub fn no_cuda_reason(a: &CudaAbsence) -> String {
    if !a.torch_loaded {
        return "torch is not loaded in this process".into();
    }
    if let Some(e) = &a.error {
        return format!("CUDA is not usable here: {e}");
    }
    let built = match (&a.built_cuda, &a.built_hip) {
        (Some(cuda), _) => format!("CUDA {cuda}"),
        (None, Some(hip)) => format!("ROCm {hip}"),
        (None, None) => return format!("torch {} is built without CUDA", a.torch_version),
    };
    let hidden = a.visible_devices.as_ref().map_or_else(
        || "no driver or device visible".to_string(),
        |v| format!("CUDA_VISIBLE_DEVICES='{v}'"),
    );
    format!(
        "torch {}, built for {built}, sees no GPU ({hidden})",
        a.torch_version
    )
}

/// What a step of the cleanup did, in one line.
pub fn step_done(done: &StepDone) -> String {
    match done {
        StepDone::Unloaded {
            models,
            pinned_before_bytes,
            pinned_after_bytes,
        } => {
            let pinned = match pinned_before_bytes {
                None => "this ComfyUI has no pinned-memory accounting".to_string(),
                Some(b) => format!(
                    "pinned host memory {:.3} GB -> {:.3} GB",
                    *b as f64 / GB,
                    pinned_after_bytes.unwrap_or(0) as f64 / GB
                ),
            };
            format!(
                "unloaded {models} model(s) from VRAM (weights move to RAM until their cached \
                 node outputs go); {pinned}"
            )
        }
        StepDone::DropRequested => "asked ComfyUI to drop cached node outputs after the current \
                                    prompt (as POST /free does)"
            .into(),
        StepDone::Collected { objects } => format!("collected {objects} objects"),
        StepDone::Synchronized { devices } => format!("synchronized {devices} device(s)"),
        StepDone::CacheDropped { bytes } => {
            format!("page cache dropped: {:.3} GB", *bytes as f64 / GB)
        }
        StepDone::DeferredTrim {
            rss_before_bytes,
            rss_after_bytes,
        } => format!(
            "[memwarden] deferred trim after ComfyUI freed cached outputs: RSS {:.3} GB -> \
             {:.3} GB",
            *rss_before_bytes as f64 / GB,
            *rss_after_bytes as f64 / GB
        ),
        StepDone::DeferredTrimFailed { error } => {
            format!("[memwarden] deferred trim failed: {error}")
        }
    }
}

/// The heap returned to the OS, in one line (the cleanup's step 5, the manager's
/// heap trim): `malloc_trim: RSS 1.234 GB -> 1.100 GB`.
pub fn heap_trim_detail(r: &HeapTrimReport) -> String {
    format!(
        "{}: {} {:.3} GB -> {:.3} GB",
        r.call,
        r.resident,
        r.rss_before_bytes as f64 / GB,
        r.rss_after_bytes as f64 / GB
    )
}

/// Why a heap trim could not run here.
pub fn heap_trim_unavailable(error: &str) -> String {
    format!("heap trim not available on this platform ({error})")
}

/// One line for the cleanup's step 4: the calls made and reserved VRAM before ->
/// after, or why there was no CUDA device; then the peak-stats reset and the pinned
/// host cache.
pub fn torch_cache_detail(r: &TorchCacheSummary) -> String {
    let mut parts = Vec::new();
    if r.no_cuda.is_empty() {
        parts.push(format!(
            "{}: reserved {:.3} -> {:.3} GB",
            r.calls.join(" + "),
            r.reserved_before.iter().sum::<u64>() as f64 / GB,
            r.reserved_after.iter().sum::<u64>() as f64 / GB
        ));
        if r.peak_stats_reset {
            parts.push("peak stats reset".into());
        }
    } else {
        parts.push(format!(
            "no CUDA device: {}; device caches not applicable",
            r.no_cuda
        ));
    }
    if !r.host_note.is_empty() {
        parts.push(r.host_note.clone());
    }
    parts.join("; ")
}

/// The VRAM Optimizer's lines: per device, reserved before -> after (and the
/// driver's free of total when measured), each device named by its NVML index and
/// UUID where `gpus` (a snapshot's) knows its CUDA ordinal; then the total. With no
/// CUDA device, why.
pub fn torch_cache_lines(r: &TorchCacheSummary, gpus: &[GpuDevice]) -> Vec<String> {
    if !r.no_cuda.is_empty() {
        return vec![format!(
            "no CUDA device: {}; nothing to optimize",
            r.no_cuda
        )];
    }
    let mut lines = Vec::new();
    for (i, d) in r.devices.iter().enumerate() {
        let named = gpus
            .iter()
            .find(|g| g.cuda_ordinal == Some(*d))
            .map_or(String::new(), |g| {
                format!(" (NVML {}, {})", g.index, g.uuid)
            });
        let at = |v: &[u64]| v.get(i).copied().unwrap_or(0) as f64 / GB;
        let mut line = format!(
            "GPU cuda:{d}{named}: reserved {:.3} -> {:.3} GB",
            at(&r.reserved_before),
            at(&r.reserved_after)
        );
        if let Some((free, total)) = r.free_total.get(i) {
            let _ = write!(
                line,
                "; free {:.2} of {:.2} GB",
                *free as f64 / GB,
                *total as f64 / GB
            );
        }
        lines.push(line);
    }
    lines.push(format!("reserved VRAM: {}", freed_phrase(r.freed_bytes())));
    lines
}

/// How a user sets up the external helper so that it can do what this process
/// could not.
pub const HELPER_SETUP: &str = "to page out with CAP_SYS_NICE, grant a native memwarden binary \
    the capability (`sudo setcap cap_sys_nice+ep /path/to/memwarden`) and set \
    MEMWARDEN_HELPER=/path/to/memwarden for this process";

/// Why `MEMWARDEN_HELPER` names nothing that can be run.
pub fn helper_unusable(value: &str, problem: HelperProblem) -> String {
    let what = format!("{HELPER_ENV}='{value}'");
    match problem {
        HelperProblem::NotAbsolute => format!(
            "{what} is not an absolute path; set it to the full path of the memwarden binary"
        ),
        HelperProblem::Missing => format!("{what}: no such file"),
        HelperProblem::NotAFile => {
            format!("{what} is not a file (a directory?); it must name the memwarden binary itself")
        }
        HelperProblem::NotExecutable => format!(
            "{what} is not executable (chmod +x it, then `sudo setcap cap_sys_nice+ep \
             /path/to/memwarden`)"
        ),
    }
}

/// What the pageout's fallback would run, for a report's privileges line.
pub fn helper_status(choice: &HelperChoice) -> String {
    match choice {
        HelperChoice::Default => format!(
            "external helper: {HELPER_ENV} not set, so it would run python -m memwarden with \
             this process's own privileges ({HELPER_SETUP})"
        ),
        HelperChoice::Binary { path } => format!("external helper: {path} ({HELPER_ENV})"),
        HelperChoice::Unusable { value, problem } => format!(
            "external helper unusable: {}",
            helper_unusable(value, *problem)
        ),
    }
}

/// The Memory Cleaner's privileges line where the OS has nothing to elevate to
/// trim one's own process (Linux), with what the external helper would run; None on
/// Windows, where the report lists the privileges the trim enabled.
pub fn privileges_note(helper: &HelperChoice) -> Option<String> {
    (!cfg!(windows)).then(|| {
        format!(
            "nothing to elevate in-process on Linux; {}",
            helper_status(helper)
        )
    })
}

/// What the external helper's answer (its report, or its `--json` error) means for
/// the pageout: paged out (what moved to swap), refused by its swap check (the
/// verdict worded with the caller's `knobs` when the helper sent one; a helper older
/// than the verdict in its error object, kind `guard_refused`, is quoted as it is),
/// or failed.
pub fn helper_result(answer: Result<&PageoutReport, &HelperError>, knobs: &Knobs) -> HelperResult {
    match answer {
        Ok(r) => HelperResult::PagedOut {
            moved_bytes: r.moved_to_swap_bytes(),
        },
        Err(e) if e.kind == "swap_refused" || e.kind == "guard_refused" => {
            HelperResult::SwapRefused {
                verdict_text: e.swap_check.as_ref().map(|v| swap::reason(v, knobs)),
                error: e.error.clone(),
            }
        }
        Err(e) => HelperResult::Failed {
            error: e.error.clone(),
        },
    }
}

/// A pageout of this process in parts of the OS-level trim's line (joined with
/// "; " by the step).
pub fn pageout_attempt(a: &PageoutAttempt) -> Vec<String> {
    match a {
        PageoutAttempt::PagedOut {
            rss_before_bytes,
            rss_after_bytes,
            moved_bytes,
            swap_check,
        } => vec![format!(
            "pageout: RSS {:.3} -> {:.3} GB, {:.3} GB moved to swap ({swap_check})",
            *rss_before_bytes as f64 / GB,
            *rss_after_bytes as f64 / GB,
            *moved_bytes as f64 / GB
        )],
        PageoutAttempt::SwapRefused { said } => vec![format!("Skipping pageout: {said}")],
        PageoutAttempt::Failed { error } => vec![format!("pageout failed: {error}")],
        PageoutAttempt::HelperUnusable { refused, why } => vec![format!(
            "pageout failed in-process ({refused}); external helper not run: {why}"
        )],
        PageoutAttempt::Helper {
            refused,
            helper,
            own_privileges,
            result,
        } => {
            let intro = if *own_privileges {
                format!(
                    "pageout failed in-process ({refused}); using external helper {helper} \
                     (MEMWARDEN_HELPER is not set, so it runs with this process's own privileges \
                     and cannot do what this process could not; {HELPER_SETUP})"
                )
            } else {
                format!(
                    "pageout failed in-process ({refused}); using external helper {helper} \
                     (MEMWARDEN_HELPER)"
                )
            };
            let outcome = match result {
                HelperResult::PagedOut { moved_bytes } => format!(
                    "external helper {helper} paged out {:.3} GB to swap",
                    *moved_bytes as f64 / GB
                ),
                // The helper is the memwarden command: its message names --force;
                // its verdict, when it sent one, is worded in the caller's terms.
                HelperResult::SwapRefused {
                    verdict_text: Some(v),
                    ..
                } => format!("Skipping pageout (external helper): refused by the swap check: {v}"),
                HelperResult::SwapRefused {
                    verdict_text: None,
                    error,
                } => format!("Skipping pageout (external helper): {error}"),
                HelperResult::Failed { error } => {
                    format!("external helper {helper} failed: {error}")
                }
            };
            vec![intro, outcome]
        }
    }
}

fn gb(bytes: i64) -> f64 {
    bytes as f64 / GB
}

/// A step as it is logged when it ends: `[5/7] OS-level trim: what it did`.
pub fn step_line(index: u32, name: &str, detail: &str) -> String {
    format!("[{index}/7] {name}: {detail}")
}

/// A step that raised: what it raised (`TypeName: message`), so that the rest run.
pub fn step_failed(raised: &str) -> String {
    format!("FAILED: {raised}")
}

/// The report: one line a step, then the figures before and after.
pub fn cleanup_text(r: &CleanupSummary) -> String {
    let mut t = format!("memwarden cleanup ({})\n", r.mode);
    for s in &r.steps {
        let line = step_line(s.index, &s.name, &s.detail);
        let _ = writeln!(t, "{line} ({:.0} ms)", s.duration_ms);
    }
    t.push_str("\nCLEANUP RESULTS:\n");
    let _ = writeln!(
        t,
        "  Process RAM: {:.3} GB -> {:.3} GB ({})",
        gb(r.process_rss_before_bytes),
        gb(r.process_rss_after_bytes),
        freed_phrase(r.process_freed_bytes())
    );
    let source = if r.ram_source == "cgroup" {
        "container limit"
    } else {
        "host"
    };
    let _ = writeln!(
        t,
        "  System RAM : {:.3} GB -> {:.3} GB of {:.2} GB ({source})",
        gb(r.ram_used_before_bytes),
        gb(r.ram_used_after_bytes),
        gb(r.ram_total_bytes)
    );
    for (drive, free) in &r.page_file_drives {
        let figure = free.map_or("unreadable".to_string(), |f| {
            format!("{:.1} GB", f as f64 / GB)
        });
        let name = drive.trim_end_matches('\\');
        let _ = writeln!(t, "  {name:<2} free   : {figure} (holds a page file)");
    }
    if let Some(p) = &r.privileges {
        let _ = writeln!(t, "  Privileges : {p}");
    }
    match r.vram_used_before_bytes {
        None => t.push_str("  VRAM       : n/a (no GPU visible)\n"),
        Some(before) => {
            let _ = writeln!(
                t,
                "  VRAM       : {:.3} GB -> {:.3} GB ({})",
                gb(before),
                gb(r.vram_used_after_bytes.unwrap_or(0)),
                freed_phrase(r.vram_freed_bytes())
            );
        }
    }
    let _ = writeln!(
        t,
        "  Total      : {} (process RAM + VRAM)",
        freed_phrase(r.process_freed_bytes() + r.vram_freed_bytes())
    );
    let _ = write!(t, "  Time       : {:.2} s", r.duration_s);
    if r.deferred_trim_scheduled {
        t.push_str(
            "\n  Cached node outputs are dropped after the current prompt; the heap is trimmed then.",
        );
    }
    t
}

/// The panel's cleanup refused with 409: `prompt` is the running prompt's id.
pub fn cleanup_refused(r: CleanupRefusal, mode: CleanupMode, prompt: &str) -> String {
    match r {
        CleanupRefusal::PromptRunning => format!(
            "cleanup refused, nothing done: prompt {prompt} is running and the {} mode unloads \
             ComfyUI's models, which it is using; run it when the queue is idle, or use the \
             conservative mode now",
            mode.name()
        ),
        CleanupRefusal::Busy => "a cleanup is already running; try again when it ends".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CleanupStepLine;

    const GIB: i64 = 1 << 30;

    #[test]
    fn skipped_steps_say_why() {
        use crate::policy::modes::{CleanupMode, SkipReason::*};
        let mode = CleanupMode::Conservative;
        for (why, text) in [
            (MonitorOnly, "skipped (mode Monitor Only changes nothing)"),
            (NotInMode { mode }, "skipped (not in conservative mode)"),
            (
                GcPasses { passes: 1, mode },
                "skipped (1 pass(es) in conservative mode)",
            ),
            (NotInComfyui, "skipped (not running inside ComfyUI)"),
            (Disabled, "skipped (disabled)"),
            (
                TorchNotLoaded,
                "skipped (torch is not loaded in this process)",
            ),
            (
                NoCuda {
                    why: "no driver".into(),
                },
                "skipped (no CUDA device: no driver)",
            ),
        ] {
            assert_eq!(skip_text(&why), text);
        }
    }

    #[test]
    fn what_each_step_did() {
        let g = 1u64 << 30;
        for (done, text) in [
            (
                StepDone::Unloaded {
                    models: 2,
                    pinned_before_bytes: Some(g),
                    pinned_after_bytes: Some(g / 4),
                },
                "unloaded 2 model(s) from VRAM (weights move to RAM until their cached node \
                 outputs go); pinned host memory 1.000 GB -> 0.250 GB",
            ),
            (
                StepDone::Unloaded {
                    models: 0,
                    pinned_before_bytes: None,
                    pinned_after_bytes: None,
                },
                "unloaded 0 model(s) from VRAM (weights move to RAM until their cached node \
                 outputs go); this ComfyUI has no pinned-memory accounting",
            ),
            (
                StepDone::DropRequested,
                "asked ComfyUI to drop cached node outputs after the current prompt (as POST \
                 /free does)",
            ),
            (StepDone::Collected { objects: 12 }, "collected 12 objects"),
            (
                StepDone::Synchronized { devices: 2 },
                "synchronized 2 device(s)",
            ),
            (
                StepDone::CacheDropped { bytes: g / 2 },
                "page cache dropped: 0.500 GB",
            ),
            (
                StepDone::DeferredTrim {
                    rss_before_bytes: 3 * g,
                    rss_after_bytes: 2 * g,
                },
                "[memwarden] deferred trim after ComfyUI freed cached outputs: RSS 3.000 GB -> \
                 2.000 GB",
            ),
            (
                StepDone::DeferredTrimFailed {
                    error: "boom".into(),
                },
                "[memwarden] deferred trim failed: boom",
            ),
        ] {
            assert_eq!(step_done(&done), text);
        }
        let trim = HeapTrimReport {
            call: "malloc_trim".into(),
            resident: "RSS".into(),
            rss_before_bytes: 2 * g,
            rss_after_bytes: g,
            schema_version: 1,
            pid: 1,
            released: true,
            freed_bytes: g as i64,
            duration_ms: 0.1,
        };
        assert_eq!(
            heap_trim_detail(&trim),
            "malloc_trim: RSS 2.000 GB -> 1.000 GB"
        );
        assert_eq!(
            heap_trim_unavailable("no allocator"),
            "heap trim not available on this platform (no allocator)"
        );
    }

    #[test]
    fn what_memwarden_helper_names() {
        assert_eq!(
            helper_status(&HelperChoice::Binary {
                path: "/opt/memwarden".into()
            }),
            "external helper: /opt/memwarden (MEMWARDEN_HELPER)"
        );
        assert!(helper_status(&HelperChoice::Default).starts_with(
            "external helper: MEMWARDEN_HELPER not set, so it would run python -m memwarden \
             with this process's own privileges (to page out with CAP_SYS_NICE"
        ));
        for (problem, text) in [
            (
                HelperProblem::NotAbsolute,
                "MEMWARDEN_HELPER='x' is not an absolute path; set it to the full path of the \
                 memwarden binary",
            ),
            (HelperProblem::Missing, "MEMWARDEN_HELPER='x': no such file"),
            (
                HelperProblem::NotAFile,
                "MEMWARDEN_HELPER='x' is not a file (a directory?); it must name the memwarden \
                 binary itself",
            ),
            (
                HelperProblem::NotExecutable,
                "MEMWARDEN_HELPER='x' is not executable (chmod +x it, then `sudo setcap \
                 cap_sys_nice+ep /path/to/memwarden`)",
            ),
        ] {
            assert_eq!(helper_unusable("x", problem), text);
            assert_eq!(
                helper_status(&HelperChoice::Unusable {
                    value: "x".into(),
                    problem
                }),
                format!("external helper unusable: {text}")
            );
        }
    }

    #[test]
    fn the_privileges_line_on_linux_names_the_helper() {
        let note = privileges_note(&HelperChoice::Binary {
            path: "/opt/memwarden".into(),
        });
        if cfg!(windows) {
            assert_eq!(note, None);
        } else {
            assert_eq!(
                note.as_deref(),
                Some(
                    "nothing to elevate in-process on Linux; external helper: /opt/memwarden \
                     (MEMWARDEN_HELPER)"
                )
            );
        }
    }

    #[test]
    fn what_the_helpers_answer_means_for_the_pageout() {
        use crate::parse::helper::helper_answer;
        let knobs = Knobs {
            force: "flip the switch".into(),
            margin: "min_c_free_gb".into(),
        };
        let report = include_str!("../../tests/data/helper_pageout_report.json");
        let answer = helper_answer("h", report, "", 0);
        let Ok(r) = &answer else { panic!("{answer:?}") };
        assert_eq!(
            helper_result(answer.as_ref().map_err(|e| &**e), &knobs),
            HelperResult::PagedOut {
                moved_bytes: r.swap_after_bytes - r.swap_before_bytes
            }
        );
        let refused = include_str!("../../tests/data/helper_swap_refused.json");
        let answer = helper_answer("h", refused, "", 6);
        let Err(e) = &answer else {
            panic!("{answer:?}")
        };
        let HelperResult::SwapRefused {
            verdict_text: Some(words),
            error,
        } = helper_result(answer.as_ref().map_err(|e| &**e), &knobs)
        else {
            panic!("not a refusal")
        };
        assert!(words.contains("flip the switch"), "{words}");
        assert!(!words.contains("--force"), "{words}");
        assert_eq!(error, e.error);
        let old = HelperError {
            error: "refused by safety guard".into(),
            kind: "guard_refused".into(),
            exit_code: Some(6),
            swap_check: None,
        };
        assert_eq!(
            helper_result(Err(&old), &knobs),
            HelperResult::SwapRefused {
                verdict_text: None,
                error: "refused by safety guard".into()
            }
        );
        let broke = HelperError {
            kind: "permission_denied".into(),
            ..old
        };
        assert_eq!(
            helper_result(Err(&broke), &knobs),
            HelperResult::Failed {
                error: "refused by safety guard".into()
            }
        );
    }

    #[test]
    fn why_torch_sees_no_cuda_device() {
        let loaded = CudaAbsence {
            torch_loaded: true,
            torch_version: "2.5.1".into(),
            ..Default::default()
        };
        assert_eq!(
            no_cuda_reason(&CudaAbsence::default()),
            "torch is not loaded in this process"
        );
        assert_eq!(
            no_cuda_reason(&CudaAbsence {
                error: Some("RuntimeError: driver too old".into()),
                built_cuda: Some("12.4".into()),
                ..loaded.clone()
            }),
            "CUDA is not usable here: RuntimeError: driver too old"
        );
        assert_eq!(no_cuda_reason(&loaded), "torch 2.5.1 is built without CUDA");
        assert_eq!(
            no_cuda_reason(&CudaAbsence {
                built_cuda: Some("12.4".into()),
                built_hip: Some("6.2".into()),
                ..loaded.clone()
            }),
            "torch 2.5.1, built for CUDA 12.4, sees no GPU (no driver or device visible)"
        );
        assert_eq!(
            no_cuda_reason(&CudaAbsence {
                built_hip: Some("6.2".into()),
                visible_devices: Some(String::new()),
                ..loaded
            }),
            "torch 2.5.1, built for ROCm 6.2, sees no GPU (CUDA_VISIBLE_DEVICES='')"
        );
    }

    #[test]
    fn torch_caches_per_device_named_by_nvml_where_known() {
        let none = TorchCacheSummary {
            no_cuda: "torch 2.5 is built without CUDA".into(),
            host_note: "pinned host cache: nothing held".into(),
            ..Default::default()
        };
        assert_eq!(
            torch_cache_detail(&none),
            "no CUDA device: torch 2.5 is built without CUDA; device caches not applicable; \
             pinned host cache: nothing held"
        );
        assert_eq!(
            torch_cache_lines(&none, &[]),
            ["no CUDA device: torch 2.5 is built without CUDA; nothing to optimize"]
        );
        let g = GIB as u64;
        let two = TorchCacheSummary {
            devices: vec![0, 1],
            reserved_before: vec![3 * g, g],
            reserved_after: vec![g, g],
            free_total: vec![(70 * g, 80 * g), (79 * g, 80 * g)],
            calls: vec!["empty_cache".into(), "ipc_collect".into()],
            peak_stats_reset: true,
            ..Default::default()
        };
        assert_eq!(
            torch_cache_detail(&two),
            "empty_cache + ipc_collect: reserved 4.000 -> 2.000 GB; peak stats reset"
        );
        let mut gpu = crate::policy::figures::tests::gpu(3, 1, 80);
        gpu.cuda_ordinal = Some(1);
        gpu.uuid = "GPU-abc".into();
        assert_eq!(
            torch_cache_lines(&two, &[gpu]),
            [
                "GPU cuda:0: reserved 3.000 -> 1.000 GB; free 70.00 of 80.00 GB",
                "GPU cuda:1 (NVML 3, GPU-abc): reserved 1.000 -> 1.000 GB; free 79.00 of 80.00 GB",
                "reserved VRAM: freed 2.000 GB",
            ]
        );
    }

    #[test]
    fn a_pageout_in_process_or_through_the_helper_in_parts_of_the_line() {
        let g = GIB as u64;
        let inproc = PageoutAttempt::PagedOut {
            rss_before_bytes: 2 * g,
            rss_after_bytes: g,
            moved_bytes: g / 2,
            swap_check: "free swap 8.00 GiB covers it".into(),
        };
        assert!(inproc.ok());
        assert_eq!(
            pageout_attempt(&inproc),
            ["pageout: RSS 2.000 -> 1.000 GB, 0.500 GB moved to swap (free swap 8.00 GiB covers it)"]
        );
        let skipped = PageoutAttempt::SwapRefused {
            said: "free swap is short".into(),
        };
        assert!(skipped.ok());
        assert_eq!(
            pageout_attempt(&skipped),
            ["Skipping pageout: free swap is short"]
        );
        let failed = PageoutAttempt::Failed {
            error: "needs CAP_SYS_NICE".into(),
        };
        assert!(!failed.ok());
        assert_eq!(
            pageout_attempt(&failed),
            ["pageout failed: needs CAP_SYS_NICE"]
        );
        let unusable = PageoutAttempt::HelperUnusable {
            refused: "no".into(),
            why: "MEMWARDEN_HELPER='x': no such file".into(),
        };
        assert!(!unusable.ok());
        assert_eq!(
            pageout_attempt(&unusable),
            ["pageout failed in-process (no); external helper not run: MEMWARDEN_HELPER='x': no such file"]
        );
        let helper = |own: bool, result: HelperResult| PageoutAttempt::Helper {
            refused: "no".into(),
            helper: "/opt/memwarden".into(),
            own_privileges: own,
            result,
        };
        let moved = helper(false, HelperResult::PagedOut { moved_bytes: g });
        assert!(moved.ok());
        assert_eq!(
            pageout_attempt(&moved),
            [
                "pageout failed in-process (no); using external helper /opt/memwarden (MEMWARDEN_HELPER)",
                "external helper /opt/memwarden paged out 1.000 GB to swap",
            ]
        );
        let own = pageout_attempt(&helper(
            true,
            HelperResult::Failed {
                error: "it broke".into(),
            },
        ));
        assert!(own[0].contains(
            "(MEMWARDEN_HELPER is not set, so it runs with this process's own privileges"
        ));
        assert!(
            own[0].ends_with(&format!("; {HELPER_SETUP})")),
            "{}",
            own[0]
        );
        assert_eq!(own[1], "external helper /opt/memwarden failed: it broke");
        assert!(!helper(true, HelperResult::Failed { error: "e".into() }).ok());
        let refused = |v: Option<&str>| {
            let a = helper(
                false,
                HelperResult::SwapRefused {
                    verdict_text: v.map(Into::into),
                    error: "old words".into(),
                },
            );
            assert!(a.ok());
            pageout_attempt(&a)[1].clone()
        };
        assert_eq!(
            refused(Some("free swap 1 B")),
            "Skipping pageout (external helper): refused by the swap check: free swap 1 B"
        );
        assert_eq!(
            refused(None),
            "Skipping pageout (external helper): old words"
        );
        assert!(HELPER_SETUP.contains(
            "(`sudo setcap cap_sys_nice+ep /path/to/memwarden`) and set MEMWARDEN_HELPER="
        ));
    }

    #[test]
    fn freed_never_reads_minus_zero_and_growth_says_so() {
        assert_eq!(freed_phrase(0), "freed 0.000 GB");
        assert_eq!(freed_phrase(-100), "freed 0.000 GB");
        assert_eq!(freed_phrase(GIB + GIB / 4), "freed 1.250 GB");
        assert_eq!(freed_phrase(-(GIB / 80)), "freed 0.000 GB (grew 0.012 GB)");
    }

    #[test]
    fn the_report_lists_each_step_then_the_results() {
        let r = CleanupSummary {
            mode: "aggressive".into(),
            steps: vec![CleanupStepLine {
                index: 5,
                name: "OS-level trim".into(),
                detail: "malloc_trim: RSS 1.000 -> 0.900 GB".into(),
                duration_ms: 12.4,
            }],
            process_rss_before_bytes: 2 * GIB,
            process_rss_after_bytes: GIB,
            ram_used_before_bytes: 8 * GIB,
            ram_used_after_bytes: 7 * GIB,
            ram_total_bytes: 16 * GIB,
            ram_source: "cgroup".into(),
            vram_used_before_bytes: Some(3 * GIB),
            vram_used_after_bytes: Some(GIB),
            duration_s: 1.234,
            deferred_trim_scheduled: true,
            page_file_drives: vec![
                ("C:\\".into(), Some((61 << 30) + (1 << 30) / 5)),
                ("D:\\".into(), None),
            ],
            privileges: Some("SeIncreaseQuotaPrivilege=YES".into()),
        };
        assert_eq!(
            cleanup_text(&r),
            "memwarden cleanup (aggressive)\n\
             [5/7] OS-level trim: malloc_trim: RSS 1.000 -> 0.900 GB (12 ms)\n\
             \n\
             CLEANUP RESULTS:\n  \
             Process RAM: 2.000 GB -> 1.000 GB (freed 1.000 GB)\n  \
             System RAM : 8.000 GB -> 7.000 GB of 16.00 GB (container limit)\n  \
             C: free   : 61.2 GB (holds a page file)\n  \
             D: free   : unreadable (holds a page file)\n  \
             Privileges : SeIncreaseQuotaPrivilege=YES\n  \
             VRAM       : 3.000 GB -> 1.000 GB (freed 2.000 GB)\n  \
             Total      : freed 3.000 GB (process RAM + VRAM)\n  \
             Time       : 1.23 s\n  \
             Cached node outputs are dropped after the current prompt; the heap is trimmed then."
        );
        let host = CleanupSummary {
            mode: "balanced".into(),
            ram_source: "host".into(),
            ..Default::default()
        };
        let text = cleanup_text(&host);
        assert!(
            text.contains("(host)\n  VRAM       : n/a (no GPU visible)\n"),
            "{text}"
        );
        assert!(text.ends_with("  Time       : 0.00 s"), "{text}");
    }

    #[test]
    fn the_panels_cleanup_refusal_says_why_and_what_to_do() {
        let running = cleanup_refused(CleanupRefusal::PromptRunning, CleanupMode::Balanced, "p-7");
        assert!(
            running.starts_with("cleanup refused, nothing done: prompt p-7 is running and the balanced mode unloads ComfyUI's models")
                && running.ends_with("or use the conservative mode now"),
            "{running}"
        );
        assert_eq!(
            cleanup_refused(CleanupRefusal::Busy, CleanupMode::Monitor, ""),
            "a cleanup is already running; try again when it ends"
        );
    }
}
