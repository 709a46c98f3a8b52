//! cgroup v2 for real, inside a small VM: the machine running the tests may have
//! its memory controller on v1, so tests/vm/cgroup2.sh boots a Debian kernel under
//! qemu with only cgroup v2 mounted and runs the scenarios of
//! tests/vm/cgroup2-init.sh there: nested limits, memory.high along the path,
//! memory.reclaim, memory.pressure, memory.swap.max and the swap check (swap already
//! in use included). One boot serves every test below; each test
//! checks one scenario against what the guest read from the cgroup files itself.
//! Without qemu, apt or a network the tests say why they skip. MEMWARDEN_SKIP_VM=1
//! skips them on purpose.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use common::*;

/// One command the guest ran.
struct Run {
    rc: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// What came out of the guest's result port (see tests/vm/cgroup2-init.sh).
#[derive(Default)]
struct Guest {
    runs: HashMap<String, Run>,
    facts: HashMap<String, String>,
    notes: Vec<String>,
    done: bool,
    console_tail: String,
}

impl Guest {
    fn parse(results: &str) -> Self {
        let mut g = Guest::default();
        // The command being read: its name, what came so far, in its stderr yet?
        let mut cur: Option<(String, Run, bool)> = None;
        for line in results.lines() {
            if let Some((name, run, in_stderr)) = cur.as_mut() {
                if line == format!("@@END {name}") {
                    let (name, run, _) = cur.take().unwrap();
                    g.runs.insert(name, run);
                } else if line == "@@STDERR" && !*in_stderr {
                    *in_stderr = true;
                } else {
                    let buf = if *in_stderr {
                        &mut run.stderr
                    } else {
                        &mut run.stdout
                    };
                    buf.push_str(line);
                    buf.push('\n');
                }
            } else if let Some(rest) = line.strip_prefix("@@BEGIN ") {
                let (name, rc) = rest.split_once(" rc=").expect("@@BEGIN name rc=N");
                let run = Run {
                    rc: rc.parse().unwrap(),
                    stdout: String::new(),
                    stderr: String::new(),
                };
                cur = Some((name.into(), run, false));
            } else if let Some(kv) = line.strip_prefix("@@FACT ") {
                let (k, v) = kv.split_once('=').expect("@@FACT key=value");
                g.facts.insert(k.into(), v.trim().into());
            } else if let Some(n) = line.strip_prefix("@@NOTE ") {
                g.notes.push(n.into());
            } else if line == "@@DONE" {
                g.done = true;
            }
        }
        g
    }

    fn context(&self) -> String {
        format!(
            "guest notes: {:?}; finished: {}; console tail:\n{}",
            self.notes, self.done, self.console_tail
        )
    }

    fn run(&self, name: &str) -> &Run {
        self.runs
            .get(name)
            .unwrap_or_else(|| panic!("the guest did not run '{name}'; {}", self.context()))
    }

    fn has_fact(&self, key: &str) -> bool {
        self.facts.contains_key(key)
    }

    fn fact(&self, key: &str) -> &str {
        self.facts
            .get(key)
            .unwrap_or_else(|| panic!("the guest did not record '{key}'; {}", self.context()))
    }

    fn fact_u64(&self, key: &str) -> u64 {
        let v = self.fact(key);
        v.parse()
            .unwrap_or_else(|_| panic!("fact {key}={v} is not a number"))
    }

    /// (VmRSS, RssAnon, VmSwap) in bytes, as `status_of` in the guest recorded them.
    fn fact_status(&self, key: &str) -> (u64, u64, u64) {
        let v: Vec<u64> = self
            .fact(key)
            .split_whitespace()
            .map(|k| k.parse::<u64>().unwrap() * 1024)
            .collect();
        assert_eq!(v.len(), 3, "{key}: {v:?}");
        (v[0], v[1], v[2])
    }
}

enum Boot {
    Ran(Guest),
    Skipped(String),
    Failed(String),
}

/// Boot the VM once for every test in this file.
fn boot() -> &'static Boot {
    static BOOT: OnceLock<Boot> = OnceLock::new();
    BOOT.get_or_init(run_vm)
}

