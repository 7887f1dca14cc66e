//! What the contract suites share: service addresses from the environment,
//! unique names per test, and loud failures when a service is absent.
#![allow(dead_code)] // Each suite uses a different part of this module.

use futures::future::BoxFuture;
use infra::aws::{AwsSettings, StaticCredentials, sdk_config};
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

pub const POSTGRES_URL: (&str, &str) = (
    "HIVE_TEST_POSTGRES_URL",
    "postgres://postgres@127.0.0.1:5432/test",
);
pub const REDIS_URL: (&str, &str) = ("HIVE_TEST_REDIS_URL", "redis://127.0.0.1:6379");
pub const AMQP_URL: (&str, &str) = (
    "HIVE_TEST_AMQP_URL",
    "amqp://guest:guest@127.0.0.1:5672/%2f",
);
pub const LOCALSTACK_URL: (&str, &str) = ("HIVE_TEST_LOCALSTACK_URL", "http://127.0.0.1:4566");
pub const S3_URL: (&str, &str) = ("HIVE_TEST_S3_URL", "http://127.0.0.1:9000");

/// The service address from its variable, or the standard local default.
pub fn service_url(variable: (&str, &str)) -> String {
    std::env::var(variable.0).unwrap_or_else(|_| variable.1.to_owned())
}

/// Unwraps a connection result, or fails the test naming the variable to
/// fix: an absent service is a failure, never a skip.
pub fn reachable<T, E: Display>(result: Result<T, E>, service: &str, variable: (&str, &str)) -> T {
    result.unwrap_or_else(|error| {
        panic!(
            "{service} is unreachable at {} (set {} to its URL, or start the local cloud with `bash localstack/start.sh`): {error}",
            service_url(variable),
            variable.0
        )
    })
}

/// A short unique name, safe as a schema, key prefix, queue or bucket name.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// An adapter under test plus how to clean up after it.
pub struct Fixture<P: ?Sized> {
    pub port: Arc<P>,
    cleanup: Option<BoxFuture<'static, ()>>,
    _temp: Option<tempfile::TempDir>,
}

impl<P: ?Sized> Fixture<P> {
    pub fn new(port: Arc<P>) -> Self {
        Fixture {
            port,
            cleanup: None,
            _temp: None,
        }
    }

    pub fn with_cleanup(mut self, cleanup: impl Future<Output = ()> + Send + 'static) -> Self {
        self.cleanup = Some(Box::pin(cleanup));
        self
    }

    pub fn with_temp_dir(mut self, dir: tempfile::TempDir) -> Self {
        self._temp = Some(dir);
        self
    }

    /// Cleans up after a passing check. A failing check leaves its unique
    /// schema/queue/bucket behind for inspection.
    pub async fn finish(self) {
        if let Some(cleanup) = self.cleanup {
            cleanup.await;
        }
    }
}

/// LocalStack accepts any keys; the region must match the seeded resources.
pub async fn localstack_config() -> aws_config::SdkConfig {
    aws_config_for(service_url(LOCALSTACK_URL), "test", "test").await
}

pub async fn s3s_config() -> aws_config::SdkConfig {
    aws_config_for(service_url(S3_URL), "hive", "hive-secret-key").await
}

async fn aws_config_for(endpoint: String, key: &str, secret: &str) -> aws_config::SdkConfig {
    sdk_config(&AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint),
        credentials: Some(StaticCredentials {
            access_key_id: key.into(),
            secret_access_key: secret.into(),
        }),
    })
    .await
}

/// Generates one `#[tokio::test]` per check for an adapter, so each check
/// passes or fails on its own line while the checks themselves are written
/// once against the port.
#[macro_export]
macro_rules! contract_tests {
    ($adapter:ident, $fixture:ident, [$($check:ident),* $(,)?]) => {
        mod $adapter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let fixture = super::$fixture().await;
                    super::checks::$check(fixture.port.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}
