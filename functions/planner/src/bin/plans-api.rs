//! The `plans-api` Lambda function: `/v1/plans` and `/v1/usage/llm` behind
//! API Gateway.

use std::sync::Arc;

use infra::auth::Verifier;
use infra::config::Config;
use infra::edge::{Adapters, run_http_lambda};
use infra::events::OutboxSettings;
use planner::{Planner, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let verifier = Arc::new(Verifier::from_config(&config.jwt)?);
    let outbox = OutboxSettings::standard(config.events_retention);
    let planner = Planner::start(&adapters, Settings::standard(&config), outbox).await?;
    run_http_lambda(planner::api::routes(planner, verifier))
        .await
        .map_err(|error| anyhow::anyhow!(error))
}
