//! The `events-api` Lambda function: `/v1/events`, `/v1/events/stream` and
//! `/v1/asyncapi.json` behind API Gateway.

use std::sync::Arc;

use events::{Events, Settings};
use infra::auth::Verifier;
use infra::config::Config;
use infra::edge::{Adapters, run_http_lambda};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let verifier = Arc::new(Verifier::from_config(&config.jwt)?);
    let events = Events::start(&adapters, Settings::standard(&config)).await?;
    run_http_lambda(events::routes(events, verifier)).await.map_err(|error| anyhow::anyhow!(error))
}
