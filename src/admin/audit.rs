//! The audit log's pure parts: what an entry holds, which fields a change touched (before and
//! after), and the paging arguments of `GET /admin/api/audit`.
//!
//! An entry never holds a plaintext token: token records hold only the last four characters, and
//! the diff is taken between records. Price overrides are entries of their own ([`for_price`]),
//! their changes a [`diff`] of two prices like any other.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::common::field_error::FieldError;
use crate::tokens::token::TokenRecord;
use crate::usage::prices::Price;

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;
/// Entries kept; older ones are dropped as new ones arrive, so a flood of failed sign-ins from many
/// addresses cannot grow the object without bound.
pub const MAX_ENTRIES: i64 = 50_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Change,
    Disable,
    Enable,
    Delete,
    SignIn,
    SignInFailed,
    SignOut,
    SignOutEverywhere,
    PriceSet,
    PriceRemoved,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Change => "change",
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Delete => "delete",
            Action::SignIn => "sign-in",
            Action::SignInFailed => "sign-in failed",
            Action::SignOut => "sign-out",
            Action::SignOutEverywhere => "sign-out everywhere",
            Action::PriceSet => "price set",
            Action::PriceRemoved => "price removed",
        }
    }
}

/// Through which door the action came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Api,
    Dashboard,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Api => "API",
            Via::Dashboard => "dashboard",
        }
    }
}

/// Who acted: the door and the client's address (`CF-Connecting-IP`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub via: Via,
    pub client: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    /// `null` when the field was absent (or the record did not exist yet).
    pub before: Value,
    pub after: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Assigned by the log when the entry is stored; increasing, newest highest.
    #[serde(default)]
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub action: Action,
    pub via: Via,
    pub client: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The model of a price override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

impl Entry {
    pub fn new(at: String, action: Action, actor: &Actor) -> Self {
        Entry {
            id: 0,
            at,
            action,
            via: actor.via,
            client: actor.client.clone(),
            token_id: None,
            label: None,
            model: None,
            changes: Vec::new(),
        }
    }

    /// The entry for a write to token `id`: create (from nothing), delete (to nothing), or a change
    /// that is called disable/enable when it turns the status.
    pub fn for_token(at: String, actor: &Actor, id: &str, before: Option<&TokenRecord>, after: Option<&TokenRecord>) -> Self {
        let changes = diff(&record_value(before), &record_value(after));
        let action = match (before, after) {
            (None, Some(_)) => Action::Create,
            (_, None) => Action::Delete,
            (Some(b), Some(a)) if b.status != a.status => match a.status {
                crate::tokens::token::Status::Disabled => Action::Disable,
                crate::tokens::token::Status::Active => Action::Enable,
            },
            _ => Action::Change,
        };
        let mut entry = Entry::new(at, action, actor);
        entry.token_id = Some(id.to_string());
        entry.label = after.or(before).map(|r| r.label.clone());
        entry.changes = changes;
        entry
    }
}

/// The entry for a price override set (`after` is `Some`) or removed, with each price field's
/// before and after.
pub fn for_price(at: String, actor: &Actor, model: &str, before: Option<&Price>, after: Option<&Price>) -> Entry {
    let value = |p: Option<&Price>| p.and_then(|p| serde_json::to_value(p).ok()).unwrap_or(Value::Null);
    let action = if after.is_some() { Action::PriceSet } else { Action::PriceRemoved };
    let mut entry = Entry::new(at, action, actor);
    entry.model = Some(model.to_string());
    entry.changes = diff(&value(before), &value(after));
    entry
}

fn record_value(record: Option<&TokenRecord>) -> Value {
    record.and_then(|r| serde_json::to_value(r).ok()).unwrap_or(Value::Null)
}

/// The top-level fields whose values differ between two JSON objects (a non-object counts as an
/// empty one), in name order.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let empty = Map::new();
    let (b, a) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
    let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (was, now) = (b.get(name).unwrap_or(&Value::Null), a.get(name).unwrap_or(&Value::Null));
            (was != now).then(|| FieldChange {
                field: name.clone(),
                before: was.clone(),
                after: now.clone(),
            })
        })
        .collect()
}

/// Which page of the log to read: at most `limit` entries with ids below `before`, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub limit: u32,
    pub before: Option<i64>,
}

/// `?limit` (1..=200, default 50) and `?before` (an entry id, from the previous page's
/// `next_before`); an empty value counts as absent.
pub fn parse_page(limit: Option<&str>, before: Option<&str>) -> Result<PageRequest, FieldError> {
    let limit = match limit.filter(|s| !s.is_empty()) {
        None => DEFAULT_PAGE,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => return Err(FieldError::new("limit", format!("must be a whole number from 1 to {MAX_PAGE}"))),
        },
    };
    let before = match before.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(FieldError::new("before", "must be an entry id (a positive whole number)")),
        },
    };
    Ok(PageRequest { limit, before })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Pass as `?before=` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// A page from up to `limit + 1` rows read newest first: the extra row only says there is more.