fn run_vm() -> Boot {
    if std::env::var_os("MEMWARDEN_SKIP_VM").is_some_and(|v| !v.is_empty()) {
        return Boot::Skipped("MEMWARDEN_SKIP_VM is set".into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vm/cgroup2.sh");
    let child = alloc_child_path();
    // target/<profile>/examples/alloc_child -> target/vm-cache
    let cache = child.ancestors().nth(3).unwrap().join("vm-cache");
    let t0 = Instant::now();
    let out = match Command::new("bash")
        .arg(&script)
        .arg(bin())
        .arg(&child)
        .arg(&cache)
        .output()
    {
        Ok(o) => o,
        Err(e) => return Boot::Skipped(format!("cannot run bash {}: {e}", script.display())),
    };
    let secs = t0.elapsed().as_secs_f64();
    let err = stderr(&out);
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    match out.status.code() {
        Some(0) => {}
        Some(77) => {
            let why = err
                .lines()
                .find_map(|l| l.strip_prefix("SKIP: "))
                .unwrap_or("tests/vm/cgroup2.sh could not build the VM");
            return Boot::Skipped(why.to_string());
        }
        _ => {
            return Boot::Failed(format!(
                "{} failed ({}):\n{}\n--- results so far:\n{}",
                script.display(),
                out.status,
                tail(&err),
                tail(&stdout(&out))
            ))
        }
    }
    let mut g = Guest::parse(&stdout(&out));
    g.console_tail = tail(&err);
    let _ = writeln!(
        std::io::stderr(),
        "cgroup v2 VM: kernel {}, /init started at {} s of guest uptime, whole run {secs:.1} s{}",
        g.facts.get("kernel").map_or("?", |s| s.as_str()),
        g.facts.get("boot_seconds").map_or("?", |s| s.as_str()),
        if g.notes.is_empty() {
            String::new()
        } else {
            format!("; guest notes: {:?}", g.notes)
        }
    );
    if !g.done {
        return Boot::Failed(format!(
            "the guest stopped before the end of its scenarios; {}",
            g.context()
        ));
    }
    Boot::Ran(g)
}

macro_rules! guest {
    ($ctx:expr) => {
        match boot() {
            Boot::Ran(g) => g,
            Boot::Skipped(why) => skip!($ctx, "{why}"),
            Boot::Failed(e) => panic!("{e}"),
        }
    };
}

fn near(a: u64, b: u64, slack: u64) -> bool {
    a.abs_diff(b) <= slack
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not an unsigned number"))
}

/// Scenario 1: memwarden runs in box/b (1 GiB limit of its own, nearly empty); its
/// parent box (300 MiB) holds 100 MiB in box/a. The limit that binds is box's, so
/// usage and working set must be box's too, not box/b's few KiB.
fn nested_check_takes_limit_and_usage_from_the_limiting_parent(ctx: &mut Ctx) {
    let g = guest!(ctx);
    let r = g.run("nested_check");
    assert_eq!(r.rc, 0, "{}", r.stderr);
    let v = r.json();
    let cg = &v["container"]["cgroup"];
    assert_eq!(cg["version"], 2, "{cg}");
    assert_eq!(cg["path"], "/box/b", "{cg}");
    assert_eq!(u(&cg["limit_bytes"]), 300 * MIB, "the parent's limit: {cg}");
    assert_eq!(cg["limit_set_at"], "/sys/fs/cgroup/box", "{cg}");
    // box's memory.current as the guest read it around the run.
    let (lo, hi) = (
        g.fact_u64("box_current_before"),
        g.fact_u64("box_current_after"),
    );
    let box_usage = lo.min(hi);
    assert!(box_usage >= 100 * MIB, "box holds {box_usage}");
    let usage = u(&cg["usage_bytes"]);
    let ws = u(&cg["working_set_bytes"]);
    assert!(
        near(usage, box_usage, 8 * MIB),
        "usage_bytes {usage} ({} MiB) is not box's memory.current {box_usage} ({} MiB) \
         (box/b's own is {}): {cg}",
        usage / MIB,
        box_usage / MIB,
        g.fact("box_b_current")
    );
    assert!(
        (100 * MIB..=usage).contains(&ws),
        "working_set_bytes {ws} ({} MiB), usage {usage}: {cg}",
        ws / MIB
    );

    let e = &v["effective"];
    assert_eq!(e["source"], "cgroup", "{e}");
    assert_eq!(u(&e["total_bytes"]), 300 * MIB, "{e}");
    let used = u(&e["used_bytes"]);
    assert_eq!(used, ws, "effective.used_bytes is the working set: {e}");
    let pct = e["percent_used"].as_f64().unwrap();
    assert!(
        pct >= 32.0,
        "percent_used {pct} of 300 MiB with >= 100 MiB used: {e}"
    );
}

/// Scenario 1, the status line from the same place: 300 MiB and box's usage.
fn nested_status_uses_the_limiting_parent(ctx: &mut Ctx) {
    let g = guest!(ctx);
    let r = g.run("nested_status");
    assert_eq!(r.rc, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["ram_source"], "cgroup", "{v}");
    assert_eq!(u(&v["ram_total_bytes"]), 300 * MIB, "{v}");
    let used = u(&v["ram_used_bytes"]);
    assert!(
        used >= 100 * MIB,
        "ram_used_bytes {used} ({} MiB): box holds >= 100 MiB, box/b only {}: {v}",
        used / MIB,
        g.fact("box_b_current")
    );
    let pct = v["ram_percent"].as_f64().unwrap();
    assert!(pct >= 32.0, "ram_percent {pct}: {v}");
    assert!(v["status"].as_str().unwrap().contains("GB/0.3GB ("), "{v}");
}

/// Scenario 1b: box/c's own 150 MiB limit is tighter than box's 300 MiB (in limit
/// and in headroom): the leaf's limit and the leaf's usage count.
fn leaf_limit_tighter_than_its_parent_wins(ctx: &mut Ctx) {
    let g = guest!(ctx);
    assert_eq!(g.fact_u64("box_c_max"), 150 * MIB);
    let r = g.run("leaf_check");
    assert_eq!(r.rc, 0, "{}", r.stderr);
    let v = r.json();
    let cg = &v["container"]["cgroup"];
    assert_eq!(cg["path"], "/box/c", "{cg}");
    assert_eq!(
        u(&cg["limit_bytes"]),
        150 * MIB,
        "the leaf's own limit: {cg}"
    );
    assert_eq!(cg["limit_set_at"], "/sys/fs/cgroup/box/c", "{cg}");
    let leaf = g
        .fact_u64("box_c_current_before")
        .min(g.fact_u64("box_c_current_after"));
    let usage = u(&cg["usage_bytes"]);
    assert!(
        near(usage, leaf, 8 * MIB),
        "usage_bytes {usage} ({} MiB) is not box/c's memory.current {leaf} ({} MiB) \
         (box's is {}): {cg}",
        usage / MIB,
        leaf / MIB,
        g.fact("box_current_leaf")
    );
    let e = &v["effective"];
    assert_eq!(e["source"], "cgroup", "{e}");
    assert_eq!(u(&e["total_bytes"]), 150 * MIB, "{e}");
    assert!(u(&e["used_bytes"]) >= 64 * MIB, "{e}");
    assert!(u(&e["used_bytes"]) <= usage, "{e}");
}

/// Scenario 1c: hi/leaf (memory.high 400 MiB) below hi (memory.high 200 MiB): the
/// parent throttles first, so the snapshot's high_bytes is the parent's.
fn memory_high_is_the_tightest_along_the_path(ctx: &mut Ctx) {
    let g = guest!(ctx);
    assert_eq!(g.fact_u64("hi_high"), 200 * MIB);
    assert_eq!(g.fact_u64("hi_leaf_high"), 400 * MIB);
    let r = g.run("high_check");
    assert_eq!(r.rc, 0, "{}", r.stderr);
    let v = r.json();
    let cg = &v["container"]["cgroup"];
    assert_eq!(cg["path"], "/hi/leaf", "{cg}");
    assert_eq!(
        u(&cg["high_bytes"]),
        200 * MIB,
        "the parent's memory.high, not the leaf's 400 MiB: {cg}"
    );
}

/// Scenario 2: `reclaim --bytes 64M` in a group holding 128 MiB of clean page
/// cache; the report's figures are memory.current before and after.
fn reclaim_takes_memory_back_from_its_own_group(ctx: &mut Ctx) {
    let g = guest!(ctx);
    assert!(
        g.fact_u64("rec_file_before") >= 120 * MIB,
        "the guest could not fill rec's page cache: {}",
        g.fact("rec_file_before")
    );
    let r = g.run("reclaim");
    assert_eq!(r.rc, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["cgroup_dir"], "/sys/fs/cgroup/rec", "{v}");
    assert_eq!(u(&v["requested_bytes"]), 64 * MIB, "{v}");
    assert_eq!(v["fully_reclaimed"], true, "{v}");
    let before = u(&v["usage_before_bytes"]);
    let after = u(&v["usage_after_bytes"]);
    assert!(
        near(before, g.fact_u64("rec_current_before"), 8 * MIB),
        "usage_before_bytes {before} vs memory.current {}: {v}",
        g.fact("rec_current_before")
    );
    assert!(
        near(after, g.fact_u64("rec_current_after"), 8 * MIB),
        "usage_after_bytes {after} vs memory.current {}: {v}",
        g.fact("rec_current_after")
    );
    assert_eq!(
        v["reclaimed_bytes"].as_i64().unwrap(),
        before as i64 - after as i64,
        "{v}"
    );
    assert!(
        before.saturating_sub(after) >= 60 * MIB,
        "only {} MiB reclaimed: {v}",
        before.saturating_sub(after) / MIB
    );
}

/// Scenario 2, refusals: a bad size exits 2 before anything is written.
fn reclaim_refuses_bad_sizes_and_changes_nothing(ctx: &mut Ctx) {
    let g = guest!(ctx);
    for bad in BAD_SIZES {
        let r = g.run(&format!("reclaim_bad_{bad}"));
        assert_eq!(r.rc, 2, "--bytes {bad}: {}", r.stderr);
    }
    let (a, b) = (
        g.fact_u64("rec_current_after"),
        g.fact_u64("rec_current_after_bad"),
    );
    assert!(near(a, b, 4 * MIB), "rec's memory.current moved {a} -> {b}");
}

const BAD_SIZES: [&str; 4] = ["0", "abc", "-5M", "12Q"];

/// Scenario 2, refusals with --json: the error object of docs/json-schema.md
/// ("any command with --json, on failure") on stdout.
fn reclaim_bad_size_with_json_prints_the_error_object(ctx: &mut Ctx) {
    let g = guest!(ctx);
    for bad in BAD_SIZES {
        let r = g.run(&format!("reclaim_bad_{bad}"));
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
            panic!(
                "--bytes {bad} --json: stdout is not the JSON error object ({e}): {:?}; stderr: {}",
                r.stdout, r.stderr
            )
        });
        assert_eq!(v["kind"], "invalid_input", "--bytes {bad}: {v}");
        assert_eq!(v["exit_code"], 2, "--bytes {bad}: {v}");
    }
}

