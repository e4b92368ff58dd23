//! Validation of the policy fields in the admin API's create and PATCH bodies, in the manner of
//! `tokens::admin`: each refusal names its field, and a body is parsed whole into a [`PolicyPatch`]
//! before anything is applied.
//!
//! For the glue: add [`POLICY_FIELDS`] to the names `reject_unknown_fields` accepts, call
//! [`parse_policy_fields`] on the body object, and `apply` the patch to the record's policy (a new
//! record starts from `Policy::default()`, where a `null` and an absent field mean the same).

use serde_json::{Map, Value};

use crate::budget::book::{TokenBudget, UsdBudget};
use crate::budget::period::Period;
use crate::policy::cidr::Cidr;
use crate::policy::rules::{is_ambiguous_path, Policy, RateLimit};
use crate::common::timestamp::{format_rfc3339, parse_rfc3339};
use crate::common::field_error::FieldError;

pub const POLICY_FIELDS: [&str; 8] = [
    "expires_at",
    "rate_limit",
    "allowed_ips",
    "allowed_origins",
    "allowed_models",
    "allowed_paths",
    "budget_usd",
    "budget_tokens",
];

/// Keeps a record small enough to read on every request (and mostly within KV's 1 KiB metadata).
pub const MAX_LIST_ENTRIES: usize = 100;
pub const MAX_ENTRY_LEN: usize = 200;
pub const MAX_RATE_REQUESTS: u32 = 1_000_000;
pub const RATE_WINDOWS: [u32; 3] = [60, 3600, 86_400];
pub const MAX_BUDGET_USD: f64 = 1_000_000.0;
pub const MAX_BUDGET_TOKENS: u64 = 1_000_000_000_000;

/// Per field: `None` leaves it as it is, `Some(None)` clears it (`null`), `Some(Some(v))` sets it.
#[derive(Debug, Default, PartialEq)]
pub struct PolicyPatch {
    pub expires_at: Option<Option<String>>,
    pub rate_limit: Option<Option<RateLimit>>,
    pub allowed_ips: Option<Option<Vec<String>>>,
    pub allowed_origins: Option<Option<Vec<String>>>,
    pub allowed_models: Option<Option<Vec<String>>>,
    pub allowed_paths: Option<Option<Vec<String>>>,
    pub budget_usd: Option<Option<UsdBudget>>,
    pub budget_tokens: Option<Option<TokenBudget>>,
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

fn change<T>(
    obj: &Map<String, Value>,
    field: &'static str,
    parse: impl Fn(&Value) -> Result<Option<T>, FieldError>,
) -> Result<Option<Option<T>>, FieldError> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => parse(value).map(Some),
    }
}

/// Reads the policy fields of a create or PATCH body; other fields are left to the caller.
pub fn parse_policy_fields(obj: &Map<String, Value>) -> Result<PolicyPatch, FieldError> {
    Ok(PolicyPatch {
        expires_at: change(obj, "expires_at", parse_expires_at)?,
        rate_limit: change(obj, "rate_limit", parse_rate_limit)?,
        allowed_ips: change(obj, "allowed_ips", |v| parse_list("allowed_ips", v, ip_entry))?,
        allowed_origins: change(obj, "allowed_origins", |v| parse_list("allowed_origins", v, origin_entry))?,
        allowed_models: change(obj, "allowed_models", |v| parse_list("allowed_models", v, model_entry))?,
        allowed_paths: change(obj, "allowed_paths", |v| parse_list("allowed_paths", v, path_entry))?,
        budget_usd: change(obj, "budget_usd", parse_budget_usd)?,
        budget_tokens: change(obj, "budget_tokens", parse_budget_tokens)?,
    })
}

impl PolicyPatch {
    pub fn apply(self, policy: &mut Policy) {
        fn set<T>(slot: &mut Option<T>, change: Option<Option<T>>) {
            if let Some(value) = change {
                *slot = value;
            }
        }
        set(&mut policy.expires_at, self.expires_at);
        set(&mut policy.rate_limit, self.rate_limit);
        set(&mut policy.allowed_ips, self.allowed_ips);
        set(&mut policy.allowed_origins, self.allowed_origins);
        set(&mut policy.allowed_models, self.allowed_models);
        set(&mut policy.allowed_paths, self.allowed_paths);
        set(&mut policy.budget_usd, self.budget_usd);
        set(&mut policy.budget_tokens, self.budget_tokens);
    }
}

