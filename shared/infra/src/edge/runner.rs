//! The local runner's consumer loop: each subscription's queue feeds its
//! handler, with the subscription's concurrency, until told to stop. On AWS
//! the SQS event source does this job; `hive serve` and the tests use this.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::edge::queue::{IdempotencyStore, Message, Outcome, process_message};
use crate::edge::registry::QueueConsumer;
use crate::queue::Queue;

/// How long one receive waits before looking at the stop signal again.
const RECEIVE_WAIT: Duration = Duration::from_secs(1);

/// Runs `consumer.concurrency` workers on `queue` until `stop` turns true.
/// A success is acknowledged; a permanent failure is released at once, so a
/// poison message reaches the dead-letter queue after its last receive; a
/// retryable one after a growing pause, so an outage is not a hot loop that
/// burns through the receives.
pub async fn consume(
    queue: Arc<dyn Queue>,
    consumer: QueueConsumer,
    store: Arc<dyn IdempotencyStore>,
    stop: watch::Receiver<bool>,
) {
    let name = consumer.subscription.name;
    tracing::info!(subscription = name, concurrency = consumer.concurrency, "consuming");
    let consumer = Arc::new(consumer);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..consumer.concurrency.max(1) {
        workers.spawn(work(queue.clone(), consumer.clone(), store.clone(), stop.clone()));
    }
    while workers.join_next().await.is_some() {}
}

async fn work(
    queue: Arc<dyn Queue>,
    consumer: Arc<QueueConsumer>,
    store: Arc<dyn IdempotencyStore>,
    mut stop: watch::Receiver<bool>,
) {
    let name = consumer.subscription.name;
    loop {
        if *stop.borrow() {
            return;
        }
        let received = tokio::select! {
            _ = stop.changed() => return,
            received = queue.receive(1, RECEIVE_WAIT) => received,
        };
        let deliveries = match received {
            Ok(deliveries) => deliveries,
            Err(error) => {
                tracing::warn!(%error, subscription = name, "receive failed; retrying");
                tokio::time::sleep(RECEIVE_WAIT).await;
                continue;
            }
        };
        for delivery in deliveries {
            let mut message = Message::from_delivery(name, &delivery);
            // Idempotency keys are per consumer: each subscription's copy of
            // an event is its own message.
            message.idempotency_key = format!("{name}:{}", message.idempotency_key);
            let outcome = process_message(message, &consumer.handler, &*store).await;
            let settled = match outcome {
                Outcome::Processed | Outcome::Duplicate => queue.ack(&delivery).await,
                Outcome::Failed { retryable: false } => queue.nack(&delivery).await,
                Outcome::Failed { retryable: true } => {
                    tokio::time::sleep(backoff(delivery.receive_count)).await;
                    queue.nack(&delivery).await
                }
            };
            if let Err(error) = settled {
                tracing::warn!(%error, message_id = %delivery.message.id, "could not settle message; it will be redelivered");
            }
        }
    }
}

/// 200 ms, 400 ms, 800 ms … at most 5 s.
fn backoff(receive_count: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << receive_count.min(10))).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::bus::Subscription;
    use crate::edge::{MemoryIdempotencyStore, message_handler};
    use crate::events::EventName;
    use crate::queue::MemoryQueue;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(30), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn workers_run_concurrently_and_a_retryable_failure_is_retried() {
        let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
        let seen = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let handler = {
            let (seen, running, peak) = (seen.clone(), running.clone(), peak.clone());
            message_handler(move |message: Message| {
                let (seen, running, peak) = (seen.clone(), running.clone(), peak.clone());
                async move {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    running.fetch_sub(1, SeqCst);
                    let attempts = {
                        let mut seen = seen.lock().unwrap();
                        let count = seen.entry(message.body.clone()).or_default();
                        *count += 1;
                        *count
                    };
                    if message.body == "flaky" && attempts == 1 {
                        return Err(crate::Error::Unavailable { service: "db", message: "blip".into() });
                    }
                    Ok(())
                }
            })
        };
        let consumer = QueueConsumer {
            subscription: Subscription { name: "test", events: &[EventName::StudyCompleted] },
            handler,
            concurrency: 3,
        };
        for body in ["a", "b", "c", "flaky"] {
            queue.send(&crate::queue::Message::new("study.completed", body.as_bytes().to_vec())).await.unwrap();
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryIdempotencyStore::new(100));
        let task = tokio::spawn(consume(queue.clone(), consumer, store, stop_rx));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().get("flaky") != Some(&2) {
            assert!(tokio::time::Instant::now() < deadline, "never retried: {:?}", seen.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        let counts = ["a", "b", "c"].map(|k| seen.lock().unwrap()[k]);
        assert_eq!(counts, [1, 1, 1], "successes run once");
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) >= 2, "workers overlapped");
        assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty(), "everything acknowledged");
    }
}
