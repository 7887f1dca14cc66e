//! The object store port: blobs by key. S3 in production (and on LocalStack
//! or s3s-fs locally), a directory on disk embedded.
//!
//! Keys are `/`-separated relative paths. Every adapter rejects keys that
//! could escape a directory (`..`, absolute paths, backslashes), so a key that
//! works on S3 works on disk too.

mod fs;
mod s3;

pub use fs::FsStore;
pub use s3::{S3Store, s3_client};

use crate::Error;
use async_trait::async_trait;
use std::time::Duration;

pub type Result<T> = std::result::Result<T, Error>;

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores the object, replacing any previous one under the key.
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<()>;
    /// The object's bytes, or `Error::NotFound`.
    async fn get(&self, key: &str) -> Result<Vec<u8>>;
    /// Removes the object; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
    /// Where a client can upload `key` directly, without passing the bytes
    /// through a function: an S3 presigned PUT URL, or for the filesystem a
    /// `file://` URL of the path to write (see [`FsStore`]).
    async fn upload_target(&self, key: &str, expires_in: Duration) -> Result<UploadTarget>;
    async fn ping(&self) -> Result<()>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    /// `https://…` (presigned) or `file:///…` (local filesystem).
    pub url: String,
    /// Always `PUT` for an HTTP URL.
    pub method: String,
    /// Headers the upload must send exactly as given (they are signed).
    pub headers: Vec<(String, String)>,
}

/// Rejects keys that are empty, absolute, contain `.`/`..`/empty segments or
/// backslashes, or are longer than S3 allows.
pub fn check_key(key: &str) -> Result<()> {
    let reject = |why: &str| Err(Error::invalid("key", format!("{key:?}: {why}")));
    if key.is_empty() {
        return reject("empty");
    }
    if key.len() > 1024 {
        return reject("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return reject("absolute");
    }
    if key.contains('\\') || key.contains('\0') {
        return reject("backslash or NUL");
    }
    if key
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return reject("empty, `.` or `..` path segment");
    }
    Ok(())
}

/// A prefix is a key's beginning, so it may end in `/` or be empty, but
/// must not climb out either.
pub(crate) fn check_prefix(prefix: &str) -> Result<()> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() && prefix.is_empty() {
        Ok(())
    } else {
        check_key(if trimmed.is_empty() { prefix } else { trimmed })
    }
}

#[cfg(test)]
mod tests {
    use super::{check_key, check_prefix};

    #[test]
    fn keys_that_could_escape_are_rejected() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            "a/./b",
            "a\\b",
            "a/",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?} should be rejected");
        }
        for good in ["a", "a/b.json", "reports/2026/11/x.csv", "a..b"] {
            assert!(check_key(good).is_ok(), "{good:?} should be accepted");
        }
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("reports/").is_ok());
        assert!(check_prefix("../").is_err());
    }
}
