//! The ledger's arithmetic: what one request adds to which row, how hours roll into days, and how
//! long rows are kept. The Durable Object that stores the rows (SQL upserts, so concurrent
//! requests add up exactly) is the glue beside this.

use serde::{Deserialize, Serialize};

use super::day::{day_of, hour_of, SECONDS_PER_DAY};
use super::extract::Tokens;
use super::meter::Outcome;
use super::prices::{self, Price};
use super::request::{status_class, EndpointKind};

/// Hourly rows are kept this many days, daily rows this many.
pub const HOURLY_RETENTION_DAYS: i64 = 35;
pub const DAILY_RETENTION_DAYS: i64 = 400;

/// The longest model name kept: a request's own `model` is the client's to choose.
pub const MAX_MODEL_LEN: usize = 100;

/// One proxied request, as the Worker sends it to the token's ledger after the answer ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When the request was made (Unix seconds).
    pub at: i64,
    pub provider: String,
    pub model: String,
    pub kind: String,
    pub status: String,
    pub tokens: Tokens,
    /// `None`: the model has no price.
    pub cost_pusd: Option<i64>,
    pub estimated: bool,
    pub partial: bool,
}

/// A model name fit to be a row key: printable, bounded, `unknown` when nothing named one.
pub fn clean_model(model: Option<&str>) -> String {
    let m: String = model.unwrap_or("").chars().filter(|c| !c.is_control()).take(MAX_MODEL_LEN).collect();
    let m = m.trim();
    if m.is_empty() {
        "unknown".to_string()
    } else {
        m.to_string()
    }
}

impl Entry {
    /// The entry for a request whose answer the meter read. `request_model` is the model the
    /// request named (path or body), used when the answer names none. An error inside a 200
    /// stream is kept under `5xx`: the answer failed.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        at: i64,
        provider: &str,
        kind: EndpointKind,
        status: u16,
        outcome: &Outcome,
        request_model: Option<&str>,
        price_of: impl Fn(&str) -> Option<Price>,
    ) -> Entry {
        let model = clean_model(outcome.model.as_deref().or(request_model));
        // A cost the upstream reported (only a provider the table trusts gets one this far) is
        // what the request cost, whether or not the price table knows the model.
        let cost_pusd = outcome.cost_pusd.or_else(|| price_of(&model).map(|p| prices::cost_pusd(&outcome.tokens, &p)));
        let status = if outcome.stream_error { "5xx" } else { status_class(status) };
        Entry {
            at,
            provider: provider.to_string(),
            model,
            kind: kind.name().to_string(),
            status: status.to_string(),
            tokens: outcome.tokens,
            cost_pusd,
            estimated: outcome.estimated,
            partial: outcome.partial,
        }
    }

    pub fn key(&self) -> RowKey {
        RowKey {
            hour: hour_of(self.at),
            provider: self.provider.clone(),
            model: self.model.clone(),
            kind: self.kind.clone(),
            status: self.status.clone(),
        }
    }

    /// What this request adds to its row.
    pub fn counters(&self) -> Counters {
        Counters {
            requests: 1,
            input_tokens: self.tokens.input_tokens,
            cached_input_tokens: self.tokens.cached_input_tokens,
            cache_write_tokens: self.tokens.cache_write_tokens,
            output_tokens: self.tokens.output_tokens,
            reasoning_tokens: self.tokens.reasoning_tokens,
            cost_pusd: self.cost_pusd.unwrap_or(0),
            unpriced_requests: u64::from(self.cost_pusd.is_none()),
            estimated_requests: u64::from(self.estimated),
            partial_requests: u64::from(self.partial),
        }
    }
}

/// The key of an hourly row. Its daily row has the same key with the hour's day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub hour: i64,
    pub provider: String,
    pub model: String,
    pub kind: String,
    pub status: String,
}

impl RowKey {
    pub fn day(&self) -> i64 {
        day_of(self.hour)
    }
}

