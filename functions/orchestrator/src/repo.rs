//! Tasks, runs and workers in the database port.
//!
//! Every change of a task's state goes through [`Tx::transition`]: it asks
//! the engine's table for the next state, writes it with a `WHERE state =`
//! the state it read (so a concurrent change makes it a conflict, never an
//! overwrite), records the history row, and stages the `task.*` event in the
//! outbox, all in the caller's transaction. Run writes likewise name the
//! run and the state they expect, which fences a zombie's late heartbeat or
//! completion. Time is always the database's clock.
//!
//! Every query filters on the tenant, except the scheduler's sweeps, which
//! look across tenants by design.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use infra::Error;
use infra::db::{Database, Dialect, Migration, Row, Transaction, Value};
use infra::events::{self, Envelope, Event, Outbox, Staged, TaskTransition};
use orchestrator_engine::{Priority, Refused, RunEvent, RunState, TaskEvent, TaskState, run_transition, task_transition};

use crate::model::{HistoryEntry, Run, Task, Timeouts, Worker};

/// The CloudEvents `source` of the Orchestrator's events.
pub const SOURCE: &str = "/hive/orchestrator";

/// Version numbers in the 5000s belong to the Orchestrator.
pub fn migrations() -> Vec<Migration> {
    vec![Migration::portable(
        5001,
        "tasks, dependencies, runs, workers, role limits and history",
        "CREATE TABLE IF NOT EXISTS tasks (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            title TEXT NOT NULL,
            role TEXT NOT NULL,
            state TEXT NOT NULL,
            priority BIGINT NOT NULL,
            review BIGINT NOT NULL,
            max_retries BIGINT NOT NULL,
            attempts BIGINT NOT NULL DEFAULT 0,
            reworks BIGINT NOT NULL DEFAULT 0,
            rework_limit BIGINT NOT NULL,
            criteria TEXT NOT NULL,
            input TEXT NOT NULL,
            cancel_on_upstream BIGINT NOT NULL,
            schedule_to_start_s BIGINT NOT NULL,
            start_to_close_s BIGINT NOT NULL,
            heartbeat_s BIGINT NOT NULL,
            result TEXT,
            feedback TEXT,
            reason TEXT,
            idempotency_key TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            not_before BIGINT NOT NULL DEFAULT 0,
            attempt_base BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant, id)
        );
        CREATE UNIQUE INDEX IF NOT EXISTS tasks_idempotency ON tasks (tenant, idempotency_key)
            WHERE idempotency_key IS NOT NULL AND state NOT IN ('completed', 'failed', 'cancelled', 'rejected');
        CREATE INDEX IF NOT EXISTS tasks_claim ON tasks (tenant, state, role, priority, created_at);
        CREATE INDEX IF NOT EXISTS tasks_listing ON tasks (tenant, created_at, id);
        CREATE TABLE IF NOT EXISTS task_deps (
            tenant TEXT NOT NULL,
            task TEXT NOT NULL,
            parent TEXT NOT NULL,
            PRIMARY KEY (tenant, task, parent)
        );
        CREATE INDEX IF NOT EXISTS task_deps_parent ON task_deps (tenant, parent);
        CREATE TABLE IF NOT EXISTS runs (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            task TEXT NOT NULL,
            attempt BIGINT NOT NULL,
            worker TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            started_at BIGINT,
            heartbeat_at BIGINT,
            finished_at BIGINT,
            lease_expires_at BIGINT NOT NULL,
            error TEXT,
            result TEXT,
            PRIMARY KEY (tenant, id)
        );
        CREATE INDEX IF NOT EXISTS runs_task ON runs (tenant, task, attempt);
        CREATE INDEX IF NOT EXISTS runs_active ON runs (state, lease_expires_at);
        CREATE INDEX IF NOT EXISTS runs_worker ON runs (tenant, worker, state);
        CREATE TABLE IF NOT EXISTS workers (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            roles TEXT NOT NULL,
            capacity BIGINT NOT NULL,
            online BIGINT NOT NULL,
            last_seen BIGINT NOT NULL,
            PRIMARY KEY (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS role_limits (
            tenant TEXT NOT NULL,
            role TEXT NOT NULL,
            lim BIGINT NOT NULL,
            PRIMARY KEY (tenant, role)
        );
        CREATE TABLE IF NOT EXISTS task_history (
            tenant TEXT NOT NULL,
            task TEXT NOT NULL,
            n BIGINT NOT NULL,
            from_state TEXT,
            event TEXT NOT NULL,
            to_state TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT,
            at BIGINT NOT NULL,
            PRIMARY KEY (tenant, task, n)
        );",
    ),
    // The claim reads queued tasks of a role by priority (descending),
    // then age: an index in that order serves it without a sort, however
    // many tasks are queued.
    Migration::portable(
        5002,
        "queued tasks in claim order",
        "CREATE INDEX IF NOT EXISTS tasks_queued ON tasks (tenant, role, priority DESC, created_at, id) WHERE state = 'queued';",
    )]
}

/// A task about to be created.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub id: String,
    pub title: String,
    pub role: String,
    pub priority: Priority,
    pub review: bool,
    pub max_retries: i64,
    pub rework_limit: i64,
    pub acceptance_criteria: Vec<String>,
    pub input: serde_json::Value,
    /// Ids of tasks in the same batch or already stored.
    pub depends_on: Vec<String>,
    pub cancel_on_upstream_failure: bool,
    pub timeouts: Timeouts,
}

/// Why a write was not made: an expected outcome, answered as 4xx.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("{0}")]
    NotFound(String),
    /// The run or task moved on (a zombie's late write, a race lost).
    #[error("{0}")]
    Stale(String),
    /// A run's write named another attempt than the run's.
    #[error("{0}")]
    Attempt(String),
    #[error(transparent)]
    Store(#[from] Error),
}

pub type Outcome<T> = Result<T, Denied>;

/// One run's outcome as its worker reports it.
#[derive(Clone, Debug)]
pub struct Completion {
    pub run: String,
    pub attempt: i64,
    pub success: bool,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    /// For a failure: whether another attempt may succeed.
    pub retryable: bool,
}

/// Where a completion left its task.
#[derive(Clone, Debug, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Finished {
    pub task: String,
    pub state: TaskState,
}

/// One claimed run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Claimed {
    pub run: String,
    pub attempt: i64,
    pub lease_expires_at: i64,
    pub task: Task,
}

/// What one scheduler pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub timed_out: usize,
    pub workers_offline: usize,
}

/// Ids per `IN (…)` list.
const ID_CHUNK: usize = 200;

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

const TASK_COLUMNS: &str = "id, title, role, state, priority, review, max_retries, attempts, reworks, rework_limit, \
     criteria, input, cancel_on_upstream, schedule_to_start_s, start_to_close_s, heartbeat_s, result, feedback, reason, \
     created_at, updated_at, not_before, attempt_base";
const RUN_COLUMNS: &str =
    "id, task, attempt, worker, state, created_at, started_at, heartbeat_at, finished_at, lease_expires_at, error, result";

/// The channel a commit that queued tasks notifies (payload: the tenant).
const QUEUED_CHANNEL: &str = "hive_tasks_queued";

#[derive(Clone)]
pub struct TaskRepo {
    db: Arc<dyn Database>,
    outbox: Outbox,
    /// Wakes long-polling claimers when tasks are queued: by this process's
    /// commits, and by any process's through the database's LISTEN.
    wake: Arc<tokio::sync::Notify>,
}

impl TaskRepo {
    /// Must run inside the Tokio runtime: on PostgreSQL it starts listening.
    pub fn new(db: Arc<dyn Database>, outbox: Outbox) -> TaskRepo {
        let wake = Arc::new(tokio::sync::Notify::new());
        let woken = wake.clone();
        db.listen(QUEUED_CHANNEL, Arc::new(move |_tenant: &str| woken.notify_waiters()));
        TaskRepo { db, outbox, wake }
    }

