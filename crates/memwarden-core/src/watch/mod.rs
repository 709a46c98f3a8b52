//! Waiting for memory pressure without a busy loop: a PSI trigger polled with
//! poll(2) where the kernel allows one (Linux 5.2+, unprivileged 6.5+ with windows
//! in multiples of 2 s), on the process's cgroup v2 memory.pressure when it has
//! one, else /proc/pressure/memory; elsewhere, or when registration is refused,
//! periodic sampling (the caller checks the figures each time `wait` returns),
//! saying which is in use and why.

pub mod headroom;

use std::path::PathBuf;
use std::time::Duration;

#[cfg(target_os = "linux")]
use crate::sys::psi as os;
#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(target_os = "linux"))]
use unsupported as os;

/// How much stall, within which window, fires the trigger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchConfig {
    pub stall: Duration,
    pub window: Duration,
    /// The sampling period when no trigger can be registered.
    pub sample: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            stall: Duration::from_millis(150),
            window: Duration::from_secs(2),
            sample: Duration::from_secs(1),
        }
    }
}

#[derive(Debug)]
enum How {
    Trigger(os::Trigger),
    Sampling,
}

/// A pressure watch: a trigger, or sampling with the reason there is no trigger.
#[derive(Debug)]
pub struct PressureWatch {
    how: How,
    config: WatchConfig,
    description: String,
}

/// The pressure files to try, most specific first.
fn candidates(cgroup_file: Option<PathBuf>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = cgroup_file.into_iter().collect();
    v.push(PathBuf::from("/proc/pressure/memory"));
    v
}

impl PressureWatch {
    /// The best watch this process can have: a trigger on its cgroup's
    /// memory.pressure, else on /proc/pressure/memory, else sampling.
    pub fn open(config: WatchConfig) -> Self {
        let cgroup_file = crate::probe::cgroup::read_cgroup(std::process::id())
            .ok()
            .flatten()
            .and_then(|(_, loc)| loc.pressure_file);
        Self::open_on(config, &candidates(cgroup_file))
    }

    /// As [`PressureWatch::open`], trying exactly `files` in order (tests, or a
    /// chosen file).
    pub fn open_on(config: WatchConfig, files: &[PathBuf]) -> Self {
        let mut refused = Vec::new();
        for f in files {
            match os::Trigger::open(f, config.stall, config.window) {
                Ok(t) => {
                    let description = format!(
                        "PSI trigger on {} (some tasks stalled {} ms within {} ms)",
                        f.display(),
                        config.stall.as_millis(),
                        config.window.as_millis()
                    );
                    return Self {
                        how: How::Trigger(t),
                        config,
                        description,
                    };
                }
                Err(e) => refused.push(format!("{}: {e}", f.display())),
            }
        }
        Self::sampling(config, &refused.join("; "))
    }

    /// Sampling every `config.sample`, because of `why`.
    pub fn sampling(config: WatchConfig, why: &str) -> Self {
        let description = format!(
            "sampling every {:.1} s (no PSI trigger: {why})",
            config.sample.as_secs_f64()
        );
        Self {
            how: How::Sampling,
            config,
            description,
        }
    }

    pub fn is_trigger(&self) -> bool {
        matches!(self.how, How::Trigger(_))
    }

    /// What is in use, in words.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Trigger: blocks until it fires (true) or `timeout` passes (false).
    /// Sampling: sleeps `min(timeout, sample)` and returns false (time to sample).
    pub fn wait(&self, timeout: Duration) -> crate::Result<bool> {
        match &self.how {
            How::Trigger(t) => t.wait(timeout).map_err(|source| crate::Error::Io {
                context: format!("waiting on {}", t.path().display()),
                source,
            }),
            How::Sampling => {
                std::thread::sleep(timeout.min(self.config.sample));
                Ok(false)
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_file_that_refuses_triggers_falls_back_to_sampling_with_the_reason() {
        let w = PressureWatch::open_on(
            WatchConfig::default(),
            &[
                PathBuf::from("/nonexistent/memory.pressure"),
                PathBuf::from("/proc/meminfo"),
            ],
        );
        assert!(!w.is_trigger());
        let d = w.describe();
        assert!(
            d.starts_with("sampling every 1.0 s (no PSI trigger: /nonexistent/memory.pressure: "),
            "{d}"
        );
        assert!(d.contains("/proc/meminfo: "), "{d}");
        assert!(!w.wait(Duration::from_millis(10)).unwrap());
    }

    #[test]
    fn registers_on_proc_pressure_memory_where_the_kernel_has_psi() {
        let p = Path::new("/proc/pressure/memory");
        if !p.exists() {
            eprintln!("SKIP: {} absent (kernel without PSI or psi=0)", p.display());
            return;
        }
        let w = PressureWatch::open_on(WatchConfig::default(), &[p.to_path_buf()]);
        if !w.is_trigger() {
            // Unprivileged on a kernel before 6.5: the fallback must say why.
            assert!(
                w.describe().contains("/proc/pressure/memory: "),
                "{}",
                w.describe()
            );
            eprintln!("SKIP trigger wait: {}", w.describe());
            return;
        }
        assert_eq!(
            w.describe(),
            "PSI trigger on /proc/pressure/memory (some tasks stalled 150 ms within 2000 ms)"
        );
        // A quiet machine: the wait times out (false) or the trigger fired (true);
        // both mean poll(2) worked on the registered trigger.
        w.wait(Duration::from_millis(20)).unwrap();
    }
}