/// Scenario 3: a group that had to reclaim under its 32 MiB limit; the snapshot
/// carries its memory.pressure.
fn snapshot_reads_the_cgroups_memory_pressure(ctx: &mut Ctx) {
    let g = guest!(ctx);
    let r = g.run("pressure_check");
    assert_eq!(r.rc, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["container"]["cgroup"]["path"], "/press", "{v}");
    let p = &v["pressure"]["cgroup"];
    assert!(p.is_object(), "pressure.cgroup missing: {}", v["pressure"]);
    assert!(p["full"].is_object(), "cgroup v2 has a 'full' line: {p}");
    let total = u(&p["some"]["total_us"]);
    let (lo, hi) = (
        g.fact_u64("press_some_total_before"),
        g.fact_u64("press_some_total_after"),
    );
    assert!(
        (lo..=hi).contains(&total),
        "some total_us {total} is not press's memory.pressure ({lo}..={hi}): {p}"
    );
    if lo == 0 {
        let _ = writeln!(
            std::io::stderr(),
            "note: the guest's press group recorded no stall; only the figures' source was checked"
        );
    }
}

fn swap_scenario(g: &Guest) -> bool {
    g.has_fact("swap_total_kib") && g.has_fact("sw_pid")
}

/// Scenario 4: with swap on, sw (memory.swap.max = 0) holding sw/leaf: trimming
/// the 64 MiB child in sw/leaf is refused by the swap check and nothing moves.
fn swap_check_refuses_when_the_parent_allows_no_swap(ctx: &mut Ctx) {
    let g = guest!(ctx);
    if !swap_scenario(g) {
        skip!(ctx, "the guest could not set up swap: {:?}", g.notes);
    }
    let r = g.run("trim_no_allowance");
    assert_eq!(r.rc, 6, "exit code: {}\n{}", r.stderr, r.stdout);
    let v = r.json();
    assert_eq!(v["kind"], "swap_refused", "{v}");
    let before = g.fact_status("sw_status_before");
    let after = g.fact_status("sw_status_after_refusal");
    assert!(before.1 >= 60 * MIB, "the child holds {before:?}");
    assert!(
        near(before.0, after.0, 4 * MIB) && before.2 == after.2,
        "RSS/swap moved on a refusal: {before:?} -> {after:?}"
    );
}

