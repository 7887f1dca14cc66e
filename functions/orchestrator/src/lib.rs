//! The Orchestrator: tasks, runs and workers, as functions.
//!
//! - [`api`]: the `tasks-api` routes (create tasks and DAGs, steer them,
//!   register workers, claim, heartbeat and complete runs).
//! - `tasks-scheduler` ([`Orchestrator::sweep`]): times out runs that never
//!   started, ran too long or went silent, retries or fails their tasks,
//!   and takes silent workers offline.
//! - `tasks-events` ([`events_consumer`]): applies the Reviewer's
//!   `review.completed`, and turns the Planner's `plan.created` into tasks
//!   ([`plans`]).
//!
//! The state machine is `orchestrator-engine`'s table; [`repo`] applies it
//! on the database port, with every transition's history row and `task.*`
//! event in the same transaction (the outbox).

pub mod api;
pub mod model;
pub mod plans;
pub mod repo;

use std::sync::Arc;
use std::time::Duration;

use infra::Error;
use infra::auth::Verifier;
use infra::bus::Subscription;
use infra::edge::registry::QueueConsumer;
use infra::edge::schedule::Schedule;
use infra::edge::{Adapters, Function, Message, ScheduledHandler, message_handler, scheduled_handler};
use infra::events::{EventName, Outbox, OutboxSettings, PlanCreated, ReviewCompleted};

pub use model::Settings;
pub use repo::TaskRepo;

/// The events consumer's subscription (its queue on AWS is
/// `<prefix>-tasks-events`).
pub const EVENTS: Subscription = Subscription { name: "tasks-events", events: &[EventName::ReviewCompleted, EventName::PlanCreated] };
/// Every subscription of this app; the SAM template declares exactly these.
pub const SUBSCRIPTIONS: &[Subscription] = &[EVENTS];

#[derive(Clone)]
pub struct Orchestrator {
    pub repo: TaskRepo,
    pub settings: Settings,
}

impl Orchestrator {
    /// The app over connected adapters; applies its migrations.
    pub async fn start(adapters: &Adapters, settings: Settings, outbox: OutboxSettings) -> Result<Orchestrator, Error> {
        let outbox = Outbox::start(adapters.database.adapter.clone(), adapters.bus.adapter.clone(), outbox).await?;
        let repo = TaskRepo::new(adapters.database.adapter.clone(), outbox);
        repo.migrate().await?;
        Ok(Orchestrator { repo, settings })
    }

    /// One scheduler pass.
    pub async fn sweep(&self) -> Result<repo::Sweep, Error> {
        let offline_after = i64::try_from(self.settings.worker_offline_after.as_millis()).unwrap_or(i64::MAX / 4);
        self.repo.sweep(offline_after, self.settings.backoff()).await
    }

    /// Applies one `review.completed` (a task that is not in review, or a
    /// redelivery, changes nothing) or one `plan.created`.
    pub async fn handle_message(&self, message: Message) -> Result<(), Error> {
        let envelope = message.envelope()?;
        let tenant = envelope.tenant.as_deref().ok_or_else(|| Error::invalid("tenant", "the event names no tenant"))?;
        if envelope.event_type == EventName::PlanCreated.as_str() {
            let plan: PlanCreated = envelope.decode()?;
            let created = self.create_plan(tenant, &envelope.id, &plan).await?;
            tracing::info!(plan = %plan.plan_id, created, "plan's tasks created");
            return Ok(());
        }
        let review: ReviewCompleted = envelope.decode()?;
        // Work submitted to the Reviewer directly is no task of ours.
        let Some(task) = review.task.as_deref() else { return Ok(()) };
        match self.repo.review(tenant, &envelope.id, task, &review).await {
            Ok(()) => Ok(()),
            Err(repo::Denied::Store(error)) => Err(error),
            Err(denied) => {
                tracing::warn!(%task, %denied, "review not applied");
                Ok(())
            }
        }
    }
}

/// The scheduler as the local runner and the `tasks-scheduler` Lambda run it.
pub fn scheduler(orchestrator: Orchestrator) -> ScheduledHandler {
    scheduled_handler(move |_run| {
        let orchestrator = orchestrator.clone();
        async move { orchestrator.sweep().await.map(|_| ()) }
    })
}

/// The events consumer, for the local runner and the `tasks-events` Lambda.
pub fn events_consumer(orchestrator: Orchestrator) -> QueueConsumer {
    let handler = message_handler(move |message| {
        let orchestrator = orchestrator.clone();
        async move { orchestrator.handle_message(message).await }
    });
    QueueConsumer { subscription: EVENTS, handler, concurrency: 1 }
}

/// Every minute on AWS; every two seconds under `hive serve`.
pub fn schedule() -> Schedule {
    Schedule::every(Duration::from_secs(60)).expect("whole minutes").locally_every(Duration::from_secs(2))
}

pub fn function(orchestrator: Orchestrator, verifier: Arc<Verifier>) -> Function {
    Function::new("orchestrator")
        .routes(api::routes(orchestrator.clone(), verifier))
        .openapi(api::openapi())
        .consumer(events_consumer(orchestrator.clone()))
        .schedule("tasks-scheduler", schedule(), scheduler(orchestrator))
}
