//! Whether a live session's token may still be used: the same record checks as at the handshake,
//! asked again while the session runs (see `pump::still_allowed`, the one place that asks).

use crate::proxy::provider::Provider;
use crate::tokens::token::{Refusal, TokenRecord};
use crate::websocket::close::Revoked;

/// How often a session re-reads its token's record unless the Worker's
/// `WEBSOCKET_RECHECK_SECONDS` says otherwise. Each check goes through the isolate's record cache
/// (20 s), so a session costs at most one KV read per 20 s, and many sessions of one token share it.
pub const DEFAULT_RECHECK_SECONDS: u32 = 15;

/// The interval from the Worker var, within 1 s ..= 1 h; anything unreadable is the default.
pub fn recheck_seconds(var: Option<&str>) -> u32 {
    var.and_then(|v| v.trim().parse::<u32>().ok()).filter(|s| (1..=3600).contains(s)).unwrap_or(DEFAULT_RECHECK_SECONDS)
}

/// The record as read now, judged as the handshake judged it: present, active, allowed this
/// provider, not expired.
pub fn judge(record: Option<&TokenRecord>, provider: Provider, now_unix: i64) -> Result<(), Revoked> {
    match TokenRecord::authorize(record, provider) {
        Ok(()) => {}
        Err(Refusal::Unknown) => return Err(Revoked::Deleted),
        Err(Refusal::Disabled) => return Err(Revoked::Disabled),
        Err(Refusal::WrongProvider(_)) => return Err(Revoked::ProviderRemoved),
    }
    let record = record.expect("authorized records exist");
    record.policy.check_expiry(now_unix).map_err(|_| Revoked::Expired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rules::Policy;
    use crate::tokens::token::Status;

    fn record(status: Status, expires_at: Option<&str>) -> TokenRecord {
        TokenRecord {
            label: "ws".into(),
            providers: vec![Provider::OpenAi],
            status,
            created_at: "2026-11-21T00:00:00Z".into(),
            last4: "abcd".into(),
            policy: Policy { expires_at: expires_at.map(String::from), ..Policy::default() },
        }
    }

    #[test]
    fn an_active_record_keeps_its_session() {
        assert_eq!(judge(Some(&record(Status::Active, None)), Provider::OpenAi, 0), Ok(()));
    }

    #[test]
    fn disabled_deleted_descoped_and_expired_end_it() {
        assert_eq!(judge(Some(&record(Status::Disabled, None)), Provider::OpenAi, 0), Err(Revoked::Disabled));
        assert_eq!(judge(None, Provider::OpenAi, 0), Err(Revoked::Deleted));
        assert_eq!(judge(Some(&record(Status::Active, None)), Provider::Gemini, 0), Err(Revoked::ProviderRemoved));
        let expiring = record(Status::Active, Some("2026-12-01T00:00:00Z"));
        let at = crate::common::timestamp::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        assert_eq!(judge(Some(&expiring), Provider::OpenAi, at - 1), Ok(()));
        assert_eq!(judge(Some(&expiring), Provider::OpenAi, at), Err(Revoked::Expired));
    }

    #[test]
    fn the_interval_var_is_bounded() {
        assert_eq!(recheck_seconds(None), DEFAULT_RECHECK_SECONDS);
        assert_eq!(recheck_seconds(Some("1")), 1);
        assert_eq!(recheck_seconds(Some(" 60 ")), 60);
        assert_eq!(recheck_seconds(Some("0")), DEFAULT_RECHECK_SECONDS);
        assert_eq!(recheck_seconds(Some("99999")), DEFAULT_RECHECK_SECONDS);
        assert_eq!(recheck_seconds(Some("soon")), DEFAULT_RECHECK_SECONDS);
    }
}
