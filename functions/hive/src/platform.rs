//! `hive serve` and `hive token`: the local platform.
//!
//! `hive serve` runs every function in one process: all HTTP routes behind
//! one server (the same paths as behind API Gateway), the queue consumers fed
//! from the configured bus, and the schedules on timers. With no environment
//! every port is embedded (SQLite and files under the data directory, an
//! in-process cache and bus); `HIVE_*` variables switch ports to services
//! (see `infra::config`).
//!
//! Tokens: with `HIVE_JWT_SECRET` unset (and no `HIVE_JWT_PUBLIC_KEY`),
//! `hive` generates a secret once and keeps it in `<data dir>/jwt-secret`
//! (mode 0600), so `hive token` and `hive serve` agree across restarts.
//!
//! Adding an app to the local platform is one `.register(app::function(..))` line
//! in [`registry`].

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use infra::auth::{self, Verifier};
use infra::config::{Config, JwtKey};
use infra::edge::queue::{IdempotencyStore, Message, process_message};
use infra::edge::registry::QueueConsumer;
use infra::edge::{Adapters, CacheIdempotencyStore, Registry, platform_router, schedule};
use infra::queue::Queue;
use tokio::sync::watch;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Port to listen on; 0 picks a free one (the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind; the default keeps the dev server off the network.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The tenant the token acts for.
    #[arg(long)]
    tenant: String,
    /// Comma-separated scopes, e.g. `hive:read,studies:write`.
    #[arg(long, value_delimiter = ',', required = true)]
    scopes: Vec<String>,
    /// Lifetime: seconds, or a number with s, m, h or d (at most 30d).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    ttl: Duration,
    /// The token's subject (the caller's name).
    #[arg(long, default_value = "dev")]
    subject: String,
}

/// How long a processed message id is remembered: longer than SQS's
/// maximum retention (14 days), so no redelivery is ever mistaken for new.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(15 * 24 * 3600);
/// How long shutdown waits for in-flight messages.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const SECRET_FILE: &str = "jwt-secret";

pub fn serve(args: ServeArgs) -> ExitCode {
    run(serve_until_stopped(args))
}

pub fn token(args: TokenArgs) -> ExitCode {
    run(async move {
        let config = Config::from_env()?;
        let secret = match &config.jwt.key {
            Some(JwtKey::Hs256Secret(secret)) => secret.expose().as_bytes().to_vec(),
            Some(JwtKey::Rs256PublicKeyPem(_)) => bail!(
                "HIVE_JWT_PUBLIC_KEY is set, so tokens are RS256 and come from the identity provider; \
                 hive token mints HS256 dev tokens (unset HIVE_JWT_PUBLIC_KEY or set HIVE_JWT_SECRET)"
            ),
            None => local_secret(&config.data_dir)?.into_bytes(),
        };
        let token = auth::mint_dev_token(&secret, &config.jwt, &args.tenant, &args.subject, &args.scopes, args.ttl)?;
        outln!("{token}");
        Ok(())
    })
}

/// Every app the local platform runs; each app's start-up (migrations)
/// runs here, before the server listens.
async fn registry(config: &Config, adapters: &Adapters, verifier: &Arc<Verifier>) -> anyhow::Result<Registry> {
    let studies = ecosystemiser::Studies::start(adapters, ecosystemiser::Settings::standard(config))
        .await
        .context("starting the studies app")?;
    Ok(Registry::new()
        .register(health::function(health::probes(adapters), verifier.clone()))
        .register(ecosystemiser::function(studies, verifier.clone())))
}

