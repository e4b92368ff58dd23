//! Fixed-window counting, the arithmetic behind both sign-in throttling and per-token rate
//! limits. Windows are aligned to multiples of their length since the Unix epoch, so every
//! caller agrees on when a window resets.

use serde::{Deserialize, Serialize};

/// What is stored between requests: which window, and how much of it is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: u64,
    pub count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests left in this window after this one.
    pub remaining: u32,
    /// Whole seconds until the window resets (at least 1).
    pub reset_secs: u64,
}

/// Counts `cost` units against `limit` per `window_secs` at `now_secs`. A refused request is not
/// counted, so a client that keeps retrying is let in as soon as the window turns over.
/// `cost` 0 only looks.
pub fn hit(stored: Window, limit: u32, window_secs: u64, now_secs: u64, cost: u32) -> (Decision, Window) {
    let window_secs = window_secs.max(1);
    let start = now_secs - now_secs % window_secs;
    let used = if stored.start == start { stored.count } else { 0 };
    let allowed = used.saturating_add(cost) <= limit && (cost > 0 || used < limit);
    let count = if allowed { used.saturating_add(cost) } else { used };
    let decision = Decision {
        allowed,
        limit,
        remaining: limit.saturating_sub(count),
        reset_secs: (start + window_secs - now_secs).max(1),
    };
    (decision, Window { start, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_up_to_the_limit_then_refuses_until_the_window_turns() {
        let mut w = Window::default();
        let now = 1_000_040; // 20 s into a 60 s window
        for expected_remaining in [2, 1, 0] {
            let (d, next) = hit(w, 3, 60, now, 1);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            w = next;
        }
        let (d, w) = hit(w, 3, 60, now + 5, 1);
        assert!(!d.allowed);
        assert_eq!((d.remaining, d.reset_secs), (0, 35));
        assert_eq!(w.count, 3, "a refused request is not counted");
        let (d, _) = hit(w, 3, 60, now + 40, 1);
        assert!(d.allowed, "a new window");
        assert_eq!(d.remaining, 2);
    }

    #[test]
    fn cost_zero_only_looks() {
        let (d, w) = hit(Window::default(), 2, 60, 0, 0);
        assert!(d.allowed);
        assert_eq!((d.remaining, w.count), (2, 0));
        let (_, w) = hit(w, 2, 60, 1, 1);
        let (_, w) = hit(w, 2, 60, 2, 1);
        let (d, _) = hit(w, 2, 60, 3, 0);
        assert!(!d.allowed, "looking at a used-up window says no");
    }

    #[test]
    fn windows_align_to_their_length() {
        let (d, w) = hit(Window::default(), 10, 3600, 7_200 + 3_599, 1);
        assert_eq!((w.start, d.reset_secs), (7_200, 1));
        let (d, w) = hit(w, 10, 3600, 10_800, 1);
        assert_eq!((w.start, w.count, d.reset_secs), (10_800, 1, 3600));
    }
}
