//! Plans, their tasks' ids and the model calls on the database port. Every
//! state change stages its events in the same transaction, and every write
//! states the status it expects.

use std::collections::BTreeMap;
use std::sync::Arc;

use infra::Error;
use infra::db::{Database, Migration, Row, Value};
use infra::events::{Envelope, Inbox, Outbox, Staged};

pub fn migrations() -> Vec<Migration> {
    vec![Migration::portable(
        9001,
        "planner plans, plan tasks and model calls",
        "CREATE TABLE IF NOT EXISTS planner_plans (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            status TEXT NOT NULL,
            goal TEXT,
            request TEXT NOT NULL,
            auto_approve BOOLEAN NOT NULL,
            planner TEXT,
            fallback_reason TEXT,
            plan TEXT,
            analysis TEXT,
            error TEXT,
            created_at BIGINT NOT NULL,
            finished_at BIGINT,
            approved_at BIGINT,
            PRIMARY KEY (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS planner_plan_tasks (
            tenant TEXT NOT NULL,
            task_id TEXT NOT NULL,
            plan TEXT NOT NULL,
            task_key TEXT NOT NULL,
            PRIMARY KEY (tenant, task_id)
        );
        CREATE INDEX IF NOT EXISTS planner_plan_tasks_by_plan ON planner_plan_tasks (tenant, plan);
        CREATE TABLE IF NOT EXISTS planner_llm_calls (
            tenant TEXT NOT NULL,
            month TEXT NOT NULL,
            plan TEXT NOT NULL,
            at BIGINT NOT NULL,
            model TEXT NOT NULL,
            outcome TEXT NOT NULL,
            tokens_in BIGINT NOT NULL,
            tokens_out BIGINT NOT NULL,
            cost_usd DOUBLE PRECISION NOT NULL,
            latency_ms BIGINT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS planner_llm_calls_by_month ON planner_llm_calls (tenant, month);",
    )]
}

/// One plan as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanRow {
    pub id: String,
    /// `queued`, `ready`, `failed` or `approved`.
    pub status: String,
    pub goal: Option<String>,
    pub request: serde_json::Value,
    pub auto_approve: bool,
    pub planner: Option<String>,
    pub fallback_reason: Option<String>,
    pub plan: Option<serde_json::Value>,
    pub analysis: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub approved_at: Option<i64>,
}

/// A plan to queue.
#[derive(Clone, Copy, Debug)]
pub struct NewPlan<'a> {
    pub id: &'a str,
    pub goal: Option<&'a str>,
    pub request: &'a serde_json::Value,
    pub auto_approve: bool,
}

/// The consumer and the event id a delivery is claimed under (the inbox).
#[derive(Clone, Copy, Debug)]
pub struct Delivery<'a> {
    pub consumer: &'a str,
    pub event_id: &'a str,
}

/// How the worker ends a queued plan.
pub enum Finish {
    Ready {
        planner: String,
        fallback_reason: Option<String>,
        plan: serde_json::Value,
        analysis: serde_json::Value,
        /// With auto-approval: the Orchestrator's id for each task key.
        approved: Option<BTreeMap<String, String>>,
    },
    Failed {
        error: String,
    },
}

/// One model call, as metered.
#[derive(Clone, Debug, PartialEq)]
pub struct Call<'a> {
    pub plan: &'a str,
    pub model: &'a str,
    pub outcome: &'a str,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub latency_ms: i64,
}

/// A month of one tenant's model calls.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthUsage {
    pub month: String,
    pub calls: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_usd: f64,
    pub latency_ms: i64,
    pub outcomes: BTreeMap<String, i64>,
}

#[derive(Clone)]
pub struct PlanRepo {
    db: Arc<dyn Database>,
}

fn json_text(value: &serde_json::Value) -> Value {
    Value::Text(value.to_string())
}

fn optional_text(row: &Row, column: &str) -> Result<Option<String>, Error> {
    row.optional(column, |r, c| r.text(c).map(str::to_owned))
}

/// `YYYY-MM` of a Unix-milliseconds time, in UTC.
pub fn month_of(ms: i64) -> String {
    infra::time::rfc3339(ms)[..7].to_owned()
}

impl PlanRepo {
    pub fn new(db: Arc<dyn Database>) -> PlanRepo {
        PlanRepo { db }
    }

    pub async fn migrate(&self) -> Result<(), Error> {
        self.db.migrate(&migrations()).await.map(|_| ())
    }

