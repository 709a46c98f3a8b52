//! Container awareness against a real cgroup v1 memory group with a limit.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;

use common::*;

fn reports_the_tightest_limit_of_its_own_cgroup(ctx: &mut Ctx) {
    let name = format!("memwarden-test-{}", std::process::id());
    let outer = match V1Group::create(std::path::Path::new(V1_MEMORY), &name) {
        Ok(g) => g,
        Err(e) => skip!(ctx, "{e}"),
    };
    outer.set("memory.limit_in_bytes", &(512 * MIB).to_string());
    let inner = V1Group::create(&outer.dir, "inner").unwrap();
    inner.set("memory.limit_in_bytes", &(1024 * MIB).to_string());

    // A real 128 MiB process inside the group, and the CLI run inside it too.
    let exe = alloc_child_path();
    let child = AllocChild::spawn_with(&mut inner.enter_and_exec(exe.to_str().unwrap(), &["128"]));
    let out = inner
        .enter_and_exec(
            bin(),
            &[
                "check", "--json", "--scope", "cgroup", "--top", "10", "--no-gpu",
            ],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let cg = &v["container"]["cgroup"];
    assert_eq!(cg["version"], 1);
    assert!(
        cg["path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{name}/inner")),
        "{cg}"
    );
    assert_eq!(
        cg["limit_bytes"].as_u64().unwrap(),
        512 * MIB,
        "the parent's tighter limit wins"
    );
    assert!(
        cg["limit_set_at"].as_str().unwrap().ends_with(&name),
        "{cg}"
    );
    let ws = cg["working_set_bytes"].as_u64().unwrap();
    assert!((128 * MIB..512 * MIB).contains(&ws), "working set {ws}");

    let e = &v["effective"];
    assert_eq!(e["source"], "cgroup");
    assert_eq!(e["total_bytes"].as_u64().unwrap(), 512 * MIB);
    assert_eq!(e["used_bytes"].as_u64().unwrap(), ws);
    assert!(e["reason"].as_str().unwrap().contains("below host RAM"));
    let pct = e["percent_used"].as_f64().unwrap();
    assert!((25.0..100.0).contains(&pct), "{pct}");

    // --scope cgroup lists the group's processes only: the child and the CLI.
    let pids: Vec<u64> = v["top_processes"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids[0], child.pid as u64, "{pids:?}");
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_eq!(v["top_processes"]["scope"], "cgroup");

    // The status line uses the container's limit, not the host's RAM.
    let status = inner.enter_and_exec(bin(), &["status"]).output().unwrap();
    let line = stdout(&status);
    assert!(
        line.starts_with("RAM: ") && line.contains("GB/0.5GB ("),
        "{line}"
    );
    drop(child);
}

fn text_report_says_which_limit_and_why(ctx: &mut Ctx) {
    let name = format!("memwarden-text-{}", std::process::id());
    let group = match V1Group::create(std::path::Path::new(V1_MEMORY), &name) {
        Ok(g) => g,
        Err(e) => skip!(ctx, "{e}"),
    };
    group.set("memory.limit_in_bytes", &(768 * MIB).to_string());
    let out = group
        .enter_and_exec(bin(), &["check", "--no-gpu", "--top", "0"])
        .output()
        .unwrap();
    let t = stdout(&out);
    assert!(t.contains("Limit      768.00 MiB"), "{t}");
    assert!(t.contains("container figures used"), "{t}");
}