/// Scenario 4, then sw allows 192 MiB of swap: the same trim goes through and the
/// child's memory is in swap.
fn trim_within_the_swap_allowance_pages_out(ctx: &mut Ctx) {
    let g = guest!(ctx);
    if !swap_scenario(g) {
        skip!(ctx, "the guest could not set up swap: {:?}", g.notes);
    }
    let r = g.run("trim_allowed");
    assert_eq!(r.rc, 0, "{}\n{}", r.stderr, r.stdout);
    let v = r.json();
    assert_eq!(v["swap_check"]["allowed"], true, "{}", v["swap_check"]);
    assert_eq!(v["swap_check"]["forced"], false, "{}", v["swap_check"]);
    let free = u(&v["swap_check"]["swap_free_bytes"]);
    assert!(
        free <= 192 * MIB,
        "usable swap {free} is not capped by the 192 MiB allowance: {}",
        v["swap_check"]
    );
    let after = g.fact_status("sw_status_after_trim");
    assert!(after.2 >= 56 * MIB, "child's VmSwap after: {after:?}");
    assert!(after.1 < 8 * MIB, "child's RssAnon after: {after:?}");
    assert!(
        near(u(&v["swap_after_bytes"]), after.2, 2 * MIB),
        "report swap_after_bytes vs /proc: {after:?}: {v}"
    );
    assert!(
        g.fact_u64("sw_leaf_swap_current") >= 56 * MIB,
        "sw/leaf memory.swap.current {}",
        g.fact("sw_leaf_swap_current")
    );
}

