//! Windows: trim a process's working set. EmptyWorkingSet removes every page it
//! can from the working set; SetProcessWorkingSetSizeEx(-1, -1) then asks the
//! memory manager to trim it as far as it will. Private pages go to the modified
//! list and from there to the page file; file-backed pages to the standby list.
//! Both calls want a handle with PROCESS_SET_QUOTA and
//! PROCESS_QUERY_LIMITED_INFORMATION; neither wants a privilege when the sizes are
//! (-1, -1). The same two calls serve MADV_PAGEOUT and MADV_COLD requests: Windows
//! has no "mark as first to reclaim" of its own.
//!
//! The steps around these calls (refusals, guard, measurements, the report) are
//! the OS-neutral `act::pageout`.

use std::os::windows::io::{AsRawHandle, OwnedHandle};

use windows_sys::Win32::System::Memory::SetProcessWorkingSetSizeEx;
use windows_sys::Win32::System::ProcessStatus::K32EmptyWorkingSet;
use windows_sys::Win32::System::Threading::{PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SET_QUOTA};

use crate::error::{Error, Result};
use crate::model::Identity;
use crate::model::PageoutAdvice;
use crate::sys::Advised;

use super::privileges;
use super::process::{last_error, memory_counters, open, open_error, start_time};

const ACCESS: u32 = PROCESS_SET_QUOTA | PROCESS_QUERY_LIMITED_INFORMATION;

/// What grants the access a trim needs.
const TRIM_NEEDS: &str = "PROCESS_SET_QUOTA and PROCESS_QUERY_LIMITED_INFORMATION access to \
     it: run memwarden as the process's user, or elevated (as Administrator) for other users' \
     processes and services; protected processes refuse even then";

/// The PID-reuse check: the handle must hold the very process `first` identified.
fn same_process(first: &Identity, start_time: u64) -> Result<()> {
    if start_time == first.start_time {
        Ok(())
    } else {
        Err(Error::NoSuchProcess {
            pid: first.pid as i64,
        })
    }
}

/// A process opened for a working-set trim, pinned by its handle (the PID cannot
/// be reused while the handle is open) and verified by its creation time.
pub struct Target {
    pid: u32,
    start_time: u64,
    handle: OwnedHandle,
}

impl Target {
    pub fn open(id: &Identity) -> Result<Self> {
        let pid = id.pid;
        let handle = open(pid, ACCESS)
            .map_err(|e| open_error(pid, "trimming the working set", TRIM_NEEDS, e))?;
        let created =
            start_time(&handle).map_err(|e| Error::io(format!("GetProcessTimes({pid})"), e))?;
        same_process(id, created)?;
        Ok(Self {
            pid,
            start_time: created,
            handle,
        })
    }

    /// How the process was opened, for the report's "open" step.
    pub fn describe(&self) -> String {
        let own = if self.pid == std::process::id() {
            "own process, "
        } else {
            ""
        };
        format!(
            "{own}process handle with PROCESS_SET_QUOTA | PROCESS_QUERY_LIMITED_INFORMATION \
             (creation time {} verified)",
            self.start_time
        )
    }

    /// The handle already carries the rights a trim needs (open would have been
    /// refused otherwise), and a trim to (-1, -1) needs no privilege; the
    /// privileges a memory cleaner uses are still enabled where our token holds
    /// them, and the step says which were granted.
    pub fn check_privileges(&mut self) -> Result<String> {
        let granted = privileges::enable(&privileges::TRIM_PRIVILEGES);
        Ok(format!(
            "{}; PROCESS_SET_QUOTA granted on the handle; emptying a working set needs no \
             privilege",
            privileges::describe(&granted)
        ))
    }

    /// EmptyWorkingSet, then SetProcessWorkingSetSizeEx(-1, -1). Fails only when
    /// both calls fail; the detail says how each went.
    pub fn page_out(
        &self,
        _advice: PageoutAdvice,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Advised> {
        let ws = memory_counters(Some(&self.handle))
            .map(|c| c.WorkingSetSize as u64)
            .map_err(|e| Error::io(format!("GetProcessMemoryInfo({})", self.pid), e))?;
        progress(0, ws);
        let h = self.handle.as_raw_handle();
        // SAFETY: a valid process handle with PROCESS_SET_QUOTA and query access.
        let empty = (unsafe { K32EmptyWorkingSet(h) } != 0)
            .then_some(())
            .ok_or_else(last_error);
        // SAFETY: as above; (-1, -1) as usize is the documented "trim" request.
        let set = (unsafe { SetProcessWorkingSetSizeEx(h, usize::MAX, usize::MAX, 0) } != 0)
            .then_some(())
            .ok_or_else(last_error);
        progress(ws, ws);
        let detail = trim_detail(&empty, &set);
        match (empty, set) {
            (Err(e), Err(_)) => Err(trim_error(self.pid, e)),
            _ => Ok(Advised {
                ranges: 1,
                bytes: ws,
                detail: Some(detail),
                ..Default::default()
            }),
        }
    }
}

fn outcome(r: &std::io::Result<()>) -> String {
    match r {
        Ok(()) => "done".into(),
        Err(e) => format!("failed: {e}"),
    }
}

/// The "advise" step of the report: what each call did.
fn trim_detail(empty: &std::io::Result<()>, set: &std::io::Result<()>) -> String {
    format!(
        "working-set trim: EmptyWorkingSet {}; SetProcessWorkingSetSizeEx(-1, -1) {}",
        outcome(empty),
        outcome(set)
    )
}

fn trim_error(pid: u32, e: std::io::Error) -> Error {
    match e.raw_os_error().map(|c| c as u32) {
        Some(windows_sys::Win32::Foundation::ERROR_ACCESS_DENIED) => Error::PermissionDenied {
            what: format!("trimming the working set of PID {pid}"),
            needs: TRIM_NEEDS.into(),
        },
        _ => Error::io(format!("EmptyWorkingSet({pid})"), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(start_time: u64) -> Identity {
        Identity {
            pid: 42,
            name: "python.exe".into(),
            start_time,
            kernel_thread: false,
            zombie: false,
        }
    }

    #[test]
    fn a_reused_pid_is_no_such_process() {
        assert!(same_process(&id(1000), 1000).is_ok());
        let e = same_process(&id(1000), 1001).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit_code::NOT_FOUND);
    }

    #[test]
    fn both_outcomes_are_reported() {
        let denied = || std::io::Error::from_raw_os_error(5);
        let d = trim_detail(&Ok(()), &Err(denied()));
        assert!(
            d.contains("EmptyWorkingSet done") && d.contains("(-1, -1) failed"),
            "{d}"
        );
        let e = trim_error(42, denied());
        assert_eq!(e.exit_code(), crate::error::exit_code::PERMISSION);
        assert!(e.to_string().contains("PROCESS_SET_QUOTA"), "{e}");
    }

    #[test]
    fn own_process_is_trimmed() {
        let me = crate::probe::process::identity(std::process::id()).unwrap();
        let mut t = Target::open(&me).unwrap();
        assert!(t.describe().contains("own process"));
        t.check_privileges().unwrap();
        let a = t.page_out(PageoutAdvice::Pageout, &mut |_, _| {}).unwrap();
        assert!(a.detail.unwrap().contains("EmptyWorkingSet"));
    }
}
