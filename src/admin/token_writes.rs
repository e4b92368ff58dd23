//! The one way a token record is written: a [`TokenWrite`] sent to the `AdminState` Durable Object,
//! which applies writes one at a time against the record it holds (see `admin::state`). This module
//! is the pure part: what a write says, and what it does to the record AdminState knows.
//!
//! Deciding against AdminState's own copy, not a fresh KV read, is what makes a DELETE final: a
//! deleted id is kept as a tombstone, so a change that was in flight finds nothing to change, and a
//! stale KV read at the object's location cannot bring back an old version either.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::field_error::FieldError;
use crate::tokens::admin::parse_patch;
use crate::budget::guard::{Limits, Standing, Told};
use crate::tokens::token::{Status, TokenRecord};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TokenWrite {
    /// A new record. `custom`: the operator chose the token, so it may already exist.
    Create { id: String, record: TokenRecord, custom: bool },
    /// An admin change body (the API's PATCH, or a dashboard form as JSON). The caller validates it
    /// to answer with the right page; AdminState parses it again and applies it to its own copy.
    Patch { id: String, body: Value },
    Delete { id: String },
}

impl TokenWrite {
    pub fn id(&self) -> &str {
        match self {
            TokenWrite::Create { id, .. } | TokenWrite::Patch { id, .. } | TokenWrite::Delete { id } => id,
        }
    }
}

/// What AdminState knows of the record before a write.
#[derive(Clone, Debug, PartialEq)]
pub enum Current {
    Live(TokenRecord),
    /// Never written, or deleted (a tombstone).
    Absent,
    /// In KV, but no longer readable as a record. It can only be deleted.
    Damaged,
}

/// What a write does in KV.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Put(TokenRecord),
    Delete,
}

/// AdminState's answer to a write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Created or changed; the record as it now stands.
    Written { record: TokenRecord },
    Deleted,
    NotFound,
    Exists,
    Damaged,
    Invalid { field: String, message: String },
    /// KV (or AdminState's storage) failed; nothing was changed and nothing was logged.
    Unavailable { message: String },
}

/// The KV write for `write` on `current`, or the answer that refuses it.
pub fn plan(current: &Current, write: &TokenWrite) -> Result<Plan, Outcome> {
    match (write, current) {
        (TokenWrite::Create { .. }, Current::Live(_) | Current::Damaged) => Err(Outcome::Exists),
        (TokenWrite::Create { record, .. }, Current::Absent) => Ok(Plan::Put(record.clone())),
        (TokenWrite::Patch { .. } | TokenWrite::Delete { .. }, Current::Absent) => Err(Outcome::NotFound),
        (TokenWrite::Patch { .. }, Current::Damaged) => Err(Outcome::Damaged),
        (TokenWrite::Patch { body, .. }, Current::Live(record)) => {
            let patch = parse_patch(body).map_err(invalid)?;
            let mut changed = record.clone();
            patch.apply(&mut changed);
            Ok(Plan::Put(changed))
        }
        (TokenWrite::Delete { .. }, Current::Live(_) | Current::Damaged) => Ok(Plan::Delete),
    }
}

fn invalid(e: FieldError) -> Outcome {
    Outcome::Invalid {
        field: e.field.to_string(),
        message: e.to_string(),
    }
}

/// What the token's ledger object must hear of a write before KV does: a token with limits in
/// its object (now or before the write) is refused there the moment it is disabled or deleted,
/// wherever its record is still cached. Tokens without such limits never ask their object.
pub fn told(current: &Current, plan: &Plan) -> Option<Told> {
    let before = match current {
        Current::Live(record) => Some(Limits::of(&record.policy)),
        _ => None,
    };
    let told = match plan {
        Plan::Put(record) => Told {
            standing: if record.status == Status::Active { Standing::Active } else { Standing::Disabled },
            limits: Limits::of(&record.policy),
        },
        Plan::Delete => Told { standing: Standing::Deleted, limits: before.unwrap_or_default() },
    };
    (told.limits.any() || before.is_some_and(|l| l.any())).then_some(told)
}

