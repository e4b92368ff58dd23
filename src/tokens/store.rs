//! Token records in Workers KV, keyed by the token's SHA-256.
//!
//! Each record is written both as the value and as the key's metadata (KV metadata holds up to
//! 1024 bytes), so listing every token costs one KV list call per 1000 tokens instead of one read
//! per token. A record too large for metadata is read individually when listed.
//!
//! This module only reads records (and writes "last used"): every write of a record goes through
//! the `AdminState` Durable Object (`admin::state`), which applies them one at a time.
//!
//! "Last used" lives under its own key, `used:<id>`, never in the record: the proxy writes it from
//! the background, and a write racing an admin's change must not put back a revoked record.

use std::cell::RefCell;
use std::collections::HashMap;

use worker::kv::{KvError, KvStore};
use worker::Env;

use crate::tokens::cache_bound::{bound_ms, is_fresh};
use crate::tokens::token::{is_token_id, TokenRecord};

pub const BINDING: &str = "TOKENS";
/// A record up to this size is also written as its key's metadata, so that listing reads it.
pub const METADATA_LIMIT: usize = 1024;
pub const USED_PREFIX: &str = "used:";

pub struct StoredToken {
    pub id: String,
    pub record: TokenRecord,
    /// `YYYY-MM-DD` of the last proxied request, if any.
    pub last_used: Option<String>,
}

/// KV did not answer, or (`damaged`) a stored record no longer reads as one.
#[derive(Debug)]
pub struct StoreError(pub String, pub Damaged);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damaged {
    No,
    Yes,
}

impl StoreError {
    pub fn unavailable(message: impl Into<String>) -> Self {
        StoreError(message.into(), Damaged::No)
    }

    pub fn is_damaged(&self) -> bool {
        self.1 == Damaged::Yes
    }
}

impl From<KvError> for StoreError {
    fn from(e: KvError) -> Self {
        StoreError::unavailable(e.to_string())
    }
}

impl From<worker::Error> for StoreError {
    fn from(e: worker::Error) -> Self {
        StoreError::unavailable(e.to_string())
    }
}

/// Every token the list found, and the ids of records that no longer read as one.
pub struct Listing {
    pub tokens: Vec<StoredToken>,
    pub damaged: Vec<String>,
}

pub struct TokenStore {
    kv: KvStore,
}

/// The isolate cache's bound is `RECORD_CACHE_SECS` (see `tokens::cache_bound`). Admin writes
/// answered in this isolate take effect here at once ([`forget`]).
const RECORD_CACHE_ENTRIES: usize = 1_000;

thread_local! {
    static RECORD_CACHE: RefCell<HashMap<String, (f64, TokenRecord)>> = Default::default();
}

/// Drops this isolate's cached copy of a record, after an admin write to it.
pub fn forget(id: &str) {
    RECORD_CACHE.with(|cache| cache.borrow_mut().remove(id));
}

fn cache_ms(env: &Env) -> f64 {
    bound_ms(crate::runtime::setting(env, "RECORD_CACHE_SECS").as_deref())
}

impl TokenStore {
    pub fn open(env: &Env) -> Result<Self, StoreError> {
        Ok(TokenStore { kv: env.kv(BINDING)? })
    }

    /// One string across the wasm boundary, parsed in Rust: cheaper than KV's own JSON mode, which
    /// walks the parsed object field by field through the boundary.
    pub async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let Some(text) = self.kv.get(id).text().await? else { return Ok(None) };
        serde_json::from_str(&text).map(Some).map_err(|e| StoreError(format!("record {id}: {e}"), Damaged::Yes))
    }

    /// The record for a proxied request: from this isolate's cache when it is fresh enough, and
    /// only otherwise from KV (the binding is opened then, not before: opening it is six calls
    /// across the boundary). Unknown tokens are not cached, so a new token works at once.
    pub async fn get_for_request(env: &Env, id: &str, now_ms: f64) -> Result<Option<TokenRecord>, StoreError> {
        let cache_ms = cache_ms(env);
        let cached = RECORD_CACHE.with(|cache| {
            cache.borrow().get(id).filter(|(at, _)| is_fresh(*at, now_ms, cache_ms)).map(|(_, r)| r.clone())
        });
        if cached.is_some() {
            return Ok(cached);
        }
        let record = TokenStore::open(env)?.get(id).await?;
        if let (Some(record), true) = (&record, cache_ms > 0.0) {
            RECORD_CACHE.with(|cache| {
                let mut cache = cache.borrow_mut();
                if cache.len() >= RECORD_CACHE_ENTRIES {
                    cache.clear();
                }
                cache.insert(id.to_string(), (now_ms, record.clone()));
            });
        }
        Ok(record)
    }

    pub async fn last_used(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.kv.get(&format!("{USED_PREFIX}{id}")).text().await?)
    }

    pub async fn set_last_used(&self, id: &str, day: &str) -> Result<(), StoreError> {
        let put = self.kv.put(&format!("{USED_PREFIX}{id}"), day)?.metadata(day)?;
        Ok(put.execute().await?)
    }

    /// Every token with its last-used day, across all KV list pages, oldest first.
    pub async fn list(&self) -> Result<Vec<StoredToken>, StoreError> {
        Ok(self.listing().await?.tokens)
    }

    /// [`list`](Self::list), and the records that no longer read as one (so they can be deleted).
    pub async fn listing(&self) -> Result<Listing, StoreError> {
        let mut tokens = Vec::new();
        let mut damaged = Vec::new();
        let mut used = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = self.kv.list();
            if let Some(c) = cursor.take() {
                request = request.cursor(c);
            }
            let page = request.execute().await?;
            for key in page.keys {
                if let Some(id) = key.name.strip_prefix(USED_PREFIX) {
                    if let Some(day) = key.metadata.as_ref().and_then(|m| m.as_str()) {
                        used.insert(id.to_string(), day.to_string());
                    }
                    continue;
                }
                if !is_token_id(&key.name) {
                    continue;
                }
                let from_metadata = key.metadata.and_then(|m| serde_json::from_value::<TokenRecord>(m).ok());
                let record = match from_metadata {
                    Some(record) => Some(record),
                    // One unreadable record must not hide every other token from the admin.
                    None => match self.get(&key.name).await {
                        Err(e) if e.is_damaged() => {
                            worker::console_error!("token {} has an unreadable record: {}", key.name, e.0);
                            damaged.push(key.name.clone());
                            None
                        }
                        other => other?,
                    },
                };
                if let Some(record) = record {
                    tokens.push(StoredToken {
                        id: key.name,
                        record,
                        last_used: None,
                    });
                }
            }
            match page.cursor {
                Some(c) if !page.list_complete && !c.is_empty() => cursor = Some(c),
                _ => break,
            }
        }
        for token in &mut tokens {
            token.last_used = used.remove(&token.id);
        }
        tokens.sort_by(|a, b| a.record.created_at.cmp(&b.record.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(Listing { tokens, damaged })
    }
}
