//! The transactional outbox, and the consumers' inbox.
//!
//! A state change and the events it announces commit together or not at
//! all: [`Outbox::stage`] writes the envelopes into the `outbox` table in
//! the caller's transaction. After the commit, [`Outbox::relay`] publishes
//! them and marks them sent; if the process dies first, or the broker is
//! down, they stay unsent and [`Outbox::sweep`] (a scheduled function)
//! publishes them later, oldest first. An event of a rolled-back
//! transaction was never written, so it is never published. The broker
//! being down therefore never fails the user's request.
//!
//! Publishing is at least once (the relay and a sweep can both publish an
//! event whose mark was lost), so consumers are idempotent by event id:
//! [`Inbox::claim`] records the id in the consumer's own transaction, so a
//! redelivery never applies twice, whatever happened to any cache.
//!
//! The outbox doubles as the tenant's recent event log (`GET /v1/events`):
//! sent rows are kept for the retention period, then deleted by the sweep.

use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::bus::Bus;
use crate::db::{Database, Migration, Row, Transaction, Value};
use crate::events::{Envelope, EventName};

/// Versions in the 1000s belong to `shared/infra`.
pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::per_dialect(1001, "outbox", &outbox_table("BIGSERIAL PRIMARY KEY"), &outbox_table("INTEGER PRIMARY KEY AUTOINCREMENT")),
        Migration::portable(
            1002,
            "inbox",
            "CREATE TABLE IF NOT EXISTS inbox (
                consumer TEXT NOT NULL,
                event_id TEXT NOT NULL,
                received_at BIGINT NOT NULL,
                PRIMARY KEY (consumer, event_id)
            );
            CREATE INDEX IF NOT EXISTS inbox_received ON inbox (received_at);",
        ),
    ]
}

/// The outbox table; the dialects differ only in how `seq` counts up.
fn outbox_table(seq: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS outbox (
                seq {seq},
                id TEXT NOT NULL UNIQUE,
                tenant TEXT,
                type TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                sent_at BIGINT,
                attempts BIGINT NOT NULL DEFAULT 0,
                envelope TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
            CREATE INDEX IF NOT EXISTS outbox_tenant ON outbox (tenant, seq);
            CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at);"
    )
}

#[derive(Clone, Debug)]
pub struct OutboxSettings {
    /// Publish right after the commit. Off only in fault tests, to play a
    /// relay that died between commit and publish.
    pub inline_relay: bool,
    /// The sweep leaves events younger than this to the inline relay.
    pub sweep_after: Duration,
    /// Sent events are listed for this long, then deleted.
    pub retention: Duration,
    /// The listing shows only events at least this old. A sequence number
    /// is taken at insert, not commit, so a younger row could still be
    /// joined by an older number committing late, and a reader past it
    /// would miss that event.
    pub settle: Duration,
}

impl OutboxSettings {
    /// What the platform runs with.
    pub fn standard(retention: Duration) -> OutboxSettings {
        OutboxSettings {
            inline_relay: true,
            sweep_after: Duration::from_secs(5),
            retention,
            settle: Duration::from_millis(500),
        }
    }
}

/// Inbox ids outlive the longest a message can wait on a queue (SQS keeps
/// one up to 14 days), so no redelivery is ever mistaken for new.
const INBOX_RETENTION: Duration = Duration::from_secs(15 * 24 * 3600);
/// Envelopes per INSERT: five parameters each, far below either
/// database's parameter limit.
const STAGE_CHUNK: usize = 100;
/// Unsent events one sweep publishes at most.
const SWEEP_BATCH: i64 = 500;

/// Events written in a transaction, to relay once it committed.
#[must_use = "relay the staged events after the commit"]
#[derive(Debug, Default)]
pub struct Staged(Vec<Envelope>);

impl Staged {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn merge(mut self, other: Staged) -> Staged {
        self.0.extend(other.0);
        self
    }
}

