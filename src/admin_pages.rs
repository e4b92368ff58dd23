//! The dashboard's pages: askama templates (in `templates/`, HTML-escaped by default) and the plain
//! data they render. Nothing here touches the Workers runtime, so every page renders in unit tests.

use askama::Template;

use crate::provider::Provider;
use crate::token::{Status, TokenRecord};

pub const STYLESHEET: &str = include_str!("../templates/admin.css");
pub const SCRIPT: &str = include_str!("../templates/admin.js");

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

/// The fields shared by the create and edit forms, as the operator last typed them.
pub struct TokenForm {
    pub label: String,
    pub providers: Vec<ProviderChoice>,
}

impl TokenForm {
    pub fn new(label: &str, checked: &[Provider]) -> Self {
        TokenForm {
            label: label.to_string(),
            providers: Provider::ALL
                .into_iter()
                .map(|p| ProviderChoice {
                    name: p.name(),
                    display: p.display_name(),
                    checked: checked.contains(&p),
                })
                .collect(),
        }
    }
}

pub struct TokenRow {
    pub id: String,
    pub label: String,
    pub last4: String,
    pub providers: Vec<&'static str>,
    pub active: bool,
    pub created: String,
    pub last_used: String,
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
            form: TokenForm::new("", &[]),
            total: rows.len(),
            tokens: rows,
            filter: "",
            notice: None,
            error: None,
        }
        .render()
        .unwrap()
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
        assert!(!html.contains("http://") && !html.contains("https://"), "nothing from a CDN");
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
}
