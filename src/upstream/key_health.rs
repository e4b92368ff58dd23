//! What the proxy remembers about each key in this isolate: when it may be used again and what it
//! last answered. Kept per isolate on purpose: losing it costs at most one more refused attempt.

use std::collections::HashMap;

/// How long a key rests after a 429 with no usable `retry-after`.
pub const DEFAULT_RATE_LIMIT_REST_SECS: i64 = 30;
/// The longest rest a `retry-after` can ask for; longer values are cut to this.
pub const MAX_RATE_LIMIT_REST_SECS: i64 = 3600;
/// How long a key that answered 401 stays out of rotation.
pub const UNAUTHORIZED_REST_SECS: i64 = 600;

/// Statuses after which the same request is sent again with another key (when nothing reached the
/// client yet): rate limited, overloaded (Anthropic's 529) and the gateway errors.
pub fn fails_over(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504 | 529)
}

/// What a key answered, as the failover loop saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    Unreachable,
}

/// The seconds a `retry-after` value asks for: delta-seconds only (providers send those); an HTTP
/// date or junk gives `None`.
pub fn retry_after_secs(value: Option<&str>) -> Option<i64> {
    let v = value?.trim();
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| secs.ceil() as i64)
}

/// How long a key rests after `outcome`, if at all.
pub fn rest_secs(outcome: Outcome, retry_after: Option<&str>) -> Option<i64> {
    match outcome {
        Outcome::Status(429) => Some(
            retry_after_secs(retry_after)
                .unwrap_or(DEFAULT_RATE_LIMIT_REST_SECS)
                .clamp(1, MAX_RATE_LIMIT_REST_SECS),
        ),
        Outcome::Status(401) => Some(UNAUTHORIZED_REST_SECS),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyState {
    /// Unix seconds until which the key is not picked first.
    pub resting_until: i64,
    pub last: Option<Outcome>,
    pub last_at: i64,
}

impl KeyState {
    /// A short word for the dashboard.
    pub fn status_text(&self, now: i64) -> String {
        let last = match self.last {
            None => return "no requests yet".into(),
            Some(Outcome::Status(s)) => format!("last answer {s}"),
            Some(Outcome::Unreachable) => "last attempt unreachable".into(),
        };
        if self.resting_until > now {
            format!("{last}, resting {}s", self.resting_until - now)
        } else {
            last
        }
    }
}

/// Key states by provider name and key position.
#[derive(Debug, Default)]
pub struct KeyHealth {
    states: HashMap<(String, usize), KeyState>,
}

impl KeyHealth {
    pub fn usable(&self, provider: &str, index: usize, now: i64) -> bool {
        self.states.get(&(provider.to_string(), index)).is_none_or(|s| s.resting_until <= now)
    }

    pub fn state(&self, provider: &str, index: usize) -> KeyState {
        self.states.get(&(provider.to_string(), index)).copied().unwrap_or_default()
    }

    /// Notes `outcome` for a key; returns the rest it starts, if any.
    pub fn record(&mut self, provider: &str, index: usize, outcome: Outcome, retry_after: Option<&str>, now: i64) -> Option<i64> {
        let state = self.states.entry((provider.to_string(), index)).or_default();
        state.last = Some(outcome);
        state.last_at = now;
        let rest = rest_secs(outcome, retry_after);
        if let Some(secs) = rest {
            state.resting_until = now + secs;
        }
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_statuses() {
        for s in [429, 500, 502, 503, 504, 529] {
            assert!(fails_over(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 413, 501] {
            assert!(!fails_over(s), "{s}");
        }
    }

    #[test]
    fn a_429_rests_for_its_retry_after_or_the_default() {
        assert_eq!(rest_secs(Outcome::Status(429), Some("7")), Some(7));
        assert_eq!(rest_secs(Outcome::Status(429), Some("0.2")), Some(1));
        assert_eq!(rest_secs(Outcome::Status(429), Some("Wed, 21 Oct 2015 07:28:00 GMT")), Some(DEFAULT_RATE_LIMIT_REST_SECS));
        assert_eq!(rest_secs(Outcome::Status(429), None), Some(DEFAULT_RATE_LIMIT_REST_SECS));
        assert_eq!(rest_secs(Outcome::Status(429), Some("999999")), Some(MAX_RATE_LIMIT_REST_SECS));
    }

    #[test]
    fn a_401_leaves_rotation_and_5xx_only_fail_over() {
        assert_eq!(rest_secs(Outcome::Status(401), None), Some(UNAUTHORIZED_REST_SECS));
        assert_eq!(rest_secs(Outcome::Status(503), Some("5")), None);
        assert_eq!(rest_secs(Outcome::Unreachable, None), None);
    }

    #[test]
    fn resting_ends_on_time_and_is_per_provider_and_key() {
        let mut h = KeyHealth::default();
        assert!(h.usable("groq", 0, 100));
        assert_eq!(h.record("groq", 0, Outcome::Status(429), Some("7"), 100), Some(7));
        assert!(!h.usable("groq", 0, 106));
        assert!(h.usable("groq", 0, 107));
        assert!(h.usable("groq", 1, 100));
        assert!(h.usable("mistral", 0, 100));
        assert_eq!(h.state("groq", 0).status_text(103), "last answer 429, resting 4s");
        h.record("groq", 0, Outcome::Status(200), None, 200);
        assert_eq!(h.state("groq", 0).status_text(200), "last answer 200");
        assert_eq!(h.state("groq", 3).status_text(200), "no requests yet");
    }
}
