//! The stage outputs (checkpoints) and the report model. Each is JSON in the store; later stages and
//! resumed runs read them back, so their shape is part of the on-disk format. Outputs reference
//! document text by blob key ([`SnapshotRef`], [`IngestedSource`]) instead of embedding it; the
//! fields marked "before snapshots moved to `retrieve`" only read checkpoints of older binaries.

use chrono::{DateTime, Utc};
use researchops_core::{SnippetId, SourceId, Verdict};
use serde::{Deserialize, Serialize};

/// Where a snapshot's two blobs are: the bytes as the source served them and the UTF-8 text extracted
/// from them (the same blob for plain-text sources). Stage outputs carry these keys, never the text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRef {
    /// Hex SHA-256 of the raw bytes (their blob key).
    pub sha256: String,
    /// Size of the raw bytes.
    pub size_bytes: u64,
    /// Media type of the raw bytes.
    pub mime_type: String,
    /// Hex SHA-256 of the extracted text (its blob key).
    pub text_sha256: String,
    /// Size of the text in bytes.
    pub text_size_bytes: u64,
    /// When the connector returned it.
    pub retrieved_at: DateTime<Utc>,
}

/// A document a connector returned, snapshotted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievedDoc {
    /// The connector.
    pub connector: String,
    /// The connector's id for it.
    pub external_id: String,
    /// Title.
    pub title: String,
    /// Its blobs. `None` only in outputs written before snapshots moved to `retrieve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotRef>,
    /// Byte ranges `[start, end)` of the source's own sentence split of the text, when it has one
    /// that matches the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentence_spans: Option<Vec<(usize, usize)>>,
    /// Full text: only in outputs written before snapshots moved to `retrieve` (read, never written).
    #[serde(default, skip_serializing)]
    pub text: Option<String>,
    /// Pre-split sentences: only in outputs written before snapshots moved to `retrieve`.
    #[serde(default, skip_serializing)]
    pub sentences: Option<Vec<String>>,
    /// Authors.
    pub authors: Vec<String>,
    /// Year.
    pub year: Option<i32>,
    /// DOI.
    pub doi: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Journal, proceedings or repository (absent in older outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    /// arXiv identifier (absent in older outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arxiv_id: Option<String>,
    /// Whether the source is known to be retracted (absent in older outputs).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retracted: bool,
    /// Retrieval score.
    pub score: f64,
}

impl RetrievedDoc {
    /// Its metadata, as `ingest` records it.
    pub fn meta(&self) -> SourceMeta {
        SourceMeta {
            connector: self.connector.clone(),
            external_id: self.external_id.clone(),
            title: self.title.clone(),
            authors: self.authors.clone(),
            year: self.year,
            doi: self.doi.clone(),
            url: self.url.clone(),
            venue: self.venue.clone(),
            arxiv_id: self.arxiv_id.clone(),
            retracted: self.retracted,
        }
    }
}

/// Output of `retrieve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RetrieveOutput {
    /// The query sent to the connectors.
    pub query: String,
    /// Fingerprint of the fixed content searched: the one connector's that has one (the local
    /// corpus), or a hash over `name:fingerprint` lines when several have one; `None` for none.
    pub corpus_fingerprint: Option<String>,
    /// The sentence model whose cosines joined the relevance decision (`None`: lexical only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_model: Option<String>,
    /// Kept documents, best first.
    pub documents: Vec<RetrievedDoc>,
}

/// A snippet as `ingest` records it: its place in the snapshot's text, not the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetSpan {
    /// Snippet id.
    pub id: SnippetId,
    /// Byte offset into the snapshot text.
    pub start_byte: i64,
    /// End offset (exclusive).
    pub end_byte: i64,
}

/// What is known about a source, shared by [`IngestedSource`] and [`EvidenceSource`] and flattened
/// into their JSON. The fields added after the first release (`venue`, `arxiv_id`, `retracted`) are
/// left out when unknown and default when absent, so older stage outputs still decode. `venue` and
/// `arxiv_id` are also stored on the `sources` row; `retracted` lives only in stage outputs and the
/// report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceMeta {
    /// Connector.
    pub connector: String,
    /// Connector id.
    pub external_id: String,
    /// Title.
    pub title: String,
    /// Authors.
    pub authors: Vec<String>,
    /// Year.
    pub year: Option<i32>,
    /// DOI.
    pub doi: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Journal, proceedings or repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    /// arXiv identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arxiv_id: Option<String>,
    /// Whether the source is known to be retracted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retracted: bool,
}

