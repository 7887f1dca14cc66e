//! One contract for the database port, run against PostgreSQL and SQLite.

mod support;

use infra::Error;
use infra::db::{
    Database, Dialect, Migration, PostgresDatabase, PostgresSettings, SqliteDatabase, Value,
};
use std::sync::Arc;
use std::time::Duration;
use support::{Fixture, POSTGRES_URL, reachable, service_url, unique};

async fn postgres() -> Fixture<dyn Database> {
    let settings = PostgresSettings {
        url: service_url(POSTGRES_URL),
        max_connections: 4,
        connect_timeout: Duration::from_secs(3),
        schema: Some(unique("contract_")),
    };
    let database = Arc::new(reachable(
        PostgresDatabase::connect(&settings).await,
        "PostgreSQL",
        POSTGRES_URL,
    ));
    let cleanup = database.clone();
    Fixture::new(database as Arc<dyn Database>).with_cleanup(async move {
        cleanup.drop_schema().await.expect("drop the test schema");
    })
}

async fn sqlite() -> Fixture<dyn Database> {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = SqliteDatabase::open(dir.path().join("contract.db"))
        .await
        .expect("open SQLite");
    Fixture::new(Arc::new(database) as Arc<dyn Database>).with_temp_dir(dir)
}

contract_tests!(
    postgres,
    postgres,
    [
        values_round_trip,
        placeholders_bind_by_number,
        rerunning_migrations_is_a_no_op,
        concurrent_migrations_apply_once,
        failed_migration_is_not_recorded,
        committed_transaction_is_visible,
        failed_transaction_leaves_nothing,
        dropped_transaction_rolls_back,
        duplicate_key_is_a_conflict,
        ping_answers,
    ]
);
contract_tests!(
    sqlite,
    sqlite,
    [
        values_round_trip,
        placeholders_bind_by_number,
        rerunning_migrations_is_a_no_op,
        concurrent_migrations_apply_once,
        failed_migration_is_not_recorded,
        committed_transaction_is_visible,
        failed_transaction_leaves_nothing,
        dropped_transaction_rolls_back,
        duplicate_key_is_a_conflict,
        ping_answers,
    ]
);

mod checks {
    use super::*;

