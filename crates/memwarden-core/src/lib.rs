//! memwarden-core: see and reclaim memory for AI generation workloads.
//!
//! - [`snapshot::collect`] takes a [`Snapshot`] of system, container (cgroup v1/v2),
//!   pressure (PSI), per-process and per-GPU memory.
//! - [`actions`] reclaim memory: page another process out ([`actions::pageout`]),
//!   drop the page cache, cgroup v2 reclaim, return this process's heap to the OS.
//! - [`render`] turns reports into the text the CLI and the ComfyUI nodes print.
//!
//! OS-specific code lives in `platform`; everything else is portable.

pub mod actions;
pub mod error;
pub mod gpu;
pub mod guard;
pub mod model;
pub mod parse;
mod platform;
pub mod pressure;
pub mod render;
pub mod schema;
pub mod snapshot;
pub mod target;
pub mod units;

pub use error::{Error, Result};
pub use model::*;
pub use snapshot::{collect, SnapshotOptions};

/// ComfyUI server processes ([`target::comfyui_main`]): Python interpreters running
/// the main.py of a ComfyUI checkout, the caller excluded; each with the main.py it
/// runs, as that process sees the path.
pub fn find_comfyui() -> Result<Vec<(ProcessMemory, std::path::PathBuf)>> {
    platform::find_processes(&target::may_be_comfyui, &|l| {
        target::comfyui_main(l, &|d| target::is_comfyui_dir_in(l.root.as_deref(), d))
    })
}

/// Memory of one process (RSS split, VMS, swap; `detailed` adds USS/PSS).
pub fn process_memory(pid: i64, detailed: bool) -> Result<ProcessMemory> {
    let pid = parse_pid(pid)?;
    let mut p = platform::read_process(pid)?;
    if detailed {
        let r = platform::read_smaps(pid)?;
        p.uss_bytes = Some(r.uss);
        p.pss_bytes = Some(r.pss);
        p.swap_pss_bytes = Some(r.swap_pss);
    }
    Ok(p)
}

/// A PID that may be read: from 1 to 2^31 - 1 (the kernel's pid_t; pid_max is at
/// most 4194304).
pub fn parse_pid(pid: i64) -> Result<u32> {
    if pid <= 0 {
        return Err(Error::InvalidInput(format!(
            "{pid} is not a valid PID (PIDs are positive integers)"
        )));
    }
    if pid > i32::MAX as i64 {
        return Err(Error::InvalidInput(format!(
            "{pid} is not a valid PID (too large: PIDs are at most {}, and the kernel's \
             pid_max at most 4194304)",
            i32::MAX
        )));
    }
    Ok(pid as u32)
}

/// A PID that may be acted on: valid and not PID 1 (init of this PID namespace).
pub fn validate_pid(pid: i64) -> Result<u32> {
    let pid = parse_pid(pid)?;
    if pid == 1 {
        return Err(Error::Protected(
            "PID 1 is the init process of this PID namespace; memwarden never touches it".into(),
        ));
    }
    Ok(pid as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_validation() {
        assert!(matches!(validate_pid(0), Err(Error::InvalidInput(_))));
        assert!(matches!(validate_pid(-3), Err(Error::InvalidInput(_))));
        assert!(matches!(validate_pid(1), Err(Error::Protected(_))));
        assert_eq!(validate_pid(42).unwrap(), 42);
        assert_eq!(parse_pid(1).unwrap(), 1);
        let e = parse_pid(2147483648).unwrap_err().to_string();
        assert!(e.contains("too large"), "{e}");
    }
}
