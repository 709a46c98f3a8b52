use crate::error::Result;
use crate::model::SystemMemory;
use crate::parse::meminfo::parse_meminfo;
use crate::sys::linux::fs::{read_text, read_text_ctx};

pub fn read_system_memory() -> Result<SystemMemory> {
    parse_meminfo(&read_text_ctx("/proc/meminfo")?)
}

pub fn kernel_release() -> String {
    read_text("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}
