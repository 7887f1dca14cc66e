//! The `tasks-api` routes. Scopes: `tasks:read` to look, `tasks:write` to
//! create and steer tasks, `tasks:work` for workers. A refused transition is
//! a 409 naming the task's state and the attempted event; bad input is a
//! 4xx naming the field.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::{HeaderMap, StatusCode};
use infra::auth::{Identity, Verifier};
use infra::edge::openapi::{Document, Operation};
use infra::edge::{ApiError, ApiJson, require_scopes};
use orchestrator_engine::{GraphError, Priority, TaskEvent, TaskState, topological_order};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Orchestrator;
use crate::model::{HistoryEntry, Run, Task, Timeouts, Worker, valid_role};
use crate::repo::{Claimed, Completion, Denied, Finished, NewTask};

pub const READ_SCOPE: &str = "tasks:read";
pub const WRITE_SCOPE: &str = "tasks:write";
pub const WORK_SCOPE: &str = "tasks:work";
pub const MAX_BATCH: usize = 500;
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

pub fn routes(orchestrator: Orchestrator, verifier: Arc<Verifier>) -> Router {
    let read = Router::new()
        .route("/v1/tasks/{id}", get(show))
        .route("/v1/tasks/{id}/history", get(history))
        .route_layer(require_scopes(&verifier, &[READ_SCOPE]));
    // GET and POST /v1/tasks share a path with different scopes: the
    // handler checks which.
    let tasks = Router::new().route("/v1/tasks", get(list).post(create)).route_layer(require_scopes(&verifier, &[]));
    let write = Router::new()
        .route("/v1/tasks/batch", post(create_batch))
        .route("/v1/tasks/{id}/cancel", post(cancel))
        .route("/v1/tasks/{id}/retry", post(retry))
        .route("/v1/tasks/{id}/resolve", post(resolve))
        .route("/v1/roles/{role}", put(set_role))
        .route_layer(require_scopes(&verifier, &[WRITE_SCOPE]));
    let work = Router::new()
        .route("/v1/workers", post(register))
        .route("/v1/workers/{id}/heartbeat", post(worker_heartbeat))
        .route("/v1/workers/{id}/claim", post(claim))
        .route("/v1/runs/{id}/heartbeat", post(run_heartbeat))
        .route("/v1/runs/{id}/complete", post(complete))
        .route("/v1/runs/heartbeat", post(heartbeat_batch))
        .route("/v1/runs/complete", post(complete_batch))
        .route_layer(require_scopes(&verifier, &[WORK_SCOPE]));
    read.merge(tasks).merge(write).merge(work).with_state(orchestrator)
}

fn require(identity: &Identity, scope: &str) -> Result<(), ApiError> {
    identity.require_scopes(&[scope.to_owned()]).map_err(ApiError::from)
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> ApiError {
        match denied {
            Denied::Refused(refused) => ApiError::new(StatusCode::CONFLICT, "invalid_transition", refused.to_string()).with_field("state"),
            Denied::NotFound(message) => ApiError::not_found(message),
            Denied::Stale(message) => ApiError::new(StatusCode::CONFLICT, "stale", message),
            Denied::Attempt(message) => ApiError::new(StatusCode::CONFLICT, "stale", message).with_field("attempt"),
            Denied::Store(error) => error.into(),
        }
    }
}

fn unprocessable(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
}

/// A task as a client describes it.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    #[schemars(length(min = 1, max = 200), regex(pattern = r"\S"))]
    pub title: String,
    /// `backend`, `frontend`, `infra`, or a role the tenant set a limit for.
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,40}$"))]
    pub role: String,
    #[serde(default = "normal")]
    pub priority: Priority,
    /// Whether a successful run goes to review before the task completes.
    #[serde(default)]
    pub review: bool,
    #[schemars(range(min = 0, max = 20))]
    pub max_retries: Option<i64>,
    #[schemars(range(min = 0, max = 10))]
    pub rework_limit: Option<i64>,
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub acceptance_criteria: Vec<String>,
    /// Handed to the worker as it is.
    #[serde(default = "empty_object")]
    pub input: serde_json::Map<String, serde_json::Value>,
    /// Ids of existing tasks (or, in a batch, keys of the batch).
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub depends_on: Vec<String>,
    /// Cancel this task when a dependency fails or is cancelled (default true).
    #[serde(default = "yes")]
    pub cancel_on_upstream_failure: bool,
    pub timeouts: Option<TimeoutsBody>,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsBody {
    #[schemars(range(min = 1, max = 604800))]
    pub schedule_to_start_s: Option<i64>,
    #[schemars(range(min = 1, max = 604800))]
    pub start_to_close_s: Option<i64>,
    #[schemars(range(min = 1, max = 604800))]
    pub heartbeat_s: Option<i64>,
}

fn normal() -> Priority {
    Priority::Normal
}
fn empty_object() -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::new()
}
fn yes() -> bool {
    true
}

