//! Identify the process to act on when the user names it by what it is.

use std::path::PathBuf;

use crate::error::Result;
use crate::model::ProcessMemory;
use crate::policy::target;
use crate::probe::process;

/// ComfyUI server processes ([`target::comfyui_main`]): Python interpreters running
/// the main.py of a ComfyUI checkout, the caller excluded; each with the main.py it
/// runs, as that process sees the path.
pub fn find_comfyui() -> Result<Vec<(ProcessMemory, PathBuf)>> {
    process::find_processes(&target::may_be_comfyui, &|l| {
        target::comfyui_main(l, &|d| target::is_comfyui_dir_in(l.root.as_deref(), d))
    })
}

/// `trim --auto`: the one ComfyUI server running, or an error listing what matched.
pub fn auto_target() -> Result<ProcessMemory> {
    target::choose_one(find_comfyui()?)
}
