//! The `plans-api` routes. Scopes: `plans:write` to request and approve
//! plans, `plans:read` to read them and the model usage. A tenant sees
//! only its plans; another tenant's is a 404. A plan that breaks the rules
//! is a 400 naming the first bad path and listing every problem; a body of
//! the wrong shape is the platform's 422.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use infra::auth::{Identity, Verifier};
use infra::edge::http::rate_limit;
use infra::edge::{ApiError, ApiJson, require_scopes};
use infra::events::PlanRequested;
use infra::telemetry::RequestIds;
use infra::time::now_ms;
use planner_engine::{
    Analysis, Cpm, Format, Limits, Pert, Plan, PlanError, Slot, gantt_svg, parse_plan_located,
    validate,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::propose::task_rules;
use crate::repo::{MonthUsage, NewPlan, PlanRow, month_of};
use crate::worker::{Request, new_task_ids, plan_created};
use crate::{Planner, READ_SCOPE, WRITE_SCOPE};

pub const PLANS_PATH: &str = "/v1/plans";
pub const PLAN_PATH: &str = "/v1/plans/{id}";
pub const GANTT_PATH: &str = "/v1/plans/{id}/gantt.svg";
pub const APPROVE_PATH: &str = "/v1/plans/{id}/approve";
pub const USAGE_PATH: &str = "/v1/usage/llm";
pub const DEFAULT_MAX_TASKS: u32 = 20;
pub const MAX_GOAL_CHARS: usize = 2000;
pub const MAX_ROLES: usize = 20;

pub fn routes(planner: Planner, verifier: Arc<Verifier>) -> Router {
    Router::new()
        .route(PLANS_PATH, post(create))
        .route(PLAN_PATH, get(show))
        .route(GANTT_PATH, get(gantt))
        .route(APPROVE_PATH, post(approve))
        .route(USAGE_PATH, get(usage))
        .route_layer(require_scopes(&verifier, &[]))
        .with_state(planner)
}

/// Workers per role.
pub struct Roles;

impl JsonSchema for Roles {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PlanRoles".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "maxProperties": MAX_ROLES,
            "propertyNames": {"pattern": "^[a-z0-9_-]{1,40}$"},
            "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 1000},
        })
    }
}

/// `POST /v1/plans`: a goal to plan (`goal` with `deadline_min`, `roles`
/// and `max_tasks`), or the user's own plan (`plan` as JSON, or
/// `plan_yaml`). Exactly one of `goal`, `plan` and `plan_yaml`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PlanRequest")]
pub struct CreateBody {
    #[schemars(length(min = 1, max = 2000))]
    pub goal: Option<String>,
    /// The deadline in minutes from the start, for the odds of meeting it.
    #[schemars(range(min = 1, max = 1_000_000))]
    pub deadline_min: Option<f64>,
    /// Workers per role (default backend 2, frontend 2, infra 1).
    #[schemars(with = "Option<Roles>")]
    pub roles: Option<BTreeMap<String, u32>>,
    #[schemars(range(min = 1, max = 100))]
    pub max_tasks: Option<u32>,
    /// Approve the plan as soon as it is made: `plan.created` follows
    /// `plan.generated` and the Orchestrator creates the tasks.
    pub auto_approve: Option<bool>,
    #[schemars(with = "Option<Plan>")]
    pub plan: Option<Value>,
    /// The plan as YAML; errors carry its line numbers.
    #[schemars(length(min = 1, max = 1_000_000))]
    pub plan_yaml: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "PlanAccepted")]
pub struct Accepted {
    pub id: String,
    #[schemars(extend("enum" = ["queued"]))]
    pub status: &'static str,
}

/// A plan: its state, and once made the plan, its schedule and odds.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "PlanView")]
pub struct PlanView {
    pub id: String,
    #[schemars(extend("enum" = ["queued", "ready", "failed", "approved"]))]
    pub status: String,
    pub goal: Option<String>,
    pub auto_approve: bool,
    /// `llm`, `llm_repaired`, `heuristic`, `heuristic_fallback` or `user`, once made.
    pub planner: Option<String>,
    /// Why the heuristic planned instead of the model (`heuristic_fallback`).
    pub fallback_reason: Option<String>,
    /// Why no plan could be made (`failed`).
    pub error: Option<String>,
    pub plan: Option<Plan>,
    /// The resource-constrained makespan, in minutes.
    pub makespan: Option<f64>,
    /// The makespan without resource limits (the CPM bound).
    pub cpm_makespan: Option<f64>,
    pub critical_path: Option<Vec<String>>,
    pub schedule: Option<Vec<Slot>>,
    pub cpm: Option<BTreeMap<String, Cpm>>,
    pub pert: Option<Pert>,
    /// Once approved: the Orchestrator's task id for each task of the plan.
    pub tasks: Option<BTreeMap<String, String>>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub approved_at: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "PlanApproved")]
