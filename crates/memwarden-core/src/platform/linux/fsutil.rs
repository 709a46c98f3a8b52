//! Small file helpers that turn io errors into memwarden errors with the path in them.

use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Read a whole text file; invalid UTF-8 is replaced rather than failing, since the
/// parsers only look at ASCII keys and numbers.
///
/// /proc and cgroup files report a size of 0, so this reads in a plain loop: std's
/// read_to_end would first statx and lseek the file to size its buffer, two wasted
/// syscalls per file on every snapshot.
pub fn read_text(path: impl AsRef<Path>) -> io::Result<String> {
    let mut f = std::fs::File::open(path.as_ref())?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

pub fn read_text_ctx(path: impl AsRef<Path>) -> Result<String> {
    let p = path.as_ref();
    read_text(p).map_err(|e| Error::io(format!("cannot read {}", p.display()), e))
}

/// Map an error from a /proc/PID file to "no such process" where that is what it means.
pub fn proc_err(pid: u32, what: &str, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => Error::NoSuchProcess { pid: pid as i64 },
        Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied {
            what: format!("reading /proc/{pid}/{what}"),
            needs: if is_root() {
                // Root without CAP_SYS_PTRACE (Docker drops it), or a process in
                // another user namespace.
                "CAP_SYS_PTRACE, which this root process lacks (containers drop it: \
                 `docker run --cap-add SYS_PTRACE`), or the process is in another user \
                 namespace"
                    .into()
            } else {
                "the same user as the process, or root / CAP_SYS_PTRACE".into()
            },
        },
        _ => Error::io(format!("cannot read /proc/{pid}/{what}"), e),
    }
}

/// Is the effective user root?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Effective capabilities of this process (CapEff of /proc/self/status).
pub fn own_cap_eff() -> u64 {
    read_text("/proc/self/status")
        .ok()
        .and_then(|t| crate::parse::proc_pid::parse_status(&t).ok())
        .map(|s| s.cap_eff)
        .unwrap_or(0)
}

pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_NICE: u32 = 23;

pub fn has_cap(cap: u32) -> bool {
    own_cap_eff() & (1u64 << cap) != 0
}

/// One field of /proc/self/status (`key` without the colon), trimmed.
pub fn own_status_field(key: &str) -> Option<String> {
    let text = read_text("/proc/self/status").ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().to_owned())
    })
}

/// Capability bounding set of this process (CapBnd); all bits when unreadable, so
/// that a missing line never invents a restriction.
pub fn own_cap_bounding() -> u64 {
    own_status_field("CapBnd")
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(u64::MAX)
}

/// Is no_new_privs set on this process (which makes exec ignore file capabilities)?
pub fn own_no_new_privs() -> bool {
    own_status_field("NoNewPrivs").as_deref() == Some("1")
}

/// File capabilities of an executable: the `security.capability` xattr that
/// `setcap` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCaps {
    /// Capabilities the file grants to the permitted set on exec.
    pub permitted: u64,
    /// The `e` of `+ep`: permitted capabilities also become effective on exec.
    pub effective: bool,
}

/// Decode a `security.capability` value (struct vfs_cap_data / vfs_ns_cap_data,
/// include/uapi/linux/capability.h): le32 magic_etc, then {le32 permitted, le32
/// inheritable} for the low and (revisions 2 and 3) the high 32 capabilities.
pub fn parse_file_caps(raw: &[u8]) -> Option<FileCaps> {
    const VFS_CAP_REVISION_MASK: u32 = 0xFF00_0000;
    const VFS_CAP_REVISION_1: u32 = 0x0100_0000;
    const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x0000_0001;
    let le32 = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(raw.get(at..at + 4)?.try_into().ok()?))
    };
    let magic = le32(0)?;
    let low = le32(4)?;
    let high = match magic & VFS_CAP_REVISION_MASK {
        VFS_CAP_REVISION_1 => 0,
        _ => le32(12)?,
    };
    Some(FileCaps {
        permitted: (u64::from(high) << 32) | u64::from(low),
        effective: magic & VFS_CAP_FLAGS_EFFECTIVE != 0,
    })
}

/// The file capabilities of `path`; None when it has none (or they cannot be read).
pub fn file_caps(path: &Path) -> Option<FileCaps> {
    let mut buf = [0u8; 64];
    let n = rustix::fs::getxattr(path, "security.capability", &mut buf[..]).ok()?;
    parse_file_caps(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_caps_of_setcap_cap_sys_nice_ep() {
        // `setcap cap_sys_nice+ep` on Linux 6.x (revision 2, as getfattr -e hex shows).
        let raw = [
            0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let c = parse_file_caps(&raw).unwrap();
        assert_eq!(c.permitted, 1 << CAP_SYS_NICE);
        assert!(c.effective);
        // `+p` only: no effective flag.
        let mut p = raw;
        p[0] = 0;
        assert!(!parse_file_caps(&p).unwrap().effective);
        assert_eq!(parse_file_caps(&raw[..3]), None);
    }
}
