//! `trim --auto` against real processes: a real Python interpreter running the
//! main.py of a ComfyUI-shaped checkout, started the usual way (`cd ComfyUI &&
//! python main.py --listen`: the path is only in the working directory), beside
//! processes that must never be chosen.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

/// A directory shaped like a ComfyUI checkout (its `comfy` package and nodes.py)
/// whose main.py holds 16 MiB, prints `ready PID` and waits for `exit`. Its path
/// does not name ComfyUI: only its contents say what it is.
struct Checkout(PathBuf);

const MAIN_PY: &str = r#"import os, sys
buf = bytearray(16 << 20)
for i in range(0, len(buf), 4096):
    buf[i] = 1
print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    if line.strip() == "exit":
        break
"#;

impl Checkout {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mw-auto-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("comfy")).unwrap();
        std::fs::write(dir.join("nodes.py"), "").unwrap();
        std::fs::write(dir.join("main.py"), MAIN_PY).unwrap();
        Self(dir)
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `python3 main.py --listen` started inside `cwd`.
fn python_main(cwd: &Path) -> Option<AllocChild> {
    let mut cmd = Command::new("python3");
    cmd.args(["main.py", "--listen"]).current_dir(cwd);
    // Probe first: a machine without python3 skips instead of panicking.
    Command::new("python3").args(["-c", "pass"]).output().ok()?;
    Some(AllocChild::spawn_with(&mut cmd))
}

/// `tail -f main.py` in the checkout: names ComfyUI's main.py, is not Python.
/// Ended (it is this test's own child) when dropped, whatever the test's outcome.
struct Tail(Child);

impl Tail {
    fn spawn(file: &Path) -> Self {
        Self(
            Command::new("tail")
                .arg("-f")
                .arg(file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tail"),
        )
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn no_comfyui_running() -> bool {
    let out = memwarden(&["trim", "--auto"]);
    out.status.code() == Some(8) && stderr(&out).contains("no ComfyUI process")
}

fn auto_picks_the_python_server_and_nothing_else(ctx: &mut Ctx) {
    if !no_comfyui_running() {
        skip!(ctx, "a ComfyUI process already runs on this machine");
    }
    let checkout = Checkout::new("one");
    let _decoy_tail = Tail::spawn(&checkout.0.join("main.py"));
    // Python running a main.py in a directory that is no checkout.
    let plain = Checkout::new("plain");
    std::fs::remove_dir_all(plain.0.join("comfy")).unwrap();
    let Some(decoy_py) = python_main(&plain.0) else {
        skip!(ctx, "python3 is not available");
    };
    // A custom node's own main.py inside a tree named ComfyUI: its directory can be
    // examined and is no checkout, so the name does not count.
    let named = Checkout::new("named");
    let custom = named.0.join("ComfyUI").join("custom_nodes").join("foo");
    std::fs::create_dir_all(&custom).unwrap();
    std::fs::write(custom.join("main.py"), MAIN_PY).unwrap();
    let _decoy_custom = python_main(&custom).unwrap();
    let out = memwarden(&["trim", "--auto"]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "only decoys run: {}",
        stderr(&out)
    );

    let server = python_main(&checkout.0).unwrap();
    // MADV_COLD needs no swap; advising another process needs CAP_SYS_NICE.
    let out = memwarden(&["trim", "--auto", "--cold", "--json"]);
    if !is_root() {
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        skip!(
            ctx,
            "advising another process needs CAP_SYS_NICE (not root)"
        );
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["pid"], server.pid, "{v}");
    assert_ne!(v["pid"], decoy_py.pid);
    // The interpreter may be a shim's target (pyenv): its path varies, the rest not.
    let cmdline = v["cmdline"].as_str().unwrap().to_owned();
    assert!(cmdline.ends_with("python3 main.py --listen"), "{cmdline}");

    // A swap check refusal says which process --auto chose.
    let out = memwarden(&["trim", "--auto", "--min-swap-free", "100T"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains(&format!("--auto chose PID {} ({cmdline})", server.pid)),
        "{e}"
    );
    let out = memwarden(&["trim", "--auto", "--min-swap-free", "100T", "--json"]);
    let v = json(&out);
    assert_eq!(v["kind"], "swap_refused");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains(&server.pid.to_string()),
        "{v}"
    );

    // Two servers: refused with both listed.
    let second_dir = Checkout::new("two");
    let second = python_main(&second_dir.0).unwrap();
    let out = memwarden(&["trim", "--auto"]);
    assert_eq!(out.status.code(), Some(8));
    let e = stderr(&out);
    assert!(
        e.contains("found 2")
            && e.contains(&server.pid.to_string())
            && e.contains(&second.pid.to_string())
            // Each listed with the main.py it runs, so they can be told apart.
            && e.contains(&checkout.0.join("main.py").display().to_string())
            && e.contains(&second_dir.0.join("main.py").display().to_string()),
        "{e}"
    );
}

/// The pure matcher agrees with the live search on a path that names ComfyUI.
fn auto_accepts_an_absolute_comfyui_path(ctx: &mut Ctx) {
    if !no_comfyui_running() {
        skip!(ctx, "a ComfyUI process already runs on this machine");
    }
    let checkout = Checkout::new("abs");
    let mut child = match Command::new("python3")
        .arg(checkout.0.join("main.py"))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => skip!(ctx, "python3 is not available: {e}"),
    };
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let out = memwarden(&["trim", "--auto", "--min-swap-free", "100T", "--json"]);
    let v = json(&out);
    let msg = v["error"].as_str().unwrap_or_default().to_owned();
    let _ = writeln!(child.stdin.as_mut().unwrap(), "exit");
    let _ = child.wait();
    if !is_root() {
        assert_eq!(v["kind"], "permission_denied", "{v}");
        skip!(
            ctx,
            "paging out another process needs CAP_SYS_NICE (not root)"
        );
    }
    assert_eq!(v["kind"], "swap_refused", "{v}");
    assert!(
        msg.contains(&format!("--auto chose PID {}", child.id())),
        "{msg}"
    );
}

test_main!(
    auto_picks_the_python_server_and_nothing_else,
    auto_accepts_an_absolute_comfyui_path,
);
