//! `ingest`: snapshot every retrieved document (bytes → content-addressed blob) and cut it into
//! sentence snippets with exact byte offsets into the snapshot's UTF-8 text.

use crate::model::{EvidenceSnippet, EvidenceSource, IngestOutput, RetrieveOutput};
use crate::{StageContext, StageError, to_value, usage};
use bytes::Bytes;
use chrono::Utc;
use researchops_core::{
    EvidenceRecord, NewEvent, Snapshot, SnapshotId, Snippet, SnippetId, Source, SourceId, Stage,
    StageCommit,
};
use researchops_search::text::{align_sentences, split_sentences};

/// Longest snippet kept, in bytes; longer "sentences" (tables, run-on text) are not citeable units.
const MAX_SNIPPET_BYTES: usize = 2_000;

pub(crate) async fn ingest(cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
    let retrieved: RetrieveOutput = cx.output(Stage::Retrieve)?;
    let total = retrieved.documents.len() as u64;
    let mut evidence = Vec::with_capacity(retrieved.documents.len());
    let mut sources = Vec::with_capacity(retrieved.documents.len());
    let mut snippet_count = 0;
    for (i, doc) in retrieved.documents.iter().enumerate() {
        cx.checkpoint()?;
        let rank = i as i32 + 1;
        let blob = cx
            .blobs
            .put(Bytes::from(doc.text.clone()))
            .await
            .map_err(StageError::from_store)?;
        let source_id = SourceId::new();
        let snapshot_id = SnapshotId::new();
        let ranges = match &doc.sentences {
            Some(sentences) if !sentences.is_empty() => align_sentences(&doc.text, sentences),
            _ => split_sentences(&doc.text),
        };
        let snippets: Vec<Snippet> = ranges
            .into_iter()
            .filter(|r| r.len() <= MAX_SNIPPET_BYTES)
            .enumerate()
            .map(|(ord, r)| Snippet {
                id: SnippetId::new(),
                snapshot_id,
                source_id,
                ord: ord as i32,
                text: doc.text[r.clone()].to_string(),
                start_byte: r.start as i64,
                end_byte: r.end as i64,
            })
            .collect();
        snippet_count += snippets.len();
        sources.push(EvidenceSource {
            id: source_id,
            connector: doc.connector.clone(),
            external_id: doc.external_id.clone(),
            title: doc.title.clone(),
            authors: doc.authors.clone(),
            year: doc.year,
            doi: doc.doi.clone(),
            url: doc.url.clone(),
            sha256: blob.sha256.clone(),
            rank,
            snippets: snippets
                .iter()
                .map(|s| EvidenceSnippet {
                    id: s.id,
                    source_id,
                    text: s.text.clone(),
                    start_byte: s.start_byte,
                    end_byte: s.end_byte,
                })
                .collect(),
        });
        evidence.push(EvidenceRecord {
            source: Source {
                id: source_id,
                run_id: cx.run.id,
                connector: doc.connector.clone(),
                external_id: doc.external_id.clone(),
                title: doc.title.clone(),
                authors: doc.authors.clone(),
                year: doc.year,
                doi: doc.doi.clone(),
                url: doc.url.clone(),
                rank,
                score: doc.score,
            },
            snapshot: Snapshot {
                id: snapshot_id,
                source_id,
                sha256: blob.sha256,
                size_bytes: blob.size_bytes as i64,
                mime_type: "text/plain; charset=utf-8".into(),
                retrieved_at: Utc::now(),
            },
            snippets,
        });
        cx.progress.emit(NewEvent::progress(
            Stage::Ingest,
            i as u64 + 1,
            total,
            format!("snapshotted {}", doc.title),
        ));
    }
    let count = sources.len();
    Ok(StageCommit {
        output: to_value(&IngestOutput { sources })?,
        evidence,
        usage: usage(&[("sources", count), ("snippets", snippet_count)]),
        message: format!("ingested {count} sources into {snippet_count} snippets"),
        ..StageCommit::default()
    })
}
