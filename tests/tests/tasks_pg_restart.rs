//! PostgreSQL restarted under load. Workers burn down tasks through the
//! tasks API while the database is stopped and started again: no task is
//! lost or run twice, and while it is down the API answers 503 (with
//! Retry-After), never 500.
//!
//! The database is a private cluster (`initdb` in a temporary directory, on
//! its own port), so stopping it never disturbs the rest of the suite.
//! PostgreSQL refuses to run as root, so as root the cluster runs as the
//! `postgres` user.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use infra::auth::{self, Verifier};
use infra::bus::{Bus, MemoryBus};
use infra::config::JwtConfig;
use infra::db::{Database, PostgresDatabase, PostgresSettings};
use infra::edge::platform_router;
use infra::events::{Outbox, OutboxSettings};
use serde_json::{Value, json};

const TASKS: usize = 400;
const WORKERS: usize = 4;

/// A private PostgreSQL cluster, stopped and deleted when dropped.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
}

fn bin_dir() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL's server binaries under /usr/lib/postgresql (Debian's postgresql package)");
    let mut dirs: Vec<PathBuf> = versions.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect();
    dirs.sort();
    dirs.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(chown.success(), "chown of the cluster directory to postgres");
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = PrivatePostgres { dir, port };
        let data = cluster.data();
        cluster.run("initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        cluster.ctl("start");
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = bin_dir().join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let output = command.args(args).current_dir(self.dir.path()).output().unwrap();
        assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn ctl(&self, action: &str) {
        let data = self.data();
        let log = self.dir.path().join("log");
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off", self.port, self.dir.path().display());
        let mut args = vec!["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-t", "30"];
        match action {
            "start" => args.extend(["-o", &options, "start"]),
            // Fast: the server rolls back open transactions and closes
            // every connection, as a restart by an operator does.
            _ => args.extend(["-m", "fast", action]),
        }
        self.run("pg_ctl", &args);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut command = if is_root() { Command::new("runuser") } else { Command::new(bin_dir().join("pg_ctl")) };
        if is_root() {
            command.args(["-u", "postgres", "--"]).arg(bin_dir().join("pg_ctl"));
        }
        let _ = command.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]).output();
    }
}

/// Tasks completed, from the database; `None` while it is away.
async fn completed_in(db: &PostgresDatabase) -> Option<usize> {
    let rows = db.query("SELECT COUNT(*) AS n FROM tasks WHERE tenant = $1 AND state = 'completed'", &["restart".into()]).await.ok()?;
    rows.first().and_then(|r| r.int("n").ok()).and_then(|n| usize::try_from(n).ok())
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    statuses: Arc<Mutex<BTreeMap<u16, usize>>>,
}

impl Api {
    /// One request; the status is tallied. `Err` carries a non-2xx status.
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value, u16> {
        let response = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        *self.statuses.lock().unwrap().entry(status).or_default() += 1;
        if status == 503 {
            assert!(response.headers().contains_key("retry-after"), "a 503 says when to retry");
        }
        let text = response.text().await.unwrap();
        if (200..300).contains(&status) { Ok(serde_json::from_str(&text).unwrap()) } else { Err(status) }
    }

