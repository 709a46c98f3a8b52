//! `memwarden purge-cache` and `memwarden reclaim` for real, and their refusals.

mod common;

use std::io::Read;
use std::process::Command;

use common::*;

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

#[test]
fn purge_drops_the_page_cache() {
    if !is_root() {
        skip!("dropping the page cache needs root");
    }
    let file = cached_file(256);
    let out = memwarden(&["purge-cache", "--json", "--compact"]);
    std::fs::remove_file(&file).unwrap();
    if out.status.code() == Some(5) {
        skip!("{}", stderr(&out));
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    let names = step_names(&r);
    assert_eq!(names, ["sync", "drop_caches", "compact_memory"]);
    let dropped = r["cache_dropped_bytes"].as_i64().unwrap();
    assert!(
        dropped >= 200 * MIB as i64,
        "only {dropped} bytes of cache dropped"
    );
    // Dropped cache becomes free memory (half of it, leaving room for whatever
    // else the machine allocates meanwhile).
    let free_gain =
        r["free_after_bytes"].as_i64().unwrap() - r["free_before_bytes"].as_i64().unwrap();
    assert!(
        free_gain >= dropped / 2,
        "MemFree rose {free_gain}, cache fell {dropped}"
    );
    // The text report, seed style.
    let text = stdout(&memwarden(&["purge-cache"]));
    assert!(
        text.contains("drop_caches : ok") && text.contains("Cache dropped"),
        "{text}"
    );
}

#[test]
fn purge_needs_root() {
    if !is_root() {
        let out = memwarden(&["purge-cache"]);
        assert_eq!(out.status.code(), Some(4));
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            bin(),
            "purge-cache",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("root (CAP_SYS_ADMIN)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn purge_on_read_only_proc_sys_says_why() {
    if !is_root() {
        skip!("needs root for a private mount namespace");
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
        skip!("unshare not available")
    };
    if stderr(&out).contains("unshare failed") || stderr(&out).contains("mount:") {
        skip!(
            "cannot make a private read-only /proc/sys here: {}",
            stderr(&out)
        );
    }
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
}

fn memory_cgroup_is_v1() -> bool {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .any(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == "memory"))
        })
}

#[test]
fn reclaim_uses_cgroup_v2_or_says_why_not() {
    let out = memwarden(&["reclaim", "--bytes", "64M", "--json"]);
    if memory_cgroup_is_v1() {
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["kind"], "unsupported");
        assert!(v["error"].as_str().unwrap().contains("cgroup v2"), "{v}");
        assert!(v["error"].as_str().unwrap().contains("is v1"), "{v}");
    } else if out.status.success() {
        let v = json(&out);
        assert_eq!(v["requested_bytes"].as_u64().unwrap(), 64 * MIB);
        assert!(v["usage_before_bytes"].as_u64().unwrap() > 0);
    } else {
        // v2 without memory.reclaim, root cgroup, or read-only cgroupfs: a specific reason.
        assert!(
            matches!(out.status.code(), Some(4) | Some(5)),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("memory.reclaim") || stderr(&out).contains("cgroup"));
    }
}

#[test]
fn reclaim_rejects_bad_sizes() {
    for bad in ["0", "abc", "-5M", "12Q"] {
        let out = memwarden(&["reclaim", "--bytes", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
    }
}