/// `{"<amount field>": n, "per": "day" | "month" | "total"}`: the amount and its period.
fn parse_budget<'a>(field: &'static str, amount: &str, value: &'a Value) -> Result<(&'a Value, Period), FieldError> {
    let shape = format!("must be an object like {{\"{amount}\": 25, \"per\": \"month\"}}, or null to remove the budget");
    let obj = value.as_object().ok_or_else(|| err(field, shape.clone()))?;
    if let Some(k) = obj.keys().find(|k| *k != amount && *k != "per") {
        return Err(err(field, format!("unknown field \"{k}\" (use {amount} and per)")));
    }
    let per = obj
        .get("per")
        .and_then(Value::as_str)
        .and_then(Period::parse)
        .ok_or_else(|| err(field, "per must be \"day\", \"month\" or \"total\" (UTC calendar days and months)"))?;
    let n = obj.get(amount).ok_or_else(|| err(field, shape))?;
    Ok((n, per))
}

fn parse_budget_usd(value: &Value) -> Result<Option<UsdBudget>, FieldError> {
    let (n, per) = parse_budget("budget_usd", "usd", value)?;
    let usd = n
        .as_f64()
        .filter(|u| u.is_finite() && *u > 0.0 && *u <= MAX_BUDGET_USD)
        .ok_or_else(|| err("budget_usd", format!("usd must be a number of dollars above 0 and at most {MAX_BUDGET_USD}")))?;
    Ok(Some(UsdBudget { usd, per }))
}

fn parse_budget_tokens(value: &Value) -> Result<Option<TokenBudget>, FieldError> {
    let (n, per) = parse_budget("budget_tokens", "tokens", value)?;
    let tokens = n
        .as_u64()
        .filter(|t| (1..=MAX_BUDGET_TOKENS).contains(t))
        .ok_or_else(|| err("budget_tokens", format!("tokens must be a whole number from 1 to {MAX_BUDGET_TOKENS}")))?;
    Ok(Some(TokenBudget { tokens, per }))
}

/// Stored in one canonical UTC form, so the proxy's "expired at ..." message reads the same
/// whatever offset the admin typed. Past instants are accepted: the token simply stops working.
fn parse_expires_at(value: &Value) -> Result<Option<String>, FieldError> {
    let t = value
        .as_str()
        .and_then(|s| parse_rfc3339(s.trim()))
        .ok_or_else(|| err("expires_at", "must be an RFC 3339 date and time with a zone, such as 2027-01-01T00:00:00Z"))?;
    Ok(Some(format_rfc3339(t)))
}

fn parse_rate_limit(value: &Value) -> Result<Option<RateLimit>, FieldError> {
    let shape = "must be an object like {\"requests\": 100, \"per_seconds\": 3600}";
    let obj = value.as_object().ok_or_else(|| err("rate_limit", shape))?;
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "requests" | "per_seconds")) {
        return Err(err("rate_limit", format!("unknown field \"{k}\" (use requests and per_seconds)")));
    }
    let requests = obj
        .get("requests")
        .and_then(Value::as_u64)
        .filter(|n| (1..=MAX_RATE_REQUESTS as u64).contains(n))
        .ok_or_else(|| err("rate_limit", format!("requests must be a whole number from 1 to {MAX_RATE_REQUESTS}")))?;
    let per_seconds = obj
        .get("per_seconds")
        .and_then(Value::as_u64)
        .filter(|n| RATE_WINDOWS.iter().any(|&w| w as u64 == *n))
        .ok_or_else(|| err("rate_limit", "per_seconds must be 60, 3600 or 86400 (a minute, an hour or a day)"))?;
    Ok(Some(RateLimit {
        requests: requests as u32,
        per_seconds: per_seconds as u32,
    }))
}

