//! The bus port: publish an event once; every subscription that names its
//! type receives it on **its own queue**, with the queue port's semantics
//! (at-least-once, visibility timeout, receive count, a dead-letter queue
//! per subscription after N receives).
//!
//! Why not one queue for everything: two consumers of one SQS queue compete
//! for its messages, and Lambda's SQS filter criteria delete what they do
//! not match, so a second consumer would silently lose events.
//!
//! Adapters:
//! - [`SnsBus`]: one SNS topic; each subscription is an SQS queue with its
//!   own DLQ, subscribed with raw message delivery and a filter policy on
//!   the event-type attribute. ARCHITECTURE.md says why SNS and not
//!   EventBridge.
//! - [`RabbitBus`]: one topic exchange; each subscription a quorum queue
//!   bound by event names, with a delivery limit and a dead-letter exchange.
//! - [`MemoryBus`]: one in-process queue per subscription, same semantics.
//!
//! Subscriptions are declared by the consuming function's registration
//! ([`crate::edge::Function::consumer_of`]); on AWS the SAM template holds
//! the same declaration, and a test checks that the two agree.

mod memory;
mod rabbitmq;
mod sns;

pub use memory::MemoryBus;
pub use rabbitmq::{RabbitBus, RabbitBusSettings};
pub use sns::{SnsBus, SnsSettings};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::Error;
use crate::events::EventName;
use crate::queue::{Message, Queue};

pub type Result<T> = std::result::Result<T, Error>;

/// A named consumer of some event types. The name is the consuming
/// function's (`studies-worker`); the queue is named after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub name: &'static str,
    pub events: &'static [EventName],
}

impl Subscription {
    pub fn accepts(&self, event_type: &str) -> bool {
        self.events.iter().any(|event| event.as_str() == event_type)
    }

    /// The SNS subscription filter policy selecting the same events, as the
    /// SAM template declares it.
    pub fn filter_policy(&self) -> serde_json::Value {
        let names: Vec<&str> = self.events.iter().map(|event| event.as_str()).collect();
        serde_json::json!({ crate::queue::wire::EVENT_TYPE: names })
    }
}

#[async_trait]
pub trait Bus: Send + Sync {
    /// Publishes one message (an event envelope) to every subscription of
    /// its event type; a type nobody subscribed to goes nowhere. Returns
    /// once the broker has it.
    async fn publish(&self, message: &Message) -> Result<()>;
    /// Creates the subscription's queue (and dead-letter queue, filter or
    /// bindings) if needed and returns it; idempotent. Events published
    /// before a subscription exists are not delivered to it. On AWS the
    /// template declares subscriptions and nothing calls this.
    async fn subscribe(&self, subscription: &Subscription) -> Result<Arc<dyn Queue>>;
    /// Sends one message straight to a subscription's queue, bypassing the
    /// topic, visible after `delay` as [`Queue::send_after`] says: a
    /// consumer's own work for later (a retry, a rate limit's wait). On AWS
    /// the queue is the template's, found by name.
    async fn send_after(&self, subscription: &Subscription, message: &Message, delay: Duration) -> Result<()>;
    async fn ping(&self) -> Result<()>;
}
