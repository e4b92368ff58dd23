//! Token records in Workers KV, keyed by the token's SHA-256.
//!
//! Each record is written both as the value and as the key's metadata (KV metadata holds up to
//! 1024 bytes), so listing every token costs one KV list call per 1000 tokens instead of one read
//! per token. A record too large for metadata is read individually when listed.
//!
//! "Last used" lives under its own key, `used:<id>`, never in the record: the proxy writes it from
//! the background, and a write racing an admin's change must not put back a revoked record.

use std::cell::RefCell;
use std::collections::HashMap;

use worker::kv::{KvError, KvStore};
use worker::Env;

use crate::tokens::token::{is_token_id, TokenRecord};

const BINDING: &str = "TOKENS";
const METADATA_LIMIT: usize = 1024;
const USED_PREFIX: &str = "used:";

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

pub struct TokenStore(KvStore);

/// How long an isolate may answer from a token record it read, before reading KV again. KV itself
/// caches reads at each location for 60 s, so a revocation already takes up to a minute to reach
/// every location; this adds at most as much again and saves a KV read (and its CPU) on most
/// requests, which also keeps busy tokens within the free plan's 100,000 reads a day. Admin writes
/// made in the same isolate take effect at once.
const RECORD_CACHE_MS: f64 = 20_000.0;
const RECORD_CACHE_ENTRIES: usize = 1_000;

thread_local! {
    static RECORD_CACHE: RefCell<HashMap<String, (f64, TokenRecord)>> = Default::default();
}

fn forget(id: &str) {
    RECORD_CACHE.with(|cache| cache.borrow_mut().remove(id));
}

impl TokenStore {
    pub fn open(env: &Env) -> Result<Self, StoreError> {
        Ok(TokenStore(env.kv(BINDING)?))
    }

    /// One string across the wasm boundary, parsed in Rust: cheaper than KV's own JSON mode, which
    /// walks the parsed object field by field through the boundary.
    pub async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let Some(text) = self.0.get(id).text().await? else { return Ok(None) };
        serde_json::from_str(&text).map(Some).map_err(|e| StoreError(format!("record {id}: {e}"), Damaged::Yes))
    }

    /// The record for a proxied request: from this isolate's cache when it is fresh enough.
    /// Unknown tokens are not cached, so a new token works at once.
    pub async fn get_for_request(&self, id: &str, now_ms: f64) -> Result<Option<TokenRecord>, StoreError> {
        let cached = RECORD_CACHE.with(|cache| {
            cache.borrow().get(id).filter(|(at, _)| now_ms - at < RECORD_CACHE_MS).map(|(_, r)| r.clone())
        });
        if cached.is_some() {
            return Ok(cached);
        }
        let record = self.get(id).await?;
        if let Some(record) = &record {
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

    pub async fn put(&self, id: &str, record: &TokenRecord) -> Result<(), StoreError> {
        forget(id);
        let json = serde_json::to_string(record).map_err(|e| StoreError::unavailable(e.to_string()))?;
        let mut put = self.0.put(id, json.as_str())?;
        if json.len() <= METADATA_LIMIT {
            put = put.metadata(record)?;
        }
        Ok(put.execute().await?)
    }

    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        forget(id);
        self.0.delete(id).await?;
        Ok(self.0.delete(&format!("{USED_PREFIX}{id}")).await?)
    }

    pub async fn last_used(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.0.get(&format!("{USED_PREFIX}{id}")).text().await?)
    }

    pub async fn set_last_used(&self, id: &str, day: &str) -> Result<(), StoreError> {
        let put = self.0.put(&format!("{USED_PREFIX}{id}"), day)?.metadata(day)?;
        Ok(put.execute().await?)
    }

    /// Every token with its last-used day, across all KV list pages, oldest first.
    pub async fn list(&self) -> Result<Vec<StoredToken>, StoreError> {
        let mut tokens = Vec::new();
        let mut used = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = self.0.list();
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
        Ok(tokens)
    }
}
