//! The WebSocket handshake as the proxy forwards it: which request is one, which of its headers
//! travel upstream, which endpoint it opens, and what the client is told in the 101.

use crate::common::urlencoded;
use crate::proxy::provider::{Provider, WS_KEY_PROTOCOL_PREFIX};

/// Whether the request asks to become a WebSocket (`Upgrade: websocket`, any case, possibly among
/// other protocols).
pub fn is_upgrade(upgrade: Option<&str>) -> bool {
    upgrade.is_some_and(|u| u.split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket")))
}

/// Handshake headers the runtime makes itself for the upstream connection: its own key and
/// version, and its own extension offer (compression is negotiated per hop). Forwarding the
/// client's would describe a different connection.
pub const RUNTIME_HANDSHAKE_HEADERS: [&str; 3] = ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"];

/// Upstream 101 headers that describe the upstream hop only. The runtime writes the client's own
/// `upgrade`, `connection` and `sec-websocket-accept`; the subprotocol is set by the proxy from
/// [`negotiated_protocol`].
pub fn keep_response_header(name: &str) -> bool {
    !matches!(
        name,
        "upgrade" | "connection" | "sec-websocket-accept" | "sec-websocket-extensions" | "sec-websocket-protocol" | "content-length" | "transfer-encoding"
    )
}

/// The subprotocol to name in the client's 101: the upstream's choice, if it is one the client
/// offered and not an entry that carries a key. A WebSocket client fails the connection when the
/// server names a protocol it did not offer, and a key entry must never be echoed back.
pub fn negotiated_protocol(offered: Option<&str>, answered: Option<&str>) -> Option<String> {
    let answered = answered?.trim();
    if answered.is_empty() || answered.starts_with(WS_KEY_PROTOCOL_PREFIX) {
        return None;
    }
    offered?.split(',').map(str::trim).any(|p| p == answered).then(|| answered.to_string())
}

/// The WebSocket endpoints the proxy knows by their events (for usage and models). Any other
/// upgrade is still relayed, as opaque messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/realtime?model=...`
    Realtime,
    /// `/v1/responses` over a WebSocket (Codex CLI).
    Responses,
    /// `/ws/google.ai.generativelanguage.{v1beta,v1alpha}.GenerativeService.BidiGenerateContent`
    /// (and `...Constrained`).
    GeminiLive,
    Other,
}

pub fn endpoint(provider: Provider, upstream_path: &str) -> Endpoint {
    let path = upstream_path.trim_end_matches('/');
    match provider {
        Provider::OpenAi if path == "/v1/realtime" => Endpoint::Realtime,
        Provider::OpenAi if path == "/v1/responses" => Endpoint::Responses,
        Provider::Gemini if is_gemini_live(path) => Endpoint::GeminiLive,
        _ => Endpoint::Other,
    }
}

/// `@google/genai` joins its base URL (which ends in `/`) and `/ws/...`, so its Live path starts
/// with `//`; Google's front end takes both, and so does this.
fn is_gemini_live(path: &str) -> bool {
    let Some(rest) = path.trim_start_matches('/').strip_prefix("ws/google.ai.generativelanguage.") else { return false };
    let Some((version, method)) = rest.split_once('.') else { return false };
    version.starts_with('v') && method.starts_with("GenerativeService.BidiGenerateContent")
}

/// Where a WebSocket session names its model, for a token limited to some models.
#[derive(Debug, PartialEq, Eq)]
pub enum HandshakeModel {
    /// Realtime's `?model=`.
    Named(String),
    /// The Responses API (`response.create`) and Gemini Live (`setup`) name it in a message,
    /// which the pump checks before it reaches the upstream.
    InMessages,
    /// Nowhere the proxy can read: refused for such a token.
    Missing,
}

pub fn model_at_handshake(endpoint: Endpoint, query: &str) -> HandshakeModel {
    match endpoint {
        Endpoint::Responses | Endpoint::GeminiLive => HandshakeModel::InMessages,
        _ => model_from_query(endpoint, query).map_or(HandshakeModel::Missing, HandshakeModel::Named),
    }
}

