//! `retrieve`: ask every selected connector for documents matching the question (concurrently, each
//! under a time limit), deduplicate them, re-score them in the run's own BM25 index and keep those that
//! address the question ([`crate::relevance`]; at most `max_sources`, never padded), then snapshot
//! them: each kept
//! document's raw bytes and extracted text go to the blob store (content-addressed, so each is stored
//! once) and the output references them by hash. No document at all is a failed run (`no_evidence`);
//! no relevant one fails the same way, naming what was searched and the closest near-misses; a
//! connector that is not available or fails is a `warn` event, not a failure.

use crate::model::{RetrieveOutput, RetrievedDoc, SnapshotRef};
use crate::relevance::{self, Scored};
use crate::{StageContext, StageError, to_value, usage};
use bytes::Bytes;
use chrono::Utc;
use researchops_core::{
    ConnectorError, EventType, FailureCode, FoundDocument, NewEvent, SearchQuery, Stage,
    StageCommit,
};
use researchops_search::text::align_sentences;
use researchops_search::{SnippetIndex, analyze};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::time::Duration;

/// Longest a connector may take to answer one query.
pub(crate) const CONNECTOR_TIMEOUT: Duration = Duration::from_secs(60);

/// Fewest documents asked of each connector, so the relevance gate has a sample to weigh terms over.
const MIN_GATHERED: usize = 30;

/// Media type of a snapshot whose raw bytes are its text.
pub(crate) const TEXT_MIME: &str = "text/plain; charset=utf-8";

/// A connector's document before it is kept and snapshotted.
struct Candidate {
    connector: String,
    doc: FoundDocument,
}

pub(crate) async fn retrieve(cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
    let question = cx.run.question.clone();
    let keep = cx.run.options.max_sources as usize;
    // Over-fetch: deduplication and the relevance gate both drop documents, and the gate weighs the
    // question's terms over everything gathered.
    let query = SearchQuery {
        text: question.clone(),
        limit: (keep * 3).max(MIN_GATHERED),
    };
    let mut selected = Vec::new();
    for name in &cx.run.sources {
        match cx.connectors.get(name) {
            Some(connector) => selected.push(connector.clone()),
            None => cx.progress.emit(NewEvent::warn(
                Some(Stage::Retrieve),
                format!("source `{name}` is not available on this server; skipped"),
            )),
        }
    }
    let answers = futures::future::join_all(selected.iter().map(|connector| {
        let query = &query;
        async move {
            match tokio::time::timeout(CONNECTOR_TIMEOUT, connector.search(query, cx.cancel)).await
            {
                Ok(result) => result,
                Err(_) => Err(ConnectorError::Unavailable(format!(
                    "no answer within {} s",
                    CONNECTOR_TIMEOUT.as_secs()
                ))),
            }
        }
    }))
    .await;
    cx.checkpoint()?;
    let mut candidates = Vec::new();
    let mut fingerprints = Vec::new();
    let mut transient_failures = 0;
    // In the run's order of sources, so events and ties are the same on every run.
    for (connector, answer) in selected.iter().zip(answers) {
        let name = connector.name().to_owned();
        match answer {
            Ok(found) => {
                if let Some(fingerprint) = connector.fingerprint() {
                    fingerprints.push((name.clone(), fingerprint));
                }
                cx.progress.emit(
                    NewEvent::info(
                        EventType::Log,
                        Some(Stage::Retrieve),
                        format!("{name}: {} documents", found.len()),
                    )
                    .with_payload(
                        serde_json::json!({ "connector": name, "documents": found.len() }),
                    ),
                );
                candidates.extend(found.into_iter().map(|doc| Candidate {
                    connector: name.clone(),
                    doc,
                }));
            }
            Err(ConnectorError::Canceled) => return Err(StageError::Canceled),
            Err(e) => {
                transient_failures += usize::from(e.is_transient());
                cx.progress.emit(
                    NewEvent::warn(Some(Stage::Retrieve), format!("{name} failed: {e}"))
                        .with_payload(serde_json::json!({
                            "connector": name,
                            "error_code": e.code(),
                            "transient": e.is_transient(),
                        })),
                );
            }
        }
    }
    let gathered = dedupe_and_rank(candidates, usize::MAX);
    let examined = gathered.len();
    let kept = relevant(cx, &question, gathered, keep).await?;
    if kept.as_ref().is_err() && transient_failures > 0 {
        return Err(StageError::Retryable(format!(
            "no relevant evidence yet: {transient_failures} of the selected sources could not be reached"
        )));
    }
    if examined == 0 {
        return Err(StageError::Fatal {
            code: FailureCode::NoEvidence,
            reason: format!(
                "no document in the selected sources ({}) matches any term of the question",
                cx.run.sources.join(", ")
            ),
        });
    }
    let kept = match kept {
        Ok(kept) => kept,
        Err(reason) => {
            return Err(StageError::Fatal {
                code: FailureCode::NoEvidence,
                reason,
            });
        }
    };
    let mut documents = Vec::with_capacity(kept.len());
    for candidate in kept {
        cx.checkpoint()?;
        documents.push(snapshot(cx, candidate).await?);
    }
    let count = documents.len();
    let output = RetrieveOutput {
        query: question,
        corpus_fingerprint: combined_fingerprint(&fingerprints),
        embedding_model: cx.embedder.map(|e| e.model_id().to_owned()),
        documents,
    };
    Ok(StageCommit {
        output: to_value(&output)?,
        usage: usage(&[("documents_retrieved", count)]),
        message: format!("retrieved {count} documents"),
        ..StageCommit::default()
    })
}

