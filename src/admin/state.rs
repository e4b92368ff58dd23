//! `AdminState`: one SQLite-backed Durable Object for the whole account (`id_from_name("admin")`)
//! that holds what the admin side must not lose to a race:
//!
//! - **Token writes.** Every create, change and delete of a token record, from the API and the
//!   dashboard, is a [`TokenWrite`] applied here one at a time. The object keeps its own copy of
//!   each record it wrote, and a tombstone for each it deleted, in SQLite (`records`), decides
//!   against that copy (`admin::token_writes::plan`), writes KV, and only then updates its copy.
//!   The proxy keeps reading KV (and its isolate cache); KV converges to this object's copy.
//! - **The audit log** (`audit`), written in the same synchronous step as the copy, after the KV
//!   write succeeded: a failed change writes no entry.
//! - **Sessions** (`sessions`, `meta`): sign-ins, sign-outs and the "sign out everywhere" mark.
//!
//! Why a queue and not the input gate: a Durable Object's input gate holds other events only while
//! it awaits its own storage. A KV call is external I/O, so without [`WriteQueue`] a second write
//! could read the copy while the first one is still waiting for KV.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::collections::VecDeque;

use futures_channel::oneshot;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::kv::KvStore;
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, SqlStorage, State};

use crate::admin::audit::{self, Actor, Entry, Page, PageRequest};
use crate::admin::price_writes::{self, PriceOutcome, PriceWrite};
use crate::admin::session::{Everywhere, Recorded, Session};
use crate::admin::token_writes::{done, plan, told, Current, Outcome, Plan, TokenWrite};
use crate::common::timestamp::format_rfc3339;
use crate::runtime::now_unix;
use crate::tokens::store::{self, StoreError, TokenStore, METADATA_LIMIT, USED_PREFIX};
use crate::tokens::token::TokenRecord;
use crate::usage::prices::Price;
use crate::usage::{ledger_object, tap};

pub const BINDING: &str = "ADMIN";
const OBJECT_NAME: &str = "admin";

#[derive(Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
enum Command {
    Write { write: TokenWrite, actor: Actor },
    Price { write: PriceWrite, actor: Actor },
    /// An entry that records no token write (a failed sign-in).
    Log { entry: Entry },
    Audit { page: PageRequest },
    SessionOpen { nonce: String, expires_at: i64, actor: Actor },
    SessionCheck { nonce: String, expires_at: i64 },
    SessionClose { nonce: String, expires_at: i64, actor: Actor },
    SessionCloseAll { actor: Actor },
}

/// Admin writes wait here for their turn, first come first served.
#[derive(Default)]
struct WriteQueue {
    busy: Cell<bool>,
    waiting: RefCell<VecDeque<oneshot::Sender<()>>>,
}

struct Turn<'a>(&'a WriteQueue);

impl WriteQueue {
    async fn turn(&self) -> Turn<'_> {
        if self.busy.replace(true) {
            let (tx, rx) = oneshot::channel();
            self.waiting.borrow_mut().push_back(tx);
            // The sender lives in the queue until the turn passes to us, so this only ends then.
            let _ = rx.await;
        }
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut waiting = self.0.waiting.borrow_mut();
        while let Some(next) = waiting.pop_front() {
            // Still busy: the turn passes straight on. A waiter that went away is skipped.
            if next.send(()).is_ok() {
                return;
            }
        }
        self.0.busy.set(false);
    }
}

#[durable_object]
pub struct AdminState {
    state: State,
    env: Env,
    queue: WriteQueue,
}

#[derive(Deserialize)]
struct RecordRow {
    record: Option<String>,
}

#[derive(Deserialize)]
struct PriceRow {
    model: String,
    price: String,
}

#[derive(Deserialize)]
struct AuditRow {
    id: i64,
    entry: String,
}

#[derive(Deserialize)]
struct SessionRow {
    seq: i64,
    revoked: i64,
}

