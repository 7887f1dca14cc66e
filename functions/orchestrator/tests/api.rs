//! The tasks API on SQLite and the in-process bus: the life of a task
//! (claim, start, retry, complete), review, DAG release and cascade, the
//! 409 of a refused transition, fencing of a stale run, timeouts on the
//! database clock, bad input, and tenancy.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use infra::auth::{Verifier, mint_dev_token};
use infra::bus::Subscription;
use infra::config::Config;
use infra::edge::{Adapters, platform_router};
use infra::events::{Envelope, EventName, OutboxSettings, PlanCreated, PlannedTask, ReviewCompleted, ReviewDecision};
use infra::queue::Queue;
use orchestrator::{Orchestrator, Settings};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "tasks-test-secret-tasks-test-secret!";
const WATCH: Subscription = Subscription {
    name: "watch",
    events: &[EventName::TaskCreated, EventName::TaskCompleted, EventName::TaskReviewRequested, EventName::TaskCancelled],
};

struct App {
    _dir: tempfile::TempDir,
    config: Config,
    orchestrator: Orchestrator,
    router: axum::Router,
    watch: Arc<dyn Queue>,
}

async fn app_with(settings: Settings) -> App {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let config = Config::from_vars(|name| (name == "HIVE_DATA_DIR").then(|| data_dir.clone())).unwrap();
    let adapters = Adapters::connect(&config).await.unwrap();
    let watch = adapters.bus.adapter.subscribe(&WATCH).await.unwrap();
    let orchestrator = Orchestrator::start(&adapters, settings, OutboxSettings::standard(Duration::from_secs(3600))).await.unwrap();
    let verifier = Arc::new(Verifier::hs256(SECRET.as_bytes(), &config.jwt));
    let router = platform_router(orchestrator::api::routes(orchestrator.clone(), verifier));
    App { _dir: dir, config, orchestrator, router, watch }
}

async fn app() -> App {
    app_with(Settings::from_vars(|_| None).unwrap()).await
}

impl App {
    fn token(&self, tenant: &str) -> String {
        let scopes = ["tasks:read", "tasks:write", "tasks:work"].map(str::to_owned);
        mint_dev_token(SECRET.as_bytes(), &self.config.jwt, tenant, "alice", &scopes, Duration::from_secs(600)).unwrap()
    }

    async fn call(&self, method: &str, uri: &str, tenant: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {}", self.token(tenant)));
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, uri: &str, body: Value) -> Value {
        let (status, reply) = self.call(method, uri, "acme", Some(body)).await;
        assert!((200..300).contains(&status), "{method} {uri}: {status} {reply}");
        reply
    }

    async fn worker(&self, roles: &[&str], capacity: i64) -> String {
        let reply = self.ok("POST", "/v1/workers", json!({"name": "w", "roles": roles, "capacity": capacity})).await;
        reply["worker"]["id"].as_str().unwrap().to_owned()
    }

    async fn claim(&self, worker: &str, max: i64) -> Vec<Value> {
        let reply = self.ok("POST", &format!("/v1/workers/{worker}/claim"), json!({"max": max})).await;
        reply["runs"].as_array().unwrap().clone()
    }

    async fn state(&self, task: &str) -> String {
        let (_, reply) = self.call("GET", &format!("/v1/tasks/{task}"), "acme", None).await;
        reply["task"]["state"].as_str().unwrap().to_owned()
    }

    /// The types of the events on the watch subscription so far.
    async fn watched(&self) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let deliveries = self.watch.receive(10, Duration::from_millis(50)).await.unwrap();
            if deliveries.is_empty() {
                return seen;
            }
            for delivery in deliveries {
                seen.push(Envelope::parse(&delivery.message.body).unwrap().event_type);
                self.watch.ack(&delivery).await.unwrap();
            }
        }
    }
}

