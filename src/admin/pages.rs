//! The dashboard's pages: askama templates (in `templates/`, HTML-escaped by default) and the plain
//! data they render. Nothing here touches the Workers runtime, so every page renders in unit tests.

use askama::Template;
use serde_json::{json, Map, Value};

use crate::admin::audit::Entry;
use crate::policy::rules::Policy;
use crate::proxy::provider::Provider;
use crate::tokens::token::{Status, TokenRecord};
use crate::common::urlencoded;

pub const STYLESHEET: &str = include_str!("../../templates/admin.css");
pub const SCRIPT: &str = include_str!("../../templates/admin.js");
pub const ICON: &str = include_str!("../../templates/icon.svg");

/// What the base layout needs: the CSRF token of a signed-in session (which also shows "Sign out").
#[derive(Default)]
pub struct Layout {
    pub csrf: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub layout: Layout,
    pub error: Option<&'a str>,
}

pub struct ProviderChoice {
    pub name: &'static str,
    pub display: &'static str,
    pub checked: bool,
}

/// The fields shared by the create and edit forms, as the operator last typed them. Lists are
/// edited one entry per line.
pub struct TokenForm {
    pub label: String,
    pub providers: Vec<ProviderChoice>,
    pub expires_at: String,
    pub rate_requests: String,
    pub rate_windows: Vec<(u32, &'static str, bool)>,
    pub allowed_ips: String,
    pub allowed_origins: String,
    pub allowed_models: String,
    pub allowed_paths: String,
}

const RATE_WINDOW_NAMES: [(u32, &str); 3] = [(60, "per minute"), (3600, "per hour"), (86_400, "per day")];
const LIST_FIELDS: [&str; 4] = ["allowed_ips", "allowed_origins", "allowed_models", "allowed_paths"];

fn lines(list: &Option<Vec<String>>) -> String {
    list.as_deref().unwrap_or_default().join("\n")
}

impl TokenForm {
    fn build(label: &str, checked: &[Provider], policy: &Policy, rate_per: u32) -> Self {
        TokenForm {
            label: label.to_string(),
            providers: Provider::all()
                .into_iter()
                .map(|p| ProviderChoice {
                    name: p.name(),
                    display: p.display_name(),
                    checked: checked.contains(&p),
                })
                .collect(),
            expires_at: policy.expires_at.clone().unwrap_or_default(),
            rate_requests: policy.rate_limit.map(|l| l.requests.to_string()).unwrap_or_default(),
            rate_windows: RATE_WINDOW_NAMES.iter().map(|&(secs, name)| (secs, name, secs == rate_per)).collect(),
            allowed_ips: lines(&policy.allowed_ips),
            allowed_origins: lines(&policy.allowed_origins),
            allowed_models: lines(&policy.allowed_models),
            allowed_paths: lines(&policy.allowed_paths),
        }
    }

    /// The create form: every provider ticked, no limits.
    pub fn blank() -> Self {
        TokenForm::build("", &Provider::all(), &Policy::default(), 60)
    }

    pub fn from_record(record: &TokenRecord) -> Self {
        let per = record.policy.rate_limit.map_or(60, |l| l.per_seconds);
        TokenForm::build(&record.label, &record.providers, &record.policy, per)
    }

