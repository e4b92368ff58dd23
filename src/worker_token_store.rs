//! Token records in Workers KV, keyed by the token's SHA-256.
//!
//! Each record is written both as the value and as the key's metadata (KV metadata holds up to
//! 1024 bytes), so listing every token costs one KV list call per 1000 tokens instead of one read
//! per token. A record too large for metadata is read individually when listed.

use worker::kv::{KvError, KvStore};
use worker::Env;

use crate::token::{is_token_id, TokenRecord};

const BINDING: &str = "TOKENS";
const METADATA_LIMIT: usize = 1024;

#[derive(Debug)]
pub struct StoreError(pub String);

impl From<KvError> for StoreError {
    fn from(e: KvError) -> Self {
        StoreError(e.to_string())
    }
}

impl From<worker::Error> for StoreError {
    fn from(e: worker::Error) -> Self {
        StoreError(e.to_string())
    }
}

pub struct TokenStore(KvStore);

impl TokenStore {
    pub fn open(env: &Env) -> Result<Self, StoreError> {
        Ok(TokenStore(env.kv(BINDING)?))
    }

    pub async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.0.get(id).json::<TokenRecord>().await?)
    }

    pub async fn put(&self, id: &str, record: &TokenRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| StoreError(e.to_string()))?;
        let mut put = self.0.put(id, json.as_str())?;
        if json.len() <= METADATA_LIMIT {
            put = put.metadata(record)?;
        }
        Ok(put.execute().await?)
    }

    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        Ok(self.0.delete(id).await?)
    }

    /// Every token, across all KV list pages, oldest first.
    pub async fn list(&self) -> Result<Vec<(String, TokenRecord)>, StoreError> {
        let mut tokens = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = self.0.list();
            if let Some(c) = cursor.take() {
                request = request.cursor(c);
            }
            let page = request.execute().await?;
            for key in page.keys.into_iter().filter(|k| is_token_id(&k.name)) {
                let from_metadata = key.metadata.and_then(|m| serde_json::from_value::<TokenRecord>(m).ok());
                let record = match from_metadata {
                    Some(record) => Some(record),
                    None => self.get(&key.name).await?,
                };
                if let Some(record) = record {
                    tokens.push((key.name, record));
                }
            }
            match page.cursor {
                Some(c) if !page.list_complete && !c.is_empty() => cursor = Some(c),
                _ => break,
            }
        }
        tokens.sort_by(|a, b| a.1.created_at.cmp(&b.1.created_at).then_with(|| a.0.cmp(&b.0)));
        Ok(tokens)
    }
}
