//! The studies app on the embedded adapters (SQLite, files, the in-process
//! bus): the API's contract, the job flow, idempotency and the janitor.
//! The same flow against PostgreSQL, SQS and S3 is in tests/tests/studies_e2e.rs.

use std::sync::Arc;
use std::time::Duration;

use ecosystemiser::testkit::{Client, drain, tiny_system, tradeoff_system};
use ecosystemiser::{SOURCE, Settings, Studies, WORKER, api, openapi};
use infra::bus::Subscription;
use infra::config::Config;
use infra::edge::Adapters;
use infra::events::{Envelope, EventName, StudyCompleted};
use infra::queue::Queue;
use serde_json::json;

struct App {
    _dir: tempfile::TempDir,
    studies: Studies,
    queue: Arc<dyn Queue>,
    /// A second subscriber, to everything the app announces at the end.
    audit: Arc<dyn Queue>,
    client: Client,
}

const AUDIT: Subscription = Subscription { name: "audit", events: &[EventName::StudyCompleted, EventName::StudyFailed] };

async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let config = Config::from_vars(|name| (name == "HIVE_DATA_DIR").then(|| data_dir.clone())).unwrap();
    let adapters = Adapters::connect(&config).await.unwrap();
    let studies = Studies::start(&adapters, Settings::standard(&config)).await.unwrap();
    let client = Client::new(studies.clone(), &config.jwt);
    let queue = adapters.bus.adapter.subscribe(&WORKER).await.unwrap();
    let audit = adapters.bus.adapter.subscribe(&AUDIT).await.unwrap();
    App { _dir: dir, queue, audit, studies, client }
}

const QUIET: Duration = Duration::from_millis(100);

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let app = app().await;
    let document = openapi::document();
    let documented = document["paths"].as_object().unwrap();
    let mut served: Vec<&str> = api::paths();
    served.sort_unstable();
    let mut listed: Vec<&str> = documented.keys().map(String::as_str).collect();
    listed.sort_unstable();
    assert_eq!(served, listed, "router paths vs OpenAPI paths");

    // Each documented method is routed, and every other method is a 405.
    let token = app.client.token("acme");
    for (path, item) in documented {
        let concrete = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let reply = app.client.send(method, &concrete, Some(&token), None).await;
            let is_documented = item.get(method.to_lowercase()).is_some();
            assert_eq!(reply.status != 405, is_documented, "{method} {path}: {} {}", reply.status, reply.text());
            assert!(reply.status < 500, "{method} {path}: {}", reply.status);
        }
    }
    assert_eq!(document["openapi"], "3.0.3");
}

