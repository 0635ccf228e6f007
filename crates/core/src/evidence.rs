//! Evidence and outputs of a run: sources, immutable snapshots, citeable snippets, the claim map and
//! artifacts. Rows are written once by the stage that produces them and never updated.

use crate::failure::FailureCode;
use crate::ids::{ArtifactId, RunId, SnapshotId, SnippetId, SourceId};
use crate::run::Stage;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A document a connector found for a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Source {
    /// The source's id.
    pub id: SourceId,
    /// The run that found it.
    pub run_id: RunId,
    /// The connector (`local`, `openalex`, …).
    pub connector: String,
    /// The connector's own id for it (corpus `_id`, DOI, …).
    pub external_id: String,
    /// Title.
    pub title: String,
    /// Authors, in order.
    pub authors: Vec<String>,
    /// Publication year.
    pub year: Option<i32>,
    /// DOI without the resolver prefix.
    pub doi: Option<String>,
    /// Where it can be read.
    pub url: Option<String>,
    /// Journal, proceedings or repository, when the connector knows it.
    #[serde(default)]
    pub venue: Option<String>,
    /// arXiv identifier (`2101.00001`), when the connector knows it.
    #[serde(default)]
    pub arxiv_id: Option<String>,
    /// Rank in retrieval (1 = best).
    pub rank: i32,
    /// Retrieval score.
    pub score: f64,
}

/// A source as retrieved: two content-addressed blobs, the bytes as served and the UTF-8 text
/// extracted from them (the same blob when the source served plain text). Snippet offsets index into
/// the text blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// The snapshot's id.
    pub id: SnapshotId,
    /// Its source.
    pub source_id: SourceId,
    /// Hex SHA-256 of the bytes as served (also their blob key).
    pub sha256: String,
    /// Size of the bytes.
    pub size_bytes: i64,
    /// Media type of the bytes.
    pub mime_type: String,
    /// Hex SHA-256 of the extracted UTF-8 text (also its blob key).
    pub text_sha256: String,
    /// Size of the text in bytes.
    pub text_size_bytes: i64,
    /// When it was taken.
    pub retrieved_at: DateTime<Utc>,
}

/// A citeable span (a sentence) of a snapshot's UTF-8 text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Snippet {
    /// The snippet's id (what claims cite).
    pub id: SnippetId,
    /// Its snapshot.
    pub snapshot_id: SnapshotId,
    /// Its source.
    pub source_id: SourceId,
    /// Position within the snapshot (0-based).
    pub ord: i32,
    /// The exact text: `snapshot_text[start_byte..end_byte]`.
    pub text: String,
    /// Byte offset of the first byte.
    pub start_byte: i64,
    /// Byte offset one past the last byte.
    pub end_byte: i64,
}

/// A source with its snapshot and snippets, as ingest commits them together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceRecord {
    /// The source.
    pub source: Source,
    /// Its snapshot.
    pub snapshot: Snapshot,
    /// The snapshot's snippets, in order.
    pub snippets: Vec<Snippet>,
}

/// Verdict of the factcheck on a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The cited evidence states it.
    Supported,
    /// The cited evidence partly supports it.
    Weak,
    /// The cited evidence does not support it.
    Unsupported,
}

impl Verdict {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Weak => "weak",
            Verdict::Unsupported => "unsupported",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "supported" => Some(Verdict::Supported),
            "weak" => Some(Verdict::Weak),
            "unsupported" => Some(Verdict::Unsupported),
            _ => None,
        }
    }
}

/// One row of the claim map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Claim {
    /// Stable within the run (`c1`, `c2`, …).
    pub claim_id: String,
    /// The section title it appears under.
    pub section: String,
    /// The claim's text.
    pub text: String,
    /// The snippets it cites.
    pub snippet_ids: Vec<SnippetId>,
    /// Support score in [0, 1].
    pub support: f64,
    /// The verdict.
    pub verdict: Verdict,
}

/// The files a run's export produces: the one definition of their file names, categories and media
/// types that the pipeline, the HTTP API and the CLI share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArtifactKind {
    /// `report.md`: the report as Markdown.
    ReportMd,
    /// `report.html`: the report as a standalone HTML page.
    ReportHtml,
    /// `report.json`: the report model.
    ReportJson,
    /// `references.bib`: the cited references as BibTeX.
    ReferencesBib,
    /// `references.ris`: the cited references as RIS.
    ReferencesRis,
    /// `context_bundle.json`: question, settings, corpus fingerprint, sources, cited snippets, claims.
    ContextBundle,
}

impl ArtifactKind {
    /// Every kind, in the order export writes them.
    pub const ALL: [ArtifactKind; 6] = [
        ArtifactKind::ReportMd,
        ArtifactKind::ReportHtml,
        ArtifactKind::ReportJson,
        ArtifactKind::ReferencesBib,
        ArtifactKind::ReferencesRis,
        ArtifactKind::ContextBundle,
    ];

