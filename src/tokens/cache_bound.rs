//! How long an isolate may answer proxied requests from a token record it read, before reading KV
//! again: the `RECORD_CACHE_SECS` var, 20 s when unset.
//!
//! KV itself caches reads at each location for 60 s, so a revocation already takes up to a minute
//! to reach every location; the isolate cache adds at most its bound again and saves a KV read (and
//! its CPU) on most requests, which also keeps busy tokens within the free plan's 100,000 reads a
//! day. It is a var so that the tests can check the bound without waiting 20 s, and so an operator
//! can trade reads for faster revocation (0 turns the cache off).

pub const DEFAULT_SECS: u32 = 20;
/// A bound longer than this is a typo, not a choice: it would keep revoked tokens working for
/// longer than the admin can be expected to notice.
pub const MAX_SECS: u32 = 300;

/// The bound in milliseconds for the var's value; unset or unreadable means the default.
pub fn bound_ms(var: Option<&str>) -> f64 {
    let secs = var.and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(DEFAULT_SECS).min(MAX_SECS);
    f64::from(secs) * 1000.0
}

/// Whether a record read at `read_at_ms` may still answer at `now_ms`.
pub fn is_fresh(read_at_ms: f64, now_ms: f64, bound_ms: f64) -> bool {
    now_ms - read_at_ms < bound_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_seconds_unless_set() {
        assert_eq!(bound_ms(None), 20_000.0);
        assert_eq!(bound_ms(Some("")), 20_000.0);
        assert_eq!(bound_ms(Some("soon")), 20_000.0);
        assert_eq!(bound_ms(Some("-1")), 20_000.0);
        assert_eq!(bound_ms(Some(" 2 ")), 2_000.0);
        assert_eq!(bound_ms(Some("0")), 0.0);
        assert_eq!(bound_ms(Some("86400")), 300_000.0);
    }

    #[test]
    fn a_record_is_fresh_strictly_within_the_bound() {
        assert!(is_fresh(1_000.0, 1_000.0, 20_000.0));
        assert!(is_fresh(1_000.0, 20_999.0, 20_000.0));
        assert!(!is_fresh(1_000.0, 21_000.0, 20_000.0));
        assert!(!is_fresh(1_000.0, 1_000.0, 0.0));
    }
}
