//! Health: `GET /v1/health` reports every configured dependency with its
//! status and latency, and `GET /v1/whoami` echoes the caller's identity.
//!
//! `/v1/health` is the platform's one unauthenticated route: load balancers,
//! uptime checks and deploy smoke tests call it without a token, and it
//! reveals only each dependency's kind, status and latency (never an error
//! text or an address). Every other route requires a token.
//!
//! The answer is 200 when every required dependency is up (`"status": "ok"`,
//! or `"degraded"` when an optional one is down) and 503 when a required one
//! is down. The cache is optional: without it requests are slower, not
//! wrong. The database, the bus and the object store are required.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use infra::Error;
use infra::auth::{Identity, Verifier};
use infra::edge::openapi::{Document, Operation};
use infra::edge::{Adapters, Function, require_scopes};
use schemars::JsonSchema;
use serde::Serialize;
use tokio::time::Instant;

/// The scope `GET /v1/whoami` requires.
pub const READ_SCOPE: &str = "hive:read";
/// How long one check may take before it counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// One dependency to check.
#[async_trait]
pub trait Probe: Send + Sync {
    /// The dependency's role: `database`, `cache`, `bus`, `objects`.
    fn name(&self) -> &str;
    /// The adapter behind it: `postgres`, `sqlite`, `redis`, …
    fn kind(&self) -> &str;
    /// Whether the service is unusable without it (503 when it is down).
    fn required(&self) -> bool;
    async fn check(&self) -> Result<(), Error>;
}

/// A probe from a closure, for ports and tests.
pub struct FnProbe {
    name: &'static str,
    kind: &'static str,
    required: bool,
    check: Box<dyn Fn() -> BoxFuture<'static, Result<(), Error>> + Send + Sync>,
}

impl FnProbe {
    pub fn new<F>(name: &'static str, kind: &'static str, required: bool, check: F) -> FnProbe
    where
        F: Fn() -> BoxFuture<'static, Result<(), Error>> + Send + Sync + 'static,
    {
        FnProbe { name, kind, required, check: Box::new(check) }
    }
}

#[async_trait]
impl Probe for FnProbe {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &str {
        self.kind
    }

    fn required(&self) -> bool {
        self.required
    }

    async fn check(&self) -> Result<(), Error> {
        (self.check)().await
    }
}

/// The probes for every port: each one's `ping()`.
pub fn probes(adapters: &Adapters) -> Vec<Arc<dyn Probe>> {
    let database = adapters.database.adapter.clone();
    let cache = adapters.cache.adapter.clone();
    let bus = adapters.bus.adapter.clone();
    let objects = adapters.objects.adapter.clone();
    vec![
        Arc::new(FnProbe::new("database", adapters.database.kind, true, move || {
            let database = database.clone();
            Box::pin(async move { database.ping().await })
        })),
        Arc::new(FnProbe::new("cache", adapters.cache.kind, false, move || {
            let cache = cache.clone();
            Box::pin(async move { cache.ping().await })
        })),
        Arc::new(FnProbe::new("bus", adapters.bus.kind, true, move || {
            let bus = bus.clone();
            Box::pin(async move { bus.ping().await })
        })),
        Arc::new(FnProbe::new("objects", adapters.objects.kind, true, move || {
            let objects = objects.clone();
            Box::pin(async move { objects.ping().await })
        })),
    ]
}

/// The health function: `/v1/health` (open) and `/v1/whoami` (`hive:read`).
pub fn function(probes: Vec<Arc<dyn Probe>>, verifier: Arc<Verifier>) -> Function {
    Function::new("health").routes(routes(probes, verifier)).openapi(document())
}

/// The OpenAPI document of `/v1/health` and `/v1/whoami`.
pub fn document() -> serde_json::Value {
    let mut document = Document::new("Hive health", "Each dependency's status and latency, and the caller's identity.");
    let report = document.schema::<HealthReport>();
    let identity = document.schema::<Identity>();
    document
        .operation(
            Operation::get("/v1/health", "health")
                .summary("Each configured dependency with its status and latency; no token needed.")
                .json_response(200, "every required dependency is up", report.clone())
                .json_response(503, "a required dependency is down", report),
        )
        .operation(
            Operation::get("/v1/whoami", "whoami")
                .summary("The tenant, subject and scopes of the caller's token.")
                .scope(READ_SCOPE)
                .json_response(200, "the caller", identity),
        );
    document.to_json()
}

pub fn routes(probes: Vec<Arc<dyn Probe>>, verifier: Arc<Verifier>) -> Router {
    let probes: Arc<[Arc<dyn Probe>]> = probes.into();
    let health = Router::new().route("/v1/health", get(move || report(probes.clone())));
    let whoami = Router::new().route("/v1/whoami", get(whoami)).route_layer(require_scopes(&verifier, &[READ_SCOPE]));
    health.merge(whoami)
}

#[derive(Debug, Serialize, PartialEq, JsonSchema)]
pub struct HealthReport {
    /// `ok`, `degraded` (an optional dependency is down) or `down`.
    #[schemars(extend("enum" = ["ok", "degraded", "down"]))]
    pub status: &'static str,
    pub version: &'static str,
    pub checks: Vec<CheckReport>,
}

#[derive(Debug, Serialize, PartialEq, JsonSchema)]
pub struct CheckReport {
    pub name: String,
    pub kind: String,
    pub required: bool,
    /// `up` or `down`.
    #[schemars(extend("enum" = ["up", "down"]))]
    pub status: &'static str,
    pub latency_ms: f64,
    /// Why it is down, as a class only: `timeout`, `unavailable` or `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["timeout", "unavailable", "error"]))]
    pub error: Option<&'static str>,
}

