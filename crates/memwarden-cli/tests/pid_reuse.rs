//! PID reuse, reproduced for real: memwarden identifies its target, and before it
//! opens the pidfd the target exits and a newcomer gets the very same PID. The
//! start-time check must notice (exit 3) and the newcomer must not be advised.
//!
//! How the race is made deterministic: memwarden runs under a seccomp filter that
//! hands its pidfd_open to this test (SECCOMP_RET_USER_NOTIF). While memwarden
//! waits in that syscall, having read the target's identity, the test ends the
//! target, sets /proc/sys/kernel/ns_last_pid so that the next process gets the
//! target's PID, starts the newcomer, and only then lets the pidfd_open go on
//! (SECCOMP_USER_NOTIF_FLAG_CONTINUE, Linux >= 5.5). All of it inside a fresh PID
//! namespace (`unshare --pid --fork --mount-proc`), where only this test's
//! processes take PIDs: the test binary re-runs itself there.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;
mod support;

use common::*;

/// Set in the re-run inside the new PID namespace.
const INNER: &str = "MEMWARDEN_PID_REUSE_INNER";

fn reused_pid_is_never_advised(ctx: &mut Ctx) {
    if std::env::var_os(INNER).is_some() {
        return inner::run();
    }
    if !is_root() {
        skip!(ctx, "a new PID namespace and ns_last_pid need root");
    }
    let Some(unshare) = support::on_path("unshare") else {
        skip!(ctx, "unshare (util-linux) is not installed");
    };
    let out = std::process::Command::new(unshare)
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "reused_pid_is_never_advised",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER, "1")
        .output()
        .unwrap();
    let (o, e) = (stdout(&out), stderr(&out));
    if !out.status.success() && e.starts_with("unshare:") {
        skip!(ctx, "cannot create a PID namespace here: {e}");
    }
    if e.contains("SKIP-INNER:") {
        skip!(ctx, "{}", e.split("SKIP-INNER:").nth(1).unwrap().trim());
    }
    assert!(
        out.status.success() && o.contains("1 passed"),
        "inside the namespace:\n{o}\n{e}"
    );
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod inner {
    use std::io::{self, Read};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use crate::common::*;
    use crate::support::*;

    /// A connected pair of Unix stream sockets.
    fn socketpair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors the kernel returns.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0, "socketpair: {}", io::Error::last_os_error());
        // SAFETY: two fresh descriptors we now own.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// An SCM_RIGHTS control message carrying one descriptor.
    #[repr(C)]
    struct FdMsg {
        hdr: libc::cmsghdr,
        fd: libc::c_int,
    }

    /// Send `fd` over `sock` (async-signal-safe: for pre_exec).
    unsafe fn send_fd(sock: i32, fd: i32) -> io::Result<()> {
        let mut byte = 0u8;
        let mut iov = libc::iovec {
            iov_base: &mut byte as *mut u8 as *mut libc::c_void,
            iov_len: 1,
        };
        let mut cmsg: FdMsg = std::mem::zeroed();
        cmsg.hdr.cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        cmsg.hdr.cmsg_level = libc::SOL_SOCKET;
        cmsg.hdr.cmsg_type = libc::SCM_RIGHTS;
        cmsg.fd = fd;
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = &mut cmsg as *mut FdMsg as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of::<FdMsg>() as _;
        if libc::sendmsg(sock, &msg, 0) != 1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv_fd(sock: &OwnedFd) -> OwnedFd {
        let mut byte = 0u8;
        let mut iov = libc::iovec {
            iov_base: &mut byte as *mut u8 as *mut libc::c_void,
            iov_len: 1,
        };
        // SAFETY: plain-data structs, filled by recvmsg within their sizes.
        unsafe {
            let mut cmsg: FdMsg = std::mem::zeroed();
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = &mut cmsg as *mut FdMsg as *mut libc::c_void;
            msg.msg_controllen = std::mem::size_of::<FdMsg>() as _;
            let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            assert_eq!(n, 1, "recvmsg: {}", io::Error::last_os_error());
            assert_eq!(cmsg.hdr.cmsg_type, libc::SCM_RIGHTS);
            OwnedFd::from_raw_fd(cmsg.fd)
        }
    }

    /// memwarden `trim --pid PID --cold --json`, its pidfd_open handed to us: the
    /// process and the seccomp listener descriptor.
    fn memwarden_supervised(pid: u32) -> (Child, OwnedFd) {
        let (ours, theirs) = socketpair();
        let prog = filter(&[SYS_PIDFD_OPEN], libc::SECCOMP_RET_USER_NOTIF);
        let sock = theirs.as_raw_fd();
        let mut cmd = Command::new(bin());
        cmd.args(["trim", "--pid", &pid.to_string(), "--cold", "--json"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: only prctl/seccomp/sendmsg/close, on data built before the fork.
        unsafe {
            cmd.pre_exec(move || {
                let listener = install(&prog, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)?;
                send_fd(sock, listener)?;
                libc::close(listener);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn memwarden");
        drop(theirs);
        (child, recv_fd(&ours))
    }

    /// Wait (at most 20 s) for memwarden's pidfd_open; returns the notification id
    /// after checking it asks for `pid`.
    fn await_pidfd_open(listener: &OwnedFd, pid: u32, memwarden: &mut Child) -> u64 {
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 20_000) };
        if ready != 1 || pfd.revents & libc::POLLIN == 0 {
            let _ = memwarden.kill(); // ours, stuck or gone
            let mut err = String::new();
            let _ = memwarden.stderr.take().unwrap().read_to_string(&mut err);
            panic!("memwarden never called pidfd_open: {err}");
        }
        // SAFETY: a zeroed seccomp_notif, as SECCOMP_IOCTL_NOTIF_RECV requires.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV as _,
                &mut req,
            )
        };
        assert_eq!(r, 0, "NOTIF_RECV: {}", io::Error::last_os_error());
        assert_eq!(req.data.nr as u32, SYS_PIDFD_OPEN);
        assert_eq!(req.data.args[0], pid as u64, "pidfd_open of another PID");
        req.id
    }

    /// Let the intercepted syscall run as if nothing had intercepted it.
    fn continue_syscall(listener: &OwnedFd, id: u64) {
        let mut resp = libc::seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        };
        // SAFETY: a valid response for a pending notification.
        let r = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND as _,
                &mut resp,
            )
        };
        assert_eq!(r, 0, "NOTIF_SEND: {}", io::Error::last_os_error());
    }

    /// Start alloc_child with the PID `pid`, just freed (ns_last_pid = pid - 1).
    fn spawn_with_pid(pid: u32) -> AllocChild {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
            .expect("write ns_last_pid");
        let child = AllocChild::spawn(8);
        assert_eq!(child.pid, pid, "the newcomer did not get the freed PID");
        child
    }

    pub fn run() {
        assert_eq!(std::process::id(), 1, "not the init of a new PID namespace");

        // Control: intercepting pidfd_open alone changes nothing; memwarden trims
        // the process it identified.
        let target = AllocChild::spawn(8);
        let (mut mw, listener) = memwarden_supervised(target.pid);
        let id = await_pidfd_open(&listener, target.pid, &mut mw);
        continue_syscall(&listener, id);
        let out = mw.wait_with_output().unwrap();
        assert!(out.status.success(), "control run: {}", stderr(&out));
        assert_eq!(json(&out)["pid"], target.pid);

        // Reuse: the target exits while memwarden waits in pidfd_open, a newcomer
        // takes its PID, then the pidfd_open goes on and pins the newcomer.
        let pid = target.pid;
        let (mut mw, listener) = memwarden_supervised(pid);
        let id = await_pidfd_open(&listener, pid, &mut mw);
        drop(target); // tells it to exit and reaps it
                      // Start times count clock ticks (1/100 s): let a few pass.
        std::thread::sleep(Duration::from_millis(100));
        let newcomer = spawn_with_pid(pid);
        let before = newcomer.status();
        continue_syscall(&listener, id);
        let out = mw.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["kind"], "no_such_process", "{v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains(&format!("no process with PID {pid}")),
            "{v}"
        );
        let after = newcomer.status();
        assert!(before.0.abs_diff(after.0) < MIB && before.2 == after.2);
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod inner {
    pub fn run() {
        eprintln!("SKIP-INNER: the seccomp filter knows x86_64 and aarch64 only");
    }
}

test_main!(reused_pid_is_never_advised);
