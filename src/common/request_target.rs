//! The path and query of a request's URL, read as substrings of the URL the runtime serialized.
//!
//! `request.url` is already a parsed and serialized WHATWG URL, so its path is everything from the
//! first `/` after `scheme://host` up to `?` (or `#`), and its query the rest up to `#`: the same
//! strings `URL.pathname` and `URL.search` give, without building a `URL` across the boundary.

/// `(path, query)`, the query without its `?`. A URL without a path (not one the runtime hands a
/// Worker) gives `/`.
pub fn path_and_query(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let Some(start) = rest.find(['/', '?', '#']) else { return ("/", "") };
    let target = &rest[start..];
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (if path.is_empty() { "/" } else { path }, query)
}

#[cfg(test)]
mod tests {
    use super::path_and_query;

    #[test]
    fn path_and_query_as_url_gives_them() {
        assert_eq!(path_and_query("http://localhost:8787/v1/chat/completions"), ("/v1/chat/completions", ""));
        assert_eq!(path_and_query("https://h.example/v1beta/models/g:generateContent?key=x&alt=sse"), ("/v1beta/models/g:generateContent", "key=x&alt=sse"));
        assert_eq!(path_and_query("https://h.example/"), ("/", ""));
        assert_eq!(path_and_query("https://h.example/a?"), ("/a", ""));
        assert_eq!(path_and_query("https://h.example/a?b=1#frag"), ("/a", "b=1"));
        assert_eq!(path_and_query("https://h.example/a%2Fb/%3Fc?d=%3F"), ("/a%2Fb/%3Fc", "d=%3F"));
        assert_eq!(path_and_query("https://h.example?x=1"), ("/", "x=1"));
        assert_eq!(path_and_query("https://user:p%2Fw@h.example:8443/p?q"), ("/p", "q"));
    }
}
