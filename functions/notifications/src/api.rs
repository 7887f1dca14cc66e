//! The `notifications-api` routes. Scopes: `notifications:read` to look,
//! `notifications:write` to change. Another tenant's object is a 404. Bad
//! input is a 4xx naming the field; a template that does not render is a
//! 400 naming the template, its part and the line.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode};
use infra::auth::{Identity, Verifier};
use infra::edge::openapi::{Document, Operation};
use infra::edge::{ApiError, ApiJson, require_scopes};
use notifications_engine::signature::Secret;
use notifications_engine::timing::{self, Release};
use notifications_engine::{Priority, QuietHours, RenderError, Rendered, Template, builtin};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::events::EVENTS;
use crate::model::{Attempt, Endpoint, Kind, Notification, STATUSES, SubscriptionRecord, TemplateRecord};
use crate::repo::{Inserted, NewNotification};
use crate::{Notifications, READ_SCOPE, WRITE_SCOPE};

pub const MAX_BULK: usize = 1000;
pub const MAX_SUBJECT: usize = 998;
pub const MAX_TEXT: usize = 64 * 1024;
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

pub fn routes(app: Notifications, verifier: Arc<Verifier>) -> Router {
    // Paths that read and write under one name check the scope in the handler.
    Router::new()
        .route("/v1/notifications", get(list).post(create))
        .route("/v1/notifications/bulk", post(bulk))
        .route("/v1/notifications/stats", get(stats))
        .route("/v1/notifications/{id}", get(show))
        .route("/v1/notifications/{id}/replay", post(replay))
        .route("/v1/notification-endpoints", get(list_endpoints).post(create_endpoint))
        .route("/v1/notification-endpoints/{id}", get(show_endpoint).put(update_endpoint).delete(delete_endpoint))
        .route("/v1/notification-templates", get(list_templates).post(create_template))
        .route("/v1/notification-templates/{id}", get(show_template).put(update_template).delete(delete_template))
        .route("/v1/notification-templates/{id}/preview", post(preview))
        .route("/v1/notification-subscriptions", get(list_subscriptions).post(create_subscription))
        .route("/v1/notification-subscriptions/{id}", get(show_subscription).put(update_subscription).delete(delete_subscription))
        .route_layer(require_scopes(&verifier, &[]))
        .with_state(app)
}

fn require(identity: &Identity, scope: &str) -> Result<(), ApiError> {
    identity.require_scopes(&[scope.to_owned()]).map_err(ApiError::from)
}

fn unprocessable(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
}

fn render_error(error: RenderError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "template_error", error.to_string()).with_field(error.part)
}

// Notifications.

