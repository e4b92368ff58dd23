//! The meter of one answer: fed the body's chunks as they pass to the client, it yields at the
//! end (or when the stream is cut) what the request consumed.
//!
//! Memory per request is bounded: a stream holds at most one event (`sse::MAX_EVENT_BYTES`); a
//! JSON body is kept whole up to `MAX_JSON_BYTES`, and past that only its first and last bytes,
//! where the model and the usage are.

use serde_json::Value;

use super::estimate::{self, consumes_tokens};
use super::extract::{self, Seen, StreamState, Tokens};
use super::request::Format;
use super::sse::Splitter;

pub const MAX_JSON_BYTES: usize = 1024 * 1024;
const JSON_HEAD_BYTES: usize = 4 * 1024;
const JSON_TAIL_BYTES: usize = 64 * 1024;
/// The most the usage-chunk filter holds of an unfinished event: OpenAI's usage chunk is well
/// under 1 KiB, so an event that grows past this is not one and goes out at once.
const MAX_HELD_BYTES: usize = 16 * 1024;

/// What the request consumed, as far as the proxy could tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub tokens: Tokens,
    /// The model the answer names (the caller falls back on the request's).
    pub model: Option<String>,
    /// The stream ended without its final event, or the client went away first.
    pub partial: bool,
    /// Some or all of the counters are the proxy's estimate, not the provider's report.
    pub estimated: bool,
    /// The upstream reported an error inside a 200 stream (Anthropic `event: error`, ...).
    pub stream_error: bool,
    /// The cost the upstream reported (pico-USD), kept only for a provider trusted to report it;
    /// the ledger takes it instead of the price table.
    pub cost_pusd: Option<i64>,
}

#[derive(Debug)]
pub struct Options {
    pub format: Format,
    /// The answer is `text/event-stream`.
    pub streamed: bool,
    pub status: u16,
    /// The request's declared length, for an estimate.
    pub request_bytes: Option<u64>,
    /// The proxy asked an OpenAI chat stream for its usage on the client's behalf, so the
    /// usage-only chunk must not reach the client (see `Meter::filter`).
    pub drop_usage_chunk: bool,
    /// The endpoint answers vectors, not text.
    pub embeddings: bool,
    /// The provider's own `usage.cost` is the request's cost (the provider table's
    /// `UsageFormat::OpenAiWithCost`: OpenRouter). Any other upstream's `cost` field is ignored.
    pub reported_cost: bool,
}

/// What the caller sends on to the client for a chunk it fed to `filter`.
#[derive(Debug, PartialEq, Eq)]
pub enum Emit {
    /// The chunk as it came (the usual case: no copy).
    All,
    /// These bytes instead (possibly none).
    Bytes(Vec<u8>),
}

#[derive(Debug, Default)]
struct JsonBody {
    whole: Vec<u8>,
    /// Past `MAX_JSON_BYTES`: the first and the last bytes only.
    over: bool,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl JsonBody {
    fn push(&mut self, bytes: &[u8]) {
        if !self.over {
            if self.whole.len() + bytes.len() <= MAX_JSON_BYTES {
                self.whole.extend_from_slice(bytes);
                return;
            }
            self.over = true;
            let whole = std::mem::take(&mut self.whole);
            self.head = whole[..JSON_HEAD_BYTES.min(whole.len())].to_vec();
            self.tail = whole;
        }
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > 2 * JSON_TAIL_BYTES {
            self.tail.drain(..self.tail.len() - JSON_TAIL_BYTES);
        }
    }
}

#[derive(Debug)]
pub struct Meter {
    opts: Options,
    splitter: Splitter,
    state: StreamState,
    json: JsonBody,
    answer_bytes: u64,
    /// Bytes of an unfinished event the filter has not sent yet.
    held: Vec<u8>,
    /// The unfinished event's first bytes were sent already (it is not a usage-only chunk).
    released: bool,
}

impl Meter {
    pub fn new(opts: Options) -> Meter {
        Meter {
            opts,
            splitter: Splitter::default(),
            state: StreamState::default(),
            json: JsonBody::default(),
            answer_bytes: 0,
            held: Vec::new(),
            released: false,
        }
    }

    /// Whether the answer's bytes must pass through `filter` (rather than only be copied to
    /// `feed` after they were sent on).
    pub fn filters(&self) -> bool {
        self.opts.drop_usage_chunk && self.opts.streamed
    }