pub struct Approved {
    pub id: String,
    #[schemars(extend("enum" = ["approved"]))]
    pub status: &'static str,
    /// The Orchestrator's task id for each task of the plan.
    pub tasks: BTreeMap<String, String>,
}

/// One month of model calls.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "LlmUsageMonth")]
pub struct UsageMonth {
    /// `YYYY-MM`, UTC.
    pub month: String,
    pub calls: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_usd: f64,
    pub mean_latency_ms: i64,
    /// Calls per outcome: `answered`, `refused`, `timeout`, `rate_limited`, `unavailable`, `invalid`.
    pub outcomes: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "LlmUsage")]
pub struct Usage {
    /// The current month.
    pub month: String,
    pub spent_usd: f64,
    /// The monthly budget per tenant; `null` is no limit.
    pub budget_usd: Option<f64>,
    pub remaining_usd: Option<f64>,
    /// The provider (`openai`, `anthropic` or `none`) and model.
    pub provider: String,
    pub model: String,
    /// Newest first.
    pub months: Vec<UsageMonth>,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message).with_field(field)
}

/// Every problem of a plan in one 400, the first one's path as the field.
fn plan_errors(prefix: &str, errors: &[PlanError]) -> ApiError {
    let field = match errors.first().map(|e| e.path.as_str()) {
        Some("") | None => prefix.to_owned(),
        Some(path) => format!("{prefix}.{path}"),
    };
    let mut listed: Vec<String> = errors.iter().take(20).map(ToString::to_string).collect();
    if errors.len() > 20 {
        listed.push(format!("and {} more", errors.len() - 20));
    }
    ApiError::bad_request("invalid_plan", listed.join("; ")).with_field(field)
}

impl Planner {
    /// The stored request for a body, or the 4xx that names what is wrong.
    fn request_of(&self, body: CreateBody) -> Result<Request, ApiError> {
        let sources = [
            body.goal.is_some(),
            body.plan.is_some(),
            body.plan_yaml.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(invalid(
                "goal",
                "give exactly one of `goal`, `plan` and `plan_yaml`",
            ));
        }
        let (parsed, prefix) = match (body.goal, body.plan, body.plan_yaml) {
            (Some(goal), _, _) => {
                return self.goal_request(goal, body.deadline_min, body.roles, body.max_tasks);
            }
            (_, Some(plan), _) => (parse_plan_located(&plan.to_string(), Format::Json), "plan"),
            (_, _, Some(yaml)) => (parse_plan_located(&yaml, Format::Yaml), "plan_yaml"),
            _ => unreachable!("exactly one source is set"),
        };
        for (field, given) in [
            ("deadline_min", body.deadline_min.is_some()),
            ("roles", body.roles.is_some()),
            ("max_tasks", body.max_tasks.is_some()),
        ] {
            if given {
                return Err(invalid(
                    field,
                    format!("`{field}` goes with `goal`; a plan states its own"),
                ));
            }
        }
        let (plan, lines) = parsed.map_err(|errors| plan_errors(prefix, &errors))?;
        let limits = Limits {
            max_tasks: self.settings.max_user_tasks,
            goal_plan: false,
        };
        let mut errors = match validate(&plan, &limits) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        };
        errors.extend(task_rules(&plan));
        lines.locate(&mut errors);
        if !errors.is_empty() {
            return Err(plan_errors(prefix, &errors));
        }
        Ok(Request::User { plan })
    }

    fn goal_request(
        &self,
        goal: String,
        deadline_min: Option<f64>,
        roles: Option<BTreeMap<String, u32>>,
        max_tasks: Option<u32>,
    ) -> Result<Request, ApiError> {
        let trimmed = goal.trim();
        if trimmed.is_empty() || goal.chars().count() > MAX_GOAL_CHARS {
            return Err(invalid(
                "goal",
                format!("a goal is 1 to {MAX_GOAL_CHARS} characters"),
            ));
        }
        if let Some(deadline) = deadline_min
            && !(deadline.is_finite() && (1.0..=1_000_000.0).contains(&deadline))
        {
            return Err(invalid(
                "deadline_min",
                "the deadline is 1 to 1000000 minutes",
            ));
        }
        let roles = roles.unwrap_or_else(|| {
            [("backend", 2), ("frontend", 2), ("infra", 1)]
                .map(|(r, n)| (r.to_owned(), n))
                .into()
        });
        if roles.is_empty() || roles.len() > MAX_ROLES {
            return Err(invalid("roles", format!("1 to {MAX_ROLES} roles")));
        }
        for (role, capacity) in &roles {
            let valid = !role.is_empty()
                && role.len() <= 40
                && role
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
            if !valid {
                return Err(invalid(
                    format!("roles.{role}"),
                    "a role is 1 to 40 of a-z, 0-9, - and _",
                ));
            }
            if !(1..=1000).contains(capacity) {
                return Err(invalid(
                    format!("roles.{role}"),
                    "a role has 1 to 1000 workers",
                ));
            }
        }
        let max_tasks = max_tasks.unwrap_or(DEFAULT_MAX_TASKS);
        if max_tasks == 0 || max_tasks as usize > self.settings.max_goal_tasks {
            return Err(invalid(
                "max_tasks",
                format!("max_tasks is 1 to {}", self.settings.max_goal_tasks),
            ));
        }
        Ok(Request::Goal {
            goal: trimmed.to_owned(),
            roles,
            max_tasks: max_tasks as usize,
            deadline_min,
        })
    }
}

