//! Errors the proxy itself returns, in each provider's native JSON shape, so that every SDK raises
//! its usual error class (AuthenticationError, PermissionDeniedError, ...) with our message.

use serde_json::json;

use crate::proxy::provider::Provider;
use crate::upstream::table::ErrorShape;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthenticated,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    /// A budget is used up: 429 in each provider's quota shape.
    QuotaExceeded,
    BadGateway,
    Unavailable,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited | ErrorKind::QuotaExceeded => 429,
            ErrorKind::BadGateway => 502,
            ErrorKind::Unavailable => 503,
        }
    }

    fn openai_type_and_code(self) -> (&'static str, &'static str) {
        match self {
            ErrorKind::BadRequest => ("invalid_request_error", "invalid_request"),
            ErrorKind::Unauthenticated => ("invalid_request_error", "invalid_api_key"),
            ErrorKind::Forbidden => ("invalid_request_error", "forbidden"),
            ErrorKind::NotFound => ("invalid_request_error", "not_found"),
            ErrorKind::PayloadTooLarge => ("invalid_request_error", "request_too_large"),
            ErrorKind::RateLimited => ("requests", "rate_limit_exceeded"),
            ErrorKind::QuotaExceeded => ("insufficient_quota", "insufficient_quota"),
            ErrorKind::BadGateway => ("server_error", "upstream_unreachable"),
            ErrorKind::Unavailable => ("server_error", "service_unavailable"),
        }
    }

    fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "invalid_request_error",
            ErrorKind::Unauthenticated => "authentication_error",
            ErrorKind::Forbidden => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited | ErrorKind::QuotaExceeded => "rate_limit_error",
            ErrorKind::BadGateway => "api_error",
            ErrorKind::Unavailable => "overloaded_error",
        }
    }

    fn elevenlabs_status(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "invalid_request",
            ErrorKind::Unauthenticated => "invalid_api_key",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited => "too_many_concurrent_requests",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::BadGateway => "upstream_unreachable",
            ErrorKind::Unavailable => "service_unavailable",
        }
    }

    fn gemini_status(self) -> &'static str {
        match self {
            ErrorKind::BadRequest | ErrorKind::PayloadTooLarge => "INVALID_ARGUMENT",
            ErrorKind::Unauthenticated => "UNAUTHENTICATED",
            ErrorKind::Forbidden => "PERMISSION_DENIED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::RateLimited | ErrorKind::QuotaExceeded => "RESOURCE_EXHAUSTED",
            ErrorKind::BadGateway | ErrorKind::Unavailable => "UNAVAILABLE",
        }
    }
}

/// The JSON body for an error of `kind`; `None` (no provider detected) gets the OpenAI shape.
/// Gemini's OpenAI-compatible paths are answered by Gemini in the OpenAI shape, and so are ours.
pub fn error_body(shape: Option<Provider>, kind: ErrorKind, message: &str) -> String {
    let body = match shape.map(Provider::error_shape) {
        Some(ErrorShape::ElevenLabs) => json!({
            "detail": {"status": kind.elevenlabs_status(), "message": message},
        }),
        Some(ErrorShape::Anthropic) => json!({
            "type": "error",
            "error": {"type": kind.anthropic_type(), "message": message},
        }),
        Some(ErrorShape::Gemini) => json!({
            "error": {"code": kind.status(), "message": message, "status": kind.gemini_status()},
        }),
        Some(ErrorShape::OpenAi) | None => {
            let (kind_type, code) = kind.openai_type_and_code();
            json!({
                "error": {"message": message, "type": kind_type, "param": null, "code": code},
            })
        }
    };
    body.to_string()
}

