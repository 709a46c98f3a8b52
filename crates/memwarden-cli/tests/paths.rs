//! Paths that ordinary runs never take, each taken for real: a zombie target
//! (exit 7), a genuine I/O failure (exit 1), ranges the kernel refuses to advise
//! (skipped, the rest paged out), and `purge-cache --slab` dropping dentries.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use support::*;

/// The state letter of /proc/PID/stat (after the last ')').
fn proc_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 1..]
        .trim_start()
        .chars()
        .next()
        .unwrap()
}

/// A child that exited and that we have not reaped yet is a zombie: memwarden
/// refuses it as protected (exit 7), with or without --json, and `check` still
/// reads it.
fn a_zombie_is_refused_with_exit_7() {
    let mut z = Command::new("true").spawn().expect("spawn true");
    let pid = z.id();
    let t0 = Instant::now();
    while proc_state(pid) != 'Z' {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "never became a zombie"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = memwarden(&["trim", "--pid", &pid.to_string(), "--force"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a zombie"), "{}", stderr(&out));
    let out = memwarden(&["trim", "--pid", &pid.to_string(), "--cold", "--json"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["kind"], "protected");
    assert_eq!(v["exit_code"], 7);
    assert_eq!(proc_state(pid), 'Z', "still an unreaped zombie");
    z.wait().unwrap();
}

/// Exit 1 is a real failure: a process out of file descriptors. With
/// RLIMIT_NOFILE at 4 (stdin, stdout, stderr and one more: enough for the dynamic
/// loader and for one /proc file at a time) `trim` opens the target's pidfd, then
/// cannot open /proc/PID/stat to check the start time; `check` cannot list /proc
/// while it holds another file. Both say which file and why, before changing
/// anything.
fn out_of_file_descriptors_is_a_failure_with_exit_1() {
    let child = AllocChild::spawn(8);
    let pid = child.pid.to_string();
    for (args, needle) in [
        (
            vec!["trim", "--pid", &*pid, "--cold", "--json"],
            format!("cannot read /proc/{pid}/stat: Too many open files"),
        ),
        (
            vec!["check", "--json", "--no-gpu"],
            "cannot list /proc: Too many open files".into(),
        ),
    ] {
        let mut cmd = Command::new(bin());
        cmd.args(&args).env("NO_COLOR", "1");
        limit_open_files(&mut cmd, 4);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["kind"], "io", "{args:?}: {v}");
        assert_eq!(v["exit_code"], 1);
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(&needle), "{args:?}: {msg}");
    }
}

/// `alloc_child MIB mlock`: MIB MiB plus a 4 MiB mlock()ed mapping; stderr piped
/// for its `selftrim` reports.
fn locked_child(mib: u64) -> (AllocChild, BufReader<std::process::ChildStderr>) {
    let mut cmd = Command::new(alloc_child_path());
    cmd.args([&mib.to_string(), "mlock"]).stderr(Stdio::piped());
    let mut child = AllocChild::spawn_with(&mut cmd);
    let err = BufReader::new(child.child.stderr.take().unwrap());
    assert_eq!(status_field(child.pid, "VmLck"), "4096 kB");
    (child, err)
}

/// Bytes of the writable private mappings of `pid` that memwarden advises (those
/// of MapsEntry::is_pageout_candidate), from /proc/PID/maps.
fn candidate_bytes(pid: u32) -> u64 {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (range, perms, path) = (f[0], f[1].as_bytes(), f.get(5).copied().unwrap_or(""));
            let special = path.starts_with("/dev/")
                || matches!(path, "[vsyscall]" | "[vvar]" | "[vdso]" | "[vvar_vclock]");
            (perms[1] == b'w' && perms[3] == b'p' && !special).then(|| {
                let (s, e) = range.split_once('-').unwrap();
                u64::from_str_radix(e, 16).unwrap() - u64::from_str_radix(s, 16).unwrap()
            })
        })
        .sum()
}

