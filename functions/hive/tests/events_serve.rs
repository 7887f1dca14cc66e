//! A study's events through the real `hive serve`: listed in order, streamed
//! to a client that connects mid-way with `Last-Event-ID`, followed by
//! `hive events tail`, and never shown to another tenant.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{HIVE, Server, mint};

const STUDY_EVENTS: [&str; 4] = ["study.submitted", "study.job_requested", "study.job_completed", "study.completed"];

fn tiny_study() -> serde_json::Value {
    serde_json::json!({"kind": "optimize", "system": {
        "name": "tiny", "timesteps": 3, "timestep_hours": 1.0,
        "profiles": {"inline": {"load": [1.0, 2.0, 3.0]}},
        "components": [
            {"name": "grid", "type": "grid", "import_price": 0.2, "import_max_kw": 10},
            {"name": "house", "type": "electric_demand", "profile": "load"}
        ]
    }})
}

/// The study's events as `GET /v1/events` lists them, once all four are there.
async fn listed(client: &reqwest::Client, server: &Server, token: &str, study: &str) -> Vec<(String, String)> {
    let started = Instant::now();
    loop {
        let page: serde_json::Value =
            client.get(server.url("/v1/events")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        let events: Vec<(String, String)> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["event"]["subject"] == study)
            .map(|item| (item["cursor"].as_str().unwrap().to_owned(), item["event"]["type"].as_str().unwrap().to_owned()))
            .collect();
        if events.len() >= STUDY_EVENTS.len() {
            return events;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "events so far: {page}\n{}", server.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads `want` SSE events from a live stream; returns (id, type) pairs.
async fn stream(client: &reqwest::Client, url: &str, token: &str, last_id: &str, want: usize) -> Vec<(String, String)> {
    let mut response = client.get(url).bearer_auth(token).header("last-event-id", last_id).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while events.len() < want {
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await.expect("events in time").unwrap().expect("open stream");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
            if let (Some(id), Some(kind)) = (field("id:"), field("event:")) {
                events.push((id, kind));
            }
        }
    }
    events
}

#[tokio::test]
async fn a_studys_events_are_listed_streamed_from_last_event_id_and_tailed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let token = mint(dir.path(), "tenant-a", "studies:read,studies:write,events:read");
    let other = mint(dir.path(), "tenant-b", "events:read");
    let client = reqwest::Client::new();

    // `hive events tail` follows from before the study exists.
    let mut tail = Command::new(HIVE)
        .args(["events", "tail", "--type", "study.completed", "--url", &server.base, "--tenant", "tenant-a"])
        .env_clear()
        .env("HIVE_DATA_DIR", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let response = client.post(server.url("/v1/studies")).bearer_auth(&token).json(&tiny_study()).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let study = response.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let events = listed(&client, &server, &token, &study).await;
    let kinds: Vec<&str> = events.iter().map(|(_, kind)| kind.as_str()).collect();
    assert_eq!(kinds, STUDY_EVENTS, "in the order they happened");

    // A client that saw the first event connects mid-way and gets the rest, in order.
    let resumed = stream(&client, &server.url("/v1/events/stream"), &token, &events[0].0, 3).await;
    assert_eq!(resumed, events[1..]);

    // The tail printed the completion.
    let stdout = tail.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let line = lines_rx.recv_timeout(Duration::from_secs(30)).expect("hive events tail printed an event");
    assert!(line.contains("study.completed") && line.contains(&study), "{line}");
    tail.kill().unwrap();
    let _ = tail.wait();

    // Another tenant sees none of it.
    let theirs: serde_json::Value =
        client.get(server.url("/v1/events")).bearer_auth(&other).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["items"], serde_json::json!([]));
    assert!(server.stop());
}

#[test]
fn tail_without_a_tenant_or_token_says_what_to_give() {
    let output = Command::new(HIVE).args(["events", "tail"]).env_clear().output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tenant"));
}
