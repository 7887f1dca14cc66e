//! In-process cache: a map under a mutex, with expiry checked on access.

use super::{Cache, Claim, Decision, Result, ttl_millis};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Expired entries are dropped when touched and swept when the map grows,
/// so an idle process does not keep dead keys forever.
#[derive(Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

const SWEEP_ABOVE: usize = 10_000;

impl MemoryCache {
    pub fn new() -> Self {
        MemoryCache::default()
    }

    /// Runs `work` on the map with expired entries for `key` already gone.
    fn with_live<T>(
        &self,
        key: &str,
        work: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> T,
    ) -> T {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if entries.get(key).is_some_and(|entry| !entry.live(now)) {
            entries.remove(key);
        }
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, entry| entry.live(now));
        }
        work(&mut entries, now)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.with_live(key, |entries, _| {
            entries.get(key).map(|entry| entry.value.clone())
        }))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        if let Some(ttl) = ttl {
            ttl_millis(ttl)?;
        }
        self.with_live(key, |entries, now| {
            let expires_at = ttl.map(|ttl| now + ttl);
            entries.insert(
                key.to_owned(),
                Entry {
                    value: value.to_vec(),
                    expires_at,
                },
            );
        });
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.with_live(key, |entries, _| entries.remove(key).is_some()))
    }

    async fn claim(&self, key: &str, value: &[u8], ttl: Duration) -> Result<Claim> {
        ttl_millis(ttl)?;
        Ok(self.with_live(key, |entries, now| match entries.get(key) {
            Some(entry) => Claim {
                claimed: false,
                value: entry.value.clone(),
            },
            None => {
                entries.insert(
                    key.to_owned(),
                    Entry {
                        value: value.to_vec(),
                        expires_at: Some(now + ttl),
                    },
                );
                Claim {
                    claimed: true,
                    value: value.to_vec(),
                }
            }
        }))
    }

    async fn allow(&self, key: &str, limit: u64, window: Duration) -> Result<Decision> {
        ttl_millis(window)?;
        Ok(self.with_live(key, |entries, now| {
            let entry = entries.entry(key.to_owned()).or_insert_with(|| Entry {
                value: 0u64.to_le_bytes().to_vec(),
                expires_at: Some(now + window),
            });
            let count = counter(&entry.value) + 1;
            entry.value = count.to_le_bytes().to_vec();
            let left = entry
                .expires_at
                .map_or(window, |at| at.saturating_duration_since(now));
            Decision::from_count(count, limit, left)
        }))
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

/// A key used both with `set` and `allow` would hold arbitrary bytes; treat
/// anything that is not a counter as zero rather than panicking.
fn counter(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}
