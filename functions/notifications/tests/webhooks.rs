//! Webhook delivery on real PostgreSQL and Redis, to loopback receivers:
//! signatures a receiver verifies, retries on the schedule and after
//! Retry-After, one delivery per idempotency key under 50 concurrent
//! requests, rate limits that delay and never drop, 410 disabling the
//! endpoint (and telling the tenant elsewhere), the dead state and replay,
//! the urgent lane, and the sweep that rescues a notification whose queue
//! message was lost.

mod common;

use std::time::Duration;

use common::{FAST, Receiver, app};
use notifications_engine::signature::{self, Secret};
use serde_json::json;

fn verify(secret: &str, received: &common::Received) -> Result<(), signature::SignatureError> {
    let header = |name: &str| received.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    signature::verify(&[Secret::parse(secret).unwrap()], &header("webhook-id"), &header("webhook-timestamp"), &header("webhook-signature"), &received.body, now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_failing_twice_gets_one_accepted_delivery_after_three_signed_attempts() {
    let app = app("flaky", FAST).await;
    let receiver = Receiver::start().await;
    receiver.script("/flaky", &[(500, &[]), (503, &[])]);
    let (endpoint, secret) = app.webhook("acme", &receiver.url("/flaky"), json!({})).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = app.send("acme", &endpoint, "Hello").await;
    let done = app.until_status("acme", &id, "delivered", Duration::from_secs(20)).await;
    let attempts = done["attempts_log"].as_array().unwrap();
    let codes: Vec<i64> = attempts.iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [500, 503, 200]);
    assert_eq!(attempts[2]["response"], "answer 200");
    assert_eq!(done["attempts"], 3);
    let got = receiver.at("/flaky");
    assert_eq!(got.len(), 3, "three attempts, one accepted");
    for received in &got {
        verify(&secret, received).unwrap();
        assert_eq!(received.headers["webhook-id"], id.as_str(), "the id is the same on every attempt");
    }
    let body: serde_json::Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!((body["type"].as_str(), body["data"]["subject"].as_str()), (Some("notification"), Some("Hello")));
    // A wrong secret does not verify what was sent.
    assert!(verify(&Secret::from_random([3; 32]).serialize(), &got[2]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_posts_with_one_key_make_one_delivery_and_the_same_answer() {
    let app = app("dedupe", FAST).await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = app.webhook("acme", &receiver.url("/once"), json!({})).await;
    let token = app.token("acme", &["notifications:write"]);
    let body = json!({"endpoint_id": endpoint, "subject": "Once", "text": "only once"});
    let calls = (0..50).map(|_| app.call_as("POST", "/v1/notifications", &token, &[("idempotency-key", "order-7")], Some(body.clone())));
    let replies = futures::future::join_all(calls).await;
    let created = replies.iter().filter(|(status, _)| *status == 202).count();
    let replayed = replies.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!((created, replayed), (1, 49), "{replies:?}");
    let ids: std::collections::BTreeSet<&str> = replies.iter().map(|(_, reply)| reply["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "every answer names the one notification");
    let id = ids.into_iter().next().unwrap().to_owned();
    app.until_status("acme", &id, "delivered", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.at("/once").len(), 1);
    // The same key with another body is refused, naming the header.
    let other = json!({"endpoint_id": endpoint, "subject": "Twice", "text": "changed"});
    let (status, reply) = app.call_as("POST", "/v1/notifications", &token, &[("idempotency-key", "order-7")], Some(other)).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (422, Some("Idempotency-Key")), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulk_request_repeated_under_its_key_answers_the_same_notifications_and_a_key_expires() {
    let app = app("bulk_key", FAST).await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = app.webhook("acme", &receiver.url("/bulk"), json!({})).await;
    let token = app.token("acme", &["notifications:write"]);
    let items: Vec<_> = (0..3).map(|n| json!({"endpoint_id": endpoint, "subject": format!("b{n}"), "text": "x"})).collect();
    let body = json!({"notifications": items});
    let post = |key: &'static str, body: serde_json::Value| {
        let token = token.clone();
        let app = &app;
        async move { app.call_as("POST", "/v1/notifications/bulk", &token, &[("idempotency-key", key)], Some(body)).await }
    };
    let ids = |reply: &serde_json::Value| reply["notifications"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let (status, first) = post("batch-1", body.clone()).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = post("batch-1", body.clone()).await;
    assert_eq!((status, ids(&again)), (202, ids(&first)), "a repeat answers the notifications the first made");
    receiver.until_count("/bulk", 3, Duration::from_secs(10)).await;
    // Another body under the key is refused, naming the header; an item
    // with a key of its own under a request key names the item's field.
    let changed = json!({"notifications": [{"endpoint_id": endpoint, "subject": "other", "text": "x"}]});
    let (status, reply) = post("batch-1", changed).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (422, Some("Idempotency-Key")), "{reply}");
    let keyed = json!({"notifications": [{"endpoint_id": endpoint, "subject": "k", "text": "x", "idempotency_key": "own"}]});
    let (status, reply) = post("batch-2", keyed).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (422, Some("notifications[0].idempotency_key")), "{reply}");
    // Past its time (30 days by default), the key makes new notifications.
    app.app.sweep_at(infra::time::now_ms() + 31 * 86_400_000).await.unwrap();
    let (status, later) = post("batch-1", body).await;
    assert_eq!(status, 202, "{later}");
    assert!(ids(&later).iter().all(|id| !ids(&first).contains(id)), "new notifications once the key expired");
    receiver.until_count("/bulk", 6, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_messages_to_an_endpoint_limited_to_five_per_second_all_arrive_over_five_seconds() {
    let app = app("limited", FAST).await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = app.webhook("acme", &receiver.url("/limited"), json!({"rate_limit_per_s": 5})).await;
    let items: Vec<_> = (0..30).map(|n| json!({"endpoint_id": endpoint, "subject": format!("m{n}"), "text": "x"})).collect();
    let reply = app.ok("POST", "/v1/notifications/bulk", "acme", json!({"notifications": items})).await;
    assert_eq!(reply["notifications"].as_array().unwrap().len(), 30);
    let got = receiver.until_count("/limited", 30, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_after = receiver.at("/limited");
    assert_eq!(got_after.len(), 30, "none dropped, none twice");
    let subjects: std::collections::BTreeSet<String> =
        got.iter().map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["data"]["subject"].as_str().unwrap().to_owned()).collect();
    assert_eq!(subjects.len(), 30);
    let spread = got.last().unwrap().at - got.first().unwrap().at;
    assert!(spread >= Duration::from_secs(5), "30 at 5/s took only {spread:?}");
    // No one-second window holds more than five.
    for (i, first) in got.iter().enumerate() {
        let within = got[i..].iter().take_while(|r| r.at - first.at < Duration::from_millis(950)).count();
        assert!(within <= 5, "{within} within a second from #{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_after_two_delays_the_next_attempt_by_two_seconds() {
    let app = app("retry_after", FAST).await;
    let receiver = Receiver::start().await;
    receiver.script("/busy", &[(429, &[("Retry-After", "2")])]);
    let (endpoint, _) = app.webhook("acme", &receiver.url("/busy"), json!({})).await;
    let id = app.send("acme", &endpoint, "Later").await;
    app.until_status("acme", &id, "delivered", Duration::from_secs(15)).await;
    let got = receiver.at("/busy");
    assert_eq!(got.len(), 2);
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_secs(2), "the retry came after {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_after_as_an_http_date_waits_until_then() {
    let app = app("retry_after_date", FAST).await;
    let receiver = Receiver::start().await;
    // Three seconds on, cut to the second an HTTP-date counts in: a wait of
    // two to three seconds, where the 300 ms schedule would retry at once.
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3);
    let date = at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
    receiver.script("/busy", &[(503, &[("Retry-After", date.as_str())])]);
    let (endpoint, _) = app.webhook("acme", &receiver.url("/busy"), json!({})).await;
    let id = app.send("acme", &endpoint, "Later").await;
    app.until_status("acme", &id, "delivered", Duration::from_secs(15)).await;
    let got = receiver.at("/busy");
    assert_eq!(got.len(), 2);
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(1500), "the retry came after {gap:?}, before {date}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn urgent_notifications_overtake_a_backlog_on_their_own_lane() {
    // One attempt in flight per lane, so the normal lane is a real backlog.
    let vars = [FAST, &[("HIVE_NOTIFICATIONS_CONCURRENCY", "1"), ("HIVE_NOTIFICATIONS_TENANT_RATE_PER_S", "100000")]].concat();
    let app = app("lanes", &vars).await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = app.webhook("acme", &receiver.url("/hook"), json!({})).await;
    let backlog: Vec<_> = (0..300).map(|n| json!({"endpoint_id": endpoint, "subject": format!("normal {n}"), "text": "x"})).collect();
    app.ok("POST", "/v1/notifications/bulk", "acme", json!({"notifications": backlog})).await;
    let urgent = app.ok("POST", "/v1/notifications", "acme", json!({"endpoint_id": endpoint, "subject": "URGENT", "text": "now", "priority": "urgent"})).await;
    let urgent = urgent["id"].as_str().unwrap().to_owned();
    let all = receiver.until_count("/hook", 301, Duration::from_secs(60)).await;
    let position = all.iter().position(|r| r.headers["webhook-id"].to_str().unwrap() == urgent).expect("the urgent one arrived");
    assert!(position < 150, "the urgent notification arrived {position}th of 301, behind the backlog");
    let ids: std::collections::BTreeSet<_> = all.iter().map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 301, "each delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notification_whose_message_was_lost_is_rescued_by_the_sweep() {
    let app = app("stranded", FAST).await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = app.webhook("acme", &receiver.url("/late"), json!({})).await;
    // Stored without its message, as when the queue was down after the commit.
    let found = app.app.repo.endpoint("acme", &endpoint).await.unwrap().unwrap();
    let now = infra::time::now_ms();
    let new = notifications::repo::NewNotification {
        endpoint: found,
        priority: notifications_engine::Priority::Normal,
        status: "pending",
        subject: "Lost".into(),
        text: "its message never went".into(),
        html: None,
        template_id: None,
        idempotency_key: None,
        request: json!({}),
        source_event: None,
        due_at: now,
    };
    let inserted = app.app.repo.insert("acme", vec![new], now).await.unwrap();
    let Some(notifications::repo::Inserted::New(lost)) = inserted.into_iter().next() else { panic!("inserted") };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(receiver.at("/late").is_empty(), "nothing announced it");
    // The scheduler's pass once it counts as stranded; twice, to show a
    // second copy of its message is harmless.
    let later = now + i64::try_from(notifications::dispatch::STRANDED_AFTER.as_millis()).unwrap() + 1000;
    app.app.sweep_at(later).await.unwrap();
    app.app.sweep_at(later).await.unwrap();
    app.until_status("acme", &lost.id, "delivered", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.at("/late").len(), 1, "rescued once, delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_delivery_message_ends_in_the_dead_letter_queue() {
    let app = app("poison", FAST).await;
    let lane = app.bus.subscribe(&notifications::dispatch::DISPATCH).await.unwrap();
    let poison = infra::queue::Message::new("notification.due", b"{not an envelope".to_vec());
    lane.send(&poison).await.unwrap();
    let dead = lane.dead_letters().expect("the lane has a dead-letter queue");
    let got = dead.receive(1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(got.iter().map(|d| d.message.id.as_str()).collect::<Vec<_>>(), [poison.id.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_410_disables_the_endpoint_and_the_tenant_hears_on_another() {
    let app = app("gone", FAST).await;
    let receiver = Receiver::start().await;
    receiver.always("/gone", 410);
    let (gone, _) = app.webhook("acme", &receiver.url("/gone"), json!({})).await;
    let (other, _) = app.webhook("acme", &receiver.url("/ops"), json!({})).await;
    let id = app.send("acme", &gone, "Anyone?").await;
    let dead = app.until_status("acme", &id, "dead", Duration::from_secs(10)).await;
    assert_eq!(dead["attempts"], 1, "410 is not retried");
    let endpoint = app.ok("GET", &format!("/v1/notification-endpoints/{gone}"), "acme", json!(null)).await;
    assert_eq!(endpoint["enabled"], false);
    assert!(endpoint["disabled_reason"].as_str().unwrap().contains("410"));
    let notice = receiver.until_count("/ops", 1, Duration::from_secs(10)).await;
    let body: serde_json::Value = serde_json::from_slice(&notice[0].body).unwrap();
    assert!(body["data"]["subject"].as_str().unwrap().contains(&gone), "{body}");
    assert_eq!(body["data"]["priority"], "urgent");
    // Later messages to the disabled endpoint are not sent.
    let later = app.send("acme", &gone, "Still there?").await;
    let later = app.until_status("acme", &later, "dead", Duration::from_secs(10)).await;
    assert_eq!(later["attempts"], 0);
    assert_eq!(receiver.at("/gone").len(), 1);
    let _ = other;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exhausted_retries_are_dead_listed_and_replayed() {
    let app = app("dead", FAST).await;
    let receiver = Receiver::start().await;
    receiver.always("/down", 500);
    let (endpoint, _) = app.webhook("acme", &receiver.url("/down"), json!({})).await;
    let id = app.send("acme", &endpoint, "Doomed").await;
    let dead = app.until_status("acme", &id, "dead", Duration::from_secs(15)).await;
    assert_eq!(dead["attempts"], 3, "three attempts on a schedule of two pauses");
    let (status, page) = app.call("GET", "/v1/notifications?status=dead", "acme", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["notifications"][0]["id"], id.as_str());
    let (status, _) = app.call("GET", "/v1/notifications?status=dead", "globex", None).await;
    assert_eq!(status, 200);
    let (status, reply) = app.call("POST", &format!("/v1/notifications/{id}/replay"), "globex", None).await;
    assert_eq!(status, 404, "another tenant's notification: {reply}");
    receiver.always("/down", 200);
    let (status, reply) = app.call("POST", &format!("/v1/notifications/{id}/replay"), "acme", None).await;
    assert_eq!(status, 202, "{reply}");
    let delivered = app.until_status("acme", &id, "delivered", Duration::from_secs(10)).await;
    assert_eq!(delivered["attempts"], 4);
    let (status, reply) = app.call("POST", &format!("/v1/notifications/{id}/replay"), "acme", None).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (409, Some("status")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn continuous_failures_past_the_threshold_disable_the_endpoint() {
    let vars = [FAST, &[("HIVE_NOTIFICATIONS_DISABLE_AFTER", "2")]].concat();
    let app = app("threshold", &vars).await;
    let receiver = Receiver::start().await;
    receiver.always("/failing", 500);
    let (failing, _) = app.webhook("acme", &receiver.url("/failing"), json!({})).await;
    let (_ops, _) = app.webhook("acme", &receiver.url("/ops"), json!({})).await;
    let id = app.send("acme", &failing, "Hello?").await;
    let dead = app.until_status("acme", &id, "dead", Duration::from_secs(15)).await;
    let endpoint = app.ok("GET", &format!("/v1/notification-endpoints/{failing}"), "acme", json!(null)).await;
    assert_eq!(endpoint["enabled"], false, "{endpoint}");
    // The dispatcher disables it after the failure that reaches the
    // threshold, unless the scheduler's sweep, running beside it, gets there
    // first; either says why.
    let reason = endpoint["disabled_reason"].as_str().unwrap();
    assert!(["2 failed attempts in a row", "failed continuously past the threshold"].contains(&reason), "{endpoint}");
    assert_eq!(dead["last_error"], format!("the endpoint is disabled: {reason}"), "{dead}");
    assert_eq!(dead["attempts"], 2);
    assert_eq!(receiver.at("/failing").len(), 2, "no attempt after the endpoint is disabled");
    receiver.until_count("/ops", 1, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tenants_rate_limit_spans_its_endpoints_and_delays_without_dropping() {
    let vars = [FAST, &[("HIVE_NOTIFICATIONS_TENANT_RATE_PER_S", "5")]].concat();
    let app = app("tenant_rate", &vars).await;
    let receiver = Receiver::start().await;
    let (one, _) = app.webhook("acme", &receiver.url("/one"), json!({})).await;
    let (two, _) = app.webhook("acme", &receiver.url("/two"), json!({})).await;
    let items: Vec<_> = (0..15).map(|n| json!({"endpoint_id": if n % 2 == 0 { &one } else { &two }, "subject": format!("m{n}"), "text": "x"})).collect();
    app.ok("POST", "/v1/notifications/bulk", "acme", json!({"notifications": items})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while receiver.received.lock().unwrap().len() < 15 {
        assert!(std::time::Instant::now() < deadline, "not all arrived");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut times: Vec<_> = receiver.received.lock().unwrap().iter().map(|r| r.at).collect();
    times.sort();
    // Three one-second windows of five: the fifteenth goes two windows after
    // the first. Times are taken at the receiver, so each carries its own
    // attempt's latency; 100 ms of slack covers that difference.
    assert!(times[14] - times[0] >= Duration::from_millis(1900), "15 at 5/s across two endpoints took {:?}", times[14] - times[0]);
}
