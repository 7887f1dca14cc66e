//! `/v1/reviews`: submit work for review (202), read a review (score,
//! sub-scores, evidence, decision, confidence, remarks) as JSON or as
//! Markdown (`/v1/reviews/{id}.md`), and list a task's reviews. Scopes
//! `reviews:write` and `reviews:read`; a tenant sees only its reviews, and
//! another tenant's is a 404.
//!
//! `/v1/reviews/uploads`: a submission too large for one request body is
//! uploaded in parts ([`infra::uploads`], as Guardian's are), and the
//! review names the upload instead of carrying `files`.
//!
//! `/v1/reviews/config`: the tenant's weights and thresholds, as overrides
//! of the standard ones; each change is a new version, and a review keeps
//! the configuration in force when it was requested.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State as AppState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use infra::auth::{Identity, Verifier};
use infra::edge::openapi::{Document, Operation};
use infra::edge::{ApiError, ApiJson, require_scopes};
use infra::telemetry::RequestIds;
use infra::uploads::{self, UploadFile, UploadRoutes, UploadView};
use reviewer_engine::review::{Decision, Evidence, Remark, SubScore};
use reviewer_engine::{ReviewConfig, SourceFile, Submission};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::flow::{ConfigSource, ConfigUsed, Judgement, Request, Stored, check};
use crate::repo::{ReviewRow, State};
use crate::{READ_SCOPE, Reviewer, WRITE_SCOPE, now_ms};

pub const REVIEWS_PATH: &str = "/v1/reviews";
pub const REVIEW_PATH: &str = "/v1/reviews/{id}";
pub const MARKDOWN_PATH: &str = "/v1/reviews/{id}.md";
/// Static segments under `/v1/reviews/`, which take precedence over a review's id.
pub const UPLOADS_PATH: &str = "/v1/reviews/uploads";
pub const UPLOAD_FILES_PATH: &str = "/v1/reviews/uploads/{id}/files";
pub const CONFIG_PATH: &str = "/v1/reviews/config";
/// Files in one request; an upload holds up to [`uploads::MAX_FILES`].
pub const MAX_FILES: usize = uploads::MAX_PART_FILES;
/// Per file; the request body's own limit (1 MiB) comes first over HTTP.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

pub fn routes(reviewer: Reviewer, verifier: Arc<Verifier>) -> Router {
    // One path, two scopes: the handlers check which.
    Router::new()
        .route(REVIEWS_PATH, get(list).post(submit))
        .route(REVIEW_PATH, get(show))
        .route(UPLOADS_PATH, post(create_upload))
        .route(UPLOAD_FILES_PATH, post(add_upload_files))
        .route(CONFIG_PATH, get(show_config).put(set_config))
        .route_layer(require_scopes(&verifier, &[]))
        .with_state(reviewer)
}

/// One file of a submission.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ReviewFile")]
pub struct FileBody {
    /// A relative path with `/` separators; `.py` and `.rs` files are analysed.
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
    /// The file's text (a binary file is refused).
    pub content: String,
}

/// A 1-based line number.
pub struct LineNumber;

impl JsonSchema for LineNumber {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ReviewLineNumber".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
    }
}

/// `POST /v1/reviews`: exactly one of `files` and `upload`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ReviewSubmission")]
pub struct SubmitBody {
    /// The files, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub files: Option<Vec<FileBody>>,
    /// Instead of `files`: the id of an upload (`POST /v1/reviews/uploads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub upload: Option<String>,
    /// Judge only these lines' findings: per path, inclusive `[first, last]` ranges.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Vec<[LineNumber; 2]>>>")]
    pub changed_lines: Option<BTreeMap<String, Vec<[u32; 2]>>>,
    /// An lcov tracefile or a Cobertura XML report.
    #[serde(default)]
    pub coverage: Option<String>,
    /// Free-form; a string `title` and a list of strings `acceptance_criteria` are read.
    #[serde(default)]
    pub context: Option<serde_json::Map<String, Value>>,
}

/// `POST /v1/reviews/uploads` and `POST /v1/reviews/uploads/{id}/files`: one part of an upload.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ReviewUploadPart")]
pub struct UploadPart {
    #[schemars(length(min = 1, max = 1000))]
    pub files: Vec<FileBody>,
}

