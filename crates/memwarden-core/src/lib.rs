//! memwarden-core: see and reclaim memory for AI generation workloads.
//!
//! One road from probe to report (docs/architecture.md):
//!
//! - [`probe`] reads: system memory, processes, the container's cgroup, pressure
//!   (PSI), GPUs. One module per concern, one file per OS behind it.
//! - [`snapshot::collect`] assembles the probes into a [`Snapshot`] ([`model`]).
//! - [`policy`] decides, as pure functions over snapshots: the swap check,
//!   protected processes, pressure levels and advice, cleanup modes, the
//!   automatic trigger, which process is ComfyUI, and every derived figure.
//! - [`act`] acts, OS-neutral: identify, refuse, check privileges, check swap, act
//!   through the raw OS calls in `sys`, measure, report.
//! - [`render`] turns snapshots and reports into the text the CLI, the Python API
//!   and the ComfyUI nodes print; [`model::schema`] documents the JSON.

pub mod act;
pub mod error;
pub mod history;
pub mod model;
pub mod parse;
pub mod policy;
pub mod probe;
pub mod render;
pub mod snapshot;
mod sys;
pub mod units;
pub mod watch;

pub use error::{Error, Result};
pub use model::*;
pub use policy::protect::{parse_pid, validate_pid};
pub use snapshot::{collect, SnapshotOptions};
/// The monotonic clock headroom readings are stamped with (`HeadroomReading::at_ns`):
/// CLOCK_MONOTONIC on Linux, the performance counter on Windows; both are Python's
/// `time.monotonic_ns()`.
#[cfg(any(target_os = "linux", windows))]
pub use sys::clock::monotonic_ns;

/// Memory of one process (RSS split, VMS, swap; `detailed` adds USS/PSS).
pub fn process_memory(pid: i64, detailed: bool) -> Result<ProcessMemory> {
    let pid = parse_pid(pid)?;
    let mut p = probe::process::read_process(pid)?;
    if detailed {
        probe::process::add_uss_pss(&mut p)?;
    }
    Ok(p)
}
