//! The `events-relay` Lambda function: the scheduled outbox sweep, which
//! publishes whatever a crashed relay or a broker outage left unsent.

use events::{Events, Settings};
use infra::config::Config;
use infra::edge::{Adapters, run_scheduled_lambda};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let events = Events::start(&adapters, Settings::standard(&config)).await?;
    run_scheduled_lambda(events::sweeper(events)).await.map_err(|error| anyhow::anyhow!(error))
}
