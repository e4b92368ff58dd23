//! Every problem with a posted token form at once, each tied to the input it is about and said in
//! the form's words ("Rate limit", not `rate_limit`). The API's own validation is reused field by
//! field, so the form and the API can never disagree about what is valid; this module only adds
//! what a form needs beyond it: all errors instead of the first, and a past expiry refused.

use serde_json::{Map, Value};

use crate::common::field_error::FieldError;
use crate::common::timestamp::{format_rfc3339, parse_rfc3339};
use crate::common::urlencoded;
use crate::policy::admin::{parse_policy_fields, MAX_BUDGET_TOKENS, MAX_BUDGET_USD, POLICY_FIELDS};
use crate::usage::format::int;
use crate::tokens::admin::{parse_label, parse_providers};
use crate::tokens::token;

/// A refused input: `field` is the form input's name (and its id), `message` a full sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub message: String,
}

/// What a page asks of a form's problems, the same for every form: the error at an input, whether
/// it is marked, where focus goes, what describes it, and the summary's count.
pub trait FieldProblems {
    fn error(&self, field: &str) -> Option<&str>;
    fn invalid(&self, field: &str) -> bool {
        self.error(field).is_some()
    }
    fn focus(&self, field: &str) -> bool;
    fn described_by(&self, field: &str) -> String {
        if self.invalid(field) {
            format!("{field}-error {field}-hint")
        } else {
            format!("{field}-hint")
        }
    }
    fn error_count(&self) -> String;
}

impl FieldProblems for [FieldProblem] {
    fn error(&self, field: &str) -> Option<&str> {
        self.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    /// The first bad input gets the focus (`autofocus`, so it works without JavaScript).
    fn focus(&self, field: &str) -> bool {
        self.first().is_some_and(|e| e.field == field)
    }

    /// "2 fields need attention" for the summary above the form.
    fn error_count(&self) -> String {
        match self.len() {
            1 => "1 field needs attention".to_string(),
            n => format!("{n} fields need attention"),
        }
    }
}

/// What the form is for. An edit may keep an expiry that has passed (so an expired token's label
/// can still be changed); only a newly typed past expiry is refused.
pub enum FormKind<'a> {
    Create,
    Edit { stored_expiry: Option<&'a str> },
}

/// The form input an API field is typed into, and its name on the page.
fn input_of(api_field: &str) -> (&'static str, &'static str) {
    match api_field {
        "label" => ("label", "Label"),
        "providers" => ("providers", "Providers"),
        "token" => ("token", "Custom token"),
        "expires_at" => ("expires_at", "Expires"),
        "rate_limit" => ("rate_requests", "Rate limit"),
        "budget_usd" => ("budget_usd", "Dollar budget"),
        "budget_tokens" => ("budget_tokens", "Token budget"),
        "allowed_models" => ("allowed_models", "Models"),
        "allowed_paths" => ("allowed_paths", "Endpoints"),
        "allowed_ips" => ("allowed_ips", "Client IP addresses"),
        "allowed_origins" => ("allowed_origins", "Browser origins"),
        _ => ("label", "The form"),
    }
}

/// The order the inputs appear in, so the first problem listed is the first bad input.
const FORM_ORDER: [&str; 11] =
    ["label", "providers", "expires_at", "rate_requests", "budget_usd", "budget_tokens", "allowed_models", "allowed_paths", "allowed_ips", "allowed_origins", "token"];

/// An API refusal said as the form would say it.
pub fn in_form_words(e: &FieldError) -> FieldProblem {
    let (field, name) = input_of(e.field);
    let m = e.message.as_str();
    let message = match (e.field, m) {
        ("label", "must not be empty") => "Give the token a label, such as ci-runner.".to_string(),
        ("providers", _) => "Tick at least one provider this token may use.".to_string(),
        ("expires_at", _) => {
            "Expires must be a date and time with a zone, such as 2027-01-01T00:00:00Z, or empty for never.".to_string()
        }
        ("rate_limit", _) if m.starts_with("per_seconds") => "Pick per minute, per hour or per day.".to_string(),
        ("rate_limit", _) => "Rate limit must be a whole number of requests from 1 to 1,000,000, or empty for no limit.".to_string(),
        ("budget_usd" | "budget_tokens", _) if m.starts_with("per ") => "Pick per day, per month or in total.".to_string(),
        ("budget_usd", _) => format!(
            "Dollar budget must be an amount of dollars above 0 and at most ${}, such as 25 or 2.50, or empty for none.",
            int(MAX_BUDGET_USD as u64)
        ),
        ("budget_tokens", _) => {
            format!("Token budget must be a whole number of tokens from 1 to {}, or empty for none.", int(MAX_BUDGET_TOKENS))
        }
        // Entry messages start with the entry itself ("\"10.0.0.1/8\" has host bits ...").
        (_, m) if m.starts_with('"') => sentence(format!("{name}: {m}")),
        (_, m) => sentence(format!("{name} {m}")),
    };
    FieldProblem { field, message }
}

fn sentence(mut s: String) -> String {
    if !s.ends_with(['.', '?', '!']) {
        s.push('.');
    }
    s
}

fn one(name: &str, value: &Value) -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert(name.to_string(), value.clone());
    obj
}

