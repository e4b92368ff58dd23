//! The notice after each dashboard action, naming the token and what changed.

use crate::tokens::token::TokenRecord;

/// The settings that differ between two versions of a record, in the form's words.
pub fn changed(before: &TokenRecord, after: &TokenRecord) -> Vec<&'static str> {
    let (b, a) = (&before.policy, &after.policy);
    [
        (before.label != after.label, "label"),
        (before.providers != after.providers, "providers"),
        (before.status != after.status, "status"),
        (b.expires_at != a.expires_at, "expiry"),
        (b.rate_limit != a.rate_limit, "rate limit"),
        (b.budget_usd != a.budget_usd, "dollar budget"),
        (b.budget_tokens != a.budget_tokens, "token budget"),
        (b.allowed_models != a.allowed_models, "models"),
        (b.allowed_paths != a.allowed_paths, "endpoints"),
        (b.allowed_ips != a.allowed_ips, "client IP addresses"),
        (b.allowed_origins != a.allowed_origins, "browser origins"),
    ]
    .into_iter()
    .filter_map(|(differs, name)| differs.then_some(name))
    .collect()
}

fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// "ci-runner saved: rate limit and models changed."
pub fn saved(before: &TokenRecord, after: &TokenRecord) -> String {
    match changed(before, after).as_slice() {
        [] => format!("{}: nothing to change, the settings were already so.", after.label),
        items => format!("{} saved: {} changed.", after.label, and_list(items)),
    }
}

pub fn disabled(label: &str) -> String {
    format!("{label} disabled: the proxy refuses it from now on.")
}

pub fn enabled(label: &str) -> String {
    format!("{label} enabled: it works again.")
}

pub fn deleted(label: &str, last4: &str) -> String {
    format!("{label} (…{last4}) deleted.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rules::RateLimit;
    use crate::proxy::provider::Provider;
    use crate::tokens::token::Status;

    fn record() -> TokenRecord {
        TokenRecord {
            label: "ci-runner".into(),
            providers: vec![Provider::OpenAi],
            status: Status::Active,
            created_at: "2026-11-21T10:00:00Z".into(),
            last4: "WXYZ".into(),
            policy: Default::default(),
        }
    }

    #[test]
    fn a_save_names_what_it_changed() {
        let before = record();
        let mut after = record();
        assert_eq!(saved(&before, &after), "ci-runner: nothing to change, the settings were already so.");
        after.policy.rate_limit = Some(RateLimit { requests: 5, per_seconds: 60 });
        assert_eq!(saved(&before, &after), "ci-runner saved: rate limit changed.");
        after.label = "ci".into();
        after.policy.allowed_models = Some(vec!["gpt-4o-mini".into()]);
        assert_eq!(saved(&before, &after), "ci saved: label, rate limit and models changed.");
    }

    #[test]
    fn budget_changes_are_named_set_changed_or_removed() {
        use crate::budget::book::{TokenBudget, UsdBudget};
        use crate::budget::period::Period;
        let before = record();
        let mut after = record();
        after.policy.budget_usd = Some(UsdBudget { usd: 25.0, per: Period::Month });
        assert_eq!(saved(&before, &after), "ci-runner saved: dollar budget changed.");
        let mut per_day = after.clone();
        per_day.policy.budget_usd = Some(UsdBudget { usd: 25.0, per: Period::Day });
        per_day.policy.budget_tokens = Some(TokenBudget { tokens: 1000, per: Period::Day });
        assert_eq!(saved(&after, &per_day), "ci-runner saved: dollar budget and token budget changed.", "a new period is a change");
        assert_eq!(saved(&per_day, &before), "ci-runner saved: dollar budget and token budget changed.", "removed");
    }
}
