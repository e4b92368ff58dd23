//! The admin usage query: its parameters, the rows grouped by day, hour or model, the totals,
//! and the CSV form. Pure: the ledger object hands in its stored rows.

use serde::Serialize;

use super::day::{day_of, format_day, format_hour, parse_day, SECONDS_PER_DAY};
use super::ledger::{Counters, DAILY_RETENTION_DAYS, HOURLY_RETENTION_DAYS};

/// The default range: the last 30 days, today included.
pub const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Day,
    Hour,
    Model,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Inclusive UTC days.
    pub from: i64,
    pub to: i64,
    pub by: By,
    pub csv: bool,
}

/// A bad parameter: the API answers 400 naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub param: &'static str,
    pub message: String,
}

fn error(param: &'static str, message: impl Into<String>) -> QueryError {
    QueryError { param, message: message.into() }
}

fn date_param(params: &[(String, String)], name: &'static str) -> Result<Option<i64>, QueryError> {
    match params.iter().rev().find(|(k, _)| k == name) {
        None => Ok(None),
        Some((_, v)) if v.is_empty() => Ok(None),
        Some((_, v)) => parse_day(v).map(Some).ok_or_else(|| error(name, format!("`{name}` must be a date as YYYY-MM-DD (UTC), not {v:?}"))),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// Reads `from`, `to`, `by` and `format` (defaults: the last 30 days, by day, JSON).
pub fn parse_query(params: &[(String, String)], now: i64) -> Result<Query, QueryError> {
    let today = day_of(now);
    let from = date_param(params, "from")?;
    let to = date_param(params, "to")?;
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, today.max(f)),
        (None, Some(t)) => (t - (DEFAULT_DAYS - 1), t),
        (None, None) => (today - (DEFAULT_DAYS - 1), today),
    };
    if from > to {
        return Err(error("from", "`from` must not be after `to`"));
    }
    if to - from + 1 > DAILY_RETENTION_DAYS {
        return Err(error("from", format!("`from` to `to` may span at most {DAILY_RETENTION_DAYS} days (daily rows are kept that long)")));
    }
    let by = match param(params, "by") {
        None | Some("day") => By::Day,
        Some("hour") => By::Hour,
        Some("model") => By::Model,
        Some(other) => return Err(error("by", format!("`by` must be day, hour or model, not {other:?}"))),
    };
    if by == By::Hour && from <= today - HOURLY_RETENTION_DAYS {
        return Err(error("from", format!("hourly rows are kept {HOURLY_RETENTION_DAYS} days: with by=hour, `from` must be within them")));
    }
    let csv = match param(params, "format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(error("format", format!("`format` must be json or csv, not {other:?}"))),
    };
    Ok(Query { from, to, by, csv })
}

impl Query {
    /// The first and last Unix second the query covers.
    pub fn seconds(&self) -> (i64, i64) {
        (self.from * SECONDS_PER_DAY, (self.to + 1) * SECONDS_PER_DAY - 1)
    }
}

/// A row as the ledger stores it: a day (daily rows) or an hour (hourly rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub period: i64,
    pub provider: String,
    pub model: String,
    pub counters: Counters,
}

/// The counters as the API shows them (cost in USD).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_usd: f64,
    pub unpriced_requests: u64,
    pub estimated_requests: u64,
    pub partial_requests: u64,
}

