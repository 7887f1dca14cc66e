//! Guardian's functions end to end on the embedded ports: the reviews API
//! with scopes and tenancy, the worker on the event the API staged, the
//! GitHub webhook (signed, tampered, replayed) and the check-run reporter
//! against a loopback server that replays GitHub's documented responses
//! (`tests/fixtures/github/`) and records what Guardian sends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::routing::{get, patch, post};
use guardian::{Guardian, Settings, webhook};
use http::Request;
use infra::auth::{Verifier, mint_dev_token};
use infra::config::Config;
use infra::edge::{Adapters, platform_router};
use infra::events::{CodeAnalysisRequested, EventName, OutboxSettings};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "guardian-test-secret-guardian-test";
const HOOK_SECRET: &str = "It's a Secret to Everybody";

fn reference(name: &str) -> String {
    let path = format!("{}/../../../shared/reference/github-webhooks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (the shared reference data beside the repository)"))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/github/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// What the loopback GitHub received.
#[derive(Default)]
struct Recorded {
    requests: Vec<(String, String, Value)>,
}

type Log = Arc<Mutex<Recorded>>;

/// A loopback GitHub answering as its REST API documents, with `contents`
/// (path and text) as the repository at the head.
async fn github(contents: &[(&str, String)]) -> (String, Log) {
    let contents: std::collections::BTreeMap<String, String> = contents.iter().map(|(p, t)| (p.to_string(), t.clone())).collect();
    let log: Log = Arc::default();
    let record = |log: &Log, method: &str, path: String, body: Value| log.lock().unwrap().requests.push((method.into(), path, body));
    let files = fixture("pull_files.json");
    let check_run = fixture("check_run.json");
    let app = axum::Router::new()
        .route(
            "/repos/{owner}/{name}/pulls/{number}/files",
            get({
                let files = files.clone();
                move |State(log): State<Log>, UrlPath((owner, name, number)): UrlPath<(String, String, u64)>| async move {
                    record(&log, "GET", format!("/repos/{owner}/{name}/pulls/{number}/files"), Value::Null);
                    ([("content-type", "application/json")], files)
                }
            }),
        )
        .route(
            "/repos/{owner}/{name}/contents/{*path}",
            get(move |State(log): State<Log>, UrlPath((_, _, path)): UrlPath<(String, String, String)>| {
                let found = contents.get(&path).cloned();
                async move {
                    record(&log, "GET", format!("contents/{path}"), Value::Null);
                    match found {
                        Some(body) => (http::StatusCode::OK, body),
                        None => (http::StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}".into()),
                    }
                }
            }),
        )
        .route(
            "/repos/{owner}/{name}/check-runs",
            post({
                let check_run = check_run.clone();
                move |State(log): State<Log>, axum::Json(body): axum::Json<Value>| async move {
                    record(&log, "POST", "check-runs".into(), body);
                    (http::StatusCode::CREATED, [("content-type", "application/json")], check_run)
                }
            }),
        )
        .route(
            "/repos/{owner}/{name}/check-runs/{id}",
            patch(move |State(log): State<Log>, UrlPath((_, _, id)): UrlPath<(String, String, u64)>, axum::Json(body): axum::Json<Value>| {
                let check_run = check_run.clone();
                async move {
                    record(&log, "PATCH", format!("check-runs/{id}"), body);
                    ([("content-type", "application/json")], check_run)
                }
            }),
        )
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), log)
}

struct App {
    _dir: tempfile::TempDir,
    config: Config,
    guardian: Guardian,
    router: axum::Router,
}

