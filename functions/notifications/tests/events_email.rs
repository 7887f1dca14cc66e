//! Platform events to messages, and email over a real SMTP server (the
//! aiosmtpd sink `localstack/start.sh` runs, `HIVE_TEST_SMTP_URL`, which
//! stores what it accepts in `HIVE_TEST_SMTP_MAILDIR`).
//!
//! A `study.completed` for tenant A reaches A's webhook, signed, and A's
//! inbox, rendered; tenant B's endpoints get nothing; the same event again
//! delivers nothing new, also when it comes over RabbitMQ
//! (`HIVE_TEST_AMQP_URL`) through the consumer loop `hive serve` runs. A 451
//! is retried and a 550 is dead at once.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Receiver, app};
use infra::edge::Message;
use infra::events::{Envelope, StudyCompleted, StudyFinished};
use notifications_engine::signature::{self, Secret};
use serde_json::json;

fn smtp_vars() -> Vec<(&'static str, String)> {
    let url = std::env::var("HIVE_TEST_SMTP_URL").unwrap_or_else(|_| "smtp://127.0.0.1:2525".into());
    vec![
        ("HIVE_NOTIFICATIONS_RETRY_SCHEDULE", "300ms,300ms".into()),
        ("HIVE_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS", "true".into()),
        ("HIVE_SMTP_URL", url),
        ("HIVE_SMTP_FROM", "Hive <hive@example.org>".into()),
    ]
}

fn maildir() -> PathBuf {
    let dir = std::env::var("HIVE_TEST_SMTP_MAILDIR").unwrap_or_else(|_| format!("{}/../../.localstack/smtp-mail", env!("CARGO_MANIFEST_DIR")));
    PathBuf::from(dir).join("new")
}

/// The messages the sink stored for `address`.
fn mail_for(address: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir()) else { return Vec::new() };
    entries
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .filter(|text| text.lines().next().is_some_and(|first| first.contains(address)))
        .collect()
}