    /// The form as posted, to show again with an error.
    pub fn from_fields(fields: &[(String, String)]) -> Self {
        let field = |name| urlencoded::first(fields, name).unwrap_or_default().to_string();
        let checked: Vec<Provider> = urlencoded::all(fields, "providers").into_iter().filter_map(Provider::from_name).collect();
        let per = field("rate_per_seconds").parse().unwrap_or(60);
        let mut form = TokenForm::build(&field("label"), &checked, &Policy::default(), per);
        form.expires_at = field("expires_at");
        form.rate_requests = field("rate_requests");
        form.allowed_ips = field("allowed_ips");
        form.allowed_origins = field("allowed_origins");
        form.allowed_models = field("allowed_models");
        form.allowed_paths = field("allowed_paths");
        form
    }
}

/// The admin API body a posted form stands for, so the form and the API share one validation.
/// Every policy field is present: an empty one is `null`, which clears it on edit. A rate limit
/// that is not a number is passed on as text for the validation to name.
pub fn form_to_json(fields: &[(String, String)]) -> Value {
    let text = |name| urlencoded::first(fields, name).unwrap_or_default().trim().to_string();
    let mut body = Map::new();
    body.insert("label".into(), json!(text("label")));
    body.insert("providers".into(), json!(urlencoded::all(fields, "providers")));
    let expires = text("expires_at");
    body.insert("expires_at".into(), if expires.is_empty() { Value::Null } else { json!(expires) });
    let requests = text("rate_requests");
    let per: Value = text("rate_per_seconds").parse::<u64>().map_or(json!(60), |n| json!(n));
    body.insert(
        "rate_limit".into(),
        match requests.parse::<u64>() {
            _ if requests.is_empty() => Value::Null,
            Ok(n) => json!({"requests": n, "per_seconds": per}),
            Err(_) => json!({"requests": requests, "per_seconds": per}),
        },
    );
    for name in LIST_FIELDS {
        let entries: Vec<&str> = urlencoded::first(fields, name)
            .unwrap_or_default()
            .split(['\n', ','])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        body.insert(name.into(), if entries.is_empty() { Value::Null } else { json!(entries) });
    }
    Value::Object(body)
}

/// Short words for the list, so an operator sees at a glance which tokens are limited.
fn policy_summary(policy: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(at) = &policy.expires_at {
        out.push(format!("expires {}", at.get(..10).unwrap_or(at)));
    }
    if let Some(l) = policy.rate_limit {
        let per = RATE_WINDOW_NAMES.iter().find(|(s, _)| *s == l.per_seconds).map_or("per window", |(_, n)| n);
        out.push(format!("{} {per}", l.requests));
    }
    for (list, name) in [
        (&policy.allowed_ips, "IPs"),
        (&policy.allowed_origins, "origins"),
        (&policy.allowed_models, "models"),
        (&policy.allowed_paths, "paths"),
    ] {
        if let Some(entries) = list {
            out.push(format!("{name}: {}", entries.join(", ")));
        }
    }
    out
}

pub struct TokenRow {
    pub id: String,
    pub label: String,
    pub last4: String,
    pub providers: Vec<&'static str>,
    pub active: bool,
    pub created: String,
    pub last_used: String,
    /// The token's limits in a few words each.
    pub limits: Vec<String>,
    /// Lowercase text the filter matches against.
    pub search: String,
}

impl TokenRow {
    pub fn new(id: &str, record: &TokenRecord, last_used: Option<&str>) -> Self {
        let providers: Vec<&'static str> = record.providers.iter().map(|p| p.display_name()).collect();
        let active = record.status == Status::Active;
        let search = format!(
            "{} {} {} {}",
            record.label,
            record.last4,
            providers.join(" "),
            if active { "active" } else { "disabled" }
        )
        .to_lowercase();
        TokenRow {
            id: id.to_string(),
            label: record.label.clone(),
            last4: record.last4.clone(),
            providers,
            active,
            created: record.created_at.get(..10).unwrap_or(&record.created_at).to_string(),
            last_used: last_used.unwrap_or("never").to_string(),
            limits: policy_summary(&record.policy),
            search,
        }
    }

    pub fn matches(&self, filter: &str) -> bool {
        self.search.contains(&filter.trim().to_lowercase())
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage<'a> {
    pub layout: Layout,
    pub form: TokenForm,
    pub tokens: Vec<TokenRow>,
    /// How many tokens exist, before the filter.
    pub total: usize,
    pub filter: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<String>,
    /// Ids of records that no longer read as one: listed as damaged, with a delete button.
    pub damaged: Vec<String>,
    /// Each provider's keys as this isolate sees them, and the operator's rows left out.
    pub upstreams: Upstreams,
}

/// One key of a provider's pool, as the dashboard may show it: never more than its last four.
pub struct KeyLine {
    pub index: usize,
    pub last4: String,
    pub weight: u32,
    pub status: String,
}

pub struct UpstreamStatus {
    pub name: &'static str,
    pub display: &'static str,
    pub base_url: String,
    /// Empty when the provider's secret is not set.
    pub keys: Vec<KeyLine>,
}

#[derive(Default)]
pub struct Upstreams {
    pub providers: Vec<UpstreamStatus>,
    pub problems: Vec<String>,
}

/// The base URL a client's SDK is given for `provider`.
pub fn base_url(origin: &str, provider: Provider) -> String {
    let spec = provider.spec();
    if spec.slot_detected {
        format!("{origin}{}", spec.base_path)
    } else {
        format!("{origin}/{}{}", spec.name, spec.base_path)
    }
}

pub struct Snippet {
    pub title: &'static str,
    pub code: String,
}

#[derive(Template)]
#[template(path = "created.html")]
pub struct CreatedPage<'a> {
    pub layout: Layout,
    pub label: &'a str,
    pub token: &'a str,
    pub snippets: Vec<Snippet>,
}

#[derive(Template)]
#[template(path = "edit.html")]
pub struct EditPage<'a> {
    pub layout: Layout,
    pub id: &'a str,
    pub last4: &'a str,
    pub created: &'a str,
    pub last_used: &'a str,
    pub active: bool,
    pub form: TokenForm,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "confirm_delete.html")]
