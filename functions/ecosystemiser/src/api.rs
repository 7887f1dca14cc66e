//! The HTTP API: `/v1/studies`, `/v1/uploads` and `/v1/openapi.json`.
//!
//! Every route but the OpenAPI document needs a bearer token; writing
//! (submit, delete, upload) needs `studies:write`, reading `studies:read`.
//! A study belongs to the tenant of the token that submitted it, and every
//! lookup is by `(tenant, id)`: another tenant's study is a 404, never a
//! 403, so ids leak nothing.
//!
//! Profiles reach a study in one of three ways: inline in the system
//! document (`profiles.inline`), as CSV text in the body's `files` map
//! under the name `profiles.csv` gives, or uploaded first
//! (`POST /v1/uploads`, then `PUT` the file to the returned target) and
//! named as `"profiles": {"csv": "uploads/<id>"}`. The API reads an upload
//! when the study is submitted and stores it with the study's input, so a
//! study never depends on an upload that may be deleted later.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use ecosystemiser_engine::parse::ValidationError;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use infra::Error;
use infra::auth::{AuthError, Identity, Verifier};
use infra::edge::http::rate_limit;
use infra::edge::{ApiError, ApiJson, require_scopes};
use infra::events::StudySubmitted;
use infra::telemetry::RequestIds;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{self, SubmitBody, initial_jobs, validate_submission};
use crate::repo::{Cursor, Inserted, NewStudy, Study};
use crate::model::{Kind, StudyStatus};
use crate::system_schema::absent_not_null;
use crate::{READ_SCOPE, Studies, WRITE_SCOPE, keys, time};

/// The header that makes a retried `POST /v1/studies` return the first
/// attempt's study.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Listing page size when `limit` is absent, and its maximum.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// The app's routes, not yet wrapped by `platform_router`. The OpenAPI
/// document ([`crate::openapi::document`]) is served beside them: by the
/// registry under `hive serve`, merged with every app's, and by the
/// `studies-api` binary on Lambda.
pub fn routes(studies: Studies, verifier: Arc<Verifier>) -> Router {
    let mut authenticated = Router::new();
    for (path, handler) in authenticated_routes() {
        authenticated = authenticated.route(path, handler);
    }
    authenticated.route_layer(require_scopes(&verifier, &[])).with_state(studies)
}

/// Every authenticated route; the OpenAPI test checks this table against the
/// document, so the two cannot drift.
fn authenticated_routes() -> Vec<(&'static str, MethodRouter<Studies>)> {
    vec![
        ("/v1/studies", post(submit).get(list)),
        ("/v1/studies/{id}", get(show).delete(remove)),
        ("/v1/studies/{id}/results", get(results)),
        ("/v1/studies/{id}/series.csv", get(series)),
        ("/v1/studies/{id}/report", get(report)),
        ("/v1/uploads", post(create_upload)),
        ("/v1/uploads/{id}", put(put_upload)),
    ]
}

/// Every path [`routes`] serves.
pub fn paths() -> Vec<&'static str> {
    authenticated_routes().into_iter().map(|(path, _)| path).collect()
}

fn require(identity: &Identity, scope: &str) -> Result<(), ApiError> {
    identity.require_scopes(&[scope]).map_err(|error: AuthError| ApiError::from(error))
}

