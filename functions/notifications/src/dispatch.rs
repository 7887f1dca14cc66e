//! The dispatcher: lease what is due, make one attempt per leased
//! notification within the tenant's and the endpoint's rate limits, and
//! record the attempt with the next state the engine gives.
//!
//! A rate limit never drops: a notification over it goes back with the
//! limiter's wait as its due time, without counting an attempt. Slack
//! endpoints are paced to one message per second (Slack's limit per
//! channel) whatever their own limit says.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use infra::Error;
use notifications_engine::{Outcome, Priority};

use crate::Notifications;
use crate::channels::Sent;
use crate::model::{Attempt, Endpoint, Kind};
use crate::repo::{Claimed, Completion, NewNotification};

/// How long a lease lasts: longer than an attempt's timeout.
const LEASE: Duration = Duration::from_secs(60);
/// How often a dispatcher with a budget looks for due work.
const POLL: Duration = Duration::from_millis(100);
/// The shortest wait a refused rate limit imposes, so a hot loop is impossible.
const MIN_WAIT_MS: i64 = 20;

/// Delivers what is due until nothing is, or for `budget` when it is longer
/// (polling). Returns the number of attempts made.
pub async fn run(app: &Notifications, budget: Duration) -> Result<usize, Error> {
    let deadline = Instant::now() + budget;
    let batch = i64::try_from(app.settings.concurrency * 2).unwrap_or(64);
    let lease_ms = i64::try_from((LEASE + app.settings.timeout).as_millis()).unwrap_or(120_000);
    let mut attempts = 0;
    loop {
        let claimed = app.repo.claim(infra::time::now_ms(), lease_ms, batch).await?;
        if claimed.is_empty() {
            if Instant::now() + POLL >= deadline {
                return Ok(attempts);
            }
            tokio::time::sleep(POLL).await;
            continue;
        }
        let endpoints = endpoints(app, &claimed).await?;
        let made: Vec<bool> = futures::stream::iter(claimed)
            .map(|claimed| {
                let endpoint = endpoints.get(&(claimed.tenant.clone(), claimed.notification.endpoint_id.clone())).cloned().flatten();
                async move {
                    match deliver(app, claimed, endpoint).await {
                        Ok(made) => made,
                        Err(error) => {
                            // The lease runs out and another pass retries it.
                            tracing::warn!(%error, "delivery not recorded");
                            false
                        }
                    }
                }
            })
            .buffer_unordered(app.settings.concurrency)
            .collect()
            .await;
        attempts += made.into_iter().filter(|made| *made).count();
    }
}

async fn endpoints(app: &Notifications, claimed: &[Claimed]) -> Result<HashMap<(String, String), Option<Endpoint>>, Error> {
    let mut found = HashMap::new();
    for claimed in claimed {
        let key = (claimed.tenant.clone(), claimed.notification.endpoint_id.clone());
        if let std::collections::hash_map::Entry::Vacant(slot) = found.entry(key) {
            let (tenant, id) = slot.key();
            let endpoint = app.repo.endpoint(tenant, id).await?;
            slot.insert(endpoint);
        }
    }
    Ok(found)
}

/// One attempt (or a release when a limit says wait); true if attempted.
async fn deliver(app: &Notifications, claimed: Claimed, endpoint: Option<Endpoint>) -> Result<bool, Error> {
    let Some(endpoint) = endpoint else {
        app.repo.abandon(&claimed, "the endpoint was deleted").await?;
        return Ok(false);
    };
    if !endpoint.enabled {
        app.repo.abandon(&claimed, &format!("the endpoint is disabled: {}", endpoint.disabled_reason.as_deref().unwrap_or("by its owner"))).await?;
        return Ok(false);
    }
    if let Some(wait) = over_limit(app, &claimed.tenant, &endpoint).await {
        let due = infra::time::now_ms() + i64::try_from(wait.as_millis()).unwrap_or(1000).max(MIN_WAIT_MS);
        app.repo.release(&claimed, due).await?;
        return Ok(false);
    }
    let now = infra::time::now_ms();
    let sent = app.channels.send(&endpoint, &claimed.notification, now).await;
    let completion = completion(app, &claimed, &sent, now);
    let finished = infra::time::now_ms();
    let Some(failures) = app.repo.complete(&claimed, &completion, finished).await? else {
        tracing::warn!(notification = %claimed.notification.id, "lease lost; the attempt is not recorded");
        return Ok(true);
    };
    let tenant = claimed.tenant.as_str();
    if sent.outcome == Outcome::Disable {
        disable(app, tenant, &endpoint.id, "the receiver answered 410 Gone", finished).await?;
    } else if failures >= app.settings.disable_after {
        disable(app, tenant, &endpoint.id, &format!("{failures} failed attempts in a row"), finished).await?;
    }
    Ok(true)
}

