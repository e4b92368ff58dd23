//! The server-rendered dashboard at `/admin`: sign-in, token list, create (plaintext shown once),
//! edit, enable/disable and delete, all as plain form posts.
//!
//! Every state-changing post must come from our own origin and carry the CSRF token bound to the
//! session; anything else is refused before it can change a thing.

use askama::Template;
use serde_json::json;
use worker::web_sys::{self, Headers, ResponseInit};
use worker::{console_error, Env};

use crate::admin::pages::{
    client_snippets, form_to_json, ConfirmDeletePage, CreatedPage, DashboardPage, EditPage, Layout, LoginPage, MessagePage, TokenForm,
    TokenRow, ICON, SCRIPT, STYLESHEET,
};
use crate::admin::session::{self, Session, SessionKey};
use crate::tokens::token::{is_token_id, Status, TokenRecord};
use crate::tokens::admin::{parse_patch, secrets_match, TokenPatch};
use crate::common::urlencoded;
use crate::admin::api::{create_token, CreateError};
use crate::runtime::{body_text, now_unix};
use crate::policy::limiter;
use crate::tokens::store::{StoreError, TokenStore};

/// Failed sign-ins allowed per client and minute before 429.
const SIGN_IN_ATTEMPTS_PER_MINUTE: u32 = 5;

/// Headers every admin response carries, the JSON API's included.
pub fn secure(response: web_sys::Response) -> web_sys::Response {
    let headers = response.headers();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
    ] {
        let _ = headers.set(name, value);
    }
    response
}

fn respond(status: u16, content_type: &str, body: &str, extra: &[(&str, &str)]) -> web_sys::Response {
    let headers = Headers::new().expect("Headers");
    let _ = headers.set("content-type", content_type);
    for (name, value) in extra {
        let _ = headers.append(name, value);
    }
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    let body = (status != 303).then_some(body);
    secure(web_sys::Response::new_with_opt_str_and_init(body, &init).expect("Response"))
}

fn page(status: u16, template: &impl Template, extra: &[(&str, &str)]) -> web_sys::Response {
    match template.render() {
        Ok(html) => respond(status, "text/html; charset=utf-8", &html, extra),
        Err(e) => {
            console_error!("template: {e}");
            respond(500, "text/plain", "The page could not be rendered.", &[])
        }
    }
}

fn redirect(location: &str, extra: &[(&str, &str)]) -> web_sys::Response {
    let mut headers = vec![("location", location)];
    headers.extend_from_slice(extra);
    respond(303, "text/plain", "", &headers)
}

fn message(status: u16, csrf: Option<String>, title: &str, text: &str) -> web_sys::Response {
    page(
        status,
        &MessagePage {
            layout: Layout { csrf },
            title,
            message: text,
        },
        &[],
    )
}

fn store_unavailable(e: StoreError, csrf: Option<String>) -> web_sys::Response {
    console_error!("dashboard: token store error: {}", e.0);
    message(503, csrf, "Token store unavailable", "Workers KV did not answer. Nothing was changed; try again shortly.")
}

async fn form(req: &web_sys::Request) -> Vec<(String, String)> {
    urlencoded::parse(&body_text(req).await.unwrap_or_default())
}

fn header(req: &web_sys::Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn client_key(req: &web_sys::Request) -> String {
    let ip = header(req, "cf-connecting-ip").unwrap_or_else(|| "unknown".into());
    format!("sign-in:{ip}")
}

fn random_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("the platform CSPRNG");
    nonce
}

struct Admin {
    key: SessionKey,
    secret: String,
    origin: String,
}

impl Admin {
    fn session(&self, req: &web_sys::Request) -> Option<Session> {
        let cookies = header(req, "cookie")?;
        let value = session::cookie_value(&cookies, session::COOKIE_NAME)?;
        self.key.verify(value, now_unix())
    }

    fn same_origin(&self, req: &web_sys::Request) -> bool {
        header(req, "origin").as_deref() == Some(self.origin.as_str())
    }
}

