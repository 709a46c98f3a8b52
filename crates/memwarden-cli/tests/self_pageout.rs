//! A process paging *itself* out needs no privilege: memwarden-core advises its own
//! ranges with plain madvise(MADV_PAGEOUT) (Linux >= 5.4), not process_madvise,
//! which wanted CAP_SYS_NICE even on one's own pidfd before Linux 6.13 and which
//! seccomp profiles may block. The self-trimming process is alloc_child's
//! `selftrim` command (the core called in-process, as the ComfyUI nodes do), run
//! as uid 65534 with every capability and the bounding set dropped (or, when the
//! tests do not run as root, as the unprivileged user running them).

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{ChildStderr, Command, Stdio};

use common::*;
use support::*;

/// alloc_child holding `mib` MiB with no capability (as uid 65534 when we are
/// root, else as ourselves), optionally with `prepare` applied to its command (a
/// seccomp filter); stderr piped for the `selftrim` reports.
fn nobody_child(
    mib: u64,
    prepare: impl FnOnce(&mut Command),
) -> Result<(AllocChild, BufReader<ChildStderr>), String> {
    let mut cmd = unprivileged(&alloc_child_path())?;
    cmd.arg(mib.to_string()).stderr(Stdio::piped());
    prepare(&mut cmd);
    let mut child = AllocChild::spawn_with(&mut cmd);
    let err = BufReader::new(child.child.stderr.take().unwrap());
    assert_unprivileged(child.pid);
    Ok((child, err))
}

/// Send `selftrim ARGS` and read the JSON the child wrote to stderr.
fn selftrim(
    child: &mut AllocChild,
    err: &mut BufReader<ChildStderr>,
    args: &str,
) -> serde_json::Value {
    child.command(&format!("selftrim {args}"));
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn assert_paged_itself_out(r: &serde_json::Value, child: &AllocChild, mib: u64) {
    assert!(r["error"].is_null(), "selftrim failed: {r}");
    assert_eq!(r["pid"], child.pid);
    assert_eq!(
        step_names(r),
        ["open", "privileges", "swap_check", "advise", "verify"]
    );
    assert!(r["steps"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("madvise"));
    assert_eq!(
        r["steps"][1]["detail"],
        "own process: madvise needs no capability"
    );
    let after = child.status();
    // Most of the allocation left RAM for swap, as /proc shows it.
    let most = (mib - mib / 10) * MIB;
    assert!(r["freed_bytes"].as_i64().unwrap() >= most as i64, "{r}");
    assert!(after.2 >= most, "swap of the child: {after:?}");
    assert!(
        after.1 < mib * MIB / 10 + 8 * MIB,
        "anon resident: {after:?}"
    );
}

/// (a) uid 65534, no capabilities, no bounding set: the process pages itself out.
fn unprivileged_process_pages_itself_out(ctx: &mut Ctx) {
    let _swap = swap_or_skip!(ctx, 512);
    let (mut child, mut err) = match nobody_child(256, |_| {}) {
        Ok(c) => c,
        Err(e) => skip!(ctx, "{e}"),
    };
    let r = selftrim(&mut child, &mut err, "pageout 16777216");
    assert_paged_itself_out(&r, &child, 256);
    // Nothing was lost: touching the memory brings it back.
    child.command("touch");
    assert!(child.status().1 >= 250 * MIB);
}

/// (b) pidfd_open and process_madvise answer ENOSYS (a kernel before 5.10, or a
/// seccomp profile): the self path does not need them. Today's code failed here
/// with "pidfd_open needs Linux >= 5.3".
fn self_pageout_needs_neither_pidfd_open_nor_process_madvise(ctx: &mut Ctx) {
    let _swap = swap_or_skip!(ctx, 512);
    let (mut child, mut err) = match nobody_child(128, |c| {
        deny_syscalls(c, &[SYS_PIDFD_OPEN, SYS_PROCESS_MADVISE], libc::ENOSYS)
    }) {
        Ok(c) => c,
        Err(e) => skip!(ctx, "{e}"),
    };
    assert_eq!(status_field(child.pid, "Seccomp"), "2", "filter in place");
    let r = selftrim(&mut child, &mut err, "pageout 16777216");
    assert_paged_itself_out(&r, &child, 128);
    // MADV_COLD goes the same way and needs no swap.
    child.command("touch");
    let r = selftrim(&mut child, &mut err, "cold 0");
    assert!(r["error"].is_null(), "{r}");
    assert_eq!(r["advice"], "cold");
    assert!(r["ranges_advised"].as_u64().unwrap() > 0, "{r}");
}

/// (a, older kernels) Before Linux 6.13, process_madvise wanted CAP_SYS_NICE even
/// on the caller's own pidfd and answered EPERM; the seccomp filter makes this
/// kernel answer exactly that. Today's code failed here with "permission denied:
/// advising the memory of PID N".
fn self_pageout_where_process_madvise_wants_cap_sys_nice(ctx: &mut Ctx) {
    let (mut child, mut err) = match nobody_child(32, |c| {
        deny_syscalls(c, &[SYS_PROCESS_MADVISE], libc::EPERM)
    }) {
        Ok(c) => c,
        Err(e) => skip!(ctx, "{e}"),
    };
    // MADV_COLD: no swap needed.
    let r = selftrim(&mut child, &mut err, "cold 0");
    assert!(r["error"].is_null(), "selftrim failed: {r}");
    assert_eq!(r["advice"], "cold");
    assert_eq!(r["ranges_skipped"], 0, "{r}");
    assert!(r["bytes_advised"].as_u64().unwrap() >= 32 * MIB, "{r}");
}

/// (c) Another process still needs CAP_SYS_NICE: uid 65534 trimming its own
/// user's process gets exit 4, a message naming the setcap command for this very
/// binary, and the target is untouched.
fn another_process_still_needs_cap_sys_nice(ctx: &mut Ctx) {
    let (child, _err) = match nobody_child(64, |_| {}) {
        Ok(c) => c,
        Err(e) => skip!(ctx, "{e}"),
    };
    let before = child.status();
    let pid = child.pid.to_string();
    let exe = std::fs::canonicalize(bin()).unwrap();
    let unchanged = || {
        let after = child.status();
        assert!(before.0.abs_diff(after.0) < 2 * MIB && before.2 == after.2);
    };

    // The bounding set kept (as any non-root user has it): the message is the exact
    // command for this binary.
    let mut cmd = if is_root() {
        as_nobody(std::path::Path::new(bin()), true).unwrap()
    } else {
        Command::new(bin())
    };
    let out = cmd
        .args(["trim", "--pid", &pid, "--force", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["kind"], "permission_denied");
    let msg = v["error"].as_str().unwrap();
    let want = format!("`sudo setcap cap_sys_nice+ep {}`", exe.display());
    assert!(msg.contains("CAP_SYS_NICE") && msg.contains(&want), "{msg}");
    unchanged();

    // The bounding set empty, setcap could not help: the message says so instead.
    if is_root() {
        let mut cmd = as_nobody(std::path::Path::new(bin()), false).unwrap();
        let out = cmd
            .args(["trim", "--pid", &pid, "--force"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.contains("CAP_SYS_NICE") && e.contains("bounding set") && !e.contains("setcap cap"),
            "{e}"
        );
        unchanged();
    }
}

test_main!(
    unprivileged_process_pages_itself_out,
    self_pageout_needs_neither_pidfd_open_nor_process_madvise,
    self_pageout_where_process_madvise_wants_cap_sys_nice,
    another_process_still_needs_cap_sys_nice,
);
