use crate::error::Result;
use crate::model::SystemMemory;
use crate::parse::meminfo::parse_meminfo;
use crate::sys::linux::fs::read_text_ctx;

pub fn read_system_memory() -> Result<SystemMemory> {
    parse_meminfo(&read_text_ctx("/proc/meminfo")?)
}

pub use crate::sys::linux::fs::kernel_release;
