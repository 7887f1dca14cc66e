//! The worker: one `study.job_requested` message is one job.
//!
//! Failures come in three kinds, handled differently:
//! - **poison** — a message this worker cannot even read (no event
//!   attribute, a body that is not a job request, a job its study never
//!   planned): an `Error::Invalid`, so the edge reports it failed on every
//!   receive and the queue's redrive policy moves it to the dead-letter
//!   queue;
//! - **transient** — a port is unavailable: a retryable error, so the
//!   message comes back and the job runs again;
//! - **permanent** — the job itself cannot succeed (its input is unreadable,
//!   the options do not fit): recorded on the job and the study, which
//!   fails with the reason, and the message is acknowledged. An infeasible
//!   system is not a failure at all but a result.
//!
//! A job counts once: [`StudyRepo::record_job`] moves its row from pending
//! in one transaction with the study's counter, the inbox entry for the
//! delivery's event id and the events it announces (its completion and any
//! fan-out), so a redelivery finds it done and only repairs what a crash
//! may have left unfinished (a complete study not aggregated). Events
//! reach the bus through the outbox, so none is lost between the commit and
//! the publish.
//!
//! [`StudyRepo::record_job`]: crate::repo::StudyRepo::record_job

use ecosystemiser_engine::optimize::Options;
use ecosystemiser_engine::pareto::{self, ParetoPoint};
use ecosystemiser_engine::results::{Results, Status};
use ecosystemiser_engine::uncertainty::{self, SampleResult};
use ecosystemiser_engine::{System, optimize, report};
use infra::Error;
use infra::edge::Message;
use infra::events::{
    Envelope, EventName, JobStatus as EventJobStatus, StudyCompleted, StudyFailed, StudyFinished, StudyJobCompleted,
    StudyJobRequested, StudyProgress,
};

use crate::model::{ANCHORS_JOB, JobPlan, Kind, OPTIMIZE_JOB, StudyInput, StudyOptions, StudyStatus, point_job};
use crate::repo::{Delivered, Job, JobOutcome, JobStatus, Study};
use crate::{Studies, WORKER, keys, time};

/// The payload of a `study.job_requested` event.
pub type JobRequest = StudyJobRequested;

/// A solved job, before it is recorded.
struct Solved {
    outcome: JobOutcome,
    /// The job's full results, stored as an object (an optimisation's series).
    full: Option<Vec<u8>>,
    fan_out: Vec<JobPlan>,
    total: Option<i64>,
}

impl Solved {
    fn failed(reason: String) -> Solved {
        Solved { outcome: JobOutcome::Failed(reason), full: None, fan_out: Vec::new(), total: None }
    }
}

impl Studies {
    /// The queue handler: a `study.job_requested` envelope is one job. A
    /// body that is not an envelope of a known type and version is
    /// `Invalid`, so it is dead-lettered with the reason logged.
    pub async fn handle_message(&self, message: Message) -> Result<(), Error> {
        let envelope = message.envelope()?;
        match envelope.name()? {
            EventName::StudyJobRequested => {}
            other => {
                tracing::debug!(event = %other, "not a job; ignored");
                return Ok(());
            }
        }
        let request: JobRequest = envelope.decode()?;
        self.run_job(&request, &envelope).await
    }