/// One notification: literal `subject` and `text` (and `html`), or a
/// `template_id` with its `data`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotificationBody")]
pub struct NotificationBody {
    #[schemars(length(min = 1, max = 64))]
    pub endpoint_id: String,
    #[schemars(length(min = 1, max = 998))]
    pub subject: Option<String>,
    #[schemars(length(max = 65536))]
    pub text: Option<String>,
    #[schemars(length(max = 65536))]
    pub html: Option<String>,
    #[schemars(length(min = 1, max = 64))]
    pub template_id: Option<String>,
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
    pub priority: Option<Priority>,
    /// For bulk items: the item's own idempotency key.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[!-~]+$"))]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotificationBulkBody")]
pub struct BulkBody {
    #[schemars(length(min = 1, max = 1000))]
    pub notifications: Vec<NotificationBody>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationBulkReply")]
pub struct BulkReply {
    pub notifications: Vec<Notification>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationWithAttempts")]
pub struct NotificationWithAttempts {
    #[serde(flatten)]
    pub notification: Notification,
    pub attempts_log: Vec<Attempt>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationPage")]
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotificationListQuery")]
pub struct ListQuery {
    /// `held`, `digest`, `pending`, `delivering`, `delivered`, `dead` or `digested`.
    #[schemars(regex(pattern = "^(held|digest|pending|delivering|delivered|dead|digested)$"))]
    pub status: Option<String>,
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    /// A `next_cursor` from an earlier page.
    #[schemars(regex(pattern = r"^[0-9]{1,15}:[0-9a-f-]{36}$"))]
    pub cursor: Option<String>,
}

/// Decides the status and due time of a new notification from its
/// priority and its endpoint's quiet hours and digest.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    endpoint: Endpoint,
    priority: Priority,
    rendered: Rendered,
    template_id: Option<String>,
    idempotency_key: Option<String>,
    request: serde_json::Value,
    source_event: Option<String>,
    now: i64,
) -> NewNotification {
    let (status, due_at) = match timing::release(priority, endpoint.quiet_hours.as_ref(), endpoint.digest_window_s.is_some(), now) {
        Release::Now => ("pending", now),
        Release::HoldUntil(end) => ("held", end),
        Release::Digest => ("digest", now + endpoint.digest_window_s.unwrap_or(3600) * 1000),
    };
    NewNotification {
        endpoint,
        priority,
        status,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        template_id,
        idempotency_key,
        request,
        source_event,
        due_at,
    }
}

impl Notifications {
    /// Validates one request and renders it; `field` prefixes the names in errors.
    /// `endpoints` remembers the ones a bulk request already looked up.
    async fn new_notification(
        &self,
        tenant: &str,
        body: NotificationBody,
        key: Option<String>,
        field: &str,
        now: i64,
        endpoints: &mut HashMap<String, Option<Endpoint>>,
    ) -> Result<NewNotification, ApiError> {
        let f = |name: &str| if field.is_empty() { name.to_owned() } else { format!("{field}.{name}") };
        let request = serde_json::to_value(&body).map_err(ApiError::internal)?;
        if !endpoints.contains_key(&body.endpoint_id) {
            let found = self.repo.endpoint(tenant, &body.endpoint_id).await?;
            endpoints.insert(body.endpoint_id.clone(), found);
        }
        let endpoint = endpoints[&body.endpoint_id].clone().ok_or_else(|| unprocessable(&f("endpoint_id"), "no such endpoint for this tenant"))?;
        let rendered = match (&body.template_id, &body.subject, &body.text) {
            (Some(id), None, None) if body.html.is_none() => {
                let record = self.repo.template(tenant, id).await?.ok_or_else(|| unprocessable(&f("template_id"), "no such template for this tenant"))?;
                let data = serde_json::Value::Object(body.data.clone().unwrap_or_default());
                template_of(&record).render(&data).map_err(render_error)?
            }
            (Some(_), _, _) => return Err(unprocessable(&f("template_id"), "give a template_id with data, or a subject and text, not both")),
            (None, Some(subject), Some(text)) => {
                if body.data.is_some() {
                    return Err(unprocessable(&f("data"), "data goes with a template_id"));
                }
                if subject.trim().is_empty() || subject.chars().count() > MAX_SUBJECT {
                    return Err(unprocessable(&f("subject"), format!("a subject is 1 to {MAX_SUBJECT} characters")));
                }
                if text.chars().count() > MAX_TEXT {
                    return Err(unprocessable(&f("text"), format!("text is at most {MAX_TEXT} characters")));
                }
                if body.html.as_ref().is_some_and(|html| html.chars().count() > MAX_TEXT) {
                    return Err(unprocessable(&f("html"), format!("html is at most {MAX_TEXT} characters")));
                }
                Rendered { subject: subject.split_whitespace().collect::<Vec<_>>().join(" "), text: text.clone(), html: body.html.clone() }
            }
            (None, None, _) => return Err(unprocessable(&f("subject"), "a subject and text, or a template_id")),
            (None, Some(_), None) => return Err(unprocessable(&f("text"), "a subject and text, or a template_id")),
        };
        let key = match (key, body.idempotency_key.clone()) {
            (Some(_), Some(_)) => return Err(unprocessable(&f("idempotency_key"), "give the key in the Idempotency-Key header or the body, not both")),
            (header, own) => header.or(own),
        };
        let priority = body.priority.unwrap_or(Priority::Normal);
        Ok(prepare(endpoint, priority, rendered, body.template_id, key, request, None, now))
    }
}

fn template_of(record: &TemplateRecord) -> Template {
    Template { name: record.name.clone(), subject: record.subject.clone(), text: record.text.clone(), html: record.html.clone() }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let key = value.to_str().ok().filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
            key.map(|k| Some(k.to_owned()))
                .ok_or_else(|| ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key is 1 to 255 visible ASCII characters").with_field("Idempotency-Key"))
        }
    }
}

fn mismatch(field: &str) -> ApiError {
    unprocessable(field, "this idempotency key was used with a different request")
}

async fn create(State(app): State<Notifications>, identity: Identity, headers: HeaderMap, ApiJson(body): ApiJson<NotificationBody>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let key = idempotency_key(&headers)?;
    let now = infra::time::now_ms();
    let new = app.new_notification(&identity.tenant, body, key, "", now, &mut HashMap::new()).await?;
    match crate::dispatch::insert(&app, &identity.tenant, vec![new], now).await?.pop() {
        Some(Inserted::New(notification)) => Ok((StatusCode::ACCEPTED, axum::Json(notification)).into_response()),
        Some(Inserted::Replay(notification)) => Ok((StatusCode::OK, axum::Json(notification)).into_response()),
        Some(Inserted::Mismatch(_)) => Err(mismatch("Idempotency-Key")),
        None => Err(ApiError::internal("an insert returned nothing")),
    }
}

async fn bulk(State(app): State<Notifications>, identity: Identity, headers: HeaderMap, ApiJson(body): ApiJson<BulkBody>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    // One key for the request: item i is keyed `<key>#i`, so a repeat of
    // the request answers the same notifications.
    let key = idempotency_key(&headers)?;
    if body.notifications.is_empty() || body.notifications.len() > MAX_BULK {
        return Err(unprocessable("notifications", format!("1 to {MAX_BULK} notifications")));
    }
    let now = infra::time::now_ms();
    let mut new = Vec::with_capacity(body.notifications.len());
    let mut endpoints = HashMap::new();
    for (index, item) in body.notifications.into_iter().enumerate() {
        let item_key = key.as_ref().map(|key| format!("{key}#{index}"));
        new.push(app.new_notification(&identity.tenant, item, item_key, &format!("notifications[{index}]"), now, &mut endpoints).await?);
    }
    let inserted = crate::dispatch::insert(&app, &identity.tenant, new, now).await?;
    let mut notifications = Vec::with_capacity(inserted.len());
    for (index, result) in inserted.into_iter().enumerate() {
        match result {
            Inserted::New(n) | Inserted::Replay(n) => notifications.push(n),
            Inserted::Mismatch(_) if key.is_some() => return Err(mismatch("Idempotency-Key")),
            Inserted::Mismatch(_) => return Err(mismatch(&format!("notifications[{index}].idempotency_key"))),
        }
    }
    Ok((StatusCode::ACCEPTED, axum::Json(BulkReply { notifications })).into_response())
}

async fn show(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let notification = app.repo.notification(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such notification"))?;
    let attempts_log = app.repo.attempts(&identity.tenant, &id).await?;
    Ok(axum::Json(NotificationWithAttempts { notification, attempts_log }).into_response())
}

async fn list(State(app): State<Notifications>, identity: Identity, uri: http::Uri) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let query: ListQuery = axum::extract::Query::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    if let Some(status) = &query.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::bad_request("invalid_status", format!("{status:?} is not a status: {}", STATUSES.join(", "))).with_field("status"));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request("invalid_limit", format!("limit is 1 to {MAX_LIMIT}")).with_field("limit"));
    }
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| {
            let parsed = c.split_once(':').and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())));
            parsed.filter(|(at, id)| *at >= 0 && id.len() == 36).ok_or_else(|| ApiError::bad_request("invalid_cursor", "cursor must be a next_cursor from an earlier page").with_field("cursor"))
        })
        .transpose()?;
    let mut notifications = app.repo.notifications(&identity.tenant, query.status.as_deref(), cursor, limit + 1).await?;
    let next_cursor = if notifications.len() > usize::try_from(limit).unwrap_or(50) {
        notifications.truncate(usize::try_from(limit).unwrap_or(50));
        notifications.last().map(|n| format!("{}:{}", n.created_at, n.id))
    } else {
        None
    };
    Ok(axum::Json(NotificationPage { notifications, next_cursor }).into_response())
}

