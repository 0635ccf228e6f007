//! The embedder on a tiny random BERT built here (a few KB), and on the real all-MiniLM-L6-v2 when
//! `RESEARCHOPS_EMBED_MODEL_DIR` names it.

#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;
use candle_core::Tensor;
use std::collections::HashMap;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;

const WORDS: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "man", "is", "eating", "food", "the", "girl",
    "carrying", "baby", "piece", "of", "bread", ".", "##s", "dog", "runs", "fast",
];
const HIDDEN: usize = 16;
const INTERMEDIATE: usize = 32;
const LAYERS: usize = 2;
const MAX_POSITIONS: usize = 64;

/// Deterministic pseudo-random numbers in [-0.5, 0.5) (a 64-bit LCG), so every run builds the
/// same model.
struct Lcg(u64);

impl Lcg {
    fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }
}

/// Writes `config.json`, `model.safetensors` and `tokenizer.json` of a tiny random BERT. The
/// tokenizer pads to a fixed 40 tokens, as the packaged MiniLM one pads to 128: the embedder must
/// override it.
fn tiny_model(dir: &Path) {
    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": WORDS.len(),
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": 2,
        "intermediate_size": INTERMEDIATE,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "max_position_embeddings": MAX_POSITIONS,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let mut rng = Lcg(7);
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut put = |name: String, shape: &[usize], ones: bool| {
        let n = shape.iter().product();
        let values = if ones { vec![1.0; n] } else { rng.values(n) };
        let tensor = Tensor::from_vec(values, shape, &Device::Cpu).unwrap();
        tensors.insert(name, tensor);
    };
    put(
        "embeddings.word_embeddings.weight".into(),
        &[WORDS.len(), HIDDEN],
        false,
    );
    put(
        "embeddings.position_embeddings.weight".into(),
        &[MAX_POSITIONS, HIDDEN],
        false,
    );
    put(
        "embeddings.token_type_embeddings.weight".into(),
        &[2, HIDDEN],
        false,
    );
    let norm = |prefix: &str, put: &mut dyn FnMut(String, &[usize], bool)| {
        put(format!("{prefix}.LayerNorm.weight"), &[HIDDEN], true);
        put(format!("{prefix}.LayerNorm.bias"), &[HIDDEN], false);
    };
    norm("embeddings", &mut put);
    for layer in 0..LAYERS {
        let p = format!("encoder.layer.{layer}");
        for part in ["query", "key", "value"] {
            put(
                format!("{p}.attention.self.{part}.weight"),
                &[HIDDEN, HIDDEN],
                false,
            );
            put(format!("{p}.attention.self.{part}.bias"), &[HIDDEN], false);
        }
        put(
            format!("{p}.attention.output.dense.weight"),
            &[HIDDEN, HIDDEN],
            false,
        );
        put(format!("{p}.attention.output.dense.bias"), &[HIDDEN], false);
        norm(&format!("{p}.attention.output"), &mut put);
        put(
            format!("{p}.intermediate.dense.weight"),
            &[INTERMEDIATE, HIDDEN],
            false,
        );
        put(
            format!("{p}.intermediate.dense.bias"),
            &[INTERMEDIATE],
            false,
        );
        put(
            format!("{p}.output.dense.weight"),
            &[HIDDEN, INTERMEDIATE],
            false,
        );
        put(format!("{p}.output.dense.bias"), &[HIDDEN], false);
        norm(&format!("{p}.output"), &mut put);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();

    // A WordPiece vocabulary file: one token per line, ids by line number.
    let vocab_path = dir.join("vocab.txt");
    std::fs::write(&vocab_path, WORDS.join("\n")).unwrap();
    let wordpiece = WordPiece::from_file(&vocab_path.to_string_lossy())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tokenizer = Tokenizer::new(wordpiece);
    tokenizer
        .with_normalizer(Some(BertNormalizer::default()))
        .unwrap();
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), 3),
        ("[CLS]".into(), 2),
    )));
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::Fixed(40),
        ..Default::default()
    }));
    tokenizer.save(dir.join("tokenizer.json"), false).unwrap();
}

fn tiny_embedder() -> (tempfile::TempDir, Embedder) {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path());
    let embedder = Embedder::load(dir.path()).unwrap();
    (dir, embedder)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn assert_close(a: &[f32], b: &[f32], tolerance: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tolerance, "component {i}: {x} vs {y}");
    }
}

#[test]
fn every_text_gets_one_unit_vector_of_the_model_width() {
    let (_dir, embedder) = tiny_embedder();
    assert_eq!(embedder.dim(), HIDDEN);
    let texts: Vec<String> = (0..70)
        .map(|i| format!("a man is eating {i} dogs"))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&refs).unwrap();
    assert_eq!(vectors.len(), 70, "three batches, all returned in order");
    for v in &vectors {
        assert_eq!(v.len(), HIDDEN);
        assert!((dot(v, v).sqrt() - 1.0).abs() < 1e-5);
    }
    assert!(embedder.embed(&[]).unwrap().is_empty());
    let empty = embedder.embed(&[""]).unwrap();
    assert!((dot(&empty[0], &empty[0]).sqrt() - 1.0).abs() < 1e-5);
}

