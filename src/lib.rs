//! api-proxy: OpenAI, Anthropic and Gemini behind revocable tokens, as a Cloudflare Worker.
//!
//! Pure decisions live in modules that know nothing of the Workers runtime and are unit-tested on
//! the host; the `worker_*` modules are the thin glue that does the I/O (wasm32 only).

pub mod admin_pages;
pub mod cidr;
pub mod cors;
pub mod credentials;
pub mod error_body;
pub mod fixed_window;
pub mod policy;
pub mod policy_admin;
pub mod provider;
pub mod session;
pub mod timestamp;
pub mod token;
pub mod token_admin;
pub mod urlencoded;
pub mod usage;

#[cfg(target_arch = "wasm32")]
mod worker_admin_api;
#[cfg(target_arch = "wasm32")]
mod worker_dashboard;
#[cfg(target_arch = "wasm32")]
mod worker_entry;
#[cfg(target_arch = "wasm32")]
mod worker_limiter;
#[cfg(target_arch = "wasm32")]
mod worker_proxy;
#[cfg(target_arch = "wasm32")]
mod worker_token_store;
