//! Linux: advise a process's memory out. Another process: pidfd_open +
//! process_madvise(MADV_PAGEOUT), which needs CAP_SYS_NICE (and ptrace access).
//! Our own process: plain madvise(MADV_PAGEOUT) over our own ranges, which needs no
//! capability on any kernel since 5.4 (process_madvise on one's own pidfd wanted
//! CAP_SYS_NICE too until Linux 6.13, and is blocked by some seccomp profiles).
//!
//! The steps around these calls (refusals, guard, measurements, the report) are
//! the OS-neutral `act::pageout`.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::error::{Error, Result};
use crate::model::{Identity, PageoutAdvice};
use crate::parse::proc_pid::{parse_maps, parse_stat};
use crate::sys::Advised;

use super::caps::{cap_sys_nice_refusal, has_cap, CAP_SYS_NICE};
use super::fs::{kernel_release, proc_err, read_text};

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

fn pidfd_open(pid: u32) -> Result<OwnedFd> {
    let Some(p) = rustix::process::Pid::from_raw(pid as i32) else {
        return Err(Error::NoSuchProcess { pid: pid as i64 });
    };
    rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).map_err(|e| match e {
        rustix::io::Errno::SRCH => Error::NoSuchProcess { pid: pid as i64 },
        rustix::io::Errno::NOSYS => Error::Unsupported(format!(
            "pidfd_open needs Linux >= 5.3; this kernel is {}",
            kernel_release()
        )),
        e => Error::io(format!("pidfd_open({pid})"), e.into()),
    })
}

/// The PID-reuse check: `again` (read after the pidfd was opened) must be the very
/// process `first` identified, or the pidfd pins a newcomer that reused the PID.
/// When `pid` started (/proc/PID/stat), to tell it from a later process with its PID.
fn start_time(pid: u32) -> Result<u64> {
    let text = read_text(format!("/proc/{pid}/stat")).map_err(|e| proc_err(pid, "stat", e))?;
    Ok(parse_stat(&text)?.starttime)
}

fn same_process(first: &Identity, started: u64) -> Result<()> {
    if started == first.start_time {
        Ok(())
    } else {
        Err(Error::NoSuchProcess {
            pid: first.pid as i64,
        })
    }
}

/// Whose memory is advised, and with which syscall.
enum Handle {
    /// Our own process: madvise, no capability needed.
    Own,
    /// Another process, pinned by its pidfd: process_madvise.
    Other(OwnedFd),
}

/// A process opened for advice: pinned against PID reuse, privileges checked
/// separately ([`Target::check_privileges`]).
pub struct Target {
    pid: u32,
    start_time: u64,
    handle: Handle,
    /// /proc/PID/maps, read by the privilege check (it needs ptrace access too).
    maps: Option<String>,
}

impl Target {
    /// Open `id`: our own process needs Linux >= 5.4 for MADV_PAGEOUT/COLD; another
    /// is pinned by a pidfd and verified to be the process `id` named.
    pub fn open(id: &Identity) -> Result<Self> {
        let pid = id.pid;
        let handle = if pid == std::process::id() {
            let release = kernel_release();
            if kernel_version(&release).is_some_and(|v| v < (5, 4)) {
                return Err(Error::Unsupported(format!(
                    "MADV_PAGEOUT and MADV_COLD need Linux >= 5.4; this kernel is {release}"
                )));
            }
            Handle::Own
        } else {
            let pidfd = pidfd_open(pid)?;
            same_process(id, start_time(pid)?)?;
            Handle::Other(pidfd)
        };
        Ok(Self {
            pid,
            start_time: id.start_time,
            handle,
            maps: None,
        })
    }

    fn own(&self) -> bool {
        matches!(self.handle, Handle::Own)
    }

    /// How the process was opened, for the report's "open" step.
    pub fn describe(&self) -> String {
        match &self.handle {
            Handle::Own => format!(
                "own process (start time {}): advised in place with madvise",
                self.start_time
            ),
            Handle::Other(fd) => format!(
                "pidfd {} (start time {} verified)",
                fd.as_raw_fd(),
                self.start_time
            ),
        }
    }

    /// The kernel wants CAP_SYS_NICE to advise another process, and ptrace access
    /// to it, which reading its maps checks. Ok(what was found) for the report.
    pub fn check_privileges(&mut self) -> Result<String> {
        let pid = self.pid;
        if !self.own() && !has_cap(CAP_SYS_NICE) {
            return Err(cap_sys_nice_refusal(pid));
        }
        self.maps =
            Some(read_text(format!("/proc/{pid}/maps")).map_err(|e| proc_err(pid, "maps", e))?);
        Ok(if self.own() {
            "own process: madvise needs no capability".into()
        } else {
            "CAP_SYS_NICE effective, ptrace access to the target".into()
        })
    }

