//! One contract for the bus port, run against SNS + SQS on LocalStack,
//! RabbitMQ and the in-process bus. Each fixture gets a topic or exchange
//! and queue names of its own. Messages dead-letter after 2 receives and
//! visibility is 2 s, so redelivery and dead-lettering happen in seconds.

mod support;

use std::sync::Arc;
use std::time::Duration;

use infra::bus::{Bus, MemoryBus, RabbitBus, RabbitBusSettings, SnsBus, SnsSettings};
use support::{AMQP_URL, Fixture, LOCALSTACK_URL, localstack_config, reachable, service_url, unique};

const VISIBILITY: Duration = Duration::from_secs(2);
const MAX_RECEIVES: u32 = 2;

async fn sns() -> Fixture<dyn Bus> {
    let config = localstack_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let prefix = unique("bus-");
    let topic = reachable(SnsBus::create_topic(&sns, &format!("{prefix}-events")).await, "LocalStack SNS", LOCALSTACK_URL);
    let settings =
        SnsSettings { topic_arn: topic, queue_prefix: prefix, visibility_timeout: VISIBILITY, max_receives: MAX_RECEIVES };
    let bus = Arc::new(SnsBus::new(sns, aws_sdk_sqs::Client::new(&config), settings));
    let cleanup = bus.clone();
    Fixture::new(bus as Arc<dyn Bus>).with_cleanup(async move { cleanup.delete().await.expect("delete topic and queues") })
}

/// On Lambda nothing subscribes: the template made the queue, and a
/// function that sends to it finds it by name.
#[tokio::test]
async fn sns_send_after_finds_a_template_made_queue_by_name() {
    use infra::bus::Subscription;
    use infra::events::EventName;
    use infra::queue::Message;
    const LATER: Subscription = Subscription { name: "later", events: &[EventName::StudyCompleted] };
    let config = localstack_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let prefix = unique("bus-");
    let topic = reachable(SnsBus::create_topic(&sns, &format!("{prefix}-events")).await, "LocalStack SNS", LOCALSTACK_URL);
    let settings =
        SnsSettings { topic_arn: topic, queue_prefix: prefix, visibility_timeout: VISIBILITY, max_receives: MAX_RECEIVES };
    let owner = SnsBus::new(sns.clone(), aws_sdk_sqs::Client::new(&config), settings.clone());
    let queue = owner.subscribe(&LATER).await.unwrap();
    let sender = SnsBus::new(sns, aws_sdk_sqs::Client::new(&config), settings);
    let message = Message::new("study.completed", b"{}".to_vec());
    sender.send_after(&LATER, &message, Duration::from_secs(1)).await.expect("send by queue name");
    let got = queue.receive(1, Duration::from_secs(8)).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|d| d.message.id.as_str()).collect();
    assert_eq!(ids, [message.id.as_str()]);
    queue.ack(&got[0]).await.unwrap();
    owner.delete().await.expect("delete topic and queues");
}

async fn rabbitmq() -> Fixture<dyn Bus> {
    let prefix = unique("bus-");
    let settings = RabbitBusSettings {
        url: service_url(AMQP_URL),
        exchange: format!("{prefix}.events"),
        queue_prefix: prefix,
        visibility_timeout: VISIBILITY,
        max_receives: MAX_RECEIVES,
    };
    let bus = Arc::new(reachable(RabbitBus::connect(settings).await, "RabbitMQ", AMQP_URL));
    let cleanup = bus.clone();
    Fixture::new(bus as Arc<dyn Bus>).with_cleanup(async move { cleanup.delete().await.expect("delete queues") })
}

async fn memory() -> Fixture<dyn Bus> {
    Fixture::new(Arc::new(MemoryBus::new(VISIBILITY, MAX_RECEIVES)) as Arc<dyn Bus>)
}

