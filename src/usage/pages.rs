//! The dashboard's usage views: a token's page (daily charts, a table by model) and the
//! overview of every token by cost, plus the 30-day cells of the token list. Pure: the glue hands
//! in the ledger's rows.

use askama::Template;

use super::budget_view::BudgetBar;
use super::chart::{self, Series};
use super::day::format_day;
use super::format::{cost, int};
use super::ledger::Counters;
use super::report::{self, By, Query, Stored};
use crate::admin::pages::Layout;

pub struct Summary {
    pub requests: String,
    pub input: String,
    pub cached: String,
    pub output: String,
    pub cost: String,
    pub notes: Vec<String>,
}

impl Summary {
    fn of(c: &Counters) -> Summary {
        let mut notes = Vec::new();
        if c.unpriced_requests > 0 {
            notes.push(format!("{} requests to models with no price (tokens counted, cost not)", int(c.unpriced_requests)));
        }
        if c.estimated_requests > 0 {
            notes.push(format!("{} estimated (the answer reported no usage)", int(c.estimated_requests)));
        }
        if c.partial_requests > 0 {
            notes.push(format!("{} partial (the stream ended early)", int(c.partial_requests)));
        }
        Summary { requests: int(c.requests), input: int(c.input_tokens), cached: int(c.cached_input_tokens), output: int(c.output_tokens), cost: cost(c), notes }
    }
}

pub struct ModelRow {
    pub provider: String,
    pub model: String,
    pub requests: String,
    pub input: String,
    pub cached: String,
    pub cache_write: String,
    pub output: String,
    pub reasoning: String,
    pub cost: String,
}

#[derive(Template)]
#[template(path = "usage_token.html")]
pub struct TokenUsagePage<'a> {
    pub layout: Layout,
    pub id: &'a str,
    pub label: &'a str,
    pub from: String,
    pub to: String,
    pub summary: Summary,
    pub charts: Vec<(&'static str, String)>,
    pub models: Vec<ModelRow>,
    /// Each budget in its current period, for the glue to fill (empty when the token has none).
    pub budgets: Vec<BudgetBar>,
}

impl<'a> TokenUsagePage<'a> {
    /// `rows`: the token's daily rows over the query's range.
    pub fn new(layout: Layout, id: &'a str, label: &'a str, q: &Query, rows: &[Stored]) -> Self {
        let days = (q.to - q.from + 1) as usize;
        let mut per_day = vec![Counters::default(); days];
        let mut all = Counters::default();
        for r in rows.iter().filter(|r| (q.from..=q.to).contains(&r.period)) {
            per_day[(r.period - q.from) as usize].add(&r.counters);
            all.add(&r.counters);
        }
        let values = |f: fn(&Counters) -> f64| per_day.iter().map(f).collect::<Vec<f64>>();
        let charts = vec![
            ("Requests per day", chart::daily_bars("Requests per day", q.from, &[Series { name: "requests", color: "#2f6fde", values: values(|c| c.requests as f64) }], chart::compact)),
            (
                "Tokens per day",
                chart::daily_bars(
                    "Input and output tokens per day",
                    q.from,
                    &[
                        Series { name: "input", color: "#7c9cf0", values: values(|c| c.input_tokens as f64) },
                        Series { name: "output", color: "#e07a2f", values: values(|c| c.output_tokens as f64) },
                    ],
                    chart::compact,
                ),
            ),
            ("Cost per day (USD)", chart::daily_bars("Cost per day in USD", q.from, &[Series { name: "cost", color: "#2e9e6a", values: values(|c| c.cost_usd()) }], chart::usd)),
        ];
        let by_model = report::build(id, &Query { by: By::Model, ..*q }, rows);
        let models = by_model
            .rows
            .iter()
            .map(|r| {
                let c = Counters {
                    requests: r.requests,
                    unpriced_requests: r.unpriced_requests,
                    cost_pusd: (r.cost_usd.unwrap_or(0.0) * super::prices::PICO).round() as i64,
                    ..Counters::default()
                };
                ModelRow {
                    provider: r.provider.clone(),
                    model: r.model.clone(),
                    requests: int(r.requests),
                    input: int(r.input_tokens),
                    cached: int(r.cached_input_tokens),
                    cache_write: int(r.cache_write_tokens),
                    output: int(r.output_tokens),
                    reasoning: int(r.reasoning_tokens),
                    cost: cost(&c),
                }
            })
            .collect();
        TokenUsagePage { layout, id, label, from: format_day(q.from), to: format_day(q.to), summary: Summary::of(&all), charts, models, budgets: Vec::new() }
    }
}

