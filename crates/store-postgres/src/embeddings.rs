//! The sentence-embedding cache (`embeddings`): content-addressed by `(model, text_sha256)` and not
//! tenant-scoped (see `researchops_core::embedding`).

use crate::rows::db_err;
use researchops_core::StoreError;
use researchops_core::embedding::{vector_from_bytes, vector_to_bytes};
use sqlx::PgPool;
use std::collections::HashMap;

/// Cached vectors for the listed hashes, in one statement.
pub(crate) async fn get(
    pool: &PgPool,
    model: &str,
    text_sha256: &[String],
) -> Result<HashMap<String, Vec<f32>>, StoreError> {
    if text_sha256.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i32, Vec<u8>)> = sqlx::query_as(
        "SELECT text_sha256, dim, vector FROM embeddings \
         WHERE model = $1 AND text_sha256 = ANY($2::text[])",
    )
    .bind(model)
    .bind(text_sha256)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut found = HashMap::with_capacity(rows.len());
    for (hash, dim, bytes) in rows {
        let dim = usize::try_from(dim)
            .map_err(|_| StoreError::Internal(format!("stored embedding has dim {dim}")))?;
        found.insert(hash, vector_from_bytes(&bytes, dim)?);
    }
    Ok(found)
}

/// Inserts the vectors not cached yet, in one statement (one transaction).
pub(crate) async fn put(
    pool: &PgPool,
    model: &str,
    vectors: &[(String, Vec<f32>)],
) -> Result<(), StoreError> {
    if vectors.is_empty() {
        return Ok(());
    }
    let hashes: Vec<&str> = vectors.iter().map(|(hash, _)| hash.as_str()).collect();
    let dims = vectors
        .iter()
        .map(|(_, v)| {
            i32::try_from(v.len())
                .map_err(|_| StoreError::Internal(format!("embedding of {} dimensions", v.len())))
        })
        .collect::<Result<Vec<i32>, _>>()?;
    let bytes: Vec<Vec<u8>> = vectors.iter().map(|(_, v)| vector_to_bytes(v)).collect();
    sqlx::query(
        "INSERT INTO embeddings (model, text_sha256, dim, vector) \
         SELECT $1, h, d, v FROM unnest($2::text[], $3::int4[], $4::bytea[]) AS t (h, d, v) \
         ON CONFLICT (model, text_sha256) DO NOTHING",
    )
    .bind(model)
    .bind(hashes)
    .bind(dims)
    .bind(bytes)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}
