//! Guardian, as functions: golden-rule review of Python and Rust code.
//!
//! - [`api`]: `POST /v1/guardian/uploads` (and `…/uploads/{id}/files`,
//!   more parts), `POST /v1/guardian/reviews` (202, queued), `GET
//!   /v1/guardian/reviews/{id}` (findings, metrics, summary) and
//!   `/v1/guardian/reviews/{id}/sarif` (the `guardian-api` function).
//! - [`webhook`]: `POST /v1/guardian/webhooks/github`, verified with
//!   `X-Hub-Signature-256`, deduped on `X-GitHub-Delivery`; a pull request
//!   is queued as a review (also in `guardian-api`).
//! - [`worker`]: one `code.analysis_requested` is one analysis (the
//!   `guardian-worker` function): files from the object store (inline or an
//!   upload's parts) or the pull request's changed files from GitHub under
//!   the repository's own `guardian.toml` at the head (a bad one is a failed
//!   check naming its line and key), the engine on them, the review
//!   and SARIF into the object store, a check run for a pull request, and
//!   `code.analysis_completed`.
//!
//! The engine ([`guardian_engine`]) does the analysis; this crate only
//! talks to the ports and to GitHub ([`github`]).

pub mod api;
pub mod config;
pub mod github;
pub mod openapi;
pub mod repo;
pub mod webhook;
pub mod worker;

use std::sync::Arc;

use infra::Error;
use infra::auth::Verifier;
use infra::bus::Subscription;
use infra::edge::registry::QueueConsumer;
use infra::edge::{Adapters, Function, message_handler};
use infra::events::{Envelope, Event, EventName, Outbox, OutboxSettings};
use infra::objects::ObjectStore;
use infra::uploads::Uploads;

pub use config::Settings;
pub use repo::ReviewRepo;

/// The worker's subscription; on AWS its queue is `<prefix>-guardian-worker`.
pub const WORKER: Subscription = Subscription { name: "guardian-worker", events: &[EventName::CodeAnalysisRequested] };
/// Every subscription of this app; the SAM template must declare exactly these.
pub const SUBSCRIPTIONS: &[Subscription] = &[WORKER];
/// The CloudEvents `source` of this app's events.
pub const SOURCE: &str = "/hive/guardian";
pub const WRITE_SCOPE: &str = "guardian:write";
pub const READ_SCOPE: &str = "guardian:read";

/// The app over its ports. Cheap to clone.
#[derive(Clone)]
pub struct Guardian {
    pub repo: ReviewRepo,
    pub objects: Arc<dyn ObjectStore>,
    /// Bundles uploaded in parts, under `guardian/<tenant>/uploads/`.
    pub uploads: Uploads,
    pub outbox: Outbox,
    pub settings: Settings,
    pub github: github::GitHub,
}

impl Guardian {
    pub async fn start(adapters: &Adapters, settings: Settings, outbox: OutboxSettings) -> Result<Guardian, Error> {
        let outbox = Outbox::start(adapters.database.adapter.clone(), adapters.bus.adapter.clone(), outbox).await?;
        let guardian = Guardian {
            repo: ReviewRepo::new(adapters.database.adapter.clone()),
            objects: adapters.objects.adapter.clone(),
            uploads: Uploads::new(adapters.database.adapter.clone(), adapters.objects.adapter.clone(), "guardian", repo::UPLOADS_TABLE),
            outbox,
            github: github::GitHub::new(&settings.github_api_url, settings.github_token.clone())?,
            settings,
        };
        guardian.repo.migrate().await?;
        Ok(guardian)
    }

    pub fn event<E: Event>(&self, tenant: &str, correlation_id: &str, event: &E) -> Result<Envelope, Error> {
        Envelope::new(SOURCE, Some(tenant), correlation_id, event, now_ms())
    }
}

/// The worker as the local runner and the `guardian-worker` Lambda run it.
pub fn worker(guardian: Guardian) -> QueueConsumer {
    let handler = message_handler(move |message| {
        let guardian = guardian.clone();
        async move { guardian.handle_message(message).await }
    });
    QueueConsumer { subscription: WORKER, handler, concurrency: 1 }
}

/// The routes and the worker, for `hive serve`.
pub fn function(guardian: Guardian, verifier: Arc<Verifier>) -> Function {
    Function::new("guardian")
        .consumer(worker(guardian.clone()))
        .routes(api::routes(guardian, verifier))
        .openapi(openapi::document())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Object keys, all under the tenant.
pub mod keys {
    pub fn request(tenant: &str, id: &str) -> String {
        format!("guardian/{tenant}/{id}/request.json")
    }
    pub fn review(tenant: &str, id: &str) -> String {
        format!("guardian/{tenant}/{id}/review.json")
    }
    pub fn sarif(tenant: &str, id: &str) -> String {
        format!("guardian/{tenant}/{id}/review.sarif.json")
    }
}
