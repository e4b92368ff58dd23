//! Token strings and the record stored for each one.
//!
//! A generated token is `apx_` + 33 base62 characters of randomness (196 bits) + a 6-character
//! checksum. The checksum lets the proxy refuse a mistyped or foreign string without a KV read.
//! Only the SHA-256 of a token is ever stored; it is also the token's public id.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::policy::rules::Policy;
use crate::proxy::provider::Provider;

pub const PREFIX: &str = "apx_";
const RANDOM_LEN: usize = 33;
const CHECKSUM_LEN: usize = 6;
pub const GENERATED_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
pub const MIN_CUSTOM_LEN: usize = 24;
pub const MAX_TOKEN_LEN: usize = 256;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Lowercase hex SHA-256: the KV key and the token's id.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn is_token_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn checksum(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (0..CHECKSUM_LEN)
        .map(|_| {
            let c = BASE62[(n % 62) as usize] as char;
            n /= 62;
            c
        })
        .collect()
}

/// Builds a token from random bytes. Each byte below 248 (= 4 * 62) gives one unbiased base62
/// character; callers pass more bytes than needed and get `None` in the rare case they run out.
pub fn token_from_random(random: &[u8]) -> Option<String> {
    let body: String = random
        .iter()
        .filter(|&&b| b < 248)
        .take(RANDOM_LEN)
        .map(|&b| BASE62[(b % 62) as usize] as char)
        .collect();
    if body.len() < RANDOM_LEN {
        return None;
    }
    let body = format!("{PREFIX}{body}");
    let check = checksum(&body);
    Some(body + &check)
}

/// A fresh token from the platform's CSPRNG.
pub fn generate() -> Result<String, getrandom::Error> {
    loop {
        let mut random = [0u8; 64];
        getrandom::fill(&mut random)?;
        if let Some(token) = token_from_random(&random) {
            return Ok(token);
        }
    }
}

/// Whether a string can be a token at all. Generated tokens must carry a valid checksum; custom
/// ones must be long enough and fit in a header. False means 401 without touching KV.
pub fn is_plausible(token: &str) -> bool {
    if token.starts_with(PREFIX) {
        return token.len() == GENERATED_LEN
            && token.bytes().skip(PREFIX.len()).all(|b| b.is_ascii_alphanumeric())
            && checksum(&token[..GENERATED_LEN - CHECKSUM_LEN]) == token[GENERATED_LEN - CHECKSUM_LEN..];
    }
    is_valid_custom(token).is_ok()
}

/// Rules for a token typed by the operator.
pub fn is_valid_custom(token: &str) -> Result<(), &'static str> {
    if token.len() < MIN_CUSTOM_LEN {
        return Err("must be at least 24 characters");
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err("must be at most 256 characters");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("may only contain printable ASCII without spaces");
    }
    if token.starts_with(PREFIX) && !is_plausible(token) {
        return Err("may not start with apx_ (reserved for generated tokens)");
    }
    Ok(())
}

pub fn last4(token: &str) -> String {
    token[token.len().saturating_sub(4)..].to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Disabled,
}

/// What KV holds under a token's hash. Later settings are added as optional fields with serde
/// defaults, so records written by older versions keep loading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub label: String,
    #[serde(deserialize_with = "crate::proxy::provider::known_providers")]
    pub providers: Vec<Provider>,
    pub status: Status,
    pub created_at: String,
    pub last4: String,
    /// Expiry, rate limit and allowlists, stored as top-level fields of the record.
    #[serde(flatten)]
    pub policy: Policy,
}

/// Why a valid-looking token may not make this request.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Disabled,
    WrongProvider(Provider),
}

