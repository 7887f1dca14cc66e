//! `notifications-events`: platform events become notifications through
//! the tenant's subscriptions (event type, payload filter, template,
//! endpoint).
//!
//! Idempotent on the event: the event id is the idempotency key of every
//! notification it makes, so a redelivered event (or two subscriptions
//! leading to one endpoint) inserts nothing new.

use infra::Error;
use infra::bus::Subscription;
use infra::edge::registry::QueueConsumer;
use infra::edge::{Message, message_handler};
use infra::events::EventName;
use notifications_engine::{Template, builtin, filter};

use crate::Notifications;
use crate::api::prepare;
use crate::repo::Inserted;

/// The events consumer's subscription; on AWS its queue is `<prefix>-notifications-events`.
pub const EVENTS: Subscription = Subscription {
    name: "notifications-events",
    events: &[
        EventName::StudyCompleted,
        EventName::StudyFailed,
        EventName::TaskEscalated,
        EventName::TaskFailed,
        EventName::ReviewCompleted,
        EventName::WorkflowBlocked,
    ],
};
/// Every subscription of this app; the SAM template declares exactly these.
pub const SUBSCRIPTIONS: &[Subscription] = &[EVENTS, crate::dispatch::DISPATCH, crate::dispatch::DISPATCH_URGENT];

pub fn consumer(app: Notifications) -> QueueConsumer {
    let handler = message_handler(move |message| {
        let app = app.clone();
        async move { handle(&app, message).await }
    });
    QueueConsumer { subscription: EVENTS, handler, concurrency: 2 }
}

/// Makes one notification per matching subscription. A subscription whose
/// template no longer renders is logged and skipped: the event is fine,
/// the tenant's configuration is not, and retrying cannot fix it.
pub async fn handle(app: &Notifications, message: Message) -> Result<(), Error> {
    let envelope = message.envelope()?;
    let Some(tenant) = envelope.tenant.as_deref() else {
        tracing::info!(event = %envelope.id, "an event without a tenant notifies nobody");
        return Ok(());
    };
    let context = serde_json::json!({"event": envelope.event_type, "subject": envelope.subject, "data": envelope.data});
    let now = infra::time::now_ms();
    for subscription in app.repo.subscriptions(tenant, Some(&envelope.event_type)).await? {
        if !filter::matches(&subscription.filter, &envelope.data) {
            continue;
        }
        let Some(endpoint) = app.repo.endpoint(tenant, &subscription.endpoint_id).await? else { continue };
        let template = match &subscription.template_id {
            Some(id) => app.repo.template(tenant, id).await?.map(|t| Template { name: t.name, subject: t.subject, text: t.text, html: t.html }),
            None => builtin::template(&envelope.event_type),
        };
        let Some(template) = template else {
            tracing::warn!(subscription = %subscription.id, "the subscription's template is gone; skipped");
            continue;
        };
        let rendered = match template.render(&context) {
            Ok(rendered) => rendered,
            Err(error) => {
                tracing::warn!(subscription = %subscription.id, %error, "the subscription's template does not render this event; skipped");
                continue;
            }
        };
        let request = serde_json::json!({"event": envelope.id});
        let new = prepare(endpoint, subscription.priority, rendered, subscription.template_id.clone(), Some(envelope.id.clone()), request, Some(envelope.id.clone()), now);
        if let Some(Inserted::New(notification)) = crate::dispatch::insert(app, tenant, vec![new], now).await?.into_iter().next() {
            tracing::info!(notification = %notification.id, event = %envelope.id, "event notification queued");
        }
    }
    Ok(())
}
