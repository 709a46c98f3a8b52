//! Page a process's idle memory out. Another process: pidfd_open +
//! process_madvise(MADV_PAGEOUT), which needs CAP_SYS_NICE (and ptrace access).
//! Our own process: plain madvise(MADV_PAGEOUT) over our own ranges, which needs no
//! capability on any kernel since 5.4 (process_madvise on one's own pidfd wanted
//! CAP_SYS_NICE too until Linux 6.13, and is blocked by some seccomp profiles).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use crate::actions::{PageoutOptions, Progress};
use crate::error::{Error, Result};
use crate::guard;
use crate::model::{PageoutAdvice, PageoutReport, Step, SCHEMA_VERSION};
use crate::parse::proc_pid::{parse_maps, parse_status, ProcStat, ProcStatus};
use crate::units::format_bytes;

use super::container::read_cgroup;
use super::fsutil::{
    file_caps, has_cap, own_cap_bounding, own_no_new_privs, proc_err, read_text, FileCaps,
    CAP_SYS_NICE,
};
use super::process::{process_identity, read_process};
use super::system::{kernel_release, read_system_memory};

// From include/uapi/asm-generic/mman-common.h (Linux >= 5.4), for process_madvise;
// madvise on our own ranges goes through rustix, whose `Advice` has them as
// `LinuxCold` / `LinuxPageOut`. rustix has no process_madvise, hence libc below.
const MADV_COLD: i32 = 20;
const MADV_PAGEOUT: i32 = 21;
/// UIO_MAXIOV: the most iovecs one process_madvise call takes.
const MAX_IOV: usize = 1024;
/// Ranges are advised in pieces of at most this size so progress moves smoothly
/// and a huge mapping does not hold mmap_lock for seconds.
const CHUNK: u64 = 64 << 20;
/// Bytes advised per syscall.
const BATCH_BYTES: u64 = 512 << 20;

fn status(pid: u32) -> Result<ProcStatus> {
    let t = read_text(format!("/proc/{pid}/status")).map_err(|e| proc_err(pid, "status", e))?;
    parse_status(&t)
}

fn pidfd_open(pid: u32) -> Result<OwnedFd> {
    // SAFETY: plain syscall; on success we own the returned fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ESRCH) => Error::NoSuchProcess { pid: pid as i64 },
            Some(libc::ENOSYS) => Error::Unsupported(format!(
                "pidfd_open needs Linux >= 5.3; this kernel is {}",
                kernel_release()
            )),
            _ => Error::io(format!("pidfd_open({pid})"), e),
        });
    }
    // SAFETY: fd is a fresh descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The PID-reuse check: `again` (read after the pidfd was opened) must be the very
/// process `first` identified, or the pidfd pins a newcomer that reused the PID.
fn same_process(pid: u32, first: &ProcStat, again: &ProcStat) -> Result<()> {
    if again.starttime == first.starttime {
        Ok(())
    } else {
        Err(Error::NoSuchProcess { pid: pid as i64 })
    }
}

/// Whose memory is advised, and with which syscall.
enum Target {
    /// Our own process: madvise, no capability needed.
    Own,
    /// Another process, pinned by its pidfd: process_madvise.
    Other(OwnedFd),
}

impl Target {
    /// Advise `ranges` in order, as one process_madvise call does: Ok(bytes advised)
    /// (fewer than asked when a range failed after the first), or the errno when
    /// the first range failed.
    fn advise(
        &self,
        ranges: &[(u64, u64)],
        advice: PageoutAdvice,
    ) -> std::result::Result<u64, i32> {
        match self {
            Target::Other(pidfd) => {
                let iov: Vec<libc::iovec> = ranges
                    .iter()
                    .map(|&(s, l)| libc::iovec {
                        iov_base: s as *mut libc::c_void,
                        iov_len: l as usize,
                    })
                    .collect();
                process_madvise(pidfd, &iov, advice)
            }
            Target::Own => {
                let mut done = 0;
                for &(s, l) in ranges {
                    match madvise_own(s, l, advice) {
                        Ok(()) => done += l,
                        Err(e) if done == 0 => return Err(e),
                        Err(_) => break,
                    }
                }
                Ok(done)
            }
        }
    }
}

