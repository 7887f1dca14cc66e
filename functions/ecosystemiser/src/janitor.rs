//! The janitor: a scheduled sweep that keeps studies from hanging forever
//! and storage from growing forever.
//!
//! - A study with no job recorded before its deadline (the stall timeout
//!   after its last progress) gets its pending jobs sent again, once. If it
//!   is overdue again it fails, with the reason. A study whose jobs are all
//!   recorded but that was never aggregated (a crash between the two) is
//!   aggregated.
//! - A finished study older than the retention period is deleted: its
//!   objects, then its rows.
//!
//! Each run handles at most [`BATCH`] studies of each kind; the next run
//! takes the rest.

use infra::Error;

use crate::model::StudyStatus;
use crate::{Studies, keys};

pub const BATCH: usize = 100;

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub requeued: usize,
    pub failed: usize,
    pub finalized: usize,
    pub deleted: usize,
}

impl Studies {
    /// One janitor run at `now` (Unix ms).
    pub async fn sweep(&self, now: i64) -> Result<Sweep, Error> {
        let mut sweep = Sweep::default();
        for study in self.repo.overdue(now, BATCH).await? {
            let correlation_id = format!("janitor-{}", study.id);
            let pending = self.repo.pending_jobs(&study.tenant, &study.id).await?;
            if pending.is_empty() {
                self.finalize(&study.tenant, &study.id, &correlation_id).await?;
                sweep.finalized += 1;
            } else if study.requeues == 0 {
                let requests = self.job_requests(&study.tenant, &study.id, &pending, &correlation_id)?;
                if let Some(staged) = self.repo.requeued(&study.tenant, &study.id, self.deadline(now), now, requests).await? {
                    tracing::warn!(study = %study.id, jobs = pending.len(), "overdue study: pending jobs sent again");
                    self.outbox.relay(staged, now).await;
                    sweep.requeued += 1;
                }
            } else {
                let minutes = self.settings.stall_timeout.as_secs() / 60;
                let reason = format!(
                    "no progress for {minutes} minutes after its pending jobs were sent again; {} of {} jobs never finished",
                    pending.len(),
                    study.jobs_total
                );
                let announce =
                    self.finished_event(&study, StudyStatus::Failed, Some(reason.clone()), None, &correlation_id)?;
                let finished =
                    self.repo.finish(&study.tenant, &study.id, StudyStatus::Failed, Some(&reason), None, now, announce).await?;
                if let Some(staged) = finished {
                    tracing::warn!(study = %study.id, %reason, "overdue study failed");
                    self.outbox.relay(staged, now).await;
                    sweep.failed += 1;
                }
            }
        }
        let retention = i64::try_from(self.settings.retention.as_millis()).unwrap_or(i64::MAX / 2);
        for study in self.repo.expired(now.saturating_sub(retention), BATCH).await? {
            self.delete_study(&study.tenant, &study.id).await?;
            sweep.deleted += 1;
        }
        if sweep != Sweep::default() {
            tracing::info!(?sweep, "janitor sweep");
        }
        Ok(sweep)
    }

    /// Deletes a study's objects, then its rows; `false` if the tenant has
    /// no such study. Objects first, so a failure leaves the study listed
    /// and the delete can be retried.
    pub async fn delete_study(&self, tenant: &str, id: &str) -> Result<bool, Error> {
        if self.repo.get(tenant, id).await?.is_none() {
            return Ok(false);
        }
        for object in self.objects.list(&keys::study_prefix(tenant, id)).await? {
            self.objects.delete(&object.key).await?;
        }
        self.repo.delete(tenant, id).await
    }
}
