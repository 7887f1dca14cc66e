//! One contract for the queue port, run against SQS on LocalStack, RabbitMQ
//! and the in-process queue. Visibility is 1 s and messages dead-letter after
//! 2 receives, so redelivery and dead-lettering really happen within seconds.

mod support;

use infra::queue::{Delivery, MemoryQueue, Message, Queue, RabbitQueue, RabbitSettings, SqsQueue};
use std::sync::Arc;
use std::time::Duration;
use support::{
    AMQP_URL, Fixture, LOCALSTACK_URL, localstack_config, reachable, service_url, unique,
};

const VISIBILITY: Duration = Duration::from_secs(1);
const MAX_RECEIVES: u32 = 2;

async fn sqs() -> Fixture<dyn Queue> {
    let client = aws_sdk_sqs::Client::new(&localstack_config().await);
    let queue = SqsQueue::create(client, &unique("contract-"), MAX_RECEIVES, VISIBILITY).await;
    let queue = Arc::new(reachable(queue, "LocalStack SQS", LOCALSTACK_URL));
    let cleanup = queue.clone();
    Fixture::new(queue as Arc<dyn Queue>)
        .with_cleanup(async move { cleanup.delete().await.expect("delete queues") })
}

async fn rabbitmq() -> Fixture<dyn Queue> {
    let settings = RabbitSettings {
        url: service_url(AMQP_URL),
        queue: unique("contract-"),
        visibility_timeout: VISIBILITY,
        max_receives: MAX_RECEIVES,
        binding: None,
    };
    let queue = Arc::new(reachable(
        RabbitQueue::connect(settings).await,
        "RabbitMQ",
        AMQP_URL,
    ));
    let cleanup = queue.clone();
    Fixture::new(queue as Arc<dyn Queue>)
        .with_cleanup(async move { cleanup.delete().await.expect("delete queues") })
}

async fn memory() -> Fixture<dyn Queue> {
    Fixture::new(Arc::new(MemoryQueue::new(VISIBILITY, MAX_RECEIVES)) as Arc<dyn Queue>)
}

contract_tests!(
    sqs,
    sqs,
    [
        message_round_trips_and_ack_removes_it,
        unacked_message_is_redelivered_after_visibility_timeout,
        nack_makes_message_visible_now,
        message_dead_letters_after_max_receives,
        receive_respects_max,
        send_after_holds_a_message_for_its_delay,
        ping_answers,
    ]
);
contract_tests!(
    rabbitmq,
    rabbitmq,
    [
        message_round_trips_and_ack_removes_it,
        unacked_message_is_redelivered_after_visibility_timeout,
        nack_makes_message_visible_now,
        message_dead_letters_after_max_receives,
        receive_respects_max,
        send_after_holds_a_message_for_its_delay,
        ping_answers,
    ]
);
contract_tests!(
    memory,
    memory,
    [
        message_round_trips_and_ack_removes_it,
        unacked_message_is_redelivered_after_visibility_timeout,
        nack_makes_message_visible_now,
        message_dead_letters_after_max_receives,
        receive_respects_max,
        send_after_holds_a_message_for_its_delay,
        ping_answers,
    ]
);

mod checks {
    use super::*;

    /// Long enough for any adapter to deliver a visible message.
    const ARRIVE: Duration = Duration::from_secs(5);
    /// Comfortably longer than the visibility timeout.
    const PAST_VISIBILITY: Duration = Duration::from_millis(2500);

    fn job(n: u32) -> Message {
        Message::json("job.requested", &serde_json::json!({ "job": n }))
            .unwrap()
            .with_correlation_id("corr-1")
            .with_tenant("tenant-a")
    }

    async fn receive_one(queue: &dyn Queue, wait: Duration) -> Delivery {
        let mut deliveries = queue.receive(1, wait).await.expect("receive");
        assert_eq!(deliveries.len(), 1, "expected one delivery within {wait:?}");
        deliveries.remove(0)
    }

    async fn assert_empty(queue: &dyn Queue, wait: Duration, why: &str) {
        let deliveries = queue.receive(10, wait).await.expect("receive");
        assert!(deliveries.is_empty(), "{why}: got {deliveries:?}");
    }

    pub async fn message_round_trips_and_ack_removes_it(queue: Arc<dyn Queue>) {
        let sent = job(1);
        queue.send(&sent).await.expect("send");
        let delivery = receive_one(&*queue, ARRIVE).await;
        assert_eq!(
            delivery.message, sent,
            "id, body and attributes survive the trip"
        );
        assert_eq!(delivery.receive_count, 1);
        assert_eq!(
            delivery.message.body_json::<serde_json::Value>().unwrap()["job"],
            1
        );
        queue.ack(&delivery).await.expect("ack");

        // The optional attributes stay absent, and a fresh message is its
        // own correlation.
        let bare = Message::new("ping", b"{}".to_vec());
        queue.send(&bare).await.unwrap();
        let delivery = receive_one(&*queue, ARRIVE).await;
        assert_eq!(delivery.message, bare);
        assert_eq!(delivery.message.attributes.tenant, None);
        assert_eq!(delivery.message.attributes.correlation_id, bare.id);
        queue.ack(&delivery).await.unwrap();
        assert_empty(
            &*queue,
            PAST_VISIBILITY,
            "an acked message never comes back",
        )
        .await;
    }

