//! `export`: assemble the report from the supported claims and write `report.md`, `report.html`,
//! `report.json`, `references.bib`, `references.ris` and `context_bundle.json` as blobs. References
//! are numbered by source in order of first citation. The report opens with "Key findings" (the
//! supported claims most relevant to the question); each section's sentences are ordered to read as a
//! brief ([`brief`]); claims the fact check removed are listed in
//! `report.json` with the reason. The HTML page lives in [`html`], the bibliography files in
//! [`bibliography`] (author names and citation keys in [`names`]).

mod bibliography;
mod brief;
mod html;
mod names;

pub use bibliography::{render_bibtex, render_ris};
pub use html::{Quote, render_html};

use crate::model::{
    CheckedClaim, Evidence, EvidenceSnippet, FactcheckOutput, KeyFindings, Reference, RemovedClaim,
    Report, ReportClaim, ReportSection, RetrieveOutput,
};
use crate::{PIPELINE_VERSION, StageContext, StageError, to_value, usage};
use brief::{Placed, brief_order};
use bytes::Bytes;
use chrono::Utc;
use researchops_core::{
    Artifact, ArtifactId, ArtifactKind, SnippetId, SourceId, Stage, StageCommit, Verdict,
};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// Builds the report model from the run's committed outputs.
pub(crate) fn build_report(question: &str, ingest: &Evidence, checked: &FactcheckOutput) -> Report {
    let snippets: HashMap<SnippetId, &EvidenceSnippet> =
        ingest.snippets().map(|s| (s.id, s)).collect();
    let sources: HashMap<SourceId, &crate::model::EvidenceSource> =
        ingest.sources.iter().map(|s| (s.id, s)).collect();
    // The supported claims by section, in drafted order (best-ranked first).
    let mut drafted: Vec<(&str, Vec<&CheckedClaim>)> = Vec::new();
    for claim in checked
        .claims
        .iter()
        .filter(|c| c.verdict == Verdict::Supported)
    {
        match drafted.last_mut() {
            Some((title, claims)) if *title == claim.section => claims.push(claim),
            _ => drafted.push((claim.section.as_str(), vec![claim])),
        }
    }
    let mut numbers: HashMap<SourceId, usize> = HashMap::new();
    let mut references = Vec::new();
    let mut sections: Vec<ReportSection> = Vec::with_capacity(drafted.len());
    for (title, claims) in drafted {
        let placed: Vec<Placed<'_>> = claims
            .iter()
            .map(|c| {
                let first = c.snippet_ids.first().and_then(|id| snippets.get(id));
                Placed {
                    source: first.map(|s| s.source_id),
                    start_byte: first.map_or(0, |s| s.start_byte),
                    text: &c.text,
                }
            })
            .collect();
        let mut section = ReportSection {
            title: title.to_owned(),
            text: String::new(),
            claims: Vec::with_capacity(claims.len()),
        };
        for claim in brief_order(&placed).into_iter().map(|i| claims[i]) {
            let mut refs = Vec::new();
            for snippet in &claim.snippet_ids {
                let Some(source_id) = snippets.get(snippet).map(|s| s.source_id) else {
                    continue;
                };
                let next = numbers.len() + 1;
                let number = *numbers.entry(source_id).or_insert_with(|| {
                    if let Some(s) = sources.get(&source_id) {
                        references.push(reference(next, s));
                    }
                    next
                });
                if !refs.contains(&number) {
                    refs.push(number);
                }
            }
            section.claims.push(ReportClaim {
                claim_id: claim.claim_id.clone(),
                text: claim.text.clone(),
                snippet_ids: claim.snippet_ids.clone(),
                refs,
                verdict: claim.verdict,
                support: claim.support,
            });
        }
        sections.push(section);
    }
    for section in &mut sections {
        section.text = prose(&section.claims);
    }
    let removed_claims = checked
        .claims
        .iter()
        .filter(|c| c.verdict != Verdict::Supported)
        .map(|c| RemovedClaim {
            claim_id: c.claim_id.clone(),
            text: c.text.clone(),
            snippet_ids: c.snippet_ids.clone(),
            verdict: c.verdict,
            reason: c.reason.clone().unwrap_or_else(|| "not supported".into()),
        })
        .collect();
    Report {
        question: question.to_string(),
        finish_reason: if checked.completed_with_gaps {
            researchops_core::decide::COMPLETED_WITH_GAPS.into()
        } else {
            "completed".into()
        },
        key_findings: key_findings(checked, &sections),
        sections,
        removed_claims,
        references,
    }
}

/// Reference `number` for a source.
fn reference(number: usize, source: &crate::model::EvidenceSource) -> Reference {
    let meta = &source.meta;
    let arxiv_id = meta
        .arxiv_id
        .clone()
        .or_else(|| meta.doi.as_deref().and_then(bibliography::arxiv_from_doi));
    Reference {
        number,
        source_id: source.id,
        title: meta.title.clone(),
        authors: meta.authors.clone(),
        year: meta.year,
        venue: meta.venue.clone(),
        doi: meta.doi.clone(),
        arxiv_id,
        url: meta.url.clone(),
        retracted: meta.retracted,
        locator: meta.locator(),
    }
}