    /// Resolves when tasks may have been queued since it was enabled.
    pub fn queued(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    pub async fn migrate(&self) -> Result<(), Error> {
        self.db.migrate(&migrations()).await.map(|_| ())
    }

    pub fn database(&self) -> &Arc<dyn Database> {
        &self.db
    }

    async fn begin(&self, tenant: &str, actor: &str) -> Result<Tx, Error> {
        let mut tx = self.db.begin().await?;
        let dialect = self.db.dialect();
        let now = database_now(&mut *tx, dialect).await?;
        Ok(Tx { tx, dialect, now, tenant: tenant.to_owned(), actor: actor.to_owned(), staged: Staged::default(), queued: false })
    }

    async fn commit(&self, mut tx: Tx) -> Result<(), Error> {
        if tx.queued && tx.dialect == Dialect::Postgres {
            // Delivered at the commit, to every listening process.
            tx.tx.query("SELECT pg_notify($1, $2)::text AS sent", &[QUEUED_CHANNEL.into(), tx.tenant.clone().into()]).await?;
        }
        let (now, staged, queued) = (tx.now, tx.staged, tx.queued);
        tx.tx.commit().await?;
        if queued {
            self.wake.notify_waiters();
        }
        self.outbox.relay(staged, now).await;
        Ok(())
    }

    /// Creates tasks (already checked as a DAG, parents first) atomically.
    /// A task with unfinished parents starts `blocked`, else `queued`.
    pub async fn create(
        &self,
        tenant: &str,
        actor: &str,
        tasks: &[NewTask],
        idempotency_key: Option<&str>,
    ) -> Outcome<Vec<Task>> {
        self.create_once(tenant, actor, tasks, idempotency_key, None).await.map(Option::unwrap_or_default)
    }

    /// [`TaskRepo::create`] for an event's tasks: the event id is recorded
    /// in the same transaction, so a redelivery creates nothing (`None`).
    pub async fn create_for_event(&self, tenant: &str, actor: &str, tasks: &[NewTask], event_id: &str) -> Outcome<Option<Vec<Task>>> {
        self.create_once(tenant, actor, tasks, None, Some(event_id)).await
    }

    async fn create_once(
        &self,
        tenant: &str,
        actor: &str,
        tasks: &[NewTask],
        idempotency_key: Option<&str>,
        event_id: Option<&str>,
    ) -> Outcome<Option<Vec<Task>>> {
        let mut tx = self.begin(tenant, actor).await?;
        if let Some(event_id) = event_id
            && !infra::events::Inbox::claim(&mut *tx.tx, "tasks-events", event_id, tx.now).await?
        {
            tx.tx.rollback().await?;
            return Ok(None);
        }
        if let Some(key) = idempotency_key {
            let rows = tx
                .query(
                    &format!(
                        "SELECT {TASK_COLUMNS} FROM tasks WHERE tenant = $1 AND idempotency_key = $2 \
                         AND state NOT IN ('completed', 'failed', 'cancelled', 'rejected')"
                    ),
                    vec![key.into()],
                )
                .await?;
            if let Some(row) = rows.first() {
                let mut task = task_from_row(row)?;
                task.depends_on = tx.parents(&task.id).await?;
                tx.tx.rollback().await?;
                return Ok(Some(vec![task]));
            }
        }
        let batch: BTreeSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        for task in tasks {
            for parent in task.depends_on.iter().filter(|p| !batch.contains(p.as_str())) {
                if tx.state_of(parent).await?.is_none() {
                    return Err(Denied::NotFound(format!("task {:?} depends on {parent:?}, which does not exist", task.id)));
                }
            }
        }
        let mut created = Vec::new();
        for task in tasks {
            let mut blocked = false;
            for parent in &task.depends_on {
                blocked |= tx.state_of(parent).await? != Some(TaskState::Completed);
            }
            let state = if blocked { TaskState::Blocked } else { TaskState::Queued };
            tx.insert_task(task, state, idempotency_key).await?;
            for parent in &task.depends_on {
                tx.execute("INSERT INTO task_deps (tenant, task, parent) VALUES ($1, $2, $3)", vec![
                    task.id.clone().into(),
                    parent.clone().into(),
                ])
                .await?;
            }
            let stored = tx.task(&task.id).await?.ok_or_else(|| Denied::NotFound(task.id.clone()))?;
            tx.record_many(std::slice::from_ref(&stored), None, "create", None, |_| None).await?;
            tx.queued |= state == TaskState::Queued;
            created.push(stored);
        }
        self.commit(tx).await?;
        Ok(Some(created))
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<(Task, Vec<Run>)>, Error> {
        let mut tx = self.begin(tenant, "reader").await?;
        let Some(task) = tx.task(id).await? else {
            tx.tx.rollback().await?;
            return Ok(None);
        };
        let rows = tx
            .query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant = $1 AND task = $2 ORDER BY attempt"), vec![
                id.into(),
            ])
            .await?;
        let runs = rows.iter().map(run_from_row).collect::<Result<_, _>>()?;
        tx.tx.rollback().await?;
        Ok(Some((task, runs)))
    }

    /// The tenant's tasks, newest first, after a keyset cursor.
    pub async fn list(
        &self,
        tenant: &str,
        state: Option<TaskState>,
        role: Option<&str>,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<Task>, Error> {
        let mut sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE tenant = $1");
        let mut params: Vec<Value> = vec![tenant.into()];
        if let Some(state) = state {
            params.push(state.as_str().into());
            sql.push_str(&format!(" AND state = ${}", params.len()));
        }
        if let Some(role) = role {
            params.push(role.into());
            sql.push_str(&format!(" AND role = ${}", params.len()));
        }
        if let Some((created_at, id)) = after {
            params.push(created_at.into());
            params.push(id.into());
            let (c, i) = (params.len() - 1, params.len());
            sql.push_str(&format!(" AND (created_at < ${c} OR (created_at = ${c} AND id < ${i}))"));
        }
        params.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${}", params.len()));
        let rows = self.db.query(&sql, &params).await?;
        rows.iter().map(task_from_row).collect()
    }

    pub async fn history(&self, tenant: &str, id: &str) -> Result<Vec<HistoryEntry>, Error> {
        let rows = self
            .db
            .query(
                "SELECT from_state, event, to_state, actor, reason, at FROM task_history \
                 WHERE tenant = $1 AND task = $2 ORDER BY n",
                &[tenant.into(), id.into()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(HistoryEntry {
                    from: row.optional("from_state", |r, c| parse_task_state(r.text(c)?))?,
                    event: row.text("event")?.to_owned(),
                    to: parse_task_state(row.text("to_state")?)?,
                    actor: row.text("actor")?.to_owned(),
                    reason: row.optional("reason", |r, c| r.text(c).map(str::to_owned))?,
                    at: row.int("at")?,
                })
            })
            .collect()
    }

    /// A person's action on a task: cancel, retry, or resolve an escalation.
    pub async fn act(&self, tenant: &str, actor: &str, id: &str, event: TaskEvent, reason: Option<&str>) -> Outcome<Task> {
        let mut tx = self.begin(tenant, actor).await?;
        let task = tx.task(id).await?.ok_or_else(|| Denied::NotFound(format!("no task {id}")))?;
        match event {
            TaskEvent::Cancel => {
                tx.cancel_runs(id, "cancelled").await?;
                tx.transition(&task, event, reason, None).await?;
                tx.cascade(id).await?;
            }
            TaskEvent::ManualRetry => {
                for parent in tx.parents(id).await? {
                    if tx.state_of(&parent).await? != Some(TaskState::Completed) {
                        return Err(Denied::Stale(format!("task {id} waits for {parent}, which has not completed")));
                    }
                }
                tx.transition(&task, event, reason, None).await?;
                // A person's retry grants the task its retries afresh.
                tx.execute("UPDATE tasks SET attempt_base = attempts, not_before = 0 WHERE tenant = $1 AND id = $2", vec![id.into()])
                    .await?;
            }
            TaskEvent::ResolveApprove => {
                let approved = tx.transition(&task, event, reason, None).await?;
                let done = tx.transition(&approved, TaskEvent::Complete, reason, None).await?;
                tx.release_children(&[&done.id]).await?;
            }
            TaskEvent::ResolveReject => {
                tx.transition(&task, event, reason, None).await?;
                tx.cascade(id).await?;
            }
            _ => {
                tx.transition(&task, event, reason, None).await?;
            }
        }
        let task = tx.task(id).await?.ok_or_else(|| Denied::NotFound(id.to_owned()))?;
        self.commit(tx).await?;
        Ok(task)
    }

    pub async fn set_role_limit(&self, tenant: &str, role: &str, limit: i64) -> Result<(), Error> {
        let mut tx = self.db.begin().await?;
        tx.execute("DELETE FROM role_limits WHERE tenant = $1 AND role = $2", &[tenant.into(), role.into()]).await?;
        tx.execute("INSERT INTO role_limits (tenant, role, lim) VALUES ($1, $2, $3)", &[
            tenant.into(),
            role.into(),
            limit.into(),
        ])
        .await?;
        tx.commit().await
    }

    pub async fn register_worker(&self, tenant: &str, name: &str, roles: &[String], capacity: i64) -> Result<Worker, Error> {
        let mut tx = self.begin(tenant, name).await?;
        let id = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO workers (tenant, id, name, roles, capacity, online, last_seen) VALUES ($1, $2, $3, $4, $5, 1, $6)",
            vec![id.clone().into(), name.into(), roles.join(",").into(), capacity.into(), tx.now.into()],
        )
        .await?;
        let now = tx.now;
        tx.tx.commit().await?;
        Ok(Worker { id, name: name.to_owned(), roles: roles.to_vec(), capacity, online: true, last_seen: now })
    }

