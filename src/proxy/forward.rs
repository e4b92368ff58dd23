//! The proxied request: detect, authorize, apply the token's policy, swap the credential,
//! forward, stream back.
//!
//! Bodies never enter wasm: the inbound `ReadableStream` is handed to the upstream `fetch` and the
//! upstream `Response` is returned as it is (or re-wrapped around the same stream when a header
//! must change), so the runtime moves the bytes and we pay no CPU for them. The one exception is a
//! token restricted to some models, whose JSON body must be read to find the model.

use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Context, Env};
use worker::web_sys::{self, Headers, ResponseInit};

use crate::proxy::credentials::{connection_listed, drop_request_header_for, strip_key_param, strip_websocket_key_protocols, DROPPED_RESPONSE_HEADERS};
use crate::upstream::failover::{self, Outbound};
use crate::upstream::{region, region_relay, replay};
use crate::proxy::error_body::{error_body, error_shape, ErrorKind};
use crate::policy::rules::{model_from_path, rate_limit_headers, Policy, PolicyRefusal, RequestFacts, MAX_MODEL_BODY_BYTES};
use crate::proxy::model_gate::{self, GateError, Gated};
use crate::proxy::provider::{detect, Detected, Detection, Inbound, Provider};
use crate::proxy::request_log::RequestLog;
use crate::tokens::token::{self, Refusal, TokenRecord};
use crate::runtime::{json_response, now_unix, setting};
use crate::tokens::store::TokenStore;
use crate::common::timestamp;
use crate::policy::cors;
use crate::budget::book::Amount;
use crate::budget::estimate;
use crate::budget::guard::{remaining_headers, Limits, Refused};
use crate::usage::ledger_object::{self, AdmitRequest};
use crate::usage::prices;
use crate::usage::request::{format_of, may_need_usage_rewrite, needs_usage_rewrite, MAX_REWRITE_BODY_BYTES};
use crate::usage::tap::{self, Pending};
use crate::websocket::handshake::{self, HandshakeModel};
use crate::websocket::pump;