/// The wait before the next message may go, if a limit is reached.
async fn over_limit(app: &Notifications, tenant: &str, endpoint: &Endpoint) -> Option<Duration> {
    let second = Duration::from_secs(1);
    let mut limits = vec![(format!("notifications:tenant:{tenant}"), app.settings.tenant_rate_per_s)];
    let own = endpoint.rate_limit_per_s.and_then(|n| u64::try_from(n).ok());
    let per_endpoint = if endpoint.kind == Kind::Slack { Some(own.unwrap_or(1).min(1)) } else { own };
    if let Some(limit) = per_endpoint {
        limits.push((format!("notifications:endpoint:{tenant}:{}", endpoint.id), limit));
    }
    for (key, limit) in limits {
        match app.cache.allow(&key, limit, second).await {
            Ok(decision) if !decision.allowed => return Some(decision.retry_after),
            Ok(_) => {}
            // A limit that cannot be checked waits a little rather than
            // letting a burst through to a receiver that asked for a limit.
            Err(error) => {
                tracing::warn!(%error, "rate limit not checked; waiting");
                return Some(second);
            }
        }
    }
    None
}

fn completion(app: &Notifications, claimed: &Claimed, sent: &Sent, now: i64) -> Completion {
    let round = u32::try_from(claimed.notification.attempts + 1 - claimed.attempt_base).unwrap_or(u32::MAX);
    let (status, due_at, failed) = match sent.outcome {
        Outcome::Delivered => ("delivered", now, false),
        Outcome::Permanent | Outcome::Disable => ("dead", now, true),
        Outcome::Retry { after } => match app.settings.retry.delay_after(round, rand::random::<f64>()) {
            // The receiver's Retry-After replaces the schedule's pause.
            Some(delay) => ("pending", now + millis(after.unwrap_or(delay)), true),
            None => ("dead", now, true),
        },
    };
    let outcome = match sent.outcome {
        Outcome::Delivered => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Permanent => "permanent",
        Outcome::Disable => "disabled",
    };
    let error = match (&sent.error, sent.status_code) {
        (Some(error), _) => Some(error.clone()),
        (None, Some(code)) if failed => Some(format!("answered {code}")),
        _ => None,
    };
    let attempt = Attempt {
        n: 0,
        at: now,
        status_code: sent.status_code.map(i64::from),
        outcome: outcome.into(),
        latency_ms: millis(sent.latency),
        response: sent.response.clone(),
        error: error.clone(),
    };
    Completion { attempt, status, due_at, error, failed }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Disables the endpoint and, if this call did it, tells the tenant on
/// another enabled endpoint of theirs, urgently (it bypasses quiet hours).
pub async fn disable(app: &Notifications, tenant: &str, endpoint_id: &str, reason: &str, now: i64) -> Result<(), Error> {
    if !app.repo.disable_endpoint(tenant, endpoint_id, reason, now).await? {
        return Ok(());
    }
    tracing::warn!(tenant, endpoint = endpoint_id, reason, "endpoint disabled");
    let others = app.repo.endpoints(tenant).await?;
    let Some(other) = others.into_iter().find(|other| other.enabled && other.id != endpoint_id) else { return Ok(()) };
    let notice = NewNotification {
        endpoint: other,
        priority: Priority::Urgent,
        status: "pending",
        subject: format!("Notification endpoint {endpoint_id} was disabled"),
        text: format!("Hive disabled the notification endpoint {endpoint_id}: {reason}. Fix the receiver, then enable it again with PUT /v1/notification-endpoints/{endpoint_id}."),
        html: None,
        template_id: None,
        idempotency_key: Some(format!("endpoint-disabled:{endpoint_id}:{now}")),
        request: serde_json::json!({"disabled": endpoint_id, "at": now}),
        source_event: None,
        due_at: now,
    };
    app.repo.insert(tenant, vec![notice], now).await?;
    Ok(())
}

/// Sends every digest whose window has passed: one message per endpoint
/// listing the waiting items.
pub async fn release_digests(app: &Notifications, now: i64) -> Result<usize, Error> {
    let mut sent = 0;
    for (tenant, endpoint_id) in app.repo.due_digests(now).await? {
        let Some(endpoint) = app.repo.endpoint(&tenant, &endpoint_id).await? else { continue };
        let digest = NewNotification {
            endpoint,
            priority: Priority::Low,
            status: "pending",
            subject: "Digest".into(),
            text: String::new(),
            html: None,
            template_id: None,
            idempotency_key: None,
            request: serde_json::Value::Null,
            source_event: None,
            due_at: now,
        };
        if app.repo.take_digest(&tenant, &endpoint_id, digest, now).await? > 0 {
            sent += 1;
        }
    }
    Ok(sent)
}
