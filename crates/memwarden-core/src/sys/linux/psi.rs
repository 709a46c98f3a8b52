//! A PSI trigger (Documentation/accounting/psi.rst): write "some STALL WINDOW" (µs)
//! to a pressure file opened read-write, then poll(2) it for POLLPRI, which the
//! kernel raises when tasks stalled on memory for STALL within any WINDOW.
//! Unprivileged processes may only register windows that are multiples of 2 s
//! (kernel 6.5+; older kernels refuse them with EPERM).

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::{open, Mode, OFlags};

#[derive(Debug)]
pub struct Trigger {
    fd: OwnedFd,
    path: PathBuf,
}

impl Trigger {
    /// Registers a trigger on `path` (/proc/pressure/memory or a cgroup v2
    /// memory.pressure): fires when "some" tasks stalled `stall` within `window`.
    pub fn open(path: &Path, stall: Duration, window: Duration) -> io::Result<Self> {
        let fd = open(
            path,
            OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let spec = format!("some {} {}\0", stall.as_micros(), window.as_micros());
        rustix::io::write(&fd, spec.as_bytes())?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The registered file, for a poll over several sources.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }

    /// Blocks until the trigger fires (true) or `timeout` passes (false). POLLERR
    /// means the file went away (its cgroup was removed): an error.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let ts = Timespec {
            tv_sec: timeout.as_secs() as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(&self.fd, PollFlags::PRI)];
        loop {
            match poll(&mut fds, Some(&ts)) {
                Ok(0) => return Ok(false),
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let got = fds[0].revents();
        if got.intersects(PollFlags::ERR | PollFlags::NVAL | PollFlags::HUP) {
            return Err(io::Error::other(format!(
                "{} reported {got:?}: the pressure file went away",
                self.path.display()
            )));
        }
        Ok(got.contains(PollFlags::PRI))
    }
}