pub struct OverviewRow {
    pub id: String,
    pub label: String,
    pub requests: String,
    pub input: String,
    pub output: String,
    pub cost: String,
}

#[derive(Template)]
#[template(path = "usage_overview.html")]
pub struct OverviewPage {
    pub layout: Layout,
    pub from: String,
    pub to: String,
    pub summary: Summary,
    pub rows: Vec<OverviewRow>,
    pub error: Option<String>,
}

impl OverviewPage {
    /// `tokens`: (id, label if the token still exists, totals), most expensive first.
    pub fn new(layout: Layout, q: &Query, all: &Counters, tokens: &[(String, Option<String>, Counters)]) -> Self {
        let rows = tokens
            .iter()
            .map(|(id, label, c)| OverviewRow {
                id: id.clone(),
                label: label.clone().unwrap_or_else(|| format!("(gone) …{}", &id[id.len().saturating_sub(6)..])),
                requests: int(c.requests),
                input: int(c.input_tokens),
                output: int(c.output_tokens),
                cost: cost(c),
            })
            .collect();
        OverviewPage { layout, from: format_day(q.from), to: format_day(q.to), summary: Summary::of(all), rows, error: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::day::{parse_day, SECONDS_PER_DAY};

    fn q() -> Query {
        report::parse_query(&[], parse_day("2026-12-01").unwrap() * SECONDS_PER_DAY).unwrap()
    }

    fn stored(day: &str, model: &str, requests: u64, cost_pusd: i64, unpriced: u64) -> Stored {
        Stored {
            period: parse_day(day).unwrap(),
            provider: "openai".into(),
            model: model.into(),
            counters: Counters { requests, input_tokens: 1000 * requests, output_tokens: 100 * requests, cost_pusd, unpriced_requests: unpriced, ..Counters::default() },
        }
    }

    #[test]
    fn the_token_page_has_three_charts_and_a_row_per_model() {
        let rows = [stored("2026-12-01", "gpt-4o-mini", 3, 3_000_000_000_000, 0), stored("2026-11-20", "my-model", 1, 0, 1), stored("2026-11-20", "<b>x</b>", 1, 0, 1)];
        let page = TokenUsagePage::new(Layout { csrf: Some("c".into()) }, "abc", "ci <job>", &q(), &rows);
        let html = page.render().unwrap();
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
        assert!(html.contains("gpt-4o-mini") && html.contains("$3.00") && html.contains("no price"));
        assert!(html.contains("ci &#60;job&#62;") || html.contains("ci &lt;job&gt;"));
        assert!(!html.contains("<b>x</b>"), "model names are escaped");
        assert!(!html.contains("style=") && !html.contains("<script>"));
        assert!(html.contains("/admin/tokens/abc/usage.csv"));
    }

    #[test]
    fn the_overview_lists_tokens_by_cost() {
        let a = Counters { requests: 2, cost_pusd: 5_000_000_000_000, ..Counters::default() };
        let b = Counters { requests: 1, cost_pusd: 1_000_000_000_000, ..Counters::default() };
        let mut all = a;
        all.add(&b);
        let page = OverviewPage::new(Layout::default(), &q(), &all, &[("id1".into(), Some("alpha".into()), a), ("id2xxxxxx".into(), None, b)]);
        let html = page.render().unwrap();
        assert!(html.find("alpha").unwrap() < html.find("(gone) …xxxxxx").unwrap());
        assert!(html.contains("$5.00") && html.contains("$6.00"));
    }
}