/// A task of a batch: a task's fields and the key other tasks of the batch
/// name in `depends_on`. (serde cannot both flatten and refuse unknown
/// fields, so the fields are listed again.)
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]{1,64}$"))]
    pub key: String,
    #[schemars(length(min = 1, max = 200), regex(pattern = r"\S"))]
    pub title: String,
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,40}$"))]
    pub role: String,
    #[serde(default = "normal")]
    pub priority: Priority,
    #[serde(default)]
    pub review: bool,
    #[schemars(range(min = 0, max = 20))]
    pub max_retries: Option<i64>,
    #[schemars(range(min = 0, max = 10))]
    pub rework_limit: Option<i64>,
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub acceptance_criteria: Vec<String>,
    #[serde(default = "empty_object")]
    pub input: serde_json::Map<String, serde_json::Value>,
    /// Keys of other tasks in the batch.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub depends_on: Vec<String>,
    #[serde(default = "yes")]
    pub cancel_on_upstream_failure: bool,
    pub timeouts: Option<TimeoutsBody>,
}

impl BatchItem {
    fn body(&self) -> TaskBody {
        TaskBody {
            title: self.title.clone(),
            role: self.role.clone(),
            priority: self.priority,
            review: self.review,
            max_retries: self.max_retries,
            rework_limit: self.rework_limit,
            acceptance_criteria: self.acceptance_criteria.clone(),
            input: self.input.clone(),
            depends_on: self.depends_on.clone(),
            cancel_on_upstream_failure: self.cancel_on_upstream_failure,
            timeouts: self.timeouts,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    #[schemars(length(min = 1, max = 500))]
    pub tasks: Vec<BatchItem>,
}

impl Orchestrator {
    pub(crate) fn new_task(&self, id: String, body: TaskBody, field: &str) -> Result<NewTask, ApiError> {
        let f = |name: &str| if field.is_empty() { name.to_owned() } else { format!("{field}.{name}") };
        let title = body.title.trim();
        if title.is_empty() || body.title.chars().count() > 200 {
            return Err(unprocessable(&f("title"), "a title of 1 to 200 characters"));
        }
        if !valid_role(&body.role) {
            return Err(unprocessable(&f("role"), "a role is 1 to 40 of a-z, 0-9, - and _"));
        }
        let max_retries = body.max_retries.unwrap_or(self.settings.max_retries);
        if !(0..=20).contains(&max_retries) {
            return Err(unprocessable(&f("max_retries"), "max_retries is 0 to 20"));
        }
        let rework_limit = body.rework_limit.unwrap_or(self.settings.rework_limit);
        if !(0..=10).contains(&rework_limit) {
            return Err(unprocessable(&f("rework_limit"), "rework_limit is 0 to 10"));
        }
        if body.acceptance_criteria.len() > 50 {
            return Err(unprocessable(&f("acceptance_criteria"), "at most 50 criteria"));
        }
        if body.depends_on.len() > 100 {
            return Err(unprocessable(&f("depends_on"), "at most 100 dependencies"));
        }
        let defaults = self.settings.timeouts;
        let given = body.timeouts.unwrap_or(TimeoutsBody { schedule_to_start_s: None, start_to_close_s: None, heartbeat_s: None });
        let mut timeouts = defaults;
        for (name, value, slot) in [
            ("schedule_to_start_s", given.schedule_to_start_s, &mut timeouts.schedule_to_start_s),
            ("start_to_close_s", given.start_to_close_s, &mut timeouts.start_to_close_s),
            ("heartbeat_s", given.heartbeat_s, &mut timeouts.heartbeat_s),
        ] {
            if let Some(value) = value {
                if !(1..=604_800).contains(&value) {
                    return Err(unprocessable(&f(&format!("timeouts.{name}")), "a timeout is 1 s to 7 days"));
                }
                *slot = value;
            }
        }
        Ok(NewTask {
            id,
            title: title.to_owned(),
            role: body.role,
            priority: body.priority,
            review: body.review,
            max_retries,
            rework_limit,
            acceptance_criteria: body.acceptance_criteria,
            input: serde_json::Value::Object(body.input),
            depends_on: body.depends_on,
            cancel_on_upstream_failure: body.cancel_on_upstream_failure,
            timeouts: Timeouts { ..timeouts },
        })
    }

    /// A role is known when the deployment has a default for it or the
    /// tenant set a limit for it.
    pub(crate) async fn check_roles(&self, tenant: &str, tasks: &[(String, &str)]) -> Result<(), ApiError> {
        for (field, role) in tasks {
            if self.settings.role_limits.contains_key(*role) {
                continue;
            }
            let rows = self
                .repo
                .database()
                .query("SELECT lim FROM role_limits WHERE tenant = $1 AND role = $2", &[tenant.into(), (*role).into()])
                .await?;
            if rows.is_empty() {
                return Err(unprocessable(field, format!("unknown role {role:?}: set its limit with PUT /v1/roles/{role} first")));
            }
        }
        Ok(())
    }
}

#[derive(Serialize, JsonSchema)]
struct TaskReply {
    task: Task,
}

async fn create(
    State(orchestrator): State<Orchestrator>,
    identity: Identity,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TaskBody>,
) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let key = idempotency_key(&headers)?;
    let task = orchestrator.new_task(uuid::Uuid::new_v4().to_string(), body, "")?;
    orchestrator.check_roles(&identity.tenant, &[("role".into(), &task.role)]).await?;
    let mut created = orchestrator.repo.create(&identity.tenant, &identity.subject, std::slice::from_ref(&task), key.as_deref()).await?;
    let stored = created.remove(0);
    let status = if stored.id == task.id { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(TaskReply { task: stored })).into_response())
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let key = value.to_str().ok().filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
            key.map(|k| Some(k.to_owned()))
                .ok_or_else(|| ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key is 1 to 255 visible ASCII characters").with_field("Idempotency-Key"))
        }
    }
}

