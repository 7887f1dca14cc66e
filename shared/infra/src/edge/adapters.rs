//! The composition root every function binary shares: the ports' adapters,
//! chosen and connected from [`Config`] once, at start-up.
//!
//! With no environment every port is embedded: SQLite and files under the
//! data directory (kept across restarts), an in-process cache and bus (not
//! kept). Each `HIVE_*` variable switches one port to its service. Services
//! are connected here, so a wrong URL or an absent server fails at start-up
//! with the service named rather than on the first request.

use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::aws::{AwsSettings, StaticCredentials};
use crate::cache::{Cache, MemoryCache, RedisCache, RedisSettings};
use crate::bus::{Bus, MemoryBus, RabbitBus, RabbitBusSettings, SnsBus, SnsSettings};
use crate::config::{BusConfig, CacheConfig, Config, DatabaseConfig, ObjectStoreConfig};
use crate::db::{Database, PostgresDatabase, PostgresSettings, SqliteDatabase};
use crate::objects::{FsStore, ObjectStore, S3Store, s3_client};

/// How long a received message stays invisible before it is redelivered.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);
/// Receives before a message goes to its subscription's dead-letter queue;
/// the template's redrive policies say the same for AWS.
pub const MAX_RECEIVES: u32 = 5;
/// Region when `AWS_REGION` is unset (LocalStack's default); Lambda always sets it.
pub const DEFAULT_REGION: &str = "us-east-1";

/// One connected adapter and what it is, for health reports and logs.
pub struct Port<T: ?Sized> {
    pub adapter: Arc<T>,
    /// `sqlite`, `postgres`, `memory`, `redis`, `sqs`, `rabbitmq`, `fs`, `s3`.
    pub kind: &'static str,
}

impl<T: ?Sized> Clone for Port<T> {
    fn clone(&self) -> Self {
        Port { adapter: self.adapter.clone(), kind: self.kind }
    }
}

/// Every port, connected.
#[derive(Clone)]
pub struct Adapters {
    pub database: Port<dyn Database>,
    pub cache: Port<dyn Cache>,
    pub bus: Port<dyn Bus>,
    pub objects: Port<dyn ObjectStore>,
}