/// The answer once the plan's KV write has succeeded.
pub fn done(plan: &Plan) -> Outcome {
    match plan {
        Plan::Put(record) => Outcome::Written { record: record.clone() },
        Plan::Delete => Outcome::Deleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> TokenRecord {
        serde_json::from_value(json!({
            "label": "ci", "providers": ["openai"], "status": "active",
            "created_at": "2026-12-01T10:00:00Z", "last4": "wxyz"
        }))
        .unwrap()
    }

    fn id() -> String {
        "a".repeat(64)
    }

    #[test]
    fn the_ledger_object_hears_of_writes_to_tokens_with_limits_in_it() {
        let plain = record();
        assert_eq!(told(&Current::Absent, &Plan::Put(plain.clone())), None, "no limits: its object is never asked");
        assert_eq!(told(&Current::Live(plain.clone()), &Plan::Delete), None);
        let mut limited = record();
        limited.policy.rate_limit = Some(crate::policy::rules::RateLimit { requests: 5, per_seconds: 60 });
        let mut disabled = limited.clone();
        disabled.status = Status::Disabled;
        let t = told(&Current::Live(limited.clone()), &Plan::Put(disabled)).unwrap();
        assert_eq!((t.standing, t.limits.rate_limit), (Standing::Disabled, limited.policy.rate_limit));
        assert_eq!(told(&Current::Live(limited.clone()), &Plan::Delete).unwrap().standing, Standing::Deleted);
        // Limits removed: the object hears that too, so a stale copy asking it is let through.
        let t = told(&Current::Live(limited), &Plan::Put(plain)).unwrap();
        assert_eq!((t.standing, t.limits.any()), (Standing::Active, false));
    }

    #[test]
    fn a_deleted_record_cannot_be_changed_or_deleted_again() {
        for write in [
            TokenWrite::Patch { id: id(), body: json!({"status": "active"}) },
            TokenWrite::Delete { id: id() },
        ] {
            assert_eq!(plan(&Current::Absent, &write), Err(Outcome::NotFound));
        }
    }

    #[test]
    fn a_change_applies_to_the_record_as_it_now_stands() {
        let mut renamed = record();
        renamed.label = "renamed".into();
        let write = TokenWrite::Patch { id: id(), body: json!({"status": "disabled"}) };
        let Ok(Plan::Put(after)) = plan(&Current::Live(renamed), &write) else { panic!() };
        assert_eq!((after.label.as_str(), after.status), ("renamed", Status::Disabled));
    }

    #[test]
    fn an_invalid_change_is_refused_whole() {
        let write = TokenWrite::Patch { id: id(), body: json!({"label": "", "status": "disabled"}) };
        assert!(matches!(plan(&Current::Live(record()), &write), Err(Outcome::Invalid { field, .. }) if field == "label"));
    }

    #[test]
    fn creating_over_an_existing_or_damaged_record_is_refused() {
        let write = TokenWrite::Create { id: id(), record: record(), custom: true };
        assert_eq!(plan(&Current::Live(record()), &write), Err(Outcome::Exists));
        assert_eq!(plan(&Current::Damaged, &write), Err(Outcome::Exists));
        assert_eq!(plan(&Current::Absent, &write), Ok(Plan::Put(record())));
    }

    #[test]
    fn a_damaged_record_can_only_be_deleted() {
        assert_eq!(plan(&Current::Damaged, &TokenWrite::Delete { id: id() }), Ok(Plan::Delete));
        let patch = TokenWrite::Patch { id: id(), body: json!({"status": "disabled"}) };
        assert_eq!(plan(&Current::Damaged, &patch), Err(Outcome::Damaged));
    }

    #[test]
    fn writes_and_outcomes_cross_the_object_boundary_as_json() {
        let write = TokenWrite::Create { id: id(), record: record(), custom: false };
        let text = serde_json::to_string(&write).unwrap();
        assert_eq!(serde_json::from_str::<TokenWrite>(&text).unwrap(), write);
        assert_eq!(write.id(), id());
        let outcome = done(&Plan::Put(record()));
        assert_eq!(serde_json::from_str::<Outcome>(&serde_json::to_string(&outcome).unwrap()).unwrap(), outcome);
        assert_eq!(serde_json::to_value(Outcome::Deleted).unwrap(), json!({"outcome": "deleted"}));
    }
}
