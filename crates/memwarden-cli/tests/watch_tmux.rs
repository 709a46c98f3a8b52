//! `memwarden watch` in a real terminal: tmux runs the binary in a detached
//! session of a set size, `send-keys` types, `capture-pane` reads the screen
//! (`-e` with its colour escapes). Every wait polls the screen until a condition
//! holds, with a generous deadline; nothing is timed.

// Linux only (its fixtures are /proc and a tmux server): on other targets this
// binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use memwarden_core::units::format_bytes;

/// How long a condition on the screen may take to appear (a loaded machine, a
/// debug build): far beyond what it needs, never a measurement.
const DEADLINE: Duration = Duration::from_secs(60);

/// A tmux server of our own (its socket in a private directory) running one
/// session, `memwarden watch ...`, whose exit status lands in a file.
struct Tmux {
    dir: PathBuf,
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// tmux's version line, or why it cannot run.
fn tmux_available() -> Result<String, String> {
    match Command::new("tmux").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().into()),
        Ok(o) => Err(format!("`tmux -V` failed: {}", stderr(&o))),
        Err(e) => Err(format!(
            "tmux is not installed (Debian package tmux): cannot run `tmux -V`: {e}"
        )),
    }
}

/// `skip!` unless tmux runs here.
macro_rules! tmux_or_skip {
    ($ctx:expr) => {
        if let Err(why) = tmux_available() {
            skip!($ctx, "{why}");
        }
    };
}

impl Tmux {
    /// Start `env ENV memwarden watch ARGS` in a `w`x`h` terminal. `env` entries
    /// are `NAME=value` or `-u NAME`.
    fn start(w: u16, h: u16, env: &[&str], args: &[&str]) -> Tmux {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "memwarden-watch-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = Tmux { dir };
        let mut cmd = vec!["env".to_string()];
        cmd.extend(env.iter().map(|e| {
            e.strip_prefix("-u ")
                .map_or_else(|| sh_quote(e), |n| format!("-u {}", sh_quote(n)))
        }));
        cmd.push(sh_quote(bin()));
        cmd.push("watch".into());
        cmd.extend(args.iter().map(|a| sh_quote(a)));
        // A line on the main screen before, the terminal's modes and the exit
        // status after; then the pane stays open to be looked at.
        let file = |name: &str| sh_quote(t.dir.join(name).to_str().unwrap());
        let script = format!(
            "echo before-watch; {}; rc=$?; stty -a > {}; echo $rc > {}; exec sleep 600",
            cmd.join(" "),
            file("stty"),
            file("rc"),
        );
        let out = t
            .tmux()
            .args(["new-session", "-d", "-s", "w", "-x", &w.to_string()])
            .args(["-y", &h.to_string(), &script])
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux new-session: {}", stderr(&out));
        t
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        // No user configuration; our own server; not nested in the caller's tmux.
        c.arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(self.dir.join("socket"))
            .env_remove("TMUX");
        c
    }

    fn run(&self, args: &[&str]) {
        let out = self.tmux().args(args).output().expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", stderr(&out));
    }

