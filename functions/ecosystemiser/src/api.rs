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
use infra::telemetry::RequestIds;
use serde::Deserialize;

use crate::model::{self, SubmitBody, initial_jobs, validate_submission};
use crate::repo::{Cursor, NewStudy, Study};
use crate::{READ_SCOPE, Studies, WRITE_SCOPE, keys, openapi, time};

/// The header that makes a retried `POST /v1/studies` return the first
/// attempt's study.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Listing page size when `limit` is absent, and its maximum.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// The app's routes, not yet wrapped by `platform_router`.
pub fn routes(studies: Studies, verifier: Arc<Verifier>) -> Router {
    let mut authenticated = Router::new();
    for (path, handler) in authenticated_routes() {
        authenticated = authenticated.route(path, handler);
    }
    let open = Router::new().route(OPENAPI_PATH, get(|| async { axum::Json(openapi::document()) }));
    authenticated.route_layer(require_scopes(&verifier, &[])).with_state(studies).merge(open)
}

pub const OPENAPI_PATH: &str = "/v1/openapi.json";

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

/// Every path the router serves.
pub fn paths() -> Vec<&'static str> {
    authenticated_routes().into_iter().map(|(path, _)| path).chain([OPENAPI_PATH]).collect()
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
    if let Some(earlier) = studies.repo.insert(&new).await? {
        studies.objects.delete(&keys::input(tenant, &id)).await?;
        if earlier.request_fingerprint != fingerprint {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
            ));
        }
        if earlier.status == model::StudyStatus::Queued {
            // The first attempt may have died before its jobs were sent.
            let pending = studies.repo.pending_jobs(tenant, &earlier.id).await?;
            studies.send_jobs(tenant, &earlier.id, &pending, &ids.correlation_id).await?;
        }
        return Ok(accepted(&earlier.id, earlier.status.as_str()));
    }
    let keys: Vec<String> = jobs.iter().map(|job| job.key.clone()).collect();
    studies.send_jobs(tenant, &id, &keys, &ids.correlation_id).await?;
    tracing::info!(study = %id, kind = new.kind.as_str(), jobs = jobs_total, "study submitted");
    Ok(accepted(&id, "queued"))
}

fn accepted(id: &str, status: &str) -> Response {
    let location = format!("/v1/studies/{id}");
    let body = serde_json::json!({"id": id, "status": status, "links": {"study": location}});
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A 400 naming every bad path, in the platform's error shape plus `details`.
fn invalid_study(errors: Vec<ValidationError>) -> Response {
    let message = match errors.len() {
        1 => format!("invalid study: {}", errors[0]),
        n => format!("invalid study: {n} problems, see details"),
    };
    let body = serde_json::json!({"error": {
        "code": "invalid_study",
        "message": message,
        "field": errors.first().map(|e| e.path.clone()),
        "details": errors,
    }});
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

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list(
    State(studies): State<Studies>,
    identity: Identity,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(model::StudyStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("unknown status `{text}`")).with_field("status")
        })?),
    };
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("limit must be between 1 and {MAX_LIMIT}")).with_field("limit")
        })?,
    };
    let cursor = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "cursor is not one this API returned").with_field("cursor")
        })?),
    };
    let page = studies.repo.list(&identity.tenant, status, cursor.as_ref(), limit).await?;
    let items: Vec<serde_json::Value> = page.studies.iter().map(view).collect();
    Ok(axum::Json(serde_json::json!({
        "items": items,
        "next_cursor": page.next.map(|cursor| cursor.encode()),
    }))
    .into_response())
}

/// A study as `GET /v1/studies/{id}` shows it.
pub fn view(study: &Study) -> serde_json::Value {
    let seconds = |from: Option<i64>, to: Option<i64>| match (from, to) {
        (Some(from), Some(to)) => Some((to - from) as f64 / 1000.0),
        _ => None,
    };
    let id = &study.id;
    let mut links = serde_json::json!({"self": format!("/v1/studies/{id}")});
    if study.status.is_final() {
        links["results"] = format!("/v1/studies/{id}/results").into();
        links["report"] = format!("/v1/studies/{id}/report").into();
    }
    serde_json::json!({
        "id": id,
        "kind": study.kind,
        "status": study.status,
        "progress": {"done": study.jobs_done, "failed": study.jobs_failed, "total": study.jobs_total},
        "timings": {
            "created_at": time::rfc3339(study.created_at),
            "started_at": study.started_at.map(time::rfc3339),
            "finished_at": study.finished_at.map(time::rfc3339),
            "queued_s": seconds(Some(study.created_at), study.started_at),
            "running_s": seconds(study.started_at, study.finished_at),
        },
        "error": study.error,
        "objective": study.objective,
        "links": links,
    })
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
        let headers = BTreeMap::from([("authorization".to_owned(), "Bearer <your token>".to_owned())]);
        (format!("http://{host}/v1/uploads/{id}"), "PUT".to_owned(), headers)
    } else {
        let target = studies.objects.upload_target(&keys::upload(&identity.tenant, &id), expiry).await?;
        (target.url, target.method, target.headers.into_iter().collect())
    };
    let body = serde_json::json!({
        "id": id,
        "reference": format!("{}{id}", keys::UPLOAD_REFERENCE_PREFIX),
        "upload": {"url": url, "method": method, "headers": upload_headers},
        "expires_in_s": expiry.as_secs(),
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The direct upload route: the file's bytes as the body (at most the
/// platform's body limit). Used where the store has no presigned URLs.
async fn put_upload(
    State(studies): State<Studies>,
    identity: Identity,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    if !keys::is_upload_id(&id) {
        return Err(ApiError::not_found(format!("no upload {id}")));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("empty_upload", "the upload is empty"));
    }
    studies.objects.put(&keys::upload(&identity.tenant, &id), body.to_vec(), "text/csv").await?;
    let reference = format!("{}{id}", keys::UPLOAD_REFERENCE_PREFIX);
    Ok((StatusCode::CREATED, axum::Json(serde_json::json!({"id": id, "reference": reference}))).into_response())
}
