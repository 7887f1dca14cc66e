//! The HTTP edge: an axum `Router` is the function; this module gives it
//! JSON errors, authentication, request ids and limits, and runs it on
//! Lambda.
//!
//! An app writes `fn routes(state) -> Router` with plain handlers. Routes
//! that need a caller add `.route_layer(require_scopes(&verifier, &["x:y"]))`
//! and take an [`Identity`] argument. [`platform_router`] then wraps the
//! merged routes once, the same way locally and on Lambda:
//! - `x-request-id` / `x-correlation-id` read or generated, put in the span
//!   and echoed in the response ([`RequestIds`] is an extractor too);
//! - bodies over the limit answer 413 JSON;
//! - unknown paths 404 JSON, wrong methods 405 JSON;
//! - any error response that is not JSON already (an axum rejection from
//!   `Path` or `Query`, say) is rewritten to the JSON error shape, so no
//!   client ever sees axum's plain-text defaults.
//!
//! Error bodies have one shape:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`, `field`
//! only where one input is at fault.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::Error;
use crate::auth::{AuthError, Identity, Verifier};
use crate::cache::Cache;
use crate::telemetry::RequestIds;

/// Largest request body accepted, in bytes. API Gateway allows 10 MB and
/// Lambda 6 MB; Hive's APIs take small JSON documents.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// An error as the client sees it. Client errors carry a code, a message
/// and, where one input is at fault, the field; internal errors are logged
/// in full and answered with a bare 500.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
    field: Option<String>,
    www_authenticate: Option<&'static str>,
    /// Whole seconds for `Retry-After`; 503 answers say 1 when unset.
    retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.into(), message: message.into(), field: None, www_authenticate: None, retry_after_s: None }
    }

    /// 429, with `Retry-After` rounded up to whole seconds.
    pub fn too_many_requests(retry_after: std::time::Duration) -> ApiError {
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        ApiError {
            retry_after_s: Some(seconds.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("too many requests; try again in {} s", seconds.max(1)))
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A 500 whose cause is logged here and never sent to the client.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            ErrorBody { error: ErrorDetail { code: &self.code, message: &self.message, field: self.field.as_deref() } };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        let retry_after = self.retry_after_s.or((self.status == StatusCode::SERVICE_UNAVAILABLE).then_some(1));
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Counts one request against `limit` per `window` for `key` (say, a tenant
/// and an action) in the cache, and refuses it with a 429 past the limit.
///
/// A cache that cannot answer lets the request through: the cache is not a
/// required dependency, and an outage of it must not become one of the API.
pub async fn rate_limit(cache: &dyn Cache, key: &str, limit: u64, window: std::time::Duration) -> Result<(), ApiError> {
    match cache.allow(key, limit, window).await {
        Ok(decision) if decision.allowed => Ok(()),
        Ok(decision) => Err(ApiError::too_many_requests(decision.retry_after)),
        Err(error) => {
            tracing::warn!(%error, key, "rate limit not checked: the cache did not answer");
            Ok(())
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        match error {
            Error::Invalid { field, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
            }
            Error::NotFound(what) => ApiError::not_found(what),
            Error::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            Error::Unauthorized(message) => ApiError {
                www_authenticate: Some("Bearer"),
                ..ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            },
            Error::Forbidden(message) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            error @ (Error::Unavailable { .. } | Error::Timeout { .. }) => {
                tracing::warn!(%error, "dependency unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "temporarily unavailable, retry later")
            }
            error @ (Error::Config(_) | Error::Backend { .. }) => ApiError::internal(error),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> ApiError {
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let www_authenticate = match &error {
            AuthError::MissingToken => Some("Bearer"),
            AuthError::MissingScope(_) => Some(r#"Bearer error="insufficient_scope""#),
            _ => Some(r#"Bearer error="invalid_token""#),
        };
        ApiError { www_authenticate, ..ApiError::new(status, error.code(), error.to_string()) }
    }
}

/// A JSON body extractor whose rejections are [`ApiError`]s: 415 without a
/// JSON content type, 413 over the body limit, 400 for malformed JSON, 422
/// naming the field for JSON of the wrong shape. As a response it is
/// `axum::Json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers().get(CONTENT_TYPE)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with content-type application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                payload_too_large()
            } else {
                ApiError::bad_request("unreadable_body", "the request body could not be read")
            }
        })?;
        // Every body is an object. serde would also read a struct from an
        // array of its fields in order (`[]` fills every defaulted field),
        // which no documented body allows.
        if !parse_json::<serde_json::Value>(&bytes)?.is_object() {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "the body is a JSON object").with_field("body"));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Parses a JSON document, naming the offending field on a shape error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                // serde reports a missing field at the struct that lacks it.
                let field = match message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
                    Some(name) if path == "." => name.to_owned(),
                    Some(name) => format!("{path}.{name}"),
                    None => path,
                };
                let message = strip_position(&message);
                let error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
                if field == "." { error } else { error.with_field(field) }
            }
            _ => ApiError::bad_request("malformed_json", format!("malformed JSON: {inner}")),
        }
    })
}

