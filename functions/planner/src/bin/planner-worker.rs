//! The `planner-worker` Lambda function: `plan.requested` and `task.failed`
//! from its subscription's SQS queue, with per-message failures reported.

use std::sync::Arc;

use infra::config::Config;
use infra::edge::{Adapters, CacheIdempotencyStore, run_queue_lambda};
use infra::events::OutboxSettings;
use planner::{Planner, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let store = Arc::new(CacheIdempotencyStore::standard(
        adapters.cache.adapter.clone(),
    ));
    let outbox = OutboxSettings::standard(config.events_retention);
    let planner = Planner::start(&adapters, Settings::standard(&config), outbox).await?;
    run_queue_lambda(planner::worker(planner).handler, store)
        .await
        .map_err(|error| anyhow::anyhow!(error))
}
