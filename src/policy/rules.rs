//! Per-token restrictions (expiry, rate limit, client IPs, browser origins, models, paths) and the
//! decisions they make about one request. Every field is optional; a token without any behaves as
//! before. Admin input is validated in `policy::admin`; what is stored is read defensively anyway,
//! and anything unreadable refuses rather than allows.
//!
//! The policy sits at the top level of the token record and of the admin API's token objects:
//!
//! ```text
//! pub struct TokenRecord {
//!     pub label: String,
//!     // ...
//!     #[serde(flatten)]
//!     pub policy: Policy,
//! }
//! ```

use serde::{Deserialize, Serialize};

use crate::budget::book::{Budgets, TokenBudget, UsdBudget};
use crate::proxy::error_body::ErrorKind;
use crate::policy::fixed_window::Decision;
use crate::proxy::provider::Provider;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub requests: u32,
    pub per_seconds: u32,
}

/// Lists are kept as the operator typed them (trimmed; origins normalized) and parsed on use:
/// a few short strings per request cost less than a custom deserializer on every KV read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// RFC 3339, written by the admin API as `YYYY-MM-DDTHH:MM:SSZ`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// CIDR ranges or single addresses. Absent: any address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
    /// `scheme://host[:port]` or `*`. Absent: no browser origin at all (requests without `Origin`,
    /// i.e. servers and scripts, are unaffected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// Names or trailing-`*` prefixes. Absent: any model, and request bodies are never read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_models: Option<Vec<String>>,
    /// Upstream paths or trailing-`*` prefixes. Absent: any path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_paths: Option<Vec<String>>,
    /// Dollars per day, month or in total, held in the token's ledger object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<UsdBudget>,
    /// `input_tokens + output_tokens` per day, month or in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<TokenBudget>,
}

/// The most of a request body read to find its model; past it the answer is 413.
pub const MAX_MODEL_BODY_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyRefusal {
    Expired { at: String },
    /// A stored expiry that does not parse: refused, since it can no longer be honoured.
    ExpiryUnreadable,
    /// `None` when the client address was missing or unreadable.
    IpNotAllowed { ip: Option<String> },
    OriginNotAllowed { origin: String },
    PathNotAllowed { path: String, allowed: Vec<String> },
    /// The token restricts models and this request's model could not be found.
    ModelUnknown,
    ModelNotAllowed { model: String, allowed: Vec<String> },
    BodyTooLarge,
    RateLimited { limit: u32, per_seconds: u32, retry_after_seconds: u64 },
}

/// Keeps client-supplied text in an error message short.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(100) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

fn window_name(per_seconds: u32) -> String {
    match per_seconds {
        60 => "minute".into(),
        3600 => "hour".into(),
        86_400 => "day".into(),
        n => format!("{n} seconds"),
    }
}

impl PolicyRefusal {
    /// The refusal for a counter decision that did not allow the request.
    pub fn rate_limited(limit: &RateLimit, decision: &Decision) -> PolicyRefusal {
        PolicyRefusal::RateLimited {
            limit: limit.requests,
            per_seconds: limit.per_seconds,
            retry_after_seconds: decision.reset_secs,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            PolicyRefusal::Expired { .. } | PolicyRefusal::ExpiryUnreadable => ErrorKind::Unauthenticated,
            PolicyRefusal::IpNotAllowed { .. }
            | PolicyRefusal::OriginNotAllowed { .. }
            | PolicyRefusal::PathNotAllowed { .. }
            | PolicyRefusal::ModelUnknown
            | PolicyRefusal::ModelNotAllowed { .. } => ErrorKind::Forbidden,
            PolicyRefusal::BodyTooLarge => ErrorKind::PayloadTooLarge,
            PolicyRefusal::RateLimited { .. } => ErrorKind::RateLimited,
        }
    }

