//! The database port: parameterised SQL, explicit transactions and versioned
//! migrations, with PostgreSQL in production and SQLite embedded.
//!
//! Statements use `$1, $2, …` placeholders on both backends. Rows are read by
//! column name. Column types that have no [`Value`] (timestamps, numerics,
//! UUIDs) must be cast in SQL (`created_at::text`), which keeps the two
//! backends' results identical.

mod postgres;
mod sqlite;

pub use postgres::{PostgresDatabase, PostgresSettings};
pub use sqlite::SqliteDatabase;

use crate::Error;
use async_trait::async_trait;
use std::sync::Arc;

pub type Result<T> = std::result::Result<T, Error>;

/// A database: statements outside a transaction each run on their own
/// (autocommit); [`Database::begin`] gives a handle for several.
#[async_trait]
pub trait Database: Send + Sync {
    /// Runs a statement and returns the number of rows it changed.
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query and returns all its rows.
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    /// Starts a transaction. Dropping the handle without `commit` rolls it back.
    /// On SQLite the transaction holds the only connection, so the same task
    /// must not use the `Database` itself until the transaction ends.
    async fn begin(&self) -> Result<Box<dyn Transaction>>;
    /// Applies the migrations not yet recorded in `schema_migrations`, in
    /// version order, and returns the versions it applied (empty on a rerun).
    /// One run is one transaction: a failing migration leaves none of that
    /// run's migrations applied, and statements that cannot run inside a
    /// transaction (`CREATE INDEX CONCURRENTLY`) are not supported.
    async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<i64>>;
    /// Checks that the database answers; for health endpoints.
    async fn ping(&self) -> Result<()>;
    fn dialect(&self) -> Dialect;
    /// Calls `on_notify` with the payload of every notification on
    /// `channel` that any process sends (PostgreSQL's LISTEN/NOTIFY), from
    /// a connection of its own that reconnects after a failure, until the
    /// process ends. `false` where the database has no such thing: on
    /// SQLite this process is the only writer and wakes itself.
    fn listen(&self, channel: &str, on_notify: Notify) -> bool {
        let _ = (channel, on_notify);
        false
    }
}

/// What [`Database::listen`] calls with a notification's payload.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

/// An open transaction. Nothing it did is visible to others until `commit`.
#[async_trait]
pub trait Transaction: Send {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    async fn commit(self: Box<Self>) -> Result<()>;
    async fn rollback(self: Box<Self>) -> Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// A statement parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Json(serde_json::Value),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}
impl From<i32> for Value {
    fn from(value: i32) -> Self {
        Value::Int(value.into())
    }
}
impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Float(value)
    }
}
impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}
impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_owned())
    }
}
impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}
impl From<serde_json::Value> for Value {
    fn from(value: serde_json::Value) -> Self {
        Value::Json(value)
    }
}
impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Self {
        Value::Bytes(value)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// One result row; columns are looked up by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Row { columns, values }
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    pub fn get(&self, column: &str) -> Result<&Value> {
        self.columns
            .iter()
            .position(|name| name == column)
            .map(|index| &self.values[index])
            .ok_or_else(|| Error::invalid(column, "no such column in the row"))
    }

    pub fn is_null(&self, column: &str) -> Result<bool> {
        Ok(matches!(self.get(column)?, Value::Null))
    }

    pub fn int(&self, column: &str) -> Result<i64> {
        match self.get(column)? {
            Value::Int(value) => Ok(*value),
            Value::Bool(value) => Ok(i64::from(*value)),
            other => Err(wrong_type(column, "an integer", other)),
        }
    }

    pub fn float(&self, column: &str) -> Result<f64> {
        match self.get(column)? {
            Value::Float(value) => Ok(*value),
            // SQLite stores a whole REAL as it likes; accept integers too.
            Value::Int(value) => Ok(*value as f64),
            other => Err(wrong_type(column, "a float", other)),
        }
    }

    /// SQLite has no boolean type and returns 0/1; both read as a bool here.
    pub fn bool(&self, column: &str) -> Result<bool> {
        match self.get(column)? {
            Value::Bool(value) => Ok(*value),
            Value::Int(value) => Ok(*value != 0),
            other => Err(wrong_type(column, "a boolean", other)),
        }
    }

    pub fn text(&self, column: &str) -> Result<&str> {
        match self.get(column)? {
            Value::Text(value) => Ok(value),
            other => Err(wrong_type(column, "text", other)),
        }
    }

    pub fn bytes(&self, column: &str) -> Result<&[u8]> {
        match self.get(column)? {
            Value::Bytes(value) => Ok(value),
            other => Err(wrong_type(column, "bytes", other)),
        }
    }

    /// SQLite stores JSON as text, so text that parses is accepted too.
    pub fn json(&self, column: &str) -> Result<serde_json::Value> {
        match self.get(column)? {
            Value::Json(value) => Ok(value.clone()),
            Value::Text(text) => serde_json::from_str(text)
                .map_err(|error| Error::invalid(column, format!("not JSON: {error}"))),
            other => Err(wrong_type(column, "JSON", other)),
        }
    }

    /// Reads a nullable column: `None` for NULL, else the reader's result.
    pub fn optional<'a, T>(
        &'a self,
        column: &str,
        read: impl FnOnce(&'a Row, &str) -> Result<T>,
    ) -> Result<Option<T>> {
        if self.is_null(column)? {
            Ok(None)
        } else {
            read(self, column).map(Some)
        }
    }
}

fn wrong_type(column: &str, wanted: &str, found: &Value) -> Error {
    Error::invalid(column, format!("expected {wanted}, found {found:?}"))
}

/// One schema change. Most SQL is portable; where it is not, the migration
/// carries a separate statement list per dialect.
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: i64,
    pub name: String,
    pub postgres: String,
    pub sqlite: String,
}

impl Migration {
    /// A migration whose SQL runs unchanged on both backends.
    pub fn portable(version: i64, name: &str, sql: &str) -> Self {
        Migration::per_dialect(version, name, sql, sql)
    }

    pub fn per_dialect(version: i64, name: &str, postgres: &str, sqlite: &str) -> Self {
        Migration {
            version,
            name: name.to_owned(),
            postgres: postgres.to_owned(),
            sqlite: sqlite.to_owned(),
        }
    }

    pub fn sql(&self, dialect: Dialect) -> &str {
        match dialect {
            Dialect::Postgres => &self.postgres,
            Dialect::Sqlite => &self.sqlite,
        }
    }
}

/// Migrations sorted by version; duplicate versions are a programming error
/// that would make "already applied" ambiguous, so they are rejected.
pub(crate) fn ordered(migrations: &[Migration]) -> Result<Vec<&Migration>> {
    let mut sorted: Vec<&Migration> = migrations.iter().collect();
    sorted.sort_by_key(|migration| migration.version);
    if let Some(pair) = sorted
        .windows(2)
        .find(|pair| pair[0].version == pair[1].version)
    {
        return Err(Error::invalid(
            "migrations",
            format!("version {} appears twice", pair[0].version),
        ));
    }
    Ok(sorted)
}
