//! The `reviews-sweep` Lambda function, every minute: reviews whose
//! analysis did not arrive in time are escalated.

use infra::config::Config;
use infra::edge::{Adapters, run_scheduled_lambda};
use infra::events::OutboxSettings;
use reviewer::{Reviewer, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let reviewer = Reviewer::start(&adapters, Settings::from_env()?, OutboxSettings::standard(config.events_retention)).await?;
    run_scheduled_lambda(reviewer::sweeper(reviewer)).await.map_err(|error| anyhow::anyhow!(error))
}
