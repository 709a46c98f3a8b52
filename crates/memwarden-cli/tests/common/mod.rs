//! Shared fixtures for the integration tests: the real `memwarden` binary, a child
//! process with a known allocation, a swap file, a cgroup v1 memory group.
//! A fixture that cannot exist on this machine makes the test skip, saying why; it
//! never fakes the thing it stands for.
//!
//! # Tests that can skip
//!
//! A skipped test is reported as *ignored*, with its reason, never as passed:
//! `test trim_x ... ignored (swapon needs root)` and `test result: ok. 5 passed;
//! 0 failed; 2 ignored; ...`. libtest cannot ignore a test once it has started, so
//! a test binary whose tests may skip runs on [`test_main!`] (libtest-mimic)
//! instead:
//!
//! 1. declare it in crates/memwarden-cli/Cargo.toml with `harness = false`:
//!    `[[test]] name = "my_tests" harness = false`;
//! 2. write its tests as plain functions, without `#[test]`; one that may skip takes
//!    `ctx: &mut Ctx` and calls `skip!(ctx, "why, {}", detail)` (or a fixture macro
//!    such as `swap_or_skip!(ctx, MIB)`), which returns from the test;
//! 3. end the file with one line naming every test: `test_main!(a_test, other_test,
//!    a_module::third_test);` (a `#[cfg(...)]` may stand before a name).
//!
//! A test function left out of `test_main!` is dead code, which clippy rejects, and
//! `skip!` needs a `Ctx`, so a skip cannot compile in a libtest `#[test]`. Files
//! whose tests never skip stay on libtest (`#[test]`, no Cargo.toml entry). With
//! MEMWARDEN_TEST_SKIP_LOG set to a file, every skip also appends a line
//! `binary::test: reason` to it: scripts/test lists them at its end.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

pub const MIB: u64 = 1 << 20;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_memwarden")
}

// Why libtest-mimic 0.8: its `Trial::ignorable_test` decides "ignored, with a
// reason" while the test runs, and it keeps libtest's command line (filter,
// `--exact`, `--skip`, `--list`, `--test-threads`, `--nocapture`, `-q`, `--format`)
// and its closing line `test result: ok. N passed; N failed; N ignored; N measured;
// N filtered out; finished in Xs`, which CI reads. libtest2-mimic 0.0.4 was the
// other candidate: its closing line lacks `N measured`, it rejects `--nocapture`
// and it prints no reason beside "ignored". Like every custom harness,
// libtest-mimic cannot capture a test's output, so what a test prints is shown.

/// What a test that may skip is handed; see [`skip!`].
pub struct Ctx {
    skipped: Option<String>,
}

impl Ctx {
    /// Record that the test skips, and why. Use [`skip!`], which also returns.
    pub fn skip(&mut self, reason: String) {
        // One line however the reason was built (a command's stderr, say).
        let one_line: Vec<&str> = reason
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        self.skipped = Some(one_line.join(" / "));
    }
}

/// `skip!(ctx, "format", args...)`: end this test as ignored, saying why.
#[macro_export]
macro_rules! skip {
    ($ctx:expr, $($arg:tt)+) => {{
        $crate::common::Ctx::skip($ctx, format!($($arg)+));
        return;
    }};
}

/// A test function: `fn()` for one that always runs, `fn(&mut Ctx)` for one that
/// may skip. `M` only tells the two impls apart.
pub trait TestFn<M>: Send + 'static {
    fn call(self, ctx: &mut Ctx);
}

impl<F: FnOnce() + Send + 'static> TestFn<()> for F {
    fn call(self, _: &mut Ctx) {
        self()
    }
}

impl<F: FnOnce(&mut Ctx) + Send + 'static> TestFn<Ctx> for F {
    fn call(self, ctx: &mut Ctx) {
        self(ctx)
    }
}

