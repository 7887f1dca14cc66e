//! `StudyRepo`: the studies and their jobs in the database port.
//!
//! Two tables. `studies` holds one row per study with its progress counters;
//! `study_jobs` one row per job, keyed `(tenant, study, job)`. A job counts
//! towards its study's progress only through [`StudyRepo::record_job`], which
//! moves the job row from `pending` to `done`/`failed` and bumps the counter
//! in the same transaction; a redelivered job finds its row no longer
//! pending and changes nothing.
//!
//! Every statement is parameterised and every query a tenant makes filters
//! on `tenant = $1`. The janitor's two sweeps ([`StudyRepo::overdue`],
//! [`StudyRepo::expired`]) are the only cross-tenant reads, by design.

use std::sync::Arc;

use infra::Error;
use infra::db::{Database, Migration, Row, Transaction, Value};
use infra::events::{Envelope, Inbox, Outbox, Staged};

use crate::model::{JobPlan, Kind, StudyStatus};

/// Version numbers are global to the database's `schema_migrations`; this
/// app's live in the 4000s (issue 4) so other apps' cannot collide.
pub fn migrations() -> Vec<Migration> {
    vec![Migration::portable(
        4001,
        "studies and study_jobs",
        "CREATE TABLE IF NOT EXISTS studies (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            jobs_total BIGINT NOT NULL,
            jobs_done BIGINT NOT NULL DEFAULT 0,
            jobs_failed BIGINT NOT NULL DEFAULT 0,
            error TEXT,
            objective DOUBLE PRECISION,
            idempotency_key TEXT,
            request_fingerprint TEXT NOT NULL,
            requeues BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            started_at BIGINT,
            finished_at BIGINT,
            deadline_at BIGINT NOT NULL,
            PRIMARY KEY (tenant, id)
        );
        CREATE UNIQUE INDEX IF NOT EXISTS studies_idempotency ON studies (tenant, idempotency_key);
        CREATE INDEX IF NOT EXISTS studies_listing ON studies (tenant, created_at, id);
        CREATE INDEX IF NOT EXISTS studies_deadline ON studies (status, deadline_at);
        CREATE INDEX IF NOT EXISTS studies_finished ON studies (finished_at);
        CREATE TABLE IF NOT EXISTS study_jobs (
            tenant TEXT NOT NULL,
            study TEXT NOT NULL,
            job TEXT NOT NULL,
            status TEXT NOT NULL,
            params TEXT NOT NULL,
            result TEXT,
            error TEXT,
            finished_at BIGINT,
            PRIMARY KEY (tenant, study, job)
        );",
    )]
}

/// One study's row.
#[derive(Clone, Debug, PartialEq)]
pub struct Study {
    pub tenant: String,
    pub id: String,
    pub kind: Kind,
    pub status: StudyStatus,
    pub jobs_total: i64,
    pub jobs_done: i64,
    pub jobs_failed: i64,
    pub error: Option<String>,
    pub objective: Option<f64>,
    pub request_fingerprint: String,
    pub requeues: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub deadline_at: i64,
}

