//! The `tasks-scheduler` Lambda function, every minute: timeouts, zombies,
//! retries and silent workers.

use infra::config::Config;
use infra::edge::{Adapters, run_scheduled_lambda};
use infra::events::OutboxSettings;
use orchestrator::{Orchestrator, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let outbox = OutboxSettings::standard(config.events_retention);
    let orchestrator = Orchestrator::start(&adapters, Settings::from_env()?, outbox).await?;
    run_scheduled_lambda(orchestrator::scheduler(orchestrator)).await.map_err(|error| anyhow::anyhow!(error))
}
