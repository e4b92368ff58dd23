//! Which inbound headers never reach an upstream, which upstream headers never reach the client,
//! and where the one real key goes.

use crate::proxy::provider::{is_gemini_openai_compat, Provider, WS_KEY_PROTOCOL_PREFIX};
use crate::upstream::table::KeySlot;

/// Every header a client may put a credential in. All are removed on every request, whichever one
/// held the token, so a second credential can never ride along to the provider. `api-key` is
/// Azure OpenAI's slot: removed whatever the provider, as an upstream behind a gateway might read it.
pub const CREDENTIAL_HEADERS: [&str; 6] = ["authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "xi-api-key", "api-key"];

/// Headers that would tell the provider about the client (address, cookies, the page it runs on)
/// or that only make sense on one hop. `host` is set by the runtime from the upstream URL. The
/// proxy enforces a token's browser origins itself, so `origin` need not travel on.
const PRIVATE_OR_HOP_HEADERS: [&str; 14] = [
    "cookie",
    "origin",
    "referer",
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "via",
];

/// Whether an inbound request header must be dropped before forwarding. `name` is lowercase, as
/// the Fetch API's `Headers` iterates it.
pub fn drop_request_header(name: &str) -> bool {
    CREDENTIAL_HEADERS.contains(&name)
        || PRIVATE_OR_HOP_HEADERS.contains(&name)
        || name.starts_with("cf-")
        || name.starts_with("x-forwarded-")
}

/// The header names a client's `Connection` header lists. They are hop-by-hop for that one
/// connection (RFC 9110, 7.6.1), so they are not forwarded either. Lowercase, as `Headers`
/// iterates names.
pub fn connection_listed(connection: Option<&str>) -> Vec<String> {
    connection
        .unwrap_or("")
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Upstream response headers that reveal the operator's account, or set state in the client that
/// belongs to the provider.
pub const DROPPED_RESPONSE_HEADERS: [&str; 4] =
    ["set-cookie", "openai-organization", "openai-project", "anthropic-organization-id"];

/// The header the upstream reads the key from, and the value to put there.
pub fn upstream_credential(provider: Provider, upstream_path: &str, key: &str) -> (&'static str, String) {
    match provider.key_slot() {
        KeySlot::Bearer => ("authorization", format!("Bearer {key}")),
        KeySlot::GoogleApiKey if is_gemini_openai_compat(upstream_path) => ("authorization", format!("Bearer {key}")),
        KeySlot::GoogleApiKey => ("x-goog-api-key", key.to_string()),
        KeySlot::Header(name) => (name, key.to_string()),
    }
}

/// Whether an inbound header must be dropped for this provider: the generic rule, plus the
/// header an operator's provider reads its key from (e.g. Azure's `api-key`), so a client's value
/// there never rides along.
pub fn drop_request_header_for(provider: Provider, name: &str) -> bool {
    drop_request_header(name) || matches!(provider.key_slot(), KeySlot::Header(h) if h == name)
}

/// The query string without any credential parameter; everything else stays byte for byte, in
/// order.
///
/// A parameter is a credential when its name, percent-decoded and compared ignoring case, is one
/// of [`CREDENTIAL_PARAMS`] (`KEY=`, `%6Bey=`, and `key%3D...`, whose decoded name holds the `=`). `;` separates
/// parameters too, as some servers read it, so `a=1;key=x` loses `key=x` and keeps `a=1`.
pub fn strip_key_param(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for pair in query.split('&') {
        let kept: Vec<&str> = pair.split(';').filter(|p| !p.is_empty() && !is_key_param(p)).collect();
        if kept.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&kept.join(";"));
    }
    out
}

fn is_key_param(param: &str) -> bool {
    let raw_name = param.split_once('=').map_or(param, |(name, _)| name);
    let name = crate::common::urlencoded::decode(raw_name);
    let name = name.split_once('=').map_or(name.as_str(), |(name, _)| name);
    let name = name.trim();
    CREDENTIAL_PARAMS.iter().any(|c| name.eq_ignore_ascii_case(c))
}

/// Query parameters that carry a credential somewhere: Gemini's `key`, Google's OAuth
/// `access_token`, and the `api_key` / `apikey` / `api-key` that gateways and some upstreams read.
/// None is ever the operator's to forward: the real key goes in its header.
pub const CREDENTIAL_PARAMS: [&str; 5] = ["key", "access_token", "api_key", "apikey", "api-key"];

/// Whether a `Sec-WebSocket-Protocol` entry carries a key. The prefix is matched ignoring case, as
/// a server comparing it loosely would still read the key.
fn is_key_protocol(protocol: &str) -> bool {
    protocol
        .get(..WS_KEY_PROTOCOL_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(WS_KEY_PROTOCOL_PREFIX))
}

/// `Sec-WebSocket-Protocol` without the entries that carry a key; `None` when nothing is left.
pub fn strip_websocket_key_protocols(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !is_key_protocol(p))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_slot_is_dropped() {
        for h in ["authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "xi-api-key", "api-key"] {
            assert!(drop_request_header(h), "{h}");
        }
    }

    #[test]
    fn client_identity_and_hop_headers_are_dropped() {
        for h in [
            "cookie",
            "cf-connecting-ip",
            "cf-ipcountry",
            "x-forwarded-for",
            "x-forwarded-proto",
            "forwarded",
            "x-real-ip",
            "true-client-ip",
            "connection",
            "host",
            "origin",
            "referer",
        ] {
            assert!(drop_request_header(h), "{h}");
        }
    }

    #[test]
    fn sdk_and_content_headers_pass() {
        for h in [
            "anthropic-version",
            "anthropic-beta",
            "openai-beta",
            "content-type",
            "content-length",
            "accept",
            "user-agent",
            "x-stainless-os",
            "x-goog-api-client",
            "idempotency-key",
        ] {
            assert!(!drop_request_header(h), "{h}");
        }
    }

    #[test]
    fn headers_named_in_connection_are_listed() {
        assert_eq!(connection_listed(Some("keep-alive, X-Client-Hop ,,x-other")), ["keep-alive", "x-client-hop", "x-other"]);
        assert!(connection_listed(Some("")).is_empty());
        assert!(connection_listed(None).is_empty());
    }

    #[test]
    fn each_provider_gets_its_key_in_its_own_slot() {
        assert_eq!(
            upstream_credential(Provider::OpenAi, "/v1/models", "sk"),
            ("authorization", "Bearer sk".to_string())
        );
        assert_eq!(upstream_credential(Provider::Anthropic, "/v1/messages", "ak"), ("x-api-key", "ak".to_string()));
        assert_eq!(
            upstream_credential(Provider::Gemini, "/v1beta/models/m:generateContent", "gk"),
            ("x-goog-api-key", "gk".to_string())
        );
        assert_eq!(
            upstream_credential(Provider::Gemini, "/v1beta/openai/chat/completions", "gk"),
            ("authorization", "Bearer gk".to_string())
        );
        assert_eq!(upstream_credential(Provider::ElevenLabs, "/v1/voices", "ek"), ("xi-api-key", "ek".to_string()));
        for name in ["mistral", "groq", "openrouter", "deepseek", "xai", "together", "fireworks", "cerebras", "perplexity"] {
            let p = Provider::from_name(name).unwrap();
            assert_eq!(upstream_credential(p, "/v1/chat/completions", "k"), ("authorization", "Bearer k".to_string()), "{name}");
        }
    }

    #[test]
    fn key_parameter_is_removed_and_the_rest_kept_verbatim() {
        assert_eq!(strip_key_param("alt=sse&key=abc"), "alt=sse");
        assert_eq!(strip_key_param("key=abc"), "");
        assert_eq!(strip_key_param("a=1&key=x&b=%20y&key=z&keyring=2"), "a=1&b=%20y&keyring=2");
        assert_eq!(strip_key_param(""), "");
        assert_eq!(strip_key_param("key"), "");
    }

    #[test]
    fn key_parameter_is_found_in_any_case_and_encoding() {
        assert_eq!(strip_key_param("KEY=t&a=1"), "a=1");
        assert_eq!(strip_key_param("access_token=t&API_KEY=t&apikey=t&api-key=t&a=1&api_keys=2"), "a=1&api_keys=2");
        assert_eq!(strip_key_param("Key=t"), "");
        assert_eq!(strip_key_param("%6Bey=t&a=1"), "a=1");
        assert_eq!(strip_key_param("%6B%65%79=t"), "");
        assert_eq!(strip_key_param("a=1&key%3Dt"), "a=1");
        assert_eq!(strip_key_param("a=1&%4B%45%59%3Dt=u"), "a=1");
        assert_eq!(strip_key_param("+key=t&b=2"), "b=2");
        assert_eq!(strip_key_param("key%20=t&b=2"), "b=2");
    }

    #[test]
    fn semicolons_separate_parameters_too() {
        assert_eq!(strip_key_param("a=1;key=t"), "a=1");
        assert_eq!(strip_key_param("key=t;a=1&b=2"), "a=1&b=2");
        assert_eq!(strip_key_param("a=1;b=2&c=3"), "a=1;b=2&c=3");
        assert_eq!(strip_key_param(";key=t;"), "");
    }

    #[test]
    fn parameters_merely_like_key_stay() {
        assert_eq!(strip_key_param("keyring=1&monkey=2&key_id=3&akey=4"), "keyring=1&monkey=2&key_id=3&akey=4");
        assert_eq!(strip_key_param("q=key%3Dx&x=key"), "q=key%3Dx&x=key");
        assert_eq!(strip_key_param("%zz=1&k%65yring=2"), "%zz=1&k%65yring=2");
    }

    #[test]
    fn websocket_key_protocol_is_removed() {
        assert_eq!(
            strip_websocket_key_protocols("realtime, openai-insecure-api-key.tok, openai-beta.realtime-v1").as_deref(),
            Some("realtime, openai-beta.realtime-v1")
        );
        assert_eq!(strip_websocket_key_protocols("openai-insecure-api-key.tok"), None);
    }

    #[test]
    fn websocket_key_protocol_is_removed_in_any_case() {
        assert_eq!(strip_websocket_key_protocols("OPENAI-INSECURE-API-KEY.tok"), None);
        assert_eq!(strip_websocket_key_protocols("realtime,OpenAI-Insecure-Api-Key.tok").as_deref(), Some("realtime"));
        assert_eq!(
            strip_websocket_key_protocols(" openai-insecure-api-key.a ,realtime, openai-insecure-api-key.b").as_deref(),
            Some("realtime")
        );
        assert_eq!(strip_websocket_key_protocols("openai-insecure-api-key").as_deref(), Some("openai-insecure-api-key"));
        assert_eq!(strip_websocket_key_protocols(" , ").as_deref(), None);
    }

    #[test]
    fn account_revealing_response_headers_are_listed() {
        for h in ["set-cookie", "openai-organization", "openai-project", "anthropic-organization-id"] {
            assert!(DROPPED_RESPONSE_HEADERS.contains(&h));
        }
    }
}