    /// Looks at a chunk that was already sent on to the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.answer_bytes += bytes.len() as u64;
        if !self.opts.streamed {
            self.json.push(bytes);
            return;
        }
        let Meter { splitter, state, opts, .. } = self;
        splitter.feed(bytes, &mut |event, _| {
            state.on_event(opts.format, &event);
        });
    }

    /// Looks at a chunk before it is sent, and says what to send: everything but the usage-only
    /// chunk the client did not ask for. Bytes of an event that might be that chunk are held
    /// until the event ends or shows it has choices; everything else passes at once.
    pub fn filter(&mut self, bytes: &[u8]) -> Emit {
        if !self.filters() {
            self.feed(bytes);
            return Emit::All;
        }
        self.answer_bytes += bytes.len() as u64;
        let held_len = self.held.len();
        let released = self.released;
        let mut drops: Vec<(usize, usize)> = Vec::new();
        let mut last_end = 0usize;
        let mut ended_any = false;
        let Meter { splitter, state, opts, .. } = self;
        splitter.feed(bytes, &mut |event, end| {
            let end = held_len + end;
            let first_was_released = !ended_any && released;
            if state.on_event(opts.format, &event) == Seen::UsageOnlyChunk && !first_was_released {
                drops.push((last_end, end));
            }
            last_end = end;
            ended_any = true;
        });
        let total = held_len + bytes.len();
        let combined: std::borrow::Cow<[u8]> = if held_len == 0 {
            std::borrow::Cow::Borrowed(bytes)
        } else {
            let mut c = std::mem::take(&mut self.held);
            c.extend_from_slice(bytes);
            std::borrow::Cow::Owned(c)
        };
        let rest = &combined[last_end..total];
        let rest_released = if ended_any { false } else { released };
        let release = rest.is_empty() || rest_released || rest.len() > MAX_HELD_BYTES || has_choices(rest);
        self.released = !rest.is_empty() && release;
        if held_len == 0 && drops.is_empty() && release {
            return Emit::All;
        }
        let keep_end = if release { total } else { last_end };
        let mut out = Vec::with_capacity(keep_end);
        let mut from = 0;
        for (a, b) in drops {
            out.extend_from_slice(&combined[from..a]);
            from = b;
        }
        out.extend_from_slice(&combined[from..keep_end]);
        if !release {
            self.held = rest.to_vec();
        }
        Emit::Bytes(out)
    }