fn run(work: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            errln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_until_stopped(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    infra::telemetry::init(config.log_format);
    let verifier = Arc::new(match &config.jwt.key {
        Some(_) => Verifier::from_config(&config.jwt)?,
        None => Verifier::hs256(local_secret(&config.data_dir)?.as_bytes(), &config.jwt),
    });
    let adapters = Adapters::connect(&config).await.context("connecting the ports")?;
    let (routes, consumers, schedules) = registry(&config, &adapters, &verifier).await?.into_parts();

    let listener = tokio::net::TcpListener::bind((args.host, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let address = listener.local_addr()?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut background = tokio::task::JoinSet::new();
    for job in schedules {
        tracing::info!(schedule = %job.name, every = %job.schedule, "schedule registered");
        background.spawn(schedule::drive_locally(job.name, job.schedule, job.handler));
    }
    let consumer_task = if consumers.is_empty() {
        None
    } else {
        let store: Arc<dyn IdempotencyStore> =
            Arc::new(CacheIdempotencyStore::new(adapters.cache.adapter.clone(), IDEMPOTENCY_TTL));
        Some(tokio::spawn(consume_bus(adapters.queue.adapter.clone(), consumers, store, stop_rx)))
    };

    tracing::info!(
        %address,
        database = adapters.database.kind,
        cache = adapters.cache.kind,
        queue = adapters.queue.kind,
        objects = adapters.objects.kind,
        data_dir = %config.data_dir.display(),
        "hive serving"
    );
    // The one line on stdout: scripts and tests read the address from it.
    outln!("hive listening on http://{address}");

    axum::serve(listener, platform_router(routes)).with_graceful_shutdown(shutdown_signal()).await?;

    tracing::info!("shutting down");
    background.abort_all();
    let _ = stop_tx.send(true);
    if let Some(task) = consumer_task
        && tokio::time::timeout(DRAIN_TIMEOUT, task).await.is_err()
    {
        tracing::warn!("consumers did not finish in time; unacknowledged messages will be redelivered");
    }
    Ok(())
}

/// Feeds the bus to the consumers until told to stop. Locally one bus
/// carries every message, so each consumer sees each message whose event it
/// registered for (all of them if it named none). A message is acknowledged when every consumer
/// has processed it, and released for redelivery otherwise; idempotency
/// keys are per consumer, so a redelivery reaches only those that failed.
async fn consume_bus(
    queue: Arc<dyn Queue>,
    consumers: Vec<QueueConsumer>,
    store: Arc<dyn IdempotencyStore>,
    mut stop: watch::Receiver<bool>,
) {
    let names: Vec<&str> = consumers.iter().map(|c| c.queue.as_str()).collect();
    tracing::info!(consumers = ?names, "consuming the bus");
    loop {
        let received = tokio::select! {
            _ = stop.changed() => return,
            received = queue.receive(10, Duration::from_secs(1)) => received,
        };
        let deliveries = match received {
            Ok(deliveries) => deliveries,
            Err(error) => {
                tracing::warn!(%error, "bus receive failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for delivery in deliveries {
            let mut all_done = true;
            for consumer in consumers.iter().filter(|c| c.accepts(&delivery.message.attributes.event_type)) {
                let mut message = Message::from_delivery(&consumer.queue, &delivery);
                message.idempotency_key = format!("{}:{}", consumer.queue, message.idempotency_key);
                all_done &= !process_message(message, &consumer.handler, &*store).await.is_failure();
            }
            let settled = if all_done { queue.ack(&delivery).await } else { queue.nack(&delivery).await };
            if let Err(error) = settled {
                tracing::warn!(%error, message_id = %delivery.message.id, "could not settle message; it will be redelivered");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// The generated HS256 secret in the data directory, created (mode 0600) on
/// first use.
fn local_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path: PathBuf = data_dir.join(SECRET_FILE);
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let created = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path);
    match created {
        Ok(mut file) => {
            let secret = auth::generate_secret();
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a local JWT secret");
            Ok(secret)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!("{} is readable by other users (mode {:o}); chmod 600 it", path.display(), mode & 0o777);
            }
            let secret = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let secret = secret.trim().to_owned();
            if secret.len() < infra::config::MIN_JWT_SECRET_BYTES {
                bail!(
                    "{} holds fewer than {} bytes; delete it to generate a new one",
                    path.display(),
                    infra::config::MIN_JWT_SECRET_BYTES
                );
            }
            Ok(secret)
        }
        Err(error) => Err(error).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// `90`, `90s`, `15m`, `1h`, `7d`; at least one second, at most 30 days.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((index, _)) => text.split_at(index),
        None => (text, "s"),
    };
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 90s, 15m, 1h or 7d"))?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    let seconds = number.saturating_mul(unit_seconds);
    if seconds == 0 || seconds > 30 * 86_400 {
        return Err(format!("{text:?}: a dev token lives between 1s and 30d"));
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use infra::edge::{MemoryIdempotencyStore, message_handler};
    use infra::queue::MemoryQueue;

    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in ["", "0s", "1w", "h", "31d", "-5m"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_local_secret_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let first = local_secret(&data_dir).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(local_secret(&data_dir).unwrap(), first);
        let mode = std::fs::metadata(data_dir.join(SECRET_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        std::fs::set_permissions(data_dir.join(SECRET_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(local_secret(&data_dir).unwrap_err().to_string().contains("readable by other users"));
    }

    #[tokio::test]
    async fn the_bus_feeds_every_consumer_and_redelivers_to_the_one_that_failed() {
        let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
        let seen = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
        let consumer = |name: &str, fail_first: bool| {
            let (seen, name_owned) = (seen.clone(), name.to_owned());
            let attempts = Arc::new(Mutex::new(0));
            QueueConsumer {
                events: None,
                queue: name.to_owned(),
                handler: message_handler(move |_message| {
                    let (seen, name, attempts) = (seen.clone(), name_owned.clone(), attempts.clone());
                    async move {
                        *seen.lock().unwrap().entry(name).or_default() += 1;
                        let mut attempts = attempts.lock().unwrap();
                        *attempts += 1;
                        if fail_first && *attempts == 1 {
                            return Err(infra::Error::Unavailable { service: "db", message: "blip".into() });
                        }
                        Ok(())
                    }
                }),
            }
        };
        let consumers = vec![consumer("steady", false), consumer("flaky", true)];
        let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryIdempotencyStore::new(100));
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(consume_bus(queue.clone(), consumers, store, stop_rx));

        queue.send(&infra::queue::Message::new("task.created", b"{}".to_vec())).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().get("flaky") != Some(&2) {
            assert!(tokio::time::Instant::now() < deadline, "flaky consumer never retried: {:?}", seen.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Give the loop a moment to settle the second delivery, then check nothing is left.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(seen.lock().unwrap().get("steady"), Some(&1), "steady runs once: idempotency is per consumer");
        assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty(), "the message was acknowledged");
    }
}
