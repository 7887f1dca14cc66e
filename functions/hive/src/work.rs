//! `hive worker` and `hive tasks`: the Orchestrator from the terminal.
//!
//! `hive worker --role R -- COMMAND…` is a reference worker: it registers,
//! claims runs, runs COMMAND once per task with the task as JSON on stdin,
//! heartbeats while it runs, and reports the exit status with the last
//! lines of output. Ctrl-C stops claiming, ends the running commands and
//! reports their runs as failed (retryable), so nothing is left dangling.
//! `hive tasks list|show|history` show the API's views as tables.

use std::collections::VecDeque;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use infra::config::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::platform;

/// Output lines kept for the result.
const TAIL_LINES: usize = 20;

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// A role this worker takes tasks of; repeat for several.
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// Tasks it runs at once.
    #[arg(long, default_value_t = 1)]
    capacity: u32,
    #[arg(long, default_value = "hive-worker")]
    name: String,
    #[command(flatten)]
    api: ApiArgs,
    /// The command run for each task, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(clap::Args)]
pub struct TasksArgs {
    #[command(subcommand)]
    command: TasksCommand,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(clap::Subcommand)]
enum TasksCommand {
    /// The tenant's tasks, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        role: Option<String>,
    },
    /// One task with its runs.
    Show { id: String },
    /// One task's transitions.
    History { id: String },
}

#[derive(clap::Args)]
struct ApiArgs {
    /// The platform's base URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The tenant, with a dev token minted from the local secret; not
    /// needed when `HIVE_TOKEN` holds a token.
    #[arg(long, global = true)]
    tenant: Option<String>,
}

/// Exit codes beyond 0 and 1: the API refused the request (2), or the token (3).
const REFUSED_REQUEST: u8 = 2;
const REFUSED_TOKEN: u8 = 3;

#[derive(Debug)]
enum Failure {
    Refused(u16, String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Other(error)
    }
}

impl From<reqwest::Error> for Failure {
    fn from(error: reqwest::Error) -> Failure {
        Failure::Other(error.into())
    }
}

fn exit(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(status, body)) => {
            errln!("error: the API answered {status}: {body}");
            ExitCode::from(if status == 401 || status == 403 { REFUSED_TOKEN } else { REFUSED_REQUEST })
        }
        Err(Failure::Other(error)) => {
            errln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}

/// The API client: base URL and bearer token.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(args: &ApiArgs, scopes: &[&str]) -> Result<Api, Failure> {
        let token = match (std::env::var("HIVE_TOKEN").ok().filter(|t| !t.is_empty()), &args.tenant) {
            (Some(token), _) => token,
            (None, Some(tenant)) => {
                let config = Config::from_env().map_err(anyhow::Error::from)?;
                let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
                platform::mint(&config, tenant, "hive-cli", &scopes, Duration::from_secs(24 * 3600))?
            }
            (None, None) => return Err(Failure::Refused(400, "give --tenant (a dev token is minted for it) or set HIVE_TOKEN".into())),
        };
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(60)).build()?;
        Ok(Api { http, base: args.url.trim_end_matches('/').to_owned(), token })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if !(200..300).contains(&status) {
            return Err(Failure::Refused(status, text));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, Failure> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.call(reqwest::Method::GET, path, None).await
    }
}

