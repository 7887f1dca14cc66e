//! The RabbitMQ bus: one durable topic exchange; each subscription is a
//! quorum queue ([`RabbitQueue`], with its delivery limit and dead-letter
//! queue) bound to the exchange by the names of the events it takes. An
//! event's routing key is its type, so the broker does the fan-out and the
//! filtering, and a type nobody is bound to is dropped by the exchange.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions};
use lapin::{Channel, Connection, ConnectionProperties};

use super::{Bus, Result, Subscription};
use crate::Error;
use crate::queue::rabbitmq::{declare_exchange, map_error, to_properties};
use crate::queue::{Binding, Message, Queue, RabbitQueue, RabbitSettings};

#[derive(Debug, Clone)]
pub struct RabbitBusSettings {
    pub url: String,
    /// The topic exchange, e.g. `hive.events`.
    pub exchange: String,
    /// Subscription queues are `<prefix>.<subscription>`.
    pub queue_prefix: String,
    pub visibility_timeout: Duration,
    pub max_receives: u32,
}

pub struct RabbitBus {
    settings: RabbitBusSettings,
    publisher: tokio::sync::Mutex<Option<(Connection, Channel)>>,
    queues: Mutex<BTreeMap<&'static str, Arc<RabbitQueue>>>,
}

impl RabbitBus {
    /// Connects and declares the exchange, so an absent broker fails here.
    pub async fn connect(settings: RabbitBusSettings) -> Result<RabbitBus> {
        let bus = RabbitBus { settings, publisher: tokio::sync::Mutex::new(None), queues: Mutex::new(BTreeMap::new()) };
        bus.channel().await?;
        Ok(bus)
    }

    /// Deletes every subscription queue this bus declared and the exchange;
    /// tests clean up with it.
    pub async fn delete(&self) -> Result<()> {
        let queues: Vec<Arc<RabbitQueue>> =
            self.queues.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for queue in queues {
            queue.delete().await?;
        }
        self.channel()
            .await?
            .exchange_delete(self.settings.exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .map_err(map_error)
    }

    /// The publishing channel (confirms on), reopened after the broker
    /// went away.
    async fn channel(&self) -> Result<Channel> {
        let mut slot = self.publisher.lock().await;
        if let Some((connection, channel)) = slot.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let connection =
            Connection::connect(&self.settings.url, ConnectionProperties::default()).await.map_err(map_error)?;
        let channel = connection.create_channel().await.map_err(map_error)?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(map_error)?;
        declare_exchange(&channel, &self.settings.exchange).await?;
        *slot = Some((connection, channel.clone()));
        Ok(channel)
    }
}

#[async_trait]
impl Bus for RabbitBus {
    async fn publish(&self, message: &Message) -> Result<()> {
        let channel = self.channel().await?;
        let confirmation = channel
            .basic_publish(
                self.settings.exchange.as_str().into(),
                message.attributes.event_type.as_str().into(),
                BasicPublishOptions::default(),
                &message.body,
                to_properties(message),
            )
            .await
            .map_err(map_error)?
            .await
            .map_err(map_error)?;
        if confirmation.is_nack() {
            return Err(Error::Unavailable { service: "rabbitmq", message: "broker refused the event (nack)".into() });
        }
        Ok(())
    }

    async fn subscribe(&self, subscription: &Subscription) -> Result<Arc<dyn Queue>> {
        if let Some(queue) = self.queues.lock().unwrap_or_else(|p| p.into_inner()).get(subscription.name) {
            return Ok(queue.clone() as Arc<dyn Queue>);
        }
        let settings = RabbitSettings {
            url: self.settings.url.clone(),
            queue: format!("{}.{}", self.settings.queue_prefix, subscription.name),
            visibility_timeout: self.settings.visibility_timeout,
            max_receives: self.settings.max_receives,
            binding: Some(Binding {
                exchange: self.settings.exchange.clone(),
                routing_keys: subscription.events.iter().map(|event| event.as_str().to_owned()).collect(),
            }),
        };
        let queue = Arc::new(RabbitQueue::connect(settings).await?);
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queues.entry(subscription.name).or_insert(queue).clone();
        Ok(queue as Arc<dyn Queue>)
    }

    async fn send_after(&self, subscription: &Subscription, message: &Message, delay: Duration) -> Result<()> {
        self.subscribe(subscription).await?.send_after(message, delay).await
    }

    async fn ping(&self) -> Result<()> {
        self.channel().await.map(|_| ())
    }
}
