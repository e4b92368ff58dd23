//! Runtime helpers every glue module uses: the clock, a small body as text, a JSON response.
//! They sit at the bottom, so no glue module imports the entry point or the proxy to get them.

use std::cell::RefCell;
use std::collections::HashMap;

use worker::web_sys::{self, Headers, ResponseInit};
use worker::Env;

thread_local! {
    static SETTINGS: RefCell<HashMap<&'static str, Option<String>>> = Default::default();
}

/// A string var or secret, read from `env` once per isolate. Vars and secrets cannot change
/// within an isolate (a new deployment, or a new Miniflare instance in the tests, is a new one),
/// and `env.var` costs five calls across the boundary each time (the lookup, the constructor
/// check, the string). `None` when it is missing or not a string.
pub fn setting(env: &Env, name: &'static str) -> Option<String> {
    if let Some(known) = SETTINGS.with(|s| s.borrow().get(name).cloned()) {
        return known;
    }
    let value = js_sys::Reflect::get(env.as_ref(), &name.into()).ok().and_then(|v| v.as_string());
    SETTINGS.with(|s| s.borrow_mut().insert(name, value.clone()));
    value
}

/// The Worker's clock, in Unix seconds (it stands still during a request, as the runtime keeps it).
pub fn now_unix() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// A request body as text, for the admin side's small JSON and form bodies (never the proxy's).
pub async fn body_text(req: &web_sys::Request) -> Option<String> {
    let promise = req.text().ok()?;
    worker::wasm_bindgen_futures::JsFuture::from(promise).await.ok()?.as_string()
}

pub fn json_response(status: u16, body: &str) -> web_sys::Response {
    let headers = Headers::new().expect("Headers");
    let _ = headers.set("content-type", "application/json");
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(Some(body), &init).expect("Response")
}
