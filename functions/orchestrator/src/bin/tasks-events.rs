//! The `tasks-events` Lambda function: `review.completed` from its
//! subscription's SQS queue, with per-message failures reported.

use std::sync::Arc;

use infra::config::Config;
use infra::edge::{Adapters, CacheIdempotencyStore, run_queue_lambda};
use infra::events::OutboxSettings;
use orchestrator::{Orchestrator, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let store = Arc::new(CacheIdempotencyStore::standard(adapters.cache.adapter.clone()));
    let outbox = OutboxSettings::standard(config.events_retention);
    let orchestrator = Orchestrator::start(&adapters, Settings::from_env()?, outbox).await?;
    let consumer = orchestrator::events_consumer(orchestrator);
    run_queue_lambda(consumer.handler, store).await.map_err(|error| anyhow::anyhow!(error))
}
