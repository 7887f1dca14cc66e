//! The plans API and the worker on real PostgreSQL (a schema per test) and
//! the in-process bus, with the model replayed from recorded responses in
//! both wire formats: which path made each plan, the usage and the budget,
//! user plans with their 400s, approval and `plan.created`, `task.failed`
//! to `workflow.blocked`, scopes and tenancy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use infra::auth::{Verifier, mint_dev_token};
use infra::bus::{MemoryBus, Subscription};
use infra::cache::MemoryCache;
use infra::config::{Config, LlmConfig, LlmProvider};
use infra::db::{PostgresDatabase, PostgresSettings};
use infra::edge::adapters::Port;
use infra::edge::{Adapters, Message, platform_router};
use infra::events::{
    Envelope, EventName, OutboxSettings, PlanCreated, TaskFailed, TaskRejected, TaskTransition, WorkflowBlocked,
};
use infra::llm::replay::{Fixture, Replay};
use infra::llm::{HttpLlm, Llm, NoLlm};
use infra::objects::FsStore;
use infra::queue::Queue;
use infra::resilience::RetryPolicy;
use planner::{Planner, Settings, WORKER};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "planner-test-secret-0123456789abcdef";
const WATCH: Subscription = Subscription {
    name: "watch",
    events: &[
        EventName::PlanGenerated,
        EventName::PlanFailed,
        EventName::PlanCreated,
        EventName::WorkflowBlocked,
    ],
};

struct App {
    planner: Planner,
    router: axum::Router,
    config: Config,
    worker: Arc<dyn Queue>,
    watch: Arc<dyn Queue>,
    _dir: tempfile::TempDir,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The app over a fresh schema, with `llm` as its model and `config` as its
/// model's configuration (prices and budget).
async fn app_with(name: &str, llm: Arc<dyn Llm>, config: LlmConfig) -> App {
    app_tuned(name, llm, config, |_| {}).await
}

async fn app_tuned(
    name: &str,
    llm: Arc<dyn Llm>,
    config: LlmConfig,
    tune: impl FnOnce(&mut Settings),
) -> App {
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("planner_{name}_{}_{}", std::process::id(), rand_suffix());
    let url = env_or(
        "HIVE_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let postgres = PostgresSettings {
        url: url.clone(),
        max_connections: 8,
        connect_timeout: Duration::from_secs(5),
        schema: Some(schema),
    };
    let database = PostgresDatabase::connect(&postgres)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} (HIVE_TEST_POSTGRES_URL): {e}"));
    let adapters = Adapters {
        database: Port {
            adapter: Arc::new(database),
            kind: "postgres",
        },
        cache: Port {
            adapter: Arc::new(MemoryCache::new()),
            kind: "memory",
        },
        bus: Port {
            adapter: Arc::new(MemoryBus::new(Duration::from_secs(30), 5)),
            kind: "memory",
        },
        objects: Port {
            adapter: Arc::new(FsStore::open(dir.path()).await.unwrap()),
            kind: "fs",
        },
    };
    let worker = adapters.bus.adapter.subscribe(&WORKER).await.unwrap();
    let watch = adapters.bus.adapter.subscribe(&WATCH).await.unwrap();
    let base = Config::from_vars(|_| None).unwrap();
    let mut settings = Settings::standard(&base);
    settings.llm = config;
    tune(&mut settings);
    settings.analysis.monte_carlo_samples = 500;
    let planner = Planner::with_llm(
        &adapters,
        settings,
        OutboxSettings::standard(Duration::from_secs(3600)),
        llm,
    )
    .await
    .unwrap();
    let verifier = Arc::new(Verifier::hs256(SECRET.as_bytes(), &base.jwt));
    let router = platform_router(planner::api::routes(planner.clone(), verifier));
    App {
        planner,
        router,
        config: base,
        worker,
        watch,
        _dir: dir,
    }
}

fn rand_suffix() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

async fn app(name: &str) -> App {
    app_with(name, Arc::new(NoLlm), LlmConfig::none()).await
}

fn fixture(wire: &str, name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/infra/tests/fixtures/llm")
        .join(wire)
        .join(format!("{name}.json"));
    Fixture::read(&path).unwrap()
}