#[derive(Deserialize)]
struct MetaRow {
    value: i64,
}

fn sql_err(e: worker::Error) -> StoreError {
    StoreError::unavailable(format!("AdminState storage: {e}"))
}

impl DurableObject for AdminState {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for statement in [
            "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, record TEXT)",
            "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS sessions (nonce TEXT PRIMARY KEY, seq INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS prices (model TEXT PRIMARY KEY, price TEXT NOT NULL)",
        ] {
            if let Err(e) = sql.exec(statement, None) {
                worker::console_error!("AdminState: creating its tables failed: {e}");
            }
        }
        AdminState {
            state,
            env,
            queue: WriteQueue::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let command: Command = req.json().await?;
        let sql = self.state.storage().sql();
        match command {
            Command::Write { write, actor } => Response::from_json(&self.write(&sql, write, &actor).await),
            Command::Price { write, actor } => Response::from_json(&self.write_price(&sql, write, &actor).await),
            Command::Log { entry } => {
                append(&sql, &entry)?;
                Response::from_json(&true)
            }
            Command::Audit { page } => Response::from_json(&read_page(&sql, page)?),
            Command::SessionOpen { nonce, expires_at, actor } => {
                let now = now_unix();
                sql.exec("DELETE FROM sessions WHERE expires_at <= ?", vec![now.into()])?;
                let seq = meta(&sql, "session_seq")?.unwrap_or(0) + 1;
                set_meta(&sql, "session_seq", seq)?;
                sql.exec(
                    "INSERT OR REPLACE INTO sessions (nonce, seq, expires_at, revoked) VALUES (?, ?, ?, 0)",
                    vec![nonce.into(), seq.into(), expires_at.into()],
                )?;
                append(&sql, &Entry::new(format_rfc3339(now), audit::Action::SignIn, &actor))?;
                Response::from_json(&true)
            }
            Command::SessionCheck { nonce, expires_at } => {
                let rows: Vec<SessionRow> = sql.exec("SELECT seq, revoked FROM sessions WHERE nonce = ?", vec![nonce.clone().into()])?.to_array()?;
                let recorded = rows.first().map(|r| Recorded { seq: r.seq, revoked: r.revoked != 0 });
                let everywhere = match (meta(&sql, "everywhere_seq")?, meta(&sql, "everywhere_ms")?) {
                    (Some(seq), Some(at_ms)) => Some(Everywhere { seq, at_ms }),
                    _ => None,
                };
                let session = Session { expires_at, nonce };
                Response::from_json(&crate::admin::session::still_honoured(&session, recorded, everywhere))
            }
            Command::SessionClose { nonce, expires_at, actor } => {
                // Kept (revoked) until the cookie would have expired anyway.
                sql.exec(
                    "INSERT INTO sessions (nonce, seq, expires_at, revoked) VALUES (?, 0, ?, 1) ON CONFLICT(nonce) DO UPDATE SET revoked = 1",
                    vec![nonce.into(), expires_at.into()],
                )?;
                append(&sql, &Entry::new(format_rfc3339(now_unix()), audit::Action::SignOut, &actor))?;
                Response::from_json(&true)
            }
            Command::SessionCloseAll { actor } => {
                let seq = meta(&sql, "session_seq")?.unwrap_or(0);
                set_meta(&sql, "everywhere_seq", seq)?;
                set_meta(&sql, "everywhere_ms", js_sys::Date::now() as i64)?;
                sql.exec("DELETE FROM sessions WHERE seq <= ?", vec![seq.into()])?;
                append(&sql, &Entry::new(format_rfc3339(now_unix()), audit::Action::SignOutEverywhere, &actor))?;
                Response::from_json(&true)
            }
        }
    }
}

