//! Waiting for headroom to fall through the reserve under the binding limit.
//!
//! Kernel events wake the waiter where they can be had (see
//! [`crate::probe::headroom`]); between them the limit is read again after the time
//! the fastest allocation seen here would take to eat the headroom above the
//! reserve ([`policy::headroom::next_read_in`]): about once a second far from the
//! limit, every few milliseconds near it. The limits themselves are read again
//! every second, so a limit changed at run time is seen within 1 s.
//!
//! A fall through the reserve is reported once; again only after headroom came
//! back above it, or fell by another quarter of the reserve, so a waiter with
//! nothing left to give back is not woken in a loop.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::model::{Headroom, HeadroomWake, WakeReason};
use crate::policy::headroom::{self as policy, binding, crossed, crossing_time, next_read_in};
use crate::probe::headroom::Gauge;

/// Growth faster than this between two reads closer than [`MIN_RATE_SPAN`] is
/// not trusted as a rate (usage counters are batched per CPU).
const MIN_RATE_SPAN: Duration = Duration::from_millis(1);
const MIN_RATE_BYTES: u64 = 16 << 20;

#[derive(Debug)]
pub struct HeadroomWatch {
    gauge: Gauge,
    explicit_reserve: Option<u64>,
    reserve: u64,
    rate: u64,
    last: Option<Headroom>,
    /// Headroom at the last fall reported (None: above the reserve since).
    reported: Option<u64>,
    /// When the limits were last read (None: read them at the next reading).
    limits_read: Option<Instant>,
    /// The limits changed since the last wait returned.
    changed: bool,
}

impl HeadroomWatch {
    /// A watch of the limits binding `pid`, keeping `reserve` bytes free under the
    /// binding limit (None: [`policy::reserve`]'s default for it).
    pub fn open(pid: u32, reserve: Option<u64>) -> Result<Self> {
        let mut gauge = Gauge::open(pid)?;
        let first = Self::bind(gauge.read(0)?)?;
        let r = policy::reserve(first.limit_bytes, reserve);
        gauge.arm(r);
        Ok(Self {
            gauge,
            explicit_reserve: reserve,
            reserve: r,
            rate: policy::DEFAULT_RATE,
            last: Some(first),
            reported: None,
            limits_read: Some(Instant::now()),
            changed: false,
        })
    }

    /// The reading that binds among the gauge's ([`binding`]).
    fn bind(all: Vec<Headroom>) -> Result<Headroom> {
        binding(all)
            .ok_or_else(|| crate::Error::Unsupported("no memory limit could be read".into()))
    }

    /// The reserve judged against now.
    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    /// The fastest growth seen (bytes/s), at least [`policy::DEFAULT_RATE`].
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Sets the reserve (None: the default for the binding limit) and arms the
    /// kernel events for it.
    pub fn set_reserve(&mut self, reserve: Option<u64>) -> Result<()> {
        self.explicit_reserve = reserve;
        let limit = self.read()?.limit_bytes;
        self.reserve = policy::reserve(limit, reserve);
        self.gauge.arm(self.reserve);
        self.reported = None;
        Ok(())
    }

    /// What is watched and how, in words.
    pub fn describe(&self) -> String {
        format!(
            "{}; reads paced for {}/s, at most {} ms apart",
            self.gauge.describe(),
            crate::units::format_bytes(self.rate),
            policy::MAX_INTERVAL.as_millis()
        )
    }

    /// One reading now, the file cache the kernel drops first never counted (a
    /// group's memory.stat is read every time). The limits themselves are read
    /// again when the last time is a second ago.
    pub fn read(&mut self) -> Result<Headroom> {
        self.read_near(u64::MAX)
    }

    /// As [`HeadroomWatch::read`], with the limits read again first: a limit
    /// changed at run time is seen at once (a load check, a figure shown).
    pub fn read_now(&mut self) -> Result<Headroom> {
        self.limits_read = None;
        self.read()
    }

    /// As [`HeadroomWatch::read`], reading a group's memory.stat only when its
    /// usage is within `near` of its limit (the paced reads of [`HeadroomWatch::wait`]:
    /// far from the limit the usage alone tells that headroom is above the reserve).
    fn read_near(&mut self, near: u64) -> Result<Headroom> {
        if self
            .limits_read
            .is_none_or(|t| t.elapsed() >= policy::MAX_INTERVAL)
        {
            self.limits_read = Some(Instant::now());
            if self.gauge.refresh()? {
                let r = Self::bind(self.gauge.read(0)?)?;
                self.reserve = policy::reserve(r.limit_bytes, self.explicit_reserve);
                self.gauge.arm(self.reserve);
                self.reported = None;
                self.last = None;
                self.changed = true;
            }
        }
        let r = Self::bind(self.gauge.read(near)?)?;
        if let Some(prev) = &self.last {
            let dt = r.at_ns.saturating_sub(prev.at_ns);
            let grew = r.used_bytes.saturating_sub(prev.used_bytes);
            if dt >= MIN_RATE_SPAN.as_nanos() as u64 && grew >= MIN_RATE_BYTES {
                let rate = (grew as u128 * 1_000_000_000 / dt as u128) as u64;
                self.rate = self.rate.max(rate);
            }
        }
        Ok(r)
    }

    /// Blocks until headroom falls through the reserve, the binding limit changes,
    /// or `timeout` passes; the reading that decided it comes with the reason.
    pub fn wait(&mut self, timeout: Duration) -> Result<HeadroomWake> {
        let deadline = Instant::now() + timeout;
        let mut woken_by = "paced read".to_string();
        loop {
            let near = self.reserve.saturating_add(self.reserve / 2);
            let r = self.read_near(near)?;
            if std::mem::take(&mut self.changed) {
                self.last = Some(r.clone());
                return Ok(self.wake(WakeReason::LimitChanged, r, None, "limit read again"));
            }
            let before = self.last.replace(r.clone());
            if crossed(&r, self.reserve) {
                let worse = self
                    .reported
                    .is_none_or(|h| r.headroom_bytes + self.reserve / 4 <= h);
                if worse {
                    self.reported = Some(r.headroom_bytes);
                    let at = before
                        .as_ref()
                        .and_then(|b| crossing_time(b, &r, self.reserve))
                        .or(Some(r.at_ns));
                    return Ok(self.wake(WakeReason::Crossed, r, at, &woken_by));
                }
            } else {
                self.reported = None;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(self.wake(WakeReason::Timeout, r, None, "timeout"));
            }
            // Read again before the fastest growth seen could cross the next line:
            // the reserve, or, once a fall was reported, another quarter of it.
            let line = match self.reported {
                Some(h) if crossed(&r, self.reserve) => h.saturating_sub(self.reserve / 4),
                _ => self.reserve,
            };
            let pause = next_read_in(r.headroom_bytes, line, self.rate)
                .min(deadline - now)
                .min(
                    policy::MAX_INTERVAL
                        .saturating_sub(self.limits_read.map_or(Duration::ZERO, |t| t.elapsed())),
                )
                .max(Duration::from_micros(100));
            woken_by = match self.gauge.wait_event(pause)? {
                Some(what) => format!("kernel event ({what})"),
                None => "paced read".to_string(),
            };
        }
    }

    fn wake(
        &self,
        reason: WakeReason,
        reading: Headroom,
        crossed_at_ns: Option<u64>,
        woken_by: &str,
    ) -> HeadroomWake {
        HeadroomWake {
            reason,
            reading,
            reserve_bytes: self.reserve,
            crossed_at_ns,
            woken_by: woken_by.to_string(),
        }
    }
}
