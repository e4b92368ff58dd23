//! Metering glue: the answer's body goes to the client through a pull-based `ReadableStream`
//! (`metered_stream.js`, written in JavaScript so a chunk costs one call into wasm) whose `pull`
//! reads one upstream chunk, enqueues it first and only then feeds the meter. The client's reads
//! drive the upstream reads (high-water mark 0), so a slow client holds back the upstream, not the
//! Worker's memory. When the stream ends, or the client goes away (`cancel`, or the idle
//! watchdog), one write goes to the token's ledger from `waitUntil`.
//!
//! Answers that cannot carry usage (no body, or a non-JSON body on a path without a usage format:
//! audio, files, model lists) are not wrapped at all: their bytes stay in the runtime and the
//! request is recorded at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;
use worker::{Context, Env};

use super::ledger::Entry;
use super::ledger_object::{self, token_object, RecordRequest};
use super::meter::{Emit, Meter, Options, Outcome};
use super::prices::{self, Price};
use super::request::{format_of, EndpointKind, Format};
use crate::proxy::request_log::RequestLog;
use crate::runtime::now_unix;
use crate::upstream::table::UsageFormat;

/// What the proxy knows of a request when its answer arrives.
pub struct Pending {
    pub token_id: String,
    /// The provider's name in the provider table (built-in or operator-defined).
    pub provider: &'static str,
    /// Where that provider's answers carry their usage.
    pub usage: UsageFormat,
    pub upstream_path: String,
    /// The model the request named (Gemini path, or a body the proxy read anyway).
    pub request_model: Option<String>,
    /// The request's declared length.
    pub request_bytes: Option<u64>,
    /// The proxy added `stream_options.include_usage`: the usage-only chunk is not the client's.
    pub rewrote_include_usage: bool,
    pub at: i64,
    /// The inbound request's `signal`. It aborts on a client disconnect only under the
    /// `enable_request_signal` flag, which this Worker does not set: with it, a chunked upload the
    /// client cut off reached the upstream as a complete body (README, Security). The idle
    /// watchdog below is what notices a client that left.
    pub signal: JsValue,
    /// The request's log (its id, the token's prefix, the provider), for the meter's failures.
    pub log: RequestLog,
    /// The budget reservation the ledger entry settles.
    pub reservation: Option<u64>,
}

struct Tap {
    meter: Option<Meter>,
    outcome: Option<Outcome>,
}

#[wasm_bindgen(module = "/src/usage/metered_stream.js")]
extern "C" {
    /// `[stream, done]`: the body the client gets, and a promise that settles once the meter has
    /// its outcome (see the file).
    #[wasm_bindgen(catch, js_name = meteredStream)]
    fn metered_stream(body: &web_sys::ReadableStream, sink: Sink, idle_ms: f64, signal: &JsValue) -> Result<js_sys::Array, JsValue>;
}

/// The meter as the stream in `metered_stream.js` sees it: each call takes the bytes of one chunk.
#[wasm_bindgen]
pub struct Sink {
    tap: Rc<RefCell<Tap>>,
}

#[wasm_bindgen]
impl Sink {
    pub fn filters(&self) -> bool {
        self.tap.borrow().meter.as_ref().is_some_and(Meter::filters)
    }

    /// A chunk already sent on to the client.
    pub fn feed(&self, chunk: &[u8]) {
        if let Some(m) = self.tap.borrow_mut().meter.as_mut() {
            m.feed(chunk);
        }
    }

    /// What to send for a chunk not sent yet: `None` for the chunk as it came.
    pub fn filter(&self, chunk: &[u8]) -> Option<Vec<u8>> {
        match self.tap.borrow_mut().meter.as_mut()?.filter(chunk) {
            Emit::All => None,
            Emit::Bytes(bytes) => Some(bytes),
        }
    }

    /// The bytes the filter still holds at the end: they belong to the client.
    pub fn held(&self) -> Option<Vec<u8>> {
        let held = self.tap.borrow_mut().meter.as_mut()?.take_held();
        (!held.is_empty()).then_some(held)
    }

