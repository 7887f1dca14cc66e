//! PostgreSQL adapter: a deadpool pool of tokio-postgres connections.

use super::{Database, Dialect, Migration, Result, Row, Transaction, Value, ordered};
use crate::Error;
use async_trait::async_trait;
use bytes::BytesMut;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

const SERVICE: &str = "postgres";

#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// A libpq-style URL, e.g. `postgres://user:pass@host:5432/db`.
    pub url: String,
    pub max_connections: usize,
    /// Bounds both opening a connection and waiting for a free one.
    pub connect_timeout: Duration,
    /// When set, the schema is created if missing and every pooled
    /// connection starts with it as its search_path; tests use one per test.
    pub schema: Option<String>,
}

pub struct PostgresDatabase {
    pool: Pool,
    schema: Option<String>,
    /// For the LISTEN connections, which live outside the pool.
    config: tokio_postgres::Config,
}

impl PostgresDatabase {
    /// Builds the pool and opens one connection, so a wrong URL or an absent
    /// server fails here rather than on the first request.
    pub async fn connect(settings: &PostgresSettings) -> Result<Self> {
        let mut config: tokio_postgres::Config = settings
            .url
            .parse()
            .map_err(|error| Error::Config(format!("postgres URL: {error}")))?;
        config.connect_timeout(settings.connect_timeout);
        if let Some(schema) = &settings.schema {
            check_identifier(schema)?;
            config.options(format!("-c search_path={schema}"));
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.connect_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .build()
            .map_err(|error| Error::Config(format!("postgres pool: {error}")))?;
        let database = PostgresDatabase {
            pool,
            schema: settings.schema.clone(),
            config,
        };
        let client = database.client().await?;
        if let Some(schema) = &database.schema {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .await
                .map_err(map_error)?;
        }
        Ok(database)
    }

    /// Drops the settings' schema and everything in it; tests clean up with it.
    pub async fn drop_schema(&self) -> Result<()> {
        let Some(schema) = &self.schema else {
            return Err(Error::invalid(
                "schema",
                "this database was opened without a schema",
            ));
        };
        let client = self.client().await?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .map_err(map_error)
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(map_pool_error)
    }
}

#[async_trait]
impl Database for PostgresDatabase {
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        execute_on(&self.client().await?, sql, params).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        query_on(&self.client().await?, sql, params).await
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        let client = self.client().await?;
        client.batch_execute("BEGIN").await.map_err(map_error)?;
        Ok(Box::new(PostgresTransaction {
            client: Some(client),
        }))
    }

    async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<i64>> {
        let migrations = ordered(migrations)?;
        let client = self.client().await?;
        client.batch_execute("BEGIN").await.map_err(map_error)?;
        match apply_migrations(&client, &migrations).await {
            Ok(applied) => {
                client.batch_execute("COMMIT").await.map_err(map_error)?;
                Ok(applied)
            }
            Err(error) => {
                // The migration's own error matters more than a failed rollback,
                // and a broken connection is discarded by the pool anyway.
                let _ = client.batch_execute("ROLLBACK").await;
                Err(error)
            }
        }
    }

