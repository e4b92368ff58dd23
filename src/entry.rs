//! The Worker's fetch handler: routes `/health`, `/admin...` and everything else (the proxy).

use worker::web_sys;
use worker::{event, Context, Env, Result};

use crate::admin::{api, dashboard};
use crate::common::request_target;
use crate::proxy::forward;
use crate::runtime::json_response;
use crate::usage::consumer;

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    install_providers(&env);
    // The proxy's path and query are substrings of the URL; only the admin and consumer pages,
    // which read its parameters, build a `URL`.
    let href = req.url();
    let (path, query) = request_target::path_and_query(&href);
    if path == "/health" {
        return Ok(json_response(200, r#"{"status":"ok"}"#));
    }
    if path == consumer::PATH {
        let url = web_sys::Url::new(&href)?;
        return Ok(consumer::handle(&req, &url, &env).await);
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

/// Builds this isolate's provider table from `EXTRA_PROVIDERS` on the first request, and logs the
/// rows it left out (once).
fn install_providers(env: &Env) {
    if crate::upstream::registry::installed() {
        return;
    }
    // A string of JSON, or (a TOML table array in [vars]) the value itself.
    let value = js_sys::Reflect::get(env.as_ref(), &crate::upstream::table::EXTRA_PROVIDERS_VAR.into()).ok();
    let extra = value.filter(|v| !v.is_undefined() && !v.is_null()).and_then(|v| {
        v.as_string().or_else(|| js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string()))
    });
    for problem in crate::upstream::registry::install(extra.as_deref()) {
        worker::console_error!("{problem}");
    }
}
