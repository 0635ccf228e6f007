//! `retrieve`: ask every selected connector for documents matching the question, deduplicate them and
//! keep the best `max_sources`. No document at all is a failed run (`no_evidence`); a connector that is
//! not available is a `warn` event, not a failure.

use crate::model::{RetrieveOutput, RetrievedDoc};
use crate::{StageContext, StageError, to_value, usage};
use researchops_core::{FailureCode, NewEvent, Stage, StageCommit};
use std::collections::HashSet;

pub(crate) async fn retrieve(cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
    let question = cx.run.question.clone();
    let keep = cx.run.options.max_sources as usize;
    let mut documents: Vec<RetrievedDoc> = Vec::new();
    let mut corpus_fingerprint = None;
    for source in &cx.run.sources {
        cx.checkpoint()?;
        match (source.as_str(), &cx.connectors.local) {
            ("local", Some(local)) => {
                corpus_fingerprint = Some(local.corpus().fingerprint().to_string());
                let local = local.clone();
                let query = question.clone();
                // Over-fetch so deduplication can still leave `keep` documents.
                let found =
                    tokio::task::spawn_blocking(move || -> Result<Vec<RetrievedDoc>, String> {
                        let hits = local.search(&query, keep * 2).map_err(|e| e.to_string())?;
                        Ok(hits
                            .into_iter()
                            .map(|(score, doc)| RetrievedDoc {
                                connector: "local".into(),
                                external_id: doc.id.clone(),
                                title: doc.title.clone(),
                                text: doc.text.clone(),
                                sentences: doc.sentences.clone(),
                                authors: Vec::new(),
                                year: None,
                                doi: None,
                                url: None,
                                score: f64::from(score),
                            })
                            .collect())
                    })
                    .await
                    .map_err(|e| StageError::internal(format!("local search task failed: {e}")))?
                    .map_err(|e| StageError::internal(format!("local search failed: {e}")))?;
                cx.progress.emit(
                    NewEvent::info(
                        researchops_core::EventType::Log,
                        Some(Stage::Retrieve),
                        format!("local: {} documents", found.len()),
                    )
                    .with_payload(
                        serde_json::json!({ "connector": "local", "documents": found.len() }),
                    ),
                );
                documents.extend(found);
            }
            (name, _) => cx.progress.emit(NewEvent::warn(
                Some(Stage::Retrieve),
                format!("source `{name}` is not available on this server; skipped"),
            )),
        }
    }
    let documents = dedupe_and_rank(documents, keep);
    if documents.is_empty() {
        return Err(StageError::Fatal {
            code: FailureCode::NoEvidence,
            reason: format!(
                "no document in the selected sources ({}) matches any term of the question",
                cx.run.sources.join(", ")
            ),
        });
    }
    let count = documents.len();
    let output = RetrieveOutput {
        query: question,
        corpus_fingerprint,
        documents,
    };
    Ok(StageCommit {
        output: to_value(&output)?,
        usage: usage(&[("documents_retrieved", count)]),
        message: format!("retrieved {count} documents"),
        ..StageCommit::default()
    })
}

fn title_key(title: &str) -> String {
    title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Best score first, ties by (connector, id); drops later duplicates of a DOI or normalised title.
fn dedupe_and_rank(mut docs: Vec<RetrievedDoc>, keep: usize) -> Vec<RetrievedDoc> {
    docs.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.connector.cmp(&b.connector))
            .then_with(|| a.external_id.cmp(&b.external_id))
    });
    let mut seen = HashSet::new();
    docs.retain(|d| {
        let mut keys = vec![format!("id:{}:{}", d.connector, d.external_id)];
        if let Some(doi) = &d.doi {
            keys.push(format!("doi:{}", doi.to_lowercase()));
        }
        let title = title_key(&d.title);
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

    fn doc(id: &str, title: &str, score: f64) -> RetrievedDoc {
        RetrievedDoc {
            connector: "local".into(),
            external_id: id.into(),
            title: title.into(),
            text: String::new(),
            sentences: None,
            authors: vec![],
            year: None,
            doi: None,
            url: None,
            score,
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
        let ids: Vec<_> = ranked.iter().map(|d| d.external_id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "d"]);
        assert_eq!(dedupe_and_rank(ranked, 2).len(), 2);
    }
}
