//! `validate` and `factcheck`: every claim must cite at least one snippet of this run's evidence.
//! `factcheck` judges each claim on two things: support by its cited snippet (an extractive claim must
//! appear there verbatim) and relevance, to the question (the share of the question's key-term weight
//! it carries or, with embeddings, its cosine with the question when that is higher — see
//! [`sentence_relevance`]) and to its section (similarity to the section's other claims). A verbatim but off-topic
//! sentence is `unsupported` for this report; a loosely related one is `weak`. Only `supported` claims
//! reach the report; every verdict is kept in the claim map with its reason. When fewer than
//! `min_supported_share` of the drafted claims are supported, the stage sets the usage counter that
//! makes the run finish `completed_with_gaps`.

use crate::model::{
    CheckedClaim, DraftOutput, Evidence, FactcheckOutput, IngestOutput, ValidateOutput,
};
use crate::relevance::{KeyTerm, coverage, question_terms, weigh_terms};
use crate::{StageContext, StageError, to_value, usage};
use researchops_core::decide::GAPS_USAGE_KEY;
use researchops_core::{Claim, FailureCode, SnippetId, Stage, StageCommit, Verdict};
use researchops_search::similarity::cosine;
use researchops_search::{SparseVec, TfIdf, analyze, content_terms};
use std::collections::{HashMap, HashSet};

/// A claim carrying less of the question's key-term weight than this is off-topic (`unsupported`).
pub(crate) const MIN_RELEVANCE: f64 = 0.15;
/// A claim carrying less than this is `weak`; at or above it, relevance counts in full.
pub(crate) const SUPPORTED_RELEVANCE: f64 = 0.3;
/// A claim less similar than this to the rest of its section does not belong there (`weak`).
pub(crate) const MIN_SECTION_FIT: f32 = 0.02;
/// With embeddings, a sentence whose cosine with the question reaches this is as relevant as one
/// carrying [`MIN_RELEVANCE`] of the key-term weight…
pub(crate) const COSINE_WEAK: f32 = 0.35;
/// …and one reaching this as relevant as [`SUPPORTED_RELEVANCE`] (linear between and beyond).
pub(crate) const COSINE_SUPPORTED: f32 = 0.5;

/// A sentence's cosine with the question on the key-term scale (see [`COSINE_WEAK`]), in [0, 1].
pub(crate) fn cosine_relevance(cosine: f32) -> f64 {
    let slope = (SUPPORTED_RELEVANCE - MIN_RELEVANCE) / f64::from(COSINE_SUPPORTED - COSINE_WEAK);
    (MIN_RELEVANCE + slope * f64::from(cosine - COSINE_WEAK)).clamp(0.0, 1.0)
}

/// Relevance of a sentence: the share of the question's key-term weight it carries or, when its
/// meaning is closer to the question than its words, its cosine on the same scale.
pub(crate) fn sentence_relevance(key_terms: &[KeyTerm], text: &str, cosine: Option<f32>) -> f64 {
    let lexical = question_relevance(key_terms, text);
    cosine.map_or(lexical, |c| lexical.max(cosine_relevance(c)))
}

/// What the check found for one claim.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Judgement {
    /// Combined score in [0, 1]: snippet support scaled by question relevance.
    pub score: f64,
    /// Relevance to the question in [0, 1] (see [`sentence_relevance`]).
    pub relevance: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Why it is not `supported`.
    pub reason: Option<String>,
}