    /// A queued plan and its `plan.requested`, together.
    pub async fn insert(
        &self,
        tenant: &str,
        new: &NewPlan<'_>,
        now: i64,
        requested: Envelope,
    ) -> Result<Staged, Error> {
        let NewPlan {
            id,
            goal,
            request,
            auto_approve,
        } = *new;
        let mut tx = self.db.begin().await?;
        tx.execute(
            "INSERT INTO planner_plans (tenant, id, status, goal, request, auto_approve, created_at) \
             VALUES ($1, $2, 'queued', $3, $4, $5, $6)",
            &[tenant.into(), id.into(), goal.map_or(Value::Null, Value::from), json_text(request), Value::Bool(auto_approve), Value::Int(now)],
        )
        .await?;
        let staged = Outbox::stage(&mut *tx, vec![requested], now).await?;
        tx.commit().await?;
        Ok(staged)
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<PlanRow>, Error> {
        let rows = self
            .db
            .query(
                "SELECT id, status, goal, request, auto_approve, planner, fallback_reason, plan, analysis, error, \
                 created_at, finished_at, approved_at FROM planner_plans WHERE tenant = $1 AND id = $2",
                &[tenant.into(), id.into()],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(PlanRow {
            id: row.text("id")?.to_owned(),
            status: row.text("status")?.to_owned(),
            goal: optional_text(row, "goal")?,
            request: row.json("request")?,
            auto_approve: row.bool("auto_approve")?,
            planner: optional_text(row, "planner")?,
            fallback_reason: optional_text(row, "fallback_reason")?,
            plan: row.optional("plan", Row::json)?,
            analysis: row.optional("analysis", Row::json)?,
            error: optional_text(row, "error")?,
            created_at: row.int("created_at")?,
            finished_at: row.optional("finished_at", Row::int)?,
            approved_at: row.optional("approved_at", Row::int)?,
        }))
    }

    /// Ends a queued plan once per delivered request (the inbox), with its
    /// events. `None` when the delivery was handled before or the plan is
    /// no longer queued.
    pub async fn finish(
        &self,
        tenant: &str,
        id: &str,
        delivery: Delivery<'_>,
        finish: Finish,
        now: i64,
        events: Vec<Envelope>,
    ) -> Result<Option<Staged>, Error> {
        let mut tx = self.db.begin().await?;
        if !Inbox::claim(&mut *tx, delivery.consumer, delivery.event_id, now).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let updated = match &finish {
            Finish::Ready {
                planner,
                fallback_reason,
                plan,
                analysis,
                approved,
            } => {
                let status = if approved.is_some() {
                    "approved"
                } else {
                    "ready"
                };
                tx.execute(
                    "UPDATE planner_plans SET status = $3, planner = $4, fallback_reason = $5, plan = $6, analysis = $7, \
                     finished_at = $8, approved_at = $9 WHERE tenant = $1 AND id = $2 AND status = 'queued'",
                    &[
                        tenant.into(),
                        id.into(),
                        status.into(),
                        planner.as_str().into(),
                        fallback_reason.as_deref().map_or(Value::Null, Value::from),
                        json_text(plan),
                        json_text(analysis),
                        Value::Int(now),
                        if approved.is_some() { Value::Int(now) } else { Value::Null },
                    ],
                )
                .await?
            }
            Finish::Failed { error } => {
                tx.execute(
                    "UPDATE planner_plans SET status = 'failed', error = $3, finished_at = $4 \
                     WHERE tenant = $1 AND id = $2 AND status = 'queued'",
                    &[
                        tenant.into(),
                        id.into(),
                        error.as_str().into(),
                        Value::Int(now),
                    ],
                )
                .await?
            }
        };
        if updated == 0 {
            tx.commit().await?;
            return Ok(None);
        }
        if let Finish::Ready {
            approved: Some(ids),
            ..
        } = &finish
        {
            insert_tasks(&mut *tx, tenant, id, ids).await?;
        }
        let staged = Outbox::stage(&mut *tx, events, now).await?;
        tx.commit().await?;
        Ok(Some(staged))
    }

    /// Approves a ready plan with its `plan.created`; `false` when the plan
    /// is not `ready` (any more).
    pub async fn approve(
        &self,
        tenant: &str,
        id: &str,
        ids: &BTreeMap<String, String>,
        now: i64,
        created: Envelope,
    ) -> Result<Option<Staged>, Error> {
        let mut tx = self.db.begin().await?;
        let updated = tx
            .execute(
                "UPDATE planner_plans SET status = 'approved', approved_at = $3 WHERE tenant = $1 AND id = $2 AND status = 'ready'",
                &[tenant.into(), id.into(), Value::Int(now)],
            )
            .await?;
        if updated == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        insert_tasks(&mut *tx, tenant, id, ids).await?;
        let staged = Outbox::stage(&mut *tx, vec![created], now).await?;
        tx.commit().await?;
        Ok(Some(staged))
    }

    /// The Orchestrator's task ids of an approved plan, by key.
    pub async fn task_ids(
        &self,
        tenant: &str,
        plan: &str,
    ) -> Result<BTreeMap<String, String>, Error> {
        let rows = self
            .db
            .query(
                "SELECT task_key, task_id FROM planner_plan_tasks WHERE tenant = $1 AND plan = $2",
                &[tenant.into(), plan.into()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.text("task_key")?.to_owned(),
                    row.text("task_id")?.to_owned(),
                ))
            })
            .collect()
    }

    /// The plan and key of one of the Orchestrator's tasks, if a plan made it.
    pub async fn plan_task(
        &self,
        tenant: &str,
        task_id: &str,
    ) -> Result<Option<(String, String)>, Error> {
        let rows = self
            .db
            .query(
                "SELECT plan, task_key FROM planner_plan_tasks WHERE tenant = $1 AND task_id = $2",
                &[tenant.into(), task_id.into()],
            )
            .await?;
        rows.first()
            .map(|row| {
                Ok((
                    row.text("plan")?.to_owned(),
                    row.text("task_key")?.to_owned(),
                ))
            })
            .transpose()
    }

    /// Stages an event once per delivery (the inbox); `None` on a redelivery.
    pub async fn announce_once(
        &self,
        consumer: &str,
        event_id: &str,
        now: i64,
        event: Envelope,
    ) -> Result<Option<Staged>, Error> {
        let mut tx = self.db.begin().await?;
        if !Inbox::claim(&mut *tx, consumer, event_id, now).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let staged = Outbox::stage(&mut *tx, vec![event], now).await?;
        tx.commit().await?;
        Ok(Some(staged))
    }

    pub async fn record_call(&self, tenant: &str, call: &Call<'_>, now: i64) -> Result<(), Error> {
        self.db
            .execute(
                "INSERT INTO planner_llm_calls (tenant, month, plan, at, model, outcome, tokens_in, tokens_out, cost_usd, latency_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    tenant.into(),
                    month_of(now).into(),
                    call.plan.into(),
                    Value::Int(now),
                    call.model.into(),
                    call.outcome.into(),
                    Value::Int(i64::try_from(call.tokens_in).unwrap_or(i64::MAX)),
                    Value::Int(i64::try_from(call.tokens_out).unwrap_or(i64::MAX)),
                    Value::Float(call.cost_usd),
                    Value::Int(call.latency_ms),
                ],
            )
            .await
            .map(|_| ())
    }

    /// What the tenant's model calls cost in `month`.
    pub async fn month_cost(&self, tenant: &str, month: &str) -> Result<f64, Error> {
        let rows = self
            .db
            .query("SELECT SUM(cost_usd) AS cost FROM planner_llm_calls WHERE tenant = $1 AND month = $2", &[tenant.into(), month.into()])
            .await?;
        match rows.first() {
            Some(row) if !row.is_null("cost")? => row.float("cost"),
            _ => Ok(0.0),
        }
    }

    /// The tenant's usage per month, newest first.
    pub async fn usage(&self, tenant: &str) -> Result<Vec<MonthUsage>, Error> {
        let rows = self
            .db
            .query(
                "SELECT month, outcome, COUNT(*) AS calls, CAST(SUM(tokens_in) AS BIGINT) AS tokens_in, \
                 CAST(SUM(tokens_out) AS BIGINT) AS tokens_out, SUM(cost_usd) AS cost, CAST(SUM(latency_ms) AS BIGINT) AS latency FROM planner_llm_calls WHERE tenant = $1 \
                 GROUP BY month, outcome ORDER BY month DESC, outcome",
                &[tenant.into()],
            )
            .await?;
        let mut months: Vec<MonthUsage> = Vec::new();
        for row in &rows {
            let month = row.text("month")?;
            let calls = row.int("calls")?;
            let (tokens_in, tokens_out, cost, latency) = (
                row.int("tokens_in")?,
                row.int("tokens_out")?,
                row.float("cost")?,
                row.int("latency")?,
            );
            let outcome = row.text("outcome")?.to_owned();
            match months.last_mut() {
                Some(entry) if entry.month == month => {
                    entry.calls += calls;
                    entry.tokens_in += tokens_in;
                    entry.tokens_out += tokens_out;
                    entry.cost_usd += cost;
                    entry.latency_ms += latency;
                    entry.outcomes.insert(outcome, calls);
                }
                _ => months.push(MonthUsage {
                    month: month.to_owned(),
                    calls,
                    tokens_in,
                    tokens_out,
                    cost_usd: cost,
                    latency_ms: latency,
                    outcomes: BTreeMap::from([(outcome, calls)]),
                }),
            }
        }
        Ok(months)
    }
}

async fn insert_tasks(
    tx: &mut dyn infra::db::Transaction,
    tenant: &str,
    plan: &str,
    ids: &BTreeMap<String, String>,
) -> Result<(), Error> {
    for (key, task_id) in ids {
        tx.execute(
            "INSERT INTO planner_plan_tasks (tenant, task_id, plan, task_key) VALUES ($1, $2, $3, $4)",
            &[tenant.into(), task_id.as_str().into(), plan.into(), key.as_str().into()],
        )
        .await?;
    }
    Ok(())
}