const WIRES: [(LlmProvider, &str); 2] = [
    (LlmProvider::OpenAi, "openai"),
    (LlmProvider::Anthropic, "anthropic"),
];

/// The model's configuration: $3 and $15 per million tokens, and a budget.
fn model_config(provider: LlmProvider, url: &str, budget: Option<f64>) -> LlmConfig {
    LlmConfig {
        provider,
        base_url: url.to_owned(),
        model: "test-model".into(),
        price_in_per_mtok: 3.0,
        price_out_per_mtok: 15.0,
        monthly_budget_usd: budget,
        ..LlmConfig::none()
    }
}

/// The app with a replayed model serving `names` in order.
async fn replayed(
    name: &str,
    provider: LlmProvider,
    wire: &str,
    names: &[&str],
    budget: Option<f64>,
) -> (App, Replay) {
    let server = Replay::start(names.iter().map(|n| fixture(wire, n)).collect())
        .await
        .unwrap();
    let config = model_config(provider, &server.url, budget);
    let llm = HttpLlm::new(
        config.clone(),
        RetryPolicy::new(3, Duration::from_millis(10), Duration::from_secs(2)).unwrap(),
    )
    .unwrap();
    (
        app_with(&format!("{name}_{wire}"), Arc::new(llm), config).await,
        server,
    )
}

impl App {
    fn token(&self, tenant: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        mint_dev_token(
            SECRET.as_bytes(),
            &self.config.jwt,
            tenant,
            "alice",
            &scopes,
            Duration::from_secs(600),
        )
        .unwrap()
    }

    async fn call_as(
        &self,
        method: &str,
        uri: &str,
        tenant: &str,
        scopes: &[&str],
        body: Option<Value>,
    ) -> (u16, Value, String) {
        let mut request = Request::builder().method(method).uri(uri).header(
            "authorization",
            format!("Bearer {}", self.token(tenant, scopes)),
        );
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json, text)
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let (status, json, _) = self
            .call_as(method, uri, "acme", &["plans:read", "plans:write"], body)
            .await;
        (status, json)
    }

    /// Requests a plan and runs the worker on what the API staged.
    async fn plan(&self, body: Value) -> Value {
        let (status, reply) = self.call("POST", "/v1/plans", Some(body)).await;
        assert_eq!(status, 202, "{reply}");
        assert_eq!(reply["status"], "queued");
        let id = reply["id"].as_str().unwrap().to_owned();
        assert_eq!(self.run_worker().await, 1);
        let (status, plan) = self.call("GET", &format!("/v1/plans/{id}"), None).await;
        assert_eq!(status, 200, "{plan}");
        plan
    }

    /// Hands every message on the worker's queue to the worker; the count.
    async fn run_worker(&self) -> usize {
        let mut handled = 0;
        loop {
            let deliveries = self
                .worker
                .receive(10, Duration::from_millis(50))
                .await
                .unwrap();
            if deliveries.is_empty() {
                return handled;
            }
            for delivery in deliveries {
                self.planner
                    .handle_message(Message::from_delivery(WORKER.name, &delivery))
                    .await
                    .unwrap();
                self.worker.ack(&delivery).await.unwrap();
                handled += 1;
            }
        }
    }

    /// The envelopes on the watch subscription so far.
    async fn watched(&self) -> Vec<Envelope> {
        let mut seen = Vec::new();
        loop {
            let deliveries = self
                .watch
                .receive(10, Duration::from_millis(50))
                .await
                .unwrap();
            if deliveries.is_empty() {
                return seen;
            }
            for delivery in deliveries {
                seen.push(Envelope::parse(&delivery.message.body).unwrap());
                self.watch.ack(&delivery).await.unwrap();
            }
        }
    }
}

fn goal() -> Value {
    json!({"goal": "add OAuth login to the customer portal", "deadline_min": 600, "roles": {"backend": 2, "frontend": 1, "infra": 1}, "max_tasks": 12})
}

