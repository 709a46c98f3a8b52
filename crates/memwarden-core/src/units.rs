//! Byte formatting and size parsing. memwarden prints binary units everywhere
//! (KiB, MiB, GiB); the seed-compatible status line is the one documented exception.

use crate::error::{Error, Result};

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `1536` -> `"1.50 KiB"`; exact bytes below 1 KiB.
pub fn format_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// Signed variant for deltas ("-1.20 GiB" when memory grew).
pub fn format_bytes_signed(delta: i64) -> String {
    if delta < 0 {
        format!("-{}", format_bytes(delta.unsigned_abs()))
    } else {
        format_bytes(delta as u64)
    }
}

/// Gigabytes (2^30, the unit the seeds label "GB") with one decimal and no
/// trailing ".0": 16 GiB -> "16", 8.54 GiB -> "8.5".
pub fn format_gb_short(bytes: u64) -> String {
    let gb = bytes as f64 / (1u64 << 30) as f64;
    let s = format!("{gb:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// Parse "512M", "1.5GiB", "2g", "4096", "1 GB" into bytes. Every suffix is binary
/// (K = KiB) because these are memory sizes, as in `free -h` and cgroup files.
pub fn parse_size(input: &str) -> Result<u64> {
    let s = input.trim();
    let bad = || {
        Error::InvalidInput(format!(
            "'{input}' is not a size (examples: 4096, 512M, 1.5G, 2GiB)"
        ))
    };
    if s.is_empty() {
        return Err(bad());
    }
    if s.starts_with('-') {
        return Err(Error::InvalidInput(format!(
            "'{input}' is not a size: sizes cannot be negative"
        )));
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = num * mult as f64;
    // u64::MAX as f64 rounds up to 2^64, which does not fit: >= refuses it.
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1536), "1.50 KiB");
        assert_eq!(format_bytes(3 << 30), "3.00 GiB");
        assert_eq!(format_bytes_signed(-(1 << 20)), "-1.00 MiB");
    }

    #[test]
    fn gb_short_matches_seed_status_line() {
        assert_eq!(format_gb_short(16 << 30), "16");
        assert_eq!(format_gb_short((85 << 30) / 10), "8.5");
        assert_eq!(format_gb_short(0), "0");
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("2 GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert!(parse_size("-1")
            .unwrap_err()
            .to_string()
            .contains("cannot be negative"));
        for bad in [
            "",
            "abc",
            "-1G",
            "1.2.3",
            "5Q",
            "G",
            "1e99",
            "10ZB",
            "16777216T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad} should be rejected");
        }
    }
}
