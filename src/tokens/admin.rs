//! Validation of what the admin sends to create or change a token. Every refusal names the field,
//! and nothing is half-applied: a request is checked whole before any record changes.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::common::field_error::FieldError;
use crate::policy::admin::{parse_policy_fields, PolicyPatch, POLICY_FIELDS};
use crate::proxy::provider::Provider;
use crate::tokens::token::{self, Status, TokenRecord};

pub const MAX_LABEL_LEN: usize = 100;

#[derive(Debug, PartialEq)]
pub struct NewToken {
    pub label: String,
    pub providers: Vec<Provider>,
    /// A custom token typed by the operator; `None` means generate one.
    pub token: Option<String>,
    pub policy: PolicyPatch,
}

/// Changes to an existing token; `None` leaves a field as it is.
#[derive(Debug, PartialEq, Default)]
pub struct TokenPatch {
    pub label: Option<String>,
    pub providers: Option<Vec<Provider>>,
    pub status: Option<Status>,
    pub policy: PolicyPatch,
}

fn object(body: &Value) -> Result<&Map<String, Value>, FieldError> {
    body.as_object()
        .ok_or_else(|| FieldError::new("body", "must be a JSON object"))
}

fn reject_unknown_fields(obj: &Map<String, Value>, own: &[&str]) -> Result<(), FieldError> {
    let allowed = || own.iter().chain(POLICY_FIELDS.iter());
    match obj.keys().find(|k| !allowed().any(|a| a == k)) {
        Some(k) => {
            let names: Vec<&str> = allowed().copied().collect();
            Err(FieldError::new("body", format!("unknown field \"{k}\" (allowed: {})", names.join(", "))))
        }
        None => Ok(()),
    }
}

pub fn parse_label(value: &Value) -> Result<String, FieldError> {
    let label = value
        .as_str()
        .ok_or_else(|| FieldError::new("label", "must be a string"))?
        .trim();
    if label.is_empty() {
        return Err(FieldError::new("label", "must not be empty"));
    }
    if label.chars().count() > MAX_LABEL_LEN {
        return Err(FieldError::new("label", format!("must be at most {MAX_LABEL_LEN} characters")));
    }
    if label.chars().any(char::is_control) {
        return Err(FieldError::new("label", "must not contain control characters"));
    }
    Ok(label.to_string())
}

pub fn parse_providers(value: &Value) -> Result<Vec<Provider>, FieldError> {
    let items = value
        .as_array()
        .ok_or_else(|| FieldError::new("providers", "must be an array of provider names"))?;
    let mut providers = Vec::new();
    for item in items {
        let name = item
            .as_str()
            .ok_or_else(|| FieldError::new("providers", "must contain only strings"))?;
        let provider = Provider::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Provider::all().into_iter().map(Provider::name).collect();
            FieldError::new("providers", format!("unknown provider \"{name}\" (known: {})", known.join(", ")))
        })?;
        if !providers.contains(&provider) {
            providers.push(provider);
        }
    }
    if providers.is_empty() {
        return Err(FieldError::new("providers", "must name at least one provider"));
    }
    providers.sort();
    Ok(providers)
}

fn parse_status(value: &Value) -> Result<Status, FieldError> {
    match value.as_str() {
        Some("active") => Ok(Status::Active),
        Some("disabled") => Ok(Status::Disabled),
        _ => Err(FieldError::new("status", "must be \"active\" or \"disabled\"")),
    }
}

pub fn parse_new_token(body: &Value) -> Result<NewToken, FieldError> {
    let obj = object(body)?;
    reject_unknown_fields(obj, &["label", "providers", "token"])?;
    let label = parse_label(obj.get("label").unwrap_or(&Value::Null))?;
    let providers = parse_providers(obj.get("providers").unwrap_or(&Value::Null))?;
    let token = match obj.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            token::is_valid_custom(s).map_err(|m| FieldError::new("token", m))?;
            Some(s.clone())
        }
        Some(_) => return Err(FieldError::new("token", "must be a string")),
    };
    let policy = parse_policy_fields(obj)?;
    Ok(NewToken {
        label,
        providers,
        token,
        policy,
    })
}

pub fn parse_patch(body: &Value) -> Result<TokenPatch, FieldError> {
    let obj = object(body)?;
    reject_unknown_fields(obj, &["label", "providers", "status"])?;
    Ok(TokenPatch {
        label: obj.get("label").map(parse_label).transpose()?,
        providers: obj.get("providers").map(parse_providers).transpose()?,
        status: obj.get("status").map(parse_status).transpose()?,
        policy: parse_policy_fields(obj)?,
    })
}

impl NewToken {
    pub fn into_record(self, token: &str, now_unix: i64) -> TokenRecord {
        let mut policy = Default::default();
        self.policy.apply(&mut policy);
        TokenRecord {
            label: self.label,
            providers: self.providers,
            status: Status::Active,
            created_at: crate::common::timestamp::format_rfc3339(now_unix),
            last4: token::last4(token),
            policy,
        }
    }
}

impl TokenPatch {
    pub fn apply(self, record: &mut TokenRecord) {
        if let Some(label) = self.label {
            record.label = label;
        }
        if let Some(providers) = self.providers {
            record.providers = providers;
        }
        if let Some(status) = self.status {
            record.status = status;
        }
        self.policy.apply(&mut record.policy);
    }
}

