//! The `notifications-scheduler` Lambda function, every minute: quiet hours
//! and digests released, and the endpoint-disable sweep.

use infra::config::Config;
use infra::edge::{Adapters, run_scheduled_lambda};
use notifications::{Notifications, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let app = Notifications::start(&adapters, Settings::from_env()?).await?;
    run_scheduled_lambda(notifications::scheduler(app)).await.map_err(|error| anyhow::anyhow!(error))
}
