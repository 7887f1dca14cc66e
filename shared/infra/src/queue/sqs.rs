//! SQS adapter. Visibility, receive counts and dead-lettering are SQS's own
//! (a RedrivePolicy on the queue); the adapter only maps them to the port.

use super::{Attributes, Delivery, Message, Queue, Result, wire};
use crate::Error;
use crate::aws::map_sdk_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICE: &str = "sqs";
/// SQS's own limits: 10 messages per receive, 20 s of long polling.
const MAX_BATCH: usize = 10;
const MAX_WAIT_SECONDS: u64 = 20;

#[derive(Debug, Clone)]
pub struct SqsSettings {
    pub queue_url: String,
    pub dead_letter_queue_url: Option<String>,
    /// Passed on every receive, so it overrides the queue's default.
    pub visibility_timeout: Duration,
}

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    settings: SqsSettings,
}

impl SqsQueue {
    pub fn new(client: Client, settings: SqsSettings) -> Self {
        SqsQueue { client, settings }
    }

    /// Creates (or finds) `name` and `name-dlq`, wired with a RedrivePolicy
    /// that moves a message after `max_receives` receives. For tests and
    /// local setups; production queues come from the SAM template.
    pub async fn create(
        client: Client,
        name: &str,
        max_receives: u32,
        visibility_timeout: Duration,
    ) -> Result<Self> {
        let dlq_url = create_queue(&client, &format!("{name}-dlq"), HashMap::new()).await?;
        let dlq_arn = queue_arn(&client, &dlq_url).await?;
        let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives.to_string() });
        let attributes = HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_seconds(visibility_timeout).to_string(),
            ),
        ]);
        let queue_url = create_queue(&client, name, attributes).await?;
        let settings = SqsSettings {
            queue_url,
            dead_letter_queue_url: Some(dlq_url),
            visibility_timeout,
        };
        Ok(SqsQueue::new(client, settings))
    }

    /// The existing queue `name` (declared by the template), found by name.
    pub async fn open(client: Client, name: &str, visibility_timeout: Duration) -> Result<Self> {
        let output = client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        let queue_url = output
            .queue_url()
            .map(str::to_owned)
            .ok_or_else(|| Error::Backend { service: SERVICE, message: format!("no URL for queue {name}") })?;
        let settings = SqsSettings { queue_url, dead_letter_queue_url: None, visibility_timeout };
        Ok(SqsQueue::new(client, settings))
    }

    /// Deletes the queue and its dead-letter queue; tests clean up with it.
    pub async fn delete(&self) -> Result<()> {
        let urls =
            std::iter::once(&self.settings.queue_url).chain(&self.settings.dead_letter_queue_url);
        for url in urls {
            self.client
                .delete_queue()
                .queue_url(url)
                .send()
                .await
                .map_err(|error| map_sdk_error(SERVICE, error))?;
        }
        Ok(())
    }

    pub fn queue_url(&self) -> &str {
        &self.settings.queue_url
    }

    /// The queue's ARN, which SNS subscriptions and queue policies name.
    pub async fn arn(&self) -> Result<String> {
        queue_arn(&self.client, &self.settings.queue_url).await
    }

    /// Lets the SNS topic `topic_arn`, and nothing else, send to the queue.
    pub async fn allow_topic(&self, topic_arn: &str) -> Result<()> {
        let queue_arn = self.arn().await?;
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }],
        });
        self.client
            .set_queue_attributes()
            .queue_url(&self.settings.queue_url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }

    async fn receive_once(&self, max: usize, wait_seconds: u64) -> Result<Vec<Delivery>> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.settings.queue_url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .wait_time_seconds(wait_seconds.min(MAX_WAIT_SECONDS) as i32)
            .visibility_timeout(visibility_seconds(self.settings.visibility_timeout))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        output.messages().iter().map(to_delivery).collect()
    }
}

async fn queue_arn(client: &Client, url: &str) -> Result<String> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|error| map_sdk_error(SERVICE, error))?
        .attributes()
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| Error::Backend { service: SERVICE, message: format!("no ARN for {url}") })
}

