//! Glue: a WebSocket session relayed through the Worker.
//!
//! The upstream socket (the answer to the upgrade `fetch`) and the server end of a
//! `WebSocketPair` are both accepted, and each message event on one is sent on the other as the
//! same JavaScript value: a string stays a string, an `ArrayBuffer` stays the same bytes, and
//! neither is copied into wasm. Only a text message that may name a model (for a token limited
//! to some models) is read, after the runtime has said it contains the marker.
//!
//! A close on either side closes the other with the same code and reason (see `close::relay`).
//! While the session lasts, a task re-asks [`still_allowed`] every `WEBSOCKET_RECHECK_SECONDS`
//! and ends the session with 1008 and the reason when the answer is no.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::web_sys::{self, Headers, ResponseInit};
use worker::{console_error, Delay, Env, WebSocketPair};

use crate::policy::rules::Policy;
use crate::proxy::provider::Provider;
use crate::runtime::now_unix;
use crate::proxy::request_log::RequestLog;
use crate::tokens::store::TokenStore;
use crate::budget::guard::{Limits, Refused};
use crate::usage::ledger_object;
use crate::usage::tap::{self, Answer};
use crate::websocket::close::{self, Close, Revoked, Side};
use crate::websocket::events::{self, Named, SessionUsage};
use crate::websocket::handshake::{self, Endpoint};
use crate::websocket::recheck;

#[wasm_bindgen]
extern "C" {
    /// A WebSocket seen as its `send` that takes whatever a message event carried (a string or an
    /// `ArrayBuffer`), so a relayed message never crosses into wasm.
    type RelaySocket;
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send(this: &RelaySocket, data: &JsValue) -> Result<(), JsValue>;
}

fn relay(to: &web_sys::WebSocket, data: &JsValue) {
    let _ = to.unchecked_ref::<RelaySocket>().send(data);
}

/// What a session needs to know about the handshake that opened it.
pub struct Session {
    pub token_id: String,
    pub provider: Provider,
    pub endpoint: Endpoint,
    /// The token's policy, when it limits models and the model comes in a message.
    pub model_policy: Option<Policy>,
    /// The model the handshake named (Realtime's `?model=`).
    pub model: Option<String>,
    /// When the handshake was made (the ledger entry's hour).
    pub at: i64,
    /// Usage metering is on: the session's usage goes to the token's ledger when it ends.
    pub metered: bool,
    pub log: RequestLog,
}

/// What the ledger entry needs once the session is over.
struct Metered {
    token_id: String,
    provider: Provider,
    at: i64,
    log: RequestLog,
}

/// The one place a finished session's usage goes: one entry in the token's ledger per session
/// (`requests` 1, status `1xx` for its 101), priced like any request's. A session that never got
/// a usage event is recorded too, as partial.
async fn record_usage(env: &Env, session: &Metered, endpoint: Endpoint, usage: &SessionUsage) {
    let answer = Answer { at: session.at, provider: session.provider.name(), kind: events::ledger_kind(endpoint), status: 101, request_model: None, reservation: None };
    tap::write_entry(env, &session.token_id, answer, &usage.outcome(), &session.log).await;
}

/// The usage an upstream message reports, read only if the runtime finds the marker in it: a
/// text message as it is; a binary one only from Gemini Live (which sends its JSON in binary
/// frames), decoded by the runtime and only up to `MAX_BINARY_USAGE_BYTES`.
fn usage_in_message(endpoint: Endpoint, marker: &str, data: &JsValue) -> Option<events::Reported> {
    let decoded;
    let text = match data.dyn_ref::<js_sys::JsString>() {
        Some(text) => text,
        None => {
            let buffer = data.dyn_ref::<js_sys::ArrayBuffer>().filter(|_| endpoint == Endpoint::GeminiLive)?;
            if buffer.byte_length() > events::MAX_BINARY_USAGE_BYTES {
                return None;
            }
            decoded = js_sys::JsString::from(web_sys::TextDecoder::new().ok()?.decode_with_buffer_source(buffer).ok()?);
            &decoded
        }
    };
    text.includes(marker, 0).then(|| events::usage_in(endpoint, &String::from(text))).flatten()
}

