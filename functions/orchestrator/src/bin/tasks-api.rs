//! The `tasks-api` Lambda function: `/v1/tasks`, `/v1/workers`, `/v1/runs`
//! and `/v1/roles` behind API Gateway.

use std::sync::Arc;

use infra::auth::Verifier;
use infra::config::Config;
use infra::edge::{Adapters, run_http_lambda};
use infra::events::OutboxSettings;
use orchestrator::{Orchestrator, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let verifier = Arc::new(Verifier::from_config(&config.jwt)?);
    let outbox = OutboxSettings::standard(config.events_retention);
    let orchestrator = Orchestrator::start(&adapters, Settings::from_env()?, outbox).await?;
    run_http_lambda(orchestrator::api::routes(orchestrator, verifier)).await.map_err(|error| anyhow::anyhow!(error))
}
