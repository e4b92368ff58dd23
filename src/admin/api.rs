//! The admin JSON API under `/admin/api/tokens`, for automation and tests.
//! Every request must carry `Authorization: Bearer <ADMIN_SECRET>`.

use serde::Serialize;
use serde_json::{json, Value};
use worker::web_sys;
use worker::{console_error, Env};

use crate::tokens::token::{self, is_token_id, TokenRecord};
use crate::proxy::provider::bearer;
use crate::runtime::{body_text, now_unix};
use crate::common::field_error::FieldError;
use crate::tokens::admin::{parse_new_token, parse_patch, secrets_match};
use crate::runtime::json_response;
use crate::tokens::store::{StoreError, TokenStore};

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
    if !is_authorized(&req, env) {
        return error(401, "Send Authorization: Bearer <ADMIN_SECRET>.", None);
    }
    let store = match TokenStore::open(env) {
        Ok(store) => store,
        Err(e) => return store_error(e),
    };
    let method = req.method();
    let result = match (method.as_str(), rest.trim_end_matches('/')) {
        ("GET", "/tokens") => list(&store).await,
        ("POST", "/tokens") => match json_body(&req).await {
            Ok(body) => create(&store, &body).await,
            Err(response) => return response,
        },
        (method, path) => match path.strip_prefix("/tokens/") {
            Some(id) if is_token_id(id) => match method {
                "GET" => show(&store, id).await,
                "PATCH" => match json_body(&req).await {
                    Ok(body) => patch(&store, id, &body).await,
                    Err(response) => return response,
                },
                "DELETE" => delete(&store, id).await,
                _ => Ok(error(405, "Method not allowed.", None)),
            },
            Some(_) => Ok(error(404, "No token with that id.", None)),
            None => Ok(error(404, "Not found.", None)),
        },
    };
    result.unwrap_or_else(store_error)
}

async fn list(store: &TokenStore) -> Result<web_sys::Response, StoreError> {
    let tokens = store.list().await?;
    let views: Vec<TokenView> = tokens
        .iter()
        .map(|t| TokenView {
            id: &t.id,
            token: None,
            record: &t.record,
            last_used: t.last_used.as_deref(),
        })
        .collect();
    Ok(ok_json(200, &json!({ "tokens": views })))
}

async fn show(store: &TokenStore, id: &str) -> Result<web_sys::Response, StoreError> {
    Ok(match store.get(id).await? {
        Some(record) => {
            let last_used = store.last_used(id).await?;
            ok_json(
                200,
                &TokenView {
                    id,
                    token: None,
                    record: &record,
                    last_used: last_used.as_deref(),
                },
            )
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
pub async fn create_token(store: &TokenStore, body: &Value) -> Result<Created, CreateError> {
    let new = parse_new_token(body).map_err(CreateError::Invalid)?;
    let plaintext = match &new.token {
        Some(custom) => custom.clone(),
        None => token::generate().map_err(|e| StoreError::unavailable(format!("no randomness: {e}")))?,
    };
    let id = token::hash_token(&plaintext);
    if new.token.is_some() && store.get(&id).await?.is_some() {
        return Err(CreateError::Exists);
    }
    let record = new.into_record(&plaintext, now_unix());
    store.put(&id, &record).await?;
    Ok(Created {
        id,
        token: plaintext,
        record,
    })
}

async fn create(store: &TokenStore, body: &Value) -> Result<web_sys::Response, StoreError> {
    match create_token(store, body).await {
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

async fn patch(store: &TokenStore, id: &str, body: &Value) -> Result<web_sys::Response, StoreError> {
    let patch = match parse_patch(body) {
        Ok(p) => p,
        Err(e) => return Ok(field_error(e)),
    };
    let Some(mut record) = store.get(id).await? else {
        return Ok(error(404, "No token with that id.", None));
    };
    patch.apply(&mut record);
    store.put(id, &record).await?;
    Ok(ok_json(
        200,
        &TokenView {
            id,
            token: None,
            record: &record,
            last_used: None,
        },
    ))
}

async fn delete(store: &TokenStore, id: &str) -> Result<web_sys::Response, StoreError> {
    match store.get(id).await {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(error(404, "No token with that id.", None)),
        // An unreadable record can still be deleted: that is how it gets repaired.
        Err(e) if e.is_damaged() => {}
        Err(e) => return Err(e),
    }
    store.delete(id).await?;
    Ok(json_response(200, &json!({"deleted": id}).to_string()))
}
