//! The Worker's fetch handler: routes `/health`, `/admin...` and everything else (the proxy).

use worker::web_sys;
use worker::{event, Context, Env, Result};

use crate::admin::{api, dashboard};
use crate::proxy::forward;
use crate::runtime::json_response;

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let url = web_sys::Url::new(&req.url())?;
    let path = url.pathname();
    if path == "/health" {
        return Ok(json_response(200, r#"{"status":"ok"}"#));
    }
    if let Some(rest) = path.strip_prefix("/admin") {
        if let Some(api_path) = rest.strip_prefix("/api/") {
            let response = api::handle(req, &format!("/{api_path}"), &env).await;
            return Ok(dashboard::secure(response));
        }
        if rest.is_empty() || rest.starts_with('/') {
            return Ok(dashboard::handle(req, &url, rest, &env).await);
        }
    }
    Ok(forward::handle(req, &url, &env, &ctx).await)
}