/// The cited snippets in order of first citation, each with its source's reference number.
pub fn quotes(report: &Report, evidence: &Evidence) -> Vec<Quote> {
    let numbers: HashMap<SourceId, usize> = report
        .references
        .iter()
        .map(|r| (r.source_id, r.number))
        .collect();
    let snippets: HashMap<SnippetId, _> = evidence.snippets().map(|s| (s.id, s)).collect();
    let mut seen = HashSet::new();
    let mut quotes = Vec::new();
    for claim in report.sections.iter().flat_map(|s| &s.claims) {
        for id in &claim.snippet_ids {
            let Some(snippet) = snippets.get(id) else {
                continue;
            };
            let Some(&reference) = numbers.get(&snippet.source_id) else {
                continue;
            };
            if seen.insert(*id) {
                quotes.push(Quote {
                    snippet_id: *id,
                    reference,
                    text: snippet.text.clone(),
                    start_byte: snippet.start_byte,
                    end_byte: snippet.end_byte,
                });
            }
        }
    }
    quotes
}

/// How a reference is named: its title, or its locator when it has none.
pub(crate) fn reference_label(r: &Reference) -> String {
    let title = r.title.trim();
    if title.is_empty() {
        r.locator.clone()
    } else {
        title.to_owned()
    }
}

/// Key findings: at most this many sentences.
const KEY_FINDINGS_MAX: usize = 4;
/// Key findings: at least this many when the report has them.
const KEY_FINDINGS_MIN: usize = 2;
/// A key finding carries at least this share of the best finding's relevance (beyond the minimum).
const KEY_FINDINGS_FLOOR: f64 = 0.7;

/// The supported claims most relevant to the question, most relevant first (ties in drafted order,
/// not in the sections' brief order).
fn key_findings(checked: &FactcheckOutput, sections: &[ReportSection]) -> KeyFindings {
    let in_report: HashMap<&str, &ReportClaim> = sections
        .iter()
        .flat_map(|s| s.claims.iter())
        .map(|c| (c.claim_id.as_str(), c))
        .collect();
    let mut ranked: Vec<(f64, &ReportClaim)> = checked
        .claims
        .iter()
        .filter_map(|c| Some((c.relevance, *in_report.get(c.claim_id.as_str())?)))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let best = ranked.first().map_or(0.0, |r| r.0);
    let claims: Vec<ReportClaim> = ranked
        .iter()
        .enumerate()
        .take_while(|(i, (r, _))| *i < KEY_FINDINGS_MIN || *r >= KEY_FINDINGS_FLOOR * best)
        .take(KEY_FINDINGS_MAX)
        .map(|(_, (_, c))| (*c).clone())
        .collect();
    KeyFindings {
        text: prose(&claims),
        claims,
    }
}

