//! The Orchestrator's claim on real PostgreSQL: 32 concurrent claimers burn
//! down 5,000 tasks. Every task is claimed exactly once, and a sampler that
//! reads the committed state all the while never sees a role over its
//! limit. A rescuer racing a late completion never lets both win, and a
//! worker killed mid-run costs exactly one retry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use infra::bus::{Bus, MemoryBus};
use infra::db::{Database, PostgresDatabase, PostgresSettings};
use infra::events::{Outbox, OutboxSettings};
use orchestrator::TaskRepo;
use orchestrator::model::Timeouts;
use orchestrator::repo::{Completion, NewTask};
use orchestrator_engine::Priority;

const TASKS: usize = 5_000;
const CLAIMERS: usize = 32;
const LIMITS: [(&str, i64); 2] = [("backend", 6), ("frontend", 3)];

async fn repo(name: &str) -> (TaskRepo, Arc<PostgresDatabase>) {
    let url = std::env::var("HIVE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let settings = PostgresSettings {
        url: url.clone(),
        max_connections: CLAIMERS + 4,
        connect_timeout: Duration::from_secs(5),
        schema: Some(format!("tasks_{name}_{}", std::process::id())),
    };
    let db = Arc::new(PostgresDatabase::connect(&settings).await.unwrap_or_else(|e| panic!("PostgreSQL at {url} (HIVE_TEST_POSTGRES_URL): {e}")));
    // The events go to a bus nobody subscribed to: this test is about claims.
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Duration::from_secs(30), 5));
    let outbox = Outbox::start(db.clone() as Arc<dyn Database>, bus, OutboxSettings::standard(Duration::from_secs(3600))).await.unwrap();
    let repo = TaskRepo::new(db.clone() as Arc<dyn Database>, outbox);
    repo.migrate().await.unwrap();
    (repo, db)
}

fn task(n: usize) -> NewTask {
    NewTask {
        id: uuid_for(n),
        title: format!("task {n}"),
        role: if n % 3 == 0 { "frontend" } else { "backend" }.to_owned(),
        priority: [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent][n % 4],
        review: false,
        max_retries: 2,
        rework_limit: 1,
        acceptance_criteria: Vec::new(),
        input: serde_json::json!({"n": n}),
        depends_on: Vec::new(),
        cancel_on_upstream_failure: true,
        timeouts: Timeouts { schedule_to_start_s: 600, start_to_close_s: 600, heartbeat_s: 600 },
    }
}

