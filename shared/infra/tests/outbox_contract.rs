//! One contract for the transactional outbox and the inbox, on PostgreSQL
//! and SQLite. The bus is the in-process one behind a switch that makes it
//! refuse publishes, to play a broker outage; the real broker stopped under
//! load is tests/tests/bus_faults.rs.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use infra::Error;
use infra::bus::{Bus, MemoryBus, Subscription};
use infra::db::{Database, PostgresDatabase, PostgresSettings, SqliteDatabase};
use infra::queue::{Message, Queue};
use support::{Fixture, POSTGRES_URL, reachable, service_url, unique};

async fn postgres() -> Fixture<dyn Database> {
    let settings = PostgresSettings {
        url: service_url(POSTGRES_URL),
        max_connections: 4,
        connect_timeout: Duration::from_secs(3),
        schema: Some(unique("outbox_")),
    };
    let database = Arc::new(reachable(PostgresDatabase::connect(&settings).await, "PostgreSQL", POSTGRES_URL));
    let cleanup = database.clone();
    Fixture::new(database as Arc<dyn Database>)
        .with_cleanup(async move { cleanup.drop_schema().await.expect("drop the test schema") })
}

async fn sqlite() -> Fixture<dyn Database> {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = SqliteDatabase::open(dir.path().join("outbox.db")).await.expect("open SQLite");
    Fixture::new(Arc::new(database) as Arc<dyn Database>).with_temp_dir(dir)
}

macro_rules! outbox_contract {
    ($adapter:ident) => {
        contract_tests!(
            $adapter,
            $adapter,
            [
                committed_events_are_published_and_marked_sent,
                events_of_a_rolled_back_transaction_are_never_published,
                a_broker_outage_leaves_events_for_the_sweep_which_publishes_them_oldest_first,
                a_relay_that_died_after_commit_is_covered_by_the_sweep,
                the_inbox_admits_an_event_once_per_consumer,
                the_listing_is_per_tenant_after_a_cursor_and_expires,
            ]
        );
    };
}
outbox_contract!(postgres);
outbox_contract!(sqlite);

/// The in-process bus, with a switch that makes every publish fail as an
/// unreachable broker does.
struct SwitchableBus {
    inner: MemoryBus,
    down: AtomicBool,
}

#[async_trait]
impl Bus for SwitchableBus {
    async fn publish(&self, message: &Message) -> Result<(), Error> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::Unavailable { service: "bus", message: "connection refused".into() });
        }
        self.inner.publish(message).await
    }
    async fn subscribe(&self, subscription: &Subscription) -> Result<Arc<dyn Queue>, Error> {
        self.inner.subscribe(subscription).await
    }
    async fn send_after(&self, subscription: &Subscription, message: &Message, delay: std::time::Duration) -> Result<(), Error> {
        self.inner.send_after(subscription, message, delay).await
    }
    async fn ping(&self) -> Result<(), Error> {
        Ok(())
    }
}

mod checks {
    use infra::events::outbox::Sweep;
    use infra::events::{Envelope, EventName, Inbox, Outbox, OutboxSettings, StudySubmitted};

    use super::*;

    const NOW: i64 = 1_795_512_345_678;
    const ALL: Subscription = Subscription { name: "all", events: &[EventName::StudySubmitted] };

    struct Setup {
        outbox: Outbox,
        bus: Arc<SwitchableBus>,
        queue: Arc<dyn Queue>,
    }

    async fn setup(db: Arc<dyn Database>, inline_relay: bool) -> Setup {
        let bus = Arc::new(SwitchableBus { inner: MemoryBus::new(Duration::from_secs(30), 3), down: AtomicBool::new(false) });
        let queue = bus.subscribe(&ALL).await.unwrap();
        let settings = OutboxSettings {
            inline_relay,
            sweep_after: Duration::from_secs(5),
            retention: Duration::from_secs(3600),
            settle: Duration::ZERO,
        };
        let outbox = Outbox::start(db.clone(), bus.clone(), settings.clone()).await.unwrap();
        Outbox::start(db, bus.clone(), settings).await.expect("migrations are idempotent");
        Setup { outbox, bus, queue }
    }

    fn event(tenant: &str, study: &str) -> Envelope {
        let submitted = StudySubmitted { study: study.into(), kind: "optimize".into(), jobs: 1 };
        Envelope::new("/hive/test", Some(tenant), "corr", &submitted, NOW).unwrap()
    }

    /// Commits `events` in a transaction of their own and relays them.
    async fn commit(setup: &Setup, events: Vec<Envelope>, now: i64) {
        let mut tx = setup.outbox.database().begin().await.unwrap();
        let staged = Outbox::stage(&mut *tx, events, now).await.unwrap();
        tx.commit().await.unwrap();
        setup.outbox.relay(staged, now).await;
    }

