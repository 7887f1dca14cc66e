//! Uploads in parts: a bundle of files too large for one request body (the
//! platform's limit, [`MAX_BODY_BYTES`], is 1 MiB) arrives in parts, each a
//! request of its own, and a later request names the upload instead of
//! carrying the files.
//!
//! Each part is an object under the tenant on the object store port
//! (`<app>/<tenant>/uploads/<id>/part-NNNNN.json`); the upload's totals are
//! a row on the database port, and keep it within [`MAX_FILES`] and
//! [`MAX_BYTES`]. Reading the parts back in order gives one file list, in
//! which a path sent again in a later part replaces the earlier file where
//! it first appeared.
//!
//! The mechanism is shared; each app has its own key prefix, its own table
//! (created by its own [`migration`]) and its own routes and scopes.
//! Refusals are [`ApiError`]s naming the field, as the routes answer them.
//!
//! [`MAX_BODY_BYTES`]: crate::edge::http::MAX_BODY_BYTES

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::db::{Database, Migration, Row, Value};
use crate::edge::ApiError;
use crate::edge::openapi::Operation;
use crate::objects::ObjectStore;

/// Files in one request: an upload's part, or files sent inline.
pub const MAX_PART_FILES: usize = 1000;
/// Files in an upload over all its parts (a file sent again counts again).
pub const MAX_FILES: u64 = 10_000;
/// The files' content in an upload over all its parts, in bytes.
pub const MAX_BYTES: u64 = 32 * 1024 * 1024;

/// One file of an upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadFile {
    pub path: String,
    pub content: String,
}

/// An upload's totals over its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
    pub parts: u64,
}

/// An upload as the routes answer it: what it holds so far over all its
/// parts. One schema for every app's upload routes.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "FilesUpload")]
pub struct UploadView {
    /// What a request names as `upload`.
    pub id: String,
    /// Files received, counting a file sent again in each part.
    #[schemars(range(min = 0, max = 10_000))]
    pub files: u64,
    #[schemars(range(min = 0, max = 33_554_432))]
    pub bytes: u64,
    #[schemars(range(min = 1, max = 10_000))]
    pub parts: u64,
}

impl UploadView {
    pub fn new(id: String, totals: Totals) -> UploadView {
        UploadView { id, files: totals.files, bytes: totals.bytes, parts: totals.parts }
    }

    /// The 201 of a new upload, with its `Location` under `uploads_path`.
    pub fn created(self, uploads_path: &str) -> Response {
        let location = format!("{uploads_path}/{}", self.id);
        let mut response = (StatusCode::CREATED, axum::Json(self)).into_response();
        if let Ok(value) = location.parse() {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }
}

/// How an app names its two upload routes in its OpenAPI document.
pub struct UploadRoutes<'a> {
    pub uploads_path: &'a str,
    pub files_path: &'a str,
    /// The operation ids of the two routes, and of the submission that
    /// names an upload (the create route links to it).
    pub create_id: &'a str,
    pub add_id: &'a str,
    pub submit_id: &'a str,
    pub scope: &'a str,
    /// The app's own refusals of a part's files, each led by `, ` (as
    /// `, a file is binary`); empty for none.
    pub also_refused: &'a str,
}

impl UploadRoutes<'_> {
    /// The create and add operations, over the app's schemas of a part, an
    /// upload ([`UploadView`]) and an upload id.
    pub fn operations(&self, part: serde_json::Value, upload: serde_json::Value, id: serde_json::Value) -> [Operation; 2] {
        let also = self.also_refused;
        let create = Operation::post(self.uploads_path, self.create_id)
            .summary("Starts an upload with its first part of files; a review names it instead of `files`.")
            .scope(self.scope)
            .json_body(part.clone())
            .json_response(201, "the upload", upload.clone())
            .error(422, &format!("a file's path is invalid{also}, or there are no files or too many"))
            .link(201, &upper_first(self.add_id), self.add_id, serde_json::json!({"id": "$response.body#/id"}))
            .link(201, "ReviewUpload", self.submit_id, serde_json::json!({}));
        let add = Operation::post(self.files_path, self.add_id)
            .summary("Adds a part of files to an upload; a path sent again replaces the earlier file.")
            .scope(self.scope)
            .path_parameter("id", id, "The upload's id.")
            .json_body(part)
            .json_response(200, "the upload's totals", upload)
            .error(404, "no such upload for this tenant")
            .error(422, &format!("a file's path is invalid{also}, or the upload would go over its limits"));
        [create, add]
    }
}

