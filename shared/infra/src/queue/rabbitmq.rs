//! RabbitMQ adapter.
//!
//! Design: the queue is a *quorum* queue declared with `x-delivery-limit` and
//! a dead-letter exchange. Why a quorum queue rather than counting receives
//! ourselves and republishing: the broker keeps the delivery count with the
//! message (`x-delivery-count`), so the count survives consumer crashes and
//! connection loss, and dead-lettering happens inside the broker, atomically;
//! a republish scheme would lose or duplicate the count whenever a process
//! died between republish and ack.
//!
//! RabbitMQ has no visibility timeout: an unacked message stays with its
//! consumer until the channel closes. The adapter supplies one: each delivery
//! starts a timer that returns the message (`basic.nack`, requeue) if it is
//! neither acked nor nacked in time. A return increments the broker's
//! delivery count exactly as SQS's receive count grows, and a message
//! returned more than `max_receives - 1` times is dead-lettered by the broker.
//! Messages are pulled with `basic.get`, so `receive(max, …)` takes exactly
//! what it asks for and nothing sits prefetched in an idle process.
//!
//! RabbitMQ has no message timers either. `send_after` parks the message in
//! a classic queue whose every message has the same TTL and whose
//! dead-letter route is the work queue, so it moves over when its time is
//! up. One TTL per queue because the broker expires messages only at a
//! queue's head: a long delay ahead of a short one would hold it back.
//! Delays are rounded down to two significant figures (at most 10 % early)
//! to keep the number of such queues small, and each queue deletes itself
//! a minute after its last use.

use super::{Attributes, Delivery, Message, Queue, Result, wire};
use crate::Error;
use async_trait::async_trait;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::AbortHandle;

const SERVICE: &str = "rabbitmq";
const POLL: Duration = Duration::from_millis(50);
/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;
/// A delay queue deletes itself this long after its messages' TTL once
/// unused; it is declared again well before that.
const DELAY_QUEUE_IDLE: Duration = Duration::from_secs(60);
const DELAY_REDECLARE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct RabbitSettings {
    /// `amqp://user:pass@host:5672/%2f`.
    pub url: String,
    /// The work queue; its dead-letter queue is `<queue>.dlq`.
    pub queue: String,
    pub visibility_timeout: Duration,
    pub max_receives: u32,
    /// A bus subscription: the queue is bound to this topic exchange
    /// (declared if missing) by each routing key. `None` for a plain work
    /// queue fed through the default exchange.
    pub binding: Option<Binding>,
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub exchange: String,
    pub routing_keys: Vec<String>,
}

#[derive(Clone)]
pub struct RabbitQueue {
    shared: Arc<Shared>,
    queue: String,
    /// `None` for the dead-letter queue itself.
    dead_letter_queue: Option<String>,
}

struct Shared {
    settings: RabbitSettings,
    link: tokio::sync::Mutex<Option<Link>>,
    /// Unfinished deliveries by receipt, each with the channel it came on and
    /// its visibility timer.
    pending: Mutex<HashMap<String, Pending>>,
    /// Delay queues declared, by TTL in ms: the link generation and when,
    /// so each is declared again on a new connection and before it expires.
    delays: Mutex<HashMap<u64, (u64, Instant)>>,
}

#[derive(Clone)]
struct Link {
    generation: u64,
    connection: Arc<Connection>,
    publisher: Channel,
    consumer: Channel,
}

struct Pending {
    channel: Channel,
    tag: u64,
    timer: AbortHandle,
}

impl RabbitQueue {
    /// Connects and declares the queue and its dead-letter queue (idempotent;
    /// declaring an existing queue with different arguments fails).
    pub async fn connect(settings: RabbitSettings) -> Result<Self> {
        if settings.max_receives == 0 {
            return Err(Error::invalid("max_receives", "must be at least 1"));
        }
        let dead_letter_queue = Some(format!("{}.dlq", settings.queue));
        let queue = settings.queue.clone();
        let shared = Arc::new(Shared {
            settings,
            link: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            delays: Mutex::new(HashMap::new()),
        });
        let rabbit = RabbitQueue {
            shared,
            queue,
            dead_letter_queue,
        };
        rabbit.link().await?;
        Ok(rabbit)
    }

