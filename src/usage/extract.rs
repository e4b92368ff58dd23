//! Where each provider puts its usage, mapped onto the one meaning of each counter (the table in
//! the provider reference): from a non-streamed JSON body, and event by event from a stream.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::Format;
use super::sse::Event;

/// The token counters of one request, each with the meaning the ledger gives it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Every prompt token, cached ones included.
    pub input_tokens: u64,
    /// The part of the input read from a cache.
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    /// Every generated token, reasoning included.
    pub output_tokens: u64,
    /// The reasoning part of the output.
    pub reasoning_tokens: u64,
}

fn n(v: &Value, path: &[&str]) -> Option<u64> {
    let mut v = v;
    for key in path {
        v = v.get(key)?;
    }
    v.as_u64()
}

fn z(v: &Value, path: &[&str]) -> u64 {
    n(v, path).unwrap_or(0)
}

/// OpenAI chat completions and embeddings (`prompt_tokens`, `completion_tokens`, ...).
pub fn openai_chat_usage(u: &Value) -> Option<Tokens> {
    let input = n(u, &["prompt_tokens"])?;
    Some(Tokens {
        input_tokens: input,
        cached_input_tokens: z(u, &["prompt_tokens_details", "cached_tokens"]),
        cache_write_tokens: 0,
        output_tokens: z(u, &["completion_tokens"]),
        reasoning_tokens: z(u, &["completion_tokens_details", "reasoning_tokens"]),
    })
}

/// The OpenAI Responses API, and audio transcriptions that report tokens.
pub fn openai_responses_usage(u: &Value) -> Option<Tokens> {
    let input = n(u, &["input_tokens"])?;
    Some(Tokens {
        input_tokens: input,
        cached_input_tokens: z(u, &["input_tokens_details", "cached_tokens"]),
        cache_write_tokens: 0,
        output_tokens: z(u, &["output_tokens"]),
        reasoning_tokens: z(u, &["output_tokens_details", "reasoning_tokens"]),
    })
}

/// Anthropic's usage fields as last reported. A stream reports them in pieces (`message_start`,
/// then cumulative `message_delta`s), so each field is kept apart and replaced, never added.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AnthropicUsage {
    pub input: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_creation: Option<u64>,
    pub output: Option<u64>,
}

impl AnthropicUsage {
    /// Replaces each field the object carries.
    pub fn update(&mut self, u: &Value) {
        let fields = [
            ("input_tokens", &mut self.input),
            ("cache_read_input_tokens", &mut self.cache_read),
            ("cache_creation_input_tokens", &mut self.cache_creation),
            ("output_tokens", &mut self.output),
        ];
        for (key, slot) in fields {
            if let Some(v) = u.get(key).and_then(Value::as_u64) {
                *slot = Some(v);
            }
        }
    }

    pub fn tokens(&self) -> Tokens {
        let (read, write) = (self.cache_read.unwrap_or(0), self.cache_creation.unwrap_or(0));
        Tokens {
            input_tokens: self.input.unwrap_or(0) + read + write,
            cached_input_tokens: read,
            cache_write_tokens: write,
            output_tokens: self.output.unwrap_or(0),
            reasoning_tokens: 0,
        }
    }
}

/// Gemini's `usageMetadata`; thinking tokens are part of the output.
pub fn gemini_usage(u: &Value) -> Option<Tokens> {
    if !u.is_object() {
        return None;
    }
    let thoughts = z(u, &["thoughtsTokenCount"]);
    Some(Tokens {
        input_tokens: z(u, &["promptTokenCount"]) + z(u, &["toolUsePromptTokenCount"]),
        cached_input_tokens: z(u, &["cachedContentTokenCount"]),
        cache_write_tokens: 0,
        output_tokens: z(u, &["candidatesTokenCount"]) + thoughts,
        reasoning_tokens: thoughts,
    })
}

/// Any other JSON answer that reports usage in one of the OpenAI shapes (audio transcriptions,
/// OpenAI-compatible upstreams on other paths).
fn other_usage(u: &Value) -> Option<Tokens> {
    openai_chat_usage(u).or_else(|| openai_responses_usage(u))
}