#[test]
fn a_text_embeds_the_same_alone_and_beside_a_longer_one() {
    let (_dir, embedder) = tiny_embedder();
    let short = "the girl runs";
    let long = "a man is eating a piece of bread . the dog is carrying the baby fast";
    let alone = embedder.embed(&[short]).unwrap();
    let batched = embedder.embed(&[long, short, "food"]).unwrap();
    assert_close(&alone[0], &batched[1], 1e-5);
    let long_alone = embedder.embed(&[long]).unwrap();
    assert_close(&long_alone[0], &batched[0], 1e-5);
    // Different texts do get different vectors.
    assert!(dot(&batched[0], &batched[1]) < 0.999);
}

#[test]
fn embedding_is_deterministic_and_the_model_id_follows_the_files() {
    let (dir, embedder) = tiny_embedder();
    let texts = ["a man is eating food .", "the girl is carrying a baby ."];
    assert_eq!(
        embedder.embed(&texts).unwrap(),
        embedder.embed(&texts).unwrap()
    );

    let again = Embedder::load(dir.path()).unwrap();
    assert_eq!(again.model_id(), embedder.model_id());
    assert_eq!(
        again.embed(&texts).unwrap(),
        embedder.embed(&texts).unwrap()
    );
    let name = dir.path().file_name().unwrap().to_string_lossy();
    assert!(embedder.model_id().starts_with(&format!("{name}@")));

    let other = tempfile::tempdir().unwrap();
    tiny_model(other.path());
    let config = std::fs::read_to_string(other.path().join("config.json")).unwrap();
    std::fs::write(
        other.path().join("config.json"),
        config.replace("\"gelu\"", "\"relu\""),
    )
    .unwrap();
    let relu = Embedder::load(other.path()).unwrap();
    assert_ne!(
        relu.model_id().split('@').nth(1),
        embedder.model_id().split('@').nth(1)
    );
}

#[test]
fn the_cache_key_of_a_text_is_its_sha256() {
    assert_eq!(
        text_sha256("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn texts_longer_than_the_limit_are_truncated_not_refused() {
    let (_dir, embedder) = tiny_embedder();
    // 200 words: more than the tiny model's 64 positions.
    let long = "a man is eating food . ".repeat(40);
    let vectors = embedder.embed(&[&long]).unwrap();
    assert_eq!(vectors[0].len(), HIDDEN);
}

#[test]
fn a_missing_or_broken_model_directory_is_a_clear_error() {
    let missing = Embedder::load(Path::new("/nonexistent/model")).unwrap_err();
    assert!(missing.to_string().contains("not a directory"), "{missing}");

    let dir = tempfile::tempdir().unwrap();
    let empty = Embedder::load(dir.path()).unwrap_err();
    assert!(empty.to_string().contains("config.json"), "{empty}");

    tiny_model(dir.path());
    std::fs::write(dir.path().join("model.safetensors"), b"not weights").unwrap();
    let weights = Embedder::load(dir.path()).unwrap_err();
    assert!(
        weights.to_string().contains("model.safetensors"),
        "{weights}"
    );

    tiny_model(dir.path());
    std::fs::write(dir.path().join("config.json"), b"{\"hidden_size\": 3}").unwrap();
    let config = Embedder::load(dir.path()).unwrap_err();
    assert!(config.to_string().contains("config.json"), "{config}");

    tiny_model(dir.path());
    std::fs::write(dir.path().join("tokenizer.json"), b"{}").unwrap();
    let tokenizer = Embedder::load(dir.path()).unwrap_err();
    assert!(
        tokenizer.to_string().contains("tokenizer.json"),
        "{tokenizer}"
    );
}

/// Names the real model's directory for the `minilm` tests (`scripts/test.sh` sets it; the product's
/// own variable is left unset there so other tests run lexically).
const TEST_MODEL_DIR_ENV: &str = "RESEARCHOPS_TEST_MODEL_DIR";

/// The real all-MiniLM-L6-v2 (`scripts/fetch-model.sh`). A test that did not run must not pass:
/// without the model directory this fails unless `RESEARCHOPS_TEST_EMBED=skip` says to leave it
/// out (then `scripts/test.sh` filters it out and nextest reports it skipped).
#[test]
fn minilm_ranks_a_paraphrase_above_an_unrelated_sentence() {
    let dir = match std::env::var(TEST_MODEL_DIR_ENV) {
        Ok(dir) if !dir.is_empty() => dir,
        _ => panic!(
            "{TEST_MODEL_DIR_ENV} is not set: run scripts/test.sh, or export it as the directory \
             scripts/fetch-model.sh prints (or set RESEARCHOPS_TEST_EMBED=skip to leave the \
             real-model tests out)"
        ),
    };
    let embedder = Embedder::load(Path::new(&dir)).unwrap();
    assert_eq!(embedder.dim(), 384);
    let texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
        "A man is riding a horse.",
        "A woman is playing violin.",
    ];
    let v = embedder.embed(&texts).unwrap();
    let paraphrase = dot(&v[0], &v[1]);
    for other in &v[2..] {
        assert!(paraphrase > dot(&v[0], other) + 0.2, "{paraphrase}");
    }
}