type ExtraHeaders = Vec<(&'static str, String)>;

/// An error the proxy answers itself, in the shape of the caller's provider.
pub struct ProxyError {
    pub shape: Option<Provider>,
    pub kind: ErrorKind,
    pub message: String,
    pub headers: ExtraHeaders,
    /// A request body still arriving, read to its end while this answer is sent (see
    /// `model_gate::answer_while_draining`).
    pub unread_body: Option<web_sys::ReadableStream>,
}

impl ProxyError {
    fn new(shape: Option<Provider>, kind: ErrorKind, message: impl Into<String>) -> Self {
        ProxyError {
            shape,
            kind,
            message: message.into(),
            headers: Vec::new(),
            unread_body: None,
        }
    }

    fn policy(shape: Option<Provider>, refusal: PolicyRefusal) -> Self {
        ProxyError::new(shape, refusal.kind(), refusal.message())
    }

    pub fn into_response(self, ctx: &Context) -> web_sys::Response {
        let body = error_body(self.shape, self.kind, &self.message);
        let response = match self.unread_body {
            Some(unread) => model_gate::answer_while_draining(self.kind.status(), &body, unread, ctx),
            None => json_response(self.kind.status(), &body),
        };
        set_headers(&response.headers(), &self.headers);
        response
    }
}

fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

/// Sets each header, except `vary`, which is appended to what is there.
fn set_headers(headers: &Headers, extra: &[(&'static str, String)]) {
    for (name, value) in extra {
        let _ = if *name == "vary" { headers.append(name, value) } else { headers.set(name, value) };
    }
}

pub async fn handle(req: web_sys::Request, path: &str, query: &str, env: &Env, ctx: &Context) -> web_sys::Response {
    let origin = header(&req.headers(), "origin").filter(|o| !o.is_empty());
    if let Some(origin) = &origin {
        let request_method = header(&req.headers(), "access-control-request-method");
        if cors::is_preflight(&req.method(), Some(origin), request_method.as_deref()) {
            let requested = header(&req.headers(), "access-control-request-headers");
            return preflight(origin, requested.as_deref());
        }
    }
    // A browser page may read whatever we answer, errors included, so it can show why it failed.
    let cors_headers = origin.as_deref().map(cors::response_headers).unwrap_or_default();
    let mut log = RequestLog::for_request(header(&req.headers(), "cf-ray").as_deref());
    match forward(req, path, query, origin.as_deref(), env, ctx, &mut log).await {
        Ok((response, mut extra, pending)) => {
            log.info("forwarded", Some(response.status()), "");
            extra.extend(cors_headers);
            let metered = pending.and_then(|p| tap::meter(p, &response, env, ctx));
            finish(response, &extra, metered)
        }
        Err(mut e) => {
            log_refusal(&log, &e);
            e.headers.extend(cors_headers);
            e.into_response(ctx)
        }
    }
}

/// One line per answer the proxy makes itself: a 4xx is the client's to fix, a 5xx the operator's.
fn log_refusal(log: &RequestLog, e: &ProxyError) {
    let status = e.kind.status();
    if status >= 500 {
        log.warn("refused", Some(status), &e.message);
    } else {
        log.info("refused", Some(status), &e.message);
    }
}

/// Answered before any token check: a preflight carries no credentials.
fn preflight(origin: &str, requested: Option<&str>) -> web_sys::Response {
    let headers = Headers::new().expect("Headers");
    set_headers(&headers, &cors::preflight_headers(origin, requested));
    let init = ResponseInit::new();
    init.set_status(204);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(None, &init).expect("Response")
}

/// Forwards the request; on success returns the upstream response, the headers to set on it and
/// what the usage meter must know of the request (`None` with metering off).
async fn forward(
    req: web_sys::Request,
    path: &str,
    query: &str,
    origin: Option<&str>,
    env: &Env,
    ctx: &Context,
    log: &mut RequestLog,
) -> Result<(web_sys::Response, ExtraHeaders, Option<Pending>), ProxyError> {
    let inbound = req.headers();
    let signal = js_sys::Reflect::get(&req, &"signal".into()).unwrap_or(JsValue::UNDEFINED);
    let xi_api_key = header(&inbound, "xi-api-key");
    let (authorization, x_api_key, x_goog_api_key, anthropic_version, websocket_protocol) = (
        header(&inbound, "authorization"),
        header(&inbound, "x-api-key"),
        header(&inbound, "x-goog-api-key"),
        header(&inbound, "anthropic-version"),
        header(&inbound, "sec-websocket-protocol"),
    );
    let detected = match detect(&Inbound {
        path,
        query,
        authorization: authorization.as_deref(),
        x_api_key: x_api_key.as_deref(),
        x_goog_api_key: x_goog_api_key.as_deref(),
        anthropic_version: anthropic_version.as_deref(),
        websocket_protocol: websocket_protocol.as_deref(),
        xi_api_key: xi_api_key.as_deref(),
    }) {
        Detection::Found(d) => d,
        Detection::NoCredential(provider) => {
            return Err(ProxyError::new(
                provider,
                ErrorKind::Unauthenticated,
                "Missing api-proxy token. Send your token where your SDK sends its API key.",
            ))
        }
    };
    log.set_provider(detected.provider);
    log.redact(&detected.token);
    let shape = error_shape(Some(detected.provider), &detected.upstream_path);
    let (id, record) = authorize(&detected, env, shape, log).await?;
    let policy = &record.policy;
    let client_ip = header(&inbound, "cf-connecting-ip");
    policy
        .check(&RequestFacts {
            now_unix: now_unix(),
            client_ip: client_ip.as_deref(),
            origin,
            upstream_path: &detected.upstream_path,
        })
        .map_err(|r| ProxyError::policy(shape, r))?;
    let websocket = handshake::is_upgrade(header(&inbound, "upgrade").as_deref());
    let endpoint = handshake::endpoint(detected.provider, &detected.upstream_path);
    let limits = Limits::of(policy);
    let budgeted = !limits.budgets.is_empty();
    // A WebSocket session's usage is summed by the pump, not by the answer's tap. A budget
    // settles from the meter, so a budgeted token is metered even with metering off.
    let metering = (metering_on(env) || budgeted) && !websocket;
    let body = if websocket {
        let checked = match handshake::model_at_handshake(endpoint, query) {
            HandshakeModel::Named(model) => policy.check_model(Some(&model)),
            HandshakeModel::InMessages => Ok(()),
            HandshakeModel::Missing => policy.check_model(None),
        };
        checked.map_err(|r| ProxyError::policy(shape, r))?;
        Body::Plain(None)
    } else {
        request_body(&req, policy, &detected, shape).await?
    };
    let format = format_of(detected.provider.usage_format(), &detected.upstream_path);
    let rewrite = metering && may_need_usage_rewrite(&req.method(), format);
    let body = match body {
        // A budget's worst case wants a JSON body's output cap and model; other bodies (audio,
        // multipart uploads) go as they are, with the model's caps as their worst case.
        Body::Plain(plain) if rewrite || (budgeted && is_json(&inbound)) => read_json_body(&req, plain, shape, rewrite).await?,
        body => Prepared::as_is(body),
    };
    let request_bytes = header(&inbound, "content-length").and_then(|l| l.parse::<u64>().ok());
    let request_model = body.model.clone().or_else(|| model_from_path(detected.provider, &detected.upstream_path).map(str::to_string));
    // A WebSocket session reserves nothing: it needs something left, and settles when it ends.
    let worst = if budgeted && !websocket {
        Some(worst_case(env, log, request_bytes, body.requested_output, request_model.as_deref()).await)
    } else {
        None
    };
    let mut held = Held { ctx, env, token_id: id.clone(), reservation: None };
    let extra = admit(&id, limits, worst, env, shape, log, &mut held).await?;
    note_use(id.clone(), env, ctx, log.clone());

    let provider = detected.provider;
    let not_configured = || {
        ProxyError::new(
            shape,
            ErrorKind::Unavailable,
            format!("This proxy has no {} key configured.", provider.display_name()),
        )
    };
    let pool = failover::pool(env, provider).ok_or_else(not_configured)?;
    for key in &pool.keys {
        log.redact(&key.key);
    }

    let unreachable = || {
        ProxyError::new(
            shape,
            ErrorKind::BadGateway,
            format!("The {} API could not be reached through the proxy.", provider.display_name()),
        )
    };
    // What the meter needs once the answer has been chosen (after failover and the region relay).
    let rewrote_include_usage = body.rewrote_include_usage;
    let pending = metering.then(|| Pending {
        token_id: id.clone(),
        provider: provider.name(),
        usage: provider.usage_format(),
        upstream_path: detected.upstream_path.clone(),
        request_model,
        request_bytes,
        rewrote_include_usage,
        at: now_unix(),
        signal,
        log: log.clone(),
        reservation: None,
    });
    let body = match body.body {
        Body::Plain(body) => body,
        Body::Gated(gate) => {
            let out = outbound(&req, url_parts(env, &detected, query), &inbound, websocket_protocol.as_deref(), provider, &detected, false, false);
            let response = send_gated(&out, gate, &pool, policy, shape, log).await?;
            return Ok((response, extra, settled_by(pending, held)));
        }
    };
    let has_body = body.is_some();
    // Bytes already read (a model-restricted token's short body) can always be sent again.
    let replayable = body.as_ref().is_some_and(|b| !b.is_instance_of::<web_sys::ReadableStream>())
        || replay::replayable(has_body, header(&inbound, "content-length").as_deref());
    let region_retry = region::retry_enabled(provider.spec(), setting(env, region::REGION_RETRY_VAR).as_deref());
    let out = outbound(&req, url_parts(env, &detected, query), &inbound, websocket_protocol.as_deref(), provider, &detected, replayable, websocket);
    if rewrote_include_usage {
        // The body changed length; fetch sets the new one.
        let _ = out.headers.delete("content-length");
    }
    let answered = failover::send(&out, body, &pool, region_retry, log).await.map_err(|reason| {
        log.error("upstream_unreachable", &reason);
        unreachable()
    })?;
    let response = region_relay::unless_refused(env, &out, answered, log).await.map_err(|e| {
        log.error("region_relay_failed", &e.to_string());
        unreachable()
    })?;
    if let Some(socket) = websocket.then(|| pump::upstream_socket(&response)).flatten() {
        let session = pump::Session {
            token_id: id,
            provider,
            endpoint,
            model_policy: policy.restricts_models().then(|| policy.clone()),
            model: handshake::model_from_query(endpoint, query),
            at: now_unix(),
            metered: metering_on(env),
            log: log.clone(),
        };
        let opened = pump::open(&response, socket, websocket_protocol.as_deref(), session, env).map_err(|e| {
            log.error("websocket_not_started", &e.as_string().unwrap_or_default());
            ProxyError::new(shape, ErrorKind::BadGateway, "The WebSocket session could not be relayed.")
        })?;
        return Ok((opened, extra, None));
    }
    Ok((response, extra, settled_by(pending, held)))
}

/// The meter's ledger entry settles the reservation from now on.
fn settled_by(pending: Option<Pending>, held: Held) -> Option<Pending> {
    let mut pending = pending?;
    pending.reservation = held.keep();
    Some(pending)
}

/// A budget reservation the request holds until its answer is metered. Dropped unkept (the
/// request failed before an upstream answered), it is given back from `waitUntil`.
struct Held<'a> {
    ctx: &'a Context,
    env: &'a Env,
    token_id: String,
    reservation: Option<u64>,
}

impl Held<'_> {
    fn keep(mut self) -> Option<u64> {
        self.reservation.take()
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let Some(reservation) = self.reservation.take() else { return };
        let (env, token_id) = (self.env.clone(), std::mem::take(&mut self.token_id));
        self.ctx.wait_until(async move {
            if let Err(e) = ledger_object::release(&env, &token_id, reservation).await {
                // It expires on its own (`RESERVATION_TTL_SECS`).
                worker::console_error!("releasing a budget reservation failed: {e}");
            }
        });
    }
}

/// The request's worst case, priced with the operator's overrides. A model the proxy could not
/// read (a body too long to read first) is priced at the dearest known rates.
async fn worst_case(env: &Env, log: &RequestLog, length: Option<u64>, requested: Option<u64>, model: Option<&str>) -> Amount {
    let overrides = tap::price_overrides(env, log).await;
    let price = match model {
        Some(m) => prices::lookup(m, &overrides),
        None => estimate::dearest(prices::all(&overrides)),
    };
    estimate::worst_amount(length, requested, model, price.as_ref())
}

/// Usage metering is on unless the `USAGE_METERING` var says `off` (for measuring its cost).
fn metering_on(env: &Env) -> bool {
    setting(env, "USAGE_METERING").is_none_or(|v| v != "off")
}

/// The body to send, with what preparing it taught the usage meter.
struct Prepared {
    body: Body,
    /// The body's `model`, when the proxy parsed the body.
    model: Option<String>,
    /// The largest output cap the parsed body asked for.
    requested_output: Option<u64>,
    rewrote_include_usage: bool,
}

impl Prepared {
    fn as_is(body: Body) -> Prepared {
        Prepared { body, model: None, requested_output: None, rewrote_include_usage: false }
    }
}

fn js_call(obj: &JsValue, name: &str, arg: &JsValue) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = js_sys::Reflect::get(obj, &name.into())?.dyn_into()?;
    f.call1(obj, arg)
}

