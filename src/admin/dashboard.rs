//! The server-rendered dashboard at `/admin`: sign-in, token list, create (plaintext shown once),
//! edit, enable/disable and delete, all as plain form posts.
//!
//! Every state-changing post must come from our own origin and carry the CSRF token bound to the
//! session; anything else is refused before it can change a thing. Every change of a token goes
//! through `AdminState` (`admin::state`), as the API's do; so do sign-ins, sign-outs and the check
//! that a session has not been signed out.

use askama::Template;
use serde_json::{json, Value};
use worker::web_sys::{self, Headers, ResponseInit};
use worker::{console_error, Env};

use crate::admin::changes;
use crate::admin::flash::{self, Created, Notice, Sealer, Undo};
use crate::admin::form_check::{self, FieldProblem, FormKind};
use crate::admin::list::{arrange, days_ago, readable_utc, ListView, RowUsage, Shown, TokenRow};
use crate::admin::api::{attempts_key, client_address, unexpected, SECRET_ATTEMPTS_PER_MINUTE};
use crate::admin::audit::{self, Action, Actor, Entry, Via};
use crate::admin::price_form::{self, PriceForm};
use crate::admin::price_writes::{PriceOutcome, PriceWrite};
use crate::admin::state;
use crate::admin::token_writes::{Outcome, TokenWrite};
use crate::common::timestamp::format_rfc3339;
use crate::admin::pages::{
    base_url, client_snippets, form_to_json, AuditPage, AuditRow, ConfirmDeletePage, CreatedPage, DashboardPage, EditPage, KeyLine, Layout, LoginPage,
    MessagePage, NewTokenPage, PricesPage, TokenForm, UpstreamStatus, Upstreams, ICON, SCRIPT, STYLESHEET,
};
use crate::admin::session::{self, Session, SessionKey};
use crate::tokens::token::{is_token_id, Status, TokenRecord};
use crate::tokens::admin::{parse_patch, secrets_match};
use crate::common::urlencoded;
use crate::admin::api::{create_token, CreateError};
use crate::runtime::{body_text, now_unix};
use crate::policy::limiter;
use crate::proxy::provider::Provider;
use crate::upstream::{failover, registry};
use crate::tokens::store::{StoreError, TokenStore};


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
    // The fragment (`#token-<id>`) is kept by the browser across the redirect, so the list opens
    // at the row that changed.
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

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the platform CSPRNG");
    bytes
}

struct Admin {
    key: SessionKey,
    secret: String,
    origin: String,
    env: Env,
    actor: Actor,
}

impl Admin {
    fn cookie(&self, req: &web_sys::Request, name: &str) -> Option<String> {
        let cookies = header(req, "cookie")?;
        session::cookie_value(&cookies, name).map(str::to_string)
    }

    /// The session the cookie stands for, if it verifies and AdminState still honours it.
    async fn session(&self, req: &web_sys::Request) -> Result<Option<Session>, StoreError> {
        let Some(session) = self.cookie(req, session::COOKIE_NAME).and_then(|v| self.key.verify(&v, now_unix())) else {
            return Ok(None);
        };
        Ok(state::session_honoured(&self.env, &session).await?.then_some(session))
    }

    fn sealer(&self) -> Sealer {
        Sealer::new(self.key.subkey("flash"))
    }

    fn same_origin(&self, req: &web_sys::Request) -> bool {
        header(req, "origin").as_deref() == Some(self.origin.as_str())
    }
}


/// A signed-in request: the session, its CSRF token and the token store.
struct Signed<'a> {
    admin: &'a Admin,
    session: Session,
    csrf: String,
    store: TokenStore,
}

