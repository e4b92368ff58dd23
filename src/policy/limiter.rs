//! Counting across all Cloudflare locations: one Durable Object per counted key (a token, or a
//! client's sign-in attempts). A Durable Object exists once worldwide, so its count is global,
//! unlike the per-location Rate Limiting binding; SQLite-backed objects run on the free plan and
//! in local dev (workerd).

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, State};

use crate::policy::fixed_window::{self, Decision, Window};

pub const BINDING: &str = "LIMITER";

#[derive(Serialize, Deserialize)]
struct HitRequest {
    limit: u32,
    window_secs: u64,
    cost: u32,
}

#[durable_object]
pub struct Limiter {
    state: State,
}

impl DurableObject for Limiter {
    fn new(state: State, _env: Env) -> Self {
        Limiter { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let hit: HitRequest = req.json().await?;
        let storage = self.state.storage();
        let stored: Window = storage.get("window").await?.unwrap_or_default();
        let now = crate::runtime::now_unix() as u64;
        let (decision, window) = fixed_window::hit(stored, hit.limit, hit.window_secs, now, hit.cost);
        if window != stored {
            storage.put("window", window).await?;
        }
        Response::from_json(&decision)
    }
}

/// Counts `cost` against `key`'s window; `cost` 0 only looks.
pub async fn hit(env: &Env, key: &str, limit: u32, window_secs: u64, cost: u32) -> Result<Decision> {
    let stub = env.durable_object(BINDING)?.id_from_name(key)?.get_stub()?;
    let body = serde_json::to_string(&HitRequest { limit, window_secs, cost })?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://limiter/hit", &init)?;
    stub.fetch_with_request(req).await?.json().await
}
