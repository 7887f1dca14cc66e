//! Local filesystem store: each object is a file under a root directory.
//!
//! `upload_target` returns `file:///<root>/<key>` with method `PUT`: the
//! local runner (or a test) writes the bytes to that path, which is what a
//! presigned URL would let a browser do against S3. Content types are not
//! kept; S3 is the only backend that serves objects to browsers directly.

use super::{ObjectInfo, ObjectStore, Result, UploadTarget, check_key, check_prefix};
use crate::Error;
use async_trait::async_trait;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SERVICE: &str = "filesystem";
/// Writes go to a temporary file first and are renamed into place, so a
/// reader never sees half an object; listings skip these.
const TEMP_PREFIX: &str = ".hive-upload-";

#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Creates the root directory if needed. The root is made absolute so
    /// `file://` upload targets are valid URLs.
    pub async fn open(root: impl AsRef<Path>) -> Result<Self> {
        tokio::fs::create_dir_all(root.as_ref())
            .await
            .map_err(io_error)?;
        let root = tokio::fs::canonicalize(root.as_ref())
            .await
            .map_err(io_error)?;
        Ok(FsStore { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(key
            .split('/')
            .fold(self.root.clone(), |path, segment| path.join(segment)))
    }
}

#[async_trait]
impl ObjectStore for FsStore {
    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<()> {
        let path = self.path(key)?;
        let parent = path
            .parent()
            .ok_or_else(|| Error::invalid("key", "no parent directory"))?;
        tokio::fs::create_dir_all(parent).await.map_err(io_error)?;
        let temp = parent.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&temp, body).await.map_err(io_error)?;
        tokio::fs::rename(&temp, &path).await.map_err(io_error)
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        match tokio::fs::read(self.path(key)?).await {
            Err(error) if error.kind() == ErrorKind::NotFound => {
                Err(Error::NotFound(key.to_owned()))
            }
            other => other.map_err(io_error),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
            other => other.map_err(io_error),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        check_prefix(prefix)?;
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        let mut objects = tokio::task::spawn_blocking(move || walk(&root, &root, &prefix))
            .await
            .map_err(|error| Error::Backend {
                service: SERVICE,
                message: error.to_string(),
            })??;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn upload_target(&self, key: &str, _expires_in: Duration) -> Result<UploadTarget> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io_error)?;
        }
        Ok(UploadTarget {
            url: format!("file://{}", path.display()),
            method: "PUT".into(),
            headers: Vec::new(),
        })
    }

    async fn ping(&self) -> Result<()> {
        let metadata = tokio::fs::metadata(&self.root).await.map_err(io_error)?;
        if metadata.is_dir() {
            Ok(())
        } else {
            Err(Error::Unavailable {
                service: SERVICE,
                message: format!("{} is not a directory", self.root.display()),
            })
        }
    }
}

fn walk(root: &Path, dir: &Path, prefix: &str) -> Result<Vec<ObjectInfo>> {
    let mut objects = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(objects),
        other => other.map_err(io_error)?,
    };
    for entry in entries {
        let entry = entry.map_err(io_error)?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io_error)?;
        if file_type.is_dir() {
            objects.extend(walk(root, &path, prefix)?);
            continue;
        }
        let is_temp = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
        let key = key_of(root, &path);
        if file_type.is_file() && !is_temp && key.starts_with(prefix) {
            objects.push(ObjectInfo {
                key,
                size: entry.metadata().map_err(io_error)?.len(),
            });
        }
    }
    Ok(objects)
}

fn key_of(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .iter()
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Disk errors are operational (full, permissions, I/O), so they count as
/// the store being unavailable rather than the request being wrong.
fn io_error(error: std::io::Error) -> Error {
    Error::Unavailable {
        service: SERVICE,
        message: error.to_string(),
    }
}
