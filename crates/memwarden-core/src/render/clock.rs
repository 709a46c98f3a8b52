//! Dates and times in reports, from Unix milliseconds, without a time-zone
//! database: the caller knows its offset from UTC.

/// `2026-11-23 20:41:07` from Unix milliseconds, `utc_offset_s` seconds east of UTC.
pub fn local_time(ms: u64, utc_offset_s: i64) -> String {
    let secs = (ms / 1000) as i64 + utc_offset_s;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_east_and_west_of_utc() {
        assert_eq!(local_time(0, 0), "1970-01-01 00:00:00");
        assert_eq!(local_time(1_790_000_000_000, 0), "2026-09-21 14:13:20");
        assert_eq!(local_time(1_790_000_000_999, 3600), "2026-09-21 15:13:20");
        assert_eq!(local_time(0, -3600), "1969-12-31 23:00:00");
        assert_eq!(local_time(951_782_400_000, 0), "2000-02-29 00:00:00");
    }
}
