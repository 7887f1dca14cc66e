//! The `notifications-dispatcher` Lambda function: each `notification.due`
//! message from its SQS queue is one delivery attempt, with per-message
//! failures reported.

use std::sync::Arc;

use infra::config::Config;
use infra::edge::{Adapters, CacheIdempotencyStore, run_queue_lambda};
use notifications::{Notifications, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let store = Arc::new(CacheIdempotencyStore::standard(adapters.cache.adapter.clone()));
    let app = Notifications::start(&adapters, Settings::from_env()?).await?;
    let [normal, _] = notifications::dispatch::consumers(&app);
    run_queue_lambda(normal.handler, store).await.map_err(|error| anyhow::anyhow!(error))
}
