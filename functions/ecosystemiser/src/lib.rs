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
//! crate only talks to the ports ([`infra::db`], [`infra::queue`],
//! [`infra::objects`]).

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
use infra::cache::Cache;
use infra::config::Config;
use infra::edge::schedule::Schedule;
use infra::edge::{Adapters, Function, message_handler, scheduled_handler};
use infra::events::EventName;
use infra::objects::ObjectStore;
use infra::queue::Queue;

pub use repo::StudyRepo;

/// The queue name the worker consumes under (the local runner's name for
/// the bus; on AWS the jobs queue).
pub const JOBS_QUEUE: &str = "studies";
/// The events the worker handles; the rest of the bus is not its business.
pub const WORKER_EVENTS: [EventName; 1] = [EventName::StudyJobRequested];
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
        }
    }
}

/// The app over its ports. Cheap to clone; every handler holds one.
#[derive(Clone)]
pub struct Studies {
    pub repo: StudyRepo,
    pub objects: Arc<dyn ObjectStore>,
    pub queue: Arc<dyn Queue>,
    /// Rate limits; not a required dependency.
    pub cache: Arc<dyn Cache>,
    pub settings: Settings,
}

impl Studies {
    /// Builds the app over connected adapters and applies its migrations.
    /// A local object store turns on direct uploads.
    pub async fn start(adapters: &Adapters, mut settings: Settings) -> Result<Studies, Error> {
        settings.direct_uploads |= adapters.objects.kind == "fs";
        let studies = Studies {
            repo: StudyRepo::new(adapters.database.adapter.clone()),
            objects: adapters.objects.adapter.clone(),
            queue: adapters.queue.adapter.clone(),
            cache: adapters.cache.adapter.clone(),
            settings,
        };
        studies.repo.migrate().await?;
        Ok(studies)
    }

    fn deadline(&self, now: i64) -> i64 {
        now + i64::try_from(self.settings.stall_timeout.as_millis()).unwrap_or(i64::MAX / 2)
    }
}

/// Everything the app contributes to the local runner: the routes, the
/// worker (on `study.job_requested` only) and the janitor.
pub fn function(studies: Studies, verifier: Arc<Verifier>) -> Function {
    let schedule = studies.settings.janitor_every;
    let worker = studies.clone();
    let janitor = studies.clone();
    Function::new("ecosystemiser")
        .routes(api::routes(studies, verifier))
        .openapi(openapi::document())
        .consumer_of(
            JOBS_QUEUE,
            &WORKER_EVENTS,
            message_handler(move |message| {
                let worker = worker.clone();
                async move { worker.handle_message(message).await }
            }),
        )
        .schedule(
            "studies-janitor",
            schedule,
            scheduled_handler(move |_run| {
                let janitor = janitor.clone();
                async move { janitor.sweep(time::now_ms()).await.map(|_| ()) }
            }),
        )
}