    /// Deletes the queue and its dead-letter queue; tests clean up with it.
    pub async fn delete(&self) -> Result<()> {
        let link = self.link().await?;
        for queue in std::iter::once(&self.queue).chain(&self.dead_letter_queue) {
            link.publisher
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(map_error)?;
        }
        Ok(())
    }

    /// The live connection, reconnecting (and redeclaring the topology) when
    /// the last one or one of its channels closed. Deliveries from an older
    /// connection were already returned to the queue by the broker.
    async fn link(&self) -> Result<Link> {
        let mut slot = self.shared.link.lock().await;
        if let Some(link) = slot.as_ref()
            && link.connection.status().connected()
            && link.publisher.status().connected()
            && link.consumer.status().connected()
        {
            return Ok(link.clone());
        }
        let generation = slot.as_ref().map_or(1, |link| link.generation + 1);
        let link = open_link(&self.shared.settings, generation).await?;
        *slot = Some(link.clone());
        Ok(link)
    }

    fn track(&self, link: &Link, tag: u64) -> String {
        let receipt = format!("{}:{tag}", link.generation);
        let shared = self.shared.clone();
        let timer_receipt = receipt.clone();
        let timeout = self.shared.settings.visibility_timeout;
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let expired = shared
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&timer_receipt);
            if let Some(pending) = expired {
                // Best effort: if the channel is gone the broker has already
                // returned the message, which is the outcome we want.
                let _ = pending.channel.basic_nack(pending.tag, requeue()).await;
            }
        });
        let pending = Pending {
            channel: link.consumer.clone(),
            tag,
            timer: timer.abort_handle(),
        };
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(receipt.clone(), pending);
        receipt
    }

    /// Removes a delivery from the pending set. `None` means its visibility
    /// already ran out (or it was settled): the caller treats it as stale.
    fn settle(&self, delivery: &Delivery) -> Option<Pending> {
        let pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(delivery.receipt())?;
        pending.timer.abort();
        Some(pending)
    }

    /// The delay queue for `ttl` ms, declared if this link has not declared
    /// it in the last half minute (it expires a minute after its last use,
    /// and a publish alone does not count as use).
    async fn delay_queue(&self, link: &Link, ttl: u64) -> Result<String> {
        let name = format!("{}.delay.{ttl}ms", self.queue);
        let fresh = |declared: Option<&(u64, Instant)>| {
            declared.is_some_and(|(generation, at)| *generation == link.generation && at.elapsed() < DELAY_REDECLARE)
        };
        if fresh(self.shared.delays.lock().unwrap_or_else(|p| p.into_inner()).get(&ttl)) {
            return Ok(name);
        }
        let mut arguments = FieldTable::default();
        let as_int = |ms: u64| AMQPValue::LongInt(i32::try_from(ms).unwrap_or(i32::MAX));
        arguments.insert("x-message-ttl".into(), as_int(ttl));
        arguments.insert("x-expires".into(), as_int(ttl + DELAY_QUEUE_IDLE.as_millis() as u64));
        arguments.insert("x-dead-letter-exchange".into(), long_string(""));
        arguments.insert("x-dead-letter-routing-key".into(), long_string(&self.queue));
        let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        link.publisher.queue_declare(name.as_str().into(), durable, arguments).await.map_err(map_error)?;
        self.shared.delays.lock().unwrap_or_else(|p| p.into_inner()).insert(ttl, (link.generation, Instant::now()));
        Ok(name)
    }

    async fn get_one(&self, link: &Link) -> Result<Option<Delivery>> {
        let got = link
            .consumer
            .basic_get(
                self.queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await
            .map_err(map_error)?;
        let Some(got) = got else { return Ok(None) };
        let delivery = got.delivery;
        let receive_count = receive_count(&delivery.properties, delivery.redelivered);
        let message = from_amqp(&delivery.properties, delivery.data);
        let receipt = self.track(link, delivery.delivery_tag);
        Ok(Some(Delivery::new(message, receive_count, receipt)))
    }
}

