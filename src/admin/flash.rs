//! One-read cookies: what the page after a redirect must show exactly once.
//!
//! After a form post the dashboard redirects (post-redirect-get), and the page it lands on needs
//! something from the post: the notice naming what changed, or, after a create, the new token's
//! plaintext. Both travel in a cookie the browser holds for the one request that follows, sealed
//! with ChaCha20-Poly1305 under a key derived from `ADMIN_SECRET`, bound to the session that made
//! it and to its purpose, and short-lived. The page that reads it clears it in its own response,
//! so a reload or Back finds nothing: the token is never shown twice, and the plaintext is never
//! stored anywhere on our side (not in KV, not in a Durable Object), only in that one cookie for
//! the few milliseconds of the redirect.
//!
//! The server keeps no record of a cookie having been read; the browser dropping it is what makes
//! it one read. A copy of the cookie replayed within its two minutes would open again, but only
//! together with the same session's cookie (both HttpOnly, Secure, SameSite=Strict), and whoever
//! holds those could have read the created page itself.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

use crate::proxy::provider::Provider;

pub const NOTICE_COOKIE: &str = "apx_notice";
pub const CREATED_COOKIE: &str = "apx_created";
/// Where the created token is read: the cookie is sent nowhere else.
pub const CREATED_PATH: &str = "/admin/created";
/// Long enough for a slow redirect, short enough that a cookie left behind soon means nothing.
pub const NOTICE_TTL_SECS: i64 = 60;
pub const CREATED_TTL_SECS: i64 = 120;

/// The sentence shown at the top of the list after an action, with an Undo where one is cheap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub text: String,
    /// After a Disable: the token to enable again, and its label for the button's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo_enable: Option<Undo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undo {
    pub id: String,
    pub label: String,
}

/// A token just created: shown once, on the page the create redirects to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Created {
    pub id: String,
    pub token: String,
    pub label: String,
    pub providers: Vec<Provider>,
}

pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    pub fn new(key: [u8; 32]) -> Self {
        Sealer { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) }
    }

    fn aad(purpose: &str, session_nonce: &str, expires_at: i64) -> String {
        format!("{purpose}\n{session_nonce}\n{expires_at}")
    }

    /// `expires.hex(nonce ‖ ciphertext)`; `nonce` must be fresh randomness for every seal.
    pub fn seal<T: Serialize>(&self, purpose: &str, session_nonce: &str, expires_at: i64, value: &T, nonce: [u8; 12]) -> String {
        let plaintext = serde_json::to_vec(value).expect("flash values serialize");
        let aad = Self::aad(purpose, session_nonce, expires_at);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plaintext, aad: aad.as_bytes() })
            .expect("ChaCha20-Poly1305 seals any length we send");
        format!("{expires_at}.{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    /// The value, if the cookie is ours, for this purpose and session, intact and not expired.
    pub fn open<T: for<'de> Deserialize<'de>>(&self, purpose: &str, session_nonce: &str, cookie: &str, now: i64) -> Option<T> {
        let (expires, rest) = cookie.split_once('.')?;
        let expires_at: i64 = expires.parse().ok()?;
        if now >= expires_at {
            return None;
        }
        let bytes = hex::decode(rest).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let aad = Self::aad(purpose, session_nonce, expires_at);
        let plaintext = self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() }).ok()?;
        serde_json::from_slice(&plaintext).ok()
    }
}

fn cookie(name: &str, value: &str, path: &str, max_age: i64) -> String {
    format!("{name}={value}; Path={path}; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

pub fn notice_cookie(value: &str) -> String {
    cookie(NOTICE_COOKIE, value, "/admin", NOTICE_TTL_SECS)
}

pub fn clear_notice_cookie() -> String {
    cookie(NOTICE_COOKIE, "", "/admin", 0)
}

pub fn created_cookie(value: &str) -> String {
    cookie(CREATED_COOKIE, value, CREATED_PATH, CREATED_TTL_SECS)
}

pub fn clear_created_cookie() -> String {
    cookie(CREATED_COOKIE, "", CREATED_PATH, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_302_245;

    fn created() -> Created {
        Created {
            id: "ab".repeat(32),
            token: "apx_SECRETSECRETSECRET".into(),
            label: "ci-runner".into(),
            providers: vec![Provider::OpenAi],
        }
    }

    #[test]
    fn a_sealed_value_opens_for_its_session_and_purpose_until_it_expires() {
        let s = Sealer::new([1; 32]);
        let sealed = s.seal("created", "nonce-a", NOW + 60, &created(), [9; 12]);
        assert_eq!(s.open::<Created>("created", "nonce-a", &sealed, NOW), Some(created()));
        assert_eq!(s.open::<Created>("created", "nonce-a", &sealed, NOW + 60), None, "expired");
        assert_eq!(s.open::<Created>("created", "nonce-b", &sealed, NOW), None, "another session");
        assert_eq!(s.open::<Created>("notice", "nonce-a", &sealed, NOW), None, "another purpose");
        assert_eq!(Sealer::new([2; 32]).open::<Created>("created", "nonce-a", &sealed, NOW), None, "another key");
    }

    #[test]
    fn the_plaintext_token_is_not_in_the_cookie() {
        let sealed = Sealer::new([1; 32]).seal("created", "n", NOW + 60, &created(), [9; 12]);
        assert!(!sealed.contains("SECRET") && !sealed.contains("ci-runner"), "{sealed}");
        assert!(!sealed.contains(&hex::encode("apx_SECRET")));
    }

    #[test]
    fn any_change_to_the_cookie_is_refused() {
        let s = Sealer::new([1; 32]);
        let sealed = s.seal("created", "n", NOW + 60, &created(), [9; 12]);
        let (expires, _) = sealed.split_once('.').unwrap();
        let extended = sealed.replacen(expires, &(NOW + 6000).to_string(), 1);
        assert_eq!(s.open::<Created>("created", "n", &extended, NOW), None);
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != sealed {
                assert_eq!(s.open::<Created>("created", "n", &tampered, NOW), None, "byte {i}");
            }
        }
        for junk in ["", ".", "1.", "garbage", &format!("{}.zz", NOW + 60)] {
            assert_eq!(s.open::<Created>("created", "n", junk, NOW), None, "{junk}");
        }
    }

    #[test]
    fn cookies_are_scoped_short_and_cleared_by_the_reader() {
        let c = created_cookie("v");
        for attr in ["apx_created=v;", "Path=/admin/created", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=120"] {
            assert!(c.contains(attr), "{attr} in {c}");
        }
        assert!(clear_created_cookie().contains("Max-Age=0") && clear_created_cookie().contains("Path=/admin/created"));
        assert!(notice_cookie("v").contains("Path=/admin;") && clear_notice_cookie().contains("Max-Age=0"));
    }
}