    /// Marks the worker alive (and online again); `false` if there is none.
    pub async fn worker_heartbeat(&self, tenant: &str, id: &str) -> Result<Option<Worker>, Error> {
        let mut tx = self.begin(tenant, id).await?;
        let changed =
            tx.execute("UPDATE workers SET online = 1, last_seen = $3 WHERE tenant = $1 AND id = $2", vec![id.into(), tx.now.into()]).await?;
        let worker = if changed == 1 { tx.worker(id, false).await? } else { None };
        tx.tx.commit().await?;
        Ok(worker)
    }

    /// Claims up to `max` queued tasks for the worker, in one transaction:
    /// higher priority first, then oldest, within the worker's free
    /// capacity and each role's limit across all of the tenant's workers.
    pub async fn claim(&self, tenant: &str, worker_id: &str, max: usize, default_limits: &BTreeMap<String, i64>) -> Outcome<Vec<Claimed>> {
        let mut tx = self.begin(tenant, worker_id).await?;
        let worker = tx.worker(worker_id, true).await?.ok_or_else(|| Denied::NotFound(format!("no worker {worker_id}")))?;
        let mut roles = worker.roles.clone();
        roles.sort();
        let claimed = match tx.dialect {
            Dialect::Postgres => tx.claim_postgres(&worker, &roles, max, default_limits).await?,
            Dialect::Sqlite => tx.claim_sqlite(&worker, &roles, max, default_limits).await?,
        };
        if claimed.is_empty() {
            tx.tx.rollback().await?;
            return Ok(claimed);
        }
        let tasks: Vec<Task> = claimed.iter().map(|c| c.task.clone()).collect();
        tx.record_many(&tasks, Some(TaskState::Queued), TaskEvent::Claim.as_str(), None, |t| Some(t.attempts)).await?;
        self.commit(tx).await?;
        Ok(claimed)
    }

    /// Runs' heartbeats, in one transaction: the first starts a run (and
    /// its task), each extends the lease. Each run answers for itself: one
    /// that is no longer live, or not on the attempt given, is refused.
    pub async fn heartbeat_runs(&self, tenant: &str, runs: &[(String, i64)]) -> Result<Vec<Outcome<Run>>, Denied> {
        let mut tx = self.begin(tenant, "worker").await?;
        let live = tx.live_runs(runs).await?;
        run_transition(RunState::Pending, RunEvent::Start)?;
        let pick = |state: RunState| -> Vec<&str> {
            live.iter().filter_map(|l| l.as_ref().ok()).filter(|(r, _)| r.state == state).map(|(r, _)| r.id.as_str()).collect()
        };
        let (pending, running) = (pick(RunState::Pending), pick(RunState::Running));
        let mut updated = tx.touch_runs(&pending, true).await?;
        updated.extend(tx.touch_runs(&running, false).await?);
        if updated.len() != pending.len() + running.len() {
            return Err(Denied::Stale("a run changed meanwhile; send the heartbeat again".into()));
        }
        let started: BTreeMap<&str, i64> = live
            .iter()
            .filter_map(|l| l.as_ref().ok())
            .filter(|(r, t)| r.state == RunState::Pending && t.state == TaskState::Assigned)
            .map(|(r, t)| (t.id.as_str(), r.attempt))
            .collect();
        let ids: Vec<&str> = started.keys().copied().collect();
        tx.expect_moved(TaskState::Assigned, TaskEvent::Start, &ids, None, |t| started.get(t.id.as_str()).copied()).await?;
        self.commit(tx).await?;
        let mut by_id: BTreeMap<String, Run> = updated.into_iter().map(|r| (r.id.clone(), r)).collect();
        Ok(live.into_iter().map(|l| l.map(|(run, _)| by_id.remove(&run.id).unwrap_or(run))).collect())
    }

    /// Runs' completions, in one transaction, each once. Success completes
    /// a task (or submits it for review) and releases what waited for it;
    /// failure retries it within its budget after a backoff, or fails it
    /// and cancels what depends on it. Each run answers for itself.
    pub async fn complete_runs(
        &self,
        tenant: &str,
        completions: &[Completion],
        backoff: impl Fn(i64) -> std::time::Duration + Send,
    ) -> Result<Vec<Outcome<Finished>>, Denied> {
        let mut tx = self.begin(tenant, "worker").await?;
        let keys: Vec<(String, i64)> = completions.iter().map(|c| (c.run.clone(), c.attempt)).collect();
        let mut live = tx.live_runs(&keys).await?;
        for (item, slot) in completions.iter().zip(live.iter_mut()) {
            if let Ok((run, _)) = slot
                && let Err(refused) = run_transition(run.state, if item.success { RunEvent::Succeed } else { RunEvent::Fail })
            {
                *slot = Err(refused.into());
            }
        }
        let valid: Vec<(&Completion, &Run, &Task)> =
            completions.iter().zip(live.iter()).filter_map(|(c, l)| l.as_ref().ok().map(|(r, t)| (c, r, t))).collect();
        tx.finish_runs(&valid).await?;
        // Every write below is fenced; anything that moved meanwhile sends
        // the whole batch back, so no run is finished with its task behind.
        let mut tasks: BTreeMap<String, Task> = BTreeMap::new();
        let attempts: BTreeMap<&str, i64> = valid.iter().map(|(_, r, t)| (t.id.as_str(), r.attempt)).collect();
        let attempt = |t: &Task| attempts.get(t.id.as_str()).copied();
        let assigned: Vec<&str> = valid.iter().filter(|(_, _, t)| t.state == TaskState::Assigned).map(|(_, _, t)| t.id.as_str()).collect();
        for task in tx.expect_moved(TaskState::Assigned, TaskEvent::Start, &assigned, None, attempt).await? {
            tasks.insert(task.id.clone(), task);
        }
        for (_, _, task) in &valid {
            tasks.entry(task.id.clone()).or_insert_with(|| (*task).clone());
        }
        let succeeded = |review: bool| -> Vec<&str> {
            valid.iter().filter(|(c, _, t)| c.success && t.review == review).map(|(_, _, t)| t.id.as_str()).collect()
        };
        let (done, submitted) = (succeeded(false), succeeded(true));
        tx.expect_moved(TaskState::InProgress, TaskEvent::Submit, &submitted, None, attempt).await?;
        tx.expect_moved(TaskState::InProgress, TaskEvent::Succeed, &done, None, attempt).await?;
        tx.release_children(&done).await?;
        for (item, run, task) in valid.iter().filter(|(c, _, _)| !c.success) {
            let current = tasks.get(&task.id).cloned().unwrap_or_else(|| (*task).clone());
            tx.retry_or_fail(&current, run.attempt, item.retryable, item.error.as_deref(), &backoff).await?;
        }
        let ids: Vec<&str> = valid.iter().map(|(_, _, t)| t.id.as_str()).collect();
        let states = tx.states_of(&ids).await?;
        let answers = live
            .into_iter()
            .map(|slot| {
                let (_, task) = slot?;
                let state = states.get(&task.id).copied().ok_or_else(|| Denied::NotFound(task.id.clone()))?;
                Ok(Finished { task: task.id, state })
            })
            .collect();
        self.commit(tx).await?;
        Ok(answers)
    }

