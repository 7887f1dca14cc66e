//! The platform's events, as functions.
//!
//! - `GET /v1/events?after=CURSOR&type=T&limit=N`: the tenant's recent
//!   events, oldest first, from the outbox (kept for `HIVE_EVENTS_RETENTION`).
//! - `GET /v1/events/stream?type=T`: the same as server-sent events
//!   (`text/event-stream`); each event's SSE id is its cursor, so a client
//!   that reconnects with `Last-Event-ID` resumes where it left off.
//! - `GET /v1/asyncapi.json`: the AsyncAPI 3.0 document of every event.
//! - The outbox sweep, on a schedule: it publishes what a crashed relay or
//!   a broker outage left unsent.
//!
//! Both event routes need the scope `events:read`, and a tenant only ever
//! sees its own events (every query filters on the token's tenant).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::Stream;
use http::{HeaderMap, StatusCode};
use infra::Error;
use infra::time::now_ms;
use infra::auth::{Identity, Verifier};
use infra::config::Config;
use infra::edge::schedule::Schedule;
use infra::edge::{Adapters, ApiError, Function, ScheduledHandler, require_scopes, scheduled_handler};
use infra::edge::openapi::{Document, Operation};
use infra::events::outbox::Stored;
use infra::events::{Envelope, EventName, Outbox, OutboxSettings};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const READ_SCOPE: &str = "events:read";
pub const EVENTS_PATH: &str = "/v1/events";
pub const STREAM_PATH: &str = "/v1/events/stream";
pub const ASYNCAPI_PATH: &str = "/v1/asyncapi.json";
/// Listing page size when `limit` is absent, and its maximum.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 500;

#[derive(Clone, Debug)]
pub struct Settings {
    pub outbox: OutboxSettings,
    /// How often the stream looks for new events.
    pub poll: Duration,
    /// How long one stream stays open; `None` for as long as the client
    /// stays. On Lambda a response is buffered, so the stream ends after a
    /// while and the client reconnects with `Last-Event-ID`, as SSE
    /// clients do by themselves.
    pub stream_for: Option<Duration>,
    /// How often the sweep runs (an EventBridge rate on AWS).
    pub sweep_every: Schedule,
}

impl Settings {
    pub fn standard(config: &Config) -> Settings {
        Settings {
            outbox: OutboxSettings::standard(config.events_retention),
            poll: Duration::from_millis(250),
            stream_for: config.events_stream_for.or(config.in_lambda().then_some(Duration::from_secs(20))),
            sweep_every: Schedule::every(Duration::from_secs(60)).expect("whole minutes").locally_every(Duration::from_secs(2)),
        }
    }
}

#[derive(Clone)]
pub struct Events {
    pub outbox: Outbox,
    pub settings: Settings,
}

impl Events {
    pub async fn start(adapters: &Adapters, settings: Settings) -> Result<Events, Error> {
        let outbox =
            Outbox::start(adapters.database.adapter.clone(), adapters.bus.adapter.clone(), settings.outbox.clone()).await?;
        Ok(Events { outbox, settings })
    }
}

/// The routes, the sweep and nothing to consume.
pub fn function(events: Events, verifier: Arc<Verifier>) -> Function {
    let every = events.settings.sweep_every;
    Function::new("events")
        .routes(routes(events.clone(), verifier))
        .openapi(openapi())
        .schedule("events-relay", every, sweeper(events))
}

/// The scheduled outbox sweep.
pub fn sweeper(events: Events) -> ScheduledHandler {
    scheduled_handler(move |_run| {
        let outbox = events.outbox.clone();
        async move { outbox.sweep(now_ms()).await.map(|_| ()) }
    })
}

/// Every path the routes serve, all `GET`; the tests hold the OpenAPI
/// document to it.
pub const PATHS: [&str; 3] = [EVENTS_PATH, STREAM_PATH, ASYNCAPI_PATH];

