//! Region refusals: an upstream that will not serve the location a Worker's `fetch()` leaves from.
//! The request is then sent once more through a Durable Object in the US jurisdiction.

use crate::upstream::table::ProviderSpec;

/// The var listing the providers whose region refusals are retried: comma-separated names, or
/// `off`. Unset means every provider whose row knows its refusal (OpenAI and Gemini).
pub const REGION_RETRY_VAR: &str = "REGION_RETRY";

/// How much of an error body is read to look for the refusal marker.
pub const MAX_REFUSAL_BODY_BYTES: usize = 64 * 1024;

/// Whether `spec`'s region refusals are retried, given the var's value.
pub fn retry_enabled(spec: &ProviderSpec, setting: Option<&str>) -> bool {
    if spec.region_refusal.is_none() {
        return false;
    }
    match setting.map(str::trim) {
        None => true,
        Some(s) => s.split(',').map(str::trim).any(|n| n.eq_ignore_ascii_case(spec.name)),
    }
}

/// Whether a response's status may be a refusal, before its body is read.
pub fn may_be_refusal(spec: &ProviderSpec, status: u16) -> bool {
    spec.region_refusal.is_some_and(|r| r.status == status)
}

/// Whether the answer is `spec`'s region refusal.
pub fn is_refusal(spec: &ProviderSpec, status: u16, body: &str) -> bool {
    spec.region_refusal.is_some_and(|r| r.status == status && body.contains(r.marker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::table::BUILT_IN;

    fn by(name: &str) -> ProviderSpec {
        *BUILT_IN.iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn openai_and_gemini_refusals() {
        let openai = by("openai");
        let body = r#"{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}"#;
        assert!(is_refusal(&openai, 403, body));
        assert!(!is_refusal(&openai, 403, r#"{"error":{"code":"forbidden"}}"#));
        assert!(!is_refusal(&openai, 400, body));
        let gemini = by("gemini");
        let body = r#"{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}"#;
        assert!(is_refusal(&gemini, 400, body));
        assert!(may_be_refusal(&gemini, 400) && !may_be_refusal(&gemini, 403));
        assert!(!is_refusal(&by("anthropic"), 403, "unsupported_country_region_territory"));
    }

    #[test]
    fn on_by_default_for_the_two_and_switchable() {
        assert!(retry_enabled(&by("openai"), None));
        assert!(retry_enabled(&by("gemini"), None));
        assert!(!retry_enabled(&by("groq"), None));
        assert!(!retry_enabled(&by("openai"), Some("off")));
        assert!(!retry_enabled(&by("openai"), Some("")));
        assert!(retry_enabled(&by("gemini"), Some("openai, Gemini")));
        assert!(!retry_enabled(&by("openai"), Some("gemini")));
    }
}
