//! `hive bench tasks`: the Orchestrator's burn-down through its HTTP API.
//!
//! For each worker count W it creates N tasks on PostgreSQL (a schema of
//! its own), serves the tasks API on loopback with JWT checks as in
//! production, and lets W workers claim, start and complete them in
//! batches until none is left. It reports tasks/s, the claim latency and
//! double claims (two workers given one task, or a task with two
//! successful runs; must be 0), and the machine it ran on. It runs ANALYZE
//! every few seconds, standing in for autovacuum on a fresh schema.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use infra::auth::{self, Verifier};
use infra::bus::{Bus, MemoryBus};
use infra::config::JwtConfig;
use infra::db::{Database, PostgresDatabase, PostgresSettings};
use infra::edge::platform_router;
use infra::events::{Outbox, OutboxSettings};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(clap::Subcommand)]
enum BenchCommand {
    /// Burns down tasks through the tasks API on PostgreSQL, sweeping the worker count.
    Tasks(TasksArgs),
}

#[derive(clap::Args)]
struct TasksArgs {
    /// Tasks per run.
    #[arg(long, default_value_t = 20_000)]
    tasks: usize,
    /// Worker counts to sweep, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    workers: Vec<usize>,
    /// Runs a worker claims, heartbeats and completes per request (1 to 100).
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// PostgreSQL [default: $HIVE_TEST_POSTGRES_URL, else the local test database].
    #[arg(long)]
    database_url: Option<String>,
}

pub fn bench(args: BenchArgs) -> std::process::ExitCode {
    let BenchCommand::Tasks(args) = args.what;
    let outcome = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(anyhow::Error::from).and_then(|runtime| runtime.block_on(tasks(args)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            errln!("hive bench tasks: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn tasks(mut args: TasksArgs) -> anyhow::Result<()> {
    let url = args.database_url.take().or_else(|| std::env::var("HIVE_TEST_POSTGRES_URL").ok());
    args.database_url = Some(url.unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into()));
    if !(1..=100).contains(&args.batch) {
        bail!("--batch is 1 to 100");
    }
    if args.workers.is_empty() || args.workers.contains(&0) {
        bail!("--workers lists counts of at least 1");
    }
    outln!("machine: {}", machine());
    outln!("{} tasks per run, batches of {}, PostgreSQL at {}", args.tasks, args.batch, redact(args.url()));
    outln!(
        "{:>7} {:>10} {:>10} {:>12} {:>12} {:>14} {:>15} {:>13}",
        "workers", "seconds", "tasks/s", "claim p50", "claim p99", "heartbeat p50", "complete p50", "double claims"
    );
    for &workers in &args.workers {
        let report = burn_down(&args, workers).await.with_context(|| format!("the run with {workers} workers"))?;
        outln!(
            "{:>7} {:>10.2} {:>10.0} {:>10.1}ms {:>10.1}ms {:>12.1}ms {:>13.1}ms {:>13}",
            workers,
            report.seconds,
            args.tasks as f64 / report.seconds,
            percentile(&report.claims, 0.50),
            percentile(&report.claims, 0.99),
            percentile(&report.heartbeats, 0.50),
            percentile(&report.completions, 0.50),
            report.double_claims
        );
        if report.double_claims > 0 {
            bail!("{} tasks were claimed twice", report.double_claims);
        }
    }
    Ok(())
}

impl TasksArgs {
    fn url(&self) -> &str {
        self.database_url.as_deref().unwrap_or_default()
    }
}

/// The Orchestrator's tables and the outbox, in the bench's schema.
const ANALYZE: &str = "ANALYZE tasks, runs, task_deps, task_history, workers, outbox";

struct Report {
    seconds: f64,
    /// Request latencies in milliseconds, sorted.
    claims: Vec<f64>,
    heartbeats: Vec<f64>,
    completions: Vec<f64>,
    double_claims: usize,
}

/// Each request kind's latencies, in milliseconds.
#[derive(Default)]
struct Latencies {
    claims: Vec<f64>,
    heartbeats: Vec<f64>,
    completions: Vec<f64>,
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

async fn burn_down(args: &TasksArgs, workers: usize) -> anyhow::Result<Report> {
    let schema = format!("bench_tasks_{}_{workers}", std::process::id());
    let db = Arc::new(
        PostgresDatabase::connect(&PostgresSettings {
            url: args.url().to_owned(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            schema: Some(schema),
        })
        .await?,
    );
    let result = serve_and_burn(args, workers, db.clone()).await;
    db.drop_schema().await?;
    result
}

async fn serve_and_burn(args: &TasksArgs, workers: usize, db: Arc<PostgresDatabase>) -> anyhow::Result<Report> {
    let database: Arc<dyn Database> = db.clone();
    // Nobody subscribes: the events are written, relayed and marked sent,
    // which is the Orchestrator's share of the cost.
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Duration::from_secs(30), 5));
    let outbox = Outbox::start(database.clone(), bus, OutboxSettings::standard(Duration::from_secs(3600))).await?;
    let repo = orchestrator::TaskRepo::new(database, outbox);
    repo.migrate().await?;
    let orchestrator = orchestrator::Orchestrator { repo, settings: orchestrator::Settings::from_env()? };

    let secret = auth::generate_secret();
    let jwt = JwtConfig { key: None, issuer: "hive-bench".into(), audience: "hive".into() };
    let verifier = Arc::new(Verifier::hs256(secret.as_bytes(), &jwt));
    let token = auth::mint_dev_token(secret.as_bytes(), &jwt, "bench", "bench", &["tasks:write", "tasks:work"], Duration::from_secs(3600))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(axum::serve(listener, platform_router(orchestrator::api::routes(orchestrator, verifier))).into_future());

    let api = Api { http: reqwest::Client::new(), base, token };
    api.call("PUT", "/v1/roles/backend", json!({"limit": 0})).await?;
    let progress = indicatif::ProgressBar::new(args.tasks as u64);
    progress.set_message(format!("{workers} workers"));
    for start in (0..args.tasks).step_by(500) {
        let items: Vec<Value> =
            (start..(start + 500).min(args.tasks)).map(|n| json!({"key": format!("t{n}"), "title": format!("task {n}"), "role": "backend"})).collect();
        api.call("POST", "/v1/tasks/batch", json!({"tasks": items})).await?;
    }

    // A bulk load leaves the planner without statistics, and a fresh
    // schema's tables get none until autovacuum's next round (a minute
    // apart by default): without them every lookup by id is planned as a
    // scan. So the bench analyses after the load and every few seconds,
    // as autovacuum keeps a long-lived deployment's tables analysed.
    db.execute(ANALYZE, &[]).await?;
    let analyser = {
        let db = db.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if let Err(error) = db.execute(ANALYZE, &[]).await {
                    tracing::warn!(%error, "ANALYZE failed");
                }
            }
        })
    };
    let claimed: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let latencies: Arc<Mutex<Latencies>> = Arc::default();
    let completed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for n in 0..workers {
        let (api, claimed, latencies, completed, progress) = (api.clone(), claimed.clone(), latencies.clone(), completed.clone(), progress.clone());
        let (total, batch) = (args.tasks, args.batch);
        set.spawn(async move { work(n, &api, batch, total, &claimed, &latencies, &completed, &progress).await });
    }
    while let Some(joined) = set.join_next().await {
        joined??;
    }
    let seconds = started.elapsed().as_secs_f64();
    analyser.abort();
    progress.finish_and_clear();
    server.abort();

    let twice_given = lock(&claimed).values().filter(|n| **n > 1).count();
    let rows = db
        .query("SELECT COUNT(*) AS n FROM (SELECT task FROM runs WHERE state = 'success' GROUP BY task HAVING COUNT(*) > 1) doubled", &[])
        .await?;
    let twice_run = rows.first().map_or(Ok(0), |r| r.int("n"))?;
    let done = db.query("SELECT COUNT(*) AS n FROM tasks WHERE state = 'completed'", &[]).await?;
    let done = done.first().map_or(Ok(0), |r| r.int("n"))?;
    if done != args.tasks as i64 {
        bail!("{done} of {} tasks completed", args.tasks);
    }
    let latencies = std::mem::take(&mut *lock(&latencies));
    Ok(Report {
        seconds,
        claims: sorted(latencies.claims),
        heartbeats: sorted(latencies.heartbeats),
        completions: sorted(latencies.completions),
        double_claims: twice_given + usize::try_from(twice_run).unwrap_or(0),
    })
}

