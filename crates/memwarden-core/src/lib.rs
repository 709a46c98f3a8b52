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
pub mod units;

pub use error::{Error, Result};
pub use model::*;
pub use snapshot::{collect, SnapshotOptions};

/// Processes that match `pred` on their command line (kernel threads and the caller
/// excluded), e.g. to find ComfyUI.
pub fn find_processes(pred: &dyn Fn(&str) -> bool) -> Result<Vec<ProcessMemory>> {
    platform::find_processes(pred)
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

/// Does `cmdline` look like a ComfyUI server? (`python main.py` inside a ComfyUI
/// checkout, or the comfy-cli launcher.)
pub fn is_comfyui_cmdline(cmdline: &str) -> bool {
    let lower = cmdline.to_ascii_lowercase();
    let has_comfy = lower.contains("comfyui") || lower.contains("comfy ");
    let launcher = lower
        .split_ascii_whitespace()
        .any(|a| a.ends_with("main.py") || a == "launch");
    has_comfy && launcher && !lower.contains("memwarden")
}

/// A PID that may be read: a positive integer.
pub fn parse_pid(pid: i64) -> Result<u32> {
    if pid <= 0 || pid > i32::MAX as i64 {
        return Err(Error::InvalidInput(format!(
            "{pid} is not a valid PID (must be a positive integer)"
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
    fn comfyui_detection() {
        assert!(is_comfyui_cmdline(
            "/usr/bin/python3 /home/u/ComfyUI/main.py --listen"
        ));
        assert!(is_comfyui_cmdline("python main.py --cwd ComfyUI"));
        assert!(is_comfyui_cmdline(
            "/venv/bin/python /venv/bin/comfy launch"
        ));
        assert!(!is_comfyui_cmdline("vim ComfyUI/README.md"));
        assert!(!is_comfyui_cmdline("python main.py"));
        assert!(!is_comfyui_cmdline("memwarden trim --auto ComfyUI/main.py"));
    }

    #[test]
    fn pid_validation() {
        assert!(matches!(validate_pid(0), Err(Error::InvalidInput(_))));
        assert!(matches!(validate_pid(-3), Err(Error::InvalidInput(_))));
        assert!(matches!(validate_pid(1), Err(Error::Protected(_))));
        assert_eq!(validate_pid(42).unwrap(), 42);
        assert_eq!(parse_pid(1).unwrap(), 1);
    }
}
