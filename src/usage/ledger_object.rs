//! The `Ledger` Durable Object (SQLite-backed): one per token (`token:<id>`) holding its hourly and
//! daily rows, and one for the account (`account`) holding every token's daily totals, so the
//! overview is one call however many tokens there are.
//!
//! A token's object adds each request with an SQL upsert inside one synchronous step, so
//! concurrent requests add up exactly (a Durable Object runs one event at a time). It forwards
//! the totals of the days it changed to the account object from an alarm, at most once per
//! `USAGE_FORWARD_SECONDS` (60 by default): whole-day totals that replace, so a retry or a
//! repeated forward never double-counts. The same alarm prunes rows past their retention.
//!
//! A token's object also holds its guard (`budget::guard`): the admin's word on the token, its
//! rate-limit window and its budget reservations. `/admit` decides a request before it goes
//! upstream; `/record` settles its reservation in the same step that adds its usage, so the
//! budget's spend is the ledger's own rows, never a second count that could drift from them.
//!
//! Dispatch is by path:
//!   token:   POST /admit, /release, /tell, /budget, /still-allowed, /record, /rows, /days, /forget
//!   account: POST /rollup, /overview, /forget-token

use std::cell::RefCell;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use serde::{Deserialize, Serialize};
use worker::{Delay, durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, SqlStorage, SqlStorageValue, State};

use super::day::{day_of, SECONDS_PER_DAY};
use super::prices::PICO;
use crate::budget::book::Amount;
use crate::budget::guard::{self, BudgetLine, Guard, Limits, Refused, Told, Verdict};
use super::ledger::{daily_cutoff, hourly_cutoff, Counters, Entry};
use super::report::Stored;
use crate::runtime::now_unix;

pub const BINDING: &str = "LEDGER";
const DEFAULT_FORWARD_SECONDS: i64 = 60;

#[derive(Serialize, Deserialize)]
pub struct RecordRequest {
    pub token_id: String,
    pub entry: Entry,
    /// The reservation this request made, settled by this entry.
    #[serde(default)]
    pub settle: Option<u64>,
}

/// A request asking to go upstream, with its copy of the token's limits.
#[derive(Serialize, Deserialize)]
pub struct AdmitRequest {
    pub limits: Limits,
    /// What to reserve; `None` reserves nothing (a WebSocket session).
    pub worst: Option<Amount>,
}

#[derive(Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub reservation: u64,
}

/// A range of days (or, for hourly rows, of Unix seconds), inclusive.
#[derive(Serialize, Deserialize)]
pub struct RowsRequest {
    pub hourly: bool,
    pub first: i64,
    pub last: i64,
}

#[derive(Serialize, Deserialize)]
pub struct WireRow {
    pub period: i64,
    pub provider: String,
    pub model: String,
    pub counters: Counters,
}

#[derive(Serialize, Deserialize)]
pub struct DayTotals {
    pub day: i64,
    pub counters: Counters,
}

#[derive(Serialize, Deserialize)]
pub struct Rollup {
    pub token_id: String,
    pub days: Vec<DayTotals>,
}

#[derive(Serialize, Deserialize)]
pub struct TokenDay {
    pub day: i64,
    pub token_id: String,
    pub counters: Counters,
}

fn columns() -> String {
    Counters::COLUMNS.join(", ")
}

