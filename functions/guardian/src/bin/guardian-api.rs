//! The `guardian-api` Lambda function: the reviews API and the GitHub webhook.

use std::sync::Arc;

use guardian::{Guardian, Settings};
use infra::auth::Verifier;
use infra::config::Config;
use infra::edge::{Adapters, run_http_lambda};
use infra::events::OutboxSettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let verifier = Arc::new(Verifier::from_config(&config.jwt)?);
    let guardian = Guardian::start(&adapters, Settings::from_env()?, OutboxSettings::standard(config.events_retention)).await?;
    let routes = guardian::api::routes(guardian, verifier).merge(infra::edge::openapi::route(guardian::openapi::document()));
    run_http_lambda(routes).await.map_err(|error| anyhow::anyhow!(error))
}
