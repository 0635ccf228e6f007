//! The sentence-embedding cache: content-addressed, shared across tenants, first write wins.

use researchops_core::Store;
use std::sync::Arc;

fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

pub async fn embeddings_are_cached_by_model_and_text_hash(store: Arc<dyn Store>) {
    let model = "all-minilm-l6-v2@0123456789abcdef";
    assert!(
        store
            .embeddings_get(model, &[hash(1)])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.embeddings_get(model, &[]).await.unwrap().is_empty());
    store.embeddings_put(model, &[]).await.unwrap();

    let first = vec![0.25, -1.0, f32::MIN_POSITIVE, 3.5e-8];
    let second = vec![1.0, 0.0, 0.0, -0.0];
    store
        .embeddings_put(
            model,
            &[(hash(1), first.clone()), (hash(2), second.clone())],
        )
        .await
        .unwrap();

    // Values come back bit for bit; unknown hashes are absent; repeated hashes are harmless.
    let found = store
        .embeddings_get(model, &[hash(2), hash(1), hash(3), hash(1)])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&hash(1)], first);
    assert_eq!(
        found[&hash(2)]
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>(),
        second.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );

    // Another model is another key space.
    let other = "tiny-bert@fedcba9876543210";
    assert!(
        store
            .embeddings_get(other, &[hash(1)])
            .await
            .unwrap()
            .is_empty()
    );
    store
        .embeddings_put(other, &[(hash(1), vec![9.0; 3])])
        .await
        .unwrap();
    assert_eq!(
        store.embeddings_get(other, &[hash(1)]).await.unwrap()[&hash(1)],
        vec![9.0; 3]
    );

    // Content-addressed: the first vector stays; a repeat in one call and an empty vector are fine.
    store
        .embeddings_put(
            model,
            &[
                (hash(1), vec![7.0; 4]),
                (hash(4), Vec::new()),
                (hash(4), Vec::new()),
            ],
        )
        .await
        .unwrap();
    let found = store
        .embeddings_get(model, &[hash(1), hash(4)])
        .await
        .unwrap();
    assert_eq!(found[&hash(1)], first);
    assert_eq!(found[&hash(4)], Vec::<f32>::new());

    // Many keys at once (a corpus-sized batch) in one call each way.
    let many: Vec<(String, Vec<f32>)> = (0..1000u32)
        .map(|i| (format!("{i:064x}"), vec![i as f32; 8]))
        .collect();
    store.embeddings_put(model, &many).await.unwrap();
    let keys: Vec<String> = many.iter().map(|(k, _)| k.clone()).collect();
    let found = store.embeddings_get(model, &keys).await.unwrap();
    assert_eq!(found.len(), 1000);
    assert_eq!(found[&format!("{:064x}", 999)], vec![999.0; 8]);
}