async fn replay(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let notification = app.repo.notification(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such notification"))?;
    if !app.repo.replay(&identity.tenant, &id, infra::time::now_ms()).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_dead", format!("only a dead notification is replayed; this one is {}", notification.status)).with_field("status"));
    }
    let notification = app.repo.notification(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such notification"))?;
    crate::dispatch::announce_or_leave(&app, vec![crate::dispatch::due_of(&identity.tenant, &notification)]).await;
    Ok((StatusCode::ACCEPTED, axum::Json(notification)).into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotificationStatsQuery")]
pub struct StatsQuery {
    /// Days back from today (UTC), today included.
    #[schemars(range(min = 1, max = 90))]
    pub days: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationStats")]
pub struct StatsReply {
    pub days: Vec<DayStats>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationDayStats")]
pub struct DayStats {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub channel: Kind,
    #[schemars(range(min = 0))]
    pub sent: i64,
    /// Notifications that failed at least once and are not delivered yet.
    #[schemars(range(min = 0))]
    pub failed: i64,
    #[schemars(range(min = 0))]
    pub dead: i64,
    /// Request to delivery, of the delivered ones.
    #[schemars(range(min = 0))]
    pub p50_ms: Option<i64>,
    #[schemars(range(min = 0))]
    pub p99_ms: Option<i64>,
    /// Messages by provider, the unit the providers bill.
    pub cost: BTreeMap<String, i64>,
}

async fn stats(State(app): State<Notifications>, identity: Identity, uri: http::Uri) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let query: StatsQuery = axum::extract::Query::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let days = query.days.unwrap_or(7);
    if !(1..=90).contains(&days) {
        return Err(ApiError::bad_request("invalid_days", "days is 1 to 90").with_field("days"));
    }
    let today = infra::time::now_ms() / 86_400_000;
    let since = (today - days + 1) * 86_400_000;
    let mut table: BTreeMap<(i64, String), DayStats> = BTreeMap::new();
    for row in app.repo.stats(&identity.tenant, since).await? {
        let Some(channel) = Kind::parse(&row.channel) else { continue };
        let entry = table.entry((row.day, row.channel.clone())).or_insert_with(|| DayStats {
            day: infra::time::rfc3339(row.day * 86_400_000)[..10].to_owned(),
            channel,
            sent: 0,
            failed: 0,
            dead: 0,
            p50_ms: None,
            p99_ms: None,
            cost: BTreeMap::new(),
        });
        match row.status.as_str() {
            "delivered" => {
                entry.sent += row.count;
                *entry.cost.entry(channel.provider().to_owned()).or_default() += row.count;
            }
            "dead" => entry.dead += row.count,
            _ => {}
        }
    }
    for (day, channel, failed) in app.repo.failing(&identity.tenant, since).await? {
        if let Some(entry) = table.get_mut(&(day, channel)) {
            entry.failed = failed;
        }
    }
    let mut latencies: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
    for (channel, day, latency) in app.repo.latencies(&identity.tenant, since).await? {
        latencies.entry((day, channel)).or_default().push(latency.max(0));
    }
    for (key, mut values) in latencies {
        values.sort_unstable();
        if let Some(entry) = table.get_mut(&key) {
            entry.p50_ms = percentile(&values, 0.50);
            entry.p99_ms = percentile(&values, 0.99);
        }
    }
    Ok(axum::Json(StatsReply { days: table.into_values().collect() }).into_response())
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

// Endpoints.

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotificationEndpointBody")]
pub struct EndpointBody {
    pub kind: Kind,
    /// For `webhook` and `slack`: an http(s) URL on a public address.
    #[schemars(length(min = 1, max = 2048))]
    pub url: Option<String>,
    /// For `email`.
    #[schemars(length(min = 3, max = 254))]
    pub address: Option<String>,
    /// For `webhook`: a `whsec_` secret; one is generated when absent. On
    /// an update it rotates: the new secret and the one before both sign.
    #[schemars(length(min = 1, max = 200))]
    pub secret: Option<String>,
    #[schemars(range(min = 1, max = 1000))]
    pub rate_limit_per_s: Option<i64>,
    pub quiet_hours: Option<QuietHours>,
    /// Gathers low-priority messages into one per window.
    #[schemars(range(min = 60, max = 86400))]
    pub digest_window_s: Option<i64>,
    /// On an update: false disables, true enables again.
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationEndpointCreated")]
pub struct EndpointCreated {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The generated `whsec_` secret, shown this once.
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationEndpointList")]
pub struct EndpointList {
    pub endpoints: Vec<Endpoint>,
}

impl Notifications {
    /// Checks an endpoint body; returns the target.
    async fn target(&self, body: &EndpointBody) -> Result<String, ApiError> {
        match body.kind {
            Kind::Webhook | Kind::Slack => {
                if body.address.is_some() {
                    return Err(unprocessable("address", "an address is for email endpoints; give a url"));
                }
                let url = body.url.as_deref().ok_or_else(|| unprocessable("url", "a webhook or Slack endpoint needs a url"))?;
                if url.len() > 2048 {
                    return Err(unprocessable("url", "at most 2048 characters"));
                }
                infra::ssrf::check_url(url, self.settings.allow_private_targets).await.map_err(|refused| unprocessable("url", refused.to_string()))?;
                Ok(url.to_owned())
            }
            Kind::Email => {
                if body.url.is_some() {
                    return Err(unprocessable("url", "a url is for webhook and Slack endpoints; give an address"));
                }
                let address = body.address.as_deref().ok_or_else(|| unprocessable("address", "an email endpoint needs an address"))?;
                let valid = address.len() <= 254
                    && address.parse::<lettre::Address>().is_ok()
                    && !address.chars().any(|c| c.is_whitespace() || c.is_control());
                if !valid {
                    return Err(unprocessable("address", "not an email address"));
                }
                Ok(address.to_owned())
            }
        }
    }

    fn endpoint_settings(&self, body: &EndpointBody) -> Result<(), ApiError> {
        if body.secret.is_some() && body.kind != Kind::Webhook {
            return Err(unprocessable("secret", "only webhooks are signed"));
        }
        if let Some(secret) = &body.secret {
            Secret::parse(secret).map_err(|error| unprocessable("secret", error.to_string()))?;
        }
        if let Some(limit) = body.rate_limit_per_s
            && !(1..=1000).contains(&limit)
        {
            return Err(unprocessable("rate_limit_per_s", "1 to 1000 per second"));
        }
        if let Some(window) = body.digest_window_s
            && !(60..=86_400).contains(&window)
        {
            return Err(unprocessable("digest_window_s", "60 s to a day"));
        }
        if let Some(quiet) = &body.quiet_hours {
            quiet.validate().map_err(|error| unprocessable(&format!("quiet_hours.{}", error.field()), error.to_string()))?;
        }
        Ok(())
    }
}

async fn create_endpoint(State(app): State<Notifications>, identity: Identity, ApiJson(body): ApiJson<EndpointBody>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    if body.enabled.is_some() {
        return Err(unprocessable("enabled", "a new endpoint is enabled; disable it with an update"));
    }
    let target = app.target(&body).await?;
    app.endpoint_settings(&body)?;
    let generated = (body.kind == Kind::Webhook && body.secret.is_none()).then(|| Secret::from_random(rand::random()).serialize());
    let secrets: Vec<String> = body.secret.clone().or_else(|| generated.clone()).into_iter().collect();
    let now = infra::time::now_ms();
    let endpoint = Endpoint {
        id: uuid::Uuid::new_v4().to_string(),
        kind: body.kind,
        target,
        rate_limit_per_s: body.rate_limit_per_s,
        quiet_hours: body.quiet_hours,
        digest_window_s: body.digest_window_s,
        enabled: true,
        disabled_reason: None,
        consecutive_failures: 0,
        created_at: now,
        updated_at: now,
        secrets,
    };
    app.repo.insert_endpoint(&identity.tenant, &endpoint).await?;
    Ok((StatusCode::CREATED, axum::Json(EndpointCreated { endpoint, secret: generated })).into_response())
}

async fn update_endpoint(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<EndpointBody>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let current = app.repo.endpoint(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such endpoint"))?;
    if body.kind != current.kind {
        return Err(unprocessable("kind", format!("the endpoint is a {} endpoint; its kind cannot change", current.kind.as_str())));
    }
    let target = app.target(&body).await?;
    app.endpoint_settings(&body)?;
    let mut secrets = current.secrets.clone();
    if let Some(secret) = body.secret.clone()
        && secrets.first() != Some(&secret)
    {
        // Rotation: the new secret signs first, the previous one still signs.
        secrets.insert(0, secret);
        secrets.truncate(2);
    }
    let endpoint = Endpoint {
        target,
        rate_limit_per_s: body.rate_limit_per_s,
        quiet_hours: body.quiet_hours,
        digest_window_s: body.digest_window_s,
        enabled: body.enabled.unwrap_or(current.enabled),
        updated_at: infra::time::now_ms().max(current.updated_at),
        secrets,
        ..current
    };
    if !app.repo.update_endpoint(&identity.tenant, &endpoint).await? {
        return Err(ApiError::not_found("no such endpoint"));
    }
    let endpoint = app.repo.endpoint(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such endpoint"))?;
    Ok(axum::Json(endpoint).into_response())
}

async fn show_endpoint(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let endpoint = app.repo.endpoint(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such endpoint"))?;
    Ok(axum::Json(endpoint).into_response())
}

async fn list_endpoints(State(app): State<Notifications>, identity: Identity) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    Ok(axum::Json(EndpointList { endpoints: app.repo.endpoints(&identity.tenant).await? }).into_response())
}

async fn delete_endpoint(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    if !app.repo.delete_endpoint(&identity.tenant, &id).await? {
        return Err(ApiError::not_found("no such endpoint"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// Templates.

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotificationTemplateBody")]
pub struct TemplateBody {
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    #[schemars(length(min = 1, max = 2000))]
    pub subject: String,
    #[schemars(length(max = 65536))]
    pub text: String,
    #[schemars(length(max = 65536))]
    pub html: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationTemplateList")]
pub struct TemplateList {
    pub templates: Vec<TemplateRecord>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotificationPreviewBody")]
pub struct PreviewBody {
    /// The sample data the template renders with.
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationPreviewReply")]
pub struct PreviewReply {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

fn checked_template(id: String, body: TemplateBody, now: i64) -> Result<TemplateRecord, ApiError> {
    if body.name.trim().is_empty() || body.name.chars().count() > 100 {
        return Err(unprocessable("name", "a name is 1 to 100 characters"));
    }
    if body.subject.is_empty() || body.subject.chars().count() > 2000 {
        return Err(unprocessable("subject", "a subject is 1 to 2000 characters"));
    }
    for (part, source) in [("text", Some(&body.text)), ("html", body.html.as_ref())] {
        if source.is_some_and(|source| source.chars().count() > 65_536) {
            return Err(unprocessable(part, "at most 65536 characters"));
        }
    }
    let record = TemplateRecord { id, name: body.name, subject: body.subject, text: body.text, html: body.html, created_at: now, updated_at: now };
    template_of(&record).check().map_err(render_error)?;
    Ok(record)
}

async fn create_template(State(app): State<Notifications>, identity: Identity, ApiJson(body): ApiJson<TemplateBody>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let record = checked_template(uuid::Uuid::new_v4().to_string(), body, infra::time::now_ms())?;
    app.repo.save_template(&identity.tenant, &record, true).await?;
    Ok((StatusCode::CREATED, axum::Json(record)).into_response())
}

async fn update_template(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<TemplateBody>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let current = app.repo.template(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such template"))?;
    let record = TemplateRecord { created_at: current.created_at, ..checked_template(id, body, infra::time::now_ms().max(current.updated_at))? };
    if !app.repo.save_template(&identity.tenant, &record, false).await? {
        return Err(ApiError::not_found("no such template"));
    }
    Ok(axum::Json(record).into_response())
}

async fn show_template(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let record = app.repo.template(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such template"))?;
    Ok(axum::Json(record).into_response())
}

async fn list_templates(State(app): State<Notifications>, identity: Identity) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    Ok(axum::Json(TemplateList { templates: app.repo.templates(&identity.tenant).await? }).into_response())
}

async fn delete_template(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    if !app.repo.delete_template(&identity.tenant, &id).await? {
        return Err(ApiError::not_found("no such template"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn preview(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<PreviewBody>) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let record = app.repo.template(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such template"))?;
    let rendered = template_of(&record).render(&serde_json::Value::Object(body.data)).map_err(render_error)?;
    Ok(axum::Json(PreviewReply { subject: rendered.subject, text: rendered.text, html: rendered.html }).into_response())
}

// Subscriptions.

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotificationSubscriptionBody")]
pub struct SubscriptionBody {
    /// One of the platform events Notifications consumes.
    #[schemars(length(min = 1, max = 100))]
    pub event_type: String,
    /// Dot-separated payload paths and the values they must equal.
    #[serde(default)]
    pub filter: serde_json::Map<String, serde_json::Value>,
    #[schemars(length(min = 1, max = 64))]
    pub template_id: Option<String>,
    #[schemars(length(min = 1, max = 64))]
    pub endpoint_id: String,
    pub priority: Option<Priority>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "NotificationSubscriptionList")]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionRecord>,
}

impl Notifications {
    async fn checked_subscription(&self, tenant: &str, id: String, body: SubscriptionBody, created_at: i64) -> Result<SubscriptionRecord, ApiError> {
        if !EVENTS.accepts(&body.event_type) {
            let known: Vec<&str> = EVENTS.events.iter().map(|e| e.as_str()).collect();
            return Err(unprocessable("event_type", format!("{:?} is not an event Notifications consumes: {}", body.event_type, known.join(", "))));
        }
        if body.filter.len() > 20 || body.filter.keys().any(|k| k.is_empty() || k.len() > 200) {
            return Err(unprocessable("filter", "at most 20 paths of 1 to 200 characters"));
        }
        if self.repo.endpoint(tenant, &body.endpoint_id).await?.is_none() {
            return Err(unprocessable("endpoint_id", "no such endpoint for this tenant"));
        }
        match &body.template_id {
            Some(template) if self.repo.template(tenant, template).await?.is_none() => return Err(unprocessable("template_id", "no such template for this tenant")),
            None if builtin::template(&body.event_type).is_none() => return Err(unprocessable("template_id", "this event has no built-in template; name one")),
            _ => {}
        }
        Ok(SubscriptionRecord {
            id,
            event_type: body.event_type,
            filter: body.filter,
            template_id: body.template_id,
            endpoint_id: body.endpoint_id,
            priority: body.priority.unwrap_or(Priority::Normal),
            created_at,
        })
    }
}

async fn create_subscription(State(app): State<Notifications>, identity: Identity, ApiJson(body): ApiJson<SubscriptionBody>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let record = app.checked_subscription(&identity.tenant, uuid::Uuid::new_v4().to_string(), body, infra::time::now_ms()).await?;
    app.repo.save_subscription(&identity.tenant, &record, true).await?;
    Ok((StatusCode::CREATED, axum::Json(record)).into_response())
}

async fn update_subscription(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>, ApiJson(body): ApiJson<SubscriptionBody>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    let current = app.repo.subscription(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such subscription"))?;
    let record = app.checked_subscription(&identity.tenant, id, body, current.created_at).await?;
    if !app.repo.save_subscription(&identity.tenant, &record, false).await? {
        return Err(ApiError::not_found("no such subscription"));
    }
    Ok(axum::Json(record).into_response())
}

async fn show_subscription(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    let record = app.repo.subscription(&identity.tenant, &id).await?.ok_or_else(|| ApiError::not_found("no such subscription"))?;
    Ok(axum::Json(record).into_response())
}

async fn list_subscriptions(State(app): State<Notifications>, identity: Identity) -> Result<Response, ApiError> {
    require(&identity, READ_SCOPE)?;
    Ok(axum::Json(SubscriptionList { subscriptions: app.repo.subscriptions(&identity.tenant, None).await? }).into_response())
}

async fn delete_subscription(State(app): State<Notifications>, identity: Identity, Path(id): Path<String>) -> Result<Response, ApiError> {
    require(&identity, WRITE_SCOPE)?;
    if !app.repo.delete_subscription(&identity.tenant, &id).await? {
        return Err(ApiError::not_found("no such subscription"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// The OpenAPI document.

pub fn openapi() -> serde_json::Value {
    let mut d = Document::new("Hive notifications", "Webhooks (Standard Webhooks signatures), Slack and email, with templates, priorities, quiet hours, rate limits, retries and a dead-letter state.");
    let id = json!({"type": "string", "minLength": 1, "maxLength": 64});
    let notification_body = d.schema::<NotificationBody>();
    let notification = d.schema::<Notification>();
    let bulk_body = d.schema::<BulkBody>();
    let bulk_reply = d.schema::<BulkReply>();
    let with_attempts = d.schema::<NotificationWithAttempts>();
    let page = d.schema::<NotificationPage>();
    let stats = d.schema::<StatsReply>();
    let endpoint_body = d.schema::<EndpointBody>();
    let endpoint_created = d.schema::<EndpointCreated>();
    let endpoint = d.schema::<Endpoint>();
    let endpoints = d.schema::<EndpointList>();
    let template_body = d.schema::<TemplateBody>();
    let template = d.schema::<TemplateRecord>();
    let templates = d.schema::<TemplateList>();
    let preview_body = d.schema::<PreviewBody>();
    let preview_reply = d.schema::<PreviewReply>();
    let subscription_body = d.schema::<SubscriptionBody>();
    let subscription = d.schema::<SubscriptionRecord>();
    let subscriptions = d.schema::<SubscriptionList>();
    let from_body = json!({"id": "$response.body#/id"});
    let path_id = |op: Operation, what: &str| op.path_parameter("id", id.clone(), &format!("The {what}'s id.")).error(404, &format!("no such {what} for this tenant"));
    let key_header = json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"});
    let notifications = [
        Operation::post("/v1/notifications", "createNotification")
            .summary("Queues one notification; with Idempotency-Key, one delivery per endpoint however often it is sent, and a repeat answers the original.")
            .scope(WRITE_SCOPE)
            .header("Idempotency-Key", false, key_header.clone(), "One delivery per endpoint for this key.")
            .json_body(notification_body)
            .json_response(202, "queued", notification.clone())
            .json_response(200, "the notification an earlier request with this key made", notification.clone())
            .error(400, "a bad Idempotency-Key, or a template that does not render (the template, part and line)")
            .error(422, "bad input, or the key reused with another body; `field` names it")
            .link(202, "GetNotification", "getNotification", from_body.clone())
            .link(202, "ReplayNotification", "replayNotification", from_body.clone()),
        Operation::post("/v1/notifications/bulk", "createNotifications")
            .summary("Queues up to 1,000 notifications at once, all or none; with Idempotency-Key, a repeat of the request answers the notifications it made.")
            .scope(WRITE_SCOPE)
            .header("Idempotency-Key", false, key_header, "Keys item i as `<key>#i`; items then carry no key of their own.")
            .json_body(bulk_body)
            .json_response(202, "queued", bulk_reply)
            .error(400, "a bad Idempotency-Key, or a template that does not render")
            .error(422, "bad input, or a key reused with another body; `field` names the item and its field, or the header"),
        Operation::get("/v1/notifications", "listNotifications")
            .summary("The tenant's notifications, newest first, by status (`dead` for the dead-letter state), in keyset pages.")
            .scope(READ_SCOPE)
            .query_of::<ListQuery>(&mut d)
            .json_response(200, "a page", page)
            .error(400, "a bad status, limit or cursor; `field` names it"),
        Operation::get("/v1/notifications/stats", "notificationStats")
            .summary("Per channel and UTC day: sent, failed, dead, p50 and p99 request-to-delivery latency, and messages by provider.")
            .scope(READ_SCOPE)
            .query_of::<StatsQuery>(&mut d)
            .json_response(200, "the figures", stats)
            .error(400, "bad days"),
        path_id(Operation::get("/v1/notifications/{id}", "getNotification").summary("A notification with its status and every attempt.").scope(READ_SCOPE).json_response(200, "the notification", with_attempts), "notification"),
        path_id(
            Operation::post("/v1/notifications/{id}/replay", "replayNotification")
                .summary("Sends a dead notification again, with a fresh retry schedule.")
                .scope(WRITE_SCOPE)
                .json_response(202, "queued again", notification)
                .error(409, "the notification is not dead"),
            "notification",
        ),
    ];
    let endpoint_ops = [
        Operation::post("/v1/notification-endpoints", "createNotificationEndpoint")
            .summary("Adds a webhook, Slack or email endpoint; a webhook's generated `whsec_` secret is in the answer, once.")
            .scope(WRITE_SCOPE)
            .json_body(endpoint_body.clone())
            .json_response(201, "the endpoint", endpoint_created)
            .error(422, "bad input, or a private or metadata address; `field` names it")
            .link(201, "GetNotificationEndpoint", "getNotificationEndpoint", from_body.clone())
            .link(201, "UpdateNotificationEndpoint", "updateNotificationEndpoint", from_body.clone())
            .link(201, "DeleteNotificationEndpoint", "deleteNotificationEndpoint", from_body.clone()),
        Operation::get("/v1/notification-endpoints", "listNotificationEndpoints").summary("The tenant's endpoints.").scope(READ_SCOPE).json_response(200, "the endpoints", endpoints),
        path_id(Operation::get("/v1/notification-endpoints/{id}", "getNotificationEndpoint").summary("An endpoint (never its secrets).").scope(READ_SCOPE).json_response(200, "the endpoint", endpoint.clone()), "endpoint"),
        path_id(
            Operation::put("/v1/notification-endpoints/{id}", "updateNotificationEndpoint")
                .summary("Replaces an endpoint's settings; a new secret rotates (both sign), `enabled` disables or enables it.")
                .scope(WRITE_SCOPE)
                .json_body(endpoint_body)
                .json_response(200, "the endpoint", endpoint)
                .error(422, "bad input; `field` names it"),
            "endpoint",
        ),
        path_id(Operation::delete("/v1/notification-endpoints/{id}", "deleteNotificationEndpoint").summary("Deletes an endpoint and its subscriptions.").scope(WRITE_SCOPE).empty_response(204, "deleted"), "endpoint"),
    ];
    let template_ops = [
        Operation::post("/v1/notification-templates", "createNotificationTemplate")
            .summary("Adds a minijinja template (strict: an undefined name is an error; HTML auto-escaped).")
            .scope(WRITE_SCOPE)
            .json_body(template_body.clone())
            .json_response(201, "the template", template.clone())
            .error(400, "a syntax error, naming the template, its part and the line")
            .link(201, "GetNotificationTemplate", "getNotificationTemplate", from_body.clone())
            .link(201, "UpdateNotificationTemplate", "updateNotificationTemplate", from_body.clone())
            .link(201, "PreviewNotificationTemplate", "previewNotificationTemplate", from_body.clone())
            .link(201, "DeleteNotificationTemplate", "deleteNotificationTemplate", from_body.clone()),
        Operation::get("/v1/notification-templates", "listNotificationTemplates").summary("The tenant's templates.").scope(READ_SCOPE).json_response(200, "the templates", templates),
        path_id(Operation::get("/v1/notification-templates/{id}", "getNotificationTemplate").summary("A template.").scope(READ_SCOPE).json_response(200, "the template", template.clone()), "template"),
        path_id(
            Operation::put("/v1/notification-templates/{id}", "updateNotificationTemplate")
                .summary("Replaces a template.")
                .scope(WRITE_SCOPE)
                .json_body(template_body)
                .json_response(200, "the template", template)
                .error(400, "a syntax error, naming the template, its part and the line"),
            "template",
        ),
        path_id(Operation::delete("/v1/notification-templates/{id}", "deleteNotificationTemplate").summary("Deletes a template.").scope(WRITE_SCOPE).empty_response(204, "deleted"), "template"),
        path_id(
            Operation::post("/v1/notification-templates/{id}/preview", "previewNotificationTemplate")
                .summary("Renders a template with sample data.")
                .scope(READ_SCOPE)
                .json_body(preview_body)
                .json_response(200, "the rendered message", preview_reply)
                .error(400, "the template does not render this data (the template, part and line)"),
            "template",
        ),
    ];
    let subscription_ops = [
        Operation::post("/v1/notification-subscriptions", "createNotificationSubscription")
            .summary("Routes a platform event (with an optional payload filter) through a template to an endpoint.")
            .scope(WRITE_SCOPE)
            .json_body(subscription_body.clone())
            .json_response(201, "the subscription", subscription.clone())
            .error(422, "an unknown event type, endpoint or template; `field` names it")
            .link(201, "GetNotificationSubscription", "getNotificationSubscription", from_body.clone())
            .link(201, "UpdateNotificationSubscription", "updateNotificationSubscription", from_body.clone())
            .link(201, "DeleteNotificationSubscription", "deleteNotificationSubscription", from_body),
        Operation::get("/v1/notification-subscriptions", "listNotificationSubscriptions").summary("The tenant's subscriptions.").scope(READ_SCOPE).json_response(200, "the subscriptions", subscriptions),
        path_id(Operation::get("/v1/notification-subscriptions/{id}", "getNotificationSubscription").summary("A subscription.").scope(READ_SCOPE).json_response(200, "the subscription", subscription.clone()), "subscription"),
        path_id(
            Operation::put("/v1/notification-subscriptions/{id}", "updateNotificationSubscription")
                .summary("Replaces a subscription.")
                .scope(WRITE_SCOPE)
                .json_body(subscription_body)
                .json_response(200, "the subscription", subscription)
                .error(422, "an unknown event type, endpoint or template; `field` names it"),
            "subscription",
        ),
        path_id(Operation::delete("/v1/notification-subscriptions/{id}", "deleteNotificationSubscription").summary("Deletes a subscription.").scope(WRITE_SCOPE).empty_response(204, "deleted"), "subscription"),
    ];
    for operation in notifications.into_iter().chain(endpoint_ops).chain(template_ops).chain(subscription_ops) {
        d.operation(operation);
    }
    d.to_json()
}
