//! CORS for browser clients. A preflight carries no token, so it is answered for any origin before
//! any token check; the real request then carries the token, and the token's `allowed_origins`
//! decides (see `policy`). Tokens travel in headers, never cookies, so credentials mode is off.

/// Response headers a browser script may read: request ids for support, and what the SDKs read to
/// pace and retry (`retry-after`, `x-should-retry`, rate limits), plus Gemini's resumable-upload
/// handshake. `Access-Control-Expose-Headers` takes no prefix wildcards, hence the full names.
pub const EXPOSED_HEADERS: [&str; 18] = [
    "x-request-id",
    "request-id",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "openai-processing-ms",
    "openai-version",
    "x-goog-upload-url",
    "x-goog-upload-status",
    "x-goog-upload-control-url",
    "x-goog-upload-chunk-granularity",
    "x-goog-upload-size-received",
];

const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";

/// Browsers cap this themselves (Chromium at 2 hours); a day helps the ones that do not.
const MAX_AGE_SECONDS: &str = "86400";

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`. A plain
/// `OPTIONS` without them is an ordinary request.
pub fn is_preflight(method: &str, origin: Option<&str>, request_method: Option<&str>) -> bool {
    method.eq_ignore_ascii_case("OPTIONS") && origin.is_some_and(|o| !o.is_empty()) && request_method.is_some_and(|m| !m.is_empty())
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Headers for the 204 answer to a preflight. Every header the browser asks about is allowed
/// (SDKs add their own: `x-stainless-*`, `anthropic-version`, `anthropic-beta`, `x-goog-api-key`,
/// and `authorization`, which a `*` would not cover); the provider judges them, not the proxy.
pub fn preflight_headers(origin: &str, request_headers: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("access-control-allow-origin", origin.to_string()),
        ("access-control-allow-methods", ALLOWED_METHODS.to_string()),
        ("access-control-max-age", MAX_AGE_SECONDS.to_string()),
        ("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".to_string()),
    ];
    let requested: Vec<String> = request_headers
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|h| is_header_name(h))
        .map(str::to_ascii_lowercase)
        .collect();
    if !requested.is_empty() {
        headers.push(("access-control-allow-headers", requested.join(", ")));
    }
    headers
}

/// Headers for any answer to a request that carried `Origin`: the upstream's when the token allows
/// that origin, and the proxy's own errors (including the 403 for an origin the token does not
/// allow), so the page's script can read why it failed. Set them over any upstream values, except
/// `vary`, which is appended.
pub fn response_headers(origin: &str) -> Vec<(&'static str, String)> {
    vec![
        ("access-control-allow-origin", origin.to_string()),
        ("access-control-expose-headers", EXPOSED_HEADERS.join(", ")),
        ("vary", "Origin".to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn only_options_with_origin_and_request_method_is_a_preflight() {
        assert!(is_preflight("OPTIONS", Some("https://app.example"), Some("POST")));
        assert!(!is_preflight("OPTIONS", Some("https://app.example"), None));
        assert!(!is_preflight("OPTIONS", None, Some("POST")));
        assert!(!is_preflight("POST", Some("https://app.example"), Some("POST")));
        assert!(!is_preflight("OPTIONS", Some("https://app.example"), Some("")));
    }

    #[test]
    fn preflight_echoes_the_origin_and_allows_sdk_headers() {
        let asked = "authorization, content-type, x-stainless-os, X-Stainless-Retry-Count, anthropic-version, anthropic-beta, \
                     anthropic-dangerous-direct-browser-access, x-goog-api-key";
        let h = preflight_headers("https://app.example", Some(asked));
        assert_eq!(get(&h, "access-control-allow-origin"), Some("https://app.example"));
        let allowed = get(&h, "access-control-allow-headers").unwrap();
        for name in ["authorization", "x-stainless-os", "x-stainless-retry-count", "anthropic-version", "anthropic-beta", "x-goog-api-key"] {
            assert!(allowed.split(", ").any(|a| a == name), "{name} missing from {allowed}");
        }
        assert!(get(&h, "access-control-allow-methods").unwrap().contains("POST"));
        assert!(get(&h, "vary").unwrap().contains("Origin"));
        assert_eq!(get(&h, "access-control-allow-credentials"), None);
    }

    #[test]
    fn preflight_drops_names_that_are_not_header_names() {
        let h = preflight_headers("https://a.example", Some("x-ok, bad name, , x-also-ok\r\nx-injected: 1"));
        assert_eq!(get(&h, "access-control-allow-headers"), Some("x-ok"));
        let h = preflight_headers("https://a.example", None);
        assert_eq!(get(&h, "access-control-allow-headers"), None);
    }

    #[test]
    fn responses_expose_what_sdks_read() {
        let h = response_headers("http://localhost:5173");
        assert_eq!(get(&h, "access-control-allow-origin"), Some("http://localhost:5173"));
        assert_eq!(get(&h, "vary"), Some("Origin"));
        let exposed = get(&h, "access-control-expose-headers").unwrap();
        for name in ["x-request-id", "request-id", "retry-after", "x-ratelimit-remaining-requests", "openai-processing-ms", "x-goog-upload-url"] {
            assert!(exposed.split(", ").any(|e| e == name), "{name} missing from {exposed}");
        }
    }
}
