//! The queue port: at-least-once delivery with visibility timeouts and a
//! dead-letter queue. SQS and RabbitMQ in production, in-process embedded.
//!
//! Semantics every adapter keeps (the contract suite checks them):
//! - a received message is invisible to other receivers until it is acked,
//!   nacked (visible again at once) or its visibility timeout passes;
//! - every delivery carries how many times the message has been received;
//! - a message received `max_receives` times without an ack goes to the
//!   dead-letter queue instead of being delivered again.
//!
//! Consumers must be idempotent (use `Message::id` with the cache's claim):
//! at-least-once means a message can arrive twice.

mod memory;
pub(crate) mod rabbitmq;
pub(crate) mod sqs;

pub use memory::MemoryQueue;
pub use rabbitmq::{Binding, RabbitQueue, RabbitSettings};
pub use sqs::{SqsQueue, SqsSettings};

use crate::Error;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

pub type Result<T> = std::result::Result<T, Error>;

/// The longest delay [`Queue::send_after`] keeps: SQS's limit for a message
/// timer. A consumer that needs a message later sends it on when it arrives
/// early.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: &Message) -> Result<()>;
    /// Sends a message that stays invisible for `delay` (cut to
    /// [`MAX_DELAY`]). It may arrive up to a second early (SQS counts whole
    /// seconds, and RabbitMQ's delay queues are rounded down), never late
    /// beyond the queue's own latency.
    async fn send_after(&self, message: &Message, delay: Duration) -> Result<()>;
    /// Returns up to `max` messages, waiting up to `wait` for the first one;
    /// an empty list means none arrived in time. SQS returns at most 10.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>>;
    /// Done with the message: it is never delivered again. Acking a delivery
    /// whose visibility already ran out is a no-op; the message will come
    /// again under a newer delivery.
    async fn ack(&self, delivery: &Delivery) -> Result<()>;
    /// Not done: make the message visible again now (it counts as a receive).
    async fn nack(&self, delivery: &Delivery) -> Result<()>;
    /// Where messages go after `max_receives`; `None` for a queue that is
    /// itself a dead-letter queue.
    fn dead_letters(&self) -> Option<Arc<dyn Queue>>;
    async fn ping(&self) -> Result<()>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Unique per logical message and kept across redeliveries, so it doubles
    /// as the consumer's idempotency key.
    pub id: String,
    /// JSON bytes.
    pub body: Vec<u8>,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    pub event_type: String,
    /// Ties together everything done for one request, across functions.
    pub correlation_id: String,
    pub tenant: Option<String>,
}

impl Message {
    /// A message with a fresh id, correlated to itself.
    pub fn new(event_type: &str, body: Vec<u8>) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        let attributes = Attributes {
            event_type: event_type.to_owned(),
            correlation_id: id.clone(),
            tenant: None,
        };
        Message {
            id,
            body,
            attributes,
        }
    }

    pub fn json<T: Serialize>(event_type: &str, body: &T) -> Result<Self> {
        let bytes =
            serde_json::to_vec(body).map_err(|error| Error::invalid("body", error.to_string()))?;
        Ok(Message::new(event_type, bytes))
    }

    pub fn with_correlation_id(mut self, correlation_id: &str) -> Self {
        self.attributes.correlation_id = correlation_id.to_owned();
        self
    }

    pub fn with_tenant(mut self, tenant: &str) -> Self {
        self.attributes.tenant = Some(tenant.to_owned());
        self
    }

    pub fn body_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|error| Error::invalid("body", error.to_string()))
    }
}

/// One receipt of a message. Only the adapter that produced it can ack it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message: Message,
    /// 1 on the first delivery, 2 on the first redelivery, …
    pub receive_count: u32,
    receipt: String,
}

impl Delivery {
    pub(crate) fn new(message: Message, receive_count: u32, receipt: String) -> Self {
        Delivery {
            message,
            receive_count,
            receipt,
        }
    }

    pub(crate) fn receipt(&self) -> &str {
        &self.receipt
    }
}

/// Header / attribute names shared by the SQS and RabbitMQ encodings.
pub(crate) mod wire {
    pub const MESSAGE_ID: &str = "hive-message-id";
    pub const EVENT_TYPE: &str = "hive-event-type";
    pub const CORRELATION_ID: &str = "hive-correlation-id";
    pub const TENANT: &str = "hive-tenant";
}
