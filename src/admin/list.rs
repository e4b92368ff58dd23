//! The token list: how each row reads (status as the proxy would decide it, times an operator can
//! take in at a glance), which rows the filter keeps, their order, and the way back to the same
//! filtered, sorted list after an action.

use crate::common::timestamp::{format_rfc3339, parse_rfc3339};
use crate::common::urlencoded;
use crate::policy::rules::Policy;
use crate::proxy::provider::Provider;
use crate::tokens::token::{Status, TokenRecord};
use crate::usage::budget_view::BudgetBar;

/// The provider tag of a token that may use every provider.
pub const ALL_PROVIDERS: &str = "All providers";

pub const RATE_WINDOW_NAMES: [(u32, &str); 3] = [(60, "per minute"), (3600, "per hour"), (86_400, "per day")];

/// The status an operator needs: what the proxy does with the token now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Active,
    Disabled,
    /// Active, but its expiry has passed (or no longer reads): the proxy refuses it.
    Expired,
}

impl Shown {
    pub fn of(record: &TokenRecord, now: i64) -> Shown {
        if record.status == Status::Disabled {
            return Shown::Disabled;
        }
        match record.policy.expires_at.as_deref().map(parse_rfc3339) {
            Some(Some(at)) if at > now => Shown::Active,
            Some(_) => Shown::Expired,
            None => Shown::Active,
        }
    }

    pub fn word(&self) -> &'static str {
        match self {
            Shown::Active => "active",
            Shown::Disabled => "disabled",
            Shown::Expired => "expired",
        }
    }

    /// The badge's CSS class.
    pub fn class(&self) -> &'static str {
        match self {
            Shown::Active => "on",
            Shown::Disabled => "off",
            Shown::Expired => "expired",
        }
    }
}

/// What the list is ordered by. `Spend` waits for the usage columns: until a row carries usage,
/// every row's spend is unknown and the order falls back to newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Label,
    Created,
    LastUsed,
    Spend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl SortKey {
    fn name(self) -> &'static str {
        match self {
            SortKey::Label => "label",
            SortKey::Created => "created",
            SortKey::LastUsed => "last_used",
            SortKey::Spend => "spend",
        }
    }

    /// A to Z for labels; newest, most recent or most expensive first for the rest.
    fn natural_descending(self) -> bool {
        self != SortKey::Label
    }
}

impl Default for Sort {
    fn default() -> Self {
        Sort { key: SortKey::Created, descending: true }
    }
}

impl Sort {
    /// `label`, `created`, `last_used`, `spend`, each in its natural direction; a leading `-`
    /// reverses it. Anything else is the default, newest first.
    pub fn parse(s: &str) -> Sort {
        let (reverse, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let key = match name {
            "label" => SortKey::Label,
            "created" => SortKey::Created,
            "last_used" => SortKey::LastUsed,
            "spend" => SortKey::Spend,
            _ => return Sort::default(),
        };
        Sort { key, descending: key.natural_descending() != reverse }
    }

    pub fn param(&self) -> String {
        let reverse = self.descending != self.key.natural_descending();
        format!("{}{}", if reverse { "-" } else { "" }, self.key.name())
    }

    /// The order a column header's link asks for: this key, reversed when it is already the order.
    fn toggled(&self, key: SortKey) -> Sort {
        if self.key == key {
            Sort { key, descending: !self.descending }
        } else {
            Sort { key, descending: key.natural_descending() }
        }
    }
}

/// The list as the operator is looking at it: the filter and the order. Every form on the list
/// posts it back, so the redirect after an action lands on the same list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListView {
    pub q: String,
    pub sort: Sort,
}

/// One choice of the order menu (shown where there are no column headers, as on a phone).
pub struct SortChoice {
    pub param: String,
    pub name: &'static str,
    pub selected: bool,
}

