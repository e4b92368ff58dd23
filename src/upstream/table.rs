//! The provider table: every upstream the proxy can reach, as data. The built-in rows are fixed;
//! an operator appends OpenAI-compatible rows of their own through the `EXTRA_PROVIDERS` var (a
//! JSON array), validated here. Code elsewhere asks the row, never matches on a provider's name.

use serde_json::Value;

/// Where the upstream reads its key from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySlot {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The key alone in this (lowercase) header, e.g. `x-api-key`, `xi-api-key`, Azure's `api-key`.
    Header(&'static str),
    /// Gemini: `x-goog-api-key`, except Bearer on its OpenAI-compatible `/v1beta/openai/` paths.
    GoogleApiKey,
}

/// The JSON shape of errors the provider's SDKs parse, which the proxy's own errors copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorShape {
    OpenAi,
    Anthropic,
    Gemini,
    /// `{"detail": {"status": ..., "message": ...}}`.
    ElevenLabs,
}

/// The wire format usage arrives in (what the usage meter reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageFormat {
    OpenAi,
    /// OpenAI's shapes, plus `usage.cost` (USD) taken as the cost when present.
    OpenAiWithCost,
    Anthropic,
    Gemini,
    /// Answers carry no token counts (ElevenLabs audio).
    None,
}

/// How an upstream refuses the region a request leaves from: the status, and a text its body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionRefusal {
    pub status: u16,
    pub marker: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderSpec {
    /// Lowercase; also the explicit path prefix `/<name>/`.
    pub name: &'static str,
    pub display_name: &'static str,
    pub origin: &'static str,
    /// `<NAME>_API_KEY`.
    pub secret_name: &'static str,
    /// `<NAME>_UPSTREAM`, which overrides `origin`.
    pub upstream_var: &'static str,
    pub key_slot: KeySlot,
    pub error_shape: ErrorShape,
    pub usage: UsageFormat,
    /// Whether the proxy finds this provider from the credential slot alone (no path prefix).
    pub slot_detected: bool,
    pub region_refusal: Option<RegionRefusal>,
    /// The path a client appends to the proxy's URL as its SDK's base URL (after the prefix, if any).
    pub base_path: &'static str,
    /// Added by the operator in `EXTRA_PROVIDERS`.
    pub operator_defined: bool,
}

const fn compat(name: &'static str, display_name: &'static str, origin: &'static str, secret_name: &'static str, upstream_var: &'static str, base_path: &'static str) -> ProviderSpec {
    ProviderSpec {
        name,
        display_name,
        origin,
        secret_name,
        upstream_var,
        key_slot: KeySlot::Bearer,
        error_shape: ErrorShape::OpenAi,
        usage: UsageFormat::OpenAi,
        slot_detected: false,
        region_refusal: None,
        base_path,
        operator_defined: false,
    }
}

