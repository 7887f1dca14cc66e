//! The AWS bus: one SNS topic. Each subscription is an SQS queue with its
//! own dead-letter queue (an [`SqsQueue`]), subscribed to the topic with
//! raw message delivery (the body arrives as published, and SNS message
//! attributes become SQS message attributes) and a filter policy on the
//! event-type attribute, so SNS itself drops what the subscriber did not
//! ask for.
//!
//! In production the SAM template declares the topic and every
//! subscription, and functions only publish. [`Bus::subscribe`] creates the
//! same thing for LocalStack and `hive serve`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;

use super::{Bus, Result, Subscription};
use crate::Error;
use crate::aws::map_sdk_error;
use crate::queue::{Message, Queue, SqsQueue, wire};

const SERVICE: &str = "sns";

#[derive(Debug, Clone)]
pub struct SnsSettings {
    pub topic_arn: String,
    /// Subscription queues are `<prefix>-<subscription>` (and `…-dlq`).
    pub queue_prefix: String,
    pub visibility_timeout: Duration,
    pub max_receives: u32,
}

pub struct SnsBus {
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    settings: SnsSettings,
    queues: Mutex<BTreeMap<&'static str, (Arc<SqsQueue>, String)>>,
    /// Subscriptions' queues opened by name only to send to them.
    opened: Mutex<BTreeMap<&'static str, Arc<SqsQueue>>>,
}

impl SnsBus {
    pub fn new(sns: aws_sdk_sns::Client, sqs: aws_sdk_sqs::Client, settings: SnsSettings) -> SnsBus {
        SnsBus { sns, sqs, settings, queues: Mutex::new(BTreeMap::new()), opened: Mutex::new(BTreeMap::new()) }
    }

    /// Creates the topic (idempotent) and returns its ARN; for LocalStack
    /// and local runs, where no template made it.
    pub async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> Result<String> {
        let output = sns.create_topic().name(name).send().await.map_err(|error| map_sdk_error(SERVICE, error))?;
        output.topic_arn().map(str::to_owned).ok_or_else(|| Error::Backend { service: SERVICE, message: "no topic ARN".into() })
    }

    /// Unsubscribes and deletes every subscription queue this bus made, and
    /// the topic; tests clean up with it.
    pub async fn delete(&self) -> Result<()> {
        let subscriptions: Vec<(Arc<SqsQueue>, String)> =
            self.queues.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for (queue, subscription_arn) in subscriptions {
            self.sns
                .unsubscribe()
                .subscription_arn(subscription_arn)
                .send()
                .await
                .map_err(|error| map_sdk_error(SERVICE, error))?;
            queue.delete().await?;
        }
        self.sns
            .delete_topic()
            .topic_arn(&self.settings.topic_arn)
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|error| Error::invalid("attribute", error.to_string()))
}

#[async_trait]
impl Bus for SnsBus {
    async fn publish(&self, message: &Message) -> Result<()> {
        let body = std::str::from_utf8(&message.body).map_err(|_| Error::invalid("body", "SNS bodies are text"))?;
        let mut request = self
            .sns
            .publish()
            .topic_arn(&self.settings.topic_arn)
            .message(body)
            .message_attributes(wire::MESSAGE_ID, attribute(&message.id)?)
            .message_attributes(wire::EVENT_TYPE, attribute(&message.attributes.event_type)?)
            .message_attributes(wire::CORRELATION_ID, attribute(&message.attributes.correlation_id)?);
        if let Some(tenant) = &message.attributes.tenant {
            request = request.message_attributes(wire::TENANT, attribute(tenant)?);
        }
        request.send().await.map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }

    async fn subscribe(&self, subscription: &Subscription) -> Result<Arc<dyn Queue>> {
        if let Some((queue, _)) = self.queues.lock().unwrap_or_else(|p| p.into_inner()).get(subscription.name) {
            return Ok(queue.clone() as Arc<dyn Queue>);
        }
        let name = format!("{}-{}", self.settings.queue_prefix, subscription.name);
        let queue = SqsQueue::create(
            self.sqs.clone(),
            &name,
            self.settings.max_receives,
            self.settings.visibility_timeout,
        )
        .await?;
        queue.allow_topic(&self.settings.topic_arn).await?;
        let output = self
            .sns
            .subscribe()
            .topic_arn(&self.settings.topic_arn)
            .protocol("sqs")
            .endpoint(queue.arn().await?)
            .attributes("RawMessageDelivery", "true")
            .attributes("FilterPolicy", subscription.filter_policy().to_string())
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        let subscription_arn = output.subscription_arn().unwrap_or_default().to_owned();
        let queue = Arc::new(queue);
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let (queue, _) = queues.entry(subscription.name).or_insert((queue, subscription_arn)).clone();
        Ok(queue as Arc<dyn Queue>)
    }

    async fn send_after(&self, subscription: &Subscription, message: &Message, delay: Duration) -> Result<()> {
        let subscribed = self.queues.lock().unwrap_or_else(|p| p.into_inner()).get(subscription.name).map(|(queue, _)| queue.clone());
        let known = subscribed.or_else(|| self.opened.lock().unwrap_or_else(|p| p.into_inner()).get(subscription.name).cloned());
        let queue = match known {
            Some(queue) => queue,
            None => {
                let name = format!("{}-{}", self.settings.queue_prefix, subscription.name);
                let queue = Arc::new(SqsQueue::open(self.sqs.clone(), &name, self.settings.visibility_timeout).await?);
                self.opened.lock().unwrap_or_else(|p| p.into_inner()).entry(subscription.name).or_insert(queue).clone()
            }
        };
        queue.send_after(message, delay).await
    }

    async fn ping(&self) -> Result<()> {
        self.sns
            .get_topic_attributes()
            .topic_arn(&self.settings.topic_arn)
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }
}
