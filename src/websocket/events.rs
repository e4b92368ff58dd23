//! What the proxy reads in a session's messages: the usage a provider reports, and the model a
//! client names. Each message is JSON text; only messages that can carry either are parsed (the
//! glue first asks the runtime whether the text contains [`usage_marker`] or [`model_marker`]), so
//! audio deltas and other bulk events are never copied into wasm.
//!
//! The counters mean what the usage ledger's do: input includes cached input, output includes
//! reasoning.

use serde_json::Value;

use crate::usage::extract;
use crate::usage::meter::Outcome;
use crate::usage::request::EndpointKind;
use crate::websocket::handshake::Endpoint;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tokens {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
}

/// One report of usage from the upstream: one Realtime or Responses response, one Live turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub tokens: Tokens,
    /// The model the event names (Responses events do; Realtime and Live name it elsewhere).
    pub model: Option<String>,
}

/// What a session reported, summed over its responses (Realtime, Responses) or turns (Live).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SessionUsage {
    /// The model the handshake, the client's `setup` or the last Responses event named.
    pub model: Option<String>,
    pub tokens: Tokens,
    /// How many usage reports were summed.
    pub reports: u32,
}

impl SessionUsage {
    pub fn add(&mut self, r: Reported) {
        let t = &mut self.tokens;
        t.input_tokens += r.tokens.input_tokens;
        t.cached_input_tokens += r.tokens.cached_input_tokens;
        t.output_tokens += r.tokens.output_tokens;
        t.reasoning_tokens += r.tokens.reasoning_tokens;
        self.reports += 1;
        if r.model.is_some() {
            self.model = r.model;
        }
    }
}

impl SessionUsage {
    /// The session as one ledger entry's outcome. Partial when the upstream never sent a usage
    /// event: a session cut before its first `response.done` / `usageMetadata`.
    pub fn outcome(&self) -> Outcome {
        let t = &self.tokens;
        Outcome {
            tokens: extract::Tokens {
                input_tokens: t.input_tokens,
                cached_input_tokens: t.cached_input_tokens,
                cache_write_tokens: 0,
                output_tokens: t.output_tokens,
                reasoning_tokens: t.reasoning_tokens,
            },
            model: self.model.clone(),
            partial: self.reports == 0,
            estimated: false,
            stream_error: false,
            cost_pusd: None,
        }
    }
}

/// The endpoint kind a session's ledger row is kept under: Responses over WebSocket is the
/// Responses API, so it shares its kind.
pub fn ledger_kind(endpoint: Endpoint) -> EndpointKind {
    match endpoint {
        Endpoint::Realtime => EndpointKind::Realtime,
        Endpoint::Responses => EndpointKind::Responses,
        Endpoint::GeminiLive => EndpointKind::Live,
        Endpoint::Other => EndpointKind::Other,
    }
}

/// The most bytes of a binary upstream message searched for usage (Gemini Live sends its JSON in
/// binary frames; the ones that report usage are small, audio chunks are not).
pub const MAX_BINARY_USAGE_BYTES: u32 = 64 * 1024;

/// A substring every usage-bearing upstream message contains, or `None` if the endpoint reports
/// no usage the proxy knows.
pub fn usage_marker(endpoint: Endpoint) -> Option<&'static str> {
    match endpoint {
        Endpoint::Realtime => Some("\"response.done\""),
        Endpoint::Responses => Some("\"usage\""),
        Endpoint::GeminiLive => Some("\"usageMetadata\""),
        Endpoint::Other => None,
    }
}

fn n(v: &Value, path: &[&str]) -> u64 {
    path.iter().try_fold(v, |v, key| v.get(key)).and_then(Value::as_u64).unwrap_or(0)
}