/// Which error shape a caller understands: Gemini's OpenAI-compatible surface speaks OpenAI's.
pub fn error_shape(provider: Option<Provider>, upstream_path: &str) -> Option<Provider> {
    match provider {
        Some(Provider::Gemini) if crate::proxy::provider::is_gemini_openai_compat(upstream_path) => Some(Provider::OpenAi),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(s: String) -> Value {
        serde_json::from_str(&s).unwrap()
    }

    #[test]
    fn openai_shape() {
        let v = parse(error_body(Some(Provider::OpenAi), ErrorKind::Unauthenticated, "bad token"));
        assert_eq!(
            v,
            json!({"error": {"message": "bad token", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
        );
    }

    #[test]
    fn no_provider_gets_the_openai_shape() {
        assert_eq!(
            error_body(None, ErrorKind::Forbidden, "m"),
            error_body(Some(Provider::OpenAi), ErrorKind::Forbidden, "m")
        );
    }

    #[test]
    fn anthropic_shape_and_types() {
        let v = parse(error_body(Some(Provider::Anthropic), ErrorKind::Forbidden, "not for anthropic"));
        assert_eq!(v, json!({"type": "error", "error": {"type": "permission_error", "message": "not for anthropic"}}));
        let v = parse(error_body(Some(Provider::Anthropic), ErrorKind::RateLimited, "slow down"));
        assert_eq!(v["error"]["type"], "rate_limit_error");
        let v = parse(error_body(Some(Provider::Anthropic), ErrorKind::Unauthenticated, "x"));
        assert_eq!(v["error"]["type"], "authentication_error");
    }

    #[test]
    fn gemini_shape_and_statuses() {
        let v = parse(error_body(Some(Provider::Gemini), ErrorKind::Unauthenticated, "who"));
        assert_eq!(v, json!({"error": {"code": 401, "message": "who", "status": "UNAUTHENTICATED"}}));
        for (kind, status) in [
            (ErrorKind::Forbidden, "PERMISSION_DENIED"),
            (ErrorKind::RateLimited, "RESOURCE_EXHAUSTED"),
            (ErrorKind::Unavailable, "UNAVAILABLE"),
        ] {
            let v = parse(error_body(Some(Provider::Gemini), kind, "m"));
            assert_eq!(v["error"]["status"], status);
            assert_eq!(v["error"]["code"], kind.status());
        }
    }

    #[test]
    fn messages_are_escaped_as_json() {
        let v = parse(error_body(Some(Provider::OpenAi), ErrorKind::BadRequest, "a \"quoted\"\nline"));
        assert_eq!(v["error"]["message"], "a \"quoted\"\nline");
    }

    #[test]
    fn gemini_openai_compat_speaks_openai() {
        assert_eq!(error_shape(Some(Provider::Gemini), "/v1beta/openai/chat/completions"), Some(Provider::OpenAi));
        assert_eq!(error_shape(Some(Provider::Gemini), "/v1beta/models"), Some(Provider::Gemini));
        assert_eq!(error_shape(None, "/x"), None);
    }

    #[test]
    fn elevenlabs_and_the_openai_compatible_ones() {
        let v = parse(error_body(Some(Provider::ElevenLabs), ErrorKind::Unauthenticated, "who"));
        assert_eq!(v, json!({"detail": {"status": "invalid_api_key", "message": "who"}}));
        let groq = Provider::from_name("groq");
        assert_eq!(error_body(groq, ErrorKind::Forbidden, "m"), error_body(None, ErrorKind::Forbidden, "m"));
    }

    #[test]
    fn statuses() {
        assert_eq!(ErrorKind::BadGateway.status(), 502);
        assert_eq!(ErrorKind::Unavailable.status(), 503);
        assert_eq!(ErrorKind::PayloadTooLarge.status(), 413);
    }

    #[test]
    fn a_used_up_budget_is_each_providers_quota_error() {
        let v = parse(error_body(Some(Provider::OpenAi), ErrorKind::QuotaExceeded, "spent"));
        assert_eq!(v["error"]["type"], "insufficient_quota");
        assert_eq!(v["error"]["code"], "insufficient_quota");
        let v = parse(error_body(Some(Provider::Anthropic), ErrorKind::QuotaExceeded, "spent"));
        assert_eq!(v["error"]["type"], "rate_limit_error");
        let v = parse(error_body(Some(Provider::Gemini), ErrorKind::QuotaExceeded, "spent"));
        assert_eq!(v["error"], json!({"code": 429, "message": "spent", "status": "RESOURCE_EXHAUSTED"}));
    }
}
