//! The `notifications-dispatcher` Lambda function, every minute: for 50 s
//! it leases due deliveries and makes their attempts.

use std::time::Duration;

use infra::config::Config;
use infra::edge::{Adapters, run_scheduled_lambda};
use notifications::{Notifications, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let app = Notifications::start(&adapters, Settings::from_env()?).await?;
    let handler = notifications::dispatcher(app, Duration::from_secs(50));
    run_scheduled_lambda(handler).await.map_err(|error| anyhow::anyhow!(error))
}
