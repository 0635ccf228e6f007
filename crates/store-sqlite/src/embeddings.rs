//! The sentence-embedding cache (`embeddings`): content-addressed by `(model, text_sha256)` and not
//! tenant-scoped (see `researchops_core::embedding`).

use crate::SqliteStore;
use crate::rows::{self, db_err};
use researchops_core::StoreError;
use researchops_core::embedding::{vector_from_bytes, vector_to_bytes};
use sqlx::Row;
use std::collections::HashMap;

/// Cached vectors for the listed hashes, in one statement (the hashes travel as one JSON array).
pub(crate) async fn get(
    store: &SqliteStore,
    model: &str,
    text_sha256: &[String],
) -> Result<HashMap<String, Vec<f32>>, StoreError> {
    if text_sha256.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "SELECT e.text_sha256, e.dim, e.vector FROM json_each(?) AS w \
         JOIN embeddings e ON e.model = ? AND e.text_sha256 = w.value",
    )
    .bind(rows::to_json(&text_sha256)?)
    .bind(model)
    .fetch_all(&store.reader)
    .await
    .map_err(db_err)?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in &rows {
        let hash: String = row.try_get("text_sha256").map_err(db_err)?;
        let dim: i64 = row.try_get("dim").map_err(db_err)?;
        let bytes: Vec<u8> = row.try_get("vector").map_err(db_err)?;
        let dim = usize::try_from(dim)
            .map_err(|_| StoreError::Internal(format!("stored embedding has dim {dim}")))?;
        found.insert(hash, vector_from_bytes(&bytes, dim)?);
    }
    Ok(found)
}

/// Inserts the vectors not cached yet, in one write transaction.
pub(crate) async fn put(
    store: &SqliteStore,
    model: &str,
    vectors: &[(String, Vec<f32>)],
) -> Result<(), StoreError> {
    if vectors.is_empty() {
        return Ok(());
    }
    let now = rows::now_ms();
    let mut tx = store.write().await?;
    for (hash, vector) in vectors {
        sqlx::query(
            "INSERT INTO embeddings (model, text_sha256, dim, vector, created_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (model, text_sha256) DO NOTHING",
        )
        .bind(model)
        .bind(hash)
        .bind(vector.len() as i64)
        .bind(vector_to_bytes(vector))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}
