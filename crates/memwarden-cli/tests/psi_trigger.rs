//! The manager's PSI trigger provoked for real: a reader thrashing the page cache
//! of a file larger than its cgroup v1 memory limit makes the kernel reclaim in
//! that group on every read (time it counts as memory stall, system-wide too), and
//! the trigger registered on /proc/pressure/memory must fire; with no such load a
//! short wait times out.

// Linux only (PSI, cgroups): on other targets this binary is empty and has no
// `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use memwarden_core::watch::{PressureWatch, WatchConfig};

fn fires_when_a_cgroup_thrashes_its_page_cache(ctx: &mut Ctx) {
    let proc_psi = Path::new("/proc/pressure/memory");
    if !proc_psi.exists() {
        skip!(
            ctx,
            "no /proc/pressure/memory (kernel without PSI, or psi=0)"
        );
    }
    let config = WatchConfig {
        stall: Duration::from_millis(50),
        window: Duration::from_secs(2),
        sample: Duration::from_secs(1),
    };
    let watch = PressureWatch::open_on(config, &[proc_psi.to_path_buf()]);
    if !watch.is_trigger() {
        skip!(ctx, "the kernel refused the trigger: {}", watch.describe());
    }
    let group = match V1Group::create(
        Path::new(V1_MEMORY),
        &format!("memwarden-psi-{}", std::process::id()),
    ) {
        Ok(g) => g,
        Err(e) => skip!(ctx, "{e}"),
    };
    group.set("memory.limit_in_bytes", &(32 * MIB).to_string());
    // On disk (not tmpfs): its page cache is reclaimable, so the group thrashes
    // instead of being OOM-killed. Written from inside the group, so that its pages
    // are charged there and not already cached on the test's own account.
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("psi-thrash.bin");
    let script = format!(
        "dd if=/dev/zero of={f} bs=1M count=160 2>/dev/null; while :; do cat {f} > /dev/null; done",
        f = file.display()
    );
    let mut reader = group
        .enter_and_exec("sh", &["-c", &script])
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let mut fired = false;
    while !fired && t0.elapsed() < Duration::from_secs(30) {
        fired = watch.wait(Duration::from_secs(1)).unwrap();
    }
    let waited = t0.elapsed();
    // memwarden never signals processes it manages; this is the test's own child.
    let _ = reader.kill();
    let _ = reader.wait();
    let _ = std::fs::remove_file(&file);
    assert!(
        fired,
        "{} did not fire in {waited:?} while a 32 MiB group re-read a 160 MiB file",
        watch.describe()
    );
}

test_main!(fires_when_a_cgroup_thrashes_its_page_cache);