fn column_defs() -> String {
    Counters::COLUMNS.iter().map(|c| format!("{c} INTEGER NOT NULL DEFAULT 0")).collect::<Vec<_>>().join(", ")
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn values(c: &Counters) -> Vec<SqlStorageValue> {
    c.values().into_iter().map(SqlStorageValue::from).collect()
}

fn counters_at(row: &[SqlStorageValue], at: usize) -> Counters {
    let mut v = [0i64; 10];
    for (i, slot) in v.iter_mut().enumerate() {
        if let Some(SqlStorageValue::Integer(n)) = row.get(at + i) {
            *slot = *n;
        }
    }
    Counters::from_values(v)
}

fn int(v: Option<&SqlStorageValue>) -> i64 {
    match v {
        Some(SqlStorageValue::Integer(n)) => *n,
        Some(SqlStorageValue::Float(f)) => *f as i64,
        _ => 0,
    }
}

fn text(v: Option<&SqlStorageValue>) -> String {
    match v {
        Some(SqlStorageValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn raw_rows(sql: &SqlStorage, query: &str, bindings: Vec<SqlStorageValue>) -> Result<Vec<Vec<SqlStorageValue>>> {
    sql.exec(query, bindings)?.raw().collect()
}

#[durable_object]
pub struct Ledger {
    state: State,
    env: Env,
    /// The tables exist (made by this instance). Five `CREATE TABLE IF NOT EXISTS` on every call
    /// were about 0.6 ms of the ~0.8 ms a request's ledger write cost (bench/profile.mjs).
    schema_ready: std::cell::Cell<bool>,
    /// `LEDGER_CLOCK_OFFSET_SECONDS`: shifts this object's clock, so a test can see a budget's
    /// period end without waiting for it. Unset (0) in any real deployment.
    clock_offset: i64,
    /// Requests refused only because others hold the budget, waiting for one to settle.
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

/// How long a request the budget would refuse only because of other requests' reservations waits
/// for one of them to settle (`BUDGET_WAIT_SECONDS`). A client calling one request after another
/// must not be refused because the last answer's settlement, sent from `waitUntil`, arrives a few
/// milliseconds after its next request.
const DEFAULT_BUDGET_WAIT_SECONDS: u64 = 5;

impl Ledger {
    fn now(&self) -> i64 {
        now_unix() + self.clock_offset
    }

    fn sql(&self) -> SqlStorage {
        let sql = self.state.storage().sql();
        if self.schema_ready.get() {
            return sql;
        }
        let defs = column_defs();
        // Idempotent, but not cheap: once per instance (and again after /forget).
        let schema = [
            format!("CREATE TABLE IF NOT EXISTS hourly (hour INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, {defs}, PRIMARY KEY (hour, provider, model, kind, status))"),
            format!("CREATE TABLE IF NOT EXISTS daily (day INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, {defs}, PRIMARY KEY (day, provider, model, kind, status))"),
            "CREATE TABLE IF NOT EXISTS dirty (day INTEGER PRIMARY KEY, seq INTEGER NOT NULL)".to_string(),
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)".to_string(),
            format!("CREATE TABLE IF NOT EXISTS token_days (day INTEGER NOT NULL, token_id TEXT NOT NULL, {defs}, PRIMARY KEY (day, token_id))"),
        ];
        let mut ready = true;
        for statement in schema {
            if let Err(e) = sql.exec(&statement, None) {
                worker::console_error!("ledger schema: {e}");
                ready = false;
            }
        }
        self.schema_ready.set(ready);
        sql
    }

    fn forward_delay_ms(&self) -> i64 {
        let seconds = self
            .env
            .var("USAGE_FORWARD_SECONDS")
            .ok()
            .and_then(|v| v.to_string().parse::<i64>().ok())
            .filter(|s| *s >= 0)
            .unwrap_or(DEFAULT_FORWARD_SECONDS);
        seconds * 1000
    }

    /// Adds one request to its hourly and daily rows and marks the day for forwarding.
    /// Adds a batch of requests (those that ended while the Worker's previous write to this
    /// object was in flight, see `tap::write_entry`) in one synchronous step.
    async fn record(&self, batch: Vec<RecordRequest>) -> Result<Response> {
        let sql = self.sql();
        for r in batch {
            self.record_one(&sql, r)?;
        }
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_none() {
            storage.set_alarm(self.forward_delay_ms()).await?;
        }
        Response::ok("recorded")
    }

    fn record_one(&self, sql: &SqlStorage, mut r: RecordRequest) -> Result<()> {
        if let Some(id) = r.settle {
            let mut guard = self.guard(sql)?;
            if let Some(held) = guard.book.take(id) {
                guard::charge_unpriced(&mut r.entry, &held);
            }
            self.save_guard(sql, &guard)?;
        }
        let key = r.entry.key();
        let settled = r.settle.is_some();
        let counters = r.entry.counters();
        let cols = columns();
        let add = Counters::COLUMNS.iter().map(|c| format!("{c} = {c} + excluded.{c}")).collect::<Vec<_>>().join(", ");
        for (table, period) in [("hourly", key.hour), ("daily", key.day())] {
            let first = if table == "hourly" { "hour" } else { "day" };
            let mut bindings: Vec<SqlStorageValue> = vec![period.into(), key.provider.clone().into(), key.model.clone().into(), key.kind.clone().into(), key.status.clone().into()];
            bindings.extend(values(&counters));
            sql.exec(
                &format!(
                    "INSERT INTO {table} ({first}, provider, model, kind, status, {cols}) VALUES (?, ?, ?, ?, ?, {}) ON CONFLICT DO UPDATE SET {add}",
                    placeholders(Counters::COLUMNS.len())
                ),
                bindings,
            )?;
        }
        sql.exec(
            "INSERT INTO dirty (day, seq) VALUES (?, 1) ON CONFLICT DO UPDATE SET seq = seq + 1",
            vec![key.day().into()],
        )?;
        sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('token_id', ?)", vec![r.token_id.into()])?;
        // After the rows: a waiting request sees this spend when it decides again.
        if settled {
            self.wake();
        }
        Ok(())
    }

    fn guard(&self, sql: &SqlStorage) -> Result<Guard> {
        let rows = raw_rows(sql, "SELECT value FROM meta WHERE key = 'guard'", vec![])?;
        Ok(rows.first().and_then(|r| serde_json::from_str(&text(r.first())).ok()).unwrap_or_default())
    }

    fn save_guard(&self, sql: &SqlStorage, guard: &Guard) -> Result<()> {
        sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('guard', ?)", vec![serde_json::to_string(guard)?.into()])?;
        Ok(())
    }

    /// The guard with each budget's spend in its current period read from the daily rows.
    fn guard_for(&self, sql: &SqlStorage, asked: Limits, now: i64) -> Result<(Guard, Limits)> {
        let mut guard = self.guard(sql)?;
        let limits = guard.limits(asked);
        let (usd_start, tokens_start) = guard::period_starts(&limits.budgets, now);
        let sum = |start: Option<i64>, what: &str| -> Result<i64> {
            let Some(start) = start else { return Ok(0) };
            let rows = raw_rows(sql, &format!("SELECT COALESCE(SUM({what}), 0) FROM daily WHERE day >= ?"), vec![day_of(start).into()])?;
            Ok(int(rows.first().and_then(|r| r.first())))
        };
        let usd = sum(usd_start, "cost_pusd")? as f64 / PICO;
        let tokens = sum(tokens_start, "input_tokens + output_tokens")?.max(0) as u64;
        guard.book.set_spent(&limits.budgets, now, usd, tokens);
        Ok((guard, limits))
    }

    /// Each decision is one synchronous step: nothing else runs in the object between reading
    /// the guard and writing it back. A budget refusal while other requests hold reservations
    /// waits for one to settle (or the wait to end) and decides again.
    async fn admit(&self, a: AdmitRequest) -> Result<Response> {
        let wait = self.env.var("BUDGET_WAIT_SECONDS").ok().and_then(|v| v.to_string().parse::<u64>().ok()).unwrap_or(DEFAULT_BUDGET_WAIT_SECONDS);
        let mut deadline = Some(Box::pin(Delay::from(Duration::from_secs(wait))));
        loop {
            let sql = self.sql();
            let now = self.now();
            let (mut guard, _) = self.guard_for(&sql, a.limits, now)?;
            let verdict = guard.admit(a.limits, a.worst, now);
            let others_hold = matches!(verdict.refused, Some(Refused::Budget { .. })) && !guard.book.open.is_empty();
            // Once the wait is over, this decision is the last: a settlement may have come with it.
            let Some(wait) = deadline.take().filter(|_| others_hold) else {
                self.save_guard(&sql, &guard)?;
                return Response::from_json(&verdict);
            };
            let (tx, rx) = oneshot::channel();
            self.waiters.borrow_mut().push(tx);
            if let Either::Left((_, rest)) = select(rx, wait).await {
                deadline = Some(rest);
            }
        }
    }

    /// A reservation left the book: every waiting request decides again.
    fn wake(&self) {
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }

    fn release(&self, r: ReleaseRequest) -> Result<Response> {
        let sql = self.sql();
        let mut guard = self.guard(&sql)?;
        guard.book.take(r.reservation);
        self.save_guard(&sql, &guard)?;
        self.wake();
        Response::ok("released")
    }

    fn tell(&self, told: Told) -> Result<Response> {
        let sql = self.sql();
        let mut guard = self.guard(&sql)?;
        guard.told = Some(told);
        self.save_guard(&sql, &guard)?;
        Response::ok("told")
    }

    fn still_allowed(&self, asked: Limits) -> Result<Response> {
        let now = self.now();
        let (mut guard, _) = self.guard_for(&self.sql(), asked, now)?;
        Response::from_json(&guard.still_allowed(asked, now))
    }

    fn budget(&self, asked: Limits) -> Result<Response> {
        let sql = self.sql();
        let now = self.now();
        let (mut guard, limits) = self.guard_for(&sql, asked, now)?;
        guard.book.remaining(&limits.budgets, now);
        Response::from_json(&guard::lines(&guard.book, &limits.budgets, now))
    }

    fn prune(&self, sql: &SqlStorage) -> Result<()> {
        let now = now_unix();
        sql.exec("DELETE FROM hourly WHERE hour < ?", vec![hourly_cutoff(now).into()])?;
        sql.exec("DELETE FROM daily WHERE day < ?", vec![daily_cutoff(now).into()])?;
        sql.exec("DELETE FROM token_days WHERE day < ?", vec![daily_cutoff(now).into()])?;
        Ok(())
    }

    fn rows(&self, q: RowsRequest) -> Result<Response> {
        let sql = self.sql();
        self.prune(&sql)?;
        let (table, first) = if q.hourly { ("hourly", "hour") } else { ("daily", "day") };
        let sums = Counters::COLUMNS.iter().map(|c| format!("SUM({c})")).collect::<Vec<_>>().join(", ");
        let rows = raw_rows(
            &sql,
            &format!("SELECT {first}, provider, model, {sums} FROM {table} WHERE {first} BETWEEN ? AND ? GROUP BY {first}, provider, model ORDER BY {first}"),
            vec![q.first.into(), q.last.into()],
        )?;
        let out: Vec<WireRow> = rows
            .iter()
            .map(|r| WireRow { period: int(r.first()), provider: text(r.get(1)), model: text(r.get(2)), counters: counters_at(r, 3) })
            .collect();
        Response::from_json(&out)
    }

    /// Daily totals (all providers and models) over a range of days.
    fn days(&self, q: RowsRequest) -> Result<Response> {
        let sql = self.sql();
        let sums = Counters::COLUMNS.iter().map(|c| format!("SUM({c})")).collect::<Vec<_>>().join(", ");
        let rows = raw_rows(&sql, &format!("SELECT day, {sums} FROM daily WHERE day BETWEEN ? AND ? GROUP BY day ORDER BY day"), vec![q.first.into(), q.last.into()])?;
        let out: Vec<DayTotals> = rows.iter().map(|r| DayTotals { day: int(r.first()), counters: counters_at(r, 1) }).collect();
        Response::from_json(&out)
    }

    /// Forwards the changed days' totals to the account object, then prunes.
    async fn forward(&self) -> Result<()> {
        let sql = self.sql();
        let token_id = raw_rows(&sql, "SELECT value FROM meta WHERE key = 'token_id'", vec![])?.first().map(|r| text(r.first())).unwrap_or_default();
        let dirty: Vec<(i64, i64)> = raw_rows(&sql, "SELECT day, seq FROM dirty", vec![])?.iter().map(|r| (int(r.first()), int(r.get(1)))).collect();
        if !token_id.is_empty() && !dirty.is_empty() {
            let sums = Counters::COLUMNS.iter().map(|c| format!("SUM({c})")).collect::<Vec<_>>().join(", ");
            let mut days = Vec::new();
            for (day, _) in &dirty {
                let rows = raw_rows(&sql, &format!("SELECT {sums} FROM daily WHERE day = ?"), vec![(*day).into()])?;
                let counters = rows.first().map(|r| counters_at(r, 0)).unwrap_or_default();
                days.push(DayTotals { day: *day, counters });
            }
            call(&self.env, "account", "/rollup", &Rollup { token_id, days }).await?;
            // Only the versions forwarded: a request recorded meanwhile keeps its day dirty.
            for (day, seq) in dirty {
                sql.exec("DELETE FROM dirty WHERE day = ? AND seq = ?", vec![day.into(), seq.into()])?;
            }
        }
        self.prune(&sql)?;
        let left = raw_rows(&sql, "SELECT COUNT(*) FROM dirty", vec![])?.first().map(|r| int(r.first())).unwrap_or(0);
        if left > 0 {
            self.state.storage().set_alarm(self.forward_delay_ms().max(1000)).await?;
        }
        Ok(())
    }

    fn rollup(&self, r: Rollup) -> Result<Response> {
        let sql = self.sql();
        let cols = columns();
        for d in r.days {
            let mut bindings: Vec<SqlStorageValue> = vec![d.day.into(), r.token_id.clone().into()];
            bindings.extend(values(&d.counters));
            sql.exec(
                &format!("INSERT OR REPLACE INTO token_days (day, token_id, {cols}) VALUES (?, ?, {})", placeholders(Counters::COLUMNS.len())),
                bindings,
            )?;
        }
        Response::ok("rolled up")
    }

    fn overview(&self, q: RowsRequest) -> Result<Response> {
        let sql = self.sql();
        self.prune(&sql)?;
        let rows = raw_rows(&sql, &format!("SELECT day, token_id, {} FROM token_days WHERE day BETWEEN ? AND ?", columns()), vec![q.first.into(), q.last.into()])?;
        let out: Vec<TokenDay> = rows.iter().map(|r| TokenDay { day: int(r.first()), token_id: text(r.get(1)), counters: counters_at(r, 2) }).collect();
        Response::from_json(&out)
    }
}

impl DurableObject for Ledger {
    fn new(state: State, env: Env) -> Self {
        let clock_offset = env.var("LEDGER_CLOCK_OFFSET_SECONDS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(0);
        Ledger { state, env, clock_offset, waiters: RefCell::new(Vec::new()), schema_ready: std::cell::Cell::new(false) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match path.as_str() {
            "/admit" => self.admit(req.json().await?).await,
            "/release" => self.release(req.json().await?),
            "/tell" => self.tell(req.json().await?),
            "/budget" => self.budget(req.json().await?),
            "/still-allowed" => self.still_allowed(req.json().await?),
            "/record" => self.record(req.json().await?).await,
            "/rows" => self.rows(req.json().await?),
            "/days" => self.days(req.json().await?),
            "/forget" => {
                // The usage goes; the admin's word on the token stays, so a deleted token's
                // object keeps refusing it.
                let told = self.guard(&self.sql())?.told;
                let storage = self.state.storage();
                storage.delete_alarm().await?;
                storage.delete_all().await?;
                // The tables went with everything else.
                self.schema_ready.set(false);
                self.save_guard(&self.sql(), &Guard { told, ..Guard::default() })?;
                Response::ok("forgotten")
            }
            "/rollup" => self.rollup(req.json().await?),
            "/overview" => self.overview(req.json().await?),
            "/forget-token" => {
                let id: String = req.json().await?;
                self.sql().exec("DELETE FROM token_days WHERE token_id = ?", vec![id.into()])?;
                Response::ok("forgotten")
            }
            _ => Response::error("no such ledger call", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if let Err(e) = self.forward().await {
            worker::console_error!("ledger forward failed: {e}");
            // Try again later; the dirty days are still marked.
            self.state.storage().set_alarm(self.forward_delay_ms().max(5000)).await?;
        }
        Response::ok("ok")
    }
}

/// The object's name for a token.
pub fn token_object(token_id: &str) -> String {
    format!("token:{token_id}")
}

/// Calls `path` on the ledger object `name` with a JSON body.
pub async fn call(env: &Env, name: &str, path: &str, body: &impl Serialize) -> Result<Response> {
    let stub = env.durable_object(BINDING)?.id_from_name(name)?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(serde_json::to_string(body)?.into()));
    let req = Request::new_with_init(&format!("https://ledger{path}"), &init)?;
    let response = stub.fetch_with_request(req).await?;
    if response.status_code() >= 400 {
        return Err(worker::Error::RustError(format!("ledger {path}: status {}", response.status_code())));
    }
    Ok(response)
}

/// Decides a request of a token with limits in its object.
pub async fn admit(env: &Env, token_id: &str, request: &AdmitRequest) -> Result<Verdict> {
    call(env, &token_object(token_id), "/admit", request).await?.json().await
}

/// Gives a reservation back: its request never reached an upstream that answered.
pub async fn release(env: &Env, token_id: &str, reservation: u64) -> Result<()> {
    call(env, &token_object(token_id), "/release", &ReleaseRequest { reservation }).await.map(|_| ())
}

/// Tells a token's object what the admin decided, before the decision reaches KV.
pub async fn tell(env: &Env, token_id: &str, told: &Told) -> Result<()> {
    call(env, &token_object(token_id), "/tell", told).await.map(|_| ())
}

/// Whether a token's running WebSocket session may go on (`None`: yes).
pub async fn still_allowed(env: &Env, token_id: &str, limits: Limits) -> Result<Option<Refused>> {
    call(env, &token_object(token_id), "/still-allowed", &limits).await?.json().await
}

/// Each budget's spend, holds and what is left, for the dashboard and `/_proxy/usage`.
pub async fn budget_lines(env: &Env, token_id: &str, limits: Limits) -> Result<Vec<BudgetLine>> {
    call(env, &token_object(token_id), "/budget", &limits).await?.json().await
}

/// A token's rows for a report (daily, or hourly for `by=hour`).
pub async fn token_rows(env: &Env, token_id: &str, hourly: bool, first: i64, last: i64) -> Result<Vec<Stored>> {
    let rows: Vec<WireRow> = call(env, &token_object(token_id), "/rows", &RowsRequest { hourly, first, last }).await?.json().await?;
    Ok(rows.into_iter().map(|r| Stored { period: r.period, provider: r.provider, model: r.model, counters: r.counters }).collect())
}

/// A token's daily totals over a range of days.
pub async fn token_days(env: &Env, token_id: &str, first: i64, last: i64) -> Result<Vec<(i64, Counters)>> {
    let rows: Vec<DayTotals> = call(env, &token_object(token_id), "/days", &RowsRequest { hourly: false, first, last }).await?.json().await?;
    Ok(rows.into_iter().map(|d| (d.day, d.counters)).collect())
}

/// Every token's daily totals over a range of days, from the account object.
pub async fn account_days(env: &Env, first: i64, last: i64) -> Result<Vec<(i64, String, Counters)>> {
    let rows: Vec<TokenDay> = call(env, "account", "/overview", &RowsRequest { hourly: false, first, last }).await?.json().await?;
    Ok(rows.into_iter().map(|d| (d.day, d.token_id, d.counters)).collect())
}

/// Deletes a token's usage: its own object and its rows in the account roll-up.
pub async fn forget_token(env: &Env, token_id: &str) -> Result<()> {
    call(env, &token_object(token_id), "/forget", &()).await?;
    call(env, "account", "/forget-token", &token_id).await?;
    Ok(())
}

/// The day a Unix second is in, re-exported for the glue's date arithmetic.
pub fn today() -> i64 {
    day_of(now_unix())
}

pub const DAY: i64 = SECONDS_PER_DAY;
