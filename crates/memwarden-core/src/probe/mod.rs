//! What is read: one module per concern, each an OS-neutral interface with the
//! file of each OS behind it, chosen by `cfg` at module level (as bottom's
//! `collection/` does). An OS without a file for a concern answers from
//! [`unsupported`], the one place that says "not available on this platform".
//!
//! Probes only read; they never decide (that is [`crate::policy`]) and never act
//! (that is [`crate::act`]). The raw OS calls they share live in `crate::sys`.

pub mod cgroup;
pub mod gpu;
pub mod headroom;
pub mod memory;
pub mod model_file;
pub mod pressure;
pub mod process;
#[cfg(not(target_os = "linux"))]
mod unsupported;
