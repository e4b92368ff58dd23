//! The usage part of the admin JSON API (the caller has checked the admin secret):
//!   GET    /tokens/{id}/usage?from&to&by&format=csv   one token's report
//!   GET    /usage?from&to                              every token's totals (one object call)
//!   GET    /prices                                     the table's source and date, and the overrides
//!   GET    /prices/{model}                             the price in force for a model, and whence
//!   PUT    /prices/{model}                             set an override (USD per million tokens)
//!   DELETE /prices/{model}                             drop an override
//! Override writes go through `AdminState` (serialized with token writes, and audited).

use serde_json::{json, Value};
use worker::web_sys::{self, Headers, ResponseInit};
use worker::{console_error, Env};

use super::ledger::Counters;
use super::ledger_object;
use super::prices::{self, valid_model_name, Price};
use super::report::{self, By, Query, Totals};
use super::tap;
use crate::admin::audit::Actor;
use crate::admin::price_writes::{PriceOutcome, PriceWrite};
use crate::admin::state;
use crate::common::urlencoded;
use crate::runtime::{body_text, json_response, now_unix};
use crate::tokens::store::TokenStore;
use crate::tokens::token::is_token_id;

fn error(status: u16, message: &str, field: Option<&str>) -> web_sys::Response {
    let mut body = json!({"error": {"message": message}});
    if let Some(field) = field {
        body["error"]["field"] = json!(field);
    }
    json_response(status, &body.to_string())
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> web_sys::Response {
    console_error!("usage admin: {what}: {e}");
    error(503, &format!("The {what} is unavailable; try again shortly."), None)
}

fn query_params(req: &web_sys::Request) -> Vec<(String, String)> {
    let url = req.url();
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    urlencoded::parse(query.split('#').next().unwrap_or(""))
}

/// Handles the usage routes; `None` for any other path.
pub async fn handle(req: &web_sys::Request, rest: &str, env: &Env, actor: &Actor) -> Option<web_sys::Response> {
    let method = req.method();
    let path = rest.trim_end_matches('/');
    if let Some(id) = path.strip_prefix("/tokens/").and_then(|p| p.strip_suffix("/usage")) {
        if method != "GET" {
            return Some(error(405, "Method not allowed.", None));
        }
        if !is_token_id(id) {
            return Some(error(404, "No token with that id.", None));
        }
        return Some(token_usage(req, id, env).await);
    }
    if path == "/usage" {
        return Some(match method.as_str() {
            "GET" => overview(req, env).await,
            _ => error(405, "Method not allowed.", None),
        });
    }
    if path == "/prices" {
        return Some(match method.as_str() {
            "GET" => list_prices(env).await,
            _ => error(405, "Method not allowed.", None),
        });
    }
    let model = urlencoded::decode(path.strip_prefix("/prices/")?);
    if !valid_model_name(&model) {
        return Some(error(400, "model: letters, digits and - . _ : / @ only, at most 100", Some("model")));
    }
    Some(match method.as_str() {
        "GET" => show_price(&model, env).await,
        "PUT" => put_price(req, &model, env, actor).await,
        "DELETE" => delete_price(&model, env, actor).await,
        _ => error(405, "Method not allowed.", None),
    })
}

fn parse(req: &web_sys::Request) -> Result<Query, web_sys::Response> {
    report::parse_query(&query_params(req), now_unix()).map_err(|e| error(400, &e.message, Some(e.param)))
}

async fn token_usage(req: &web_sys::Request, id: &str, env: &Env) -> web_sys::Response {
    let q = match parse(req) {
        Ok(q) => q,
        Err(response) => return response,
    };
    match TokenStore::open(env) {
        Ok(store) => match store.get(id).await {
            Ok(Some(_)) => {}
            Ok(None) => return error(404, "No token with that id.", None),
            Err(e) if e.is_damaged() => {}
            Err(e) => return unavailable("token store", e.0),
        },
        Err(e) => return unavailable("token store", e.0),
    }
    let (first, last) = if q.by == By::Hour { q.seconds() } else { (q.from, q.to) };
    let rows = match ledger_object::token_rows(env, id, q.by == By::Hour, first, last).await {
        Ok(rows) => rows,
        Err(e) => return unavailable("usage ledger", e),
    };
    let report = report::build(id, &q, &rows);
    if q.csv {
        let headers = Headers::new().expect("Headers");
        let _ = headers.set("content-type", "text/csv; charset=utf-8");
        let _ = headers.set("content-disposition", &format!("attachment; filename=\"usage-{}-{}-{}.csv\"", &id[..12.min(id.len())], report.from, report.to));
        let init = ResponseInit::new();
        init.set_status(200);
        init.set_headers(&headers);
        return web_sys::Response::new_with_opt_str_and_init(Some(&report::csv(&report)), &init).expect("Response");
    }
    json_response(200, &serde_json::to_string(&report).unwrap_or_default())
}

/// Every token's totals over the range, with labels from the token list; tokens that were
/// deleted have no usage left (deleting a token deletes its usage).
pub async fn overview_rows(env: &Env, q: &Query) -> Result<(Counters, Vec<(String, Option<String>, Counters)>), web_sys::Response> {
    let days = ledger_object::account_days(env, q.from, q.to).await.map_err(|e| unavailable("usage ledger", e))?;
    let (all, per_token) = report::per_token(&days, q.from, q.to);
    let store = TokenStore::open(env).map_err(|e| unavailable("token store", e.0))?;
    let tokens = store.list().await.map_err(|e| unavailable("token store", e.0))?;
    let labels: std::collections::HashMap<String, String> = tokens.into_iter().map(|t| (t.id, t.record.label)).collect();
    Ok((all, per_token.into_iter().map(|(id, c)| {
        let label = labels.get(&id).cloned();
        (id, label, c)
    }).collect()))
}

async fn overview(req: &web_sys::Request, env: &Env) -> web_sys::Response {
    let q = match parse(req) {
        Ok(q) => q,
        Err(response) => return response,
    };
    let (all, rows) = match overview_rows(env, &q).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let rows: Vec<Value> = rows
        .iter()
        .map(|(id, label, c)| {
            let mut row = json!({"token_id": id, "label": label});
            if let (Value::Object(row), Ok(Value::Object(totals))) = (&mut row, serde_json::to_value(Totals::from(c))) {
                row.extend(totals);
                row.insert("cost_usd".into(), json!(c.priced_cost_usd()));
            }
            row
        })
        .collect();
    let body = json!({
        "from": super::day::format_day(q.from),
        "to": super::day::format_day(q.to),
        "totals": Totals::from(&all),
        "rows": rows,
    });
    json_response(200, &body.to_string())
}

async fn list_prices(env: &Env) -> web_sys::Response {
    let overrides = match tap::load_overrides(env).await {
        Ok(o) => o,
        Err(e) => return unavailable("price store", e),
    };
    let table = prices::table();
    let body = json!({
        "unit": "USD per million tokens",
        "table": {"source": table.source, "date": table.date, "models": table.models.len()},
        "overrides": overrides,
    });
    json_response(200, &body.to_string())
}

async fn show_price(model: &str, env: &Env) -> web_sys::Response {
    let overrides = match tap::load_overrides(env).await {
        Ok(o) => o,
        Err(e) => return unavailable("price store", e),
    };
    let source = if overrides.contains_key(model) { "override" } else { "table" };
    match prices::lookup(model, &overrides) {
        Some(price) => json_response(200, &json!({"model": model, "source": source, "unit": "USD per million tokens", "price": price}).to_string()),
        None => error(404, "No price for that model (its usage is counted, its cost is null).", None),
    }
}

async fn put_price(req: &web_sys::Request, model: &str, env: &Env, actor: &Actor) -> web_sys::Response {
    let Some(text) = body_text(req).await else {
        return error(400, "body: could not be read", Some("body"));
    };
    let price: Price = match serde_json::from_str(&text) {
        Ok(p) => p,
        Err(e) => return error(400, &format!("body: expected {{\"input\", \"output\"[, \"cached_input\", \"cache_write\", \"tier\"]}} in USD per million tokens ({e})"), Some("body")),
    };
    if let Err(message) = prices::validate(&price) {
        return error(400, &message, Some("body"));
    }
    let write = PriceWrite::Set { model: model.to_string(), price };
    if let Err(e) = state::write_price(env, write, actor.clone()).await {
        return unavailable("price store", e.0);
    }
    json_response(200, &json!({"model": model, "source": "override", "unit": "USD per million tokens", "price": price}).to_string())
}

async fn delete_price(model: &str, env: &Env, actor: &Actor) -> web_sys::Response {
    match state::write_price(env, PriceWrite::Remove { model: model.to_string() }, actor.clone()).await {
        Ok(PriceOutcome::NotFound) => error(404, "No override for that model.", None),
        Ok(_) => json_response(200, &json!({"deleted": model}).to_string()),
        Err(e) => unavailable("price store", e.0),
    }
}

/// Deletes a token's usage with the token (its own ledger, and its rows in the account roll-up).
pub async fn forget_token(env: &Env, id: &str) {
    if let Err(e) = ledger_object::forget_token(env, id).await {
        console_error!("usage: deleting token {id}'s usage failed: {e}");
    }
}