/// `addUploadFiles` → `AddUploadFiles`: a link is named after the
/// operation it leads to.
fn upper_first(id: &str) -> String {
    let mut chars = id.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A part as it is stored: `{"files": [{"path", "content"}]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Part {
    files: Vec<UploadFile>,
}

/// The table of an app's uploads, created by the app's migration `version`.
pub fn migration(version: i64, name: &str, table: &str) -> Migration {
    Migration::portable(
        version,
        name,
        &format!(
            "CREATE TABLE IF NOT EXISTS {table} (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            files BIGINT NOT NULL,
            bytes BIGINT NOT NULL,
            parts BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant, id)
        );"
        ),
    )
}

/// An upload id is one this module made: a hyphenated UUID (it is part of
/// object keys, so nothing else may pass).
pub fn is_upload_id(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::parse_str(id).is_ok()
}

/// A 422 naming `field`, as the routes answer a bad body.
pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message).with_field(field)
}

/// Checks the paths of one request's files: between 1 and
/// [`MAX_PART_FILES`] of them, each relative with `/` separators and
/// without `..` or empty segments (they become object keys and
/// annotations). A problem is a 422 naming `files` or `files[i].path`.
pub fn check_paths<'a, I>(paths: I) -> Result<(), ApiError>
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: ExactSizeIterator,
{
    let paths = paths.into_iter();
    if paths.len() == 0 || paths.len() > MAX_PART_FILES {
        return Err(invalid("files", format!("between 1 and {MAX_PART_FILES} files")));
    }
    for (i, path) in paths.enumerate() {
        let bad = path.is_empty()
            || path.len() > 1024
            || path.starts_with('/')
            || path.contains('\\')
            || path.contains('\0')
            || path.split('/').any(|s| s == ".." || s.is_empty());
        if bad {
            return Err(invalid(format!("files[{i}].path"), "a relative path with `/` separators, without `..` or empty segments"));
        }
    }
    Ok(())
}

/// One app's uploads: its key prefix and its table. Cheap to clone.
#[derive(Clone)]
pub struct Uploads {
    db: Arc<dyn Database>,
    objects: Arc<dyn ObjectStore>,
    /// The app's first key segment (`guardian`, `reviewer`).
    prefix: &'static str,
    /// The app's constant table name; identifiers cannot be SQL
    /// parameters, and this one is never input.
    table: &'static str,
}

impl Uploads {
    pub fn new(db: Arc<dyn Database>, objects: Arc<dyn ObjectStore>, prefix: &'static str, table: &'static str) -> Uploads {
        Uploads { db, objects, prefix, table }
    }

    /// Where an upload's parts are: every key under it, in part order.
    pub fn parts_prefix(&self, tenant: &str, id: &str) -> String {
        format!("{}/{tenant}/uploads/{id}/", self.prefix)
    }

    /// The key of one part (its number zero-padded, so keys sort in order).
    pub fn part_key(&self, tenant: &str, id: &str, part: u64) -> String {
        format!("{}part-{part:05}.json", self.parts_prefix(tenant, id))
    }

    /// A new upload holding `files` as its first part: its id and totals.
    pub async fn create(&self, tenant: &str, files: Vec<UploadFile>, now: i64) -> Result<(String, Totals), ApiError> {
        check_paths(files.iter().map(|f| f.path.as_str()))?;
        let id = uuid::Uuid::new_v4().to_string();
        let (count, bytes) = size(&files);
        let body = serde_json::to_vec(&Part { files }).map_err(ApiError::internal)?;
        self.objects.put(&self.part_key(tenant, &id, 1), body, "application/json").await?;
        let sql = format!("INSERT INTO {} (tenant, id, files, bytes, parts, created_at) VALUES ($1, $2, $3, $4, 1, $5)", self.table);
        self.db.execute(&sql, &[tenant.into(), id.as_str().into(), int(count), int(bytes), Value::Int(now)]).await?;
        Ok((id, Totals { files: count, bytes, parts: 1 }))
    }

    /// Adds `files` as the upload's next part: its totals after. A 404 for
    /// an upload that is not the tenant's; a 422 naming the field for bad
    /// files or a part that would take the upload over its limits.
    pub async fn add(&self, tenant: &str, id: &str, files: Vec<UploadFile>) -> Result<Totals, ApiError> {
        if self.totals(tenant, id).await?.is_none() {
            return Err(ApiError::not_found(format!("no upload {id}")));
        }
        check_paths(files.iter().map(|f| f.path.as_str()))?;
        let (count, bytes) = size(&files);
        let Some(totals) = self.reserve_part(tenant, id, count, bytes).await? else {
            return Err(invalid("files", format!("the upload would hold more than {MAX_FILES} files or {MAX_BYTES} bytes")));
        };
        let body = serde_json::to_vec(&Part { files }).map_err(ApiError::internal)?;
        self.objects.put(&self.part_key(tenant, id, totals.parts), body, "application/json").await?;
        Ok(totals)
    }

    /// The upload a request names as `upload`: its totals, or a 422 naming
    /// `upload` when it is no upload of the tenant's.
    pub async fn named(&self, tenant: &str, upload: &str) -> Result<Totals, ApiError> {
        if !is_upload_id(upload) {
            return Err(invalid("upload", format!("{upload:?} is not an upload id")));
        }
        self.totals(tenant, upload).await?.ok_or_else(|| invalid("upload", format!("no upload {upload}")))
    }

    /// The tenant's upload's totals; `None` for another tenant's, an
    /// unknown one, or an id that is not an upload id.
    pub async fn totals(&self, tenant: &str, id: &str) -> Result<Option<Totals>, Error> {
        if !is_upload_id(id) {
            return Ok(None);
        }
        let sql = format!("SELECT files, bytes, parts FROM {} WHERE tenant = $1 AND id = $2", self.table);
        let rows = self.db.query(&sql, &[tenant.into(), id.into()]).await?;
        rows.first().map(totals_of).transpose()
    }

    /// The upload's files over its parts, in order; a path sent again
    /// replaces its earlier content where it first appeared. The reason as
    /// a value when the upload cannot be read as files.
    pub async fn files(&self, tenant: &str, id: &str) -> Result<Result<Vec<UploadFile>, String>, Error> {
        if !is_upload_id(id) {
            return Ok(Err(format!("{id:?} is not an upload id")));
        }
        let mut files: Vec<UploadFile> = Vec::new();
        let mut at: BTreeMap<String, usize> = BTreeMap::new();
        for object in self.objects.list(&self.parts_prefix(tenant, id)).await? {
            let bytes = self.objects.get(&object.key).await?;
            let part: Part = match serde_json::from_slice(&bytes) {
                Ok(part) => part,
                Err(e) => return Ok(Err(format!("{} is not an upload part: {e}", object.key))),
            };
            for file in part.files {
                match at.get(&file.path) {
                    Some(&i) => files[i] = file,
                    None => {
                        at.insert(file.path.clone(), files.len());
                        files.push(file);
                    }
                }
            }
        }
        if files.is_empty() {
            return Ok(Err(format!("upload {id} holds no files")));
        }
        Ok(Ok(files))
    }

    /// Reserves the next part within the limits, in one statement so that
    /// concurrent parts get distinct numbers. `None` when the part would
    /// take the upload over a limit (or it is gone).
    async fn reserve_part(&self, tenant: &str, id: &str, files: u64, bytes: u64) -> Result<Option<Totals>, Error> {
        let mut tx = self.db.begin().await?;
        let update = format!(
            "UPDATE {} SET files = files + $3, bytes = bytes + $4, parts = parts + 1 \
             WHERE tenant = $1 AND id = $2 AND files + $3 <= $5 AND bytes + $4 <= $6",
            self.table
        );
        let updated =
            tx.execute(&update, &[tenant.into(), id.into(), int(files), int(bytes), int(MAX_FILES), int(MAX_BYTES)]).await?;
        if updated == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let select = format!("SELECT files, bytes, parts FROM {} WHERE tenant = $1 AND id = $2", self.table);
        let rows = tx.query(&select, &[tenant.into(), id.into()]).await?;
        tx.commit().await?;
        rows.first().map(totals_of).transpose()
    }
}

fn size(files: &[UploadFile]) -> (u64, u64) {
    (files.len() as u64, files.iter().map(|f| f.content.len() as u64).sum())
}

fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn totals_of(row: &Row) -> Result<Totals, Error> {
    let count = |name: &str| row.int(name).map(|n| u64::try_from(n).unwrap_or(0));
    Ok(Totals { files: count("files")?, bytes: count("bytes")?, parts: count("parts")? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::SqliteDatabase;
    use crate::objects::FsStore;

    async fn uploads(dir: &tempfile::TempDir) -> Uploads {
        let db = SqliteDatabase::open(dir.path().join("db.sqlite")).await.unwrap();
        db.migrate(&[migration(1, "uploads", "test_uploads")]).await.unwrap();
        let objects = FsStore::open(dir.path().join("objects")).await.unwrap();
        Uploads::new(Arc::new(db), Arc::new(objects), "app", "test_uploads")
    }

    fn file(path: &str, content: &str) -> UploadFile {
        UploadFile { path: path.into(), content: content.into() }
    }

    fn field(result: Result<impl std::fmt::Debug, ApiError>) -> (u16, String) {
        let error = result.unwrap_err();
        (error.status().as_u16(), error.field().unwrap_or_default().to_owned())
    }

    #[tokio::test]
    async fn parts_read_back_as_one_list_where_a_later_path_replaces_the_earlier() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = uploads(&dir).await;
        let (id, totals) = uploads.create("acme", vec![file("a.py", "1"), file("b.py", "22")], 0).await.unwrap();
        assert_eq!(totals, Totals { files: 2, bytes: 3, parts: 1 });
        assert!(uploads.part_key("acme", &id, 1).starts_with(&format!("app/acme/uploads/{id}/part-00001")));
        let totals = uploads.add("acme", &id, vec![file("a.py", "333"), file("c.py", "")]).await.unwrap();
        assert_eq!(totals, Totals { files: 4, bytes: 6, parts: 2 });
        assert_eq!(uploads.named("acme", &id).await.unwrap(), totals);
        let files = uploads.files("acme", &id).await.unwrap().unwrap();
        assert_eq!(files, vec![file("a.py", "333"), file("b.py", "22"), file("c.py", "")]);
    }

    #[tokio::test]
    async fn another_tenants_or_an_unknown_upload_is_refused_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = uploads(&dir).await;
        let (id, _) = uploads.create("acme", vec![file("a.py", "x")], 0).await.unwrap();
        assert_eq!(field(uploads.add("globex", &id, vec![file("b.py", "")]).await).0, 404);
        assert_eq!(field(uploads.named("globex", &id).await), (422, "upload".into()));
        assert_eq!(field(uploads.named("acme", "../x").await), (422, "upload".into()));
        assert_eq!(field(uploads.add("acme", "not-an-id", vec![file("b.py", "")]).await).0, 404);
        assert!(uploads.files("globex", &id).await.unwrap().is_err(), "the parts are under the tenant");
    }

    #[tokio::test]
    async fn bad_files_and_the_limits_are_422s_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = uploads(&dir).await;
        assert_eq!(field(uploads.create("acme", vec![], 0).await), (422, "files".into()));
        for bad in ["", "/abs.py", "a/../b.py", "a//b.py", "a\\b.py", "a\0.py"] {
            assert_eq!(field(uploads.create("acme", vec![file("ok.py", ""), file(bad, "")], 0).await), (422, "files[1].path".into()), "{bad:?}");
        }
        let many: Vec<UploadFile> = (0..=MAX_PART_FILES).map(|i| file(&format!("f{i}.py"), "")).collect();
        assert_eq!(field(uploads.create("acme", many, 0).await), (422, "files".into()));
        // Ten parts of 1000 files fill the upload; one more file is over.
        let part = |n: usize| (0..1000).map(|i| file(&format!("p{n}/f{i}.py"), "")).collect::<Vec<_>>();
        let (id, _) = uploads.create("acme", part(0), 0).await.unwrap();
        for n in 1..10 {
            uploads.add("acme", &id, part(n)).await.unwrap();
        }
        assert_eq!(field(uploads.add("acme", &id, vec![file("one-more.py", "")]).await), (422, "files".into()));
        // Over the bytes: 32 MiB and one byte more cannot be added.
        let (id, _) = uploads.create("acme", vec![file("a.py", "x")], 0).await.unwrap();
        let chunk = "x".repeat(1024 * 1024);
        for i in 0..31 {
            uploads.add("acme", &id, vec![file(&format!("b{i}.py"), &chunk)]).await.unwrap();
        }
        assert_eq!(field(uploads.add("acme", &id, vec![file("c.py", &chunk)]).await), (422, "files".into()));
        assert_eq!(uploads.named("acme", &id).await.unwrap(), Totals { files: 32, bytes: 31 * 1024 * 1024 + 1, parts: 32 });
    }
}
