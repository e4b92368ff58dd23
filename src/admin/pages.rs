//! The dashboard's pages: askama templates (in `templates/`, HTML-escaped by default) and the plain
//! data they render. Nothing here touches the Workers runtime, so every page renders in unit tests.

use askama::Template;
use serde_json::{json, Map, Value};

use crate::admin::audit::Entry;
use crate::admin::flash::Notice;
use crate::admin::form_check::{FieldProblem, FieldProblems};
use crate::admin::list::{ListView, Shown, SortChoice, TokenRow, RATE_WINDOW_NAMES};
use crate::budget::period::Period;
use crate::usage::budget_view::{form_amount_usd, period_choices, BudgetBar};
use crate::policy::rules::Policy;
use crate::proxy::provider::Provider;
use crate::tokens::token::TokenRecord;
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
    /// A dollar and a token budget: the amount as typed (empty for none) and its period's choices.
    pub budget_usd: String,
    pub budget_usd_pers: Vec<(&'static str, &'static str, bool)>,
    pub budget_tokens: String,
    pub budget_tokens_pers: Vec<(&'static str, &'static str, bool)>,
    /// Every problem found when the form was posted, in the order of the form.
    pub errors: Vec<FieldProblem>,
    /// A custom token was typed: it is not sent back to the page, so it must be typed again.
    pub custom_token_typed: bool,
}

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
            budget_usd: policy.budget_usd.map(|b| form_amount_usd(b.usd)).unwrap_or_default(),
            budget_usd_pers: period_choices(policy.budget_usd.map_or(Period::Month, |b| b.per)),
            budget_tokens: policy.budget_tokens.map(|b| b.tokens.to_string()).unwrap_or_default(),
            budget_tokens_pers: period_choices(policy.budget_tokens.map_or(Period::Month, |b| b.per)),
            errors: Vec::new(),
            custom_token_typed: false,
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
        form.budget_usd = field("budget_usd");
        form.budget_usd_pers = period_choices(Period::parse(&field("budget_usd_per")).unwrap_or(Period::Month));
        form.budget_tokens = field("budget_tokens");
        form.budget_tokens_pers = period_choices(Period::parse(&field("budget_tokens_per")).unwrap_or(Period::Month));
        form.custom_token_typed = !field("token").is_empty();
        form
    }

    /// The four allowlists: (input name, label, placeholder, hint, value as typed).
    pub fn list_inputs(&self) -> [(&'static str, &'static str, &'static str, &'static str, &str); 4] {
        [
            ("allowed_models", "Models", "any model (e.g. gpt-4o-mini, claude-*)",
             "One per line; a trailing * matches a prefix. When set, requests whose model cannot be read are refused.", &self.allowed_models),
            ("allowed_paths", "Endpoints", "any endpoint (e.g. /v1/chat/completions)",
             "API paths this token may call, one per line, without the query string.", &self.allowed_paths),
            ("allowed_ips", "Client IP addresses", "any address (e.g. 203.0.113.0/24)",
             "Addresses or CIDR ranges, IPv4 or IPv6, one per line.", &self.allowed_ips),
            ("allowed_origins", "Browser origins", "none (e.g. https://app.example.com, or *)",
             "Web pages that may call the proxy with this token from the browser. Servers, scripts and SDKs outside a browser need nothing here.", &self.allowed_origins),
        ]
    }

    /// The two budgets: (input name, label, placeholder, amount as typed, period choices, hint).
    #[allow(clippy::type_complexity)]
    pub fn budget_inputs(&self) -> [(&'static str, &'static str, &'static str, &str, &[(&'static str, &'static str, bool)], &'static str); 2] {
        [
            ("budget_usd", "Dollar budget (USD)", "no budget (e.g. 25)", &self.budget_usd, &self.budget_usd_pers,
             "Spend this token may run up, priced from the model price table, per UTC day or month, or in total. A request that might not fit is refused (429) before it reaches the provider; models without a price are refused. Empty: no budget."),
            ("budget_tokens", "Token budget (tokens)", "no budget (e.g. 2000000)", &self.budget_tokens, &self.budget_tokens_pers,
             "Input plus output tokens this token may use, per UTC day or month, or in total. Empty: no budget."),
        ]
    }

    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.errors = errors;
        self
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.error(field)
    }

    pub fn invalid(&self, field: &str) -> bool {
        self.errors.invalid(field)
    }

    pub fn focus(&self, field: &str) -> bool {
        self.errors.focus(field)
    }

    pub fn described_by(&self, field: &str) -> String {
        self.errors.described_by(field)
    }

    pub fn error_count(&self) -> String {
        self.errors.error_count()
    }

    /// The input a problem's link in the summary jumps to.
    pub fn anchor(&self, field: &str) -> String {
        if field == "providers" {
            "provider-openai".to_string()
        } else {
            field.to_string()
        }
    }
}