    /// The Reviewer's decision on a task in review, applied once per event.
    pub async fn review(&self, tenant: &str, event_id: &str, task: &str, review: &events::ReviewCompleted) -> Outcome<()> {
        let mut tx = self.begin(tenant, "reviewer").await?;
        if !infra::events::Inbox::claim(&mut *tx.tx, "tasks-events", event_id, tx.now).await? {
            tx.tx.rollback().await?;
            return Ok(());
        }
        let task = tx.task(task).await?.ok_or_else(|| Denied::NotFound(format!("no task {task}")))?;
        let feedback = review.feedback.as_deref();
        match review.decision {
            events::ReviewDecision::Approve => {
                let approved = tx.transition(&task, TaskEvent::Approve, feedback, None).await?;
                tx.transition(&approved, TaskEvent::Complete, None, None).await?;
                tx.release_children(&[&task.id]).await?;
            }
            events::ReviewDecision::Rework => {
                let rework = tx.transition(&task, TaskEvent::RequestRework, feedback, None).await?;
                tx.execute("UPDATE tasks SET feedback = $3 WHERE tenant = $1 AND id = $2", vec![task.id.clone().into(), feedback.into()]).await?;
                if task.reworks < task.rework_limit {
                    tx.execute("UPDATE tasks SET reworks = reworks + 1 WHERE tenant = $1 AND id = $2", vec![task.id.clone().into()]).await?;
                    tx.transition(&rework, TaskEvent::Rework, feedback, None).await?;
                } else {
                    tx.transition(&rework, TaskEvent::Escalate, Some("the rework limit is reached"), None).await?;
                }
            }
            events::ReviewDecision::Escalate => {
                tx.transition(&task, TaskEvent::Escalate, feedback, None).await?;
            }
            events::ReviewDecision::Reject => {
                tx.transition(&task, TaskEvent::Reject, feedback, None).await?;
                tx.cascade(&task.id).await?;
            }
        }
        self.commit(tx).await?;
        Ok(())
    }

    /// One scheduler pass at the database's clock: runs past a timeout are
    /// timed out (their tasks retried or failed), and silent workers go
    /// offline, releasing their runs. Each update re-checks the condition
    /// it selected on, so a run that completed meanwhile is left alone.
    pub async fn sweep(&self, offline_after_ms: i64, backoff: impl Fn(i64) -> std::time::Duration + Send + Sync) -> Result<Sweep, Error> {
        let mut sweep = Sweep::default();
        let now = database_now_outside(&*self.db).await?;
        let silent = self
            .db
            .query("SELECT tenant, id FROM workers WHERE online = 1 AND last_seen < $1", &[(now - offline_after_ms).into()])
            .await?;
        for row in &silent {
            let (tenant, id) = (row.text("tenant")?, row.text("id")?);
            let changed = self
                .db
                .execute("UPDATE workers SET online = 0 WHERE tenant = $1 AND id = $2 AND online = 1 AND last_seen < $3", &[
                    tenant.into(),
                    id.into(),
                    (now - offline_after_ms).into(),
                ])
                .await?;
            sweep.workers_offline += changed as usize;
        }
        // A live run is overdue when it never started in time, ran too long,
        // went silent, or its worker is offline.
        const OVERDUE: &str = "r.state IN ('pending', 'running') AND ( \
             (r.state = 'pending' AND r.created_at + t.schedule_to_start_s * 1000 < $1) \
             OR (r.state = 'running' AND r.started_at + t.start_to_close_s * 1000 < $1) \
             OR (r.state = 'running' AND COALESCE(r.heartbeat_at, r.started_at) + t.heartbeat_s * 1000 < $1) \
             OR EXISTS (SELECT 1 FROM workers w WHERE w.tenant = r.tenant AND w.id = r.worker AND w.online = 0))";
        let overdue = self
            .db
            .query(
                &format!(
                    "SELECT r.tenant AS tenant, r.id AS id FROM runs r JOIN tasks t ON t.tenant = r.tenant AND t.id = r.task \
                     WHERE {OVERDUE} LIMIT 500"
                ),
                &[now.into()],
            )
            .await?;
        for row in &overdue {
            let (tenant, run_id) = (row.text("tenant")?.to_owned(), row.text("id")?.to_owned());
            match self.time_out(&tenant, &run_id, OVERDUE, &backoff).await {
                Ok(true) => sweep.timed_out += 1,
                Ok(false) => {}
                Err(Denied::Store(error)) => return Err(error),
                Err(denied) => tracing::info!(run = %run_id, %denied, "overdue run moved on meanwhile"),
            }
        }
        if sweep != Sweep::default() {
            tracing::info!(?sweep, "tasks scheduler");
        }
        Ok(sweep)
    }

    async fn time_out(
        &self,
        tenant: &str,
        run_id: &str,
        overdue: &str,
        backoff: &(impl Fn(i64) -> std::time::Duration + Send + Sync),
    ) -> Outcome<bool> {
        let mut tx = self.begin(tenant, "scheduler").await?;
        // The condition is on the updated row itself (joined to its task),
        // not in a subquery: PostgreSQL re-checks the target row's own
        // columns after waiting for a concurrent writer, so a run that a
        // completion moved on meanwhile no longer matches.
        let changed = tx
            .execute(
                &format!(
                    "UPDATE runs AS r SET state = 'timeout', finished_at = $3, error = 'timed out' FROM tasks t \
                     WHERE r.tenant = $1 AND r.id = $2 AND t.tenant = r.tenant AND t.id = r.task AND {}",
                    overdue.replace("$1", "$3")
                ),
                vec![run_id.into(), tx.now.into()],
            )
            .await?;
        if changed == 0 {
            tx.tx.rollback().await?;
            return Ok(false);
        }
        let run = tx.run(run_id).await?.ok_or_else(|| Denied::NotFound(run_id.to_owned()))?;
        let task = tx.task(&run.task).await?.ok_or_else(|| Denied::NotFound(run.task.clone()))?;
        if matches!(task.state, TaskState::Assigned | TaskState::InProgress) && task.attempts == run.attempt {
            tx.retry_or_fail(&task, run.attempt, true, Some("the run timed out"), backoff).await?;
        }
        self.commit(tx).await?;
        Ok(true)
    }
}