#[derive(Serialize, JsonSchema)]
struct BatchReply {
    /// The batch's keys to the created tasks' ids.
    ids: std::collections::BTreeMap<String, String>,
    tasks: Vec<Task>,
}

async fn create_batch(State(orchestrator): State<Orchestrator>, identity: Identity, ApiJson(body): ApiJson<BatchBody>) -> Result<Response, ApiError> {
    if body.tasks.is_empty() || body.tasks.len() > MAX_BATCH {
        return Err(unprocessable("tasks", format!("a batch has 1 to {MAX_BATCH} tasks")));
    }
    let items = body.tasks;
    for (index, item) in items.iter().enumerate() {
        if item.key.is_empty() || item.key.len() > 64 || !item.key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
            return Err(unprocessable(&format!("tasks[{index}].key"), "a key is 1 to 64 of A-Z, a-z, 0-9, _, . and -"));
        }
    }
    let graph: Vec<(&str, Vec<&str>)> =
        items.iter().map(|item| (item.key.as_str(), item.depends_on.iter().map(String::as_str).collect())).collect();
    let order = topological_order(&graph).map_err(graph_error)?;
    let ids: std::collections::BTreeMap<String, String> =
        items.iter().map(|item| (item.key.clone(), uuid::Uuid::new_v4().to_string())).collect();
    let mut tasks = Vec::new();
    let mut roles = Vec::new();
    for index in order {
        let item = &items[index];
        let mut body = item.body();
        body.depends_on = body.depends_on.iter().map(|key| ids[key].clone()).collect();
        roles.push((format!("tasks[{index}].role"), item.role.as_str()));
        tasks.push(orchestrator.new_task(ids[&item.key].clone(), body, &format!("tasks[{index}]"))?);
    }
    orchestrator.check_roles(&identity.tenant, &roles).await?;
    let created = orchestrator.repo.create(&identity.tenant, &identity.subject, &tasks, None).await?;
    Ok((StatusCode::CREATED, axum::Json(BatchReply { ids, tasks: created })).into_response())
}

pub(crate) fn graph_error(error: GraphError) -> ApiError {
    let field = match &error {
        GraphError::DuplicateKey { index, .. } => format!("tasks[{index}].key"),
        GraphError::UnknownDependency { index, .. } | GraphError::SelfLoop { index, .. } => format!("tasks[{index}].depends_on"),
        GraphError::Cycle { .. } => "tasks".to_owned(),
    };
    ApiError::bad_request("invalid_graph", error.to_string()).with_field(field)
}

/// The query of `GET /v1/tasks`, read as text and checked by hand.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[schemars(with = "Option<TaskState>")]
    state: Option<String>,
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,40}$"))]
    role: Option<String>,
    /// The `next_cursor` of the previous page.
    #[schemars(regex(pattern = r"^[0-9]{1,18}:[0-9a-f-]{36}$"))]
    cursor: Option<String>,
    #[schemars(with = "Option<u32>", range(min = 1, max = 200))]
    limit: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct TaskPage {
    items: Vec<Task>,
    next_cursor: Option<String>,
}

async fn list(State(orchestrator): State<Orchestrator>, identity: Identity, uri: http::Uri) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let query: ListQuery = axum::extract::Query::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let state = query
        .state
        .as_deref()
        .map(|s| TaskState::parse(s).ok_or_else(|| ApiError::bad_request("invalid_state", format!("{s:?} is not a task state")).with_field("state")))
        .transpose()?;
    if let Some(role) = &query.role
        && !valid_role(role)
    {
        return Err(ApiError::bad_request("invalid_role", "a role is 1 to 40 of a-z, 0-9, - and _").with_field("role"));
    }
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| {
            // Any string of the documented form is a position in the order.
            let parsed = c.split_once(':').and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())));
            let well_formed = |id: &str| id.len() == 36 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-');
            parsed.filter(|(at, id)| *at >= 0 && well_formed(id)).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "cursor must be a next_cursor from an earlier page").with_field("cursor")
            })
        })
        .transpose()?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::bad_request("invalid_limit", format!("limit is a whole number from 1 to {MAX_LIMIT}")).with_field("limit")
        })?,
    };
    let items = orchestrator.repo.list(&identity.tenant, state, query.role.as_deref(), cursor, limit).await?;
    let next_cursor = (items.len() == limit).then(|| items.last().map(|t| format!("{}:{}", t.created_at, t.id))).flatten();
    Ok(axum::Json(TaskPage { items, next_cursor }).into_response())
}

