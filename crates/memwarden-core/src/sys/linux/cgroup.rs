//! Linux: ask the kernel to reclaim memory from a cgroup (v2 memory.reclaim).

use std::io::Write;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::model::CgroupLocation;

use super::fs::kernel_release;

/// memory.reclaim of one group, opened for writing.
pub struct Reclaimer {
    file: PathBuf,
    handle: std::fs::File,
}

impl Reclaimer {
    /// Refuses, changing nothing, on cgroup v1, on kernels without memory.reclaim
    /// and on a read-only or foreign cgroup.
    pub fn open(loc: &CgroupLocation) -> Result<Self> {
        if loc.version == 1 {
            return Err(Error::Unsupported(format!(
                "memory.reclaim is a cgroup v2 interface (Linux >= 5.19); this process's memory \
                 cgroup is v1 ({}). On v1 use `memwarden trim --pid N` or `memwarden purge-cache`",
                loc.dir.display()
            )));
        }
        let file = loc.dir.join("memory.reclaim");
        if !file.exists() {
            return Err(Error::Unsupported(format!(
                "{} does not exist: memory.reclaim needs Linux >= 5.19 (this kernel is {}) and \
                 is absent in the root cgroup",
                file.display(),
                kernel_release()
            )));
        }
        let handle = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .map_err(|e| open_error(&file, e))?;
        Ok(Self { file, handle })
    }

    /// Ok(true) when the kernel reclaimed all of `bytes`, Ok(false) when it could
    /// not (EAGAIN: a partial result, not an error).
    pub fn reclaim(&mut self, bytes: u64) -> Result<bool> {
        match self.handle.write_all(bytes.to_string().as_bytes()) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(false),
            Err(e) => Err(Error::io(format!("writing {}", self.file.display()), e)),
        }
    }
}

fn open_error(file: &std::path::Path, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EROFS) => Error::Unsupported(format!(
            "{} is on a read-only cgroup filesystem (containers mount it so): run reclaim on \
             the host or give the container a writable cgroupfs",
            file.display()
        )),
        Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied {
            what: format!("writing {}", file.display()),
            needs: "write access to the cgroup (root, or a delegated cgroup)".into(),
        },
        _ => Error::io(format!("cannot open {}", file.display()), e),
    }
}
