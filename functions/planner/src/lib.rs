//! The Planner, as functions: from a goal (or the user's own plan) to a
//! validated task graph with its schedule, critical path and odds.
//!
//! - [`api`]: the `plans-api` routes (`/v1/plans`, its Gantt chart and
//!   approval, `/v1/usage/llm`).
//! - [`worker`]: `planner-worker`, on `plan.requested` (propose, check,
//!   analyse, store, announce) and `task.failed` or `task.rejected` (which
//!   of a plan's tasks are now blocked).
//! - [`propose`]: the model proposes, the code checks; one repair round,
//!   then the deterministic heuristic.
//!
//! `planner-engine` does every check and computation; this crate only talks
//! to the ports, the bus and the `llm` port.

pub mod api;
pub mod openapi;
pub mod propose;
pub mod repo;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use infra::Error;
use infra::auth::Verifier;
use infra::bus::Subscription;
use infra::cache::Cache;
use infra::config::{Config, LlmConfig};
use infra::edge::registry::QueueConsumer;
use infra::edge::{Adapters, Function, message_handler};
use infra::events::{Envelope, Event, EventName, Outbox, OutboxSettings};
use infra::llm::Llm;
use planner_engine::{AnalysisOptions, Distribution};

pub use repo::PlanRepo;

/// The worker's subscription; on AWS its queue is `<prefix>-planner-worker`.
pub const WORKER: Subscription = Subscription {
    name: "planner-worker",
    events: &[EventName::PlanRequested, EventName::TaskFailed, EventName::TaskRejected],
};
/// Every subscription of this app; the SAM template declares exactly these.
pub const SUBSCRIPTIONS: &[Subscription] = &[WORKER];
/// The CloudEvents `source` of this app's events.
pub const SOURCE: &str = "/hive/planner";
pub const READ_SCOPE: &str = "plans:read";
pub const WRITE_SCOPE: &str = "plans:write";

/// What the app is allowed to do, from the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub llm: LlmConfig,
    /// Most tasks a goal plan may have (`max_tasks` is at most this).
    pub max_goal_tasks: usize,
    /// Most tasks a user's plan may have.
    pub max_user_tasks: usize,
    pub analysis: AnalysisOptions,
    /// Plan requests a tenant may make per minute (`HIVE_RATE_LIMIT_PER_MINUTE`); 0 is no limit.
    pub requests_per_minute: u64,
}

impl Settings {
    pub fn standard(config: &Config) -> Settings {
        Settings {
            llm: config.llm.clone(),
            max_goal_tasks: 100,
            // The Orchestrator's batch limit: an approved plan is one batch of tasks.
            max_user_tasks: 500,
            analysis: AnalysisOptions {
                monte_carlo_samples: 2000,
                seed: 9,
                rcpsp_budget: Duration::from_secs(2),
                rcpsp_schedules: 2000,
                distribution: Distribution::PertBeta,
            },
            requests_per_minute: config.rate_limit_per_minute,
        }
    }
}

/// The app over its ports. Cheap to clone.
#[derive(Clone)]
pub struct Planner {
    pub repo: PlanRepo,
    pub outbox: Outbox,
    pub llm: Arc<dyn Llm>,
    pub cache: Arc<dyn Cache>,
    pub settings: Settings,
}

impl Planner {
    /// The app over connected adapters, with the configured model; applies
    /// its migrations.
    pub async fn start(
        adapters: &Adapters,
        settings: Settings,
        outbox: OutboxSettings,
    ) -> Result<Planner, Error> {
        let llm = infra::llm::from_config(&settings.llm)?;
        Planner::with_llm(adapters, settings, outbox, llm).await
    }

    /// [`Planner::start`] with a given model adapter (tests).
    pub async fn with_llm(
        adapters: &Adapters,
        settings: Settings,
        outbox: OutboxSettings,
        llm: Arc<dyn Llm>,
    ) -> Result<Planner, Error> {
        let outbox = Outbox::start(
            adapters.database.adapter.clone(),
            adapters.bus.adapter.clone(),
            outbox,
        )
        .await?;
        let planner = Planner {
            repo: PlanRepo::new(adapters.database.adapter.clone()),
            outbox,
            llm,
            cache: adapters.cache.adapter.clone(),
            settings,
        };
        planner.repo.migrate().await?;
        Ok(planner)
    }

    pub fn event<E: Event>(
        &self,
        tenant: &str,
        correlation_id: &str,
        event: &E,
    ) -> Result<Envelope, Error> {
        Envelope::new(
            SOURCE,
            Some(tenant),
            correlation_id,
            event,
            infra::time::now_ms(),
        )
    }
}

/// The worker as the local runner and the `planner-worker` Lambda run it.
pub fn worker(planner: Planner) -> QueueConsumer {
    let handler = message_handler(move |message| {
        let planner = planner.clone();
        async move { planner.handle_message(message).await }
    });
    QueueConsumer {
        subscription: WORKER,
        handler,
        concurrency: 1,
    }
}

/// The routes and the worker, for `hive serve`.
pub fn function(planner: Planner, verifier: Arc<Verifier>) -> Function {
    Function::new("planner")
        .consumer(worker(planner.clone()))
        .routes(api::routes(planner, verifier))
        .openapi(openapi::document())
}
