//! Runtime helpers every glue module uses: the clock, a small body as text, a JSON response.
//! They sit at the bottom, so no glue module imports the entry point or the proxy to get them.

use worker::web_sys::{self, Headers, ResponseInit};

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
