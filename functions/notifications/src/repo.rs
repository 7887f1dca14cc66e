//! Endpoints, templates, subscriptions, notifications and attempts on the
//! database port.
//!
//! The notifications table is the truth about each delivery; the queue
//! only says when to look. A message leases its row for the due time it
//! was sent for, in one conditional statement, and every completion names
//! the lease it holds, so a dispatcher whose lease ran out cannot overwrite
//! the next one's result. Deduplication is a unique index on (tenant, endpoint,
//! idempotency key) with `ON CONFLICT DO NOTHING`: concurrent requests
//! with one key insert one row, never check-then-insert.
//!
//! Every query filters on the tenant, except the scheduler's sweeps, which
//! work across tenants by design.

use std::sync::Arc;

use infra::Error;
use infra::db::{Database, Dialect, Migration, Row, Value};
use notifications_engine::{Priority, QuietHours};

use crate::model::{Attempt, Endpoint, Kind, Notification, SubscriptionRecord, TemplateRecord};

/// Version numbers 8000 to 8099 belong to Notifications (the Reviewer has
/// the 8100s).
pub fn migrations() -> Vec<Migration> {
    vec![Migration::portable(
        8001,
        "notification endpoints, templates, subscriptions, notifications and attempts",
        "CREATE TABLE IF NOT EXISTS notification_endpoints (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            secrets TEXT NOT NULL,
            rate_limit_per_s BIGINT,
            quiet_hours TEXT,
            digest_window_s BIGINT,
            enabled BIGINT NOT NULL,
            disabled_reason TEXT,
            consecutive_failures BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS notification_templates (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            subject TEXT NOT NULL,
            text_body TEXT NOT NULL,
            html_body TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS notification_subscriptions (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            filter TEXT NOT NULL,
            template_id TEXT,
            endpoint_id TEXT NOT NULL,
            priority TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant, id)
        );
        CREATE INDEX IF NOT EXISTS notification_subscriptions_event ON notification_subscriptions (tenant, event_type);
        CREATE TABLE IF NOT EXISTS notifications (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            endpoint_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            priority TEXT NOT NULL,
            rank BIGINT NOT NULL,
            status TEXT NOT NULL,
            subject TEXT NOT NULL,
            text_body TEXT NOT NULL,
            html_body TEXT,
            template_id TEXT,
            idempotency_key TEXT,
            request TEXT NOT NULL,
            source_event TEXT,
            attempts BIGINT NOT NULL DEFAULT 0,
            attempt_base BIGINT NOT NULL DEFAULT 0,
            due_at BIGINT NOT NULL,
            lease BIGINT NOT NULL DEFAULT 0,
            lease_until BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            delivered_at BIGINT,
            last_error TEXT,
            PRIMARY KEY (tenant, id)
        );
        CREATE UNIQUE INDEX IF NOT EXISTS notifications_idempotency ON notifications (tenant, endpoint_id, idempotency_key);
        CREATE INDEX IF NOT EXISTS notifications_due ON notifications (status, due_at);
        CREATE INDEX IF NOT EXISTS notifications_listing ON notifications (tenant, status, created_at, id);
        CREATE INDEX IF NOT EXISTS notifications_digest ON notifications (tenant, endpoint_id, status);
        CREATE TABLE IF NOT EXISTS notification_attempts (
            tenant TEXT NOT NULL,
            notification_id TEXT NOT NULL,
            n BIGINT NOT NULL,
            at BIGINT NOT NULL,
            status_code BIGINT,
            outcome TEXT NOT NULL,
            latency_ms BIGINT NOT NULL,
            response TEXT NOT NULL,
            error TEXT,
            PRIMARY KEY (tenant, notification_id, n)
        );",
    ),
    Migration::portable(
        8002,
        "notifications whose idempotency key still holds, by age",
        "CREATE INDEX IF NOT EXISTS notifications_keyed ON notifications (created_at) WHERE idempotency_key IS NOT NULL;",
    )]
}

/// How an insert with an idempotency key went.
#[derive(Debug)]
pub enum Inserted {
    New(Notification),
    /// An earlier request with the same key and the same body.
    Replay(Notification),
    /// An earlier request with the same key and another body.
    Mismatch(Notification),
}

/// A new notification, before it is stored.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub endpoint: Endpoint,
    pub priority: Priority,
    pub status: &'static str,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub template_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// The request as received, compared on a repeated key.
    pub request: serde_json::Value,
    pub source_event: Option<String>,
    pub due_at: i64,
}

