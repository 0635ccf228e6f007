//! Test support for the PostgreSQL backend: a fresh database per test on the server named by
//! `RESEARCHOPS_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped when its
//! guard is dropped. When the server cannot be reached, tests fail: leave them out explicitly instead
//! (`RESEARCHOPS_TEST_POSTGRES=skip scripts/test.sh`).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use researchops_store_postgres::{PgOptions, PgStore};
use sqlx::{Connection, Executor, PgConnection};
use std::time::Duration;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin URL of the test server.
pub fn admin_url() -> String {
    std::env::var("RESEARCHOPS_TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_string())
}

/// `url` with its database path replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// `url` without user-info (what may be printed).
fn without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{host}")
}

async fn admin_connection() -> Result<PgConnection, String> {
    let url = admin_url();
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out after 10 s".into()),
    }
}

/// A database created for one test; dropped (best effort) with the guard.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    name: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside the test's runtime: do the async work on a thread with its own.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = admin_connection().await {
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// Creates an empty database. Panics with a clear message when the server is unreachable: a
/// PostgreSQL test that did not run must never count as passed. To run the suite without PostgreSQL,
/// leave these tests out explicitly (`RESEARCHOPS_TEST_POSTGRES=skip scripts/test.sh`, which filters
/// them out so the runner reports them as skipped).
pub async fn fresh_database() -> TestDatabase {
    let mut admin = match admin_connection().await {
        Ok(conn) => conn,
        Err(e) => {
            let url = without_credentials(&admin_url());
            panic!(
                "PostgreSQL is not reachable at {url} ({e}). Start it \
                 (pg_ctlcluster <version> main start), point RESEARCHOPS_TEST_PG_URL at a server, \
                 or leave the PostgreSQL tests out with RESEARCHOPS_TEST_POSTGRES=skip scripts/test.sh."
            );
        }
    };
    let name = format!("ro_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await
        .expect("create the test database");
    let _ = admin.close().await;
    TestDatabase {
        url: with_database(&admin_url(), &name),
        name,
    }
}

/// A connected, migrated store over a fresh database (see [`fresh_database`]).
pub async fn fresh_store(options: PgOptions) -> (PgStore, TestDatabase) {
    let db = fresh_database().await;
    let store = PgStore::connect(&db.url, options)
        .await
        .expect("connect to the test database");
    (store, db)
}

#[test]
fn the_database_is_swapped_in_the_url() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5432/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
