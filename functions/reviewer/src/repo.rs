//! Reviews on the database port. A review moves `requested → analysing`
//! when its analysis is requested, then to `scored` (Guardian answered) or
//! `escalated` (Guardian failed or timed out, or the submission could not
//! be reviewed). Every write states the state it expects, and stages its
//! event in the same transaction.

use std::sync::Arc;

use infra::Error;
use infra::db::{Database, Migration, Row, Transaction, Value};
use infra::events::{Envelope, Inbox, Outbox, Staged};
use schemars::JsonSchema;
use serde::Serialize;

pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::portable(
            8101,
            "reviewer reviews",
            "CREATE TABLE IF NOT EXISTS reviewer_reviews (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            task_id TEXT,
            title TEXT NOT NULL,
            criteria TEXT NOT NULL,
            source TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            deadline_at BIGINT NOT NULL,
            decision TEXT,
            score DOUBLE PRECISION,
            confidence DOUBLE PRECISION,
            reason TEXT,
            judgement TEXT,
            PRIMARY KEY (tenant, id)
        );
        CREATE INDEX IF NOT EXISTS reviewer_reviews_task ON reviewer_reviews (tenant, task_id, created_at);
        CREATE INDEX IF NOT EXISTS reviewer_reviews_deadline ON reviewer_reviews (state, deadline_at);",
        ),
        Migration::portable(
            8102,
            "reviewer model calls",
            "CREATE TABLE IF NOT EXISTS reviewer_llm_calls (
            tenant TEXT NOT NULL,
            review TEXT NOT NULL,
            month TEXT NOT NULL,
            at BIGINT NOT NULL,
            outcome TEXT NOT NULL,
            tokens_in BIGINT NOT NULL,
            tokens_out BIGINT NOT NULL,
            cost_usd DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX IF NOT EXISTS reviewer_llm_calls_month ON reviewer_llm_calls (tenant, month);",
        ),
        infra::uploads::migration(8103, "reviewer uploads", UPLOADS_TABLE),
        Migration::portable(
            8104,
            "reviewer per-tenant configurations",
            "CREATE TABLE IF NOT EXISTS reviewer_configs (
            tenant TEXT NOT NULL,
            version BIGINT NOT NULL,
            overrides TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant, version)
        );",
        ),
    ]
}

/// The table of uploads ([`infra::uploads`]).
pub const UPLOADS_TABLE: &str = "reviewer_uploads";

/// One call to the model, for the tenant's monthly budget.
pub struct LlmCall<'a> {
    pub review: &'a str,
    pub outcome: &'a str,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

/// The states of a review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "ReviewState")]
pub enum State {
    Requested,
    Analysing,
    Scored,
    Escalated,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Requested => "requested",
            State::Analysing => "analysing",
            State::Scored => "scored",
            State::Escalated => "escalated",
        }
    }

    fn parse(text: &str) -> Result<State, Error> {
        [State::Requested, State::Analysing, State::Scored, State::Escalated]
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| Error::invalid("reviewer_reviews.state", format!("unknown state {text:?}")))
    }

    /// The transitions a review may take.
    pub fn may_become(self, next: State) -> bool {
        matches!(
            (self, next),
            (State::Requested, State::Analysing) | (State::Requested, State::Escalated) | (State::Analysing, State::Scored | State::Escalated)
        )
    }
}

/// A review's row.
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewRow {
    pub id: String,
    pub task_id: Option<String>,
    pub title: String,
    pub criteria: Vec<String>,
    pub source: String,
    pub state: State,
    pub created_at: i64,
    pub updated_at: i64,
    pub deadline_at: i64,
    pub decision: Option<String>,
    pub score: Option<f64>,
    pub confidence: Option<f64>,
    pub reason: Option<String>,
    /// The stored review document (judgement, reviewer), once it ended.
    pub judgement: Option<serde_json::Value>,
}

/// A tenant's configuration as set through the API: its overrides of the
/// standard one, and its version.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigRow {
    pub version: i64,
    pub overrides: serde_json::Value,
    pub created_at: i64,
}