impl AdminState {
    async fn write(&self, sql: &SqlStorage, write: TokenWrite, actor: &Actor) -> Outcome {
        let _turn = self.queue.turn().await;
        match self.write_in_turn(sql, &write, actor).await {
            Ok(outcome) => outcome,
            Err(e) => {
                worker::console_error!("AdminState: token write failed: {}", e.0);
                Outcome::Unavailable { message: e.0 }
            }
        }
    }

    async fn write_in_turn(&self, sql: &SqlStorage, write: &TokenWrite, actor: &Actor) -> std::result::Result<Outcome, StoreError> {
        let id = write.id();
        let current = self.current(sql, write).await?;
        let plan = match plan(&current, write) {
            Ok(plan) => plan,
            Err(refusal) => return Ok(refusal),
        };
        // The token's ledger object hears it first: if KV then fails, the object refuses a token
        // KV still lets through (fail closed), never the other way round.
        if let Some(told) = told(&current, &plan) {
            ledger_object::tell(&self.env, id, &told).await.map_err(|e| StoreError::unavailable(format!("the token's ledger object could not be told: {e}")))?;
        }
        let kv = self.env.kv(store::BINDING)?;
        match &plan {
            Plan::Put(record) => put_record(&kv, id, record).await?,
            Plan::Delete => delete_record(&kv, id).await?,
        }
        store::forget(id);
        // KV has the change: the copy and the audit entry follow in one synchronous step, which the
        // object's storage commits as one.
        let before = match &current {
            Current::Live(record) => Some(record),
            _ => None,
        };
        let after = match &plan {
            Plan::Put(record) => Some(record),
            Plan::Delete => None,
        };
        let stored = after.map(serde_json::to_string).transpose().map_err(|e| StoreError::unavailable(e.to_string()))?;
        sql.exec("INSERT OR REPLACE INTO records (id, record) VALUES (?, ?)", vec![id.into(), stored.into()]).map_err(sql_err)?;
        append(sql, &Entry::for_token(format_rfc3339(now_unix()), actor, id, before, after)).map_err(sql_err)?;
        Ok(done(&plan))
    }

    async fn write_price(&self, sql: &SqlStorage, write: PriceWrite, actor: &Actor) -> PriceOutcome {
        // The same queue as token writes: one admin write at a time, whatever it writes.
        let _turn = self.queue.turn().await;
        match self.write_price_in_turn(sql, &write, actor).await {
            Ok(outcome) => outcome,
            Err(e) => {
                worker::console_error!("AdminState: price write failed: {}", e.0);
                PriceOutcome::Unavailable { message: e.0 }
            }
        }
    }

    async fn write_price_in_turn(&self, sql: &SqlStorage, write: &PriceWrite, actor: &Actor) -> std::result::Result<PriceOutcome, StoreError> {
        let current = self.overrides(sql).await?;
        let Some((before, after)) = price_writes::apply(&current, write) else {
            return Ok(PriceOutcome::NotFound);
        };
        let text = serde_json::to_string(&after).map_err(|e| StoreError::unavailable(e.to_string()))?;
        self.env.kv(store::BINDING)?.put(tap::OVERRIDES_KEY, text)?.execute().await?;
        tap::forget_overrides();
        // KV has the change: the copy and the audit entry follow in one synchronous step.
        let model = write.model();
        match write {
            PriceWrite::Set { price, .. } => {
                let stored = serde_json::to_string(price).map_err(|e| StoreError::unavailable(e.to_string()))?;
                sql.exec("INSERT OR REPLACE INTO prices (model, price) VALUES (?, ?)", vec![model.into(), stored.into()]).map_err(sql_err)?;
            }
            PriceWrite::Remove { .. } => {
                sql.exec("DELETE FROM prices WHERE model = ?", vec![model.into()]).map_err(sql_err)?;
            }
        }
        set_meta(sql, "prices_adopted", 1).map_err(sql_err)?;
        let after_price = match write {
            PriceWrite::Set { price, .. } => Some(price),
            PriceWrite::Remove { .. } => None,
        };
        append(sql, &audit::for_price(format_rfc3339(now_unix()), actor, model, before.as_ref(), after_price)).map_err(sql_err)?;
        Ok(PriceOutcome::Done)
    }

