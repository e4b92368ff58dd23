//! Which requests may be sent a second time (to another key, or through the region relay): only
//! those whose body the runtime can hold while the first attempt runs.

/// The largest declared body kept for a second attempt. The runtime holds it (a tee of the
/// request's stream), never wasm.
pub const MAX_REPLAY_BYTES: u64 = 8 * 1024 * 1024;

/// Whether a request can be sent again. `has_body` is whether it has a body stream at all;
/// `content_length` is its declared length, as received. A body of unknown length (chunked) or
/// longer than [`MAX_REPLAY_BYTES`] gets one attempt only.
pub fn replayable(has_body: bool, content_length: Option<&str>) -> bool {
    if !has_body {
        return true;
    }
    content_length
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|l| l <= MAX_REPLAY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_body_and_small_declared_bodies_replay() {
        assert!(replayable(false, None));
        assert!(replayable(true, Some("0")));
        assert!(replayable(true, Some("8388608")));
    }

    #[test]
    fn large_or_unknown_length_bodies_do_not() {
        assert!(!replayable(true, Some("8388609")));
        assert!(!replayable(true, None));
        assert!(!replayable(true, Some("abc")));
        assert!(!replayable(true, Some("-1")));
    }
}
