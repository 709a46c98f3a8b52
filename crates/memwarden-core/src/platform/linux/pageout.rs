//! Page another process's idle memory out: pidfd_open + process_madvise(MADV_PAGEOUT).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use crate::actions::{PageoutOptions, Progress};
use crate::error::{Error, Result};
use crate::guard;
use crate::model::{PageoutAdvice, PageoutReport, Step, SCHEMA_VERSION};
use crate::parse::proc_pid::{parse_maps, parse_status, ProcStatus};
use crate::units::format_bytes;

use super::container::read_cgroup;
use super::fsutil::{has_cap, proc_err, read_text, CAP_SYS_NICE};
use super::process::{process_identity, read_process};
use super::system::{kernel_release, read_system_memory};

// From include/uapi/asm-generic/mman-common.h (Linux >= 5.4).
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

/// One process_madvise call; Ok(bytes advised) or the errno.
fn process_madvise(
    pidfd: &OwnedFd,
    iov: &[libc::iovec],
    advice: i32,
) -> std::result::Result<u64, i32> {
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

fn syscall_error(pid: u32, errno: i32) -> Error {
    match errno {
        libc::ENOSYS => Error::Unsupported(format!(
            "process_madvise needs Linux >= 5.10; this kernel is {}",
            kernel_release()
        )),
        libc::EPERM | libc::EACCES => Error::PermissionDenied {
            what: format!("advising the memory of PID {pid}"),
            needs: "CAP_SYS_NICE and ptrace access to the target (run as root, or as the \
                    target's user with cap_sys_nice; in a container a seccomp profile may also \
                    block process_madvise)"
                .into(),
        },
        libc::ESRCH => Error::NoSuchProcess { pid: pid as i64 },
        e => Error::io(
            format!("process_madvise on PID {pid}"),
            std::io::Error::from_raw_os_error(e),
        ),
    }
}

pub fn pageout(pid: u32, opts: &PageoutOptions, progress: Progress<'_>) -> Result<PageoutReport> {
    let t0 = Instant::now();
    let me = std::process::id();
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

    // --- open: a pidfd pins the process, so PID reuse cannot redirect the advice
    let pidfd = pidfd_open(pid)?;
    let again = process_identity(pid)?;
    if again.starttime != id.starttime {
        return Err(Error::NoSuchProcess { pid: pid as i64 });
    }
    steps.push(Step {
        name: "open".into(),
        ok: true,
        detail: format!(
            "pidfd {} (start time {} verified)",
            pidfd.as_raw_fd(),
            id.starttime
        ),
    });

    // --- privileges: the kernel wants CAP_SYS_NICE to advise another process
    if pid != me && !has_cap(CAP_SYS_NICE) {
        return Err(Error::PermissionDenied {
            what: format!("paging out the memory of PID {pid}"),
            needs: "CAP_SYS_NICE (run as root, or `setcap cap_sys_nice+ep` on the memwarden \
                    binary; Docker drops it by default: `docker run --cap-add SYS_NICE`)"
                .into(),
        });
    }
    steps.push(Step {
        name: "privileges".into(),
        ok: true,
        detail: if pid == me {
            "own process: no capability needed".into()
        } else {
            "CAP_SYS_NICE effective".into()
        },
    });

    let before = read_process(pid)?;

    // --- guard: anonymous pages need swap
    let system = read_system_memory()?;
    let cgroup = read_cgroup(pid).ok().flatten().map(|(m, _)| m);
    let verdict = guard::evaluate(
        &system,
        cgroup.as_ref(),
        before.rss_anon_bytes,
        opts.min_swap_free,
        opts.force,
    );
    steps.push(Step {
        name: "guard".into(),
        ok: verdict.allowed,
        detail: verdict.reason.clone(),
    });
    if !verdict.allowed {
        return Err(Error::GuardRefused(verdict.reason));
    }

    // --- advise
    let maps_text = read_text(format!("/proc/{pid}/maps")).map_err(|e| proc_err(pid, "maps", e))?;
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
    let advice = match opts.advice {
        PageoutAdvice::Pageout => MADV_PAGEOUT,
        PageoutAdvice::Cold => MADV_COLD,
    };
    let to_iov = |&(s, l): &(u64, u64)| libc::iovec {
        iov_base: s as *mut libc::c_void,
        iov_len: l as usize,
    };
    let (mut done, mut advised, mut skipped) = (0u64, 0u32, 0u32);
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
        let batch: Vec<libc::iovec> = ranges[i..j].iter().map(to_iov).collect();
        match process_madvise(&pidfd, &batch, advice) {
            Ok(n) if n == bytes => advised += batch.len() as u32,
            // EINVAL/ENOMEM/partial: a range the kernel will not advise (mlocked,
            // VM_PFNMAP device memory, hugetlb) or one unmapped meanwhile. Retry one
            // by one and skip only the ranges that fail.
            Ok(_) | Err(libc::EINVAL) | Err(libc::ENOMEM) | Err(libc::EFAULT) => {
                for (k, iov) in batch.iter().enumerate() {
                    match process_madvise(&pidfd, std::slice::from_ref(iov), advice) {
                        Ok(_) => advised += 1,
                        Err(libc::EINVAL) | Err(libc::ENOMEM) | Err(libc::EFAULT) => skipped += 1,
                        Err(e) => return Err(syscall_error(pid, e)),
                    }
                    progress(done + ranges[i + k].1, total);
                }
            }
            Err(e) => return Err(syscall_error(pid, e)),
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
            format_bytes(total),
            if skipped > 0 {
                format!("; {skipped} ranges skipped (locked, device or hugetlb memory)")
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
        bytes_advised: total,
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
