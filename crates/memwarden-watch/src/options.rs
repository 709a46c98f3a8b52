//! What `memwarden watch` is asked for: the refresh interval, the sort key, colour.

use std::fmt;
use std::time::Duration;

/// The shortest refresh interval accepted (`--interval`, the `+` key).
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The longest refresh interval accepted.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// The refresh interval without `--interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// The column the process list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Resident memory (RSS), largest first.
    Memory,
    /// Process ID, lowest first.
    Pid,
    /// Process name, then command line, alphabetically.
    Command,
    /// Swapped-out memory, largest first.
    Swap,
}

impl SortKey {
    /// Every key, in the order the help lists them.
    pub const ALL: [SortKey; 4] = [
        SortKey::Memory,
        SortKey::Pid,
        SortKey::Command,
        SortKey::Swap,
    ];

    /// The name `--sort` takes.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Memory => "memory",
            SortKey::Pid => "pid",
            SortKey::Command => "command",
            SortKey::Swap => "swap",
        }
    }

    /// The key that selects it in the view.
    pub fn key(self) -> char {
        match self {
            SortKey::Memory => 'm',
            SortKey::Pid => 'p',
            SortKey::Command => 'c',
            SortKey::Swap => 's',
        }
    }

    /// The natural direction: sizes largest first, PIDs and names ascending.
    pub fn descending_by_default(self) -> bool {
        matches!(self, SortKey::Memory | SortKey::Swap)
    }

    /// `--sort` values: the name or its key letter.
    pub fn parse(s: &str) -> Result<SortKey, String> {
        let t = s.trim().to_ascii_lowercase();
        SortKey::ALL
            .into_iter()
            .find(|k| k.name() == t || t.len() == 1 && t.starts_with(k.key()))
            .ok_or_else(|| {
                let names: Vec<_> = SortKey::ALL.iter().map(|k| k.name()).collect();
                format!("'{s}' is not a sort key (one of: {})", names.join(", "))
            })
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--interval SECS`: a number of seconds (fractions allowed) between
/// [`MIN_INTERVAL`] and [`MAX_INTERVAL`].
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds (e.g. 1, 0.5, 2)"))?;
    if !secs.is_finite() {
        return Err(format!(
            "'{s}' is not a finite number of seconds (e.g. 1, 0.5, 2)"
        ));
    }
    if secs <= 0.0 {
        return Err(format!(
            "the refresh interval must be more than 0 seconds, not {s}"
        ));
    }
    let d = Duration::from_secs_f64(secs);
    if d < MIN_INTERVAL || d > MAX_INTERVAL {
        return Err(format!(
            "the refresh interval must be between {} and {} seconds, not {s}",
            MIN_INTERVAL.as_secs_f64(),
            MAX_INTERVAL.as_secs_f64()
        ));
    }
    Ok(d)
}

/// The interval one `+` (faster) or `-` (slower) press away: halved or doubled,
/// kept within bounds.
pub fn step_interval(d: Duration, faster: bool) -> Duration {
    let next = if faster { d / 2 } else { d * 2 };
    next.clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// How the view is started.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub interval: Duration,
    pub sort: SortKey,
    /// Colours on screen (off for NO_COLOR, `--no-color`, `--color never`).
    pub color: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            sort: SortKey::Memory,
            color: true,
        }
    }
}

/// Whether the NO_COLOR convention (no-color.org) asks for no colour: the
/// variable is set and not empty.
pub fn no_color_env(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_refuse_clearly() {
        assert_eq!(parse_interval("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval(" 0.5 "), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2.25"), Ok(Duration::from_millis(2250)));
        let e = parse_interval("0").unwrap_err();
        assert!(e.contains("more than 0 seconds"), "{e}");
        let e = parse_interval("-1").unwrap_err();
        assert!(e.contains("more than 0 seconds, not -1"), "{e}");
        for bad in ["NaN", "nan", "inf", "-inf"] {
            let e = parse_interval(bad).unwrap_err();
            assert!(e.contains("not a finite number"), "{bad}: {e}");
        }
        let e = parse_interval("fast").unwrap_err();
        assert!(e.contains("'fast' is not a number of seconds"), "{e}");
        let e = parse_interval("0.01").unwrap_err();
        assert!(e.contains("between 0.1 and 3600"), "{e}");
        assert!(parse_interval("3601").is_err());
        assert!(parse_interval("").is_err());
    }

    #[test]
    fn interval_steps_halve_and_double_within_bounds() {
        let one = Duration::from_secs(1);
        assert_eq!(step_interval(one, true), Duration::from_millis(500));
        assert_eq!(step_interval(one, false), Duration::from_secs(2));
        assert_eq!(step_interval(MIN_INTERVAL, true), MIN_INTERVAL);
        assert_eq!(step_interval(MAX_INTERVAL, false), MAX_INTERVAL);
    }

    #[test]
    fn sort_keys_by_name_or_letter() {
        assert_eq!(SortKey::parse("memory"), Ok(SortKey::Memory));
        assert_eq!(SortKey::parse("PID"), Ok(SortKey::Pid));
        assert_eq!(SortKey::parse("c"), Ok(SortKey::Command));
        assert_eq!(SortKey::parse("s"), Ok(SortKey::Swap));
        let e = SortKey::parse("cpu").unwrap_err();
        assert_eq!(
            e,
            "'cpu' is not a sort key (one of: memory, pid, command, swap)"
        );
        assert!(SortKey::parse("").is_err());
        assert!(SortKey::parse("mx").is_err());
    }

    #[test]
    fn no_color_means_set_and_not_empty() {
        use std::ffi::OsStr;
        assert!(!no_color_env(None));
        assert!(!no_color_env(Some(OsStr::new(""))));
        assert!(no_color_env(Some(OsStr::new("1"))));
        assert!(no_color_env(Some(OsStr::new("0"))));
    }
}