async fn submit(
    State(studies): State<Studies>,
    identity: Identity,
    ids: RequestIds,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let tenant = identity.tenant.as_str();
    let limit = studies.settings.submissions_per_minute;
    if limit > 0 {
        rate_limit(&*studies.cache, &format!("rate:studies.submit:{tenant}"), limit, Duration::from_secs(60)).await?;
    }
    let idempotency_key = idempotency_key(&headers)?;

    let mut files = body.files.clone();
    if let Some(name) = model::referenced_csv(&body.system)
        && !files.contains_key(name)
        && let Some(upload_id) = name.strip_prefix(keys::UPLOAD_REFERENCE_PREFIX)
    {
        match read_upload(&studies, tenant, upload_id).await? {
            Ok(text) => {
                files.insert(name.to_owned(), text);
            }
            Err(message) => {
                return Ok(invalid_study(vec![ValidationError {
                    path: "system.profiles.csv".into(),
                    line: None,
                    message,
                }]));
            }
        }
    }
    let validated = match validate_submission(&body, files) {
        Ok(validated) => validated,
        Err(errors) => return Ok(invalid_study(errors)),
    };
    let fingerprint = model::fingerprint(&serde_json::to_vec(&body).map_err(ApiError::internal)?);
    let id = uuid::Uuid::new_v4().to_string();
    let now = time::now_ms();
    let (jobs, jobs_total) = initial_jobs(&validated.input.options);

    let input = serde_json::to_vec(&validated.input).map_err(ApiError::internal)?;
    studies.objects.put(&keys::input(tenant, &id), input, "application/json").await?;
    let new = NewStudy {
        tenant,
        id: &id,
        kind: validated.input.options.kind(),
        jobs_total,
        idempotency_key: idempotency_key.as_deref(),
        request_fingerprint: &fingerprint,
        now,
        deadline_at: studies.deadline(now),
        jobs: &jobs,
    };
    let keys: Vec<String> = jobs.iter().map(|job| job.key.clone()).collect();
    let submitted =
        StudySubmitted { study: id.clone(), kind: new.kind.as_str().to_owned(), jobs: jobs_total };
    let mut events = vec![studies.event(tenant, &ids.correlation_id, &submitted)?];
    events.extend(studies.job_requests(tenant, &id, &keys, &ids.correlation_id)?);
    match studies.repo.insert(&new, events).await? {
        Inserted::Existing(earlier) => {
            studies.objects.delete(&keys::input(tenant, &id)).await?;
            if earlier.request_fingerprint != fingerprint {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request",
                ));
            }
            // Its jobs went into the outbox with it, so nothing needs resending.
            Ok(accepted(&earlier.id, earlier.status.as_str()))
        }
        Inserted::New(staged) => {
            studies.outbox.relay(staged, now).await;
            tracing::info!(study = %id, kind = new.kind.as_str(), jobs = jobs_total, "study submitted");
            Ok(accepted(&id, "queued"))
        }
    }
}

/// The answer to `POST /v1/studies`: the study, queued (or as the first
/// attempt left it, for a retry with the same Idempotency-Key).
#[derive(Serialize, JsonSchema)]
pub struct Accepted {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    #[schemars(with = "StudyStatus")]
    pub status: String,
    pub links: AcceptedLinks,
}

#[derive(Serialize, JsonSchema)]
pub struct AcceptedLinks {
    /// `GET` it to follow the study.
    pub study: String,
}

fn accepted(id: &str, status: &str) -> Response {
    let location = format!("/v1/studies/{id}");
    let body =
        Accepted { id: id.to_owned(), status: status.to_owned(), links: AcceptedLinks { study: location.clone() } };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A 400 naming every bad path: the platform's error shape plus `details`.
#[derive(Serialize, JsonSchema)]
pub struct InvalidStudy {
    pub error: InvalidStudyDetail,
}

#[derive(Serialize, JsonSchema)]
pub struct InvalidStudyDetail {
    /// `invalid_study`.
    pub code: &'static str,
    pub message: String,
    /// The first bad path.
    pub field: String,
    /// Every bad path, in document order.
    #[schemars(with = "Vec<ValidationErrorSchema>")]
    pub details: Vec<ValidationError>,
}

/// The engine's `ValidationError` as the API writes it.
#[derive(JsonSchema)]
#[schemars(rename = "ValidationError")]
#[allow(dead_code)]
struct ValidationErrorSchema {
    /// From the body's root, such as `system.components[2].power_kw`.
    path: String,
    /// The line in the system document, when it came from YAML; here `null`.
    line: Option<u32>,
    message: String,
}

fn invalid_study(errors: Vec<ValidationError>) -> Response {
    let message = match errors.len() {
        1 => format!("invalid study: {}", errors[0]),
        n => format!("invalid study: {n} problems, see details"),
    };
    let field = errors.first().map(|e| e.path.clone()).unwrap_or_default();
    let body = InvalidStudy { error: InvalidStudyDetail { code: "invalid_study", message, field, details: errors } };
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else { return Ok(None) };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters")
            .with_field("Idempotency-Key")),
    }
}