#[tokio::test]
async fn bad_requests_are_4xx_json_naming_what_is_wrong() {
    let app = app().await;
    let token = app.client.token("acme");
    let submit = |body: serde_json::Value| {
        let (client, token) = (app.client.clone(), token.clone());
        async move { client.send("POST", "/v1/studies", Some(&token), Some(&body)).await }
    };

    let reply = app.client.send("POST", "/v1/studies", None, Some(&json!({}))).await;
    assert_eq!(reply.status, 401, "missing token");
    let reader = app.client.token_with("acme", &["studies:read"]);
    let body = json!({"kind": "optimize", "system": tiny_system()});
    let reply = app.client.send("POST", "/v1/studies", Some(&reader), Some(&body)).await;
    assert_eq!(reply.status, 403, "read-only token");

    let raw = |content_type: &str, body: String| {
        http::Request::post("/v1/studies")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let reply = app.client.raw(raw("application/json", "{\"kind\": ".into())).await;
    assert_eq!((reply.status, reply.json()["error"]["code"].as_str()), (400, Some("malformed_json")));
    let reply = app.client.raw(raw("text/plain", body.to_string())).await;
    assert_eq!(reply.status, 415);
    let reply = app.client.raw(raw("application/json", format!("{{\"pad\": \"{}\"}}", "x".repeat(2 << 20)))).await;
    assert_eq!(reply.status, 413);

    let reply = submit(json!({"kind": "sizing", "system": tiny_system()})).await;
    assert_eq!((reply.status, reply.json()["error"]["field"].as_str()), (400, Some("kind")));
    let reply = submit(json!({"kind": "uncertainty", "system": tiny_system(), "options": {"samples": -1, "parameters": []}})).await;
    assert_eq!((reply.status, reply.json()["error"]["field"].as_str()), (400, Some("options.samples")));

    let mut system = tiny_system();
    system["components"][0]["import_max_kw"] = json!(-5);
    system["components"][1]["profile"] = json!("lode");
    let reply = submit(json!({"kind": "optimize", "system": system})).await;
    assert_eq!(reply.status, 400);
    let json = reply.json();
    assert_eq!(json["error"]["code"], "invalid_study");
    let paths: Vec<&str> = json["error"]["details"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["system.components[0].import_max_kw", "system.components[1].profile"], "{json}");

    let reply = app.client.send("GET", "/v1/studies?limit=0", Some(&token), None).await;
    assert_eq!((reply.status, reply.json()["error"]["field"].as_str()), (400, Some("limit")));
    let reply = app.client.send("GET", "/v1/studies?cursor=zz", Some(&token), None).await;
    assert_eq!((reply.status, reply.json()["error"]["field"].as_str()), (400, Some("cursor")));
    let reply = app.client.send("GET", "/v1/studies?status=done", Some(&token), None).await;
    assert_eq!((reply.status, reply.json()["error"]["field"].as_str()), (400, Some("status")));
}

#[tokio::test]
async fn an_optimisation_flows_from_submit_to_report_for_its_tenant_only() {
    let app = app().await;
    let (a, b) = (app.client.token("tenant-a"), app.client.token("tenant-b"));
    let body = json!({"kind": "optimize", "system": tiny_system()});
    let reply = app.client.send("POST", "/v1/studies", Some(&a), Some(&body)).await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.json()["status"], "queued");

    let reply = app.client.send("GET", &format!("/v1/studies/{id}/results"), Some(&a), None).await;
    assert_eq!(reply.status, 409, "not ready yet");
    assert!(drain(&app.studies, &app.queue, QUIET).await >= 1);

    let study = app.client.send("GET", &format!("/v1/studies/{id}"), Some(&a), None).await.json();
    assert_eq!(study["status"], "succeeded", "{study}");
    assert_eq!(study["progress"], json!({"done": 1, "failed": 0, "total": 1}));
    let results = app.client.send("GET", &format!("/v1/studies/{id}/results"), Some(&a), None).await.json();
    assert_eq!(results["status"], "optimal");
    assert!((results["objective"].as_f64().unwrap() - 1.2).abs() < 1e-6, "{results}");
    let report = app.client.send("GET", &format!("/v1/studies/{id}/report"), Some(&a), None).await;
    assert!(report.content_type.starts_with("text/html") && report.text().contains("<html"), "{}", report.content_type);
    let series = app.client.send("GET", &format!("/v1/studies/{id}/series.csv"), Some(&a), None).await;
    assert_eq!(series.status, 200);
    assert!(series.content_type.starts_with("text/csv"));

    for path in ["", "/results", "/report", "/series.csv"] {
        let reply = app.client.send("GET", &format!("/v1/studies/{id}{path}"), Some(&b), None).await;
        assert_eq!(reply.status, 404, "tenant B on {path}");
    }
    assert_eq!(app.client.send("DELETE", &format!("/v1/studies/{id}"), Some(&b), None).await.status, 404);
    let listed = app.client.send("GET", "/v1/studies", Some(&b), None).await.json();
    assert_eq!(listed["items"], json!([]));

    assert_eq!(app.client.send("DELETE", &format!("/v1/studies/{id}"), Some(&a), None).await.status, 204);
    assert_eq!(app.client.send("GET", &format!("/v1/studies/{id}"), Some(&a), None).await.status, 404);
    assert!(app.studies.objects.list("tenants/tenant-a/studies/").await.unwrap().is_empty());
}

