//! The Reviewer on SQLite (and the model-call ledger on PostgreSQL, a
//! schema per test), the file object store and the in-process bus: a
//! submission's way, inline or uploaded in parts, through
//! `code.analysis_requested` and Guardian's `code.analysis_completed`
//! (Guardian's side played by writing its review document, as its worker
//! does), a task's review and its `review.completed`, redeliveries, the
//! timeout sweep, the tenant's configuration, bad input, scopes and
//! tenancy.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use infra::auth::{Verifier, mint_dev_token};
use infra::bus::Subscription;
use infra::bus::MemoryBus;
use infra::cache::MemoryCache;
use infra::config::Config;
use infra::db::{PostgresDatabase, PostgresSettings};
use infra::edge::adapters::Port;
use infra::edge::{Adapters, Message, platform_router};
use infra::objects::FsStore;
use infra::events::{
    CodeAnalysisCompleted, CodeAnalysisRequested, Envelope, EventName, OutboxSettings, ReviewCompleted, ReviewDecision, TaskReviewRequested,
    TaskTransition,
};
use infra::queue::Queue;
use reviewer::{Reviewer, Settings};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "reviews-test-secret-reviews-test-secret!";
const WATCH: Subscription =
    Subscription { name: "watch", events: &[EventName::CodeAnalysisRequested, EventName::ReviewCompleted] };

struct App {
    _dir: tempfile::TempDir,
    config: Config,
    reviewer: Reviewer,
    router: axum::Router,
    watch: Arc<dyn Queue>,
    /// The per-test schema, when the app is on PostgreSQL.
    postgres: Option<Arc<PostgresDatabase>>,
}

async fn app_with(settings: Settings) -> App {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let config = Config::from_vars(|name| (name == "HIVE_DATA_DIR").then(|| data_dir.clone())).unwrap();
    let adapters = Adapters::connect(&config).await.unwrap();
    app_over(dir, config, adapters, settings, None).await
}

async fn app_over(dir: tempfile::TempDir, config: Config, adapters: Adapters, settings: Settings, postgres: Option<Arc<PostgresDatabase>>) -> App {
    let watch = adapters.bus.adapter.subscribe(&WATCH).await.unwrap();
    let reviewer = Reviewer::start(&adapters, settings, OutboxSettings::standard(Duration::from_secs(3600))).await.unwrap();
    let verifier = Arc::new(Verifier::hs256(SECRET.as_bytes(), &config.jwt));
    let router = platform_router(reviewer::api::routes(reviewer.clone(), verifier));
    App { _dir: dir, config, reviewer, router, watch, postgres }
}

