//! The `memwarden.exe` command run as a Windows user runs it, against a real child
//! process: this test binary started again as `child_process`, which allocates and
//! touches a known amount of memory, says so on stdout, and waits for stdin to
//! close. Checks the output forms and the exit codes of `status`, `check`, `trim`
//! and `purge-cache`. Run by scripts/test-windows (under Wine on Linux) and on
//! Windows itself.
//!
//! Where Wine differs from Windows:
//! - Wine lists no page file and reports no swap, so the trim's swap check refuses
//!   (nothing to page out to) and the trim test passes `--force`; Windows with a
//!   page file passes the swap check without it, and the report then says so.
//! - Wine's EmptyWorkingSet succeeds without shrinking anything, so the trim is
//!   checked for its steps and exit code, never for a smaller working set.
//! - Wine grants or refuses the trim privileges by its own token: the report must
//!   name each one with YES or NO, whichever it is.
//! - PID 4 is not Wine's System process (Wine has none); memwarden refuses it by
//!   number, as it refuses PID 0, so the exit code is the same on both.
//! - Wine runs no python.exe here, so `trim --auto` is only checked when it finds
//!   nothing.
#![cfg(windows)]

#[path = "../../memwarden-core/tests/windows_support/mod.rs"]
mod windows_support;

use std::process::{Command, Output};

use windows_support::Toucher;

const MIB: u64 = 1 << 20;
/// What the child allocates and touches.
const CHILD_MIB: u64 = 128;

#[test]
#[ignore = "the child process of the other tests, started by them"]
fn child_process() {
    windows_support::run_child();
}

fn memwarden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memwarden"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run memwarden.exe")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

/// The documented error object, with this exit code, and the process exited with it.
fn assert_json_error(out: &Output, code: i32) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        stdout(out),
        stderr(out)
    );
    let v = json(out);
    assert_eq!(v["schema_version"], 2, "{v}");
    assert_eq!(v["exit_code"], code, "{v}");
    assert!(v["error"].is_string() && v["kind"].is_string(), "{v}");
    v
}