/// The model a handshake names: Realtime's `?model=`.
pub fn model_from_query(endpoint: Endpoint, query: &str) -> Option<String> {
    if endpoint != Endpoint::Realtime {
        return None;
    }
    urlencoded::parse(query)
        .into_iter()
        .find(|(k, _)| k == "model")
        .map(|(_, v)| v)
        .filter(|m| !m.is_empty() && !m.contains(['/', '%']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_is_recognised_in_any_case_and_among_others() {
        assert!(is_upgrade(Some("websocket")));
        assert!(is_upgrade(Some("WebSocket")));
        assert!(is_upgrade(Some("h2c, websocket")));
        assert!(!is_upgrade(Some("h2c")));
        assert!(!is_upgrade(Some("")));
        assert!(!is_upgrade(None));
    }

    #[test]
    fn the_client_hears_the_upstream_choice_only_if_it_offered_it() {
        let offered = Some("realtime, openai-insecure-api-key.apx_tok, openai-beta.realtime-v1");
        assert_eq!(negotiated_protocol(offered, Some("realtime")).as_deref(), Some("realtime"));
        assert_eq!(negotiated_protocol(offered, Some("openai-beta.realtime-v1")).as_deref(), Some("openai-beta.realtime-v1"));
        assert_eq!(negotiated_protocol(offered, Some("other")), None);
        assert_eq!(negotiated_protocol(None, Some("realtime")), None);
        assert_eq!(negotiated_protocol(offered, None), None);
        assert_eq!(negotiated_protocol(offered, Some("")), None);
    }

    #[test]
    fn a_key_entry_is_never_named_back_even_if_offered() {
        let offered = Some("realtime, openai-insecure-api-key.apx_tok");
        assert_eq!(negotiated_protocol(offered, Some("openai-insecure-api-key.apx_tok")), None);
    }

    #[test]
    fn hop_headers_of_the_upstream_101_are_not_copied() {
        for h in ["upgrade", "connection", "sec-websocket-accept", "sec-websocket-extensions", "sec-websocket-protocol"] {
            assert!(!keep_response_header(h), "{h}");
        }
        for h in ["x-request-id", "openai-processing-ms", "date"] {
            assert!(keep_response_header(h), "{h}");
        }
    }

    #[test]
    fn endpoints_are_told_apart_by_provider_and_path() {
        assert_eq!(endpoint(Provider::OpenAi, "/v1/realtime"), Endpoint::Realtime);
        assert_eq!(endpoint(Provider::OpenAi, "/v1/responses"), Endpoint::Responses);
        assert_eq!(endpoint(Provider::OpenAi, "/v1/responses/"), Endpoint::Responses);
        assert_eq!(endpoint(Provider::Gemini, "//ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent"), Endpoint::GeminiLive);
        assert_eq!(endpoint(Provider::Gemini, "/ws/google.ai.generativelanguage.v1beta.GenerativeService.StreamGenerateContent"), Endpoint::Other);
        for version in ["v1beta", "v1alpha"] {
            let path = format!("/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent");
            assert_eq!(endpoint(Provider::Gemini, &path), Endpoint::GeminiLive, "{path}");
            assert_eq!(endpoint(Provider::Gemini, &format!("{path}Constrained")), Endpoint::GeminiLive);
        }
        assert_eq!(endpoint(Provider::OpenAi, "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"), Endpoint::Other);
        assert_eq!(endpoint(Provider::Gemini, "/v1/realtime"), Endpoint::Other);
        assert_eq!(endpoint(Provider::Anthropic, "/v1/messages"), Endpoint::Other);
    }

    #[test]
    fn realtime_names_its_model_in_the_query() {
        assert_eq!(model_from_query(Endpoint::Realtime, "model=gpt-realtime").as_deref(), Some("gpt-realtime"));
        assert_eq!(model_from_query(Endpoint::Realtime, "a=1&model=gpt-4o-realtime-preview-2024-12-17").as_deref(), Some("gpt-4o-realtime-preview-2024-12-17"));
        assert_eq!(model_from_query(Endpoint::Realtime, "model=a%2Fb"), None);
        assert_eq!(model_from_query(Endpoint::Realtime, "model="), None);
        assert_eq!(model_from_query(Endpoint::Realtime, ""), None);
        assert_eq!(model_from_query(Endpoint::Responses, "model=gpt-5"), None);
    }

    #[test]
    fn the_model_is_checked_at_the_handshake_or_in_the_messages() {
        assert_eq!(model_at_handshake(Endpoint::Realtime, "model=gpt-realtime"), HandshakeModel::Named("gpt-realtime".into()));
        assert_eq!(model_at_handshake(Endpoint::Realtime, ""), HandshakeModel::Missing);
        assert_eq!(model_at_handshake(Endpoint::Responses, ""), HandshakeModel::InMessages);
        assert_eq!(model_at_handshake(Endpoint::GeminiLive, "key=x"), HandshakeModel::InMessages);
        assert_eq!(model_at_handshake(Endpoint::Other, "model=x"), HandshakeModel::Missing);
    }
}
