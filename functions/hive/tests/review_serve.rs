//! The review loop end to end on real services: `hive serve` on
//! PostgreSQL (a database of this test's own) and RabbitMQ, the
//! Orchestrator, Guardian and the Reviewer exchanging their events over the
//! broker. Tasks with `review: true` go to `review_pending` when their run
//! succeeds; each ends approved (then completed), reworked (back in the
//! queue with the feedback) or rejected according to its submission; the
//! reworked one, resubmitted clean, is approved.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Database, Server, mint, reviewer_fixture as fixture};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Code no reviewer should take: secrets, `eval`, `exec`, `pickle`, path
/// and configuration hacks, nothing documented, no tests.
fn dangerous() -> Vec<Value> {
    let source = "import os\nimport pickle\nimport sys\n\nsys.path.insert(0, '/opt/app')\nAPI_TOKEN = 'sk_live_9f8e7d6c5b4a3f2e1d0c'\n\n\ndef load(blob):\n    return pickle.loads(blob)\n\n\ndef run(expression):\n    return eval(expression)\n\n\ndef apply(code):\n    exec(code)\n\n\ndef home():\n    return os.environ.get('CONDA_PREFIX')\n";
    vec![json!({"path": "app/danger.py", "content": source})]
}

struct Hive {
    client: reqwest::Client,
    server: Server,
    token: String,
}

impl Hive {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method.clone(), self.server.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let reply: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {reply}");
        reply
    }

    async fn task(&self, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/v1/tasks/{id}"), None).await["task"].clone()
    }

    /// Claims the task's next run (the only queued task: the others ended) and completes it with `files` as the result.
    async fn submit(&self, worker: &str, task: &str, files: Vec<Value>) {
        let started = Instant::now();
        loop {
            let claimed = self.call(reqwest::Method::POST, &format!("/v1/workers/{worker}/claim"), Some(json!({"max": 1, "wait_s": 1}))).await;
            if let Some(run) = claimed["runs"].as_array().and_then(|r| r.first()) {
                assert_eq!(run["task"]["id"], task, "one task is queued at a time here");
                let (id, attempt) = (run["run"].as_str().unwrap(), run["attempt"].as_i64().unwrap());
                let body = json!({"attempt": attempt, "outcome": "success", "result": {"files": files}});
                let done = self.call(reqwest::Method::POST, &format!("/v1/runs/{id}/complete"), Some(body)).await;
                assert_eq!(done["task"]["state"], "review_pending", "{done}");
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "task {task} was never claimable");
        }
    }

    /// Waits until the task leaves review, and returns its state.
    async fn reviewed(&self, task: &str) -> Value {
        let started = Instant::now();
        loop {
            let shown = self.task(task).await;
            if shown["state"] != "review_pending" {
                return shown;
            }
            assert!(started.elapsed() < Duration::from_secs(90), "task {task} still in review\n{}", self.server.stderr());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn history(&self, task: &str) -> Vec<String> {
        let history = self.call(reqwest::Method::GET, &format!("/v1/tasks/{task}/history"), None).await;
        history["items"].as_array().unwrap().iter().map(|h| h["to"].as_str().unwrap().to_owned()).collect()
    }

    async fn reviews(&self, task: &str) -> Vec<Value> {
        self.call(reqwest::Method::GET, &format!("/v1/reviews?task_id={task}"), None).await["items"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn tasks_in_review_are_approved_reworked_or_rejected_by_the_reviewer_on_guardians_facts() {
    let database = Database::create(&env_or("HIVE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"), "reviews_e2e").await;
    let amqp = env_or("HIVE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("reviews-e2e-{}", std::process::id());
    let server = Server::start(
        dir.path(),
        &[("HIVE_DATABASE_URL", &database.url), ("HIVE_BUS", "rabbitmq"), ("HIVE_AMQP_URL", &amqp), ("HIVE_BUS_PREFIX", &prefix)],
    );
    let token = mint(dir.path(), "acme", "tasks:read,tasks:write,tasks:work,reviews:read");
    let hive = Hive { client: reqwest::Client::new(), server, token };
    let worker = hive.call(reqwest::Method::POST, "/v1/workers", Some(json!({"name": "backend", "roles": ["backend"], "capacity": 1}))).await;
    let worker = worker["worker"]["id"].as_str().unwrap().to_owned();

    let mut outcomes = Vec::new();
    for (title, files) in [("clean stock module", fixture("clean")), ("admin console", dangerous()), ("stock export", fixture("aws-key"))] {
        let body = json!({"title": title, "role": "backend", "review": true, "acceptance_criteria": ["pick never goes below zero"]});
        let task = hive.call(reqwest::Method::POST, "/v1/tasks", Some(body)).await["task"]["id"].as_str().unwrap().to_owned();
        hive.submit(&worker, &task, files).await;
        let shown = hive.reviewed(&task).await;
        outcomes.push((task, shown));
    }

    let (clean, shown) = &outcomes[0];
    assert_eq!(shown["state"], "completed", "{shown}");
    assert!(hive.history(clean).await.ends_with(&["review_pending".into(), "approved".into(), "completed".into()]));
    let reviews = hive.reviews(clean).await;
    assert_eq!((reviews.len(), &reviews[0]["decision"], &reviews[0]["state"]), (1, &json!("approve"), &json!("scored")));

    // The AWS key: rework, and the task is back in the queue with the feedback.
    let (keyed, shown) = &outcomes[2];
    assert_eq!(shown["state"], "queued", "{shown}");
    assert!(hive.history(keyed).await.ends_with(&["review_pending".into(), "rework_needed".into(), "queued".into()]));
    let feedback = shown["feedback"].as_str().unwrap();
    assert!(feedback.contains("inventory/stock.py:6: hard-coded AWS access key id"), "{feedback}");
    let review = &hive.reviews(keyed).await[0];
    let full = hive.call(reqwest::Method::GET, &format!("/v1/reviews/{}", review["id"].as_str().unwrap()), None).await;
    assert_eq!((&full["decision"], &full["critical"], &full["evidence"][0]["rule"]), (&json!("rework"), &json!(true), &json!("hardcoded-secret")));

    let (dangerous_task, shown) = &outcomes[1];
    assert_eq!(shown["state"], "rejected", "{shown}");
    let review = &hive.reviews(dangerous_task).await[0];
    assert_eq!(review["decision"], "reject");
    assert!(review["score"].as_f64().unwrap() < 40.0, "{review}");

    // The rework, resubmitted without the key, is approved; the task has two reviews.
    hive.submit(&worker, keyed, fixture("clean")).await;
    let shown = hive.reviewed(keyed).await;
    assert_eq!(shown["state"], "completed", "{shown}");
    let reviews = hive.reviews(keyed).await;
    let decisions: Vec<&str> = reviews.iter().map(|r| r["decision"].as_str().unwrap()).collect();
    assert_eq!(decisions, ["approve", "rework"], "newest first");

    assert!(hive.server.stop());
    database.drop_it().await;
}