#[derive(Serialize, JsonSchema)]
struct TaskWithRuns {
    task: Task,
    runs: Vec<Run>,
}

fn task_id(id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| ApiError::not_found(format!("no task {id}")))
}

async fn show(State(orchestrator): State<Orchestrator>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    task_id(&id)?;
    let (task, runs) = orchestrator.repo.get(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found(format!("no task {id}")))?;
    Ok(axum::Json(TaskWithRuns { task, runs }).into_response())
}

#[derive(Serialize, JsonSchema)]
struct HistoryReply {
    items: Vec<HistoryEntry>,
}

async fn history(State(orchestrator): State<Orchestrator>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    task_id(&id)?;
    let items = orchestrator.repo.history(&identity.tenant, &id).await?;
    if items.is_empty() {
        return Err(ApiError::not_found(format!("no task {id}")));
    }
    Ok(axum::Json(HistoryReply { items }).into_response())
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[schemars(length(max = 1000))]
    reason: Option<String>,
}

fn reason(body: &ReasonBody) -> Result<Option<&str>, ApiError> {
    match body.reason.as_deref() {
        Some(r) if r.chars().count() > 1000 => Err(unprocessable("reason", "at most 1000 characters")),
        other => Ok(other),
    }
}

async fn act(orchestrator: &Orchestrator, identity: &Identity, id: &str, event: TaskEvent, why: Option<&str>) -> Result<Response, ApiError> {
    task_id(id)?;
    let task = orchestrator.repo.act(&identity.tenant, &identity.subject, id, event, why).await?;
    Ok(axum::Json(TaskReply { task }).into_response())
}

async fn cancel(State(o): State<Orchestrator>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<ReasonBody>) -> Result<Response, ApiError> {
    act(&o, &identity, &id, TaskEvent::Cancel, reason(&body)?).await
}

async fn retry(State(o): State<Orchestrator>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<ReasonBody>) -> Result<Response, ApiError> {
    act(&o, &identity, &id, TaskEvent::ManualRetry, reason(&body)?).await
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Resolution {
    Approve,
    Rework,
    Reject,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    decision: Resolution,
    #[schemars(length(max = 1000))]
    reason: Option<String>,
}

async fn resolve(State(o): State<Orchestrator>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<ResolveBody>) -> Result<Response, ApiError> {
    let event = match body.decision {
        Resolution::Approve => TaskEvent::ResolveApprove,
        Resolution::Rework => TaskEvent::ResolveRework,
        Resolution::Reject => TaskEvent::ResolveReject,
    };
    let why = reason(&ReasonBody { reason: body.reason })?.map(str::to_owned);
    act(&o, &identity, &id, event, why.as_deref()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    /// Runs of this role the tenant's workers may hold at once; 0 is unlimited.
    #[schemars(range(min = 0, max = 10000))]
    limit: i64,
}

#[derive(Serialize, JsonSchema)]
struct RoleReply {
    role: String,
    limit: i64,
}

async fn set_role(State(o): State<Orchestrator>, identity: Identity, Path(role): Path<String>, ApiJson(body): ApiJson<RoleBody>) -> Result<Response, ApiError> {
    if !valid_role(&role) {
        return Err(ApiError::bad_request("invalid_role", "a role is 1 to 40 of a-z, 0-9, - and _").with_field("role"));
    }
    if !(0..=10_000).contains(&body.limit) {
        return Err(unprocessable("limit", "limit is 0 (unlimited) to 10000"));
    }
    o.repo.set_role_limit(&identity.tenant, &role, body.limit).await?;
    Ok(axum::Json(RoleReply { role, limit: body.limit }).into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WorkerBody {
    #[schemars(length(min = 1, max = 100), regex(pattern = r"\S"))]
    name: String,
    #[schemars(length(min = 1, max = 20), with = "Vec<RoleName>")]
    roles: Vec<String>,
    #[schemars(range(min = 1, max = 1000))]
    capacity: i64,
}

/// A role's name, as the schema states it.
struct RoleName;

impl JsonSchema for RoleName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RoleName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "pattern": "^[a-z0-9_-]{1,40}$"})
    }
}

#[derive(Serialize, JsonSchema)]
struct WorkerReply {
    worker: Worker,
}

