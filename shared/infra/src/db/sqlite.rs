//! Embedded SQLite adapter: one connection behind an async mutex, every call
//! run on tokio's blocking pool so SQLite's file I/O never stalls the runtime.

use super::{Database, Dialect, Migration, Result, Row, Transaction, Value, ordered};
use crate::Error;
use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, params_from_iter, types::ValueRef};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

const SERVICE: &str = "sqlite";

pub struct SqliteDatabase {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteDatabase {
    /// Opens (or creates) the database file, with WAL so readers in other
    /// processes (the `hive` CLI) are not blocked by this one's writes.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let connection = tokio::task::spawn_blocking(move || -> Result<Connection> {
            if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|error| Error::Unavailable {
                    service: SERVICE,
                    message: format!("creating {}: {error}", parent.display()),
                })?;
            }
            let connection = Connection::open(&path).map_err(map_error)?;
            connection
                .execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                .map_err(map_error)?;
            Ok(connection)
        })
        .await
        .map_err(join_error)??;
        Ok(SqliteDatabase {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    async fn with_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let guard = self.connection.clone().lock_owned().await;
        let (_, result) = run_blocking(guard, work).await?;
        result
    }
}

/// Runs `work` on the blocking pool with the locked connection and hands the
/// guard back. A transaction left open by a cancelled caller is rolled back
/// first, so one abandoned future cannot wedge the only connection.
async fn run_blocking<T: Send + 'static>(
    mut guard: OwnedMutexGuard<Connection>,
    work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
) -> Result<(OwnedMutexGuard<Connection>, Result<T>)> {
    tokio::task::spawn_blocking(move || {
        let result = work(&mut guard);
        (guard, result)
    })
    .await
    .map_err(join_error)
}

fn heal(connection: &mut Connection) -> Result<()> {
    if !connection.is_autocommit() {
        connection.execute_batch("ROLLBACK").map_err(map_error)?;
    }
    Ok(())
}

#[async_trait]
impl Database for SqliteDatabase {
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let (sql, params) = (sql.to_owned(), params.to_vec());
        self.with_connection(move |connection| {
            heal(connection)?;
            execute_on(connection, &sql, &params)
        })
        .await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let (sql, params) = (sql.to_owned(), params.to_vec());
        self.with_connection(move |connection| {
            heal(connection)?;
            query_on(connection, &sql, &params)
        })
        .await
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        let guard = self.connection.clone().lock_owned().await;
        // IMMEDIATE takes the write lock now, so a transaction never fails
        // half-way with SQLITE_BUSY when it first writes.
        let (guard, result) = run_blocking(guard, |connection| {
            heal(connection)?;
            connection
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(map_error)
        })
        .await?;
        result?;
        Ok(Box::new(SqliteTransaction { guard: Some(guard) }))
    }

    async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<i64>> {
        let migrations: Vec<Migration> = ordered(migrations)?.into_iter().cloned().collect();
        self.with_connection(move |connection| {
            heal(connection)?;
            let transaction = connection.transaction().map_err(map_error)?;
            let applied = apply_migrations(&transaction, &migrations)?;
            transaction.commit().map_err(map_error)?;
            Ok(applied)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.with_connection(|connection| {
            connection
                .query_row("SELECT 1", [], |_| Ok(()))
                .map_err(map_error)
        })
        .await
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

/// The caller holds the only connection, so no other runner can interleave.
fn apply_migrations(connection: &Connection, migrations: &[Migration]) -> Result<Vec<i64>> {
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
             );",
        )
        .map_err(map_error)?;
    let done: HashSet<i64> = connection
        .prepare("SELECT version FROM schema_migrations")
        .and_then(|mut statement| statement.query_map([], |row| row.get(0))?.collect())
        .map_err(map_error)?;
    let mut applied = Vec::new();
    for migration in migrations
        .iter()
        .filter(|migration| !done.contains(&migration.version))
    {
        connection
            .execute_batch(&migration.sqlite)
            .map_err(|error| Error::Backend {
                service: SERVICE,
                message: format!(
                    "migration {} ({}): {error}",
                    migration.version, migration.name
                ),
            })?;
        connection
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                rusqlite::params![migration.version, migration.name],
            )
            .map_err(map_error)?;
        applied.push(migration.version);
    }
    Ok(applied)
}