/// Compares a presented secret with the real one in time that depends on neither: both are hashed
/// first, so neither their length nor the position of the first difference shows in the timing.
pub fn secrets_match(presented: &str, expected: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let (a, b) = (Sha256::digest(presented.as_bytes()), Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_minimal_create_request() {
        let t = parse_new_token(&json!({"label": " ci ", "providers": ["openai", "gemini", "openai"]})).unwrap();
        assert_eq!(
            t,
            NewToken {
                label: "ci".into(),
                providers: vec![Provider::OpenAi, Provider::Gemini],
                token: None,
                policy: PolicyPatch::default(),
            }
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (json!([]), "body"),
            (json!({"providers": ["openai"]}), "label"),
            (json!({"label": "", "providers": ["openai"]}), "label"),
            (json!({"label": "x".repeat(101), "providers": ["openai"]}), "label"),
            (json!({"label": "a\u{7}b", "providers": ["openai"]}), "label"),
            (json!({"label": "ok"}), "providers"),
            (json!({"label": "ok", "providers": []}), "providers"),
            (json!({"label": "ok", "providers": ["openai", "mistralai"]}), "providers"),
            (json!({"label": "ok", "providers": [1]}), "providers"),
            (json!({"label": "ok", "providers": "openai"}), "providers"),
            (json!({"label": "ok", "providers": ["openai"], "token": "short"}), "token"),
            (json!({"label": "ok", "providers": ["openai"], "token": 12}), "token"),
            (json!({"label": "ok", "providers": ["openai"], "scopes": []}), "body"),
        ];
        for (body, field) in cases {
            assert_eq!(parse_new_token(&body).unwrap_err().field, field, "{body}");
        }
    }

    #[test]
    fn unknown_provider_is_refused_with_its_name() {
        let e = parse_new_token(&json!({"label": "x", "providers": ["OpenAI"]})).unwrap_err();
        assert!(e.message.contains("\"OpenAI\""), "{e}");
    }

    #[test]
    fn custom_token_is_kept() {
        let t = parse_new_token(&json!({"label": "x", "providers": ["anthropic"], "token": "my-own-token-that-is-long-enough"})).unwrap();
        assert_eq!(t.token.as_deref(), Some("my-own-token-that-is-long-enough"));
    }

    #[test]
    fn new_record_starts_active_with_last4() {
        let t = parse_new_token(&json!({"label": "x", "providers": ["anthropic"]})).unwrap();
        let r = t.into_record("apx_abcdWXYZ", 0);
        assert_eq!((r.status, r.last4.as_str(), r.created_at.as_str()), (Status::Active, "WXYZ", "1970-01-01T00:00:00Z"));
    }

    #[test]
    fn patch_changes_only_what_it_names() {
        let mut r = parse_new_token(&json!({"label": "x", "providers": ["anthropic"]}))
            .unwrap()
            .into_record("tokentokentokentokentoken", 0);
        let before = r.clone();
        parse_patch(&json!({})).unwrap().apply(&mut r);
        assert_eq!(r, before);
        parse_patch(&json!({"status": "disabled", "label": "y"})).unwrap().apply(&mut r);
        assert_eq!((r.status, r.label.as_str(), &r.providers), (Status::Disabled, "y", &before.providers));
    }

    #[test]
    fn bad_patch_fields_are_named() {
        assert_eq!(parse_patch(&json!({"status": "paused"})).unwrap_err().field, "status");
        assert_eq!(parse_patch(&json!({"providers": ["x"]})).unwrap_err().field, "providers");
        assert_eq!(parse_patch(&json!({"label": 3})).unwrap_err().field, "label");
        assert_eq!(parse_patch(&json!({"token": "abc"})).unwrap_err().field, "body");
        assert_eq!(parse_patch(&json!({"allowed_ips": ["10.0.0.1/8"]})).unwrap_err().field, "allowed_ips");
    }

    #[test]
    fn policy_fields_are_set_on_create_and_changed_or_cleared_by_patch() {
        let mut r = parse_new_token(&json!({
            "label": "x", "providers": ["openai"],
            "rate_limit": {"requests": 3, "per_seconds": 60}, "allowed_models": ["gpt-4o-mini"],
        }))
        .unwrap()
        .into_record("tokentokentokentokentoken", 0);
        assert_eq!(r.policy.rate_limit.map(|l| l.requests), Some(3));
        parse_patch(&json!({"rate_limit": null, "allowed_paths": ["/v1/chat/completions"]})).unwrap().apply(&mut r);
        assert_eq!(r.policy.rate_limit, None);
        assert_eq!(r.policy.allowed_models.as_deref(), Some(&["gpt-4o-mini".to_string()][..]));
        assert_eq!(r.policy.allowed_paths.as_deref(), Some(&["/v1/chat/completions".to_string()][..]));
    }

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match("s3cret-admin", "s3cret-admin"));
        assert!(!secrets_match("s3cret-admin", "s3cret-admin "));
        assert!(!secrets_match("", "x"));
        assert!(!secrets_match("", ""), "an unset secret must never match");
    }
}
