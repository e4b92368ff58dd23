//! The region relay: a Durable Object created in the US jurisdiction, whose own `fetch()` leaves
//! from where it runs. A request an upstream refused for its region is sent once more through it.
//! It keeps no state; it is one hop that forwards the request it is given and streams the answer.

use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{durable_object, DurableObject, Env, ObjectNamespace, Request, Response, Result, State};
use worker::web_sys::{self, RequestInit, RequestRedirect};

use crate::upstream::failover::{request_init, Answered, Outbound, Spare};
use crate::upstream::region;
use crate::proxy::request_log::RequestLog;

pub const BINDING: &str = "REGION_RELAY";
/// The jurisdiction the relay's objects are created in.
pub const JURISDICTION: &str = "us";
/// The var that overrides it. `none` creates the objects without a jurisdiction, placed by the
/// location hint below (best effort): workerd, and so local dev and the tests, refuses
/// jurisdiction-bound namespaces ("Jurisdiction restrictions are not implemented in workerd").
pub const JURISDICTION_VAR: &str = "REGION_RELAY_JURISDICTION";
/// Eastern North America, for objects created without a jurisdiction.
const LOCATION_HINT: &str = "enam";
/// Requests are spread over this many objects, as one object handles its requests one at a time.
const SHARDS: u32 = 8;
/// Set on answers that came through the relay, so a client (and a test) can tell.
pub const RELAYED_HEADER: &str = "x-api-proxy-region-retry";

#[durable_object]
pub struct RegionRelay {
    _state: State,
}

impl DurableObject for RegionRelay {
    fn new(state: State, _env: Env) -> Self {
        RegionRelay { _state: state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let inner: &web_sys::Request = req.inner();
        let init = RequestInit::new();
        init.set_redirect(RequestRedirect::Manual);
        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let response = JsFuture::from(global.fetch_with_request_and_init(inner, &init)).await?;
        Ok(Response::from(response.unchecked_into::<web_sys::Response>()))
    }
}

/// The namespace restricted to `jurisdiction`. workers-rs 0.8 has no wrapper for
/// `namespace.jurisdiction()`, so it is called on the JS object.
fn restricted_namespace(ns: ObjectNamespace, jurisdiction_name: &str) -> Result<ObjectNamespace> {
    let jurisdiction = js_sys::Reflect::get(ns.as_ref(), &JsValue::from_str("jurisdiction"))?;
    let jurisdiction: js_sys::Function = jurisdiction
        .dyn_into()
        .map_err(|_| worker::Error::RustError("this runtime has no DurableObjectNamespace.jurisdiction()".into()))?;
    let restricted = jurisdiction.call1(ns.as_ref(), &JsValue::from_str(jurisdiction_name))?;
    Ok(restricted.unchecked_into())
}

/// Sends `out` with `key` through a relay object; the answer is marked with [`RELAYED_HEADER`]
/// (the jurisdiction, or the location hint).
pub async fn send(env: &Env, out: &Outbound, key: &str, spare: Spare) -> Result<web_sys::Response> {
    let shard = (js_sys::Math::random() * SHARDS as f64) as u32;
    let name = format!("relay-{shard}");
    let ns = env.durable_object(BINDING)?;
    let setting = env.var(JURISDICTION_VAR).map(|v| v.to_string()).unwrap_or_else(|_| JURISDICTION.to_string());
    let (stub, marker) = match setting.trim() {
        "none" => (ns.id_from_name(&name)?.get_stub_with_location_hint(LOCATION_HINT)?, LOCATION_HINT.to_string()),
        j => (restricted_namespace(ns, j)?.id_from_name(&name)?.get_stub()?, j.to_string()),
    };
    let body = spare.into_body();
    let init = request_init(out, key, body.as_ref());
    let req = web_sys::Request::new_with_str_and_init(&out.url, &init)?;
    let answer: web_sys::Response = stub.fetch_with_request(Request::from(req)).await?.into();
    let _ = answer.headers().set(RELAYED_HEADER, &marker);
    Ok(answer)
}

/// The answer to give the client: `answered` as it is, unless it is the provider's region refusal
/// and a copy of the body was kept; then the answer of the same request sent through the relay.
pub async fn unless_refused(env: &Env, out: &Outbound, answered: Answered, log: &RequestLog) -> Result<web_sys::Response> {
    let Answered { response, key, spare, .. } = answered;
    let Some(spare) = spare else { return Ok(response) };
    let spec = out.provider.spec();
    if !region::may_be_refusal(spec, response.status()) || !is_refusal(spec, &response).await {
        spare.discard();
        return Ok(response);
    }
    log.info("region_refused", Some(response.status()), &format!("{} refused this region; sending again through the region relay", spec.name));
    if let Some(body) = response.body() {
        let _ = body.cancel();
    }
    send(env, out, &key, spare).await
}

/// Reads at most the first [`region::MAX_REFUSAL_BODY_BYTES`] of a clone of the (error) body, so
/// the original can still go to the client untouched.
async fn is_refusal(spec: &crate::upstream::table::ProviderSpec, response: &web_sys::Response) -> bool {
    let Some(body) = response.clone().ok().and_then(|c| c.body()) else { return false };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::new();
    while bytes.len() < region::MAX_REFUSAL_BODY_BYTES {
        let Ok(result) = JsFuture::from(reader.read()).await else { break };
        if js_sys::Reflect::get(&result, &"done".into()).map_or(true, |d| d.is_truthy()) {
            break;
        }
        let Ok(chunk) = js_sys::Reflect::get(&result, &"value".into()) else { break };
        bytes.extend(chunk.unchecked_into::<js_sys::Uint8Array>().to_vec());
    }
    let _ = reader.cancel();
    region::is_refusal(spec, response.status(), &String::from_utf8_lossy(&bytes))
}