/// A leased delivery: the notification, its endpoint and the lease token.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub tenant: String,
    pub notification: Notification,
    pub attempt_base: i64,
    pub lease: i64,
}

/// What a delivery message finds.
#[derive(Clone, Debug)]
pub enum Lease {
    /// The row is this message's to attempt.
    Leased(Claimed),
    /// Another delivery holds the row until then (Unix ms).
    Busy { until: i64 },
    /// The row moved on: delivered, dead, rescheduled or gone.
    Stale,
}

/// What one finished attempt does to its notification.
#[derive(Clone, Debug)]
pub struct Completion {
    pub attempt: Attempt,
    /// `delivered`, `pending` (retry at `due_at`) or `dead`.
    pub status: &'static str,
    pub due_at: i64,
    pub error: Option<String>,
    /// Whether this counts against the endpoint's run of failures.
    pub failed: bool,
}

/// One row of the stats: a channel on one day (UTC).
#[derive(Clone, Debug, PartialEq)]
pub struct DayRow {
    pub channel: String,
    pub day: i64,
    pub status: String,
    pub count: i64,
}

#[derive(Clone)]
pub struct Repo {
    db: Arc<dyn Database>,
}

const NOTIFICATION_COLUMNS: &str = "tenant, id, endpoint_id, channel, priority, status, subject, text_body, html_body, template_id, idempotency_key, request, source_event, attempts, attempt_base, due_at, lease, created_at, delivered_at, last_error";
const ENDPOINT_COLUMNS: &str = "id, kind, target, secrets, rate_limit_per_s, quiet_hours, digest_window_s, enabled, disabled_reason, consecutive_failures, created_at, updated_at";

impl Repo {
    pub fn new(db: Arc<dyn Database>) -> Repo {
        Repo { db }
    }

    pub async fn migrate(&self) -> Result<(), Error> {
        self.db.migrate(&migrations()).await.map(|_| ())
    }

    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    // Endpoints.

    pub async fn insert_endpoint(&self, tenant: &str, endpoint: &Endpoint) -> Result<(), Error> {
        self.db
            .execute(
                "INSERT INTO notification_endpoints (tenant, id, kind, target, secrets, rate_limit_per_s, quiet_hours, digest_window_s, enabled, disabled_reason, consecutive_failures, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, NULL, 0, $9, $9)",
                &[
                    tenant.into(),
                    endpoint.id.as_str().into(),
                    endpoint.kind.as_str().into(),
                    endpoint.target.as_str().into(),
                    secrets_text(&endpoint.secrets).into(),
                    endpoint.rate_limit_per_s.into(),
                    quiet_text(endpoint.quiet_hours.as_ref()).into(),
                    endpoint.digest_window_s.into(),
                    endpoint.created_at.into(),
                ],
            )
            .await
            .map(|_| ())
    }

