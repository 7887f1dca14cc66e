//! The `guardian-worker` Lambda function: one analysis per
//! `code.analysis_requested` from its subscription's SQS queue.

use std::sync::Arc;

use guardian::{Guardian, Settings};
use infra::config::Config;
use infra::edge::{Adapters, CacheIdempotencyStore, run_queue_lambda};
use infra::events::OutboxSettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let store = Arc::new(CacheIdempotencyStore::standard(adapters.cache.adapter.clone()));
    let guardian = Guardian::start(&adapters, Settings::from_env()?, OutboxSettings::standard(config.events_retention)).await?;
    let worker = guardian::worker(guardian);
    run_queue_lambda(worker.handler, store).await.map_err(|error| anyhow::anyhow!(error))
}
