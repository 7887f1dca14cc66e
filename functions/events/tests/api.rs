//! The events API on the embedded adapters (SQLite, the in-process bus):
//! scopes, tenancy, cursors, filters, bad input, the SSE stream resumed
//! with `Last-Event-ID`, and the AsyncAPI document.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use events::{Events, Settings};
use http::Request;
use infra::auth::{Verifier, mint_dev_token};
use infra::config::Config;
use infra::edge::{Adapters, platform_router};
use infra::events::{Envelope, StudyJobRequested, StudySubmitted};
use tower::ServiceExt;

const SECRET: &str = "events-test-secret-events-test-secret";

struct App {
    _dir: tempfile::TempDir,
    config: Config,
    events: Events,
    router: axum::Router,
}

async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let config = Config::from_vars(|name| (name == "HIVE_DATA_DIR").then(|| data_dir.clone())).unwrap();
    let adapters = Adapters::connect(&config).await.unwrap();
    let mut settings = Settings::standard(&config);
    settings.outbox.settle = Duration::ZERO;
    settings.poll = Duration::from_millis(20);
    settings.stream_for = Some(Duration::from_millis(600));
    let events = Events::start(&adapters, settings).await.unwrap();
    let verifier = Arc::new(Verifier::hs256(SECRET.as_bytes(), &config.jwt));
    let router = platform_router(events::routes(events.clone(), verifier));
    App { _dir: dir, config, events, router }
}

impl App {
    fn token(&self, tenant: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        mint_dev_token(SECRET.as_bytes(), &self.config.jwt, tenant, "test", &scopes, Duration::from_secs(600)).unwrap()
    }

    async fn get(&self, uri: &str, token: Option<&str>, headers: &[(&str, &str)]) -> (u16, String, String) {
        let mut request = Request::builder().method("GET").uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, content_type, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn json(&self, uri: &str, token: &str) -> (u16, serde_json::Value) {
        let (status, _, body) = self.get(uri, Some(token), &[]).await;
        (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status} {body}: {e}")))
    }

    async fn publish(&self, tenant: &str, study: &str) {
        let submitted = StudySubmitted { study: study.into(), kind: "optimize".into(), jobs: 1 };
        let job = StudyJobRequested { tenant: tenant.into(), study: study.into(), job: "optimize".into() };
        let now = now_ms();
        let envelopes = vec![
            Envelope::new("/hive/test", Some(tenant), "c", &submitted, now).unwrap(),
            Envelope::new("/hive/test", Some(tenant), "c", &job, now).unwrap(),
        ];
        self.events.outbox.publish_now(envelopes, now).await.unwrap();
    }
}

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn subjects_and_types(page: &serde_json::Value) -> Vec<(String, String)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["event"]["subject"].as_str().unwrap().to_owned(), item["event"]["type"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn events_need_a_token_with_events_read() {
    let app = app().await;
    assert_eq!(app.get("/v1/events", None, &[]).await.0, 401);
    let wrong = app.token("acme", &["studies:read"]);
    let (status, _, body) = app.get("/v1/events", Some(&wrong), &[]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(app.get("/v1/events/stream", Some(&wrong), &[]).await.0, 403);
}

#[tokio::test]
async fn a_tenant_lists_its_own_events_in_order_after_a_cursor_and_by_type() {
    let app = app().await;
    app.publish("acme", "s1").await;
    app.publish("other", "x1").await;
    app.publish("acme", "s2").await;
    let acme = app.token("acme", &["events:read"]);
    let (status, page) = app.json("/v1/events", &acme).await;
    assert_eq!(status, 200);
    let expected: Vec<(String, String)> = [
        ("s1", "study.submitted"),
        ("s1", "study.job_requested"),
        ("s2", "study.submitted"),
        ("s2", "study.job_requested"),
    ]
    .iter()
    .map(|(s, t)| (s.to_string(), t.to_string()))
    .collect();
    assert_eq!(subjects_and_types(&page), expected);
    assert_eq!(page["next_cursor"], serde_json::Value::Null, "one page holds them all");

    let first = page["items"][0]["cursor"].as_str().unwrap();
    let (_, after) = app.json(&format!("/v1/events?after={first}&limit=2"), &acme).await;
    assert_eq!(subjects_and_types(&after), expected[1..3]);
    let next = after["next_cursor"].as_str().expect("a full page has a next cursor");
    let (_, rest) = app.json(&format!("/v1/events?after={next}"), &acme).await;
    assert_eq!(subjects_and_types(&rest), expected[3..]);

    let (_, submitted) = app.json("/v1/events?type=study.submitted", &acme).await;
    assert_eq!(subjects_and_types(&submitted).len(), 2);

    let other = app.token("other", &["events:read"]);
    let (_, theirs) = app.json("/v1/events", &other).await;
    assert_eq!(subjects_and_types(&theirs).iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["x1", "x1"]);
}

#[tokio::test]
async fn bad_queries_are_400s_that_name_the_field() {
    let app = app().await;
    let token = app.token("acme", &["events:read"]);
    for (query, field) in [
        ("type=study.exploded", "type"),
        ("after=-1", "after"),
        ("after=abc", "after"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
    ] {
        let (status, body) = app.json(&format!("/v1/events?{query}"), &token).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, body) = app.json("/v1/events?colour=red", &token).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = app.get("/v1/events/stream", Some(&token), &[("last-event-id", "yesterday")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Last-Event-ID"), "{body}");
}

/// The `id:` and `event:` of each SSE event in a body.
fn sse_events(body: &str) -> Vec<(String, String)> {
    body.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
            Some((field("id:")?, field("event:")?))
        })
        .collect()
}

#[tokio::test]
async fn the_stream_resumes_after_last_event_id_in_order() {
    let app = app().await;
    app.publish("acme", "s1").await;
    app.publish("acme", "s2").await;
    app.publish("other", "x").await;
    let token = app.token("acme", &["events:read"]);
    let (_, page) = app.json("/v1/events", &token).await;
    let cursors: Vec<String> = page["items"].as_array().unwrap().iter().map(|i| i["cursor"].as_str().unwrap().to_owned()).collect();
    assert_eq!(cursors.len(), 4);

    // A client that saw the first event reconnects: it gets the other three, in order.
    let (status, content_type, body) = app.get("/v1/events/stream", Some(&token), &[("last-event-id", &cursors[0])]).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let events = sse_events(&body);
    let ids: Vec<&str> = events.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, cursors[1..].iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(events[0].1, "study.job_requested");

    // Filtered by type, from the start.
    let (_, _, body) = app.get("/v1/events/stream?type=study.submitted", Some(&token), &[]).await;
    assert_eq!(sse_events(&body).iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(), ["study.submitted"; 2]);
}

#[tokio::test]
async fn the_asyncapi_document_is_served_without_a_token() {
    let app = app().await;
    let (status, _, body) = app.get("/v1/asyncapi.json", None, &[]).await;
    assert_eq!(status, 200);
    let document: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(document["asyncapi"], "3.0.0");
    assert!(document["channels"]["study.completed"].is_object());
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let app = app().await;
    let document = events::openapi();
    let documented: std::collections::BTreeSet<&str> = document["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(documented, events::PATHS.into_iter().collect());
    let token = app.token("acme", &["events:read"]);
    for path in events::PATHS {
        assert!(document["paths"][path]["get"].is_object(), "{path}");
        for method in ["POST", "PUT", "DELETE"] {
            let request = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {token}"));
            let response = app.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(response.status(), 405, "{method} {path}");
        }
    }
}
