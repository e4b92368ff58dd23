//! The three upstream providers and how a request is matched to one of them.
//!
//! Detection is a pure function over the few request parts it needs ([`Inbound`]), so the whole
//! precedence table is unit-tested on the host.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[serde(rename = "openai")]
    OpenAi,
    Anthropic,
    Gemini,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::OpenAi, Provider::Anthropic, Provider::Gemini];

    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
        }
    }

    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The name of the Worker secret that holds the real key.
    pub fn secret_name(self) -> &'static str {
        match self {
            Provider::OpenAi => "OPENAI_API_KEY",
            Provider::Anthropic => "ANTHROPIC_API_KEY",
            Provider::Gemini => "GEMINI_API_KEY",
        }
    }

    /// The name of the var that overrides the upstream origin (the test seam).
    pub fn upstream_var(self) -> &'static str {
        match self {
            Provider::OpenAi => "OPENAI_UPSTREAM",
            Provider::Anthropic => "ANTHROPIC_UPSTREAM",
            Provider::Gemini => "GEMINI_UPSTREAM",
        }
    }

    pub fn default_upstream(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com",
            Provider::Anthropic => "https://api.anthropic.com",
            Provider::Gemini => "https://generativelanguage.googleapis.com",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Provider::OpenAi => "OpenAI",
            Provider::Anthropic => "Anthropic",
            Provider::Gemini => "Gemini",
        }
    }
}

/// The parts of an inbound request that decide its provider. Header values are as received;
/// `None` and an empty value both mean "absent".
#[derive(Debug, Default, Clone)]
pub struct Inbound<'a> {
    pub path: &'a str,
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub x_api_key: Option<&'a str>,
    pub x_goog_api_key: Option<&'a str>,
    pub anthropic_version: Option<&'a str>,
    pub websocket_protocol: Option<&'a str>,
}

/// Where the token was found. Only used to explain errors and in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    XApiKey,
    XGoogApiKey,
    Bearer,
    WebSocketProtocol,
    KeyParam,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Detected {
    pub provider: Provider,
    /// The path to forward: the inbound path, minus an explicit `/openai` etc. prefix.
    pub upstream_path: String,
    pub token: String,
    pub slot: Slot,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Detection {
    Found(Detected),
    /// No credential anywhere. Carries the provider when the path named one, so the 401 is in
    /// that provider's shape.
    NoCredential(Option<Provider>),
}

/// The subprotocol prefix OpenAI's browser clients use to carry a key over a WebSocket.
pub const WS_KEY_PROTOCOL_PREFIX: &str = "openai-insecure-api-key.";

fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The token of an `Authorization: Bearer <token>` header (any case of "Bearer").
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let value = present(authorization)?;
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        present(Some(rest))
    } else {
        None
    }
}

fn websocket_key(protocols: Option<&str>) -> Option<&str> {
    protocols?
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(WS_KEY_PROTOCOL_PREFIX))
        .filter(|k| !k.is_empty())
}

/// The value of the first `key` query parameter, percent-decoded.
pub fn key_param(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .map(crate::common::urlencoded::decode)
        .filter(|k| !k.is_empty())
}

/// Splits an explicit `/openai`, `/anthropic` or `/gemini` prefix off the path.
fn explicit_prefix(path: &str) -> Option<(Provider, String)> {
    Provider::ALL.into_iter().find_map(|p| {
        let rest = path.strip_prefix('/')?.strip_prefix(p.name())?;
        if rest.is_empty() {
            Some((p, "/".to_string()))
        } else if rest.starts_with('/') {
            Some((p, rest.to_string()))
        } else {
            None
        }
    })
}

/// Gemini's OpenAI-compatible surface takes a Bearer key, unlike its native API.
pub fn is_gemini_openai_compat(path: &str) -> bool {
    path.starts_with("/v1beta/openai/")
}

fn is_gemini_native_path(path: &str) -> bool {
    path.starts_with("/v1beta/") || path.starts_with("/upload/v1beta/")
}

