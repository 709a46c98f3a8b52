//! Container awareness against a real cgroup v1 memory group with a limit.

mod common;

use common::*;

#[test]
fn reports_the_tightest_limit_of_its_own_cgroup() {
    let name = format!("memwarden-test-{}", std::process::id());
    let outer = match V1Group::create(std::path::Path::new(V1_MEMORY), &name) {
        Ok(g) => g,
        Err(e) => skip!("{e}"),
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

#[test]
fn text_report_says_which_limit_and_why() {
    let name = format!("memwarden-text-{}", std::process::id());
    let group = match V1Group::create(std::path::Path::new(V1_MEMORY), &name) {
        Ok(g) => g,
        Err(e) => skip!("{e}"),
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