/// An upload's text, or why it cannot be used.
async fn read_upload(studies: &Studies, tenant: &str, upload_id: &str) -> Result<Result<String, String>, ApiError> {
    if !keys::is_upload_id(upload_id) {
        return Ok(Err(format!("`uploads/{upload_id}` is not an upload id")));
    }
    match studies.objects.get(&keys::upload(tenant, upload_id)).await {
        Ok(bytes) => Ok(String::from_utf8(bytes).map_err(|_| "the upload is not UTF-8 text".to_owned())),
        Err(Error::NotFound(_)) => Ok(Err(format!("no upload `uploads/{upload_id}`; PUT the file to its target first"))),
        Err(error) => Err(error.into()),
    }
}

/// The query of `GET /v1/studies`. Values are read as text so that a bad
/// one is a 400 naming the parameter; the schema says what each may be.
#[derive(Deserialize, JsonSchema)]
#[schemars(transform = absent_not_null)]
pub struct ListQuery {
    /// Only studies with this status.
    #[schemars(with = "Option<StudyStatus>")]
    pub status: Option<String>,
    /// Studies per page, default 20.
    #[schemars(with = "Option<u32>", range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[schemars(regex(pattern = r"^(0|[1-9][0-9]{0,17})\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))]
    pub cursor: Option<String>,
}

/// A page of `GET /v1/studies`, newest first.
#[derive(Serialize, JsonSchema)]
pub struct StudyPage {
    pub items: Vec<StudyView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A listing position, `<created_at in ms>.<id>`. Every string of that form
/// (the `cursor` parameter's pattern) is a position: the page starts after
/// it, whether or not such a study exists.
pub fn encode_cursor(cursor: &Cursor) -> String {
    format!("{}.{}", cursor.created_at, cursor.id)
}

pub fn decode_cursor(text: &str) -> Option<Cursor> {
    let (created_at, id) = text.split_once('.')?;
    let digits_ok = !created_at.is_empty()
        && created_at.len() <= 18
        && created_at.bytes().all(|b| b.is_ascii_digit())
        && (created_at == "0" || !created_at.starts_with('0'));
    let hex_ok = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if !(digits_ok && hex_ok) {
        return None;
    }
    Some(Cursor { created_at: created_at.parse().ok()?, id: id.to_owned() })
}

async fn list(
    State(studies): State<Studies>,
    identity: Identity,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(model::StudyStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("unknown status `{text}`")).with_field("status")
        })?),
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("limit must be between 1 and {MAX_LIMIT}")).with_field("limit")
        })?,
    };
    let cursor = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(decode_cursor(text).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "cursor must be `<created_at>.<id>`, as next_cursor gives it")
                .with_field("cursor")
        })?),
    };
    let page = studies.repo.list(&identity.tenant, status, cursor.as_ref(), limit).await?;
    let body = StudyPage {
        items: page.studies.iter().map(view).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    };
    Ok(axum::Json(body).into_response())
}

/// A study as `GET /v1/studies/{id}` shows it.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Study")]
pub struct StudyView {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    pub kind: Kind,
    pub status: StudyStatus,
    pub progress: Progress,
    pub timings: Timings,
    /// Why it failed or is infeasible.
    pub error: Option<String>,
    pub objective: Option<f64>,
    pub links: StudyLinks,
}