/// The app on real PostgreSQL, in a schema of its own (dropped by [`App::finish`]).
async fn app_on_postgres(settings: Settings) -> App {
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("HIVE_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("reviewer_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let postgres = PostgresSettings { url: url.clone(), max_connections: 4, connect_timeout: Duration::from_secs(5), schema: Some(schema) };
    let database = Arc::new(
        PostgresDatabase::connect(&postgres).await.unwrap_or_else(|e| panic!("PostgreSQL at {url} (HIVE_TEST_POSTGRES_URL): {e}")),
    );
    let adapters = Adapters {
        database: Port { adapter: database.clone(), kind: "postgres" },
        cache: Port { adapter: Arc::new(MemoryCache::new()), kind: "memory" },
        bus: Port { adapter: Arc::new(MemoryBus::new(Duration::from_secs(30), 5)), kind: "memory" },
        objects: Port { adapter: Arc::new(FsStore::open(dir.path()).await.unwrap()), kind: "fs" },
    };
    let config = Config::from_vars(|_| None).unwrap();
    app_over(dir, config, adapters, settings, Some(database)).await
}

async fn app() -> App {
    app_with(Settings::from_vars(|_| None).unwrap()).await
}

/// A clean, documented module with its test.
fn clean_files() -> Value {
    json!([
        {"path": "prices.py", "content": "\"\"\"Prices.\"\"\"\n\n\ndef total(items: list) -> int:\n    \"\"\"The sum of the prices.\"\"\"\n    return sum(items)\n"},
        {"path": "tests/test_prices.py", "content": "from prices import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n"},
    ])
}

/// Guardian's review document for `clean_files`, plus `findings`.
fn guardian_document(findings: Value) -> Value {
    json!({
        "id": "x",
        "summary": {},
        "findings": findings,
        "metrics": {"files": [
            {"path": "prices.py", "language": "python", "test": false, "lines": 6, "functions": [
                {"name": "total", "qualified_name": "total", "line": 4, "length": 3, "complexity": 1, "public": true, "documented": true, "method": false, "nested": false, "path": "prices.py"}
            ]},
            {"path": "tests/test_prices.py", "language": "python", "test": true, "lines": 5, "functions": [
                {"name": "test_total", "qualified_name": "test_total", "line": 4, "length": 2, "complexity": 1, "public": true, "documented": false, "method": false, "nested": false, "path": "tests/test_prices.py"}
            ]}
        ]}
    })
}

impl App {
    /// Drops the PostgreSQL schema of a passing test (a failing one leaves it to look at).
    async fn finish(self) {
        if let Some(database) = &self.postgres {
            database.drop_schema().await.unwrap();
        }
    }

    fn token_with(&self, tenant: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        mint_dev_token(SECRET.as_bytes(), &self.config.jwt, tenant, "alice", &scopes, Duration::from_secs(600)).unwrap()
    }

    async fn raw(&self, method: &str, uri: &str, token: &str, body: Option<String>) -> (u16, String, String) {
        let mut request = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body)
            }
            None => Body::empty(),
        };
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, content_type, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn call(&self, method: &str, uri: &str, tenant: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.token_with(tenant, &["reviews:read", "reviews:write"]);
        let (status, _, text) = self.raw(method, uri, &token, body.map(|b| b.to_string())).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Every event on the watch subscription so far.
    async fn watched(&self) -> Vec<Envelope> {
        let mut seen = Vec::new();
        loop {
            let deliveries = self.watch.receive(10, Duration::from_millis(50)).await.unwrap();
            if deliveries.is_empty() {
                return seen;
            }
            for delivery in deliveries {
                seen.push(Envelope::parse(&delivery.message.body).unwrap());
                self.watch.ack(&delivery).await.unwrap();
            }
        }
    }

    /// Plays Guardian: reads what was asked, stores a review document and
    /// returns its `code.analysis_completed` as Guardian's worker sends it.
    async fn guardian_answers(&self, asked: &Envelope, findings: Value) -> Message {
        let request: CodeAnalysisRequested = asked.decode().unwrap();
        let files: Value = serde_json::from_slice(&self.reviewer.objects.get(request.files.as_deref().unwrap()).await.unwrap()).unwrap();
        assert_eq!(files["files"].as_array().unwrap().len(), 2, "only the files Guardian reads: {files}");
        let key = format!("guardian/{}/{}/review.json", request.tenant, request.analysis);
        self.reviewer.objects.put(&key, guardian_document(findings).to_string().into_bytes(), "application/json").await.unwrap();
        let completed = CodeAnalysisCompleted {
            analysis: request.analysis.clone(),
            status: "succeeded".into(),
            findings: 0,
            failed_gate: false,
            results: Some(key),
            sarif: None,
            error: None,
        };
        let envelope = Envelope::new("/hive/guardian", Some(&request.tenant), &asked.correlationid, &completed, 0).unwrap();
        message(&envelope)
    }
}

fn message(envelope: &Envelope) -> Message {
    Message::new("reviews-events", &envelope.id, &serde_json::to_string(envelope).unwrap(), Default::default())
}

fn of_type(events: &[Envelope], name: EventName) -> Vec<Envelope> {
    events.iter().filter(|e| e.event_type == name.as_str()).cloned().collect()
}

fn task_event(result: Value) -> Envelope {
    let transition = TaskTransition {
        task: "task-1".into(),
        title: "Add a price total".into(),
        role: "coder".into(),
        from: Some("in_progress".into()),
        to: "review_pending".into(),
        event: "submit".into(),
        actor: "w1".into(),
        reason: None,
        attempt: Some(1),
        result: Some(result),
        acceptance_criteria: vec!["sums the prices".into()],
    };
    Envelope::new("/hive/orchestrator", Some("acme"), "task-task-1", &TaskReviewRequested(transition), 0).unwrap()
}

#[tokio::test]
async fn a_submission_is_analysed_scored_and_rendered_and_an_aws_key_blocks_approval() {
    let app = app().await;
    let (status, accepted) = app.call("POST", "/v1/reviews", "acme", Some(json!({"files": clean_files(), "context": {"title": "prices"}}))).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["state"], "analysing");
    let id = accepted["id"].as_str().unwrap().to_owned();
    let (_, view) = app.call("GET", &format!("/v1/reviews/{id}"), "acme", None).await;
    assert_eq!((view["state"].as_str(), view["title"].as_str(), &view["decision"]), (Some("analysing"), Some("prices"), &Value::Null));
    let (status, _) = app.call("GET", &format!("/v1/reviews/{id}.md"), "acme", None).await;
    assert_eq!(status, 409);

    let asked = of_type(&app.watched().await, EventName::CodeAnalysisRequested);
    assert_eq!(asked.len(), 1);
    let secret = json!([{"rule": "hardcoded-secret", "severity": "critical", "path": "prices.py", "line": 2, "column": 1,
        "message": "an AWS access key id is hard-coded; read it from the environment", "fingerprint": "f"}]);
    let answer = app.guardian_answers(&asked[0], secret).await;
    app.reviewer.handle_message(answer.clone()).await.unwrap();
    let (_, view) = app.call("GET", &format!("/v1/reviews/{id}"), "acme", None).await;
    assert_eq!(view["state"], "scored", "{view}");
    assert_eq!(view["decision"], "rework");
    assert_eq!(view["critical"], true);
    assert_eq!(view["score"], 92.0);
    assert_eq!(view["reviewer"], "deterministic");
    assert_eq!(view["evidence"][0]["rule"], "hardcoded-secret");
    assert_eq!(view["remarks"][0]["line"], 2);
    // An API review announces its decision with no task, once: a redelivery changes nothing.
    app.reviewer.handle_message(answer).await.unwrap();
    let completed = of_type(&app.watched().await, EventName::ReviewCompleted);
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].subject, id, "its subject is the review");
    let completed: ReviewCompleted = completed[0].decode().unwrap();
    assert_eq!((completed.task, completed.decision, completed.score), (None, ReviewDecision::Rework, Some(92.0)));
    assert_eq!(completed.link, Some(format!("/v1/reviews/{id}")));
    assert!(completed.feedback.unwrap().contains("an AWS access key id is hard-coded"));
    let token = app.token_with("acme", &["reviews:read"]);
    let (status, content_type, text) = app.raw("GET", &format!("/v1/reviews/{id}.md"), &token, None).await;
    assert_eq!((status, content_type.as_str()), (200, "text/markdown; charset=utf-8"));
    assert!(text.starts_with("## Review: prices\n\n**🔁 Rework requested**: score **92.00**/100"), "{text}");
    assert!(text.contains("`prices.py:2` an AWS access key id is hard-coded"), "{text}");
}