    /// Bytes the filter still holds when the stream ends: they belong to the client.
    pub fn take_held(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    /// The request's outcome. `cut`: the stream stopped before its end (the client went away or
    /// the upstream broke off).
    pub fn finish(mut self, cut: bool) -> Outcome {
        let opts = &self.opts;
        let ok = (200..300).contains(&opts.status);
        let counts = ok && consumes_tokens(opts.format);
        let estimate = |seen| estimate::estimate(opts.request_bytes, seen, opts.embeddings);
        if opts.streamed {
            let leftover = self.splitter.finish();
            let st = self.state;
            // Bytes of an unfinished last event mean it never closed, whatever came before.
            let partial = cut || !st.done || (leftover && st.tokens.is_none());
            let mut estimated = false;
            let tokens = match st.tokens {
                Some(t) if st.final_usage => t,
                // Gemini's running totals count what was sent so far.
                Some(t) if opts.format == Format::Gemini => t,
                // Anthropic's `message_start` has the input; the output comes only at the end.
                Some(mut t) if counts => {
                    let guess = estimate(estimate::Seen::Stream { content_events: st.content_events });
                    t.output_tokens = t.output_tokens.max(guess.output_tokens);
                    estimated = true;
                    t
                }
                Some(t) => t,
                None if counts => {
                    estimated = true;
                    estimate(estimate::Seen::Stream { content_events: st.content_events })
                }
                None => Tokens::default(),
            };
            // A cost comes with the final usage only; a cut stream's is the price table's guess.
            let cost_pusd = st.cost_pusd.filter(|_| opts.reported_cost && st.final_usage);
            return Outcome { tokens, model: st.model, partial, estimated, stream_error: st.error, cost_pusd };
        }
        let reported = if self.json.over {
            extract::from_json_ends(opts.format, &self.json.head, &self.json.tail)
        } else {
            serde_json::from_slice::<Value>(&self.json.whole)
                .map(|v| extract::from_json(opts.format, &v))
                .unwrap_or_default()
        };
        let (tokens, estimated) = match reported.tokens {
            Some(t) => (t, false),
            None if counts => (estimate(estimate::Seen::Json { bytes: self.answer_bytes }), true),
            None => (Tokens::default(), false),
        };
        let cost_pusd = reported.cost_pusd.filter(|_| opts.reported_cost && !estimated);
        Outcome { tokens, model: reported.model, partial: cut, estimated, stream_error: false, cost_pusd }
    }
}

fn has_choices(bytes: &[u8]) -> bool {
    const NEEDLES: [&[u8]; 2] = [b"\"choices\":[{", b"\"choices\": [{"];
    NEEDLES.iter().any(|n| bytes.windows(n.len()).any(|w| w == *n))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn opts(format: Format, streamed: bool) -> Options {
        Options { format, streamed, status: 200, request_bytes: Some(400), drop_usage_chunk: false, embeddings: false, reported_cost: false }
    }

    /// Feeds `body` split at every byte offset, and in 1-byte chunks, and checks every split gives
    /// the outcome of the whole body.
    pub(crate) fn run_every_split(o: impl Fn() -> Options, body: &[u8], cut: bool) -> Outcome {
        let whole = {
            let mut m = Meter::new(o());
            m.feed(body);
            m.finish(cut)
        };
        for at in 0..=body.len() {
            let mut m = Meter::new(o());
            m.feed(&body[..at]);
            m.feed(&body[at..]);
            assert_eq!(m.finish(cut), whole, "split at {at}");
        }
        let mut m = Meter::new(o());
        for b in body.chunks(1) {
            m.feed(b);
        }
        assert_eq!(m.finish(cut), whole, "1-byte chunks");
        whole
    }

    fn t(input: u64, cached: u64, write: u64, output: u64, reasoning: u64) -> Tokens {
        Tokens { input_tokens: input, cached_input_tokens: cached, cache_write_tokens: write, output_tokens: output, reasoning_tokens: reasoning }
    }

    const OPENAI_CHAT: &str = concat!(
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":3},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn openai_chat_stream_takes_the_usage_chunk() {
        let o = run_every_split(|| opts(Format::OpenAiChat, true), OPENAI_CHAT.as_bytes(), false);
        assert_eq!(o, Outcome { tokens: t(19, 3, 0, 10, 0), model: Some("gpt-4o-mini-2024-07-18".into()), partial: false, estimated: false, stream_error: false, cost_pusd: None });
    }

    #[test]
    fn openai_chat_stream_cut_before_its_usage_is_partial_and_estimated() {
        let cut_at = OPENAI_CHAT.find("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[]").unwrap();
        let o = run_every_split(|| opts(Format::OpenAiChat, true), &OPENAI_CHAT.as_bytes()[..cut_at], true);
        assert!(o.partial && o.estimated);
        assert_eq!((o.tokens.input_tokens, o.tokens.output_tokens), (100, 3));
        // Without the usage and without a cut (a client that did not ask for usage): estimated, not partial.
        let no_usage: String = OPENAI_CHAT.replace(&OPENAI_CHAT[cut_at..OPENAI_CHAT.find("data: [DONE]").unwrap()], "");
        let o = run_every_split(|| opts(Format::OpenAiChat, true), no_usage.as_bytes(), false);
        assert!(!o.partial && o.estimated);
    }

    #[test]
    fn compatible_upstreams_usage_on_a_chunk_with_choices_last_non_null_wins() {
        let body = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
            "data: {\"model\":\"m\",\"choices\":[],\"usage\":null}\n\n",
            "data: [DONE]\n\n"
        );
        let o = run_every_split(|| opts(Format::OpenAiChat, true), body.as_bytes(), false);
        assert_eq!(o.tokens, t(5, 0, 0, 2, 0));
    }

