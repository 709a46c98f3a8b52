//! The OS boundary. Every OS-specific reader and action lives in one module per OS
//! that exposes the same functions; `cfg` selects the module here and nowhere else.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub use other::*;