/// The built-in rows, in the order the dashboard lists them. The first three keep their indexes
/// (`Provider::OpenAi` is row 0, ...).
pub const BUILT_IN: [ProviderSpec; 13] = [
    ProviderSpec {
        key_slot: KeySlot::Bearer,
        slot_detected: true,
        region_refusal: Some(RegionRefusal { status: 403, marker: "unsupported_country_region_territory" }),
        ..compat("openai", "OpenAI", "https://api.openai.com", "OPENAI_API_KEY", "OPENAI_UPSTREAM", "/v1")
    },
    ProviderSpec {
        key_slot: KeySlot::Header("x-api-key"),
        error_shape: ErrorShape::Anthropic,
        usage: UsageFormat::Anthropic,
        slot_detected: true,
        ..compat("anthropic", "Anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "ANTHROPIC_UPSTREAM", "")
    },
    ProviderSpec {
        key_slot: KeySlot::GoogleApiKey,
        error_shape: ErrorShape::Gemini,
        usage: UsageFormat::Gemini,
        slot_detected: true,
        region_refusal: Some(RegionRefusal { status: 400, marker: "User location is not supported" }),
        ..compat("gemini", "Gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY", "GEMINI_UPSTREAM", "")
    },
    ProviderSpec {
        key_slot: KeySlot::Header("xi-api-key"),
        error_shape: ErrorShape::ElevenLabs,
        usage: UsageFormat::None,
        ..compat("elevenlabs", "ElevenLabs", "https://api.elevenlabs.io", "ELEVENLABS_API_KEY", "ELEVENLABS_UPSTREAM", "")
    },
    compat("mistral", "Mistral", "https://api.mistral.ai", "MISTRAL_API_KEY", "MISTRAL_UPSTREAM", "/v1"),
    compat("groq", "Groq", "https://api.groq.com", "GROQ_API_KEY", "GROQ_UPSTREAM", "/openai/v1"),
    ProviderSpec {
        usage: UsageFormat::OpenAiWithCost,
        ..compat("openrouter", "OpenRouter", "https://openrouter.ai", "OPENROUTER_API_KEY", "OPENROUTER_UPSTREAM", "/api/v1")
    },
    compat("deepseek", "DeepSeek", "https://api.deepseek.com", "DEEPSEEK_API_KEY", "DEEPSEEK_UPSTREAM", "/v1"),
    compat("xai", "xAI", "https://api.x.ai", "XAI_API_KEY", "XAI_UPSTREAM", "/v1"),
    compat("together", "Together", "https://api.together.xyz", "TOGETHER_API_KEY", "TOGETHER_UPSTREAM", "/v1"),
    compat("fireworks", "Fireworks", "https://api.fireworks.ai", "FIREWORKS_API_KEY", "FIREWORKS_UPSTREAM", "/inference/v1"),
    compat("cerebras", "Cerebras", "https://api.cerebras.ai", "CEREBRAS_API_KEY", "CEREBRAS_UPSTREAM", "/v1"),
    compat("perplexity", "Perplexity", "https://api.perplexity.ai", "PERPLEXITY_API_KEY", "PERPLEXITY_UPSTREAM", ""),
];

/// The var holding the operator's rows.
pub const EXTRA_PROVIDERS_VAR: &str = "EXTRA_PROVIDERS";

/// First path segments the proxy or the built-in providers' own paths use; an operator's provider
/// may not take one as its name, or it would capture those requests.
const RESERVED_NAMES: [&str; 6] = ["admin", "health", "v1", "v1beta", "v1alpha", "upload"];

const MAX_EXTRA: usize = 32;

/// The built-in rows and the operator's valid ones, and why any other rows were left out.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub specs: Vec<ProviderSpec>,
    pub problems: Vec<String>,
}

impl Table {
    pub fn built_in() -> Table {
        Table { specs: BUILT_IN.to_vec(), problems: Vec::new() }
    }

    /// The built-in rows plus those `extra` (the `EXTRA_PROVIDERS` JSON) adds. A bad row is left out
    /// and named in `problems`; the others still count. Strings of valid rows are leaked: a table is
    /// built once per isolate, so this is bounded.
    pub fn with_extra(extra: Option<&str>) -> Table {
        let mut table = Table::built_in();
        let Some(text) = extra.map(str::trim).filter(|t| !t.is_empty()) else {
            return table;
        };
        let rows = match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(rows)) => rows,
            Ok(_) => {
                table.problems.push(format!("{EXTRA_PROVIDERS_VAR} must be a JSON array of objects; all of it is ignored"));
                return table;
            }
            Err(e) => {
                table.problems.push(format!("{EXTRA_PROVIDERS_VAR} is not valid JSON ({e}); all of it is ignored"));
                return table;
            }
        };
        for (i, row) in rows.iter().enumerate() {
            if table.specs.len() >= BUILT_IN.len() + MAX_EXTRA {
                table.problems.push(format!("{EXTRA_PROVIDERS_VAR}[{i}] and later: at most {MAX_EXTRA} entries are read"));
                break;
            }
            match parse_row(row, &table.specs) {
                Ok(spec) => table.specs.push(spec),
                Err(reason) => table.problems.push(format!("{EXTRA_PROVIDERS_VAR}[{i}] ignored: {reason}")),
            }
        }
        table
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name == name)
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The capitalised form used in var names: `my-vllm` -> `MY_VLLM`.
pub fn env_name(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

fn valid_name(name: &str) -> Result<(), String> {
    let ok_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let starts = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if name.is_empty() || name.len() > 32 || !ok_chars || !starts || name.ends_with('-') {
        return Err(format!("\"name\" {name:?} must be 1-32 of a-z, 0-9 and -, starting with a letter"));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!("\"name\" {name:?} is a path the proxy already uses"));
    }
    Ok(())
}