    /// OpenRouter's stream: usage, with its `cost`, on the last chunk before `[DONE]`.
    const OPENROUTER: &str = concat!(
        "data: {\"id\":\"gen-1\",\"model\":\"openai/gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
        ": OPENROUTER PROCESSING\n\n",
        "data: {\"id\":\"gen-1\",\"model\":\"openai/gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"gen-1\",\"model\":\"openai/gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13,\"cost\":0.0000375,\"is_byok\":false}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn a_trusted_reported_cost_is_kept_at_every_split_and_an_untrusted_one_is_not() {
        let trusted = || Options { reported_cost: true, ..opts(Format::OpenAiChat, true) };
        let o = run_every_split(trusted, OPENROUTER.as_bytes(), false);
        assert_eq!(o.cost_pusd, Some(37_500_000));
        assert_eq!(o.tokens, t(9, 0, 0, 4, 0));
        // The same bytes from a provider the table does not trust to report a cost.
        assert_eq!(run_every_split(|| opts(Format::OpenAiChat, true), OPENROUTER.as_bytes(), false).cost_pusd, None);
        // Cut before its usage: no cost, the price table's estimate applies.
        let cut = &OPENROUTER[..OPENROUTER.find("data: {\"id\":\"gen-1\",\"model\":\"openai/gpt-4o-mini\",\"choices\":[],").unwrap()];
        assert_eq!(run_every_split(trusted, cut.as_bytes(), true).cost_pusd, None);
        // A JSON answer.
        let body = br#"{"id":"gen-2","model":"anthropic/claude-haiku-4.5","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":7,"completion_tokens":2,"cost":0.25}}"#;
        let json = || Options { reported_cost: true, ..opts(Format::OpenAiChat, false) };
        assert_eq!(run_every_split(json, body, false).cost_pusd, Some(250_000_000_000));
        assert_eq!(run_every_split(|| opts(Format::OpenAiChat, false), body, false).cost_pusd, None);
    }

    const RESPONSES: &str = concat!(
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"model\":\"gpt-5-2025-08-07\",\"usage\":null}}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"model\":\"gpt-5-2025-08-07\",\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]}],\"usage\":{\"input_tokens\":12,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":80,\"output_tokens_details\":{\"reasoning_tokens\":64},\"total_tokens\":92}}}\n\n",
    );

    #[test]
    fn responses_stream_reads_response_completed() {
        let o = run_every_split(|| opts(Format::OpenAiResponses, true), RESPONSES.as_bytes(), false);
        assert_eq!(o, Outcome { tokens: t(12, 0, 0, 80, 64), model: Some("gpt-5-2025-08-07".into()), partial: false, estimated: false, stream_error: false, cost_pusd: None });
        let incomplete = RESPONSES.replace("response.completed", "response.incomplete");
        assert_eq!(run_every_split(|| opts(Format::OpenAiResponses, true), incomplete.as_bytes(), false).tokens, t(12, 0, 0, 80, 64));
        let failed = RESPONSES.replace("response.completed", "response.failed");
        let o = run_every_split(|| opts(Format::OpenAiResponses, true), failed.as_bytes(), false);
        assert!(o.stream_error && !o.partial);
        assert_eq!(o.tokens, t(12, 0, 0, 80, 64));
        let cut = &RESPONSES[..RESPONSES.find("event: response.completed").unwrap()];
        let o = run_every_split(|| opts(Format::OpenAiResponses, true), cut.as_bytes(), true);
        assert!(o.partial && o.estimated);
        assert_eq!(o.tokens.output_tokens, 1);
    }

    const ANTHROPIC: &str = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":10000,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},\"usage\":{\"output_tokens\":7}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":10000,\"output_tokens\":15}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );

    #[test]
    fn anthropic_stream_replaces_cumulative_deltas_and_counts_cache_once() {
        let o = run_every_split(|| opts(Format::Anthropic, true), ANTHROPIC.as_bytes(), false);
        assert_eq!(o, Outcome { tokens: t(12025, 10000, 2000, 15, 0), model: Some("claude-sonnet-4-5-20250929".into()), partial: false, estimated: false, stream_error: false, cost_pusd: None });
        // CRLF line ends parse the same.
        let crlf = ANTHROPIC.replace('\n', "\r\n");
        assert_eq!(run_every_split(|| opts(Format::Anthropic, true), crlf.as_bytes(), false), o);
    }

