//! The OpenAPI document of the Planner's routes, from the request and
//! response types the handlers use.

use infra::edge::openapi::{Document, Operation};
use serde_json::json;

use crate::api::{
    APPROVE_PATH, Accepted, Approved, CreateBody, GANTT_PATH, PLAN_PATH, PLANS_PATH, PlanView,
    USAGE_PATH, Usage,
};
use crate::{READ_SCOPE, WRITE_SCOPE};

pub fn document() -> serde_json::Value {
    let mut document = Document::new(
        "Hive Planner",
        "Plans from a goal (the model proposes, the code checks) or from the user: the schedule, critical path, PERT odds and Gantt chart; approval hands the tasks to the Orchestrator.",
    );
    let body = document.schema::<CreateBody>();
    let accepted = document.schema::<Accepted>();
    let view = document.schema::<PlanView>();
    let approved = document.schema::<Approved>();
    let usage = document.schema::<Usage>();
    let id = json!({"type": "string", "minLength": 1});
    let links = json!({"id": "$response.body#/id"});
    let create = Operation::post(PLANS_PATH, "createPlan")
        .summary("Queues a plan from a goal or from the user's plan; answers 202 with its id.")
        .scope(WRITE_SCOPE)
        .json_body(body)
        .json_response(202, "queued", accepted)
        .link(202, "GetPlan", "getPlan", links.clone())
        .link(202, "GetPlanGantt", "getPlanGantt", links.clone())
        .link(202, "ApprovePlan", "approvePlan", links.clone())
        .error(400, "the plan breaks a rule (a cycle, an unknown dependency, a bad duration, too many tasks, …); `field` names the first path")
        .error(429, "the tenant's plan requests per minute are used up; see Retry-After")
        .response_header(429, "Retry-After", json!({"type": "integer"}), "seconds to wait");
    let show = Operation::get(PLAN_PATH, "getPlan")
        .summary("A plan: its status, which planner made it, the plan, the schedule, the critical path and the PERT odds.")
        .scope(READ_SCOPE)
        .path_parameter("id", id.clone(), "The plan's id.")
        .json_response(200, "the plan", view)
        .error(404, "no such plan for this tenant");
    let gantt = Operation::get(GANTT_PATH, "getPlanGantt")
        .summary("The schedule as a Gantt chart (SVG): the critical path highlighted, float as whiskers.")
        .scope(READ_SCOPE)
        .path_parameter("id", id.clone(), "The plan's id.")
        .response(200, "the chart", "image/svg+xml", json!({"type": "string"}))
        .error(404, "no such plan for this tenant")
        .error(409, "the plan is not made (yet)");
    let approve = Operation::post(APPROVE_PATH, "approvePlan")
        .summary("Approves a ready plan: publishes plan.created, from which the Orchestrator creates the tasks.")
        .scope(WRITE_SCOPE)
        .path_parameter("id", id, "The plan's id.")
        .json_response(200, "approved, with the task ids", approved)
        .error(404, "no such plan for this tenant")
        .error(409, "the plan is not ready: queued, failed or already approved");
    let usage = Operation::get(USAGE_PATH, "getLlmUsage")
        .summary("The tenant's model calls per month: tokens, cost, latency and outcomes, and the monthly budget.")
        .scope(READ_SCOPE)
        .json_response(200, "the usage", usage);
    document
        .operation(create)
        .operation(show)
        .operation(gantt)
        .operation(approve)
        .operation(usage);
    document.to_json()
}
