//! `core::transfer::TABLES` names every table and column of the migrated PostgreSQL schema, so
//! `admin copy-store` cannot silently drop a column a migration added (as `jobs.lane` was). The
//! SQLite store has the same test against its own schema. Generated columns (the projects' activity
//! key) are computed by the target database, so they are not part of the spec; tables in
//! `NOT_COPIED` (rebuildable caches) are left out, by name.

mod support;

use researchops_core::transfer::{NOT_COPIED, TABLES};
use researchops_store_postgres::PgOptions;
use std::collections::BTreeSet;

#[tokio::test]
async fn the_transfer_spec_lists_every_table_and_column_of_the_schema() {
    let (store, db) = support::fresh_store(PgOptions::default()).await;
    store.close().await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations' ORDER BY table_name",
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
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 \
             AND is_generated = 'NEVER'",
        )
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
