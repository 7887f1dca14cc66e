//! `/v1/guardian/reviews`: submit files for review (202, queued), read a
//! review (findings, metrics, summary) and its SARIF. Scopes
//! `guardian:write` and `guardian:read`; a tenant sees only its reviews,
//! and another tenant's is a 404.
//!
//! `/v1/guardian/uploads`: a bundle of files too large for one request
//! body (the platform's limit is 1 MiB) is uploaded in parts, each a
//! request of its own, into the object store under the tenant; a review
//! then names the upload instead of carrying `files`. A file sent again in
//! a later part replaces the earlier one. The mechanism and its limits are
//! [`infra::uploads`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use infra::auth::{Identity, Verifier};
use infra::edge::{ApiError, ApiJson, require_scopes};
use infra::events::CodeAnalysisRequested;
use infra::telemetry::RequestIds;
use infra::uploads::{self, UploadFile, UploadView};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Guardian, READ_SCOPE, WRITE_SCOPE, keys, now_ms, webhook};

pub const REVIEWS_PATH: &str = "/v1/guardian/reviews";
pub const REVIEW_PATH: &str = "/v1/guardian/reviews/{id}";
pub const SARIF_PATH: &str = "/v1/guardian/reviews/{id}/sarif";
pub const UPLOADS_PATH: &str = "/v1/guardian/uploads";
pub const UPLOAD_FILES_PATH: &str = "/v1/guardian/uploads/{id}/files";

pub fn routes(guardian: Guardian, verifier: Arc<Verifier>) -> Router {
    let authenticated = Router::new()
        .route(REVIEWS_PATH, post(submit))
        .route(REVIEW_PATH, get(show))
        .route(SARIF_PATH, get(sarif))
        .route(UPLOADS_PATH, post(create_upload))
        .route(UPLOAD_FILES_PATH, post(add_upload_files))
        .route_layer(require_scopes(&verifier, &[]))
        .with_state(guardian.clone());
    let open = Router::new().route(webhook::PATH, post(webhook::receive)).with_state(guardian);
    authenticated.merge(open)
}

/// One file to review.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "GuardianReviewFile")]
pub struct SourceFile {
    /// A relative path with `/` separators; its extension picks the language (`.py`, `.rs`).
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
    pub content: String,
}

/// The severities, lowest first.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "GuardianReviewLevel")]
pub enum Level {
    Critical,
    Error,
    Warning,
    Info,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Critical => "critical",
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
        }
    }
}

/// A 1-based line number, as the schema states it (a `u32`).
pub struct LineNumber;

impl JsonSchema for LineNumber {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GuardianLineNumber".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
    }
}

/// `POST /v1/guardian/reviews`: exactly one of `files` and `upload`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "GuardianReviewSubmission")]
pub struct SubmitBody {
    /// The files, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub files: Option<Vec<SourceFile>>,
    /// Instead of `files`: the id of an upload (`POST /v1/guardian/uploads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub upload: Option<String>,
    /// Report only findings on these lines: per path, inclusive `[first, last]` ranges.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Vec<[LineNumber; 2]>>>")]
    pub changed_lines: Option<BTreeMap<String, Vec<[u32; 2]>>>,
    /// Findings at or above this level fail the review's gate (default `error`).
    #[serde(default)]
    pub fail_level: Option<Level>,
}

/// `POST /v1/guardian/uploads` and `POST /v1/guardian/uploads/{id}/files`: one part of an upload.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "GuardianUploadPart")]
pub struct UploadPart {
    #[schemars(length(min = 1, max = 1000))]
    pub files: Vec<SourceFile>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "GuardianReviewAccepted")]
pub struct Accepted {
    pub id: String,
    /// `queued`.
    #[schemars(extend("enum" = ["queued"]))]
    pub status: &'static str,
}

/// A review: its state, and once it succeeded, the findings, metrics and summary.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "GuardianReview")]
pub struct ReviewView {
    pub id: String,
    #[schemars(extend("enum" = ["queued", "succeeded", "failed"]))]
    pub status: String,
    /// `api`, `github` or `bus`.
    pub source: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub summary: Option<Value>,
    pub findings: Option<Vec<Value>>,
    pub metrics: Option<Value>,
}

