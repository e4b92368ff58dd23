//! What the request tells the meter before the answer arrives: the endpoint kind, the wire format
//! of the answer, and whether an OpenAI chat stream must be asked for its usage.

use crate::upstream::table::UsageFormat;

/// The shape of the answer's body, which decides where its usage is. OpenAI-compatible upstreams
/// answer in the OpenAI shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAiChat,
    OpenAiResponses,
    Anthropic,
    Gemini,
    OpenAiEmbeddings,
    Other,
}

/// The endpoint kind a ledger row is kept under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointKind {
    Chat,
    Responses,
    Messages,
    Generate,
    Embeddings,
    Audio,
    /// An OpenAI Realtime WebSocket session.
    Realtime,
    /// A Gemini Live WebSocket session.
    Live,
    Other,
}

impl EndpointKind {
    pub const ALL: [EndpointKind; 9] = [
        EndpointKind::Chat,
        EndpointKind::Responses,
        EndpointKind::Messages,
        EndpointKind::Generate,
        EndpointKind::Embeddings,
        EndpointKind::Audio,
        EndpointKind::Realtime,
        EndpointKind::Live,
        EndpointKind::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EndpointKind::Chat => "chat",
            EndpointKind::Responses => "responses",
            EndpointKind::Messages => "messages",
            EndpointKind::Generate => "generate",
            EndpointKind::Embeddings => "embeddings",
            EndpointKind::Audio => "audio",
            EndpointKind::Realtime => "realtime",
            EndpointKind::Live => "live",
            EndpointKind::Other => "other",
        }
    }

    pub fn from_name(name: &str) -> Option<EndpointKind> {
        EndpointKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind of an upstream path (the path the provider sees, without the proxy's prefix).
    pub fn of_path(path: &str) -> EndpointKind {
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            EndpointKind::Chat
        } else if path.ends_with("/responses") {
            EndpointKind::Responses
        } else if path.ends_with("/messages") {
            EndpointKind::Messages
        } else if path.ends_with(":generateContent") || path.ends_with(":streamGenerateContent") {
            EndpointKind::Generate
        } else if path.ends_with("/embeddings") || path.ends_with(":embedContent") || path.ends_with(":batchEmbedContents") {
            EndpointKind::Embeddings
        } else if path.contains("/audio/") {
            EndpointKind::Audio
        } else {
            EndpointKind::Other
        }
    }
}

/// The answer's format, from the provider's usage format (its row in the provider table) and the
/// upstream path. OpenAI-compatible providers answer in the OpenAI shapes; a provider whose
/// answers carry no token counts (ElevenLabs) has none.
pub fn format_of(usage: UsageFormat, path: &str) -> Format {
    let openai = matches!(usage, UsageFormat::OpenAi | UsageFormat::OpenAiWithCost);
    match (usage, EndpointKind::of_path(path)) {
        (UsageFormat::None, _) => Format::Other,
        (_, EndpointKind::Chat) => Format::OpenAiChat,
        (_, EndpointKind::Responses) => Format::OpenAiResponses,
        (UsageFormat::Anthropic, EndpointKind::Messages) => Format::Anthropic,
        (UsageFormat::Gemini, EndpointKind::Generate | EndpointKind::Embeddings) if !path.contains("/openai/") => Format::Gemini,
        (_, EndpointKind::Embeddings) => Format::OpenAiEmbeddings,
        // Legacy `/v1/completions` reports usage in the chat shape.
        (_, EndpointKind::Other) if openai && path.trim_end_matches('/').ends_with("/completions") => Format::OpenAiChat,
        _ => Format::Other,
    }
}

/// Whether the request's body must be read to ask an OpenAI chat stream for its usage: only a
/// POST to a chat completions path can be one.
pub fn may_need_usage_rewrite(method: &str, format: Format) -> bool {
    method.eq_ignore_ascii_case("POST") && format == Format::OpenAiChat
}

/// Given the body's `stream` and `stream_options.include_usage`, whether the proxy must add
/// `include_usage: true` (a stream that did not ask for it), in which case the client must not
/// see the extra usage chunk.
pub fn needs_usage_rewrite(stream: Option<bool>, include_usage: Option<bool>) -> bool {
    stream == Some(true) && include_usage != Some(true)
}

/// The largest chat body the proxy reads to add `include_usage`. Bigger bodies are forwarded
/// untouched and their usage is estimated.
pub const MAX_REWRITE_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The status class a row is kept under: `2xx`, `4xx`, `5xx` (and `1xx`/`3xx`).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_formats_of_the_providers_paths() {
        let cases = [
            ("openai", "/v1/chat/completions", EndpointKind::Chat, Format::OpenAiChat),
            ("openai", "/v1/responses", EndpointKind::Responses, Format::OpenAiResponses),
            ("openai", "/v1/embeddings", EndpointKind::Embeddings, Format::OpenAiEmbeddings),
            ("openai", "/v1/audio/transcriptions", EndpointKind::Audio, Format::Other),
            ("openai", "/v1/models", EndpointKind::Other, Format::Other),
            ("openai", "/v1/completions", EndpointKind::Other, Format::OpenAiChat),
            ("anthropic", "/v1/messages", EndpointKind::Messages, Format::Anthropic),
            ("anthropic", "/v1/messages/count_tokens", EndpointKind::Other, Format::Other),
            ("gemini", "/v1beta/models/gemini-2.5-flash:generateContent", EndpointKind::Generate, Format::Gemini),
            ("gemini", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", EndpointKind::Generate, Format::Gemini),
            ("gemini", "/v1beta/models/text-embedding-004:embedContent", EndpointKind::Embeddings, Format::Gemini),
            ("gemini", "/v1beta/openai/chat/completions", EndpointKind::Chat, Format::OpenAiChat),
            ("gemini", "/v1beta/openai/embeddings", EndpointKind::Embeddings, Format::OpenAiEmbeddings),
            ("gemini", "/v1beta/models/gemini-2.5-flash:countTokens", EndpointKind::Other, Format::Other),
            ("groq", "/openai/v1/chat/completions", EndpointKind::Chat, Format::OpenAiChat),
            ("openrouter", "/api/v1/chat/completions", EndpointKind::Chat, Format::OpenAiChat),
            ("mistral", "/v1/embeddings", EndpointKind::Embeddings, Format::OpenAiEmbeddings),
            ("fireworks", "/inference/v1/completions", EndpointKind::Other, Format::OpenAiChat),
            ("elevenlabs", "/v1/text-to-speech/voice", EndpointKind::Other, Format::Other),
        ];
        for (provider, path, kind, format) in cases {
            let usage = crate::upstream::table::BUILT_IN.iter().find(|r| r.name == provider).expect("a built-in provider").usage;
            assert_eq!(EndpointKind::of_path(path), kind, "{path}");
            assert_eq!(format_of(usage, path), format, "{provider} {path}");
            assert_eq!(EndpointKind::from_name(kind.name()), Some(kind));
        }
    }

    #[test]
    fn only_streams_that_did_not_ask_for_usage_are_rewritten() {
        assert!(needs_usage_rewrite(Some(true), None));
        assert!(needs_usage_rewrite(Some(true), Some(false)));
        assert!(!needs_usage_rewrite(Some(true), Some(true)));
        assert!(!needs_usage_rewrite(Some(false), None));
        assert!(!needs_usage_rewrite(None, None));
        assert!(may_need_usage_rewrite("post", Format::OpenAiChat));
        assert!(!may_need_usage_rewrite("GET", Format::OpenAiChat));
        assert!(!may_need_usage_rewrite("POST", Format::Anthropic));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(529), "5xx");
    }
}
