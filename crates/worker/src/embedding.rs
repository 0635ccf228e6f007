//! [`CachedEmbedder`]: the [`Embedder`] port over a loaded sentence model and the store's embedding
//! cache. Vectors are looked up by `(model id, sha256 of the text)`; only texts never seen before are
//! computed, in batches on a blocking thread, and cached for every later run (of any tenant: a
//! vector is a pure function of the text, see [`researchops_core::embedding`]).

use async_trait::async_trait;
use researchops_core::{EmbedError, Embedder, Store};
use researchops_search::embed::{Embedder as Model, text_sha256};
use std::collections::HashSet;
use std::sync::Arc;

/// A sentence model behind the store's content-addressed cache.
pub struct CachedEmbedder {
    model: Arc<Model>,
    store: Arc<dyn Store>,
}

impl CachedEmbedder {
    /// Caches `model`'s vectors in `store`.
    pub fn new(model: Arc<Model>, store: Arc<dyn Store>) -> Self {
        Self { model, store }
    }
}

impl std::fmt::Debug for CachedEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedEmbedder")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Embedder for CachedEmbedder {
    fn model_id(&self) -> &str {
        self.model.model_id()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let hashes: Vec<String> = texts.iter().map(|t| text_sha256(t)).collect();
        let mut unique: Vec<String> = hashes.clone();
        unique.sort_unstable();
        unique.dedup();
        let model_id = self.model.model_id().to_owned();
        let mut vectors = self.store.embeddings_get(&model_id, &unique).await?;
        let mut missing: Vec<(String, String)> = Vec::new();
        let mut queued = HashSet::new();
        for (hash, text) in hashes.iter().zip(texts) {
            if !vectors.contains_key(hash) && queued.insert(hash.as_str()) {
                missing.push((hash.clone(), text.clone()));
            }
        }
        if !missing.is_empty() {
            let model = self.model.clone();
            let texts: Vec<String> = missing.iter().map(|(_, t)| t.clone()).collect();
            let computed = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                model.embed(&refs)
            })
            .await
            .map_err(|e| EmbedError::Model(format!("the embedding task failed: {e}")))?
            .map_err(|e| EmbedError::Model(e.to_string()))?;
            let fresh: Vec<(String, Vec<f32>)> = missing
                .into_iter()
                .map(|(hash, _)| hash)
                .zip(computed)
                .collect();
            self.store.embeddings_put(&model_id, &fresh).await?;
            vectors.extend(fresh);
        }
        hashes
            .iter()
            .map(|h| {
                vectors
                    .get(h)
                    .cloned()
                    .ok_or_else(|| EmbedError::Model(format!("no vector came back for text {h}")))
            })
            .collect()
    }
}
