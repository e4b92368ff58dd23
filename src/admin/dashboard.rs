//! The server-rendered dashboard at `/admin`: sign-in, token list, create (plaintext shown once),
//! edit, enable/disable and delete, all as plain form posts.
//!
//! Every state-changing post must come from our own origin and carry the CSRF token bound to the
//! session; anything else is refused before it can change a thing. Every change of a token goes
//! through `AdminState` (`admin::state`), as the API's do; so do sign-ins, sign-outs and the check
//! that a session has not been signed out.

use askama::Template;
use serde_json::json;
use worker::web_sys::{self, Headers, ResponseInit};
use worker::{console_error, Env};

use crate::admin::api::{attempts_key, client_address, create_token, unexpected, CreateError, SECRET_ATTEMPTS_PER_MINUTE};
use crate::admin::audit::{self, Action, Actor, Entry, Via};
use crate::admin::pages::{
    base_url, client_snippets, form_to_json, AuditPage, AuditRow, ConfirmDeletePage, CreatedPage, DashboardPage, EditPage, KeyLine, Layout,
    LoginPage, MessagePage, TokenForm, TokenRow, UpstreamStatus, Upstreams, ICON, SCRIPT, STYLESHEET,
};
use crate::admin::session::{self, Session, SessionKey};
use crate::admin::state;
use crate::admin::token_writes::{Outcome, TokenWrite};
use crate::common::timestamp::format_rfc3339;
use crate::common::urlencoded;
use crate::policy::limiter;
use crate::runtime::{body_text, now_unix};
use crate::tokens::admin::{parse_patch, secrets_match};
use crate::proxy::provider::Provider;
use crate::upstream::{failover, registry};
use crate::tokens::store::{StoreError, TokenStore};
use crate::tokens::token::{is_token_id, Status, TokenRecord};

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

fn random_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("the platform CSPRNG");
    nonce
}

struct Admin {
    key: SessionKey,
    secret: String,
    origin: String,
    actor: Actor,
    env: Env,
}

impl Admin {
    /// The session the cookie stands for, if it verifies and AdminState still honours it.
    async fn session(&self, req: &web_sys::Request, env: &Env) -> Result<Option<Session>, StoreError> {
        let Some(cookies) = header(req, "cookie") else { return Ok(None) };
        let Some(session) = session::cookie_value(&cookies, session::COOKIE_NAME).and_then(|v| self.key.verify(v, now_unix())) else {
            return Ok(None);
        };
        Ok(state::session_honoured(env, &session).await?.then_some(session))
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
        actor: Actor { via: Via::Dashboard, client: client_address(&req) },
        env: env.clone(),
    };
    let method = req.method();
    if method == "POST" && !admin.same_origin(&req) {
        return message(403, None, "Refused", "This form was not sent from this dashboard, so nothing was changed.");
    }
    if rest == "/login" && method == "POST" {
        return sign_in(req, &admin, env).await;
    }
    let session = match admin.session(&req, env).await {
        Ok(session) => session,
        // Fail closed: a session AdminState cannot vouch for may have been signed out.
        Err(e) => return store_unavailable(e, None),
    };
    let Some(session) = session else {
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
            "" | "/" => dashboard(&url.search_params().get("q").unwrap_or_default(), csrf, &store, None, &admin).await,
            "/audit" => audit_page(url, csrf, env).await,
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
        ["logout"] => match state::session_close(env, &session, admin.actor.clone()).await {
            Ok(()) => redirect("/admin", &[("set-cookie", &session::clear_cookie())]),
            Err(e) => store_unavailable(e, Some(csrf)),
        },
        ["logout-everywhere"] => match state::session_close_all(env, admin.actor.clone()).await {
            Ok(()) => redirect("/admin", &[("set-cookie", &session::clear_cookie())]),
            Err(e) => store_unavailable(e, Some(csrf)),
        },
        ["tokens"] => create(&fields, &admin, csrf, &store, env).await,
        ["tokens", id] if is_token_id(id) => update(id, &fields, csrf, &store, &admin, env).await,
        ["tokens", id, "status"] if is_token_id(id) => set_status(id, &fields, csrf, &admin, env).await,
        ["tokens", id, "delete"] if is_token_id(id) => delete(id, &fields, csrf, &store, &admin, env).await,
        _ => message(404, Some(csrf), "Not found", "There is no such action."),
    }
}