    /// Runs one job and records it, once.
    pub async fn run_job(&self, request: &JobRequest, envelope: &Envelope) -> Result<(), Error> {
        let correlation_id = envelope.correlationid.as_str();
        let JobRequest { tenant, study: id, job: key } = request;
        let Some(study) = self.repo.get(tenant, id).await? else {
            tracing::info!(study = %id, "job for a study that no longer exists; dropped");
            return Ok(());
        };
        if study.status.is_final() {
            tracing::info!(study = %id, job = %key, status = study.status.as_str(), "study already finished; job dropped");
            return Ok(());
        }
        let Some(job) = self.repo.job(tenant, id, key).await? else {
            return Err(Error::invalid("job", format!("study {id} has no job {key:?}")));
        };
        if job.status != JobStatus::Pending {
            tracing::info!(study = %id, job = %key, "job already recorded; redelivery repairs only");
            return self.repair(&study, &job, correlation_id).await;
        }
        self.repo.mark_running(tenant, id, time::now_ms()).await?;

        let solved = match self.load_input(tenant, id).await? {
            Ok(input) => {
                let kind = study.kind;
                let job = job.clone();
                tokio::task::spawn_blocking(move || solve(kind, &input, &job))
                    .await
                    .map_err(|error| Error::Backend { service: "worker", message: format!("solver task: {error}") })?
            }
            Err(reason) => Solved::failed(reason),
        };
        if let Some(full) = solved.full {
            self.objects.put(&keys::job(tenant, id, key), full, "application/json").await?;
        }
        let now = time::now_ms();
        let fan_out: Vec<String> = solved.fan_out.iter().map(|job| job.key.clone()).collect();
        let (status, error) = match &solved.outcome {
            JobOutcome::Done(_) => (EventJobStatus::Done, None),
            JobOutcome::Failed(reason) => (EventJobStatus::Failed, Some(reason.clone())),
        };
        let announce = |progress: crate::repo::Progress| -> Result<Vec<Envelope>, Error> {
            let completed = StudyJobCompleted {
                study: id.clone(),
                job: key.clone(),
                status,
                error: error.clone(),
                progress: StudyProgress { done: progress.done, failed: progress.failed, total: progress.total },
            };
            let mut events = vec![self.event(tenant, correlation_id, &completed)?];
            events.extend(self.job_requests(tenant, id, &fan_out, correlation_id)?);
            Ok(events)
        };
        let delivered = Delivered { consumer: WORKER.name, event_id: &envelope.id };
        let recorded = self
            .repo
            .record_job(
                tenant,
                id,
                key,
                &solved.outcome,
                &solved.fan_out,
                solved.total,
                now,
                self.deadline(now),
                &delivered,
                announce,
            )
            .await?;
        let Some((progress, staged)) = recorded else {
            tracing::info!(study = %id, job = %key, "job recorded concurrently by another delivery");
            return Ok(());
        };
        self.outbox.relay(staged, now).await;
        tracing::info!(study = %id, job = %key, ?status, done = progress.done, total = progress.total, "job recorded");
        if progress.is_complete() {
            self.finalize(tenant, id, correlation_id).await?;
        }
        Ok(())
    }

    /// After a redelivery of a recorded job: aggregates a complete study
    /// that is not final yet (the first delivery died before it could).
    /// Its events were committed with it, so none needs sending again.
    async fn repair(&self, study: &Study, _job: &Job, correlation_id: &str) -> Result<(), Error> {
        if study.jobs_done + study.jobs_failed >= study.jobs_total {
            self.finalize(&study.tenant, &study.id, correlation_id).await?;
        }
        Ok(())
    }

    /// The stored input: `Ok(Err(reason))` when it is missing or unreadable
    /// (permanent), `Err` when the store is unavailable (retry).
    async fn load_input(&self, tenant: &str, study: &str) -> Result<Result<StudyInput, String>, Error> {
        let bytes = match self.objects.get(&keys::input(tenant, study)).await {
            Ok(bytes) => bytes,
            Err(Error::NotFound(_)) => return Ok(Err("the study's input is missing from the object store".into())),
            Err(error) => return Err(error),
        };
        Ok(serde_json::from_slice(&bytes).map_err(|error| format!("the study's input is unreadable: {error}")))
    }

    /// Aggregates a complete study: writes its results document and report
    /// and moves it to its final status. Safe to run twice; only the first
    /// status change announces the end.
    pub async fn finalize(&self, tenant: &str, id: &str, correlation_id: &str) -> Result<(), Error> {
        let Some(study) = self.repo.get(tenant, id).await? else { return Ok(()) };
        if study.status.is_final() {
            return Ok(());
        }
        let jobs = self.repo.jobs(tenant, id).await?;
        if jobs.iter().any(|job| job.status == JobStatus::Pending) {
            return Ok(());
        }
        let failed: Vec<String> = jobs
            .iter()
            .filter(|job| job.status == JobStatus::Failed)
            .map(|job| format!("job {}: {}", job.key, job.error.as_deref().unwrap_or("failed")))
            .collect();
        let (status, error, objective) = if !failed.is_empty() {
            (StudyStatus::Failed, Some(failed.join("; ")), None)
        } else {
            match self.load_input(tenant, id).await? {
                Err(reason) => (StudyStatus::Failed, Some(reason), None),
                Ok(input) => match input.system() {
                    Err(reason) => (StudyStatus::Failed, Some(format!("the study's input is invalid: {reason}")), None),
                    Ok(system) => self.aggregate(&study, &input, &system, &jobs).await?,
                },
            }
        };
        let announce = self.finished_event(&study, status, error.clone(), objective, correlation_id)?;
        let now = time::now_ms();
        if let Some(staged) = self.repo.finish(tenant, id, status, error.as_deref(), objective, now, announce).await? {
            tracing::info!(study = %id, status = status.as_str(), error = error.as_deref(), "study finished");
            self.outbox.relay(staged, now).await;
        }
        Ok(())
    }

    /// `study.completed` (succeeded or infeasible) or `study.failed`.
    pub(crate) fn finished_event(
        &self,
        study: &Study,
        status: StudyStatus,
        error: Option<String>,
        objective: Option<f64>,
        correlation_id: &str,
    ) -> Result<Envelope, Error> {
        let finished = StudyFinished {
            study: study.id.clone(),
            kind: study.kind.as_str().to_owned(),
            status: status.as_str().to_owned(),
            error,
            objective,
        };
        if status == StudyStatus::Failed {
            self.event(&study.tenant, correlation_id, &StudyFailed(finished))
        } else {
            self.event(&study.tenant, correlation_id, &StudyCompleted(finished))
        }
    }

