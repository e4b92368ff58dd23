//! The path and query of a request's URL, read from the string the runtime serialized.
//!
//! `request.url` is already a parsed and serialized URL, so its path and query are plain
//! substrings: taking them here saves constructing a `URL` in the runtime and two more calls across
//! the boundary on every request.

/// `(path, query)` of an absolute URL: the path from the first `/` after the authority (`/` when
/// there is none), the query without its `?` (empty when there is none), any fragment dropped.
pub fn path_and_query(href: &str) -> (&str, &str) {
    let href = href.split_once('#').map_or(href, |(before, _)| before);
    let after_scheme = href.split_once("://").map_or(href, |(_, rest)| rest);
    let path_and_query = after_scheme.find(['/', '?']).map_or("", |i| &after_scheme[i..]);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    (if path.is_empty() { "/" } else { path }, query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_are_split_off_the_authority() {
        assert_eq!(path_and_query("http://127.0.0.1:8787/v1/chat/completions"), ("/v1/chat/completions", ""));
        assert_eq!(path_and_query("https://p.example/v1beta/models/m:streamGenerateContent?alt=sse&key=a%2Bb"), ("/v1beta/models/m:streamGenerateContent", "alt=sse&key=a%2Bb"));
        assert_eq!(path_and_query("https://p.example"), ("/", ""));
        assert_eq!(path_and_query("https://p.example?x=1"), ("/", "x=1"));
        assert_eq!(path_and_query("https://p.example/a?"), ("/a", ""));
        assert_eq!(path_and_query("https://p.example/a?b=1#frag"), ("/a", "b=1"));
        assert_eq!(path_and_query("https://user:pw@p.example:8443/a/b?c"), ("/a/b", "c"));
    }
}
