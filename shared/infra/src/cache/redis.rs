//! Redis adapter over a `ConnectionManager`, which reconnects by itself.
//! Every key is prefixed, so tenants of one Redis (or parallel tests) never
//! see each other's keys.

use super::{Cache, Claim, Decision, Result, ttl_millis};
use crate::Error;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::time::Duration;

const SERVICE: &str = "redis";

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prepended to every key, e.g. `hive:`.
    pub key_prefix: String,
    /// Bounds connecting and each command's reply.
    pub timeout: Duration,
}

#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
    prefix: String,
    claim_script: Script,
    allow_script: Script,
    timeout: Duration,
}

/// SET NX and the read of the winner's value in one step: a separate GET
/// could find the key already expired or replaced.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, ARGV[1]}
end
return {0, redis.call('GET', KEYS[1])}
";

/// Fixed window: the first INCR starts the window by setting its expiry. The
/// PTTL < 0 guard repairs a counter that lost its expiry, which would
/// otherwise refuse the key forever.
const ALLOW: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

impl RedisCache {
    /// Connects once, so an absent server fails here, not on first use.
    pub async fn connect(settings: &RedisSettings) -> Result<Self> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|error| Error::Config(format!("redis URL: {error}")))?;
        // Reconnect quickly and give up soon: redis-rs hands `factor` to
        // backon, whose base delay is a second, so the default factor of 100
        // means minute-long pauses before an absent server is reported.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(settings.timeout)
            .set_response_timeout(settings.timeout)
            .set_number_of_retries(2)
            .set_factor(2)
            .set_max_delay(500);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|error| map_error(error, settings.timeout))?;
        Ok(RedisCache {
            connection,
            prefix: settings.key_prefix.clone(),
            claim_script: Script::new(CLAIM),
            allow_script: Script::new(ALLOW),
            timeout: settings.timeout,
        })
    }

    fn map_error(&self, error: redis::RedisError) -> Error {
        map_error(error, self.timeout)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.connection
            .clone()
            .get(self.key(key))
            .await
            .map_err(|error| self.map_error(error))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let mut connection = self.connection.clone();
        match ttl {
            Some(ttl) => {
                connection
                    .pset_ex(self.key(key), value, ttl_millis(ttl)?)
                    .await
            }
            None => connection.set(self.key(key), value).await,
        }
        .map_err(|error| self.map_error(error))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let removed: u64 = self
            .connection
            .clone()
            .del(self.key(key))
            .await
            .map_err(|error| self.map_error(error))?;
        Ok(removed > 0)
    }

    async fn claim(&self, key: &str, value: &[u8], ttl: Duration) -> Result<Claim> {
        let (claimed, stored): (i64, Option<Vec<u8>>) = self
            .claim_script
            .key(self.key(key))
            .arg(value)
            .arg(ttl_millis(ttl)?)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.map_error(error))?;
        // The loser's GET can only miss if the winner's key expired within
        // the script, which Redis's single-threaded scripts rule out.
        Ok(Claim {
            claimed: claimed == 1,
            value: stored.unwrap_or_default(),
        })
    }

    async fn allow(&self, key: &str, limit: u64, window: Duration) -> Result<Decision> {
        let (count, ttl_ms): (u64, i64) = self
            .allow_script
            .key(self.key(key))
            .arg(ttl_millis(window)?)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.map_error(error))?;
        let left = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0));
        Ok(Decision::from_count(count, limit, left))
    }

    async fn ping(&self) -> Result<()> {
        let reply: String = redis::cmd("PING")
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.map_error(error))?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(Error::Backend {
                service: SERVICE,
                message: format!("PING answered {reply:?}"),
            })
        }
    }
}

fn map_error(error: redis::RedisError, timeout: Duration) -> Error {
    if error.is_timeout() {
        Error::Timeout {
            operation: "redis command".into(),
            after: timeout,
        }
    } else if error.is_io_error() || error.is_connection_refusal() || error.is_connection_dropped()
    {
        Error::Unavailable {
            service: SERVICE,
            message: error.to_string(),
        }
    } else {
        match error.kind() {
            redis::ErrorKind::BusyLoadingError
            | redis::ErrorKind::TryAgain
            | redis::ErrorKind::MasterDown => Error::Unavailable {
                service: SERVICE,
                message: error.to_string(),
            },
            _ => Error::Backend {
                service: SERVICE,
                message: error.to_string(),
            },
        }
    }
}
