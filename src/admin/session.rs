//! Dashboard sessions: a signed cookie, and a CSRF token bound to it.
//!
//! The cookie carries its own expiry and a random nonce, signed with HMAC-SHA256 under a key
//! derived from `ADMIN_SECRET` (never the secret itself); changing `ADMIN_SECRET` signs everyone
//! out. What the cookie cannot say, whether the server still honours it, is kept in the
//! `AdminState` Durable Object: each sign-in is recorded with an increasing number, sign-out marks
//! its session revoked (kept until the cookie would have expired anyway), and "sign out
//! everywhere" sets a mark that every session opened before it falls behind. [`still_honoured`]
//! decides from those.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const COOKIE_NAME: &str = "apx_session";
pub const SESSION_TTL_SECS: i64 = 24 * 60 * 60;

pub struct SessionKey([u8; 32]);

#[derive(Debug, PartialEq, Eq)]
pub struct Session {
    pub expires_at: i64,
    pub nonce: String,
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl SessionKey {
    pub fn derive(admin_secret: &str) -> Self {
        SessionKey(mac(admin_secret.as_bytes(), &[b"api-proxy/session-key/v1"]))
    }

    fn sign(&self, payload: &str) -> String {
        hex::encode(mac(&self.0, &[b"session:", payload.as_bytes()]))
    }

    /// A cookie value `expires.nonce.signature` for a session starting at `now`.
    pub fn issue(&self, now: i64, nonce: &[u8; 16]) -> String {
        let payload = format!("{}.{}", now + SESSION_TTL_SECS, hex::encode(nonce));
        let signature = self.sign(&payload);
        format!("{payload}.{signature}")
    }

    /// The session a cookie value stands for, if it is ours, intact and not expired.
    pub fn verify(&self, cookie: &str, now: i64) -> Option<Session> {
        let (payload, signature) = cookie.rsplit_once('.')?;
        if !constant_time_eq(self.sign(payload).as_bytes(), signature.as_bytes()) {
            return None;
        }
        let (expires, nonce) = payload.split_once('.')?;
        let expires_at: i64 = expires.parse().ok()?;
        // The expiry is signed, so a client cannot extend it; the upper bound guards against a
        // cookie minted with a far-future expiry by a key that leaked.
        if now >= expires_at || expires_at > now + SESSION_TTL_SECS {
            return None;
        }
        Some(Session {
            expires_at,
            nonce: nonce.to_string(),
        })
    }

    /// A key for another use (sealing one-read cookies), so no two uses ever share a key.
    pub fn subkey(&self, purpose: &str) -> [u8; 32] {
        mac(&self.0, &[b"subkey:", purpose.as_bytes()])
    }

    /// The CSRF token for forms rendered in `session`.
    pub fn csrf_token(&self, session: &Session) -> String {
        hex::encode(mac(&self.0, &[b"csrf:", session.nonce.as_bytes()]))
    }

    pub fn csrf_matches(&self, session: &Session, presented: &str) -> bool {
        constant_time_eq(self.csrf_token(session).as_bytes(), presented.as_bytes())
    }
}

impl Session {
    /// When the session was opened: the expiry is always issue time + TTL.
    pub fn issued_at(&self) -> i64 {
        self.expires_at - SESSION_TTL_SECS
    }
}

/// What AdminState recorded of a session at sign-in (and sign-out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Sign-ins are numbered in the order AdminState saw them.
    pub seq: i64,
    pub revoked: bool,
}

/// The last "sign out everywhere": the number of the last sign-in before it, and when (ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Everywhere {
    pub seq: i64,
    pub at_ms: i64,
}

/// Whether a session whose cookie verified is still honoured. A session AdminState never recorded
/// (a cookie from before AdminState kept sessions, or minted with the key) is judged by its issue
/// time, in whole seconds: one issued in the same second as "sign out everywhere" counts as before.
pub fn still_honoured(session: &Session, recorded: Option<Recorded>, everywhere: Option<Everywhere>) -> bool {
    match recorded {
        Some(r) => !r.revoked && everywhere.is_none_or(|e| r.seq > e.seq),
        None => everywhere.is_none_or(|e| session.issued_at() * 1000 > e.at_ms),
    }
}

/// `Set-Cookie` for a new session. Path=/admin keeps it away from proxied requests.
pub fn set_cookie(value: &str) -> String {
    format!("{COOKIE_NAME}={value}; Path=/admin; HttpOnly; Secure; SameSite=Strict; Max-Age={SESSION_TTL_SECS}")
}

pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/admin; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_302_245;
    const NONCE: [u8; 16] = [7; 16];

    #[test]
    fn an_issued_cookie_verifies_until_it_expires() {
        let key = SessionKey::derive("admin-secret");
        let cookie = key.issue(NOW, &NONCE);
        let session = key.verify(&cookie, NOW).expect("fresh session");
        assert_eq!(session.expires_at, NOW + SESSION_TTL_SECS);
        assert!(key.verify(&cookie, NOW + SESSION_TTL_SECS - 1).is_some());
        assert_eq!(key.verify(&cookie, NOW + SESSION_TTL_SECS), None);
    }

    #[test]
    fn the_cookie_does_not_contain_the_secret_or_the_key() {
        let key = SessionKey::derive("admin-secret");
        let cookie = key.issue(NOW, &NONCE);
        assert!(!cookie.contains("admin-secret"));
        assert!(!cookie.contains(&hex::encode(key.0)));
    }

    #[test]
    fn tampering_with_any_part_is_refused() {
        let key = SessionKey::derive("admin-secret");
        let cookie = key.issue(NOW, &NONCE);
        let (expires, rest) = cookie.split_once('.').unwrap();
        let extended = format!("{}.{rest}", expires.parse::<i64>().unwrap() + 3600);
        assert_eq!(key.verify(&extended, NOW), None);
        for i in 0..cookie.len() {
            let mut bytes = cookie.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != cookie {
                assert_eq!(key.verify(&tampered, NOW), None, "byte {i}");
            }
        }
        assert_eq!(key.verify("", NOW), None);
        assert_eq!(key.verify("garbage", NOW), None);
    }

    #[test]
    fn a_cookie_from_another_secret_is_foreign() {
        let cookie = SessionKey::derive("one").issue(NOW, &NONCE);
        assert_eq!(SessionKey::derive("two").verify(&cookie, NOW), None);
    }

    #[test]
    fn csrf_token_is_bound_to_the_session() {
        let key = SessionKey::derive("admin-secret");
        let a = key.verify(&key.issue(NOW, &[1; 16]), NOW).unwrap();
        let b = key.verify(&key.issue(NOW, &[2; 16]), NOW).unwrap();
        let token = key.csrf_token(&a);
        assert!(key.csrf_matches(&a, &token));
        assert!(!key.csrf_matches(&b, &token));
        assert!(!key.csrf_matches(&a, ""));
        assert!(!SessionKey::derive("other").csrf_matches(&a, &token));
    }

    #[test]
    fn sign_out_and_sign_out_everywhere_end_sessions_the_cookie_still_vouches_for() {
        let key = SessionKey::derive("admin-secret");
        let session = key.verify(&key.issue(NOW, &NONCE), NOW).unwrap();
        assert_eq!(session.issued_at(), NOW);
        let live = Some(Recorded { seq: 5, revoked: false });
        assert!(still_honoured(&session, live, None));
        assert!(!still_honoured(&session, Some(Recorded { seq: 5, revoked: true }), None));
        // Sign out everywhere after sign-in 5 ends 5 and every earlier one, not a later sign-in.
        let everywhere = Some(Everywhere { seq: 5, at_ms: NOW * 1000 + 400 });
        assert!(!still_honoured(&session, live, everywhere));
        assert!(!still_honoured(&session, Some(Recorded { seq: 2, revoked: false }), everywhere));
        assert!(still_honoured(&session, Some(Recorded { seq: 6, revoked: false }), everywhere));
        assert!(!still_honoured(&session, Some(Recorded { seq: 6, revoked: true }), everywhere));
        // A cookie AdminState never saw: honoured until a sign-out everywhere at or after its second.
        assert!(still_honoured(&session, None, None));
        assert!(!still_honoured(&session, None, everywhere));
        assert!(!still_honoured(&session, None, Some(Everywhere { seq: 0, at_ms: NOW * 1000 })));
        assert!(still_honoured(&session, None, Some(Everywhere { seq: 0, at_ms: NOW * 1000 - 1 })));
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("v");
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/admin", "Max-Age=86400"] {
            assert!(c.contains(attr), "{attr}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn cookie_values_are_found_by_exact_name() {
        let header = "theme=dark; apx_session=abc.def; apx_session_old=zzz";
        assert_eq!(cookie_value(header, "apx_session"), Some("abc.def"));
        assert_eq!(cookie_value(header, "theme"), Some("dark"));
        assert_eq!(cookie_value(header, "missing"), None);
    }
}
