//! `memwarden history` on real history files: the actions, --last, --stats,
//! --json, malformed lines skipped and counted, the default file under
//! XDG_STATE_HOME, and what it says when there is nothing.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_memwarden")
}

fn action(at: u64, trigger: &str, freed: i64, outcome: &str) -> String {
    serde_json::json!({
        "at_unix_ms": at, "trigger": trigger, "level": "warning", "mode": "balanced",
        "reason": format!("reason {at}"),
        "steps": [{"name": "OS-level trim", "ok": outcome != "failed", "skipped": false,
                   "detail": "malloc_trim", "freed_bytes": freed, "duration_ms": 3.0}],
        "freed_bytes": freed, "duration_ms": 5.0, "outcome": outcome,
        "error": if outcome == "failed" { Some("RuntimeError: injected") } else { None },
    })
    .to_string()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "memwarden-cli-history-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str], state: &std::path::Path) -> Output {
    Command::new(bin())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env("LOCALAPPDATA", state)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn lists_filters_and_counts_a_history_file() {
    let d = dir("file");
    let f = d.join("h.jsonl");
    let lines = [
        action(1_795_466_467_000, "prompt_end", 2 << 20, "freed"),
        "{not json".to_string(),
        action(1_795_466_468_000, "pressure", 0, "failed"),
        action(1_795_466_469_000, "prompt_end", 1 << 20, "freed"),
    ];
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let fs = f.to_str().unwrap();
    let all = stdout(&run(&["history", "--file", fs], &d));
    assert!(
        all.contains("2026-11-23 20:41:07Z  prompt_end warning  balanced     freed"),
        "{all}"
    );
    assert!(all.contains("error: RuntimeError: injected"), "{all}");
    assert!(all.contains("(1 malformed line(s) in "), "{all}");
    let last = stdout(&run(
        &["history", "--file", fs, "--last", "1", "--json"],
        &d,
    ));
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["at_unix_ms"], 1_795_466_469_000u64);
    let st = stdout(&run(&["history", "--file", fs, "--stats", "--json"], &d));
    let v: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(
        (v["count"].as_u64(), v["failed"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(v["freed_total_bytes"], 3 << 20);
    assert_eq!(v["by_trigger"][0]["name"], "prompt_end");
    let text = stdout(&run(&["history", "--file", fs, "--stats"], &d));
    assert!(
        text.starts_with("3 action(s) from 2026-11-23 20:41:07Z"),
        "{text}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn default_file_under_xdg_state_home_and_empty_says_where_it_looked() {
    let d = dir("default");
    let o = stdout(&run(&["history"], &d));
    let expected = d.join("memwarden").join("history.jsonl");
    assert!(
        o.starts_with(&format!(
            "no manager actions recorded in {}",
            expected.display()
        )),
        "{o}"
    );
    std::fs::create_dir_all(expected.parent().unwrap()).unwrap();
    std::fs::write(
        &expected,
        action(1_795_466_467_000, "sample", 5, "nothing_freed") + "\n",
    )
    .unwrap();
    let o = stdout(&run(&["history"], &d));
    assert!(
        o.contains(" sample     warning  balanced     nothing freed"),
        "{o}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_last_is_a_usage_error() {
    let d = dir("bad");
    let o = run(&["history", "--last", "0"], &d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a count of actions"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_named_file_that_is_not_there_is_bad_input_and_nothing_is_written() {
    let d = dir("missing");
    let f = d.join("nope").join("h.jsonl");
    let o = run(&["history", "--file", f.to_str().unwrap()], &d);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("no history file at {}", f.display())),
        "{err}"
    );
    assert!(
        !f.parent().unwrap().exists(),
        "reading created {}",
        f.display()
    );
}

#[test]
fn a_named_file_with_only_malformed_lines_says_so() {
    let d = dir("malformed");
    let f = d.join("h.jsonl");
    std::fs::write(&f, "garbage\n{\"x\": 1}\n").unwrap();
    let o = stdout(&run(&["history", "--file", f.to_str().unwrap()], &d));
    assert!(
        o.starts_with(&format!("no manager actions recorded in {}\n", f.display())),
        "{o}"
    );
    assert!(o.contains("(2 malformed line(s) in"), "{o}");
}
