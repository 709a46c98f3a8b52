//! The "old kernel" errors, produced by the kernel itself: a seccomp filter makes
//! pidfd_open (Linux 5.3) or process_madvise (Linux 5.10) return ENOSYS for the
//! memwarden process, exactly as a kernel without them does.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;
mod support;

use std::process::Command;

use common::*;
use support::{deny_syscalls, SYS_PIDFD_OPEN, SYS_PROCESS_MADVISE};

/// Run memwarden with syscall `nr` answering ENOSYS.
fn memwarden_without(nr: u32, args: &[&str]) -> std::io::Result<std::process::Output> {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    deny_syscalls(&mut cmd, &[nr], libc::ENOSYS);
    cmd.output()
}

fn kernel_without_pidfd_open(ctx: &mut Ctx) {
    let child = AllocChild::spawn(16);
    let pid = child.pid.to_string();
    let out = match memwarden_without(SYS_PIDFD_OPEN, &["trim", "--pid", &pid, "--force"]) {
        Ok(o) => o,
        Err(e) => skip!(ctx, "cannot install a seccomp filter here: {e}"),
    };
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pidfd_open needs Linux >= 5.3"),
        "{}",
        stderr(&out)
    );
}

fn kernel_without_process_madvise_changes_nothing(ctx: &mut Ctx) {
    if !is_root() {
        skip!(ctx, "advising another process needs CAP_SYS_NICE");
    }
    let child = AllocChild::spawn(64);
    let before = child.status();
    let pid = child.pid.to_string();
    let out = match memwarden_without(
        SYS_PROCESS_MADVISE,
        &["trim", "--pid", &pid, "--force", "--json"],
    ) {
        Ok(o) => o,
        Err(e) => skip!(ctx, "cannot install a seccomp filter here: {e}"),
    };
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["kind"], "unsupported");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("process_madvise needs Linux >= 5.10"),
        "{v}"
    );
    let after = child.status();
    assert!(before.0.abs_diff(after.0) < 2 * MIB && before.2 == after.2);
}

test_main!(
    kernel_without_pidfd_open,
    kernel_without_process_madvise_changes_nothing,
);