async fn create(
    State(planner): State<Planner>,
    identity: Identity,
    ids: RequestIds,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    identity.require_scopes(&[WRITE_SCOPE])?;
    let limit = planner.settings.requests_per_minute;
    if limit > 0 {
        let key = format!("rate:plans.create:{}", identity.tenant);
        rate_limit(
            &*planner.cache,
            &key,
            limit,
            std::time::Duration::from_secs(60),
        )
        .await?;
    }
    let auto_approve = body.auto_approve.unwrap_or(false);
    let request = planner.request_of(body)?;
    let goal = match &request {
        Request::Goal { goal, .. } => Some(goal.clone()),
        Request::User { .. } => None,
    };
    let tenant = identity.tenant.as_str();
    let id = uuid::Uuid::new_v4().to_string();
    let stored = serde_json::to_value(&request).map_err(ApiError::internal)?;
    let envelope = planner.event(
        tenant,
        &ids.correlation_id,
        &PlanRequested { plan: id.clone() },
    )?;
    let now = now_ms();
    let new = NewPlan {
        id: &id,
        goal: goal.as_deref(),
        request: &stored,
        auto_approve,
    };
    let staged = planner.repo.insert(tenant, &new, now, envelope).await?;
    planner.outbox.relay(staged, now).await;
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            id: id.clone(),
            status: "queued",
        }),
    )
        .into_response();
    if let Ok(value) = format!("{PLANS_PATH}/{id}").parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no plan {id}"))
}