/// Every problem with `fields`, in the order of the form, given the API body they stand for
/// (`form_to_json`). Empty means the body passes the API's validation.
pub fn check(fields: &[(String, String)], body: &Value, kind: FormKind, now: i64) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let null = Value::Null;
    let get = |name: &str| body.get(name).unwrap_or(&null);
    if let Err(e) = parse_label(get("label")) {
        problems.push(in_form_words(&e));
    }
    if let Err(e) = parse_providers(get("providers")) {
        problems.push(in_form_words(&e));
    }
    for name in POLICY_FIELDS {
        if let Err(e) = parse_policy_fields(&one(name, get(name))) {
            problems.push(in_form_words(&e));
        }
    }
    if let Some(typed) = body.get("expires_at").and_then(Value::as_str) {
        let at = parse_rfc3339(typed.trim());
        let kept = match kind {
            FormKind::Edit { stored_expiry } => at.is_some() && stored_expiry.and_then(parse_rfc3339) == at,
            FormKind::Create => false,
        };
        if let Some(at) = at.filter(|&at| at <= now && !kept) {
            problems.push(FieldProblem {
                field: "expires_at",
                message: format!(
                    "Expires is in the past ({} UTC): the token would be refused from the start. Pick a later time, or leave it empty for never.",
                    format_rfc3339(at).replace('T', " ").trim_end_matches('Z')
                ),
            });
        }
    }
    if let FormKind::Create = kind {
        let custom = urlencoded::first(fields, "token").unwrap_or_default();
        if !custom.is_empty() {
            if let Err(m) = token::is_valid_custom(custom) {
                problems.push(FieldProblem { field: "token", message: format!("Custom token {m}.") });
            }
        }
    }
    problems.sort_by_key(|p| FORM_ORDER.iter().position(|f| *f == p.field));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::pages::form_to_json;

    const NOW: i64 = 1_795_302_245; // 2026-11-21T23:04:05Z

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn problems(pairs: &[(&str, &str)], kind: FormKind) -> Vec<FieldProblem> {
        let fields = posted(pairs);
        check(&fields, &form_to_json(&fields), kind, NOW)
    }

    fn fields_of(p: &[FieldProblem]) -> Vec<&str> {
        p.iter().map(|p| p.field).collect()
    }

    #[test]
    fn a_good_form_has_no_problems() {
        let ok = [("label", "ci"), ("providers", "openai"), ("expires_at", "2027-01-01T00:00:00Z"), ("rate_requests", "60")];
        assert_eq!(problems(&ok, FormKind::Create), vec![]);
    }

    #[test]
    fn every_bad_field_is_reported_at_once_in_form_order() {
        let p = problems(
            &[
                ("label", " "),
                ("expires_at", "next tuesday"),
                ("rate_requests", "lots"),
                ("allowed_ips", "10.0.0.1/8"),
                ("allowed_paths", "v1/chat"),
                ("token", "short"),
            ],
            FormKind::Create,
        );
        assert_eq!(fields_of(&p), ["label", "providers", "expires_at", "rate_requests", "allowed_paths", "allowed_ips", "token"]);
        for problem in &p {
            assert!(!problem.message.contains('_') || problem.field == "token", "form words, not API names: {}", problem.message);
            assert!(problem.message.ends_with(['.', '?']), "{}", problem.message);
        }
        assert!(p[5].message.starts_with("Client IP addresses: \"10.0.0.1/8\""), "{}", p[5].message);
        assert_eq!(p[3].message, "Rate limit must be a whole number of requests from 1 to 1,000,000, or empty for no limit.");
        assert_eq!(crate::policy::admin::MAX_RATE_REQUESTS, 1_000_000, "the form's message names this number");
        assert!(p[5].message.ends_with("did you mean 10.0.0.0/8?"), "one mark at the end: {}", p[5].message);
    }

    #[test]
    fn a_past_expiry_is_refused_on_create_and_when_newly_typed_on_edit() {
        let past = [("label", "x"), ("providers", "openai"), ("expires_at", "2026-01-01T00:00:00Z")];
        let p = problems(&past, FormKind::Create);
        assert_eq!(fields_of(&p), ["expires_at"]);
        assert!(p[0].message.contains("in the past (2026-01-01 00:00:00 UTC)"), "{}", p[0].message);
        assert_eq!(fields_of(&problems(&past, FormKind::Edit { stored_expiry: None })), ["expires_at"]);
        // The same instant already stored (the token has expired): editing its label is allowed.
        let kept = FormKind::Edit { stored_expiry: Some("2026-01-01T00:00:00Z") };
        assert_eq!(problems(&past, kept), vec![]);
        let now_exactly = format_rfc3339(NOW);
        assert_eq!(fields_of(&problems(&[("label", "x"), ("providers", "openai"), ("expires_at", &now_exactly)], FormKind::Create)), ["expires_at"]);
    }

    #[test]
    fn bad_budgets_are_named_at_their_inputs_in_form_words() {
        let p = problems(
            &[("label", "x"), ("providers", "openai"), ("budget_usd", "lots"), ("budget_usd_per", "month"), ("budget_tokens", "0"), ("budget_tokens_per", "week")],
            FormKind::Create,
        );
        assert_eq!(fields_of(&p), ["budget_usd", "budget_tokens"]);
        assert_eq!(p[0].message, "Dollar budget must be an amount of dollars above 0 and at most $1,000,000, such as 25 or 2.50, or empty for none.");
        assert_eq!(p[1].message, "Pick per day, per month or in total.", "the period is checked before the amount");
        let zero = problems(&[("label", "x"), ("providers", "openai"), ("budget_tokens", "0"), ("budget_tokens_per", "day")], FormKind::Create);
        assert_eq!(zero[0].message, "Token budget must be a whole number of tokens from 1 to 1,000,000,000,000, or empty for none.");
        for negative in ["-5", "0", "1000001", "1e400"] {
            assert_eq!(fields_of(&problems(&[("label", "x"), ("providers", "openai"), ("budget_usd", negative)], FormKind::Create)), ["budget_usd"], "{negative}");
        }
        let ok = [("label", "x"), ("providers", "openai"), ("budget_usd", "$2.50"), ("budget_usd_per", "day"), ("budget_tokens", "2,000,000"), ("budget_tokens_per", "total")];
        assert_eq!(problems(&ok, FormKind::Create), vec![]);
        assert_eq!((crate::policy::admin::MAX_BUDGET_USD, crate::policy::admin::MAX_BUDGET_TOKENS), (1_000_000.0, 1_000_000_000_000), "the messages name these numbers");
    }

    #[test]
    fn the_custom_token_is_checked_only_on_create() {
        let form = [("label", "x"), ("providers", "openai"), ("token", "apx_looks-generated-but-is-not")];
        assert_eq!(fields_of(&problems(&form, FormKind::Create)), ["token"]);
        assert_eq!(problems(&form[..2], FormKind::Create), vec![]);
    }
}