/// Scenario 5: the headroom watch on v2. hw/leaf's memory.high (160 MiB) is
/// tighter than hw's memory.max (256 MiB), so it binds; a 150 MiB child takes the
/// headroom below the 32 MiB reserve (the watch wakes), and memory.high raised at
/// run time to 300 MiB makes hw's memory.max bind (the watch sees the change).
fn headroom_watch_on_v2_binds_memory_high_and_sees_a_change(ctx: &mut Ctx) {
    let g = guest!(ctx);
    let now = g.run("headroom_now");
    assert_eq!(now.rc, 0, "{}", now.stderr);
    let v = now.json();
    let r = &v["reading"];
    assert_eq!(r["kind"], "cgroup_high", "{v}");
    assert_eq!(u(&r["limit_bytes"]), 160 * MIB, "{v}");
    assert_eq!(
        r["set_at"], "memory.high of /sys/fs/cgroup/hw/leaf (cgroup v2)",
        "{v}"
    );
    let watching = v["watching"].as_str().unwrap();
    assert!(
        watching.contains("inotify on /sys/fs/cgroup/hw/memory.events"),
        "{watching}"
    );
    assert!(
        watching.contains("a PSI trigger on /sys/fs/cgroup/hw/leaf/memory.pressure"),
        "{watching}"
    );
    let w = g.run("headroom_watch");
    assert_eq!(w.rc, 0, "{}", w.stderr);
    let lines: Vec<serde_json::Value> = w
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let reason = |l: &&serde_json::Value| l["reason"].as_str().map(str::to_string);
    let first = |r: &str| {
        lines
            .iter()
            .position(|l| reason(&l).as_deref() == Some(r))
            .unwrap_or_else(|| panic!("no {r} event: {}", w.stdout))
    };
    let (c, l) = (first("crossed"), first("limit_changed"));
    assert!(
        0 < c && c < l,
        "the reading, a fall, then the change: {}",
        w.stdout
    );
    let crossed = &lines[c];
    assert_eq!(crossed["reason"], "crossed", "{crossed}");
    assert_eq!(crossed["reading"]["kind"], "cgroup_high", "{crossed}");
    assert!(
        u(&crossed["reading"]["headroom_bytes"]) < 32 * MIB,
        "{crossed}"
    );
    assert!(crossed["crossed_at_ns"].is_u64(), "{crossed}");
    let changed = &lines[l];
    assert_eq!(changed["reason"], "limit_changed", "{changed}");
    assert_eq!(changed["reading"]["kind"], "cgroup_max", "{changed}");
    assert_eq!(
        u(&changed["reading"]["limit_bytes"]),
        256 * MIB,
        "{changed}"
    );
    assert_eq!(
        changed["reading"]["set_at"], "memory.max of /sys/fs/cgroup/hw (cgroup v2)",
        "{changed}"
    );
    assert!(g.fact_u64("hw_leaf_current") >= 140 * MIB);
}