/// Decides the provider and finds the token. First match wins:
/// an explicit path prefix; `x-api-key` (Anthropic); `x-goog-api-key` (Gemini); a Bearer token
/// (Gemini for `/v1beta/openai/`, Anthropic with `anthropic-version`, Gemini for other
/// `/v1beta/` paths, else OpenAI); an OpenAI WebSocket key subprotocol; `?key=` (Gemini).
pub fn detect(req: &Inbound) -> Detection {
    let x_api_key = present(req.x_api_key);
    let x_goog = present(req.x_goog_api_key);
    let bearer = bearer(req.authorization);
    let ws_key = websocket_key(req.websocket_protocol);
    let key_param = key_param(req.query);

    let found = |provider, upstream_path: String, token: &str, slot| {
        Detection::Found(Detected {
            provider,
            upstream_path,
            token: token.to_string(),
            slot,
        })
    };

    if let Some((provider, upstream_path)) = explicit_prefix(req.path) {
        let token = x_api_key
            .map(|t| (t, Slot::XApiKey))
            .or(x_goog.map(|t| (t, Slot::XGoogApiKey)))
            .or(bearer.map(|t| (t, Slot::Bearer)))
            .or(ws_key.map(|t| (t, Slot::WebSocketProtocol)))
            .or(key_param.as_deref().map(|t| (t, Slot::KeyParam)));
        return match token {
            Some((token, slot)) => found(provider, upstream_path, token, slot),
            None => Detection::NoCredential(Some(provider)),
        };
    }

    let path = req.path.to_string();
    if let Some(t) = x_api_key {
        return found(Provider::Anthropic, path, t, Slot::XApiKey);
    }
    if let Some(t) = x_goog {
        return found(Provider::Gemini, path, t, Slot::XGoogApiKey);
    }
    if let Some(t) = bearer {
        let provider = if is_gemini_openai_compat(req.path) {
            Provider::Gemini
        } else if present(req.anthropic_version).is_some() {
            Provider::Anthropic
        } else if is_gemini_native_path(req.path) {
            Provider::Gemini
        } else {
            Provider::OpenAi
        };
        return found(provider, path, t, Slot::Bearer);
    }
    if let Some(t) = ws_key {
        return found(Provider::OpenAi, path, t, Slot::WebSocketProtocol);
    }
    if let Some(t) = key_param {
        return found(Provider::Gemini, path, &t, Slot::KeyParam);
    }
    Detection::NoCredential(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &'static str) -> Inbound<'static> {
        Inbound {
            path,
            ..Default::default()
        }
    }

    fn found(d: Detection) -> Detected {
        match d {
            Detection::Found(f) => f,
            other => panic!("expected a credential, got {other:?}"),
        }
    }

    #[test]
    fn bearer_on_openai_paths_is_openai() {
        let d = found(detect(&Inbound {
            authorization: Some("Bearer tok_123"),
            ..req("/v1/chat/completions")
        }));
        assert_eq!(d.provider, Provider::OpenAi);
        assert_eq!(d.token, "tok_123");
        assert_eq!(d.upstream_path, "/v1/chat/completions");
        assert_eq!(d.slot, Slot::Bearer);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_other_schemes_are_no_token() {
        let d = found(detect(&Inbound {
            authorization: Some("bearer abc"),
            ..req("/v1/models")
        }));
        assert_eq!(d.token, "abc");
        assert_eq!(
            detect(&Inbound {
                authorization: Some("Basic dXNlcjpwYXNz"),
                ..req("/v1/models")
            }),
            Detection::NoCredential(None)
        );
    }

    #[test]
    fn x_api_key_is_anthropic_even_on_gemini_paths() {
        let d = found(detect(&Inbound {
            x_api_key: Some("t"),
            authorization: Some("Bearer other"),
            ..req("/v1beta/models/x:generateContent")
        }));
        assert_eq!((d.provider, d.token.as_str()), (Provider::Anthropic, "t"));
    }

    #[test]
    fn x_goog_api_key_is_gemini_whatever_the_version_segment() {
        for path in ["/v1beta/models/gemini-2.5-flash:generateContent", "/v1/models/m:generateContent"] {
            let d = found(detect(&Inbound {
                x_goog_api_key: Some("g"),
                ..req(path)
            }));
            assert_eq!(d.provider, Provider::Gemini, "{path}");
        }
    }

    #[test]
    fn bearer_with_anthropic_version_is_anthropic_auth_token_mode() {
        let d = found(detect(&Inbound {
            authorization: Some("Bearer t"),
            anthropic_version: Some("2023-06-01"),
            ..req("/v1/messages")
        }));
        assert_eq!(d.provider, Provider::Anthropic);
    }

    #[test]
    fn bearer_under_v1beta_openai_is_gemini_even_with_anthropic_version() {
        let d = found(detect(&Inbound {
            authorization: Some("Bearer t"),
            anthropic_version: Some("2023-06-01"),
            ..req("/v1beta/openai/chat/completions")
        }));
        assert_eq!(d.provider, Provider::Gemini);
    }

    #[test]
    fn bearer_under_v1beta_and_upload_is_gemini() {
        for path in ["/v1beta/models", "/upload/v1beta/files"] {
            let d = found(detect(&Inbound {
                authorization: Some("Bearer t"),
                ..req(path)
            }));
            assert_eq!(d.provider, Provider::Gemini, "{path}");
        }
    }

    #[test]
    fn key_query_parameter_is_gemini_and_decoded() {
        let d = found(detect(&Inbound {
            query: "alt=sse&key=ab%2Bc",
            ..req("/v1beta/models/m:streamGenerateContent")
        }));
        assert_eq!((d.provider, d.token.as_str(), d.slot), (Provider::Gemini, "ab+c", Slot::KeyParam));
    }

    #[test]
    fn headers_win_over_the_key_parameter() {
        let d = found(detect(&Inbound {
            query: "key=fromquery",
            authorization: Some("Bearer fromheader"),
            ..req("/v1/models")
        }));
        assert_eq!((d.provider, d.token.as_str()), (Provider::OpenAi, "fromheader"));
    }

    #[test]
    fn explicit_prefix_picks_the_provider_and_is_removed() {
        let d = found(detect(&Inbound {
            x_api_key: Some("t"),
            ..req("/openai/v1/chat/completions")
        }));
        assert_eq!(d.provider, Provider::OpenAi);
        assert_eq!(d.upstream_path, "/v1/chat/completions");
        assert_eq!(d.slot, Slot::XApiKey);

        let d = found(detect(&Inbound {
            authorization: Some("Bearer t"),
            ..req("/gemini/v1beta/models")
        }));
        assert_eq!((d.provider, d.upstream_path.as_str()), (Provider::Gemini, "/v1beta/models"));

        let d = found(detect(&Inbound {
            query: "key=t",
            ..req("/anthropic")
        }));
        assert_eq!((d.provider, d.upstream_path.as_str()), (Provider::Anthropic, "/"));
    }

    #[test]
    fn a_prefix_must_be_a_whole_segment() {
        let d = found(detect(&Inbound {
            authorization: Some("Bearer t"),
            ..req("/openaix/v1/models")
        }));
        assert_eq!((d.provider, d.upstream_path.as_str()), (Provider::OpenAi, "/openaix/v1/models"));
    }

    #[test]
    fn no_credential_keeps_the_prefix_provider_for_the_error_shape() {
        assert_eq!(detect(&req("/v1/models")), Detection::NoCredential(None));
        assert_eq!(
            detect(&req("/anthropic/v1/messages")),
            Detection::NoCredential(Some(Provider::Anthropic))
        );
    }

    #[test]
    fn empty_slots_count_as_absent() {
        let d = found(detect(&Inbound {
            x_api_key: Some(""),
            x_goog_api_key: Some("  "),
            authorization: Some("Bearer t"),
            ..req("/v1/models")
        }));
        assert_eq!(d.provider, Provider::OpenAi);
        assert_eq!(detect(&Inbound { query: "key=", ..req("/v1beta/models") }), Detection::NoCredential(None));
    }

    #[test]
    fn openai_websocket_key_subprotocol_is_openai() {
        let d = found(detect(&Inbound {
            websocket_protocol: Some("realtime, openai-insecure-api-key.tok, openai-beta.realtime-v1"),
            ..req("/v1/realtime")
        }));
        assert_eq!((d.provider, d.token.as_str(), d.slot), (Provider::OpenAi, "tok", Slot::WebSocketProtocol));
    }

    #[test]
    fn provider_names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(Provider::from_name(p.name()), Some(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.name()));
        }
        assert_eq!(Provider::from_name("OpenAI"), None);
    }
}