/// The tenant's configuration: where it comes from, the overrides set
/// through the API, and the configuration they make.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ReviewConfigView")]
pub struct ConfigView {
    pub source: ConfigSource,
    /// The version set through the API (`null` for the environment's or the standard configuration).
    pub version: Option<i64>,
    /// When the version was set, in Unix milliseconds.
    pub updated_at: Option<i64>,
    /// The overrides of the standard configuration set through the API.
    pub overrides: Option<serde_json::Map<String, Value>>,
    /// The configuration in force: weights, thresholds, points and budgets.
    #[schemars(schema_with = "config_schema")]
    pub config: ReviewConfig,
}

fn config_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = infra::edge::openapi::inline_schema::<ReviewConfig>();
    if let Some(object) = schema.as_object_mut() {
        object.remove("title");
    }
    schema.try_into().unwrap_or_default()
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ReviewAccepted")]
pub struct Accepted {
    pub id: String,
    pub state: State,
}

/// A review: its state and, once it ended, the judgement.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ReviewView")]
pub struct ReviewView {
    pub id: String,
    pub task_id: Option<String>,
    pub title: String,
    pub acceptance_criteria: Vec<String>,
    /// `api` or `task`.
    #[schemars(extend("enum" = ["api", "task"]))]
    pub source: String,
    pub state: State,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub decision: Option<Decision>,
    pub score: Option<f64>,
    pub confidence: Option<f64>,
    /// Why it was escalated without a full judgement.
    pub reason: Option<String>,
    /// `deterministic`, or `deterministic+llm`.
    pub reviewer: Option<String>,
    /// The configuration the review was judged under (fixed when it was requested).
    pub config: Option<ConfigUsed>,
    pub sub_scores: Option<Vec<SubScore>>,
    pub evidence: Option<Vec<Evidence>>,
    pub remarks: Option<Vec<Remark>>,
    pub confidence_notes: Option<Vec<String>>,
    pub critical: Option<bool>,
    /// The language model's summary and acceptance-criteria checklist, when one was configured and answered.
    pub narrative: Option<reviewer_engine::narrative::Narrative>,
    /// How the model's call ended (`answered`, `timeout`, `invalid: …`, `over_budget: …`), when a model is configured.
    pub llm: Option<String>,
}

/// One review in a listing.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ReviewSummary")]
pub struct Summary {
    pub id: String,
    pub task_id: Option<String>,
    pub state: State,
    pub decision: Option<Decision>,
    pub score: Option<f64>,
    pub created_at: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ReviewList")]
pub struct ListReply {
    pub items: Vec<Summary>,
}

/// The query of `GET /v1/reviews`, read as text and checked by hand.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ReviewListQuery")]
struct ListQuery {
    /// Only this task's reviews (rework makes several).
    #[schemars(length(min = 1, max = 200))]
    task_id: Option<String>,
    #[schemars(with = "Option<u32>", range(min = 1, max = 100))]
    limit: Option<String>,
}

fn require(identity: &Identity, scope: &str) -> Result<(), ApiError> {
    identity.require_scopes(&[scope]).map_err(ApiError::from)
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message).with_field(field)
}

