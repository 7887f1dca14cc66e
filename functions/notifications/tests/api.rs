//! The API's refusals, each a 4xx naming the field: template injection,
//! private and metadata targets, bad time zones, bodies over the limit,
//! unknown event types; HTML escaped in the HTML part only; scopes and
//! tenancy; endpoint CRUD with secret rotation; the stats.

mod common;

use common::app;
use serde_json::{Value, json};

const PUBLIC: &str = "http://93.184.216.34/hook";

fn field(reply: &Value) -> &str {
    reply["error"]["field"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_loopback_and_metadata_targets_are_refused() {
    let app = app("ssrf", &[]).await;
    for url in ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.0.0.7/hook", "http://[::1]/hook", "http://[fd00:ec2::254]/", "ftp://example.org/x", "not a url"] {
        let (status, reply) = app.call("POST", "/v1/notification-endpoints", "acme", Some(json!({"kind": "webhook", "url": url}))).await;
        assert_eq!((status, field(&reply)), (422, "url"), "{url}: {reply}");
    }
    let (status, reply) = app.call("POST", "/v1/notification-endpoints", "acme", Some(json!({"kind": "slack", "url": "http://192.168.0.10/services/x"}))).await;
    assert_eq!((status, field(&reply)), (422, "url"), "{reply}");
    let (status, _) = app.call("POST", "/v1/notification-endpoints", "acme", Some(json!({"kind": "webhook", "url": PUBLIC}))).await;
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_endpoints_name_their_field() {
    let app = app("endpoints", &[]).await;
    let cases = [
        (json!({"kind": "webhook", "url": PUBLIC, "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Mars/Olympus_Mons"}}), "quiet_hours.time_zone"),
        (json!({"kind": "webhook", "url": PUBLIC, "quiet_hours": {"start": "25:00", "end": "07:00", "time_zone": "UTC"}}), "quiet_hours.start"),
        (json!({"kind": "webhook", "url": PUBLIC, "secret": "hunter2"}), "secret"),
        (json!({"kind": "webhook", "url": PUBLIC, "rate_limit_per_s": 0}), "rate_limit_per_s"),
        (json!({"kind": "webhook", "url": PUBLIC, "digest_window_s": 5}), "digest_window_s"),
        (json!({"kind": "webhook"}), "url"),
        (json!({"kind": "email", "address": "not an address"}), "address"),
        (json!({"kind": "email", "url": PUBLIC}), "url"),
        (json!({"kind": "fax", "url": PUBLIC}), "kind"),
        (json!({"kind": "slack", "url": PUBLIC, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}), "secret"),
    ];
    for (body, expected) in cases {
        let (status, reply) = app.call("POST", "/v1/notification-endpoints", "acme", Some(body.clone())).await;
        assert_eq!((status, field(&reply)), (422, expected), "{body}: {reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn templates_are_sandboxed_strict_and_escaped_in_html_only() {
    let app = app("templates", &[]).await;
    // Injection: Python attributes do not exist; strict mode makes that an error naming the template and line.
    let injected = json!({"name": "evil", "subject": "Hi", "text": "line one\n{{ ''.__class__ }}"});
    let template = app.ok("POST", "/v1/notification-templates", "acme", injected).await;
    let id = template["id"].as_str().unwrap();
    let (status, reply) = app.call("POST", &format!("/v1/notification-templates/{id}/preview"), "acme", Some(json!({"data": {}}))).await;
    assert_eq!((status, field(&reply)), (400, "text"), "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("\"evil\"") && message.contains("line 2"), "{message}");
    // A syntax error is refused when saved.
    let (status, reply) = app.call("POST", "/v1/notification-templates", "acme", Some(json!({"name": "broken", "subject": "x", "text": "ok", "html": "<p>\n{% if %}"}))).await;
    assert_eq!((status, field(&reply)), (400, "html"), "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("line 2"), "{reply}");
    // HTML in a variable: escaped in the HTML part, as given in the text.
    let greet = app.ok("POST", "/v1/notification-templates", "acme", json!({"name": "greet", "subject": "Hi {{ name }}", "text": "Hi {{ name }}", "html": "<p>Hi {{ name }}</p>"})).await;
    let greet = greet["id"].as_str().unwrap();
    let rendered = app.ok("POST", &format!("/v1/notification-templates/{greet}/preview"), "acme", json!({"data": {"name": "<script>alert(1)</script>"}})).await;
    assert_eq!(rendered["html"], "<p>Hi &lt;script&gt;alert(1)&lt;&#x2f;script&gt;</p>");
    assert_eq!(rendered["text"], "Hi <script>alert(1)</script>");
    // A notification from a template that does not render is a 400 too.
    let endpoint = app.ok("POST", "/v1/notification-endpoints", "acme", json!({"kind": "webhook", "url": PUBLIC})).await;
    let body = json!({"endpoint_id": endpoint["id"], "template_id": greet, "data": {}});
    let (status, reply) = app.call("POST", "/v1/notifications", "acme", Some(body)).await;
    assert_eq!((status, field(&reply)), (400, "subject"), "{reply}");
    // Another tenant cannot see or use the template.
    let (status, _) = app.call("GET", &format!("/v1/notification-templates/{greet}"), "globex", None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_notifications_and_subscriptions_name_their_field() {
    let app = app("bad", &[]).await;
    let endpoint = app.ok("POST", "/v1/notification-endpoints", "acme", json!({"kind": "webhook", "url": PUBLIC})).await;
    let endpoint = endpoint["id"].as_str().unwrap();
    let big = "x".repeat(64 * 1024 + 1);
    let cases = [
        (json!({"endpoint_id": endpoint, "subject": "s", "text": big}), "text"),
        (json!({"endpoint_id": endpoint, "subject": "", "text": "t"}), "subject"),
        (json!({"endpoint_id": endpoint, "text": "t"}), "subject"),
        (json!({"endpoint_id": endpoint, "subject": "s"}), "text"),
        (json!({"endpoint_id": "nope", "subject": "s", "text": "t"}), "endpoint_id"),
        (json!({"endpoint_id": endpoint, "subject": "s", "text": "t", "template_id": "x"}), "template_id"),
        (json!({"endpoint_id": endpoint, "subject": "s", "text": "t", "priority": "asap"}), "priority"),
    ];
    for (body, expected) in cases {
        let (status, reply) = app.call("POST", "/v1/notifications", "acme", Some(body)).await;
        assert_eq!((status, field(&reply)), (422, expected), "{reply}");
    }
    let (status, _) = app.call("POST", "/v1/notifications", "acme", Some(json!({"endpoint_id": endpoint, "subject": "s", "text": "x".repeat(2 * 1024 * 1024)}))).await;
    assert_eq!(status, 413, "a body over the platform's limit");
    let items: Vec<Value> = (0..1001).map(|_| json!({"endpoint_id": endpoint, "subject": "s", "text": "t"})).collect();
    let (status, reply) = app.call("POST", "/v1/notifications/bulk", "acme", Some(json!({"notifications": items}))).await;
    assert_eq!((status, field(&reply)), (422, "notifications"), "{reply}");
    let items = vec![json!({"endpoint_id": endpoint, "subject": "s", "text": "t"}), json!({"endpoint_id": endpoint, "subject": "s"})];
    let (status, reply) = app.call("POST", "/v1/notifications/bulk", "acme", Some(json!({"notifications": items}))).await;
    assert_eq!((status, field(&reply)), (422, "notifications[1].text"), "{reply}");
    let (_, page) = app.call("GET", "/v1/notifications", "acme", None).await;
    assert_eq!(page["notifications"], json!([]), "a refused bulk stores nothing");

    let subscriptions = [
        (json!({"event_type": "study.exploded", "endpoint_id": endpoint}), "event_type"),
        (json!({"event_type": "study.submitted", "endpoint_id": endpoint}), "event_type"),
        (json!({"event_type": "study.completed", "endpoint_id": "nope"}), "endpoint_id"),
        (json!({"event_type": "study.completed", "endpoint_id": endpoint, "template_id": "nope"}), "template_id"),
    ];
    for (body, expected) in subscriptions {
        let (status, reply) = app.call("POST", "/v1/notification-subscriptions", "acme", Some(body)).await;
        assert_eq!((status, field(&reply)), (422, expected), "{reply}");
    }
    for query in ["status=lost", "limit=0", "limit=201", "cursor=yesterday"] {
        let (status, reply) = app.call("GET", &format!("/v1/notifications?{query}"), "acme", None).await;
        assert_eq!(status, 400, "{query}: {reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scopes_tenancy_crud_and_rotation() {
    let app = app("crud", &[]).await;
    let reader = app.token("acme", &["notifications:read"]);
    let (status, _) = app.call_as("POST", "/v1/notification-endpoints", &reader, &[], Some(json!({"kind": "webhook", "url": PUBLIC}))).await;
    assert_eq!(status, 403, "writing needs notifications:write");
    let (status, _) = app.call_as("GET", "/v1/notifications", "not-a-token", &[], None).await;
    assert_eq!(status, 401);
    let created = app.ok("POST", "/v1/notification-endpoints", "acme", json!({"kind": "webhook", "url": PUBLIC, "rate_limit_per_s": 5})).await;
    let id = created["id"].as_str().unwrap();
    let first = created["secret"].as_str().unwrap().to_owned();
    assert!(first.starts_with("whsec_"));
    let (status, reply) = app.call_as("GET", &format!("/v1/notification-endpoints/{id}"), &reader, &[], None).await;
    assert_eq!(status, 200);
    assert!(reply.get("secret").is_none() && reply.get("secrets").is_none(), "secrets are never shown again: {reply}");
    let (status, _) = app.call("GET", &format!("/v1/notification-endpoints/{id}"), "globex", None).await;
    assert_eq!(status, 404, "another tenant's endpoint");
    let (status, _) = app.call("PUT", &format!("/v1/notification-endpoints/{id}"), "globex", Some(json!({"kind": "webhook", "url": PUBLIC}))).await;
    assert_eq!(status, 404);
    // Rotation: both secrets sign.
    let second = notifications_engine::Secret::from_random([5; 32]).serialize();
    let updated = app.ok("PUT", &format!("/v1/notification-endpoints/{id}"), "acme", json!({"kind": "webhook", "url": PUBLIC, "secret": second, "enabled": false})).await;
    assert_eq!(updated["enabled"], false);
    let stored = app.app.repo.endpoint("acme", id).await.unwrap().unwrap();
    assert_eq!(stored.secrets, [second, first]);
    let (status, reply) = app.call("PUT", &format!("/v1/notification-endpoints/{id}"), "acme", Some(json!({"kind": "email", "address": "a@example.org"}))).await;
    assert_eq!((status, field(&reply)), (422, "kind"));
    let list = app.ok("GET", "/v1/notification-endpoints", "acme", json!(null)).await;
    assert_eq!(list["endpoints"].as_array().unwrap().len(), 1);
    let (status, _) = app.call("DELETE", &format!("/v1/notification-endpoints/{id}"), "globex", None).await;
    assert_eq!(status, 404);
    let (status, _) = app.call("DELETE", &format!("/v1/notification-endpoints/{id}"), "acme", None).await;
    assert_eq!(status, 204);
    let stats = app.ok("GET", "/v1/notifications/stats?days=7", "acme", json!(null)).await;
    assert_eq!(stats["days"], json!([]));
    let (status, reply) = app.call("GET", "/v1/notifications/stats?days=0", "acme", None).await;
    assert_eq!((status, field(&reply)), (400, "days"));
}

#[test]
fn percentiles_are_nearest_rank() {
    let values: Vec<i64> = (1..=100).collect();
    assert_eq!(notifications::api::percentile(&values, 0.5), Some(50));
    assert_eq!(notifications::api::percentile(&values, 0.99), Some(99));
    assert_eq!(notifications::api::percentile(&[7], 0.99), Some(7));
    assert_eq!(notifications::api::percentile(&[], 0.5), None);
}
