//! The operator's side: the JSON API, the dashboard, its pages and sessions.

pub mod pages;
pub mod session;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod dashboard;