/// Holds the connection's lock for its whole life: SQLite has one writer
/// anyway, and this keeps other callers' statements out of the transaction.
struct SqliteTransaction {
    guard: Option<OwnedMutexGuard<Connection>>,
}

impl SqliteTransaction {
    async fn run<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let guard = self
            .guard
            .take()
            .ok_or_else(|| Error::invalid("transaction", "already finished"))?;
        let (guard, result) = run_blocking(guard, work).await?;
        self.guard = Some(guard);
        result
    }

    async fn finish(mut self: Box<Self>, statement: &'static str) -> Result<()> {
        self.run(move |connection| connection.execute_batch(statement).map_err(map_error))
            .await?;
        self.guard = None;
        Ok(())
    }
}

#[async_trait]
impl Transaction for SqliteTransaction {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let (sql, params) = (sql.to_owned(), params.to_vec());
        self.run(move |connection| execute_on(connection, &sql, &params))
            .await
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let (sql, params) = (sql.to_owned(), params.to_vec());
        self.run(move |connection| query_on(connection, &sql, &params))
            .await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.finish("COMMIT").await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.finish("ROLLBACK").await
    }
}

impl Drop for SqliteTransaction {
    /// A local ROLLBACK is quick, so it runs right here rather than leaving
    /// the write lock held until the next caller heals the connection.
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take()
            && !guard.is_autocommit()
        {
            let _ = guard.execute_batch("ROLLBACK");
        }
    }
}

fn execute_on(connection: &Connection, sql: &str, params: &[Value]) -> Result<u64> {
    let mut statement = connection
        .prepare(&numbered_placeholders(sql))
        .map_err(map_error)?;
    let changed = statement
        .execute(params_from_iter(params.iter().map(to_sqlite)))
        .map_err(map_error)?;
    Ok(changed as u64)
}

fn query_on(connection: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let mut statement = connection
        .prepare(&numbered_placeholders(sql))
        .map_err(map_error)?;
    let columns: Arc<[String]> = statement.column_names().map(str::to_owned).collect();
    let mut rows = statement
        .query(params_from_iter(params.iter().map(to_sqlite)))
        .map_err(map_error)?;
    let mut result = Vec::new();
    while let Some(row) = rows.next().map_err(map_error)? {
        let values = (0..columns.len())
            .map(|index| row.get_ref(index).map(from_sqlite).map_err(map_error))
            .collect::<Result<Vec<_>>>()?;
        result.push(Row::new(columns.clone(), values));
    }
    Ok(result)
}

/// SQLite reads `$1` as a *named* parameter numbered by first appearance, so
/// `$2 … $1` would bind backwards; `?2 … ?1` binds by the number written.
/// Quoted strings and identifiers are copied untouched.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(open) => {
                if c == open {
                    quote = None;
                }
                out.push(c);
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
            None => out.push(c),
        }
    }
    out
}

fn to_sqlite(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match value {
        Value::Null => Sql::Null,
        Value::Bool(value) => Sql::Integer(i64::from(*value)),
        Value::Int(value) => Sql::Integer(*value),
        Value::Float(value) => Sql::Real(*value),
        Value::Text(value) => Sql::Text(value.clone()),
        Value::Json(value) => Sql::Text(value.to_string()),
        Value::Bytes(value) => Sql::Blob(value.clone()),
    }
}

fn from_sqlite(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(value) => Value::Int(value),
        ValueRef::Real(value) => Value::Float(value),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

fn map_error(error: rusqlite::Error) -> Error {
    match &error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.clone().unwrap_or_else(|| failure.to_string());
            match failure.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::Unavailable {
                    service: SERVICE,
                    message,
                },
                ErrorCode::ConstraintViolation
                    if matches!(
                        failure.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
                {
                    Error::Conflict(message)
                }
                ErrorCode::ConstraintViolation => Error::invalid("statement", message),
                _ => Error::Backend {
                    service: SERVICE,
                    message,
                },
            }
        }
        _ => Error::Backend {
            service: SERVICE,
            message: error.to_string(),
        },
    }
}

fn join_error(error: tokio::task::JoinError) -> Error {
    Error::Backend {
        service: SERVICE,
        message: format!("blocking task failed: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::numbered_placeholders;

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT $2, '$1', \"$3\" WHERE a = $10"),
            "SELECT ?2, '$1', \"$3\" WHERE a = ?10"
        );
    }
}
