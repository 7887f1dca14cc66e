//! The `reviews-events` Lambda function: `task.review_requested` and
//! `code.analysis_completed` from its subscription's SQS queue.

use std::sync::Arc;

use infra::config::Config;
use infra::edge::{Adapters, CacheIdempotencyStore, run_queue_lambda};
use infra::events::OutboxSettings;
use reviewer::{Reviewer, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let store = Arc::new(CacheIdempotencyStore::standard(adapters.cache.adapter.clone()));
    let reviewer = Reviewer::start(&adapters, Settings::from_env()?, OutboxSettings::standard(config.events_retention)).await?;
    let consumer = reviewer::events_consumer(reviewer);
    run_queue_lambda(consumer.handler, store).await.map_err(|error| anyhow::anyhow!(error))
}
