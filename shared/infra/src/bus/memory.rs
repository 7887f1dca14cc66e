//! The in-process bus: one [`MemoryQueue`] per subscription, so a local
//! run fans out, redelivers and dead-letters exactly as SNS and SQS do.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{Bus, Result, Subscription};
use crate::queue::{MemoryQueue, Message, Queue};

pub struct MemoryBus {
    visibility_timeout: Duration,
    max_receives: u32,
    subscriptions: Mutex<BTreeMap<&'static str, (Subscription, Arc<MemoryQueue>)>>,
}

impl MemoryBus {
    pub fn new(visibility_timeout: Duration, max_receives: u32) -> MemoryBus {
        MemoryBus { visibility_timeout, max_receives, subscriptions: Mutex::new(BTreeMap::new()) }
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, message: &Message) -> Result<()> {
        let queues: Vec<Arc<MemoryQueue>> = {
            let subscriptions = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
            subscriptions
                .values()
                .filter(|(subscription, _)| subscription.accepts(&message.attributes.event_type))
                .map(|(_, queue)| queue.clone())
                .collect()
        };
        for queue in queues {
            queue.send(message).await?;
        }
        Ok(())
    }

    async fn subscribe(&self, subscription: &Subscription) -> Result<Arc<dyn Queue>> {
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        let (_, queue) = subscriptions.entry(subscription.name).or_insert_with(|| {
            (*subscription, Arc::new(MemoryQueue::new(self.visibility_timeout, self.max_receives)))
        });
        Ok(queue.clone() as Arc<dyn Queue>)
    }

    async fn send_after(&self, subscription: &Subscription, message: &Message, delay: Duration) -> Result<()> {
        self.subscribe(subscription).await?.send_after(message, delay).await
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