#[tokio::test]
async fn a_tasks_review_announces_its_decision_once_and_is_listed_under_the_task() {
    let app = app().await;
    let requested = task_event(json!({"files": clean_files()}));
    app.reviewer.handle_message(message(&requested)).await.unwrap();
    app.reviewer.handle_message(message(&requested)).await.unwrap();
    let asked = of_type(&app.watched().await, EventName::CodeAnalysisRequested);
    assert_eq!(asked.len(), 1, "a redelivered request is one review");
    let answer = app.guardian_answers(&asked[0], json!([])).await;
    app.reviewer.handle_message(answer.clone()).await.unwrap();
    app.reviewer.handle_message(answer).await.unwrap();
    let completed = of_type(&app.watched().await, EventName::ReviewCompleted);
    assert_eq!(completed.len(), 1);
    let completed: ReviewCompleted = completed[0].decode().unwrap();
    assert_eq!((completed.task.as_deref(), completed.decision, completed.score), (Some("task-1"), ReviewDecision::Approve, Some(100.0)));
    assert_eq!(completed.sub_scores.unwrap()["security"], 100.0);
    assert_eq!(completed.link, Some(format!("/v1/reviews/{}", requested.id)));
    let (_, listed) = app.call("GET", "/v1/reviews?task_id=task-1", "acme", None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["decision"], "approve");
    let (_, view) = app.call("GET", &listed["items"][0]["id"].as_str().map(|id| format!("/v1/reviews/{id}")).unwrap(), "acme", None).await;
    assert_eq!(view["acceptance_criteria"], json!(["sums the prices"]));
    let (_, other) = app.call("GET", "/v1/reviews?task_id=task-1", "globex", None).await;
    assert_eq!(other["items"], json!([]));
}

#[tokio::test]
async fn an_unusable_task_submission_is_escalated_at_once_with_the_reason() {
    let app = app().await;
    for (result, reason) in [
        (json!({"files": []}), "files: the submission has no files"),
        (json!({"text": "done"}), "the result is not a submission"),
        (json!({"files": [{"path": "a.bin", "content": "\u{0}\u{1}"}]}), "binary file"),
        (json!({"files": clean_files(), "coverage": "SF:x.py\nDA:1\nend_of_record\n"}), "coverage report line 2"),
    ] {
        let requested = task_event(result);
        app.reviewer.handle_message(message(&requested)).await.unwrap();
        let completed = of_type(&app.watched().await, EventName::ReviewCompleted);
        assert_eq!(completed.len(), 1, "{reason}");
        let completed: ReviewCompleted = completed[0].decode().unwrap();
        assert_eq!(completed.decision, ReviewDecision::Escalate);
        assert!(completed.feedback.as_deref().unwrap().contains(reason), "{:?} lacks {reason}", completed.feedback);
        let (_, view) = app.call("GET", &format!("/v1/reviews/{}", requested.id), "acme", None).await;
        assert_eq!(view["state"], "escalated");
        let token = app.token_with("acme", &["reviews:read"]);
        let (status, _, markdown) = app.raw("GET", &format!("/v1/reviews/{}.md", requested.id), &token, None).await;
        assert_eq!(status, 200);
        assert!(markdown.contains("**🧑 Escalated to a person**") && markdown.contains(reason), "{markdown}");
    }
}