    async fn received(queue: &dyn Queue) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let deliveries = queue.receive(10, Duration::from_millis(100)).await.unwrap();
            if deliveries.is_empty() {
                return ids;
            }
            for delivery in deliveries {
                ids.push(Envelope::parse(&delivery.message.body).unwrap().subject);
                queue.ack(&delivery).await.unwrap();
            }
        }
    }

    pub async fn committed_events_are_published_and_marked_sent(db: Arc<dyn Database>) {
        let setup = setup(db, true).await;
        commit(&setup, vec![event("t", "s1"), event("t", "s2")], NOW).await;
        assert_eq!(received(&*setup.queue).await, ["s1", "s2"]);
        assert_eq!(setup.outbox.unsent().await.unwrap(), 0);
        let sweep = setup.outbox.sweep(NOW + 60_000).await.unwrap();
        assert_eq!(sweep.published, 0, "nothing is left to sweep");
        assert!(received(&*setup.queue).await.is_empty());
    }

    pub async fn events_of_a_rolled_back_transaction_are_never_published(db: Arc<dyn Database>) {
        let setup = setup(db, true).await;
        let mut tx = setup.outbox.database().begin().await.unwrap();
        let staged = Outbox::stage(&mut *tx, vec![event("t", "gone")], NOW).await.unwrap();
        tx.rollback().await.unwrap();
        drop(staged);
        {
            let mut dropped = setup.outbox.database().begin().await.unwrap();
            let _ = Outbox::stage(&mut *dropped, vec![event("t", "dropped")], NOW).await.unwrap();
        }
        setup.outbox.sweep(NOW + 60_000).await.unwrap();
        assert!(received(&*setup.queue).await.is_empty());
        assert_eq!(setup.outbox.unsent().await.unwrap(), 0);
        assert!(setup.outbox.list("t", 0, None, 10, NOW + 60_000).await.unwrap().is_empty());
    }

    pub async fn a_broker_outage_leaves_events_for_the_sweep_which_publishes_them_oldest_first(db: Arc<dyn Database>) {
        let setup = setup(db, true).await;
        setup.bus.down.store(true, Ordering::SeqCst);
        for (i, study) in ["a", "b", "c"].into_iter().enumerate() {
            commit(&setup, vec![event("t", study)], NOW + i as i64).await;
        }
        assert_eq!(setup.outbox.unsent().await.unwrap(), 3, "committed work keeps its events");
        let down = setup.outbox.sweep(NOW + 60_000).await.unwrap();
        assert_eq!((down.published, down.unsent), (0, 3), "a sweep while the broker is down stops at once");
        setup.bus.down.store(false, Ordering::SeqCst);
        let up = setup.outbox.sweep(NOW + 60_000).await.unwrap();
        assert_eq!(up, Sweep { published: 3, unsent: 0, expired: 0 });
        assert_eq!(received(&*setup.queue).await, ["a", "b", "c"]);
        assert_eq!(setup.outbox.unsent().await.unwrap(), 0);
    }

    pub async fn a_relay_that_died_after_commit_is_covered_by_the_sweep(db: Arc<dyn Database>) {
        let setup = setup(db, false).await;
        commit(&setup, vec![event("t", "late")], NOW).await;
        assert!(received(&*setup.queue).await.is_empty(), "the relay never ran");
        assert_eq!(setup.outbox.sweep(NOW + 1000).await.unwrap().published, 0, "young events are the relay's");
        assert_eq!(setup.outbox.sweep(NOW + 6000).await.unwrap().published, 1);
        assert_eq!(received(&*setup.queue).await, ["late"]);
    }

    pub async fn the_inbox_admits_an_event_once_per_consumer(db: Arc<dyn Database>) {
        let setup = setup(db.clone(), true).await;
        assert!(claim_once(&db, "worker", "event-1").await);
        assert!(!claim_once(&db, "worker", "event-1").await, "a redelivery is recognised");
        assert!(claim_once(&db, "audit", "event-1").await, "another consumer has its own record");
        // A claim in a transaction that rolls back is forgotten with it.
        let mut tx = db.begin().await.unwrap();
        assert!(Inbox::claim(&mut *tx, "worker", "event-2", NOW).await.unwrap());
        tx.rollback().await.unwrap();
        assert!(claim_once(&db, "worker", "event-2").await);
        drop(setup);
    }

    async fn claim_once(db: &Arc<dyn Database>, consumer: &str, id: &str) -> bool {
        let mut tx = db.begin().await.unwrap();
        let fresh = Inbox::claim(&mut *tx, consumer, id, NOW).await.unwrap();
        tx.commit().await.unwrap();
        fresh
    }

    pub async fn the_listing_is_per_tenant_after_a_cursor_and_expires(db: Arc<dyn Database>) {
        let setup = setup(db, true).await;
        commit(&setup, vec![event("acme", "1"), event("other", "x"), event("acme", "2"), event("acme", "3")], NOW).await;
        let all = setup.outbox.list("acme", 0, None, 10, NOW).await.unwrap();
        let subjects: Vec<&str> = all.iter().map(|s| s.envelope.subject.as_str()).collect();
        assert_eq!(subjects, ["1", "2", "3"], "only acme's, in order");
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        let after = setup.outbox.list("acme", all[0].seq, None, 10, NOW).await.unwrap();
        assert_eq!(after.iter().map(|s| s.envelope.subject.as_str()).collect::<Vec<_>>(), ["2", "3"]);
        assert_eq!(setup.outbox.list("acme", 0, None, 2, NOW).await.unwrap().len(), 2, "the limit holds");
        assert!(setup.outbox.list("acme", 0, Some(EventName::StudyCompleted), 10, NOW).await.unwrap().is_empty());
        assert_eq!(setup.outbox.list("acme", 0, Some(EventName::StudySubmitted), 10, NOW).await.unwrap().len(), 3);
        // Past the retention, sent events go.
        let sweep = setup.outbox.sweep(NOW + 3_600_001).await.unwrap();
        assert_eq!(sweep.expired, 4);
        assert!(setup.outbox.list("acme", 0, None, 10, NOW + 3_600_001).await.unwrap().is_empty());
    }
}