/// A study about to be inserted.
pub struct NewStudy<'a> {
    pub tenant: &'a str,
    pub id: &'a str,
    pub kind: Kind,
    pub jobs_total: i64,
    pub idempotency_key: Option<&'a str>,
    pub request_fingerprint: &'a str,
    pub now: i64,
    pub deadline_at: i64,
    pub jobs: &'a [JobPlan],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Done,
    Failed,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<JobStatus, Error> {
        match text {
            "pending" => Ok(JobStatus::Pending),
            "done" => Ok(JobStatus::Done),
            "failed" => Ok(JobStatus::Failed),
            other => Err(Error::invalid("study_jobs.status", format!("unknown status {other:?}"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub key: String,
    pub status: JobStatus,
    pub params: serde_json::Value,
    /// The job's small result (a Pareto point, a sample, an objective).
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    Done(serde_json::Value),
    /// Permanently: bad input, or an error retrying cannot fix.
    Failed(String),
}

/// A study's counters right after a job was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done: i64,
    pub failed: i64,
    pub total: i64,
}

impl Progress {
    pub fn is_complete(&self) -> bool {
        self.done + self.failed >= self.total
    }
}

/// What [`StudyRepo::insert`] did.
pub enum Inserted {
    /// The study, its jobs and its events are committed; relay the events.
    New(Staged),
    /// The tenant used the idempotency key before, for this study.
    Existing(Study),
}

/// Which delivery applies a job, for the inbox.
pub struct Delivered<'a> {
    pub consumer: &'a str,
    pub event_id: &'a str,
}

/// One page of a listing, newest first.
pub struct Page {
    pub studies: Vec<Study>,
    /// The position after the last study, when there may be more.
    pub next: Option<Cursor>,
}

/// A keyset position: the last study seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    /// Opaque to clients: hex of `created_at:id`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.created_at, self.id).bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        if !text.len().is_multiple_of(2) || text.len() > 512 {
            return None;
        }
        let bytes: Option<Vec<u8>> =
            (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect();
        let text = String::from_utf8(bytes?).ok()?;
        let (created_at, id) = text.split_once(':')?;
        Some(Cursor { created_at: created_at.parse().ok()?, id: id.to_owned() })
    }
}

const STUDY_COLUMNS: &str = "tenant, id, kind, status, jobs_total, jobs_done, jobs_failed, error, objective, \
     request_fingerprint, requeues, created_at, started_at, finished_at, deadline_at";

#[derive(Clone)]
pub struct StudyRepo {
    db: Arc<dyn Database>,
}

impl StudyRepo {
    pub fn new(db: Arc<dyn Database>) -> StudyRepo {
        StudyRepo { db }
    }

    /// Applies this app's migrations; a no-op when they are applied.
    pub async fn migrate(&self) -> Result<(), Error> {
        self.db.migrate(&migrations()).await.map(|_| ())
    }