    /// The overrides as this object knows them. Until its first price write it has none of its
    /// own: the overrides written before AdminState took them over are read from KV, once.
    async fn overrides(&self, sql: &SqlStorage) -> std::result::Result<HashMap<String, Price>, StoreError> {
        if meta(sql, "prices_adopted").map_err(sql_err)?.is_none() {
            let from_kv = tap::load_overrides(&self.env).await.map_err(StoreError::unavailable)?;
            for (model, price) in &from_kv {
                let stored = serde_json::to_string(price).map_err(|e| StoreError::unavailable(e.to_string()))?;
                sql.exec("INSERT OR REPLACE INTO prices (model, price) VALUES (?, ?)", vec![model.as_str().into(), stored.into()]).map_err(sql_err)?;
            }
            return Ok(from_kv);
        }
        let rows: Vec<PriceRow> = sql.exec("SELECT model, price FROM prices", None).map_err(sql_err)?.to_array().map_err(sql_err)?;
        Ok(rows.into_iter().filter_map(|r| serde_json::from_str(&r.price).ok().map(|p| (r.model, p))).collect())
    }

    /// The record as this object knows it. An id it never wrote (a token from before AdminState,
    /// or one it has not touched since) is read from KV once, and from then on is its own.
    async fn current(&self, sql: &SqlStorage, write: &TokenWrite) -> std::result::Result<Current, StoreError> {
        let id = write.id();
        let rows: Vec<RecordRow> = sql.exec("SELECT record FROM records WHERE id = ?", vec![id.into()]).map_err(sql_err)?.to_array().map_err(sql_err)?;
        if let Some(row) = rows.first() {
            return Ok(match &row.record {
                Some(text) => match serde_json::from_str(text) {
                    Ok(record) => Current::Live(record),
                    Err(_) => Current::Damaged,
                },
                None => Current::Absent,
            });
        }
        // A generated token's id is new by construction; nothing to read.
        if matches!(write, TokenWrite::Create { custom: false, .. }) {
            return Ok(Current::Absent);
        }
        match TokenStore::open(&self.env)?.get(id).await {
            Ok(Some(record)) => Ok(Current::Live(record)),
            Ok(None) => Ok(Current::Absent),
            Err(e) if e.is_damaged() => Ok(Current::Damaged),
            Err(e) => Err(e),
        }
    }
}

/// Writes a record as KV's value and, when it fits, as its key's metadata (which listing reads).
async fn put_record(kv: &KvStore, id: &str, record: &TokenRecord) -> std::result::Result<(), StoreError> {
    let json = serde_json::to_string(record).map_err(|e| StoreError::unavailable(e.to_string()))?;
    let mut put = kv.put(id, json.as_str())?;
    if json.len() <= METADATA_LIMIT {
        put = put.metadata(record)?;
    }
    Ok(put.execute().await?)
}

async fn delete_record(kv: &KvStore, id: &str) -> std::result::Result<(), StoreError> {
    kv.delete(id).await?;
    Ok(kv.delete(&format!("{USED_PREFIX}{id}")).await?)
}

fn append(sql: &SqlStorage, entry: &Entry) -> Result<()> {
    let text = serde_json::to_string(entry)?;
    sql.exec("INSERT INTO audit (entry) VALUES (?)", vec![text.into()])?;
    sql.exec("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?", vec![audit::MAX_ENTRIES.into()])?;
    Ok(())
}