/// The gathered documents that address the question, most relevant first, at most `keep`; or, when
/// none does, the `no_evidence` message. Every document's signals go out in one `log` event, so a
/// reader can see why each was kept or dropped.
async fn relevant(
    cx: &StageContext<'_>,
    question: &str,
    gathered: Vec<Candidate>,
    keep: usize,
) -> Result<Result<Vec<Candidate>, String>, StageError> {
    let texts: Vec<String> = gathered
        .iter()
        .map(|c| format!("{}\n{}", c.doc.title, c.doc.text))
        .collect();
    let index = SnippetIndex::build(texts.iter().map(String::as_str))
        .map_err(|e| StageError::internal(format!("cannot index the gathered documents: {e}")))?;
    cx.checkpoint()?;
    let mut scores = vec![0.0f32; texts.len()];
    for (i, score) in index
        .search(question, texts.len())
        .map_err(|e| StageError::internal(format!("cannot rank the gathered documents: {e}")))?
    {
        scores[i] = score;
    }
    // With a model, the documents close enough to the best lexical hit to possibly pass are embedded.
    let best = scores.iter().copied().fold(0.0f32, f32::max);
    let mut dense: Vec<Option<f32>> = vec![None; texts.len()];
    if let Some(embedder) = cx.embedder {
        let candidates: Vec<usize> = (0..texts.len())
            .filter(|&i| best > 0.0 && scores[i] >= relevance::DENSE_MIN_SCORE * best)
            .collect();
        let inputs: Vec<String> = candidates.iter().map(|&i| texts[i].clone()).collect();
        if !inputs.is_empty() {
            let cosines = crate::semantic::question_cosines(embedder, question, &inputs).await?;
            for (i, cosine) in candidates.into_iter().zip(cosines) {
                dense[i] = Some(cosine);
            }
        }
    }
    cx.checkpoint()?;
    let scored: Vec<Scored> = gathered
        .iter()
        .zip(&texts)
        .zip(scores)
        .enumerate()
        .map(|(i, ((c, text), score))| Scored {
            title: c.doc.title.clone(),
            terms: analyze(text).into_iter().collect(),
            score,
            dense: dense[i],
        })
        .collect();
    cx.checkpoint()?;
    let decision = relevance::decide(question, &scored);
    cx.progress
        .emit(relevance_event(&gathered, &scored, &decision));
    if decision.kept.is_empty() {
        return Ok(Err(relevance::no_evidence_message(
            &cx.run.sources,
            gathered.len(),
            &decision,
            &scored,
        )));
    }
    let mut slots: Vec<Option<Candidate>> = gathered.into_iter().map(Some).collect();
    Ok(Ok(decision
        .kept
        .iter()
        .take(keep)
        .filter_map(|&i| slots[i].take())
        .collect()))
}

/// The `log` event listing every gathered document's relevance signals and whether it was kept.
fn relevance_event(
    gathered: &[Candidate],
    scored: &[Scored],
    decision: &relevance::Decision,
) -> NewEvent {
    let documents: Vec<serde_json::Value> = gathered
        .iter()
        .zip(scored)
        .zip(&decision.judged)
        .map(|((c, s), j)| {
            serde_json::json!({
                "connector": c.connector,
                "external_id": c.doc.external_id,
                "score": s.score,
                "relative_score": j.relative_score,
                "coverage": j.coverage,
                "matched_terms": j.matched,
                "dense": s.dense,
                "kept": j.kept,
            })
        })
        .collect();
    let kept = decision.judged.iter().filter(|j| j.kept).count();
    NewEvent::info(
        EventType::Log,
        Some(Stage::Retrieve),
        format!(
            "relevance: {kept} of {} documents address the question",
            gathered.len()
        ),
    )
    .with_payload(serde_json::json!({
        "key_terms": decision.key_terms.iter().map(|t| &t.word).collect::<Vec<_>>(),
        "documents": documents,
    }))
}