    /// Inserts the study, its first jobs and the events announcing them in
    /// one transaction. With an idempotency key that the tenant used
    /// before, nothing is inserted and the earlier study is returned.
    pub async fn insert(&self, new: &NewStudy<'_>, events: Vec<Envelope>) -> Result<Inserted, Error> {
        let mut tx = self.db.begin().await?;
        let inserted = tx
            .execute(
                "INSERT INTO studies (tenant, id, kind, status, jobs_total, idempotency_key, request_fingerprint, \
                 created_at, deadline_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (tenant, idempotency_key) DO NOTHING",
                &[
                    new.tenant.into(),
                    new.id.into(),
                    new.kind.as_str().into(),
                    StudyStatus::Queued.as_str().into(),
                    new.jobs_total.into(),
                    new.idempotency_key.into(),
                    new.request_fingerprint.into(),
                    new.now.into(),
                    new.deadline_at.into(),
                ],
            )
            .await?;
        if inserted == 0 {
            let rows = tx
                .query(
                    &format!("SELECT {STUDY_COLUMNS} FROM studies WHERE tenant = $1 AND idempotency_key = $2"),
                    &[new.tenant.into(), new.idempotency_key.into()],
                )
                .await?;
            tx.rollback().await?;
            let earlier = rows.first().map(study_from_row).transpose()?;
            return earlier
                .map(Inserted::Existing)
                .ok_or_else(|| Error::Conflict("the idempotency key's study vanished; retry".into()));
        }
        insert_jobs(&mut *tx, new.tenant, new.id, new.jobs).await?;
        let staged = Outbox::stage(&mut *tx, events, new.now).await?;
        tx.commit().await?;
        Ok(Inserted::New(staged))
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<Study>, Error> {
        let rows = self
            .db
            .query(&format!("SELECT {STUDY_COLUMNS} FROM studies WHERE tenant = $1 AND id = $2"), &[
                tenant.into(),
                id.into(),
            ])
            .await?;
        rows.first().map(study_from_row).transpose()
    }

    /// The tenant's studies, newest first, optionally of one status.
    pub async fn list(
        &self,
        tenant: &str,
        status: Option<StudyStatus>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, Error> {
        let mut sql = format!("SELECT {STUDY_COLUMNS} FROM studies WHERE tenant = $1");
        let mut params: Vec<Value> = vec![tenant.into()];
        if let Some(status) = status {
            params.push(status.as_str().into());
            sql.push_str(&format!(" AND status = ${}", params.len()));
        }
        if let Some(cursor) = after {
            params.push(cursor.created_at.into());
            params.push(cursor.id.clone().into());
            let (c, i) = (params.len() - 1, params.len());
            sql.push_str(&format!(" AND (created_at < ${c} OR (created_at = ${c} AND id < ${i}))"));
        }
        params.push(i64::try_from(limit + 1).unwrap_or(i64::MAX).into());
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${}", params.len()));
        let rows = self.db.query(&sql, &params).await?;
        let mut studies = rows.iter().map(study_from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if studies.len() > limit {
            studies.truncate(limit);
            studies.last().map(|s| Cursor { created_at: s.created_at, id: s.id.clone() })
        } else {
            None
        };
        Ok(Page { studies, next })
    }

    pub async fn jobs(&self, tenant: &str, study: &str) -> Result<Vec<Job>, Error> {
        let rows = self
            .db
            .query(
                "SELECT job, status, params, result, error FROM study_jobs WHERE tenant = $1 AND study = $2 \
                 ORDER BY job",
                &[tenant.into(), study.into()],
            )
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    pub async fn job(&self, tenant: &str, study: &str, job: &str) -> Result<Option<Job>, Error> {
        let rows = self
            .db
            .query(
                "SELECT job, status, params, result, error FROM study_jobs \
                 WHERE tenant = $1 AND study = $2 AND job = $3",
                &[tenant.into(), study.into(), job.into()],
            )
            .await?;
        rows.first().map(job_from_row).transpose()
    }

    /// Marks the study running when its first job starts.
    pub async fn mark_running(&self, tenant: &str, id: &str, now: i64) -> Result<(), Error> {
        self.db
            .execute(
                "UPDATE studies SET status = $3, started_at = $4 WHERE tenant = $1 AND id = $2 AND status = $5",
                &[
                    tenant.into(),
                    id.into(),
                    StudyStatus::Running.as_str().into(),
                    now.into(),
                    StudyStatus::Queued.as_str().into(),
                ],
            )
            .await
            .map(|_| ())
    }

    /// Records a job's outcome once: only the `pending` → `done`/`failed`
    /// transition counts, so a redelivery returns `None` and changes
    /// nothing; the inbox records the delivery's event id in the same
    /// transaction. `fan_out` jobs are added in it too (a Pareto study's ε
    /// points), `total` replaces the study's job count when the plan
    /// changed (anchors that found no front), and the events `announce`
    /// makes from the new counters are staged with it.
    #[allow(clippy::too_many_arguments)] // One transaction's inputs; a struct would only rename them.
    pub async fn record_job(
        &self,
        tenant: &str,
        study: &str,
        job: &str,
        outcome: &JobOutcome,
        fan_out: &[JobPlan],
        total: Option<i64>,
        now: i64,
        deadline_at: i64,
        delivered: &Delivered<'_>,
        announce: impl FnOnce(Progress) -> Result<Vec<Envelope>, Error> + Send,
    ) -> Result<Option<(Progress, Staged)>, Error> {
        let (status, result, error) = match outcome {
            JobOutcome::Done(result) => (JobStatus::Done, Value::Text(result.to_string()), Value::Null),
            JobOutcome::Failed(reason) => (JobStatus::Failed, Value::Null, Value::Text(reason.clone())),
        };
        let mut tx = self.db.begin().await?;
        if !Inbox::claim(&mut *tx, delivered.consumer, delivered.event_id, now).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let changed = tx
            .execute(
                "UPDATE study_jobs SET status = $4, result = $5, error = $6, finished_at = $7 \
                 WHERE tenant = $1 AND study = $2 AND job = $3 AND status = $8",
                &[
                    tenant.into(),
                    study.into(),
                    job.into(),
                    status.as_str().into(),
                    result,
                    error,
                    now.into(),
                    JobStatus::Pending.as_str().into(),
                ],
            )
            .await?;
        if changed == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        insert_jobs(&mut *tx, tenant, study, fan_out).await?;
        let counter = if status == JobStatus::Done { "jobs_done" } else { "jobs_failed" };
        let rows = tx
            .query(
                &format!(
                    "UPDATE studies SET {counter} = {counter} + 1, jobs_total = COALESCE($3, jobs_total), \
                     deadline_at = $4 WHERE tenant = $1 AND id = $2 RETURNING jobs_done, jobs_failed, jobs_total"
                ),
                &[tenant.into(), study.into(), total.into(), deadline_at.into()],
            )
            .await?;
        let Some(row) = rows.first() else {
            // The study was deleted while the job ran.
            tx.rollback().await?;
            return Ok(None);
        };
        let progress = Progress { done: row.int("jobs_done")?, failed: row.int("jobs_failed")?, total: row.int("jobs_total")? };
        let staged = Outbox::stage(&mut *tx, announce(progress)?, now).await?;
        tx.commit().await?;
        Ok(Some((progress, staged)))
    }

    /// Moves a study to its final status and stages the event announcing
    /// it, in one transaction; `None` when it already had one (or is gone),
    /// so exactly one caller announces the end.
    #[allow(clippy::too_many_arguments)] // One transaction's inputs.
    pub async fn finish(
        &self,
        tenant: &str,
        id: &str,
        status: StudyStatus,
        error: Option<&str>,
        objective: Option<f64>,
        now: i64,
        announce: Envelope,
    ) -> Result<Option<Staged>, Error> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                "UPDATE studies SET status = $3, error = $4, objective = $5, finished_at = $6, \
                 started_at = COALESCE(started_at, $6) \
                 WHERE tenant = $1 AND id = $2 AND status IN ($7, $8)",
                &[
                    tenant.into(),
                    id.into(),
                    status.as_str().into(),
                    error.into(),
                    objective.into(),
                    now.into(),
                    StudyStatus::Queued.as_str().into(),
                    StudyStatus::Running.as_str().into(),
                ],
            )
            .await?;
        if changed != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let staged = Outbox::stage(&mut *tx, vec![announce], now).await?;
        tx.commit().await?;
        Ok(Some(staged))
    }

    /// Deletes the study and its jobs; `false` if the tenant has no such study.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<bool, Error> {
        let mut tx = self.db.begin().await?;
        tx.execute("DELETE FROM study_jobs WHERE tenant = $1 AND study = $2", &[tenant.into(), id.into()]).await?;
        let deleted = tx.execute("DELETE FROM studies WHERE tenant = $1 AND id = $2", &[tenant.into(), id.into()]).await?;
        tx.commit().await?;
        Ok(deleted == 1)
    }

    /// Studies not finished by their deadline, across tenants (janitor).
    pub async fn overdue(&self, now: i64, limit: usize) -> Result<Vec<Study>, Error> {
        let rows = self
            .db
            .query(
                &format!(
                    "SELECT {STUDY_COLUMNS} FROM studies WHERE status IN ($1, $2) AND deadline_at < $3 \
                     ORDER BY deadline_at LIMIT $4"
                ),
                &[
                    StudyStatus::Queued.as_str().into(),
                    StudyStatus::Running.as_str().into(),
                    now.into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            )
            .await?;
        rows.iter().map(study_from_row).collect()
    }

    /// Counts a requeue, moves the deadline and stages the jobs' requests
    /// again, in one transaction; `None` if the study moved on meanwhile.
    pub async fn requeued(
        &self,
        tenant: &str,
        id: &str,
        deadline_at: i64,
        now: i64,
        requests: Vec<Envelope>,
    ) -> Result<Option<Staged>, Error> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                "UPDATE studies SET requeues = requeues + 1, deadline_at = $3 \
                 WHERE tenant = $1 AND id = $2 AND status IN ($4, $5)",
                &[
                    tenant.into(),
                    id.into(),
                    deadline_at.into(),
                    StudyStatus::Queued.as_str().into(),
                    StudyStatus::Running.as_str().into(),
                ],
            )
            .await?;
        if changed != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let staged = Outbox::stage(&mut *tx, requests, now).await?;
        tx.commit().await?;
        Ok(Some(staged))
    }

