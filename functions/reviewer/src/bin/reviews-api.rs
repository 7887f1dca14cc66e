//! The `reviews-api` Lambda function: the reviews API.

use std::sync::Arc;

use infra::auth::Verifier;
use infra::config::Config;
use infra::edge::{Adapters, run_http_lambda};
use infra::events::OutboxSettings;
use reviewer::{Reviewer, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let verifier = Arc::new(Verifier::from_config(&config.jwt)?);
    let reviewer = Reviewer::start(&adapters, Settings::from_env()?, OutboxSettings::standard(config.events_retention)).await?;
    let routes = reviewer::api::routes(reviewer, verifier).merge(infra::edge::openapi::route(reviewer::api::openapi()));
    run_http_lambda(routes).await.map_err(|error| anyhow::anyhow!(error))
}
