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

use std::collections::BTreeSet;
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
    #[error(transparent)]
    Store(#[from] Error),
}

pub type Outcome<T> = Result<T, Denied>;

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

const TASK_COLUMNS: &str = "id, title, role, state, priority, review, max_retries, attempts, reworks, rework_limit, \
     criteria, input, cancel_on_upstream, schedule_to_start_s, start_to_close_s, heartbeat_s, result, feedback, reason, \
     created_at, updated_at, not_before, attempt_base";
const RUN_COLUMNS: &str =
    "id, task, attempt, worker, state, created_at, started_at, heartbeat_at, finished_at, lease_expires_at, error, result";

#[derive(Clone)]
pub struct TaskRepo {
    db: Arc<dyn Database>,
    outbox: Outbox,
}

impl TaskRepo {
    pub fn new(db: Arc<dyn Database>, outbox: Outbox) -> TaskRepo {
        TaskRepo { db, outbox }
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
        Ok(Tx { tx, dialect, now, tenant: tenant.to_owned(), actor: actor.to_owned(), staged: Staged::default() })
    }

    async fn commit(&self, tx: Tx) -> Result<(), Error> {
        let (now, staged) = (tx.now, tx.staged);
        tx.tx.commit().await?;
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
        let mut tx = self.begin(tenant, actor).await?;
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
                return Ok(vec![task]);
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
            tx.record(&stored, None, "create", None, None).await?;
            created.push(stored);
        }
        self.commit(tx).await?;
        Ok(created)
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
                tx.release_children(&done.id).await?;
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
    pub async fn claim(&self, tenant: &str, worker_id: &str, max: usize, default_limits: &std::collections::BTreeMap<String, i64>) -> Outcome<Vec<Claimed>> {
        let mut tx = self.begin(tenant, worker_id).await?;
        let worker = tx.worker(worker_id, true).await?.ok_or_else(|| Denied::NotFound(format!("no worker {worker_id}")))?;
        let mut roles = worker.roles.clone();
        roles.sort();
        if tx.dialect == Dialect::Postgres {
            // Claims of one role serialise, so the count below is the truth
            // when the limit is checked; distinct roles go in parallel.
            for role in &roles {
                tx.query("SELECT pg_advisory_xact_lock(hashtext($1 || ':' || $2))::text AS locked", vec![role.clone().into()]).await?;
            }
        }
        tx.execute("UPDATE workers SET online = 1, last_seen = $3 WHERE tenant = $1 AND id = $2", vec![worker_id.into(), tx.now.into()]).await?;
        let busy = tx.count("SELECT COUNT(*) AS n FROM runs WHERE tenant = $1 AND worker = $2 AND state IN ('pending', 'running')", vec![worker_id.into()]).await?;
        let mut free = (worker.capacity - busy).max(0) as usize;
        free = free.min(max);
        let mut room: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for role in &roles {
            let limit = tx.role_limit(role, default_limits).await?;
            let active = tx
                .count("SELECT COUNT(*) AS n FROM tasks WHERE tenant = $1 AND role = $2 AND state IN ('assigned', 'in_progress')", vec![role.clone().into()])
                .await?;
            room.insert(role.clone(), if limit == 0 { i64::MAX } else { (limit - active).max(0) });
        }
        let open: Vec<String> = roles.iter().filter(|r| room[*r] > 0).cloned().collect();
        let mut claimed = Vec::new();
        if free == 0 || open.is_empty() {
            tx.tx.rollback().await?;
            return Ok(claimed);
        }
        let placeholders: Vec<String> = (0..open.len()).map(|i| format!("${}", i + 3)).collect();
        let lock = if tx.dialect == Dialect::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let mut params: Vec<Value> = vec![tx.now.into()];
        params.extend(open.iter().map(|r| Value::from(r.clone())));
        params.push(i64::try_from(free * 4).unwrap_or(i64::MAX).into());
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE tenant = $1 AND state = 'queued' AND not_before <= $2 \
             AND role IN ({}) ORDER BY priority DESC, created_at, id LIMIT ${}{lock}",
            placeholders.join(", "),
            open.len() + 3
        );
        let candidates = tx.query(&sql, params).await?;
        for row in &candidates {
            if claimed.len() >= free {
                break;
            }
            let task = task_from_row(row)?;
            let slots = room.get_mut(&task.role).expect("a role of the worker");
            if *slots <= 0 {
                continue;
            }
            *slots -= 1;
            let attempt = task.attempts + 1;
            let run = uuid::Uuid::new_v4().to_string();
            let lease = tx.now + task.timeouts.schedule_to_start_s * 1000;
            let assigned = tx.transition(&task, TaskEvent::Claim, None, Some(attempt)).await?;
            tx.execute("UPDATE tasks SET attempts = $3 WHERE tenant = $1 AND id = $2", vec![task.id.clone().into(), attempt.into()]).await?;
            tx.execute(
                "INSERT INTO runs (tenant, id, task, attempt, worker, state, created_at, lease_expires_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
                vec![run.clone().into(), task.id.clone().into(), attempt.into(), worker_id.into(), tx.now.into(), lease.into()],
            )
            .await?;
            claimed.push(Claimed { run, attempt, lease_expires_at: lease, task: Task { attempts: attempt, ..assigned } });
        }
        self.commit(tx).await?;
        Ok(claimed)
    }

    /// A run's heartbeat: the first starts it (and its task), each extends
    /// its lease. A run that is no longer live refuses it.
    pub async fn run_heartbeat(&self, tenant: &str, run_id: &str) -> Outcome<Run> {
        let mut tx = self.begin(tenant, "worker").await?;
        let (run, task) = tx.live_run(run_id).await?;
        let lease = tx.now + task.timeouts.heartbeat_s * 1000;
        if run.state == RunState::Pending {
            run_transition(run.state, RunEvent::Start)?;
            tx.set_run(&run, RunState::Running, "started_at = $4, heartbeat_at = $4, lease_expires_at = $5", vec![tx.now.into(), lease.into()]).await?;
            tx.transition(&task, TaskEvent::Start, None, Some(run.attempt)).await?;
        } else {
            tx.set_run(&run, RunState::Running, "heartbeat_at = $4, lease_expires_at = $5", vec![tx.now.into(), lease.into()]).await?;
        }
        let updated = tx.run(run_id).await?.ok_or_else(|| Denied::NotFound(run_id.to_owned()))?;
        self.commit(tx).await?;
        Ok(updated)
    }

    /// A run's completion, once. Success completes the task (or submits it
    /// for review); failure retries it within its budget after a backoff,
    /// or fails it and cancels what depends on it.
    #[allow(clippy::too_many_arguments)] // One completion's inputs, as the API takes them.
    pub async fn complete(
        &self,
        tenant: &str,
        run_id: &str,
        success: bool,
        result: Option<serde_json::Value>,
        error: Option<String>,
        retryable: bool,
        backoff: impl Fn(i64) -> std::time::Duration + Send,
    ) -> Outcome<Task> {
        let mut tx = self.begin(tenant, "worker").await?;
        let (run, mut task) = tx.live_run(run_id).await?;
        let to = if success { RunState::Success } else { RunState::Failure };
        run_transition(run.state, if success { RunEvent::Succeed } else { RunEvent::Fail })?;
        let result_text = result.as_ref().map(|r| r.to_string());
        tx.set_run(&run, to, "finished_at = $4, result = $5, error = $6", vec![tx.now.into(), result_text.clone().into(), error.clone().into()]).await?;
        tx.execute("UPDATE tasks SET result = $3 WHERE tenant = $1 AND id = $2", vec![task.id.clone().into(), result_text.into()]).await?;
        task.result = result.clone();
        if task.state == TaskState::Assigned {
            task = tx.transition(&task, TaskEvent::Start, None, Some(run.attempt)).await?;
        }
        if success {
            if task.review {
                tx.transition(&task, TaskEvent::Submit, None, Some(run.attempt)).await?;
            } else {
                tx.transition(&task, TaskEvent::Succeed, None, Some(run.attempt)).await?;
                tx.release_children(&task.id).await?;
            }
        } else {
            tx.retry_or_fail(&task, run.attempt, retryable, error.as_deref(), &backoff).await?;
        }
        let task = tx.task(&task.id).await?.ok_or_else(|| Denied::NotFound(task.id.clone()))?;
        self.commit(tx).await?;
        Ok(task)
    }

    /// The Reviewer's decision on a task in review, applied once per event.
    pub async fn review(&self, tenant: &str, event_id: &str, review: &events::ReviewCompleted) -> Outcome<()> {
        let mut tx = self.begin(tenant, "reviewer").await?;
        if !infra::events::Inbox::claim(&mut *tx.tx, "tasks-events", event_id, tx.now).await? {
            tx.tx.rollback().await?;
            return Ok(());
        }
        let task = tx.task(&review.task).await?.ok_or_else(|| Denied::NotFound(format!("no task {}", review.task)))?;
        let feedback = review.feedback.as_deref();
        match review.decision {
            events::ReviewDecision::Approve => {
                let approved = tx.transition(&task, TaskEvent::Approve, feedback, None).await?;
                tx.transition(&approved, TaskEvent::Complete, None, None).await?;
                tx.release_children(&task.id).await?;
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
}

impl Tx {
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

    async fn role_limit(&mut self, role: &str, defaults: &std::collections::BTreeMap<String, i64>) -> Result<i64, Error> {
        let rows = self.query("SELECT lim FROM role_limits WHERE tenant = $1 AND role = $2", vec![role.into()]).await?;
        match rows.first() {
            Some(row) => row.int("lim"),
            None => Ok(defaults.get(role).copied().unwrap_or(0)),
        }
    }

    /// The run, if it is live and its task is on that attempt; else why not.
    async fn live_run(&mut self, run_id: &str) -> Outcome<(Run, Task)> {
        let run = self.run(run_id).await?.ok_or_else(|| Denied::NotFound(format!("no run {run_id}")))?;
        if run.state.is_final() {
            return Err(Denied::Stale(format!("run {run_id} is {}; its heartbeat or completion is refused", run.state)));
        }
        let task = self.task(&run.task).await?.ok_or_else(|| Denied::NotFound(run.task.clone()))?;
        if task.attempts != run.attempt || !matches!(task.state, TaskState::Assigned | TaskState::InProgress) {
            return Err(Denied::Stale(format!("run {run_id} is attempt {} but task {} is {} on attempt {}", run.attempt, task.id, task.state, task.attempts)));
        }
        Ok((run, task))
    }

    /// Moves a live run to `to`, fenced on the state it was read in.
    async fn set_run(&mut self, run: &Run, to: RunState, sets: &str, extra: Vec<Value>) -> Outcome<()> {
        let mut params: Vec<Value> = vec![run.id.clone().into(), to.as_str().into()];
        params.extend(extra);
        params.push(run.state.as_str().into());
        let expected = params.len() + 1;
        let changed = self
            .execute(&format!("UPDATE runs SET state = $3, {sets} WHERE tenant = $1 AND id = $2 AND state = ${expected}"), params)
            .await?;
        if changed == 0 {
            return Err(Denied::Stale(format!("run {} changed meanwhile", run.id)));
        }
        Ok(())
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
        let to = task_transition(task.state, event)?;
        let changed = self
            .execute(
                "UPDATE tasks SET state = $3, updated_at = $4, reason = COALESCE($5, reason) WHERE tenant = $1 AND id = $2 AND state = $6",
                vec![task.id.clone().into(), to.as_str().into(), self.now.into(), reason.into(), task.state.as_str().into()],
            )
            .await?;
        if changed == 0 {
            return Err(Denied::Stale(format!("task {} changed meanwhile", task.id)));
        }
        let next = Task { state: to, updated_at: self.now, ..task.clone() };
        self.record(&next, Some(task.state), event.as_str(), reason, attempt).await?;
        Ok(next)
    }

    /// Writes the history row and stages the event for a task now in `task.state`.
    async fn record(&mut self, task: &Task, from: Option<TaskState>, event: &str, reason: Option<&str>, attempt: Option<i64>) -> Result<(), Error> {
        self.execute(
            "INSERT INTO task_history (tenant, task, n, from_state, event, to_state, actor, reason, at) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(n), 0) + 1 FROM task_history WHERE tenant = $1 AND task = $2), $3, $4, $5, $6, $7, $8)",
            vec![
                task.id.clone().into(),
                from.map(|s| s.as_str()).into(),
                event.into(),
                task.state.as_str().into(),
                self.actor.clone().into(),
                reason.into(),
                self.now.into(),
            ],
        )
        .await?;
        let transition = TaskTransition {
            task: task.id.clone(),
            title: task.title.clone(),
            role: task.role.clone(),
            from: from.map(|s| s.as_str().to_owned()),
            to: task.state.as_str().to_owned(),
            event: event.to_owned(),
            actor: self.actor.clone(),
            reason: reason.map(str::to_owned),
            attempt,
            result: task.result.clone(),
            acceptance_criteria: task.acceptance_criteria.clone(),
        };
        let envelope = announce(&self.tenant, from.is_none(), transition, self.now)?;
        let staged = Outbox::stage(&mut *self.tx, vec![envelope], self.now).await?;
        self.staged = std::mem::take(&mut self.staged).merge(staged);
        Ok(())
    }

    /// After `parent` completed: each blocked child whose parents have all
    /// completed is released, in this transaction.
    async fn release_children(&mut self, parent: &str) -> Outcome<()> {
        for child in self.children(parent).await? {
            let Some(task) = self.task(&child).await? else { continue };
            if task.state != TaskState::Blocked {
                continue;
            }
            let mut ready = true;
            for p in &task.depends_on {
                ready &= self.state_of(p).await? == Some(TaskState::Completed);
            }
            if ready {
                self.transition(&task, TaskEvent::Release, None, None).await?;
            }
        }
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
