//! The test kit: the app on real PostgreSQL (a schema per test) and Redis
//! (a key prefix per test), the dispatcher's two lanes consumed in the
//! background from an in-process bus (as `hive serve` runs them) with the
//! scheduler ticking beside them, and a loopback receiver that answers from
//! a script and records what arrives.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, Request, StatusCode};
use infra::auth::{Verifier, mint_dev_token};
use infra::bus::{Bus, MemoryBus};
use infra::cache::{RedisCache, RedisSettings};
use infra::config::Config;
use infra::db::{PostgresDatabase, PostgresSettings};
use infra::edge::adapters::Port;
use infra::edge::{Adapters, IdempotencyStore, MemoryIdempotencyStore, platform_router};
use infra::objects::FsStore;
use notifications::{Notifications, Settings};
use serde_json::Value;
use tower::ServiceExt;

pub const SECRET: &str = "notifications-test-secret-0123456789";

pub struct App {
    pub app: Notifications,
    pub router: axum::Router,
    pub config: Config,
    pub bus: Arc<dyn Bus>,
    stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// The app with `vars` as its environment, over a fresh schema and key prefix.
pub async fn app(name: &str, vars: &[(&str, &str)]) -> App {
    let dir = tempfile::tempdir().unwrap();
    let unique = format!("notif_{name}_{}_{}", std::process::id(), rand::random::<u32>());
    let url = env_or("HIVE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
    let postgres = PostgresSettings { url: url.clone(), max_connections: 16, connect_timeout: Duration::from_secs(5), schema: Some(unique.clone()) };
    let database = PostgresDatabase::connect(&postgres).await.unwrap_or_else(|e| panic!("PostgreSQL at {url} (HIVE_TEST_POSTGRES_URL): {e}"));
    let redis_url = env_or("HIVE_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let redis = RedisSettings { url: redis_url.clone(), key_prefix: format!("{unique}:"), timeout: Duration::from_secs(2) };
    let cache = RedisCache::connect(&redis).await.unwrap_or_else(|e| panic!("Redis at {redis_url} (HIVE_TEST_REDIS_URL): {e}"));
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Duration::from_secs(30), 5));
    let adapters = Adapters {
        database: Port { adapter: Arc::new(database), kind: "postgres" },
        cache: Port { adapter: Arc::new(cache), kind: "redis" },
        bus: Port { adapter: bus.clone(), kind: "memory" },
        objects: Port { adapter: Arc::new(FsStore::open(dir.path()).await.unwrap()), kind: "fs" },
    };
    let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let settings = Settings::from_vars(|name| vars.get(name).cloned()).unwrap();
    let app = Notifications::start(&adapters, settings).await.unwrap();
    let config = Config::from_vars(|_| None).unwrap();
    let verifier = Arc::new(Verifier::hs256(SECRET.as_bytes(), &config.jwt));
    let router = platform_router(notifications::api::routes(app.clone(), verifier));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryIdempotencyStore::new(100_000));
    for consumer in notifications::dispatch::consumers(&app) {
        let queue = bus.subscribe(&consumer.subscription).await.unwrap();
        tokio::spawn(infra::edge::runner::consume(queue, consumer, store.clone(), stopped.clone()));
    }
    let scheduler = app.clone();
    tokio::spawn(async move {
        loop {
            if let Err(error) = scheduler.sweep().await {
                eprintln!("scheduler: {error}");
            }
            tokio::select! {
                _ = stopped.changed() => return,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    });
    App { app, router, config, bus, stop, _dir: dir }
}

/// Test schedules: short pauses, and loopback receivers allowed.
pub const FAST: &[(&str, &str)] = &[("HIVE_NOTIFICATIONS_RETRY_SCHEDULE", "300ms,300ms"), ("HIVE_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS", "true")];

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl App {
    pub fn token(&self, tenant: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        mint_dev_token(SECRET.as_bytes(), &self.config.jwt, tenant, "tester", &scopes, Duration::from_secs(600)).unwrap()
    }

    pub async fn call_as(&self, method: &str, uri: &str, token: &str, headers: &[(&str, &str)], body: Option<Value>) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
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

    pub async fn call(&self, method: &str, uri: &str, tenant: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.token(tenant, &["notifications:read", "notifications:write"]);
        self.call_as(method, uri, &token, &[], body).await
    }

    pub async fn ok(&self, method: &str, uri: &str, tenant: &str, body: Value) -> Value {
        let (status, reply) = self.call(method, uri, tenant, Some(body)).await;
        assert!((200..300).contains(&status), "{method} {uri}: {status} {reply}");
        reply
    }

    /// A webhook endpoint; returns its id and its secret.
    pub async fn webhook(&self, tenant: &str, url: &str, extra: Value) -> (String, String) {
        let mut body = serde_json::json!({"kind": "webhook", "url": url});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let reply = self.ok("POST", "/v1/notification-endpoints", tenant, body).await;
        (reply["id"].as_str().unwrap().to_owned(), reply["secret"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn send(&self, tenant: &str, endpoint: &str, subject: &str) -> String {
        let reply = self.ok("POST", "/v1/notifications", tenant, serde_json::json!({"endpoint_id": endpoint, "subject": subject, "text": "body"})).await;
        reply["id"].as_str().unwrap().to_owned()
    }

    pub async fn notification(&self, tenant: &str, id: &str) -> Value {
        let (status, reply) = self.call("GET", &format!("/v1/notifications/{id}"), tenant, None).await;
        assert_eq!(status, 200, "{reply}");
        reply
    }

    /// Waits until the notification reaches `status`.
    pub async fn until_status(&self, tenant: &str, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let reply = self.notification(tenant, id).await;
            if reply["status"] == status {
                return reply;
            }
            assert!(Instant::now() < deadline, "never {status}: {reply}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

/// A scripted answer: a status and its headers.
type Answer = (u16, Vec<(String, String)>);

/// A loopback HTTP receiver: each path answers from its script (status and
/// headers), then 200 once the script is used up.
#[derive(Clone, Default)]
pub struct Receiver {
    pub received: Arc<Mutex<Vec<Received>>>,
    scripts: Arc<Mutex<BTreeMap<String, VecDeque<Answer>>>>,
    always: Arc<Mutex<BTreeMap<String, u16>>>,
    pub url: String,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Receiver { url: format!("http://{}", listener.local_addr().unwrap()), ..Receiver::default() };
        let state = receiver.clone();
        let router = axum::Router::new().fallback(answer).with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        receiver.url = receiver.url.clone();
        receiver
    }

    pub fn script(&self, path: &str, answers: &[(u16, &[(&str, &str)])]) {
        let answers = answers.iter().map(|(status, headers)| (*status, headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())).collect();
        self.scripts.lock().unwrap().insert(path.to_owned(), answers);
    }

    pub fn always(&self, path: &str, status: u16) {
        self.always.lock().unwrap().insert(path.to_owned(), status);
    }

    pub fn at(&self, path: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn until_count(&self, path: &str, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.at(path);
            if got.len() >= count {
                return got;
            }
            assert!(Instant::now() < deadline, "{path}: {} of {count} requests arrived", got.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn answer(State(receiver): State<Receiver>, request: Request<Body>) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), usize::MAX).await.unwrap_or_default();
    receiver.received.lock().unwrap().push(Received { path: path.clone(), headers, body, at: Instant::now() });
    let scripted = receiver.scripts.lock().unwrap().get_mut(&path).and_then(VecDeque::pop_front);
    let always = receiver.always.lock().unwrap().get(&path).copied();
    let (status, headers) = scripted.unwrap_or((always.unwrap_or(200), Vec::new()));
    let mut response = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (name, value) in headers {
        response = response.header(name, value);
    }
    response.body(Body::from(format!("answer {status}"))).unwrap()
}
