//! One contract for the object store port, run against S3 on LocalStack, S3
//! on s3s-fs (the MinIO stand-in) and the local filesystem.

mod support;

use infra::objects::{FsStore, ObjectStore, S3Store, UploadTarget, s3_client};
use std::sync::Arc;
use std::time::Duration;
use support::{Fixture, LOCALSTACK_URL, S3_URL, localstack_config, reachable, s3s_config, unique};

async fn s3_fixture(
    config: aws_config::SdkConfig,
    service: &str,
    variable: (&str, &str),
) -> Fixture<dyn ObjectStore> {
    let store = Arc::new(S3Store::new(s3_client(&config), &unique("hive-contract-")));
    reachable(store.create_bucket().await, service, variable);
    let cleanup = store.clone();
    Fixture::new(store as Arc<dyn ObjectStore>).with_cleanup(async move {
        cleanup
            .delete_bucket()
            .await
            .expect("delete the test bucket")
    })
}

async fn localstack_s3() -> Fixture<dyn ObjectStore> {
    s3_fixture(localstack_config().await, "LocalStack S3", LOCALSTACK_URL).await
}

async fn s3s_fs() -> Fixture<dyn ObjectStore> {
    s3_fixture(s3s_config().await, "s3s-fs", S3_URL).await
}

async fn filesystem() -> Fixture<dyn ObjectStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsStore::open(dir.path().join("objects"))
        .await
        .expect("open store");
    Fixture::new(Arc::new(store) as Arc<dyn ObjectStore>).with_temp_dir(dir)
}

contract_tests!(
    localstack_s3,
    localstack_s3,
    [
        put_get_overwrite,
        missing_object_is_not_found,
        delete_is_idempotent,
        list_filters_by_prefix_and_sorts,
        keys_that_escape_are_rejected,
        upload_target_accepts_an_upload,
        ping_answers,
    ]
);
contract_tests!(
    s3s_fs,
    s3s_fs,
    [
        put_get_overwrite,
        missing_object_is_not_found,
        delete_is_idempotent,
        list_filters_by_prefix_and_sorts,
        keys_that_escape_are_rejected,
        upload_target_accepts_an_upload,
        ping_answers,
    ]
);
contract_tests!(
    filesystem,
    filesystem,
    [
        put_get_overwrite,
        missing_object_is_not_found,
        delete_is_idempotent,
        list_filters_by_prefix_and_sorts,
        keys_that_escape_are_rejected,
        upload_target_accepts_an_upload,
        ping_answers,
    ]
);

mod checks {
    use super::*;
    use infra::Error;
    use infra::objects::ObjectInfo;

    pub async fn put_get_overwrite(store: Arc<dyn ObjectStore>) {
        let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        store
            .put(
                "reports/2026/run.bin",
                body.clone(),
                "application/octet-stream",
            )
            .await
            .expect("put");
        assert_eq!(store.get("reports/2026/run.bin").await.expect("get"), body);
        store
            .put("reports/2026/run.bin", b"{}".to_vec(), "application/json")
            .await
            .expect("overwrite");
        assert_eq!(store.get("reports/2026/run.bin").await.unwrap(), b"{}");
    }

    pub async fn missing_object_is_not_found(store: Arc<dyn ObjectStore>) {
        let error = store.get("nothing/here.json").await.expect_err("missing");
        assert!(matches!(error, Error::NotFound(_)), "{error:?}");
    }

    pub async fn delete_is_idempotent(store: Arc<dyn ObjectStore>) {
        store
            .put("a.txt", b"a".to_vec(), "text/plain")
            .await
            .unwrap();
        store.delete("a.txt").await.expect("delete");
        assert!(matches!(store.get("a.txt").await, Err(Error::NotFound(_))));
        store
            .delete("a.txt")
            .await
            .expect("deleting a missing key is fine");
    }

    pub async fn list_filters_by_prefix_and_sorts(store: Arc<dyn ObjectStore>) {
        for (key, size) in [
            ("runs/b.json", 2),
            ("runs/a.json", 1),
            ("runs/nested/c.json", 3),
            ("other/d.json", 4),
        ] {
            store
                .put(key, vec![b'x'; size], "application/json")
                .await
                .unwrap();
        }
        let info = |key: &str, size: u64| ObjectInfo {
            key: key.to_owned(),
            size,
        };
        assert_eq!(
            store.list("runs/").await.expect("list"),
            vec![
                info("runs/a.json", 1),
                info("runs/b.json", 2),
                info("runs/nested/c.json", 3)
            ]
        );
        assert_eq!(store.list("").await.unwrap().len(), 4);
        assert_eq!(store.list("none/").await.unwrap(), Vec::new());
    }

    pub async fn keys_that_escape_are_rejected(store: Arc<dyn ObjectStore>) {
        for key in ["../escape.txt", "/etc/passwd", "a/../../b", "a\\b", ""] {
            let put = store.put(key, b"x".to_vec(), "text/plain").await;
            assert!(
                matches!(put, Err(Error::Invalid { .. })),
                "put {key:?}: {put:?}"
            );
            assert!(
                matches!(store.get(key).await, Err(Error::Invalid { .. })),
                "get {key:?}"
            );
            assert!(matches!(
                store.upload_target(key, Duration::from_secs(60)).await,
                Err(Error::Invalid { .. })
            ));
        }
        assert!(matches!(
            store.list("../").await,
            Err(Error::Invalid { .. })
        ));
    }

    pub async fn upload_target_accepts_an_upload(store: Arc<dyn ObjectStore>) {
        let target = store
            .upload_target("uploads/input.json", Duration::from_secs(300))
            .await
            .expect("target");
        assert_eq!(target.method, "PUT");
        upload(&target, br#"{"site":"demo"}"#).await;
        assert_eq!(
            store
                .get("uploads/input.json")
                .await
                .expect("uploaded object"),
            br#"{"site":"demo"}"#
        );
    }

    pub async fn ping_answers(store: Arc<dyn ObjectStore>) {
        store.ping().await.expect("ping");
    }

    /// Does what a client of the target would: an HTTP PUT with the signed
    /// headers, or for a `file://` target a write to that path.
    async fn upload(target: &UploadTarget, body: &[u8]) {
        if let Some(path) = target.url.strip_prefix("file://") {
            tokio::fs::write(path, body)
                .await
                .expect("write the upload path");
            return;
        }
        let mut request = reqwest::Client::new().put(&target.url).body(body.to_vec());
        for (name, value) in &target.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("PUT to the presigned URL");
        let status = response.status();
        assert!(
            status.is_success(),
            "presigned PUT answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
}