async fn open_link(settings: &RabbitSettings, generation: u64) -> Result<Link> {
    let connection = Connection::connect(&settings.url, ConnectionProperties::default())
        .await
        .map_err(map_error)?;
    let publisher = connection.create_channel().await.map_err(map_error)?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(map_error)?;
    let consumer = connection.create_channel().await.map_err(map_error)?;
    declare_topology(&publisher, settings).await?;
    Ok(Link {
        generation,
        connection: Arc::new(connection),
        publisher,
        consumer,
    })
}

async fn declare_topology(channel: &Channel, settings: &RabbitSettings) -> Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let dead_letter_queue = format!("{}.dlq", settings.queue);
    let mut dlq_arguments = FieldTable::default();
    dlq_arguments.insert("x-queue-type".into(), long_string("quorum"));
    channel
        .queue_declare(dead_letter_queue.as_str().into(), durable, dlq_arguments)
        .await
        .map_err(map_error)?;

    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), long_string("quorum"));
    // The broker dead-letters once a message has been returned more than
    // this many times, i.e. after its max_receives-th unsuccessful receive.
    arguments.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt((settings.max_receives - 1) as i32),
    );
    // The default exchange ("") routes by queue name, so no exchange or
    // binding needs declaring.
    arguments.insert("x-dead-letter-exchange".into(), long_string(""));
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        long_string(&dead_letter_queue),
    );
    channel
        .queue_declare(settings.queue.as_str().into(), durable, arguments)
        .await
        .map_err(map_error)?;
    if let Some(binding) = &settings.binding {
        declare_exchange(channel, &binding.exchange).await?;
        for key in &binding.routing_keys {
            channel
                .queue_bind(
                    settings.queue.as_str().into(),
                    binding.exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(map_error)?;
        }
    }
    Ok(())
}

/// The bus's durable topic exchange; declaring it again is a no-op.
pub(crate) async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<()> {
    let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(exchange.into(), ExchangeKind::Topic, options, FieldTable::default())
        .await
        .map_err(map_error)
}

#[async_trait]
impl Queue for RabbitQueue {
    async fn send(&self, message: &Message) -> Result<()> {
        let link = self.link().await?;
        publish(&link.publisher, &self.queue, message).await
    }

