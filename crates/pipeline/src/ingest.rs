//! `ingest`: cut every retrieved document's text (read back from its snapshot's text blob) into
//! sentence snippets with exact byte offsets into that text, and commit sources, snapshots and
//! snippets as evidence rows. The output lists each source's blob keys and snippet spans, not text.

use crate::model::{
    IngestOutput, IngestedSource, RetrieveOutput, RetrievedDoc, SnapshotRef, SnippetSpan,
};
use crate::retrieve::TEXT_MIME;
use crate::{StageContext, StageError, to_value, usage};
use bytes::Bytes;
use chrono::Utc;
use researchops_core::{
    EvidenceRecord, NewEvent, Snapshot, SnapshotId, Snippet, SnippetId, Source, SourceId, Stage,
    StageCommit,
};
use researchops_search::text::{align_sentences, split_sentences};
use std::ops::Range;

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
        let (snapshot, text) = snapshot_text(cx, doc).await?;
        let source_id = SourceId::new();
        let snapshot_id = SnapshotId::new();
        let ranges: Vec<Range<usize>> = match (&doc.sentence_spans, &doc.sentences) {
            (Some(spans), _) if !spans.is_empty() => spans.iter().map(|&(s, e)| s..e).collect(),
            (_, Some(sentences)) if !sentences.is_empty() => align_sentences(&text, sentences),
            _ => split_sentences(&text),
        };
        let snippets: Vec<Snippet> = ranges
            .into_iter()
            .filter(|r| r.len() <= MAX_SNIPPET_BYTES)
            .map(|r| match text.get(r.clone()) {
                Some(t) => Ok((r, t)),
                None => Err(StageError::internal(format!(
                    "sentence span {r:?} of {} is not within its text",
                    doc.external_id
                ))),
            })
            .enumerate()
            .map(|(ord, span)| {
                let (r, t) = span?;
                Ok(Snippet {
                    id: SnippetId::new(),
                    snapshot_id,
                    source_id,
                    ord: ord as i32,
                    text: t.to_owned(),
                    start_byte: r.start as i64,
                    end_byte: r.end as i64,
                })
            })
            .collect::<Result<_, StageError>>()?;
        snippet_count += snippets.len();
        sources.push(IngestedSource {
            id: source_id,
            meta: doc.meta(),
            sha256: snapshot.sha256.clone(),
            text_sha256: Some(snapshot.text_sha256.clone()),
            rank,
            snippets: snippets
                .iter()
                .map(|s| SnippetSpan {
                    id: s.id,
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
                venue: doc.venue.clone(),
                arxiv_id: doc.arxiv_id.clone(),
                rank,
                score: doc.score,
            },
            snapshot: Snapshot {
                id: snapshot_id,
                source_id,
                sha256: snapshot.sha256,
                size_bytes: snapshot.size_bytes as i64,
                mime_type: snapshot.mime_type,
                text_sha256: snapshot.text_sha256,
                text_size_bytes: snapshot.text_size_bytes as i64,
                retrieved_at: snapshot.retrieved_at,
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

/// The document's snapshot and its text: read from the text blob `retrieve` stored, or, for a
/// checkpoint written before snapshots moved to `retrieve`, stored now from the text it embeds.
async fn snapshot_text(
    cx: &StageContext<'_>,
    doc: &RetrievedDoc,
) -> Result<(SnapshotRef, String), StageError> {
    if let Some(snapshot) = &doc.snapshot {
        let text = crate::evidence::read_text(cx, &snapshot.text_sha256).await?;
        return Ok((snapshot.clone(), text));
    }
    let Some(text) = doc.text.clone() else {
        return Err(StageError::internal(format!(
            "retrieved document {} has neither a snapshot nor text",
            doc.external_id
        )));
    };
    let blob = cx
        .blobs
        .put(Bytes::from(text.clone()))
        .await
        .map_err(StageError::from_store)?;
    let snapshot = SnapshotRef {
        sha256: blob.sha256.clone(),
        size_bytes: blob.size_bytes,
        mime_type: TEXT_MIME.to_owned(),
        text_sha256: blob.sha256,
        text_size_bytes: blob.size_bytes,
        retrieved_at: Utc::now(),
    };
    Ok((snapshot, text))
}