impl From<&Counters> for Totals {
    fn from(c: &Counters) -> Totals {
        Totals {
            requests: c.requests,
            input_tokens: c.input_tokens,
            cached_input_tokens: c.cached_input_tokens,
            cache_write_tokens: c.cache_write_tokens,
            output_tokens: c.output_tokens,
            reasoning_tokens: c.reasoning_tokens,
            cost_usd: c.cost_usd(),
            unpriced_requests: c.unpriced_requests,
            estimated_requests: c.estimated_requests,
            partial_requests: c.partial_requests,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub period: String,
    pub provider: String,
    pub model: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    /// `null`: no request in the row had a price ("no price").
    pub cost_usd: Option<f64>,
    pub unpriced_requests: u64,
    pub estimated_requests: u64,
    pub partial_requests: u64,
}

impl Row {
    fn new(period: String, provider: String, model: String, c: &Counters) -> Row {
        Row {
            period,
            provider,
            model,
            requests: c.requests,
            input_tokens: c.input_tokens,
            cached_input_tokens: c.cached_input_tokens,
            cache_write_tokens: c.cache_write_tokens,
            output_tokens: c.output_tokens,
            reasoning_tokens: c.reasoning_tokens,
            cost_usd: c.priced_cost_usd(),
            unpriced_requests: c.unpriced_requests,
            estimated_requests: c.estimated_requests,
            partial_requests: c.partial_requests,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub token_id: String,
    pub from: String,
    pub to: String,
    pub totals: Totals,
    pub rows: Vec<Row>,
}

/// Groups the stored rows of the query's range (daily rows, or hourly ones for `by=hour`) by
/// period (or, for `by=model`, the whole range), provider and model; sums the totals.
pub fn build(token_id: &str, q: &Query, stored: &[Stored]) -> Report {
    use std::collections::BTreeMap;
    let (first, last) = match q.by {
        By::Hour => q.seconds(),
        _ => (q.from, q.to),
    };
    let mut groups: BTreeMap<(i64, String, String), Counters> = BTreeMap::new();
    let mut totals = Counters::default();
    for s in stored.iter().filter(|s| (first..=last).contains(&s.period)) {
        let period = if q.by == By::Model { 0 } else { s.period };
        groups.entry((period, s.provider.clone(), s.model.clone())).or_default().add(&s.counters);
        totals.add(&s.counters);
    }
    let range = format!("{}/{}", format_day(q.from), format_day(q.to));
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|((period, provider, model), c)| {
            let period = match q.by {
                By::Day => format_day(period),
                By::Hour => format_hour(period),
                By::Model => range.clone(),
            };
            Row::new(period, provider, model, &c)
        })
        .collect();
    if q.by == By::Model {
        // Most expensive first; the unpriced after the priced.
        rows.sort_by(|a, b| b.cost_usd.unwrap_or(-1.0).total_cmp(&a.cost_usd.unwrap_or(-1.0)).then(b.requests.cmp(&a.requests)));
    }
    Report { token_id: token_id.to_string(), from: format_day(q.from), to: format_day(q.to), totals: Totals::from(&totals), rows }
}

/// A CSV field: quoted when it holds a separator, and defused when a spreadsheet would read it
/// as a formula (a model name is the client's to choose).
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub const CSV_HEADER: &str = "period,provider,model,requests,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,reasoning_tokens,cost_usd,unpriced_requests,estimated_requests,partial_requests";

/// The report's rows as CSV with a header line; an unpriced row's cost is empty.
pub fn csv(report: &Report) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in &report.rows {
        // serde_json prints floats the shortest exact way (and without core's float formatting).
        let cost = r.cost_usd.map(|c| serde_json::to_string(&c).unwrap_or_default()).unwrap_or_default();
        let fields = [
            csv_field(&r.period),
            csv_field(&r.provider),
            csv_field(&r.model),
            r.requests.to_string(),
            r.input_tokens.to_string(),
            r.cached_input_tokens.to_string(),
            r.cache_write_tokens.to_string(),
            r.output_tokens.to_string(),
            r.reasoning_tokens.to_string(),
            cost,
            r.unpriced_requests.to_string(),
            r.estimated_requests.to_string(),
            r.partial_requests.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// One token's totals over a range, for the account overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenTotals {
    pub token_id: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Sums the account roll-up's `(day, token, counters)` rows per token over `from..=to`, most
/// expensive first.
pub fn per_token(rows: &[(i64, String, Counters)], from: i64, to: i64) -> (Counters, Vec<(String, Counters)>) {
    let mut by_token: std::collections::BTreeMap<String, Counters> = Default::default();
    let mut all = Counters::default();
    for (day, token, c) in rows.iter().filter(|(d, _, _)| (from..=to).contains(d)) {
        let _ = day;
        by_token.entry(token.clone()).or_default().add(c);
        all.add(c);
    }
    let mut list: Vec<(String, Counters)> = by_token.into_iter().collect();
    list.sort_by(|a, b| b.1.cost_pusd.cmp(&a.1.cost_pusd).then(b.1.requests.cmp(&a.1.requests)).then(a.0.cmp(&b.0)));
    (all, list)
}

/// The consumer's own view: today's and this month's totals from its daily rows.
pub fn today_and_month(days: &[(i64, Counters)], now: i64) -> (Counters, Counters) {
    let today = day_of(now);
    let month = super::day::month_start(today);
    let mut t = Counters::default();
    let mut m = Counters::default();
    for (day, c) in days {
        if *day == today {
            t.add(c);
        }
        if (month..=today).contains(day) {
            m.add(c);
        }
    }
    (t, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn now() -> i64 {
        parse_day("2026-12-01").unwrap() * SECONDS_PER_DAY + 12 * 3600
    }

    #[test]
    fn defaults_are_the_last_30_days_by_day() {
        let q = parse_query(&[], now()).unwrap();
        assert_eq!((format_day(q.from).as_str(), format_day(q.to).as_str(), q.by, q.csv), ("2026-11-02", "2026-12-01", By::Day, false));
        let q = parse_query(&p(&[("to", "2026-10-31"), ("by", "model"), ("format", "csv")]), now()).unwrap();
        assert_eq!((format_day(q.from).as_str(), q.by, q.csv), ("2026-10-02", By::Model, true));
        let q = parse_query(&p(&[("from", "2026-12-01"), ("to", "2026-12-01"), ("by", "hour")]), now()).unwrap();
        assert_eq!(q.seconds(), (now() - 12 * 3600, now() + 12 * 3600 - 1));
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("from", "2026-13-01")], "from"),
            (&[("to", "yesterday")], "to"),
            (&[("from", "2026-12-02"), ("to", "2026-12-01")], "from"),
            (&[("from", "2024-01-01"), ("to", "2026-12-01")], "from"),
            (&[("by", "week")], "by"),
            (&[("format", "xml")], "format"),
            (&[("from", "2026-10-01"), ("by", "hour")], "from"),
        ];
        for (params, name) in cases {
            let e = parse_query(&p(params), now()).unwrap_err();
            assert_eq!(e.param, name, "{params:?}");
            assert!(e.message.contains(name), "{}", e.message);
        }
    }

    fn stored(period: i64, model: &str, requests: u64, cost_pusd: i64, unpriced: u64) -> Stored {
        Stored {
            period,
            provider: "openai".into(),
            model: model.into(),
            counters: Counters { requests, input_tokens: requests * 10, output_tokens: requests, cost_pusd, unpriced_requests: unpriced, ..Counters::default() },
        }
    }

    #[test]
    fn rows_group_by_day_and_model_and_the_totals_add_up() {
        let d = parse_day("2026-12-01").unwrap();
        let rows = [stored(d, "a", 2, 3_000_000_000, 0), stored(d, "b", 1, 0, 1), stored(d - 1, "a", 1, 1_000_000_000, 0), stored(d - 40, "a", 9, 9, 0)];
        let q = parse_query(&[], now()).unwrap();
        let r = build("tok", &q, &rows);
        assert_eq!(r.totals.requests, 4);
        assert_eq!(r.totals.input_tokens, 40);
        assert_eq!(r.totals.cost_usd, 0.004);
        assert_eq!(r.totals.unpriced_requests, 1);
        assert_eq!(r.rows.len(), 3);
        assert_eq!((r.rows[0].period.as_str(), r.rows[0].requests), ("2026-11-30", 1));
        assert_eq!(r.rows[2].cost_usd, None);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["totals"]["cost_usd"], 0.004);
        assert_eq!(json["rows"][2]["cost_usd"], serde_json::Value::Null);
        assert_eq!(json["from"], "2026-11-02");
        let q = Query { by: By::Model, ..q };
        let r = build("tok", &q, &rows);
        assert_eq!(r.rows.len(), 2);
        assert_eq!((r.rows[0].model.as_str(), r.rows[0].requests, r.rows[0].period.as_str()), ("a", 3, "2026-11-02/2026-12-01"));
    }

    #[test]
    fn csv_has_a_header_and_defuses_formulas() {
        let d = parse_day("2026-12-01").unwrap();
        let q = parse_query(&[], now()).unwrap();
        let r = build("tok", &q, &[stored(d, "=cmd()", 1, 0, 1), stored(d, "gpt,4", 1, 2_500_000_000_000, 0)]);
        let text = csv(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "2026-12-01,openai,'=cmd(),1,10,0,0,1,0,,1,0,0");
        assert_eq!(lines[2], "2026-12-01,openai,\"gpt,4\",1,10,0,0,1,0,2.5,0,0,0");
    }

    #[test]
    fn per_token_totals_and_the_consumer_view() {
        let d = parse_day("2026-12-01").unwrap();
        let c = |r: u64, cost: i64| Counters { requests: r, cost_pusd: cost, ..Counters::default() };
        let rows = vec![(d, "a".to_string(), c(1, 5)), (d, "b".to_string(), c(2, 50)), (d - 1, "a".to_string(), c(1, 5)), (d - 99, "a".to_string(), c(7, 7))];
        let (all, list) = per_token(&rows, d - 29, d);
        assert_eq!(all.requests, 4);
        assert_eq!(list.iter().map(|(t, c)| (t.as_str(), c.requests)).collect::<Vec<_>>(), vec![("b", 2), ("a", 2)]);
        let days = vec![(d, c(1, 1)), (d - 1, c(2, 2)), (d - 30, c(4, 4))];
        let (today, month) = today_and_month(&days, now());
        assert_eq!((today.requests, month.requests), (1, 1));
        // On the last day of November the month holds November's days only.
        let (today, month) = today_and_month(&days, now() - SECONDS_PER_DAY);
        assert_eq!((today.requests, month.requests), (2, 6));
    }
}
