//! Uploads on PostgreSQL: parts sent at once each get their own number, and
//! together they never take an upload past its limit, because reserving a
//! part is one conditional statement, not a read and a write.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use infra::db::{Database, PostgresDatabase, PostgresSettings};
use infra::objects::FsStore;
use infra::uploads::{MAX_FILES, UploadFile, Uploads, migration};
use support::{POSTGRES_URL, reachable, service_url, unique};

fn files(part: usize, count: usize) -> Vec<UploadFile> {
    (0..count).map(|n| UploadFile { path: format!("src/p{part}/f{n}.py"), content: "x = 1\n".into() }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_parts_get_distinct_numbers_and_stop_at_the_limit() {
    let settings = PostgresSettings {
        url: service_url(POSTGRES_URL),
        max_connections: 8,
        connect_timeout: Duration::from_secs(3),
        schema: Some(unique("uploads_")),
    };
    let database = Arc::new(reachable(PostgresDatabase::connect(&settings).await, "PostgreSQL", POSTGRES_URL));
    database.migrate(&[migration(9901, "test uploads", "test_uploads")]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let objects = Arc::new(FsStore::open(dir.path()).await.unwrap());
    let uploads = Uploads::new(database.clone(), objects, "test", "test_uploads");

    let (id, first) = uploads.create("acme", files(0, 1), 0).await.unwrap();
    assert_eq!(first.parts, 1);
    // Twenty parts of 1,000 files at once: 1 + 9 × 1,000 fits in 10,000, a
    // tenth part would not.
    let sent = futures::future::join_all((1..=20).map(|part| {
        let (uploads, id) = (uploads.clone(), id.clone());
        async move { uploads.add("acme", &id, files(part, 1000)).await }
    }))
    .await;
    let accepted: Vec<_> = sent.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(accepted.len(), 9, "only the parts that fit are taken");
    let numbers: BTreeSet<u64> = accepted.iter().map(|t| t.parts).collect();
    assert_eq!(numbers, (2..=10).collect(), "each part its own number");
    for refused in sent.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.status().as_u16(), 422);
        assert_eq!(refused.field(), Some("files"), "{refused:?}");
    }
    let totals = uploads.totals("acme", &id).await.unwrap().unwrap();
    assert_eq!((totals.files, totals.parts), (9001, 10));
    assert!(totals.files <= MAX_FILES);
    let read = uploads.files("acme", &id).await.unwrap().unwrap();
    assert_eq!(read.len(), 9001, "every accepted part reads back");
    assert!(uploads.totals("other", &id).await.unwrap().is_none(), "another tenant sees nothing");
    database.drop_schema().await.unwrap();
}
