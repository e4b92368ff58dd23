//! Dashboard glue for the usage views: the token list's 30-day cells, a token's page (charts and
//! a table by model), its CSV, and the overview of all tokens by cost. The admin session has been
//! checked by `admin::dashboard` before any of these runs.

use std::collections::HashMap;

use askama::Template;
use worker::web_sys::{self, Headers, ResponseInit};
use worker::{console_error, Env};

use super::budget_view::{self, BudgetBar};
use super::ledger::Counters;
use super::ledger_object;
use super::pages::{OverviewPage, TokenUsagePage};
use super::report::{self, parse_query, Query};
use crate::admin::pages::Layout;
use crate::common::urlencoded;
use crate::runtime::now_unix;
use crate::budget::guard::Limits;
use crate::policy::rules::Policy;
use crate::tokens::store::TokenStore;
use crate::tokens::token::TokenRecord;

fn respond(status: u16, content_type: &str, body: &str, extra: &[(&str, &str)]) -> web_sys::Response {
    let headers = Headers::new().expect("Headers");
    let _ = headers.set("content-type", content_type);
    for (name, value) in extra {
        let _ = headers.set(name, value);
    }
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    // admin::dashboard adds its security headers to whatever these return.
    web_sys::Response::new_with_opt_str_and_init(Some(body), &init).expect("Response")
}

fn html(status: u16, template: &impl Template) -> web_sys::Response {
    match template.render() {
        Ok(body) => respond(status, "text/html; charset=utf-8", &body, &[]),
        Err(e) => {
            console_error!("template: {e}");
            respond(500, "text/plain", "The page could not be rendered.", &[])
        }
    }
}

fn text(status: u16, message: &str) -> web_sys::Response {
    respond(status, "text/plain; charset=utf-8", message, &[])
}

fn params(url: &web_sys::Url) -> Vec<(String, String)> {
    let search = url.search();
    urlencoded::parse(search.strip_prefix('?').unwrap_or(&search))
}

/// Every token's totals over the last 30 days, from the account roll-up; `None` if unreadable.
pub async fn last_30_days(env: &Env) -> Option<HashMap<String, Counters>> {
    let q = parse_query(&[], now_unix()).ok()?;
    match ledger_object::account_days(env, q.from, q.to).await {
        Ok(days) => Some(report::per_token(&days, q.from, q.to).1.into_iter().collect()),
        Err(e) => {
            console_error!("usage: account ledger: {e}");
            None
        }
    }
}

/// A token's budgets with their use in the current period: one call to its ledger object, made
/// only for a token with a budget. If the object does not answer, the limits alone.
pub async fn budget_bars(env: &Env, id: &str, policy: &Policy) -> Vec<BudgetBar> {
    let limits = Limits::of(policy);
    if limits.budgets.is_empty() {
        return Vec::new();
    }
    match ledger_object::budget_lines(env, id, limits).await {
        Ok(lines) => budget_view::bars(&lines),
        Err(e) => {
            console_error!("usage: budget of {}: {e}", id.get(..8).unwrap_or(id));
            BudgetBar::unread(&limits.budgets)
        }
    }
}

async fn token_rows(id: &str, url: &web_sys::Url, store: &TokenStore, env: &Env) -> Result<(Query, TokenRecord, Vec<report::Stored>), web_sys::Response> {
    let mut q = parse_query(&params(url), now_unix()).map_err(|e| text(400, &e.message))?;
    q.by = report::By::Day;
    let record = match store.get(id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(text(404, "No token has that id; it may have been deleted.")),
        Err(e) => {
            console_error!("usage: token store: {}", e.0);
            return Err(text(503, "The token store is unavailable; try again shortly."));
        }
    };
    let rows = ledger_object::token_rows(env, id, false, q.from, q.to).await.map_err(|e| {
        console_error!("usage: ledger: {e}");
        text(503, "The usage ledger is unavailable; try again shortly.")
    })?;
    Ok((q, record, rows))
}

pub async fn token_page(id: &str, url: &web_sys::Url, layout: Layout, store: &TokenStore, env: &Env) -> web_sys::Response {
    match token_rows(id, url, store, env).await {
        Ok((q, record, rows)) => {
            let mut page = TokenUsagePage::new(layout, id, &record.label, &q, &rows);
            page.budgets = budget_bars(env, id, &record.policy).await;
            html(200, &page)
        }
        Err(response) => response,
    }
}

pub async fn token_csv(id: &str, url: &web_sys::Url, store: &TokenStore, env: &Env) -> web_sys::Response {
    match token_rows(id, url, store, env).await {
        Ok((q, _, rows)) => {
            let report = report::build(id, &q, &rows);
            let name = format!("attachment; filename=\"usage-{}-{}.csv\"", report.from, report.to);
            respond(200, "text/csv; charset=utf-8", &report::csv(&report), &[("content-disposition", &name)])
        }
        Err(response) => response,
    }
}

pub async fn overview(url: &web_sys::Url, layout: Layout, store: &TokenStore, env: &Env) -> web_sys::Response {
    let (q, error) = match parse_query(&params(url), now_unix()) {
        Ok(q) => (q, None),
        Err(e) => (parse_query(&[], now_unix()).expect("the default range is valid"), Some(e.message)),
    };
    let days = match ledger_object::account_days(env, q.from, q.to).await {
        Ok(d) => d,
        Err(e) => {
            console_error!("usage: account ledger: {e}");
            return text(503, "The usage ledger is unavailable; try again shortly.");
        }
    };
    let (all, per_token) = report::per_token(&days, q.from, q.to);
    let labels: HashMap<String, String> = match store.list().await {
        Ok(tokens) => tokens.into_iter().map(|t| (t.id, t.record.label)).collect(),
        Err(e) => {
            console_error!("usage: token store: {}", e.0);
            HashMap::new()
        }
    };
    let rows: Vec<(String, Option<String>, Counters)> = per_token.into_iter().map(|(id, c)| {
        let label = labels.get(&id).cloned();
        (id, label, c)
    }).collect();
    let mut page = OverviewPage::new(layout, &q, &all, &rows);
    page.error = error;
    html(if page.error.is_some() { 400 } else { 200 }, &page)
}
