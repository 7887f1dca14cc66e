//! The whole work-automation loop, end to end on real services: `hive
//! serve` on PostgreSQL (a database of this test's own) and RabbitMQ.
//!
//! A user plan of two dependent tasks is approved (Planner → `plan.created`
//! → Orchestrator); a worker claims each task in turn and submits clean,
//! tested code; the Reviewer asks Guardian for the facts over the bus and
//! approves; each task completes, which releases the next; and every
//! `review.completed` reaches the tenant's webhook through Notifications,
//! signed.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Database, Server, mint, reviewer_fixture};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

struct Hive {
    client: reqwest::Client,
    server: Server,
    token: String,
}

impl Hive {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, self.server.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, reply) = self.call(method.clone(), path, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {reply}\n{}", self.server.stderr());
        reply
    }

    async fn until<T>(&self, what: &str, mut check: impl AsyncFnMut(&Hive) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(found) = check(self).await {
                return found;
            }
            assert!(started.elapsed() < Duration::from_secs(90), "{what} never happened\n{}", self.server.stderr());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A loopback webhook receiver that keeps each delivery's headers and body.
async fn receiver() -> (String, Arc<Mutex<Vec<(axum::http::HeaderMap, Value)>>>) {
    let received: Arc<Mutex<Vec<(axum::http::HeaderMap, Value)>>> = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push((headers, serde_json::from_str(&body).unwrap_or(Value::String(body))));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test]
async fn a_plan_runs_through_the_orchestrator_the_reviewer_and_guardian_and_its_reviews_reach_the_webhook() {
    let database = Database::create(&env_or("HIVE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"), "loop_e2e").await;
    let database_url = database.url.clone();
    let amqp = env_or("HIVE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let prefix = format!("loop-e2e-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("HIVE_DATABASE_URL", &database_url),
            ("HIVE_BUS", "rabbitmq"),
            ("HIVE_AMQP_URL", &amqp),
            ("HIVE_BUS_PREFIX", &prefix),
            // The receiver is on loopback, which the SSRF guard refuses otherwise.
            ("HIVE_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS", "true"),
        ],
    );
    let scopes = "tasks:read,tasks:write,tasks:work,reviews:read,plans:read,plans:write,notifications:read,notifications:write";
    let hive = Hive { client: reqwest::Client::new(), token: mint(dir.path(), "acme", scopes), server };

    let (hook, received) = receiver().await;
    let endpoint = hive.ok(reqwest::Method::POST, "/v1/notification-endpoints", Some(json!({"kind": "webhook", "url": hook}))).await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    hive.ok(reqwest::Method::POST, "/v1/notification-subscriptions", Some(json!({"event_type": "review.completed", "endpoint_id": endpoint_id}))).await;

    let plan = json!({"plan": {
        "roles": {"backend": 1},
        "tasks": [
            {"id": "stock", "title": "Build the stock module", "role": "backend", "duration": 60},
            {"id": "export", "title": "Export the stock levels", "role": "backend", "duration": 30, "depends_on": ["stock"]},
        ],
    }});
    let accepted = hive.ok(reqwest::Method::POST, "/v1/plans", Some(plan)).await;
    let plan_id = accepted["id"].as_str().unwrap().to_owned();
    hive.until("the plan's analysis", async |h: &Hive| {
        let (_, shown) = h.call(reqwest::Method::GET, &format!("/v1/plans/{plan_id}"), None).await;
        (shown["status"] == "ready").then_some(())
    })
    .await;
    let approved = hive.ok(reqwest::Method::POST, &format!("/v1/plans/{plan_id}/approve"), None).await;
    let ids: Vec<String> = ["stock", "export"].iter().map(|k| approved["tasks"][k].as_str().unwrap().to_owned()).collect();
    let export = hive
        .until("the plan's tasks", async |h: &Hive| {
            let (status, shown) = h.call(reqwest::Method::GET, &format!("/v1/tasks/{}", ids[1]), None).await;
            (status == 200).then_some(shown)
        })
        .await;
    assert_eq!(export["task"]["depends_on"], json!([ids[0]]), "the plan's edge");
    assert_eq!(export["task"]["state"], "blocked");

    let worker = hive.ok(reqwest::Method::POST, "/v1/workers", Some(json!({"name": "w", "roles": ["backend"], "capacity": 1}))).await;
    let worker = worker["worker"]["id"].as_str().unwrap().to_owned();
    for task in &ids {
        let run = hive
            .until("a claim", async |h: &Hive| {
                let claimed = h.ok(reqwest::Method::POST, &format!("/v1/workers/{worker}/claim"), Some(json!({"max": 1, "wait_s": 1}))).await;
                claimed["runs"].as_array().and_then(|r| r.first()).cloned()
            })
            .await;
        assert_eq!(&run["task"]["id"], task, "the plan's order: the export waits for the stock module");
        assert_eq!(run["task"]["input"]["plan_id"], plan_id.as_str());
        let body = json!({"attempt": run["attempt"], "outcome": "success", "result": {"files": reviewer_fixture("clean")}});
        let done = hive.ok(reqwest::Method::POST, &format!("/v1/runs/{}/complete", run["run"].as_str().unwrap()), Some(body)).await;
        assert_eq!(done["task"]["state"], "review_pending");
        let state = hive
            .until("the review", async |h: &Hive| {
                let (_, shown) = h.call(reqwest::Method::GET, &format!("/v1/tasks/{task}"), None).await;
                (shown["task"]["state"] != "review_pending").then(|| shown["task"]["state"].clone())
            })
            .await;
        assert_eq!(state, "completed", "clean, tested code is approved");
    }

    let deliveries = hive
        .until("both reviews at the webhook", async |_: &Hive| {
            let received = received.lock().unwrap();
            (received.len() >= 2).then(|| received.clone())
        })
        .await;
    for (headers, _) in &deliveries {
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            assert!(headers.contains_key(name), "{name} in {headers:?}");
        }
    }
    let bodies = serde_json::to_string(&deliveries.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>()).unwrap();
    for task in &ids {
        assert!(bodies.contains(task.as_str()), "a delivery names task {task}: {bodies}");
    }
    assert_eq!(deliveries.len(), 2, "one delivery per review");

    assert!(hive.server.stop());
    database.drop_it().await;
}