/// Reads a JSON body in the runtime (the text never enters wasm) for its model and output caps
/// (a budget's worst case) and, with `rewrite`, for an OpenAI chat streaming request that did not
/// ask for usage, rewrites it with `stream_options.include_usage: true`. `prior` is the body as the policy left it: the bytes `model_gate` read whole (a
/// model-scoped body within its pre-read), or the untouched stream, which is read only with a
/// declared length up to `MAX_REWRITE_BODY_BYTES`. Bigger or undeclared ones, and a model-scoped
/// body long enough to be checked while it streams (`Body::Gated`, never passed here), are
/// forwarded untouched and their usage is estimated.
async fn read_json_body(req: &web_sys::Request, prior: Option<JsValue>, shape: Option<Provider>, rewrite: bool) -> Result<Prepared, ProxyError> {
    let unreadable = |_| ProxyError::new(shape, ErrorKind::BadRequest, "The request body could not be read.");
    let untouched = |body| Ok(Prepared::as_is(Body::Plain(body)));
    let Some(source) = prior else { return untouched(None) };
    let global = js_sys::global();
    let text = if source.is_instance_of::<js_sys::Uint8Array>() {
        let decoder_class: js_sys::Function = js_sys::Reflect::get(&global, &"TextDecoder".into()).map_err(unreadable)?.unchecked_into();
        let decoder = js_sys::Reflect::construct(&decoder_class, &js_sys::Array::new()).map_err(unreadable)?;
        js_call(&decoder, "decode", &source).map_err(unreadable)?
    } else {
        let declared = header(&req.headers(), "content-length").and_then(|l| l.parse::<usize>().ok());
        if !declared.is_some_and(|l| l <= MAX_REWRITE_BODY_BYTES) {
            return untouched(Some(source));
        }
        JsFuture::from(req.text().map_err(unreadable)?).await.map_err(unreadable)?
    };
    // Unchanged, the bytes go as they came (the ones read, or the text that replaced the stream).
    let original = if source.is_instance_of::<js_sys::Uint8Array>() { source.clone() } else { text.clone() };
    let keep = |model, requested_output| Ok(Prepared { body: Body::Plain(Some(original)), model, requested_output, rewrote_include_usage: false });
    let json = js_sys::Reflect::get(&global, &"JSON".into()).map_err(unreadable)?;
    let Some(parsed) = js_call(&json, "parse", &text).ok().filter(|v| v.is_object() && !js_sys::Array::is_array(v)) else {
        // Not a JSON object: the upstream answers it as it would.
        return keep(None, None);
    };
    let get = |obj: &JsValue, key: &str| js_sys::Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED);
    let nested = |outer: &str, key: &str| {
        let o = get(&parsed, outer);
        if o.is_object() { get(&o, key).as_f64() } else { None }
    };
    let model = get(&parsed, "model").as_string();
    let requested_output = estimate::requested_output(&[
        get(&parsed, "max_tokens").as_f64(),
        get(&parsed, "max_output_tokens").as_f64(),
        get(&parsed, "max_completion_tokens").as_f64(),
        nested("generationConfig", "maxOutputTokens"),
        nested("generation_config", "max_output_tokens"),
    ]);
    let options = get(&parsed, "stream_options");
    let include_usage = options.is_object().then(|| get(&options, "include_usage").as_bool()).flatten();
    if !rewrite || !needs_usage_rewrite(get(&parsed, "stream").as_bool(), include_usage) {
        return keep(model, requested_output);
    }
    let options = if options.is_object() { options } else { js_sys::Object::new().into() };
    let _ = js_sys::Reflect::set(&options, &"include_usage".into(), &JsValue::TRUE);
    let _ = js_sys::Reflect::set(&parsed, &"stream_options".into(), &options);
    let body = js_call(&json, "stringify", &parsed).map_err(unreadable)?;
    Ok(Prepared { body: Body::Plain(Some(body)), model, requested_output, rewrote_include_usage: true })
}

