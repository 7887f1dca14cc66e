//! The `studies-worker` Lambda function: solve jobs from SQS, reporting
//! per-message failures (`ReportBatchItemFailures`).

use std::sync::Arc;
use std::time::Duration;

use ecosystemiser::{Settings, Studies};
use infra::config::Config;
use infra::edge::{Adapters, CacheIdempotencyStore, message_handler, run_queue_lambda};

/// Longer than the queue's retention, so a redelivery is always recognised.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(15 * 24 * 3600);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let store = Arc::new(CacheIdempotencyStore::new(adapters.cache.adapter.clone(), IDEMPOTENCY_TTL));
    let studies = Studies::start(&adapters, Settings::standard(&config)).await?;
    let handler = message_handler(move |message| {
        let studies = studies.clone();
        async move { studies.handle_message(message).await }
    });
    run_queue_lambda(handler, store).await.map_err(|error| anyhow::anyhow!(error))
}