/// One transaction of the Orchestrator: the tenant, the actor, the database
/// time it started at, and the events it stages.
struct Tx {
    tx: Box<dyn Transaction>,
    dialect: Dialect,
    now: i64,
    tenant: String,
    actor: String,
    staged: Staged,
    /// Some task became `queued`: wake the claimers after the commit.
    queued: bool,
}

impl Tx {
    /// The claim on PostgreSQL. The advisory lock per role serialises the
    /// claims of one role, so the counts the statement reads are the truth
    /// when it checks the limits (distinct roles claim in parallel); the
    /// worker's row lock does the same for its capacity. Then one
    /// statement picks (`FOR UPDATE SKIP LOCKED`, within each role's room),
    /// assigns the tasks and creates their runs.
    async fn claim_postgres(&mut self, worker: &Worker, roles: &[String], max: usize, defaults: &BTreeMap<String, i64>) -> Outcome<Vec<Claimed>> {
        for role in roles {
            self.query("SELECT pg_advisory_xact_lock(hashtext($1 || ':' || $2))::text AS locked", vec![role.clone().into()]).await?;
        }
        let busy = self.mark_online_and_count_busy(&worker.id).await?;
        let free = (worker.capacity - busy).clamp(0, i64::try_from(max).unwrap_or(i64::MAX));
        if free == 0 {
            return Ok(Vec::new());
        }
        let limits: Vec<String> = roles.iter().map(|r| defaults.get(r).copied().unwrap_or(0).to_string()).collect();
        let sql = format!(
            "WITH given AS ( \
               SELECT g.role, COALESCE((SELECT l.lim FROM role_limits l WHERE l.tenant = $1 AND l.role = g.role), g.lim) AS lim \
               FROM unnest(string_to_array($3, ','), string_to_array($4, ',')::bigint[]) AS g(role, lim)), \
             room AS ( \
               SELECT role, CASE WHEN lim = 0 THEN $5 ELSE GREATEST(lim - (SELECT COUNT(*) FROM tasks a \
                 WHERE a.tenant = $1 AND a.role = given.role AND a.state IN ('assigned', 'in_progress')), 0) END AS free \
               FROM given), \
             picked AS ( \
               SELECT c.id FROM room, LATERAL ( \
                 SELECT id, priority, created_at FROM tasks \
                 WHERE tenant = $1 AND state = 'queued' AND not_before <= $2 AND role = room.role \
                 ORDER BY priority DESC, created_at, id LIMIT LEAST(room.free, $5) FOR UPDATE SKIP LOCKED) c \
               ORDER BY c.priority DESC, c.created_at, c.id LIMIT $5), \
             moved AS ( \
               UPDATE tasks SET state = 'assigned', attempts = attempts + 1, updated_at = $2 FROM picked \
               WHERE tasks.tenant = $1 AND tasks.id = picked.id AND tasks.state = 'queued' RETURNING tasks.*), \
             made AS ( \
               INSERT INTO runs (tenant, id, task, attempt, worker, state, created_at, lease_expires_at) \
               SELECT $1, gen_random_uuid()::text, id, attempts, $6, 'pending', $2, $2 + schedule_to_start_s * 1000 FROM moved \
               RETURNING id AS run, task, lease_expires_at) \
             SELECT {TASK_COLUMNS}, made.run AS run, made.lease_expires_at AS lease FROM moved JOIN made ON made.task = moved.id \
             ORDER BY priority DESC, created_at, id"
        );
        let rows = self
            .query(&sql, vec![self.now.into(), roles.join(",").into(), limits.join(",").into(), free.into(), worker.id.clone().into()])
            .await?;
        rows.iter()
            .map(|row| {
                let task = task_from_row(row)?;
                Ok(Claimed { run: row.text("run")?.to_owned(), attempt: task.attempts, lease_expires_at: row.int("lease")?, task })
            })
            .collect()
    }

    /// The claim on SQLite, whose one connection makes every transaction
    /// the only writer: the same choice, a statement at a time.
    async fn claim_sqlite(&mut self, worker: &Worker, roles: &[String], max: usize, defaults: &BTreeMap<String, i64>) -> Outcome<Vec<Claimed>> {
        let busy = self.mark_online_and_count_busy(&worker.id).await?;
        let free = usize::try_from(worker.capacity - busy).unwrap_or(0).min(max);
        let mut room = BTreeMap::new();
        for role in roles {
            let limit = self.role_limit(role, defaults).await?;
            let active = self
                .count("SELECT COUNT(*) AS n FROM tasks WHERE tenant = $1 AND role = $2 AND state IN ('assigned', 'in_progress')", vec![role.clone().into()])
                .await?;
            room.insert(role.clone(), if limit == 0 { i64::MAX } else { (limit - active).max(0) });
        }
        let open: Vec<String> = roles.iter().filter(|r| room[*r] > 0).cloned().collect();
        if free == 0 || open.is_empty() {
            return Ok(Vec::new());
        }
        let mut params: Vec<Value> = vec![self.now.into()];
        params.extend(open.iter().map(|r| Value::from(r.clone())));
        let sql = format!(
            "SELECT id, role FROM tasks WHERE tenant = $1 AND state = 'queued' AND not_before <= $2 \
             AND role IN ({}) ORDER BY priority DESC, created_at, id",
            placeholders(3, open.len())
        );
        let mut chosen = Vec::new();
        for row in &self.query(&sql, params).await? {
            if chosen.len() >= free {
                break;
            }
            // The query asked for the worker's open roles only.
            let Some(slots) = room.get_mut(row.text("role")?) else { continue };
            if *slots > 0 {
                *slots -= 1;
                chosen.push(row.text("id")?.to_owned());
            }
        }
        let mut claimed = Vec::new();
        for id in chosen {
            let rows = self
                .query(
                    &format!("UPDATE tasks SET state = 'assigned', attempts = attempts + 1, updated_at = $3 WHERE tenant = $1 AND id = $2 AND state = 'queued' RETURNING {TASK_COLUMNS}"),
                    vec![id.into(), self.now.into()],
                )
                .await?;
            let Some(row) = rows.first() else { continue };
            let task = task_from_row(row)?;
            let run = uuid::Uuid::new_v4().to_string();
            let lease = self.now + task.timeouts.schedule_to_start_s * 1000;
            self.execute(
                "INSERT INTO runs (tenant, id, task, attempt, worker, state, created_at, lease_expires_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
                vec![run.clone().into(), task.id.clone().into(), task.attempts.into(), worker.id.clone().into(), self.now.into(), lease.into()],
            )
            .await?;
            claimed.push(Claimed { run, attempt: task.attempts, lease_expires_at: lease, task });
        }
        Ok(claimed)
    }

    /// A claim is also the worker's heartbeat; returns its live runs.
    async fn mark_online_and_count_busy(&mut self, worker: &str) -> Result<i64, Error> {
        self.execute("UPDATE workers SET online = 1, last_seen = $3 WHERE tenant = $1 AND id = $2", vec![worker.into(), self.now.into()]).await?;
        self.count("SELECT COUNT(*) AS n FROM runs WHERE tenant = $1 AND worker = $2 AND state IN ('pending', 'running')", vec![worker.into()]).await
    }

