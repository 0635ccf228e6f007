//! The store conformance suite on SQLite, each test on a fresh database file.

use researchops_store_sqlite::{Durability, SqliteStore};
use researchops_testkit::StoreUnderTest;
use std::sync::Arc;

async fn fresh_store() -> StoreUnderTest {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("test.db"), Durability::Normal)
        .await
        .expect("open store");
    StoreUnderTest {
        store: Arc::new(store),
        guard: Box::new(dir),
    }
}

researchops_testkit::store_conformance_tests!(fresh_store);

#[tokio::test]
async fn a_database_from_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    let store = SqliteStore::open(&path, Durability::Normal)
        .await
        .expect("open");
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99999, 'future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .expect("insert");
    pool.close().await;
    let err = SqliteStore::open(&path, Durability::Normal)
        .await
        .expect_err("must refuse");
    assert!(err.to_string().contains("newer"), "{err}");
}