    pub fn message(&self) -> String {
        match self {
            PolicyRefusal::Expired { at } => format!("This api-proxy token expired at {at}; ask the operator for a new one."),
            PolicyRefusal::ExpiryUnreadable => {
                "This api-proxy token's expiry date is unreadable, so the token is refused; ask the operator to set it again.".into()
            }
            PolicyRefusal::IpNotAllowed { ip: Some(ip) } => format!(
                "Requests from {} are not allowed for this api-proxy token; ask the operator to add this address to the token's allowed IPs.",
                shorten(ip)
            ),
            PolicyRefusal::IpNotAllowed { ip: None } => {
                "This api-proxy token only accepts requests from listed IP addresses, and this request's address is unknown.".into()
            }
            PolicyRefusal::OriginNotAllowed { origin } => format!(
                "Origin {} is not allowed for this api-proxy token; add it to the token's allowed origins in the dashboard.",
                shorten(origin)
            ),
            PolicyRefusal::PathNotAllowed { path, allowed } => format!(
                "Path {} is not allowed for this api-proxy token; it may call: {}.",
                shorten(path),
                allowed.join(", ")
            ),
            PolicyRefusal::ModelUnknown => "This api-proxy token may only use certain models, and this request names none; \
                send a JSON body with a \"model\" field (or, for Gemini, the model in the path)."
                .into(),
            PolicyRefusal::ModelNotAllowed { model, allowed } => format!(
                "Model {} is not allowed for this api-proxy token; it may use: {}.",
                shorten(model),
                allowed.join(", ")
            ),
            PolicyRefusal::BodyTooLarge => format!(
                "The request body is larger than {} MiB, the most this proxy reads for a token limited to certain models.",
                MAX_MODEL_BODY_BYTES >> 20
            ),
            PolicyRefusal::RateLimited { limit, per_seconds, retry_after_seconds } => format!(
                "This api-proxy token is limited to {limit} request{} per {}; try again in {retry_after_seconds} s.",
                if *limit == 1 { "" } else { "s" },
                window_name(*per_seconds)
            ),
        }
    }
}

/// An exact value, or a prefix when the pattern ends in `*`. Case-sensitive: an allowlist that
/// compares more strictly than the provider can only refuse more, never allow more.
pub fn matches_pattern(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Paths that could mean something else once the upstream decodes or normalizes them never match
/// a path pattern (`/v1beta/models/*` must not reach `/v1beta/models/../files`).
pub(crate) fn is_ambiguous_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("%2f") || lower.contains("%5c") || lower.split('/').any(|seg| matches!(seg.replace("%2e", ".").as_str(), "." | ".."))
}

const MODEL_PATH_PREFIXES: [&str; 4] = ["/v1/models/", "/v1beta/models/", "/v1alpha/models/", "/v1beta/openai/models/"];

/// The model named by the path: Gemini's `/v1beta/models/{model}:{method}` (any version), and the
/// model lookups `/v1/models/{model}` of every provider. Only Gemini ends the name at `:`, since
/// OpenAI's fine-tuned names contain colons (`ft:gpt-4o-mini:org::id`). A name with `/` or `%`
/// is not trusted to mean what it looks like, so it counts as no model.
pub fn model_from_path(provider: Provider, upstream_path: &str) -> Option<&str> {
    let rest = MODEL_PATH_PREFIXES.iter().find_map(|p| upstream_path.strip_prefix(p))?;
    let model = match provider {
        Provider::Gemini => rest.split_once(':').map_or(rest, |(model, _)| model),
        _ => rest,
    };
    (!model.is_empty() && !model.contains(['/', '%'])).then_some(model)
}

/// The top-level `"model"` string of a JSON object body (see [`model_scan`], which also reads a
/// body chunk by chunk as it streams). `None` when the body is not a JSON object, has no string
/// model, or names it twice (the upstream might read the other one). Gemini's `models/` prefix is
/// dropped, as in the path.
///
/// [`model_scan`]: crate::policy::model_scan
pub fn model_from_json(body: &[u8]) -> Option<String> {
    crate::policy::model_scan::model_of(body)
}

/// A duration the way OpenAI writes `x-ratelimit-reset-requests` (Go's format: `1s`, `6m0s`,
/// `1h0m0s`), which OpenAI clients already parse.
pub fn go_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// Headers for every answer to a token with a `rate_limit`, forwarded or refused. They replace
/// upstream headers of the same name, which describe the operator's whole account instead.
/// `retry-after` (seconds) only on a refusal.
pub fn rate_limit_headers(decision: &Decision) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("x-ratelimit-limit-requests", decision.limit.to_string()),
        ("x-ratelimit-remaining-requests", decision.remaining.to_string()),
        ("x-ratelimit-reset-requests", go_duration(decision.reset_secs)),
    ];
    if !decision.allowed {
        headers.push(("retry-after", decision.reset_secs.to_string()));
    }
    headers
}