fn url_parts(env: &Env, detected: &Detected, query: &str) -> String {
    upstream_url(env, detected.provider, &detected.upstream_path, query)
}

fn outbound(
    req: &web_sys::Request,
    url: String,
    inbound: &Headers,
    websocket_protocol: Option<&str>,
    provider: Provider,
    detected: &Detected,
    replayable: bool,
    websocket: bool,
) -> Outbound {
    Outbound {
        provider,
        url,
        method: req.method(),
        headers: upstream_headers(inbound, websocket_protocol, provider, websocket),
        upstream_path: detected.upstream_path.clone(),
        replayable,
    }
}

/// A model-scoped body checked while it streams: one attempt (a stream cannot be sent twice),
/// with the pool's first usable key, and the upstream's answer only after the model is allowed.
async fn send_gated(
    out: &Outbound,
    gate: model_gate::Streaming,
    pool: &crate::upstream::key_pool::KeyPool,
    policy: &Policy,
    shape: Option<Provider>,
    log: &RequestLog,
) -> Result<web_sys::Response, ProxyError> {
    let key = &pool.keys[failover::pick(out.provider, pool)].key;
    let init = failover::request_init(out, key, Some(&gate.upstream_body().into()));
    init.set_signal(Some(&gate.signal()));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let pending = JsFuture::from(global.fetch_with_str_and_init(&out.url, &init));
    // The upstream's answer waits for the decision, so a refused model never reaches the client.
    if let Err(e) = gate.run(policy).await {
        let _ = pending.await; // aborted: settles at once
        return Err(gate_error(shape, e));
    }
    let response = pending.await.map_err(|e| {
        // fetch rejects with a TypeError, not a string: its message is the reason worth logging.
        let reason = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string());
        log.error("upstream_unreachable", &reason.unwrap_or_default());
        ProxyError::new(shape, ErrorKind::BadGateway, format!("The {} API could not be reached through the proxy.", out.provider.display_name()))
    })?;
    Ok(response.unchecked_into())
}