/// The one place a live session asks whether its token may still be used: the token's record as
/// the proxy reads it for a request (through the isolate's 20 s cache, then KV), judged as at the
/// handshake; then, for a token with limits in its ledger object, that object's word (the admin's
/// decision, at once; a budget used up by other requests).
pub async fn still_allowed(env: &Env, token_id: &str, provider: Provider) -> Result<(), Revoked> {
    let record = TokenStore::get_for_request(env, token_id, js_sys::Date::now()).await;
    match record {
        Ok(record) => {
            recheck::judge(record.as_ref(), provider, now_unix())?;
            let limits = Limits::of(&record.expect("judged present").policy);
            if !limits.any() {
                return Ok(());
            }
            match ledger_object::still_allowed(env, token_id, limits).await {
                Ok(None) => Ok(()),
                Ok(Some(Refused::Deleted)) => Err(Revoked::Deleted),
                Ok(Some(Refused::Disabled)) => Err(Revoked::Disabled),
                Ok(Some(Refused::Budget { message })) => Err(Revoked::Other(message)),
                // Not asked of a running session: it counts no rate and prices nothing.
                Ok(Some(Refused::RateLimited { .. } | Refused::Unpriced { .. })) => Ok(()),
                // As with the store: an object that cannot be asked now does not end the session.
                Err(e) => {
                    console_error!("websocket: the token's ledger object is unavailable for a recheck: {e}");
                    Ok(())
                }
            }
        }
        Err(e) if e.is_damaged() => {
            console_error!("websocket: token record unreadable: {}", e.0);
            Err(Revoked::Other("this token's stored record is unreadable.".into()))
        }
        // The session was authorized; a store that cannot be read now does not end it.
        Err(e) => {
            console_error!("websocket: token store unavailable for a recheck: {}", e.0);
            Ok(())
        }
    }
}

/// The upstream's socket, if it accepted the upgrade.
pub fn upstream_socket(response: &web_sys::Response) -> Option<web_sys::WebSocket> {
    let ws = js_sys::Reflect::get(response, &"webSocket".into()).ok()?;
    (!ws.is_null() && !ws.is_undefined()).then(|| ws.unchecked_into())
}

/// A response with `status`, `headers` and, for a 101, the client's socket. Used both for the
/// 101 built here and when `forward::finish` adds headers to it: a 101 can only be made with its
/// `webSocket` in the init.
pub fn response_with_socket(status: u16, headers: &Headers, socket: &JsValue) -> Result<web_sys::Response, JsValue> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(headers);
    js_sys::Reflect::set(&init, &"webSocket".into(), socket)?;
    web_sys::Response::new_with_opt_str_and_init(None, &init)
}

struct Shared {
    client: web_sys::WebSocket,
    upstream: web_sys::WebSocket,
    done: Cell<bool>,
    ended: RefCell<Option<oneshot::Sender<()>>>,
    usage: RefCell<SessionUsage>,
}

fn close_socket(ws: &web_sys::WebSocket, c: &Close) {
    let _ = match c.code {
        Some(code) => ws.close_with_code_and_reason(code, &c.reason),
        None => ws.close(),
    };
}

impl Shared {
    fn end(&self) -> bool {
        if self.done.replace(true) {
            return false;
        }
        if let Some(tx) = self.ended.borrow_mut().take() {
            let _ = tx.send(());
        }
        true
    }

    /// `from` closed (or failed, as 1006): the other side hears the same; the side that closed
    /// gets its close answered.
    fn closed(&self, from: Side, code: u16, reason: &str) {
        if !self.end() {
            return;
        }
        let (this, other) = match from {
            Side::Client => (&self.client, &self.upstream),
            Side::Upstream => (&self.upstream, &self.client),
        };
        close_socket(other, &close::relay(from, code, reason));
        close_socket(this, &close::relay(from, code, reason));
    }

    fn revoke(&self, why: &Revoked) {
        if !self.end() {
            return;
        }
        close_socket(&self.client, &close::revoked(why));
        close_socket(&self.upstream, &close::upstream_after_revocation());
    }
}

type Listener = (web_sys::WebSocket, &'static str, JsValue);

fn listen<T: 'static + wasm_bindgen::convert::FromWasmAbi>(
    ws: &web_sys::WebSocket,
    event: &'static str,
    f: impl FnMut(T) + 'static,
    keep: &mut Vec<Listener>,
) -> Result<(), JsValue> {
    let closure = Closure::<dyn FnMut(T)>::new(f);
    let function: JsValue = closure.into_js_value();
    ws.add_event_listener_with_callback(event, function.unchecked_ref())?;
    keep.push((ws.clone(), event, function));
    Ok(())
}

