//! The `studies-janitor` Lambda function: the scheduled sweep (overdue
//! studies requeued once then failed; expired studies deleted).

use ecosystemiser::{Settings, Studies, time};
use infra::config::Config;
use infra::edge::{Adapters, run_scheduled_lambda, scheduled_handler};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let adapters = Adapters::connect(&config).await?;
    let studies = Studies::start(&adapters, Settings::standard(&config)).await?;
    let handler = scheduled_handler(move |_run| {
        let studies = studies.clone();
        async move { studies.sweep(time::now_ms()).await.map(|_| ()) }
    });
    run_scheduled_lambda(handler).await.map_err(|error| anyhow::anyhow!(error))
}
