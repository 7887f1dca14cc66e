//! The function edge: turns plain domain handlers into functions.
//!
//! - [`http`]: an axum `Router` becomes an API Gateway function (or part of
//!   the local server), with auth, JSON errors, request ids and limits.
//! - [`queue`]: `async fn(Message) -> Result<(), Error>` becomes an SQS
//!   consumer with idempotency and partial batch failures.
//! - [`schedule`]: `async fn(ScheduledRun) -> Result<(), Error>` becomes an
//!   EventBridge-scheduled function (or a local timer).
//! - [`adapters`]: the ports' adapters, chosen and connected from the
//!   configuration; every function binary and the local runner start here.
//! - [`registry`]: each app lists its routes, consumers and schedules in one
//!   [`Function`], and the local runner composes them all.

pub mod adapters;
pub mod http;
pub mod openapi;
pub mod queue;
pub mod registry;
pub mod runner;
pub mod schedule;

pub use adapters::Adapters;
pub use http::{ApiError, ApiJson, platform_router, require_scopes, run_http_lambda};
pub use queue::{
    CacheIdempotencyStore, IdempotencyStore, MemoryIdempotencyStore, Message, MessageHandler, message_handler,
    run_queue_lambda,
};
pub use registry::{Function, Registry};
pub use schedule::{Schedule, ScheduledHandler, ScheduledRun, run_scheduled_lambda, scheduled_handler};