/// The admin API body a posted form stands for, so the form and the API share one validation.
/// Every policy field is present: an empty one is `null`, which clears it on edit. A rate limit
/// that is not a number is passed on as text for the validation to name.
pub fn form_to_json(fields: &[(String, String)]) -> Value {
    let text = |name: &str| urlencoded::first(fields, name).unwrap_or_default().trim().to_string();
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
    // A budget's amount: empty is none; `$25` and `2,000,000` are read as typed, anything else is
    // passed on as text for the validation to name. The period comes from its menu.
    for (name, unit) in [("budget_usd", "usd"), ("budget_tokens", "tokens")] {
        let typed = text(name);
        let per = text(&format!("{name}_per"));
        let amount: Value = if unit == "usd" {
            let bare = typed.strip_prefix('$').unwrap_or(&typed).trim();
            bare.parse::<f64>().ok().filter(|v| v.is_finite()).map_or_else(|| json!(typed), |v| json!(v))
        } else {
            let bare: String = typed.chars().filter(|c| !matches!(c, ',' | '_' | ' ')).collect();
            bare.parse::<u64>().map_or_else(|_| json!(typed), |n| json!(n))
        };
        let per = if per.is_empty() { json!("month") } else { json!(per) };
        body.insert(name.into(), if typed.is_empty() { Value::Null } else { json!({ unit: amount, "per": per }) });
    }
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

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage<'a> {
    pub layout: Layout,
    pub tokens: Vec<TokenRow>,
    /// How many tokens exist, before the filter.
    pub total: usize,
    pub view: &'a ListView,
    pub notice: Option<Notice>,
    /// Whether rows carry usage (the usage columns and "sort by spend" appear with it).
    pub show_usage: bool,
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

impl DashboardPage<'_> {
    pub fn sort_choices(&self) -> Vec<SortChoice> {
        self.view.sort_choices(self.show_usage)
    }
}

/// The create form on its own page, as typed and with every problem, after a refused create.
#[derive(Template)]
#[template(path = "new.html")]
pub struct NewTokenPage<'a> {
    pub layout: Layout,
    pub form: TokenForm,
    pub view: &'a ListView,
}

pub struct Snippet {
    pub title: &'static str,
    pub code: String,
}

#[derive(Template)]
#[template(path = "created.html")]
pub struct CreatedPage<'a> {
    pub layout: Layout,
    pub id: &'a str,
    pub label: &'a str,
    pub token: &'a str,
    pub snippets: Vec<Snippet>,
}

#[derive(Template)]
#[template(path = "edit.html")]
pub struct EditPage<'a> {
    pub layout: Layout,
    pub id: &'a str,
    /// As stored (the form may hold an edited one).
    pub label: &'a str,
    pub last4: &'a str,
    pub created: String,
    pub created_title: String,
    pub last_used: String,
    pub last_used_title: String,
    /// "never", or the stored expiry in words.
    pub expires: String,
    pub status: Shown,
    /// Each budget in its current period (empty when the token has none).
    pub budgets: Vec<BudgetBar>,
    pub form: TokenForm,
    pub view: &'a ListView,
}

#[derive(Template)]
#[template(path = "confirm_delete.html")]
pub struct ConfirmDeletePage<'a> {
    pub layout: Layout,
    pub id: &'a str,
    pub label: &'a str,
    pub last4: &'a str,
    pub view: &'a ListView,
    /// The row the list scrolls to afterwards.
    pub neighbour: Option<&'a str>,
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
            label: entry.label.clone().or_else(|| entry.model.as_ref().map(|m| format!("model {m}"))),
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

