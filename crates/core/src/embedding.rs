//! The [`Embedder`] port (sentence vectors for the pipeline's relevance decisions) and the embedding
//! cache's byte encoding, shared by both store backends.
//!
//! A sentence vector is a pure function of the model and the text, like a content-addressed blob:
//! cached vectors are keyed by `(model id, sha256 of the text)` and belong to no tenant. Two tenants
//! embedding the same text share one row, which reveals nothing: the key is derived from the
//! content itself and only a caller that already holds the text can ask for it.

use crate::error::StoreError;
use async_trait::async_trait;

/// Sentence vectors for texts, one model for every call. Implementations cache by content (the
/// worker's caches in the store) and compute off the async runtime; without a model configured there
/// is no `Embedder` and the pipeline works lexically.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Identifies the model and its weights (the cache key; recorded in the run's outputs).
    fn model_id(&self) -> &str;
    /// One unit-length vector per text, in order; the same text always gives the same vector.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Why vectors could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The cache could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model failed on the input.
    #[error("embedding model failed: {0}")]
    Model(String),
}

/// A vector as stored: `dim` little-endian `f32` values, back to back.
pub fn vector_to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes [`vector_to_bytes`]' output; a length that is not `dim` floats is corrupt data.
pub fn vector_from_bytes(bytes: &[u8], dim: usize) -> Result<Vec<f32>, StoreError> {
    if bytes.len() != dim * 4 {
        return Err(StoreError::Internal(format!(
            "stored embedding has {} bytes for {dim} dimensions",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_their_bytes() {
        let v = vec![0.0, -1.5, f32::MIN_POSITIVE, 3.25e7];
        let bytes = vector_to_bytes(&v);
        assert_eq!(bytes.len(), 16);
        assert_eq!(&bytes[4..8], &(-1.5f32).to_le_bytes());
        assert_eq!(vector_from_bytes(&bytes, 4).ok(), Some(v));
        assert!(vector_from_bytes(&bytes, 3).is_err());
    }
}
