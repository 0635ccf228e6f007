//! Dense sentence embeddings in-process: a sentence-transformers BERT model (all-MiniLM-L6-v2 or
//! any BERT of that layout) run on the CPU with candle.
//!
//! This module owns loading a model directory, tokenising, the forward pass and pooling (mean over
//! real tokens, then L2 normalisation). It never downloads anything: the model directory is given
//! (`RESEARCHOPS_EMBED_MODEL_DIR`), and without one callers work lexically. It knows nothing about
//! caching; [`Embedder::model_id`] is the key callers cache vectors under.
//!
//! [`Embedder::embed`] is CPU-bound and blocking (tens of milliseconds per batch): async callers run
//! it on a blocking thread (`tokio::task::spawn_blocking`).

mod bert;

use bert::{BertModel, Config};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The environment variable naming the model directory.
pub const MODEL_DIR_ENV: &str = "RESEARCHOPS_EMBED_MODEL_DIR";
/// Texts per forward pass.
pub const BATCH_SIZE: usize = 32;
/// Longest input in tokens (special tokens included); longer texts are truncated.
pub const MAX_TOKENS: usize = 256;
/// How much of `model.safetensors` the model id hashes (its header and first weights).
const ID_PREFIX_BYTES: usize = 1 << 20;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model directory is missing, incomplete or holds unusable files.
    #[error("embedding model directory {dir}: {reason}")]
    ModelDir {
        /// The directory given.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The tokenizer failed on an input.
    #[error("tokenizing failed: {0}")]
    Tokenize(String),
    /// The forward pass failed (a shape mismatch between config and weights, out of memory).
    #[error("embedding model failed: {0}")]
    Model(#[from] candle_core::Error),
}

/// A loaded sentence-embedding model. `Send + Sync`: share one behind an `Arc`.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
    model_id: String,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// The model named by `RESEARCHOPS_EMBED_MODEL_DIR`, or `None` when the variable is unset or
    /// empty (embeddings are off). A variable naming a bad directory is an error, not `None`.
    pub fn from_env() -> Result<Option<Self>, EmbedError> {
        match std::env::var_os(MODEL_DIR_ENV) {
            Some(dir) if !dir.is_empty() => Self::load(Path::new(&dir)).map(Some),
            _ => Ok(None),
        }
    }

    /// Loads a sentence-transformers directory: `config.json` (BERT), `model.safetensors` (f32 or
    /// f16 weights) and `tokenizer.json` (WordPiece). The tokenizer's own padding and truncation
    /// are replaced: batches pad to their longest text, and texts are cut at [`MAX_TOKENS`].
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let bad = |reason: String| EmbedError::ModelDir {
            dir: dir.to_path_buf(),
            reason,
        };
        if !dir.is_dir() {
            return Err(bad(format!(
                "not a directory (set {MODEL_DIR_ENV} to a sentence-transformers model directory; \
                 scripts/fetch-model.sh prepares all-MiniLM-L6-v2)"
            )));
        }
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| bad(format!("cannot read {name}: {e}")))
        };
        let config_bytes = read("config.json")?;
        let config: Config = serde_json::from_slice(&config_bytes)
            .map_err(|e| bad(format!("config.json is not a BERT configuration: {e}")))?;
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(bad(format!(
                "config.json: hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            )));
        }
        let weights = read("model.safetensors")?;
        let model_id = model_id(dir, &config_bytes, &weights);
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| bad(format!("model.safetensors is unreadable: {e}")))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| bad(format!("model.safetensors does not match config.json: {e}")))?;

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| bad(format!("cannot load tokenizer.json: {e}")))?;
        let padding = PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..tokenizer.get_padding().cloned().unwrap_or_default()
        };
        tokenizer.with_padding(Some(padding));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS.min(config.max_position_embeddings),
                ..Default::default()
            }))
            .map_err(|e| bad(format!("tokenizer.json: cannot set truncation: {e}")))?;

        Ok(Self {
            model,
            tokenizer,
            dim: config.hidden_size,
            model_id,
        })
    }

    /// A stable identity of the model's files: the directory name plus a hash of `config.json`,
    /// the size of `model.safetensors` and its first megabyte. Cache vectors under it.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Length of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// One unit-length vector per text, in order, computed [`BATCH_SIZE`] texts at a time. The
    /// vector of a text does not depend on the other texts of its batch (up to float rounding).
    /// Blocking and CPU-bound.
    ///
    /// Batches are formed from texts of similar length (sorted by byte length, ties in input order,
    /// so the same texts always form the same batches): a batch pads to its longest text, and a
    /// short sentence batched with a 256-token abstract would cost as much as the abstract.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH_SIZE) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            for (&i, vector) in chunk.iter().zip(self.embed_batch(&batch)?) {
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let device = self.model.device();
        let rows = |field: fn(&tokenizers::Encoding) -> &[u32]| -> candle_core::Result<Tensor> {
            let rows = encodings
                .iter()
                .map(|e| Tensor::new(field(e), device))
                .collect::<candle_core::Result<Vec<_>>>()?;
            Tensor::stack(&rows, 0)
        };
        let input_ids = rows(tokenizers::Encoding::get_ids)?;
        let type_ids = rows(tokenizers::Encoding::get_type_ids)?;
        let mask = rows(tokenizers::Encoding::get_attention_mask)?;

        let hidden = self.model.forward(&input_ids, &type_ids, &mask)?;
        // Mean over real tokens: padding positions have hidden states too, and must not count.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1.0, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok(mean.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
}

/// The cache key of a text: SHA-256 of its UTF-8 bytes, lowercase hex (what
/// `Store::embeddings_get`/`embeddings_put` take as `text_sha256`).
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn model_id(dir: &Path, config: &[u8], weights: &[u8]) -> String {
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".to_string());
    let mut hash = Sha256::new();
    hash.update(config);
    hash.update((weights.len() as u64).to_le_bytes());
    hash.update(&weights[..weights.len().min(ID_PREFIX_BYTES)]);
    let digest = hex::encode(hash.finalize());
    format!("{name}@{}", &digest[..16])
}

#[cfg(test)]
mod tests;