pub fn routes(events: Events, verifier: Arc<Verifier>) -> Router {
    let scoped = Router::new()
        .route(EVENTS_PATH, get(list))
        .route(STREAM_PATH, get(stream))
        .route_layer(require_scopes(&verifier, &[READ_SCOPE]))
        .with_state(events);
    let open = Router::new().route(ASYNCAPI_PATH, get(|| async { axum::Json(infra::events::asyncapi::document()) }));
    scoped.merge(open)
}

/// The query of `GET /v1/events`. Values arrive as text and are checked
/// by hand, so that each bad one is a 400 naming its field; the schema
/// says what they must be.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only events after this cursor (an earlier item's `cursor`).
    #[schemars(regex(pattern = r"^[0-9]{1,18}$"))]
    after: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[schemars(with = "Option<EventName>")]
    event_type: Option<String>,
    /// The page size.
    #[schemars(with = "Option<u32>", range(min = 1, max = 500))]
    limit: Option<String>,
}

/// The query of `GET /v1/events/stream`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    /// Start after this cursor; a `Last-Event-ID` header wins over it.
    #[schemars(regex(pattern = r"^[0-9]{1,18}$"))]
    after: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[schemars(with = "Option<EventName>")]
    event_type: Option<String>,
}

/// One page of `GET /v1/events`.
#[derive(Serialize, JsonSchema)]
struct Page {
    items: Vec<Item>,
    /// The cursor to ask for the next page with; `null` on the last one.
    next_cursor: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Item {
    /// This event's position: pass it as `after`, or as `Last-Event-ID`.
    cursor: String,
    event: Envelope,
}

/// The OpenAPI document of the events routes, from the same query and
/// response types the handlers use.
pub fn openapi() -> serde_json::Value {
    let mut document = Document::new("Hive events", "The tenant's recent events, as a list and as a server-sent stream.");
    let page = document.schema::<Page>();
    let cursor = json!({"type": "string", "pattern": "^[0-9]{1,18}$"});
    let event_name = document.schema::<EventName>();
    // One server-sent event: its cursor, its type, and its envelope as JSON text.
    let stream_event = json!({
        "type": "object",
        "required": ["id", "event", "data"],
        "properties": {
            "id": cursor.clone(),
            "event": event_name,
            "data": {"type": "string", "description": "The event's CloudEvents envelope, as JSON."},
        },
    });
    let list = Operation::get(EVENTS_PATH, "listEvents")
        .summary("The tenant's events, oldest first, after a cursor and of one type if asked.")
        .scope(READ_SCOPE)
        .query_of::<ListQuery>(&mut document)
        .json_response(200, "a page of events", page)
        .error(400, "a bad cursor, type or limit; `field` names it");
    let stream = Operation::get(STREAM_PATH, "streamEvents")
        .summary("The tenant's events as server-sent events: each `id` is the event's cursor, `event` its type, `data` its envelope.")
        .scope(READ_SCOPE)
        .query_of::<StreamQuery>(&mut document)
        .header("Last-Event-ID", false, cursor, "Resume after this event (sent by a reconnecting EventSource).")
        .response(200, "the stream; each event as below", "text/event-stream", stream_event)
        .error(400, "a bad cursor or type; `field` names it");
    let asyncapi = Operation::get(ASYNCAPI_PATH, "asyncApi")
        .summary("The AsyncAPI 3.0 document of every event type; no token needed.")
        .json_response(200, "the document", json!({"type": "object"}));
    document.operation(list).operation(stream).operation(asyncapi);
    document.to_json()
}

/// What the query says, checked: each bad value is a 400 naming its field.
struct Filter {
    after: i64,
    event_type: Option<EventName>,
}

fn parse_cursor(field: &str, text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(0),
        Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", format!("{field} must be a cursor from an earlier page")).with_field(field)
        }),
    }
}

fn parse_type(text: Option<&str>) -> Result<Option<EventName>, ApiError> {
    text.map(|name| {
        name.parse::<EventName>().map_err(|_| {
            ApiError::bad_request("unknown_event_type", format!("{name:?} is not an event type (see {ASYNCAPI_PATH})"))
                .with_field("type")
        })
    })
    .transpose()
}

