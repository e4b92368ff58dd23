//! Usage metering: what each proxied request consumed (tokens, cost), read from the answer as it
//! streams past, and the ledger arithmetic behind the admin API and the dashboard.
//!
//! The pure modules here know nothing of the Workers runtime; they are unit-tested on the host.

pub mod budget_view;
pub mod chart;
pub mod day;
pub mod estimate;
pub mod extract;
pub mod format;
pub mod ledger;
pub mod meter;
pub mod pages;
pub mod prices;
pub mod report;
pub mod request;
pub mod sse;

#[cfg(target_arch = "wasm32")]
pub mod admin_api;
#[cfg(target_arch = "wasm32")]
pub mod consumer;
#[cfg(target_arch = "wasm32")]
pub mod dashboard;
#[cfg(target_arch = "wasm32")]
pub mod ledger_object;
#[cfg(target_arch = "wasm32")]
pub mod tap;
