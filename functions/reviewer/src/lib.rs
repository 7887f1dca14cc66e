//! The Reviewer, as functions: an explainable score and a decision for
//! every piece of submitted work.
//!
//! - [`api`]: `POST /v1/reviews` (202), `GET /v1/reviews/{id}`, its
//!   Markdown at `/v1/reviews/{id}.md`, `GET /v1/reviews?task_id=`,
//!   `POST /v1/reviews/uploads` (and `…/uploads/{id}/files`, more parts)
//!   and `GET`/`PUT /v1/reviews/config` (the `reviews-api` function).
//! - [`flow`]: the consumer (`reviews-events`) of `task.review_requested`
//!   (a task's submission) and `code.analysis_completed` (Guardian's
//!   facts), and the sweep (`reviews-sweep`) that escalates reviews whose
//!   analysis never came.
//!
//! A review asks Guardian for the facts with `code.analysis_requested`,
//! scores them with [`reviewer_engine`] and announces `review.completed`
//! (naming the task, if any); all through the outbox, every handler once
//! per event.

pub mod api;
pub mod config;
pub mod flow;
pub mod repo;

use std::sync::Arc;

use infra::Error;
use infra::auth::Verifier;
use infra::bus::Subscription;
use infra::edge::registry::QueueConsumer;
use infra::edge::{Adapters, Function, ScheduledHandler, message_handler, scheduled_handler};
use infra::events::{Envelope, Event, EventName, Outbox, OutboxSettings};
use infra::llm::Llm;
use infra::objects::ObjectStore;
use infra::uploads::Uploads;

pub use config::Settings;
pub use repo::ReviewRepo;

/// The consumer's subscription; on AWS its queue is `<prefix>-reviews-events`.
pub const EVENTS: Subscription =
    Subscription { name: "reviews-events", events: &[EventName::TaskReviewRequested, EventName::CodeAnalysisCompleted] };
/// Every subscription of this app; the SAM template declares exactly these.
pub const SUBSCRIPTIONS: &[Subscription] = &[EVENTS];
/// The CloudEvents `source` of this app's events.
pub const SOURCE: &str = "/hive/reviewer";
pub const READ_SCOPE: &str = "reviews:read";
pub const WRITE_SCOPE: &str = "reviews:write";

/// The app over its ports. Cheap to clone.
#[derive(Clone)]
pub struct Reviewer {
    pub repo: ReviewRepo,
    pub objects: Arc<dyn ObjectStore>,
    /// Submissions uploaded in parts, under `reviewer/<tenant>/uploads/`.
    pub uploads: Uploads,
    pub outbox: Outbox,
    pub settings: Settings,
    /// The optional narrative's model (`NoLlm` when none is configured).
    pub llm: Arc<dyn Llm>,
}

impl Reviewer {
    pub async fn start(adapters: &Adapters, settings: Settings, outbox: OutboxSettings) -> Result<Reviewer, Error> {
        let outbox = Outbox::start(adapters.database.adapter.clone(), adapters.bus.adapter.clone(), outbox).await?;
        let reviewer = Reviewer {
            repo: ReviewRepo::new(adapters.database.adapter.clone()),
            objects: adapters.objects.adapter.clone(),
            uploads: Uploads::new(adapters.database.adapter.clone(), adapters.objects.adapter.clone(), "reviewer", repo::UPLOADS_TABLE),
            outbox,
            llm: infra::llm::from_config(&settings.llm)?,
            settings,
        };
        reviewer.repo.migrate().await?;
        Ok(reviewer)
    }

    pub fn event<E: Event>(&self, tenant: &str, correlation_id: &str, event: &E) -> Result<Envelope, Error> {
        Envelope::new(SOURCE, Some(tenant), correlation_id, event, now_ms())
    }
}

/// The consumer as the local runner and the `reviews-events` Lambda run it.
pub fn events_consumer(reviewer: Reviewer) -> QueueConsumer {
    let handler = message_handler(move |message| {
        let reviewer = reviewer.clone();
        async move { reviewer.handle_message(message).await }
    });
    QueueConsumer { subscription: EVENTS, handler, concurrency: 2 }
}

/// The sweep as the local runner and the `reviews-sweep` Lambda run it.
pub fn sweeper(reviewer: Reviewer) -> ScheduledHandler {
    scheduled_handler(move |_run| {
        let reviewer = reviewer.clone();
        async move { reviewer.sweep().await.map(|_| ()) }
    })
}

/// The routes, the consumer and the sweep, for `hive serve`.
pub fn function(reviewer: Reviewer, verifier: Arc<Verifier>) -> Function {
    Function::new("reviewer")
        .routes(api::routes(reviewer.clone(), verifier))
        .openapi(api::openapi())
        .consumer(events_consumer(reviewer.clone()))
        .schedule("reviews-sweep", reviewer.settings.sweep, sweeper(reviewer))
}

pub fn now_ms() -> i64 {
    infra::time::now_ms()
}

/// Object keys, all under the tenant.
pub mod keys {
    /// The submission as the engine reads it.
    pub fn submission(tenant: &str, id: &str) -> String {
        format!("reviewer/{tenant}/{id}/submission.json")
    }
    /// The files as Guardian's `code.analysis_requested` names them.
    pub fn analysis(tenant: &str, id: &str) -> String {
        format!("reviewer/{tenant}/{id}/analysis.json")
    }
}