macro_rules! bus_contract {
    ($adapter:ident) => {
        contract_tests!(
            $adapter,
            $adapter,
            [
                one_publish_reaches_each_subscriber_exactly_once,
                a_subscriber_never_sees_a_type_it_did_not_subscribe_to,
                poison_for_one_subscriber_dead_letters_while_another_processes_its_copy,
                attributes_and_envelope_survive_the_trip,
                send_after_reaches_only_that_subscription_after_the_delay,
            ]
        );
    };
}
bus_contract!(sns);
bus_contract!(rabbitmq);
bus_contract!(memory);

mod checks {
    use infra::bus::Subscription;
    use infra::events::{Envelope, EventName, StudyCompleted, StudyFinished, StudySubmitted};
    use infra::queue::{Delivery, Message, Queue};

    use super::*;

    /// Long enough for any adapter to deliver (SNS to SQS is asynchronous).
    const ARRIVE: Duration = Duration::from_secs(8);

    const COMPLETED: &[EventName] = &[EventName::StudyCompleted];
    const A: Subscription = Subscription { name: "a", events: COMPLETED };
    const B: Subscription = Subscription { name: "b", events: COMPLETED };
    const C: Subscription = Subscription { name: "c", events: &[EventName::StudyCompleted, EventName::StudySubmitted] };

    fn completed(study: &str) -> Message {
        let finished = StudyFinished {
            study: study.into(),
            kind: "optimize".into(),
            status: "succeeded".into(),
            error: None,
            objective: Some(-69.7),
        };
        Envelope::new("/hive/test", Some("tenant-a"), "corr-1", &StudyCompleted(finished), 1_795_512_345_678)
            .unwrap()
            .to_message()
            .unwrap()
    }

    fn submitted(study: &str) -> Message {
        let event = StudySubmitted { study: study.into(), kind: "pareto".into(), jobs: 1 };
        Envelope::new("/hive/test", Some("tenant-a"), "corr-2", &event, 0).unwrap().to_message().unwrap()
    }

    async fn receive_one(queue: &dyn Queue, wait: Duration) -> Delivery {
        let mut deliveries = queue.receive(1, wait).await.expect("receive");
        assert_eq!(deliveries.len(), 1, "expected one delivery within {wait:?}");
        deliveries.remove(0)
    }

    /// Nothing more arrives within `wait`, which is shorter than the
    /// visibility timeout, so a second copy cannot hide as a redelivery.
    async fn assert_nothing(queue: &dyn Queue, wait: Duration, why: &str) {
        let deliveries = queue.receive(10, wait).await.expect("receive");
        assert!(deliveries.is_empty(), "{why}: got {:?}", deliveries.iter().map(|d| &d.message.id).collect::<Vec<_>>());
    }

    pub async fn one_publish_reaches_each_subscriber_exactly_once(bus: Arc<dyn Bus>) {
        let queues = [bus.subscribe(&A).await.unwrap(), bus.subscribe(&B).await.unwrap(), bus.subscribe(&C).await.unwrap()];
        let sent = completed("s1");
        bus.publish(&sent).await.expect("publish");
        for queue in &queues {
            let delivery = receive_one(&**queue, ARRIVE).await;
            assert_eq!(delivery.message.id, sent.id);
            assert_eq!(delivery.receive_count, 1);
            queue.ack(&delivery).await.unwrap();
        }
        for queue in &queues {
            assert_nothing(&**queue, Duration::from_millis(1500), "one publish is one delivery per subscriber").await;
        }
    }