pub fn page_from_rows(mut rows: Vec<Entry>, limit: u32) -> Page {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_before = if more { rows.last().map(|e| e.id) } else { None };
    Page { entries: rows, next_before }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::provider::Provider;
    use crate::tokens::token::Status;
    use serde_json::json;

    fn record(label: &str) -> TokenRecord {
        serde_json::from_value(json!({
            "label": label, "providers": ["openai"], "status": "active",
            "created_at": "2026-12-01T10:00:00Z", "last4": "wxyz"
        }))
        .unwrap()
    }

    fn actor() -> Actor {
        Actor { via: Via::Api, client: "192.0.2.7".into() }
    }

    #[test]
    fn a_diff_names_each_changed_field_with_before_and_after() {
        let changes = diff(
            &json!({"label": "a", "status": "active", "allowed_models": ["x"]}),
            &json!({"label": "b", "status": "active", "rate_limit": {"requests": 5, "per_seconds": 60}}),
        );
        assert_eq!(
            changes,
            vec![
                FieldChange { field: "allowed_models".into(), before: json!(["x"]), after: Value::Null },
                FieldChange { field: "label".into(), before: json!("a"), after: json!("b") },
                FieldChange { field: "rate_limit".into(), before: Value::Null, after: json!({"requests": 5, "per_seconds": 60}) },
            ]
        );
        assert_eq!(diff(&json!({"a": 1}), &json!({"a": 1})), vec![]);
    }

    #[test]
    fn token_entries_are_named_by_what_they_did() {
        let a = record("ci");
        let mut renamed = a.clone();
        renamed.label = "ci-2".into();
        let mut disabled = a.clone();
        disabled.status = Status::Disabled;
        let id = "f".repeat(64);
        let at = || "2026-12-01T10:00:00Z".to_string();
        let create = Entry::for_token(at(), &actor(), &id, None, Some(&a));
        assert_eq!(create.action, Action::Create);
        assert!(create.changes.iter().any(|c| c.field == "label" && c.after == json!("ci") && c.before.is_null()));
        let change = Entry::for_token(at(), &actor(), &id, Some(&a), Some(&renamed));
        assert_eq!((change.action, change.changes.len()), (Action::Change, 1));
        assert_eq!(change.label.as_deref(), Some("ci-2"));
        assert_eq!(Entry::for_token(at(), &actor(), &id, Some(&a), Some(&disabled)).action, Action::Disable);
        assert_eq!(Entry::for_token(at(), &actor(), &id, Some(&disabled), Some(&a)).action, Action::Enable);
        let delete = Entry::for_token(at(), &actor(), &id, Some(&a), None);
        assert_eq!((delete.action, delete.label.as_deref()), (Action::Delete, Some("ci")));
        // A damaged record is deleted from nothing known to nothing.
        let repaired = Entry::for_token(at(), &actor(), &id, None, None);
        assert_eq!((repaired.action, repaired.changes.len()), (Action::Delete, 0));
    }

    #[test]
    fn an_entry_never_holds_more_of_a_token_than_its_record_does() {
        let token = "apx_0123456789ABCDEFGHIJKLMNOPQRSTUVWabcdef";
        let mut r = record("x");
        r.last4 = crate::tokens::token::last4(token);
        r.providers = vec![Provider::OpenAi, Provider::Gemini];
        let entry = Entry::for_token("t".into(), &actor(), &crate::tokens::token::hash_token(token), None, Some(&r));
        let text = serde_json::to_string(&entry).unwrap();
        assert!(!text.contains(token));
        assert!(!text.contains(&token[..20]));
    }

    #[test]
    fn entries_round_trip_through_json() {
        let entry = Entry::for_token("t".into(), &actor(), "id", None, Some(&record("x")));
        let back: Entry = serde_json::from_str(&serde_json::to_string(&entry).unwrap()).unwrap();
        assert_eq!(back, entry);
        let sign_in = Entry::new("t".into(), Action::SignInFailed, &Actor { via: Via::Dashboard, client: "c".into() });
        let v = serde_json::to_value(&sign_in).unwrap();
        assert_eq!(v, json!({"id": 0, "at": "t", "action": "sign_in_failed", "via": "dashboard", "client": "c"}));
    }

    #[test]
    fn paging_arguments() {
        assert_eq!(parse_page(None, None), Ok(PageRequest { limit: 50, before: None }));
        assert_eq!(parse_page(Some(""), Some("")), Ok(PageRequest { limit: 50, before: None }));
        assert_eq!(parse_page(Some("1"), Some("17")), Ok(PageRequest { limit: 1, before: Some(17) }));
        assert_eq!(parse_page(Some("200"), None).unwrap().limit, 200);
        for bad in ["0", "201", "-1", "x", "1.5"] {
            assert_eq!(parse_page(Some(bad), None).unwrap_err().field, "limit", "{bad}");
        }
        for bad in ["0", "-3", "abc"] {
            assert_eq!(parse_page(None, Some(bad)).unwrap_err().field, "before", "{bad}");
        }
    }

    #[test]
    fn a_page_says_where_the_next_one_starts() {
        let entry = |id| Entry { id, ..Entry::new("t".into(), Action::SignIn, &actor()) };
        let page = page_from_rows(vec![entry(9), entry(8), entry(7)], 2);
        assert_eq!(page.entries.iter().map(|e| e.id).collect::<Vec<_>>(), vec![9, 8]);
        assert_eq!(page.next_before, Some(8));
        let last = page_from_rows(vec![entry(2), entry(1)], 2);
        assert_eq!(last.next_before, None);
        assert_eq!(page_from_rows(vec![], 5), Page { entries: vec![], next_before: None });
    }
}
