//! Reading the run's evidence back for the stages after `ingest`: the ingest output gives each source's
//! text blob key and snippet spans; the snippet texts are sliced from the blob (one read per source),
//! so no stage output has to carry document text.

use crate::model::{Evidence, EvidenceSnippet, EvidenceSource, IngestOutput};
use crate::{StageContext, StageError};
use researchops_core::{Stage, StoreError};

/// A snapshot's text: its blob, which must exist and be UTF-8.
pub(crate) async fn read_text(cx: &StageContext<'_>, sha256: &str) -> Result<String, StageError> {
    let bytes = cx.blobs.get(sha256).await.map_err(|e| match e {
        StoreError::NotFound => {
            StageError::internal(format!("the text blob {sha256} of a snapshot is missing"))
        }
        other => StageError::from_store(other),
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|e| StageError::internal(format!("the text blob {sha256} is not UTF-8: {e}")))
}

impl Evidence {
    /// The ingest output joined with its snapshots' texts.
    pub(crate) async fn load(cx: &StageContext<'_>) -> Result<Evidence, StageError> {
        let ingest: IngestOutput = cx.output(Stage::Ingest)?;
        let mut sources = Vec::with_capacity(ingest.sources.len());
        for source in ingest.sources {
            cx.checkpoint()?;
            let key = source.text_key().to_owned();
            let text = read_text(cx, &key).await?;
            let snippets = source
                .snippets
                .iter()
                .map(|span| {
                    let slice = usize::try_from(span.start_byte)
                        .ok()
                        .zip(usize::try_from(span.end_byte).ok())
                        .and_then(|(start, end)| text.get(start..end));
                    let Some(slice) = slice else {
                        return Err(StageError::internal(format!(
                            "snippet {} ({}..{}) is not within the text blob {key}",
                            span.id, span.start_byte, span.end_byte
                        )));
                    };
                    Ok(EvidenceSnippet {
                        id: span.id,
                        source_id: source.id,
                        text: slice.to_owned(),
                        start_byte: span.start_byte,
                        end_byte: span.end_byte,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            sources.push(EvidenceSource {
                id: source.id,
                meta: source.meta,
                sha256: source.sha256,
                text_sha256: key,
                rank: source.rank,
                snippets,
            });
        }
        Ok(Evidence { sources })
    }
}