/// The usage in one upstream text message, if it reports any.
pub fn usage_in(endpoint: Endpoint, text: &str) -> Option<Reported> {
    let v: Value = serde_json::from_str(text).ok()?;
    match endpoint {
        // {"type":"response.done","response":{"usage":{"input_tokens","output_tokens",
        //  "input_token_details":{"cached_tokens",...},"output_token_details":{...}}}}
        Endpoint::Realtime => {
            if v.get("type")?.as_str()? != "response.done" {
                return None;
            }
            let u = v.get("response")?.get("usage")?;
            u.get("input_tokens")?.as_u64()?;
            Some(Reported {
                tokens: Tokens {
                    input_tokens: n(u, &["input_tokens"]),
                    cached_input_tokens: n(u, &["input_token_details", "cached_tokens"]),
                    output_tokens: n(u, &["output_tokens"]),
                    reasoning_tokens: 0,
                },
                model: None,
            })
        }
        // The same events as the Responses API's SSE stream; the final one carries the usage.
        Endpoint::Responses => {
            let kind = v.get("type")?.as_str()?;
            if !matches!(kind, "response.completed" | "response.incomplete" | "response.failed" | "response.done") {
                return None;
            }
            let response = v.get("response")?;
            let u = response.get("usage")?;
            u.get("input_tokens")?.as_u64()?;
            Some(Reported {
                tokens: Tokens {
                    input_tokens: n(u, &["input_tokens"]),
                    cached_input_tokens: n(u, &["input_tokens_details", "cached_tokens"]),
                    output_tokens: n(u, &["output_tokens"]),
                    reasoning_tokens: n(u, &["output_tokens_details", "reasoning_tokens"]),
                },
                model: response.get("model").and_then(Value::as_str).map(String::from),
            })
        }
        // {"usageMetadata":{"promptTokenCount","cachedContentTokenCount","responseTokenCount",
        //  "thoughtsTokenCount","toolUsePromptTokenCount","totalTokenCount"}}, once per turn.
        Endpoint::GeminiLive => {
            let u = v.get("usageMetadata")?;
            if !u.is_object() {
                return None;
            }
            let thoughts = n(u, &["thoughtsTokenCount"]);
            Some(Reported {
                tokens: Tokens {
                    input_tokens: n(u, &["promptTokenCount"]) + n(u, &["toolUsePromptTokenCount"]),
                    cached_input_tokens: n(u, &["cachedContentTokenCount"]),
                    output_tokens: n(u, &["responseTokenCount"]) + thoughts,
                    reasoning_tokens: thoughts,
                },
                model: None,
            })
        }
        Endpoint::Other => None,
    }
}

/// A substring every client message that names a model contains.
pub fn model_marker(endpoint: Endpoint) -> Option<&'static str> {
    match endpoint {
        Endpoint::Responses => Some("\"response.create\""),
        Endpoint::GeminiLive => Some("\"setup\""),
        Endpoint::Realtime | Endpoint::Other => None,
    }
}

/// What a client message says about the model it will use.
#[derive(Debug, PartialEq, Eq)]
pub enum Named {
    /// Not a message that starts a response (or a session): nothing to check.
    Nothing,
    /// It starts one without naming a model the proxy can read.
    Unknown,
    Model(String),
}