    pub async fn unacked_message_is_redelivered_after_visibility_timeout(queue: Arc<dyn Queue>) {
        let sent = job(2);
        queue.send(&sent).await.unwrap();
        let first = receive_one(&*queue, ARRIVE).await;
        assert_eq!(first.receive_count, 1);
        assert_empty(
            &*queue,
            Duration::from_millis(300),
            "in flight, the message is invisible",
        )
        .await;
        let second = receive_one(&*queue, ARRIVE).await;
        assert_eq!(second.message.id, sent.id);
        assert_eq!(second.receive_count, 2);
        // The first delivery expired: acking it does nothing, and the current
        // delivery still owns the message.
        queue.ack(&first).await.expect("a stale ack is harmless");
        queue.ack(&second).await.unwrap();
        assert_empty(&*queue, PAST_VISIBILITY, "acked after redelivery").await;
    }

    pub async fn send_after_holds_a_message_for_its_delay(queue: Arc<dyn Queue>) {
        let later = job(5);
        let sent_at = std::time::Instant::now();
        queue.send_after(&later, Duration::from_secs(2)).await.expect("send_after");
        let now = job(6);
        queue.send(&now).await.unwrap();
        // The undelayed message overtakes the delayed one.
        let first = receive_one(&*queue, ARRIVE).await;
        assert_eq!(first.message.id, now.id);
        queue.ack(&first).await.unwrap();
        assert_empty(&*queue, Duration::from_millis(1200), "a delayed message is invisible until its time").await;
        let delivery = receive_one(&*queue, ARRIVE).await;
        let waited = sent_at.elapsed();
        assert!(waited >= Duration::from_millis(1900), "arrived after {waited:?} of a 2 s delay");
        assert_eq!(delivery.message, later, "id, body and attributes survive the wait");
        assert_eq!(delivery.receive_count, 1, "waiting is not a receive");
        queue.ack(&delivery).await.unwrap();
    }

    pub async fn nack_makes_message_visible_now(queue: Arc<dyn Queue>) {
        queue.send(&job(3)).await.unwrap();
        let first = receive_one(&*queue, ARRIVE).await;
        queue.nack(&first).await.expect("nack");
        // Well inside the visibility timeout, so only the nack explains it.
        let again = receive_one(&*queue, Duration::from_millis(800)).await;
        assert_eq!(again.message.id, first.message.id);
        assert_eq!(again.receive_count, 2);
        queue.ack(&again).await.unwrap();
    }

    pub async fn message_dead_letters_after_max_receives(queue: Arc<dyn Queue>) {
        let sent = job(4);
        queue.send(&sent).await.unwrap();
        for receive in 1..=MAX_RECEIVES {
            let delivery = receive_one(&*queue, ARRIVE).await;
            assert_eq!(delivery.receive_count, receive);
            queue.nack(&delivery).await.unwrap();
        }
        assert_empty(
            &*queue,
            Duration::from_millis(1500),
            "after max receives the message leaves the queue",
        )
        .await;
        let dead_letters = queue
            .dead_letters()
            .expect("a work queue has a dead-letter queue");
        let dead = receive_one(&*dead_letters, ARRIVE).await;
        assert_eq!(dead.message.id, sent.id);
        assert_eq!(dead.message.body, sent.body);
        dead_letters
            .ack(&dead)
            .await
            .expect("ack on the dead-letter queue");
        assert!(dead_letters.dead_letters().is_none());
    }

    pub async fn receive_respects_max(queue: Arc<dyn Queue>) {
        let sent: Vec<Message> = (10..13).map(job).collect();
        for message in &sent {
            queue.send(message).await.unwrap();
        }
        let mut seen = Vec::new();
        while seen.len() < sent.len() {
            let batch = queue.receive(2, ARRIVE).await.unwrap();
            assert!(
                !batch.is_empty() && batch.len() <= 2,
                "got {} messages for max 2",
                batch.len()
            );
            for delivery in batch {
                queue.ack(&delivery).await.unwrap();
                seen.push(delivery.message.id);
            }
        }
        seen.sort();
        let mut expected: Vec<String> = sent.into_iter().map(|message| message.id).collect();
        expected.sort();
        assert_eq!(seen, expected, "each message exactly once");
    }

    pub async fn ping_answers(queue: Arc<dyn Queue>) {
        queue.ping().await.expect("ping");
    }
}
