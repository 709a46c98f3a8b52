//! The cleanup's plan and wording for `memwarden.cleanup`: which steps run and
//! why the others do not (the core's `policy::modes`), and each step's line
//! (the core's `render`). Python runs the steps that must run in-process (torch,
//! gc, ComfyUI's model management) and hands the figures back here.

use memwarden_core::policy::modes::{self, CleanupChoices, CleanupFacts, PlannedStep};
use memwarden_core::{
    act, render, CleanupSummary, CudaAbsence, HelperChoice, HelperError, PageoutAttempt, StepDone,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::args::{invalid, show};
use crate::models::{from_dict, to_dict, PyPageoutReport, PySwapVerdict};

/// A planned step for Python: (index, name, action or None, why it is skipped or None).
type StepTuple = (u8, String, Option<Py<PyAny>>, Option<String>);

fn steps_for_python(py: Python<'_>, steps: Vec<PlannedStep>) -> PyResult<Vec<StepTuple>> {
    steps
        .into_iter()
        .map(|s| {
            Ok(match s.run {
                Ok(action) => (s.index, s.name, Some(to_dict(py, &action)?), None),
                Err(why) => (s.index, s.name, None, Some(render::skip_text(&why))),
            })
        })
        .collect()
}

/// The steps of one cleanup, in order (`choices`: the mode and the caller's
/// overrides; `facts`: what this process holds): each as (index, name, action, skip),
/// the action a dict tagged by "kind", or None with the line saying why it is skipped.
#[pyfunction]
fn cleanup_steps(
    py: Python<'_>,
    choices: Bound<'_, PyAny>,
    facts: Bound<'_, PyAny>,
) -> PyResult<Vec<StepTuple>> {
    let c: CleanupChoices = from_dict(&choices, "CleanupChoices")?;
    let f: CleanupFacts = from_dict(&facts, "CleanupFacts")?;
    steps_for_python(py, modes::cleanup_steps(&c, &f))
}

/// The background manager's non-disruptive action, as steps of the cleanup.
#[pyfunction]
fn heap_trim_steps(py: Python<'_>, purge_cache: bool) -> PyResult<Vec<StepTuple>> {
    steps_for_python(py, modes::heap_trim_steps(purge_cache))
}

/// What a step did, in one line (`done`: a dict of the core's StepDone, tagged by
/// "done").
#[pyfunction]
fn step_done(done: Bound<'_, PyAny>) -> PyResult<String> {
    Ok(render::step_done(&from_dict::<StepDone>(
        &done, "StepDone",
    )?))
}

/// Why torch sees no CUDA device (`absence`: a dict of the core's CudaAbsence).
#[pyfunction]
fn no_cuda_reason(absence: Bound<'_, PyAny>) -> PyResult<String> {
    Ok(render::no_cuda_reason(&from_dict::<CudaAbsence>(
        &absence,
        "CudaAbsence",
    )?))
}

/// Return this process's free heap to the OS and say what it did in one line (or
/// why it cannot here).
#[pyfunction]
fn trim_heap_detail(py: Python<'_>) -> String {
    match py.detach(act::trim_own_heap) {
        Ok(r) => render::heap_trim_detail(&r),
        Err(e) => render::heap_trim_unavailable(&e.to_string()),
    }
}

/// What the value of MEMWARDEN_HELPER names: (path of the native binary, or None
/// for the default `python -m memwarden`; what is wrong with it, or None).
#[pyfunction]
fn helper_choice(value: &str) -> (Option<String>, Option<String>) {
    match act::helper_choice(value, home().as_deref()) {
        HelperChoice::Default => (None, None),
        HelperChoice::Binary { path } => (Some(path), None),
        HelperChoice::Unusable { value, problem } => {
            (None, Some(render::helper_unusable(&value, problem)))
        }
    }
}

/// The Memory Cleaner's privileges line where there is nothing to elevate (Linux),
/// with what the external helper (`value`: MEMWARDEN_HELPER's value) would run;
/// None on Windows, where the report lists the privileges the trim enabled.
#[pyfunction]
fn privileges_note(value: &str) -> Option<String> {
    render::privileges_note(&act::helper_choice(value, home().as_deref()))
}

/// The user's home folder, for `~` in MEMWARDEN_HELPER.
fn home() -> Option<std::path::PathBuf> {
    std::env::var_os(if cfg!(windows) { "USERPROFILE" } else { "HOME" }).map(Into::into)
}

/// The folder memwarden keeps its files in outside ComfyUI ($XDG_STATE_HOME/memwarden,
/// ~/.local/state/memwarden, %LOCALAPPDATA%\memwarden on Windows); None when none of
/// these is set.
#[pyfunction]
fn default_state_directory() -> Option<std::path::PathBuf> {
    memwarden_core::history::state_directory()
}

/// The pageout's fallback after the kernel `refused` it in-process: the external
/// helper `helper` ran (`own_privileges`: the default `python -m memwarden`) and
/// gave `answer` (its PageoutReport, or (error, kind, exit_code, swap_check) as
/// `helper_answer` returns it). Whether the step went as it may, and its parts of
/// the line, the helper's swap verdict worded with `force_hint` / `margin_hint`.
#[pyfunction]
fn helper_attempt(
    refused: &str,
    helper: &str,
    own_privileges: bool,
    answer: Bound<'_, PyAny>,
    force_hint: &str,
    margin_hint: &str,
) -> PyResult<(bool, Vec<String>)> {
    let knobs = render::swap::Knobs {
        force: force_hint.into(),
        margin: margin_hint.into(),
    };
    let result = if let Ok(r) = answer.cast::<PyPageoutReport>() {
        render::helper_result(Ok(&r.get().0), &knobs)
    } else {
        let (error, kind, exit_code, verdict): (
            String,
            String,
            Option<i32>,
            Option<PyRef<'_, PySwapVerdict>>,
        ) = answer.extract().map_err(|_| {
            invalid(format!(
                "answer must be a PageoutReport or (error, kind, exit_code, swap_check), got {}",
                show(&answer)
            ))
        })?;
        let e = HelperError {
            error,
            kind,
            exit_code,
            swap_check: verdict.map(|v| v.0.clone()),
        };
        render::helper_result(Err(&e), &knobs)
    };
    let a = PageoutAttempt::Helper {
        refused: refused.into(),
        helper: helper.into(),
        own_privileges,
        result,
    };
    Ok((a.ok(), render::pageout_attempt(&a)))
}

/// The in-process pageout went ahead (`report`, its PageoutReport): whether the
/// step went as it may, and its parts of the line.
#[pyfunction]
fn paged_out(report: PyRef<'_, PyPageoutReport>) -> (bool, Vec<String>) {
    let a = PageoutAttempt::paged_out(&report.0);
    (a.ok(), render::pageout_attempt(&a))
}

/// What a cleanup freed, as the core counts it from its report's figures
/// (`summary`, the CleanupSummary's fields): (process RSS, RAM used under the
/// binding limit, VRAM, process RSS plus VRAM), bytes; negative where it grew.
#[pyfunction]
fn cleanup_freed(summary: Bound<'_, PyAny>) -> PyResult<(i64, i64, i64, i64)> {
    let s: CleanupSummary = from_dict(&summary, "CleanupSummary")?;
    Ok((
        s.process_freed_bytes(),
        s.ram_freed_bytes(),
        s.vram_freed_bytes(),
        s.freed_bytes(),
    ))
}

/// A step as it is logged when it ends: `[5/7] OS-level trim: what it did`.
#[pyfunction]
fn step_line(index: u32, name: &str, detail: &str) -> String {
    render::step_line(index, name, detail)
}

/// A step that raised `raised` (`TypeName: message`), in its line.
#[pyfunction]
fn step_failed(raised: &str) -> String {
    render::step_failed(raised)
}

/// The Memory Cleaner (Force) node's cleanup (`policy::modes::memory_cleaner`), as
/// `memwarden.cleanup()`'s mode and the options it sets.
#[pyfunction]
fn memory_cleaner_choices(
    py: Python<'_>,
    aggressive_trim: bool,
    purge_cache: bool,
) -> PyResult<Bound<'_, PyDict>> {
    let c = modes::memory_cleaner(aggressive_trim, purge_cache);
    let d = PyDict::new(py);
    d.set_item("mode", c.mode.name())?;
    let set = [
        ("unload_models", c.unload_models),
        ("drop_node_cache", c.drop_node_cache),
        ("reset_peak_stats", c.reset_peak_stats),
        ("pageout_self", c.pageout_self),
    ];
    for (name, value) in set {
        if let Some(v) = value {
            d.set_item(name, v)?;
        }
    }
    if let Some(g) = c.gc_passes {
        d.set_item("gc_passes", g)?;
    }
    d.set_item("torch_cache", c.torch_cache)?;
    d.set_item("os_trim", c.os_trim)?;
    d.set_item("sync_gpu", c.sync_gpu)?;
    d.set_item("purge_cache", c.purge_cache)?;
    Ok(d)
}

