//! Pure parsers for the kernel's text formats (and the external helper's answer, the panel's request bodies). They take the file's text and never
//! touch the filesystem, so they are tested on captured files and fuzzed. Each one
//! tolerates unknown lines (kernels add fields) and rejects input that lacks the
//! fields it must have with [`Error::Malformed`](crate::Error::Malformed).

pub mod cgroup;
pub mod helper;
pub mod meminfo;
pub mod proc_pid;
pub mod psi;
pub mod request;
pub mod safetensors;

/// `"Key:   1234 kB"` -> `("Key", bytes)`. Values without "kB" are returned as-is
/// (counts such as HugePages_Total).
pub(crate) fn kv_kb_line(line: &str) -> Option<(&str, u64)> {
    let (key, rest) = line.split_once(':')?;
    let mut parts = rest.split_ascii_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some((key.trim(), value.checked_mul(1024)?)),
        None => Some((key.trim(), value)),
        Some(_) => None,
    }
}