#[tokio::test]
async fn guardian_failing_or_never_answering_escalates() {
    let settings = Settings::from_vars(|name| (name == "HIVE_REVIEWS_ANALYSIS_TIMEOUT").then(|| "1".to_owned())).unwrap();
    let app = app_with(settings).await;
    let requested = task_event(json!({"files": clean_files()}));
    app.reviewer.handle_message(message(&requested)).await.unwrap();
    let asked = of_type(&app.watched().await, EventName::CodeAnalysisRequested);
    assert_eq!(app.reviewer.sweep().await.unwrap(), 0, "not overdue yet");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.reviewer.sweep().await.unwrap(), 1);
    let completed: ReviewCompleted = of_type(&app.watched().await, EventName::ReviewCompleted)[0].decode().unwrap();
    assert_eq!(completed.decision, ReviewDecision::Escalate);
    assert!(completed.feedback.unwrap().contains("Guardian did not answer within 1 s"));
    // Guardian's late answer finds the review ended and changes nothing.
    let late = app.guardian_answers(&asked[0], json!([])).await;
    app.reviewer.handle_message(late).await.unwrap();
    assert!(of_type(&app.watched().await, EventName::ReviewCompleted).is_empty());
    let (_, view) = app.call("GET", &format!("/v1/reviews/{}", requested.id), "acme", None).await;
    assert_eq!((view["state"].as_str(), view["decision"].as_str(), view["confidence"].as_f64()), (Some("escalated"), Some("escalate"), Some(0.5)));

    let second = task_event(json!({"files": clean_files()}));
    app.reviewer.handle_message(message(&second)).await.unwrap();
    let request: CodeAnalysisRequested = of_type(&app.watched().await, EventName::CodeAnalysisRequested)[0].decode().unwrap();
    let failed = CodeAnalysisCompleted {
        analysis: request.analysis,
        status: "failed".into(),
        findings: 0,
        failed_gate: true,
        results: None,
        sarif: None,
        error: Some("the files object is not a review request".into()),
    };
    let envelope = Envelope::new("/hive/guardian", Some("acme"), "c", &failed, 0).unwrap();
    app.reviewer.handle_message(message(&envelope)).await.unwrap();
    let completed: ReviewCompleted = of_type(&app.watched().await, EventName::ReviewCompleted)[0].decode().unwrap();
    assert_eq!(completed.decision, ReviewDecision::Escalate);
    assert!(completed.feedback.unwrap().contains("Guardian's analysis failed: the files object is not a review request"));
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field() {
    let app = app().await;
    let many: Vec<Value> = (0..10_000).map(|i| json!({"path": format!("m{i}.py"), "content": ""})).collect();
    let cases = [
        (json!({"files": []}), 422, "files"),
        (json!({"files": many}), 422, "files"),
        (json!({"files": [{"path": "a.bin", "content": "\u{0}PNG"}]}), 422, "files[0].content"),
        (json!({"files": [{"path": "../a.py", "content": ""}]}), 422, "files[0].path"),
        (json!({"files": [{"path": "a.py", "content": ""}, {"path": "a.py", "content": ""}]}), 422, "files[1].path"),
        (json!({"files": clean_files(), "coverage": "<coverage>\n<class filename=\"a.py\">\n"}), 422, "coverage"),
        (json!({"files": clean_files(), "changed_lines": {"prices.py": [[5, 2]]}}), 422, "changed_lines.prices.py"),
        (json!({"files": [{"path": "a.py"}]}), 422, "files[0].content"),
    ];
    for (body, status, field) in cases {
        let (got, reply) = app.call("POST", "/v1/reviews", "acme", Some(body)).await;
        assert_eq!((got, reply["error"]["field"].as_str()), (status, Some(field)), "{reply}");
    }
    let huge = json!({"files": [{"path": "big.py", "content": "x".repeat(20 * 1024 * 1024)}]});
    let (status, reply) = app.call("POST", "/v1/reviews", "acme", Some(huge)).await;
    assert_eq!(status, 413, "{reply}");
    let (status, reply) = app.call("GET", "/v1/reviews?limit=0", "acme", None).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (400, Some("limit")));
}

#[tokio::test]
async fn scopes_and_tenants_are_enforced() {
    let app = app().await;
    let (_, accepted) = app.call("POST", "/v1/reviews", "acme", Some(json!({"files": clean_files()}))).await;
    let id = accepted["id"].as_str().unwrap();
    let (status, _) = app.call("GET", &format!("/v1/reviews/{id}"), "globex", None).await;
    assert_eq!(status, 404);
    let (status, _) = app.call("GET", &format!("/v1/reviews/{id}.md"), "globex", None).await;
    assert_eq!(status, 404);
    let read_only = app.token_with("acme", &["reviews:read"]);
    let (status, _, _) = app.raw("POST", "/v1/reviews", &read_only, Some(json!({"files": clean_files()}).to_string())).await;
    assert_eq!(status, 403);
    let write_only = app.token_with("acme", &["reviews:write"]);
    let (status, _, _) = app.raw("GET", &format!("/v1/reviews/{id}"), &write_only, None).await;
    assert_eq!(status, 403);
    let (status, _, _) = app.raw("GET", "/v1/reviews", "not-a-token", None).await;
    assert_eq!(status, 401);
}