impl ListView {
    /// From the query string of `GET /admin` or the fields of a posted form.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        ListView {
            q: urlencoded::first(pairs, "q").unwrap_or_default().trim().chars().take(200).collect(),
            sort: Sort::parse(urlencoded::first(pairs, "sort").unwrap_or_default()),
        }
    }

    pub fn sort_param(&self) -> String {
        self.sort.param()
    }

    fn query_with(&self, sort: Sort) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", urlencoded::encode(&self.q)));
        }
        if sort != Sort::default() {
            parts.push(format!("sort={}", sort.param()));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }

    /// `?q=...&sort=...`, or nothing for the default view.
    pub fn query(&self) -> String {
        self.query_with(self.sort)
    }

    /// Where to go back to: this view of the list, scrolled to `row` when given.
    pub fn location(&self, row: Option<&str>) -> String {
        match row {
            Some(id) => format!("/admin{}#token-{id}", self.query()),
            None => format!("/admin{}", self.query()),
        }
    }

    /// A column header's link: sorted by `key`, reversed if it is the current order.
    pub fn sort_href(&self, key: &str) -> String {
        format!("/admin{}#tokens", self.query_with(self.sort.toggled(Sort::parse(key).key)))
    }

    /// `aria-sort` for a column header.
    pub fn aria_sort(&self, key: &str) -> &'static str {
        match (self.sort.key == Sort::parse(key).key, self.sort.descending) {
            (false, _) => "none",
            (true, true) => "descending",
            (true, false) => "ascending",
        }
    }

    pub fn sort_choices(&self, with_spend: bool) -> Vec<SortChoice> {
        let mut choices = vec![
            ("created", "Newest first"),
            ("-created", "Oldest first"),
            ("label", "Label, A to Z"),
            ("-label", "Label, Z to A"),
            ("last_used", "Recently used first"),
        ];
        if with_spend {
            choices.push(("spend", "Highest spend first"));
        }
        let current = self.sort.param();
        choices
            .into_iter()
            .map(|(param, name)| SortChoice { param: param.to_string(), name, selected: param == current })
            .collect()
    }
}

/// The usage columns of a row (30 days), for the usage side to fill; without them the list has no
/// usage columns at all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RowUsage {
    pub requests: String,
    pub tokens: String,
    pub cost: String,
    /// What "sort by spend" orders by; `None` (no price) sorts last.
    pub cost_usd: Option<f64>,
}

/// One limit as the list shows it: a chip short enough to sit beside others, and the whole
/// limit for its hover title (a list of ten models would otherwise fill the row).
#[derive(Clone, Debug, PartialEq)]
pub struct LimitChip {
    pub text: String,
    pub full: String,
}

/// The token's limits in a few words each, so an operator sees at a glance which tokens are
/// limited. A list shows its first entry and how many more there are.
pub fn limit_chips(policy: &Policy, now: i64) -> Vec<LimitChip> {
    let mut out = Vec::new();
    let whole = |text: String| LimitChip { full: text.clone(), text };
    if let Some(at) = &policy.expires_at {
        let day = at.get(..10).unwrap_or(at);
        let past = parse_rfc3339(at).is_none_or(|t| t <= now);
        out.push(whole(format!("{} {day}", if past { "expired" } else { "expires" })));
    }
    if let Some(l) = policy.rate_limit {
        let per = RATE_WINDOW_NAMES.iter().find(|(s, _)| *s == l.per_seconds).map_or("per window", |(_, n)| n);
        out.push(whole(format!("{} {per}", l.requests)));
    }
    for (list, name) in [
        (&policy.allowed_ips, "IPs"),
        (&policy.allowed_origins, "origins"),
        (&policy.allowed_models, "models"),
        (&policy.allowed_paths, "paths"),
    ] {
        if let Some(entries) = list {
            let full = format!("{name}: {}", entries.join(", "));
            let text = match entries.as_slice() {
                [first, _, ..] => format!("{name}: {first} +{}", entries.len() - 1),
                _ => full.clone(),
            };
            out.push(LimitChip { text, full });
        }
    }
    out
}

/// `YYYY-MM-DD` as an operator says it: "today", "yesterday", "5 days ago", "3 weeks ago", ...
pub fn days_ago(day: &str, now: i64) -> String {
    let Some(then) = parse_rfc3339(&format!("{day}T00:00:00Z")) else { return day.to_string() };
    let days = now.div_euclid(86_400) - then.div_euclid(86_400);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match days {
        i64::MIN..=0 => "today".to_string(),
        1 => "yesterday".to_string(),
        2..=13 => plural(days, "day"),
        14..=59 => plural(days / 7, "week"),
        60..=729 => plural(days / 30, "month"),
        _ => plural(days / 365, "year"),
    }
}

