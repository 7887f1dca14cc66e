//! The cache port: short-lived values with a TTL, plus the two atomic
//! operations the platform builds on — an idempotency-key claim and a rate
//! limiter. Redis in production, an in-process map embedded.

mod memory;
mod redis;

pub use memory::MemoryCache;
pub use redis::{RedisCache, RedisSettings};

use crate::Error;
use async_trait::async_trait;
use std::time::Duration;

pub type Result<T> = std::result::Result<T, Error>;

#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value`; with `ttl: None` it stays until deleted.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()>;
    /// Removes the key; returns whether it existed.
    async fn delete(&self, key: &str) -> Result<bool>;
    /// Atomically stores `value` under `key` only if the key is absent
    /// (`SET NX PX`). Exactly one of any number of concurrent callers claims
    /// it; the others get the value the winner stored, e.g. its request id or
    /// a cached response.
    async fn claim(&self, key: &str, value: &[u8], ttl: Duration) -> Result<Claim>;
    /// Counts one request against `key` in a fixed window of length `window`
    /// starting at the window's first request, and says whether it is within
    /// `limit`.
    async fn allow(&self, key: &str, limit: u64, window: Duration) -> Result<Decision>;
    async fn ping(&self) -> Result<()>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// True for the caller that stored its value.
    pub claimed: bool,
    /// The value now stored under the key: the caller's if it claimed, else
    /// the earlier claimant's.
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests still allowed in the current window.
    pub remaining: u64,
    /// When a refused caller may try again (the window's remaining time);
    /// zero when allowed.
    pub retry_after: Duration,
}

impl Decision {
    pub(crate) fn from_count(count: u64, limit: u64, window_left: Duration) -> Self {
        let allowed = count <= limit;
        Decision {
            allowed,
            remaining: limit.saturating_sub(count),
            retry_after: if allowed { Duration::ZERO } else { window_left },
        }
    }
}

/// TTLs are sent as whole milliseconds; a zero TTL would mean "no expiry" to
/// some callers and "expire now" to others, so it is refused outright.
pub(crate) fn ttl_millis(ttl: Duration) -> Result<u64> {
    match u64::try_from(ttl.as_millis()) {
        Ok(0) => Err(Error::invalid("ttl", "must be at least one millisecond")),
        Ok(millis) => Ok(millis),
        Err(_) => Err(Error::invalid("ttl", "too long")),
    }
}