impl Signed<'_> {
    fn layout(&self) -> Layout {
        Layout { csrf: Some(self.csrf.clone()) }
    }

    fn message(&self, status: u16, title: &str, text: &str) -> web_sys::Response {
        message(status, Some(self.csrf.clone()), title, text)
    }

    fn unavailable(&self, e: StoreError) -> web_sys::Response {
        store_unavailable(e, Some(self.csrf.clone()))
    }

    fn seal<T: serde::Serialize>(&self, purpose: &str, ttl: i64, value: &T) -> String {
        self.admin.sealer().seal(purpose, &self.session.nonce, now_unix() + ttl, value, random())
    }

    fn open<T: for<'de> serde::Deserialize<'de>>(&self, req: &web_sys::Request, cookie: &str, purpose: &str) -> Option<T> {
        let value = self.admin.cookie(req, cookie)?;
        self.admin.sealer().open(purpose, &self.session.nonce, &value, now_unix())
    }

    /// Back to the list as it was, at `row`, with a notice naming what changed.
    fn done(&self, view: &ListView, row: Option<&str>, notice: Notice) -> web_sys::Response {
        let cookie = flash::notice_cookie(&self.seal("notice", flash::NOTICE_TTL_SECS, &notice));
        redirect(&view.location(row), &[("set-cookie", &cookie)])
    }

    /// The record for showing it, `Ok(None)` when it is damaged, or the page that says why there
    /// is none. Changes are never made from this read: they go to AdminState.
    async fn load(&self, id: &str) -> Result<Option<TokenRecord>, web_sys::Response> {
        match self.store.get(id).await {
            Ok(Some(record)) => Ok(Some(record)),
            Ok(None) => Err(self.not_found()),
            Err(e) if e.is_damaged() => Ok(None),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    fn not_found(&self) -> web_sys::Response {
        self.message(404, "Not found", "No token has that id; it may have been deleted.")
    }

    /// One write through AdminState: the record as it now stands, or the page that says why not.
    async fn write(&self, write: TokenWrite) -> Result<Option<TokenRecord>, web_sys::Response> {
        match state::write_token(&self.admin.env, write, self.admin.actor.clone()).await {
            Ok(Outcome::Written { record }) => Ok(Some(record)),
            Ok(Outcome::Deleted) => Ok(None),
            Ok(Outcome::NotFound) => Err(self.not_found()),
            Ok(Outcome::Invalid { message: text, .. }) => Err(self.message(400, "Not changed", &text)),
            Ok(Outcome::Damaged) => Err(self.message(409, "Damaged record", "This token's record is damaged and can only be deleted.")),
            Ok(other) => Err(self.unavailable(unexpected(other))),
            Err(e) => Err(self.unavailable(e)),
        }
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
        env: env.clone(),
        actor: Actor { via: Via::Dashboard, client: client_address(&req) },
    };
    let method = req.method();
    if method == "POST" && !admin.same_origin(&req) {
        return message(403, None, "Refused", "This form was not sent from this dashboard, so nothing was changed.");
    }
    if rest == "/login" && method == "POST" {
        return sign_in(req, &admin, env).await;
    }
    let session = match admin.session(&req).await {
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
    let s = Signed { admin: &admin, session, csrf, store };
    if method == "GET" {
        let query = urlencoded::parse(url.search().trim_start_matches('?'));
        let view = ListView::from_pairs(&query);
        return match rest {
            "" | "/" => list_page(&req, &s, &view).await,
            "/new" => new_page(200, &s, TokenForm::blank(), &view),
            "/created" => created_page(&req, &s),
            "/usage" => secure(crate::usage::dashboard::overview(url, s.layout(), &s.store, env).await),
            "/audit" => audit_page(url, &s).await,
            "/prices" => prices_page(&req, &s, 200, PriceForm::default()).await,
            _ => match rest.strip_prefix("/tokens/") {
                Some(id) if is_token_id(id) => edit_page(id, &s, &view).await,
                Some(path) => match path.split_once('/') {
                    Some((id, "usage")) if is_token_id(id) => secure(crate::usage::dashboard::token_page(id, url, s.layout(), &s.store, env).await),
                    Some((id, "usage.csv")) if is_token_id(id) => secure(crate::usage::dashboard::token_csv(id, url, &s.store, env).await),
                    _ => s.message(404, "Not found", "There is no such page."),
                },
                _ => s.message(404, "Not found", "There is no such page."),
            },
        };
    }
    if method != "POST" {
        return s.message(405, "Not allowed", "This page only accepts GET and POST.");
    }
    let fields = form(&req).await;
    let presented = urlencoded::first(&fields, "csrf").unwrap_or_default();
    if !admin.key.csrf_matches(&s.session, presented) {
        return s.message(403, "Refused", "The form's security token did not match your session, so nothing was changed. Reload the page and try again.");
    }
    let view = ListView::from_pairs(&fields);
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["logout"] => match state::session_close(env, &s.session, admin.actor.clone()).await {
            Ok(()) => redirect("/admin", &[("set-cookie", &session::clear_cookie())]),
            Err(e) => s.unavailable(e),
        },
        ["logout-everywhere"] => match state::session_close_all(env, admin.actor.clone()).await {
            Ok(()) => redirect("/admin", &[("set-cookie", &session::clear_cookie())]),
            Err(e) => s.unavailable(e),
        },
        ["tokens"] => create(&fields, &s, &view).await,
        ["prices"] => set_price(&req, &fields, &s).await,
        ["prices", "remove"] => remove_price(&fields, &s).await,
        ["tokens", id] if is_token_id(id) => update(id, &fields, &s, &view).await,
        ["tokens", id, "status"] if is_token_id(id) => set_status(id, &fields, &s, &view).await,
        ["tokens", id, "delete"] if is_token_id(id) => delete(id, &fields, &s, &view).await,
        _ => s.message(404, "Not found", "There is no such action."),
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
        let value = admin.key.issue(now_unix(), &random());
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

/// The token list, filtered and sorted as `view` says, with the notice the last action left.
async fn list_page(req: &web_sys::Request, s: &Signed<'_>, view: &ListView) -> web_sys::Response {
    let listing = match s.store.listing().await {
        Ok(listing) => listing,
        Err(e) => return s.unavailable(e),
    };
    let tokens = listing.tokens;
    let needle = view.q.trim().to_lowercase();
    let damaged: Vec<String> = listing.damaged.into_iter().filter(|id| "damaged".contains(&needle) || id.contains(&needle)).collect();
    let now = now_unix();
    let total = tokens.len() + damaged.len();
    let mut rows: Vec<TokenRow> = tokens.iter().map(|t| TokenRow::new(&t.id, &t.record, t.last_used.as_deref(), now)).collect();
    // The 30-day usage columns: one call to the account's ledger; without it, no usage columns.
    let usage = crate::usage::dashboard::last_30_days(&s.admin.env).await;
    if let Some(usage) = &usage {
        for row in &mut rows {
            row.usage = Some(row_usage(usage.get(&row.id)));
        }
    }
    // Each budget's use: one call to the ledger object of each token that has a budget, all at once.
    let reads = tokens.iter().zip(rows.iter_mut()).filter(|(t, _)| !t.record.policy.budgets().is_empty()).map(|(t, row)| async move {
        row.budgets = crate::usage::dashboard::budget_bars(&s.admin.env, &t.id, &t.record.policy).await;
    });
    futures_util::future::join_all(reads).await;
    let notice: Option<Notice> = s.open(req, flash::NOTICE_COOKIE, "notice");
    let clear = flash::clear_notice_cookie();
    let extra: &[(&str, &str)] = if notice.is_some() { &[("set-cookie", &clear)] } else { &[] };
    page(
        200,
        &DashboardPage {
            layout: s.layout(),
            tokens: arrange(rows, view),
            total,
            view,
            notice,
            show_usage: usage.is_some(),
            upstreams: upstreams(&s.admin.env, &s.admin.origin),
            damaged,
        },
        extra,
    )
}

/// A row's 30-day usage cells, and the cost "sort by spend" orders by (none without a price).
fn row_usage(counters: Option<&crate::usage::ledger::Counters>) -> RowUsage {
    let cells = crate::usage::format::Cells::of(counters);
    RowUsage {
        requests: cells.requests,
        tokens: cells.tokens,
        cost: cells.cost,
        cost_usd: counters.map_or(Some(0.0), |c| c.priced_cost_usd()),
    }
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

fn new_page(status: u16, s: &Signed<'_>, form: TokenForm, view: &ListView) -> web_sys::Response {
    page(status, &NewTokenPage { layout: s.layout(), form, view }, &[])
}

/// Post, redirect, show once: the new token rides in a sealed one-read cookie to `/admin/created`,
/// so reloading that page (or going Back to it) creates nothing and shows nothing again.
async fn create(fields: &[(String, String)], s: &Signed<'_>, view: &ListView) -> web_sys::Response {
    let mut body = form_to_json(fields);
    let refused = |problems: Vec<FieldProblem>| new_page(400, s, TokenForm::from_fields(fields).with_errors(problems), view);
    let problems = form_check::check(fields, &body, FormKind::Create, now_unix());
    if !problems.is_empty() {
        return refused(problems);
    }
    body["token"] = json!(urlencoded::first(fields, "token").unwrap_or_default());
    match create_token(&s.admin.env, &body, s.admin.actor.clone()).await {
        Ok(created) => {
            let sealed = s.seal(
                "created",
                flash::CREATED_TTL_SECS,
                &Created {
                    id: created.id.clone(),
                    token: created.token,
                    label: created.record.label,
                    providers: created.record.providers,
                },
            );
            redirect(flash::CREATED_PATH, &[("set-cookie", &flash::created_cookie(&sealed))])
        }
        Err(CreateError::Invalid(e)) => refused(vec![form_check::in_form_words(&e)]),
        Err(CreateError::Exists) => refused(vec![FieldProblem {
            field: "token",
            message: "Custom token is already in use by another token: choose another, or leave it empty to generate one.".into(),
        }]),
        Err(CreateError::Store(e)) => s.unavailable(e),
    }
}

fn created_page(req: &web_sys::Request, s: &Signed<'_>) -> web_sys::Response {
    let Some(created) = s.open::<Created>(req, flash::CREATED_COOKIE, "created") else {
        return s.message(
            410,
            "Already shown",
            "A new token is shown once, right after it is created, and this one has been shown already. It is in the token list; if its value was lost, delete it and create a new one.",
        );
    };
    let clear = flash::clear_created_cookie();
    page(
        200,
        &CreatedPage {
            layout: s.layout(),
            id: &created.id,
            label: &created.label,
            token: &created.token,
            snippets: client_snippets(&s.admin.origin, &created.token, &created.providers),
        },
        &[("set-cookie", &clear)],
    )
}

/// Sends a validated change (an admin body) through AdminState and goes back to the list at the
/// token's row, saying what changed.
async fn save(s: &Signed<'_>, id: &str, before: TokenRecord, body: Value, view: &ListView, notice: impl Fn(&TokenRecord, &TokenRecord) -> Notice) -> web_sys::Response {
    match s.write(TokenWrite::Patch { id: id.to_string(), body }).await {
        Ok(Some(after)) => s.done(view, Some(id), notice(&before, &after)),
        Ok(None) => s.not_found(),
        Err(page) => page,
    }
}

fn confirm_delete(id: &str, record: Option<&TokenRecord>, s: &Signed<'_>, view: &ListView, neighbour: Option<&str>) -> web_sys::Response {
    page(
        200,
        &ConfirmDeletePage {
            layout: s.layout(),
            id,
            label: record.map_or("", |r| r.label.as_str()),
            last4: record.map_or("", |r| r.last4.as_str()),
            view,
            neighbour,
            damaged: record.is_none(),
        },
        &[],
    )
}

async fn edit_page(id: &str, s: &Signed<'_>, view: &ListView) -> web_sys::Response {
    let record = match s.load(id).await {
        Ok(Some(record)) => record,
        Ok(None) => return confirm_delete(id, None, s, view, None),
        Err(page) => return page,
    };
    let last_used = match s.store.last_used(id).await {
        Ok(last_used) => last_used,
        Err(e) => return s.unavailable(e),
    };
    render_edit(200, id, &record, last_used.as_deref(), TokenForm::from_record(&record), s, view).await
}

async fn render_edit(status: u16, id: &str, record: &TokenRecord, last_used: Option<&str>, form: TokenForm, s: &Signed<'_>, view: &ListView) -> web_sys::Response {
    let budgets = crate::usage::dashboard::budget_bars(&s.admin.env, id, &record.policy).await;
    let now = now_unix();
    let row = TokenRow::new(id, record, last_used, now);
    let expires = match (&record.policy.expires_at, Shown::of(record, now)) {
        (None, _) => "never".to_string(),
        (Some(at), Shown::Expired) => format!("expired {}", readable_utc(at)),
        (Some(at), _) => readable_utc(at),
    };
    page(
        status,
        &EditPage {
            layout: s.layout(),
            id,
            label: &record.label,
            last4: &record.last4,
            created: readable_utc(&record.created_at),
            created_title: row.created_title(),
            last_used: last_used.map_or_else(|| "never".to_string(), |day| format!("{} ({day})", days_ago(day, now))),
            last_used_title: row.last_used_title(),
            expires,
            status: row.status,
            budgets,
            form,
            view,
        },
        &[],
    )
}

async fn update(id: &str, fields: &[(String, String)], s: &Signed<'_>, view: &ListView) -> web_sys::Response {
    // Read to check the form against (and to name what changed); the change itself is applied by
    // AdminState to the record as it then stands.
    let record = match s.load(id).await {
        Ok(Some(record)) => record,
        Ok(None) => return confirm_delete(id, None, s, view, None),
        Err(page) => return page,
    };
    let body = form_to_json(fields);
    let kind = FormKind::Edit { stored_expiry: record.policy.expires_at.as_deref() };
    let mut problems = form_check::check(fields, &body, kind, now_unix());
    if let Err(e) = parse_patch(&body) {
        if problems.is_empty() {
            problems.push(form_check::in_form_words(&e));
        }
    }
    if !problems.is_empty() {
        let last_used = s.store.last_used(id).await.ok().flatten();
        return render_edit(400, id, &record, last_used.as_deref(), TokenForm::from_fields(fields).with_errors(problems), s, view).await;
    }
    save(s, id, record, body, view, |before, after| Notice { text: changes::saved(before, after), undo_enable: None }).await
}

async fn set_status(id: &str, fields: &[(String, String)], s: &Signed<'_>, view: &ListView) -> web_sys::Response {
    let status = urlencoded::first(fields, "status").unwrap_or_default();
    let body = json!({ "status": status });
    if let Err(e) = parse_patch(&body) {
        return s.message(400, "Not changed", &e.to_string());
    }
    let record = match s.load(id).await {
        Ok(Some(record)) => record,
        Ok(None) => return s.message(409, "Damaged record", "This token's record is damaged and can only be deleted."),
        Err(page) => return page,
    };
    save(s, id, record, body, view, |_, after| match after.status {
        Status::Disabled => Notice {
            text: changes::disabled(&after.label),
            undo_enable: Some(Undo { id: id.to_string(), label: after.label.clone() }),
        },
        Status::Active => Notice { text: changes::enabled(&after.label), undo_enable: None },
    })
    .await
}

async fn delete(id: &str, fields: &[(String, String)], s: &Signed<'_>, view: &ListView) -> web_sys::Response {
    let record = match s.load(id).await {
        Ok(record) => record,
        Err(page) => return page,
    };
    let neighbour = urlencoded::first(fields, "neighbour").filter(|n| is_token_id(n) && *n != id);
    if urlencoded::first(fields, "confirm") != Some("yes") {
        return confirm_delete(id, record.as_ref(), s, view, neighbour);
    }
    let text = match &record {
        Some(r) => changes::deleted(&r.label, &r.last4),
        None => "Deleted the damaged record.".to_string(),
    };
    match s.write(TokenWrite::Delete { id: id.to_string() }).await {
        Ok(_) => {
            // Deleting a token deletes its usage too (its ledger and its rows in the overview).
            crate::usage::admin_api::forget_token(&s.admin.env, id).await;
            s.done(view, neighbour, Notice { text, undo_enable: None })
        }
        Err(page) => page,
    }
}

async fn audit_page(url: &web_sys::Url, s: &Signed<'_>) -> web_sys::Response {
    let request = match audit::parse_page(None, url.search_params().get("before").as_deref()) {
        Ok(request) => request,
        Err(e) => return s.message(400, "Not found", &e.to_string()),
    };
    match state::audit_page(&s.admin.env, request).await {
        Ok(log) => page(
            200,
            &AuditPage {
                layout: s.layout(),
                entries: log.entries.iter().map(AuditRow::new).collect(),
                next_before: log.next_before,
            },
            &[],
        ),
        Err(e) => s.unavailable(e),
    }
}

/// The price overrides and the form to set one, with the notice the last price action left.
async fn prices_page(req: &web_sys::Request, s: &Signed<'_>, status: u16, form: PriceForm) -> web_sys::Response {
    let overrides = match crate::usage::tap::load_overrides(&s.admin.env).await {
        Ok(o) => o,
        Err(e) => return s.unavailable(StoreError::unavailable(e)),
    };
    let notice: Option<Notice> = if status == 200 { s.open(req, flash::NOTICE_COOKIE, "notice") } else { None };
    let clear = flash::clear_notice_cookie();
    let extra: &[(&str, &str)] = if notice.is_some() { &[("set-cookie", &clear)] } else { &[] };
    let table = crate::usage::prices::table();
    page(
        status,
        &PricesPage {
            layout: s.layout(),
            rows: price_form::rows(&overrides),
            form,
            notice,
            table_source: &table.source,
            table_date: &table.date,
            table_models: table.models.len(),
        },
        extra,
    )
}

/// Back to the prices page, saying what changed.
fn prices_done(s: &Signed<'_>, text: String) -> web_sys::Response {
    let cookie = flash::notice_cookie(&s.seal("notice", flash::NOTICE_TTL_SECS, &Notice { text, undo_enable: None }));
    redirect("/admin/prices", &[("set-cookie", &cookie)])
}

/// The same write as `PUT /admin/api/prices/{model}`: through AdminState, audited as the dashboard's.
async fn set_price(req: &web_sys::Request, fields: &[(String, String)], s: &Signed<'_>) -> web_sys::Response {
    let mut form = PriceForm::from_fields(fields);
    let Some((model, price)) = form.check() else {
        return prices_page(req, s, 400, form).await;
    };
    match state::write_price(&s.admin.env, PriceWrite::Set { model: model.clone(), price }, s.admin.actor.clone()).await {
        Ok(_) => prices_done(s, format!("Saved the price of {model}.")),
        Err(e) => s.unavailable(e),
    }
}

async fn remove_price(fields: &[(String, String)], s: &Signed<'_>) -> web_sys::Response {
    let model = urlencoded::first(fields, "model").unwrap_or_default().to_string();
    if !crate::usage::prices::valid_model_name(&model) {
        return s.message(400, "Not changed", "That is not a model name.");
    }
    match state::write_price(&s.admin.env, PriceWrite::Remove { model: model.clone() }, s.admin.actor.clone()).await {
        Ok(PriceOutcome::NotFound) => prices_done(s, format!("{model} had no price override; nothing was changed.")),
        Ok(_) => prices_done(s, format!("Removed the price override of {model}; it is priced from the bundled table again.")),
        Err(e) => s.unavailable(e),
    }
}
