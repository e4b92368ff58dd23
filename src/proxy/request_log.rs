//! What a log line of the proxy says: one JSON object per line, with the request's id, the token's
//! id prefix and the provider, so an operator can find every line of one request, or of one token,
//! in `wrangler tail` or the dashboard's Logs (which index JSON fields). Never a secret: the token
//! appears only as the first 8 hex characters of its SHA-256 (the id the dashboard shows), and any
//! secret the request handled is cut out of the free text before the line is written.

use serde::Serialize;

use crate::proxy::provider::Provider;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// Characters of the token's id (its SHA-256 in hex) a line carries: enough to tell tokens apart
/// and find one in the dashboard, and the id is not a secret anyway.
pub const TOKEN_PREFIX_LEN: usize = 8;

const REDACTED: &str = "[redacted]";

/// The context every line of one request carries, and the secrets its lines must not contain.
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    request_id: String,
    token_prefix: Option<String>,
    provider: Option<Provider>,
    secrets: Vec<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    level: Level,
    event: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
}

impl RequestLog {
    pub fn new(request_id: String) -> Self {
        RequestLog { request_id, ..Default::default() }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    pub fn set_provider(&mut self, provider: Provider) {
        self.provider = Some(provider);
    }

    /// `id` is the token's id (the hex SHA-256); only its prefix is kept.
    pub fn set_token_id(&mut self, id: &str) {
        self.token_prefix = Some(id.chars().take(TOKEN_PREFIX_LEN).collect());
    }

    /// A value no line may contain (the presented token, a provider key). Empty values are ignored.
    pub fn redact(&mut self, secret: &str) {
        if !secret.is_empty() {
            self.secrets.push(secret.to_string());
        }
    }

    /// The line for `event` (a fixed, snake_case name), with the answer's status when there is one
    /// and free text, from which every secret is removed.
    pub fn line(&self, level: Level, event: &str, status: Option<u16>, detail: &str) -> String {
        let detail = self.scrub(detail);
        serde_json::to_string(&Line {
            level,
            event,
            request_id: &self.request_id,
            token_id: self.token_prefix.as_deref(),
            provider: self.provider.map(Provider::name),
            status,
            detail: &detail,
        })
        .unwrap_or_default()
    }

    /// Removes each secret as it is and percent-encoded (how it would appear in a URL).
    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            for form in [secret.clone(), percent_encode(secret)] {
                if text.contains(&form) {
                    text = text.replace(&form, REDACTED);
                }
            }
        }
        text
    }
}

/// The request id: Cloudflare's `cf-ray` when it looks like one (so a line can be matched with
/// the `cf-ray` header the client received), else `generated`. A client can send its own
/// `cf-ray` to a local dev server, so anything else is not trusted into the log.
pub fn request_id(cf_ray: Option<&str>, generated: impl FnOnce() -> String) -> String {
    match cf_ray {
        Some(ray) if is_plausible_ray(ray) => ray.to_string(),
        _ => generated(),
    }
}

fn is_plausible_ray(ray: &str) -> bool {
    (1..=64).contains(&ray.len()) && ray.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// 16 hex characters from 64 random bits.
pub fn format_generated_id(random: u64) -> String {
    format!("{random:016x}")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> serde_json::Value {
        serde_json::from_str(line).expect("a line is one JSON object")
    }

    #[test]
    fn a_line_carries_the_request_token_prefix_and_provider() {
        let mut log = RequestLog::new("8f3a2b1c4d5e6f70-LHR".into());
        log.set_provider(Provider::Anthropic);
        log.set_token_id("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        let line = parsed(&log.line(Level::Error, "upstream_unreachable", Some(502), "connection refused"));
        assert_eq!(
            line,
            serde_json::json!({
                "level": "error",
                "event": "upstream_unreachable",
                "request_id": "8f3a2b1c4d5e6f70-LHR",
                "token_id": "01234567",
                "provider": "anthropic",
                "status": 502,
                "detail": "connection refused",
            })
        );
    }

    #[test]
    fn unknown_parts_are_left_out_not_invented() {
        let log = RequestLog::new("id".into());
        assert_eq!(parsed(&log.line(Level::Info, "refused", None, "")), serde_json::json!({"level": "info", "event": "refused", "request_id": "id"}));
    }

    #[test]
    fn secrets_are_cut_out_of_the_free_text_plain_and_url_encoded() {
        let mut log = RequestLog::new("id".into());
        log.redact("tok+en/=1");
        log.redact("sk-real");
        log.redact("");
        let line = log.line(Level::Error, "x", None, "GET https://h/?key=tok%2Ben%2F%3D1 with tok+en/=1 and Bearer sk-real");
        assert!(!line.contains("tok+en/=1") && !line.contains("tok%2Ben%2F%3D1") && !line.contains("sk-real"), "{line}");
        assert_eq!(parsed(&line)["detail"], "GET https://h/?key=[redacted] with [redacted] and Bearer [redacted]");
    }

    #[test]
    fn free_text_cannot_break_the_line() {
        let log = RequestLog::new("id".into());
        let line = log.line(Level::Warn, "x", None, "a\"b\nc");
        assert!(!line.contains('\n'));
        assert_eq!(parsed(&line)["detail"], "a\"b\nc");
    }

    #[test]
    fn the_request_id_is_cf_ray_when_it_looks_like_one() {
        assert_eq!(request_id(Some("8f3a2b1c4d5e6f70-LHR"), || "gen".into()), "8f3a2b1c4d5e6f70-LHR");
        assert_eq!(request_id(None, || "gen".into()), "gen");
        assert_eq!(request_id(Some(""), || "gen".into()), "gen");
        assert_eq!(request_id(Some("a\"b"), || "gen".into()), "gen");
        assert_eq!(request_id(Some(&"a".repeat(65)), || "gen".into()), "gen");
    }

    #[test]
    fn generated_ids_are_16_hex() {
        assert_eq!(format_generated_id(0xab), "00000000000000ab");
        assert_eq!(format_generated_id(u64::MAX).len(), 16);
    }
}