/// Scenario 4, last: sw's 192 MiB allowance already holds the first child's swap
/// (sw's memory.swap.current). The snapshot reports that use, and a second
/// child's 96 MiB plus a 64 MiB margin, which the whole allowance would take but
/// what is left of it does not, is refused with what is left named; nothing moves.
fn swap_already_in_use_counts_against_the_allowance(ctx: &mut Ctx) {
    let g = guest!(ctx);
    if !swap_scenario(g) {
        skip!(ctx, "the guest could not set up swap: {:?}", g.notes);
    }
    let used = g.fact_u64("sw_leaf_swap_current");
    let v = g.run("sw_check").json();
    let cg = &v["container"]["cgroup"];
    assert_eq!(u(&cg["swap_limit_bytes"]), 192 * MIB, "{cg}");
    assert_eq!(cg["swap_limit_set_at"], "/sys/fs/cgroup/sw", "{cg}");
    assert!(
        near(u(&cg["swap_usage_bytes"]), used, 4 * MIB),
        "swap_usage_bytes vs sw's memory.swap.current {used}: {cg}"
    );
    let in_use = g.fact_u64("sw_swap_current");
    assert!(in_use >= 56 * MIB, "sw's swap in use: {in_use}");
    let r = g.run("trim_allowance_in_use");
    assert_eq!(r.rc, 6, "exit code: {}\n{}", r.stderr, r.stdout);
    let e = r.json();
    assert_eq!(e["kind"], "swap_refused", "{e}");
    let msg = e["error"].as_str().unwrap();
    // "... (128.00 MiB left of 192.00 MiB)": what the allowance leaves.
    let left = msg
        .split("capped by the cgroup's swap allowance (")
        .nth(1)
        .and_then(|t| t.split(" MiB left of 192.00 MiB)").next())
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no allowance left in the refusal: {msg}"));
    let want = (192 * MIB - in_use) as f64 / MIB as f64;
    assert!(
        (left - want).abs() <= 1.0,
        "{left} MiB left, sw's memory.swap.current says {want:.2}: {msg}"
    );
    let before = g.fact_status("sw2_status_before");
    let after = g.fact_status("sw2_status_after");
    assert!(before.1 >= 90 * MIB, "the second child holds {before:?}");
    assert!(
        near(before.0, after.0, 4 * MIB) && before.2 == after.2,
        "RSS/swap moved on a refusal: {before:?} -> {after:?}"
    );
}

test_main!(
    headroom_watch_on_v2_binds_memory_high_and_sees_a_change,
    nested_check_takes_limit_and_usage_from_the_limiting_parent,
    nested_status_uses_the_limiting_parent,
    leaf_limit_tighter_than_its_parent_wins,
    memory_high_is_the_tightest_along_the_path,
    reclaim_takes_memory_back_from_its_own_group,
    reclaim_refuses_bad_sizes_and_changes_nothing,
    reclaim_bad_size_with_json_prints_the_error_object,
    snapshot_reads_the_cgroups_memory_pressure,
    swap_check_refuses_when_the_parent_allows_no_swap,
    trim_within_the_swap_allowance_pages_out,
    swap_already_in_use_counts_against_the_allowance,
);