/// serde_json appends " at line L column C"; for a shape error the field
/// name says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(mime) = content_type.and_then(|value| value.to_str().ok()) else { return false };
    let essence = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body exceeds {MAX_BODY_BYTES} bytes"),
    )
}

/// The caller, as established by [`require_scopes`]. Extracting it on a
/// route without that layer is a programming error and answers 500.
impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Identity>().cloned().ok_or_else(|| {
            ApiError::internal(format!("{} extracts Identity but has no require_scopes layer", parts.uri.path()))
        })
    }
}

/// The request's ids, set by [`platform_router`]; handlers pass the
/// correlation id on to the messages they publish.
impl<S: Send + Sync> FromRequestParts<S> for RequestIds {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(parts.extensions.get::<RequestIds>().cloned().unwrap_or_else(|| RequestIds::from_headers(&parts.headers)))
    }
}

/// A route layer that requires a valid bearer token carrying every one of
/// `scopes` (none: any valid token), and hands handlers the [`Identity`].
/// 401 for a missing or invalid token, 403 for a missing scope.
pub fn require_scopes(verifier: &Arc<Verifier>, scopes: &[&str]) -> RequireScopes {
    RequireScopes { verifier: verifier.clone(), scopes: scopes.iter().map(|s| s.to_string()).collect() }
}

#[derive(Clone, Debug)]
pub struct RequireScopes {
    verifier: Arc<Verifier>,
    scopes: Arc<[String]>,
}

impl RequireScopes {
    fn authorize(&self, request: &Request) -> Result<Identity, AuthError> {
        let header = request.headers().get(http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        let identity = self.verifier.verify_authorization(header)?;
        identity.require_scopes(&self.scopes)?;
        Ok(identity)
    }
}

impl<S> Layer<S> for RequireScopes {
    type Service = RequireScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopesService { inner, auth: self.clone() }
    }
}

#[derive(Clone, Debug)]
pub struct RequireScopesService<S> {
    inner: S,
    auth: RequireScopes,
}

impl<S> Service<Request> for RequireScopesService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.auth.authorize(&request) {
            Ok(identity) => {
                tracing::Span::current().record("tenant", identity.tenant.as_str());
                request.extensions_mut().insert(identity);
                // The service polled ready is the one that must be called.
                let ready = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, ready);
                Box::pin(inner.call(request))
            }
            Err(error) => {
                tracing::info!(reason = %error, status = error.status(), "request refused");
                Box::pin(std::future::ready(Ok(ApiError::from(error).into_response())))
            }
        }
    }
}

/// Wraps an app's routes (or every app's, merged) with what every Hive HTTP
/// function shares: request ids, the body limit, JSON 404/405 fallbacks and
/// JSON for any non-JSON error response. Call once, on the final router.
pub fn platform_router(routes: Router) -> Router {
    routes
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        .layer(middleware::from_fn(errors_as_json))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(reject_declared_oversize))
        .layer(middleware::from_fn(request_ids))
}

/// Runs the routes as a Lambda function behind API Gateway (REST or HTTP
/// API), as [`lambda_router`] wraps them.
pub async fn run_http_lambda(routes: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_router(routes)).await
}

/// The router a Lambda function serves: [`platform_router`], plus removal of
/// the API Gateway stage that `lambda_http` prefixes to the path of a REST
/// API (or named-stage HTTP API) request, so a route matches the same path
/// behind API Gateway as on the local server.
pub fn lambda_router(routes: Router) -> Router {
    // `Router::layer` runs after routing; a path rewrite must wrap the
    // whole router instead.
    let rewritten = middleware::from_fn(strip_api_gateway_stage).layer(platform_router(routes));
    Router::new().fallback_service(rewritten)
}

