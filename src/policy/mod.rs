//! Per-token limits: the policy and its checks, their admin validation, IP ranges, CORS, and the
//! fixed-window counting behind rate limits and throttles, kept in a Durable Object.

pub mod admin;
pub mod cidr;
pub mod cors;
pub mod fixed_window;
pub mod model_scan;
pub mod rules;

#[cfg(target_arch = "wasm32")]
pub mod limiter;
