//! Windows: host memory (`memory`), process handles and counters (`process`), the
//! working-set trim (`advise`), our own token's privileges (`privileges`), the
//! heap trim (`heap`), drives and their free space (`fs`), other processes'
//! command lines (`cmdline`), the job object a process runs in (`job`), the
//! system's memory lists (`cache`: the standby purge), the low-memory
//! notification (`notify`). Every call goes through
//! `windows-sys`, or `windows-native` for NtSetSystemInformation, which
//! windows-sys lacks; no foreign function is declared by hand.

pub mod advise;
pub mod cache;
pub mod clock;
pub mod cmdline;
pub mod fs;
pub mod heap;
pub mod job;
pub mod memory;
pub mod notify;
pub mod privileges;
pub mod process;