async fn app(github_url: &str) -> App {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let config = Config::from_vars(|name| (name == "HIVE_DATA_DIR").then(|| data_dir.clone())).unwrap();
    let adapters = Adapters::connect(&config).await.unwrap();
    let url = github_url.to_owned();
    let settings = Settings::from_vars(|name| match name {
        "HIVE_GITHUB_WEBHOOK_SECRET" => Some(HOOK_SECRET.into()),
        "HIVE_GITHUB_API_URL" => Some(url.clone()),
        "HIVE_GITHUB_TOKEN" => Some("ghs_test".into()),
        _ => None,
    })
    .unwrap();
    let mut outbox = OutboxSettings::standard(Duration::from_secs(3600));
    outbox.settle = Duration::ZERO;
    let guardian = Guardian::start(&adapters, settings, outbox).await.unwrap();
    let verifier = Arc::new(Verifier::hs256(SECRET.as_bytes(), &config.jwt));
    let router = platform_router(guardian::api::routes(guardian.clone(), verifier));
    App { _dir: dir, config, guardian, router }
}

impl App {
    fn token(&self, tenant: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        mint_dev_token(SECRET.as_bytes(), &self.config.jwt, tenant, "test", &scopes, Duration::from_secs(600)).unwrap()
    }

    async fn call(&self, method: &str, uri: &str, token: Option<&str>, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = self.router.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Runs the worker on every `code.analysis_requested` the app staged.
    async fn drain(&self, tenant: &str) -> usize {
        let stored = self.guardian.outbox.list(tenant, 0, Some(EventName::CodeAnalysisRequested), 100, i64::MAX / 2).await.unwrap();
        for item in &stored {
            let request: CodeAnalysisRequested = item.envelope.decode().unwrap();
            self.guardian.run(&request, &item.envelope).await.unwrap();
        }
        stored.len()
    }

    async fn webhook(&self, event: &str, delivery: &str, body: &[u8], signature: Option<String>) -> (u16, Value) {
        let mut headers = vec![("x-github-event", event.to_owned()), ("x-github-delivery", delivery.to_owned())];
        if let Some(signature) = signature {
            headers.push(("x-hub-signature-256", signature));
        }
        self.call("POST", webhook::PATH, None, &headers, body.to_vec()).await
    }
}

#[tokio::test]
async fn a_review_is_queued_analysed_and_read_back_by_its_tenant_only() {
    let app = app("http://127.0.0.1:9").await;
    let writer = app.token("acme", &["guardian:write", "guardian:read"]);
    let body = json!({"files": [
        {"path": "pkg/a.py", "content": "import pdb\nprint(1)\nx = eval('2')  # guardian: ignore[eval-usage]\n"},
        {"path": "src/lib.rs", "content": "pub fn f(x: Option<u8>) -> u8 { x.unwrap() }\n"},
    ], "fail_level": "error"});
    let (status, accepted) = app.call("POST", "/v1/guardian/reviews", Some(&writer), &[], body.to_string().into_bytes()).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    let (status, queued) = app.call("GET", &format!("/v1/guardian/reviews/{id}"), Some(&writer), &[], vec![]).await;
    assert_eq!((status, queued["status"].as_str()), (200, Some("queued")));
    let (status, _) = app.call("GET", &format!("/v1/guardian/reviews/{id}/sarif"), Some(&writer), &[], vec![]).await;
    assert_eq!(status, 409);

    assert_eq!(app.drain("acme").await, 1);
    let (status, review) = app.call("GET", &format!("/v1/guardian/reviews/{id}"), Some(&writer), &[], vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(review["status"], "succeeded");
    let mut found: Vec<(String, String, u64, bool)> = review["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().into(), f["rule"].as_str().unwrap().into(), f["line"].as_u64().unwrap(), f.get("suppressed").is_some()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("pkg/a.py".into(), "debugger".into(), 1, false),
            ("pkg/a.py".into(), "eval-usage".into(), 3, true),
            ("pkg/a.py".into(), "print-call".into(), 2, false),
            ("src/lib.rs".into(), "rust-unwrap".into(), 1, false),
        ]
    );
    assert_eq!(review["summary"]["findings"], 3);
    assert_eq!(review["summary"]["suppressed"], 1);
    assert_eq!(review["summary"]["failed"], true);
    assert_eq!(review["metrics"]["files"][1]["functions"][0]["name"], "f");

    let (status, sarif) = app.call("GET", &format!("/v1/guardian/reviews/{id}/sarif"), Some(&writer), &[], vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 4);

    // The completion was announced.
    let completed = app.guardian.outbox.list("acme", 0, Some(EventName::CodeAnalysisCompleted), 10, i64::MAX / 2).await.unwrap();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].envelope.data["findings"], 3);
    // A redelivery changes nothing.
    app.drain("acme").await;
    assert_eq!(app.guardian.outbox.list("acme", 0, Some(EventName::CodeAnalysisCompleted), 10, i64::MAX / 2).await.unwrap().len(), 1);

    // Another tenant, a missing scope, no token.
    let other = app.token("globex", &["guardian:read"]);
    assert_eq!(app.call("GET", &format!("/v1/guardian/reviews/{id}"), Some(&other), &[], vec![]).await.0, 404);
    let reader = app.token("acme", &["guardian:read"]);
    assert_eq!(app.call("POST", "/v1/guardian/reviews", Some(&reader), &[], body.to_string().into_bytes()).await.0, 403);
    assert_eq!(app.call("GET", &format!("/v1/guardian/reviews/{id}"), None, &[], vec![]).await.0, 401);
}

