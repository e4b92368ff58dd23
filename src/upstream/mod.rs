//! The upstreams: the provider table (built-in rows and the operator's), key pools and how a key
//! is chosen, when a request fails over to another key and which requests can be sent twice, and
//! region refusals. The glue beside them runs the failover loop and the US-jurisdiction relay.

pub mod key_health;
pub mod key_pool;
pub mod region;
pub mod registry;
pub mod replay;
pub mod table;

#[cfg(target_arch = "wasm32")]
pub mod failover;
#[cfg(target_arch = "wasm32")]
pub mod region_relay;
