//! What the command line says when it is used wrongly or its output cannot be
//! delivered: `--json` errors as objects whatever went wrong, write failures,
//! messages that name the real cause.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use support::as_nobody;

/// With `--json` anywhere, every error — argument errors from the parser too — is
/// the documented error object on stdout, with its kind and exit code.
fn argument_errors_with_json_are_error_objects() {
    for (args, needle) in [
        (&["check", "--pid", "abc", "--json"][..], "'abc'"),
        (&["trim", "--json"], "--pid"),
        (
            &["--json", "trim", "--pid", "5", "--min-swap-free", "abc"],
            "not a size",
        ),
        (
            &["trim", "--pid", "5", "--min-swap-free", "1e99", "--json"],
            "not a size",
        ),
        (
            &["trim", "--pid", "5", "--min-swap-free", "10ZB", "--json"],
            "not a size",
        ),
        (
            &["reclaim", "--bytes", "-1", "--json"],
            "cannot be negative",
        ),
        (&["check", "--top", "-1", "--json"], "not a count"),
        (&["check", "--bogus", "--json"], "--bogus"),
        (&["nonsense", "--json"], "nonsense"),
        (&["status", "--json=true"], "--json"),
    ] {
        let out = memwarden(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v = json(&out);
        assert_eq!(v["kind"], "invalid_input", "{args:?}: {v}");
        assert_eq!(v["exit_code"], 2, "{args:?}");
        assert_eq!(v["schema_version"], 2, "{args:?}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{args:?}: {msg}");
        assert!(!msg.contains('\n') && !msg.contains("Usage:"), "{msg}");
        // One line on stderr too, for a person watching.
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    // Without --json: clap's own help-style text, nothing on stdout.
    let out = memwarden(&["check", "--pid", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    // `--json` after `--` is an argument, not the flag.
    let out = memwarden(&["schema", "--", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
}

fn negative_and_huge_numbers_say_what_is_wrong() {
    for (args, needle) in [
        (&["check", "--top", "-1"][..], "'-1' is not a count"),
        (&["reclaim", "--bytes", "-1"], "sizes cannot be negative"),
        (
            &["trim", "--pid", "5", "--min-swap-free", "-1G"],
            "cannot be negative",
        ),
        (&["check", "--pid", "2147483648"], "too large"),
        (&["trim", "--pid", "99999999999"], "too large"),
    ] {
        let out = memwarden(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let e = stderr(&out);
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(!e.contains("unexpected argument"), "{args:?}: {e}");
        assert!(!e.contains("must be a positive integer"), "{args:?}: {e}");
    }
}

/// A report that cannot be written is a failure (exit 1 and a message), not a
/// silent success; a reader that closed the pipe early is not an error.
fn write_failures_are_errors_and_a_closed_pipe_is_quiet(ctx: &mut Ctx) {
    let full = match std::fs::OpenOptions::new().write(true).open("/dev/full") {
        Ok(f) => f,
        Err(e) => skip!(ctx, "/dev/full is not available: {e}"),
    };
    for args in [
        &["check", "--top", "0", "--no-gpu"][..],
        &["check", "--json", "--top", "0", "--no-gpu"],
        &["status"],
        &["schema", "snapshot"],
    ] {
        let out = Command::new(bin())
            .args(args)
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("cannot write to standard output"),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // `memwarden check | head -c 1`: the reader leaves; memwarden exits 0, quietly.
    let mut child = Command::new(bin())
        .args(["schema", "snapshot"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // close the read end before memwarden writes
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

/// An empty MEMWARDEN_NVML_LIB means unset: the usual library names are tried, and
/// the program never tries to load itself as NVML.
fn empty_nvml_library_variable_means_unset() {
    let run = |set: bool| {
        let mut c = Command::new(bin());
        c.args(["check", "--json", "--top", "0"]);
        if set {
            c.env("MEMWARDEN_NVML_LIB", "");
        } else {
            c.env_remove("MEMWARDEN_NVML_LIB");
        }
        json(&c.output().unwrap())
    };
    let (empty, unset) = (run(true), run(false));
    assert_eq!(
        empty["gpu"]["unavailable_reason"], unset["gpu"]["unavailable_reason"],
        "{}",
        empty["gpu"]
    );
    assert!(
        !empty["gpu"].to_string().contains("MEMWARDEN_NVML_LIB"),
        "{}",
        empty["gpu"]
    );
}

/// With /proc/pressure hidden (as some container runtimes do) while the cgroup's
/// memory.pressure is readable, the warning must not claim the kernel lacks PSI.
fn hidden_system_psi_is_not_reported_as_a_kernel_without_psi(ctx: &mut Ctx) {
    if !is_root() {
        skip!(ctx, "needs root for a private mount namespace");
    }
    if !std::path::Path::new("/proc/pressure/memory").exists() {
        skip!(ctx, "this kernel has no /proc/pressure/memory to hide");
    }
    let script = format!(
        "mount -t tmpfs none /proc/pressure && exec {} check --json --top 0 --no-gpu",
        bin()
    );
    let out = match Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
    {
        Ok(o) => o,
        Err(e) => skip!(ctx, "unshare not available: {e}"),
    };
    if !out.status.success() && stderr(&out).contains("unshare") {
        skip!(ctx, "cannot make a mount namespace here: {}", stderr(&out));
    }
    let v = json(&out);
    assert!(v["pressure"]["system"].is_null(), "{}", v["pressure"]);
    let warnings = v["warnings"].to_string();
    if v["pressure"]["cgroup"].is_object() {
        assert!(warnings.contains("though the kernel has PSI"), "{warnings}");
        assert!(!warnings.contains("kernel without PSI"), "{warnings}");
    } else {
        assert!(warnings.contains("or /proc/pressure hidden"), "{warnings}");
    }
}

/// A command line with a newline inside an argument keeps the process table one
/// line per process.
fn newlines_in_command_lines_do_not_break_the_table() {
    let mut child = Command::new("sh")
        .args(["-c", "read x # two\nlines", "memwarden-newline-test"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    // Until it has exec'd sh, the child is a copy of this test with its command line.
    let cmdline = format!("/proc/{}/cmdline", child.id());
    let exec_d = || std::fs::read(&cmdline).is_ok_and(|c| c.windows(6).any(|w| w == b"read x"));
    for _ in 0..500 {
        if exec_d() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(exec_d(), "the child never exec'd sh");
    let out = memwarden(&[
        "check",
        "--pid",
        &child.id().to_string(),
        "--top",
        "0",
        "--no-gpu",
    ]);
    drop(child.stdin.take());
    let _ = child.wait();
    let t = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = t
        .lines()
        .find(|l| l.contains("read x # two"))
        .unwrap_or_else(|| panic!("command line missing:\n{t}"));
    assert!(line.contains("read x # two?lines"), "{line}");
}

/// Root without CAP_SYS_PTRACE (as in a container) cannot read another user's
/// smaps_rollup: the hint must say what root lacks, not tell root to be root.
fn uss_hint_for_root_without_ptrace(ctx: &mut Ctx) {
    if !is_root() {
        skip!(ctx, "the hint for root needs root");
    }
    let spawned = as_nobody(Path::new("sleep"), true)
        .and_then(|mut c| c.arg("30").spawn().map_err(|e| e.to_string()));
    let mut other = match spawned {
        Ok(c) => c,
        Err(e) => skip!(ctx, "setpriv not available: {e}"),
    };
    // setpriv runs as root until it has switched users and exec'd sleep.
    let status = format!("/proc/{}/status", other.id());
    let switched = || {
        std::fs::read_to_string(&status)
            .is_ok_and(|t| t.contains("\nUid:\t65534") && t.contains("Name:\tsleep"))
    };
    for _ in 0..500 {
        if switched() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(switched(), "the child never became uid 65534 running sleep");
    // Can root without CAP_SYS_PTRACE read it here? Then there is no refusal to word.
    let probe = Command::new("setpriv")
        .args([
            "--inh-caps=-sys_ptrace",
            "--bounding-set=-sys_ptrace",
            "cat",
        ])
        .arg(format!("/proc/{}/smaps_rollup", other.id()))
        .output()
        .unwrap();
    if probe.status.success() {
        let _ = other.kill(); // our own child
        let _ = other.wait();
        skip!(
            ctx,
            "this kernel lets root without CAP_SYS_PTRACE read another user's smaps_rollup"
        );
    }
    let out = Command::new("setpriv")
        .args([
            "--inh-caps=-sys_ptrace",
            "--bounding-set=-sys_ptrace",
            bin(),
        ])
        .args([
            "check", "--json", "--uss", "--top", "0", "--no-gpu", "--pid",
        ])
        .arg(other.id().to_string())
        .output()
        .unwrap();
    let _ = other.kill(); // our own child
    let _ = other.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let warnings = json(&out)["warnings"].to_string();
    assert!(
        warnings.contains("CAP_SYS_PTRACE, which this root process lacks"),
        "{warnings}"
    );
    assert!(!warnings.contains("or root"), "{warnings}");
}

test_main!(
    uss_hint_for_root_without_ptrace,
    argument_errors_with_json_are_error_objects,
    negative_and_huge_numbers_say_what_is_wrong,
    write_failures_are_errors_and_a_closed_pipe_is_quiet,
    empty_nvml_library_variable_means_unset,
    hidden_system_psi_is_not_reported_as_a_kernel_without_psi,
    newlines_in_command_lines_do_not_break_the_table,
);
