//! The store conformance suite on PostgreSQL, each test on a fresh database.

mod support;

use researchops_store_postgres::PgOptions;
use researchops_testkit::StoreUnderTest;
use std::sync::Arc;

async fn fresh_store() -> StoreUnderTest {
    let Some((store, db)) = support::fresh_store(PgOptions::default()).await else {
        // The suite's macro cannot skip a test, so an unreachable server (outside CI; in CI
        // `fresh_store` has already failed the test) ends this test binary successfully. Under
        // nextest that skips just this test; under `cargo test` the whole binary, every test of
        // which needs the server.
        std::process::exit(0);
    };
    StoreUnderTest {
        store: Arc::new(store),
        guard: Box::new(db),
    }
}

researchops_testkit::store_conformance_tests!(fresh_store);