/// `rest` is the path after `/admin` (empty for the dashboard itself).
pub async fn handle(req: web_sys::Request, url: &web_sys::Url, rest: &str, env: &Env) -> web_sys::Response {
    match rest {
        "/assets/admin.css" => return respond(200, "text/css; charset=utf-8", STYLESHEET, &[]),
        "/assets/admin.js" => return respond(200, "text/javascript; charset=utf-8", SCRIPT, &[]),
        "/assets/icon.svg" => return respond(200, "image/svg+xml", ICON, &[]),
        _ => {}
    }
    let secret = env.secret("ADMIN_SECRET").map(|s| s.to_string()).unwrap_or_default();
    if secret.is_empty() {
        return message(503, None, "Not configured", "Set the ADMIN_SECRET secret on this Worker to use the dashboard.");
    }
    let admin = Admin {
        key: SessionKey::derive(&secret),
        secret,
        origin: url.origin(),
    };
    let method = req.method();
    if method == "POST" && !admin.same_origin(&req) {
        return message(403, None, "Refused", "This form was not sent from this dashboard, so nothing was changed.");
    }
    if rest == "/login" && method == "POST" {
        return sign_in(req, &admin, env).await;
    }
    let Some(session) = admin.session(&req) else {
        return match (method.as_str(), rest) {
            ("GET", "" | "/") => page(200, &LoginPage { layout: Layout::default(), error: None }, &[]),
            ("GET", _) => redirect("/admin", &[]),
            _ => page(401, &LoginPage { layout: Layout::default(), error: Some("Your session has ended. Sign in again.") }, &[]),
        };
    };
    let csrf = admin.key.csrf_token(&session);
    let store = match TokenStore::open(env) {
        Ok(store) => store,
        Err(e) => return store_unavailable(e, Some(csrf)),
    };
    if method == "GET" {
        return match rest {
            "" | "/" => dashboard(&url.search_params().get("q").unwrap_or_default(), csrf, &store, None).await,
            _ => match rest.strip_prefix("/tokens/") {
                Some(id) if is_token_id(id) => edit_page(id, csrf, &store).await,
                _ => message(404, Some(csrf), "Not found", "There is no such page."),
            },
        };
    }
    if method != "POST" {
        return message(405, Some(csrf), "Not allowed", "This page only accepts GET and POST.");
    }
    let fields = form(&req).await;
    let presented = urlencoded::first(&fields, "csrf").unwrap_or_default();
    if !admin.key.csrf_matches(&session, presented) {
        return message(403, Some(csrf), "Refused", "The form's security token did not match your session, so nothing was changed. Reload the page and try again.");
    }
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["logout"] => redirect("/admin", &[("set-cookie", &session::clear_cookie())]),
        ["tokens"] => create(&fields, &admin, csrf, &store).await,
        ["tokens", id] if is_token_id(id) => update(id, &fields, csrf, &store).await,
        ["tokens", id, "status"] if is_token_id(id) => set_status(id, &fields, csrf, &store).await,
        ["tokens", id, "delete"] if is_token_id(id) => delete(id, &fields, csrf, &store).await,
        _ => message(404, Some(csrf), "Not found", "There is no such action."),
    }
}

async fn sign_in(req: web_sys::Request, admin: &Admin, env: &Env) -> web_sys::Response {
    let client = client_key(&req);
    let throttled = |reset_secs: u64| {
        let retry_after = reset_secs.to_string();
        page(
            429,
            &LoginPage {
                layout: Layout::default(),
                error: Some("Too many failed sign-ins from your address. Wait a minute, then try again."),
            },
            &[("retry-after", &retry_after)],
        )
    };
    // Look before checking the password, so a throttled client learns nothing from trying.
    match limiter::hit(env, &client, SIGN_IN_ATTEMPTS_PER_MINUTE, 60, 0).await {
        Ok(d) if !d.allowed => return throttled(d.reset_secs),
        Ok(_) => {}
        Err(e) => console_error!("sign-in limiter unavailable: {e}"),
    }
    let fields = form(&req).await;
    let password = urlencoded::first(&fields, "password").unwrap_or_default();
    if secrets_match(password, &admin.secret) {
        let cookie = session::set_cookie(&admin.key.issue(now_unix(), &random_nonce()));
        return redirect("/admin", &[("set-cookie", &cookie)]);
    }
    if let Ok(d) = limiter::hit(env, &client, SIGN_IN_ATTEMPTS_PER_MINUTE, 60, 1).await {
        if !d.allowed {
            return throttled(d.reset_secs);
        }
    }
    page(401, &LoginPage { layout: Layout::default(), error: Some("Wrong password.") }, &[])
}

/// The token list and the create form; after a refused create, the form as typed and why.
async fn dashboard(filter: &str, csrf: String, store: &TokenStore, refused: Option<(String, TokenForm)>) -> web_sys::Response {
    let tokens = match store.list().await {
        Ok(tokens) => tokens,
        Err(e) => return store_unavailable(e, Some(csrf)),
    };
    let total = tokens.len();
    let rows: Vec<TokenRow> = tokens
        .iter()
        .rev()
        .map(|t| TokenRow::new(&t.id, &t.record, t.last_used.as_deref()))
        .filter(|row| row.matches(filter))
        .collect();
    let status = if refused.is_some() { 400 } else { 200 };
    let (error, form) = match refused {
        Some((error, form)) => (Some(error), form),
        None => (None, TokenForm::blank()),
    };
    page(
        status,
        &DashboardPage {
            layout: Layout { csrf: Some(csrf) },
            form,
            tokens: rows,
            total,
            filter,
            notice: None,
            error,
        },
        &[],
    )
}