#[test]
fn status_prints_the_one_line_form() {
    let out = memwarden(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text.trim_end();
    assert_eq!(line.lines().count(), 1, "{text}");
    // RAM: 2.4GB/23.5GB (10%) | VRAM: n/a — no GPU probe answers on this machine.
    let ram = line.strip_prefix("RAM: ").expect("starts with RAM: ");
    let (ram, vram) = ram.split_once(" | VRAM: ").expect("a VRAM part");
    let (used, rest) = ram.split_once('/').expect("used/total");
    let (total, percent) = rest.split_once(" (").expect("total (percent)");
    assert!(used.ends_with('B') && total.ends_with('B'), "{line}");
    assert!(percent.ends_with("%)"), "{line}");
    assert_eq!(vram, "n/a", "{line}");
}

#[test]
fn check_names_a_windows_kernel_and_lists_the_child() {
    let child = Toucher::start(CHILD_MIB);
    let out = memwarden(&["check", "--json", "--top", "100000", "--no-gpu"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["schema_version"], 2);
    let kernel = v["kernel"].as_str().unwrap();
    assert!(kernel.starts_with("Windows "), "{kernel}");
    let procs = v["top_processes"]["processes"]
        .as_array()
        .expect("a top list");
    let listed = procs
        .iter()
        .find(|p| p["pid"] == child.pid())
        .unwrap_or_else(|| panic!("PID {} not in the top list", child.pid()));
    assert!(
        listed["name"].as_str().unwrap().ends_with(".exe"),
        "{listed}"
    );
    // Wine counts its own libraries in the working set too: a lower bound only.
    let rss = listed["rss_bytes"].as_u64().unwrap();
    assert!(rss >= CHILD_MIB * MIB * 9 / 10, "{listed}");
}

#[test]
fn trim_reports_each_step_and_the_privileges() {
    let child = Toucher::start(CHILD_MIB);
    let pid = child.pid().to_string();
    // --force: Wine lists no page file and reports no swap, so the swap check refuses
    // (exit 6) without it; Windows with a page file passes the swap check as is.
    let out = memwarden(&["trim", "--pid", &pid, "--json", "--force"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let v = json(&out);
    let steps = v["steps"].as_array().expect("a report with steps");
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["open", "privileges", "swap_check", "advise", "verify"],
        "{v}"
    );
    let privileges = steps[1]["detail"].as_str().unwrap();
    windows_support::assert_names_each_privilege(privileges);
}

#[test]
fn trim_without_force_is_either_done_or_refused_by_the_swap_check() {
    let child = Toucher::start(CHILD_MIB);
    let pid = child.pid().to_string();
    let out = memwarden(&["trim", "--pid", &pid, "--json"]);
    // 0 where a page file has room (Windows), 6 where there is none (Wine).
    match out.status.code() {
        Some(0) => {
            json(&out);
        }
        Some(6) => {
            let v = assert_json_error(&out, 6);
            assert_eq!(v["kind"], "swap_refused", "{v}");
        }
        other => panic!("exit {other:?}: {}{}", stdout(&out), stderr(&out)),
    }
}

#[test]
fn a_pid_that_does_not_exist_exits_3() {
    // Windows PIDs are multiples of 4 below a few hundred thousand in practice.
    let out = memwarden(&["trim", "--pid", "4000001"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no process with PID"),
        "{}",
        stderr(&out)
    );
    let out = memwarden(&["trim", "--pid", "4000001", "--json"]);
    let v = assert_json_error(&out, 3);
    assert!(
        v["error"].as_str().unwrap().contains("no process with PID"),
        "{v}"
    );
}

#[test]
fn the_idle_and_system_pids_are_protected() {
    for pid in ["0", "4"] {
        let out = memwarden(&["trim", "--pid", pid]);
        assert_eq!(out.status.code(), Some(7), "PID {pid}: {}", stderr(&out));
        assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
        let out = memwarden(&["trim", "--pid", pid, "--json"]);
        let v = assert_json_error(&out, 7);
        assert_eq!(v["kind"], "protected", "{v}");
    }
}

#[test]
fn a_pid_that_is_not_a_number_exits_2() {
    let out = memwarden(&["trim", "--pid", "abc"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = memwarden(&["trim", "--pid", "abc", "--json"]);
    let v = assert_json_error(&out, 2);
    assert!(v["error"].as_str().unwrap().contains("'abc'"), "{v}");
}

#[test]
fn auto_with_no_comfyui_running_exits_8() {
    let out = memwarden(&["trim", "--auto"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("found no ComfyUI process"),
        "{}",
        stderr(&out)
    );
    let out = memwarden(&["trim", "--auto", "--json"]);
    let v = assert_json_error(&out, 8);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("found no ComfyUI process"),
        "{v}"
    );
}

/// Without the rights to purge (or without a Windows purge at all), `purge-cache`
/// refuses with a documented non-zero exit code before it syncs or drops anything:
/// 4 permission denied, 5 not supported here.
#[test]
fn purge_cache_refuses_cleanly() {
    for json_flag in [false, true] {
        let mut args = vec!["purge-cache"];
        if json_flag {
            args.push("--json");
        }
        let out = memwarden(&args);
        let code = out.status.code();
        assert!(
            matches!(code, Some(4) | Some(5)),
            "exit {code:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        if json_flag {
            let v = assert_json_error(&out, code.unwrap());
            let kind = v["kind"].as_str().unwrap();
            assert!(kind == "permission_denied" || kind == "unsupported", "{v}");
        } else {
            assert!(
                stderr(&out).starts_with("memwarden: error: "),
                "{}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn headroom_judges_by_commit_and_physical_memory() {
    // No job object limit here: the binding limit is the system commit limit or
    // physical memory, whichever has less headroom (Wine reports both).
    let out = memwarden(&["headroom", "--json", "--reserve", "256M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let r = &v["reading"];
    let kind = r["kind"].as_str().unwrap();
    assert!(["commit", "host", "job"].contains(&kind), "{v}");
    let limit = r["limit_bytes"].as_u64().unwrap();
    let used = r["used_bytes"].as_u64().unwrap();
    assert!(limit > 0 && used <= limit, "{v}");
    assert_eq!(r["headroom_bytes"].as_u64().unwrap(), limit - used, "{v}");
    assert_eq!(v["reserve_bytes"].as_u64().unwrap(), 256 * MIB);
    let watching = v["watching"].as_str().unwrap();
    assert!(
        watching.contains("system commit limit and physical memory"),
        "{watching}"
    );
    // The low-memory notification is registered, or the reason is given.
    assert!(
        watching.contains("kernel events: the system's low-memory notification")
            || watching.contains("no kernel events (CreateMemoryResourceNotification: "),
        "{watching}"
    );
    // --watch with a short deadline ends by itself with exit 0.
    let w = memwarden(&["headroom", "--watch", "--seconds", "0.5"]);
    assert!(w.status.success(), "{}", stderr(&w));
    assert!(stdout(&w).starts_with("Headroom : "), "{}", stdout(&w));
}
