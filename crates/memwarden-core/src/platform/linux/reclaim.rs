use std::io::Write;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::{ReclaimReport, SCHEMA_VERSION};
use crate::parse::cgroup::parse_counter;

use super::container::locate_cgroup;
use super::fsutil::read_text;
use super::system::kernel_release;

pub fn reclaim(bytes: u64) -> Result<ReclaimReport> {
    if bytes == 0 {
        return Err(Error::InvalidInput(
            "the amount to reclaim must be greater than 0 bytes".into(),
        ));
    }
    let me = std::process::id();
    let loc = locate_cgroup(me)?
        .ok_or_else(|| Error::Unsupported("no memory cgroup is mounted for this process".into()))?;
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
    let current = loc.dir.join("memory.current");
    let usage = || -> Result<u64> {
        let t = read_text(&current)
            .map_err(|e| Error::io(format!("cannot read {}", current.display()), e))?;
        parse_counter(&t, &current.display().to_string())
    };
    let mut f = std::fs::OpenOptions::new().write(true).open(&file).map_err(|e| match e.raw_os_error() {
        Some(libc::EROFS) => Error::Unsupported(format!(
            "{} is on a read-only cgroup filesystem (containers mount it so): run reclaim on the host \
             or give the container a writable cgroupfs",
            file.display()
        )),
        Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied {
            what: format!("writing {}", file.display()),
            needs: "write access to the cgroup (root, or a delegated cgroup)".into(),
        },
        _ => Error::io(format!("cannot open {}", file.display()), e),
    })?;
    let t0 = Instant::now();
    let before = usage()?;
    let fully = match f.write_all(bytes.to_string().as_bytes()) {
        Ok(()) => true,
        // The kernel could not reclaim the whole amount: a partial result, not an error.
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => false,
        Err(e) => return Err(Error::io(format!("writing {}", file.display()), e)),
    };
    let after = usage()?;
    Ok(ReclaimReport {
        schema_version: SCHEMA_VERSION,
        cgroup_dir: loc.dir.display().to_string(),
        requested_bytes: bytes,
        fully_reclaimed: fully,
        usage_before_bytes: before,
        usage_after_bytes: after,
        reclaimed_bytes: before as i64 - after as i64,
        duration_ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}
