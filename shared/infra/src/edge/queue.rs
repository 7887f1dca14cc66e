//! The queue edge: a per-message handler becomes an SQS-triggered Lambda
//! function (or a consumer the local runner feeds from its bus).
//!
//! Each message runs in its own span (queue, message id, correlation id).
//! A message whose idempotency key is already recorded is acknowledged
//! without running the handler, because SQS delivers at least once.
//!
//! Failures, retryable or permanent, are returned in `batchItemFailures`, so
//! only those messages return to the queue. Permanent failures are listed
//! too, on purpose: retrying them is useless, but the queue's redrive policy
//! moves them to the dead-letter queue after `maxReceiveCount` receives,
//! where they stay visible and can be replayed once the bug is fixed.
//! Acknowledging them instead would lose them unless a second failure store
//! existed. They are logged at `error` with `permanent = true`.
//!
//! On a FIFO queue (ARN ending in `.fifo`) the first failure also fails
//! every later message of the batch unprocessed, to keep the group's order.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::Error;
use crate::events::EventName;
use crate::telemetry::{self, CORRELATION_ID_ATTRIBUTE};

/// The message attribute carrying the logical message id, which the queue
/// port sets on every message it sends and keeps across redeliveries and
/// re-sends; it is the idempotency key. Without it (a message sent by
/// something else) the queue's own message id is the key, which catches
/// redeliveries only.
pub const IDEMPOTENCY_KEY_ATTRIBUTE: &str = crate::queue::wire::MESSAGE_ID;
/// The message attribute naming the event (see [`crate::events`]).
pub const EVENT_ATTRIBUTE: &str = crate::queue::wire::EVENT_TYPE;
/// The message attribute naming the tenant the message acts for.
pub const TENANT_ATTRIBUTE: &str = crate::queue::wire::TENANT;

/// One delivered message, independent of the queue technology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub queue: String,
    pub body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
    pub correlation_id: String,
    pub idempotency_key: String,
    /// How often this message has been received, this time included.
    pub receive_count: u32,
}

impl Message {
    /// A message as the local bus or a test hands it over.
    pub fn new(queue: &str, id: &str, body: &str, attributes: BTreeMap<String, String>) -> Message {
        let correlation_id =
            telemetry::correlation_id_from_attribute(attributes.get(CORRELATION_ID_ATTRIBUTE).map(String::as_str));
        let idempotency_key = attributes.get(IDEMPOTENCY_KEY_ATTRIBUTE).cloned().unwrap_or_else(|| id.to_owned());
        Message {
            id: id.to_owned(),
            queue: queue.to_owned(),
            body: body.to_owned(),
            attributes,
            correlation_id,
            idempotency_key,
            receive_count: 1,
        }
    }

    /// Converts an SQS record. A record without a message id cannot even be
    /// reported as failed, so that is an error for the caller to log.
    pub fn from_sqs(record: &SqsMessage) -> Result<Message, Error> {
        let id = record
            .message_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::invalid("messageId", "missing"))?;
        let queue = record.event_source_arn.as_deref().and_then(|arn| arn.rsplit(':').next()).unwrap_or("unknown");
        let attributes = record
            .message_attributes
            .iter()
            .filter_map(|(name, attribute)| attribute.string_value.clone().map(|value| (name.clone(), value)))
            .collect();
        let mut message = Message::new(queue, id, record.body.as_deref().unwrap_or(""), attributes);
        message.receive_count =
            record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
        Ok(message)
    }

    /// Converts a delivery from the queue port (the local runner's bus).
    pub fn from_delivery(queue: &str, delivery: &crate::queue::Delivery) -> Message {
        let sent = &delivery.message;
        let mut attributes = BTreeMap::from([
            (EVENT_ATTRIBUTE.to_owned(), sent.attributes.event_type.clone()),
            (CORRELATION_ID_ATTRIBUTE.to_owned(), sent.attributes.correlation_id.clone()),
            (IDEMPOTENCY_KEY_ATTRIBUTE.to_owned(), sent.id.clone()),
        ]);
        if let Some(tenant) = &sent.attributes.tenant {
            attributes.insert(TENANT_ATTRIBUTE.to_owned(), tenant.clone());
        }
        let mut message = Message::new(queue, &sent.id, &String::from_utf8_lossy(&sent.body), attributes);
        message.receive_count = delivery.receive_count;
        message
    }

    /// The body parsed as JSON; a body of the wrong shape is permanent.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.body).map_err(|error| Error::invalid("body", error.to_string()))
    }

    /// The CloudEvents envelope the body carries; anything else is
    /// `Invalid`, so the message ends in the dead-letter queue.
    pub fn envelope(&self) -> Result<crate::events::Envelope, Error> {
        crate::events::Envelope::parse(self.body.as_bytes())
    }

    /// The event this message announces, if it names one.
    pub fn event(&self) -> Option<Result<EventName, Error>> {
        self.attributes.get(EVENT_ATTRIBUTE).map(|name| name.parse())
    }
}

