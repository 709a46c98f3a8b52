//! Privilege and kernel-interface fixtures shared by the newer test binaries, beside
//! `common`: running a program as an unprivileged user, seccomp filters that make
//! the kernel itself answer a syscall with an errno (or hand it to a supervisor),
//! and resource limits. Everything here is the real kernel mechanism, never a mock.

#![allow(dead_code)] // each test binary uses a different subset

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The unprivileged user and group the tests run things as (`nobody`/`nogroup`).
pub const NOBODY: u32 = 65534;

/// Syscall numbers: the same in the x86_64 table and the generic one (aarch64).
pub const SYS_PIDFD_OPEN: u32 = 434;
pub const SYS_PROCESS_MADVISE: u32 = 440;

#[cfg(target_arch = "x86_64")]
pub const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
pub const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Is `program` on PATH?
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// `setpriv` running `program` as uid/gid 65534 with no supplementary groups, no
/// inheritable capabilities and, unless `keep_bounding`, an empty bounding set (so
/// not even a file capability could raise it). Err(reason) without setpriv.
pub fn as_nobody(program: &Path, keep_bounding: bool) -> Result<Command, String> {
    let setpriv = on_path("setpriv").ok_or("setpriv (util-linux) is not installed")?;
    let mut c = Command::new(setpriv);
    c.args([
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".into(),
        "--inh-caps=-all".into(),
    ]);
    if !keep_bounding {
        c.arg("--bounding-set=-all");
    }
    c.arg(program);
    Ok(c)
}

/// A field of /proc/PID/status (`key` without the colon), trimmed.
pub fn status_field(pid: u32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

/// `program` run without privilege: as uid 65534 through [`as_nobody`] (empty
/// bounding set) when we are root, else as ourselves (a non-root user, whose exec
/// of a binary without file capabilities leaves no capability).
pub fn unprivileged(program: &Path) -> Result<Command, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        as_nobody(program, false)
    } else {
        Ok(Command::new(program))
    }
}

/// Assert that `pid` runs as a user other than root with no capability at all.
pub fn assert_unprivileged(pid: u32) {
    let uid = status_field(pid, "Uid");
    assert!(uid.split_whitespace().all(|u| u != "0"), "Uid: {uid}");
    for cap in ["CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(
            u64::from_str_radix(&status_field(pid, cap), 16).unwrap(),
            0,
            "{cap} of PID {pid}"
        );
    }
}

/// A seccomp program: syscalls `nrs` get `action` (e.g. `SECCOMP_RET_ERRNO | errno`,
/// or `SECCOMP_RET_USER_NOTIF`), everything else is allowed. Build it before
/// spawning: [`install`] runs in `pre_exec`, where nothing may allocate.
pub fn filter(nrs: &[u32], action: u32) -> Vec<libc::sock_filter> {
    let ins = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let n = nrs.len();
    let mut f = vec![
        ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 4), // arch
        ins(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            1,
            0,
            AUDIT_ARCH,
        ),
        ins(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0), // nr
    ];
    for (i, &nr) in nrs.iter().enumerate() {
        // Match: jump over the remaining tests and the ALLOW to the action.
        f.push(ins(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            (n - i) as u8,
            0,
            nr,
        ));
    }
    f.push(ins(
        libc::BPF_RET | libc::BPF_K,
        0,
        0,
        libc::SECCOMP_RET_ALLOW,
    ));
    f.push(ins(libc::BPF_RET | libc::BPF_K, 0, 0, action));
    f
}

/// Install `prog` on the calling thread with no_new_privs (seccomp(2) `flags`);
/// returns what seccomp returns (the listener fd with NEW_LISTENER). For
/// `pre_exec`: no allocation.
///
/// # Safety
/// Call it in a `pre_exec` closure (or a thread that may be filtered for good).
pub unsafe fn install(prog: &[libc::sock_filter], flags: libc::c_ulong) -> io::Result<i32> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut _,
    };
    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
        return Err(io::Error::last_os_error());
    }
    let r = libc::syscall(
        libc::SYS_seccomp,
        libc::SECCOMP_SET_MODE_FILTER,
        flags,
        &fprog as *const libc::sock_fprog,
    );
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as i32)
}

/// Make `nrs` answer `errno` in the process `cmd` starts (and its descendants),
/// as a kernel without them (ENOSYS) or one that fails them does.
pub fn deny_syscalls(cmd: &mut Command, nrs: &[u32], errno: i32) {
    let prog = filter(nrs, libc::SECCOMP_RET_ERRNO | errno as u32);
    // SAFETY: the closure only calls prctl/seccomp on a program built beforehand.
    unsafe {
        cmd.pre_exec(move || install(&prog, 0).map(drop));
    }
}

/// Limit the number of open files of the process `cmd` starts.
pub fn limit_open_files(cmd: &mut Command, n: u64) {
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