    /// The answer ended (`cut`: before its end).
    pub fn complete(&self, cut: bool) {
        self.tap.borrow_mut().complete(cut);
    }
}

/// How long a stream may go unpulled before its client is taken as gone (`USAGE_CLIENT_IDLE_SECONDS`).
fn idle_seconds(env: &Env) -> f64 {
    crate::runtime::setting(env, "USAGE_CLIENT_IDLE_SECONDS").and_then(|v| v.parse::<u32>().ok()).filter(|s| *s > 0).unwrap_or(10) as f64
}

impl Tap {
    fn complete(&mut self, cut: bool) {
        if let Some(meter) = self.meter.take() {
            self.outcome = Some(meter.finish(cut));
        }
    }
}

/// Meters the answer: returns the body to send instead of the upstream's (or `None`: send the
/// upstream body as it is) and schedules the ledger write.
pub fn meter(pending: Pending, response: &web_sys::Response, env: &Env, ctx: &Context) -> Option<web_sys::ReadableStream> {
    let status = response.status();
    if status == 101 {
        return None;
    }
    let content_type = response.headers().get("content-type").ok().flatten().unwrap_or_default().to_ascii_lowercase();
    let streamed = content_type.starts_with("text/event-stream");
    let format = format_of(pending.usage, &pending.upstream_path);
    let kind = EndpointKind::of_path(&pending.upstream_path);
    let meter = Meter::new(Options {
        format,
        streamed,
        status,
        request_bytes: pending.request_bytes,
        drop_usage_chunk: pending.rewrote_include_usage,
        embeddings: kind == EndpointKind::Embeddings,
        reported_cost: pending.usage == UsageFormat::OpenAiWithCost,
    });
    let body = response.body();
    let carries_usage = format != Format::Other || content_type.contains("json");
    let Some(body) = body.filter(|_| carries_usage && (200..300).contains(&status) || streamed) else {
        // Nothing to read: record now (a 4xx/5xx error body reports no usage either).
        let outcome = meter.finish(false);
        record(pending, kind, status, outcome, env, ctx);
        return None;
    };
    let tap = Rc::new(RefCell::new(Tap { meter: Some(meter), outcome: None }));
    let sink = Sink { tap: tap.clone() };
    let idle_ms = idle_seconds(env) * 1000.0;
    let parts = metered_stream(&body, sink, idle_ms, &pending.signal);
    let (stream, done) = match parts {
        Ok(parts) => (parts.get(0), parts.get(1)),
        Err(_) => {
            pending.log.error("usage_stream_not_built", "");
            return None;
        }
    };
    let env = env.clone();
    ctx.wait_until(async move {
        let _ = JsFuture::from(js_sys::Promise::from(done)).await;
        let outcome = tap.borrow_mut().outcome.take();
        if let Some(outcome) = outcome {
            send(pending, kind, status, outcome, &env).await;
        }
    });
    Some(stream.unchecked_into())
}

fn record(pending: Pending, kind: EndpointKind, status: u16, outcome: Outcome, env: &Env, ctx: &Context) {
    let env = env.clone();
    ctx.wait_until(async move { send(pending, kind, status, outcome, &env).await });
}

async fn send(pending: Pending, kind: EndpointKind, status: u16, outcome: Outcome, env: &Env) {
    let answer = Answer { at: pending.at, provider: pending.provider, kind, status, request_model: pending.request_model.as_deref(), reservation: pending.reservation };
    write_entry(env, &pending.token_id, answer, &outcome, &pending.log).await;
}

/// What a ledger entry says of the request besides what the meter read.
pub struct Answer<'a> {
    pub at: i64,
    pub provider: &'a str,
    pub kind: EndpointKind,
    pub status: u16,
    pub request_model: Option<&'a str>,
    pub reservation: Option<u64>,
}

/// Prices `outcome` and writes its one entry to the token's ledger (also a WebSocket session's,
/// from the pump).
pub async fn write_entry(env: &Env, token_id: &str, a: Answer<'_>, outcome: &Outcome, log: &RequestLog) {
    let overrides = price_overrides(env, log).await;
    let entry = Entry::new(a.at, a.provider, a.kind, a.status, outcome, a.request_model, |m| prices::lookup(m, &overrides));
    let request = RecordRequest { token_id: token_id.to_string(), entry, settle: a.reservation };
    if let Err(e) = write_batched(env, request).await {
        log.error("usage_recording_failed", &e);
    }
}