pub fn tasks(args: TasksArgs) -> ExitCode {
    let work = async move {
        let api = Api::new(&args.api, &["tasks:read"])?;
        match args.command {
            TasksCommand::List { state, role } => {
                let mut query = Vec::new();
                if let Some(state) = state {
                    query.push(format!("state={state}"));
                }
                if let Some(role) = role {
                    query.push(format!("role={role}"));
                }
                let page = api.get(&format!("/v1/tasks?{}", query.join("&"))).await?;
                let mut rows = vec![vec!["id".to_owned(), "state".into(), "role".into(), "priority".into(), "attempts".into(), "title".into()]];
                for task in page["items"].as_array().into_iter().flatten() {
                    rows.push(["id", "state", "role", "priority", "attempts", "title"].iter().map(|k| text(&task[*k])).collect());
                }
                outln!("{}", table(&rows));
            }
            TasksCommand::Show { id } => {
                let shown = api.get(&format!("/v1/tasks/{id}")).await?;
                let task = &shown["task"];
                for key in ["id", "title", "role", "state", "priority", "attempts", "max_retries", "reason", "feedback"] {
                    outln!("{key:<12} {}", text(&task[key]));
                }
                let mut rows = vec![vec!["run".to_owned(), "attempt".into(), "state".into(), "worker".into(), "error".into()]];
                for run in shown["runs"].as_array().into_iter().flatten() {
                    rows.push(["id", "attempt", "state", "worker", "error"].iter().map(|k| text(&run[*k])).collect());
                }
                outln!("\n{}", table(&rows));
            }
            TasksCommand::History { id } => {
                let history = api.get(&format!("/v1/tasks/{id}/history")).await?;
                let mut rows = vec![vec!["at".to_owned(), "from".into(), "event".into(), "to".into(), "actor".into(), "reason".into()]];
                for entry in history["items"].as_array().into_iter().flatten() {
                    let at = entry["at"].as_i64().map_or("-".into(), infra::time::rfc3339);
                    rows.push(std::iter::once(at).chain(["from", "event", "to", "actor", "reason"].iter().map(|k| text(&entry[*k]))).collect());
                }
                outln!("{}", table(&rows));
            }
        }
        Ok(())
    };
    match runtime() {
        Ok(runtime) => exit(runtime.block_on(work)),
        Err(error) => exit(Err(Failure::Other(error.into()))),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|row| {
            row.iter().enumerate().map(|(c, cell)| format!("{cell:<width$}", width = widths[c])).collect::<Vec<_>>().join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn worker(args: WorkerArgs) -> ExitCode {
    match runtime() {
        Ok(runtime) => exit(runtime.block_on(run_worker(args))),
        Err(error) => exit(Err(Failure::Other(error.into()))),
    }
}

async fn run_worker(args: WorkerArgs) -> Result<(), Failure> {
    let api = Api::new(&args.api, &["tasks:work"])?;
    let registered = api.post("/v1/workers", json!({"name": args.name, "roles": args.roles, "capacity": args.capacity.max(1)})).await?;
    let worker = registered["worker"]["id"].as_str().unwrap_or_default().to_owned();
    errln!("hive worker {worker}: roles {}, capacity {}", args.roles.join(","), args.capacity);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        errln!("hive worker: stopping; running tasks are ended and reported");
        let _ = stop_tx.send(true);
    });
    let alive = {
        let (api, worker, mut stop) = (api.clone(), worker.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! { _ = stop.changed() => return, _ = tokio::time::sleep(Duration::from_secs(20)) => {} }
                if let Err(error) = api.post(&format!("/v1/workers/{worker}/heartbeat"), json!({})).await {
                    errln!("hive worker: heartbeat failed: {error:?}");
                }
            }
        })
    };
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(args.capacity.max(1) as usize));
    let mut running = tokio::task::JoinSet::new();
    while !*stop.borrow() {
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! { _ = running.join_next() => {}, _ = stop_changed(stop.clone()) => {} }
            continue;
        }
        let path = format!("/v1/workers/{worker}/claim");
        let claim = api.post(&path, json!({"max": free, "wait_s": 5}));
        let claimed = tokio::select! { claimed = claim => claimed, _ = stop_changed(stop.clone()) => break };
        let runs = match claimed {
            Ok(reply) => reply["runs"].as_array().cloned().unwrap_or_default(),
            Err(Failure::Refused(status, body)) if status < 500 => return Err(Failure::Refused(status, body)),
            Err(error) => {
                errln!("hive worker: claim failed ({error:?}); retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for run in runs {
            let permit = slots.clone().acquire_owned().await.map_err(|e| anyhow::anyhow!(e))?;
            let (api, command, stop) = (api.clone(), args.command.clone(), stop.clone());
            running.spawn(async move {
                let _permit = permit;
                if let Err(error) = execute(&api, &run, &command, stop).await {
                    errln!("hive worker: run {} not reported: {error:?}", text(&run["run"]));
                }
            });
        }
    }
    while running.join_next().await.is_some() {}
    alive.abort();
    Ok(())
}

async fn stop_changed(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Runs the command for one claimed run and reports how it ended.
async fn execute(api: &Api, run: &Value, command: &[String], stop: tokio::sync::watch::Receiver<bool>) -> Result<(), Failure> {
    let id = run["run"].as_str().unwrap_or_default().to_owned();
    let attempt = run["attempt"].as_i64().unwrap_or(1);
    let heartbeat_s = run["task"]["timeouts"]["heartbeat_s"].as_u64().unwrap_or(60).max(1);
    api.post(&format!("/v1/runs/{id}/heartbeat"), json!({"attempt": attempt})).await?;
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| anyhow::anyhow!("cannot run {:?}: {error}", command[0]))?;
    if let Some(mut stdin) = child.stdin.take() {
        let task = serde_json::to_vec(&run["task"]).unwrap_or_default();
        let _ = stdin.write_all(&task).await;
    }
    let tail = std::sync::Arc::new(std::sync::Mutex::new(VecDeque::new()));
    let readers = [child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>), child.stderr.take().map(|s| Box::new(s) as _)];
    let mut reading = tokio::task::JoinSet::new();
    for reader in readers.into_iter().flatten() {
        let tail = tail.clone();
        reading.spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                tail.push_back(line);
                if tail.len() > TAIL_LINES {
                    tail.pop_front();
                }
            }
        });
    }
    let beat = Duration::from_secs((heartbeat_s / 3).max(1));
    let status = loop {
        tokio::select! {
            status = child.wait() => break Some(status),
            _ = stop_changed(stop.clone()) => {
                let _ = child.kill().await;
                break None;
            }
            _ = tokio::time::sleep(beat) => {
                if let Err(error) = api.post(&format!("/v1/runs/{id}/heartbeat"), json!({"attempt": attempt})).await {
                    errln!("hive worker: run {id} heartbeat refused ({error:?}); ending it");
                    let _ = child.kill().await;
                    return Ok(());
                }
            }
        }
    };
    while reading.join_next().await.is_some() {}
    let output: Vec<String> = tail.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
    let report = match status {
        Some(Ok(status)) if status.success() => json!({"attempt": attempt, "outcome": "success", "result": {"exit_code": 0, "output": output}}),
        Some(Ok(status)) => json!({
            "attempt": attempt, "outcome": "failure", "retryable": true,
            "error": format!("the command exited with {}", status.code().map_or("a signal".into(), |c| c.to_string())),
            "result": {"exit_code": status.code(), "output": output},
        }),
        Some(Err(error)) => json!({"attempt": attempt, "outcome": "failure", "retryable": true, "error": format!("the command failed: {error}")}),
        None => json!({"attempt": attempt, "outcome": "failure", "retryable": true, "error": "the worker was stopped", "result": {"output": output}}),
    };
    api.post(&format!("/v1/runs/{id}/complete"), report).await?;
    Ok(())
}
