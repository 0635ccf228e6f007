//! `core::transfer::TABLES` names every table and column of the migrated schema, so `admin
//! copy-store` cannot silently drop a column a migration added (as `jobs.lane` was); only the caches
//! in `NOT_COPIED` are left out, by name.

use researchops_core::transfer::{NOT_COPIED, TABLES};
use researchops_store_sqlite::{Durability, SqliteStore};
use std::collections::BTreeSet;

#[tokio::test]
async fn the_transfer_spec_lists_every_table_and_column_of_the_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    let store = SqliteStore::open(&path, Durability::Normal)
        .await
        .expect("open");
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let specified: BTreeSet<&str> = TABLES
        .iter()
        .map(|t| t.name)
        .chain(NOT_COPIED.iter().copied())
        .collect();
    assert_eq!(
        tables.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        specified
    );
    for table in TABLES {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                .bind(table.name)
                .fetch_all(&pool)
                .await
                .expect("columns");
        let spec: BTreeSet<&str> = table.columns.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            columns.iter().map(String::as_str).collect::<BTreeSet<_>>(),
            spec,
            "columns of {}",
            table.name
        );
    }
    pool.close().await;
}
