//! The `studies-api` Lambda function: `/v1/studies`, `/v1/uploads` and
//! `/v1/openapi.json` behind API Gateway.

use std::sync::Arc;

use ecosystemiser::{Settings, Studies};
use infra::auth::Verifier;
use infra::config::Config;
use infra::edge::{Adapters, run_http_lambda};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let verifier = Arc::new(Verifier::from_config(&config.jwt)?);
    let studies = Studies::start(&adapters, Settings::standard(&config)).await?;
    let routes = ecosystemiser::api::routes(studies, verifier)
        .merge(infra::edge::openapi::route(ecosystemiser::openapi::document()));
    run_http_lambda(routes).await.map_err(|error| anyhow::anyhow!(error))
}