async fn strip_api_gateway_stage(mut request: Request, next: Next) -> Response {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;

    #[allow(unreachable_patterns)] // Other variants exist under other lambda_http features.
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    if let Some(stage) = stage.filter(|stage| stage != "$default") {
        let prefix = format!("/{stage}");
        let path = request.uri().path();
        if let Some(rest) = path.strip_prefix(&prefix).filter(|rest| rest.is_empty() || rest.starts_with('/')) {
            let rest = if rest.is_empty() { "/" } else { rest };
            let path_and_query = match request.uri().query() {
                Some(query) => format!("{rest}?{query}"),
                None => rest.to_owned(),
            };
            let mut parts = request.uri().clone().into_parts();
            if let Ok(value) = path_and_query.parse() {
                parts.path_and_query = Some(value);
                if let Ok(uri) = http::Uri::from_parts(parts) {
                    *request.uri_mut() = uri;
                }
            }
        }
    }
    next.run(request).await
}

async fn request_ids(mut request: Request, next: Next) -> Response {
    let ids = RequestIds::from_headers(request.headers());
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %ids.request_id,
        correlation_id = %ids.correlation_id,
        tenant = tracing::field::Empty,
    );
    request.extensions_mut().insert(ids.clone());
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    ids.write_headers(response.headers_mut());
    span.in_scope(|| {
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(status = response.status().as_u16(), latency_ms, "request");
    });
    response
}

/// Answers 413 before reading a body whose declared length is over the
/// limit; bodies without a declared length are cut off by
/// `DefaultBodyLimit` when an extractor reads them.
async fn reject_declared_oversize(request: Request, next: Next) -> Response {
    let declared =
        request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => payload_too_large().into_response(),
        _ => next.run(request).await,
    }
}

/// Rewrites error responses that are not JSON (axum's rejections are plain
/// text, its default 404 and 405 have empty bodies) into the JSON shape.
async fn errors_as_json(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let already_json = is_json(response.headers().get(CONTENT_TYPE));
    if !(status.is_client_error() || status.is_server_error()) || already_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let error = if status.is_server_error() {
        ApiError::new(status, "internal", "internal error")
    } else {
        // Client-error texts from axum describe the client's input only.
        let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&text).trim().to_owned();
        let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
        ApiError::new(status, client_error_code(status), message)
    };
    let mut json = error.into_response();
    for name in [ALLOW, WWW_AUTHENTICATE, RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            json.headers_mut().insert(name, value.clone());
        }
    }
    json
}

fn client_error_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        _ => "bad_request",
    }
}

/// Reads a response body as JSON, for tests of apps built on this edge.
pub async fn body_json(response: Response) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("readable body");
    serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
}

/// Converts an API Gateway event (REST or HTTP API, as JSON) into the
/// request a [`lambda_router`] receives on Lambda, for tests with event
/// fixtures.
pub fn lambda_request_from_json(event: &str) -> Result<Request, Error> {
    lambda_http::request::from_str(event)
        .map(|request| request.map(Body::new))
        .map_err(|error| Error::invalid("event", error.to_string()))
}

