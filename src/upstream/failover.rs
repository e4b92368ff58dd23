//! The failover loop: send the request with the key the pool picks; when that key is rate limited,
//! overloaded or unreachable and nothing has reached the client yet, send it again with each other
//! key in weight order. A body is sent twice only when it is replayable (see `replay`): then the
//! runtime holds a tee of the stream, wasm never reads it.

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{console_error, Env};
use worker::web_sys::{self, Headers, RequestInit, RequestRedirect};

use crate::proxy::credentials::upstream_credential;
use crate::proxy::provider::Provider;
use crate::proxy::request_log::RequestLog;
use crate::upstream::key_health::{fails_over, KeyHealth, KeyState, Outcome};
use crate::upstream::key_pool::{self, KeyPool};

thread_local! {
    static HEALTH: RefCell<KeyHealth> = RefCell::new(KeyHealth::default());
    /// Providers whose secret's problems this isolate has logged already.
    static LOGGED: RefCell<Vec<Provider>> = const { RefCell::new(Vec::new()) };
}

fn now() -> i64 {
    crate::runtime::now_unix()
}

/// The provider's key pool from its secret; `None` when the secret is unset or holds no usable key.
/// Bad entries are logged once per isolate, by position.
pub fn pool(env: &Env, provider: Provider) -> Option<KeyPool> {
    let secret = crate::runtime::setting(env, provider.secret_name())?;
    let (pool, problems) = key_pool::parse(&secret);
    if !problems.is_empty() {
        let first = LOGGED.with(|l| {
            let mut l = l.borrow_mut();
            let first = !l.contains(&provider);
            l.push(provider);
            first
        });
        if first {
            console_error!("{}: {}", provider.secret_name(), problems.join("; "));
        }
    }
    (!pool.is_empty()).then_some(pool)
}

/// The key a single attempt uses (a body that cannot be sent twice): the first usable one.
pub fn pick(provider: Provider, pool: &KeyPool) -> usize {
    let name = provider.name();
    HEALTH.with(|h| {
        let h = h.borrow();
        pool.order(js_sys::Math::random(), |i| h.usable(name, i, now()))
    })
    .first()
    .copied()
    .unwrap_or(0)
}

/// Each key of the pool with what this isolate last saw of it (for the dashboard).
pub fn key_states(provider: Provider, pool: &KeyPool) -> Vec<(usize, String, u32, KeyState)> {
    HEALTH.with(|h| {
        let h = h.borrow();
        pool.keys
            .iter()
            .enumerate()
            .map(|(i, k)| (i, k.last4(), k.weight, h.state(provider.name(), i)))
            .collect()
    })
}

/// A request to send upstream, without its credential.
pub struct Outbound {
    pub provider: Provider,
    pub url: String,
    pub method: String,
    pub headers: Headers,
    pub upstream_path: String,
    pub replayable: bool,
}

/// A body that can be used once more: the spare branch of a tee, or the same bytes.
pub struct Spare(Option<JsValue>);

impl Spare {
    /// Takes the body for one attempt, keeping a copy when `keep` (the runtime buffers the spare
    /// branch of a stream's tee; bytes are reused as they are).
    fn take(&mut self, keep: bool) -> Option<JsValue> {
        let body = self.0.take()?;
        let Some(stream) = body.dyn_ref::<web_sys::ReadableStream>() else {
            if keep {
                self.0 = Some(body.clone());
            }
            return Some(body);
        };
        if !keep {
            return Some(body);
        }
        let branches = stream.tee();
        self.0 = Some(branches.get(1));
        Some(branches.get(0))
    }

    /// The body for the last attempt.
    pub fn into_body(mut self) -> Option<JsValue> {
        self.0.take()
    }

    /// Lets the runtime free the held copy.
    pub fn discard(mut self) {
        if let Some(stream) = self.0.take().and_then(|b| b.dyn_into::<web_sys::ReadableStream>().ok()) {
            let _ = stream.cancel();
        }
    }
}

