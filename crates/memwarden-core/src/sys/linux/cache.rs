//! Linux: write dirty pages back and drop the page cache (/proc/sys/vm/drop_caches),
//! optionally compacting free memory: the equivalent of Windows' standby-list purge.

use std::io::Write;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::Step;

use super::caps::{has_cap, CAP_SYS_ADMIN};

fn open_sysctl(path: &str) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EROFS) => Error::Unsupported(format!(
                "{path} is read-only here (a container without --privileged mounts /proc/sys \
             read-only): run `memwarden purge-cache` on the host"
            )),
            Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied {
                what: format!("writing {path}"),
                needs: "root (CAP_SYS_ADMIN)".into(),
            },
            Some(libc::ENOENT) => {
                Error::Unsupported(format!("{path} does not exist on this kernel"))
            }
            _ => Error::io(format!("cannot open {path}"), e),
        })
}

/// The cache purge, opened: every file it writes is open, so a refusal comes
/// before anything changes.
pub struct Purger {
    slab: bool,
    drop_caches: std::fs::File,
    compact: Option<std::fs::File>,
}

impl Purger {
    /// Needs CAP_SYS_ADMIN and a writable /proc/sys. `slab` also drops dentries
    /// and inodes; `compact` compacts free memory afterwards.
    pub fn open(slab: bool, compact: bool) -> Result<Self> {
        if !has_cap(CAP_SYS_ADMIN) {
            return Err(Error::PermissionDenied {
                what: "dropping the page cache".into(),
                needs: "root (CAP_SYS_ADMIN); try `sudo memwarden purge-cache`".into(),
            });
        }
        Ok(Self {
            slab,
            drop_caches: open_sysctl("/proc/sys/vm/drop_caches")?,
            compact: compact
                .then(|| open_sysctl("/proc/sys/vm/compact_memory"))
                .transpose()?,
        })
    }

    /// sync, drop_caches, then compact_memory when asked: one step each.
    pub fn run(mut self) -> Result<Vec<Step>> {
        let ts = Instant::now();
        // Writing dirty pages back first lets drop_caches free them too instead of
        // skipping them.
        rustix::fs::sync();
        let mut steps = vec![Step::ok(
            "sync",
            format!(
                "dirty pages written back in {:.0} ms",
                ts.elapsed().as_secs_f64() * 1e3
            ),
        )];
        let what = if self.slab { "3" } else { "1" };
        let r = self.drop_caches.write_all(what.as_bytes());
        steps.push(Step::of(
            "drop_caches",
            &r,
            if self.slab {
                "page cache, dentries and inodes dropped (3)"
            } else {
                "page cache dropped (1)"
            },
        ));
        r.map_err(|e| Error::io("writing /proc/sys/vm/drop_caches", e))?;
        if let Some(f) = self.compact.as_mut() {
            let r = f.write_all(b"1");
            steps.push(Step::of("compact_memory", &r, "free memory compacted"));
        }
        Ok(steps)
    }
}