/// What the checks that need no request body look at.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestFacts<'a> {
    pub now_unix: i64,
    /// `CF-Connecting-IP`.
    pub client_ip: Option<&'a str>,
    pub origin: Option<&'a str>,
    /// The path forwarded upstream (after an `/openai`-style prefix is removed), without query.
    pub upstream_path: &'a str,
}

impl Policy {
    pub fn budgets(&self) -> Budgets {
        Budgets { usd: self.budget_usd, tokens: self.budget_tokens }
    }

    /// Expiry, client IP, origin and path, in that order (cheapest first; an expired token hears
    /// that before anything else). Models and rate limits are checked separately: they may need the
    /// body or the token's counter.
    pub fn check(&self, r: &RequestFacts) -> Result<(), PolicyRefusal> {
        self.check_expiry(r.now_unix)?;
        self.check_ip(r.client_ip)?;
        self.check_origin(r.origin)?;
        self.check_path(r.upstream_path)
    }

    /// Expired from the stated instant on.
    pub fn check_expiry(&self, now_unix: i64) -> Result<(), PolicyRefusal> {
        let Some(at) = &self.expires_at else { return Ok(()) };
        match crate::common::timestamp::parse_rfc3339(at) {
            None => Err(PolicyRefusal::ExpiryUnreadable),
            Some(t) if now_unix >= t => Err(PolicyRefusal::Expired { at: at.clone() }),
            Some(_) => Ok(()),
        }
    }

    pub fn check_ip(&self, client_ip: Option<&str>) -> Result<(), PolicyRefusal> {
        let Some(ranges) = &self.allowed_ips else { return Ok(()) };
        match client_ip.and_then(crate::policy::cidr::parse_client_ip) {
            Some(ip) if crate::policy::cidr::any_contains(ranges, ip) => Ok(()),
            Some(ip) => Err(PolicyRefusal::IpNotAllowed { ip: Some(ip.to_string()) }),
            None => Err(PolicyRefusal::IpNotAllowed { ip: None }),
        }
    }

