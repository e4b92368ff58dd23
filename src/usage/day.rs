//! UTC days and hours as the ledger keys them: a day is the number of days since 1970-01-01, an
//! hour the Unix time of its first second. The calendar arithmetic is `common::timestamp`'s.

use crate::common::timestamp::{civil_from_days, days_from_civil};

pub const SECONDS_PER_DAY: i64 = 86_400;

/// The day of a Unix time.
pub fn day_of(unix: i64) -> i64 {
    unix.div_euclid(SECONDS_PER_DAY)
}

/// The hour (its first second) of a Unix time.
pub fn hour_of(unix: i64) -> i64 {
    unix - unix.rem_euclid(3600)
}

/// `2026-12-01`
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-12-01T13:00Z`, the period of an hourly row.
pub fn format_hour(hour: i64) -> String {
    format!("{}T{:02}:00Z", format_day(day_of(hour)), hour.rem_euclid(SECONDS_PER_DAY) / 3600)
}

/// Parses exactly `YYYY-MM-DD` (a real date) into a day number.
pub fn parse_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d == 0 || d > month_days[m as usize - 1] {
        return None;
    }
    Some(days_from_civil(y as i64, m, d))
}

/// The first day of the month `day` is in.
pub fn month_start(day: i64) -> i64 {
    let (y, m, _) = civil_from_days(day);
    days_from_civil(y, m, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_bad_dates_are_refused() {
        let d = parse_day("2026-12-01").unwrap();
        assert_eq!(format_day(d), "2026-12-01");
        assert_eq!(d * SECONDS_PER_DAY, 1_796_083_200);
        assert_eq!(parse_day("2024-02-29").map(format_day).as_deref(), Some("2024-02-29"));
        for bad in ["2026-02-29", "2026-13-01", "2026-1-01", "20261201", "2026-12-01T00:00:00Z", "", "abcd-ef-gh"] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(format_hour(1_796_083_200 + 13 * 3600 + 59), "2026-12-01T13:00Z");
        assert_eq!(hour_of(1_796_083_200 + 13 * 3600 + 59), 1_796_083_200 + 13 * 3600);
        assert_eq!(format_day(month_start(parse_day("2026-12-17").unwrap())), "2026-12-01");
    }
}
