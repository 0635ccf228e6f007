//! `outline` and `draft`, extractive: sections are clusters of the snippets most relevant to the
//! question, titled by their distinctive terms; each section's claims are its most relevant,
//! non-redundant sentences (MMR over TF-IDF similarity), quoted verbatim and citing their snippet.

use crate::model::{
    DraftClaim, DraftOutput, DraftSection, EvidenceSnippet, IngestOutput, OutlineOutput,
    SectionPlan,
};
use crate::{StageContext, StageError, to_value, usage};
use researchops_core::{NewEvent, SnippetId, Stage, StageCommit, run_error};
use researchops_search::similarity::cosine;
use researchops_search::{SnippetIndex, SparseVec, TfIdf, distinctive_terms, leader_clusters, mmr};
use std::collections::{HashMap, HashSet};

/// Snippets considered for the outline.
const POOL: usize = 60;
/// Similarity above which a snippet joins an existing section.
const CLUSTER_THRESHOLD: f32 = 0.12;
/// Relevance vs. novelty in MMR.
const MMR_LAMBDA: f32 = 0.7;

/// Whether a sentence can stand alone as a claim.
fn citeable(text: &str) -> bool {
    let words = text.split_whitespace().count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    (6..=120).contains(&words) && letters * 2 >= text.chars().count()
}

fn normalized(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn search_err(e: researchops_search::SearchError) -> StageError {
    StageError::internal(format!("evidence search failed: {e}"))
}

/// "Insulin, adipose tissue and obesity" from `["insulin", "adipose", "obesity"]`.
fn title_from_terms(terms: &[String]) -> String {
    let mut title = match terms {
        [] => String::from("Findings"),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    if let Some(first) = title.get(..1) {
        title = first.to_uppercase() + &title[1..];
    }
    title
}

pub(crate) fn outline(cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
    let ingest: IngestOutput = cx.output(Stage::Ingest)?;
    let pool: Vec<&EvidenceSnippet> = ingest.snippets().filter(|s| citeable(&s.text)).collect();
    if pool.is_empty() {
        return Err(StageError::Fatal {
            code: run_error::NO_EVIDENCE,
            reason: "the retrieved documents contain no citeable sentences".into(),
        });
    }
    let index = SnippetIndex::build(pool.iter().map(|s| s.text.as_str())).map_err(search_err)?;
    let mut ranked = index.search(&cx.run.question, POOL).map_err(search_err)?;
    if ranked.is_empty() {
        // Documents matched on their titles only: fall back to each source's lead sentences.
        ranked = pool
            .iter()
            .enumerate()
            .take(POOL)
            .map(|(i, _)| (i, 1.0 / (i as f32 + 1.0)))
            .collect();
    }
    let all_texts: Vec<&str> = pool.iter().map(|s| s.text.as_str()).collect();
    let tfidf = TfIdf::fit(all_texts.iter().copied());
    let vectors: Vec<SparseVec> = ranked
        .iter()
        .map(|(i, _)| tfidf.vector(&pool[*i].text))
        .collect();
    let clusters = leader_clusters(
        &vectors,
        CLUSTER_THRESHOLD,
        cx.run.options.max_sections as usize,
    );
    let mut titles = HashSet::new();
    let mut sections = Vec::with_capacity(clusters.len());
    for members in clusters {
        let texts: Vec<&str> = members
            .iter()
            .map(|&m| pool[ranked[m].0].text.as_str())
            .collect();
        let terms = distinctive_terms(&tfidf, &texts, &all_texts, 3);
        let mut title = title_from_terms(&terms);
        let mut n = 2;
        while !titles.insert(title.clone()) {
            title = format!("{} ({n})", title_from_terms(&terms));
            n += 1;
        }
        let candidates = members
            .iter()
            .map(|&m| (pool[ranked[m].0].id, ranked[m].1))
            .collect();
        sections.push(SectionPlan {
            title,
            terms,
            candidates,
        });
    }
    let count = sections.len();
    Ok(StageCommit {
        output: to_value(&OutlineOutput { sections })?,
        usage: usage(&[("sections_planned", count)]),
        message: format!("planned {count} sections"),
        ..StageCommit::default()
    })
}

pub(crate) fn draft(cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
    let ingest: IngestOutput = cx.output(Stage::Ingest)?;
    let outline: OutlineOutput = cx.output(Stage::Outline)?;
    let by_id: HashMap<SnippetId, &EvidenceSnippet> =
        ingest.snippets().map(|s| (s.id, s)).collect();
    let tfidf = TfIdf::fit(
        ingest
            .snippets()
            .filter(|s| citeable(&s.text))
            .map(|s| s.text.as_str()),
    );
    let per_section = cx.run.options.claims_per_section as usize;
    let mut used_texts: HashSet<String> = HashSet::new();
    let mut next_claim = 1;
    let mut sections = Vec::new();
    let total = outline.sections.len() as u64;
    for (i, plan) in outline.sections.iter().enumerate() {
        cx.checkpoint()?;
        let candidates: Vec<(&EvidenceSnippet, f32)> = plan
            .candidates
            .iter()
            .filter_map(|(id, score)| by_id.get(id).map(|s| (*s, *score)))
            .filter(|(s, _)| !used_texts.contains(&normalized(&s.text)))
            .collect();
        let top = candidates
            .iter()
            .map(|(_, s)| *s)
            .fold(f32::MIN, f32::max)
            .max(f32::EPSILON);
        let relevance: Vec<f32> = candidates.iter().map(|(_, s)| s / top).collect();
        let vectors: Vec<SparseVec> = candidates
            .iter()
            .map(|(s, _)| tfidf.vector(&s.text))
            .collect();
        let picked = mmr(
            &relevance,
            |a, b| cosine(&vectors[a], &vectors[b]),
            MMR_LAMBDA,
            candidates.len(),
        );
        let mut claims = Vec::new();
        for idx in picked {
            if claims.len() == per_section {
                break;
            }
            let snippet = candidates[idx].0;
            if !used_texts.insert(normalized(&snippet.text)) {
                continue;
            }
            claims.push(DraftClaim {
                claim_id: format!("c{next_claim}"),
                text: snippet.text.clone(),
                snippet_ids: vec![snippet.id],
            });
            next_claim += 1;
        }
        if !claims.is_empty() {
            sections.push(DraftSection {
                title: plan.title.clone(),
                claims,
            });
        }
        cx.progress.emit(NewEvent::progress(
            Stage::Draft,
            i as u64 + 1,
            total,
            format!("drafted section {}", plan.title),
        ));
    }
    let claims = next_claim - 1;
    let count = sections.len();
    Ok(StageCommit {
        output: to_value(&DraftOutput { sections })?,
        usage: usage(&[("claims_drafted", claims)]),
        message: format!("drafted {claims} claims in {count} sections"),
        ..StageCommit::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_read_as_a_list_of_terms() {
        let terms = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            title_from_terms(&terms(&["insulin", "adipose", "obesity"])),
            "Insulin, adipose and obesity"
        );
        assert_eq!(title_from_terms(&terms(&["insulin"])), "Insulin");
        assert_eq!(title_from_terms(&[]), "Findings");
    }

    #[test]
    fn fragments_and_numeric_rows_are_not_citeable() {
        assert!(!citeable("Results follow."));
        assert!(!citeable("12.5 13.1 14.2 15.9 11.0 10.2 99.1"));
        assert!(citeable(
            "Vitamin D supplementation reduced the risk of fractures in older adults."
        ));
    }
}