/// One event as the outbox keeps it; `seq` orders a tenant's events and is
/// the listing's cursor and the stream's event id.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub seq: i64,
    pub envelope: Envelope,
    pub sent: bool,
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub published: usize,
    /// Left unsent because the bus failed; the next sweep tries again.
    pub unsent: usize,
    pub expired: u64,
}

#[derive(Clone)]
pub struct Outbox {
    db: Arc<dyn Database>,
    bus: Arc<dyn Bus>,
    settings: OutboxSettings,
}

impl Outbox {
    /// The outbox over a database and a bus; applies its migrations.
    pub async fn start(db: Arc<dyn Database>, bus: Arc<dyn Bus>, settings: OutboxSettings) -> Result<Outbox, Error> {
        db.migrate(&migrations()).await?;
        Ok(Outbox { db, bus, settings })
    }

    pub fn database(&self) -> &Arc<dyn Database> {
        &self.db
    }

    pub fn settings(&self) -> &OutboxSettings {
        &self.settings
    }

    /// Writes the envelopes in the caller's transaction, a chunk of rows
    /// per statement: a claim of fifty tasks stages fifty events, and one
    /// round trip each would be most of its cost.
    pub async fn stage(tx: &mut dyn Transaction, envelopes: Vec<Envelope>, now_ms: i64) -> Result<Staged, Error> {
        for chunk in envelopes.chunks(STAGE_CHUNK) {
            let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 5);
            let mut rows = Vec::with_capacity(chunk.len());
            for envelope in chunk {
                let text = serde_json::to_string(envelope).map_err(|error| Error::invalid("envelope", error.to_string()))?;
                let n = params.len();
                rows.push(format!("(${}, ${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4, n + 5));
                params.extend([
                    envelope.id.clone().into(),
                    envelope.tenant.clone().into(),
                    envelope.event_type.clone().into(),
                    now_ms.into(),
                    text.into(),
                ]);
            }
            let sql = format!("INSERT INTO outbox (id, tenant, type, created_at, envelope) VALUES {}", rows.join(", "));
            tx.execute(&sql, &params).await?;
        }
        Ok(Staged(envelopes))
    }

    /// Stages and commits events that need no other write (a transaction of
    /// their own), then relays them.
    pub async fn publish_now(&self, envelopes: Vec<Envelope>, now_ms: i64) -> Result<(), Error> {
        let mut tx = self.db.begin().await?;
        let staged = Outbox::stage(&mut *tx, envelopes, now_ms).await?;
        tx.commit().await?;
        self.relay(staged, now_ms).await;
        Ok(())
    }

    /// Publishes events whose transaction committed and marks them sent,
    /// in one statement. A failure is logged and left to the sweep: the
    /// caller's work is done.
    pub async fn relay(&self, staged: Staged, now_ms: i64) {
        if !self.settings.inline_relay || staged.0.is_empty() {
            return;
        }
        let mut published = Vec::with_capacity(staged.0.len());
        for envelope in &staged.0 {
            if let Err(error) = self.publish(envelope).await {
                tracing::warn!(%error, event = %envelope.event_type, id = %envelope.id, "event left in the outbox for the sweep");
                break;
            }
            published.push(envelope.id.as_str());
        }
        if let Err(error) = self.mark_sent(&published, now_ms).await {
            tracing::warn!(%error, "published events stay marked unsent; the sweep publishes them again");
        }
    }

    async fn publish(&self, envelope: &Envelope) -> Result<(), Error> {
        self.bus.publish(&envelope.to_message()?).await
    }

    async fn mark_sent(&self, ids: &[&str], now_ms: i64) -> Result<(), Error> {
        for chunk in ids.chunks(STAGE_CHUNK * 5) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let mut params: Vec<Value> = vec![now_ms.into()];
            params.extend(chunk.iter().map(|id| Value::from(*id)));
            let sql = format!("UPDATE outbox SET sent_at = $1 WHERE sent_at IS NULL AND id IN ({})", placeholders.join(", "));
            self.db.execute(&sql, &params).await?;
        }
        Ok(())
    }

