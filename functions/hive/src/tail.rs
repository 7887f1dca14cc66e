//! `hive events tail`: follows the tenant's events on the terminal, from
//! `GET /v1/events/stream` of a running `hive serve` (or the API on AWS).
//! When the stream ends or the connection drops it reconnects with
//! `Last-Event-ID`, so no event is skipped or shown twice.

use std::process::ExitCode;
use std::time::Duration;

use infra::config::Config;

use crate::platform;

#[derive(clap::Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(clap::Subcommand)]
enum EventsCommand {
    /// Follows the tenant's events as they happen.
    Tail(TailArgs),
}

#[derive(clap::Args)]
struct TailArgs {
    /// Only events of this type, e.g. `study.completed`.
    #[arg(long = "type", value_name = "T")]
    event_type: Option<String>,
    /// The platform's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The tenant whose events to follow, with a dev token minted from the
    /// local secret; not needed when `HIVE_TOKEN` holds a token.
    #[arg(long)]
    tenant: Option<String>,
    /// Start after this cursor (from `GET /v1/events`) instead of the beginning.
    #[arg(long)]
    after: Option<String>,
}

/// Exit codes: the API refused the request (2), or the token (3).
const BAD_REQUEST: u8 = 2;
const REFUSED: u8 = 3;

pub fn events(args: EventsArgs) -> ExitCode {
    let EventsCommand::Tail(args) = args.command;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            errln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tail(args)) {
        Ok(code) => code,
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn tail(args: TailArgs) -> anyhow::Result<ExitCode> {
    let token = match (std::env::var("HIVE_TOKEN").ok().filter(|t| !t.is_empty()), &args.tenant) {
        (Some(token), _) => token,
        (None, Some(tenant)) => {
            let config = Config::from_env()?;
            platform::mint(&config, tenant, "hive-events-tail", &["events:read".to_owned()], Duration::from_secs(12 * 3600))?
        }
        (None, None) => {
            errln!("error: give --tenant (a dev token is minted for it) or set HIVE_TOKEN");
            return Ok(ExitCode::from(BAD_REQUEST));
        }
    };
    let mut url = format!("{}/v1/events/stream", args.url.trim_end_matches('/'));
    if let Some(event_type) = &args.event_type {
        url.push_str(&format!("?type={event_type}"));
    }
    let client = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
    let mut last_id = args.after.clone();
    loop {
        let mut request = client.get(&url).bearer_auth(&token).header("accept", "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                errln!("hive events tail: {url}: {error}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            errln!("error: {url} answered {status}: {body}");
            let code = if status == 401 || status == 403 { REFUSED } else { BAD_REQUEST };
            return Ok(ExitCode::from(code));
        }
        let mut buffer = String::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let block: String = buffer.drain(..end + 2).collect();
                        if let Some(id) = show(&block) {
                            last_id = Some(id);
                        }
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    errln!("hive events tail: the stream broke ({error}); reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints one SSE event as a line and returns its id; keep-alive comments
/// print nothing.
fn show(block: &str) -> Option<String> {
    let field = |name: &str| block.lines().find_map(|line| line.strip_prefix(name)).map(|v| v.trim_start().to_owned());
    let id = field("id:")?;
    let data = field("data:").unwrap_or_default();
    let line = match serde_json::from_str::<serde_json::Value>(&data) {
        Ok(event) => format!(
            "{}  {:<20} {}  {}",
            event["time"].as_str().unwrap_or("-"),
            event["type"].as_str().unwrap_or("-"),
            event["subject"].as_str().unwrap_or("-"),
            event["data"]
        ),
        Err(_) => data,
    };
    outln!("{line}");
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_block_yields_its_id_and_a_comment_yields_nothing() {
        let block = "id: 12\nevent: study.completed\ndata: {\"time\":\"t\",\"type\":\"study.completed\",\"subject\":\"s1\",\"data\":{}}\n\n";
        assert_eq!(show(block).as_deref(), Some("12"));
        assert_eq!(show(":\n\n"), None);
    }
}
