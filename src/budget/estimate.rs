//! A request's worst case, reserved before the upstream call.
//!
//! Input: the body's declared length, at one token per 3 bytes. JSON around the prompt, and
//! tokenizers averaging about 4 bytes a token in English, keep real counts below that; base64
//! images are far below. Output: the request's own cap (`max_tokens`, `max_output_tokens`,
//! `max_completion_tokens`, `generationConfig.maxOutputTokens`), else the model's largest
//! answer from [`output_cap`].

use super::book::Amount;
use crate::usage::prices::Price;

/// Bytes per token assumed for the input's worst case.
pub const BYTES_PER_TOKEN: u64 = 3;
/// The input reserved when the body's length is not declared (a chunked upload).
pub const UNKNOWN_LENGTH_INPUT_TOKENS: u64 = 200_000;
/// The output reserved for a model not in [`OUTPUT_CAPS`] that names no cap itself.
pub const DEFAULT_OUTPUT_CAP: u64 = 32_768;

/// The largest answer each model family can give, by name prefix (the first match wins, so
/// longer prefixes come first).
pub const OUTPUT_CAPS: &[(&str, u64)] = &[
    ("claude-opus-4", 32_000),
    ("claude-sonnet-4", 64_000),
    ("claude-3-7-sonnet", 64_000),
    ("claude-haiku-4", 64_000),
    ("claude-3-5", 8_192),
    ("claude-3", 4_096),
    ("gpt-4o", 16_384),
    ("gpt-4.1", 32_768),
    ("gpt-5", 128_000),
    ("o1", 100_000),
    ("o3", 100_000),
    ("o4", 100_000),
    ("gpt-3.5", 4_096),
    ("gemini-2.0", 8_192),
    ("gemini-1.5", 8_192),
    ("gemini-", 65_536),
    ("text-embedding", 0),
    ("gemini-embedding", 0),
];

pub fn output_cap(model: Option<&str>) -> u64 {
    let Some(model) = model else { return DEFAULT_OUTPUT_CAP };
    let model = model.strip_prefix("models/").unwrap_or(model);
    OUTPUT_CAPS.iter().find(|(prefix, _)| model.starts_with(prefix)).map_or(DEFAULT_OUTPUT_CAP, |&(_, cap)| cap)
}

/// `(input_tokens, output_tokens)` at worst.
pub fn worst_case(body_length: Option<u64>, requested_output: Option<u64>, model: Option<&str>) -> (u64, u64) {
    let input = body_length.map_or(UNKNOWN_LENGTH_INPUT_TOKENS, |len| len.div_ceil(BYTES_PER_TOKEN));
    let output = requested_output.unwrap_or_else(|| output_cap(model));
    (input, output)
}

/// The request's own output cap: the largest of the fields it set (whichever the upstream
/// reads, the answer stays within the largest).
pub fn requested_output(fields: &[Option<f64>]) -> Option<u64> {
    fields.iter().flatten().filter(|n| n.is_finite() && **n >= 0.0).map(|n| n.ceil() as u64).max()
}

/// The worst case as an amount: tokens, and dollars at the dearest rates `price` has (cache
/// writes and long-context tiers cost more than plain input). `price` is `None` for a model
/// without one: such a request cannot be reserved under a dollar budget.
pub fn worst_amount(body_length: Option<u64>, requested: Option<u64>, model: Option<&str>, price: Option<&Price>) -> Amount {
    let (input, output) = worst_case(body_length, requested, model);
    let usd = price.map(|p| (input as f64 * dearest_input(p) + output as f64 * dearest_output(p)) / 1e6);
    Amount { usd, tokens: input + output }
}

/// A price's dearest input rate: plain input, cache writes, the long-context tier's.
fn dearest_input(p: &Price) -> f64 {
    [Some(p.input), p.cache_write, p.tier.map(|t| t.input), p.tier.and_then(|t| t.cache_write)].into_iter().flatten().fold(0.0, f64::max)
}

fn dearest_output(p: &Price) -> f64 {
    [Some(p.output), p.tier.map(|t| t.output)].into_iter().flatten().fold(0.0, f64::max)
}

/// The price assumed for a request whose model the proxy could not read (a body too long to read
/// first): the dearest rates among `prices`, so the reservation is still a worst case.
pub fn dearest<'a>(prices: impl Iterator<Item = &'a Price>) -> Option<Price> {
    prices.fold(None, |worst: Option<Price>, p| {
        let (input, output) = worst.map_or((0.0, 0.0), |w| (w.input, w.output));
        Some(Price { input: input.max(dearest_input(p)), cached_input: None, cache_write: None, output: output.max(dearest_output(p)), tier: None })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(input: f64, output: f64) -> Price {
        Price { input, cached_input: None, cache_write: None, output, tier: None }
    }

    #[test]
    fn the_worst_price_takes_the_dearest_rates() {
        let p = Price { cache_write: Some(3.75), ..price(3.0, 15.0) };
        let a = worst_amount(Some(3000), Some(100), Some("claude-sonnet-4"), Some(&p));
        assert_eq!(a.tokens, 1100);
        assert!((a.usd.unwrap() - (1000.0 * 3.75 + 100.0 * 15.0) / 1e6).abs() < 1e-12);
        assert_eq!(worst_amount(Some(3), None, Some("x"), None).usd, None);
        let d = dearest([price(1.0, 20.0), price(5.0, 2.0)].iter()).unwrap();
        assert_eq!((d.input, d.output), (5.0, 20.0));
    }

    #[test]
    fn the_largest_requested_cap_counts() {
        assert_eq!(requested_output(&[None, Some(100.0), Some(50.0)]), Some(100));
        assert_eq!(requested_output(&[None, Some(-1.0), Some(f64::NAN)]), None);
        assert_eq!(requested_output(&[]), None);
    }

    #[test]
    fn the_request_cap_wins_over_the_model_cap() {
        assert_eq!(worst_case(Some(300), Some(50), Some("gpt-4o-mini")), (100, 50));
        assert_eq!(worst_case(Some(301), None, Some("gpt-4o-mini")), (101, 16_384));
    }

    #[test]
    fn model_caps_by_prefix() {
        assert_eq!(output_cap(Some("claude-sonnet-4-5-20250929")), 64_000);
        assert_eq!(output_cap(Some("claude-3-5-haiku-latest")), 8_192);
        assert_eq!(output_cap(Some("models/gemini-2.5-flash")), 65_536);
        assert_eq!(output_cap(Some("gemini-2.0-flash")), 8_192);
        assert_eq!(output_cap(Some("text-embedding-3-small")), 0);
        assert_eq!(output_cap(Some("my-own-model")), DEFAULT_OUTPUT_CAP);
        assert_eq!(output_cap(None), DEFAULT_OUTPUT_CAP);
    }

    #[test]
    fn an_undeclared_length_reserves_a_whole_context() {
        assert_eq!(worst_case(None, Some(10), None), (UNKNOWN_LENGTH_INPUT_TOKENS, 10));
    }
}