    pub async fn a_subscriber_never_sees_a_type_it_did_not_subscribe_to(bus: Arc<dyn Bus>) {
        let a = bus.subscribe(&A).await.unwrap();
        let c = bus.subscribe(&C).await.unwrap();
        let first = submitted("s2");
        let second = completed("s2");
        bus.publish(&first).await.unwrap();
        bus.publish(&second).await.unwrap();
        // C takes both types, A only study.completed: A's one delivery is the second.
        let mut at_c = Vec::new();
        for _ in 0..2 {
            let delivery = receive_one(&*c, ARRIVE).await;
            at_c.push(delivery.message.id.clone());
            c.ack(&delivery).await.unwrap();
        }
        at_c.sort();
        let mut expected = vec![first.id.clone(), second.id.clone()];
        expected.sort();
        assert_eq!(at_c, expected);
        let delivery = receive_one(&*a, ARRIVE).await;
        assert_eq!(delivery.message.id, second.id, "A sees only study.completed");
        a.ack(&delivery).await.unwrap();
        assert_nothing(&*a, Duration::from_millis(1500), "study.submitted never reaches A").await;
    }

    pub async fn poison_for_one_subscriber_dead_letters_while_another_processes_its_copy(bus: Arc<dyn Bus>) {
        let a = bus.subscribe(&A).await.unwrap();
        let b = bus.subscribe(&B).await.unwrap();
        let sent = completed("poison");
        bus.publish(&sent).await.unwrap();
        // B handles its copy at once.
        let at_b = receive_one(&*b, ARRIVE).await;
        b.ack(&at_b).await.unwrap();
        // A fails on every receive.
        for receive in 1..=MAX_RECEIVES {
            let delivery = receive_one(&*a, ARRIVE).await;
            assert_eq!(delivery.receive_count, receive);
            a.nack(&delivery).await.unwrap();
        }
        assert_nothing(&*a, Duration::from_millis(1500), "after its last receive the copy leaves A's queue").await;
        let dead = receive_one(&*a.dead_letters().expect("A has a DLQ"), ARRIVE).await;
        assert_eq!(dead.message.id, sent.id);
        assert_nothing(&*b.dead_letters().expect("B has a DLQ"), Duration::from_millis(500), "B's DLQ stays empty").await;
        assert_nothing(&*b, Duration::from_millis(500), "B processed its copy once").await;
    }

    pub async fn send_after_reaches_only_that_subscription_after_the_delay(bus: Arc<dyn Bus>) {
        let a = bus.subscribe(&A).await.unwrap();
        let b = bus.subscribe(&B).await.unwrap();
        let sent = completed("later");
        let sent_at = std::time::Instant::now();
        bus.send_after(&A, &sent, Duration::from_secs(1)).await.expect("send_after");
        assert_nothing(&*a, Duration::from_millis(700), "invisible until its delay").await;
        let delivery = receive_one(&*a, ARRIVE).await;
        assert!(sent_at.elapsed() >= Duration::from_millis(950), "arrived after {:?}", sent_at.elapsed());
        assert_eq!(delivery.message, sent);
        a.ack(&delivery).await.unwrap();
        assert_nothing(&*b, Duration::from_millis(1000), "the topic is bypassed: B gets nothing").await;
    }

    pub async fn attributes_and_envelope_survive_the_trip(bus: Arc<dyn Bus>) {
        let a = bus.subscribe(&A).await.unwrap();
        let sent = completed("s3");
        bus.publish(&sent).await.unwrap();
        let delivery = receive_one(&*a, ARRIVE).await;
        assert_eq!(delivery.message, sent, "id, body and attributes survive");
        assert_eq!(delivery.message.attributes.event_type, "study.completed");
        assert_eq!(delivery.message.attributes.correlation_id, "corr-1");
        assert_eq!(delivery.message.attributes.tenant.as_deref(), Some("tenant-a"));
        let envelope = Envelope::parse(&delivery.message.body).unwrap();
        assert_eq!(envelope.decode::<StudyCompleted>().unwrap().0.study, "s3");
        a.ack(&delivery).await.unwrap();
        // Subscribing again is idempotent: the same queue, nothing lost.
        let again = bus.subscribe(&A).await.unwrap();
        bus.publish(&completed("s4")).await.unwrap();
        let delivery = receive_one(&*again, ARRIVE).await;
        assert_eq!(Envelope::parse(&delivery.message.body).unwrap().subject, "s4");
        again.ack(&delivery).await.unwrap();
    }
}