    /// Builds and stores the results document (and report, and for an
    /// optimisation the series CSV); returns the final status.
    async fn aggregate(
        &self,
        study: &Study,
        input: &StudyInput,
        system: &System,
        jobs: &[Job],
    ) -> Result<(StudyStatus, Option<String>, Option<f64>), Error> {
        let (tenant, id) = (study.tenant.as_str(), study.id.as_str());
        let links = serde_json::json!({
            "study": format!("/v1/studies/{id}"),
            "report": format!("/v1/studies/{id}/report"),
        });
        let (status, error, objective, mut document, html) = match study.kind {
            Kind::Optimize => {
                let bytes = match self.objects.get(&keys::job(tenant, id, OPTIMIZE_JOB)).await {
                    Ok(bytes) => bytes,
                    Err(Error::NotFound(_)) => {
                        return Ok((StudyStatus::Failed, Some("the job's results are missing".into()), None));
                    }
                    Err(error) => return Err(error),
                };
                let results: Results = serde_json::from_slice(&bytes)
                    .map_err(|error| Error::invalid("results", format!("stored job results unreadable: {error}")))?;
                let (status, error) = match results.status {
                    Status::Optimal => (StudyStatus::Succeeded, None),
                    Status::Infeasible => (StudyStatus::Infeasible, diagnosis(&results)),
                    other => (
                        StudyStatus::Failed,
                        Some(format!("the solver ended {other:?}{}", diagnosis(&results).map(|d| format!(": {d}")).unwrap_or_default())),
                    ),
                };
                if !results.series.is_empty() {
                    self.objects.put(&keys::series(tenant, id), report::series_csv(&results).into_bytes(), "text/csv").await?;
                }
                let html = report::html(system, &results);
                let mut document = serde_json::to_value(&results).map_err(internal)?;
                if let Some(map) = document.as_object_mut() {
                    map.remove("series");
                }
                (status, error, results.objective, document, html)
            }
            Kind::Pareto => {
                let mut points: Vec<ParetoPoint> = Vec::new();
                for job in jobs {
                    let Some(result) = &job.result else { continue };
                    if job.key == ANCHORS_JOB {
                        let anchors: Vec<ParetoPoint> =
                            serde_json::from_value(result["points"].clone()).map_err(internal)?;
                        points.extend(anchors);
                    } else {
                        points.push(serde_json::from_value(result.clone()).map_err(internal)?);
                    }
                }
                let cheapest = points.iter().find(|p| p.epsilon_co2_kg.is_none()).cloned();
                let front = pareto::assemble(system, points);
                let (status, error) = match cheapest.as_ref().map(|p| p.status) {
                    Some(Status::Optimal) => (StudyStatus::Succeeded, None),
                    Some(Status::Infeasible) => (StudyStatus::Infeasible, Some("the min-cost anchor is infeasible".into())),
                    other => (StudyStatus::Failed, Some(format!("the min-cost anchor ended {other:?}"))),
                };
                let objective = cheapest.as_ref().and_then(|p| p.cost);
                let html = report::pareto_html(system, &front);
                let document = serde_json::json!({
                    "status": cheapest.map(|p| p.status),
                    "objective": objective,
                    "objective_kind": "cost",
                    "front": front,
                });
                (status, error, objective, document, html)
            }
            Kind::Uncertainty => {
                let spec = input.options.uncertainty_spec().ok_or_else(|| internal("uncertainty study without a spec"))?;
                let samples: Vec<SampleResult> = jobs
                    .iter()
                    .filter_map(|job| job.result.clone())
                    .map(serde_json::from_value)
                    .collect::<Result<_, _>>()
                    .map_err(internal)?;
                let all_infeasible = samples.iter().all(|s| s.status == Status::Infeasible);
                let summary = uncertainty::summarise(system, &spec, samples);
                let (status, error) = match summary.optimal {
                    0 if all_infeasible => (StudyStatus::Infeasible, Some("every sample is infeasible".to_owned())),
                    0 => (StudyStatus::Failed, Some("no sample solved to optimality".to_owned())),
                    _ => (StudyStatus::Succeeded, None),
                };
                let objective = (summary.optimal > 0).then_some(summary.objective.mean);
                let html = report::uncertainty_html(system, &summary);
                let document = serde_json::json!({
                    "status": if summary.optimal > 0 { Status::Optimal } else { Status::Infeasible },
                    "objective": objective,
                    "objective_kind": "mean objective of the optimal samples",
                    "summary": summary,
                });
                (status, error, objective, document, html)
            }
        };
        if let Some(map) = document.as_object_mut() {
            map.insert("study".into(), id.into());
            map.insert("kind".into(), study.kind.as_str().into());
            let mut links = links;
            if study.kind == Kind::Optimize {
                links["series"] = format!("/v1/studies/{id}/series.csv").into();
            }
            map.insert("links".into(), links);
        }
        let bytes = serde_json::to_vec(&document).map_err(internal)?;
        self.objects.put(&keys::results(tenant, id), bytes, "application/json").await?;
        self.objects.put(&keys::report(tenant, id), html.into_bytes(), "text/html; charset=utf-8").await?;
        Ok((status, error, objective))
    }
}