/// The Reviewer with a model behind a loopback server replaying `fixtures`
/// (files under tests/fixtures/llm/<wire>/).
async fn with_model(wire: &str, fixtures: &[&str]) -> (App, infra::llm::replay::Replay) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llm").join(wire);
    let fixtures = fixtures.iter().map(|name| infra::llm::replay::Fixture::read(&dir.join(format!("{name}.json"))).unwrap()).collect();
    let replay = infra::llm::replay::Replay::start(fixtures).await.unwrap();
    let url = replay.url.clone();
    let provider = wire.to_owned();
    let settings = Settings::from_vars(move |name| match name {
        "HIVE_LLM_PROVIDER" => Some(provider.clone()),
        "HIVE_LLM_BASE_URL" => Some(url.clone()),
        "HIVE_LLM_MODEL" => Some("test-model".into()),
        _ => None,
    })
    .unwrap();
    (app_with(settings).await, replay)
}

/// A task's review through Guardian's (played) answer; its review.completed and view.
async fn review_task(app: &App) -> (ReviewCompleted, Value) {
    let requested = task_event(json!({"files": clean_files()}));
    app.reviewer.handle_message(message(&requested)).await.unwrap();
    let asked = of_type(&app.watched().await, EventName::CodeAnalysisRequested);
    let answer = app.guardian_answers(&asked[0], json!([])).await;
    app.reviewer.handle_message(answer).await.unwrap();
    let completed: ReviewCompleted = of_type(&app.watched().await, EventName::ReviewCompleted)[0].decode().unwrap();
    let (_, view) = app.call("GET", &format!("/v1/reviews/{}", requested.id), "acme", None).await;
    (completed, view)
}

#[tokio::test]
async fn the_models_narrative_adds_confident_remarks_and_a_checklist_but_never_moves_the_score_in_both_wire_formats() {
    for wire in ["openai", "anthropic"] {
        let (app, replay) = with_model(wire, &["confident"]).await;
        let (completed, view) = review_task(&app).await;
        assert_eq!((completed.decision, completed.score), (ReviewDecision::Approve, Some(100.0)), "{wire}");
        assert_eq!(view["reviewer"], "deterministic+llm", "{wire}: {view}");
        assert_eq!(view["score"], 100.0);
        assert_eq!(view["confidence"], 0.9, "{wire}: the model may lower the confidence");
        let remarks = view["remarks"].as_array().unwrap();
        assert_eq!(remarks.len(), 1, "{wire}: the 0.4 remark is dropped: {view}");
        assert_eq!((&remarks[0]["source"], &remarks[0]["line"]), (&json!("llm"), &json!(6)));
        assert_eq!(view["narrative"]["criteria"][0]["status"], "met");
        assert_eq!(view["narrative"]["dropped_remarks"], 1);
        // The request carried the criteria, the findings' score and the schema.
        let sent = &replay.received()[0];
        let text = sent.body.to_string();
        assert!(text.contains("sums the prices") && text.contains("Deterministic score 100.00"), "{wire}: {text}");
        assert!(text.contains("review_narrative"), "{wire}");
        let (status, _, markdown) = app.raw("GET", &format!("/v1/reviews/{}.md", view["id"].as_str().unwrap()), &app.token_with("acme", &["reviews:read"]), None).await;
        assert_eq!(status, 200);
        assert!(markdown.contains("- [x] sums the prices: total returns sum(items)"), "{markdown}");
    }
}

#[tokio::test]
async fn a_doubtful_model_lowers_the_confidence_and_escalates_and_an_answer_off_the_schema_changes_nothing() {
    for wire in ["openai", "anthropic"] {
        let (app, _replay) = with_model(wire, &["doubtful", "off_schema"]).await;
        let (completed, view) = review_task(&app).await;
        assert_eq!((completed.decision, completed.score), (ReviewDecision::Escalate, Some(100.0)), "{wire}: {view}");
        assert_eq!(view["confidence"], 0.5);
        assert!(completed.feedback.unwrap().contains("the language model's confidence is 0.50"));

        let (completed, view) = review_task(&app).await;
        assert_eq!((completed.decision, completed.score), (ReviewDecision::Approve, Some(100.0)), "{wire}: {view}");
        assert_eq!(view["reviewer"], "deterministic");
        assert_eq!(view["narrative"], Value::Null);
    }
}