fn ids(plan: &Value) -> Vec<String> {
    plan["plan"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A small user plan: a → b, a → c, b & c → d.
fn diamond() -> Value {
    json!({
        "roles": {"backend": 1, "frontend": 1},
        "deadline": 200,
        "tasks": [
            {"id": "a", "title": "design", "role": "backend", "duration": 30},
            {"id": "b", "title": "api", "role": "backend", "depends_on": ["a"], "estimate": {"optimistic": 40, "most_likely": 60, "pessimistic": 120}},
            {"id": "c", "title": "ui", "role": "frontend", "depends_on": ["a"], "duration": 45},
            {"id": "d", "title": "ship", "role": "backend", "depends_on": ["b", "c"], "duration": 15},
        ]
    })
}

#[tokio::test]
async fn a_good_model_plan_is_used_as_it_is_and_metered() {
    for (provider, wire) in WIRES {
        let (app, server) = replayed("good", provider, wire, &["good_plan"], None).await;
        let plan = app.plan(goal()).await;
        assert_eq!(plan["status"], "ready", "{wire}: {plan}");
        assert_eq!(plan["planner"], "llm");
        assert_eq!(plan["fallback_reason"], Value::Null);
        assert_eq!(
            ids(&plan),
            [
                "design",
                "backend-oauth",
                "frontend-login",
                "tests",
                "review",
                "deploy"
            ]
        );
        // The engine's critical path: design, the 180-minute backend task, tests, review, deploy.
        assert_eq!(
            plan["critical_path"],
            json!(["design", "backend-oauth", "tests", "review", "deploy"]),
            "{wire}"
        );
        assert_eq!(plan["schedule"].as_array().unwrap().len(), 6);
        assert!(plan["pert"]["probability_by_deadline"].as_f64().is_some());
        // The schema offered only the request's roles.
        let sent = &server.received()[0].body;
        let schema = if provider == LlmProvider::OpenAi {
            &sent["response_format"]["json_schema"]["schema"]
        } else {
            &sent["tools"][0]["input_schema"]
        };
        assert_eq!(
            schema["properties"]["tasks"]["items"]["properties"]["role"]["enum"],
            json!(["backend", "frontend", "infra"])
        );
        let (status, usage) = app.call("GET", "/v1/usage/llm", None).await;
        assert_eq!(status, 200);
        let month = &usage["months"][0];
        let (tokens_in, tokens_out) = if provider == LlmProvider::OpenAi {
            (812, 640)
        } else {
            (1024, 712)
        };
        assert_eq!(
            (
                month["calls"].as_i64(),
                month["tokens_in"].as_i64(),
                month["tokens_out"].as_i64()
            ),
            (Some(1), Some(tokens_in), Some(tokens_out))
        );
        let cost = (tokens_in as f64 * 3.0 + tokens_out as f64 * 15.0) / 1e6;
        assert!(
            (usage["spent_usd"].as_f64().unwrap() - cost).abs() < 1e-9,
            "{usage}"
        );
        assert_eq!(month["outcomes"], json!({"answered": 1}));
        let events: Vec<String> = app
            .watched()
            .await
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        assert_eq!(events, ["plan.generated"]);
    }
}

#[tokio::test]
async fn fenced_json_is_read() {
    for (provider, wire) in WIRES {
        let (app, _server) = replayed("fenced", provider, wire, &["fenced_plan"], None).await;
        let plan = app.plan(goal()).await;
        assert_eq!(plan["planner"], "llm", "{wire}: {plan}");
        assert_eq!(ids(&plan).len(), 6);
    }
}

#[tokio::test]
async fn a_cycle_or_a_dangling_dependency_goes_back_once_with_the_errors_and_the_repair_is_used() {
    for (provider, wire) in WIRES {
        for (bad, named) in [
            ("cycle", "dependency cycle"),
            ("unknown_dependency", "security-signoff"),
        ] {
            let (app, server) = replayed(bad, provider, wire, &[bad, "good_plan"], None).await;
            let plan = app.plan(goal()).await;
            assert_eq!(plan["planner"], "llm_repaired", "{wire} {bad}: {plan}");
            let received = server.received();
            assert_eq!(received.len(), 2);
            let repair = if provider == LlmProvider::OpenAi {
                received[1].body["messages"][1]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            } else {
                received[1].body["messages"][0]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            assert!(
                repair.contains(named) && repair.contains("previous answer"),
                "{wire} {bad}: {repair}"
            );
            let (_, usage) = app.call("GET", "/v1/usage/llm", None).await;
            assert_eq!(usage["months"][0]["calls"], 2);
        }
    }
}

#[tokio::test]
async fn prose_twice_falls_back_to_the_heuristic_and_says_why() {
    for (provider, wire) in WIRES {
        let (app, server) =
            replayed("prose", provider, wire, &["not_json", "not_json"], None).await;
        let plan = app.plan(goal()).await;
        assert_eq!(plan["planner"], "heuristic_fallback", "{wire}: {plan}");
        let reason = plan["fallback_reason"].as_str().unwrap();
        assert!(reason.contains("invalid twice"), "{reason}");
        assert_eq!(server.received().len(), 2);
        assert_eq!(plan["status"], "ready");
        assert!(!ids(&plan).is_empty());
    }
}

#[tokio::test]
async fn a_refusal_or_a_timeout_falls_back_without_a_repair() {
    for (provider, wire) in WIRES {
        let (app, server) = replayed("refusal", provider, wire, &["refusal"], None).await;
        let plan = app.plan(goal()).await;
        assert_eq!(plan["planner"], "heuristic_fallback");
        assert!(
            plan["fallback_reason"]
                .as_str()
                .unwrap()
                .contains("refused"),
            "{plan}"
        );
        assert_eq!(server.received().len(), 1);
        let (_, usage) = app.call("GET", "/v1/usage/llm", None).await;
        assert_eq!(usage["months"][0]["outcomes"], json!({"refused": 1}));
    }
    let server = Replay::start(vec![fixture("openai", "slow")])
        .await
        .unwrap();
    let config = LlmConfig {
        timeout: Duration::from_millis(300),
        ..model_config(LlmProvider::OpenAi, &server.url, None)
    };
    let llm = HttpLlm::new(config.clone(), HttpLlm::standard_retry()).unwrap();
    let app = app_with("timeout", Arc::new(llm), config).await;
    let plan = app.plan(goal()).await;
    assert_eq!(plan["planner"], "heuristic_fallback");
    assert!(
        plan["fallback_reason"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{plan}"
    );
}

#[tokio::test]
async fn past_the_monthly_budget_the_heuristic_plans_and_says_so() {
    for (provider, wire) in WIRES {
        // The first plan costs about a cent; the budget is half a cent.
        let (app, server) = replayed(
            "budget",
            provider,
            wire,
            &["good_plan", "good_plan"],
            Some(0.005),
        )
        .await;
        assert_eq!(app.plan(goal()).await["planner"], "llm");
        let second = app.plan(goal()).await;
        assert_eq!(second["planner"], "heuristic_fallback", "{wire}: {second}");
        assert!(
            second["fallback_reason"]
                .as_str()
                .unwrap()
                .contains("budget"),
            "{second}"
        );
        assert_eq!(
            server.received().len(),
            1,
            "{wire}: no call past the budget"
        );
        let (_, usage) = app.call("GET", "/v1/usage/llm", None).await;
        assert_eq!(usage["budget_usd"], 0.005);
        assert_eq!(usage["remaining_usd"], 0.0);
    }
}

#[tokio::test]
async fn without_a_model_the_heuristic_plans_the_same_goal_the_same_way() {
    let app = app("heuristic").await;
    let first = app.plan(goal()).await;
    assert_eq!(first["planner"], "heuristic", "{first}");
    assert_eq!(first["fallback_reason"], Value::Null);
    let second = app.plan(goal()).await;
    assert_eq!(first["plan"], second["plan"]);
    assert_eq!(first["schedule"], second["schedule"]);
}

#[tokio::test]
async fn a_user_plan_is_analysed_charted_approved_once_and_its_failures_block_the_dependents() {
    let app = app("user").await;
    let plan = app.plan(json!({"plan": diamond()})).await;
    let id = plan["id"].as_str().unwrap().to_owned();
    assert_eq!(plan["planner"], "user", "{plan}");
    // a(30) then b (PERT mean (40 + 240 + 120) / 6 = 66.67) then d(15): 111.67 minutes.
    assert!(
        (plan["cpm_makespan"].as_f64().unwrap() - (30.0 + 400.0 / 6.0 + 15.0)).abs() < 1e-9,
        "{plan}"
    );
    assert_eq!(plan["critical_path"], json!(["a", "b", "d"]));
    let (status, _, svg) = app
        .call_as(
            "GET",
            &format!("/v1/plans/{id}/gantt.svg"),
            "acme",
            &["plans:read"],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(svg.contains("<svg"), "{svg}");
    assert_eq!(app.watched().await.len(), 1);

    let (status, approved) = app
        .call("POST", &format!("/v1/plans/{id}/approve"), None)
        .await;
    assert_eq!(status, 200, "{approved}");
    let (status, again) = app
        .call("POST", &format!("/v1/plans/{id}/approve"), None)
        .await;
    assert_eq!(status, 409, "{again}");
    let events = app.watched().await;
    assert_eq!(events.len(), 1, "one plan.created");
    assert_eq!(events[0].tenant.as_deref(), Some("acme"));
    let created: PlanCreated = events[0].decode().unwrap();
    assert_eq!(created.plan_id, id);
    let edges: Vec<(String, Vec<String>)> = created
        .tasks
        .iter()
        .map(|t| (t.key.clone(), t.depends_on.clone()))
        .collect();
    let wanted: Vec<(String, Vec<String>)> = diamond()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                serde_json::from_value(t.get("depends_on").cloned().unwrap_or(json!([]))).unwrap(),
            )
        })
        .collect();
    assert_eq!(edges, wanted);
    for task in &created.tasks {
        assert_eq!(approved["tasks"][&task.key], task.task_id.as_str());
        let critical = ["a", "b", "d"].contains(&task.key.as_str());
        assert_eq!(
            task.priority.as_deref(),
            Some(if critical { "high" } else { "normal" })
        );
    }
    let (_, shown) = app.call("GET", &format!("/v1/plans/{id}"), None).await;
    assert_eq!(shown["status"], "approved");
    assert_eq!(shown["tasks"], approved["tasks"]);

    // The Orchestrator reports that `a` failed for good: b, c and d are blocked, once.
    let a = created.tasks.iter().find(|t| t.key == "a").unwrap();
    let failed = TaskFailed(TaskTransition {
        task: a.task_id.clone(),
        title: a.title.clone(),
        role: a.role.clone(),
        from: Some("in_progress".into()),
        to: "failed".into(),
        event: "fail".into(),
        actor: "scheduler".into(),
        reason: Some("out of retries".into()),
        attempt: Some(3),
        result: None,
        acceptance_criteria: Vec::new(),
    });
    let envelope = Envelope::new("/hive/orchestrator", Some("acme"), "c-1", &failed, 0).unwrap();
    let message = |envelope: &Envelope| Message {
        id: envelope.id.clone(),
        queue: WORKER.name.into(),
        body: serde_json::to_string(envelope).unwrap(),
        attributes: Default::default(),
        correlation_id: "c-1".into(),
        idempotency_key: envelope.id.clone(),
        receive_count: 1,
    };
    app.planner
        .handle_message(message(&envelope))
        .await
        .unwrap();
    app.planner
        .handle_message(message(&envelope))
        .await
        .unwrap();
    let events = app.watched().await;
    assert_eq!(events.len(), 1, "a redelivery announces nothing more");
    let blocked: WorkflowBlocked = events[0].decode().unwrap();
    assert_eq!(
        (blocked.plan_id.as_str(), blocked.failed_key.as_str()),
        (id.as_str(), "a")
    );
    assert_eq!(blocked.blocked, ["b", "c", "d"]);
    assert_eq!(blocked.reason.as_deref(), Some("out of retries"));
    // Another tenant's task of the same id is not this plan's.
    let elsewhere = Envelope::new("/hive/orchestrator", Some("globex"), "c-2", &failed, 0).unwrap();
    app.planner
        .handle_message(message(&elsewhere))
        .await
        .unwrap();
    assert!(app.watched().await.is_empty());
    // A rejected task is final too: `c` rejected blocks `d`.
    let c = created.tasks.iter().find(|t| t.key == "c").unwrap();
    let rejected = TaskRejected(TaskTransition {
        task: c.task_id.clone(),
        to: "rejected".into(),
        event: "reject".into(),
        actor: "reviewer".into(),
        reason: Some("a critical finding".into()),
        ..failed.0.clone()
    });
    let envelope = Envelope::new("/hive/orchestrator", Some("acme"), "c-3", &rejected, 0).unwrap();
    app.planner.handle_message(message(&envelope)).await.unwrap();
    let events = app.watched().await;
    assert_eq!(events.len(), 1);
    let blocked: WorkflowBlocked = events[0].decode().unwrap();
    assert_eq!((blocked.failed_key.as_str(), blocked.blocked.as_slice()), ("c", &["d".to_owned()][..]));
}

#[tokio::test]
async fn auto_approval_publishes_plan_created_after_plan_generated() {
    let app = app("auto").await;
    let plan = app
        .plan(json!({"plan": diamond(), "auto_approve": true}))
        .await;
    assert_eq!(plan["status"], "approved", "{plan}");
    let types: Vec<String> = app
        .watched()
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["plan.generated", "plan.created"]);
}

#[tokio::test]
async fn a_yaml_plan_is_read_and_its_errors_carry_lines() {
    let app = app("yaml").await;
    let yaml = "roles: {backend: 1}\ntasks:\n  - id: a\n    title: one\n    role: backend\n    duration: 10\n  - id: b\n    title: two\n    role: backend\n    duration: 5\n    depends_on: [a]\n";
    let plan = app.plan(json!({"plan_yaml": yaml})).await;
    assert_eq!(plan["planner"], "user");
    assert_eq!(plan["cpm_makespan"], 15.0);
    let bad = yaml.replace("depends_on: [a]", "depends_on: [zz]");
    let (status, reply) = app
        .call("POST", "/v1/plans", Some(json!({"plan_yaml": bad})))
        .await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["field"], "plan_yaml.tasks[1].depends_on[0]");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 11"),
        "{reply}"
    );
}