/// The model a client message names: a Responses `response.create` (`model` at the top level),
/// a Gemini Live `setup` (`setup.model`, without its `models/` prefix).
pub fn model_in(endpoint: Endpoint, text: &str) -> Named {
    let Ok(v) = serde_json::from_str::<Value>(text) else { return Named::Nothing };
    let model = match endpoint {
        Endpoint::Responses => {
            if v.get("type").and_then(Value::as_str) != Some("response.create") {
                return Named::Nothing;
            }
            // Older clients nested the request under "response".
            v.get("model").or_else(|| v.get("response").and_then(|r| r.get("model")))
        }
        Endpoint::GeminiLive => {
            let Some(setup) = v.get("setup") else { return Named::Nothing };
            setup.get("model")
        }
        Endpoint::Realtime | Endpoint::Other => return Named::Nothing,
    };
    match model.and_then(Value::as_str) {
        Some(m) => {
            let m = m.strip_prefix("models/").unwrap_or(m);
            if m.is_empty() || m.contains(['/', '%']) {
                Named::Unknown
            } else {
                Named::Model(m.to_string())
            }
        }
        None => Named::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains_marker(endpoint: Endpoint, text: &str) -> bool {
        usage_marker(endpoint).is_some_and(|m| text.contains(m))
    }

    #[test]
    fn realtime_response_done_reports_its_usage() {
        let text = r#"{"type":"response.done","event_id":"e1","response":{"id":"r1","status":"completed","usage":{"total_tokens":330,"input_tokens":300,"output_tokens":30,"input_token_details":{"cached_tokens":128,"text_tokens":200,"audio_tokens":100},"output_token_details":{"text_tokens":10,"audio_tokens":20}}}}"#;
        assert!(contains_marker(Endpoint::Realtime, text));
        let r = usage_in(Endpoint::Realtime, text).unwrap();
        assert_eq!(r.tokens, Tokens { input_tokens: 300, cached_input_tokens: 128, output_tokens: 30, reasoning_tokens: 0 });
        assert_eq!(r.model, None);
    }

    #[test]
    fn other_realtime_events_report_nothing() {
        for text in [
            r#"{"type":"response.audio.delta","delta":"AAAA"}"#,
            r#"{"type":"response.created","response":{"usage":null}}"#,
            r#"{"type":"response.done","response":{"status":"cancelled","usage":null}}"#,
            "not json",
        ] {
            assert_eq!(usage_in(Endpoint::Realtime, text), None, "{text}");
        }
        assert!(!contains_marker(Endpoint::Realtime, r#"{"type":"response.audio.delta","delta":"AAAA"}"#));
    }

    #[test]
    fn responses_completed_reports_usage_and_model() {
        let text = r#"{"type":"response.completed","response":{"id":"resp_1","model":"gpt-5-codex","usage":{"input_tokens":1000,"input_tokens_details":{"cached_tokens":600},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":20},"total_tokens":1050}}}"#;
        assert!(contains_marker(Endpoint::Responses, text));
        let r = usage_in(Endpoint::Responses, text).unwrap();
        assert_eq!(r.tokens, Tokens { input_tokens: 1000, cached_input_tokens: 600, output_tokens: 50, reasoning_tokens: 20 });
        assert_eq!(r.model.as_deref(), Some("gpt-5-codex"));
        assert_eq!(usage_in(Endpoint::Responses, r#"{"type":"response.created","response":{"usage":null}}"#), None);
        assert_eq!(usage_in(Endpoint::Responses, r#"{"type":"response.output_text.delta","delta":"\"usage\""}"#), None);
    }

    #[test]
    fn gemini_live_usage_metadata_is_one_turn() {
        let text = r#"{"serverContent":{"turnComplete":true},"usageMetadata":{"promptTokenCount":40,"cachedContentTokenCount":8,"responseTokenCount":12,"thoughtsTokenCount":3,"totalTokenCount":55,"promptTokensDetails":[{"modality":"TEXT","tokenCount":40}]}}"#;
        assert!(contains_marker(Endpoint::GeminiLive, text));
        let r = usage_in(Endpoint::GeminiLive, text).unwrap();
        assert_eq!(r.tokens, Tokens { input_tokens: 40, cached_input_tokens: 8, output_tokens: 15, reasoning_tokens: 3 });
        assert_eq!(usage_in(Endpoint::GeminiLive, r#"{"serverContent":{"modelTurn":{"parts":[{"text":"hi"}]}}}"#), None);
        assert_eq!(usage_in(Endpoint::GeminiLive, r#"{"setupComplete":{}}"#), None);
    }

    #[test]
    fn unknown_endpoints_report_nothing() {
        assert_eq!(usage_marker(Endpoint::Other), None);
        assert_eq!(usage_in(Endpoint::Other, r#"{"usageMetadata":{"promptTokenCount":1}}"#), None);
    }

    #[test]
    fn a_session_sums_its_reports_and_keeps_the_last_named_model() {
        let mut s = SessionUsage { model: Some("gpt-realtime".into()), ..Default::default() };
        let t = Tokens { input_tokens: 10, cached_input_tokens: 4, output_tokens: 3, reasoning_tokens: 1 };
        s.add(Reported { tokens: t, model: None });
        s.add(Reported { tokens: t, model: Some("gpt-5".into()) });
        assert_eq!(s.tokens, Tokens { input_tokens: 20, cached_input_tokens: 8, output_tokens: 6, reasoning_tokens: 2 });
        assert_eq!((s.reports, s.model.as_deref()), (2, Some("gpt-5")));
    }

    #[test]
    fn a_session_is_one_entry_with_its_summed_tokens_and_is_partial_without_any_report() {
        use crate::usage::{ledger::Entry, prices};
        let mut s = SessionUsage { model: Some("gpt-4o".into()), ..Default::default() };
        let price = |m: &str| prices::lookup(m, &Default::default());
        let cut = Entry::new(0, "openai", ledger_kind(Endpoint::Realtime), 101, &s.outcome(), None, price);
        assert!(cut.partial);
        assert_eq!((cut.kind.as_str(), cut.status.as_str(), cut.counters().requests), ("realtime", "1xx", 1));
        let t = Tokens { input_tokens: 300, cached_input_tokens: 128, output_tokens: 30, reasoning_tokens: 0 };
        s.add(Reported { tokens: t, model: None });
        s.add(Reported { tokens: t, model: None });
        let e = Entry::new(0, "openai", ledger_kind(Endpoint::Realtime), 101, &s.outcome(), None, price);
        assert!(!e.partial);
        assert_eq!(e.model, "gpt-4o");
        assert_eq!((e.tokens.input_tokens, e.tokens.cached_input_tokens, e.tokens.cache_write_tokens, e.tokens.output_tokens), (600, 256, 0, 60));
        assert_eq!(e.cost_pusd, Some(prices::cost_pusd(&e.tokens, &price("gpt-4o").unwrap())));
        assert_eq!(ledger_kind(Endpoint::GeminiLive).name(), "live");
        assert_eq!(ledger_kind(Endpoint::Responses).name(), "responses");
    }

    #[test]
    fn responses_create_names_its_model() {
        let text = r#"{"type":"response.create","model":"gpt-5-codex","instructions":"x","input":[],"stream":true}"#;
        assert!(text.contains(model_marker(Endpoint::Responses).unwrap()));
        assert_eq!(model_in(Endpoint::Responses, text), Named::Model("gpt-5-codex".into()));
        assert_eq!(model_in(Endpoint::Responses, r#"{"type":"response.create","response":{"model":"gpt-4.1"}}"#), Named::Model("gpt-4.1".into()));
        assert_eq!(model_in(Endpoint::Responses, r#"{"type":"response.create","input":[]}"#), Named::Unknown);
        assert_eq!(model_in(Endpoint::Responses, r#"{"type":"response.processed","response_id":"r"}"#), Named::Nothing);
    }

    #[test]
    fn gemini_live_setup_names_its_model_without_prefix() {
        let text = r#"{"setup":{"model":"models/gemini-2.0-flash-live-001","generationConfig":{}}}"#;
        assert_eq!(model_in(Endpoint::GeminiLive, text), Named::Model("gemini-2.0-flash-live-001".into()));
        assert_eq!(model_in(Endpoint::GeminiLive, r#"{"setup":{}}"#), Named::Unknown);
        assert_eq!(model_in(Endpoint::GeminiLive, r#"{"setup":{"model":"models/../x"}}"#), Named::Unknown);
        assert_eq!(model_in(Endpoint::GeminiLive, r#"{"clientContent":{"turns":[]}}"#), Named::Nothing);
        assert_eq!(model_in(Endpoint::Realtime, r#"{"type":"session.update"}"#), Named::Nothing);
    }
}
