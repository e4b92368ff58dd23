//! The proxied request: which provider, where its credentials are, errors in its own shape, and the
//! glue that forwards the request and streams the answer back.

pub mod credentials;
pub mod error_body;
pub mod provider;
pub mod request_log;

#[cfg(target_arch = "wasm32")]
pub mod forward;
#[cfg(target_arch = "wasm32")]
pub mod log;
#[cfg(target_arch = "wasm32")]
pub mod model_gate;
