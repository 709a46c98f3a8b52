//! Windows: commit is what an allocation is refused by (the job's limit, then the
//! system's: "the paging file is too small", error 1455), physical memory is what
//! makes it page. The kernel event is the system's low-memory notification.

use std::time::{Duration, Instant};

use super::{commit_readings, CommitFigures};
use crate::error::{Error, Result};
use crate::model::Headroom;
use crate::probe::cgroup::read_cgroup;
use crate::sys::clock::monotonic_ns;
use crate::sys::windows::memory::{memory_status, performance_info};
use crate::sys::windows::notify::LowMemory;

#[derive(Debug)]
pub struct Gauge {
    pid: u32,
    job: Option<(u64, u64)>,
    job_read: Option<Instant>,
    low: Option<LowMemory>,
    note: String,
}

impl Gauge {
    pub fn open(pid: u32) -> Result<Self> {
        let mut g = Gauge {
            pid,
            job: None,
            job_read: None,
            low: None,
            note: "not armed yet".into(),
        };
        g.read_job();
        Ok(g)
    }

    fn read_job(&mut self) {
        // The job's limit and the commit of its processes (a process list walk):
        // read at most once a second.
        self.job = read_cgroup(self.pid)
            .ok()
            .flatten()
            .and_then(|(m, _)| m.limit_bytes.map(|l| (l, m.usage_bytes)));
        self.job_read = Some(Instant::now());
    }

    pub fn read(&mut self, _near: u64) -> Result<Vec<Headroom>> {
        if self
            .job_read
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.read_job();
        }
        let p = performance_info().map_err(|e| Error::io("GetPerformanceInfo".to_string(), e))?;
        let m = memory_status().map_err(|e| Error::io("GlobalMemoryStatusEx".to_string(), e))?;
        let page = p.PageSize as u64;
        let f = CommitFigures {
            job: self.job,
            commit_total: p.CommitTotal as u64 * page,
            commit_limit: p.CommitLimit as u64 * page,
            avail_phys: m.ullAvailPhys,
            total_phys: m.ullTotalPhys,
        };
        Ok(commit_readings(&f, monotonic_ns()))
    }

    pub fn refresh(&mut self) -> Result<bool> {
        let before = self.job.map(|(l, _)| l);
        self.read_job();
        Ok(self.job.map(|(l, _)| l) != before)
    }

    pub fn arm(&mut self, _reserve: u64) {
        match LowMemory::open() {
            Ok(l) => {
                self.low = Some(l);
                self.note = "kernel events: the system's low-memory notification".into();
            }
            Err(e) => {
                self.low = None;
                self.note = format!("no kernel events (CreateMemoryResourceNotification: {e})");
            }
        }
    }

    pub fn wait_event(&self, timeout: Duration) -> Result<Option<String>> {
        match &self.low {
            Some(l) => {
                let fired = l.wait(timeout).map_err(|e| {
                    Error::io("waiting for the low-memory notification".to_string(), e)
                })?;
                Ok(fired.then(|| "the system's low-memory notification".to_string()))
            }
            None => {
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }

    pub fn describe(&self) -> String {
        let watched = match self.job {
            Some((l, _)) => format!(
                "the job object's memory limit {}, the system commit limit and physical memory",
                crate::units::format_bytes(l)
            ),
            None => "the system commit limit and physical memory (no job object limit)".into(),
        };
        format!("{watched}; {}", self.note)
    }
}