    async fn ping(&self) -> Result<()> {
        self.client()
            .await?
            .batch_execute("SELECT 1")
            .await
            .map_err(map_error)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn listen(&self, channel: &str, on_notify: super::Notify) -> bool {
        let (config, channel) = (self.config.clone(), channel.to_owned());
        tokio::spawn(async move {
            loop {
                if let Err(error) = listen_once(&config, &channel, &on_notify).await {
                    tracing::warn!(%error, %channel, "LISTEN connection lost; reconnecting");
                }
                // A listener that missed notifications while it was away
                // wakes everyone once, so nothing waits for the next one.
                on_notify("");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        true
    }
}

/// One LISTEN connection, until it fails.
async fn listen_once(config: &tokio_postgres::Config, channel: &str, on_notify: &super::Notify) -> Result<()> {
    check_identifier(channel)?;
    let (client, mut connection) = config.connect(NoTls).await.map_err(map_error)?;
    let (sender, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    // The connection yields notifications only while it is polled, and
    // the client's LISTEN needs it polled too.
    let driver = tokio::spawn(async move {
        loop {
            match futures::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(note))) => {
                    if sender.send(note.payload().to_owned()).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(map_error(error)),
                None => return Ok(()),
            }
        }
    });
    client.batch_execute(&format!("LISTEN \"{channel}\"")).await.map_err(map_error)?;
    while let Some(payload) = notifications.recv().await {
        on_notify(&payload);
    }
    drop(client);
    driver.await.map_err(|error| Error::Unavailable { service: SERVICE, message: error.to_string() })?
}

/// Runs inside one transaction holding a transaction-scoped advisory lock
/// keyed by schema, so concurrent runners (several cold-starting functions)
/// queue up and the later ones find everything applied. The lock is released
/// by COMMIT/ROLLBACK, even if this process dies.
async fn apply_migrations(client: &Object, migrations: &[&Migration]) -> Result<Vec<i64>> {
    client
        .batch_execute(
            "SELECT pg_advisory_xact_lock(hashtext('hive.schema_migrations:' || coalesce(current_schema(), '')));
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version BIGINT PRIMARY KEY,
                 name TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );",
        )
        .await
        .map_err(map_error)?;
    let done: HashSet<i64> = client
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(map_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut applied = Vec::new();
    for migration in migrations
        .iter()
        .filter(|migration| !done.contains(&migration.version))
    {
        client
            .batch_execute(&migration.postgres)
            .await
            .map_err(|error| Error::Backend {
                service: SERVICE,
                message: format!(
                    "migration {} ({}): {error}",
                    migration.version, migration.name
                ),
            })?;
        client
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await
            .map_err(map_error)?;
        applied.push(migration.version);
    }
    Ok(applied)
}

/// A transaction on one pooled connection, driven with plain BEGIN/COMMIT so
/// the handle owns its connection instead of borrowing it.
struct PostgresTransaction {
    client: Option<Object>,
}

impl PostgresTransaction {
    fn client(&self) -> Result<&Object> {
        self.client
            .as_ref()
            .ok_or_else(|| Error::invalid("transaction", "already finished"))
    }

    async fn finish(mut self: Box<Self>, statement: &str) -> Result<()> {
        let client = self
            .client
            .take()
            .ok_or_else(|| Error::invalid("transaction", "already finished"))?;
        match client.batch_execute(statement).await {
            Ok(()) => Ok(()),
            Err(error) => {
                // Unknown transaction state: never hand this connection back.
                drop(Object::take(client));
                Err(map_error(error))
            }
        }
    }
}

#[async_trait]
impl Transaction for PostgresTransaction {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        execute_on(self.client()?, sql, params).await
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        query_on(self.client()?, sql, params).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.finish("COMMIT").await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.finish("ROLLBACK").await
    }
}

impl Drop for PostgresTransaction {
    /// Drop cannot await a ROLLBACK, so an unfinished transaction's connection
    /// is detached from the pool and closed; the server then rolls it back.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

async fn execute_on(client: &Object, sql: &str, params: &[Value]) -> Result<u64> {
    let statement = client.prepare_cached(sql).await.map_err(map_error)?;
    let params = pg_params(params);
    client
        .execute(&statement, &param_refs(&params))
        .await
        .map_err(map_error)
}

async fn query_on(client: &Object, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let statement = client.prepare_cached(sql).await.map_err(map_error)?;
    let params = pg_params(params);
    let rows = client
        .query(&statement, &param_refs(&params))
        .await
        .map_err(map_error)?;
    let columns: Arc<[String]> = statement
        .columns()
        .iter()
        .map(|column| column.name().to_owned())
        .collect();
    rows.iter().map(|row| convert_row(row, &columns)).collect()
}

fn pg_params(params: &[Value]) -> Vec<PgValue<'_>> {
    params.iter().map(PgValue).collect()
}

fn param_refs<'a>(params: &'a [PgValue<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| param as &(dyn ToSql + Sync))
        .collect()
}

/// Encodes a [`Value`] as whatever type PostgreSQL inferred for the
/// parameter, so `Value::Int` binds to INT2/INT4/INT8 columns alike; a real
/// mismatch (text into an integer) still fails through `to_sql_checked`.
#[derive(Debug)]
struct PgValue<'a>(&'a Value);

type EncodeResult = std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>>;

