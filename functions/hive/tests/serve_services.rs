//! The same `hive serve`, pointed at PostgreSQL, Redis, SQS and S3
//! (LocalStack), reports each as up. The services come from the test
//! environment (`HIVE_TEST_*`, see TEAM.md); an unreachable one fails the
//! test with its name.

mod support;


use infra::aws::{AwsSettings, StaticCredentials};
use support::{Server, get};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::test]
async fn health_reports_postgres_redis_sns_and_s3_up() {
    let postgres = env_or("HIVE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
    let redis = env_or("HIVE_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let localstack = env_or("HIVE_TEST_LOCALSTACK_URL", "http://127.0.0.1:4566");

    // A topic, subscription queues and a bucket of this test's own in
    // LocalStack: `hive serve` creates the topic and queues under the prefix.
    let aws = AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(localstack.clone()),
        credentials: Some(StaticCredentials { access_key_id: "test".into(), secret_access_key: "test".into() }),
    };
    let sdk = infra::aws::sdk_config(&aws).await;
    let suffix = uuid_like();
    let bucket = format!("serve-health-{suffix}");
    let prefix = format!("serve-health-{suffix}");
    let store = infra::objects::S3Store::new(infra::objects::s3_client(&sdk), &bucket);
    store.create_bucket().await.unwrap_or_else(|error| {
        panic!("LocalStack S3 at {localstack} (HIVE_TEST_LOCALSTACK_URL) is unreachable: {error}")
    });

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("HIVE_DATABASE_URL", &postgres),
            ("HIVE_REDIS_URL", &redis),
            ("HIVE_BUS", "sns"),
            ("HIVE_BUS_PREFIX", &prefix),
            ("HIVE_OBJECT_STORE", "s3"),
            ("HIVE_S3_BUCKET", &bucket),
            ("AWS_ENDPOINT_URL", &localstack),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    );
    let (status, json) = get(&server.url("/v1/health"), None).await;
    let kinds: Vec<(&str, &str)> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("postgres", "up"), ("redis", "up"), ("sns", "up"), ("s3", "up")], "{json}");
    assert_eq!(status, 200);
    assert_eq!(json["status"], "ok");
    assert!(server.stop());

    // The worker's subscription exists, with its dead-letter queue.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for name in [format!("{prefix}-studies-worker"), format!("{prefix}-studies-worker-dlq")] {
        let url = sqs.get_queue_url().queue_name(&name).send().await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        sqs.delete_queue().queue_url(url.queue_url().unwrap()).send().await.unwrap();
    }
    store.delete_bucket().await.unwrap();
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}-{}", nanos, std::process::id())
}
