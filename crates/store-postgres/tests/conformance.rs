//! The store conformance suite on PostgreSQL, each test on a fresh database.

mod support;

use researchops_store_postgres::PgOptions;
use researchops_testkit::StoreUnderTest;
use std::sync::Arc;

async fn fresh_store() -> StoreUnderTest {
    let (store, db) = support::fresh_store(PgOptions::default()).await;
    StoreUnderTest {
        store: Arc::new(store),
        guard: Box::new(db),
    }
}

researchops_testkit::store_conformance_tests!(fresh_store);
