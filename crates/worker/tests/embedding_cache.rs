//! `CachedEmbedder`: vectors come from the store's cache when it has them and are computed (then
//! cached) when it does not. Runs the real all-MiniLM-L6-v2 (`scripts/fetch-model.sh`); fails without
//! it unless `RESEARCHOPS_TEST_EMBED=skip` (then `scripts/test.sh` leaves it out).

#![expect(clippy::unwrap_used, reason = "tests")]

use researchops_core::{Embedder as _, Store};
use researchops_search::embed::{Embedder as Model, text_sha256};
use researchops_store_sqlite::{Durability, SqliteStore};
use researchops_worker::CachedEmbedder;
use std::path::Path;
use std::sync::Arc;

#[tokio::test]
async fn minilm_cached_embedder_computes_once_and_reads_back_from_the_store() {
    let dir = std::env::var("RESEARCHOPS_TEST_MODEL_DIR").unwrap_or_default();
    assert!(
        !dir.is_empty(),
        "RESEARCHOPS_TEST_MODEL_DIR is not set: run scripts/test.sh, or export it as the directory \
         scripts/fetch-model.sh prints (or set RESEARCHOPS_TEST_EMBED=skip to leave the real-model \
         tests out)"
    );
    let model = Arc::new(Model::load(Path::new(&dir)).unwrap());
    let model_id = model.model_id().to_owned();
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&data.path().join("db"), Durability::Normal)
            .await
            .unwrap(),
    );
    let embedder = CachedEmbedder::new(model.clone(), store.clone());
    assert_eq!(embedder.model_id(), model_id);

    let texts = [
        "Vitamin D raised bone density.",
        "Stroke risk fell.",
        "Vitamin D raised bone density.",
    ]
    .map(String::from);
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), 3);
    assert_eq!(vectors[0], vectors[2]);
    assert_eq!(vectors[0].len(), 384);
    assert_eq!(vectors[0], model.embed(&[texts[0].as_str()]).unwrap()[0]);
    // Both distinct texts are cached, under the model's id and the text's hash.
    let keys = vec![text_sha256(&texts[0]), text_sha256(&texts[1])];
    let cached = store.embeddings_get(&model_id, &keys).await.unwrap();
    assert_eq!(cached.len(), 2);
    assert_eq!(cached[&keys[1]], vectors[1]);

    // A cached vector is served as stored, not recomputed.
    let planted = vec![0.5f32; 384];
    let text = "A text whose vector was planted in the cache.".to_string();
    store
        .embeddings_put(&model_id, &[(text_sha256(&text), planted.clone())])
        .await
        .unwrap();
    let served = embedder
        .embed(&[text.clone(), texts[1].clone()])
        .await
        .unwrap();
    assert_eq!(served[0], planted);
    assert_eq!(served[1], vectors[1]);
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
}