async fn create_queue(
    client: &Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<String> {
    let output = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.clone()).filter(|attributes| !attributes.is_empty()))
        .send()
        .await
        .map_err(|error| map_sdk_error(SERVICE, error))?;
    let url = output.queue_url().ok_or_else(|| Error::Backend {
        service: SERVICE,
        message: "no queue URL".into(),
    })?;
    // An existing queue keeps its old attributes on create; bring them up to date.
    if !attributes.is_empty() {
        client
            .set_queue_attributes()
            .queue_url(url)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
    }
    Ok(url.to_owned())
}

/// SQS counts visibility in whole seconds; round up so a 1.5 s setting never
/// becomes a 1 s one.
fn visibility_seconds(timeout: Duration) -> i32 {
    let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    seconds.min(43_200) as i32
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: &Message) -> Result<()> {
        self.send_after(message, Duration::ZERO).await
    }

    async fn send_after(&self, message: &Message, delay: Duration) -> Result<()> {
        let body = std::str::from_utf8(&message.body)
            .map_err(|_| Error::invalid("body", "SQS bodies are text; send JSON"))?;
        // A message timer counts whole seconds; the part below one is the
        // early arrival the port allows.
        let delay_seconds = i32::try_from(delay.min(super::MAX_DELAY).as_secs()).unwrap_or(900);
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.settings.queue_url)
            .message_body(body)
            .message_attributes(wire::MESSAGE_ID, string_attribute(&message.id)?)
            .message_attributes(
                wire::EVENT_TYPE,
                string_attribute(&message.attributes.event_type)?,
            )
            .message_attributes(
                wire::CORRELATION_ID,
                string_attribute(&message.attributes.correlation_id)?,
            );
        if delay_seconds > 0 {
            request = request.delay_seconds(delay_seconds);
        }
        if let Some(tenant) = &message.attributes.tenant {
            request = request.message_attributes(wire::TENANT, string_attribute(tenant)?);
        }
        request
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }

    /// Long-polls in whole seconds and then short-polls the sub-second rest,
    /// so `wait` is honoured to about 100 ms either way.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let deliveries = self.receive_once(max, left.as_secs()).await?;
            if !deliveries.is_empty() || Instant::now() >= deadline {
                return Ok(deliveries);
            }
            if left.as_secs() == 0 {
                tokio::time::sleep(Duration::from_millis(100).min(left)).await;
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.settings.queue_url)
            .receipt_handle(delivery.receipt())
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }

    async fn nack(&self, delivery: &Delivery) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.settings.queue_url)
            .receipt_handle(delivery.receipt())
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }

    fn dead_letters(&self) -> Option<Arc<dyn Queue>> {
        let url = self.settings.dead_letter_queue_url.clone()?;
        let settings = SqsSettings {
            queue_url: url,
            dead_letter_queue_url: None,
            ..self.settings.clone()
        };
        Some(Arc::new(SqsQueue::new(self.client.clone(), settings)))
    }

    async fn ping(&self) -> Result<()> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.settings.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|error| Error::invalid("attribute", error.to_string()))
}

fn to_delivery(message: &aws_sdk_sqs::types::Message) -> Result<Delivery> {
    let missing = |what: &str| Error::Backend {
        service: SERVICE,
        message: format!("message without {what}"),
    };
    let receipt = message
        .receipt_handle()
        .ok_or_else(|| missing("receipt handle"))?;
    let receive_count = message
        .attributes()
        .and_then(|attributes| attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|count| count.parse().ok())
        .unwrap_or(1);
    let attribute = |name: &str| {
        message
            .message_attributes()
            .and_then(|attributes| attributes.get(name))
            .and_then(|value| value.string_value())
            .map(str::to_owned)
    };
    // A message sent by something other than this adapter (the console, a
    // rule) has no id attribute; SQS's own id keeps dedup keys stable.
    let id = attribute(wire::MESSAGE_ID)
        .or_else(|| message.message_id().map(str::to_owned))
        .ok_or_else(|| missing("id"))?;
    let attributes = Attributes {
        event_type: attribute(wire::EVENT_TYPE).unwrap_or_default(),
        correlation_id: attribute(wire::CORRELATION_ID).unwrap_or_else(|| id.clone()),
        tenant: attribute(wire::TENANT),
    };
    let body = message.body().unwrap_or_default().as_bytes().to_vec();
    Ok(Delivery::new(
        Message {
            id,
            body,
            attributes,
        },
        receive_count,
        receipt.to_owned(),
    ))
}