/// `2026-11-21T10:00:00Z` as `2026-11-21 10:00:00 UTC`, for a hover title.
pub fn readable_utc(at: &str) -> String {
    match parse_rfc3339(at) {
        Some(t) => format!("{} UTC", format_rfc3339(t).replace('T', " ").trim_end_matches('Z')),
        None => at.to_string(),
    }
}

pub struct TokenRow {
    pub id: String,
    pub label: String,
    pub last4: String,
    pub providers: Vec<&'static str>,
    pub status: Shown,
    /// RFC 3339 as stored, and its day.
    pub created_at: String,
    pub created_day: String,
    /// `YYYY-MM-DD` of the last proxied request (recorded once a day), if any.
    pub last_used: Option<String>,
    /// "today", "3 days ago", "never".
    pub last_used_text: String,
    /// The token's limits in full, and as the list's chips.
    pub limits: Vec<String>,
    pub chips: Vec<LimitChip>,
    pub usage: Option<RowUsage>,
    /// Each budget with its use in the current period once the glue has read it from the token's
    /// ledger object (`BudgetBar::of`); until then, or if it cannot be read, the limit alone.
    pub budgets: Vec<BudgetBar>,
    /// Where the list scrolls after this row is deleted: the row after it (or before, for the last).
    pub neighbour: Option<String>,
    /// Lowercase text the filter matches against.
    pub search: String,
}

impl TokenRow {
    pub fn new(id: &str, record: &TokenRecord, last_used: Option<&str>, now: i64) -> Self {
        let names: Vec<&'static str> = record.providers.iter().map(|p| p.display_name()).collect();
        // A token for every provider of the table reads as one tag, not a dozen.
        let every = Provider::all().len();
        let providers = if every > 3 && names.len() == every { vec![ALL_PROVIDERS] } else { names.clone() };
        let status = Shown::of(record, now);
        let chips = limit_chips(&record.policy, now);
        let limits: Vec<String> = chips.iter().map(|c| c.full.clone()).collect();
        let budgets = BudgetBar::unread(&record.policy.budgets());
        let budget_words: Vec<String> = budgets.iter().map(BudgetBar::summary).collect();
        let mut search =
            format!("{} {} {} {} {} {}", record.label, record.last4, names.join(" "), status.word(), limits.join(" "), budget_words.join(" "));
        if status == Shown::Disabled && limits.iter().any(|l| l.starts_with("expired")) {
            search.push_str(" expired");
        }
        TokenRow {
            id: id.to_string(),
            label: record.label.clone(),
            last4: record.last4.clone(),
            providers,
            status,
            created_day: record.created_at.get(..10).unwrap_or(&record.created_at).to_string(),
            created_at: record.created_at.clone(),
            last_used: last_used.map(str::to_string),
            last_used_text: last_used.map_or_else(|| "never".to_string(), |day| days_ago(day, now)),
            limits,
            chips,
            usage: None,
            budgets,
            neighbour: None,
            search: search.to_lowercase(),
        }
    }

    pub fn matches(&self, filter: &str) -> bool {
        self.search.contains(&filter.trim().to_lowercase())
    }

    pub fn created_title(&self) -> String {
        format!("Created {}", readable_utc(&self.created_at))
    }

    pub fn last_used_title(&self) -> String {
        match &self.last_used {
            Some(day) => format!("Last request on {day} (UTC; recorded by the day)"),
            None => "No request with this token yet".to_string(),
        }
    }
}

