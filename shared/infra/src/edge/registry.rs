//! What each app contributes to the platform, so the local runner can run
//! them all in one process.
//!
//! An app exposes one `fn function(deps) -> Function` listing its HTTP
//! routes, queue consumers and schedules; its Lambda binaries run the same
//! pieces one at a time. Adding an app to `hive serve` is one
//! `registry.register(app::function(..))` line.

use axum::Router;

use crate::bus::Subscription;
use crate::edge::queue::MessageHandler;
use crate::edge::schedule::{Schedule, ScheduledHandler};

/// One app's contribution.
pub struct Function {
    pub name: &'static str,
    pub routes: Router,
    pub consumers: Vec<QueueConsumer>,
    pub schedules: Vec<ScheduledJob>,
    /// The app's OpenAPI document; `hive serve` serves every app's, merged.
    pub openapi: Option<serde_json::Value>,
}

/// A subscription and the handler for its events.
pub struct QueueConsumer {
    /// The consumer's name and the events it takes. The local runner
    /// subscribes it on the bus; on AWS the SAM template declares the same
    /// subscription (a queue, its DLQ and an SNS filter policy), and a test
    /// checks that the two agree.
    pub subscription: Subscription,
    pub handler: MessageHandler,
    /// How many of its messages the local runner handles at once.
    pub concurrency: usize,
}

/// A named schedule and the handler it runs.
pub struct ScheduledJob {
    pub name: String,
    pub schedule: Schedule,
    pub handler: ScheduledHandler,
}

impl Function {
    pub fn new(name: &'static str) -> Function {
        Function { name, routes: Router::new(), consumers: Vec::new(), schedules: Vec::new(), openapi: None }
    }

    /// Describes the app's routes (see [`crate::edge::openapi`]).
    pub fn openapi(mut self, document: serde_json::Value) -> Function {
        self.openapi = Some(document);
        self
    }

    /// Adds HTTP routes (merged with any added before).
    pub fn routes(mut self, routes: Router) -> Function {
        self.routes = self.routes.merge(routes);
        self
    }

    /// Subscribes `handler` to the events of `subscription`, handling one
    /// message at a time locally.
    pub fn consumer_of(self, subscription: Subscription, handler: MessageHandler) -> Function {
        self.consumer(QueueConsumer { subscription, handler, concurrency: 1 })
    }

    pub fn consumer(mut self, consumer: QueueConsumer) -> Function {
        self.consumers.push(consumer);
        self
    }

    /// Runs `handler` on `schedule` under the name `name`.
    pub fn schedule(mut self, name: &str, schedule: Schedule, handler: ScheduledHandler) -> Function {
        self.schedules.push(ScheduledJob { name: name.to_owned(), schedule, handler });
        self
    }
}

/// Every app the local runner serves.
#[derive(Default)]
pub struct Registry {
    functions: Vec<Function>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn register(mut self, function: Function) -> Registry {
        self.functions.push(function);
        self
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.functions.iter().map(|f| f.name)
    }

    /// Splits the registry into every app's routes merged into one router
    /// (not yet wrapped by `platform_router`), the consumers and the
    /// schedules. Two apps claiming the same route is a bug found here, at
    /// start-up: axum panics naming the route.
    pub fn into_parts(self) -> (Router, Vec<QueueConsumer>, Vec<ScheduledJob>) {
        let mut router = Router::new();
        let mut consumers = Vec::new();
        let mut schedules = Vec::new();
        let mut documents = Vec::new();
        for function in self.functions {
            router = router.merge(function.routes);
            consumers.extend(function.consumers);
            schedules.extend(function.schedules);
            documents.extend(function.openapi);
        }
        if !documents.is_empty() {
            let merged = crate::edge::openapi::merge("Hive", "Every Hive app's HTTP API.", &documents)
                .unwrap_or_else(|error| panic!("the apps' OpenAPI documents do not merge: {error}"));
            router = router.merge(crate::edge::openapi::route(merged));
        }
        (router, consumers, schedules)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::edge::http::{platform_router, test_request};
    use crate::edge::queue::message_handler;
    use crate::edge::schedule::scheduled_handler;
    use crate::events::EventName;

    const JOBS: Subscription = Subscription { name: "jobs", events: &[EventName::StudyJobRequested] };

    #[tokio::test]
    async fn apps_compose_into_one_router_and_lists() {
        let a = Function::new("a")
            .routes(Router::new().route("/v1/a", get(|| async { "a" })))
            .consumer_of(JOBS, message_handler(|_| async { Ok(()) }));
        let b = Function::new("b").routes(Router::new().route("/v1/b", get(|| async { "b" }))).schedule(
            "tick",
            Schedule::every(Duration::from_secs(60)).unwrap(),
            scheduled_handler(|_| async { Ok(()) }),
        );
        let registry = Registry::new().register(a).register(b);
        assert_eq!(registry.names().collect::<Vec<_>>(), ["a", "b"]);
        let (router, consumers, schedules) = registry.into_parts();
        let router = platform_router(router);
        for path in ["/v1/a", "/v1/b"] {
            let response = router.clone().oneshot(test_request("GET", path, None, None)).await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
        }
        assert_eq!(consumers.iter().map(|c| c.subscription.name).collect::<Vec<_>>(), ["jobs"]);
        assert_eq!(schedules.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["tick"]);
    }

    #[test]
    fn a_subscription_filters_by_event_and_its_sns_policy_says_the_same() {
        assert!(JOBS.accepts("study.job_requested"));
        assert!(!JOBS.accepts("study.completed") && !JOBS.accepts(""));
        assert_eq!(JOBS.filter_policy().to_string(), r#"{"hive-event-type":["study.job_requested"]}"#);
    }

    #[test]
    #[should_panic(expected = "/v1/a")]
    fn two_apps_claiming_one_route_fail_at_start_up() {
        let route = || Router::new().route("/v1/a", get(|| async { "a" }));
        let _ = Registry::new()
            .register(Function::new("a").routes(route()))
            .register(Function::new("b").routes(route()))
            .into_parts();
    }
}