    /// Publishes what is still unsent, oldest first, stopping at the first
    /// bus failure (the broker is likely down; order is kept), and deletes
    /// sent events and inbox ids past their retention.
    pub async fn sweep(&self, now_ms: i64) -> Result<Sweep, Error> {
        let before = now_ms - millis(self.settings.sweep_after);
        let rows = self
            .db
            .query(
                "SELECT seq, envelope, sent_at FROM outbox WHERE sent_at IS NULL AND created_at <= $1 \
                 ORDER BY seq LIMIT $2",
                &[before.into(), SWEEP_BATCH.into()],
            )
            .await?;
        let mut sweep = Sweep::default();
        for (index, row) in rows.iter().enumerate() {
            let stored = stored_from_row(row)?;
            self.db
                .execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = $1", &[stored.seq.into()])
                .await?;
            match self.publish(&stored.envelope).await {
                Ok(()) => {
                    self.mark_sent(&[stored.envelope.id.as_str()], now_ms).await?;
                    sweep.published += 1;
                }
                Err(error) => {
                    tracing::warn!(%error, event = %stored.envelope.event_type, "bus unavailable; the sweep stops here");
                    sweep.unsent = rows.len() - index;
                    break;
                }
            }
        }
        let expiry = now_ms - millis(self.settings.retention);
        sweep.expired = self
            .db
            .execute("DELETE FROM outbox WHERE sent_at IS NOT NULL AND created_at < $1", &[expiry.into()])
            .await?;
        self.db.execute("DELETE FROM inbox WHERE received_at < $1", &[(now_ms - millis(INBOX_RETENTION)).into()]).await?;
        if sweep.published > 0 || sweep.unsent > 0 {
            tracing::info!(published = sweep.published, unsent = sweep.unsent, expired = sweep.expired, "outbox swept");
        }
        Ok(sweep)
    }

    /// A tenant's events after `after` (a `seq`), oldest first, optionally
    /// of one type.
    pub async fn list(
        &self,
        tenant: &str,
        after: i64,
        event_type: Option<EventName>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Stored>, Error> {
        let settled = now_ms - millis(self.settings.settle);
        let mut sql = "SELECT seq, envelope, sent_at FROM outbox WHERE tenant = $1 AND seq > $2 AND created_at <= $3"
            .to_owned();
        let mut params: Vec<Value> = vec![tenant.into(), after.into(), settled.into()];
        if let Some(event_type) = event_type {
            params.push(event_type.as_str().into());
            sql.push_str(&format!(" AND type = ${}", params.len()));
        }
        params.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
        sql.push_str(&format!(" ORDER BY seq LIMIT ${}", params.len()));
        let rows = self.db.query(&sql, &params).await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// Events not yet published, for health and tests.
    pub async fn unsent(&self) -> Result<i64, Error> {
        let rows = self.db.query("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL", &[]).await?;
        rows.first().map_or(Ok(0), |row| row.int("n"))
    }
}

fn stored_from_row(row: &Row) -> Result<Stored, Error> {
    let envelope: Envelope = serde_json::from_str(row.text("envelope")?)
        .map_err(|error| Error::invalid("outbox.envelope", error.to_string()))?;
    Ok(Stored { seq: row.int("seq")?, envelope, sent: !row.is_null("sent_at")? })
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The consumers' record of the events they applied.
pub struct Inbox;

impl Inbox {
    /// Records that `consumer` applies `event_id`, in the transaction that
    /// applies it. `false` means it was applied before: roll back and
    /// acknowledge. A concurrent claim of the same id waits for the first
    /// to commit, then sees it.
    pub async fn claim(tx: &mut dyn Transaction, consumer: &str, event_id: &str, now_ms: i64) -> Result<bool, Error> {
        let inserted = tx
            .execute(
                "INSERT INTO inbox (consumer, event_id, received_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (consumer, event_id) DO NOTHING",
                &[consumer.into(), event_id.into(), now_ms.into()],
            )
            .await?;
        Ok(inserted == 1)
    }
}
