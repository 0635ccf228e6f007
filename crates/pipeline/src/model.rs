//! The stage outputs (checkpoints) and the report model. Each is JSON in the store; later stages and
//! resumed runs read them back, so their shape is part of the on-disk format.

use researchops_core::{SnippetId, SourceId, Verdict};
use serde::{Deserialize, Serialize};

/// A document a connector returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievedDoc {
    /// The connector.
    pub connector: String,
    /// The connector's id for it.
    pub external_id: String,
    /// Title.
    pub title: String,
    /// Full text (the snapshot's content).
    pub text: String,
    /// Pre-split sentences when the corpus has them.
    pub sentences: Option<Vec<String>>,
    /// Authors.
    pub authors: Vec<String>,
    /// Year.
    pub year: Option<i32>,
    /// DOI.
    pub doi: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Retrieval score.
    pub score: f64,
}

/// Output of `retrieve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RetrieveOutput {
    /// The query sent to the connectors.
    pub query: String,
    /// Fingerprint of the local corpus searched (if any).
    pub corpus_fingerprint: Option<String>,
    /// Kept documents, best first.
    pub documents: Vec<RetrievedDoc>,
}

/// A snippet as later stages use it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceSnippet {
    /// Snippet id.
    pub id: SnippetId,
    /// Its source.
    pub source_id: SourceId,
    /// Exact text.
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
    /// Snapshot hash.
    pub sha256: String,
    /// Rank (1 = best).
    pub rank: i32,
    /// Snippets in document order.
    pub snippets: Vec<EvidenceSnippet>,
}

/// Output of `ingest`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IngestOutput {
    /// Sources in rank order.
    pub sources: Vec<EvidenceSource>,
}

impl IngestOutput {
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
    /// Support in [0, 1].
    pub support: f64,
    /// Verdict.
    pub verdict: Verdict,
}

/// Output of `factcheck`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FactcheckOutput {
    /// Every drafted claim with its verdict, in report order.
    pub claims: Vec<CheckedClaim>,
}

/// The finished report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The question.
    pub question: String,
    /// Sections with only supported claims.
    pub sections: Vec<ReportSection>,
    /// Cited sources, numbered in order of first citation.
    pub references: Vec<Reference>,
}

/// A report section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportSection {
    /// Title.
    pub title: String,
    /// The section as prose with `[n]` citations.
    pub text: String,
    /// Its claims.
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
    /// DOI.
    pub doi: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// `connector:external_id`.
    #[serde(skip_serializing, default)]
    pub locator: String,
}