/// `/admin/prices`: the overrides in force, a Remove button each, and the form that sets one.
#[derive(Template)]
#[template(path = "prices.html")]
pub struct PricesPage<'a> {
    pub layout: Layout,
    pub rows: Vec<crate::admin::price_form::PriceRow>,
    pub form: crate::admin::price_form::PriceForm,
    pub notice: Option<Notice>,
    pub table_source: &'a str,
    pub table_date: &'a str,
    pub table_models: usize,
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
        // `codex exec` reads CODEX_API_KEY; the base URL has no environment variable of its own.
        out.push(Snippet {
            title: "Codex CLI · codex exec",
            code: format!("echo 'openai_base_url = \"{origin}/v1\"' >> ~/.codex/config.toml\nexport CODEX_API_KEY=\"{token}\"\ncodex exec \"your prompt\""),
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
        // Without the last line Claude Code still talks to api.anthropic.com for its own telemetry.
        out.push(Snippet {
            title: "Claude Code",
            code: format!("export ANTHROPIC_BASE_URL=\"{origin}\"\nexport ANTHROPIC_API_KEY=\"{token}\"\nexport CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1\nclaude"),
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
        // The current Gemini CLI ignores GOOGLE_GEMINI_BASE_URL unless the auth type is pinned.
        out.push(Snippet {
            title: "Gemini CLI",
            code: format!("export GOOGLE_GEMINI_BASE_URL=\"{origin}\"\nexport GEMINI_API_KEY=\"{token}\"\n# once, in ~/.gemini/settings.json: {{\"security\": {{\"auth\": {{\"selectedType\": \"gemini-api-key\"}}}}}}\ngemini"),
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
    use crate::admin::form_check::{check, FormKind};
    use crate::tokens::token::Status;

    const NOW: i64 = 1_795_302_245; // 2026-11-21T23:04:05Z

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

    fn row(r: &TokenRecord, last_used: Option<&str>) -> TokenRow {
        TokenRow::new("ab", r, last_used, NOW)
    }

    fn dashboard_with(rows: Vec<TokenRow>, view: &ListView, notice: Option<Notice>) -> String {
        DashboardPage {
            layout: Layout { csrf: Some("csrf-123".into()) },
            total: rows.len(),
            tokens: rows,
            view,
            notice,
            show_usage: false,
            damaged: Vec::new(),
            upstreams: Upstreams::default(),
        }
        .render()
        .unwrap()
    }

    fn dashboard(rows: Vec<TokenRow>) -> String {
        dashboard_with(rows, &ListView::default(), None)
    }

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn new_page(fields: &[(&str, &str)]) -> String {
        let fields = posted(fields);
        let problems = check(&fields, &form_to_json(&fields), FormKind::Create, NOW);
        NewTokenPage {
            layout: Layout { csrf: Some("c".into()) },
            form: TokenForm::from_fields(&fields).with_errors(problems),
            view: &ListView::default(),
        }
        .render()
        .unwrap()
    }

    #[test]
    fn a_damaged_record_is_listed_as_damaged_with_a_delete_button() {
        let id = "d".repeat(64);
        let html = DashboardPage {
            layout: Layout { csrf: Some("csrf-123".into()) },
            total: 2,
            tokens: vec![TokenRow::new("ab", &record("fine"), None, NOW)],
            view: &ListView::default(),
            notice: None,
            show_usage: false,
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
        let html = dashboard(vec![row(&record(evil), None)]);
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;") || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        let page = LoginPage {
            layout: Layout::default(),
            error: Some(evil),
        }
        .render()
        .unwrap();
        assert!(!page.contains("<script>alert(1)"));
        let notice = Notice { text: format!("{evil} disabled"), undo_enable: Some(crate::admin::flash::Undo { id: "ab".into(), label: evil.into() }) };
        let view = ListView::from_pairs(&posted(&[("q", evil)]));
        let html = dashboard_with(vec![row(&record(evil), None)], &view, Some(notice));
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(!html.contains("\"'&\""), "attribute values are escaped too");
    }

    #[test]
    fn the_prices_page_lists_overrides_with_named_remove_buttons_and_marks_bad_inputs() {
        use crate::admin::price_form::{rows, PriceForm};
        use crate::usage::prices::Price;
        let evil = "a<b>\"'&";
        let overrides = std::collections::HashMap::from([(evil.to_string(), Price { input: 1.5, cached_input: None, cache_write: Some(2.0), output: 6.0, tier: None })]);
        let mut form = PriceForm::from_fields(&posted(&[("model", evil), ("input", "x"), ("output", "1")]));
        assert!(form.check().is_none());
        let html = PricesPage {
            layout: Layout { csrf: Some("csrf-123".into()) },
            rows: rows(&overrides),
            form,
            notice: Some(Notice { text: format!("Saved the price of {evil}."), undo_enable: None }),
            table_source: "litellm",
            table_date: "2026-11-01",
            table_models: 3,
        }
        .render()
        .unwrap();
        assert_eq!(html.matches("<h1").count(), 1);
        assert!(!html.contains("a<b>"), "{html}");
        assert!(html.contains("Remove<span class=\"sr\"> price for a&#60;b&#62;") || html.contains("Remove<span class=\"sr\"> price for a&lt;b&gt;"), "{html}");
        assert!(html.contains("$1.5") && html.contains("$2") && html.contains("$6") && html.contains("—"));
        assert_eq!(html.matches(r#"name="csrf" value="csrf-123""#).count(), 3, "sign out, remove, set");
        assert!(html.contains(r#"id="model-error""#) && html.contains(r#"id="input-error""#) && !html.contains(r#"id="output-error""#));
        assert!(html.contains("2 fields need attention"));
        assert_eq!(html.matches(" autofocus").count(), 1);
        assert!(!html.contains("style=") && html.matches("<script").count() == 1);
    }

    #[test]
    fn the_only_script_is_our_own_file_and_there_are_no_inline_styles_or_handlers() {
        for html in [dashboard(vec![row(&record("x"), Some("2026-11-21"))]), new_page(&[("label", "")])] {
            assert_eq!(html.matches("<script").count(), 1);
            assert!(html.contains(r#"<script src="/admin/assets/admin.js" defer></script>"#));
            assert!(!html.contains("style="));
            assert!(!html.contains(" onclick="));
            for external in [r#"src="http"#, r#"href="http"#, r#"src="//"#, r#"href="//"#] {
                assert!(!html.contains(external), "nothing loaded from elsewhere: {external}");
            }
        }
    }

    #[test]
    fn every_state_changing_form_carries_the_csrf_token_and_the_list_view() {
        let view = ListView::from_pairs(&posted(&[("q", "ci"), ("sort", "label")]));
        let notice = Notice { text: "x disabled".into(), undo_enable: Some(crate::admin::flash::Undo { id: "ab".into(), label: "x".into() }) };
        let html = dashboard_with(vec![row(&record("x"), None)], &view, Some(notice));
        let posts = html.matches(r#"method="post""#).count();
        assert_eq!(posts, 4, "sign out, undo, status, delete");
        assert_eq!(html.matches(r#"name="csrf" value="csrf-123""#).count(), posts);
        assert_eq!(html.matches(r#"<input type="hidden" name="q" value="ci"><input type="hidden" name="sort" value="label">"#).count(), 3);
    }

    #[test]
    fn the_list_shows_last4_providers_status_and_times() {
        let html = dashboard(vec![row(&record("ci runner"), Some("2026-11-20"))]);
        for needle in ["ci runner", "…WXYZ", "OpenAI", "Gemini", "status off\">disabled", "2026-11-21", "yesterday", "title=\"Last request on 2026-11-20", "title=\"Created 2026-11-21 10:00:00 UTC\"", "Enable"] {
            assert!(html.contains(needle), "{needle}");
        }
        assert_eq!(html.matches("<h1").count(), 1);
    }

    #[test]
    fn every_action_is_named_after_its_token() {
        let html = dashboard(vec![row(&record("ci-runner"), None)]);
        for name in ["Edit<span class=\"sr\"> ci-runner</span>", "Enable<span class=\"sr\"> ci-runner</span>", "Delete<span class=\"sr\"> ci-runner</span>"] {
            assert!(html.contains(name), "{name}");
        }
        assert!(html.contains("within about a minute and a half"));
        assert!(!html.contains("at once for everyone") && !html.contains("lose access at once"));
    }

    #[test]
    fn an_expired_token_is_shown_expired() {
        let mut r = record("old");
        r.status = Status::Active;
        r.policy.expires_at = Some("2026-11-01T00:00:00Z".into());
        let html = dashboard(vec![row(&r, None)]);
        assert!(html.contains(r#"<span class="status expired">expired</span>"#), "{html}");
        assert!(html.contains("expired 2026-11-01"));
        assert!(!html.contains(">active<"));
    }

    #[test]
    fn an_empty_list_explains_what_to_do() {
        let html = dashboard(vec![]);
        assert!(html.contains("No tokens yet."));
        assert!(!html.contains("<table>"));
    }

    #[test]
    fn the_usage_columns_appear_only_with_usage() {
        assert!(!dashboard(vec![row(&record("x"), None)]).contains("30 d"));
        let mut with = row(&record("x"), None);
        with.usage = Some(crate::admin::list::RowUsage { requests: "12".into(), tokens: "3,400".into(), cost: "$0.12".into(), cost_usd: Some(0.12) });
        let html = DashboardPage { layout: Layout::default(), total: 1, tokens: vec![with], view: &ListView::default(), notice: None, damaged: Vec::new(), show_usage: true, upstreams: Upstreams::default() }.render().unwrap();
        for needle in ["Spend <span class=\"muted\">30 d</span>", ">12</span> requests", ">3,400</span> tokens", ">$0.12<", "Highest spend first"] {
            assert!(html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn a_refused_form_marks_every_bad_input_and_focuses_the_first() {
        let html = new_page(&[("label", "kept label"), ("expires_at", "2020-01-01T00:00:00Z"), ("rate_requests", "lots"), ("token", "short")]);
        assert_eq!(html.matches(r#"aria-invalid="true""#).count(), Provider::all().len() + 3, "every provider box, expiry, rate, token");
        assert_eq!(html.matches(" autofocus").count(), 1);
        assert!(html.contains(r#"id="provider-openai" name="providers" value="openai" aria-invalid="true" aria-describedby="providers-error" autofocus"#), "{html}");
        for id in ["providers-error", "expires_at-error", "rate_requests-error", "token-error"] {
            assert!(html.contains(&format!(r#"<p class="field-error" id="{id}">"#)), "{id}");
        }
        assert!(html.contains(r#"aria-describedby="expires_at-error expires_at-hint""#));
        assert!(html.contains("Not created: 4 fields need attention."));
        assert!(html.contains(r#"value="kept label""#) && html.contains(r#"value="lots""#));
        assert!(!html.contains(r#"value="short""#), "a typed custom token is not sent back");
        assert!(html.contains("Type it again"));
        assert!(!html.contains("expires_at:") && !html.contains("rate_limit"), "form words, not API names");
    }

    #[test]
    fn hints_are_tied_to_their_inputs_and_no_label_is_overridden() {
        let html = NewTokenPage { layout: Layout { csrf: Some("c".into()) }, form: TokenForm::blank(), view: &ListView::default() }.render().unwrap();
        assert!(html.contains("<h1>New token</h1>"));
        assert_eq!(html.matches("<h1").count(), 1);
        for id in ["label", "expires_at", "rate_requests", "budget_usd", "budget_tokens", "allowed_models", "allowed_paths", "allowed_ips", "allowed_origins", "token"] {
            assert!(html.contains(&format!(r#"aria-describedby="{id}-hint""#)), "{id}");
            assert!(html.contains(&format!(r#"id="{id}-hint""#)), "{id}");
            assert!(html.contains(&format!(r#"<label for="{id}">"#)), "{id}");
        }
        assert!(!html.contains("aria-label="), "visible labels name every input");
        assert!(html.contains(r#"<label for="rate_per_seconds" class="sr">"#));
        assert!(html.contains("never (e.g."));
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
            ("budget_usd", " $2.50 "),
            ("budget_usd_per", "day"),
            ("budget_tokens", ""),
            ("budget_tokens_per", "total"),
        ]));
        assert_eq!(
            body,
            json!({
                "label": "bot", "providers": ["openai", "anthropic"], "expires_at": null,
                "rate_limit": {"requests": 3, "per_seconds": 3600},
                "budget_usd": {"usd": 2.5, "per": "day"}, "budget_tokens": null,
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
        let html = dashboard(vec![row(&r, None)]);
        for needle in ["expires 2027-01-01", "60 per minute", "models: gpt-4o-mini", "IPs: 10.0.0.0/8"] {
            assert!(html.contains(needle), "{needle}");
        }
    }

    fn budget_line(unit: &str, limit: f64, spent: f64, per: crate::budget::period::Period, resets_at: Option<&str>) -> crate::budget::guard::BudgetLine {
        crate::budget::guard::BudgetLine { unit: unit.into(), limit, per, spent, held: 0.0, left: (limit - spent).max(0.0), resets_at: resets_at.map(str::to_string) }
    }

    #[test]
    fn a_row_with_budgets_shows_used_of_limit_a_meter_what_is_left_and_the_reset() {
        use crate::budget::period::Period;
        let mut r = record("capped");
        r.policy = serde_json::from_value(json!({"budget_usd": {"usd": 25.0, "per": "month"}, "budget_tokens": {"tokens": 1000, "per": "total"}})).unwrap();
        let mut with = row(&r, None);
        assert!(with.matches("dollar budget per month"), "the filter finds budgeted tokens");
        let unread = dashboard(vec![row(&r, None)]);
        assert!(unread.contains("Use not available right now.") && !unread.contains("<meter"), "limits alone until read: {unread}");
        with.budgets = crate::usage::budget_view::bars(&[
            budget_line("usd", 25.0, 1.25, Period::Month, Some("2027-01-01T00:00:00Z")),
            budget_line("tokens", 1000.0, 1000.0, Period::Total, None),
        ]);
        let html = dashboard(vec![with]);
        assert_eq!(html.matches("<meter ").count(), 2);
        for needle in [
            r#"<meter min="0" max="25" low="20" high="20" optimum="0" value="1.25" aria-label="Dollar budget per month: $1.25 / $25.00" aria-valuetext="$1.25 of $25.00 used, $23.75 left""#,
            "<strong>$1.25</strong> / $25.00",
            "$23.75 left",
            r#"<time datetime="2027-01-01T00:00:00Z">resets 2027-01-01 00:00 UTC</time>"#,
            "<strong>1,000</strong> / 1,000 tokens",
            r#"<div class="budget exhausted">"#,
            "0 tokens left</span> · does not reset",
        ] {
            assert!(html.contains(needle), "{needle}\n{html}");
        }
        assert!(!html.contains("style="));
    }

    #[test]
    fn the_budget_fields_keep_what_was_typed_and_mark_a_bad_amount() {
        let html = new_page(&[("label", "x"), ("providers", "openai"), ("budget_usd", "lots"), ("budget_usd_per", "day"), ("budget_tokens", "5000"), ("budget_tokens_per", "total")]);
        assert!(html.contains(r#"<p class="field-error" id="budget_usd-error">Dollar budget must be"#), "{html}");
        assert!(html.contains(r#"id="budget_usd" name="budget_usd" value="lots""#) && html.contains(r#"aria-describedby="budget_usd-error budget_usd-hint" aria-invalid="true" autofocus"#), "{html}");
        assert!(html.contains(r#"<option value="day" selected>per day</option>"#) && html.contains(r#"<option value="total" selected>in total</option>"#));
        assert!(html.contains(r#"value="5000""#) && !html.contains("budget_tokens-error"));
        assert!(html.contains(r#"<label for="budget_usd_per" class="sr">"#) && html.contains(r#"<label for="budget_tokens">"#));
        let mut r = record("capped");
        r.policy = serde_json::from_value(json!({"budget_usd": {"usd": 2.5, "per": "day"}})).unwrap();
        let form = TokenForm::from_record(&r);
        assert_eq!((form.budget_usd.as_str(), form.budget_tokens.as_str()), ("2.5", ""));
        assert!(form.budget_usd_pers.contains(&("day", "per day", true)) && form.budget_tokens_pers.contains(&("month", "per month", true)));
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
    fn snippets_give_each_coding_agent_its_environment_lines() {
        let s = client_snippets("https://proxy.example", "apx_TOKEN", &[Provider::OpenAi, Provider::Anthropic, Provider::Gemini]);
        let code = |title: &str| s.iter().find(|s| s.title == title).map(|s| s.code.clone()).unwrap_or_default();
        assert!(code("Claude Code").contains("export ANTHROPIC_BASE_URL=\"https://proxy.example\"\nexport ANTHROPIC_API_KEY=\"apx_TOKEN\""));
        assert!(code("Codex CLI · codex exec").contains("openai_base_url = \"https://proxy.example/v1\""));
        assert!(code("Codex CLI · codex exec").contains("export CODEX_API_KEY=\"apx_TOKEN\""));
        assert!(code("Gemini CLI").contains("export GOOGLE_GEMINI_BASE_URL=\"https://proxy.example\"\nexport GEMINI_API_KEY=\"apx_TOKEN\""));
        assert!(code("Gemini CLI").contains("\"selectedType\": \"gemini-api-key\""));
        let openai_only = client_snippets("https://p", "t", &[Provider::OpenAi]);
        assert!(openai_only.iter().all(|s| s.title != "Claude Code" && s.title != "Gemini CLI"));
    }

    #[test]
    fn the_created_page_shows_the_token_once_with_a_copy_button() {
        let html = CreatedPage {
            layout: Layout {
                csrf: Some("c".into()),
            },
            id: "ab",
            label: "bot",
            token: "apx_SECRET",
            snippets: client_snippets("https://p", "apx_SECRET", &[Provider::Anthropic]),
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"<code id="new-token">apx_SECRET</code>"#));
        assert!(html.contains(r#"data-copy="new-token""#));
        assert!(html.contains("only time it is shown"));
        assert!(html.contains(r##"href="/admin#token-ab""##));
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
