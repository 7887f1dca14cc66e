//! Fault tests of the bus and the outbox against real RabbitMQ and
//! PostgreSQL: the broker stops while studies are submitted, and the relay
//! dies between commit and publish. In both, every study completes and
//! every event reaches each subscriber exactly once.
//!
//! The broker here is a RabbitMQ node of this test's own (its own node
//! name, ports, data directory and Erlang cookie), so stopping it never
//! disturbs the rest of the suite, which runs in parallel on the shared
//! broker. PostgreSQL is the shared server, in a schema of the test's own.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecosystemiser::testkit::{Client, tiny_system};
use ecosystemiser::{Settings, Studies, StudyRepo, WORKER};
use infra::bus::{Bus, RabbitBus, RabbitBusSettings, Subscription};
use infra::config::JwtConfig;
use infra::db::{Database, PostgresDatabase, PostgresSettings};
use infra::edge::registry::QueueConsumer;
use infra::edge::{IdempotencyStore, MemoryIdempotencyStore, message_handler, runner};
use infra::events::{EventName, Outbox};
use infra::objects::{FsStore, ObjectStore};
use serde_json::json;
use tokio::sync::watch;

const RABBITMQ_BIN: &str = "/usr/lib/rabbitmq/bin";

/// A private RabbitMQ node, stopped and deleted when dropped.
struct PrivateRabbit {
    dir: tempfile::TempDir,
    node: String,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl PrivateRabbit {
    fn start() -> PrivateRabbit {
        let dir = tempfile::tempdir().unwrap();
        let node = format!("hivefault{}@localhost", std::process::id());
        let rabbit = PrivateRabbit { dir, node, port: free_port() };
        std::fs::create_dir_all(rabbit.home()).unwrap();
        std::fs::write(rabbit.dir.path().join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(rabbit.dir.path().join("env.conf"), "").unwrap();
        let started = rabbit.command("rabbitmq-server").arg("-detached").status();
        assert!(
            started.is_ok_and(|s| s.success()),
            "could not start a private RabbitMQ node with {RABBITMQ_BIN}/rabbitmq-server (Debian's rabbitmq-server package)"
        );
        let pid = rabbit.dir.path().join("pid");
        rabbit.ctl(&["wait", pid.to_str().unwrap(), "--timeout", "90"]);
        rabbit
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A RabbitMQ command bound to this node alone: its own cookie (HOME),
    /// ports, data and no plugins, so nothing clashes with the shared node.
    fn command(&self, program: &str) -> Command {
        let d = self.dir.path();
        let mut command = Command::new(Path::new(RABBITMQ_BIN).join(program));
        command
            .env("HOME", self.home())
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", free_port().to_string())
            .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}")
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("no-config"))
            .env("RABBITMQ_CONF_ENV_FILE", d.join("env.conf"))
            .env("RABBITMQ_PID_FILE", d.join("pid"));
        command
    }

    fn ctl(&self, args: &[&str]) {
        let output = self.command("rabbitmqctl").args(["-n", &self.node]).args(args).output().unwrap();
        assert!(output.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        let _ = self.command("rabbitmqctl").args(["-n", &self.node, "stop"]).output();
    }
}

const AUDIT: Subscription =
    Subscription { name: "audit", events: &[EventName::StudySubmitted, EventName::StudyCompleted, EventName::StudyFailed] };

/// Event id → (type, subject, times applied) at the audit subscriber.
type Audited = Arc<Mutex<BTreeMap<String, (String, String, u32)>>>;

/// The studies app on the private broker and PostgreSQL, its worker and a
/// second subscriber that counts what it applies, and the outbox sweep.
struct Stack {
    client: Client,
    studies: Studies,
    database: Arc<PostgresDatabase>,
    audited: Audited,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    _objects: tempfile::TempDir,
}

impl Stack {
    async fn start(rabbit: &PrivateRabbit, inline_relay: bool) -> Stack {
        let postgres = std::env::var("HIVE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let settings = PostgresSettings {
            url: postgres.clone(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            schema: Some(format!("faults_{}", std::process::id())),
        };
        let database = Arc::new(PostgresDatabase::connect(&settings).await.unwrap_or_else(|e| panic!("PostgreSQL at {postgres}: {e}")));
        let bus = Arc::new(
            RabbitBus::connect(RabbitBusSettings {
                url: rabbit.url(),
                exchange: "hive.events".into(),
                queue_prefix: "hive".into(),
                visibility_timeout: Duration::from_secs(30),
                max_receives: 5,
            })
            .await
            .expect("the private broker"),
        );
        let worker_queue = bus.subscribe(&WORKER).await.unwrap();
        let audit_queue = bus.subscribe(&AUDIT).await.unwrap();
        let objects = tempfile::tempdir().unwrap();
        let mut settings = Settings::standard(&infra::config::Config::from_vars(|_| None).unwrap());
        settings.outbox.inline_relay = inline_relay;
        settings.outbox.sweep_after = Duration::from_millis(300);
        let outbox = Outbox::start(database.clone() as Arc<dyn Database>, bus.clone() as Arc<dyn Bus>, settings.outbox.clone())
            .await
            .unwrap();
        let repo = StudyRepo::new(database.clone() as Arc<dyn Database>);
        repo.migrate().await.unwrap();
        let studies = Studies {
            repo,
            objects: Arc::new(FsStore::open(objects.path()).await.unwrap()) as Arc<dyn ObjectStore>,
            outbox,
            cache: Arc::new(infra::cache::MemoryCache::new()),
            settings,
        };
        let audited = Arc::new(Mutex::new(BTreeMap::new()));
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let store = || Arc::new(MemoryIdempotencyStore::new(10_000)) as Arc<dyn IdempotencyStore>;
        let mut worker = ecosystemiser::worker(studies.clone());
        worker.concurrency = 2;
        tasks.spawn(runner::consume(worker_queue, worker, store(), stop_rx.clone()));
        let counter = audited.clone();
        let audit = QueueConsumer {
            subscription: AUDIT,
            handler: message_handler(move |message| {
                let counter = counter.clone();
                async move {
                    let envelope = message.envelope()?;
                    let mut counts = counter.lock().unwrap();
                    let entry = counts.entry(envelope.id.clone()).or_insert((envelope.event_type.clone(), envelope.subject.clone(), 0));
                    entry.2 += 1;
                    Ok(())
                }
            }),
            concurrency: 1,
        };
        tasks.spawn(runner::consume(audit_queue, audit, store(), stop_rx.clone()));
        let sweeper = studies.outbox.clone();
        let mut sweeping = stop_rx;
        tasks.spawn(async move {
            while !*sweeping.borrow() {
                let _ = sweeper.sweep(now_ms()).await;
                tokio::select! { _ = sweeping.changed() => {}, _ = tokio::time::sleep(Duration::from_millis(300)) => {} }
            }
        });
        let jwt = JwtConfig { key: None, issuer: "hive".into(), audience: "hive-api".into() };
        let client = Client::new(studies.clone(), &jwt);
        Stack { client, studies, database, audited, stop, tasks, _objects: objects }
    }

    async fn submit(&self, n: usize) -> Vec<String> {
        let token = self.client.token("acme");
        let mut ids = Vec::new();
        for _ in 0..n {
            let reply = self.client.send("POST", "/v1/studies", Some(&token), Some(&json!({"kind": "optimize", "system": tiny_system()}))).await;
            assert_eq!(reply.status, 202, "accepted while the bus is down: {}", reply.text());
            ids.push(reply.json()["id"].as_str().unwrap().to_owned());
        }
        ids
    }

    async fn status(&self, id: &str) -> String {
        self.studies.repo.get("acme", id).await.unwrap().unwrap().status.as_str().to_owned()
    }

    async fn wait_until_succeeded(&self, ids: &[String]) {
        let started = Instant::now();
        for id in ids {
            while self.status(id).await != "succeeded" {
                assert!(started.elapsed() < Duration::from_secs(90), "study {id} is still {}", self.status(id).await);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Each study's submitted and completed events reached the audit
    /// subscriber, each applied exactly once.
    async fn assert_audited_once(&self, ids: &[String]) {
        // Give late duplicates, if any, the time to show up.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let audited = self.audited.lock().unwrap().clone();
        for id in ids {
            for event_type in ["study.submitted", "study.completed"] {
                let copies: Vec<u32> =
                    audited.values().filter(|(t, s, _)| t == event_type && s == id).map(|(_, _, n)| *n).collect();
                assert_eq!(copies, [1], "{event_type} of {id}: one event, applied once");
            }
        }
        assert_eq!(self.studies.outbox.unsent().await.unwrap(), 0, "the outbox is empty");
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.database.drop_schema().await.unwrap();
    }
}

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn studies_submitted_while_the_broker_is_down_complete_once_it_is_back_and_a_dead_relay_loses_nothing() {
    let rabbit = PrivateRabbit::start();

    // The broker goes away; submissions are still accepted.
    let stack = Stack::start(&rabbit, true).await;
    rabbit.ctl(&["stop_app"]);
    let ids = stack.submit(3).await;
    assert!(stack.studies.outbox.unsent().await.unwrap() >= 6, "each study's events wait in the outbox");
    for id in &ids {
        assert_eq!(stack.status(id).await, "queued");
    }
    rabbit.ctl(&["start_app"]);
    stack.wait_until_succeeded(&ids).await;
    stack.assert_audited_once(&ids).await;
    stack.stop().await;

    // The relay dies between commit and publish: nothing goes out until the
    // sweep finds the events.
    let stack = Stack::start(&rabbit, false).await;
    let ids = stack.submit(3).await;
    stack.wait_until_succeeded(&ids).await;
    stack.assert_audited_once(&ids).await;
    stack.stop().await;
}
