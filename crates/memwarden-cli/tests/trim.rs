//! `memwarden trim`: a real child's anonymous memory paged out to a real swap
//! file, and every refusal leaving the child untouched.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;
mod support;

use std::path::Path;

use common::*;
use support::as_nobody;

fn rss_unchanged(before: (u64, u64, u64), after: (u64, u64, u64)) {
    assert!(
        before.0.abs_diff(after.0) < 4 * MIB,
        "RSS moved: {before:?} -> {after:?}"
    );
    assert_eq!(before.2, after.2, "swap moved: {before:?} -> {after:?}");
}

fn pages_a_child_out_to_swap(ctx: &mut Ctx) {
    let swap = swap_or_skip!(ctx, 512);
    let mut child = AllocChild::spawn(256);
    let before = child.status();
    let out = trim_json(child.pid, &["--min-swap-free", "16M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    let steps = step_names(&r);
    assert_eq!(
        steps,
        ["open", "privileges", "swap_check", "advise", "verify"]
    );
    assert!(r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["ok"] == true));
    assert_eq!(r["swap_check"]["allowed"], true);
    assert_eq!(r["swap_check"]["forced"], false);
    let after = child.status();
    // The report's figures are the ones /proc shows.
    assert!(r["rss_before_bytes"].as_u64().unwrap().abs_diff(before.0) < 2 * MIB);
    assert!(r["rss_after_bytes"].as_u64().unwrap().abs_diff(after.0) < 2 * MIB);
    // Nearly all of the 256 MiB went to swap.
    let freed = r["freed_bytes"].as_i64().unwrap();
    assert!(freed >= 230 * MIB as i64, "freed only {freed}");
    assert!(after.1 < 20 * MIB, "anon still resident: {after:?}");
    assert!(after.2 >= 230 * MIB, "swap of the child: {after:?}");
    assert_eq!(r["swap_after_bytes"].as_u64().unwrap(), after.2);
    // Touching the memory brings it back: nothing was lost.
    child.command("touch");
    let back = child.status();
    assert!(back.1 >= 250 * MIB, "{back:?}");
    drop(child);
    drop(swap);
}

fn cold_marks_without_paging_out(ctx: &mut Ctx) {
    let _swap = swap_or_skip!(ctx, 512);
    let child = AllocChild::spawn(128);
    let out = trim_json(child.pid, &["--cold", "--min-swap-free", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["advice"], "cold");
    assert!(r["steps"][3]["detail"]
        .as_str()
        .unwrap()
        .contains("MADV_COLD"));
    // MADV_COLD only deactivates pages: with no memory pressure they stay.
    assert!(child.status().1 >= 120 * MIB);
}

fn swap_check_refuses_without_swap_and_changes_nothing(ctx: &mut Ctx) {
    let _lock = swap_lock();
    if system_swap_total() > 0 {
        skip!(
            ctx,
            "this machine has swap configured; the no-swap refusal needs none"
        );
    }
    let child = AllocChild::spawn(128);
    let before = child.status();
    let out = memwarden(&["trim", "--pid", &child.pid.to_string()]);
    if !is_root() {
        // The privileges are checked before the swap check.
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        rss_unchanged(before, child.status());
        skip!(
            ctx,
            "paging out another process needs CAP_SYS_NICE (not root)"
        );
    }
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("no swap is configured") && e.contains("--force"),
        "{e}"
    );
    rss_unchanged(before, child.status());
    // --force proceeds and says so; with no swap only file-backed pages can go,
    // so the anonymous allocation stays resident.
    let out = memwarden(&["trim", "--pid", &child.pid.to_string(), "--force", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["swap_check"]["forced"], true);
    assert!(r["swap_check"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("overridden on request"));
    assert!(
        child.status().1 >= 120 * MIB,
        "anon cannot leave without swap"
    );
}

fn swap_check_refuses_when_swap_is_too_small(ctx: &mut Ctx) {
    let _swap = swap_or_skip!(ctx, 64);
    let child = AllocChild::spawn(256);
    let before = child.status();
    let out = trim_json(child.pid, &["--min-swap-free", "0"]);
    assert_eq!(out.status.code(), Some(6));
    let v = json(&out);
    assert_eq!(v["kind"], "swap_refused");
    assert!(v["error"].as_str().unwrap().contains("below the"), "{v}");
    // The verdict travels with its figures, for a caller to word in its own terms.
    let verdict = &v["swap_check"];
    assert_eq!(verdict["finding"]["kind"], "short", "{v}");
    assert_eq!(verdict["allowed"], false, "{v}");
    let (free, needed) = (
        verdict["swap_free_bytes"].as_u64().unwrap(),
        verdict["needed_bytes"].as_u64().unwrap(),
    );
    assert!(
        free <= 64 * MIB && needed >= 200 * MIB && free < needed,
        "{v}"
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .ends_with(verdict["reason"].as_str().unwrap()),
        "{v}"
    );
    rss_unchanged(before, child.status());
}

fn cgroup_without_swap_allowance_is_refused(ctx: &mut Ctx) {
    let _swap = swap_or_skip!(ctx, 512);
    let group = match V1Group::create(
        std::path::Path::new(V1_MEMORY),
        &format!("memwarden-noswap-{}", std::process::id()),
    ) {
        Ok(g) => g,
        Err(e) => skip!(ctx, "{e}"),
    };
    if !group.dir.join("memory.memsw.limit_in_bytes").exists() {
        skip!(ctx, "kernel without swap accounting (memory.memsw.*)");
    }
    group.set("memory.limit_in_bytes", &(1024 * MIB).to_string());
    group.set("memory.memsw.limit_in_bytes", &(1024 * MIB).to_string());
    let child = {
        let exe = alloc_child_path();
        AllocChild::spawn_with(&mut group.enter_and_exec(exe.to_str().unwrap(), &["128"]))
    };
    let before = child.status();
    let out = memwarden(&[
        "trim",
        "--pid",
        &child.pid.to_string(),
        "--min-swap-free",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("may not use swap"),
        "{}",
        stderr(&out)
    );
    rss_unchanged(before, child.status());
    drop(child);
}

fn unprivileged_user_is_refused_and_nothing_changes(ctx: &mut Ctx) {
    if !is_root() {
        skip!(ctx, "needs root to run memwarden as another user");
    }
    let child = AllocChild::spawn(64);
    let before = child.status();
    let out = as_nobody(Path::new(bin()), true).and_then(|mut c| {
        c.args(["trim", "--force", "--pid", &child.pid.to_string()])
            .output()
            .map_err(|e| e.to_string())
    });
    let out = match out {
        Ok(out) => out,
        Err(e) => skip!(ctx, "setpriv not available: {e}"),
    };
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("CAP_SYS_NICE"), "{}", stderr(&out));
    rss_unchanged(before, child.status());
}

fn exited_process_is_not_found() {
    let child = AllocChild::spawn(1);
    let pid = child.pid;
    drop(child);
    let out = memwarden(&["trim", "--pid", &pid.to_string()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

test_main!(
    pages_a_child_out_to_swap,
    cold_marks_without_paging_out,
    swap_check_refuses_without_swap_and_changes_nothing,
    swap_check_refuses_when_swap_is_too_small,
    cgroup_without_swap_allowance_is_refused,
    unprivileged_user_is_refused_and_nothing_changes,
    exited_process_is_not_found,
);
