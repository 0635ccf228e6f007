//! The BERT encoder (embeddings + transformer layers, no pooling or heads), enough to run a
//! sentence-transformers model such as all-MiniLM-L6-v2 from its safetensors weights.
//!
//! Copied and trimmed from candle-transformers 0.11.1, `src/models/bert.rs`
//! (<https://github.com/huggingface/candle>), Copyright (c) The candle authors, licensed under
//! either of the Apache License, Version 2.0 or the MIT license, at your option. Changes: tracing
//! spans, dropout (inference only), the masked-LM heads and the fallback weight prefixes were
//! removed; the configuration keeps only the fields inference reads.
//!
//! It owns the forward pass only: tokenising, pooling and normalising live in the parent module.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder, embedding, layer_norm, linear};
use serde::Deserialize;

/// The activation between the feed-forward layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HiddenAct {
    /// Exact GELU (erf).
    Gelu,
    /// GELU, tanh approximation.
    #[serde(rename = "gelu_new", alias = "geluapproximate")]
    GeluApproximate,
    /// ReLU.
    Relu,
}

impl HiddenAct {
    fn forward(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            HiddenAct::Gelu => xs.gelu_erf(),
            HiddenAct::GeluApproximate => xs.gelu(),
            HiddenAct::Relu => xs.relu(),
        }
    }
}

/// The fields of a Hugging Face `config.json` for BERT that inference needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Width of every hidden state (the embedding dimension).
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    pub hidden_act: HiddenAct,
    /// Longest input the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
}

struct BertEmbeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
}

impl BertEmbeddings {
    fn load(vb: VarBuilder<'_>, config: &Config) -> Result<Self> {
        Ok(Self {
            word_embeddings: embedding(
                config.vocab_size,
                config.hidden_size,
                vb.pp("word_embeddings"),
            )?,
            position_embeddings: embedding(
                config.max_position_embeddings,
                config.hidden_size,
                vb.pp("position_embeddings"),
            )?,
            token_type_embeddings: embedding(
                config.type_vocab_size,
                config.hidden_size,
                vb.pp("token_type_embeddings"),
            )?,
            layer_norm: layer_norm(
                config.hidden_size,
                config.layer_norm_eps,
                vb.pp("LayerNorm"),
            )?,
        })
    }

    fn forward(&self, input_ids: &Tensor, token_type_ids: &Tensor) -> Result<Tensor> {
        let (_batch, seq_len) = input_ids.dims2()?;
        let input_embeddings = self.word_embeddings.forward(input_ids)?;
        let token_type_embeddings = self.token_type_embeddings.forward(token_type_ids)?;
        let embeddings = (&input_embeddings + token_type_embeddings)?;
        let position_ids: Vec<u32> = (0..seq_len as u32).collect();
        let position_ids = Tensor::new(&position_ids[..], input_ids.device())?;
        let embeddings =
            embeddings.broadcast_add(&self.position_embeddings.forward(&position_ids)?)?;
        self.layer_norm.forward(&embeddings)
    }
}

struct BertSelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    num_attention_heads: usize,
    attention_head_size: usize,
}

impl BertSelfAttention {
    fn load(vb: VarBuilder<'_>, config: &Config) -> Result<Self> {
        let attention_head_size = config.hidden_size / config.num_attention_heads;
        let all_head_size = config.num_attention_heads * attention_head_size;
        let hidden_size = config.hidden_size;
        Ok(Self {
            query: linear(hidden_size, all_head_size, vb.pp("query"))?,
            key: linear(hidden_size, all_head_size, vb.pp("key"))?,
            value: linear(hidden_size, all_head_size, vb.pp("value"))?,
            num_attention_heads: config.num_attention_heads,
            attention_head_size,
        })
    }

    fn transpose_for_scores(&self, xs: &Tensor) -> Result<Tensor> {
        let mut new_x_shape = xs.dims().to_vec();
        new_x_shape.pop();
        new_x_shape.push(self.num_attention_heads);
        new_x_shape.push(self.attention_head_size);
        xs.reshape(new_x_shape.as_slice())?
            .transpose(1, 2)?
            .contiguous()
    }

