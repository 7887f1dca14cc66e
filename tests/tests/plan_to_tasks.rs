//! The Planner and the Orchestrator on the same ports: goal → plan →
//! approve → `plan.created` → the tasks exist in the Orchestrator under the
//! Planner's task ids, with the plan's dependency edges.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use infra::auth::{Verifier, mint_dev_token};
use infra::config::Config;
use infra::edge::{Adapters, Message, platform_router};
use infra::events::OutboxSettings;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "plan-to-tasks-secret-0123456789abcdef";

async fn call(router: &axum::Router, token: &str, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let response = router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_approved_plan_becomes_the_orchestrators_tasks_with_the_same_edges() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let config = Config::from_vars(|name| (name == "HIVE_DATA_DIR").then(|| data_dir.clone())).unwrap();
    let adapters = Adapters::connect(&config).await.unwrap();
    let planner_queue = adapters.bus.adapter.subscribe(&planner::WORKER).await.unwrap();
    let tasks_queue = adapters.bus.adapter.subscribe(&orchestrator::EVENTS).await.unwrap();
    let outbox = || OutboxSettings::standard(Duration::from_secs(3600));
    let planner = planner::Planner::start(&adapters, planner::Settings::standard(&config), outbox()).await.unwrap();
    let tasks = orchestrator::Orchestrator::start(&adapters, orchestrator::Settings::from_vars(|_| None).unwrap(), outbox()).await.unwrap();
    let verifier = Arc::new(Verifier::hs256(SECRET.as_bytes(), &config.jwt));
    let router = platform_router(planner::api::routes(planner.clone(), verifier.clone()).merge(orchestrator::api::routes(tasks.clone(), verifier)));
    let scopes = ["plans:read", "plans:write", "tasks:read"].map(str::to_owned);
    let token = mint_dev_token(SECRET.as_bytes(), &config.jwt, "acme", "alice", &scopes, Duration::from_secs(600)).unwrap();

    let (status, accepted) = call(&router, &token, "POST", "/v1/plans", Some(json!({"goal": "add OAuth login to the customer portal"}))).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    for delivery in planner_queue.receive(10, Duration::from_millis(200)).await.unwrap() {
        planner.handle_message(Message::from_delivery(planner::WORKER.name, &delivery)).await.unwrap();
        planner_queue.ack(&delivery).await.unwrap();
    }
    let (_, plan) = call(&router, &token, "GET", &format!("/v1/plans/{id}"), None).await;
    assert_eq!(plan["status"], "ready", "{plan}");
    let (status, approved) = call(&router, &token, "POST", &format!("/v1/plans/{id}/approve"), None).await;
    assert_eq!(status, 200, "{approved}");
    for delivery in tasks_queue.receive(10, Duration::from_millis(200)).await.unwrap() {
        tasks.handle_message(Message::from_delivery(orchestrator::EVENTS.name, &delivery)).await.unwrap();
        tasks_queue.ack(&delivery).await.unwrap();
    }
    let ids = approved["tasks"].as_object().unwrap();
    let planned = plan["plan"]["tasks"].as_array().unwrap();
    let edges: usize = planned.iter().map(|t| t["depends_on"].as_array().unwrap().len()).sum();
    assert!(planned.len() >= 3 && edges >= 2, "the heuristic's plan has a graph to carry: {plan}");
    assert_eq!(ids.len(), planned.len());
    for task in plan["plan"]["tasks"].as_array().unwrap() {
        let key = task["id"].as_str().unwrap();
        let (status, shown) = call(&router, &token, "GET", &format!("/v1/tasks/{}", ids[key].as_str().unwrap()), None).await;
        assert_eq!(status, 200, "{key}: {shown}");
        let mut wanted: Vec<&str> = task["depends_on"].as_array().unwrap().iter().map(|d| ids[d.as_str().unwrap()].as_str().unwrap()).collect();
        let mut found: Vec<&str> = shown["task"]["depends_on"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        wanted.sort();
        found.sort();
        assert_eq!(found, wanted, "{key}");
        let state = if wanted.is_empty() { "queued" } else { "blocked" };
        assert_eq!(shown["task"]["state"], state, "{key}: a task waits for its dependencies");
        assert_eq!(shown["task"]["input"]["plan_id"], id);
    }
}
