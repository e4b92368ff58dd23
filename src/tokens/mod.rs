//! Tokens: their format and stored record, the admin's input for them, and their store in KV.

pub mod admin;
pub mod cache_bound;
pub mod token;

#[cfg(target_arch = "wasm32")]
pub mod store;