/// Judges a claim from its snippet support, question relevance and fit with its section.
pub(crate) fn judge(support: f64, relevance: f64, section_fit: f32) -> Judgement {
    let score = support * (relevance / SUPPORTED_RELEVANCE).min(1.0);
    let (verdict, reason) = if support < 1.0 {
        (
            Verdict::Unsupported,
            Some("not quoted verbatim from its cited snippet".to_string()),
        )
    } else if relevance < MIN_RELEVANCE {
        (
            Verdict::Unsupported,
            Some(format!(
                "off-topic for this question: relevance {:.0}% (share of its key terms' weight, or closeness in meaning)",
                relevance * 100.0
            )),
        )
    } else if relevance < SUPPORTED_RELEVANCE {
        (
            Verdict::Weak,
            Some(format!(
                "only loosely related to the question: relevance {:.0}% (share of its key terms' weight, or closeness in meaning)",
                relevance * 100.0
            )),
        )
    } else if section_fit < MIN_SECTION_FIT {
        (
            Verdict::Weak,
            Some("does not fit the section it was drafted in".to_string()),
        )
    } else {
        (Verdict::Supported, None)
    };
    Judgement {
        score,
        relevance,
        verdict,
        reason,
    }
}

/// Whether `supported` of `drafted` claims falls short of `min_share`.
pub(crate) fn has_gaps(supported: usize, drafted: usize, min_share: f64) -> bool {
    drafted > 0 && (supported as f64) < min_share * drafted as f64
}

/// The question's terms weighted by rarity among the run's snippets (the same weights for `outline`,
/// which drafts only sentences relevant enough to pass, and `factcheck`, which checks them).
pub(crate) fn question_key_terms(question: &str, evidence: &Evidence) -> Vec<KeyTerm> {
    let snippet_terms: Vec<HashSet<String>> = evidence
        .snippets()
        .map(|s| analyze(&s.text).into_iter().collect())
        .collect();
    weigh_terms(
        &question_terms(question),
        &snippet_terms.iter().collect::<Vec<_>>(),
    )
}

/// Relevance of `text` to the question whose weighted terms are `key_terms`.
pub(crate) fn question_relevance(key_terms: &[KeyTerm], text: &str) -> f64 {
    f64::from(coverage(key_terms, &analyze(text).into_iter().collect()))
}

pub(crate) fn validate(cx: &StageContext<'_>) -> Result<StageCommit, StageError> {
    let ingest: IngestOutput = cx.output(Stage::Ingest)?;
    let draft: DraftOutput = cx.output(Stage::Draft)?;
    let known: HashSet<SnippetId> = ingest.snippets().map(|s| s.id).collect();
    let mut invalid_claims = Vec::new();
    let mut issues = Vec::new();
    let mut texts = HashSet::new();
    let mut claims = 0;
    for section in &draft.sections {
        cx.checkpoint()?;
        if section.claims.is_empty() {
            issues.push(format!("section `{}` has no claims", section.title));
        }
        for claim in &section.claims {
            claims += 1;
            if claim.text.trim().is_empty() {
                invalid_claims.push((claim.claim_id.clone(), "the claim is empty".to_string()));
            } else if claim.snippet_ids.is_empty() {
                invalid_claims.push((
                    claim.claim_id.clone(),
                    "the claim cites no snippet".to_string(),
                ));
            } else if let Some(missing) = claim.snippet_ids.iter().find(|id| !known.contains(id)) {
                invalid_claims.push((
                    claim.claim_id.clone(),
                    format!("cites snippet {missing}, which is not in this run's evidence"),
                ));
            }
            if !texts.insert(claim.text.trim().to_lowercase()) {
                issues.push(format!(
                    "claim {} repeats an earlier sentence",
                    claim.claim_id
                ));
            }
        }
    }
    if claims == 0 {
        return Err(StageError::Fatal {
            code: FailureCode::NoEvidence,
            reason: "the evidence yielded no citeable claims for this question".into(),
        });
    }
    let invalid = invalid_claims.len();
    Ok(StageCommit {
        output: to_value(&ValidateOutput {
            invalid_claims,
            issues,
        })?,
        usage: usage(&[("claims_invalid", invalid)]),
        message: format!("validated {claims} claims ({invalid} with invalid citations)"),
        ..StageCommit::default()
    })
}