async fn submit(
    AppState(reviewer): AppState<Reviewer>,
    identity: Identity,
    ids: RequestIds,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let tenant = identity.tenant.as_str();
    let (files, max_files) = match (body.files, &body.upload) {
        (Some(files), None) => (files.into_iter().map(|f| SourceFile { path: f.path, content: f.content }).collect(), MAX_FILES),
        (None, Some(upload)) => (upload_files(&reviewer, tenant, upload).await?, uploads::MAX_FILES as usize),
        _ => return Err(invalid("files", "exactly one of `files` and `upload`")),
    };
    let submission = Submission {
        files,
        changed_lines: body.changed_lines.map(|m| m.into_iter().map(|(p, r)| (p, r.into_iter().map(|[a, b]| (a, b)).collect())).collect()),
        coverage: body.coverage,
    };
    check(&submission, max_files).map_err(|(field, message)| match &body.upload {
        // An upload's files are numbered as its parts read back, first appearance first.
        Some(upload) if field.starts_with("files") => invalid("upload", format!("{field} of upload {upload}: {message}")),
        _ => invalid(field, message),
    })?;
    if let Some(changed) = &submission.changed_lines {
        for (path, ranges) in changed {
            if ranges.iter().any(|(a, b)| a > b) {
                return Err(invalid(format!("changed_lines.{path}"), "each range is [first, last] with first ≤ last"));
            }
        }
    }
    let context = body.context.map(Value::Object);
    let title = context.as_ref().and_then(|c| c.get("title")).and_then(Value::as_str).map(str::to_owned);
    let criteria: Vec<String> = context
        .as_ref()
        .and_then(|c| c.get("acceptance_criteria"))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let id = uuid::Uuid::new_v4().to_string();
    let title = title.unwrap_or_else(|| format!("review {id}"));
    let request = Request {
        tenant,
        id: &id,
        task_id: None,
        title: &title,
        criteria: &criteria,
        source: "api",
        correlation_id: &ids.correlation_id,
    };
    reviewer.begin(request, Stored { submission, context, config: None }, None).await?;
    let location = format!("{REVIEWS_PATH}/{id}");
    let mut response = (StatusCode::ACCEPTED, axum::Json(Accepted { id, state: State::Analysing })).into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The files of the tenant's upload a submission names; a 422 naming
/// `upload` when it is not one, or it cannot be read as files.
async fn upload_files(reviewer: &Reviewer, tenant: &str, upload: &str) -> Result<Vec<SourceFile>, ApiError> {
    reviewer.uploads.named(tenant, upload).await?;
    match reviewer.uploads.files(tenant, upload).await? {
        Ok(files) => Ok(files.into_iter().map(|f| SourceFile { path: f.path, content: f.content }).collect()),
        Err(message) => Err(invalid("upload", message)),
    }
}

/// A part's files, or a 422 naming the first binary one: the Reviewer
/// reads source text only, so a binary file is refused when it arrives.
fn part_files(part: UploadPart) -> Result<Vec<UploadFile>, ApiError> {
    if let Some(i) = part.files.iter().position(|f| f.content.contains('\0')) {
        return Err(invalid(format!("files[{i}].content"), "a binary file (it holds NUL bytes); upload source text only"));
    }
    Ok(part.files.into_iter().map(|f| UploadFile { path: f.path, content: f.content }).collect())
}

/// `POST /v1/reviews/uploads`: a new upload with its first part; 201.
async fn create_upload(
    AppState(reviewer): AppState<Reviewer>,
    identity: Identity,
    ApiJson(part): ApiJson<UploadPart>,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let files = part_files(part)?;
    let (id, totals) = reviewer.uploads.create(identity.tenant.as_str(), files, now_ms()).await?;
    Ok(UploadView::new(id, totals).created(UPLOADS_PATH))
}

/// `POST /v1/reviews/uploads/{id}/files`: one more part; 200 with the totals.
async fn add_upload_files(
    AppState(reviewer): AppState<Reviewer>,
    identity: Identity,
    Path(id): Path<String>,
    ApiJson(part): ApiJson<UploadPart>,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let tenant = identity.tenant.as_str();
    // Another tenant's upload is a 404 before anything is said about the files.
    if reviewer.uploads.totals(tenant, &id).await?.is_none() {
        return Err(ApiError::not_found(format!("no upload {id}")));
    }
    let totals = reviewer.uploads.add(tenant, &id, part_files(part)?).await?;
    Ok(axum::Json(UploadView::new(id, totals)).into_response())
}

/// `GET /v1/reviews/config`.
async fn show_config(AppState(reviewer): AppState<Reviewer>, identity: Identity) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    Ok(axum::Json(config_view(&reviewer, identity.tenant.as_str()).await?).into_response())
}

/// `PUT /v1/reviews/config`: the tenant's overrides of the standard
/// configuration, checked as a whole; a new version, for reviews requested
/// from now on.
async fn set_config(
    AppState(reviewer): AppState<Reviewer>,
    identity: Identity,
    ApiJson(overrides): ApiJson<serde_json::Map<String, Value>>,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let overrides = Value::Object(overrides);
    ReviewConfig::with_overrides(&overrides).map_err(|e| invalid(e.field, e.message))?;
    let tenant = identity.tenant.as_str();
    reviewer.repo.set_config(tenant, &overrides, now_ms()).await?;
    Ok(axum::Json(config_view(&reviewer, tenant).await?).into_response())
}

