//! Priorities, quiet hours, digests and Slack, on PostgreSQL and Redis:
//! a normal message waits out the endpoint's quiet hours while an urgent
//! one goes at once; low ones become one digest per window; Slack gets
//! text and blocks, one message per second, and its 429 is honoured.

mod common;

use std::time::Duration;

use common::{FAST, Receiver, app};
use serde_json::json;

fn hhmm(ms: i64) -> String {
    infra::time::rfc3339(ms)[11..16].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quiet_hours_hold_normal_messages_and_urgent_ones_go_at_once() {
    let app = app("quiet", FAST).await;
    let receiver = Receiver::start().await;
    let now = infra::time::now_ms();
    // A window from an hour ago to an hour ahead, in UTC.
    let quiet = json!({"start": hhmm(now - 3_600_000), "end": hhmm(now + 3_600_000), "time_zone": "UTC"});
    let (endpoint, _) = app.webhook("acme", &receiver.url("/night"), json!({"quiet_hours": quiet})).await;
    let held = app.send("acme", &endpoint, "Can wait").await;
    let urgent = app.ok("POST", "/v1/notifications", "acme", json!({"endpoint_id": endpoint, "subject": "Wake up", "text": "now", "priority": "urgent"})).await;
    app.until_status("acme", urgent["id"].as_str().unwrap(), "delivered", Duration::from_secs(10)).await;
    let waiting = app.notification("acme", &held).await;
    assert_eq!(waiting["status"], "held");
    let due = waiting["due_at"].as_i64().unwrap();
    let end_minute = (now + 3_600_000) / 60_000 * 60_000;
    assert_eq!(due, end_minute, "held until the window's end");
    assert_eq!(receiver.at("/night").len(), 1, "only the urgent one went");
    // The scheduler releases it once the window is over.
    app.app.sweep_at(due).await.unwrap();
    assert_eq!(app.notification("acme", &held).await["status"], "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn low_priority_messages_become_one_digest_per_window() {
    let app = app("digest", FAST).await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = app.webhook("acme", &receiver.url("/digest"), json!({"digest_window_s": 60})).await;
    let mut ids = Vec::new();
    for subject in ["First", "Second", "Third"] {
        let reply = app.ok("POST", "/v1/notifications", "acme", json!({"endpoint_id": endpoint, "subject": subject, "text": "x", "priority": "low"})).await;
        assert_eq!(reply["status"], "digest");
        ids.push(reply["id"].as_str().unwrap().to_owned());
    }
    let normal = app.send("acme", &endpoint, "Not batched").await;
    app.until_status("acme", &normal, "delivered", Duration::from_secs(10)).await;
    app.app.sweep_at(infra::time::now_ms() + 61_000).await.unwrap();
    let got = receiver.until_count("/digest", 2, Duration::from_secs(10)).await;
    let digest: serde_json::Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(digest["data"]["subject"], "Digest (3 items)");
    assert_eq!(digest["data"]["text"], "- First\n- Second\n- Third");
    for id in &ids {
        assert_eq!(app.notification("acme", id).await["status"], "digested");
    }
    // A second pass finds nothing more to send.
    app.app.sweep_at(infra::time::now_ms() + 122_000).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.at("/digest").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slack_gets_text_and_blocks_one_per_second_and_its_429_is_honoured() {
    let app = app("slack", FAST).await;
    let receiver = Receiver::start().await;
    receiver.script("/slack", &[(429, &[("Retry-After", "1")])]);
    let reply = app.ok("POST", "/v1/notification-endpoints", "acme", json!({"kind": "slack", "url": receiver.url("/slack")})).await;
    assert!(reply["secret"].is_null());
    let endpoint = reply["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(app.send("acme", endpoint, &format!("Deploy {n}")).await);
    }
    for id in &ids {
        app.until_status("acme", id, "delivered", Duration::from_secs(20)).await;
    }
    let got = receiver.at("/slack");
    assert_eq!(got.len(), 4, "three messages, one of them twice after the 429");
    for pair in got.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(900), "Slack is paced to one per second: {:?}", pair[1].at - pair[0].at);
    }
    let body: serde_json::Value = serde_json::from_slice(&got[3].body).unwrap();
    assert!(body["text"].as_str().unwrap().starts_with("Deploy"), "{body}");
    assert_eq!(body["blocks"][0]["type"], "header");
    assert_eq!(body["blocks"][1]["text"]["text"], "body");
}
