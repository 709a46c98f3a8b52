//! `memwarden purge-cache` and `memwarden reclaim` for real, and their refusals.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;
mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use support::as_nobody;

/// Put `mib` MiB of a fresh file into the page cache.
fn cached_file(mib: u64) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(format!("/var/tmp/memwarden-cache-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; (mib * MIB) as usize]).unwrap();
    let mut buf = Vec::new();
    std::fs::File::open(&path)
        .unwrap()
        .read_to_end(&mut buf)
        .unwrap();
    path
}

/// Whether /proc/sys is mounted read-only, as container runtimes mount it.
fn proc_sys_is_read_only() -> bool {
    let path = std::ffi::CString::new("/proc/sys/vm").unwrap();
    // SAFETY: a NUL-terminated path and a zeroed statvfs for the kernel to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
    st.f_flag & libc::ST_RDONLY != 0
}

fn purge_drops_the_page_cache(ctx: &mut Ctx) {
    if !is_root() {
        skip!(ctx, "dropping the page cache needs root");
    }
    if proc_sys_is_read_only() {
        // Then purge-cache refuses, as purge_on_read_only_proc_sys_says_why tests.
        skip!(ctx, "/proc/sys is read-only here (a container's)");
    }
    let file = cached_file(256);
    let out = memwarden(&["purge-cache", "--json", "--compact"]);
    std::fs::remove_file(&file).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    let names = step_names(&r);
    assert_eq!(names, ["sync", "drop_caches", "compact_memory"]);
    let dropped = r["cache_dropped_bytes"].as_i64().unwrap();
    assert!(
        dropped >= 200 * MIB as i64,
        "only {dropped} bytes of cache dropped"
    );
    // MemFree is reported, not asserted: it moves independently of the drop on
    // this VM (seen: cache fell 325 MB while MemFree rose 22 MB, the machine
    // otherwise idle), so it cannot tell a working purge from a broken one. The
    // Cached figure above can.
    assert!(r["free_after_bytes"].as_u64().is_some(), "{r}");
    // The text report, seed style.
    let text = stdout(&memwarden(&["purge-cache"]));
    assert!(
        text.contains("drop_caches : ok") && text.contains("Cache dropped"),
        "{text}"
    );
}

fn purge_needs_root() {
    if !is_root() {
        let out = memwarden(&["purge-cache"]);
        assert_eq!(out.status.code(), Some(4));
        return;
    }
    let out = as_nobody(Path::new(bin()), true)
        .unwrap()
        .arg("purge-cache")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("root (CAP_SYS_ADMIN)"),
        "{}",
        stderr(&out)
    );
}