    /// Pending job keys of a study.
    pub async fn pending_jobs(&self, tenant: &str, study: &str) -> Result<Vec<String>, Error> {
        let rows = self
            .db
            .query(
                "SELECT job FROM study_jobs WHERE tenant = $1 AND study = $2 AND status = $3 ORDER BY job",
                &[tenant.into(), study.into(), JobStatus::Pending.as_str().into()],
            )
            .await?;
        rows.iter().map(|row| row.text("job").map(str::to_owned)).collect()
    }

    /// Finished studies older than `before`, across tenants (janitor).
    pub async fn expired(&self, before: i64, limit: usize) -> Result<Vec<Study>, Error> {
        let rows = self
            .db
            .query(
                &format!(
                    "SELECT {STUDY_COLUMNS} FROM studies WHERE finished_at IS NOT NULL AND finished_at < $1 \
                     ORDER BY finished_at LIMIT $2"
                ),
                &[before.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()],
            )
            .await?;
        rows.iter().map(study_from_row).collect()
    }
}

async fn insert_jobs(tx: &mut dyn Transaction, tenant: &str, study: &str, jobs: &[JobPlan]) -> Result<(), Error> {
    for job in jobs {
        tx.execute(
            "INSERT INTO study_jobs (tenant, study, job, status, params) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant, study, job) DO NOTHING",
            &[
                tenant.into(),
                study.into(),
                job.key.clone().into(),
                JobStatus::Pending.as_str().into(),
                job.params.to_string().into(),
            ],
        )
        .await?;
    }
    Ok(())
}

