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
use infra::edge::queue::IdempotencyStore;
use infra::edge::{Adapters, CacheIdempotencyStore, Registry, platform_router, runner, schedule};
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

/// How long shutdown waits for in-flight messages.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const SECRET_FILE: &str = "jwt-secret";

pub fn serve(args: ServeArgs) -> ExitCode {
    run(serve_until_stopped(args))
}

pub fn token(args: TokenArgs) -> ExitCode {
    run(async move {
        let config = Config::from_env()?;
        let token = mint(&config, &args.tenant, &args.subject, &args.scopes, args.ttl)?;
        outln!("{token}");
        Ok(())
    })
}

/// A dev token (HS256) signed with the configured or the local secret.
pub fn mint(config: &Config, tenant: &str, subject: &str, scopes: &[String], ttl: Duration) -> anyhow::Result<String> {
    let secret = match &config.jwt.key {
        Some(JwtKey::Hs256Secret(secret)) => secret.expose().as_bytes().to_vec(),
        Some(JwtKey::Rs256PublicKeyPem(_)) => bail!(
            "HIVE_JWT_PUBLIC_KEY is set, so tokens are RS256 and come from the identity provider; \
             hive mints HS256 dev tokens only (unset HIVE_JWT_PUBLIC_KEY or set HIVE_JWT_SECRET)"
        ),
        None => local_secret(&config.data_dir)?.into_bytes(),
    };
    Ok(auth::mint_dev_token(&secret, &config.jwt, tenant, subject, scopes, ttl)?)
}

/// Every app the local platform runs; each app's start-up (migrations)
/// runs here, before the server listens.
async fn registry(config: &Config, adapters: &Adapters, verifier: &Arc<Verifier>) -> anyhow::Result<Registry> {
    let studies = ecosystemiser::Studies::start(adapters, ecosystemiser::Settings::standard(config))
        .await
        .context("starting the studies app")?;
    let events = events::Events::start(adapters, events::Settings::standard(config)).await.context("starting the events app")?;
    let tasks = orchestrator::Orchestrator::start(
        adapters,
        orchestrator::Settings::from_env()?,
        infra::events::OutboxSettings::standard(config.events_retention),
    )
    .await
    .context("starting the orchestrator")?;
    let guardian = guardian::Guardian::start(
        adapters,
        guardian::Settings::from_env()?,
        infra::events::OutboxSettings::standard(config.events_retention),
    )
    .await
    .context("starting guardian")?;
    let reviewer = reviewer::Reviewer::start(
        adapters,
        reviewer::Settings::from_env()?,
        infra::events::OutboxSettings::standard(config.events_retention),
    )
    .await
    .context("starting the reviewer")?;
    let planner = planner::Planner::start(
        adapters,
        planner::Settings::standard(config),
        infra::events::OutboxSettings::standard(config.events_retention),
    )
    .await
    .context("starting the planner")?;
    let notifications = notifications::Notifications::start(adapters, notifications::Settings::from_env()?)
        .await
        .context("starting notifications")?;
    Ok(Registry::new()
        .register(health::function(health::probes(adapters), verifier.clone()))
        .register(events::function(events, verifier.clone()))
        .register(ecosystemiser::function(studies, verifier.clone()))
        .register(orchestrator::function(tasks, verifier.clone()))
        .register(guardian::function(guardian, verifier.clone()))
        .register(planner::function(planner, verifier.clone()))
        .register(reviewer::function(reviewer, verifier.clone()))
        .register(notifications::function(notifications, verifier.clone())))
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
    // Every subscription exists before the server takes a request, so no
    // event published from then on misses a subscriber.
    let store: Arc<dyn IdempotencyStore> =
        Arc::new(CacheIdempotencyStore::standard(adapters.cache.adapter.clone()));
    let mut consumer_tasks = tokio::task::JoinSet::new();
    for mut consumer in consumers {
        let name = consumer.subscription.name;
        let queue = adapters.bus.adapter.subscribe(&consumer.subscription).await.with_context(|| format!("subscribing {name}"))?;
        if let Some(concurrency) = config.concurrency.get(name) {
            consumer.concurrency = *concurrency;
        }
        consumer_tasks.spawn(runner::consume(queue, consumer, store.clone(), stop_rx.clone()));
    }

    tracing::info!(
        %address,
        database = adapters.database.kind,
        cache = adapters.cache.kind,
        bus = adapters.bus.kind,
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
    if tokio::time::timeout(DRAIN_TIMEOUT, consumer_tasks.join_all()).await.is_err() {
        tracing::warn!("consumers did not finish in time; unacknowledged messages will be redelivered");
    }
    Ok(())
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
}
