//! Close codes and reasons as they cross the proxy, and the reasons the proxy closes a session
//! itself.
//!
//! A close frame received on one socket is repeated on the other. Some codes may only be observed,
//! never sent (RFC 6455, 7.4.1): 1005 means the frame carried no code, 1006 that the connection
//! dropped without a frame, 1015 a TLS failure. Those become a close the runtime can send, so the
//! other side still learns that the session ended and why.

/// The most bytes a close reason may hold (a control frame's 125-byte payload minus the code).
pub const MAX_REASON_BYTES: usize = 123;

/// Policy violation: the proxy's own closes for a token that may no longer be used.
pub const POLICY_VIOLATION: u16 = 1008;
pub const INTERNAL_ERROR: u16 = 1011;

/// Which socket a close came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Upstream,
}

/// A close to send: `None` code means a close frame without a code (which the peer sees as 1005).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Close {
    pub code: Option<u16>,
    pub reason: String,
}

/// Whether the runtime may send `code` in a close frame.
pub fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// `reason` cut to [`MAX_REASON_BYTES`] at a character boundary.
pub fn fit_reason(reason: &str) -> String {
    if reason.len() <= MAX_REASON_BYTES {
        return reason.to_string();
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

/// The close to send to the other side when `from` closed with `code` and `reason`.
pub fn relay(from: Side, code: u16, reason: &str) -> Close {
    if sendable(code) {
        return Close { code: Some(code), reason: fit_reason(reason) };
    }
    if code == 1005 {
        return Close { code: None, reason: String::new() };
    }
    let who = match from {
        Side::Client => "The client",
        Side::Upstream => "The provider",
    };
    let code_reason = match code {
        1006 => format!("{who} connection dropped without a close frame (1006)."),
        1015 => format!("{who} connection failed its TLS handshake (1015)."),
        other => format!("{who} closed the connection with code {other}."),
    };
    Close { code: Some(INTERNAL_ERROR), reason: fit_reason(&code_reason) }
}

/// Why the proxy ends a session whose token may no longer be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoked {
    Disabled,
    Deleted,
    Expired,
    ProviderRemoved,
    /// Another limit (a budget, say), in its own words.
    Other(String),
}

/// The close the client gets for a revoked session, and the one the upstream gets.
pub fn revoked(why: &Revoked) -> Close {
    let reason = match why {
        Revoked::Disabled => "api-proxy: this token has been disabled.".to_string(),
        Revoked::Deleted => "api-proxy: this token has been deleted.".to_string(),
        Revoked::Expired => "api-proxy: this token has expired.".to_string(),
        Revoked::ProviderRemoved => "api-proxy: this token may no longer use this provider.".to_string(),
        Revoked::Other(message) => format!("api-proxy: {message}"),
    };
    Close { code: Some(POLICY_VIOLATION), reason: fit_reason(&reason) }
}

/// The upstream hears only that the client's session ended, nothing of the token.
pub fn upstream_after_revocation() -> Close {
    Close { code: Some(1000), reason: "Session ended by the proxy.".to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_and_application_codes_pass_with_their_reason() {
        for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4000, 4999] {
            assert_eq!(relay(Side::Upstream, code, "bye"), Close { code: Some(code), reason: "bye".into() }, "{code}");
        }
    }

    #[test]
    fn a_close_without_code_stays_without_code() {
        assert_eq!(relay(Side::Client, 1005, ""), Close { code: None, reason: String::new() });
    }

    #[test]
    fn codes_that_cannot_be_sent_become_1011_saying_what_happened() {
        let c = relay(Side::Upstream, 1006, "");
        assert_eq!(c.code, Some(1011));
        assert!(c.reason.contains("provider") && c.reason.contains("1006"), "{}", c.reason);
        let c = relay(Side::Client, 1015, "");
        assert_eq!(c.code, Some(1011));
        assert!(c.reason.contains("client") && c.reason.contains("1015"), "{}", c.reason);
        assert_eq!(relay(Side::Client, 2500, "x").code, Some(1011));
        assert_eq!(relay(Side::Client, 1004, "x").code, Some(1011));
    }

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100);
        let cut = fit_reason(&long);
        assert!(cut.len() <= MAX_REASON_BYTES);
        assert_eq!(cut.len(), 122);
        assert!(long.starts_with(&cut));
        assert_eq!(fit_reason("short"), "short");
        assert_eq!(relay(Side::Upstream, 1000, &"x".repeat(200)).reason.len(), MAX_REASON_BYTES);
    }

    #[test]
    fn revocations_close_with_policy_violation_and_say_why() {
        let c = revoked(&Revoked::Disabled);
        assert_eq!(c.code, Some(1008));
        assert!(c.reason.contains("disabled"));
        assert!(revoked(&Revoked::Deleted).reason.contains("deleted"));
        assert!(revoked(&Revoked::Expired).reason.contains("expired"));
        assert!(revoked(&Revoked::Other("this token is over its budget.".into())).reason.contains("budget"));
        assert!(revoked(&Revoked::Other("x".repeat(300))).reason.len() <= MAX_REASON_BYTES);
    }
}