/// One test for [`run_tests`], named as libtest names it (`module::function`).
pub fn trial<M>(path: &[&str], test: impl TestFn<M>) -> libtest_mimic::Trial {
    let name = path.join("::");
    libtest_mimic::Trial::ignorable_test(name.clone(), move || {
        // In a thread named after the test, as libtest runs each test, so that a
        // panic message names the test that failed.
        let run = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let mut ctx = Ctx { skipped: None };
                test.call(&mut ctx);
                ctx.skipped
            })
            .expect("spawn the test's thread");
        match run.join() {
            Ok(None) => Ok(libtest_mimic::Completion::Completed),
            Ok(Some(reason)) => {
                log_skip(&name, &reason);
                Ok(libtest_mimic::Completion::ignored_with(reason))
            }
            // The panic was printed already; the harness reports it as a failure.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Append `binary::test: reason` to $MEMWARDEN_TEST_SKIP_LOG, when it is set.
fn log_skip(name: &str, reason: &str) {
    let Some(path) = std::env::var_os("MEMWARDEN_TEST_SKIP_LOG").filter(|p| !p.is_empty()) else {
        return;
    };
    let line = format!("{}::{name}: {reason}\n", env!("CARGO_CRATE_NAME"));
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("cannot record a skip in {}: {e}", path.to_string_lossy());
    }
}

/// Run the trials as libtest would (sorted by name, libtest's arguments) and exit.
pub fn run_tests(mut trials: Vec<libtest_mimic::Trial>) -> ! {
    // Accept what libtest accepts beyond libtest-mimic's parser: the newer spelling
    // `--no-capture` and RUST_TEST_THREADS.
    let argv = std::env::args_os().map(|a| {
        if a == "--no-capture" {
            "--nocapture".into()
        } else {
            a
        }
    });
    let mut args = libtest_mimic::Arguments::from_iter(argv);
    if args.test_threads.is_none() {
        args.test_threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|n| n.parse().ok());
    }
    trials.sort_by(|a, b| a.name().cmp(b.name()));
    libtest_mimic::run(&args, trials).exit()
}