/// madvise on a range of our own address space, taken from /proc/self/maps.
fn madvise_own(start: u64, len: u64, advice: PageoutAdvice) -> std::result::Result<(), i32> {
    let advice = match advice {
        PageoutAdvice::Pageout => rustix::mm::Advice::LinuxPageOut,
        PageoutAdvice::Cold => rustix::mm::Advice::LinuxCold,
    };
    // SAFETY: MADV_PAGEOUT and MADV_COLD are hints that never change what the memory
    // holds (pages come back on the next touch); a range unmapped meanwhile only
    // makes the kernel answer ENOMEM.
    unsafe { rustix::mm::madvise(start as *mut std::ffi::c_void, len as usize, advice) }
        .map_err(|e| e.raw_os_error())
}

/// One process_madvise call; Ok(bytes advised) or the errno.
fn process_madvise(
    pidfd: &OwnedFd,
    iov: &[libc::iovec],
    advice: PageoutAdvice,
) -> std::result::Result<u64, i32> {
    let advice = match advice {
        PageoutAdvice::Pageout => MADV_PAGEOUT,
        PageoutAdvice::Cold => MADV_COLD,
    };
    // SAFETY: iov points to valid iovec structs describing ranges in the *target*
    // address space; the kernel never dereferences them in ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            pidfd.as_raw_fd(),
            iov.as_ptr(),
            iov.len(),
            advice,
            0u32,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(r as u64)
    }
}

fn syscall_error(pid: u32, own: bool, errno: i32) -> Error {
    let call = if own { "madvise" } else { "process_madvise" };
    match errno {
        libc::ENOSYS if own => Error::Unsupported(format!(
            "madvise is not available to this process (a seccomp profile answers ENOSYS); \
             this kernel is {}",
            kernel_release()
        )),
        libc::ENOSYS => Error::Unsupported(format!(
            "process_madvise needs Linux >= 5.10; this kernel is {}",
            kernel_release()
        )),
        libc::EPERM | libc::EACCES if own => Error::PermissionDenied {
            what: format!("advising the memory of this process (PID {pid})"),
            needs: "a seccomp profile or security module that allows madvise".into(),
        },
        libc::EPERM | libc::EACCES => Error::PermissionDenied {
            what: format!("advising the memory of PID {pid}"),
            needs: "CAP_SYS_NICE and ptrace access to the target (run as root, or as the \
                    target's user with cap_sys_nice; in a container a seccomp profile may also \
                    block process_madvise)"
                .into(),
        },
        libc::ESRCH => Error::NoSuchProcess { pid: pid as i64 },
        e => Error::io(
            format!("{call} on PID {pid}"),
            std::io::Error::from_raw_os_error(e),
        ),
    }
}

/// `(major, minor)` of a kernel release such as `6.1.0-18-amd64`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Facts about this process that decide what grants it CAP_SYS_NICE.
struct CapFacts<'a> {
    /// The running executable (`/proc/self/exe`).
    exe: Option<&'a Path>,
    /// Its file capabilities (`security.capability`), if any.
    file_caps: Option<FileCaps>,
    /// CAP_SYS_NICE is in the bounding set (file capabilities can grant it).
    bounding_has_nice: bool,
    /// no_new_privs is set (exec ignores file capabilities).
    no_new_privs: bool,
}

/// Is `exe` a Python interpreter (the CLI running inside the wheel, `python -m
/// memwarden`, or the pip-installed `memwarden` script)?
fn is_python(exe: &Path) -> bool {
    let name = exe
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.starts_with("python") || name.starts_with("pypy")
}

