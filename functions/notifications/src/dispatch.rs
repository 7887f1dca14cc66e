//! The dispatcher: one queue message is one delivery attempt.
//!
//! A notification that becomes due is announced on its lane's queue with
//! the due time the message is for: `notification.due`, or
//! `notification.urgent_due` for urgent ones, a queue of their own so they
//! never wait behind a backlog. The handler leases the row for that due
//! time, makes one attempt within the tenant's and the endpoint's rate
//! limits, and records it with the next state the engine gives. A next
//! attempt is a new message, delayed by the queue (SQS message timers,
//! RabbitMQ delay queues) until it is due.
//!
//! A rate limit never drops: the notification goes back with the limiter's
//! wait as its due time and a message delayed as long, without counting an
//! attempt. Slack endpoints are paced to one message per second (Slack's
//! limit per channel) whatever their own limit says.
//!
//! Copies of a message are harmless. One whose due time is no longer the
//! row's (the attempt was made, a retry moved it) is stale and dropped; one
//! that finds the row leased looks again when the lease ends, which takes
//! over from a dispatcher that died mid-attempt. A message lost between a
//! commit and its send (the queue was down) is found by the scheduler's
//! sweep of stranded rows ([`STRANDED_AFTER`]).

use std::time::Duration;

use futures::StreamExt;
use infra::Error;
use infra::bus::Subscription;
use infra::edge::registry::QueueConsumer;
use infra::edge::{Message, message_handler};
use infra::events::{DeliveryDue, Envelope, EventName, NotificationDue, NotificationUrgentDue};
use notifications_engine::{Outcome, Priority};

use crate::Notifications;
use crate::channels::Sent;
use crate::model::{Attempt, Endpoint, Kind};
use crate::repo::{Claimed, Completion, Lease, NewNotification};

/// The normal lane; on AWS its queue is `<prefix>-notifications-dispatcher`.
pub const DISPATCH: Subscription = Subscription { name: "notifications-dispatcher", events: &[EventName::NotificationDue] };
/// The urgent lane, `<prefix>-notifications-dispatcher-urgent`.
pub const DISPATCH_URGENT: Subscription =
    Subscription { name: "notifications-dispatcher-urgent", events: &[EventName::NotificationUrgentDue] };

/// The CloudEvents `source` of the lanes' messages.
const SOURCE: &str = "/hive/notifications";
/// How long a lease lasts: longer than an attempt's timeout.
const LEASE: Duration = Duration::from_secs(60);
/// The shortest wait a refused rate limit imposes, so a hot loop is impossible.
const MIN_WAIT_MS: i64 = 20;
/// A message that arrives at most this early waits in the handler; one
/// earlier is sent on (a delay longer than the queue keeps, or a copy).
const WAIT_IN_HANDLER_MS: i64 = 1000;
/// A row due this long ago with no attempt, or leased this long past its
/// lease, lost its message; the scheduler announces it again.
pub const STRANDED_AFTER: Duration = Duration::from_secs(300);
/// Messages sent at once when many notifications become due together.
const SENDS_IN_FLIGHT: usize = 32;

/// A notification that is due, now or later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub tenant: String,
    pub id: String,
    pub due_at: i64,
    pub priority: Priority,
}

/// Both lanes' consumers, each with `concurrency` attempts in flight.
pub fn consumers(app: &Notifications) -> [QueueConsumer; 2] {
    let lane = |subscription: Subscription| {
        let concurrency = app.settings.concurrency;
        let app = app.clone();
        let handler = message_handler(move |message| {
            let app = app.clone();
            async move { handle(&app, message).await }
        });
        QueueConsumer { subscription, handler, concurrency }
    };
    [lane(DISPATCH), lane(DISPATCH_URGENT)]
}

/// Sends each notification's message on its lane: at once through the bus
/// when it is due, straight to the lane's queue with a delay when later.
pub async fn announce(app: &Notifications, due: Vec<Due>) -> Result<(), Error> {
    let now = infra::time::now_ms();
    let sent: Vec<Result<(), Error>> = futures::stream::iter(due)
        .map(|due| async move { send(app, &due, (due.due_at - now).max(0)).await })
        .buffer_unordered(SENDS_IN_FLIGHT)
        .collect()
        .await;
    sent.into_iter().collect()
}

/// One message for `due`, visible after `delay_ms`.
async fn send(app: &Notifications, due: &Due, delay_ms: i64) -> Result<(), Error> {
    let payload = DeliveryDue { notification_id: due.id.clone(), due_at: due.due_at };
    let now = infra::time::now_ms();
    let tenant = Some(due.tenant.as_str());
    let (lane, envelope) = if due.priority == Priority::Urgent {
        (DISPATCH_URGENT, Envelope::new(SOURCE, tenant, &due.id, &NotificationUrgentDue(payload), now)?)
    } else {
        (DISPATCH, Envelope::new(SOURCE, tenant, &due.id, &NotificationDue(payload), now)?)
    };
    let message = envelope.to_message()?;
    if delay_ms == 0 {
        app.bus.publish(&message).await
    } else {
        app.bus.send_after(&lane, &message, Duration::from_millis(delay_ms.unsigned_abs())).await
    }
}