/// A per-message handler. Build one with [`message_handler`].
pub type MessageHandler = Arc<dyn Fn(Message) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// Wraps an `async fn(Message) -> Result<(), Error>` (or a closure returning
/// such a future) as a [`MessageHandler`].
pub fn message_handler<F, Fut>(handler: F) -> MessageHandler
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    Arc::new(move |message| Box::pin(handler(message)))
}

/// Remembers which messages were processed. The cache port backs it in
/// production (a key with a TTL longer than the queue's retention); the
/// in-memory one serves tests and the local runner.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn is_processed(&self, key: &str) -> Result<bool, Error>;
    async fn mark_processed(&self, key: &str) -> Result<(), Error>;
}

/// The production store: the cache port (Redis, or in-process locally).
/// Keys live for `ttl`, which should outlast the queue's retention period
/// so a redelivery is always recognised.
pub struct CacheIdempotencyStore {
    cache: Arc<dyn crate::cache::Cache>,
    ttl: std::time::Duration,
}

/// How long a processed message id is remembered: longer than SQS's
/// maximum retention (14 days), so no redelivery is ever mistaken for new.
pub const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 24 * 3600);

impl CacheIdempotencyStore {
    pub fn new(cache: Arc<dyn crate::cache::Cache>, ttl: std::time::Duration) -> CacheIdempotencyStore {
        CacheIdempotencyStore { cache, ttl }
    }

    /// The store every consumer uses: keys kept for [`IDEMPOTENCY_TTL`].
    pub fn standard(cache: Arc<dyn crate::cache::Cache>) -> CacheIdempotencyStore {
        CacheIdempotencyStore::new(cache, IDEMPOTENCY_TTL)
    }

    fn key(key: &str) -> String {
        format!("processed:{key}")
    }
}

#[async_trait]
impl IdempotencyStore for CacheIdempotencyStore {
    async fn is_processed(&self, key: &str) -> Result<bool, Error> {
        Ok(self.cache.get(&Self::key(key)).await?.is_some())
    }

    async fn mark_processed(&self, key: &str) -> Result<(), Error> {
        self.cache.set(&Self::key(key), b"1", Some(self.ttl)).await
    }
}

/// An in-process store remembering the most recent `capacity` keys.
#[derive(Debug)]
pub struct MemoryIdempotencyStore {
    capacity: usize,
    keys: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl MemoryIdempotencyStore {
    pub fn new(capacity: usize) -> MemoryIdempotencyStore {
        MemoryIdempotencyStore { capacity: capacity.max(1), keys: Mutex::new((HashSet::new(), VecDeque::new())) }
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn is_processed(&self, key: &str) -> Result<bool, Error> {
        Ok(self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0.contains(key))
    }

    async fn mark_processed(&self, key: &str) -> Result<(), Error> {
        let mut guard = self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if set.insert(key.to_owned()) {
            order.push_back(key.to_owned());
            if order.len() > self.capacity
                && let Some(oldest) = order.pop_front()
            {
                set.remove(&oldest);
            }
        }
        Ok(())
    }
}

/// What became of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Processed,
    /// Already processed before; acknowledged without running the handler.
    Duplicate,
    /// The handler (or the idempotency store) failed; redeliver.
    Failed {
        retryable: bool,
    },
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }
}