    #[test]
    fn anthropic_error_event_after_a_200() {
        let at = ANTHROPIC.find("event: message_delta").unwrap();
        let body = format!(
            "{}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n",
            &ANTHROPIC[..at]
        );
        let o = run_every_split(|| opts(Format::Anthropic, true), body.as_bytes(), false);
        assert!(o.stream_error && !o.partial && o.estimated);
        // Input and cache fields from message_start; output estimated from the two deltas seen.
        assert_eq!(o.tokens, t(12025, 10000, 2000, 2, 0));
    }

    #[test]
    fn anthropic_stream_cut_keeps_its_input_and_is_partial() {
        let at = ANTHROPIC.find("event: content_block_stop").unwrap();
        let o = run_every_split(|| opts(Format::Anthropic, true), &ANTHROPIC.as_bytes()[..at], true);
        assert!(o.partial && o.estimated && !o.stream_error);
        assert_eq!(o.tokens, t(12025, 10000, 2000, 2, 0));
    }

    const GEMINI: &str = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 2,\"totalTokenCount\": 40,\"thoughtsTokenCount\": 29},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"lo\"}],\"role\": \"model\"},\"index\": 0}],\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"!\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 12,\"totalTokenCount\": 50,\"thoughtsTokenCount\": 29,\"cachedContentTokenCount\": 4},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
    );

    #[test]
    fn gemini_stream_last_usage_wins_and_a_chunk_without_it_resets_nothing() {
        let o = run_every_split(|| opts(Format::Gemini, true), GEMINI.as_bytes(), false);
        assert_eq!(o, Outcome { tokens: t(9, 4, 0, 41, 29), model: Some("gemini-2.5-flash".into()), partial: false, estimated: false, stream_error: false, cost_pusd: None });
        // A chunk without usage as the last one changes nothing.
        let second = &GEMINI[GEMINI.find("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"lo\"").unwrap()..GEMINI.find("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"!\"").unwrap()];
        let body = format!("{GEMINI}{second}");
        assert_eq!(run_every_split(|| opts(Format::Gemini, true), body.as_bytes(), false).tokens, t(9, 4, 0, 41, 29));
    }

    #[test]
    fn gemini_final_usage_only_chunk_and_cut_stream() {
        let body = format!(
            "{}data: {{\"usageMetadata\": {{\"promptTokenCount\": 9,\"candidatesTokenCount\": 14,\"thoughtsTokenCount\": 30}},\"modelVersion\": \"gemini-3-pro-preview\"}}\n\n",
            GEMINI
        );
        let o = run_every_split(|| opts(Format::Gemini, true), body.as_bytes(), false);
        assert_eq!(o.tokens, t(9, 0, 0, 44, 30));
        assert_eq!(o.model.as_deref(), Some("gemini-3-pro-preview"));
        // Cut after the first chunk: its running totals, marked partial, not estimated.
        let first_end = GEMINI.find("\r\n\r\n").unwrap() + 4;
        let o = run_every_split(|| opts(Format::Gemini, true), &GEMINI.as_bytes()[..first_end], true);
        assert_eq!(o.tokens, t(9, 0, 0, 31, 29));
        assert!(o.partial && !o.estimated);
        // The stream ended by itself but without a finish reason: partial too.
        let o = run_every_split(|| opts(Format::Gemini, true), &GEMINI.as_bytes()[..first_end], false);
        assert!(o.partial);
    }

    #[test]
    fn json_answers_of_every_provider_at_every_split() {
        let cases: [(Format, &str, Tokens); 5] = [
            (Format::OpenAiChat, r#"{"id":"c","model":"gpt-4o","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":7,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":0}}}"#, t(7, 0, 0, 2, 0)),
            (Format::OpenAiResponses, r#"{"id":"r","model":"gpt-5","output":[],"usage":{"input_tokens":4,"output_tokens":9,"output_tokens_details":{"reasoning_tokens":5}}}"#, t(4, 0, 0, 9, 5)),
            (Format::Anthropic, r#"{"id":"m","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":3,"cache_read_input_tokens":5,"cache_creation_input_tokens":0,"output_tokens":8}}"#, t(8, 5, 0, 8, 0)),
            (Format::Gemini, r#"{"candidates":[],"usageMetadata":{"promptTokenCount":6,"candidatesTokenCount":3,"thoughtsTokenCount":2},"modelVersion":"gemini-2.5-pro"}"#, t(6, 0, 0, 5, 2)),
            (Format::OpenAiEmbeddings, r#"{"object":"list","data":[{"embedding":[0.1]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":11,"total_tokens":11}}"#, t(11, 0, 0, 0, 0)),
        ];
        for (format, body, tokens) in cases {
            let o = run_every_split(|| opts(format, false), body.as_bytes(), false);
            assert_eq!(o.tokens, tokens, "{format:?}");
            assert!(!o.estimated && !o.partial && o.model.is_some());
        }
    }

    #[test]
    fn json_without_usage_is_estimated_and_errors_and_model_lists_are_not() {
        let body = br#"{"embedding":{"values":[0.1,0.2]}}"#;
        let o = run_every_split(|| Options { embeddings: true, ..opts(Format::Gemini, false) }, body, false);
        assert!(o.estimated);
        assert_eq!((o.tokens.input_tokens, o.tokens.output_tokens), (100, 0));
        let o = run_every_split(|| Options { status: 429, ..opts(Format::OpenAiChat, false) }, br#"{"error":{"message":"slow down"}}"#, false);
        assert!(!o.estimated);
        assert_eq!(o.tokens, Tokens::default());
        let o = run_every_split(|| opts(Format::Other, false), br#"{"data":[]}"#, false);
        assert!(!o.estimated);
    }

    #[test]
    fn a_json_body_over_the_cap_is_read_from_its_ends() {
        let vectors = "0.0123,".repeat(MAX_JSON_BYTES / 7 + 10);
        let body = format!(r#"{{"object":"list","data":[{{"embedding":[{vectors}0.1]}}],"model":"text-embedding-3-large","usage":{{"prompt_tokens":321,"total_tokens":321}}}}"#);
        let mut m = Meter::new(opts(Format::OpenAiEmbeddings, false));
        for c in body.as_bytes().chunks(16 * 1024) {
            m.feed(c);
        }
        let o = m.finish(false);
        assert_eq!(o.tokens.input_tokens, 321);
        assert_eq!(o.model.as_deref(), Some("text-embedding-3-large"));
        assert!(!o.estimated);
    }

    fn filtered(body: &[u8], chunks: &[usize]) -> (Vec<u8>, Outcome) {
        let mut m = Meter::new(Options { drop_usage_chunk: true, ..opts(Format::OpenAiChat, true) });
        let mut out = Vec::new();
        let mut from = 0;
        for &to in chunks.iter().chain(std::iter::once(&body.len())) {
            match m.filter(&body[from..to]) {
                Emit::All => out.extend_from_slice(&body[from..to]),
                Emit::Bytes(b) => out.extend_from_slice(&b),
            }
            from = to;
        }
        out.extend(m.take_held());
        (out, m.finish(false))
    }

    #[test]
    fn the_filter_drops_exactly_the_usage_chunk_at_every_split() {
        let body = OPENAI_CHAT.as_bytes();
        let usage_start = OPENAI_CHAT.find("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[]").unwrap();
        let usage_end = OPENAI_CHAT.find("data: [DONE]").unwrap();
        let expected = [&body[..usage_start], &body[usage_end..]].concat();
        for at in 0..=body.len() {
            let (out, o) = filtered(body, &[at]);
            assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected), "split at {at}");
            assert_eq!(o.tokens, t(19, 3, 0, 10, 0));
        }
        let ones: Vec<usize> = (1..body.len()).collect();
        assert_eq!(filtered(body, &ones).0, expected);
    }

    #[test]
    fn the_filter_passes_whole_content_chunks_without_copying() {
        let body = OPENAI_CHAT.as_bytes();
        let first_end = OPENAI_CHAT.find("\n\n").unwrap() + 2;
        let mut m = Meter::new(Options { drop_usage_chunk: true, ..opts(Format::OpenAiChat, true) });
        assert_eq!(m.filter(&body[..first_end]), Emit::All);
        // Half a content event: its choices are visible, so it goes out at once too.
        assert_eq!(m.filter(&body[first_end..first_end + 150]), Emit::All);
        // A stream cut mid-event gives the client what the filter held.
        let mut m = Meter::new(Options { drop_usage_chunk: true, ..opts(Format::OpenAiChat, true) });
        assert_eq!(m.filter(b"data: {\"id\":\"x\""), Emit::Bytes(Vec::new()));
        assert_eq!(m.take_held(), b"data: {\"id\":\"x\"".to_vec());
    }
}
