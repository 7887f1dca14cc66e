//! The `studies-worker` Lambda function: solve jobs from its subscription's
//! SQS queue, reporting per-message failures (`ReportBatchItemFailures`).

use std::sync::Arc;

use ecosystemiser::{Settings, Studies};
use infra::config::Config;
use infra::edge::{Adapters, CacheIdempotencyStore, run_queue_lambda};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let store = Arc::new(CacheIdempotencyStore::standard(adapters.cache.adapter.clone()));
    let studies = Studies::start(&adapters, Settings::standard(&config)).await?;
    // The same consumer the local runner subscribes, so both run one declaration.
    let worker = ecosystemiser::worker(studies);
    run_queue_lambda(worker.handler, store).await.map_err(|error| anyhow::anyhow!(error))
}
