//! How far a process is from the memory limit that binds it, read fast enough to
//! be read every few milliseconds near the limit: the limits on its group's way to
//! the root (cgroup v1 memory and memsw limits, v2 memory.max and memory.high; on
//! Windows its job object's limit and the system commit limit) and the host's RAM,
//! each with its own usage, the tightest one winning. Each OS file provides the
//! same `Gauge`:
//!
//! - `Gauge::open(pid)`: finds the limits and opens their usage files once;
//! - `read(near)`: the binding reading now (`near`: below this much headroom, a
//!   group's file cache is read too so only what the kernel cannot drop counts);
//! - `refresh()`: reads the limits again (a limit changed at run time), true when
//!   one changed;
//! - `arm(reserve)`: registers the kernel events that can wake a waiter when
//!   headroom falls through `reserve`, where this process may (see `describe`);
//! - `wait_event(timeout)`: waits for one of them (None at the timeout);
//! - `describe()`: the limits watched and the kernel events, or why there are none.
//!
//! Reading never writes anything; arming registers listeners only (a v1
//! `cgroup.event_control` line), never a limit.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(any(target_os = "linux", windows)))]
mod unsupported;
#[cfg(windows)]
mod windows;

#[cfg(target_os = "linux")]
pub use linux::Gauge;
#[cfg(not(any(target_os = "linux", windows)))]
pub use unsupported::Gauge;
#[cfg(windows)]
pub use windows::Gauge;
