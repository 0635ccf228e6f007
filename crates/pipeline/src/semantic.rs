//! Cosines between the question and texts (gathered documents, evidence snippets) when a sentence model
//! is configured: the meaning half of every relevance decision, beside the words half. Without an
//! [`Embedder`] these return `None` and every decision is lexical.

use crate::model::Evidence;
use crate::{StageContext, StageError};
use researchops_core::{EmbedError, Embedder, SnippetId};
use std::collections::HashMap;

/// Cosine of each text's embedding with the question's (the vectors are unit length).
pub(crate) async fn question_cosines(
    embedder: &dyn Embedder,
    question: &str,
    texts: &[String],
) -> Result<Vec<f32>, StageError> {
    let mut inputs = Vec::with_capacity(texts.len() + 1);
    inputs.push(question.to_owned());
    inputs.extend(texts.iter().cloned());
    let vectors = embedder.embed(&inputs).await.map_err(|e| match e {
        EmbedError::Store(e) => StageError::from_store(e),
        EmbedError::Model(reason) => StageError::internal(reason),
    })?;
    let (query, docs) = vectors
        .split_first()
        .ok_or_else(|| StageError::internal("the embedder returned no vectors"))?;
    Ok(docs
        .iter()
        .map(|d| d.iter().zip(query).map(|(a, b)| a * b).sum())
        .collect())
}

/// Each evidence snippet's cosine with the question, or `None` without a model.
pub(crate) async fn snippet_cosines(
    cx: &StageContext<'_>,
    evidence: &Evidence,
) -> Result<Option<HashMap<SnippetId, f32>>, StageError> {
    let Some(embedder) = cx.embedder else {
        return Ok(None);
    };
    let (ids, texts): (Vec<SnippetId>, Vec<String>) =
        evidence.snippets().map(|s| (s.id, s.text.clone())).unzip();
    if texts.is_empty() {
        return Ok(Some(HashMap::new()));
    }
    let cosines = question_cosines(embedder, &cx.run.question, &texts).await?;
    cx.checkpoint()?;
    Ok(Some(ids.into_iter().zip(cosines).collect()))
}