/// The sums a row holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    /// The priced requests' cost, in pico-USD.
    pub cost_pusd: i64,
    pub unpriced_requests: u64,
    pub estimated_requests: u64,
    pub partial_requests: u64,
}

impl Counters {
    /// The counters in their storage order (the SQL columns, the CSV columns).
    pub const COLUMNS: [&'static str; 10] = [
        "requests",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost_pusd",
        "unpriced_requests",
        "estimated_requests",
        "partial_requests",
    ];

    pub fn values(&self) -> [i64; 10] {
        [
            self.requests as i64,
            self.input_tokens as i64,
            self.cached_input_tokens as i64,
            self.cache_write_tokens as i64,
            self.output_tokens as i64,
            self.reasoning_tokens as i64,
            self.cost_pusd,
            self.unpriced_requests as i64,
            self.estimated_requests as i64,
            self.partial_requests as i64,
        ]
    }

    pub fn from_values(v: [i64; 10]) -> Counters {
        let u = |x: i64| x.max(0) as u64;
        Counters {
            requests: u(v[0]),
            input_tokens: u(v[1]),
            cached_input_tokens: u(v[2]),
            cache_write_tokens: u(v[3]),
            output_tokens: u(v[4]),
            reasoning_tokens: u(v[5]),
            cost_pusd: v[6],
            unpriced_requests: u(v[7]),
            estimated_requests: u(v[8]),
            partial_requests: u(v[9]),
        }
    }

    pub fn add(&mut self, o: &Counters) {
        self.requests += o.requests;
        self.input_tokens += o.input_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.output_tokens += o.output_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.cost_pusd += o.cost_pusd;
        self.unpriced_requests += o.unpriced_requests;
        self.estimated_requests += o.estimated_requests;
        self.partial_requests += o.partial_requests;
    }

    pub fn cost_usd(&self) -> f64 {
        self.cost_pusd as f64 / prices::PICO
    }

    /// The cost, or `None` when no request in the sum had a price.
    pub fn priced_cost_usd(&self) -> Option<f64> {
        (self.unpriced_requests < self.requests || self.requests == 0).then(|| self.cost_usd())
    }
}

/// Rolls hourly rows into daily ones (same key, the hour's day).
pub fn roll_into_days<'a>(hours: impl IntoIterator<Item = (&'a RowKey, &'a Counters)>) -> std::collections::BTreeMap<(i64, String, String, String, String), Counters> {
    let mut days = std::collections::BTreeMap::new();
    for (k, c) in hours {
        let entry: &mut Counters = days.entry((k.day(), k.provider.clone(), k.model.clone(), k.kind.clone(), k.status.clone())).or_default();
        entry.add(c);
    }
    days
}

/// Hourly rows before this hour are dropped.
pub fn hourly_cutoff(now: i64) -> i64 {
    hour_of(now) - HOURLY_RETENTION_DAYS * SECONDS_PER_DAY
}