pub struct ConfirmDeletePage<'a> {
    pub layout: Layout,
    pub id: &'a str,
    pub label: &'a str,
    pub last4: &'a str,
    /// The record no longer reads as one: say so, and offer only deletion.
    pub damaged: bool,
}

/// One audit entry as the audit page shows it.
pub struct AuditRow {
    pub at: String,
    pub action: &'static str,
    pub via: &'static str,
    pub client: String,
    pub token: Option<String>,
    pub label: Option<String>,
    /// `field: before → after`, values as JSON.
    pub changes: Vec<String>,
}

impl AuditRow {
    pub fn new(entry: &Entry) -> Self {
        let show = |v: &Value| if v.is_null() { "—".to_string() } else { v.to_string() };
        AuditRow {
            at: entry.at.replace('T', " ").trim_end_matches('Z').to_string(),
            action: entry.action.name(),
            via: entry.via.name(),
            client: entry.client.clone(),
            token: entry.token_id.clone(),
            label: entry.label.clone(),
            changes: entry.changes.iter().map(|c| format!("{}: {} → {}", c.field, show(&c.before), show(&c.after))).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub entries: Vec<AuditRow>,
    pub next_before: Option<i64>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub layout: Layout,
    pub title: &'a str,
    pub message: &'a str,
}

/// Ready-to-paste client setup for each SDK the token may use, as the README's client table says.
pub fn client_snippets(origin: &str, token: &str, providers: &[Provider]) -> Vec<Snippet> {
    let mut out = Vec::new();
    if providers.contains(&Provider::OpenAi) {
        out.push(Snippet {
            title: "OpenAI · environment (Python and Node SDKs read these)",
            code: format!("export OPENAI_BASE_URL=\"{origin}/v1\"\nexport OPENAI_API_KEY=\"{token}\""),
        });
        out.push(Snippet {
            title: "OpenAI · Python",
            code: format!("from openai import OpenAI\n\nclient = OpenAI(base_url=\"{origin}/v1\", api_key=\"{token}\")"),
        });
        out.push(Snippet {
            title: "OpenAI · Node",
            code: format!("import OpenAI from \"openai\";\n\nconst client = new OpenAI({{ baseURL: \"{origin}/v1\", apiKey: \"{token}\" }});"),
        });
    }
    if providers.contains(&Provider::Anthropic) {
        out.push(Snippet {
            title: "Anthropic · environment",
            code: format!("export ANTHROPIC_BASE_URL=\"{origin}\"\nexport ANTHROPIC_API_KEY=\"{token}\""),
        });
        out.push(Snippet {
            title: "Anthropic · Python",
            code: format!("import anthropic\n\nclient = anthropic.Anthropic(base_url=\"{origin}\", api_key=\"{token}\")"),
        });
        out.push(Snippet {
            title: "Anthropic · Node",
            code: format!("import Anthropic from \"@anthropic-ai/sdk\";\n\nconst client = new Anthropic({{ baseURL: \"{origin}\", apiKey: \"{token}\" }});"),
        });
    }
    if providers.contains(&Provider::Gemini) {
        out.push(Snippet {
            title: "Gemini · Python (google-genai)",
            code: format!("from google import genai\n\nclient = genai.Client(api_key=\"{token}\", http_options={{\"base_url\": \"{origin}\"}})"),
        });
        out.push(Snippet {
            title: "Gemini · Node (@google/genai)",
            code: format!("import {{ GoogleGenAI }} from \"@google/genai\";\n\nconst ai = new GoogleGenAI({{ apiKey: \"{token}\", httpOptions: {{ baseUrl: \"{origin}\" }} }});"),
        });
        out.push(Snippet {
            title: "Gemini · through the OpenAI SDK",
            code: format!("client = OpenAI(base_url=\"{origin}/v1beta/openai\", api_key=\"{token}\")"),
        });
    }
    for &p in providers.iter().filter(|p| !p.spec().slot_detected) {
        let base = base_url(origin, p);
        let code = if p == Provider::ElevenLabs {
            format!("from elevenlabs.client import ElevenLabs\n\nclient = ElevenLabs(base_url=\"{base}\", api_key=\"{token}\")")
        } else {
            format!("# OpenAI SDK (Node: new OpenAI({{ baseURL, apiKey }}))\nclient = OpenAI(base_url=\"{base}\", api_key=\"{token}\")")
        };
        out.push(Snippet { title: p.display_name(), code });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: &str) -> TokenRecord {
        TokenRecord {
            label: label.into(),
            providers: vec![Provider::OpenAi, Provider::Gemini],
            status: Status::Disabled,
            created_at: "2026-11-21T10:00:00Z".into(),
            last4: "WXYZ".into(),
            policy: Default::default(),
        }
    }

    fn dashboard(rows: Vec<TokenRow>) -> String {
        DashboardPage {
            layout: Layout {
                csrf: Some("csrf-123".into()),
            },
            form: TokenForm::blank(),
            total: rows.len(),
            tokens: rows,
            filter: "",
            notice: None,
            error: None,
            damaged: Vec::new(),
            upstreams: Upstreams::default(),
        }
        .render()
        .unwrap()
    }

    #[test]
    fn a_damaged_record_is_listed_as_damaged_with_a_delete_button() {
        let id = "d".repeat(64);
        let html = DashboardPage {
            layout: Layout { csrf: Some("csrf-123".into()) },
            form: TokenForm::blank(),
            total: 2,
            tokens: vec![TokenRow::new("ab", &record("fine"), None)],
            filter: "",
            notice: None,
            error: None,
            damaged: vec![id.clone()],
            upstreams: Upstreams::default(),
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"<span class="status damaged">damaged</span>"#), "{html}");
        assert!(html.contains(&format!(r#"action="/admin/tokens/{id}/delete""#)));
        assert!(html.contains("fine"));
    }

    #[test]
    fn the_audit_page_shows_each_entry_and_the_way_to_older_ones() {
        use crate::admin::audit::{Actor, Via};
        let actor = Actor { via: Via::Dashboard, client: "<b>198.51.100.4</b>".into() };
        let mut renamed = record("after");
        renamed.status = Status::Disabled;
        let entry = Entry::for_token("2026-12-01T10:00:00Z".into(), &actor, &"e".repeat(64), Some(&record("before")), Some(&renamed));
        let html = AuditPage {
            layout: Layout { csrf: Some("csrf-123".into()) },
            entries: vec![AuditRow::new(&entry)],
            next_before: Some(41),
        }
        .render()
        .unwrap();
        assert!(html.contains("2026-12-01 10:00:00"), "{html}");
        assert!(html.contains("label: &#34;before&#34; → &#34;after&#34;") || html.contains("label: &quot;before&quot; → &quot;after&quot;"), "{html}");
        assert!(html.contains(">change<") && html.contains(">dashboard<"));
        assert!(!html.contains("<b>198"), "client text is escaped");
        assert!(html.contains(r#"href="/admin/audit?before=41""#));
        assert!(html.contains(r#"action="/admin/logout-everywhere""#));
    }

    #[test]
    fn user_supplied_text_is_escaped() {
        let evil = "<script>alert(1)</script>\"'&";
        let html = dashboard(vec![TokenRow::new("ab", &record(evil), None)]);
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;") || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        let page = LoginPage {
            layout: Layout::default(),
            error: Some(evil),
        }
        .render()
        .unwrap();
        assert!(!page.contains("<script>alert(1)"));
    }

    #[test]
    fn the_only_script_is_our_own_file_and_there_are_no_inline_styles_or_handlers() {
        let html = dashboard(vec![TokenRow::new("ab", &record("x"), Some("2026-11-21"))]);
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains(r#"<script src="/admin/assets/admin.js" defer></script>"#));
        assert!(!html.contains("style="));
        assert!(!html.contains(" onclick="));
        for external in [r#"src="http"#, r#"href="http"#, r#"src="//"#, r#"href="//"#] {
            assert!(!html.contains(external), "nothing loaded from elsewhere: {external}");
        }
    }

    #[test]
    fn every_state_changing_form_carries_the_csrf_token() {
        let html = dashboard(vec![TokenRow::new("ab", &record("x"), None)]);
        let posts = html.matches(r#"method="post""#).count();
        assert_eq!(posts, 4, "sign out, create, status, delete");
        assert_eq!(html.matches(r#"name="csrf" value="csrf-123""#).count(), posts);
    }

    #[test]
    fn the_list_shows_last4_providers_status_dates() {
        let html = dashboard(vec![TokenRow::new("ab", &record("ci runner"), Some("2026-11-20"))]);
        for needle in ["ci runner", "…WXYZ", "OpenAI", "Gemini", "disabled", "2026-11-21", "2026-11-20", "Enable"] {
            assert!(html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn an_empty_list_explains_what_to_do() {
        let html = dashboard(vec![]);
        assert!(html.contains("No tokens yet."));
        assert!(!html.contains("<table>"));
    }

    #[test]
    fn the_filter_matches_label_provider_status_and_last4() {
        let row = TokenRow::new("ab", &record("Staging Cluster"), None);
        for q in ["staging", "GEMINI", "disabled", "wxyz", " cluster "] {
            assert!(row.matches(q), "{q}");
        }
        assert!(!row.matches("anthropic"));
    }

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_posted_form_becomes_the_api_body_with_empty_fields_cleared() {
        let body = form_to_json(&posted(&[
            ("label", " bot "),
            ("providers", "openai"),
            ("providers", "anthropic"),
            ("expires_at", ""),
            ("rate_requests", "3"),
            ("rate_per_seconds", "3600"),
            ("allowed_models", "gpt-4o-mini\r\nclaude-*, \n"),
            ("allowed_ips", " "),
        ]));
        assert_eq!(
            body,
            json!({
                "label": "bot", "providers": ["openai", "anthropic"], "expires_at": null,
                "rate_limit": {"requests": 3, "per_seconds": 3600},
                "allowed_models": ["gpt-4o-mini", "claude-*"],
                "allowed_ips": null, "allowed_origins": null, "allowed_paths": null,
            })
        );
        let refused = crate::tokens::admin::parse_new_token(&form_to_json(&posted(&[
            ("label", "x"),
            ("providers", "openai"),
            ("rate_requests", "lots"),
        ])));
        assert_eq!(refused.unwrap_err().field, "rate_limit");
    }

    #[test]
    fn the_edit_form_shows_the_stored_policy_and_the_list_summarises_it() {
        let mut r = record("limited");
        r.policy = serde_json::from_value(json!({
            "expires_at": "2027-01-01T00:00:00Z", "rate_limit": {"requests": 60, "per_seconds": 60},
            "allowed_models": ["gpt-4o-mini"], "allowed_ips": ["10.0.0.0/8"],
        }))
        .unwrap();
        let form = TokenForm::from_record(&r);
        assert_eq!((form.rate_requests.as_str(), form.allowed_ips.as_str()), ("60", "10.0.0.0/8"));
        assert!(form.rate_windows.iter().any(|&(secs, _, selected)| secs == 60 && selected));
        let html = dashboard(vec![TokenRow::new("ab", &r, None)]);
        for needle in ["expires 2027-01-01", "60 per minute", "models: gpt-4o-mini", "IPs: 10.0.0.0/8"] {
            assert!(html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn snippets_cover_each_allowed_provider_with_base_url_and_token() {
        let s = client_snippets("https://proxy.example", "apx_TOKEN", &[Provider::OpenAi, Provider::Gemini]);
        let all: String = s.iter().map(|s| s.code.as_str()).collect();
        assert!(all.contains("base_url=\"https://proxy.example/v1\""));
        assert!(all.contains("baseUrl: \"https://proxy.example\""));
        assert!(all.contains("https://proxy.example/v1beta/openai"));
        assert!(!all.contains("anthropic"));
        assert!(s.iter().all(|s| s.code.contains("apx_TOKEN")));
    }

    #[test]
    fn the_created_page_shows_the_token_once_with_a_copy_button() {
        let html = CreatedPage {
            layout: Layout {
                csrf: Some("c".into()),
            },
            label: "bot",
            token: "apx_SECRET",
            snippets: client_snippets("https://p", "apx_SECRET", &[Provider::Anthropic]),
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"<code id="new-token">apx_SECRET</code>"#));
        assert!(html.contains(r#"data-copy="new-token""#));
        assert!(html.contains("only time it is shown"));
    }

    #[test]
    fn base_urls_and_snippets_for_the_table_providers() {
        let groq = Provider::from_name("groq").unwrap();
        assert_eq!(base_url("https://p", Provider::OpenAi), "https://p/v1");
        assert_eq!(base_url("https://p", Provider::Anthropic), "https://p");
        assert_eq!(base_url("https://p", groq), "https://p/groq/openai/v1");
        assert_eq!(base_url("https://p", Provider::ElevenLabs), "https://p/elevenlabs");
        let s = client_snippets("https://p", "apx_T", &[groq, Provider::ElevenLabs]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].title, "Groq");
        assert!(s[0].code.contains("base_url=\"https://p/groq/openai/v1\", api_key=\"apx_T\""));
        assert!(s[1].code.contains("ElevenLabs(base_url=\"https://p/elevenlabs\""));
    }

    #[test]
    fn the_create_form_offers_every_provider() {
        let names: Vec<&str> = TokenForm::blank().providers.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), Provider::all().len());
        assert!(names.contains(&"elevenlabs") && names.contains(&"perplexity"));
    }
}
