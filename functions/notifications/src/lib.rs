//! Notifications, as functions: platform events and direct requests become
//! messages on webhooks (signed per Standard Webhooks), Slack and email.
//!
//! - [`api`]: the `notifications-api` routes: notifications (one, bulk,
//!   replay, stats), endpoints, templates (with preview) and subscriptions.
//! - [`dispatch`]: `notifications-dispatcher` and
//!   `notifications-dispatcher-urgent`, one queue message per delivery
//!   attempt: it leases its notification, makes the attempt under the rate
//!   limits and records it; retries are delayed messages on the schedule,
//!   the last failure is dead, and an endpoint that keeps failing is
//!   disabled.
//! - [`events`]: `notifications-events`, the bus subscription turning
//!   platform events into notifications through the tenant's subscriptions.
//! - [`Notifications::sweep`]: `notifications-scheduler`: releases quiet
//!   hours and digests, runs the disable sweep, and announces again any
//!   notification whose message was lost.
//!
//! The engine ([`notifications_engine`]) decides; this crate stores and sends.

pub mod api;
pub mod channels;
pub mod dispatch;
pub mod events;

pub use events::SUBSCRIPTIONS;
pub mod model;
pub mod repo;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use infra::Error;
use infra::auth::Verifier;
use infra::bus::Bus;
use infra::cache::Cache;
use infra::edge::schedule::Schedule;
use infra::edge::{Adapters, Function, ScheduledHandler, scheduled_handler};

pub use repo::Repo;
pub use settings::Settings;

pub const READ_SCOPE: &str = "notifications:read";
pub const WRITE_SCOPE: &str = "notifications:write";

/// The app over its ports. Cheap to clone.
#[derive(Clone)]
pub struct Notifications {
    pub repo: Repo,
    pub cache: Arc<dyn Cache>,
    /// Where delivery messages go (the dispatcher's lanes).
    pub bus: Arc<dyn Bus>,
    pub settings: Settings,
    pub channels: channels::Channels,
}

impl Notifications {
    /// The app over connected adapters; applies its migrations.
    pub async fn start(adapters: &Adapters, settings: Settings) -> Result<Notifications, Error> {
        let repo = Repo::new(adapters.database.adapter.clone());
        repo.migrate().await?;
        let channels = channels::Channels::new(&settings)?;
        Ok(Notifications { repo, cache: adapters.cache.adapter.clone(), bus: adapters.bus.adapter.clone(), settings, channels })
    }

    /// One scheduler pass: quiet hours that ended, digests whose window
    /// ended, endpoints failing past the threshold, stranded rows, and
    /// idempotency keys past their time.
    pub async fn sweep(&self) -> Result<(), Error> {
        self.sweep_at(infra::time::now_ms()).await
    }

    /// One scheduler pass as of `now` (Unix ms).
    pub async fn sweep_at(&self, now: i64) -> Result<(), Error> {
        let held = self.repo.release_held(now).await?;
        let released = held.len();
        dispatch::announce_or_leave(self, held).await;
        let digests = dispatch::release_digests(self, now).await?;
        for (tenant, endpoint) in self.repo.failing_endpoints(self.settings.disable_after).await? {
            dispatch::disable(self, &tenant, &endpoint, "failed continuously past the threshold", now).await?;
        }
        dispatch::rescue(self, now).await?;
        self.repo.forget_keys(now - self.settings.idempotency_days * 86_400_000).await?;
        if released > 0 || digests > 0 {
            tracing::info!(released, digests, "notifications released");
        }
        Ok(())
    }
}

pub fn scheduler(app: Notifications) -> ScheduledHandler {
    scheduled_handler(move |_run| {
        let app = app.clone();
        async move { app.sweep().await }
    })
}

/// Every minute on AWS, every second under `hive serve`.
pub fn scheduler_schedule() -> Schedule {
    // A constant of whole minutes, which is all `every` refuses.
    // guardian: ignore[rust-unwrap]
    Schedule::every(Duration::from_secs(60)).expect("whole minutes").locally_every(Duration::from_secs(1))
}

/// The routes, the consumers and the schedule, for `hive serve`.
pub fn function(app: Notifications, verifier: Arc<Verifier>) -> Function {
    let [normal, urgent] = dispatch::consumers(&app);
    Function::new("notifications")
        .routes(api::routes(app.clone(), verifier))
        .openapi(api::openapi())
        .consumer(events::consumer(app.clone()))
        .consumer(normal)
        .consumer(urgent)
        .schedule("notifications-scheduler", scheduler_schedule(), scheduler(app))
}