    /// The file name (the artifact's `name`).
    pub fn file_name(self) -> &'static str {
        match self {
            ArtifactKind::ReportMd => "report.md",
            ArtifactKind::ReportHtml => "report.html",
            ArtifactKind::ReportJson => "report.json",
            ArtifactKind::ReferencesBib => "references.bib",
            ArtifactKind::ReferencesRis => "references.ris",
            ArtifactKind::ContextBundle => "context_bundle.json",
        }
    }

    /// The category stored in the artifact's `kind`: `report`, `references` or `context`.
    pub fn category(self) -> &'static str {
        match self {
            ArtifactKind::ReportMd | ArtifactKind::ReportHtml | ArtifactKind::ReportJson => {
                "report"
            }
            ArtifactKind::ReferencesBib | ArtifactKind::ReferencesRis => "references",
            ArtifactKind::ContextBundle => "context",
        }
    }

    /// The media type it is served with.
    pub fn media_type(self) -> &'static str {
        match self {
            ArtifactKind::ReportMd => "text/markdown; charset=utf-8",
            ArtifactKind::ReportHtml => "text/html; charset=utf-8",
            ArtifactKind::ReportJson | ArtifactKind::ContextBundle => "application/json",
            ArtifactKind::ReferencesBib => "application/x-bibtex; charset=utf-8",
            ArtifactKind::ReferencesRis => "application/x-research-info-systems; charset=utf-8",
        }
    }

    /// The kind with this file name.
    pub fn from_file_name(name: &str) -> Option<ArtifactKind> {
        ArtifactKind::ALL
            .into_iter()
            .find(|k| k.file_name() == name)
    }
}

impl std::fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.file_name())
    }
}

/// A file a run produced, stored as a blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Artifact {
    /// The artifact's id.
    pub id: ArtifactId,
    /// The run.
    pub run_id: RunId,
    /// File name, e.g. `report.md` (see [`ArtifactKind::file_name`]).
    pub name: String,
    /// `report`, `context` or `references`.
    pub kind: String,
    /// Media type.
    pub mime_type: String,
    /// Size.
    pub size_bytes: i64,
    /// Hex SHA-256 (the blob key and the ETag).
    pub sha256: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// What a finished stage commits, atomically with its checkpoint and `stage_finish` event.
#[derive(Clone, Debug, Default)]
pub struct StageCommit {
    /// The stage's output, read back by later stages and after a crash.
    pub output: serde_json::Value,
    /// Evidence rows (ingest).
    pub evidence: Vec<EvidenceRecord>,
    /// Claim-map rows (factcheck).
    pub claims: Vec<Claim>,
    /// Artifact rows whose blobs are already stored (export).
    pub artifacts: Vec<Artifact>,
    /// Counters merged into the run's `usage`.
    pub usage: serde_json::Map<String, serde_json::Value>,
    /// The `stage_finish` event's message.
    pub message: String,
    /// How long the stage ran, in milliseconds: set by the worker, carried by the `stage_finish` event's
    /// payload as `duration_ms` (not merged into the run's `usage`).
    pub duration_ms: u64,
}

impl StageCommit {
    /// The `stage_finish` event's payload: the stage's counters and its `duration_ms`.
    pub fn finish_payload(&self) -> serde_json::Value {
        let mut payload = self.usage.clone();
        payload.insert("duration_ms".into(), self.duration_ms.into());
        serde_json::Value::Object(payload)
    }
}

/// How a run ended, as the worker reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEnd {
    /// All stages committed.
    Succeeded,
    /// A fatal error.
    Failed {
        /// Stable code.
        code: FailureCode,
        /// Reason for people.
        reason: String,
        /// The stage it failed in.
        stage: Option<Stage>,
    },
    /// Cancellation was requested and honoured.
    Canceled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_kinds_round_trip_through_their_file_names() {
        for kind in ArtifactKind::ALL {
            assert_eq!(ArtifactKind::from_file_name(kind.file_name()), Some(kind));
        }
        assert_eq!(ArtifactKind::from_file_name("references.txt"), None);
        assert_eq!(ArtifactKind::ContextBundle.category(), "context");
        assert_eq!(
            ArtifactKind::from_file_name("references.bib"),
            Some(ArtifactKind::ReferencesBib)
        );
        assert_eq!(ArtifactKind::ReferencesRis.category(), "references");
        assert!(
            ArtifactKind::ReferencesRis
                .media_type()
                .starts_with("application/x-research-info-systems")
        );
        assert!(
            ArtifactKind::ReferencesBib
                .media_type()
                .starts_with("application/x-bibtex")
        );
        assert_eq!(
            ArtifactKind::ReportHtml.media_type(),
            "text/html; charset=utf-8"
        );
    }
}