#[tokio::test]
async fn idempotent_submissions_return_the_first_study() {
    let app = app().await;
    let token = app.client.token("acme");
    let body = json!({"kind": "optimize", "system": tiny_system()});
    let submit = |key: &str, body: &serde_json::Value| {
        let request = http::Request::post("/v1/studies")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        app.client.raw(request)
    };
    let first = submit("k-1", &body).await.json()["id"].clone();
    let again = submit("k-1", &body).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["id"], first);
    let mut other = body.clone();
    other["options"] = json!({"objective": "co2"});
    assert_eq!(submit("k-1", &other).await.status, 422);
    assert_ne!(submit("k-2", &body).await.json()["id"], first);
    let listed = app.client.send("GET", "/v1/studies", Some(&token), None).await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn listing_pages_with_an_opaque_cursor_and_filters_by_status() {
    let app = app().await;
    let token = app.client.token("acme");
    let body = json!({"kind": "optimize", "system": tiny_system()});
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await.json()["id"].clone());
    }
    let mut seen = Vec::new();
    let mut uri = "/v1/studies?limit=2".to_owned();
    loop {
        let page = app.client.send("GET", &uri, Some(&token), None).await.json();
        seen.extend(page["items"].as_array().unwrap().iter().map(|s| s["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/studies?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    ids.sort_by_key(|id| id.to_string());
    seen.sort_by_key(|id| id.to_string());
    assert_eq!(seen, ids);
    let queued = app.client.send("GET", "/v1/studies?status=queued", Some(&token), None).await.json();
    assert_eq!(queued["items"].as_array().unwrap().len(), 5);
    let done = app.client.send("GET", "/v1/studies?status=succeeded", Some(&token), None).await.json();
    assert_eq!(done["items"], json!([]));
}

#[tokio::test]
async fn profiles_can_be_uploaded_first_and_named_by_reference() {
    let app = app().await;
    let token = app.client.token("acme");
    let upload = app.client.send("POST", "/v1/uploads", Some(&token), None).await;
    assert_eq!(upload.status, 201, "{}", upload.text());
    let upload = upload.json();
    let url = upload["upload"]["url"].as_str().unwrap();
    let path = url.strip_prefix("http://127.0.0.1:8080").expect("a direct upload route locally");
    let request = http::Request::put(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "text/csv")
        .body(axum::body::Body::from("load\n1\n2\n3\n"))
        .unwrap();
    assert_eq!(app.client.raw(request).await.status, 201);

    let mut system = tiny_system();
    system["profiles"] = json!({"csv": upload["reference"]});
    let body = json!({"kind": "optimize", "system": system});
    let reply = app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    drain(&app.studies, &app.queue, QUIET).await;
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let results = app.client.send("GET", &format!("/v1/studies/{id}/results"), Some(&token), None).await.json();
    assert!((results["objective"].as_f64().unwrap() - 1.2).abs() < 1e-6, "{results}");

    // Another tenant cannot name this upload.
    let other = app.client.token("other");
    let reply = app.client.send("POST", "/v1/studies", Some(&other), Some(&body)).await;
    assert_eq!((reply.status, reply.json()["error"]["field"].as_str()), (400, Some("system.profiles.csv")));
}

#[tokio::test]
async fn pareto_and_uncertainty_studies_fan_out_and_aggregate() {
    let app = app().await;
    let token = app.client.token("acme");
    let body = json!({"kind": "pareto", "system": tradeoff_system(24), "options": {"points": 6}});
    let pareto = app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await.json()["id"].as_str().unwrap().to_owned();
    let spec = json!({"samples": 5, "seed": 3, "parameters": [
        {"target": "house.scale", "distribution": {"type": "uniform", "low": 0.8, "high": 1.2}}]});
    let body = json!({"kind": "uncertainty", "system": tradeoff_system(24), "options": spec});
    let reply = app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let sampled = reply.json()["id"].as_str().unwrap().to_owned();
    drain(&app.studies, &app.queue, QUIET).await;

    let study = app.client.send("GET", &format!("/v1/studies/{pareto}"), Some(&token), None).await.json();
    assert_eq!(study["status"], "succeeded", "{study}");
    assert_eq!(study["progress"]["total"], 5, "one anchors job and four ε points");
    let results = app.client.send("GET", &format!("/v1/studies/{pareto}/results"), Some(&token), None).await.json();
    let points = results["front"]["points"].as_array().unwrap();
    assert!(points.len() >= 2, "{results}");
    for pair in points.windows(2) {
        assert!(pair[1]["co2_kg"].as_f64().unwrap() <= pair[0]["co2_kg"].as_f64().unwrap() + 1e-6);
        assert!(pair[1]["cost"].as_f64().unwrap() >= pair[0]["cost"].as_f64().unwrap() - 1e-6);
    }

    let study = app.client.send("GET", &format!("/v1/studies/{sampled}"), Some(&token), None).await.json();
    assert_eq!((study["status"].as_str(), &study["progress"]["done"]), (Some("succeeded"), &json!(5)), "{study}");
    let results = app.client.send("GET", &format!("/v1/studies/{sampled}/results"), Some(&token), None).await.json();
    assert_eq!(results["summary"]["samples"], 5);
    let report = app.client.send("GET", &format!("/v1/studies/{sampled}/report"), Some(&token), None).await;
    assert!(report.content_type.starts_with("text/html"));
}

#[tokio::test]
async fn redelivered_jobs_change_nothing_and_poison_is_refused() {
    let app = app().await;
    let token = app.client.token("acme");
    let body = json!({"kind": "optimize", "system": tiny_system()});
    let id = app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await.json()["id"].as_str().unwrap().to_owned();
    drain(&app.studies, &app.queue, QUIET).await;
    let before = app.studies.repo.get("acme", &id).await.unwrap().unwrap();

    let job = ecosystemiser::worker::JobRequest { tenant: "acme".into(), study: id.clone(), job: "optimize".into() };
    let again = Envelope::new(SOURCE, Some("acme"), "again", &job, 0).unwrap();
    app.studies.run_job(&job, &again).await.unwrap();
    app.studies.run_job(&job, &again).await.unwrap();
    let requests = app.studies.job_requests("acme", &id, &["optimize".into()], "again").unwrap();
    app.studies.outbox.publish_now(requests, 0).await.unwrap();
    drain(&app.studies, &app.queue, QUIET).await;
    assert_eq!(app.studies.repo.get("acme", &id).await.unwrap().unwrap(), before);

    let poison = infra::edge::Message::new(
        "studies-worker",
        "m-1",
        "not json",
        [(infra::edge::queue::EVENT_ATTRIBUTE.to_owned(), "study.job_requested".to_owned())].into(),
    );
    let error = app.studies.handle_message(poison).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    // A job its study never planned is poison while the study runs, and
    // dropped once it has finished.
    let finished = ecosystemiser::worker::JobRequest { tenant: "acme".into(), study: id.clone(), job: "bogus".into() };
    let envelope = Envelope::new(SOURCE, Some("acme"), "c", &finished, 0).unwrap();
    app.studies.run_job(&finished, &envelope).await.unwrap();
    let running = app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await.json()["id"].as_str().unwrap().to_owned();
    let unplanned = ecosystemiser::worker::JobRequest { tenant: "acme".into(), study: running, job: "bogus".into() };
    let envelope = Envelope::new(SOURCE, Some("acme"), "c", &unplanned, 0).unwrap();
    assert!(!app.studies.run_job(&unplanned, &envelope).await.unwrap_err().is_retryable());
    // A job request of a version this build does not know is poison too.
    let mut future = Envelope::new(SOURCE, Some("acme"), "c", &job, 0).unwrap();
    future.dataversion = 9;
    let message = infra::edge::Message::new("studies-worker", "m-2", &serde_json::to_string(&future).unwrap(), Default::default());
    let error = app.studies.handle_message(message).await.unwrap_err();
    assert!(error.to_string().contains("version 9"), "{error}");
}

#[tokio::test]
async fn the_end_of_a_study_fans_out_to_every_subscriber_once() {
    let app = app().await;
    let token = app.client.token("acme");
    let body = json!({"kind": "optimize", "system": tiny_system()});
    let id = app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await.json()["id"].as_str().unwrap().to_owned();
    drain(&app.studies, &app.queue, QUIET).await;
    let deliveries = app.audit.receive(10, QUIET).await.unwrap();
    assert_eq!(deliveries.len(), 1, "one study.completed for the second subscriber");
    let envelope = Envelope::parse(&deliveries[0].message.body).unwrap();
    let completed: StudyCompleted = envelope.decode().unwrap();
    assert_eq!((completed.0.study.as_str(), completed.0.status.as_str()), (id.as_str(), "succeeded"));
    assert_eq!(envelope.tenant.as_deref(), Some("acme"));
    assert_eq!(envelope.subject, id);
    assert_eq!(app.studies.outbox.unsent().await.unwrap(), 0, "every event was relayed");
}

#[tokio::test]
async fn a_job_with_unreadable_input_fails_its_study_with_the_reason() {
    let app = app().await;
    let token = app.client.token("acme");
    let body = json!({"kind": "optimize", "system": tiny_system()});
    let id = app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await.json()["id"].as_str().unwrap().to_owned();
    app.studies.objects.put(&ecosystemiser::keys::input("acme", &id), b"{garbage".to_vec(), "application/json").await.unwrap();
    drain(&app.studies, &app.queue, QUIET).await;
    let study = app.client.send("GET", &format!("/v1/studies/{id}"), Some(&token), None).await.json();
    assert_eq!(study["status"], "failed");
    assert!(study["error"].as_str().unwrap().contains("unreadable"), "{study}");
    assert_eq!(study["progress"]["failed"], 1);
}

#[tokio::test]
async fn the_janitor_requeues_once_then_fails_and_expires_old_studies() {
    let app = app().await;
    let token = app.client.token("acme");
    let body = json!({"kind": "optimize", "system": tiny_system()});
    let id = app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await.json()["id"].as_str().unwrap().to_owned();
    // The job message is lost.
    let lost = app.queue.receive(10, QUIET).await.unwrap();
    for delivery in &lost {
        app.queue.ack(delivery).await.unwrap();
    }
    let later = ecosystemiser::time::now_ms() + 16 * 60 * 1000;
    let sweep = app.studies.sweep(later).await.unwrap();
    assert_eq!(sweep.requeued, 1);
    assert_eq!(app.queue.receive(10, QUIET).await.unwrap().len(), 1, "the pending job was sent again");
    let sweep = app.studies.sweep(later + 16 * 60 * 1000).await.unwrap();
    assert_eq!(sweep.failed, 1);
    let study = app.studies.repo.get("acme", &id).await.unwrap().unwrap();
    assert_eq!(study.status.as_str(), "failed");
    assert!(study.error.unwrap().contains("no progress"));

    let sweep = app.studies.sweep(later + 31 * 24 * 3600 * 1000).await.unwrap();
    assert_eq!(sweep.deleted, 1);
    assert!(app.studies.repo.get("acme", &id).await.unwrap().is_none());
    assert!(app.studies.objects.list("tenants/acme/").await.unwrap().is_empty());
}

#[tokio::test]
async fn submissions_past_a_tenants_rate_limit_get_429_and_other_tenants_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let config = Config::from_vars(|name| match name {
        "HIVE_DATA_DIR" => Some(data_dir.clone()),
        "HIVE_RATE_LIMIT_PER_MINUTE" => Some("2".into()),
        _ => None,
    })
    .unwrap();
    let adapters = Adapters::connect(&config).await.unwrap();
    let studies = Studies::start(&adapters, Settings::standard(&config)).await.unwrap();
    let client = Client::new(studies, &config.jwt);
    let body = json!({"kind": "optimize", "system": tiny_system()});
    let acme = client.token("acme");
    for _ in 0..2 {
        assert_eq!(client.send("POST", "/v1/studies", Some(&acme), Some(&body)).await.status, 202);
    }
    let refused = client.send("POST", "/v1/studies", Some(&acme), Some(&body)).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"]["code"], "rate_limited");
    let other = client.token("other");
    assert_eq!(client.send("POST", "/v1/studies", Some(&other), Some(&body)).await.status, 202);
}

#[tokio::test]
async fn the_server_refuses_what_its_schema_refuses_and_takes_what_it_admits() {
    let app = app().await;
    let token = app.client.token("acme");
    let field = |reply: &ecosystemiser::testkit::Reply| (reply.status, reply.json()["error"]["field"].as_str().map(str::to_owned));

    // Any cursor of the documented form is a position, whether or not a study is there.
    let reply =
        app.client.send("GET", "/v1/studies?cursor=0.00000000-0000-4000-8000-000000000000", Some(&token), None).await;
    assert_eq!((reply.status, reply.json()["items"].clone()), (200, json!([])), "{}", reply.text());
    for name in ["status", "limit", "cursor"] {
        let reply = app.client.send("GET", &format!("/v1/studies?{name}="), Some(&token), None).await;
        assert_eq!(field(&reply), (400, Some(name.to_owned())), "an empty {name}");
    }

    // Options are the kind's own, and never null.
    let submit = |options: serde_json::Value| {
        let (client, token) = (app.client.clone(), token.clone());
        async move {
            let body = json!({"kind": "pareto", "system": tiny_system(), "options": options});
            client.send("POST", "/v1/studies", Some(&token), Some(&body)).await
        }
    };
    assert_eq!(field(&submit(json!({"solver": "lp"})).await), (400, Some("options.solver".into())));
    assert_eq!(field(&submit(json!(null)).await), (400, Some("options".into())));
    assert_eq!(field(&submit(json!({"time_limit_s": null})).await), (400, Some("options.time_limit_s".into())));
    assert_eq!(submit(json!({"points": 3})).await.status, 202);

    // An upload is CSV text: a header row, then rows.
    let put = |content_type: &str, body: &str| {
        http::Request::put("/v1/uploads/0c2a7d1e-3b4f-4a5b-8c6d-7e8f9a0b1c2d")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap()
    };
    assert_eq!(app.client.raw(put("text/csv", "{}")).await.status, 400);
    assert_eq!(app.client.raw(put("text/csv", "")).await.status, 400);
    assert_eq!(app.client.raw(put("application/json", "load\n1")).await.status, 415);
    assert_eq!(app.client.raw(put("text/csv; charset=utf-8", "load\n1\n2\n")).await.status, 201);
}

/// Systems that use every component type and every form of each value; the
/// schemathesis check also validates each against the OpenAPI System schema,
/// so the schema is shown to admit what the parser accepts.
const SYSTEMS: &str = include_str!("fixtures/systems.json");

#[tokio::test]
async fn the_schema_fixtures_are_systems_the_api_accepts() {
    let app = app().await;
    let token = app.client.token("acme");
    let systems: Vec<serde_json::Value> = serde_json::from_str(SYSTEMS).unwrap();
    assert!(systems.len() >= 2);
    for system in systems {
        let files = json!({"profiles.csv": "demand_kw\n1\n2\n"});
        let body = json!({"kind": "optimize", "system": system, "files": files});
        let reply = app.client.send("POST", "/v1/studies", Some(&token), Some(&body)).await;
        assert_eq!(reply.status, 202, "{}: {}", system["name"], reply.text());
    }
}
