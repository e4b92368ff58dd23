//! The providers, and how a request is matched to one of them.
//!
//! A [`Provider`] is a row of the provider table (`crate::upstream::table`); its methods read the
//! row. The three original providers keep their names as constants (`Provider::OpenAi`, ...), so
//! they can be compared and matched on. Detection is a pure function over the few request parts
//! it needs ([`Inbound`]), so the whole precedence table is unit-tested on the host.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::upstream::registry;
use crate::upstream::table::{ErrorShape, KeySlot, ProviderSpec, UsageFormat, BUILT_IN};

/// A row of the isolate's provider table, by position (built-in rows first, in a fixed order).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Provider(u16);

#[allow(non_upper_case_globals)]
impl Provider {
    pub const OpenAi: Provider = Provider(0);
    pub const Anthropic: Provider = Provider(1);
    pub const Gemini: Provider = Provider(2);
    pub const ElevenLabs: Provider = Provider(3);

    /// Every built-in provider. [`Provider::all`] adds the operator's.
    pub const ALL: [Provider; BUILT_IN.len()] = {
        let mut all = [Provider(0); BUILT_IN.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = Provider(i as u16);
            i += 1;
        }
        all
    };

    /// Every provider of this isolate's table: the built-in ones, then those of `EXTRA_PROVIDERS`.
    pub fn all() -> Vec<Provider> {
        (0..registry::table().specs.len()).map(|i| Provider(i as u16)).collect()
    }

    /// The provider's row of the table.
    pub fn spec(self) -> &'static ProviderSpec {
        registry::spec(self.0 as usize)
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn from_name(name: &str) -> Option<Provider> {
        registry::table().find(name).map(|i| Provider(i as u16))
    }

    /// The name of the Worker secret that holds the real key (or a pool of them).
    pub fn secret_name(self) -> &'static str {
        self.spec().secret_name
    }

    /// The name of the var that overrides the upstream origin (the test seam).
    pub fn upstream_var(self) -> &'static str {
        self.spec().upstream_var
    }

    pub fn default_upstream(self) -> &'static str {
        self.spec().origin
    }

    pub fn display_name(self) -> &'static str {
        self.spec().display_name
    }

    pub fn key_slot(self) -> KeySlot {
        self.spec().key_slot
    }

    pub fn error_shape(self) -> ErrorShape {
        self.spec().error_shape
    }

    /// The wire format its usage arrives in.
    pub fn usage_format(self) -> UsageFormat {
        self.spec().usage
    }
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Provider {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Provider, D::Error> {
        let name = String::deserialize(d)?;
        Provider::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown provider \"{name}\"")))
    }
}

/// For stored lists of providers (a token's scope): names no longer in the table (an operator's
/// provider since removed) are dropped, so the record still loads and simply no longer allows it.
pub fn known_providers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Provider>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    Ok(names.iter().filter_map(|n| Provider::from_name(n)).collect())
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
    /// ElevenLabs' own slot; read only under an explicit prefix.
    pub xi_api_key: Option<&'a str>,
}

/// Where the token was found. Only used to explain errors and in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    XApiKey,
    XiApiKey,
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

/// Splits an explicit `/<provider name>` prefix off the path (any provider of the table).
fn explicit_prefix(path: &str) -> Option<(Provider, String)> {
    Provider::all().into_iter().find_map(|p| {
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
/// an explicit path prefix (`/groq/...`; the token may then be in any slot, `xi-api-key` too); `x-api-key` (Anthropic); `x-goog-api-key` (Gemini); a Bearer token
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
            .or(present(req.xi_api_key).map(|t| (t, Slot::XiApiKey)))
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
    fn every_table_provider_has_its_prefix_and_takes_its_own_slot_or_bearer() {
        let d = found(detect(&Inbound {
            authorization: Some("Bearer t"),
            ..req("/groq/openai/v1/chat/completions")
        }));
        assert_eq!((d.provider.name(), d.upstream_path.as_str()), ("groq", "/openai/v1/chat/completions"));
        let d = found(detect(&Inbound {
            xi_api_key: Some("x"),
            ..req("/elevenlabs/v1/text-to-speech/voice1/stream")
        }));
        assert_eq!((d.provider, d.token.as_str(), d.slot), (Provider::ElevenLabs, "x", Slot::XiApiKey));
        for p in Provider::ALL {
            let path = format!("/{}/v1/models", p.name());
            let d = found(detect(&Inbound {
                authorization: Some("Bearer t"),
                ..Inbound { path: &path, ..Default::default() }
            }));
            assert_eq!((d.provider, d.upstream_path.as_str()), (p, "/v1/models"));
        }
    }

    #[test]
    fn new_providers_are_never_found_by_slot_alone() {
        let d = found(detect(&Inbound {
            authorization: Some("Bearer t"),
            ..req("/openai/v1/chat/completions")
        }));
        assert_eq!(d.provider, Provider::OpenAi);
        // xi-api-key without a prefix is no credential: ElevenLabs is reached by /elevenlabs/ only.
        assert_eq!(detect(&Inbound { xi_api_key: Some("x"), ..req("/v1/voices") }), Detection::NoCredential(None));
    }

    #[test]
    fn the_original_three_keep_their_rows_and_meanings() {
        assert_eq!(Provider::OpenAi.secret_name(), "OPENAI_API_KEY");
        assert_eq!(Provider::Anthropic.upstream_var(), "ANTHROPIC_UPSTREAM");
        assert_eq!(Provider::Gemini.default_upstream(), "https://generativelanguage.googleapis.com");
        assert_eq!(Provider::OpenAi.display_name(), "OpenAI");
        assert_eq!(Provider::ElevenLabs.name(), "elevenlabs");
        assert_eq!(Provider::from_name("perplexity").unwrap().secret_name(), "PERPLEXITY_API_KEY");
        assert!(Provider::OpenAi < Provider::Gemini);
        assert!(matches!(Some(Provider::Gemini), Some(Provider::Gemini)));
    }

    #[test]
    fn stored_scopes_drop_names_no_longer_in_the_table() {
        #[derive(serde::Deserialize)]
        struct Scope {
            #[serde(deserialize_with = "known_providers")]
            providers: Vec<Provider>,
        }
        let s: Scope = serde_json::from_str(r#"{"providers": ["openai", "gone-vllm", "groq"]}"#).unwrap();
        assert_eq!(s.providers, vec![Provider::OpenAi, Provider::from_name("groq").unwrap()]);
        assert!(serde_json::from_str::<Provider>("\"gone-vllm\"").is_err());
    }

    #[test]
    fn provider_names_round_trip() {
        for p in Provider::all() {
            assert_eq!(Provider::from_name(p.name()), Some(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.name()));
        }
        assert_eq!(Provider::from_name("OpenAI"), None);
    }
}
