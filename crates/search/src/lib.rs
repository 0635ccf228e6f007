//! Text algorithms for ResearchOps Studio: sentence splitting, the shared lexical analyser,
//! BM25 retrieval (tantivy storage, our BM25F scoring), dense sentence embeddings (candle) with
//! brute-force vector search, hybrid fusion of ranked lists, tf-idf similarity, maximal marginal
//! relevance, clustering and
//! ranking metrics.
//!
//! This crate owns *how text is compared*. It must not know about runs, HTTP, SQL or where
//! documents come from: callers hand it strings and identifiers and get back ranges, scores
//! and indices.

pub mod bm25;
pub mod cluster;
pub mod dense;
pub mod embed;
mod error;
pub mod hybrid;
pub mod metrics;
pub mod mmr;
pub mod similarity;
pub mod text;

pub use bm25::{Bm25Params, CorpusIndex, Hit, IndexDoc, SnippetIndex};
pub use cluster::{distinctive_terms, leader_clusters};
pub use dense::DenseIndex;
pub use embed::{EmbedError, Embedder};
pub use error::SearchError;
pub use hybrid::{RRF_K, convex_fusion, reciprocal_rank_fusion};
pub use metrics::{mrr_at_k, ndcg_at_k, recall_at_k};
pub use mmr::mmr;
pub use similarity::{SparseVec, TfIdf, cosine};
pub use text::{align_sentences, analyze, content_terms, split_sentences};
