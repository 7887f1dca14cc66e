//! S3 adapter, also used against LocalStack and s3s-fs: path-style
//! addressing so a custom endpoint needs no wildcard DNS.

use super::{ObjectInfo, ObjectStore, Result, UploadTarget, check_key, check_prefix};
use crate::Error;
use crate::aws::map_sdk_error;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::time::Duration;

const SERVICE: &str = "s3";

/// An S3 client for `sdk_config` (see [`crate::aws::sdk_config`]).
/// Checksums are sent only when an operation requires them: S3-compatible
/// stand-ins lag behind AWS's newer default checksum headers, and a presigned
/// URL must not carry a checksum of bytes it has not seen.
pub fn s3_client(sdk_config: &aws_config::SdkConfig) -> Client {
    let config = aws_sdk_s3::config::Builder::from(sdk_config)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(config)
}

#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: Client, bucket: &str) -> Self {
        S3Store {
            client,
            bucket: bucket.to_owned(),
        }
    }

    /// Creates the bucket if it does not exist; for tests and local setups.
    pub async fn create_bucket(&self) -> Result<()> {
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                let code = error
                    .as_service_error()
                    .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e));
                if matches!(
                    code,
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) {
                    Ok(())
                } else {
                    Err(map_sdk_error(SERVICE, error))
                }
            }
        }
    }

    /// Empties and deletes the bucket; tests clean up with it.
    pub async fn delete_bucket(&self) -> Result<()> {
        for object in self.list("").await? {
            self.delete(&object.key).await?;
        }
        self.client
            .delete_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<()> {
        check_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        check_key(key)?;
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| {
                if error.as_service_error().is_some_and(|e| e.is_no_such_key()) {
                    Error::NotFound(key.to_owned())
                } else {
                    map_sdk_error(SERVICE, error)
                }
            })?;
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| Error::Unavailable {
                service: SERVICE,
                message: format!("reading {key}: {error}"),
            })?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        check_prefix(prefix)?;
        let mut objects = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(continuation.take())
                .send()
                .await
                .map_err(|error| map_sdk_error(SERVICE, error))?;
            objects.extend(page.contents().iter().filter_map(|object| {
                Some(ObjectInfo {
                    key: object.key()?.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                })
            }));
            match page.next_continuation_token() {
                Some(token) if page.is_truncated() == Some(true) => {
                    continuation = Some(token.to_owned())
                }
                _ => break,
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn upload_target(&self, key: &str, expires_in: Duration) -> Result<UploadTarget> {
        check_key(key)?;
        let presigning = PresigningConfig::expires_in(expires_in)
            .map_err(|error| Error::invalid("expires_in", error.to_string()))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        let headers = request
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Ok(UploadTarget {
            url: request.uri().to_owned(),
            method: request.method().to_owned(),
            headers,
        })
    }

    async fn ping(&self) -> Result<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|error| map_sdk_error(SERVICE, error))?;
        Ok(())
    }
}