/// Support of `claim` by `snippet`: 1.0 when quoted verbatim (modulo whitespace), else the share of the
/// claim's content terms that the snippet contains.
pub(crate) fn support(claim: &str, snippet: &str) -> f64 {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if squash(snippet).contains(&squash(claim)) {
        return 1.0;
    }
    let claim_terms = content_terms(claim);
    if claim_terms.is_empty() {
        return 0.0;
    }
    let snippet_terms: HashSet<String> = content_terms(snippet).into_iter().collect();
    let shared = claim_terms
        .iter()
        .filter(|t| snippet_terms.contains(*t))
        .count();
    // Never 1.0 unless verbatim: paraphrase is not proof for an extractive claim.
    (shared as f64 / claim_terms.len() as f64).min(0.99)
}

pub(crate) fn factcheck(
    cx: &StageContext<'_>,
    ingest: &Evidence,
    cosines: Option<&HashMap<SnippetId, f32>>,
) -> Result<StageCommit, StageError> {
    let draft: DraftOutput = cx.output(Stage::Draft)?;
    let validation: crate::model::ValidateOutput = cx.output(Stage::Validate)?;
    let texts: HashMap<SnippetId, &str> =
        ingest.snippets().map(|s| (s.id, s.text.as_str())).collect();
    let invalid: HashMap<&str, &str> = validation
        .invalid_claims
        .iter()
        .map(|(id, reason)| (id.as_str(), reason.as_str()))
        .collect();
    let key_terms = question_key_terms(&cx.run.question, ingest);
    let tfidf = TfIdf::fit(ingest.snippets().map(|s| s.text.as_str()));
    cx.checkpoint()?;
    let mut checked = Vec::new();
    for section in &draft.sections {
        cx.checkpoint()?;
        let vectors: Vec<SparseVec> = section
            .claims
            .iter()
            .map(|c| tfidf.vector(&c.text))
            .collect();
        for (i, claim) in section.claims.iter().enumerate() {
            let snippet_support = if invalid.contains_key(claim.claim_id.as_str()) {
                0.0
            } else {
                claim
                    .snippet_ids
                    .iter()
                    .filter_map(|id| texts.get(id))
                    .map(|s| support(&claim.text, s))
                    .fold(0.0, f64::max)
            };
            let section_fit = if vectors.len() < 2 {
                1.0
            } else {
                (0..vectors.len())
                    .filter(|&j| j != i)
                    .map(|j| cosine(&vectors[i], &vectors[j]))
                    .fold(0.0f32, f32::max)
            };
            // An extractive claim is its snippet's text: the snippet's cosine is the claim's.
            let cosine = cosines.and_then(|c| {
                claim
                    .snippet_ids
                    .iter()
                    .filter_map(|id| c.get(id).copied())
                    .reduce(f32::max)
            });
            let mut judgement = judge(
                snippet_support,
                sentence_relevance(&key_terms, &claim.text, cosine),
                section_fit,
            );
            if let Some(reason) = invalid.get(claim.claim_id.as_str()) {
                judgement.reason = Some((*reason).to_string());
            }
            checked.push(CheckedClaim {
                claim_id: claim.claim_id.clone(),
                section: section.title.clone(),
                text: claim.text.clone(),
                snippet_ids: claim.snippet_ids.clone(),
                support: judgement.score,
                verdict: judgement.verdict,
                relevance: judgement.relevance,
                reason: judgement.reason,
            });
        }
    }
    let supported = checked
        .iter()
        .filter(|c| c.verdict == Verdict::Supported)
        .count();
    if supported == 0 {
        return Err(StageError::Fatal {
            code: FailureCode::NoEvidence,
            reason: format!(
                "none of the {} drafted claims is both quoted from its evidence and on the question's topic",
                checked.len()
            ),
        });
    }
    let dropped = checked.len() - supported;
    let gaps = has_gaps(supported, checked.len(), cx.run.options.min_supported_share);
    let claims = checked
        .iter()
        .map(|c| Claim {
            claim_id: c.claim_id.clone(),
            section: c.section.clone(),
            text: c.text.clone(),
            snippet_ids: c.snippet_ids.clone(),
            support: c.support,
            verdict: c.verdict,
        })
        .collect();
    Ok(StageCommit {
        output: to_value(&FactcheckOutput {
            claims: checked,
            completed_with_gaps: gaps,
        })?,
        claims,
        usage: usage(&[
            ("claims_supported", supported),
            ("claims_dropped", dropped),
            (GAPS_USAGE_KEY, usize::from(gaps)),
        ]),
        message: format!("{supported} claims supported, {dropped} removed as weak or unsupported"),
        ..StageCommit::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_and_on_topic_is_supported_loose_is_weak_off_topic_is_unsupported() {
        let on = judge(1.0, 0.6, 0.3);
        assert_eq!(
            (on.verdict, on.score, on.reason),
            (Verdict::Supported, 1.0, None)
        );
        assert_eq!(judge(1.0, 0.2, 0.3).verdict, Verdict::Weak);
        assert_eq!(judge(1.0, 0.6, 0.0).verdict, Verdict::Weak);
        let off = judge(1.0, 0.05, 0.3);
        assert_eq!(off.verdict, Verdict::Unsupported);
        assert!(off.reason.is_some_and(|r| r.contains("off-topic")));
        let paraphrase = judge(0.9, 0.9, 0.9);
        assert_eq!(paraphrase.verdict, Verdict::Unsupported);
        assert!(paraphrase.score < 1.0);
    }

    #[test]
    fn gaps_when_fewer_than_the_minimum_share_are_supported() {
        assert!(has_gaps(2, 5, 0.6));
        assert!(!has_gaps(3, 5, 0.6));
        assert!(!has_gaps(0, 0, 0.6));
        assert!(!has_gaps(0, 4, 0.0));
    }

    #[test]
    fn relevance_is_the_share_of_the_questions_key_terms() {
        let key_terms = weigh_terms(&question_terms("vitamin bone density"), &[]);
        assert!(question_relevance(&key_terms, "Vitamin D raised bone density.") > 0.99);
        assert!(question_relevance(&key_terms, "Folic acid lowered stroke risk.") < 0.01);
    }

    #[test]
    fn a_verbatim_quote_is_fully_supported_and_a_paraphrase_is_not() {
        let snippet = "Vitamin D  supplementation reduced fractures in adults over 65.";
        assert_eq!(
            support("Vitamin D supplementation reduced fractures", snippet),
            1.0
        );
        let paraphrase = support(
            "Fractures were reduced by vitamin D supplementation",
            snippet,
        );
        assert!(paraphrase < 1.0 && paraphrase > 0.5, "{paraphrase}");
        assert!(support("Statins cure migraines", snippet) < 0.2);
    }

    #[test]
    fn cosines_map_onto_the_key_term_scale() {
        assert!((cosine_relevance(COSINE_WEAK) - MIN_RELEVANCE).abs() < 1e-6);
        assert!((cosine_relevance(COSINE_SUPPORTED) - SUPPORTED_RELEVANCE).abs() < 1e-6);
        assert_eq!(cosine_relevance(-0.5), 0.0);
        assert!((cosine_relevance(1.0) - 0.8).abs() < 1e-6);
        let key_terms = weigh_terms(
            &question_terms("vitamin bone density"),
            &[&analyze("vitamin bone density").into_iter().collect()],
        );
        // A paraphrase without the question's words is relevant only through its meaning.
        let paraphrase = "Cholecalciferol raised skeletal mass.";
        assert!(sentence_relevance(&key_terms, paraphrase, None) < MIN_RELEVANCE);
        assert!(sentence_relevance(&key_terms, paraphrase, Some(0.6)) >= SUPPORTED_RELEVANCE);
        // Words still count when the meaning is far.
        let verbatim = "Vitamin D raised bone density.";
        assert!(sentence_relevance(&key_terms, verbatim, Some(0.0)) > 0.99);
    }
}
