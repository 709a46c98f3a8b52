//! Per-process memory and the top-N scan.

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::model::{Identity, Launch, ProcessMemory, ProcessScope, Resident, TopProcesses};
use crate::parse::proc_pid::{
    parse_cmdline, parse_smaps_rollup, parse_stat, parse_status, split_cmdline,
};
use crate::sys::linux::fs::{proc_err, read_text};

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

pub fn identity(pid: u32) -> Result<Identity> {
    let text = read_text(format!("/proc/{pid}/stat")).map_err(|e| proc_err(pid, "stat", e))?;
    let st = parse_stat(&text)?;
    Ok(Identity {
        pid,
        kernel_thread: st.is_kernel_thread(),
        zombie: st.state == 'Z' || st.state == 'X',
        name: st.comm,
        start_time: st.starttime,
    })
}

pub fn resident(pid: u32) -> Result<Resident> {
    let text = read_text(format!("/proc/{pid}/status")).map_err(|e| proc_err(pid, "status", e))?;
    let st = parse_status(&text)?;
    Ok(Resident {
        rss_bytes: st.vm_rss,
        rss_anon_bytes: st.rss_anon,
        swap_bytes: st.vm_swap,
    })
}

pub fn read_process(pid: u32) -> Result<ProcessMemory> {
    let text = read_text(format!("/proc/{pid}/status")).map_err(|e| proc_err(pid, "status", e))?;
    let st = parse_status(&text)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| parse_cmdline(&b))
        .unwrap_or_default();
    Ok(ProcessMemory {
        pid,
        name: st.name,
        cmdline,
        rss_bytes: st.vm_rss,
        rss_anon_bytes: st.rss_anon,
        rss_file_bytes: st.rss_file,
        rss_shmem_bytes: st.rss_shmem,
        vms_bytes: st.vm_size,
        swap_bytes: st.vm_swap,
        uss_bytes: None,
        pss_bytes: None,
        swap_pss_bytes: None,
    })
}

/// USS/PSS from smaps_rollup (kernel >= 4.14). Needs ptrace-read access to the PID.
pub fn add_uss_pss(p: &mut ProcessMemory) -> Result<()> {
    let pid = p.pid;
    let text =
        read_text(format!("/proc/{pid}/smaps_rollup")).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) if std::path::Path::new(&format!("/proc/{pid}")).exists() => {
                Error::Unsupported("smaps_rollup needs Linux >= 4.14".into())
            }
            _ => proc_err(pid, "smaps_rollup", e),
        })?;
    let r = parse_smaps_rollup(&text)?;
    p.uss_bytes = Some(r.uss);
    p.pss_bytes = Some(r.pss);
    p.swap_pss_bytes = Some(r.swap_pss);
    Ok(())
}

/// RSS of the calling process from /proc/self/statm (one small read).
pub fn self_rss_bytes() -> Result<u64> {
    let t =
        read_text("/proc/self/statm").map_err(|e| Error::io("cannot read /proc/self/statm", e))?;
    let (_, resident, _) = crate::parse::proc_pid::parse_statm(&t)?;
    Ok(resident * page_size())
}

/// The initial PID namespace's inode number (PROC_PID_INIT_INO, fixed since 3.8).
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