fn id(reply: &Value) -> String {
    reply["task"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_task_is_claimed_started_retried_and_completed_with_its_history_and_events() {
    let app = app().await;
    let task = id(&app.ok("POST", "/v1/tasks", json!({"title": "add login", "role": "backend", "max_retries": 1})).await);
    let worker = app.worker(&["backend"], 2).await;
    let runs = app.claim(&worker, 5).await;
    assert_eq!(runs.len(), 1);
    let (run, attempt) = (runs[0]["run"].as_str().unwrap().to_owned(), runs[0]["attempt"].as_i64().unwrap());
    assert_eq!((attempt, app.state(&task).await.as_str()), (1, "assigned"));
    app.ok("POST", &format!("/v1/runs/{run}/heartbeat"), json!({"attempt": 1})).await;
    assert_eq!(app.state(&task).await, "in_progress");
    // A retryable failure queues it again after its backoff (base 1 s).
    let failed = app.ok("POST", &format!("/v1/runs/{run}/complete"), json!({"attempt": 1, "outcome": "failure", "error": "flaky"})).await;
    assert_eq!(failed["task"]["state"], "queued");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let runs = match app.claim(&worker, 5).await {
        runs if runs.is_empty() => panic!("the retry was never released"),
        runs => runs,
    };
    let second = runs[0]["run"].as_str().unwrap().to_owned();
    assert_eq!(runs[0]["attempt"], 2);
    // The first run is final: its late writes are refused and change nothing.
    let (status, reply) = app.call("POST", &format!("/v1/runs/{run}/complete"), "acme", Some(json!({"attempt": 1, "outcome": "success"}))).await;
    assert_eq!(status, 409, "{reply}");
    let (status, _) = app.call("POST", &format!("/v1/runs/{run}/heartbeat"), "acme", Some(json!({"attempt": 1}))).await;
    assert_eq!(status, 409);
    let done = app.ok("POST", &format!("/v1/runs/{second}/complete"), json!({"attempt": 2, "outcome": "success", "result": {"pr": 7}})).await;
    assert_eq!(done["task"]["state"], "completed");
    assert_eq!(done["task"]["result"], json!({"pr": 7}));

    let history = app.ok("GET", &format!("/v1/tasks/{task}/history"), Value::Null).await;
    let path: Vec<(&str, &str)> = history["items"].as_array().unwrap().iter().map(|h| (h["event"].as_str().unwrap(), h["to"].as_str().unwrap())).collect();
    assert_eq!(path, [("create", "queued"), ("claim", "assigned"), ("start", "in_progress"), ("retry", "queued"), ("claim", "assigned"), ("start", "in_progress"), ("succeed", "completed")]);
    assert!(history["items"].as_array().unwrap().iter().all(|h| h["at"].as_i64().unwrap() > 1_700_000_000_000));
    assert_eq!(app.watched().await, ["task.created", "task.completed"]);
    let shown = app.ok("GET", &format!("/v1/tasks/{task}"), Value::Null).await;
    let states: Vec<&str> = shown["runs"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["failure", "success"]);
}

#[tokio::test]
async fn a_refused_transition_is_a_409_naming_the_state_and_the_event() {
    let app = app().await;
    let task = id(&app.ok("POST", "/v1/tasks", json!({"title": "t", "role": "infra"})).await);
    app.ok("POST", &format!("/v1/tasks/{task}/cancel"), json!({"reason": "not needed"})).await;
    let (status, reply) = app.call("POST", &format!("/v1/tasks/{task}/cancel"), "acme", Some(json!({}))).await;
    assert_eq!(status, 409, "{reply}");
    assert_eq!(reply["error"]["code"], "invalid_transition");
    assert_eq!(reply["error"]["message"], "a task in state cancelled cannot cancel");
    let (status, reply) = app.call("POST", &format!("/v1/tasks/{task}/resolve"), "acme", Some(json!({"decision": "approve"}))).await;
    assert_eq!(status, 409);
    assert_eq!(reply["error"]["message"], "a task in state cancelled cannot resolve_approve");
    // A cancelled task can be retried.
    let retried = app.ok("POST", &format!("/v1/tasks/{task}/retry"), json!({})).await;
    assert_eq!(retried["task"]["state"], "queued");
}

#[tokio::test]
async fn a_dag_releases_children_when_parents_complete_and_a_failure_cancels_downstream() {
    let app = app().await;
    let batch = app
        .ok("POST", "/v1/tasks/batch", json!({"tasks": [
            {"key": "build", "title": "build", "role": "backend"},
            {"key": "test", "title": "test", "role": "backend", "depends_on": ["build"]},
            {"key": "docs", "title": "docs", "role": "backend", "depends_on": ["build"], "cancel_on_upstream_failure": false},
            {"key": "deploy", "title": "deploy", "role": "infra", "depends_on": ["test"]}
        ]}))
        .await;
    let ids = &batch["ids"];
    let key = |k: &str| ids[k].as_str().unwrap().to_owned();
    assert_eq!(app.state(&key("test")).await, "blocked");
    let worker = app.worker(&["backend", "infra"], 4).await;
    let runs = app.claim(&worker, 4).await;
    assert_eq!(runs.len(), 1, "only build is ready");
    let run = runs[0]["run"].as_str().unwrap();
    app.ok("POST", &format!("/v1/runs/{run}/complete"), json!({"attempt": 1, "outcome": "success"})).await;
    assert_eq!(app.state(&key("test")).await, "queued", "released in the same transaction");
    assert_eq!(app.state(&key("docs")).await, "queued");
    assert_eq!(app.state(&key("deploy")).await, "blocked");
    let runs = app.claim(&worker, 4).await;
    let test_run = runs.iter().find(|r| r["task"]["id"] == ids["test"]).unwrap();
    let run = test_run["run"].as_str().unwrap();
    app.ok("POST", &format!("/v1/runs/{run}/complete"), json!({"attempt": 1, "outcome": "failure", "retryable": false, "error": "broken"})).await;
    assert_eq!(app.state(&key("test")).await, "failed");
    assert_eq!(app.state(&key("deploy")).await, "cancelled");
    let history = app.ok("GET", &format!("/v1/tasks/{}/history", key("deploy")), Value::Null).await;
    assert_eq!(history["items"].as_array().unwrap().last().unwrap()["reason"], "upstream_failed");

    for (tasks, field, needle) in [
        (json!([{"key": "a", "title": "a", "role": "backend", "depends_on": ["b"]}]), "tasks[0].depends_on", "\"b\""),
        (json!([{"key": "a", "title": "a", "role": "backend", "depends_on": ["a"]}]), "tasks[0].depends_on", "itself"),
        (
            json!([{"key": "a", "title": "a", "role": "backend", "depends_on": ["c"]}, {"key": "b", "title": "b", "role": "backend", "depends_on": ["a"]}, {"key": "c", "title": "c", "role": "backend", "depends_on": ["b"]}]),
            "tasks",
            "cycle",
        ),
    ] {
        let (status, reply) = app.call("POST", "/v1/tasks/batch", "acme", Some(json!({"tasks": tasks}))).await;
        assert_eq!(status, 400, "{reply}");
        assert_eq!(reply["error"]["field"], field, "{reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains(needle), "{reply}");
    }
}

#[tokio::test]
async fn review_decisions_from_the_bus_move_the_task_once() {
    let app = app().await;
    let task = id(&app.ok("POST", "/v1/tasks", json!({"title": "t", "role": "backend", "review": true, "rework_limit": 1, "acceptance_criteria": ["tests pass"]})).await);
    let worker = app.worker(&["backend"], 1).await;
    let complete = |run: String, attempt: i64| {
        let app = &app;
        async move { app.ok("POST", &format!("/v1/runs/{run}/complete"), json!({"attempt": attempt, "outcome": "success", "result": {"diff": "+1"}})).await }
    };
    let run = app.claim(&worker, 1).await[0]["run"].as_str().unwrap().to_owned();
    assert_eq!(complete(run, 1).await["task"]["state"], "review_pending");
    let review = |decision: ReviewDecision| {
        let event = ReviewCompleted { review: "r1".into(), task: Some(task.clone()), decision, score: Some(60.0), feedback: Some("add a test".into()), sub_scores: None, link: None };
        let envelope = Envelope::new("/hive/reviewer", Some("acme"), "c", &event, 0).unwrap();
        infra::edge::Message::new("tasks-events", &envelope.id, &serde_json::to_string(&envelope).unwrap(), Default::default())
    };
    // A review of work submitted to the Reviewer directly names no task, and changes nothing.
    let untasked = ReviewCompleted { review: "r0".into(), task: None, decision: ReviewDecision::Reject, score: None, feedback: None, sub_scores: None, link: None };
    let envelope = Envelope::new("/hive/reviewer", Some("acme"), "c", &untasked, 0).unwrap();
    let untasked = infra::edge::Message::new("tasks-events", &envelope.id, &serde_json::to_string(&envelope).unwrap(), Default::default());
    app.orchestrator.handle_message(untasked).await.unwrap();
    assert_eq!(app.state(&task).await, "review_pending");
    let rework = review(ReviewDecision::Rework);
    app.orchestrator.handle_message(rework.clone()).await.unwrap();
    app.orchestrator.handle_message(rework).await.unwrap();
    let shown = app.ok("GET", &format!("/v1/tasks/{task}"), Value::Null).await;
    assert_eq!(shown["task"]["state"], "queued");
    assert_eq!(shown["task"]["reworks"], 1, "a redelivered review applies once");
    assert_eq!(shown["task"]["feedback"], "add a test");
    let run = app.claim(&worker, 1).await[0]["run"].as_str().unwrap().to_owned();
    complete(run, 2).await;
    // The rework limit is reached: the next rework escalates.
    app.orchestrator.handle_message(review(ReviewDecision::Rework)).await.unwrap();
    assert_eq!(app.state(&task).await, "escalated");
    let resolved = app.ok("POST", &format!("/v1/tasks/{task}/resolve"), json!({"decision": "approve", "reason": "fine"})).await;
    assert_eq!(resolved["task"]["state"], "completed");
    let events = app.watched().await;
    assert_eq!(events.iter().filter(|e| *e == "task.review_requested").count(), 2, "{events:?}");
}

#[tokio::test]
async fn role_limits_and_capacity_bound_claims_and_priority_orders_them() {
    let app = app().await;
    let mut ids = Vec::new();
    for (title, priority) in [("a", "low"), ("b", "urgent"), ("c", "normal"), ("d", "high")] {
        ids.push(id(&app.ok("POST", "/v1/tasks", json!({"title": title, "role": "infra", "priority": priority})).await));
    }
    let one = app.worker(&["infra"], 5).await;
    let two = app.worker(&["infra"], 5).await;
    let first = app.claim(&one, 5).await;
    assert_eq!(first.len(), 1, "infra's default limit is 1 across workers");
    assert_eq!(first[0]["task"]["title"], "b", "urgent first");
    assert!(app.claim(&two, 5).await.is_empty());
    app.ok("PUT", "/v1/roles/infra", json!({"limit": 3})).await;
    let next: Vec<String> = app.claim(&two, 5).await.iter().map(|r| r["task"]["title"].as_str().unwrap().to_owned()).collect();
    assert_eq!(next, ["d", "c"], "high, then normal, up to the limit of 3");
    let capped = app.worker(&["backend"], 1).await;
    for n in 0..3 {
        app.ok("POST", "/v1/tasks", json!({"title": format!("x{n}"), "role": "backend"})).await;
    }
    assert_eq!(app.claim(&capped, 5).await.len(), 1, "capacity 1");
}

#[tokio::test]
async fn the_scheduler_times_out_runs_on_the_database_clock_and_retries_them() {
    let mut settings = Settings::from_vars(|_| None).unwrap();
    settings.backoff_base = Duration::ZERO;
    let app = app_with(settings).await;
    let task = id(&app.ok("POST", "/v1/tasks", json!({"title": "t", "role": "backend", "max_retries": 1, "timeouts": {"schedule_to_start_s": 1, "heartbeat_s": 1}})).await);
    let worker = app.worker(&["backend"], 1).await;
    let run = app.claim(&worker, 1).await[0]["run"].as_str().unwrap().to_owned();
    assert_eq!(app.orchestrator.sweep().await.unwrap().timed_out, 0, "not yet");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.orchestrator.sweep().await.unwrap().timed_out, 1, "never started in time");
    assert_eq!(app.state(&task).await, "queued");
    let (status, _) = app.call("POST", &format!("/v1/runs/{run}/complete"), "acme", Some(json!({"attempt": 1, "outcome": "success"}))).await;
    assert_eq!(status, 409, "the timed-out run is fenced off");
    // The second attempt starts, then goes silent: a zombie, out of retries.
    let run = app.claim(&worker, 1).await[0]["run"].as_str().unwrap().to_owned();
    app.ok("POST", &format!("/v1/runs/{run}/heartbeat"), json!({"attempt": 2})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.orchestrator.sweep().await.unwrap().timed_out, 1);
    assert_eq!(app.state(&task).await, "failed");
    assert_eq!(app.orchestrator.sweep().await.unwrap().timed_out, 0, "a sweep changes a run once");
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field_and_tenants_are_apart() {
    let app = app().await;
    for (body, field) in [
        (json!({"title": "t", "role": "wizard"}), "role"),
        (json!({"title": "t", "role": "backend", "max_retries": -1}), "max_retries"),
        (json!({"title": "t", "role": "backend", "timeouts": {"heartbeat_s": 0}}), "timeouts.heartbeat_s"),
        (json!({"title": "", "role": "backend"}), "title"),
        (json!({"title": "t", "role": "backend", "colour": "red"}), "colour"),
    ] {
        let (status, reply) = app.call("POST", "/v1/tasks", "acme", Some(body.clone())).await;
        assert!((400..500).contains(&status), "{body}: {status} {reply}");
        let named = reply["error"]["field"].as_str().unwrap_or_default().to_owned() + " " + reply["error"]["message"].as_str().unwrap_or_default();
        assert!(named.contains(field), "{body}: {reply}");
    }
    let (status, _) = app.call("POST", "/v1/workers", "acme", Some(json!({"name": "w", "roles": ["backend"], "capacity": 0}))).await;
    assert_eq!(status, 422);
    let task = id(&app.ok("POST", "/v1/tasks", json!({"title": "mine", "role": "backend"})).await);
    let (status, _) = app.call("GET", &format!("/v1/tasks/{task}"), "intruder", None).await;
    assert_eq!(status, 404);
    let (status, _) = app.call("POST", &format!("/v1/tasks/{task}/cancel"), "intruder", Some(json!({}))).await;
    assert_eq!(status, 404);
    let (_, page) = app.call("GET", "/v1/tasks", "intruder", None).await;
    assert_eq!(page["items"], json!([]));
    // The same Idempotency-Key gives back the same task while it is open.
    let request = |key: &str| {
        Request::builder()
            .method("POST")
            .uri("/v1/tasks")
            .header("authorization", format!("Bearer {}", app.token("acme")))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Body::from(json!({"title": "once", "role": "backend"}).to_string()))
            .unwrap()
    };
    let first = app.router.clone().oneshot(request("k1")).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = serde_json::from_slice(&axum::body::to_bytes(first.into_body(), usize::MAX).await.unwrap()).unwrap();
    let again = app.router.clone().oneshot(request("k1")).await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = serde_json::from_slice(&axum::body::to_bytes(again.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(first["task"]["id"], again["task"]["id"]);
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes() {
    let document = orchestrator::api::openapi();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((path.clone(), method.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = orchestrator::api::ROUTES.iter().map(|(p, m)| (p.to_string(), m.to_string())).collect();
    routes.sort();
    assert_eq!(documented, routes);
}

fn planned(key: &str, id: &str, depends_on: &[&str]) -> PlannedTask {
    PlannedTask {
        key: key.into(),
        task_id: id.into(),
        title: format!("do {key}"),
        role: "backend".into(),
        depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        description: Some("from the plan".into()),
        acceptance_criteria: vec!["it works".into()],
        estimate_min: 60.0,
        priority: Some("high".into()),
    }
}

fn plan_message(plan: &PlanCreated, tenant: &str) -> infra::edge::Message {
    let envelope = Envelope::new("/hive/planner", Some(tenant), "c", plan, 0).unwrap();
    infra::edge::Message::new("tasks-events", &envelope.id, &serde_json::to_string(&envelope).unwrap(), Default::default())
}

#[tokio::test]
async fn a_created_plan_becomes_tasks_with_its_edges_once_and_a_bad_plan_is_refused() {
    let app = app().await;
    let ids = ["10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000002", "10000000-0000-4000-8000-000000000003"];
    let plan = PlanCreated {
        plan_id: "p1".into(),
        goal: Some("ship it".into()),
        tasks: vec![planned("test", ids[2], &["design", "build"]), planned("design", ids[0], &[]), planned("build", ids[1], &["design"])],
    };
    let message = plan_message(&plan, "acme");
    app.orchestrator.handle_message(message.clone()).await.unwrap();
    app.orchestrator.handle_message(message).await.unwrap();
    let (status, listed) = app.call("GET", "/v1/tasks", "acme", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "a redelivery creates nothing: {listed}");
    let test = app.ok("GET", &format!("/v1/tasks/{}", ids[2]), Value::Null).await;
    let mut parents: Vec<&str> = test["task"]["depends_on"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    parents.sort();
    assert_eq!(parents, [ids[0], ids[1]], "the plan's edges");
    assert_eq!(test["task"]["state"], "blocked");
    assert_eq!(test["task"]["review"], true, "a plan's work goes to review");
    assert_eq!(test["task"]["priority"], "high");
    assert_eq!(test["task"]["input"]["plan_id"], "p1");
    assert_eq!(app.state(ids[0]).await, "queued");
    assert_eq!(app.state(ids[1]).await, "blocked");
    let (status, _) = app.call("GET", &format!("/v1/tasks/{}", ids[0]), "other", None).await;
    assert_eq!(status, 404, "the plan's tasks are its tenant's");

    let cyclic = PlanCreated {
        plan_id: "p2".into(),
        goal: None,
        tasks: vec![planned("a", "20000000-0000-4000-8000-000000000001", &["b"]), planned("b", "20000000-0000-4000-8000-000000000002", &["a"])],
    };
    let error = app.orchestrator.handle_message(plan_message(&cyclic, "acme")).await.unwrap_err();
    assert!(!error.is_retryable() && error.to_string().contains("cycle"), "{error}");
    let mut unknown_role = planned("x", "30000000-0000-4000-8000-000000000001", &[]);
    unknown_role.role = "astronaut".into();
    let bad = PlanCreated { plan_id: "p3".into(), goal: None, tasks: vec![unknown_role] };
    let error = app.orchestrator.handle_message(plan_message(&bad, "acme")).await.unwrap_err();
    assert!(!error.is_retryable() && error.to_string().contains("astronaut"), "{error}");
}

#[tokio::test]
async fn runs_heartbeat_and_complete_in_batches_each_answering_for_itself() {
    let app = app().await;
    app.ok("PUT", "/v1/roles/backend", json!({"limit": 0})).await;
    for n in 0..4 {
        app.ok("POST", "/v1/tasks", json!({"title": format!("t{n}"), "role": "backend", "max_retries": 0})).await;
    }
    let worker = app.worker(&["backend"], 4).await;
    let runs = app.claim(&worker, 4).await;
    assert_eq!(runs.len(), 4);
    let refs: Vec<Value> = runs.iter().map(|r| json!({"run": r["run"], "attempt": r["attempt"]})).collect();
    let mut with_stale = refs.clone();
    with_stale.push(json!({"run": "00000000-0000-4000-8000-00000000dead", "attempt": 1}));
    let beat = app.ok("POST", "/v1/runs/heartbeat", json!({"runs": with_stale})).await;
    let answers = beat["runs"].as_array().unwrap();
    assert!(answers[..4].iter().all(|a| a["ok"]["state"] == "running"), "{beat}");
    assert_eq!(answers[4]["error"]["status"], 404);
    for run in &runs {
        assert_eq!(app.state(run["task"]["id"].as_str().unwrap()).await, "in_progress");
    }
    let mut done: Vec<Value> = refs[..3].iter().map(|r| json!({"run": r["run"], "attempt": r["attempt"], "outcome": "success"})).collect();
    done.push(json!({"run": refs[3]["run"], "attempt": refs[3]["attempt"], "outcome": "failure", "error": "boom", "retryable": false}));
    let wrong = app.ok("POST", "/v1/runs/complete", json!({"runs": [{"run": refs[0]["run"], "attempt": 7, "outcome": "success"}]})).await;
    assert_eq!((wrong["runs"][0]["error"]["status"].clone(), wrong["runs"][0]["error"]["field"].clone()), (json!(409), json!("attempt")));
    done.push(done[0].clone());
    let finished = app.ok("POST", "/v1/runs/complete", json!({"runs": done})).await;
    let answers = finished["runs"].as_array().unwrap();
    assert!(answers[..3].iter().all(|a| a["ok"]["state"] == "completed"), "{finished}");
    assert_eq!(answers[3]["ok"]["state"], "failed", "not retryable");
    assert_eq!(answers[4]["error"]["status"], 409, "a run named twice is refused once: {finished}");
    let again = app.ok("POST", "/v1/runs/complete", json!({"runs": [{"run": refs[0]["run"], "attempt": 1, "outcome": "success"}]})).await;
    assert_eq!(again["runs"][0]["error"]["status"], 409, "a completion applies once");
    let history = app.ok("GET", &format!("/v1/tasks/{}/history", runs[0]["task"]["id"].as_str().unwrap()), Value::Null).await;
    let events: Vec<&str> = history["items"].as_array().unwrap().iter().map(|h| h["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["create", "claim", "start", "succeed"]);
    let (status, body) = app.call("POST", "/v1/runs/complete", "acme", Some(json!({"runs": [{"run": "nope", "attempt": 1, "outcome": "success"}]}))).await;
    assert_eq!((status, body["error"]["field"].clone()), (422, json!("runs[0].run")));
    let (status, body) = app.call("POST", "/v1/runs/heartbeat", "acme", Some(json!({"runs": [{"run": refs[0]["run"], "attempt": 0}]}))).await;
    assert_eq!((status, body["error"]["field"].clone()), (422, json!("runs[0].attempt")));
}