/// An empty list is refused where it would mean "nothing at all" (a token that can do nothing is
/// better disabled, and `[]` is easily mistaken for "no restriction"). For origins, empty and
/// absent mean the same (no browser pages), so `[]` just clears.
fn parse_list(
    field: &'static str,
    value: &Value,
    entry: fn(&str) -> Result<String, String>,
) -> Result<Option<Vec<String>>, FieldError> {
    let items = value
        .as_array()
        .ok_or_else(|| err(field, "must be an array of strings, or null to remove the restriction"))?;
    if items.len() > MAX_LIST_ENTRIES {
        return Err(err(field, format!("may have at most {MAX_LIST_ENTRIES} entries")));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let s = item.as_str().ok_or_else(|| err(field, "must contain only strings"))?.trim();
        if s.is_empty() {
            return Err(err(field, "must not contain empty entries"));
        }
        if s.chars().count() > MAX_ENTRY_LEN {
            return Err(err(field, format!("entries must be at most {MAX_ENTRY_LEN} characters")));
        }
        let s = entry(s).map_err(|m| err(field, m))?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    match (out.is_empty(), field) {
        (true, "allowed_origins") => Ok(None),
        (true, _) => Err(err(field, "must list at least one entry; send null to remove the restriction")),
        (false, _) => Ok(Some(out)),
    }
}

fn ip_entry(s: &str) -> Result<String, String> {
    Cidr::parse(s).map(|_| s.to_string())
}

/// Only a trailing `*`, and nothing a header or URL could not carry as is.
fn pattern(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("\"{s}\" must not contain spaces or control characters"));
    }
    if s.trim_end_matches('*').contains('*') || s.ends_with("**") {
        return Err(format!("\"{s}\": * may only appear once, at the end"));
    }
    Ok(())
}

fn model_entry(s: &str) -> Result<String, String> {
    pattern(s)?;
    if let Some(bare) = s.strip_prefix("models/") {
        return Err(format!("write \"{bare}\" without the models/ prefix"));
    }
    Ok(s.to_string())
}

fn path_entry(s: &str) -> Result<String, String> {
    pattern(s)?;
    if !s.starts_with('/') {
        return Err(format!("\"{s}\" must start with /"));
    }
    if s.contains(['?', '#']) {
        return Err(format!("\"{s}\" must be a path without ? or #"));
    }
    if is_ambiguous_path(s.trim_end_matches('*')) {
        return Err(format!("\"{s}\" must not contain . or .. segments or encoded slashes"));
    }
    let bare = s.trim_end_matches('*');
    for prefix in ["/openai", "/anthropic", "/gemini"] {
        if bare.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')) {
            return Err(format!("\"{s}\": write the provider's own path (like /v1/chat/completions), without {prefix}"));
        }
    }
    Ok(s.to_string())
}