/// True when this process lives in a PID namespace below the init one (a
/// container): PIDs reported by drivers are then not PIDs we can see.
///
/// The namespace inode decides it; NSpid alone cannot, because a container mounts
/// its own /proc, where NSpid lists only the inner PID.
pub fn own_pid_namespace_is_nested() -> bool {
    if let Ok(link) = std::fs::read_link("/proc/self/ns/pid") {
        let text = link.to_string_lossy();
        if let Some(ino) = text
            .strip_prefix("pid:[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok())
        {
            return ino != PROC_PID_INIT_INO;
        }
    }
    read_text("/proc/self/status")
        .ok()
        .and_then(|t| parse_status(&t).ok())
        .map(|s| s.ns_pids.len() > 1)
        .unwrap_or(false)
}

/// Parse the second field (resident pages) of a statm line.
fn statm_resident_field(text: &[u8]) -> Option<u64> {
    let mut fields = text.split(|b| *b == b' ');
    fields.next()?;
    let mut v: u64 = 0;
    for &d in fields.next()? {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(v)
}

/// Open `PID/statm` relative to an open /proc fd.
///
/// Hand-written with openat on a stack buffer rather than std::fs because this
/// runs once per process on every snapshot: it avoids path building, allocation
/// and the statx + lseek std's read_to_end adds, most of the cost at 500+ processes.
fn open_statm(proc_fd: &OwnedFd, pid: &[u8]) -> Option<OwnedFd> {
    let mut path = [0u8; 32];
    let n = pid.len();
    if n + 7 > path.len() {
        return None;
    }
    path[..n].copy_from_slice(pid);
    path[n..n + 6].copy_from_slice(b"/statm");
    // The zeroed tail terminates the path: no allocation on this hot path.
    let path = CStr::from_bytes_until_nul(&path).ok()?;
    rustix::fs::openat(
        proc_fd,
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()
}

/// Re-read a statm file from offset 0. None when the process is gone (ESRCH).
fn pread_resident(fd: &OwnedFd, buf: &mut [u8; 128]) -> Option<u64> {
    let len = rustix::io::pread(fd, &mut buf[..], 0).ok()?;
    if len == 0 {
        return None;
    }
    statm_resident_field(&buf[..len])
}

/// statm descriptors kept open between snapshots: re-reading an open /proc file is
/// one pread instead of openat + read + close, which is what makes per-node
/// snapshots cheap in a long-lived process. A descriptor of an exited process
/// reads ESRCH and is replaced; a recycled PID therefore gets a fresh one.
struct StatmCache {
    fds: HashMap<u32, OwnedFd>,
    /// Never hold more than this many descriptors (a quarter of RLIMIT_NOFILE, at
    /// most 4096) so the host process keeps its file descriptors for itself.
    cap: usize,
}

/// A PID, the descriptor worth keeping for it, and its resident pages.
type StatmRead = (u32, Option<OwnedFd>, Option<u64>);

/// Decimal text of a PID, for openat.
fn pid_text(pid: u32, out: &mut [u8; 10]) -> &[u8] {
    let mut n = pid;
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

/// Resident pages of each PID in `part` through its open descriptor. A process
/// that exited since its descriptor was opened reads as None.
fn pread_all(part: &mut [(u32, Option<OwnedFd>)]) -> Vec<StatmRead> {
    let mut buf = [0u8; 128];
    part.iter_mut()
        .map(|(pid, fd)| {
            let fd = fd.take();
            let r = fd.as_ref().and_then(|f| pread_resident(f, &mut buf));
            (*pid, r.and(fd), r)
        })
        .collect()
}

/// Process count from which the statm reads are spread over several cores.
const PARALLEL_SCAN_MIN: usize = 4096;

static STATM_CACHE: Mutex<Option<StatmCache>> = Mutex::new(None);

fn fd_budget() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    (soft / 4).min(4096)
}

fn open_proc() -> Result<OwnedFd> {
    rustix::fs::open(
        c"/proc",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("cannot open /proc", e.into()))
}

/// The PIDs to scan (those in `only` when given), each with the statm descriptor
/// the cache kept for it, if any.
fn pids_to_scan(
    cache: &mut StatmCache,
    only: Option<&HashSet<u32>>,
) -> Result<Vec<(u32, Option<OwnedFd>)>> {
    let dir = std::fs::read_dir("/proc").map_err(|e| Error::io("cannot list /proc", e))?;
    let mut work: Vec<(u32, Option<OwnedFd>)> = Vec::with_capacity(cache.fds.len().max(256));
    for entry in dir.flatten() {
        let name = entry.file_name();
        let bytes = name.as_encoded_bytes();
        if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
            continue;
        }
        let Ok(pid) = std::str::from_utf8(bytes).unwrap_or("").parse::<u32>() else {
            continue;
        };
        if only.is_some_and(|set| !set.contains(&pid)) {
            continue;
        }
        work.push((pid, cache.fds.remove(&pid)));
    }
    Ok(work)
}

/// Resident pages of every PID in `work`, opening the descriptors still missing.
fn read_resident_all(proc_fd: &OwnedFd, work: &mut [(u32, Option<OwnedFd>)]) -> Vec<StatmRead> {
    // Open the missing descriptors here, on one thread: the kernel grows a shared
    // (multi-threaded) fd table only after an RCU grace period, which made the
    // first scan of a fresh process several times slower when threads opened them.
    let mut text = [0u8; 10];
    for (pid, fd) in work.iter_mut().filter(|(_, fd)| fd.is_none()) {
        *fd = open_statm(proc_fd, pid_text(*pid, &mut text));
    }
    // Reading is independent per process, but threads only pay off on large
    // machines: at ~500 processes one thread was as fast idle and 30-40% faster
    // with the cores busy (as they are while ComfyUI runs).
    let threads = if work.len() >= PARALLEL_SCAN_MIN {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4)
    } else {
        1
    };
    if threads == 1 {
        return pread_all(work);
    }
    let chunk = work.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks_mut(chunk)
            .map(|part| scope.spawn(move || pread_all(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// The `n` user processes with the largest RSS. Kernel threads have no mm (statm
/// resident 0) and are never listed; neither are zombies.
pub fn top_processes(
    n: usize,
    scope: ProcessScope,
    only: Option<&HashSet<u32>>,
) -> Result<TopProcesses> {
    let proc_fd = open_proc()?;
    let page = page_size();
    let mut all: Vec<(u64, u32)> = Vec::with_capacity(1024);
    let mut guard = STATM_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.get_or_insert_with(|| StatmCache {
        fds: HashMap::new(),
        cap: fd_budget(),
    });
    let mut work = pids_to_scan(cache, only)?;
    let reads = read_resident_all(&proc_fd, &mut work);
    let mut seen: HashMap<u32, OwnedFd> = HashMap::with_capacity(work.len());
    for (pid, fd, res) in reads {
        if let Some(fd) = fd {
            if seen.len() < cache.cap {
                seen.insert(pid, fd);
            }
        }
        if let Some(r) = res.filter(|r| *r > 0) {
            all.push((r * page, pid));
        }
    }
    // Descriptors of processes that are gone (or filtered out) close here.
    cache.fds = seen;
    drop(guard);
    let scanned = all.len() as u32;
    let k = n.min(all.len());
    if k > 0 && k < all.len() {
        all.select_nth_unstable_by(k - 1, |a, b| b.0.cmp(&a.0));
    }
    all.truncate(k);
    all.sort_unstable_by_key(|a| std::cmp::Reverse(a.0));
    let processes = all
        .into_iter()
        // A process may exit between the scan and this read: drop it silently.
        .filter_map(|(_, pid)| read_process(pid).ok())
        .collect();
    Ok(TopProcesses {
        scope,
        scanned,
        processes,
    })
}

/// Processes whose launch (argument vector, working directory) satisfies `pred`,
/// kernel threads, zombies and the caller excluded, each with what `pred` said of
/// it. `prefilter` sees the argument vector first so that the working directory is
/// read only for likely matches.
pub fn find_processes<T>(
    prefilter: &dyn Fn(&[String]) -> bool,
    pred: &dyn Fn(&Launch) -> Option<T>,
) -> Result<Vec<(ProcessMemory, T)>> {
    let me = std::process::id();
    let own_mnt = std::fs::read_link("/proc/self/ns/mnt").ok();
    let dir = std::fs::read_dir("/proc").map_err(|e| Error::io("cannot list /proc", e))?;
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if raw.is_empty() {
            continue; // kernel threads and zombies have no command line
        }
        let argv = split_cmdline(&raw);
        if !prefilter(&argv) {
            continue;
        }
        // A process in another mount namespace (a container seen from the host)
        // has its paths under /proc/PID/root.
        let other_ns = std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
            .ok()
            .is_some_and(|ns| own_mnt.as_ref().is_some_and(|own| *own != ns));
        let launch = Launch {
            argv,
            cwd: std::fs::read_link(format!("/proc/{pid}/cwd")).ok(),
            root: other_ns.then(|| format!("/proc/{pid}/root").into()),
        };
        if let Some(found) = pred(&launch) {
            if let Ok(p) = read_process(pid) {
                out.push((p, found));
            }
        }
    }
    out.sort_by_key(|(p, _)| p.pid);
    Ok(out)
}