    /// A request without `Origin` is not from a browser page and passes. One with `Origin` needs
    /// the token to list it (or `*`); with no list, no browser page may use the token.
    pub fn check_origin(&self, origin: Option<&str>) -> Result<(), PolicyRefusal> {
        let Some(origin) = origin.filter(|o| !o.is_empty()) else { return Ok(()) };
        let allowed = self.allowed_origins.as_deref().unwrap_or_default();
        if allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
            Ok(())
        } else {
            Err(PolicyRefusal::OriginNotAllowed { origin: origin.to_string() })
        }
    }

    pub fn check_path(&self, upstream_path: &str) -> Result<(), PolicyRefusal> {
        let Some(patterns) = &self.allowed_paths else { return Ok(()) };
        if !is_ambiguous_path(upstream_path) && patterns.iter().any(|p| matches_pattern(p, upstream_path)) {
            Ok(())
        } else {
            Err(PolicyRefusal::PathNotAllowed { path: upstream_path.to_string(), allowed: patterns.clone() })
        }
    }

    /// Whether the model must be known. Only then may the glue read a request body (bounded by
    /// [`MAX_MODEL_BODY_BYTES`]), and only when [`model_from_path`] found nothing.
    pub fn restricts_models(&self) -> bool {
        self.allowed_models.is_some()
    }

    /// `model` is what [`model_from_path`] or [`model_from_json`] found; `None` on a token that
    /// restricts models is a refusal, never a pass.
    pub fn check_model(&self, model: Option<&str>) -> Result<(), PolicyRefusal> {
        let Some(patterns) = &self.allowed_models else { return Ok(()) };
        let model = model.ok_or(PolicyRefusal::ModelUnknown)?;
        if patterns.iter().any(|p| matches_pattern(p, model)) {
            Ok(())
        } else {
            Err(PolicyRefusal::ModelNotAllowed { model: model.to_string(), allowed: patterns.clone() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixed_window::Window;
    use serde_json::json;

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    /// Stands in for `TokenRecord` with the policy flattened into it.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        label: String,
        #[serde(flatten)]
        policy: Policy,
    }

    #[test]
    fn a_record_without_policy_fields_loads_and_saves_unchanged() {
        let r: Record = serde_json::from_value(json!({"label": "old", "status": "active"})).unwrap();
        assert_eq!(r.policy, Policy::default());
        assert_eq!(serde_json::to_value(&r).unwrap(), json!({"label": "old"}));
    }

    #[test]
    fn flattened_policy_round_trips_at_the_top_level() {
        let r = Record {
            label: "ci".into(),
            policy: Policy {
                expires_at: Some("2027-01-01T00:00:00Z".into()),
                rate_limit: Some(RateLimit { requests: 60, per_seconds: 60 }),
                allowed_ips: list(&["10.0.0.0/8"]),
                allowed_origins: list(&["https://app.example"]),
                allowed_models: list(&["gpt-4o-mini", "claude-*"]),
                allowed_paths: list(&["/v1/chat/completions"]),
                budget_usd: None,
                budget_tokens: Some(TokenBudget { tokens: 1000, per: crate::budget::period::Period::Month }),
            },
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["rate_limit"], json!({"requests": 60, "per_seconds": 60}));
        assert_eq!(v["allowed_models"], json!(["gpt-4o-mini", "claude-*"]));
        assert_eq!(serde_json::from_value::<Record>(v).unwrap(), r);
        let partial: Record = serde_json::from_value(json!({"label": "x", "allowed_ips": ["::1"], "expires_at": null})).unwrap();
        assert_eq!(partial.policy, Policy { allowed_ips: list(&["::1"]), ..Policy::default() });
    }

    #[test]
    fn no_policy_allows_everything() {
        let p = Policy::default();
        let facts = RequestFacts { now_unix: i64::MAX, client_ip: None, origin: None, upstream_path: "/anything" };
        assert_eq!(p.check(&facts), Ok(()));
        assert_eq!(p.check_model(None), Ok(()));
        assert!(!p.restricts_models());
    }

    #[test]
    fn expiry_refuses_from_the_stated_instant() {
        let p = Policy { expires_at: Some("2026-01-01T00:00:00Z".into()), ..Policy::default() };
        let at = crate::common::timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(p.check_expiry(at - 1), Ok(()));
        let e = p.check_expiry(at).unwrap_err();
        assert_eq!(e, PolicyRefusal::Expired { at: "2026-01-01T00:00:00Z".into() });
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.message(), "This api-proxy token expired at 2026-01-01T00:00:00Z; ask the operator for a new one.");
    }

    #[test]
    fn an_unreadable_expiry_fails_closed() {
        let p = Policy { expires_at: Some("next tuesday".into()), ..Policy::default() };
        assert_eq!(p.check_expiry(0), Err(PolicyRefusal::ExpiryUnreadable));
        assert_eq!(PolicyRefusal::ExpiryUnreadable.kind(), ErrorKind::Unauthenticated);
    }

    #[test]
    fn ip_allowlist() {
        let p = Policy { allowed_ips: list(&["203.0.113.0/24", "2001:db8::/32"]), ..Policy::default() };
        assert_eq!(p.check_ip(Some("203.0.113.50")), Ok(()));
        assert_eq!(p.check_ip(Some("::ffff:203.0.113.50")), Ok(()));
        assert_eq!(p.check_ip(Some("2001:db8:1::5")), Ok(()));
        let e = p.check_ip(Some("198.51.100.1")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        assert!(e.message().contains("198.51.100.1"), "{}", e.message());
        assert_eq!(p.check_ip(None), Err(PolicyRefusal::IpNotAllowed { ip: None }));
        assert_eq!(p.check_ip(Some("garbage")), Err(PolicyRefusal::IpNotAllowed { ip: None }));
    }

    #[test]
    fn origin_allowlist() {
        let p = Policy { allowed_origins: list(&["https://app.example", "http://localhost:5173"]), ..Policy::default() };
        assert_eq!(p.check_origin(None), Ok(()), "servers send no Origin");
        assert_eq!(p.check_origin(Some("https://app.example")), Ok(()));
        assert_eq!(p.check_origin(Some("http://localhost:5173")), Ok(()));
        for other in ["https://evil.example", "http://app.example", "https://app.example:8443", "http://localhost:5174", "null"] {
            let e = p.check_origin(Some(other)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Forbidden, "{other}");
        }
        let e = p.check_origin(Some("https://x")).unwrap_err();
        assert_eq!(
            e.message(),
            "Origin https://x is not allowed for this api-proxy token; add it to the token's allowed origins in the dashboard."
        );
    }

    #[test]
    fn origins_without_a_list_are_refused_and_star_allows_any() {
        assert!(Policy::default().check_origin(Some("https://app.example")).is_err());
        let any = Policy { allowed_origins: list(&["*"]), ..Policy::default() };
        assert_eq!(any.check_origin(Some("https://anything.example")), Ok(()));
        assert_eq!(any.check_origin(Some("null")), Ok(()));
    }

    #[test]
    fn path_allowlist() {
        let p = Policy { allowed_paths: list(&["/v1/chat/completions", "/v1beta/models/*"]), ..Policy::default() };
        assert_eq!(p.check_path("/v1/chat/completions"), Ok(()));
        assert_eq!(p.check_path("/v1beta/models/gemini-2.5-flash:generateContent"), Ok(()));
        for refused in ["/v1/chat/completions/x", "/v1/chat", "/v1/embeddings", "/v1beta/models", "/V1/chat/completions"] {
            let e = p.check_path(refused).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Forbidden, "{refused}");
        }
        assert!(p.check_path("/v1/embeddings").unwrap_err().message().contains("/v1/chat/completions, /v1beta/models/*"));
    }

    #[test]
    fn paths_that_could_escape_a_prefix_never_match() {
        let p = Policy { allowed_paths: list(&["/v1beta/models/*"]), ..Policy::default() };
        for sneaky in ["/v1beta/models/../files", "/v1beta/models/%2e%2E/files", "/v1beta/models/x%2F..%2Ffiles", "/v1beta/models/./x"] {
            assert!(p.check_path(sneaky).is_err(), "{sneaky}");
        }
        assert_eq!(p.check_path("/v1beta/models/gemini-2.5-flash..exp:generateContent"), Ok(()));
    }

    #[test]
    fn model_allowlist_exact_and_prefix() {
        let p = Policy { allowed_models: list(&["gpt-4o-mini", "claude-*"]), ..Policy::default() };
        assert!(p.restricts_models());
        assert_eq!(p.check_model(Some("gpt-4o-mini")), Ok(()));
        assert_eq!(p.check_model(Some("claude-sonnet-4-5")), Ok(()));
        for refused in ["gpt-4o", "gpt-4o-mini-2024-07-18", "GPT-4o-mini", "claud", ""] {
            assert!(p.check_model(Some(refused)).is_err(), "{refused}");
        }
        let e = p.check_model(Some("gpt-4o")).unwrap_err();
        assert_eq!(e.message(), "Model gpt-4o is not allowed for this api-proxy token; it may use: gpt-4o-mini, claude-*.");
        assert_eq!(p.check_model(None), Err(PolicyRefusal::ModelUnknown));
        assert_eq!(PolicyRefusal::ModelUnknown.kind(), ErrorKind::Forbidden);
    }

    #[test]
    fn gemini_model_from_path() {
        let g = Provider::Gemini;
        assert_eq!(model_from_path(g, "/v1beta/models/gemini-2.5-flash:generateContent"), Some("gemini-2.5-flash"));
        assert_eq!(model_from_path(g, "/v1/models/gemini-2.5-pro:streamGenerateContent"), Some("gemini-2.5-pro"));
        assert_eq!(model_from_path(g, "/v1beta/models/text-embedding-004:embedContent"), Some("text-embedding-004"));
        assert_eq!(model_from_path(g, "/v1beta/models/gemini-2.5-flash"), Some("gemini-2.5-flash"));
        assert_eq!(model_from_path(g, "/v1beta/openai/models/gemini-2.5-flash"), Some("gemini-2.5-flash"));
        for none in [
            "/v1beta/models",
            "/v1beta/models/",
            "/v1beta/models/:generateContent",
            "/v1beta/models/a/b:generateContent",
            "/v1beta/models/gemini%2D2.5-flash:generateContent",
            "/v1beta/tunedModels/mine:generateContent",
            "/v1beta/openai/chat/completions",
            "/upload/v1beta/files",
        ] {
            assert_eq!(model_from_path(g, none), None, "{none}");
        }
    }

    #[test]
    fn model_lookups_in_the_path_for_other_providers_keep_colons() {
        assert_eq!(model_from_path(Provider::OpenAi, "/v1/models/ft:gpt-4o-mini:acme::abc123"), Some("ft:gpt-4o-mini:acme::abc123"));
        assert_eq!(model_from_path(Provider::Anthropic, "/v1/models/claude-sonnet-4-5"), Some("claude-sonnet-4-5"));
        assert_eq!(model_from_path(Provider::OpenAi, "/v1/models"), None);
        assert_eq!(model_from_path(Provider::OpenAi, "/v1/chat/completions"), None);
    }

    #[test]
    fn model_from_a_json_body() {
        let body = br#" {"messages": [{"role": "user", "content": "a \"model\": \"x\""}], "model": "gpt-4o-mini", "stream": true}"#;
        assert_eq!(model_from_json(body).as_deref(), Some("gpt-4o-mini"));
        assert_eq!(model_from_json(br#"{"model": "models/gemini-2.5-flash"}"#).as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(model_from_json(br#"{"inner": {"model": "gpt-4o"}}"#), None, "only the top level counts");
    }

    #[test]
    fn bodies_without_one_clear_model_give_none() {
        for body in [
            &b""[..],
            b"not json",
            br#"["gpt-4o"]"#,
            br#"{"model": 4}"#,
            br#"{"model": null}"#,
            br#"{"model": ""}"#,
            br#"{"model": "gpt-4o-mini", "model": "gpt-4o"}"#,
            br#"{"model": "gpt-4o-mini"} trailing"#,
            br#"{"model": "gpt-4o-mini""#,
        ] {
            assert_eq!(model_from_json(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn check_runs_expiry_first() {
        let p = Policy {
            expires_at: Some("2020-01-01T00:00:00Z".into()),
            allowed_ips: list(&["10.0.0.0/8"]),
            ..Policy::default()
        };
        let facts = RequestFacts { now_unix: 1_800_000_000, client_ip: Some("192.0.2.1"), origin: None, upstream_path: "/v1/models" };
        assert!(matches!(p.check(&facts), Err(PolicyRefusal::Expired { .. })));
        let p = Policy { expires_at: None, ..p };
        assert!(matches!(p.check(&facts), Err(PolicyRefusal::IpNotAllowed { .. })));
        assert_eq!(p.check(&RequestFacts { client_ip: Some("10.1.1.1"), ..facts }), Ok(()));
    }

    #[test]
    fn rate_limited_and_too_large_refusals() {
        let limit = RateLimit { requests: 60, per_seconds: 60 };
        let (decision, _) = crate::policy::fixed_window::hit(Window { start: 1_795_302_180, count: 60 }, 60, 60, 1_795_302_228, 1);
        let e = PolicyRefusal::rate_limited(&limit, &decision);
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.message(), "This api-proxy token is limited to 60 requests per minute; try again in 12 s.");
        let one = PolicyRefusal::RateLimited { limit: 1, per_seconds: 86_400, retry_after_seconds: 5 };
        assert_eq!(one.message(), "This api-proxy token is limited to 1 request per day; try again in 5 s.");
        assert_eq!(PolicyRefusal::BodyTooLarge.kind(), ErrorKind::PayloadTooLarge);
        assert!(PolicyRefusal::BodyTooLarge.message().contains("32 MiB"));
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(1), "1s");
        assert_eq!(go_duration(59), "59s");
        assert_eq!(go_duration(60), "1m0s");
        assert_eq!(go_duration(360), "6m0s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(86_399), "23h59m59s");
    }

    #[test]
    fn rate_limit_headers_on_allowed_and_refused_answers() {
        let mut w = Window::default();
        let mut answers = Vec::new();
        for now in [1_795_302_210, 1_795_302_211, 1_795_302_212] {
            let (d, next) = crate::policy::fixed_window::hit(w, 2, 60, now, 1);
            answers.push(rate_limit_headers(&d));
            w = next;
        }
        assert_eq!(
            answers[0],
            [
                ("x-ratelimit-limit-requests", "2".to_string()),
                ("x-ratelimit-remaining-requests", "1".to_string()),
                ("x-ratelimit-reset-requests", "30s".to_string()),
            ]
        );
        assert!(answers[2].contains(&("retry-after", "28".to_string())), "{:?}", answers[2]);
        assert!(answers[2].contains(&("x-ratelimit-remaining-requests", "0".to_string())));
    }

    #[test]
    fn long_client_text_is_cut_in_messages() {
        let e = PolicyRefusal::ModelNotAllowed { model: "m".repeat(10_000), allowed: vec!["a".into()] };
        assert!(e.message().len() < 200);
    }
}