/// A new review, before it is written.
pub struct NewReview<'a> {
    pub tenant: &'a str,
    pub id: &'a str,
    pub task_id: Option<&'a str>,
    pub title: &'a str,
    pub criteria: &'a [String],
    pub source: &'a str,
    pub now: i64,
    pub deadline_at: i64,
}

/// How a review ended.
pub struct Ending<'a> {
    pub state: State,
    pub decision: &'a str,
    pub score: f64,
    pub confidence: f64,
    pub reason: Option<&'a str>,
    pub judgement: &'a serde_json::Value,
}

const COLUMNS: &str =
    "id, task_id, title, criteria, source, state, created_at, updated_at, deadline_at, decision, score, confidence, reason, judgement";

#[derive(Clone)]
pub struct ReviewRepo {
    db: Arc<dyn Database>,
}

impl ReviewRepo {
    pub fn new(db: Arc<dyn Database>) -> ReviewRepo {
        ReviewRepo { db }
    }

    pub async fn migrate(&self) -> Result<(), Error> {
        self.db.migrate(&migrations()).await.map(|_| ())
    }

    /// Writes a review as `requested` and moves it to `analysing` with its
    /// `code.analysis_requested`, in one transaction; with `inbox`, only
    /// once per delivered event (`None` for a redelivery).
    pub async fn request(&self, review: NewReview<'_>, inbox: Option<(&str, &str)>, analysis: Envelope) -> Result<Option<Staged>, Error> {
        let mut tx = self.db.begin().await?;
        if let Some((consumer, event_id)) = inbox
            && !Inbox::claim(&mut *tx, consumer, event_id, review.now).await?
        {
            tx.rollback().await?;
            return Ok(None);
        }
        insert(&mut *tx, &review).await?;
        transition(&mut *tx, review.tenant, review.id, State::Requested, State::Analysing, review.now).await?;
        let staged = Outbox::stage(&mut *tx, vec![analysis], review.now).await?;
        tx.commit().await?;
        Ok(Some(staged))
    }

    /// A review that cannot be analysed at all (the submission is unusable):
    /// written and escalated at once, with its `review.completed`.
    pub async fn reject_request(
        &self,
        review: NewReview<'_>,
        inbox: (&str, &str),
        ending: Ending<'_>,
        completed: Vec<Envelope>,
    ) -> Result<Option<Staged>, Error> {
        let mut tx = self.db.begin().await?;
        if !Inbox::claim(&mut *tx, inbox.0, inbox.1, review.now).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        insert(&mut *tx, &review).await?;
        end(&mut *tx, review.tenant, review.id, State::Requested, &ending, review.now).await?;
        let staged = Outbox::stage(&mut *tx, completed, review.now).await?;
        tx.commit().await?;
        Ok(Some(staged))
    }

