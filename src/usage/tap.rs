//! Metering glue: the answer's body goes to the client through a pull-based `ReadableStream`
//! whose `pull` reads one upstream chunk, enqueues it first and only then feeds the meter. The
//! client's reads drive the upstream reads (high-water mark 0), so a slow client holds back the
//! upstream, not the Worker's memory. When the stream ends, or the client goes away (`cancel`),
//! one write goes to the token's ledger from `waitUntil`.
//!
//! Answers that cannot carry usage (no body, or a non-JSON body on a path without a usage format:
//! audio, files, model lists) are not wrapped at all: their bytes stay in the runtime and the
//! request is recorded at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::{future_to_promise, JsFuture};
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
    resolve: Option<js_sys::Function>,
    /// A pull is waiting on the upstream (the client asked for more).
    pulling: bool,
    /// When the last pull ended (ms).
    last_pull: f64,
}

/// How long a stream may go unpulled before its client is taken as gone (`USAGE_CLIENT_IDLE_SECONDS`).
fn idle_seconds(env: &Env) -> f64 {
    env.var("USAGE_CLIENT_IDLE_SECONDS").ok().and_then(|v| v.to_string().parse::<u32>().ok()).filter(|s| *s > 0).unwrap_or(10) as f64
}

impl Tap {
    fn complete(&mut self, cut: bool) {
        if let Some(meter) = self.meter.take() {
            self.outcome = Some(meter.finish(cut));
            if let Some(resolve) = self.resolve.take() {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
    }
}

fn method(obj: &JsValue, name: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = js_sys::Reflect::get(obj, &name.into())?.dyn_into()?;
    match args {
        [] => f.call0(obj),
        [a] => f.call1(obj, a),
        _ => f.call2(obj, args[0], args[1]),
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
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let tap = Rc::new(RefCell::new(Tap { meter: Some(meter), outcome: None, resolve: None, pulling: false, last_pull: js_sys::Date::now() }));

    let done = js_sys::Promise::new(&mut |resolve, _reject| tap.borrow_mut().resolve = Some(resolve));

    let pull = {
        let tap = tap.clone();
        let reader = reader.clone();
        Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |controller: JsValue| {
            let tap = tap.clone();
            let reader = reader.clone();
            tap.borrow_mut().pulling = true;
            let ended = tap.clone();
            let pulled = async move {
                loop {
                    let read = match JsFuture::from(reader.read()).await {
                        Ok(read) => read,
                        Err(e) => {
                            tap.borrow_mut().complete(true);
                            let _ = method(&controller, "error", &[&e]);
                            return Ok(JsValue::UNDEFINED);
                        }
                    };
                    if js_sys::Reflect::get(&read, &"done".into())?.is_truthy() {
                        let mut t = tap.borrow_mut();
                        if let Some(m) = t.meter.as_mut() {
                            let held = m.take_held();
                            if !held.is_empty() {
                                method(&controller, "enqueue", &[&js_sys::Uint8Array::from(&held[..]).into()])?;
                            }
                        }
                        t.complete(false);
                        method(&controller, "close", &[])?;
                        return Ok(JsValue::UNDEFINED);
                    }
                    let chunk: js_sys::Uint8Array = js_sys::Reflect::get(&read, &"value".into())?.unchecked_into();
                    let mut t = tap.borrow_mut();
                    let Some(m) = t.meter.as_mut() else {
                        // Recorded already (taken as disconnected): the bytes still go on.
                        method(&controller, "enqueue", &[&chunk])?;
                        return Ok(JsValue::UNDEFINED);
                    };
                    if m.filters() {
                        match m.filter(&chunk.to_vec()) {
                            Emit::All => {
                                method(&controller, "enqueue", &[&chunk])?;
                            }
                            Emit::Bytes(bytes) if bytes.is_empty() => continue,
                            Emit::Bytes(bytes) => {
                                method(&controller, "enqueue", &[&js_sys::Uint8Array::from(&bytes[..]).into()])?;
                            }
                        }
                    } else {
                        // The client's chunk first; the meter reads a copy after.
                        method(&controller, "enqueue", &[&chunk])?;
                        m.feed(&chunk.to_vec());
                    }
                    return Ok(JsValue::UNDEFINED);
                }
            };
            future_to_promise(async move {
                let result = pulled.await;
                let mut t = ended.borrow_mut();
                t.pulling = false;
                t.last_pull = js_sys::Date::now();
                result
            })
        })
    };
    let cancel = {
        let tap = tap.clone();
        let reader = reader.clone();
        Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |reason: JsValue| {
            // The client went away: record what was seen, and stop reading the upstream.
            tap.borrow_mut().complete(true);
            reader.cancel_with_reason(&reason)
        })
    };
    if pending.signal.is_object() {
        let tap = tap.clone();
        let reader = reader.clone();
        let on_abort = Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
            tap.borrow_mut().complete(true);
            let _ = reader.cancel();
        });
        let _ = method(&pending.signal, "addEventListener", &[&"abort".into(), &on_abort.into_js_value()]);
    }
    let source = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&source, &"pull".into(), &pull.into_js_value());
    let _ = js_sys::Reflect::set(&source, &"cancel".into(), &cancel.into_js_value());
    let strategy = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&strategy, &"highWaterMark".into(), &0.into());
    let stream = js_sys::Reflect::get(&js_sys::global(), &"ReadableStream".into())
        .and_then(|ctor| ctor.dyn_into::<js_sys::Function>().map_err(JsValue::from))
        .and_then(|ctor| js_sys::Reflect::construct(&ctor, &js_sys::Array::of2(&source, &strategy)));
    let stream: web_sys::ReadableStream = match stream {
        Ok(s) => s.unchecked_into(),
        Err(_) => {
            pending.log.error("usage_stream_not_built", "");
            return None;
        }
    };
    let env = env.clone();
    let idle_ms = idle_seconds(&env) * 1000.0;
    ctx.wait_until(async move {
        // workerd neither cancels the stream nor aborts request.signal when a client goes away
        // mid-answer (seen in workerd 2026-04): it only stops pulling. So a stream that has
        // not been pulled for `idle_ms` while no pull is waiting on the upstream is taken as
        // disconnected: recorded partial, and the upstream read is cancelled.
        loop {
            let tick = js_sys::Promise::new(&mut |resolve, _| {
                let _ = method(&js_sys::global(), "setTimeout", &[&resolve, &(idle_ms / 2.0).into()]);
            });
            let _ = JsFuture::from(js_sys::Promise::race(&js_sys::Array::of2(&done, &tick))).await;
            let mut t = tap.borrow_mut();
            if t.meter.is_none() {
                break;
            }
            if !t.pulling && js_sys::Date::now() - t.last_pull > idle_ms {
                t.complete(true);
                let _ = reader.cancel();
                break;
            }
        }
        let outcome = tap.borrow_mut().outcome.take();
        if let Some(outcome) = outcome {
            send(pending, kind, status, outcome, &env).await;
        }
    });
    Some(stream)
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
    if let Err(e) = ledger_object::call(env, &token_object(token_id), "/record", &request).await {
        log.error("usage_recording_failed", &e.to_string());
    }
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