/// What goes upstream as the body.
enum Body {
    /// The inbound stream, untouched, or the bytes read to check the model; `None` for no body.
    Plain(Option<JsValue>),
    /// A model-scoped body too long to read first: checked while it streams (see `model_gate`).
    Gated(model_gate::Streaming),
}

/// The body to forward: the inbound stream, untouched, unless the token restricts models and the
/// path does not name one; then `model_gate` finds the JSON body's `model`. A GET or HEAD forwards
/// none: `fetch` refuses one with a body, and a client's `Content-Length: 0` or empty chunked body
/// would otherwise be a 502.
async fn request_body(
    req: &web_sys::Request,
    policy: &Policy,
    detected: &Detected,
    shape: Option<Provider>,
) -> Result<Body, ProxyError> {
    let stream = if has_no_body(&req.method()) { None } else { req.body() };
    if !policy.restricts_models() {
        return Ok(Body::Plain(stream.map(JsValue::from)));
    }
    if let Some(model) = model_from_path(detected.provider, &detected.upstream_path) {
        policy.check_model(Some(model)).map_err(|r| ProxyError::policy(shape, r))?;
        return Ok(Body::Plain(stream.map(JsValue::from)));
    }
    let declared = header(&req.headers(), "content-length").and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > MAX_MODEL_BODY_BYTES) {
        // Refused at once, before the body has arrived; it is read to its end while the answer is
        // sent, so that a client still sending it reads the 413 rather than a reset connection.
        let mut refused = ProxyError::policy(shape, PolicyRefusal::BodyTooLarge);
        refused.unread_body = stream;
        return Err(refused);
    }
    let Some(body) = stream else {
        return policy.check_model(None).map(|()| Body::Plain(None)).map_err(|r| ProxyError::policy(shape, r));
    };
    match model_gate::open(body, policy).await {
        Ok(Gated::Whole(bytes)) => Ok(Body::Plain(Some(bytes.into()))),
        Ok(Gated::Streaming(streaming)) => Ok(Body::Gated(streaming)),
        Err(e) => Err(gate_error(shape, e)),
    }
}