async fn register(State(o): State<Orchestrator>, identity: Identity, ApiJson(body): ApiJson<WorkerBody>) -> Result<Response, ApiError> {
    if body.name.trim().is_empty() || body.name.chars().count() > 100 {
        return Err(unprocessable("name", "a name of 1 to 100 characters"));
    }
    if body.roles.is_empty() || body.roles.len() > 20 {
        return Err(unprocessable("roles", "1 to 20 roles"));
    }
    for (index, role) in body.roles.iter().enumerate() {
        if !valid_role(role) {
            return Err(unprocessable(&format!("roles[{index}]"), "a role is 1 to 40 of a-z, 0-9, - and _"));
        }
    }
    if !(1..=1000).contains(&body.capacity) {
        return Err(unprocessable("capacity", "capacity is 1 to 1000"));
    }
    let mut roles = body.roles.clone();
    roles.sort();
    roles.dedup();
    let worker = o.repo.register_worker(&identity.tenant, body.name.trim(), &roles, body.capacity).await?;
    Ok((StatusCode::CREATED, axum::Json(WorkerReply { worker })).into_response())
}

fn worker_id(id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| ApiError::not_found(format!("no worker {id}")))
}

async fn worker_heartbeat(State(o): State<Orchestrator>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    worker_id(&id)?;
    let worker = o.repo.worker_heartbeat(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found(format!("no worker {id}")))?;
    Ok(axum::Json(WorkerReply { worker }).into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ClaimBody {
    /// Runs to take at most.
    #[schemars(range(min = 1, max = 100))]
    max: i64,
    /// How long to wait for work when none is there.
    #[serde(default)]
    #[schemars(range(min = 0, max = 20))]
    wait_s: i64,
}

#[derive(Serialize, JsonSchema)]
struct ClaimReply {
    runs: Vec<Claimed>,
}

async fn claim(State(o): State<Orchestrator>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<ClaimBody>) -> Result<Response, ApiError> {
    worker_id(&id)?;
    if !(1..=100).contains(&body.max) {
        return Err(unprocessable("max", "max is 1 to 100"));
    }
    let wait = Duration::from_secs(u64::try_from(body.wait_s).ok().filter(|s| *s <= 20).ok_or_else(|| unprocessable("wait_s", "wait_s is 0 to 20"))?)
        .min(o.settings.max_claim_wait);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Listening starts before the claim looks, so a task queued in
        // between still wakes this request.
        let queued = o.repo.queued();
        tokio::pin!(queued);
        queued.as_mut().enable();
        let runs = o.repo.claim(&identity.tenant, &id, body.max as usize, &o.settings.role_limits).await?;
        let now = tokio::time::Instant::now();
        if !runs.is_empty() || now >= deadline {
            return Ok(axum::Json(ClaimReply { runs }).into_response());
        }
        // A retry's backoff ends without a notification: look again at
        // least every CLAIM_RECHECK.
        let _ = tokio::time::timeout(CLAIM_RECHECK.min(deadline - now), queued).await;
    }
}

/// How often a waiting claim looks again without a wake-up.
const CLAIM_RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunHeartbeatBody {
    /// The attempt the claim returned: a write for another attempt is refused.
    #[schemars(range(min = 1))]
    attempt: i64,
}

#[derive(Serialize, JsonSchema)]
struct RunReply {
    run: Run,
}

fn run_id(id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| ApiError::not_found(format!("no run {id}")))
}