/// What the loop ends with.
pub struct Answered {
    pub response: web_sys::Response,
    /// The key that produced it (its position in the pool) and the key itself, for the relay.
    pub key_index: usize,
    pub key: String,
    /// A copy of the body for one more attempt, when the request is replayable and `keep_spare`.
    pub spare: Option<Spare>,
}

fn cancel_body(response: &web_sys::Response) {
    if let Some(body) = response.body() {
        let _ = body.cancel();
    }
}

/// The request with `key` in the provider's slot.
pub fn request_init(out: &Outbound, key: &str, body: Option<&JsValue>) -> RequestInit {
    let headers = Headers::new_with_headers(&out.headers).expect("Headers");
    let (name, value) = upstream_credential(out.provider, &out.upstream_path, key);
    let _ = headers.set(name, &value);
    let init = RequestInit::new();
    init.set_method(&out.method);
    init.set_headers(&headers);
    if let Some(body) = body {
        init.set_body(body);
    }
    init.set_redirect(RequestRedirect::Manual);
    init
}

/// Sends `out` with `body` (the inbound stream, or bytes already read for a model-restricted
/// token), failing over across `pool`. `keep_spare` asks for a copy of a replayable body to
/// be kept after the answer (for the region relay). `Err` carries the reason the last attempt
/// could not reach the upstream.
pub async fn send(out: &Outbound, body: Option<JsValue>, pool: &KeyPool, keep_spare: bool, log: &RequestLog) -> Result<Answered, String> {
    let name = out.provider.name();
    let order = HEALTH.with(|h| {
        let h = h.borrow();
        pool.order(js_sys::Math::random(), |i| h.usable(name, i, now()))
    });
    let attempts = if out.replayable { order.len() } else { 1 };
    let mut spare = Spare(body);
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let mut last_error = String::new();
    for (n, &index) in order.iter().take(attempts).enumerate() {
        let last = n + 1 == attempts;
        let keep = out.replayable && (!last || keep_spare);
        let body = spare.take(keep);
        let key = &pool.keys[index].key;
        let init = request_init(out, key, body.as_ref());
        let result = JsFuture::from(global.fetch_with_str_and_init(&out.url, &init)).await;
        let outcome = match &result {
            Ok(r) => Outcome::Status(r.unchecked_ref::<web_sys::Response>().status()),
            Err(_) => Outcome::Unreachable,
        };
        let retry_after = result
            .as_ref()
            .ok()
            .and_then(|r| r.unchecked_ref::<web_sys::Response>().headers().get("retry-after").ok().flatten());
        let rest = HEALTH.with(|h| h.borrow_mut().record(name, index, outcome, retry_after.as_deref(), now()));
        match outcome {
            Outcome::Status(401) => log.error("key_rejected", &format!("{name} key #{index} answered 401; out of rotation for {}s", rest.unwrap_or(0))),
            Outcome::Status(429) => log.info("key_rate_limited", Some(429), &format!("{name} key #{index} rate limited; resting {}s", rest.unwrap_or(0))),
            _ => {}
        }
        match result {
            Ok(response) => {
                let response: web_sys::Response = response.unchecked_into();
                if !last && fails_over(response.status()) {
                    log.warn("failover", Some(response.status()), &format!("{name} key #{index} answered {}; trying the next key", response.status()));
                    cancel_body(&response);
                    continue;
                }
                let spare = if keep { Some(spare) } else { spare.discard(); None };
                return Ok(Answered { response, key_index: index, key: key.clone(), spare });
            }
            Err(e) => {
                // fetch rejects with a TypeError, not a string: its message is the reason worth logging.
                last_error = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_default();
                log.warn("key_unreachable", None, &format!("{name} key #{index}: {last_error}"));
            }
        }
    }
    spare.discard();
    Err(last_error)
}