    /// Advise every private, anonymous-or-file range out, in batches, reporting
    /// progress as (bytes advised, total). Ranges the kernel refuses (mlocked,
    /// device, hugetlb) are skipped and counted.
    pub fn page_out(
        &self,
        advice: PageoutAdvice,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Advised> {
        let maps = match &self.maps {
            Some(m) => m,
            None => &read_text(format!("/proc/{}/maps", self.pid))
                .map_err(|e| proc_err(self.pid, "maps", e))?,
        };
        let ranges = chunked_ranges(maps)?;
        let total: u64 = ranges.iter().map(|r| r.1).sum();
        let mut out = Advised::default();
        let mut done = 0u64;
        progress(0, total);
        let mut i = 0;
        while i < ranges.len() {
            let j = batch_end(&ranges, i);
            let batch = &ranges[i..j];
            let bytes: u64 = batch.iter().map(|r| r.1).sum();
            self.advise_batch(batch, bytes, advice, &mut out, &mut |part| {
                progress(done + part, total)
            })?;
            done += bytes;
            progress(done, total);
            i = j;
        }
        out.bytes = total - out.skipped_bytes;
        Ok(out)
    }

    /// One batch in one call; when the kernel refuses part of it (EINVAL/ENOMEM/
    /// EFAULT, or fewer bytes than asked: a range it will not advise, or one
    /// unmapped meanwhile), retry range by range and skip only those that fail.
    fn advise_batch(
        &self,
        batch: &[(u64, u64)],
        bytes: u64,
        advice: PageoutAdvice,
        out: &mut Advised,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        match self.advise(batch, advice) {
            Ok(n) if n == bytes => {
                out.ranges += batch.len() as u32;
                return Ok(());
            }
            Ok(_) | Err(libc::EINVAL) | Err(libc::ENOMEM) | Err(libc::EFAULT) => {}
            Err(e) => return Err(syscall_error(self.pid, self.own(), e)),
        }
        let mut part = 0;
        for range in batch {
            match self.advise(std::slice::from_ref(range), advice) {
                Ok(_) => out.ranges += 1,
                Err(libc::EINVAL) | Err(libc::ENOMEM) | Err(libc::EFAULT) => {
                    out.skipped += 1;
                    out.skipped_bytes += range.1;
                }
                Err(e) => return Err(syscall_error(self.pid, self.own(), e)),
            }
            part += range.1;
            progress(part);
        }
        Ok(())
    }

    /// Advise `ranges` in order, as one process_madvise call does: Ok(bytes advised)
    /// (fewer than asked when a range failed after the first), or the errno when
    /// the first range failed.
    fn advise(
        &self,
        ranges: &[(u64, u64)],
        advice: PageoutAdvice,
    ) -> std::result::Result<u64, i32> {
        match &self.handle {
            Handle::Other(pidfd) => {
                let iov: Vec<libc::iovec> = ranges
                    .iter()
                    .map(|&(s, l)| libc::iovec {
                        iov_base: s as *mut libc::c_void,
                        iov_len: l as usize,
                    })
                    .collect();
                process_madvise(pidfd, &iov, advice)
            }
            Handle::Own => {
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

/// The ranges worth advising, cut in pieces of at most [`CHUNK`].
fn chunked_ranges(maps: &str) -> Result<Vec<(u64, u64)>> {
    let mut ranges = Vec::new();
    for m in parse_maps(maps)?
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
    Ok(ranges)
}

/// End of the batch starting at `i`: at most [`MAX_IOV`] ranges and
/// [`BATCH_BYTES`] (a single larger range still goes alone).
fn batch_end(ranges: &[(u64, u64)], i: usize) -> usize {
    let mut j = i;
    let mut bytes = 0;
    while j < ranges.len() && j - i < MAX_IOV && (bytes == 0 || bytes + ranges[j].1 <= BATCH_BYTES)
    {
        bytes += ranges[j].1;
        j += 1;
    }
    j
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

#[cfg(test)]
mod tests {
    use super::*;

    fn id(start_time: u64) -> Identity {
        Identity {
            pid: 42,
            name: "python3".into(),
            start_time,
            kernel_thread: false,
            zombie: false,
        }
    }

    #[test]
    fn a_reused_pid_is_no_such_process() {
        assert!(same_process(&id(1000), 1000).is_ok());
        // Same PID, another start time: the pidfd pins a newcomer.
        let e = same_process(&id(1000), 1001).unwrap_err();
        assert!(matches!(e, Error::NoSuchProcess { pid: 42 }), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit_code::NOT_FOUND);
    }

    #[test]
    fn the_start_time_is_read_from_proc() {
        let me = std::process::id();
        let t = start_time(me).unwrap();
        assert!(t > 0);
        assert_eq!(start_time(me).unwrap(), t, "it names one process");
        assert!(matches!(
            start_time(u32::MAX - 1),
            Err(Error::NoSuchProcess { .. })
        ));
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(kernel_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(kernel_version("4.19.0"), Some((4, 19)));
        assert_eq!(kernel_version("unknown"), None);
    }

    #[test]
    fn batches_respect_both_limits() {
        let small = vec![(0u64, 64u64 << 10); 3000];
        assert_eq!(batch_end(&small, 0), MAX_IOV);
        let mib = vec![(0u64, 1u64 << 20); 3000];
        assert_eq!(batch_end(&mib, 0), 512);
        let big = vec![(0u64, 300u64 << 20); 4];
        assert_eq!(batch_end(&big, 0), 1);
        let huge = vec![(0u64, 2u64 << 30)];
        assert_eq!(batch_end(&huge, 0), 1);
    }
}