impl TokenRecord {
    /// The decision for a request to `provider` made with this record (or none found).
    pub fn authorize(record: Option<&TokenRecord>, provider: Provider) -> Result<(), Refusal> {
        let record = record.ok_or(Refusal::Unknown)?;
        if record.status != Status::Active {
            return Err(Refusal::Disabled);
        }
        if !record.providers.contains(&provider) {
            return Err(Refusal::WrongProvider(provider));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        token_from_random(&(0u8..64).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn hash_is_lowercase_hex_sha256() {
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(is_token_id(&hash_token("anything")));
        assert!(!is_token_id("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    }

    #[test]
    fn generated_tokens_have_prefix_length_and_valid_checksum() {
        let t = sample();
        assert!(t.starts_with("apx_"));
        assert_eq!(t.len(), GENERATED_LEN);
        assert!(is_plausible(&t));
    }

    #[test]
    fn generate_uses_fresh_randomness() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert!(is_plausible(&a) && is_plausible(&b));
    }

    #[test]
    fn bytes_that_would_bias_base62_are_skipped() {
        let mut random = vec![255u8; 10];
        random.extend(0u8..40);
        assert_eq!(token_from_random(&random).unwrap()[4..14], *"0123456789");
        assert_eq!(token_from_random(&[255u8; 64]), None);
    }

    #[test]
    fn any_single_character_change_breaks_the_checksum() {
        let t = sample();
        for i in PREFIX.len()..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            assert!(!is_plausible(&String::from_utf8(bytes).unwrap()), "position {i}");
        }
        assert!(!is_plausible(&t[..t.len() - 1]));
    }

    #[test]
    fn custom_token_rules() {
        assert!(is_valid_custom("a-custom-token-of-24-chr").is_ok());
        assert!(is_valid_custom("too-short").is_err());
        assert!(is_valid_custom("has a space in it somewhere").is_err());
        assert!(is_valid_custom("non-ascii-ééééééééééééééééé").is_err());
        assert!(is_valid_custom(&"x".repeat(257)).is_err());
        assert!(is_valid_custom("apx_looks-generated-but-is-not-valid").is_err());
        assert!(is_valid_custom(&sample()).is_ok());
        assert!(is_plausible("a-custom-token-of-24-chr"));
        assert!(!is_plausible("sk-short"));
    }

    #[test]
    fn last4_is_the_tail() {
        assert_eq!(last4("abcdefgh"), "efgh");
        assert_eq!(last4("ab"), "ab");
    }

    fn record(status: Status, providers: Vec<Provider>) -> TokenRecord {
        TokenRecord {
            label: "ci".into(),
            providers,
            status,
            created_at: "2026-11-21T00:00:00Z".into(),
            last4: "abcd".into(),
            policy: Policy::default(),
        }
    }

    #[test]
    fn authorize_checks_presence_status_and_scope() {
        let r = record(Status::Active, vec![Provider::OpenAi]);
        assert_eq!(TokenRecord::authorize(Some(&r), Provider::OpenAi), Ok(()));
        assert_eq!(
            TokenRecord::authorize(Some(&r), Provider::Gemini),
            Err(Refusal::WrongProvider(Provider::Gemini))
        );
        assert_eq!(TokenRecord::authorize(None, Provider::OpenAi), Err(Refusal::Unknown));
        let d = record(Status::Disabled, vec![Provider::OpenAi]);
        assert_eq!(TokenRecord::authorize(Some(&d), Provider::OpenAi), Err(Refusal::Disabled));
    }

    #[test]
    fn record_json_round_trips_and_tolerates_unknown_fields() {
        let r = record(Status::Active, vec![Provider::OpenAi, Provider::Gemini]);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""providers":["openai","gemini"]"#), "{json}");
        assert!(json.contains(r#""status":"active""#));
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["future_field"] = serde_json::json!(1);
        assert_eq!(serde_json::from_value::<TokenRecord>(value).unwrap(), r);
    }

    #[test]
    fn policy_fields_sit_at_the_top_level_of_the_record() {
        let mut r = record(Status::Active, vec![Provider::OpenAi]);
        let plain = serde_json::to_value(&r).unwrap();
        assert!(plain.get("policy").is_none() && plain.get("allowed_models").is_none(), "{plain}");
        r.policy.allowed_models = Some(vec!["gpt-4o-mini".into()]);
        let value = serde_json::to_value(&r).unwrap();
        assert_eq!(value["allowed_models"], serde_json::json!(["gpt-4o-mini"]));
        assert_eq!(serde_json::from_value::<TokenRecord>(value).unwrap(), r);
    }
}
