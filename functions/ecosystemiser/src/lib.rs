//! EcoSystemiser studies, as functions: HTTP → queue → worker → object
//! store + database → events → HTTP.
//!
//! - [`api`]: `/v1/studies` and `/v1/uploads` (the `studies-api` function).
//!   A submission is validated synchronously, stored, split into jobs and
//!   answered 202.
//! - [`worker`]: one `study.job_requested` message is one job — an
//!   optimisation, the Pareto anchors, one Pareto ε point or one uncertainty
//!   sample (the `studies-worker` function). The last job of a study
//!   aggregates it and announces `study.completed` or `study.failed`.
//! - [`janitor`]: requeues overdue studies once, then fails them, and
//!   deletes finished studies past retention (the `studies-janitor`
//!   function).
//!
//! [`function`] hands all three to the local runner; the three binaries in
//! `src/bin/` run one each on Lambda. The engine does the numbers; this
//! crate only talks to the ports ([`infra::db`], [`infra::bus`] through the
//! outbox, [`infra::objects`]).
//!
//! Every state change and the events announcing it commit together: the
//! events go through the transactional outbox ([`infra::events::outbox`]),
//! so a broker outage never loses a job or fails a submission.

pub mod api;
pub mod janitor;
pub mod keys;
pub mod model;
pub mod openapi;
pub mod repo;
pub mod system_schema;
pub mod testkit;
pub mod time;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use infra::Error;
use infra::auth::Verifier;
use infra::bus::Subscription;
use infra::cache::Cache;
use infra::config::Config;
use infra::edge::registry::QueueConsumer;
use infra::edge::schedule::Schedule;
use infra::edge::{Adapters, Function, message_handler, scheduled_handler};
use infra::events::{Envelope, Event, EventName, Outbox, OutboxSettings};
use infra::objects::ObjectStore;

pub use repo::StudyRepo;

/// The worker's subscription: its name is the Lambda function's binary,
/// and on AWS its queue is `<prefix>-studies-worker`.
pub const WORKER: Subscription = Subscription { name: "studies-worker", events: &[EventName::StudyJobRequested] };
/// Every subscription of this app; the SAM template must declare exactly these.
pub const SUBSCRIPTIONS: &[Subscription] = &[WORKER];
/// The CloudEvents `source` of this app's events.
pub const SOURCE: &str = "/hive/ecosystemiser";
/// Scopes for submitting, deleting and uploading, and for reading.
pub const WRITE_SCOPE: &str = "studies:write";
pub const READ_SCOPE: &str = "studies:read";

/// The app's tunables, passed in explicitly.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long an upload target stays valid.
    pub upload_expiry: Duration,
    /// A study with no job recorded for this long is overdue: the janitor
    /// requeues its pending jobs once, and fails it the next time.
    pub stall_timeout: Duration,
    /// Finished studies (rows and objects) are deleted after this long.
    pub retention: Duration,
    /// How often the janitor runs (an EventBridge rate on AWS).
    pub janitor_every: Schedule,
    /// Whether `POST /v1/uploads` answers with this API's own `PUT` route
    /// rather than the object store's target: true when the store is a local
    /// directory, whose `file://` targets a remote client cannot use.
    pub direct_uploads: bool,
    /// Study submissions a tenant may make per minute; 0 for no limit.
    pub submissions_per_minute: u64,
    /// Jobs the local runner solves at once (`HIVE_CONCURRENCY`
    /// `studies-worker=N`); by default one per core, as each is one solve.
    pub worker_concurrency: usize,
    pub outbox: OutboxSettings,
}

impl Settings {
    /// The values the functions run with. Retention matches the artifacts
    /// bucket's lifecycle rule (30 days); a stall timeout of 15 minutes is
    /// many times the slowest job (a yearly sizing LP takes about a second).
    pub fn standard(config: &Config) -> Settings {
        Settings {
            upload_expiry: Duration::from_secs(15 * 60),
            stall_timeout: Duration::from_secs(15 * 60),
            retention: Duration::from_secs(30 * 24 * 3600),
            janitor_every: Schedule::every(Duration::from_secs(10 * 60)).expect("whole minutes"),
            direct_uploads: false,
            submissions_per_minute: config.rate_limit_per_minute,
            worker_concurrency: config.concurrency.get(WORKER.name).copied().unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            }),
            outbox: OutboxSettings::standard(config.events_retention),
        }
    }
}

/// The app over its ports. Cheap to clone; every handler holds one.
#[derive(Clone)]
pub struct Studies {
    pub repo: StudyRepo,
    pub objects: Arc<dyn ObjectStore>,
    pub outbox: Outbox,
    /// Rate limits; not a required dependency.
    pub cache: Arc<dyn Cache>,
    pub settings: Settings,
}

impl Studies {
    /// Builds the app over connected adapters and applies its migrations.
    /// A local object store turns on direct uploads.
    pub async fn start(adapters: &Adapters, mut settings: Settings) -> Result<Studies, Error> {
        settings.direct_uploads |= adapters.objects.kind == "fs";
        let outbox =
            Outbox::start(adapters.database.adapter.clone(), adapters.bus.adapter.clone(), settings.outbox.clone()).await?;
        let studies = Studies {
            repo: StudyRepo::new(adapters.database.adapter.clone()),
            objects: adapters.objects.adapter.clone(),
            outbox,
            cache: adapters.cache.adapter.clone(),
            settings,
        };
        studies.repo.migrate().await?;
        Ok(studies)
    }

    fn deadline(&self, now: i64) -> i64 {
        now + i64::try_from(self.settings.stall_timeout.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// An event of this app, for `tenant`.
    pub fn event<E: Event>(&self, tenant: &str, correlation_id: &str, event: &E) -> Result<Envelope, Error> {
        Envelope::new(SOURCE, Some(tenant), correlation_id, event, time::now_ms())
    }

    /// One `study.job_requested` per job key.
    pub fn job_requests(
        &self,
        tenant: &str,
        study: &str,
        jobs: &[String],
        correlation_id: &str,
    ) -> Result<Vec<Envelope>, Error> {
        jobs.iter()
            .map(|job| {
                let request = infra::events::StudyJobRequested {
                    tenant: tenant.to_owned(),
                    study: study.to_owned(),
                    job: job.clone(),
                };
                self.event(tenant, correlation_id, &request)
            })
            .collect()
    }
}

/// The worker as the local runner and the `studies-worker` Lambda run it:
/// one declaration for both, and for the SAM template's subscription.
pub fn worker(studies: Studies) -> QueueConsumer {
    let concurrency = studies.settings.worker_concurrency;
    let handler = message_handler(move |message| {
        let worker = studies.clone();
        async move { worker.handle_message(message).await }
    });
    QueueConsumer { subscription: WORKER, handler, concurrency }
}

/// Everything the app contributes to the local runner: the routes, the
/// worker (on `study.job_requested` only) and the janitor.
pub fn function(studies: Studies, verifier: Arc<Verifier>) -> Function {
    let schedule = studies.settings.janitor_every;
    let janitor = studies.clone();
    Function::new("ecosystemiser")
        .consumer(worker(studies.clone()))
        .routes(api::routes(studies, verifier))
        .openapi(openapi::document())
        .schedule(
            "studies-janitor",
            schedule,
            scheduled_handler(move |_run| {
                let janitor = janitor.clone();
                async move { janitor.sweep(time::now_ms()).await.map(|_| ()) }
            }),
        )
}