fn gate_error(shape: Option<Provider>, e: GateError) -> ProxyError {
    match e {
        GateError::Refused(refusal) => ProxyError::policy(shape, refusal),
        GateError::Unreadable => ProxyError::new(shape, ErrorKind::BadRequest, "The request body could not be read."),
    }
}

fn is_json(headers: &Headers) -> bool {
    header(headers, "content-type").is_some_and(|t| t.to_ascii_lowercase().contains("json"))
}

fn has_no_body(method: &str) -> bool {
    method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD")
}

/// Decides the request in the token's ledger object when it has limits there (a rate limit, a
/// budget): the admin's word on the token, the rate limit and the budget's reservation, in one
/// call. Returns the headers for the answer; the reservation goes into `held`. Tokens without
/// limits make no call. Limits that cannot be checked refuse (503) rather than let the token run
/// unlimited.
async fn admit(id: &str, limits: Limits, worst: Option<Amount>, env: &Env, shape: Option<Provider>, log: &RequestLog, held: &mut Held<'_>) -> Result<ExtraHeaders, ProxyError> {
    if !limits.any() {
        return Ok(Vec::new());
    }
    let verdict = ledger_object::admit(env, id, &AdmitRequest { limits, worst }).await.map_err(|e| {
        log.error("token_limits_unavailable", &e.to_string());
        ProxyError::new(shape, ErrorKind::Unavailable, "This token's limits (rate limit, budget) cannot be checked right now; try again shortly.")
    })?;
    held.reservation = verdict.reservation;
    let mut headers = verdict.rate.as_ref().map(rate_limit_headers).unwrap_or_default();
    if !limits.budgets.is_empty() {
        headers.extend(remaining_headers(&verdict.remaining));
    }
    let refused = match verdict.refused {
        None => return Ok(headers),
        Some(Refused::Disabled) => ProxyError::new(shape, ErrorKind::Unauthenticated, "This api-proxy token has been disabled."),
        Some(Refused::Deleted) => ProxyError::new(shape, ErrorKind::Unauthenticated, "Invalid api-proxy token."),
        Some(Refused::RateLimited { limit }) => {
            let decision = verdict.rate.expect("a rate refusal carries its count");
            ProxyError::policy(shape, PolicyRefusal::rate_limited(&limit, &decision))
        }
        Some(Refused::Budget { message }) => {
            // Retrying will not help before the period resets; the SDKs that honour this stop.
            headers.push(("x-should-retry", "false".to_string()));
            ProxyError::new(shape, ErrorKind::QuotaExceeded, message)
        }
        // Not a quota that frees up: the operator must price the model.
        Some(Refused::Unpriced { message }) => ProxyError::new(shape, ErrorKind::Forbidden, message),
    };
    Err(ProxyError { headers, ..refused })
}