fn study_from_row(row: &Row) -> Result<Study, Error> {
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    Ok(Study {
        tenant: row.text("tenant")?.to_owned(),
        id: row.text("id")?.to_owned(),
        kind: Kind::parse(kind).ok_or_else(|| Error::invalid("studies.kind", format!("unknown kind {kind:?}")))?,
        status: StudyStatus::parse(status)
            .ok_or_else(|| Error::invalid("studies.status", format!("unknown status {status:?}")))?,
        jobs_total: row.int("jobs_total")?,
        jobs_done: row.int("jobs_done")?,
        jobs_failed: row.int("jobs_failed")?,
        error: row.optional("error", |r, c| r.text(c).map(str::to_owned))?,
        objective: row.optional("objective", Row::float)?,
        request_fingerprint: row.text("request_fingerprint")?.to_owned(),
        requeues: row.int("requeues")?,
        created_at: row.int("created_at")?,
        started_at: row.optional("started_at", Row::int)?,
        finished_at: row.optional("finished_at", Row::int)?,
        deadline_at: row.int("deadline_at")?,
    })
}

fn job_from_row(row: &Row) -> Result<Job, Error> {
    Ok(Job {
        key: row.text("job")?.to_owned(),
        status: JobStatus::parse(row.text("status")?)?,
        params: row.json("params")?,
        result: row.optional("result", Row::json)?,
        error: row.optional("error", |r, c| r.text(c).map(str::to_owned))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor { created_at: 1_795_515_330_123, id: "3f2c".into() };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "zz", "abc", "3a", "6162"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