    /// Ends an `analysing` review, once per delivered event when `inbox` is
    /// given. `None` when the event was handled before or the review had
    /// already ended (the sweep came first).
    pub async fn finish(
        &self,
        tenant: &str,
        id: &str,
        inbox: Option<(&str, &str)>,
        ending: Ending<'_>,
        completed: Vec<Envelope>,
        now: i64,
    ) -> Result<Option<Staged>, Error> {
        let mut tx = self.db.begin().await?;
        if let Some((consumer, event_id)) = inbox
            && !Inbox::claim(&mut *tx, consumer, event_id, now).await?
        {
            tx.rollback().await?;
            return Ok(None);
        }
        if !end(&mut *tx, tenant, id, State::Analysing, &ending, now).await? {
            // Commit anyway with an inbox, so the event is not retried.
            if inbox.is_some() {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            return Ok(None);
        }
        let staged = Outbox::stage(&mut *tx, completed, now).await?;
        tx.commit().await?;
        Ok(Some(staged))
    }

    /// Records an event as handled with nothing to do (an analysis that is
    /// not one of ours).
    pub async fn skip(&self, consumer: &str, event_id: &str, now: i64) -> Result<(), Error> {
        let mut tx = self.db.begin().await?;
        Inbox::claim(&mut *tx, consumer, event_id, now).await?;
        tx.commit().await
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<ReviewRow>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM reviewer_reviews WHERE tenant = $1 AND id = $2");
        let rows = self.db.query(&sql, &[tenant.into(), id.into()]).await?;
        rows.first().map(row_to_review).transpose()
    }

    /// A tenant's reviews, newest first; of one task when `task_id` is given.
    pub async fn list(&self, tenant: &str, task_id: Option<&str>, limit: i64) -> Result<Vec<ReviewRow>, Error> {
        let rows = match task_id {
            Some(task) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM reviewer_reviews WHERE tenant = $1 AND task_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3"
                );
                self.db.query(&sql, &[tenant.into(), task.into(), Value::Int(limit)]).await?
            }
            None => {
                let sql = format!("SELECT {COLUMNS} FROM reviewer_reviews WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT $2");
                self.db.query(&sql, &[tenant.into(), Value::Int(limit)]).await?
            }
        };
        rows.iter().map(row_to_review).collect()
    }

    /// What the tenant's model calls cost in `month` (`YYYY-MM`), in US dollars.
    pub async fn llm_spent(&self, tenant: &str, month: &str) -> Result<f64, Error> {
        let rows = self
            .db
            .query("SELECT COALESCE(SUM(cost_usd), 0.0) AS spent FROM reviewer_llm_calls WHERE tenant = $1 AND month = $2", &[
                tenant.into(),
                month.into(),
            ])
            .await?;
        rows.first().map_or(Ok(0.0), |row| row.float("spent"))
    }

    pub async fn record_llm_call(&self, tenant: &str, month: &str, call: &LlmCall<'_>, now: i64) -> Result<(), Error> {
        self.db
            .execute(
                "INSERT INTO reviewer_llm_calls (tenant, review, month, at, outcome, tokens_in, tokens_out, cost_usd) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    tenant.into(),
                    call.review.into(),
                    month.into(),
                    Value::Int(now),
                    call.outcome.into(),
                    Value::Int(i64::try_from(call.tokens_in).unwrap_or(i64::MAX)),
                    Value::Int(i64::try_from(call.tokens_out).unwrap_or(i64::MAX)),
                    Value::Float(call.cost_usd),
                ],
            )
            .await?;
        Ok(())
    }

    /// The tenant's latest configuration set through the API.
    pub async fn config(&self, tenant: &str) -> Result<Option<ConfigRow>, Error> {
        let rows = self
            .db
            .query(
                "SELECT version, overrides, created_at FROM reviewer_configs WHERE tenant = $1 ORDER BY version DESC LIMIT 1",
                &[tenant.into()],
            )
            .await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let overrides =
            serde_json::from_str(row.text("overrides")?).map_err(|e| Error::invalid("reviewer_configs.overrides", e.to_string()))?;
        Ok(Some(ConfigRow { version: row.int("version")?, overrides, created_at: row.int("created_at")? }))
    }

    /// Records the tenant's overrides as its next version, which it
    /// returns. Versions are never rewritten; two changes at once are a
    /// conflict on the version for one of them.
    pub async fn set_config(&self, tenant: &str, overrides: &serde_json::Value, now: i64) -> Result<i64, Error> {
        let mut tx = self.db.begin().await?;
        let rows = tx
            .query("SELECT COALESCE(MAX(version), 0) AS version FROM reviewer_configs WHERE tenant = $1", &[tenant.into()])
            .await?;
        let version = rows.first().map_or(Ok(0), |row| row.int("version"))? + 1;
        tx.execute(
            "INSERT INTO reviewer_configs (tenant, version, overrides, created_at) VALUES ($1, $2, $3, $4)",
            &[tenant.into(), Value::Int(version), overrides.to_string().into(), Value::Int(now)],
        )
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// `(tenant, id)` of reviews still analysing past their deadline.
    pub async fn overdue(&self, now: i64, limit: i64) -> Result<Vec<(String, String)>, Error> {
        let rows = self
            .db
            .query(
                "SELECT tenant, id FROM reviewer_reviews WHERE state = 'analysing' AND deadline_at < $1 ORDER BY deadline_at LIMIT $2",
                &[Value::Int(now), Value::Int(limit)],
            )
            .await?;
        rows.iter().map(|r| Ok((r.text("tenant")?.to_owned(), r.text("id")?.to_owned()))).collect()
    }
}