/// Checks the token; on success returns its id (the hash) and record.
async fn authorize(detected: &Detected, env: &Env, shape: Option<Provider>, log: &mut RequestLog) -> Result<(String, TokenRecord), ProxyError> {
    let refused = |kind, message: &str| Err(ProxyError::new(shape, kind, message));
    if !token::is_plausible(&detected.token) {
        return refused(ErrorKind::Unauthenticated, "Invalid api-proxy token.");
    }
    let id = token::hash_token(&detected.token);
    log.set_token_id(&id);
    let record = TokenStore::get_for_request(env, &id, js_sys::Date::now()).await.map_err(|e| {
        if e.is_damaged() {
            log.error("token_record_unreadable", &e.0);
            // Fail closed, and say so: retrying will not help.
            ProxyError::new(shape, ErrorKind::Unauthenticated, "This api-proxy token's stored record is unreadable; ask the operator to recreate it.")
        } else {
            log.error("token_store_unavailable", &e.0);
            ProxyError::new(shape, ErrorKind::Unavailable, "The token store is unavailable; try again shortly.")
        }
    })?;
    match TokenRecord::authorize(record.as_ref(), detected.provider) {
        Ok(()) => Ok((id, record.expect("authorized records exist"))),
        Err(Refusal::Unknown) => refused(ErrorKind::Unauthenticated, "Invalid api-proxy token."),
        Err(Refusal::Disabled) => refused(ErrorKind::Unauthenticated, "This api-proxy token has been disabled."),
        Err(Refusal::WrongProvider(p)) => Err(ProxyError::new(
            shape,
            ErrorKind::Forbidden,
            format!("This api-proxy token is not allowed to use {}.", p.display_name()),
        )),
    }
}

thread_local! {
    /// Tokens whose last-used day this isolate has already recorded, with that day. Isolate-local
    /// on purpose: it only saves KV reads, and losing it costs one more read, never a wrong answer.
    static RECORDED_USE: std::cell::RefCell<std::collections::HashMap<String, String>> = Default::default();
}