#[tokio::test]
async fn bad_plans_are_400s_naming_the_field_and_bad_bodies_422s() {
    let app = app("bad").await;
    let mut cycle = diamond();
    cycle["tasks"][0]["depends_on"] = json!(["d"]);
    let (status, reply) = app
        .call("POST", "/v1/plans", Some(json!({"plan": cycle})))
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("plan.tasks"),
        "{reply}"
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cycle"),
        "{reply}"
    );

    let mut negative = diamond();
    negative["tasks"][2]["duration"] = json!(-5);
    let (status, reply) = app
        .call("POST", "/v1/plans", Some(json!({"plan": negative})))
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("plan.tasks[2]"),
        "{reply}"
    );

    let huge: Vec<Value> = (0..10_000)
        .map(|i| json!({"id": format!("t{i}"), "role": "backend", "duration": 1}))
        .collect();
    let (status, reply) = app
        .call(
            "POST",
            "/v1/plans",
            Some(json!({"plan": {"roles": {"backend": 1}, "tasks": huge}})),
        )
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("plan"),
        "{reply}"
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("10000 tasks"),
        "{reply}"
    );

    for (body, field) in [
        (json!({}), "goal"),
        (json!({"goal": "x", "plan": diamond()}), "goal"),
        (json!({"goal": "   "}), "goal"),
        (json!({"goal": "x", "max_tasks": 1000}), "max_tasks"),
        (
            json!({"goal": "x", "roles": {"Back End": 1}}),
            "roles.Back End",
        ),
        (json!({"goal": "x", "deadline_min": 0}), "deadline_min"),
        (json!({"plan": diamond(), "roles": {"backend": 1}}), "roles"),
    ] {
        let (status, reply) = app.call("POST", "/v1/plans", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{body}: {reply}");
    }
    let (status, reply) = app
        .call(
            "POST",
            "/v1/plans",
            Some(json!({"goal": "x", "colour": "red"})),
        )
        .await;
    assert_eq!(status, 422, "{reply}");
    // Nothing was queued.
    assert_eq!(app.run_worker().await, 0);
}

