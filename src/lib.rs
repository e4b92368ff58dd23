//! api-proxy: OpenAI, Anthropic and Gemini behind revocable tokens, as a Cloudflare Worker.
//!
//! One folder per concern. In each, the pure decisions know nothing of the Workers runtime and are
//! unit-tested on the host; the glue that does the I/O sits beside them and builds for wasm32 only.
//! `docs/architecture.md` follows a request through these modules.

pub mod admin;
pub mod budget;
pub mod common;
pub mod policy;
pub mod proxy;
pub mod tokens;
pub mod upstream;
pub mod usage;
pub mod websocket;

#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod runtime;
