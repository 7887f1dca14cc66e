//! The health function on AWS Lambda, behind API Gateway.

use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = infra::config::Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = infra::edge::Adapters::connect(&config).await?;
    let verifier = Arc::new(infra::auth::Verifier::from_config(&config.jwt)?);
    let function = health::function(health::probes(&adapters), verifier);
    infra::edge::run_http_lambda(function.routes).await.map_err(anyhow::Error::from_boxed)
}