fn uuid_for(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_claimers_take_each_of_five_thousand_tasks_once_within_the_role_limits() {
    let (repo, db) = repo("burn").await;
    let tenant = "burn";
    for (role, limit) in LIMITS {
        repo.set_role_limit(tenant, role, limit).await.unwrap();
    }
    let all: Vec<NewTask> = (0..TASKS).map(task).collect();
    for chunk in all.chunks(500) {
        repo.create(tenant, "test", chunk, None).await.map_err(|e| e.to_string()).unwrap();
    }
    let mut workers = Vec::new();
    for _ in 0..CLAIMERS {
        let roles = ["backend".to_owned(), "frontend".to_owned()];
        workers.push(repo.register_worker(tenant, "claimer", &roles, 2).await.unwrap().id);
    }

    let claims: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let peak: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let sampler = {
        let (db, done, peak) = (db.clone(), done.clone(), peak.clone());
        tokio::spawn(async move {
            let mut samples = 0;
            while !done.load(Ordering::SeqCst) {
                let rows = db
                    .query(
                        "SELECT role, COUNT(*) AS n FROM tasks WHERE tenant = $1 AND state IN ('assigned', 'in_progress') GROUP BY role",
                        &["burn".into()],
                    )
                    .await
                    .unwrap();
                for row in rows {
                    let (role, n) = (row.text("role").unwrap().to_owned(), row.int("n").unwrap());
                    let mut peak = peak.lock().unwrap();
                    let entry = peak.entry(role).or_default();
                    *entry = (*entry).max(n);
                }
                samples += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            samples
        })
    };
    let started = Instant::now();
    let mut claimers = tokio::task::JoinSet::new();
    for worker in workers {
        let (repo, claims) = (repo.clone(), claims.clone());
        claimers.spawn(async move {
            let limits = BTreeMap::new();
            let mut idle = 0;
            while idle < 20 {
                let runs = repo.claim("burn", &worker, 2, &limits).await.map_err(|e| e.to_string()).unwrap();
                if runs.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                idle = 0;
                for run in &runs {
                    *claims.lock().unwrap().entry(run.task.id.clone()).or_default() += 1;
                }
                let done: Vec<Completion> = runs.iter().map(|r| success(&r.run, r.attempt)).collect();
                for answer in repo.complete_runs("burn", &done, |_| Duration::ZERO).await.map_err(|e| e.to_string()).unwrap() {
                    answer.map_err(|e| e.to_string()).unwrap();
                }
            }
        });
    }
    while claimers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let samples = sampler.await.unwrap();

    let claims = claims.lock().unwrap();
    assert_eq!(claims.len(), TASKS, "every task was claimed");
    assert!(claims.values().all(|n| *n == 1), "no task was claimed twice");
    let rows = db.query("SELECT COUNT(*) AS n FROM tasks WHERE tenant = $1 AND state = 'completed'", &[tenant.into()]).await.unwrap();
    assert_eq!(rows[0].int("n").unwrap(), TASKS as i64);
    let peak = peak.lock().unwrap();
    for (role, limit) in LIMITS {
        let seen = peak.get(role).copied().unwrap_or(0);
        assert!(seen <= limit, "{role}: {seen} active at once, limit {limit}");
        assert!(seen > 0, "{role} was sampled while active");
    }
    eprintln!("{TASKS} tasks, {CLAIMERS} claimers: {:.1} s ({:.0} tasks/s), {samples} samples, peaks {peak:?}", elapsed.as_secs_f64(), TASKS as f64 / elapsed.as_secs_f64());
    db.drop_schema().await.unwrap();
}

fn success(run: &str, attempt: i64) -> Completion {
    Completion { run: run.to_owned(), attempt, success: true, result: None, error: None, retryable: true }
}

/// One run's successful completion, as `POST /v1/runs/{id}/complete` makes it.
async fn complete(repo: &TaskRepo, tenant: &str, run: &str, attempt: i64) -> Result<String, String> {
    let mut answers = repo.complete_runs(tenant, &[success(run, attempt)], |_| Duration::ZERO).await.map_err(|e| e.to_string())?;
    answers.remove(0).map(|f| f.state.as_str().to_owned()).map_err(|e| e.to_string())
}

/// A started run whose last heartbeat is `ago_ms` in the past, as a worker
/// that went silent leaves it (the row is aged in SQL: the scheduler reads
/// the database's clock, and waiting for it would take seconds per case).
async fn silent_run(repo: &TaskRepo, db: &PostgresDatabase, tenant: &str, worker: &str, n: usize) -> (String, String) {
    let mut new = task(n);
    new.role = "backend".into();
    new.timeouts.heartbeat_s = 1;
    repo.create(tenant, "test", &[new.clone()], None).await.map_err(|e| e.to_string()).unwrap();
    let claimed = repo.claim(tenant, worker, 1, &BTreeMap::new()).await.map_err(|e| e.to_string()).unwrap();
    let run = claimed[0].run.clone();
    repo.heartbeat_runs(tenant, &[(run.clone(), 1)]).await.map_err(|e| e.to_string()).unwrap().remove(0).map_err(|e| e.to_string()).unwrap();
    db.execute(
        "UPDATE runs SET heartbeat_at = heartbeat_at - 5000, started_at = started_at - 5000 WHERE tenant = $1 AND id = $2",
        &[tenant.into(), run.clone().into()],
    )
    .await
    .unwrap();
    (new.id, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rescuer_and_a_late_completion_never_both_win_in_a_thousand_races() {
    let (repo, db) = repo("race").await;
    let tenant = "race";
    repo.set_role_limit(tenant, "backend", 0).await.unwrap();
    let worker = repo.register_worker(tenant, "w", &["backend".to_owned()], 1).await.unwrap().id;
    let (mut rescued, mut completed) = (0, 0);
    for n in 0..1000 {
        let (task_id, run) = silent_run(&repo, &db, tenant, &worker, 100_000 + n).await;
        let sweep = { let repo = repo.clone(); tokio::spawn(async move { repo.sweep(i64::MAX / 4, |_| Duration::ZERO).await.unwrap() }) };
        let finish = {
            let (repo, run) = (repo.clone(), run.clone());
            tokio::spawn(async move { complete(&repo, "race", &run, 1).await.is_ok() })
        };
        let (swept, finished) = (sweep.await.unwrap(), finish.await.unwrap());
        let rows = db.query("SELECT state FROM runs WHERE tenant = $1 AND task = $2", &[tenant.into(), task_id.clone().into()]).await.unwrap();
        let states: Vec<String> = rows.iter().map(|r| r.text("state").unwrap().to_owned()).collect();
        let task_state = db.query("SELECT state FROM tasks WHERE tenant = $1 AND id = $2", &[tenant.into(), task_id.clone().into()]).await.unwrap()[0]
            .text("state")
            .unwrap()
            .to_owned();
        match (finished, swept.timed_out) {
            (true, 0) => {
                assert_eq!((states.as_slice(), task_state.as_str()), (&["success".to_owned()][..], "completed"), "case {n}");
                completed += 1;
            }
            (false, 1) => {
                assert_eq!((states.as_slice(), task_state.as_str()), (&["timeout".to_owned()][..], "queued"), "case {n}");
                rescued += 1;
                // Clear the retried task so the worker's capacity is free again.
                repo.act(tenant, "test", &task_id, orchestrator_engine::TaskEvent::Cancel, None).await.map_err(|e| e.to_string()).unwrap();
            }
            other => panic!("case {n}: completion {} and rescue {} both or neither won: runs {states:?}, task {task_state}", other.0, other.1),
        }
    }
    eprintln!("1000 races: {completed} completions won, {rescued} rescues won");
    db.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_gives_exactly_one_retry_and_one_success() {
    let (repo, db) = repo("killed").await;
    let tenant = "killed";
    let worker = repo.register_worker(tenant, "w", &["backend".to_owned()], 1).await.unwrap().id;
    let (task_id, dead) = silent_run(&repo, &db, tenant, &worker, 1).await;
    assert_eq!(repo.sweep(i64::MAX / 4, |_| Duration::ZERO).await.unwrap().timed_out, 1);
    assert_eq!(repo.sweep(i64::MAX / 4, |_| Duration::ZERO).await.unwrap().timed_out, 0, "one rescue, not two");
    let late = complete(&repo, tenant, &dead, 1).await;
    assert!(late.is_err(), "the killed run's late completion is refused");
    let retry = repo.claim(tenant, &worker, 1, &BTreeMap::new()).await.map_err(|e| e.to_string()).unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempt, 2);
    let done = complete(&repo, tenant, &retry[0].run, retry[0].attempt).await.unwrap();
    assert_eq!(done, "completed");
    let (_, runs) = repo.get(tenant, &task_id).await.unwrap().unwrap();
    let states: Vec<&str> = runs.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, ["timeout", "success"]);
    db.drop_schema().await.unwrap();
}

/// Two Orchestrators on one database, as two processes (two Lambda
/// instances): a task queued through one wakes a claimer waiting in the
/// other, through PostgreSQL's LISTEN/NOTIFY. Each repo's in-process
/// wake-up only hears its own commits, so only the database can deliver it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_queued_by_one_process_wakes_the_claimers_waiting_in_another() {
    let (queuer, db) = repo("notify").await;
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Duration::from_secs(30), 5));
    let outbox = Outbox::start(db.clone() as Arc<dyn Database>, bus, OutboxSettings::standard(Duration::from_secs(3600))).await.unwrap();
    let waiter = TaskRepo::new(db.clone() as Arc<dyn Database>, outbox);
    let woken = waiter.queued();
    tokio::pin!(woken);
    woken.as_mut().enable();
    // The listener connects in the background; give it a moment, then
    // queue until it hears (a notification before LISTEN is not kept).
    let mut n = 0;
    let heard = loop {
        n += 1;
        queuer.create("notify", "test", &[task(200_000 + n)], None).await.map_err(|e| e.to_string()).unwrap();
        if tokio::time::timeout(Duration::from_millis(500), woken.as_mut()).await.is_ok() {
            break true;
        }
        if n == 20 {
            break false;
        }
    };
    assert!(heard, "the waiting process never heard of the queued tasks");
    db.drop_schema().await.unwrap();
}