/// Runs every probe concurrently, each bounded by [`CHECK_TIMEOUT`].
pub async fn check_all(probes: &[Arc<dyn Probe>]) -> HealthReport {
    let checks = futures::future::join_all(probes.iter().map(|probe| async move {
        let started = Instant::now();
        let result = infra::resilience::with_timeout(probe.name(), CHECK_TIMEOUT, probe.check()).await;
        let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
        let error = result.err().map(|error| {
            tracing::warn!(dependency = probe.name(), kind = probe.kind(), %error, "health check failed");
            match error {
                Error::Timeout { .. } => "timeout",
                Error::Unavailable { .. } => "unavailable",
                _ => "error",
            }
        });
        CheckReport {
            name: probe.name().to_owned(),
            kind: probe.kind().to_owned(),
            required: probe.required(),
            status: if error.is_none() { "up" } else { "down" },
            latency_ms,
            error,
        }
    }))
    .await;
    let down = |required: bool| checks.iter().any(|c| c.required == required && c.error.is_some());
    let status = if down(true) {
        "down"
    } else if down(false) {
        "degraded"
    } else {
        "ok"
    };
    HealthReport { status, version: env!("CARGO_PKG_VERSION"), checks }
}

async fn report(probes: Arc<[Arc<dyn Probe>]>) -> Response {
    let report = check_all(&probes).await;
    let status = if report.status == "down" { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let mut response = (status, axum::Json(report)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn whoami(identity: Identity) -> axum::Json<Identity> {
    axum::Json(identity)
}

#[cfg(test)]
mod tests {
    use infra::auth::{Claims, sign_hs256};
    use infra::config::JwtConfig;
    use infra::edge::http::{body_json, platform_router, test_request};
    use tower::ServiceExt;

    use super::*;

    const SECRET: &[u8] = b"health-test-secret-health-test-secret";

    fn jwt() -> JwtConfig {
        JwtConfig { key: None, issuer: "hive".into(), audience: "hive-api".into() }
    }

    fn probe(name: &'static str, required: bool, outcome: Result<(), fn() -> Error>) -> Arc<dyn Probe> {
        Arc::new(FnProbe::new(name, "test", required, move || {
            let result = outcome.map_err(|make| make());
            Box::pin(async move { result })
        }))
    }

    fn unavailable() -> Error {
        Error::Unavailable { service: "db", message: "10.0.0.5:5432 refused".into() }
    }

    fn app(probes: Vec<Arc<dyn Probe>>) -> Router {
        platform_router(function(probes, Arc::new(Verifier::hs256(SECRET, &jwt()))).routes)
    }

    async fn get_health(probes: Vec<Arc<dyn Probe>>) -> (StatusCode, serde_json::Value) {
        let response = app(probes).oneshot(test_request("GET", "/v1/health", None, None)).await.unwrap();
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        (response.status(), body_json(response).await)
    }

    #[tokio::test]
    async fn all_up_is_200_ok_without_a_token() {
        let (status, json) = get_health(vec![probe("database", true, Ok(())), probe("cache", false, Ok(()))]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["status"], "ok");
        assert_eq!(json["checks"][0]["name"], "database");
        assert_eq!(json["checks"][0]["status"], "up");
        assert!(json["checks"][0]["latency_ms"].is_number());
        assert!(json["checks"][0].get("error").is_none());
    }

    #[tokio::test]
    async fn a_required_dependency_down_is_503_and_leaks_no_detail() {
        let (status, json) =
            get_health(vec![probe("database", true, Err(unavailable)), probe("cache", false, Ok(()))]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["status"], "down");
        assert_eq!(json["checks"][0]["status"], "down");
        assert_eq!(json["checks"][0]["error"], "unavailable");
        assert!(!json.to_string().contains("10.0.0.5"));
    }

    #[tokio::test]
    async fn an_optional_dependency_down_is_200_degraded() {
        let (status, json) =
            get_health(vec![probe("database", true, Ok(())), probe("cache", false, Err(unavailable))]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["status"], "degraded");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_dependency_times_out() {
        let hanging: Arc<dyn Probe> =
            Arc::new(FnProbe::new("bus", "test", true, || Box::pin(std::future::pending())));
        let report = check_all(&[hanging]).await;
        assert_eq!(report.status, "down");
        assert_eq!(report.checks[0].error, Some("timeout"));
        assert!(report.checks[0].latency_ms >= CHECK_TIMEOUT.as_millis() as f64);
    }

    #[tokio::test]
    async fn whoami_needs_a_token_with_hive_read() {
        let call = |token: Option<String>| async move {
            let response =
                app(vec![]).oneshot(test_request("GET", "/v1/whoami", token.as_deref(), None)).await.unwrap();
            (response.status(), body_json(response).await)
        };
        let token = |scopes: &[&str]| {
            sign_hs256(SECRET, &Claims::new(&jwt(), "acme", "alice", scopes, Duration::from_secs(60))).unwrap()
        };

        let (status, json) = call(Some(token(&[READ_SCOPE]))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json, serde_json::json!({"tenant": "acme", "subject": "alice", "scopes": ["hive:read"]}));
        assert_eq!(call(None).await.0, StatusCode::UNAUTHORIZED);
        let (status, json) = call(Some(token(&["other"]))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(json["error"]["code"], "insufficient_scope");
    }

    #[tokio::test]
    async fn the_api_gateway_event_reaches_health() {
        let event = include_str!("../../../shared/infra/tests/fixtures/events/apigw-v2-health.json");
        let request = infra::edge::http::lambda_request_from_json(event).unwrap();
        let router =
            infra::edge::http::lambda_router(function(vec![], Arc::new(Verifier::hs256(SECRET, &jwt()))).routes);
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_json(response).await["status"], "ok");
    }
}