async fn config_view(reviewer: &Reviewer, tenant: &str) -> Result<ConfigView, ApiError> {
    let applied = reviewer.config_for(tenant).await?;
    let row = match applied.used.source {
        ConfigSource::Tenant => reviewer.repo.config(tenant).await?,
        _ => None,
    };
    Ok(ConfigView {
        source: applied.used.source,
        version: applied.used.version,
        updated_at: row.as_ref().map(|r| r.created_at),
        overrides: row.and_then(|r| r.overrides.as_object().cloned()),
        config: applied.config,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no review {id}"))
}

fn decision_of(row: &ReviewRow) -> Option<Decision> {
    row.decision.as_deref().and_then(|d| serde_json::from_value(json!(d)).ok())
}

fn judgement_of(row: &ReviewRow) -> Option<Judgement> {
    row.judgement.clone().and_then(|j| serde_json::from_value(j).ok())
}

async fn show(AppState(reviewer): AppState<Reviewer>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let tenant = identity.tenant.as_str();
    if let Some(id) = id.strip_suffix(".md") {
        return markdown(&reviewer, tenant, id).await;
    }
    let row = reviewer.repo.get(tenant, &id).await?.ok_or_else(|| not_found(&id))?;
    let judgement = judgement_of(&row);
    let review = judgement.as_ref().map(|j| &j.review);
    let view = ReviewView {
        decision: decision_of(&row),
        reviewer: row.judgement.as_ref().and_then(|j| j.get("reviewer")).and_then(Value::as_str).map(str::to_owned),
        config: row.judgement.as_ref().and_then(|j| j.get("config")).and_then(|c| serde_json::from_value(c.clone()).ok()),
        sub_scores: review.map(|r| r.sub_scores.clone()),
        evidence: review.map(|r| r.evidence.clone()),
        remarks: review.map(|r| r.remarks.clone()),
        confidence_notes: review.map(|r| r.confidence_notes.clone()),
        critical: review.map(|r| r.critical),
        narrative: judgement.as_ref().and_then(|j| j.narrative.clone()),
        llm: judgement.as_ref().and_then(|j| j.llm.clone()),
        id: row.id,
        task_id: row.task_id,
        title: row.title,
        acceptance_criteria: row.criteria,
        source: row.source,
        state: row.state,
        created_at: row.created_at,
        updated_at: row.updated_at,
        score: row.score,
        confidence: row.confidence,
        reason: row.reason,
    };
    Ok(axum::Json(view).into_response())
}

async fn markdown(reviewer: &Reviewer, tenant: &str, id: &str) -> Result<Response, ApiError> {
    let row = reviewer.repo.get(tenant, id).await?.ok_or_else(|| not_found(id))?;
    let text = match (judgement_of(&row), row.state) {
        (Some(judgement), _) => reviewer_engine::markdown::render(&row.title, &judgement.review, judgement.narrative.as_ref()),
        (None, State::Escalated) => format!(
            "## Review: {}\n\n**🧑 Escalated to a person**: {}\n",
            row.title.replace('<', "&lt;"),
            row.reason.as_deref().unwrap_or("no reason recorded").replace('<', "&lt;")
        ),
        (None, state) => {
            return Err(ApiError::new(StatusCode::CONFLICT, "not_ready", format!("review {id} is {}; it has no judgement yet", state.as_str())));
        }
    };
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/markdown; charset=utf-8"));
    Ok(response)
}

async fn list(AppState(reviewer): AppState<Reviewer>, identity: Identity, uri: http::Uri) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let query: ListQuery = axum::extract::Query::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    if let Some(task) = &query.task_id
        && (task.is_empty() || task.chars().count() > 200)
    {
        return Err(ApiError::bad_request("invalid_task_id", "task_id is 1 to 200 characters").with_field("task_id"));
    }
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text.parse::<i64>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::bad_request("invalid_limit", format!("limit is a whole number from 1 to {MAX_LIMIT}")).with_field("limit")
        })?,
    };
    let rows = reviewer.repo.list(identity.tenant.as_str(), query.task_id.as_deref(), limit).await?;
    let items = rows
        .iter()
        .map(|row| Summary {
            id: row.id.clone(),
            task_id: row.task_id.clone(),
            state: row.state,
            decision: decision_of(row),
            score: row.score,
            created_at: row.created_at,
        })
        .collect();
    Ok(axum::Json(ListReply { items }).into_response())
}