async fn sign_in(req: web_sys::Request, admin: &Admin, env: &Env) -> web_sys::Response {
    let client = attempts_key(&admin.actor.client);
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
    match limiter::hit(env, &client, SECRET_ATTEMPTS_PER_MINUTE, 60, 0).await {
        Ok(d) if !d.allowed => return throttled(d.reset_secs),
        Ok(_) => {}
        Err(e) => console_error!("sign-in limiter unavailable: {e}"),
    }
    let fields = form(&req).await;
    let password = urlencoded::first(&fields, "password").unwrap_or_default();
    if secrets_match(password, &admin.secret) {
        let value = admin.key.issue(now_unix(), &random_nonce());
        let Some(session) = admin.key.verify(&value, now_unix()) else {
            return message(500, None, "Not signed in", "The new session did not verify; try again.");
        };
        // Recorded before the cookie is handed out, so that sign-out can end it.
        if let Err(e) = state::session_open(env, &session, admin.actor.clone()).await {
            return store_unavailable(e, None);
        }
        return redirect("/admin", &[("set-cookie", &session::set_cookie(&value))]);
    }
    if let Err(e) = state::log(env, Entry::new(format_rfc3339(now_unix()), Action::SignInFailed, &admin.actor)).await {
        console_error!("sign-in: the audit log is unavailable: {}", e.0);
    }
    if let Ok(d) = limiter::hit(env, &client, SECRET_ATTEMPTS_PER_MINUTE, 60, 1).await {
        if !d.allowed {
            return throttled(d.reset_secs);
        }
    }
    page(401, &LoginPage { layout: Layout::default(), error: Some("Wrong password.") }, &[])
}

/// The token list and the create form; after a refused create, the form as typed and why.
async fn dashboard(filter: &str, csrf: String, store: &TokenStore, refused: Option<(String, TokenForm)>, admin: &Admin) -> web_sys::Response {
    let listing = match store.listing().await {
        Ok(listing) => listing,
        Err(e) => return store_unavailable(e, Some(csrf)),
    };
    let tokens = listing.tokens;
    let needle = filter.trim().to_lowercase();
    let damaged: Vec<String> = listing.damaged.into_iter().filter(|id| "damaged".contains(&needle) || id.contains(&needle)).collect();
    let total = tokens.len() + damaged.len();
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
            damaged,
            upstreams: upstreams(&admin.env, &admin.origin),
        },
        &[],
    )
}