/// The cost an upstream reports beside its usage (OpenRouter's `usage.cost`, USD), in pico-USD.
/// Read from every OpenAI-shaped answer; whether it is believed is the provider table's call
/// (`UsageFormat::OpenAiWithCost`), made by the meter.
pub fn reported_cost_pusd(usage: &Value) -> Option<i64> {
    let usd = usage.get("cost")?.as_f64()?;
    let pusd = (usd * super::prices::PICO).round();
    (usd.is_finite() && pusd >= 0.0 && pusd < i64::MAX as f64).then_some(pusd as i64)
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// What a whole JSON answer reports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reported {
    pub tokens: Option<Tokens>,
    pub model: Option<String>,
    /// `usage.cost` of an OpenAI-shaped answer, in pico-USD.
    pub cost_pusd: Option<i64>,
}

/// The usage and model of a non-streamed JSON answer.
pub fn from_json(format: Format, body: &Value) -> Reported {
    let usage = body.get("usage");
    let tokens = match format {
        Format::OpenAiChat | Format::OpenAiEmbeddings => usage.and_then(openai_chat_usage),
        Format::OpenAiResponses => usage.and_then(openai_responses_usage),
        Format::Anthropic => usage.filter(|u| u.is_object()).map(|u| {
            let mut a = AnthropicUsage::default();
            a.update(u);
            a.tokens()
        }),
        Format::Gemini => body.get("usageMetadata").and_then(gemini_usage),
        Format::Other => usage.and_then(other_usage),
    };
    let model = match format {
        Format::Gemini => string(body, "modelVersion"),
        _ => string(body, "model"),
    };
    let cost_pusd = match format {
        Format::Anthropic | Format::Gemini => None,
        _ => usage.and_then(reported_cost_pusd),
    };
    Reported { tokens, model, cost_pusd }
}

/// The usage of a JSON answer too big to parse whole: the value of the last usage key in its
/// tail (top-level usage comes after the content in every provider's answer, and a key inside a
/// string is escaped, so it cannot match), and the model from the tail or else the head.
pub fn from_json_ends(format: Format, head: &[u8], tail: &[u8]) -> Reported {
    let usage_key: &[u8] = if format == Format::Gemini { b"\"usageMetadata\"" } else { b"\"usage\"" };
    let model_key: &[u8] = if format == Format::Gemini { b"\"modelVersion\"" } else { b"\"model\"" };
    let mut body = serde_json::Map::new();
    let key = String::from_utf8_lossy(&usage_key[1..usage_key.len() - 1]).into_owned();
    if let Some(v) = value_after_last(tail, usage_key) {
        body.insert(key, v);
    }
    let model = value_after_last(tail, model_key).or_else(|| value_after_first(head, model_key));
    if let Some(m) = model {
        body.insert(String::from_utf8_lossy(&model_key[1..model_key.len() - 1]).into_owned(), m);
    }
    from_json(format, &Value::Object(body))
}

fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    (0..hay.len()).filter(move |&i| hay[i..].starts_with(needle))
}

fn value_at(bytes: &[u8], key_at: usize, key_len: usize) -> Option<Value> {
    let rest = &bytes[key_at + key_len..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    let mut values = serde_json::Deserializer::from_slice(&rest[colon + 1..]).into_iter::<Value>();
    values.next()?.ok()
}

fn value_after_last(bytes: &[u8], key: &[u8]) -> Option<Value> {
    let positions: Vec<usize> = find_all(bytes, key).collect();
    positions.into_iter().rev().find_map(|at| value_at(bytes, at, key.len()))
}

fn value_after_first(bytes: &[u8], key: &[u8]) -> Option<Value> {
    find_all(bytes, key).find_map(|at| value_at(bytes, at, key.len()))
}

/// What a stream has shown so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamState {
    pub model: Option<String>,
    /// The last usage reported (OpenAI, Gemini running totals).
    pub tokens: Option<Tokens>,
    /// The `usage.cost` that came with the last usage (OpenAI shapes), in pico-USD.
    pub cost_pusd: Option<i64>,
    pub anthropic: Option<AnthropicUsage>,
    /// The usage is the final one (the event that closes the stream's accounting was seen).
    pub final_usage: bool,
    /// The stream's closing event arrived (`[DONE]`, `response.completed`, `message_stop`, ...).
    pub done: bool,
    /// The upstream reported an error inside the stream (after its 200).
    pub error: bool,
    /// Events that carried content, the basis of an estimate when usage is missing.
    pub content_events: u64,
    /// Events parsed only to find the model; a stream that names none is not parsed whole for it.
    pub model_tries: u8,
}