/// A parent limited to 512 MiB holds a 128 MiB process in one child group; memwarden
/// runs in a sibling group whose own limit (1 GiB) is looser and whose own usage is
/// near zero. The figures compared with the 512 MiB limit must be the parent's.
fn usage_comes_from_the_group_that_sets_the_limit(ctx: &mut Ctx) {
    let name = format!("memwarden-nested-{}", std::process::id());
    let parent = match V1Group::create(std::path::Path::new(V1_MEMORY), &name) {
        Ok(g) => g,
        Err(e) => skip!(ctx, "{e}"),
    };
    parent.set("memory.limit_in_bytes", &(512 * MIB).to_string());
    let holder = V1Group::create(&parent.dir, "a").unwrap();
    let runner = V1Group::create(&parent.dir, "b").unwrap();
    runner.set("memory.limit_in_bytes", &(1024 * MIB).to_string());
    let exe = alloc_child_path();
    let child = AllocChild::spawn_with(&mut holder.enter_and_exec(exe.to_str().unwrap(), &["128"]));

    let out = runner
        .enter_and_exec(bin(), &["check", "--json", "--top", "0", "--no-gpu"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let cg = &v["container"]["cgroup"];
    assert!(
        cg["path"].as_str().unwrap().ends_with(&format!("{name}/b")),
        "{cg}"
    );
    assert_eq!(cg["limit_bytes"].as_u64().unwrap(), 512 * MIB, "{cg}");
    assert!(
        cg["limit_set_at"].as_str().unwrap().ends_with(&name),
        "{cg}"
    );
    let usage = cg["usage_bytes"].as_u64().unwrap();
    let ws = cg["working_set_bytes"].as_u64().unwrap();
    assert!(
        usage >= 128 * MIB,
        "usage {usage} must include the sibling's 128 MiB: {cg}"
    );
    assert!(
        (128 * MIB..512 * MIB).contains(&ws),
        "working set {ws}: {cg}"
    );
    let e = &v["effective"];
    assert_eq!(e["total_bytes"].as_u64().unwrap(), 512 * MIB);
    assert_eq!(e["used_bytes"].as_u64().unwrap(), ws);
    assert!(e["available_bytes"].as_u64().unwrap() <= 384 * MIB, "{e}");

    // The status line reads the same: at least 0.1 GB used of 0.5 GB.
    let status = runner
        .enter_and_exec(bin(), &["status", "--json"])
        .output()
        .unwrap();
    let st = json(&status);
    let used = st["ram_used_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("{st}"));
    assert!(used >= 128 * MIB, "{st}");
    drop(child);
}

/// A leaf limit tighter than its parent's binds, and its own usage goes with it.
fn tighter_leaf_limit_binds_with_its_own_usage(ctx: &mut Ctx) {
    let name = format!("memwarden-leaf-{}", std::process::id());
    let parent = match V1Group::create(std::path::Path::new(V1_MEMORY), &name) {
        Ok(g) => g,
        Err(e) => skip!(ctx, "{e}"),
    };
    parent.set("memory.limit_in_bytes", &(2048 * MIB).to_string());
    let holder = V1Group::create(&parent.dir, "a").unwrap();
    let leaf = V1Group::create(&parent.dir, "b").unwrap();
    leaf.set("memory.limit_in_bytes", &(256 * MIB).to_string());
    let exe = alloc_child_path();
    let child = AllocChild::spawn_with(&mut holder.enter_and_exec(exe.to_str().unwrap(), &["128"]));
    let out = leaf
        .enter_and_exec(bin(), &["check", "--json", "--top", "0", "--no-gpu"])
        .output()
        .unwrap();
    let v = json(&out);
    let cg = &v["container"]["cgroup"];
    assert_eq!(cg["limit_bytes"].as_u64().unwrap(), 256 * MIB, "{cg}");
    assert!(
        cg["limit_set_at"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{name}/b")),
        "{cg}"
    );
    let usage = cg["usage_bytes"].as_u64().unwrap();
    assert!(
        usage < 64 * MIB,
        "the leaf's own usage, not the sibling's 128 MiB: {cg}"
    );
    drop(child);
}

/// memwarden inside a cgroup namespace (a container) asked about a process whose
/// group lies outside it (`/../b` in /proc/PID/cgroup): it must say the group is not
/// visible, never show the root group's figures as that process's container.
fn a_cgroup_outside_our_namespace_is_not_passed_off_as_the_root(ctx: &mut Ctx) {
    let name = format!("memwarden-ns-{}", std::process::id());
    let outer = match V1Group::create(std::path::Path::new(V1_MEMORY), &name) {
        Ok(g) => g,
        Err(e) => skip!(ctx, "{e}"),
    };
    let here = V1Group::create(&outer.dir, "a").unwrap();
    let there = V1Group::create(&outer.dir, "b").unwrap();
    let exe = alloc_child_path();
    let child = AllocChild::spawn_with(&mut there.enter_and_exec(exe.to_str().unwrap(), &["16"]));
    let pid = child.pid.to_string();
    let out = here
        .enter_and_exec(
            "unshare",
            &[
                "--cgroup",
                bin(),
                "check",
                "--json",
                "--top",
                "0",
                "--no-gpu",
                "--pid",
                &pid,
            ],
        )
        .output()
        .unwrap();
    if !out.status.success() && stderr(&out).contains("unshare") {
        skip!(ctx, "cannot make a cgroup namespace here: {}", stderr(&out));
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert!(v["container"]["cgroup"].is_null(), "{}", v["container"]);
    assert_eq!(v["effective"]["source"], "host", "{}", v["effective"]);
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains(&format!(
            "memory cgroup of PID {pid} (/../b) is not visible"
        )),
        "{warnings}"
    );
    drop(child);
}

test_main!(
    reports_the_tightest_limit_of_its_own_cgroup,
    text_report_says_which_limit_and_why,
    usage_comes_from_the_group_that_sets_the_limit,
    tighter_leaf_limit_binds_with_its_own_usage,
    a_cgroup_outside_our_namespace_is_not_passed_off_as_the_root,
);
