//! The fallback when an answer reports no usage: a rough count, marked estimated, so that a
//! request is never recorded as a silent 0.
//!
//! About 4 bytes of English text (and of the JSON around it) make one token; a streamed answer
//! sends about one token per content event (OpenAI and Anthropic stream token by token), which is
//! closer than its bytes, most of which are the envelope repeated on every event.

use super::extract::Tokens;
use super::request::Format;

pub const BYTES_PER_TOKEN: u64 = 4;

/// What the proxy saw of the answer, when it reported no usage.
#[derive(Debug, Clone, Copy)]
pub enum Seen {
    Json { bytes: u64 },
    Stream { content_events: u64 },
}

/// Whether answers of this format consume tokens at all (a model list or a token count does not).
pub fn consumes_tokens(format: Format) -> bool {
    format != Format::Other
}

/// The estimate for a request of `request_bytes` (its declared length, when it had one).
/// `embeddings`: the answer is vectors, not generated text, so it has no output tokens.
pub fn estimate(request_bytes: Option<u64>, seen: Seen, embeddings: bool) -> Tokens {
    let input_tokens = request_bytes.map(|b| b.div_ceil(BYTES_PER_TOKEN)).unwrap_or(0);
    let output_tokens = match seen {
        _ if embeddings => 0,
        Seen::Json { bytes } => bytes.div_ceil(BYTES_PER_TOKEN),
        Seen::Stream { content_events } => content_events,
    };
    Tokens { input_tokens, output_tokens, ..Tokens::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_bytes_a_token_for_bodies_and_one_per_streamed_event() {
        let t = estimate(Some(401), Seen::Stream { content_events: 12 }, false);
        assert_eq!((t.input_tokens, t.output_tokens), (101, 12));
        let t = estimate(None, Seen::Json { bytes: 80 }, false);
        assert_eq!((t.input_tokens, t.output_tokens), (0, 20));
        let t = estimate(Some(40), Seen::Json { bytes: 40_000 }, true);
        assert_eq!((t.input_tokens, t.output_tokens), (10, 0));
    }
}
