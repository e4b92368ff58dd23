//! The operator's side: the JSON API, the dashboard, its pages and sessions.

pub mod audit;
pub mod changes;
pub mod flash;
pub mod form_check;
pub mod list;
pub mod pages;
pub mod price_form;
pub mod price_writes;
pub mod session;
pub mod token_writes;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod dashboard;
#[cfg(target_arch = "wasm32")]
pub mod state;