type Written = oneshot::Sender<Result<(), String>>;

thread_local! {
    /// Per token: the entries waiting for the write in flight to this isolate's object to end.
    static WAITING: RefCell<HashMap<String, Vec<(RecordRequest, Written)>>> = RefCell::new(HashMap::new());
}

/// Writes one entry, together with the others of its token that end while a write to the
/// token's object is in flight: at low load every entry goes alone and at once; under load one
/// object call carries all that queued up, instead of one call each (the call, not the SQL, is
/// most of a write's cost). Returns once the batch holding this entry is written.
async fn write_batched(env: &Env, request: RecordRequest) -> Result<(), String> {
    let token_id = request.token_id.clone();
    let (tx, rx) = oneshot::channel();
    let flusher = WAITING.with(|w| {
        let mut w = w.borrow_mut();
        let queue = w.entry(token_id.clone());
        // No queue for the token: no write in flight, so this one writes. Its queue stays (empty)
        // until it finds nothing more to write, so later entries join it meanwhile.
        let first = matches!(queue, std::collections::hash_map::Entry::Vacant(_));
        queue.or_default().push((request, tx));
        first
    });
    if flusher {
        loop {
            let batch: Vec<(RecordRequest, Written)> = WAITING.with(|w| {
                let mut w = w.borrow_mut();
                let list = w.get_mut(&token_id).map(std::mem::take).unwrap_or_default();
                if list.is_empty() {
                    w.remove(&token_id);
                }
                list
            });
            if batch.is_empty() {
                break;
            }
            let (entries, senders): (Vec<RecordRequest>, Vec<Written>) = batch.into_iter().unzip();
            let result = ledger_object::call(env, &token_object(&token_id), "/record", &entries).await.map(|_| ()).map_err(|e| e.to_string());
            for sender in senders {
                let _ = sender.send(result.clone());
            }
        }
    }
    rx.await.unwrap_or_else(|_| Err("the ledger write was dropped".into()))
}

/// The KV key of the operator's price overrides (one JSON object, model -> price).
pub const OVERRIDES_KEY: &str = "usage:prices";
const OVERRIDES_CACHE_SECONDS: i64 = 30;

thread_local! {
    static OVERRIDES: RefCell<Option<(i64, Rc<HashMap<String, Price>>)>> = const { RefCell::new(None) };
}

/// Forgets the cached overrides (after an admin change in this isolate).
pub fn forget_overrides() {
    OVERRIDES.with(|o| *o.borrow_mut() = None);
}

/// The operator's overrides, read from KV at most every 30 s per isolate (off the client's path:
/// only the ledger write waits for it).
pub async fn price_overrides(env: &Env, log: &RequestLog) -> Rc<HashMap<String, Price>> {
    let now = now_unix();
    if let Some(cached) = OVERRIDES.with(|o| o.borrow().as_ref().filter(|(at, _)| now - at < OVERRIDES_CACHE_SECONDS).map(|(_, p)| p.clone())) {
        return cached;
    }
    let loaded = load_overrides(env).await.unwrap_or_else(|e| {
        log.error("usage_price_overrides_unreadable", &e);
        HashMap::new()
    });
    let loaded = Rc::new(loaded);
    OVERRIDES.with(|o| *o.borrow_mut() = Some((now, loaded.clone())));
    loaded
}

pub async fn load_overrides(env: &Env) -> Result<HashMap<String, Price>, String> {
    let kv = env.kv("TOKENS").map_err(|e| e.to_string())?;
    let text = kv.get(OVERRIDES_KEY).text().await.map_err(|e| e.to_string())?;
    match text {
        None => Ok(HashMap::new()),
        Some(t) => serde_json::from_str(&t).map_err(|e| e.to_string()),
    }
}

pub fn now() -> i64 {
    now_unix()
}