async fn run_heartbeat(State(o): State<Orchestrator>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<RunHeartbeatBody>) -> Result<Response, ApiError> {
    run_id(&id)?;
    if body.attempt < 1 {
        return Err(unprocessable("attempt", "an attempt counts from 1"));
    }
    let mut answers = o.repo.heartbeat_runs(&identity.tenant, &[(id, body.attempt)]).await?;
    let run = answers.remove(0)?;
    Ok(axum::Json(RunReply { run }).into_response())
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum RunOutcome {
    Success,
    Failure,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    #[schemars(range(min = 1))]
    attempt: i64,
    outcome: RunOutcome,
    result: Option<serde_json::Map<String, serde_json::Value>>,
    #[schemars(length(max = 10000))]
    error: Option<String>,
    /// For a failure: whether another attempt may succeed (default true).
    #[serde(default = "yes")]
    retryable: bool,
}

impl CompleteBody {
    fn completion(self, run: String, field: &str) -> Result<Completion, ApiError> {
        if self.attempt < 1 {
            return Err(unprocessable(&format!("{field}attempt"), "an attempt counts from 1"));
        }
        if self.error.as_ref().is_some_and(|e| e.chars().count() > 10_000) {
            return Err(unprocessable(&format!("{field}error"), "at most 10000 characters"));
        }
        Ok(Completion {
            run,
            attempt: self.attempt,
            success: matches!(self.outcome, RunOutcome::Success),
            result: self.result.map(serde_json::Value::Object),
            error: self.error,
            retryable: self.retryable,
        })
    }
}

impl Orchestrator {
    async fn complete(&self, tenant: &str, completions: &[Completion]) -> Result<Vec<Result<Finished, Denied>>, ApiError> {
        Ok(self.repo.complete_runs(tenant, completions, self.settings.backoff()).await?)
    }
}

async fn complete(State(o): State<Orchestrator>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<CompleteBody>) -> Result<Response, ApiError> {
    run_id(&id)?;
    let completion = body.completion(id, "")?;
    let finished = o.complete(&identity.tenant, &[completion]).await?.remove(0)?;
    let (task, _) = o.repo.get(&identity.tenant, &finished.task).await?.ok_or_else(|| ApiError::not_found(format!("no task {}", finished.task)))?;
    Ok(axum::Json(TaskReply { task }).into_response())
}

/// Most runs one batch request names: a claim's largest.
const MAX_RUNS_PER_REQUEST: usize = 100;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunRef {
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"))]
    run: String,
    #[schemars(range(min = 1))]
    attempt: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HeartbeatBatchBody {
    #[schemars(length(min = 1, max = 100))]
    runs: Vec<RunRef>,
}

/// Why one run of a batch was refused: what the single-run route answers.
#[derive(Debug, Serialize, JsonSchema)]
struct ItemError {
    status: u16,
    code: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl From<Denied> for ItemError {
    fn from(denied: Denied) -> ItemError {
        let error = ApiError::from(denied);
        ItemError { status: error.status().as_u16(), code: error.code().to_owned(), message: error.message().to_owned(), field: error.field().map(str::to_owned) }
    }
}

/// One run's answer in a batch: exactly one of `run`/`task` and `error`.
#[derive(Debug, Serialize, JsonSchema)]
struct RunAnswer<T> {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ItemError>,
}

impl<T> RunAnswer<T> {
    fn new(id: String, outcome: Result<T, Denied>) -> RunAnswer<T> {
        match outcome {
            Ok(ok) => RunAnswer { id, ok: Some(ok), error: None },
            Err(denied) => RunAnswer { id, ok: None, error: Some(denied.into()) },
        }
    }
}

#[derive(Serialize, JsonSchema)]
struct HeartbeatBatchReply {
    runs: Vec<RunAnswer<Run>>,
}

/// Checks a batch's runs as the schema states them: each a UUID and an
/// attempt from 1, at most a claim's worth.
fn batch_runs<'a>(runs: impl Iterator<Item = (&'a str, i64)>) -> Result<(), ApiError> {
    for (index, (id, attempt)) in runs.enumerate() {
        if index >= MAX_RUNS_PER_REQUEST {
            return Err(unprocessable("runs", format!("at most {MAX_RUNS_PER_REQUEST} runs per request")));
        }
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(unprocessable(&format!("runs[{index}].run"), "a run id (a UUID)"));
        }
        if attempt < 1 {
            return Err(unprocessable(&format!("runs[{index}].attempt"), "an attempt counts from 1"));
        }
    }
    Ok(())
}

/// Heartbeats several runs in one transaction; each run answers for itself.
async fn heartbeat_batch(State(o): State<Orchestrator>, identity: Identity, ApiJson(body): ApiJson<HeartbeatBatchBody>) -> Result<Response, ApiError> {
    if body.runs.is_empty() {
        return Err(unprocessable("runs", "at least one run"));
    }
    batch_runs(body.runs.iter().map(|r| (r.run.as_str(), r.attempt)))?;
    let keys: Vec<(String, i64)> = body.runs.into_iter().map(|r| (r.run, r.attempt)).collect();
    let answers = o.repo.heartbeat_runs(&identity.tenant, &keys).await?;
    let runs = keys.into_iter().zip(answers).map(|((id, _), outcome)| RunAnswer::new(id, outcome)).collect();
    Ok(axum::Json(HeartbeatBatchReply { runs }).into_response())
}

/// A completion of a batch: the run, and the single route's body. (serde
/// cannot both flatten and refuse unknown fields, so they are listed again.)
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CompletionItem {
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"))]
    run: String,
    #[schemars(range(min = 1))]
    attempt: i64,
    outcome: RunOutcome,
    result: Option<serde_json::Map<String, serde_json::Value>>,
    #[schemars(length(max = 10000))]
    error: Option<String>,
    #[serde(default = "yes")]
    retryable: bool,
}

