//! Reviews and webhook deliveries on the database port. Every state change
//! stages its event in the same transaction.

use std::sync::Arc;

use infra::Error;
use infra::db::{Database, Migration, Value};
use infra::events::{Envelope, Inbox, Outbox, Staged};

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
    Migration::portable(
        7002,
        "guardian uploads",
        "CREATE TABLE IF NOT EXISTS guardian_uploads (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            files BIGINT NOT NULL,
            bytes BIGINT NOT NULL,
            parts BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant, id)
        );",
    )]
}

/// An upload's totals over its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRow {
    pub files: u64,
    pub bytes: u64,
    pub parts: u64,
}

fn upload_row(row: &infra::db::Row) -> Result<UploadRow, Error> {
    let int = |name: &str| row.int(name).map(|n| u64::try_from(n).unwrap_or(0));
    Ok(UploadRow { files: int("files")?, bytes: int("bytes")?, parts: int("parts")? })
}

fn count(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
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

    /// A new upload holding its first part.
    pub async fn create_upload(&self, tenant: &str, id: &str, files: u64, bytes: u64, now: i64) -> Result<(), Error> {
        self.db
            .execute(
                "INSERT INTO guardian_uploads (tenant, id, files, bytes, parts, created_at) VALUES ($1, $2, $3, $4, 1, $5)",
                &[tenant.into(), id.into(), count(files), count(bytes), Value::Int(now)],
            )
            .await
            .map(|_| ())
    }

    pub async fn upload(&self, tenant: &str, id: &str) -> Result<Option<UploadRow>, Error> {
        let rows = self
            .db
            .query("SELECT files, bytes, parts FROM guardian_uploads WHERE tenant = $1 AND id = $2", &[tenant.into(), id.into()])
            .await?;
        rows.first().map(upload_row).transpose()
    }

    /// Reserves the next part of an upload, within the limits, in one
    /// statement so that concurrent parts get distinct numbers. `None` when
    /// the part would take the upload over a limit (or it does not exist).
    pub async fn add_upload_part(
        &self,
        tenant: &str,
        id: &str,
        files: u64,
        bytes: u64,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Option<UploadRow>, Error> {
        let mut tx = self.db.begin().await?;
        let updated = tx
            .execute(
                "UPDATE guardian_uploads SET files = files + $3, bytes = bytes + $4, parts = parts + 1 \
                 WHERE tenant = $1 AND id = $2 AND files + $3 <= $5 AND bytes + $4 <= $6",
                &[tenant.into(), id.into(), count(files), count(bytes), count(max_files), count(max_bytes)],
            )
            .await?;
        if updated == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let rows = tx
            .query("SELECT files, bytes, parts FROM guardian_uploads WHERE tenant = $1 AND id = $2", &[tenant.into(), id.into()])
            .await?;
        tx.commit().await?;
        rows.first().map(upload_row).transpose()
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