/// Claims as prose with `[n]` citations.
fn prose(claims: &[ReportClaim]) -> String {
    claims
        .iter()
        .map(|c| format!("{} {}", c.text.trim(), cite(&c.refs)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The visible note of a report with gaps.
fn gaps_note(report: &Report) -> Option<String> {
    (report.finish_reason == researchops_core::decide::COMPLETED_WITH_GAPS).then(|| {
        let kept: usize = report.sections.iter().map(|s| s.claims.len()).sum();
        format!(
            "This report has gaps: only {kept} of the {} drafted sentences passed the fact check; \
             the others are listed with the reason under `removed_claims` in report.json.",
            kept + report.removed_claims.len()
        )
    })
}

fn cite(refs: &[usize]) -> String {
    refs.iter().map(|r| format!("[{r}]")).collect()
}

fn reference_line(r: &Reference) -> String {
    let mut line = reference_label(r).trim_end_matches('.').to_string();
    line.push('.');
    if !r.authors.is_empty() {
        let _ = write!(line, " {}", r.authors.join(", "));
    }
    if let Some(year) = r.year {
        let _ = write!(line, " ({year})");
    }
    if let Some(venue) = r.venue.as_deref().filter(|v| !v.trim().is_empty()) {
        let _ = write!(line, " _{}_", venue.trim());
    }
    if r.retracted {
        line.push_str(" **Retracted.**");
    }
    if let Some(doi) = &r.doi {
        let _ = write!(line, " https://doi.org/{doi}");
    } else if let Some(arxiv) = &r.arxiv_id {
        let _ = write!(line, " https://arxiv.org/abs/{arxiv}");
    } else if let Some(url) = &r.url {
        let _ = write!(line, " {url}");
    }
    let _ = write!(line, " `{}`", r.locator);
    line
}

/// The report as Markdown.
pub fn render_markdown(report: &Report) -> String {
    let mut md = format!("# {}\n\n", report.question.trim());
    let claims: usize = report.sections.iter().map(|s| s.claims.len()).sum();
    let _ = writeln!(
        md,
        "_An extractive report: each of its {claims} sentences is quoted from the cited evidence ({} sources)._\n",
        report.references.len()
    );
    if let Some(note) = gaps_note(report) {
        let _ = writeln!(md, "> **Note:** {note}\n");
    }
    if !report.key_findings.text.is_empty() {
        let _ = writeln!(md, "## Key findings\n\n{}\n", report.key_findings.text);
    }
    for section in &report.sections {
        let _ = writeln!(md, "## {}\n\n{}\n", section.title, section.text);
    }
    md.push_str("## References\n\n");
    for r in &report.references {
        let _ = writeln!(md, "{}. {}", r.number, reference_line(r));
    }
    md
}

pub(crate) async fn export(cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
    let retrieved: RetrieveOutput = cx.output(Stage::Retrieve)?;
    let ingest = Evidence::load(cx).await?;
    let checked: FactcheckOutput = cx.output(Stage::Factcheck)?;
    cx.checkpoint()?;
    let report = build_report(&cx.run.question, &ingest, &checked);
    cx.checkpoint()?;
    let used: Vec<serde_json::Value> = {
        let refs: HashMap<SourceId, usize> = report
            .references
            .iter()
            .map(|r| (r.source_id, r.number))
            .collect();
        let cited: HashSet<SnippetId> = report
            .sections
            .iter()
            .flat_map(|s| s.claims.iter().flat_map(|c| c.snippet_ids.iter().copied()))
            .collect();
        ingest
            .sources
            .iter()
            .flat_map(|s| s.snippets.iter().map(move |n| (s, n)))
            .filter(|(_, n)| cited.contains(&n.id))
            .map(|(s, n)| {
                serde_json::json!({
                    "snippet_id": n.id, "source_id": s.id, "ref": refs.get(&s.id), "text": n.text,
                    "start_byte": n.start_byte, "end_byte": n.end_byte, "snapshot_sha256": s.sha256,
                    "text_sha256": s.text_sha256,
                })
            })
            .collect()
    };
    let settings = serde_json::json!({
        "pipeline": PIPELINE_VERSION,
        "sources": cx.run.sources,
        "options": cx.run.options,
        "llm": null,
    });
    let bundle = serde_json::json!({
        "question": cx.run.question,
        "settings": settings,
        "corpus_fingerprint": retrieved.corpus_fingerprint,
        "sources": ingest.sources.iter().map(|s| serde_json::json!({
            "source_id": s.id, "connector": s.meta.connector, "external_id": s.meta.external_id,
            "title": s.meta.title,
            "rank": s.rank, "snapshot_sha256": s.sha256, "text_sha256": s.text_sha256,
        })).collect::<Vec<_>>(),
        "snippets": used,
        "claim_map": checked.claims,
    });
    cx.checkpoint()?;
    let pretty = |v: &serde_json::Value| {
        serde_json::to_vec_pretty(v).map_err(|e| StageError::internal(e.to_string()))
    };
    let files: Vec<(ArtifactKind, Vec<u8>)> = ArtifactKind::ALL
        .into_iter()
        .map(|kind| {
            let bytes = match kind {
                ArtifactKind::ReportMd => render_markdown(&report).into_bytes(),
                ArtifactKind::ReportHtml => {
                    render_html(&report, &quotes(&report, &ingest)).into_bytes()
                }
                ArtifactKind::ReportJson => pretty(&to_value(&report)?)?,
                ArtifactKind::ReferencesBib => render_bibtex(&report.references).into_bytes(),
                ArtifactKind::ReferencesRis => render_ris(&report.references).into_bytes(),
                ArtifactKind::ContextBundle => pretty(&bundle)?,
            };
            Ok((kind, bytes))
        })
        .collect::<Result<_, StageError>>()?;
    let mut artifacts = Vec::with_capacity(files.len());
    for (kind, bytes) in files {
        cx.checkpoint()?;
        let blob = cx
            .blobs
            .put(Bytes::from(bytes))
            .await
            .map_err(StageError::from_store)?;
        artifacts.push(Artifact {
            id: ArtifactId::new(),
            run_id: cx.run.id,
            name: kind.file_name().into(),
            kind: kind.category().into(),
            mime_type: kind.media_type().into(),
            size_bytes: blob.size_bytes as i64,
            sha256: blob.sha256,
            created_at: Utc::now(),
        });
    }
    let count = artifacts.len();
    let output =
        serde_json::json!({ "artifacts": artifacts.iter().map(|a| &a.name).collect::<Vec<_>>() });
    Ok(StageCommit {
        output,
        artifacts,
        usage: usage(&[
            ("references", report.references.len()),
            ("artifacts", count),
        ]),
        message: format!("wrote {count} artifacts"),
        ..StageCommit::default()
    })
}