    /// `$1` is always the tenant.
    async fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, Error> {
        let mut all = vec![Value::from(self.tenant.clone())];
        all.extend(params);
        self.tx.query(sql, &all).await
    }

    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        let mut all = vec![Value::from(self.tenant.clone())];
        all.extend(params);
        self.tx.execute(sql, &all).await
    }

    async fn count(&mut self, sql: &str, params: Vec<Value>) -> Result<i64, Error> {
        let rows = self.query(sql, params).await?;
        rows.first().map_or(Ok(0), |row| row.int("n"))
    }

    async fn task(&mut self, id: &str) -> Result<Option<Task>, Error> {
        let rows = self.query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE tenant = $1 AND id = $2"), vec![id.into()]).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let mut task = task_from_row(row)?;
        task.depends_on = self.parents(id).await?;
        Ok(Some(task))
    }

    async fn state_of(&mut self, id: &str) -> Result<Option<TaskState>, Error> {
        let rows = self.query("SELECT state FROM tasks WHERE tenant = $1 AND id = $2", vec![id.into()]).await?;
        rows.first().map(|row| parse_task_state(row.text("state")?)).transpose()
    }

    async fn states_of(&mut self, ids: &[&str]) -> Result<BTreeMap<String, TaskState>, Error> {
        let mut states = BTreeMap::new();
        for chunk in ids.chunks(ID_CHUNK) {
            let sql = format!("SELECT id, state FROM tasks WHERE tenant = $1 AND id IN ({})", placeholders(2, chunk.len()));
            for row in &self.query(&sql, chunk.iter().map(|id| Value::from(*id)).collect()).await? {
                states.insert(row.text("id")?.to_owned(), parse_task_state(row.text("state")?)?);
            }
        }
        Ok(states)
    }

    async fn parents(&mut self, id: &str) -> Result<Vec<String>, Error> {
        let rows = self.query("SELECT parent FROM task_deps WHERE tenant = $1 AND task = $2 ORDER BY parent", vec![id.into()]).await?;
        rows.iter().map(|row| row.text("parent").map(str::to_owned)).collect()
    }

    async fn children(&mut self, id: &str) -> Result<Vec<String>, Error> {
        let rows = self.query("SELECT task FROM task_deps WHERE tenant = $1 AND parent = $2 ORDER BY task", vec![id.into()]).await?;
        rows.iter().map(|row| row.text("task").map(str::to_owned)).collect()
    }

    async fn run(&mut self, id: &str) -> Result<Option<Run>, Error> {
        let rows = self.query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant = $1 AND id = $2"), vec![id.into()]).await?;
        rows.first().map(run_from_row).transpose()
    }

    async fn worker(&mut self, id: &str, lock: bool) -> Result<Option<Worker>, Error> {
        let lock = if lock && self.dialect == Dialect::Postgres { " FOR UPDATE" } else { "" };
        let rows = self
            .query(&format!("SELECT id, name, roles, capacity, online, last_seen FROM workers WHERE tenant = $1 AND id = $2{lock}"), vec![id.into()])
            .await?;
        rows.first()
            .map(|row| {
                Ok(Worker {
                    id: row.text("id")?.to_owned(),
                    name: row.text("name")?.to_owned(),
                    roles: row.text("roles")?.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
                    capacity: row.int("capacity")?,
                    online: row.bool("online")?,
                    last_seen: row.int("last_seen")?,
                })
            })
            .transpose()
    }

    async fn role_limit(&mut self, role: &str, defaults: &BTreeMap<String, i64>) -> Result<i64, Error> {
        let rows = self.query("SELECT lim FROM role_limits WHERE tenant = $1 AND role = $2", vec![role.into()]).await?;
        match rows.first() {
            Some(row) => row.int("lim"),
            None => Ok(defaults.get(role).copied().unwrap_or(0)),
        }
    }

    /// Each run with its task, if the run is live, on the attempt given,
    /// and its task on that attempt; else why not. Two statements for all.
    async fn live_runs(&mut self, runs: &[(String, i64)]) -> Result<Vec<Outcome<(Run, Task)>>, Error> {
        let mut found: BTreeMap<String, Run> = BTreeMap::new();
        for chunk in runs.chunks(ID_CHUNK) {
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant = $1 AND id IN ({})", placeholders(2, chunk.len()));
            for row in &self.query(&sql, chunk.iter().map(|(id, _)| Value::from(id.clone())).collect()).await? {
                let run = run_from_row(row)?;
                found.insert(run.id.clone(), run);
            }
        }
        let task_ids: BTreeSet<String> = found.values().map(|r| r.task.clone()).collect();
        let task_ids: Vec<String> = task_ids.into_iter().collect();
        let mut tasks: BTreeMap<String, Task> = BTreeMap::new();
        for chunk in task_ids.chunks(ID_CHUNK) {
            let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE tenant = $1 AND id IN ({})", placeholders(2, chunk.len()));
            for row in &self.query(&sql, chunk.iter().map(|id| Value::from(id.clone())).collect()).await? {
                let task = task_from_row(row)?;
                tasks.insert(task.id.clone(), task);
            }
        }
        let mut seen = BTreeSet::new();
        Ok(runs
            .iter()
            .map(|(id, attempt)| {
                let run = found.get(id).ok_or_else(|| Denied::NotFound(format!("no run {id}")))?;
                if !seen.insert(id.as_str()) {
                    return Err(Denied::Stale(format!("run {id} is named twice in one request")));
                }
                if run.attempt != *attempt {
                    return Err(Denied::Attempt(format!("run {id} is attempt {}, not {attempt}", run.attempt)));
                }
                if run.state.is_final() {
                    return Err(Denied::Stale(format!("run {id} is {}; its heartbeat or completion is refused", run.state)));
                }
                let task = tasks.get(&run.task).ok_or_else(|| Denied::NotFound(run.task.clone()))?;
                if task.attempts != run.attempt || !matches!(task.state, TaskState::Assigned | TaskState::InProgress) {
                    return Err(Denied::Stale(format!(
                        "run {id} is attempt {} but task {} is {} on attempt {}",
                        run.attempt, task.id, task.state, task.attempts
                    )));
                }
                Ok((run.clone(), task.clone()))
            })
            .collect())
    }

    /// Heartbeats live runs in one state (`pending` ones start), each lease
    /// from its task's heartbeat timeout; returns the runs it moved.
    async fn touch_runs(&mut self, ids: &[&str], start: bool) -> Result<Vec<Run>, Error> {
        let (from, started) = if start { ("pending", "started_at = $2, ") } else { ("running", "") };
        let mut touched = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            let mut params: Vec<Value> = vec![self.now.into(), from.into()];
            let list = placeholders(4, chunk.len());
            params.extend(chunk.iter().map(|id| Value::from(*id)));
            let sql = format!(
                "UPDATE runs SET state = 'running', {started}heartbeat_at = $2, \
                 lease_expires_at = $2 + (SELECT t.heartbeat_s FROM tasks t WHERE t.tenant = runs.tenant AND t.id = runs.task) * 1000 \
                 WHERE tenant = $1 AND state = $3 AND id IN ({list}) RETURNING {RUN_COLUMNS}"
            );
            for row in &self.query(&sql, params).await? {
                touched.push(run_from_row(row)?);
            }
        }
        Ok(touched)
    }

    /// Writes the runs' outcomes, each fenced on the state it was read in.
    async fn finish_runs(&mut self, items: &[(&Completion, &Run, &Task)]) -> Outcome<()> {
        for chunk in items.chunks(ID_CHUNK / 4) {
            let mut params: Vec<Value> = vec![self.now.into()];
            let mut rows = Vec::with_capacity(chunk.len());
            let mut results = Vec::with_capacity(chunk.len());
            for (item, run, task) in chunk {
                let n = params.len() + 2;
                rows.push(format!("(${n}, ${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
                let state = if item.success { RunState::Success } else { RunState::Failure };
                let result = item.result.as_ref().map(|r| r.to_string());
                params.extend([
                    run.id.clone().into(),
                    run.state.as_str().into(),
                    state.as_str().into(),
                    result.clone().into(),
                    item.error.clone().into(),
                ]);
                results.push((task.id.clone(), result));
            }
            let finished = self
                .query(
                    &format!(
                        "WITH v (rid, rfrom, rto, rresult, rerror) AS (VALUES {}) \
                         UPDATE runs SET state = v.rto, finished_at = $2, result = v.rresult, error = v.rerror FROM v \
                         WHERE runs.tenant = $1 AND runs.id = v.rid AND runs.state = v.rfrom RETURNING id",
                        rows.join(", ")
                    ),
                    params,
                )
                .await?;
            if finished.len() != chunk.len() {
                return Err(Denied::Stale("a run changed meanwhile; send the completions again".into()));
            }
            let mut params: Vec<Value> = Vec::new();
            let rows: Vec<String> = results
                .into_iter()
                .map(|(id, result)| {
                    params.push(id.into());
                    params.push(result.into());
                    format!("(${}, ${})", params.len(), params.len() + 1)
                })
                .collect();
            self.execute(
                &format!("WITH v (tid, tresult) AS (VALUES {}) UPDATE tasks SET result = v.tresult FROM v WHERE tasks.tenant = $1 AND tasks.id = v.tid", rows.join(", ")),
                params,
            )
            .await?;
        }
        Ok(())
    }

    /// [`Tx::transition_many`] where every task must move.
    async fn expect_moved(
        &mut self,
        from: TaskState,
        event: TaskEvent,
        ids: &[&str],
        reason: Option<&str>,
        attempt: impl Fn(&Task) -> Option<i64>,
    ) -> Outcome<Vec<Task>> {
        let moved = self.transition_many(from, event, ids, reason, attempt).await?;
        if moved.len() != ids.len() {
            return Err(Denied::Stale("a task changed meanwhile; send the request again".into()));
        }
        Ok(moved)
    }

    async fn cancel_runs(&mut self, task: &str, reason: &str) -> Result<(), Error> {
        self.execute(
            "UPDATE runs SET state = 'cancelled', finished_at = $3, error = $4 WHERE tenant = $1 AND task = $2 AND state IN ('pending', 'running')",
            vec![task.into(), self.now.into(), reason.into()],
        )
        .await
        .map(|_| ())
    }

    async fn insert_task(&mut self, task: &NewTask, state: TaskState, idempotency_key: Option<&str>) -> Result<(), Error> {
        let sql = "INSERT INTO tasks (tenant, id, title, role, state, priority, review, max_retries, rework_limit, criteria, \
             input, cancel_on_upstream, schedule_to_start_s, start_to_close_s, heartbeat_s, idempotency_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)";
        let criteria = serde_json::to_string(&task.acceptance_criteria).map_err(|e| Error::invalid("acceptance_criteria", e.to_string()))?;
        self.execute(sql, vec![
            task.id.clone().into(),
            task.title.clone().into(),
            task.role.clone().into(),
            state.as_str().into(),
            task.priority.rank().into(),
            i64::from(task.review).into(),
            task.max_retries.into(),
            task.rework_limit.into(),
            criteria.into(),
            task.input.to_string().into(),
            i64::from(task.cancel_on_upstream_failure).into(),
            task.timeouts.schedule_to_start_s.into(),
            task.timeouts.start_to_close_s.into(),
            task.timeouts.heartbeat_s.into(),
            idempotency_key.into(),
            self.now.into(),
        ])
        .await
        .map_err(|error| match error {
            Error::Conflict(_) => Error::Conflict(format!("task {} exists, or its Idempotency-Key is in use", task.id)),
            other => other,
        })?;
        Ok(())
    }

    /// The one way a task's state changes: the table says where to, the
    /// write names the state it read, and history and event go with it.
    async fn transition(&mut self, task: &Task, event: TaskEvent, reason: Option<&str>, attempt: Option<i64>) -> Outcome<Task> {
        let moved = self.transition_many(task.state, event, &[task.id.as_str()], reason, |_| attempt).await?;
        let next = moved.into_iter().next().ok_or_else(|| Denied::Stale(format!("task {} changed meanwhile", task.id)))?;
        Ok(Task { depends_on: task.depends_on.clone(), ..next })
    }

    /// [`Tx::transition`] for many tasks in one state, in a statement per
    /// step rather than per task. Returns the tasks that moved (without
    /// `depends_on`); one that changed meanwhile is left out.
    async fn transition_many(
        &mut self,
        from: TaskState,
        event: TaskEvent,
        ids: &[&str],
        reason: Option<&str>,
        attempt: impl Fn(&Task) -> Option<i64>,
    ) -> Outcome<Vec<Task>> {
        let to = task_transition(from, event)?;
        let mut moved = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            let mut params: Vec<Value> = vec![to.as_str().into(), self.now.into(), reason.into(), from.as_str().into()];
            let list = placeholders(params.len() + 2, chunk.len());
            params.extend(chunk.iter().map(|id| Value::from(*id)));
            let rows = self
                .query(
                    &format!(
                        "UPDATE tasks SET state = $2, updated_at = $3, reason = COALESCE($4, reason) \
                         WHERE tenant = $1 AND state = $5 AND id IN ({list}) RETURNING {TASK_COLUMNS}"
                    ),
                    params,
                )
                .await?;
            for row in &rows {
                moved.push(task_from_row(row)?);
            }
        }
        if to == TaskState::Queued {
            self.queued = true;
        }
        self.record_many(&moved, Some(from), event.as_str(), reason, attempt).await?;
        Ok(moved)
    }

    /// Writes the history rows and stages the events for tasks now in
    /// their `state`, a statement for each.
    async fn record_many(
        &mut self,
        tasks: &[Task],
        from: Option<TaskState>,
        event: &str,
        reason: Option<&str>,
        attempt: impl Fn(&Task) -> Option<i64>,
    ) -> Result<(), Error> {
        let mut envelopes = Vec::with_capacity(tasks.len());
        for chunk in tasks.chunks(ID_CHUNK) {
            let mut params: Vec<Value> = vec![from.map(|s| s.as_str()).into(), event.into(), self.actor.clone().into(), reason.into(), self.now.into()];
            let mut rows = Vec::with_capacity(chunk.len());
            for task in chunk {
                let (id, to) = (params.len() + 2, params.len() + 3);
                rows.push(format!(
                    "($1, ${id}, (SELECT COALESCE(MAX(n), 0) + 1 FROM task_history WHERE tenant = $1 AND task = ${id}), $2, $3, ${to}, $4, $5, $6)"
                ));
                params.push(task.id.clone().into());
                params.push(task.state.as_str().into());
            }
            self.execute(
                &format!(
                    "INSERT INTO task_history (tenant, task, n, from_state, event, to_state, actor, reason, at) VALUES {}",
                    rows.join(", ")
                ),
                params,
            )
            .await?;
        }
        for task in tasks {
            let transition = TaskTransition {
                task: task.id.clone(),
                title: task.title.clone(),
                role: task.role.clone(),
                from: from.map(|s| s.as_str().to_owned()),
                to: task.state.as_str().to_owned(),
                event: event.to_owned(),
                actor: self.actor.clone(),
                reason: reason.map(str::to_owned),
                attempt: attempt(task),
                result: task.result.clone(),
                acceptance_criteria: task.acceptance_criteria.clone(),
            };
            envelopes.push(announce(&self.tenant, from.is_none(), transition, self.now)?);
        }
        let staged = Outbox::stage(&mut *self.tx, envelopes, self.now).await?;
        self.staged = std::mem::take(&mut self.staged).merge(staged);
        Ok(())
    }

    /// After `parents` completed: each blocked child whose parents have all
    /// completed is released, in this transaction.
    async fn release_children(&mut self, parents: &[&str]) -> Outcome<()> {
        let mut ready = Vec::new();
        for chunk in parents.chunks(ID_CHUNK) {
            let list = placeholders(2, chunk.len());
            let rows = self
                .query(
                    &format!(
                        "SELECT DISTINCT d.task AS task FROM task_deps d JOIN tasks c ON c.tenant = d.tenant AND c.id = d.task \
                         WHERE d.tenant = $1 AND d.parent IN ({list}) AND c.state = 'blocked' AND NOT EXISTS ( \
                           SELECT 1 FROM task_deps o JOIN tasks p ON p.tenant = o.tenant AND p.id = o.parent \
                           WHERE o.tenant = d.tenant AND o.task = d.task AND p.state <> 'completed') ORDER BY task"
                    ),
                    chunk.iter().map(|id| Value::from(*id)).collect(),
                )
                .await?;
            for row in &rows {
                ready.push(row.text("task")?.to_owned());
            }
        }
        let ready: Vec<&str> = ready.iter().map(String::as_str).collect();
        self.transition_many(TaskState::Blocked, TaskEvent::Release, &ready, None, |_| None).await?;
        Ok(())
    }

    /// After `root` failed, was rejected or cancelled: every blocked
    /// descendant that asked for it is cancelled with `upstream_failed`.
    async fn cascade(&mut self, root: &str) -> Outcome<()> {
        let mut frontier = vec![root.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(node) = frontier.pop() {
            for child in self.children(&node).await? {
                if !seen.insert(child.clone()) {
                    continue;
                }
                let Some(task) = self.task(&child).await? else { continue };
                if task.state == TaskState::Blocked && task.cancel_on_upstream_failure {
                    self.transition(&task, TaskEvent::UpstreamFailed, Some("upstream_failed"), None).await?;
                    frontier.push(child);
                }
            }
        }
        Ok(())
    }

    async fn retry_or_fail(
        &mut self,
        task: &Task,
        attempt: i64,
        retryable: bool,
        error: Option<&str>,
        backoff: &(impl Fn(i64) -> std::time::Duration + ?Sized),
    ) -> Outcome<()> {
        if retryable && task.attempts - task.attempt_base <= task.max_retries {
            let delay = i64::try_from(backoff(attempt).as_millis()).unwrap_or(i64::MAX / 4);
            self.transition(task, TaskEvent::Retry, error, Some(attempt)).await?;
            self.execute("UPDATE tasks SET not_before = $3 WHERE tenant = $1 AND id = $2", vec![task.id.clone().into(), (self.now + delay).into()]).await?;
        } else {
            let reason = if retryable { "out of retries" } else { "the failure is not retryable" };
            let reason = error.map_or(reason.to_owned(), |e| format!("{reason}: {e}"));
            self.transition(task, TaskEvent::Fail, Some(&reason), Some(attempt)).await?;
            self.cascade(&task.id).await?;
        }
        Ok(())
    }
}

/// The `task.*` event for a task that just reached its state.
fn announce(tenant: &str, created: bool, t: TaskTransition, now: i64) -> Result<Envelope, Error> {
    fn wrap<E: Event>(tenant: &str, event: E, now: i64) -> Result<Envelope, Error> {
        Envelope::new(SOURCE, Some(tenant), &format!("task-{}", event.subject()), &event, now)
    }
    if created {
        return wrap(tenant, events::TaskCreated(t), now);
    }
    match parse_task_state(&t.to)? {
        TaskState::Blocked | TaskState::Queued => wrap(tenant, events::TaskQueued(t), now),
        TaskState::Assigned => wrap(tenant, events::TaskAssigned(t), now),
        TaskState::InProgress => wrap(tenant, events::TaskStarted(t), now),
        TaskState::ReviewPending => wrap(tenant, events::TaskReviewRequested(t), now),
        TaskState::Approved => wrap(tenant, events::TaskApproved(t), now),
        TaskState::ReworkNeeded => wrap(tenant, events::TaskReworkRequested(t), now),
        TaskState::Escalated => wrap(tenant, events::TaskEscalated(t), now),
        TaskState::Rejected => wrap(tenant, events::TaskRejected(t), now),
        TaskState::Completed => wrap(tenant, events::TaskCompleted(t), now),
        TaskState::Failed => wrap(tenant, events::TaskFailed(t), now),
        TaskState::Cancelled => wrap(tenant, events::TaskCancelled(t), now),
    }
}

/// The database's clock, in Unix milliseconds.
fn now_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT AS now",
        Dialect::Sqlite => "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AS now",
    }
}