fn valid_origin(origin: &str) -> Result<String, String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("\"origin\" {origin:?} must start with https:// (or http://)"))?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains(['?', '#', ' ', '@']) {
        return Err(format!("\"origin\" {origin:?} must be a URL with a host and no query"));
    }
    Ok(origin.trim_end_matches('/').to_string())
}

fn valid_header(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn parse_row(row: &Value, existing: &[ProviderSpec]) -> Result<ProviderSpec, String> {
    let obj = row.as_object().ok_or("must be an object")?;
    const FIELDS: [&str; 5] = ["name", "origin", "display_name", "key_header", "base_path"];
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field \"{k}\" (allowed: {})", FIELDS.join(", ")));
    }
    let text = |field: &str| -> Result<Option<&str>, String> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(_) => Err(format!("\"{field}\" must be a string")),
        }
    };
    let name = text("name")?.ok_or("\"name\" is required")?;
    valid_name(name)?;
    if existing.iter().any(|s| s.name == name) {
        return Err(format!("\"name\" {name:?} is already a provider"));
    }
    let origin = valid_origin(text("origin")?.ok_or("\"origin\" is required")?)?;
    let display_name = match text("display_name")? {
        Some(d) if d.chars().count() > 64 || d.chars().any(char::is_control) => {
            return Err("\"display_name\" must be at most 64 printable characters".into())
        }
        Some(d) if !d.is_empty() => d.to_string(),
        _ => name.to_string(),
    };
    let key_slot = match text("key_header")?.map(str::to_ascii_lowercase) {
        None => KeySlot::Bearer,
        Some(h) if h == "authorization" || h == "bearer" => KeySlot::Bearer,
        Some(h) if valid_header(&h) => KeySlot::Header(leak(h)),
        Some(h) => return Err(format!("\"key_header\" {h:?} is not a header name")),
    };
    let base_path = match text("base_path")? {
        None | Some("") => "",
        Some(b) if b.starts_with('/') && b.len() <= 100 && !b.contains(['?', '#', ' ']) => leak(b.trim_end_matches('/').to_string()),
        Some(b) => return Err(format!("\"base_path\" {b:?} must be a path starting with /")),
    };
    let upper = env_name(name);
    Ok(ProviderSpec {
        name: leak(name.to_string()),
        display_name: leak(display_name),
        origin: leak(origin),
        secret_name: leak(format!("{upper}_API_KEY")),
        upstream_var: leak(format!("{upper}_UPSTREAM")),
        key_slot,
        error_shape: ErrorShape::OpenAi,
        usage: UsageFormat::OpenAi,
        slot_detected: false,
        region_refusal: None,
        base_path,
        operator_defined: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_rows_follow_the_naming_rule() {
        for spec in BUILT_IN {
            let upper = env_name(spec.name);
            assert_eq!(spec.secret_name, format!("{upper}_API_KEY"));
            assert_eq!(spec.upstream_var, format!("{upper}_UPSTREAM"));
            assert!(spec.origin.starts_with("https://"), "{}", spec.name);
            assert!(valid_name(spec.name).is_ok(), "{}", spec.name);
        }
        let names: Vec<&str> = BUILT_IN.iter().map(|s| s.name).collect();
        assert_eq!(&names[..3], ["openai", "anthropic", "gemini"]);
        assert_eq!(names.len(), 13);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn only_the_three_original_providers_are_found_by_slot() {
        let detected: Vec<&str> = BUILT_IN.iter().filter(|s| s.slot_detected).map(|s| s.name).collect();
        assert_eq!(detected, ["openai", "anthropic", "gemini"]);
    }

    #[test]
    fn elevenlabs_row() {
        let e = BUILT_IN.iter().find(|s| s.name == "elevenlabs").unwrap();
        assert_eq!(e.key_slot, KeySlot::Header("xi-api-key"));
        assert_eq!(e.error_shape, ErrorShape::ElevenLabs);
        assert_eq!(e.usage, UsageFormat::None);
        assert_eq!(e.origin, "https://api.elevenlabs.io");
    }

    #[test]
    fn openrouter_reports_cost_and_the_region_refusals_are_openai_and_gemini() {
        let by = |n: &str| BUILT_IN.iter().find(|s| s.name == n).copied().unwrap();
        assert_eq!(by("openrouter").usage, UsageFormat::OpenAiWithCost);
        assert_eq!(by("openai").region_refusal.unwrap().status, 403);
        assert_eq!(by("gemini").region_refusal.unwrap().status, 400);
        assert_eq!(BUILT_IN.iter().filter(|s| s.region_refusal.is_some()).count(), 2);
        assert_eq!(by("groq").base_path, "/openai/v1");
    }

    #[test]
    fn an_operator_row_gets_the_same_fields() {
        let t = Table::with_extra(Some(
            r#"[{"name": "my-vllm", "origin": "http://10.0.0.5:8000/", "display_name": "Our vLLM", "base_path": "/v1/"},
                {"name": "azure", "origin": "https://x.openai.azure.com", "key_header": "api-key"}]"#,
        ));
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        let v = t.specs[t.find("my-vllm").unwrap()];
        assert_eq!(v.origin, "http://10.0.0.5:8000");
        assert_eq!((v.secret_name, v.upstream_var), ("MY_VLLM_API_KEY", "MY_VLLM_UPSTREAM"));
        assert_eq!((v.display_name, v.key_slot, v.error_shape), ("Our vLLM", KeySlot::Bearer, ErrorShape::OpenAi));
        assert!(v.operator_defined && !v.slot_detected);
        assert_eq!(v.base_path, "/v1");
        let a = t.specs[t.find("azure").unwrap()];
        assert_eq!((a.display_name, a.key_slot), ("azure", KeySlot::Header("api-key")));
        assert_eq!(t.find("azure"), Some(14));
    }

    #[test]
    fn bad_rows_are_left_out_with_a_reason_and_the_rest_kept() {
        let t = Table::with_extra(Some(
            r#"[{"name": "Groq2", "origin": "https://a"},
                {"name": "groq", "origin": "https://a"},
                {"name": "admin", "origin": "https://a"},
                {"name": "ok1", "origin": "ftp://a"},
                {"name": "ok2"},
                {"name": "ok3", "origin": "https://a", "colour": "red"},
                {"name": "ok4", "origin": "https://a", "key_header": "bad header"},
                "text",
                {"name": "fine", "origin": "https://fine.example"}]"#,
        ));
        assert_eq!(t.specs.len(), 14);
        assert_eq!(t.specs[13].name, "fine");
        assert_eq!(t.problems.len(), 8, "{:?}", t.problems);
        assert!(t.problems[0].starts_with("EXTRA_PROVIDERS[0] ignored: \"name\""));
        assert!(t.problems[1].contains("already a provider"));
        assert!(t.problems[2].contains("already uses"));
        assert!(t.problems[4].contains("\"origin\" is required"));
        assert!(t.problems[5].contains("unknown field \"colour\""));
    }

    #[test]
    fn unreadable_extra_is_ignored_whole_and_said_so() {
        for bad in ["{", r#"{"name": "x"}"#] {
            let t = Table::with_extra(Some(bad));
            assert_eq!(t.specs.len(), 13);
            assert_eq!(t.problems.len(), 1);
            assert!(t.problems[0].contains("all of it is ignored"));
        }
        assert!(Table::with_extra(Some("  ")).problems.is_empty());
        assert!(Table::with_extra(None).problems.is_empty());
    }
}
