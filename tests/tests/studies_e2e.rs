//! The studies slice against the real services: PostgreSQL, SNS, SQS and
//! S3 in LocalStack, and S3 on s3s-fs. The API runs in process (its router,
//! as on Lambda); events go through the outbox to an SNS topic of the
//! test's own, and the worker drains its subscription's SQS queue exactly
//! as the local runner and the Lambda edge do (ack on success, release on
//! failure, so the queue's redrive policy decides what reaches the
//! dead-letter queue).
//!
//! Services come from `HIVE_TEST_*` (see TEAM.md); an unreachable one fails
//! the test with its name.

use std::sync::Arc;
use std::time::Duration;

use ecosystemiser::testkit::{Client, drain, tiny_system, tradeoff_system};
use ecosystemiser::{Settings, Studies, StudyRepo, WORKER, keys};
use infra::aws::{AwsSettings, StaticCredentials};
use infra::bus::{Bus, SnsBus, SnsSettings};
use infra::config::JwtConfig;
use infra::db::{Database, PostgresDatabase, PostgresSettings};
use infra::events::Outbox;
use infra::objects::{ObjectStore, S3Store};
use infra::queue::Queue;
use serde_json::json;

const EXPECTED_OBJECTIVE: f64 = -69.679692;
const PROFILES_CSV: &str = include_str!("../../functions/ecosystemiser-engine/examples/residential_year/profiles.csv");

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid_like()[..12])
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{nanos:x}{:x}", std::process::id()).chars().rev().collect()
}

fn aws(endpoint: &str, key: &str, secret: &str) -> AwsSettings {
    AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.to_owned()),
        credentials: Some(StaticCredentials { access_key_id: key.into(), secret_access_key: secret.into() }),
    }
}

/// An SNS topic of the test's own; its subscriptions dead-letter after 2 receives.
async fn sns_bus(endpoint: &str) -> SnsBus {
    let sdk = infra::aws::sdk_config(&aws(endpoint, "test", "test")).await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let prefix = unique("studies");
    let topic = SnsBus::create_topic(&sns, &format!("{prefix}-events"))
        .await
        .unwrap_or_else(|error| panic!("LocalStack SNS at {endpoint} (HIVE_TEST_LOCALSTACK_URL) is unreachable: {error}"));
    let settings =
        SnsSettings { topic_arn: topic, queue_prefix: prefix, visibility_timeout: Duration::from_secs(30), max_receives: 2 };
    SnsBus::new(sns, aws_sdk_sqs::Client::new(&sdk), settings)
}

/// A bucket of the test's own, not yet created.
async fn s3_store(endpoint: &str, key: &str, secret: &str) -> S3Store {
    let sdk = infra::aws::sdk_config(&aws(endpoint, key, secret)).await;
    S3Store::new(infra::objects::s3_client(&sdk), &unique("studies"))
}

/// The app on PostgreSQL (a schema of its own), an SNS topic of its own
/// whose worker subscription dead-letters after 2 receives, and the given
/// store.
struct Stack {
    studies: Studies,
    client: Client,
    queue: Arc<dyn Queue>,
    bus: Arc<SnsBus>,
    database: Arc<PostgresDatabase>,
    store: Arc<S3Store>,
}