impl CompletionItem {
    fn split(self) -> (String, CompleteBody) {
        let body = CompleteBody { attempt: self.attempt, outcome: self.outcome, result: self.result, error: self.error, retryable: self.retryable };
        (self.run, body)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CompleteBatchBody {
    #[schemars(length(min = 1, max = 100))]
    runs: Vec<CompletionItem>,
}

#[derive(Serialize, JsonSchema)]
struct CompleteBatchReply {
    runs: Vec<RunAnswer<Finished>>,
}

/// Reports several runs' outcomes in one transaction, each once.
async fn complete_batch(State(o): State<Orchestrator>, identity: Identity, ApiJson(body): ApiJson<CompleteBatchBody>) -> Result<Response, ApiError> {
    if body.runs.is_empty() {
        return Err(unprocessable("runs", "at least one run"));
    }
    batch_runs(body.runs.iter().map(|r| (r.run.as_str(), r.attempt)))?;
    let completions = body
        .runs
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let (run, body) = item.split();
            body.completion(run, &format!("runs[{index}]."))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let answers = o.complete(&identity.tenant, &completions).await?;
    let runs = completions.into_iter().zip(answers).map(|(c, outcome)| RunAnswer::new(c.run, outcome)).collect();
    Ok(axum::Json(CompleteBatchReply { runs }).into_response())
}

/// Every route this module serves: the OpenAPI test holds the document to it.
pub const ROUTES: &[(&str, &str)] = &[
    ("/v1/tasks", "get"),
    ("/v1/tasks", "post"),
    ("/v1/tasks/batch", "post"),
    ("/v1/tasks/{id}", "get"),
    ("/v1/tasks/{id}/history", "get"),
    ("/v1/tasks/{id}/cancel", "post"),
    ("/v1/tasks/{id}/retry", "post"),
    ("/v1/tasks/{id}/resolve", "post"),
    ("/v1/roles/{role}", "put"),
    ("/v1/workers", "post"),
    ("/v1/workers/{id}/heartbeat", "post"),
    ("/v1/workers/{id}/claim", "post"),
    ("/v1/runs/{id}/heartbeat", "post"),
    ("/v1/runs/{id}/complete", "post"),
    ("/v1/runs/heartbeat", "post"),
    ("/v1/runs/complete", "post"),
];

/// The tasks API's OpenAPI document, from the same types the handlers read
/// and write.
pub fn openapi() -> serde_json::Value {
    let mut d = Document::new("Hive tasks (Orchestrator)", "Tasks, their runs and workers, with a strict state machine. A refused transition is a 409 naming the task's state and the event.");
    let uuid = json!({"type": "string", "format": "uuid"});
    let task_body = d.schema::<TaskBody>();
    let task_reply = d.schema::<TaskReply>();
    let batch_body = d.schema::<BatchBody>();
    let batch_reply = d.schema::<BatchReply>();
    let page = d.schema::<TaskPage>();
    let with_runs = d.schema::<TaskWithRuns>();
    let history = d.schema::<HistoryReply>();
    let reason_body = d.schema::<ReasonBody>();
    let resolve_body = d.schema::<ResolveBody>();
    let role_body = d.schema::<RoleBody>();
    let role_reply = d.schema::<RoleReply>();
    let worker_body = d.schema::<WorkerBody>();
    let worker_reply = d.schema::<WorkerReply>();
    let claim_body = d.schema::<ClaimBody>();
    let claim_reply = d.schema::<ClaimReply>();
    let heartbeat_body = d.schema::<RunHeartbeatBody>();
    let run_reply = d.schema::<RunReply>();
    let complete_body = d.schema::<CompleteBody>();
    let heartbeat_batch_body = d.schema::<HeartbeatBatchBody>();
    let heartbeat_batch_reply = d.schema::<HeartbeatBatchReply>();
    let complete_batch_body = d.schema::<CompleteBatchBody>();
    let complete_batch_reply = d.schema::<CompleteBatchReply>();
    let from_task = json!({"id": "$response.body#/task/id"});
    let from_worker = json!({"id": "$response.body#/worker/id"});
    let task_op = |op: Operation| op.path_parameter("id", uuid.clone(), "The task's id.").error(404, "no such task for this tenant");
    let conflict = |op: Operation| op.error(409, "the transition is refused in the task's state, or the run moved on");
    let list = Operation::get("/v1/tasks", "listTasks")
        .summary("The tenant's tasks, newest first, by state and role, in keyset pages.")
        .scope(READ_SCOPE)
        .query_of::<ListQuery>(&mut d)
        .json_response(200, "a page of tasks", page)
        .error(400, "a bad state, role, cursor or limit; `field` names it");
    d.operation(list)
        .operation(
            Operation::post("/v1/tasks", "createTask")
                .summary("Creates one task; with Idempotency-Key, a repeat returns the same non-final task.")
                .scope(WRITE_SCOPE)
                .header("Idempotency-Key", false, json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}), "Makes a retried create return the first task.")
                .json_body(task_body)
                .json_response(201, "the task", task_reply.clone())
                .json_response(200, "the task an earlier request with this Idempotency-Key created", task_reply.clone())
                .error(400, "a bad Idempotency-Key")
                .error(404, "a dependency that does not exist")
                .link(201, "GetTask", "getTask", from_task.clone())
                .link(201, "CancelTask", "cancelTask", from_task.clone())
                .link(201, "TaskHistory", "taskHistory", from_task.clone())
                .link(201, "RetryTask", "retryTask", from_task.clone())
                .link(201, "ResolveTask", "resolveTask", from_task.clone()),
        )
        .operation(
            Operation::post("/v1/tasks/batch", "createTaskBatch")
                .summary("Creates a DAG of tasks atomically; `depends_on` names keys of the batch.")
                .scope(WRITE_SCOPE)
                .json_body(batch_body)
                .json_response(201, "the tasks and their ids by key", batch_reply)
                .error(400, "a duplicate key, an unknown dependency, a self-loop or a cycle (listed)"),
        )
        .operation(task_op(Operation::get("/v1/tasks/{id}", "getTask").summary("A task with its runs.").scope(READ_SCOPE).json_response(200, "the task", with_runs)))
        .operation(task_op(Operation::get("/v1/tasks/{id}/history", "taskHistory").summary("Every transition, with actor, reason and database time.").scope(READ_SCOPE).json_response(200, "the history", history)))
        .operation(conflict(task_op(Operation::post("/v1/tasks/{id}/cancel", "cancelTask").summary("Cancels the task and what depends on it.").scope(WRITE_SCOPE).json_body(reason_body.clone()).json_response(200, "the task", task_reply.clone()))))
        .operation(conflict(task_op(Operation::post("/v1/tasks/{id}/retry", "retryTask").summary("Queues a failed or cancelled task again, with a fresh retry budget.").scope(WRITE_SCOPE).json_body(reason_body).json_response(200, "the task", task_reply.clone()))))
        .operation(conflict(task_op(Operation::post("/v1/tasks/{id}/resolve", "resolveTask").summary("A person's decision on an escalated task.").scope(WRITE_SCOPE).json_body(resolve_body).json_response(200, "the task", task_reply.clone()))))
        .operation(
            Operation::put("/v1/roles/{role}", "setRoleLimit")
                .summary("Sets how many runs of a role the tenant's workers may hold at once (0 is unlimited).")
                .scope(WRITE_SCOPE)
                .path_parameter("role", json!({"type": "string", "pattern": "^[a-z0-9_-]{1,40}$"}), "The role.")
                .json_body(role_body)
                .json_response(200, "the limit", role_reply)
                .error(400, "a bad role name"),
        )
        .operation(
            Operation::post("/v1/workers", "registerWorker")
                .summary("Registers a worker with its roles and capacity.")
                .scope(WORK_SCOPE)
                .json_body(worker_body)
                .json_response(201, "the worker", worker_reply.clone())
                .link(201, "WorkerHeartbeat", "workerHeartbeat", from_worker.clone())
                .link(201, "Claim", "claimRuns", from_worker),
        )
        .operation(
            Operation::post("/v1/workers/{id}/heartbeat", "workerHeartbeat")
                .summary("Keeps the worker online.")
                .scope(WORK_SCOPE)
                .path_parameter("id", uuid.clone(), "The worker's id.")
                .json_response(200, "the worker", worker_reply)
                .error(404, "no such worker"),
        )
        .operation(
            Operation::post("/v1/workers/{id}/claim", "claimRuns")
                .summary("Claims up to `max` runs, waiting up to `wait_s` for one; higher priority first, then oldest.")
                .scope(WORK_SCOPE)
                .path_parameter("id", uuid.clone(), "The worker's id.")
                .json_body(claim_body)
                .json_response(200, "the runs (empty when nothing came)", claim_reply)
                .error(404, "no such worker"),
        )
        .operation(conflict(
            Operation::post("/v1/runs/{id}/heartbeat", "runHeartbeat")
                .summary("The run's heartbeat; the first starts it.")
                .scope(WORK_SCOPE)
                .path_parameter("id", uuid.clone(), "The run's id.")
                .json_body(heartbeat_body)
                .json_response(200, "the run", run_reply)
                .error(404, "no such run"),
        ))
        .operation(conflict(
            Operation::post("/v1/runs/{id}/complete", "completeRun")
                .summary("Reports the run's outcome, once.")
                .scope(WORK_SCOPE)
                .path_parameter("id", uuid, "The run's id.")
                .json_body(complete_body)
                .json_response(200, "the task", task_reply)
                .error(404, "no such run"),
        ))
        .operation(
            Operation::post("/v1/runs/heartbeat", "heartbeatRuns")
                .summary("Heartbeats up to 100 runs in one transaction; the first heartbeat starts a run. Each run answers for itself, with `ok` or the `error` the single-run route would give.")
                .scope(WORK_SCOPE)
                .json_body(heartbeat_batch_body)
                .json_response(200, "one answer per run, in order", heartbeat_batch_reply)
                .error(409, "a run or its task changed meanwhile; send it again"),
        )
        .operation(
            Operation::post("/v1/runs/complete", "completeRuns")
                .summary("Reports up to 100 runs' outcomes in one transaction, each once. Each run answers for itself, with `ok` (where its task is now) or the `error` the single-run route would give.")
                .scope(WORK_SCOPE)
                .json_body(complete_batch_body)
                .json_response(200, "one answer per run, in order", complete_batch_reply)
                .error(409, "a run or its task changed meanwhile; send it again"),
        );
    d.to_json()
}