/// Stores a kept document's raw bytes and text (one blob when they are the same bytes) and records
/// where they are.
async fn snapshot(cx: &StageContext<'_>, candidate: Candidate) -> Result<RetrievedDoc, StageError> {
    let Candidate { connector, doc } = candidate;
    let sentence_spans = doc
        .sentences
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|sentences| {
            align_sentences(&doc.text, sentences)
                .into_iter()
                .map(|r| (r.start, r.end))
                .collect()
        });
    let text = cx
        .blobs
        .put(Bytes::from(doc.text))
        .await
        .map_err(StageError::from_store)?;
    let (raw, mime_type) = match doc.raw {
        Some(raw) => (
            cx.blobs
                .put(raw.bytes)
                .await
                .map_err(StageError::from_store)?,
            raw.mime_type,
        ),
        None => (text.clone(), TEXT_MIME.to_owned()),
    };
    Ok(RetrievedDoc {
        connector,
        external_id: doc.external_id,
        title: doc.title,
        snapshot: Some(SnapshotRef {
            sha256: raw.sha256,
            size_bytes: raw.size_bytes,
            mime_type,
            text_sha256: text.sha256,
            text_size_bytes: text.size_bytes,
            retrieved_at: Utc::now(),
        }),
        sentence_spans,
        text: None,
        sentences: None,
        authors: doc.authors,
        year: doc.year,
        doi: doc.doi,
        url: doc.url,
        venue: doc.venue,
        arxiv_id: doc.arxiv_id,
        retracted: doc.retracted,
        score: doc.score,
    })
}

/// One connector's fingerprint as is (the local corpus alone keeps its historical value); several
/// combined into one hash over sorted `name:fingerprint` lines.
fn combined_fingerprint(fingerprints: &[(String, String)]) -> Option<String> {
    match fingerprints {
        [] => None,
        [(_, only)] => Some(only.clone()),
        many => {
            let mut lines: Vec<String> = many.iter().map(|(n, f)| format!("{n}:{f}\n")).collect();
            lines.sort();
            let mut hasher = Sha256::new();
            hasher.update(b"researchops-sources-v1\0");
            for line in lines {
                hasher.update(line.as_bytes());
            }
            Some(hex::encode(hasher.finalize()))
        }
    }
}

fn title_key(title: &str) -> String {
    title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Best score first, ties by (connector, id); drops later duplicates of a DOI or normalised title.
fn dedupe_and_rank(mut docs: Vec<Candidate>, keep: usize) -> Vec<Candidate> {
    docs.sort_by(|a, b| {
        b.doc
            .score
            .total_cmp(&a.doc.score)
            .then_with(|| a.connector.cmp(&b.connector))
            .then_with(|| a.doc.external_id.cmp(&b.doc.external_id))
    });
    let mut seen = HashSet::new();
    docs.retain(|c| {
        let mut keys = vec![format!("id:{}:{}", c.connector, c.doc.external_id)];
        if let Some(doi) = &c.doc.doi {
            keys.push(format!("doi:{}", doi.to_lowercase()));
        }
        let title = title_key(&c.doc.title);
        if title.len() >= 12 {
            keys.push(format!("title:{title}"));
        }
        let duplicate = keys.iter().any(|k| seen.contains(k));
        seen.extend(keys);
        !duplicate
    });
    docs.truncate(keep);
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, title: &str, score: f64) -> Candidate {
        Candidate {
            connector: "local".into(),
            doc: FoundDocument {
                external_id: id.into(),
                title: title.into(),
                score,
                ..FoundDocument::default()
            },
        }
    }

    #[test]
    fn ranking_is_by_score_then_id_and_duplicate_titles_are_dropped() {
        let docs = vec![
            doc("b", "Vitamin D and bone density", 2.0),
            doc("a", "Vitamin D and bone density.", 2.0),
            doc("c", "Another study entirely", 3.0),
            doc("d", "Low scoring work on things", 1.0),
        ];
        let ranked = dedupe_and_rank(docs, 10);
        let ids: Vec<_> = ranked.iter().map(|c| c.doc.external_id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "d"]);
        assert_eq!(dedupe_and_rank(ranked, 2).len(), 2);
    }

    #[test]
    fn one_fingerprint_is_kept_as_is_and_several_combine_independently_of_order() {
        assert_eq!(combined_fingerprint(&[]), None);
        let local = ("local".to_string(), "abc".to_string());
        let kb = ("kb".to_string(), "def".to_string());
        assert_eq!(
            combined_fingerprint(std::slice::from_ref(&local)),
            Some("abc".into())
        );
        let both = combined_fingerprint(&[local.clone(), kb.clone()]);
        assert_eq!(both, combined_fingerprint(&[kb, local]));
        assert_eq!(both.map(|f| f.len()), Some(64));
    }
}