fn read_page(sql: &SqlStorage, page: PageRequest) -> Result<Page> {
    let fetch = i64::from(page.limit) + 1;
    let rows: Vec<AuditRow> = match page.before {
        Some(before) => sql.exec("SELECT id, entry FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?", vec![before.into(), fetch.into()])?,
        None => sql.exec("SELECT id, entry FROM audit ORDER BY id DESC LIMIT ?", vec![fetch.into()])?,
    }
    .to_array()?;
    let entries = rows
        .into_iter()
        .filter_map(|row| serde_json::from_str::<Entry>(&row.entry).ok().map(|e| Entry { id: row.id, ..e }))
        .collect();
    Ok(audit::page_from_rows(entries, page.limit))
}

fn meta(sql: &SqlStorage, key: &str) -> Result<Option<i64>> {
    let rows: Vec<MetaRow> = sql.exec("SELECT value FROM meta WHERE key = ?", vec![key.into()])?.to_array()?;
    Ok(rows.first().map(|r| r.value))
}

fn set_meta(sql: &SqlStorage, key: &str, value: i64) -> Result<()> {
    sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", vec![key.into(), value.into()])?;
    Ok(())
}

// ---- The Worker's side: one call per command to the account's one object. ----

async fn call<T: DeserializeOwned>(env: &Env, command: &Command) -> std::result::Result<T, StoreError> {
    let stub = env.durable_object(BINDING)?.id_from_name(OBJECT_NAME)?.get_stub()?;
    let body = serde_json::to_string(command).map_err(|e| StoreError::unavailable(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://admin-state/", &init)?;
    let mut res = stub.fetch_with_request(req).await?;
    if res.status_code() != 200 {
        return Err(StoreError::unavailable(format!("AdminState answered {}: {}", res.status_code(), res.text().await.unwrap_or_default())));
    }
    Ok(res.json().await?)
}

/// Applies one write to a token record: the only way one is written.
pub async fn write_token(env: &Env, write: TokenWrite, actor: Actor) -> std::result::Result<Outcome, StoreError> {
    let id = write.id().to_string();
    let outcome = call(env, &Command::Write { write, actor }).await;
    // The object may run in another isolate: this one's cached copy goes too.
    store::forget(&id);
    match outcome? {
        Outcome::Unavailable { message } => Err(StoreError::unavailable(message)),
        outcome => Ok(outcome),
    }
}

/// Applies one write to the price overrides: the only way they are written.
pub async fn write_price(env: &Env, write: PriceWrite, actor: Actor) -> std::result::Result<PriceOutcome, StoreError> {
    let outcome = call(env, &Command::Price { write, actor }).await;
    tap::forget_overrides();
    match outcome? {
        PriceOutcome::Unavailable { message } => Err(StoreError::unavailable(message)),
        outcome => Ok(outcome),
    }
}

pub async fn log(env: &Env, entry: Entry) -> std::result::Result<(), StoreError> {
    call::<bool>(env, &Command::Log { entry }).await.map(|_| ())
}

pub async fn audit_page(env: &Env, page: PageRequest) -> std::result::Result<Page, StoreError> {
    call(env, &Command::Audit { page }).await
}

pub async fn session_open(env: &Env, session: &Session, actor: Actor) -> std::result::Result<(), StoreError> {
    let command = Command::SessionOpen { nonce: session.nonce.clone(), expires_at: session.expires_at, actor };
    call::<bool>(env, &command).await.map(|_| ())
}

pub async fn session_honoured(env: &Env, session: &Session) -> std::result::Result<bool, StoreError> {
    call(env, &Command::SessionCheck { nonce: session.nonce.clone(), expires_at: session.expires_at }).await
}

pub async fn session_close(env: &Env, session: &Session, actor: Actor) -> std::result::Result<(), StoreError> {
    let command = Command::SessionClose { nonce: session.nonce.clone(), expires_at: session.expires_at, actor };
    call::<bool>(env, &command).await.map(|_| ())
}

pub async fn session_close_all(env: &Env, actor: Actor) -> std::result::Result<(), StoreError> {
    call::<bool>(env, &Command::SessionCloseAll { actor }).await.map(|_| ())
}
