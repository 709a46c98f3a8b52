//! Every decision memwarden makes, in one place, as pure functions over snapshots
//! and reports: nothing here reads the system or acts on it, so each rule is
//! unit-tested on constructed values.
//!
//! - [`swap`]: may this pageout go ahead (free swap, the cgroup's swap allowance)?
//! - [`protect`]: processes memwarden never touches (PID 1, kernel threads, zombies).
//! - [`pressure`]: the pressure level in words, and what to do about it.
//! - [`figures`]: the one definition of each derived figure (effective memory,
//!   VRAM percent, swap percent).
//! - [`modes`]: what each cleanup mode does.
//! - [`trigger`]: when the automatic optimization acts (thresholds, hysteresis,
//!   cooldown).
//! - [`escalation`]: what the background manager does when it wakes (levels,
//!   escalation, back-off, the running-node rule); [`stats`]: its statistics.
//! - [`target`]: which process is ComfyUI (`trim --auto`).
//! - [`threshold`]: the one threshold vocabulary (reached, cleared with a
//!   hysteresis, the level reached) of pressure, trigger and escalation.
//! - [`leak`]: is memory leaking (Mann–Kendall + Theil–Sen), and which node type.

pub mod escalation;
pub mod figures;
pub mod headroom;
pub mod leak;
pub mod modes;
pub mod predict;
pub mod pressure;
pub mod protect;
pub mod stats;
pub mod swap;
pub mod target;
pub mod threshold;
pub mod trigger;
