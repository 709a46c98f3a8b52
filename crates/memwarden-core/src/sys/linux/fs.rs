//! Small file helpers that turn io errors into memwarden errors with the path in them.

use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Is the effective user root?
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The running kernel's release (uname -r), read once per process.
pub fn kernel_release() -> String {
    static RELEASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RELEASE
        .get_or_init(|| {
            read_text("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into())
        })
        .clone()
}

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