    fn forward(&self, hidden_states: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let query_layer = self.transpose_for_scores(&self.query.forward(hidden_states)?)?;
        let key_layer = self.transpose_for_scores(&self.key.forward(hidden_states)?)?;
        let value_layer = self.transpose_for_scores(&self.value.forward(hidden_states)?)?;

        let attention_scores = query_layer.matmul(&key_layer.t()?)?;
        let attention_scores = (attention_scores / (self.attention_head_size as f64).sqrt())?;
        let attention_scores = attention_scores.broadcast_add(attention_mask)?;
        let attention_probs = candle_nn::ops::softmax(&attention_scores, candle_core::D::Minus1)?;

        let context_layer = attention_probs.matmul(&value_layer)?;
        let context_layer = context_layer.transpose(1, 2)?.contiguous()?;
        context_layer.flatten_from(candle_core::D::Minus2)
    }
}

/// A dense projection, then layer norm over the residual sum (the attention output and the
/// feed-forward output share this shape).
struct DenseResidual {
    dense: Linear,
    layer_norm: LayerNorm,
}

impl DenseResidual {
    fn load(vb: VarBuilder<'_>, in_dim: usize, config: &Config) -> Result<Self> {
        Ok(Self {
            dense: linear(in_dim, config.hidden_size, vb.pp("dense"))?,
            layer_norm: layer_norm(
                config.hidden_size,
                config.layer_norm_eps,
                vb.pp("LayerNorm"),
            )?,
        })
    }

    fn forward(&self, hidden_states: &Tensor, input_tensor: &Tensor) -> Result<Tensor> {
        let hidden_states = self.dense.forward(hidden_states)?;
        self.layer_norm.forward(&(hidden_states + input_tensor)?)
    }
}

struct BertLayer {
    self_attention: BertSelfAttention,
    attention_output: DenseResidual,
    intermediate: Linear,
    hidden_act: HiddenAct,
    output: DenseResidual,
}

impl BertLayer {
    fn load(vb: VarBuilder<'_>, config: &Config) -> Result<Self> {
        Ok(Self {
            self_attention: BertSelfAttention::load(vb.pp("attention").pp("self"), config)?,
            attention_output: DenseResidual::load(
                vb.pp("attention").pp("output"),
                config.hidden_size,
                config,
            )?,
            intermediate: linear(
                config.hidden_size,
                config.intermediate_size,
                vb.pp("intermediate").pp("dense"),
            )?,
            hidden_act: config.hidden_act,
            output: DenseResidual::load(vb.pp("output"), config.intermediate_size, config)?,
        })
    }

    fn forward(&self, hidden_states: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let attended = self.self_attention.forward(hidden_states, attention_mask)?;
        let attention_output = self.attention_output.forward(&attended, hidden_states)?;
        let intermediate = self
            .hidden_act
            .forward(&self.intermediate.forward(&attention_output)?)?;
        self.output.forward(&intermediate, &attention_output)
    }
}

/// The BERT encoder: token ids in, one hidden state per token out.
pub struct BertModel {
    embeddings: BertEmbeddings,
    layers: Vec<BertLayer>,
}

impl BertModel {
    /// Loads the weights (names as Hugging Face writes them, with or without a `bert.` prefix).
    pub fn load(vb: VarBuilder<'_>, config: &Config) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let embeddings = BertEmbeddings::load(vb.pp("embeddings"), config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| BertLayer::load(vb.pp(format!("encoder.layer.{index}")), config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { embeddings, layers })
    }

    /// `(batch, seq)` token ids, token types and attention mask (1 for a token, 0 for padding) in;
    /// `(batch, seq, hidden)` hidden states out. Padding positions get states too: pool with the mask.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<Tensor> {
        let mut hidden_states = self.embeddings.forward(input_ids, token_type_ids)?;
        let attention_mask = extended_attention_mask(attention_mask, hidden_states.dtype())?;
        for layer in &self.layers {
            hidden_states = layer.forward(&hidden_states, &attention_mask)?;
        }
        Ok(hidden_states)
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.embeddings.word_embeddings.embeddings().device()
    }
}

/// `(batch, seq)` 0/1 mask → `(batch, 1, 1, seq)` additive mask: 0 where attended, the dtype's
/// minimum where masked, so softmax gives padding keys no weight.
fn extended_attention_mask(attention_mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let attention_mask = attention_mask.unsqueeze(1)?.unsqueeze(1)?.to_dtype(dtype)?;
    (attention_mask.ones_like()? - &attention_mask)?.broadcast_mul(
        &Tensor::try_from(f32::MIN)?
            .to_device(attention_mask.device())?
            .to_dtype(dtype)?,
    )
}