/// One worker: claim a batch, start it with one heartbeat request, then
/// complete it with one request, until every task of the run is done.
#[allow(clippy::too_many_arguments)] // One worker's shared counters.
async fn work(
    n: usize,
    api: &Api,
    batch: usize,
    total: usize,
    claimed: &Mutex<BTreeMap<String, u32>>,
    latencies: &Mutex<Latencies>,
    completed: &AtomicUsize,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    let worker = api.call("POST", "/v1/workers", json!({"name": format!("bench-{n}"), "roles": ["backend"], "capacity": batch})).await?;
    let id = worker["worker"]["id"].as_str().context("a worker id")?.to_owned();
    while completed.load(Ordering::SeqCst) < total {
        let asked = Instant::now();
        let reply = api.call("POST", &format!("/v1/workers/{id}/claim"), json!({"max": batch, "wait_s": 1})).await?;
        lock(latencies).claims.push(ms(asked));
        let runs = reply["runs"].as_array().context("claimed runs")?;
        if runs.is_empty() {
            continue;
        }
        let refs: Vec<Value> = runs.iter().map(|r| json!({"run": r["run"], "attempt": r["attempt"]})).collect();
        {
            let mut claimed = lock(claimed);
            for run in runs {
                *claimed.entry(run["task"]["id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
            }
        }
        let sent = Instant::now();
        check_each(&api.call("POST", "/v1/runs/heartbeat", json!({"runs": refs})).await?, "heartbeat")?;
        lock(latencies).heartbeats.push(ms(sent));
        let done: Vec<Value> =
            refs.iter().map(|r| json!({"run": r["run"], "attempt": r["attempt"], "outcome": "success", "result": {"ok": true}})).collect();
        let sent = Instant::now();
        check_each(&api.call("POST", "/v1/runs/complete", json!({"runs": done})).await?, "completion")?;
        lock(latencies).completions.push(ms(sent));
        completed.fetch_add(runs.len(), Ordering::SeqCst);
        progress.inc(runs.len() as u64);
    }
    Ok(())
}

fn check_each(reply: &Value, what: &str) -> anyhow::Result<()> {
    for answer in reply["runs"].as_array().context("answers")? {
        if let Some(error) = answer.get("error") {
            bail!("a {what} was refused: {error}");
        }
    }
    Ok(())
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let response = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body).send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }
}

/// The counters stay usable if a worker panicked holding them.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// CPUs and model, for the figures' context.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, m)| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs, {model}, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

/// The URL without its password, for the report.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
