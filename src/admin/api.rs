//! The admin JSON API under `/admin/api/tokens` and `/admin/api/audit`, for automation and tests.
//! Every request must carry `Authorization: Bearer <ADMIN_SECRET>`. Wrong secrets are counted per
//! client address in the same `Limiter` object as the dashboard's failed sign-ins (one budget for
//! guessing the one secret), and answered 429 past the limit.

use serde::Serialize;
use serde_json::{json, Value};
use worker::web_sys;
use worker::{console_error, Env};

use crate::admin::audit::{self, Action, Actor, Entry, Via};
use crate::admin::state;
use crate::budget::guard::Limits;
use crate::admin::token_writes::{Outcome, TokenWrite};
use crate::common::field_error::FieldError;
use crate::common::timestamp::format_rfc3339;
use crate::policy::limiter;
use crate::proxy::provider::bearer;
use crate::runtime::json_response;
use crate::runtime::{body_text, now_unix};
use crate::tokens::admin::{parse_new_token, parse_patch, secrets_match};
use crate::tokens::store::{StoreError, TokenStore};
use crate::tokens::token::{self, is_token_id, TokenRecord};

/// Wrong secrets (API) plus failed sign-ins (dashboard) allowed per client and minute before 429.
pub const SECRET_ATTEMPTS_PER_MINUTE: u32 = 5;

/// The client's address as Cloudflare's edge gives it.
pub fn client_address(req: &web_sys::Request) -> String {
    req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "unknown".into())
}

/// The `Limiter` key that counts a client's wrong guesses of ADMIN_SECRET, from either door.
pub fn attempts_key(client: &str) -> String {
    format!("sign-in:{client}")
}

#[derive(Serialize)]
struct TokenView<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    #[serde(flatten)]
    record: &'a TokenRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used: Option<&'a str>,
}

fn error(status: u16, message: &str, field: Option<&str>) -> web_sys::Response {
    let mut body = json!({"error": {"message": message}});
    if let Some(field) = field {
        body["error"]["field"] = json!(field);
    }
    json_response(status, &body.to_string())
}

fn field_error(e: FieldError) -> web_sys::Response {
    error(400, &e.to_string(), Some(e.field))
}

fn throttled(reset_secs: u64) -> web_sys::Response {
    let response = error(429, "Too many wrong secrets from your address. Wait a minute, then try again.", None);
    let _ = response.headers().set("retry-after", &reset_secs.max(1).to_string());
    response
}

fn store_error(e: StoreError) -> web_sys::Response {
    console_error!("admin: token store error: {}", e.0);
    error(503, "The token store is unavailable; try again shortly.", None)
}

fn ok_json(status: u16, value: &impl Serialize) -> web_sys::Response {
    json_response(status, &serde_json::to_string(value).unwrap_or_default())
}

pub fn is_authorized(req: &web_sys::Request, env: &Env) -> bool {
    let expected = env.secret("ADMIN_SECRET").map(|s| s.to_string()).unwrap_or_default();
    let authorization = req.headers().get("authorization").ok().flatten();
    secrets_match(bearer(authorization.as_deref()).unwrap_or_default(), &expected)
}

async fn json_body(req: &web_sys::Request) -> Result<Value, web_sys::Response> {
    let text = body_text(req).await.ok_or_else(|| error(400, "body: could not be read", Some("body")))?;
    serde_json::from_str(&text).map_err(|e| error(400, &format!("body: not valid JSON ({e})"), Some("body")))
}

/// `rest` is the path after `/admin/api`.
pub async fn handle(req: web_sys::Request, rest: &str, env: &Env) -> web_sys::Response {
    let actor = Actor { via: Via::Api, client: client_address(&req) };
    let attempts = attempts_key(&actor.client);
    // Look before checking the secret, so a throttled client learns nothing from trying.
    match limiter::hit(env, &attempts, SECRET_ATTEMPTS_PER_MINUTE, 60, 0).await {
        Ok(d) if !d.allowed => return throttled(d.reset_secs),
        Ok(_) => {}
        Err(e) => console_error!("admin API limiter unavailable: {e}"),
    }
    if !is_authorized(&req, env) {
        if let Err(e) = state::log(env, Entry::new(format_rfc3339(now_unix()), Action::SignInFailed, &actor)).await {
            console_error!("admin API: the audit log is unavailable: {}", e.0);
        }
        if let Ok(d) = limiter::hit(env, &attempts, SECRET_ATTEMPTS_PER_MINUTE, 60, 1).await {
            if !d.allowed {
                return throttled(d.reset_secs);
            }
        }
        return error(401, "Send Authorization: Bearer <ADMIN_SECRET>.", None);
    }
    if let Some(response) = crate::usage::admin_api::handle(&req, rest, env, &actor).await {
        return response;
    }
    let store = match TokenStore::open(env) {
        Ok(store) => store,
        Err(e) => return store_error(e),
    };
    let method = req.method();
    let result = match (method.as_str(), rest.trim_end_matches('/')) {
        ("GET", "/tokens") => list(&store).await,
        ("GET", "/audit") => audit_log(&req, env).await,
        ("POST", "/tokens") => match json_body(&req).await {
            Ok(body) => create(env, &body, actor).await,
            Err(response) => return response,
        },
        (method, path) => match path.strip_prefix("/tokens/") {
            Some(id) if is_token_id(id) => match method {
                "GET" => show(env, &store, id).await,
                "PATCH" => match json_body(&req).await {
                    Ok(body) => patch(env, id, body, actor).await,
                    Err(response) => return response,
                },
                "DELETE" => delete(env, id, actor).await,
                _ => Ok(error(405, "Method not allowed.", None)),
            },
            Some(_) => Ok(error(404, "No token with that id.", None)),
            None => Ok(error(404, "Not found.", None)),
        },
    };
    result.unwrap_or_else(store_error)
}