#[tokio::test]
async fn scopes_and_tenants_are_enforced() {
    let app = app("tenancy").await;
    let plan = app.plan(json!({"plan": diamond()})).await;
    let id = plan["id"].as_str().unwrap();
    let (status, _, _) = app
        .call_as(
            "GET",
            &format!("/v1/plans/{id}"),
            "globex",
            &["plans:read", "plans:write"],
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = app
        .call_as(
            "POST",
            &format!("/v1/plans/{id}/approve"),
            "globex",
            &["plans:read", "plans:write"],
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = app
        .call_as(
            "GET",
            &format!("/v1/plans/{id}/gantt.svg"),
            "globex",
            &["plans:read"],
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = app
        .call_as(
            "POST",
            "/v1/plans",
            "acme",
            &["plans:read"],
            Some(json!({"plan": diamond()})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = app
        .call_as(
            "POST",
            &format!("/v1/plans/{id}/approve"),
            "acme",
            &["plans:read"],
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = app
        .call_as(
            "GET",
            &format!("/v1/plans/{id}"),
            "acme",
            &["plans:write"],
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = app
        .call_as("GET", "/v1/usage/llm", "acme", &["tasks:read"], None)
        .await;
    assert_eq!(status, 403);
    let response = app
        .router
        .clone()
        .oneshot(
            Request::builder()
                .uri(format!("/v1/plans/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, usage, _) = app
        .call_as("GET", "/v1/usage/llm", "globex", &["plans:read"], None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(usage["months"], json!([]));
    assert_eq!(usage["provider"], "none");
}

#[tokio::test]
async fn a_plan_not_made_yet_has_no_chart_and_cannot_be_approved() {
    let app = app("queued").await;
    let (status, reply) = app
        .call("POST", "/v1/plans", Some(json!({"plan": diamond()})))
        .await;
    assert_eq!(status, 202);
    let id = reply["id"].as_str().unwrap();
    let (status, shown) = app.call("GET", &format!("/v1/plans/{id}"), None).await;
    assert_eq!((status, shown["status"].as_str()), (200, Some("queued")));
    assert_eq!(
        app.call("GET", &format!("/v1/plans/{id}/gantt.svg"), None)
            .await
            .0,
        409
    );
    assert_eq!(
        app.call("POST", &format!("/v1/plans/{id}/approve"), None)
            .await
            .0,
        409
    );
}

#[test]
fn the_openapi_document_lists_every_route() {
    let document = planner::openapi::document();
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        paths,
        [
            "/v1/plans",
            "/v1/plans/{id}",
            "/v1/plans/{id}/approve",
            "/v1/plans/{id}/gantt.svg",
            "/v1/usage/llm"
        ]
    );
}

#[tokio::test]
async fn a_redelivered_request_changes_nothing_and_a_message_without_a_tenant_is_poison() {
    let app = app("redelivery").await;
    let (status, _) = app
        .call("POST", "/v1/plans", Some(json!({"plan": diamond()})))
        .await;
    assert_eq!(status, 202);
    let deliveries = app
        .worker
        .receive(10, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    let message = Message::from_delivery(WORKER.name, &deliveries[0]);
    app.planner.handle_message(message.clone()).await.unwrap();
    app.planner.handle_message(message.clone()).await.unwrap();
    app.worker.ack(&deliveries[0]).await.unwrap();
    let types: Vec<String> = app
        .watched()
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["plan.generated"]);

    let mut envelope = Envelope::parse(message.body.as_bytes()).unwrap();
    envelope.tenant = None;
    let poison = Message {
        body: serde_json::to_string(&envelope).unwrap(),
        ..message
    };
    let error = app.planner.handle_message(poison).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
}

#[tokio::test]
async fn plan_requests_are_rate_limited_per_tenant() {
    let app = app_tuned("limited", Arc::new(NoLlm), LlmConfig::none(), |s| {
        s.requests_per_minute = 2
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.call("POST", "/v1/plans", Some(json!({"plan": diamond()})))
                .await
                .0,
            202
        );
    }
    let (status, reply) = app
        .call("POST", "/v1/plans", Some(json!({"plan": diamond()})))
        .await;
    assert_eq!(status, 429, "{reply}");
    let (status, _, _) = app
        .call_as(
            "POST",
            "/v1/plans",
            "globex",
            &["plans:write"],
            Some(json!({"plan": diamond()})),
        )
        .await;
    assert_eq!(status, 202, "another tenant has its own allowance");
}