/// One message: an attempt, a wait, or nothing when it is stale.
pub async fn handle(app: &Notifications, message: Message) -> Result<(), Error> {
    let envelope = message.envelope()?;
    let (due, priority) = match envelope.name()? {
        EventName::NotificationDue => (envelope.decode::<NotificationDue>()?.0, Priority::Normal),
        EventName::NotificationUrgentDue => (envelope.decode::<NotificationUrgentDue>()?.0, Priority::Urgent),
        other => return Err(Error::invalid("type", format!("{other} is not a delivery"))),
    };
    let tenant = envelope.tenant.ok_or_else(|| Error::invalid("tenant", "a delivery names its tenant"))?;
    let again = |delay_ms: i64| {
        let due = Due { tenant: tenant.clone(), id: due.notification_id.clone(), due_at: due.due_at, priority };
        async move { send(app, &due, delay_ms).await }
    };
    let early = due.due_at - infra::time::now_ms();
    if early > WAIT_IN_HANDLER_MS {
        return again(early).await;
    }
    if early > 0 {
        tokio::time::sleep(Duration::from_millis(early.unsigned_abs())).await;
    }
    let now = infra::time::now_ms();
    let lease_ms = millis(LEASE + app.settings.timeout);
    match app.repo.lease(&tenant, &due.notification_id, due.due_at, now, lease_ms).await? {
        Lease::Leased(claimed) => {
            let endpoint = app.repo.endpoint(&tenant, &claimed.notification.endpoint_id).await?;
            deliver(app, claimed, endpoint).await
        }
        // Another delivery holds it; if that one dies, this copy takes over.
        Lease::Busy { until } => again((until - now).max(MIN_WAIT_MS)).await,
        Lease::Stale => Ok(()),
    }
}

/// The stranded rows, announced again; returns how many.
pub async fn rescue(app: &Notifications, now: i64) -> Result<usize, Error> {
    let before = now - millis(STRANDED_AFTER);
    let stranded = app.repo.stranded(before).await?;
    let count = stranded.len();
    if count > 0 {
        tracing::warn!(count, "stranded notifications announced again");
        announce(app, stranded).await?;
    }
    Ok(count)
}

/// Inserts notifications and announces the new ones that are pending.
pub async fn insert(app: &Notifications, tenant: &str, new: Vec<NewNotification>, now: i64) -> Result<Vec<crate::repo::Inserted>, Error> {
    let inserted = app.repo.insert(tenant, new, now).await?;
    let due = inserted
        .iter()
        .filter_map(|inserted| match inserted {
            crate::repo::Inserted::New(n) if n.status == "pending" => Some(due_of(tenant, n)),
            _ => None,
        })
        .collect();
    announce_or_leave(app, due).await;
    Ok(inserted)
}

pub fn due_of(tenant: &str, notification: &crate::model::Notification) -> Due {
    Due { tenant: tenant.to_owned(), id: notification.id.clone(), due_at: notification.due_at, priority: notification.priority }
}

/// Announces after a commit: the rows are stored, so a failed send is
/// logged and left to the stranded-row sweep rather than failing the
/// request that stored them.
pub async fn announce_or_leave(app: &Notifications, due: Vec<Due>) {
    if due.is_empty() {
        return;
    }
    if let Err(error) = announce(app, due).await {
        tracing::warn!(%error, "notifications stored but not announced; the scheduler's sweep will");
    }
}

/// One attempt, or a release when a limit says wait.
async fn deliver(app: &Notifications, claimed: Claimed, endpoint: Option<Endpoint>) -> Result<(), Error> {
    let Some(endpoint) = endpoint else {
        return app.repo.abandon(&claimed, "the endpoint was deleted").await;
    };
    if !endpoint.enabled {
        return app.repo.abandon(&claimed, &format!("the endpoint is disabled: {}", endpoint.disabled_reason.as_deref().unwrap_or("by its owner"))).await;
    }
    if let Some(wait) = over_limit(app, &claimed.tenant, &endpoint).await {
        let due_at = infra::time::now_ms() + i64::try_from(wait.as_millis()).unwrap_or(1000).max(MIN_WAIT_MS);
        if app.repo.release(&claimed, due_at).await? {
            announce(app, vec![Due { due_at, ..due_of(&claimed.tenant, &claimed.notification) }]).await?;
        }
        return Ok(());
    }
    let now = infra::time::now_ms();
    let sent = app.channels.send(&endpoint, &claimed.notification, now).await;
    let completion = completion(app, &claimed, &sent, now);
    let finished = infra::time::now_ms();
    let Some(failures) = app.repo.complete(&claimed, &completion, finished).await? else {
        tracing::warn!(notification = %claimed.notification.id, "lease lost; the attempt is not recorded");
        return Ok(());
    };
    let tenant = claimed.tenant.as_str();
    if completion.status == "pending" {
        announce(app, vec![Due { due_at: completion.due_at, ..due_of(tenant, &claimed.notification) }]).await?;
    }
    if sent.outcome == Outcome::Disable {
        disable(app, tenant, &endpoint.id, "the receiver answered 410 Gone", finished).await?;
    } else if failures >= app.settings.disable_after {
        disable(app, tenant, &endpoint.id, &format!("{failures} failed attempts in a row"), finished).await?;
    }
    Ok(())
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
    insert(app, tenant, vec![notice], now).await?;
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
        if let Some(due) = app.repo.take_digest(&tenant, &endpoint_id, digest, now).await? {
            announce_or_leave(app, vec![due]).await;
            sent += 1;
        }
    }
    Ok(sent)
}