/// Jobs done, failed and in all (a Pareto study's total grows once its
/// anchors are solved).
#[derive(Serialize, JsonSchema)]
pub struct Progress {
    pub done: i64,
    pub failed: i64,
    pub total: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct Timings {
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub started_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub finished_at: Option<String>,
    pub queued_s: Option<f64>,
    pub running_s: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
pub struct StudyLinks {
    #[serde(rename = "self")]
    pub this: String,
    /// Once the study is finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<String>,
    /// Once the study is finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

pub fn view(study: &Study) -> StudyView {
    let seconds = |from: Option<i64>, to: Option<i64>| match (from, to) {
        (Some(from), Some(to)) => Some((to - from) as f64 / 1000.0),
        _ => None,
    };
    let id = &study.id;
    let finished = |what: &str| study.status.is_final().then(|| format!("/v1/studies/{id}/{what}"));
    StudyView {
        id: id.clone(),
        kind: study.kind,
        status: study.status,
        progress: Progress { done: study.jobs_done, failed: study.jobs_failed, total: study.jobs_total },
        timings: Timings {
            created_at: time::rfc3339(study.created_at),
            started_at: study.started_at.map(time::rfc3339),
            finished_at: study.finished_at.map(time::rfc3339),
            queued_s: seconds(Some(study.created_at), study.started_at),
            running_s: seconds(study.started_at, study.finished_at),
        },
        error: study.error.clone(),
        objective: study.objective,
        links: StudyLinks { this: format!("/v1/studies/{id}"), results: finished("results"), report: finished("report") },
    }
}

async fn find(studies: &Studies, identity: &Identity, id: &str) -> Result<Study, ApiError> {
    studies.repo.get(&identity.tenant, id).await?.ok_or_else(|| ApiError::not_found(format!("no study {id}")))
}

async fn show(
    State(studies): State<Studies>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    Ok(axum::Json(view(&find(&studies, &identity, &id).await?)).into_response())
}

async fn remove(
    State(studies): State<Studies>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    if studies.delete_study(&identity.tenant, &id).await? {
        tracing::info!(study = %id, "study deleted");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("no study {id}")))
    }
}

/// One of a finished study's stored objects, with its content type.
async fn artifact(
    studies: &Studies,
    identity: &Identity,
    id: &str,
    key: String,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    let study = find(studies, identity, id).await?;
    if !study.status.is_final() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_ready",
            format!("study {id} is {}; poll it until it finishes", study.status.as_str()),
        ));
    }
    match studies.objects.get(&key).await {
        Ok(bytes) => Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response()),
        Err(Error::NotFound(_)) => Err(ApiError::not_found(format!(
            "study {id} has none ({}{})",
            study.status.as_str(),
            study.error.map(|e| format!(": {e}")).unwrap_or_default()
        ))),
        Err(error) => Err(error.into()),
    }
}

async fn results(
    State(studies): State<Studies>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let key = keys::results(&identity.tenant, &id);
    artifact(&studies, &identity, &id, key, "application/json").await
}

async fn series(
    State(studies): State<Studies>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let key = keys::series(&identity.tenant, &id);
    artifact(&studies, &identity, &id, key, "text/csv; charset=utf-8").await
}

async fn report(
    State(studies): State<Studies>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let key = keys::report(&identity.tenant, &id);
    artifact(&studies, &identity, &id, key, "text/html; charset=utf-8").await
}