/// The locked range is skipped, the rest is paged out, and the report says so
/// (`bytes_advised` counts what was advised, not the skipped range).
fn assert_skipped_one_locked_range(
    r: &serde_json::Value,
    child: &AllocChild,
    mib: u64,
    candidates: u64,
) {
    assert!(r["error"].is_null(), "{r}");
    assert_eq!(r["ranges_skipped"], 1, "{r}");
    assert!(r["ranges_advised"].as_u64().unwrap() >= 1, "{r}");
    let advised = r["bytes_advised"].as_u64().unwrap();
    assert!(advised >= mib * MIB, "{r}");
    assert!(
        advised.abs_diff(candidates - 4 * MIB) <= MIB,
        "advised {advised} of {candidates} candidate bytes, 4 MiB of them locked"
    );
    let advise = r["steps"][3]["detail"].as_str().unwrap();
    assert!(
        advise.contains("1 ranges skipped (4.00 MiB: locked"),
        "{advise}"
    );
    let after = child.status();
    assert!(after.2 >= (mib - mib / 10) * MIB, "swap: {after:?}");
    // What stays resident is the locked range (and little else).
    assert_eq!(status_field(child.pid, "VmLck"), "4096 kB");
    assert!(
        after.1 >= 4 * MIB && after.1 < 4 * MIB + mib * MIB / 10,
        "anon resident: {after:?}"
    );
}

/// A range the kernel refuses (mlock()ed: EINVAL for MADV_PAGEOUT) makes the batch
/// fail or stop short; the batch is retried range by range, the locked one skipped
/// and every other range paged out: through process_madvise (another process) and
/// through madvise (the process itself).
fn locked_ranges_are_skipped_and_the_rest_paged_out(ctx: &mut Ctx) {
    if !is_root() {
        skip!(
            ctx,
            "paging out another process needs CAP_SYS_NICE (not root)"
        );
    }
    let _swap = swap_or_skip!(ctx, 512);
    let (mut child, mut err) = locked_child(128);
    let candidates = candidate_bytes(child.pid);
    let out = trim_json(child.pid, &["--min-swap-free", "16M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_skipped_one_locked_range(&json(&out), &child, 128, candidates);

    child.command("touch");
    assert!(child.status().1 >= 128 * MIB);
    child.command("selftrim pageout 16777216");
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let r: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_skipped_one_locked_range(&r, &child, 128, candidate_bytes(child.pid));
}

/// /proc/sys/fs/dentry-state: (nr_dentry, nr_negative).
fn dentries() -> (u64, u64) {
    let t = std::fs::read_to_string("/proc/sys/fs/dentry-state").unwrap();
    let f: Vec<u64> = t
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    (f[0], f[4])
}

fn slab_reclaimable() -> u64 {
    let t = std::fs::read_to_string("/proc/meminfo").unwrap();
    t.lines()
        .find_map(|l| l.strip_prefix("SReclaimable:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap()
        * 1024
}

/// `purge-cache --slab` writes 3 to drop_caches: dentries and inodes go too, which
/// plain `purge-cache` (1) leaves. 300,000 negative dentries (lookups of names
/// that do not exist) are the measurable slab.
fn purge_slab_drops_dentries(ctx: &mut Ctx) {
    if !is_root() {
        skip!(ctx, "dropping caches needs root");
    }
    if std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/vm/drop_caches")
        .is_err()
    {
        skip!(
            ctx,
            "/proc/sys/vm/drop_caches is not writable here (a container's)"
        );
    }
    const N: u64 = 300_000;
    let dir = std::env::temp_dir().join(format!("memwarden-dentries-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..N {
        assert!(std::fs::symlink_metadata(dir.join(format!("n{i}"))).is_err());
    }
    let (_, neg0) = dentries();
    assert!(neg0 >= N * 9 / 10, "negative dentries: {neg0}");

    // Plain purge: the page cache only; our dentries stay.
    let out = memwarden(&["purge-cache", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["steps"][1]["detail"], "page cache dropped (1)");
    let (_, neg1) = dentries();
    assert!(
        neg1 >= N * 8 / 10,
        "plain purge dropped dentries: {neg0} -> {neg1}"
    );

    let slab1 = slab_reclaimable();
    let out = memwarden(&["purge-cache", "--slab", "--json"]);
    let slab2 = slab_reclaimable();
    let (_, neg2) = dentries();
    std::fs::remove_dir(&dir).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(step_names(&r), ["sync", "drop_caches"]);
    assert_eq!(
        r["steps"][1]["detail"],
        "page cache, dentries and inodes dropped (3)"
    );
    assert!(neg2 < N / 10, "negative dentries left: {neg1} -> {neg2}");
    // ~190 bytes a dentry: 300,000 of them are ~55 MiB of reclaimable slab.
    assert!(
        slab2 + 24 * MIB < slab1,
        "SReclaimable {} -> {} MiB",
        slab1 / MIB,
        slab2 / MIB
    );
}

test_main!(
    a_zombie_is_refused_with_exit_7,
    out_of_file_descriptors_is_a_failure_with_exit_1,
    locked_ranges_are_skipped_and_the_rest_paged_out,
    purge_slab_drops_dentries,
);