fn purge_on_read_only_proc_sys_says_why(ctx: &mut Ctx) {
    if !is_root() {
        skip!(ctx, "needs root for a private mount namespace");
    }
    // What Docker does to /proc/sys in an unprivileged container.
    let script = format!(
        "mount --bind /proc/sys /proc/sys && mount -o remount,ro,bind /proc/sys && exec {} purge-cache",
        bin()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output();
    let Ok(out) = out else {
        skip!(ctx, "unshare not available")
    };
    if stderr(&out).contains("unshare failed") || stderr(&out).contains("mount:") {
        skip!(
            ctx,
            "cannot make a private read-only /proc/sys here: {}",
            stderr(&out)
        );
    }
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
}

/// What `memwarden reclaim` must do on this machine, read from the cgroup files of
/// this process (memwarden runs in the same groups). A successful reclaim on cgroup
/// v2 is also tested for real, whatever the host has, in cgroup_v2_vm.rs.
#[derive(Debug)]
enum ReclaimHere {
    /// The memory controller is on cgroup v1: no memory.reclaim exists at all.
    V1,
    /// cgroup v2, and this group's memory.reclaim opens for writing.
    Reclaims(PathBuf),
    /// cgroup v2 without a usable memory.reclaim: this exit code, error kind and
    /// words in the message.
    Refused(i32, &'static str, &'static str),
}

fn reclaim_here() -> ReclaimHere {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let v1_memory = cgroups.lines().any(|l| {
        l.split(':')
            .nth(1)
            .is_some_and(|c| c.split(',').any(|c| c == "memory"))
    });
    if v1_memory {
        return ReclaimHere::V1;
    }
    let no_group = ReclaimHere::Refused(5, "unsupported", "no memory cgroup is mounted");
    let Some(path) = cgroups.lines().find_map(|l| l.strip_prefix("0::")) else {
        return no_group;
    };
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS... - FSTYPE SOURCE SUPER
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some((root, mount_point)) = mountinfo.lines().find_map(|l| {
        let (fields, fs) = l.split_once(" - ")?;
        let f: Vec<&str> = fields.split(' ').collect();
        (fs.split(' ').next() == Some("cgroup2")).then(|| (f[3].to_owned(), f[4].to_owned()))
    }) else {
        return no_group;
    };
    let rel = path.strip_prefix(root.as_str()).unwrap_or(path);
    let dir = Path::new(&mount_point).join(rel.trim_start_matches('/'));
    let is_root_group = dir == Path::new(&mount_point);
    let has_memory =
        dir.join("memory.current").exists() || (is_root_group && dir.join("memory.stat").exists());
    if !has_memory {
        return no_group;
    }
    let file = dir.join("memory.reclaim");
    if !file.exists() {
        return ReclaimHere::Refused(5, "unsupported", "does not exist");
    }
    // Opening writes nothing: only the write asks the kernel to reclaim.
    match std::fs::OpenOptions::new().write(true).open(&file) {
        Ok(_) => ReclaimHere::Reclaims(dir),
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => {
            ReclaimHere::Refused(5, "unsupported", "read-only cgroup filesystem")
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            ReclaimHere::Refused(4, "permission_denied", "memory.reclaim")
        }
        Err(e) => panic!(
            "cannot tell what reclaim should do: opening {}: {e}",
            file.display()
        ),
    }
}

fn reclaim_uses_cgroup_v2_or_says_why_not() {
    let here = reclaim_here();
    let out = memwarden(&["reclaim", "--bytes", "64M", "--json"]);
    let v = json(&out);
    let why = format!("expected {here:?}; exit {:?}: {v}", out.status.code());
    match here {
        ReclaimHere::V1 => {
            assert_eq!(out.status.code(), Some(5), "{why}");
            assert_eq!(v["kind"], "unsupported", "{why}");
            let msg = v["error"].as_str().unwrap();
            assert!(
                msg.contains("memory.reclaim is a cgroup v2 interface"),
                "{why}"
            );
            assert!(msg.contains("is v1"), "{why}");
        }
        ReclaimHere::Reclaims(dir) => {
            assert!(out.status.success(), "{why}");
            assert_eq!(v["cgroup_dir"], dir.display().to_string(), "{why}");
            assert_eq!(v["requested_bytes"].as_u64().unwrap(), 64 * MIB, "{why}");
            assert!(v["usage_before_bytes"].as_u64().unwrap() > 0, "{why}");
            assert!(v["fully_reclaimed"].is_boolean(), "{why}");
        }
        ReclaimHere::Refused(code, kind, says) => {
            assert_eq!(out.status.code(), Some(code), "{why}");
            assert_eq!(v["kind"], kind, "{why}");
            assert!(v["error"].as_str().unwrap().contains(says), "{why}");
        }
    }
}

fn reclaim_rejects_bad_sizes() {
    for bad in ["0", "abc", "-5M", "12Q"] {
        let out = memwarden(&["reclaim", "--bytes", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
    }
}

test_main!(
    purge_drops_the_page_cache,
    purge_needs_root,
    purge_on_read_only_proc_sys_says_why,
    reclaim_uses_cgroup_v2_or_says_why_not,
    reclaim_rejects_bad_sizes,
);
