//! `memwarden check` and `memwarden status` against real processes.

// Linux only (its fixtures read /proc): empty on other targets.
#![cfg(target_os = "linux")]

mod common;

use common::*;

#[test]
fn reports_a_childs_known_allocation() {
    let child = AllocChild::spawn(256);
    let out = memwarden(&[
        "check",
        "--json",
        "--pid",
        &child.pid.to_string(),
        "--uss",
        "--no-gpu",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["schema_version"], 2);
    let p = &v["process"];
    assert_eq!(p["pid"], child.pid);
    assert_eq!(p["name"], "alloc_child");
    let rss = p["rss_bytes"].as_u64().unwrap();
    let anon = p["rss_anon_bytes"].as_u64().unwrap();
    // 256 MiB written page by page, plus the binary and libc: anon within 5%.
    assert!((250 * MIB..=270 * MIB).contains(&anon), "anon {anon}");
    assert!(rss >= anon && rss < 290 * MIB, "rss {rss}");
    // USS: private pages, all of the allocation; PSS at least that.
    let uss = p["uss_bytes"].as_u64().unwrap();
    assert!(uss >= 250 * MIB && uss <= rss, "uss {uss}");
    assert!(p["pss_bytes"].as_u64().unwrap() >= uss);
    // The same figure /proc gives (the child is idle, so it does not move).
    let (vm_rss, _, _) = child.status();
    assert!(rss.abs_diff(vm_rss) < 2 * MIB, "{rss} vs {vm_rss}");
}

#[test]
fn top_processes_include_the_child_and_no_kernel_threads() {
    let child = AllocChild::spawn(300);
    let out = memwarden(&["check", "--json", "--top", "50", "--no-gpu"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let list = v["top_processes"]["processes"].as_array().unwrap();
    let rss: Vec<u64> = list
        .iter()
        .map(|p| p["rss_bytes"].as_u64().unwrap())
        .collect();
    assert!(
        rss.windows(2).all(|w| w[0] >= w[1]),
        "sorted by RSS: {rss:?}"
    );
    let me = list
        .iter()
        .find(|p| p["pid"] == child.pid)
        .expect("child listed");
    assert!(me["rss_bytes"].as_u64().unwrap() >= 295 * MIB);
    for p in list {
        let pid = p["pid"].as_u64().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if let Some(rest) = stat.rsplit_once(')') {
            let flags: u64 = rest.1.split_whitespace().nth(6).unwrap().parse().unwrap();
            assert_eq!(flags & 0x0020_0000, 0, "kernel thread {pid} listed");
        }
    }
    assert!(v["top_processes"]["scanned"].as_u64().unwrap() >= list.len() as u64);
}

#[test]
fn system_figures_match_proc_meminfo() {
    let out = memwarden(&["check", "--json", "--top", "0", "--no-gpu"]);
    let v = json(&out);
    let s = &v["system"];
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb = |k: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    assert_eq!(s["total_bytes"].as_u64().unwrap(), kb("MemTotal:"));
    assert_eq!(s["swap_total_bytes"].as_u64().unwrap(), kb("SwapTotal:"));
    assert_eq!(
        s["commit_limit_bytes"].as_u64().unwrap(),
        kb("CommitLimit:")
    );
    let avail = s["available_bytes"].as_u64().unwrap();
    assert!(
        avail.abs_diff(kb("MemAvailable:")) < 64 * MIB,
        "MemAvailable moved too much"
    );
    let used = s["used_bytes"].as_u64().unwrap();
    assert_eq!(used + avail, s["total_bytes"].as_u64().unwrap());
}

#[test]
fn status_line_has_the_seed_form() {
    let out = memwarden(&["status"]);
    assert!(out.status.success());
    let line = stdout(&out);
    let line = line.trim_end();
    let re_ok = {
        // RAM: 8.5GB/16GB (53%) | VRAM: n/a   (no GPU here) or VRAM: x/y (z%)
        let (ram, vram) = line.split_once(" | ").expect("two parts");
        let ram_ok = ram.starts_with("RAM: ")
            && ram.ends_with("%)")
            && ram.contains("GB/")
            && ram.contains("GB (");
        let vram_ok = vram == "VRAM: n/a" || (vram.starts_with("VRAM: ") && vram.ends_with("%)"));
        ram_ok && vram_ok
    };
    assert!(re_ok, "unexpected status line '{line}'");
    let v = json(&memwarden(&["status", "--json"]));
    assert_eq!(v["status"].as_str().unwrap().split(" | ").count(), 2);
    assert!(v["ram_percent"].as_f64().unwrap() > 0.0);
}

#[test]
fn text_report_has_every_section() {
    let out = memwarden(&["check"]);
    assert!(out.status.success());
    let t = stdout(&out);
    for section in [
        "PROCESS  memwarden",
        "SYSTEM",
        "CONTAINER",
        "PRESSURE (PSI)",
        "TOP ",
        "GPUS",
    ] {
        assert!(t.contains(section), "missing {section} in\n{t}");
    }
    assert!(
        !t.contains('\x1b'),
        "NO_COLOR output must have no escape codes"
    );
    let colored = std::process::Command::new(bin())
        .args(["--color", "always", "check"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&colored.stdout).contains('\x1b'));
}

#[test]
fn bad_pids_get_specific_errors_and_codes() {
    for (args, code, needle) in [
        (
            vec!["check", "--pid", "999999999"],
            3,
            "no process with PID 999999999",
        ),
        (vec!["check", "--pid", "0"], 2, "not a valid PID"),
        (vec!["check", "--pid", "-7"], 2, "not a valid PID"),
        (vec!["trim", "--pid", "1"], 7, "PID 1"),
        (vec!["trim", "--pid", "2"], 7, "kernel thread"),
        (vec!["trim", "--pid", "4194304000"], 2, "not a valid PID"),
    ] {
        let out = memwarden(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    let out = memwarden(&["check", "--pid", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    let out = memwarden(&["trim"]);
    assert_eq!(out.status.code(), Some(2), "trim needs --pid or --auto");
}

#[test]
fn json_errors_are_objects_with_the_exit_code() {
    let out = memwarden(&["trim", "--pid", "999999999", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out);
    assert_eq!(v["kind"], "no_such_process");
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["schema_version"], 2);
}

#[test]
fn schema_command_lists_and_prints() {
    let out = memwarden(&["schema"]);
    assert!(stdout(&out).contains("snapshot") && stdout(&out).contains("pageout-report"));
    let v = json(&memwarden(&["schema", "snapshot"]));
    assert_eq!(v["title"], "Snapshot");
    let out = memwarden(&["schema", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}