    async fn send_after(&self, message: &Message, delay: Duration) -> Result<()> {
        let ttl = delay_ttl(delay.min(super::MAX_DELAY));
        if ttl == 0 {
            return self.send(message).await;
        }
        let link = self.link().await?;
        let queue = self.delay_queue(&link, ttl).await?;
        publish(&link.publisher, &queue, message).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let deadline = Instant::now() + wait;
        let link = self.link().await?;
        let mut deliveries = Vec::new();
        loop {
            while deliveries.len() < max.max(1) {
                match self.get_one(&link).await? {
                    Some(delivery) => deliveries.push(delivery),
                    None => break,
                }
            }
            let now = Instant::now();
            if !deliveries.is_empty() || now >= deadline {
                return Ok(deliveries);
            }
            tokio::time::sleep(POLL.min(deadline - now)).await;
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        let Some(pending) = self.settle(delivery) else {
            return Ok(());
        };
        match pending
            .channel
            .basic_ack(pending.tag, BasicAckOptions::default())
            .await
        {
            Ok(()) => Ok(()),
            // A closed channel already returned the message; see `settle`.
            Err(_) if !pending.channel.status().connected() => Ok(()),
            Err(error) => Err(map_error(error)),
        }
    }

    async fn nack(&self, delivery: &Delivery) -> Result<()> {
        let Some(pending) = self.settle(delivery) else {
            return Ok(());
        };
        match pending.channel.basic_nack(pending.tag, requeue()).await {
            Ok(()) => Ok(()),
            Err(_) if !pending.channel.status().connected() => Ok(()),
            Err(error) => Err(map_error(error)),
        }
    }

    fn dead_letters(&self) -> Option<Arc<dyn Queue>> {
        let queue = self.dead_letter_queue.clone()?;
        Some(Arc::new(RabbitQueue {
            shared: self.shared.clone(),
            queue,
            dead_letter_queue: None,
        }))
    }

    async fn ping(&self) -> Result<()> {
        self.link().await.map(|_| ())
    }
}

/// Publishes to `queue` through the default exchange and waits for the
/// broker's confirm.
async fn publish(channel: &Channel, queue: &str, message: &Message) -> Result<()> {
    let confirmation = channel
        .basic_publish("".into(), queue.into(), BasicPublishOptions::default(), &message.body, to_properties(message))
        .await
        .map_err(map_error)?
        .await
        .map_err(map_error)?;
    if confirmation.is_nack() {
        return Err(Error::Unavailable { service: SERVICE, message: "broker refused the message (nack)".into() });
    }
    Ok(())
}

/// A delay in ms, rounded down to two significant figures; below 10 ms, 0
/// (sent at once).
fn delay_ttl(delay: Duration) -> u64 {
    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    if ms < 10 {
        return 0;
    }
    let mut scale = 1;
    while ms / scale >= 100 {
        scale *= 10;
    }
    ms / scale * scale
}

fn requeue() -> BasicNackOptions {
    BasicNackOptions {
        multiple: false,
        requeue: true,
    }
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

pub(crate) fn to_properties(message: &Message) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        wire::EVENT_TYPE.into(),
        long_string(&message.attributes.event_type),
    );
    if let Some(tenant) = &message.attributes.tenant {
        headers.insert(wire::TENANT.into(), long_string(tenant));
    }
    BasicProperties::default()
        .with_message_id(message.id.as_str().into())
        .with_correlation_id(message.attributes.correlation_id.as_str().into())
        .with_type(message.attributes.event_type.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(PERSISTENT)
        .with_headers(headers)
}

fn from_amqp(properties: &BasicProperties, body: Vec<u8>) -> Message {
    let text = |value: &Option<ShortString>| value.as_ref().map(|value| value.as_str().to_owned());
    let header = |name: &str| {
        properties
            .headers()
            .as_ref()
            .and_then(|headers| match headers.inner().get(name) {
                Some(AMQPValue::LongString(value)) => {
                    Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
                }
                Some(AMQPValue::ShortString(value)) => Some(value.as_str().to_owned()),
                _ => None,
            })
    };
    // Messages published by other tools may lack our properties; fall back
    // to a fresh id so the delivery is still usable.
    let id = text(properties.message_id()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let attributes = Attributes {
        event_type: text(properties.kind())
            .or_else(|| header(wire::EVENT_TYPE))
            .unwrap_or_default(),
        correlation_id: text(properties.correlation_id()).unwrap_or_else(|| id.clone()),
        tenant: header(wire::TENANT),
    };
    Message {
        id,
        body,
        attributes,
    }
}

/// The quorum queue counts earlier unsuccessful deliveries in
/// `x-delivery-count` (absent on a first delivery); this receive is one more.
/// A queue declared elsewhere as classic has no count, only "redelivered".
fn receive_count(properties: &BasicProperties, redelivered: bool) -> u32 {
    let returned = properties.headers().as_ref().and_then(|headers| {
        match headers.inner().get("x-delivery-count") {
            Some(AMQPValue::LongLongInt(count)) => u32::try_from(*count).ok(),
            Some(AMQPValue::LongInt(count)) => u32::try_from(*count).ok(),
            Some(AMQPValue::LongUInt(count)) => Some(*count),
            Some(AMQPValue::ShortInt(count)) => u32::try_from(*count).ok(),
            _ => None,
        }
    });
    returned.map_or(if redelivered { 2 } else { 1 }, |returned| returned + 1)
}

pub(crate) fn map_error(error: lapin::Error) -> Error {
    // Soft errors close a channel over something the request did (a missing
    // queue, mismatched arguments) and will recur; the rest are transport.
    if error.is_amqp_soft_error() {
        Error::Backend {
            service: SERVICE,
            message: error.to_string(),
        }
    } else {
        Error::Unavailable {
            service: SERVICE,
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_down_to_two_significant_figures() {
        let ms = |n| delay_ttl(Duration::from_millis(n));
        assert_eq!([ms(0), ms(9), ms(10), ms(99), ms(100), ms(1234), ms(1999), ms(312_345)], [0, 0, 10, 99, 100, 1200, 1900, 310_000]);
        // Never more than 10 % early.
        for n in [10, 57, 100, 109, 999, 1001, 55_555, 899_999] {
            assert!(ms(n) <= n && ms(n) * 10 >= n * 9, "{n} → {}", ms(n));
        }
    }
}
