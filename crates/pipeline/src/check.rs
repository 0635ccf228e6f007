//! `validate` and `factcheck`: every claim must cite at least one snippet of this run's evidence, and
//! an extractive claim must appear verbatim in a cited snippet (`supported`, support 1.0); anything
//! else is `unsupported` and left out of the report. Every verdict is kept in the claim map.

use crate::model::{
    CheckedClaim, DraftOutput, Evidence, FactcheckOutput, IngestOutput, ValidateOutput,
};
use crate::{StageContext, StageError, to_value, usage};
use researchops_core::{Claim, FailureCode, SnippetId, Stage, StageCommit, Verdict};
use researchops_search::content_terms;
use std::collections::{HashMap, HashSet};

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
) -> Result<StageCommit, StageError> {
    let draft: DraftOutput = cx.output(Stage::Draft)?;
    let validation: crate::model::ValidateOutput = cx.output(Stage::Validate)?;
    let texts: HashMap<SnippetId, &str> =
        ingest.snippets().map(|s| (s.id, s.text.as_str())).collect();
    let invalid: HashSet<&str> = validation
        .invalid_claims
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    let mut checked = Vec::new();
    for section in &draft.sections {
        cx.checkpoint()?;
        for claim in &section.claims {
            let score = if invalid.contains(claim.claim_id.as_str()) {
                0.0
            } else {
                claim
                    .snippet_ids
                    .iter()
                    .filter_map(|id| texts.get(id))
                    .map(|s| support(&claim.text, s))
                    .fold(0.0, f64::max)
            };
            let verdict = if score >= 1.0 {
                Verdict::Supported
            } else {
                Verdict::Unsupported
            };
            checked.push(CheckedClaim {
                claim_id: claim.claim_id.clone(),
                section: section.title.clone(),
                text: claim.text.clone(),
                snippet_ids: claim.snippet_ids.clone(),
                support: score,
                verdict,
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
            reason: "no drafted claim is supported by its cited evidence".into(),
        });
    }
    let dropped = checked.len() - supported;
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
        output: to_value(&FactcheckOutput { claims: checked })?,
        claims,
        usage: usage(&[("claims_supported", supported), ("claims_dropped", dropped)]),
        message: format!("{supported} claims supported, {dropped} dropped as unsupported"),
        ..StageCommit::default()
    })
}

#[cfg(test)]
mod tests {
    use super::support;

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
}