/// Checks a submission; each problem is a 422 naming its field. A named
/// upload is checked against the tenant's uploads by the caller.
fn validate(body: &SubmitBody) -> Result<(), ApiError> {
    match (&body.files, &body.upload) {
        (Some(files), None) => uploads::check_paths(files.iter().map(|f| f.path.as_str())),
        (None, Some(_)) => Ok(()),
        _ => Err(uploads::invalid("files", "exactly one of `files` and `upload`")),
    }
}

async fn submit(
    State(guardian): State<Guardian>,
    identity: Identity,
    ids: RequestIds,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<Response, ApiError> {
    identity.require_scopes(&[WRITE_SCOPE])?;
    validate(&body)?;
    let tenant = identity.tenant.as_str();
    if let Some(upload) = &body.upload {
        guardian.uploads.named(tenant, upload).await?;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let request_key = keys::request(tenant, &id);
    let bytes = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    guardian.objects.put(&request_key, bytes, "application/json").await?;
    let request = CodeAnalysisRequested {
        tenant: tenant.to_owned(),
        analysis: id.clone(),
        files: Some(request_key),
        pull_request: None,
        fail_level: body.fail_level.unwrap_or(Level::Error).as_str().to_owned(),
    };
    let now = now_ms();
    let envelope = guardian.event(tenant, &ids.correlation_id, &request)?;
    let staged = guardian.repo.insert(tenant, &id, "api", now, envelope).await?;
    guardian.outbox.relay(staged, now).await;
    let location = format!("{REVIEWS_PATH}/{id}");
    let mut response = (StatusCode::ACCEPTED, axum::Json(Accepted { id, status: "queued" })).into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no review {id}"))
}

async fn show(State(guardian): State<Guardian>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    identity.require_scopes(&[READ_SCOPE])?;
    let tenant = identity.tenant.as_str();
    let row = guardian.repo.get(tenant, &id).await?.ok_or_else(|| not_found(&id))?;
    let mut view = ReviewView {
        id: row.id,
        status: row.status.clone(),
        source: row.source,
        created_at: row.created_at,
        finished_at: row.finished_at,
        error: row.error,
        summary: None,
        findings: None,
        metrics: None,
    };
    if row.status == "succeeded" {
        let bytes = guardian.objects.get(&keys::review(tenant, &id)).await?;
        let mut document: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
        view.summary = Some(document["summary"].take());
        view.findings = document["findings"].as_array().cloned();
        view.metrics = Some(document["metrics"].take());
    }
    Ok(axum::Json(view).into_response())
}

async fn sarif(State(guardian): State<Guardian>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    identity.require_scopes(&[READ_SCOPE])?;
    let tenant = identity.tenant.as_str();
    let row = guardian.repo.get(tenant, &id).await?.ok_or_else(|| not_found(&id))?;
    if row.status != "succeeded" {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_ready", format!("review {id} is {}; its SARIF is not ready", row.status)));
    }
    let bytes = guardian.objects.get(&keys::sarif(tenant, &id)).await?;
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/sarif+json"));
    Ok(response)
}

fn part_files(part: UploadPart) -> Vec<UploadFile> {
    part.files.into_iter().map(|f| UploadFile { path: f.path, content: f.content }).collect()
}

/// `POST /v1/guardian/uploads`: a new upload with its first part; 201.
async fn create_upload(
    State(guardian): State<Guardian>,
    identity: Identity,
    ApiJson(part): ApiJson<UploadPart>,
) -> Result<Response, ApiError> {
    identity.require_scopes(&[WRITE_SCOPE])?;
    let (id, totals) = guardian.uploads.create(identity.tenant.as_str(), part_files(part), now_ms()).await?;
    Ok(UploadView::new(id, totals).created(UPLOADS_PATH))
}

/// `POST /v1/guardian/uploads/{id}/files`: one more part; 200 with the totals.
async fn add_upload_files(
    State(guardian): State<Guardian>,
    identity: Identity,
    Path(id): Path<String>,
    ApiJson(part): ApiJson<UploadPart>,
) -> Result<Response, ApiError> {
    identity.require_scopes(&[WRITE_SCOPE])?;
    let totals = guardian.uploads.add(identity.tenant.as_str(), &id, part_files(part)).await?;
    Ok(axum::Json(UploadView::new(id, totals)).into_response())
}
