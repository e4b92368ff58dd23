//! `GET /_proxy/usage`: a token's own usage (today, this month), its limits and each budget's
//! use (`budgets`), for the key holder. The token goes in any slot the proxy accepts; no admin secret, and only that token's
//! ledger is read, so it can never show another token's usage.

use serde_json::json;
use worker::web_sys;
use worker::Env;

use super::day::{format_day, month_start};
use super::ledger_object;
use super::report::{today_and_month, Totals};
use crate::budget::guard::Limits;
use crate::proxy::error_body::{error_body, ErrorKind};
use crate::proxy::provider::{detect, Detection, Inbound, Provider};
use crate::proxy::request_log::RequestLog;
use crate::runtime::{json_response, now_unix};
use crate::tokens::store::TokenStore;
use crate::tokens::token::{self, Status};

pub const PATH: &str = "/_proxy/usage";

fn refuse(shape: Option<Provider>, kind: ErrorKind, message: &str) -> web_sys::Response {
    json_response(kind.status(), &error_body(shape, kind, message))
}

pub async fn handle(req: &web_sys::Request, url: &web_sys::Url, env: &Env) -> web_sys::Response {
    let h = |name: &str| req.headers().get(name).ok().flatten();
    let (authorization, x_api_key, x_goog_api_key, anthropic_version, xi_api_key) =
        (h("authorization"), h("x-api-key"), h("x-goog-api-key"), h("anthropic-version"), h("xi-api-key"));
    let mut log = RequestLog::for_request(h("cf-ray").as_deref());
    let search = url.search();
    let detected = match detect(&Inbound {
        path: PATH,
        query: search.strip_prefix('?').unwrap_or(&search),
        authorization: authorization.as_deref(),
        x_api_key: x_api_key.as_deref(),
        x_goog_api_key: x_goog_api_key.as_deref(),
        anthropic_version: anthropic_version.as_deref(),
        websocket_protocol: None,
        xi_api_key: xi_api_key.as_deref(),
    }) {
        Detection::Found(d) => d,
        Detection::NoCredential(shape) => return refuse(shape, ErrorKind::Unauthenticated, "Missing api-proxy token. Send your token where your SDK sends its API key."),
    };
    let shape = Some(detected.provider);
    log.set_provider(detected.provider);
    log.redact(&detected.token);
    if req.method() != "GET" {
        return refuse(shape, ErrorKind::BadRequest, "Use GET.");
    }
    if !token::is_plausible(&detected.token) {
        return refuse(shape, ErrorKind::Unauthenticated, "Invalid api-proxy token.");
    }
    let id = token::hash_token(&detected.token);
    log.set_token_id(&id);
    let record = TokenStore::get_for_request(env, &id, js_sys::Date::now()).await;
    let record = match record {
        Ok(Some(r)) => r,
        Ok(None) => return refuse(shape, ErrorKind::Unauthenticated, "Invalid api-proxy token."),
        Err(e) => {
            log.error("token_store_unavailable", &e.0);
            return refuse(shape, ErrorKind::Unavailable, "The token store is unavailable; try again shortly.");
        }
    };
    if record.status != Status::Active {
        return refuse(shape, ErrorKind::Unauthenticated, "This api-proxy token has been disabled.");
    }
    let now = now_unix();
    let today = super::day::day_of(now);
    let days = match ledger_object::token_days(env, &id, month_start(today), today).await {
        Ok(d) => d,
        Err(e) => {
            log.error("usage_ledger_unavailable", &e.to_string());
            return refuse(shape, ErrorKind::Unavailable, "The usage ledger is unavailable; try again shortly.");
        }
    };
    // Each budget's use in its current period: one more call to the same object, only for a
    // token with a budget.
    let limits = Limits::of(&record.policy);
    let budgets = if limits.budgets.is_empty() {
        Vec::new()
    } else {
        match ledger_object::budget_lines(env, &id, limits).await {
            Ok(lines) => lines,
            Err(e) => {
                log.error("usage_ledger_unavailable", &e.to_string());
                return refuse(shape, ErrorKind::Unavailable, "The usage ledger is unavailable; try again shortly.");
            }
        }
    };
    let (t, m) = today_and_month(&days, now);
    let mut limits = serde_json::to_value(&record.policy).unwrap_or_else(|_| json!({}));
    limits["providers"] = json!(record.providers.iter().map(|p| p.name()).collect::<Vec<_>>());
    let body = json!({
        "today": {"from": format_day(today), "to": format_day(today), "totals": Totals::from(&t)},
        "month": {"from": format_day(month_start(today)), "to": format_day(today), "totals": Totals::from(&m)},
        "limits": limits,
        "budgets": budgets,
    });
    json_response(200, &body.to_string())
}
