//! Migrations applied to a database holding rows of the schema before them.

#![expect(clippy::unwrap_used, reason = "tests")]

use sqlx::{Connection, Row, SqliteConnection};

#[tokio::test]
async fn snapshots_taken_before_0003_get_their_bytes_as_their_text_blob() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(include_str!("../migrations/0001_spine.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    // Only the snapshot row matters here; its parents are not needed for the backfill.
    sqlx::raw_sql(
        "PRAGMA foreign_keys = OFF; \
         INSERT INTO snapshots (id, tenant_id, source_id, sha256, size_bytes, mime_type, retrieved_at) \
         VALUES ('s1', 't', 'src', 'ab', 42, 'text/plain; charset=utf-8', 0);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::raw_sql(include_str!("../migrations/0003_snapshot_text.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    let row = sqlx::query("SELECT text_sha256, text_size_bytes FROM snapshots WHERE id = 's1'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("text_sha256"), "ab");
    assert_eq!(row.get::<i64, _>("text_size_bytes"), 42);
}
