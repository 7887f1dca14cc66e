//! RabbitMQ-only: the adapter survives the broker closing its connection.
//! The contract suite cannot show this generically, and the adapter's own
//! reconnect logic (not the broker) is what makes it true.
//!
//! The test works in its own vhost so closing "all connections" there cannot
//! disturb tests running in parallel. It drives the broker with `rabbitmqctl`,
//! so it needs the local RabbitMQ that `localstack/start.sh` starts.

mod support;

use infra::queue::{Message, Queue, RabbitQueue, RabbitSettings};
use std::process::Command;
use std::time::Duration;
use support::{AMQP_URL, reachable, service_url, unique};

const VHOST: &str = "hive-recovery-test";

fn rabbitmqctl(args: &[&str]) -> String {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("rabbitmqctl is needed to drive the local RabbitMQ ({AMQP_URL:?}): {error}")
        });
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() || text.contains("already exists"),
        "rabbitmqctl {args:?}: {text}"
    );
    text
}

fn vhost_url() -> String {
    let base = service_url(AMQP_URL);
    let root = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(root, _)| root);
    format!("{root}/{VHOST}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_broker_closes_the_connection() {
    rabbitmqctl(&["add_vhost", VHOST]);
    rabbitmqctl(&["set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"]);
    let settings = RabbitSettings {
        url: vhost_url(),
        queue: unique("recovery-"),
        visibility_timeout: Duration::from_secs(30),
        max_receives: 5,
        binding: None,
    };
    let queue = reachable(RabbitQueue::connect(settings).await, "RabbitMQ", AMQP_URL);
    let first = Message::new("job.requested", b"{\"n\":1}".to_vec());
    queue.send(&first).await.unwrap();
    let in_flight = queue.receive(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(in_flight.len(), 1);

    rabbitmqctl(&["close_all_connections", "-p", VHOST, "recovery test"]);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The closed channel already returned the message, so acking the old
    // delivery is a harmless no-op rather than an error.
    queue
        .ack(&in_flight[0])
        .await
        .expect("stale ack after reconnect");
    let second = Message::new("job.requested", b"{\"n\":2}".to_vec());
    queue.send(&second).await.expect("send reconnects");
    let mut received = Vec::new();
    while received.len() < 2 {
        let batch = queue
            .receive(2, Duration::from_secs(5))
            .await
            .expect("receive after reconnect");
        assert!(
            !batch.is_empty(),
            "both messages arrive after the reconnect; got {received:?}"
        );
        received.extend(batch);
    }
    let redelivered = received
        .iter()
        .find(|d| d.message.id == first.id)
        .expect("the in-flight message is redelivered");
    assert_eq!(
        redelivered.receive_count, 2,
        "the broker counted the lost delivery"
    );
    assert!(received.iter().any(|d| d.message.id == second.id));
    for delivery in &received {
        queue.ack(delivery).await.unwrap();
    }
    queue.delete().await.unwrap();
}