/// A replayed OpenAI model priced at $1000 per million input tokens: the
/// fixture's 1,204 cost $1.20, over the $1 monthly budget. The replay
/// server lives as long as the returned handle.
async fn over_budget_model() -> (infra::llm::replay::Replay, Settings) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llm/openai");
    let replay = infra::llm::replay::Replay::start(vec![infra::llm::replay::Fixture::read(&dir.join("confident.json")).unwrap()]).await.unwrap();
    let url = replay.url.clone();
    let settings = Settings::from_vars(move |name| match name {
        "HIVE_LLM_PROVIDER" => Some("openai".into()),
        "HIVE_LLM_BASE_URL" => Some(url.clone()),
        "HIVE_LLM_MODEL" => Some("test-model".into()),
        "HIVE_LLM_PRICE_IN_PER_MTOK" => Some("1000".into()),
        "HIVE_LLM_MONTHLY_BUDGET_USD" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    (replay, settings)
}

#[tokio::test]
async fn past_the_tenants_monthly_budget_the_model_is_not_called() {
    let (replay, settings) = over_budget_model().await;
    let app = app_with(settings).await;
    let (_, first) = review_task(&app).await;
    assert_eq!((first["reviewer"].as_str(), first["llm"].as_str()), (Some("deterministic+llm"), Some("answered")));
    let (completed, second) = review_task(&app).await;
    assert_eq!(second["reviewer"], "deterministic");
    assert!(second["llm"].as_str().unwrap().starts_with("over_budget: the monthly LLM budget of $1.00 is spent ($1.2040"), "{second}");
    assert_eq!(completed.decision, ReviewDecision::Approve, "the deterministic review stands");
    assert_eq!(replay.received().len(), 1);
}

#[tokio::test]
async fn an_upload_in_parts_is_reviewed_by_reference_and_is_its_tenants_only() {
    let app = app().await;
    let files = clean_files();
    let (status, upload) = app.call("POST", "/v1/reviews/uploads", "acme", Some(json!({"files": [files[0]]}))).await;
    assert_eq!(status, 201, "{upload}");
    let id = upload["id"].as_str().unwrap().to_owned();
    let more = format!("/v1/reviews/uploads/{id}/files");
    let (status, totals) = app.call("POST", &more, "acme", Some(json!({"files": [files[1]]}))).await;
    assert_eq!(status, 200, "{totals}");
    assert_eq!((totals["files"].as_u64(), totals["parts"].as_u64()), (Some(2), Some(2)));
    // Another tenant can neither add to the upload nor review it.
    let (status, _) = app.call("POST", &more, "globex", Some(json!({"files": [files[1]]}))).await;
    assert_eq!(status, 404);
    let (status, error) = app.call("POST", "/v1/reviews", "globex", Some(json!({"upload": id}))).await;
    assert_eq!((status, error["error"]["field"].as_str()), (422, Some("upload")), "{error}");

    let (status, accepted) = app.call("POST", "/v1/reviews", "acme", Some(json!({"upload": id, "context": {"title": "uploaded"}}))).await;
    assert_eq!(status, 202, "{accepted}");
    let review = accepted["id"].as_str().unwrap().to_owned();
    let asked = of_type(&app.watched().await, EventName::CodeAnalysisRequested);
    // Guardian reads both parts' files from the object the event names.
    let answer = app.guardian_answers(&asked[0], json!([])).await;
    app.reviewer.handle_message(answer).await.unwrap();
    let (_, view) = app.call("GET", &format!("/v1/reviews/{review}"), "acme", None).await;
    assert_eq!((view["state"].as_str(), view["decision"].as_str(), view["title"].as_str()), (Some("scored"), Some("approve"), Some("uploaded")), "{view}");
    let completed: ReviewCompleted = of_type(&app.watched().await, EventName::ReviewCompleted)[0].decode().unwrap();
    assert_eq!((completed.task, completed.decision), (None, ReviewDecision::Approve));
    // A reader may not upload.
    let reader = app.token_with("acme", &["reviews:read"]);
    let (status, _, _) = app.raw("POST", "/v1/reviews/uploads", &reader, Some(json!({"files": [files[0]]}).to_string())).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn bad_uploads_and_references_are_refused_with_the_field() {
    let app = app().await;
    let (_, upload) = app.call("POST", "/v1/reviews/uploads", "acme", Some(json!({"files": [{"path": "a.py", "content": "x = 1\n"}]}))).await;
    let id = upload["id"].as_str().unwrap().to_owned();
    let unknown = "0c2a7d1e-3b4f-4a5b-8c6d-7e8f9a0b1c2d";
    let cases = [
        ("/v1/reviews/uploads".to_owned(), json!({"files": []}), 422, "files"),
        ("/v1/reviews/uploads".to_owned(), json!({"files": [{"path": "a/../b.py", "content": ""}]}), 422, "files[0].path"),
        ("/v1/reviews/uploads".to_owned(), json!({"files": [{"path": "b.py", "content": ""}, {"path": "c.png", "content": "\u{0}PNG"}]}), 422, "files[1].content"),
        (format!("/v1/reviews/uploads/{id}/files"), json!({"files": [{"path": "c.png", "content": "\u{0}"}]}), 422, "files[0].content"),
        ("/v1/reviews".to_owned(), json!({"upload": "not-an-id"}), 422, "upload"),
        ("/v1/reviews".to_owned(), json!({"upload": unknown}), 422, "upload"),
        ("/v1/reviews".to_owned(), json!({"upload": id, "files": clean_files()}), 422, "files"),
        ("/v1/reviews".to_owned(), json!({"context": {"title": "nothing"}}), 422, "files"),
    ];
    for (uri, body, status, field) in cases {
        let (got, reply) = app.call("POST", &uri, "acme", Some(body)).await;
        assert_eq!((got, reply["error"]["field"].as_str()), (status, Some(field)), "{uri}: {reply}");
    }
    let (status, _) = app.call("POST", &format!("/v1/reviews/uploads/{unknown}/files"), "acme", Some(json!({"files": clean_files()}))).await;
    assert_eq!(status, 404);
    // The upload's review still holds the engine's own limits, named under `upload`.
    let (_, upload) = app.call("POST", "/v1/reviews/uploads", "acme", Some(json!({"files": [{"path": "a.py", "content": "x = 1\n"}]}))).await;
    let id = upload["id"].as_str().unwrap();
    let (status, reply) = app.call("POST", "/v1/reviews", "acme", Some(json!({"upload": id, "coverage": "<coverage>\n"}))).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (422, Some("coverage")), "{reply}");
}

#[tokio::test]
async fn ten_thousand_uploaded_files_reach_guardian_by_reference_not_in_the_event() {
    let app = app().await;
    let part = |n: usize| {
        let files: Vec<Value> =
            (0..1000).map(|i| json!({"path": format!("pkg{n}/m{i}.py"), "content": format!("def f{i}():\n    return {i}\n")})).collect();
        json!({"files": files})
    };
    let (status, upload) = app.call("POST", "/v1/reviews/uploads", "acme", Some(part(0))).await;
    assert_eq!(status, 201);
    let id = upload["id"].as_str().unwrap().to_owned();
    for n in 1..10 {
        let (status, totals) = app.call("POST", &format!("/v1/reviews/uploads/{id}/files"), "acme", Some(part(n))).await;
        assert_eq!(status, 200, "{totals}");
    }
    let (status, reply) =
        app.call("POST", &format!("/v1/reviews/uploads/{id}/files"), "acme", Some(json!({"files": [{"path": "one-more.py", "content": ""}]}))).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (422, Some("files")), "over 10,000 files: {reply}");
    let (status, accepted) = app.call("POST", "/v1/reviews", "acme", Some(json!({"upload": id}))).await;
    assert_eq!(status, 202, "{accepted}");
    let asked = of_type(&app.watched().await, EventName::CodeAnalysisRequested);
    let wire = serde_json::to_string(&asked[0]).unwrap();
    assert!(wire.len() < 4096, "the event names an object, well within SNS's 256 KiB: {} bytes", wire.len());
    let request: CodeAnalysisRequested = asked[0].decode().unwrap();
    let files: Value = serde_json::from_slice(&app.reviewer.objects.get(request.files.as_deref().unwrap()).await.unwrap()).unwrap();
    assert_eq!(files["files"].as_array().unwrap().len(), 10_000);
}