    /// Retries a request while the database is away (503); anything else
    /// comes back.
    async fn patiently(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value, u16> {
        loop {
            match self.call(method.clone(), path, body.clone()).await {
                Err(503) => tokio::time::sleep(Duration::from_millis(50)).await,
                other => return other,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_mid_load_loses_and_duplicates_nothing_and_answers_503_meanwhile() {
    let cluster = PrivatePostgres::start();
    let db = Arc::new(
        PostgresDatabase::connect(&PostgresSettings { url: cluster.url(), max_connections: 8, connect_timeout: Duration::from_secs(1), schema: None })
            .await
            .unwrap(),
    );
    let database: Arc<dyn Database> = db.clone();
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Duration::from_secs(30), 5));
    let outbox = Outbox::start(database.clone(), bus, OutboxSettings::standard(Duration::from_secs(3600))).await.unwrap();
    let repo = orchestrator::TaskRepo::new(database, outbox);
    repo.migrate().await.unwrap();
    let settings = orchestrator::Settings::from_env().unwrap();
    let app = orchestrator::Orchestrator { repo, settings };

    let secret = auth::generate_secret();
    let jwt = JwtConfig { key: None, issuer: "hive-test".into(), audience: "hive".into() };
    let verifier = Arc::new(Verifier::hs256(secret.as_bytes(), &jwt));
    let token = auth::mint_dev_token(secret.as_bytes(), &jwt, "restart", "test", &["tasks:read", "tasks:write", "tasks:work"], Duration::from_secs(600)).unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, platform_router(orchestrator::api::routes(app.clone(), verifier))).into_future());
    let api = Api { http: reqwest::Client::new(), base, token, statuses: Arc::default() };

    api.call(reqwest::Method::PUT, "/v1/roles/backend", json!({"limit": 0})).await.unwrap();
    // A claim whose answer the restart swallowed leaves its run pending:
    // the scheduler takes it back after schedule_to_start_s.
    let items: Vec<Value> = (0..TASKS)
        .map(|n| json!({"key": format!("t{n}"), "title": format!("task {n}"), "role": "backend", "timeouts": {"schedule_to_start_s": 2}}))
        .collect();
    api.call(reqwest::Method::POST, "/v1/tasks/batch", json!({"tasks": items})).await.unwrap();

    let completed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for n in 0..WORKERS {
        let (api, completed, db) = (api.clone(), completed.clone(), db.clone());
        workers.spawn(async move {
            let worker = api.patiently(reqwest::Method::POST, "/v1/workers", json!({"name": format!("w{n}"), "roles": ["backend"], "capacity": 5})).await.unwrap();
            let id = worker["worker"]["id"].as_str().unwrap().to_owned();
            let deadline = Instant::now() + Duration::from_secs(90);
            while Instant::now() < deadline {
                let claim = api.patiently(reqwest::Method::POST, &format!("/v1/workers/{id}/claim"), json!({"max": 5, "wait_s": 1})).await.unwrap();
                let runs = claim["runs"].as_array().unwrap();
                if runs.is_empty() && completed_in(&db).await == Some(TASKS) {
                    return;
                }
                for run in runs {
                    let (run_id, attempt) = (run["run"].as_str().unwrap(), run["attempt"].clone());
                    // A pause per run keeps the load going while the
                    // database is stopped.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let body = json!({"attempt": attempt, "outcome": "success"});
                    match api.patiently(reqwest::Method::POST, &format!("/v1/runs/{run_id}/complete"), body).await {
                        Ok(_) => {
                            completed.fetch_add(1, Ordering::SeqCst);
                        }
                        // The run was taken back meanwhile, or an earlier
                        // try committed but its answer was lost.
                        Err(409) => {}
                        Err(status) => panic!("completion answered {status}"),
                    }
                }
            }
        });
    }
    let scheduler = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let _ = app.sweep().await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    while completed.load(Ordering::SeqCst) < TASKS / 4 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.ctl("stop");
    let down = api.call(reqwest::Method::GET, "/v1/tasks", json!({})).await;
    assert_eq!(down.err(), Some(503), "the API answers 503 while PostgreSQL is down");
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.ctl("start");
    while workers.join_next().await.is_some() {}
    stop.store(true, Ordering::SeqCst);
    scheduler.await.unwrap();

    let statuses = api.statuses.lock().unwrap().clone();
    assert!(statuses.get(&503).copied().unwrap_or(0) > 0, "requests met the outage: {statuses:?}");
    assert!(statuses.keys().all(|s| matches!(s, 200 | 201 | 409 | 503)), "no 5xx but 503, no other error: {statuses:?}");
    let done = db.query("SELECT COUNT(*) AS n FROM tasks WHERE tenant = $1 AND state = 'completed'", &["restart".into()]).await.unwrap();
    assert_eq!(done[0].int("n").unwrap(), TASKS as i64, "every task completed: none lost");
    let twice = db
        .query("SELECT COUNT(*) AS n FROM (SELECT task FROM runs WHERE state = 'success' GROUP BY task HAVING COUNT(*) > 1) d", &[])
        .await
        .unwrap();
    assert_eq!(twice[0].int("n").unwrap(), 0, "no task ran to success twice");
    let history = db
        .query("SELECT COUNT(*) AS n FROM task_history WHERE tenant = $1 AND to_state = 'completed'", &["restart".into()])
        .await
        .unwrap();
    assert_eq!(history[0].int("n").unwrap(), TASKS as i64, "one completion recorded per task");
    eprintln!("restart under load: {statuses:?}");
}