async fn database_now(tx: &mut dyn Transaction, dialect: Dialect) -> Result<i64, Error> {
    let rows = tx.query(now_sql(dialect), &[]).await?;
    rows.first().ok_or_else(|| Error::Backend { service: "database", message: "no clock".into() })?.int("now")
}

async fn database_now_outside(db: &dyn Database) -> Result<i64, Error> {
    let rows = db.query(now_sql(db.dialect()), &[]).await?;
    rows.first().ok_or_else(|| Error::Backend { service: "database", message: "no clock".into() })?.int("now")
}

fn parse_task_state(text: &str) -> Result<TaskState, Error> {
    TaskState::parse(text).ok_or_else(|| Error::invalid("tasks.state", format!("unknown state {text:?}")))
}

fn json_column(row: &Row, column: &str) -> Result<Option<serde_json::Value>, Error> {
    row.optional(column, Row::json)
}

fn task_from_row(row: &Row) -> Result<Task, Error> {
    let criteria: Vec<String> = serde_json::from_value(row.json("criteria")?).map_err(|e| Error::invalid("tasks.criteria", e.to_string()))?;
    Ok(Task {
        id: row.text("id")?.to_owned(),
        title: row.text("title")?.to_owned(),
        role: row.text("role")?.to_owned(),
        state: parse_task_state(row.text("state")?)?,
        priority: Priority::from_rank(row.int("priority")?).ok_or_else(|| Error::invalid("tasks.priority", "unknown rank"))?,
        review: row.bool("review")?,
        max_retries: row.int("max_retries")?,
        attempts: row.int("attempts")?,
        reworks: row.int("reworks")?,
        rework_limit: row.int("rework_limit")?,
        acceptance_criteria: criteria,
        input: row.json("input")?,
        depends_on: Vec::new(),
        cancel_on_upstream_failure: row.bool("cancel_on_upstream")?,
        timeouts: Timeouts {
            schedule_to_start_s: row.int("schedule_to_start_s")?,
            start_to_close_s: row.int("start_to_close_s")?,
            heartbeat_s: row.int("heartbeat_s")?,
        },
        result: json_column(row, "result")?,
        feedback: row.optional("feedback", |r, c| r.text(c).map(str::to_owned))?,
        reason: row.optional("reason", |r, c| r.text(c).map(str::to_owned))?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        not_before: row.int("not_before")?,
        attempt_base: row.int("attempt_base")?,
    })
}

fn run_from_row(row: &Row) -> Result<Run, Error> {
    let state = row.text("state")?;
    Ok(Run {
        id: row.text("id")?.to_owned(),
        task: row.text("task")?.to_owned(),
        attempt: row.int("attempt")?,
        worker: row.text("worker")?.to_owned(),
        state: RunState::parse(state).ok_or_else(|| Error::invalid("runs.state", format!("unknown state {state:?}")))?,
        created_at: row.int("created_at")?,
        started_at: row.optional("started_at", Row::int)?,
        heartbeat_at: row.optional("heartbeat_at", Row::int)?,
        finished_at: row.optional("finished_at", Row::int)?,
        lease_expires_at: row.int("lease_expires_at")?,
        error: row.optional("error", |r, c| r.text(c).map(str::to_owned))?,
        result: json_column(row, "result")?,
    })
}