/// Records the day a token was last used, at most once per token and day, off the response path:
/// the write happens in `wait_until`, after a KV read shows the stored day is older.
fn note_use(id: String, env: &Env, ctx: &Context, log: RequestLog) {
    let today = timestamp::format_date(now_unix());
    let fresh = RECORDED_USE.with(|seen| {
        let mut seen = seen.borrow_mut();
        if seen.get(&id) == Some(&today) {
            return false;
        }
        seen.insert(id.clone(), today.clone());
        true
    });
    if !fresh {
        return;
    }
    let Ok(store) = TokenStore::open(env) else { return };
    ctx.wait_until(async move {
        match store.last_used(&id).await {
            Ok(Some(day)) if day >= today => {}
            Ok(_) => {
                if let Err(e) = store.set_last_used(&id, &today).await {
                    log.error("recording_last_use_failed", &e.0);
                }
            }
            Err(e) => log.error("reading_last_use_failed", &e.0),
        }
    });
}

fn upstream_url(env: &Env, provider: Provider, path: &str, query: &str) -> String {
    let base = setting(env, provider.upstream_var())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| provider.default_upstream().to_string());
    let query = strip_key_param(query);
    let base = base.trim_end_matches('/');
    if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{query}")
    }
}

/// The inbound headers copied by the runtime in one call, then the dropped ones deleted from the
/// copy: only the names cross into wasm, and only the dropped names cross back (appending each kept
/// header crossed the boundary six times per header).
fn upstream_headers(inbound: &Headers, websocket_protocol: Option<&str>, provider: Provider, websocket: bool) -> Headers {
    let headers = Headers::new_with_headers(inbound).expect("Headers");
    let mut hop_by_hop = connection_listed(header(inbound, "connection").as_deref());
    if websocket {
        // `Connection: Upgrade` names it, but the upgrade is what must reach the upstream; the
        // runtime makes its own key, version and extension offer for that hop.
        hop_by_hop.retain(|h| h != "upgrade");
        hop_by_hop.extend(handshake::RUNTIME_HANDSHAKE_HEADERS.map(String::from));
    }
    if let Ok(Some(names)) = js_sys::try_iter(&inbound.keys()) {
        for name in names.flatten() {
            let Some(name) = name.as_string() else { continue };
            if drop_request_header_for(provider, &name) || hop_by_hop.contains(&name) {
                let _ = headers.delete(&name);
            }
        }
    }
    if let Some(protocols) = websocket_protocol {
        match strip_websocket_key_protocols(protocols) {
            Some(kept) => headers.set("sec-websocket-protocol", &kept).ok(),
            None => headers.delete("sec-websocket-protocol").ok(),
        };
    }
    headers
}

/// The upstream response without the headers that reveal the operator's account, with `extra`
/// set. When there is nothing to change the response is returned untouched; otherwise (real
/// OpenAI answers carry `openai-organization` and `set-cookie`, so this is the usual path there)
/// only the headers are copied, never the body.
/// `metered`: the body to send instead of the upstream's (the usage meter's stream).
fn finish(response: web_sys::Response, extra: &[(&'static str, String)], metered: Option<web_sys::ReadableStream>) -> web_sys::Response {
    let upstream = response.headers();
    let private = DROPPED_RESPONSE_HEADERS.iter().any(|h| upstream.has(h).unwrap_or(false));
    if !private && extra.is_empty() && metered.is_none() {
        return response;
    }
    let headers = Headers::new_with_headers(&upstream).expect("Headers");
    for h in DROPPED_RESPONSE_HEADERS {
        let _ = headers.delete(h);
    }
    set_headers(&headers, extra);
    if let Some(socket) = pump::upstream_socket(&response) {
        return pump::response_with_socket(response.status(), &headers, &socket).unwrap_or(response);
    }
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_status_text(&response.status_text());
    init.set_headers(&headers);
    let body = metered.or_else(|| response.body());
    web_sys::Response::new_with_opt_readable_stream_and_init(body.as_ref(), &init).unwrap_or(response)
}
