//! The `notifications-api` Lambda function: notifications, endpoints,
//! templates and subscriptions.

use std::sync::Arc;

use infra::auth::Verifier;
use infra::config::Config;
use infra::edge::{Adapters, run_http_lambda};
use notifications::{Notifications, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let verifier = Arc::new(Verifier::from_config(&config.jwt)?);
    let app = Notifications::start(&adapters, Settings::from_env()?).await?;
    let routes = notifications::api::routes(app, verifier).merge(infra::edge::openapi::route(notifications::api::openapi()));
    run_http_lambda(routes).await.map_err(|error| anyhow::anyhow!(error))
}