impl ToSql for PgValue<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> EncodeResult {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Bool(value) => value.to_sql_checked(ty, out),
            Value::Int(value) => match *ty {
                Type::INT2 => i16::try_from(*value)?.to_sql_checked(ty, out),
                Type::INT4 => i32::try_from(*value)?.to_sql_checked(ty, out),
                Type::FLOAT4 => (*value as f32).to_sql_checked(ty, out),
                Type::FLOAT8 => (*value as f64).to_sql_checked(ty, out),
                _ => value.to_sql_checked(ty, out),
            },
            Value::Float(value) => match *ty {
                Type::FLOAT4 => (*value as f32).to_sql_checked(ty, out),
                _ => value.to_sql_checked(ty, out),
            },
            Value::Text(value) => match *ty {
                // SQLite keeps JSON as text, so callers may pass JSON as text.
                Type::JSON | Type::JSONB => {
                    serde_json::from_str::<serde_json::Value>(value)?.to_sql_checked(ty, out)
                }
                _ => value.as_str().to_sql_checked(ty, out),
            },
            Value::Json(value) => value.to_sql_checked(ty, out),
            Value::Bytes(value) => value.as_slice().to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn convert_row(row: &tokio_postgres::Row, columns: &Arc<[String]>) -> Result<Row> {
    let values = (0..row.len())
        .map(|index| column_value(row, index))
        .collect::<Result<Vec<_>>>()?;
    Ok(Row::new(columns.clone(), values))
}

fn column_value(row: &tokio_postgres::Row, index: usize) -> Result<Value> {
    let column = &row.columns()[index];
    let decode_error =
        |error: tokio_postgres::Error| Error::invalid(column.name(), error.to_string());
    let value = match *column.type_() {
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)
            .map(|v| v.map(Value::Bool)),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)
            .map(|v| v.map(|v| Value::Int(v.into()))),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)
            .map(|v| v.map(|v| Value::Int(v.into()))),
        Type::INT8 => row
            .try_get::<_, Option<i64>>(index)
            .map(|v| v.map(Value::Int)),
        Type::OID => row
            .try_get::<_, Option<u32>>(index)
            .map(|v| v.map(|v| Value::Int(v.into()))),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(index)
            .map(|v| v.map(|v| Value::Float(v.into()))),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(index)
            .map(|v| v.map(Value::Float)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => row
            .try_get::<_, Option<String>>(index)
            .map(|v| v.map(Value::Text)),
        Type::JSON | Type::JSONB => row
            .try_get::<_, Option<serde_json::Value>>(index)
            .map(|v| v.map(Value::Json)),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(index)
            .map(|v| v.map(Value::Bytes)),
        ref other => {
            return Err(Error::invalid(
                column.name(),
                format!("column type {other} has no Value; cast it in SQL (for example `::text`)"),
            ));
        }
    };
    Ok(value.map_err(decode_error)?.unwrap_or(Value::Null))
}

/// Schema names go into SQL text (SET/CREATE SCHEMA take no parameters), so
/// only plain identifiers are allowed; lowercase, because the search_path
/// option folds case while the quoted CREATE SCHEMA would not.
fn check_identifier(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(())
    } else {
        Err(Error::invalid(
            "schema",
            format!("{name:?} is not a plain identifier"),
        ))
    }
}

fn map_pool_error(error: PoolError) -> Error {
    match error {
        PoolError::Backend(error) => map_error(error),
        PoolError::Timeout(kind) => Error::Unavailable {
            service: SERVICE,
            message: format!("pool timed out ({kind:?})"),
        },
        other => Error::Unavailable {
            service: SERVICE,
            message: other.to_string(),
        },
    }
}

/// SQLSTATE decides retryability: serialization failures, deadlocks and
/// connection or resource trouble may pass on a retry; everything else the
/// server rejected will be rejected again.
pub(crate) fn map_error(error: tokio_postgres::Error) -> Error {
    let Some(db_error) = error.as_db_error() else {
        let client_side = error.to_string();
        // Encoding a parameter fails the same way every time; anything else
        // without a server error (I/O, closed connection) is transient.
        return if client_side.contains("serializing parameter") {
            Error::invalid(
                "parameter",
                format!("{client_side}: {:?}", std::error::Error::source(&error)),
            )
        } else {
            Error::Unavailable {
                service: SERVICE,
                message: client_side,
            }
        };
    };
    let code = db_error.code().code();
    let message = db_error.message().to_owned();
    match code {
        "23505" | "23P01" => Error::Conflict(message),
        "40001" | "40P01" => Error::Unavailable {
            service: SERVICE,
            message,
        },
        // A cancelled statement (statement_timeout or a cancel request) may
        // well pass on a less loaded server.
        "57014" => Error::Unavailable {
            service: SERVICE,
            message,
        },
        _ if code.starts_with("23") => Error::invalid("statement", message),
        _ if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") => {
            Error::Unavailable {
                service: SERVICE,
                message,
            }
        }
        _ => Error::Backend {
            service: SERVICE,
            message: format!("{message} (SQLSTATE {code})"),
        },
    }
}