/// Runs one message through the handler, in its span, with the idempotency
/// check. A panic in the handler is caught and counts as a permanent
/// failure, so one bad message cannot take the rest of the batch down.
pub async fn process_message(message: Message, handler: &MessageHandler, store: &dyn IdempotencyStore) -> Outcome {
    let span = telemetry::message_span(&message.queue, &message.id, &message.correlation_id);
    async move {
        let key = message.idempotency_key.clone();
        match store.is_processed(&key).await {
            Ok(true) => {
                tracing::info!(idempotency_key = %key, "duplicate message skipped");
                return Outcome::Duplicate;
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "idempotency store unavailable; message will be redelivered");
                return Outcome::Failed { retryable: true };
            }
        }
        let receive_count = message.receive_count;
        let result = AssertUnwindSafe(handler(message)).catch_unwind().await;
        match result {
            Ok(Ok(())) => {
                if let Err(error) = store.mark_processed(&key).await {
                    // The work is done; at worst a redelivery repeats it.
                    tracing::warn!(%error, "could not record the message as processed");
                }
                tracing::info!("message processed");
                Outcome::Processed
            }
            Ok(Err(error)) if error.is_retryable() => {
                tracing::warn!(%error, receive_count, "message failed; will be retried");
                Outcome::Failed { retryable: true }
            }
            Ok(Err(error)) => {
                tracing::error!(%error, receive_count, permanent = true, "message failed permanently; it goes to the dead-letter queue after its last receive");
                Outcome::Failed { retryable: false }
            }
            Err(_) => {
                tracing::error!(receive_count, permanent = true, "message handler panicked");
                Outcome::Failed { retryable: false }
            }
        }
    }
    .instrument(span)
    .await
}

/// Processes an SQS batch and reports the failed messages.
pub async fn process_batch(
    event: SqsEvent,
    handler: &MessageHandler,
    store: &dyn IdempotencyStore,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut fifo_blocked = false;
    for record in &event.records {
        let fifo = record.event_source_arn.as_deref().is_some_and(|arn| arn.ends_with(".fifo"));
        let message = match Message::from_sqs(record) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(%error, "unusable SQS record skipped");
                continue;
            }
        };
        if fifo && fifo_blocked {
            response.add_failure(message.id);
            continue;
        }
        let id = message.id.clone();
        if process_message(message, handler, store).await.is_failure() {
            fifo_blocked |= fifo;
            response.add_failure(id);
        }
    }
    response
}