#[tokio::test]
async fn a_tenants_configuration_is_set_through_the_api_checked_and_kept_with_each_review() {
    let settings = Settings::from_vars(|name| (name == "HIVE_REVIEWS_CONFIG").then(|| r#"{"initech": {"feedback_budget": 2}}"#.to_owned())).unwrap();
    let app = app_with(settings).await;
    let (status, standard) = app.call("GET", "/v1/reviews/config", "acme", None).await;
    assert_eq!(status, 200, "{standard}");
    assert_eq!((standard["source"].as_str(), &standard["version"]), (Some("standard"), &Value::Null));
    assert_eq!(standard["config"]["weights"]["security"], 0.2);
    let (_, environment) = app.call("GET", "/v1/reviews/config", "initech", None).await;
    assert_eq!((environment["source"].as_str(), environment["config"]["feedback_budget"].as_u64()), (Some("environment"), Some(2)));

    for (body, field) in [
        (json!({"weights": {"tests": 0.5}}), "weights"),
        (json!({"weights": {"tests": "a lot"}}), "weights.tests"),
        (json!({"min_confidence": 2}), "min_confidence"),
        (json!({"coverage_points": -1}), "coverage_points"),
        (json!({"loudness": 11}), "loudness"),
    ] {
        let (status, reply) = app.call("PUT", "/v1/reviews/config", "acme", Some(body.clone())).await;
        assert_eq!((status, reply["error"]["field"].as_str()), (422, Some(field)), "{body}: {reply}");
    }
    let security = json!({"weights": {"security": 0.5, "code_quality": 0.1, "tests": 0.15, "documentation": 0.15, "architecture": 0.1}});
    let (status, set) = app.call("PUT", "/v1/reviews/config", "acme", Some(security.clone())).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!((set["source"].as_str(), set["version"].as_i64(), &set["overrides"]), (Some("tenant"), Some(1), &security));
    assert_eq!(set["config"]["weights"]["security"], 0.5);
    let (_, shown) = app.call("GET", "/v1/reviews/config", "acme", None).await;
    assert_eq!(shown, set);
    let (_, other) = app.call("GET", "/v1/reviews/config", "globex", None).await;
    assert_eq!(other["source"], "standard", "another tenant's configuration is its own");

    // A review keeps the configuration in force when it was requested.
    let (_, first) = app.call("POST", "/v1/reviews", "acme", Some(json!({"files": clean_files()}))).await;
    let (status, reset) = app.call("PUT", "/v1/reviews/config", "acme", Some(json!({}))).await;
    assert_eq!((status, reset["version"].as_i64()), (200, Some(2)));
    let (_, second) = app.call("POST", "/v1/reviews", "acme", Some(json!({"files": clean_files()}))).await;
    let secret = json!([{"rule": "hardcoded-secret", "severity": "critical", "path": "prices.py", "line": 2, "column": 1,
        "message": "an AWS access key id is hard-coded", "fingerprint": "f"}]);
    for asked in of_type(&app.watched().await, EventName::CodeAnalysisRequested) {
        let answer = app.guardian_answers(&asked, secret.clone()).await;
        app.reviewer.handle_message(answer).await.unwrap();
    }
    let (_, first) = app.call("GET", &format!("/v1/reviews/{}", first["id"].as_str().unwrap()), "acme", None).await;
    let (_, second) = app.call("GET", &format!("/v1/reviews/{}", second["id"].as_str().unwrap()), "acme", None).await;
    assert_eq!((first["score"].as_f64(), &first["config"]), (Some(80.0), &json!({"source": "tenant", "version": 1})), "{first}");
    assert_eq!((second["score"].as_f64(), &second["config"]), (Some(92.0), &json!({"source": "tenant", "version": 2})), "{second}");
    // A task's request redelivered after a change keeps the configuration it began under.
    let requested = task_event(json!({"files": clean_files()}));
    app.reviewer.handle_message(message(&requested)).await.unwrap();
    app.call("PUT", "/v1/reviews/config", "acme", Some(security)).await;
    app.reviewer.handle_message(message(&requested)).await.unwrap();
    let asked = of_type(&app.watched().await, EventName::CodeAnalysisRequested);
    assert_eq!(asked.len(), 1, "a redelivery asks nothing more");
    app.reviewer.handle_message(app.guardian_answers(&asked[0], secret).await).await.unwrap();
    let (_, third) = app.call("GET", &format!("/v1/reviews/{}", requested.id), "acme", None).await;
    assert_eq!((third["score"].as_f64(), &third["config"]), (Some(92.0), &json!({"source": "tenant", "version": 2})), "{third}");

    let reader = app.token_with("acme", &["reviews:read"]);
    let (status, _, _) = app.raw("PUT", "/v1/reviews/config", &reader, Some("{}".into())).await;
    assert_eq!(status, 403);
    let writer = app.token_with("acme", &["reviews:write"]);
    let (status, _, _) = app.raw("GET", "/v1/reviews/config", &writer, None).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_model_call_ledger_holds_the_monthly_budget_on_postgresql() {
    let (replay, settings) = over_budget_model().await;
    let app = app_on_postgres(settings).await;
    let repo = &app.reviewer.repo;
    assert_eq!(repo.llm_spent("acme", "2026-01").await.unwrap(), 0.0, "no calls: nothing spent");
    // Calls recorded at once all count, each in its tenant's month only.
    let calls = (0..20).map(|i| {
        let (tenant, month) = if i % 4 == 0 { ("globex", "2026-01") } else { ("acme", if i % 4 == 1 { "2025-12" } else { "2026-01" }) };
        async move {
            let review = format!("r{i}");
            let call = reviewer::repo::LlmCall { review: &review, outcome: "answered", tokens_in: 100, tokens_out: 10, cost_usd: 0.125 };
            repo.record_llm_call(tenant, month, &call, i).await
        }
    });
    for recorded in futures::future::join_all(calls).await {
        recorded.unwrap();
    }
    assert_eq!(repo.llm_spent("acme", "2026-01").await.unwrap(), 10.0 * 0.125);
    assert_eq!(repo.llm_spent("acme", "2025-12").await.unwrap(), 5.0 * 0.125);
    assert_eq!(repo.llm_spent("globex", "2026-01").await.unwrap(), 5.0 * 0.125);

    // The budget in the review: the first call ($1.20) spends this month's $1.
    let (_, first) = review_task(&app).await;
    assert_eq!((first["reviewer"].as_str(), first["llm"].as_str()), (Some("deterministic+llm"), Some("answered")), "{first}");
    let (completed, second) = review_task(&app).await;
    assert!(second["llm"].as_str().unwrap().starts_with("over_budget: the monthly LLM budget of $1.00 is spent ($1.2040"), "{second}");
    assert_eq!(completed.decision, ReviewDecision::Approve, "the deterministic review stands");
    assert_eq!(replay.received().len(), 1);
    app.finish().await;
}
