//! The kernel's memory events a headroom watch can wait on besides its own reads:
//!
//! - cgroup v1 usage thresholds: an eventfd registered in `cgroup.event_control`
//!   ("<eventfd> <fd of memory.usage_in_bytes> <bytes>"), signalled when usage
//!   crosses the threshold (Documentation/admin-guide/cgroup-v1/memory.rst, 9).
//!   The file is `--w-------` root's: a read-only cgroup mount or an ordinary user
//!   cannot register one. Registering a listener changes no limit.
//! - cgroup v2 `memory.events`: inotify IN_MODIFY fires when its `high`, `max` or
//!   `oom` counters move (Documentation/admin-guide/cgroup-v2.rst).
//! - a PSI trigger on the group's `memory.pressure` (see `psi.rs`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::fs::{inotify, open, Mode, OFlags};

use super::psi::Trigger;

/// One source of kernel events, with what it is in words.
#[derive(Debug)]
pub enum Source {
    /// An eventfd signalled at a v1 usage threshold (the usage file stays open:
    /// the registration lives as long as both fds).
    Threshold {
        efd: OwnedFd,
        _usage: OwnedFd,
        what: String,
    },
    /// inotify on v2 memory.events.
    Events { fd: OwnedFd, what: String },
    /// A PSI trigger.
    Pressure { trigger: Trigger, what: String },
}

impl Source {
    /// Registers an eventfd on `group`'s memory.usage_in_bytes at `threshold` bytes.
    pub fn threshold(group: &Path, threshold: u64) -> io::Result<Self> {
        let control = open(
            group.join("cgroup.event_control"),
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let usage = open(
            group.join("memory.usage_in_bytes"),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let efd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        let line = format!(
            "{} {} {threshold}",
            std::os::fd::AsRawFd::as_raw_fd(&efd),
            std::os::fd::AsRawFd::as_raw_fd(&usage)
        );
        rustix::io::write(&control, line.as_bytes())?;
        Ok(Source::Threshold {
            efd,
            _usage: usage,
            what: format!(
                "an eventfd threshold on {} at {threshold} bytes",
                group.join("memory.usage_in_bytes").display()
            ),
        })
    }

    /// inotify on `group`'s memory.events.
    pub fn memory_events(group: &Path) -> io::Result<Self> {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        let file: PathBuf = group.join("memory.events");
        inotify::add_watch(&fd, &file, inotify::WatchFlags::MODIFY)?;
        Ok(Source::Events {
            fd,
            what: format!("inotify on {}", file.display()),
        })
    }

    /// A PSI trigger on `file`: `stall` within `window`, else, unprivileged, the
    /// shortest window an ordinary user may register (2 s).
    pub fn pressure(file: &Path, stall: Duration, window: Duration) -> io::Result<Self> {
        let trigger = match Trigger::open(file, stall, window) {
            Ok(t) => t,
            Err(_) => Trigger::open(file, stall, Duration::from_secs(2))?,
        };
        Ok(Source::Pressure {
            what: format!("a PSI trigger on {}", file.display()),
            trigger,
        })
    }

    pub fn describe(&self) -> &str {
        match self {
            Source::Threshold { what, .. }
            | Source::Events { what, .. }
            | Source::Pressure { what, .. } => what,
        }
    }

    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Source::Threshold { efd, .. } => efd.as_fd(),
            Source::Events { fd, .. } => fd.as_fd(),
            Source::Pressure { trigger, .. } => trigger.fd(),
        }
    }

    fn wanted(&self) -> PollFlags {
        match self {
            Source::Pressure { .. } => PollFlags::PRI,
            _ => PollFlags::IN,
        }
    }

    /// Consume what woke it, so the next poll waits for a new event.
    fn drain(&self) {
        let mut buf = [0u8; 4096];
        match self {
            Source::Threshold { efd, .. } => {
                let _ = rustix::io::read(efd, &mut buf[..8]);
            }
            Source::Events { fd, .. } => {
                while let Ok(n) = rustix::io::read(fd, &mut buf) {
                    if n == 0 {
                        break;
                    }
                }
            }
            Source::Pressure { .. } => {}
        }
    }
}

/// Waits up to `timeout` for any of `sources`; the description of the first that
/// fired, or None at the timeout. With no sources it sleeps.
pub fn wait(sources: &[Source], timeout: Duration) -> io::Result<Option<String>> {
    if sources.is_empty() {
        std::thread::sleep(timeout);
        return Ok(None);
    }
    let ts = Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    let mut fds: Vec<PollFd<'_>> = sources
        .iter()
        .map(|s| PollFd::from_borrowed_fd(s.fd(), s.wanted()))
        .collect();
    loop {
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let mut fired = None;
    for (s, p) in sources.iter().zip(fds.iter()) {
        let got = p.revents();
        if got.intersects(PollFlags::ERR | PollFlags::NVAL | PollFlags::HUP) {
            return Err(io::Error::other(format!(
                "{} reported {got:?}: its group went away",
                s.describe()
            )));
        }
        if got.intersects(s.wanted()) {
            s.drain();
            fired.get_or_insert_with(|| s.describe().to_string());
        }
    }
    Ok(fired)
}