/// How a parsed event is handled after the meter has looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Kept,
    /// The usage-only chunk of an OpenAI chat stream (`"choices": []` with `usage`): the one the
    /// proxy asked for on the client's behalf drops it.
    UsageOnlyChunk,
}

fn has_live_usage(data: &str, key: &str) -> bool {
    // Chat chunks carry `"usage":null` until the last one; skip parsing those.
    data.match_indices(key).any(|(i, _)| {
        let rest = data[i + key.len()..].trim_start();
        let rest = rest.strip_prefix(':').map(str::trim_start).unwrap_or(rest);
        !rest.starts_with("null")
    })
}

impl StreamState {
    /// Whether the event must be parsed as JSON: most chunks of a stream carry nothing the meter
    /// needs, and parsing them all would cost CPU on every token.
    fn worth_parsing(&self, format: Format, event: &Event) -> bool {
        let data = event.data.as_str();
        if !data.starts_with('{') {
            return false;
        }
        match format {
            Format::OpenAiChat | Format::OpenAiEmbeddings | Format::Other => {
                (self.model.is_none() && self.model_tries < 3) || has_live_usage(data, "\"usage\"") || data.starts_with("{\"error\"")
            }
            Format::OpenAiResponses => true_for_responses(event),
            Format::Anthropic => {
                let name = event_type(event);
                matches!(name.as_deref(), Some("message_start" | "message_delta" | "message_stop" | "error"))
            }
            Format::Gemini => self.model.is_none() || data.contains("\"usageMetadata\"") || data.contains("\"finishReason\"") || data.contains("\"error\""),
        }
    }

    /// Looks at one event of a stream of `format`.
    pub fn on_event(&mut self, format: Format, event: &Event) -> Seen {
        if format == Format::OpenAiChat && event.data.trim() == "[DONE]" {
            self.done = true;
            return Seen::Kept;
        }
        if !self.worth_parsing(format, event) {
            if is_content(format, event) {
                self.content_events += 1;
            }
            return Seen::Kept;
        }
        let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
            return Seen::Kept;
        };
        match format {
            Format::OpenAiChat | Format::OpenAiEmbeddings | Format::Other => self.openai_chunk(&v),
            Format::OpenAiResponses => {
                self.responses_event(&v);
                Seen::Kept
            }
            Format::Anthropic => {
                self.anthropic_event(event, &v);
                Seen::Kept
            }
            Format::Gemini => {
                self.gemini_chunk(&v);
                Seen::Kept
            }
        }
    }

    fn openai_chunk(&mut self, v: &Value) -> Seen {
        if self.model.is_none() {
            self.model = string(v, "model");
            self.model_tries = self.model_tries.saturating_add(1);
        }
        if v.get("error").is_some_and(Value::is_object) {
            self.error = true;
            return Seen::Kept;
        }
        let choices = v.get("choices").and_then(Value::as_array);
        if choices.is_some_and(|c| !c.is_empty()) {
            self.content_events += 1;
        }
        let usage = v.get("usage");
        let Some(tokens) = usage.and_then(openai_chat_usage) else {
            return Seen::Kept;
        };
        self.cost_pusd = usage.and_then(reported_cost_pusd);
        // Some OpenAI-compatible upstreams put usage on a chunk that still has choices: the last
        // non-null one wins.
        self.tokens = Some(tokens);
        self.final_usage = true;
        if choices.is_some_and(|c| c.is_empty()) {
            Seen::UsageOnlyChunk
        } else {
            Seen::Kept
        }
    }

    fn responses_event(&mut self, v: &Value) {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        let response = v.get("response");
        if let Some(model) = response.and_then(|r| string(r, "model")) {
            self.model = Some(model);
        }
        match kind {
            "response.completed" | "response.incomplete" | "response.failed" => {
                self.done = true;
                if kind == "response.failed" {
                    self.error = true;
                }
                let usage = response.and_then(|r| r.get("usage"));
                if let Some(tokens) = usage.and_then(openai_responses_usage) {
                    self.tokens = Some(tokens);
                    self.cost_pusd = usage.and_then(reported_cost_pusd);
                    self.final_usage = true;
                }
            }
            "error" => {
                self.error = true;
                self.done = true;
            }
            _ if kind.ends_with(".delta") => self.content_events += 1,
            _ => {}
        }
    }

    fn anthropic_event(&mut self, event: &Event, v: &Value) {
        let usage = self.anthropic.get_or_insert_with(AnthropicUsage::default);
        match event_type_of(event, v).as_deref() {
            Some("message_start") => {
                if let Some(message) = v.get("message") {
                    if let Some(model) = string(message, "model") {
                        self.model = Some(model);
                    }
                    if let Some(u) = message.get("usage") {
                        usage.update(u);
                    }
                }
            }
            Some("message_delta") => {
                if let Some(u) = v.get("usage") {
                    usage.update(u);
                    self.final_usage = true;
                }
            }
            Some("message_stop") => self.done = true,
            Some("error") => {
                self.error = true;
                self.done = true;
            }
            _ => {}
        }
        // Nothing reported yet is no usage at all (an estimate follows), not a reported 0.
        self.tokens = (*usage != AnthropicUsage::default()).then(|| usage.tokens());
    }

    fn gemini_chunk(&mut self, v: &Value) {
        // An error object inside a 200 stream.
        if v.get("error").is_some_and(Value::is_object) && v.get("candidates").is_none() {
            self.error = true;
            self.done = true;
            return;
        }
        if let Some(model) = string(v, "modelVersion") {
            self.model = Some(model);
        }
        let candidates = v.get("candidates").and_then(Value::as_array);
        if candidates.is_some_and(|c| !c.is_empty()) {
            self.content_events += 1;
        }
        if candidates.is_some_and(|c| c.iter().any(|c| c.get("finishReason").and_then(Value::as_str).is_some())) {
            self.done = true;
        }
        // Running totals: the last one wins, and a chunk without it changes nothing.
        if let Some(tokens) = v.get("usageMetadata").and_then(gemini_usage) {
            self.tokens = Some(tokens);
            self.final_usage = self.done;
        }
    }
}

