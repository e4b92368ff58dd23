//! Budget periods: UTC calendar days and months, or the token's whole life.

use serde::{Deserialize, Serialize};

use crate::common::timestamp::{civil_from_days, days_from_civil, format_rfc3339};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
    Total,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "month" => Some(Period::Month),
            "total" => Some(Period::Total),
            _ => None,
        }
    }

    /// The period containing `now` as `[start, end)` in Unix seconds; `Total` never ends.
    pub fn window(self, now: i64) -> (i64, Option<i64>) {
        let day = now.div_euclid(86_400);
        match self {
            Period::Day => (day * 86_400, Some((day + 1) * 86_400)),
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (days_from_civil(y, m, 1) * 86_400, Some(days_from_civil(ny, nm, 1) * 86_400))
            }
            Period::Total => (0, None),
        }
    }

    /// "today", "this month", "in total": how a message names the period.
    pub fn phrase(self) -> &'static str {
        match self {
            Period::Day => "per day",
            Period::Month => "per month",
            Period::Total => "in total",
        }
    }

    /// When the budget is available again, for a refusal's message.
    pub fn resets(self, now: i64) -> String {
        match self.window(now).1 {
            Some(end) => format!("It resets at {} (UTC).", format_rfc3339(end)),
            None => "It does not reset; ask the operator to raise it.".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::timestamp::parse_rfc3339;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn days_and_months_are_utc_calendar_periods() {
        let now = at("2026-12-31T23:59:59Z");
        assert_eq!(Period::Day.window(now), (at("2026-12-31T00:00:00Z"), Some(at("2027-01-01T00:00:00Z"))));
        assert_eq!(Period::Month.window(now), (at("2026-12-01T00:00:00Z"), Some(at("2027-01-01T00:00:00Z"))));
        let feb = at("2028-02-29T12:00:00Z");
        assert_eq!(Period::Month.window(feb), (at("2028-02-01T00:00:00Z"), Some(at("2028-03-01T00:00:00Z"))));
        assert_eq!(Period::Total.window(now), (0, None));
    }

    #[test]
    fn the_next_period_starts_where_the_last_ended() {
        let end = Period::Day.window(at("2026-12-01T10:00:00Z")).1.unwrap();
        assert_eq!(Period::Day.window(end).0, end);
        let end = Period::Month.window(at("2026-11-15T10:00:00Z")).1.unwrap();
        assert_eq!(Period::Month.window(end).0, end);
    }

    #[test]
    fn names_and_reset_messages() {
        assert_eq!(Period::parse("month"), Some(Period::Month));
        assert_eq!(Period::parse("week"), None);
        assert_eq!(Period::Day.resets(at("2026-12-01T10:00:00Z")), "It resets at 2026-12-02T00:00:00Z (UTC).");
        assert!(Period::Total.resets(0).contains("does not reset"));
    }
}