/// Daily rows before this day are dropped.
pub fn daily_cutoff(now: i64) -> i64 {
    day_of(now) - DAILY_RETENTION_DAYS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::day::parse_day;

    fn outcome(input: u64, output: u64) -> Outcome {
        Outcome {
            tokens: Tokens { input_tokens: input, output_tokens: output, ..Tokens::default() },
            model: Some("gpt-4o-mini-2024-07-18".into()),
            partial: false,
            estimated: false,
            stream_error: false,
            cost_pusd: None,
        }
    }

    #[test]
    fn an_entry_prices_the_answered_model_and_falls_back_on_the_request() {
        let price = |m: &str| prices::lookup(m, &Default::default());
        let at = parse_day("2026-12-01").unwrap() * SECONDS_PER_DAY + 3 * 3600 + 10;
        let e = Entry::new(at, "openai", EndpointKind::Chat, 200, &outcome(1000, 100), Some("gpt-4o"), price);
        assert_eq!(e.model, "gpt-4o-mini-2024-07-18");
        assert_eq!(e.cost_pusd, Some(1000 * 150_000 + 100 * 600_000));
        assert_eq!(e.key().hour, at - 10);
        let unnamed = Outcome { model: None, ..outcome(1, 1) };
        assert_eq!(Entry::new(at, "openai", EndpointKind::Chat, 200, &unnamed, Some("gpt-4o"), price).model, "gpt-4o");
        let e = Entry::new(at, "openai", EndpointKind::Chat, 200, &unnamed, None, price);
        assert_eq!((e.model.as_str(), e.cost_pusd), ("unknown", None));
        assert_eq!(e.counters().unpriced_requests, 1);
        let failed = Outcome { stream_error: true, ..outcome(1, 1) };
        assert_eq!(Entry::new(at, "anthropic", EndpointKind::Messages, 200, &failed, None, price).status, "5xx");
        assert_eq!(clean_model(Some(&"x".repeat(500))).len(), MAX_MODEL_LEN);
        assert_eq!(clean_model(Some("a\nb")), "ab");
    }

    #[test]
    fn a_reported_cost_replaces_the_price_table_and_prices_an_unknown_model() {
        let price = |m: &str| prices::lookup(m, &Default::default());
        let reported = Outcome { cost_pusd: Some(37_500_000), ..outcome(1000, 100) };
        let e = Entry::new(0, "openrouter", EndpointKind::Chat, 200, &reported, None, price);
        assert_eq!(e.cost_pusd, Some(37_500_000));
        let unknown = Outcome { model: Some("some-vendor/unlisted-model".into()), ..reported.clone() };
        let e = Entry::new(0, "openrouter", EndpointKind::Chat, 200, &unknown, None, price);
        assert_eq!(e.cost_pusd, Some(37_500_000));
        assert_eq!((e.counters().unpriced_requests, e.counters().cost_pusd), (0, 37_500_000));
        let free = Outcome { cost_pusd: Some(0), ..unknown };
        assert_eq!(Entry::new(0, "openrouter", EndpointKind::Chat, 200, &free, None, price).counters().unpriced_requests, 0);
    }

    #[test]
    fn hours_roll_into_their_days_and_sums_add_exactly() {
        let day = parse_day("2026-12-01").unwrap();
        let key = |h: i64, model: &str| RowKey { hour: day * SECONDS_PER_DAY + h * 3600, provider: "openai".into(), model: model.into(), kind: "chat".into(), status: "2xx".into() };
        let one = Counters { requests: 1, input_tokens: 10, cost_pusd: 7, ..Counters::default() };
        let rows = [(key(0, "a"), one), (key(23, "a"), one), (key(24, "a"), one), (key(5, "b"), one)];
        let days = roll_into_days(rows.iter().map(|(k, c)| (k, c)));
        let a = &days[&(day, "openai".into(), "a".into(), "chat".into(), "2xx".into())];
        assert_eq!((a.requests, a.input_tokens, a.cost_pusd), (2, 20, 14));
        assert_eq!(days[&(day + 1, "openai".into(), "a".into(), "chat".into(), "2xx".into())].requests, 1);
        assert_eq!(days.len(), 3);
        let back = Counters::from_values(one.values());
        assert_eq!(back, one);
    }

    #[test]
    fn retention_is_35_days_hourly_and_400_daily() {
        let now = parse_day("2026-12-01").unwrap() * SECONDS_PER_DAY + 7200 + 5;
        assert_eq!(hourly_cutoff(now), now - 5 - 35 * SECONDS_PER_DAY);
        assert_eq!(daily_cutoff(now), parse_day("2025-10-27").unwrap());
    }

    #[test]
    fn an_unpriced_row_has_no_cost_and_a_mixed_one_has_the_priced_part() {
        let c = Counters { requests: 2, unpriced_requests: 2, ..Counters::default() };
        assert_eq!(c.priced_cost_usd(), None);
        let c = Counters { requests: 2, unpriced_requests: 1, cost_pusd: 1_500_000_000_000, ..Counters::default() };
        assert_eq!(c.priced_cost_usd(), Some(1.5));
    }
}
