use std::io::Write;
use std::time::Instant;

use crate::actions::PurgeOptions;
use crate::error::{Error, Result};
use crate::model::{PurgeReport, Step, SCHEMA_VERSION};

use super::fsutil::{has_cap, CAP_SYS_ADMIN};
use super::system::read_system_memory;

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

pub fn purge_cache(opts: PurgeOptions) -> Result<PurgeReport> {
    if !has_cap(CAP_SYS_ADMIN) {
        return Err(Error::PermissionDenied {
            what: "dropping the page cache".into(),
            needs: "root (CAP_SYS_ADMIN); try `sudo memwarden purge-cache`".into(),
        });
    }
    // Open everything first so that a refusal changes nothing.
    let mut drop = open_sysctl("/proc/sys/vm/drop_caches")?;
    let mut compact = if opts.compact {
        Some(open_sysctl("/proc/sys/vm/compact_memory")?)
    } else {
        None
    };
    let t0 = Instant::now();
    let before = read_system_memory()?;
    let mut steps = Vec::new();

    let ts = Instant::now();
    // SAFETY: sync() has no preconditions. Writing dirty pages back first lets
    // drop_caches free them too instead of skipping them.
    unsafe { libc::sync() };
    steps.push(Step {
        name: "sync".into(),
        ok: true,
        detail: format!(
            "dirty pages written back in {:.0} ms",
            ts.elapsed().as_secs_f64() * 1e3
        ),
    });

    let what = if opts.slab { "3" } else { "1" };
    let r = drop.write_all(what.as_bytes());
    steps.push(Step {
        name: "drop_caches".into(),
        ok: r.is_ok(),
        detail: match &r {
            Ok(()) if opts.slab => "page cache, dentries and inodes dropped (3)".into(),
            Ok(()) => "page cache dropped (1)".into(),
            Err(e) => e.to_string(),
        },
    });
    r.map_err(|e| Error::io("writing /proc/sys/vm/drop_caches", e))?;

    if let Some(f) = compact.as_mut() {
        let r = f.write_all(b"1");
        steps.push(Step {
            name: "compact_memory".into(),
            ok: r.is_ok(),
            detail: match &r {
                Ok(()) => "free memory compacted".into(),
                Err(e) => e.to_string(),
            },
        });
    }
    let after = read_system_memory()?;
    Ok(PurgeReport {
        schema_version: SCHEMA_VERSION,
        steps,
        available_before_bytes: before.available_bytes,
        available_after_bytes: after.available_bytes,
        cached_before_bytes: before.cached_bytes,
        cached_after_bytes: after.cached_bytes,
        free_before_bytes: before.free_bytes,
        free_after_bytes: after.free_bytes,
        cache_dropped_bytes: before.cached_bytes as i64 - after.cached_bytes as i64,
        duration_ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}