    /// The screen, with its colour and attribute escapes when `escapes`.
    fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", "w"];
        if escapes {
            args.push("-e");
        }
        let out = self.tmux().args(&args).output().expect("run tmux");
        // The session is gone once watch has exited: an empty screen.
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "w"];
        args.extend(keys);
        self.run(&args);
    }

    fn resize(&self, w: u16, h: u16) {
        self.run(&[
            "resize-window",
            "-t",
            "w",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
    }

    /// Poll the screen until `cond` holds on it; the screen it held on.
    fn wait_for(&self, what: &str, escapes: bool, cond: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture(escapes);
            if cond(&screen) {
                return screen;
            }
            if let Some(rc) = self.exit_code() {
                panic!("watch exited ({rc}) before the screen showed {what}:\n{screen}");
            }
            assert!(
                start.elapsed() < DEADLINE,
                "the screen never showed {what} within {DEADLINE:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A tmux format's value for the pane (`#{alternate_on}`...).
    fn format(&self, f: &str) -> String {
        let out = self
            .tmux()
            .args(["display-message", "-p", "-t", "w", f])
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux display-message: {}",
            stderr(&out)
        );
        stdout(&out).trim().to_string()
    }

    /// After watch has exited: the terminal is as it was before. The main screen
    /// is back (with the line printed before watch, not the view), the cursor
    /// shows, and the line discipline is cooked again (canonical mode, echo).
    fn assert_restored(&self) {
        assert_eq!(
            self.format("#{alternate_on}"),
            "0",
            "still on the alternate screen"
        );
        assert_eq!(self.format("#{cursor_flag}"), "1", "the cursor is hidden");
        let screen = self.capture(false);
        assert!(screen.contains("before-watch"), "{screen}");
        assert!(!screen.contains("COMMAND"), "{screen}");
        let stty = std::fs::read_to_string(self.dir.join("stty")).unwrap();
        let modes: Vec<&str> = stty.split([' ', ';', '\n']).collect();
        for mode in ["icanon", "echo", "isig", "icrnl", "opost"] {
            assert!(modes.contains(&mode), "{mode} not restored: {stty}");
        }
    }

    /// watch's exit status, once it has exited.
    fn exit_code(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.join("rc")).ok()?;
        text.trim().parse().ok()
    }

    /// Wait for watch to exit; its status.
    fn wait_exit(&self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(rc) = self.exit_code() {
                return rc;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "watch did not exit within {DEADLINE:?}; screen:\n{}",
                self.capture(false)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

/// MemTotal of /proc/meminfo in bytes.
fn mem_total() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("MemTotal in /proc/meminfo");
    kib * 1024
}

/// The PIDs of the process list, top to bottom (the rows under the header).
fn listed_pids(screen: &str) -> Vec<u32> {
    screen
        .lines()
        .skip_while(|l| !l.contains("COMMAND"))
        .skip(1)
        .map_while(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn is_sorted_by(pids: &[u32], descending: bool) -> bool {
    pids.len() >= 2
        && pids
            .windows(2)
            .all(|w| if descending { w[0] > w[1] } else { w[0] < w[1] })
}

/// Whether the parameters of one SGR escape (`1;38;5;6` of `ESC[1;38;5;6m`) set
/// a colour: 30-38 and 90-97 (foreground), 40-48 and 100-107 (background). 39
/// and 49 (default colour), bold and reverse video are not colours.
fn sgr_sets_colour(params: &str) -> bool {
    // The numbers after 38 or 48 (5;N, 2;R;G;B) may look like codes, but 38 and 48
    // are colours themselves, so they never decide the answer.
    params.split(';').any(|p| {
        matches!(
            p.parse::<u32>(),
            Ok(30..=38 | 40..=48 | 90..=97 | 100..=107)
        )
    })
}

/// Whether any SGR escape on the screen sets a colour.
fn has_colour(screen: &str) -> bool {
    screen.split("\x1b[").skip(1).any(|seq| {
        let end = seq
            .find(|c: char| !c.is_ascii_digit() && c != ';')
            .unwrap_or(seq.len());
        seq[end..].starts_with('m') && sgr_sets_colour(&seq[..end])
    })
}

/// The RAM bar shows this machine's MemTotal, and a child allocating 200 MiB is
/// in the process list under its name; `q` quits with status 0.
fn shows_ram_and_a_known_child(ctx: &mut Ctx) {
    tmux_or_skip!(ctx);
    let child = AllocChild::spawn(200);
    let t = Tmux::start(140, 50, &["NO_COLOR=1"], &[]);
    let total = format_bytes(mem_total());
    let screen = t.wait_for("the RAM bar", false, |s| line_with(s, "RAM ").is_some());
    let ram = line_with(&screen, "RAM ").unwrap();
    assert!(
        ram.contains(&format!("/ {total} (")) || ram.contains(&format!("host RAM {total}")),
        "MemTotal {total} not on the RAM line: {ram}"
    );
    let pid = child.pid.to_string();
    let screen = t.wait_for("the alloc_child process", false, |s| {
        s.lines().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some(pid.as_str()) && w.next() == Some("alloc_child")
        })
    });
    let row = screen.lines().find(|l| l.contains("alloc_child")).unwrap();
    assert!(
        row.contains(" 200"),
        "the child's 200 MiB not in its row: {row}"
    );
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);
    t.assert_restored();
}

/// Sort keys move the marker to their column and reorder the list; pressing
/// one again reverses it.
fn sort_keys_reorder_the_list(ctx: &mut Ctx) {
    tmux_or_skip!(ctx);
    let t = Tmux::start(120, 40, &["NO_COLOR=1"], &[]);
    t.wait_for("RSS sorted largest first", false, |s| {
        s.contains("RSS\u{25bc}")
    });
    t.keys(&["p"]);
    let s = t.wait_for("PID sorted ascending", false, |s| {
        s.contains("PID\u{25b2}") && is_sorted_by(&listed_pids(s), false)
    });
    assert!(!s.contains("RSS\u{25bc}"), "{s}");
    t.keys(&["p"]);
    t.wait_for("PID sorted descending", false, |s| {
        s.contains("PID\u{25bc}") && is_sorted_by(&listed_pids(s), true)
    });
    t.keys(&["c"]);
    t.wait_for("NAME sorted", false, |s| s.contains("NAME\u{25b2}"));
    t.keys(&["s"]);
    t.wait_for("SWAP sorted", false, |s| s.contains("SWAP\u{25bc}"));
    t.keys(&["+"]);
    t.wait_for("a faster refresh", false, |s| s.contains("refresh 0.5s"));
    // Ctrl-C quits too (raw mode: a key, not a signal), with status 0.
    t.keys(&["C-c"]);
    assert_eq!(t.wait_exit(), 0);
    t.assert_restored();
}

/// A terminal below the minimum size gets the one message; back to a good size,
/// the view comes back.
fn a_tiny_terminal_says_so(ctx: &mut Ctx) {
    tmux_or_skip!(ctx);
    let t = Tmux::start(100, 30, &[], &["--interval", "0.5"]);
    t.wait_for("the RAM bar", false, |s| s.contains("RAM "));
    t.resize(40, 6);
    let s = t.wait_for("the too-small message", false, |s| {
        s.contains("terminal too small (40x6), need at least")
    });
    assert!(!s.contains("RAM "), "{s}");
    t.resize(100, 30);
    t.wait_for("the view again", false, |s| {
        s.contains("RAM ") && s.contains("COMMAND")
    });
    t.keys(&["Escape"]);
    assert_eq!(t.wait_exit(), 0);
    t.assert_restored();
}

/// The range of the list shown, `(first, last, total)` from `PROCESSES  2-6 of 21`.
fn list_range(screen: &str) -> Option<(usize, usize, usize)> {
    let line = line_with(screen, "PROCESSES")?;
    let mut w = line.split_whitespace().skip(1);
    let (first, last) = w.next()?.split_once('-')?;
    let total = w.nth(1)?;
    Some((first.parse().ok()?, last.parse().ok()?, total.parse().ok()?))
}

/// Arrows, PgDn, End and Home move the window over a list longer than the screen.
fn keys_scroll_the_list(ctx: &mut Ctx) {
    tmux_or_skip!(ctx);
    // Idle children, so that the list is longer than the screen anywhere.
    let _sleepers = Sleepers(
        (0..12)
            .map(|_| {
                Command::new("sleep")
                    .arg("600")
                    .spawn()
                    .expect("spawn sleep")
            })
            .collect(),
    );
    let t = Tmux::start(100, 16, &["NO_COLOR=1"], &[]);
    let s = t.wait_for("the list", false, |s| list_range(s).is_some());
    let (first, page, total) = list_range(&s).unwrap();
    assert_eq!(first, 1, "{s}");
    assert!(page < total, "the list fits the screen: {s}");
    t.keys(&["Down"]);
    t.wait_for("the list from its 2nd row", false, |s| {
        list_range(s).is_some_and(|r| r.0 == 2)
    });
    t.keys(&["End"]);
    let s = t.wait_for("the end of the list", false, |s| {
        list_range(s).is_some_and(|(f, l, n)| l == n && f > 1)
    });
    let (first, last, _) = list_range(&s).unwrap();
    assert_eq!(last + 1 - first, page, "the last page is full: {s}");
    t.keys(&["Home"]);
    t.wait_for("the top of the list", false, |s| {
        list_range(s).is_some_and(|r| r.0 == 1)
    });
    t.keys(&["NPage"]);
    t.wait_for("the next page", false, |s| {
        list_range(s).is_some_and(|(f, l, n)| f == 1 + page || l == n)
    });
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);
}

/// Child processes of a test, stopped (by their own handles) when it ends.
struct Sleepers(Vec<std::process::Child>);

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// NO_COLOR=1 and --no-color: no colour escapes on the screen; without them
/// (and with NO_COLOR empty, which no-color.org says to ignore), colours.
fn no_color_has_no_colour_escapes(ctx: &mut Ctx) {
    tmux_or_skip!(ctx);
    let cases: [(&[&str], &[&str], bool); 4] = [
        (&["NO_COLOR=1"], &[], false),
        (&["-u NO_COLOR"], &["--no-color"], false),
        (&["-u NO_COLOR"], &[], true),
        (&["NO_COLOR="], &[], true),
    ];
    for (env, args, coloured) in cases {
        let t = Tmux::start(100, 30, env, args);
        let s = t.wait_for("the process list", true, |s| s.contains("COMMAND"));
        // Reverse video marks the list's header either way.
        assert!(
            s.contains("\x1b["),
            "no escapes at all with {env:?} {args:?}"
        );
        if coloured {
            t.wait_for("colours", true, has_colour);
        } else {
            assert!(!has_colour(&s), "colour with {env:?} {args:?}:\n{s:?}");
        }
        t.keys(&["q"]);
        assert_eq!(t.wait_exit(), 0, "{env:?} {args:?}");
    }
}

/// Without a terminal, watch refuses at once (exit 2) and says what to use.
fn refuses_without_a_terminal() {
    let out = memwarden(&["watch"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        "memwarden: error: invalid input: standard output is not a terminal: memwarden watch \
         needs one; use `memwarden status` or `memwarden check --json`"
    );
    assert!(stdout(&out).is_empty());
}

/// A refresh interval of 0, below 0, NaN or not a number is a usage error.
fn refuses_bad_intervals() {
    for (arg, says) in [
        ("0", "more than 0 seconds, not 0"),
        ("-2", "more than 0 seconds, not -2"),
        ("NaN", "'NaN' is not a finite number of seconds"),
        ("soon", "'soon' is not a number of seconds"),
        ("0.01", "between 0.1 and 3600 seconds"),
    ] {
        let out = memwarden(&["watch", "--interval", arg]);
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{arg}: {}", stderr(&out));
    }
    let out = memwarden(&["watch", "--sort", "cpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("[possible values: memory, pid, command, swap]"));
}

/// The colour check itself, on known escape sequences.
fn colour_escapes_are_told_apart() {
    assert!(has_colour("\x1b[38;5;6mx"));
    assert!(has_colour("\x1b[1;31mx"));
    assert!(has_colour("\x1b[44mx"));
    assert!(!has_colour("\x1b[7mx\x1b[0m"));
    assert!(!has_colour("\x1b[1m\x1b[39m\x1b[49mx"));
    assert!(!has_colour("plain"));
    assert!(!has_colour("\x1b[2J\x1b[31;1Hx"), "not SGR");
}

test_main!(
    shows_ram_and_a_known_child,
    sort_keys_reorder_the_list,
    a_tiny_terminal_says_so,
    keys_scroll_the_list,
    no_color_has_no_colour_escapes,
    refuses_without_a_terminal,
    refuses_bad_intervals,
    colour_escapes_are_told_apart,
);