    /// Replaces an endpoint's settings; `enabled` true re-enables it and
    /// clears its run of failures.
    pub async fn update_endpoint(&self, tenant: &str, endpoint: &Endpoint) -> Result<bool, Error> {
        let changed = self
            .db
            .execute(
                "UPDATE notification_endpoints SET target = $3, secrets = $4, rate_limit_per_s = $5, quiet_hours = $6, digest_window_s = $7,
                    enabled = CAST($8 AS BIGINT), disabled_reason = CASE WHEN CAST($8 AS BIGINT) = 1 THEN NULL ELSE disabled_reason END,
                    consecutive_failures = CASE WHEN CAST($8 AS BIGINT) = 1 THEN 0 ELSE consecutive_failures END, updated_at = $9
                 WHERE tenant = $1 AND id = $2",
                &[
                    tenant.into(),
                    endpoint.id.as_str().into(),
                    endpoint.target.as_str().into(),
                    secrets_text(&endpoint.secrets).into(),
                    endpoint.rate_limit_per_s.into(),
                    quiet_text(endpoint.quiet_hours.as_ref()).into(),
                    endpoint.digest_window_s.into(),
                    i64::from(endpoint.enabled).into(),
                    endpoint.updated_at.into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    pub async fn endpoint(&self, tenant: &str, id: &str) -> Result<Option<Endpoint>, Error> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM notification_endpoints WHERE tenant = $1 AND id = $2");
        let rows = self.db.query(&sql, &[tenant.into(), id.into()]).await?;
        rows.first().map(endpoint).transpose()
    }

    pub async fn endpoints(&self, tenant: &str) -> Result<Vec<Endpoint>, Error> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM notification_endpoints WHERE tenant = $1 ORDER BY created_at, id LIMIT 1000");
        self.db.query(&sql, &[tenant.into()]).await?.iter().map(endpoint).collect()
    }

    pub async fn delete_endpoint(&self, tenant: &str, id: &str) -> Result<bool, Error> {
        let deleted = self.db.execute("DELETE FROM notification_endpoints WHERE tenant = $1 AND id = $2", &[tenant.into(), id.into()]).await?;
        self.db.execute("DELETE FROM notification_subscriptions WHERE tenant = $1 AND endpoint_id = $2", &[tenant.into(), id.into()]).await?;
        Ok(deleted == 1)
    }

    /// Disables an enabled endpoint; true when this call did it.
    pub async fn disable_endpoint(&self, tenant: &str, id: &str, reason: &str, now: i64) -> Result<bool, Error> {
        let changed = self
            .db
            .execute(
                "UPDATE notification_endpoints SET enabled = 0, disabled_reason = $3, updated_at = $4 WHERE tenant = $1 AND id = $2 AND enabled = 1",
                &[tenant.into(), id.into(), reason.into(), now.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Endpoints still enabled whose run of failures reached `threshold`.
    pub async fn failing_endpoints(&self, threshold: i64) -> Result<Vec<(String, String)>, Error> {
        let rows = self
            .db
            .query("SELECT tenant, id FROM notification_endpoints WHERE enabled = 1 AND consecutive_failures >= $1 LIMIT 500", &[threshold.into()])
            .await?;
        rows.iter().map(|row| Ok((row.text("tenant")?.to_owned(), row.text("id")?.to_owned()))).collect()
    }

    // Templates.

    pub async fn save_template(&self, tenant: &str, template: &TemplateRecord, create: bool) -> Result<bool, Error> {
        let params = [
            tenant.into(),
            template.id.as_str().into(),
            template.name.as_str().into(),
            template.subject.as_str().into(),
            template.text.as_str().into(),
            template.html.clone().into(),
            template.updated_at.into(),
        ];
        let sql = if create {
            "INSERT INTO notification_templates (tenant, id, name, subject, text_body, html_body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
        } else {
            "UPDATE notification_templates SET name = $3, subject = $4, text_body = $5, html_body = $6, updated_at = $7 WHERE tenant = $1 AND id = $2"
        };
        Ok(self.db.execute(sql, &params).await? == 1)
    }

    pub async fn template(&self, tenant: &str, id: &str) -> Result<Option<TemplateRecord>, Error> {
        let rows = self
            .db
            .query(
                "SELECT id, name, subject, text_body, html_body, created_at, updated_at FROM notification_templates WHERE tenant = $1 AND id = $2",
                &[tenant.into(), id.into()],
            )
            .await?;
        rows.first().map(template).transpose()
    }

    pub async fn templates(&self, tenant: &str) -> Result<Vec<TemplateRecord>, Error> {
        let rows = self
            .db
            .query(
                "SELECT id, name, subject, text_body, html_body, created_at, updated_at FROM notification_templates WHERE tenant = $1 ORDER BY created_at, id LIMIT 1000",
                &[tenant.into()],
            )
            .await?;
        rows.iter().map(template).collect()
    }

    pub async fn delete_template(&self, tenant: &str, id: &str) -> Result<bool, Error> {
        Ok(self.db.execute("DELETE FROM notification_templates WHERE tenant = $1 AND id = $2", &[tenant.into(), id.into()]).await? == 1)
    }

    // Subscriptions.

    pub async fn save_subscription(&self, tenant: &str, subscription: &SubscriptionRecord, create: bool) -> Result<bool, Error> {
        let params = [
            tenant.into(),
            subscription.id.as_str().into(),
            subscription.event_type.as_str().into(),
            serde_json::Value::Object(subscription.filter.clone()).to_string().into(),
            subscription.template_id.clone().into(),
            subscription.endpoint_id.as_str().into(),
            subscription.priority.as_str().into(),
            subscription.created_at.into(),
        ];
        let sql = if create {
            "INSERT INTO notification_subscriptions (tenant, id, event_type, filter, template_id, endpoint_id, priority, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        } else {
            "UPDATE notification_subscriptions SET event_type = $3, filter = $4, template_id = $5, endpoint_id = $6, priority = $7 WHERE tenant = $1 AND id = $2 AND created_at <= $8"
        };
        Ok(self.db.execute(sql, &params).await? == 1)
    }

    pub async fn subscription(&self, tenant: &str, id: &str) -> Result<Option<SubscriptionRecord>, Error> {
        let rows = self
            .db
            .query(
                "SELECT id, event_type, filter, template_id, endpoint_id, priority, created_at FROM notification_subscriptions WHERE tenant = $1 AND id = $2",
                &[tenant.into(), id.into()],
            )
            .await?;
        rows.first().map(subscription).transpose()
    }

    /// The tenant's subscriptions, or those to one event type.
    pub async fn subscriptions(&self, tenant: &str, event_type: Option<&str>) -> Result<Vec<SubscriptionRecord>, Error> {
        let rows = self
            .db
            .query(
                "SELECT id, event_type, filter, template_id, endpoint_id, priority, created_at FROM notification_subscriptions
                 WHERE tenant = $1 AND (CAST($2 AS TEXT) IS NULL OR event_type = $2) ORDER BY created_at, id LIMIT 1000",
                &[tenant.into(), event_type.into()],
            )
            .await?;
        rows.iter().map(subscription).collect()
    }

    pub async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<bool, Error> {
        Ok(self.db.execute("DELETE FROM notification_subscriptions WHERE tenant = $1 AND id = $2", &[tenant.into(), id.into()]).await? == 1)
    }

    // Notifications.

    /// Inserts the notifications in one transaction, 500 rows a statement;
    /// a key already used for the endpoint gives back the earlier row, and
    /// one used with another request stores nothing at all.
    pub async fn insert(&self, tenant: &str, new: Vec<NewNotification>, now: i64) -> Result<Vec<Inserted>, Error> {
        let mut tx = self.db.begin().await?;
        let mut results = Vec::with_capacity(new.len());
        for chunk in new.chunks(500) {
            let ids: Vec<String> = chunk.iter().map(|_| uuid::Uuid::new_v4().to_string()).collect();
            let mut values = Vec::with_capacity(chunk.len());
            let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 16 + 1);
            params.push(tenant.into());
            params.push(now.into());
            for (item, id) in chunk.iter().zip(&ids) {
                let p = params.len() + 1;
                values.push(format!(
                    "($1, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 0, 0, ${}, 0, $2, NULL, NULL, ${})",
                    p, p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7, p + 8, p + 9, p + 10, p + 11, p + 12, p + 13
                ));
                params.extend([
                    id.as_str().into(),
                    item.endpoint.id.as_str().into(),
                    item.endpoint.kind.as_str().into(),
                    item.priority.as_str().into(),
                    item.status.into(),
                    item.subject.as_str().into(),
                    item.text.as_str().into(),
                    item.html.clone().into(),
                    item.template_id.clone().into(),
                    item.idempotency_key.clone().into(),
                    item.request.to_string().into(),
                    item.source_event.clone().into(),
                    item.due_at.into(),
                    item.priority.rank().into(),
                ]);
            }
            let sql = format!(
                "INSERT INTO notifications ({NOTIFICATION_COLUMNS}, rank) VALUES {} ON CONFLICT DO NOTHING RETURNING {NOTIFICATION_COLUMNS}",
                values.join(", ")
            );
            let mut stored: std::collections::HashMap<String, Notification> =
                tx.query(&sql, &params).await?.iter().map(|row| notification(row).map(|n| (n.id.clone(), n))).collect::<Result<_, Error>>()?;
            for (item, id) in chunk.iter().zip(ids) {
                if let Some(found) = stored.remove(&id) {
                    results.push(Inserted::New(found));
                    continue;
                }
                let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE tenant = $1 AND endpoint_id = $2 AND idempotency_key = $3");
                let rows = tx.query(&sql, &[tenant.into(), item.endpoint.id.as_str().into(), item.idempotency_key.clone().into()]).await?;
                let row = rows.first().ok_or_else(|| Error::Conflict("the notification with this key was deleted meanwhile".into()))?;
                let earlier: serde_json::Value = serde_json::from_str(row.text("request")?).unwrap_or(serde_json::Value::Null);
                let found = notification(row)?;
                if earlier != item.request {
                    // Nothing of a request with a misused key is stored.
                    tx.rollback().await?;
                    results.push(Inserted::Mismatch(found));
                    return Ok(results);
                }
                results.push(Inserted::Replay(found));
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    pub async fn notification(&self, tenant: &str, id: &str) -> Result<Option<Notification>, Error> {
        let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE tenant = $1 AND id = $2");
        let rows = self.db.query(&sql, &[tenant.into(), id.into()]).await?;
        rows.first().map(notification).transpose()
    }

    /// A page, newest first, after the cursor `(created_at, id)`.
    pub async fn notifications(&self, tenant: &str, status: Option<&str>, after: Option<(i64, String)>, limit: i64) -> Result<Vec<Notification>, Error> {
        let (at, id) = after.map_or((None, None), |(at, id)| (Some(at), Some(id)));
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE tenant = $1 AND (CAST($2 AS TEXT) IS NULL OR status = $2)
             AND (CAST($3 AS BIGINT) IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4)) ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let rows = self.db.query(&sql, &[tenant.into(), status.into(), at.into(), id.into(), limit.into()]).await?;
        rows.iter().map(notification).collect()
    }

    pub async fn attempts(&self, tenant: &str, id: &str) -> Result<Vec<Attempt>, Error> {
        let rows = self
            .db
            .query(
                "SELECT n, at, status_code, outcome, latency_ms, response, error FROM notification_attempts WHERE tenant = $1 AND notification_id = $2 ORDER BY n",
                &[tenant.into(), id.into()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Attempt {
                    n: row.int("n")?,
                    at: row.int("at")?,
                    status_code: row.optional("status_code", Row::int)?,
                    outcome: row.text("outcome")?.to_owned(),
                    latency_ms: row.int("latency_ms")?,
                    response: row.text("response")?.to_owned(),
                    error: row.optional("error", Row::text)?.map(str::to_owned),
                })
            })
            .collect()
    }

    /// Sends a dead notification again with a fresh retry schedule; false
    /// when it is not dead.
    pub async fn replay(&self, tenant: &str, id: &str, now: i64) -> Result<bool, Error> {
        let changed = self
            .db
            .execute(
                "UPDATE notifications SET status = 'pending', attempt_base = attempts, due_at = $3, last_error = NULL WHERE tenant = $1 AND id = $2 AND status = 'dead'",
                &[tenant.into(), id.into(), now.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Leases the notification for the due time a message was sent for,
    /// taking over a lease that ran out (its dispatcher died mid-attempt).
    pub async fn lease(&self, tenant: &str, id: &str, due_at: i64, now: i64, lease_ms: i64) -> Result<Lease, Error> {
        let lease: i64 = rand::random::<u32>().into();
        let sql = format!(
            "UPDATE notifications SET status = 'delivering', lease = $4, lease_until = $5
             WHERE tenant = $1 AND id = $2 AND due_at = $3 AND (status = 'pending' OR (status = 'delivering' AND lease_until <= $6))
             RETURNING {NOTIFICATION_COLUMNS}"
        );
        let params = [tenant.into(), id.into(), due_at.into(), lease.into(), (now + lease_ms).into(), now.into()];
        if let Some(row) = self.db.query(&sql, &params).await?.first() {
            let claimed = Claimed { tenant: tenant.to_owned(), notification: notification(row)?, attempt_base: row.int("attempt_base")?, lease };
            return Ok(Lease::Leased(claimed));
        }
        let rows = self
            .db
            .query(
                "SELECT lease_until FROM notifications WHERE tenant = $1 AND id = $2 AND due_at = $3 AND status = 'delivering'",
                &[tenant.into(), id.into(), due_at.into()],
            )
            .await?;
        Ok(match rows.first() {
            Some(row) => Lease::Busy { until: row.int("lease_until")? },
            None => Lease::Stale,
        })
    }

    /// Rows whose message was lost: due before `before` and never
    /// attempted, or leased past `before` and never finished. At most 500.
    pub async fn stranded(&self, before: i64) -> Result<Vec<crate::dispatch::Due>, Error> {
        let rows = self
            .db
            .query(
                "SELECT tenant, id, due_at, priority FROM notifications
                 WHERE (status = 'pending' AND due_at <= $1) OR (status = 'delivering' AND lease_until <= $1)
                 ORDER BY due_at LIMIT 500",
                &[before.into()],
            )
            .await?;
        rows.iter().map(due).collect()
    }

    /// Puts a leased notification back, due at `due_at`, without counting an
    /// attempt (a rate limit said wait). False when the lease was lost.
    pub async fn release(&self, claimed: &Claimed, due_at: i64) -> Result<bool, Error> {
        let changed = self
            .db
            .execute(
                "UPDATE notifications SET status = 'pending', due_at = $4 WHERE tenant = $1 AND id = $2 AND status = 'delivering' AND lease = $3",
                &[claimed.tenant.as_str().into(), claimed.notification.id.as_str().into(), claimed.lease.into(), due_at.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Records the attempt and the notification's next state, under the
    /// lease; returns the endpoint's run of failures after it, or `None`
    /// when the lease was lost (another dispatcher owns the row now).
    pub async fn complete(&self, claimed: &Claimed, completion: &Completion, now: i64) -> Result<Option<i64>, Error> {
        let (tenant, id) = (claimed.tenant.as_str(), claimed.notification.id.as_str());
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                "UPDATE notifications SET status = CAST($4 AS TEXT), attempts = attempts + 1, due_at = $5, last_error = $6,
                    delivered_at = CASE WHEN CAST($4 AS TEXT) = 'delivered' THEN CAST($7 AS BIGINT) ELSE delivered_at END
                 WHERE tenant = $1 AND id = $2 AND status = 'delivering' AND lease = $3",
                &[tenant.into(), id.into(), claimed.lease.into(), completion.status.into(), completion.due_at.into(), completion.error.clone().into(), now.into()],
            )
            .await?;
        if changed != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let attempt = &completion.attempt;
        tx.execute(
            "INSERT INTO notification_attempts (tenant, notification_id, n, at, status_code, outcome, latency_ms, response, error)
             VALUES ($1, $2, (SELECT attempts FROM notifications WHERE tenant = $1 AND id = $2), $3, $4, $5, $6, $7, $8)",
            &[
                tenant.into(),
                id.into(),
                attempt.at.into(),
                attempt.status_code.into(),
                attempt.outcome.as_str().into(),
                attempt.latency_ms.into(),
                attempt.response.as_str().into(),
                attempt.error.clone().into(),
            ],
        )
        .await?;
        let failures_sql = if completion.failed {
            "UPDATE notification_endpoints SET consecutive_failures = consecutive_failures + 1 WHERE tenant = $1 AND id = $2 RETURNING consecutive_failures"
        } else {
            "UPDATE notification_endpoints SET consecutive_failures = 0 WHERE tenant = $1 AND id = $2 RETURNING consecutive_failures"
        };
        let rows = tx.query(failures_sql, &[tenant.into(), claimed.notification.endpoint_id.as_str().into()]).await?;
        tx.commit().await?;
        Ok(Some(rows.first().map(|row| row.int("consecutive_failures")).transpose()?.unwrap_or(0)))
    }

    /// Ends a leased notification without an attempt (its endpoint is gone
    /// or disabled).
    pub async fn abandon(&self, claimed: &Claimed, reason: &str) -> Result<(), Error> {
        self.db
            .execute(
                "UPDATE notifications SET status = 'dead', last_error = $4 WHERE tenant = $1 AND id = $2 AND status = 'delivering' AND lease = $3",
                &[claimed.tenant.as_str().into(), claimed.notification.id.as_str().into(), claimed.lease.into(), reason.into()],
            )
            .await
            .map(|_| ())
    }

    /// Frees the idempotency keys of notifications created before
    /// `before`, at most 1,000 a call: the same key makes a new
    /// notification from then on. Returns how many.
    pub async fn forget_keys(&self, before: i64) -> Result<u64, Error> {
        self.db
            .execute(
                "UPDATE notifications SET idempotency_key = NULL WHERE (tenant, id) IN
                 (SELECT tenant, id FROM notifications WHERE idempotency_key IS NOT NULL AND created_at < $1 LIMIT 1000)",
                &[before.into()],
            )
            .await
    }

    /// Quiet hours over: held notifications become due.
    pub async fn release_held(&self, now: i64) -> Result<Vec<crate::dispatch::Due>, Error> {
        let rows = self
            .db
            .query("UPDATE notifications SET status = 'pending' WHERE status = 'held' AND due_at <= $1 RETURNING tenant, id, due_at, priority", &[now.into()])
            .await?;
        rows.iter().map(due).collect()
    }

    /// Digests whose window ended: (tenant, endpoint) pairs with items
    /// waiting since before `before`.
    pub async fn due_digests(&self, before: i64) -> Result<Vec<(String, String)>, Error> {
        let rows = self
            .db
            .query("SELECT DISTINCT tenant, endpoint_id FROM notifications WHERE status = 'digest' AND due_at <= $1 LIMIT 500", &[before.into()])
            .await?;
        rows.iter().map(|row| Ok((row.text("tenant")?.to_owned(), row.text("endpoint_id")?.to_owned()))).collect()
    }

    /// Takes an endpoint's waiting digest items (oldest first), marking
    /// them digested, in the transaction that inserts the digest itself;
    /// the digest, due, or `None` when no item was waiting.
    pub async fn take_digest(&self, tenant: &str, endpoint_id: &str, digest: NewNotification, now: i64) -> Result<Option<crate::dispatch::Due>, Error> {
        let mut tx = self.db.begin().await?;
        let rows = tx
            .query(
                "UPDATE notifications SET status = 'digested' WHERE tenant = $1 AND endpoint_id = $2 AND status = 'digest' RETURNING subject, created_at",
                &[tenant.into(), endpoint_id.into()],
            )
            .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut items: Vec<(i64, String)> = rows.iter().map(|row| Ok((row.int("created_at")?, row.text("subject")?.to_owned()))).collect::<Result<_, Error>>()?;
        items.sort();
        let text = items.iter().map(|(_, subject)| format!("- {subject}")).collect::<Vec<_>>().join("\n");
        // Due since its first item arrived: its window is over.
        let due = items.first().map_or(now, |(at, _)| *at).min(now);
        let id = uuid::Uuid::new_v4().to_string();
        let sql = format!("INSERT INTO notifications ({NOTIFICATION_COLUMNS}, rank) VALUES ($1, $2, $3, $4, 'low', 'pending', $5, $6, NULL, NULL, NULL, '{{}}', NULL, 0, 0, $8, 0, $7, NULL, NULL, 0)");
        tx.execute(
            &sql,
            &[tenant.into(), id.as_str().into(), endpoint_id.into(), digest.endpoint.kind.as_str().into(), format!("{} ({} items)", digest.subject, items.len()).into(), text.into(), now.into(), due.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(crate::dispatch::Due { tenant: tenant.to_owned(), id, due_at: due, priority: Priority::Low }))
    }

    /// Counts by channel, UTC day and status since `since`.
    pub async fn stats(&self, tenant: &str, since: i64) -> Result<Vec<DayRow>, Error> {
        let rows = self
            .db
            .query(
                "SELECT channel, created_at / 86400000 AS day, status, COUNT(*) AS n FROM notifications
                 WHERE tenant = $1 AND created_at >= $2 GROUP BY channel, created_at / 86400000, status",
                &[tenant.into(), since.into()],
            )
            .await?;
        rows.iter()
            .map(|row| Ok(DayRow { channel: row.text("channel")?.to_owned(), day: row.int("day")?, status: row.text("status")?.to_owned(), count: row.int("n")? }))
            .collect()
    }

    /// Notifications that failed at least once and wait for a retry, by
    /// day and channel.
    pub async fn failing(&self, tenant: &str, since: i64) -> Result<Vec<(i64, String, i64)>, Error> {
        let rows = self
            .db
            .query(
                "SELECT channel, created_at / 86400000 AS day, COUNT(*) AS n FROM notifications
                 WHERE tenant = $1 AND created_at >= $2 AND attempts > 0 AND status IN ('pending', 'delivering')
                 GROUP BY channel, created_at / 86400000",
                &[tenant.into(), since.into()],
            )
            .await?;
        rows.iter().map(|row| Ok((row.int("day")?, row.text("channel")?.to_owned(), row.int("n")?))).collect()
    }

    /// Delivery latencies (delivered − created, ms) by channel and day.
    pub async fn latencies(&self, tenant: &str, since: i64) -> Result<Vec<(String, i64, i64)>, Error> {
        let rows = self
            .db
            .query(
                "SELECT channel, created_at / 86400000 AS day, delivered_at - created_at AS latency FROM notifications
                 WHERE tenant = $1 AND created_at >= $2 AND status = 'delivered' ORDER BY channel, day, latency LIMIT 100000",
                &[tenant.into(), since.into()],
            )
            .await?;
        rows.iter().map(|row| Ok((row.text("channel")?.to_owned(), row.int("day")?, row.int("latency")?))).collect()
    }
}

fn secrets_text(secrets: &[String]) -> String {
    serde_json::to_string(secrets).unwrap_or_else(|_| "[]".into())
}

fn quiet_text(quiet: Option<&QuietHours>) -> Option<String> {
    quiet.and_then(|quiet| serde_json::to_string(quiet).ok())
}

fn endpoint(row: &Row) -> Result<Endpoint, Error> {
    let kind = row.text("kind")?;
    Ok(Endpoint {
        id: row.text("id")?.to_owned(),
        kind: Kind::parse(kind).ok_or_else(|| Error::invalid("kind", format!("stored kind {kind:?}")))?,
        target: row.text("target")?.to_owned(),
        secrets: serde_json::from_str(row.text("secrets")?).map_err(|error| Error::invalid("secrets", error.to_string()))?,
        rate_limit_per_s: row.optional("rate_limit_per_s", Row::int)?,
        quiet_hours: row.optional("quiet_hours", Row::text)?.map(serde_json::from_str).transpose().map_err(|error| Error::invalid("quiet_hours", error.to_string()))?,
        digest_window_s: row.optional("digest_window_s", Row::int)?,
        enabled: row.bool("enabled")?,
        disabled_reason: row.optional("disabled_reason", Row::text)?.map(str::to_owned),
        consecutive_failures: row.int("consecutive_failures")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

fn template(row: &Row) -> Result<TemplateRecord, Error> {
    Ok(TemplateRecord {
        id: row.text("id")?.to_owned(),
        name: row.text("name")?.to_owned(),
        subject: row.text("subject")?.to_owned(),
        text: row.text("text_body")?.to_owned(),
        html: row.optional("html_body", Row::text)?.map(str::to_owned),
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

fn subscription(row: &Row) -> Result<SubscriptionRecord, Error> {
    let priority = row.text("priority")?;
    let filter = match row.json("filter")? {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    Ok(SubscriptionRecord {
        id: row.text("id")?.to_owned(),
        event_type: row.text("event_type")?.to_owned(),
        filter,
        template_id: row.optional("template_id", Row::text)?.map(str::to_owned),
        endpoint_id: row.text("endpoint_id")?.to_owned(),
        priority: Priority::parse(priority).ok_or_else(|| Error::invalid("priority", format!("stored priority {priority:?}")))?,
        created_at: row.int("created_at")?,
    })
}

fn due(row: &Row) -> Result<crate::dispatch::Due, Error> {
    let priority = row.text("priority")?;
    Ok(crate::dispatch::Due {
        tenant: row.text("tenant")?.to_owned(),
        id: row.text("id")?.to_owned(),
        due_at: row.int("due_at")?,
        priority: Priority::parse(priority).ok_or_else(|| Error::invalid("priority", format!("stored priority {priority:?}")))?,
    })
}

fn notification(row: &Row) -> Result<Notification, Error> {
    let (channel, priority) = (row.text("channel")?, row.text("priority")?);
    Ok(Notification {
        id: row.text("id")?.to_owned(),
        endpoint_id: row.text("endpoint_id")?.to_owned(),
        channel: Kind::parse(channel).ok_or_else(|| Error::invalid("channel", format!("stored channel {channel:?}")))?,
        priority: Priority::parse(priority).ok_or_else(|| Error::invalid("priority", format!("stored priority {priority:?}")))?,
        status: row.text("status")?.to_owned(),
        subject: row.text("subject")?.to_owned(),
        text: row.text("text_body")?.to_owned(),
        html: row.optional("html_body", Row::text)?.map(str::to_owned),
        template_id: row.optional("template_id", Row::text)?.map(str::to_owned),
        idempotency_key: row.optional("idempotency_key", Row::text)?.map(str::to_owned),
        source_event: row.optional("source_event", Row::text)?.map(str::to_owned),
        attempts: row.int("attempts")?,
        due_at: row.int("due_at")?,
        created_at: row.int("created_at")?,
        delivered_at: row.optional("delivered_at", Row::int)?,
        last_error: row.optional("last_error", Row::text)?.map(str::to_owned),
    })
}