impl Stack {
    async fn start(store: S3Store, store_name: &str) -> Stack {
        let postgres = env_or("HIVE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
        let localstack = env_or("HIVE_TEST_LOCALSTACK_URL", "http://127.0.0.1:4566");
        let settings = PostgresSettings {
            url: postgres.clone(),
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
            schema: Some(unique("studies").replace('-', "_")),
        };
        let database = Arc::new(PostgresDatabase::connect(&settings).await.unwrap_or_else(|error| {
            panic!("PostgreSQL at {postgres} (HIVE_TEST_POSTGRES_URL) is unreachable: {error}")
        }));
        let bus = Arc::new(sns_bus(&localstack).await);
        let queue = bus.subscribe(&WORKER).await.expect("the worker's subscription");
        store.create_bucket().await.unwrap_or_else(|error| panic!("S3 on {store_name} is unreachable: {error}"));
        let store = Arc::new(store);
        let repo = StudyRepo::new(database.clone() as Arc<dyn Database>);
        repo.migrate().await.unwrap();
        repo.migrate().await.expect("migrations are idempotent");
        let settings = Settings::standard(&infra::config::Config::from_vars(|_| None).expect("defaults"));
        let outbox = Outbox::start(database.clone() as Arc<dyn Database>, bus.clone() as Arc<dyn Bus>, settings.outbox.clone())
            .await
            .unwrap();
        let studies = Studies {
            repo,
            objects: store.clone() as Arc<dyn ObjectStore>,
            outbox,
            cache: Arc::new(infra::cache::MemoryCache::new()),
            settings,
        };
        let jwt = JwtConfig { key: None, issuer: "hive".into(), audience: "hive-api".into() };
        let client = Client::new(studies.clone(), &jwt);
        Stack { studies, client, queue, bus, database, store }
    }

    async fn drain(&self) -> usize {
        drain(&self.studies, &self.queue, Duration::from_secs(1)).await
    }

    async fn submit(&self, token: &str, body: &serde_json::Value) -> String {
        let reply = self.client.send("POST", "/v1/studies", Some(token), Some(body)).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    async fn get(&self, token: &str, path: &str) -> ecosystemiser::testkit::Reply {
        self.client.send("GET", path, Some(token), None).await
    }

    /// Uploads `text` through the API's upload target and returns the reference.
    async fn upload(&self, token: &str, text: &str) -> String {
        let reply = self.client.send("POST", "/v1/uploads", Some(token), None).await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        let upload = reply.json();
        let target = &upload["upload"];
        let url = target["url"].as_str().unwrap();
        assert!(url.starts_with("http"), "a presigned URL: {url}");
        let mut request = reqwest::Client::new().put(url).body(text.to_owned());
        for (name, value) in target["headers"].as_object().unwrap() {
            request = request.header(name, value.as_str().unwrap());
        }
        let response = request.send().await.expect("presigned PUT");
        assert!(response.status().is_success(), "presigned PUT: {} {}", response.status(), response.text().await.unwrap());
        upload["reference"].as_str().unwrap().to_owned()
    }

    async fn stop(self) {
        self.database.drop_schema().await.unwrap();
        self.bus.delete().await.unwrap();
        for object in self.store.list("").await.unwrap() {
            self.store.delete(&object.key).await.unwrap();
        }
        self.store.delete_bucket().await.unwrap();
    }
}

/// examples/residential_year/dispatch.yaml, as the JSON the API takes.
fn reference_dispatch(profiles_csv: &str) -> serde_json::Value {
    json!({
        "name": "residential_year_dispatch", "timesteps": 8760, "timestep_hours": 1.0, "objective": "cost",
        "profiles": {"csv": profiles_csv},
        "components": [
            {"name": "grid", "type": "grid", "import_price": "import_price", "export_price": 0.08,
             "import_max_kw": 20, "export_max_kw": 10},
            {"name": "pv", "type": "solar_pv", "capacity": 5, "profile": "pv_cf"},
            {"name": "battery", "type": "battery", "energy_kwh": 10, "power_kw": 5, "efficiency_charge": 0.95,
             "efficiency_discharge": 0.95, "loss_per_hour": 0.0001, "soc_min": 0.1, "soc_initial": 0.5, "cyclic": true},
            {"name": "house", "type": "electric_demand", "profile": "demand_kw"}
        ]
    })
}

#[tokio::test]
async fn the_reference_case_and_every_failure_mode_on_postgres_sqs_and_localstack_s3() {
    let localstack = env_or("HIVE_TEST_LOCALSTACK_URL", "http://127.0.0.1:4566");
    let store = s3_store(&localstack, "test", "test").await;
    let stack = Stack::start(store, &format!("LocalStack at {localstack} (HIVE_TEST_LOCALSTACK_URL)")).await;
    let (a, b) = (stack.client.token("tenant-a"), stack.client.token("tenant-b"));

    // The reference year, its profiles uploaded through a presigned URL.
    let reference = stack.upload(&a, PROFILES_CSV).await;
    let id = stack.submit(&a, &json!({"kind": "optimize", "system": reference_dispatch(&reference)})).await;
    stack.drain().await;
    let study = stack.get(&a, &format!("/v1/studies/{id}")).await.json();
    assert_eq!(study["status"], "succeeded", "{study}");
    let results = stack.get(&a, &format!("/v1/studies/{id}/results")).await.json();
    assert_eq!(results["status"], "optimal");
    let objective = results["objective"].as_f64().unwrap();
    assert!(
        ((objective - EXPECTED_OBJECTIVE) / EXPECTED_OBJECTIVE).abs() <= 1e-6,
        "objective {objective} vs {EXPECTED_OBJECTIVE}"
    );
    let report = stack.get(&a, &format!("/v1/studies/{id}/report")).await;
    assert_eq!(report.status, 200);
    assert!(report.content_type.starts_with("text/html") && report.text().contains("<html"));
    for path in ["", "/results", "/report"] {
        assert_eq!(stack.get(&b, &format!("/v1/studies/{id}{path}")).await.status, 404, "tenant B on {path}");
    }

    // A duplicate delivery of the same job changes nothing.
    let before = stack.studies.repo.get("tenant-a", &id).await.unwrap().unwrap();
    let results_before = stack.studies.objects.get(&keys::results("tenant-a", &id)).await.unwrap();
    let again = stack.studies.job_requests("tenant-a", &id, &["optimize".into()], "duplicate").unwrap();
    stack.studies.outbox.publish_now(again, 0).await.unwrap();
    stack.drain().await;
    assert_eq!(stack.studies.repo.get("tenant-a", &id).await.unwrap().unwrap(), before);
    assert_eq!(stack.studies.objects.get(&keys::results("tenant-a", &id)).await.unwrap(), results_before);

    // A job that fails permanently fails its study, with the reason.
    let broken = stack.submit(&a, &json!({"kind": "optimize", "system": tiny_system()})).await;
    stack.studies.objects.put(&keys::input("tenant-a", &broken), b"not json".to_vec(), "application/json").await.unwrap();
    stack.drain().await;
    let study = stack.get(&a, &format!("/v1/studies/{broken}")).await.json();
    assert_eq!(study["status"], "failed", "{study}");
    assert!(study["error"].as_str().unwrap().contains("input is unreadable"), "{study}");

    // A poison message ends in the worker's dead-letter queue (after 2 receives).
    let poison = infra::queue::Message::new("study.job_requested", b"{not a job".to_vec());
    stack.bus.publish(&poison).await.unwrap();
    let dead = stack.queue.dead_letters().expect("a DLQ");
    let mut found = false;
    for _ in 0..10 {
        stack.drain().await;
        let letters = dead.receive(10, Duration::from_secs(1)).await.unwrap();
        if letters.iter().any(|d| d.message.id == poison.id) {
            found = true;
            break;
        }
    }
    assert!(found, "the poison message reached the DLQ");

    // A 20-point Pareto study completes through the fan-out.
    let pareto = stack.submit(&a, &json!({"kind": "pareto", "system": tradeoff_system(48), "options": {"points": 20}})).await;
    stack.drain().await;
    let study = stack.get(&a, &format!("/v1/studies/{pareto}")).await.json();
    assert_eq!(study["status"], "succeeded", "{study}");
    assert_eq!(study["progress"], json!({"done": 19, "failed": 0, "total": 19}));
    let front = stack.get(&a, &format!("/v1/studies/{pareto}/results")).await.json();
    let points = front["front"]["points"].as_array().unwrap();
    assert!(points.len() >= 10, "{} points", points.len());
    let (first, last) = (&points[0], points.last().unwrap());
    assert!(last["co2_kg"].as_f64().unwrap() < first["co2_kg"].as_f64().unwrap(), "a trade-off");
    assert_eq!(stack.get(&a, &format!("/v1/studies/{pareto}/report")).await.status, 200);

    // Deleting removes the study and its objects.
    assert_eq!(stack.client.send("DELETE", &format!("/v1/studies/{id}"), Some(&a), None).await.status, 204);
    assert!(stack.studies.objects.list(&keys::study_prefix("tenant-a", &id)).await.unwrap().is_empty());
    stack.stop().await;
}

#[tokio::test]
async fn uploads_results_and_reports_on_s3s_fs() {
    let url = env_or("HIVE_TEST_S3_URL", "http://127.0.0.1:9000");
    let store = s3_store(&url, "hive", "hive-secret-key").await;
    let stack = Stack::start(store, &format!("s3s-fs at {url} (HIVE_TEST_S3_URL)")).await;
    let token = stack.client.token("acme");
    let reference = stack.upload(&token, "load\n1\n2\n3\n").await;
    let mut system = tiny_system();
    system["profiles"] = json!({"csv": reference});
    let id = stack.submit(&token, &json!({"kind": "optimize", "system": system})).await;
    stack.drain().await;
    let results = stack.get(&token, &format!("/v1/studies/{id}/results")).await.json();
    assert!((results["objective"].as_f64().unwrap() - 1.2).abs() < 1e-6, "{results}");
    let report = stack.get(&token, &format!("/v1/studies/{id}/report")).await;
    assert!(report.content_type.starts_with("text/html"));
    assert_eq!(stack.get(&stack.client.token("intruder"), &format!("/v1/studies/{id}")).await.status, 404);
    stack.stop().await;
}
