//! Linux: /proc, cgroupfs, PSI, process_madvise, drop_caches, memory.reclaim, malloc_trim.

mod container;
mod fsutil;
mod heap;
mod pageout;
mod pressure;
mod process;
mod purge;
mod reclaim;
mod system;

pub use container::{cgroup_pids, detect_container, read_cgroup};
pub use heap::trim_own_heap;
pub use pageout::pageout;
pub use pressure::read_pressure;
pub use process::{
    find_processes, own_pid_namespace_is_nested, read_process, read_smaps, top_processes,
};
pub use purge::purge_cache;
pub use reclaim::reclaim;
pub use system::{kernel_release, read_system_memory};