async fn create(fields: &[(String, String)], admin: &Admin, csrf: String, store: &TokenStore) -> web_sys::Response {
    let mut body = form_to_json(fields);
    body["token"] = json!(urlencoded::first(fields, "token").unwrap_or_default());
    match create_token(store, &body).await {
        Ok(created) => page(
            201,
            &CreatedPage {
                layout: Layout { csrf: Some(csrf) },
                label: &created.record.label,
                token: &created.token,
                snippets: client_snippets(&admin.origin, &created.token, &created.record.providers),
            },
            &[],
        ),
        Err(CreateError::Invalid(e)) => dashboard("", csrf, store, Some((format!("Not created. {e}"), TokenForm::from_fields(fields)))).await,
        Err(CreateError::Exists) => {
            let error = "Not created: that custom token is already in use.".to_string();
            dashboard("", csrf, store, Some((error, TokenForm::from_fields(fields)))).await
        }
        Err(CreateError::Store(e)) => store_unavailable(e, Some(csrf)),
    }
}

/// The token's record, or the page that says why there is none.
async fn load(store: &TokenStore, id: &str, csrf: &str) -> Result<TokenRecord, web_sys::Response> {
    match store.get(id).await {
        Ok(Some(record)) => Ok(record),
        Ok(None) => Err(message(404, Some(csrf.into()), "Not found", "No token has that id; it may have been deleted.")),
        Err(e) => Err(store_unavailable(e, Some(csrf.into()))),
    }
}

/// Applies a validated change and goes back to the list.
async fn save(store: &TokenStore, id: &str, mut record: TokenRecord, patch: TokenPatch, csrf: String) -> web_sys::Response {
    patch.apply(&mut record);
    match store.put(id, &record).await {
        Ok(()) => redirect("/admin", &[]),
        Err(e) => store_unavailable(e, Some(csrf)),
    }
}

async fn edit_page(id: &str, csrf: String, store: &TokenStore) -> web_sys::Response {
    let record = match load(store, id, &csrf).await {
        Ok(record) => record,
        Err(page) => return page,
    };
    let last_used = match store.last_used(id).await {
        Ok(last_used) => last_used,
        Err(e) => return store_unavailable(e, Some(csrf)),
    };
    render_edit(200, id, &record, last_used.as_deref(), TokenForm::from_record(&record), csrf, None)
}

fn render_edit(
    status: u16,
    id: &str,
    record: &TokenRecord,
    last_used: Option<&str>,
    form: TokenForm,
    csrf: String,
    error: Option<String>,
) -> web_sys::Response {
    page(
        status,
        &EditPage {
            layout: Layout { csrf: Some(csrf) },
            id,
            last4: &record.last4,
            created: record.created_at.get(..10).unwrap_or_default(),
            last_used: last_used.unwrap_or("never"),
            active: record.status == Status::Active,
            form,
            error,
        },
        &[],
    )
}

async fn update(id: &str, fields: &[(String, String)], csrf: String, store: &TokenStore) -> web_sys::Response {
    let record = match load(store, id, &csrf).await {
        Ok(record) => record,
        Err(page) => return page,
    };
    match parse_patch(&form_to_json(fields)) {
        Ok(patch) => save(store, id, record, patch, csrf).await,
        Err(e) => render_edit(400, id, &record, None, TokenForm::from_fields(fields), csrf, Some(format!("Not saved. {e}"))),
    }
}

async fn set_status(id: &str, fields: &[(String, String)], csrf: String, store: &TokenStore) -> web_sys::Response {
    let status = urlencoded::first(fields, "status").unwrap_or_default();
    let patch = match parse_patch(&json!({ "status": status })) {
        Ok(patch) => patch,
        Err(e) => return message(400, Some(csrf), "Not changed", &e.to_string()),
    };
    match load(store, id, &csrf).await {
        Ok(record) => save(store, id, record, patch, csrf).await,
        Err(page) => page,
    }
}

async fn delete(id: &str, fields: &[(String, String)], csrf: String, store: &TokenStore) -> web_sys::Response {
    let record = match load(store, id, &csrf).await {
        Ok(record) => record,
        Err(page) => return page,
    };
    if urlencoded::first(fields, "confirm") != Some("yes") {
        return page(
            200,
            &ConfirmDeletePage {
                layout: Layout { csrf: Some(csrf) },
                id,
                label: &record.label,
                last4: &record.last4,
            },
            &[],
        );
    }
    match store.delete(id).await {
        Ok(()) => redirect("/admin", &[]),
        Err(e) => store_unavailable(e, Some(csrf)),
    }
}