impl SourceMeta {
    /// `connector:external_id`, how the report locates a source.
    pub fn locator(&self) -> String {
        format!("{}:{}", self.connector, self.external_id)
    }
}

/// A source as `ingest` records it: metadata, blob keys and snippet spans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestedSource {
    /// Source id.
    pub id: SourceId,
    /// Metadata.
    #[serde(flatten)]
    pub meta: SourceMeta,
    /// Hash of the snapshot's raw bytes.
    pub sha256: String,
    /// Hash of the snapshot's text; absent in outputs written when raw bytes and text were one blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_sha256: Option<String>,
    /// Rank (1 = best).
    pub rank: i32,
    /// Snippets in document order.
    pub snippets: Vec<SnippetSpan>,
}

impl IngestedSource {
    /// The blob key of the text the snippet offsets index into.
    pub fn text_key(&self) -> &str {
        self.text_sha256.as_deref().unwrap_or(&self.sha256)
    }
}

/// Output of `ingest`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IngestOutput {
    /// Sources in rank order.
    pub sources: Vec<IngestedSource>,
}

impl IngestOutput {
    /// All snippet spans, in source rank then document order.
    pub fn snippets(&self) -> impl Iterator<Item = &SnippetSpan> {
        self.sources.iter().flat_map(|s| s.snippets.iter())
    }
}

/// A snippet as later stages use it, with its text read from the snapshot's text blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceSnippet {
    /// Snippet id.
    pub id: SnippetId,
    /// Its source.
    pub source_id: SourceId,
    /// Exact text: `snapshot_text[start_byte..end_byte]`.
    pub text: String,
    /// Byte offsets into the snapshot text.
    pub start_byte: i64,
    /// End offset (exclusive).
    pub end_byte: i64,
}

/// A source as later stages use it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceSource {
    /// Source id.
    pub id: SourceId,
    /// Metadata.
    #[serde(flatten)]
    pub meta: SourceMeta,
    /// Hash of the snapshot's raw bytes.
    pub sha256: String,
    /// Hash of the snapshot's text.
    pub text_sha256: String,
    /// Rank (1 = best).
    pub rank: i32,
    /// Snippets in document order.
    pub snippets: Vec<EvidenceSnippet>,
}

/// The run's evidence with snippet texts, as `outline`, `draft`, `factcheck` and `export` read it:
/// `ingest`'s output joined with the snapshots' text blobs. Built in memory, never stored.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// Sources in rank order.
    pub sources: Vec<EvidenceSource>,
}

impl Evidence {
    /// All snippets, in source rank then document order.
    pub fn snippets(&self) -> impl Iterator<Item = &EvidenceSnippet> {
        self.sources.iter().flat_map(|s| s.snippets.iter())
    }
}

/// A planned section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SectionPlan {
    /// Title.
    pub title: String,
    /// Its distinctive terms.
    pub terms: Vec<String>,
    /// Candidate snippets with their relevance to the question, best first.
    pub candidates: Vec<(SnippetId, f32)>,
}

/// Output of `outline`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutlineOutput {
    /// Sections in report order.
    pub sections: Vec<SectionPlan>,
}

/// A claim as drafted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftClaim {
    /// `c1`, `c2`, … in report order.
    pub claim_id: String,
    /// The sentence.
    pub text: String,
    /// Cited snippets.
    pub snippet_ids: Vec<SnippetId>,
}

/// A drafted section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftSection {
    /// Title.
    pub title: String,
    /// Claims in order.
    pub claims: Vec<DraftClaim>,
}

/// Output of `draft`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DraftOutput {
    /// Sections.
    pub sections: Vec<DraftSection>,
}

/// Output of `validate`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ValidateOutput {
    /// Claim ids whose citations do not resolve to the run's evidence, with the reason.
    pub invalid_claims: Vec<(String, String)>,
    /// Problems with the report's structure (empty sections, duplicates, …).
    pub issues: Vec<String>,
}

/// A claim with its verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckedClaim {
    /// Claim id.
    pub claim_id: String,
    /// Section title.
    pub section: String,
    /// Text.
    pub text: String,
    /// Cited snippets.
    pub snippet_ids: Vec<SnippetId>,
    /// Support in [0, 1]: by the cited snippet, scaled by relevance to the question.
    pub support: f64,
    /// Verdict.
    pub verdict: Verdict,
    /// Relevance to the question in [0, 1]: the share of its key-term weight the claim carries, or
    /// its closeness in meaning on the same scale when embeddings are on and that is higher.
    #[serde(default)]
    pub relevance: f64,
    /// Why it is not `supported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Output of `factcheck`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FactcheckOutput {
    /// Every drafted claim with its verdict, in drafted order (section by section, best-ranked first;
    /// `export` reorders each section's supported claims to read as a brief).
    pub claims: Vec<CheckedClaim>,
    /// Fewer than `min_supported_share` of the drafted claims were supported.
    #[serde(default)]
    pub completed_with_gaps: bool,
}