/// Adds the cleanup's plan and wording to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cleanup_steps, m)?)?;
    m.add_function(wrap_pyfunction!(heap_trim_steps, m)?)?;
    m.add_function(wrap_pyfunction!(step_done, m)?)?;
    m.add_function(wrap_pyfunction!(no_cuda_reason, m)?)?;
    m.add_function(wrap_pyfunction!(trim_heap_detail, m)?)?;
    m.add_function(wrap_pyfunction!(helper_choice, m)?)?;
    m.add_function(wrap_pyfunction!(helper_attempt, m)?)?;
    m.add_function(wrap_pyfunction!(paged_out, m)?)?;
    m.add_function(wrap_pyfunction!(memory_cleaner_choices, m)?)?;
    m.add_function(wrap_pyfunction!(step_line, m)?)?;
    m.add_function(wrap_pyfunction!(step_failed, m)?)?;
    m.add_function(wrap_pyfunction!(cleanup_freed, m)?)?;
    m.add_function(wrap_pyfunction!(privileges_note, m)?)?;
    m.add_function(wrap_pyfunction!(default_state_directory, m)?)?;
    m.add(
        "NODE_DEFAULT_MARGIN_GB",
        memwarden_core::policy::swap::NODE_DEFAULT_MARGIN_GB,
    )?;
    Ok(())
}