async fn find(planner: &Planner, identity: &Identity, id: &str) -> Result<PlanRow, ApiError> {
    identity.require_scopes(&[READ_SCOPE])?;
    planner
        .repo
        .get(&identity.tenant, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// The stored plan and analysis of a made plan.
fn made(row: &PlanRow) -> Result<Option<(Plan, Analysis)>, ApiError> {
    match (&row.plan, &row.analysis) {
        (Some(plan), Some(analysis)) => {
            let plan = serde_json::from_value(plan.clone()).map_err(ApiError::internal)?;
            let analysis = serde_json::from_value(analysis.clone()).map_err(ApiError::internal)?;
            Ok(Some((plan, analysis)))
        }
        _ => Ok(None),
    }
}

async fn show(
    State(planner): State<Planner>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = find(&planner, &identity, &id).await?;
    let made = made(&row)?;
    let tasks = if row.status == "approved" {
        Some(planner.repo.task_ids(&identity.tenant, &id).await?)
    } else {
        None
    };
    let (plan, analysis) = match made {
        Some((plan, analysis)) => (Some(plan), Some(analysis)),
        None => (None, None),
    };
    let view = PlanView {
        id: row.id,
        status: row.status,
        goal: row.goal,
        auto_approve: row.auto_approve,
        planner: row.planner,
        fallback_reason: row.fallback_reason,
        error: row.error,
        plan,
        makespan: analysis.as_ref().map(|a| a.makespan),
        cpm_makespan: analysis.as_ref().map(|a| a.cpm_makespan),
        critical_path: analysis.as_ref().map(|a| a.critical_path.clone()),
        schedule: analysis.as_ref().map(|a| a.schedule.clone()),
        cpm: analysis.as_ref().map(|a| a.cpm.clone()),
        pert: analysis.map(|a| a.pert),
        tasks,
        created_at: row.created_at,
        finished_at: row.finished_at,
        approved_at: row.approved_at,
    };
    Ok(axum::Json(view).into_response())
}

fn not_ready(row: &PlanRow) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_ready",
        format!("plan {} is {}", row.id, row.status),
    )
    .with_field("status")
}

async fn gantt(
    State(planner): State<Planner>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = find(&planner, &identity, &id).await?;
    let Some((plan, analysis)) = made(&row)? else {
        return Err(not_ready(&row));
    };
    let limits = Limits {
        max_tasks: usize::MAX,
        goal_plan: false,
    };
    let valid = validate(&plan, &limits)
        .map_err(|_| ApiError::internal("a stored plan no longer validates"))?;
    let svg = gantt_svg(&valid, &analysis);
    let mut response = (StatusCode::OK, svg).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("image/svg+xml"),
    );
    Ok(response)
}

async fn approve(
    State(planner): State<Planner>,
    identity: Identity,
    ids: RequestIds,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    identity.require_scopes(&[WRITE_SCOPE])?;
    let tenant = identity.tenant.as_str();
    let row = planner
        .repo
        .get(tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let Some((plan, analysis)) = made(&row)?.filter(|_| row.status == "ready") else {
        return Err(not_ready(&row));
    };
    let task_ids = new_task_ids(&plan);
    let created = plan_created(&id, row.goal.as_deref(), &plan, &analysis, &task_ids);
    let envelope = planner.event(tenant, &ids.correlation_id, &created)?;
    let now = now_ms();
    let Some(staged) = planner
        .repo
        .approve(tenant, &id, &task_ids, now, envelope)
        .await?
    else {
        let row = planner
            .repo
            .get(tenant, &id)
            .await?
            .ok_or_else(|| not_found(&id))?;
        return Err(not_ready(&row));
    };
    planner.outbox.relay(staged, now).await;
    Ok(axum::Json(Approved {
        id,
        status: "approved",
        tasks: task_ids,
    })
    .into_response())
}

async fn usage(State(planner): State<Planner>, identity: Identity) -> Result<Response, ApiError> {
    identity.require_scopes(&[READ_SCOPE])?;
    let month = month_of(now_ms());
    let months = planner.repo.usage(&identity.tenant).await?;
    let spent_usd = months
        .iter()
        .find(|m| m.month == month)
        .map_or(0.0, |m| m.cost_usd);
    let config = &planner.settings.llm;
    let provider = match config.provider {
        infra::config::LlmProvider::None => "none",
        infra::config::LlmProvider::OpenAi => "openai",
        infra::config::LlmProvider::Anthropic => "anthropic",
    };
    let view = Usage {
        month,
        spent_usd,
        budget_usd: config.monthly_budget_usd,
        remaining_usd: config
            .monthly_budget_usd
            .map(|budget| (budget - spent_usd).max(0.0)),
        provider: provider.to_owned(),
        model: config.model.clone(),
        months: months.into_iter().map(month_view).collect(),
    };
    Ok(axum::Json(view).into_response())
}

fn month_view(month: MonthUsage) -> UsageMonth {
    UsageMonth {
        mean_latency_ms: if month.calls > 0 {
            month.latency_ms / month.calls
        } else {
            0
        },
        month: month.month,
        calls: month.calls,
        tokens_in: month.tokens_in,
        tokens_out: month.tokens_out,
        cost_usd: month.cost_usd,
        outcomes: month.outcomes,
    }
}