/// The finished report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The question.
    pub question: String,
    /// `completed`, or `completed_with_gaps` when fewer than `min_supported_share` of the drafted
    /// claims were supported.
    #[serde(default = "completed")]
    pub finish_reason: String,
    /// The sentences that most directly answer the question, each cited (they may also appear in
    /// their section).
    #[serde(default)]
    pub key_findings: KeyFindings,
    /// Sections with only supported claims.
    pub sections: Vec<ReportSection>,
    /// Drafted claims left out of the report, with the reason.
    #[serde(default)]
    pub removed_claims: Vec<RemovedClaim>,
    /// Cited sources, numbered in order of first citation.
    /// (`report.json`: `{ref, source_id, title, authors, year, venue, doi, arxiv_id, url, retracted}`.)
    pub references: Vec<Reference>,
}

fn completed() -> String {
    "completed".into()
}

/// The "Key findings" paragraph.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyFindings {
    /// The paragraph as prose with `[n]` citations.
    pub text: String,
    /// Its claims, most relevant to the question first.
    pub claims: Vec<ReportClaim>,
}

/// A drafted claim the fact check kept out of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemovedClaim {
    /// Claim id.
    pub claim_id: String,
    /// Text.
    pub text: String,
    /// Cited snippets.
    pub snippet_ids: Vec<SnippetId>,
    /// `weak` or `unsupported`.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
}

/// A report section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportSection {
    /// Title.
    pub title: String,
    /// The section as prose with `[n]` citations.
    pub text: String,
    /// Its claims, in the order they read as a brief (see `export::brief`).
    pub claims: Vec<ReportClaim>,
}

/// A claim in the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportClaim {
    /// Claim id.
    pub claim_id: String,
    /// Text.
    pub text: String,
    /// Cited snippets.
    pub snippet_ids: Vec<SnippetId>,
    /// Reference numbers it cites.
    #[serde(skip_serializing, default)]
    pub refs: Vec<usize>,
    /// Verdict.
    pub verdict: Verdict,
    /// Support in [0, 1].
    #[serde(default)]
    pub support: f64,
}

/// A numbered reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Its number (1-based).
    #[serde(rename = "ref")]
    pub number: usize,
    /// Source id.
    pub source_id: SourceId,
    /// Title.
    pub title: String,
    /// Authors.
    pub authors: Vec<String>,
    /// Year.
    pub year: Option<i32>,
    /// Journal, proceedings or repository (`null` when unknown).
    #[serde(default)]
    pub venue: Option<String>,
    /// DOI.
    pub doi: Option<String>,
    /// arXiv identifier (`null` when unknown).
    #[serde(default)]
    pub arxiv_id: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Whether the source is known to be retracted (`false` unless a source says so).
    #[serde(default)]
    pub retracted: bool,
    /// `connector:external_id`.
    #[serde(skip_serializing, default)]
    pub locator: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_metadata_is_flattened_and_older_outputs_still_decode() {
        let source = SourceId::new();
        let snippet = SnippetId::new();
        // The shape `ingest` wrote before the metadata had its own struct.
        let old = serde_json::json!({
            "id": source, "connector": "local", "external_id": "42", "title": "T",
            "authors": ["A. Author"], "year": 2020, "doi": null, "url": null,
            "sha256": "abc", "rank": 1,
            "snippets": [{"id": snippet, "start_byte": 0, "end_byte": 5}],
        });
        let decoded: IngestedSource =
            serde_json::from_value(old.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.meta.title, "T");
        assert_eq!(decoded.meta.venue, None);
        assert!(!decoded.meta.retracted);
        assert_eq!(
            serde_json::to_value(&decoded).ok(),
            Some(old),
            "unknown new metadata leaves the JSON as it was"
        );
        let mut with_venue = decoded;
        with_venue.meta.venue = Some("Bone".into());
        with_venue.meta.arxiv_id = Some("2101.00001".into());
        let json = serde_json::to_value(&with_venue).unwrap_or_default();
        assert_eq!(json["venue"], "Bone");
        assert_eq!(json["arxiv_id"], "2101.00001");
        assert!(json.get("meta").is_none() && json.get("retracted").is_none());
    }
}