/// The rows the view shows, in its order, each knowing its neighbour for after a delete.
pub fn arrange(rows: Vec<TokenRow>, view: &ListView) -> Vec<TokenRow> {
    let mut rows: Vec<TokenRow> = rows.into_iter().filter(|r| r.matches(&view.q)).collect();
    let sort = view.sort;
    rows.sort_by(|a, b| {
        use std::cmp::Ordering;
        // Unknowns (never used, no spend) go last whichever the direction.
        fn known_first<T>(a: &Option<T>, b: &Option<T>, cmp: impl Fn(&T, &T) -> Ordering, descending: bool) -> Ordering {
            match (a, b) {
                (Some(x), Some(y)) if descending => cmp(y, x),
                (Some(x), Some(y)) => cmp(x, y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        let newest = || b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id));
        let primary = match sort.key {
            SortKey::Label => {
                let o = a.label.to_lowercase().cmp(&b.label.to_lowercase());
                if sort.descending { o.reverse() } else { o }
            }
            SortKey::Created => {
                let o = a.created_at.cmp(&b.created_at);
                if sort.descending { o.reverse() } else { o }
            }
            SortKey::LastUsed => known_first(&a.last_used, &b.last_used, |x, y| x.cmp(y), sort.descending),
            SortKey::Spend => known_first(
                &a.usage.as_ref().and_then(|u| u.cost_usd),
                &b.usage.as_ref().and_then(|u| u.cost_usd),
                |x, y| x.total_cmp(y),
                sort.descending,
            ),
        };
        primary.then_with(newest)
    });
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    for (i, row) in rows.iter_mut().enumerate() {
        row.neighbour = ids.get(i + 1).or_else(|| i.checked_sub(1).and_then(|j| ids.get(j))).cloned();
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_302_245; // 2026-11-21T23:04:05Z

    fn record(label: &str, created: &str) -> TokenRecord {
        TokenRecord {
            label: label.into(),
            providers: vec![Provider::OpenAi, Provider::Gemini],
            status: Status::Active,
            created_at: created.into(),
            last4: "WXYZ".into(),
            policy: Default::default(),
        }
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn status_is_what_the_proxy_would_do() {
        let mut r = record("x", "2026-11-01T00:00:00Z");
        assert_eq!(Shown::of(&r, NOW), Shown::Active);
        r.policy.expires_at = Some("2026-11-21T23:04:06Z".into());
        assert_eq!(Shown::of(&r, NOW), Shown::Active);
        r.policy.expires_at = Some("2026-11-21T23:04:05Z".into());
        assert_eq!(Shown::of(&r, NOW), Shown::Expired);
        r.policy.expires_at = Some("garbage".into());
        assert_eq!(Shown::of(&r, NOW), Shown::Expired, "an unreadable expiry is refused by the proxy");
        r.status = Status::Disabled;
        assert_eq!(Shown::of(&r, NOW), Shown::Disabled);
    }

    #[test]
    fn an_expired_row_says_so_and_the_filter_finds_it() {
        let mut r = record("old", "2026-01-01T00:00:00Z");
        r.policy.expires_at = Some("2026-06-01T00:00:00Z".into());
        let row = TokenRow::new("ab", &r, None, NOW);
        assert_eq!(row.status.word(), "expired");
        assert_eq!(row.limits, ["expired 2026-06-01"]);
        assert!(row.matches("expired") && !row.matches("active"));
        r.status = Status::Disabled;
        let disabled = TokenRow::new("ab", &r, None, NOW);
        assert!(disabled.matches("expired") && disabled.matches("disabled"));
        let live = TokenRow::new("cd", &record("new", "2026-01-01T00:00:00Z"), None, NOW);
        assert!(!live.matches("expired"));
    }

    #[test]
    fn the_filter_matches_label_provider_status_last4_and_limits() {
        let mut r = record("Staging Cluster", "2026-11-01T00:00:00Z");
        r.policy = serde_json::from_value(json!({
            "rate_limit": {"requests": 600, "per_seconds": 3600},
            "allowed_models": ["claude-*"], "allowed_ips": ["10.0.0.0/8"],
        }))
        .unwrap();
        let row = TokenRow::new("ab", &r, None, NOW);
        for q in ["staging", "GEMINI", "active", "wxyz", " cluster ", "claude-", "10.0.0.0/8", "600 per hour", "models:"] {
            assert!(row.matches(q), "{q}");
        }
        assert!(!row.matches("anthropic"));
    }

    #[test]
    fn a_long_list_is_one_short_chip_and_the_filter_still_sees_every_entry() {
        let mut r = record("evals", "2026-11-01T00:00:00Z");
        r.policy = serde_json::from_value(json!({
            "allowed_ips": ["203.0.113.0/24", "2001:db8::/48", "198.51.100.7"], "allowed_models": ["gpt-4o-mini"],
        }))
        .unwrap();
        let row = TokenRow::new("ab", &r, None, NOW);
        let texts: Vec<&str> = row.chips.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["IPs: 203.0.113.0/24 +2", "models: gpt-4o-mini"]);
        assert_eq!(row.chips[0].full, "IPs: 203.0.113.0/24, 2001:db8::/48, 198.51.100.7");
        assert!(row.matches("198.51.100.7"));
    }

    #[test]
    fn a_token_for_every_provider_shows_one_tag_and_still_matches_each_name() {
        let mut r = record("everything", "2026-11-01T00:00:00Z");
        r.providers = Provider::all();
        let row = TokenRow::new("ab", &r, None, NOW);
        assert_eq!(row.providers, [ALL_PROVIDERS]);
        assert!(row.matches("anthropic") && row.matches("gemini"));
        assert_eq!(TokenRow::new("cd", &record("two", "2026-11-01T00:00:00Z"), None, NOW).providers, ["OpenAI", "Gemini"]);
    }

    #[test]
    fn days_ago_reads_like_speech() {
        for (day, said) in [
            ("2026-11-21", "today"),
            ("2026-11-22", "today"),
            ("2026-11-20", "yesterday"),
            ("2026-11-18", "3 days ago"),
            ("2026-11-07", "2 weeks ago"),
            ("2026-09-01", "2 months ago"),
            ("2024-11-01", "2 years ago"),
            ("not a day", "not a day"),
        ] {
            assert_eq!(days_ago(day, NOW), said, "{day}");
        }
        assert_eq!(readable_utc("2026-11-21T10:00:00Z"), "2026-11-21 10:00:00 UTC");
    }

    fn arranged(sort: &str) -> Vec<String> {
        let rows = vec![
            TokenRow::new("a", &record("beta", "2026-11-02T00:00:00Z"), Some("2026-11-20"), NOW),
            TokenRow::new("b", &record("Alpha", "2026-11-03T00:00:00Z"), None, NOW),
            TokenRow::new("c", &record("gamma", "2026-11-01T00:00:00Z"), Some("2026-11-21"), NOW),
        ];
        let view = ListView::from_pairs(&pairs(&[("sort", sort)]));
        arrange(rows, &view).into_iter().map(|r| r.label).collect()
    }

    #[test]
    fn sorting_by_each_key_and_direction() {
        assert_eq!(arranged(""), ["Alpha", "beta", "gamma"], "newest first by default");
        assert_eq!(arranged("created"), arranged(""));
        assert_eq!(arranged("-created"), ["gamma", "beta", "Alpha"]);
        assert_eq!(arranged("label"), ["Alpha", "beta", "gamma"]);
        assert_eq!(arranged("-label"), ["gamma", "beta", "Alpha"]);
        assert_eq!(arranged("last_used"), ["gamma", "beta", "Alpha"], "never used goes last");
        assert_eq!(arranged("-last_used"), ["beta", "gamma", "Alpha"], "never used goes last either way");
        assert_eq!(arranged("spend"), arranged(""), "no usage yet: newest first");
        assert_eq!(arranged("nonsense"), arranged(""));
    }

    #[test]
    fn each_row_knows_where_to_land_after_it_is_deleted() {
        let rows = vec![
            TokenRow::new("a", &record("a", "2026-11-01T00:00:00Z"), None, NOW),
            TokenRow::new("b", &record("b", "2026-11-02T00:00:00Z"), None, NOW),
        ];
        let out = arrange(rows, &ListView::default());
        assert_eq!((out[0].id.as_str(), out[0].neighbour.as_deref()), ("b", Some("a")));
        assert_eq!((out[1].id.as_str(), out[1].neighbour.as_deref()), ("a", Some("b")));
    }

    #[test]
    fn the_view_survives_a_round_trip_through_a_redirect() {
        let view = ListView::from_pairs(&pairs(&[("q", "ci runner&co"), ("sort", "-label")]));
        assert_eq!(view.location(Some("ab")), "/admin?q=ci+runner%26co&sort=-label#token-ab");
        let back = urlencoded::parse(view.query().trim_start_matches('?'));
        assert_eq!(ListView::from_pairs(&back), view);
        assert_eq!(ListView::default().location(None), "/admin");
        assert_eq!(ListView::default().sort_href("label"), "/admin?sort=label#tokens");
        assert_eq!(ListView::from_pairs(&pairs(&[("sort", "label")])).sort_href("label"), "/admin?sort=-label#tokens");
        assert_eq!(ListView::default().sort_href("created"), "/admin?sort=-created#tokens", "newest first is current: reverse it");
        assert_eq!(ListView::default().aria_sort("created"), "descending");
        assert_eq!(ListView::default().aria_sort("label"), "none");
    }
}