/// `scheme://host[:port]` as a browser sends it in `Origin`: lowercase, no default port, no
/// trailing slash (a pasted `https://app.example/` is accepted and trimmed). Any scheme, so that
/// browser extensions (`chrome-extension://<id>`) can be listed.
fn origin_entry(s: &str) -> Result<String, String> {
    if s == "*" {
        return Ok(s.to_string());
    }
    let shape = || format!("\"{s}\" must be scheme://host[:port] (like https://app.example.com), with no path, or *");
    let (scheme, rest) = s.split_once("://").ok_or_else(shape)?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if !scheme_ok || rest.is_empty() || rest.contains(['/', '?', '#', '@', '*']) {
        return Err(shape());
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(shape)?;
        addr.parse::<std::net::Ipv6Addr>().map_err(|_| shape())?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(shape)?),
        };
        (format!("[{addr}]"), port)
    } else {
        let (host, port) = match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        if !host.is_ascii() {
            return Err(format!("\"{s}\": write the host in its ASCII (xn--) form, as browsers send it"));
        }
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
            return Err(shape());
        }
        (host.to_string(), port)
    };
    let scheme = scheme.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    let port = match port {
        None => None,
        Some(p) => {
            let n = (!p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u16>().ok())
                .flatten()
                .filter(|&n| n != 0)
                .ok_or_else(|| format!("\"{s}\": port must be a number from 1 to 65535"))?;
            let default = matches!((scheme.as_str(), n), ("http", 80) | ("https", 443));
            (!default).then_some(n)
        }
    };
    Ok(match port {
        Some(n) => format!("{scheme}://{host}:{n}"),
        None => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<PolicyPatch, FieldError> {
        parse_policy_fields(body.as_object().unwrap())
    }

    fn field_of(body: Value) -> &'static str {
        parse(body.clone()).expect_err(&body.to_string()).field
    }

    fn strings(items: &[&str]) -> Option<Option<Vec<String>>> {
        Some(Some(items.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn a_body_without_policy_fields_changes_nothing() {
        assert_eq!(parse(json!({"label": "x"})).unwrap(), PolicyPatch::default());
        let mut p = Policy {
            allowed_models: Some(vec!["gpt-4o".into()]),
            ..Policy::default()
        };
        let before = p.clone();
        parse(json!({})).unwrap().apply(&mut p);
        assert_eq!(p, before);
    }

    #[test]
    fn every_field_is_read_and_applied() {
        let patch = parse(json!({
            "expires_at": "2027-01-01T01:00:00+01:00",
            "rate_limit": {"requests": 100, "per_seconds": 3600},
            "allowed_ips": [" 10.0.0.0/8 ", "2001:db8::/32", "10.0.0.0/8"],
            "allowed_origins": ["HTTPS://App.Example:443/", "http://localhost:5173"],
            "allowed_models": ["gpt-4o-mini", "claude-*"],
            "allowed_paths": ["/v1/chat/completions", "/v1beta/models/*"],
        }))
        .unwrap();
        assert_eq!(patch.expires_at, Some(Some("2027-01-01T00:00:00Z".into())));
        assert_eq!(patch.rate_limit, Some(Some(RateLimit { requests: 100, per_seconds: 3600 })));
        assert_eq!(patch.allowed_ips, strings(&["10.0.0.0/8", "2001:db8::/32"]));
        assert_eq!(patch.allowed_origins, strings(&["https://app.example", "http://localhost:5173"]));
        assert_eq!(patch.allowed_models, strings(&["gpt-4o-mini", "claude-*"]));
        assert_eq!(patch.allowed_paths, strings(&["/v1/chat/completions", "/v1beta/models/*"]));
        let mut p = Policy::default();
        patch.apply(&mut p);
        assert_eq!(p.rate_limit, Some(RateLimit { requests: 100, per_seconds: 3600 }));
        assert_eq!(p.allowed_paths.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn null_clears_and_absent_keeps() {
        let mut p = Policy {
            expires_at: Some("2027-01-01T00:00:00Z".into()),
            rate_limit: Some(RateLimit { requests: 1, per_seconds: 60 }),
            allowed_ips: Some(vec!["::1".into()]),
            ..Policy::default()
        };
        parse(json!({"expires_at": null, "rate_limit": null})).unwrap().apply(&mut p);
        assert_eq!(p, Policy { allowed_ips: Some(vec!["::1".into()]), ..Policy::default() });
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (json!({"expires_at": "2027-01-01"}), "expires_at"),
            (json!({"expires_at": "soon"}), "expires_at"),
            (json!({"expires_at": 1_800_000_000}), "expires_at"),
            (json!({"rate_limit": 60}), "rate_limit"),
            (json!({"rate_limit": {"requests": 0, "per_seconds": 60}}), "rate_limit"),
            (json!({"rate_limit": {"requests": 1_000_001, "per_seconds": 60}}), "rate_limit"),
            (json!({"rate_limit": {"requests": 1.5, "per_seconds": 60}}), "rate_limit"),
            (json!({"rate_limit": {"requests": 10, "per_seconds": 120}}), "rate_limit"),
            (json!({"rate_limit": {"requests": 10}}), "rate_limit"),
            (json!({"rate_limit": {"requests": 10, "per_seconds": 60, "burst": 5}}), "rate_limit"),
            (json!({"allowed_ips": "10.0.0.0/8"}), "allowed_ips"),
            (json!({"allowed_ips": ["10.0.0.0/33"]}), "allowed_ips"),
            (json!({"allowed_ips": ["10.0.0.1/8"]}), "allowed_ips"),
            (json!({"allowed_ips": []}), "allowed_ips"),
            (json!({"allowed_ips": [""]}), "allowed_ips"),
            (json!({"allowed_ips": [7]}), "allowed_ips"),
            (json!({"allowed_origins": ["https://app.example/path"]}), "allowed_origins"),
            (json!({"allowed_models": ["gpt-*-mini"]}), "allowed_models"),
            (json!({"allowed_models": ["gpt 4o"]}), "allowed_models"),
            (json!({"allowed_models": []}), "allowed_models"),
            (json!({"allowed_paths": ["v1/chat/completions"]}), "allowed_paths"),
            (json!({"allowed_paths": []}), "allowed_paths"),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(body.clone()), field, "{body}");
        }
    }

    #[test]
    fn rate_limit_bounds_are_inclusive() {
        for (requests, per) in [(1, 60), (1_000_000, 86_400), (5, 3600)] {
            let p = parse(json!({"rate_limit": {"requests": requests, "per_seconds": per}})).unwrap();
            assert_eq!(p.rate_limit, Some(Some(RateLimit { requests, per_seconds: per })));
        }
    }

    #[test]
    fn host_bits_are_refused_with_a_suggestion() {
        let e = parse(json!({"allowed_ips": ["192.168.1.10/24"]})).unwrap_err();
        assert!(e.message.contains("did you mean 192.168.1.0/24"), "{e}");
    }

    #[test]
    fn too_many_entries_are_refused() {
        let many: Vec<String> = (0..=MAX_LIST_ENTRIES).map(|i| format!("m{i}")).collect();
        assert_eq!(field_of(json!({"allowed_models": many})), "allowed_models");
        assert_eq!(field_of(json!({"allowed_models": ["m".repeat(MAX_ENTRY_LEN + 1)]})), "allowed_models");
        assert!(parse(json!({"allowed_models": ["m".repeat(MAX_ENTRY_LEN)]})).is_ok());
    }

    #[test]
    fn origins_are_normalized_as_browsers_send_them() {
        let ok = |s: &str| origin_entry(s).unwrap();
        assert_eq!(ok("*"), "*");
        assert_eq!(ok("https://App.Example.com"), "https://app.example.com");
        assert_eq!(ok("https://app.example.com/"), "https://app.example.com");
        assert_eq!(ok("https://app.example.com:443"), "https://app.example.com");
        assert_eq!(ok("http://app.example.com:80"), "http://app.example.com");
        assert_eq!(ok("http://app.example.com:443"), "http://app.example.com:443");
        assert_eq!(ok("http://localhost:05173"), "http://localhost:5173");
        assert_eq!(ok("http://[::1]:8080"), "http://[::1]:8080");
        assert_eq!(ok("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
        assert_eq!(ok("chrome-extension://abcdefghijklmnop"), "chrome-extension://abcdefghijklmnop");
    }

    #[test]
    fn origins_with_more_or_less_than_an_origin_are_refused() {
        for bad in [
            "app.example.com",
            "null",
            "https://",
            "https://app.example.com/path",
            "https://app.example.com?x=1",
            "https://user@app.example.com",
            "https://*.example.com",
            "https://app.example.com:0",
            "https://app.example.com:65536",
            "https://app.example.com:",
            "https://[::1",
            "https://[zz::1]",
            "1https://app.example.com",
            "https://app example.com",
        ] {
            assert!(origin_entry(bad).is_err(), "{bad}");
        }
        assert!(origin_entry("https://bücher.example").unwrap_err().contains("xn--"));
    }

    #[test]
    fn empty_origin_list_clears() {
        assert_eq!(parse(json!({"allowed_origins": []})).unwrap().allowed_origins, Some(None));
    }

    #[test]
    fn patterns_allow_only_a_trailing_star() {
        assert!(model_entry("claude-*").is_ok());
        assert!(model_entry("*").is_ok());
        assert!(model_entry("ft:gpt-4o-mini:acme::abc123").is_ok());
        for bad in ["*-mini", "gpt-*-mini", "claude-**", "gpt\t4o"] {
            assert!(model_entry(bad).is_err(), "{bad}");
        }
        assert!(model_entry("models/gemini-2.5-flash").unwrap_err().contains("without the models/ prefix"));
    }

    #[test]
    fn path_patterns() {
        for ok in ["/v1/chat/completions", "/v1beta/models/*", "/*", "/v1/models/ft:gpt-4o:x"] {
            assert!(path_entry(ok).is_ok(), "{ok}");
        }
        for bad in ["*", "v1/*", "/v1/*/completions", "/v1/chat?x=1", "/v1/../admin", "/v1/a%2Fb", "/v1 /x"] {
            assert!(path_entry(bad).is_err(), "{bad}");
        }
        let e = path_entry("/openai/v1/chat/completions").unwrap_err();
        assert!(e.contains("without /openai"), "{e}");
        assert!(path_entry("/gemini*").is_err());
        assert!(path_entry("/openaix/v1").is_ok(), "only a whole-segment prefix is the provider's");
    }

    #[test]
    fn field_names_match_the_policy_json() {
        let full = Policy {
            expires_at: Some(String::new()),
            rate_limit: Some(RateLimit { requests: 1, per_seconds: 60 }),
            allowed_ips: Some(vec![]),
            allowed_origins: Some(vec![]),
            allowed_models: Some(vec![]),
            allowed_paths: Some(vec![]),
            budget_usd: Some(UsdBudget { usd: 1.0, per: Period::Day }),
            budget_tokens: Some(TokenBudget { tokens: 1, per: Period::Total }),
        };
        let v = serde_json::to_value(full).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut fields = POLICY_FIELDS.to_vec();
        keys.sort();
        fields.sort();
        assert_eq!(keys, fields);
    }

    #[test]
    fn budgets_are_read_with_their_period() {
        let p = parse(json!({"budget_usd": {"usd": 25.0, "per": "month"}, "budget_tokens": {"tokens": 2000000, "per": "day"}})).unwrap();
        assert_eq!(p.budget_usd, Some(Some(UsdBudget { usd: 25.0, per: Period::Month })));
        assert_eq!(p.budget_tokens, Some(Some(TokenBudget { tokens: 2_000_000, per: Period::Day })));
        assert_eq!(parse(json!({"budget_usd": null})).unwrap().budget_usd, Some(None));
        let mut policy = Policy::default();
        p.apply(&mut policy);
        assert_eq!(serde_json::to_value(&policy).unwrap()["budget_usd"], json!({"usd": 25.0, "per": "month"}));
    }

    #[test]
    fn bad_budgets_name_their_field() {
        for (body, field, says) in [
            (json!({"budget_usd": 25}), "budget_usd", "must be an object"),
            (json!({"budget_usd": {"usd": 0, "per": "day"}}), "budget_usd", "above 0"),
            (json!({"budget_usd": {"usd": -1, "per": "day"}}), "budget_usd", "above 0"),
            (json!({"budget_usd": {"usd": "5", "per": "day"}}), "budget_usd", "number of dollars"),
            (json!({"budget_usd": {"usd": 5, "per": "week"}}), "budget_usd", "\"day\", \"month\" or \"total\""),
            (json!({"budget_usd": {"usd": 5}}), "budget_usd", "per must be"),
            (json!({"budget_usd": {"usd": 5, "per": "day", "cap": 1}}), "budget_usd", "unknown field \"cap\""),
            (json!({"budget_tokens": {"tokens": 1.5, "per": "day"}}), "budget_tokens", "whole number"),
            (json!({"budget_tokens": {"tokens": 0, "per": "total"}}), "budget_tokens", "whole number"),
            (json!({"budget_tokens": {"per": "total"}}), "budget_tokens", "must be an object like {\"tokens\""),
        ] {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!(e.field, field, "{body}");
            assert!(e.message.contains(says), "{body}: {}", e.message);
        }
    }
}