/// Every provider with its keys (position, last four, what this isolate last saw of each).
fn upstreams(env: &Env, origin: &str) -> Upstreams {
    let providers = Provider::all()
        .into_iter()
        .map(|p| UpstreamStatus {
            name: p.name(),
            display: p.display_name(),
            base_url: base_url(origin, p),
            keys: failover::pool(env, p)
                .map(|pool| {
                    failover::key_states(p, &pool)
                        .into_iter()
                        .map(|(index, last4, weight, state)| KeyLine { index, last4, weight, status: state.status_text(now_unix()) })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    Upstreams { providers, problems: registry::table().problems.clone() }
}

async fn create(fields: &[(String, String)], admin: &Admin, csrf: String, store: &TokenStore, env: &Env) -> web_sys::Response {
    let mut body = form_to_json(fields);
    body["token"] = json!(urlencoded::first(fields, "token").unwrap_or_default());
    match create_token(env, &body, admin.actor.clone()).await {
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
        Err(CreateError::Invalid(e)) => dashboard("", csrf, store, Some((format!("Not created. {e}"), TokenForm::from_fields(fields))), admin).await,
        Err(CreateError::Exists) => {
            let error = "Not created: that custom token is already in use.".to_string();
            dashboard("", csrf, store, Some((error, TokenForm::from_fields(fields))), admin).await
        }
        Err(CreateError::Store(e)) => store_unavailable(e, Some(csrf)),
    }
}

/// A token's record for showing it: the record, "damaged" (`Ok(None)`), or the page that says why
/// there is none.
async fn load(store: &TokenStore, id: &str, csrf: &str) -> Result<Option<TokenRecord>, web_sys::Response> {
    match store.get(id).await {
        Ok(Some(record)) => Ok(Some(record)),
        Ok(None) => Err(not_found(csrf)),
        Err(e) if e.is_damaged() => Ok(None),
        Err(e) => Err(store_unavailable(e, Some(csrf.into()))),
    }
}

fn not_found(csrf: &str) -> web_sys::Response {
    message(404, Some(csrf.into()), "Not found", "No token has that id; it may have been deleted.")
}

fn confirm_delete(id: &str, record: Option<&TokenRecord>, csrf: String) -> web_sys::Response {
    page(
        200,
        &ConfirmDeletePage {
            layout: Layout { csrf: Some(csrf) },
            id,
            label: record.map_or("", |r| r.label.as_str()),
            last4: record.map_or("", |r| r.last4.as_str()),
            damaged: record.is_none(),
        },
        &[],
    )
}

/// Sends a write through AdminState and goes back to the list, or says why it was not made.
async fn write(env: &Env, write: TokenWrite, admin: &Admin, csrf: String) -> web_sys::Response {
    match state::write_token(env, write, admin.actor.clone()).await {
        Ok(Outcome::Written { .. } | Outcome::Deleted) => redirect("/admin", &[]),
        Ok(Outcome::NotFound) => not_found(&csrf),
        Ok(Outcome::Invalid { message: text, .. }) => message(400, Some(csrf), "Not changed", &text),
        Ok(Outcome::Damaged) => message(409, Some(csrf), "Damaged record", "This token's record is damaged and can only be deleted."),
        Ok(other) => store_unavailable(unexpected(other), Some(csrf)),
        Err(e) => store_unavailable(e, Some(csrf)),
    }
}

async fn edit_page(id: &str, csrf: String, store: &TokenStore) -> web_sys::Response {
    let record = match load(store, id, &csrf).await {
        Ok(Some(record)) => record,
        Ok(None) => return confirm_delete(id, None, csrf),
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

async fn update(id: &str, fields: &[(String, String)], csrf: String, store: &TokenStore, admin: &Admin, env: &Env) -> web_sys::Response {
    let body = form_to_json(fields);
    match parse_patch(&body) {
        Ok(_) => write(env, TokenWrite::Patch { id: id.to_string(), body }, admin, csrf).await,
        // Read only to show the form again; the change itself is never made from this read.
        Err(e) => match load(store, id, &csrf).await {
            Ok(Some(record)) => render_edit(400, id, &record, None, TokenForm::from_fields(fields), csrf, Some(format!("Not saved. {e}"))),
            Ok(None) => confirm_delete(id, None, csrf),
            Err(page) => page,
        },
    }
}

async fn set_status(id: &str, fields: &[(String, String)], csrf: String, admin: &Admin, env: &Env) -> web_sys::Response {
    let status = urlencoded::first(fields, "status").unwrap_or_default();
    let body = json!({ "status": status });
    if let Err(e) = parse_patch(&body) {
        return message(400, Some(csrf), "Not changed", &e.to_string());
    }
    write(env, TokenWrite::Patch { id: id.to_string(), body }, admin, csrf).await
}

async fn delete(id: &str, fields: &[(String, String)], csrf: String, store: &TokenStore, admin: &Admin, env: &Env) -> web_sys::Response {
    if urlencoded::first(fields, "confirm") != Some("yes") {
        return match load(store, id, &csrf).await {
            Ok(record) => confirm_delete(id, record.as_ref(), csrf),
            Err(page) => page,
        };
    }
    write(env, TokenWrite::Delete { id: id.to_string() }, admin, csrf).await
}

async fn audit_page(url: &web_sys::Url, csrf: String, env: &Env) -> web_sys::Response {
    let params = url.search_params();
    let request = match audit::parse_page(None, params.get("before").as_deref()) {
        Ok(request) => request,
        Err(e) => return message(400, Some(csrf), "Not found", &e.to_string()),
    };
    match state::audit_page(env, request).await {
        Ok(log) => page(
            200,
            &AuditPage {
                layout: Layout { csrf: Some(csrf) },
                entries: log.entries.iter().map(AuditRow::new).collect(),
                next_before: log.next_before,
            },
            &[],
        ),
        Err(e) => store_unavailable(e, Some(csrf)),
    }
}
