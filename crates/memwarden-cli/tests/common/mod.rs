//! Shared fixtures for the integration tests: the real `memwarden` binary, a child
//! process with a known allocation, a swap file, a cgroup v1 memory group.
//! A fixture that cannot exist on this machine makes the test print why it
//! skipped and return; it never fakes the thing it stands for.

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

/// Print why a test skipped and return. Written to stderr directly, not through
/// `eprintln!`, so libtest's output capture cannot hide it.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED {}: {}", module_path!(), format!($($arg)*));
        return;
    }};
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
    let f = File::create("/tmp/memwarden-swap.lock").unwrap();
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

/// `swap_or_skip!(MIB)`: a swap file of MIB MiB for this test (holding the swap
/// lock), or skip the test saying why swap cannot be enabled here.
#[macro_export]
macro_rules! swap_or_skip {
    ($mib:expr) => {
        match $crate::common::SwapFile::create($crate::common::swap_lock(), $mib) {
            Ok(s) => s,
            Err(e) => $crate::skip!("cannot enable a swap file here: {e}"),
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
