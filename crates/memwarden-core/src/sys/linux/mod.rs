//! Linux: /proc and cgroupfs files, capabilities, madvise / process_madvise,
//! drop_caches, memory.reclaim, malloc_trim.

pub mod advise;
pub mod cache;
pub mod caps;
pub mod cgroup;
pub mod clock;
pub mod events;
pub mod fs;
pub mod heap;
pub mod psi;