async fn until_mail(address: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let mail = mail_for(address);
        if !mail.is_empty() {
            return mail;
        }
        assert!(Instant::now() < deadline, "no mail for {address} in {} (is the SMTP sink running? localstack/start.sh)", maildir().display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn unique(local: &str) -> String {
    format!("{local}-{}-{}@example.org", std::process::id(), rand::random::<u32>())
}

fn study_completed(tenant: &str) -> Message {
    let event = StudyCompleted(StudyFinished { study: "st-<42>".into(), kind: "economics".into(), status: "succeeded".into(), error: None, objective: Some(12.5) });
    let envelope = Envelope::new("/hive/studies", Some(tenant), "corr-1", &event, infra::time::now_ms()).unwrap();
    let body = serde_json::to_string(&envelope).unwrap();
    Message::new("notifications-events", &envelope.id, &body, BTreeMap::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_study_completed_reaches_its_tenants_webhook_and_inbox_and_no_one_elses() {
    let vars = smtp_vars();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = app("events", &vars).await;
    let receiver = Receiver::start().await;
    let (a_hook, a_secret) = app.webhook("tenant-a", &receiver.url("/a"), json!({})).await;
    let (b_hook, _) = app.webhook("tenant-b", &receiver.url("/b"), json!({})).await;
    let a_mail = unique("a");
    let b_mail = unique("b");
    let a_inbox = app.ok("POST", "/v1/notification-endpoints", "tenant-a", json!({"kind": "email", "address": a_mail})).await;
    assert!(a_inbox["secret"].is_null(), "an email endpoint has no secret");
    let b_inbox = app.ok("POST", "/v1/notification-endpoints", "tenant-b", json!({"kind": "email", "address": b_mail})).await;
    let template = app
        .ok("POST", "/v1/notification-templates", "tenant-a", json!({"name": "done", "subject": "Study {{ data.study }} is {{ data.status }}", "text": "Objective {{ data.objective }}", "html": "<p>Study <b>{{ data.study }}</b></p>"}))
        .await;
    for (tenant, endpoint, template) in [
        ("tenant-a", a_hook.as_str(), None),
        ("tenant-a", a_inbox["id"].as_str().unwrap(), template["id"].as_str()),
        ("tenant-b", b_hook.as_str(), None),
        ("tenant-b", b_inbox["id"].as_str().unwrap(), None),
    ] {
        let mut body = json!({"event_type": "study.completed", "endpoint_id": endpoint, "filter": {"kind": "economics"}});
        if let Some(template) = template {
            body["template_id"] = template.into();
        }
        app.ok("POST", "/v1/notification-subscriptions", tenant, body).await;
    }
    let event = study_completed("tenant-a");
    notifications::events::handle(&app.app, event.clone()).await.unwrap();
    // A redelivery of the same event makes nothing new.
    notifications::events::handle(&app.app, event).await.unwrap();

    let hooks = receiver.until_count("/a", 1, Duration::from_secs(10)).await;
    let header = |name: &str| hooks[0].headers[name].to_str().unwrap().to_owned();
    let now = infra::time::now_ms() / 1000;
    signature::verify(&[Secret::parse(&a_secret).unwrap()], &header("webhook-id"), &header("webhook-timestamp"), &header("webhook-signature"), &hooks[0].body, now).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&hooks[0].body).unwrap();
    assert_eq!(body["data"]["subject"], "Study st-<42> completed (succeeded)", "the built-in template: {body}");

    let mail = until_mail(&a_mail, Duration::from_secs(10)).await;
    let text = &mail[0];
    assert!(text.contains("Subject: Study st-<42> is succeeded"), "{text}");
    assert!(text.contains("multipart/alternative"), "{text}");
    assert!(text.contains("Objective 12.5"), "{text}");
    assert!(text.contains("st-&lt;42&gt;"), "the HTML part is escaped: {text}");

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.at("/a").len(), 1, "one delivery per event and endpoint");
    assert_eq!(mail_for(&a_mail).len(), 1);
    assert!(receiver.at("/b").is_empty(), "tenant B's webhook got nothing");
    assert!(mail_for(&b_mail).is_empty(), "tenant B's inbox got nothing");
    let (_, page) = app.call("GET", "/v1/notifications", "tenant-b", None).await;
    assert_eq!(page["notifications"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smtp_451_is_retried_and_550_is_dead_at_once() {
    let vars = smtp_vars();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = app("smtp", &vars).await;
    let later = unique("tempfail");
    let never = unique("reject");
    let mut ids = Vec::new();
    for address in [&later, &never] {
        let endpoint = app.ok("POST", "/v1/notification-endpoints", "acme", json!({"kind": "email", "address": address})).await;
        ids.push(app.send("acme", endpoint["id"].as_str().unwrap(), "Hello <you>").await);
    }
    let delivered = app.until_status("acme", &ids[0], "delivered", Duration::from_secs(15)).await;
    let codes: Vec<i64> = delivered["attempts_log"].as_array().unwrap().iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [451, 250]);
    let mail = until_mail(&later, Duration::from_secs(5)).await;
    assert!(mail[0].contains("Subject: Hello <you>"), "{}", mail[0]);
    let dead = app.until_status("acme", &ids[1], "dead", Duration::from_secs(15)).await;
    assert_eq!(dead["attempts"], 1, "550 is permanent");
    assert_eq!(dead["attempts_log"][0]["status_code"], 550);
    assert_eq!(dead["attempts_log"][0]["outcome"], "permanent");
    assert!(mail_for(&never).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_published_on_rabbitmq_reach_the_subscribed_webhook_once() {
    use infra::bus::{Bus, RabbitBus, RabbitBusSettings};
    use infra::edge::{MemoryIdempotencyStore, runner};
    let app = app("rabbit", common::FAST).await;
    let receiver = Receiver::start().await;
    let (hook, secret) = app.webhook("tenant-a", &receiver.url("/a"), json!({})).await;
    app.ok("POST", "/v1/notification-subscriptions", "tenant-a", json!({"event_type": "study.completed", "endpoint_id": hook, "priority": "high"})).await;
    let url = std::env::var("HIVE_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let prefix = format!("notif-test-{}-{}", std::process::id(), rand::random::<u32>());
    let settings = RabbitBusSettings { url: url.clone(), exchange: format!("{prefix}.events"), queue_prefix: prefix, visibility_timeout: Duration::from_secs(30), max_receives: 5 };
    let bus = RabbitBus::connect(settings).await.unwrap_or_else(|e| panic!("RabbitMQ at {url} (HIVE_TEST_AMQP_URL): {e}"));
    let consumer = notifications::events::consumer(app.app.clone());
    let queue = bus.subscribe(&consumer.subscription).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let store = std::sync::Arc::new(MemoryIdempotencyStore::new(1000));
    let loop_task = tokio::spawn(runner::consume(queue, consumer, store, stopped));
    let event = StudyCompleted(StudyFinished { study: "st-9".into(), kind: "energy".into(), status: "infeasible".into(), error: None, objective: None });
    let envelope = Envelope::new("/hive/studies", Some("tenant-a"), "corr-9", &event, infra::time::now_ms()).unwrap();
    // Published twice, as an at-least-once bus may deliver it.
    bus.publish(&envelope.to_message().unwrap()).await.unwrap();
    bus.publish(&envelope.to_message().unwrap()).await.unwrap();
    let got = receiver.until_count("/a", 1, Duration::from_secs(15)).await;
    let header = |name: &str| got[0].headers[name].to_str().unwrap().to_owned();
    signature::verify(&[Secret::parse(&secret).unwrap()], &header("webhook-id"), &header("webhook-timestamp"), &header("webhook-signature"), &got[0].body, infra::time::now_ms() / 1000).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!((body["data"]["subject"].as_str(), body["data"]["source_event"].as_str()), (Some("Study st-9 completed (infeasible)"), Some(envelope.id.as_str())));
    assert_eq!(body["data"]["priority"], "high");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.at("/a").len(), 1, "one delivery for the event");
    stop.send(true).unwrap();
    loop_task.await.unwrap();
}