/// What would give *this* program CAP_SYS_NICE, for the PermissionDenied message:
/// the exact `setcap` command for the running binary, or why the capability it
/// already carries is not effective.
fn cap_sys_nice_needs(f: &CapFacts<'_>) -> String {
    const DOCKER: &str = "in Docker: `docker run --cap-add SYS_NICE`";
    const PTRACE: &str = "run it as the target's user (the kernel also wants ptrace access: \
                          the same user, or CAP_SYS_PTRACE)";
    if let Some(exe) = f.exe.filter(|e| is_python(e)) {
        return format!(
            "CAP_SYS_NICE: run as root, or use a native memwarden binary as the helper; this \
             is the Python interpreter {}, and a capability on it would go to every Python \
             program: build the binary with `cargo install --path crates/memwarden-cli` in a \
             memwarden checkout (or take the release binary), grant it once with `sudo setcap \
             cap_sys_nice+ep /path/to/memwarden`, point the ComfyUI nodes at it with \
             MEMWARDEN_HELPER=/path/to/memwarden and {PTRACE}",
            exe.display()
        );
    }
    if !f.bounding_has_nice {
        return format!(
            "CAP_SYS_NICE, which this process cannot gain: it is not in its capability bounding \
             set, so neither root nor `setcap` can grant it here ({DOCKER})"
        );
    }
    match (f.exe, f.file_caps) {
        (Some(exe), Some(c)) if c.permitted & (1 << CAP_SYS_NICE) != 0 && !c.effective => format!(
            "CAP_SYS_NICE: {} holds it only as permitted, not effective; grant it with `sudo \
             setcap cap_sys_nice+ep {}`",
            exe.display(),
            exe.display()
        ),
        (Some(exe), Some(c)) if c.permitted & (1 << CAP_SYS_NICE) != 0 => format!(
            "CAP_SYS_NICE: {} carries cap_sys_nice+ep, but the capability is not effective: {}",
            exe.display(),
            if f.no_new_privs {
                "no_new_privs is set on this process (systemd NoNewPrivileges=, `docker run \
                 --security-opt no-new-privileges`, a sandbox), which makes exec ignore file \
                 capabilities"
            } else {
                "its filesystem may be mounted nosuid, or it was started from another user \
                 namespace"
            }
        ),
        (Some(exe), _) => format!(
            "CAP_SYS_NICE: run as root, or grant it to this binary once with `sudo setcap \
             cap_sys_nice+ep {}` and {PTRACE}; {DOCKER}",
            exe.display()
        ),
        (None, _) => format!(
            "CAP_SYS_NICE: run as root, or `sudo setcap cap_sys_nice+ep` on the memwarden \
             binary and {PTRACE}; {DOCKER}"
        ),
    }
}

fn cap_sys_nice_refusal(pid: u32) -> Error {
    let exe = std::env::current_exe().ok();
    let facts = CapFacts {
        exe: exe.as_deref(),
        file_caps: exe.as_deref().and_then(file_caps),
        bounding_has_nice: own_cap_bounding() & (1 << CAP_SYS_NICE) != 0,
        no_new_privs: own_no_new_privs(),
    };
    Error::PermissionDenied {
        what: format!("paging out the memory of PID {pid}"),
        needs: cap_sys_nice_needs(&facts),
    }
}

