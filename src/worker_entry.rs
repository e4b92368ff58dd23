//! The Worker's fetch handler: routes `/health`, `/admin...` and everything else (the proxy).

use worker::web_sys;
use worker::{event, Context, Env, Result};

use crate::worker_proxy::json_response;
use crate::{worker_admin_api, worker_dashboard, worker_proxy};

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let url = web_sys::Url::new(&req.url())?;
    let path = url.pathname();
    if path == "/health" {
        return Ok(json_response(200, r#"{"status":"ok"}"#));
    }
    if let Some(rest) = path.strip_prefix("/admin") {
        if let Some(api) = rest.strip_prefix("/api/") {
            let response = worker_admin_api::handle(req, &format!("/{api}"), &env).await;
            return Ok(worker_dashboard::secure(response));
        }
        if rest.is_empty() || rest.starts_with('/') {
            return Ok(worker_dashboard::handle(req, &url, rest, &env).await);
        }
    }
    Ok(worker_proxy::handle(req, &url, &env, &ctx).await)
}

/// A request body as text, for the admin side's small JSON and form bodies (never the proxy's).
pub async fn body_text(req: &web_sys::Request) -> Option<String> {
    let promise = req.text().ok()?;
    worker::wasm_bindgen_futures::JsFuture::from(promise).await.ok()?.as_string()
}

/// The Worker's clock, in Unix seconds (it stands still during a request, as the runtime keeps it).
pub fn now_unix() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}