/// The OpenAPI document of the Reviewer's routes.
pub fn openapi() -> Value {
    let mut d = Document::new("Hive Reviewer", "An explainable score and a decision (approve, rework, escalate, reject) for submitted work.");
    let body = d.schema::<SubmitBody>();
    let accepted = d.schema::<Accepted>();
    let view = d.schema::<ReviewView>();
    let list_reply = d.schema::<ListReply>();
    let part = d.schema::<UploadPart>();
    let upload = d.schema::<UploadView>();
    let config_view = d.schema::<ConfigView>();
    let id = json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[A-Za-z0-9-]+$"});
    let from_accepted = json!({"id": "$response.body#/id"});
    let submit = Operation::post(REVIEWS_PATH, "submitWorkForReview")
        .summary("Queues files, inline or an upload, for review; answers 202 with the review's id. Guardian analyses them, then the Reviewer scores.")
        .scope(WRITE_SCOPE)
        .json_body(body)
        .json_response(202, "queued for analysis", accepted)
        .error(422, "a field is invalid: a path, a binary file, neither or both of `files` and `upload`, or no such upload")
        .link(202, "GetReview", "getWorkReview", from_accepted.clone())
        .link(202, "GetReviewMarkdown", "getWorkReviewMarkdown", from_accepted);
    let routes = UploadRoutes {
        uploads_path: UPLOADS_PATH,
        files_path: UPLOAD_FILES_PATH,
        create_id: "createWorkReviewUpload",
        add_id: "addWorkReviewUploadFiles",
        submit_id: "submitWorkForReview",
        scope: WRITE_SCOPE,
        also_refused: ", a file is binary",
    };
    let [create_upload, add_files] = routes.operations(part, upload, id.clone());
    let show = Operation::get(REVIEW_PATH, "getWorkReview")
        .summary("A review: its state and, once it ended, the score, sub-scores, evidence, decision, confidence and remarks.")
        .scope(READ_SCOPE)
        .path_parameter("id", id.clone(), "The review's id.")
        .json_response(200, "the review", view)
        .error(404, "no such review for this tenant");
    let markdown = Operation::get(MARKDOWN_PATH, "getWorkReviewMarkdown")
        .summary("The review as Markdown, fit to be one pull-request comment.")
        .scope(READ_SCOPE)
        .path_parameter("id", id, "The review's id.")
        .response(200, "the review as Markdown", "text/markdown", json!({"type": "string"}))
        .error(404, "no such review for this tenant")
        .error(409, "the review has not ended yet");
    let list = Operation::get(REVIEWS_PATH, "listWorkReviews")
        .summary("The tenant's reviews, newest first; `task_id` picks one task's (rework makes several).")
        .scope(READ_SCOPE)
        .query_of::<ListQuery>(&mut d)
        .json_response(200, "the reviews", list_reply)
        .error(400, "a bad task_id or limit; `field` names it");
    let show_config = Operation::get(CONFIG_PATH, "getWorkReviewConfig")
        .summary("The tenant's configuration: set through the API, else HIVE_REVIEWS_CONFIG's, else the standard one.")
        .scope(READ_SCOPE)
        .json_response(200, "the configuration in force", config_view.clone());
    let set_config = Operation::put(CONFIG_PATH, "putWorkReviewConfig")
        .summary("Sets the tenant's overrides of the standard weights and thresholds, as a new version for reviews requested from now on.")
        .scope(WRITE_SCOPE)
        .json_body(config_overrides_schema())
        .json_response(200, "the configuration now in force", config_view)
        .error(409, "another change was made at the same time; send it again")
        .error(422, "a weight or threshold is out of range, or the weights do not sum to 1; `field` names it");
    d.operation(submit)
        .operation(create_upload)
        .operation(add_files)
        .operation(show)
        .operation(markdown)
        .operation(list)
        .operation(show_config)
        .operation(set_config);
    let mut document = d.to_json();
    // The review of an upload takes its id in the body, which the link
    // builder cannot say: the stateful phase chains upload and review.
    let link = format!("/paths/{}/post/responses/201/links/ReviewUpload", UPLOADS_PATH.replace('/', "~1"));
    if let Some(link) = document.pointer_mut(&link) {
        link["requestBody"] = json!({"upload": "$response.body#/id"});
    }
    document
}

/// The body of `PUT /v1/reviews/config`: the configuration's schema with
/// every field optional at every depth, as the overrides merge key by key.
fn config_overrides_schema() -> Value {
    fn optional(schema: &mut Value) {
        match schema {
            Value::Object(object) => {
                object.remove("required");
                object.remove("title");
                object.values_mut().for_each(optional);
            }
            Value::Array(items) => items.iter_mut().for_each(optional),
            _ => {}
        }
    }
    let mut schema = infra::edge::openapi::inline_schema::<ReviewConfig>();
    optional(&mut schema);
    schema
}