/// Parses the query with axum's `Query`, but answers a JSON 400 naming the
/// parameter instead of axum's plain-text rejection.
fn query<T: serde::de::DeserializeOwned>(uri: &http::Uri) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(uri).map(|Query(value)| value).map_err(|rejection| {
        let message = rejection.body_text();
        let field = ["after", "type", "limit"].into_iter().find(|f| message.contains(&format!("`{f}`")));
        let error = ApiError::bad_request("invalid_query", message.clone());
        match field {
            Some(field) => error.with_field(field),
            None => error,
        }
    })
}

async fn list(State(events): State<Events>, identity: Identity, uri: http::Uri) -> Result<Response, ApiError> {
    let query: ListQuery = query(&uri)?;
    let filter = Filter { after: parse_cursor("after", query.after.as_deref())?, event_type: parse_type(query.event_type.as_deref())? };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::bad_request("invalid_limit", format!("limit must be a whole number from 1 to {MAX_LIMIT}"))
                .with_field("limit")
        })?,
    };
    let page = events.outbox.list(&identity.tenant, filter.after, filter.event_type, limit, now_ms()).await?;
    let next_cursor = (page.len() == limit).then(|| page.last().map(|stored| stored.seq.to_string())).flatten();
    let items = page.into_iter().map(|stored| Item { cursor: stored.seq.to_string(), event: stored.envelope }).collect();
    Ok(axum::Json(Page { items, next_cursor }).into_response())
}

async fn stream(
    State(events): State<Events>,
    identity: Identity,
    headers: HeaderMap,
    uri: http::Uri,
) -> Result<Response, ApiError> {
    let query: StreamQuery = query(&uri)?;
    // The header a reconnecting EventSource sends wins over the query.
    let after = parse_cursor("after", query.after.as_deref())?;
    let resume = headers.get("last-event-id").map(|value| value.to_str().unwrap_or("-"));
    let after = match resume {
        Some(id) => parse_cursor("Last-Event-ID", Some(id))?,
        None => after,
    };
    let filter = Filter { after, event_type: parse_type(query.event_type.as_deref())? };
    let stream = follow(events, identity.tenant, filter);
    let mut response = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    // Proxies must not buffer or cache a live stream.
    response.headers_mut().insert("cache-control", http::HeaderValue::from_static("no-cache"));
    response.headers_mut().insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

/// Polls the outbox after the cursor and yields each event once, in order.
fn follow(events: Events, tenant: String, filter: Filter) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    struct State {
        events: Events,
        tenant: String,
        event_type: Option<EventName>,
        cursor: i64,
        pending: std::collections::VecDeque<Stored>,
        ends_at: Option<tokio::time::Instant>,
    }
    let ends_at = events.settings.stream_for.map(|d| tokio::time::Instant::now() + d);
    let state = State { events, tenant, event_type: filter.event_type, cursor: filter.after, pending: Default::default(), ends_at };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(stored) = state.pending.pop_front() {
                state.cursor = stored.seq;
                let data = serde_json::to_string(&stored.envelope).unwrap_or_default();
                let event = SseEvent::default().id(stored.seq.to_string()).event(stored.envelope.event_type.clone()).data(data);
                return Some((Ok(event), state));
            }
            if state.ends_at.is_some_and(|end| tokio::time::Instant::now() >= end) {
                return None;
            }
            match state.events.outbox.list(&state.tenant, state.cursor, state.event_type, MAX_LIMIT, now_ms()).await {
                Ok(page) if !page.is_empty() => state.pending.extend(page),
                Ok(_) => tokio::time::sleep(state.events.settings.poll).await,
                Err(error) => {
                    tracing::warn!(%error, "event stream could not read the outbox; retrying");
                    tokio::time::sleep(state.events.settings.poll * 4).await;
                }
            }
        }
    })
}