/// Runs the handler as an SQS-triggered Lambda function. The event source
/// mapping must enable `ReportBatchItemFailures`.
pub async fn run_queue_lambda(
    handler: MessageHandler,
    store: Arc<dyn IdempotencyStore>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let (handler, store) = (handler.clone(), store.clone());
        async move { Ok::<_, lambda_runtime::Error>(process_batch(event.payload, &handler, &*store).await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn event(json: &str) -> SqsEvent {
        serde_json::from_str(json).unwrap()
    }

    fn record(id: &str, body: &str, arn: &str, attributes: &[(&str, &str)]) -> serde_json::Value {
        let attributes: serde_json::Map<_, _> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!({"stringValue": v, "dataType": "String"})))
            .collect();
        serde_json::json!({
            "messageId": id, "receiptHandle": "rh", "body": body, "eventSource": "aws:sqs",
            "eventSourceARN": arn, "awsRegion": "eu-west-1",
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": attributes,
        })
    }

    fn batch(records: Vec<serde_json::Value>) -> SqsEvent {
        event(&serde_json::json!({ "Records": records }).to_string())
    }

    const ARN: &str = "arn:aws:sqs:eu-west-1:123456789012:studies";

    /// Succeeds on "ok", fails retryably on "flaky", permanently on "bad",
    /// panics on "boom"; counts calls.
    fn handler(calls: Arc<AtomicU32>) -> MessageHandler {
        message_handler(move |message: Message| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match message.body.as_str() {
                    "ok" => Ok(()),
                    "flaky" => Err(Error::Unavailable { service: "db", message: "down".into() }),
                    "bad" => Err(Error::invalid("body", "nonsense")),
                    _ => panic!("boom"),
                }
            }
        })
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }

    #[tokio::test]
    async fn failures_of_both_kinds_are_reported_and_successes_are_not() {
        let calls = Arc::new(AtomicU32::new(0));
        let store = MemoryIdempotencyStore::new(100);
        let event = batch(vec![
            record("1", "ok", ARN, &[]),
            record("2", "flaky", ARN, &[]),
            record("3", "bad", ARN, &[]),
            record("4", "boom", ARN, &[]),
            record("5", "ok", ARN, &[]),
        ]);
        let response = process_batch(event, &handler(calls.clone()), &store).await;
        assert_eq!(failed_ids(&response), ["2", "3", "4"]);
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "2");
    }

    #[tokio::test]
    async fn processed_messages_are_skipped_on_redelivery_and_failed_ones_are_not() {
        let calls = Arc::new(AtomicU32::new(0));
        let store = MemoryIdempotencyStore::new(100);
        let handler = handler(calls.clone());
        let first = batch(vec![record("1", "ok", ARN, &[]), record("2", "flaky", ARN, &[])]);
        process_batch(first.clone(), &handler, &store).await;
        let response = process_batch(first, &handler, &store).await;
        assert_eq!(failed_ids(&response), ["2"]);
        assert_eq!(calls.load(Ordering::SeqCst), 3, "1 runs once, 2 runs twice");
    }

    #[tokio::test]
    async fn the_idempotency_key_attribute_catches_duplicates_with_new_message_ids() {
        let calls = Arc::new(AtomicU32::new(0));
        let store = MemoryIdempotencyStore::new(100);
        let key = [(IDEMPOTENCY_KEY_ATTRIBUTE, "study-7-submit")];
        let event = batch(vec![record("a", "ok", ARN, &key), record("b", "ok", ARN, &key)]);
        let response = process_batch(event, &handler(calls.clone()), &store).await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_fifo_failure_fails_the_rest_of_the_batch_unprocessed() {
        let calls = Arc::new(AtomicU32::new(0));
        let arn = "arn:aws:sqs:eu-west-1:123456789012:studies.fifo";
        let event =
            batch(vec![record("1", "ok", arn, &[]), record("2", "flaky", arn, &[]), record("3", "ok", arn, &[])]);
        let response = process_batch(event, &handler(calls.clone()), &MemoryIdempotencyStore::new(10)).await;
        assert_eq!(failed_ids(&response), ["2", "3"]);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unavailable_store_means_redelivery() {
        struct Down;
        #[async_trait]
        impl IdempotencyStore for Down {
            async fn is_processed(&self, _: &str) -> Result<bool, Error> {
                Err(Error::Unavailable { service: "cache", message: "down".into() })
            }
            async fn mark_processed(&self, _: &str) -> Result<(), Error> {
                Ok(())
            }
        }
        let calls = Arc::new(AtomicU32::new(0));
        let message = Message::new("q", "1", "ok", BTreeMap::new());
        let outcome = process_message(message, &handler(calls.clone()), &Down).await;
        assert_eq!(outcome, Outcome::Failed { retryable: true });
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_cache_backs_the_store() {
        let cache = Arc::new(crate::cache::MemoryCache::new());
        let store = CacheIdempotencyStore::new(cache.clone(), std::time::Duration::from_secs(60));
        assert!(!store.is_processed("m-1").await.unwrap());
        store.mark_processed("m-1").await.unwrap();
        assert!(store.is_processed("m-1").await.unwrap());
        assert!(!store.is_processed("m-2").await.unwrap());
    }

    #[tokio::test]
    async fn memory_store_forgets_the_oldest_beyond_capacity() {
        let store = MemoryIdempotencyStore::new(2);
        for key in ["a", "b", "c"] {
            store.mark_processed(key).await.unwrap();
        }
        assert!(!store.is_processed("a").await.unwrap());
        assert!(store.is_processed("b").await.unwrap() && store.is_processed("c").await.unwrap());
    }

    #[test]
    fn sqs_fixtures_round_trip() {
        for fixture in [
            include_str!("../../tests/fixtures/events/sqs-event.json"),
            include_str!("../../tests/fixtures/events/sqs-hive-studies.json"),
        ] {
            let parsed: SqsEvent = serde_json::from_str(fixture).unwrap();
            let again: SqsEvent = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
            assert_eq!(parsed, again);
        }
        let response: SqsBatchResponse =
            serde_json::from_str(include_str!("../../tests/fixtures/events/sqs-batch-response.json")).unwrap();
        assert_eq!(failed_ids(&response), ["id2", "id4"]);
    }

    #[tokio::test]
    async fn hive_messages_from_sqs_carry_the_logical_id_correlation_and_event() {
        let event: SqsEvent =
            serde_json::from_str(include_str!("../../tests/fixtures/events/sqs-hive-studies.json")).unwrap();
        let first = Message::from_sqs(&event.records[0]).unwrap();
        assert_eq!(first.queue, "hive-studies");
        assert_eq!(first.idempotency_key, "0f6c2a4e-2d5e-4d43-9d4e-1b1f0b6a7c11");
        assert_eq!(first.correlation_id, "corr-123");
        assert_eq!(first.event().unwrap().unwrap(), EventName::StudySubmitted);
        assert_eq!(first.attributes[TENANT_ATTRIBUTE], "acme");
        assert_eq!(Message::from_sqs(&event.records[1]).unwrap().receive_count, 3);

        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let handler = message_handler(move |message: Message| {
            let log = log.clone();
            async move {
                let body: serde_json::Value = message.json()?;
                log.lock().unwrap().push(body["study_id"].as_str().unwrap().to_owned());
                Ok(())
            }
        });
        let response = process_batch(event, &handler, &MemoryIdempotencyStore::new(10)).await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(*seen.lock().unwrap(), ["st-7", "st-8"]);
    }

    #[test]
    fn message_from_a_bus_delivery() {
        let sent = crate::queue::Message::new("study.completed", b"{}".to_vec())
            .with_correlation_id("c-1")
            .with_tenant("acme");
        let delivery = crate::queue::Delivery::new(sent.clone(), 2, "receipt".into());
        let message = Message::from_delivery("studies", &delivery);
        assert_eq!((message.id.as_str(), message.idempotency_key.as_str()), (sent.id.as_str(), sent.id.as_str()));
        assert_eq!(message.correlation_id, "c-1");
        assert_eq!(message.receive_count, 2);
        assert_eq!(message.event().unwrap().unwrap(), EventName::StudyCompleted);
        assert_eq!(message.attributes[TENANT_ATTRIBUTE], "acme");
    }

    #[test]
    fn message_from_sqs_reads_ids_attributes_and_counts() {
        let event = batch(vec![record(
            "m-1",
            r#"{"study":7}"#,
            ARN,
            &[(CORRELATION_ID_ATTRIBUTE, "corr-9"), (EVENT_ATTRIBUTE, "study.submitted")],
        )]);
        let message = Message::from_sqs(&event.records[0]).unwrap();
        assert_eq!(message.id, "m-1");
        assert_eq!(message.queue, "studies");
        assert_eq!(message.correlation_id, "corr-9");
        assert_eq!(message.idempotency_key, "m-1");
        assert_eq!(message.receive_count, 1);
        assert_eq!(message.event().unwrap().unwrap(), EventName::StudySubmitted);
        assert_eq!(message.json::<serde_json::Value>().unwrap()["study"], 7);
        assert!(matches!(message.json::<Vec<u8>>(), Err(Error::Invalid { .. })));
    }
}