/// Accepts `upstream` and answers the client with a 101 carrying the other end of a pair, the
/// upstream's headers (minus its hop's) and the negotiated subprotocol.
pub fn open(
    upstream_response: &web_sys::Response,
    upstream: web_sys::WebSocket,
    offered_protocols: Option<&str>,
    session: Session,
    env: &Env,
) -> Result<web_sys::Response, JsValue> {
    let pair = WebSocketPair::new().map_err(|e| JsValue::from_str(&e.to_string()))?;
    let client: web_sys::WebSocket = pair.server.as_ref().clone();
    // Binary messages as `ArrayBuffer`s (the runtime's default is `Blob`), which `send` takes
    // back as the same bytes.
    for ws in [&client, &upstream] {
        ws.set_binary_type(web_sys::BinaryType::Arraybuffer);
    }
    worker::WebSocket::from(upstream.clone()).accept().map_err(|e| JsValue::from_str(&e.to_string()))?;
    pair.server.accept().map_err(|e| JsValue::from_str(&e.to_string()))?;

    let (tx, rx) = oneshot::channel();
    let shared = Rc::new(Shared { client: client.clone(), upstream: upstream.clone(), done: Cell::new(false), ended: RefCell::new(Some(tx)), usage: RefCell::new(SessionUsage { model: session.model.clone(), ..Default::default() }) });
    let mut keep = Vec::new();

    let endpoint = session.endpoint;
    let model_marker = events::model_marker(endpoint);
    let model_policy = session.model_policy;
    {
        let s = shared.clone();
        listen(&client, "message", move |e: web_sys::MessageEvent| {
            let data = e.data();
            // A client message that names a model is read when the token limits models, or while
            // the session's model (for its usage) is not known yet.
            let wanted = model_policy.is_some() || s.usage.borrow().model.is_none();
            if let (true, Some(marker), Some(text)) = (wanted, model_marker, data.dyn_ref::<js_sys::JsString>()) {
                if text.includes(marker, 0) {
                    let named = events::model_in(endpoint, &String::from(text));
                    if let Named::Model(m) = &named {
                        s.usage.borrow_mut().model.get_or_insert_with(|| m.clone());
                    }
                    if let Some(policy) = &model_policy {
                        let verdict = match &named {
                            Named::Nothing => Ok(()),
                            Named::Unknown => policy.check_model(None),
                            Named::Model(m) => policy.check_model(Some(m)),
                        };
                        if let Err(refusal) = verdict {
                            s.revoke(&Revoked::Other(refusal.message()));
                            return;
                        }
                    }
                }
            }
            relay(&s.upstream, &data);
        }, &mut keep)?;
    }
    {
        let s = shared.clone();
        let usage_marker = events::usage_marker(endpoint);
        listen(&upstream, "message", move |e: web_sys::MessageEvent| {
            let data = e.data();
            relay(&s.client, &data);
            if let Some(reported) = usage_marker.and_then(|m| usage_in_message(endpoint, m, &data)) {
                s.usage.borrow_mut().add(reported);
            }
        }, &mut keep)?;
    }
    for (ws, from) in [(&client, Side::Client), (&upstream, Side::Upstream)] {
        let s = shared.clone();
        listen(ws, "close", move |e: web_sys::CloseEvent| s.closed(from, e.code(), &e.reason()), &mut keep)?;
        let s = shared.clone();
        listen(ws, "error", move |_: web_sys::Event| s.closed(from, 1006, ""), &mut keep)?;
    }

    let seconds = recheck::recheck_seconds(env.var("WEBSOCKET_RECHECK_SECONDS").ok().map(|v| v.to_string()).as_deref());
    let env = env.clone();
    let (token_id, provider) = (session.token_id.clone(), session.provider);
    let metered = session.metered.then(|| Metered { token_id: session.token_id, provider, at: session.at, log: session.log });
    worker::wasm_bindgen_futures::spawn_local(async move {
        let mut ended = rx;
        loop {
            match select(ended, Box::pin(Delay::from(Duration::from_secs(seconds.into())))).await {
                Either::Left(_) => break,
                Either::Right((_, still_open)) => {
                    ended = still_open;
                    if shared.done.get() {
                        break;
                    }
                    if let Err(why) = still_allowed(&env, &token_id, provider).await {
                        shared.revoke(&why);
                        break;
                    }
                }
            }
        }
        // The session is over: let go of the listeners (and with them the closures).
        for (ws, event, function) in keep {
            let _ = ws.remove_event_listener_with_callback(event, function.unchecked_ref());
        }
        let usage = shared.usage.borrow().clone();
        if let Some(metered) = &metered {
            record_usage(&env, metered, endpoint, &usage).await;
        }
    });

    let headers = Headers::new()?;
    if let Ok(Some(entries)) = js_sys::try_iter(&upstream_response.headers()) {
        for entry in entries.flatten() {
            let pair: js_sys::Array = entry.unchecked_into();
            if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                if handshake::keep_response_header(&name) {
                    headers.append(&name, &value)?;
                }
            }
        }
    }
    let answered = upstream_response.headers().get("sec-websocket-protocol").ok().flatten();
    if let Some(protocol) = handshake::negotiated_protocol(offered_protocols, answered.as_deref()) {
        headers.set("sec-websocket-protocol", &protocol)?;
    }
    response_with_socket(101, &headers, pair.client.as_ref())
}
