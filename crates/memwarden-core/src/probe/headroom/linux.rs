//! Linux: the cgroup limits on the process's way to the root (v1 or v2) and the
//! host's MemAvailable. Usage files stay open and are re-read with pread(2), one
//! syscall per limit per read; memory.stat is read only near a limit.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::model::{Headroom, LimitKind};
use crate::parse::cgroup::{parse_counter, parse_limit, parse_memory_stat};
use crate::parse::meminfo::parse_meminfo;
use crate::probe::cgroup::{locate_cgroup, CgroupLocation};
use crate::sys::clock::monotonic_ns;
use crate::sys::events::{self, Source};
use crate::sys::linux::fs::read_text;

/// One limit on the way to the root and the files read with it.
#[derive(Debug)]
struct Limit {
    kind: LimitKind,
    version: u8,
    dir: PathBuf,
    limit_file: &'static str,
    limit: u64,
    usage: File,
    usage_file: &'static str,
    stat: Option<File>,
}

impl Limit {
    fn key(&self) -> (LimitKind, &Path, u64) {
        (self.kind, &self.dir, self.limit)
    }

    fn set_at(&self) -> String {
        format!(
            "{} of {} (cgroup v{})",
            self.limit_file,
            self.dir.display(),
            self.version
        )
    }
}

/// The limits of one process and the kernel events armed on them.
#[derive(Debug)]
pub struct Gauge {
    loc: Option<CgroupLocation>,
    limits: Vec<Limit>,
    meminfo: File,
    host: Option<Headroom>,
    host_read: Option<Instant>,
    sources: Vec<Source>,
    events_note: String,
    armed: Option<u64>,
}

