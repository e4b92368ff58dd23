//! The proxied request: detect, authorize, swap the credential, forward, stream back.
//!
//! Bodies never enter wasm: the inbound `ReadableStream` is handed to the upstream `fetch` and the
//! upstream `Response` is returned as it is (or re-wrapped around the same stream when a header
//! must go), so the runtime moves the bytes and we pay no CPU for them.

use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{console_error, Env};
use worker::web_sys::{self, Headers, RequestInit, RequestRedirect, ResponseInit};

use crate::credentials::{drop_request_header, strip_key_param, strip_websocket_key_protocols, upstream_credential, DROPPED_RESPONSE_HEADERS};
use crate::error_body::{error_body, error_shape, ErrorKind};
use crate::provider::{detect, Detected, Detection, Inbound, Provider};
use crate::token::{self, Refusal, TokenRecord};
use crate::worker_token_store::TokenStore;

/// An error the proxy answers itself, in the shape of the caller's provider.
pub struct ProxyError {
    pub shape: Option<Provider>,
    pub kind: ErrorKind,
    pub message: String,
}

impl ProxyError {
    fn new(shape: Option<Provider>, kind: ErrorKind, message: impl Into<String>) -> Self {
        ProxyError {
            shape,
            kind,
            message: message.into(),
        }
    }

    pub fn into_response(self) -> web_sys::Response {
        json_response(self.kind.status(), &error_body(self.shape, self.kind, &self.message))
    }
}

pub fn json_response(status: u16, body: &str) -> web_sys::Response {
    let headers = Headers::new().expect("Headers");
    let _ = headers.set("content-type", "application/json");
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(Some(body), &init).expect("Response")
}

fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

pub async fn handle(req: web_sys::Request, url: &web_sys::Url, env: &Env) -> web_sys::Response {
    match forward(req, url, env).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn forward(req: web_sys::Request, url: &web_sys::Url, env: &Env) -> Result<web_sys::Response, ProxyError> {
    let inbound = req.headers();
    let path = url.pathname();
    let search = url.search();
    let query = search.strip_prefix('?').unwrap_or(&search);
    let (authorization, x_api_key, x_goog_api_key, anthropic_version, websocket_protocol) = (
        header(&inbound, "authorization"),
        header(&inbound, "x-api-key"),
        header(&inbound, "x-goog-api-key"),
        header(&inbound, "anthropic-version"),
        header(&inbound, "sec-websocket-protocol"),
    );
    let detected = match detect(&Inbound {
        path: &path,
        query,
        authorization: authorization.as_deref(),
        x_api_key: x_api_key.as_deref(),
        x_goog_api_key: x_goog_api_key.as_deref(),
        anthropic_version: anthropic_version.as_deref(),
        websocket_protocol: websocket_protocol.as_deref(),
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
    let shape = error_shape(Some(detected.provider), &detected.upstream_path);
    authorize(&detected, env, shape).await?;

    let provider = detected.provider;
    let key = env
        .secret(provider.secret_name())
        .map(|s| s.to_string())
        .ok()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ProxyError::new(
                shape,
                ErrorKind::Unavailable,
                format!("This proxy has no {} key configured.", provider.display_name()),
            )
        })?;

    let upstream = upstream_url(env, provider, &detected.upstream_path, query);
    let headers = upstream_headers(&inbound, websocket_protocol.as_deref());
    let (name, value) = upstream_credential(provider, &detected.upstream_path, &key);
    let _ = headers.set(name, &value);

    let init = RequestInit::new();
    init.set_method(&req.method());
    init.set_headers(&headers);
    if let Some(body) = req.body() {
        init.set_body(&body);
    }
    init.set_redirect(RequestRedirect::Manual);

    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response = JsFuture::from(global.fetch_with_str_and_init(&upstream, &init))
        .await
        .map_err(|e| {
            // fetch rejects with a TypeError, not a string: its message is the reason worth logging.
            let reason = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string());
            console_error!("upstream {} unreachable: {}", provider.name(), reason.unwrap_or_default());
            ProxyError::new(
                shape,
                ErrorKind::BadGateway,
                format!("The {} API could not be reached through the proxy.", provider.display_name()),
            )
        })?;
    Ok(without_private_headers(response.unchecked_into()))
}

async fn authorize(detected: &Detected, env: &Env, shape: Option<Provider>) -> Result<(), ProxyError> {
    let refused = |kind, message: &str| Err(ProxyError::new(shape, kind, message));
    if !token::is_plausible(&detected.token) {
        return refused(ErrorKind::Unauthenticated, "Invalid api-proxy token.");
    }
    let id = token::hash_token(&detected.token);
    let record = match TokenStore::open(env) {
        Ok(store) => store.get(&id).await,
        Err(e) => Err(e),
    };
    let record = record.map_err(|e| {
        console_error!("token store unavailable: {}", e.0);
        ProxyError::new(shape, ErrorKind::Unavailable, "The token store is unavailable; try again shortly.")
    })?;
    match TokenRecord::authorize(record.as_ref(), detected.provider) {
        Ok(()) => Ok(()),
        Err(Refusal::Unknown) => refused(ErrorKind::Unauthenticated, "Invalid api-proxy token."),
        Err(Refusal::Disabled) => refused(ErrorKind::Unauthenticated, "This api-proxy token has been disabled."),
        Err(Refusal::WrongProvider(p)) => Err(ProxyError::new(
            shape,
            ErrorKind::Forbidden,
            format!("This api-proxy token is not allowed to use {}.", p.display_name()),
        )),
    }
}

fn upstream_url(env: &Env, provider: Provider, path: &str, query: &str) -> String {
    let base = env
        .var(provider.upstream_var())
        .map(|v| v.to_string())
        .ok()
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

fn upstream_headers(inbound: &Headers, websocket_protocol: Option<&str>) -> Headers {
    let headers = Headers::new().expect("Headers");
    if let Ok(Some(entries)) = js_sys::try_iter(inbound) {
        for entry in entries.flatten() {
            let pair: js_sys::Array = entry.unchecked_into();
            let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
                continue;
            };
            if !drop_request_header(&name) {
                let _ = headers.append(&name, &value);
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

/// The upstream response, minus headers that reveal the operator's account. The common case (none
/// present) returns the response untouched; otherwise only the headers are copied, never the body.
fn without_private_headers(response: web_sys::Response) -> web_sys::Response {
    let upstream = response.headers();
    if !DROPPED_RESPONSE_HEADERS.iter().any(|h| upstream.has(h).unwrap_or(false)) {
        return response;
    }
    let headers = Headers::new_with_headers(&upstream).expect("Headers");
    for h in DROPPED_RESPONSE_HEADERS {
        let _ = headers.delete(h);
    }
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_status_text(&response.status_text());
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init).unwrap_or(response)
}
