//! What the Windows integration tests of the core and the CLI share (the CLI's
//! tests include this file by path):
//! - their child process: the test binary started again as its ignored
//!   `child_process` test, which allocates and touches a known amount of memory,
//!   says "ready" on stdout, and waits for stdin to close. Each test binary keeps
//!   its own `child_process` test calling [`run_child`];
//! - the check of a trim's privileges step.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

/// Tells the re-started test binary that it is the child, and how many MiB to touch.
const ENV: &str = "MEMWARDEN_TEST_CHILD_MIB";

/// The body of `child_process`: nothing unless started by [`Toucher::start`].
pub fn run_child() {
    let Some(mib) = std::env::var(ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let mut block = vec![0u8; mib << 20];
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    println!("ready {}", block.len());
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    std::hint::black_box(&block);
}

/// `cmd` started. Wine's CreateProcess now and then fails with ERROR_INTERNAL_ERROR
/// (1359) when the machine is loaded (seen once in a CI run, never on Windows):
/// that one error is tried again, up to three times, and said on stderr.
fn spawn(cmd: &mut Command) -> Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Ok(child) => return child,
            Err(e) if e.raw_os_error() == Some(1359) && tries < 3 => {
                tries += 1;
                eprintln!("spawning the child failed ({e}); trying again ({tries} of 3)");
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(e) => panic!("spawning {cmd:?}: {e}"),
        }
    }
}

/// The child, killed when dropped.
pub struct Toucher {
    child: Child,
    _stdin: ChildStdin,
}

impl Toucher {
    /// Start the child touching `mib` MiB and wait until it has.
    pub fn start(mib: u64) -> Self {
        Self::start_as(mib, &std::env::current_exe().unwrap(), &[], None)
    }

    /// The same child, started as `program` (a copy of this test binary) with
    /// `first` before its own arguments (the test harness takes them as more
    /// names of tests to run, which match none), in `dir` if given.
    pub fn start_as(mib: u64, program: &Path, first: &[&str], dir: Option<&Path>) -> Self {
        let mut cmd = Command::new(program);
        cmd.args(first)
            .args(["child_process", "--exact", "--ignored", "--nocapture"])
            .env(ENV, mib.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        let mut child = spawn(&mut cmd);
        let stdin = child.stdin.take().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        for line in out.lines() {
            if line.unwrap().starts_with("ready") {
                return Self {
                    child,
                    _stdin: stdin,
                };
            }
        }
        let _ = child.wait();
        panic!("the child exited before it was ready");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kill the child and reap it, keeping its handle open: the process object
    /// lives on, exited.
    pub fn end(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Toucher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A trim's privileges step names the three privileges a memory cleaner asks for,
/// each YES or NO as the token holds it (Wine's token is an administrator's; on
/// Windows it depends on elevation).
pub fn assert_names_each_privilege(detail: &str) {
    for name in [
        "SeIncreaseQuotaPrivilege",
        "SeProfileSingleProcessPrivilege",
        "SeDebugPrivilege",
    ] {
        assert!(
            detail.contains(&format!("{name}=YES")) || detail.contains(&format!("{name}=NO")),
            "{detail}"
        );
    }
}