fn true_for_responses(event: &Event) -> bool {
    // Every Responses event is small except deltas; parse all but the text deltas.
    !matches!(
        event_type(event).as_deref(),
        Some("response.output_text.delta" | "response.reasoning_summary_text.delta" | "response.function_call_arguments.delta" | "response.audio.delta")
    )
}

fn is_content(format: Format, event: &Event) -> bool {
    match format {
        Format::Anthropic => event_type(event).as_deref() == Some("content_block_delta"),
        Format::OpenAiResponses => event_type(event).is_some_and(|t| t.ends_with(".delta")),
        _ => event.data.starts_with('{'),
    }
}

/// The event's type: its `event:` name, else the `"type"` its data starts with.
fn event_type(event: &Event) -> Option<String> {
    if let Some(name) = &event.name {
        return Some(name.clone());
    }
    let data = event.data.strip_prefix("{\"type\":")?.trim_start().strip_prefix('"')?;
    Some(data[..data.find('"')?].to_string())
}

fn event_type_of(event: &Event, v: &Value) -> Option<String> {
    event.name.clone().or_else(|| string(v, "type"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_chat_json_maps_each_counter() {
        let body = json!({"model": "gpt-4o-mini-2024-07-18", "choices": [], "usage": {
            "prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160,
            "prompt_tokens_details": {"cached_tokens": 100}, "completion_tokens_details": {"reasoning_tokens": 30}}});
        let r = from_json(Format::OpenAiChat, &body);
        assert_eq!(r.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(
            r.tokens,
            Some(Tokens { input_tokens: 120, cached_input_tokens: 100, cache_write_tokens: 0, output_tokens: 40, reasoning_tokens: 30 })
        );
    }

    #[test]
    fn anthropic_json_counts_cache_tokens_once_each() {
        let body = json!({"model": "claude-sonnet-4-5", "usage": {"input_tokens": 10, "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200, "output_tokens": 55}});
        let t = from_json(Format::Anthropic, &body).tokens.unwrap();
        assert_eq!(t, Tokens { input_tokens: 1210, cached_input_tokens: 1000, cache_write_tokens: 200, output_tokens: 55, reasoning_tokens: 0 });
    }

    #[test]
    fn gemini_json_puts_thoughts_in_the_output() {
        let body = json!({"modelVersion": "gemini-2.5-flash", "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 20,
            "thoughtsTokenCount": 100, "cachedContentTokenCount": 4, "toolUsePromptTokenCount": 2, "totalTokenCount": 130}});
        let r = from_json(Format::Gemini, &body);
        assert_eq!(r.model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(r.tokens.unwrap(), Tokens { input_tokens: 10, cached_input_tokens: 4, cache_write_tokens: 0, output_tokens: 120, reasoning_tokens: 100 });
    }

    #[test]
    fn responses_and_embeddings_json() {
        let body = json!({"model": "gpt-5", "usage": {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 2},
            "output_tokens": 70, "output_tokens_details": {"reasoning_tokens": 64}}});
        assert_eq!(
            from_json(Format::OpenAiResponses, &body).tokens.unwrap(),
            Tokens { input_tokens: 9, cached_input_tokens: 2, cache_write_tokens: 0, output_tokens: 70, reasoning_tokens: 64 }
        );
        let body = json!({"object": "list", "data": [], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 5, "total_tokens": 5}});
        assert_eq!(from_json(Format::OpenAiEmbeddings, &body).tokens.unwrap().input_tokens, 5);
        assert_eq!(from_json(Format::Gemini, &json!({"embedding": {"values": [0.1]}})).tokens, None);
    }

    #[test]
    fn a_big_body_is_read_from_its_ends_and_the_top_level_usage_wins() {
        let body = r#"{"id":"msg_1","model":"claude-haiku-4-5","content":[{"type":"tool_use","input":{"usage":{"input_tokens":999}}}],"usage":{"input_tokens":3,"output_tokens":4}}"#;
        let r = from_json_ends(Format::Anthropic, &body.as_bytes()[..40], &body.as_bytes()[40..]);
        assert_eq!(r.model.as_deref(), Some("claude-haiku-4-5"));
        assert_eq!(r.tokens.unwrap().input_tokens, 3);
        assert_eq!(r.tokens.unwrap().output_tokens, 4);
    }

    #[test]
    fn a_reported_cost_is_read_in_pico_usd_and_nonsense_is_not() {
        let body = json!({"model": "openai/gpt-4o-mini", "usage": {"prompt_tokens": 9, "completion_tokens": 7, "cost": 0.000123456}});
        assert_eq!(from_json(Format::OpenAiChat, &body).cost_pusd, Some(123_456_000));
        let body = json!({"model": "m", "usage": {"input_tokens": 1, "output_tokens": 1, "cost": 2}});
        assert_eq!(from_json(Format::OpenAiResponses, &body).cost_pusd, Some(2_000_000_000_000));
        for bad in [json!(-0.1), json!("0.1"), json!(null), json!(1e300)] {
            assert_eq!(reported_cost_pusd(&json!({ "cost": bad })), None, "{bad}");
        }
        assert_eq!(from_json(Format::OpenAiChat, &json!({"usage": {"prompt_tokens": 1}})).cost_pusd, None);
        // Anthropic and Gemini shapes have no such field.
        assert_eq!(from_json(Format::Anthropic, &json!({"usage": {"input_tokens": 1, "cost": 1.0}})).cost_pusd, None);
        // The big-body path finds it inside the usage object of the tail.
        let big = r#"{"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"cost":0.5}}"#;
        assert_eq!(from_json_ends(Format::OpenAiChat, &big.as_bytes()[..10], &big.as_bytes()[10..]).cost_pusd, Some(500_000_000_000));
    }

    #[test]
    fn live_usage_is_told_from_null_usage() {
        assert!(!has_live_usage(r#"{"choices":[{}],"usage":null}"#, "\"usage\""));
        assert!(!has_live_usage(r#"{"choices":[{}],"usage": null}"#, "\"usage\""));
        assert!(has_live_usage(r#"{"choices":[],"usage":{"prompt_tokens":1}}"#, "\"usage\""));
    }
}