/// Builds a request, for tests of apps built on this edge.
pub fn test_request(method: &str, uri: &str, bearer: Option<&str>, json: Option<&str>) -> Request {
    let mut builder = http::Request::builder().method(method).uri(uri);
    if let Some(token) = bearer {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match json {
        Some(body) => builder.header(CONTENT_TYPE, "application/json").body(Body::from(body.to_owned())),
        None => builder.body(Body::empty()),
    }
    .expect("valid test request")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::routing::{get, post};
    use serde::Deserialize;
    use tower::ServiceExt;

    use super::*;
    use crate::auth::{Claims, sign_hs256};
    use crate::config::JwtConfig;

    const SECRET: &[u8] = b"edge-test-secret-edge-test-secret";

    #[test]
    fn too_many_requests_says_when_to_retry_in_whole_seconds() {
        let response = ApiError::too_many_requests(Duration::from_millis(1500)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
    }

    #[tokio::test]
    async fn rate_limit_refuses_past_the_limit_per_key() {
        let cache = crate::cache::MemoryCache::new();
        let minute = Duration::from_secs(60);
        assert!(rate_limit(&cache, "k", 1, minute).await.is_ok());
        assert_eq!(rate_limit(&cache, "k", 1, minute).await.unwrap_err().status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(rate_limit(&cache, "other", 1, minute).await.is_ok());
    }

    fn jwt() -> JwtConfig {
        JwtConfig { key: None, issuer: "hive".into(), audience: "hive-api".into() }
    }

    fn token(scopes: &[&str]) -> String {
        sign_hs256(SECRET, &Claims::new(&jwt(), "acme", "alice", scopes, Duration::from_secs(600))).unwrap()
    }

    #[derive(Deserialize, Serialize)]
    struct Study {
        name: String,
        years: u32,
        site: Site,
    }

    #[derive(Deserialize, Serialize)]
    struct Site {
        lat: f64,
    }

    fn app() -> Router {
        let verifier = Arc::new(Verifier::hs256(SECRET, &jwt()));
        let secured = Router::new()
            .route("/v1/me", get(|identity: Identity| async move { axum::Json(identity) }))
            .route_layer(require_scopes(&verifier, &["hive:read"]));
        let open = Router::new()
            .route("/v1/echo", post(|ApiJson(study): ApiJson<Study>| async move { ApiJson(study) }))
            .route(
                "/v1/fail/{kind}",
                get(|axum::extract::Path(kind): axum::extract::Path<u8>| async move {
                    let error = match kind {
                        1 => Error::invalid("name", "must not be empty"),
                        2 => Error::NotFound("study 7".into()),
                        3 => Error::Backend { service: "db", message: "password=hunter2 rejected".into() },
                        _ => Error::Unavailable { service: "db", message: "10.0.0.7 refused".into() },
                    };
                    Err::<(), _>(ApiError::from(error))
                }),
            )
            .route("/v1/ids", get(|ids: RequestIds| async move { ids.correlation_id }));
        platform_router(secured.merge(open))
    }

    async fn send(request: Request) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response = app().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let json = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| panic!("{status}: not JSON: {}", String::from_utf8_lossy(&body)))
        };
        (status, headers, json)
    }

    fn check_error(json: &serde_json::Value, code: &str, field: Option<&str>) {
        assert_eq!(json["error"]["code"], code, "{json}");
        assert!(json["error"]["message"].is_string(), "{json}");
        assert_eq!(json["error"]["field"].as_str(), field, "{json}");
    }

    #[tokio::test]
    async fn identity_reaches_the_handler() {
        let (status, _, json) = send(test_request("GET", "/v1/me", Some(&token(&["hive:read"])), None)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["tenant"], "acme");
        assert_eq!(json["subject"], "alice");
        assert_eq!(json["scopes"], serde_json::json!(["hive:read"]));
    }

    #[tokio::test]
    async fn auth_failures_are_401_and_403_json() {
        let (status, headers, json) = send(test_request("GET", "/v1/me", None, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[WWW_AUTHENTICATE], "Bearer");
        check_error(&json, "missing_token", None);

        let (status, _, json) = send(test_request("GET", "/v1/me", Some("garbage"), None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        check_error(&json, "invalid_token", None);

        let (status, headers, json) = send(test_request("GET", "/v1/me", Some(&token(&["other"])), None)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(headers[WWW_AUTHENTICATE], r#"Bearer error="insufficient_scope""#);
        check_error(&json, "insufficient_scope", None);
    }

    #[tokio::test]
    async fn json_bodies_round_trip() {
        let body = r#"{"name":"a","years":2,"site":{"lat":1.5}}"#;
        let (status, _, json) = send(test_request("POST", "/v1/echo", None, Some(body))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["site"]["lat"], 1.5);
    }

    #[tokio::test]
    async fn json_rejections_are_json_and_name_the_field() {
        let cases = [
            (r#"{"name":"a","years":2,"site":{"lat":1.5}"#, StatusCode::BAD_REQUEST, "malformed_json", None),
            (
                r#"{"name":"a","years":"two","site":{"lat":1.5}}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                Some("years"),
            ),
            (
                r#"{"name":"a","years":2,"site":{"lat":"x"}}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                Some("site.lat"),
            ),
            (r#"{"years":2,"site":{"lat":1.5}}"#, StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("name")),
            (r#"{"name":"a","years":2,"site":{}}"#, StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("site.lat")),
            (r#""just text""#, StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("body")),
            // serde alone would read a struct from its fields in an array.
            (r#"["a", 2, {"lat": 1.5}]"#, StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("body")),
        ];
        for (body, expected_status, code, field) in cases {
            let (status, _, json) = send(test_request("POST", "/v1/echo", None, Some(body))).await;
            assert_eq!(status, expected_status, "{body}: {json}");
            check_error(&json, code, field);
        }
    }

    #[tokio::test]
    async fn wrong_content_type_is_415_json() {
        let request =
            http::Request::post("/v1/echo").header(CONTENT_TYPE, "text/plain").body(Body::from("{}")).unwrap();
        let (status, _, json) = send(request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        check_error(&json, "unsupported_media_type", None);
        let no_type = http::Request::post("/v1/echo").body(Body::from("{}")).unwrap();
        assert_eq!(send(no_type).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(is_json(Some(&HeaderValue::from_static("application/json; charset=utf-8"))));
        assert!(is_json(Some(&HeaderValue::from_static("application/problem+json"))));
    }

    #[tokio::test]
    async fn oversized_bodies_are_413_json_declared_or_streamed() {
        let big = format!(r#"{{"name":"{}","years":1,"site":{{"lat":0}}}}"#, "x".repeat(MAX_BODY_BYTES));
        let (status, _, json) = send(test_request("POST", "/v1/echo", None, Some(&big))).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        check_error(&json, "payload_too_large", None);

        // No content-length: the stream is cut off while the extractor reads it.
        let chunks = futures::stream::iter(vec![Ok::<_, Infallible>(Bytes::from(big))]);
        let streamed = http::Request::post("/v1/echo")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from_stream(chunks))
            .unwrap();
        let (status, _, json) = send(streamed).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        check_error(&json, "payload_too_large", None);
    }

    #[tokio::test]
    async fn fallbacks_are_json() {
        let (status, _, json) = send(test_request("GET", "/nope", None, None)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        check_error(&json, "not_found", None);
        let (status, headers, json) = send(test_request("DELETE", "/v1/echo", None, None)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        check_error(&json, "method_not_allowed", None);
        assert!(headers.get(ALLOW).is_some());
    }

    #[tokio::test]
    async fn axum_plain_text_rejections_become_json() {
        let (status, _, json) = send(test_request("GET", "/v1/fail/notanumber", None, None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        check_error(&json, "bad_request", None);
    }

    #[tokio::test]
    async fn domain_errors_map_to_statuses_and_internals_do_not_leak() {
        let (status, _, json) = send(test_request("GET", "/v1/fail/1", None, None)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        check_error(&json, "invalid", Some("name"));
        assert_eq!(send(test_request("GET", "/v1/fail/2", None, None)).await.0, StatusCode::NOT_FOUND);

        let (status, _, json) = send(test_request("GET", "/v1/fail/3", None, None)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json, serde_json::json!({"error": {"code": "internal", "message": "internal error"}}));

        let (status, headers, json) = send(test_request("GET", "/v1/fail/4", None, None)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[RETRY_AFTER], "1");
        assert!(!json.to_string().contains("10.0.0.7"), "{json}");
    }

    #[tokio::test]
    async fn request_ids_are_echoed_and_correlation_reaches_handlers() {
        let request = http::Request::get("/v1/ids").header("x-correlation-id", "chain-1").body(Body::empty()).unwrap();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.headers()["x-correlation-id"], "chain-1");
        assert_eq!(response.headers()["x-request-id"].len(), 36);
        let body = axum::body::to_bytes(response.into_body(), 100).await.unwrap();
        assert_eq!(body, "chain-1");

        // Error responses carry the ids too.
        let response = app().oneshot(test_request("GET", "/nope", None, None)).await.unwrap();
        assert!(response.headers().contains_key("x-request-id"));
    }

    #[tokio::test]
    async fn api_gateway_http_api_event_reaches_the_route_with_its_ids() {
        let event = include_str!("../../tests/fixtures/events/apigw-v2-health.json");
        let request = lambda_http::request::from_str(event).unwrap();
        let router = lambda_router(Router::new().route("/v1/health", get(|| async { "up" })));
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-correlation-id"], "corr-from-client");
    }

    #[tokio::test]
    async fn api_gateway_rest_event_is_routed_without_its_stage() {
        let event = include_str!("../../tests/fixtures/events/apigw-v1-echo.json");
        let request = lambda_http::request::from_str(event).unwrap();
        assert!(request.uri().path().ends_with("/v1/echo"));
        let router = lambda_router(
            Router::new()
                .route("/v1/echo", post(|ApiJson(body): ApiJson<serde_json::Value>| async move { ApiJson(body) })),
        );
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_json(response).await["name"], "from-rest-api");
    }

    #[test]
    fn api_gateway_fixtures_round_trip() {
        use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
        let v2 = include_str!("../../tests/fixtures/events/apigw-v2-health.json");
        let parsed: ApiGatewayV2httpRequest = serde_json::from_str(v2).unwrap();
        let again: ApiGatewayV2httpRequest = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again);
        assert_eq!(parsed.raw_path.as_deref(), Some("/v1/health"));
        let v1 = include_str!("../../tests/fixtures/events/apigw-v1-echo.json");
        let parsed: ApiGatewayProxyRequest = serde_json::from_str(v1).unwrap();
        let again: ApiGatewayProxyRequest = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again);
    }

    #[tokio::test]
    async fn identity_without_the_layer_is_a_500() {
        let app = platform_router(Router::new().route("/x", get(|_: Identity| async { "no" })));
        let response = app.oneshot(test_request("GET", "/x", None, None)).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
