//! The Worker's fetch handler: routes `/health`, `/admin...` and everything else (the proxy).

use worker::web_sys;
use worker::{event, Context, Env, Result};

use crate::admin::{api, dashboard};
use crate::common::request_url;
use crate::proxy::forward;
use crate::runtime::json_response;

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let href = req.url();
    let (path, query) = request_url::path_and_query(&href);
    if path == "/health" {
        return Ok(json_response(200, r#"{"status":"ok"}"#));
    }
    if let Some(rest) = path.strip_prefix("/admin") {
        if let Some(api_path) = rest.strip_prefix("/api/") {
            let response = api::handle(req, &format!("/{api_path}"), &env).await;
            return Ok(dashboard::secure(response));
        }
        if rest.is_empty() || rest.starts_with('/') {
            let url = web_sys::Url::new(&href)?;
            return Ok(dashboard::handle(req, &url, rest, &env).await);
        }
    }
    Ok(forward::handle(req, path, query, &env, &ctx).await)
}