#[tokio::test]
async fn bad_submissions_are_refused_with_the_field() {
    let app = app("http://127.0.0.1:9").await;
    let token = app.token("acme", &["guardian:write"]);
    for (body, field) in [
        (json!({"files": []}), "files"),
        (json!({"files": [{"path": "../etc/passwd.py", "content": ""}]}), "files[0].path"),
        (json!({"files": [{"path": "/abs.py", "content": ""}]}), "files[0].path"),
    ] {
        let (status, error) = app.call("POST", "/v1/guardian/reviews", Some(&token), &[], body.to_string().into_bytes()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    // Over the size limit: a clear 413, no 5xx.
    let huge = json!({"files": [{"path": "big.py", "content": "x = 1\n".repeat(400_000)}]});
    assert_eq!(app.call("POST", "/v1/guardian/reviews", Some(&token), &[], huge.to_string().into_bytes()).await.0, 413);
}

#[tokio::test]
async fn the_webhook_verifies_dedupes_and_reports_a_pull_request_as_a_check_run() {
    let (url, log) = github(&[("app/handler.py", fixture("handler.py"))]).await;
    let app = app(&url).await;
    let ping = reference("ping.json");
    let sign = |body: &[u8]| webhook::sign(HOOK_SECRET.as_bytes(), body);

    assert_eq!(app.webhook("ping", "d-1", ping.as_bytes(), Some(sign(ping.as_bytes()))).await, (200, json!({"status": "pong"})));
    // Replayed: answered once.
    assert_eq!(app.webhook("ping", "d-1", ping.as_bytes(), Some(sign(ping.as_bytes()))).await.1["status"], "duplicate");
    // Tampered body, missing and malformed signatures.
    let tampered = ping.replace("Hello-World", "Hello-Wörld");
    assert_eq!(app.webhook("ping", "d-2", tampered.as_bytes(), Some(sign(ping.as_bytes()))).await.0, 401);
    assert_eq!(app.webhook("ping", "d-3", ping.as_bytes(), None).await.0, 401);
    assert_eq!(app.webhook("ping", "d-4", ping.as_bytes(), Some("sha256=00".into())).await.0, 401);
    // A closed pull request is not reviewed.
    let closed = reference("pull_request.closed.json");
    assert_eq!(app.webhook("pull_request", "d-5", closed.as_bytes(), Some(sign(closed.as_bytes()))).await.1["status"], "ignored");

    let opened = reference("pull_request.opened.json");
    let started = std::time::Instant::now();
    let (status, queued) = app.webhook("pull_request", "d-6", opened.as_bytes(), Some(sign(opened.as_bytes()))).await;
    assert_eq!(status, 202, "{queued}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(app.drain("github").await, 1);

    let requests = log.lock().unwrap().requests.clone();
    let paths: Vec<(&str, &str)> = requests.iter().map(|(m, p, _)| (m.as_str(), p.as_str())).collect();
    assert_eq!(
        paths,
        [
            ("GET", "contents/guardian.toml"),
            ("GET", "/repos/Codertocat/Hello-World/pulls/2/files"),
            ("GET", "contents/app/handler.py"),
            ("POST", "check-runs")
        ]
    );
    let check = &requests[3].2;
    assert_eq!(check["head_sha"], "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(check["conclusion"], "failure");
    // Annotations on the changed lines only: line 6's print is unchanged.
    let annotated: Vec<(u64, &str)> = check["output"]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["start_line"].as_u64().unwrap(), a["title"].as_str().unwrap()))
        .collect();
    assert_eq!(annotated, [(2, "print-call"), (3, "eval-usage")]);
}

#[tokio::test]
async fn a_5000_line_file_with_1000_findings_is_valid_sarif_and_20_check_run_batches() {
    let (url, log) = github(&[]).await;
    let app = app(&url).await;
    let mut source = String::new();
    for i in 0..1000 {
        source.push_str(&format!("print({i})\nx{i} = {i}\ny{i} = x{i} + 1\nz{i} = [y{i}]\nw{i} = z{i}\n"));
    }
    assert_eq!(source.lines().count(), 5000);
    let input = guardian::worker::Input { files: vec![("big.py".into(), source.into_bytes())], changed: None, config: guardian_engine::Config::standard() };
    let review = guardian::worker::analyse_files(input, guardian_engine::Severity::Warning).unwrap();
    assert_eq!(review.summary.findings, 1000);
    let sarif = guardian_engine::report::sarif(&review);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    for result in results {
        assert!(result["partialFingerprints"]["guardian/v1"].as_str().is_some_and(|f| f.len() == 16));
        assert!(result["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    let (id, requests) = app.guardian.github.report("Codertocat/Hello-World", "abc", &review, false).await.unwrap();
    assert_eq!((id, requests), (4, 20));
    let recorded = log.lock().unwrap().requests.clone();
    assert_eq!(recorded.len(), 20);
    assert_eq!(recorded[0].0, "POST");
    assert!(recorded[1..].iter().all(|(m, p, _)| m == "PATCH" && p == "check-runs/4"));
    assert!(recorded.iter().all(|(_, _, body)| body["output"]["annotations"].as_array().unwrap().len() == 50));
}

#[tokio::test]
async fn an_upload_in_parts_is_reviewed_by_reference_and_is_its_tenants_only() {
    let app = app("http://127.0.0.1:9").await;
    let token = app.token("acme", &["guardian:write", "guardian:read"]);
    let post = |uri: &str, body: Value| {
        let (token, uri, app) = (token.clone(), uri.to_owned(), &app);
        async move { app.call("POST", &uri, Some(&token), &[], body.to_string().into_bytes()).await }
    };
    // Two parts of 700 kB each: together over the 1 MiB request limit.
    let padding = format!("x = 1\n{}", "# filler line of the bundle\n".repeat(25_000));
    let (status, upload) = post(
        "/v1/guardian/uploads",
        json!({"files": [{"path": "pkg/a.py", "content": format!("print(1)\n{padding}")}, {"path": "pkg/b.py", "content": "import pdb\n"}]}),
    )
    .await;
    assert_eq!(status, 201, "{upload}");
    assert_eq!((upload["files"].as_u64(), upload["parts"].as_u64()), (Some(2), Some(1)));
    let id = upload["id"].as_str().unwrap().to_owned();
    let more = format!("/v1/guardian/uploads/{id}/files");
    let more = more.as_str();
    // The second part replaces pkg/b.py and adds pkg/c.py.
    let (status, totals) = post(
        more,
        json!({"files": [{"path": "pkg/b.py", "content": "x = eval('1')\n"}, {"path": "pkg/c.py", "content": format!("try:\n    pass\nexcept:\n    pass\n{padding}")}]}),
    )
    .await;
    assert_eq!(status, 200, "{totals}");
    assert_eq!((totals["files"].as_u64(), totals["parts"].as_u64()), (Some(4), Some(2)));
    assert!(totals["bytes"].as_u64().unwrap() > 1024 * 1024);

    let (status, accepted) = post("/v1/guardian/reviews", json!({"upload": id})).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(app.drain("acme").await, 1);
    let review_id = accepted["id"].as_str().unwrap();
    let (status, review) = app.call("GET", &format!("/v1/guardian/reviews/{review_id}"), Some(&token), &[], vec![]).await;
    assert_eq!((status, review["status"].as_str()), (200, Some("succeeded")), "{review}");
    let mut found: Vec<(String, String, u64)> = review["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().into(), f["rule"].as_str().unwrap().into(), f["line"].as_u64().unwrap()))
        .collect();
    found.sort();
    // pkg/b.py as the second part replaced it: its eval, not the first part's debugger.
    assert_eq!(
        found,
        [("pkg/a.py".into(), "print-call".into(), 1), ("pkg/b.py".into(), "eval-usage".into(), 1), ("pkg/c.py".into(), "bare-except".into(), 3)]
    );
    assert_eq!(review["summary"]["files"], 3);

    // Another tenant can neither add to the upload nor review it.
    let other = app.token("globex", &["guardian:write"]);
    let part = json!({"files": [{"path": "z.py", "content": ""}]}).to_string().into_bytes();
    assert_eq!(app.call("POST", more, Some(&other), &[], part.clone()).await.0, 404);
    let (status, error) = app.call("POST", "/v1/guardian/reviews", Some(&other), &[], json!({"upload": id}).to_string().into_bytes()).await;
    assert_eq!((status, error["error"]["field"].as_str()), (422, Some("upload")), "{error}");
    // An unknown upload, and a reader without the write scope.
    let unknown = "/v1/guardian/uploads/0c2a7d1e-3b4f-4a5b-8c6d-7e8f9a0b1c2d/files";
    assert_eq!(app.call("POST", unknown, Some(&token), &[], part.clone()).await.0, 404);
    let reader = app.token("acme", &["guardian:read"]);
    assert_eq!(app.call("POST", "/v1/guardian/uploads", Some(&reader), &[], part).await.0, 403);
}

#[tokio::test]
async fn bad_uploads_and_references_are_refused_with_the_field() {
    let app = app("http://127.0.0.1:9").await;
    let token = app.token("acme", &["guardian:write"]);
    let call = |uri: String, body: Value| {
        let token = token.clone();
        let app = &app;
        async move { app.call("POST", &uri, Some(&token), &[], body.to_string().into_bytes()).await }
    };
    for (uri, body, field) in [
        ("/v1/guardian/uploads", json!({"files": []}), "files"),
        ("/v1/guardian/uploads", json!({"files": [{"path": "a/../b.py", "content": ""}]}), "files[0].path"),
        ("/v1/guardian/reviews", json!({"upload": "not-an-id"}), "upload"),
        ("/v1/guardian/reviews", json!({"upload": "0c2a7d1e-3b4f-4a5b-8c6d-7e8f9a0b1c2d"}), "upload"),
        ("/v1/guardian/reviews", json!({}), "files"),
    ] {
        let (status, error) = call(uri.into(), body.clone()).await;
        assert_eq!((status, error["error"]["field"].as_str()), (422, Some(field)), "{uri} {body}: {error}");
    }
    let (_, upload) = call("/v1/guardian/uploads".into(), json!({"files": [{"path": "a.py", "content": "x = 1\n"}]})).await;
    let id = upload["id"].as_str().unwrap();
    let (status, error) =
        call("/v1/guardian/reviews".into(), json!({"upload": id, "files": [{"path": "a.py", "content": ""}]})).await;
    assert_eq!((status, error["error"]["field"].as_str()), (422, Some("files")), "{error}");
    // Over the upload's total: 33 parts of 1000 kB each cannot all fit in 32 MiB.
    let chunk = "#".repeat(1_000_000);
    let mut last = 0;
    for i in 0..40 {
        let (status, _) = call(format!("/v1/guardian/uploads/{id}/files"), json!({"files": [{"path": format!("f{i}.py"), "content": chunk}]})).await;
        last = status;
        if status != 200 {
            break;
        }
    }
    assert_eq!(last, 422);
}

/// Opens pull request 2 on `app` (signed) and runs the worker on it.
async fn review_pull_request(app: &App, delivery: &str) {
    let opened = reference("pull_request.opened.json");
    let signature = webhook::sign(HOOK_SECRET.as_bytes(), opened.as_bytes());
    let (status, queued) = app.webhook("pull_request", delivery, opened.as_bytes(), Some(signature)).await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(app.drain("github").await, 1);
}

#[tokio::test]
async fn a_pull_request_is_reviewed_under_the_repositorys_own_guardian_toml() {
    // print-call off, eval-usage a warning: with the default fail level
    // (error) the check succeeds, and only eval is annotated.
    let config = "# the repository's own\n[rules]\nprint-call = \"off\"\neval-usage = \"warning\"\n".to_owned();
    let (url, log) = github(&[("app/handler.py", fixture("handler.py")), ("guardian.toml", config)]).await;
    let app = app(&url).await;
    review_pull_request(&app, "d-config").await;
    let requests = log.lock().unwrap().requests.clone();
    let check = &requests.iter().find(|(m, p, _)| m == "POST" && p == "check-runs").unwrap().2;
    let annotated: Vec<(u64, &str, &str)> = check["output"]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["start_line"].as_u64().unwrap(), a["title"].as_str().unwrap(), a["annotation_level"].as_str().unwrap()))
        .collect();
    assert_eq!(annotated, [(3, "eval-usage", "warning")]);
    assert_eq!(check["conclusion"], "success");
}

#[tokio::test]
async fn a_bad_guardian_toml_is_a_failed_check_naming_its_line_and_key() {
    let config = "[rules]\nprint-call = \"off\"\neval-usage = \"loud\"\n".to_owned();
    let (url, log) = github(&[("app/handler.py", fixture("handler.py")), ("guardian.toml", config)]).await;
    let app = app(&url).await;
    review_pull_request(&app, "d-bad-config").await;
    let requests = log.lock().unwrap().requests.clone();
    let paths: Vec<(&str, &str)> = requests.iter().map(|(m, p, _)| (m.as_str(), p.as_str())).collect();
    // Nothing is read past the configuration; the check says why.
    assert_eq!(paths, [("GET", "contents/guardian.toml"), ("POST", "check-runs")]);
    let check = &requests[1].2;
    assert_eq!(check["conclusion"], "failure");
    assert_eq!(check["head_sha"], "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    let annotation = &check["output"]["annotations"][0];
    assert_eq!((annotation["path"].as_str(), annotation["start_line"].as_u64()), (Some("guardian.toml"), Some(3)), "{check}");
    let message = annotation["message"].as_str().unwrap();
    assert!(message.starts_with("guardian.toml:3: "), "{message}");
    assert!(message.contains("eval-usage"), "{message}");
    // The review itself failed with the same message, and was announced.
    let completed = app.guardian.outbox.list("github", 0, Some(EventName::CodeAnalysisCompleted), 10, i64::MAX / 2).await.unwrap();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].envelope.data["status"], "failed");
    assert_eq!(completed[0].envelope.data["error"], message);
}