/// `test_main!(test_a, test_b, module::test_c);`: the `main` of a `harness = false`
/// test binary, running those functions (see the module's documentation).
#[macro_export]
macro_rules! test_main {
    ($($(#[$attr:meta])* $($seg:ident)::+),* $(,)?) => {
        // Under libtest this `main` would never run, and neither would the tests:
        // then this one runs instead, and fails. Without libtest it does not exist.
        #[test]
        fn test_main_needs_harness_false() {
            panic!("this test binary uses test_main!: give it `harness = false` in Cargo.toml");
        }

        // One push per test, so that a `#[cfg]` can stand before any of them.
        #[allow(unused_mut, clippy::vec_init_then_push)]
        fn main() {
            let mut trials = ::std::vec::Vec::new();
            $(
                $(#[$attr])*
                trials.push($crate::common::trial(&[$(stringify!($seg)),+], $($seg)::+));
            )*
            $crate::common::run_tests(trials)
        }
    };
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn memwarden(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run memwarden")
}

/// `memwarden trim --pid PID --json`, then `extra`.
pub fn trim_json(pid: u32, extra: &[&str]) -> Output {
    let pid = pid.to_string();
    let mut args = vec!["trim", "--pid", &pid, "--json"];
    args.extend_from_slice(extra);
    memwarden(&args)
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The `name` of each entry of a report's `steps`, in order.
pub fn step_names(report: &serde_json::Value) -> Vec<&str> {
    report["steps"]
        .as_array()
        .expect("a report with steps")
        .iter()
        .map(|s| s["name"].as_str().expect("a step name"))
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// target/<profile>/examples/alloc_child, built by `cargo test` with the examples.
pub fn alloc_child_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // deps/ -> target/<profile>/
    let p = dir.join("examples").join("alloc_child");
    assert!(
        p.exists(),
        "{} missing: run the tests with `cargo test` (it builds examples)",
        p.display()
    );
    p
}

/// A child process holding a known amount of memory (see examples/alloc_child.rs).
pub struct AllocChild {
    pub child: Child,
    pub pid: u32,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl AllocChild {
    pub fn spawn(mib: u64) -> Self {
        Self::spawn_with(Command::new(alloc_child_path()).arg(mib.to_string()))
    }

    pub fn spawn_with(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn alloc_child");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let pid: u32 = line
            .trim()
            .strip_prefix("ready ")
            .expect("ready line")
            .parse()
            .unwrap();
        assert_eq!(pid, child.id());
        Self {
            child,
            pid,
            stdin,
            stdout,
        }
    }

    pub fn command(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ok");
    }

    /// (VmRSS, RssAnon, VmSwap) in bytes, read straight from /proc.
    pub fn status(&self) -> (u64, u64, u64) {
        proc_status(self.pid)
    }
}

impl Drop for AllocChild {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "exit");
        let _ = self.child.wait();
    }
}

pub fn proc_status(pid: u32) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let get = |k: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (get("VmRSS:"), get("RssAnon:"), get("VmSwap:"))
}

/// Exclusive lock shared by every test and benchmark that adds swap or depends on
/// there being none (/tmp/memwarden-swap.lock, the same one bench/pageout.sh takes).
pub struct SwapLock(File);

pub fn swap_lock() -> SwapLock {
    const PATH: &str = "/tmp/memwarden-swap.lock";
    // flock needs no write access: another user's lock file is opened read-only.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(PATH)
        .or_else(|_| File::open(PATH))
        .unwrap_or_else(|e| panic!("open {PATH}: {e}"));
    // SAFETY: a valid fd; LOCK_EX blocks until we hold the lock.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    SwapLock(f)
}

pub fn system_swap_total() -> u64 {
    let t = std::fs::read_to_string("/proc/meminfo").unwrap();
    t.lines()
        .find_map(|l| l.strip_prefix("SwapTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// `swap_or_skip!(ctx, MIB)`: a swap file of MIB MiB for this test (holding the
/// swap lock), or skip the test saying why swap cannot be enabled here.
#[macro_export]
macro_rules! swap_or_skip {
    ($ctx:expr, $mib:expr) => {
        match $crate::common::SwapFile::create($crate::common::swap_lock(), $mib) {
            Ok(s) => s,
            Err(e) => $crate::skip!($ctx, "cannot enable a swap file here: {e}"),
        }
    };
}

/// A swap file enabled for the duration of a test; swapoff and removed on drop.
pub struct SwapFile {
    path: PathBuf,
    _lock: SwapLock,
}

impl SwapFile {
    /// Err(reason) when swap cannot be enabled here (not root, container, fs).
    pub fn create(lock: SwapLock, mib: u64) -> Result<Self, String> {
        if !is_root() {
            return Err("swapon needs root".into());
        }
        let path = PathBuf::from(format!(
            "/var/tmp/memwarden-test-{}.swap",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let run = |c: &mut Command| -> Result<(), String> {
            let o = c.output().map_err(|e| format!("{c:?}: {e}"))?;
            if o.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{c:?}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
        };
        let file = Self {
            path: path.clone(),
            _lock: lock,
        };
        run(Command::new("dd").args([
            "if=/dev/zero",
            &format!("of={}", path.display()),
            "bs=1M",
            &format!("count={mib}"),
            "status=none",
        ]))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        run(Command::new("mkswap").arg(&path))?;
        run(Command::new("swapon").arg(&path))?;
        Ok(file)
    }
}

impl Drop for SwapFile {
    fn drop(&mut self) {
        let _ = Command::new("swapoff").arg(&self.path).status();
        let _ = std::fs::remove_file(&self.path);
    }
}

pub const V1_MEMORY: &str = "/sys/fs/cgroup/memory";

/// A cgroup v1 memory group (optionally with a child group), removed on drop.
pub struct V1Group {
    pub dir: PathBuf,
}

impl V1Group {
    pub fn create(parent: &Path, name: &str) -> Result<Self, String> {
        if !is_root() {
            return Err("creating cgroups needs root".into());
        }
        if !Path::new(V1_MEMORY).join("memory.limit_in_bytes").exists() {
            return Err(format!("no cgroup v1 memory hierarchy at {V1_MEMORY}"));
        }
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        Ok(Self { dir })
    }

    pub fn set(&self, file: &str, value: &str) {
        std::fs::write(self.dir.join(file), value)
            .unwrap_or_else(|e| panic!("write {file}={value}: {e}"));
    }

    /// A shell command prefix that moves the shell into this group, then execs.
    pub fn enter_and_exec(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec \"$0\" \"$@\"",
                self.dir.display()
            ))
            .arg(program)
            .args(args);
        c
    }
}

impl Drop for V1Group {
    fn drop(&mut self) {
        // Processes must have left; retry briefly while exiting children are reaped.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("warning: could not remove {}", self.dir.display());
    }
}
