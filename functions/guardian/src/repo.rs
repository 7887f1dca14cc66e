//! Reviews and webhook deliveries on the database port. Every state change
//! stages its event in the same transaction.

use std::sync::Arc;

use infra::Error;
use infra::db::{Database, Migration, Value};
use infra::events::{Envelope, Inbox, Outbox, Staged};

/// The table of uploads ([`infra::uploads`]).
pub const UPLOADS_TABLE: &str = "guardian_uploads";

pub fn migrations() -> Vec<Migration> {
    vec![Migration::portable(
        7001,
        "guardian reviews and webhook deliveries",
        "CREATE TABLE IF NOT EXISTS guardian_reviews (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            status TEXT NOT NULL,
            source TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            finished_at BIGINT,
            findings BIGINT,
            failed_gate BOOLEAN,
            error TEXT,
            PRIMARY KEY (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS guardian_deliveries (
            delivery TEXT PRIMARY KEY,
            received_at BIGINT NOT NULL
        );",
    ),
    infra::uploads::migration(7002, "guardian uploads", UPLOADS_TABLE)]
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewRow {
    pub id: String,
    pub status: String,
    pub source: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

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

    /// A queued review and its `code.analysis_requested`, together.
    pub async fn insert(&self, tenant: &str, id: &str, source: &str, now: i64, request: Envelope) -> Result<Staged, Error> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "INSERT INTO guardian_reviews (tenant, id, status, source, created_at) VALUES ($1, $2, 'queued', $3, $4)",
            &[tenant.into(), id.into(), source.into(), Value::Int(now)],
        )
        .await?;
        let staged = Outbox::stage(&mut *tx, vec![request], now).await?;
        tx.commit().await?;
        Ok(staged)
    }

    /// Records a webhook delivery id; false when it was seen before.
    pub async fn first_delivery(&self, delivery: &str, now: i64) -> Result<bool, Error> {
        let mut tx = self.db.begin().await?;
        let seen = tx.query("SELECT delivery FROM guardian_deliveries WHERE delivery = $1", &[delivery.into()]).await?;
        if !seen.is_empty() {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.execute("INSERT INTO guardian_deliveries (delivery, received_at) VALUES ($1, $2)", &[delivery.into(), Value::Int(now)])
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<ReviewRow>, Error> {
        let rows = self
            .db
            .query(
                "SELECT id, status, source, created_at, finished_at, error FROM guardian_reviews WHERE tenant = $1 AND id = $2",
                &[tenant.into(), id.into()],
            )
            .await?;
        let Some(row) = rows.first() else { return Ok(None) };
        Ok(Some(ReviewRow {
            id: row.text("id")?.to_owned(),
            status: row.text("status")?.to_owned(),
            source: row.text("source")?.to_owned(),
            created_at: row.int("created_at")?,
            finished_at: if row.is_null("finished_at")? { None } else { Some(row.int("finished_at")?) },
            error: if row.is_null("error")? { None } else { Some(row.text("error")?.to_owned()) },
        }))
    }

    /// Finishes a review once per delivered request (the inbox), with its
    /// `code.analysis_completed`. `None` when the delivery was handled before.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish(
        &self,
        tenant: &str,
        id: &str,
        consumer: &str,
        event_id: &str,
        status: &str,
        findings: i64,
        failed_gate: bool,
        error: Option<&str>,
        now: i64,
        completed: Envelope,
    ) -> Result<Option<Staged>, Error> {
        let mut tx = self.db.begin().await?;
        if !Inbox::claim(&mut *tx, consumer, event_id, now).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        // A review requested over the bus alone has no row yet: upsert.
        let updated = tx
            .execute(
                "UPDATE guardian_reviews SET status = $3, finished_at = $4, findings = $5, failed_gate = $6, error = $7 \
                 WHERE tenant = $1 AND id = $2",
                &[
                    tenant.into(),
                    id.into(),
                    status.into(),
                    Value::Int(now),
                    Value::Int(findings),
                    Value::Bool(failed_gate),
                    error.map_or(Value::Null, Value::from),
                ],
            )
            .await?;
        if updated == 0 {
            tx.execute(
                "INSERT INTO guardian_reviews (tenant, id, status, source, created_at, finished_at, findings, failed_gate, error) \
                 VALUES ($1, $2, $3, 'bus', $4, $4, $5, $6, $7)",
                &[
                    tenant.into(),
                    id.into(),
                    status.into(),
                    Value::Int(now),
                    Value::Int(findings),
                    Value::Bool(failed_gate),
                    error.map_or(Value::Null, Value::from),
                ],
            )
            .await?;
        }
        let staged = Outbox::stage(&mut *tx, vec![completed], now).await?;
        tx.commit().await?;
        Ok(Some(staged))
    }
}