    fn migrations() -> Vec<Migration> {
        vec![
            Migration::per_dialect(
                1,
                "create items",
                // Deliberately no IF NOT EXISTS: applying it twice must fail,
                // so a double apply cannot hide.
                "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, price DOUBLE PRECISION,
                     active BOOLEAN, doc JSONB, data BYTEA, small INTEGER)",
                "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, price REAL,
                     active BOOLEAN, doc TEXT, data BLOB, small INTEGER)",
            ),
            Migration::portable(2, "index items by price", "CREATE INDEX items_price ON items (price)"),
        ]
    }

    async fn migrated(db: &dyn Database) {
        db.migrate(&migrations()).await.expect("migrate");
    }

    async fn count(db: &dyn Database) -> i64 {
        db.query("SELECT COUNT(*) AS n FROM items", &[])
            .await
            .expect("count")[0]
            .int("n")
            .expect("n")
    }

    async fn insert(db: &dyn Database, id: i64, name: &str) -> Result<u64, Error> {
        db.execute(
            "INSERT INTO items (id, name) VALUES ($1, $2)",
            &[id.into(), name.into()],
        )
        .await
    }

    pub async fn values_round_trip(db: Arc<dyn Database>) {
        migrated(&*db).await;
        let doc = serde_json::json!({"kind": "battery", "kwh": 13.5});
        let changed = db
            .execute(
                "INSERT INTO items (id, name, price, active, doc, data, small) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[7.into(), "cell".into(), 2.5.into(), true.into(), doc.clone().into(), vec![0u8, 255, 1].into(), 42.into()],
            )
            .await
            .expect("insert");
        assert_eq!(changed, 1);
        insert(&*db, 8, "empty").await.expect("insert with nulls");

        let rows = db
            .query("SELECT * FROM items ORDER BY id", &[])
            .await
            .expect("query");
        assert_eq!(rows.len(), 2);
        let full = &rows[0];
        assert_eq!(full.int("id").unwrap(), 7);
        assert_eq!(full.text("name").unwrap(), "cell");
        assert_eq!(full.float("price").unwrap(), 2.5);
        assert!(full.bool("active").unwrap());
        assert_eq!(full.json("doc").unwrap(), doc);
        assert_eq!(full.bytes("data").unwrap(), &[0u8, 255, 1]);
        assert_eq!(full.int("small").unwrap(), 42);
        let empty = &rows[1];
        for column in ["price", "active", "doc", "data", "small"] {
            assert!(empty.is_null(column).unwrap(), "{column} should be NULL");
        }
        assert_eq!(
            empty.optional("price", |row, c| row.float(c)).unwrap(),
            None
        );
        assert!(matches!(full.get("missing"), Err(Error::Invalid { .. })));

        let updated = db
            .execute(
                "UPDATE items SET price = $1 WHERE id = $2",
                &[Value::Null, 7.into()],
            )
            .await
            .expect("update");
        assert_eq!(updated, 1);

        // Portable code passes JSON as text (SQLite's JSON type) and whole
        // numbers into float columns; both backends accept that.
        db.execute(
            "UPDATE items SET doc = $1, price = $2 WHERE id = $3",
            &[r#"{"a":1}"#.into(), 3.into(), 8.into()],
        )
        .await
        .expect("update with text JSON and an integer price");
        let row = &db
            .query("SELECT doc, price FROM items WHERE id = $1", &[8.into()])
            .await
            .unwrap()[0];
        assert_eq!(row.json("doc").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(row.float("price").unwrap(), 3.0);
    }

    pub async fn placeholders_bind_by_number(db: Arc<dyn Database>) {
        migrated(&*db).await;
        insert(&*db, 1, "one").await.unwrap();
        insert(&*db, 2, "two").await.unwrap();
        // $2 appears before $1, and a literal '$1' must stay a literal.
        let rows = db
            .query(
                "SELECT id, '$1' AS literal FROM items WHERE id = $2 AND name <> $1",
                &["one".into(), 2.into()],
            )
            .await
            .expect("query");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].int("id").unwrap(), 2);
        assert_eq!(rows[0].text("literal").unwrap(), "$1");
    }

    pub async fn rerunning_migrations_is_a_no_op(db: Arc<dyn Database>) {
        assert_eq!(
            db.migrate(&migrations()).await.expect("first run"),
            vec![1, 2]
        );
        assert_eq!(
            db.migrate(&migrations()).await.expect("rerun"),
            Vec::<i64>::new()
        );
        let mut more = migrations();
        more.push(Migration::portable(
            3,
            "add notes",
            "ALTER TABLE items ADD COLUMN note TEXT",
        ));
        assert_eq!(db.migrate(&more).await.expect("new migration"), vec![3]);
        let recorded = db
            .query(
                "SELECT version, name FROM schema_migrations ORDER BY version",
                &[],
            )
            .await
            .unwrap();
        let versions: Vec<i64> = recorded
            .iter()
            .map(|row| row.int("version").unwrap())
            .collect();
        assert_eq!(versions, vec![1, 2, 3]);
        assert_eq!(recorded[2].text("name").unwrap(), "add notes");
    }

    pub async fn concurrent_migrations_apply_once(db: Arc<dyn Database>) {
        let runners: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { db.migrate(&migrations()).await })
            })
            .collect();
        let mut applied = Vec::new();
        for runner in runners {
            applied.extend(
                runner
                    .await
                    .unwrap()
                    .expect("every concurrent runner succeeds"),
            );
        }
        applied.sort();
        assert_eq!(
            applied,
            vec![1, 2],
            "each migration is applied by exactly one runner"
        );
    }

    pub async fn failed_migration_is_not_recorded(db: Arc<dyn Database>) {
        migrated(&*db).await;
        let mut broken = migrations();
        broken.push(Migration::portable(
            3,
            "broken",
            "ALTER TABLE no_such_table ADD COLUMN x TEXT",
        ));
        let error = db
            .migrate(&broken)
            .await
            .expect_err("a broken migration fails");
        assert!(!error.is_retryable(), "{error}");
        let versions = db
            .query("SELECT version FROM schema_migrations", &[])
            .await
            .unwrap();
        assert_eq!(versions.len(), 2, "the broken migration is not recorded");
        let mut fixed = migrations();
        fixed.push(Migration::portable(
            3,
            "fixed",
            "ALTER TABLE items ADD COLUMN note TEXT",
        ));
        assert_eq!(db.migrate(&fixed).await.unwrap(), vec![3]);
    }

    pub async fn committed_transaction_is_visible(db: Arc<dyn Database>) {
        migrated(&*db).await;
        let mut tx = db.begin().await.expect("begin");
        tx.execute(
            "INSERT INTO items (id, name) VALUES ($1, $2)",
            &[1.into(), "a".into()],
        )
        .await
        .unwrap();
        tx.execute(
            "INSERT INTO items (id, name) VALUES ($1, $2)",
            &[2.into(), "b".into()],
        )
        .await
        .unwrap();
        let inside = tx
            .query("SELECT COUNT(*) AS n FROM items", &[])
            .await
            .unwrap();
        assert_eq!(
            inside[0].int("n").unwrap(),
            2,
            "a transaction sees its own writes"
        );
        tx.commit().await.expect("commit");
        assert_eq!(count(&*db).await, 2);
    }

    pub async fn failed_transaction_leaves_nothing(db: Arc<dyn Database>) {
        migrated(&*db).await;
        let mut tx = db.begin().await.expect("begin");
        tx.execute(
            "INSERT INTO items (id, name) VALUES ($1, $2)",
            &[1.into(), "a".into()],
        )
        .await
        .unwrap();
        let duplicate = tx
            .execute(
                "INSERT INTO items (id, name) VALUES ($1, $2)",
                &[1.into(), "b".into()],
            )
            .await;
        assert!(
            matches!(duplicate, Err(Error::Conflict(_))),
            "{duplicate:?}"
        );
        tx.rollback().await.expect("rollback");
        assert_eq!(count(&*db).await, 0, "the first insert was rolled back too");
        // The connection is usable again afterwards.
        insert(&*db, 3, "c").await.expect("insert after rollback");
        assert_eq!(count(&*db).await, 1);
    }

    pub async fn dropped_transaction_rolls_back(db: Arc<dyn Database>) {
        migrated(&*db).await;
        {
            let mut tx = db.begin().await.expect("begin");
            tx.execute(
                "INSERT INTO items (id, name) VALUES ($1, $2)",
                &[1.into(), "a".into()],
            )
            .await
            .unwrap();
            // Dropped here without commit, as when a handler returns early with `?`.
        }
        assert_eq!(count(&*db).await, 0);
        insert(&*db, 2, "b")
            .await
            .expect("the database is usable after a dropped transaction");
    }

    pub async fn duplicate_key_is_a_conflict(db: Arc<dyn Database>) {
        migrated(&*db).await;
        insert(&*db, 1, "a").await.unwrap();
        let error = insert(&*db, 2, "a").await.expect_err("unique name");
        assert!(matches!(error, Error::Conflict(_)), "{error:?}");
        assert!(!error.is_retryable());
        let bad_sql = db
            .query("SELEC nonsense", &[])
            .await
            .expect_err("syntax error");
        assert!(!bad_sql.is_retryable(), "{bad_sql:?}");
    }

    pub async fn ping_answers(db: Arc<dyn Database>) {
        db.ping().await.expect("ping");
        assert!(matches!(db.dialect(), Dialect::Postgres | Dialect::Sqlite));
    }
}