impl Adapters {
    /// Connects every port the configuration asks for.
    pub async fn connect(config: &Config) -> Result<Adapters, Error> {
        let database: Port<dyn Database> = match &config.database {
            DatabaseConfig::Sqlite { path } => {
                if let Some(parent) = path.parent() {
                    create_dir(parent)?;
                }
                Port { adapter: Arc::new(SqliteDatabase::open(path).await?), kind: "sqlite" }
            }
            DatabaseConfig::Postgres { url } => {
                let settings = PostgresSettings {
                    url: url.expose().to_owned(),
                    // One connection per concurrent request: Lambda runs one
                    // request per instance, the local server many.
                    max_connections: if config.in_lambda() { 2 } else { 8 },
                    connect_timeout: Duration::from_secs(5),
                    schema: None,
                };
                Port { adapter: Arc::new(PostgresDatabase::connect(&settings).await?), kind: "postgres" }
            }
        };

        let cache: Port<dyn Cache> = match &config.cache {
            CacheConfig::InProcess => Port { adapter: Arc::new(MemoryCache::new()), kind: "memory" },
            CacheConfig::Redis { url } => {
                let settings = RedisSettings {
                    url: url.expose().to_owned(),
                    key_prefix: "hive:".to_owned(),
                    timeout: Duration::from_secs(2),
                };
                Port { adapter: Arc::new(RedisCache::connect(&settings).await?), kind: "redis" }
            }
        };

        let needs_aws =
            matches!(config.bus, BusConfig::Sns { .. }) || matches!(config.objects, ObjectStoreConfig::S3 { .. });
        let sdk_config = if needs_aws { Some(crate::aws::sdk_config(&aws_settings(config)).await) } else { None };

        let bus: Port<dyn Bus> = match (&config.bus, &sdk_config) {
            (BusConfig::Memory, _) => Port { adapter: Arc::new(MemoryBus::new(VISIBILITY_TIMEOUT, MAX_RECEIVES)), kind: "memory" },
            (BusConfig::Sns { topic_arn }, Some(sdk)) => {
                let sns = aws_sdk_sns::Client::new(sdk);
                let topic_arn = match topic_arn {
                    Some(arn) => arn.clone(),
                    None if config.in_lambda() => {
                        return Err(Error::Config("HIVE_SNS_TOPIC_ARN is required on Lambda when HIVE_BUS=sns".into()));
                    }
                    None => SnsBus::create_topic(&sns, &format!("{}-events", config.bus_prefix)).await?,
                };
                let settings = SnsSettings {
                    topic_arn,
                    queue_prefix: config.bus_prefix.clone(),
                    visibility_timeout: VISIBILITY_TIMEOUT,
                    max_receives: MAX_RECEIVES,
                };
                Port { adapter: Arc::new(SnsBus::new(sns, aws_sdk_sqs::Client::new(sdk), settings)), kind: "sns" }
            }
            (BusConfig::RabbitMq { url }, _) => {
                let settings = RabbitBusSettings {
                    url: url.expose().to_owned(),
                    exchange: format!("{}.events", config.bus_prefix),
                    queue_prefix: config.bus_prefix.clone(),
                    visibility_timeout: VISIBILITY_TIMEOUT,
                    max_receives: MAX_RECEIVES,
                };
                Port { adapter: Arc::new(RabbitBus::connect(settings).await?), kind: "rabbitmq" }
            }
            (BusConfig::Sns { .. }, None) => unreachable!("needs_aws covers SNS"),
        };

        let objects: Port<dyn ObjectStore> = match (&config.objects, &sdk_config) {
            (ObjectStoreConfig::Fs { root }, _) => {
                create_dir(root)?;
                Port { adapter: Arc::new(FsStore::open(root).await?), kind: "fs" }
            }
            (ObjectStoreConfig::S3 { bucket }, Some(sdk)) => {
                Port { adapter: Arc::new(S3Store::new(s3_client(sdk), bucket)), kind: "s3" }
            }
            (ObjectStoreConfig::S3 { .. }, None) => unreachable!("needs_aws covers S3"),
        };

        Ok(Adapters { database, cache, bus, objects })
    }
}

fn aws_settings(config: &Config) -> AwsSettings {
    let credentials = match (&config.aws.access_key_id, &config.aws.secret_access_key) {
        (Some(id), Some(secret)) => {
            Some(StaticCredentials { access_key_id: id.clone(), secret_access_key: secret.expose().to_owned() })
        }
        _ => None,
    };
    AwsSettings {
        region: config.aws.region.clone().unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        endpoint_url: config.aws.endpoint_url.clone(),
        credentials,
    }
}

fn create_dir(path: &std::path::Path) -> Result<(), Error> {
    std::fs::create_dir_all(path)
        .map_err(|error| Error::Config(format!("HIVE_DATA_DIR: cannot create {}: {error}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_environment_connects_embedded_adapters_under_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested/.hive");
        let data_dir_text = data_dir.to_str().unwrap().to_owned();
        let config = Config::from_vars(|name| (name == "HIVE_DATA_DIR").then(|| data_dir_text.clone())).unwrap();
        let adapters = Adapters::connect(&config).await.unwrap();
        let kinds = [adapters.database.kind, adapters.cache.kind, adapters.bus.kind, adapters.objects.kind];
        assert_eq!(kinds, ["sqlite", "memory", "memory", "fs"]);
        adapters.database.adapter.ping().await.unwrap();
        adapters.cache.adapter.ping().await.unwrap();
        adapters.bus.adapter.ping().await.unwrap();
        adapters.objects.adapter.ping().await.unwrap();
        assert!(data_dir.join("hive.sqlite3").exists());
        assert!(data_dir.join("objects").is_dir());
    }
}