async fn insert(tx: &mut dyn Transaction, review: &NewReview<'_>) -> Result<(), Error> {
    let criteria = serde_json::to_string(review.criteria).map_err(|e| Error::invalid("criteria", e.to_string()))?;
    tx.execute(
        "INSERT INTO reviewer_reviews (tenant, id, task_id, title, criteria, source, state, created_at, updated_at, deadline_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $7, $8)",
        &[
            review.tenant.into(),
            review.id.into(),
            review.task_id.map_or(Value::Null, Value::from),
            review.title.into(),
            criteria.into(),
            review.source.into(),
            Value::Int(review.now),
            Value::Int(review.deadline_at),
        ],
    )
    .await?;
    Ok(())
}

async fn transition(tx: &mut dyn Transaction, tenant: &str, id: &str, from: State, to: State, now: i64) -> Result<bool, Error> {
    debug_assert!(from.may_become(to));
    let changed = tx
        .execute(
            "UPDATE reviewer_reviews SET state = $3, updated_at = $4 WHERE tenant = $1 AND id = $2 AND state = $5",
            &[tenant.into(), id.into(), to.as_str().into(), Value::Int(now), from.as_str().into()],
        )
        .await?;
    Ok(changed == 1)
}

async fn end(tx: &mut dyn Transaction, tenant: &str, id: &str, from: State, ending: &Ending<'_>, now: i64) -> Result<bool, Error> {
    debug_assert!(from.may_become(ending.state));
    let changed = tx
        .execute(
            "UPDATE reviewer_reviews SET state = $3, updated_at = $4, decision = $5, score = $6, confidence = $7, reason = $8, judgement = $9 \
             WHERE tenant = $1 AND id = $2 AND state = $10",
            &[
                tenant.into(),
                id.into(),
                ending.state.as_str().into(),
                Value::Int(now),
                ending.decision.into(),
                Value::Float(ending.score),
                Value::Float(ending.confidence),
                ending.reason.map_or(Value::Null, Value::from),
                ending.judgement.to_string().into(),
                from.as_str().into(),
            ],
        )
        .await?;
    Ok(changed == 1)
}

fn row_to_review(row: &Row) -> Result<ReviewRow, Error> {
    let criteria: Vec<String> =
        serde_json::from_str(row.text("criteria")?).map_err(|e| Error::invalid("reviewer_reviews.criteria", e.to_string()))?;
    let judgement = row
        .optional("judgement", Row::text)?
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| Error::invalid("reviewer_reviews.judgement", e.to_string()))?;
    Ok(ReviewRow {
        id: row.text("id")?.to_owned(),
        task_id: row.optional("task_id", Row::text)?.map(str::to_owned),
        title: row.text("title")?.to_owned(),
        criteria,
        source: row.text("source")?.to_owned(),
        state: State::parse(row.text("state")?)?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        deadline_at: row.int("deadline_at")?,
        decision: row.optional("decision", Row::text)?.map(str::to_owned),
        score: row.optional("score", Row::float)?,
        confidence: row.optional("confidence", Row::float)?,
        reason: row.optional("reason", Row::text)?.map(str::to_owned),
        judgement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine() {
        use State::*;
        let all = [Requested, Analysing, Scored, Escalated];
        let allowed: Vec<(State, State)> = all.iter().flat_map(|a| all.iter().map(move |b| (*a, *b))).filter(|(a, b)| a.may_become(*b)).collect();
        assert_eq!(allowed, vec![(Requested, Analysing), (Requested, Escalated), (Analysing, Scored), (Analysing, Escalated)]);
    }
}
