//! WebSocket sessions through the proxy: OpenAI Realtime, the Responses API over WebSocket and
//! Gemini Live. The handshake goes through the same gate as any HTTP request (`proxy::forward`);
//! what is WebSocket-specific lives here: which handshake headers travel, which subprotocol the
//! client is told, how close codes cross the proxy, what usage the provider reports in its events,
//! and (glue) the pump that relays messages between the client and the upstream socket.

pub mod close;
pub mod events;
pub mod handshake;
pub mod recheck;

#[cfg(target_arch = "wasm32")]
pub mod pump;