pub fn pageout(pid: u32, opts: &PageoutOptions, progress: Progress<'_>) -> Result<PageoutReport> {
    let t0 = Instant::now();
    let own = pid == std::process::id();
    let mut steps = Vec::new();

    // --- identify and refuse what we never touch
    let id = process_identity(pid)?;
    if id.is_kernel_thread() {
        return Err(Error::Protected(format!(
            "PID {pid} ({}) is a kernel thread; memwarden never touches kernel threads",
            id.comm
        )));
    }
    if id.state == 'Z' || id.state == 'X' {
        return Err(Error::Protected(format!(
            "PID {pid} ({}) is a zombie: it holds no memory to page out",
            id.comm
        )));
    }
    if own {
        let release = kernel_release();
        if kernel_version(&release).is_some_and(|v| v < (5, 4)) {
            return Err(Error::Unsupported(format!(
                "MADV_PAGEOUT and MADV_COLD need Linux >= 5.4; this kernel is {release}"
            )));
        }
    }

    // --- open: a pidfd pins another process, so PID reuse cannot redirect the
    // advice. Our own process cannot go away while we run: no pidfd needed.
    let target = if own {
        steps.push(Step {
            name: "open".into(),
            ok: true,
            detail: format!(
                "own process (start time {}): advised in place with madvise",
                id.starttime
            ),
        });
        Target::Own
    } else {
        let pidfd = pidfd_open(pid)?;
        same_process(pid, &id, &process_identity(pid)?)?;
        steps.push(Step {
            name: "open".into(),
            ok: true,
            detail: format!(
                "pidfd {} (start time {} verified)",
                pidfd.as_raw_fd(),
                id.starttime
            ),
        });
        Target::Other(pidfd)
    };

    // --- privileges: the kernel wants CAP_SYS_NICE to advise another process, and
    // ptrace access to it, which reading its maps checks.
    if !own && !has_cap(CAP_SYS_NICE) {
        return Err(cap_sys_nice_refusal(pid));
    }
    let maps_text = read_text(format!("/proc/{pid}/maps")).map_err(|e| proc_err(pid, "maps", e))?;
    steps.push(Step {
        name: "privileges".into(),
        ok: true,
        detail: if own {
            "own process: madvise needs no capability".into()
        } else {
            "CAP_SYS_NICE effective, ptrace access to the target".into()
        },
    });

    let before = read_process(pid)?;

    // --- guard: anonymous pages need swap
    let system = read_system_memory()?;
    let cgroup = read_cgroup(pid).ok().flatten().map(|(m, _)| m);
    let verdict = match opts.advice {
        PageoutAdvice::Cold => guard::cold_verdict(
            &system,
            cgroup.as_ref(),
            before.rss_anon_bytes,
            opts.min_swap_free,
        ),
        PageoutAdvice::Pageout => guard::evaluate(
            &system,
            cgroup.as_ref(),
            before.rss_anon_bytes,
            opts.min_swap_free,
            opts.force,
            &opts.knobs,
        ),
    };
    steps.push(Step {
        name: "guard".into(),
        ok: verdict.allowed,
        detail: verdict.reason.clone(),
    });
    if !verdict.allowed {
        return Err(Error::GuardRefused(verdict.reason));
    }

    // --- advise
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for m in parse_maps(&maps_text)?
        .iter()
        .filter(|m| m.is_pageout_candidate())
    {
        let mut s = m.start;
        while s < m.end {
            let e = (s + CHUNK).min(m.end);
            ranges.push((s, e - s));
            s = e;
        }
    }
    let total: u64 = ranges.iter().map(|r| r.1).sum();
    let (mut done, mut advised, mut skipped, mut skipped_bytes) = (0u64, 0u32, 0u32, 0u64);
    progress(0, total);
    let mut i = 0;
    while i < ranges.len() {
        let mut j = i;
        let mut bytes = 0;
        while j < ranges.len()
            && j - i < MAX_IOV
            && (bytes == 0 || bytes + ranges[j].1 <= BATCH_BYTES)
        {
            bytes += ranges[j].1;
            j += 1;
        }
        let batch = &ranges[i..j];
        match target.advise(batch, opts.advice) {
            Ok(n) if n == bytes => advised += batch.len() as u32,
            // EINVAL/ENOMEM/partial: a range the kernel will not advise (mlocked,
            // VM_PFNMAP device memory, hugetlb) or one unmapped meanwhile. Retry one
            // by one and skip only the ranges that fail.
            Ok(_) | Err(libc::EINVAL) | Err(libc::ENOMEM) | Err(libc::EFAULT) => {
                let mut part = 0;
                for range in batch {
                    match target.advise(std::slice::from_ref(range), opts.advice) {
                        Ok(_) => advised += 1,
                        Err(libc::EINVAL) | Err(libc::ENOMEM) | Err(libc::EFAULT) => {
                            skipped += 1;
                            skipped_bytes += range.1;
                        }
                        Err(e) => return Err(syscall_error(pid, own, e)),
                    }
                    part += range.1;
                    progress(done + part, total);
                }
            }
            Err(e) => return Err(syscall_error(pid, own, e)),
        }
        done += bytes;
        progress(done, total);
        i = j;
    }
    let advice_name = match opts.advice {
        PageoutAdvice::Pageout => "MADV_PAGEOUT",
        PageoutAdvice::Cold => "MADV_COLD",
    };
    steps.push(Step {
        name: "advise".into(),
        ok: true,
        detail: format!(
            "{advice_name} over {advised} ranges ({}){}",
            format_bytes(total - skipped_bytes),
            if skipped > 0 {
                format!(
                    "; {skipped} ranges skipped ({}: locked, device or hugetlb memory)",
                    format_bytes(skipped_bytes)
                )
            } else {
                String::new()
            }
        ),
    });

    // --- verify
    let after = status(pid)?;
    steps.push(Step {
        name: "verify".into(),
        ok: true,
        detail: format!(
            "RSS {} -> {}, swap {} -> {}",
            format_bytes(before.rss_bytes),
            format_bytes(after.vm_rss),
            format_bytes(before.swap_bytes),
            format_bytes(after.vm_swap)
        ),
    });
    Ok(PageoutReport {
        schema_version: SCHEMA_VERSION,
        pid,
        name: before.name,
        cmdline: before.cmdline,
        advice: opts.advice,
        steps,
        ranges_advised: advised,
        bytes_advised: total - skipped_bytes,
        ranges_skipped: skipped,
        rss_before_bytes: before.rss_bytes,
        rss_after_bytes: after.vm_rss,
        rss_anon_before_bytes: before.rss_anon_bytes,
        rss_anon_after_bytes: after.rss_anon,
        swap_before_bytes: before.swap_bytes,
        swap_after_bytes: after.vm_swap,
        freed_bytes: before.rss_bytes as i64 - after.vm_rss as i64,
        duration_ms: t0.elapsed().as_secs_f64() * 1e3,
        guard: verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(starttime: u64) -> ProcStat {
        ProcStat {
            comm: "python3".into(),
            state: 'S',
            ppid: 1,
            flags: 0,
            starttime,
        }
    }

    #[test]
    fn a_reused_pid_is_no_such_process() {
        assert!(same_process(42, &stat(1000), &stat(1000)).is_ok());
        // Same PID, another start time: the pidfd pins a newcomer.
        let e = same_process(42, &stat(1000), &stat(1001)).unwrap_err();
        assert!(matches!(e, Error::NoSuchProcess { pid: 42 }), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit_code::NOT_FOUND);
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(kernel_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(kernel_version("4.19.0"), Some((4, 19)));
        assert_eq!(kernel_version("unknown"), None);
    }

    fn facts(exe: Option<&Path>) -> CapFacts<'_> {
        CapFacts {
            exe,
            file_caps: None,
            bounding_has_nice: true,
            no_new_privs: false,
        }
    }

    #[test]
    fn cap_sys_nice_message_names_the_running_binary() {
        let exe = Path::new("/usr/local/bin/memwarden");
        let m = cap_sys_nice_needs(&facts(Some(exe)));
        assert!(
            m.contains("`sudo setcap cap_sys_nice+ep /usr/local/bin/memwarden`"),
            "{m}"
        );
        assert!(m.contains("ptrace"), "{m}");
        let m = cap_sys_nice_needs(&facts(None));
        assert!(
            m.contains("setcap cap_sys_nice+ep` on the memwarden binary"),
            "{m}"
        );
    }

    #[test]
    fn cap_sys_nice_message_never_suggests_setcap_on_python() {
        for py in [
            "/usr/bin/python3.12",
            "/home/u/ComfyUI/venv/bin/python",
            "/opt/pypy/bin/pypy3",
        ] {
            let m = cap_sys_nice_needs(&facts(Some(Path::new(py))));
            assert!(!m.contains(&format!("cap_sys_nice+ep {py}")), "{m}");
            assert!(
                m.contains("cargo install --path crates/memwarden-cli"),
                "{m}"
            );
            assert!(
                m.contains("setcap cap_sys_nice+ep /path/to/memwarden"),
                "{m}"
            );
        }
    }

    #[test]
    fn cap_sys_nice_message_says_why_a_file_capability_is_not_effective() {
        let exe = Path::new("/opt/helper/memwarden");
        let ep = FileCaps {
            permitted: 1 << CAP_SYS_NICE,
            effective: true,
        };
        let mut f = facts(Some(exe));
        f.file_caps = Some(ep);
        f.no_new_privs = true;
        assert!(cap_sys_nice_needs(&f).contains("no_new_privs"));
        f.no_new_privs = false;
        assert!(cap_sys_nice_needs(&f).contains("nosuid"));
        f.file_caps = Some(FileCaps {
            effective: false,
            ..ep
        });
        assert!(cap_sys_nice_needs(&f).contains("only as permitted"));
        f.bounding_has_nice = false;
        assert!(cap_sys_nice_needs(&f).contains("bounding set"));
    }

    #[test]
    fn own_process_is_advised_with_madvise() {
        // Real madvise(MADV_COLD) over this test process: no swap, no capability.
        let mut calls = 0;
        let opts = PageoutOptions {
            advice: PageoutAdvice::Cold,
            ..Default::default()
        };
        let r = pageout(std::process::id(), &opts, &mut |_, _| calls += 1).unwrap();
        let names: Vec<_> = r.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["open", "privileges", "guard", "advise", "verify"]);
        assert!(r.steps[0].detail.contains("madvise"), "{:?}", r.steps[0]);
        assert!(
            r.steps[1].detail.contains("no capability"),
            "{:?}",
            r.steps[1]
        );
        assert!(r.ranges_advised > 0 && r.bytes_advised > 0, "{r:?}");
        assert!(calls >= 2);
    }
}