fn diagnosis(results: &Results) -> Option<String> {
    results.diagnosis.as_ref().map(|d| d.message.clone())
}

fn internal(error: impl std::fmt::Display) -> Error {
    Error::Backend { service: "studies", message: error.to_string() }
}

/// Solves one job. CPU-bound: runs on a blocking thread.
fn solve(kind: Kind, input: &StudyInput, job: &Job) -> Solved {
    let system = match input.system() {
        Ok(system) => system,
        Err(reason) => return Solved::failed(format!("the study's input is invalid: {reason}")),
    };
    let options = input.options.engine_options();
    match (kind, &input.options, job.key.as_str()) {
        (Kind::Optimize, _, OPTIMIZE_JOB) => solve_optimize(&system, &options),
        (Kind::Pareto, StudyOptions::Pareto(pareto_options), ANCHORS_JOB) => {
            solve_anchors(&system, &options, pareto_options.points)
        }
        (Kind::Pareto, _, _) => match job.params["epsilon"].as_f64() {
            Some(epsilon) => {
                let point = ParetoPoint::from_results(Some(epsilon), &pareto::solve_point(&system, epsilon, &options));
                done(serde_json::to_value(point))
            }
            None => Solved::failed(format!("job {} has no epsilon", job.key)),
        },
        (Kind::Uncertainty, StudyOptions::Uncertainty(o), _) => {
            match (input.options.uncertainty_spec(), job.params["index"].as_u64()) {
                (Some(spec), Some(index)) if (index as usize) < o.samples => {
                    done(serde_json::to_value(uncertainty::solve_sample(&system, &spec, index as usize, &options)))
                }
                _ => Solved::failed(format!("job {} names no sample of this study", job.key)),
            }
        }
        (kind, _, key) => Solved::failed(format!("a {} study has no job {key}", kind.as_str())),
    }
}

fn done(result: Result<serde_json::Value, serde_json::Error>) -> Solved {
    match result {
        Ok(value) => Solved { outcome: JobOutcome::Done(value), full: None, fan_out: Vec::new(), total: None },
        Err(error) => Solved::failed(format!("result not serialisable: {error}")),
    }
}

fn solve_optimize(system: &System, options: &Options) -> Solved {
    match optimize(system, options) {
        Err(invalid) => Solved::failed(format!("the options do not fit the system: {invalid}")),
        Ok(results) => match serde_json::to_vec(&results) {
            Ok(full) => Solved {
                outcome: JobOutcome::Done(serde_json::json!({"status": results.status, "objective": results.objective})),
                full: Some(full),
                fan_out: Vec::new(),
                total: None,
            },
            Err(error) => Solved::failed(format!("results not serialisable: {error}")),
        },
    }
}

/// Both anchors, then the ε caps between them as new jobs. Without a CO2
/// at both ends (an anchor infeasible) there is no front to fan out, and
/// the study ends with this one job.
fn solve_anchors(system: &System, options: &Options, points: usize) -> Solved {
    let (cheapest, cleanest) = pareto::anchors(system, options);
    let mut solved = vec![ParetoPoint::from_results(None, &cheapest)];
    let (fan_out, total) = match (cheapest.co2_kg, cleanest.co2_kg) {
        (Some(high), Some(low)) => {
            solved.push(ParetoPoint::from_results(Some(low), &cleanest));
            let caps = pareto::epsilons(high, low, points);
            let interior = caps.len().saturating_sub(2);
            let jobs = caps
                .into_iter()
                .skip(1)
                .take(interior)
                .enumerate()
                .map(|(i, epsilon)| JobPlan::new(point_job(i + 1), serde_json::json!({ "epsilon": epsilon })))
                .collect();
            (jobs, None)
        }
        _ => (Vec::new(), Some(1)),
    };
    match serde_json::to_value(&solved) {
        Ok(points) => Solved {
            outcome: JobOutcome::Done(serde_json::json!({ "points": points })),
            full: None,
            fan_out,
            total,
        },
        Err(error) => Solved::failed(format!("anchors not serialisable: {error}")),
    }
}