async fn create_upload(
    State(studies): State<Studies>,
    identity: Identity,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let id = uuid::Uuid::new_v4().to_string();
    let expiry = studies.settings.upload_expiry;
    let (url, method, upload_headers) = if studies.settings.direct_uploads {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8080");
        let headers = BTreeMap::from([
            ("authorization".to_owned(), "Bearer <your token>".to_owned()),
            ("content-type".to_owned(), CSV.to_owned()),
        ]);
        (format!("http://{host}/v1/uploads/{id}"), "PUT".to_owned(), headers)
    } else {
        let target = studies.objects.upload_target(&keys::upload(&identity.tenant, &id), expiry).await?;
        (target.url, target.method, target.headers.into_iter().collect())
    };
    let body = Upload {
        reference: format!("{}{id}", keys::UPLOAD_REFERENCE_PREFIX),
        id,
        upload: UploadTarget { url, method, headers: upload_headers },
        expires_in_s: expiry.as_secs(),
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Where to send a profiles file, and what to call it in a system.
#[derive(Serialize, JsonSchema)]
pub struct Upload {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    /// What to write in the system's `profiles.csv`: `uploads/<id>`.
    pub reference: String,
    pub upload: UploadTarget,
    pub expires_in_s: u64,
}

/// A presigned S3 request, or this API's `PUT /v1/uploads/{id}` where the
/// store is local.
#[derive(Serialize, JsonSchema)]
pub struct UploadTarget {
    pub url: String,
    pub method: String,
    /// Headers to send with it.
    pub headers: BTreeMap<String, String>,
}

/// An upload, stored.
#[derive(Serialize, JsonSchema)]
pub struct Stored {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    pub reference: String,
}

/// The one media type `PUT /v1/uploads/{id}` takes.
pub const CSV: &str = "text/csv";
/// What an upload must start with: a header row of non-empty column names,
/// then the start of a data row. The rest is checked when a study names it.
pub const CSV_PATTERN: &str = r"^[^,\r\n]+(,[^,\r\n]+)*\r?\n[^,\r\n]";

/// [`CSV_PATTERN`], by hand.
pub fn starts_like_csv(text: &str) -> bool {
    let Some((header, rest)) = text.split_once('\n') else { return false };
    let header = header.strip_suffix('\r').unwrap_or(header);
    header.split(',').all(|name| !name.is_empty() && !name.contains('\r'))
        && rest.chars().next().is_some_and(|c| !matches!(c, ',' | '\r' | '\n'))
}

/// The direct upload route: the file as a `text/csv` body of UTF-8 text (at
/// most the platform's body limit). Used where the store has no presigned
/// URLs.
async fn put_upload(
    State(studies): State<Studies>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    if !keys::is_upload_id(&id) {
        return Err(ApiError::not_found(format!("no upload {id}")));
    }
    let media_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    if !media_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(CSV) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected a body with content-type text/csv",
        )
        .with_field("Content-Type"));
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return Err(ApiError::bad_request("invalid_upload", "the upload is not UTF-8 text"));
    };
    if !starts_like_csv(text) {
        return Err(ApiError::bad_request(
            "invalid_upload",
            "the upload is not CSV: expected a header row of column names, then data rows",
        ));
    }
    studies.objects.put(&keys::upload(&identity.tenant, &id), body.to_vec(), CSV).await?;
    let reference = format!("{}{id}", keys::UPLOAD_REFERENCE_PREFIX);
    Ok((StatusCode::CREATED, axum::Json(Stored { id, reference })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cursor_of_the_documented_form_is_a_position() {
        let cursor = Cursor { created_at: 1_764_000_000_123, id: uuid::Uuid::new_v4().to_string() };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)), Some(cursor));
        let id = "0c2a7d1e-3b4f-4a5b-8c6d-7e8f9a0b1c2d";
        for created_at in ["0", "7", "999999999999999999"] {
            assert!(decode_cursor(&format!("{created_at}.{id}")).is_some(), "{created_at}");
        }
        for bad in ["", "zz", "1", "1.", ".x", "01.x", "-1.x", "1.0C2A7D1E-3B4F-4A5B-8C6D-7E8F9A0B1C2D", "1234567890123456789.x"]
        {
            let text = bad.replace(".x", &format!(".{id}"));
            assert_eq!(decode_cursor(&text), None, "{text}");
        }
    }

    #[test]
    fn an_upload_starts_with_a_header_and_a_row() {
        for good in ["a\n1", "a,b\r\n1,2\n", "pv_cf,demand_kw\n0.5,1", "é\nx"] {
            assert!(starts_like_csv(good), "{good:?}");
        }
        for bad in ["", "{}", "a", "a\n", "a\n,1", "a,,b\n1", ",a\n1", "a\r\r\n1", "a\n\n1", "[1, 2]", "a\n\r1"] {
            assert!(!starts_like_csv(bad), "{bad:?}");
        }
    }
}