/// `GET /admin/api/audit?limit&before`: newest first.
async fn audit_log(req: &web_sys::Request, env: &Env) -> Result<web_sys::Response, StoreError> {
    let params = web_sys::Url::new(&req.url()).map(|u| u.search_params()).map_err(|_| StoreError::unavailable("request URL"))?;
    let page = match audit::parse_page(params.get("limit").as_deref(), params.get("before").as_deref()) {
        Ok(page) => page,
        Err(e) => return Ok(field_error(e)),
    };
    Ok(ok_json(200, &state::audit_page(env, page).await?))
}

async fn list(store: &TokenStore) -> Result<web_sys::Response, StoreError> {
    let listing = store.listing().await?;
    let views: Vec<TokenView> = listing
        .tokens
        .iter()
        .map(|t| TokenView {
            id: &t.id,
            token: None,
            record: &t.record,
            last_used: t.last_used.as_deref(),
        })
        .collect();
    // Damaged records are named so they can be found and deleted.
    Ok(ok_json(200, &json!({ "tokens": views, "damaged": listing.damaged })))
}

/// One token, and for a token with a budget its `budget_status`: each budget's use in the current
/// period (one call to the token's ledger object; `null` if it did not answer). The list leaves it
/// out, as it would cost one call per token.
async fn show(env: &Env, store: &TokenStore, id: &str) -> Result<web_sys::Response, StoreError> {
    Ok(match store.get(id).await? {
        Some(record) => {
            let last_used = store.last_used(id).await?;
            let view = TokenView { id, token: None, record: &record, last_used: last_used.as_deref() };
            let mut body = serde_json::to_value(&view).unwrap_or_else(|_| json!({}));
            let limits = Limits::of(&record.policy);
            if !limits.budgets.is_empty() {
                body["budget_status"] = match crate::usage::ledger_object::budget_lines(env, id, limits).await {
                    Ok(lines) => json!(lines),
                    Err(e) => {
                        console_error!("admin API: budget of {}: {e}", id.get(..8).unwrap_or(id));
                        Value::Null
                    }
                };
            }
            ok_json(200, &body)
        }
        None => error(404, "No token with that id.", None),
    })
}

pub struct Created {
    pub id: String,
    pub token: String,
    pub record: TokenRecord,
}

pub enum CreateError {
    Invalid(FieldError),
    Exists,
    Store(StoreError),
}

impl From<StoreError> for CreateError {
    fn from(e: StoreError) -> Self {
        CreateError::Store(e)
    }
}

/// Creates a token from the admin's request; shared by the API and the dashboard.
pub async fn create_token(env: &Env, body: &Value, actor: Actor) -> Result<Created, CreateError> {
    let new = parse_new_token(body).map_err(CreateError::Invalid)?;
    let custom = new.token.is_some();
    let plaintext = match &new.token {
        Some(custom) => custom.clone(),
        None => token::generate().map_err(|e| StoreError::unavailable(format!("no randomness: {e}")))?,
    };
    let id = token::hash_token(&plaintext);
    let record = new.into_record(&plaintext, now_unix());
    match state::write_token(env, TokenWrite::Create { id: id.clone(), record, custom }, actor).await? {
        Outcome::Written { record } => Ok(Created {
            id,
            token: plaintext,
            record,
        }),
        Outcome::Exists => Err(CreateError::Exists),
        other => Err(CreateError::Store(unexpected(other))),
    }
}

/// An answer AdminState has no business giving to this write.
pub fn unexpected(outcome: Outcome) -> StoreError {
    StoreError::unavailable(format!("AdminState answered {outcome:?}"))
}

async fn create(env: &Env, body: &Value, actor: Actor) -> Result<web_sys::Response, StoreError> {
    match create_token(env, body, actor).await {
        Ok(c) => Ok(ok_json(
            201,
            &TokenView {
                id: &c.id,
                token: Some(&c.token),
                record: &c.record,
                last_used: None,
            },
        )),
        Err(CreateError::Invalid(e)) => Ok(field_error(e)),
        Err(CreateError::Exists) => Ok(error(409, "token: this token already exists", Some("token"))),
        Err(CreateError::Store(e)) => Err(e),
    }
}

async fn patch(env: &Env, id: &str, body: Value, actor: Actor) -> Result<web_sys::Response, StoreError> {
    if let Err(e) = parse_patch(&body) {
        return Ok(field_error(e));
    }
    Ok(match state::write_token(env, TokenWrite::Patch { id: id.to_string(), body }, actor).await? {
        Outcome::Written { record } => ok_json(
            200,
            &TokenView {
                id,
                token: None,
                record: &record,
                last_used: None,
            },
        ),
        Outcome::NotFound => error(404, "No token with that id.", None),
        Outcome::Invalid { field, message } => error(400, &message, Some(&field)),
        Outcome::Damaged => return Err(StoreError(format!("record {id} is damaged; delete it"), crate::tokens::store::Damaged::Yes)),
        other => return Err(unexpected(other)),
    })
}

async fn delete(env: &Env, id: &str, actor: Actor) -> Result<web_sys::Response, StoreError> {
    // An unreadable record can still be deleted: that is how it gets repaired.
    Ok(match state::write_token(env, TokenWrite::Delete { id: id.to_string() }, actor).await? {
        Outcome::Deleted => {
            crate::usage::admin_api::forget_token(env, id).await;
            json_response(200, &json!({"deleted": id}).to_string())
        }
        Outcome::NotFound => error(404, "No token with that id.", None),
        other => return Err(unexpected(other)),
    })
}