/// A small /proc or cgroup file read again from its start.
fn pread_text(f: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut len = 0;
    loop {
        match f.read_at(&mut buf[len..], len as u64) {
            Ok(0) => return Ok(len),
            Ok(n) => {
                len += n;
                if len == buf.len() {
                    return Ok(len);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn counter(f: &File, name: &Path) -> Result<u64> {
    let mut buf = [0u8; 64];
    let n = pread_text(f, &mut buf)
        .map_err(|e| Error::io(format!("cannot read {}", name.display()), e))?;
    parse_counter(
        &String::from_utf8_lossy(&buf[..n]),
        &name.display().to_string(),
    )
}

/// The limits that `loc`'s group and its ancestors set (v1: memory and
/// memory+swap; v2: memory.max and memory.high), each with its usage file open.
fn find_limits(loc: &CgroupLocation) -> Vec<Limit> {
    let files: &[(LimitKind, &str, &str)] = if loc.version == 1 {
        &[
            (
                LimitKind::CgroupMax,
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            ),
            (
                LimitKind::CgroupMemsw,
                "memory.memsw.limit_in_bytes",
                "memory.memsw.usage_in_bytes",
            ),
        ]
    } else {
        &[
            (LimitKind::CgroupMax, "memory.max", "memory.current"),
            (LimitKind::CgroupHigh, "memory.high", "memory.current"),
        ]
    };
    let mut out = Vec::new();
    for dir in loc
        .dir
        .ancestors()
        .take_while(|p| p.starts_with(&loc.mount_point))
    {
        for &(kind, limit_file, usage_file) in files {
            let Ok(text) = read_text(dir.join(limit_file)) else {
                continue; // the root group has no limit files
            };
            let Ok(Some(limit)) = parse_limit(&text, limit_file) else {
                continue;
            };
            let Ok(usage) = File::open(dir.join(usage_file)) else {
                continue;
            };
            out.push(Limit {
                kind,
                version: loc.version,
                dir: dir.to_path_buf(),
                limit_file,
                limit,
                usage,
                usage_file,
                stat: File::open(dir.join("memory.stat")).ok(),
            });
        }
    }
    out
}

impl Gauge {
    /// The limits binding `pid` (its own group's way to the root, and the host).
    pub fn open(pid: u32) -> Result<Self> {
        let loc = locate_cgroup(pid)?;
        let limits = loc.as_ref().map(find_limits).unwrap_or_default();
        let meminfo = File::open("/proc/meminfo")
            .map_err(|e| Error::io("cannot open /proc/meminfo".to_string(), e))?;
        let mut g = Gauge {
            loc,
            limits,
            meminfo,
            host: None,
            host_read: None,
            sources: Vec::new(),
            events_note: "not armed yet".into(),
            armed: None,
        };
        g.read_host()?;
        Ok(g)
    }

    fn read_host(&mut self) -> Result<Headroom> {
        let mut buf = [0u8; 8192];
        let n = pread_text(&self.meminfo, &mut buf)
            .map_err(|e| Error::io("cannot read /proc/meminfo".to_string(), e))?;
        let m = parse_meminfo(&String::from_utf8_lossy(&buf[..n]))?;
        let h = Headroom {
            kind: LimitKind::Host,
            set_at: "host RAM (MemAvailable)".into(),
            limit_bytes: m.total_bytes,
            used_bytes: m.total_bytes - m.available_bytes,
            headroom_bytes: m.available_bytes,
            at_ns: monotonic_ns(),
        };
        self.host = Some(h.clone());
        self.host_read = Some(Instant::now());
        Ok(h)
    }

    fn read_limit(l: &Limit, near: u64, at_ns: u64) -> Result<Headroom> {
        let usage = counter(&l.usage, &l.dir.join(l.usage_file))?;
        let mut used = usage;
        if l.limit.saturating_sub(usage) < near {
            // Near the limit: the inactive file cache is dropped before anything
            // else, so it does not count.
            if let Some(stat) = &l.stat {
                let mut buf = [0u8; 8192];
                let n = pread_text(stat, &mut buf).map_err(|e| {
                    Error::io(
                        format!("cannot read {}", l.dir.join("memory.stat").display()),
                        e,
                    )
                })?;
                let st = parse_memory_stat(&String::from_utf8_lossy(&buf[..n]), l.version)?;
                used = usage.saturating_sub(st.inactive_file);
            }
        }
        Ok(Headroom {
            kind: l.kind,
            set_at: l.set_at(),
            limit_bytes: l.limit,
            used_bytes: used,
            headroom_bytes: l.limit.saturating_sub(used),
            at_ns,
        })
    }

    /// A reading of every limit now, the host's last. The host's MemAvailable is
    /// read with every read when it is within `2 * near` of running out, else once
    /// a second.
    pub fn read(&mut self, near: u64) -> Result<Vec<Headroom>> {
        let host_due = match (&self.host, self.host_read) {
            (Some(h), Some(t)) => {
                h.headroom_bytes < near.saturating_mul(2)
                    || t.elapsed() >= Duration::from_secs(1)
                    || self.limits.is_empty()
            }
            _ => true,
        };
        let host = if host_due {
            self.read_host()?
        } else {
            self.host.clone().expect("read at open")
        };
        let at_ns = monotonic_ns();
        let mut all = Vec::with_capacity(self.limits.len() + 1);
        for l in &self.limits {
            all.push(Self::read_limit(l, near, at_ns)?);
        }
        all.push(Headroom { at_ns, ..host });
        Ok(all)
    }

    /// Reads the limits again; true when one changed, appeared or went (then the
    /// kernel events are armed again on the new ones).
    pub fn refresh(&mut self) -> Result<bool> {
        let Some(loc) = &self.loc else {
            return Ok(false);
        };
        let fresh = find_limits(loc);
        let same = fresh.len() == self.limits.len()
            && fresh
                .iter()
                .zip(&self.limits)
                .all(|(a, b)| a.key() == b.key());
        if same {
            return Ok(false);
        }
        self.limits = fresh;
        if let Some(r) = self.armed {
            self.arm(r);
        }
        Ok(true)
    }

    /// Registers the kernel events that can tell of headroom falling through
    /// `reserve`: a v1 usage threshold on each limited group, inotify on each v2
    /// group's memory.events, a PSI trigger on the group's memory.pressure. What
    /// cannot be registered is said in `describe`, with the reason.
    pub fn arm(&mut self, reserve: u64) {
        self.armed = Some(reserve);
        self.sources.clear();
        let mut refused = Vec::new();
        for l in &self.limits {
            let got = match (l.version, l.kind) {
                (1, LimitKind::CgroupMax) => {
                    Source::threshold(&l.dir, l.limit.saturating_sub(reserve)).map_err(|e| {
                        let why = match e.raw_os_error() {
                            Some(libc::EROFS) => "the cgroup filesystem is mounted read-only",
                            Some(libc::EACCES) | Some(libc::EPERM) => {
                                "only root may write it (--w-------)"
                            }
                            _ => "",
                        };
                        format!(
                            "no usage threshold on {}: cgroup.event_control: {e}{}",
                            l.dir.display(),
                            if why.is_empty() {
                                String::new()
                            } else {
                                format!(" ({why})")
                            }
                        )
                    })
                }
                (2, LimitKind::CgroupMax) => Source::memory_events(&l.dir)
                    .map_err(|e| format!("no inotify on {}/memory.events: {e}", l.dir.display())),
                _ => continue,
            };
            match got {
                Ok(s) => self.sources.push(s),
                Err(why) => refused.push(why),
            }
        }
        if let Some(p) = self.loc.as_ref().and_then(|l| l.pressure_file.clone()) {
            match Source::pressure(&p, Duration::from_millis(50), Duration::from_millis(500)) {
                Ok(s) => self.sources.push(s),
                Err(e) => refused.push(format!("no PSI trigger on {}: {e}", p.display())),
            }
        }
        let armed: Vec<&str> = self.sources.iter().map(Source::describe).collect();
        self.events_note = match (armed.is_empty(), refused.is_empty()) {
            (true, true) => "no kernel events: no memory cgroup limit to watch".into(),
            (true, false) => format!("no kernel events ({})", refused.join("; ")),
            (false, true) => format!("kernel events: {}", armed.join(", ")),
            (false, false) => format!(
                "kernel events: {} (not: {})",
                armed.join(", "),
                refused.join("; ")
            ),
        };
    }

    /// Waits up to `timeout` for an armed kernel event.
    pub fn wait_event(&self, timeout: Duration) -> Result<Option<String>> {
        events::wait(&self.sources, timeout)
            .map_err(|e| Error::io("waiting for memory events".to_string(), e))
    }

    /// The limits watched and the kernel events, in words.
    pub fn describe(&self) -> String {
        let limits: Vec<String> = self
            .limits
            .iter()
            .map(|l| format!("{} {}", l.set_at(), crate::units::format_bytes(l.limit)))
            .collect();
        let watched = if limits.is_empty() {
            "host RAM (no memory cgroup limit)".to_string()
        } else {
            format!("{} and host RAM", limits.join(", "))
        };
        format!("{watched}; {}", self.events_note)
    }
}
